//! Printers: the answer key in plain text, LaTeX, Markdown and JSON. The
//! expression printers live in `plain` and `latex` and share one
//! precedence table; this module lays out whole documents.

pub mod latex;
pub mod notes;
mod steps;

/// The language's own text of an expression (what the text key prints).
pub use crate::ir::text as plain;

mod json;

use crate::ir::{Ix, Node, Symbols};
use crate::key::{Answer, AnswerKey, Derived, Lhs, Rhs, Verdict};
use crate::model::{Item, Model, RequestKind};
use crate::poly::Poly;
use crate::shape::Shape;
use egg::{Id, RecExpr};
use std::fmt::Write as _;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text in the language's syntax.
    Text,
    /// A LaTeX document (or fragment).
    Latex,
    /// Markdown with `$$` math.
    Markdown,
    /// JSON for other tools.
    Json,
}

/// How to print.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintOptions {
    /// LaTeX: the body only, for `\input`.
    pub fragment: bool,
}

/// Renders an answer key.
pub fn render(key: &AnswerKey, format: Format, opts: &PrintOptions) -> String {
    crate::with_stack(|| match format {
        Format::Text => text(key),
        Format::Latex => latex_doc(key, opts),
        Format::Markdown => markdown(key),
        Format::Json => json::render(key),
    })
}

/// A size in the language's syntax.
pub fn size_text(p: &Poly, s: &Symbols) -> String {
    p.display(&|d| s.dim(d).to_owned()).to_string()
}

fn shape_text(sh: &Shape, s: &Symbols) -> String {
    let part = |p: &Poly| p.grouped(size_text(p, s));
    if sh.is_scalar() {
        "scalar".to_owned()
    } else if sh.cols.is_one() {
        size_text(&sh.rows, s)
    } else {
        format!("{} x {}", part(&sh.rows), part(&sh.cols))
    }
}

fn shape_latex(sh: &Shape, s: &Symbols) -> String {
    if sh.is_scalar() {
        "\\mathbb{R}".to_owned()
    } else if sh.cols.is_one() {
        format!("\\mathbb{{R}}^{{{}}}", latex::poly(&sh.rows, s))
    } else {
        let part = |p: &Poly| p.grouped(latex::poly(p, s));
        format!(
            "\\mathbb{{R}}^{{{} \\times {}}}",
            part(&sh.rows),
            part(&sh.cols)
        )
    }
}

/// One line of the model section, as (plain text, LaTeX math or text).
struct ModelLine {
    plain: String,
    /// LaTeX for a declaration (inline math in a sentence), or `None` for an equation.
    decl: Option<String>,
    /// An equation's sides in LaTeX.
    eq: Option<(String, String)>,
}

/// The line of a declaration of variables of one shape (`input x[t] : D`,
/// `state x1[k] : A`), with its words for one and for several.
/// A declaration line of variables (`input x[t] : D`), its sentence ending
/// with `tail` (for a parameter with indices, which index values it has
/// one for).
fn variables_line(
    m: &Model,
    ids: &[u32],
    keyword: &str,
    (one, several): (&str, &str),
    tail: &str,
) -> Option<ModelLine> {
    let s = &m.symbols;
    let first = ids.first()?;
    let shape = &m.vars[*first as usize].shape;
    let refs: Vec<String> = ids.iter().map(|&v| s.ref_text(&m.plain_ref(v))).collect();
    let tex: Vec<String> = ids
        .iter()
        .map(|&v| latex::reference(s, &m.plain_ref(v)))
        .collect();
    Some(ModelLine {
        plain: format!("{keyword} {} : {}", refs.join(", "), shape_text(shape, s)),
        decl: Some(format!(
            "{} ${} \\in {}${tail}.",
            if ids.len() == 1 { one } else { several },
            tex.join(", "),
            shape_latex(shape, s)
        )),
        eq: None,
    })
}

fn model_lines(m: &Model) -> Vec<ModelLine> {
    let s = &m.symbols;
    let list = |names: Vec<String>| names.join(", ");
    let mut out = Vec::new();
    for item in &m.items {
        let line = match item {
            Item::Dims(ids) => {
                let names: Vec<String> = ids.iter().map(|&d| s.dim(d).to_owned()).collect();
                let tex: Vec<String> = ids.iter().map(|&d| latex::name(s.dim(d))).collect();
                ModelLine {
                    plain: format!("dim {}", list(names)),
                    decl: Some(format!(
                        "{} ${}$.",
                        if ids.len() == 1 { "Size" } else { "Sizes" },
                        list(tex)
                    )),
                    eq: None,
                }
            }
            Item::Indices(ids) => {
                let Some(first) = ids.first() else { continue };
                let names: Vec<String> = ids.iter().map(|&i| s.index_name(i).to_owned()).collect();
                let tex: Vec<String> = ids.iter().map(|&i| latex::name(s.index_name(i))).collect();
                let range = m.indices.get(*first as usize).and_then(|d| d.range.clone());
                let (plain, decl) = match range {
                    Some((lo, hi)) => (
                        format!(
                            "index {} in {}..{}",
                            list(names),
                            size_text(&lo, s),
                            size_text(&hi, s)
                        ),
                        format!(
                            "{} ${} \\in \\{{{}, \\dots, {}\\}}$.",
                            if ids.len() == 1 { "Index" } else { "Indices" },
                            list(tex),
                            latex::poly(&lo, s),
                            latex::poly(&hi, s)
                        ),
                    ),
                    None => (
                        format!("index {}", list(names)),
                        format!(
                            "{} ${}$.",
                            if ids.len() == 1 { "Index" } else { "Indices" },
                            list(tex)
                        ),
                    ),
                };
                ModelLine {
                    plain,
                    decl: Some(decl),
                    eq: None,
                }
            }
            Item::Params(ids) => {
                let Some(first) = ids.first() else { continue };
                let shape = m.params[*first as usize].shape.clone();
                let names: Vec<String> = ids.iter().map(|&p| s.param(p).to_owned()).collect();
                let tex: Vec<String> = ids.iter().map(|&p| latex::name(s.param(p))).collect();
                ModelLine {
                    plain: format!("param {} : {}", list(names), shape_text(&shape, s)),
                    decl: Some(format!(
                        "{} ${} \\in {}$.",
                        if ids.len() == 1 {
                            "Parameter"
                        } else {
                            "Parameters"
                        },
                        list(tex),
                        shape_latex(&shape, s)
                    )),
                    eq: None,
                }
            }
            Item::IndexedParams(ids) => {
                // One per value of its indices: say so.
                let indices: Vec<String> = ids
                    .first()
                    .map(|&v| m.vars[v as usize].indices.clone())
                    .unwrap_or_default()
                    .iter()
                    .map(|&i| latex::name(s.index_name(i)))
                    .collect();
                let tail = format!(" for each ${}$", indices.join(", "));
                match variables_line(m, ids, "param", ("Parameter", "Parameters"), &tail) {
                    Some(l) => l,
                    None => continue,
                }
            }
            Item::Inputs(ids) => match variables_line(m, ids, "input", ("Input", "Inputs"), "") {
                Some(l) => l,
                None => continue,
            },
            Item::States(ids) => match variables_line(m, ids, "state", ("State", "States"), "") {
                Some(l) => l,
                None => continue,
            },
            Item::Fn(f) => {
                let decl = &m.fns[*f as usize];
                ModelLine {
                    plain: format!(
                        "fn {} : {} -> scalar",
                        decl.name,
                        shape_text(&decl.domain, s)
                    ),
                    decl: Some(format!(
                        "Function ${} : {} \\to \\mathbb{{R}}$.",
                        latex::name(&decl.name),
                        shape_latex(&decl.domain, s)
                    )),
                    eq: None,
                }
            }
            Item::Init(k) => {
                let init = &m.inits[*k];
                let lhs = s.ref_text(&init.target);
                ModelLine {
                    plain: format!("init {lhs} = {}", plain::expr(s, &init.value)),
                    decl: None,
                    eq: Some(wrapped(latex::reference(s, &init.target), &init.value, s)),
                }
            }
            Item::Equation(k) => {
                let eq = &m.equations[*k];
                ModelLine {
                    plain: format!("{} = {}", s.ref_text(&eq.lhs), plain::expr(s, &eq.rhs)),
                    decl: None,
                    eq: Some(wrapped(latex::reference(s, &eq.lhs), &eq.rhs, s)),
                }
            }
            Item::Loss => {
                let Some(loss) = &m.loss else { continue };
                ModelLine {
                    plain: format!("loss {} = {}", loss.name, plain::expr(s, &loss.value)),
                    decl: None,
                    eq: Some(wrapped(latex::name(&loss.name), &loss.value, s)),
                }
            }
        };
        out.push(line);
    }
    out
}

/// An equation of the model in LaTeX: its left side, and its right side
/// broken into further rows where it would not fit beside it.
fn wrapped(lhs: String, rhs: &RecExpr<Node>, s: &Symbols) -> (String, String) {
    let room = display_room(&lhs);
    let rhs = latex::display(s, rhs, room);
    (lhs, rhs)
}

/// The width an equation's right side may take beside its left side
/// `lhs` (LaTeX) in a display.
fn display_room(lhs: &str) -> usize {
    latex::DISPLAY_WIDTH
        .saturating_sub(latex::width(lhs))
        .max(latex::DISPLAY_WIDTH / 2)
}

/// The left side of a derived equation in the language's syntax.
pub fn lhs_plain(lhs: &Lhs, s: &Symbols) -> String {
    match lhs {
        Lhs::Expr(e) => plain::expr(s, e),
        Lhs::Matrix(n) => n.clone(),
        Lhs::Det(n) => format!("det({n})"),
        Lhs::Params => "params".to_owned(),
        Lhs::Macs(r) => format!("macs({})", s.ref_text(r)),
        Lhs::Depth(r) => format!("depth({})", s.ref_text(r)),
    }
}

/// The left side of a derived equation in LaTeX.
pub fn lhs_latex(lhs: &Lhs, s: &Symbols) -> String {
    match lhs {
        Lhs::Expr(e) => latex::expr(s, e),
        Lhs::Matrix(n) => latex::name(n),
        Lhs::Det(n) => format!("\\det({})", latex::name(n)),
        Lhs::Params => "\\operatorname{params}".to_owned(),
        Lhs::Macs(r) => format!("\\operatorname{{macs}}({})", latex::reference(s, r)),
        Lhs::Depth(r) => format!("\\operatorname{{depth}}({})", latex::reference(s, r)),
    }
}

/// A count's terms in LaTeX: `+`-joined, broken into further rows before
/// a `+` where a row would not fit `room`.
fn terms_display(ts: &[Poly], s: &Symbols, room: usize) -> String {
    let shown: Vec<String> = ts.iter().map(|p| p.grouped(latex::poly(p, s))).collect();
    if shown.is_empty() {
        return "0".to_owned();
    }
    let mut out = String::new();
    let mut line = String::new();
    for t in shown {
        if line.is_empty() {
            line = t;
        } else if latex::width(&format!("{line} + {t}")) > room {
            out.push_str(&line);
            out.push_str(latex::BREAK);
            line = format!(" + {t}");
        } else {
            line = format!("{line} + {t}");
        }
    }
    out.push_str(&line);
    out
}

/// Terms joined by `+`, each as `show` writes it; `0` for none.
fn terms(ts: &[Poly], show: impl Fn(&Poly) -> String) -> String {
    if ts.is_empty() {
        return "0".to_owned();
    }
    ts.iter().map(show).collect::<Vec<_>>().join(" + ")
}

/// The right side of a derived equation in the language's syntax.
pub fn rhs_plain(rhs: &Rhs, s: &Symbols) -> String {
    match rhs {
        Rhs::Expr(e) => plain::expr(s, e),
        Rhs::Poly(p) => size_text(p, s),
        Rhs::Terms(ts) => terms(ts, |p| p.grouped(size_text(p, s))),
    }
}

/// The right side of a derived equation in LaTeX.
pub fn rhs_latex(rhs: &Rhs, s: &Symbols) -> String {
    match rhs {
        Rhs::Expr(e) => latex::expr(s, e),
        Rhs::Poly(p) => latex::poly(p, s),
        Rhs::Terms(ts) => terms_display(ts, s, usize::MAX),
    }
}

/// An equation as `align*` rows: its two sides, a long right side broken
/// into further rows. A block matrix too wide for the page is written with
/// its blocks named (`J_{21}`), each block then given on its own row.
pub(crate) fn rows_latex(lhs: &Lhs, rhs: &Rhs, s: &Symbols) -> Vec<(String, String)> {
    let l = lhs_latex(lhs, s);
    let room = display_room(&l);
    if let Rhs::Terms(ts) = rhs {
        return vec![(l, terms_display(ts, s, room))];
    }
    let Rhs::Expr(e) = rhs else {
        return vec![(l, rhs_latex(rhs, s))];
    };
    let whole = latex::display(s, e, room);
    let root = crate::ir::root(e);
    if let (Node::Block(_), Lhs::Matrix(name)) = (&e[root], lhs) {
        if block_width(e, s, root) <= room {
            return vec![(l, whole)];
        }
        let (matrix, blocks) = named_blocks(e, s, root, &latex::name(name));
        let mut out = vec![(l, matrix)];
        out.extend(blocks);
        return out;
    }
    // A wide block matrix inside the result (the determinant of one no
    // rule reduces): named `\mathcal{B}`, given below with its blocks.
    let wide = e
        .as_ref()
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n, Node::Block(_)))
        .map(|(k, _)| (block_width(e, s, Id::from(k)), Id::from(k)))
        .max();
    match wide {
        Some((w, b)) if w > room => {
            let base = "\\mathcal{B}";
            let block = latex::expr(s, &crate::ir::build::subtree(e, b));
            let main = latex::expr(s, e)
                .replace(&block, base)
                .replace(&format!("\\Bigl({base}\\Bigr)"), &format!("({base})"));
            let (matrix, blocks) = named_blocks(e, s, b, base);
            let mut out = vec![(l, main), (base.to_owned(), matrix)];
            out.extend(blocks);
            out
        }
        _ => vec![(l, whole)],
    }
}

/// How wide the block matrix at `id` sets: as wide as its widest row of
/// cells.
fn block_width(e: &egg::RecExpr<Node>, s: &Symbols, id: Id) -> usize {
    let Node::Block(rows) = &e[id] else {
        return 0;
    };
    rows.iter()
        .map(|r| {
            let cells: Vec<Id> = match &e[*r] {
                Node::Row(cells) => cells.to_vec(),
                _ => vec![*r],
            };
            cells
                .iter()
                .map(|c| latex::width(&latex::expr(s, &crate::ir::build::subtree(e, *c))) + 2)
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0)
}

/// The block matrix at `id` with its blocks named after `base`
/// (`J_{21}`), and a row giving each block.
fn named_blocks(
    e: &egg::RecExpr<Node>,
    s: &Symbols,
    id: Id,
    base: &str,
) -> (String, Vec<(String, String)>) {
    let Node::Block(rows) = &e[id] else {
        return (latex::expr(s, e), Vec::new());
    };
    let mut names = Vec::new();
    let mut blocks = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<Id> = match &e[*r] {
            Node::Row(cells) => cells.to_vec(),
            _ => vec![*r],
        };
        let mut row = Vec::new();
        for (j, c) in cells.iter().enumerate() {
            let block = format!("{{{base}}}_{{{}{}}}", i + 1, j + 1);
            let sub = crate::ir::build::subtree(e, *c);
            let room = latex::DISPLAY_WIDTH.saturating_sub(latex::width(&block));
            blocks.push((block.clone(), latex::display(s, &sub, room)));
            row.push(block);
        }
        names.push(row.join(" & "));
    }
    (
        format!(
            "\\begin{{bmatrix}} {} \\end{{bmatrix}}",
            names.join(" \\\\ ")
        ),
        blocks,
    )
}

/// The rows of a list of equations.
fn align_rows<'d>(
    eqs: impl IntoIterator<Item = &'d Derived>,
    s: &Symbols,
) -> Vec<(String, String)> {
    eqs.into_iter()
        .flat_map(|d| rows_latex(&d.lhs, &d.rhs, s))
        .collect()
}

/// A claim of an `expect` as the equation it states.
/// `None` for a claim that has no value (its shapes do not fit), which is
/// shown as written.
fn claim_derived(
    m: &Model,
    lhs: &crate::model::Claim,
    rhs: &crate::model::Claimed,
) -> Option<Derived> {
    use crate::model::{Claim, Claimed};
    let name = |k: &usize| match m.requests.get(*k).map(|r| &r.kind) {
        Some(RequestKind::Jacobian { name, .. }) => name.clone(),
        _ => "J".to_owned(),
    };
    let leaf = |l: crate::ir::Leaf| {
        let mut e = egg::RecExpr::default();
        e.add(crate::ir::Node::Leaf(l));
        Lhs::Expr(e)
    };
    let lhs = match lhs {
        Claim::Adjoint(t) => leaf(crate::ir::Leaf::Bar(t.clone())),
        Claim::Jacobian(k) => Lhs::Matrix(name(k)),
        Claim::Det(k) => Lhs::Det(name(k)),
        Claim::Inverse(r) => leaf(crate::ir::Leaf::Var(r.clone())),
        Claim::Params => Lhs::Params,
        Claim::Macs(r) => Lhs::Macs(r.clone()),
        Claim::Depth(r) => Lhs::Depth(r.clone()),
    };
    let rhs = match rhs {
        Claimed::Expr(e) => Rhs::Expr(e.clone()),
        Claimed::Poly(p) => Rhs::Poly(p.clone()),
        Claimed::IllTyped { .. } => return None,
    };
    Some(Derived { lhs, rhs })
}

/// A claim about an adjoint in the indices it was written in
/// (`bar(h[l-1]) = W[l]^T * bar(a[l])`), where it was moved to its
/// result's frame (see `RequestKind::Expect`).
fn as_written(d: Derived, at: &[(u32, i64)]) -> Derived {
    if at.is_empty() {
        return d;
    }
    let by = |i: u32| at.iter().find(|x| x.0 == i).map_or(0, |x| x.1);
    let lhs = match &d.lhs {
        Lhs::Expr(e) => match e.as_ref() {
            [crate::ir::Node::Leaf(crate::ir::Leaf::Bar(crate::ir::Target::Var(r)))] => {
                let mut out = egg::RecExpr::default();
                out.add(crate::ir::Node::Leaf(crate::ir::Leaf::Bar(
                    crate::ir::Target::Var(r.shifted(&by)),
                )));
                Lhs::Expr(out)
            }
            _ => return d,
        },
        _ => return d,
    };
    let rhs = match &d.rhs {
        Rhs::Expr(e) => Rhs::Expr(crate::ir::shift(e, &by)),
        _ => return d,
    };
    Derived { lhs, rhs }
}

fn derived_plain(d: &Derived, s: &Symbols) -> String {
    format!("{} = {}", lhs_plain(&d.lhs, s), rhs_plain(&d.rhs, s))
}

/// The heading of an answer: the request as written.
fn heading(m: &Model, a: &Answer) -> (usize, String) {
    m.requests
        .get(a.request)
        .map_or((0, String::new()), |r| (r.line, r.text.clone()))
}

/// Assumptions as LaTeX math: `p^{(t)} = 1,\\ i^{(t)} = 0`, then those
/// about sums of entries, `\operatorname{sum}(y) = 1`.
fn assumptions_latex(
    m: &Model,
    list: &[crate::model::Assumption],
    sums: &[crate::model::SumAssumption],
) -> String {
    let s = &m.symbols;
    list.iter()
        .map(|x| {
            format!(
                "{} = {}",
                latex::reference(s, &x.target),
                latex::expr(s, &x.value)
            )
        })
        .chain(sums.iter().map(|x| {
            format!(
                "\\operatorname{{sum}}({}) = {}",
                latex::reference(s, &m.plain_ref(x.var)),
                latex::number(&x.value, false)
            )
        }))
        .collect::<Vec<_>>()
        .join(",\\ ")
}

/// Numeric evidence in words, for LaTeX: numbers in math with real minus
/// signs, and settings such as `D = 3` as formulas.
fn evidence_latex(text: &str) -> String {
    fn number(t: &str) -> Option<(&str, &str)> {
        let end = t.trim_end_matches([',', ':', ';', ')', '.']);
        let punct = &t[end.len()..];
        let digits = end.strip_prefix('-').unwrap_or(end);
        let is_number = !digits.is_empty()
            && digits.starts_with(|c: char| c.is_ascii_digit())
            && digits
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
        is_number.then_some((end, punct))
    }
    let tokens: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<String> = Vec::new();
    let mut k = 0;
    while k < tokens.len() {
        let t = tokens[k];
        let name = !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if name && tokens.get(k + 1) == Some(&"=") {
            if let Some((n, punct)) = tokens.get(k + 2).and_then(|v| number(v)) {
                out.push(format!(
                    "${} = {n}${}",
                    latex::name(t),
                    latex::escape_text(punct)
                ));
                k += 3;
                continue;
            }
        }
        match number(t) {
            Some((n, punct)) => out.push(format!("${n}${}", latex::escape_text(punct))),
            None => out.push(latex::escape_text(t)),
        }
        k += 1;
    }
    let mut joined = out.join(" ");
    if joined.ends_with('.') {
        joined.pop();
    }
    joined
}

/// Equations as a Markdown math block.
fn md_align(out: &mut String, eqs: &[Derived], s: &Symbols) {
    if eqs.is_empty() {
        return;
    }
    out.push_str("$$\n\\begin{aligned}\n");
    let rows = align_rows(eqs, s);
    for (k, (l, r)) in rows.iter().enumerate() {
        let end = if k + 1 < rows.len() { " \\\\" } else { "" };
        let _ = writeln!(out, "{l} &= {r}{end}");
    }
    out.push_str("\\end{aligned}\n$$\n\n");
}

/// Whether an answer is for an `expect`.
fn is_claim(a: &Answer, m: &Model) -> bool {
    matches!(
        m.requests.get(a.request).map(|r| &r.kind),
        Some(RequestKind::Expect { .. })
    )
}

/// Why a request has no answer, in words: `not answered: ...`, or for a
/// claim `NOT CHECKED: ...`.
pub fn refusal_text(a: &Answer, r: &crate::key::Refusal, m: &Model) -> String {
    if is_claim(a, m) {
        format!("NOT CHECKED: {}", r.message)
    } else {
        format!("not answered: {}", r.message)
    }
}

/// The verdict of an `expect` in words, one line, then details.
pub fn verdict_lines(v: &Verdict, s: &Symbols) -> (String, Vec<String>) {
    match v {
        Verdict::Proven => (
            "proven: the claim and the derived form are equal".to_owned(),
            Vec::new(),
        ),
        Verdict::Refuted {
            derived,
            counterexample,
        } => {
            let mut lines: Vec<String> = derived
                .iter()
                .map(|d| format!("derived: {}", derived_plain(d, s)))
                .collect();
            lines.push(format!("counterexample: {counterexample}"));
            ("REFUTED: the claim is false".to_owned(), lines)
        }
        Verdict::NotProven { derived, evidence } => {
            let mut lines: Vec<String> = derived
                .iter()
                .map(|d| format!("derived: {}", derived_plain(d, s)))
                .collect();
            lines.push(format!("evidence: {evidence}"));
            (
                "NOT PROVEN: no proof and no counterexample was found".to_owned(),
                lines,
            )
        }
    }
}

/// What the key says about values the model reads but does not compute
/// or set: each value read past the end of a range without an `init`.
pub fn given_notes(m: &Model) -> Vec<String> {
    let s = &m.symbols;
    m.given_past_end
        .iter()
        .map(|r| {
            let index = r
                .at
                .iter()
                .find_map(|ix| match *ix {
                    Ix::End(i, _) => Some(s.index_name(i).to_owned()),
                    _ => None,
                })
                .unwrap_or_default();
            let declared = r.at.iter().all(|ix| match *ix {
                Ix::End(i, _) => s.ends.get(i as usize).is_some_and(Option::is_some),
                _ => true,
            });
            let name = s.var(r.var);
            if declared {
                format!(
                    "`{}`, past the end of the range of `{index}`, is read but not computed, and no `init` sets it: it is a given value, like a state before its first step (set it with `init {} = ...`)",
                    s.ref_text(r),
                    s.ref_text(r)
                )
            } else {
                format!(
                    "`{name}` is read past the end of the range of `{index}`, where it is not computed and no `init` sets it: those values are given, like a state before its first step (declare the range of `{index}` to set them with `init`)"
                )
            }
        })
        .collect()
}

/// What the key says in place of a result the self-check found wrong.
pub fn failure_text(f: &crate::key::SelfCheckFailure) -> String {
    format!(
        "internal error: the self-check found `{}` wrong: {}. The result is not shown. This is a bug in deriv: please report the script.",
        f.what, f.why
    )
}

fn text(key: &AnswerKey) -> String {
    let m = &key.model;
    let s = &m.symbols;
    let mut out = String::new();
    let _ = writeln!(out, "deriv answer key: {}", key.script);
    if let Some(c) = conventions_sentence(m, Convention::plain) {
        let _ = writeln!(out, "{c}");
    }
    out.push_str("\nModel\n");
    for line in model_lines(m) {
        let _ = writeln!(out, "  {}", line.plain);
    }
    for n in given_notes(m) {
        let _ = writeln!(out, "  note: {n}");
    }
    for a in &key.answers {
        let (line, head) = heading(m, a);
        let _ = writeln!(out, "\n{head}    (line {line})");
        if let Some(f) = &a.failed {
            let _ = writeln!(out, "  {}", failure_text(f));
            continue;
        }
        if let Some(r) = &a.refused {
            let _ = writeln!(out, "  {}", refusal_text(a, r, m));
            if let Some(h) = &r.hint {
                let _ = writeln!(out, "    hint: {h}");
            }
            continue;
        }
        let claim = is_claim(a, m);
        for (k, d) in a.equations.iter().enumerate() {
            if !claim {
                let _ = writeln!(out, "  {}", derived_plain(d, s));
                steps::text(&mut out, d, a.steps.get(k).map_or(&[], Vec::as_slice), s);
            }
        }
        if let Some(v) = &a.verdict {
            let (first, rest) = verdict_lines(v, s);
            let _ = writeln!(out, "  {first}");
            for r in rest {
                let _ = writeln!(out, "    {r}");
            }
        }
        // A claim's derivation follows its verdict.
        if claim {
            for (k, d) in a.equations.iter().enumerate() {
                steps::text(&mut out, d, &steps::of_claim(key, a, k), s);
            }
        }
        for n in &a.notes {
            let _ = writeln!(out, "  note: {}", notes::text(s, n));
        }
    }
    out
}

fn markdown(key: &AnswerKey) -> String {
    let m = &key.model;
    let s = &m.symbols;
    let mut out = String::new();
    let _ = writeln!(out, "# Answer key: `{}`\n", key.script.replace('`', "'"));
    let conventions_at = out.len();
    out.push_str("## Model\n\n");
    let lines = model_lines(m);
    for l in lines
        .iter()
        .filter_map(|l| l.decl.as_ref())
        .chain(&computed_values(m))
    {
        let _ = writeln!(out, "- {l}");
    }
    let eqs: Vec<&(String, String)> = lines.iter().filter_map(|l| l.eq.as_ref()).collect();
    if !eqs.is_empty() {
        out.push_str("\n$$\n\\begin{aligned}\n");
        for (k, (l, r)) in eqs.iter().enumerate() {
            let end = if k + 1 < eqs.len() { " \\\\" } else { "" };
            let _ = writeln!(out, "{l} &= {r}{end}");
        }
        out.push_str("\\end{aligned}\n$$\n");
    }
    for n in given_notes(m) {
        let _ = writeln!(out, "\n*Note:* {n}");
    }
    for a in &key.answers {
        let (line, head) = heading(m, a);
        let claim = match m.requests.get(a.request).map(|r| &r.kind) {
            Some(RequestKind::Expect { lhs, rhs, .. }) => Some(claim_derived(m, lhs, rhs)),
            _ => None,
        };
        let as_written = m
            .requests
            .get(a.request)
            .map_or(String::new(), |r| r.text.clone());
        match &claim {
            // A claim's heading is short; the claim itself follows as math.
            Some(_) => {
                let _ = writeln!(out, "\n## Claim (line {line})\n");
            }
            None => {
                let _ = writeln!(out, "\n## `{}` (line {line})\n", head.replace('`', "'"));
            }
        }
        if let Some(f) = &a.failed {
            let _ = writeln!(out, "**{}**", failure_text(f).replace('`', "'"));
            continue;
        }
        if let Some(c) = &claim {
            match c {
                Some(c) => md_align(&mut out, std::slice::from_ref(c), s),
                None => {
                    let _ = writeln!(out, "`{}`\n", as_written.replace('`', "'"));
                }
            }
            if let Some(RequestKind::Expect { assuming, sums, .. }) =
                m.requests.get(a.request).map(|r| &r.kind)
            {
                if !assuming.is_empty() || !sums.is_empty() {
                    let _ = writeln!(
                        out,
                        "Assuming ${}$.\n",
                        assumptions_latex(m, assuming, sums)
                    );
                }
            }
        }
        if let Some(r) = &a.refused {
            let _ = writeln!(out, "**{}**", refusal_text(a, r, m));
            if let Some(h) = &r.hint {
                let _ = writeln!(out, "\n*Hint:* {h}");
            }
            continue;
        }
        if claim.is_some() {
            // A claim's derivation follows its verdict.
        } else if a.steps.iter().any(|x| !x.is_empty()) {
            for (k, d) in a.equations.iter().enumerate() {
                md_align(&mut out, std::slice::from_ref(d), s);
                steps::markdown(&mut out, d, a.steps.get(k).map_or(&[], Vec::as_slice), s);
            }
        } else {
            md_align(&mut out, &a.equations, s);
        }
        match &a.verdict {
            Some(Verdict::Proven) => {
                out.push_str("**Proven**: the claim equals the derived form.\n");
            }
            Some(Verdict::Refuted {
                derived,
                counterexample,
            }) => {
                if derived.is_empty() {
                    out.push_str("**Refuted**: the claim is false.\n\n");
                } else {
                    out.push_str("**Refuted**: the claim is false. The derived form is\n\n");
                    md_align(&mut out, derived, s);
                }
                let _ = writeln!(out, "Counterexample: {counterexample}.");
            }
            Some(Verdict::NotProven { derived, evidence }) => {
                out.push_str(
                    "**Not proven**: no proof and no counterexample was found. The derived form is\n\n",
                );
                md_align(&mut out, derived, s);
                let _ = writeln!(out, "Evidence: {evidence}.");
            }
            None => {}
        }
        if claim.is_some() {
            for (k, d) in a.equations.iter().enumerate() {
                out.push('\n');
                steps::markdown(&mut out, d, &steps::of_claim(key, a, k), s);
            }
        }
        for n in &a.notes {
            let _ = writeln!(out, "\n*Note:* {}", notes::sentence(notes::text(s, n)));
        }
    }
    if let Some(c) = latex_conventions(m, &out[conventions_at..]) {
        out.insert_str(conventions_at, &format!("{c}\n\n"));
    }
    out
}

/// Text for the LaTeX heading of a request, typeset from the checked
/// request rather than copied from the script.
fn latex_heading(m: &Model, a: &Answer) -> String {
    let s = &m.symbols;
    let Some(req) = m.requests.get(a.request) else {
        return String::new();
    };
    let assuming_sums = |list: &[crate::model::Assumption],
                         sums: &[crate::model::SumAssumption]| {
        if list.is_empty() && sums.is_empty() {
            String::new()
        } else {
            format!(" assuming ${}$", assumptions_latex(m, list, sums))
        }
    };
    let body = match &req.kind {
        RequestKind::Adjoints {
            assuming: asm,
            sums,
        } => format!("Adjoints{}", assuming_sums(asm, sums)),
        RequestKind::Grad {
            target,
            assuming: asm,
            sums,
        } => {
            let name = match target {
                crate::ir::Target::Param(p) => latex::name(s.param(*p)),
                crate::ir::Target::Var(r) => latex::reference(s, r),
            };
            format!("Gradient of ${name}${}", assuming_sums(asm, sums))
        }
        RequestKind::Inverse => "Inverse of the update".to_owned(),
        RequestKind::Jacobian { name, of, wrt } => {
            let refs = |rs: &[crate::ir::Ref]| {
                rs.iter()
                    .map(|r| latex::reference(s, r))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!(
                "Jacobian ${} = \\partial({}) / \\partial({})$",
                latex::name(name),
                refs(of),
                refs(wrt)
            )
        }
        RequestKind::Det { .. } => "Determinant".to_owned(),
        RequestKind::CountParams => "Parameter count".to_owned(),
        RequestKind::CountMacs(r) => {
            format!("Multiply-accumulates for ${}$", latex::reference(s, r))
        }
        RequestKind::Depth(r) => format!("Depth of ${}$", latex::reference(s, r)),
        RequestKind::Expect {
            assuming: asm,
            sums,
            ..
        } => format!("Claim{}", assuming_sums(asm, sums)),
    };
    format!("{body} (line {})", req.line)
}

/// The values the equations compute, grouped by shape in model order, as
/// a line of the model's list: `Values $i^{(t)}, c^{(t)} \\in
/// \\mathbb{R}^{H}$.` (those a `state` line declares are listed there).
fn computed_values(m: &Model) -> Vec<String> {
    let s = &m.symbols;
    let declared: Vec<u32> = m
        .items
        .iter()
        .flat_map(|i| match i {
            Item::States(ids) => ids.clone(),
            _ => Vec::new(),
        })
        .collect();
    let mut groups: Vec<(Shape, Vec<String>)> = Vec::new();
    for (v, d) in m.vars.iter().enumerate() {
        let v = v as u32;
        if !matches!(d.kind, crate::model::VarKind::Defined(_)) || declared.contains(&v) {
            continue;
        }
        let tex = latex::reference(s, &m.plain_ref(v));
        match groups.iter_mut().find(|(sh, _)| *sh == d.shape) {
            Some((_, names)) => names.push(tex),
            None => groups.push((d.shape.clone(), vec![tex])),
        }
    }
    groups
        .into_iter()
        .map(|(sh, names)| {
            format!(
                "{} ${} \\in {}$.",
                if names.len() == 1 { "Value" } else { "Values" },
                names.join(", "),
                shape_latex(&sh, s)
            )
        })
        .collect()
}

/// A convention of the key's notation, stated once at its top where the
/// key uses it: layouts trip up readers more than anything else.
#[derive(Clone, Copy)]
enum Convention {
    /// `bar(v)` is dL/dv with the shape of `v`.
    Adjoint,
    /// Rows for outputs, columns for inputs.
    Jacobian,
}

impl Convention {
    fn plain(self, m: &Model) -> String {
        match self {
            Convention::Adjoint => {
                let (loss, v) = adjoint_names(m);
                format!("bar({v}) is d{loss}/d{v}, the derivative of the loss {loss} by {v}, laid out with the shape of {v} (the gradient layout)")
            }
            Convention::Jacobian => JACOBIAN_LAYOUT.to_owned(),
        }
    }

    fn latex(self, m: &Model) -> String {
        match self {
            Convention::Adjoint => {
                let (loss, v) = adjoint_names(m);
                let loss = latex::name(&loss);
                format!("$\\bar{{{v}}}$ is $\\partial {loss} / \\partial {v}$, the derivative of the loss ${loss}$ by ${v}$, laid out with the shape of ${v}$ (the gradient layout)")
            }
            Convention::Jacobian => JACOBIAN_LAYOUT.to_owned(),
        }
    }
}

/// The loss's name and a letter for any value that the model does not use
/// as a name (batch norm's `v` is its variance).
fn adjoint_names(m: &Model) -> (String, &'static str) {
    let s = &m.symbols;
    let used = |n: &str| {
        [&s.dims, &s.indices, &s.params, &s.vars, &s.fns]
            .iter()
            .any(|names| names.iter().any(|x| x == n))
            || m.loss.as_ref().is_some_and(|l| l.name == n)
    };
    let v = ["v", "u", "q", "w", "z"]
        .into_iter()
        .find(|n| !used(n))
        .unwrap_or("v");
    let loss = m
        .loss
        .as_ref()
        .map_or_else(|| "L".to_owned(), |l| l.name.clone());
    (loss, v)
}

const JACOBIAN_LAYOUT: &str = "a Jacobian has a row for each entry of what is differentiated and a column for each entry of what it is differentiated by";

/// The conventions a key uses: adjoints where it has adjoints, gradients
/// or claims about them; the Jacobian layout where it has Jacobians.
fn conventions(m: &Model) -> Vec<Convention> {
    let adjoints = m.requests.iter().any(|r| {
        matches!(
            r.kind,
            RequestKind::Adjoints { .. } | RequestKind::Grad { .. }
        ) || matches!(
            &r.kind,
            RequestKind::Expect {
                lhs: crate::model::Claim::Adjoint(_),
                ..
            }
        )
    });
    let jacobians = m
        .requests
        .iter()
        .any(|r| matches!(r.kind, RequestKind::Jacobian { .. }));
    let mut out = Vec::new();
    if adjoints {
        out.push(Convention::Adjoint);
    }
    if jacobians {
        out.push(Convention::Jacobian);
    }
    out
}

/// The conventions as one sentence, each written by `part`.
fn conventions_sentence(m: &Model, part: fn(Convention, &Model) -> String) -> Option<String> {
    sentence(conventions(m).into_iter().map(|c| part(c, m)).collect())
}

/// Conventions as one sentence; `None` for none.
fn sentence(parts: Vec<String>) -> Option<String> {
    (!parts.is_empty()).then(|| format!("Conventions: {}.", parts.join("; ")))
}

fn latex_doc(key: &AnswerKey, opts: &PrintOptions) -> String {
    let m = &key.model;
    let s = &m.symbols;
    let mut out = String::new();
    if !opts.fragment {
        out.push_str(
            "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\
             \\allowdisplaybreaks\n\\begin{document}\n",
        );
    }
    let _ = writeln!(
        out,
        "\\section*{{\\raggedright Answer key: \\texttt{{{}}}}}",
        // The file's name (a heading has no room for its folders), which
        // may break after an underscore where it is too long for a line.
        latex::escape_text(
            std::path::Path::new(&key.script)
                .file_name()
                .map_or(key.script.clone(), |n| n.to_string_lossy().into_owned())
                .as_str()
        )
        .replace("\\_", "\\_\\allowbreak{}")
    );
    let conventions_at = out.len();
    out.push_str("\\subsection*{Model}\n");
    let lines = model_lines(m);
    let values = computed_values(m);
    let decls: Vec<&String> = lines
        .iter()
        .filter_map(|l| l.decl.as_ref())
        .chain(&values)
        .collect();
    if !decls.is_empty() {
        out.push_str("\\begin{itemize}\n");
        for d in decls {
            let _ = writeln!(out, "\\item[$\\bullet$] {d}");
        }
        out.push_str("\\end{itemize}\n");
    }
    let eqs: Vec<&(String, String)> = lines.iter().filter_map(|l| l.eq.as_ref()).collect();
    write_align(
        &mut out,
        eqs.iter().map(|(l, r)| (l.clone(), r.clone())).collect(),
    );
    for n in given_notes(m) {
        let _ = writeln!(
            out,
            "\n\\noindent\\emph{{Note:}} {}\n",
            latex::escape_text(&n)
        );
    }
    for a in &key.answers {
        let _ = writeln!(out, "\\subsection*{{{}}}", latex_heading(m, a));
        if let Some(f) = &a.failed {
            let _ = writeln!(
                out,
                "\\noindent\\textbf{{Internal error}}: {}\n",
                latex::escape_text(&failure_text(f))
            );
            continue;
        }
        if let Some(r) = &a.refused {
            let _ = writeln!(
                out,
                "\\noindent\\textbf{{Not {}}}: {}\n",
                if is_claim(a, m) {
                    "checked"
                } else {
                    "answered"
                },
                latex::escape_text(&r.message)
            );
            if let Some(h) = &r.hint {
                let _ = writeln!(out, "\\noindent\\emph{{Hint:}} {}\n", latex::escape_text(h));
            }
            continue;
        }
        if let (
            Some(v),
            Some(RequestKind::Expect {
                lhs,
                rhs,
                written_at,
                ..
            }),
        ) = (&a.verdict, m.requests.get(a.request).map(|r| &r.kind))
        {
            out.push_str("\\noindent The claim\n");
            match claim_derived(m, lhs, rhs).map(|d| as_written(d, written_at)) {
                Some(claim) => write_align(&mut out, rows_latex(&claim.lhs, &claim.rhs, s)),
                None => {
                    let text = m
                        .requests
                        .get(a.request)
                        .map_or(String::new(), |r| r.text.clone());
                    let _ = writeln!(
                        out,
                        "\\begin{{quote}}\\raggedright\\texttt{{{}}}\\end{{quote}}",
                        latex::escape_text(&text)
                    );
                }
            }
            if let Verdict::Proven = v {
                out.push_str("is \\textbf{proven}: it equals the derived form.\n\n");
            }
        }
        let claim = is_claim(a, m);
        if claim {
            // A claim's derivation follows its verdict.
        } else if a.steps.iter().any(|x| !x.is_empty()) {
            for (k, d) in a.equations.iter().enumerate() {
                write_align(&mut out, align_rows(std::slice::from_ref(d), s));
                steps::latex(&mut out, d, a.steps.get(k).map_or(&[], Vec::as_slice), s);
            }
        } else {
            write_align(&mut out, align_rows(&a.equations, s));
        }
        match &a.verdict {
            Some(Verdict::Refuted {
                derived,
                counterexample,
            }) => {
                if derived.is_empty() {
                    out.push_str("is \\textbf{refuted}: it is false.\n\n");
                } else {
                    out.push_str("is \\textbf{refuted}: it is false. The derived form is\n");
                    write_align(&mut out, align_rows(derived, s));
                }
                let _ = writeln!(out, "Counterexample: {}.\n", evidence_latex(counterexample));
            }
            Some(Verdict::NotProven { derived, evidence }) => {
                out.push_str(
                    "is \\textbf{not proven}: no proof and no counterexample was found. The derived form is\n",
                );
                write_align(&mut out, align_rows(derived, s));
                let _ = writeln!(out, "Evidence: {}.\n", evidence_latex(evidence));
            }
            _ => {}
        }
        if claim {
            for (k, d) in a.equations.iter().enumerate() {
                steps::latex(&mut out, d, &steps::of_claim(key, a, k), s);
            }
        }
        for n in &a.notes {
            let _ = writeln!(
                out,
                "\\noindent\\emph{{Note:}} {}\n",
                notes::sentence(notes::tex(s, n))
            );
        }
    }
    if let Some(c) = latex_conventions(m, &out[conventions_at..]) {
        out.insert_str(conventions_at, &format!("\\noindent {c}\n\n"));
    }
    if !opts.fragment {
        out.push_str("\\end{document}\n");
    }
    out
}

/// The conventions sentence of a key typeset in LaTeX, naming `\mathbf{1}`
/// (a column of ones) where the key's `body` writes one.
fn latex_conventions(m: &Model, body: &str) -> Option<String> {
    let mut parts: Vec<String> = conventions(m).into_iter().map(|c| c.latex(m)).collect();
    if body.contains(latex::ONES) {
        parts.push("$\\mathbf{1}$ is a column of ones".to_owned());
    }
    sentence(parts)
}

fn write_align(out: &mut String, eqs: Vec<(String, String)>) {
    if eqs.is_empty() {
        return;
    }
    out.push_str("\\begin{align*}\n");
    for (k, (l, r)) in eqs.iter().enumerate() {
        let end = if k + 1 < eqs.len() { " \\\\" } else { "" };
        let _ = writeln!(out, "{l} &= {r}{end}");
    }
    out.push_str("\\end{align*}\n");
}

/// Indices in the language: `[t-1]`; empty for none.
pub fn indices_text(at: &[Ix], s: &Symbols) -> String {
    if at.is_empty() {
        String::new()
    } else {
        format!("[{}]", s.indices_text(at))
    }
}
