//! Every script in `derivations/`, `tests/cells/` and `tests/maps/` as one
//! snapshot page: the script, then its answer key in each format, then
//! anything it could not answer. The numbers behind each key are checked
//! elsewhere (`verify`, the self-check, `tests/numeric.rs`); these pin the
//! forms, so that a change of form is seen in review.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use deriv::diag::{Diagnostics, Source};
use deriv::print::{render, Format, PrintOptions};
use deriv::Options;
use std::fmt::Write as _;

fn page(dir: &str, path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let name = format!(
        "{dir}/{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let source = Source::new(name, text.clone());
    let mut out = String::new();
    let _ = writeln!(out, "=== script\n{text}");
    match deriv::run(&source, &Options::default()) {
        Ok(run) => {
            for (label, format) in [
                ("text", Format::Text),
                ("markdown", Format::Markdown),
                ("latex", Format::Latex),
                ("json", Format::Json),
            ] {
                let _ = writeln!(
                    out,
                    "=== {label}\n{}",
                    render(&run.key, format, &PrintOptions::default())
                );
            }
            if !run.problems.is_empty() {
                let _ = writeln!(
                    out,
                    "=== problems\n{}",
                    Diagnostics(run.problems).render(&source)
                );
            }
        }
        Err(d) => {
            let _ = writeln!(out, "=== rejected\n{}", d.render(&source));
        }
    }
    out
}

#[test]
fn answer_keys() {
    insta::glob!("../derivations", "*.deriv", |path| {
        insta::assert_snapshot!(page("derivations", path));
    });
}

#[test]
fn cell_keys() {
    insta::glob!("cells", "*.deriv", |path| {
        insta::assert_snapshot!(page("tests/cells", path));
    });
}

#[test]
fn update_map_keys() {
    insta::glob!("maps", "*.deriv", |path| {
        insta::assert_snapshot!(page("tests/maps", path));
    });
}
