//! The claim corpus (`tests/claims/`): claims from textbooks and papers
//! over the course's models, written in unusual but equivalent forms as
//! students write them, and classic mistakes. Each `expect` line ends with
//! the verdict it deserves mathematically (`# proven` for a true claim,
//! `# refuted` for a false one), decided by hand, not by what deriv prints.
//!
//! deriv must never refute a true claim nor prove a false one. Its proof
//! procedures are incomplete, so a true claim could in principle be left
//! *not proven* (the test prints each such claim), but on this corpus
//! every true claim is proven and every false one refuted, and the test
//! holds it there: a claim added that deriv cannot decide is a finding to
//! fix, or to state in the floors below with the reason.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use deriv::diag::Source;
use deriv::key::Verdict;
use deriv::Options;

/// The share of true claims that must be proven, in percent.
const PROVEN_FLOOR: usize = 100;

/// The share of false claims that must be refuted, in percent.
const REFUTED_FLOOR: usize = 100;

#[test]
fn the_claim_corpus_is_decided_soundly() {
    let paths = common::scripts("tests/claims");
    assert!(paths.len() >= 12);
    let (mut true_claims, mut false_claims, mut proven, mut refuted) = (0, 0, 0, 0);
    let mut unproven = Vec::new();
    let mut undecided = Vec::new();
    let mut wrong = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let run = deriv::run(
            &Source::new(name.clone(), text.clone()),
            &Options::default(),
        )
        .unwrap_or_else(|_| panic!("{name} was rejected"));
        assert!(run.problems.is_empty(), "{name}: requests left unanswered");
        assert!(
            !run.key.failed_self_check(),
            "{name}: a result failed the self-check"
        );
        for a in &run.key.answers {
            let req = &run.key.model.requests[a.request];
            let Some(verdict) = &a.verdict else { continue };
            let line = text.lines().nth(req.line - 1).unwrap_or("");
            let Some((_, want)) = line.rsplit_once('#') else {
                panic!("{name}:{}: a claim without its verdict", req.line);
            };
            let truth = match want.trim() {
                "proven" => true,
                "refuted" => false,
                other => panic!("{name}:{}: unknown verdict `{other}`", req.line),
            };
            let place = format!("{name}:{}: {}", req.line, req.text);
            match (truth, verdict) {
                (true, Verdict::Proven) => proven += 1,
                (true, Verdict::NotProven { .. }) => unproven.push(place),
                (false, Verdict::Refuted { .. }) => refuted += 1,
                (false, Verdict::NotProven { .. }) => undecided.push(place),
                _ => wrong.push(format!("{place}: {verdict:?}")),
            }
            if truth {
                true_claims += 1;
            } else {
                false_claims += 1;
            }
        }
    }
    println!(
        "{true_claims} true claims: {proven} proven, {} not proven; {false_claims} false claims: {refuted} refuted",
        unproven.len()
    );
    for u in &unproven {
        println!("true, not proven: {u}");
    }
    for u in &undecided {
        println!("false, not refuted: {u}");
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
    assert!(true_claims >= 150 && false_claims >= 100);
    assert!(
        proven * 100 >= true_claims * PROVEN_FLOOR,
        "only {proven} of {true_claims} true claims proven"
    );
    assert!(
        refuted * 100 >= false_claims * REFUTED_FLOOR,
        "only {refuted} of {false_claims} false claims refuted"
    );
}
