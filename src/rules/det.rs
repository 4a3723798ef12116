//! Determinants: of the identity and scaled identities (`det(c * I(D)) =
//! c^D`), of products, transposes and inverses, and of 2 x 2 block
//! matrices: block-triangular, the Schur complement (only where the block
//! it inverts is provably invertible), block row and column operations
//! where two blocks are equal, and `det(A * D - B * C)` where the blocks
//! are polynomials in one matrix, so commute.
//!
//! A Schur step that needs a scalar to be nonzero records that scalar, so
//! the answer can state the condition.

use super::{
    built_row, is_column, is_row, is_scalar_var, is_square_block, is_square_matrix, is_zero_var,
    rule, same_shape, var, Rewrite,
};
use crate::ir::analysis::{add_poly, constant, is_scalar, shape_of, Graph};
use crate::ir::Node;
use egg::{Id, Subst};

/// Whether `id` is provably invertible: an identity, or a scaled identity
/// whose scale is a nonzero constant or a scalar assumed nonzero; returns
/// the scalars assumed nonzero.
pub fn invertible(eg: &Graph, id: Id) -> Option<Vec<Id>> {
    for n in &eg[id].nodes {
        match n {
            Node::Eye(_) => return Some(Vec::new()),
            Node::Mul([c, m])
                if is_scalar(eg, *c) && eg[*m].nodes.iter().any(|x| matches!(x, Node::Eye(_))) =>
            {
                match constant(eg, *c) {
                    Some(k) if k.is_zero() => continue,
                    Some(_) => return Some(Vec::new()),
                    None => return Some(vec![eg.find(*c)]),
                }
            }
            _ => {}
        }
    }
    None
}

/// `c^n` and `det(A)` for an `n x n` matrix `A`: the parts of the rules
/// that take a scalar out of a determinant.
fn size_power(eg: &mut Graph, c: Id, a: Id) -> (Id, Id) {
    let n = shape_of(eg, a).rows.clone();
    let size = add_poly(eg, &n);
    (eg.add(Node::Pow([c, size])), eg.add(Node::Det(a)))
}

/// `det(c * A) = c^n * det(A)` for an `n x n` matrix `A`.
fn scaled(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (p, d) = size_power(eg, s[var("?c")], s[var("?a")]);
    Some(eg.add(Node::Mul([p, d])))
}

/// `det(-A) = (-1)^n * det(A)` for an `n x n` matrix `A`.
fn negated(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let minus_one = eg.add(Node::Num(crate::num::Rational::int(-1)));
    let (p, d) = size_power(eg, minus_one, s[var("?a")]);
    Some(eg.add(Node::Mul([p, d])))
}

/// `det(A / c) = det(A) / c^n` for an `n x n` matrix `A` (both sides are
/// defined where `c != 0`).
fn divided(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let (p, d) = size_power(eg, s[var("?c")], s[var("?a")]);
    Some(eg.add(Node::Div([d, p])))
}

/// The four blocks `?a`, `?b`, `?c`, `?d` of `[A, B; C, D]`.
fn blocks(s: &Subst) -> [Id; 4] {
    [s[var("?a")], s[var("?b")], s[var("?c")], s[var("?d")]]
}

/// A pivot step: `det(P) * det(X)` for an invertible pivot block `P`, where
/// `X = other - left * inv(P) * right` (a diagonal pivot, the Schur
/// complement) or its negation `left * inv(P) * right - other` (an
/// off-diagonal pivot, see [`schur_off_diagonal`]).
fn pivot_step(eg: &mut Graph, [pivot, left, right, other]: [Id; 4], negated: bool) -> Option<Id> {
    let assumed = invertible(eg, pivot)?;
    eg.analysis.nonzero.extend(assumed);
    let pi = eg.add(Node::Inv(pivot));
    let pr = eg.add(Node::Mul([pi, right]));
    let lpr = eg.add(Node::Mul([left, pr]));
    let comp = eg.add(Node::Sub(if negated { [lpr, other] } else { [other, lpr] }));
    let det_comp = eg.add(Node::Det(comp));
    let det_p = eg.add(Node::Det(pivot));
    Some(eg.add(Node::Mul([det_p, det_comp])))
}

/// The Schur complement of the lower-right block (its row says when it
/// holds): `det(D) * det(A - B * inv(D) * C)`.
fn schur(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let [a, b, c, d] = blocks(s);
    pivot_step(eg, [d, b, c, a], false)
}

/// The Schur complement of the upper-left block (its row says when it
/// holds): `det(A) * det(D - C * inv(A) * B)`.
fn schur_mirror(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let [a, b, c, d] = blocks(s);
    pivot_step(eg, [a, c, b, d], false)
}

/// `?v` is provably invertible (see [`invertible`]).
fn is_invertible(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| invertible(eg, s[v]).is_some()
}

/// The four blocks are square matrices of one size.
fn blocks_same_square(eg: &mut Graph, _: Id, s: &Subst) -> bool {
    same_square(eg, blocks(s))
}

/// Neither diagonal block is provably invertible (where one is, the usual
/// Schur complement applies; a second route would only give the other
/// rules more forms to grow).
fn no_diagonal_pivot(eg: &mut Graph, _: Id, s: &Subst) -> bool {
    let [a, _, _, d] = blocks(s);
    invertible(eg, a).is_none() && invertible(eg, d).is_none()
}

/// Whether four blocks are square matrices of one size; a block written
/// `0` is a zero matrix of the size the others give it.
fn same_square(eg: &Graph, blocks: [Id; 4]) -> bool {
    let zero = |b: Id| constant(eg, b).is_some_and(|k| k.is_zero());
    let Some(&first) = blocks.iter().find(|&&b| !zero(b)) else {
        return false;
    };
    let shape = shape_of(eg, first);
    !is_scalar(eg, first)
        && shape.is_square()
        && blocks.iter().all(|&b| zero(b) || shape_of(eg, b) == shape)
}

/// An off-diagonal block invertible, all four blocks `n x n`: exchanging
/// the block columns (or rows) gives a sign `(-1)^(n*n)`, and the Schur
/// complement written the other way round another `(-1)^n`; together
/// `(-1)^(n*(n+1)) = 1`. With `?b` invertible,
/// `det([A, B; C, D]) = det(B) * det(D * inv(B) * A - C)`; with `?c`
/// invertible, `det(C) * det(A * inv(C) * D - B)`.
fn schur_off_diagonal(eg: &mut Graph, s: &Subst, upper: bool) -> Option<Id> {
    let [a, b, c, d] = blocks(s);
    let step = if upper { [b, d, a, c] } else { [c, a, d, b] };
    pivot_step(eg, step, true)
}

/// `det([A, B, C; E, P, 0; F, 0, Q])` with `P` and `Q` invertible (scaled
/// identities): the Schur complement on the block-diagonal pivot
/// `[P, 0; 0, Q]`, `det(P) * det(Q) * det(A - B * inv(P) * E - C * inv(Q) * F)`
/// (Adam's moments, each decaying by its own rate).
fn schur_three(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let v = |n: &str| s[var(n)];
    let (a, b, c, e, p, f, q) = (
        v("?a"),
        v("?b"),
        v("?c"),
        v("?e"),
        v("?p"),
        v("?f"),
        v("?q"),
    );
    let mut assumed = invertible(eg, p)?;
    assumed.extend(invertible(eg, q)?);
    eg.analysis.nonzero.extend(assumed);
    let term = |eg: &mut Graph, left: Id, pivot: Id, right: Id| {
        let inv = eg.add(Node::Inv(pivot));
        let l = eg.add(Node::Mul([left, inv]));
        eg.add(Node::Mul([l, right]))
    };
    let tb = term(eg, b, p, e);
    let tc = term(eg, c, q, f);
    let x = eg.add(Node::Sub([a, tb]));
    let x = eg.add(Node::Sub([x, tc]));
    let dx = eg.add(Node::Det(x));
    let dp = eg.add(Node::Det(p));
    let dq = eg.add(Node::Det(q));
    let pq = eg.add(Node::Mul([dp, dq]));
    Some(eg.add(Node::Mul([pq, dx])))
}

/// The matrix that the class `id` is a polynomial in: a sum, difference,
/// negation, product, scalar multiple or quotient by a scalar of the
/// identity and that one matrix (`h * I(D) - h^3 / 4 * H` is one in
/// `H`); `Some(None)` where it is one in the identity alone (a scalar, a
/// zero). Any other matrix is a polynomial in itself. A scalar added to a
/// matrix stands for every entry, not for a multiple of the identity, so
/// such a sum is a matrix of its own. `None` where the search is too deep.
fn polynomial_in(eg: &Graph, id: Id, depth: usize) -> Option<Option<Id>> {
    let id = eg.find(id);
    if is_scalar(eg, id) || crate::ir::analysis::is_zero(eg, id) {
        return Some(None);
    }
    if depth == 0 {
        return None;
    }
    let both = |a: Id, b: Id| -> Option<Option<Id>> {
        match (
            polynomial_in(eg, a, depth - 1)?,
            polynomial_in(eg, b, depth - 1)?,
        ) {
            (None, x) | (x, None) => Some(x),
            (Some(x), Some(y)) => (x == y).then_some(Some(x)),
        }
    };
    for n in &eg[id].nodes {
        let got = match n {
            Node::Eye(_) => Some(None),
            Node::Add([a, b]) | Node::Sub([a, b]) if !is_scalar(eg, *a) && !is_scalar(eg, *b) => {
                both(*a, *b)
            }
            Node::Mul([a, b]) => both(*a, *b),
            Node::Neg(a) => polynomial_in(eg, *a, depth - 1),
            Node::Div([a, c]) if is_scalar(eg, *c) => polynomial_in(eg, *a, depth - 1),
            _ => None,
        };
        if got.is_some() {
            return got;
        }
    }
    Some(Some(id))
}

/// The four blocks of `[A, B; C, D]` are square, of one size, and
/// polynomials in one matrix (see [`polynomial_in`]), so they commute with
/// one another; neither diagonal block is provably invertible (where one
/// is, the Schur complement applies).
fn commuting_blocks(eg: &mut Graph, root: Id, s: &Subst) -> bool {
    if !same_square(eg, blocks(s)) || !no_diagonal_pivot(eg, root, s) {
        return false;
    }
    let mut atom: Option<Id> = None;
    for b in blocks(s) {
        match polynomial_in(eg, b, 6) {
            None => return false,
            Some(None) => {}
            Some(Some(x)) => match atom {
                Some(y) if eg.find(y) != eg.find(x) => return false,
                _ => atom = Some(x),
            },
        }
    }
    true
}

/// `det([A, B; C, D]) = det(A * D - B * C)` where `C` and `D` commute
/// (here every block does, see [`commuting_blocks`]): a position Verlet
/// step, whose blocks are polynomials in one Hessian.
fn commuting(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let [a, b, c, d] = blocks(s);
    let ad = eg.add(Node::Mul([a, d]));
    let bc = eg.add(Node::Mul([b, c]));
    let x = eg.add(Node::Sub([ad, bc]));
    Some(eg.add(Node::Det(x)))
}

/// `det(M)` of a block matrix of three or more block rows, one of whose
/// block rows (or columns) is zero but for its diagonal block `M_kk`,
/// square: moving that row and that column last is one permutation of
/// the rows and the same of the columns, which keeps the determinant, and
/// leaves the matrix block triangular, so `det(M) = det(M_kk) * det(R)`,
/// `R` the matrix without them (a state that only scales itself, such as
/// Adam's running power `p1[k+1] = b1 * p1[k]`). `R` is square because
/// `M` and `M_kk` are.
fn lone_diagonal_block(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let m = s[var("?m")];
    let blocks: Vec<Box<[Id]>> = eg[m]
        .nodes
        .iter()
        .filter_map(|n| match n {
            Node::Block(rows) => Some(rows.clone()),
            _ => None,
        })
        .collect();
    for rows in blocks {
        let n = rows.len();
        if n < 3 {
            continue;
        }
        let Some(grid) = rows
            .iter()
            .map(|&r| {
                eg[r].nodes.iter().find_map(|x| match x {
                    Node::Row(cells) if cells.len() == n => Some(cells.to_vec()),
                    _ => None,
                })
            })
            .collect::<Option<Vec<Vec<Id>>>>()
        else {
            continue;
        };
        let zero = |eg: &Graph, id: Id| crate::ir::analysis::is_zero(eg, id);
        // Every block row and column of what is left keeps a block that
        // is not zero: a zero block takes its size from its neighbours,
        // and a row of zeros alone would have none.
        let sized = |k: usize| {
            (0..n).filter(|&i| i != k).all(|i| {
                (0..n).any(|j| j != k && !zero(eg, grid[i][j]))
                    && (0..n).any(|j| j != k && !zero(eg, grid[j][i]))
            })
        };
        let Some(k) = (0..n).find(|&k| {
            super::square_block(eg, grid[k][k])
                && ((0..n).all(|j| j == k || zero(eg, grid[k][j]))
                    || (0..n).all(|i| i == k || zero(eg, grid[i][k])))
                && sized(k)
        }) else {
            continue;
        };
        let rest: Vec<Id> = (0..n)
            .filter(|&i| i != k)
            .map(|i| {
                let cells: Vec<Id> = (0..n).filter(|&j| j != k).map(|j| grid[i][j]).collect();
                eg.add(Node::Row(cells.into()))
            })
            .collect();
        let rest = eg.add(Node::Block(rest.into()));
        let det_rest = eg.add(Node::Det(rest));
        let det_k = eg.add(Node::Det(grid[k][k]));
        return Some(eg.add(Node::Mul([det_k, det_rest])));
    }
    None
}

/// The determinant rules.
#[rustfmt::skip]
pub fn rules() -> Vec<Rewrite> {
    let mut rules = vec![
        rule!("det-identity";        "(det (I ?n))"                          => "1"),
        rule!("det-scalar";          "(det ?a)"                              => "?a" if is_scalar_var("?a")),
        rule!("det-transpose";       "(det (T ?a))"                          => "(det ?a)"),
        rule!("det-inverse";         "(det (inv ?a))"                        => "(^ (det ?a) -1)"),
        rule!("det-product";         "(det (* ?a ?b))"                       => "(* (det ?a) (det ?b))" if is_square_matrix("?a") if is_square_matrix("?b")),
        // A block triangular matrix, its diagonal blocks square (a zero
        // block beside a non-square one leaves two blocks without
        // determinants); a scalar block is one of one row and column.
        rule!("det-block-lower";     "(det (block (row ?a ?z) (row ?c ?d)))" => "(* (det ?a) (det ?d))" if is_zero_var("?z") if is_square_block("?a") if is_square_block("?d")),
        rule!("det-block-upper";     "(det (block (row ?a ?b) (row ?z ?d)))" => "(* (det ?a) (det ?d))" if is_zero_var("?z") if is_square_block("?a") if is_square_block("?d")),
        // Block row and column operations where two blocks are one class:
        // [A, B; C, B] -> [A - C, 0; C, B], [A, B; A, D] -> [A, B; 0, D - B],
        // [A, A; C, D] -> [A, 0; C, D - C]; the result is block triangular,
        // so again its diagonal blocks must be square.
        rule!("det-rows-equal-right"; "(det (block (row ?a ?b) (row ?c ?b)))" => "(* (det (- ?a ?c)) (det ?b))" if is_square_matrix("?a") if is_square_matrix("?b")),
        rule!("det-rows-equal-left";  "(det (block (row ?a ?b) (row ?a ?d)))" => "(* (det ?a) (det (- ?d ?b)))" if is_square_matrix("?a") if is_square_matrix("?d")),
        rule!("det-cols-equal-top";   "(det (block (row ?a ?a) (row ?c ?d)))" => "(* (det ?a) (det (- ?d ?c)))" if is_square_matrix("?a") if is_square_matrix("?d")),
        // A diagonal matrix: the product of its diagonal; of exponentials,
        // the exponential of the sum; of an elementwise product, the
        // product of the products.
        rule!("det-diag";            "(det (diag ?v))"                       => "(prod ?v)"),
        rule!("prod-exp";            "(prod (exp ?v))"                       => "(exp (sumall ?v))"),
        rule!("prod-hadamard";       "(prod (.* ?a ?b))"                     => "(* (prod ?a) (prod ?b))" if same_shape("?a", "?b")),
        // The matrix determinant lemma for a rank-one update of the
        // identity: det(I + u * r) = 1 + r * u for a column u and a row r.
        rule!("det-rank-one";        "(det (+ (I ?n) (* ?u ?r)))"            => "(+ 1 (* ?r ?u))" if is_column("?u") if is_row("?r")),
        rule!("det-rank-one-mirror"; "(det (+ (* ?u ?r) (I ?n)))"            => "(+ 1 (* ?r ?u))" if is_column("?u") if is_row("?r")),
    ];
    rules.extend([
        built_row!("det-scaled";            "(det (* ?c ?a))"                       => scaled, if is_scalar_var("?c"), if is_square_matrix("?a")),
        built_row!("det-negated";           "(det (neg ?a))"                        => negated, if is_square_matrix("?a")),
        built_row!("det-divided";           "(det (/ ?a ?c))"                       => divided, if is_scalar_var("?c"), if is_square_matrix("?a")),
        built_row!("det-schur";             "(det (block (row ?a ?b) (row ?c ?d)))" => schur, if is_invertible("?d"), if is_square_matrix("?a")),
        built_row!("det-schur-mirror";      "(det (block (row ?a ?b) (row ?c ?d)))" => schur_mirror, if is_invertible("?a"), if is_square_matrix("?d")),
        built_row!("det-schur-upper-right"; "(det (block (row ?a ?b) (row ?c ?d)))" => |eg, s| schur_off_diagonal(eg, s, true), if blocks_same_square, if no_diagonal_pivot, if is_invertible("?b")),
        built_row!("det-schur-three";       "(det (block (row ?a ?b ?c) (row ?e ?p ?z1) (row ?f ?z2 ?q)))" => schur_three, if is_zero_var("?z1"), if is_zero_var("?z2"), if is_invertible("?p"), if is_invertible("?q"), if is_square_matrix("?a")),
        built_row!("det-block-lone";        "(det ?m)"                              => lone_diagonal_block),
        built_row!("det-block-commuting";   "(det (block (row ?a ?b) (row ?c ?d)))" => commuting, if commuting_blocks),
        built_row!("det-schur-lower-left";  "(det (block (row ?a ?b) (row ?c ?d)))" => |eg, s| schur_off_diagonal(eg, s, false), if blocks_same_square, if no_diagonal_pivot, if is_invertible("?c")),
    ]);
    rules
}

/// What each determinant rule says, as the language writes it and as
/// LaTeX, for the steps of a derivation; with the blocks a Schur
/// complement is taken of, by their pattern variables.
pub fn words(rule: &str) -> Option<(&'static str, &'static str, &'static [&'static str])> {
    Some(match rule {
        "det-identity" => ("det(I) = 1", r"$\det(I) = 1$", &[]),
        "det-scalar" => (
            "the determinant of a scalar is the scalar",
            "the determinant of a scalar is the scalar",
            &[],
        ),
        "det-transpose" => ("det(A^T) = det(A)", r"$\det(A^\top) = \det(A)$", &[]),
        "det-inverse" => (
            "det(inv(A)) = det(A)^(-1)",
            r"$\det(A^{-1}) = \det(A)^{-1}$",
            &[],
        ),
        "det-product" => (
            "det(A * B) = det(A) * det(B) for square A and B",
            r"$\det(AB) = \det(A)\det(B)$ for square $A$ and $B$",
            &[],
        ),
        "det-block-lower" | "det-block-upper" => (
            "the matrix is block triangular: its determinant is the product of the determinants of its diagonal blocks",
            "the matrix is block triangular: its determinant is the product of the determinants of its diagonal blocks",
            &[],
        ),
        "det-block-lone" => (
            "a block row or column is zero but for its diagonal block: moved last, with its column or row, it leaves a block triangular matrix, so the determinant is that block's times the determinant of the rest",
            "a block row or column is zero but for its diagonal block: moved last, with its column or row, it leaves a block triangular matrix, so the determinant is that block's times the determinant of the rest",
            &[],
        ),
        "det-block-commuting" => (
            "its four blocks are polynomials in one matrix, so they commute: det([A, B; C, D]) = det(A * D - B * C)",
            r"its four blocks are polynomials in one matrix, so they commute: $\det\begin{bmatrix} A & B \\ C & D \end{bmatrix} = \det(AD - BC)$",
            &[],
        ),
        "det-rows-equal-right" => (
            "its two block rows end in the same block: subtracting the second from the first leaves a block triangular matrix",
            "its two block rows end in the same block: subtracting the second from the first leaves a block triangular matrix",
            &[],
        ),
        "det-rows-equal-left" => (
            "its two block rows start with the same block: subtracting the first from the second leaves a block triangular matrix",
            "its two block rows start with the same block: subtracting the first from the second leaves a block triangular matrix",
            &[],
        ),
        "det-cols-equal-top" => (
            "its two block columns start with the same block: subtracting the first from the second leaves a block triangular matrix",
            "its two block columns start with the same block: subtracting the first from the second leaves a block triangular matrix",
            &[],
        ),
        "det-diag" => (
            "det(diag(v)) = prod(v), the product of the entries of v",
            r"$\det(\operatorname{diag}(v)) = \prod_i v_i$, the product of the entries of $v$",
            &[],
        ),
        "prod-exp" => (
            "prod(exp(v)) = exp(sum(v))",
            r"$\prod_i \exp(v_i) = \exp(\sum_i v_i)$",
            &[],
        ),
        "prod-hadamard" => (
            "prod(a .* b) = prod(a) * prod(b)",
            r"$\prod_i a_i b_i = \prod_i a_i \prod_i b_i$",
            &[],
        ),
        "det-rank-one" | "det-rank-one-mirror" => (
            "the matrix determinant lemma: det(I + u * w^T) = 1 + w^T * u",
            r"the matrix determinant lemma: $\det(I + u w^\top) = 1 + w^\top u$",
            &[],
        ),
        "det-scaled" => (
            "det(c * A) = c^n * det(A) for an n x n matrix A",
            r"$\det(cA) = c^n \det(A)$ for an $n \times n$ matrix $A$",
            &[],
        ),
        "det-schur" => (
            "the Schur complement of the lower right block D: det([A, B; C, D]) = det(D) * det(A - B * inv(D) * C), where D is invertible",
            r"the Schur complement of the lower right block $D$: $\det\begin{bmatrix} A & B \\ C & D \end{bmatrix} = \det(D) \det(A - B D^{-1} C)$, where $D$ is invertible",
            &["?d"],
        ),
        "det-schur-mirror" => (
            "the Schur complement of the upper left block A: det([A, B; C, D]) = det(A) * det(D - C * inv(A) * B), where A is invertible",
            r"the Schur complement of the upper left block $A$: $\det\begin{bmatrix} A & B \\ C & D \end{bmatrix} = \det(A) \det(D - C A^{-1} B)$, where $A$ is invertible",
            &["?a"],
        ),
        "det-schur-upper-right" => (
            "the Schur complement of the upper right block, which is invertible",
            "the Schur complement of the upper right block, which is invertible",
            &["?b"],
        ),
        "det-schur-lower-left" => (
            "the Schur complement of the lower left block, which is invertible",
            "the Schur complement of the lower left block, which is invertible",
            &["?c"],
        ),
        "det-schur-three" => (
            "the Schur complement of the two lower diagonal blocks P and Q: det([A, B, C; E, P, 0; F, 0, Q]) = det(P) * det(Q) * det(A - B * inv(P) * E - C * inv(Q) * F), where P and Q are invertible",
            r"the Schur complement of the two lower diagonal blocks $P$ and $Q$: $\det\begin{bmatrix} A & B & C \\ E & P & 0 \\ F & 0 & Q \end{bmatrix} = \det(P) \det(Q) \det(A - B P^{-1} E - C Q^{-1} F)$, where $P$ and $Q$ are invertible",
            &["?p", "?q"],
        ),
        _ => return None,
    })
}
