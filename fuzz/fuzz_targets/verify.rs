//! Fuzz target: the run followed by numeric verification of every derived
//! result and its report, as `deriv verify` does.

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::with_script(data, |source| {
        if let Ok(run) = deriv::run(&source, &common::options()) {
            let checks = deriv::verify::verify_all(&run.key);
            let _ = deriv::verify::report(&source.name, &checks);
        }
    });
});
