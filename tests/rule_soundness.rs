//! Every rewrite rule is sound, checked on what the rules actually do: the
//! raw (unsimplified) adjoints, gradients and equations of every script in
//! the repository, and expressions written to reach the rarer rules, are
//! run through each rule set; then, in every e-class of the final graph,
//! every e-node (with its children at their cheapest forms) must evaluate
//! to the same value on random instances. A rule that merged two different
//! values shows up as a class whose nodes disagree.
//!
//! The test also reports which rules never fired on the corpus, and fails
//! when a rule of the simplifying sets is left untested.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use deriv::derive::adjoint::Adjoints;
use deriv::diag::{Source, Span};
use deriv::egraph::{graph, ShapeTable};
use deriv::eval::{rel_error, Evaluator, Forward, Instance};
use deriv::ir::analysis::Graph;
use deriv::ir::{Leaf, Node, Target};
use deriv::model::Model;
use deriv::rules::{self, RuleSet};
use deriv::verify::RandomAdjoints;
use deriv::{Limits, Options};
use egg::{AstSize, Extractor, Language, RecExpr, Runner, SimpleScheduler};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

const TOLERANCE: f64 = 1e-7;

/// Scripts with expressions written to reach rules that the repository's
/// scripts do not. `p[t]` mixes shapes where they are easy to confuse: a
/// matrix and a scalar times one vector (`(A^T + s) * v` would be wrong),
/// a scalar broadcast against a vector that is zero (`A * (0 - s)` would
/// scale `A`).
const EXTRA: &str = "dim D, H
index t
input x[t] : H
param A, B : H x H
param v : H
param s, r : scalar
fn ell : H -> scalar
init h[0] = 0
h[t] = tanh(A * h[t-1] + x[t])
u[t] = log(1 + exp(h[t])) + (1 + exp(-(v .* h[t])))^(-1)
w[t] = exp(h[t]) .* (1 + exp(h[t]))^(-1) + (1 + exp(h[t]))^(-1) .* exp(h[t])
m[t] = (s * A)^T * h[t] + (-A)^T * h[t] + A * (B * h[t]) + (-1) * (A * h[t]) + (A * h[t]) * (-1)
n[t] = (A * h[t] + A * x[t]) + (B * h[t] + (-(B * x[t])))
q[t] = h[t] .* v - h[t] .* v + 0 * x[t] + sqrt(1 + h[t] .* h[t])
k[t] = (r * s)^T * v .* h[t] + s * (r * h[t]) - (-h[t]) + (h[t] - 0) + 1 * x[t] / 1
p[t] = A^T * h[t] + (x[t]^T * x[t]) * h[t] + A * ((h[t] - h[t]) - s) + ((v - v) - x[t]) + A * (1 - (v - v)) + (A + s) * h[t] + A * h[t]
g[t] = sum(-(v .* h[t])) * h[t] + sum(h[t] + v) * v + softmax(A * h[t]) .* (x[t] ./ softmax(A * h[t])) + h[t]^T * (x[t] ./ h[t]) * v + (sum(h[t] + s) + sum(s - h[t]) + sum(h[t] - s) + sum(s + h[t]) + sum(h[t] / s)) * v + sigma(-h[t]) + step(h[t]) .* step(h[t]) + diag(h[t]) * x[t] + (x[t] .* (1 + exp(A * h[t]))^(-1)) .* exp(A * h[t]) + A * diag(h[t]) * x[t]
e[t] = 1 / (1 + exp(-s)) * v + (exp(h[t]) - exp(-h[t])) ./ (exp(h[t]) + exp(-h[t])) + (exp(s) - exp(-s)) / (exp(s) + exp(-s)) * h[t] + 1 ./ (1 + exp(-h[t])) + exp(A * h[t]) / sum(exp(A * h[t]))
loss L = sum(t, ell(h[t]) + ell(u[t]) + ell(w[t]) + ell(m[t]) + ell(n[t]) + ell(q[t]) + ell(k[t]) + ell(p[t]) + ell(g[t]) + ell(e[t]))
derive adjoints
";

/// Matrix and scalar forms that the update-map rules work on (determinants
/// of products and block matrices, inverses, transposes), and the
/// derivative forms of the activations.
const EXTRA_MATRIX: &str = "dim H
param A, B, C : H x H
param s, r : scalar
param v : H
fn F : H -> scalar
a = det(A * B) + det(A^T) + det(inv(A)) + det(s * A) + det(I(H)) + det(r)
b = det([A, 0; B, C]) + det([A, B; 0, C]) + det([A, B; C, B]) + det([A, B; A, C]) + det([A, A; B, C]) + det([A, B; C, s * I(H)]) + det([s * I(H), B; C, A])
m = inv(inv(A)) + inv(-A) + inv(A^T) + inv(s * A) + inv(I(H)) + A * inv(A) + inv(B) * B + (A - B)^T + I(H)^T + hess F(v)^T + 0^T + [A]
q = inv(s) + s / s + s^(-1) * r + 0 / s + r^0 + 0 * s + ((r + s) - s) + det(I(1))
u = sigma'(v) + tanh'(v) + exp'(v) + log'(v .* v + 1) + sqrt'(v .* v + 1) + relu'(v) + step'(v) + softplus'(v) + silu'(v) + step(relu(v)) + elu'(v) + gelu'(v) + leaky_relu(v - 1) + relu(relu(v)) + step(2 * v) .* relu(2 * v) + exp(-softplus(v)) + exp(v - softplus(v))
w = s * A - s * B
o = s * v^0 + v + v^0 .* v + v .* v^0 + v .* (s * v^0) + (s * v^0 - v)
y = det([A, s * I(H); B, C]) + det([A, B; s * I(H), C]) + det(A * B + A - A * B) + det(B - (A + B)) + s^(H) * s^(-H) + (s^(-1))^(H) + (s * r)^(H)
z = det(diag(exp(A * v))) + prod(tanh(v) .* exp(v)) + det(I(H) + v * (s * v^T)) + det((B * v) * v^T + I(H)) + det([A, B, C; B, s * I(H), 0; C, 0, r * I(H)])
z2 = det([A, B, C; 0, s * I(H), 0; C, B, A]) + det([A, v, C; 0, s, 0; B, v, A]) + det([A, v; 0, s])
z3 = det([I(H) + s * A, r * (A - A * A); 2 * A / s, I(H) - A * A]) + det([I(H) - A, s * I(H); A, I(H) + A])
g = diag(v) * diag(exp(v)) + A * diag(v) * diag(tanh(v)) + inv(diag(exp(v))) + diag(exp(v)^(-1))
x = (-1)^(2 * H) * det(-A) + det(A / s) + (r^H)^2 * s * r^(-2) + r^(-2) / s + s * (1 / r) + (s^2)^H
o2 = v - s * v^0
x2 = 1 / s * A + (r / (s + r) * s + r / s^2 * r + (1 / s) * r) * B
o3 = ((v^0)^T * diag(v) + (v^0)^T .* v^T + v^T .* (v^0)^T) * B * (A * (diag(v) * v^0) + (v^T * v^0 + sum(v^0)) * v)
";

/// The expressions to check for one script: every equation's right side,
/// and the raw adjoint of every defined variable and every parameter.
fn corpus(model: &Model) -> Vec<RecExpr<Node>> {
    let mut out: Vec<RecExpr<Node>> = model.equations.iter().map(|e| e.norm.clone()).collect();
    if model.loss.is_none() {
        return out;
    }
    let shapes = Rc::new(ShapeTable::new(model));
    let limits = Limits::default();
    let mut adj = Adjoints::new(model, shapes, &limits);
    let mut targets: Vec<Target> = model
        .equations
        .iter()
        .map(|e| Target::Var(model.plain_ref(e.var)))
        .collect();
    targets.extend((0..model.params.len() as u32).map(Target::Param));
    for t in targets {
        if let Ok(raw) = adj.raw(&t, Span::default()) {
            out.push(raw);
        }
    }
    out
}

/// Runs `rules` on `expr` and records which rules changed the graph.
fn saturate(
    model: &Model,
    expr: &RecExpr<Node>,
    rules: &RuleSet,
    fired: &mut BTreeSet<String>,
) -> Graph {
    let shapes = Rc::new(ShapeTable::new(model));
    let mut g = graph(&shapes);
    g.add_expr(expr);
    let runner = Runner::default()
        .with_egraph(g)
        .with_iter_limit(24)
        .with_node_limit(20_000)
        .with_scheduler(SimpleScheduler)
        .run(rules.iter().copied());
    for it in &runner.iterations {
        for (name, n) in &it.applied {
            if *n > 0 {
                fired.insert(name.to_string());
            }
        }
    }
    runner.egraph
}

/// Checks that every node of every class evaluates alike; returns how many
/// classes had two or more nodes that could be evaluated.
fn check_classes(what: &str, model: &Model, g: &Graph) -> usize {
    let ex = Extractor::new(g, AstSize);
    let mut compared = 0;
    // Dims of different sizes (2, 3, 4, ... and the reverse), so that a
    // rule that needs two dims equal, or a block square, fails somewhere.
    for (seed, reverse) in [(7, false), (8, true)] {
        let n = model.dims.len();
        let dims: Vec<i64> = (0..n)
            .map(|k| {
                2 + if reverse {
                    (n - 1 - k) as i64
                } else {
                    k as i64
                }
            })
            .collect();
        let Ok(inst) = Instance::new(model, dims, seed) else {
            continue;
        };
        let forward = Forward::new(&inst, None);
        let adjoints = RandomAdjoints::new(&inst, BTreeSet::new());
        let ev = Evaluator {
            forward: &forward,
            adjoints: &adjoints,
            assumed: &[],
        };
        let binding: Vec<Option<i64>> = (0..model.indices.len() as u32)
            .map(|i| {
                let (lo, hi) = inst.range(i);
                Some((lo + 1).min(hi))
            })
            .collect();
        for class in g.classes() {
            let mut first: Option<(String, deriv::eval::Mat)> = None;
            let mut evaluated = 0;
            // A node that cannot be evaluated where another of its class
            // can is a value of another shape (`det` of a block that is not
            // square), unless it is an unresolved derivative or a singular
            // inverse.
            let mut broken: Option<(String, String)> = None;
            for node in &class.nodes {
                let expr = node.build_recexpr(|id| ex.find_best_node(id).clone());
                let value = match ev.eval(&expr, &binding) {
                    Ok(v) => v,
                    Err(e) => {
                        let benign = ["unresolved derivative", "singular"]
                            .iter()
                            .any(|w| e.0.contains(w));
                        if !benign && broken.is_none() {
                            broken = Some((format!("{expr}"), e.0));
                        }
                        continue;
                    }
                };
                if !value.is_finite() {
                    continue;
                }
                evaluated += 1;
                let text = format!("{expr}");
                match &first {
                    None => first = Some((text, value)),
                    Some((t0, v0)) => {
                        let e = rel_error(v0, &value);
                        assert!(
                            e < TOLERANCE,
                            "{what}: a class holds two different values (relative difference {e:.2e}, seed {seed}):\n  {t0}\n  {text}"
                        );
                    }
                }
            }
            if let (Some((t0, _)), Some((bad, why))) = (&first, &broken) {
                panic!("{what}: a class holds a value and a form of another shape (seed {seed}):\n  {t0}\n  {bad}: {why}");
            }
            if evaluated > 1 {
                compared += 1;
            }
        }
    }
    compared
}

/// Forms that derivations build but a script cannot write (a Hadamard
/// product with a constant, `diag`, `sum` of a vector's entries, products
/// and transposes of a literal zero), over the matrix corpus's names:
/// parameters `A` (0), `s` (3), `v` (5).
fn internal_forms() -> Vec<RecExpr<Node>> {
    use deriv::num::Rational;
    let mut out = Vec::new();
    let leaf = |e: &mut RecExpr<Node>, p: u32| e.add(Node::Leaf(Leaf::Param(p)));
    let num = |e: &mut RecExpr<Node>, n: i64| e.add(Node::Num(Rational::int(n)));
    // v .* 1 + 1 .* v + v .* 0 + 0 .* v + 2 .* v + v .* 2 + 0 * v + v * 0
    let mut e = RecExpr::default();
    let v = leaf(&mut e, 5);
    let mut terms = Vec::new();
    for n in [0, 1, 2] {
        let c = num(&mut e, n);
        terms.push(e.add(Node::Had([v, c])));
        terms.push(e.add(Node::Had([c, v])));
    }
    let zero = num(&mut e, 0);
    terms.push(e.add(Node::Mul([zero, v])));
    terms.push(e.add(Node::Mul([v, zero])));
    let mut acc = terms[0];
    for &t in &terms[1..] {
        acc = e.add(Node::Add([acc, t]));
    }
    out.push(e);
    // diag(v)^T * A + diag(0) + 0^T + s * A - s * (A * A) + diag(s) * A
    let mut e = RecExpr::default();
    let a = leaf(&mut e, 0);
    let v = leaf(&mut e, 5);
    let s = leaf(&mut e, 3);
    let dv = e.add(Node::Diag(v));
    let dvt = e.add(Node::Trans(dv));
    let m = e.add(Node::Mul([dvt, a]));
    let zero = num(&mut e, 0);
    let d0 = e.add(Node::Diag(zero));
    let z = e.add(Node::Trans(zero));
    let sa = e.add(Node::Mul([s, a]));
    let aa = e.add(Node::Mul([a, a]));
    let saa = e.add(Node::Mul([s, aa]));
    let diff = e.add(Node::Sub([sa, saa]));
    let x = e.add(Node::Add([m, d0]));
    let x = e.add(Node::Add([x, z]));
    let x = e.add(Node::Add([x, diff]));
    // + diag(s) * A: the diagonal matrix of a scalar is the scalar.
    let ds = e.add(Node::Diag(s));
    let dsa = e.add(Node::Mul([ds, a]));
    e.add(Node::Add([x, dsa]));
    out.push(e);
    // sum(v) + sum(s) + sum(0)
    let mut e = RecExpr::default();
    let v = leaf(&mut e, 5);
    let s = leaf(&mut e, 3);
    let zero = num(&mut e, 0);
    let sv = e.add(Node::SumAll(v));
    let ss = e.add(Node::SumAll(s));
    let s0 = e.add(Node::SumAll(zero));
    let x = e.add(Node::Add([sv, ss]));
    e.add(Node::Add([x, s0]));
    out.push(e);
    out
}

/// Rules that the corpus reaches but that never change the graph on it,
/// because something else has already put their result in the class; each
/// with what does the work. A rule listed here is still checked whenever
/// it does fire.
const ALREADY_DONE: &[(&str, &str)] = &[
    ("alg-mul-zero-l", "the constant analysis folds a product with 0"),
    ("alg-mul-zero-r", "the constant analysis folds a product with 0"),
    ("alg-had-zero-l", "the constant analysis folds a product with 0"),
    ("alg-had-zero-r", "the constant analysis folds a product with 0"),
    ("alg-trans-zero", "the constant analysis folds the transpose of 0"),
    ("alg-sumall-zero", "the constant analysis folds the sum of 0"),
    ("alg-div-zero", "the constant analysis folds a quotient of 0"),
    ("alg-had-const-l", "a non-scalar constant only comes from an assumption; `deriv verify` checks assumed adjoints (gru, lstm)"),
    ("alg-had-const-r", "a non-scalar constant only comes from an assumption; `deriv verify` checks assumed adjoints (gru, lstm)"),
    ("mat-factor-scalar-sub", "alg-factor-mul-sub-l and mat-factor-sub-l factor the same scalar first"),
];

/// Block matrices whose blocks are not square (two dims of different
/// sizes): the determinant rules must hold where blocks are square and
/// leave the others alone.
const EXTRA_UNEQUAL: &str = "dim D, E
param A : D x E
param B : E x D
param C : D x D
param F : E x E
param G : E x D
param s : scalar
a = det([A, C; 0, B]) + det([C, A; B, F]) + det([s * I(D), A; B, F]) + det([C, A; B, s * I(E)]) + det([C, A; G, F])
b = det([A, C; F, G]) + det([A, C; 0 * F, G]) + det([C, 0 * A; G, F])
";

fn models() -> Vec<(String, Model)> {
    let mut out = Vec::new();
    let paths: Vec<_> = ["derivations", "tests/cells", "tests/maps"]
        .into_iter()
        .flat_map(common::scripts)
        .collect();
    let mut texts: Vec<(String, String)> = paths
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect();
    texts.push(("<rule corpus>".to_owned(), EXTRA.to_owned()));
    texts.push(("<matrix rule corpus>".to_owned(), EXTRA_MATRIX.to_owned()));
    texts.push(("<unequal dims corpus>".to_owned(), EXTRA_UNEQUAL.to_owned()));
    for (name, text) in texts {
        let source = Source::new(name.clone(), text);
        let run = deriv::run(&source, &Options::default())
            .unwrap_or_else(|d| panic!("{name}:\n{}", d.render(&source)));
        out.push((name, run.key.model));
    }
    out
}

#[test]
fn every_class_holds_one_value() {
    let sets: [(&str, &RuleSet); 3] = [
        ("simplify", rules::simplify()),
        ("linear_algebra", rules::linear_algebra()),
        ("prove", rules::prove()),
    ];
    let mut fired = BTreeSet::new();
    let mut compared = 0;
    for (name, model) in models() {
        let mut exprs = corpus(&model);
        if name == "<matrix rule corpus>" {
            exprs.extend(internal_forms());
        }
        for (k, expr) in exprs.iter().enumerate() {
            for (set, rules) in sets {
                let g = saturate(&model, expr, rules, &mut fired);
                compared += check_classes(&format!("{name}, expression {k}, {set}"), &model, &g);
            }
        }
    }
    assert!(compared > 500, "only {compared} classes were compared");
    // Every rule of the simplifying sets fired somewhere, so the check
    // above covered it.
    let all: BTreeMap<String, ()> = sets
        .iter()
        .flat_map(|(_, r)| r.iter().map(|rw| (rw.name.to_string(), ())))
        .collect();
    let unfired: Vec<&String> = all
        .keys()
        .filter(|n| !fired.contains(*n) && !ALREADY_DONE.iter().any(|(r, _)| r == n))
        .collect();
    assert!(
        unfired.is_empty(),
        "rules never exercised by the corpus (add an expression that reaches them):\n{unfired:#?}"
    );
}
