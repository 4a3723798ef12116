//! The numeric truth that derived results are checked against: adjoints
//! by finite differences of the loss, adjoints drawn at random (for
//! comparing two formulas as formulas), and the index values a result is
//! checked at. Nothing here reads a derivation; it sees only the model and
//! an instance.
//!
//! One convention is shared with every printed adjoint equation: the
//! adjoint of a value that the model does not compute there (a boundary
//! value, a state before its first step, a value past the end of its
//! range) is zero. A term of `bar(h[t])` that flows back from a consumer
//! outside its range is thereby zero where it must vanish.

use super::{loss_gradient, Adjoints, EvalError, Instance, Mat, Perturb, Rng};
use crate::ir::{Ix, Target};
use crate::model::Model;
use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::collections::BTreeSet;

/// True adjoints of an instance, by finite differences of the loss,
/// remembered; adjoints of the variables in `zero` are zero, and so is
/// every adjoint of a value the model does not compute (see the module
/// documentation).
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
            memo: RefCell::new(HashMap::default()),
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
                let (rows, cols) = self.inst.size(r.var)?;
                if self.zero.contains(&r.var) || !self.inst.has_adjoint(r.var, at) {
                    Mat::zeros(rows, cols)
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
                        (rows, cols),
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

/// Adjoint values drawn at random (zero for the variables in `zero`, and
/// for values the model does not compute): for comparing two formulas as
/// formulas, where the adjoints are free leaves.
pub struct RandomAdjoints<'i> {
    inst: &'i Instance<'i>,
    zero: BTreeSet<u32>,
}

impl<'i> RandomAdjoints<'i> {
    /// Random adjoints for `inst`.
    pub fn new(inst: &'i Instance<'i>, zero: BTreeSet<u32>) -> RandomAdjoints<'i> {
        RandomAdjoints { inst, zero }
    }
}

impl Adjoints for RandomAdjoints<'_> {
    fn adjoint(&self, target: &Target, at: &[i64]) -> Result<Mat, EvalError> {
        let (tag, (rows, cols)) = match target {
            Target::Var(r) => (i64::from(r.var), self.inst.size(r.var)?),
            Target::Param(p) => {
                let m = self.inst.param(*p)?;
                (-1 - i64::from(*p), (m.rows(), m.cols()))
            }
        };
        if matches!(target, Target::Var(r) if self.zero.contains(&r.var) || !self.inst.has_adjoint(r.var, at))
        {
            return Ok(Mat::zeros(rows, cols));
        }
        let mut tags = vec![5, tag];
        tags.extend_from_slice(at);
        Ok(Rng::new(self.inst.seed, &tags).mat(rows, cols))
    }
}

/// Every combination of index values over the given indices' ranges.
pub fn tuples(inst: &Instance<'_>, indices: &[u32]) -> Vec<Vec<i64>> {
    super::instance::product(indices.iter().map(|&i| inst.range(i)))
}

/// The positions at which a result about `target` is checked: every
/// position where the model computes the variable, or the one (empty)
/// position of a parameter's gradient.
pub fn positions(inst: &Instance<'_>, target: &Target) -> Vec<Vec<i64>> {
    match target {
        Target::Var(r) => {
            let end = |i: u32| inst.range(i).1;
            if inst.model.is_learned(r.var) {
                return tuples(inst, &inst.model.vars[r.var as usize].indices);
            }
            let mut all = inst.domain(r.var);
            if r.at.iter().all(|ix| matches!(ix, Ix::Rel(..))) {
                // The general equation holds everywhere but at the fixed
                // steps, which have their own.
                let steps = inst.model.fixed_steps(r.var);
                all.retain(|p| !steps.iter().any(|s| Model::matches_step(s, p, &end)));
            } else {
                all.retain(|p| Model::matches_step(r, p, &end));
            }
            all
        }
        Target::Param(_) => vec![Vec::new()],
    }
}
