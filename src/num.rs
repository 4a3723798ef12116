//! Exact rational constants. Every constant in a script and in a derived
//! result is one of these; nothing here ever rounds.
//!
//! Almost every constant a derivation meets is small (`0`, `1`, `-1`, `2`,
//! `1/2`), and nodes holding constants are cloned, hashed and compared all
//! the time inside the e-graph, so a value that fits two machine words is
//! kept in them, with no allocation; only larger values are big rationals.
//! Each value has exactly one representation, so equality and hashing need
//! no arithmetic.

use num_bigint::BigInt;
use num_integer::Integer;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The largest number of bits a constant may have (numerator or
/// denominator); larger results of constant arithmetic are left unfolded.
pub const MAX_BITS: u64 = 4096;

/// An exact rational number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rational(Repr);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// `n / d` in lowest terms, `d > 0`.
    Small(i64, i64),
    /// A value whose numerator or denominator does not fit an `i64`.
    Big(Box<BigRational>),
}

impl Rational {
    /// The integer `n`.
    pub fn int(n: i64) -> Rational {
        Rational(Repr::Small(n, 1))
    }

    /// The integer `n`, however wide.
    pub fn int128(n: i128) -> Rational {
        Rational::from_i128(n, 1)
            .unwrap_or_else(|| Rational::from_big(BigRational::from_integer(n.into())))
    }

    /// `n / d`; `d` must not be zero.
    pub fn frac(n: i64, d: i64) -> Rational {
        Rational::from_i128(i128::from(n), i128::from(d))
            .unwrap_or_else(|| Rational::from_big(BigRational::new(n.into(), d.into())))
    }

    /// `n / d` reduced, if it fits the small form (`None` for `d = 0`, or
    /// where it does not fit).
    fn from_i128(n: i128, d: i128) -> Option<Rational> {
        if d == 0 {
            return None;
        }
        let g = n.gcd(&d);
        let (mut n, mut d) = (n / g, d / g);
        if d < 0 {
            (n, d) = (n.checked_neg()?, d.checked_neg()?);
        }
        Some(Rational(Repr::Small(
            i64::try_from(n).ok()?,
            i64::try_from(d).ok()?,
        )))
    }

    /// The one representation of a big rational's value.
    fn from_big(r: BigRational) -> Rational {
        match (r.numer().to_i64(), r.denom().to_i64()) {
            (Some(n), Some(d)) => Rational(Repr::Small(n, d)),
            _ => Rational(Repr::Big(Box::new(r))),
        }
    }

    /// The value as a big rational.
    fn big(&self) -> BigRational {
        match &self.0 {
            Repr::Small(n, d) => BigRational::new_raw(BigInt::from(*n), BigInt::from(*d)),
            Repr::Big(r) => (**r).clone(),
        }
    }

    /// Zero.
    pub fn zero() -> Rational {
        Rational::int(0)
    }

    /// One.
    pub fn one() -> Rational {
        Rational::int(1)
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        matches!(self.0, Repr::Small(0, _))
    }

    /// Whether this is one.
    pub fn is_one(&self) -> bool {
        matches!(self.0, Repr::Small(1, 1))
    }

    /// Whether this is below zero.
    pub fn is_negative(&self) -> bool {
        match &self.0 {
            Repr::Small(n, _) => *n < 0,
            Repr::Big(r) => r.is_negative(),
        }
    }

    /// Whether this is an integer.
    pub fn is_integer(&self) -> bool {
        match &self.0 {
            Repr::Small(_, d) => *d == 1,
            Repr::Big(r) => r.is_integer(),
        }
    }

    /// The absolute value.
    pub fn abs(&self) -> Rational {
        if self.is_negative() {
            self.neg()
        } else {
            self.clone()
        }
    }

    /// The numerator (sign included) and the denominator.
    pub fn parts(&self) -> (BigInt, BigInt) {
        match &self.0 {
            Repr::Small(n, d) => (BigInt::from(*n), BigInt::from(*d)),
            Repr::Big(r) => (r.numer().clone(), r.denom().clone()),
        }
    }

    /// The value as a float, for numeric checks only.
    pub fn to_f64(&self) -> f64 {
        match &self.0 {
            Repr::Small(n, 1) => *n as f64,
            Repr::Small(n, d) => BigRational::new_raw(BigInt::from(*n), BigInt::from(*d))
                .to_f64()
                .unwrap_or(f64::NAN),
            Repr::Big(r) => r.to_f64().unwrap_or(f64::NAN),
        }
    }

    /// The value as an `i64`, if it is a small integer.
    pub fn to_i64(&self) -> Option<i64> {
        match &self.0 {
            Repr::Small(n, 1) => Some(*n),
            _ => None,
        }
    }

    fn bounded(r: BigRational) -> Option<Rational> {
        (r.numer().bits() <= MAX_BITS && r.denom().bits() <= MAX_BITS)
            .then(|| Rational::from_big(r))
    }

    /// The two values in the small form, widened.
    fn small_pair(&self, other: &Rational) -> Option<(i128, i128, i128, i128)> {
        match (&self.0, &other.0) {
            (Repr::Small(a, b), Repr::Small(c, d)) => Some((
                i128::from(*a),
                i128::from(*b),
                i128::from(*c),
                i128::from(*d),
            )),
            _ => None,
        }
    }

    /// `self + other`, if the result stays within [`MAX_BITS`].
    pub fn add(&self, other: &Rational) -> Option<Rational> {
        if let Some((a, b, c, d)) = self.small_pair(other) {
            // |a d|, |c b| < 2^126: the sum cannot overflow.
            if let Some(r) = Rational::from_i128(a * d + c * b, b * d) {
                return Some(r);
            }
        }
        Self::bounded(self.big() + other.big())
    }

    /// `self - other`, if the result stays within [`MAX_BITS`].
    pub fn sub(&self, other: &Rational) -> Option<Rational> {
        self.add(&other.neg())
    }

    /// `self * other`, if the result stays within [`MAX_BITS`].
    pub fn mul(&self, other: &Rational) -> Option<Rational> {
        if let Some((a, b, c, d)) = self.small_pair(other) {
            if let Some(r) = Rational::from_i128(a * c, b * d) {
                return Some(r);
            }
        }
        Self::bounded(self.big() * other.big())
    }

    /// `self / other`; `None` for a zero divisor or an oversized result.
    pub fn div(&self, other: &Rational) -> Option<Rational> {
        if other.is_zero() {
            return None;
        }
        if let Some((a, b, c, d)) = self.small_pair(other) {
            if let Some(r) = Rational::from_i128(a * d, b * c) {
                return Some(r);
            }
        }
        Self::bounded(self.big() / other.big())
    }

    /// `-self`.
    pub fn neg(&self) -> Rational {
        if let Repr::Small(n, d) = self.0 {
            if let Some(m) = n.checked_neg() {
                return Rational(Repr::Small(m, d));
            }
        }
        Rational::from_big(-self.big())
    }

    /// `self ^ e` for an integer `e`, if the result stays within
    /// [`MAX_BITS`] (checked before computing, so huge exponents are cheap
    /// to refuse); `None` for `0 ^ negative`.
    pub fn pow(&self, e: &Rational) -> Option<Rational> {
        let e = e.to_i64()?;
        if self.is_zero() {
            return match e.signum() {
                1 => Some(Rational::zero()),
                0 => Some(Rational::one()),
                _ => None,
            };
        }
        let (n, d) = self.parts();
        let bits = n.bits().max(d.bits()).max(1);
        if e.unsigned_abs().saturating_mul(bits) > MAX_BITS + 64 {
            return None;
        }
        let e32 = i32::try_from(e).ok()?;
        Self::bounded(self.big().pow(e32))
    }
}

impl Ord for Rational {
    /// Numeric order.
    fn cmp(&self, other: &Rational) -> Ordering {
        match self.small_pair(other) {
            Some((a, b, c, d)) => (a * d).cmp(&(c * b)),
            None => self.big().cmp(&other.big()),
        }
    }
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Rational) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl From<i64> for Rational {
    fn from(n: i64) -> Rational {
        Rational::int(n)
    }
}

/// Why a constant could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNumber;

impl fmt::Display for BadNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an exact number")
    }
}

impl FromStr for Rational {
    type Err = BadNumber;

    /// Reads `12`, `-3`, `0.25` or `3/4`.
    fn from_str(s: &str) -> Result<Rational, BadNumber> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let value = if let Some((n, d)) = body.split_once('/') {
            if !digits(n) || !digits(d) {
                return Err(BadNumber);
            }
            let d: BigInt = d.parse().map_err(|_| BadNumber)?;
            if d.is_zero() {
                return Err(BadNumber);
            }
            BigRational::new(n.parse().map_err(|_| BadNumber)?, d)
        } else if let Some((i, f)) = body.split_once('.') {
            if !digits(i) || !digits(f) {
                return Err(BadNumber);
            }
            let scale = BigInt::from(10u32).pow(u32::try_from(f.len()).map_err(|_| BadNumber)?);
            let whole: BigInt = format!("{i}{f}").parse().map_err(|_| BadNumber)?;
            BigRational::new(whole, scale)
        } else {
            if !digits(body) {
                return Err(BadNumber);
            }
            BigRational::from_integer(body.parse().map_err(|_| BadNumber)?)
        };
        Ok(Rational::from_big(if neg { -value } else { value }))
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Small(n, 1) => write!(f, "{n}"),
            Repr::Small(n, d) => write!(f, "{n}/{d}"),
            Repr::Big(r) if r.is_integer() => write!(f, "{}", r.numer()),
            Repr::Big(r) => write!(f, "{}/{}", r.numer(), r.denom()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_and_prints_exactly() {
        for (text, shown) in [
            ("0.5", "1/2"),
            ("3", "3"),
            ("-2/4", "-1/2"),
            ("1.25", "5/4"),
        ] {
            assert_eq!(
                text.parse::<Rational>().map(|r| r.to_string()),
                Ok(shown.into())
            );
        }
        assert!("1/0".parse::<Rational>().is_err());
        assert!("x".parse::<Rational>().is_err());
        assert!("".parse::<Rational>().is_err());
    }

    /// The same operation on big rationals, bounded like [`Rational`].
    fn reference(op: u8, x: &BigRational, y: &BigRational) -> Option<BigRational> {
        let r = match op {
            0 => x + y,
            1 => x - y,
            2 => x * y,
            _ if y.is_zero() => return None,
            _ => x / y,
        };
        (r.numer().bits() <= MAX_BITS && r.denom().bits() <= MAX_BITS).then_some(r)
    }

    /// Values at the edges of the small form, where its arithmetic must
    /// hand over to big rationals.
    fn edge() -> impl Strategy<Value = i64> {
        prop_oneof![
            -4i64..=4,
            Just(i64::MAX),
            Just(i64::MIN),
            Just(i64::MIN + 1),
            Just(1i64 << 62),
            Just(-(1i64 << 62)),
            Just(3_037_000_499),
            any::<i64>(),
        ]
    }

    proptest! {
        // A fixed seed, as in the integration tests; `PROPTEST_RNG_SEED`
        // explores further.
        #![proptest_config({
            let mut c = ProptestConfig::with_cases(2000);
            if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
                c.rng_seed = proptest::test_runner::RngSeed::Fixed(0x0de1_7a11);
            }
            c
        })]

        /// Arithmetic, order, equality and printing agree with big
        /// rationals, in the small form and across its edges.
        #[test]
        fn agrees_with_big_rationals(
            a in edge(), b in edge().prop_filter("nonzero", |d| *d != 0),
            c in edge(), d in edge().prop_filter("nonzero", |d| *d != 0),
            scale in 0u32..3,
        ) {
            let big = |n: i64, d: i64| {
                BigRational::new(BigInt::from(n) * BigInt::from(10).pow(scale * 20), BigInt::from(d))
            };
            let (x, y) = (big(a, b), big(c, d));
            let (p, q) = (Rational::from_big(x.clone()), Rational::from_big(y.clone()));
            for op in 0..4u8 {
                let got = match op {
                    0 => p.add(&q),
                    1 => p.sub(&q),
                    2 => p.mul(&q),
                    _ => p.div(&q),
                };
                let want = reference(op, &x, &y).map(Rational::from_big);
                prop_assert_eq!(&got, &want);
                if let Some(g) = got {
                    prop_assert_eq!(g.big(), reference(op, &x, &y).unwrap_or_default());
                }
            }
            prop_assert_eq!(p.cmp(&q), x.cmp(&y));
            prop_assert_eq!(p == q, x == y);
            prop_assert_eq!(p.neg().big(), -x.clone());
            prop_assert_eq!(p.is_negative(), x.is_negative());
            prop_assert_eq!(p.is_integer(), x.is_integer());
            let shown = if x.is_integer() { x.numer().to_string() } else { format!("{}/{}", x.numer(), x.denom()) };
            prop_assert_eq!(p.to_string(), shown.clone());
            prop_assert_eq!(shown.parse::<Rational>(), Ok(p.clone()));
        }
    }

    #[test]
    fn one_representation_per_value() {
        let wide = Rational::int(i64::MAX).add(&Rational::one());
        assert_eq!(
            wide.as_ref().map(|w| matches!(w.0, Repr::Big(_))),
            Some(true)
        );
        assert_eq!(
            wide.and_then(|w| w.sub(&Rational::one())),
            Some(Rational::int(i64::MAX))
        );
        assert_eq!(Rational::frac(2, -4), Rational::frac(-1, 2));
        assert_eq!(Rational::int(i64::MIN).neg().neg(), Rational::int(i64::MIN));
        assert_eq!(
            Rational::int128(i128::from(i64::MAX) + 1).to_string(),
            "9223372036854775808"
        );
        assert!(Rational::frac(0, -5).is_zero());
    }

    #[test]
    fn refuses_oversized_powers() {
        let two = Rational::int(2);
        assert_eq!(two.pow(&Rational::int(10)), Some(Rational::int(1024)));
        assert_eq!(two.pow(&Rational::int(1_000_000_000)), None);
        assert_eq!(Rational::zero().pow(&Rational::int(-1)), None);
        assert_eq!(two.pow(&Rational::int(-1)), Some(Rational::frac(1, 2)));
    }
}
