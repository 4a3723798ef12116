//! The command line around the answer key: colour of deriv's own messages
//! (`--color`, `NO_COLOR`), shell completions and the manual pages.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn deriv(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deriv"));
    cmd.args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // A run that exits before reading its input (a usage error) closes the
    // pipe: that is not a failure of the test.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

const BAD: &str = "dim D\nh = x +\n";
const ESC: &str = "\x1b[";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn diagnostics_are_coloured_only_when_asked_or_on_a_terminal() {
    // Standard error is a pipe here: `auto` means no colour.
    let plain = deriv(&["check", "-"], &[], BAD);
    assert_eq!(plain.status.code(), Some(2));
    assert!(!stderr(&plain).contains(ESC), "{}", stderr(&plain));
    assert!(stderr(&plain).starts_with("error: unexpected end of line"));
    for args in [
        &["--color", "always", "check", "-"][..],
        &["check", "-", "--color=always"][..],
    ] {
        let coloured = deriv(args, &[], BAD);
        assert_eq!(coloured.status.code(), Some(2));
        let text = stderr(&coloured);
        assert!(text.contains(ESC), "{args:?}: {text}");
        // The same message under the escapes.
        let stripped = strip(&text);
        assert_eq!(stripped, stderr(&plain), "{args:?}");
    }
    // An explicit choice wins over NO_COLOR; `never` is never coloured.
    let forced = deriv(
        &["--color", "always", "check", "-"],
        &[("NO_COLOR", "1")],
        BAD,
    );
    assert!(stderr(&forced).contains(ESC));
    let never = deriv(&["--color", "never", "check", "-"], &[], BAD);
    assert!(!stderr(&never).contains(ESC));
    // deriv's own one-line errors follow the same choice.
    let missing = deriv(
        &["--color", "always", "run", "no/such/script.deriv"],
        &[],
        "",
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains(ESC), "{}", stderr(&missing));
    assert!(strip(&stderr(&missing)).starts_with("error: cannot read `no/such/script.deriv`"));
    // And so do clap's usage errors.
    let usage = deriv(&["--color", "never", "run"], &[], "");
    assert_eq!(usage.status.code(), Some(2));
    assert!(!stderr(&usage).contains(ESC));
    let usage = deriv(&["--color", "always", "run"], &[], "");
    assert!(stderr(&usage).contains(ESC), "{}", stderr(&usage));
    let wrong = deriv(&["--color", "sometimes", "check", "-"], &[], BAD);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("sometimes"));
}

/// The text without its ANSI escape sequences.
fn strip(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn completions_name_every_command_and_option() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = deriv(&["completions", shell], &[], "");
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        for word in [
            "run", "verify", "test", "check", "format", "output", "color",
        ] {
            assert!(text.contains(word), "{shell}: no `{word}`");
        }
        // The shells that complete values offer the formats.
        if ["bash", "zsh", "fish"].contains(&shell) {
            assert!(text.contains("latex"), "{shell}: no `latex`");
        }
    }
    // The bash script is valid bash.
    let out = deriv(&["completions", "bash"], &[], "");
    let mut bash = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    bash.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    assert!(bash.wait().unwrap().success());
    let unknown = deriv(&["completions", "tcsh"], &[], "");
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn the_manual_page_covers_the_commands_and_exit_status() {
    let out = deriv(&["man"], &[], "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH deriv 1"), "{page}");
    for word in [
        "deriv\\-run(1)",
        "deriv\\-test(1)",
        "\\-\\-color",
        "Exit status",
    ] {
        assert!(page.contains(word), "no `{word}` in\n{page}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = deriv(&["man", "--dir", dir.path().to_str().unwrap()], &[], "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for name in [
        "deriv.1",
        "deriv-run.1",
        "deriv-verify.1",
        "deriv-test.1",
        "deriv-check.1",
    ] {
        let page = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(page.starts_with(".ie") || page.contains(".TH"), "{name}");
    }
    let run = std::fs::read_to_string(dir.path().join("deriv-run.1")).unwrap();
    assert!(run.contains("\\-\\-format"), "{run}");
    let out = deriv(&["man", "--dir", "no/such/folder"], &[], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: cannot write the manual pages"));
}
