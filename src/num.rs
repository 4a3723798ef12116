//! Exact rational constants. Every constant in a script and in a derived
//! result is one of these; nothing here ever rounds.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};
use std::fmt;
use std::str::FromStr;

/// The largest number of bits a constant may have (numerator or
/// denominator); larger results of constant arithmetic are left unfolded.
pub const MAX_BITS: u64 = 4096;

/// An exact rational number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rational(pub BigRational);

impl Rational {
    /// The integer `n`.
    pub fn int(n: i64) -> Rational {
        Rational(BigRational::from_integer(BigInt::from(n)))
    }

    /// `n / d`; `d` must not be zero.
    pub fn frac(n: i64, d: i64) -> Rational {
        Rational(BigRational::new(BigInt::from(n), BigInt::from(d)))
    }

    /// Zero.
    pub fn zero() -> Rational {
        Rational(BigRational::zero())
    }

    /// One.
    pub fn one() -> Rational {
        Rational(BigRational::one())
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Whether this is one.
    pub fn is_one(&self) -> bool {
        self.0.is_one()
    }

    /// Whether this is below zero.
    pub fn is_negative(&self) -> bool {
        self.0.is_negative()
    }

    /// Whether this is an integer.
    pub fn is_integer(&self) -> bool {
        self.0.is_integer()
    }

    /// The absolute value.
    pub fn abs(&self) -> Rational {
        Rational(self.0.abs())
    }

    /// The numerator (sign included) and the denominator.
    pub fn parts(&self) -> (&BigInt, &BigInt) {
        (self.0.numer(), self.0.denom())
    }

    /// The value as a float, for numeric checks only.
    pub fn to_f64(&self) -> f64 {
        self.0.to_f64().unwrap_or(f64::NAN)
    }

    /// The value as an `i64`, if it is a small integer.
    pub fn to_i64(&self) -> Option<i64> {
        if self.0.is_integer() {
            self.0.numer().to_i64()
        } else {
            None
        }
    }

    fn bounded(r: BigRational) -> Option<Rational> {
        (r.numer().bits() <= MAX_BITS && r.denom().bits() <= MAX_BITS).then_some(Rational(r))
    }

    /// `self + other`, if the result stays within [`MAX_BITS`].
    pub fn add(&self, other: &Rational) -> Option<Rational> {
        Self::bounded(&self.0 + &other.0)
    }

    /// `self - other`, if the result stays within [`MAX_BITS`].
    pub fn sub(&self, other: &Rational) -> Option<Rational> {
        Self::bounded(&self.0 - &other.0)
    }

    /// `self * other`, if the result stays within [`MAX_BITS`].
    pub fn mul(&self, other: &Rational) -> Option<Rational> {
        Self::bounded(&self.0 * &other.0)
    }

    /// `self / other`; `None` for a zero divisor or an oversized result.
    pub fn div(&self, other: &Rational) -> Option<Rational> {
        if other.is_zero() {
            None
        } else {
            Self::bounded(&self.0 / &other.0)
        }
    }

    /// `-self`.
    pub fn neg(&self) -> Rational {
        Rational(-&self.0)
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
        let bits = self.0.numer().bits().max(self.0.denom().bits()).max(1);
        if e.unsigned_abs().saturating_mul(bits) > MAX_BITS + 64 {
            return None;
        }
        let e32 = i32::try_from(e).ok()?;
        Self::bounded(self.0.pow(e32))
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
        Ok(Rational(if neg { -value } else { value }))
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_integer() {
            write!(f, "{}", self.0.numer())
        } else {
            write!(f, "{}/{}", self.0.numer(), self.0.denom())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn refuses_oversized_powers() {
        let two = Rational::int(2);
        assert_eq!(two.pow(&Rational::int(10)), Some(Rational::int(1024)));
        assert_eq!(two.pow(&Rational::int(1_000_000_000)), None);
        assert_eq!(Rational::zero().pow(&Rational::int(-1)), None);
        assert_eq!(two.pow(&Rational::int(-1)), Some(Rational::frac(1, 2)));
    }
}
