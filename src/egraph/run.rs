//! Running rewrites: one small e-graph per derivation step, with explicit
//! iteration and node limits (the time limit is only a safety net, since it
//! would make results depend on load), and the stop reason recorded.

use super::extract::{extract_shaped, extract_unchecked};
use super::{Rewrite, RuleSet};
use crate::ir::analysis::{Graph, Meta};
use crate::ir::LeafShapes;
use crate::ir::Node;
use crate::key::RunStats;
use crate::model::Model;
use crate::Limits;
use egg::{Id, Language, RecExpr, RewriteScheduler, Runner, SearchMatches, StopReason};
use std::rc::Rc;
use std::time::Duration;

/// The model's leaf shapes, shared by every e-graph of a run: the table
/// the checked model keeps with its names.
pub type ShapeTable = crate::ir::LeafShapeTable;

impl ShapeTable {
    /// The shapes of a model's leaves.
    pub fn new(model: &Model) -> ShapeTable {
        ShapeTable {
            params: model.params.iter().map(|p| p.shape.clone()).collect(),
            vars: model.vars.iter().map(|v| v.shape.clone()).collect(),
            fns: model.fns.iter().map(|f| f.domain.clone()).collect(),
            fn_values: model.fns.iter().map(|f| f.codomain.clone()).collect(),
        }
    }
}

/// An empty e-graph for a model.
pub fn graph(shapes: &Rc<ShapeTable>) -> Graph {
    let leaves: Rc<dyn LeafShapes> = shapes.clone();
    Graph::new(Meta::new(leaves))
}

/// The longest one e-graph run may take, as a safety net behind the
/// iteration and node limits.
pub const SAFETY_NET: Duration = Duration::from_secs(60);

/// Runs `f` with egg's clock frozen. egg times every iteration and every
/// rebuild with quanta's clock, whose first use calibrates the processor's
/// counter: 16 million instructions, more than the rest of the LSTM's key.
/// Nothing here reads those timings, and no result depends on them (egg's
/// time limit is off, see [`run_until`]); should egg change its clock, the
/// test `egg_clock_is_frozen` fails and only speed is at stake.
pub fn frozen_clock<T>(f: impl FnOnce() -> T) -> T {
    let (clock, _mock) = quanta::Clock::mock();
    quanta::with_clock(&clock, f)
}

/// The outcome of one run: the e-graph and its statistics.
pub struct Ran {
    /// The saturated (or stopped) e-graph.
    pub graph: Graph,
    /// What happened.
    pub stats: RunStats,
    /// Whether a limit stopped the run before saturation.
    pub limited: bool,
}

/// Runs `rules` on `graph` within the limits.
pub fn run(graph: Graph, rules: &RuleSet, limits: &Limits, what: &str) -> Ran {
    run_until(graph, rules, limits, what, None)
}

/// Runs `rules` on `graph` within the limits, stopping early once the
/// classes of `goal` are one (a proof found).
pub fn run_until(
    graph: Graph,
    rules: &RuleSet,
    limits: &Limits,
    what: &str,
    goal: Option<(Id, Id)>,
) -> Ran {
    // Results must not depend on the machine's load: egg's own time limit
    // is off, and the run stops at the node and iteration limits. The
    // safety net is a wall-clock check of our own, in the hook.
    let deadline = std::time::Instant::now() + SAFETY_NET;
    let runner = Runner::default()
        .with_egraph(graph)
        .with_iter_limit(limits.egraph_iters)
        .with_node_limit(limits.egraph_nodes)
        .with_time_limit(Duration::MAX)
        .with_scheduler(Budgeted::new(limits.egraph_nodes))
        .with_hook(move |r| {
            if goal.is_some_and(|(a, b)| r.egraph.find(a) == r.egraph.find(b)) {
                return Err("proved".to_owned());
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("time limit ({} s)", SAFETY_NET.as_secs()));
            }
            Ok(())
        });
    let runner = runner.run(rules.iter().copied());
    let (stop, limited) = match &runner.stop_reason {
        Some(StopReason::Saturated) => ("saturated".to_owned(), false),
        Some(StopReason::IterationLimit(n)) => (format!("iteration limit ({n})"), true),
        Some(StopReason::NodeLimit(n)) => (format!("node limit ({n})"), true),
        Some(StopReason::TimeLimit(s)) => (format!("time limit ({s} s)"), true),
        Some(StopReason::Other(o)) if o == "proved" => (o.clone(), false),
        Some(StopReason::Other(o)) => (o.clone(), true),
        None => ("not run".to_owned(), false),
    };
    if limited && std::env::var_os("DERIV_DEBUG_RULES").is_some() {
        for (k, it) in runner.iterations.iter().enumerate() {
            eprintln!(
                "{what}: iteration {k}: {} nodes, applied {:?}",
                it.egraph_nodes, it.applied
            );
        }
    }
    let graph = runner.egraph;
    if limited && std::env::var_os("DERIV_DEBUG_CLASSES").is_some() {
        let mut classes: Vec<_> = graph.classes().collect();
        classes.sort_by_key(|c| std::cmp::Reverse(c.nodes.len()));
        for c in classes.iter().take(6) {
            let (_, best) = extract_plain(&graph, c.id);
            eprintln!("class {} ({} nodes): best {}", c.id, c.nodes.len(), best);
            for n in c.nodes.iter().take(12) {
                eprintln!("    {n:?}");
            }
        }
    }
    let stats = RunStats {
        what: what.to_owned(),
        iterations: runner.iterations.len(),
        nodes: graph.total_size(),
        classes: graph.number_of_classes(),
        stop,
    };
    Ran {
        graph,
        stats,
        limited,
    }
}

/// Runs every rule in every iteration, as egg's `SimpleScheduler` does,
/// but keeps the node limit inside an iteration too. egg checks the limit
/// only between rules, and one rule with many matches can add far more
/// nodes than the limit in a single application (fuzzing found a 5,000-node
/// limit overrun to two million nodes and 13 seconds), so matches are
/// applied a few at a time until the graph is over the limit, and a search
/// stops after a number of matches no run within the limit could use.
struct Budgeted {
    node_limit: usize,
    /// Whether a search this iteration stopped at its cap, so matches may
    /// be unseen and the run must not call itself saturated.
    truncated: bool,
}

impl Budgeted {
    /// Matches applied between two looks at the graph's size.
    const CHUNK: usize = 16;

    fn new(node_limit: usize) -> Budgeted {
        Budgeted {
            node_limit,
            truncated: false,
        }
    }

    /// The most matches one rule's search may return: every one that
    /// could add a node within the limit, and more for those that only
    /// find what is already there.
    fn search_cap(&self) -> usize {
        self.node_limit.saturating_mul(4).max(1024)
    }
}

impl RewriteScheduler<Node, Meta> for Budgeted {
    fn can_stop(&mut self, _iteration: usize) -> bool {
        !std::mem::take(&mut self.truncated)
    }

    fn search_rewrite<'a>(
        &mut self,
        _iteration: usize,
        egraph: &Graph,
        rewrite: &'a Rewrite,
    ) -> Vec<SearchMatches<'a, Node>> {
        let cap = self.search_cap();
        let found = rewrite.search_with_limit(egraph, cap);
        if found.iter().map(|m| m.substs.len()).sum::<usize>() >= cap {
            self.truncated = true;
        }
        found
    }

    fn apply_rewrite(
        &mut self,
        _iteration: usize,
        egraph: &mut Graph,
        rewrite: &Rewrite,
        matches: Vec<SearchMatches<Node>>,
    ) -> usize {
        let mut applied = 0;
        for m in &matches {
            for substs in m.substs.chunks(Self::CHUNK) {
                if egraph.total_size() > self.node_limit {
                    // egg sees the size after this rule and stops the run
                    // with its node limit.
                    return applied;
                }
                let part = SearchMatches {
                    eclass: m.eclass,
                    substs: substs.to_vec(),
                    ast: m.ast.clone(),
                };
                applied += rewrite.apply(egraph, std::slice::from_ref(&part)).len();
            }
        }
        applied
    }
}

/// The cheapest expression of a class that keeps every value's shape, and
/// its cost; `None` if the graph holds none (see [`super::extract`](mod@super::extract)).
pub fn extract(graph: &Graph, root: Id) -> Option<(usize, RecExpr<Node>)> {
    if graph.analysis.shape_conflict {
        return None;
    }
    extract_shaped(graph, root)
}

/// Whether `expr` is written as a script writes it: every elementwise
/// product of two values of one shape. The proof rules' normal form may
/// broadcast a scalar through `.*`, which no script can write, so a form
/// extracted from their graph for printing is checked with this.
pub fn writable(shapes: &Rc<ShapeTable>, expr: &RecExpr<Node>) -> bool {
    let mut g = graph(shapes);
    let mut ids: Vec<Id> = Vec::with_capacity(expr.as_ref().len());
    for n in expr.as_ref() {
        let id = g.add(n.clone().map_children(|c| ids[usize::from(c)]));
        ids.push(id);
    }
    expr.as_ref().iter().all(|n| match n {
        Node::Had([a, b]) => {
            let (a, b) = (ids[usize::from(*a)], ids[usize::from(*b)]);
            crate::ir::analysis::shape_of(&g, a) == crate::ir::analysis::shape_of(&g, b)
        }
        _ => true,
    })
}

/// The cheapest expression of a class, shapes unchecked: for scalars
/// (conditions) and debugging output only.
pub fn extract_plain(graph: &Graph, root: Id) -> (usize, RecExpr<Node>) {
    extract_unchecked(graph, root)
}

#[cfg(test)]
mod tests {
    use super::frozen_clock;
    use egg::{rewrite, Runner, SymbolLang};

    /// egg's timings read zero under the frozen clock: if egg changes its
    /// clock, the freeze stops working and this fails (results would not
    /// change, since no limit here is a time, but every run would pay for
    /// the clock's calibration).
    #[test]
    fn egg_clock_is_frozen() {
        let rules: Vec<egg::Rewrite<SymbolLang, ()>> = vec![
            rewrite!("commute"; "(+ ?a ?b)" => "(+ ?b ?a)"),
            rewrite!("assoc"; "(+ ?a (+ ?b ?c))" => "(+ (+ ?a ?b) ?c)"),
        ];
        let Ok(start) = "(+ a (+ b (+ c (+ d e))))".parse() else {
            unreachable!("the expression is well formed")
        };
        let runner = frozen_clock(|| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            Runner::default().with_expr(&start).run(&rules)
        });
        assert!(!runner.iterations.is_empty());
        for it in &runner.iterations {
            assert_eq!(it.total_time, 0.0, "egg's clock ran: {it:?}");
        }
    }
}
