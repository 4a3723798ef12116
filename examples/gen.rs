//! Prints a generated scaling script, the same ones `cargo bench` runs:
//! `cargo run --release --example gen -- chain 1000` (a chain of feed-forward
//! layers) or `... -- stacked 64` (a stack of LSTM layers over time).

#[path = "../benches/gen.rs"]
mod gen;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = args.get(1).and_then(|n| n.parse::<usize>().ok());
    let script = match (args.first().map(String::as_str), size) {
        (Some("chain"), Some(n)) => gen::chain(n),
        (Some("stacked"), Some(n)) => gen::stacked_lstm(n),
        _ => {
            eprintln!("usage: gen chain N | gen stacked N");
            return ExitCode::from(2);
        }
    };
    print!("{script}");
    ExitCode::SUCCESS
}
