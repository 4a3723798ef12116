//! The matrix determinant lemma for a scaled identity plus a rank-one
//! matrix: `det(a * I(n) + u * r) = a^(n-1) * (a + r * u)` for a scalar
//! `a`, a column `u` and a row `r` of `n` entries. Both sides are
//! polynomials in the entries, so it holds for every `a`, zero included
//! (where `a` is nonzero it is `a^n * det(I + u * r / a)` and the lemma
//! for the identity).
//!
//! The matrix is read as `a * I(n) + sum_k c_k * u_k * r_k` through sums,
//! differences, negations, scalings, quotients by scalars, transposes and
//! products of such matrices (a radial flow's Jacobian, `I(D) + b *
//! (I(D) / s - c * (z - z0) * (z - z0)^T)`). Terms with one column (or
//! one row) are merged, so `u * r1 + u * r2` is one term `u * (r1 + r2)`;
//! the lemma applies where one term is left. The reading is of the
//! expression as written (each node once), not of an e-graph's classes,
//! whose many equal forms would give as many readings.

use crate::ir::build::ExprBuilder;
use crate::ir::Node;
use crate::model::Model;
use crate::shape::Shape;
use egg::{Id, Language, RecExpr};

/// A square matrix as `scale * I(n) + sum_j diag(d_j) + sum_k c_k * u_k *
/// r_k`, each term with its scalar factor `c_k` apart (none for one), so
/// that the lemma's inner product reads `c * (r * u)`; no scale is zero.
/// Ids are of the builder the expression was copied into.
#[derive(Clone)]
struct LowRank {
    scale: Option<Id>,
    /// The columns `d_j` of the diagonal matrices, each with its factor.
    diagonal: Vec<Id>,
    terms: Vec<Term>,
}

impl LowRank {
    /// The number of parts besides the scale.
    fn parts(&self) -> usize {
        self.diagonal.len() + self.terms.len()
    }
}

/// A rank-one term: its scalar factor, column and row.
type Term = (Option<Id>, Id, Id);

/// The most terms a reading keeps (products multiply their numbers).
const MAX_TERMS: usize = 4;

/// What the lemma gives for one matrix: `scale^exponent * sum`, with
/// `sum = scale + c * (r * u)`.
pub struct Lemma {
    pub scale: RecExpr<Node>,
    pub exponent: crate::poly::Poly,
    pub sum: RecExpr<Node>,
}

impl Lemma {
    /// `scale^exponent * sum`, from the two parts as given (simplified
    /// apart, or as read).
    pub fn assembled(
        scale: &RecExpr<Node>,
        exponent: &crate::poly::Poly,
        sum: &RecExpr<Node>,
    ) -> RecExpr<Node> {
        let mut b = ExprBuilder::new();
        let a = b.copy_all(scale);
        let n = b.poly(exponent);
        let power = b.add(Node::Pow([a, n]));
        let s = b.copy_all(sum);
        let out = b.add(Node::Mul([power, s]));
        b.finish(out)
    }
}

/// `det(matrix)` by the lemma, where `matrix` reads as a scaled identity
/// plus one rank-one term; `None` where it does not.
pub fn lemma(matrix: &RecExpr<Node>, model: &Model) -> Option<RecExpr<Node>> {
    let l = parts(matrix, model)?;
    Some(Lemma::assembled(&l.scale, &l.exponent, &l.sum))
}

/// `det(matrix)` as the product of the entries of its diagonal, where
/// `matrix` reads as a sum of scaled identities and diagonal matrices (at
/// least one); `None` where it does not.
pub fn diagonal(matrix: &RecExpr<Node>, model: &Model) -> Option<RecExpr<Node>> {
    let shapes = crate::ir::prec::shapes(matrix, model);
    let mut r = Reader::new(matrix, &shapes);
    let lr = r.read(matrix, crate::ir::root(matrix))?;
    if !lr.terms.is_empty() {
        return None;
    }
    let v = diagonal_of(&mut r.b, &lr)?;
    let prod = r.b.add(Node::Prod(v));
    Some(r.b.finish(prod))
}

/// The column of entries on the diagonal of `scale * I + sum_j diag(d_j)`
/// (the rank-one terms left out): `scale + d_1 + ...`; `None` where there
/// is no diagonal matrix.
fn diagonal_of(b: &mut ExprBuilder, lr: &LowRank) -> Option<Id> {
    let mut entries = lr.diagonal.iter().copied();
    let first = entries.next()?;
    // A negated entry is subtracted: `1 + h * a - h * b`, not `1 + h * a
    // + h * (-b)`.
    let mut v = entries.fold(first, |v, d| match positive(b, d) {
        Some(p) => b.add(Node::Sub([v, p])),
        None => b.add(Node::Add([v, d])),
    });
    if let Some(a) = lr.scale {
        v = match positive(b, v) {
            Some(p) => b.add(Node::Sub([a, p])),
            None => b.add(Node::Add([a, v])),
        };
    }
    Some(v)
}

/// The matrix determinant lemma for a diagonal matrix plus a rank-one
/// term, `det(diag(v) + c * u * r) = prod(v) * (1 + c * r * (u ./ v))`,
/// where `matrix` reads as one (the diagonal a sum of scaled identities and
/// diagonal matrices, at least one): the determinant and `prod(v)`, which
/// it holds where it is nonzero (the right side divides by every entry of
/// `v`). `None` where the matrix does not read so.
pub fn diagonal_lemma(
    matrix: &RecExpr<Node>,
    model: &Model,
) -> Option<(RecExpr<Node>, RecExpr<Node>)> {
    let shapes = crate::ir::prec::shapes(matrix, model);
    let mut r = Reader::new(matrix, &shapes);
    let lr = r.read(matrix, crate::ir::root(matrix))?;
    let terms = r.merged(lr.terms.clone());
    let [(c, u, row)] = terms[..] else {
        return None;
    };
    let b = &mut r.b;
    let v = diagonal_of(b, &lr)?;
    let prod = b.add(Node::Prod(v));
    let minus_one = b.int(-1);
    let inverse = b.add(Node::Pow([v, minus_one]));
    let q = b.add(Node::Had([u, inverse]));
    let rq = b.add(Node::Mul([row, q]));
    let one = b.int(1);
    // A negated factor is subtracted (`1 - q^T * (p ./ v)`), and a factor
    // of one left out.
    let (c, subtract) = match c.map(|c| (c, positive(b, c))) {
        Some((_, Some(p))) => (Some(p), true),
        Some((c, None)) => (Some(c), false),
        None => (None, false),
    };
    let c = c.filter(|&c| !matches!(b.node(c), Node::Num(k) if k.is_one()));
    let crq = match c {
        Some(c) => b.add(Node::Mul([c, rq])),
        None => rq,
    };
    let sum = if subtract {
        b.add(Node::Sub([one, crq]))
    } else {
        b.add(Node::Add([one, crq]))
    };
    let det = b.add(Node::Mul([prod, sum]));
    let condition = r.b.clone().finish(prod);
    Some((r.b.finish(det), condition))
}

/// `x` where `id` is `-x` or a scaling of it (`c * -x`, `-x / c`), the
/// scaling kept (`c * x`); `None` otherwise.
fn positive(b: &mut ExprBuilder, id: Id) -> Option<Id> {
    match *b.node(id) {
        Node::Neg(x) => Some(x),
        Node::Mul([c, x]) => {
            let p = positive(b, x)?;
            Some(b.add(Node::Mul([c, p])))
        }
        Node::Div([x, c]) => {
            let p = positive(b, x)?;
            Some(b.add(Node::Div([p, c])))
        }
        _ => None,
    }
}

/// The parts of `det(matrix)` by the lemma (see [`lemma`]).
pub fn parts(matrix: &RecExpr<Node>, model: &Model) -> Option<Lemma> {
    let shapes = crate::ir::prec::shapes(matrix, model);
    let root = crate::ir::root(matrix);
    let n = shapes.get(usize::from(root))?.as_ref()?.rows.clone();
    let mut r = Reader::new(matrix, &shapes);
    let lr = r.read(matrix, root)?;
    let a = lr.scale?;
    if !lr.diagonal.is_empty() {
        return None;
    }
    let terms = r.merged(lr.terms);
    let [(c, u, row)] = terms[..] else {
        return None;
    };
    let b = &mut r.b;
    let mut ru = b.add(Node::Mul([row, u]));
    if let Some(c) = c {
        ru = b.add(Node::Mul([c, ru]));
    }
    let sum = b.add(Node::Add([a, ru]));
    let exponent = n.sub(&crate::poly::Poly::int(1))?;
    let e = r.b.finish(sum);
    let scale = crate::ir::build::subtree(&e, scale_in(&e)?);
    Some(Lemma {
        scale,
        exponent,
        sum: e,
    })
}

/// The scale of a lemma's sum `scale + c * (r * u)`: its first operand.
fn scale_in(sum: &RecExpr<Node>) -> Option<Id> {
    match sum[crate::ir::root(sum)] {
        Node::Add([a, _]) => Some(a),
        _ => None,
    }
}

/// Reads an expression copied node by node into a builder.
struct Reader<'a> {
    shapes: &'a [Option<Shape>],
    b: ExprBuilder,
    /// The builder's id of each node of the expression.
    ids: Vec<Id>,
}

impl<'a> Reader<'a> {
    /// A reader of `e`, copied node by node into its builder.
    fn new(e: &RecExpr<Node>, shapes: &'a [Option<Shape>]) -> Self {
        let mut r = Reader {
            shapes,
            b: ExprBuilder::new(),
            ids: Vec::with_capacity(e.as_ref().len()),
        };
        for node in e.as_ref() {
            let id =
                r.b.add(node.clone().map_children(|c| r.ids[usize::from(c)]));
            r.ids.push(id);
        }
        r
    }

    fn shape(&self, id: Id) -> Option<&Shape> {
        self.shapes.get(usize::from(id))?.as_ref()
    }

    fn scalar(&self, id: Id) -> bool {
        self.shape(id).is_some_and(Shape::is_scalar)
    }

    fn column(&self, id: Id) -> bool {
        self.shape(id)
            .is_some_and(|s| !s.is_scalar() && s.cols.is_one())
    }

    fn row(&self, id: Id) -> bool {
        self.shape(id)
            .is_some_and(|s| !s.is_scalar() && s.rows.is_one())
    }

    /// The reading of the square matrix at `id` of `e`.
    fn read(&mut self, e: &RecExpr<Node>, id: Id) -> Option<LowRank> {
        if !self
            .shape(id)
            .is_some_and(|s| !s.is_scalar() && s.is_square())
        {
            return None;
        }
        let at = |r: &Self, x: Id| r.ids[usize::from(x)];
        match e[id] {
            Node::Eye(_) => {
                let one = self.b.int(1);
                Some(LowRank {
                    scale: Some(one),
                    diagonal: Vec::new(),
                    terms: Vec::new(),
                })
            }
            Node::Diag(v) if self.column(v) => Some(LowRank {
                scale: None,
                diagonal: vec![at(self, v)],
                terms: Vec::new(),
            }),
            Node::Add([x, y]) | Node::Sub([x, y]) => {
                let p = self.read(e, x)?;
                let mut q = self.read(e, y)?;
                if matches!(e[id], Node::Sub(_)) {
                    q = self.map(q, |b, v| b.add(Node::Neg(v)));
                }
                let scale = match (p.scale, q.scale) {
                    (Some(s), Some(t)) => Some(self.b.add(Node::Add([s, t]))),
                    (s, t) => s.or(t),
                };
                let mut diagonal = p.diagonal;
                diagonal.extend(q.diagonal);
                let mut terms = p.terms;
                terms.extend(q.terms);
                let sum = LowRank {
                    scale,
                    diagonal,
                    terms,
                };
                (sum.parts() <= MAX_TERMS).then_some(sum)
            }
            Node::Neg(x) => {
                let p = self.read(e, x)?;
                Some(self.map(p, |b, v| b.add(Node::Neg(v))))
            }
            Node::Trans(x) => {
                let p = self.read(e, x)?;
                let terms = p
                    .terms
                    .into_iter()
                    .map(|(c, u, r)| (c, self.b.add(Node::Trans(r)), self.b.add(Node::Trans(u))))
                    .collect();
                Some(LowRank {
                    scale: p.scale,
                    diagonal: p.diagonal,
                    terms,
                })
            }
            Node::Div([x, s]) if self.scalar(s) => {
                let p = self.read(e, x)?;
                let s = at(self, s);
                Some(self.map(p, |b, v| b.add(Node::Div([v, s]))))
            }
            Node::Mul([c, x]) | Node::Mul([x, c]) if self.scalar(c) && !self.scalar(x) => {
                let p = self.read(e, x)?;
                let c = at(self, c);
                Some(self.map(p, |b, v| b.add(Node::Mul([c, v]))))
            }
            Node::Mul([u, r]) if self.column(u) && self.row(r) => Some(LowRank {
                scale: None,
                diagonal: Vec::new(),
                terms: vec![(None, at(self, u), at(self, r))],
            }),
            Node::Mul([x, y]) => {
                let p = self.read(e, x)?;
                let q = self.read(e, y)?;
                self.product(p, q)
            }
            _ => None,
        }
    }

    /// `(p * I + sum c u r) * (q * I + sum d v s)`, or `(p * I + sum
    /// diag(a)) * (q * I + sum diag(b))`; `None` for a diagonal matrix
    /// times a rank-one term, which the lemma does not take.
    fn product(&mut self, x: LowRank, y: LowRank) -> Option<LowRank> {
        let (m, n) = (x.parts(), y.parts());
        if m + n + m * n > MAX_TERMS {
            return None;
        }
        if !x.diagonal.is_empty() || !y.diagonal.is_empty() {
            if !x.terms.is_empty() || !y.terms.is_empty() {
                return None;
            }
            // p * b, q * a and a .* b.
            let mut diagonal = Vec::new();
            if let Some(p) = x.scale {
                for &b in &y.diagonal {
                    diagonal.push(self.b.add(Node::Mul([p, b])));
                }
            }
            if let Some(q) = y.scale {
                for &a in &x.diagonal {
                    diagonal.push(self.b.add(Node::Mul([q, a])));
                }
            }
            for &a in &x.diagonal {
                for &b in &y.diagonal {
                    diagonal.push(self.b.add(Node::Had([a, b])));
                }
            }
            let scale = match (x.scale, y.scale) {
                (Some(p), Some(q)) => Some(self.b.add(Node::Mul([p, q]))),
                _ => None,
            };
            return Some(LowRank {
                scale,
                diagonal,
                terms: Vec::new(),
            });
        }
        let mut terms = Vec::new();
        // p * d * v * s, and q * c * u * r.
        if let Some(p) = x.scale {
            for &(d, v, s) in &y.terms {
                terms.push((Some(self.scaled(d, p)), v, s));
            }
        }
        if let Some(q) = y.scale {
            for &(c, u, r) in &x.terms {
                terms.push((Some(self.scaled(c, q)), u, r));
            }
        }
        // c * d * (r * v) * u * s: the inner product is a scalar factor.
        for &(c, u, r) in &x.terms {
            for &(d, v, s) in &y.terms {
                let rv = self.b.add(Node::Mul([r, v]));
                let cd = self.scaled(c, rv);
                terms.push((Some(self.scaled(d, cd)), u, s));
            }
        }
        let scale = match (x.scale, y.scale) {
            (Some(p), Some(q)) => Some(self.b.add(Node::Mul([p, q]))),
            _ => None,
        };
        Some(LowRank {
            scale,
            diagonal: Vec::new(),
            terms,
        })
    }

    /// Terms with one column, or one row, merged into one: `c * u * r + d
    /// * u * s` is `u * (c * r + d * s)`.
    fn merged(&mut self, terms: Vec<Term>) -> Vec<Term> {
        let mut out: Vec<Term> = Vec::new();
        for (c, u, r) in terms {
            let same_column = out.iter().position(|t| t.1 == u);
            let same_row = out.iter().position(|t| t.2 == r);
            match (same_column, same_row) {
                (Some(k), _) => {
                    let (d, _, s) = out[k];
                    let (ds, cr) = (self.scaled(d, s), self.scaled(c, r));
                    out[k] = (None, u, self.b.add(Node::Add([ds, cr])));
                }
                (None, Some(k)) => {
                    let (d, v, _) = out[k];
                    let (dv, cu) = (self.scaled(d, v), self.scaled(c, u));
                    out[k] = (None, self.b.add(Node::Add([dv, cu])), r);
                }
                (None, None) => out.push((c, u, r)),
            }
        }
        out
    }

    /// `c * v`, or `v` where there is no factor.
    fn scaled(&mut self, c: Option<Id>, v: Id) -> Id {
        match c {
            Some(c) => self.b.add(Node::Mul([c, v])),
            None => v,
        }
    }

    /// The scale, each diagonal and each term's factor mapped by `f` (a
    /// scaling).
    fn map(&mut self, x: LowRank, f: impl Fn(&mut ExprBuilder, Id) -> Id) -> LowRank {
        let mut terms = Vec::with_capacity(x.terms.len());
        for (c, u, r) in x.terms {
            let one = self.b.int(1);
            let mut fc = f(&mut self.b, c.unwrap_or(one));
            // `c * 1` is `c`.
            if let (None, &Node::Mul([k, x])) = (c, self.b.node(fc)) {
                if x == one {
                    fc = k;
                }
            }
            terms.push((Some(fc), u, r));
        }
        // `c * 1` is `c` for the scale too.
        let scale = x.scale.map(|s| {
            let one = self.b.int(1);
            let fs = f(&mut self.b, s);
            match *self.b.node(fs) {
                Node::Mul([k, x]) if s == one && x == one => k,
                _ => fs,
            }
        });
        LowRank {
            scale,
            diagonal: x.diagonal.into_iter().map(|d| f(&mut self.b, d)).collect(),
            terms,
        }
    }
}
