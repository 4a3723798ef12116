//! A normal form for elementwise algebra, for proofs: a sum of Hadamard
//! products is expanded into a polynomial over its atoms (the classes that
//! are not sums, differences, negations, elementwise products, scalings or
//! integer powers), like terms are collected with exact coefficients, and
//! the result is rebuilt in one canonical order. Two sides that are equal
//! as polynomials then meet in one class, where commutativity and
//! associativity rules would have to search every order.
//!
//! Exponents may be negative (a Laurent polynomial): `a ./ b` is
//! `a .* b^-1`, and `b .* (a ./ b)` is `a`. That holds wherever the left
//! side is defined (`b^-1` already requires `b` nonzero).

use super::{built, var, Rewrite};
use crate::ir::analysis::{constant, is_scalar, Graph};
use crate::ir::Node;
use crate::num::Rational;
use egg::{Id, Subst};
use std::collections::BTreeMap;

/// A term's atoms with their (nonzero) exponents, sorted by atom.
type Monomial = Vec<(Id, i64)>;

/// Terms with their coefficients.
type Polynomial = BTreeMap<Monomial, Rational>;

/// The product of two monomials; `None` on an exponent out of bounds.
fn monomial_times(a: &Monomial, b: &Monomial) -> Option<Monomial> {
    let mut m: BTreeMap<Id, i64> = a.iter().copied().collect();
    for &(x, e) in b {
        let v = m.entry(x).or_insert(0);
        *v = v.checked_add(e)?;
    }
    Some(m.into_iter().filter(|&(_, e)| e != 0).collect())
}

/// The most terms an expansion may reach before it gives up.
pub(super) const MAX_TERMS: usize = 64;

/// Adds `sign * p` into `acc`, dropping terms that cancel; `None` past
/// [`MAX_TERMS`] terms or on a constant too large.
pub(super) fn add_into<K: Ord>(
    acc: &mut BTreeMap<K, Rational>,
    p: BTreeMap<K, Rational>,
    sign: &Rational,
) -> Option<()> {
    for (m, c) in p {
        let c = c.mul(sign)?;
        let sum = match acc.get(&m) {
            Some(prev) => prev.add(&c)?,
            None => c,
        };
        if sum.is_zero() {
            acc.remove(&m);
        } else {
            acc.insert(m, sum);
        }
    }
    (acc.len() <= MAX_TERMS).then_some(())
}

fn times(a: &Polynomial, b: &Polynomial) -> Option<Polynomial> {
    if a.len().saturating_mul(b.len()) > MAX_TERMS {
        return None;
    }
    let mut out = Polynomial::new();
    for (ma, ca) in a {
        for (mb, cb) in b {
            let m = monomial_times(ma, mb)?;
            let mut one = Polynomial::new();
            one.insert(m, ca.mul(cb)?);
            add_into(&mut out, one, &Rational::one())?;
        }
    }
    Some(out)
}

fn atom(id: Id) -> Polynomial {
    power_of_atom(id, 1)
}

fn power_of_atom(id: Id, k: i64) -> Polynomial {
    let mut p = Polynomial::new();
    p.insert(vec![(id, k)], Rational::one());
    p
}

/// The largest magnitude of an integer exponent that is expanded.
const MAX_POWER: i64 = 4;

/// `p^k` for an integer `k`: repeated products for a positive `k`; for a
/// negative one, only where `p` is a single term (`(c m)^-k = c^-k m^-k`),
/// else `None` (the caller keeps the base as an atom).
fn power(p: &Polynomial, k: i64) -> Option<Polynomial> {
    if k > 0 {
        let mut acc = p.clone();
        for _ in 1..k {
            acc = times(&acc, p)?;
        }
        return Some(acc);
    }
    let [(m, c)] = p.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let mut inv = Rational::one();
    for _ in 0..k.unsigned_abs() {
        inv = inv.div(c)?;
    }
    let m: Monomial = m
        .iter()
        .map(|&(x, e)| e.checked_mul(k).map(|e| (x, e)))
        .collect::<Option<_>>()?;
    let mut out = Polynomial::new();
    out.insert(m, inv);
    Some(out)
}

/// The most classes one normalization may expand: a graph that shares
/// much structure (a product of sums of products ...) would otherwise be
/// expanded along every path.
const MAX_EXPANDED: usize = 2_000;

/// What one normalization has expanded: each class's polynomial (any of
/// them is the class's value, so one is enough), the classes being
/// expanded, and how many were.
#[derive(Default)]
struct Expansion {
    memo: rustc_hash::FxHashMap<Id, Polynomial>,
    stack: Vec<Id>,
    steps: usize,
}

/// The polynomial of a class, following one elementwise node per class;
/// `None` past the size bounds.
fn expand(eg: &Graph, id: Id, x: &mut Expansion) -> Option<Polynomial> {
    let id = eg.find(id);
    if let Some(p) = x.memo.get(&id) {
        return Some(p.clone());
    }
    let p = expand_class(eg, id, x)?;
    x.memo.insert(id, p.clone());
    Some(p)
}

fn expand_class(eg: &Graph, id: Id, x: &mut Expansion) -> Option<Polynomial> {
    if let Some(c) = constant(eg, id) {
        let mut p = Polynomial::new();
        if !c.is_zero() {
            p.insert(Vec::new(), c);
        }
        return Some(p);
    }
    if x.stack.contains(&id) || x.stack.len() > 32 {
        return Some(atom(id));
    }
    x.steps += 1;
    if x.steps > MAX_EXPANDED {
        return None;
    }
    let stack = x;
    stack.stack.push(id);
    let mut result = None;
    for n in &eg[id].nodes {
        let p = match n {
            Node::Add([a, b]) | Node::Sub([a, b]) => {
                let mut acc = expand(eg, *a, stack)?;
                let sign = if matches!(n, Node::Sub(_)) {
                    Rational::int(-1)
                } else {
                    Rational::one()
                };
                add_into(&mut acc, expand(eg, *b, stack)?, &sign)?;
                acc
            }
            Node::Neg(a) => {
                let mut acc = Polynomial::new();
                add_into(&mut acc, expand(eg, *a, stack)?, &Rational::int(-1))?;
                acc
            }
            Node::Had([a, b]) => times(&expand(eg, *a, stack)?, &expand(eg, *b, stack)?)?,
            // Scaling by a scalar is an elementwise product with it.
            Node::Mul([a, b]) if is_scalar(eg, *a) || is_scalar(eg, *b) => {
                times(&expand(eg, *a, stack)?, &expand(eg, *b, stack)?)?
            }
            Node::Pow([a, e]) => match constant(eg, *e).and_then(|k| k.to_i64()) {
                Some(k) if k != 0 && k.abs() <= MAX_POWER => {
                    let base = expand(eg, *a, stack)?;
                    match power(&base, k) {
                        Some(p) => p,
                        // `(u + v)^-1` stays a power of its base.
                        None if k < 0 => power_of_atom(eg.find(*a), k),
                        None => return None,
                    }
                }
                _ => continue,
            },
            _ => continue,
        };
        result = Some(p);
        break;
    }
    stack.stack.pop();
    Some(result.unwrap_or_else(|| atom(id)))
}

/// Rebuilds a polynomial in canonical order: terms by their atoms, atoms by
/// class, coefficients first.
fn rebuild(eg: &mut Graph, p: &Polynomial) -> Id {
    let mut acc: Option<Id> = None;
    for (m, c) in p {
        let mut term: Option<Id> = None;
        for &(a, e) in m {
            let a = if e == 1 {
                a
            } else {
                let k = eg.add(Node::Num(Rational::int(e)));
                eg.add(Node::Pow([a, k]))
            };
            term = Some(match term {
                Some(t) => eg.add(Node::Had([t, a])),
                None => a,
            });
        }
        let mag = c.abs();
        let term = match term {
            Some(t) if mag.is_one() => t,
            Some(t) => {
                let n = eg.add(Node::Num(mag));
                eg.add(Node::Mul([n, t]))
            }
            None => eg.add(Node::Num(mag)),
        };
        acc = Some(match (acc, c.is_negative()) {
            (None, false) => term,
            (None, true) => eg.add(Node::Neg(term)),
            (Some(s), false) => eg.add(Node::Add([s, term])),
            (Some(s), true) => eg.add(Node::Sub([s, term])),
        });
    }
    acc.unwrap_or_else(|| eg.add(Node::Num(Rational::zero())))
}

fn normalize(eg: &mut Graph, s: &Subst, op: &str) -> Option<Id> {
    let (a, b) = (s[var("?a")], s[var("?b")]);
    let mut x = Expansion::default();
    let pa = expand(eg, a, &mut x)?;
    let pb = expand(eg, b, &mut x)?;
    let p = match op {
        "+" => {
            let mut acc = pa;
            add_into(&mut acc, pb, &Rational::one())?;
            acc
        }
        "-" => {
            let mut acc = pa;
            add_into(&mut acc, pb, &Rational::int(-1))?;
            acc
        }
        _ => times(&pa, &pb)?,
    };
    let out = rebuild(eg, &p);
    // Terms that cancelled down to scalars do not stand for a vector of
    // them (`v .* v^-1` is all ones, not `1`): no merge across shapes.
    let scalar = is_scalar(eg, a) && is_scalar(eg, b);
    if !p.is_empty() && is_scalar(eg, out) != scalar {
        return None;
    }
    Some(out)
}

/// The normal-form rules.
pub fn rules() -> Vec<Rewrite> {
    vec![
        built("ring-normal-add", "(+ ?a ?b)", |eg, s| {
            normalize(eg, s, "+")
        }),
        built("ring-normal-sub", "(- ?a ?b)", |eg, s| {
            normalize(eg, s, "-")
        }),
        built("ring-normal-had", "(.* ?a ?b)", |eg, s| {
            normalize(eg, s, ".*")
        }),
    ]
}
