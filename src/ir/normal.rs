//! A normal form for the linear-algebra part of an expression: a linear
//! combination, with exact coefficients, of products, each product a
//! multiset of scalar factors (which commute with everything) times an
//! ordered list of matrix factors (which associate but do not commute).
//! Sums and differences are flattened and like terms merged, products are
//! distributed over sums and flattened, transposes are pushed through
//! products (`(A B)^T = B^T A^T`), elementwise products are flattened and
//! sorted (they commute), a sum over an index is split over the terms it
//! sums and its constant factors taken out, and division by a number is a
//! coefficient. Everything else (function applications, powers, sums of
//! entries, ...) is an atom whose arguments are normalised in turn.
//!
//! Two expressions with the same normal form are equal for every value of
//! their leaves: each step above is an identity of the algebra. Different
//! normal forms say nothing (`tanh(x)^2` and `1 - tanh'(x)` differ here).
//! Where a shape is not known, a product is left as an atom rather than
//! reordered.

use super::{LeafShapes, Node};
use crate::num::Rational;
use crate::shape::Shape;
use egg::{Id, Language, RecExpr};
use std::collections::BTreeMap;

/// A factor of a matrix product.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Factor {
    /// A value the normal form does not look into, as text.
    Atom(String),
    /// The all-ones value a scalar broadcast stands for.
    Ones,
    /// The transpose of a factor.
    T(Box<Factor>),
    /// An elementwise product of matrix products, sorted (they commute).
    Had(Vec<Vec<Factor>>),
}

impl Factor {
    fn transposed(&self) -> Factor {
        match self {
            Factor::T(inner) => (**inner).clone(),
            other => Factor::T(Box::new(other.clone())),
        }
    }

    fn text(&self) -> String {
        format!("{self:?}")
    }
}

/// One product: scalar factors (sorted, as they commute) and matrix
/// factors (in order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Product {
    scalars: Vec<String>,
    matrices: Vec<Factor>,
}

impl Product {
    fn unit() -> Product {
        Product {
            scalars: Vec::new(),
            matrices: Vec::new(),
        }
    }

    fn atom(key: String, scalar: bool) -> Product {
        let mut p = Product::unit();
        if scalar {
            p.scalars.push(key);
        } else {
            p.matrices.push(Factor::Atom(key));
        }
        p
    }

    fn times(&self, other: &Product) -> Product {
        let mut scalars: Vec<String> = self.scalars.iter().chain(&other.scalars).cloned().collect();
        scalars.sort();
        let matrices = self
            .matrices
            .iter()
            .chain(&other.matrices)
            .cloned()
            .collect();
        Product { scalars, matrices }
    }

    fn key(&self) -> String {
        format!("{self:?}")
    }

    /// The transpose: matrix factors reversed and each transposed (a
    /// scalar is its own transpose).
    fn transposed(&self) -> Product {
        Product {
            scalars: self.scalars.clone(),
            matrices: self.matrices.iter().rev().map(Factor::transposed).collect(),
        }
    }
}

/// A linear combination of products.
type Combo = BTreeMap<Product, Rational>;

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

fn key(c: &Combo) -> String {
    let parts: Vec<String> = c.iter().map(|(p, k)| format!("{k}*{}", p.key())).collect();
    format!("({})", parts.join(" + "))
}

struct Normal<'a> {
    expr: &'a RecExpr<Node>,
    shapes: Vec<Option<Shape>>,
    memo: Vec<Option<Option<Combo>>>,
}

impl Normal<'_> {
    fn scalar(&self, id: Id) -> Option<bool> {
        self.shapes[usize::from(id)].as_ref().map(Shape::is_scalar)
    }

    /// The normal form of `id`, or `None` where a coefficient leaves exact
    /// bounds (the caller then compares nothing).
    fn combo(&mut self, id: Id) -> Option<Combo> {
        let k = usize::from(id);
        if let Some(done) = &self.memo[k] {
            return done.clone();
        }
        let out = self.build(id);
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
        // A value of unknown shape is not a scalar: it does not commute.
        let scalar = self.scalar(id).unwrap_or(false);
        Some(single(Product::atom(text, scalar), Rational::one()))
    }

    /// `id`'s normal form as an operand of a sum whose result is not a
    /// scalar: a scalar there stands for every entry, `c` times the
    /// all-ones value.
    fn operand(&mut self, id: Id, whole: Id) -> Option<Combo> {
        if self.scalar(id) == Some(true) && self.scalar(whole) == Some(false) {
            let x = self.scalar_part(id, true)?;
            let ones = Product {
                scalars: Vec::new(),
                matrices: vec![Factor::Ones],
            };
            let mut out = Combo::new();
            for (p, c) in &x {
                add_into(
                    &mut out,
                    &single(p.times(&ones), c.clone()),
                    &Rational::one(),
                )?;
            }
            return Some(out);
        }
        self.combo(id)
    }

    fn build(&mut self, id: Id) -> Option<Combo> {
        let node = self.expr[id].clone();
        match node {
            Node::Num(r) => Some(single(Product::unit(), r)),
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
                let mut out = Combo::new();
                add_into(&mut out, &x, &Rational::one().neg())?;
                Some(out)
            }
            Node::Mul([a, b]) => {
                let (Some(sa), Some(sb)) = (self.scalar(a), self.scalar(b)) else {
                    return self.atom(id);
                };
                // A matrix applied to a vector: `diag(v) * u` is `v .* u`,
                // through the sums and products the matrix is made of.
                if !sa && self.vector(b) {
                    let u = self.combo(b)?;
                    return self.apply(a, &u);
                }
                let x = self.scalar_part(a, sa)?;
                let y = self.scalar_part(b, sb)?;
                let product = multiply(&x, &y)?;
                // A product of matrices that is a scalar (`(c * w^T) * u`)
                // commutes like one.
                if !sa && !sb && self.scalar(id) == Some(true) {
                    as_scalar(&product)
                } else {
                    Some(product)
                }
            }
            Node::Div([a, d]) => match &self.expr[d] {
                Node::Num(r) if !r.is_zero() => {
                    let x = self.combo(a)?;
                    let mut out = Combo::new();
                    add_into(&mut out, &x, &Rational::one().div(r)?)?;
                    Some(out)
                }
                _ => self.atom(id),
            },
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
                let x = self.combo(a)?;
                let y = self.combo(b)?;
                hadamard(&x, &y)
            }
            Node::Sum([i, e]) => {
                let scalar = self.scalar(e) == Some(true);
                let x = self.scalar_part(e, scalar)?;
                let summed_scalar = self.scalar(id).unwrap_or(false);
                self.summed(i, &x, summed_scalar, id)
            }
            _ => self.atom(id),
        }
    }

    /// The sum over the index `i` of each term of `x`, its coefficient
    /// taken out (`id` is the node, for an atom where the index is not a
    /// leaf).
    fn summed(&mut self, i: Id, x: &Combo, scalar: bool, id: Id) -> Option<Combo> {
        let (index, n) = match &self.expr[i] {
            Node::Leaf(l @ super::Leaf::Index(n)) => (format!("{l:?}"), *n),
            _ => return self.atom(id),
        };
        let depends_text = |text: &str| {
            text.contains(&format!("Rel({n},"))
                || text.contains(&format!("End({n},"))
                || text.contains(&format!("Index({n})"))
        };
        let depends = |f: &Factor| depends_text(&f.text());
        let mut out = Combo::new();
        for (p, c) in x {
            // Factors that do not depend on the index come out of the sum:
            // scalars anywhere, matrices before the first factor that
            // depends on it and after the last.
            let first = p.matrices.iter().position(depends);
            let last = p.matrices.iter().rposition(depends);
            let inner_scalars: Vec<String> = p
                .scalars
                .iter()
                .filter(|s| depends_text(s))
                .cloned()
                .collect();
            let outer_scalars: Vec<String> = p
                .scalars
                .iter()
                .filter(|s| !depends_text(s))
                .cloned()
                .collect();
            let (prefix, middle, suffix) = match (first, last) {
                (Some(f), Some(l)) => (&p.matrices[..f], &p.matrices[f..=l], &p.matrices[l + 1..]),
                _ => (&p.matrices[..0], &p.matrices[..0], &p.matrices[..]),
            };
            let product = if middle.is_empty() && inner_scalars.is_empty() {
                // Nothing depends on the index: the sum as a whole.
                let inner = single(p.clone(), Rational::one());
                Product::atom(format!("sum{{{index},{}}}", key(&inner)), scalar)
            } else {
                let inner = Product {
                    scalars: inner_scalars,
                    matrices: middle.to_vec(),
                };
                let text = format!("sum{{{index},{}}}", key(&single(inner, Rational::one())));
                let mut scalars = outer_scalars;
                let mut matrices = prefix.to_vec();
                if middle.is_empty() {
                    scalars.push(text);
                    scalars.sort();
                } else {
                    matrices.push(Factor::Atom(text));
                }
                matrices.extend_from_slice(suffix);
                Product { scalars, matrices }
            };
            add_into(&mut out, &single(product, c.clone()), &Rational::one())?;
        }
        Some(out)
    }

    /// Whether `id` is a column vector (not a scalar).
    fn vector(&self, id: Id) -> bool {
        self.shapes[usize::from(id)]
            .as_ref()
            .is_some_and(|s| !s.is_scalar() && s.cols.is_one())
    }

    /// The normal form of the matrix `m` times the column vector whose
    /// normal form is `u`, distributed over the sums, negations and
    /// products `m` is made of, so that every `diag(v)` meets the vector
    /// it is applied to and becomes `v .* (...)`.
    fn apply(&mut self, m: Id, u: &Combo) -> Option<Combo> {
        let out = self.apply_inner(m, u)?;
        // A row applied to a vector is a scalar, which commutes like one.
        let row = self.shapes[usize::from(m)]
            .as_ref()
            .is_some_and(|s| s.rows.is_one());
        if row {
            as_scalar(&out)
        } else {
            Some(out)
        }
    }

    fn apply_inner(&mut self, m: Id, u: &Combo) -> Option<Combo> {
        let node = self.expr[m].clone();
        let same = |this: &Self, a: Id, b: Id| {
            this.shapes[usize::from(a)].is_some()
                && this.shapes[usize::from(a)] == this.shapes[usize::from(b)]
        };
        match node {
            Node::Diag(v) if self.vector(v) => hadamard(&self.combo(v)?, u),
            // A sum of two matrices of one shape (a scalar in a sum with a
            // matrix stands for every entry, not for a multiple of `I`).
            Node::Add([a, b]) | Node::Sub([a, b]) if same(self, a, b) => {
                let x = self.apply(a, u)?;
                let y = self.apply(b, u)?;
                signed_sum(x, &y, &node)
            }
            Node::Neg(a) => {
                let x = self.apply(a, u)?;
                let mut out = Combo::new();
                add_into(&mut out, &x, &Rational::one().neg())?;
                Some(out)
            }
            Node::Mul([a, b]) => match (self.scalar(a), self.scalar(b)) {
                (Some(true), Some(false)) => {
                    let c = self.scalar_part(a, true)?;
                    multiply(&c, &self.apply(b, u)?)
                }
                (Some(false), Some(true)) => {
                    let c = self.scalar_part(b, true)?;
                    multiply(&c, &self.apply(a, u)?)
                }
                // `(A * B) * u` is `A * (B * u)`.
                (Some(false), Some(false)) if self.shapes[usize::from(b)].is_some() => {
                    let inner = self.apply(b, u)?;
                    // `B * u` is a vector where `A * B` is applied to one.
                    self.apply(a, &inner)
                }
                _ => multiply(&self.combo(m)?, u),
            },
            _ => multiply(&self.combo(m)?, u),
        }
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

/// A normal form whose value is a scalar, with each product's matrix part
/// (a `1 x 1` product such as `w^T * u`) made one scalar factor.
fn as_scalar(x: &Combo) -> Option<Combo> {
    let mut out = Combo::new();
    for (p, c) in x {
        let q = if p.matrices.is_empty() {
            p.clone()
        } else {
            // A scalar is its own transpose (`y^T * z = z^T * y`): the
            // smaller of the two texts of the matrix part stands for
            // both; the scalar factors stay outside it, so that
            // `(c * w^T) * u` and `c * (w^T * u)` meet.
            let m = Product {
                scalars: Vec::new(),
                matrices: p.matrices.clone(),
            };
            let inner = Product::atom(m.key().min(m.transposed().key()), true);
            Product {
                scalars: p.scalars.clone(),
                matrices: Vec::new(),
            }
            .times(&inner)
        };
        add_into(&mut out, &single(q, c.clone()), &Rational::one())?;
    }
    Some(out)
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

/// The product of two normal forms, distributed over their terms.
fn multiply(x: &Combo, y: &Combo) -> Option<Combo> {
    let mut out = Combo::new();
    for (p, c) in x {
        for (q, d) in y {
            add_into(&mut out, &single(p.times(q), c.mul(d)?), &Rational::one())?;
        }
    }
    Some(out)
}

/// The elementwise product of two normal forms: scalars come out of each
/// term, and the rest of each is one elementwise factor; the factors of an
/// elementwise product commute.
fn hadamard(x: &Combo, y: &Combo) -> Option<Combo> {
    let mut out = Combo::new();
    for (p, c) in x {
        for (q, d) in y {
            let mut scalars: Vec<String> = p.scalars.iter().chain(&q.scalars).cloned().collect();
            scalars.sort();
            // Each side's matrix part is one elementwise factor
            // (or several, for an elementwise product).
            let mut groups: Vec<Vec<Factor>> = Vec::new();
            for m in [&p.matrices, &q.matrices] {
                groups.extend(hadamard_factors(m));
            }
            // The all-ones value is the unit of `.*`.
            let ones = vec![Factor::Ones];
            if groups.iter().any(|g| *g != ones) {
                groups.retain(|g| *g != ones);
            }
            groups.sort();
            let matrices = match groups.as_slice() {
                [] => Vec::new(),
                [one] => one.clone(),
                _ => vec![Factor::Had(groups)],
            };
            let r = Product { scalars, matrices };
            add_into(&mut out, &single(r, c.mul(d)?), &Rational::one())?;
        }
    }
    Some(out)
}

/// The transpose of each term.
fn transpose(x: &Combo) -> Option<Combo> {
    let mut out = Combo::new();
    for (p, c) in x {
        add_into(
            &mut out,
            &single(p.transposed(), c.clone()),
            &Rational::one(),
        )?;
    }
    Some(out)
}

/// The elementwise factors a matrix part contributes, each a matrix
/// product: the factors of an elementwise product, or the part itself.
fn hadamard_factors(m: &[Factor]) -> Vec<Vec<Factor>> {
    match m {
        [Factor::Had(groups)] => groups.clone(),
        [] => Vec::new(),
        many => vec![many.to_vec()],
    }
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

/// The normal form of `expr` as text; equal texts mean equal values.
/// `None` where exact arithmetic would overflow.
pub fn normal_form(expr: &RecExpr<Node>, leaves: &dyn LeafShapes) -> Option<String> {
    if expr.as_ref().is_empty() {
        return None;
    }
    let mut n = Normal {
        expr,
        shapes: super::prec::shapes(expr, leaves),
        memo: vec![None; expr.as_ref().len()],
    };
    let root = super::root(expr);
    n.combo(root).map(|c| key(&c))
}

/// Whether two expressions have one normal form (see the module
/// documentation): then they are equal.
pub fn same(a: &RecExpr<Node>, b: &RecExpr<Node>, leaves: &dyn LeafShapes) -> bool {
    let (a, b) = (unprimed(a), unprimed(b));
    matches!((normal_form(&a, leaves), normal_form(&b, leaves)), (Some(x), Some(y)) if x == y)
}

/// `expr` with every derivative form of an activation written with its
/// identity from the activation table (`tanh'(u)` is `1 - tanh(u)^2`,
/// `relu'(u)` is `step(u)`), so that a claim written either way has one
/// normal form. Each identity is exact: it is the table's own.
fn unprimed(expr: &RecExpr<Node>) -> RecExpr<Node> {
    use egg::{ENodeOrVar, Pattern};
    let nodes = expr.as_ref();
    let mut b = super::build::ExprBuilder::new();
    let mut map: Vec<Id> = Vec::with_capacity(nodes.len());
    for n in nodes {
        let id = match n.as_act() {
            Some((act, true, arg)) => {
                let u = map[usize::from(arg)];
                let pattern = act
                    .row()
                    .identity
                    .and_then(|p| p.parse::<Pattern<Node>>().ok());
                match pattern {
                    Some(p) => {
                        let ast = p.ast.as_ref();
                        let mut at: Vec<Id> = Vec::with_capacity(ast.len());
                        for x in ast {
                            let id = match x {
                                ENodeOrVar::Var(_) => u,
                                ENodeOrVar::ENode(e) => {
                                    b.add(e.clone().map_children(|c| at[usize::from(c)]))
                                }
                            };
                            at.push(id);
                        }
                        at.last().copied().unwrap_or(u)
                    }
                    None => b.add(n.clone().map_children(|c| map[usize::from(c)])),
                }
            }
            _ => b.add(n.clone().map_children(|c| map[usize::from(c)])),
        };
        map.push(id);
    }
    let root = map.last().copied().unwrap_or_else(|| Id::from(0));
    b.finish(root)
}
