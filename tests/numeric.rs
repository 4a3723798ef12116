//! Numeric truth: every adjoint and gradient deriv derives matches finite
//! differences of the loss on random instances (several seeds, dims varied),
//! for the example scripts and for cells written here.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use deriv::diag::Source;
use deriv::verify::{verify_adjoints, TOLERANCE};
use deriv::Options;

const SEEDS: &[u64] = &[1, 2, 3];

fn check(name: &str, text: &str) {
    let source = Source::new(name, text);
    let run = match deriv::run(&source, &Options::default()) {
        Ok(r) => r,
        Err(d) => panic!("{name} was rejected:\n{}", d.render(&source)),
    };
    let checks = verify_adjoints(&run.key, SEEDS);
    assert!(!checks.is_empty(), "{name}: nothing was checked");
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| {
            format!(
                "{} (line {}): error {:?}, {}",
                c.what, c.line, c.error, c.how
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{name}: derived results disagree with the numbers:\n{}",
        failed.join("\n")
    );
    for c in &checks {
        assert!(c.error.is_some_and(|e| e < TOLERANCE));
    }
}

fn script(path: &str) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn lstm_adjoints_match_finite_differences() {
    check("derivations/lstm.deriv", &script("derivations/lstm.deriv"));
}

#[test]
fn cells() {
    let paths = common::scripts("tests/cells");
    assert!(paths.len() >= 4);
    for p in paths {
        check(
            &p.display().to_string(),
            &std::fs::read_to_string(&p).unwrap(),
        );
    }
}

/// The harness is not a rubber stamp: answers that are wrong in the ways
/// students are wrong fail it by a wide margin.
#[test]
fn wrong_adjoints_are_caught() {
    use deriv::eval::Instance;
    use deriv::ir::{Leaf, Target};
    use deriv::key::{Derived, Lhs, Rhs};
    use deriv::verify::adjoint_error;
    let text = script("derivations/lstm.deriv");
    let source = Source::new("lstm.deriv", text.as_str());
    let run = deriv::run(&source, &Options::default()).unwrap();
    let m = &run.key.model;
    let var = |n: &str| m.vars.iter().position(|v| v.name == n).unwrap() as u32;
    for (target, wrong) in [
        ("p", "bar(c[t]) .* c[t]"),
        ("c", "bar(h[t]) .* o[t] .* tanh'(c[t])"),
        ("c", "bar(h[t]) .* o[t] .* sigma'(c[t]) + bar(c[t+1]) .* p[t+1]"),
        ("h", "grad ell(h[t]) + W_ih * (bar(i[t+1]) .* i[t+1] .* (1 - i[t+1])) + W_ph^T * (bar(p[t+1]) .* p[t+1] .* (1 - p[t+1])) + W_oh^T * (bar(o[t+1]) .* o[t+1] .* (1 - o[t+1])) + W_gh^T * (bar(g[t+1]) .* (1 - g[t+1]^2))"),
    ] {
        let claim = Source::new("<claim>", wrong);
        let (rhs, _) = deriv::check::expression(m, &claim, &[0]).unwrap();
        let lhs = deriv::derive::adjoint::leaf_expr(Leaf::Bar(Target::Var(m.plain_ref(var(target)))));
        let d = Derived { lhs: Lhs::Expr(lhs), rhs: Rhs::Expr(rhs) };
        let inst = Instance::seeded(m, 11).unwrap();
        let err = adjoint_error(m, &d, &inst).unwrap_or(f64::INFINITY);
        assert!(err > 1e-3, "bar({target}[t]) = {wrong} passed with error {err}");
    }
}

/// The reverse-mode truth (a tape over the evaluator) gives the adjoints
/// that finite differences give, for every value of every variable and
/// every parameter of every script with a loss.
#[test]
fn tape_adjoints_match_finite_differences() {
    use deriv::eval::{rel_error, Adjoints, FdAdjoints, Instance, TapeAdjoints};
    use deriv::ir::Target;
    use std::collections::BTreeSet;
    let (mut compared, mut crossed) = (0, 0);
    for dir in ["derivations", "tests/cells", "tests/repro"] {
        for path in common::scripts(dir) {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let source = Source::new(name.clone(), text);
            let Ok(run) = deriv::run(&source, &Options::default()) else {
                continue;
            };
            let m = &run.key.model;
            if m.loss.is_none() {
                continue;
            }
            for seed in [3, 4] {
                let inst = Instance::seeded(m, seed).unwrap();
                let tape = TapeAdjoints::new(&inst, BTreeSet::new())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let fd = FdAdjoints::new(&inst, BTreeSet::new());
                let mut targets: Vec<(Target, Vec<i64>)> = (0..m.params.len() as u32)
                    .map(|p| (Target::Param(p), Vec::new()))
                    .collect();
                for (v, d) in m.vars.iter().enumerate() {
                    if d.kind == deriv::model::VarKind::Input {
                        continue;
                    }
                    for at in inst.domain(v as u32) {
                        targets.push((Target::Var(m.plain_ref(v as u32)), at));
                    }
                }
                for (t, at) in targets {
                    let a = tape.adjoint(&t, &at).unwrap();
                    // A difference across a kink (relu's at 0) is no
                    // derivative: left out, and counted.
                    let b = match fd.adjoint(&t, &at) {
                        Err(e) if e.0 == deriv::eval::KINK_CROSSED => {
                            crossed += 1;
                            continue;
                        }
                        other => other.unwrap(),
                    };
                    // A value not defined at this instance (a root of a
                    // negative input) has no derivative to compare.
                    if !a.is_finite() && !b.is_finite() {
                        continue;
                    }
                    let e = rel_error(&a, &b);
                    assert!(
                        e < 1e-6,
                        "{name} (seed {seed}): {t:?} at {at:?}: tape {a:?} vs differences {b:?}"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 300, "{compared} adjoints compared");
    assert!(
        crossed * 20 < compared,
        "{crossed} of {compared} crossed a kink"
    );
}

/// Finite differences that cross a kink are recognised: across many
/// seeds of a ReLU layer, every adjoint is either left out as crossing a
/// kink or agrees with the tape; and a difference taken right at a kink
/// is left out.
#[test]
fn differences_across_a_kink_are_left_out() {
    use deriv::eval::{kinks, rel_error, Adjoints, FdAdjoints, Instance, TapeAdjoints};
    use deriv::ir::Target;
    use std::collections::BTreeSet;
    let text = "dim D, H\ninput x : D\nparam W : H x D\nparam c : H\nfn ell : H -> scalar\n\
                h = relu(W * x + c)\nloss L = ell(h)\n";
    let source = Source::new("relu.deriv", text);
    let run = deriv::run(&source, &Options::default()).unwrap();
    let m = &run.key.model;
    let mut agreed = 0;
    for seed in 0..60 {
        let inst = Instance::seeded(m, seed).unwrap();
        let tape = TapeAdjoints::new(&inst, BTreeSet::new()).unwrap();
        let fd = FdAdjoints::new(&inst, BTreeSet::new());
        for p in 0..m.params.len() as u32 {
            let t = Target::Param(p);
            match fd.adjoint(&t, &[]) {
                Err(e) => assert_eq!(e.0, deriv::eval::KINK_CROSSED),
                Ok(b) => {
                    let a = tape.adjoint(&t, &[]).unwrap();
                    assert!(rel_error(&a, &b) < 1e-6, "seed {seed}: {a:?} vs {b:?}");
                    agreed += 1;
                }
            }
        }
    }
    assert!(agreed > 100, "{agreed}");
    // Differences with steps large enough to cross every kink are left
    // out; the same steps through a smooth function are not.
    for (f, crosses) in [("relu", true), ("tanh", false)] {
        let text = format!(
            "dim D\ninput x : D\nparam c : scalar\nfn ell : D -> scalar\nh = {f}(x - c)\nloss L = ell(h)\n"
        );
        let source = Source::new("one.deriv", text);
        let m = deriv::run(&source, &Options::default()).unwrap().key.model;
        let inst = Instance::seeded(&m, 1).unwrap();
        let wide = |entry, delta: f64| deriv::eval::Perturb::Param {
            param: 0,
            entry,
            delta: delta * 1e4,
        };
        let got = deriv::eval::loss_gradient(&inst, &wide, (1, 1));
        assert_eq!(got.is_err(), crosses, "{f}: {got:?}");
        if crosses {
            assert_eq!(got.unwrap_err().0, deriv::eval::KINK_CROSSED);
        }
    }
    let (_, nothing) = kinks::sides(|| ());
    assert!(nothing.is_empty());
}

/// The same, for operations no script of the repository differentiates
/// through: block matrices, Hessians, determinants, inverses, traces,
/// `diag`, sums of entries and powers by a parameter.
#[test]
fn tape_covers_every_operation() {
    use deriv::eval::{rel_error, Adjoints, FdAdjoints, Instance, TapeAdjoints};
    use deriv::ir::Target;
    use std::collections::BTreeSet;
    let text = "dim D, E
index t
input x[t] : D
input u : E
param A, B : D x D
param C : E x D
param s : scalar
param v : D
fn F : D -> scalar
init h[0] = v
h[t] = tanh(inv(A + 3 * I(D)) * x[t] + tr(A^T * B) * h[t-1] / 4) + hess F(h[t-1]) * v
y[t] = [A, B] * [h[t]; v] + diag(h[t]) * x[t] + [C; B]^T * [u; h[t]]
z[t] = det(B + 3 * I(D)) * y[t] .* sigma'(y[t]) + (1 + exp(h[t])) .^ 0 * sum(y[t])
w = (s^2 + 1)^s * C^T * u
loss L = sum(t, F(z[t] + w) + grad F(h[t])^T * x[t] + sqrt(1 + z[t]^T * z[t]))
";
    let text = text.replace(" .^ 0", "");
    let source = Source::new("ops.deriv", text.clone());
    let script = deriv::syntax::parse(&text, &deriv::Limits::default()).unwrap();
    let m =
        deriv::check::check(&script, &source).unwrap_or_else(|d| panic!("{}", d.render(&source)));
    let mut compared = 0;
    for seed in [5, 6, 7] {
        let inst = Instance::seeded(&m, seed).unwrap();
        let tape = TapeAdjoints::new(&inst, BTreeSet::new()).unwrap();
        let fd = FdAdjoints::new(&inst, BTreeSet::new());
        let mut targets: Vec<(Target, Vec<i64>)> = (0..m.params.len() as u32)
            .map(|p| (Target::Param(p), Vec::new()))
            .collect();
        for (v, d) in m.vars.iter().enumerate() {
            if d.kind != deriv::model::VarKind::Input {
                for at in inst.domain(v as u32) {
                    targets.push((Target::Var(m.plain_ref(v as u32)), at));
                }
            }
        }
        for (t, at) in targets {
            let (a, b) = (tape.adjoint(&t, &at).unwrap(), fd.adjoint(&t, &at).unwrap());
            assert!(
                rel_error(&a, &b) < 1e-6,
                "seed {seed}: {t:?} at {at:?}: tape {a:?} vs differences {b:?}"
            );
            compared += 1;
        }
    }
    assert!(compared > 30);
}
