//! Building and copying IR expressions node by node.

use super::{Leaf, Node};
use crate::num::Rational;
use egg::{Id, Language, RecExpr};
use rustc_hash::FxHashMap as HashMap;

/// Appends nodes to one expression; the last node added is the root.
#[derive(Debug, Default, Clone)]
pub struct ExprBuilder {
    expr: RecExpr<Node>,
    memo: HashMap<Node, Id>,
}

impl ExprBuilder {
    /// An empty builder.
    pub fn new() -> ExprBuilder {
        ExprBuilder::default()
    }

    /// Adds a node whose children are already in this builder; equal nodes
    /// are shared.
    pub fn add(&mut self, node: Node) -> Id {
        if let Some(&id) = self.memo.get(&node) {
            return id;
        }
        let id = self.expr.add(node.clone());
        self.memo.insert(node, id);
        id
    }

    /// Adds a constant.
    pub fn num(&mut self, r: Rational) -> Id {
        self.add(Node::Num(r))
    }

    /// Adds an integer constant.
    pub fn int(&mut self, n: i64) -> Id {
        self.num(Rational::int(n))
    }

    /// Adds a leaf.
    pub fn leaf(&mut self, l: Leaf) -> Id {
        self.add(Node::Leaf(l))
    }

    /// Adds a polynomial in dims, in its canonical form (`2*D + H^2`).
    pub fn poly(&mut self, p: &crate::poly::Poly) -> Id {
        poly_nodes(p, &mut |n| self.add(n))
    }

    /// The sum of `terms`, each added or (where marked) subtracted, with
    /// the first positive term moved to the front (`b - a`, not `-a + b`);
    /// `None` for no terms.
    pub fn signed_sum(&mut self, mut terms: Vec<(Id, bool)>) -> Option<Id> {
        if let Some(k) = terms.iter().position(|t| !t.1) {
            let first = terms.remove(k);
            terms.insert(0, first);
        }
        let mut out: Option<Id> = None;
        for (t, negative) in terms {
            out = Some(match (out, negative) {
                (None, false) => t,
                (None, true) => self.add(Node::Neg(t)),
                (Some(acc), false) => self.add(Node::Add([acc, t])),
                (Some(acc), true) => self.add(Node::Sub([acc, t])),
            });
        }
        out
    }

    /// `I(n)`, where `n` is a dim or a whole number (what `I` takes).
    pub fn eye(&mut self, n: &crate::poly::Poly) -> Option<Id> {
        let dim = matches!(n.terms().as_slice(), [(m, c)] if c.is_one() && matches!(m.0.as_slice(), [(_, 1)]));
        let count = n
            .as_constant()
            .is_some_and(|r| r.is_integer() && !r.is_negative() && !r.is_zero());
        if !(dim || count) {
            return None;
        }
        let size = self.poly(n);
        Some(self.add(Node::Eye(size)))
    }

    /// Copies the sub-expression of `from` rooted at `at`; returns its root here.
    pub fn copy(&mut self, from: &RecExpr<Node>, at: Id) -> Id {
        let nodes = from.as_ref();
        let last = usize::from(at);
        // Mark what the sub-expression reaches, then copy in order.
        let mut reach = vec![false; last + 1];
        reach[last] = true;
        for i in (0..=last).rev() {
            if reach[i] {
                for &c in nodes[i].children() {
                    reach[usize::from(c)] = true;
                }
            }
        }
        let mut map: Vec<Id> = vec![Id::from(0); last + 1];
        for i in 0..=last {
            if reach[i] {
                let n = nodes[i].clone().map_children(|c| map[usize::from(c)]);
                map[i] = self.add(n);
            }
        }
        map[last]
    }

    /// Copies a whole expression.
    pub fn copy_all(&mut self, from: &RecExpr<Node>) -> Id {
        self.copy(from, super::root(from))
    }

    /// The node at `id`.
    pub fn node(&self, id: Id) -> &Node {
        &self.expr[id]
    }

    /// The expression with `root` as its root (nodes it does not reach are dropped).
    pub fn finish(self, root: Id) -> RecExpr<Node> {
        subtree(&self.expr, root)
    }
}

/// The sub-expression of `expr` rooted at `at`, as a compact expression.
pub fn subtree(expr: &RecExpr<Node>, at: Id) -> RecExpr<Node> {
    if usize::from(at) + 1 == expr.as_ref().len() && reaches_all(expr) {
        return expr.clone();
    }
    let mut b = ExprBuilder::new();
    let root = b.copy(expr, at);
    let ExprBuilder { expr: out, .. } = b;
    debug_assert_eq!(usize::from(root) + 1, out.as_ref().len());
    out
}

/// `expr` rebuilt bottom-up: each node, with its children already
/// rebuilt, is given with its position to `f`, which adds what stands in
/// its place.
pub fn rebuilt(
    expr: &RecExpr<Node>,
    mut f: impl FnMut(&mut ExprBuilder, usize, Node) -> Id,
) -> RecExpr<Node> {
    let mut b = ExprBuilder::new();
    let mut map: Vec<Id> = Vec::with_capacity(expr.as_ref().len());
    for (i, n) in expr.as_ref().iter().enumerate() {
        let mapped = n.clone().map_children(|c| map[usize::from(c)]);
        map.push(f(&mut b, i, mapped));
    }
    let root = map.last().copied().unwrap_or_else(|| b.int(0));
    b.finish(root)
}

/// `expr` with every leaf equal to `from` replaced by `to`.
pub fn substitute(expr: &RecExpr<Node>, from: &Leaf, to: &RecExpr<Node>) -> RecExpr<Node> {
    rebuilt(expr, |b, _, n| match n {
        Node::Leaf(l) if &l == from => b.copy_all(to),
        other => b.add(other),
    })
}

/// `e` with its node at `at` replaced by the expression `by`.
pub fn replaced_at(e: &RecExpr<Node>, at: usize, by: &RecExpr<Node>) -> Option<RecExpr<Node>> {
    if e.as_ref().is_empty() {
        return None;
    }
    Some(rebuilt(
        e,
        |b, i, n| {
            if i == at {
                b.copy_all(by)
            } else {
                b.add(n)
            }
        },
    ))
}

fn reaches_all(expr: &RecExpr<Node>) -> bool {
    let nodes = expr.as_ref();
    let mut reach = vec![false; nodes.len()];
    if let Some(last) = reach.last_mut() {
        *last = true;
    }
    for i in (0..nodes.len()).rev() {
        if reach[i] {
            for &c in nodes[i].children() {
                reach[usize::from(c)] = true;
            }
        }
    }
    reach.into_iter().all(|r| r)
}

/// A polynomial in dims in its canonical form, its nodes made by `add`:
/// terms by degree, a negative term subtracted (`D - 1`, `1 - D`, `-D`,
/// not `-1 * D + 1`), leading with a positive term where there is one.
pub fn poly_nodes(p: &crate::poly::Poly, add: &mut dyn FnMut(Node) -> Id) -> Id {
    let terms = p.terms();
    let positive = terms.iter().filter(|(_, c)| !c.is_negative());
    let negative = terms.iter().filter(|(_, c)| c.is_negative());
    let mut acc: Option<Id> = None;
    for (m, c) in positive {
        let term = poly_term(m, c, add);
        acc = Some(match acc {
            Some(prev) => add(Node::Add([prev, term])),
            None => term,
        });
    }
    for (m, c) in negative {
        let term = poly_term(m, &c.neg(), add);
        acc = Some(match acc {
            Some(prev) => add(Node::Sub([prev, term])),
            None => add(Node::Neg(term)),
        });
    }
    match acc {
        Some(a) => a,
        None => add(Node::Num(Rational::zero())),
    }
}

/// One term `c * m` of a polynomial in dims, `c` not negative.
fn poly_term(m: &crate::poly::Monomial, c: &Rational, add: &mut dyn FnMut(Node) -> Id) -> Id {
    let mut factor: Option<Id> = None;
    for &(d, e) in &m.0 {
        let leaf = add(Node::Leaf(Leaf::Dim(d)));
        let f = if e == 1 {
            leaf
        } else {
            let n = add(Node::Num(Rational::int(i64::from(e))));
            add(Node::Pow([leaf, n]))
        };
        factor = Some(match factor {
            Some(prev) => add(Node::Mul([prev, f])),
            None => f,
        });
    }
    match factor {
        Some(f) if c.is_one() => f,
        Some(f) => {
            let n = add(Node::Num(c.clone()));
            add(Node::Mul([n, f]))
        }
        None => add(Node::Num(c.clone())),
    }
}
