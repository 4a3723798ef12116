//! `count params` and `count macs v[...]`: sizes and arithmetic read off the
//! checked model, as exact polynomials in the dims. The per-node arithmetic
//! lives in `cost`; this module decides what is counted and says, in notes,
//! what is not.

pub mod cost;

use crate::diag::Diagnostic;
use crate::ir::{Leaf, Node, Ref};
use crate::key::{Answer, Derived, Elementwise, Lhs, Note, Part, Rhs, Step};
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

/// The number of values of `v`, a parameter with indices, that the model
/// reads: along each index, the values its equations and sums run over.
/// A parameter with indices is read only at the index value of the
/// equation or sum that uses it (the checker sees to it), so along an
/// index that an equation leaves free it reads the values the equation is
/// computed at, `lo + a ..= hi + b`, and along one a `sum` binds, the whole
/// range; the union is `lo + min a ..= hi + max b`. `Err` names an index
/// without a declared range.
pub fn indexed_values(model: &Model, v: u32) -> Result<Option<Poly>, u32> {
    let Some(decl) = model.vars.get(v as usize) else {
        return Ok(None);
    };
    let reads = |e: &RecExpr<Node>| {
        e.as_ref()
            .iter()
            .any(|n| matches!(n, Node::Leaf(Leaf::Var(r)) if r.var == v))
    };
    // Offsets `(a, b)` from the ends of the range, for each index of `v`.
    let mut spans: Vec<Vec<(i64, i64)>> = vec![Vec::new(); decl.indices.len()];
    for eq in model.equations.iter().filter(|eq| reads(&eq.rhs)) {
        let own = &model.vars[eq.var as usize].indices;
        let domain = model.domain(eq.var).unwrap_or_default();
        let shift = model.lhs_shift(eq.var).unwrap_or_default();
        for (p, &i) in decl.indices.iter().enumerate() {
            let span = match own.iter().position(|&j| j == i) {
                Some(q) => {
                    let (lower, upper) = domain.get(q).copied().unwrap_or((0, 0));
                    let d = shift.get(q).copied().unwrap_or(0);
                    (lower - d, upper - d)
                }
                None => (0, 0),
            };
            spans[p].push(span);
        }
    }
    let elsewhere = model.inits.iter().any(|i| reads(&i.value))
        || model.loss.as_ref().is_some_and(|l| reads(&l.value));
    if elsewhere {
        for s in &mut spans {
            s.push((0, 0));
        }
    }
    if spans.iter().any(Vec::is_empty) {
        return Ok(None);
    }
    let mut count = Some(Poly::int(1));
    for (p, &i) in decl.indices.iter().enumerate() {
        let Some((lo, hi)) = model.indices.get(i as usize).and_then(|d| d.range.clone()) else {
            return Err(i);
        };
        let a = spans[p].iter().map(|s| s.0).min().unwrap_or(0);
        let b = spans[p].iter().map(|s| s.1).max().unwrap_or(0);
        let values = hi.sub(&lo).and_then(|n| n.add(&Poly::int(1 + b - a)));
        count = count.zip(values).and_then(|(c, n)| c.mul(&n));
    }
    Ok(count)
}

fn too_large(req: &Request, what: &str) -> Diagnostic {
    Diagnostic::new(
        req.span,
        format!("{what} is too large to work with"),
        "not answered",
    )
    .hint("counts are polynomials of limited size in the dims")
}

/// One parameter the model uses, as counted: its entries, for each value
/// of its indices where it has them.
struct Counted {
    /// The parameter, as a leaf: `W`, or `W[l]` at its own indices.
    leaf: Leaf,
    /// The entries of one value.
    size: Poly,
    /// How many values it has, for a parameter with indices.
    values: Option<Poly>,
    /// Its entries in all.
    total: Poly,
}

/// Every parameter the model uses, counted, and the names of those it
/// declares and does not use.
fn counted<'m>(
    model: &'m Model,
    req: &Request,
) -> Result<(Vec<Counted>, Vec<&'m str>), Diagnostic> {
    let large = || too_large(req, "the parameter count");
    let used = used_params(model);
    let mut out = Vec::new();
    let mut unused = Vec::new();
    for (p, decl) in model.params.iter().enumerate() {
        if used.contains(&(p as u32)) {
            let size = decl.shape.rows.mul(&decl.shape.cols).ok_or_else(large)?;
            out.push(Counted {
                leaf: Leaf::Param(p as u32),
                total: size.clone(),
                size,
                values: None,
            });
        } else {
            unused.push(decl.name.as_str());
        }
    }
    for (v, decl) in model.vars.iter().enumerate() {
        if !decl.learned {
            continue;
        }
        let values = indexed_values(model, v as u32).map_err(|i| {
            let index = model.symbols.index_name(i);
            Diagnostic::new(
                req.span,
                format!(
                    "`{}` has one value per value of `{index}`, whose range is not declared",
                    decl.name
                ),
                "not answered",
            )
            .hint(format!(
                "declare the range, such as `index {index} in 1..L`, so that the count is a polynomial in the dims"
            ))
        })?;
        match values {
            Some(n) => {
                let size = decl.shape.rows.mul(&decl.shape.cols).ok_or_else(large)?;
                out.push(Counted {
                    leaf: Leaf::Var(model.plain_ref(v as u32)),
                    total: size.mul(&n).ok_or_else(large)?,
                    size,
                    values: Some(n),
                });
            }
            None => unused.push(decl.name.as_str()),
        }
    }
    Ok((out, unused))
}

/// `count params`: the total number of entries of the parameters the
/// model uses; a note names declared parameters nothing uses.
pub fn params(model: &Model, req: &Request, request: usize) -> Result<Answer, Diagnostic> {
    let (counted, unused) = counted(model, req)?;
    let total = counted
        .iter()
        .try_fold(Poly::zero(), |acc, c| acc.add(&c.total))
        .ok_or_else(|| too_large(req, "the parameter count"))?;
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
        steps: Vec::new(),
        named: Vec::new(),
    })
}

/// The steps of `count params`: the size of each parameter the model
/// uses, one term each, then their sum.
pub fn params_steps(model: &Model, req: &Request, a: &Answer) -> Vec<Step> {
    use super::steps::text;
    let Ok((counted, _)) = counted(model, req) else {
        return Vec::new();
    };
    let mut terms = Vec::new();
    let mut names = Vec::new();
    for c in counted {
        let mut name = vec![
            Part::Expr(super::adjoint::leaf_expr(c.leaf)),
            text(" ("),
            Part::Poly(c.size),
        ];
        if let Some(n) = c.values {
            name.push(text(" each, for "));
            name.push(Part::Poly(n));
            name.push(text(" index values"));
        }
        name.push(text(")"));
        names.push(name);
        terms.push(c.total);
    }
    let Some(total) = a.equations.first().map(|d| d.rhs.clone()) else {
        return Vec::new();
    };
    let mut why = vec![text("the entries of each parameter the model uses: ")];
    why.extend(super::steps::listed_groups(names));
    let mut out = vec![Step {
        rhs: Rhs::Terms(terms),
        why,
        assumed: true,
    }];
    out.push(Step {
        rhs: total,
        why: vec![text("like terms collected")],
        assumed: true,
    });
    super::steps::dedup(out, &model.symbols)
}

/// The steps of `count macs v[...]`: the multiply-accumulates of each
/// matrix product in the equation of `v`, then their sum.
pub fn macs_steps(model: &Model, target: &Ref, a: &Answer) -> Vec<Step> {
    use super::steps::text;
    let (Some(eq), Ok(c)) = (model.equation_of(target.var), macs(model, target.var)) else {
        return Vec::new();
    };
    let Some(total) = a.equations.first().map(|d| d.rhs.clone()) else {
        return Vec::new();
    };
    let mut why = vec![];
    if c.products.is_empty() {
        why.push(text("no matrix products"));
    } else {
        why.push(Part::Words {
            plain: "an m x k matrix times a k x n one costs m*k*n multiply-accumulates; one term per product: ",
            latex: r"an $m \times k$ matrix times a $k \times n$ one costs $mkn$ multiply-accumulates; one term per product: ",
        });
        why.extend(super::steps::listed_groups(
            c.products
                .iter()
                .map(|(k, m)| {
                    let e = crate::ir::build::subtree(&eq.norm, egg::Id::from(*k));
                    vec![Part::Expr(e), text(" ("), Part::Poly(m.clone()), text(")")]
                })
                .collect(),
        ));
    }
    let out = vec![
        Step {
            rhs: Rhs::Terms(c.products.iter().map(|(_, m)| m.clone()).collect()),
            why,
            assumed: true,
        },
        Step {
            rhs: total,
            why: vec![text("like terms collected")],
            assumed: true,
        },
    ];
    super::steps::dedup(out, &model.symbols)
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
        steps: Vec::new(),
        named: Vec::new(),
    })
}
