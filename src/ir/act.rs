//! The elementwise functions of the language ("activations"), one row
//! each: everything deriv knows about a function is in its row, and every
//! other part of the engine reads the table. Adding a function is adding
//! its variant and its row (and its line in the language reference); the
//! test at the end of this file fails if a row is inconsistent.

use crate::num::Rational;
use std::fmt;
use std::str::FromStr;

/// An elementwise function of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Act {
    /// The logistic sigmoid.
    Sigma,
    /// The hyperbolic tangent.
    Tanh,
    /// The exponential.
    Exp,
    /// The natural logarithm.
    Log,
    /// The square root.
    Sqrt,
    /// The unit step: 1 for a positive argument, 0 otherwise (the
    /// derivative of `relu`).
    Step,
    /// The rectified linear unit, `max(0, a)`.
    Relu,
    /// The leaky rectifier, `a` for a positive argument and `a / 100`
    /// otherwise.
    LeakyRelu,
    /// `log(1 + exp(a))`.
    Softplus,
    /// The exponential linear unit (with scale 1): `a` for a positive
    /// argument, `exp(a) - 1` otherwise.
    Elu,
    /// The Gaussian error linear unit in its exact form, `a * Phi(a)` with
    /// `Phi` the standard normal distribution function.
    Gelu,
    /// GELU's tanh approximation,
    /// `a / 2 * (1 + tanh(sqrt(2 / pi) * (a + 0.044715 * a^3)))`.
    GeluTanh,
    /// The sigmoid-weighted linear unit (swish), `a * sigma(a)`.
    Silu,
    /// `a / (1 + |a|)`.
    Softsign,
}

/// Where a function is defined, for drawing points to check it at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Every real number.
    Real,
    /// The positive numbers.
    Positive,
}

/// Everything deriv knows about one elementwise function.
pub struct Row {
    /// The function (the row's place in [`ROWS`] is its variant's).
    pub act: Act,
    /// Its name in the language; `name'` is its derivative.
    pub name: &'static str,
    /// How LaTeX writes it applied to `#` (the argument, in braces or
    /// parentheses as the printer decides when it is `None`).
    pub latex: Latex,
    /// Its value at a number.
    pub value: fn(f64) -> f64,
    /// Its derivative at a number.
    pub slope: fn(f64) -> f64,
    /// Its second derivative at a number (the derivative of `name'`, for
    /// numeric differentiation of derivative forms).
    pub curvature: fn(f64) -> f64,
    /// Where it is defined: where numeric checks draw points.
    pub domain: Domain,
    /// The derivative identity: `name'(?u)` written with the function's
    /// own values or other functions of the table, as an e-graph pattern in
    /// `?u`, so that a named forward value can stand in for them
    /// (`tanh' = 1 - tanh^2`, `relu' = step`); `None` where the derivative
    /// reads best as `name'(u)`.
    pub identity: Option<&'static str>,
    /// Further identities, each `(lhs, rhs)` as e-graph patterns in `?u`,
    /// rewritten left to right: `step(relu(u)) = step(u)`.
    pub more: &'static [(&'static str, &'static str)],
    /// Whether the function or one of its first two derivatives jumps at
    /// 0 (`relu`, `step`): finite differences that cross 0 are not its
    /// derivative there, so numeric checks leave such points out.
    pub kink: bool,
    /// Whether its only values are 0 and 1 (`step`), so that it is its
    /// own square: the normal form of claims merges `step(u) .* step(u)`.
    pub idempotent: bool,
    /// The exact value at a constant argument, where it is a rational
    /// number (`tanh(0) = 0`).
    pub fold: fn(&Rational) -> Option<Rational>,
    /// The function written with `exp` (and `log`), an e-graph pattern in
    /// `?u` in which `.*` is a product where `?u` is a scalar: the form a
    /// claim written by hand is compared in where no other procedure
    /// proves it (`sigma(u) = (1 + exp(-u))^(-1)`). `None` where it has
    /// none.
    pub by_exp: Option<&'static str>,
    /// How hard the derivative form `name'(u)` is to read, against the
    /// identity's expansion: extraction prefers the identity unless it
    /// costs more than this.
    pub prime_cost: usize,
}

/// How LaTeX writes a function.
#[derive(Debug, Clone, Copy)]
pub enum Latex {
    /// A command or operator name followed by the argument in parentheses
    /// (`\tanh(...)`); the derivative adds a prime.
    Operator(&'static str),
    /// The function applied by wrapping (`\sqrt{...}`); the derivative is
    /// written as the operator name given, with a prime.
    Wrap {
        /// The opening, such as `\sqrt{`.
        open: &'static str,
        /// The closing.
        close: &'static str,
        /// The name its derivative is written with.
        prime_name: &'static str,
    },
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

fn step(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// The standard normal density.
fn normal_density(v: f64) -> f64 {
    (-0.5 * v * v).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// The standard normal distribution function.
fn normal_cdf(v: f64) -> f64 {
    0.5 * (1.0 + libm::erf(v / std::f64::consts::SQRT_2))
}

/// GELU's tanh approximation: the inner argument's coefficient and cubic
/// term.
const GELU_C: f64 = 0.797_884_560_802_865_4; // sqrt(2 / pi)
const GELU_A: f64 = 0.044_715;

/// GELU's tanh approximation, its slope and its curvature at `v`.
fn gelu_tanh(v: f64) -> (f64, f64, f64) {
    let u = GELU_C * (v + GELU_A * v * v * v);
    let du = GELU_C * (1.0 + 3.0 * GELU_A * v * v);
    let ddu = 6.0 * GELU_C * GELU_A * v;
    let t = u.tanh();
    let sech2 = 1.0 - t * t;
    let value = 0.5 * v * (1.0 + t);
    let slope = 0.5 * (1.0 + t) + 0.5 * v * sech2 * du;
    let curvature = sech2 * du + 0.5 * v * (sech2 * ddu - 2.0 * t * sech2 * du * du);
    (value, slope, curvature)
}

/// A rational number's value under a function that is the identity for
/// positive arguments and `k` times it otherwise (`relu`, `leaky_relu`);
/// `None` where the product would not stay within bounds.
fn rectified(c: &Rational, k: Rational) -> Option<Rational> {
    if c.is_negative() {
        c.mul(&k)
    } else {
        Some(c.clone())
    }
}

/// The table, one row per function, in the order of [`Act`]'s variants.
pub const ROWS: [Row; 14] = [
    Row {
        act: Act::Sigma,
        name: "sigma",
        latex: Latex::Operator("\\sigma"),
        value: sigmoid,
        slope: |v| sigmoid(v) * (1.0 - sigmoid(v)),
        curvature: |v| {
            let s = sigmoid(v);
            s * (1.0 - s) * (1.0 - 2.0 * s)
        },
        domain: Domain::Real,
        identity: Some("(.* (sigma ?u) (- 1 (sigma ?u)))"),
        kink: false,
        idempotent: false,
        // Written by hand: `1 / (1 + exp(-u))`, `1 ./ (1 + exp(-u))`,
        // `(1 + exp(-u))^(-1)`.
        more: &[
            ("(/ 1 (+ 1 (exp (neg ?u))))", "(sigma ?u)"),
            ("(* 1 (^ (+ 1 (exp (neg ?u))) -1))", "(sigma ?u)"),
            ("(^ (+ 1 (exp (neg ?u))) -1)", "(sigma ?u)"),
        ],
        fold: |c| c.is_zero().then(|| Rational::frac(1, 2)),
        by_exp: Some("(^ (+ 1 (exp (neg ?u))) -1)"),
        prime_cost: 40,
    },
    Row {
        act: Act::Tanh,
        name: "tanh",
        latex: Latex::Operator("\\tanh"),
        value: f64::tanh,
        slope: |v| 1.0 - v.tanh().powi(2),
        curvature: |v| {
            let t = v.tanh();
            -2.0 * t * (1.0 - t * t)
        },
        domain: Domain::Real,
        identity: Some("(- 1 (^ (tanh ?u) 2))"),
        kink: false,
        idempotent: false,
        // Written by hand: `(exp(u) - exp(-u)) / (exp(u) + exp(-u))`, or
        // with `./`.
        more: &[
            (
                "(/ (- (exp ?u) (exp (neg ?u))) (+ (exp ?u) (exp (neg ?u))))",
                "(tanh ?u)",
            ),
            (
                "(.* (- (exp ?u) (exp (neg ?u))) (^ (+ (exp ?u) (exp (neg ?u))) -1))",
                "(tanh ?u)",
            ),
        ],
        fold: |c| c.is_zero().then(Rational::zero),
        by_exp: Some("(.* (- (exp ?u) (exp (neg ?u))) (^ (+ (exp ?u) (exp (neg ?u))) -1))"),
        prime_cost: 40,
    },
    Row {
        act: Act::Exp,
        name: "exp",
        latex: Latex::Operator("\\exp"),
        value: f64::exp,
        slope: f64::exp,
        curvature: f64::exp,
        domain: Domain::Real,
        identity: Some("(exp ?u)"),
        kink: false,
        idempotent: false,
        more: &[],
        fold: |c| c.is_zero().then(Rational::one),
        by_exp: None,
        prime_cost: 40,
    },
    Row {
        act: Act::Log,
        name: "log",
        latex: Latex::Operator("\\log"),
        value: f64::ln,
        slope: |v| 1.0 / v,
        curvature: |v| -1.0 / (v * v),
        domain: Domain::Positive,
        identity: Some("(^ ?u -1)"),
        kink: false,
        idempotent: false,
        more: &[],
        fold: |c| c.is_one().then(Rational::zero),
        by_exp: None,
        prime_cost: 40,
    },
    Row {
        act: Act::Sqrt,
        name: "sqrt",
        latex: Latex::Wrap {
            open: "\\sqrt{",
            close: "}",
            prime_name: "\\operatorname{sqrt}",
        },
        value: f64::sqrt,
        slope: |v| 0.5 / v.sqrt(),
        curvature: |v| -0.25 / (v * v.sqrt()),
        domain: Domain::Positive,
        identity: Some("(* 1/2 (^ (sqrt ?u) -1))"),
        kink: false,
        idempotent: false,
        more: &[],
        fold: |c| (c.is_zero() || c.is_one()).then(|| c.clone()),
        by_exp: None,
        prime_cost: 40,
    },
    Row {
        act: Act::Step,
        name: "step",
        latex: Latex::Operator("\\operatorname{step}"),
        value: step,
        slope: |_| 0.0,
        curvature: |_| 0.0,
        domain: Domain::Real,
        // Zero, with the shape of the argument.
        identity: Some("(* 0 ?u)"),
        kink: true,
        idempotent: true,
        // A rectified value is positive where its argument is.
        more: &[("(step (relu ?u))", "(step ?u)")],
        fold: |c| {
            Some(if c.is_negative() || c.is_zero() {
                Rational::zero()
            } else {
                Rational::one()
            })
        },
        by_exp: None,
        prime_cost: 40,
    },
    Row {
        act: Act::Relu,
        name: "relu",
        latex: Latex::Operator("\\operatorname{relu}"),
        value: |v| v.max(0.0),
        slope: step,
        curvature: |_| 0.0,
        domain: Domain::Real,
        identity: Some("(step ?u)"),
        kink: true,
        idempotent: false,
        more: &[("(relu (relu ?u))", "(relu ?u)")],
        fold: |c| rectified(c, Rational::zero()),
        by_exp: None,
        prime_cost: 40,
    },
    Row {
        act: Act::LeakyRelu,
        name: "leaky_relu",
        latex: Latex::Operator("\\operatorname{leaky\\_relu}"),
        value: |v| if v > 0.0 { v } else { 0.01 * v },
        slope: |v| if v > 0.0 { 1.0 } else { 0.01 },
        curvature: |_| 0.0,
        domain: Domain::Real,
        identity: None,
        kink: true,
        idempotent: false,
        more: &[],
        fold: |c| rectified(c, Rational::frac(1, 100)),
        by_exp: None,
        prime_cost: 10,
    },
    Row {
        act: Act::Softplus,
        name: "softplus",
        latex: Latex::Operator("\\operatorname{softplus}"),
        // Stable for large arguments of either sign.
        value: |v| v.max(0.0) + (-v.abs()).exp().ln_1p(),
        slope: sigmoid,
        curvature: |v| sigmoid(v) * (1.0 - sigmoid(v)),
        domain: Domain::Real,
        identity: Some("(sigma ?u)"),
        kink: false,
        idempotent: false,
        // Written by hand: `log(1 + exp(u))`; and its derivative read off
        // its value, `exp(-softplus(u)) = 1 / (1 + exp(u)) = 1 - sigma(u)`
        // and `exp(u - softplus(u)) = exp(u) / (1 + exp(u)) = sigma(u)`.
        more: &[
            ("(log (+ 1 (exp ?u)))", "(softplus ?u)"),
            ("(exp (neg (softplus ?u)))", "(- 1 (sigma ?u))"),
            ("(exp (- ?u (softplus ?u)))", "(sigma ?u)"),
        ],
        fold: |_| None,
        by_exp: Some("(log (+ 1 (exp ?u)))"),
        prime_cost: 40,
    },
    Row {
        act: Act::Elu,
        name: "elu",
        latex: Latex::Operator("\\operatorname{elu}"),
        value: |v| if v > 0.0 { v } else { v.exp_m1() },
        slope: |v| if v > 0.0 { 1.0 } else { v.exp() },
        curvature: |v| if v > 0.0 { 0.0 } else { v.exp() },
        domain: Domain::Real,
        identity: None,
        kink: true,
        idempotent: false,
        more: &[],
        fold: |c| c.is_zero().then(Rational::zero),
        by_exp: None,
        prime_cost: 10,
    },
    Row {
        act: Act::Gelu,
        name: "gelu",
        latex: Latex::Operator("\\operatorname{gelu}"),
        value: |v| v * normal_cdf(v),
        slope: |v| normal_cdf(v) + v * normal_density(v),
        curvature: |v| normal_density(v) * (2.0 - v * v),
        domain: Domain::Real,
        identity: None,
        kink: false,
        idempotent: false,
        more: &[],
        fold: |c| c.is_zero().then(Rational::zero),
        by_exp: None,
        prime_cost: 10,
    },
    Row {
        act: Act::GeluTanh,
        name: "gelu_tanh",
        latex: Latex::Operator("\\operatorname{gelu\\_tanh}"),
        value: |v| gelu_tanh(v).0,
        slope: |v| gelu_tanh(v).1,
        curvature: |v| gelu_tanh(v).2,
        domain: Domain::Real,
        identity: None,
        kink: false,
        idempotent: false,
        more: &[],
        fold: |c| c.is_zero().then(Rational::zero),
        by_exp: None,
        prime_cost: 10,
    },
    Row {
        act: Act::Silu,
        name: "silu",
        latex: Latex::Operator("\\operatorname{silu}"),
        value: |v| v * sigmoid(v),
        slope: |v| {
            let s = sigmoid(v);
            s + v * s * (1.0 - s)
        },
        curvature: |v| {
            let s = sigmoid(v);
            s * (1.0 - s) * (2.0 + v * (1.0 - 2.0 * s))
        },
        domain: Domain::Real,
        identity: Some("(+ (sigma ?u) (.* ?u (.* (sigma ?u) (- 1 (sigma ?u)))))"),
        kink: false,
        idempotent: false,
        more: &[],
        fold: |c| c.is_zero().then(Rational::zero),
        by_exp: Some("(.* ?u (^ (+ 1 (exp (neg ?u))) -1))"),
        prime_cost: 40,
    },
    Row {
        act: Act::Softsign,
        name: "softsign",
        latex: Latex::Operator("\\operatorname{softsign}"),
        value: |v| v / (1.0 + v.abs()),
        slope: |v| 1.0 / (1.0 + v.abs()).powi(2),
        curvature: |v| -2.0 * v.signum() / (1.0 + v.abs()).powi(3),
        domain: Domain::Real,
        identity: None,
        kink: true,
        idempotent: false,
        more: &[],
        fold: |c| c.is_zero().then(Rational::zero),
        by_exp: None,
        prime_cost: 10,
    },
];

/// Other names of functions of the table: `swish` is `silu`.
const ALIASES: &[(&str, Act)] = &[("swish", Act::Silu)];

impl Act {
    /// Every elementwise function, in the table's order.
    pub fn all() -> impl Iterator<Item = Act> {
        ROWS.iter().map(|r| r.act)
    }

    /// The function's row.
    pub fn row(self) -> &'static Row {
        &ROWS[self as usize]
    }

    /// The name in the language.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The function by its name in the language.
    pub fn from_name(name: &str) -> Option<Act> {
        ROWS.iter()
            .find(|r| r.name == name)
            .map(|r| r.act)
            .or_else(|| {
                ALIASES
                    .iter()
                    .find(|(a, _)| *a == name)
                    .map(|(_, act)| *act)
            })
    }

    /// The names, as a hint lists them: `sigma, tanh, exp, log and sqrt`.
    pub fn listed() -> String {
        let names: Vec<&str> = ROWS.iter().map(|r| r.name).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }
}

/// An elementwise function or its derivative form: the operator of
/// [`crate::ir::Node::Act`], written `tanh` or `tanh'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fun {
    /// The function.
    pub act: Act,
    /// Whether this is its derivative.
    pub prime: bool,
}

impl Fun {
    /// The value at a number.
    pub fn eval(self, v: f64) -> f64 {
        let row = self.act.row();
        if self.prime {
            (row.slope)(v)
        } else {
            (row.value)(v)
        }
    }

    /// The derivative of [`Fun::eval`] at a number.
    pub fn slope(self, v: f64) -> f64 {
        let row = self.act.row();
        if self.prime {
            (row.curvature)(v)
        } else {
            (row.slope)(v)
        }
    }
}

impl fmt::Display for Fun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.act.name())?;
        if self.prime {
            f.write_str("'")?;
        }
        Ok(())
    }
}

impl FromStr for Fun {
    type Err = ();

    fn from_str(s: &str) -> Result<Fun, ()> {
        let (name, prime) = match s.strip_suffix('\'') {
            Some(n) => (n, true),
            None => (s, false),
        };
        Act::from_name(name).map(|act| Fun { act, prime }).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points to check a row at: in its domain, and away from its kink.
    fn points(row: &Row) -> Vec<f64> {
        match (row.domain, row.kink) {
            (Domain::Real, false) => vec![-1.7, -0.3, 0.0, 0.4, 2.1],
            (Domain::Real, true) => vec![-1.7, -0.3, 0.4, 2.1],
            (Domain::Positive, _) => vec![0.2, 0.7, 1.0, 1.9, 3.3],
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
    }

    /// Each row is in its variant's place, and names are distinct and
    /// written as the language's identifiers.
    #[test]
    fn rows_are_in_place() {
        for (k, row) in ROWS.iter().enumerate() {
            assert_eq!(row.act as usize, k, "{} is out of place", row.name);
            assert_eq!(Act::from_name(row.name), Some(row.act));
            assert!(row.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            let parsed: Fun = format!("{}'", row.name).parse().unwrap_or_else(|_| {
                panic!("{}' does not parse", row.name);
            });
            assert_eq!(
                parsed,
                Fun {
                    act: row.act,
                    prime: true
                }
            );
        }
    }

    /// The slope is the derivative of the value, and the curvature the
    /// derivative of the slope (central differences).
    #[test]
    fn slopes_are_derivatives() {
        let h = 1e-5;
        for row in &ROWS {
            for x in points(row) {
                let fd = ((row.value)(x + h) - (row.value)(x - h)) / (2.0 * h);
                assert!(close((row.slope)(x), fd), "{}' at {x}", row.name);
                let fd2 = ((row.slope)(x + h) - (row.slope)(x - h)) / (2.0 * h);
                assert!(close((row.curvature)(x), fd2), "{}'' at {x}", row.name);
            }
        }
    }

    /// A fold gives the function's value.
    #[test]
    fn folds_are_values() {
        for row in &ROWS {
            for c in [-1, 0, 1, 2, 4] {
                let r = Rational::from(c);
                if let Some(v) = (row.fold)(&r) {
                    let x = c as f64;
                    assert!(close((row.value)(x), v.to_f64()), "{}({c})", row.name);
                }
            }
        }
    }

    /// The value of a pattern in `?u` at `u`, for the numeric checks of
    /// the table's identities.
    fn eval(e: &egg::RecExpr<egg::ENodeOrVar<crate::ir::Node>>, id: egg::Id, u: f64) -> f64 {
        use crate::ir::Node;
        use egg::ENodeOrVar;
        let go = |k: egg::Id| eval(e, k, u);
        match &e[id] {
            ENodeOrVar::Var(_) => u,
            ENodeOrVar::ENode(n) => match n {
                Node::Num(r) => r.to_f64(),
                Node::Add([a, b]) => go(*a) + go(*b),
                Node::Sub([a, b]) => go(*a) - go(*b),
                Node::Mul([a, b]) | Node::Had([a, b]) => go(*a) * go(*b),
                Node::Div([a, b]) => go(*a) / go(*b),
                Node::Pow([a, b]) => go(*a).powf(go(*b)),
                Node::Neg(a) => -go(*a),
                Node::Act(f, [a]) => f.eval(go(*a)),
                other => panic!("an identity uses {other:?}, which this test cannot evaluate"),
            },
        }
    }

    /// The value of a pattern at `u`.
    fn value(p: &egg::Pattern<crate::ir::Node>, u: f64) -> f64 {
        eval(&p.ast, egg::Id::from(p.ast.as_ref().len() - 1), u)
    }

    /// The derivative identity is the derivative: evaluated at numbers,
    /// the pattern gives the slope.
    #[test]
    fn identities_are_derivatives() {
        for row in &ROWS {
            let Some(identity) = row.identity else {
                continue;
            };
            let Ok(p) = identity.parse::<egg::Pattern<crate::ir::Node>>() else {
                panic!("the identity of {} does not parse", row.name);
            };
            for x in points(row) {
                assert!(
                    close(value(&p, x), (row.slope)(x)),
                    "{}' identity at {x}",
                    row.name
                );
            }
        }
    }

    /// A function marked idempotent takes only the values 0 and 1.
    #[test]
    fn idempotent_functions_take_only_0_and_1() {
        let mut seen = 0;
        for row in ROWS.iter().filter(|r| r.idempotent) {
            for x in [-2.0, -0.5, 0.0, 0.3, 1.7] {
                let v = (row.value)(x);
                assert!(v == 0.0 || v == 1.0, "{} at {x} is {v}", row.name);
            }
            seen += 1;
        }
        assert!(seen > 0);
    }

    /// Each further identity holds at numbers.
    #[test]
    fn further_identities_hold() {
        use egg::Pattern;
        let mut seen = 0;
        for row in &ROWS {
            for (l, r) in row.more {
                let (l, r): (Pattern<crate::ir::Node>, Pattern<crate::ir::Node>) =
                    (l.parse().unwrap(), r.parse().unwrap());
                for x in [-1.7, -0.3, 0.0, 0.4, 2.1] {
                    assert!(close(value(&l, x), value(&r, x)), "{} at {x}", row.name);
                }
                seen += 1;
            }
        }
        assert!(seen > 0);
    }

    /// A function written with `exp` is the function.
    #[test]
    fn exp_forms_are_values() {
        let mut seen = 0;
        for row in &ROWS {
            let Some(form) = row.by_exp else {
                continue;
            };
            let p: egg::Pattern<crate::ir::Node> = form.parse().unwrap();
            for x in points(row) {
                assert!(close(value(&p, x), (row.value)(x)), "{} at {x}", row.name);
            }
            seen += 1;
        }
        assert!(seen >= 4);
    }

    /// The language reference describes every function.
    #[test]
    fn reference_lists_every_function() {
        let doc = include_str!("../../docs/LANGUAGE.md");
        for row in &ROWS {
            assert!(
                doc.contains(&format!("`{}(", row.name)),
                "docs/LANGUAGE.md does not describe `{}`",
                row.name
            );
        }
    }
}
