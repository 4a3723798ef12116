//! Profiles one script: runs it 50 times in process (for `perf`).

fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let source = deriv::diag::Source::new(path, text);
    for _ in 0..1 {
        let _ = deriv::run(&source, &deriv::Options::default());
    }
}
