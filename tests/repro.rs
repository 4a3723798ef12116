//! Regression fixtures of wrong answers (`tests/repro/`): every script is
//! answered in full, every derived result passes numeric verification, and
//! every `expect` line gets the verdict its trailing comment states
//! (`# proven`, `# refuted`, `# not proven`).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use deriv::diag::{Diagnostics, Source};
use deriv::key::Verdict;
use deriv::Options;

/// The verdict an `expect` line's comment asks for, by line.
fn wanted(text: &str) -> Vec<(usize, &'static str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("expect"))
        .filter_map(|(k, l)| {
            let comment = l.split_once('#')?.1.trim();
            let want = match comment {
                "proven" => "proven",
                "refuted" => "refuted",
                "not proven" => "not proven",
                other => panic!("line {}: unknown verdict comment `{other}`", k + 1),
            };
            Some((k + 1, want))
        })
        .collect()
}

#[test]
fn repros_are_answered_right() {
    let paths = common::scripts("tests/repro");
    assert!(paths.len() >= 8);
    for path in paths {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let source = Source::new(name.clone(), text.clone());
        let run = match deriv::run(&source, &Options::default()) {
            Ok(r) => r,
            Err(d) => panic!("{name} was rejected:\n{}", d.render(&source)),
        };
        assert!(
            run.problems.is_empty(),
            "{name}: requests left unanswered:\n{}",
            Diagnostics(run.problems).render(&source)
        );
        let checks = deriv::verify::verify_all(&run.key);
        let want = wanted(&text);
        assert!(
            !checks.is_empty() || !want.is_empty(),
            "{name}: nothing was checked"
        );
        for c in &checks {
            assert!(
                c.passed,
                "{name}: {} (line {}) failed: {}",
                c.what, c.line, c.how
            );
        }
        assert!(
            !run.key.failed_self_check(),
            "{name}: a result failed the self-check"
        );
        for (line, verdict) in &want {
            let answer = run
                .key
                .answers
                .iter()
                .find(|a| run.key.model.requests[a.request].line == *line)
                .unwrap_or_else(|| panic!("{name}: no answer for line {line}"));
            let got = match &answer.verdict {
                Some(Verdict::Proven) => "proven",
                Some(Verdict::Refuted { .. }) => "refuted",
                Some(Verdict::NotProven { .. }) => "not proven",
                None => "no verdict",
            };
            assert_eq!(got, *verdict, "{name}: line {line}");
        }
    }
}
