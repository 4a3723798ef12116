//! Sums over an index re-indexed: a claim written `sum(t, f(t+1))` where
//! the derivation has `sum(t, f(t))`. Over the index's range `lo..hi`,
//!
//! `sum(t, f(t + k)) = sum(t, f(t)) - (f(lo) + ... + f(lo + k - 1)) +
//! (f(hi + 1) + ... + f(hi + k))`
//!
//! for `k > 0` (and the mirror for `k < 0`): both sides are `F(hi + k) -
//! F(lo + k - 1)` for the prefix sums `F` of `f`, whatever the range's
//! length. It is an identity, so the claim written this way has the value
//! of the claim as written; the terms at fixed positions are then left to
//! the other procedures, which know that `h[0]` is its `init` and that
//! `bar(h[T+1])`, past the end, is zero (Goodfellow et al.'s `bar(W) =
//! sum(t, (bar(h[t+1]) .* (1 - h[t+1]^2)) * h[t]^T)` of an Elman network).

use crate::ir::build::{rebuilt, replaced_at, subtree, ExprBuilder};
use crate::ir::{self, Ix, Leaf, Node, Target};
use crate::model::Model;
use egg::RecExpr;
use std::collections::BTreeSet;

/// The largest shift tried.
const MAX_SHIFT: i64 = 2;

/// The claim with one of its sums re-indexed so that one of the offsets
/// of its index in the summand becomes 0, each way that applies (see the
/// module documentation).
pub fn reindexed(c: &RecExpr<Node>, model: &Model) -> Vec<RecExpr<Node>> {
    let mut out = reindexed_as_written(c, model);
    // A sum of several terms, only some of them shifted (`sum(t, a[t] -
    // b[t+1])`), is split into one sum per term first.
    let split = split_sums(c);
    if split != *c {
        out.extend(reindexed_as_written(&split, model));
    }
    out
}

/// `c` with every sum over an index of a sum or difference written as the
/// sum or difference of sums (sums are linear).
fn split_sums(c: &RecExpr<Node>) -> RecExpr<Node> {
    fn distribute(b: &mut ExprBuilder, index: egg::Id, body: egg::Id) -> egg::Id {
        match b.node(body).clone() {
            Node::Add([x, y]) => {
                let (x, y) = (distribute(b, index, x), distribute(b, index, y));
                b.add(Node::Add([x, y]))
            }
            Node::Sub([x, y]) => {
                let (x, y) = (distribute(b, index, x), distribute(b, index, y));
                b.add(Node::Sub([x, y]))
            }
            Node::Neg(x) => {
                let x = distribute(b, index, x);
                b.add(Node::Neg(x))
            }
            _ => b.add(Node::Sum([index, body])),
        }
    }
    rebuilt(c, |b, _, n| match n {
        Node::Sum([i, body]) => distribute(b, i, body),
        other => b.add(other),
    })
}

/// [`reindexed`] for the sums as written.
fn reindexed_as_written(c: &RecExpr<Node>, model: &Model) -> Vec<RecExpr<Node>> {
    let nodes = c.as_ref();
    let mut out = Vec::new();
    for (p, n) in nodes.iter().enumerate() {
        let Node::Sum([iv, body]) = *n else {
            continue;
        };
        let Node::Leaf(Leaf::Index(i)) = nodes[usize::from(iv)] else {
            continue;
        };
        let Some(lo) = model.range_start(i) else {
            continue;
        };
        let summand = subtree(c, body);
        let Some(offsets) = offsets_of(&summand, i) else {
            continue;
        };
        for k in offsets {
            if k == 0 || k.abs() > MAX_SHIFT {
                continue;
            }
            out.extend(replaced_at(c, p, &shifted_sum(&summand, i, k, lo)));
        }
    }
    out
}

/// The offsets of index `i` in the references of `e`, or `None` where `e`
/// uses `i` otherwise (as a number, or bound by a sum of its own).
fn offsets_of(e: &RecExpr<Node>, i: u32) -> Option<BTreeSet<i64>> {
    let mut out = BTreeSet::new();
    for n in e.as_ref() {
        let r = match n {
            Node::Leaf(Leaf::Var(r)) | Node::Leaf(Leaf::Bar(Target::Var(r))) => r,
            Node::Leaf(Leaf::Index(j)) if *j == i => return None,
            _ => continue,
        };
        out.extend(r.at.iter().filter_map(|ix| match *ix {
            Ix::Rel(j, o) if j == i => Some(o),
            _ => None,
        }));
    }
    Some(out)
}

/// `sum(i, f(i))` for the summand `f(i + k)` written `summand`, with the
/// terms at fixed positions that make the two equal.
fn shifted_sum(summand: &RecExpr<Node>, i: u32, k: i64, lo: i64) -> RecExpr<Node> {
    // `f(u)`: the summand with `i + k` read as `u`.
    let f = ir::shift(summand, &|j| if j == i { -k } else { 0 });
    let mut b = ExprBuilder::new();
    let index = b.leaf(Leaf::Index(i));
    let body = b.copy_all(&f);
    let mut terms = vec![(b.add(Node::Sum([index, body])), false)];
    let at = |b: &mut ExprBuilder, ix: Ix| {
        let fixed = ir::fix_at(&f, &|j| (j == i).then_some(ix));
        b.copy_all(&fixed)
    };
    for j in 0..k.abs() {
        if k > 0 {
            // Less `f(lo + j)`, plus `f(hi + 1 + j)`.
            let first = at(&mut b, Ix::Abs(lo + j));
            let past = at(&mut b, Ix::End(i, 1 + j));
            terms.push((first, true));
            terms.push((past, false));
        } else {
            // Plus `f(lo + k + j)`, less `f(hi + k + 1 + j)`.
            let before = at(&mut b, Ix::Abs(lo + k + j));
            let last = at(&mut b, Ix::End(i, k + 1 + j));
            terms.push((before, false));
            terms.push((last, true));
        }
    }
    let root = b.signed_sum(terms).unwrap_or(body);
    b.finish(root)
}
