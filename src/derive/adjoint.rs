//! Reverse-mode adjoints and parameter gradients, for any script.
//!
//! The adjoint of `v[I]` sums one term per use of `v` in every consumer (an
//! equation, or the loss). A use `v[I+o]` in the equation of `u` gives
//! `vjp(bar(u[I]), v[I+o], rhs_u)`, derived by the chain-rule rewrites on a
//! graph whose leaves are independent, then shifted by `-o` so that it
//! speaks of `v[I]`: a use of `h[t-1]` in `i[t]` becomes a term of
//! `bar(h[t])` in `bar(i[t+1])`. Indices of the consumer that `v` lacks are
//! summed over, which is also how a parameter's gradient collects every
//! step. Each adjoint is then simplified on a second graph where every
//! forward value is merged with its definition, so extraction prefers the
//! named values (`i[t] .* (1 - i[t])`, not a recomputed `sigma(...)`), and
//! where assumptions hold.

use super::egraph::{extract, graph, rewrite, run, ShapeTable, UNRESOLVED};
use crate::diag::{Diagnostic, Span};
use crate::ir::analysis::{union_value, union_zero, Graph};
use crate::ir::build::ExprBuilder;
use crate::ir::{self, Ix, Leaf, Node, Ref, Target};
use crate::key::{Derived, Lhs, Rhs, RunStats};
use crate::model::{Assumption, Model, VarKind};
use crate::num::Rational;
use crate::rules;
use crate::Limits;
use egg::{Id, Language, RecExpr};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeSet;
use std::rc::Rc;

/// Derives adjoints and gradients for one model, remembering the raw
/// (unsimplified) adjoint of each target across requests.
pub struct Adjoints<'m> {
    model: &'m Model,
    shapes: Rc<ShapeTable>,
    limits: &'m Limits,
    raw: HashMap<Target, RecExpr<Node>>,
    simple: HashMap<Target, (RecExpr<Node>, bool)>,
    /// Every consumer: the loss, then the equations in script order.
    consumers: Vec<Consumer>,
    /// For each variable (by number) and parameter, its uses: the consumer
    /// and the reference, in order.
    uses: HashMap<UseOf, Vec<(usize, Leaf)>>,
    /// Statistics of every e-graph run, in order.
    pub stats: Vec<RunStats>,
}

/// What a use is a use of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum UseOf {
    Var(u32),
    Param(u32),
}

/// A consumer of values: an equation, or the loss.
struct Consumer {
    rhs: RecExpr<Node>,
    /// `bar(u[I])` for an equation; `None` (the number 1) for the loss.
    seed: Option<Leaf>,
    /// The consumer's own indices.
    indices: Vec<u32>,
    /// 0 for the loss, 1 for equations.
    rank: u8,
    /// Script order among equations.
    order: usize,
}

/// One term of an adjoint, before simplification.
struct Term {
    /// Sort key: the loss first, then by how far ahead the consumer is,
    /// then in script order.
    key: (u8, i64, usize),
    expr: RecExpr<Node>,
}

/// A derived adjoint equation with what the reader needs to know about it.
pub struct Adjoint {
    /// `bar(v[I]) = rhs`.
    pub derived: Derived,
    /// Whether simplification stopped at a limit.
    pub limited: bool,
}

/// Gives the graph the constants that assumptions set. A variable assumed
/// zero joins the zero of its own shape (zeros are typed), so a sum built
/// on it (`1 - i[t]`) keeps the variable's shape.
pub fn assume_constants(g: &mut Graph, assuming: &[Assumption]) {
    for a in assuming {
        if let Some(c) = constant_value(&a.value) {
            g.analysis.assumed.insert(a.target.var, c);
        }
    }
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

/// `expr` without the `sum` nodes whose body contains `leaf`, and the
/// indices those sums ran over: the term of the sum that holds the leaf,
/// with the summed index free.
fn unsum(expr: &RecExpr<Node>, leaf: &Leaf) -> (RecExpr<Node>, Vec<u32>) {
    let nodes = expr.as_ref();
    let mut contains = vec![false; nodes.len()];
    for (k, n) in nodes.iter().enumerate() {
        contains[k] = match n {
            Node::Leaf(l) => l == leaf,
            other => other.children().iter().any(|&c| contains[usize::from(c)]),
        };
    }
    let mut freed = Vec::new();
    let mut b = ExprBuilder::new();
    let mut map: Vec<Id> = Vec::with_capacity(nodes.len());
    for (k, n) in nodes.iter().enumerate() {
        let id = match n {
            Node::Sum([t, body]) if contains[k] => {
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
            });
        }
        for (k, eq) in model.equations.iter().enumerate() {
            consumers.push(Consumer {
                rhs: eq.norm.clone(),
                seed: Some(Leaf::Bar(Target::Var(model.plain_ref(eq.var)))),
                indices: model.vars[eq.var as usize].indices.clone(),
                rank: 1,
                order: k,
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
            raw: HashMap::default(),
            simple: HashMap::default(),
            consumers,
            uses,
            stats: Vec::new(),
        }
    }

    fn target_text(&self, t: &Target) -> String {
        crate::print::plain::leaf(&self.model.symbols, &Leaf::Bar(t.clone()))
    }

    /// Differentiates one use: `vjp(seed, leaf, rhs)` on an e-graph of
    /// independent leaves.
    /// The seed is `bar(u[I])` for an equation, `None` (the number 1) for the loss.
    fn differentiate(
        &mut self,
        seed: Option<Leaf>,
        leaf: &Leaf,
        rhs: &RecExpr<Node>,
        span: Span,
        what: &str,
    ) -> Result<RecExpr<Node>, Diagnostic> {
        let mut b = ExprBuilder::new();
        let e = b.copy_all(rhs);
        let s = match seed {
            None => b.num(Rational::one()),
            Some(l) => b.leaf(l),
        };
        let x = b.leaf(leaf.clone());
        let root = b.add(Node::Vjp([s, x, e]));
        let expr = b.finish(root);
        let mut g = graph(&self.shapes);
        let root = g.add_expr(&expr);
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
                    Node::Sum(_) => Some("a `sum` over an index".to_owned()),
                    Node::Block(_) | Node::Row(_) => Some("a block matrix".to_owned()),
                    Node::Diag(_) => Some("`diag`".to_owned()),
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

    /// Whether a use is at free indices (`Ok(true)`, the ordinary case). A use
    /// at a fixed index value (`h[0]`) feeds that one value only: it is left
    /// out (`Ok(false)`) when that value is a boundary value, before the
    /// start of the range, and refused when it is a computed one.
    fn free_use(&self, r: &Ref, span: Span) -> Result<bool, Diagnostic> {
        let mut fixed = false;
        let decl = self.model.vars.get(r.var as usize);
        for (pos, ix) in r.at.iter().enumerate() {
            if let Ix::Abs(v) = *ix {
                fixed = true;
                let start = decl
                    .and_then(|d| d.indices.get(pos))
                    .and_then(|&i| self.model.indices.get(i as usize))
                    .and_then(|d| d.range.as_ref())
                    .and_then(|(lo, _)| lo.as_constant())
                    .and_then(|c| c.to_i64())
                    .unwrap_or(1);
                if v >= start {
                    return Err(error(
                        span,
                        format!(
                            "a use of `{}`, one fixed index value, is not supported by adjoints yet",
                            self.model.symbols.ref_text(r)
                        ),
                        "its term would hold at that one index value only; use the value at a free index, or a boundary value before the start of the range",
                    ));
                }
            }
        }
        Ok(!fixed)
    }

    /// The raw adjoint of a target: the sum of its terms, unsimplified.
    pub fn raw(&mut self, target: &Target, span: Span) -> Result<RecExpr<Node>, Diagnostic> {
        if let Some(e) = self.raw.get(target) {
            return Ok(e.clone());
        }
        let model = self.model;
        let what = self.target_text(target);
        let own_indices: Vec<u32> = match target {
            Target::Var(r) => model.vars[r.var as usize].indices.clone(),
            Target::Param(_) => Vec::new(),
        };
        let mut terms: Vec<Term> = Vec::new();
        let key = match target {
            Target::Var(r) => UseOf::Var(r.var),
            Target::Param(p) => UseOf::Param(*p),
        };
        let uses = self.uses.get(&key).cloned().unwrap_or_default();
        for (c, used) in uses {
            let consumer = &self.consumers[c];
            let (rhs, seed, indices, rank, order) = (
                consumer.rhs.clone(),
                consumer.seed.clone(),
                consumer.indices.clone(),
                consumer.rank,
                consumer.order,
            );
            let offsets: Vec<(u32, i64)> = match &used {
                Leaf::Var(r) => {
                    if !self.free_use(r, span)? {
                        continue;
                    }
                    r.at.iter()
                        .filter_map(|ix| match *ix {
                            Ix::Rel(i, o) => Some((i, o)),
                            Ix::Abs(_) => None,
                        })
                        .collect()
                }
                _ => Vec::new(),
            };
            let (body, freed) = unsum(&rhs, &used);
            let derived = self.differentiate(seed.clone(), &used, &body, span, &what)?;
            let by: HashMap<u32, i64> = offsets.iter().map(|&(i, o)| (i, -o)).collect();
            let mut expr = ir::shift(&derived, &|i| by.get(&i).copied().unwrap_or(0));
            let mut free: Vec<u32> = indices.clone();
            free.extend(freed);
            // The first index ends up outermost: sum(i, sum(j, ...)).
            for i in free.into_iter().rev().filter(|i| !own_indices.contains(i)) {
                let mut b = ExprBuilder::new();
                let inner = b.copy_all(&expr);
                let t = b.leaf(Leaf::Index(i));
                let root = b.add(Node::Sum([t, inner]));
                expr = b.finish(root);
            }
            let ahead: i64 = -offsets.iter().map(|&(_, o)| o).sum::<i64>();
            terms.push(Term {
                key: (rank, ahead, order),
                expr,
            });
        }
        terms.sort_by_key(|t| t.key);
        let mut b = ExprBuilder::new();
        let mut acc: Option<Id> = None;
        for t in &terms {
            let id = b.copy_all(&t.expr);
            acc = Some(match acc {
                Some(prev) => b.add(Node::Add([prev, id])),
                None => id,
            });
        }
        let root = acc.unwrap_or_else(|| b.num(Rational::zero()));
        let expr = b.finish(root);
        self.raw.insert(target.clone(), expr.clone());
        Ok(expr)
    }

    /// Simplifies a raw adjoint with every forward value merged with its
    /// definition, so that extraction names them.
    pub fn simplify(&mut self, raw: &RecExpr<Node>, what: &str) -> (RecExpr<Node>, bool) {
        let done = rewrite(
            &self.shapes,
            Some(self.model),
            raw,
            rules::simplify(),
            self.limits,
            &format!("simplify {what}"),
        );
        self.stats.push(done.stats);
        (done.expr, done.limited)
    }

    /// Substitutes assumptions into a simplified adjoint (and zero for the
    /// adjoints known to vanish), then simplifies again. Only the leaves
    /// change: `o[t] = 0` makes `o[t]` zero where it appears, but does not
    /// reach through the forward equations into `h[t]`.
    pub fn assume(
        &mut self,
        expr: &RecExpr<Node>,
        assuming: &[Assumption],
        zero: &BTreeSet<u32>,
        span: Span,
        what: &str,
    ) -> Result<(RecExpr<Node>, bool), Diagnostic> {
        let mut g = graph(&self.shapes);
        assume_constants(&mut g, assuming);
        let root = g.add_expr(expr);
        for leaf in refs_of(expr, |_| true) {
            match &leaf {
                Leaf::Var(r) => {
                    let Some(a) = assuming.iter().find(|a| a.target.var == r.var) else {
                        continue;
                    };
                    if constant_value(&a.value).is_none() {
                        let by = offsets_of(r);
                        let l = g.add(Node::Leaf(leaf.clone()));
                        let v =
                            g.add_expr(&ir::shift(&a.value, &|i| by.get(&i).copied().unwrap_or(0)));
                        union_value(&mut g, l, v);
                    }
                }
                Leaf::Bar(Target::Var(r)) if zero.contains(&r.var) => {
                    let l = g.add(Node::Leaf(leaf.clone()));
                    union_zero(&mut g, l);
                }
                _ => {}
            }
        }
        g.rebuild();
        let ran = run(
            g,
            rules::simplify(),
            self.limits,
            &format!("assume in {what}"),
        );
        self.stats.push(ran.stats.clone());
        if ran.graph.analysis.contradiction {
            return Err(Diagnostic::new(
                span,
                "the assumptions contradict each other",
                "while simplifying under these assumptions",
            )
            .hint(
                "a value is assumed equal to two different constants; check the `assuming` list",
            ));
        }
        // Where no form under the assumptions keeps every shape, the
        // unassumed form stands (it holds under them too).
        match extract(&ran.graph, root) {
            Some((_, best)) => Ok((best, ran.limited)),
            None => Ok((expr.clone(), true)),
        }
    }

    /// The simplified (unassumed) adjoint of a target, remembered.
    fn simplified(
        &mut self,
        target: &Target,
        span: Span,
    ) -> Result<(RecExpr<Node>, bool), Diagnostic> {
        if let Some(done) = self.simple.get(target) {
            return Ok(done.clone());
        }
        let raw = self.raw(target, span)?;
        let what = self.target_text(target);
        let done = self.simplify(&raw, &what);
        self.simple.insert(target.clone(), done.clone());
        Ok(done)
    }

    /// The simplified adjoint of every defined variable, in the order
    /// backpropagation computes them.
    pub fn all(&mut self, assuming: &[Assumption], span: Span) -> Result<Vec<Adjoint>, Diagnostic> {
        let order = backprop_order(self.model);
        let mut simple = Vec::new();
        for &v in &order {
            let t = Target::Var(self.model.plain_ref(v));
            simple.push((v, self.simplified(&t, span)?));
        }
        let lhs = |m: &Model, v: u32| Lhs::Expr(leaf_expr(Leaf::Bar(Target::Var(m.plain_ref(v)))));
        if assuming.is_empty() {
            return Ok(simple
                .into_iter()
                .map(|(v, (e, limited))| Adjoint {
                    derived: Derived {
                        lhs: lhs(self.model, v),
                        rhs: Rhs::Expr(e),
                    },
                    limited,
                })
                .collect());
        }
        // Adjoints that come out zero are zero for every index value; feed
        // that back, into the equations that mention them, until nothing new
        // is zero.
        let mut zero: BTreeSet<u32> = BTreeSet::new();
        let mut out: Vec<Option<Adjoint>> = simple.iter().map(|_| None).collect();
        let mut fresh: Option<BTreeSet<u32>> = None;
        loop {
            let mut new_zero = BTreeSet::new();
            for (k, (v, (e, limited))) in simple.iter().enumerate() {
                let mentions_fresh = fresh.as_ref().is_none_or(|f| {
                    e.as_ref().iter().any(|n| matches!(n, Node::Leaf(Leaf::Bar(Target::Var(r))) if f.contains(&r.var)))
                });
                if !mentions_fresh {
                    continue;
                }
                let what = self.target_text(&Target::Var(self.model.plain_ref(*v)));
                let (e, more) = self.assume(e, assuming, &zero, span, &what)?;
                if is_zero(&e) && !zero.contains(v) {
                    new_zero.insert(*v);
                }
                out[k] = Some(Adjoint {
                    derived: Derived {
                        lhs: lhs(self.model, *v),
                        rhs: Rhs::Expr(e),
                    },
                    limited: *limited || more,
                });
            }
            if new_zero.is_empty() {
                return Ok(out.into_iter().flatten().collect());
            }
            zero.extend(new_zero.iter().copied());
            fresh = Some(new_zero);
        }
    }

    /// The simplified gradient of a parameter.
    pub fn gradient(
        &mut self,
        param: u32,
        assuming: &[Assumption],
        span: Span,
    ) -> Result<Adjoint, Diagnostic> {
        let target = Target::Param(param);
        let (e, limited) = self.simplified(&target, span)?;
        let (e, limited) = if assuming.is_empty() {
            (e, limited)
        } else {
            // Under assumptions, the adjoints that vanish feed the gradient.
            let zero: BTreeSet<u32> = self
                .all(assuming, span)?
                .iter()
                .filter_map(|a| match (&a.derived.lhs, &a.derived.rhs) {
                    (Lhs::Expr(l), Rhs::Expr(r)) if is_zero(r) => match l.as_ref().last() {
                        Some(Node::Leaf(Leaf::Bar(Target::Var(rf)))) => Some(rf.var),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            let what = self.target_text(&target);
            let (e, more) = self.assume(&e, assuming, &zero, span, &what)?;
            (e, limited || more)
        };
        Ok(Adjoint {
            derived: Derived {
                lhs: Lhs::Expr(leaf_expr(Leaf::Bar(target))),
                rhs: Rhs::Expr(e),
            },
            limited,
        })
    }
}

/// The expression of one leaf.
pub fn leaf_expr(l: Leaf) -> RecExpr<Node> {
    let mut e = RecExpr::default();
    e.add(Node::Leaf(l));
    e
}

/// Whether an expression is the constant zero.
pub fn is_zero(e: &RecExpr<Node>) -> bool {
    matches!(e.as_ref(), [Node::Num(r)] if r.is_zero())
}

/// The value of an assumption that is a plain constant (`1`, `-1/2`).
pub fn constant_value(e: &RecExpr<Node>) -> Option<Rational> {
    match e.as_ref() {
        [Node::Num(r)] => Some(r.clone()),
        [Node::Num(r), Node::Neg(_)] => Some(r.neg()),
        _ => None,
    }
}

fn offsets_of(r: &Ref) -> HashMap<u32, i64> {
    r.at.iter()
        .filter_map(|ix| match *ix {
            Ix::Rel(i, o) => Some((i, o)),
            Ix::Abs(_) => None,
        })
        .collect()
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
