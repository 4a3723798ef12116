//! Fuzz target: the run followed by numeric verification of every derived
//! result and its report, as `deriv verify` does.

#![no_main]

#[path = "common.rs"]
mod common;

use deriv::diag::Source;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = Source::new("fuzz.deriv", text);
    common::on_big_stack(move || {
        if let Ok(run) = deriv::run(&source, &common::options()) {
            let checks = deriv::verify::verify_all(&run.key);
            let _ = deriv::verify::report(&source.name, &checks);
        }
    });
});
