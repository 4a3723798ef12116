//! `deriv test`: a course's derivation scripts as snapshot tests. Every
//! `.deriv` script under the given paths is run; it passes when every
//! `expect` holds, every request is answered, and its answer key equals
//! the snapshot stored beside it (`snapshots/NAME.FORMAT.snap`, in insta's
//! layout: a short header, then the key). A missing or changed key is
//! written as `.snap.new` for review; with `accept`, it is written in
//! place.
//!
//! A key is made from the script's file name, not its path, so that a
//! snapshot is the same whichever folder the suite is run from.

use crate::diag::{Diagnostics, Source};
use crate::print::{render, verdict_lines, Format, PrintOptions};
use crate::Options;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How to run a suite.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// The format the snapshots are kept in.
    pub format: Format,
    /// Write missing and changed snapshots in place instead of `.snap.new`.
    pub accept: bool,
    /// Colour the diffs (for a terminal).
    pub color: bool,
    /// How each script is run.
    pub run: Options,
}

/// The outcome of a suite: the report to print and the counts.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// What was found, script by script, then the summary line.
    pub report: String,
    /// Scripts that passed.
    pub passed: usize,
    /// Scripts that failed.
    pub failed: usize,
}

/// A suite that could not start: a path that does not exist, or paths
/// without any script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

/// The file extension of a format's snapshots.
fn format_name(format: Format) -> &'static str {
    match format {
        Format::Text => "text",
        Format::Latex => "latex",
        Format::Markdown => "markdown",
        Format::Json => "json",
    }
}

/// Every `.deriv` script under `paths`, in a fixed order: a file given by
/// name is taken whatever its extension; folders are searched below,
/// skipping hidden folders and `snapshots/`.
pub fn scripts(paths: &[PathBuf]) -> Result<Vec<PathBuf>, UsageError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| UsageError(format!("cannot read `{}`: {e}", p.display())))?;
        if meta.is_dir() {
            let before = out.len();
            walk(p, &mut out)?;
            if out.len() == before {
                return Err(UsageError(format!(
                    "no `.deriv` scripts under `{}`",
                    p.display()
                )));
            }
        } else {
            out.push(p.clone());
        }
    }
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), UsageError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| UsageError(format!("cannot read `{}`: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.is_dir() {
            if !name.starts_with('.') && name != "snapshots" {
                walk(&p, out)?;
            }
        } else if name.ends_with(".deriv") {
            out.push(p);
        }
    }
    Ok(())
}

/// Where a script's snapshot in `format` lives.
pub fn snapshot_path(script: &Path, format: Format) -> PathBuf {
    let dir = script.parent().unwrap_or_else(|| Path::new(""));
    let stem = script
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join("snapshots")
        .join(format!("{stem}.{}.snap", format_name(format)))
}

/// A snapshot file's text: insta's header, then the key.
pub fn snapshot_text(script_name: &str, format: Format, key: &str) -> String {
    format!(
        "---\nsource: {script_name}\nexpression: deriv run --format {}\n---\n{key}",
        format_name(format)
    )
}

/// The key a snapshot file holds, or why it holds none.
pub fn snapshot_body(text: &str) -> Result<&str, String> {
    let rest = text
        .strip_prefix("---\n")
        .ok_or("it does not start with a `---` header line")?;
    let end = rest
        .find("\n---\n")
        .ok_or("its header has no closing `---` line")?;
    Ok(&rest[end + 5..])
}

/// A unified diff of two keys, `-` the snapshot and `+` the new key.
fn diff(old: &str, new: &str, color: bool) -> String {
    let d = similar::TextDiff::from_lines(old, new);
    let text = d
        .unified_diff()
        .context_radius(3)
        .header("snapshot", "new key")
        .to_string();
    if !color {
        return text;
    }
    text.lines()
        .map(|l| {
            if l.starts_with('+') && !l.starts_with("+++") {
                format!("\x1b[32m{l}\x1b[0m\n")
            } else if l.starts_with('-') && !l.starts_with("---") {
                format!("\x1b[31m{l}\x1b[0m\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// Indents every line of `text` by two spaces.
fn indented(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// Runs one script: its problems, each a paragraph, or none.
fn check_script(path: &Path, opts: &SuiteOptions) -> Vec<String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let read = std::fs::File::open(path)
        .map_err(|e| format!("cannot read the script: {e}"))
        .and_then(|f| Source::read(&name, f));
    let source = match read {
        Ok(s) => s,
        Err(e) => return vec![e],
    };
    let run = match crate::run(&source, &opts.run) {
        Ok(r) => r,
        Err(d) => return vec![format!("the script does not check:\n{}", d.render(&source))],
    };
    let mut problems = Vec::new();
    if !run.problems.is_empty() {
        problems.push(format!(
            "a request could not be answered:\n{}",
            Diagnostics(run.problems.clone()).render(&source)
        ));
    }
    let model = &run.key.model;
    for a in &run.key.answers {
        let Some(req) = model.requests.get(a.request) else {
            continue;
        };
        if let Some(f) = &a.failed {
            problems.push(format!(
                "line {}: {}",
                req.line,
                crate::print::failure_text(f)
            ));
        }
        match &a.verdict {
            Some(
                v @ (crate::key::Verdict::Refuted { .. } | crate::key::Verdict::NotProven { .. }),
            ) => {
                let (first, rest) = verdict_lines(v, &model.symbols);
                let mut p = format!("line {}: {}\n  {first}", req.line, req.text);
                for r in rest {
                    let _ = write!(p, "\n    {r}");
                }
                problems.push(p);
            }
            Some(crate::key::Verdict::Proven) | None => {}
        }
    }
    let key = render(&run.key, opts.format, &PrintOptions::default());
    if let Some(p) = compare(path, &name, &key, opts) {
        problems.push(p);
    }
    problems
}

/// Compares a key with its snapshot, writing the new one where it is
/// missing or changed: the problem, if any.
fn compare(path: &Path, name: &str, key: &str, opts: &SuiteOptions) -> Option<String> {
    let snap = snapshot_path(path, opts.format);
    let new_path = snap.with_extension("snap.new");
    let fresh = snapshot_text(name, opts.format, key);
    let stored = match std::fs::read(&snap) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Some(format!(
                "cannot read the snapshot `{}`: {e}",
                snap.display()
            ))
        }
    };
    let (problem, matches) = match &stored {
        None => (format!("no snapshot `{}` yet", snap.display()), false),
        Some(text) => match snapshot_body(text) {
            Err(why) => (
                format!("the snapshot `{}` cannot be read: {why}", snap.display()),
                false,
            ),
            Ok(body) if body == key => (String::new(), true),
            Ok(body) => (
                format!(
                    "the answer key changed:\n{}",
                    indented(&diff(body, key, opts.color))
                ),
                false,
            ),
        },
    };
    if matches {
        // A stale `.snap.new` from an earlier run says nothing now.
        let _ = std::fs::remove_file(&new_path);
        return None;
    }
    let target = if opts.accept { &snap } else { &new_path };
    let written = snap
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(target, &fresh));
    if let Err(e) = written {
        return Some(format!(
            "{problem}\n  cannot write `{}`: {e}",
            target.display()
        ));
    }
    if opts.accept {
        let _ = std::fs::remove_file(&new_path);
        return None;
    }
    Some(format!(
        "{problem}\n  the new key is in `{}`; review it and run `deriv test --accept` to keep it",
        new_path.display()
    ))
}

/// Runs every script under `paths` and reports on each.
pub fn run_suite(paths: &[PathBuf], opts: &SuiteOptions) -> Result<Summary, UsageError> {
    let scripts = scripts(paths)?;
    let mut s = Summary::default();
    for path in &scripts {
        let problems = check_script(path, opts);
        if problems.is_empty() {
            s.passed += 1;
            let _ = writeln!(s.report, "PASS {}", path.display());
        } else {
            s.failed += 1;
            let _ = writeln!(s.report, "FAIL {}", path.display());
            for p in problems {
                s.report.push_str(&indented(&p));
            }
        }
    }
    let _ = writeln!(s.report, "\n{} passed, {} failed", s.passed, s.failed);
    Ok(s)
}
