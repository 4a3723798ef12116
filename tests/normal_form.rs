//! The normal form behind `expect` proofs: identities of the algebra give
//! one normal form, and expressions that differ in value never do. Every
//! pair is also checked numerically, so a test here cannot pass on a
//! wrong identity.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use deriv::diag::Source;
use deriv::eval::{Forward, Instance};
use deriv::ir::normal::same;
use deriv::Options;

const MODEL: &str = "dim D
index t
input x[t] : D
param A, B : D x D
param y, z, h : D
param s, r : scalar
fn F : D -> scalar
a[t] = tanh(A * x[t])
loss L = sum(t, F(a[t]))
";

fn model() -> deriv::model::Model {
    let source = Source::new("normal.deriv", MODEL);
    deriv::run(&source, &Options::default()).unwrap().key.model
}

fn read(m: &deriv::model::Model, text: &str) -> egg::RecExpr<deriv::ir::Node> {
    let t = m.indices.iter().position(|i| i.name == "t").unwrap() as u32;
    let bound = if text.contains("sum(t") {
        vec![]
    } else {
        vec![t]
    };
    deriv::check::expression(m, &Source::new("e", text), &bound)
        .unwrap_or_else(|d| panic!("{text}: {d}"))
        .0
}

/// The largest difference of two expressions over a few instances.
fn difference(m: &deriv::model::Model, a: &str, b: &str) -> f64 {
    let (ea, eb) = (read(m, a), read(m, b));
    let mut worst: f64 = 0.0;
    for seed in [1, 2, 3] {
        let inst = Instance::new(m, vec![3], seed).unwrap();
        let f = Forward::new(&inst, None);
        let at = vec![Some(1)];
        let (va, vb) = (f.eval(&ea, &at).unwrap(), f.eval(&eb, &at).unwrap());
        worst = worst.max(deriv::eval::rel_error(&va, &vb));
    }
    worst
}

#[test]
fn identities_of_the_algebra_share_a_normal_form() {
    let m = model();
    for (a, b) in [
        ("A * (B * y)", "(A * B) * y"),
        // Derivative forms are written with the activation table's
        // identities.
        ("tanh'(y) .* z", "z .* (1 - tanh(y)^2)"),
        ("sigma'(y)", "sigma(y) .* (1 - sigma(y))"),
        // A product of matrices that is a scalar commutes like one.
        ("(s * y^T) * z", "z^T * y * s"),
        ("1 + ((1 - s^2) * y^T) * z", "1 + z^T * y * (1 - s^2)"),
        ("s * (A * y)", "A * (s * y)"),
        ("(A * y)^T * z", "y^T * A^T * z"),
        ("y^T * z * h", "h * (z^T * y)"),
        ("2 * y / 2", "y"),
        ("(y + y) / 2", "y"),
        ("y + y", "2 * y"),
        ("-(-(y - z))", "y - z"),
        ("y .* z", "z .* y"),
        ("(s * y) .* z", "s * (y .* z)"),
        ("(1 - h) .* y", "y - h .* y"),
        ("A^T * (s * y) + B^T * y", "s * A^T * y + (y^T * B)^T"),
        ("sum(t, 2 * x[t] - x[t])", "sum(t, x[t])"),
        ("-sum(t, -(y^T * x[t]))", "sum(t, x[t]^T * y)"),
        ("(sum(t, x[t] * y^T))^T", "sum(t, y * x[t]^T)"),
        ("A^T * sum(t, s * x[t])", "sum(t, s * (A^T * x[t]))"),
        ("sum(t, A * x[t] * y^T) * B", "A * sum(t, x[t] * y^T * B)"),
        ("sum(t, (y^T * x[t]) * z)", "sum(t, x[t]^T * y) * z"),
        ("tanh(A * (B * y))", "tanh((A * B) * y)"),
        ("(A * B)^T", "B^T * A^T"),
        (
            "A^T * diag(1 - h .* h) * y + B * z",
            "B * z + A^T * ((1 - h .* h) .* y)",
        ),
        ("s * r * y - r * (s * y)", "0 * y"),
        // A matrix applied to a vector, through sums, scalings, products
        // and diagonals: the softmax's Jacobian applied to a vector.
        ("(diag(h) - h * h^T) * y", "h .* (y - h^T * y)"),
        ("(s * diag(h) + A) * y", "A * y + s * (h .* y)"),
        ("(A * diag(h)) * y", "A * (h .* y)"),
        ("(diag(h) * A) * y", "h .* (A * y)"),
        ("-(diag(h) * diag(z)) * y", "-(h .* z .* y)"),
    ] {
        let e = difference(&m, a, b);
        assert!(e < 1e-9, "{a} and {b} differ in value ({e})");
        assert!(
            same(&read(&m, a), &read(&m, b), &m.symbols),
            "{a} and {b}: normal forms differ"
        );
    }
}

#[test]
fn different_values_have_different_normal_forms() {
    let m = model();
    for (a, b) in [
        ("A * B * y", "B * A * y"),
        ("(s * y^T) * z", "s * (y^T * y)"),
        ("tanh'(y)", "1 - tanh(y)"),
        ("sigma'(y)", "tanh'(y)"),
        ("(s * y^T) * A * z", "s * (z^T * A * y)"),
        ("A^T * y", "A * y"),
        ("diag(h) * y", "h + y"),
        ("(A * y)^T * z", "y^T * A * z"),
        ("A * (y + 1)", "A * y + 1"),
        ("y .* z", "y + z"),
        ("y - z", "z - y"),
        ("s * y", "r * y"),
        ("tanh(A * y)", "tanh(B * y)"),
        ("sum(t, x[t]) .* y", "sum(t, x[t] .* z)"),
        ("(1 - h) .* y", "y - h"),
        ("(sum(t, x[t] * y^T))^T", "sum(t, x[t] * y^T)"),
        ("A * sum(t, x[t])", "sum(t, x[t]) + A * y"),
        ("sum(t, A * x[t]) * s", "A * sum(t, x[t])"),
        // A scalar in a sum with a matrix stands for every entry.
        ("(diag(h) + s) * y", "h .* y + s * y"),
        ("(diag(h) - h * h^T) * y", "h .* (y - h)"),
    ] {
        let e = difference(&m, a, b);
        assert!(e > 1e-6, "{a} and {b} agree in value: not a useful case");
        assert!(
            !same(&read(&m, a), &read(&m, b), &m.symbols),
            "{a} and {b} share a normal form"
        );
    }
}
