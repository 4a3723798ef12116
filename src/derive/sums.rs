//! Adjoints and gradients under assumptions about sums of inputs' entries
//! (`derive adjoints assuming sum(y) = 1`).
//!
//! Such an assumption changes no forward value, so the adjoints are first
//! derived without it. It matters where an adjoint's equation is a closed
//! form of forward values that reads the input (`bar(s) = -y ./ s` for a
//! cross-entropy): written out in the equations that use that adjoint, it
//! may meet the input's sum (`s .* (bar(s) - s^T * bar(s))` becomes
//! `s - sum(y) * ...`). Each equation, in order, has the closed adjoints it
//! uses written out where their equations hold, the sum set to its value,
//! and the proof rules (the elementwise normal form among them) run on it;
//! the cheapest form is kept when it no longer needs the adjoints written
//! out and is no larger than the equation with them written out as they
//! are (or, where none is, than the equation as derived). An equation that
//! comes out closed and reads the input is written out in the later ones
//! in turn (`bar(b) = bar(z)` becomes `bar(b) = s - y`). Every union is an
//! equation that holds under the assumption, so every form kept is equal
//! to the derived one wherever the inputs have the assumed sums.

use super::expect::adjoint_equations;
use super::scope::{assume_sums, Scope};
use super::window::Window;
use crate::egraph::{extract, run, ShapeTable};
use crate::ir::build::ExprBuilder;
use crate::ir::{Ix, Leaf, Node, Ref, Target};
use crate::key::{Derived, Rhs, RunStats};
use crate::model::{Model, SumAssumption};
use crate::rules;
use crate::Limits;
use egg::{Id, Language, RecExpr};
use std::collections::BTreeSet;

/// The e-graph budget of one equation: that of a proof.
const NODES: usize = 20_000;
const ITERS: usize = 16;

/// The equations `equations` under the sums, with the closed adjoints
/// among `known` (and those the equations themselves give) written out;
/// the adjoints written out in some equation; the runs' statistics; and
/// whether a run stopped at a limit.
pub struct Substituted {
    /// The equations, in order.
    pub equations: Vec<Derived>,
    /// Adjoints written out in at least one equation.
    pub written_out: Vec<Ref>,
    /// Statistics of every e-graph run.
    pub stats: Vec<RunStats>,
    /// Whether a run stopped at a limit.
    pub limited: bool,
}

/// The adjoint an equation is about, if it is a variable's.
fn lhs_ref(d: &Derived) -> Option<Ref> {
    match crate::verify::target_of(d)? {
        Target::Var(r) => Some(r),
        Target::Param(_) => None,
    }
}

fn has_adjoints(e: &RecExpr<Node>) -> bool {
    e.as_ref()
        .iter()
        .any(|n| matches!(n, Node::Leaf(Leaf::Bar(_))))
}

fn reads_any(e: &RecExpr<Node>, vars: &BTreeSet<u32>) -> bool {
    e.as_ref()
        .iter()
        .any(|n| matches!(n, Node::Leaf(Leaf::Var(r)) if vars.contains(&r.var)))
}

/// `e` with each adjoint among `unions` replaced by its value.
fn write_out(e: &RecExpr<Node>, unions: &[(Ref, RecExpr<Node>)]) -> RecExpr<Node> {
    let mut b = ExprBuilder::new();
    let mut map: Vec<Id> = Vec::with_capacity(e.as_ref().len());
    for n in e.as_ref() {
        let id = match n {
            Node::Leaf(Leaf::Bar(Target::Var(r))) => match unions.iter().find(|(u, _)| u == r) {
                Some((_, v)) => b.copy_all(v),
                None => b.add(n.clone()),
            },
            other => b.add(other.clone().map_children(|c| map[usize::from(c)])),
        };
        map.push(id);
    }
    let root = map
        .last()
        .copied()
        .unwrap_or_else(|| b.num(crate::num::Rational::zero()));
    b.finish(root)
}

/// Derived equations under assumptions about sums (see the module
/// documentation).
pub fn substitute(
    model: &Model,
    shapes: &std::rc::Rc<ShapeTable>,
    limits: &Limits,
    known: &[Derived],
    equations: &[Derived],
    sums: &[SumAssumption],
) -> Substituted {
    let inputs: BTreeSet<u32> = sums.iter().map(|s| s.var).collect();
    // Closed adjoints that read a summed input, by their left sides.
    let mut closed: Vec<(Ref, RecExpr<Node>)> = adjoint_equations(known);
    closed.retain(|(_, e)| !has_adjoints(e) && reads_any(e, &inputs));
    let budget = Limits {
        egraph_nodes: limits.egraph_nodes.min(NODES),
        egraph_iters: limits.egraph_iters.min(ITERS),
        ..limits.clone()
    };
    let mut out = Substituted {
        equations: Vec::new(),
        written_out: Vec::new(),
        stats: Vec::new(),
        limited: false,
    };
    for d in equations {
        let Rhs::Expr(e) = &d.rhs else {
            out.equations.push(d.clone());
            continue;
        };
        let own = lhs_ref(d);
        let window = own
            .as_ref()
            .map_or_else(Window::whole, |r| Window::of_adjoint(model, r));
        // The closed adjoints this equation reads, where their equations
        // hold at every index value of its window; inside a `sum`, at
        // every value of the summed index. Written out by substitution,
        // they need no naming across the sum (which the window of the
        // simplification below leaves out).
        let reach = window.clone().for_proofs();
        let mut unions: Vec<(Ref, RecExpr<Node>)> = Vec::new();
        for n in e.as_ref() {
            let Node::Leaf(Leaf::Bar(Target::Var(b))) = n else {
                continue;
            };
            if unions.iter().any(|(u, _)| u == b) {
                continue;
            }
            if let Some(v) = reach.adjoint_at(model, b, &closed) {
                unions.push((b.clone(), v));
            }
        }
        if unions.is_empty() && !reads_any(e, &inputs) {
            out.equations.push(d.clone());
            continue;
        }
        let zero = BTreeSet::new();
        let scope = Scope {
            model,
            window: &window,
            assuming: &[],
            zero: &zero,
            name: true,
            also: &[],
        };
        let written = write_out(e, &unions);
        let (mut g, roots) = scope.graph(shapes, &[&written]);
        assume_sums(&mut g, model, sums);
        let ran = run(g, rules::prove(), &budget, "assume sums");
        out.stats.push(ran.stats.clone());
        out.limited |= ran.limited;
        let kept = extract(&ran.graph, roots[0])
            .map(|(_, best)| best)
            .filter(|best| {
                // No larger than the equation with the adjoints written out
                // as they are (so a form that meets the sum, and a gradient
                // `bar(z) * x^T` that becomes `(s - y) * x^T`, is kept).
                if !crate::egraph::writable(shapes, best) {
                    return false;
                }
                let size = crate::ir::size(best);
                size < crate::ir::size(e)
                    || (!unions.is_empty() && size <= crate::ir::size(&written))
            });
        let Some(best) = kept else {
            out.equations.push(d.clone());
            continue;
        };
        for (b, _) in &unions {
            let general = model.plain_ref(b.var);
            let named = if b.at.iter().all(|ix| matches!(ix, Ix::Rel(..))) {
                general
            } else {
                b.clone()
            };
            if !out.written_out.contains(&named) {
                out.written_out.push(named);
            }
        }
        if let Some(r) = &own {
            if !has_adjoints(&best) && reads_any(&best, &inputs) {
                closed.retain(|(l, _)| l != r);
                closed.push((r.clone(), best.clone()));
            }
        }
        out.equations.push(Derived {
            lhs: d.lhs.clone(),
            rhs: Rhs::Expr(best),
        });
    }
    out
}
