//! What every fuzz target shares: the big stack the binary runs on, and
//! limits small enough that one input stays fast.

use deriv::diag::Source;
use deriv::{Limits, Options};

/// The stack `src/main.rs` gives the pipeline. The fuzzer's own thread has
/// a small one; running there would report overflows the binary never has.
const STACK: usize = 512 << 20;

/// Runs `f` on the input as a script, on the binary's stack. Input that is
/// not UTF-8 never reaches the library: the binary refuses it.
pub fn with_script(data: &[u8], f: impl FnOnce(Source) + Send + 'static) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Source::new("fuzz.deriv", text);
    on_big_stack(move || f(source));
}

/// Runs `f` on a thread with the binary's stack. A panic there aborts the
/// process through libFuzzer's panic hook, so it is still reported.
fn on_big_stack(f: impl FnOnce() + Send + 'static) {
    let worker = std::thread::Builder::new().stack_size(STACK).spawn(f);
    if let Ok(handle) = worker {
        // A panic has already aborted by the time `join` could see it.
        let _ = handle.join();
    }
}

/// Limits that keep each input to milliseconds: derivations small enough to
/// finish, bounds of the parser left at their defaults; every request with
/// its steps, so that the steps are fuzzed too.
pub fn options() -> Options {
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
