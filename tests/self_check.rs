//! The self-check finds wrong results before they are printed: a key whose
//! results are altered the ways a wrong rule would alter them (a sign, a
//! transpose, a shifted index, a term dropped, a wrong count, a Jacobian
//! entry) gets each one flagged, and a flagged result prints as an internal
//! error in every format, never as an answer.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use deriv::diag::Source;
use deriv::ir::build::ExprBuilder;
use deriv::ir::{Leaf, Node};
use deriv::key::{Answer, AnswerKey, Derived, Rhs};
use deriv::print::{render, Format, PrintOptions};
use deriv::Options;
use egg::{Language, RecExpr};

fn key(path: &str) -> AnswerKey {
    let source = Source::new(path, std::fs::read_to_string(path).unwrap());
    let options = Options {
        self_check: false,
        steps: false,
        ..Options::default()
    };
    deriv::run(&source, &options).unwrap().key
}

/// Alterations of an expression that a wrong rule could make.
fn alterations(e: &RecExpr<Node>) -> Vec<RecExpr<Node>> {
    let root = deriv::ir::root(e);
    let mut out = Vec::new();
    // Negated.
    let mut b = ExprBuilder::new();
    let r = b.copy_all(e);
    let n = b.add(Node::Neg(r));
    out.push(b.finish(n));
    // Doubled.
    let mut b = ExprBuilder::new();
    let r = b.copy_all(e);
    let two = b.int(2);
    let n = b.add(Node::Mul([two, r]));
    out.push(b.finish(n));
    // A term dropped.
    if let Node::Add([x, _]) = &e[root] {
        out.push(deriv::ir::build::subtree(e, *x));
    }
    // Every relative index one step later.
    let shifted = deriv::ir::shift(e, &|_| 1);
    if shifted != *e {
        out.push(shifted);
    }
    // A transpose dropped.
    if let Some(k) = e.as_ref().iter().position(|n| matches!(n, Node::Trans(_))) {
        let nodes: Vec<Node> = e
            .as_ref()
            .iter()
            .map(|n| {
                n.clone().map_children(|c| match &e[c] {
                    Node::Trans(inner) if usize::from(c) == k => *inner,
                    _ => c,
                })
            })
            .collect();
        out.push(deriv::ir::build::subtree(&RecExpr::from(nodes), root));
    }
    out
}

/// Each result of the scripts' keys that `results` picks, altered each
/// way of [`alterations`] (a count plus one): how many the self-check
/// flags the answer for, and how many were tried. The unaltered keys
/// must pass. An alteration may leave the value alone (a zero negated):
/// then nothing is wrong to catch.
fn caught_alterations(
    paths: &[&str],
    results: fn(&mut Answer) -> &mut Vec<Derived>,
) -> (usize, usize) {
    let (mut caught, mut tried) = (0, 0);
    for path in paths {
        let mut k = key(path);
        assert!(
            deriv::verify::self_check(&k, &Default::default()).is_empty(),
            "{path}: the unaltered key fails the self-check"
        );
        for a in 0..k.answers.len() {
            for e in 0..results(&mut k.answers[a]).len() {
                let wrongs = match &results(&mut k.answers[a])[e].rhs {
                    Rhs::Expr(rhs) => alterations(rhs).into_iter().map(Rhs::Expr).collect(),
                    Rhs::Poly(p) => vec![Rhs::Poly(p.add(&deriv::poly::Poly::int(1)).unwrap())],
                    Rhs::Terms(_) => Vec::new(),
                };
                for wrong in wrongs {
                    let mut altered = k.clone();
                    results(&mut altered.answers[a])[e].rhs = wrong;
                    tried += 1;
                    let failures = deriv::verify::self_check(&altered, &Default::default());
                    if failures.iter().any(|(k, _)| *k == a) {
                        caught += 1;
                    }
                }
            }
        }
    }
    (caught, tried)
}

#[test]
fn altered_results_are_caught() {
    let (caught, tried) = caught_alterations(
        &[
            "derivations/lstm.deriv",
            "derivations/momentum.deriv",
            "tests/cells/gru.deriv",
            "tests/repro/repro_learned_initial_state.deriv",
            "tests/repro/repro_update_written_ahead.deriv",
        ],
        |a| &mut a.equations,
    );
    assert!(tried > 60, "{tried} alterations");
    // Nearly every alteration changes the value; all of those are caught.
    assert!(
        caught * 10 >= tried * 9,
        "{caught} of {tried} alterations caught"
    );
}

#[test]
fn a_wrong_count_and_a_wrong_jacobian_are_caught() {
    let k = key("derivations/momentum.deriv");
    for (a, ans) in k.answers.iter().enumerate() {
        for (e, d) in ans.equations.iter().enumerate() {
            let mut altered = k.clone();
            match &d.rhs {
                Rhs::Poly(p) => {
                    let one = deriv::poly::Poly::int(1);
                    altered.answers[a].equations[e].rhs = Rhs::Poly(p.add(&one).unwrap());
                }
                Rhs::Expr(x) if matches!(x.as_ref().last(), Some(Node::Block(_))) => {
                    // An identity block where the Jacobian has another.
                    let nodes: Vec<Node> = x
                        .as_ref()
                        .iter()
                        .map(|n| match n {
                            Node::Leaf(Leaf::Param(_)) => Node::Num(deriv::num::Rational::int(3)),
                            other => other.clone(),
                        })
                        .collect();
                    let changed = RecExpr::from(nodes);
                    if changed == *x {
                        continue;
                    }
                    altered.answers[a].equations[e].rhs = Rhs::Expr(changed);
                }
                _ => continue,
            }
            let failures = deriv::verify::self_check(&altered, &Default::default());
            assert!(
                failures.iter().any(|(k, _)| *k == a),
                "{:?} altered was not caught",
                d.lhs
            );
        }
    }
}

#[test]
fn a_failed_result_prints_as_an_internal_error() {
    let mut k = key("derivations/lstm.deriv");
    let d = k.answers[0].equations[0].clone();
    let equation = format!(
        "{} = {}",
        deriv::print::lhs_plain(&d.lhs, &k.model.symbols),
        deriv::print::rhs_plain(&d.rhs, &k.model.symbols)
    );
    let before = render(&k, Format::Text, &PrintOptions::default());
    assert!(before.contains(&equation));
    k.answers[0].failed = Some(deriv::key::SelfCheckFailure {
        what: "bar(h[t])".to_owned(),
        why: "it disagrees".to_owned(),
    });
    assert!(k.failed_self_check());
    for format in [Format::Text, Format::Markdown, Format::Json] {
        let text = render(&k, format, &PrintOptions::default());
        assert!(text.contains("nternal error"), "{format:?}");
        assert!(
            !text.contains(&equation),
            "{format:?} prints the failed result"
        );
    }
    let latex = render(&k, Format::Latex, &PrintOptions::default());
    assert!(latex.contains("Internal error"));
}

/// A claim is judged against the result it names; where that result is
/// wrong, so would the verdict be. Each named result altered (shown or
/// not) flags the claim, whatever its verdict, in place of judging it.
#[test]
fn a_claim_is_not_judged_against_a_wrong_result() {
    let (caught, tried) = caught_alterations(
        &[
            "derivations/lstm_grading.deriv",
            "derivations/momentum.deriv",
            "derivations/softmax_regression.deriv",
            "derivations/grid_rnn.deriv",
            "derivations/realnvp.deriv",
        ],
        |a| &mut a.named,
    );
    assert!(tried > 40, "{tried} alterations");
    assert!(
        caught * 10 >= tried * 9,
        "{caught} of {tried} alterations caught"
    );
}
