//! A normal form for elementwise algebra, for proofs: a sum of Hadamard
//! products is expanded into a polynomial over its atoms (the classes that
//! are not sums, differences, negations, elementwise products, scalings or
//! integer powers), like terms are collected with exact coefficients, and
//! the result is rebuilt in one canonical order. Two sides that are equal
//! as polynomials then meet in one class, where commutativity and
//! associativity rules would have to search every order.
//!
//! Exponents may be negative or fractional: `a ./ b` is `a .* b^-1`,
//! `a / c` for a scalar `c` is `c^-1 * a`, `sqrt(u)` is `u^(1/2)`, and
//! powers of one atom combine (`b .* (a ./ b)` is `a`,
//! `sqrt(u)^-2 .* sqrt(u)^-1` is `u^(-3/2)`). That holds wherever the left
//! side is defined (`b^-1` requires `b` nonzero, `u^(1/2)` requires
//! `u >= 0`). A fractional power is only ever taken of an atom: the power
//! of a product or a sum (`(a .* b)^(1/2)`, which is not
//! `a^(1/2) .* b^(1/2)` for negative entries) keeps its base whole.

use super::{built, built_if, var, Rewrite};
use crate::ir::analysis::{constant, is_scalar, Graph};
use crate::ir::Node;
use crate::num::Rational;
use egg::{Id, Subst};
use std::collections::BTreeMap;

/// A term's atoms with their (nonzero) exponents, sorted by atom.
type Monomial = Vec<(Id, Rational)>;

/// Terms with their coefficients.
type Polynomial = BTreeMap<Monomial, Rational>;

/// The product of two monomials; `None` on an exponent out of bounds.
fn monomial_times(a: &Monomial, b: &Monomial) -> Option<Monomial> {
    let mut m: BTreeMap<Id, Rational> = a.iter().cloned().collect();
    for (x, e) in b {
        let sum = match m.get(x) {
            Some(v) => v.add(e)?,
            None => e.clone(),
        };
        m.insert(*x, sum);
    }
    Some(m.into_iter().filter(|(_, e)| !e.is_zero()).collect())
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
    power_of_atom(id, Rational::one())
}

fn power_of_atom(id: Id, k: Rational) -> Polynomial {
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
    let k = Rational::int(k);
    let m: Monomial = m
        .iter()
        .map(|(x, e)| e.mul(&k).map(|e| (*x, e)))
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
            Node::Pow([a, e]) => match constant(eg, *e) {
                Some(k) => match k.to_i64() {
                    Some(k) if k != 0 && k.abs() <= MAX_POWER => {
                        let base = expand(eg, *a, stack)?;
                        match power(&base, k) {
                            Some(p) => p,
                            // `(u + v)^-1` stays a power of its base.
                            None if k < 0 => power_of_atom(eg.find(*a), Rational::int(k)),
                            None => return None,
                        }
                    }
                    // A fractional power of the base, kept whole.
                    None if !k.is_zero() => power_of_atom(eg.find(*a), k),
                    _ => continue,
                },
                None => continue,
            },
            // Division by a scalar: a product with its inverse.
            Node::Div([a, c]) if is_scalar(eg, *c) => {
                times(&expand(eg, *a, stack)?, &inverse(eg, *c, stack)?)?
            }
            Node::Act(f, [u]) if f.act == crate::ir::Act::Sqrt && !f.prime => {
                power_of_atom(eg.find(*u), Rational::frac(1, 2))
            }
            _ => continue,
        };
        result = Some(p);
        break;
    }
    stack.stack.pop();
    Some(result.unwrap_or_else(|| atom(id)))
}

/// The polynomial of `1 / c`: the inverse of a single term, or `c^-1`.
fn inverse(eg: &Graph, c: Id, x: &mut Expansion) -> Option<Polynomial> {
    let den = expand(eg, c, x)?;
    Some(match power(&den, -1) {
        Some(p) => p,
        None => power_of_atom(eg.find(c), Rational::int(-1)),
    })
}

/// Rebuilds a polynomial in canonical order: terms by their atoms, atoms by
/// class, coefficients first.
fn rebuild(eg: &mut Graph, p: &Polynomial) -> Id {
    let mut acc: Option<Id> = None;
    for (m, c) in p {
        let mut term: Option<Id> = None;
        for (a, e) in m {
            let a = if e.is_one() {
                *a
            } else {
                let k = eg.add(Node::Num(e.clone()));
                eg.add(Node::Pow([*a, k]))
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
    // The second operand, or its inverse for a division.
    let pb = if op == "/" {
        inverse(eg, b, &mut x)?
    } else {
        expand(eg, b, &mut x)?
    };
    let p = match op {
        "+" | "-" => {
            let sign = if op == "+" {
                Rational::one()
            } else {
                Rational::int(-1)
            };
            let mut acc = pa;
            add_into(&mut acc, pb, &sign)?;
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

/// `sum(i, e)` with the factors of each term of `e` that do not depend on
/// `i` taken out of the sum: `sum(n, g .* x[n] .* c)` is
/// `g .* c .* sum(n, x[n])` (a sum over an index is linear, and a factor
/// free of its index is the same in every term). `None` where some term
/// does not depend on `i` at all (its sum is a multiple the graph does not
/// know) or where nothing would come out.
fn sum_factor(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (i, e) = (s[var("?i")], s[var("?e")]);
    let index = eg[i].nodes.iter().find_map(|n| match n {
        Node::Leaf(crate::ir::Leaf::Index(k)) => Some(*k),
        _ => None,
    })?;
    let mut x = Expansion::default();
    let p = expand(eg, e, &mut x)?;
    let free = |eg: &Graph, a: Id| crate::ir::analysis::free_of_index(eg, a, index);
    let mut out = Polynomial::new();
    let mut moved = p.len() > 1;
    for (m, c) in &p {
        let (outside, inside): (Monomial, Monomial) =
            m.iter().cloned().partition(|(a, _)| free(eg, *a));
        if inside.is_empty() {
            return None;
        }
        moved |= !outside.is_empty();
        let mut body = Polynomial::new();
        body.insert(inside, Rational::one());
        let body = rebuild(eg, &body);
        let summed = eg.add(Node::Sum([i, body]));
        let term = monomial_times(&outside, &vec![(summed, Rational::one())])?;
        let mut one = Polynomial::new();
        one.insert(term, c.clone());
        add_into(&mut out, one, &Rational::one())?;
    }
    if !moved {
        return None;
    }
    let built = rebuild(eg, &out);
    (crate::ir::analysis::shape_of(eg, built) == crate::ir::analysis::shape_of(eg, e))
        .then_some(built)
}

/// `(* ?a ?b)` scales: one side is a scalar.
fn scaling(eg: &mut Graph, _: Id, s: &Subst) -> bool {
    is_scalar(eg, s[var("?a")]) || is_scalar(eg, s[var("?b")])
}

/// `(/ ?a ?b)` divides by a scalar.
fn by_scalar(eg: &mut Graph, _: Id, s: &Subst) -> bool {
    is_scalar(eg, s[var("?b")])
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
        // Scaling and division by a scalar, elementwise products in all
        // but name.
        built_if("ring-normal-scale", "(* ?a ?b)", scaling, |eg, s| {
            normalize(eg, s, ".*")
        }),
        built_if("ring-normal-div", "(/ ?a ?b)", by_scalar, |eg, s| {
            normalize(eg, s, "/")
        }),
        built("ring-sum-factor", "(sum ?i ?e)", sum_factor),
    ]
}
