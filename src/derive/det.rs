//! `derive det(J)`: the determinant of a derived Jacobian, simplified by
//! the determinant rules with the dimensions symbolic (`beta^D`). Where a
//! step assumed a scalar nonzero and the result still divides by
//! something, the answer states the condition.

use super::simplify::rewrite;
use crate::egraph::ShapeTable;
use crate::ir::build::{replaced_at, ExprBuilder};
use crate::ir::Node;
use crate::key::{Condition, Note, RunStats};
use crate::model::Model;
use crate::rules;
use crate::Limits;
use egg::RecExpr;
use std::rc::Rc;

mod elimination;
mod low_rank;

/// The simplified determinant of `matrix`, the notes it needs, and the
/// statistics of its run.
fn determinant(
    model: &Model,
    shapes: &Rc<ShapeTable>,
    matrix: &RecExpr<Node>,
    window: &super::window::Window,
    limits: &Limits,
) -> Determinant {
    let expr = det_of(matrix);
    let zero = Default::default();
    let scope = plain_scope(model, window, &zero);
    let simplify = |e: &RecExpr<Node>| {
        rewrite(
            shapes,
            Some(&scope),
            e,
            rules::linear_algebra(),
            limits,
            "determinant",
        )
    };
    // Fewer determinants of block matrices, fewer determinants, smaller.
    let rank = |e: &RecExpr<Node>| (block_dets(e), dets(e), crate::ir::size(e));
    let mut done = simplify(&expr);
    let mut runs = Vec::new();
    // Block elimination, where it gives fewer determinants of block
    // matrices, fewer determinants, or a smaller form than the rules;
    // not where the rules left no determinant.
    if matches!(matrix[crate::ir::root(matrix)], Node::Block(_)) && dets(&done.expr) > 0 {
        if let Some(el) = elimination::eliminated(matrix, model) {
            let mut again = simplify(&el.expr);
            if rank(&again.expr) < rank(&done.expr) {
                // A pivot divided by matters where the result still
                // divides by it; where it does not, the result is
                // continuous in it and holds where it is zero too.
                let kept: Vec<_> = el
                    .pivots
                    .into_iter()
                    .filter(|k| divides_by(&again.expr, k))
                    .map(|k| nonzero_base(&k))
                    .collect();
                again.nonzero.extend(kept);
                runs.push(std::mem::replace(&mut done, again).stats);
            }
        }
    }
    // The matrix determinant lemma, where the determinant left reads as a
    // scaled identity plus a rank-one matrix (as simplified, or as
    // derived): its scale and its last factor simplified apart (the
    // power of a scale with a symbolic exponent gives the rules of the
    // whole product much to grow on).
    for l in root_readings(&done.expr, matrix, model, low_rank::parts) {
        let (scale, sum) = (simplify(&l.scale), simplify(&l.sum));
        let expr = low_rank::Lemma::assembled(&scale.expr, &l.exponent, &sum.expr);
        if rank(&expr) < rank(&done.expr) {
            let mut again = sum;
            again.expr = expr;
            again.limited |= scale.limited;
            again.nonzero.extend(scale.nonzero);
            again.nonzero.extend(std::mem::take(&mut done.nonzero));
            runs.push(scale.stats);
            runs.push(std::mem::replace(&mut done, again).stats);
        }
    }
    // Determinants of sums of scaled identities and diagonal matrices (as
    // simplified, anywhere in the form left, or the whole matrix as
    // derived): the products of their diagonals' entries.
    if dets(&done.expr) > 0 {
        let derived = low_rank::diagonal(matrix, model);
        let candidates = [taken_claim(&done.expr, model, low_rank::diagonal), derived];
        for p in candidates.into_iter().flatten() {
            let mut again = simplify(&p);
            if rank(&again.expr) < rank(&done.expr) {
                again.nonzero.extend(std::mem::take(&mut done.nonzero));
                runs.push(std::mem::replace(&mut done, again).stats);
            }
        }
    }
    // A diagonal matrix plus a rank-one term, where the determinant left
    // is one (as simplified, or the matrix as derived): the lemma with the
    // diagonal, which holds where the diagonal has no zero entry.
    for (p, condition) in root_readings(&done.expr, matrix, model, low_rank::diagonal_lemma) {
        let mut again = simplify(&p);
        if rank(&again.expr) < rank(&done.expr) {
            again.nonzero.push(simplify(&condition).expr);
            again.nonzero.extend(std::mem::take(&mut done.nonzero));
            runs.push(std::mem::replace(&mut done, again).stats);
        }
    }
    let mut notes = Vec::new();
    if divides(&done.expr) && !done.nonzero.is_empty() {
        notes.push(Note::HoldsWhere(
            done.nonzero
                .iter()
                .cloned()
                .map(Condition::Nonzero)
                .collect(),
        ));
    }
    if done.limited {
        notes.push(Note::Limited);
    }
    if done.expr.as_ref().iter().any(|n| matches!(n, Node::Det(_))) {
        notes.push(Note::DeterminantLeft);
    }
    runs.push(done.stats);
    (done.expr, notes, runs)
}

/// What `reading` gives for the matrix of `e`, where `e` is one
/// determinant (the form simplified), then for `matrix` (as derived) where
/// that is another matrix.
fn root_readings<T>(
    e: &RecExpr<Node>,
    matrix: &RecExpr<Node>,
    model: &Model,
    reading: impl Fn(&RecExpr<Node>, &Model) -> Option<T>,
) -> Vec<T> {
    let Node::Det(m) = e[crate::ir::root(e)] else {
        return Vec::new();
    };
    let simplified = crate::ir::build::subtree(e, m);
    let derived = (simplified != *matrix).then(|| reading(matrix, model));
    [reading(&simplified, model), derived.flatten()]
        .into_iter()
        .flatten()
        .collect()
}

/// `det(matrix)`.
fn det_of(matrix: &RecExpr<Node>) -> RecExpr<Node> {
    let mut b = ExprBuilder::new();
    let m = b.copy_all(matrix);
    let root = b.add(Node::Det(m));
    b.finish(root)
}

/// The scope a determinant is simplified in: forward values named, no
/// assumptions.
fn plain_scope<'a>(
    model: &'a Model,
    window: &'a super::window::Window,
    zero: &'a std::collections::BTreeSet<u32>,
) -> super::scope::Scope<'a> {
    super::scope::Scope {
        model,
        window,
        assuming: &[],
        zero,
        name: true,
        also: &[],
    }
}

/// The determinants of block matrices an expression holds.
fn block_dets(e: &RecExpr<Node>) -> usize {
    e.as_ref()
        .iter()
        .filter(|n| matches!(n, Node::Det(m) if matches!(e[*m], Node::Block(_))))
        .count()
}

/// The determinants an expression holds.
fn dets(e: &RecExpr<Node>) -> usize {
    e.as_ref()
        .iter()
        .filter(|n| matches!(n, Node::Det(_)))
        .count()
}

/// A simplified determinant, the notes it needs and the statistics of its
/// run.
type Determinant = (RecExpr<Node>, Vec<Note>, Vec<RunStats>);

/// The determinant of the matrix as derived or as printed (collected),
/// whichever result leaves fewer determinants of block matrices, fewer
/// determinants, then is smaller, then shorter in print; with the matrix
/// its steps start from: the derived one, unless the printed one's result
/// leaves fewer determinants.
pub fn of_derived_or_printed(
    model: &Model,
    shapes: &Rc<ShapeTable>,
    derived: &RecExpr<Node>,
    printed: Option<&RecExpr<Node>>,
    window: &super::window::Window,
    limits: &Limits,
) -> (RecExpr<Node>, Determinant) {
    let left = |d: &RecExpr<Node>| (block_dets(d), dets(d));
    let rank = |d: &RecExpr<Node>| {
        let text = crate::ir::text::expr(&model.symbols, d).len();
        (left(d), crate::ir::size(d), text)
    };
    let from_derived = determinant(model, shapes, derived, window, limits);
    if let Some(p) = printed {
        let got = determinant(model, shapes, p, window, limits);
        if rank(&got.0) < rank(&from_derived.0) {
            let shown = if left(&got.0) < left(&from_derived.0) {
                p
            } else {
                derived
            };
            return (shown.clone(), got);
        }
    }
    (derived.clone(), from_derived)
}

/// Whether an expression divides by something (a quotient, an inverse or
/// a negative power), so that a nonzero condition matters.
pub fn divides(e: &RecExpr<Node>) -> bool {
    e.as_ref().iter().any(|n| match n {
        Node::Div(_) | Node::Inv(_) => true,
        Node::Pow([_, p]) => e[*p].as_num().is_some_and(|r| r.is_negative()),
        _ => false,
    })
}

/// What `k` is nonzero exactly where it is: `k` without a sign, a nonzero
/// number's factor or a positive power (`-c`, `2 * c` and `c^2` are
/// nonzero where `c` is).
fn nonzero_base(k: &RecExpr<Node>) -> RecExpr<Node> {
    let sub = |id| nonzero_base(&crate::ir::build::subtree(k, id));
    let nonzero_number = |id: egg::Id| k[id].as_num().is_some_and(|r| !r.is_zero());
    match k[crate::ir::root(k)] {
        Node::Neg(a) => sub(a),
        Node::Pow([b, p])
            if k[p]
                .as_num()
                .is_some_and(|r| !r.is_negative() && !r.is_zero()) =>
        {
            sub(b)
        }
        Node::Mul([a, b]) if nonzero_number(a) => sub(b),
        Node::Mul([a, b]) if nonzero_number(b) => sub(a),
        _ => k.clone(),
    }
}

/// Whether `e` divides by something that holds `k` (a quotient's
/// denominator, an inverse's matrix or a negative power's base), or what
/// `k` is nonzero exactly where it is ([`nonzero_base`]: `c^(-2)` divides
/// by `c^2`, `1 / c` by `-c`).
fn divides_by(e: &RecExpr<Node>, k: &RecExpr<Node>) -> bool {
    let base = nonzero_base(k);
    let holds = |id: egg::Id| {
        let below = crate::ir::build::subtree(e, id);
        (0..below.as_ref().len()).any(|i| {
            let t = crate::ir::build::subtree(&below, egg::Id::from(i));
            t == *k || t == base
        })
    };
    e.as_ref().iter().any(|n| match n {
        Node::Div([_, d]) => holds(*d),
        Node::Inv(m) => holds(*m),
        Node::Pow([b, p]) => e[*p].as_num().is_some_and(|r| r.is_negative()) && holds(*b),
        _ => false,
    })
}

/// The derivation of a determinant, step by step: the determinant of the
/// derived matrix, then each determinant rule as it applies (the first in
/// the table's order that changes the form), each followed by the algebra
/// of what it leaves, then the simplified result `done`.
pub fn steps(
    model: &Model,
    shapes: &Rc<ShapeTable>,
    matrix: &RecExpr<Node>,
    window: &super::window::Window,
    limits: &Limits,
    done: &RecExpr<Node>,
) -> Vec<crate::key::Step> {
    use super::steps::{dedup, step, text};
    use crate::egraph::{extract, run};
    use crate::key::Part;
    let start = det_of(matrix);
    let zero = Default::default();
    let scope = plain_scope(model, window, &zero);
    let one = Limits {
        egraph_iters: 1,
        ..limits.clone()
    };
    let text_of = |e: &RecExpr<Node>| crate::ir::text::expr(&model.symbols, e);
    let mut out = vec![step(
        start.clone(),
        vec![text("the determinant of the matrix derived above")],
    )];
    // A step taken, then the algebra of its factors: the form it leaves.
    let taken = |out: &mut Vec<crate::key::Step>, next: RecExpr<Node>, why: Vec<Part>| {
        out.push(step(next.clone(), why));
        let tidy = rewrite(
            shapes,
            Some(&scope),
            &next,
            rules::tidy_factors(),
            limits,
            "determinant step",
        );
        let cur = if tidy.limited { next } else { tidy.expr };
        out.push(step(cur.clone(), vec![text("the factors simplified")]));
        cur
    };
    let mut cur = start;
    let mut applied = 0;
    'rounds: while applied < MAX_DET_STEPS {
        // One graph of the current form per round; each rule that matches
        // runs on a copy of it.
        let (graph, roots) = scope.graph(shapes, &[&cur]);
        // The original determinant node, which the rule's form must
        // replace even where it reads longer (a Schur complement).
        let original = match &cur[crate::ir::root(&cur)] {
            Node::Det(m) => graph.lookup_expr(&crate::ir::build::subtree(&cur, *m)),
            _ => None,
        };
        for rule in rules::determinant_rules() {
            let g = &graph;
            let found = rule.search(g);
            let at_root: Vec<_> = found.iter().filter(|m| !m.substs.is_empty()).collect();
            if at_root.is_empty() {
                continue;
            }
            // The block a Schur complement is taken of, named.
            let name = rule.name.as_str();
            let Some((plain, latex, block)) = rules::det::words(name) else {
                continue;
            };
            let named: Vec<RecExpr<Node>> = block
                .iter()
                .filter_map(|v| {
                    let var: egg::Var = v.parse().ok()?;
                    let m = at_root.first()?;
                    let id = *m.substs.first()?.get(var)?;
                    extract(g, id).map(|(_, e)| e)
                })
                .collect();
            let ran = run(graph.clone(), &[rule], &one, "determinant step");
            let Some(next) = replaced(&ran.graph, roots[0], original) else {
                continue;
            };
            let next = super::steps::trivial_gone(&next);
            if text_of(&next) == text_of(&cur) {
                continue;
            }
            let mut why = vec![Part::Words { plain, latex }];
            if !named.is_empty() {
                why.push(text(if named.len() == 1 {
                    "; here it is "
                } else {
                    "; here they are "
                }));
                why.extend(super::steps::listed(
                    named.into_iter().map(Part::Expr).collect(),
                ));
            }
            cur = taken(&mut out, next, why);
            applied += 1;
            continue 'rounds;
        }
        // No rule applies: block elimination, where it finds a pivot.
        if let Some((next, el)) = eliminated_inside(&cur, model) {
            let mut why = Vec::new();
            for (k, c) in el.all_pivots.into_iter().enumerate() {
                if k == 0 {
                    why.push(Part::Words {
                        plain: ELIMINATION,
                        latex: ELIMINATION_LATEX,
                    });
                }
                why.push(text(if k == 0 { "; pivot: " } else { ", then " }));
                why.push(Part::Expr(c));
            }
            if let Some((plain, latex)) = el.commuting {
                if !why.is_empty() {
                    why.push(text("; then "));
                }
                why.push(Part::Words { plain, latex });
            }
            cur = taken(&mut out, next, why);
            applied += 1;
            continue 'rounds;
        }
        // Then the matrix determinant lemma, and the product of a
        // diagonal.
        let read: [(Reading, &str, &str); 3] = [
            (low_rank::lemma, LEMMA, LEMMA_LATEX),
            (diagonal_lemma_only, DIAGONAL_LEMMA, DIAGONAL_LEMMA_LATEX),
            (low_rank::diagonal, DIAGONAL, DIAGONAL_LATEX),
        ];
        for (reading, plain, latex) in read {
            if let Some(next) = taken_inside(&cur, model, reading) {
                cur = taken(&mut out, next, vec![Part::Words { plain, latex }]);
                applied += 1;
                continue 'rounds;
            }
        }
        break;
    }
    out.push(step(done.clone(), vec![text("simplified")]));
    dedup(out, &model.symbols)
}

/// What a step of block elimination does.
const ELIMINATION: &str = "block elimination: where the other blocks of a block column are multiples of one block, the pivot (scalar multiples, or any block X where the pivot is c * I, X / c times it), subtracting those multiples of its block row clears them and keeps the determinant; the determinant is then the pivot's (c^n for c * I) times that of what is left without the pivot's row and column, times (-1)^n where their numbers add to an odd number (the same with block rows and columns exchanged)";

/// [`ELIMINATION`] in LaTeX (text mode, with its formulas in math).
const ELIMINATION_LATEX: &str = r"block elimination: where the other blocks of a block column are multiples of one block, the pivot (scalar multiples, or any block $X$ where the pivot is $c\,I$, $X / c$ times it), subtracting those multiples of its block row clears them and keeps the determinant; the determinant is then the pivot's ($c^n$ for $c\,I$) times that of what is left without the pivot's row and column, times $(-1)^n$ where their numbers add to an odd number (the same with block rows and columns exchanged)";

/// What the matrix determinant lemma says.
const LEMMA: &str = "the matrix determinant lemma: a scalar a times the identity plus a rank-one matrix u * w^T has det(a * I(n) + u * w^T) = a^(n-1) * (a + w^T * u), for every a";

/// [`LEMMA`] in LaTeX (text mode, with its formulas in math).
const LEMMA_LATEX: &str = r"the matrix determinant lemma: a scalar $a$ times the identity plus a rank-one matrix $u w^\top$ has $\det(a I_n + u w^\top) = a^{n-1} (a + w^\top u)$, for every $a$";

/// What the matrix determinant lemma with a diagonal matrix says.
const DIAGONAL_LEMMA: &str = "the matrix determinant lemma with a diagonal matrix: a diagonal matrix plus a rank-one matrix u * w^T has det(diag(v) + u * w^T) = prod(v) * (1 + w^T * (u ./ v)), where no entry of v is zero";

/// [`DIAGONAL_LEMMA`] in LaTeX (text mode, with its formulas in math).
const DIAGONAL_LEMMA_LATEX: &str = r"the matrix determinant lemma with a diagonal matrix: a diagonal matrix plus a rank-one matrix $u w^\top$ has $\det(\operatorname{diag}(v) + u w^\top) = {\textstyle\prod_i} v_i \, (1 + w^\top \operatorname{diag}(v)^{-1} u)$, where no entry of $v$ is zero";

/// What a step taking the determinant of a diagonal matrix does.
const DIAGONAL: &str = "the determinant of a diagonal matrix: a sum of scaled identities and diagonal matrices is the diagonal matrix of the sum of their diagonals, and its determinant is the product of that diagonal's entries";

/// [`DIAGONAL`] in LaTeX (text mode, with its formulas in math).
const DIAGONAL_LATEX: &str = r"the determinant of a diagonal matrix: a sum of scaled identities and diagonal matrices is the diagonal matrix of the sum of their diagonals, and its determinant is the product of that diagonal's entries, $\det(\operatorname{diag}(v)) = {\textstyle\prod_i} v_i$";

/// The first determinant of a block matrix in `e` replaced by its block
/// elimination, with how it was eliminated; `None` where none has a
/// pivot.
fn eliminated_inside(
    e: &RecExpr<Node>,
    model: &Model,
) -> Option<(RecExpr<Node>, elimination::Eliminated)> {
    let (at, el) = e.as_ref().iter().enumerate().find_map(|(i, n)| match n {
        Node::Det(m) if matches!(e[*m], Node::Block(_)) => {
            let matrix = crate::ir::build::subtree(e, *m);
            elimination::eliminated(&matrix, model).map(|el| (i, el))
        }
        _ => None,
    })?;
    Some((replaced_at(e, at, &el.expr)?, el))
}

/// A reading of a determinant's matrix that takes the determinant: the
/// matrix determinant lemma, or the product of a diagonal.
type Reading = fn(&RecExpr<Node>, &Model) -> Option<RecExpr<Node>>;

/// The first determinant in `e` whose matrix `reading` takes, replaced by
/// what it gives; `None` where there is none.
fn taken_inside(e: &RecExpr<Node>, model: &Model, reading: Reading) -> Option<RecExpr<Node>> {
    let (at, by) = e.as_ref().iter().enumerate().find_map(|(i, n)| match n {
        Node::Det(m) => {
            let matrix = crate::ir::build::subtree(e, *m);
            reading(&matrix, model).map(|l| (i, l))
        }
        _ => None,
    })?;
    replaced_at(e, at, &by)
}

/// `e` with each determinant of a block matrix taken by block elimination
/// where it finds a pivot, as often as that goes on; `None` where none
/// does, or where a pivot it divides by is zero by its normal form. Every
/// step is an identity where its pivots are nonzero, so the result has the
/// value of `e` there: a claim written as the determinant of the block
/// matrix meets a derived determinant that block elimination gave. An
/// expression equal to the result by the normal forms (an identity in the
/// atoms, where both are defined) is equal to `e` where the pivots are
/// nonzero, and so, both continuous in the atoms, where a pivot is zero
/// too, wherever it is defined (as a derived determinant holds without the
/// condition of a pivot it no longer divides by).
pub fn eliminated_claim(e: &RecExpr<Node>, model: &Model) -> Option<RecExpr<Node>> {
    let zero = {
        let mut b = ExprBuilder::new();
        let z = b.int(0);
        b.finish(z)
    };
    let mut cur = e.clone();
    let mut changed = false;
    for _ in 0..MAX_DET_STEPS {
        let Some((next, el)) = eliminated_inside(&cur, model) else {
            break;
        };
        if el
            .pivots
            .iter()
            .any(|k| divides_by(&next, k) && crate::ir::normal::same(k, &zero, model))
        {
            return None;
        }
        cur = next;
        changed = true;
    }
    changed.then_some(cur)
}

/// `e` with each determinant the matrix determinant lemma applies to taken
/// by it (it needs no condition); `None` where there is none.
pub fn lemma_claim(e: &RecExpr<Node>, model: &Model) -> Option<RecExpr<Node>> {
    taken_claim(e, model, low_rank::lemma)
}

/// `e` with each determinant of a diagonal matrix plus a rank-one matrix
/// taken by the lemma with the diagonal (see `low_rank::diagonal_lemma`);
/// `None` where there is none. It holds where the diagonal has no zero
/// entry; a claim it proves is equal to the derived form there, and so,
/// both continuous in the atoms, wherever both are defined.
pub fn diagonal_lemma_claim(e: &RecExpr<Node>, model: &Model) -> Option<RecExpr<Node>> {
    taken_claim(e, model, diagonal_lemma_only)
}

/// [`low_rank::diagonal_lemma`]'s determinant, without its condition.
fn diagonal_lemma_only(m: &RecExpr<Node>, model: &Model) -> Option<RecExpr<Node>> {
    low_rank::diagonal_lemma(m, model).map(|(d, _)| d)
}

/// `e` with each determinant of a sum of scaled identities and diagonal
/// matrices taken as the product of the diagonal's entries; `None` where
/// there is none.
pub fn diagonal_claim(e: &RecExpr<Node>, model: &Model) -> Option<RecExpr<Node>> {
    taken_claim(e, model, low_rank::diagonal)
}

/// `e` with each determinant `reading` takes taken by it; `None` where
/// there is none.
fn taken_claim(e: &RecExpr<Node>, model: &Model, reading: Reading) -> Option<RecExpr<Node>> {
    let mut cur = taken_inside(e, model, reading)?;
    for _ in 1..MAX_DET_STEPS {
        let Some(next) = taken_inside(&cur, model, reading) else {
            break;
        };
        cur = next;
    }
    Some(cur)
}

/// The most determinant rules the steps of one determinant apply.
const MAX_DET_STEPS: usize = 12;

/// The smallest form of the class `root` whose top node is not the
/// determinant of the class `original` (the form a rule replaced), each
/// operand extracted on its own; the cheapest form of all where there is
/// no original.
fn replaced(
    graph: &crate::ir::analysis::Graph,
    root: egg::Id,
    original: Option<egg::Id>,
) -> Option<RecExpr<Node>> {
    use crate::egraph::extract;
    use egg::Language;
    let root = graph.find(root);
    let Some(original) = original.map(|o| graph.find(o)) else {
        return extract(graph, root).map(|(_, e)| e);
    };
    let mut best: Option<RecExpr<Node>> = None;
    for node in &graph[root].nodes {
        if matches!(node, Node::Det(m) if graph.find(*m) == original) {
            continue;
        }
        let mut b = ExprBuilder::new();
        let mut ok = true;
        let built = node.clone().map_children(|c| match extract(graph, c) {
            Some((_, e)) => b.copy_all(&e),
            None => {
                ok = false;
                c
            }
        });
        if !ok {
            continue;
        }
        let top = b.add(built);
        let e = b.finish(top);
        if best
            .as_ref()
            .is_none_or(|x| crate::ir::size(&e) < crate::ir::size(x))
        {
            best = Some(e);
        }
    }
    best
}
