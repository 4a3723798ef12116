//! Derivations: one answer per request, read from the checked model.
//! Each kind of request has its own module; this one only dispatches.

pub mod adjoint;
pub mod det;
pub mod egraph;
pub mod inverse;
pub mod jacobian;

use crate::diag::Diagnostic;
use crate::ir::{Ix, Leaf, Node, Target};
use crate::key::{Answer, Derived, Lhs, Rhs};
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
/// The note for an answer whose simplification stopped at a limit.
pub const LIMITED: &str =
    "simplification stopped at the e-graph limit; the form shown is correct but may not be the simplest";

/// Answers every request of the model, in script order.
pub fn derive_all(model: &Model, options: &Options) -> Derivations {
    let mut out = Derivations::default();
    let shapes = Rc::new(egraph::ShapeTable::new(model));
    let mut adj = Adjoints::new(model, shapes.clone(), &options.limits);
    // Derived Jacobians by request number, for `det(J)`.
    let mut matrices: std::collections::HashMap<usize, egg::RecExpr<Node>> =
        std::collections::HashMap::new();
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
            RequestKind::Inverse => inverse::inverse(model, &shapes, &options.limits, req.span)
                .map(|inv| {
                    let mut a = answer(k, inv.equations, inv.notes);
                    a.stats = inv.stats;
                    Some(a)
                }),
            RequestKind::Jacobian { name, of, wrt } => {
                jacobian::jacobian(model, &shapes, of, wrt, &options.limits, req.span).map(
                    |(m, stats, limited)| {
                        matrices.insert(k, m.clone());
                        let notes = if limited {
                            vec![LIMITED.to_owned()]
                        } else {
                            Vec::new()
                        };
                        let mut a = answer(
                            k,
                            vec![Derived {
                                lhs: Lhs::Matrix(name.clone()),
                                rhs: Rhs::Expr(m),
                            }],
                            notes,
                        );
                        a.stats = stats;
                        Some(a)
                    },
                )
            }
            RequestKind::Det { of } => match (matrices.get(of), &model.requests[*of].kind) {
                (Some(m), RequestKind::Jacobian { name, .. }) => {
                    let (d, notes, stats) = det::determinant(model, &shapes, m, &options.limits);
                    let mut a = answer(
                        k,
                        vec![Derived {
                            lhs: Lhs::Det(name.clone()),
                            rhs: Rhs::Expr(d),
                        }],
                        notes,
                    );
                    a.stats = stats;
                    Ok(Some(a))
                }
                _ => Err(Diagnostic::new(
                    req.span,
                    "the Jacobian this determinant needs could not be derived",
                    "no Jacobian",
                )
                .hint("see the error reported for the Jacobian's request")),
            },
            other => {
                let what = match other {
                    RequestKind::CountParams => "`count params`",
                    RequestKind::CountMacs(_) => "`count macs`",
                    RequestKind::Depth(_) => "`depth`",
                    _ => "`expect`",
                };
                Err(unfinished(req, what))
            }
        };
        match result {
            Ok(Some(mut a)) => {
                if a.stats.is_empty() {
                    a.stats = adj.stats[before..].to_vec();
                }
                out.answers.push(a);
            }
            Ok(None) => {}
            Err(d) => out.problems.push(d),
        }
    }
    out
}

fn answer(request: usize, equations: Vec<Derived>, notes: Vec<String>) -> Answer {
    Answer {
        request,
        equations,
        notes,
        verdict: None,
        stats: Vec::new(),
    }
}
