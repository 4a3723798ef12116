//! Print-then-parse: any expression printed in the plain syntax parses back
//! to the same expression, up to the liberties the printer takes on
//! purpose (`a + -b` as `a - b`, `a + (b + c)` as `a + b + c`).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use deriv::diag::Source;
use deriv::eval::{rel_error, Forward, Instance};
use deriv::ir::{Act, Ix, Leaf, Node, Ref};
use deriv::model::Model;
use deriv::num::Rational;
use deriv::print::plain;
use egg::{Id, RecExpr};
use proptest::prelude::*;

mod common;

const FIXTURE: &str = "dim D, T\nindex t, s\nparam a, b, c : scalar\ninput x[t] : scalar\n\
                       input y[s] : scalar\nfn f : scalar -> scalar\nz[t] = a * x[t]\n";

fn model() -> Model {
    let source = Source::new("fixture.deriv", FIXTURE);
    let script = deriv::syntax::parse(FIXTURE, &deriv::Limits::default()).expect("fixture parses");
    deriv::check::check(&script, &source).expect("fixture checks")
}

/// A scalar expression tree over the fixture's names.
#[derive(Debug, Clone)]
enum T {
    Num(i64, i64),
    Leaf(u8),
    Un(u8, Box<T>),
    Bin(u8, Box<T>, Box<T>),
    Sum(Box<T>),
}

fn tree() -> impl Strategy<Value = T> {
    let leaf = prop_oneof![
        (0i64..6, prop_oneof![Just(1i64), Just(2), Just(3)]).prop_map(|(n, d)| T::Num(n, d)),
        (0u8..8).prop_map(T::Leaf),
    ];
    leaf.prop_recursive(5, 40, 3, |inner| {
        prop_oneof![
            (0u8..17, inner.clone()).prop_map(|(k, a)| T::Un(k, Box::new(a))),
            (0u8..6, inner.clone(), inner).prop_map(|(k, a, b)| T::Bin(
                k,
                Box::new(a),
                Box::new(b)
            )),
        ]
    })
}

/// A tree, sometimes summed over `s` (sums do not nest: an index is bound once).
fn top() -> impl Strategy<Value = T> {
    (tree(), any::<bool>()).prop_map(|(t, sum)| if sum { T::Sum(Box::new(t)) } else { t })
}

struct Build {
    e: RecExpr<Node>,
}

impl Build {
    fn add(&mut self, n: Node) -> Id {
        self.e.add(n)
    }
    fn tree(&mut self, t: &T) -> Id {
        match t {
            T::Num(n, d) => self.add(Node::Num(Rational::frac(*n, *d))),
            T::Leaf(k) => {
                let leaf = match k {
                    0 => Leaf::Param(0),
                    1 => Leaf::Param(1),
                    2 => Leaf::Param(2),
                    3 => Leaf::Dim(0),
                    4 => Leaf::Dim(1),
                    5 => Leaf::Var(Ref {
                        var: 0,
                        at: vec![Ix::Rel(0, 0)].into(),
                    }),
                    6 => Leaf::Var(Ref {
                        var: 0,
                        at: vec![Ix::Rel(0, -1)].into(),
                    }),
                    _ => Leaf::Var(Ref {
                        var: 0,
                        at: vec![Ix::Abs(0)].into(),
                    }),
                };
                self.add(Node::Leaf(leaf))
            }
            T::Un(k, a) => {
                let a = self.tree(a);
                let f = || self_fn();
                let node = match k {
                    0 => Node::Neg(a),
                    1 => Node::Trans(a),
                    2 => Node::act(Act::Sigma, false, a),
                    3 => Node::act(Act::Tanh, false, a),
                    4 => Node::act(Act::Exp, false, a),
                    5 => Node::act(Act::Log, false, a),
                    6 => Node::act(Act::Sqrt, false, a),
                    7 => Node::act(Act::Sigma, true, a),
                    8 => Node::act(Act::Tanh, true, a),
                    9 => Node::act(Act::Sqrt, true, a),
                    10 => Node::Det(a),
                    11 => Node::Inv(a),
                    12 => Node::Trace(a),
                    13 => {
                        let fid = self.add(f());
                        Node::Call([fid, a])
                    }
                    14 => {
                        let fid = self.add(f());
                        Node::Grad([fid, a])
                    }
                    15 => {
                        let fid = self.add(f());
                        Node::Hess([fid, a])
                    }
                    _ => Node::act(Act::Exp, true, a),
                };
                self.add(node)
            }
            T::Bin(k, a, b) => {
                let (a, b) = (self.tree(a), self.tree(b));
                let node = match k {
                    0 => Node::Add([a, b]),
                    1 => Node::Sub([a, b]),
                    2 => Node::Mul([a, b]),
                    3 => Node::Had([a, b]),
                    4 => Node::Div([a, b]),
                    _ => Node::Pow([a, b]),
                };
                self.add(node)
            }
            T::Sum(a) => {
                let body = self.tree(a);
                let y = self.add(Node::Leaf(Leaf::Var(Ref {
                    var: 1,
                    at: vec![Ix::Rel(1, 0)].into(),
                })));
                let body = self.add(Node::Mul([y, body]));
                let s = self.add(Node::Leaf(Leaf::Index(1)));
                self.add(Node::Sum([s, body]))
            }
        }
    }
}

fn self_fn() -> Node {
    Node::Leaf(Leaf::Fn(0))
}

/// A normal form that forgets exactly the liberties the printer takes.
#[derive(Debug, Clone, PartialEq)]
enum N {
    Num(Rational),
    Neg(Box<N>),
    Add(Vec<N>),
    Mul(Vec<N>),
    Had(Vec<N>),
    Op(String, Vec<N>),
}

fn norm(e: &RecExpr<Node>, id: Id) -> N {
    let n = |i: Id| norm(e, i);
    let neg = |x: N| match x {
        N::Neg(inner) => *inner,
        N::Num(r) if !r.is_zero() => N::Num(r.neg()),
        other => N::Neg(Box::new(other)),
    };
    // Pulls a leading minus out of a product's first factor.
    let product = |mk: fn(Vec<N>) -> N, a: N, b: N| {
        let flat =
            |x: N, out: &mut Vec<N>, mk_probe: &dyn Fn(&N) -> Option<Vec<N>>| match mk_probe(&x) {
                Some(items) => out.extend(items),
                None => out.push(x),
            };
        let probe = |x: &N| match (x, mk(vec![])) {
            (N::Mul(v), N::Mul(_)) | (N::Had(v), N::Had(_)) => Some(v.clone()),
            _ => None,
        };
        let (mut sign, a) = match a {
            N::Neg(inner) => (true, *inner),
            N::Num(r) if r.is_negative() => (true, N::Num(r.neg())),
            other => (false, other),
        };
        let mut items = Vec::new();
        flat(a, &mut items, &probe);
        flat(b, &mut items, &probe);
        if let Some(N::Neg(_)) = items.first() {
            if let Some(N::Neg(inner)) = items.first().cloned() {
                items[0] = *inner;
                sign = !sign;
            }
        }
        let p = mk(items);
        if sign {
            N::Neg(Box::new(p))
        } else {
            p
        }
    };
    match &e[id] {
        // A number is one constant, whatever its sign: `-1/2` reads back as
        // the constant, whether it was built as one or as a negation.
        Node::Num(r) => N::Num(r.clone()),
        Node::Neg(a) => neg(n(*a)),
        Node::Add([a, b]) | Node::Sub([a, b]) => {
            let mut items = Vec::new();
            for (x, negate) in [(n(*a), false), (n(*b), matches!(e[id], Node::Sub(_)))] {
                let x = if negate { neg(x) } else { x };
                match x {
                    N::Add(v) => items.extend(v),
                    other => items.push(other),
                }
            }
            N::Add(items)
        }
        Node::Mul([a, b]) => product(N::Mul, n(*a), n(*b)),
        Node::Had([a, b]) => product(N::Had, n(*a), n(*b)),
        Node::Div([a, b]) => {
            // A quotient is linear in its numerator: pull its sign out.
            let (negate, p) = match n(*a) {
                N::Neg(p) => (true, *p),
                N::Num(r) if r.is_negative() => (true, N::Num(r.neg())),
                p => (false, p),
            };
            let q = n(*b);
            let value = match (p, q) {
                (N::Num(p), N::Num(q)) if !q.is_zero() => N::Num(p.div(&q).unwrap_or(p)),
                (p, q) => N::Op("/".into(), vec![p, q]),
            };
            if negate {
                neg(value)
            } else {
                value
            }
        }
        other => {
            let name = format!("{other:?}")
                .split('(')
                .next()
                .unwrap_or("")
                .to_owned();
            let name = match other {
                Node::Leaf(l) => l.to_string(),
                _ => name,
            };
            N::Op(
                name,
                egg::Language::children(other)
                    .iter()
                    .map(|c| n(*c))
                    .collect(),
            )
        }
    }
}

proptest! {
    #![proptest_config(common::proptest_config(2000))]
    #[test]
    fn printed_expressions_parse_back(t in top()) {
        let m = model();
        let mut b = Build { e: RecExpr::default() };
        let root = b.tree(&t);
        let _ = root;
        let printed = plain::expr(&m.symbols, &b.e);
        let source = Source::new("<printed>", printed.clone());
        let parsed = match deriv::check::expression(&m, &source, &[0]) {
            Ok((e, _)) => e,
            // A divisor that is the constant zero is refused with its
            // reason (`x / (1 - 1)`), as it should be.
            Err(d) if d.0.iter().any(|x| x.message.ends_with("divides by zero")) => {
                return Err(TestCaseError::reject("a constant zero divisor"));
            }
            Err(d) => return Err(TestCaseError::fail(format!("`{printed}` did not parse:\n{}", d.render(&source)))),
        };
        // Printing settles after one round: the printer writes `a + -b` as
        // `a - b`, so a tree with such a sum prints differently once parsed
        // back, and the same from then on.
        let again = plain::expr(&m.symbols, &parsed);
        let source2 = Source::new("<printed again>", again.clone());
        let parsed2 = deriv::check::expression(&m, &source2, &[0])
            .map_err(|d| TestCaseError::fail(format!("`{again}` did not parse:\n{}", d.render(&source2))))?
            .0;
        prop_assert_eq!(plain::expr(&m.symbols, &parsed2), again.clone(), "printing does not settle");
        let (n1, n2) = (norm(&b.e, deriv::ir::root(&b.e)), norm(&parsed, deriv::ir::root(&parsed)));
        prop_assert_eq!(n1, n2, "`{}` parsed to a different expression", printed);
        // And the same value, on a random instance.
        let inst = Instance::seeded(&m, 7).expect("instance");
        let fwd = Forward::new(&inst, None);
        let binding = [Some(2), None];
        if let (Ok(x), Ok(y)) = (fwd.eval(&b.e, &binding), fwd.eval(&parsed, &binding)) {
            if x.is_finite() && y.is_finite() {
                prop_assert!(rel_error(&x, &y) < 1e-9, "`{}`: {:?} vs {:?}", printed, x, y);
            }
        }
    }
}
