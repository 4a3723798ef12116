//! Worked steps, printed: under each result, its left side, then one line
//! per step (`= ...`) with why it follows. Text indents the reasons under
//! their steps; LaTeX sets an `align*` per result with each reason in
//! `\text{}` on the row below its step (a reason beside a long right side
//! would leave the page); Markdown gives each step its `$$` block and its
//! reason as a line of text; JSON gives each step's `rhs`, `latex` and
//! `why`.

use super::{latex, lhs_latex, lhs_plain, plain, rhs_latex, rhs_plain, size_text};
use crate::ir::Symbols;
use crate::key::{Answer, AnswerKey, Derived, Part, Step};
use serde_json::{json, Value};
use std::borrow::Cow;
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
            Part::Code(t) => code_latex(t),
            Part::Expr(e) => format!("${}$", latex::expr(s, e)),
            Part::Equation(a, b) => {
                format!("${} = {}$", latex::expr(s, a), latex::expr(s, b))
            }
            Part::Poly(p) => format!("${}$", latex::poly(p, s)),
            Part::Words { latex, .. } => (*latex).to_owned(),
        })
        .collect()
}

/// The steps a claim's answer shows under equation `eq`: where an earlier
/// answer of the key showed the same derivation of the same left side
/// (the claim names a result derived with steps above it), those steps
/// are one step that refers to it, and only the steps after them follow
/// (the claim joined to the derivation).
pub fn of_claim<'a>(key: &AnswerKey, a: &'a Answer, eq: usize) -> Cow<'a, [Step]> {
    let own = a.steps.get(eq).map_or(&[][..], Vec::as_slice);
    let Some(d) = a.equations.get(eq) else {
        return Cow::Borrowed(own);
    };
    let earlier = key
        .answers
        .iter()
        .take_while(|b| b.request < a.request)
        .flat_map(|b| {
            b.equations
                .iter()
                .zip(&b.steps)
                .map(move |(e, st)| (b, e, st))
        })
        .filter(|(_, e, st)| e.lhs == d.lhs && st.len() > 1 && repeats(own, st))
        .min_by_key(|(_, _, st)| std::cmp::Reverse(st.len()));
    let Some((b, _, shown)) = earlier else {
        return Cow::Borrowed(own);
    };
    let Some(line) = key.model.requests.get(b.request).map(|r| r.line) else {
        return Cow::Borrowed(own);
    };
    let Some(last) = shown.last() else {
        return Cow::Borrowed(own);
    };
    // The claim's own last step of those may say more (that it is the
    // claim as written): that is kept.
    let mine = &own[shown.len() - 1].why;
    let more = mine.strip_prefix(last.why.as_slice()).unwrap_or(&[]);
    let mut why = vec![Part::Text(format!(
        "as derived step by step under line {line} above ({} steps)",
        shown.len()
    ))];
    why.extend(more.iter().cloned());
    let mut out = vec![Step {
        rhs: last.rhs.clone(),
        why,
        assumed: last.assumed,
    }];
    out.extend(own[shown.len()..].iter().cloned());
    Cow::Owned(out)
}

/// The reason of a derivation of one step that ends at the result shown
/// above it: printed as that reason alone, not as the equation again.
fn only_reason<'s>(d: &Derived, steps: &'s [Step]) -> Option<&'s [Part]> {
    match steps {
        [one] if one.rhs == d.rhs => Some(&one.why),
        _ => None,
    }
}

/// Whether `own` starts with the steps `shown`, the last of them with the
/// same right side (its reason may say more).
fn repeats(own: &[Step], shown: &[Step]) -> bool {
    let n = shown.len();
    n > 0
        && own.len() >= n
        && own[..n - 1] == shown[..n - 1]
        && own[n - 1].rhs == shown[n - 1].rhs
        && own[n - 1].assumed == shown[n - 1].assumed
}

/// A word of the language in a reason, set as the formulas set it: an
/// operator or a function a value flows through (`.*` as `\odot`, `tanh`
/// as `\tanh`, `ell` as `\ell`, `*` as the word "products"), anything
/// else in typewriter type.
fn code_latex(t: &str) -> String {
    use crate::ir::act::{Act, Latex};
    let (name, prime) = match t.strip_suffix('\'') {
        Some(n) => (n, "'"),
        None => (t, ""),
    };
    let math = |m: String| format!("${m}$");
    let word = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphabetic());
    match name {
        "*" => "products".to_owned(),
        ".*" => math("\\odot".to_owned()),
        "./" => math("\\oslash".to_owned()),
        "/" => math("/".to_owned()),
        "sum" => math("\\sum".to_owned()),
        "prod" => math("\\prod".to_owned()),
        "det" => math("\\det".to_owned()),
        "inv" => "the inverse".to_owned(),
        "diag" | "softmax" | "tr" => math(format!("\\operatorname{{{name}}}")),
        _ => match (name.split_once(' '), Act::from_name(name)) {
            (Some(("grad", f)), _) => math(format!("\\nabla {}", latex::name(f))),
            (Some(("hess", f)), _) => math(format!("\\nabla^2 {}", latex::name(f))),
            (_, Some(act)) => math(match act.row().latex {
                Latex::Operator(op) => format!("{op}{prime}"),
                Latex::Wrap { open, close, .. } if prime.is_empty() => {
                    format!("{open}\\cdot{close}")
                }
                Latex::Wrap { prime_name, .. } => format!("{prime_name}'"),
            }),
            _ if word => math(format!("{}{prime}", latex::name(name))),
            _ => format!("\\texttt{{{}}}", latex::escape_text(t)),
        },
    }
}

/// The steps under a result in the text key.
pub fn text(out: &mut String, d: &Derived, steps: &[Step], s: &Symbols) {
    if steps.is_empty() {
        return;
    }
    if let Some(why) = only_reason(d, steps) {
        let _ = writeln!(out, "    why: {}", why_text(why, s, false));
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
    if let Some(why) = only_reason(d, steps) {
        let _ = writeln!(out, "\\noindent\\emph{{Why:}} {}\n", why_latex(why, s));
        return;
    }
    // `\*` ends a row where a page must not break: after the left side,
    // and between a step and its reason.
    out.push_str("\\noindent Step by step:\n\\begin{align*}\n");
    let _ = writeln!(out, "{} \\\\*", lhs_latex(&d.lhs, s));
    for (k, st) in steps.iter().enumerate() {
        let rows = super::rows_latex(&d.lhs, &st.rhs, s);
        for (j, (name, value)) in rows.iter().enumerate() {
            let end = if j + 1 == rows.len() { "\\\\*" } else { "\\\\" };
            if j == 0 {
                let _ = writeln!(out, "&= {value} {end}");
            } else {
                let _ = writeln!(out, "&\\quad {name} = {value} {end}");
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
    if let Some(why) = only_reason(d, steps) {
        let _ = writeln!(out, "*Why:* {}\n", why_text(why, s, true));
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
