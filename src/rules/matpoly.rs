//! A normal form for sums of matrix products, for determinants: a square
//! matrix expression is expanded into a polynomial whose terms are an exact
//! coefficient, a product of scalar powers, and a word of matrices in order
//! (matrix products do not commute); like terms are collected and the
//! result rebuilt in one canonical order. It is applied to the argument of
//! a determinant only, where collecting terms is what lets the determinant
//! rules finish (everywhere, its partial sums would feed the factoring
//! rules without end). This is what cancels
//! `D * inv(B) * A - C` down to a scaled identity in a symplectic step.
//!
//! Beside it, the scalar power rules that finish such determinants:
//! `(x^a)^b = x^(a*b)` (`a` a constant), and `x^a * x^b = x^(a+b)` where the sum is a
//! constant, for integer exponents
//! (constants or polynomials in dims with integer coefficients). Both hold
//! wherever the left side is defined (a negative power already requires
//! `x != 0`).

use super::matrix::{build_product, Factors};
use super::ring::{add_into, MAX_TERMS};
use super::{built_row, is_scalar_var, is_square_matrix, var, Rewrite};
use crate::ir::analysis::{add_poly, constant, is_scalar, Graph};
use crate::ir::{Leaf, Node};
use crate::num::Rational;
use crate::poly::Poly;
use egg::{Id, Subst};
use std::collections::BTreeMap;

/// A term's key: scalar atoms with their (nonzero) exponents, sorted, and
/// the word of matrix atoms in product order (empty for the identity).
type Key = (Vec<(Id, i64)>, Vec<Id>);

/// Terms with their coefficients.
type Polynomial = BTreeMap<Key, Rational>;

/// The deepest expansion followed before a class is taken as an atom.
const MAX_DEPTH: usize = 32;

fn single(key: Key, c: Rational) -> Polynomial {
    let mut p = Polynomial::new();
    if !c.is_zero() {
        p.insert(key, c);
    }
    p
}

fn merge_scalars(a: &[(Id, i64)], b: &[(Id, i64)]) -> Option<Vec<(Id, i64)>> {
    let mut m: BTreeMap<Id, i64> = a.iter().copied().collect();
    for &(x, e) in b {
        let v = m.entry(x).or_insert(0);
        *v = v.checked_add(e)?;
    }
    Some(m.into_iter().filter(|&(_, e)| e != 0).collect())
}

fn times(a: &Polynomial, b: &Polynomial) -> Option<Polynomial> {
    if a.len().saturating_mul(b.len()) > MAX_TERMS {
        return None;
    }
    let mut out = Polynomial::new();
    for ((sa, wa), ca) in a {
        for ((sb, wb), cb) in b {
            let scalars = merge_scalars(sa, sb)?;
            let word: Vec<Id> = wa.iter().chain(wb).copied().collect();
            add_into(
                &mut out,
                single((scalars, word), ca.mul(cb)?),
                &Rational::one(),
            )?;
        }
    }
    Some(out)
}

/// What an expansion found besides the polynomial: an identity class to
/// rebuild the empty word with.
/// Expansions already made are kept, so a shared subexpression is
/// expanded once.
#[derive(Default)]
struct Found {
    eye: Option<Id>,
    done: BTreeMap<Id, Polynomial>,
}

/// Whether `id` is a scalar that a sum would broadcast (not the
/// shape-polymorphic zero).
fn broadcast(eg: &Graph, id: Id) -> bool {
    is_scalar(eg, id) && constant(eg, id).is_none_or(|c| !c.is_zero())
}

/// The polynomial of a class, following one arithmetic node per class.
fn expand(eg: &Graph, id: Id, stack: &mut Vec<Id>, found: &mut Found) -> Option<Polynomial> {
    let id = eg.find(id);
    let scalar = is_scalar(eg, id);
    if let Some(c) = constant(eg, id) {
        if scalar || c.is_zero() {
            return Some(single((Vec::new(), Vec::new()), c));
        }
    }
    let atom = |id: Id| {
        if scalar {
            single((vec![(id, 1)], Vec::new()), Rational::one())
        } else {
            single((Vec::new(), vec![id]), Rational::one())
        }
    };
    if stack.contains(&id) || stack.len() > MAX_DEPTH {
        return Some(atom(id));
    }
    if let Some(p) = found.done.get(&id) {
        return Some(p.clone());
    }
    stack.push(id);
    let mut result = None;
    for n in &eg[id].nodes {
        let p = match n {
            Node::Eye(_) => {
                found.eye.get_or_insert(id);
                single((Vec::new(), Vec::new()), Rational::one())
            }
            // A scalar added to a matrix is broadcast (a matrix of that
            // scalar), not a multiple of the identity: such a sum is an atom.
            Node::Add([a, b]) | Node::Sub([a, b])
                if scalar || !(broadcast(eg, *a) || broadcast(eg, *b)) =>
            {
                let mut acc = expand(eg, *a, stack, found)?;
                let sign = Rational::int(if matches!(n, Node::Sub(_)) { -1 } else { 1 });
                add_into(&mut acc, expand(eg, *b, stack, found)?, &sign)?;
                acc
            }
            Node::Neg(a) => {
                let mut acc = Polynomial::new();
                add_into(&mut acc, expand(eg, *a, stack, found)?, &Rational::int(-1))?;
                acc
            }
            // A scalar made of vectors (`x^T * y`) is one scalar atom.
            Node::Mul([a, b]) if !scalar || (is_scalar(eg, *a) && is_scalar(eg, *b)) => times(
                &expand(eg, *a, stack, found)?,
                &expand(eg, *b, stack, found)?,
            )?,
            Node::Div([a, d]) if is_scalar(eg, *d) => {
                let inv = match constant(eg, *d) {
                    Some(c) => single((Vec::new(), Vec::new()), Rational::one().div(&c)?),
                    None => single((vec![(eg.find(*d), -1)], Vec::new()), Rational::one()),
                };
                times(&expand(eg, *a, stack, found)?, &inv)?
            }
            Node::Pow([a, e]) if scalar && constant(eg, *a).is_none() => {
                match constant(eg, *e).and_then(|k| k.to_i64()) {
                    Some(k) if k != 0 && (-4..=4).contains(&k) => {
                        single((vec![(eg.find(*a), k)], Vec::new()), Rational::one())
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        result = Some(p);
        break;
    }
    stack.pop();
    let p = result.unwrap_or_else(|| atom(id));
    found.done.insert(id, p.clone());
    Some(p)
}

/// Rebuilds a polynomial in canonical order; `None` when a term needs an
/// identity and none was seen.
fn rebuild(eg: &mut Graph, p: &Polynomial, eye: Option<Id>) -> Option<Id> {
    let mut acc: Option<Id> = None;
    for ((scalars, word), c) in p {
        if word.is_empty() && eye.is_none() {
            return None;
        }
        let term = build_product(
            eg,
            &Factors {
                coef: Some(c.abs()),
                scalars: scalars.clone(),
                matrices: word.clone(),
                identity: eye,
            },
        );
        acc = Some(match (acc, c.is_negative()) {
            (None, false) => term,
            (None, true) => eg.add(Node::Neg(term)),
            (Some(s), false) => eg.add(Node::Add([s, term])),
            (Some(s), true) => eg.add(Node::Sub([s, term])),
        });
    }
    Some(acc.unwrap_or_else(|| eg.add(Node::Num(Rational::zero()))))
}

/// The normal form of a sum or difference of square matrices (its row
/// says they are).
fn normalize(eg: &mut Graph, s: &Subst, sign: i64) -> Option<Id> {
    let (a, b) = (s[var("?a")], s[var("?b")]);
    let mut stack = Vec::new();
    let mut found = Found::default();
    let mut p = expand(eg, a, &mut stack, &mut found)?;
    let pb = expand(eg, b, &mut stack, &mut found)?;
    let written = p.len() + pb.len();
    add_into(&mut p, pb, &Rational::int(sign))?;
    // Only a sum whose terms collect or cancel is rewritten: expanding
    // products alone makes nothing simpler, and feeds the factoring rules
    // forms to undo.
    if p.len() >= written {
        return None;
    }
    rebuild(eg, &p, found.eye)
}

/// A class read as an integer exponent: an integer constant, or a
/// polynomial in dims with integer coefficients.
fn exponent(eg: &Graph, id: Id, depth: usize) -> Option<Poly> {
    let id = eg.find(id);
    if let Some(c) = constant(eg, id) {
        return c.to_i64().map(Poly::int);
    }
    if depth > MAX_DEPTH {
        return None;
    }
    for n in &eg[id].nodes {
        let p = match n {
            Node::Leaf(Leaf::Dim(d)) => Some(Poly::dim(*d)),
            Node::Add([a, b]) => exponent(eg, *a, depth + 1)?.add(&exponent(eg, *b, depth + 1)?),
            Node::Sub([a, b]) => exponent(eg, *a, depth + 1)?.sub(&exponent(eg, *b, depth + 1)?),
            Node::Mul([a, b]) => exponent(eg, *a, depth + 1)?.mul(&exponent(eg, *b, depth + 1)?),
            Node::Neg(a) => Some(exponent(eg, *a, depth + 1)?.neg()),
            _ => continue,
        };
        if let Some(p) = p.filter(integer_coefficients) {
            return Some(p);
        }
    }
    None
}

fn integer_coefficients(p: &Poly) -> bool {
    p.terms().iter().all(|(_, c)| c.to_i64().is_some())
}

/// The powers in a class: `(base, exponent)`, the class itself to the first
/// power when it is a non-constant scalar.
fn powers(eg: &Graph, id: Id) -> Vec<(Id, Poly)> {
    let id = eg.find(id);
    let mut out = Vec::new();
    if !is_scalar(eg, id) || constant(eg, id).is_some() {
        return out;
    }
    out.push((id, Poly::int(1)));
    for n in &eg[id].nodes {
        if let Node::Pow([b, e]) = n {
            if constant(eg, *b).is_none() {
                if let Some(p) = exponent(eg, *e, 0) {
                    out.push((eg.find(*b), p));
                }
            }
        }
    }
    out
}

/// `x^p` with `p` a polynomial exponent, `1` for `p = 0`.
fn power(eg: &mut Graph, base: Id, p: &Poly) -> Id {
    if p.is_zero() {
        return eg.add(Node::Num(Rational::one()));
    }
    if p.is_one() {
        return base;
    }
    let e = add_poly(eg, p);
    eg.add(Node::Pow([base, e]))
}

/// `x^a * x^b = x^(a+b)`, where that leaves a constant exponent.
fn same_base_product(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (a, b) = (s[var("?a")], s[var("?b")]);
    let pa = powers(eg, a);
    let pb = powers(eg, b);
    for (xa, ea) in &pa {
        for (xb, eb) in &pb {
            if xa == xb {
                // Only two explicit powers whose symbolic parts cancel
                // (`x^D * x^(-D)`): `x^D * x`, or `x * x^-1` inside the
                // cycles that products with inverses make, would only feed
                // the product rules new forms without end.
                let sum = ea.add(eb)?;
                if sum.as_constant().is_some() && !ea.is_one() && !eb.is_one() {
                    return Some(power(eg, *xa, &sum));
                }
            }
        }
    }
    None
}

/// `?e` is an integer, or a polynomial in dims with integer coefficients.
fn integer_exponent(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| exponent(eg, s[v], 0).is_some()
}

/// `(x^a)^b = x^(a*b)` for an integer `b` and an integer `a`, one of the
/// two a constant.
fn power_of_power(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (inner, e) = (s[var("?a")], s[var("?e")]);
    // A power of a constant is that constant's: the class of `1` may hold
    // `((-1)^D)^2`, and its powers would only give new exponents.
    if eg[inner].data.konst.is_some() {
        return None;
    }
    let outer = exponent(eg, e, 0)?;
    // One exponent a constant: `(x^-1)^D = x^(-D)`, `(a^D)^2 = a^(2 * D)`.
    // Two symbolic ones would let `det(c * A) = c^n * det(A)` raise powers
    // without end.
    let outer_constant = outer.as_constant().is_some();
    let (x, a) = powers(eg, inner).into_iter().find(|(x, a)| {
        *x != eg.find(inner) && !a.is_one() && (outer_constant || a.as_constant().is_some())
    })?;
    let p = a.mul(&outer)?;
    Some(power(eg, x, &p))
}

/// The rules.
pub fn rules() -> Vec<Rewrite> {
    vec![
        built_row!("matpoly-det-add"; "(det (+ ?a ?b))" => |eg, s| {
            let n = normalize(eg, s, 1)?;
            Some(eg.add(Node::Det(n)))
        }, if is_square_matrix("?a")),
        built_row!("matpoly-det-sub"; "(det (- ?a ?b))" => |eg, s| {
            let n = normalize(eg, s, -1)?;
            Some(eg.add(Node::Det(n)))
        }, if is_square_matrix("?a")),
        built_row!("pow-same-base"; "(* ?a ?b)" => same_base_product, if is_scalar_var("?a"), if is_scalar_var("?b")),
        built_row!("pow-of-pow"; "(^ ?a ?e)" => power_of_power, if integer_exponent("?e")),
        // `(x y)^n = x^n y^n` for scalars and an integer `n`.
        built_row!("pow-of-product"; "(^ (* ?x ?y) ?e)" => |eg, s| {
            let (x, y, e) = (s[var("?x")], s[var("?y")], s[var("?e")]);
            let px = eg.add(Node::Pow([x, e]));
            let py = eg.add(Node::Pow([y, e]));
            Some(eg.add(Node::Mul([px, py])))
        }, if is_scalar_var("?x"), if is_scalar_var("?y"), if integer_exponent("?e"), if |eg: &mut Graph, class: Id, _: &Subst| eg[class].data.konst.is_none()),
    ]
}
