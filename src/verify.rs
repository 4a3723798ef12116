//! Numeric verification of derived results on random instances: adjoints
//! and gradients against finite differences of the loss, and results under
//! assumptions against the unassumed results with the assumptions
//! substituted. The tests and `deriv verify` use the same checks.

use crate::derive::adjoint::{is_zero, Adjoints as Deriver};
use crate::derive::egraph::ShapeTable;
use crate::eval::{
    loss_gradient, rel_error, Adjoints, EvalError, Evaluator, Forward, Instance, Mat, Perturb,
};
use crate::ir::{Leaf, Node, Target};
use crate::key::{AnswerKey, Derived, Lhs, Rhs};
use crate::model::{Assumption, Model, RequestKind};
use crate::Limits;
use egg::RecExpr;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
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

/// True adjoints of an instance, by finite differences of the loss,
/// remembered; adjoints of the variables in `zero` are zero.
pub struct FdAdjoints<'i> {
    inst: &'i Instance<'i>,
    zero: BTreeSet<u32>,
    memo: RefCell<HashMap<(Target, Vec<i64>), Mat>>,
}

impl<'i> FdAdjoints<'i> {
    /// Finite-difference adjoints of `inst`.
    pub fn new(inst: &'i Instance<'i>, zero: BTreeSet<u32>) -> FdAdjoints<'i> {
        FdAdjoints {
            inst,
            zero,
            memo: RefCell::new(HashMap::new()),
        }
    }
}

impl Adjoints for FdAdjoints<'_> {
    fn adjoint(&self, target: &Target, at: &[i64]) -> Result<Mat, EvalError> {
        let key = (target.clone(), at.to_vec());
        if let Some(v) = self.memo.borrow().get(&key) {
            return Ok(v.clone());
        }
        let value = match target {
            Target::Var(r) => {
                let shape = Forward::new(self.inst, None).value(r.var, at)?;
                if self.zero.contains(&r.var) {
                    Mat::zeros(shape.rows(), shape.cols())
                } else {
                    let var = r.var;
                    let at = at.to_vec();
                    loss_gradient(
                        self.inst,
                        &|entry, delta| Perturb::Var {
                            var,
                            at: at.clone(),
                            entry,
                            delta,
                        },
                        (shape.rows(), shape.cols()),
                    )?
                }
            }
            Target::Param(p) => {
                let shape = self.inst.param(*p)?;
                let param = *p;
                loss_gradient(
                    self.inst,
                    &|entry, delta| Perturb::Param {
                        param,
                        entry,
                        delta,
                    },
                    (shape.rows(), shape.cols()),
                )?
            }
        };
        self.memo.borrow_mut().insert(key, value.clone());
        Ok(value)
    }
}

/// Every combination of index values over the given indices' ranges.
pub fn tuples(inst: &Instance<'_>, indices: &[u32]) -> Vec<Vec<i64>> {
    let mut out = vec![Vec::new()];
    for &i in indices {
        let (lo, hi) = inst.range(i);
        out = out
            .into_iter()
            .flat_map(|t| {
                (lo..=hi).map(move |v| {
                    let mut t = t.clone();
                    t.push(v);
                    t
                })
            })
            .collect();
    }
    out
}

fn binding(model: &Model, indices: &[u32], values: &[i64]) -> Vec<Option<i64>> {
    let mut b = vec![None; model.indices.len()];
    for (&i, &v) in indices.iter().zip(values) {
        b[i as usize] = Some(v);
    }
    b
}

/// The target of a derived adjoint's left side.
fn target_of(d: &Derived) -> Option<Target> {
    match &d.lhs {
        Lhs::Expr(e) => match e.as_ref().last() {
            Some(Node::Leaf(Leaf::Bar(t))) => Some(t.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn rhs_expr(d: &Derived) -> Option<&RecExpr<Node>> {
    match &d.rhs {
        Rhs::Expr(e) => Some(e),
        Rhs::Poly(_) => None,
    }
}

/// The largest relative error of a derived adjoint (or gradient) against
/// finite differences of the loss, over every index value of one instance.
pub fn adjoint_error(model: &Model, d: &Derived, inst: &Instance<'_>) -> Result<f64, EvalError> {
    let target = target_of(d).ok_or_else(|| EvalError("not an adjoint".into()))?;
    let rhs = rhs_expr(d).ok_or_else(|| EvalError("not an expression".into()))?;
    let fd = FdAdjoints::new(inst, BTreeSet::new());
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
    for t in tuples(inst, &indices) {
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
/// assumptions and the unassumed adjoint with the assumptions substituted
/// (assumed values for the variables, zero for the adjoints in `zero`).
pub fn assumed_error(
    model: &Model,
    assumed: &Derived,
    unassumed: &Derived,
    assuming: &[Assumption],
    zero: &BTreeSet<u32>,
    inst: &Instance<'_>,
) -> Result<f64, EvalError> {
    let target = target_of(assumed).ok_or_else(|| EvalError("not an adjoint".into()))?;
    let (a, u) = match (rhs_expr(assumed), rhs_expr(unassumed)) {
        (Some(a), Some(u)) => (a, u),
        _ => return Err(EvalError("not an expression".into())),
    };
    let fd = FdAdjoints::new(inst, zero.clone());
    let forward = Forward::new(inst, None);
    let subst: Vec<(u32, RecExpr<Node>)> = assuming
        .iter()
        .map(|x| (x.target.var, x.value.clone()))
        .collect();
    let ev = Evaluator {
        forward: &forward,
        adjoints: &fd,
        assumed: &subst,
    };
    let indices = match &target {
        Target::Var(r) => model.vars[r.var as usize].indices.clone(),
        Target::Param(_) => Vec::new(),
    };
    let mut worst: f64 = 0.0;
    for t in tuples(inst, &indices) {
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

/// Checks every adjoint and gradient of an answer key numerically.
pub fn verify_adjoints(key: &AnswerKey, seeds: &[u64]) -> Vec<Check> {
    let model = &key.model;
    let insts = instances(model, seeds);
    let limits = Limits::default();
    let mut deriver = Deriver::new(model, Rc::new(ShapeTable::new(model)), &limits);
    let mut out = Vec::new();
    for a in &key.answers {
        let Some(req) = model.requests.get(a.request) else {
            continue;
        };
        let assuming = match &req.kind {
            RequestKind::Adjoints { assuming } | RequestKind::Grad { assuming, .. } => assuming,
            _ => continue,
        };
        // Under assumptions, compare with the unassumed derivation.
        let zero: BTreeSet<u32> = a
            .equations
            .iter()
            .filter(|d| rhs_expr(d).is_some_and(is_zero))
            .filter_map(|d| match target_of(d) {
                Some(Target::Var(r)) => Some(r.var),
                _ => None,
            })
            .collect();
        for d in &a.equations {
            let what = crate::print::lhs_plain(&d.lhs, &model.symbols);
            let mut worst: f64 = 0.0;
            let mut failure = None;
            let reference = if assuming.is_empty() {
                None
            } else {
                match target_of(d) {
                    Some(Target::Param(p)) => {
                        deriver.gradient(p, &[], req.span).ok().map(|x| x.derived)
                    }
                    Some(Target::Var(r)) => deriver
                        .all(&[], req.span)
                        .ok()
                        .and_then(|all| {
                            all.into_iter()
                                .find(|x| target_of(&x.derived) == Some(Target::Var(r.clone())))
                        })
                        .map(|x| x.derived),
                    None => None,
                }
            };
            let mut checked = 0;
            for inst in &insts {
                let r = match &reference {
                    None => adjoint_error(model, d, inst),
                    Some(u) => assumed_error(model, d, u, assuming, &zero, inst),
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
                "against finite differences of the loss"
            } else {
                "against the unassumed result with the assumptions substituted"
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
