//! Claims split into cases along an index: a claim about every value of
//! `t` in its window holds where it holds at the last value (or the
//! first) and at the others. At the others, more values are computed
//! (`h[t+1]` is a value of the model at every `t` but the last, so it may
//! be named by its equation); at the last, the adjoints of values past the
//! end of the model are zero (`bar(h[T+1])`), so the terms they multiply
//! drop out. Each case is proved on its own, by the same procedures as the
//! claim.

use super::window::Window;
use crate::ir::build::ExprBuilder;
use crate::ir::{Ix, Leaf, Node, Ref, Target};
use crate::model::Model;
use egg::{Language, RecExpr};

/// One case of a claim: the window it is made on and its two sides there.
pub struct Case {
    /// The index values of the case.
    pub window: Window,
    /// The derived side.
    pub derived: RecExpr<Node>,
    /// The claimed side.
    pub claimed: RecExpr<Node>,
}

/// The ways to split a claim with sides `d` and `c` on `window` into two
/// cases that cover it: for each index the window leaves free (and the
/// sides use only in references), its last value apart from the others,
/// then its first value apart from the others where the range starts at a
/// number.
pub fn splits(
    model: &Model,
    window: &Window,
    d: &RecExpr<Node>,
    c: &RecExpr<Node>,
) -> Vec<[Case; 2]> {
    let mut out = Vec::new();
    for (i, lower, upper) in window.spans() {
        // An index used as a value or bound by a sum inside a side is
        // not only a position of references: it is not split.
        let as_value = |e: &RecExpr<Node>| {
            e.as_ref()
                .iter()
                .any(|n| matches!(n, Node::Leaf(Leaf::Index(j)) if *j == i))
        };
        if as_value(d) || as_value(c) {
            continue;
        }
        // Only an end where a value the sides read leaves what the model
        // computes: elsewhere the case at that end is no easier.
        let (before, past) = reach(model, i, lower, upper, &[d, c]);
        let mut edges = Vec::new();
        if past {
            edges.push((Ix::End(i, upper), (lower, upper - 1)));
        }
        if let Some(lo) = model.range_start(i).filter(|_| before) {
            edges.push((Ix::Abs(lo.saturating_add(lower)), (lower + 1, upper)));
        }
        for (at, (l, u)) in edges {
            let mut rest = window.clone();
            rest.set(i, l, u);
            let mut edge = window.clone();
            edge.fix(model, i);
            let fixed = |e: &RecExpr<Node>| {
                let e = crate::ir::fix_at(e, &|j| (j == i).then_some(at));
                past_the_model(model, &e)
            };
            out.push([
                Case {
                    window: rest,
                    derived: d.clone(),
                    claimed: c.clone(),
                },
                Case {
                    window: edge,
                    derived: fixed(d),
                    claimed: fixed(c),
                },
            ]);
        }
    }
    out
}

/// Whether some value that `sides` read at a position along index `i`
/// (running from `lo + lower` to `hi + upper`) reaches before the first
/// value its variable is computed at, and whether one reaches past the
/// last (`h[t+1]` at `t = T`, `bar(h[i+1, j-1])` at `j = 1`).
fn reach(model: &Model, i: u32, lower: i64, upper: i64, sides: &[&RecExpr<Node>]) -> (bool, bool) {
    let (mut before, mut past) = (false, false);
    for n in sides.iter().flat_map(|e| e.as_ref()) {
        let r = match n {
            Node::Leaf(Leaf::Var(r) | Leaf::Bar(Target::Var(r))) => r,
            _ => continue,
        };
        let Some(domain) = model.domain(r.var) else {
            continue;
        };
        for (ix, &(lo_d, hi_d)) in r.at.iter().zip(&domain) {
            if let Ix::Rel(j, k) = *ix {
                if j == i {
                    before |= lower.saturating_add(k) < lo_d;
                    past |= upper.saturating_add(k) > hi_d;
                }
            }
        }
    }
    (before, past)
}

/// The adjoint `bar(r)` of a value at a fixed position without an
/// equation of its own (`bar(h[T])` where the loss reads every step
/// alike): the general equation there (see [`Window::general_at_fixed`]),
/// with the adjoints the model never has (`bar(a[T+1])`) zero and their
/// terms left out. `None` where `r` is at free positions only, the model
/// does not compute it, or its variable has fixed steps of its own.
pub fn adjoint_at_fixed(
    model: &Model,
    r: &Ref,
    equations: &[(Ref, RecExpr<Node>)],
) -> Option<RecExpr<Node>> {
    if !at_fixed_without_equation(model, r) {
        return None;
    }
    let e = Window::general_at_fixed(model, r, equations)?;
    let e = super::steps::trivial_gone(&past_the_model(model, &e));
    Some(super::collected(&e, model).unwrap_or(e))
}

/// Whether `r` is a value the model computes, at a fixed position, of a
/// variable with no fixed step that has an equation of its own: its
/// adjoint is the general equation there.
pub fn at_fixed_without_equation(model: &Model, r: &Ref) -> bool {
    !r.at.iter().all(|ix| matches!(ix, Ix::Rel(..)))
        && !model.is_learned(r.var)
        && model.fixed_steps(r.var).is_empty()
        && Window::of_var(model, r.var).computes(model, r)
}

/// Whether the model never has an adjoint for `r`, for any value of the
/// dims: at some position, `r` is past the last value its variable is
/// computed at (past the end of its range, for a learned value), or
/// before the first.
pub fn never_has_adjoint(model: &Model, r: &Ref) -> bool {
    let Some(decl) = model.vars.get(r.var as usize) else {
        return false;
    };
    let learned = model.is_learned(r.var);
    let domain = if learned {
        vec![(0, 0); r.at.len()]
    } else {
        match model.domain(r.var) {
            Some(d) => d,
            None => return false,
        }
    };
    r.at.iter()
        .zip(&domain)
        .zip(&decl.indices)
        .any(|((ix, &(lo_d, hi_d)), &own)| match *ix {
            // `hi + o` past `hi + hi_d`.
            Ix::End(_, o) => o > hi_d,
            // `a` before `lo + lo_d`.
            Ix::Abs(a) => model
                .range_start(own)
                .is_some_and(|lo| a < lo.saturating_add(lo_d)),
            Ix::Rel(..) => false,
        })
}

/// `e` with every adjoint that the model never has (see
/// [`never_has_adjoint`]) multiplied by zero: such an adjoint is zero.
fn past_the_model(model: &Model, e: &RecExpr<Node>) -> RecExpr<Node> {
    let mut b = ExprBuilder::new();
    let mut map = Vec::with_capacity(e.as_ref().len());
    for n in e.as_ref() {
        let id = match n {
            Node::Leaf(Leaf::Bar(Target::Var(r))) if never_has_adjoint(model, r) => {
                let leaf = b.add(n.clone());
                let zero = b.add(Node::Num(crate::num::Rational::zero()));
                b.add(Node::Mul([zero, leaf]))
            }
            _ => b.add(n.clone().map_children(|c| map[usize::from(c)])),
        };
        map.push(id);
    }
    let root = map.last().copied().unwrap_or_else(|| egg::Id::from(0));
    b.finish(root)
}
