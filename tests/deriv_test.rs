//! `deriv test`, run as a user runs it: on a copy of `derivations/` with
//! its stored snapshots, then with the copy changed in the ways a course's
//! repository changes (an edited script, a new script, a wrong claim, a
//! script that does not check, a file that is not text, a snapshot edited
//! into nonsense), and with bad usage.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

/// Runs `deriv test` with `args`: exit code, standard output, standard error.
fn deriv_test(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_deriv"))
        .arg("test")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A copy of `derivations/` (scripts and snapshots) in a temporary folder.
fn copy() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("derivations");
    std::fs::create_dir_all(dst.join("snapshots")).unwrap();
    for sub in ["", "snapshots"] {
        for e in std::fs::read_dir(Path::new("derivations").join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, dst.join(sub).join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    tmp
}

fn summary(stdout: &str) -> &str {
    stdout.lines().last().unwrap_or("")
}

/// How many scripts `derivations/` holds.
fn examples() -> usize {
    std::fs::read_dir("derivations")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "deriv"))
        })
        .count()
}

/// The repository's own examples pass, except the grading example, whose
/// wrong claims are refuted by design; its snapshot still matches.
#[test]
fn the_examples_pass_as_stored() {
    let tmp = copy();
    let (code, out, err) = deriv_test(&["derivations"], tmp.path());
    assert_eq!(code, 1, "{out}{err}");
    let n = examples();
    assert_eq!(
        summary(&out),
        format!("{} passed, 1 failed", n - 1),
        "{out}"
    );
    for name in [
        "elman_last_step",
        "grid_rnn",
        "lstm",
        "momentum",
        "relu_mlp",
    ] {
        assert!(
            out.contains(&format!("PASS derivations/{name}.deriv\n")),
            "{out}"
        );
    }
    let grading = out
        .split("FAIL derivations/lstm_grading.deriv")
        .nth(1)
        .unwrap();
    assert!(grading.contains("REFUTED: the claim is false"), "{out}");
    assert!(grading.contains("counterexample: at D = "), "{out}");
    assert!(!grading.contains("answer key changed"), "{out}");
    assert!(!grading.contains("no snapshot"), "{out}");
}

/// Every stored snapshot belongs to a script, and none awaits review.
#[test]
fn every_stored_snapshot_has_its_script() {
    for e in std::fs::read_dir("derivations/snapshots").unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".text.snap") else {
            panic!("derivations/snapshots/{name} is not a text snapshot");
        };
        assert!(
            Path::new(&format!("derivations/{stem}.deriv")).exists(),
            "derivations/snapshots/{name} has no script"
        );
    }
}

/// An edited script fails with a unified diff of its key, and the new
/// key is left beside the snapshot for review; `--accept` keeps it.
#[test]
fn a_changed_key_is_a_diff() {
    let tmp = copy();
    let script = tmp.path().join("derivations/momentum.deriv");
    let text = std::fs::read_to_string(&script).unwrap();
    let edited = text.replace(
        "theta[k+1] = theta[k] + p[k+1]",
        "theta[k+1] = theta[k] + 2 * p[k+1]",
    );
    assert_ne!(text, edited, "the script's update changed form");
    std::fs::write(&script, edited).unwrap();
    let (code, out, _) = deriv_test(&["derivations/momentum.deriv"], tmp.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the answer key changed:"), "{out}");
    assert!(
        out.contains("--- snapshot") && out.contains("+++ new key"),
        "{out}"
    );
    assert!(out.contains("-  theta[k+1] = theta[k] + p[k+1]"), "{out}");
    assert!(
        out.contains("+  theta[k+1] = theta[k] + 2 * p[k+1]"),
        "{out}"
    );
    assert!(!out.contains('\x1b'), "colour with NO_COLOR set: {out}");
    let new = tmp
        .path()
        .join("derivations/snapshots/momentum.text.snap.new");
    assert!(new.exists(), "no .snap.new written");

    let (code, out, _) = deriv_test(&["--accept", "derivations/momentum.deriv"], tmp.path());
    assert_eq!(code, 1, "{out}");
    assert!(!new.exists(), "--accept left the .snap.new");
    assert!(!out.contains("answer key changed"), "{out}");
    // The edit makes the script's claims false, which --accept does not hide.
    assert!(out.contains("REFUTED"), "{out}");
    let stored =
        std::fs::read_to_string(tmp.path().join("derivations/snapshots/momentum.text.snap"))
            .unwrap();
    assert!(
        stored.contains("theta[k+1] = theta[k] + 2 * p[k+1]"),
        "{stored}"
    );
}

/// A new script has no snapshot: it fails, its key is written as
/// `.snap.new`; `--accept` moves it into place, and then it passes.
#[test]
fn a_missing_snapshot_is_written_and_accepted() {
    let tmp = copy();
    let dir = tmp.path().join("course");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("rnn.deriv"),
        "dim H\nindex t\ninput x[t] : H\nparam W : H x H\nfn ell : H -> scalar\ninit h[0] = 0\n\
         h[t] = tanh(W * h[t-1] + x[t])\nloss L = sum(t, ell(h[t]))\nderive grad W\n\
         expect bar(W) = sum(t, (bar(h[t]) .* (1 - h[t]^2)) * h[t-1]^T)\n",
    )
    .unwrap();
    let (code, out, _) = deriv_test(&["course"], tmp.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("no snapshot `course/snapshots/rnn.text.snap` yet"),
        "{out}"
    );
    let new = dir.join("snapshots/rnn.text.snap.new");
    let written = std::fs::read_to_string(&new).unwrap();
    assert!(written.starts_with("---\nsource: rnn.deriv\n"), "{written}");
    assert!(
        !written.contains(&tmp.path().display().to_string()),
        "a machine path in {written}"
    );

    let (code, out, _) = deriv_test(&["course", "--accept"], tmp.path());
    assert_eq!((code, summary(&out)), (0, "1 passed, 0 failed"), "{out}");
    assert!(!new.exists());
    let stored = std::fs::read_to_string(dir.join("snapshots/rnn.text.snap")).unwrap();
    assert_eq!(stored, written, "the accepted snapshot is the reviewed one");

    // From another folder the snapshot is the same: the key names the
    // script by its file name.
    let (code, out, _) = deriv_test(&["."], &dir);
    assert_eq!((code, summary(&out)), (0, "1 passed, 0 failed"), "{out}");
}

/// A refuted claim, a script that does not check and a file that is not
/// text each fail with what went wrong, and the run goes on past them.
#[test]
fn failures_are_reported_and_the_run_goes_on() {
    let tmp = copy();
    let d = tmp.path().join("derivations");
    std::fs::write(
        d.join("a_wrong_claim.deriv"),
        "dim D\nparam w : D\ninput x : D\nloss L = w^T * x\nderive grad w\nexpect bar(w) = 2 * x\n",
    )
    .unwrap();
    std::fs::write(
        d.join("b_ill_typed.deriv"),
        "dim D\nparam W : D x D\nloss L = tr(W x)\n",
    )
    .unwrap();
    std::fs::write(d.join("c_binary.deriv"), [0xff, 0xfe, 0x00]).unwrap();
    let (code, out, _) = deriv_test(&["derivations", "--accept"], tmp.path());
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        summary(&out),
        format!("{} passed, 4 failed", examples() - 1),
        "{out}"
    );
    assert!(
        out.contains(
            "FAIL derivations/a_wrong_claim.deriv\n  line 6: expect bar(w) = 2 * x\n    REFUTED"
        ),
        "{out}"
    );
    assert!(
        out.contains("FAIL derivations/b_ill_typed.deriv\n  the script does not check:"),
        "{out}"
    );
    assert!(out.contains("b_ill_typed.deriv:3:15"), "{out}");
    assert!(
        out.contains("FAIL derivations/c_binary.deriv\n  c_binary.deriv:")
            && out.contains("the script is not UTF-8 text")
            && out.contains("hint: save the script as UTF-8 text"),
        "{out}"
    );
}

/// A snapshot edited into nonsense is reported, not a crash.
#[test]
fn a_nonsense_snapshot_is_reported() {
    let tmp = copy();
    let snap = tmp.path().join("derivations/snapshots/lstm.text.snap");
    std::fs::write(&snap, "nothing like a snapshot\n\u{0}\u{1}").unwrap();
    let (code, out, err) = deriv_test(&["derivations/lstm.deriv"], tmp.path());
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("cannot be read: it does not start with a `---` header line"),
        "{out}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// Bad usage exits 2 with a message: a path that does not exist, a
/// folder without scripts.
#[test]
fn bad_usage_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = deriv_test(&["no/such/folder"], tmp.path());
    assert_eq!(code, 2);
    assert!(err.contains("error: cannot read `no/such/folder`"), "{err}");
    std::fs::create_dir_all(tmp.path().join("empty/snapshots")).unwrap();
    std::fs::write(tmp.path().join("empty/notes.txt"), "not a script").unwrap();
    let (code, _, err) = deriv_test(&["empty"], tmp.path());
    assert_eq!(code, 2);
    assert!(
        err.contains("error: no `.deriv` scripts under `empty`"),
        "{err}"
    );
}
