//! `expect lhs = rhs`: decides a claim about a derived result. It is
//! *proven* when the claim and the derived form meet in one e-graph under
//! the rewrite rules (plus commutativity, associativity and
//! distributivity); *refuted* when numeric evaluation separates them on some
//! instance, reported with the instance and the two values; otherwise *not
//! proven*, with the numeric evidence. A proof is never reported without
//! being found.
//!
//! Numeric checks use several seeds and several sizes of the dims, values
//! drawn away from 0 and 1, and a relative tolerance of 1e-6 that no term of
//! ordinary size can hide in.

use super::rhs_expr;
use super::scope::Scope;
use super::window::Window;
use crate::egraph::{run_until, ShapeTable};
use crate::eval::{
    positions, rel_error, Evaluator, Forward, Instance, Mat, RandomAdjoints, SolvedAdjoints,
    TapeAdjoints,
};
use crate::ir::analysis::Graph;
use crate::ir::{Ix, Leaf, Node, Ref, Target};
use crate::key::{Derived, Lhs, ProofKind, Rhs, RunStats, Verdict};
use crate::model::{Assumption, Claim, Claimed, Model, SumAssumption};
use crate::num::Rational;
use crate::poly::Poly;
use crate::rules;
use crate::Limits;
use egg::RecExpr;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::rc::Rc;

/// A procedure that takes a claim's determinants (block elimination, the
/// matrix determinant lemma, the product of a diagonal), where it applies.
type ClaimDet = fn(&RecExpr<Node>, &Model) -> Option<RecExpr<Node>>;

/// The largest relative difference that still counts as equal.
const TOLERANCE: f64 = 1e-6;

/// The most e-nodes and iterations a proof attempt may use.
const PROOF_NODES: usize = 20_000;
const PROOF_ITERS: usize = 16;

/// What deciding a claim needs from the session.
pub struct Context<'a> {
    /// The model.
    pub model: &'a Model,
    /// Its leaf shapes.
    pub shapes: &'a Rc<ShapeTable>,
    /// The e-graph limits.
    pub limits: &'a Limits,
    /// The adjoint equations under the claim's assumptions (empty when the
    /// claim mentions no adjoint): a proof may replace an adjoint by its
    /// derived equation, to `UNFOLD_LEVELS` levels.
    pub adjoints: &'a [Derived],
    /// Assumptions about sums of inputs' entries: the instances draw those
    /// inputs with that sum, and a proof may use it.
    pub sums: &'a [SumAssumption],
}

/// Decides one `expect`, with the statistics of the proof's e-graph runs
/// (none when the two forms are equal as built, or are polynomials).
pub fn decide(
    cx: &Context<'_>,
    claim: &Claim,
    derived: &[Derived],
    claimed: &Claimed,
    assuming: &[Assumption],
    zero: &BTreeSet<u32>,
) -> (Verdict, Vec<RunStats>, Option<ProofKind>) {
    match (claimed, derived.first().map(|d| &d.rhs)) {
        (Claimed::IllTyped { message, hint }, _) => (
            Verdict::Refuted {
                derived: derived.to_vec(),
                counterexample: match hint {
                    Some(h) => format!("the claim has no value: {message} ({h})"),
                    None => format!("the claim has no value: {message}"),
                },
            },
            Vec::new(),
            None,
        ),
        (Claimed::Poly(q), Some(Rhs::Poly(p))) => {
            let verdict = polynomial(cx.model, derived, p, q);
            let by = matches!(verdict, Verdict::Proven).then_some(ProofKind::Polynomial);
            (verdict, Vec::new(), by)
        }
        (Claimed::Expr(c), Some(Rhs::Expr(d))) => {
            let mut proof = Vec::new();
            let mut by = None;
            let verdict = expression(
                cx, claim, derived, d, c, assuming, zero, &mut proof, &mut by,
            );
            (verdict, proof, by)
        }
        _ => (
            Verdict::NotProven {
                derived: derived.to_vec(),
                evidence: "the derived result and the claim are of different kinds".to_owned(),
            },
            Vec::new(),
            None,
        ),
    }
}

/// Adjoints that a derivation found to be zero (under assumptions).
pub fn zero_adjoints(derived: &[Derived]) -> BTreeSet<u32> {
    derived
        .iter()
        .filter(|d| rhs_expr(d).is_some_and(super::adjoint::is_zero))
        .filter_map(|d| match &d.lhs {
            Lhs::Expr(e) => match e.as_ref().last() {
                Some(Node::Leaf(Leaf::Bar(Target::Var(r)))) => Some(r.var),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn dims_text(model: &Model, inst: &Instance<'_>) -> String {
    model
        .dims
        .iter()
        .enumerate()
        .map(|(k, d)| format!("{} = {}", d.name, inst.dim(k as u32)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn polynomial(model: &Model, derived: &[Derived], p: &Poly, q: &Poly) -> Verdict {
    if p == q {
        return Verdict::Proven;
    }
    // The smallest dims (all equal, then varied) where the two differ.
    for dims in model.dim_settings(6) {
        let at = |d: u32| dims.get(d as usize).copied().unwrap_or(1);
        let (x, y) = (p.eval_exact(&at), q.eval_exact(&at));
        if x != y {
            let shown = model
                .dims
                .iter()
                .zip(&dims)
                .map(|(d, v)| format!("{} = {v}", d.name))
                .collect::<Vec<_>>()
                .join(", ");
            let num = |r: Option<Rational>| r.map_or("too large".to_owned(), |r| r.to_string());
            return Verdict::Refuted {
                derived: derived.to_vec(),
                counterexample: format!(
                    "at {shown} the derived value is {} but the claim gives {}",
                    num(x),
                    num(y)
                ),
            };
        }
    }
    Verdict::Refuted {
        derived: derived.to_vec(),
        counterexample: "the two polynomials differ, though not at the small sizes tried"
            .to_owned(),
    }
}

/// The outcome of a proof attempt.
struct Proof {
    /// Whether the two sides met.
    found: bool,
    /// The run's statistics (none when the sides are equal as built).
    stats: Option<RunStats>,
}

/// Whether two classes are one value: one class, or both zero (zeros are
/// typed, and the claim's `0` is the scalar one). Never where two shapes
/// merged: the meeting may be of two values that only print alike.
fn meet(g: &crate::ir::analysis::Graph, a: egg::Id, b: egg::Id) -> bool {
    let zero = crate::ir::analysis::is_zero;
    !g.analysis.shape_conflict && (g.find(a) == g.find(b) || (zero(g, a) && zero(g, b)))
}

/// The most times a claim is split into cases by its normal forms alone
/// (three: a grid's corner, and a neighbour that reaches across it).
const CASE_SPLITS: usize = 3;

/// The most times a claim is split into cases where each case is also
/// tried with the rewrite rules, which cost far more (two: a grid's
/// corner).
const CASE_SPLITS_REWRITTEN: usize = 2;

/// A claim and what its proof attempts share.
struct Sides<'a> {
    claim: &'a Claim,
    assuming: &'a [Assumption],
    zero: &'a BTreeSet<u32>,
    /// Whether the sides mention adjoints (then their equations are
    /// tried too).
    adjoints: bool,
}

impl Sides<'_> {
    /// Whether `d` and `c` meet in one e-graph on `window`, with the
    /// adjoint equations merged in where `unfold`.
    fn proves(
        &self,
        cx: &Context<'_>,
        window: &Window,
        d: &RecExpr<Node>,
        c: &RecExpr<Node>,
        unfold: bool,
    ) -> Proof {
        let (model, limits) = (cx.model, cx.limits);
        // An inverse is stated in the next state's values; merging forward
        // values with their definitions there would prove vacuous claims.
        let scope = Scope {
            model,
            window,
            assuming: self.assuming,
            zero: self.zero,
            name: !matches!(self.claim, Claim::Inverse(_)),
            also: &[],
        };
        let (mut g, roots) = scope.graph(cx.shapes, &[d, c]);
        let (gd, gc) = (roots[0], roots[1]);
        if unfold {
            name_adjoints(&mut g, model, window, cx.adjoints, d, c);
            g.rebuild();
        }
        super::scope::assume_sums(&mut g, model, cx.sums);
        if meet(&g, gd, gc) {
            return Proof {
                found: true,
                stats: None,
            };
        }
        let budget = Limits {
            egraph_nodes: limits.egraph_nodes.min(PROOF_NODES),
            egraph_iters: limits.egraph_iters.min(PROOF_ITERS),
            ..limits.clone()
        };
        let ran = run_until(g, rules::prove(), &budget, "prove", Some((gd, gc)));
        // Classes of two shapes merged: the meeting may be one of two values
        // that only print alike, so it proves nothing.
        Proof {
            found: meet(&ran.graph, gd, gc),
            stats: Some(ran.stats),
        }
    }

    /// Whether `d` and `c` have one normal form on `window` once written
    /// out (see [`Sides::unfolded`]).
    fn same_unfolded(
        &self,
        cx: &Context<'_>,
        window: &Window,
        d: &RecExpr<Node>,
        c: &RecExpr<Node>,
    ) -> bool {
        [true, false].into_iter().any(|keep| {
            self.unfolded(cx, window, d, c, keep)
                .is_some_and(|(x, y)| crate::ir::normal::same(&x, &y, cx.model))
        })
    }

    /// `d` and `c` with the forward values and adjoints outside
    /// recurrences written out by their equations on `window` (see
    /// [`super::unfold`]); where `keep`, those both name are kept (see
    /// [`super::unfold::shared`]). Not for an inverse, which is stated in
    /// the next state's values.
    fn unfolded(
        &self,
        cx: &Context<'_>,
        window: &Window,
        d: &RecExpr<Node>,
        c: &RecExpr<Node>,
        keep: bool,
    ) -> Option<(RecExpr<Node>, RecExpr<Node>)> {
        if matches!(self.claim, Claim::Inverse(_)) {
            return None;
        }
        let equations = adjoint_equations(cx.adjoints);
        let recurrent = super::unfold::recurrent(cx.model);
        let floor = super::unfold::floor(&recurrent, &[d, c]);
        let bar_floor = super::unfold::bar_floor(&recurrent, &[d, c]);
        let kept = if keep {
            super::unfold::shared(&[d, c])
        } else {
            BTreeSet::new()
        };
        let how = super::unfold::Unfold {
            model: cx.model,
            window,
            adjoints: &equations,
            assuming: self.assuming,
            recurrent: &recurrent,
            floor: &floor,
            bar_floor: &bar_floor,
            kept: &kept,
        };
        Some((how.expr(d)?, how.expr(c)?))
    }

    /// Whether the difference of `d` and `c`, as written or written out,
    /// is zero once cleared of the sums it divides by (see
    /// [`crate::ir::normal::same_cleared`]).
    fn same_cleared(
        &self,
        cx: &Context<'_>,
        window: &Window,
        d: &RecExpr<Node>,
        c: &RecExpr<Node>,
    ) -> bool {
        crate::ir::normal::same_cleared(d, c, cx.model)
            || self
                .unfolded(cx, window, d, c, false)
                .is_some_and(|(x, y)| crate::ir::normal::same_cleared(&x, &y, cx.model))
    }

    /// Whether `d` and `c` are proved equal on `window` by one of the
    /// procedures a claim is tried with: their normal forms, written out
    /// or not, their difference cleared of denominators, or, where
    /// `rewrites`, the rewrite rules (with the adjoint equations, where
    /// the sides mention adjoints).
    fn proved_on(
        &self,
        cx: &Context<'_>,
        window: &Window,
        d: &RecExpr<Node>,
        c: &RecExpr<Node>,
        rewrites: bool,
        proof: &mut Vec<RunStats>,
    ) -> bool {
        if crate::ir::normal::same(d, c, cx.model)
            || self.same_unfolded(cx, window, d, c)
            || self.same_cleared(cx, window, d, c)
        {
            return true;
        }
        if !rewrites {
            return false;
        }
        for unfold in [false, true] {
            if unfold && !self.adjoints {
                break;
            }
            let attempt = self.proves(cx, window, d, c, unfold);
            proof.extend(attempt.stats);
            if attempt.found {
                return true;
            }
        }
        false
    }

    /// [`Sides::by_cases`] from the claim's window: by normal forms only,
    /// to [`CASE_SPLITS`], or with the rewrite rules too (`rewrites`), to
    /// [`CASE_SPLITS_REWRITTEN`].
    fn cases(
        &self,
        cx: &Context<'_>,
        window: &Window,
        (d, c): (&RecExpr<Node>, &RecExpr<Node>),
        rewrites: bool,
        proof: &mut Vec<RunStats>,
    ) -> bool {
        let depth = if rewrites {
            CASE_SPLITS_REWRITTEN
        } else {
            CASE_SPLITS
        };
        let mut seen = Seen::new();
        self.by_cases(cx, window, d, c, depth, rewrites, proof, &mut seen)
    }

    /// Whether the claim is proved by cases along one index of its window
    /// (see [`super::cases`]), each case by [`Sides::proved_on`] (with
    /// the rewrite rules where `rewrites`) or split again, to `depth`
    /// splits in all. Each case is decided once (`seen`): splits along
    /// two indices in either order meet the same cases.
    #[allow(clippy::too_many_arguments)]
    fn by_cases(
        &self,
        cx: &Context<'_>,
        window: &Window,
        d: &RecExpr<Node>,
        c: &RecExpr<Node>,
        depth: usize,
        rewrites: bool,
        proof: &mut Vec<RunStats>,
        seen: &mut Seen,
    ) -> bool {
        if depth == 0 || matches!(self.claim, Claim::Inverse(_)) {
            return false;
        }
        super::cases::splits(cx.model, window, d, c)
            .iter()
            .any(|cases| {
                cases.iter().rev().all(|k| {
                    let (w, d, c) = (&k.window, &k.derived, &k.claimed);
                    let key = (w.clone(), d.clone(), c.clone());
                    let proved = match seen.get(&key) {
                        Some(&(proved, tried)) if proved || tried >= depth - 1 => return proved,
                        Some(_) => false,
                        None => self.proved_on(cx, w, d, c, rewrites, proof),
                    };
                    let proved =
                        proved || self.by_cases(cx, w, d, c, depth - 1, rewrites, proof, seen);
                    seen.insert(key, (proved, depth - 1));
                    proved
                })
            })
    }
}

/// The cases [`Sides::by_cases`] has decided: whether each was proved, and
/// to how many further splits it was tried.
type Seen = std::collections::HashMap<(Window, RecExpr<Node>, RecExpr<Node>), (bool, usize)>;

/// The index values a claim is about: where its adjoint's variable is
/// computed, or the steps of its Jacobian.
fn claim_window(model: &Model, claim: &Claim) -> Window {
    match claim {
        Claim::Adjoint(Target::Var(r)) => Window::of_adjoint(model, r),
        Claim::Jacobian(k) | Claim::Det(k) => match model.requests.get(*k).map(|r| &r.kind) {
            Some(crate::model::RequestKind::Jacobian { of, .. }) => Window::computing(model, of),
            _ => Window::whole(),
        },
        _ => Window::whole(),
    }
}

/// How many times a proof replaces adjoints by their equations: those of
/// the two sides, then those that the replacements mention, and so on.
const UNFOLD_LEVELS: usize = 3;

/// Merges each adjoint that `d` or `c` mentions with its derived equation,
/// shifted to the index it is used at (`bar(y[t+1])` with the equation of
/// `bar(y[t])` at `t+1`), then the adjoints those equations mention, to
/// [`UNFOLD_LEVELS`] levels, so that the graph stays small and finite on a
/// recurrence.
fn name_adjoints(
    g: &mut Graph,
    model: &Model,
    window: &Window,
    adjoints: &[Derived],
    d: &RecExpr<Node>,
    c: &RecExpr<Node>,
) {
    let equations = adjoint_equations(adjoints);
    let bars = |e: &RecExpr<Node>| -> Vec<Ref> {
        e.as_ref()
            .iter()
            .filter_map(|n| match n {
                Node::Leaf(Leaf::Bar(Target::Var(r))) => Some(r.clone()),
                _ => None,
            })
            .collect()
    };
    let mut seen = BTreeSet::new();
    let mut level: Vec<Ref> = bars(d).into_iter().chain(bars(c)).collect();
    for _ in 0..UNFOLD_LEVELS {
        let mut next = Vec::new();
        for r in level {
            if !seen.insert(r.clone()) {
                continue;
            }
            let Some(value) = window.adjoint_at(model, &r, &equations) else {
                continue;
            };
            next.extend(bars(&value));
            let leaf = g.add(Node::Leaf(Leaf::Bar(Target::Var(r))));
            let value = g.add_expr(&value);
            crate::ir::analysis::union_value(g, leaf, value);
        }
        level = next;
    }
}

/// The adjoint equations among `derived`, each as its variable's
/// reference and its right side (see [`Window::adjoint_at`]).
pub fn adjoint_equations(derived: &[Derived]) -> Vec<(Ref, RecExpr<Node>)> {
    derived
        .iter()
        .filter_map(|d| match (crate::verify::target_of(d)?, rhs_expr(d)?) {
            (Target::Var(r), e) => Some((r, e.clone())),
            _ => None,
        })
        .collect()
}

/// The instances claims are checked on: two sizes of every dim, then dims
/// drawn at random, each with its own seed.
/// Only the first `count` that can be built are built.
fn instances<'m>(model: &'m Model, count: usize, sums: &[SumAssumption]) -> Vec<Instance<'m>> {
    let fixed = [(2, 101), (3, 102), (2, 103)]
        .into_iter()
        .map(|(n, seed)| Instance::new(model, vec![n; model.dims.len()], seed));
    let drawn = [104, 105]
        .into_iter()
        .map(|seed| Instance::seeded(model, seed));
    fixed
        .chain(drawn)
        .filter_map(Result::ok)
        .map(|i| i.with_sums(sums))
        .take(count)
        .collect()
}

/// The instances a claim is evaluated on where none of [`instances`] has
/// a point where both sides are finite: every value drawn positive (a
/// root of an input, `sqrt(w)`, has a value only there).
fn positive_instances<'m>(model: &'m Model, sums: &[SumAssumption]) -> Vec<Instance<'m>> {
    [(2, 106), (3, 107)]
        .into_iter()
        .filter_map(|(n, seed)| Instance::new(model, vec![n; model.dims.len()], seed).ok())
        .map(|i| i.with_positive_values().with_sums(sums))
        .collect()
}

/// The instance a claim is evaluated on where none of [`instances`]
/// tells it from the derived form: every scalar parameter above one in size
/// (see [`Instance::with_wide_scalars`]).
fn wide_instances<'m>(model: &'m Model, sums: &[SumAssumption]) -> Vec<Instance<'m>> {
    Instance::new(model, vec![3; model.dims.len()], 108)
        .map(|i| i.with_wide_scalars().with_sums(sums))
        .into_iter()
        .collect()
}

/// The entry where two values differ most, as words.
fn difference(x: &Mat, y: &Mat) -> String {
    let (xs, ys) = (x.entries(), y.entries());
    if x.is_scalar() && y.is_scalar() {
        return format!(
            "the derived value is {} but the claim gives {}",
            shown(xs[0]),
            shown(ys[0])
        );
    }
    let pick = |m: &Mat, k: usize| {
        if m.is_scalar() {
            m.entries()[0]
        } else {
            m.entries().get(k).copied().unwrap_or(f64::NAN)
        }
    };
    let n = xs.len().max(ys.len());
    let k = (0..n)
        .max_by(|&a, &b| {
            let da = (pick(x, a) - pick(y, a)).abs();
            let db = (pick(x, b) - pick(y, b)).abs();
            da.total_cmp(&db)
        })
        .unwrap_or(0);
    format!(
        "entry {} of the derived value is {} but the claim gives {}",
        k + 1,
        shown(pick(x, k)),
        shown(pick(y, k))
    )
}

/// A value to six places, without the sign of a value that rounds to zero
/// (`-0.000000`).
fn shown(v: f64) -> String {
    let s = format!("{v:.6}");
    match s.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_owned(),
        _ => s,
    }
}

/// The first use, among `users` (each the variable whose adjoint seeds a
/// use's terms, `None` for the loss), at which a claim about an adjoint
/// parts from the derived form: compared with every other adjoint set to
/// zero, so that only that use's terms remain (each is linear in its
/// seed), the two differ.
pub fn parting(
    model: &Model,
    claim: &Claim,
    derived: &RecExpr<Node>,
    claimed: &RecExpr<Node>,
    sums: &[SumAssumption],
    users: &[Option<u32>],
) -> Option<usize> {
    let all: BTreeSet<u32> = (0..model.vars.len() as u32).collect();
    users.iter().position(|u| {
        let mut zero = all.clone();
        if let Some(u) = u {
            zero.remove(u);
        }
        compare(
            model,
            claim,
            derived,
            claimed,
            &[],
            sums,
            &zero,
            Values::Free,
            false,
        )
        .witness
        .is_some()
    })
}

/// The outcome of comparing a derived form with a claim numerically.
struct Comparison {
    /// Points where both could be evaluated.
    agreed: usize,
    /// The largest relative difference among them.
    worst: f64,
    /// The point where they differ most, if beyond the tolerance.
    witness: Option<(f64, String)>,
    /// Whether the claim reads, at the witness, only values the model
    /// computes there (such a point is preferred).
    witness_clean: bool,
    /// Why some point could not be evaluated.
    failure: Option<String>,
    /// How many instances were evaluated.
    instances: usize,
}

/// The values the adjoints take when a claim is evaluated.
#[derive(Clone, Copy)]
enum Values<'a> {
    /// Drawn at random: the two sides compared as formulas.
    Free,
    /// The model's: the loss differentiated numerically.
    Model,
    /// Those of the adjoint equations, each at the position it is read
    /// at, evaluated from the last step back: under an assumption about a
    /// value, the equations with the assumption substituted.
    Solved(&'a [(Ref, RecExpr<Node>)]),
}

/// Evaluates both sides on every instance (only the first that has points,
/// as a sanity check before a proof, when `sample`) and index value, with the adjoints
/// taking the given values.
#[allow(clippy::too_many_arguments)]
fn compare(
    model: &Model,
    claim: &Claim,
    d: &RecExpr<Node>,
    c: &RecExpr<Node>,
    assuming: &[Assumption],
    sums: &[SumAssumption],
    zero: &BTreeSet<u32>,
    values: Values<'_>,
    sample: bool,
) -> Comparison {
    let subst = Assumption::substitution(assuming);
    // The claim's free indices (`bar(h[T])` has none).
    let indices: Vec<u32> = match claim {
        Claim::Adjoint(Target::Var(r)) => model.vars[r.var as usize]
            .indices
            .iter()
            .zip(r.at.iter())
            .filter(|(_, ix)| matches!(ix, Ix::Rel(..)))
            .map(|(&i, _)| i)
            .collect(),
        _ => Vec::new(),
    };
    let mut out = Comparison {
        agreed: 0,
        worst: 0.0,
        witness: None,
        witness_clean: false,
        failure: None,
        instances: 0,
    };
    // Where nothing could be evaluated, then on positive values; where
    // the values agree, then with scalars above one in size.
    for pass in 0..3 {
        if pass == 1 && out.agreed > 0 {
            continue;
        }
        if pass == 2 && (sample || out.agreed == 0 || out.witness.is_some()) {
            break;
        }
        let list = match pass {
            0 => instances(model, usize::MAX, sums),
            1 => positive_instances(model, sums),
            _ => wide_instances(model, sums),
        };
        out.instances += list.len();
        for inst in &list {
            let random = RandomAdjoints::new(inst, zero.clone());
            let truth = if matches!(values, Values::Model) {
                match TapeAdjoints::new(inst, zero.clone()) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        out.failure = Some(e.0);
                        continue;
                    }
                }
            } else {
                None
            };
            // Under assumptions, the values computed from an assumed one
            // follow it (`f[t] = 1 - i[t]` is `1` where `i[t] = 0`), as
            // the proofs write them out.
            let forward = Forward::assuming(inst, subst.clone());
            let solved = match values {
                Values::Solved(equations) => {
                    Some(SolvedAdjoints::new(&forward, equations, &subst, zero))
                }
                _ => None,
            };
            let ev = Evaluator {
                forward: &forward,
                adjoints: match (&truth, &solved) {
                    (Some(t), _) => t,
                    (_, Some(s)) => s,
                    _ => &random,
                },
                assumed: &subst,
            };
            let points: Vec<Vec<Option<i64>>> = if indices.is_empty() {
                vec![(0..model.indices.len() as u32)
                    .map(|i| Some(inst.range(i).0))
                    .collect()]
            } else {
                let target = match claim {
                    Claim::Adjoint(t) => t.clone(),
                    _ => Target::Param(0),
                };
                positions(inst, &target)
                    .into_iter()
                    .map(|t| {
                        let mut b = vec![None; model.indices.len()];
                        for (&i, &v) in indices.iter().zip(&t) {
                            b[i as usize] = Some(v);
                        }
                        b
                    })
                    .collect()
            };
            for b in points {
                match (ev.eval(d, &b), ev.eval(c, &b)) {
                    (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => {
                        let e = rel_error(&x, &y);
                        // A point where the claim reads a value the model
                        // does not compute (`a[0]`) is a counterexample only
                        // where there is no other, and says so.
                        let given: BTreeSet<String> =
                            &given_reads(model, inst, c, &b) - &given_reads(model, inst, d, &b);
                        let clean = given.is_empty();
                        let better = match (&out.witness, out.witness_clean) {
                            (Some((w, _)), was_clean) => (clean, e) > (was_clean, *w),
                            (None, _) => true,
                        };
                        if e > TOLERANCE && better {
                            out.witness_clean = clean;
                            let at: Vec<String> = indices
                                .iter()
                                .filter_map(|&i| {
                                    b[i as usize]
                                        .map(|v| format!("{} = {v}", model.symbols.index_name(i)))
                                })
                                .collect();
                            let mut place = dims_text(model, inst);
                            if !at.is_empty() {
                                place = format!("{place}, {}", at.join(", "));
                            }
                            let mut text =
                                format!("at {place} (seed {}): {}", inst.seed, difference(&x, &y));
                            if !clean {
                                let named: Vec<String> =
                                    given.iter().map(|g| format!("`{g}`")).collect();
                                let _ = write!(
                                text,
                                "; there the claim reads {}, which the model does not compute (a given value, drawn at random)",
                                crate::print::notes::listed(&named)
                            );
                            }
                            out.witness = Some((e, text));
                        }
                        out.worst = out.worst.max(e);
                        out.agreed += 1;
                    }
                    (Err(e), _) | (_, Err(e)) => out.failure = Some(e.0),
                    _ => out.failure = Some("a value is not finite".to_owned()),
                }
            }
            // A sample is one instance with points: the first may have none
            // (the general adjoint of a variable with fixed steps at both
            // ends of a range of 2).
            if sample && out.agreed > 0 {
                break;
            }
        }
    }
    out
}

/// The values `e` reads at the point `b` that a variable's equation does
/// not compute there and no `init` sets (`a[0]` for `a[t-1]` at `t = 1`),
/// as text.
fn given_reads(
    model: &Model,
    inst: &crate::eval::Instance<'_>,
    e: &RecExpr<Node>,
    b: &[Option<i64>],
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for n in e.as_ref() {
        let Node::Leaf(Leaf::Var(r)) = n else {
            continue;
        };
        if model.equation_of(r.var).is_none() {
            continue;
        }
        let Ok(at) = crate::eval::Evaluator::tuple(inst, &r.at, b) else {
            continue;
        };
        if !inst.computed(r.var, &at) && inst.init_of(r.var, &at).is_none() {
            let fixed = Ref {
                var: r.var,
                at: at.iter().map(|&v| Ix::Abs(v)).collect(),
            };
            out.insert(model.symbols.ref_text(&fixed));
        }
    }
    out
}

/// A scalar claim about a vector or matrix result (a scalar applies to
/// every entry) as that scalar times the all-ones value of the result's
/// shape, `c * d^0`, for the normal form; `None` where the claim is not a
/// scalar or the result is one.
fn broadcast(d: &RecExpr<Node>, c: &RecExpr<Node>, model: &Model) -> Option<RecExpr<Node>> {
    let root = |e: &RecExpr<Node>| crate::ir::prec::shapes(e, model).last().cloned().flatten();
    if !root(c)?.is_scalar() || root(d)?.is_scalar() {
        return None;
    }
    let mut b = crate::ir::build::ExprBuilder::new();
    let claim = b.copy_all(c);
    let result = b.copy_all(d);
    let zero = b.int(0);
    let ones = b.add(Node::Pow([result, zero]));
    let root = b.add(Node::Mul([claim, ones]));
    Some(b.finish(root))
}

/// Whether one side is `inv(M) * r` and `M` times the other side is `r`
/// by their normal forms (`inv(I(D) - 2 * v * v^T / (v^T * v)) * y`
/// against `y - 2 * v * (v^T * y) / (v^T * v)`, a reflection its own
/// inverse). Where `M` is invertible, the condition the inverse is
/// stated under, the two sides are then equal.
fn inverse_multiplied_out(d: &RecExpr<Node>, c: &RecExpr<Node>, model: &Model) -> bool {
    [(d, c), (c, d)].into_iter().any(|(x, y)| {
        let Node::Mul([i, r]) = &x[crate::ir::root(x)] else {
            return false;
        };
        let Node::Inv(m) = &x[*i] else {
            return false;
        };
        let mut b = crate::ir::build::ExprBuilder::new();
        let m = b.copy(x, *m);
        let y = b.copy_all(y);
        let product = b.add(Node::Mul([m, y]));
        let product = b.finish(product);
        let r = crate::ir::build::subtree(x, *r);
        crate::ir::normal::same(&product, &r, model)
    })
}

#[allow(clippy::too_many_arguments)]
fn expression(
    cx: &Context<'_>,
    claim: &Claim,
    derived: &[Derived],
    d: &RecExpr<Node>,
    c: &RecExpr<Node>,
    assuming: &[Assumption],
    zero: &BTreeSet<u32>,
    proof: &mut Vec<RunStats>,
    by: &mut Option<ProofKind>,
) -> Verdict {
    let model = cx.model;
    // A claimed inverse written with the value it solves for says nothing.
    if let Claim::Inverse(r) = claim {
        if c.as_ref().iter().any(|n| matches!(n, Node::Leaf(Leaf::Var(x)) if x.var == r.var && x.at.iter().all(|ix| matches!(ix, Ix::Rel(_, 0))))) {
            return Verdict::NotProven {
                derived: derived.to_vec(),
                evidence: format!(
                    "the claim is written with `{}`, the value the inverse solves for; write it with the next state's values",
                    model.symbols.ref_text(r)
                ),
            };
        }
    }
    let has_adjoints = [d, c].iter().any(|e| {
        e.as_ref()
            .iter()
            .any(|n| matches!(n, Node::Leaf(Leaf::Bar(_))))
    });
    // The numbers first, on one instance, with the adjoints as free values:
    // a claim they separate is not worth a proof attempt, and a proof is
    // only ever reported where they agree (a disagreement after a proof
    // would be a bug in a rule).
    let window = claim_window(model, claim).for_proofs();
    let on = Sides {
        claim,
        assuming,
        zero,
        adjoints: has_adjoints,
    };
    let numbers_with =
        |values, sample| compare(model, claim, d, c, assuming, cx.sums, zero, values, sample);
    let sample = numbers_with(Values::Free, true);
    // The proofs compare values of one shape: a scalar claimed for every
    // entry is that scalar times the all-ones value (the numbers above
    // compare it entry by entry as written).
    let broadcasted = broadcast(d, c, model);
    let c = broadcasted.as_ref().unwrap_or(c);
    // A rewritten claim (a determinant taken, a sum re-indexed) meets the
    // derived form by a normal form.
    let meets = |e: &RecExpr<Node>| {
        crate::ir::normal::same(d, e, model)
            || on.same_unfolded(cx, &window, d, e)
            || on.same_cleared(cx, &window, d, e)
    };
    let mut proven = false;
    // Whether the written-out normal forms were compared already (they
    // do not depend on the numbers).
    let mut unfolded_tried = false;
    if sample.witness.is_none() && sample.agreed > 0 {
        // The same normal form (sums, products and transposes rearranged
        // by the identities of the algebra) is a proof on its own.
        if crate::ir::normal::same(d, c, model) {
            *by = Some(ProofKind::NormalForm);
            return Verdict::Proven;
        }
        unfolded_tried = true;
        if on.same_unfolded(cx, &window, d, c) {
            *by = Some(ProofKind::Unfolded);
            return Verdict::Proven;
        }
        if on.same_cleared(cx, &window, d, c) {
            *by = Some(ProofKind::Cleared);
            return Verdict::Proven;
        }
        if inverse_multiplied_out(d, c, model) {
            *by = Some(ProofKind::InverseMultiplied);
            return Verdict::Proven;
        }
        // A claim written with the determinant of a block matrix (of a
        // scaled identity plus a rank-one matrix, of a diagonal matrix):
        // that determinant by block elimination (the matrix determinant
        // lemma, the product of the diagonal), then the same procedures;
        // each on the claim as written, then in turn on what the one
        // before gave (elimination may leave a diagonal block's
        // determinant). The proof is named by the first that applied.
        let taken: [(ClaimDet, ProofKind); 4] = [
            (super::det::eliminated_claim, ProofKind::Elimination),
            (super::det::lemma_claim, ProofKind::Lemma),
            (super::det::diagonal_lemma_claim, ProofKind::Lemma),
            (super::det::diagonal_claim, ProofKind::Diagonal),
        ];
        let mut chained: Option<(RecExpr<Node>, ProofKind)> = None;
        for (take, kind) in taken {
            let alone = take(c, model);
            if alone.as_ref().is_some_and(&meets) {
                *by = Some(kind);
                return Verdict::Proven;
            }
            match &chained {
                Some((cur, first)) => {
                    if let Some(e) = take(cur, model) {
                        if meets(&e) {
                            *by = Some(*first);
                            return Verdict::Proven;
                        }
                        chained = Some((e, *first));
                    }
                }
                None => chained = alone.map(|e| (e, kind)),
            }
        }
        // Cases by the normal forms alone, before the rewrite rules,
        // which cost far more where they fail.
        if on.cases(cx, &window, (d, c), false, proof) {
            *by = Some(ProofKind::Cases);
            return Verdict::Proven;
        }
        let attempt = on.proves(cx, &window, d, c, false);
        proof.extend(attempt.stats);
        if attempt.found {
            *by = Some(ProofKind::Rewrites);
            return Verdict::Proven;
        }
    }
    let free = numbers_with(Values::Free, false);
    let with_truth = free.witness.is_some() && has_adjoints;
    // The adjoints a claim under an assumption about a value speaks of
    // are those of the equations with the assumption substituted, not the
    // model's (`o[t] = 0` at every step makes every `bar(c[t])` zero).
    let equations = if assuming.is_empty() {
        Vec::new()
    } else {
        adjoint_equations(cx.adjoints)
    };
    let values = if assuming.is_empty() {
        Values::Model
    } else {
        Values::Solved(&equations)
    };
    let numbers = if with_truth {
        // Two formulas that differ with free adjoints may still agree once
        // the adjoints take their true values (a claim that writes an
        // adjoint out as its equation): decide with the true values, and
        // where they agree, look for a proof that uses the adjoint
        // equations. Only then: the equations make the graph much larger.
        let truth = numbers_with(values, false);
        if truth.witness.is_none() && truth.agreed > 0 {
            if !unfolded_tried && on.same_unfolded(cx, &window, d, c) {
                *by = Some(ProofKind::Unfolded);
                return Verdict::Proven;
            }
            if !unfolded_tried && on.same_cleared(cx, &window, d, c) {
                *by = Some(ProofKind::Cleared);
                return Verdict::Proven;
            }
            if !unfolded_tried && on.cases(cx, &window, (d, c), false, proof) {
                *by = Some(ProofKind::Cases);
                return Verdict::Proven;
            }
            let attempt = on.proves(cx, &window, d, c, true);
            proven = attempt.found;
            proof.extend(attempt.stats);
        }
        truth
    } else {
        free
    };
    if let Some((_, counterexample)) = numbers.witness {
        if proven {
            return Verdict::NotProven {
                derived: derived.to_vec(),
                evidence: format!(
                    "a proof was found, but the numbers disagree {counterexample}; this is a bug in deriv, please report the script"
                ),
            };
        }
        let counterexample = if with_truth && !assuming.is_empty() {
            format!("{counterexample}, with the adjoints as their equations give them under the assumptions, from the last step back")
        } else {
            counterexample
        };
        return Verdict::Refuted {
            derived: derived.to_vec(),
            counterexample,
        };
    }
    let (agreed, worst, failure) = (numbers.agreed, numbers.worst, numbers.failure);
    let evaluated = numbers.instances;
    if proven {
        *by = Some(ProofKind::Rewrites);
        return Verdict::Proven;
    }
    if agreed > 0 && on.cases(cx, &window, (d, c), true, proof) {
        *by = Some(ProofKind::Cases);
        return Verdict::Proven;
    }
    // A sum written over shifted positions (`sum(t, f(t+1))`): re-indexed,
    // with the terms at its ends that this leaves.
    if agreed > 0 && super::reindex::reindexed(c, model).iter().any(meets) {
        *by = Some(ProofKind::Reindexed);
        return Verdict::Proven;
    }
    let evidence = if agreed == 0 {
        format!(
            "no proof was found, and the claim could not be evaluated: {}",
            failure.unwrap_or_else(|| "no instance".to_owned())
        )
    } else {
        format!(
            "no proof was found within the rewrite limits; numerically the two agree at {agreed} points on {evaluated} random instances (largest relative difference {worst:.1e})"
        )
    };
    Verdict::NotProven {
        derived: derived.to_vec(),
        evidence,
    }
}
