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
    /// own values, as an e-graph pattern in `?u`, so that a named forward
    /// value can stand in for them (`tanh' = 1 - tanh^2`).
    pub identity: &'static str,
    /// The exact value at a constant argument, where it is a rational
    /// number (`tanh(0) = 0`).
    pub fold: fn(&Rational) -> Option<Rational>,
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

/// The table, one row per function, in the order of [`Act`]'s variants.
pub const ROWS: [Row; 5] = [
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
        identity: "(.* (sigma ?u) (- 1 (sigma ?u)))",
        fold: |c| c.is_zero().then(|| Rational::frac(1, 2)),
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
        identity: "(- 1 (^ (tanh ?u) 2))",
        fold: |c| c.is_zero().then(Rational::zero),
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
        identity: "(exp ?u)",
        fold: |c| c.is_zero().then(Rational::one),
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
        identity: "(^ ?u -1)",
        fold: |c| c.is_one().then(Rational::zero),
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
        identity: "(* 1/2 (^ (sqrt ?u) -1))",
        fold: |c| (c.is_zero() || c.is_one()).then(|| c.clone()),
        prime_cost: 40,
    },
];

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
        ROWS.iter().find(|r| r.name == name).map(|r| r.act)
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

    fn points(row: &Row) -> Vec<f64> {
        match row.domain {
            Domain::Real => vec![-1.7, -0.3, 0.0, 0.4, 2.1],
            Domain::Positive => vec![0.2, 0.7, 1.0, 1.9, 3.3],
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

    /// The derivative identity is the derivative: evaluated at numbers,
    /// the pattern gives the slope.
    #[test]
    fn identities_are_derivatives() {
        use crate::ir::Node;
        use egg::{ENodeOrVar, Id, Pattern, RecExpr};

        fn eval(e: &RecExpr<ENodeOrVar<Node>>, id: Id, u: f64) -> f64 {
            let go = |k: Id| eval(e, k, u);
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

        for row in &ROWS {
            let Ok(p) = row.identity.parse::<Pattern<Node>>() else {
                panic!("the identity of {} does not parse", row.name);
            };
            let root = Id::from(p.ast.as_ref().len() - 1);
            for x in points(row) {
                let got = eval(&p.ast, root, x);
                assert!(close(got, (row.slope)(x)), "{}' identity at {x}", row.name);
            }
        }
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
