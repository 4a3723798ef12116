//! Generators of the scaling scripts: a chain of feed-forward layers and a
//! stack of LSTM layers over time, each with `derive adjoints`, a
//! `derive grad` and `count params`.

#![allow(dead_code)]

use std::fmt::Write as _;

/// `layers` feed-forward layers, `h1 = tanh(W1 * x + b1)`, ..., and a loss
/// on the last.
pub fn chain(layers: usize) -> String {
    let mut s = String::from("dim H\ninput x : H\nfn ell : H -> scalar\n");
    for k in 1..=layers {
        let _ = writeln!(s, "param W{k} : H x H\nparam b{k} : H");
    }
    for k in 1..=layers {
        let prev = if k == 1 {
            "x".to_owned()
        } else {
            format!("h{}", k - 1)
        };
        let _ = writeln!(s, "h{k} = tanh(W{k} * {prev} + b{k})");
    }
    let _ = writeln!(s, "loss L = ell(h{layers})");
    s.push_str("derive adjoints\nderive grad W1\ncount params\n");
    s
}

/// `layers` LSTM layers over time, each reading the one below.
pub fn stacked_lstm(layers: usize) -> String {
    let mut s = String::from("dim D, H\nindex t\ninput x[t] : D\nfn ell : H -> scalar\n");
    for l in 1..=layers {
        let inp = if l == 1 { "D" } else { "H" };
        for g in ["i", "p", "o", "g"] {
            let _ = writeln!(s, "param W_{g}x{l} : H x {inp}\nparam W_{g}h{l} : H x H");
        }
        let _ = writeln!(s, "init h{l}[0] = 0\ninit c{l}[0] = 0");
    }
    for l in 1..=layers {
        let below = if l == 1 {
            "x[t]".to_owned()
        } else {
            format!("h{}[t]", l - 1)
        };
        for (g, f) in [
            ("i", "sigma"),
            ("p", "sigma"),
            ("o", "sigma"),
            ("g", "tanh"),
        ] {
            let _ = writeln!(
                s,
                "{g}{l}[t] = {f}(W_{g}x{l} * {below} + W_{g}h{l} * h{l}[t-1])"
            );
        }
        let _ = writeln!(s, "c{l}[t] = p{l}[t] .* c{l}[t-1] + i{l}[t] .* g{l}[t]");
        let _ = writeln!(s, "h{l}[t] = o{l}[t] .* tanh(c{l}[t])");
    }
    let _ = writeln!(s, "loss L = sum(t, ell(h{layers}[t]))");
    s.push_str("derive adjoints\nderive grad W_ix1\ncount params\n");
    s
}
