//! The e-graph machinery: running rule sets with limits (`run`),
//! extracting the cheapest readable form that keeps every shape
//! (`extract`, with its cost model), and reading and searching rule
//! patterns (`search`). The rules themselves are in `rules`; what a
//! derivation does with a graph is in `derive`.

pub mod extract;
pub mod run;
pub mod search;

pub use extract::UNRESOLVED;
pub use run::{extract, extract_plain, frozen_clock, graph, run, run_until, writable, ShapeTable};

use crate::ir::analysis::Meta;
use crate::ir::Node;

/// A rewrite over the IR.
pub type Rewrite = egg::Rewrite<Node, Meta>;

/// A rule set: rules shared with other sets, each compiled once.
pub type RuleSet = [&'static Rewrite];

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
                let ran = super::run::run(g, rules, &limits, "test");
                let root = ran.graph.find(root);
                (ran.graph, root)
            })
            .collect()
    }
}
