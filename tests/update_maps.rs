//! Update maps: every inverse reproduces the previous state from a forward
//! step, every Jacobian matches finite differences of the step, and every
//! determinant matches the numeric determinant for two sizes of the dims.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use deriv::diag::Source;
use deriv::verify::{verify_update_maps, TOLERANCE};
use deriv::Options;

const SEEDS: &[u64] = &[1, 2, 3, 4];

fn run(path: &str) -> deriv::Run {
    let text = std::fs::read_to_string(path).unwrap();
    let source = Source::new(path, text);
    match deriv::run(&source, &Options::default()) {
        Ok(r) => r,
        Err(d) => panic!("{path} was rejected:\n{}", d.render(&source)),
    }
}

#[test]
fn update_maps_match_the_numbers() {
    let mut paths = common::scripts("tests/maps");
    paths.push("derivations/momentum.deriv".into());
    for path in paths {
        let path = path.display().to_string();
        let r = run(&path);
        let checks = verify_update_maps(&r.key, SEEDS);
        assert!(!checks.is_empty(), "{path}: nothing checked");
        for c in &checks {
            assert!(
                c.passed && c.error.is_some_and(|e| e < TOLERANCE),
                "{path}: {} (line {}) disagrees with the numbers: error {:?}, {}",
                c.what,
                c.line,
                c.error,
                c.how
            );
        }
    }
}

/// A determinant with the wrong exponent fails the check that varies the
/// dims: the harness can fail.
#[test]
fn a_wrong_exponent_is_caught() {
    use deriv::eval::Mat;
    use deriv::key::{Derived, Lhs, Rhs};
    use deriv::verify::{jacobian_fd, sized, value_at_start};
    let r = run("derivations/momentum.deriv");
    let m = &r.key.model;
    let (of, wrt) = m
        .requests
        .iter()
        .find_map(|q| match &q.kind {
            deriv::model::RequestKind::Jacobian { of, wrt, .. } => Some((of.clone(), wrt.clone())),
            _ => None,
        })
        .unwrap();
    let mut worst: f64 = 0.0;
    for (n, seed) in [(2, 5), (3, 6)] {
        let inst = sized(m, n, seed).unwrap();
        let claim = Source::new("<claim>", "beta^(D+1)");
        let (e, _) = deriv::check::expression(m, &claim, &[0]).unwrap();
        let d = Derived {
            lhs: Lhs::Matrix("J".into()),
            rhs: Rhs::Expr(e),
        };
        let got = value_at_start(m, &d, &inst).unwrap();
        let want = Mat::scalar(jacobian_fd(m, &of, &wrt, &inst).unwrap().det().unwrap());
        worst = worst.max(deriv::eval::rel_error(&got, &want));
    }
    assert!(worst > 1e-3, "beta^(D+1) passed as det(J)");
}
