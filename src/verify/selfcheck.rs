//! The self-check: before a key is printed, every result in it is
//! evaluated at one instance (dims of different sizes, a drawn number of
//! steps) against a numeric truth computed without the rewrite rules, and
//! every printed expression is read back and must be the value derived.
//! A result that fails is never printed as an answer: the key shows it as
//! an internal error, and the run exits 3.
//!
//! The truths: adjoints and gradients against the loss differentiated in
//! reverse mode on the evaluator; results under assumptions against the
//! unassumed results with the assumptions substituted (with the adjoints
//! free, those found to vanish zero, and again with every adjoint
//! evaluated by the unassumed equations); Jacobians against
//! finite differences of the step; determinants against the numeric
//! determinant; inverses by a round trip; counts and depths by brute force;
//! a `proven` claim against the derived form, with the true adjoints (under
//! assumptions about values, against the unassumed form with them
//! substituted, the adjoints evaluated by the unassumed equations with them
//! substituted, from the last step back).

use super::counts::{count_error, Count};
use super::{
    at_start, binding, inverse_error, jacobian_fd, jacobian_points, rhs_expr, target_of, TOLERANCE,
};
use crate::derive::adjoint::Adjoints as Deriver;
use crate::diag::Source;
use crate::egraph::ShapeTable;
use crate::eval::{
    positions, rel_error, EvalError, Evaluator, Forward, Instance, RandomAdjoints, SolvedAdjoints,
    TapeAdjoints,
};
use crate::ir::{Ix, Leaf, Node, Ref, Target};
use crate::key::{Answer, AnswerKey, Derived, Lhs, Verdict};
use crate::model::{Assumption, Claim, Claimed, Model, RequestKind};
use crate::print::{lhs_plain, plain};
use crate::Limits;
use egg::RecExpr;
use std::collections::BTreeSet;
use std::rc::Rc;

pub use crate::key::SelfCheckFailure as Failure;

/// The instance of the self-check: every dim a different small size (2, 3,
/// 4, then again), and undeclared ranges a drawn number of steps.
pub fn instance(model: &Model) -> Option<Instance<'_>> {
    let dims: Vec<i64> = (0..model.dims.len()).map(|k| 2 + (k % 3) as i64).collect();
    let steps = crate::eval::drawn_steps(model, SEED);
    Instance::with_steps(model, dims, steps, SEED).ok()
}

/// The self-check's seed: fixed, so that a key is the same on every run.
const SEED: u64 = 0x5e1f;

/// The points a result is evaluated at: every position where an adjoint's
/// variable is computed, or the start of every range for the other results.
fn points(model: &Model, inst: &Instance<'_>, d: &Derived) -> Vec<Vec<Option<i64>>> {
    match target_of(d) {
        Some(t @ Target::Var(_)) => {
            let indices = match &t {
                Target::Var(r) => model.vars[r.var as usize].indices.clone(),
                Target::Param(_) => Vec::new(),
            };
            positions(inst, &t)
                .into_iter()
                .map(|p| binding(model, &indices, &p))
                .collect()
        }
        Some(Target::Param(_)) => vec![vec![None; model.indices.len()]],
        None => vec![at_start(model, inst)],
    }
}

/// The largest relative difference between two forms over some points,
/// and the point where it is.
fn difference(
    ev: &Evaluator<'_>,
    a: &RecExpr<Node>,
    b: &RecExpr<Node>,
    points: &[Vec<Option<i64>>],
) -> Result<(f64, Vec<Option<i64>>), EvalError> {
    let mut worst = (0.0, Vec::new());
    for p in points {
        let (x, y) = (ev.eval(a, p)?, ev.eval(b, p)?);
        if !x.is_finite() || !y.is_finite() {
            return Err(EvalError("a value is not finite at this instance".into()));
        }
        let e = rel_error(&x, &y);
        if e > worst.0 {
            worst = (e, p.clone());
        }
    }
    Ok(worst)
}

/// The index values of a point, as words.
fn place(model: &Model, inst: &Instance<'_>, p: &[Option<i64>]) -> String {
    let mut parts: Vec<String> = model
        .dims
        .iter()
        .enumerate()
        .map(|(k, d)| format!("{} = {}", d.name, inst.dim(k as u32)))
        .collect();
    for (i, v) in p.iter().enumerate() {
        if let Some(v) = v {
            parts.push(format!("{} = {v}", model.symbols.index_name(i as u32)));
        }
    }
    parts.join(", ")
}

/// The indices an expression of this result may leave free, for reading
/// its printed form back.
fn free_indices(model: &Model, d: &Derived, kind: &RequestKind) -> Vec<u32> {
    let rel = |r: &Ref, out: &mut Vec<u32>| {
        for ix in r.at.iter() {
            if let Ix::Rel(i, _) = *ix {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    };
    let mut out = Vec::new();
    match &d.lhs {
        // A fixed step (`bar(h[T])`) binds no index: its right side may
        // sum over it.
        Lhs::Expr(e) => {
            if let Some(Node::Leaf(Leaf::Bar(Target::Var(r)) | Leaf::Var(r))) = e.as_ref().last() {
                rel(r, &mut out);
            }
        }
        Lhs::Matrix(_) | Lhs::Det(_) => {
            let jacobian = match kind {
                RequestKind::Det { of } => model.requests.get(*of).map(|r| &r.kind),
                other => Some(other),
            };
            if let Some(RequestKind::Jacobian { of, wrt, .. }) = jacobian {
                for r in of.iter().chain(wrt) {
                    rel(r, &mut out);
                }
            }
        }
        Lhs::Params | Lhs::Macs(_) | Lhs::Depth(_) => {}
    }
    out
}

/// Adjoint equations, each its variable's reference and right side.
type Equations = Rc<[(Ref, RecExpr<Node>)]>;

/// What the checks of one key share: the instance, its numeric truth
/// (made when first needed), and a deriver for unassumed references.
struct Checks<'k> {
    key: &'k AnswerKey,
    inst: &'k Instance<'k>,
    limits: &'k Limits,
    /// The forward pass of the instance, shared by every check.
    forward: Forward<'k>,
    truth: std::cell::OnceCell<Result<TapeAdjoints<'k>, EvalError>>,
    deriver: Option<Deriver<'k>>,
    /// Reads printed forms back, made once: the model's names are many.
    reader: std::cell::RefCell<Option<crate::check::Reader>>,
    /// The unassumed adjoint equations, derived when first needed (`None`
    /// where they cannot be).
    equations: Option<Option<Equations>>,
}

impl<'k> Checks<'k> {
    fn model(&self) -> &'k Model {
        &self.key.model
    }

    fn fail(&self, d: &Derived, why: String) -> Failure {
        Failure {
            what: lhs_plain(&d.lhs, &self.model().symbols),
            why,
        }
    }

    /// The true adjoints of the instance.
    fn truth(&self) -> Result<&TapeAdjoints<'k>, String> {
        let inst = self.inst;
        self.truth
            .get_or_init(|| TapeAdjoints::new(inst, BTreeSet::new()))
            .as_ref()
            .map_err(|e| format!("the loss cannot be differentiated numerically here: {e}"))
    }

    /// The printed form of a result, read back; for a result that is not
    /// an adjoint (those are read back against the truth, see
    /// [`Checks::adjoint`]), compared with the value derived.
    fn reads_back(
        &self,
        d: &Derived,
        kind: &RequestKind,
    ) -> Result<Option<RecExpr<Node>>, Failure> {
        let model = self.model();
        let Some(rhs) = rhs_expr(d) else {
            return Ok(None);
        };
        let text = plain::expr(&model.symbols, rhs);
        let source = Source::new("<printed>", text.clone());
        let bound = free_indices(model, d, kind);
        let read = {
            let mut reader = self.reader.borrow_mut();
            reader
                .get_or_insert_with(|| crate::check::Reader::new(model))
                .read(&source, &bound)
        };
        let (read, _) = read.map_err(|diag| {
            let message = diag.0.first().map_or(String::new(), |x| x.message.clone());
            self.fail(
                d,
                format!("its printed form `{text}` does not read back: {message}"),
            )
        })?;
        if target_of(d).is_some() {
            return Ok(Some(read));
        }
        let random = RandomAdjoints::new(self.inst, BTreeSet::new());
        let ev = Evaluator {
            forward: &self.forward,
            adjoints: &random,
            assumed: &[],
        };
        let pts = points(model, self.inst, d);
        match difference(&ev, rhs, &read, &pts) {
            Ok((e, p)) if e > TOLERANCE => Err(self.fail(
                d,
                format!(
                    "its printed form `{text}` reads back as another value (relative difference {e:.1e} at {})",
                    place(model, self.inst, &p)
                ),
            )),
            _ => Ok(Some(read)),
        }
    }

    /// An adjoint or gradient, as derived and as printed, against the true
    /// adjoints.
    fn adjoint(&self, d: &Derived, read: Option<&RecExpr<Node>>) -> Result<(), Failure> {
        let (Some(target), Some(rhs)) = (target_of(d), rhs_expr(d)) else {
            return Ok(());
        };
        let model = self.model();
        let inst = self.inst;
        let pts = points(model, inst, d);
        let what = lhs_plain(&d.lhs, &model.symbols);
        let truth = self.truth().map_err(|why| Failure {
            what: what.clone(),
            why,
        })?;
        let ev = Evaluator {
            forward: &self.forward,
            adjoints: truth,
            assumed: &[],
        };
        let indices = match &target {
            Target::Var(r) => model.vars[r.var as usize].indices.clone(),
            Target::Param(_) => Vec::new(),
        };
        let forms: Vec<(&RecExpr<Node>, &str)> = std::iter::once((rhs, "it"))
            .chain(read.map(|r| (r, "its printed form")))
            .collect();
        for (form, which) in forms {
            let mut worst = (0.0, Vec::new());
            for p in &pts {
                let at: Vec<i64> = indices
                    .iter()
                    .filter_map(|&i| p.get(i as usize).copied().flatten())
                    .collect();
                let got = ev.eval(form, p);
                let want = crate::eval::Adjoints::adjoint(truth, &target, &at);
                // A value that cannot be evaluated here (a singular
                // inverse, a logarithm of a negative) decides nothing.
                if let (Ok(x), Ok(y)) = (got, want) {
                    if x.is_finite() && y.is_finite() {
                        let e = rel_error(&x, &y);
                        if e > worst.0 {
                            worst = (e, p.clone());
                        }
                    }
                }
            }
            if worst.0 > TOLERANCE {
                return Err(Failure {
                    what,
                    why: format!(
                        "{which} disagrees with the loss differentiated numerically (relative difference {:.1e} at {})",
                        worst.0,
                        place(model, inst, &worst.1)
                    ),
                });
            }
        }
        Ok(())
    }

    /// A result under assumptions against the unassumed result with the
    /// assumptions substituted (`claim` for a proven claim's last step).
    fn assumed(
        &mut self,
        d: &Derived,
        read: Option<&RecExpr<Node>>,
        assuming: &[Assumption],
        all_assumed: &[Derived],
        claim: bool,
    ) -> Result<(), Failure> {
        let (Some(target), Some(rhs)) = (target_of(d), rhs_expr(d)) else {
            return Ok(());
        };
        let model = self.model();
        let Some(unassumed) = self.unassumed(&target) else {
            return Ok(());
        };
        let zero: BTreeSet<u32> = all_assumed
            .iter()
            .filter(|x| rhs_expr(x).is_some_and(crate::derive::adjoint::is_zero))
            .filter_map(|x| match target_of(x) {
                Some(Target::Var(r)) => Some(r.var),
                _ => None,
            })
            .collect();
        let random = RandomAdjoints::new(self.inst, zero);
        let subst = Assumption::substitution(assuming);
        // The values computed from an assumed one follow it, as a claim's
        // numbers and proofs take them.
        let forward = Forward::assuming(self.inst, subst.clone());
        let ev = Evaluator {
            forward: &forward,
            adjoints: &random,
            assumed: &subst,
        };
        let pts = points(model, self.inst, d);
        let forms = std::iter::once((rhs, "it")).chain(read.map(|r| (r, "its printed form")));
        // A derived form is one in the adjoints, right for any of their
        // values; a claim may write them out, so only the adjoints as the
        // equations give them (below) decide it.
        for (form, which) in forms.filter(|_| !claim) {
            if let Ok((e, p)) = difference(&ev, form, &unassumed, &pts) {
                if e > TOLERANCE {
                    return Err(self.fail(
                        d,
                        format!(
                            "{which} disagrees with the unassumed result with the assumptions substituted (relative difference {e:.1e} at {})",
                            place(model, self.inst, &p)
                        ),
                    ));
                }
            }
        }
        // The adjoints taken as zero above vanish in fact: with every
        // adjoint evaluated by the unassumed equations, the assumptions
        // substituted, the two still agree.
        if let Some((e, p)) = self.solved_difference(&forward, rhs, &unassumed, &subst, &pts) {
            return Err(self.fail(
                d,
                format!(
                    "it disagrees with the unassumed result with the assumptions substituted, the adjoints evaluated by the unassumed equations from the last step back (relative difference {e:.1e} at {})",
                    place(model, self.inst, &p)
                ),
            ));
        }
        Ok(())
    }

    /// The unassumed adjoint equations of the model.
    fn unassumed_equations(&mut self) -> Option<Equations> {
        if let Some(done) = &self.equations {
            return done.clone();
        }
        let (model, limits) = (self.model(), self.limits);
        // From the key where a request derived every adjoint without
        // assumptions (each such result is checked against the truth).
        let from_key = self.key.answers.iter().find(|a| {
            matches!(
                model.requests.get(a.request).map(|r| &r.kind),
                Some(RequestKind::Adjoints { assuming, sums }) if assuming.is_empty() && sums.is_empty()
            )
        });
        let found = match from_key {
            Some(a) => Some(crate::derive::expect::adjoint_equations(&a.equations).into()),
            None => {
                let deriver = self.deriver.get_or_insert_with(|| {
                    Deriver::new(model, Rc::new(ShapeTable::new(model)), limits)
                });
                deriver
                    .unassumed_equations(crate::diag::Span::default())
                    .ok()
                    .map(Into::into)
            }
        };
        self.equations = Some(found.clone());
        found
    }

    /// Where `a` and `b` differ beyond the tolerance at `pts`, with the
    /// variables of `subst` replaced and every adjoint evaluated by the
    /// unassumed equations with them replaced (see [`SolvedAdjoints`]):
    /// the largest difference and its point. `None` where they agree or
    /// cannot be evaluated.
    fn solved_difference(
        &mut self,
        forward: &Forward<'_>,
        a: &RecExpr<Node>,
        b: &RecExpr<Node>,
        subst: &[(u32, RecExpr<Node>)],
        pts: &[Vec<Option<i64>>],
    ) -> Option<(f64, Vec<Option<i64>>)> {
        let equations = self.unassumed_equations()?;
        let none = BTreeSet::new();
        let solved = SolvedAdjoints::new(forward, &equations, subst, &none);
        let ev = Evaluator {
            forward,
            adjoints: &solved,
            assumed: subst,
        };
        difference(&ev, a, b, pts)
            .ok()
            .filter(|(e, _)| *e > TOLERANCE)
    }

    /// The unassumed adjoint of a target: from the key when an earlier
    /// request derived it, otherwise derived here.
    fn unassumed(&mut self, target: &Target) -> Option<RecExpr<Node>> {
        let model = self.model();
        let from_key = self.key.answers.iter().find_map(|a| {
            let plain = matches!(
                &model.requests.get(a.request)?.kind,
                RequestKind::Adjoints { assuming, sums } | RequestKind::Grad { assuming, sums, .. } if assuming.is_empty() && sums.is_empty()
            );
            if !plain {
                return None;
            }
            a.equations
                .iter()
                .find(|d| target_of(d).as_ref() == Some(target))
                .and_then(|d| rhs_expr(d).cloned())
        });
        if from_key.is_some() {
            return from_key;
        }
        let limits = self.limits;
        let deriver = self
            .deriver
            .get_or_insert_with(|| Deriver::new(model, Rc::new(ShapeTable::new(model)), limits));
        let span = crate::diag::Span::default();
        let found = match target {
            t if model.is_gradient(t) => deriver.gradient(t, &[], span).ok().map(|a| a.derived),
            Target::Var(_) | Target::Param(_) => deriver.all(&[], span).ok().and_then(|all| {
                all.into_iter()
                    .map(|a| a.derived)
                    .find(|d| target_of(d).as_ref() == Some(target))
            }),
        };
        if let Some(form) = found.and_then(|d| rhs_expr(&d).cloned()) {
            return Some(form);
        }
        // A value at a fixed position without an equation of its own
        // (`bar(h[T])`): the general equation there, as the claim's
        // derivation takes it.
        let Target::Var(r) = target else {
            return None;
        };
        let equations = self.unassumed_equations()?;
        crate::derive::cases::adjoint_at_fixed(self.model(), r, &equations)
    }

    /// A proven claim against the derived form, with the true adjoints.
    fn proven(&mut self, a: &Answer) -> Result<(), Failure> {
        let model = self.model();
        let Some(req) = model.requests.get(a.request) else {
            return Ok(());
        };
        let RequestKind::Expect {
            lhs,
            rhs: Claimed::Expr(claim),
            assuming,
            sums,
            ..
        } = &req.kind
        else {
            return Ok(());
        };
        // One under assumptions about sums is checked where its derived
        // form is.
        let Claim::Adjoint(t) = lhs else {
            return Ok(());
        };
        if !sums.is_empty() {
            return Ok(());
        }
        // The derived form the claim was proven equal to is the unassumed
        // one (not one a request derived under assumptions), with the
        // assumptions substituted where the claim has them.
        let Some(form) = self.unassumed(t) else {
            return Ok(());
        };
        let d = Derived {
            lhs: Lhs::Expr(crate::derive::adjoint::leaf_expr(Leaf::Bar(t.clone()))),
            rhs: crate::key::Rhs::Expr(form.clone()),
        };
        // A value at a fixed position without an equation of its own: its
        // form is the general equation there, checked against the true
        // adjoint itself, as no request derives it.
        if let Target::Var(r) = t {
            if crate::derive::cases::at_fixed_without_equation(model, r) {
                self.adjoint(&d, None)?;
            }
        }
        let form = &form;
        // A claim under assumptions about values is compared with the
        // unassumed form, the assumptions substituted, its adjoints by the
        // unassumed equations with them substituted.
        if !assuming.is_empty() {
            let subst = Assumption::substitution(assuming);
            let pts = points(model, self.inst, &d);
            let forward = Forward::assuming(self.inst, subst.clone());
            return match self.solved_difference(&forward, claim, form, &subst, &pts) {
                Some((e, p)) => Err(Failure {
                    what: req.text.clone(),
                    why: format!(
                        "it was proven, but the claim and the unassumed form with the assumptions substituted differ, the adjoints evaluated by the unassumed equations from the last step back (relative difference {e:.1e} at {})",
                        place(model, self.inst, &p)
                    ),
                }),
                None => Ok(()),
            };
        }
        let inst = self.inst;
        let truth = self.truth().map_err(|why| Failure {
            what: req.text.clone(),
            why,
        })?;
        let ev = Evaluator {
            forward: &self.forward,
            adjoints: truth,
            assumed: &[],
        };
        let pts = points(model, inst, &d);
        match difference(&ev, form, claim, &pts) {
            Ok((e, p)) if e > TOLERANCE => Err(Failure {
                what: req.text.clone(),
                why: format!(
                    "it was proven, but the claim and the derived form differ (relative difference {e:.1e} at {})",
                    place(model, inst, &p)
                ),
            }),
            _ => Ok(()),
        }
    }

    /// One answer, every check that applies to it; `unassumed` for a step
    /// before its request's assumptions are substituted (it holds without
    /// them).
    fn answer(&mut self, a: &Answer, unassumed: bool, claim: bool) -> Result<(), Failure> {
        let model = self.model();
        let Some(req) = model.requests.get(a.request) else {
            return Ok(());
        };
        // A claim's derived result (shown with its steps) is checked as
        // the request it names (see `claims_as_requests`).
        let mut read = Vec::new();
        if !matches!(req.kind, RequestKind::Expect { .. }) {
            for d in &a.equations {
                read.push(self.reads_back(d, &req.kind)?);
            }
        }
        match &req.kind {
            RequestKind::Adjoints { assuming, .. } | RequestKind::Grad { assuming, .. } => {
                if assuming.is_empty() || unassumed {
                    for (d, r) in a.equations.iter().zip(&read) {
                        self.adjoint(d, r.as_ref())?;
                    }
                } else {
                    let all = self.all_assumed(a, assuming);
                    for (d, r) in a.equations.iter().zip(&read) {
                        self.assumed(d, r.as_ref(), assuming, &all, claim)?;
                    }
                }
            }
            RequestKind::Jacobian { of, wrt, .. } => {
                if let Some(d) = a.equations.first() {
                    self.jacobian(d, of, wrt)?;
                }
            }
            RequestKind::Det { of } => {
                if let Some(d) = a.equations.first() {
                    self.det(d, *of)?;
                }
            }
            RequestKind::Inverse => {
                if let Ok(e) = inverse_error(model, &a.equations, self.inst) {
                    if e > TOLERANCE {
                        return Err(Failure {
                            what: "inverse".to_owned(),
                            why: format!(
                                "the previous state it gives does not lead to the next state (relative difference {e:.1e})"
                            ),
                        });
                    }
                }
            }
            RequestKind::CountParams | RequestKind::CountMacs(_) | RequestKind::Depth(_) => {
                let n = model.dims.len();
                let settings: Vec<Vec<i64>> = vec![
                    (0..n).map(|k| 2 + (k % 3) as i64).collect(),
                    (0..n).map(|k| 4 - (k % 3) as i64).collect(),
                ];
                let Some(count) = Count::of(&req.kind) else {
                    return Ok(());
                };
                for d in &a.equations {
                    if let Some(p) = d.rhs.total() {
                        if let Err(why) = count_error(model, count, &p, &settings) {
                            return Err(self.fail(d, why));
                        }
                    }
                }
            }
            RequestKind::Expect { .. } => {
                if matches!(a.verdict, Some(Verdict::Proven)) {
                    self.proven(a)?;
                }
            }
        }
        Ok(())
    }

    /// Checks the result claim `k` was judged against (answer `k` of
    /// `named`, see [`super::named_results`]), but for what an earlier
    /// answer that passed holds already: one of its equations for
    /// adjoints, which are checked one by one, or all of them.
    fn named(&mut self, named: &AnswerKey, k: usize, passed: &[usize]) -> Result<(), Failure> {
        let Some(a) = named.answers.get(k) else {
            return Ok(());
        };
        let kind_of = |a: &Answer| {
            named
                .model
                .requests
                .get(a.request)
                .map(|r| format!("{:?}", r.kind))
        };
        let kind = kind_of(a);
        let earlier: Vec<&Answer> = passed
            .iter()
            .filter(|&&j| j < k)
            .filter_map(|&j| named.answers.get(j))
            .filter(|b| kind_of(b) == kind)
            .collect();
        let alone = matches!(
            named.model.requests.get(a.request).map(|r| &r.kind),
            Some(RequestKind::Adjoints { .. } | RequestKind::Grad { .. })
        );
        let left: Vec<Derived> = if alone {
            a.equations
                .iter()
                .filter(|d| !earlier.iter().any(|b| b.equations.contains(d)))
                .cloned()
                .collect()
        } else if earlier.iter().any(|b| b.equations == a.equations) {
            Vec::new()
        } else {
            a.equations.clone()
        };
        if left.is_empty() {
            return Ok(());
        }
        let a = Answer {
            equations: left,
            ..a.clone()
        };
        self.answer(&a, false, false).map_err(|f| Failure {
            why: format!("{}, so the claim is not judged against it", f.why),
            ..f
        })
    }

    /// Every adjoint under the request's assumptions, from the key (the
    /// zero ones feed the others).
    fn all_assumed(&mut self, own: &Answer, assuming: &[Assumption]) -> Vec<Derived> {
        let model = self.model();
        let own_sums = model
            .requests
            .get(own.request)
            .map_or(&[][..], |r| r.kind.sums());
        let same = |a: &&Answer| {
            a.request == own.request
                || matches!(
                    &model.requests.get(a.request).map(|r| &r.kind),
                    Some(RequestKind::Adjoints { assuming: x, sums }) if x.len() == assuming.len()
                        && sums == own_sums
                        && x.iter().zip(assuming).all(|(p, q)| p.target == q.target && p.value == q.value)
                )
        };
        let mut found: Vec<Derived> = self
            .key
            .answers
            .iter()
            .filter(same)
            .flat_map(|a| a.equations.iter().cloned())
            .collect();
        // Where the key does not hold every adjoint under these
        // assumptions (a gradient or a claim asked alone), they are derived
        // here: the ones that vanish feed the others.
        let covered = |v: u32| {
            found
                .iter()
                .any(|d| matches!(target_of(d), Some(Target::Var(r)) if r.var == v))
        };
        let defined = (0..model.vars.len() as u32).filter(|&v| {
            matches!(
                model.vars[v as usize].kind,
                crate::model::VarKind::Defined(_)
            )
        });
        if !defined.into_iter().all(covered) {
            let limits = self.limits;
            let deriver = self.deriver.get_or_insert_with(|| {
                Deriver::new(model, Rc::new(ShapeTable::new(model)), limits)
            });
            if let Ok(all) = deriver.all(assuming, crate::diag::Span::default()) {
                found.extend(all.into_iter().map(|a| a.derived));
            }
        }
        found
    }

    /// A Jacobian against finite differences of the step, at every point
    /// of [`jacobian_points`].
    fn jacobian(&self, d: &Derived, of: &[Ref], wrt: &[Ref]) -> Result<(), Failure> {
        let model = self.model();
        let Some(rhs) = rhs_expr(d) else {
            return Ok(());
        };
        for b in jacobian_points(model, of, self.inst) {
            let Ok(want) = jacobian_fd(of, wrt, self.inst, &b) else {
                continue;
            };
            let Ok(got) = self.forward.eval(rhs, &b) else {
                return Err(self.fail(d, "it cannot be evaluated".to_owned()));
            };
            let e = rel_error(&got, &want);
            if e > TOLERANCE {
                return Err(self.fail(
                    d,
                    format!(
                        "it disagrees with finite differences of the step (relative difference {e:.1e} at {})",
                        place(model, self.inst, &b)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A determinant against the numeric determinant of its Jacobian, at
    /// every point of [`jacobian_points`].
    fn det(&self, d: &Derived, of: usize) -> Result<(), Failure> {
        let model = self.model();
        let Some(j) = self
            .key
            .answers
            .iter()
            .find(|a| a.request == of)
            .and_then(|a| a.equations.first())
            .and_then(rhs_expr)
        else {
            return Ok(());
        };
        let (Some(rhs), Some(RequestKind::Jacobian { of: ys, wrt, .. })) =
            (rhs_expr(d), model.requests.get(of).map(|r| &r.kind))
        else {
            return Ok(());
        };
        let forward = &self.forward;
        for b in jacobian_points(model, ys, self.inst) {
            // The determinant of the true Jacobian (the derived one is
            // checked on its own).
            let want = jacobian_fd(ys, wrt, self.inst, &b)
                .or_else(|_| forward.eval(j, &b))
                .and_then(|m| m.det());
            let got = forward.eval(rhs, &b).and_then(|m| m.as_scalar());
            if let (Ok(x), Ok(y)) = (got, want) {
                let e = rel_error(&crate::eval::Mat::scalar(x), &crate::eval::Mat::scalar(y));
                if e > TOLERANCE {
                    return Err(self.fail(
                        d,
                        format!(
                            "it is {x:.6} at {}, but the Jacobian's determinant is {y:.6}",
                            place(model, self.inst, &b)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Checks every answer of a key; the failures, by answer number.
pub fn self_check(key: &AnswerKey, limits: &Limits) -> Vec<(usize, Failure)> {
    let model = &key.model;
    let Some(inst) = instance(model) else {
        return Vec::new();
    };
    fn checks_for<'k>(
        key: &'k AnswerKey,
        inst: &'k Instance<'k>,
        limits: &'k Limits,
    ) -> Checks<'k> {
        Checks {
            key,
            inst,
            limits,
            forward: Forward::new(inst, None),
            truth: std::cell::OnceCell::new(),
            deriver: None,
            reader: std::cell::RefCell::new(None),
            equations: None,
        }
    }
    let mut checks = checks_for(key, &inst, limits);
    // The derivations an `expect` shows are checked as the results they
    // name (the claim itself as a claim).
    let alt = super::claims_as_requests(key);
    let mut alt_checks = match &alt {
        std::borrow::Cow::Owned(k) => Some(checks_for(k, &inst, limits)),
        std::borrow::Cow::Borrowed(_) => None,
    };
    // The results the claims were judged against, as the requests that
    // name them.
    let named_key = key
        .answers
        .iter()
        .any(|a| !a.named.is_empty())
        .then(|| super::named_results(key));
    let mut named = named_key
        .as_ref()
        .map(|k| (k, checks_for(k, &inst, limits)));
    let mut out = Vec::new();
    let mut number = 0;
    let mut failed_at: Option<usize> = None;
    // The answers whose results passed (their steps may still fail).
    let mut passed: Vec<usize> = Vec::new();
    for (a, step) in super::with_steps(&alt) {
        // The answer's number; its steps follow it.
        if step.is_none() {
            number += 1;
        }
        let k = number - 1;
        if failed_at == Some(k) {
            continue;
        }
        let unassumed = step.as_ref().is_some_and(|s| !s.assumed);
        let claim_step = step.as_ref().is_some_and(|s| s.claim);
        let a = a.as_ref();
        let claim = matches!(
            model.requests.get(a.request).map(|r| &r.kind),
            Some(RequestKind::Expect { .. })
        );
        let checks: &mut Checks<'_> = match (&mut alt_checks, claim && step.is_none()) {
            (Some(alt), false) => alt,
            _ => &mut checks,
        };
        // Under assumptions about sums, on the instance with its inputs
        // drawn with them.
        let sums = match checks.model().requests.get(a.request).map(|r| &r.kind) {
            // A claim draws its own instances (see `derive::expect`).
            Some(k @ (RequestKind::Adjoints { .. } | RequestKind::Grad { .. })) => k.sums(),
            _ => &[],
        };
        // A step of a claim about a Jacobian with the claim's assumptions
        // in its form.
        let under = step
            .as_ref()
            .and_then(|s| super::assumed_map_step(key, k, s));
        let checked = if let (Some(under), Some(d)) = (under, a.equations.first()) {
            match super::assumed_step_error(model, &inst, d, under) {
                Ok((e, p)) if e > TOLERANCE => Err(checks.fail(
                    d,
                    format!(
                        "it differs from the form derived before the assumptions, with them substituted (relative difference {e:.1e} at {})",
                        place(model, &inst, &p)
                    ),
                )),
                _ => Ok(()),
            }
        } else if sums.is_empty() {
            checks.answer(a, unassumed, claim_step)
        } else {
            let summed = inst.clone().with_sums(sums);
            checks_for(checks.key, &summed, limits).answer(a, unassumed, claim_step)
        };
        // A claim judged against a wrong result would be judged wrongly:
        // the result it names is checked too.
        let checked = match (checked, &mut named) {
            (Ok(()), Some((key, checks))) if claim && step.is_none() => {
                let sums = key
                    .model
                    .requests
                    .get(a.request)
                    .map_or(&[][..], |r| r.kind.sums());
                if sums.is_empty() {
                    checks.named(key, k, &passed)
                } else {
                    let summed = inst.clone().with_sums(sums);
                    checks_for(key, &summed, limits).named(key, k, &passed)
                }
            }
            (c, _) => c,
        };
        match checked {
            Err(mut f) => {
                if let Some(s) = &step {
                    f.what = super::StepOf::label(Some(s), f.what);
                }
                failed_at = Some(k);
                out.push((k, f));
            }
            Ok(()) if step.is_none() => passed.push(k),
            Ok(()) => {}
        }
    }
    out
}
