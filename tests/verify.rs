//! `deriv verify` checks every derived result of every example script and
//! passes; its table names each result with the way it was checked.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

/// `deriv verify PATH`.
fn verify(path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_deriv"))
        .arg("verify")
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn every_example_verifies() {
    let paths = common::scripts("derivations");
    for path in paths {
        let out = verify(&path);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{}:\n{text}", path.display());
        assert!(text.contains(" 0 failed"), "{}:\n{text}", path.display());
        assert!(!text.contains("FAIL"), "{}:\n{text}", path.display());
    }
}

#[test]
fn the_table_covers_each_kind_of_result() {
    let run = |p: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_deriv"))
            .args(["verify", p])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let lstm = run("derivations/lstm.deriv");
    assert!(lstm.contains("bar(c[t])") && lstm.contains("the loss differentiated numerically"));
    assert!(lstm.contains("assumptions substituted"));
    let momentum = run("derivations/momentum.deriv");
    assert!(momentum.contains("round trip") && momentum.contains("numeric determinant"));
    let grid = run("derivations/grid_rnn.deriv");
    assert!(grid.contains("depth(h[i, j])") && grid.contains("explicit dependence graph"));
}

/// A request that was not answered is not reported as checked: an inverse
/// with no equations has no round trip to pass. The run exits 2 for the
/// request, and the Jacobian beside it is still checked.
#[test]
fn an_unanswered_request_is_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("descent.deriv");
    std::fs::write(
        &path,
        "dim D\nindex k\nparam eps : scalar\nfn F : D -> scalar\n\
         theta[k+1] = theta[k] - eps * grad F(theta[k])\n\
         derive J = jacobian (theta[k+1]) wrt (theta[k])\nderive inverse\n",
    )
    .unwrap();
    let out = verify(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("finite differences of the forward step"),
        "{text}"
    );
    assert!(!text.contains("inverse"), "{text}");
}
