//! Deciding a depth: the exact answer as a polynomial in the dims, or the
//! reason there is none deriv can stand behind.
//!
//! The longest path is enumerated at small sizes; a depth grows at most
//! linearly with the dims (a schedule bounds it), so if it is a polynomial
//! at all it is affine, and the smallest sizes fix it. That candidate is
//! then proved for every size: a schedule bounds the depth by it from above
//! (`schedule`) and an induction on the dims builds paths as long from below
//! (`proof`). Sizes below the induction's start are finitely many when one
//! dim sets every range, and are checked one by one. Where no one schedule
//! serves every variable, each strongly connected part gets its own
//! (`parts`). Anything else is refused.

use super::explicit::{self, Cycle, Failure};
use super::proof;
use super::schedule::{self, Schedule};
use super::system::{Affine, System};

/// What is known about a depth.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Proven for every size: `base + sum(slopes[d] * (dim d - 1))`, with
    /// the one schedule that bounds it from above, where one does.
    Exact(Affine, Option<Schedule>),
    /// The values cannot be ordered; the cycle is at the given sizes.
    Cycle(Cycle, Vec<i64>),
    /// No polynomial gives the depth: the sizes and depths listed fix the
    /// only candidate, and the last one contradicts it.
    NotPolynomial(Vec<(Vec<i64>, i64)>),
    /// The depth could not be decided; the reason, in words.
    Unproven(String),
    /// Every size enumerated (each dim up to the number given) has the
    /// depth of this affine form, but no schedule proves it for every size.
    Unconfirmed(Affine, i64),
}

/// Sizes tried along each dim: enough to fix an affine candidate and see
/// it fail, within [`MAX_SAMPLES`] sizes in all.
fn sample_limit(dims: usize) -> Option<i64> {
    if dims <= 1 {
        return Some(8);
    }
    (1..=5)
        .rev()
        .find(|&m| (m as f64 + 1.0).powi(dims as i32) <= MAX_SAMPLES as f64)
}

/// The most sizes enumerated for one depth.
const MAX_SAMPLES: usize = 4096;
/// The most values enumerated over all sizes, beyond the sizes the proof
/// needs (those are always enumerated).
const MAX_WORK: usize = 2_000_000;

/// Every `y` with entries in `0..=m`, smallest total first.
fn grid(dims: usize, m: i64) -> Vec<Vec<i64>> {
    let mut out: Vec<Vec<i64>> = vec![Vec::new()];
    for _ in 0..dims {
        out = out
            .into_iter()
            .flat_map(|y| {
                (0..=m).map(move |v| {
                    let mut z = y.clone();
                    z.push(v);
                    z
                })
            })
            .collect();
    }
    out.sort_by_key(|y| (y.iter().sum::<i64>(), y.clone()));
    out
}

/// The number of values at extents `e`, if it fits.
fn work(sys: &System, e: &[i64]) -> Option<usize> {
    e.iter().try_fold(sys.vars.len(), |acc, &x| {
        acc.checked_mul(usize::try_from(x.checked_add(1)?).ok()?)
    })
}

fn unit(d: usize, base: &[i64]) -> Vec<i64> {
    let mut y = base.to_vec();
    y[d] += 1;
    y
}

/// Decides the depth of the system's target.
pub fn solve(sys: &System) -> Verdict {
    let nd = sys.dims.len();
    let Some(m) = sample_limit(nd) else {
        return Verdict::Unproven(format!(
            "the ranges grow with {nd} dims, more than deriv enumerates"
        ));
    };
    let depth_at = |y: &[i64]| -> Result<Option<i64>, Verdict> {
        let Some(e) = sys.extents_at(y) else {
            return Ok(None);
        };
        match explicit::longest(sys, &e, None) {
            Ok(n) => Ok(Some(n)),
            Err(Failure::Cycle(c)) => Err(Verdict::Cycle(c, y.to_vec())),
            Err(Failure::TooLarge) => Ok(None),
        }
    };
    let too_long = || Verdict::Unproven("the ranges are too long to enumerate".to_owned());
    if nd == 0 {
        // Every range has a fixed length: the enumeration is the answer.
        return match depth_at(&[]) {
            Ok(Some(n)) => Verdict::Exact(Affine::constant(n, 0), None),
            Ok(None) => too_long(),
            Err(v) => v,
        };
    }
    // The induction starts where the target first computes a value; the
    // depths there and one step along each dim fix the only candidate.
    let start = (0..m).find(|&s| {
        let y = vec![s; nd];
        sys.extents_at(&y)
            .is_some_and(|e| !sys.empty(sys.target, &e))
    });
    let Some(s) = start else {
        return Verdict::Unproven(format!(
            "no value of `{}` is computed at the small sizes deriv checks",
            sys.vars[sys.target]
        ));
    };
    let base = vec![s; nd];
    let mut fixing = vec![base.clone()];
    fixing.extend((0..nd).map(|d| unit(d, &base)));
    let mut known = Vec::new();
    for y in &fixing {
        match depth_at(y) {
            Ok(Some(n)) => known.push(n),
            Ok(None) => return too_long(),
            Err(v) => return v,
        }
    }
    let candidate = Affine {
        base: known[0] - (1..=nd).map(|d| (known[d] - known[0]) * s).sum::<i64>(),
        slopes: (1..=nd).map(|d| known[d] - known[0]).collect(),
    };
    // Every other size, smallest first, within a budget; with one dim the
    // sizes below the base are part of the proof and always checked.
    let mut spent = 0usize;
    for y in grid(nd, m) {
        if fixing.contains(&y) {
            continue;
        }
        let needed = nd == 1 && y[0] < s;
        let cost = sys
            .extents_at(&y)
            .and_then(|e| work(sys, &e))
            .unwrap_or(usize::MAX);
        if !needed && spent.saturating_add(cost) > MAX_WORK {
            continue;
        }
        spent = spent.saturating_add(cost);
        let n = match depth_at(&y) {
            Ok(Some(n)) => n,
            Ok(None) if needed => return too_long(),
            Ok(None) => continue,
            Err(v) => return v,
        };
        if candidate.at(&y) == Some(n) {
            continue;
        }
        // Only a schedule makes the depth provably at most linear, which is
        // what rules out every polynomial but the candidate.
        if schedule::any(sys).is_some() {
            let mut witness: Vec<(Vec<i64>, i64)> = fixing.into_iter().zip(known).collect();
            witness.push((y, n));
            return Verdict::NotPolynomial(witness);
        }
        return Verdict::Unproven(
            "deriv found no schedule that orders the values, nor a cycle among them at the sizes it enumerated".to_owned(),
        );
    }
    if s > 0 && nd > 1 {
        return Verdict::Unproven(format!(
            "no value of `{}` is computed at the smallest sizes, and with several dims deriv cannot check the sizes below its proof one by one",
            sys.vars[sys.target]
        ));
    }
    // With one dim, a later base leaves finitely many sizes below it, all
    // compared with the candidate above; later bases give loops more room.
    let bases: Vec<Vec<i64>> = if nd == 1 {
        (s..m).map(|b| vec![b]).collect()
    } else {
        vec![base.clone()]
    };
    let cap = (known[0].max(1) + 1).min(32);
    let Some(e0) = sys.extents_at(&base) else {
        return Verdict::Unproven("the ranges are too long to enumerate".to_owned());
    };
    for lambda in schedule::rates_for(sys, &candidate, &e0, known[0], cap) {
        let Some(c) = schedule::offsets(sys, &lambda) else {
            continue;
        };
        let sched = Schedule { lambda, c };
        if schedule::bound(sys, &sched).as_ref() != Some(&candidate) {
            continue;
        }
        if bases
            .iter()
            .any(|b| proof::lower_bound_holds(sys, &sched, b))
        {
            return Verdict::Exact(candidate, Some(sched));
        }
    }
    // Parts that run in different directions need a schedule each.
    if super::parts::proves(sys, &candidate) {
        return Verdict::Exact(candidate, None);
    }
    Verdict::Unconfirmed(candidate, m + 1)
}

/// The depth at every size enumerated (each dim minus one up to the
/// sampling limit, smallest first, within the work budget): what a claim
/// is compared with where the depth itself is not derived. Empty where the
/// values cannot be ordered.
pub fn enumerated(sys: &System) -> Vec<(Vec<i64>, i64)> {
    let nd = sys.dims.len();
    let Some(m) = sample_limit(nd) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut spent = 0usize;
    for y in grid(nd, m) {
        let Some(e) = sys.extents_at(&y) else {
            continue;
        };
        let cost = work(sys, &e).unwrap_or(usize::MAX);
        if spent.saturating_add(cost) > MAX_WORK {
            continue;
        }
        spent = spent.saturating_add(cost);
        match explicit::longest(sys, &e, None) {
            Ok(n) => out.push((y, n)),
            Err(Failure::Cycle(_)) => return Vec::new(),
            Err(Failure::TooLarge) => {}
        }
    }
    out
}
