//! Expressions written with `exp`: each function of the table that has a
//! form in `exp` (`sigma(u) = (1 + exp(-u))^(-1)`, `tanh`, `softplus`,
//! `silu`; see [`crate::ir::act::Row::by_exp`]) written in it, `exp` of
//! a negated or integer-scaled argument as a power of `exp` of the
//! argument (`exp(-2 * u) = exp(u)^(-2)`, `exp((-W) * a) = exp(W *
//! a)^(-1)`), and `exp` of a sum or a
//! difference as the product of the `exp`s of its terms (`exp(b - x) =
//! exp(b) * exp(x)^(-1)`, so that `sigma(b - x)` and `1 - sigma(x - b)`
//! are written in the same powers); `prod` of an elementwise product or
//! whole power as the product or power of `prod`s. Each step is an identity for
//! every real argument, so the result has the value of the expression;
//! two sides written by hand in different ways (`exp(a) ./ (1 + exp(a))`
//! and `sigma(a)`) then differ by a rational expression in the same
//! powers of `exp`, which clearing denominators decides.

use super::super::build::ExprBuilder;
use super::super::{LeafShapes, Node};
use crate::ir::act::Act;
use crate::num::Rational;
use egg::{Id, Pattern, RecExpr};

/// `expr` written with `exp` (see the module documentation).
pub(super) fn written_with_exp(expr: &RecExpr<Node>, leaves: &dyn LeafShapes) -> RecExpr<Node> {
    let shapes = super::super::prec::shapes(expr, leaves);
    // Whether each node built is a scalar, where its shape is known.
    let mut scalars = Scalars::default();
    super::super::build::rebuilt(expr, |b, k, n| {
        let scalar = shapes.get(k).cloned().flatten().map(|s| s.is_scalar());
        let id = match (&n, n.as_act()) {
            (_, Some((Act::Exp, false, a))) => exp_of(b, &scalars, a),
            (Node::Prod(x), _) => prod_of(b, *x),
            (_, Some((act, false, a))) => match (act.row().by_exp, scalar) {
                (Some(form), Some(scalar)) => {
                    instantiate(b, &scalars, form, a, scalar).unwrap_or_else(|| b.add(n.clone()))
                }
                _ => b.add(n.clone()),
            },
            _ => b.add(n.clone()),
        };
        if let Some(scalar) = scalar {
            scalars.0.insert(id, scalar);
        }
        id
    })
}

/// Whether each node of the builder is a scalar, for the nodes of the
/// expression written: what `exp` of a sum multiplies its terms' `exp`s
/// with (`*` where one is a scalar, `.*` otherwise).
#[derive(Default)]
struct Scalars(rustc_hash::FxHashMap<Id, bool>);

/// `exp(u)`, with a negated or integer-scaled argument written as a power
/// of `exp` of what it negates or scales, and a sum or difference of two
/// terms of known shapes as the product of their `exp`s, in turn.
fn exp_of(b: &mut ExprBuilder, scalars: &Scalars, u: Id) -> Id {
    let power = |b: &mut ExprBuilder, base: Id, k: Rational| {
        let k = b.num(k);
        b.add(Node::Pow([base, k]))
    };
    match b.node(u).clone() {
        Node::Neg(x) => {
            let e = exp_of(b, scalars, x);
            power(b, e, Rational::int(-1))
        }
        node @ (Node::Mul([p, q]) | Node::Had([p, q]) | Node::Div([p, q])) => {
            let scale = number(b, p).filter(|r| r.is_integer() && !r.is_zero());
            if let (Node::Mul(_), Some(r)) = (&node, scale) {
                let e = exp_of(b, scalars, q);
                return power(b, e, r);
            }
            // A product or quotient with a negated factor is the negated
            // product (each is linear in either factor): `exp((-W) * a) =
            // exp(W * a)^(-1)`.
            let unnegated = |b: &ExprBuilder, x: Id| match b.node(x) {
                Node::Neg(y) => Some(*y),
                _ => None,
            };
            let pair = match (unnegated(b, p), unnegated(b, q)) {
                (Some(x), None) => Some([x, q]),
                (None, Some(y)) => Some([p, y]),
                _ => None,
            };
            match pair {
                Some(pair) => {
                    let m = b.add(match node {
                        Node::Mul(_) => Node::Mul(pair),
                        Node::Had(_) => Node::Had(pair),
                        _ => Node::Div(pair),
                    });
                    let e = exp_of(b, scalars, m);
                    power(b, e, Rational::int(-1))
                }
                None => b.add(Node::act(Act::Exp, false, u)),
            }
        }
        node @ (Node::Add([p, q]) | Node::Sub([p, q])) => {
            match (scalars.0.get(&p).copied(), scalars.0.get(&q).copied()) {
                (Some(sp), Some(sq)) => {
                    let ep = exp_of(b, scalars, p);
                    let mut eq = exp_of(b, scalars, q);
                    if matches!(node, Node::Sub(_)) {
                        eq = power(b, eq, Rational::int(-1));
                    }
                    if sp || sq {
                        b.add(Node::Mul([ep, eq]))
                    } else {
                        b.add(Node::Had([ep, eq]))
                    }
                }
                _ => b.add(Node::act(Act::Exp, false, u)),
            }
        }
        _ => b.add(Node::act(Act::Exp, false, u)),
    }
}

/// `prod(x)`, with an elementwise product as the product of its factors'
/// `prod`s and a whole power as the power of the base's `prod`
/// (`prod(a .* b^(-1)) = prod(a) * prod(b)^(-1)`): products of the entries
/// commute with both.
fn prod_of(b: &mut ExprBuilder, x: Id) -> Id {
    match b.node(x).clone() {
        Node::Had([p, q]) => {
            let (p, q) = (prod_of(b, p), prod_of(b, q));
            b.add(Node::Mul([p, q]))
        }
        Node::Pow([base, k]) if number(b, k).is_some_and(|r| r.is_integer()) => {
            let p = prod_of(b, base);
            b.add(Node::Pow([p, k]))
        }
        _ => b.add(Node::Prod(x)),
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
fn instantiate(
    b: &mut ExprBuilder,
    scalars: &Scalars,
    form: &str,
    u: Id,
    scalar: bool,
) -> Option<Id> {
    let p: Pattern<Node> = form.parse().ok()?;
    Some(super::instantiate(b, &p, u, |b, node| match node {
        Node::Had(pair) if scalar => b.add(Node::Mul(pair)),
        Node::Act(f, [a]) if f.act == Act::Exp && !f.prime => exp_of(b, scalars, a),
        other => b.add(other),
    }))
}
