//! Brute-force checks of counts and depths on concrete sizes: parameters
//! counted entry by entry from an instance, multiply-accumulates counted
//! from the actual operands of every product while evaluating, and depth as
//! the longest chain in the explicit dependence graph. None of these reads
//! the symbolic derivations they check.

use super::Check;
use crate::eval::{EvalError, Evaluator, Forward, Instance, NoAdjoints};
use crate::ir::build::subtree;
use crate::ir::{Ix, Leaf, Node, Ref};
use crate::key::AnswerKey;
use crate::model::{Model, RequestKind, VarKind};
use crate::num::Rational;
use crate::poly::Poly;
use egg::{Id, Language, RecExpr};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeSet;

fn value_at(p: &Poly, dims: &[i64]) -> Option<i64> {
    p.eval_exact(&|d| dims.get(d as usize).copied().unwrap_or(1))
        .and_then(|r: Rational| r.to_i64())
}

/// Parameter entries of an instance, for the parameters any expression of
/// the model mentions.
fn params_brute(model: &Model, inst: &Instance<'_>) -> Result<i64, EvalError> {
    let mut used = BTreeSet::new();
    let exprs = model
        .equations
        .iter()
        .map(|e| &e.rhs)
        .chain(model.inits.iter().map(|i| &i.value))
        .chain(model.loss.iter().map(|l| &l.value));
    for e in exprs {
        for n in e.as_ref() {
            if let Node::Leaf(Leaf::Param(p)) = n {
                used.insert(*p);
            }
        }
    }
    let shared: i64 = used
        .iter()
        .map(|&p| inst.param(p).map(|m| m.len() as i64))
        .sum::<Result<i64, EvalError>>()?;
    // Parameters with indices: every value the forward pass reads, with
    // every equation computed wherever it is and the loss evaluated.
    let learned: Vec<u32> = (0..model.vars.len() as u32)
        .filter(|&v| model.is_learned(v))
        .collect();
    if learned.is_empty() {
        return Ok(shared);
    }
    let forward = Forward::new(inst, None);
    for (v, decl) in model.vars.iter().enumerate() {
        if matches!(decl.kind, VarKind::Defined(_)) {
            for at in inst.domain(v as u32) {
                forward.value(v as u32, &at)?;
            }
        }
    }
    if model.loss.is_some() {
        forward.loss()?;
    }
    let mut total = shared;
    for v in learned {
        let (rows, cols) = inst.size(v)?;
        total += (forward.read(v) * rows * cols) as i64;
    }
    Ok(total)
}

/// Multiply-accumulates of `e` at one binding, counted from the operands'
/// actual sizes; every occurrence of a product counts.
fn macs_brute(
    ev: &Evaluator<'_>,
    e: &RecExpr<Node>,
    id: Id,
    b: &mut Vec<Option<i64>>,
) -> Result<i64, EvalError> {
    let inst = ev.forward.instance();
    Ok(match &e[id] {
        Node::Mul([x, y]) => {
            let (vx, vy) = (ev.eval(&subtree(e, *x), b)?, ev.eval(&subtree(e, *y), b)?);
            let own = if vx.is_scalar() || vy.is_scalar() {
                0
            } else {
                (vx.rows() * vx.cols() * vy.cols()) as i64
            };
            own + macs_brute(ev, e, *x, b)? + macs_brute(ev, e, *y, b)?
        }
        Node::Sum([t, body]) => {
            let Node::Leaf(Leaf::Index(i)) = &e[*t] else {
                return Err(EvalError("a sum without an index".into()));
            };
            let (lo, hi) = inst.range(*i);
            let slot = *i as usize;
            if b.len() <= slot {
                b.resize(slot + 1, None);
            }
            let saved = b[slot];
            let mut total = 0;
            for v in lo..=hi {
                b[slot] = Some(v);
                total += macs_brute(ev, e, *body, b)?;
            }
            b[slot] = saved;
            total
        }
        other => {
            let mut total = 0;
            for &c in other.children() {
                total += macs_brute(ev, e, c, b)?;
            }
            total
        }
    })
}

/// Whether variable `v` at `at` is computed by its equation (not given by
/// `init`, not before its equation's first step, inside the ranges).
fn computed(model: &Model, inst: &Instance<'_>, v: u32, at: &[i64]) -> bool {
    let Some(eq) = model.equation_of(v) else {
        return false;
    };
    let decl = &model.vars[v as usize];
    for (&i, &x) in decl.indices.iter().zip(at) {
        let (lo, hi) = inst.range(i);
        if x < lo || x > hi {
            return false;
        }
    }
    for init in model.inits.iter().filter(|i| i.target.var == v) {
        let fits = init.target.at.iter().zip(at).all(|(ix, &x)| match *ix {
            Ix::Abs(a) => a == x,
            Ix::End(i, o) => inst.range(i).1.saturating_add(o) == x,
            Ix::Rel(..) => true,
        });
        if fits {
            return false;
        }
    }
    eq.lhs.at.iter().zip(at).all(|(ix, &x)| match *ix {
        Ix::Rel(i, d) => x - d >= inst.range(i).0,
        Ix::Abs(_) | Ix::End(..) => false,
    })
}

/// The longest chain of computed values ending at any value of `v`,
/// counted in values, by a memoized walk over the explicit graph.
fn depth_brute(model: &Model, inst: &Instance<'_>, v: u32) -> Result<i64, EvalError> {
    let mut memo: HashMap<(u32, Vec<i64>), i64> = HashMap::default();
    let mut best = 0;
    let decl = &model.vars[v as usize];
    for t in super::tuples(inst, &decl.indices) {
        best = best.max(longest(
            model,
            inst,
            v,
            &t,
            &mut memo,
            &mut BTreeSet::new(),
        )?);
    }
    Ok(best)
}

fn longest(
    model: &Model,
    inst: &Instance<'_>,
    v: u32,
    at: &[i64],
    memo: &mut HashMap<(u32, Vec<i64>), i64>,
    busy: &mut BTreeSet<(u32, Vec<i64>)>,
) -> Result<i64, EvalError> {
    if !computed(model, inst, v, at) {
        return Ok(0);
    }
    let key = (v, at.to_vec());
    if let Some(&d) = memo.get(&key) {
        return Ok(d);
    }
    if !busy.insert(key.clone()) || busy.len() > 100_000 {
        return Err(EvalError("the dependences form a cycle".into()));
    }
    let Some(eq) = model.equation_of(v) else {
        return Ok(0);
    };
    let mut binding = vec![None; model.indices.len()];
    for (ix, &x) in eq.lhs.at.iter().zip(at) {
        if let Ix::Rel(i, d) = *ix {
            binding[i as usize] = Some(x - d);
        }
    }
    let mut deepest = 0;
    for n in eq.rhs.as_ref() {
        let Node::Leaf(Leaf::Var(r)) = n else {
            continue;
        };
        if model.vars[r.var as usize].kind == VarKind::Input {
            continue;
        }
        let dep: Ref = r.clone();
        let t = Evaluator::tuple(inst, &dep.at, &binding)?;
        deepest = deepest.max(longest(model, inst, dep.var, &t, memo, busy)?);
    }
    busy.remove(&key);
    memo.insert(key, deepest + 1);
    Ok(deepest + 1)
}

/// A request that counts: `count params`, `count macs v`, `depth v`.
#[derive(Debug, Clone, Copy)]
pub enum Count<'m> {
    /// `count params`.
    Params,
    /// `count macs v[...]`.
    Macs(&'m crate::ir::Ref),
    /// `depth v[...]`.
    Depth(&'m crate::ir::Ref),
}

impl<'m> Count<'m> {
    /// The count a request asks for, if it asks for one.
    pub fn of(kind: &'m RequestKind) -> Option<Count<'m>> {
        match kind {
            RequestKind::CountParams => Some(Count::Params),
            RequestKind::CountMacs(r) => Some(Count::Macs(r)),
            RequestKind::Depth(r) => Some(Count::Depth(r)),
            RequestKind::Adjoints { .. }
            | RequestKind::Grad { .. }
            | RequestKind::Inverse
            | RequestKind::Jacobian { .. }
            | RequestKind::Det { .. }
            | RequestKind::Expect { .. } => None,
        }
    }
}

/// Checks a derived count or depth by brute force at each setting of the
/// dims: how many settings agreed, or where it does not.
pub fn count_error(
    model: &Model,
    count: Count<'_>,
    p: &Poly,
    settings: &[Vec<i64>],
) -> Result<usize, String> {
    let mut failure = None;
    let mut checked = 0;
    for (k, dims) in settings.iter().enumerate() {
        // At size 1 a matrix is indistinguishable from a scalar by its
        // values, so products are counted from size 2 up.
        if matches!(count, Count::Macs(_)) && dims.contains(&1) {
            continue;
        }
        let Ok(inst) = Instance::new(model, dims.clone(), k as u64 + 1) else {
            continue;
        };
        let brute = match count {
            Count::Params => params_brute(model, &inst),
            Count::Macs(r) => {
                let forward = Forward::new(&inst, None);
                let ev = Evaluator {
                    forward: &forward,
                    adjoints: &NoAdjoints,
                    assumed: &[],
                };
                let mut b: Vec<Option<i64>> = (0..model.indices.len() as u32)
                    .map(|i| Some(inst.range(i).0))
                    .collect();
                match model.equation_of(r.var) {
                    Some(eq) => macs_brute(&ev, &eq.rhs, crate::ir::root(&eq.rhs), &mut b),
                    None => Err(EvalError("not a defined variable".into())),
                }
            }
            Count::Depth(r) => depth_brute(model, &inst, r.var),
        };
        match (brute, value_at(p, dims)) {
            (Ok(x), Some(y)) if x == y => checked += 1,
            (Ok(x), Some(y)) => {
                return Err(format!("at dims {dims:?}: counted {x}, derived {y}"));
            }
            (Err(e), _) => failure = Some(e.0),
            (_, None) => failure = Some("the derived value is not an integer".into()),
        }
    }
    match failure {
        Some(f) if checked == 0 => Err(f),
        _ => Ok(checked),
    }
}

/// Checks every count and depth of an answer key against brute force at
/// several sizes of the dims.
pub fn verify_counts(key: &AnswerKey) -> Vec<Check> {
    let model = &key.model;
    let mut out = Vec::new();
    for (a, step) in super::with_steps(key) {
        let Some(req) = model.requests.get(a.request) else {
            continue;
        };
        let Some(p) = a.equations.first().and_then(|d| d.rhs.total()) else {
            continue;
        };
        let Some(count) = Count::of(&req.kind) else {
            continue;
        };
        let (what, how) = match count {
            Count::Params => (
                "params".to_owned(),
                "parameter entries counted on instances",
            ),
            Count::Macs(r) => (
                format!("macs({})", model.symbols.ref_text(r)),
                "products' operands counted while evaluating",
            ),
            Count::Depth(r) => (
                format!("depth({})", model.symbols.ref_text(r)),
                "longest chain in the explicit dependence graph",
            ),
        };
        let (checked, failure) = match count_error(model, count, &p, &model.dim_settings(4)) {
            Ok(n) => (n, None),
            Err(f) => (0, Some(f)),
        };
        let passed = checked > 0 && failure.is_none();
        out.push(Check {
            what: super::StepOf::label(step.as_ref(), what),
            line: req.line,
            error: None,
            passed,
            how: match failure {
                Some(f) if !passed => format!("FAILED {how}: {f}"),
                _ => format!("{how}, {checked} sizes"),
            },
        });
    }
    out
}
