//! Worked steps, printed: under each result, its left side, then one line
//! per step (`= ...`) with why it follows. Text indents the reasons under
//! their steps; LaTeX sets an `align*` per result with each reason in
//! `\text{}` on the row below its step (a reason beside a long right side
//! would leave the page); Markdown gives each step its `$$` block and its
//! reason as a line of text; JSON gives each step's `rhs`, `latex` and
//! `why`.

use super::{latex, lhs_latex, lhs_plain, plain, rhs_latex, rhs_plain, size_text};
use crate::ir::Symbols;
use crate::key::{Derived, Part, Step};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The reason as text in the language's syntax; `code` marks mathematics
/// (backticks in Markdown, nothing in the text key).
pub(super) fn why_text(why: &[Part], s: &Symbols, code: bool) -> String {
    let quote = |t: String| if code { format!("`{t}`") } else { t };
    why.iter()
        .map(|p| match p {
            Part::Text(t) => t.clone(),
            Part::Code(t) => quote(t.clone()),
            Part::Expr(e) => quote(plain::expr(s, e)),
            Part::Equation(a, b) => quote(format!("{} = {}", plain::expr(s, a), plain::expr(s, b))),
            Part::Poly(p) => quote(size_text(p, s)),
            Part::Words { plain, .. } => (*plain).to_owned(),
        })
        .collect()
}

/// The reason as LaTeX text with inline math.
pub(super) fn why_latex(why: &[Part], s: &Symbols) -> String {
    why.iter()
        .map(|p| match p {
            Part::Text(t) => latex::escape_text(t),
            Part::Code(t) => format!("\\texttt{{{}}}", latex::escape_text(t)),
            Part::Expr(e) => format!("${}$", latex::expr(s, e)),
            Part::Equation(a, b) => {
                format!("${} = {}$", latex::expr(s, a), latex::expr(s, b))
            }
            Part::Poly(p) => format!("${}$", latex::poly(p, s)),
            Part::Words { latex, .. } => (*latex).to_owned(),
        })
        .collect()
}

/// The steps under a result in the text key.
pub fn text(out: &mut String, d: &Derived, steps: &[Step], s: &Symbols) {
    if steps.is_empty() {
        return;
    }
    let _ = writeln!(out, "    step by step:");
    let _ = writeln!(out, "    {}", lhs_plain(&d.lhs, s));
    for st in steps {
        let _ = writeln!(out, "      = {}", rhs_plain(&st.rhs, s));
        let _ = writeln!(out, "          {}", why_text(&st.why, s, false));
    }
}

/// The steps under a result in LaTeX: one `align*`. A long right side
/// breaks into further rows; a block matrix too wide for the page is
/// written with named blocks, each given on a row below its step (as the
/// result is).
pub fn latex(out: &mut String, d: &Derived, steps: &[Step], s: &Symbols) {
    if steps.is_empty() {
        return;
    }
    out.push_str("\\noindent Step by step:\n\\begin{align*}\n");
    let _ = writeln!(out, "{} \\\\", lhs_latex(&d.lhs, s));
    for (k, st) in steps.iter().enumerate() {
        let rows = super::rows_latex(&d.lhs, &st.rhs, s);
        for (j, (name, value)) in rows.iter().enumerate() {
            if j == 0 {
                let _ = writeln!(out, "&= {value} \\\\");
            } else {
                let _ = writeln!(out, "&\\quad {name} = {value} \\\\");
            }
        }
        let end = if k + 1 < steps.len() { " \\\\" } else { "" };
        let _ = writeln!(
            out,
            "&\\qquad \\text{{\\parbox[t]{{0.65\\linewidth}}{{\\raggedright\\small {}}}}}{end}",
            why_latex(&st.why, s)
        );
    }
    out.push_str("\\end{align*}\n");
}

/// The steps under a result in Markdown: each step a `$$` block, its
/// reason below it.
pub fn markdown(out: &mut String, d: &Derived, steps: &[Step], s: &Symbols) {
    if steps.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Step by step, `{}`:\n",
        lhs_plain(&d.lhs, s).replace('`', "'")
    );
    for st in steps {
        let _ = writeln!(out, "$$\n= {}\n$$\n", rhs_latex(&st.rhs, s));
        let _ = writeln!(out, "*{}*\n", why_text(&st.why, s, true));
    }
}

/// The steps of a result in JSON.
pub fn json(steps: &[Step], s: &Symbols) -> Value {
    Value::Array(
        steps
            .iter()
            .map(|st| {
                json!({
                    "rhs": rhs_plain(&st.rhs, s),
                    "latex": rhs_latex(&st.rhs, s),
                    "why": why_text(&st.why, s, false),
                    "why_latex": why_latex(&st.why, s),
                })
            })
            .collect(),
    )
}
