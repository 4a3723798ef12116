//! Simplifying one expression: a run of a rule set in a [`Scope`] (forward
//! values named, assumptions substituted where they hold), and the cheapest
//! form that keeps every shape.

use super::scope::Scope;
use crate::egraph::RuleSet;
use crate::egraph::{extract, extract_plain, graph, run, ShapeTable};
use crate::ir::Node;
use crate::key::RunStats;
use crate::Limits;
use egg::RecExpr;
use std::rc::Rc;

/// A finished rewrite: the best expression, whether a limit stopped it,
/// and the scalars it assumed nonzero.
pub struct Simplified {
    /// The cheapest equal expression.
    pub expr: RecExpr<Node>,
    /// Its extraction cost.
    pub cost: usize,
    /// Whether a limit stopped the run before saturation.
    pub limited: bool,
    /// Scalars a rewrite assumed nonzero, as expressions.
    pub nonzero: Vec<RecExpr<Node>>,
    /// The run's statistics.
    pub stats: RunStats,
}

/// Runs `rules` on `expr` (in a [`Scope`]: forward values named,
/// assumptions substituted, where they hold) and extracts the result.
pub fn rewrite(
    shapes: &Rc<ShapeTable>,
    scope: Option<&Scope<'_>>,
    expr: &RecExpr<Node>,
    rules: &RuleSet,
    limits: &Limits,
    what: &str,
) -> Simplified {
    let (g, root) = match scope {
        Some(s) => {
            let (g, roots) = s.graph(shapes, &[expr]);
            (g, roots[0])
        }
        None => {
            let mut g = graph(shapes);
            let root = g.add_expr(expr);
            (g, root)
        }
    };
    let ran = run(g, rules, limits, what);
    let root = ran.graph.find(root);
    // Where no simpler form keeps every shape, the form we started from
    // stands (it is correct), with the note that simplification stopped.
    let (cost, best, unshaped) = match extract(&ran.graph, root) {
        Some((cost, best)) => (cost, best, false),
        None => (0, expr.clone(), true),
    };
    let mut nonzero = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for &id in &ran.graph.analysis.nonzero {
        let id = ran.graph.find(id);
        if seen.insert(id) {
            nonzero.push(extract_plain(&ran.graph, id).1);
        }
    }
    Simplified {
        expr: best,
        cost,
        limited: ran.limited || unshaped,
        nonzero,
        stats: ran.stats,
    }
}
