//! The answer key: what the derivations found, in a form every printer
//! reads the same way. Nothing here knows about any output format.

use crate::ir::{Node, Ref};
use crate::model::Model;
use crate::poly::Poly;
use egg::RecExpr;

/// The left side of a derived equation.
#[derive(Debug, Clone, PartialEq)]
pub enum Lhs {
    /// An expression: `bar(c[t])`, `bar(W)`, `theta[k]`.
    Expr(RecExpr<Node>),
    /// A named matrix: `J`.
    Matrix(String),
    /// `det(J)`.
    Det(String),
    /// `params`.
    Params,
    /// `macs(v[...])`.
    Macs(Ref),
    /// `depth(v[...])`.
    Depth(Ref),
}

/// The right side of a derived equation.
#[derive(Debug, Clone, PartialEq)]
pub enum Rhs {
    /// An expression in the language.
    Expr(RecExpr<Node>),
    /// A polynomial in the dims.
    Poly(Poly),
    /// A sum of polynomials in the dims, each written on its own (a step
    /// of a count: one term per parameter or per product).
    Terms(Vec<Poly>),
}

impl Rhs {
    /// The polynomial a count's right side totals to.
    pub fn total(&self) -> Option<Poly> {
        match self {
            Rhs::Poly(p) => Some(p.clone()),
            Rhs::Terms(ts) => ts.iter().try_fold(Poly::zero(), |acc, t| acc.add(t)),
            Rhs::Expr(_) => None,
        }
    }
}

/// One derived equation.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    /// What is derived.
    pub lhs: Lhs,
    /// Its value.
    pub rhs: Rhs,
}

/// One part of the words that justify a step: text, or mathematics.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Words.
    Text(String),
    /// A word of the language, such as an operator (`.*`) or a function's
    /// name.
    Code(String),
    /// An expression of the language.
    Expr(RecExpr<Node>),
    /// An equation of two expressions: an identity used, such as
    /// `tanh'(u) = 1 - tanh(u)^2` (where `u` is [`crate::ir::ARGUMENT`]).
    Equation(RecExpr<Node>, RecExpr<Node>),
    /// A polynomial in the dims.
    Poly(Poly),
    /// Words with mathematics that is not the model's (a rule stated for
    /// any `A`): as the language writes them, and as LaTeX.
    Words {
        /// In the language's syntax.
        plain: &'static str,
        /// LaTeX text with inline math.
        latex: &'static str,
    },
}

/// One step of a derivation: the right side it reaches, equal to the
/// result's left side, and why it follows from the step before.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The right side at this step, in the language.
    pub rhs: Rhs,
    /// Why, in words and mathematics.
    pub why: Vec<Part>,
    /// Whether the request's assumptions are in this form: the steps
    /// before they are substituted hold without them.
    pub assumed: bool,
}

/// How a proven claim was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofKind {
    /// Both sides have one normal form (`ir::normal`).
    NormalForm,
    /// Both sides have one normal form once the forward values and
    /// adjoints outside recurrences are written out by their equations.
    Unfolded,
    /// The difference of the two sides, as written or written out, is
    /// zero once multiplied by the sums it divides by.
    Cleared,
    /// The two sides met in an e-graph under the rewrite rules.
    Rewrites,
    /// One side is `inv(M) * r`, and `M` times the other side has the
    /// normal form of `r`: equal where `M` is invertible.
    InverseMultiplied,
    /// The claim's determinants of block matrices taken by block
    /// elimination, then one of the procedures above.
    Elimination,
    /// The claim's determinants of a scaled identity plus a rank-one
    /// matrix taken by the matrix determinant lemma, then one of the
    /// procedures above.
    Lemma,
    /// The claim's determinants of sums of scaled identities and diagonal
    /// matrices taken as products of the diagonal's entries, then one of
    /// the procedures above.
    Diagonal,
    /// The claim split along an index into its last (or first) value and
    /// the others, each case proved by one of the procedures above.
    Cases,
    /// A sum of the claim re-indexed (`sum(t, f(t+1))` as `sum(t, f(t))`
    /// less its first term and plus the one past its end), then one of the
    /// procedures above.
    Reindexed,
    /// Two equal polynomials in the dims (counts and depths).
    Polynomial,
}

/// How an `expect` was decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The claim equals the derived form (a note of the answer says how:
    /// [`ProofKind`]).
    Proven,
    /// Numeric evaluation shows the claim is false.
    Refuted {
        /// What deriv derived.
        derived: Vec<Derived>,
        /// The instance that separates them, in words.
        counterexample: String,
    },
    /// No proof and no counterexample.
    NotProven {
        /// What deriv derived.
        derived: Vec<Derived>,
        /// The numeric evidence, in words.
        evidence: String,
    },
}

/// Statistics of one e-graph run, for `--stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStats {
    /// What the run computed.
    pub what: String,
    /// Iterations run.
    pub iterations: usize,
    /// E-nodes at the end.
    pub nodes: usize,
    /// E-classes at the end.
    pub classes: usize,
    /// Why it stopped.
    pub stop: String,
}

/// A result that the self-check found wrong: it is not printed as an
/// answer (see `verify::self_check`).
#[derive(Debug, Clone, PartialEq)]
pub struct SelfCheckFailure {
    /// The result, in the language: `bar(c[t])`, `J`, `params`.
    pub what: String,
    /// What disagreed, and where.
    pub why: String,
}

/// A condition a result needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The expression is not zero: `beta != 0`.
    Nonzero(RecExpr<Node>),
    /// The matrix is invertible.
    Invertible(RecExpr<Node>),
}

/// The elementwise work of computing a value, beside its MACs: each part
/// a polynomial in the dims.
#[derive(Debug, Clone, PartialEq)]
pub struct Elementwise {
    /// Additions and subtractions.
    pub adds: Poly,
    /// Multiplications.
    pub muls: Poly,
    /// Entries each elementwise function is applied to, by the function's
    /// name in the language (`tanh`, `sigma'`, `^` for powers).
    pub funcs: Vec<(String, Poly)>,
}

/// A remark the reader of an answer needs. Printers render each kind in
/// their own way (LaTeX sets conditions in math, JSON gives the parts).
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// The result holds where every condition holds (it divides).
    HoldsWhere(Vec<Condition>),
    /// The inverse exists where every condition holds.
    InverseExistsWhere(Vec<Condition>),
    /// Simplification stopped at an e-graph limit: the form is correct
    /// but may not be the simplest.
    Limited,
    /// No determinant rule applies to what remains.
    DeterminantLeft,
    /// The adjoint of a value the equations do not compute is zero; the
    /// reference is a shifted adjoint of the answer that this is about.
    PastTheEnd(Ref),
    /// Parameters declared but used nowhere, by name: not counted.
    UnusedParams(Vec<String>),
    /// The elementwise work beside a MAC count.
    Elementwise(Elementwise),
    /// Operations whose cost depends on how they are computed, in words:
    /// not counted.
    Uncosted(Vec<String>),
    /// The result is written with this adjoint, whose own equation could
    /// not be derived (why, in words): exact in terms of it, but the key
    /// has no equation for it.
    AdjointNotDerived(Ref, String),
    /// Under assumptions about sums, these adjoints (closed forms of
    /// forward values) are written out in the equations that use them.
    WrittenOut(Vec<Ref>),
    /// How a claim was proven.
    Proof(ProofKind),
    /// Where a refuted claim parts from the derivation, in words and
    /// mathematics.
    Parts(Vec<Part>),
    /// The adjoint of `general` (`h[t]`) holds at every index value but
    /// its fixed steps (`h[T]`), which the model also uses on their own
    /// and which have equations of their own.
    FixedSteps {
        /// The variable at its own indices.
        general: Ref,
        /// Its fixed steps.
        steps: Vec<Ref>,
    },
    /// The result holds when each dim is at least its value (dims by
    /// number): the fixed steps of the model are distinct values it
    /// computes only then (`h[T-1]` over `1..T` needs `T >= 2`).
    DimsAtLeast(Vec<(u32, i64)>),
    /// A partial inverse: these previous values have no closed form and
    /// are given by the equations that hold them (the last equations of
    /// the answer); `inside` is the function application one of them sits
    /// in, where there is one.
    Implicit {
        /// The previous values not solved for.
        unsolved: Vec<Ref>,
        /// Where one of them sits inside a function, such as
        /// `grad F(theta[k+1] - p[k+1] + beta * p[k])`.
        inside: Option<RecExpr<Node>>,
    },
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The request's number in the model.
    pub request: usize,
    /// The derived equations, in order.
    pub equations: Vec<Derived>,
    /// Remarks the reader needs: conditions, boundary values, limits hit.
    pub notes: Vec<Note>,
    /// For an `expect`: the verdict.
    pub verdict: Option<Verdict>,
    /// E-graph statistics of the runs behind this answer.
    pub stats: Vec<RunStats>,
    /// Set when the self-check found a result of this answer wrong.
    pub failed: Option<SelfCheckFailure>,
    /// Set when the request could not be answered: why, and how to fix
    /// it (the diagnostic, which the run reports as well).
    pub refused: Option<Refusal>,
    /// The derivation of each equation, step by step, when steps were
    /// asked for: empty, or one list per equation (a list may be empty).
    /// Each step's right side equals the equation's left side; the last
    /// is the equation's right side.
    pub steps: Vec<Vec<Step>>,
    /// For an `expect`: the result its left side names, as derived (the
    /// form the claim was judged against), whether or not it is shown.
    /// The self-check checks it as it checks that result, so a claim is
    /// never judged against a wrong one.
    pub named: Vec<Derived>,
}

impl Answer {
    /// The answer with equation `eq`'s right side replaced by the right
    /// side of its step `step`: what checking a step numerically checks.
    pub fn at_step(&self, eq: usize, step: usize) -> Option<Answer> {
        let rhs = self.steps.get(eq)?.get(step)?.rhs.clone();
        let mut out = Answer {
            steps: Vec::new(),
            ..self.clone()
        };
        out.equations.get_mut(eq)?.rhs = rhs;
        Some(out)
    }

    /// Every step of every equation, as `(equation, step)` numbers.
    pub fn step_numbers(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.steps
            .iter()
            .enumerate()
            .flat_map(|(e, s)| (0..s.len()).map(move |k| (e, k)))
    }
}

/// Why a request could not be answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// What went wrong.
    pub message: String,
    /// How to fix it, if there is a hint.
    pub hint: Option<String>,
}

/// A whole answer key.
#[derive(Debug, Clone)]
pub struct AnswerKey {
    /// The script's name, as given.
    pub script: String,
    /// The checked model.
    pub model: Model,
    /// One answer per request that was answered, in script order.
    pub answers: Vec<Answer>,
}

impl AnswerKey {
    /// Whether the self-check found any result wrong.
    pub fn failed_self_check(&self) -> bool {
        self.answers.iter().any(|a| a.failed.is_some())
    }

    /// Whether every `expect` holds.
    pub fn all_hold(&self) -> bool {
        self.answers.iter().all(|a| {
            !matches!(
                a.verdict,
                Some(Verdict::Refuted { .. } | Verdict::NotProven { .. })
            )
        })
    }
}
