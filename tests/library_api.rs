//! The library API as a Rust project uses it (the README shows this test):
//! run a script, check it answered everything, and pin its key with insta.

#![allow(clippy::unwrap_used)]

#[test]
fn rnn_key() {
    let text = std::fs::read_to_string("tests/library_api/rnn.deriv").unwrap();
    let source = deriv::diag::Source::new("rnn.deriv", text);
    let run = deriv::run(&source, &deriv::Options::default()).unwrap();
    assert!(run.problems.is_empty() && run.key.all_hold());
    let key = deriv::print::render(&run.key, deriv::print::Format::Text, &Default::default());
    insta::assert_snapshot!(key);
}
