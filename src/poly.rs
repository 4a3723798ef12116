//! Polynomials in the script's dims with exact rational coefficients: sizes
//! of shapes, parameter and MAC counts, depths, exponents such as `beta^D`.
//! One canonical form, so equal polynomials compare equal and print alike.

use crate::num::Rational;
use std::collections::BTreeMap;
use std::fmt;

/// A product of dims with positive exponents, sorted by dim number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Monomial(pub Vec<(u32, u32)>);

impl Monomial {
    /// The total degree.
    pub fn degree(&self) -> u64 {
        self.0.iter().map(|&(_, e)| u64::from(e)).sum()
    }

    fn mul(&self, other: &Monomial) -> Option<Monomial> {
        let mut out: BTreeMap<u32, u32> = self.0.iter().copied().collect();
        for &(d, e) in &other.0 {
            let slot = out.entry(d).or_insert(0);
            *slot = slot.checked_add(e)?;
        }
        Some(Monomial(out.into_iter().collect()))
    }

    /// The exponent of dim `d`.
    pub fn exponent(&self, d: u32) -> u32 {
        self.0.iter().find(|&&(x, _)| x == d).map_or(0, |&(_, e)| e)
    }
}

/// The largest total degree a polynomial may reach.
pub const MAX_DEGREE: u64 = 64;
/// The most terms a polynomial may have.
pub const MAX_TERMS: usize = 512;

/// A polynomial in dims: monomial to nonzero coefficient.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Poly(pub BTreeMap<Monomial, Rational>);

impl Poly {
    /// The zero polynomial.
    pub fn zero() -> Poly {
        Poly::default()
    }

    /// A constant.
    pub fn constant(c: Rational) -> Poly {
        let mut p = Poly::zero();
        if !c.is_zero() {
            p.0.insert(Monomial::default(), c);
        }
        p
    }

    /// The integer `n`.
    pub fn int(n: i64) -> Poly {
        Poly::constant(Rational::int(n))
    }

    /// The dim `d`.
    pub fn dim(d: u32) -> Poly {
        let mut p = Poly::zero();
        p.0.insert(Monomial(vec![(d, 1)]), Rational::one());
        p
    }

    /// Whether this is the zero polynomial.
    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// The value, if this is a constant.
    pub fn as_constant(&self) -> Option<Rational> {
        match self.0.len() {
            0 => Some(Rational::zero()),
            1 => self.0.get(&Monomial::default()).cloned(),
            _ => None,
        }
    }

    /// `text`, this polynomial as written, in parentheses where it has
    /// several terms, for a place beside `x` or a product: `H x (D + H)`.
    pub fn grouped(&self, text: String) -> String {
        if self.0.len() > 1 {
            format!("({text})")
        } else {
            text
        }
    }

    /// Whether this is the constant one.
    pub fn is_one(&self) -> bool {
        self.as_constant().is_some_and(|c| c.is_one())
    }

    fn bounded(self) -> Option<Poly> {
        let ok = self.0.len() <= MAX_TERMS && self.0.keys().all(|m| m.degree() <= MAX_DEGREE);
        ok.then_some(self)
    }

    /// `self + other`; `None` if a coefficient or the size grows past the limits.
    pub fn add(&self, other: &Poly) -> Option<Poly> {
        let mut out = self.0.clone();
        for (m, c) in &other.0 {
            let sum = match out.get(m) {
                Some(a) => a.add(c)?,
                None => c.clone(),
            };
            if sum.is_zero() {
                out.remove(m);
            } else {
                out.insert(m.clone(), sum);
            }
        }
        Poly(out).bounded()
    }

    /// `-self`.
    pub fn neg(&self) -> Poly {
        Poly(self.0.iter().map(|(m, c)| (m.clone(), c.neg())).collect())
    }

    /// `self - other`.
    pub fn sub(&self, other: &Poly) -> Option<Poly> {
        self.add(&other.neg())
    }

    /// `self * other`.
    pub fn mul(&self, other: &Poly) -> Option<Poly> {
        if self.0.len().saturating_mul(other.0.len()) > MAX_TERMS * 4 {
            return None;
        }
        let mut out = Poly::zero();
        for (m1, c1) in &self.0 {
            for (m2, c2) in &other.0 {
                let mut term = Poly::zero();
                let c = c1.mul(c2)?;
                if !c.is_zero() {
                    term.0.insert(m1.mul(m2)?, c);
                }
                out = out.add(&term)?;
            }
        }
        Some(out)
    }

    /// `self ^ n` for a small natural `n`.
    pub fn pow(&self, n: u32) -> Option<Poly> {
        if let Some(c) = self.as_constant() {
            return c.pow(&Rational::int(i64::from(n))).map(Poly::constant);
        }
        if u64::from(n).saturating_mul(self.degree()) > MAX_DEGREE {
            return None;
        }
        let mut out = Poly::int(1);
        for _ in 0..n {
            out = out.mul(self)?;
        }
        Some(out)
    }

    /// `self / c` for a nonzero constant `c`.
    pub fn div_const(&self, c: &Rational) -> Option<Poly> {
        let mut out = Poly::zero();
        for (m, a) in &self.0 {
            out.0.insert(m.clone(), a.div(c)?);
        }
        Some(out)
    }

    /// The total degree (0 for constants and zero).
    pub fn degree(&self) -> u64 {
        self.0.keys().map(Monomial::degree).max().unwrap_or(0)
    }

    /// The value with each dim set to a number.
    pub fn eval(&self, dims: &dyn Fn(u32) -> f64) -> f64 {
        self.0
            .iter()
            .map(|(m, c)| {
                c.to_f64()
                    * m.0
                        .iter()
                        .map(|&(d, e)| dims(d).powi(i32::try_from(e).unwrap_or(i32::MAX)))
                        .product::<f64>()
            })
            .sum()
    }

    /// The exact value with each dim set to an integer, if it fits.
    pub fn eval_exact(&self, dims: &dyn Fn(u32) -> i64) -> Option<Rational> {
        if let Some(v) = self.eval_small(dims) {
            return Some(Rational::int128(v));
        }
        let mut total = Rational::zero();
        for (m, c) in &self.0 {
            let mut term = c.clone();
            for &(d, e) in &m.0 {
                term = term.mul(&Rational::int(dims(d)).pow(&Rational::int(i64::from(e)))?)?;
            }
            total = total.add(&term)?;
        }
        Some(total)
    }

    /// The value in machine integers, when every coefficient is an integer
    /// and nothing overflows: the common case of [`Poly::eval_exact`], which
    /// it agrees with (any value that fits here is far inside the exact
    /// arithmetic's bounds).
    fn eval_small(&self, dims: &dyn Fn(u32) -> i64) -> Option<i128> {
        let mut total: i128 = 0;
        for (m, c) in &self.0 {
            let mut term = i128::from(c.to_i64()?);
            for &(d, e) in &m.0 {
                term = term.checked_mul(i128::from(dims(d)).checked_pow(e)?)?;
            }
            total = total.checked_add(term)?;
        }
        Some(total)
    }

    /// The same polynomial with every dim `d` replaced by `d + 1`. Dims are
    /// at least 1, so a polynomial whose shifted form has no negative
    /// coefficient is at least its shifted constant for every value of the
    /// dims (a sufficient test, used to prove sizes and ranges nonempty).
    pub fn shift_dims(&self) -> Option<Poly> {
        let mut out = Poly::zero();
        for (m, c) in &self.0 {
            let mut term = Poly::constant(c.clone());
            for &(d, e) in &m.0 {
                term = term.mul(&Poly::dim(d).add(&Poly::int(1))?.pow(e)?)?;
            }
            out = out.add(&term)?;
        }
        Some(out)
    }

    /// Whether the value is at least 0 for every value of the dims (at
    /// least 1 each), by [`Poly::shift_dims`]; `false` when unsure.
    pub fn never_negative(&self) -> bool {
        self.shift_dims()
            .is_some_and(|p| p.0.values().all(|c| !c.is_negative()))
    }

    /// Terms in the canonical printing order: higher degree first, then
    /// by exponents in dim order (so `D*H` before `H^2`), constant last.
    pub fn terms(&self) -> Vec<(&Monomial, &Rational)> {
        let mut terms: Vec<_> = self.0.iter().collect();
        terms.sort_by(|(a, _), (b, _)| {
            b.degree().cmp(&a.degree()).then_with(|| {
                let dims: std::collections::BTreeSet<u32> =
                    a.0.iter().chain(b.0.iter()).map(|&(d, _)| d).collect();
                for d in dims {
                    let o = b.exponent(d).cmp(&a.exponent(d));
                    if o.is_ne() {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            })
        });
        terms
    }

    /// Prints with the given dim names, in the language's syntax:
    /// `D*H + 2*H^2`, `2*G - 1`, `1/2*D`.
    pub fn display<'a>(&'a self, names: &'a dyn Fn(u32) -> String) -> impl fmt::Display + 'a {
        PolyDisplay { poly: self, names }
    }
}

struct PolyDisplay<'a> {
    poly: &'a Poly,
    names: &'a dyn Fn(u32) -> String,
}

impl fmt::Display for PolyDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let terms = self.poly.terms();
        if terms.is_empty() {
            return f.write_str("0");
        }
        for (i, (m, c)) in terms.into_iter().enumerate() {
            let (neg, mag) = (c.is_negative(), c.abs());
            match (i, neg) {
                (0, true) => f.write_str("-")?,
                (0, false) => {}
                (_, true) => f.write_str(" - ")?,
                (_, false) => f.write_str(" + ")?,
            }
            let factors: Vec<String> =
                m.0.iter()
                    .map(|&(d, e)| {
                        if e == 1 {
                            (self.names)(d)
                        } else {
                            format!("{}^{e}", (self.names)(d))
                        }
                    })
                    .collect();
            if factors.is_empty() {
                write!(f, "{mag}")?;
            } else if mag.is_one() {
                f.write_str(&factors.join("*"))?;
            } else {
                write!(f, "{mag}*{}", factors.join("*"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(d: u32) -> String {
        ["D", "H", "G"][d as usize].to_owned()
    }

    /// The exact evaluation, term by term in rationals, with no fast path.
    fn eval_slow(p: &Poly, dims: &dyn Fn(u32) -> i64) -> Option<Rational> {
        let mut total = Rational::zero();
        for (m, c) in &p.0 {
            let mut term = c.clone();
            for &(d, e) in &m.0 {
                term = term.mul(&Rational::int(dims(d)).pow(&Rational::int(i64::from(e)))?)?;
            }
            total = total.add(&term)?;
        }
        Some(total)
    }

    #[test]
    fn machine_integer_evaluation_agrees_with_exact() {
        let (d, h) = (Poly::dim(0), Poly::dim(1));
        let half = Poly::constant(Rational::frac(1, 2));
        let big = Poly::constant(Rational::int(i64::MAX));
        let cases = [
            d.mul(&h).and_then(|x| x.sub(&Poly::int(7))),
            d.pow(40).and_then(|x| x.mul(&h.pow(3)?)),
            d.pow(3).and_then(|x| x.mul(&half)),
            big.mul(&big).and_then(|x| x.mul(&big)),
            d.pow(2).and_then(|x| x.mul(&big)?.add(&h)),
        ];
        for p in cases.iter().flatten() {
            for (a, b) in [(1, 1), (2, 3), (9, 2), (1000, 17), (-3, 5)] {
                let at = |k: u32| if k == 0 { a } else { b };
                assert_eq!(p.eval_exact(&at), eval_slow(p, &at), "{p:?} at {a}, {b}");
            }
        }
    }

    #[test]
    fn canonical_order_and_signs() {
        let (d, h) = (Poly::dim(0), Poly::dim(1));
        let p = h
            .pow(2)
            .and_then(|h2| h2.mul(&Poly::int(2)))
            .and_then(|x| x.add(&d.mul(&h)?));
        let p = p.unwrap_or_default();
        assert_eq!(p.display(&names).to_string(), "D*H + 2*H^2");
        let q = Poly::dim(2)
            .mul(&Poly::int(2))
            .and_then(|x| x.sub(&Poly::int(1)));
        assert_eq!(q.unwrap_or_default().display(&names).to_string(), "2*G - 1");
        assert_eq!(Poly::zero().display(&names).to_string(), "0");
    }

    #[test]
    fn shifting_dims_decides_signs() {
        let g = Poly::dim(2);
        let minus = |p: &Poly, n: i64| p.sub(&Poly::int(n)).unwrap_or_default();
        // G - 1 >= 0 for G >= 1; G - 2 is -1 at G = 1; G^2 - G >= 0.
        assert!(minus(&g, 1).never_negative());
        assert!(!minus(&g, 2).never_negative());
        let sq = g.pow(2).and_then(|x| x.sub(&g)).unwrap_or_default();
        assert!(sq.never_negative());
        assert_eq!(
            minus(&g, 1)
                .shift_dims()
                .map(|p| p.display(&names).to_string()),
            Some("G".to_owned())
        );
    }

    #[test]
    fn equal_polynomials_compare_equal() {
        let (d, h) = (Poly::dim(0), Poly::dim(1));
        assert_eq!(d.mul(&h), h.mul(&d));
        assert_eq!(d.add(&h).and_then(|x| x.sub(&h)), Some(d));
    }
}
