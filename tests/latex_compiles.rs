//! The LaTeX answer key of every script in `derivations/` and the fixture
//! folders compiles with a real `pdflatex`, run the way an answer key from
//! someone else should be: no shell escape, and files read or written only
//! below the working directory; and no line of it leaves the page (no
//! `Overfull \hbox` in the log).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use deriv::diag::Source;
use deriv::print::{render, Format, PrintOptions};
use deriv::Options;
use std::path::Path;
use std::process::Command;

/// Compiles `tex` in a fresh directory; returns pdflatex's log on failure.
fn compile(name: &str, tex: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join(format!("{name}.tex"));
    std::fs::write(&file, tex).map_err(|e| e.to_string())?;
    let out = Command::new("pdflatex")
        .args([
            "-no-shell-escape",
            "-interaction=nonstopmode",
            "-halt-on-error",
        ])
        .arg(format!("{name}.tex"))
        .current_dir(dir.path())
        .env("openin_any", "p")
        .env("openout_any", "p")
        .output()
        .map_err(|e| e.to_string())?;
    let pdf = dir.path().join(format!("{name}.pdf"));
    let log = std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap_or_default();
    if out.status.success() && pdf.exists() {
        match log.find("Overfull \\hbox") {
            Some(at) => Err(format!(
                "a line leaves the page:\n{}\n---\n{tex}",
                &log[at..(at + 400).min(log.len())]
            )),
            None => Ok(()),
        }
    } else {
        Err(format!(
            "{}\n---\n{tex}",
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

/// Whether pdflatex can be run; if not, says so loudly (and fails when the
/// environment requires it, as CI does).
pub fn have_pdflatex() -> bool {
    let found = Command::new("pdflatex")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let msg = "SKIPPED: pdflatex is not installed, so no LaTeX answer key was compiled \
                   (install texlive-latex-base and texlive-latex-recommended)";
        assert!(
            std::env::var_os("DERIV_REQUIRE_PDFLATEX").is_none(),
            "{msg}"
        );
        eprintln!("\n\n!!! {msg} !!!\n\n");
    }
    found
}

fn latex_of(path: &Path, fragment: bool) -> String {
    latex_with(path, fragment, &Options::default())
}

fn latex_with(path: &Path, fragment: bool, options: &Options) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let source = Source::new(path.display().to_string(), text);
    match deriv::run(&source, options) {
        Ok(run) => render(&run.key, Format::Latex, &PrintOptions { fragment }),
        Err(d) => panic!("{} was rejected:\n{}", source.name, d.render(&source)),
    }
}

/// Every script whose key is compiled: the examples and the fixtures.
fn keyed_scripts() -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = [
        "derivations",
        "tests/hostile",
        "tests/cells",
        "tests/maps",
        "tests/repro",
        "tests/grading",
    ]
    .iter()
    .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten())
    .filter_map(|e| e.ok().map(|e| e.path()))
    .filter(|p| p.extension().is_some_and(|e| e == "deriv"))
    .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no scripts in derivations/");
    paths
}

/// TeX commands a hostile script might try to smuggle into a key.
const DANGEROUS: &[&str] = &[
    "\\input",
    "\\include",
    "\\write",
    "\\immediate",
    "\\openout",
    "\\openin",
    "\\read",
    "\\catcode",
    "\\csname",
    "\\def",
    "\\let",
    "\\jobname",
    "\\relax",
    "\\endcsname",
];

#[test]
fn every_answer_key_compiles() {
    if !have_pdflatex() {
        return;
    }
    let paths = keyed_scripts();
    for (seen, path) in paths.into_iter().enumerate() {
        // The file in the temporary directory gets a plain name; the key
        // itself carries the script's name, escaped.
        let stem = format!("key{seen}");
        let tex = latex_of(&path, false);
        for d in DANGEROUS {
            assert!(!tex.contains(d), "{} puts {d} into its key", path.display());
        }
        if let Err(log) = compile(&stem, &tex) {
            panic!("{} did not compile:\n{log}", path.display());
        }
        let fragment = latex_of(&path, true);
        let wrapped = format!(
            "\\documentclass{{article}}\n\\usepackage{{amsmath,amssymb}}\n\\begin{{document}}\n{fragment}\\end{{document}}\n"
        );
        if let Err(log) = compile(&format!("{stem}-fragment"), &wrapped) {
            panic!("{} (fragment) did not compile:\n{log}", path.display());
        }
    }
}

/// Every example's and update map's key with the steps of every request
/// (`--steps`) compiles, and no line of it leaves the page: long steps
/// break, wide block matrices in a step are written with named blocks,
/// and the reasons wrap (their formulas in math mode).
#[test]
fn every_key_with_steps_compiles_within_the_page() {
    if !have_pdflatex() {
        return;
    }
    let options = Options {
        steps: true,
        ..Options::default()
    };
    let paths = common_scripts("derivations")
        .into_iter()
        .chain(common_scripts("tests/maps"));
    for (seen, path) in paths.enumerate() {
        let tex = latex_with(&path, false, &options);
        assert!(tex.contains("Step by step"), "{}", path.display());
        if let Err(log) = compile(&format!("steps{seen}"), &tex) {
            panic!("{} with steps did not compile:\n{log}", path.display());
        }
    }
}

fn common_scripts(dir: &str) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deriv"))
        .collect();
    paths.sort();
    paths
}

/// Where a long line breaks inside parentheses, the group has more than a
/// token or two before the break: no row ends in `(1` with the rest of
/// `(1 - x^2)` on the next. (Checked without pdflatex.)
#[test]
fn no_line_breaks_right_after_a_parenthesis_opens() {
    let paths = keyed_scripts();
    let mut bad = Vec::new();
    let mut breaks = 0;
    for path in paths {
        let tex = latex_of(&path, true);
        let lines: Vec<&str> = tex.lines().collect();
        for pair in lines.windows(2) {
            let (line, next) = (pair[0], pair[1]);
            let Some(body) = line.strip_suffix(" \\\\") else {
                continue;
            };
            if !next.starts_with("&\\quad") {
                continue;
            }
            breaks += 1;
            // The contents of the innermost parenthesis still open.
            let mut open: Vec<usize> = Vec::new();
            for (k, c) in body.char_indices() {
                match c {
                    '(' => open.push(k + 1),
                    ')' => {
                        open.pop();
                    }
                    _ => {}
                }
            }
            if let Some(&k) = open.last() {
                let inside = body[k..].chars().filter(|c| c.is_alphanumeric()).count();
                if inside < 4 {
                    bad.push(format!("{}: `{line}`", path.display()));
                }
            }
        }
    }
    assert!(breaks > 20, "only {breaks} broken lines seen");
    assert!(
        bad.is_empty(),
        "lines broken right after a parenthesis:\n{}",
        bad.join("\n")
    );
}
