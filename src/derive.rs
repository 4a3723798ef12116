//! Derivations: one answer per request, read from the checked model.
//! Each kind of request has its own module; this one only dispatches.

use crate::diag::Diagnostic;
use crate::key::Answer;
use crate::model::{Model, Request, RequestKind};
use crate::Options;

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

/// Answers every request of the model, in script order.
pub fn derive_all(model: &Model, _options: &Options) -> Derivations {
    let mut out = Derivations::default();
    for req in &model.requests {
        let what = match &req.kind {
            RequestKind::Adjoints { .. } => "`derive adjoints`",
            RequestKind::Grad { .. } => "`derive grad`",
            RequestKind::Inverse => "`derive inverse`",
            RequestKind::Jacobian { .. } => "`derive ... = jacobian`",
            RequestKind::Det { .. } => "`derive det`",
            RequestKind::CountParams => "`count params`",
            RequestKind::CountMacs(_) => "`count macs`",
            RequestKind::Depth(_) => "`depth`",
            RequestKind::Expect { .. } => "`expect`",
        };
        out.problems.push(unfinished(req, what));
    }
    out
}
