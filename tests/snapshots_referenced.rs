//! Every snapshot belongs to a fixture that still exists, so a renamed or
//! deleted script cannot leave a stale answer key behind.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

/// The folders whose scripts are snapshotted, by snapshot-name prefix.
const FIXTURES: &[(&str, &str)] = &[
    ("answer_keys__answer_keys", "derivations"),
    ("answer_keys__cell_keys", "tests/cells"),
    ("answer_keys__update_map_keys", "tests/maps"),
    ("rejected__", "tests/rejected"),
];

#[test]
fn no_snapshot_is_unreferenced() {
    let mut stale = Vec::new();
    for entry in std::fs::read_dir("tests/snapshots").expect("tests/snapshots exists") {
        let name = entry
            .expect("readable")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".snap.new") || name.ends_with(".pending-snap") {
            stale.push(format!("{name} (an unreviewed snapshot)"));
            continue;
        }
        let Some(stem) = name.strip_suffix(".snap") else {
            continue;
        };
        let Some((test, fixture)) = stem.split_once('@') else {
            continue;
        };
        let dir = FIXTURES
            .iter()
            .find(|(prefix, _)| test.starts_with(prefix))
            .map(|(_, d)| *d);
        match dir {
            Some(dir) if Path::new(dir).join(fixture).exists() => {}
            Some(dir) => stale.push(format!("{name} (no {dir}/{fixture})")),
            None => stale.push(format!("{name} (no fixture folder for `{test}`)")),
        }
    }
    assert!(
        stale.is_empty(),
        "unreferenced snapshots:\n{}",
        stale.join("\n")
    );
}
