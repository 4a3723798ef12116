//! Matrix algebra: the identity, inverses, transposes of products, scalars
//! moving to the front of products, and the cancellations that finish a
//! Schur complement (`X * inv(X) = I`, `(a - b) + b = a`).

use super::algebra::columns;
use super::{
    built, built_row, distributes, is_matrix, is_scalar_var, is_square_matrix, rule, var, Rewrite,
};
use crate::ir::analysis::{add_poly, constant, is_scalar, shape_of, Graph};
use crate::ir::Node;
use crate::num::Rational;
use egg::{Id, Subst};

/// The identity of the size of `?a`'s rows.
fn identity_like(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let a = s[var("?a")];
    let n = shape_of(eg, a).rows.clone();
    let size = add_poly(eg, &n);
    Some(eg.add(Node::Eye(size)))
}

/// The matrix rules.
#[rustfmt::skip]
pub fn rules() -> Vec<Rewrite> {
    let mut rules = vec![
        rule!("mat-eye-one";       "(I 1)"                 => "1"),
        rule!("mat-block-single";  "(block (row ?a))"      => "?a"),
        rule!("mat-inv-eye";       "(inv (I ?n))"          => "(I ?n)"),
        rule!("mat-inv-scale";     "(inv (* ?c ?a))"       => "(* (^ ?c -1) (inv ?a))" if is_scalar_var("?c") if is_matrix("?a")),
        rule!("mat-inv-scalar";    "(inv ?c)"              => "(^ ?c -1)" if is_scalar_var("?c")),
        rule!("mat-inv-inv";       "(inv (inv ?a))"        => "?a"),
        rule!("mat-inv-neg";       "(inv (neg ?a))"        => "(neg (inv ?a))"),
        rule!("mat-inv-trans";     "(inv (T ?a))"          => "(T (inv ?a))"),
        rule!("mat-trans-eye";     "(T (I ?n))"            => "(I ?n)"),
        rule!("mat-trans-hess";    "(T (hess ?f ?u))"      => "(hess ?f ?u)"),
        rule!("mat-trans-diag";    "(T (diag ?v))"         => "(diag ?v)"),
        rule!("mat-trans-mul";     "(T (* ?a ?b))"         => "(* (T ?b) (T ?a))" if is_matrix("?a") if is_matrix("?b")),
        rule!("mat-trans-add";     "(T (+ ?a ?b))"         => "(+ (T ?a) (T ?b))"),
        rule!("mat-trans-sub";     "(T (- ?a ?b))"         => "(- (T ?a) (T ?b))"),
        rule!("mat-diag-zero";     "(diag 0)"              => "0"),
        // Diagonal matrices multiply entry by entry, and invert entry by
        // entry wherever they are invertible.
        rule!("mat-diag-mul";      "(* (diag ?a) (diag ?b))" => "(diag (.* ?a ?b))" if columns("?a", "?b")),
        rule!("mat-diag-mul-in";   "(* (* ?m (diag ?a)) (diag ?b))" => "(* ?m (diag (.* ?a ?b)))" if columns("?a", "?b")),
        rule!("mat-diag-apply";    "(* (diag ?v) ?u)"     => "(.* ?v ?u)" if columns("?v", "?u")),
        rule!("mat-diag-apply-in"; "(* (* ?m (diag ?v)) ?u)" => "(* ?m (.* ?v ?u))" if columns("?v", "?u")),
        rule!("mat-inv-diag";      "(inv (diag ?a))"       => "(diag (^ ?a -1))" if columns("?a", "?a")),
        // The diagonal matrix of a scalar is that scalar (`diag` of a
        // scalar does not check in the language).
        rule!("mat-diag-scalar";   "(diag ?s)"             => "?s" if is_scalar_var("?s")),
        rule!("scal-div-self";     "(/ ?c ?c)"             => "1" if is_scalar_var("?c")),
        rule!("scal-recip-div";    "(* (^ ?c -1) ?a)"      => "(/ ?a ?c)" if is_scalar_var("?c")),
        rule!("mat-factor-sub-l"; "(- (* ?a ?b) (* ?a ?c))" => "(* ?a (- ?b ?c))" if distributes("?a", "?b", "?c")),
    ];
    rules.extend([
        built_row!("mat-inv-cancel-r"; "(* ?a (inv ?a))" => identity_like, if is_square_matrix("?a")),
        built_row!("mat-inv-cancel-l"; "(* (inv ?a) ?a)" => identity_like, if is_square_matrix("?a")),
    ]);
    rules.push(built("mat-product-normal", "(* ?a ?b)", normal_product));
    rules.push(built("mat-factor-scalar-add", "(+ ?a ?b)", |eg, s| factor_scalars(eg, s, false)));
    rules.push(built("mat-factor-scalar-sub", "(- ?a ?b)", |eg, s| factor_scalars(eg, s, true)));
    rules
}

/// The factors of a product: a constant, scalar powers, and the matrices
/// (and vectors) in order.
#[derive(Default)]
pub(super) struct Factors {
    pub(super) coef: Option<Rational>,
    pub(super) scalars: Vec<(Id, i64)>,
    pub(super) matrices: Vec<Id>,
    pub(super) identity: Option<Id>,
}

impl Factors {
    fn scale(&mut self, c: &Rational) {
        let prev = self.coef.take().unwrap_or_else(Rational::one);
        self.coef = prev.mul(c).or(Some(prev));
    }

    fn power(&mut self, base: Id, e: i64) {
        match self.scalars.iter_mut().find(|(b, _)| *b == base) {
            Some((_, x)) => *x = x.saturating_add(e),
            None => self.scalars.push((base, e)),
        }
    }
}

/// Splits the class of `id` into factors, following one product node per
/// class (never a class twice, so self-referential classes such as
/// `x = 1 * x` stop).
fn flatten(eg: &Graph, id: Id, f: &mut Factors, seen: &mut Vec<Id>) {
    let id = eg.find(id);
    let scalar = is_scalar(eg, id);
    match constant(eg, id) {
        // Zero of any shape makes the product zero.
        Some(c) if scalar || c.is_zero() => {
            f.scale(&c);
            return;
        }
        _ => {}
    }
    if !scalar && eg[id].nodes.iter().any(|n| matches!(n, Node::Eye(_))) {
        f.identity = Some(id);
        return;
    }
    if seen.contains(&id) || seen.len() > 64 {
        return atom(eg, id, scalar, f);
    }
    seen.push(id);
    for n in &eg[id].nodes {
        match n {
            // A scalar made of vectors (`x^T * y`) is one factor: its
            // operands are not factors of the product around it.
            Node::Mul([a, b]) if !scalar || (is_scalar(eg, *a) && is_scalar(eg, *b)) => {
                flatten(eg, *a, f, seen);
                flatten(eg, *b, f, seen);
                return;
            }
            Node::Neg(a) => {
                f.scale(&Rational::int(-1));
                flatten(eg, *a, f, seen);
                return;
            }
            Node::Div([a, d]) if is_scalar(eg, *d) => {
                flatten(eg, *a, f, seen);
                let mut inner = Factors::default();
                flatten(eg, *d, &mut inner, seen);
                if let Some(c) = inner.coef.as_ref().and_then(|c| Rational::one().div(c)) {
                    f.scale(&c);
                }
                for (b, e) in inner.scalars {
                    f.power(b, -e);
                }
                return;
            }
            _ => {}
        }
    }
    atom(eg, id, scalar, f)
}

fn atom(eg: &Graph, id: Id, scalar: bool, f: &mut Factors) {
    if !scalar {
        f.matrices.push(id);
        return;
    }
    for n in &eg[id].nodes {
        if let Node::Pow([b, e]) = n {
            if let Some(k) = constant(eg, *e).and_then(|k| k.to_i64()) {
                if is_scalar(eg, *b) && constant(eg, *b).is_none() {
                    f.power(eg.find(*b), k);
                    return;
                }
            }
        }
    }
    f.power(id, 1);
}

/// A product in normal form: the constant, then scalar powers, then the
/// matrices in order, identities dropped. Idempotent on normal forms, so it
/// reaches a fixed point where associativity rules would not.
fn normal_product(eg: &mut Graph, s: &Subst) -> Option<Id> {
    let mut f = Factors::default();
    let mut seen = Vec::new();
    flatten(eg, s[var("?a")], &mut f, &mut seen);
    flatten(eg, s[var("?b")], &mut f, &mut seen);
    Some(build_product(eg, &f))
}

/// The product of some factors, in normal form.
pub(super) fn build_product(eg: &mut Graph, f: &Factors) -> Id {
    let coef = f.coef.clone().unwrap_or_else(Rational::one);
    if coef.is_zero() {
        return eg.add(Node::Num(Rational::zero()));
    }
    let negative = coef.is_negative();
    let mag = coef.abs();
    let mut scalar: Option<Id> = (!mag.is_one()).then(|| eg.add(Node::Num(mag)));
    for (base, e) in f.scalars.iter().copied().filter(|(_, e)| *e != 0) {
        let factor = if e == 1 {
            base
        } else {
            let n = eg.add(Node::Num(Rational::int(e)));
            eg.add(Node::Pow([base, n]))
        };
        scalar = Some(match scalar {
            Some(prev) => eg.add(Node::Mul([prev, factor])),
            None => factor,
        });
    }
    let mut matrix: Option<Id> = None;
    for m in f.matrices.iter().copied() {
        matrix = Some(match matrix {
            Some(prev) => eg.add(Node::Mul([prev, m])),
            None => m,
        });
    }
    if matrix.is_none() {
        matrix = f.identity;
    }
    let body = match (scalar, matrix) {
        (Some(c), Some(m)) => eg.add(Node::Mul([c, m])),
        (Some(c), None) => c,
        (None, Some(m)) => m,
        (None, None) => eg.add(Node::Num(Rational::one())),
    };
    if negative {
        eg.add(Node::Neg(body))
    } else {
        body
    }
}

/// `c * x ± c * y` as `c * (x ± y)`, for scalar factors `c` common to both
/// terms (with the smaller exponent): `beta * I - eps * beta * H` is
/// `beta * (I - eps * H)`.
fn factor_scalars(eg: &mut Graph, s: &Subst, subtract: bool) -> Option<Id> {
    let (a, b) = (s[var("?a")], s[var("?b")]);
    let mut fa = Factors::default();
    let mut fb = Factors::default();
    flatten(eg, a, &mut fa, &mut Vec::new());
    flatten(eg, b, &mut fb, &mut Vec::new());
    let mut common = Factors::default();
    for &(base, ea) in &fa.scalars {
        let Some(&(_, eb)) = fb.scalars.iter().find(|(x, _)| *x == base) else {
            continue;
        };
        let e = ea.min(eb);
        if e > 0 {
            common.scalars.push((base, e));
        }
    }
    if common.scalars.is_empty() {
        return None;
    }
    for &(base, e) in &common.scalars {
        fa.power(base, -e);
        fb.power(base, -e);
    }
    let ra = build_product(eg, &fa);
    let rb = build_product(eg, &fb);
    let inner = eg.add(if subtract {
        Node::Sub([ra, rb])
    } else {
        Node::Add([ra, rb])
    });
    let c = build_product(eg, &common);
    Some(eg.add(Node::Mul([c, inner])))
}
