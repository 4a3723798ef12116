//! The derivatives of the elementwise functions, written with the function
//! values themselves, so that a named forward value (`i[t]` for
//! `sigma(...)`) can stand in for them: `sigma' = sigma (1 - sigma)`,
//! `tanh' = 1 - tanh^2`. Each identity is its function's row of the
//! table (`ir::act::ROWS`). A softmax written by hand, `exp(z) /
//! sum(exp(z))` of a vector, is the softmax, so that its adjoint has the
//! textbook form.

use super::{guarded, is_column, Rewrite};
use crate::ir::act::ROWS;

/// The activation identities.
pub fn rules() -> Vec<Rewrite> {
    ROWS.iter()
        .filter_map(|row| {
            let f = row.name;
            Some(guarded(
                &format!("act-{f}-d"),
                &format!("({f}' ?u)"),
                row.identity?,
                Vec::new(),
            ))
        })
        .chain(ROWS.iter().flat_map(|row| {
            row.more
                .iter()
                .enumerate()
                .map(move |(k, (l, r))| guarded(&format!("act-{}-{k}", row.name), l, r, Vec::new()))
        }))
        .chain([
            guarded(
                "act-softmax-0",
                "(/ (exp ?u) (sumall (exp ?u)))",
                "(softmax ?u)",
                vec![Box::new(is_column("?u"))],
            ),
            // `step(u) = step(relu(u))`, right to left of the step row's
            // identity (which the normal form applies left to right), so
            // that a named value `h = relu(u)` stands in for `u` in a
            // derivative however it was first written: `step(h)`, which an
            // assumption `h = 0` makes zero. Only where `relu(u)` is in
            // the graph already (a definition): elsewhere it would add a
            // `relu` to every step's argument for nothing.
            guarded(
                "act-step-back",
                "(step ?u)",
                "(step (relu ?u))",
                vec![Box::new(rectified_in_graph("?u"))],
            ),
        ])
        .collect()
}

/// `relu(?u)` is a node of the graph already.
fn rectified_in_graph(
    u: &str,
) -> impl Fn(&mut crate::ir::analysis::Graph, egg::Id, &egg::Subst) -> bool {
    let u = super::var(u);
    move |eg, _, s| {
        let relu = crate::ir::act::Fun {
            act: crate::ir::act::Act::Relu,
            prime: false,
        };
        eg.lookup(crate::ir::Node::Act(relu, [s[u]])).is_some()
    }
}
