//! Derivations: one answer per request, read from the checked model.
//! Each kind of request has its own module; this one only dispatches.

pub mod adjoint;
pub mod count;
pub mod depth;
pub mod egraph;

use crate::diag::Diagnostic;
use crate::ir::{Ix, Leaf, Node, Target};
use crate::key::{Answer, Derived, Rhs};
use crate::model::{Model, Request, RequestKind};
use crate::Options;
use adjoint::Adjoints;
use std::rc::Rc;

/// What the derivations produced: the answers, and the requests that could
/// not be answered, each as a diagnostic at the request.
#[derive(Debug, Default)]
pub struct Derivations {
    /// Answers in script order.
    pub answers: Vec<Answer>,
    /// Requests left unanswered, with the reason.
    pub problems: Vec<Diagnostic>,
}

fn unfinished(req: &Request, what: &str) -> Diagnostic {
    Diagnostic::new(
        req.span,
        format!("{what} is not implemented yet"),
        "not answered",
    )
    .hint("the rest of the answer key is printed; this request is left out of it")
}

/// Whether any adjoint on the right refers to a later index value.
fn looks_ahead(eqs: &[Derived]) -> bool {
    eqs.iter().any(|d| match &d.rhs {
        Rhs::Expr(e) => e.as_ref().iter().any(|n| {
            matches!(n, Node::Leaf(Leaf::Bar(Target::Var(r)))
                if r.at.iter().any(|ix| matches!(ix, Ix::Rel(_, o) if *o > 0)))
        }),
        Rhs::Poly(_) => false,
    })
}

const PAST_THE_END: &str =
    "adjoints past the last index value are zero, so the terms with a later index (such as t+1) vanish at the last step";
const LIMITED: &str =
    "simplification stopped at the e-graph limit; the form shown is correct but may not be the simplest";

/// Answers every request of the model, in script order.
pub fn derive_all(model: &Model, options: &Options) -> Derivations {
    let mut out = Derivations::default();
    let shapes = Rc::new(egraph::ShapeTable::new(model));
    let mut adj = Adjoints::new(model, shapes, &options.limits);
    for (k, req) in model.requests.iter().enumerate() {
        let before = adj.stats.len();
        let result: Result<Option<Answer>, Diagnostic> = match &req.kind {
            RequestKind::Adjoints { assuming } => adj.all(assuming, req.span).map(|list| {
                let limited = list.iter().any(|a| a.limited);
                let equations: Vec<Derived> = list.into_iter().map(|a| a.derived).collect();
                let mut notes = Vec::new();
                if looks_ahead(&equations) {
                    notes.push(PAST_THE_END.to_owned());
                }
                if limited {
                    notes.push(LIMITED.to_owned());
                }
                Some(Answer {
                    request: k,
                    equations,
                    notes,
                    verdict: None,
                    stats: Vec::new(),
                })
            }),
            RequestKind::Grad { param, assuming } => {
                adj.gradient(*param, assuming, req.span).map(|a| {
                    let mut notes = Vec::new();
                    if a.limited {
                        notes.push(LIMITED.to_owned());
                    }
                    Some(Answer {
                        request: k,
                        equations: vec![a.derived],
                        notes,
                        verdict: None,
                        stats: Vec::new(),
                    })
                })
            }
            RequestKind::CountParams => count::params(model, req, k).map(Some),
            RequestKind::CountMacs(r) => count::macs_answer(model, r, req, k).map(Some),
            RequestKind::Depth(r) => depth::depth(model, r, req, k).map(Some),
            other => {
                let what = match other {
                    RequestKind::Inverse => "`derive inverse`",
                    RequestKind::Jacobian { .. } => "`derive ... = jacobian`",
                    RequestKind::Det { .. } => "`derive det`",
                    _ => "`expect`",
                };
                Err(unfinished(req, what))
            }
        };
        match result {
            Ok(Some(mut a)) => {
                a.stats = adj.stats[before..].to_vec();
                out.answers.push(a);
            }
            Ok(None) => {}
            Err(d) => out.problems.push(d),
        }
    }
    out
}
