//! Derivations: one answer per request, read from the checked model.
//! Each kind of request has its own module; this one dispatches, and keeps
//! what one request derives for the requests that need it again (`det(J)`
//! needs `J`; an `expect` needs whatever it names).

pub mod adjoint;
pub mod cases;
pub mod count;
pub mod depth;
pub mod det;
pub mod expect;
pub mod inverse;
pub mod jacobian;
pub mod reindex;
pub mod scope;
pub mod simplify;
pub mod steps;
pub mod sums;
pub mod unfold;
pub mod window;

use crate::diag::{Diagnostic, Span};
use crate::ir::{Ix, Leaf, Node, Target};
use crate::key::{Answer, Derived, Lhs, Note, Refusal, Rhs, RunStats};
use crate::model::{Claim, Model, Request, RequestKind};
use crate::Options;
use adjoint::Adjoints;
use egg::RecExpr;
use rustc_hash::FxHashMap as HashMap;
use std::rc::Rc;

/// What the derivations produced: the answers, and the requests that could
/// not be answered, each as a diagnostic at the request.
#[derive(Debug, Default)]
pub struct Derivations {
    /// Answers in script order.
    pub answers: Vec<Answer>,
    /// Requests left unanswered, with the reason.
    pub problems: Vec<Diagnostic>,
}

/// The first adjoint on the right that refers to a shifted index value
/// (`bar(c[t+1])`), if any.
fn shifted_adjoint(eqs: &[Derived]) -> Option<crate::ir::Ref> {
    eqs.iter().find_map(|d| match &d.rhs {
        Rhs::Expr(e) => e.as_ref().iter().find_map(|n| match n {
            Node::Leaf(Leaf::Bar(Target::Var(r)))
                if r.at.iter().any(|ix| matches!(ix, Ix::Rel(_, o) if *o != 0)) =>
            {
                Some(r.clone())
            }
            _ => None,
        }),
        Rhs::Poly(_) | Rhs::Terms(_) => None,
    })
}

/// The convention every adjoint equation with a shifted adjoint relies on.
/// A derived result with the notes and statistics that came with it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The equations.
    pub equations: Vec<Derived>,
    /// Remarks.
    pub notes: Vec<Note>,
    /// E-graph statistics.
    pub stats: Vec<RunStats>,
}

type Derivation = Result<Found, Diagnostic>;

/// A derivation read back from the session: the same result, without the
/// statistics of runs that this request did not make.
fn reused(done: &Derivation) -> Derivation {
    done.clone().map(|f| Found {
        stats: Vec::new(),
        ..f
    })
}

/// One run over a model's requests, remembering what each derived.
pub struct Session<'m> {
    model: &'m Model,
    options: &'m Options,
    shapes: Rc<crate::egraph::ShapeTable>,
    adj: Adjoints<'m>,
    jacobians: HashMap<usize, Derivation>,
    /// All adjoints, by the assumptions they were derived under.
    adjoint_sets: HashMap<AssumptionKey, Derivation>,
    /// All adjoints under assumptions about sums too, by both.
    sum_sets: HashMap<(AssumptionKey, SumKey), Derivation>,
    dets: HashMap<usize, Derivation>,
    /// The matrix each determinant was taken of (as derived, or collected).
    det_from: HashMap<usize, RecExpr<Node>>,
    inverse: Option<Derivation>,
    /// The steps of the inverse's equations.
    inverse_steps: Vec<Vec<crate::key::Step>>,
    /// Every value the inverse solved, intermediate values included.
    inverse_solved: Vec<(crate::ir::Ref, egg::RecExpr<crate::ir::Node>)>,
}

/// A request's assumptions as written (in order), the key under which its
/// adjoints are derived once.
type AssumptionKey = Vec<(crate::ir::Ref, egg::RecExpr<Node>)>;

/// Assumptions about sums as written: each input with its sum.
type SumKey = Vec<(u32, crate::num::Rational)>;

impl<'m> Session<'m> {
    /// A session for a model.
    pub fn new(model: &'m Model, options: &'m Options) -> Session<'m> {
        let shapes = Rc::new(crate::egraph::ShapeTable::new(model));
        let mut adj = Adjoints::new(model, shapes.clone(), &options.limits);
        adj.keep_local = options.steps || model.requests.iter().any(|r| r.steps);
        Session {
            model,
            options,
            adj,
            shapes,
            jacobians: HashMap::default(),
            adjoint_sets: HashMap::default(),
            sum_sets: HashMap::default(),
            dets: HashMap::default(),
            det_from: HashMap::default(),
            inverse: None,
            inverse_steps: Vec::new(),
            inverse_solved: Vec::new(),
        }
    }

    fn adjoints(&mut self, assuming: &[crate::model::Assumption], span: Span) -> Derivation {
        let key: AssumptionKey = assuming
            .iter()
            .map(|a| (a.target.clone(), a.value.clone()))
            .collect();
        if let Some(done) = self.adjoint_sets.get(&key) {
            return reused(done);
        }
        let done = self.derive_adjoints(assuming, span);
        self.adjoint_sets.insert(key, done.clone());
        done
    }

    /// All adjoints under assumptions about values and about sums of
    /// inputs' entries (see [`sums`]).
    fn adjoints_summed(
        &mut self,
        assuming: &[crate::model::Assumption],
        sums: &[crate::model::SumAssumption],
        span: Span,
    ) -> Derivation {
        let base = self.adjoints(assuming, span);
        if sums.is_empty() {
            return base;
        }
        let key = (
            assuming
                .iter()
                .map(|a| (a.target.clone(), a.value.clone()))
                .collect::<AssumptionKey>(),
            sums.iter()
                .map(|s| (s.var, s.value.clone()))
                .collect::<SumKey>(),
        );
        if let Some(done) = self.sum_sets.get(&key) {
            return reused(done);
        }
        let done = base.map(|f| self.under_sums(f, &[], sums));
        self.sum_sets.insert(key, done.clone());
        done
    }

    /// A gradient under assumptions about values and about sums.
    fn gradient_summed(
        &mut self,
        target: &Target,
        assuming: &[crate::model::Assumption],
        sums: &[crate::model::SumAssumption],
        span: Span,
    ) -> Derivation {
        let base = self.gradient(target, assuming, span)?;
        if sums.is_empty() {
            return Ok(base);
        }
        let all = self.adjoints_summed(assuming, sums, span)?;
        let mut found = self.under_sums(base, &all.equations, sums);
        found.stats.splice(0..0, all.stats);
        Ok(found)
    }

    /// `found` under the sums, with the closed adjoints among `known` and
    /// its own equations written out.
    fn under_sums(
        &self,
        found: Found,
        known: &[Derived],
        sums: &[crate::model::SumAssumption],
    ) -> Found {
        let mut known = known.to_vec();
        known.extend(found.equations.iter().cloned());
        let s = sums::substitute(
            self.model,
            &self.shapes,
            &self.options.limits,
            &known,
            &found.equations,
            sums,
        );
        let mut notes = found.notes;
        if !s.written_out.is_empty() {
            notes.push(Note::WrittenOut(s.written_out));
        }
        if s.limited && !notes.iter().any(|n| matches!(n, Note::Limited)) {
            notes.push(Note::Limited);
        }
        let mut stats = found.stats;
        stats.extend(s.stats);
        Found {
            equations: s.equations,
            notes,
            stats,
        }
    }

    fn derive_adjoints(&mut self, assuming: &[crate::model::Assumption], span: Span) -> Derivation {
        let before = self.adj.stats.len();
        let list = self.adj.all(assuming, span)?;
        let limited = list.iter().any(|a| a.limited);
        let equations: Vec<Derived> = list.into_iter().map(|a| a.derived).collect();
        let mut notes = Vec::new();
        if let Some(r) = shifted_adjoint(&equations) {
            notes.push(Note::PastTheEnd(r));
        }
        notes.extend(self.fixed_steps_notes(&equations));
        if limited {
            notes.push(Note::Limited);
        }
        Ok(Found {
            equations,
            notes,
            stats: self.adj.stats[before..].to_vec(),
        })
    }

    /// A note for each general adjoint equation among `equations` whose
    /// variable has fixed steps with equations of their own.
    fn fixed_steps_notes(&self, equations: &[Derived]) -> Vec<Note> {
        let model = self.model;
        equations
            .iter()
            .filter_map(|d| match crate::verify::target_of(d)? {
                Target::Var(r) if r.at.iter().all(|ix| matches!(ix, crate::ir::Ix::Rel(..))) => {
                    let steps = model.fixed_steps(r.var);
                    (!steps.is_empty()).then_some(Note::FixedSteps { general: r, steps })
                }
                _ => None,
            })
            .chain(
                (!model.steps_need.is_empty()).then(|| Note::DimsAtLeast(model.steps_need.clone())),
            )
            .collect()
    }

    fn gradient(
        &mut self,
        target: &Target,
        assuming: &[crate::model::Assumption],
        span: Span,
    ) -> Derivation {
        let before = self.adj.stats.len();
        let a = self.adj.gradient(target, assuming, span)?;
        let mut notes = if a.limited {
            vec![Note::Limited]
        } else {
            Vec::new()
        };
        if !self.model.steps_need.is_empty() {
            notes.push(Note::DimsAtLeast(self.model.steps_need.clone()));
        }
        // An adjoint the gradient is written with, whose own equation
        // cannot be derived, is said to be so: the gradient is exact in
        // terms of it, but the key gives no equation for it.
        let mut seen = std::collections::BTreeSet::new();
        if let Some(e) = rhs_expr(&a.derived) {
            for n in e.as_ref() {
                if let Node::Leaf(Leaf::Bar(Target::Var(r))) = n {
                    if seen.insert(r.var) {
                        if let Some(why) = self.adj.underivable(r.var, span) {
                            notes.push(Note::AdjointNotDerived(r.clone(), why));
                        }
                    }
                }
            }
        }
        Ok(Found {
            equations: vec![a.derived],
            notes,
            stats: self.adj.stats[before..].to_vec(),
        })
    }

    fn inverse(&mut self, span: Span) -> Derivation {
        if let Some(done) = &self.inverse {
            return reused(done);
        }
        let done =
            inverse::inverse(self.model, &self.shapes, &self.options.limits, span).map(|inv| {
                self.inverse_steps = inv.steps;
                self.inverse_solved = inv.solved;
                Found {
                    equations: inv.equations,
                    notes: inv.notes,
                    stats: inv.stats,
                }
            });
        self.inverse = Some(done.clone());
        done
    }

    /// The Jacobian of request `k`.
    fn jacobian(&mut self, k: usize) -> Derivation {
        if let Some(done) = self.jacobians.get(&k) {
            return reused(done);
        }
        let req = &self.model.requests[k];
        let done = match &req.kind {
            RequestKind::Jacobian { name, of, wrt } => jacobian::jacobian(
                self.model,
                &self.shapes,
                of,
                wrt,
                &self.options.limits,
                req.span,
            )
            .map(|(m, stats, limited)| Found {
                equations: vec![Derived {
                    lhs: Lhs::Matrix(name.clone()),
                    rhs: Rhs::Expr(m),
                }],
                notes: if limited {
                    vec![Note::Limited]
                } else {
                    Vec::new()
                },
                stats,
            }),
            _ => Err(Diagnostic::new(req.span, "not a Jacobian", "here")),
        };
        self.jacobians.insert(k, done.clone());
        done
    }

    /// The determinant of the Jacobian of request `k`.
    fn det(&mut self, k: usize, span: Span) -> Derivation {
        if let Some(done) = self.dets.get(&k) {
            return reused(done);
        }
        let done = match self.jacobian(k) {
            Ok(j) => {
                let (name, window) = match &self.model.requests[k].kind {
                    RequestKind::Jacobian { name, of, .. } => {
                        (name.clone(), window::Window::computing(self.model, of))
                    }
                    _ => (String::new(), window::Window::whole()),
                };
                match j.equations.first().map(|d| &d.rhs) {
                    Some(Rhs::Expr(m)) => {
                        let printed = collected(m, self.model);
                        let (from, (d, notes, stats)) = det::of_derived_or_printed(
                            self.model,
                            &self.shapes,
                            m,
                            printed.as_ref(),
                            &window,
                            &self.options.limits,
                        );
                        self.det_from.insert(k, from);
                        Ok(Found {
                            equations: vec![Derived {
                                lhs: Lhs::Det(name),
                                rhs: Rhs::Expr(d),
                            }],
                            notes,
                            stats,
                        })
                    }
                    _ => Err(Diagnostic::new(span, "the Jacobian has no matrix", "here")),
                }
            }
            Err(_) => Err(Diagnostic::new(
                span,
                "the Jacobian this determinant needs could not be derived",
                "no Jacobian",
            )
            .hint("see the error reported for the Jacobian's request")),
        };
        self.dets.insert(k, done.clone());
        done
    }

    /// What the left side of an `expect` names, derived.
    pub fn claim(
        &mut self,
        claim: &Claim,
        assuming: &[crate::model::Assumption],
        sums: &[crate::model::SumAssumption],
        req: &Request,
    ) -> Derivation {
        let span = req.span;
        let found = |a: Answer| Found {
            equations: a.equations,
            notes: a.notes,
            stats: a.stats,
        };
        let pick = |r: Found, want: &dyn Fn(&Derived) -> bool| {
            let mut r = r;
            r.equations.retain(|d| want(d));
            r
        };
        match claim {
            Claim::Adjoint(t) if self.model.is_gradient(t) => {
                self.gradient_summed(t, assuming, sums, span)
            }
            Claim::Adjoint(t) => {
                let all = self.adjoints_summed(assuming, sums, span)?;
                let equations = expect::adjoint_equations(&all.equations);
                let target = Leaf::Bar(t.clone());
                let mut found = pick(
                    all,
                    &|d: &Derived| matches!(&d.lhs, Lhs::Expr(e) if e.as_ref().last() == Some(&Node::Leaf(target.clone()))),
                );
                // A value at a fixed position with no equation of its own
                // (`bar(h[T])`): the general equation there.
                if let (true, Target::Var(r)) = (found.equations.is_empty(), t) {
                    if let Some(rhs) = cases::adjoint_at_fixed(self.model, r, &equations) {
                        found.equations.push(Derived {
                            lhs: Lhs::Expr(adjoint::leaf_expr(target)),
                            rhs: Rhs::Expr(rhs),
                        });
                    }
                }
                Ok(found)
            }
            Claim::Jacobian(k) => self.jacobian(*k),
            Claim::Det(k) => self.det(*k, span),
            Claim::Inverse(r) => {
                let inv = self.inverse(span)?;
                let implicit = inv
                    .notes
                    .iter()
                    .any(|n| matches!(n, Note::Implicit { unsolved, .. } if unsolved.contains(r)));
                if implicit {
                    return Err(Diagnostic::new(
                        span,
                        format!(
                            "the inverse gives `{}` only implicitly: it has no closed form to compare with",
                            self.model.symbols.ref_text(r)
                        ),
                        "solved implicitly",
                    )
                    .hint("claim the previous values the inverse gives explicitly; `derive inverse` shows the equation this one must solve"));
                }
                let target = Leaf::Var(r.clone());
                let found = pick(
                    inv,
                    &|d: &Derived| matches!(&d.lhs, Lhs::Expr(e) if e.as_ref().last() == Some(&Node::Leaf(target.clone()))),
                );
                if found.equations.is_empty() {
                    return Err(Diagnostic::new(
                        span,
                        format!("the inverse does not solve for `{}`", self.model.symbols.ref_text(r)),
                        "not part of the state",
                    )
                    .hint("an inverse gives the previous value of every state variable, such as `theta[k]`"));
                }
                Ok(found)
            }
            Claim::Params => count::params(self.model, req, 0).map(found),
            Claim::Macs(r) => count::macs_answer(self.model, r, req, 0).map(found),
            Claim::Depth(r) => depth::depth(self.model, r, req, 0, false).map(found),
        }
    }

    /// Answers request `k`.
    pub fn answer(&mut self, k: usize, req: &Request) -> Result<Answer, Diagnostic> {
        let done = match &req.kind {
            RequestKind::Adjoints { assuming, sums } => {
                self.adjoints_summed(assuming, sums, req.span)?
            }
            RequestKind::Grad {
                target,
                assuming,
                sums,
            } => self.gradient_summed(target, assuming, sums, req.span)?,
            RequestKind::Inverse => self.inverse(req.span)?,
            RequestKind::Jacobian { .. } => self.jacobian(k)?,
            RequestKind::Det { of } => self.det(*of, req.span)?,
            RequestKind::CountParams => {
                let mut a = count::params(self.model, req, k)?;
                if req.steps || self.options.steps {
                    a.steps = vec![count::params_steps(self.model, req, &a)];
                }
                return Ok(a);
            }
            RequestKind::CountMacs(r) => {
                let mut a = count::macs_answer(self.model, r, req, k)?;
                if req.steps || self.options.steps {
                    a.steps = vec![count::macs_steps(self.model, r, &a)];
                }
                return Ok(a);
            }
            RequestKind::Depth(r) => {
                return depth::depth(self.model, r, req, k, req.steps || self.options.steps)
            }
            RequestKind::Expect {
                lhs,
                rhs,
                assuming,
                sums,
                ..
            } => {
                let derived = match (self.claim(lhs, assuming, sums, req), lhs, rhs) {
                    // A depth that is not derived (not a polynomial, or not
                    // proven one) still refutes a claim that differs from
                    // the longest chain at a size enumerated.
                    (Err(e), Claim::Depth(r), crate::model::Claimed::Poly(q)) => {
                        let Some(at) = depth::refuted(self.model, r, q) else {
                            return Err(e);
                        };
                        let counterexample = format!(
                            "{at} (the depth itself is not derived: {})",
                            e.message.replace('`', "")
                        );
                        return Ok(Answer {
                            request: k,
                            equations: Vec::new(),
                            notes: Vec::new(),
                            verdict: Some(crate::key::Verdict::Refuted {
                                derived: Vec::new(),
                                counterexample,
                            }),
                            stats: Vec::new(),
                            failed: None,
                            refused: None,
                            steps: Vec::new(),
                            named: Vec::new(),
                        });
                    }
                    (d, ..) => d?,
                };
                let mut stats = derived.stats;
                // The adjoint equations, when either side mentions an
                // adjoint: a proof may use them, and under assumptions the
                // adjoints that vanish are zero in the claim too.
                let adjoints = if mentions_adjoints(&derived.equations, rhs) {
                    let before = self.adj.stats.len();
                    let found = self.adjoints_summed(assuming, sums, req.span);
                    stats.extend(self.adj.stats[before..].iter().cloned());
                    match found {
                        Ok(f) => f.equations,
                        // Without the adjoint equations a proof cannot
                        // replace an adjoint by its equation, but the
                        // numbers still decide; under assumptions they
                        // say which adjoints vanish, and are needed.
                        Err(_) if assuming.is_empty() => Vec::new(),
                        Err(e) => return Err(e),
                    }
                } else {
                    Vec::new()
                };
                let zero = match lhs {
                    Claim::Adjoint(_) if !assuming.is_empty() => expect::zero_adjoints(&adjoints),
                    _ => Default::default(),
                };
                let cx = expect::Context {
                    model: self.model,
                    shapes: &self.shapes,
                    limits: &self.options.limits,
                    adjoints: &adjoints,
                    sums,
                };
                let (mut verdict, proof, mut by) =
                    expect::decide(&cx, lhs, &derived.equations, rhs, assuming, &zero);
                stats.extend(proof);
                let mut notes: Vec<Note> = Vec::new();
                // A claimed previous value written with others the inverse
                // solves (a worked step of the inverse): those solved (the
                // claim's own derivation above derived the inverse).
                if let (
                    Claim::Inverse(r),
                    crate::model::Claimed::Expr(e),
                    crate::key::Verdict::NotProven { .. },
                ) = (lhs, rhs, &verdict)
                {
                    if let Some((solved, why)) =
                        inverse::solved_in_claim(self.model, e, r, &self.inverse_solved)
                    {
                        let solved = crate::model::Claimed::Expr(solved);
                        let (v, proof, kind) =
                            expect::decide(&cx, lhs, &derived.equations, &solved, assuming, &zero);
                        stats.extend(proof);
                        if matches!(v, crate::key::Verdict::Proven) {
                            (verdict, by) = (v, kind);
                            notes.push(why);
                        }
                    }
                }
                notes.extend(by.map(Note::Proof));
                if matches!(lhs, Claim::Adjoint(_)) {
                    notes.extend(self.fixed_steps_notes(&derived.equations));
                }
                // With steps, the derivation of the result the claim names,
                // joined to the claim where it is proven; where it is
                // refuted, the use at which it parts from the derivation.
                let (equations, steps) = if req.steps || self.options.steps {
                    let asked = Asked {
                        claim: lhs,
                        claimed: rhs,
                        assuming,
                        sums,
                        equations: &derived.equations,
                        verdict: &verdict,
                    };
                    let steps = self.claim_steps(&asked, by, req);
                    if let Some(p) = self.parting(&asked, req) {
                        notes.push(p);
                    }
                    (derived.equations.clone(), steps)
                } else {
                    (Vec::new(), Vec::new())
                };
                return Ok(Answer {
                    request: k,
                    equations,
                    notes,
                    verdict: Some(presented(verdict, self.model)),
                    stats,
                    failed: None,
                    refused: None,
                    steps,
                    named: derived.equations,
                });
            }
        };
        let mut steps = if req.steps || self.options.steps {
            self.steps(req, &done.equations)
        } else {
            Vec::new()
        };
        let mut equations = done.equations;
        for (k, eq) in equations.iter_mut().enumerate() {
            let Rhs::Expr(e) = &eq.rhs else {
                continue;
            };
            let Some((c, written)) = collected_writing(e, self.model) else {
                continue;
            };
            eq.rhs = Rhs::Expr(c.clone());
            // The steps end at the collected form.
            if let Some(list) = steps.get_mut(k) {
                let assumed = list.last().is_some_and(|s| s.assumed);
                let mut why = vec![steps::text(
                    "like terms collected: the terms with one matrix part summed, powers of one base merged",
                )];
                if let Some(v) = written {
                    let r = self.model.plain_ref(v);
                    why.extend([
                        steps::text(", once "),
                        crate::key::Part::Expr(adjoint::leaf_expr(Leaf::Var(r))),
                        steps::text(" is written out by its equation"),
                    ]);
                }
                list.push(crate::key::Step {
                    rhs: Rhs::Expr(c),
                    why,
                    assumed,
                });
            }
        }
        // A determinant whose collected form divides by nothing is
        // continuous where the Jacobian is, so it holds where a scalar the
        // simplification divided by is zero too: the condition goes.
        let mut notes = done.notes;
        let undivided = equations.iter().all(|eq| {
            matches!(eq.lhs, Lhs::Det(_)) && matches!(&eq.rhs, Rhs::Expr(e) if !det::divides(e))
        });
        if undivided && !equations.is_empty() {
            notes.retain(|n| !matches!(n, crate::key::Note::HoldsWhere(_)));
        }
        Ok(Answer {
            request: k,
            equations,
            notes,
            verdict: None,
            stats: done.stats,
            failed: None,
            refused: None,
            steps,
            named: Vec::new(),
        })
    }

    /// The steps of the result an `expect` names, one list per derived
    /// equation; a proven claim is the last step of its equation.
    fn claim_steps(
        &mut self,
        asked: &Asked<'_>,
        by: Option<crate::key::ProofKind>,
        req: &Request,
    ) -> Vec<Vec<crate::key::Step>> {
        let Asked {
            claim,
            claimed,
            assuming,
            sums,
            equations,
            verdict,
        } = *asked;
        let as_request = |kind: RequestKind| Request {
            kind,
            span: req.span,
            line: req.line,
            text: req.text.clone(),
            steps: true,
        };
        let mut out: Vec<Vec<crate::key::Step>> = match claim {
            Claim::Adjoint(t) => {
                let kind = if self.model.is_gradient(t) {
                    RequestKind::Grad {
                        target: t.clone(),
                        assuming: assuming.to_vec(),
                        sums: sums.to_vec(),
                    }
                } else {
                    RequestKind::Adjoints {
                        assuming: assuming.to_vec(),
                        sums: sums.to_vec(),
                    }
                };
                self.steps(&as_request(kind), equations)
            }
            Claim::Jacobian(k) => {
                let kind = self.model.requests[*k].kind.clone();
                self.steps(&as_request(kind), equations)
            }
            Claim::Det(k) => self.steps(&as_request(RequestKind::Det { of: *k }), equations),
            Claim::Inverse(_) => {
                let all = self
                    .inverse(req.span)
                    .map(|f| f.equations)
                    .unwrap_or_default();
                equations
                    .iter()
                    .map(|d| {
                        all.iter()
                            .position(|x| x.lhs == d.lhs)
                            .and_then(|i| self.inverse_steps.get(i).cloned())
                            .unwrap_or_default()
                    })
                    .collect()
            }
            Claim::Params => count::params(self.model, req, 0)
                .map(|a| vec![count::params_steps(self.model, req, &a)])
                .unwrap_or_default(),
            Claim::Macs(r) => count::macs_answer(self.model, r, req, 0)
                .map(|a| vec![count::macs_steps(self.model, r, &a)])
                .unwrap_or_default(),
            Claim::Depth(r) => depth::depth(self.model, r, req, 0, true)
                .map(|a| a.steps)
                .unwrap_or_default(),
        };
        out.resize(equations.len(), Vec::new());
        // A proven claim joins the derivation as its last step.
        if let (crate::key::Verdict::Proven, Some(last)) = (verdict, out.first_mut()) {
            let rhs = match claimed {
                crate::model::Claimed::Expr(e) => Some(Rhs::Expr(e.clone())),
                crate::model::Claimed::Poly(p) => Some(Rhs::Poly(p.clone())),
                crate::model::Claimed::IllTyped { .. } => None,
            };
            if let Some(rhs) = rhs {
                let how = match by {
                    Some(crate::key::ProofKind::NormalForm) => "both sides have one normal form",
                    Some(crate::key::ProofKind::Unfolded) => {
                        "both sides have one normal form once their values are written out"
                    }
                    Some(crate::key::ProofKind::Cleared) => {
                        "their difference is zero once cleared of the sums it divides by"
                    }
                    Some(crate::key::ProofKind::Rewrites) => {
                        "the two sides meet under the rewrite rules"
                    }
                    Some(crate::key::ProofKind::InverseMultiplied) => {
                        "the matrix inverted times the claim has the normal form of what the inverse is applied to"
                    }
                    Some(crate::key::ProofKind::Elimination) => {
                        "the claim's determinant by block elimination has the derived form's normal form"
                    }
                    Some(crate::key::ProofKind::Lemma) => {
                        "the claim's determinant by the matrix determinant lemma has the derived form's normal form"
                    }
                    Some(crate::key::ProofKind::Diagonal) => {
                        "the claim's determinant as the product of its diagonal has the derived form's normal form"
                    }
                    Some(crate::key::ProofKind::Cases) => {
                        "they are equal at the last (or first) step and at the others"
                    }
                    Some(crate::key::ProofKind::Reindexed) => {
                        "the claim's sum re-indexed, with the terms at its ends, has the derived form's normal form"
                    }
                    Some(crate::key::ProofKind::Polynomial) => {
                        "they are equal polynomials in the dims"
                    }
                    None => "they are one expression",
                };
                // A claim under assumptions may hold by them alone (the
                // derivation above need not change under them).
                let assumed = !assuming.is_empty() || last.last().is_none_or(|s| s.assumed);
                let text = |r: &Rhs| crate::print::rhs_plain(r, &self.model.symbols);
                match last.last_mut() {
                    // The claim as written is the last form: said there.
                    Some(l) if text(&l.rhs) == text(&rhs) => l.why.push(steps::text(format!(
                        "; this is the claim as written ({how})"
                    ))),
                    _ => last.push(crate::key::Step {
                        rhs,
                        why: vec![steps::text(format!(
                            "the claim, equal to the form above: {how}"
                        ))],
                        assumed,
                    }),
                }
            }
        }
        out
    }

    /// Where a refuted claim about an adjoint parts from its derivation:
    /// the first use whose terms it gets wrong (see [`expect::parting`]),
    /// with the derivation's terms for that use.
    fn parting(&mut self, asked: &Asked<'_>, req: &Request) -> Option<Note> {
        let (
            crate::key::Verdict::Refuted { .. },
            Claim::Adjoint(t),
            crate::model::Claimed::Expr(c),
        ) = (asked.verdict, asked.claim, asked.claimed)
        else {
            return None;
        };
        let (claim, assuming, sums, equations) =
            (asked.claim, asked.assuming, asked.sums, asked.equations);
        // Under assumptions the derived form is not the sum of its uses.
        if !assuming.is_empty() || !sums.is_empty() {
            return None;
        }
        let d = equations.first().and_then(rhs_expr)?;
        let users = self.adj.users(t, req.span).ok()?;
        let vars: Vec<Option<u32>> = users.iter().map(|u| u.1).collect();
        let k = expect::parting(self.model, claim, d, c, sums, &vars)?;
        let (user, _, term) = &users[k];
        let own = match t {
            Target::Var(r) => adjoint::leaf_expr(Leaf::Var(r.clone())),
            Target::Param(p) => adjoint::leaf_expr(Leaf::Param(*p)),
        };
        let mut parts = vec![
            steps::text(
                "the claim parts from the derivation at step 1, in the terms for the use of ",
            ),
            crate::key::Part::Expr(own),
            steps::text(" by "),
        ];
        parts.push(match user {
            Some(u) => crate::key::Part::Expr(u.clone()),
            None => steps::text("the loss"),
        });
        parts.push(steps::text(
            " (compared with every other adjoint set to zero); those terms come to ",
        ));
        parts.push(crate::key::Part::Expr(term.clone()));
        parts.push(steps::text(" once the forward values are named"));
        Some(Note::Parts(parts))
    }

    /// The derivation of each of a request's equations, step by step
    /// (see [`steps`]); an equation whose steps cannot be given has none.
    fn steps(&mut self, req: &Request, equations: &[Derived]) -> Vec<Vec<crate::key::Step>> {
        match &req.kind {
            RequestKind::Adjoints { assuming, sums } | RequestKind::Grad { assuming, sums, .. } => {
                // Under assumptions about sums, the steps reach the form
                // derived without them, then write it out.
                let base: Vec<Derived> = if sums.is_empty() {
                    equations.to_vec()
                } else {
                    match &req.kind {
                        RequestKind::Grad { target, .. } => self
                            .gradient(target, assuming, req.span)
                            .map(|f| f.equations)
                            .unwrap_or_default(),
                        _ => self
                            .adjoints(assuming, req.span)
                            .map(|f| f.equations)
                            .unwrap_or_default(),
                    }
                };
                equations
                    .iter()
                    .map(|d| {
                        let (Some(target), Some(rhs)) = (crate::verify::target_of(d), rhs_expr(d))
                        else {
                            return Vec::new();
                        };
                        let before = base
                            .iter()
                            .find(|b| crate::verify::target_of(b).as_ref() == Some(&target))
                            .and_then(rhs_expr)
                            .unwrap_or(rhs)
                            .clone();
                        let Ok(mut out) = self.adj.steps(&target, assuming, req.span, &before)
                        else {
                            return Vec::new();
                        };
                        if &before != rhs {
                            let mut why = vec![steps::text("assuming ")];
                            why.extend(steps::listed(
                                sums.iter()
                                    .map(|s| {
                                        let mut b = crate::ir::build::ExprBuilder::new();
                                        let v = b.leaf(Leaf::Var(self.model.plain_ref(s.var)));
                                        let root = b.add(Node::SumAll(v));
                                        crate::key::Part::Equation(
                                            b.finish(root),
                                            adjoint::num_expr(s.value.clone()),
                                        )
                                    })
                                    .collect(),
                            ));
                            why.push(steps::text(
                                ": each adjoint that is a closed form reading the input written out where it is used, the sum set to its value, and simplified",
                            ));
                            out.push(steps::step(rhs.clone(), why));
                        }
                        out
                    })
                    .collect()
            }
            RequestKind::Inverse => {
                let mut out = self.inverse_steps.clone();
                out.resize(equations.len(), Vec::new());
                out
            }
            RequestKind::Jacobian { of, wrt, .. } => equations
                .iter()
                .map(|d| match rhs_expr(d) {
                    Some(m) => {
                        jacobian::steps(self.model, &self.shapes, of, wrt, &self.options.limits, m)
                    }
                    None => Vec::new(),
                })
                .collect(),
            RequestKind::Det { of } => {
                let matrix = self.det_from.get(of).cloned().or_else(|| {
                    self.jacobian(*of)
                        .ok()
                        .and_then(|j| j.equations.first().and_then(rhs_expr).cloned())
                });
                let window = match &self.model.requests[*of].kind {
                    RequestKind::Jacobian { of, .. } => window::Window::computing(self.model, of),
                    _ => window::Window::whole(),
                };
                equations
                    .iter()
                    .map(|d| match (rhs_expr(d), &matrix) {
                        (Some(e), Some(m)) => det::steps(
                            self.model,
                            &self.shapes,
                            m,
                            &window,
                            &self.options.limits,
                            e,
                        ),
                        _ => Vec::new(),
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }
}

/// An `expect` as decided: what it claims, under what, and the verdict.
#[derive(Clone, Copy)]
struct Asked<'a> {
    claim: &'a Claim,
    claimed: &'a crate::model::Claimed,
    assuming: &'a [crate::model::Assumption],
    sums: &'a [crate::model::SumAssumption],
    equations: &'a [Derived],
    verdict: &'a crate::key::Verdict,
}

/// Answers every request of the model, in script order.
pub fn derive_all(model: &Model, options: &Options) -> Derivations {
    let mut out = Derivations::default();
    let mut session = Session::new(model, options);
    for (k, req) in model.requests.iter().enumerate() {
        match session.answer(k, req) {
            Ok(a) => out.answers.push(a),
            Err(d) => {
                // A later request that needs what an earlier one could not
                // derive is reported at itself, once, pointing at the first.
                let reported = match out
                    .problems
                    .iter()
                    .find(|p| p.message == d.message && p.span == d.span)
                {
                    Some(first) if d.span != req.span => {
                        let what = first.message.clone();
                        let again = Diagnostic::new(
                            req.span,
                            "this request needs a result that could not be derived",
                            "not answered",
                        )
                        .related(first.span, format!("because: {what}"))
                        .hint("see the error reported for the earlier request");
                        out.problems.push(again.clone());
                        Refusal {
                            message: format!("{}: {what}", again.message),
                            hint: again.hint,
                        }
                    }
                    _ => {
                        let r = Refusal {
                            message: d.message.clone(),
                            hint: d.hint.clone(),
                        };
                        if !out
                            .problems
                            .iter()
                            .any(|p| p.message == d.message && p.span == d.span)
                        {
                            out.problems.push(d);
                        }
                        r
                    }
                };
                // The request stays in the key, with why it has no answer.
                out.answers.push(Answer {
                    request: k,
                    equations: Vec::new(),
                    notes: Vec::new(),
                    verdict: None,
                    stats: Vec::new(),
                    failed: None,
                    refused: Some(reported),
                    steps: Vec::new(),
                    named: Vec::new(),
                });
            }
        }
    }
    out
}

/// Whether a derived result or a claimed form mentions an adjoint.
fn mentions_adjoints(derived: &[Derived], claimed: &crate::model::Claimed) -> bool {
    let has = |e: &RecExpr<Node>| {
        e.as_ref()
            .iter()
            .any(|n| matches!(n, Node::Leaf(Leaf::Bar(Target::Var(_)))))
    };
    derived.iter().filter_map(rhs_expr).any(has)
        || matches!(claimed, crate::model::Claimed::Expr(c) if has(c))
}

/// The expression of a derived equation's right side, if it has one.
pub fn rhs_expr(d: &Derived) -> Option<&RecExpr<Node>> {
    match &d.rhs {
        Rhs::Expr(e) => Some(e),
        Rhs::Poly(_) | Rhs::Terms(_) => None,
    }
}

/// A verdict with the derived forms it shows collected as the answers of
/// `derive` are (see [`collected`]).
fn presented(verdict: crate::key::Verdict, model: &Model) -> crate::key::Verdict {
    use crate::key::Verdict;
    let shown = |mut derived: Vec<Derived>| {
        for d in &mut derived {
            if let Rhs::Expr(e) = &d.rhs {
                if let Some(c) = collected(e, model) {
                    d.rhs = Rhs::Expr(c);
                }
            }
        }
        derived
    };
    match verdict {
        Verdict::Proven => Verdict::Proven,
        Verdict::Refuted {
            derived,
            counterexample,
        } => Verdict::Refuted {
            derived: shown(derived),
            counterexample,
        },
        Verdict::NotProven { derived, evidence } => Verdict::NotProven {
            derived: shown(derived),
            evidence,
        },
    }
}

/// `e` with like terms collected (see [`crate::ir::normal::collected`]),
/// where that prints shorter with no more nodes; a block matrix entry by
/// entry. `None` where nothing does.
fn collected(e: &RecExpr<Node>, model: &Model) -> Option<RecExpr<Node>> {
    collected_writing(e, model).map(|c| c.0)
}

/// [`collected`], with the variable written out by its equation for the
/// like terms to cancel, where one was.
fn collected_writing(e: &RecExpr<Node>, model: &Model) -> Option<(RecExpr<Node>, Option<u32>)> {
    let root = crate::ir::root(e);
    if let Node::Block(rows) = &e[root] {
        let mut b = crate::ir::build::ExprBuilder::new();
        let mut changed = false;
        let mut new_rows = Vec::with_capacity(rows.len());
        for &r in rows.iter() {
            let Node::Row(cells) = &e[r] else {
                return None;
            };
            let mut new_cells = Vec::with_capacity(cells.len());
            for &c in cells.iter() {
                let mut cb = crate::ir::build::ExprBuilder::new();
                let at = cb.copy(e, c);
                let cell = cb.finish(at);
                let cell = match collected(&cell, model) {
                    Some(x) => {
                        changed = true;
                        x
                    }
                    None => cell,
                };
                new_cells.push(b.copy_all(&cell));
            }
            new_rows.push(b.add(Node::Row(new_cells.into())));
        }
        let root = b.add(Node::Block(new_rows.into()));
        return changed.then(|| (b.finish(root), None));
    }
    // Shorter in print, with no more nodes; or as short, with less inside
    // sums (`-sum(x) / s`, not `-sum(x / s)`), or with fewer numbers after
    // what they scale (`2 * (o - y)`, not `(o - y) * 2`).
    let text = |x: &RecExpr<Node>| crate::ir::text::expr(&model.symbols, x).len();
    let tie = |x: &RecExpr<Node>| (summed_size(x), numbers_last(x));
    // Or, no longer in print, with powers merged: `b1^(D + 1)`, not `b1 *
    // b1^D`; `b2^D * (1 - a)^D`, not `(b2 * (1 - a))^D`.
    let better = |c: &RecExpr<Node>, than: &RecExpr<Node>| {
        let (tc, tt) = (text(c), text(than));
        if tc <= tt && unmerged_powers(c) < unmerged_powers(than) {
            return true;
        }
        let shorter = match tc.cmp(&tt) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal => tie(c) < tie(than),
            std::cmp::Ordering::Greater => false,
        };
        crate::ir::size(c) <= crate::ir::size(than)
            && shorter
            && unmerged_powers(c) <= unmerged_powers(than)
    };
    // The like terms collected in the normal form, and the diagonal terms
    // joined as written (of the derived form and of the collected one);
    // a joined form is used where it has the derived form's normal form.
    let collected = crate::ir::normal::collected(e, model);
    let mut candidates: Vec<(RecExpr<Node>, Option<u32>)> = Vec::new();
    for from in std::iter::once(e).chain(collected.as_ref()) {
        if let Some(j) = crate::ir::join::joined(from) {
            if crate::ir::normal::same(e, &j, model) {
                candidates.push((j, None));
            }
        }
    }
    candidates.extend(collected.map(|c| (c, None)));
    // Like terms that cancel once a value computed once (with no index:
    // a batch's mean) is written out by its equation: `bar(v) .* (mu -
    // sum(n, x[n]) / N)` is zero where `mu = sum(n, x[n]) / N`.
    for v in once_computed(e, model) {
        let Some(eq) = model.equation_of(v) else {
            continue;
        };
        let leaf = crate::ir::Leaf::Var(model.plain_ref(v));
        let written = crate::ir::build::substitute(e, &leaf, &eq.norm);
        if let Some(c) = crate::ir::normal::collected(&written, model) {
            candidates.push((c, Some(v)));
        }
    }
    let mut best: Option<(RecExpr<Node>, Option<u32>)> = None;
    for c in candidates {
        if better(&c.0, best.as_ref().map_or(e, |b| &b.0)) {
            best = Some(c);
        }
    }
    best
}

/// The variables `e` names that an equation computes once (they have no
/// index), in order.
fn once_computed(e: &RecExpr<Node>, model: &Model) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for n in e.as_ref() {
        if let Node::Leaf(crate::ir::Leaf::Var(r)) = n {
            if r.at.is_empty() && model.equation_of(r.var).is_some() && !out.contains(&r.var) {
                out.push(r.var);
            }
        }
    }
    out
}

/// Powers not merged, as printed: a product raised to a power that is not
/// a number (`(a * b)^D`), and each factor of a product whose base another
/// factor of the same product has (`b1 * b1^D`, counted once for each).
fn unmerged_powers(e: &RecExpr<Node>) -> usize {
    // Copied into a builder, equal subtrees are one node.
    let mut b = crate::ir::build::ExprBuilder::new();
    let root = b.copy_all(e);
    let base = |id: egg::Id| match b.node(id) {
        Node::Pow([x, _]) => *x,
        _ => id,
    };
    let mut count = 0usize;
    // Each node, and whether it is a factor of a product.
    let mut stack = vec![(root, false)];
    while let Some((id, factor)) = stack.pop() {
        let n = b.node(id);
        match n {
            Node::Pow([x, k])
                if matches!(b.node(*x), Node::Mul(_)) && !matches!(b.node(*k), Node::Num(_)) =>
            {
                count += 1;
            }
            // The factors of a whole product, each base once.
            Node::Mul(_) if !factor => {
                let mut factors = Vec::new();
                let mut product = vec![id];
                while let Some(f) = product.pop() {
                    match b.node(f) {
                        Node::Mul([x, y]) => product.extend([*x, *y]),
                        _ => factors.push(base(f)),
                    }
                }
                factors.sort_unstable();
                count += factors.windows(2).filter(|w| w[0] == w[1]).count();
            }
            _ => {}
        }
        let in_product = matches!(n, Node::Mul(_));
        stack.extend(egg::Language::children(n).iter().map(|&c| (c, in_product)));
    }
    count
}

/// The products with a number after the factor it scales (`x * 2`).
fn numbers_last(e: &RecExpr<Node>) -> usize {
    e.as_ref()
        .iter()
        .filter(|n| match n {
            Node::Mul([a, b]) => matches!(e[*b], Node::Num(_)) && !matches!(e[*a], Node::Num(_)),
            _ => false,
        })
        .count()
}

/// The nodes inside sums (over an index or of entries), each counted once
/// for every sum it is inside.
fn summed_size(e: &RecExpr<Node>) -> usize {
    let nodes = e.as_ref();
    // The size of each node's tree, and the nodes inside sums within it.
    let mut size: Vec<usize> = Vec::with_capacity(nodes.len());
    let mut inside: Vec<usize> = Vec::with_capacity(nodes.len());
    for n in nodes {
        let kids = egg::Language::children(n);
        let s = kids
            .iter()
            .fold(1usize, |a, &c| a.saturating_add(size[usize::from(c)]));
        let mut i = kids
            .iter()
            .fold(0usize, |a, &c| a.saturating_add(inside[usize::from(c)]));
        if matches!(n, Node::Sum(_) | Node::SumAll(_)) {
            i = i.saturating_add(s - 1);
        }
        size.push(s);
        inside.push(i);
    }
    inside.last().copied().unwrap_or(0)
}
