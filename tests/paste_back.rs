//! Every printed result, pasted back as an `expect` line, is proven: for
//! every script of the repository, each derived equation's plain text
//! (`bar(c) = -bar(g)^T * x / c^2`, `J = [...]`, `params = ...`) is
//! appended as a claim, with the request's assumptions, and the claim must
//! come back *proven*. A printed form that reads back as a different tree
//! (signs, fractions, how a product groups) shows up here.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use deriv::diag::{Diagnostics, Source};
use deriv::key::Verdict;
use deriv::model::RequestKind;
use deriv::Options;

/// The claims to append for one script: its results, or (`steps`) every
/// step of their derivations.
fn claims(text: &str, name: &str, steps: bool) -> Vec<String> {
    let options = Options {
        steps,
        ..Options::default()
    };
    let source = Source::new(name, text);
    let run = match deriv::run(&source, &options) {
        Ok(r) => r,
        Err(_) => return Vec::new(),
    };
    if steps {
        common::pasted_steps(&run.key)
    } else {
        common::pasted(&run.key)
    }
}

#[test]
fn every_printed_result_pasted_back_is_proven() {
    pasted_back_proven(false, 60);
}

/// Each step of a derivation is written in the language: pasted back as
/// an `expect` line (with `--steps`, every script), it reads back and is
/// proven. Steps that write a forward value out where its name does not
/// exist at every index value (`sigma(W * h[t] + ...)` for `i[t+1]`, in a
/// term that vanishes at the last step; `h[i+1, j-1]` of a grid's
/// north-east neighbour, which is a boundary value at the first column and
/// past the grid at the last row) are proven by cases.
#[test]
fn every_printed_step_pasted_back_is_proven() {
    pasted_back_proven(true, 150);
}

fn pasted_back_proven(steps: bool, at_least: usize) {
    let mut checked = 0;
    let mut unproven = 0;
    let mut failures = Vec::new();
    for dir in ["derivations", "tests/cells", "tests/maps", "tests/repro"] {
        for path in common::scripts(dir) {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let added = claims(&text, &name, steps);
            if added.is_empty() {
                continue;
            }
            let first = text.lines().count() + 1;
            let script = format!("{}\n{}\n", text.trim_end(), added.join("\n"));
            let source = Source::new(name.clone(), script.clone());
            let run = match deriv::run(&source, &Options::default()) {
                Ok(r) => r,
                Err(d) => {
                    failures.push(format!(
                        "{name}: pasted claims rejected:\n{}",
                        d.render(&source)
                    ));
                    continue;
                }
            };
            if !run.problems.is_empty() {
                failures.push(format!(
                    "{name}: {}",
                    Diagnostics(run.problems.clone()).render(&source)
                ));
            }
            for a in &run.key.answers {
                let req = &run.key.model.requests[a.request];
                if req.line < first || !matches!(req.kind, RequestKind::Expect { .. }) {
                    continue;
                }
                checked += 1;
                if matches!(a.verdict, Some(Verdict::NotProven { .. })) {
                    unproven += 1;
                    println!("not proven: {name}:{}: {}", req.line, req.text);
                }
                if !matches!(a.verdict, Some(Verdict::Proven)) {
                    failures.push(format!(
                        "{name}: `{}` is not proven: {:?}",
                        req.text, a.verdict
                    ));
                }
            }
        }
    }
    println!(
        "{checked} pasted claims: {} proven, {unproven} not proven",
        checked - unproven
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} pasted claims failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(checked > at_least, "{checked} claims checked");
}
