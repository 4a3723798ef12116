//! Numeric verification of derived results on random instances: adjoints
//! and gradients against the loss differentiated numerically (reverse mode
//! on the evaluator), and results under assumptions against the unassumed
//! results with the assumptions substituted, their adjoints evaluated by
//! the unassumed equations. The tests and `deriv verify` use the same
//! checks.

mod counts;
mod selfcheck;

pub use counts::verify_counts;
pub use selfcheck::{self_check, Failure};

use crate::derive::adjoint::Adjoints as Deriver;
use crate::egraph::ShapeTable;
use crate::eval::{
    positions, rel_error, Adjoints, EvalError, Evaluator, Forward, Instance, Mat, Perturb,
    SolvedAdjoints,
};
pub use crate::eval::{tuples, FdAdjoints, RandomAdjoints, TapeAdjoints};
use crate::ir::{Leaf, Node, Ref, Target};
use crate::key::{AnswerKey, Derived, Lhs, Rhs};
use crate::model::{Assumption, Model, RequestKind};
use crate::Limits;
use egg::RecExpr;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeSet;
use std::rc::Rc;

/// The largest relative error a numeric check accepts.
pub const TOLERANCE: f64 = 1e-6;

/// The outcome of checking one derived result.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What was checked, in the language: `bar(c[t])`.
    pub what: String,
    /// The script line of the request.
    pub line: usize,
    /// The largest relative error over every instance and index value, or
    /// `None` for an exact (integer) comparison.
    pub error: Option<f64>,
    /// Whether the check passed.
    pub passed: bool,
    /// How it was checked, or why it failed.
    pub how: String,
}

/// The binding of some indices to index values.
pub(crate) fn binding(model: &Model, indices: &[u32], values: &[i64]) -> Vec<Option<i64>> {
    let mut b = vec![None; model.indices.len()];
    for (&i, &v) in indices.iter().zip(values) {
        b[i as usize] = Some(v);
    }
    b
}

/// The target of a derived adjoint's left side.
pub(crate) fn target_of(d: &Derived) -> Option<Target> {
    match &d.lhs {
        Lhs::Expr(e) => match e.as_ref().last() {
            Some(Node::Leaf(Leaf::Bar(t))) => Some(t.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The expression of a derived equation's right side.
pub(crate) fn rhs_expr(d: &Derived) -> Option<&RecExpr<Node>> {
    match &d.rhs {
        Rhs::Expr(e) => Some(e),
        Rhs::Poly(_) | Rhs::Terms(_) => None,
    }
}

/// The largest relative error of a derived adjoint (or gradient) against
/// the true adjoints (reverse-mode differentiation of the loss on the
/// evaluator), over every index value of one instance where the variable
/// is computed.
pub fn adjoint_error(model: &Model, d: &Derived, inst: &Instance<'_>) -> Result<f64, EvalError> {
    let target = target_of(d).ok_or_else(|| EvalError("not an adjoint".into()))?;
    let rhs = rhs_expr(d).ok_or_else(|| EvalError("not an expression".into()))?;
    let fd = TapeAdjoints::new(inst, BTreeSet::new())?;
    let forward = Forward::new(inst, None);
    let ev = Evaluator {
        forward: &forward,
        adjoints: &fd,
        assumed: &[],
    };
    let indices = match &target {
        Target::Var(r) => model.vars[r.var as usize].indices.clone(),
        Target::Param(_) => Vec::new(),
    };
    let mut worst: f64 = 0.0;
    for t in positions(inst, &target) {
        let got = ev.eval(rhs, &binding(model, &indices, &t))?;
        let want = fd.adjoint(&target, &t)?;
        if !got.is_finite() || !want.is_finite() {
            return Err(EvalError("a value is not finite at this instance".into()));
        }
        worst = worst.max(rel_error(&got, &want));
    }
    Ok(worst)
}

/// The largest relative error between an adjoint derived under
/// assumptions and the unassumed adjoint with the assumptions substituted,
/// on the forward values computed under them, with every adjoint either
/// side mentions evaluated by the unassumed
/// `equations` with the assumptions substituted, from the last step back
/// (see [`SolvedAdjoints`]). No adjoint is taken as zero: one the
/// derivation found to vanish under the assumptions is evaluated too.
pub fn assumed_error(
    model: &Model,
    assumed: &Derived,
    unassumed: &Derived,
    assuming: &[Assumption],
    equations: &[(Ref, RecExpr<Node>)],
    inst: &Instance<'_>,
) -> Result<f64, EvalError> {
    let target = target_of(assumed).ok_or_else(|| EvalError("not an adjoint".into()))?;
    let (a, u) = match (rhs_expr(assumed), rhs_expr(unassumed)) {
        (Some(a), Some(u)) => (a, u),
        _ => return Err(EvalError("not an expression".into())),
    };
    let subst = Assumption::substitution(assuming);
    // The values computed from an assumed one follow it, as a claim's
    // numbers and proofs take them (`c[t] = z[t]` where `f[t] = 0` in
    // `c[t] = f[t] .* c[t-1] + (1 - f[t]) .* z[t]`).
    let forward = Forward::assuming(inst, subst.clone());
    let none = BTreeSet::new();
    let solved = SolvedAdjoints::new(&forward, equations, &subst, &none);
    let ev = Evaluator {
        forward: &forward,
        adjoints: &solved,
        assumed: &subst,
    };
    let indices = match &target {
        Target::Var(r) => model.vars[r.var as usize].indices.clone(),
        Target::Param(_) => Vec::new(),
    };
    let mut worst: f64 = 0.0;
    for t in positions(inst, &target) {
        let b = binding(model, &indices, &t);
        let (x, y) = (ev.eval(a, &b)?, ev.eval(u, &b)?);
        if !x.is_finite() || !y.is_finite() {
            return Err(EvalError("a value is not finite at this instance".into()));
        }
        worst = worst.max(rel_error(&x, &y));
    }
    Ok(worst)
}

/// The instances a result is checked on: several seeds, and the dims
/// varied between them.
pub fn instances<'m>(model: &'m Model, seeds: &[u64]) -> Vec<Instance<'m>> {
    seeds
        .iter()
        .filter_map(|&s| Instance::seeded(model, s).ok())
        .collect()
}

/// A step of a derivation, checked as an answer of its own.
#[derive(Debug, Clone)]
pub struct StepOf {
    /// Its number among the steps of its equation, from 1.
    pub number: usize,
    /// The equation's left side, where the result has several parts
    /// checked as one (an inverse).
    pub of: Option<String>,
    /// Whether the request's assumptions are in its form (see
    /// [`crate::key::Step::assumed`]).
    pub assumed: bool,
    /// Whether it is a proven claim's last step, the claim as written: a
    /// form that may write adjoints out, not one derived in them.
    pub claim: bool,
}

impl StepOf {
    /// `what`, said of this step.
    pub fn label(step: Option<&StepOf>, what: String) -> String {
        match step {
            Some(StepOf {
                of: Some(of),
                number,
                ..
            }) => format!("{what}: {of}, step {number}"),
            Some(s) => format!("{what}, step {}", s.number),
            None => what,
        }
    }
}

/// Every answer of a key, each followed by its steps, each step as the
/// answer with the step's right side in place of its equation's (only
/// that equation for adjoints and gradients, which are checked one by one;
/// all of them for an inverse, which is checked as a whole).
pub fn with_steps(
    key: &AnswerKey,
) -> Vec<(std::borrow::Cow<'_, crate::key::Answer>, Option<StepOf>)> {
    let mut out = Vec::new();
    for a in &key.answers {
        out.push((std::borrow::Cow::Borrowed(a), None));
        let alone = matches!(
            key.model.requests.get(a.request).map(|r| &r.kind),
            Some(RequestKind::Adjoints { .. } | RequestKind::Grad { .. })
        );
        // Only a claim has a verdict (also once read as the request it
        // names, see `claims_as_requests`).
        let proven_claim = matches!(a.verdict, Some(crate::key::Verdict::Proven));
        for (eq, k) in a.step_numbers() {
            let Some(mut v) = a.at_step(eq, k) else {
                continue;
            };
            let claim = proven_claim && eq == 0 && k + 1 == a.steps[eq].len();
            if alone {
                v.equations = vec![v.equations.swap_remove(eq)];
            }
            let assumed = a.steps[eq][k].assumed;
            let of = (!alone && a.equations.len() > 1)
                .then(|| crate::print::lhs_plain(&a.equations[eq].lhs, &key.model.symbols));
            out.push((
                std::borrow::Cow::Owned(v),
                Some(StepOf {
                    number: k + 1,
                    of,
                    assumed,
                    claim,
                }),
            ));
        }
    }
    out
}

/// Checks every adjoint and gradient of an answer key numerically.
pub fn verify_adjoints(key: &AnswerKey, seeds: &[u64]) -> Vec<Check> {
    let model = &key.model;
    let insts = instances(model, seeds);
    let limits = Limits::default();
    let mut deriver = Deriver::new(model, Rc::new(ShapeTable::new(model)), &limits);
    let mut out = Vec::new();
    for (a, step) in with_steps(key) {
        let Some(req) = model.requests.get(a.request) else {
            continue;
        };
        let none: Vec<crate::model::Assumption> = Vec::new();
        let (assuming, sums) = match &req.kind {
            // A step before the assumptions are substituted holds without
            // them.
            RequestKind::Adjoints { sums, .. } | RequestKind::Grad { sums, .. }
                if step.as_ref().is_some_and(|s| !s.assumed) =>
            {
                (&none, sums)
            }
            RequestKind::Adjoints { assuming, sums } | RequestKind::Grad { assuming, sums, .. } => {
                (assuming, sums)
            }
            // Checked by `verify_update_maps`, `verify_counts`, or (claims)
            // by the proof's own numeric evidence.
            RequestKind::Inverse
            | RequestKind::Jacobian { .. }
            | RequestKind::Det { .. }
            | RequestKind::CountParams
            | RequestKind::CountMacs(_)
            | RequestKind::Depth(_)
            | RequestKind::Expect { .. } => continue,
        };
        // Under assumptions, compare with the unassumed derivation, with
        // the assumptions substituted and the adjoints evaluated by the
        // unassumed equations (all of them: a gradient depends on
        // adjoints its request does not print).
        let unassumed: Vec<(Ref, RecExpr<Node>)> = if assuming.is_empty() {
            Vec::new()
        } else {
            deriver.unassumed_equations(req.span).unwrap_or_default()
        };
        for d in &a.equations {
            let what = StepOf::label(
                step.as_ref(),
                crate::print::lhs_plain(&d.lhs, &model.symbols),
            );
            let mut worst: f64 = 0.0;
            let mut failure = None;
            let reference = if assuming.is_empty() {
                None
            } else {
                match target_of(d) {
                    Some(t) if model.is_gradient(&t) => {
                        deriver.gradient(&t, &[], req.span).ok().map(|x| x.derived)
                    }
                    Some(t) => deriver
                        .all(&[], req.span)
                        .ok()
                        .and_then(|all| {
                            all.into_iter()
                                .find(|x| target_of(&x.derived).as_ref() == Some(&t))
                        })
                        .map(|x| x.derived),
                    None => None,
                }
            };
            let mut checked = 0;
            // Under assumptions about sums, the inputs are drawn with them.
            let summed: Vec<Instance<'_>> = if sums.is_empty() {
                Vec::new()
            } else {
                insts.iter().map(|i| i.clone().with_sums(sums)).collect()
            };
            for inst in if sums.is_empty() { &insts } else { &summed } {
                let r = match &reference {
                    None => adjoint_error(model, d, inst),
                    Some(u) => assumed_error(model, d, u, assuming, &unassumed, inst),
                };
                match r {
                    Ok(e) => {
                        worst = worst.max(e);
                        checked += 1;
                    }
                    Err(e) => failure = Some(e.0),
                }
            }
            let how = if assuming.is_empty() {
                "against the loss differentiated numerically"
            } else {
                "against the unassumed result with the assumptions substituted, its adjoints by the unassumed equations with them substituted"
            };
            let passed = checked > 0 && worst < TOLERANCE;
            out.push(Check {
                what,
                line: req.line,
                error: Some(worst),
                passed,
                how: match (&failure, checked) {
                    (Some(f), 0) => format!("could not be evaluated: {f}"),
                    _ => format!("{how}, {checked} instances"),
                },
            });
        }
    }
    out
}

/// A derived value and the value it is checked against, where both are
/// finite: a comparison with a value that is not (a root of a negative
/// number on this instance) checks nothing.
fn finite((got, want): (Mat, Mat)) -> Result<(Mat, Mat), EvalError> {
    if got.is_finite() && want.is_finite() {
        Ok((got, want))
    } else {
        Err(EvalError("a value is not finite at this instance".into()))
    }
}

/// Index values at which update maps are checked: the start of every
/// range, where the state is drawn at random rather than computed, so that
/// its parts are independent inputs of the step.
pub(crate) fn at_start(model: &Model, inst: &Instance<'_>) -> Vec<Option<i64>> {
    (0..model.indices.len() as u32)
        .map(|i| Some(inst.range(i).0))
        .collect()
}

/// The largest relative error of an inverse: each solved previous value
/// against the forward pass that produced the next state from it.
pub fn inverse_error(
    model: &Model,
    eqs: &[Derived],
    inst: &Instance<'_>,
) -> Result<f64, EvalError> {
    let forward = Forward::new(inst, None);
    let b = at_start(model, inst);
    let mut worst: f64 = 0.0;
    for d in eqs {
        let lhs = match &d.lhs {
            Lhs::Expr(e) => e,
            _ => return Err(EvalError("not an inverse equation".into())),
        };
        let rhs = rhs_expr(d).ok_or_else(|| EvalError("not an expression".into()))?;
        let want = forward.eval(lhs, &b)?;
        let got = forward.eval(rhs, &b)?;
        if !got.is_finite() || !want.is_finite() {
            return Err(EvalError("a value is not finite at this instance".into()));
        }
        worst = worst.max(rel_error(&got, &want));
    }
    Ok(worst)
}

/// The index values at which a Jacobian of the values `of` is checked:
/// those where the model computes every one of them by its equation (a
/// two-step recurrence `theta[k+2] = ...` does not compute `theta[k+1]` at
/// the start), the first three from the start of the ranges, so that a
/// result right at one step only does not pass; a later one only where its
/// values are moderate in size. The start of every range where no position
/// qualifies.
pub fn jacobian_points(
    model: &Model,
    of: &[crate::ir::Ref],
    inst: &Instance<'_>,
) -> Vec<Vec<Option<i64>>> {
    let n = model.indices.len() as u32;
    let span = (0..n)
        .map(|i| inst.range(i).1 - inst.range(i).0)
        .max()
        .unwrap_or(0)
        .max(0);
    let computes = |b: &[Option<i64>]| {
        of.iter()
            .all(|r| Evaluator::tuple(inst, &r.at, b).is_ok_and(|at| inst.computed(r.var, &at)))
    };
    // A later step whose values have grown large (a map iterated from
    // random values) would check the finite differences' rounding, not
    // the Jacobian: only the first point is kept regardless.
    let forward = Forward::new(inst, None);
    let moderate = |b: &[Option<i64>]| {
        of.iter().all(|r| {
            forward
                .reference(r, b)
                .is_ok_and(|m| m.is_finite() && m.max_abs() < 1e3)
        })
    };
    let mut all: Vec<Vec<Option<i64>>> = (0..=span)
        .map(|s| {
            (0..n)
                .map(|i| {
                    let (lo, hi) = inst.range(i);
                    Some(lo + s.min(hi - lo))
                })
                .collect::<Vec<_>>()
        })
        .filter(|b| computes(b))
        .collect();
    all.dedup();
    let mut out: Vec<Vec<Option<i64>>> = Vec::new();
    for b in all {
        if out.is_empty() || moderate(&b) {
            out.push(b);
        }
        if out.len() == 3 {
            break;
        }
    }
    if out.is_empty() {
        out.push(at_start(model, inst));
    }
    out
}

/// The Jacobian of the values `of` by the values `wrt` at index values `b`
/// by five-point central differences of the forward pass. Each value of
/// `wrt` moves while the others are held at their values, even where the
/// model computes one from another.
pub fn jacobian_fd(
    of: &[crate::ir::Ref],
    wrt: &[crate::ir::Ref],
    inst: &Instance<'_>,
    b: &[Option<i64>],
) -> Result<Mat, EvalError> {
    let base = Forward::new(inst, None);
    let value = |f: &Forward<'_>, r: &crate::ir::Ref| f.reference(r, b);
    let (rows, sides) = crate::eval::kinks::sides(|| {
        of.iter()
            .map(|r| value(&base, r).map(|m| m.len()))
            .collect::<Result<Vec<usize>, _>>()
    });
    let rows = rows?;
    let cols: Vec<usize> = wrt
        .iter()
        .map(|r| value(&base, r).map(|m| m.len()))
        .collect::<Result<_, _>>()?;
    let mut held = HashMap::default();
    for w in wrt {
        let at = Evaluator::tuple(inst, &w.at, b)?;
        let v = base.value(w.var, &at)?;
        held.insert((w.var, at), v);
    }
    // The five-point difference at step `h`.
    let estimate = |h: f64| -> Result<Mat, EvalError> {
        let mut out = Mat::zeros(rows.iter().sum(), cols.iter().sum());
        let mut c0 = 0;
        for (w, &nc) in wrt.iter().zip(&cols) {
            let at = Evaluator::tuple(inst, &w.at, b)?;
            for entry in 0..nc {
                let shifted = |delta: f64| -> Result<Vec<Mat>, EvalError> {
                    let f = Forward::holding(
                        inst,
                        held.clone(),
                        Some(Perturb::Var {
                            var: w.var,
                            at: at.clone(),
                            entry,
                            delta,
                        }),
                    );
                    let (values, moved) =
                        crate::eval::kinks::sides(|| of.iter().map(|r| value(&f, r)).collect());
                    if moved != sides {
                        return Err(EvalError(crate::eval::KINK_CROSSED.into()));
                    }
                    values
                };
                let (p2, p1, m1, m2) = (
                    shifted(2.0 * h)?,
                    shifted(h)?,
                    shifted(-h)?,
                    shifted(-2.0 * h)?,
                );
                let mut r0 = 0;
                for (k, &nr) in rows.iter().enumerate() {
                    for i in 0..nr {
                        let d = (-p2[k].entries()[i] + 8.0 * p1[k].entries()[i]
                            - 8.0 * m1[k].entries()[i]
                            + m2[k].entries()[i])
                            / (12.0 * h);
                        out.set(r0 + i, c0 + entry, d);
                    }
                    r0 += nr;
                }
            }
            c0 += nc;
        }
        Ok(out)
    };
    // Near a point where the step is ill-conditioned (a root of a value
    // close to zero) the difference does not settle: a step four times
    // smaller gives another value. Such an instance checks nothing, and
    // says so, rather than failing a right Jacobian.
    const H: f64 = 1e-3;
    let out = estimate(H)?;
    let finer = estimate(H / 4.0)?;
    if rel_error(&out, &finer) > TOLERANCE / 10.0 {
        return Err(EvalError(
            "the finite differences do not settle at this instance (a step four times smaller changes them)".into(),
        ));
    }
    Ok(out)
}

/// Where a step of a claim about a Jacobian or its determinant has the
/// claim's assumptions in its form (the claim itself, its last step): the
/// Jacobian's request, the assumptions, and the form derived before it,
/// which the claim equals once they are substituted.
/// `k` numbers the answer in `key` (the script's own, not
/// [`claims_as_requests`]).
pub(crate) fn assumed_map_step<'k>(
    key: &'k AnswerKey,
    k: usize,
    step: &StepOf,
) -> Option<(usize, &'k [Assumption], RecExpr<Node>)> {
    let a = key.answers.get(k)?;
    let (jac, assuming) = match &key.model.requests.get(a.request)?.kind {
        RequestKind::Expect {
            lhs: crate::model::Claim::Jacobian(j) | crate::model::Claim::Det(j),
            assuming,
            ..
        } if !assuming.is_empty() => (*j, assuming.as_slice()),
        _ => return None,
    };
    if !step.claim {
        return None;
    }
    // The steps of a Jacobian hold without the assumptions; the claim,
    // the last step, follows the derived form.
    let before = a.steps.first()?.get(step.number.checked_sub(2)?)?;
    match &before.rhs {
        Rhs::Expr(e) => Some((jac, assuming, e.clone())),
        _ => None,
    }
}

/// The largest relative difference between a step of
/// [`assumed_map_step`] and the form derived before the assumptions, both
/// with them substituted, at the points of [`jacobian_points`]; and the
/// point where it is.
pub(crate) fn assumed_step_error(
    model: &Model,
    inst: &Instance<'_>,
    d: &Derived,
    (jac, assuming, before): (usize, &[Assumption], RecExpr<Node>),
) -> Result<(f64, Vec<Option<i64>>), EvalError> {
    let (Some(rhs), Some(RequestKind::Jacobian { of, .. })) =
        (rhs_expr(d), model.requests.get(jac).map(|r| &r.kind))
    else {
        return Err(EvalError("not a Jacobian's step".into()));
    };
    let subst = Assumption::substitution(assuming);
    let forward = Forward::assuming(inst, subst.clone());
    let ev = Evaluator {
        forward: &forward,
        adjoints: &RandomAdjoints::new(inst, BTreeSet::new()),
        assumed: &subst,
    };
    let mut worst = (0.0, Vec::new());
    for b in jacobian_points(model, of, inst) {
        let (got, want) = finite((ev.eval(rhs, &b)?, ev.eval(&before, &b)?))?;
        let e = rel_error(&got, &want);
        if e >= worst.0 {
            worst = (e, b);
        }
    }
    Ok(worst)
}

/// The value of a derived matrix or determinant at index values `b`.
pub fn value_at(d: &Derived, inst: &Instance<'_>, b: &[Option<i64>]) -> Result<Mat, EvalError> {
    let rhs = rhs_expr(d).ok_or_else(|| EvalError("not an expression".into()))?;
    Forward::new(inst, None).eval(rhs, b)
}

/// Instances with every dim set to `n`, for checks that must hold for more
/// than one size (a wrong exponent of a dim must fail).
pub fn sized(model: &Model, n: i64, seed: u64) -> Option<Instance<'_>> {
    Instance::new(model, vec![n; model.dims.len()], seed).ok()
}

/// A Jacobian's values on one instance, each with the index values it is
/// at (see [`jacobian_points`]).
type AtPoints = Vec<(Vec<Option<i64>>, Mat)>;

/// Checks every inverse, Jacobian and determinant of an answer key.
pub fn verify_update_maps(key: &AnswerKey, seeds: &[u64]) -> Vec<Check> {
    let model = &key.model;
    let mut insts: Vec<Instance<'_>> = Vec::new();
    for (k, &s) in seeds.iter().enumerate() {
        // Dims of different sizes, each dim taking every size 2 to 4 over
        // the seeds: a block rule that needs two dims equal fails here.
        let dims: Vec<i64> = (0..model.dims.len())
            .map(|d| 2 + ((d + k) % 3) as i64)
            .collect();
        // On every other seed the state is drawn positive, so that a map
        // defined only there (a root of an accumulator) has points.
        insts.extend(Instance::new(model, dims, s).ok().map(|i| {
            if s % 2 == 1 {
                i.with_positive_states()
            } else {
                i
            }
        }));
    }
    let mut out = Vec::new();
    // Each Jacobian's values, one list per instance (empty where it could
    // not be checked), so that a determinant meets its own instance's.
    let mut matrices: HashMap<usize, Vec<AtPoints>> = HashMap::default();
    // The derivations a claim shows are checked as the results they name.
    let alt = claims_as_requests(key);
    let mut number = 0;
    for (a, step) in with_steps(&alt) {
        number += usize::from(step.is_none());
        let Some(req) = alt.model.requests.get(a.request) else {
            continue;
        };
        // A request not answered has nothing to check (the run reports
        // it); an empty inverse would otherwise pass its round trip.
        if a.refused.is_some() || a.equations.is_empty() {
            continue;
        }
        let mut worst: f64 = 0.0;
        let mut failure: Option<String> = None;
        let mut checked = 0;
        let under = step
            .as_ref()
            .and_then(|s| assumed_map_step(key, number - 1, s));
        let (what, how) = match (&req.kind, under) {
            (RequestKind::Jacobian { .. } | RequestKind::Det { .. }, Some(under)) => {
                for inst in &insts {
                    match assumed_step_error(model, inst, &a.equations[0], under.clone()) {
                        Ok((e, _)) => {
                            worst = worst.max(e);
                            checked += 1;
                        }
                        Err(e) => failure = Some(e.0),
                    }
                }
                (
                    match &req.kind {
                        RequestKind::Jacobian { name, .. } => name.clone(),
                        _ => "det".to_owned(),
                    },
                    "against the form derived before the claim's assumptions, with them substituted",
                )
            }
            (kind, _) => match kind {
                RequestKind::Inverse => {
                    for inst in &insts {
                        match inverse_error(model, &a.equations, inst) {
                            Ok(e) => {
                                worst = worst.max(e);
                                checked += 1;
                            }
                            Err(e) => failure = Some(e.0),
                        }
                    }
                    ("inverse".to_owned(), "round trip through a forward step")
                }
                RequestKind::Jacobian { name, of, wrt } => {
                    let Some(d) = a.equations.first() else {
                        continue;
                    };
                    let mut values = Vec::new();
                    for inst in &insts {
                        let mut at_points = Vec::new();
                        for b in jacobian_points(model, of, inst) {
                            let r = value_at(d, inst, &b)
                                .and_then(|got| {
                                    jacobian_fd(of, wrt, inst, &b).map(|want| (got, want))
                                })
                                .and_then(finite);
                            match r {
                                Ok((got, want)) => {
                                    worst = worst.max(rel_error(&got, &want));
                                    at_points.push((b, got));
                                }
                                Err(e) => failure = Some(e.0),
                            }
                        }
                        checked += usize::from(!at_points.is_empty());
                        values.push(at_points);
                    }
                    // The determinant is checked against the Jacobian's own
                    // values, not a step's.
                    if step.is_none() {
                        matrices.insert(a.request, values);
                    }
                    (
                        name.clone(),
                        "against finite differences of the forward step",
                    )
                }
                RequestKind::Det { of } => {
                    let Some(d) = a.equations.first() else {
                        continue;
                    };
                    let empty = Vec::new();
                    let js = matrices.get(of).unwrap_or(&empty);
                    for (inst, js) in insts.iter().zip(js) {
                        let mut any = false;
                        for (b, j) in js {
                            let r = value_at(d, inst, b)
                                .and_then(|got| j.det().map(|want| (got, Mat::scalar(want))))
                                .and_then(finite);
                            match r {
                                Ok((got, want)) => {
                                    worst = worst.max(rel_error(&got, &want));
                                    any = true;
                                }
                                Err(e) => failure = Some(e.0),
                            }
                        }
                        checked += usize::from(any);
                    }
                    (
                        "det".to_owned(),
                        "against the numeric determinant of the Jacobian, dims of different sizes",
                    )
                }
                // Checked by `verify_adjoints`, `verify_counts`, or (claims)
                // by the proof's own numeric evidence.
                RequestKind::Adjoints { .. }
                | RequestKind::Grad { .. }
                | RequestKind::CountParams
                | RequestKind::CountMacs(_)
                | RequestKind::Depth(_)
                | RequestKind::Expect { .. } => continue,
            },
        };
        out.push(Check {
            what: StepOf::label(step.as_ref(), what),
            line: req.line,
            error: Some(worst),
            passed: checked > 0 && worst < TOLERANCE,
            how: match (&failure, checked) {
                (Some(f), 0) => format!("could not be evaluated: {f}"),
                (Some(f), _) => format!("{how}, {checked} instances (one or more left out: {f})"),
                _ => format!("{how}, {checked} instances"),
            },
        });
    }
    out
}

/// The request for the result a claim names (`expect bar(c[t]) = ...`
/// names what `derive adjoints` gives), where the answer is a claim.
fn named_request(key: &AnswerKey, a: &crate::key::Answer) -> Option<RequestKind> {
    use crate::model::{Claim, RequestKind as K};
    let K::Expect {
        lhs,
        assuming,
        sums,
        ..
    } = &key.model.requests.get(a.request)?.kind
    else {
        return None;
    };
    Some(match lhs {
        Claim::Adjoint(t) if key.model.is_gradient(t) => K::Grad {
            target: t.clone(),
            assuming: assuming.clone(),
            sums: sums.clone(),
        },
        Claim::Adjoint(_) => K::Adjoints {
            assuming: assuming.clone(),
            sums: sums.clone(),
        },
        Claim::Jacobian(k) => key.model.requests.get(*k)?.kind.clone(),
        Claim::Det(k) => K::Det { of: *k },
        Claim::Inverse(_) => K::Inverse,
        Claim::Params => K::CountParams,
        Claim::Macs(r) => K::CountMacs(r.clone()),
        Claim::Depth(r) => K::Depth(r.clone()),
    })
}

/// The key with each `expect` that shows its derivation read as the
/// request for the result it names (`expect bar(c[t]) = ...` as `derive
/// adjoints`), so that the derived result and every step of it are
/// checked like that request's.
pub fn claims_as_requests(key: &AnswerKey) -> std::borrow::Cow<'_, AnswerKey> {
    let shows = |a: &crate::key::Answer| !a.equations.is_empty() && a.verdict.is_some();
    if !key.answers.iter().any(shows) {
        return std::borrow::Cow::Borrowed(key);
    }
    let mut out = key.clone();
    for a in key.answers.iter().filter(|a| shows(a)) {
        if let Some(kind) = named_request(key, a) {
            out.model.requests[a.request].kind = kind;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The key with each `expect` replaced by the result it was judged
/// against, as the request that names it (shown or not, without steps).
pub fn named_results(key: &AnswerKey) -> AnswerKey {
    let mut out = key.clone();
    for a in &mut out.answers {
        if a.named.is_empty() {
            continue;
        }
        if let Some(kind) = named_request(key, a) {
            out.model.requests[a.request].kind = kind;
            a.equations = std::mem::take(&mut a.named);
            a.steps.clear();
            a.verdict = None;
        }
    }
    out
}

/// The seeds `deriv verify` uses.
pub const SEEDS: &[u64] = &[1, 2, 3, 4];

/// Every numeric check of an answer key, in script order.
pub fn verify_all(orig: &AnswerKey) -> Vec<Check> {
    let key = &claims_as_requests(orig);
    let mut checks = verify_adjoints(key, SEEDS);
    checks.extend(verify_update_maps(orig, SEEDS));
    checks.extend(verify_counts(key));
    checks.sort_by_key(|c| c.line);
    checks
}

/// The checks as a table, one row per result, and a closing line.
pub fn report(script: &str, checks: &[Check]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "deriv verify: {script}");
    let width = checks
        .iter()
        .map(|c| c.what.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "  {:<5} {:<width$}  {:<14}  {:<6}  how",
        "line", "result", "max rel. error", "check"
    );
    for c in checks {
        let err = match c.error {
            Some(e) => format!("{e:.1e}"),
            None => "exact".to_owned(),
        };
        let verdict = if c.passed { "pass" } else { "FAIL" };
        let _ = writeln!(
            out,
            "  {:<5} {:<width$}  {:<14}  {:<6}  {}",
            c.line, c.what, err, verdict, c.how
        );
    }
    let failed = checks.iter().filter(|c| !c.passed).count();
    let _ = writeln!(
        out,
        "{} checks: {} passed, {} failed",
        checks.len(),
        checks.len() - failed,
        failed
    );
    out
}
