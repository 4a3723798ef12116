//! The dependence graph of a system at concrete extents, value by value,
//! and its longest path counted in values. This is the ground truth the
//! symbolic argument starts from and is checked against; it must stay a
//! plain enumeration, with no cleverness that could share a mistake with
//! the symbolic side. Iterative, so long chains cannot overflow the stack.

use super::system::System;

/// The most values one enumeration may visit.
pub const BUDGET: usize = 400_000;

/// Values that depend on each other in a cycle: each uses the next's
/// value through `deps[k]`, and the last uses the first's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// The values, as (variable, relative position).
    pub values: Vec<(usize, Vec<i64>)>,
    /// The dependence used from each value to the next.
    pub deps: Vec<usize>,
}

/// Why no longest path was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The values cannot be ordered.
    Cycle(Cycle),
    /// The graph is larger than [`BUDGET`].
    TooLarge,
}

/// The layout of the values of one variable in a flat array.
struct Layout {
    extents: Vec<i64>,
    volume: usize,
}

impl Layout {
    fn new(e: &[i64]) -> Option<Layout> {
        let mut volume: usize = 1;
        for &x in e {
            let n = usize::try_from(x.checked_add(1)?).ok()?;
            volume = volume.checked_mul(n)?;
        }
        Some(Layout {
            extents: e.to_vec(),
            volume,
        })
    }

    fn index(&self, v: usize, p: &[i64]) -> usize {
        let mut lin = 0usize;
        for (x, e) in p.iter().zip(&self.extents) {
            lin = lin * (*e as usize + 1) + *x as usize;
        }
        v * self.volume + lin
    }

    fn position(&self, mut lin: usize) -> Vec<i64> {
        let mut p = vec![0; self.extents.len()];
        for k in (0..self.extents.len()).rev() {
            let n = self.extents[k] as usize + 1;
            p[k] = (lin % n) as i64;
            lin /= n;
        }
        p
    }
}

/// Which values a path may start at: (variable, relative position).
pub type Sources<'a> = &'a dyn Fn(usize, &[i64]) -> bool;

struct Frame {
    node: usize,
    var: usize,
    pos: Vec<i64>,
    next: usize,
    best: i64,
    via: usize,
}

/// The most values on one path that ends at a value of the target (of
/// any variable, where the system says paths end anywhere), at extents
/// `e`: 0 when the target computes nothing. With `sources`, paths must
/// start at a value it accepts (and 0 means no such path exists).
pub fn longest(sys: &System, e: &[i64], sources: Option<Sources<'_>>) -> Result<i64, Failure> {
    let layout = Layout::new(e).ok_or(Failure::TooLarge)?;
    let total = layout
        .volume
        .checked_mul(sys.vars.len())
        .filter(|&n| n <= BUDGET)
        .ok_or(Failure::TooLarge)?;
    let mut into: Vec<Vec<usize>> = vec![Vec::new(); sys.vars.len()];
    for (k, d) in sys.deps.iter().enumerate() {
        into[d.to].push(k);
    }
    // 0: not seen, 1: on the path being explored, 2: done.
    let mut state = vec![0u8; total];
    let mut value = vec![0i64; total];
    let mut best_total = 0;
    let ends: Vec<usize> = if sys.ends_anywhere {
        (0..sys.vars.len()).collect()
    } else {
        vec![sys.target]
    };
    for (end, lin) in ends
        .iter()
        .flat_map(|&v| (0..layout.volume).map(move |lin| (v, lin)))
    {
        let pos = layout.position(lin);
        if !sys.computes(end, &pos, e) {
            continue;
        }
        let root = layout.index(end, &pos);
        let mut stack = vec![Frame {
            node: root,
            var: end,
            pos,
            next: 0,
            best: 0,
            via: usize::MAX,
        }];
        if state[root] == 2 {
            best_total = best_total.max(value[root]);
            continue;
        }
        state[root] = 1;
        while let Some(top) = stack.last_mut() {
            if let Some(&k) = into[top.var].get(top.next) {
                top.next += 1;
                let dep = &sys.deps[k];
                let q: Vec<i64> = top
                    .pos
                    .iter()
                    .zip(&dep.offset)
                    .map(|(a, b)| a + b)
                    .collect();
                if !sys.computes(dep.from, &q, e) {
                    continue;
                }
                let n = layout.index(dep.from, &q);
                match state[n] {
                    2 => top.best = top.best.max(value[n]),
                    1 => return Err(Failure::Cycle(cycle(&stack, n, k))),
                    _ => {
                        state[n] = 1;
                        stack.push(Frame {
                            node: n,
                            var: dep.from,
                            pos: q,
                            next: 0,
                            best: 0,
                            via: k,
                        });
                    }
                }
            } else {
                let is_source = sources.is_none_or(|f| f(top.var, &top.pos));
                let through = if top.best > 0 { top.best + 1 } else { 0 };
                let v = through.max(i64::from(is_source));
                state[top.node] = 2;
                value[top.node] = v;
                stack.pop();
                if let Some(parent) = stack.last_mut() {
                    parent.best = parent.best.max(v);
                }
            }
        }
        best_total = best_total.max(value[root]);
    }
    Ok(best_total)
}

/// The cycle closed by reaching `node`, which is on the stack, through
/// dependence `closing`.
fn cycle(stack: &[Frame], node: usize, closing: usize) -> Cycle {
    let from = stack.iter().position(|f| f.node == node).unwrap_or(0);
    let frames = &stack[from..];
    Cycle {
        values: frames.iter().map(|f| (f.var, f.pos.clone())).collect(),
        deps: frames
            .iter()
            .skip(1)
            .map(|f| f.via)
            .chain(std::iter::once(closing))
            .collect(),
    }
}
