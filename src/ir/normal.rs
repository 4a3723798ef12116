//! A normal form for the linear-algebra part of an expression: a linear
//! combination, with exact coefficients, of products, each product a set of
//! scalar factors with their exponents (they commute with everything) times
//! an ordered list of matrix factors (which associate but do not commute).
//!
//! - Sums and differences are flattened and like terms merged; products
//!   are distributed over sums and flattened.
//! - Powers of one base are merged (`x^a * x^b = x^(a+b)`, exponents exact
//!   or in the dims: `beta^(D-1) * beta = beta^D`); a division by a scalar
//!   is a power `-1`, `sqrt(x)` is `x^(1/2)`. A sum raised to a power other
//!   than a small positive integer is one base, its common factors and its
//!   leading coefficient taken out first, so that `2 * (v + eps) *
//!   sqrt(v + eps)` and `(v + eps)^(3/2)` meet.
//! - Transposes are pushed through products (`(A B)^T = B^T A^T`);
//!   `diag(v)`, `I(n)` and Hessians are their own transposes, and `diag`
//!   is linear (`diag(c * u + w) = c * diag(u) + diag(w)`); diagonals
//!   multiply entrywise (`diag(u) * diag(w) = diag(u .* w)`) and `I(n)` is
//!   the unit of products.
//! - A determinant of `a * I(n) + c * M1 * ... * Mk`, with square factors
//!   of size `n`, has its product rotated into one order: `AB` and `BA`
//!   have one characteristic polynomial. So has a sum of such products
//!   with a common first or last factor, and the transpose gives the same
//!   determinant.
//! - Elementwise products are flattened, sorted (they commute) and powers
//!   of one factor merged; `diag(v) * u` is `v .* u`.
//! - An inner product of two vectors and the sum of a vector's entries are
//!   one form: `u^T * w = sum(u .* w)`, `sum(u) = 1^T * u` with `1` the
//!   all-ones vector of its size, and `1^T * 1` is that size; the entries
//!   of a softmax sum to one (`1^T * softmax(z) = 1`).
//! - A sum over an index is split over the terms it sums and the factors
//!   free of the index taken out: constants, scalars, matrices before and
//!   after the part that depends on it, elementwise factors
//!   (`sum(n, a .* b[n]) = a .* sum(n, b[n])`) and the ends of an inner
//!   product (`sum(n, (u^T * h[n]) * s[n]) = u^T * sum(n, s[n] * h[n])`).
//!   A term free of the index is that many times itself where the range is
//!   declared (`sum(n, mu) = N * mu` over `1..N`). Sums over two indices
//!   commute (ranges are fixed), so the sum over the index declared first
//!   is outside. References bound by an
//!   inner sum over the same index are free of it outside that sum. The
//!   sum of transposes is the transpose of the sum. Division by a number
//!   is a coefficient.
//!
//! Everything else (function applications, sums of entries of matrices,
//! ...) is an atom whose arguments are normalised in turn.
//!
//! Two expressions with the same normal form are equal for every value of
//! their leaves where both are defined: each step above is an identity of
//! the algebra. Powers are merged only where that holds for real values:
//! `(x^a)^b` is `x^(a b)` only where `b` is an integer, `a` is one, or `a`
//! has an even denominator (then `x` is not negative), and a product is
//! raised factor by factor under the same condition. Different normal forms
//! say nothing (`tanh(x)^2` and `1 - tanh'(x)` differ here). Where a shape
//! is not known, a product is left as an atom rather than reordered.

use super::{Leaf, LeafShapes, Node};
use crate::num::Rational;
use crate::poly::Poly;
use crate::shape::Shape;
use egg::{Id, Language, RecExpr};
use std::collections::BTreeMap;

mod cleared;
mod exp_form;
mod reify;

/// A factor of a matrix product.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Factor {
    /// A value the normal form does not look into, as text.
    Atom(String),
    /// A value that is its own transpose (`diag(v)`, `I(n)`, a Hessian).
    Sym(String),
    /// The all-ones matrix of the given rows and columns.
    Ones(Poly, Poly),
    /// The transpose of a factor.
    T(Box<Factor>),
    /// An elementwise product of matrix products, each raised to its
    /// elementwise power (they commute, so they are kept sorted).
    Had(BTreeMap<Vec<Factor>, Combo>),
}

impl Factor {
    fn transposed(&self) -> Factor {
        match self {
            Factor::T(inner) => (**inner).clone(),
            Factor::Sym(_) => self.clone(),
            Factor::Ones(r, c) => Factor::Ones(c.clone(), r.clone()),
            // `(u .* w)^T = u^T .* w^T`.
            Factor::Had(groups) => Factor::Had(
                groups
                    .iter()
                    .map(|(g, e)| (transposed_chain(g), e.clone()))
                    .collect(),
            ),
            Factor::Atom(_) => Factor::T(Box::new(self.clone())),
        }
    }

    /// Writes the factor's text: equal texts for equal factors only. The
    /// texts of atoms are written after their length, not escaped, so that
    /// an atom nested in an atom's text does not grow with its depth.
    fn write(&self, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            Factor::Atom(t) => {
                let _ = write!(out, "A{}:{t}", t.len());
            }
            Factor::Sym(t) => {
                let _ = write!(out, "S{}:{t}", t.len());
            }
            Factor::Ones(r, c) => {
                let _ = write!(out, "O<{r:?};{c:?}>");
            }
            Factor::T(inner) => {
                out.push_str("T(");
                inner.write(out);
                out.push(')');
            }
            Factor::Had(groups) => {
                out.push_str("H[");
                for (g, e) in groups {
                    write_chain(g, out);
                    out.push('^');
                    write_combo(e, out);
                    out.push(';');
                }
                out.push(']');
            }
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }
}

/// Writes a matrix product's text, each factor's in order.
fn write_chain(m: &[Factor], out: &mut String) {
    out.push('[');
    for f in m {
        f.write(out);
        out.push(',');
    }
    out.push(']');
}

/// The transpose of a matrix product: reversed, each factor transposed.
fn transposed_chain(m: &[Factor]) -> Vec<Factor> {
    m.iter().rev().map(Factor::transposed).collect()
}

/// One product: scalar factors with their exponents (keyed by their text,
/// as they commute) and matrix factors (in order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Product {
    scalars: BTreeMap<String, Combo>,
    matrices: Vec<Factor>,
}

/// A linear combination of products.
type Combo = BTreeMap<Product, Rational>;

/// The exponent `1`.
fn one() -> Combo {
    constant(Rational::one())
}

/// A constant's normal form.
fn constant(r: Rational) -> Combo {
    single(Product::unit(), r)
}

/// The constant a normal form is, if it is one.
fn as_constant(c: &Combo) -> Option<Rational> {
    match c.len() {
        0 => Some(Rational::zero()),
        1 => c
            .iter()
            .next()
            .filter(|(p, _)| p.scalars.is_empty() && p.matrices.is_empty())
            .map(|(_, k)| k.clone()),
        _ => None,
    }
}

/// The text of the atom a dim's leaf is.
fn dim_text(d: u32) -> String {
    let text = format!("{:?}{{}}", Leaf::Dim(d));
    mean(&text, Meaning::Dim(d));
    text
}

/// Whether an exponent is an integer for every value of the dims: integer
/// coefficients of products of dims.
fn integer(e: &Combo) -> bool {
    e.iter().all(|(p, k)| {
        k.is_integer()
            && p.matrices.is_empty()
            && p.scalars.iter().all(|(b, x)| {
                b.starts_with("Dim(")
                    && as_constant(x).is_some_and(|r| r.is_integer() && !r.is_negative())
            })
    })
}

/// Whether `(x^a)^e = x^(a e)` for every real `x` where `x^a` is defined:
/// `a = 1`, `e` an integer, or `a` a constant with an even denominator (so
/// that `x` is not negative).
fn merges(a: &Combo, e: &Combo) -> bool {
    as_constant(a).is_some_and(|r| r.is_one() || even_denominator(&r)) || integer(e)
}

/// Whether a base raised to `a` is never negative: `a` has an even
/// denominator.
fn nonnegative(a: &Combo) -> bool {
    as_constant(a).is_some_and(|r| even_denominator(&r))
}

fn even_denominator(r: &Rational) -> bool {
    let (_, d) = r.parts();
    !d.bit(0)
}

/// The text of the sign factor `(-1)^e`, its meaning noted.
fn sign_text() -> String {
    let text = "#-1".to_owned();
    mean(&text, Meaning::Number(Rational::int(-1)));
    text
}

/// The exponent `e` of `(-1)^e`, an integer for every value of the dims,
/// reduced mod 2: a term with an integer coefficient over powers of dims
/// has the parity of its dims' plain product (`x^k` and `x` have one parity
/// for `k >= 1`, so `(-1)^(D*D + D) = 1`), and each coefficient is taken
/// mod 2 (`(-1)^(2*D) = 1`, `(-1)^(3*D) = (-1)^D`). Each change is by an
/// even integer, so other terms need not be integers. `None` where nothing
/// is left (the factor is one).
fn sign_exponent(e: &Combo) -> Option<Combo> {
    // Where a sum leaves exact bounds, the dims' powers stay.
    let merged = dims_plain(e).unwrap_or_else(|| e.clone());
    let mut out = Combo::new();
    for (p, k) in merged {
        // An integer too large to reduce stays as it is.
        let r = match k.to_i64() {
            Some(n) if k.is_integer() => Rational::int(n.rem_euclid(2)),
            _ => k.clone(),
        };
        if !r.is_zero() {
            out.insert(p, r);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `e` with each term that has an integer coefficient over powers of dims
/// taken over the dims' plain product (`D^2 * E` as `D * E`), which changes
/// it by an even integer; `None` where a sum leaves exact bounds.
fn dims_plain(e: &Combo) -> Option<Combo> {
    let mut out = Combo::new();
    for (p, k) in e {
        let mut q = p.clone();
        if integer(&single(p.clone(), k.clone())) {
            for x in q.scalars.values_mut() {
                *x = one();
            }
        }
        add_into(&mut out, &single(q, k.clone()), &Rational::one())?;
    }
    Some(out)
}

/// The polynomial in dims as a normal form.
fn poly_combo(p: &Poly) -> Combo {
    let mut out = Combo::new();
    for (m, k) in &p.0 {
        let mut q = Product::unit();
        for &(d, e) in &m.0 {
            q.scalars
                .insert(dim_text(d), constant(Rational::int(i64::from(e))));
        }
        out.insert(q, k.clone());
    }
    out
}

impl Product {
    fn unit() -> Product {
        Product {
            scalars: BTreeMap::new(),
            matrices: Vec::new(),
        }
    }

    fn atom(key: String, scalar: bool) -> Product {
        let mut p = Product::unit();
        if scalar {
            p.scalars.insert(key, one());
        } else {
            p.matrices.push(Factor::Atom(key));
        }
        p
    }

    /// The product, with the factor it takes on: exponents of one base
    /// added, and `1^T * 1` (all-ones matrices meeting) its inner size.
    /// `None` where an exponent leaves exact bounds.
    fn times(&self, other: &Product) -> Option<(Product, Rational)> {
        let mut scalars = self.scalars.clone();
        for (b, e) in &other.scalars {
            raise(&mut scalars, b, e)?;
        }
        let mut k = Rational::one();
        let mut matrices = self.matrices.clone();
        for f in &other.matrices {
            if let (Some(Factor::Ones(r, inner)), Factor::Ones(inner2, c)) = (matrices.last(), f) {
                if inner == inner2 {
                    // `1 (r x n) * 1 (n x c) = n * 1 (r x c)`, for a size
                    // that is one product of dims.
                    let size = poly_combo(inner);
                    if let [(p, m)] = size.iter().collect::<Vec<_>>().as_slice() {
                        let r = r.clone();
                        matrices.pop();
                        k = k.mul(m)?;
                        for (b, e) in &p.scalars {
                            raise(&mut scalars, b, e)?;
                        }
                        if !(r.is_one() && c.is_one()) {
                            matrices.push(Factor::Ones(r, c.clone()));
                        }
                        continue;
                    }
                }
            }
            // `I * M = M * I = M`, and `diag(u) * diag(w) = diag(u .* w)`.
            if is_identity(f) && !matrices.is_empty() {
                continue;
            }
            if matrices.last().is_some_and(is_identity) {
                matrices.pop();
            }
            if let Some(merged) = matrices.last().and_then(|m| diag_product(m, f)) {
                matrices.pop();
                matrices.push(merged);
                continue;
            }
            // `x^T * diag(v) = (v .* x)^T` and `diag(v) * x = v .* x`, for
            // a column `x` inside a longer product.
            let scaled = match (matrices.last(), f) {
                (Some(Factor::T(x)), Factor::Sym(d)) => {
                    diag_times_column(d, x).map(|c| transposed_chain(&c))
                }
                (Some(Factor::Sym(d)), x @ Factor::Atom(_)) => diag_times_column(d, x),
                _ => None,
            };
            if let Some(c) = scaled {
                matrices.pop();
                matrices.extend(c);
                continue;
            }
            // `1 (r x n) * diag(v) = 1 (r x 1) * v^T` and `diag(v) * 1 (n x
            // c) = v * 1 (1 x c)`: each row (column) of ones picks the
            // diagonal's entries.
            match (matrices.last(), f) {
                (Some(Factor::Ones(r, n)), Factor::Sym(d)) => {
                    if let Some(v) = diagonal_column(d, n) {
                        let r = r.clone();
                        matrices.pop();
                        if !r.is_one() {
                            matrices.push(Factor::Ones(r, Poly::int(1)));
                        }
                        matrices.extend(transposed_chain(&v));
                        continue;
                    }
                }
                (Some(Factor::Sym(d)), Factor::Ones(n, c)) => {
                    if let Some(v) = diagonal_column(d, n) {
                        let c = c.clone();
                        matrices.pop();
                        matrices.extend(v);
                        if !c.is_one() {
                            matrices.push(Factor::Ones(Poly::int(1), c));
                        }
                        continue;
                    }
                }
                _ => {}
            }
            // The entries of a softmax sum to one: `1 (r x n) * softmax(z)
            // = 1 (r x 1)`, and `softmax(z)^T * 1 (n x c) = 1 (1 x c)`.
            match (matrices.last(), f) {
                (Some(Factor::Ones(r, _)), Factor::Atom(t)) if is_softmax(t) => {
                    let r = r.clone();
                    matrices.pop();
                    if !r.is_one() {
                        matrices.push(Factor::Ones(r, Poly::int(1)));
                    }
                    continue;
                }
                (Some(Factor::T(inner)), Factor::Ones(_, c)) if matches!(&**inner, Factor::Atom(t) if is_softmax(t)) =>
                {
                    let c = c.clone();
                    matrices.pop();
                    if !c.is_one() {
                        matrices.push(Factor::Ones(Poly::int(1), c));
                    }
                    continue;
                }
                _ => {}
            }
            matrices.push(f.clone());
        }
        let k = k.mul(&constants_out(&mut scalars)?)?;
        Some((Product { scalars, matrices }, k))
    }

    /// Writes the product's text: its scalar factors' texts (after their
    /// lengths) with their exponents, then its matrix factors.
    fn write(&self, out: &mut String) {
        use std::fmt::Write as _;
        out.push('{');
        for (b, e) in &self.scalars {
            let _ = write!(out, "{}:{b}^", b.len());
            write_combo(e, out);
            out.push(';');
        }
        out.push('|');
        write_chain(&self.matrices, out);
        out.push('}');
    }

    fn key(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// The transpose: matrix factors reversed and each transposed (a
    /// scalar is its own transpose).
    fn transposed(&self) -> Product {
        Product {
            scalars: self.scalars.clone(),
            matrices: transposed_chain(&self.matrices),
        }
    }
}

/// Whether a factor is an identity matrix `I(n)`.
fn is_identity(f: &Factor) -> bool {
    matches!(f, Factor::Sym(t) if t.starts_with("Eye{"))
}

/// The factor `diag(body)` (`body` a column of `rows` entries, with no
/// scalar factors), its meaning noted. The diagonal of a column of ones
/// is the identity `I(n)` where `n` is a dim or a number (what `I` takes):
/// `diag(1 - t)` is `I(D) - diag(t)`.
fn diag_of(body: Combo, rows: Poly) -> Factor {
    if let Some(eye) = identity_of(&body, &rows) {
        return eye;
    }
    let text = format!("Diag{{{}}}", key(&body));
    mean(&text, Meaning::Diag(body, rows));
    Factor::Sym(text)
}

/// The identity factor `I(n)` that `diag(body)` is, where `body` is one
/// column of ones of `rows` entries and `rows` a dim or a whole number; its
/// text is the text of `I(n)` as written.
fn identity_of(body: &Combo, rows: &Poly) -> Option<Factor> {
    let [(p, k)] = body.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let ones = matches!(p.matrices.as_slice(), [Factor::Ones(r, c)] if r == rows && c.is_one());
    if !(ones && k.is_one() && p.scalars.is_empty()) {
        return None;
    }
    identity_factor(rows)
}

/// The scalar `c` where the nonzero form `x` is `c * I(n)`; `None` where
/// it is zero or has another matrix part.
fn identity_scale(x: &Combo) -> Option<Combo> {
    if x.is_empty() {
        return None;
    }
    let mut c = Combo::new();
    for (p, k) in x {
        if !matches!(p.matrices.as_slice(), [f] if is_identity(f)) {
            return None;
        }
        let scalar = Product {
            scalars: p.scalars.clone(),
            matrices: Vec::new(),
        };
        add_product(&mut c, scalar, k)?;
    }
    Some(c)
}

/// The identity factor `I(n)`, where `n` is a dim or a whole number; its
/// text is the text of `I(n)` as written.
fn identity_factor(rows: &Poly) -> Option<Factor> {
    let size = match rows.terms().as_slice() {
        [(m, c)] if c.is_one() && matches!(m.0.as_slice(), [(_, 1)]) => {
            let d = m.0[0].0;
            let unit = Product {
                scalars: std::iter::once((dim_text(d), one())).collect(),
                matrices: Vec::new(),
            };
            single(unit, Rational::one())
        }
        _ => {
            let n = rows
                .as_constant()
                .filter(|r| r.is_integer() && !r.is_negative() && !r.is_zero())?;
            constant(n)
        }
    };
    let text = format!("Eye{{{}}}", key(&size));
    mean(&text, Meaning::Eye(rows.clone()));
    mean(
        &shape_text(&text),
        Meaning::Shape(Shape::matrix(rows.clone(), rows.clone())),
    );
    Some(Factor::Sym(text))
}

/// The size of the identity matrix whose text is `text`; `None` where the
/// text is not an identity's or its size is not known.
fn identity_rows(text: &str) -> Option<Poly> {
    if !is_identity(&Factor::Sym(text.to_owned())) {
        return None;
    }
    match (meaning(text), meaning(&shape_text(text))) {
        (Some(Meaning::Eye(n)), _) => Some(n),
        (_, Some(Meaning::Shape(s))) if s.is_square() => Some(s.rows),
        _ => None,
    }
}

/// `diag(u) * diag(w) = diag(u .* w)`, where both factors are diagonals.
fn diag_product(a: &Factor, b: &Factor) -> Option<Factor> {
    let (Factor::Sym(x), Factor::Sym(y)) = (a, b) else {
        return None;
    };
    let (Meaning::Diag(u, rows), Meaning::Diag(w, _)) = (meaning(x)?, meaning(y)?) else {
        return None;
    };
    let shape = Shape::matrix(rows.clone(), Poly::int(1));
    let body = hadamard(&u, &w, Some(&shape))?;
    // Both are one product without scalars, so their product is too.
    let terms: Vec<_> = body.iter().collect();
    match terms.as_slice() {
        [(p, c)] if c.is_one() && p.scalars.is_empty() => {}
        _ => return None,
    }
    Some(diag_of(body, rows))
}

/// `diag(v) * x` as the elementwise product `v .* x`, where `d` is the
/// text of `diag(v)` and `x` an atom that is a column of its size.
fn diag_times_column(d: &str, x: &Factor) -> Option<Vec<Factor>> {
    let (Meaning::Diag(v, rows), Factor::Atom(t)) = (meaning(d)?, x) else {
        return None;
    };
    let Meaning::Shape(shape) = meaning(&shape_text(t))? else {
        return None;
    };
    if !shape.is_vector() || shape.rows != rows {
        return None;
    }
    let column = Product {
        scalars: BTreeMap::new(),
        matrices: vec![x.clone()],
    };
    let body = hadamard(&v, &single(column, Rational::one()), Some(&shape))?;
    // Both are one product without scalars, so their product is too.
    match body.iter().collect::<Vec<_>>().as_slice() {
        [(p, c)] if c.is_one() && p.scalars.is_empty() => Some(p.matrices.clone()),
        _ => None,
    }
}

/// The column `v` of `diag(v)` (the text `d`) of `n` rows, as a chain of
/// matrix factors, where it is one product without scalars.
fn diagonal_column(d: &str, n: &Poly) -> Option<Vec<Factor>> {
    let Meaning::Diag(v, rows) = meaning(d)? else {
        return None;
    };
    if rows != *n {
        return None;
    }
    match v.iter().collect::<Vec<_>>().as_slice() {
        [(p, c)] if c.is_one() && p.scalars.is_empty() && !p.matrices.is_empty() => {
            Some(p.matrices.clone())
        }
        _ => None,
    }
}

/// Whether an atom's text is a softmax (of a vector: the language has no
/// other), whose entries sum to one.
fn is_softmax(text: &str) -> bool {
    text.starts_with("Softmax{")
}

/// Multiplies the base `b` raised to `e` into `scalars`.
fn raise(scalars: &mut BTreeMap<String, Combo>, b: &str, e: &Combo) -> Option<()> {
    let mut sum = scalars.get(b).cloned().unwrap_or_default();
    add_into(&mut sum, e, &Rational::one())?;
    if b == sign_text() {
        sum = sign_exponent(&sum).unwrap_or_default();
    }
    if sum.is_empty() {
        scalars.remove(b);
    } else {
        scalars.insert(b.to_owned(), sum);
    }
    Some(())
}

fn single(p: Product, c: Rational) -> Combo {
    let mut m = Combo::new();
    if !c.is_zero() {
        m.insert(p, c);
    }
    m
}

/// Adds `c` times `b` into `a`; `None` where a coefficient leaves exact
/// bounds.
fn add_into(a: &mut Combo, b: &Combo, c: &Rational) -> Option<()> {
    for (p, k) in b {
        let k = k.mul(c)?;
        let sum = match a.get(p) {
            Some(old) => old.add(&k)?,
            None => k,
        };
        if sum.is_zero() {
            a.remove(p);
        } else {
            a.insert(p.clone(), sum);
        }
    }
    Some(())
}

/// `c` times `x`.
fn scaled(x: &Combo, c: &Rational) -> Option<Combo> {
    let mut out = Combo::new();
    add_into(&mut out, x, c)?;
    Some(out)
}

/// Adds `c` times the product `p` into `a`.
fn add_product(a: &mut Combo, p: Product, c: &Rational) -> Option<()> {
    add_into(a, &single(p, c.clone()), &Rational::one())
}

fn key(c: &Combo) -> String {
    let mut out = String::new();
    write_combo(c, &mut out);
    out
}

/// Writes a normal form's text: each term's coefficient and product.
fn write_combo(c: &Combo, out: &mut String) {
    use std::fmt::Write as _;
    out.push('(');
    for (i, (p, k)) in c.iter().enumerate() {
        if i > 0 {
            out.push_str(" + ");
        }
        let _ = write!(out, "{k}*");
        p.write(out);
    }
    out.push(')');
}

struct Normal<'a> {
    expr: &'a RecExpr<Node>,
    leaves: &'a dyn LeafShapes,
    shapes: Vec<Option<Shape>>,
    memo: Vec<Option<Option<Combo>>>,
    /// Whether to note each sum as written (see [`written_text`]), for
    /// reading the form back.
    written: bool,
}

impl Normal<'_> {
    fn shape(&self, id: Id) -> Option<&Shape> {
        self.shapes[usize::from(id)].as_ref()
    }

    fn scalar(&self, id: Id) -> Option<bool> {
        self.shape(id).map(Shape::is_scalar)
    }

    /// Whether `id` is a column vector (not a scalar).
    fn vector(&self, id: Id) -> bool {
        self.shape(id).is_some_and(Shape::is_vector)
    }

    /// Whether `id` is a row vector (not a scalar).
    fn row(&self, id: Id) -> bool {
        self.shape(id).is_some_and(Shape::is_row)
    }

    /// The normal form of `id`, or `None` where a coefficient leaves exact
    /// bounds (the caller then compares nothing).
    fn combo(&mut self, id: Id) -> Option<Combo> {
        let k = usize::from(id);
        if let Some(done) = &self.memo[k] {
            return done.clone();
        }
        let out = self.build(id);
        // A sum as written, under its normal form's text: a base read back
        // is written as here where that is no longer (`v + eps`, not the
        // sorted `eps + v`).
        if self.written && matches!(self.expr[id], Node::Add(_) | Node::Sub(_)) {
            if let Some(x) = out.as_ref().filter(|x| x.len() > 1) {
                mean(&written_text(&key(x)), Meaning::Node(id));
            }
        }
        self.memo[k] = Some(out.clone());
        out
    }

    /// An atom: the node with its children's normal forms as text.
    fn atom(&mut self, id: Id) -> Option<Combo> {
        let node = self.expr[id].clone();
        let kids: Vec<String> = node
            .children()
            .iter()
            .map(|&c| self.combo(c).map(|x| key(&x)))
            .collect::<Option<_>>()?;
        let text = format!("{}{{{}}}", discriminant(&node), kids.join(","));
        if text.len() > MAX_ATOM_TEXT {
            return None;
        }
        mean(&text, Meaning::Node(id));
        if let Some(shape) = self.shape(id) {
            mean(&shape_text(&text), Meaning::Shape(shape.clone()));
        }
        // A value of unknown shape is not a scalar: it does not commute.
        let scalar = self.scalar(id).unwrap_or(false);
        let p = if !scalar && matches!(node, Node::Diag(_) | Node::Eye(_) | Node::Hess(_)) {
            Product {
                scalars: BTreeMap::new(),
                matrices: vec![Factor::Sym(text)],
            }
        } else {
            Product::atom(text, scalar)
        };
        Some(single(p, Rational::one()))
    }

    /// `id`'s normal form as an operand of a sum whose result is not a
    /// scalar: a scalar there stands for every entry, `c` times the
    /// all-ones value.
    fn operand(&mut self, id: Id, whole: Id) -> Option<Combo> {
        if self.scalar(id) == Some(true) && self.scalar(whole) == Some(false) {
            let x = self.scalar_part(id, true)?;
            let shape = self.shape(whole)?.clone();
            let ones = Product {
                scalars: BTreeMap::new(),
                matrices: vec![Factor::Ones(shape.rows, shape.cols)],
            };
            return multiply(&x, &single(ones, Rational::one()));
        }
        self.combo(id)
    }

    fn build(&mut self, id: Id) -> Option<Combo> {
        let node = self.expr[id].clone();
        match node {
            Node::Num(r) => Some(constant(r)),
            // A zero matrix is zero, as a block or a term (`zeros(D, D)`).
            Node::Zeros(_) => Some(Combo::new()),
            Node::Add([a, b]) | Node::Sub([a, b]) => {
                if self.scalar(id).is_none() {
                    return self.atom(id);
                }
                let x = self.operand(a, id)?;
                let y = self.operand(b, id)?;
                signed_sum(x, &y, &node)
            }
            Node::Neg(a) => {
                let x = self.combo(a)?;
                scaled(&x, &Rational::one().neg())
            }
            Node::Mul([a, b]) => {
                let (Some(sa), Some(sb)) = (self.scalar(a), self.scalar(b)) else {
                    return self.atom(id);
                };
                // A row times a column: an inner product.
                if self.row(a) && self.vector(b) {
                    let u = self.column(a)?;
                    let w = self.combo(b)?;
                    let n = self.shape(b)?.rows.clone();
                    return inner(&u, &w, &n);
                }
                // A matrix applied to a vector: `diag(v) * u` is `v .* u`,
                // through the sums and products the matrix is made of.
                if !sa && self.vector(b) {
                    let u = self.combo(b)?;
                    return self.apply(a, &u);
                }
                let x = self.scalar_part(a, sa)?;
                let y = self.scalar_part(b, sb)?;
                let product = multiply(&x, &y)?;
                // A product of matrices that is a scalar commutes like one.
                if !sa && !sb && self.scalar(id) == Some(true) {
                    as_scalar(&product)
                } else {
                    Some(product)
                }
            }
            Node::Div([a, d]) => match &self.expr[d] {
                Node::Num(r) if !r.is_zero() => {
                    let x = self.combo(a)?;
                    scaled(&x, &Rational::one().div(r)?)
                }
                _ if self.scalar(d) == Some(true) && self.scalar(a).is_some() => {
                    let sa = self.scalar(a) == Some(true);
                    let x = self.scalar_part(a, sa)?;
                    let y = self.scalar_part(d, true)?;
                    match power(&y, &constant(Rational::int(-1)), None) {
                        Some(inverse) => multiply(&x, &inverse),
                        None => self.atom(id),
                    }
                }
                _ => self.atom(id),
            },
            // `diag` is linear: `diag(c * u + w) = c * diag(u) + diag(w)`.
            Node::Diag(v) if self.vector(v) => {
                let x = self.combo(v)?;
                let rows = self.shape(v)?.rows.clone();
                let mut out = Combo::new();
                for (p, c) in &x {
                    let inner = Product {
                        scalars: BTreeMap::new(),
                        matrices: p.matrices.clone(),
                    };
                    let q = Product {
                        scalars: p.scalars.clone(),
                        matrices: vec![diag_of(single(inner, Rational::one()), rows.clone())],
                    };
                    add_product(&mut out, q, c)?;
                }
                Some(out)
            }
            Node::Det(x) => self.determinant(id, x),
            Node::Prod(x) => self.entries_product(id, x),
            // `inv(c * I(n)) = c^(-1) * I(n)`: the scaled identity times
            // `c^(-2)`.
            Node::Inv(x) => {
                let inner = self.combo(x)?;
                let inverse = identity_scale(&inner)
                    .and_then(|c| power(&c, &constant(Rational::int(-2)), None))
                    .and_then(|k| multiply(&inner, &k));
                match inverse {
                    Some(i) => Some(i),
                    None => self.atom(id),
                }
            }
            Node::Pow([x, e]) if self.scalar(e) == Some(true) => self.raised(id, x, e),
            Node::Act(f, [x]) if f.act == super::Act::Sqrt && !f.prime => {
                let half = constant(Rational::frac(1, 2));
                self.power_of(id, x, &half)
            }
            Node::Trans(a) => {
                // The transpose of a sum over an index is the sum of the
                // transposes.
                if let Node::Sum([i, e]) = self.expr[a] {
                    let scalar = self.scalar(e) == Some(true);
                    let x = transpose(&self.scalar_part(e, scalar)?)?;
                    let summed_scalar = self.scalar(id).unwrap_or(false);
                    return self.summed(i, &x, summed_scalar, id);
                }
                transpose(&self.combo(a)?)
            }
            Node::Had([a, b]) => {
                if self.scalar(id) != Some(false) {
                    return self.atom(id);
                }
                let shape = self.shape(id)?.clone();
                let x = self.combo(a)?;
                let y = self.combo(b)?;
                hadamard(&x, &y, Some(&shape))
            }
            Node::Sum([i, e]) => {
                let scalar = self.scalar(e) == Some(true);
                let x = self.scalar_part(e, scalar)?;
                let summed_scalar = self.scalar(id).unwrap_or(false);
                self.summed(i, &x, summed_scalar, id)
            }
            Node::SumAll(x) => {
                let Some(shape) = self.shape(x).cloned() else {
                    return self.atom(id);
                };
                if shape.is_scalar() {
                    return self.scalar_part(x, true);
                }
                if shape.is_row() {
                    let u = self.column(x)?;
                    return sum_entries(&u, &shape.cols);
                }
                let u = self.combo(x)?;
                if shape.is_vector() {
                    return sum_entries(&u, &shape.rows);
                }
                // `1^T * X * 1`.
                let left = single(
                    Product {
                        scalars: BTreeMap::new(),
                        matrices: vec![Factor::Ones(Poly::int(1), shape.rows.clone())],
                    },
                    Rational::one(),
                );
                let right = single(
                    Product {
                        scalars: BTreeMap::new(),
                        matrices: vec![Factor::Ones(shape.cols.clone(), Poly::int(1))],
                    },
                    Rational::one(),
                );
                as_scalar(&multiply(&multiply(&left, &u)?, &right)?)
            }
            _ => self.atom(id),
        }
    }

    /// `det(x)` (`id` the node), an atom of `x`'s normal form. Where `x`
    /// is `a * I(n)` plus products with square factors of size `n`, those
    /// are put in the first of the forms that give one determinant (see
    /// [`Self::rotated`]): `AB` and `BA` have one characteristic
    /// polynomial, so `det(a I + c AB) = det(a I + c BA)` (Sylvester's
    /// identity for `a = 1`).
    fn determinant(&mut self, id: Id, x: Id) -> Option<Combo> {
        let mut inner = self.combo(x)?;
        let square = self
            .shape(x)
            .filter(|s| s.is_square())
            .map(|s| s.rows.clone());
        // The scale taken out where one multiple of the identity is made
        // `I(n)` (see [`identity_made_one`]).
        let mut scale: Option<Combo> = None;
        if let Some(n) = &square {
            // The determinant of a zero matrix is zero.
            if inner.is_empty() && !n.is_zero() {
                return Some(Combo::new());
            }
            // `det(c * I(n)) = c^n`, `det(I(n)) = 1`.
            if let Some(d) = identity_scale(&inner).and_then(|c| power(&c, &poly_combo(n), None)) {
                return Some(d);
            }
            if let Some((taken, rest)) = identity_made_one(&inner, &poly_combo(n)) {
                inner = rest;
                scale = Some(taken);
            }
            let others: Combo = inner
                .iter()
                .filter(|(p, _)| !matches!(p.matrices.as_slice(), [f] if is_identity(f)))
                .map(|(p, c)| (p.clone(), c.clone()))
                .collect();
            if let Some(best) = self.rotated(&others, n) {
                inner.retain(|p, _| !others.contains_key(p));
                for (p, c) in best {
                    add_product(&mut inner, p, &c)?;
                }
            }
        }
        if let Some(scale) = scale {
            let text = format!("Det{{{}}}", key(&inner));
            mean(&text, Meaning::Det(inner, None));
            return multiply(&scale, &single(Product::atom(text, true), Rational::one()));
        }
        // The factors every term shares taken out, `det(c * M) = c^n *
        // det(M)`; the determinant as read back is then of what is left.
        if let Some((taken, rest)) = square.and_then(|n| taken_out(&inner, &poly_combo(&n))) {
            let text = format!("Det{{{}}}", key(&rest));
            mean(&text, Meaning::Det(rest, None));
            return multiply(&taken, &single(Product::atom(text, true), Rational::one()));
        }
        let text = format!("Det{{{}}}", key(&inner));
        mean(&text, Meaning::Det(inner, Some(id)));
        Some(single(Product::atom(text, true), Rational::one()))
    }

    /// The terms of a square matrix `M` of size `n` other than multiples
    /// of `I(n)`, in the first of the forms that give `det(a * I(n) + M)`
    /// one value, where there are others: a factor `S` (square, of size
    /// `n`) that ends every term, `M = A * S`, moved to the front (`AS`
    /// and `SA` have one characteristic polynomial, so `det(a I + AS) =
    /// det(a I + SA)`; Sylvester's identity for `a = 1`), one that starts
    /// every term moved to the end, and the transpose (`det(X) =
    /// det(X^T)`), as often as they apply. One chain of factors (`c * A *
    /// B`, its coefficient `c` a scalar sum) is rotated in every way; a sum
    /// of chains with a common end too (`a * diag(1 - d) * W` is `a * W -
    /// a * diag(d) * W`, and `a * W * diag(1 - d)` is one of its forms).
    fn rotated(&self, terms: &Combo, n: &Poly) -> Option<Combo> {
        /// The most forms visited for one determinant.
        const MAX_FORMS: usize = 32;
        if terms.is_empty() || terms.keys().all(|p| p.matrices.len() < 2) {
            return None;
        }
        let mut seen: BTreeMap<String, Combo> = BTreeMap::new();
        let mut todo = vec![terms.clone()];
        if let Some(t) = transpose(terms) {
            todo.push(t);
        }
        while let Some(form) = todo.pop() {
            if seen.len() >= MAX_FORMS {
                break;
            }
            let k = key(&form);
            if seen.contains_key(&k) {
                continue;
            }
            for next in self.rotations(&form, n) {
                todo.push(next);
            }
            seen.insert(k, form);
        }
        let (first, best) = seen.into_iter().next()?;
        (first != key(terms)).then_some(best)
    }

    /// The forms of [`Self::rotated`] one move away from `terms`: a
    /// common end of every chain of factors moved to the other end.
    fn rotations(&self, terms: &Combo, n: &Poly) -> Vec<Combo> {
        let chains: Vec<&Vec<Factor>> = terms.keys().map(|p| &p.matrices).collect();
        let shortest = chains.iter().map(|c| c.len()).min().unwrap_or(0);
        let shared = |at: &dyn Fn(&Vec<Factor>, usize) -> Factor| {
            (0..shortest)
                .take_while(|&k| chains.iter().all(|c| at(c, k) == at(chains[0], k)))
                .count()
        };
        let suffix = shared(&|c, k| c[c.len() - 1 - k].clone());
        let prefix = shared(&|c, k| c[k].clone());
        let mut out = Vec::new();
        let moves = (1..=suffix)
            .map(|j| (j, true))
            .chain((1..=prefix).map(|j| (j, false)));
        for (j, from_end) in moves {
            let moved = |c: &Vec<Factor>| -> (Vec<Factor>, Vec<Factor>) {
                if from_end {
                    let (rest, end) = c.split_at(c.len() - j);
                    (end.to_vec(), rest.to_vec())
                } else {
                    let (start, rest) = c.split_at(j);
                    (start.to_vec(), rest.to_vec())
                }
            };
            let (piece, _) = moved(chains[0]);
            if !piece.iter().all(|f| self.square_factor(f, n)) {
                continue;
            }
            let mut form = Combo::new();
            let ok = terms.iter().try_for_each(|(p, c)| {
                let (piece, rest) = moved(&p.matrices);
                let matrices = if from_end {
                    [piece, rest].concat()
                } else {
                    [rest, piece].concat()
                };
                let scalars = Product {
                    scalars: p.scalars.clone(),
                    matrices: Vec::new(),
                };
                let (q, k) = scalars.times(&Product {
                    scalars: BTreeMap::new(),
                    matrices,
                })?;
                add_product(&mut form, q, &c.mul(&k)?)
            });
            if ok.is_some() {
                out.push(form);
            }
        }
        out
    }

    /// `prod(x)` (`id` the node), an atom of `x`'s normal form with the
    /// factors every entry shares taken out, `prod(c * v) = c^n * prod(v)`
    /// for `n` entries: the scalar factors common to every term and the
    /// first coefficient, sign included (`(-1)^D * prod(g - c)` is
    /// `prod(c - g)`).
    fn entries_product(&mut self, id: Id, x: Id) -> Option<Combo> {
        let Some(shape) = self.shape(x).filter(|s| !s.is_scalar()).cloned() else {
            return self.atom(id);
        };
        let inner = self.combo(x)?;
        let count = poly_combo(&shape.rows.mul(&shape.cols)?);
        let Some((taken, rest)) = taken_out(&inner, &count) else {
            return self.atom(id);
        };
        let text = format!("{}{{{}}}", discriminant(&self.expr[id]), key(&rest));
        if text.len() > MAX_ATOM_TEXT {
            return None;
        }
        mean(&text, Meaning::Prod(rest));
        mean(&shape_text(&text), Meaning::Shape(Shape::scalar()));
        multiply(&taken, &single(Product::atom(text, true), Rational::one()))
    }

    /// Whether a factor of a normal form is a square matrix of size `n`.
    fn square_factor(&self, f: &Factor, n: &Poly) -> bool {
        let square = |s: &Shape| s.is_square() && &s.rows == n;
        match f {
            Factor::Ones(r, c) => r == n && c == n,
            Factor::T(inner) => self.square_factor(inner, n),
            Factor::Atom(t) | Factor::Sym(t) => match meaning(t) {
                Some(Meaning::Diag(_, rows)) => &rows == n,
                Some(Meaning::Node(id)) => self.shape(id).is_some_and(square),
                _ => false,
            },
            Factor::Had(_) => false,
        }
    }

    /// `x ^ e` (`id` the node, for an atom where it cannot be merged):
    /// a power of a scalar, or an elementwise power.
    fn raised(&mut self, id: Id, x: Id, e: Id) -> Option<Combo> {
        let exponent = self.scalar_part(e, true)?;
        self.power_of(id, x, &exponent)
    }

    fn power_of(&mut self, id: Id, x: Id, e: &Combo) -> Option<Combo> {
        let Some(shape) = self.shape(x).cloned() else {
            return self.atom(id);
        };
        // `x^0` is the all-ones value of `x`'s shape (`1` for a scalar).
        if e.is_empty() {
            let p = Product {
                scalars: BTreeMap::new(),
                matrices: if shape.is_scalar() {
                    Vec::new()
                } else {
                    vec![Factor::Ones(shape.rows.clone(), shape.cols.clone())]
                },
            };
            return Some(single(p, Rational::one()));
        }
        // A negative whole power goes into the powers and elementwise
        // products it raises, before they are multiplied out: `a ./
        // (s^2 .* w)` is `a .* s^(-2) .* w^(-1)` for a sum `s`, as
        // `a .* s^(-2) ./ w` is.
        if let Some(k) = as_constant(e).filter(|k| k.is_integer() && k.is_negative()) {
            if let Some(p) = self.pushed_power(x, &k) {
                return Some(p);
            }
        }
        let base = self.scalar_part(x, shape.is_scalar())?;
        let elementwise = (!shape.is_scalar()).then_some(&shape);
        match power(&base, e, elementwise) {
            Some(p) => Some(p),
            None => self.atom(id),
        }
    }

    /// `x` raised to the whole power `k`, taken into `x` where it is a
    /// power (`(s^2)^(-1) = s^(-2)`), a square root or an elementwise
    /// product (`(u .* w)^k = u^k .* w^k`), each an identity for a whole
    /// `k`; `None` where `x` is none of these.
    fn pushed_power(&mut self, x: Id, k: &Rational) -> Option<Combo> {
        let shape = self.shape(x)?.clone();
        // `y^exponent`, taken into `y` where the exponent is whole and `y`
        // is one of these, else with `y` whole.
        let raise = |this: &mut Self, y: Id, exponent: Rational| -> Option<Combo> {
            if exponent.is_integer() {
                if let Some(p) = this.pushed_power(y, &exponent) {
                    return Some(p);
                }
            }
            let y_shape = this.shape(y)?.clone();
            let base = this.scalar_part(y, y_shape.is_scalar())?;
            let elementwise = (!y_shape.is_scalar()).then_some(&y_shape);
            power(&base, &constant(exponent), elementwise)
        };
        match self.expr[x].clone() {
            Node::Pow([y, f]) => match &self.expr[f] {
                Node::Num(a) => raise(self, y, a.mul(k)?),
                _ => None,
            },
            Node::Act(f, [y]) if f.act == super::Act::Sqrt && !f.prime => {
                raise(self, y, Rational::frac(1, 2).mul(k)?)
            }
            Node::Had([a, b])
                if !shape.is_scalar()
                    && self.shape(a) == Some(&shape)
                    && self.shape(b) == Some(&shape) =>
            {
                let pa = raise(self, a, k.clone())?;
                let pb = raise(self, b, k.clone())?;
                hadamard(&pa, &pb, Some(&shape))
            }
            _ => None,
        }
    }

    /// The normal form of the column `a^T`, for a row `a`: a product of a
    /// row and matrices is turned into matrices applied to a column, so
    /// that `(u^T * diag(g))^T` is `g .* u`.
    fn column(&mut self, a: Id) -> Option<Combo> {
        let node = self.expr[a].clone();
        match node {
            Node::Trans(x) if self.vector(x) => self.combo(x),
            Node::Mul([p, m]) => match (self.scalar(p), self.scalar(m)) {
                (Some(true), Some(false)) => {
                    let c = self.scalar_part(p, true)?;
                    multiply(&c, &self.column(m)?)
                }
                (Some(false), Some(true)) => {
                    let c = self.scalar_part(m, true)?;
                    multiply(&c, &self.column(p)?)
                }
                (Some(false), Some(false)) if self.row(p) => {
                    let u = self.column(p)?;
                    self.apply_transposed(m, &u)
                }
                _ => transpose(&self.combo(a)?),
            },
            Node::Add([x, y]) | Node::Sub([x, y]) if self.row(x) && self.row(y) => {
                let u = self.column(x)?;
                let w = self.column(y)?;
                signed_sum(u, &w, &node)
            }
            Node::Neg(x) => {
                let u = self.column(x)?;
                scaled(&u, &Rational::one().neg())
            }
            _ => transpose(&self.combo(a)?),
        }
    }

    /// The sum over the index `i` of each term of `x`, its coefficient
    /// taken out (`id` is the node, for an atom where the index is not a
    /// leaf).
    fn summed(&mut self, i: Id, x: &Combo, scalar: bool, id: Id) -> Option<Combo> {
        let n = match &self.expr[i] {
            Node::Leaf(Leaf::Index(n)) => *n,
            _ => return self.atom(id),
        };
        let shape = self.shape(id).cloned();
        let mut out = Combo::new();
        for (p, c) in x {
            let term = self.sum_term(n, p, scalar, shape.as_ref())?;
            add_into(&mut out, &term, c)?;
        }
        Some(out)
    }

    /// The sum over index `n` of the product `p` (a scalar where `scalar`,
    /// else of `shape` where that is known).
    fn sum_term(&self, n: u32, p: &Product, scalar: bool, shape: Option<&Shape>) -> Option<Combo> {
        // A reference at a fixed step (`h[T]`) does not depend on the
        // index, nor does one bound by an inner sum over it (renamed by
        // `bound`).
        let depends_text = |text: &str| depends_on(text, n);
        let depends = |f: &Factor| depends_text(&f.text());
        // Factors that do not depend on the index come out of the sum:
        // scalars anywhere, matrices before the first factor that depends
        // on it and after the last.
        let first = p.matrices.iter().position(depends);
        let last = p.matrices.iter().rposition(depends);
        let (inner_scalars, outer_scalars): (BTreeMap<_, _>, BTreeMap<_, _>) = p
            .scalars
            .clone()
            .into_iter()
            .partition(|(b, e)| depends_text(b) || depends_text(&key(e)));
        let (prefix, middle, suffix) = match (first, last) {
            (Some(f), Some(l)) => (&p.matrices[..f], &p.matrices[f..=l], &p.matrices[l + 1..]),
            _ => (&p.matrices[..0], &p.matrices[..0], &p.matrices[..]),
        };
        // `sum(n, a .* b[n]) = a .* sum(n, b[n])`: the elementwise factors
        // free of the index come out of the sum, and the rest is summed as
        // a term of its own.
        // Between matrices free of the index, the elementwise product's
        // shape is not known here, nor needed unless every factor cancels.
        let whole = (prefix.is_empty() && suffix.is_empty())
            .then_some(shape)
            .flatten();
        if let [Factor::Had(groups)] = middle {
            let (free, dependent): (BTreeMap<_, _>, BTreeMap<_, _>) = groups
                .clone()
                .into_iter()
                .partition(|(g, e)| !g.iter().any(depends) && !depends_text(&key(e)));
            if !free.is_empty() {
                let inner = Product {
                    scalars: inner_scalars,
                    matrices: had_chain(dependent),
                };
                let summed = self.sum_term(n, &inner, false, whole)?;
                let outside = single(
                    Product {
                        scalars: BTreeMap::new(),
                        matrices: had_chain(free),
                    },
                    Rational::one(),
                );
                let middle = hadamard(&outside, &summed, whole)?;
                return Self::between(outer_scalars, prefix, &middle, suffix);
            }
        }
        // `sum(n, s[n] * M) = sum(n, s[n]) * M` for scalar factors `s[n]`
        // and matrices `M` free of the index.
        if middle.is_empty() && !inner_scalars.is_empty() && !p.matrices.is_empty() {
            let scalars = Product {
                scalars: p.scalars.clone(),
                matrices: Vec::new(),
            };
            let matrices = Product {
                scalars: BTreeMap::new(),
                matrices: p.matrices.clone(),
            };
            let summed = self.sum_term(n, &scalars, true, None)?;
            return multiply(&summed, &single(matrices, Rational::one()));
        }
        // `sum(n, (u^T * h[n]) * s[n]) = u^T * sum(n, h[n] * s[n])`: in a
        // scalar term, the parts of a matrix product made a scalar factor
        // that do not depend on the index come out of the sum, the other
        // factors that depend on it going into the middle of the product.
        if p.matrices.is_empty() {
            for (b, e) in &inner_scalars {
                let Some(chain) = product_of(b) else {
                    continue;
                };
                let unit = as_constant(e).is_some_and(|r| r.is_one());
                let first = chain.iter().position(depends);
                let last = chain.iter().rposition(depends);
                let (Some(f), Some(l), true) = (first, last, unit) else {
                    continue;
                };
                if f == 0 && l + 1 == chain.len() {
                    continue;
                }
                let mut rest = inner_scalars.clone();
                rest.remove(b);
                let inner = Product {
                    scalars: rest,
                    matrices: chain[f..=l].to_vec(),
                };
                let summed = self.sum_term(n, &inner, false, None)?;
                let row = single(
                    Product {
                        scalars: outer_scalars,
                        matrices: chain[..f].to_vec(),
                    },
                    Rational::one(),
                );
                let column = single(
                    Product {
                        scalars: BTreeMap::new(),
                        matrices: chain[l + 1..].to_vec(),
                    },
                    Rational::one(),
                );
                return as_scalar(&multiply(&multiply(&row, &summed)?, &column)?);
            }
        }
        if middle.is_empty() && inner_scalars.is_empty() {
            // Nothing depends on the index: as many times the term as the
            // index has values, where that number is known, else the sum
            // as a whole.
            if let Some(count) = self.leaves.index_count(n) {
                return multiply(&poly_combo(&count), &single(p.clone(), Rational::one()));
            }
            let inner = single(p.clone(), Rational::one());
            return Some(single(
                Product::atom(bound(n, &inner), scalar),
                Rational::one(),
            ));
        }
        // Sums over two indices commute (their ranges are fixed): the sum
        // over the index declared first is outside.
        if let Some(swapped) = self.interchanged(n, &inner_scalars, middle, scalar, whole) {
            return Self::between(outer_scalars, prefix, &swapped?, suffix);
        }
        let inner = Product {
            scalars: inner_scalars,
            matrices: middle.to_vec(),
        };
        // The sum of the transposes is the transpose of the sum: the
        // smaller text of the two stands for both.
        let flipped = inner.transposed();
        let flip = flipped.key() < inner.key();
        let inner = if flip { flipped } else { inner };
        let text = bound(n, &single(inner, Rational::one()));
        let mut scalars = outer_scalars;
        let mut matrices = prefix.to_vec();
        if middle.is_empty() {
            raise(&mut scalars, &text, &one())?;
        } else if flip {
            matrices.push(Factor::Atom(text).transposed());
        } else {
            matrices.push(Factor::Atom(text));
        }
        matrices.extend_from_slice(suffix);
        Some(single(Product { scalars, matrices }, Rational::one()))
    }

    /// `scalars * prefix * middle * suffix`.
    fn between(
        scalars: BTreeMap<String, Combo>,
        prefix: &[Factor],
        middle: &Combo,
        suffix: &[Factor],
    ) -> Option<Combo> {
        let front = single(
            Product {
                scalars,
                matrices: prefix.to_vec(),
            },
            Rational::one(),
        );
        let back = single(
            Product {
                scalars: BTreeMap::new(),
                matrices: suffix.to_vec(),
            },
            Rational::one(),
        );
        multiply(&multiply(&front, middle)?, &back)
    }

    /// `sum(n, sum(m, body))` as `sum(m, sum(n, body))`, where the part of
    /// a term that depends on `n` (its scalar factors `scalars` and matrix
    /// factors `middle`) is one sum over an index `m` declared before `n`.
    /// `None` where it is not; `Some(None)` where exact bounds are left.
    fn interchanged(
        &self,
        n: u32,
        scalars: &BTreeMap<String, Combo>,
        middle: &[Factor],
        scalar: bool,
        shape: Option<&Shape>,
    ) -> Option<Option<Combo>> {
        // A sum standing transposed (see `sum_term`) is summed as itself
        // and transposed after.
        let (text, flip) = match (scalars.iter().collect::<Vec<_>>().as_slice(), middle) {
            ([], [Factor::Atom(t)]) => (t, false),
            ([], [Factor::T(f)]) => match &**f {
                Factor::Atom(t) => (t, true),
                _ => return None,
            },
            ([(t, e)], []) if as_constant(e).is_some_and(|r| r.is_one()) => (*t, false),
            _ => return None,
        };
        let Some(Meaning::Sum(m, body)) = meaning(text) else {
            return None;
        };
        if m >= n {
            return None;
        }
        let scalar = scalar || middle.is_empty();
        let flipped = shape.map(|s| Shape::matrix(s.cols.clone(), s.rows.clone()));
        let shape = match (scalar, flip) {
            (true, _) => None,
            (false, false) => shape,
            (false, true) => flipped.as_ref(),
        };
        let swap = || {
            let mut inner = Combo::new();
            for (q, c) in &body {
                add_into(&mut inner, &self.sum_term(n, q, scalar, shape)?, c)?;
            }
            let mut out = Combo::new();
            for (q, c) in &inner {
                add_into(&mut out, &self.sum_term(m, q, scalar, shape)?, c)?;
            }
            if flip {
                transpose(&out)
            } else {
                Some(out)
            }
        };
        Some(swap())
    }

    /// The normal form of the matrix `m` times the column vector whose
    /// normal form is `u`, distributed over the sums, negations and
    /// products `m` is made of, so that every `diag(v)` meets the vector
    /// it is applied to and becomes `v .* (...)`.
    fn apply(&mut self, m: Id, u: &Combo) -> Option<Combo> {
        self.apply_as(m, u, false)
    }

    /// The normal form of `m^T * u` for the column vector `u`, distributed
    /// as [`Normal::apply`] does.
    fn apply_transposed(&mut self, m: Id, u: &Combo) -> Option<Combo> {
        self.apply_as(m, u, true)
    }

    /// `m * u`, or `m^T * u` where `t`.
    fn apply_as(&mut self, m: Id, u: &Combo, t: bool) -> Option<Combo> {
        // A row applied to a vector (a column transposed) is an inner
        // product.
        if !t && self.row(m) {
            let w = self.column(m)?;
            let n = self.shape(m)?.cols.clone();
            return inner(&w, u, &n);
        }
        if t && self.vector(m) {
            let w = self.combo(m)?;
            let n = self.shape(m)?.rows.clone();
            return inner(&w, u, &n);
        }
        let node = self.expr[m].clone();
        let same = |this: &Self, a: Id, b: Id| {
            this.shapes[usize::from(a)].is_some()
                && this.shapes[usize::from(a)] == this.shapes[usize::from(b)]
        };
        match node {
            Node::Diag(v) if self.vector(v) => {
                let shape = self.shape(v)?.clone();
                hadamard(&self.combo(v)?, u, Some(&shape))
            }
            Node::Eye(_) => Some(u.clone()),
            Node::Trans(x) if self.shape(x).is_some() => self.apply_as(x, u, !t),
            // A sum of two matrices of one shape (a scalar in a sum with a
            // matrix stands for every entry, not for a multiple of `I`).
            Node::Add([a, b]) | Node::Sub([a, b]) if same(self, a, b) => {
                let x = self.apply_as(a, u, t)?;
                let y = self.apply_as(b, u, t)?;
                signed_sum(x, &y, &node)
            }
            Node::Neg(a) => {
                let x = self.apply_as(a, u, t)?;
                scaled(&x, &Rational::one().neg())
            }
            // A matrix divided by a scalar: `(u * u^T / s) * x` is `u *
            // (u^T * x) / s`.
            Node::Div([a, d]) if self.scalar(a) == Some(false) && self.scalar(d) == Some(true) => {
                let x = self.apply_as(a, u, t)?;
                let inverse = match &self.expr[d] {
                    Node::Num(r) if !r.is_zero() => constant(Rational::one().div(r)?),
                    Node::Num(_) => return self.applied_whole(m, u, t),
                    _ => {
                        let y = self.scalar_part(d, true)?;
                        match power(&y, &constant(Rational::int(-1)), None) {
                            Some(i) => i,
                            None => return self.applied_whole(m, u, t),
                        }
                    }
                };
                multiply(&inverse, &x)
            }
            Node::Mul([a, b]) => match (self.scalar(a), self.scalar(b)) {
                (Some(true), Some(false)) => {
                    let c = self.scalar_part(a, true)?;
                    multiply(&c, &self.apply_as(b, u, t)?)
                }
                (Some(false), Some(true)) => {
                    let c = self.scalar_part(b, true)?;
                    multiply(&c, &self.apply_as(a, u, t)?)
                }
                // `(A * B) * u` is `A * (B * u)`, and `(A * B)^T * u` is
                // `B^T * (A^T * u)`.
                (Some(false), Some(false))
                    if self.shape(a).is_some() && self.shape(b).is_some() =>
                {
                    let (first, then) = if t { (a, b) } else { (b, a) };
                    let inner = self.apply_as(first, u, t)?;
                    self.apply_as(then, &inner, t)
                }
                _ => self.applied_whole(m, u, t),
            },
            _ => self.applied_whole(m, u, t),
        }
    }

    /// `m * u` (`m^T * u` where `t`) with `m` taken whole.
    fn applied_whole(&mut self, m: Id, u: &Combo, t: bool) -> Option<Combo> {
        let x = self.combo(m)?;
        let x = if t { transpose(&x)? } else { x };
        multiply(&x, u)
    }

    /// `id`'s normal form where it is a factor of a product: a scalar
    /// factor that is itself a product of matrices (`x^T * y`) commutes,
    /// so it becomes one scalar atom per term.
    fn scalar_part(&mut self, id: Id, scalar: bool) -> Option<Combo> {
        let x = self.combo(id)?;
        if !scalar {
            return Some(x);
        }
        as_scalar(&x)
    }
}

/// What the text of an opaque factor stands for, so that a normal form
/// can be read back into an expression (and a sum over an index can take
/// the parts of an inner product that do not depend on it out of it).
#[derive(Debug, Clone)]
enum Meaning {
    /// A node of the expression, taken whole.
    Node(Id),
    /// A product of matrices that is a scalar (`w^T * u`).
    Chain(Vec<Factor>),
    /// The sum over an index of a normal form.
    Sum(u32, Combo),
    /// `diag` of a normal form, a column of the given rows.
    Diag(Combo, Poly),
    /// A sum taken as one base of a power.
    Base(Combo),
    /// A determinant of a normal form (the node, where that cannot be
    /// read back and has that determinant's value).
    Det(Combo, Option<Id>),
    /// The product of the entries of a normal form.
    Prod(Combo),
    /// A dim.
    Dim(u32),
    /// The identity matrix of a size that is a dim or a whole number.
    Eye(Poly),
    /// A number (raised to a power that is not an integer).
    Number(Rational),
    /// Under [`entries_text`] of a scalar factor's text: the scalar is the
    /// sum of the entries of this matrix part, a column of the given rows
    /// (`1^T * u`, or `y^T * z` for `u = y .* z`).
    Entries(Poly, Vec<Factor>),
    /// Under [`shape_text`] of an atom's text: its shape.
    Shape(Shape),
}

thread_local! {
    /// The meanings of the texts made while a normal form is built. A
    /// text is a function of what it stands for, so the table never holds
    /// two meanings for one text; it is emptied at the start of each
    /// normal form.
    static MEANINGS: std::cell::RefCell<BTreeMap<String, Meaning>> =
        const { std::cell::RefCell::new(BTreeMap::new()) };
}

/// Notes what `text` stands for.
fn mean(text: &str, m: Meaning) {
    MEANINGS.with(|known| {
        known.borrow_mut().entry(text.to_owned()).or_insert(m);
    });
}

/// What `text` stands for, if it was noted.
fn meaning(text: &str) -> Option<Meaning> {
    MEANINGS.with(|known| known.borrow().get(text).cloned())
}

/// The matrix product a scalar factor's text stands for, if it is one.
fn product_of(text: &str) -> Option<Vec<Factor>> {
    match meaning(text)? {
        Meaning::Chain(c) => Some(c),
        _ => None,
    }
}

/// A normal form whose value is a scalar, with each product's matrix part
/// (a `1 x 1` product such as `w^T * u`) made one scalar factor.
fn as_scalar(x: &Combo) -> Option<Combo> {
    let mut out = Combo::new();
    for (p, c) in x {
        if p.matrices.is_empty() {
            add_product(&mut out, p.clone(), c)?;
            continue;
        }
        // A scalar is its own transpose (`y^T * z = z^T * y`): the smaller
        // of the two texts of the matrix part stands for both; the scalar
        // factors stay outside it, so that `(c * w^T) * u` and
        // `c * (w^T * u)` meet.
        let inner = Product::atom(chain_text(&p.matrices), true);
        let outer = Product {
            scalars: p.scalars.clone(),
            matrices: Vec::new(),
        };
        let (q, k) = outer.times(&inner)?;
        add_product(&mut out, q, &c.mul(&k)?)?;
    }
    Some(out)
}

/// The text of the scalar factor a `1 x 1` matrix product stands for, its
/// meaning noted. A scalar is its own transpose (`y^T * z = z^T * y`): the
/// smaller of the two texts stands for both.
fn chain_text(matrices: &[Factor]) -> String {
    let m = Product {
        scalars: BTreeMap::new(),
        matrices: matrices.to_vec(),
    };
    let t = m.transposed();
    let (text, chain) = if m.key() <= t.key() {
        (m.key(), m.matrices)
    } else {
        (t.key(), t.matrices)
    };
    mean(&text, Meaning::Chain(chain));
    text
}

/// The text under which the shape of an atom is noted (see
/// [`Meaning::Shape`]).
fn shape_text(text: &str) -> String {
    format!("Shape{{{text}}}")
}

/// The text under which the column a scalar factor sums the entries of
/// is noted (see [`Meaning::Entries`]).
fn entries_text(text: &str) -> String {
    format!("Entries{{{text}}}")
}

/// The text under which a sum of the expression whose normal form has the
/// text `text` is noted, as written there.
fn written_text(text: &str) -> String {
    format!("Written{{{text}}}")
}

/// The sum of the entries of a column of `n` entries: `1^T * u`, and for
/// an elementwise product of two columns (or a square) the inner product
/// they make (`sum(u .* w) = u^T * w`).
fn sum_entries(u: &Combo, n: &Poly) -> Option<Combo> {
    let mut out = Combo::new();
    for (p, c) in u {
        let pair: Option<(Vec<Factor>, Vec<Factor>)> = match p.matrices.as_slice() {
            [Factor::Had(groups)] => {
                let entries: Vec<_> = groups.iter().collect();
                let unit = |e: &Combo| as_constant(e).is_some_and(|r| r.is_one());
                match entries.as_slice() {
                    [(a, x), (b, y)] if unit(x) && unit(y) => Some(((*a).clone(), (*b).clone())),
                    [(a, x)] if as_constant(x) == Some(Rational::int(2)) => {
                        Some(((*a).clone(), (*a).clone()))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let (left, right) = match pair {
            Some((a, b)) => (transposed_chain(&a), b),
            None => (
                vec![Factor::Ones(Poly::int(1), n.clone())],
                p.matrices.clone(),
            ),
        };
        let row = Product {
            scalars: p.scalars.clone(),
            matrices: left,
        };
        let column = Product {
            scalars: BTreeMap::new(),
            matrices: right,
        };
        let whole = [row.matrices.as_slice(), column.matrices.as_slice()].concat();
        let (q, k) = row.times(&column)?;
        // Where the product is the two parts as they are, its text is the
        // sum of the entries of this term's column.
        if q.matrices == whole {
            let text = chain_text(&q.matrices);
            mean(
                &entries_text(&text),
                Meaning::Entries(n.clone(), p.matrices.clone()),
            );
        }
        let term = as_scalar(&single(q, c.mul(&k)?))?;
        add_into(&mut out, &term, &Rational::one())?;
    }
    Some(out)
}

/// The inner product of two columns of `n` entries.
fn inner(u: &Combo, w: &Combo, n: &Poly) -> Option<Combo> {
    let shape = Shape::matrix(n.clone(), Poly::int(1));
    sum_entries(&hadamard(u, w, Some(&shape))?, n)
}

/// `x ^ e`, of a scalar or elementwise (`shape` the base's shape), where
/// the rules of the module documentation allow it; `None` otherwise (the
/// caller keeps the power as an atom).
fn power(x: &Combo, e: &Combo, shape: Option<&Shape>) -> Option<Combo> {
    if e.is_empty() || x.is_empty() {
        return None;
    }
    if as_constant(e).is_some_and(|r| r.is_one()) {
        return Some(x.clone());
    }
    if x.len() == 1 {
        let (p, c) = x.iter().next()?;
        return power_product(p, c, e, shape).map(|(q, k)| single(q, k));
    }
    // A small positive integer power of a sum is multiplied out, as a
    // product of sums is.
    if let Some(k) = as_constant(e).and_then(|r| r.to_i64()) {
        if (2..=4).contains(&k) && x.len() <= 8 {
            let mut out = x.clone();
            for _ in 1..k {
                out = match shape {
                    Some(s) => hadamard(&out, x, Some(s))?,
                    None => multiply(&out, x)?,
                };
            }
            return Some(out);
        }
    }
    // Otherwise the sum is one base: its common scalar factors and its
    // first coefficient taken out, so that equal sums written with
    // different factors meet.
    let (content, mut lead, mut primitive) = primitive(x)?;
    // To a whole power (in the dims), a sign comes out too, so that a sum
    // and its negation meet: the constant term's where there is one
    // (`(x - 1)^D = (-1)^D * (1 - x)^D`), else the first term's.
    let constant_term = |p: &Product| {
        p.scalars.is_empty() && p.matrices.iter().all(|f| matches!(f, Factor::Ones(..)))
    };
    let sign = primitive
        .iter()
        .find(|(p, _)| constant_term(p))
        .or_else(|| primitive.iter().next())
        .map(|(_, c)| c);
    if integer(e) && sign.is_some_and(|c| c.is_negative()) {
        primitive = scaled(&primitive, &Rational::one().neg())?;
        lead = lead.neg();
    }
    let (q, k) = power_product(&content, &lead, e, shape)?;
    let text = key(&primitive);
    mean(&text, Meaning::Base(primitive));
    let base = match shape {
        None => {
            let mut scalars = BTreeMap::new();
            scalars.insert(text, e.clone());
            Product {
                scalars,
                matrices: Vec::new(),
            }
        }
        Some(_) => {
            let mut groups = BTreeMap::new();
            groups.insert(vec![Factor::Atom(text)], e.clone());
            Product {
                scalars: BTreeMap::new(),
                matrices: vec![Factor::Had(groups)],
            }
        }
    };
    let (r, m) = q.times(&base)?;
    Some(single(r, k.mul(&m)?))
}

/// A square matrix of size `n` (`count`) with exactly one multiple of the
/// identity among its terms, `a * I(n) + M` (`a` one product of scalars and
/// a number), as `a^n` and `I(n) + M / a`, whose determinants multiply to
/// its own: `det(c * I - a * H)` and `c^n * det(I - a / c * H)` are then
/// one form. `a = 1` gives `1` and the matrix itself.
fn identity_made_one(x: &Combo, count: &Combo) -> Option<(Combo, Combo)> {
    let mut ids = x
        .iter()
        .filter(|(p, _)| matches!(p.matrices.as_slice(), [f] if is_identity(f)));
    let (p0, c0) = ids.next()?;
    if ids.next().is_some() {
        return None;
    }
    if p0.scalars.is_empty() && c0.is_one() {
        return Some((one(), x.clone()));
    }
    let mut inverse = Product::unit();
    for (b, e) in &p0.scalars {
        inverse
            .scalars
            .insert(b.clone(), scaled(e, &Rational::int(-1))?);
    }
    let mut rest = Combo::new();
    for (p, c) in x {
        let (q, k) = p.times(&inverse)?;
        add_product(&mut rest, q, &c.mul(&k)?.div(c0)?)?;
    }
    let a = Product {
        scalars: p0.scalars.clone(),
        matrices: Vec::new(),
    };
    Some((signed_power(a, c0, count)?, rest))
}

/// What every entry of a value shares, to the power `count` (its number
/// of entries, or the size of a square matrix): `x` as `c * rest` with
/// `c` the scalar factors every term has to the least constant exponent
/// (negative ones too) times the first term's coefficient, sign included,
/// as `c^count` and `rest`; `None` where `c` is one or its power cannot
/// be taken. `prod(c * v) = c^n * prod(v)` and `det(c * M) = c^n *
/// det(M)`, wherever `c * v` (`c * M`) is defined.
fn taken_out(x: &Combo, count: &Combo) -> Option<(Combo, Combo)> {
    let negative = x.values().next()?.is_negative();
    let (content, lead, rest) = content_of(x, true)?;
    if content.scalars.is_empty() && lead.is_one() && !negative {
        return None;
    }
    if negative {
        let taken = signed_power(content, &lead.neg(), count)?;
        return Some((taken, scaled(&rest, &Rational::one().neg())?));
    }
    Some((power(&single(content, lead), count, None)?, rest))
}

/// `(c * p)^count` for a product of scalars `p`, with the sign of `c` taken
/// out as `(-1)^count`, so that the power's base is positive.
fn signed_power(p: Product, c: &Rational, count: &Combo) -> Option<Combo> {
    let taken = power(&single(p, c.abs()), count, None)?;
    if !c.is_negative() {
        return Some(taken);
    }
    multiply(&taken, &power(&constant(Rational::int(-1)), count, None)?)
}

/// A sum as its content (the scalar factors every term has, to the least
/// constant positive exponent), the size of its first term's coefficient,
/// and the rest.
fn primitive(x: &Combo) -> Option<(Product, Rational, Combo)> {
    content_of(x, false)
}

/// [`primitive`], with negative exponents of the content too where
/// `negative` is set.
fn content_of(x: &Combo, negative: bool) -> Option<(Product, Rational, Combo)> {
    let mut common: Option<BTreeMap<String, Rational>> = None;
    for p in x.keys() {
        let here: BTreeMap<String, Rational> = p
            .scalars
            .iter()
            .filter_map(|(b, e)| {
                as_constant(e)
                    .filter(|r| negative || !r.is_negative())
                    .map(|r| (b.clone(), r))
            })
            .collect();
        common = Some(match common {
            None => here,
            Some(c) => c
                .into_iter()
                .filter_map(|(b, r)| here.get(&b).map(|s| (b, r.min(s.clone()))))
                .collect(),
        });
    }
    let common = common.unwrap_or_default();
    // The first coefficient's size, so that the factor taken out is
    // positive (a fractional power of it is then defined).
    let lead = x.values().next()?.abs();
    let mut content = Product::unit();
    for (b, r) in &common {
        content.scalars.insert(b.clone(), constant(r.clone()));
    }
    let mut inverse = Product::unit();
    for (b, r) in &common {
        inverse.scalars.insert(b.clone(), constant(r.neg()));
    }
    let mut rest = Combo::new();
    for (p, c) in x {
        let (q, k) = p.times(&inverse)?;
        add_product(&mut rest, q, &c.mul(&k)?.div(&lead)?)?;
    }
    Some((content, lead, rest))
}

/// `(c * p) ^ e` for one product, as a product and its coefficient.
fn power_product(
    p: &Product,
    c: &Rational,
    e: &Combo,
    shape: Option<&Shape>,
) -> Option<(Product, Rational)> {
    let int = integer(e);
    let mut out = Product::unit();
    // The coefficient.
    let k = match as_constant(e) {
        Some(r) if r.is_integer() => c.pow(&r)?,
        _ if c.is_one() => Rational::one(),
        // `(-1)^e` for an integer `e` (in dims) is a sign factor, and
        // `(-c)^e` that sign factor times `c^e`.
        _ if int && c.is_negative() => {
            let text = sign_text();
            if let Some(r) = sign_exponent(e) {
                raise(&mut out.scalars, &text, &r)?;
            }
            number_power(&mut out, &c.abs(), e)?;
            Rational::one()
        }
        _ if !c.is_negative() && (!int || !c.is_zero()) => {
            number_power(&mut out, c, e)?;
            Rational::one()
        }
        _ => return None,
    };
    // The factors: each raised, where that holds for every real value.
    let groups: Vec<(Vec<Factor>, Combo)> = match (shape, p.matrices.as_slice()) {
        (_, []) => Vec::new(),
        (Some(_), [Factor::Had(g)]) => g.iter().map(|(a, b)| (a.clone(), b.clone())).collect(),
        (Some(_), many) => vec![(many.to_vec(), one())],
        (None, _) => return None,
    };
    let factors = p.scalars.len() + groups.len() + usize::from(!c.is_one());
    if factors > 1
        && !int
        && !p
            .scalars
            .values()
            .chain(groups.iter().map(|g| &g.1))
            .all(nonnegative)
    {
        return None;
    }
    for (b, a) in &p.scalars {
        if *b == sign_text() {
            if !int {
                return None;
            }
            if let Some(r) = sign_exponent(&multiply(a, e)?) {
                raise(&mut out.scalars, b, &r)?;
            }
            continue;
        }
        if !merges(a, e) {
            return None;
        }
        raise(&mut out.scalars, b, &multiply(a, e)?)?;
    }
    let mut raised = BTreeMap::new();
    for (g, a) in groups {
        if matches!(g.as_slice(), [Factor::Ones(..)]) {
            raised.insert(g, a);
            continue;
        }
        if !merges(&a, e) {
            return None;
        }
        let r = multiply(&a, e)?;
        if !r.is_empty() {
            raised.insert(g, r);
        }
    }
    out.matrices = match raised.len() {
        0 => Vec::new(),
        1 if raised
            .values()
            .all(|a| as_constant(a).is_some_and(|r| r.is_one())) =>
        {
            raised.into_keys().next().unwrap_or_default()
        }
        _ => vec![Factor::Had(raised)],
    };
    if out.matrices.is_empty() && shape.is_some() && !p.matrices.is_empty() {
        return None;
    }
    let k = k.mul(&constants_out(&mut out.scalars)?)?;
    Some((out, k))
}

/// `c^e` for a positive number `c`, into `out`'s scalar factors, with its
/// numerator and denominator apart (`(2/3)^D` is `2^D * 3^(-D)`, so that
/// `(1/2)^D * 2^D` is one).
fn number_power(out: &mut Product, c: &Rational, e: &Combo) -> Option<()> {
    use num_traits::ToPrimitive;
    let (n, d) = c.parts();
    let parts = match (n.to_i64(), d.to_i64()) {
        (Some(n), Some(d)) if d != 1 => vec![
            (Rational::int(n), e.clone()),
            (Rational::int(d), scaled(e, &Rational::int(-1))?),
        ],
        _ => vec![(c.clone(), e.clone())],
    };
    for (base, exponent) in parts {
        if base.is_one() {
            continue;
        }
        let text = format!("#{base}");
        mean(&text, Meaning::Number(base));
        raise(&mut out.scalars, &text, &exponent)?;
    }
    Some(())
}

/// The largest whole constant of a number's exponent taken out into the
/// coefficient ([`constants_out`]).
const MAX_CONSTANT_OUT: i64 = 64;

/// Takes the whole constant parts of the exponents of numbers out as a
/// coefficient, which it gives: `(-1)^(D + 1)` is `-(-1)^D` and `3^(D +
/// 1)` is `3 * 3^D`, so that `2^(-D) * 2^(D - 1)` is `1/2`.
fn constants_out(scalars: &mut BTreeMap<String, Combo>) -> Option<Rational> {
    let mut k = Rational::one();
    if sign_constant_out(scalars) {
        k = k.neg();
    }
    let sign = sign_text();
    let numbers: Vec<String> = scalars
        .keys()
        .filter(|t| t.starts_with('#') && **t != sign)
        .cloned()
        .collect();
    for text in numbers {
        let Some(Meaning::Number(base)) =
            meaning(&text).filter(|m| !matches!(m, Meaning::Number(b) if b.is_zero()))
        else {
            continue;
        };
        let Some(e) = scalars.get_mut(&text) else {
            continue;
        };
        let Some(m) = e
            .get(&Product::unit())
            .cloned()
            .filter(|m| m.is_integer() && m.to_i64().is_some_and(|m| m.abs() <= MAX_CONSTANT_OUT))
        else {
            continue;
        };
        k = k.mul(&base.pow(&m)?)?;
        e.remove(&Product::unit());
        if e.is_empty() {
            scalars.remove(&text);
        }
    }
    Some(k)
}

/// Takes the constant part of a sign factor's exponent out as a sign:
/// `(-1)^(D + 1)` is `-(-1)^D`. Whether it was odd (the coefficient then
/// changes sign).
fn sign_constant_out(scalars: &mut BTreeMap<String, Combo>) -> bool {
    let text = sign_text();
    let Some(e) = scalars.get_mut(&text) else {
        return false;
    };
    // Reduced, the constant is 1; one too large to reduce stays.
    let odd = match e.get(&Product::unit()) {
        Some(k) if k.is_one() => true,
        _ => return false,
    };
    e.remove(&Product::unit());
    if e.is_empty() {
        scalars.remove(&text);
    }
    odd
}

/// `x + y` for an addition, `x - y` for a subtraction.
fn signed_sum(mut x: Combo, y: &Combo, node: &Node) -> Option<Combo> {
    let sign = if matches!(node, Node::Add(_)) {
        Rational::one()
    } else {
        Rational::one().neg()
    };
    add_into(&mut x, y, &sign)?;
    Some(x)
}

/// The product of two normal forms, distributed over their terms. `None`
/// where it would have more than [`MAX_TERMS`] terms.
fn multiply(x: &Combo, y: &Combo) -> Option<Combo> {
    if x.len() * y.len() > MAX_TERMS {
        return None;
    }
    let mut out = Combo::new();
    for (p, c) in x {
        for (q, d) in y {
            let (r, k) = p.times(q)?;
            add_product(&mut out, r, &c.mul(d)?.mul(&k)?)?;
        }
    }
    Some(out)
}

/// The elementwise product of two normal forms of the given shape:
/// scalars come out of each term, and the rest of each is one elementwise
/// factor; the factors of an elementwise product commute, and powers of
/// one factor are merged. Where every factor of a term cancels, the term
/// is the all-ones value of `shape`, and `None` where that is not known.
fn hadamard(x: &Combo, y: &Combo, shape: Option<&Shape>) -> Option<Combo> {
    if x.len() * y.len() > MAX_TERMS {
        return None;
    }
    let mut out = Combo::new();
    for (p, c) in x {
        for (q, d) in y {
            let scalars = Product {
                scalars: p.scalars.clone(),
                matrices: Vec::new(),
            };
            let (mut r, k) = scalars.times(&Product {
                scalars: q.scalars.clone(),
                matrices: Vec::new(),
            })?;
            let mut groups: BTreeMap<Vec<Factor>, Combo> = BTreeMap::new();
            for m in [&p.matrices, &q.matrices] {
                for (g, e) in hadamard_factors(m) {
                    let mut sum = groups.remove(&g).unwrap_or_default();
                    add_into(&mut sum, &e, &Rational::one())?;
                    if !sum.is_empty() {
                        groups.insert(g, sum);
                    }
                }
            }
            idempotent(&mut groups);
            // The all-ones value is the unit of `.*`.
            if groups
                .keys()
                .any(|g| !matches!(g.as_slice(), [Factor::Ones(..)]))
            {
                groups.retain(|g, _| !matches!(g.as_slice(), [Factor::Ones(..)]));
            }
            r.matrices = match groups.len() {
                0 => {
                    let shape = shape?;
                    vec![Factor::Ones(shape.rows.clone(), shape.cols.clone())]
                }
                1 if groups
                    .values()
                    .all(|e| as_constant(e).is_some_and(|r| r.is_one())) =>
                {
                    groups.into_keys().next().unwrap_or_default()
                }
                _ => vec![Factor::Had(groups)],
            };
            add_product(&mut out, r, &c.mul(d)?.mul(&k)?)?;
        }
    }
    Some(out)
}

/// Each elementwise factor that is a function whose values are 0 and 1
/// (`step(u)`), raised to a positive integer power, is itself.
fn idempotent(groups: &mut BTreeMap<Vec<Factor>, Combo>) {
    for (g, e) in groups.iter_mut() {
        let [Factor::Atom(text)] = g.as_slice() else {
            continue;
        };
        let name = text.split('{').next().unwrap_or("");
        let zero_one = super::Act::from_name(name).is_some_and(|a| a.row().idempotent);
        let positive = as_constant(e).is_some_and(|r| r.is_integer() && !r.is_negative());
        if zero_one && positive {
            *e = one();
        }
    }
}

/// The transpose of each term.
fn transpose(x: &Combo) -> Option<Combo> {
    let mut out = Combo::new();
    for (p, c) in x {
        add_product(&mut out, p.transposed(), c)?;
    }
    Some(out)
}

/// The elementwise factors a matrix part contributes, each a matrix
/// product with its elementwise power: the factors of an elementwise
/// product, or the part itself.
fn hadamard_factors(m: &[Factor]) -> Vec<(Vec<Factor>, Combo)> {
    match m {
        [Factor::Had(groups)] => groups.iter().map(|(g, e)| (g.clone(), e.clone())).collect(),
        [] => Vec::new(),
        many => vec![(many.to_vec(), one())],
    }
}

/// Whether the text of a normal form reads index `n` free: a reference
/// relative to it (`h[t-1]`) or the index itself. A reference at a fixed
/// step (`h[T]`), or one bound by a sum over `n` (renamed by `bound`),
/// does not.
fn depends_on(text: &str, n: u32) -> bool {
    text.contains(&format!("Rel({n},")) || text.contains(&format!("Index({n})"))
}

/// The text of a sum over index `n` of the term whose normal form is
/// `body`: the references to `n` in it are bound by the sum, so they are
/// renamed, and a sum around it over `n` sees a term free of its index.
fn bound(n: u32, body: &Combo) -> String {
    let text = key(body)
        .replace(&format!("Rel({n},"), &format!("Bnd({n},"))
        .replace(&format!("Index({n})"), &format!("Bound({n})"));
    let text = format!("sum{{{n},{text}}}");
    mean(&text, Meaning::Sum(n, body.clone()));
    text
}

/// The matrix part an elementwise product of `groups` is: the one
/// factor's product where it is alone with power 1, else the product.
fn had_chain(groups: BTreeMap<Vec<Factor>, Combo>) -> Vec<Factor> {
    if groups.len() == 1
        && groups
            .values()
            .all(|e| as_constant(e).is_some_and(|r| r.is_one()))
    {
        return groups.into_keys().next().unwrap_or_default();
    }
    vec![Factor::Had(groups)]
}

/// The operator of a node, without its children.
fn discriminant(node: &Node) -> String {
    match node {
        Node::Leaf(l) => format!("{l:?}"),
        Node::Num(r) => format!("#{r}"),
        Node::Act(f, _) => format!("{f}"),
        other => {
            let text = format!("{other:?}");
            text.split(['(', '[', ' ']).next().unwrap_or("").to_owned()
        }
    }
}

/// The normal form of `expr` (`None` for an empty expression, or where
/// exact arithmetic would overflow), with the meanings of its texts noted
/// (and its sums as written, where `written`).
fn form(expr: &RecExpr<Node>, leaves: &dyn LeafShapes, written: bool) -> Option<Combo> {
    if expr.as_ref().is_empty() {
        return None;
    }
    MEANINGS.with(|known| known.borrow_mut().clear());
    let mut n = Normal {
        expr,
        leaves,
        shapes: super::prec::shapes(expr, leaves),
        memo: vec![None; expr.as_ref().len()],
        written,
    };
    n.combo(super::root(expr))
}

/// The normal form of `expr` as text; equal texts mean equal values.
/// `None` where exact arithmetic would overflow.
pub fn normal_form(expr: &RecExpr<Node>, leaves: &dyn LeafShapes) -> Option<String> {
    form(expr, leaves, false).map(|c| key(&c))
}

/// `expr` written as its normal form read back: like terms and powers of
/// one base merged, terms with one matrix part collected. `None` where
/// that cannot be written (a zero, an all-ones matrix) or where reading it
/// back does not give the same normal form.
pub fn collected(expr: &RecExpr<Node>, leaves: &dyn LeafShapes) -> Option<RecExpr<Node>> {
    let form = form(expr, leaves, true)?;
    let mut r = reify::Reify {
        expr,
        b: super::build::ExprBuilder::new(),
    };
    // Zero is read back as the number, but a zero matrix written with its
    // shape (`zeros(D, D)`, which a block matrix may need) stays.
    let root = match form.is_empty() {
        true if matches!(expr[super::root(expr)], Node::Zeros(_)) => return None,
        true => r.b.int(0),
        false => r.combo(&form)?,
    };
    let out = r.b.finish(root);
    // The form read back must have the same normal form: a check of the
    // reading, which is then an identity of the algebra. A sum read back
    // over a common denominator has another normal form where terms
    // cancelled in its numerator (`z - s / (1 + s) * z` is `z / (1 +
    // s)`): there their difference must clear.
    if normal_form(&out, leaves)? == key(&form) {
        return Some(out);
    }
    same_cleared(&out, expr, leaves).then_some(out)
}

/// A block of a block matrix in a form that block elimination uses.
#[derive(Debug, Clone)]
pub enum BlockForm {
    /// Zero.
    Zero,
    /// A scalar times an identity matrix: the scalar, read back
    /// (`(1 + beta) * I(D) - beta * I(D)` is `1`).
    ScaledIdentity(RecExpr<Node>),
    /// A diagonal matrix that is not a scalar times the identity: a sum of
    /// products of diagonals (`diag(u)`, `I(n)`) times scalars. Diagonals
    /// commute with one another.
    Diagonal,
}

/// Whether `expr` is zero, a scalar times an identity matrix or another
/// diagonal matrix, by its normal form (derivative forms written out);
/// `None` for anything else.
pub fn block_form(expr: &RecExpr<Node>, leaves: &dyn LeafShapes) -> Option<BlockForm> {
    let expr = unprimed(expr);
    let form = form(&expr, leaves, true)?;
    if form.is_empty() {
        return Some(BlockForm::Zero);
    }
    let Some(scalars) = identity_scale(&form) else {
        let diagonal = form.iter().all(|(p, _)| {
            !p.matrices.is_empty() && p.matrices.iter().all(|f| {
                is_identity(f)
                    || matches!(f, Factor::Sym(t) if matches!(meaning(t), Some(Meaning::Diag(..))))
            })
        });
        return diagonal.then_some(BlockForm::Diagonal);
    };
    let mut r = reify::Reify {
        expr: &expr,
        b: super::build::ExprBuilder::new(),
    };
    let root = r.combo(&scalars)?;
    Some(BlockForm::ScaledIdentity(r.b.finish(root)))
}

/// Whether two expressions have one normal form (see the module
/// documentation): then they are equal.
pub fn same(a: &RecExpr<Node>, b: &RecExpr<Node>, leaves: &dyn LeafShapes) -> bool {
    let (a, b) = (unprimed(a), unprimed(b));
    matches!((normal_form(&a, leaves), normal_form(&b, leaves)), (Some(x), Some(y)) if x == y)
}

/// Whether two expressions are equal where both are defined because their
/// difference is zero once multiplied by the sums it divides by (and
/// those multiplied out): `((1 - y) / (1 - p) - y / p) * p * (1 - p)` and
/// `p - y`. The sums are not zero where the difference is defined, so the
/// product is zero only where the difference is. For pairs whose normal
/// forms differ; a proof on its own.
pub fn same_cleared(a: &RecExpr<Node>, b: &RecExpr<Node>, leaves: &dyn LeafShapes) -> bool {
    // Two block matrices of one layout, entry by entry.
    if let Some(pairs) = block_entries(a, b) {
        return pairs
            .iter()
            .all(|(x, y)| same(x, y, leaves) || same_cleared(x, y, leaves));
    }
    let (a, b) = (unprimed(a), unprimed(b));
    if difference_clears(&a, &b, leaves) {
        return true;
    }
    // Products with a common factor: equal where what is left is.
    if let Some((x, y)) = without_common_factors(&a, &b, leaves) {
        if same(&x, &y, leaves) || difference_clears(&x, &y, leaves) {
            return true;
        }
    }
    // Then with the functions written with `exp`: a side written by hand
    // (`exp(a) ./ (1 + exp(a))`) meets one written with `sigma`.
    let (x, y) = (
        exp_form::written_with_exp(&a, leaves),
        exp_form::written_with_exp(&b, leaves),
    );
    // Not where written out as a tree it grows large: the texts of nested
    // functions written with `exp` grow with the tree.
    let small = |e: &RecExpr<Node>| super::size(e) <= MAX_EXP_TREE;
    (x != a || y != b) && small(&x) && small(&y) && difference_clears(&x, &y, leaves)
}

/// Two scalar products without the factors they share (factors with one
/// normal form, as often as both have them): `P * X` and `P * Y` are
/// equal where `X` and `Y` are, whatever `P` is (a power with a symbolic
/// exponent the clearing of denominators cannot multiply out, such as a
/// determinant's `(1 + b / (a + r))^(D - 1)`). `None` where they share
/// none.
fn without_common_factors(
    a: &RecExpr<Node>,
    b: &RecExpr<Node>,
    leaves: &dyn LeafShapes,
) -> Option<(RecExpr<Node>, RecExpr<Node>)> {
    let (fa, fb) = (factors(a, leaves), factors(b, leaves));
    if fa.len() < 2 && fb.len() < 2 {
        return None;
    }
    let key = |e: &RecExpr<Node>, at: Id| normal_form(&super::build::subtree(e, at), leaves);
    let kb: Vec<Option<String>> = fb.iter().map(|&f| key(b, f)).collect();
    let mut taken = vec![false; fb.len()];
    let mut left_a = Vec::new();
    for &f in &fa {
        let k = key(a, f);
        let mut shared = k.is_some()
            && (0..fb.len())
                .find(|&j| !taken[j] && kb[j] == k)
                .map(|j| taken[j] = true)
                .is_some();
        // Or powers with one exponent whose bases are equal where
        // defined (`(1 + b / s)^(D - 1)` and `((s + b) / s)^(D - 1)`).
        if !shared {
            if let Some(j) =
                (0..fb.len()).find(|&j| !taken[j] && same_powers(a, f, b, fb[j], leaves))
            {
                taken[j] = true;
                shared = true;
            }
        }
        if !shared {
            left_a.push(f);
        }
    }
    let left_b: Vec<Id> = (0..fb.len())
        .filter(|&j| !taken[j])
        .map(|j| fb[j])
        .collect();
    if left_a.len() == fa.len() {
        return None;
    }
    Some((multiplied(a, &left_a), multiplied(b, &left_b)))
}

/// Whether the subexpressions `x` of `a` and `y` of `b` are powers with
/// one exponent (by normal form) of bases equal where defined (by normal
/// form or by clearing their difference of denominators).
fn same_powers(
    a: &RecExpr<Node>,
    x: Id,
    b: &RecExpr<Node>,
    y: Id,
    leaves: &dyn LeafShapes,
) -> bool {
    let (Node::Pow([p, e]), Node::Pow([q, f])) = (&a[x], &b[y]) else {
        return false;
    };
    let sub = super::build::subtree;
    let (p, q) = (sub(a, *p), sub(b, *q));
    same(&sub(a, *e), &sub(b, *f), leaves)
        && (same(&p, &q, leaves) || difference_clears(&p, &q, leaves))
}

/// The factors of a scalar product (`x * y * z`, each a scalar), or the
/// expression itself.
fn factors(e: &RecExpr<Node>, leaves: &dyn LeafShapes) -> Vec<Id> {
    let shapes = super::prec::shapes(e, leaves);
    let scalar = |id: Id| {
        shapes
            .get(usize::from(id))
            .cloned()
            .flatten()
            .is_some_and(|s| s.is_scalar())
    };
    let mut out = Vec::new();
    let mut stack = vec![super::root(e)];
    while let Some(id) = stack.pop() {
        match &e[id] {
            Node::Mul([x, y]) if scalar(*x) && scalar(*y) => {
                stack.push(*y);
                stack.push(*x);
            }
            _ => out.push(id),
        }
    }
    out
}

/// The product of some subexpressions of `e` (`1` for none).
fn multiplied(e: &RecExpr<Node>, parts: &[Id]) -> RecExpr<Node> {
    let mut b = super::build::ExprBuilder::new();
    let mut acc: Option<Id> = None;
    for &p in parts {
        let x = b.copy(e, p);
        acc = Some(match acc {
            Some(a) => b.add(Node::Mul([a, x])),
            None => x,
        });
    }
    let root = acc.unwrap_or_else(|| b.int(1));
    b.finish(root)
}

/// The entries of two block matrices of one layout (rows of one number of
/// entries each), pair by pair; `None` where either is not a block matrix
/// or the layouts differ.
fn block_entries(
    a: &RecExpr<Node>,
    b: &RecExpr<Node>,
) -> Option<Vec<(RecExpr<Node>, RecExpr<Node>)>> {
    let cells = |e: &RecExpr<Node>| -> Option<Vec<Vec<Id>>> {
        let Node::Block(rows) = &e[super::root(e)] else {
            return None;
        };
        rows.iter()
            .map(|&r| match &e[r] {
                Node::Row(cells) => Some(cells.to_vec()),
                _ => None,
            })
            .collect()
    };
    let (x, y) = (cells(a)?, cells(b)?);
    let layout = |c: &[Vec<Id>]| c.iter().map(Vec::len).collect::<Vec<_>>();
    if layout(&x) != layout(&y) {
        return None;
    }
    let sub = super::build::subtree;
    Some(
        x.iter()
            .flatten()
            .zip(y.iter().flatten())
            .map(|(&i, &j)| (sub(a, i), sub(b, j)))
            .collect(),
    )
}

/// The most terms a product of two normal forms may have before
/// distributing (the product of their numbers of terms): past it, the
/// expression has no normal form here, and a procedure that needs one
/// fails rather than grow without bound.
const MAX_TERMS: usize = 4_096;

/// The longest text an atom (a function applied to normal forms) may
/// have: an atom's text holds its arguments' texts, so the texts of nested
/// functions grow with the nesting, and past this the expression has no
/// normal form here.
const MAX_ATOM_TEXT: usize = 65_536;

/// The largest tree (nodes with sharing undone) a side written with `exp`
/// may be for [`same_cleared`] to compare it.
const MAX_EXP_TREE: usize = 4_000;

/// Whether the difference of `a` and `b` is zero once cleared of
/// denominators (see [`same_cleared`]).
fn difference_clears(a: &RecExpr<Node>, b: &RecExpr<Node>, leaves: &dyn LeafShapes) -> bool {
    // Each side is built with its own meanings (a meaning may name a node
    // of its expression); the first side's are added back after, for the
    // bases of both.
    let Some(x) = form(a, leaves, false) else {
        return false;
    };
    let first = MEANINGS.with(|known| known.take());
    let Some(y) = form(b, leaves, false) else {
        return false;
    };
    MEANINGS.with(|known| {
        let mut known = known.borrow_mut();
        for (text, m) in first {
            known.entry(text).or_insert(m);
        }
    });
    let mut d = x;
    if add_into(&mut d, &y, &Rational::one().neg()).is_none() {
        return false;
    }
    let shape = super::prec::shapes(a, leaves)
        .get(usize::from(super::root(a)))
        .cloned()
        .flatten();
    d.is_empty() || cleared::vanishes(&d, shape.as_ref())
}

/// `expr` with every derivative form of an activation written with its
/// identity from the activation table (`tanh'(u)` is `1 - tanh(u)^2`,
/// `relu'(u)` is `step(u)`), and the table's further identities applied
/// left to right (`step(relu(u))` is `step(u)`, `1 / (1 + exp(-u))` is
/// `sigma(u)`), so that a claim written either way has one normal form.
/// Each identity is exact: it is the table's own.
fn unprimed(expr: &RecExpr<Node>) -> RecExpr<Node> {
    let nodes = expr.as_ref();
    let mut b = super::build::ExprBuilder::new();
    let mut map: Vec<Id> = Vec::with_capacity(nodes.len());
    let (derivatives, more) = table_patterns();
    for n in nodes {
        let mut id = match n.as_act() {
            Some((act, true, arg)) => {
                let u = map[usize::from(arg)];
                match derivatives.iter().find(|(a, _)| *a == act) {
                    Some((_, p)) => instantiate(&mut b, p, u, |b, node| b.add(node)),
                    None => b.add(n.clone().map_children(|c| map[usize::from(c)])),
                }
            }
            _ => b.add(n.clone().map_children(|c| map[usize::from(c)])),
        };
        // Each identity makes the expression smaller, so this ends; the
        // bound is a guard.
        for _ in 0..8 {
            let Some((u, rhs)) = more.iter().find_map(|(lhs, rhs)| {
                let mut u = None;
                matches_at(&b, lhs.ast.as_ref(), lhs.ast.as_ref().len() - 1, id, &mut u)
                    .then_some((u?, rhs))
            }) else {
                break;
            };
            id = instantiate(&mut b, rhs, u, |b, node| b.add(node));
        }
        map.push(id);
    }
    let root = map.last().copied().unwrap_or_else(|| Id::from(0));
    b.finish(root)
}

/// Patterns in `?u` from the activation table, parsed once: each
/// derivative identity by its function, and the further identities.
type TablePatterns = (
    Vec<(super::Act, egg::Pattern<Node>)>,
    Vec<(egg::Pattern<Node>, egg::Pattern<Node>)>,
);

fn table_patterns() -> &'static TablePatterns {
    static PATTERNS: std::sync::OnceLock<TablePatterns> = std::sync::OnceLock::new();
    PATTERNS.get_or_init(|| {
        let parse = |p: &str| p.parse::<egg::Pattern<Node>>().ok();
        let rows = || super::Act::all().map(super::Act::row);
        let derivatives = rows()
            .filter_map(|r| Some((r.act, parse(r.identity?)?)))
            .collect();
        let more = rows()
            .flat_map(|r| r.more.iter())
            .filter_map(|(l, r)| Some((parse(l)?, parse(r)?)))
            .collect();
        (derivatives, more)
    })
}

/// Whether the node `at` of `b` matches the pattern node `p` of `ast`, a
/// pattern whose one variable is `?u` (bound in `u`: the builder shares
/// equal nodes, so equal values have one id).
fn matches_at(
    b: &super::build::ExprBuilder,
    ast: &[egg::ENodeOrVar<Node>],
    p: usize,
    at: Id,
    u: &mut Option<Id>,
) -> bool {
    match &ast[p] {
        egg::ENodeOrVar::Var(_) => match u {
            Some(bound) => *bound == at,
            None => {
                *u = Some(at);
                true
            }
        },
        egg::ENodeOrVar::ENode(e) => {
            let node = b.node(at);
            e.matches(node)
                && e.children()
                    .iter()
                    .zip(node.children())
                    .all(|(&pc, &c)| matches_at(b, ast, usize::from(pc), c, u))
        }
    }
}

/// A pattern in `?u` with `?u` the node `u` of `b`, each of its nodes added
/// by `add` (which may write it another way); the root's id.
fn instantiate(
    b: &mut super::build::ExprBuilder,
    p: &egg::Pattern<Node>,
    u: Id,
    add: impl Fn(&mut super::build::ExprBuilder, Node) -> Id,
) -> Id {
    use egg::ENodeOrVar;
    let ast = p.ast.as_ref();
    let mut at: Vec<Id> = Vec::with_capacity(ast.len());
    for x in ast {
        let id = match x {
            ENodeOrVar::Var(_) => u,
            ENodeOrVar::ENode(e) => add(b, e.clone().map_children(|c| at[usize::from(c)])),
        };
        at.push(id);
    }
    at.last().copied().unwrap_or(u)
}
