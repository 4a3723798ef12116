//! Derivatives of random expressions match finite differences: a random
//! vector expression over an input, a matrix and a scalar feeds a loss, and
//! every adjoint and gradient deriv derives for it is checked numerically;
//! gradients under assumptions (a forward value zero, or one) against the
//! unassumed ones with the assumption substituted.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use deriv::diag::Source;
use deriv::verify::verify_adjoints;
use deriv::Options;
use proptest::prelude::*;

/// The shape of a generated expression.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Scalar,
    Vector,
    Matrix,
}

/// A random expression of one shape, as text, over an input `x`, a forward
/// value `z`, parameters `W`, `b`, `a`, and constants. Shapes mix the ways
/// the language allows: scalars broadcast in sums (`W + a`, `1 - v`), scale
/// products, and come from inner products (`x^T * v`); matrices come from
/// outer products and products of matrices.
fn expr(shape: Shape, depth: u32) -> BoxedStrategy<String> {
    use Shape::{Matrix, Scalar, Vector};
    let leaf: BoxedStrategy<String> = match shape {
        Scalar => prop_oneof![
            Just("a".to_owned()),
            Just("(x^T * b)".to_owned()),
            Just("3".to_owned())
        ]
        .boxed(),
        Vector => prop_oneof![
            Just("x".to_owned()),
            Just("z".to_owned()),
            Just("b".to_owned()),
            Just("(W * x)".to_owned()),
        ]
        .boxed(),
        Matrix => prop_oneof![
            Just("W".to_owned()),
            Just("W^T".to_owned()),
            Just("(x * b^T)".to_owned())
        ]
        .boxed(),
    };
    if depth == 0 {
        return leaf;
    }
    let sub = |sh: Shape| expr(sh, depth - 1);
    let same = sub(shape);
    let pair = |a: Shape, b: Shape| (sub(a), sub(b));
    let elementwise = prop_oneof![
        (same.clone(), sub(shape)).prop_map(|(a, b)| format!("({a} + {b})")),
        (same.clone(), sub(shape)).prop_map(|(a, b)| format!("({a} - {b})")),
        (same.clone(), sub(Scalar)).prop_map(|(a, s)| format!("({a} - {s})")),
        (sub(Scalar), same.clone()).prop_map(|(s, a)| format!("({s} + {a})")),
        (sub(Scalar), same.clone()).prop_map(|(s, a)| format!("({s} * {a})")),
        same.clone().prop_map(|a| format!("sigma({a})")),
        same.clone().prop_map(|a| format!("tanh({a})")),
        same.clone().prop_map(|a| format!("({a} / 2)")),
        same.clone().prop_map(|a| format!("(({a})^2)")),
        same.clone().prop_map(|a| format!("exp(tanh({a}))")),
    ];
    let by_shape: BoxedStrategy<String> = match shape {
        Scalar => prop_oneof![
            pair(Vector, Vector).prop_map(|(u, v)| format!("({u}^T * {v})")),
            (sub(Vector), sub(Matrix), sub(Vector))
                .prop_map(|(u, m, v)| format!("({u}^T * {m} * {v})")),
            pair(Scalar, Scalar).prop_map(|(s, r)| format!("({s} .* {r})")),
        ]
        .boxed(),
        Vector => prop_oneof![
            pair(Matrix, Vector).prop_map(|(m, v)| format!("({m} * {v})")),
            pair(Matrix, Vector).prop_map(|(m, v)| format!("({m}^T * {v})")),
            pair(Vector, Vector).prop_map(|(u, v)| format!("({u} .* {v})")),
            pair(Vector, Scalar).prop_map(|(v, s)| format!("({v} * {s})")),
        ]
        .boxed(),
        Matrix => prop_oneof![
            pair(Vector, Vector).prop_map(|(u, v)| format!("({u} * {v}^T)")),
            pair(Matrix, Matrix).prop_map(|(m, n)| format!("({m} * {n})")),
            pair(Matrix, Matrix).prop_map(|(m, n)| format!("({m} .* {n})")),
            sub(Matrix).prop_map(|m| format!("(({m})^T)")),
        ]
        .boxed(),
    };
    prop_oneof![2 => leaf, 3 => elementwise, 3 => by_shape].boxed()
}

/// A random H-vector expression of bounded depth.
fn vector() -> impl Strategy<Value = String> {
    (0u32..4).prop_flat_map(|d| expr(Shape::Vector, d))
}

fn script(rhs: &str) -> String {
    format!(
        "dim H\ninput x : H\nparam W : H x H\nparam b : H\nparam a : scalar\nfn ell : H -> scalar\n\
         z = tanh(W * x + b)\ny = {rhs}\nloss L = ell(y)\n\
         derive adjoints\nderive grad W\nderive grad b\nderive grad a\n\
         derive grad W assuming z = 0\nderive grad b assuming z = 1\nderive grad a assuming z = 0\n"
    )
}

proptest! {
    #![proptest_config(common::proptest_config(64))]
    #[test]
    fn derivatives_match_finite_differences(rhs in vector()) {
        let text = script(&rhs);
        let source = Source::new("random.deriv", text.clone());
        let run = match deriv::run(&source, &Options::default()) {
            Ok(r) => r,
            Err(d) => return Err(TestCaseError::fail(format!("{text}\n{}", d.render(&source)))),
        };
        prop_assert!(run.problems.is_empty(), "{}\n{:?}", text, run.problems);
        let checks = verify_adjoints(&run.key, &[1, 2]);
        prop_assert!(!checks.is_empty());
        for c in &checks {
            prop_assert!(c.passed, "{}\n{} is wrong: error {:?}, {}\n{}", text, c.what, c.error, c.how,
                deriv::print::render(&run.key, deriv::print::Format::Text, &Default::default()));
        }
    }
}
