//! Where a derived form holds: for each index in scope, the index values
//! from `lo + lower` to `hi + upper` of its range. A forward value may be
//! named in a form (merged with its definition, so extraction writes
//! `i[t+1]` for `sigma(W_ix * x[t+1] + ...)`) or have an assumption
//! substituted only where the model computes it at every index value of
//! the form's window: `h[t+1]` is not a value of the model at the last
//! step, and `h[t-1]` is a boundary value at the first.

use crate::ir::{Ix, Node, Ref};
use crate::model::Model;
use egg::RecExpr;

/// Index values, per index, relative to the ends of its range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Window {
    /// `(index, lower, upper)`: the index runs from `lo + lower` to
    /// `hi + upper`. An index not listed is not free in the form (it is
    /// bound by a `sum` inside it, or absent), and no reference at it is
    /// named: a `sum` binds it, and an e-graph knows no binders.
    spans: Vec<(u32, i64, i64)>,
    /// Whether an index not listed runs over its whole range (for proofs:
    /// an equality that holds for every value of an index holds inside any
    /// `sum` over it, and a proof only compares classes; extraction, which
    /// could write a value with its index outside the sum, never uses it).
    bound_whole: bool,
    /// `(index, n)`: the range of the index is known to run past its
    /// first value by at least `n` (`hi - lo >= n`). A case split that
    /// fixes an index at one end of a window keeps what the window's
    /// values imply: `t = T` out of `2..T` has `T >= 2` (see
    /// [`Window::fix`]).
    spread: Vec<(u32, i64)>,
}

/// The one fixed position of a step (`h[T]` in `h[t]`'s frame), with its
/// index: `None` for a step fixed at several positions (a point of a grid).
fn one_fixed(model: &Model, s: &Ref) -> Option<(usize, u32, Ix)> {
    let mut fixed =
        s.at.iter()
            .enumerate()
            .filter(|(_, ix)| !matches!(ix, Ix::Rel(..)));
    let (p, ix) = fixed.next()?;
    if fixed.next().is_some() {
        return None;
    }
    let i = *model.vars.get(s.var as usize)?.indices.get(p)?;
    Some((p, i, *ix))
}

impl Window {
    /// The window of a form without free indices.
    pub fn whole() -> Window {
        Window::default()
    }

    /// The window of a form about `v` at its own indices (`bar(h[t])`):
    /// where the equation of `v` computes it.
    pub fn of_var(model: &Model, v: u32) -> Window {
        let mut w = Window::default();
        let domain = model.adjoint_domain(v).unwrap_or_default();
        if let Some(decl) = model.vars.get(v as usize) {
            for (&i, &(lower, upper)) in decl.indices.iter().zip(&domain) {
                w.set(i, lower, upper);
            }
        }
        w
    }

    /// The window of a form about `bar(r)`: where the equation of `r`'s
    /// variable computes it, at the positions `r` leaves free (a fixed
    /// step `h[T]` has none).
    pub fn of_ref(model: &Model, r: &Ref) -> Window {
        let mut w = Window::of_var(model, r.var);
        if let Some(decl) = model.vars.get(r.var as usize) {
            for (ix, &i) in r.at.iter().zip(&decl.indices) {
                if !matches!(ix, Ix::Rel(..)) {
                    w.remove(i);
                }
            }
        }
        w
    }

    /// The window where every value of `refs` is computed (a Jacobian of
    /// `(theta[k+1], p[k+1])` holds at the steps `k` where both are).
    pub fn computing(model: &Model, refs: &[Ref]) -> Window {
        let mut w = Window::default();
        for r in refs {
            let domain = model.domain(r.var).unwrap_or_default();
            for (ix, &(lower, upper)) in r.at.iter().zip(&domain) {
                if let Ix::Rel(i, k) = *ix {
                    w.narrow(i, lower - k, upper - k);
                }
            }
        }
        w
    }

    /// The same window, where an index bound by a `sum` runs over its
    /// whole range (see the field `bound_whole`).
    pub fn for_proofs(mut self) -> Window {
        self.bound_whole = true;
        self
    }

    /// The free indices, each as `(index, lower, upper)`.
    pub fn spans(&self) -> Vec<(u32, i64, i64)> {
        self.spans.clone()
    }

    /// Sets index `i` to run from `lo + lower` to `hi + upper`.
    pub fn set(&mut self, i: u32, lower: i64, upper: i64) {
        match self.spans.iter_mut().find(|s| s.0 == i) {
            Some(s) => *s = (i, lower, upper),
            None => self.spans.push((i, lower, upper)),
        }
    }

    /// Index `i` is no longer free (it is fixed to one value).
    pub fn remove(&mut self, i: u32) {
        self.spans.retain(|s| s.0 != i);
    }

    /// Index `i` is fixed to one of its values in the window, which the
    /// range of `i` is then known to be long enough to hold (see
    /// [`Window::spread`]).
    pub fn fix(&mut self, model: &Model, i: u32) {
        let n = self.spread(model, i);
        self.remove(i);
        // Kept once for indices with one range, so that equal windows
        // compare equal.
        if n > self.spread(model, i) {
            match self.spread.iter_mut().find(|s| s.0 == i) {
                Some(s) => s.1 = n,
                None => self.spread.push((i, n)),
            }
        }
    }

    /// What `hi - lo` of the range of `i` is known to be at least: a form
    /// on a window says nothing where the window has no values, so each
    /// free index, from `lo + lower` to `hi + upper`, has `hi - lo >=
    /// lower - upper`, and so has every index with the same range.
    pub fn spread(&self, model: &Model, i: u32) -> i64 {
        let range = |j: u32| model.indices.get(j as usize).and_then(|d| d.range.as_ref());
        let same = |j: u32| j == i || range(i).is_some_and(|r| range(j) == Some(r));
        let free = self
            .spans
            .iter()
            .filter(|s| same(s.0))
            .map(|s| s.1.saturating_sub(s.2));
        let known = self.spread.iter().filter(|s| same(s.0)).map(|s| s.1);
        free.chain(known).fold(0, i64::max)
    }

    /// Narrows index `i` to the values where also `lo + lower ..= hi +
    /// upper` holds.
    pub fn narrow(&mut self, i: u32, lower: i64, upper: i64) {
        match self.spans.iter().find(|s| s.0 == i) {
            Some(&(_, l, u)) => self.set(i, l.max(lower), u.min(upper)),
            None => self.set(i, lower, upper),
        }
    }

    /// The window without the fixed steps among `steps` at its ends: a
    /// general adjoint equation is claimed at every index value but the
    /// steps with equations of their own (`bar(h[t])` but at `h[T]`). A
    /// step fixed at several positions is one point of a grid, which no
    /// window of free indices leaves out; it stays.
    pub fn without_steps(mut self, model: &Model, steps: &[Ref]) -> Window {
        loop {
            let mut moved = false;
            for s in steps {
                let Some((_, i, ix)) = one_fixed(model, s) else {
                    continue;
                };
                if !self.spans.iter().any(|x| x.0 == i) {
                    continue;
                }
                let (lower, upper) = self.get(i);
                match ix {
                    Ix::End(_, o) if o == upper => {
                        self.set(i, lower, upper - 1);
                        moved = true;
                    }
                    Ix::Abs(a)
                        if model
                            .range_start(i)
                            .is_some_and(|lo| lo.saturating_add(lower) == a) =>
                    {
                        self.set(i, lower + 1, upper);
                        moved = true;
                    }
                    _ => {}
                }
            }
            if !moved {
                return self;
            }
        }
    }

    /// Whether `r`, a reference at free indices (`h[t+1]`), stays clear of
    /// every fixed step of its variable with an equation of its own at
    /// every index value of the window: there the general adjoint equation
    /// does not hold (`bar(h[t+1])` is `bar(h[T])` at `t = T-1`). A step
    /// fixed at several positions, or along an index the window does not
    /// bound (unless such an index runs over its whole range), is never
    /// known to be clear.
    pub fn clear_of_steps(&self, model: &Model, r: &Ref) -> bool {
        model.fixed_steps(r.var).iter().all(|s| {
            let Some((p, i, ix)) = one_fixed(model, s) else {
                return false;
            };
            let Some(Ix::Rel(_, k)) = r.at.get(p) else {
                return false;
            };
            // An index a `sum` binds runs over its whole range (for
            // proofs and for writing out, see `bound_whole`).
            if !self.bound_whole && !self.spans.iter().any(|x| x.0 == i) {
                return false;
            }
            let (lower, upper) = self.get(i);
            match ix {
                // The largest value reached, `hi + upper + k`, is before
                // the step `hi + o`.
                Ix::End(_, o) => upper.saturating_add(*k) < o,
                // The smallest, `lo + lower + k`, is past the step `a`.
                Ix::Abs(a) => model
                    .range_start(i)
                    .is_some_and(|lo| lo.saturating_add(lower).saturating_add(*k) > a),
                Ix::Rel(..) => true,
            }
        })
    }

    /// The window an adjoint equation about `bar(r)` is claimed on: where
    /// `r`'s variable is computed, and for the general equation (`r` at
    /// free indices) without the fixed steps that have their own.
    pub fn of_adjoint(model: &Model, r: &Ref) -> Window {
        let w = Window::of_ref(model, r);
        if r.at.iter().all(|ix| matches!(ix, Ix::Rel(..))) {
            w.without_steps(model, &model.fixed_steps(r.var))
        } else {
            w
        }
    }

    /// The value of `bar(r)` by one of `equations` (each an adjoint's
    /// reference at its left side, and its right side), where that
    /// equation holds at every index value of the window: for `r` at free
    /// indices, the general equation moved to `r`'s offsets, clear of the
    /// fixed steps with equations of their own; for a fixed step, its own
    /// equation. Elsewhere an adjoint is zero, whatever an equation gives.
    pub fn adjoint_at(
        &self,
        model: &Model,
        r: &Ref,
        equations: &[(Ref, RecExpr<Node>)],
    ) -> Option<RecExpr<Node>> {
        if !self.computes(model, r) {
            return None;
        }
        if r.at.iter().all(|ix| matches!(ix, Ix::Rel(..))) {
            if !self.clear_of_steps(model, r) {
                return None;
            }
            let (_, rhs) = equations.iter().find(|(l, _)| {
                l.var == r.var && l.at.iter().all(|ix| matches!(ix, Ix::Rel(_, 0)))
            })?;
            let by = r.offsets();
            Some(crate::ir::shift(rhs, &|i| {
                by.iter().find(|(j, _)| *j == i).map_or(0, |x| x.1)
            }))
        } else if let Some((_, rhs)) = equations.iter().find(|(l, _)| l == r) {
            Some(rhs.clone())
        } else {
            Self::general_at_fixed(model, r, equations)
        }
    }

    /// The general adjoint equation of `r`'s variable at `r`, a value the
    /// model computes at a fixed position (`bar(o[T])`), where the
    /// variable has no fixed step with an equation of its own anywhere:
    /// then the general equation holds at every value it is computed at.
    /// Not where the equation uses a fixed index as a value, nor for a
    /// learned value or a position at an index other than its own.
    pub fn general_at_fixed(
        model: &Model,
        r: &Ref,
        equations: &[(Ref, RecExpr<Node>)],
    ) -> Option<RecExpr<Node>> {
        let decl = model.vars.get(r.var as usize)?;
        if decl.learned || !model.fixed_steps(r.var).is_empty() || r.at.len() != decl.indices.len()
        {
            return None;
        }
        let mut by = Vec::new();
        let mut fixed = Vec::new();
        for (ix, &own) in r.at.iter().zip(&decl.indices) {
            match *ix {
                Ix::Rel(i, k) if i == own => by.push((i, k)),
                Ix::Rel(..) => return None,
                at => fixed.push((own, at)),
            }
        }
        let (_, rhs) = equations
            .iter()
            .find(|(l, _)| l.var == r.var && l.at.iter().all(|ix| matches!(ix, Ix::Rel(_, 0))))?;
        let as_value = rhs.as_ref().iter().any(|n| {
            matches!(n, Node::Leaf(crate::ir::Leaf::Index(j)) if fixed.iter().any(|f| f.0 == *j))
        });
        if as_value {
            return None;
        }
        let shifted = crate::ir::shift(rhs, &|i| {
            by.iter().find(|(j, _)| *j == i).map_or(0, |x| x.1)
        });
        Some(crate::ir::fix_at(&shifted, &|i| {
            fixed.iter().find(|f| f.0 == i).map(|f| f.1)
        }))
    }

    /// The span of index `i`.
    pub fn get(&self, i: u32) -> (i64, i64) {
        self.spans
            .iter()
            .find(|s| s.0 == i)
            .map_or((0, 0), |s| (s.1, s.2))
    }

    /// Whether the model computes the value `r` at every index value of
    /// the window: `r` is defined by an equation, and each relative
    /// position `i + k` stays inside `lo + d ..= hi + d` (`d` the offset
    /// of the equation's left side there), each fixed position at or past
    /// `lo + d`.
    pub fn computes(&self, model: &Model, r: &Ref) -> bool {
        self.within(model, r, true)
    }

    /// Whether every value `r` takes over the window is computed by the
    /// model or set by an `init`: `r` is never past the end of what the
    /// model computes, and at one position at most it reaches before the
    /// start, by one value, which an `init` fixing that position alone
    /// sets (`h[t-1]` at `t = 1` is `h[0]`, set by `init h[0] = ...`).
    pub fn computed_or_set(&self, model: &Model, r: &Ref) -> bool {
        let (Some(domain), Some(decl)) = (model.domain(r.var), model.vars.get(r.var as usize))
        else {
            return false;
        };
        let mut early = Vec::new();
        for (p, ((ix, &(lo_d, _)), &own)) in r.at.iter().zip(&domain).zip(&decl.indices).enumerate()
        {
            let Some(lo) = model.range_start(own) else {
                return false;
            };
            let least = match *ix {
                Ix::Rel(i, k) => match self.spans.iter().find(|s| s.0 == i) {
                    Some(&(_, lower, _)) => lower.saturating_add(k),
                    None if self.bound_whole => k,
                    None => return false,
                },
                Ix::Abs(a) => a.saturating_sub(lo),
                Ix::End(_, o) => o.saturating_add(self.spread(model, own)),
            };
            if least < lo_d {
                if least != lo_d - 1 || matches!(ix, Ix::End(..)) {
                    return false;
                }
                early.push((p, lo.saturating_add(least)));
            }
        }
        early.len() <= 1
            && early.iter().all(|&(p, at)| model.init_fixes(r.var, p, at))
            && self.within(model, r, false)
    }

    /// [`Window::computes`], checking the start only where `start`.
    fn within(&self, model: &Model, r: &Ref, start: bool) -> bool {
        let Some(domain) = model.domain(r.var) else {
            return false;
        };
        let Some(decl) = model.vars.get(r.var as usize) else {
            return false;
        };
        r.at.iter()
            .zip(&domain)
            .zip(&decl.indices)
            .all(|((ix, &(lo_d, hi_d)), &own)| match *ix {
                Ix::Rel(i, k) => match self.spans.iter().find(|s| s.0 == i) {
                    Some(&(_, lower, upper)) => {
                        (!start || lower.saturating_add(k) >= lo_d)
                            && upper.saturating_add(k) <= hi_d
                    }
                    None => self.bound_whole && (!start || k >= lo_d) && k <= hi_d,
                },
                // Computed for every length of the range when `o <= d` at
                // the end, and `o >= d` at the start: `hi + o >= lo + d`
                // holds even when `hi` is as small as the window allows
                // (`h[T-2]` is not a computed value when `T = 2`).
                Ix::End(_, o) => {
                    o <= hi_d && (!start || o.saturating_add(self.spread(model, own)) >= lo_d)
                }
                Ix::Abs(a) => {
                    let lo = model.range_start(own);
                    // At or past the first value, and at or before the
                    // last even when `hi` is as small as the window
                    // allows (`h[2]` is not computed over `1..T` when
                    // `T = 1`, and past the end it is given, not
                    // computed).
                    let spread = self.spread(model, own);
                    lo.is_some_and(|lo| {
                        (!start || a >= lo.saturating_add(lo_d))
                            && a <= lo.saturating_add(hi_d).saturating_add(spread)
                    })
                }
            })
    }
}
