//! Adjoints evaluated by given adjoint equations rather than by the loss.

use super::{Adjoints, EvalError, Evaluator, Forward, Mat, Result};
use crate::ir::{Ix, Node, Ref, Target};
use crate::model::Model;
use egg::RecExpr;
use rustc_hash::FxHashMap as HashMap;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

/// Adjoints by the adjoint equations given, each evaluated once, at the
/// position it is read at: the equation of a fixed step there, else the
/// general one, its adjoints in turn evaluated the same way, from the last
/// step back. The adjoints of the variables in `zero`, and of values the
/// model does not compute, are zero.
///
/// Under an assumption about a value (`o[t] = 0`), these are the adjoints
/// a claim speaks of: the equations with the assumption substituted, which
/// are not the model's (every `bar(c[t])` of an LSTM is zero under it).
/// Without one, and with equations that hold, they are the model's.
pub struct SolvedAdjoints<'a> {
    forward: &'a Forward<'a>,
    equations: &'a [(Ref, RecExpr<Node>)],
    assumed: &'a [(u32, RecExpr<Node>)],
    zero: &'a BTreeSet<u32>,
    memo: RefCell<HashMap<(u32, Vec<i64>), Mat>>,
    /// The adjoints being evaluated, to say so rather than loop were
    /// the equations ever circular.
    busy: RefCell<BTreeSet<(u32, Vec<i64>)>>,
    /// Whether every adjoint was evaluated once already, from the last
    /// position back, so that a later one is read from `memo` and the
    /// evaluation of one does not recurse through every step.
    warm: Cell<bool>,
}

impl<'a> SolvedAdjoints<'a> {
    /// The adjoints of `equations` on `forward`, with the variables of
    /// `assumed` replaced as in [`Evaluator::assumed`].
    pub fn new(
        forward: &'a Forward<'a>,
        equations: &'a [(Ref, RecExpr<Node>)],
        assumed: &'a [(u32, RecExpr<Node>)],
        zero: &'a BTreeSet<u32>,
    ) -> SolvedAdjoints<'a> {
        SolvedAdjoints {
            forward,
            equations,
            assumed,
            zero,
            memo: RefCell::default(),
            busy: RefCell::default(),
            warm: Cell::new(false),
        }
    }

    /// Evaluates every adjoint with an equation, the latest positions
    /// first. A failure is left for the adjoint's own request to report.
    fn warm_up(&self) {
        self.warm.set(true);
        let inst = self.forward.instance();
        let vars: BTreeSet<u32> = self.equations.iter().map(|(l, _)| l.var).collect();
        let mut all: Vec<(Vec<i64>, u32)> = vars
            .iter()
            .flat_map(|&v| inst.domain(v).into_iter().map(move |p| (p, v)))
            .collect();
        all.sort_by(|a, b| b.cmp(a));
        for (at, v) in all {
            let _ = self.adjoint(&Target::Var(inst.model.plain_ref(v)), &at);
        }
    }

    /// The equation of `bar(var)` at `at`: that of a fixed step there,
    /// else the general one.
    fn equation(&self, var: u32, at: &[i64]) -> Option<&RecExpr<Node>> {
        let inst = self.forward.instance();
        let end = |i: u32| inst.range(i).1;
        let general = |l: &Ref| l.at.iter().all(|ix| matches!(ix, Ix::Rel(_, 0)));
        let of = || self.equations.iter().filter(|(l, _)| l.var == var);
        of().find(|(l, _)| !general(l) && Model::matches_step(l, at, &end))
            .or_else(|| of().find(|(l, _)| general(l)))
            .map(|(_, e)| e)
    }
}

impl Adjoints for SolvedAdjoints<'_> {
    fn adjoint(&self, target: &Target, at: &[i64]) -> Result<Mat> {
        let Target::Var(r) = target else {
            return Err(EvalError(
                "a parameter's gradient inside a claim is not evaluated under assumptions".into(),
            ));
        };
        let inst = self.forward.instance();
        let model = inst.model;
        let (rows, cols) = inst.size(r.var)?;
        if self.zero.contains(&r.var) || !inst.has_adjoint(r.var, at) {
            return Ok(Mat::zeros(rows, cols));
        }
        let key = (r.var, at.to_vec());
        if let Some(v) = self.memo.borrow().get(&key) {
            return Ok(v.clone());
        }
        if !self.warm.get() {
            self.warm_up();
            if let Some(v) = self.memo.borrow().get(&key) {
                return Ok(v.clone());
            }
        }
        let Some(rhs) = self.equation(r.var, at) else {
            return Err(EvalError(format!(
                "`bar({})` has no derived equation here",
                model.symbols.ref_text(r)
            )));
        };
        if !self.busy.borrow_mut().insert(key.clone()) {
            return Err(EvalError("the adjoint equations are circular".into()));
        }
        let ev = Evaluator {
            forward: self.forward,
            adjoints: self,
            assumed: self.assumed,
        };
        let mut b = vec![None; model.indices.len()];
        for (&i, &v) in model.vars[r.var as usize].indices.iter().zip(at) {
            b[i as usize] = Some(v);
        }
        let value = ev.eval(rhs, &b);
        self.busy.borrow_mut().remove(&key);
        let mut value = value?;
        // An equation that is a number (`0`) stands for every entry.
        if value.is_scalar() && (rows, cols) != (1, 1) {
            let c = value.as_scalar()?;
            value = Mat::from_fn(rows, cols, |_, _| c);
        }
        self.memo.borrow_mut().insert(key, value.clone());
        Ok(value)
    }
}
