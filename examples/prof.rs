//! Runs one script's whole answer key N times in process, for a profiler:
//! `valgrind --tool=callgrind target/release/examples/prof FILE 1` or
//! `perf record target/release/examples/prof FILE 200`.

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_default();
    let times: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let source = deriv::diag::Source::new(path, text);
    for _ in 0..times {
        let _ = std::hint::black_box(deriv::run(&source, &deriv::Options::default()));
    }
}
