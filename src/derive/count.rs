//! `count params` and `count macs v[...]`: sizes and arithmetic read off the
//! checked model, as exact polynomials in the dims. The per-node arithmetic
//! lives in `cost`; this module decides what is counted and says, in notes,
//! what is not.

pub mod cost;

use crate::diag::Diagnostic;
use crate::ir::{Leaf, Node, Ref};
use crate::key::{Answer, Derived, Elementwise, Lhs, Note, Rhs};
use crate::model::{Model, Request};
use crate::poly::Poly;
pub use cost::{Cost, CostError, Func};
use egg::RecExpr;
use std::collections::BTreeSet;

/// The parameters an expression uses.
fn params_in(expr: &RecExpr<Node>, out: &mut BTreeSet<u32>) {
    for n in expr.as_ref() {
        if let Node::Leaf(Leaf::Param(p)) = n {
            out.insert(*p);
        }
    }
}

/// The parameters the model uses: in an equation, a boundary value (a
/// learned initial state is trained like any weight) or the loss.
pub fn used_params(model: &Model) -> BTreeSet<u32> {
    let mut used = BTreeSet::new();
    for eq in &model.equations {
        params_in(&eq.rhs, &mut used);
    }
    for init in &model.inits {
        params_in(&init.value, &mut used);
    }
    if let Some(loss) = &model.loss {
        params_in(&loss.value, &mut used);
    }
    used
}

fn too_large(req: &Request, what: &str) -> Diagnostic {
    Diagnostic::new(
        req.span,
        format!("{what} is too large to work with"),
        "not answered",
    )
    .hint("counts are polynomials of limited size in the dims")
}

/// `count params`: the total number of entries of the parameters the
/// model uses; a note names declared parameters nothing uses.
pub fn params(model: &Model, req: &Request, request: usize) -> Result<Answer, Diagnostic> {
    let used = used_params(model);
    let mut total = Poly::zero();
    let mut unused = Vec::new();
    for (p, decl) in model.params.iter().enumerate() {
        if used.contains(&(p as u32)) {
            let size = decl.shape.rows.mul(&decl.shape.cols);
            total = size
                .and_then(|s| total.add(&s))
                .ok_or_else(|| too_large(req, "the parameter count"))?;
        } else {
            unused.push(decl.name.as_str());
        }
    }
    let mut notes = Vec::new();
    if !unused.is_empty() {
        notes.push(Note::UnusedParams(
            unused.iter().map(|n| (*n).to_owned()).collect(),
        ));
    }
    Ok(Answer {
        request,
        equations: vec![Derived {
            lhs: Lhs::Params,
            rhs: Rhs::Poly(total),
        }],
        notes,
        verdict: None,
        stats: Vec::new(),
        failed: None,
        refused: None,
    })
}

/// The arithmetic of computing one value of variable `var` from its own
/// equation, every other value being given.
pub fn macs(model: &Model, var: u32) -> Result<Cost, CostError> {
    match model.equation_of(var) {
        Some(eq) => cost::cost(model, &eq.norm),
        None => Ok(Cost::default()),
    }
}

/// The elementwise work beside the MACs, as a note gives it.
pub fn elementwise(c: &Cost) -> Elementwise {
    Elementwise {
        adds: c.adds.clone(),
        muls: c.muls.clone(),
        funcs: c
            .funcs
            .iter()
            .filter(|(_, n)| !n.is_zero())
            .map(|(f, n)| (f.name(), n.clone()))
            .collect(),
    }
}

/// `count macs v[...]`: `macs(v[...]) = ...`, with notes for the
/// elementwise work and for what has no honest cost.
pub fn macs_answer(
    model: &Model,
    target: &Ref,
    req: &Request,
    request: usize,
) -> Result<Answer, Diagnostic> {
    let c = macs(model, target.var).map_err(|e| match e {
        CostError::TooLarge => too_large(req, "the count"),
        CostError::SumWithoutRange(i) => {
            let name = model.symbols.index_name(i);
            Diagnostic::new(
                req.span,
                format!("`count macs` needs the range of index `{name}`, which a `sum` runs over"),
                "not answered",
            )
            .hint(format!(
                "declare it, such as `index {name} in 1..N`: a sum costs its body once per value"
            ))
        }
        CostError::MaybeEmpty(i) => {
            let name = model.symbols.index_name(i);
            Diagnostic::new(
                req.span,
                format!("`count macs` needs the range of index `{name}` to have a value for every size"),
                "not answered",
            )
            .hint(format!(
                "a `sum` over `{name}` costs its body once per value and one addition fewer; declare a range that is never empty, such as `index {name} in 1..N`"
            ))
        }
    })?;
    let mut notes = vec![Note::Elementwise(elementwise(&c))];
    if !c.uncosted.is_empty() {
        notes.push(Note::Uncosted(c.uncosted.iter().cloned().collect()));
    }
    Ok(Answer {
        request,
        equations: vec![Derived {
            lhs: Lhs::Macs(target.clone()),
            rhs: Rhs::Poly(c.macs),
        }],
        notes,
        verdict: None,
        stats: Vec::new(),
        failed: None,
        refused: None,
    })
}
