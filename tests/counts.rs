//! Brute force for `count params` and `count macs`: on concrete instances,
//! parameters are counted entry by entry from the random matrices the
//! numeric evaluator draws, and the arithmetic of each equation by an
//! instrumented walk over its concrete values (no polynomials, no symbolic
//! shapes), then compared with the derived polynomials at those dims.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use deriv::derive::count;
use deriv::diag::Source;
use deriv::eval::{Forward, Instance};
use deriv::ir::{Ix, Leaf, Node};
use deriv::key::{Lhs, Rhs};
use deriv::model::{Model, VarKind};
use egg::{Id, RecExpr};
use std::collections::{BTreeMap, BTreeSet};

/// What the instrumented walk counts, in plain integers.
#[derive(Debug, Default, Clone, PartialEq)]
struct Tally {
    macs: i64,
    adds: i64,
    muls: i64,
    funcs: BTreeMap<String, i64>,
    uncosted: BTreeSet<String>,
}

impl Tally {
    fn absorb(&mut self, o: &Tally) {
        self.macs += o.macs;
        self.adds += o.adds;
        self.muls += o.muls;
        for (k, v) in &o.funcs {
            *self.funcs.entry(k.clone()).or_default() += v;
        }
        self.uncosted.extend(o.uncosted.iter().cloned());
    }
}

struct Walk<'a> {
    expr: &'a RecExpr<Node>,
    fwd: &'a Forward<'a>,
    inst: &'a Instance<'a>,
    model: &'a Model,
}

impl Walk<'_> {
    /// Whether the sub-expression is made of numbers and dims only.
    fn constant(&self, id: Id) -> bool {
        match &self.expr[id] {
            Node::Num(_) | Node::Leaf(Leaf::Dim(_)) => true,
            Node::Leaf(_) => false,
            n @ (Node::Add(_)
            | Node::Sub(_)
            | Node::Mul(_)
            | Node::Neg(_)
            | Node::Div(_)
            | Node::Pow(_)) => egg::Language::children(n).iter().all(|&c| self.constant(c)),
            _ => false,
        }
    }

    fn number(&self, id: Id) -> i64 {
        let v = self
            .fwd
            .eval(&sub(self.expr, id), &[])
            .unwrap()
            .as_scalar()
            .unwrap();
        v.round() as i64
    }

    /// (rows, cols) of the value at `id`, and what computing it costs.
    fn go(&self, id: Id, b: &mut Vec<Option<i64>>) -> ((i64, i64), Tally) {
        let mut t = Tally::default();
        let node = self.expr[id].clone();
        if self.constant(id) {
            return ((1, 1), t);
        }
        let mut kids = Vec::new();
        if !matches!(node, Node::Sum(_) | Node::Eye(_) | Node::Block(_)) {
            for &c in egg::Language::children(&node) {
                let (s, k) = self.go(c, b);
                t.absorb(&k);
                kids.push(s);
            }
        }
        let n = |s: (i64, i64)| s.0 * s.1;
        let scalar = |s: (i64, i64)| s == (1, 1);
        let shape = match &node {
            Node::Num(_) => (1, 1),
            Node::Leaf(Leaf::Param(p)) => {
                let m = self.inst.param(*p).unwrap();
                (m.rows() as i64, m.cols() as i64)
            }
            Node::Leaf(Leaf::Var(r)) => {
                let m = self.fwd.reference(r, b).unwrap();
                (m.rows() as i64, m.cols() as i64)
            }
            Node::Leaf(_) => (1, 1),
            Node::Add(_) | Node::Sub(_) => {
                let s = if scalar(kids[0]) { kids[1] } else { kids[0] };
                t.adds += n(s);
                s
            }
            Node::Had(_) => {
                t.muls += n(kids[0]);
                kids[0]
            }
            Node::Neg(_) | Node::Div(_) => {
                t.muls += n(kids[0]);
                kids[0]
            }
            Node::Mul(_) => {
                let (a, c) = (kids[0], kids[1]);
                if scalar(a) || scalar(c) {
                    let s = if scalar(a) { c } else { a };
                    t.muls += n(s);
                    s
                } else {
                    assert_eq!(a.1, c.0);
                    t.macs += a.0 * a.1 * c.1;
                    (a.0, c.1)
                }
            }
            Node::Pow(_) => {
                *t.funcs.entry("^".into()).or_default() += n(kids[0]);
                kids[0]
            }
            Node::Trans(_) => (kids[0].1, kids[0].0),
            Node::Sum([ix, body]) => {
                let Node::Leaf(Leaf::Index(i)) = self.expr[*ix] else {
                    panic!()
                };
                let (lo, hi) = self.inst.range(i);
                let saved = b[i as usize];
                let mut shape = (1, 1);
                for v in lo..=hi {
                    b[i as usize] = Some(v);
                    let (s, k) = self.go(*body, b);
                    t.absorb(&k);
                    shape = s;
                }
                b[i as usize] = saved;
                t.adds += (hi - lo) * n(shape);
                shape
            }
            Node::SumAll(_) => {
                t.adds += n(kids[0]) - 1;
                (1, 1)
            }
            Node::Trace(_) => {
                t.adds += kids[0].0 - 1;
                (1, 1)
            }
            Node::Det(_) => {
                t.uncosted.insert("det".into());
                (1, 1)
            }
            Node::Inv(_) => {
                t.uncosted.insert("inv".into());
                kids[0]
            }
            Node::Call([f, _]) | Node::Grad([f, _]) | Node::Hess([f, _]) => {
                let Node::Leaf(Leaf::Fn(k)) = self.expr[*f] else {
                    panic!()
                };
                let name = &self.model.fns[k as usize].name;
                let arg = kids[1];
                match &node {
                    Node::Call(_) => {
                        t.uncosted.insert(format!("call {name}"));
                        (1, 1)
                    }
                    Node::Grad(_) => {
                        t.uncosted.insert(format!("grad {name}"));
                        arg
                    }
                    _ => {
                        t.uncosted.insert(format!("hess {name}"));
                        (arg.0, arg.0)
                    }
                }
            }
            Node::Eye(k) => {
                let m = self.number(*k);
                (m, m)
            }
            Node::Diag(_) => (kids[0].0, kids[0].0),
            Node::Block(rows) => {
                let (s, k) = self.block(rows, b);
                t.absorb(&k);
                s
            }
            other => {
                let (act, prime, _) = other.as_act().expect("an elementwise function");
                let name = format!("{}{}", act.name(), if prime { "'" } else { "" });
                *t.funcs.entry(name).or_default() += n(kids[0]);
                kids[0]
            }
        };
        (shape, t)
    }

    fn block(&self, rows: &[Id], b: &mut Vec<Option<i64>>) -> ((i64, i64), Tally) {
        let mut t = Tally::default();
        let mut heights = 0;
        let mut widths: BTreeMap<usize, i64> = BTreeMap::new();
        for r in rows {
            let Node::Row(cells) = self.expr[*r].clone() else {
                panic!()
            };
            let mut h = None;
            for (c, cell) in cells.iter().enumerate() {
                let zero = matches!(&self.expr[*cell], Node::Num(z) if z.is_zero());
                widths.entry(c).or_insert(1);
                if zero {
                    continue;
                }
                let (s, k) = self.go(*cell, b);
                t.absorb(&k);
                h.get_or_insert(s.0);
                widths.insert(c, s.1);
            }
            heights += h.unwrap_or(1);
        }
        ((heights, widths.values().sum()), t)
    }
}

/// The sub-expression of `e` at `id` on its own.
fn sub(e: &RecExpr<Node>, id: Id) -> RecExpr<Node> {
    let mut b = deriv::ir::build::ExprBuilder::new();
    let root = b.copy(e, id);
    b.finish(root)
}

fn run(name: &str, text: &str) -> deriv::Run {
    let source = Source::new(name, text);
    match deriv::run(&source, &deriv::Options::default()) {
        Ok(r) => r,
        Err(d) => panic!("{name} was rejected:\n{}", d.render(&source)),
    }
}

/// Dim values to try: every dim at least 2 (so a 1 x 1 value is a true
/// scalar), and different dims different, in several arrangements.
fn dim_sets(n: usize) -> Vec<Vec<i64>> {
    (0..4)
        .map(|k| (0..n).map(|i| 2 + ((i * 3 + k * 2) % 5) as i64).collect())
        .collect()
}

fn eval(p: &deriv::poly::Poly, dims: &[i64]) -> i64 {
    let r = p.eval_exact(&|d| dims[d as usize]).unwrap();
    assert!(r.is_integer(), "{r:?} is not an integer");
    r.to_i64().unwrap()
}

/// The parameters a model uses, by a walk of its own.
fn used(model: &Model) -> BTreeSet<u32> {
    let mut exprs: Vec<&RecExpr<Node>> = model.equations.iter().map(|e| &e.rhs).collect();
    exprs.extend(model.inits.iter().map(|i| &i.value));
    exprs.extend(model.loss.iter().map(|l| &l.value));
    exprs
        .iter()
        .flat_map(|e| e.as_ref().iter())
        .filter_map(|n| match n {
            Node::Leaf(Leaf::Param(p)) => Some(*p),
            _ => None,
        })
        .collect()
}

/// Checks every count of a script against brute force.
fn check(name: &str, text: &str) {
    // Ask for every count the script can have.
    let probe = run(name, text);
    let mut asks = String::from("\ncount params\n");
    for v in &probe.key.model.vars {
        if v.kind != VarKind::Input {
            let r = probe.key.model.plain_ref(
                probe
                    .key
                    .model
                    .vars
                    .iter()
                    .position(|w| w.name == v.name)
                    .unwrap() as u32,
            );
            asks.push_str(&format!(
                "count macs {}\n",
                probe.key.model.symbols.ref_text(&r)
            ));
        }
    }
    let full = format!("{text}{asks}");
    let ran = run(name, &full);
    let model = &ran.key.model;
    let answered = |lhs: &dyn Fn(&Lhs) -> bool| {
        ran.key
            .answers
            .iter()
            .flat_map(|a| a.equations.iter())
            .find(|d| lhs(&d.lhs))
            .map(|d| match &d.rhs {
                Rhs::Poly(p) => p.clone(),
                Rhs::Expr(_) | Rhs::Terms(_) => panic!("a count that is not a polynomial"),
            })
    };
    let params = answered(&|l| matches!(l, Lhs::Params)).expect("params answered");
    for dims in dim_sets(model.dims.len()) {
        let inst = Instance::new(model, dims.clone(), 7).unwrap();
        let fwd = Forward::new(&inst, None);
        let truth: i64 = used(model)
            .iter()
            .map(|&p| inst.param(p).unwrap().len() as i64)
            .sum();
        assert_eq!(eval(&params, &dims), truth, "{name}: params at {dims:?}");
        for eq in &model.equations {
            let v = eq.var;
            let mut b: Vec<Option<i64>> = vec![None; model.indices.len()];
            for ix in eq.lhs.at.iter() {
                if let Ix::Rel(i, _) = *ix {
                    b[i as usize] = Some(inst.range(i).0 + 2);
                }
            }
            let walk = Walk {
                expr: &eq.rhs,
                fwd: &fwd,
                inst: &inst,
                model,
            };
            let (_, t) = walk.go(deriv::ir::root(&eq.rhs), &mut b);
            let what = model.symbols.ref_text(&model.plain_ref(v));
            let macs =
                answered(&|l| matches!(l, Lhs::Macs(r) if r.var == v)).expect("macs answered");
            assert_eq!(
                eval(&macs, &dims),
                t.macs,
                "{name}: macs({what}) at {dims:?}"
            );
            let c = count::macs(model, v).unwrap();
            assert_eq!(
                eval(&c.adds, &dims),
                t.adds,
                "{name}: additions of {what} at {dims:?}"
            );
            assert_eq!(
                eval(&c.muls, &dims),
                t.muls,
                "{name}: multiplications of {what} at {dims:?}"
            );
            let funcs: BTreeMap<String, i64> = c
                .funcs
                .iter()
                .map(|(f, n)| (f.name(), eval(n, &dims)))
                .filter(|(_, n)| *n != 0)
                .collect();
            assert_eq!(funcs, t.funcs, "{name}: functions of {what} at {dims:?}");
            // The same operations are named as not counted.
            let named: BTreeSet<String> = c
                .uncosted
                .iter()
                .map(|u| u.replace("calls of ", "call "))
                .collect();
            assert_eq!(named, t.uncosted, "{name}: uncosted parts of {what}");
        }
    }
}

#[test]
fn example_scripts() {
    for path in [
        "derivations/grid_rnn.deriv",
        "derivations/lstm.deriv",
        "derivations/momentum.deriv",
    ] {
        check(path, &std::fs::read_to_string(path).unwrap());
    }
}

#[test]
fn cells() {
    let paths = common::scripts("tests/cells");
    for p in paths {
        check(
            &p.display().to_string(),
            &std::fs::read_to_string(&p).unwrap(),
        );
    }
}

/// Every kind of product, transposes, a block matrix, an identity, sums
/// over a range and over entries, a trace, scaling by a dim, and
/// constants folded before they are used.
#[test]
fn products_and_reductions() {
    check(
        "products",
        "dim D, H, K, S\n\
         index t in 1..S\n\
         index s in 1..S\n\
         input x[t] : D\n\
         input e[t] : H\n\
         input m[s] : H\n\
         param A : H x D\n\
         param B : D x K\n\
         param C : K x H\n\
         param u, h0 : H\n\
         param a : scalar\n\
         param unused : H x H\n\
         fn f : H -> scalar\n\
         init h[0] = h0\n\
         p[t] = (A * B) * (C * e[t])\n\
         q[t] = A * (B * (C * e[t]))\n\
         r[t] = (u^T * e[t]) * u + u * (e[t]^T * u) - e[t] / (1 + 1)\n\
         o[t] = u * u^T * e[t] + (2 * 3) * a * e[t]\n\
         c[t] = sum(s, (m[s]^T * e[t]) * m[s])\n\
         z[t] = tr(A * A^T) * sum(x[t]) * u + I(H) * e[t] + [A, I(H)] * [x[t]; e[t]] - D * u\n\
         bl[t] = [A, I(H); B^T, 0] * [x[t]; e[t]] + [0, I(H); C * A, C] * [x[t]; e[t]]\n\
         w[t] = (a * A)^T * u + exp(x[t]) .* x[t] ^ 2\n\
         n[t] = -(A * x[t]) + -a * e[t]\n\
         g[t] = f(e[t]) * (det(A * A^T) * A * inv(A^T * A) * A^T * u) + grad f(e[t]) + hess f(u) * e[t]\n\
         h[t] = tanh(p[t] + q[t] + r[t] + o[t] + c[t] + z[t] + g[t] + sigma'(u) .* tanh'(h[t-1]))\n",
    );
}

/// Shapes tracked through a chain of matrix products, the MAC formula's
/// three sizes kept apart (an m x k times k x n product costs m*k*n).
#[test]
fn matrix_products_keep_their_sizes_apart() {
    let text = "dim M, K, N\nparam A : M x K\nparam B : K x N\ninput v : N\ny = A * B * v\n";
    check("chain", text);
    let ran = run("chain", &format!("{text}count macs y\n"));
    let Some(Rhs::Poly(p)) = ran.key.answers.first().map(|a| a.equations[0].rhs.clone()) else {
        panic!()
    };
    // (A * B) * v: M*K*N for the product, then M*N.
    assert_eq!(eval(&p, &[2, 3, 5]), 2 * 3 * 5 + 2 * 5);
}

/// A sum over a range that is empty for some dims has no single count (its
/// additions would go negative at S = 1): refused. One that never is empty
/// is counted, and checked by brute force.
#[test]
fn sums_need_ranges_that_are_never_empty() {
    let body = "input m[s] : H\ninput e : H\nc = sum(s, (m[s]^T * e) * m[s])\n";
    let empty = format!("dim H, S\nindex s in 1..S-1\n{body}count macs c\n");
    let ran = run("maybe empty", &empty);
    assert!(
        ran.key
            .answers
            .iter()
            .all(|a| a.equations.is_empty() && a.refused.is_some()),
        "{:?}",
        ran.key.answers
    );
    let d =
        deriv::diag::Diagnostics(ran.problems).render(&Source::new("maybe empty", empty.as_str()));
    assert!(d.contains("to have a value for every size"), "{d}");
    check(
        "never empty",
        &format!("dim H, S\nindex s in 0..S-1\n{body}"),
    );
}

/// The elementwise work note counts in words: one addition, several
/// multiplications.
#[test]
fn elementwise_work_reads_as_english() {
    let r = run(
        "words.deriv",
        "dim D\nparam v : D\ninput x : D\ny = prod(exp(v)) + prod(x)\nloss L = y\ncount macs y\n",
    );
    let text = deriv::print::render(
        &r.key,
        deriv::print::Format::Text,
        &deriv::print::PrintOptions::default(),
    );
    assert!(
        text.contains("1 addition, (2*D - 2) multiplications, exp on D entries"),
        "{text}"
    );
}
