//! Scripts that must be rejected, each with its rendered diagnostic: file,
//! line and column, the offending line with a marker, and a hint.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use deriv::diag::Source;
use deriv::Options;

fn diagnostic(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let name = format!(
        "tests/rejected/{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let source = Source::new(name, text.clone());
    match deriv::run(&source, &Options::default()) {
        Ok(run) if run.problems.is_empty() => panic!("{} was accepted", source.name),
        Ok(run) => deriv::diag::Diagnostics(run.problems).render(&source),
        Err(d) => d.render(&source),
    }
}

#[test]
fn every_rejected_script_gets_a_located_hinted_diagnostic() {
    insta::glob!("rejected", "*.deriv", |path| {
        let rendered = diagnostic(path);
        assert!(
            rendered.contains("┌─ tests/rejected/"),
            "no location:\n{rendered}"
        );
        assert!(rendered.contains("hint:"), "no hint:\n{rendered}");
        assert!(rendered.contains('^'), "no marker:\n{rendered}");
        assert!(
            !rendered.contains("Rule::") && !rendered.contains("internal error"),
            "{rendered}"
        );
        let text = std::fs::read_to_string(path).unwrap_or_default();
        insta::assert_snapshot!(format!("{text}\n---\n{rendered}"));
    });
}
