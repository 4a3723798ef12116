//! Update maps: every inverse reproduces the previous state from a forward
//! step, every Jacobian matches finite differences of the step, and every
//! determinant matches the numeric determinant for two sizes of the dims.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use deriv::diag::Source;
use deriv::ir::Node;
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
    use deriv::verify::{jacobian_fd, jacobian_points, sized, value_at};
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
        let b = &jacobian_points(m, &of, &inst)[0];
        let got = value_at(&d, &inst, b).unwrap();
        let want = Mat::scalar(jacobian_fd(&of, &wrt, &inst, b).unwrap().det().unwrap());
        worst = worst.max(deriv::eval::rel_error(&got, &want));
    }
    assert!(worst > 1e-3, "beta^(D+1) passed as det(J)");
}

/// Nesterov's inverse is partial: `theta[k]` explicitly, `p[k]` as the
/// solution of its update, named in a note; a claim about `p[k]` is not
/// answered, and the implicit equation is checked like the explicit one
/// (a wrong one fails the round trip).
#[test]
fn a_partial_inverse_gives_the_explicit_half_and_the_equation_for_the_rest() {
    use deriv::key::{Derived, Lhs, Note, Rhs};
    use deriv::model::RequestKind;
    use deriv::print::{lhs_plain, rhs_plain};
    use deriv::verify::inverse_error;
    let r = run("tests/maps/nesterov.deriv");
    let m = &r.key.model;
    let a = r
        .key
        .answers
        .iter()
        .find(|a| matches!(m.requests[a.request].kind, RequestKind::Inverse))
        .unwrap();
    assert!(a.refused.is_none());
    let lines: Vec<String> = a
        .equations
        .iter()
        .map(|d| {
            format!(
                "{} = {}",
                lhs_plain(&d.lhs, &m.symbols),
                rhs_plain(&d.rhs, &m.symbols)
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "theta[k] = theta[k+1] - p[k+1]",
            "p[k+1] = beta * p[k] - eps * grad F(theta[k+1] - p[k+1] + beta * p[k])"
        ]
    );
    assert!(a
        .notes
        .iter()
        .any(|n| matches!(n, Note::Implicit { unsolved, inside: Some(_) }
        if unsolved.len() == 1 && m.symbols.ref_text(&unsolved[0]) == "p[k]")));
    // The implicit equation with `beta` dropped fails the round trip.
    let eq = &a.equations[1];
    let Rhs::Expr(rhs) = &eq.rhs else { panic!() };
    let wrong_text = rhs_plain(&eq.rhs, &m.symbols).replace("beta * p[k] - eps", "p[k] - eps");
    assert_ne!(wrong_text, rhs_plain(&eq.rhs, &m.symbols));
    let k = m.indices.iter().position(|i| i.name == "k").unwrap() as u32;
    let (wrong, _) = deriv::check::expression(m, &Source::new("wrong", wrong_text), &[k]).unwrap();
    assert_ne!(&wrong, rhs);
    let bad = Derived {
        lhs: eq.lhs.clone(),
        rhs: Rhs::Expr(wrong),
    };
    assert!(matches!(bad.lhs, Lhs::Expr(_)));
    let inst = deriv::eval::Instance::new(m, vec![3], 1).unwrap();
    assert!(inverse_error(m, &a.equations, &inst).unwrap() < TOLERANCE);
    assert!(inverse_error(m, &[bad], &inst).unwrap() > 1e-3);
    // A claim about the implicit value is not answered, and says why.
    let text = std::fs::read_to_string("tests/maps/nesterov.deriv").unwrap()
        + "expect p[k] = (p[k+1] + eps * grad F(theta[k+1] - p[k+1] + beta * p[k])) / beta\n";
    let source = Source::new("nesterov.deriv", text);
    let run = deriv::run(&source, &Options::default()).unwrap();
    let last = run.key.answers.last().unwrap();
    let refused = last.refused.as_ref().expect("not answered");
    assert!(
        refused.message.contains("only implicitly"),
        "{}",
        refused.message
    );
}

/// A Jacobian whose values are not finite on an instance checks nothing
/// there: a map with no value anywhere (the root of a negative number) is
/// not passed, and one with a value only where its state is positive is
/// checked on the instances that draw it so.
#[test]
fn values_that_are_not_finite_check_nothing() {
    let script = |body: &str| {
        format!(
            "dim D
index k
param alpha : scalar
state theta[k] : D
{body}
derive J = jacobian (theta[k+1]) wrt (theta[k])
"
        )
    };
    let checks = |text: String| {
        let r = deriv::run(&Source::new("<test>", text), &Options::default()).unwrap();
        verify_update_maps(&r.key, SEEDS)
    };
    let nowhere = checks(script(
        "theta[k+1] = sqrt(-1 - theta[k] .* theta[k]) + alpha * theta[k]",
    ));
    assert!(nowhere.iter().all(|c| !c.passed), "{:?}", nowhere[0].how);
    let positive = checks(script("theta[k+1] = sqrt(theta[k]) + alpha * theta[k]"));
    assert!(
        positive
            .iter()
            .all(|c| c.passed && c.how.contains("left out")),
        "{:?}",
        positive[0].how
    );
}

/// The factors of the node at `id`, split through products (matrix or
/// elementwise, and the product of a vector's entries: `prod(v)` is
/// nonzero exactly where every entry of `v` is) and stripped of positive
/// powers (`c^2` is `c`), as written.
fn factors(e: &egg::RecExpr<Node>, id: egg::Id, out: &mut Vec<egg::RecExpr<Node>>) {
    match &e[id] {
        Node::Mul([a, b]) | Node::Had([a, b]) => {
            factors(e, *a, out);
            factors(e, *b, out);
        }
        Node::Prod(v) => factors(e, *v, out),
        Node::Pow([b, p])
            if e[*p]
                .as_num()
                .is_some_and(|r| !r.is_negative() && !r.is_zero()) =>
        {
            factors(e, *b, out)
        }
        _ => out.push(deriv::ir::build::subtree(e, id)),
    }
}

/// The bases a form divides by: the [`factors`] of each quotient's
/// divisor, each negative power's base and each inverse's matrix.
fn divisor_bases(e: &egg::RecExpr<Node>) -> Vec<egg::RecExpr<Node>> {
    let mut out = Vec::new();
    for n in e.as_ref() {
        match n {
            Node::Div([_, d]) => factors(e, *d, &mut out),
            Node::Inv(m) => factors(e, *m, &mut out),
            Node::Pow([b, p]) if e[*p].as_num().is_some_and(|r| r.is_negative()) => {
                factors(e, *b, &mut out)
            }
            _ => {}
        }
    }
    out
}

/// A determinant that divides by something its Jacobian does not (a pivot
/// of block elimination) says where it holds: every base it divides by is
/// one the Jacobian divides by, or named in its conditions. (`c^(-2)`
/// divides by `c^2`: a pivot `c^2` must not go unnoticed because the form
/// writes it as a power.)
#[test]
fn a_determinant_names_what_it_divides_by() {
    use deriv::key::{Condition, Note, Rhs};
    use deriv::model::RequestKind;
    let mut checked = 0;
    for path in common::scripts("tests/maps") {
        let path = path.display().to_string();
        let r = run(&path);
        let model = &r.key.model;
        let rhs = |a: &deriv::key::Answer| -> Vec<egg::RecExpr<Node>> {
            a.equations
                .iter()
                .filter_map(|d| match &d.rhs {
                    Rhs::Expr(e) => Some(e.clone()),
                    _ => None,
                })
                .collect()
        };
        for a in &r.key.answers {
            let Some(RequestKind::Det { of }) = model.requests.get(a.request).map(|q| &q.kind)
            else {
                continue;
            };
            let mut allowed: Vec<_> = r
                .key
                .answers
                .iter()
                .filter(|j| j.request == *of)
                .flat_map(|j| rhs(j).iter().flat_map(divisor_bases).collect::<Vec<_>>())
                .collect();
            for n in &a.notes {
                if let Note::HoldsWhere(cs) = n {
                    for c in cs {
                        // A condition `x != 0` allows dividing by `x`.
                        if let Condition::Nonzero(e) = c {
                            factors(e, deriv::ir::root(e), &mut allowed);
                        }
                    }
                }
            }
            for e in rhs(a) {
                for d in divisor_bases(&e) {
                    // Compared as written (the same form may be stored
                    // with its nodes in another order).
                    assert!(
                        allowed.iter().any(|x| x.to_string() == d.to_string()),
                        "{path}: det(J) = {} divides by {} with no condition named",
                        deriv::ir::text::expr(&model.symbols, &e),
                        deriv::ir::text::expr(&model.symbols, &d),
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 0, "no determinant divides by anything");
}

/// Where two previous values need one condition (Adam's first moment and
/// its running power both divide by `b1`), the inverse's note names it
/// once.
#[test]
fn an_inverse_states_each_condition_once() {
    use deriv::key::{Condition, Note};
    let r = run("tests/claims/adam_bias_correction.deriv");
    let conditions: Vec<&Condition> = r
        .key
        .answers
        .iter()
        .flat_map(|a| &a.notes)
        .filter_map(|n| match n {
            Note::InverseExistsWhere(c) => Some(c),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(conditions.len(), 2, "{conditions:?}");
}
