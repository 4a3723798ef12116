//! What several test files share.

use std::path::PathBuf;

/// The `.deriv` scripts in a folder of the repository, in name order.
pub fn scripts(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deriv"))
        .collect();
    v.sort();
    v
}
