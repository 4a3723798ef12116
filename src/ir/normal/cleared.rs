//! Equality of two rational expressions by clearing their denominators.
//!
//! A sum divided by (a sum raised to a negative integer power, such as
//! `(1 - p)^(-1)`) is one base of the normal form, so `p .* (1 - p) ./ (1 -
//! p)` and `p` have two normal forms: the numerator is multiplied out and
//! the base is not. Their difference `d` is zero where it is defined
//! exactly when `d` times every such base, to the largest power it is
//! divided by, is zero: the bases are not zero wherever `d` is defined (it
//! divides by them), so a product with them is zero only where `d` is. The
//! product's positive powers of bases are multiplied out again, and it is
//! compared with zero by its normal form.
//!
//! A base raised to a negative fraction (`sqrt(1 + r^2)^(-1)` is `(1 +
//! r^2)^(-1/2)`) clears the same way, by that fraction: a fractional power
//! of a base is defined only where the base is positive, so the power it
//! is multiplied by is not zero there. Where no term divides by a base, a
//! base whose powers merged into a positive integer (`sqrt(1 + r)^2`) is
//! multiplied out.
//!
//! A base divided by entrywise (in an elementwise product, of the shape of
//! the whole) clears by an elementwise product, whose entries are again
//! not zero where `d` is defined; a scalar base by a product.

use super::{
    add_into, add_product, as_constant, constant, entries_text, had_chain, hadamard,
    hadamard_factors, meaning, multiply, shape_text, single, Combo, Factor, Meaning, Product,
};
use crate::num::Rational;
use crate::poly::Poly;
use crate::shape::Shape;
use std::collections::BTreeMap;

/// The most terms a product cleared of its denominators may have before
/// the comparison gives up (it then proves nothing).
const MAX_TERMS: usize = 400;

/// The largest power, in all, that the bases are multiplied by.
const MAX_POWER: i64 = 6;

/// Whether `d`, a normal form of the given shape, is zero once cleared of
/// the sums it divides by (see the module documentation); or once a
/// matrix factor every term starts (or ends) with is taken out (`X^T * u +
/// X^T * w` is zero where `u + w` is); or, for sums of entries, where the
/// column they sum is (`sum(u) - sum(w)` is zero where `u - w` is). `false`
/// where it is not, or the clearing grows past its bounds.
pub(super) fn vanishes(d: &Combo, shape: Option<&Shape>) -> bool {
    // A scalar whose every term sums the entries of a column of one size
    // is the sum of the entries of their column: zero where that is.
    if let Some((column, rows)) = summed(d) {
        let shape = Shape::matrix(rows, Poly::int(1));
        if bare_or_stripped(&column, true, Some(&shape)) {
            return true;
        }
    }
    bare_or_stripped(d, shape.is_some_and(|s| !s.is_scalar()), shape)
}

/// Whether `d` is zero once cleared, or once a factor every term starts
/// (or ends) with is taken out and the rest cleared.
fn bare_or_stripped(d: &Combo, elementwise: bool, shape: Option<&Shape>) -> bool {
    if cleared(d, elementwise, shape).is_some_and(|c| c.is_empty()) || diagonal_clears(d) {
        return true;
    }
    let mut d = d.clone();
    let mut shape = shape.cloned();
    while let Some((rest, left)) = stripped(&d, shape.as_ref()) {
        // The shape of what is left, where the factor taken out tells it,
        // or else that of an all-ones factor in it (it is needed where a
        // term clears to all ones).
        shape = left.or_else(|| ones_shape(&rest));
        if cleared(&rest, true, shape.as_ref()).is_some_and(|c| c.is_empty())
            || diagonal_clears(&rest)
        {
            return true;
        }
        d = rest;
    }
    false
}

/// Whether `d` is a sum of diagonals whose column clears (see
/// [`diagonal`]).
fn diagonal_clears(d: &Combo) -> bool {
    diagonal(d).is_some_and(|(column, rows)| {
        let shape = Shape::matrix(rows, Poly::int(1));
        column.is_empty() || cleared(&column, true, Some(&shape)).is_some_and(|c| c.is_empty())
    })
}

/// A matrix `d` each of whose terms is a diagonal `diag(u)` times scalar
/// factors, all of one size, as the column that `diag` is linear in (each
/// term's column times its scalar factors and coefficient) and its rows:
/// `d` is `diag` of that column, zero where the column is.
fn diagonal(d: &Combo) -> Option<(Combo, Poly)> {
    // Each term's diagonal: `diag(u)`, or `I(n)` (of a column of ones).
    let mut parts: Vec<((Combo, Poly), &Product, &Rational)> = Vec::new();
    for (p, c) in d {
        let [Factor::Sym(t)] = p.matrices.as_slice() else {
            return None;
        };
        let part = match meaning(t) {
            Some(Meaning::Diag(body, n)) => (body, n),
            _ => {
                let n = super::identity_rows(t)?;
                (ones(&n), n)
            }
        };
        parts.push((part, p, c));
    }
    let rows = parts.first()?.0 .1.clone();
    let mut column = Combo::new();
    for ((body, n), p, c) in parts {
        if n != rows {
            return None;
        }
        let outer = Product {
            scalars: p.scalars.clone(),
            matrices: Vec::new(),
        };
        let term = multiply(&single(outer, c.clone()), &body)?;
        add_into(&mut column, &term, &Rational::one())?;
    }
    Some((column, rows))
}

/// A column of ones of `n` entries.
fn ones(n: &Poly) -> Combo {
    let ones = Product {
        scalars: std::collections::BTreeMap::new(),
        matrices: vec![Factor::Ones(n.clone(), Poly::int(1))],
    };
    single(ones, Rational::one())
}

/// A scalar `d` each of whose terms has one factor that sums the entries
/// of a column, all of one size, as the column whose entries `d` sums (each
/// term's column times its other factors) and its rows.
fn summed(d: &Combo) -> Option<(Combo, Poly)> {
    let mut rows: Option<Poly> = None;
    let mut column = Combo::new();
    for (p, c) in d {
        if !p.matrices.is_empty() {
            return None;
        }
        let mut found = p.scalars.iter().filter_map(|(b, e)| {
            let unit = as_constant(e).is_some_and(|r| r.is_one());
            match (meaning(&entries_text(b)), unit) {
                (Some(Meaning::Entries(n, m)), true) => Some((b, n, m)),
                _ => None,
            }
        });
        let (b, n, m) = found.next()?;
        if rows.get_or_insert_with(|| n.clone()) != &n {
            return None;
        }
        let mut q = p.clone();
        q.scalars.remove(b);
        q.matrices = m;
        add_product(&mut column, q, c)?;
    }
    Some((column, rows?))
}

/// `d` (of `shape`, where known) with the matrix factor every term starts
/// with taken out, or else the one every term ends with, where each term
/// has another factor left; with the shape of what is left, where the
/// factor's shape tells it.
fn stripped(d: &Combo, shape: Option<&Shape>) -> Option<(Combo, Option<Shape>)> {
    // A term that is only the factor leaves an identity behind (`s * A`
    // beside `diag(u) * A` leaves `s * I`), of the factor's size.
    let first = d.keys().find(|p| p.matrices.len() > 1)?;
    if d.keys().any(|p| p.matrices.is_empty()) {
        return None;
    }
    let first_factor = first.matrices.first()?;
    let last_factor = first.matrices.last()?;
    let front = d.keys().all(|p| p.matrices.first() == Some(first_factor));
    let back = d.keys().all(|p| p.matrices.last() == Some(last_factor));
    if !front && !back {
        return None;
    }
    let mut out = Combo::new();
    for (p, c) in d {
        let mut q = p.clone();
        if front {
            q.matrices.remove(0);
        } else {
            q.matrices.pop();
        }
        if q.matrices.is_empty() {
            let f = factor_shape(if front { first_factor } else { last_factor })?;
            let n = if front { f.cols } else { f.rows };
            q.matrices.push(super::identity_factor(&n)?);
        }
        add_product(&mut out, q, c)?;
    }
    // `F * R` has `R`'s columns and `F`'s columns as `R`'s rows; `R * F`
    // has `R`'s rows and `F`'s rows as `R`'s columns.
    let left = shape.and_then(|s| {
        if front {
            let f = factor_shape(first_factor)?;
            Some(Shape::matrix(f.cols, s.cols.clone()))
        } else {
            let f = factor_shape(last_factor)?;
            Some(Shape::matrix(s.rows.clone(), f.rows))
        }
    });
    Some((out, left))
}

/// The shape of a matrix factor, where it is known.
fn factor_shape(f: &Factor) -> Option<Shape> {
    match f {
        Factor::Atom(t) => match meaning(&shape_text(t)) {
            Some(Meaning::Shape(s)) => Some(s),
            _ => None,
        },
        Factor::T(inner) => factor_shape(inner).map(|s| Shape::matrix(s.cols, s.rows)),
        Factor::Sym(t) => match meaning(t) {
            Some(Meaning::Diag(_, rows)) => Some(Shape::matrix(rows.clone(), rows)),
            _ => match meaning(&shape_text(t)) {
                Some(Meaning::Shape(s)) => Some(s),
                _ => None,
            },
        },
        Factor::Ones(r, c) => Some(Shape::matrix(r.clone(), c.clone())),
        Factor::Had(_) => None,
    }
}

/// The shape of an all-ones elementwise factor of a term of `d`, which is
/// the shape of every term.
fn ones_shape(d: &Combo) -> Option<Shape> {
    d.keys().find_map(|p| {
        hadamard_factors(&p.matrices)
            .into_iter()
            .find_map(|(g, _)| match g.as_slice() {
                [Factor::Ones(r, c)] => Some(Shape::matrix(r.clone(), c.clone())),
                _ => None,
            })
    })
}

/// `d` times the sums it divides by, with the bases raised to positive
/// powers multiplied out; repeated while what is left divides by sums (a
/// base may hold another, which is multiplied out in the round after).
/// `None` where no sum is divided by, or the clearing grows past bounds.
fn cleared(d: &Combo, elementwise: bool, shape: Option<&Shape>) -> Option<Combo> {
    let mut out = d.clone();
    for round in 0..3 {
        let (scalar, entrywise) = denominators(&out, elementwise);
        if scalar.is_empty() && entrywise.is_empty() {
            if round > 0 {
                return Some(out);
            }
            // No denominators, but powers of bases that merged into
            // positive integers (`sqrt(1 + r)^2`): multiplied out.
            let (next, changed) = expanded(&out, shape)?;
            return changed.then_some(next);
        }
        let mut total = Rational::zero();
        for k in scalar.values().chain(entrywise.values()) {
            total = total.add(k)?;
        }
        if total > Rational::int(MAX_POWER) {
            return None;
        }
        if !scalar.is_empty() {
            let mut m = Product::unit();
            for (b, k) in &scalar {
                m.scalars.insert(b.clone(), constant(k.clone()));
            }
            out = multiply(&out, &single(m, Rational::one()))?;
        }
        if !entrywise.is_empty() {
            let groups: BTreeMap<Vec<Factor>, Combo> = entrywise
                .iter()
                .map(|(b, k)| (vec![Factor::Atom(b.clone())], constant(k.clone())))
                .collect();
            let m = Product {
                scalars: BTreeMap::new(),
                matrices: had_chain(groups),
            };
            out = hadamard(&out, &single(m, Rational::one()), shape)?;
        }
        // The bases now raised to positive powers are multiplied out.
        for _ in 0..3 {
            let (next, changed) = expanded(&out, shape)?;
            out = next;
            if !changed {
                break;
            }
        }
        if out.is_empty() {
            return Some(out);
        }
    }
    Some(out)
}

/// The sums `d` divides by, each with the largest power it is divided
/// by (a constant, possibly a fraction: a base to the power `-1/2` is
/// positive where it is defined, so its power `1/2` is not zero there):
/// those among its scalar factors, and (where `elementwise`) those among
/// its elementwise factors.
type Powers = BTreeMap<String, Rational>;
fn denominators(d: &Combo, elementwise: bool) -> (Powers, Powers) {
    let mut scalar = BTreeMap::new();
    let mut entrywise = BTreeMap::new();
    let note = |into: &mut Powers, b: &str, e: &Combo| {
        if !is_base(b) {
            return;
        }
        let Some(k) = negative_constant(e) else {
            return;
        };
        let old = into.entry(b.to_owned()).or_insert_with(Rational::zero);
        if k > *old {
            *old = k;
        }
    };
    for p in d.keys() {
        for (b, e) in &p.scalars {
            note(&mut scalar, b, e);
        }
        if elementwise {
            for (g, e) in hadamard_factors(&p.matrices) {
                if let [Factor::Atom(b)] = g.as_slice() {
                    note(&mut entrywise, b, &e);
                }
            }
        }
    }
    (scalar, entrywise)
}

/// Whether a factor's text stands for a sum taken as one base.
fn is_base(text: &str) -> bool {
    matches!(meaning(text), Some(Meaning::Base(_)))
}

/// `k` where the exponent is the negative constant `-k`.
fn negative_constant(e: &Combo) -> Option<Rational> {
    as_constant(e).filter(|r| r.is_negative()).map(|r| r.neg())
}

/// A constant exponent of at least one, as its whole part (small enough
/// to multiply out) and the fraction left (`3/2` is `1` and `1/2`): a
/// base to a fractional power is positive where it is defined, so its
/// powers' exponents add.
fn whole_part(e: &Combo) -> Option<(i64, Rational)> {
    let r = as_constant(e)?;
    (1..=MAX_POWER).rev().find_map(|k| {
        let left = r.sub(&Rational::int(k))?;
        (!left.is_negative() && left < Rational::one()).then_some((k, left))
    })
}

/// `x` with the bases it holds to positive integer powers multiplied out,
/// and whether any was.
fn expanded(x: &Combo, shape: Option<&Shape>) -> Option<(Combo, bool)> {
    let mut out = Combo::new();
    let mut changed = false;
    for (p, c) in x {
        let term = expand_term(p, c, shape)?;
        changed |= term.is_some();
        match term {
            Some(t) => add_into(&mut out, &t, &Rational::one())?,
            None => add_product(&mut out, p.clone(), c)?,
        }
        if out.len() > MAX_TERMS {
            return None;
        }
    }
    Some((out, changed))
}

/// One term with its first base to a positive power multiplied out, or
/// `None` where it has none.
fn expand_term(p: &Product, c: &Rational, shape: Option<&Shape>) -> Option<Option<Combo>> {
    for (b, e) in &p.scalars {
        let (Some(Meaning::Base(sum)), Some((k, left))) = (meaning(b), whole_part(e)) else {
            continue;
        };
        if too_many(&sum, k) {
            return None;
        }
        let mut rest = p.clone();
        if left.is_zero() {
            rest.scalars.remove(b);
        } else {
            rest.scalars.insert(b.clone(), constant(left));
        }
        let mut term = single(rest, c.clone());
        for _ in 0..k {
            term = multiply(&term, &sum)?;
        }
        return Some(Some(term));
    }
    let groups = hadamard_factors(&p.matrices);
    for (g, e) in &groups {
        let [Factor::Atom(b)] = g.as_slice() else {
            continue;
        };
        let (Some(Meaning::Base(sum)), Some((k, left))) = (meaning(b), whole_part(e)) else {
            continue;
        };
        let mut others: BTreeMap<Vec<Factor>, Combo> =
            groups.iter().filter(|(h, _)| h != g).cloned().collect();
        if !left.is_zero() {
            others.insert(g.clone(), constant(left));
        }
        let rest = Product {
            scalars: p.scalars.clone(),
            matrices: if others.is_empty() {
                Vec::new()
            } else {
                had_chain(others)
            },
        };
        if too_many(&sum, k) {
            return None;
        }
        let mut term = single(rest, c.clone());
        for _ in 0..k {
            term = hadamard(&term, &sum, shape)?;
        }
        return Some(Some(term));
    }
    Some(None)
}

/// Whether a sum raised to the power `k` could have more terms than the
/// clearing allows (multiplied out, it has up to its terms to the `k`).
fn too_many(sum: &Combo, k: i64) -> bool {
    u32::try_from(k)
        .ok()
        .and_then(|k| sum.len().checked_pow(k))
        .is_none_or(|n| n > MAX_TERMS)
}
