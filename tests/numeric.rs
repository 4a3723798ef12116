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
