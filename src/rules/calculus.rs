//! The chain rule, as vector-Jacobian products: `(vjp b x e)` is the
//! adjoint that the seed `b`, flowing back through `e`, contributes to the
//! leaf `x`. Each rule passes the seed through one operation, in the
//! chain-rule form `(vjp b x (f u)) => (vjp (b * f'(u)) x u)`; a leaf gives
//! the seed to itself and nothing to any other leaf.
//!
//! These rules assume the leaves are independent variables: they run on an
//! e-graph in which no leaf has been merged with its definition.

use super::{
    built_if, depends, free_of_bound, guarded, is_independent, is_zero_var, rule, var, Rewrite,
};
use crate::ir::analysis::{add_poly, independent, is_scalar, is_zero, shape_of, Graph};
use crate::ir::{Act, Node};
use crate::num::Rational;
use egg::{Id, Subst};

/// The inner product of two values of one shape, as a scalar: `b * u` for
/// scalars, `b^T * u` for vectors, `sum(b .* u)` otherwise.
fn inner(eg: &mut Graph, b: Id, u: Id) -> Id {
    if is_scalar(eg, b) && is_scalar(eg, u) {
        eg.add(Node::Mul([b, u]))
    } else if shape_of(eg, u).cols.is_one() && shape_of(eg, b).cols.is_one() {
        let bt = eg.add(Node::Trans(b));
        eg.add(Node::Mul([bt, u]))
    } else if shape_of(eg, u).rows.is_one() && shape_of(eg, b).rows.is_one() {
        let ut = eg.add(Node::Trans(u));
        eg.add(Node::Mul([b, ut]))
    } else {
        let h = eg.add(Node::Had([b, u]));
        eg.add(Node::SumAll(h))
    }
}

/// The seed that reaches operand `w` of an elementwise operation whose
/// result has `other`'s shape: the seed itself, or, where a scalar was
/// broadcast, the sum of the seed's entries.
fn broadcast_seed(eg: &mut Graph, b: Id, w: Id, other: Id) -> Id {
    if is_scalar(eg, w) && !is_scalar(eg, other) {
        eg.add(Node::SumAll(b))
    } else {
        b
    }
}

fn vjp(eg: &mut Graph, b: Id, x: Id, e: Id) -> Id {
    eg.add(Node::Vjp([b, x, e]))
}

/// `(vjp b x (u ± v))`, with broadcasting.
fn sum_rule(eg: &mut Graph, s: &Subst, negate: bool) -> Option<Id> {
    let (b, x, u, v) = (s[var("?b")], s[var("?x")], s[var("?u")], s[var("?v")]);
    let bu = broadcast_seed(eg, b, u, v);
    let bv = broadcast_seed(eg, b, v, u);
    let bv = if negate { eg.add(Node::Neg(bv)) } else { bv };
    let tu = vjp(eg, bu, x, u);
    let tv = vjp(eg, bv, x, v);
    Some(eg.add(Node::Add([tu, tv])))
}

/// `(vjp b x (u * v))`: scaling or a matrix product, by shape.
fn product_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (b, x, u, v) = (s[var("?b")], s[var("?x")], s[var("?u")], s[var("?v")]);
    let (su, sv) = (is_scalar(eg, u), is_scalar(eg, v));
    let (bu, bv) = if su && sv {
        (eg.add(Node::Mul([b, v])), eg.add(Node::Mul([u, b])))
    } else if su {
        (inner(eg, b, v), eg.add(Node::Mul([u, b])))
    } else if sv {
        (eg.add(Node::Mul([v, b])), inner(eg, b, u))
    } else {
        let vt = eg.add(Node::Trans(v));
        let ut = eg.add(Node::Trans(u));
        (eg.add(Node::Mul([b, vt])), eg.add(Node::Mul([ut, b])))
    };
    let tu = vjp(eg, bu, x, u);
    let tv = vjp(eg, bv, x, v);
    Some(eg.add(Node::Add([tu, tv])))
}

/// `(vjp b x (u / s))`: `b / s` to `u`, `-(b . u) / s^2` to `s`.
fn quotient_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (b, x, u, d) = (s[var("?b")], s[var("?x")], s[var("?u")], s[var("?s")]);
    let bu = eg.add(Node::Div([b, d]));
    let dot = inner(eg, b, u);
    let two = eg.add(Node::Num(Rational::int(2)));
    let d2 = eg.add(Node::Pow([d, two]));
    let q = eg.add(Node::Div([dot, d2]));
    let bd = eg.add(Node::Neg(q));
    let tu = vjp(eg, bu, x, u);
    let td = vjp(eg, bd, x, d);
    Some(eg.add(Node::Add([tu, td])))
}

/// `(vjp b x (u ^ n))`: `b .* (n * u^(n-1))` to `u`, and
/// `b . (u^n .* log(u))` to `n` (nothing when `n` is a constant).
fn power_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (b, x, u, n) = (s[var("?b")], s[var("?x")], s[var("?u")], s[var("?n")]);
    let one = eg.add(Node::Num(Rational::one()));
    let n1 = eg.add(Node::Sub([n, one]));
    let pow = eg.add(Node::Pow([u, n1]));
    let scaled = eg.add(Node::Mul([n, pow]));
    let bu = eg.add(Node::Had([b, scaled]));
    let tu = vjp(eg, bu, x, u);
    if independent(eg, n, x) {
        return Some(tu);
    }
    let un = eg.add(Node::Pow([u, n]));
    let lg = eg.add(Node::act(Act::Log, false, u));
    let h = eg.add(Node::Had([un, lg]));
    let bn = inner(eg, b, h);
    let tn = vjp(eg, bn, x, n);
    Some(eg.add(Node::Add([tu, tn])))
}

/// `(vjp b x (sumall u))`: every entry of `u` gets the scalar seed `b`,
/// as `b * u^0` (`u^0` is the all-ones value of `u`'s shape; the algebra
/// folds it into the sums and products it meets).
fn sumall_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (b, x, u) = (s[var("?b")], s[var("?x")], s[var("?u")]);
    let seed = if is_scalar(eg, u) {
        b
    } else {
        let zero = eg.add(Node::Num(Rational::zero()));
        let ones = eg.add(Node::Pow([u, zero]));
        eg.add(Node::Mul([b, ones]))
    };
    Some(vjp(eg, seed, x, u))
}

/// `(vjp b x (softmax u))`: with `s = softmax(u)`, `s .* (b - s^T * b)`
/// to `u` (the Jacobian `diag(s) - s * s^T` is symmetric).
fn softmax_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (b, x, u) = (s[var("?b")], s[var("?x")], s[var("?u")]);
    let sm = eg.add(Node::Softmax(u));
    let dot = inner(eg, sm, b);
    let centred = eg.add(Node::Sub([b, dot]));
    let seed = eg.add(Node::Had([sm, centred]));
    Some(vjp(eg, seed, x, u))
}

/// The cells of a block matrix in class `m`, row by row.
pub(super) fn block_cells(eg: &Graph, m: Id) -> Option<Vec<Vec<Id>>> {
    eg[m].nodes.iter().find_map(|n| match n {
        Node::Block(rows) => rows
            .iter()
            .map(|r| {
                eg[*r].nodes.iter().find_map(|c| match c {
                    Node::Row(cells) => Some(cells.to_vec()),
                    _ => None,
                })
            })
            .collect(),
        _ => None,
    })
}

/// The selector of part `k` of a partition of sizes `sizes`: the
/// `sizes[k] x total` matrix `[0, .., I, .., 0]`, whose product with a
/// value keeps that part's rows.
fn selector(eg: &mut Graph, sizes: &[Id], k: usize) -> Id {
    let cells: Vec<Id> = sizes
        .iter()
        .enumerate()
        .map(|(j, &n)| {
            if j == k {
                eg.add(Node::Eye(n))
            } else {
                eg.add(Node::Zeros([sizes[k], n]))
            }
        })
        .collect();
    let row = eg.add(Node::Row(cells.into_boxed_slice()));
    eg.add(Node::Block(vec![row].into_boxed_slice()))
}

/// `(vjp b x [u1, u2; u3, u4])`: each block gets the part of the seed in
/// its place, `R_i * b * C_j^T`, with `R_i` selecting the block row's rows
/// and `C_j` the block column's columns (left out where there is one block
/// row or one block column). A concatenation `[h; x]` gives `h` the first
/// rows of the seed, `[I(H), zeros(H, D)] * b`.
fn block_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (b, x, m) = (s[var("?b")], s[var("?x")], s[var("?m")]);
    let cells = block_cells(eg, m)?;
    let first = cells.first()?;
    if cells.iter().any(|r| r.len() != first.len()) {
        return None;
    }
    let heights: Vec<Id> = cells
        .iter()
        .map(|r| {
            let h = shape_of(eg, r[0]).rows.clone();
            add_poly(eg, &h)
        })
        .collect();
    let widths: Vec<Id> = first
        .iter()
        .map(|&c| {
            let w = shape_of(eg, c).cols.clone();
            add_poly(eg, &w)
        })
        .collect();
    let mut total: Option<Id> = None;
    for (i, row) in cells.iter().enumerate() {
        for (j, &cell) in row.iter().enumerate() {
            let mut seed = b;
            if cells.len() > 1 {
                let r = selector(eg, &heights, i);
                seed = eg.add(Node::Mul([r, seed]));
            }
            if row.len() > 1 {
                let c = selector(eg, &widths, j);
                let ct = eg.add(Node::Trans(c));
                seed = eg.add(Node::Mul([seed, ct]));
            }
            let term = vjp(eg, seed, x, cell);
            total = Some(match total {
                Some(t) => eg.add(Node::Add([t, term])),
                None => term,
            });
        }
    }
    total
}

/// `(vjp b x (tr m))`: `b * I(n)` to `m`.
fn trace_rule(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (b, x, m) = (s[var("?b")], s[var("?x")], s[var("?m")]);
    let n = shape_of(eg, m).rows.clone();
    let size = add_poly(eg, &n);
    let eye = eg.add(Node::Eye(size));
    let seed = eg.add(Node::Mul([b, eye]));
    Some(vjp(eg, seed, x, m))
}

/// The chain rule applies: the seed `?b` is not zero and some operand
/// depends on `?x`. Otherwise `d-zero-seed` or `d-constant` finishes the
/// derivative, and expanding it further would only differentiate the many
/// forms of a zero.
fn chain(operands: &'static [&'static str]) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let b = var("?b");
    let depends = depends(operands);
    move |eg, id, s| !is_zero(eg, s[b]) && depends(eg, id, s)
}

/// The differentiation rules.
#[rustfmt::skip]
pub fn rules() -> Vec<Rewrite> {
    let mut rules = vec![
        rule!("d-self";         "(vjp ?b ?x ?x)"              => "?b"),
        rule!("d-constant";     "(vjp ?b ?x ?y)"              => "(* 0 ?x)" if is_independent("?y", "?x")),
        rule!("d-zero-seed";    "(vjp ?z ?x ?y)"              => "(* 0 ?x)" if is_zero_var("?z")),
        rule!("d-neg";          "(vjp ?b ?x (neg ?u))"        => "(vjp (neg ?b) ?x ?u)" if chain(&["?u"])),
        rule!("d-hadamard";     "(vjp ?b ?x (.* ?u ?v))"      => "(+ (vjp (.* ?b ?v) ?x ?u) (vjp (.* ?b ?u) ?x ?v))" if chain(&["?u", "?v"])),
        rule!("d-transpose";    "(vjp ?b ?x (T ?u))"          => "(vjp (T ?b) ?x ?u)" if chain(&["?u"])),
        rule!("d-sumall-had";   "(vjp ?b ?x (sumall (.* ?u ?v)))" => "(+ (vjp (* ?b ?v) ?x ?u) (vjp (* ?b ?u) ?x ?v))" if chain(&["?u", "?v"])),
    ];
    // The chain rule through each elementwise function of the table.
    rules.extend(Act::all().map(|a| {
        let f = a.name();
        guarded(&format!("d-chain-{f}"), &format!("(vjp ?b ?x ({f} ?u))"), &format!("(vjp (.* ?b ({f}' ?u)) ?x ?u)"), vec![Box::new(chain(&["?u"]))])
    }));
    rules.extend([
        rule!("d-chain-fn";     "(vjp ?b ?x (call ?f ?u))"    => "(vjp (* ?b (grad ?f ?u)) ?x ?u)" if chain(&["?u"]) if super::fn_scalar("?f")),
        rule!("d-chain-vec-fn"; "(vjp ?b ?x (call ?f ?u))"    => "(vjp (* (T (jacf ?f ?u)) ?b) ?x ?u)" if chain(&["?u"]) if super::fn_vector("?f")),
        rule!("d-chain-grad";   "(vjp ?b ?x (grad ?f ?u))"    => "(vjp (* (hess ?f ?u) ?b) ?x ?u)" if chain(&["?u"])),
        rule!("d-det";          "(vjp ?b ?x (det ?m))"        => "(vjp (* (* ?b (det ?m)) (T (inv ?m))) ?x ?m)" if chain(&["?m"])),
        rule!("d-inv";          "(vjp ?b ?x (inv ?m))"        => "(vjp (neg (* (* (T (inv ?m)) ?b) (T (inv ?m)))) ?x ?m)" if chain(&["?m"])),
        // A sum over an index that neither the seed nor the leaf mentions
        // is linear: the derivative of each term, summed.
        rule!("d-sum";          "(vjp ?b ?x (sum ?i ?e))"     => "(sum ?i (vjp ?b ?x ?e))" if chain(&["?e"]) if free_of_bound(&["?b", "?x"])),
    ]);
    rules.push(built_if("d-add", "(vjp ?b ?x (+ ?u ?v))", chain(&["?u", "?v"]), |eg, s| sum_rule(eg, s, false)));
    rules.push(built_if("d-sub", "(vjp ?b ?x (- ?u ?v))", chain(&["?u", "?v"]), |eg, s| sum_rule(eg, s, true)));
    rules.push(built_if("d-mul", "(vjp ?b ?x (* ?u ?v))", chain(&["?u", "?v"]), product_rule));
    rules.push(built_if("d-div", "(vjp ?b ?x (/ ?u ?s))", chain(&["?u", "?s"]), quotient_rule));
    rules.push(built_if("d-pow", "(vjp ?b ?x (^ ?u ?n))", chain(&["?u", "?n"]), power_rule));
    rules.push(built_if("d-trace", "(vjp ?b ?x (tr ?m))", chain(&["?m"]), trace_rule));
    rules.push(built_if("d-sumall", "(vjp ?b ?x (sumall ?u))", chain(&["?u"]), sumall_rule));
    rules.push(built_if("d-softmax", "(vjp ?b ?x (softmax ?u))", chain(&["?u"]), softmax_rule));
    let through_block = chain(&["?m"]);
    rules.push(built_if("d-block", "(vjp ?b ?x ?m)", move |eg, id, s| block_cells(eg, s[var("?m")]).is_some() && through_block(eg, id, s), block_rule));
    rules
}
