//! The lower half of a depth proof: a path as long as a schedule's bound,
//! for every size at once, by induction on the dims.
//!
//! Orient each coordinate so that its rate is not negative. A path that
//! meets the bound gains exactly one unit of time per dependence ("tight"),
//! so it starts at some variable `u0` at the start of every coordinate with
//! a positive rate and ends at the far corner. Along a coordinate with rate
//! 0 the invariant pins its start to one end of the range, chosen up front.
//!
//! Growing dim `d` by one grows coordinate `k` by `u[k]`. The new path is a
//! closed tight walk (a "loop") from `u0` back to `u0`, followed by the old
//! path shifted by `s`: along positive rates `s = u` and the loop moves by
//! `u`; along a rate-0 coordinate the shift lies in `0..=u` and the loop
//! moves so that the path starts at its pinned end again. The shifted old
//! path fits the grown box, and the new path is longer by the loop's length,
//! `sum(rate[k] * u[k])`, exactly as the bound grows. Every constraint on
//! where the loop's values lie is a constant or a lower bound on the
//! extents, and extents only grow, so a loop that fits the grown box at the
//! base size fits at every larger size: one search per dim proves them all.

use super::explicit;
use super::schedule::{slack, Schedule};
use super::system::System;
use std::collections::BTreeSet;

/// The oriented view of a system: positions mirrored along coordinates with
/// a negative rate, so every rate is at least 0.
struct Oriented {
    sign: Vec<i64>,
    rate: Vec<i64>,
    start: Vec<Vec<i64>>,
    trim: Vec<Vec<i64>>,
    offset: Vec<Vec<i64>>,
}

fn orient(sys: &System, s: &Schedule) -> Oriented {
    let sign: Vec<i64> = s
        .lambda
        .iter()
        .map(|l| if *l < 0 { -1 } else { 1 })
        .collect();
    let pick = |v: usize, k: usize, start: bool| {
        if (sign[k] < 0) == start {
            sys.trim[v][k]
        } else {
            sys.start[v][k]
        }
    };
    let n = sys.vars.len();
    let k = sys.coords.len();
    Oriented {
        rate: s.lambda.iter().map(|l| l.abs()).collect(),
        start: (0..n)
            .map(|v| (0..k).map(|c| pick(v, c, true)).collect())
            .collect(),
        trim: (0..n)
            .map(|v| (0..k).map(|c| pick(v, c, false)).collect())
            .collect(),
        offset: sys
            .deps
            .iter()
            .map(|d| d.offset.iter().zip(&sign).map(|(o, s)| o * s).collect())
            .collect(),
        sign,
    }
}

impl Oriented {
    fn computes(&self, v: usize, p: &[i64], e: &[i64]) -> bool {
        p.iter()
            .zip(e)
            .enumerate()
            .all(|(k, (&x, &ek))| x >= self.start[v][k] && x <= ek - self.trim[v][k])
    }

    /// An oriented position in the system's own positions.
    fn unoriented(&self, p: &[i64], e: &[i64]) -> Vec<i64> {
        p.iter()
            .zip(e)
            .zip(&self.sign)
            .map(|((&x, &ek), &sign)| if sign > 0 { x } else { ek - x })
            .collect()
    }

    /// Where a path starts along each coordinate, oriented: the start of
    /// `u0`'s values along positive rates, the pinned end along rate 0.
    fn first(&self, u0: usize, top: &[bool], e: &[i64]) -> Vec<i64> {
        (0..e.len())
            .map(|k| {
                if self.rate[k] == 0 && top[k] {
                    e[k] - self.trim[u0][k]
                } else {
                    self.start[u0][k]
                }
            })
            .collect()
    }
}

/// Whether a path of the bound's length exists at every `y` at or above
/// `base` (each dim minus one); the bound must be the schedule's. The path
/// grows by a loop at its first value or, where no coordinate has rate 0,
/// at the first value of any variable it passes: a recurrence fed by values
/// that are not recurrent (`c[t]` from `c[t-1]` and `f[t] = tanh(W *
/// x[t])`, read out by `h[t] = o[t] .* c[t]`) has its chains start and end
/// at values it never returns to, and loop in between.
pub fn lower_bound_holds(sys: &System, s: &Schedule, base: &[i64]) -> bool {
    let Some(e0) = sys.extents_at(base) else {
        return false;
    };
    let Some(bound) = super::schedule::bound(sys, s).and_then(|b| b.at(base)) else {
        return false;
    };
    let o = orient(sys, s);
    let earliest = |v: usize| -> i64 {
        s.c[v]
            + (0..sys.coords.len())
                .map(|c| o.rate[c] * o.start[v][c])
                .sum::<i64>()
    };
    let first = (0..sys.vars.len()).map(earliest).min().unwrap_or(0);
    let free: Vec<usize> = (0..sys.coords.len()).filter(|&k| o.rate[k] == 0).collect();
    if free.len() > 8 {
        return false;
    }
    let grows = |u0: usize, top: &[bool]| {
        (0..sys.dims.len()).all(|d| has_loop(sys, s, &o, u0, top, &e0, d))
    };
    for u0 in (0..sys.vars.len()).filter(|&u| earliest(u) == first) {
        for pins in 0u32..(1 << free.len()) {
            let mut top = vec![false; sys.coords.len()];
            for (bit, &k) in free.iter().enumerate() {
                top[k] = pins & (1 << bit) != 0;
            }
            if longest_from(sys, &o, u0, &top, &e0) == Some(bound) && grows(u0, &top) {
                return true;
            }
        }
    }
    if !free.is_empty() {
        return false;
    }
    // A path through the first value of `w` (each coordinate at the start
    // of `w`'s values, oriented): the part up to it is the same at every
    // size (its oriented positions are fixed, and stay computed as the
    // extents grow), and the part from it grows by a loop at `w` as above.
    let top = vec![false; sys.coords.len()];
    let reversed = sys.reversed();
    (0..sys.vars.len()).any(|w| {
        let at = o.unoriented(&o.first(w, &top, &e0), &e0);
        if !sys.computes(w, &at, &e0) {
            return false;
        }
        let source = |v: usize, p: &[i64]| v == w && p == at.as_slice();
        let after = longest_from(sys, &o, w, &top, &e0);
        // On the reversed system: the most values on a path that ends at it.
        let before = explicit::longest(&reversed, &e0, Some(&source)).ok();
        matches!((before, after), (Some(b), Some(a)) if a > 0 && b > 0 && a + b - 1 == bound)
            && grows(w, &top)
    })
}

/// The longest path at extents `e` that starts where the invariant says.
fn longest_from(sys: &System, o: &Oriented, u0: usize, top: &[bool], e: &[i64]) -> Option<i64> {
    let at = o.unoriented(&o.first(u0, top, e), e);
    let source = |v: usize, p: &[i64]| v == u0 && p == at.as_slice();
    explicit::longest(sys, e, Some(&source)).ok()
}

/// Whether growing dim `d` by one from extents `e0` admits a loop.
fn has_loop(
    sys: &System,
    s: &Schedule,
    o: &Oriented,
    u0: usize,
    top: &[bool],
    e0: &[i64],
    d: usize,
) -> bool {
    let grow: Vec<i64> = sys.extents.iter().map(|x| x.slopes[d]).collect();
    let e: Vec<i64> = e0.iter().zip(&grow).map(|(a, b)| a + b).collect();
    let length: i64 = o.rate.iter().zip(&grow).map(|(r, u)| r * u).sum();
    let tight: Vec<usize> = (0..sys.deps.len())
        .filter(|&k| slack(sys, &s.lambda, &s.c, k) == 1)
        .collect();
    let from = o.first(u0, top, &e);
    if !o.computes(u0, &from, &e) {
        return false;
    }
    // Where the loop may end: one step of the invariant further.
    let lands = |p: &[i64]| {
        (0..p.len()).all(|k| {
            let moved = p[k] - from[k];
            match (o.rate[k], top[k]) {
                (0, false) => (0..=grow[k]).contains(&moved),
                (0, true) => (-grow[k]..=0).contains(&moved),
                _ => moved == grow[k],
            }
        })
    };
    let mut layer: BTreeSet<(usize, Vec<i64>)> = BTreeSet::new();
    layer.insert((u0, from.clone()));
    for _ in 0..length {
        let mut next = BTreeSet::new();
        for (v, p) in &layer {
            for &k in &tight {
                let dep = &sys.deps[k];
                if dep.from != *v {
                    continue;
                }
                let q: Vec<i64> = p.iter().zip(&o.offset[k]).map(|(a, b)| a - b).collect();
                if o.computes(dep.to, &q, &e) {
                    next.insert((dep.to, q));
                }
            }
        }
        if next.len() > explicit::BUDGET {
            return false;
        }
        layer = next;
    }
    layer.iter().any(|(v, p)| *v == u0 && lands(p))
}
