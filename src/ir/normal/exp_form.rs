//! Expressions written with `exp`: each function of the table that has a
//! form in `exp` (`sigma(u) = (1 + exp(-u))^(-1)`, `tanh`, `softplus`,
//! `silu`; see [`crate::ir::act::Row::by_exp`]) written in it, and `exp` of
//! a negated or integer-scaled argument as a power of `exp` of the
//! argument (`exp(-2 * u) = exp(u)^(-2)`). Each step is an identity for
//! every real argument, so the result has the value of the expression;
//! two sides written by hand in different ways (`exp(a) ./ (1 + exp(a))`
//! and `sigma(a)`) then differ by a rational expression in the same
//! powers of `exp`, which clearing denominators decides.

use super::super::build::ExprBuilder;
use super::super::{LeafShapes, Node};
use crate::ir::act::Act;
use crate::num::Rational;
use egg::{Id, Language, Pattern, RecExpr};

/// `expr` written with `exp` (see the module documentation).
pub(super) fn written_with_exp(expr: &RecExpr<Node>, leaves: &dyn LeafShapes) -> RecExpr<Node> {
    let shapes = super::super::prec::shapes(expr, leaves);
    let mut b = ExprBuilder::new();
    let mut map: Vec<Id> = Vec::with_capacity(expr.as_ref().len());
    for (k, n) in expr.as_ref().iter().enumerate() {
        let scalar = shapes.get(k).cloned().flatten().map(|s| s.is_scalar());
        let id = match n.as_act() {
            Some((Act::Exp, false, a)) => exp_of(&mut b, map[usize::from(a)]),
            Some((act, false, a)) => match (act.row().by_exp, scalar) {
                (Some(form), Some(scalar)) => {
                    instantiate(&mut b, form, map[usize::from(a)], scalar)
                        .unwrap_or_else(|| b.add(n.clone().map_children(|c| map[usize::from(c)])))
                }
                _ => b.add(n.clone().map_children(|c| map[usize::from(c)])),
            },
            _ => b.add(n.clone().map_children(|c| map[usize::from(c)])),
        };
        map.push(id);
    }
    let root = map.last().copied().unwrap_or_else(|| Id::from(0));
    b.finish(root)
}

/// `exp(u)`, with a negated or integer-scaled argument written as a power
/// of `exp` of what it negates or scales, in turn.
fn exp_of(b: &mut ExprBuilder, u: Id) -> Id {
    let power = |b: &mut ExprBuilder, base: Id, k: Rational| {
        let k = b.num(k);
        b.add(Node::Pow([base, k]))
    };
    match b.node(u).clone() {
        Node::Neg(x) => {
            let e = exp_of(b, x);
            power(b, e, Rational::int(-1))
        }
        Node::Mul([k, x]) => match number(b, k) {
            Some(r) if r.is_integer() && !r.is_zero() => {
                let e = exp_of(b, x);
                power(b, e, r)
            }
            _ => b.add(Node::act(Act::Exp, false, u)),
        },
        _ => b.add(Node::act(Act::Exp, false, u)),
    }
}

/// The number at `id`, written as one or negated (`-2`).
fn number(b: &ExprBuilder, id: Id) -> Option<Rational> {
    match b.node(id) {
        Node::Num(r) => Some(r.clone()),
        Node::Neg(x) => b.node(*x).as_num().map(Rational::neg),
        _ => None,
    }
}

/// The pattern `form` with `?u` the argument `u`, `.*` a product where the
/// argument is a scalar, and `exp` written as [`exp_of`] does. `None`
/// where the pattern does not parse (the table's own test reads each).
fn instantiate(b: &mut ExprBuilder, form: &str, u: Id, scalar: bool) -> Option<Id> {
    let p: Pattern<Node> = form.parse().ok()?;
    Some(super::instantiate(b, &p, u, |b, node| match node {
        Node::Had(pair) if scalar => b.add(Node::Mul(pair)),
        Node::Act(f, [a]) if f.act == Act::Exp && !f.prime => exp_of(b, a),
        other => b.add(other),
    }))
}
