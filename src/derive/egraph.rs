//! Running rewrites: one small e-graph per derivation step, with explicit
//! iteration and node limits (the time limit is only a safety net, since it
//! would make results depend on load), the stop reason recorded, and an
//! extraction cost that prefers finished, readable forms.

use crate::ir::analysis::{Graph, Meta};
use crate::ir::{Leaf, LeafShapes, Node};
use crate::key::RunStats;
use crate::model::Model;
use crate::rules::Rewrite;
use crate::shape::Shape;
use crate::Limits;
use egg::{CostFunction, Extractor, Id, Language, RecExpr, Runner, SimpleScheduler, StopReason};
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
        use crate::ir::Target;
        let get = |v: &Vec<Shape>, i: u32| v.get(i as usize).cloned().unwrap_or_else(Shape::scalar);
        match leaf {
            Leaf::Param(p) | Leaf::Bar(Target::Param(p)) => get(&self.params, *p),
            Leaf::Var(r) | Leaf::Bar(Target::Var(r)) => get(&self.vars, r.var),
            Leaf::Dim(_) | Leaf::Index(_) | Leaf::Fn(_) => Shape::scalar(),
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

/// The cost of a node as printed: unresolved derivatives are prohibitive,
/// derivative forms such as `sigma'(a)` dearer than their expansion in
/// named forward values, names and numbers cheapest.
pub struct ReadableCost;

/// The cost of an unresolved derivative; any extraction at or above it did
/// not finish differentiating.
pub const UNRESOLVED: usize = 1_000_000;

impl CostFunction<Node> for ReadableCost {
    type Cost = usize;

    fn cost<C>(&mut self, enode: &Node, mut costs: C) -> usize
    where
        C: FnMut(Id) -> usize,
    {
        let own = match enode {
            Node::Vjp(_) | Node::Jac(_) => UNRESOLVED,
            Node::DSigma(_) | Node::DTanh(_) | Node::DExp(_) | Node::DLog(_) | Node::DSqrt(_) => 40,
            Node::Leaf(_) | Node::Num(_) => 1,
            _ => 2,
        };
        enode.fold(own, |sum, id| sum.saturating_add(costs(id)))
    }
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
pub fn run(graph: Graph, rules: &[Rewrite], limits: &Limits, what: &str) -> Ran {
    let runner = Runner::default()
        .with_egraph(graph)
        .with_iter_limit(limits.egraph_iters)
        .with_node_limit(limits.egraph_nodes)
        .with_time_limit(Duration::from_secs(60))
        .with_scheduler(SimpleScheduler)
        .run(rules);
    let (stop, limited) = match &runner.stop_reason {
        Some(StopReason::Saturated) => ("saturated".to_owned(), false),
        Some(StopReason::IterationLimit(n)) => (format!("iteration limit ({n})"), true),
        Some(StopReason::NodeLimit(n)) => (format!("node limit ({n})"), true),
        Some(StopReason::TimeLimit(s)) => (format!("time limit ({s} s)"), true),
        Some(StopReason::Other(o)) => (o.clone(), true),
        None => ("not run".to_owned(), false),
    };
    if limited && std::env::var_os("DERIV_DEBUG_RULES").is_some() {
        if let Some(last) = runner.iterations.last() {
            eprintln!("{what}: last iteration applied {:?}", last.applied);
        }
    }
    let graph = runner.egraph;
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

/// The cheapest expression of a class, and its cost.
pub fn extract(graph: &Graph, root: Id) -> (usize, RecExpr<Node>) {
    let ex = Extractor::new(graph, ReadableCost);
    ex.find_best(root)
}
