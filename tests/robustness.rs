//! Nothing breaks deriv: every fixture runs through the binary with exit
//! status 0, 1 or 2 and no panic; hostile inputs (deep nesting, long lines,
//! huge numbers, binary garbage) get a diagnostic; output is byte-identical
//! from run to run; an output that cannot be written leaves nothing behind.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn deriv(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_deriv"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn assert_clean(what: &str, out: &Output) -> i32 {
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        [0, 1, 2].contains(&code),
        "{what}: exit status {code}\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "{what}:\n{stderr}"
    );
    code
}

#[test]
fn every_fixture_exits_with_0_1_or_2() {
    for dir in [
        "derivations",
        "tests/cells",
        "tests/maps",
        "tests/rejected",
        "tests/fuzz_regressions",
    ] {
        for path in common::scripts(dir) {
            let p = path.display().to_string();
            for format in ["text", "json"] {
                let code = assert_clean(&p, &deriv(&["run", &p, "--format", format], None));
                if dir == "tests/rejected" {
                    assert_eq!(code, 2, "{p} was not rejected");
                }
            }
        }
    }
}

/// Inputs that stress every limit: each must end in a result or a
/// diagnostic with exit status 2, quickly, without a crash.
#[test]
fn hostile_inputs_get_a_diagnostic() {
    let long_sum = format!(
        "dim H\ninput x : H\ny = {}\n",
        vec!["x"; 50_000].join(" + ")
    );
    let many_eqs: String = {
        let mut s = String::from("dim H\ninput x : H\nparam W : H x H\nh0 = x\n");
        for k in 1..3000 {
            s.push_str(&format!("h{k} = tanh(W * h{})\n", k - 1));
        }
        s
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "10,000 parentheses",
            format!(
                "dim H\ninput x : H\ny = {}x{}\n",
                "(".repeat(10_000),
                ")".repeat(10_000)
            )
            .into_bytes(),
        ),
        (
            "10,000 minus signs",
            format!("dim H\ninput x : H\ny = {}x\n", "-".repeat(10_000)).into_bytes(),
        ),
        (
            "a chain of powers",
            format!("dim H\ninput x : H\ny = x{}\n", "^2".repeat(10_000)).into_bytes(),
        ),
        ("a sum of 50,000 terms", long_sum.into_bytes()),
        ("3,000 equations", many_eqs.into_bytes()),
        (
            "a 5,000-digit number",
            format!("dim H\ninput x : H\ny = {} * x\n", "9".repeat(5000)).into_bytes(),
        ),
        (
            "a huge power",
            b"dim H\nparam a : scalar\ninput x : H\ny = 2^99999999999 * a * x\n".to_vec(),
        ),
        (
            "a huge size",
            b"dim D\nparam W : 99999999999999999999999 x D\n".to_vec(),
        ),
        (
            "a huge index",
            b"dim H\nindex t\ninput x[t] : H\nh[t] = x[t-99999999999999999999]\n".to_vec(),
        ),
        ("binary garbage", (0u8..=255).cycle().take(4096).collect()),
        ("an empty script", Vec::new()),
        ("only comments", b"# nothing\n# at all\n".to_vec()),
        (
            "CRLF line ends",
            b"dim H\r\nindex t\r\ninput x[t] : H\r\nh[t] = tanh(x[t] + h[t-1])\r\n".to_vec(),
        ),
        ("a NUL byte", b"dim H\0\n".to_vec()),
        (
            "an unterminated bracket at the end",
            b"dim H\ninput x : H\ny = (x".to_vec(),
        ),
    ];
    for (what, input) in cases {
        let started = std::time::Instant::now();
        let out = deriv(&["run", "-"], Some(&input));
        assert_clean(what, &out);
        assert!(
            started.elapsed().as_secs() < 60,
            "{what} took {:?}",
            started.elapsed()
        );
        if out.status.code() == Some(2) {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("error"), "{what}: exit 2 without a message");
        }
    }
}

/// The deepest scripts the default limits accept run to the end, through
/// every kind of request and every output format, without a crash: the
/// recursion they need (several kilobytes a level in a debug build, over
/// 2,000 levels) must fit the stack the binary gives a run.
#[test]
fn deepest_accepted_scripts_run_to_the_end() {
    let script = |equation: String| {
        format!(
            "dim H, T\nindex t in 1..T\ninput x[t] : H\nparam W : H x H\nfn ell : H -> scalar\n\
             init h[0] = 0\nh[t] = {equation}\nloss L = sum(t, ell(h[t]))\n\
             derive adjoints\nderive grad W\ncount params\ncount macs h[t]\ndepth h[t]\n\
             expect bar(h[t]) = bar(h[t])\nexpect depth(h[t]) = T\n"
        )
    };
    let n = deriv::Limits::default().max_depth - 10;
    let k = deriv::Limits::default().max_nesting - 6;
    let cases = [
        (
            "a long sum",
            script(format!("tanh(W * h[t-1]{})", " + x[t]".repeat(n))),
        ),
        (
            "many minus signs",
            script(format!("tanh(W * h[t-1] + {}x[t])", "-".repeat(n))),
        ),
        (
            "nested functions",
            script(format!(
                "{}W * h[t-1] + x[t]{}",
                "tanh(".repeat(k),
                ")".repeat(k)
            )),
        ),
        (
            "nested brackets",
            script(format!(
                "tanh({}W * h[t-1] + x[t]{})",
                "(".repeat(k),
                ")".repeat(k)
            )),
        ),
    ];
    for (what, text) in cases {
        // The script is accepted: it checks.
        let checked = deriv(&["check", "-"], Some(text.as_bytes()));
        assert_eq!(assert_clean(what, &checked), 0, "{what}: not accepted");
        for format in ["text", "latex", "json"] {
            let out = deriv(&["run", "-", "--format", format], Some(text.as_bytes()));
            assert_clean(what, &out);
            assert!(!out.stdout.is_empty(), "{what}: no answer key");
        }
        assert_clean(what, &deriv(&["verify", "-"], Some(text.as_bytes())));
    }
}

/// At the most the depth flags may be raised to, the deepest brackets and
/// nested functions end in an answer or a diagnostic, never a crash (a
/// stack overflow ends the process with a signal, which `assert_clean`
/// refuses); one bracket more is a diagnostic.
#[test]
fn the_highest_depth_limits_keep_the_stack() {
    let cap = deriv::MAX_DEPTH_LIMIT;
    let flag = cap.to_string();
    let script = |open: &str, n: usize| {
        format!(
            "dim D\nparam x : D\ny = {}x{}\nloss L = sum(y)\nderive grad x\n",
            open.repeat(n),
            ")".repeat(n)
        )
    };
    for (what, text) in [
        ("brackets", script("(", cap - 2)),
        ("functions", script("tanh(", cap - 2)),
        ("one bracket too deep", script("(", cap + 1)),
    ] {
        for command in ["check", "run"] {
            let args = [command, "-", "--max-nesting", &flag, "--max-depth", &flag];
            let out = deriv(&args, Some(text.as_bytes()));
            let code = assert_clean(what, &out);
            if what == "one bracket too deep" {
                assert_eq!(code, 2, "{what}: not refused");
            }
        }
    }
}

#[test]
fn output_is_identical_across_runs() {
    for path in [
        "derivations/lstm.deriv",
        "derivations/momentum.deriv",
        "derivations/lstm_grading.deriv",
    ] {
        for format in ["text", "latex", "json"] {
            let first = deriv(&["run", path, "--format", format], None).stdout;
            assert!(!first.is_empty());
            for _ in 0..19 {
                assert_eq!(
                    deriv(&["run", path, "--format", format], None).stdout,
                    first,
                    "{path} {format}"
                );
            }
        }
    }
}

#[test]
fn an_unwritable_output_is_an_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/key.tex");
    let out = deriv(
        &[
            "run",
            "derivations/momentum.deriv",
            "--output",
            missing.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write"));
    assert!(!missing.exists());
    let ok = dir.path().join("key.tex");
    let out = deriv(
        &[
            "run",
            "derivations/momentum.deriv",
            "--format",
            "latex",
            "--output",
            ok.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::read_to_string(&ok)
        .unwrap()
        .ends_with("\\end{document}\n"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("key.tex")]);
}

#[test]
fn unreadable_and_missing_files_are_errors() {
    for arg in ["no-such-file.deriv", "tests"] {
        let out = deriv(&["run", arg], None);
        assert_eq!(out.status.code(), Some(2), "{arg}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("cannot read"),
            "{arg}"
        );
    }
    let out = deriv(&["run", "derivations/lstm.deriv", "--format", "pdf"], None);
    assert_eq!(out.status.code(), Some(2));
    let _ = Path::new(".");
}

/// Bytes that are not UTF-8 are located by line and column, with a hint;
/// a reader that never ends is refused at the size bound, not read forever.
#[test]
fn text_that_is_not_utf8_or_never_ends_is_refused() {
    let out = deriv(&["run", "-"], Some(b"dim D\nparam x : D\ny = x\xff\n"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("<stdin>:3:6: the script is not UTF-8 text"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    if Path::new("/dev/zero").exists() {
        let out = deriv(&["check", "/dev/zero"], None);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("larger than"), "{stderr}");
    }
}

/// `--stats` reports, for every request, each e-graph run it made (what it
/// computed, iterations, nodes, classes, why it stopped) or that it made
/// none; a result reused from an earlier request is not counted again.
#[test]
fn stats_account_for_every_request() {
    // A script with claims under assumptions, which a proof run decides.
    let path = "tests/claims/lstm.deriv";
    let out = deriv(&["run", path, "--stats"], None);
    assert_clean(path, &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(path).unwrap();
    let request_lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            ["derive", "expect", "count", "depth"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|(k, _)| k + 1)
        .collect();
    assert!(!request_lines.is_empty());
    let mut seen = std::collections::BTreeMap::<usize, Vec<&str>>::new();
    for line in stderr.lines().filter(|l| l.starts_with("stats: ")) {
        let rest = line.strip_prefix("stats: line ").unwrap();
        let (n, what) = rest.split_once(": ").unwrap();
        let ok = what == "no e-graph run"
            || (what.contains(" iterations, ")
                && what.contains(" nodes, ")
                && what.contains(" classes, stopped: "));
        assert!(ok, "malformed stats line: {line}");
        seen.entry(n.parse().unwrap()).or_default().push(what);
    }
    for n in &request_lines {
        assert!(
            seen.contains_key(n),
            "no stats for the request on line {n}\n{stderr}"
        );
    }
    assert!(seen.keys().all(|n| request_lines.contains(n)), "{stderr}");
    // The adjoints are derived once, for the first request that needs them.
    let derivations = seen
        .values()
        .flatten()
        .filter(|w| w.starts_with("simplify bar(h[t])"))
        .count();
    assert_eq!(derivations, 1, "{stderr}");
    // Claims that are not equal as built are decided by a proof run.
    assert!(
        seen.values().flatten().any(|w| w.starts_with("prove: ")),
        "{stderr}"
    );
}

/// Simplification saturates on every fixture that derives something: a
/// note that it stopped at a limit on one of these means a rule loops.
#[test]
fn no_fixture_stops_at_a_limit() {
    for dir in ["derivations", "tests/cells", "tests/maps"] {
        for path in common::scripts(dir) {
            let text = std::fs::read_to_string(&path).unwrap();
            let source = deriv::diag::Source::new(path.display().to_string(), text);
            let Ok(run) = deriv::run(&source, &deriv::Options::default()) else {
                continue;
            };
            for a in &run.key.answers {
                for note in &a.notes {
                    assert!(
                        *note != deriv::key::Note::Limited,
                        "{}: request {} stopped at a limit",
                        path.display(),
                        a.request
                    );
                }
            }
        }
    }
}

/// `--output` through a symbolic link writes the link's target and leaves
/// the link; an existing file keeps its permissions.
#[cfg(unix)]
#[test]
fn output_follows_links_and_keeps_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.txt");
    std::fs::write(&real, "old").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path().join("link.txt");
    std::os::unix::fs::symlink("real.txt", &link).unwrap();
    let out = deriv(
        &[
            "run",
            "derivations/momentum.deriv",
            "-o",
            link.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let written = std::fs::read_to_string(&real).unwrap();
    assert!(written.starts_with("deriv answer key:"), "{written}");
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// `--output` to a FIFO writes into it (a reader gets the key); the FIFO
/// stays a FIFO.
#[cfg(unix)]
#[test]
fn output_to_a_fifo_writes_into_it() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("key.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let out = deriv(
        &[
            "run",
            "derivations/momentum.deriv",
            "-o",
            fifo.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let got = reader.join().unwrap();
    assert!(got.starts_with("deriv answer key:"), "{got}");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

/// `-o -` is standard output.
#[test]
fn output_dash_is_standard_output() {
    let out = deriv(&["run", "derivations/momentum.deriv", "-o", "-"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("deriv answer key:"));
    assert!(!Path::new("-").exists());
}

/// A full disk is an error with a message, whether the key goes to a
/// file or to standard output, and a device stays a device.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_reported() {
    use std::os::unix::fs::FileTypeExt;
    let out = deriv(
        &["run", "derivations/momentum.deriv", "-o", "/dev/full"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write `/dev/full`"));
    assert!(std::fs::metadata("/dev/full")
        .unwrap()
        .file_type()
        .is_char_device());
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_deriv"))
        .args(["run", "derivations/momentum.deriv"])
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot write the answer key to standard output"));
}

/// A byte-order mark at the start of a script is skipped; `--fragment`
/// outside LaTeX is refused; a script without requests is answered with a
/// warning.
#[test]
fn small_usage_cases() {
    let text = b"\xef\xbb\xbfdim D\nparam w : D\nloss L = 1/2 * w^T * w\nderive grad w\n";
    let out = deriv(&["run", "-"], Some(text));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = deriv(&["run", "derivations/momentum.deriv", "--fragment"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`--fragment` is for LaTeX"));
    let out = deriv(&["run", "-"], Some(b"dim D\nparam w : D\n"));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: `<stdin>` has no requests"));
}
