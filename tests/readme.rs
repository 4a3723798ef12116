//! README.md stays true: the LSTM script it shows is `derivations/lstm.deriv`
//! and the answer key it shows is what `deriv run` prints for it.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// The fenced block that follows `marker` in the README.
fn block_after<'a>(readme: &'a str, marker: &str) -> &'a str {
    let rest = readme
        .split_once(marker)
        .unwrap_or_else(|| panic!("README has no `{marker}`"))
        .1;
    let body = rest.split_once("```\n").expect("a fenced block").1;
    body.split_once("```").expect("a closed block").0
}

#[test]
fn the_readme_shows_the_real_script_and_answer_key() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let script = std::fs::read_to_string("derivations/lstm.deriv").unwrap();
    assert_eq!(block_after(&readme, "`derivations/lstm.deriv`:"), script);
    let out = Command::new(env!("CARGO_BIN_EXE_deriv"))
        .args(["run", "derivations/lstm.deriv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(block_after(&readme, "prints its answer key:"), printed);
}
