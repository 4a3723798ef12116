//! `expect` decides claims correctly: in the grading example, each claim's
//! comment says whether the student was right, and the verdict must agree;
//! the exit status and the JSON `expects` follow the verdicts.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use deriv::diag::Source;
use deriv::key::Verdict;
use deriv::model::RequestKind;
use deriv::Options;
use std::process::Command;

#[test]
fn verdicts_match_the_grading_comments() {
    let path = "derivations/lstm_grading.deriv";
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let run = deriv::run(&Source::new(path, text.clone()), &Options::default()).unwrap();
    assert!(run.problems.is_empty());
    let mut seen = 0;
    for a in &run.key.answers {
        let req = &run.key.model.requests[a.request];
        let RequestKind::Expect { .. } = req.kind else {
            continue;
        };
        let comment = lines[req.line - 2];
        let verdict = a.verdict.as_ref().unwrap();
        if comment.contains("right") {
            assert_eq!(verdict, &Verdict::Proven, "line {}: {comment}", req.line);
        } else if comment.contains("wrong") {
            assert!(
                matches!(verdict, Verdict::Refuted { .. }),
                "line {}: {comment}: {verdict:?}",
                req.line
            );
        } else {
            panic!("line {}: no verdict in the comment", req.line);
        }
        seen += 1;
    }
    assert!(seen >= 8);
}

fn deriv(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_deriv"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn exit_status_and_json_follow_the_verdicts() {
    let (code, _) = deriv(&["run", "derivations/lstm.deriv"]);
    assert_eq!(code, 0);
    let (code, json) = deriv(&["run", "derivations/lstm_grading.deriv", "--format", "json"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let expects = doc["expects"].as_array().unwrap();
    assert_eq!(expects.len(), 8);
    for e in expects {
        let holds = e["holds"].as_bool().unwrap();
        let how = e["how"].as_str().unwrap();
        assert!(e["line"].as_u64().is_some());
        assert_eq!(holds, how == "proof", "{e}");
        assert!(["proof", "refuted", "numeric"].contains(&how));
    }
    assert!(expects.iter().any(|e| e["how"] == "refuted"));
}
