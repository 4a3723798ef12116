//! Fuzz target: bytes → UTF-8 text → `syntax::parse` + `check`, and every
//! diagnostic rendered, as `deriv check` does.

#![no_main]

#[path = "common.rs"]
mod common;

use deriv::diag::Diagnostics;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::with_script(data, |source| {
        let limits = common::options().limits;
        let checked = deriv::syntax::parse(&source.text, &limits)
            .map_err(Diagnostics::from)
            .and_then(|script| deriv::check::check(&script, &source));
        if let Err(diags) = checked {
            let _ = diags.render(&source);
        }
    });
});
