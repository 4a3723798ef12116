//! Forward values and adjoints written out by their equations, for the
//! normal form of a claim: two sides that name a value differently (one
//! writes `xhat`, the other `(a - mu) / sqrt(v + eps)`) meet once every
//! value outside a recurrence is written out down to inputs, parameters
//! and the values of recurrences. A value of a recurrence is written out
//! too where its equation reaches, within two steps, a value of a
//! recurrence that one of the sides names (`v[k+1]` beside `v[k]`). A
//! value is written out only where its
//! equation holds at every index value of the claim's window, and a
//! variable with an assumption about it is written as its assumed value
//! where that holds (an input's at every value, another's where the
//! window computes it) and kept elsewhere, so
//! the result is equal to the expression wherever the claim is made.

use super::scope::at_ref;
use super::window::Window;
use crate::ir::build::ExprBuilder;
use crate::ir::{Leaf, Node, Ref, Target};
use crate::model::{Assumption, Model};
use egg::{Id, Language, RecExpr};
use std::collections::{BTreeMap, BTreeSet};

/// The most nodes a written-out expression may have.
const MAX_NODES: usize = 20_000;

/// Variables in a recurrence: those their own equation reaches, through
/// the equations of the values it uses.
pub fn recurrent(model: &Model) -> BTreeSet<u32> {
    let uses = |v: u32| -> BTreeSet<u32> {
        model
            .equation_of(v)
            .map(|eq| {
                eq.norm
                    .as_ref()
                    .iter()
                    .filter_map(|n| match n {
                        Node::Leaf(Leaf::Var(r)) => Some(r.var),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let all: Vec<BTreeSet<u32>> = (0..model.vars.len() as u32).map(uses).collect();
    let mut out = BTreeSet::new();
    for v in 0..model.vars.len() as u32 {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<u32> = all[v as usize].iter().copied().collect();
        while let Some(w) = stack.pop() {
            if w == v {
                out.insert(v);
                break;
            }
            if seen.insert(w) {
                stack.extend(all.get(w as usize).into_iter().flatten().copied());
            }
        }
    }
    out
}

/// What may be written out, and how.
pub struct Unfold<'a> {
    /// The model.
    pub model: &'a Model,
    /// The index values the expression holds at.
    pub window: &'a Window,
    /// The adjoint equations (see [`Window::adjoint_at`]).
    pub adjoints: &'a [(Ref, RecExpr<Node>)],
    /// The assumptions of the claim: their variables are kept.
    pub assuming: &'a [Assumption],
    /// The variables in a recurrence (see [`recurrent`]).
    pub recurrent: &'a BTreeSet<u32>,
    /// The values of recurrences the sides of the claim name (see
    /// [`floor`]): a value of a recurrence whose equation reaches one of
    /// them within two steps is written out, so that `v[k+1]` on one side
    /// meets `rho * v[k] + ...` on the other, and `q[k+1]` meets its
    /// equation with the half step `m[k+1]` written out.
    pub floor: &'a BTreeSet<Ref>,
    /// The adjoints of values of recurrences the sides name (see
    /// [`bar_floor`]): an adjoint in a recurrence whose equation reaches
    /// one of them within two steps is written out, so that
    /// `bar(a[t+1])` on one side meets `bar(h[t+1]) .* step(a[t+1])` on
    /// the other.
    pub bar_floor: &'a BTreeSet<Ref>,
    /// Values and adjoints kept as they are (named by both sides: writing
    /// them out would only grow both alike), as leaves.
    pub kept: &'a BTreeSet<Leaf>,
}

/// The values and adjoints (outside recurrences) that every one of the
/// expressions names: kept, the rest written out, they meet sooner and
/// smaller (`xhat` on one side written out to `(a - mu) / sqrt(v + eps)`
/// with `v` kept, not written out to the sums it is made of).
pub fn shared(sides: &[&RecExpr<Node>]) -> BTreeSet<Leaf> {
    let named = |e: &RecExpr<Node>| -> BTreeSet<Leaf> {
        e.as_ref()
            .iter()
            .filter_map(|n| match n {
                Node::Leaf(l @ (Leaf::Var(_) | Leaf::Bar(Target::Var(_)))) => Some(l.clone()),
                _ => None,
            })
            .collect()
    };
    let mut sets = sides.iter().map(|e| named(e));
    let first = sets.next().unwrap_or_default();
    sets.fold(first, |acc, s| &acc & &s)
}

/// The values of recurrent variables that the expressions name.
pub fn floor(recurrent: &BTreeSet<u32>, sides: &[&RecExpr<Node>]) -> BTreeSet<Ref> {
    sides
        .iter()
        .flat_map(|e| recurrent_refs(e, recurrent, false))
        .cloned()
        .collect()
}

/// The adjoints of values of recurrent variables that the expressions
/// name.
pub fn bar_floor(recurrent: &BTreeSet<u32>, sides: &[&RecExpr<Node>]) -> BTreeSet<Ref> {
    sides
        .iter()
        .flat_map(|e| recurrent_refs(e, recurrent, true))
        .cloned()
        .collect()
}

/// The values of recurrent variables that `e` names, or with `bars` the
/// values whose adjoints it names.
fn recurrent_refs<'e>(
    e: &'e RecExpr<Node>,
    recurrent: &'e BTreeSet<u32>,
    bars: bool,
) -> impl Iterator<Item = &'e Ref> {
    e.as_ref().iter().filter_map(move |n| match n {
        Node::Leaf(Leaf::Var(r)) if !bars && recurrent.contains(&r.var) => Some(r),
        Node::Leaf(Leaf::Bar(Target::Var(r))) if bars && recurrent.contains(&r.var) => Some(r),
        _ => None,
    })
}

struct Copy<'a, 'b> {
    how: &'b Unfold<'a>,
    b: ExprBuilder,
    values: BTreeMap<Ref, Id>,
    bars: BTreeMap<Ref, Id>,
    size: usize,
}

impl Unfold<'_> {
    /// `e` with every forward value and adjoint outside a recurrence
    /// written out by its equation, recursively; `None` where it grows
    /// past `MAX_NODES`.
    pub fn expr(&self, e: &RecExpr<Node>) -> Option<RecExpr<Node>> {
        if e.as_ref().is_empty() {
            return None;
        }
        let mut c = Copy {
            how: self,
            b: ExprBuilder::new(),
            values: BTreeMap::new(),
            bars: BTreeMap::new(),
            size: 0,
        };
        let root = c.copy(e)?;
        Some(c.b.finish(root))
    }

    fn kept(&self, v: u32) -> bool {
        self.recurrent.contains(&v) || self.assuming.iter().any(|a| a.target.var == v)
    }

    /// The assumed value of `r`, where the assumption holds at every index
    /// value of the window (an input's, or one the window computes) and
    /// the value has `r`'s shape: a scalar value standing for every entry
    /// is written only where it is zero (`0 * y`), as a number in place of
    /// a vector would change what a sum of entries counts.
    fn assumed_value(&self, r: &Ref) -> Option<RecExpr<Node>> {
        let a = self.assuming.iter().find(|a| a.target.var == r.var)?;
        let decl = self.model.vars.get(r.var as usize)?;
        let input = decl.kind == crate::model::VarKind::Input;
        if !input && !self.window.computes(self.model, r) {
            return None;
        }
        let value = at_ref(&a.value, r, &decl.indices);
        let shapes = crate::ir::prec::shapes(&value, self.model);
        let scalar = shapes
            .get(usize::from(crate::ir::root(&value)))
            .cloned()
            .flatten()
            .is_none_or(|s| s.is_scalar());
        if !scalar || decl.shape.is_scalar() {
            return Some(value);
        }
        if !super::scope::constant_value(&a.value).is_some_and(|c| c.is_zero()) {
            return None;
        }
        // `0 * r`, with `r` a leaf that is not written out again.
        let mut b = ExprBuilder::new();
        let zero = b.num(crate::num::Rational::zero());
        let leaf = b.add(Node::Leaf(Leaf::Var(r.clone())));
        let root = b.add(Node::Mul([zero, leaf]));
        Some(b.finish(root))
    }

    /// The equation of a value the window computes, at that value, where
    /// it is written out: outside recurrences and assumptions, or a value
    /// of a recurrence that reaches the floor (see [`Unfold::floor`]).
    fn definition(&self, r: &Ref) -> Option<RecExpr<Node>> {
        let assumed = self.assuming.iter().any(|a| a.target.var == r.var);
        if assumed || (self.kept(r.var) && !self.reaches(r, 2, false)) {
            return None;
        }
        self.equation_at(r)
    }

    /// The equation of `r`'s variable at `r`, where the window computes
    /// `r`.
    fn equation_at(&self, r: &Ref) -> Option<RecExpr<Node>> {
        if !self.window.computes(self.model, r) {
            return None;
        }
        let decl = self.model.vars.get(r.var as usize)?;
        let eq = self.model.equation_of(r.var)?;
        Some(at_ref(&eq.norm, r, &decl.indices))
    }

    /// The adjoint equation of `r` on the window, where it is written
    /// out: outside recurrences and assumptions, or an adjoint in a
    /// recurrence that reaches the adjoints in the floor (see
    /// [`Unfold::bar_floor`]).
    fn adjoint_definition(&self, r: &Ref) -> Option<RecExpr<Node>> {
        if self.assuming.iter().any(|a| a.target.var == r.var) {
            return None;
        }
        let eq = self.window.adjoint_at(self.model, r, self.adjoints)?;
        let written = !self.kept(r.var) || self.closes(&eq) || self.reaches(r, 2, true);
        written.then_some(eq)
    }

    /// Whether an adjoint equation names no adjoint of a recurrence that
    /// the model has: the recurrence ends there (`bar(h[T])`, whose
    /// `bar(a[T+1])` is zero), so writing it out stops.
    fn closes(&self, eq: &RecExpr<Node>) -> bool {
        !eq.as_ref().iter().any(|n| {
            matches!(n, Node::Leaf(Leaf::Bar(Target::Var(q)))
                if self.recurrent.contains(&q.var) && !super::cases::never_has_adjoint(self.model, q))
        })
    }

    /// Whether the equation of the recurrent value `r` (its adjoint
    /// equation, with `bars`) names a value in the floor (an adjoint in
    /// [`Unfold::bar_floor`]), directly or through at most `steps - 1`
    /// more of the recurrences'.
    fn reaches(&self, r: &Ref, steps: u32, bars: bool) -> bool {
        let floor = if bars { self.bar_floor } else { self.floor };
        if steps == 0 || floor.is_empty() {
            return false;
        }
        let eq = if bars {
            self.window.adjoint_at(self.model, r, self.adjoints)
        } else {
            self.equation_at(r)
        };
        let Some(eq) = eq else {
            return false;
        };
        let named: Vec<&Ref> = recurrent_refs(&eq, self.recurrent, bars)
            .filter(|q| *q != r)
            .collect();
        named.iter().any(|q| floor.contains(*q))
            || named.iter().any(|q| self.reaches(q, steps - 1, bars))
    }
}

impl Copy<'_, '_> {
    /// Copies `e` into the builder, writing values out; its root's id.
    fn copy(&mut self, e: &RecExpr<Node>) -> Option<Id> {
        let mut map: Vec<Id> = Vec::with_capacity(e.as_ref().len());
        for n in e.as_ref() {
            self.size += 1;
            if self.size > MAX_NODES {
                return None;
            }
            let id = match n {
                Node::Leaf(Leaf::Var(r)) => self.value(r)?,
                Node::Leaf(Leaf::Bar(Target::Var(r))) => self.bar(r)?,
                other => self
                    .b
                    .add(other.clone().map_children(|c| map[usize::from(c)])),
            };
            map.push(id);
        }
        map.last().copied()
    }

    fn value(&mut self, r: &Ref) -> Option<Id> {
        if let Some(&id) = self.values.get(r) {
            return Some(id);
        }
        let leaf = Leaf::Var(r.clone());
        if self.how.kept.contains(&leaf) {
            let id = self.b.add(Node::Leaf(leaf));
            self.values.insert(r.clone(), id);
            return Some(id);
        }
        let how = self.how;
        let model = how.model;
        let decl = model.vars.get(r.var as usize);
        if let Some(v) = how.assumed_value(r) {
            // The value's own leaf stands for itself in it (`0 * y`).
            let leaf = self.b.add(Node::Leaf(Leaf::Var(r.clone())));
            self.values.insert(r.clone(), leaf);
            let id = self.copy(&v)?;
            self.values.insert(r.clone(), id);
            return Some(id);
        }
        let def = if how.window.computes(model, r) {
            how.definition(r)
        } else {
            // A value an `init` sets is that value (not a recurrence: it
            // is written out once).
            let assumed = how.assuming.iter().any(|a| a.target.var == r.var);
            (!assumed)
                .then(|| model.init_of(r).zip(decl))
                .flatten()
                .map(|(init, decl)| at_ref(&init.value, r, &decl.indices))
        };
        let id = match def {
            Some(d) => {
                let id = self.copy(&d)?;
                // A scalar `init` of a vector (`init h[0] = 0`) sets every
                // entry: the scalar times the all-ones value of the
                // vector's shape (`x^0`), so that `h[0]^T * u` is `0`.
                let broadcast = decl.is_some_and(|v| !v.shape.is_scalar())
                    && crate::ir::prec::shapes(&d, model)
                        .last()
                        .cloned()
                        .flatten()
                        .is_some_and(|s| s.is_scalar());
                if broadcast {
                    let leaf = self.b.add(Node::Leaf(Leaf::Var(r.clone())));
                    let zero = self.b.num(crate::num::Rational::zero());
                    let ones = self.b.add(Node::Pow([leaf, zero]));
                    self.b.add(Node::Mul([id, ones]))
                } else {
                    id
                }
            }
            None => self.b.add(Node::Leaf(Leaf::Var(r.clone()))),
        };
        self.values.insert(r.clone(), id);
        Some(id)
    }

    fn bar(&mut self, r: &Ref) -> Option<Id> {
        if let Some(&id) = self.bars.get(r) {
            return Some(id);
        }
        let leaf = Leaf::Bar(Target::Var(r.clone()));
        if self.how.kept.contains(&leaf) {
            let id = self.b.add(Node::Leaf(leaf));
            self.bars.insert(r.clone(), id);
            return Some(id);
        }
        // An adjoint the model never has (`bar(a[T+1])`) is zero.
        if super::cases::never_has_adjoint(self.how.model, r) {
            let leaf = self.b.add(Node::Leaf(Leaf::Bar(Target::Var(r.clone()))));
            let zero = self.b.num(crate::num::Rational::zero());
            let id = self.b.add(Node::Mul([zero, leaf]));
            self.bars.insert(r.clone(), id);
            return Some(id);
        }
        let def = self.how.adjoint_definition(r);
        let id = match def {
            Some(d) => self.copy(&d)?,
            None => self.b.add(Node::Leaf(Leaf::Bar(Target::Var(r.clone())))),
        };
        self.bars.insert(r.clone(), id);
        Some(id)
    }
}
