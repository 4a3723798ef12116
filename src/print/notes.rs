//! Notes, rendered: plain text for the text and Markdown keys, text with
//! math for LaTeX (conditions, sizes and names set as formulas), and a
//! structured object for JSON.

use super::{latex, plain, size_text};
use crate::ir::{Leaf, Symbols, Target};
use crate::key::{Condition, Elementwise, Note, ProofKind};
use crate::poly::Poly;
use serde_json::{json, Value};

/// What the note about a limit says.
pub const LIMITED: &str =
    "simplification stopped at the e-graph limit; the form shown is correct but may not be the simplest";

const DET_LEFT: &str = "no determinant rule applies to what remains; it is left as a determinant";

/// How the parts of a note are written: as text or as LaTeX math.
trait Style {
    fn expr(&self, s: &Symbols, e: &egg::RecExpr<crate::ir::Node>) -> String;
    fn size(&self, s: &Symbols, p: &Poly) -> String;
    fn leaf(&self, s: &Symbols, l: &Leaf) -> String;
    fn name(&self, n: &str) -> String;
    fn text(&self, t: &str) -> String;
}

struct Plain;

impl Style for Plain {
    fn expr(&self, s: &Symbols, e: &egg::RecExpr<crate::ir::Node>) -> String {
        plain::expr(s, e)
    }
    fn size(&self, s: &Symbols, p: &Poly) -> String {
        p.grouped(size_text(p, s))
    }
    fn leaf(&self, s: &Symbols, l: &Leaf) -> String {
        format!("`{}`", plain::leaf(s, l))
    }
    fn name(&self, n: &str) -> String {
        n.to_owned()
    }
    fn text(&self, t: &str) -> String {
        t.to_owned()
    }
}

struct Latex;

impl Style for Latex {
    fn expr(&self, s: &Symbols, e: &egg::RecExpr<crate::ir::Node>) -> String {
        format!("${}$", latex::expr(s, e))
    }
    fn size(&self, s: &Symbols, p: &Poly) -> String {
        format!("${}$", latex::poly(p, s))
    }
    fn leaf(&self, s: &Symbols, l: &Leaf) -> String {
        format!("${}$", latex::leaf(s, l))
    }
    fn name(&self, n: &str) -> String {
        format!("${}$", latex::name(n))
    }
    fn text(&self, t: &str) -> String {
        latex::escape_text(t)
    }
}

fn condition(st: &dyn Style, s: &Symbols, c: &Condition, latex_math: bool) -> String {
    match (c, latex_math) {
        (Condition::Nonzero(e), false) => format!("{} != 0", st.expr(s, e)),
        (Condition::Nonzero(e), true) => format!("${} \\neq 0$", latex::expr(s, e)),
        (Condition::Invertible(m), _) => format!("{} is invertible", st.expr(s, m)),
    }
}

fn conditions(st: &dyn Style, s: &Symbols, cs: &[Condition], latex_math: bool) -> String {
    cs.iter()
        .map(|c| condition(st, s, c, latex_math))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Names as a note lists them: `a, b and c`.
pub fn listed(names: &[String]) -> String {
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// A count with its noun, singular for exactly one: `1 addition`,
/// `2*H additions`, `H entries`.
fn counted(st: &dyn Style, s: &Symbols, n: &Poly, noun: &str) -> String {
    let one = n.as_constant().is_some_and(|c| c.is_one());
    let noun = match (one, noun.strip_suffix('y')) {
        (true, _) => noun.to_owned(),
        (false, Some(stem)) => format!("{stem}ies"),
        (false, None) => format!("{noun}s"),
    };
    format!("{} {noun}", st.size(s, n))
}

fn elementwise(st: &dyn Style, s: &Symbols, w: &Elementwise) -> String {
    let mut parts = Vec::new();
    if !w.adds.is_zero() {
        parts.push(counted(st, s, &w.adds, "addition"));
    }
    if !w.muls.is_zero() {
        parts.push(counted(st, s, &w.muls, "multiplication"));
    }
    for (f, n) in &w.funcs {
        let name = if f == "^" {
            st.text("powers (^)")
        } else {
            st.text(f)
        };
        parts.push(format!("{name} on {}", counted(st, s, n, "entry")));
    }
    if parts.is_empty() {
        "no elementwise work beside the MACs".to_owned()
    } else {
        format!(
            "elementwise work beside the MACs, not counted in them: {}",
            parts.join(", ")
        )
    }
}

fn render(st: &dyn Style, s: &Symbols, n: &Note, latex_math: bool) -> String {
    match n {
        Note::Parts(parts) if latex_math => super::steps::why_latex(parts, s),
        Note::Parts(parts) => super::steps::why_text(parts, s, true),
        Note::HoldsWhere(cs) => format!("this holds where {}", conditions(st, s, cs, latex_math)),
        Note::InverseExistsWhere(cs) => {
            format!("the inverse exists where {}", conditions(st, s, cs, latex_math))
        }
        Note::Limited => st.text(LIMITED),
        Note::DeterminantLeft => st.text(DET_LEFT),
        Note::PastTheEnd(r) => format!(
            "{} {} {}",
            st.text("the adjoint of a value the equations do not compute (past the last index value, or a boundary value) is zero, so a term such as the one with"),
            st.leaf(s, &Leaf::Bar(Target::Var(r.clone()))),
            st.text("vanishes where its index leaves the range"),
        ),
        Note::UnusedParams(names) => {
            let (what, verb) = if names.len() == 1 {
                ("parameter", "is")
            } else {
                ("parameters", "are")
            };
            let names: Vec<String> = names.iter().map(|n| st.name(n)).collect();
            format!(
                "not counted: the {what} {} {verb} declared but used by no equation, boundary value or loss",
                listed(&names)
            )
        }
        Note::Elementwise(w) => elementwise(st, s, w),
        Note::AdjointNotDerived(r, why) => format!(
            "{} {} {} {}",
            st.text("this is exact in terms of"),
            st.leaf(s, &Leaf::Bar(Target::Var(r.clone()))),
            st.text("but that adjoint's own equation could not be derived:"),
            st.text(why),
        ),
        Note::WrittenOut(refs) => {
            let bars: Vec<String> = refs
                .iter()
                .map(|r| st.leaf(s, &Leaf::Bar(Target::Var(r.clone()))))
                .collect();
            format!(
                "{} {} {}",
                st.text("under the assumed sums,"),
                listed(&bars),
                st.text(if refs.len() == 1 {
                    "is written out where it is used: its equation is a closed form of forward values that reads an input whose sum is assumed"
                } else {
                    "are written out where they are used: their equations are closed forms of forward values that read inputs whose sums are assumed"
                }),
            )
        }
        Note::Proof(kind) => st.text(match kind {
            ProofKind::NormalForm => "proved by their normal form: both sides are the same once sums, products, transposes and elementwise products are rearranged by the identities of the algebra and derivative forms such as tanh' are written out",
            ProofKind::Unfolded => "proved by their normal form once written out: both sides are the same once the forward values and adjoints outside recurrences are written out by their equations and sums, products, powers, transposes and elementwise products are rearranged by the identities of the algebra",
            ProofKind::Cleared => "proved by clearing denominators: the difference of the two sides (with values written out, and a factor both sides share set aside, where needed), times the sums it divides by, is zero by the identities of the algebra; those sums are not zero where the sides are defined",
            ProofKind::InverseMultiplied => "proved by multiplying out the inverse: the matrix inverted, times the other side, has the normal form of what the inverse is applied to, so the two sides are equal where that matrix is invertible",
            ProofKind::Rewrites => "proved by the rewrite rules: the two sides meet in an e-graph (activation identities, named forward values, assumptions)",
            ProofKind::Lemma => "proved by the matrix determinant lemma: the claim's determinant of a scalar times the identity of size n plus a rank-one matrix is the scalar to the power n - 1 times the sum of the scalar and the rank-one matrix's trace, and of a diagonal matrix plus a rank-one matrix u * r is the product of the diagonal's entries times 1 + r * (u ./ the diagonal) (then, where it applies, a determinant of a diagonal matrix taken as the product of its entries), then both sides are the same by their normal forms",
            ProofKind::Diagonal => "proved by the determinant of a diagonal matrix: the claim's determinant of a sum of scaled identities and diagonal matrices is the product of the entries of the sum of their diagonals, then both sides are the same by their normal forms",
            ProofKind::Elimination => "proved by block elimination: the claim's determinant of a block matrix taken by exact block row and column operations (the determinant rules' elimination; then, where they apply, the matrix determinant lemma and determinants of diagonal matrices taken as products of their entries), then both sides are the same by their normal forms",
            ProofKind::Cases => "proved by cases: at the last (or first) step of the range, where adjoints of values past the model are zero, and at the other steps, where the next (or previous) values are the model's own, each case by normal form or rewrite rules",
            ProofKind::Reindexed => "proved by re-indexing a sum: the claim's sum over shifted steps (such as sum(t, f(t+1))) is the sum over the steps themselves (sum(t, f(t))) less the terms before the range and plus those past its end, then both sides are the same by their normal forms (boundary values given by their init, adjoints past the end zero)",
            ProofKind::Polynomial => "proved as equal polynomials in the dims",
        }),
        Note::Implicit { unsolved, inside } => {
            let names: Vec<String> = unsolved
                .iter()
                .map(|r| st.leaf(s, &Leaf::Var(r.clone())))
                .collect();
            let one = unsolved.len() == 1;
            let why = match inside {
                Some(e) => format!(
                    ", as {} {}",
                    st.text(if one { "it sits inside" } else { "one sits inside" }),
                    st.expr(s, e)
                ),
                None => String::new(),
            };
            format!(
                "{} {} {}{why}; {}",
                st.text("partial inverse:"),
                listed(&names),
                st.text(if one { "has no closed form" } else { "have no closed form" }),
                st.text(if one {
                    "it is defined implicitly by the last equation above"
                } else {
                    "they are defined implicitly by the last equations above"
                }),
            )
        }
        Note::FixedSteps { general, steps } => {
            let bars: Vec<String> = steps
                .iter()
                .map(|r| st.leaf(s, &Leaf::Bar(Target::Var(r.clone()))))
                .collect();
            let used: Vec<String> = steps
                .iter()
                .map(|r| st.leaf(s, &Leaf::Var(r.clone())))
                .collect();
            format!(
                "{} {} {}{} {} {}",
                st.leaf(s, &Leaf::Bar(Target::Var(general.clone()))),
                st.text("holds at every index value but"),
                listed(&used),
                st.text(if steps.len() == 1 {
                    ", which the model also uses on its own; there"
                } else {
                    ", which the model also uses on their own; there"
                }),
                listed(&bars),
                st.text(if steps.len() == 1 { "holds" } else { "hold" }),
            )
        }
        Note::DimsAtLeast(need) => {
            let conds: Vec<String> = need
                .iter()
                .map(|&(d, n)| {
                    if latex_math {
                        format!("${} \\geq {n}$", latex::leaf(s, &Leaf::Dim(d)))
                    } else {
                        format!("`{} >= {n}`", s.dim(d))
                    }
                })
                .collect();
            format!(
                "{} {}{}",
                st.text("this holds when"),
                listed(&conds),
                st.text(": only then are the fixed steps the model uses different values that its equations compute"),
            )
        }
        Note::Uncosted(what) => {
            let what: Vec<String> = what.iter().map(|w| st.text(w)).collect();
            format!(
                "not counted: {}, whose cost depends on how it is computed; the MAC count covers the rest of the equation",
                listed(&what)
            )
        }
    }
}

/// A note as a sentence of a document: it ends with a period.
pub fn sentence(mut note: String) -> String {
    if !note.ends_with('.') {
        note.push('.');
    }
    note
}

/// A note as plain text, for the text and Markdown keys.
pub fn text(s: &Symbols, n: &Note) -> String {
    render(&Plain, s, n, false)
}

/// A note as LaTeX text, its formulas in math.
pub fn tex(s: &Symbols, n: &Note) -> String {
    render(&Latex, s, n, true)
}

fn condition_json(s: &Symbols, c: &Condition) -> Value {
    match c {
        Condition::Nonzero(e) => json!({"nonzero": plain::expr(s, e)}),
        Condition::Invertible(m) => json!({"invertible": plain::expr(s, m)}),
    }
}

/// A note as a JSON object: its kind and its parts, expressions and sizes
/// in the language's syntax.
pub fn json(s: &Symbols, n: &Note) -> Value {
    let size = |p: &Poly| size_text(p, s);
    match n {
        Note::HoldsWhere(cs) => json!({
            "kind": "holds_where",
            "conditions": cs.iter().map(|c| condition_json(s, c)).collect::<Vec<_>>(),
        }),
        Note::InverseExistsWhere(cs) => json!({
            "kind": "inverse_exists_where",
            "conditions": cs.iter().map(|c| condition_json(s, c)).collect::<Vec<_>>(),
        }),
        Note::Limited => json!({"kind": "limited"}),
        Note::Parts(parts) => json!({
            "kind": "parts",
            "text": super::steps::why_text(parts, s, false),
        }),
        Note::DeterminantLeft => json!({"kind": "determinant_left"}),
        Note::PastTheEnd(r) => json!({
            "kind": "past_the_end",
            "adjoint": plain::leaf(s, &Leaf::Bar(Target::Var(r.clone()))),
        }),
        Note::UnusedParams(names) => json!({"kind": "unused_params", "params": names}),
        Note::Elementwise(w) => json!({
            "kind": "elementwise",
            "adds": size(&w.adds),
            "muls": size(&w.muls),
            "functions": w.funcs.iter().map(|(f, n)| json!({"function": f, "entries": size(n)})).collect::<Vec<_>>(),
        }),
        Note::Uncosted(what) => json!({"kind": "uncosted", "operations": what}),
        Note::Proof(kind) => json!({
            "kind": "proof",
            "by": match kind {
                ProofKind::NormalForm => "normal_form",
                ProofKind::Unfolded => "normal_form_written_out",
                ProofKind::Cleared => "denominators_cleared",
                ProofKind::Rewrites => "rewrite_rules",
                ProofKind::InverseMultiplied => "inverse_multiplied_out",
                ProofKind::Elimination => "block_elimination",
                ProofKind::Lemma => "determinant_lemma",
                ProofKind::Diagonal => "diagonal_determinant",
                ProofKind::Cases => "cases",
                ProofKind::Reindexed => "sum_reindexed",
                ProofKind::Polynomial => "polynomial",
            },
        }),
        Note::Implicit { unsolved, inside } => json!({
            "kind": "implicit",
            "unsolved": unsolved.iter().map(|r| s.ref_text(r)).collect::<Vec<_>>(),
            "inside": inside.as_ref().map(|e| plain::expr(s, e)),
        }),
        Note::FixedSteps { general, steps } => json!({
            "kind": "fixed_steps",
            "general": plain::leaf(s, &Leaf::Bar(Target::Var(general.clone()))),
            "steps": steps.iter().map(|r| plain::leaf(s, &Leaf::Bar(Target::Var(r.clone())))).collect::<Vec<_>>(),
        }),
        Note::DimsAtLeast(need) => json!({
            "kind": "dims_at_least",
            "dims": need.iter().map(|&(d, n)| json!({"dim": s.dim(d), "at_least": n})).collect::<Vec<_>>(),
        }),
        Note::WrittenOut(refs) => json!({
            "kind": "written_out",
            "adjoints": refs.iter().map(|r| plain::leaf(s, &Leaf::Bar(Target::Var(r.clone())))).collect::<Vec<_>>(),
        }),
        Note::AdjointNotDerived(r, why) => json!({
            "kind": "adjoint_not_derived",
            "adjoint": plain::leaf(s, &Leaf::Bar(Target::Var(r.clone()))),
            "why": why,
        }),
    }
}
