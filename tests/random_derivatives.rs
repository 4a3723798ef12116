//! Derivatives of random expressions match finite differences: a random
//! vector expression over an input, a matrix and a scalar feeds a loss, and
//! every adjoint and gradient deriv derives for it is checked numerically.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use deriv::diag::Source;
use deriv::verify::verify_adjoints;
use deriv::Options;
use proptest::prelude::*;

/// A random H-vector expression, as text.
fn vector() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x".to_owned()),
        Just("z".to_owned()),
        Just("(W * x)".to_owned()),
        Just("b".to_owned()),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} + {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} - {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} .* {b})")),
            inner.clone().prop_map(|a| format!("sigma({a})")),
            inner.clone().prop_map(|a| format!("tanh({a})")),
            inner.clone().prop_map(|a| format!("(W * {a})")),
            inner.clone().prop_map(|a| format!("(a * {a})")),
            inner.clone().prop_map(|a| format!("({a} / 2)")),
            inner.clone().prop_map(|a| format!("({a})^2")),
            inner.clone().prop_map(|a| format!("(1 - {a})")),
            inner.clone().prop_map(|a| format!("(W^T * {a})")),
            inner.clone().prop_map(|a| format!("((x^T * {a}) * b)")),
            inner.prop_map(|a| format!("exp(tanh({a}))")),
        ]
    })
}

fn script(rhs: &str) -> String {
    format!(
        "dim H\ninput x : H\nparam W : H x H\nparam b : H\nparam a : scalar\nfn ell : H -> scalar\n\
         z = tanh(W * x + b)\ny = {rhs}\nloss L = ell(y)\n\
         derive adjoints\nderive grad W\nderive grad b\nderive grad a\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
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
