//! Linear schedules: the upper half of a depth proof. A schedule gives the
//! value of variable `v` at position `P` the time `lambda . P + c[v]`; when
//! every dependence gains at least one unit of time, a path of `n` values
//! spans at least `n - 1` units, so the span of times over the boxes bounds
//! the depth from above, for every size at once (the wavefront argument).

use super::system::{Affine, System};

/// Times `lambda . P + c[v]`, integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// One rate per coordinate.
    pub lambda: Vec<i64>,
    /// One offset per variable.
    pub c: Vec<i64>,
}

/// How much time dependence `k` gains under `lambda` and `c`.
pub fn slack(sys: &System, lambda: &[i64], c: &[i64], k: usize) -> i64 {
    let d = &sys.deps[k];
    let moved: i64 = lambda.iter().zip(&d.offset).map(|(l, o)| l * o).sum();
    c[d.to] - c[d.from] - moved
}

/// The smallest offsets `c` (all at least 0) that make every dependence gain
/// a unit under `lambda`, by longest paths; `None` when a cycle of
/// dependences gains nothing, so no offsets exist.
pub fn offsets(sys: &System, lambda: &[i64]) -> Option<Vec<i64>> {
    let n = sys.vars.len();
    let mut c = vec![0i64; n];
    for _round in 0..=n {
        let mut changed = false;
        for (k, d) in sys.deps.iter().enumerate() {
            let s = slack(sys, lambda, &c, k);
            if s < 1 {
                c[d.to] = c[d.to].checked_add(1 - s)?;
                changed = true;
            }
        }
        if !changed {
            return Some(c);
        }
    }
    None
}

/// The bound on the depth that a schedule proves, as an affine function of
/// the dims: one more than the latest time of a target value minus the
/// earliest time of any value.
pub fn bound(sys: &System, s: &Schedule) -> Option<Affine> {
    let nd = sys.dims.len();
    // Over a coordinate's box [a, E - b], lambda * x is largest at one end
    // and smallest at the other.
    let end = |v: usize, k: usize, hi: bool| -> Option<Affine> {
        let l = s.lambda[k];
        let at_top = (l >= 0) == hi;
        if at_top {
            Affine::constant(-l.checked_mul(sys.trim[v][k])?, nd).plus_times(l, &sys.extents[k])
        } else {
            Some(Affine::constant(l.checked_mul(sys.start[v][k])?, nd))
        }
    };
    let time = |v: usize, hi: bool| -> Option<Affine> {
        (0..sys.coords.len()).try_fold(Affine::constant(s.c[v], nd), |acc, k| {
            acc.plus_times(1, &end(v, k, hi)?)
        })
    };
    let latest = time(sys.target, true)?;
    let mut earliest: Option<Affine> = None;
    for v in 0..sys.vars.len() {
        let t = time(v, false)?;
        // Every variable's earliest time moves with the dims alike (only the
        // coordinates with negative rates move it), so constants decide.
        earliest = match earliest {
            Some(e) if e.slopes != t.slopes => return None,
            Some(e) if e.base <= t.base => Some(e),
            _ => Some(t),
        };
    }
    Affine::constant(1, nd)
        .plus_times(1, &latest)?
        .plus_times(-1, &earliest?)
}

/// Every rate vector whose bound grows exactly like `target` with each dim,
/// in a fixed order: the candidates for a schedule proving `target`. A rate
/// is bounded by the growth it adds, and by the depth `at_base` at extents
/// `base`: the target's own values span `rate * (length - 1)` units of time
/// along a coordinate. A coordinate neither bounds goes up to `cap`.
pub fn rates_for(
    sys: &System,
    target: &Affine,
    base: &[i64],
    at_base: i64,
    cap: i64,
) -> Vec<Vec<i64>> {
    let t = sys.target;
    let most: Vec<i64> = sys
        .extents
        .iter()
        .enumerate()
        .map(|(k, e)| {
            let by_growth = e
                .slopes
                .iter()
                .zip(&target.slopes)
                .filter(|(s, _)| **s > 0)
                .map(|(s, g)| g.max(&0) / s)
                .min();
            let span = base[k] - sys.start[t][k] - sys.trim[t][k];
            let by_base = (span > 0).then(|| (at_base - 1).max(0) / span);
            [by_growth, by_base]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(cap)
        })
        .collect();
    let mut search = Search {
        sys,
        target,
        most,
        out: Vec::new(),
        visits: 0,
    };
    let mut lambda = vec![0i64; sys.coords.len()];
    search.enumerate(0, &mut lambda);
    search.out
}

/// The most rate vectors any search looks at.
const MAX_CANDIDATES: usize = 200_000;

struct Search<'a> {
    sys: &'a System,
    target: &'a Affine,
    most: Vec<i64>,
    out: Vec<Vec<i64>>,
    visits: usize,
}

impl Search<'_> {
    /// The growth with dim `d` that rates `lambda[..k]` already add.
    fn growth(&self, lambda: &[i64], k: usize, d: usize) -> i64 {
        self.sys.extents[..k]
            .iter()
            .zip(lambda)
            .map(|(e, l)| l.abs() * e.slopes[d])
            .sum()
    }

    fn enumerate(&mut self, k: usize, lambda: &mut Vec<i64>) {
        self.visits += 1;
        if self.visits > MAX_CANDIDATES {
            return;
        }
        let dims = self.target.slopes.len();
        // Rates only add growth: prune as soon as one dim has too much.
        if (0..dims).any(|d| self.growth(lambda, k, d) > self.target.slopes[d]) {
            return;
        }
        if k == lambda.len() {
            if (0..dims).all(|d| self.growth(lambda, k, d) == self.target.slopes[d]) {
                self.out.push(lambda.clone());
            }
            return;
        }
        for mag in 0..=self.most[k] {
            let signs: &[i64] = if mag == 0 { &[1] } else { &[1, -1] };
            for &sign in signs {
                lambda[k] = sign * mag;
                self.enumerate(k + 1, lambda);
            }
        }
        lambda[k] = 0;
    }
}

/// Some schedule, if one with small rates exists: evidence that the values
/// can be ordered and that the depth grows at most linearly. Rate vectors
/// are tried by increasing total size, so small schedules come first
/// whatever the number of coordinates.
pub fn any(sys: &System) -> Option<Schedule> {
    let k = sys.coords.len();
    let mut tried = 0usize;
    for total in 0..=64i64 {
        let mut found = None;
        let mut lambda = vec![0i64; k];
        with_total(&mut lambda, 0, total, &mut |l: &[i64]| {
            tried += 1;
            if found.is_none() && tried <= MAX_CANDIDATES {
                found = offsets(sys, l).map(|c| Schedule {
                    lambda: l.to_vec(),
                    c,
                });
            }
            found.is_some() || tried > MAX_CANDIDATES
        });
        if found.is_some() || tried > MAX_CANDIDATES {
            return found;
        }
    }
    None
}

/// Calls `f` on every vector of `lambda.len()` integers whose absolute
/// values sum to `total` (positions before `k` fixed), until `f` says stop.
fn with_total(lambda: &mut [i64], k: usize, total: i64, f: &mut dyn FnMut(&[i64]) -> bool) -> bool {
    if k + 1 >= lambda.len() {
        if lambda.is_empty() {
            return total == 0 && f(lambda);
        }
        let signs: &[i64] = if total == 0 { &[1] } else { &[1, -1] };
        for &sign in signs {
            lambda[k] = sign * total;
            if f(lambda) {
                return true;
            }
        }
        return false;
    }
    for mag in 0..=total {
        let signs: &[i64] = if mag == 0 { &[1] } else { &[1, -1] };
        for &sign in signs {
            lambda[k] = sign * mag;
            if with_total(lambda, k + 1, total - mag, f) {
                return true;
            }
        }
    }
    lambda[k] = 0;
    false
}
