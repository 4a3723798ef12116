//! Running rewrites: one small e-graph per derivation step, with explicit
//! iteration and node limits (the time limit is only a safety net, since it
//! would make results depend on load), the stop reason recorded, and an
//! extraction cost that prefers finished, readable forms.

pub use super::scope::Scope;
pub use super::window::Window;
use crate::ir::analysis::{Graph, Meta};
use crate::ir::{Leaf, LeafShapes, Node};
use crate::key::RunStats;
use crate::model::Model;
use crate::rules::{Rewrite, RuleSet};
use crate::shape::Shape;
use crate::Limits;
use egg::{Id, Language, RecExpr, RewriteScheduler, Runner, SearchMatches, StopReason};
use std::rc::Rc;
use std::time::Duration;

/// The model's leaf shapes, shared by every e-graph of a run.
#[derive(Debug, Clone)]
pub struct ShapeTable {
    params: Vec<Shape>,
    vars: Vec<Shape>,
    fns: Vec<Shape>,
}

impl ShapeTable {
    /// The shapes of a model's leaves.
    pub fn new(model: &Model) -> ShapeTable {
        ShapeTable {
            params: model.params.iter().map(|p| p.shape.clone()).collect(),
            vars: model.vars.iter().map(|v| v.shape.clone()).collect(),
            fns: model.fns.iter().map(|f| f.domain.clone()).collect(),
        }
    }
}

impl LeafShapes for ShapeTable {
    fn leaf_shape(&self, leaf: &Leaf) -> Shape {
        self.stored_leaf_shape(leaf)
            .cloned()
            .unwrap_or_else(Shape::scalar)
    }

    fn stored_leaf_shape(&self, leaf: &Leaf) -> Option<&Shape> {
        use crate::ir::Target;
        match leaf {
            Leaf::Param(p) | Leaf::Bar(Target::Param(p)) => self.params.get(*p as usize),
            Leaf::Var(r) | Leaf::Bar(Target::Var(r)) => self.vars.get(r.var as usize),
            Leaf::Dim(_) | Leaf::Index(_) | Leaf::Fn(_) => None,
        }
    }

    fn fn_domain(&self, f: u32) -> Shape {
        self.fns
            .get(f as usize)
            .cloned()
            .unwrap_or_else(Shape::scalar)
    }
}

/// An empty e-graph for a model.
pub fn graph(shapes: &Rc<ShapeTable>) -> Graph {
    let leaves: Rc<dyn LeafShapes> = shapes.clone();
    Graph::new(Meta::new(leaves))
}

/// The cost of an unresolved derivative; any extraction at or above it did
/// not finish differentiating.
pub const UNRESOLVED: usize = 1_000_000;

/// The cost of a node as printed: unresolved derivatives are prohibitive,
/// derivative forms such as `sigma'(a)` dearer than their expansion in
/// named forward values, names and numbers cheapest. `child` gives each
/// operand's cost; an operand that is zero (`zero`) costs what `0` costs,
/// whatever node stands for it (a vector's zero is `0 * v` in the graph and
/// prints as `0`).
pub fn readable_cost(
    enode: &Node,
    mut zero: impl FnMut(Id) -> bool,
    mut child: impl FnMut(Id) -> usize,
) -> usize {
    // A determinant or inverse of a larger matrix is more work to read than
    // scalars pulled out of it: `beta^D * det(X)` beats `det(beta * X)`.
    let (own, weight) = match enode {
        Node::Vjp(_) | Node::Jac(_) => (UNRESOLVED, 1),
        Node::Act(f, _) if f.prime => (f.act.row().prime_cost, 1),
        Node::Det(_) | Node::Inv(_) => (4, 3),
        Node::Div(_) => (3, 1),
        Node::Leaf(_) | Node::Num(_) => (1, 1),
        _ => (2, 1),
    };
    enode.fold(own, |sum, id| {
        let c = if zero(id) { 1 } else { child(id) };
        sum.saturating_add(c.saturating_mul(weight))
    })
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
/// its cost; `None` if the graph holds none (see [`super::extract`]).
pub fn extract(graph: &Graph, root: Id) -> Option<(usize, RecExpr<Node>)> {
    if graph.analysis.shape_conflict {
        return None;
    }
    super::extract::extract_shaped(graph, root)
}

/// The cheapest expression of a class, shapes unchecked: for scalars
/// (conditions) and debugging output only.
pub fn extract_plain(graph: &Graph, root: Id) -> (usize, RecExpr<Node>) {
    super::extract::extract_unchecked(graph, root)
}

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

/// Graphs that rules have grown from random expressions, for tests that
/// compare this crate's searching and extraction with egg's own.
#[cfg(test)]
pub(crate) mod grown {
    use crate::ir::analysis::{Graph, Meta};
    use crate::ir::build::ExprBuilder;
    use crate::ir::{Act, Leaf, Node};
    use egg::Id;

    /// A random expression over a few scalar leaves, from `seed`.
    fn expression(seed: &mut u64, b: &mut ExprBuilder, depth: usize) -> Id {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let pick = (*seed >> 33) % if depth == 0 { 3 } else { 11 };
        let binary: [fn([Id; 2]) -> Node; 4] = [Node::Add, Node::Sub, Node::Mul, Node::Had];
        let unary: [fn(Id) -> Node; 3] = [
            Node::Neg,
            |a| Node::act(Act::Sigma, false, a),
            |a| Node::act(Act::Tanh, true, a),
        ];
        let leaf = (*seed >> 40) as u32 % 3;
        let mut kid = |b: &mut ExprBuilder| expression(seed, b, depth - 1);
        match pick {
            0 => b.leaf(Leaf::Param(leaf)),
            1 => b.int(i64::from(leaf)),
            2 => b.leaf(Leaf::Dim(0)),
            3..=6 => {
                let (x, y) = (kid(b), kid(b));
                b.add(binary[pick as usize - 3]([x, y]))
            }
            7..=9 => {
                let x = kid(b);
                b.add(unary[pick as usize - 7](x))
            }
            _ => {
                let x = kid(b);
                let two = b.int(2);
                b.add(Node::Pow([x, two]))
            }
        }
    }

    /// `count` graphs, each with its root: every third the chain rule
    /// grew from `vjp(1, p0, e)`, the others the simplifying rules grew
    /// from `e`, for random expressions `e` of depth 5 over scalar leaves.
    pub fn graphs(count: usize) -> Vec<(Graph, Id)> {
        let limits = crate::Limits {
            egraph_nodes: 2_000,
            egraph_iters: 8,
            ..Default::default()
        };
        let mut seed = 0x5eed_u64;
        (0..count)
            .map(|k| {
                let mut b = ExprBuilder::new();
                let mut root = expression(&mut seed, &mut b, 5);
                let rules = if k % 3 == 0 {
                    let one = b.int(1);
                    let x = b.leaf(Leaf::Param(0));
                    root = b.add(Node::Vjp([one, x, root]));
                    crate::rules::differentiate()
                } else {
                    crate::rules::simplify()
                };
                let expr = b.finish(root);
                let mut g = Graph::new(Meta::default());
                let root = g.add_expr(&expr);
                let ran = super::run(g, rules, &limits, "test");
                let root = ran.graph.find(root);
                (ran.graph, root)
            })
            .collect()
    }
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
