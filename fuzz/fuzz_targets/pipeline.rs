//! Fuzz target: the whole run, every printer, and the diagnostics, as
//! `deriv run` does, with small e-graph limits.

#![no_main]

#[path = "common.rs"]
mod common;

use deriv::diag::Diagnostics;
use deriv::print::{render, Format, PrintOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::with_script(data, |source| {
        match deriv::run(&source, &common::options()) {
            Ok(run) => {
                for format in [Format::Text, Format::Latex, Format::Markdown, Format::Json] {
                    let _ = render(&run.key, format, &PrintOptions::default());
                }
                let _ = render(&run.key, Format::Latex, &PrintOptions { fragment: true });
                let _ = run.key.all_hold();
                let _ = Diagnostics(run.problems).render(&source);
            }
            Err(diags) => {
                let _ = diags.render(&source);
            }
        }
    });
});
