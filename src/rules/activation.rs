//! The derivatives of the elementwise functions, written with the function
//! values themselves, so that a named forward value (`i[t]` for
//! `sigma(...)`) can stand in for them: `sigma' = sigma (1 - sigma)`,
//! `tanh' = 1 - tanh^2`.

use super::{rule, Rewrite};

/// The activation identities.
#[rustfmt::skip]
pub fn rules() -> Vec<Rewrite> {
    vec![
        rule!("act-sigma-d"; "(sigma' ?u)" => "(.* (sigma ?u) (- 1 (sigma ?u)))"),
        rule!("act-tanh-d";  "(tanh' ?u)"  => "(- 1 (^ (tanh ?u) 2))"),
        rule!("act-exp-d";   "(exp' ?u)"   => "(exp ?u)"),
        rule!("act-log-d";   "(log' ?u)"   => "(^ ?u -1)"),
        rule!("act-sqrt-d";  "(sqrt' ?u)"  => "(* 1/2 (^ (sqrt ?u) -1))"),
    ]
}
