//! Reverse-mode adjoints and parameter gradients, for any script.
//!
//! The adjoint of `v[I]` sums one term per use of `v` in every consumer (an
//! equation, the loss, or a boundary value set by `init`). A use `v[I+o]`
//! in the equation `u[J+d] = rhs` (as written) gives
//! `vjp(bar(u[J+d]), v[I+o], rhs)`, derived by the chain-rule rewrites on a
//! graph whose leaves are independent, then shifted by `-o` so that it
//! speaks of `v[I]`: a use of `h[t-1]` in `i[t]` becomes a term of
//! `bar(h[t])` in `bar(i[t+1])`. Indices of the consumer that `v` lacks are
//! summed over (over the range as written: `h[k+1] = f(h[k], b)` gives
//! `bar(b) = sum(k, ... bar(h[k+1]) ...)`), which is also how a parameter's
//! gradient collects every step.
//!
//! Each term holds at the index values where its consumer is computed. The
//! adjoint of a value the model does not compute there is zero (the
//! convention every printed adjoint states, see [`crate::eval::FdAdjoints`]),
//! so a term that flows back from outside the range vanishes by itself;
//! only a sum in a consumer (the loss's `sum(t, ...)`) must run over exactly
//! the values the equation computes, or the adjoint has a boundary case
//! that is refused.
//!
//! Each term is simplified on its own graph, where the forward values that
//! exist at every index value of the term's window are merged with their
//! definitions (so extraction prefers `i[t+1] .* (1 - i[t+1])` to a
//! recomputed `sigma'(...)`, but never writes `h[t+1]`, which does not
//! exist at the last step, for a term that does not vanish there) and
//! where assumptions hold; then the sum of the terms is simplified again.
//!
//! A parameter used in a boundary value (`init h[0] = h0`) gets the terms
//! that flow back into that value: `bar(h0) = U^T * (bar(h[1]) .* ...)`.

use super::scope::Scope;
use super::window::Window;
use crate::diag::{Diagnostic, Span};
use crate::egraph::{extract, graph, run, writable, ShapeTable, UNRESOLVED};
use crate::ir::build::ExprBuilder;
use crate::ir::{self, Ix, Leaf, Node, Ref, Target};
use crate::key::{Derived, Lhs, Part, Rhs, RunStats, Step};
use crate::model::{Assumption, Model, VarKind};
use crate::num::Rational;
use crate::rules;
use crate::Limits;
use egg::{Id, Language, RecExpr};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeSet;
use std::rc::Rc;

pub use super::scope::constant_value;

/// The budget of the pass that tidies powers and roots (see
/// `Adjoints::tidy_powers`).
const TIDY_NODES: usize = 1_000;
const TIDY_ITERS: usize = 4;

/// What a set of assumptions is, as a key: each variable with its value.
type AssumptionKey = Vec<(u32, RecExpr<Node>)>;

/// A finished adjoint's key: the target, the assumptions, and the
/// variables whose adjoints vanish.
type DoneKey = (Target, AssumptionKey, Vec<u32>);

/// Derives adjoints and gradients for one model, remembering the terms of
/// each target and each finished adjoint across requests.
pub struct Adjoints<'m> {
    model: &'m Model,
    shapes: Rc<ShapeTable>,
    limits: &'m Limits,
    /// Every consumer: the loss, the equations in script order, the inits.
    consumers: Vec<Consumer>,
    /// For each variable (by number) and parameter, its uses: the consumer
    /// and the reference, in order.
    uses: HashMap<UseOf, Vec<(usize, Leaf)>>,
    /// The differentiated terms of each target.
    terms: HashMap<Target, Rc<[Term]>>,
    /// The terms of each target with their forward values named, and
    /// whether a limit stopped that.
    named: HashMap<Target, Rc<[(Term, bool)]>>,
    /// Finished adjoints, by target, assumptions and vanishing adjoints.
    done: HashMap<DoneKey, (RecExpr<Node>, bool)>,
    /// The terms of each finished adjoint with the assumptions substituted,
    /// before their sum is simplified (for its steps).
    parts: HashMap<DoneKey, Vec<RecExpr<Node>>>,
    /// The vanishing adjoints of the latest derivation of each target under
    /// each set of assumptions: the one a request prints.
    last_zero: HashMap<(Target, AssumptionKey), Vec<u32>>,
    /// The variables whose adjoints were found to vanish together under
    /// each set of assumptions (see `vanishing_together`).
    together: HashMap<AssumptionKey, BTreeSet<u32>>,
    /// Statistics of every e-graph run, in order.
    pub stats: Vec<RunStats>,
    /// Whether each term is also derived by the chain rule alone, for the
    /// steps of a derivation (set when a request asks for steps).
    pub keep_local: bool,
}

/// What a use is a use of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum UseOf {
    Var(u32),
    Param(u32),
}

/// What kind of use a reference to a variable is (see
/// `Adjoints::use_kind`).
enum UseKind {
    /// At free indices: `h[t-1]`.
    Free,
    /// At a fixed step the model computes: `h[T]`.
    Step(Ref),
    /// At a value the model does not compute: `h[0]`.
    Given,
}

/// A term of the general adjoint of `v` at one of its fixed steps: the
/// term with the step's fixed positions filled in, if it holds there (a
/// term from `h[t+1]` does not hold at the last step, where it vanishes).
fn at_step(model: &Model, t: &Term, step: &Ref) -> Option<Term> {
    let indices = &model.vars.get(step.var as usize)?.indices;
    let mut window = t.window.clone();
    for (ix, &i) in step.at.iter().zip(indices) {
        let (lower, upper) = window.get(i);
        let holds = match *ix {
            Ix::Rel(..) => continue,
            Ix::End(_, o) => o <= upper,
            Ix::Abs(a) => model
                .range_start(i)
                .is_some_and(|lo| a >= lo.saturating_add(lower)),
        };
        if !holds {
            return None;
        }
        window.remove(i);
    }
    let expr = ir::fix_at(&t.expr, &|i| {
        let p = indices.iter().position(|&j| j == i)?;
        match step.at.get(p)? {
            Ix::Rel(..) => None,
            fixed => Some(*fixed),
        }
    });
    let fixed = |i: u32| {
        let p = indices.iter().position(|&j| j == i)?;
        match step.at.get(p)? {
            Ix::Rel(..) => None,
            fixed => Some(*fixed),
        }
    };
    Some(Term {
        key: t.key,
        expr,
        summed: t.summed.clone(),
        window,
        user: t.user.as_ref().map(|u| ir::fix_at(u, &fixed)),
        ops: t.ops.clone(),
        boundary: t.boundary,
        local: t.local.as_ref().map(|u| ir::fix_at(u, &fixed)),
    })
}

/// What kind of consumer a consumer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Loss,
    Equation,
    /// The boundary value set by `init` number `.0`.
    Init(usize),
}

/// A consumer of values: an equation, the loss, or a boundary value.
struct Consumer {
    /// The right side as written.
    rhs: RecExpr<Node>,
    /// `bar(u[J+d])` for an equation (its left side as written); `None`
    /// (the number 1) for the loss and for boundary values (whose terms
    /// are built differently).
    seed: Option<Leaf>,
    /// The consumer's own free indices.
    indices: Vec<u32>,
    /// 0 for the loss, 1 for equations, 2 for boundary values.
    rank: u8,
    /// Script order among consumers of one rank.
    order: usize,
    kind: Kind,
}

/// One term of an adjoint, differentiated, before simplification.
#[derive(Debug, Clone)]
struct Term {
    /// Sort key: the loss first, then by how far ahead the consumer is,
    /// then in script order.
    key: (u8, i64, usize),
    /// The term, in the target's frame, before the sums around it.
    expr: RecExpr<Node>,
    /// Indices summed around it, outermost first.
    summed: Vec<u32>,
    /// Where it holds.
    window: Window,
    /// The value whose equation uses the target, in the target's frame
    /// (`c[t+1]` for the use of `c[t]` in `c[t+1]`); `None` for the loss.
    user: Option<RecExpr<Node>>,
    /// The operators the use flows back through, in words.
    ops: Vec<Part>,
    /// Whether the use is through a boundary value set by `init`.
    boundary: bool,
    /// The term as the chain rule alone gives it (`tanh'(c[t])` where
    /// `expr` has `1 - tanh(c[t])^2`), where kept (see
    /// `Adjoints::keep_local`).
    local: Option<RecExpr<Node>>,
}

/// A derived adjoint equation with what the reader needs to know about it.
pub struct Adjoint {
    /// `bar(v[I]) = rhs`.
    pub derived: Derived,
    /// Whether simplification stopped at a limit.
    pub limited: bool,
}

/// The error for a derivative that no expression in the graph writes with
/// every value's shape.
pub fn unshaped(span: Span, what: &str) -> Diagnostic {
    error(
        span,
        format!(
            "the derivation of {what} cannot be written without changing a value's shape \
             (a scalar added to a value that is zero here would read as a scalar)"
        ),
        "this is a limitation of deriv: please report the script; writing the sum without \
         the term that is zero avoids it",
    )
}

fn error(span: Span, message: impl Into<String>, hint: impl Into<String>) -> Diagnostic {
    Diagnostic::new(span, message, "while deriving this").hint(hint)
}

/// The references in an expression, distinct, in order of appearance.
fn refs_of(expr: &RecExpr<Node>, mut keep: impl FnMut(&Leaf) -> bool) -> Vec<Leaf> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for n in expr.as_ref() {
        if let Node::Leaf(l) = n {
            if keep(l) && seen.insert(l.clone()) {
                out.push(l.clone());
            }
        }
    }
    out
}

/// `expr` without the `sum` nodes over one of `bound` whose body contains
/// `leaf`, and the indices those sums ran over: the term of the sum that
/// holds the leaf, with the summed index free. A sum over another index
/// stays (the chain rule passes through it: `sum(n, w^T * x[n])` is linear
/// in `w`, term by term).
fn unsum(expr: &RecExpr<Node>, leaf: &Leaf, bound: &[u32]) -> (RecExpr<Node>, Vec<u32>) {
    let nodes = expr.as_ref();
    let contains = crate::ir::holding(expr, leaf);
    let mut freed = Vec::new();
    let mut b = ExprBuilder::new();
    let mut map: Vec<Id> = Vec::with_capacity(nodes.len());
    for (k, n) in nodes.iter().enumerate() {
        let id = match n {
            Node::Sum([t, body])
                if contains[k]
                    && matches!(&nodes[usize::from(*t)], Node::Leaf(Leaf::Index(i)) if bound.contains(i)) =>
            {
                if let Node::Leaf(Leaf::Index(i)) = &nodes[usize::from(*t)] {
                    freed.push(*i);
                }
                map[usize::from(*body)]
            }
            other => b.add(other.clone().map_children(|c| map[usize::from(c)])),
        };
        map.push(id);
    }
    let root = map.last().copied().unwrap_or_else(|| Id::from(0));
    (b.finish(root), freed)
}

/// A sum over one of `bound` that holds `leaf` where `expr` is not
/// linear in it: inside a function, a power, a divisor, or a product with
/// another factor that holds `leaf` (`log(sum(t, y[t]))`, `sum(t, a[t] *
/// x[t]) / sum(t, a[t])`). There the derivative by `leaf` needs the sum's
/// value, which [`unsum`] would replace by one term. The first such sum,
/// where there is one.
fn nonlinear_sum(expr: &RecExpr<Node>, leaf: &Leaf, bound: &[u32]) -> Option<Id> {
    let contains = crate::ir::holding(expr, leaf);
    let has = |id: Id| contains[usize::from(id)];
    // From the root down, whether each node is in a linear position.
    let mut stack = vec![(ir::root(expr), true)];
    while let Some((id, linear)) = stack.pop() {
        if !has(id) {
            continue;
        }
        let n = &expr[id];
        if let Node::Sum([t, _]) = n {
            if matches!(&expr[*t], Node::Leaf(Leaf::Index(i)) if bound.contains(i)) {
                if !linear {
                    return Some(id);
                }
                // Each term of the sum is differentiated on its own.
                continue;
            }
        }
        match n {
            Node::Add([a, b]) | Node::Sub([a, b]) => {
                stack.extend([(*a, linear), (*b, linear)]);
            }
            Node::Neg(a) | Node::Trans(a) | Node::SumAll(a) | Node::Sum([_, a]) => {
                stack.push((*a, linear));
            }
            Node::Mul([a, b]) | Node::Had([a, b]) => {
                let both = has(*a) && has(*b);
                stack.extend([(*a, linear && !both), (*b, linear && !both)]);
            }
            Node::Div([a, d]) => {
                stack.extend([(*a, linear && !has(*d)), (*d, false)]);
            }
            other => stack.extend(other.children().iter().map(|&c| (c, false))),
        }
    }
    None
}

/// `expr` inside sums over `indices`, the first outermost.
fn wrap_sums(expr: RecExpr<Node>, indices: &[u32]) -> RecExpr<Node> {
    let mut expr = expr;
    for &i in indices.iter().rev() {
        let mut b = ExprBuilder::new();
        let inner = b.copy_all(&expr);
        let t = b.leaf(Leaf::Index(i));
        let root = b.add(Node::Sum([t, inner]));
        expr = b.finish(root);
    }
    expr
}

impl<'m> Adjoints<'m> {
    /// A deriver for `model`.
    pub fn new(model: &'m Model, shapes: Rc<ShapeTable>, limits: &'m Limits) -> Adjoints<'m> {
        let mut consumers: Vec<Consumer> = Vec::new();
        if let Some(loss) = &model.loss {
            consumers.push(Consumer {
                rhs: loss.value.clone(),
                seed: None,
                indices: Vec::new(),
                rank: 0,
                order: 0,
                kind: Kind::Loss,
            });
        }
        for (k, eq) in model.equations.iter().enumerate() {
            consumers.push(Consumer {
                rhs: eq.rhs.clone(),
                seed: Some(Leaf::Bar(Target::Var(eq.lhs.clone()))),
                indices: model.vars[eq.var as usize].indices.clone(),
                rank: 1,
                order: k,
                kind: Kind::Equation,
            });
        }
        for (k, init) in model.inits.iter().enumerate() {
            consumers.push(Consumer {
                rhs: init.value.clone(),
                seed: None,
                indices: init.target.offsets().iter().map(|x| x.0).collect(),
                rank: 2,
                order: k,
                kind: Kind::Init(k),
            });
        }
        let mut uses: HashMap<UseOf, Vec<(usize, Leaf)>> = HashMap::default();
        for (c, consumer) in consumers.iter().enumerate() {
            for leaf in refs_of(&consumer.rhs, |l| {
                matches!(l, Leaf::Var(_) | Leaf::Param(_))
            }) {
                let key = match &leaf {
                    Leaf::Var(r) => UseOf::Var(r.var),
                    Leaf::Param(p) => UseOf::Param(*p),
                    _ => continue,
                };
                uses.entry(key).or_default().push((c, leaf));
            }
        }
        Adjoints {
            model,
            shapes,
            limits,
            consumers,
            uses,
            terms: HashMap::default(),
            named: HashMap::default(),
            done: HashMap::default(),
            parts: HashMap::default(),
            last_zero: HashMap::default(),
            together: HashMap::default(),
            stats: Vec::new(),
            keep_local: false,
        }
    }

    fn target_text(&self, t: &Target) -> String {
        self.model.symbols.leaf_text(&Leaf::Bar(t.clone()))
    }

    /// Differentiates one use: `vjp(seed, leaf, rhs)` on an e-graph of
    /// independent leaves.
    fn differentiate(
        &mut self,
        seed: &RecExpr<Node>,
        leaf: &Leaf,
        rhs: &RecExpr<Node>,
        span: Span,
        what: &str,
    ) -> Result<RecExpr<Node>, Diagnostic> {
        let (g, root) = self.vjp_graph(seed, leaf, rhs);
        let ran = run(g, rules::differentiate(), self.limits, what);
        self.stats.push(ran.stats.clone());
        let Some((cost, best)) = extract(&ran.graph, root) else {
            return Err(unshaped(span, what));
        };
        if cost < UNRESOLVED {
            return Ok(best);
        }
        if ran.limited {
            return Err(error(
                span,
                format!(
                    "the derivation of {what} did not finish within the e-graph limits ({})",
                    ran.stats.stop
                ),
                "raise the limits with `--egraph-nodes` or `--egraph-iters`",
            ));
        }
        // Name the operation the chain rule could not pass through: one
        // that some unresolved derivative is applied to and no rule covers.
        let g = &ran.graph;
        let blocked = g
            .classes()
            .flat_map(|c| c.nodes.iter())
            .find_map(|n| match n {
                Node::Vjp([_, _, e]) => g[*e].nodes.iter().find_map(|m| match m {
                    Node::Hess(_) => {
                        Some("`hess`, whose derivative needs third derivatives".to_owned())
                    }
                    Node::Block(_) | Node::Row(_) => Some("a block matrix".to_owned()),
                    Node::Diag(_) => Some("`diag`".to_owned()),
                    Node::Prod(_) => Some("`prod`, the product of entries".to_owned()),
                    Node::SumAll(_) => Some(
                        "`sum` of the entries of a value that is not an elementwise product"
                            .to_owned(),
                    ),
                    _ => None,
                }),
                _ => None,
            });
        let op = blocked.unwrap_or_else(|| "an operation it has no rule for".to_owned());
        Err(error(
            span,
            format!("{what} cannot be derived: the chain rule does not pass through {op}"),
            "this operation has no derivative rule yet; rewrite the model without it",
        ))
    }

    /// A graph of independent leaves holding `vjp(seed, leaf, rhs)`, and
    /// its class.
    fn vjp_graph(
        &self,
        seed: &RecExpr<Node>,
        leaf: &Leaf,
        rhs: &RecExpr<Node>,
    ) -> (crate::ir::analysis::Graph, Id) {
        let mut b = ExprBuilder::new();
        let e = b.copy_all(rhs);
        let s = b.copy_all(seed);
        let x = b.leaf(leaf.clone());
        let root = b.add(Node::Vjp([s, x, e]));
        let expr = b.finish(root);
        let mut g = graph(&self.shapes);
        let root = g.add_expr(&expr);
        (g, root)
    }

    /// `vjp(seed, leaf, rhs)` by the chain rule alone, derivative forms
    /// unexpanded, with the trivial zeros and ones of its products left
    /// out; `None` where that does not resolve every derivative.
    fn chain_rule_only(
        &mut self,
        seed: &RecExpr<Node>,
        leaf: &Leaf,
        rhs: &RecExpr<Node>,
        what: &str,
    ) -> Option<RecExpr<Node>> {
        let (g, root) = self.vjp_graph(seed, leaf, rhs);
        let ran = run(
            g,
            rules::chain_rule(),
            self.limits,
            &format!("steps of {what}"),
        );
        self.stats.push(ran.stats.clone());
        match extract(&ran.graph, root) {
            Some((cost, best)) if cost < UNRESOLVED => Some(super::steps::trivial_gone(&best)),
            _ => None,
        }
    }

    /// What kind of use a reference is: at free indices (the ordinary
    /// case), at a fixed step the model computes (`h[T]`, `h[1]`: see
    /// [`Model::fixed_steps`]), or at a value the model does not compute (a
    /// boundary value before the start of the range, a given value past
    /// its end), whose own terms reach the parameters it is made of.
    fn use_kind(&self, r: &Ref) -> UseKind {
        if r.at.iter().all(|ix| matches!(ix, Ix::Rel(..))) {
            return UseKind::Free;
        }
        let step = self.model.step_of(r);
        if self.model.fixed_steps(r.var).contains(&step) {
            UseKind::Step(step)
        } else {
            UseKind::Given
        }
    }

    /// Where the target's equation computes it, at each of its indices
    /// (see [`Model::domain`]; none for a parameter).
    fn target_domain(&self, target: &Target) -> Vec<(u32, (i64, i64))> {
        match target {
            Target::Var(r) => {
                let domain = self.model.adjoint_domain(r.var).unwrap_or_default();
                self.model.vars[r.var as usize]
                    .indices
                    .iter()
                    .copied()
                    .zip(domain)
                    .zip(r.at.iter())
                    .filter(|(_, ix)| matches!(ix, Ix::Rel(..)))
                    .map(|(x, _)| x)
                    .collect()
            }
            Target::Param(_) => Vec::new(),
        }
    }

    /// The term of one use of the target in an equation or the loss.
    fn use_term(
        &mut self,
        target: &Target,
        c: usize,
        used: &Leaf,
        span: Span,
        what: &str,
    ) -> Result<Term, Diagnostic> {
        let own = self.target_domain(target);
        let offsets = match used {
            Leaf::Var(r) => r.offsets(),
            _ => Vec::new(),
        };
        let bound: Vec<u32> = offsets.iter().map(|x| x.0).collect();
        let consumer = &self.consumers[c];
        if let Some(sum) = nonlinear_sum(&consumer.rhs, used, &bound) {
            let sum = ir::build::subtree(&consumer.rhs, sum);
            let text = crate::ir::text::expr(&self.model.symbols, &sum);
            let used_text = self.model.symbols.leaf_text(used);
            return Err(error(
                span,
                format!(
                    "{what} cannot be derived yet: `{text}` sits inside a function, a power, a divisor or a product with another use of `{used_text}`, and deriv does not yet carry the chain rule through such a sum"
                ),
                format!(
                    "name the sum with an equation of its own (`S = {text}`) and use `S` where it was: its adjoint is then derived, and flows back to `{used_text}`"
                ),
            ));
        }
        let (body, freed) = unsum(&consumer.rhs, used, &bound);
        // A sum in the consumer must run over exactly the values the
        // target's equation computes; otherwise the term holds at some of
        // them only, and nothing makes it vanish at the others.
        for i in &freed {
            let o = offsets.iter().find(|x| x.0 == *i).map_or(0, |x| x.1);
            let (lower, upper) = own.iter().find(|x| x.0 == *i).map_or((0, 0), |x| x.1);
            if !(o <= lower && o >= upper) {
                let index = self.model.symbols.index_name(*i).to_owned();
                let consumer_name = match consumer.kind {
                    Kind::Loss => "the loss".to_owned(),
                    _ => "an equation".to_owned(),
                };
                let used_text = self.model.symbols.leaf_text(used);
                return Err(error(
                    span,
                    format!(
                        "{what} has a boundary case that deriv cannot write yet: {consumer_name} sums `{used_text}` over the values of `{index}`, which are not the values the equation of `{}` computes",
                        self.model.symbols.var(match target { Target::Var(r) => r.var, Target::Param(_) => 0 })
                    ),
                    format!(
                        "sum over the values the equation computes (shift the reference in the sum so that it matches the equation's left side), or ask for the gradients (`derive grad ...`), which need no adjoint equation of `{}`",
                        self.model.symbols.var(match target { Target::Var(r) => r.var, Target::Param(_) => 0 })
                    ),
                ));
            }
        }
        let seed = match &consumer.seed {
            Some(l) => leaf_expr(l.clone()),
            None => num_expr(Rational::one()),
        };
        let (indices, rank, order) = (consumer.indices.clone(), consumer.rank, consumer.order);
        let ops = super::steps::ops_to(&body, used, &self.model.symbols);
        let user = match &consumer.seed {
            Some(Leaf::Bar(Target::Var(r))) => Some(leaf_expr(Leaf::Var(r.clone()))),
            _ => None,
        };
        let derived = self.differentiate(&seed, used, &body, span, what)?;
        let back = |i: u32| -offsets.iter().find(|x| x.0 == i).map_or(0, |x| x.1);
        let expr = ir::shift(&derived, &back);
        let user = user.map(|u| ir::shift(&u, &back));
        let local = if self.keep_local {
            self.chain_rule_only(&seed, used, &body, what)
                .map(|e| ir::shift(&e, &back))
        } else {
            None
        };
        let mut window = Window::whole();
        for &(i, o) in &offsets {
            let (lower, upper) = own.iter().find(|x| x.0 == i).map_or((0, 0), |x| x.1);
            window.set(i, o.max(lower), o.min(upper));
        }
        let own_indices: Vec<u32> = own.iter().map(|x| x.0).collect();
        let summed: Vec<u32> = indices
            .into_iter()
            .filter(|i| !own_indices.contains(i))
            .collect();
        // Summed indices are free inside the sums around the term, over
        // their whole range.
        for &i in &summed {
            window.set(i, 0, 0);
        }
        let ahead: i64 = -offsets.iter().map(|&(_, o)| o).sum::<i64>();
        Ok(Term {
            key: (rank, ahead, order),
            expr,
            summed,
            window,
            user,
            ops,
            boundary: false,
            local,
        })
    }

    /// The terms of a target used in the boundary value of `init` number
    /// `k`: what flows back into that value from each of its uses, through
    /// the boundary value into the target.
    fn boundary_terms(
        &mut self,
        target: &Target,
        k: usize,
        used: &Leaf,
        span: Span,
        what: &str,
        out: &mut Vec<Term>,
    ) -> Result<(), Diagnostic> {
        let model = self.model;
        let init = &model.inits[k];
        let h = init.target.var;
        let unsupported = |why: String| {
            error(
                span,
                format!("{what} cannot be derived yet: {why}"),
                "this is a limitation of deriv; a boundary value made of parameters and plain values is supported",
            )
        };
        if matches!(target, Target::Var(r) if r.at.iter().any(|ix| matches!(ix, Ix::Rel(..)))) {
            return Err(unsupported(format!(
                "it is used in a boundary value of `{}` at every index value",
                model.symbols.var(h)
            )));
        }
        let uses = self.uses.get(&UseOf::Var(h)).cloned().unwrap_or_default();
        for (c2, u2) in uses {
            if matches!(self.consumers[c2].kind, Kind::Init(_)) {
                continue;
            }
            let Leaf::Var(r2) = &u2 else { continue };
            // Which consumer index values reach the boundary value: fixed
            // ones (`h[0]` through `h[t-1]`: t = 1) and free ones.
            let mut fixed: Vec<(u32, i64)> = Vec::new();
            let mut moved: Vec<(u32, i64)> = Vec::new();
            let mut fixed_init: Vec<(u32, i64)> = Vec::new();
            let mut reaches = true;
            // A position counted from the end, which is only a problem
            // where the use reaches the boundary value at all.
            let mut at_end = None;
            let h_domain = model.domain(h).unwrap_or_default();
            for (p, (a, b)) in init.target.at.iter().zip(r2.at.iter()).enumerate() {
                let upper = h_domain.get(p).map_or(0, |x| x.1);
                match (*a, *b) {
                    // A use of a computed step counted from the end
                    // (`h[T]`) is not a boundary value before the start.
                    (Ix::Abs(_), Ix::End(_, o)) if o <= upper => reaches = false,
                    (Ix::End(..), _) => {
                        return Err(unsupported(format!(
                            "`{}` is set past the end of a range",
                            model.symbols.var(h)
                        )))
                    }
                    (_, Ix::End(..)) => {
                        at_end = Some(format!(
                            "a boundary value of `{}` is used at a position counted from the end of a range (`{}`)",
                            model.symbols.var(h),
                            model.symbols.ref_text(r2)
                        ));
                    }
                    (Ix::Abs(x), Ix::Rel(i, o)) => {
                        let q = x.saturating_sub(o);
                        match model.range_start(i) {
                            Some(lo) if q >= lo => fixed.push((i, q)),
                            Some(_) => reaches = false,
                            None => {
                                return Err(unsupported(format!(
                                    "the range of `{}` starts at a value that depends on the dims",
                                    model.symbols.index_name(i)
                                )))
                            }
                        }
                    }
                    (Ix::Abs(x), Ix::Abs(y)) => reaches &= x == y,
                    (Ix::Rel(j, _), Ix::Rel(_, o)) => moved.push((j, o)),
                    (Ix::Rel(j, _), Ix::Abs(y)) => fixed_init.push((j, y)),
                }
            }
            if !reaches {
                continue;
            }
            if let Some(why) = at_end {
                return Err(unsupported(why));
            }
            // The values reached must be set by this init, not an earlier
            // one of the same variable.
            for earlier in model.inits[..k].iter().filter(|e| e.target.var == h) {
                let overlaps = earlier.target.at.iter().enumerate().all(|(p, e)| {
                    // A value set at the end of a range may be any one.
                    let Ix::Abs(want) = *e else { return true };
                    match (init.target.at[p], r2.at[p]) {
                        (Ix::Abs(x), _) => x == want,
                        (_, Ix::Abs(y)) => y == want,
                        (Ix::End(..), _) | (_, Ix::End(..)) => true,
                        (_, Ix::Rel(i, o)) => model
                            .range_start(i)
                            .is_none_or(|lo| want.saturating_sub(o) >= lo),
                    }
                });
                if overlaps {
                    return Err(unsupported(format!(
                        "the boundary values of `{}` set by two `init` lines meet where `{}` uses them",
                        model.symbols.var(h),
                        model.symbols.ref_text(r2)
                    )));
                }
            }
            let bound: Vec<u32> = r2.offsets().iter().map(|x| x.0).collect();
            let consumer = &self.consumers[c2];
            let (body, freed) = unsum(&consumer.rhs, &u2, &bound);
            let seed = match &consumer.seed {
                Some(l) => leaf_expr(l.clone()),
                None => num_expr(Rational::one()),
            };
            let mut free: Vec<u32> = consumer.indices.clone();
            free.extend(freed);
            let (rank, order) = (consumer.rank, consumer.order);
            let user = match &consumer.seed {
                Some(Leaf::Bar(Target::Var(r))) => Some(leaf_expr(Leaf::Var(r.clone()))),
                _ => None,
            };
            let mut ops = super::steps::ops_to(&body, &u2, &model.symbols);
            for w in super::steps::ops_to(&init.value, used, &model.symbols) {
                if !ops.contains(&w) {
                    ops.push(w);
                }
            }
            let flowing = self.differentiate(&seed, &u2, &body, span, what)?;
            let fix =
                |e: &RecExpr<Node>| ir::fix(e, &|i| fixed.iter().find(|x| x.0 == i).map(|x| x.1));
            let flowing = fix(&flowing);
            // The boundary value in the consumer's frame: its free index
            // `j` is `j + o` there.
            let value = ir::shift(&init.value, &|j| {
                moved.iter().find(|x| x.0 == j).map_or(0, |x| x.1)
            });
            let value = ir::fix(&value, &|j| {
                fixed_init.iter().find(|x| x.0 == j).map(|x| x.1)
            });
            let expr = self.differentiate(&flowing, used, &value, span, what)?;
            let summed: Vec<u32> = free
                .into_iter()
                .filter(|i| !fixed.iter().any(|x| x.0 == *i))
                .collect();
            let _ = rank;
            let mut window = Window::whole();
            for &i in &summed {
                window.set(i, 0, 0);
            }
            out.push(Term {
                key: (2, 0, order * 1024 + k),
                expr,
                summed,
                window,
                user: user.map(|u| fix(&u)),
                ops,
                boundary: true,
                local: None,
            });
        }
        Ok(())
    }

    /// Every term of a target, differentiated, in order; remembered.
    fn terms(&mut self, target: &Target, span: Span) -> Result<Rc<[Term]>, Diagnostic> {
        if let Some(t) = self.terms.get(target) {
            return Ok(t.clone());
        }
        let what = self.target_text(target);
        let key = match target {
            Target::Var(r) => UseOf::Var(r.var),
            Target::Param(p) => UseOf::Param(*p),
        };
        let uses = self.uses.get(&key).cloned().unwrap_or_default();
        let mut terms: Vec<Term> = Vec::new();
        // A fixed step (`bar(h[T])`) has the general terms at that step,
        // those that hold there, and the terms of its own uses.
        let step = match target {
            Target::Var(r) if r.at.iter().any(|ix| !matches!(ix, Ix::Rel(..))) => Some(r.clone()),
            _ => None,
        };
        if let Some(step) = &step {
            let general = self.terms(&Target::Var(self.model.plain_ref(step.var)), span)?;
            terms.extend(general.iter().filter_map(|t| at_step(self.model, t, step)));
        }
        for (c, used) in uses {
            let kind = match &used {
                Leaf::Var(r) => self.use_kind(r),
                _ => UseKind::Free,
            };
            let ours = match (&kind, &step) {
                (UseKind::Free, None) => true,
                (UseKind::Step(s), Some(t)) => s == t,
                _ => false,
            };
            if !ours {
                continue;
            }
            match self.consumers[c].kind {
                Kind::Init(k) => self.boundary_terms(target, k, &used, span, &what, &mut terms)?,
                Kind::Loss | Kind::Equation => {
                    let t = self.use_term(target, c, &used, span, &what)?;
                    terms.push(t);
                }
            }
        }
        terms.sort_by_key(|t| t.key);
        let terms: Rc<[Term]> = terms.into();
        self.terms.insert(target.clone(), terms.clone());
        Ok(terms)
    }

    /// The raw adjoint of a target: the sum of its terms, unsimplified.
    pub fn raw(&mut self, target: &Target, span: Span) -> Result<RecExpr<Node>, Diagnostic> {
        let terms = self.terms(target, span)?;
        Ok(super::steps::sum_of(
            &terms
                .iter()
                .map(|t| wrap_sums(t.expr.clone(), &t.summed))
                .collect::<Vec<_>>(),
        ))
    }

    /// The window of the whole adjoint of a target.
    fn target_window(&self, target: &Target) -> Window {
        match target {
            Target::Var(r) => Window::of_ref(self.model, r),
            Target::Param(_) => Window::whole(),
        }
    }

    /// Simplifies one form in its scope: with the forward values named
    /// (`name`), or with the assumptions substituted and the vanishing
    /// adjoints set to zero. Assumptions change only the values written in
    /// the form, never the forward equations behind them: `o[t] = 0` makes
    /// `o[t]` zero where it appears, but does not reach into `h[t]`.
    #[allow(clippy::too_many_arguments)]
    fn simplify_in(
        &mut self,
        expr: &RecExpr<Node>,
        window: &Window,
        name: bool,
        assuming: &[Assumption],
        zero: &BTreeSet<u32>,
        what: &str,
        span: Span,
    ) -> Result<(RecExpr<Node>, bool), Diagnostic> {
        let scope = Scope {
            model: self.model,
            window,
            assuming,
            zero,
            name,
            also: &[],
        };
        let label = if assuming.is_empty() && zero.is_empty() {
            format!("simplify {what}")
        } else {
            format!("assume in {what}")
        };
        let (g, roots) = scope.graph(&self.shapes, &[expr]);
        if g.analysis.contradiction {
            return Err(contradiction(span));
        }
        let ran = run(g, rules::simplify(), self.limits, &label);
        self.stats.push(ran.stats.clone());
        if ran.graph.analysis.contradiction {
            return Err(contradiction(span));
        }
        // Where no form keeps every shape, the form we started from stands
        // (it is correct), with the note that simplification stopped.
        match extract(&ran.graph, roots[0]) {
            Some((_, best)) => Ok((best, ran.limited)),
            None => Ok((expr.clone(), true)),
        }
    }

    /// Each term of a target simplified with its forward values named,
    /// remembered.
    fn named_terms(
        &mut self,
        target: &Target,
        span: Span,
    ) -> Result<Rc<[(Term, bool)]>, Diagnostic> {
        if let Some(t) = self.named.get(target) {
            return Ok(t.clone());
        }
        let terms = self.terms(target, span)?;
        let what = self.target_text(target);
        let mut out = Vec::new();
        let n = terms.len();
        for (k, t) in terms.iter().enumerate() {
            // Each term of several is named on its own graph; the sum is
            // simplified after (see `adjoint`).
            let label = if n == 1 {
                what.clone()
            } else {
                format!("term {} of {} of {what}", k + 1, n)
            };
            let (e, limited) = self.simplify_in(
                &t.expr,
                &t.window,
                true,
                &[],
                &BTreeSet::new(),
                &label,
                span,
            )?;
            out.push((
                Term {
                    expr: e,
                    ..t.clone()
                },
                limited,
            ));
        }
        let out: Rc<[(Term, bool)]> = out.into();
        self.named.insert(target.clone(), out.clone());
        Ok(out)
    }

    /// The simplified adjoint of a target under assumptions, with the
    /// adjoints of the variables in `zero` vanishing; remembered.
    fn adjoint(
        &mut self,
        target: &Target,
        assuming: &[Assumption],
        zero: &BTreeSet<u32>,
        span: Span,
    ) -> Result<(RecExpr<Node>, bool), Diagnostic> {
        let key = (
            target.clone(),
            Assumption::substitution(assuming),
            zero.iter().copied().collect::<Vec<u32>>(),
        );
        self.last_zero
            .insert((key.0.clone(), key.1.clone()), key.2.clone());
        if let Some(done) = self.done.get(&key) {
            return Ok(done.clone());
        }
        let terms = self.named_terms(target, span)?;
        let what = self.target_text(target);
        // A term that mentions no assumed value and no vanishing adjoint is
        // what it is without them; where no term does, the adjoint is.
        let touched = |e: &RecExpr<Node>| {
            e.as_ref().iter().any(|n| match n {
                Node::Leaf(Leaf::Var(r)) => assuming.iter().any(|a| a.target.var == r.var),
                Node::Leaf(Leaf::Bar(Target::Var(r))) => zero.contains(&r.var),
                _ => false,
            })
        };
        let plain = assuming.is_empty() && zero.is_empty();
        if !plain && !terms.iter().any(|(t, _)| touched(&t.expr)) {
            let done = self.adjoint(target, &[], &BTreeSet::new(), span)?;
            let plain_key = (target.clone(), Vec::new(), Vec::new());
            if let Some(p) = self.parts.get(&plain_key).cloned() {
                self.parts.insert(key.clone(), p);
            }
            self.done.insert(key, done.clone());
            return Ok(done);
        }
        let mut limited = false;
        let mut parts = Vec::new();
        for (t, more) in terms.iter() {
            limited |= more;
            let e = if plain || !touched(&t.expr) {
                t.expr.clone()
            } else {
                let (e, more) =
                    self.simplify_in(&t.expr, &t.window, false, assuming, zero, &what, span)?;
                limited |= more;
                e
            };
            parts.push(wrap_sums(e, &t.summed));
        }
        self.parts.insert(key.clone(), parts.clone());
        let result = match parts.len() {
            0 => num_expr(Rational::zero()),
            1 => parts.pop().unwrap_or_else(|| num_expr(Rational::zero())),
            _ => {
                let sum = super::steps::sum_of(&parts);
                let window = self.target_window(target);
                // The terms' forward values named across terms too (a term
                // in `exp(z)` beside one in `e`), where nothing is assumed.
                let (e, more) =
                    self.simplify_in(&sum, &window, plain, assuming, zero, &what, span)?;
                limited |= more;
                e
            }
        };
        // Under assumptions no forward value is named anew: a value the
        // assumption replaces must not come back by its definition.
        let result = self.tidy_powers(&result, &self.target_window(target), plain, &what);
        self.done.insert(key, (result.clone(), limited));
        Ok((result, limited))
    }

    /// A form with powers or roots, once more with the proof rules, whose
    /// exponent arithmetic writes `sqrt(c)^(-2) * sqrt(c)^(-1)` as
    /// `c^(-3/2)`, within a small budget; kept only where it is smaller.
    /// Both forms are the same value, so a budget reached costs nothing
    /// but the tidier form.
    fn tidy_powers(
        &mut self,
        expr: &RecExpr<Node>,
        window: &Window,
        name: bool,
        what: &str,
    ) -> RecExpr<Node> {
        let powers = expr.as_ref().iter().any(|n| match n {
            Node::Pow(_) => true,
            Node::Act(f, _) => f.act == crate::ir::act::Act::Sqrt,
            _ => false,
        });
        if !powers {
            return expr.clone();
        }
        let zero = BTreeSet::new();
        let scope = Scope {
            model: self.model,
            window,
            assuming: &[],
            zero: &zero,
            name,
            also: &[],
        };
        let (g, roots) = scope.graph(&self.shapes, &[expr]);
        let budget = Limits {
            egraph_nodes: self.limits.egraph_nodes.min(TIDY_NODES),
            egraph_iters: self.limits.egraph_iters.min(TIDY_ITERS),
            ..self.limits.clone()
        };
        let ran = run(g, rules::prove(), &budget, &format!("tidy {what}"));
        self.stats.push(ran.stats.clone());
        match extract(&ran.graph, roots[0]) {
            Some((_, best))
                if ir::size(&best) < ir::size(expr) && writable(&self.shapes, &best) =>
            {
                best
            }
            _ => expr.clone(),
        }
    }

    /// The simplified adjoint of every defined variable, in the order
    /// backpropagation computes them.
    pub fn all(&mut self, assuming: &[Assumption], span: Span) -> Result<Vec<Adjoint>, Diagnostic> {
        let order = backprop_order(self.model);
        // Adjoints that come out zero are zero for every index value; feed
        // that back, into the adjoints whose terms mention them, until
        // nothing new is zero.
        let mut zero: BTreeSet<u32> = BTreeSet::new();
        let mut out: Vec<Option<Vec<Adjoint>>> = order.iter().map(|_| None).collect();
        let mut fresh: Option<BTreeSet<u32>> = None;
        loop {
            let mut new_zero = BTreeSet::new();
            for (k, &v) in order.iter().enumerate() {
                let targets = self.targets_of(v);
                if let Some(f) = &fresh {
                    let mut mentions = false;
                    for target in &targets {
                        let terms = self.terms(target, span)?;
                        mentions |= terms.iter().any(|t| {
                            t.expr.as_ref().iter().any(|n| matches!(n, Node::Leaf(Leaf::Bar(Target::Var(r))) if f.contains(&r.var)))
                        });
                    }
                    if !mentions {
                        continue;
                    }
                }
                let mut all_zero = true;
                let mut derived = Vec::new();
                for target in targets {
                    let (e, limited) = self.adjoint(&target, assuming, &zero, span)?;
                    all_zero &= is_zero(&e);
                    derived.push(Adjoint {
                        derived: Derived {
                            lhs: Lhs::Expr(leaf_expr(Leaf::Bar(target))),
                            rhs: Rhs::Expr(e),
                        },
                        limited,
                    });
                }
                if !assuming.is_empty() && all_zero && !zero.contains(&v) {
                    new_zero.insert(v);
                }
                out[k] = Some(derived);
            }
            if new_zero.is_empty() && !assuming.is_empty() {
                new_zero = self.vanishing_together(&order, assuming, &zero, span)?;
            }
            if new_zero.is_empty() {
                return Ok(out.into_iter().flatten().flatten().collect());
            }
            zero.extend(new_zero.iter().copied());
            fresh = Some(new_zero);
        }
    }

    /// Every adjoint equation without assumptions, each as its variable's
    /// reference and right side (see [`super::expect::adjoint_equations`]).
    pub fn unassumed_equations(
        &mut self,
        span: Span,
    ) -> Result<Vec<(Ref, RecExpr<Node>)>, Diagnostic> {
        let all: Vec<Derived> = self
            .all(&[], span)?
            .into_iter()
            .map(|a| a.derived)
            .collect();
        Ok(super::expect::adjoint_equations(&all))
    }

    /// The equations of variable `v`'s adjoint: steps counted from the end
    /// come before the general equation and steps counted from the start
    /// after it, as backpropagation reaches them; the other way round for
    /// a variable computed from its later steps only (`b[t]` from
    /// `b[t+1]`), which backpropagation reaches from the start.
    fn targets_of(&self, v: u32) -> Vec<Target> {
        let steps = self.model.fixed_steps(v);
        let backward = self.model.equation_of(v).is_some_and(|eq| {
            let offsets: Vec<i64> = eq
                .norm
                .as_ref()
                .iter()
                .filter_map(|n| match n {
                    Node::Leaf(Leaf::Var(r)) if r.var == v => Some(r),
                    _ => None,
                })
                .flat_map(|r| r.at.iter())
                .filter_map(|ix| match ix {
                    Ix::Rel(_, o) => Some(*o),
                    _ => None,
                })
                .collect();
            offsets.iter().any(|&o| o > 0) && offsets.iter().all(|&o| o >= 0)
        });
        let from_end = |r: &Ref| backward != r.at.iter().any(|ix| matches!(ix, Ix::End(..)));
        let mut targets: Vec<Target> = steps
            .iter()
            .filter(|r| from_end(r))
            .cloned()
            .map(Target::Var)
            .collect();
        targets.push(Target::Var(self.model.plain_ref(v)));
        targets.extend(
            steps
                .iter()
                .filter(|r| !from_end(r))
                .cloned()
                .map(Target::Var),
        );
        targets
    }

    /// The largest set of variables, none in `zero`, whose adjoints vanish
    /// together under `assuming`: every equation of each (its fixed steps
    /// too) is zero once the adjoints of the set and of `zero` are.
    ///
    /// Zero one at a time misses a recurrence that carries only its own
    /// adjoint back (`bar(c[t]) = bar(c[t+1]) .* p[t+1]` under `o[t] = 0`,
    /// where the last step's `bar(c[T])` is zero). The set is sound by
    /// induction in backpropagation's order: an adjoint's equation reads
    /// only adjoints of values computed after it, and the model computes
    /// finitely many values, so the first adjoint of the set that
    /// backpropagation reaches is zero, and so on to the last.
    fn vanishing_together(
        &mut self,
        order: &[u32],
        assuming: &[Assumption],
        zero: &BTreeSet<u32>,
        span: Span,
    ) -> Result<BTreeSet<u32>, Diagnostic> {
        let set: BTreeSet<u32> = order
            .iter()
            .copied()
            .filter(|v| !zero.contains(v))
            .collect();
        // First by the terms as derived: a term that mentions no assumed
        // value and no adjoint that may vanish keeps its variable out.
        // They are read with the forward values named, as they are
        // simplified: `sigma(...)` is `o[t]` there.
        let set = self.largest(set, |this, set, v| {
            for target in this.targets_of(v) {
                let terms = this.named_terms(&target, span)?;
                let stays = terms.iter().any(|(t, _)| {
                    !t.expr.as_ref().iter().any(|n| match n {
                        Node::Leaf(Leaf::Var(r)) => assuming.iter().any(|a| a.target.var == r.var),
                        Node::Leaf(Leaf::Bar(Target::Var(r))) => {
                            set.contains(&r.var) || zero.contains(&r.var)
                        }
                        _ => false,
                    })
                });
                if stays {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        // Then simplified, with the set's adjoints zero, until every
        // equation of every variable left is zero. The trials leave the
        // vanishing adjoints that the steps print as they were.
        let printed = self.last_zero.clone();
        let found = self.largest(set, |this, set, v| {
            let with: BTreeSet<u32> = zero.union(set).copied().collect();
            for target in this.targets_of(v) {
                if !is_zero(&this.adjoint(&target, assuming, &with, span)?.0) {
                    return Ok(false);
                }
            }
            Ok(true)
        });
        self.last_zero = printed;
        let found = found?;
        if !found.is_empty() {
            let key = Assumption::substitution(assuming);
            self.together
                .entry(key)
                .or_default()
                .extend(found.iter().copied());
        }
        Ok(found)
    }

    /// The largest subset of `set` whose every member `keeps` holds of
    /// with that subset: the members it fails for taken out, in turn,
    /// until it holds for all.
    fn largest(
        &mut self,
        mut set: BTreeSet<u32>,
        mut keeps: impl FnMut(&mut Self, &BTreeSet<u32>, u32) -> Result<bool, Diagnostic>,
    ) -> Result<BTreeSet<u32>, Diagnostic> {
        loop {
            let mut out = Vec::new();
            for &v in &set {
                if !keeps(self, &set, v)? {
                    out.push(v);
                }
            }
            if out.is_empty() {
                return Ok(set);
            }
            for v in out {
                set.remove(&v);
            }
        }
    }

    /// The derivation of the adjoint or gradient of `target` under
    /// `assuming`, as derived last, step by step: each use differentiated
    /// (one vector-Jacobian product per use), the derivative identities,
    /// the forward values named, the assumptions substituted, the terms
    /// collected; the last step is `result`, the printed right side.
    pub fn steps(
        &mut self,
        target: &Target,
        assuming: &[Assumption],
        span: Span,
        result: &RecExpr<Node>,
    ) -> Result<Vec<Step>, Diagnostic> {
        use super::steps::{dedup, listed, step, sum_of, text, var_refs, with_identities};
        let terms = self.terms(target, span)?;
        let named = self.named_terms(target, span)?;
        let assumption_key = Assumption::substitution(assuming);
        let zero = self
            .last_zero
            .get(&(target.clone(), assumption_key.clone()))
            .cloned()
            .unwrap_or_default();
        let mut steps = Vec::new();
        // The uses, each differentiated.
        // The terms as the chain rule gives them, derivative forms kept.
        let raw = sum_of(
            &terms
                .iter()
                .map(|t| {
                    let e = super::steps::trivial_gone(t.local.as_ref().unwrap_or(&t.expr));
                    wrap_sums(e, &t.summed)
                })
                .collect::<Vec<_>>(),
        );
        let own = match target {
            Target::Var(r) => leaf_expr(Leaf::Var(r.clone())),
            Target::Param(p) => leaf_expr(Leaf::Param(*p)),
        };
        let mut users: Vec<Part> = Vec::new();
        let mut seen: Vec<Option<RecExpr<Node>>> = Vec::new();
        let mut ops: Vec<Part> = Vec::new();
        for t in terms.iter() {
            for w in &t.ops {
                if !ops.contains(w) {
                    ops.push(w.clone());
                }
            }
            if seen.contains(&t.user) {
                continue;
            }
            seen.push(t.user.clone());
            users.push(match &t.user {
                Some(u) => Part::Expr(u.clone()),
                None => text("the loss"),
            });
        }
        let mut why = vec![Part::Expr(own)];
        if users.is_empty() {
            why.push(text(" is used by nothing the loss depends on"));
        } else {
            why.push(text(" is used by "));
            why.extend(listed(users));
            if terms.iter().any(|t| t.boundary) {
                why.push(text(" (through a boundary value)"));
            }
            why.push(text(
                ": the chain rule, one vector-Jacobian product per use",
            ));
            if !ops.is_empty() {
                why.push(text(", through "));
                why.extend(listed(ops));
            }
        }
        // The derivative identities.
        let identities = with_identities(&raw);
        steps.push(step(raw, why));
        if let Some((e, mut why)) = identities {
            why.insert(0, text("the derivative "));
            why.insert(
                1,
                text(if why.len() > 2 {
                    "identities "
                } else {
                    "identity "
                }),
            );
            steps.push(step(e, why));
        }
        // The forward values named, each term simplified.
        let named_sum = sum_of(
            &named
                .iter()
                .map(|(t, _)| wrap_sums(t.expr.clone(), &t.summed))
                .collect::<Vec<_>>(),
        );
        // A value is named where a term has it and had not before.
        let mut fresh_refs: Vec<Ref> = Vec::new();
        for (t, (n, _)) in terms.iter().zip(named.iter()) {
            let before = var_refs(&t.local.clone().unwrap_or_else(|| t.expr.clone()));
            for r in var_refs(&n.expr) {
                if !before.contains(&r) && !fresh_refs.contains(&r) {
                    fresh_refs.push(r);
                }
            }
        }
        let fresh: Vec<Part> = fresh_refs
            .into_iter()
            .map(|r| Part::Expr(leaf_expr(Leaf::Var(r))))
            .collect();
        let why = if fresh.is_empty() {
            vec![text("each term simplified")]
        } else {
            let one = fresh.len() == 1;
            let mut w = vec![text(if one {
                "the forward value "
            } else {
                "the forward values "
            })];
            w.extend(listed(fresh));
            w.push(text(if one {
                " named by its equation, each term simplified"
            } else {
                " named by their equations, each term simplified"
            }));
            w
        };
        steps.push(step(named_sum, why));
        for s in &mut steps {
            s.assumed = assuming.is_empty() && zero.is_empty();
        }
        // The assumptions substituted.
        if !assuming.is_empty() || !zero.is_empty() {
            let key = (target.clone(), assumption_key.clone(), zero.clone());
            if let Some(parts) = self.parts.get(&key) {
                let mut why = vec![text("assuming ")];
                why.extend(listed(
                    assuming
                        .iter()
                        .map(|a| {
                            Part::Equation(leaf_expr(Leaf::Var(a.target.clone())), a.value.clone())
                        })
                        .collect(),
                ));
                let zeros = assuming
                    .iter()
                    .all(|a| super::scope::constant_value(&a.value).is_some_and(|c| c.is_zero()));
                why.push(text(if zeros {
                    ": the terms that vanish left out"
                } else {
                    ": the assumed values substituted, each term simplified"
                }));
                if !zero.is_empty() {
                    // Those found to vanish together are said so, with why.
                    let together = self.together.get(&assumption_key);
                    let (joint, alone): (Vec<u32>, Vec<u32>) = zero
                        .iter()
                        .partition(|v| together.is_some_and(|s| s.contains(v)));
                    let bars = |vs: &[u32]| -> Vec<Part> {
                        vs.iter()
                            .map(|&v| {
                                Part::Expr(leaf_expr(Leaf::Bar(Target::Var(
                                    self.model.plain_ref(v),
                                ))))
                            })
                            .collect()
                    };
                    why.push(text(" ("));
                    if !alone.is_empty() {
                        why.extend(listed(bars(&alone)));
                        why.push(text(if alone.len() > 1 {
                            " are zero at every index value under the assumptions"
                        } else {
                            " is zero at every index value under the assumptions"
                        }));
                    }
                    if !joint.is_empty() {
                        if !alone.is_empty() {
                            why.push(text("; "));
                        }
                        why.extend(listed(bars(&joint)));
                        why.push(text(if joint.len() > 1 {
                            " vanish together at every index value: each of their equations is zero where they are zero later, so they are zero from the last step back"
                        } else {
                            " vanishes at every index value: its equation is zero where it is zero later, so it is zero from the last step back"
                        }));
                    }
                    why.push(text(")"));
                }
                let left: Vec<RecExpr<Node>> = parts
                    .iter()
                    .filter(|p| !super::steps::is_zero(p))
                    .cloned()
                    .collect();
                steps.push(step(sum_of(&left), why));
            }
        }
        steps.push(step(
            result.clone(),
            vec![text("the terms collected and simplified")],
        ));
        Ok(dedup(steps, &self.model.symbols))
    }

    /// The uses of a target, each user once, in the order of its terms:
    /// the user (`None` for the loss), the variable whose adjoint seeds its
    /// terms, and the sum of its terms with forward values named.
    #[allow(clippy::type_complexity)]
    pub fn users(
        &mut self,
        target: &Target,
        span: Span,
    ) -> Result<Vec<(Option<RecExpr<Node>>, Option<u32>, RecExpr<Node>)>, Diagnostic> {
        let named = self.named_terms(target, span)?;
        let mut out: Vec<(Option<RecExpr<Node>>, Option<u32>, Vec<RecExpr<Node>>)> = Vec::new();
        for (t, _) in named.iter() {
            let var = t.user.as_ref().and_then(|u| match u.as_ref().last() {
                Some(Node::Leaf(Leaf::Var(r))) => Some(r.var),
                _ => None,
            });
            let term = wrap_sums(t.expr.clone(), &t.summed);
            match out.iter_mut().find(|x| x.1 == var) {
                Some(x) => x.2.push(term),
                None => out.push((t.user.clone(), var, vec![term])),
            }
        }
        Ok(out
            .into_iter()
            .map(|(u, v, ts)| (u, v, super::steps::sum_of(&ts)))
            .collect())
    }

    /// Why the adjoint equation of variable `var` cannot be derived, if
    /// it cannot (a result may still be exact in terms of its adjoint).
    pub fn underivable(&mut self, var: u32, span: Span) -> Option<String> {
        let target = Target::Var(self.model.plain_ref(var));
        self.named_terms(&target, span).err().map(|d| d.message)
    }

    /// The simplified gradient of a parameter (`Target::Param`, or a
    /// parameter with indices at its own indices).
    pub fn gradient(
        &mut self,
        target: &Target,
        assuming: &[Assumption],
        span: Span,
    ) -> Result<Adjoint, Diagnostic> {
        let target = target.clone();
        // The adjoints that vanish (a value the loss does not use, or one
        // an assumption cuts off) feed the gradient as zeros. Without
        // assumptions, an adjoint that cannot be derived is only not known
        // to vanish; under them, the gradient needs every adjoint.
        let all = if assuming.is_empty() {
            self.all(assuming, span).unwrap_or_default()
        } else {
            self.all(assuming, span)?
        };
        // A variable's adjoint vanishes only where every one of its
        // equations (the general one and those of its fixed steps) is
        // zero: `bar(v[t]) = 0` beside `bar(v[T+1]) = grad F(...)` does not.
        let mut zero = BTreeSet::new();
        let mut nonzero = BTreeSet::new();
        for a in &all {
            if let (Lhs::Expr(l), Rhs::Expr(r)) = (&a.derived.lhs, &a.derived.rhs) {
                if let Some(Node::Leaf(Leaf::Bar(Target::Var(rf)))) = l.as_ref().last() {
                    if is_zero(r) {
                        zero.insert(rf.var);
                    } else {
                        nonzero.insert(rf.var);
                    }
                }
            }
        }
        let zero: BTreeSet<u32> = &zero - &nonzero;
        let (e, limited) = self.adjoint(&target, assuming, &zero, span)?;
        Ok(Adjoint {
            derived: Derived {
                lhs: Lhs::Expr(leaf_expr(Leaf::Bar(target))),
                rhs: Rhs::Expr(e),
            },
            limited,
        })
    }
}

fn contradiction(span: Span) -> Diagnostic {
    Diagnostic::new(
        span,
        "the assumptions contradict each other",
        "while simplifying under these assumptions",
    )
    .hint("a value is assumed equal to two different constants; check the `assuming` list")
}

/// The expression of one leaf.
pub fn leaf_expr(l: Leaf) -> RecExpr<Node> {
    let mut e = RecExpr::default();
    e.add(Node::Leaf(l));
    e
}

/// The expression of one constant.
pub fn num_expr(r: Rational) -> RecExpr<Node> {
    let mut e = RecExpr::default();
    e.add(Node::Num(r));
    e
}

/// Whether an expression is the constant zero.
pub fn is_zero(e: &RecExpr<Node>) -> bool {
    matches!(e.as_ref(), [Node::Num(r)] if r.is_zero())
}

/// Defined variables in the order backpropagation computes their adjoints:
/// every consumer at the same index value before what it consumes; among
/// those that are ready, the one defined last in the script first.
pub fn backprop_order(model: &Model) -> Vec<u32> {
    let defined: Vec<u32> = model
        .vars
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(v.kind, VarKind::Defined(_)))
        .map(|(k, _)| k as u32)
        .collect();
    // consumers[v]: variables whose equation uses v at the same index value.
    let mut pending: HashMap<u32, usize> = defined.iter().map(|&v| (v, 0)).collect();
    let mut feeds: HashMap<u32, Vec<u32>> = HashMap::default();
    for eq in &model.equations {
        let mut used = BTreeSet::new();
        for n in eq.norm.as_ref() {
            if let Node::Leaf(Leaf::Var(r)) = n {
                let same = r.at.iter().all(|ix| matches!(ix, Ix::Rel(_, 0)));
                if same && r.var != eq.var && pending.contains_key(&r.var) {
                    used.insert(r.var);
                }
            }
        }
        for u in used {
            if let Some(c) = pending.get_mut(&u) {
                *c += 1;
            }
            feeds.entry(eq.var).or_default().push(u);
        }
    }
    let mut order = Vec::new();
    let mut ready: BTreeSet<u32> = pending
        .iter()
        .filter(|(_, &c)| c == 0)
        .map(|(&v, _)| v)
        .collect();
    while let Some(&v) = ready.iter().next_back() {
        ready.remove(&v);
        order.push(v);
        for &u in feeds.get(&v).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(c) = pending.get_mut(&u) {
                *c -= 1;
                if *c == 0 {
                    ready.insert(u);
                }
            }
        }
    }
    order
}
