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
        .chain([guarded(
            "act-softmax-0",
            "(/ (exp ?u) (sumall (exp ?u)))",
            "(softmax ?u)",
            vec![Box::new(is_column("?u"))],
        )])
        .collect()
}
