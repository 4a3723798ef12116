//! Depths whose proof needs a schedule per part: the strongly connected
//! parts of the dependences may run in different directions (a
//! bidirectional RNN's forward states need rate `+1` along `t`, its
//! backward states `-1`), where one rate vector for every variable fails.
//!
//! Upper bound: a path visits the parts in an order of the acyclic graph
//! between them, and within a part it is no longer than that part's own
//! span (its longest path, bounded by a schedule of the part alone, for
//! every size). So the depth is at most the largest sum of spans along a
//! chain of parts ending at the target's. Lower bound: the parts of a chain
//! that attains it, with the dependences among them, form a smaller system
//! whose paths are paths of this one; its depth, proved by the same
//! procedure, is at most this one's. When both equal the candidate, the
//! candidate is the depth.

use super::schedule;
use super::solve::{self, Verdict};
use super::system::{Affine, System};

/// Whether `a >= b` at every size: every dim at least 1, so comparing the
/// constant and each slope suffices.
fn dominates(a: &Affine, b: &Affine) -> bool {
    a.base >= b.base && a.slopes.iter().zip(&b.slopes).all(|(x, y)| x >= y)
}

/// The larger of two affine lengths, if one is larger at every size.
fn larger(a: &Affine, b: &Affine) -> Option<Affine> {
    if dominates(a, b) {
        Some(a.clone())
    } else if dominates(b, a) {
        Some(b.clone())
    } else {
        None
    }
}

/// The strongly connected parts of the dependences: each variable's part,
/// numbered in an order where every dependence goes from a part to itself
/// or to a later one.
fn parts(sys: &System) -> Vec<usize> {
    let n = sys.vars.len();
    let mut reach = vec![vec![false; n]; n];
    for (v, row) in reach.iter_mut().enumerate() {
        row[v] = true;
    }
    for d in &sys.deps {
        reach[d.from][d.to] = true;
    }
    for k in 0..n {
        let via = reach[k].clone();
        for row in reach.iter_mut() {
            if row[k] {
                for (cell, &r) in row.iter_mut().zip(&via) {
                    *cell |= r;
                }
            }
        }
    }
    // A part's rank: how many variables reach it without it reaching them.
    let rank = |v: usize| (0..n).filter(|&u| reach[u][v] && !reach[v][u]).count();
    let mut reps: Vec<usize> = (0..n)
        .filter(|&v| (0..v).all(|u| !(reach[u][v] && reach[v][u])))
        .collect();
    reps.sort_by_key(|&r| (rank(r), r));
    (0..n)
        .map(|v| {
            reps.iter()
                .position(|&r| reach[r][v] && reach[v][r])
                .unwrap_or(0)
        })
        .collect()
}

/// The longest path inside a part, bounded by a schedule of the part
/// alone: the largest schedule bound over the part's variables.
fn span(sys: &System, members: &[usize]) -> Option<Affine> {
    let part = sys.restrict(members, 0);
    let sched = schedule::any(&part)?;
    let mut most: Option<Affine> = None;
    for t in 0..members.len() {
        let mut at = part.clone();
        at.target = t;
        let b = schedule::bound(&at, &sched)?;
        most = Some(match most {
            Some(m) => larger(&m, &b)?,
            None => b,
        });
    }
    most
}

/// Whether `candidate` is proved the depth of the system's target by its
/// parts (see the module documentation).
pub fn proves(sys: &System, candidate: &Affine) -> bool {
    let part = parts(sys);
    let count = part.iter().max().map_or(0, |m| m + 1);
    if count < 2 {
        return false;
    }
    let members: Vec<Vec<usize>> = (0..count)
        .map(|p| (0..sys.vars.len()).filter(|&v| part[v] == p).collect())
        .collect();
    let Some(spans) = members
        .iter()
        .map(|m| span(sys, m))
        .collect::<Option<Vec<Affine>>>()
    else {
        return false;
    };
    // The longest chain of spans ending at each part, and where it comes
    // from; parts are numbered in dependence order.
    let mut best: Vec<Option<Affine>> = vec![None; count];
    let mut from: Vec<Option<usize>> = vec![None; count];
    for p in 0..count {
        let mut before: Option<(Affine, usize)> = None;
        for (q, b) in best.iter().enumerate().take(p) {
            let feeds = sys
                .deps
                .iter()
                .any(|d| part[d.from] == q && part[d.to] == p);
            let Some(b) = b.as_ref().filter(|_| feeds) else {
                continue;
            };
            before = match before {
                None => Some((b.clone(), q)),
                Some((a, k)) => match larger(&a, b) {
                    Some(m) if m == a => Some((a, k)),
                    Some(m) => Some((m, q)),
                    None => return false,
                },
            };
        }
        best[p] = match &before {
            Some((b, _)) => b.plus_times(1, &spans[p]),
            None => Some(spans[p].clone()),
        };
        from[p] = before.map(|(_, q)| q);
        if best[p].is_none() {
            return false;
        }
    }
    let last = part[sys.target];
    if best[last].as_ref() != Some(candidate) {
        return false;
    }
    // The chain that attains the bound, as a smaller system.
    let mut chain = vec![last];
    while let Some(q) = from[*chain.last().unwrap_or(&last)] {
        chain.push(q);
    }
    let keep: Vec<usize> = (0..sys.vars.len())
        .filter(|v| chain.contains(&part[*v]))
        .collect();
    if keep.len() >= sys.vars.len() {
        return false;
    }
    let Some(target) = keep.iter().position(|&v| v == sys.target) else {
        return false;
    };
    matches!(solve::solve(&sys.restrict(&keep, target)), Verdict::Exact(a, _) if &a == candidate)
}
