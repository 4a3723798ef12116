//! The one precedence table every printer shares, and the decisions that
//! follow from it: where parentheses go and which terms print with a
//! leading minus (so that `a + -b` prints as `a - b`).

use crate::ir::{Leaf, LeafShapes, Node};
use crate::poly::Poly;
use crate::shape::{Product, Shape};
use egg::{Id, RecExpr};

/// Binding strength, loosest first, as in the language's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `+ -`.
    Sum,
    /// `* / .*`.
    Product,
    /// Unary minus.
    Neg,
    /// `^`.
    Power,
    /// `^T`.
    Postfix,
    /// Names, numbers, calls, brackets.
    Atom,
}

/// Where a child sits in its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Left operand of a binary operator.
    Left,
    /// Right operand of a binary operator.
    Right,
    /// Operand of a prefix or postfix operator.
    Only,
}

/// The level of the node at `id` as printed (with every leading minus
/// removed when `abs` is set).
pub fn level(expr: &RecExpr<Node>, id: Id, abs: bool) -> Level {
    match &expr[id] {
        Node::Add(_) | Node::Sub(_) => Level::Sum,
        Node::Mul(_) | Node::Had(_) | Node::Div(_) => Level::Product,
        // Without its sign, `-a` prints as `a`; `-(a * b)` prints as the
        // product `-a * b`.
        Node::Neg(a) => {
            let inner = level(expr, *a, false);
            if abs || inner == Level::Product {
                inner
            } else {
                Level::Neg
            }
        }
        Node::Pow(_) => Level::Power,
        Node::Trans(_) => Level::Postfix,
        // A fraction such as `1/2` is one token of the language.
        Node::Num(r) => {
            if r.is_negative() && !abs {
                Level::Neg
            } else {
                Level::Atom
            }
        }
        _ => Level::Atom,
    }
}

/// Whether the term at `id` is negated by its leading minus signs (an odd
/// number of them: `-(-a)` is not).
pub fn negative_lead(expr: &RecExpr<Node>, id: Id) -> bool {
    match &expr[id] {
        Node::Neg(_) => true,
        Node::Num(r) => r.is_negative(),
        Node::Add([a, _]) | Node::Sub([a, _]) => negative_lead(expr, *a),
        Node::Mul([a, _]) | Node::Had([a, _]) | Node::Div([a, _]) => {
            // The left factor keeps its minus outside only if it needs no
            // parentheses there.
            level(expr, *a, false) >= Level::Product && negative_lead(expr, *a)
        }
        _ => false,
    }
}

/// Whether the node prints starting with the name `T`, which right after
/// `^` would read as a transpose.
fn starts_with_t(expr: &RecExpr<Node>, id: Id, is_t: &dyn Fn(&Leaf) -> bool) -> bool {
    match &expr[id] {
        Node::Leaf(l) => is_t(l),
        Node::Pow([a, _]) => level(expr, *a, false) > Level::Power && starts_with_t(expr, *a, is_t),
        Node::Trans(a) => level(expr, *a, false) >= Level::Postfix && starts_with_t(expr, *a, is_t),
        _ => false,
    }
}

/// Whether the child at `child` (printed with its minus removed if
/// `child_abs`) needs parentheses in `slot` of `parent`. `dim_is_t` tells
/// whether a dim is named `T`, whose power must print as `a^(T)`.
pub fn needs_parens(
    expr: &RecExpr<Node>,
    parent: &Node,
    slot: Slot,
    child: Id,
    child_abs: bool,
    is_t: &dyn Fn(&Leaf) -> bool,
) -> bool {
    let lv = level(expr, child, child_abs);
    // Whether the child, as printed here, starts with a minus (`abs`
    // printing drops one leading minus; another may follow, as in `-(-a)`).
    let neg = if child_abs {
        negative_after_strip(expr, child)
    } else {
        negative_lead(expr, child)
    };
    match (parent, slot) {
        (Node::Add(_), Slot::Left) | (Node::Sub(_), Slot::Left) => false,
        // a + (b + c) and a + (b - c) read the same without parentheses.
        (Node::Add(_), _) => lv < Level::Sum || neg,
        (Node::Sub(_), _) => lv <= Level::Sum || neg,
        (Node::Mul(_) | Node::Had(_) | Node::Div(_), Slot::Left) => {
            lv < Level::Product || mixed_product(parent, product_of(expr, child))
        }
        (Node::Mul(_) | Node::Had(_), _) => {
            let same_op =
                std::mem::discriminant(parent) == std::mem::discriminant(product_of(expr, child));
            lv < Level::Product
                || (lv == Level::Product && !(same_op && same_spine(expr, child)))
                || neg
        }
        (Node::Div(_), _) => lv <= Level::Product || neg,
        // `-(a * b)` reads the same as `-a * b`: a product is linear in its
        // first factor.
        (Node::Neg(_), _) => (lv < Level::Power && lv != Level::Product) || neg,
        (Node::Pow(_), Slot::Left) => lv <= Level::Power || neg,
        (Node::Pow(_), _) => lv < Level::Power || neg || starts_with_t(expr, child, is_t),
        (Node::Trans(_), _) => lv < Level::Postfix || neg,
        _ => false,
    }
}

/// Whether the left spine of a product chain uses one operator only, so
/// that printing it after the same operator without parentheses reads back
/// as the same product.
fn same_spine(expr: &RecExpr<Node>, id: Id) -> bool {
    let op = std::mem::discriminant(&expr[id]);
    let mut at = id;
    loop {
        match &expr[at] {
            Node::Mul([a, _]) | Node::Had([a, _]) | Node::Div([a, _]) => {
                if std::mem::discriminant(&expr[at]) != op {
                    return false;
                }
                if level(expr, *a, false) != Level::Product {
                    return true;
                }
                at = *a;
            }
            _ => return true,
        }
    }
}

/// The product a node prints as: itself, or the product under a minus.
fn product_of(expr: &RecExpr<Node>, id: Id) -> &Node {
    match &expr[id] {
        Node::Neg(a) if matches!(expr[*a], Node::Mul(_) | Node::Had(_) | Node::Div(_)) => &expr[*a],
        other => other,
    }
}

/// `.*` inside `*` (or the reverse) reads ambiguously without parentheses.
fn mixed_product(parent: &Node, child: &Node) -> bool {
    matches!(
        (parent, child),
        (Node::Mul(_), Node::Had(_)) | (Node::Had(_), Node::Mul(_)) | (Node::Div(_), Node::Had(_))
    )
}

/// Whether the term still starts with a minus once its leading minus is
/// dropped (`-(-a)` without its sign is `-a`).
fn negative_after_strip(expr: &RecExpr<Node>, id: Id) -> bool {
    match &expr[id] {
        Node::Neg(a) => negative_lead(expr, *a),
        Node::Mul([a, _])
        | Node::Had([a, _])
        | Node::Div([a, _])
        | Node::Add([a, _])
        | Node::Sub([a, _]) => {
            level(expr, *a, false) >= Level::Product && negative_after_strip(expr, *a)
        }
        _ => false,
    }
}

/// Whether the node is a sum or difference.
pub fn is_sum(node: &Node) -> bool {
    matches!(node, Node::Add(_) | Node::Sub(_))
}

/// The shape of every node of `expr` as written, where the leaves' shapes
/// tell it (`None` where they do not, or a product does not check).
pub fn shapes(expr: &RecExpr<Node>, leaves: &dyn LeafShapes) -> Vec<Option<Shape>> {
    let mut out: Vec<Option<Shape>> = Vec::with_capacity(expr.as_ref().len());
    for n in expr.as_ref() {
        let of = |id: &Id| out[usize::from(*id)].clone();
        let s = match n {
            Node::Num(_) => Some(Shape::scalar()),
            Node::Leaf(Leaf::Fn(_)) => None,
            Node::Leaf(l) => Some(leaves.leaf_shape(l)),
            Node::Add([a, b]) | Node::Sub([a, b]) | Node::Had([a, b]) => match (of(a), of(b)) {
                (Some(x), y) if !x.is_scalar() => Some(x).or(y),
                (_, y) => y,
            },
            Node::Mul([a, b]) => match (of(a), of(b)) {
                (Some(x), Some(y)) => match x.product(&y) {
                    Product::Scale(s) | Product::Matrix(s) => Some(s),
                    Product::Mismatch => None,
                },
                _ => None,
            },
            Node::Div([a, _]) | Node::Pow([a, _]) | Node::Softmax(a) => of(a),
            Node::Trans(a) => of(a).map(|s| s.transpose()),
            Node::SumAll(_) | Node::Prod(_) | Node::Det(_) | Node::Trace(_) => {
                Some(Shape::scalar())
            }
            Node::Call([f, _]) | Node::Grad([f, _]) | Node::Hess([f, _]) | Node::JacF([f, _]) => {
                match &expr[*f] {
                    Node::Leaf(Leaf::Fn(k)) => {
                        Some(n.fn_shape(leaves.fn_domain(*k), leaves.fn_codomain(*k)))
                    }
                    _ => None,
                }
            }
            Node::Sum([_, e]) => of(e),
            Node::Eye(n) => match &expr[*n] {
                Node::Leaf(Leaf::Dim(d)) => Some(Shape::matrix(Poly::dim(*d), Poly::dim(*d))),
                Node::Num(r) => r
                    .to_i64()
                    .map(|k| Shape::matrix(Poly::int(k), Poly::int(k))),
                _ => None,
            },
            Node::Zeros([m, n]) => {
                let size = |id: &Id| match &expr[*id] {
                    Node::Leaf(Leaf::Dim(d)) => Some(Poly::dim(*d)),
                    Node::Num(r) => r.to_i64().map(Poly::int),
                    _ => None,
                };
                match (size(m), size(n)) {
                    (Some(a), Some(b)) => Some(Shape::matrix(a, b)),
                    _ => None,
                }
            }
            Node::Inv(a) => of(a),
            Node::Diag(a) => of(a).map(|s| Shape::matrix(s.rows.clone(), s.rows)),
            Node::Neg(a) => of(a),
            Node::Block(_) | Node::Row(_) | Node::Vjp(_) | Node::Jac(_) => None,
            other => match other.as_act() {
                Some((_, _, a)) => of(&a),
                None => None,
            },
        };
        out.push(s);
    }
    out
}

/// Whether `left * child`, `child` a product printed without parentheses
/// after `left` (`X * Y * Z` for `X * (Y * Z)`), reads back as the same
/// value: a matrix product regroups, but `M^T * (a^T * h)` scales `M^T` by
/// the inner product, while `M^T * a^T * h` does not check. Each product
/// of the regrouped chain must check, as far as the shapes are known, and
/// a scalar right side keeps its parentheses (it scales).
pub fn regroups(expr: &RecExpr<Node>, shapes: &[Option<Shape>], left: Id, child: Id) -> bool {
    let mut factors = Vec::new();
    printed_factors(expr, shapes, child, &mut factors);
    let shape = |id: Id| shapes.get(usize::from(id)).cloned().flatten();
    let Some(mut acc) = shape(left) else {
        return false;
    };
    // A scalar product after a matrix (`w * (b^T * u)`) is a scaling;
    // written without parentheses it would read as an outer product first.
    if shape(child).is_none_or(|s| s.is_scalar()) && !acc.is_scalar() {
        return false;
    }
    // Only a chain of matrix products regroups as written: a scaling inside
    // it (`a^T * x * b^T * y * z`) reads back as another grouping of
    // scalings and inner products, the same value but not the same form.
    for f in factors {
        let Some(s) = shape(f) else { return false };
        acc = match acc.product(&s) {
            Product::Matrix(s) => s,
            Product::Scale(_) | Product::Mismatch => return false,
        };
    }
    true
}

/// The factors a product prints as, left to right, where it prints
/// without parentheses: its left operand's, then its right operand's when
/// that is a product printed without them too (`a * (b * c)` as
/// `a * b * c`).
fn printed_factors(expr: &RecExpr<Node>, shapes: &[Option<Shape>], id: Id, out: &mut Vec<Id>) {
    match &expr[id] {
        Node::Mul([l, r]) => {
            printed_factors(expr, shapes, *l, out);
            let parent = &expr[id];
            let flat = matches!(expr[*r], Node::Mul(_))
                && !needs_parens(expr, parent, Slot::Right, *r, false, &|_| false)
                && regroups(expr, shapes, *l, *r);
            if flat {
                printed_factors(expr, shapes, *r, out);
            } else {
                out.push(*r);
            }
        }
        _ => out.push(id),
    }
}

/// Whether the child `id` in `slot` of `parent` reads back as the same
/// value without parentheses, as far as grouping by shape goes (see
/// [`regroups`]): only a product on the right of a product can regroup.
pub fn product_reads_back(
    expr: &RecExpr<Node>,
    shapes: &[Option<Shape>],
    parent: &Node,
    slot: Slot,
    id: Id,
) -> bool {
    match (parent, slot, &expr[id]) {
        (Node::Mul([left, _]), Slot::Right, Node::Mul(_)) => regroups(expr, shapes, *left, id),
        _ => true,
    }
}

/// The divisor of `a .* b^(-1)` where it prints as the elementwise
/// quotient `a ./ b`: `b` when the node at `id` is such a product and both
/// sides have one known shape (a scalar divisor prints as a power), or
/// `a * b^(-1)` with `a` a scalar and `b` not (`1 ./ v`, each entry's
/// inverse).
pub fn hadamard_divisor(expr: &RecExpr<Node>, shapes: &[Option<Shape>], id: Id) -> Option<Id> {
    let shape = |k: Id| shapes.get(usize::from(k)).cloned().flatten();
    let (a, b, scaled) = match &expr[id] {
        Node::Had([a, b]) => (*a, *b, false),
        Node::Mul([a, b]) => (*a, *b, true),
        _ => return None,
    };
    let Node::Pow([base, e]) = &expr[b] else {
        return None;
    };
    let minus_one = matches!(&expr[*e], Node::Num(r) if *r == crate::num::Rational::int(-1));
    let fits = match (shape(a), shape(*base)) {
        (Some(x), Some(y)) if scaled => x.is_scalar() && !y.is_scalar(),
        (Some(x), Some(y)) => x == y,
        _ => false,
    };
    (minus_one && fits).then_some(*base)
}

/// `expr` with each elementwise inverse `v^(-1)` of a vector or matrix
/// that does not print as the divisor of a quotient written `1 * v^(-1)`
/// (a scaled inverse), so that it prints as `1 ./ v`, not as a power that
/// could read as a matrix inverse; `None` where there is none.
pub fn lone_inverses_as_quotients(
    expr: &RecExpr<Node>,
    shapes: &[Option<Shape>],
) -> Option<RecExpr<Node>> {
    use egg::Language;
    let nodes = expr.as_ref();
    let inverse = |id: Id| match &expr[id] {
        Node::Pow([base, e]) => {
            matches!(&expr[*e], Node::Num(r) if *r == crate::num::Rational::int(-1))
                && shapes
                    .get(usize::from(*base))
                    .cloned()
                    .flatten()
                    .is_some_and(|s| !s.is_scalar())
        }
        _ => false,
    };
    // The children each node prints as themselves: all but the divisor of
    // a quotient.
    let plain_children = |id: Id| -> Vec<Id> {
        let n = &expr[id];
        match (n, hadamard_divisor(expr, shapes, id)) {
            (Node::Mul([a, _]) | Node::Had([a, _]), Some(_)) => vec![*a],
            _ => n.children().to_vec(),
        }
    };
    let mut lone = vec![false; nodes.len()];
    let root = crate::ir::root(expr);
    lone[usize::from(root)] = inverse(root);
    for k in 0..nodes.len() {
        for c in plain_children(Id::from(k)) {
            if inverse(c) {
                lone[usize::from(c)] = true;
            }
        }
    }
    if !lone.iter().any(|&l| l) {
        return None;
    }
    // Each node's id in the new expression, as itself (`own`) and as a
    // child it prints as itself (`used`: a lone inverse as `1 * v^(-1)`).
    let mut out: Vec<Node> = Vec::with_capacity(nodes.len() + 4);
    let mut own: Vec<Id> = Vec::with_capacity(nodes.len());
    let mut used: Vec<Id> = Vec::with_capacity(nodes.len());
    for (k, n) in nodes.iter().enumerate() {
        let id = Id::from(k);
        let copied = match (n, hadamard_divisor(expr, shapes, id)) {
            (Node::Mul([a, b]), Some(_)) => {
                Node::Mul([used[usize::from(*a)], own[usize::from(*b)]])
            }
            (Node::Had([a, b]), Some(_)) => {
                Node::Had([used[usize::from(*a)], own[usize::from(*b)]])
            }
            _ => n.clone().map_children(|c| used[usize::from(c)]),
        };
        out.push(copied);
        let at = Id::from(out.len() - 1);
        own.push(at);
        if lone[k] {
            out.push(Node::Num(crate::num::Rational::one()));
            let one = Id::from(out.len() - 1);
            out.push(Node::Mul([one, at]));
            used.push(Id::from(out.len() - 1));
        } else {
            used.push(at);
        }
    }
    Some(out.into())
}
