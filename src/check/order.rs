//! Whether the values of a model can be computed in some order: the
//! equations are unrolled over a small range of every index, long enough
//! for every offset the model uses, and the graph of which value uses which
//! must have no cycle. A recurrence that reads both an earlier and a later
//! value of itself (`h[t]` from `h[t-1]` and `h[t+1]`) has one; so does a
//! pair of equations that read each other one step ahead and one behind.

use crate::diag::Diagnostic;
use crate::ir::{Ix, Leaf, Node};
use crate::model::{Model, VarKind};
use rustc_hash::FxHashMap as HashMap;

/// A value of the unrolled model: a variable at index values.
type Value = (u32, Vec<i64>);

/// The most values the unrolled model may have; a model that needs more
/// (offsets of hundreds of steps over several indices) is not walked.
const MAX_VALUES: usize = 200_000;

/// Where the values an `init` sets are: each set value of the unrolled
/// model, with the init that sets it.
type Inits = HashMap<Value, usize>;

/// The values that `v` at `at` uses, among those the equations compute and
/// the `init`s set: by the `init` that sets it, or by its equation.
fn uses(
    model: &Model,
    length: i64,
    v: u32,
    at: &[i64],
    domains: &[Option<Vec<(i64, i64)>>],
    inits: &Inits,
) -> Vec<Value> {
    let (lhs, rhs) = match inits.get(&(v, at.to_vec())) {
        Some(&k) => (&model.inits[k].target, &model.inits[k].value),
        None => match model.equation_of(v) {
            Some(eq) => (&eq.lhs, &eq.rhs),
            None => return Vec::new(),
        },
    };
    let decl = &model.vars[v as usize];
    // The equation's own index values (its left side's offsets removed).
    let mut binding: HashMap<u32, i64> = HashMap::default();
    for ((&i, ix), &p) in decl.indices.iter().zip(lhs.at.iter()).zip(at) {
        if let Ix::Rel(_, d) = *ix {
            binding.insert(i, p - d);
        }
    }
    let mut out = Vec::new();
    for n in rhs.as_ref() {
        let Node::Leaf(Leaf::Var(r)) = n else {
            continue;
        };
        let Some(dom) = &domains[r.var as usize] else {
            continue;
        };
        // Every position the reference reaches: an index of the equation
        // at its value plus the offset, an index bound by a sum at each of
        // its values.
        let mut positions: Vec<Vec<i64>> = vec![Vec::new()];
        for ix in r.at.iter() {
            let values: Vec<i64> = match *ix {
                Ix::Rel(i, o) => match binding.get(&i) {
                    Some(&b) => vec![b + o],
                    None => (1..=length).map(|x| x + o).collect(),
                },
                Ix::Abs(a) => vec![a],
                Ix::End(_, o) => vec![length + o],
            };
            positions = extended(positions, &values);
        }
        for p in positions {
            let inside = p
                .iter()
                .zip(dom)
                .all(|(&x, &(lo, hi))| lo < x && x <= length + hi);
            let value = (r.var, p);
            if inside || inits.contains_key(&value) {
                out.push(value);
            }
        }
    }
    out
}

/// The values the `init`s set in the unrolled model (a free index at each
/// of its values).
fn init_values(model: &Model, length: i64) -> Inits {
    let mut out = Inits::default();
    for (k, init) in model.inits.iter().enumerate() {
        let mut positions: Vec<Vec<i64>> = vec![Vec::new()];
        for ix in init.target.at.iter() {
            let values: Vec<i64> = match *ix {
                Ix::Rel(_, o) => (1..=length).map(|x| x + o).collect(),
                Ix::Abs(a) => vec![a],
                Ix::End(_, o) => vec![length + o],
            };
            positions = extended(positions, &values);
            if positions.len() > MAX_VALUES {
                return out;
            }
        }
        for p in positions {
            out.entry((init.target.var, p)).or_insert(k);
        }
    }
    out
}

/// Every position of `positions` extended by every value of `values` (the
/// positions of one more index).
fn extended(positions: Vec<Vec<i64>>, values: &[i64]) -> Vec<Vec<i64>> {
    positions
        .into_iter()
        .flat_map(|p| {
            values.iter().map(move |&x| {
                let mut p = p.clone();
                p.push(x);
                p
            })
        })
        .collect()
}

/// A value that depends on itself through the unrolled model, if any.
pub(super) fn cycle(model: &Model) -> Option<Diagnostic> {
    let mut reach: i64 = 1;
    for eq in &model.equations {
        for n in eq.rhs.as_ref() {
            if let Node::Leaf(Leaf::Var(r)) = n {
                for ix in r.at.iter() {
                    if let Ix::Rel(_, o) = *ix {
                        reach = reach.saturating_add(o.saturating_abs());
                    }
                }
            }
        }
    }
    // A closed walk whose offsets sum to zero can be ordered to stay within
    // a window as wide as the offsets it uses, so a range that long shows
    // every cycle there is.
    let length = reach.saturating_add(2);
    let domains: Vec<Option<Vec<(i64, i64)>>> = (0..model.vars.len() as u32)
        .map(|v| match model.vars[v as usize].kind {
            VarKind::Defined(_) => model.domain(v),
            VarKind::Input => None,
        })
        .collect();
    // Every computed value, then a depth-first search for a back edge.
    let mut values: Vec<Value> = Vec::new();
    for (v, dom) in domains.iter().enumerate() {
        let Some(dom) = dom else { continue };
        let mut positions: Vec<Vec<i64>> = vec![Vec::new()];
        let count = dom.iter().try_fold(1usize, |n, &(lo, hi)| {
            let len = usize::try_from(length + hi - lo).ok()?;
            n.checked_mul(len).filter(|&m| m <= MAX_VALUES)
        });
        count?;
        for &(lo, hi) in dom {
            let range: Vec<i64> = (1 + lo..=length + hi).collect();
            positions = extended(positions, &range);
        }
        values.extend(positions.into_iter().map(|p| (v as u32, p)));
        if values.len() > MAX_VALUES {
            return None;
        }
    }
    // The values `init`s set: an `init` may read computed values
    // (`init s[0] = h[T]`), which must not lead back to it.
    let inits = init_values(model, length);
    let mut set: Vec<Value> = inits.keys().cloned().collect();
    set.sort();
    values.extend(set);
    // 0: not seen, 1: on the stack, 2: done.
    let mut state: HashMap<Value, u8> = HashMap::default();
    for start in values {
        if state.get(&start).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut stack: Vec<(Value, Vec<Value>)> = Vec::new();
        let next = uses(model, length, start.0, &start.1, &domains, &inits);
        state.insert(start.clone(), 1);
        stack.push((start, next));
        while let Some((node, pending)) = stack.last_mut() {
            match pending.pop() {
                Some(u) => match state.get(&u).copied().unwrap_or(0) {
                    0 => {
                        let next = uses(model, length, u.0, &u.1, &domains, &inits);
                        state.insert(u.clone(), 1);
                        stack.push((u, next));
                    }
                    1 => {
                        let from = stack.iter().position(|(n, _)| *n == u).unwrap_or(0);
                        let chain: Vec<Value> =
                            stack[from..].iter().map(|(n, _)| n.clone()).collect();
                        return Some(report(model, &chain, &inits));
                    }
                    _ => {}
                },
                None => {
                    state.insert(node.clone(), 2);
                    stack.pop();
                }
            }
        }
    }
    None
}

/// The error for a cycle of values, each using the next, the last the first.
fn report(model: &Model, chain: &[Value], inits: &Inits) -> Diagnostic {
    // Where an `init` is part of the cycle, the cycle starts there.
    let start = chain
        .iter()
        .position(|x| inits.contains_key(x))
        .unwrap_or(0);
    let chain: Vec<Value> = chain[start..]
        .iter()
        .chain(&chain[..start])
        .cloned()
        .collect();
    let Some(first) = chain.first() else {
        return Diagnostic::new(Default::default(), "a cycle of values", "here");
    };
    let init = inits.get(first).map(|&k| &model.inits[k]);
    let v = first.0;
    let name = model.symbols.ref_text(&model.plain_ref(v));
    let span = model.equation_of(v).map(|e| e.span).unwrap_or_default();
    let text = |(var, at): &Value| {
        model.symbols.ref_text(&crate::ir::Ref {
            var: *var,
            at: at.iter().map(|&a| Ix::Abs(a)).collect(),
        })
    };
    let mut steps: Vec<String> = chain
        .iter()
        .take(6)
        .map(|x| format!("`{}`", text(x)))
        .collect();
    if chain.len() > 6 {
        steps.push("...".to_owned());
    }
    steps.push(format!("`{}`", text(first)));
    let said = format!("{} uses {}", steps[0], steps[1..].join(", which uses "));
    let mut d = match init {
        Some(init) => Diagnostic::new(
            init.span,
            format!(
                "the `init` of `{}` depends on itself: its values cannot be computed in any order",
                text(first)
            ),
            "part of the cycle",
        )
        .hint(format!(
            "{said}; an `init` sets a value before the recurrence starts, from parameters, inputs and values that do not depend on it"
        )),
        None => Diagnostic::new(
            span,
            format!(
                "`{name}` depends on itself through earlier and later values: its values cannot be computed in any order"
            ),
            "part of the cycle",
        )
        .hint(format!(
            "{said}; a recurrence runs one way, each value using earlier values only, or later values only"
        )),
    };
    for x in chain.iter().skip(1) {
        let other = match init {
            Some(_) => !inits.contains_key(x),
            None => x.0 != v,
        };
        if other {
            if let Some(e) = model.equation_of(x.0) {
                d = d.related(e.span, "also part of the cycle");
                break;
            }
        }
    }
    d
}
