//! Like terms joined where the expression writes them. The terms of a sum
//! that are diagonal matrices times one matrix are one diagonal
//! (`diag(a) * M - diag(b) * M` is `diag(a - b) * M`, and `I(D) -
//! diag(t)` is `diag(1 - t)`), with the elementwise factors every part of
//! its column has taken out (`diag(h .* s) * M - diag(y .* s) * M` is
//! `diag((h - y) .* s) * M`). Factors are compared as written, so a
//! factor such as `1 - t` stays whole; the normal form collects terms by
//! expanding them instead (see [`super::normal::collected`]).
//!
//! The result is an identity of the algebra (`diag` is linear, `.*`
//! distributes over sums), but callers still compare normal forms before
//! they use it.

use super::build::ExprBuilder;
use super::Node;
use egg::{Id, RecExpr};
use std::collections::BTreeMap;

/// Where a term has its diagonal matrix: `diag(v)` alone, `diag(v) * M`,
/// or `M * diag(v)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Alone,
    Left(Id),
    Right(Id),
}

/// One term of the sum: its node, whether it is subtracted, and its
/// diagonal's column with where the diagonal stands, if it has one.
struct Term {
    id: Id,
    negative: bool,
    diag: Option<(Side, Id)>,
}

/// `e` with the diagonal terms of its sum joined (see the module
/// documentation); `None` where no two terms share their other factor.
pub fn joined(e: &RecExpr<Node>) -> Option<RecExpr<Node>> {
    // A builder shares equal nodes, so equal subtrees have one id.
    let mut b = ExprBuilder::new();
    let root = b.copy_all(e);
    let mut flat = Vec::new();
    signed_terms(&b, root, false, &mut flat);
    if flat.len() < 2 {
        return None;
    }
    let terms: Vec<Term> = flat
        .into_iter()
        .map(|(id, negative)| Term {
            id,
            negative,
            diag: diagonal(&b, id),
        })
        .collect();
    // The terms of each side, in order; a group needs two.
    let mut groups: BTreeMap<Side, Vec<usize>> = BTreeMap::new();
    for (k, t) in terms.iter().enumerate() {
        if let Some((side, _)) = t.diag {
            groups.entry(side).or_default().push(k);
        }
    }
    groups.retain(|_, members| members.len() > 1);
    // A bare identity joins bare diagonals only where one is there.
    if let Some(alone) = groups.get(&Side::Alone) {
        if alone
            .iter()
            .all(|&k| matches!(b.node(terms[k].id), Node::Eye(_)))
        {
            groups.remove(&Side::Alone);
        }
    }
    if groups.is_empty() {
        return None;
    }
    // The joined term of each group stands where its first member did.
    let mut out: Vec<(Id, bool)> = Vec::new();
    for (k, t) in terms.iter().enumerate() {
        let group = t
            .diag
            .and_then(|(side, _)| groups.get(&side).map(|m| (side, m)));
        match group {
            Some((side, members)) if members[0] == k => {
                let parts: Vec<(Id, bool)> = members
                    .iter()
                    .map(|&m| {
                        (
                            terms[m].diag.map_or(terms[m].id, |d| d.1),
                            terms[m].negative,
                        )
                    })
                    .collect();
                let (column, negative) = joined_column(&mut b, &parts)?;
                let d = b.add(Node::Diag(column));
                let term = match side {
                    Side::Alone => d,
                    Side::Left(m) => b.add(Node::Mul([d, m])),
                    Side::Right(m) => b.add(Node::Mul([m, d])),
                };
                out.push((term, negative));
            }
            Some(_) => {}
            None => out.push((t.id, t.negative)),
        }
    }
    let sum = b.signed_sum(out)?;
    Some(b.finish(sum))
}

/// The terms of the sum at `id` with their signs, left to right.
fn signed_terms(b: &ExprBuilder, id: Id, negative: bool, out: &mut Vec<(Id, bool)>) {
    match b.node(id) {
        Node::Add([x, y]) => {
            let (x, y) = (*x, *y);
            signed_terms(b, x, negative, out);
            signed_terms(b, y, negative, out);
        }
        Node::Sub([x, y]) => {
            let (x, y) = (*x, *y);
            signed_terms(b, x, negative, out);
            signed_terms(b, y, !negative, out);
        }
        Node::Neg(x) => {
            let x = *x;
            signed_terms(b, x, !negative, out);
        }
        _ => out.push((id, negative)),
    }
}

/// Where the term at `id` has a diagonal matrix, and its column (`I(n)`
/// is the diagonal of ones, its column the number one).
fn diagonal(b: &ExprBuilder, id: Id) -> Option<(Side, Id)> {
    match b.node(id) {
        Node::Diag(v) => Some((Side::Alone, *v)),
        Node::Eye(_) => Some((Side::Alone, id)),
        Node::Mul([x, y]) => match (b.node(*x), b.node(*y)) {
            (Node::Diag(v), _) => Some((Side::Left(*y), *v)),
            (_, Node::Diag(v)) => Some((Side::Right(*x), *v)),
            _ => None,
        },
        _ => None,
    }
}

/// The signed sum of the columns `parts` (an identity's id stands for the
/// number one), with the elementwise factors all parts have taken out and
/// written after the sum; and whether the whole is subtracted (where
/// every part is). `None` where the parts are one column.
fn joined_column(b: &mut ExprBuilder, parts: &[(Id, bool)]) -> Option<(Id, bool)> {
    let all_negative = parts.iter().all(|p| p.1);
    let factors: Vec<Vec<Id>> = parts
        .iter()
        .map(|&(v, _)| {
            let mut f = Vec::new();
            if !matches!(b.node(v), Node::Eye(_)) {
                had_factors(b, v, &mut f);
            }
            f
        })
        .collect();
    // The factors every part has, as many times as each has them.
    let mut common = factors[0].clone();
    for f in &factors[1..] {
        let mut left = f.clone();
        common.retain(|x| match left.iter().position(|y| y == x) {
            Some(k) => {
                left.remove(k);
                true
            }
            None => false,
        });
    }
    let mut terms = Vec::with_capacity(parts.len());
    for (f, &(_, negative)) in factors.iter().zip(parts) {
        let mut rest = f.clone();
        for c in &common {
            if let Some(k) = rest.iter().position(|x| x == c) {
                rest.remove(k);
            }
        }
        let t = match product(b, &rest) {
            Some(t) => t,
            None => b.int(1),
        };
        terms.push((t, negative != all_negative));
    }
    // Parts that are one column once their shared factors are out do not
    // make a sum worth writing (`diag(s) - diag(s)`).
    let mut distinct: Vec<Id> = terms.iter().map(|t| t.0).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < terms.len() {
        return None;
    }
    let sum = b.signed_sum(terms)?;
    let column = match product(b, &common) {
        Some(c) => b.add(Node::Had([sum, c])),
        None => sum,
    };
    Some((column, all_negative))
}

/// The factors of the elementwise product at `id`, left to right.
fn had_factors(b: &ExprBuilder, id: Id, out: &mut Vec<Id>) {
    match b.node(id) {
        Node::Had([x, y]) => {
            let (x, y) = (*x, *y);
            had_factors(b, x, out);
            had_factors(b, y, out);
        }
        _ => out.push(id),
    }
}

/// The elementwise product of `factors`, left to right; `None` for none.
fn product(b: &mut ExprBuilder, factors: &[Id]) -> Option<Id> {
    let mut acc: Option<Id> = None;
    for &f in factors {
        acc = Some(match acc {
            None => f,
            Some(a) => b.add(Node::Had([a, f])),
        });
    }
    acc
}
