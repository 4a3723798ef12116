//! Benchmarks: every example script's whole answer key, in process, and
//! the scaling scripts (a chain of N feed-forward layers, a stack of L LSTM
//! layers) from `benches/gen.rs`. Whole-process times are measured with
//! `benches/process.sh`.

use deriv::diag::Source;
use deriv::print::{render, Format, PrintOptions};
use deriv::Options;

#[path = "gen.rs"]
mod gen;

/// The binary's allocator, so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

fn key(source: &Source, format: Format) -> String {
    match deriv::run(source, &Options::default()) {
        Ok(run) => render(&run.key, format, &PrintOptions::default()),
        Err(d) => d.to_string(),
    }
}

fn example(name: &str) -> Source {
    let path = format!("derivations/{name}.deriv");
    Source::new(
        path.clone(),
        std::fs::read_to_string(&path).unwrap_or_default(),
    )
}

#[divan::bench(args = ["lstm", "momentum", "grid_rnn", "lstm_grading"])]
fn examples(bencher: divan::Bencher, name: &str) {
    let source = example(name);
    bencher.bench(|| key(divan::black_box(&source), Format::Text));
}

/// Every request with its steps (`--steps`).
#[divan::bench(args = ["lstm", "momentum", "grid_rnn", "adam", "layer_norm"])]
fn examples_steps(bencher: divan::Bencher, name: &str) {
    let source = example(name);
    let options = Options {
        steps: true,
        ..Options::default()
    };
    bencher.bench(|| match deriv::run(divan::black_box(&source), &options) {
        Ok(run) => render(&run.key, Format::Text, &PrintOptions::default()),
        Err(d) => d.to_string(),
    });
}

#[divan::bench(args = ["lstm", "momentum", "grid_rnn"])]
fn examples_latex(bencher: divan::Bencher, name: &str) {
    let source = example(name);
    bencher.bench(|| key(divan::black_box(&source), Format::Latex));
}

#[divan::bench(args = [125, 250, 500, 1000, 2000], sample_count = 5)]
fn chain(bencher: divan::Bencher, layers: usize) {
    let source = Source::new("chain.deriv", gen::chain(layers));
    bencher.bench(|| key(divan::black_box(&source), Format::Text));
}

#[divan::bench(args = [1, 2, 4, 8, 16, 32, 64], sample_count = 5)]
fn stacked_lstm(bencher: divan::Bencher, layers: usize) {
    let source = Source::new("stack.deriv", gen::stacked_lstm(layers));
    bencher.bench(|| key(divan::black_box(&source), Format::Text));
}
