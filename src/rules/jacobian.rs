//! The chain rule for Jacobians: `(jac x e)` is the matrix of the partial
//! derivatives of the vector (or scalar) `e` with respect to the leaf `x`.
//! Elementwise functions contribute `diag(f'(u))`, declared functions their
//! gradient or Hessian. Like the adjoint rules, these assume independent
//! leaves.

use super::{
    built, built_if, depends, free_of_bound, guarded, is_independent, is_scalar_var, rule, var,
    Rewrite,
};
use crate::ir::analysis::{add_poly, independent, is_scalar, shape_of, Graph};
use crate::ir::{Act, Leaf, Node};
use crate::num::Rational;
use egg::{Id, Language, Subst};

fn jac(eg: &mut Graph, x: Id, e: Id) -> Id {
    eg.add(Node::Jac([x, e]))
}

/// `(jac x x)`: the identity of x's size.
fn self_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let x = s[var("?x")];
    let n = shape_of(eg, x).rows.clone();
    let size = add_poly(eg, &n);
    Some(eg.add(Node::Eye(size)))
}

/// The all-ones value of `v`'s shape, `v^0`, written as the power of the
/// first variable (or else parameter) of that shape in the graph, so that
/// the columns of ones of one Jacobian are one value and print alike.
fn ones(eg: &mut Graph, v: Id) -> Id {
    let shape = shape_of(eg, v);
    let first = eg
        .classes()
        .filter(|c| shape_of(eg, c.id) == shape)
        .flat_map(|c| c.nodes.iter())
        .filter_map(|n| match n {
            Node::Leaf(l @ (Leaf::Var(_) | Leaf::Param(_))) => Some(l.clone()),
            _ => None,
        })
        .min();
    let base = match first {
        Some(l) => eg.add(Node::Leaf(l)),
        None => v,
    };
    let zero = eg.add(Node::Num(Rational::zero()));
    eg.add(Node::Pow([base, zero]))
}

/// The Jacobian of a scalar `c` broadcast onto every entry of the vector
/// `v`: the column of ones times the scalar's row, `v^0 * jac(c)`.
fn broadcast(eg: &mut Graph, x: Id, c: Id, v: Id) -> Id {
    let column = ones(eg, v);
    let jc = jac(eg, x, c);
    eg.add(Node::Mul([column, jc]))
}

/// `(jac x (u ± v))`: the Jacobians of the sides that depend on `x`. A
/// scalar broadcast onto a vector (`v[k] + eps`) contributes a column of
/// ones times the scalar's row.
fn sum_rule(eg: &mut Graph, s: &Subst, negate: bool) -> Option<Id> {
    let (x, u, v) = (s[var("?x")], s[var("?u")], s[var("?v")]);
    let (su, sv) = (is_scalar(eg, u), is_scalar(eg, v));
    // A scalar broadcast onto a matrix has no Jacobian here.
    if su != sv && !shape_of(eg, if su { v } else { u }).cols.is_one() {
        return None;
    }
    let mut part = |side: Id, other: Id, broadcast_onto_other: bool| {
        if independent(eg, side, x) {
            None
        } else if broadcast_onto_other {
            Some(broadcast(eg, x, side, other))
        } else {
            Some(jac(eg, x, side))
        }
    };
    let ju = part(u, v, su && !sv);
    let jv = part(v, u, sv && !su);
    Some(match (ju, jv) {
        (Some(ju), Some(jv)) => eg.add(if negate {
            Node::Sub([ju, jv])
        } else {
            Node::Add([ju, jv])
        }),
        (Some(ju), None) => ju,
        (None, Some(jv)) if negate => eg.add(Node::Neg(jv)),
        (None, Some(jv)) => jv,
        (None, None) => return None,
    })
}

/// `(jac x (u * v))`: scaling, or a matrix (or row) times a vector whose
/// matrix does not depend on `x`.
fn product_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (x, u, v) = (s[var("?x")], s[var("?u")], s[var("?v")]);
    let (su, sv) = (is_scalar(eg, u), is_scalar(eg, v));
    if su || sv {
        let (c, w) = if su { (u, v) } else { (v, u) };
        // d(c w) = c dw + w dc: w (n x 1) times dc (1 x m).
        let jw = jac(eg, x, w);
        let left = eg.add(Node::Mul([c, jw]));
        if independent(eg, c, x) {
            return Some(left);
        }
        let jc = jac(eg, x, c);
        let right = eg.add(Node::Mul([w, jc]));
        return Some(eg.add(Node::Add([left, right])));
    }
    if !shape_of(eg, v).cols.is_one() {
        return None;
    }
    if independent(eg, u, x) {
        let jv = jac(eg, x, v);
        return Some(eg.add(Node::Mul([u, jv])));
    }
    // A matrix that depends on `x` times a vector: a diagonal is an
    // elementwise product (`diag(w) * v = w .* v`), and a product of
    // matrices is applied one factor at a time (`(A * B) * v = A * (B *
    // v)`), until a matrix free of `x` or a row is left.
    if let Some(rewritten) = applied(eg, u, v) {
        return Some(jac(eg, x, rewritten));
    }
    // An inner product `w^T * v` whose row depends on `x`:
    // d(w^T v) = v^T dw + w^T dv.
    let w = transposed_vector(eg, u)?;
    let jw = jac(eg, x, w);
    let vt = eg.add(Node::Trans(v));
    let left = eg.add(Node::Mul([vt, jw]));
    if independent(eg, v, x) {
        return Some(left);
    }
    let jv = jac(eg, x, v);
    let right = eg.add(Node::Mul([u, jv]));
    Some(eg.add(Node::Add([left, right])))
}

/// The matrix `u` times the column `v`, with the product taken into `u`:
/// `diag(w) * v = w .* v`, `(a * b) * v = a * (b * v)`, `(-a) * v = -(a *
/// v)` and `(a ± b) * v = a * v ± b * v`; `None` where `u` is none of
/// these.
fn applied(eg: &mut Graph, u: Id, v: Id) -> Option<Id> {
    let u = eg.find(u);
    // A form that holds `u` itself (`u * I`, where identities have merged)
    // would only be applied again without end.
    let node = eg[u]
        .nodes
        .iter()
        .find(|n| {
            let own = n.children().iter().any(|&c| eg.find(c) == u);
            !own && (matches!(n, Node::Diag(_) | Node::Mul(_) | Node::Neg(_))
                || matches!(n, Node::Add([a, b]) | Node::Sub([a, b]) if !is_scalar(eg, *a) && !is_scalar(eg, *b)))
        })?
        .clone();
    Some(match node {
        Node::Diag(w) => eg.add(Node::Had([w, v])),
        Node::Mul([a, b]) => {
            let bv = eg.add(Node::Mul([b, v]));
            eg.add(Node::Mul([a, bv]))
        }
        Node::Neg(a) => {
            let av = eg.add(Node::Mul([a, v]));
            eg.add(Node::Neg(av))
        }
        Node::Add([a, b]) | Node::Sub([a, b]) => {
            let av = eg.add(Node::Mul([a, v]));
            let bv = eg.add(Node::Mul([b, v]));
            eg.add(match node {
                Node::Add(_) => Node::Add([av, bv]),
                _ => Node::Sub([av, bv]),
            })
        }
        _ => return None,
    })
}

/// The column vector `w` of a class holding `w^T`.
fn transposed_vector(eg: &Graph, u: Id) -> Option<Id> {
    eg[u].nodes.iter().find_map(|n| match n {
        Node::Trans(w) if shape_of(eg, *w).cols.is_one() => Some(*w),
        _ => None,
    })
}

/// `(jac x (sumall u))` for a vector `u`: the row of ones times its
/// Jacobian, `(u^0)^T * jac(u)`.
fn sumall_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (x, u) = (s[var("?x")], s[var("?u")]);
    if !shape_of(eg, u).cols.is_one() {
        return None;
    }
    let column = ones(eg, u);
    let row = eg.add(Node::Trans(column));
    let ju = jac(eg, x, u);
    Some(eg.add(Node::Mul([row, ju])))
}

/// `(jac x (u / s))`: `jac(u) / s`, less `u * jac(s) / s^2` where the
/// scalar `s` depends on `x` (for a vector or scalar `u`).
fn quotient_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (x, u, d) = (s[var("?x")], s[var("?u")], s[var("?s")]);
    if independent(eg, d, x) {
        let ju = jac(eg, x, u);
        return Some(eg.add(Node::Div([ju, d])));
    }
    if !is_scalar(eg, d) || !shape_of(eg, u).cols.is_one() {
        return None;
    }
    let jd = jac(eg, x, d);
    let two = eg.add(Node::Num(Rational::from(2)));
    let square = eg.add(Node::Pow([d, two]));
    let outer = eg.add(Node::Mul([u, jd]));
    let right = eg.add(Node::Div([outer, square]));
    if independent(eg, u, x) {
        return Some(eg.add(Node::Neg(right)));
    }
    let ju = jac(eg, x, u);
    let left = eg.add(Node::Div([ju, d]));
    Some(eg.add(Node::Sub([left, right])))
}

/// `(jac x (u ^ n))` for a constant exponent `n`.
fn power_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (x, u, n) = (s[var("?x")], s[var("?u")], s[var("?n")]);
    if !independent(eg, n, x) {
        return None;
    }
    let one = eg.add(Node::Num(Rational::one()));
    let n1 = eg.add(Node::Sub([n, one]));
    let p = eg.add(Node::Pow([u, n1]));
    let d = eg.add(Node::Mul([n, p]));
    let dg = eg.add(Node::Diag(d));
    let ju = jac(eg, x, u);
    Some(eg.add(Node::Mul([dg, ju])))
}

/// `(jac x (softmax u))` for a vector `u`: `(diag(s) - s * s^T) * jac(u)`
/// with `s = softmax(u)`.
fn softmax_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (x, u) = (s[var("?x")], s[var("?u")]);
    if !shape_of(eg, u).cols.is_one() {
        return None;
    }
    let sm = eg.add(Node::Softmax(u));
    let dg = eg.add(Node::Diag(sm));
    let st = eg.add(Node::Trans(sm));
    let outer = eg.add(Node::Mul([sm, st]));
    let d = eg.add(Node::Sub([dg, outer]));
    let ju = jac(eg, x, u);
    Some(eg.add(Node::Mul([d, ju])))
}

/// `(jac x [u1; u2; ...])` for a stack of vectors: the stack of their
/// Jacobians.
fn block_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (x, m) = (s[var("?x")], s[var("?m")]);
    let cells = super::calculus::block_cells(eg, m)?;
    let mut rows = Vec::new();
    for row in cells {
        let [u] = row[..] else {
            return None;
        };
        if !shape_of(eg, u).cols.is_one() {
            return None;
        }
        let j = jac(eg, x, u);
        rows.push(eg.add(Node::Row(vec![j].into_boxed_slice())));
    }
    Some(eg.add(Node::Block(rows.into_boxed_slice())))
}

/// The Jacobian rules.
#[rustfmt::skip]
pub fn rules() -> Vec<Rewrite> {
    let mut rules = vec![
        rule!("jac-constant";    "(jac ?x ?y)"              => "(* 0 (* ?y (T ?x)))" if is_independent("?y", "?x")),
        rule!("jac-neg";         "(jac ?x (neg ?u))"        => "(neg (jac ?x ?u))" if depends(&["?u"])),
        rule!("jac-scalar-transpose"; "(jac ?x (T ?u))"     => "(jac ?x ?u)" if depends(&["?u"]) if is_scalar_var("?u")),
        rule!("jac-hadamard";    "(jac ?x (.* ?u ?v))"      => "(+ (* (diag ?v) (jac ?x ?u)) (* (diag ?u) (jac ?x ?v)))" if depends(&["?u", "?v"])),
    ];
    // The chain rule through each elementwise function of the table.
    rules.extend(Act::all().map(|a| {
        let f = a.name();
        guarded(&format!("jac-chain-{f}"), &format!("(jac ?x ({f} ?u))"), &format!("(* (diag ({f}' ?u)) (jac ?x ?u))"), vec![Box::new(depends(&["?u"]))])
    }));
    rules.extend([
        rule!("jac-chain-fn";    "(jac ?x (call ?f ?u))"    => "(* (T (grad ?f ?u)) (jac ?x ?u))" if depends(&["?u"]) if super::fn_scalar("?f")),
        rule!("jac-chain-vec-fn"; "(jac ?x (call ?f ?u))"   => "(* (jacf ?f ?u) (jac ?x ?u))" if depends(&["?u"]) if super::fn_vector("?f")),
        rule!("jac-chain-grad";  "(jac ?x (grad ?f ?u))"    => "(* (hess ?f ?u) (jac ?x ?u))" if depends(&["?u"])),
        rule!("jac-sum";         "(jac ?x (sum ?i ?e))"     => "(sum ?i (jac ?x ?e))" if depends(&["?e"]) if free_of_bound(&["?x"])),
    ]);
    rules.push(built("jac-self",  "(jac ?x ?x)",           self_rule));
    rules.push(built_if("jac-add", "(jac ?x (+ ?u ?v))", depends(&["?u", "?v"]), |eg, s| sum_rule(eg, s, false)));
    rules.push(built_if("jac-sub", "(jac ?x (- ?u ?v))", depends(&["?u", "?v"]), |eg, s| sum_rule(eg, s, true)));
    rules.push(built_if("jac-mul", "(jac ?x (* ?u ?v))", depends(&["?u", "?v"]), product_rule));
    rules.push(built_if("jac-div", "(jac ?x (/ ?u ?s))", depends(&["?u", "?s"]), quotient_rule));
    rules.push(built_if("jac-pow", "(jac ?x (^ ?u ?n))", depends(&["?u", "?n"]), power_rule));
    rules.push(built_if("jac-sumall", "(jac ?x (sumall ?u))", depends(&["?u"]), sumall_rule));
    rules.push(built_if("jac-softmax", "(jac ?x (softmax ?u))", depends(&["?u"]), softmax_rule));
    let through_block = depends(&["?m"]);
    rules.push(built_if("jac-block", "(jac ?x ?m)", move |eg, id, s| super::calculus::block_cells(eg, s[var("?m")]).is_some() && through_block(eg, id, s), block_rule));
    rules
}
