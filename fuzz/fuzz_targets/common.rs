//! What every fuzz target shares: the big stack the binary runs on, and
//! limits small enough that one input stays fast.

use deriv::{Limits, Options};

/// The stack `src/main.rs` gives the pipeline. The fuzzer's own thread has
/// a small one; running there would report overflows the binary never has.
const STACK: usize = 512 << 20;

/// Runs `f` on a thread with the binary's stack. A panic there aborts the
/// process through libFuzzer's panic hook, so it is still reported.
pub fn on_big_stack(f: impl FnOnce() + Send + 'static) {
    let worker = std::thread::Builder::new().stack_size(STACK).spawn(f);
    if let Ok(handle) = worker {
        // A panic has already aborted by the time `join` could see it.
        let _ = handle.join();
    }
}

/// Limits that keep each input to milliseconds: derivations small enough to
/// finish, bounds of the parser left at their defaults.
pub fn options() -> Options {
    Options {
        limits: Limits {
            egraph_nodes: 5_000,
            egraph_iters: 16,
            ..Default::default()
        },
    }
}
