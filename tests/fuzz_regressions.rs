//! Every input the fuzzers (`fuzz/`) found to crash, hang or exhaust
//! deriv, kept in `tests/fuzz_regressions/`: each must go through the whole
//! pipeline, every printer and numeric verification, ending in a result or
//! a diagnostic, without a panic and within a time bound.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use deriv::diag::{Diagnostics, Source};
use deriv::print::{render, Format, PrintOptions};
use deriv::{Limits, Options};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// The limits the fuzz targets run with (`fuzz/fuzz_targets/common.rs`),
/// every request with its steps.
fn fuzz_options() -> Options {
    Options {
        limits: Limits {
            egraph_nodes: 5_000,
            egraph_iters: 16,
            ..Default::default()
        },
        steps: true,
        ..Default::default()
    }
}

/// Everything the binary does with a script, as the fuzz targets do it.
fn exercise(source: &Source, options: &Options) {
    match deriv::run(source, options) {
        Ok(run) => {
            for format in [Format::Text, Format::Latex, Format::Markdown, Format::Json] {
                let _ = render(&run.key, format, &PrintOptions::default());
            }
            let _ = render(&run.key, Format::Latex, &PrintOptions { fragment: true });
            let checks = deriv::verify::verify_all(&run.key);
            let _ = deriv::verify::report(&source.name, &checks);
            let _ = Diagnostics(run.problems).render(source);
        }
        Err(diags) => {
            let _ = diags.render(source);
        }
    }
}

/// Runs one fixture on the binary's 512 MiB stack and waits at most
/// `bound` for it; a panic or a hang fails the test with the file's name.
fn survives(path: &PathBuf, options: Options, bound: Duration) {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).unwrap();
    // The binary refuses text that is not UTF-8 before the library sees it.
    let Ok(text) = String::from_utf8(bytes) else {
        return;
    };
    let source = Source::new(name.clone(), text);
    let (done, finished) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || {
            exercise(&source, &options);
            let _ = done.send(());
        })
        .unwrap();
    match finished.recv_timeout(bound) {
        Ok(()) => worker.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("{name}: the pipeline panicked")
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name}: still running after {bound:?}")
        }
    }
}

fn fixtures() -> Vec<PathBuf> {
    let v = common::scripts("tests/fuzz_regressions");
    assert!(!v.is_empty(), "no fixtures in tests/fuzz_regressions");
    v
}

#[test]
fn every_fuzz_regression_returns_under_the_fuzzing_limits() {
    for path in fixtures() {
        survives(&path, fuzz_options(), Duration::from_secs(60));
    }
}

#[test]
fn every_fuzz_regression_returns_under_the_default_limits() {
    for path in fixtures() {
        survives(&path, Options::default(), Duration::from_secs(120));
    }
}

/// The e-graph statistics of every answer of a script.
fn stats_of(path: &str, options: &Options) -> Vec<deriv::key::RunStats> {
    let source = Source::new(path, std::fs::read_to_string(path).unwrap());
    let run = deriv::run(&source, options).unwrap();
    run.key
        .answers
        .iter()
        .flat_map(|a| a.stats.clone())
        .collect()
}

/// The node limit holds inside an iteration, not only between them: the
/// first script once grew one e-graph to two million nodes under a limit
/// of 5,000 in a single iteration (rewriting inside a class of zeros; it
/// now saturates), the second reaches the limit in a proof.
#[test]
fn the_node_limit_holds_inside_an_iteration() {
    let options = fuzz_options();
    let limit = options.limits.egraph_nodes;
    let zeros = stats_of(
        "tests/fuzz_regressions/repro_node_limit_overrun_in_one_iteration.deriv",
        &options,
    );
    let proof = stats_of(
        "tests/fuzz_regressions/proof_reaches_the_node_limit.deriv",
        &options,
    );
    assert!(proof.iter().any(|s| s.stop.starts_with("node limit")));
    for s in zeros.iter().chain(&proof) {
        assert!(s.nodes <= limit + 1_000, "{}: {} nodes", s.what, s.nodes);
    }
}
