//! The e-class analysis every rewrite relies on: each class's shape (with
//! symbolic sizes) and, when known, its exact value as a polynomial in the
//! dims. Constant folding happens here, in exact arithmetic.
//!
//! A class whose value is a nonzero constant but whose shape is not scalar
//! (a gate assumed to be all ones) is never merged with a bare number: `1`
//! printed in a matrix product would read as scaling. Rules that need the
//! constant read it from the analysis instead.

use super::{Leaf, LeafShapes, Node, Ref};
use crate::num::Rational;
use crate::poly::Poly;
use crate::shape::{Product, Shape};
use egg::{Analysis, DidMerge, EGraph, Id, Language};
use rustc_hash::FxHashMap as HashMap;
use std::rc::Rc;

/// An interned shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShapeId(u32);

/// What the analysis knows about one e-class.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    /// The class's shape.
    pub shape: ShapeId,
    /// The class's exact value, if it is a constant or a polynomial in dims
    /// (broadcast to the shape).
    pub konst: Option<Poly>,
}

/// The analysis: interned shapes, the model's leaf shapes, and the values
/// that assumptions give to leaves.
#[derive(Clone)]
pub struct Meta {
    shapes: Vec<Shape>,
    ids: HashMap<Shape, ShapeId>,
    /// The shape of `a * b`, by the shapes of `a` and `b`, once worked out.
    products: HashMap<(ShapeId, ShapeId), ShapeId>,
    /// The shape of `a^T`, by the shape of `a`, once worked out.
    transposes: HashMap<ShapeId, ShapeId>,
    leaves: Rc<dyn LeafShapes>,
    /// Constant values of references under assumptions (`i[t+1] = 0`),
    /// set for the references where the assumption holds.
    pub assumed: HashMap<Ref, Rational>,
    /// Set when two different constants were merged: the assumptions
    /// contradict each other.
    pub contradiction: bool,
    /// Set when classes of two different shapes merged: a scalar
    /// broadcast against a zero made two different values congruent.
    pub shape_conflict: bool,
    /// The zero class of each non-scalar shape.
    pub zeros: HashMap<ShapeId, Id>,
    /// Scalars that a rewrite assumed nonzero (the scale of a block that a
    /// Schur complement inverts).
    pub nonzero: Vec<Id>,
}

impl std::fmt::Debug for Meta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meta")
            .field("shapes", &self.shapes.len())
            .finish()
    }
}

/// Leaf shapes of an empty model: every leaf a scalar.
struct NoLeaves;

impl LeafShapes for NoLeaves {
    fn leaf_shape(&self, _: &Leaf) -> Shape {
        Shape::scalar()
    }
    fn fn_domain(&self, _: u32) -> Shape {
        Shape::scalar()
    }
}

/// Only a placeholder for `egg::Runner`, which builds one before it is
/// handed the real e-graph.
impl Default for Meta {
    fn default() -> Meta {
        Meta::new(Rc::new(NoLeaves))
    }
}

impl Meta {
    /// An analysis for a model's leaves.
    pub fn new(leaves: Rc<dyn LeafShapes>) -> Meta {
        let mut m = Meta {
            shapes: Vec::new(),
            ids: HashMap::default(),
            products: HashMap::default(),
            transposes: HashMap::default(),
            leaves,
            assumed: HashMap::default(),
            contradiction: false,
            shape_conflict: false,
            zeros: HashMap::default(),
            nonzero: Vec::new(),
        };
        m.intern(&Shape::scalar());
        m
    }

    /// The id of a shape (copied only the first time it is seen).
    pub fn intern(&mut self, s: &Shape) -> ShapeId {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = ShapeId(self.shapes.len() as u32);
        self.shapes.push(s.clone());
        self.ids.insert(s.clone(), id);
        id
    }

    /// The shape of an id.
    pub fn shape(&self, id: ShapeId) -> &Shape {
        &self.shapes[id.0 as usize]
    }

    /// The model's leaf shapes.
    pub fn leaves(&self) -> &dyn LeafShapes {
        self.leaves.as_ref()
    }

    /// The scalar shape's id.
    pub fn scalar(&self) -> ShapeId {
        ShapeId(0)
    }
}

/// The e-graph type of every derivation.
pub type Graph = EGraph<Node, Meta>;

/// The shape of a class.
pub fn shape_of(eg: &Graph, id: Id) -> &Shape {
    eg.analysis.shape(eg[id].data.shape)
}

/// Whether a class is a scalar.
pub fn is_scalar(eg: &Graph, id: Id) -> bool {
    eg[id].data.shape == eg.analysis.scalar()
}

/// The class's constant value, if it is a plain number.
pub fn constant(eg: &Graph, id: Id) -> Option<Rational> {
    eg[id].data.konst.as_ref().and_then(Poly::as_constant)
}

fn elementwise(eg: &Graph, a: Id, b: Id) -> ShapeId {
    if is_scalar(eg, a) {
        eg[b].data.shape
    } else {
        eg[a].data.shape
    }
}

/// The value of a class as a rational, when it is an integer small enough
/// to be an exponent.
fn small_exponent(p: &Poly) -> Option<u32> {
    p.as_constant()
        .and_then(|c| c.to_i64())
        .and_then(|n| u32::try_from(n).ok())
}

impl Analysis<Node> for Meta {
    type Data = Data;

    fn make(eg: &mut Graph, enode: &Node, _id: Id) -> Data {
        let k = |i: &Id| eg[*i].data.konst.clone();
        let sh = |i: &Id| eg[*i].data.shape;
        let scalar = eg.analysis.scalar();
        let (shape, konst): (Option<Shape>, Option<Poly>) = match enode {
            Node::Num(r) => (None, Some(Poly::constant(r.clone()))),
            Node::Leaf(l) => {
                let konst = match l {
                    Leaf::Dim(d) => Some(Poly::dim(*d)),
                    Leaf::Var(r) => eg.analysis.assumed.get(r).cloned().map(Poly::constant),
                    _ => None,
                };
                let leaves = eg.analysis.leaves.clone();
                let shape = match leaves.stored_leaf_shape(l) {
                    Some(s) => eg.analysis.intern(s),
                    None => eg.analysis.intern(&leaves.leaf_shape(l)),
                };
                return Data { shape, konst };
            }
            Node::Add([a, b]) | Node::Sub([a, b]) => {
                let konst = match (k(a), k(b)) {
                    (Some(x), Some(y)) if matches!(enode, Node::Add(_)) => x.add(&y),
                    (Some(x), Some(y)) => x.sub(&y),
                    _ => None,
                };
                return Data {
                    shape: elementwise(eg, *a, *b),
                    konst,
                };
            }
            Node::Had([a, b]) => {
                let konst = match (k(a), k(b)) {
                    (Some(x), Some(y)) => x.mul(&y),
                    (Some(x), _) | (_, Some(x)) if x.is_zero() => Some(Poly::zero()),
                    _ => None,
                };
                return Data {
                    shape: elementwise(eg, *a, *b),
                    konst,
                };
            }
            Node::Neg(a) => {
                return Data {
                    shape: sh(a),
                    konst: k(a).map(|x| x.neg()),
                }
            }
            Node::Mul([a, b]) => {
                let (sa, sb) = (sh(a), sh(b));
                let konst = match (k(a), k(b)) {
                    (Some(x), _) | (_, Some(x)) if x.is_zero() => Some(Poly::zero()),
                    (Some(x), Some(y)) if sa == scalar || sb == scalar => x.mul(&y),
                    _ => None,
                };
                let shape = match eg.analysis.products.get(&(sa, sb)) {
                    Some(&s) => s,
                    None => {
                        let left = eg.analysis.shape(sa).clone();
                        let shape = match left.product(eg.analysis.shape(sb)) {
                            Product::Scale(s) | Product::Matrix(s) => s,
                            // Ill-shaped products are never built; keep the left shape.
                            Product::Mismatch => left,
                        };
                        let s = eg.analysis.intern(&shape);
                        eg.analysis.products.insert((sa, sb), s);
                        s
                    }
                };
                return Data { shape, konst };
            }
            Node::Div([a, b]) => {
                let konst = match (k(a), k(b).and_then(|y| y.as_constant())) {
                    (Some(x), Some(c)) if !c.is_zero() => x.div_const(&c),
                    // A zero divided is zero (where it is defined: a
                    // quotient holds where its divisor is nonzero).
                    (Some(x), _) if x.is_zero() => Some(Poly::zero()),
                    _ => None,
                };
                return Data {
                    shape: sh(a),
                    konst,
                };
            }
            Node::Pow([a, b]) => {
                let konst = match (k(a), k(b)) {
                    (Some(x), Some(e)) => match (x.as_constant(), e.as_constant()) {
                        (Some(c), Some(e)) => c.pow(&e).map(Poly::constant),
                        (None, _) => small_exponent(&e).and_then(|n| x.pow(n)),
                        _ => None,
                    },
                    _ => None,
                };
                return Data {
                    shape: sh(a),
                    konst,
                };
            }
            Node::Trans(a) => {
                let (sa, konst) = (sh(a), k(a));
                let shape = match eg.analysis.transposes.get(&sa) {
                    Some(&s) => s,
                    None => {
                        let t = eg.analysis.shape(sa).transpose();
                        let s = eg.analysis.intern(&t);
                        eg.analysis.transposes.insert(sa, s);
                        s
                    }
                };
                return Data { shape, konst };
            }
            Node::Act(f, [a]) => {
                let konst = match k(a).and_then(|x| x.as_constant()) {
                    Some(c) if !f.prime => (f.act.row().fold)(&c),
                    _ => None,
                };
                return Data {
                    shape: sh(a),
                    konst: konst.map(Poly::constant),
                };
            }
            Node::Call([f, _]) | Node::Grad([f, _]) | Node::Hess([f, _]) | Node::JacF([f, _]) => {
                let s = match &eg[*f].nodes.first() {
                    Some(Node::Leaf(Leaf::Fn(fid))) => enode.fn_shape(
                        eg.analysis.leaves.fn_domain(*fid),
                        eg.analysis.leaves.fn_codomain(*fid),
                    ),
                    _ => Shape::scalar(),
                };
                (Some(s), None)
            }
            Node::Det(_) | Node::Trace(_) => (None, None),
            Node::SumAll(a) => {
                let zero = k(a).is_some_and(|p| p.is_zero());
                (None, zero.then(Poly::zero))
            }
            Node::Prod(_) => (None, None),
            Node::Softmax(a) => {
                return Data {
                    shape: sh(a),
                    konst: None,
                }
            }
            Node::Sum([_, e]) => {
                return Data {
                    shape: sh(e),
                    konst: None,
                }
            }
            Node::Eye(n) => {
                let n = k(n).unwrap_or_else(|| Poly::int(1));
                (Some(Shape::matrix(n.clone(), n)), None)
            }
            Node::Zeros([m, n]) => {
                let m = k(m).unwrap_or_else(|| Poly::int(1));
                let n = k(n).unwrap_or_else(|| Poly::int(1));
                (Some(Shape::matrix(m, n)), Some(Poly::zero()))
            }
            Node::Inv(a) => {
                return Data {
                    shape: sh(a),
                    konst: None,
                }
            }
            Node::Diag(a) => {
                let n = eg.analysis.shape(sh(a)).rows.clone();
                (Some(Shape::matrix(n.clone(), n)), None)
            }
            Node::Row(cells) => {
                // A row's shape: the common height and the total width.
                let mut height: Option<Poly> = None;
                let mut width = Poly::zero();
                for c in cells.iter() {
                    let s = eg.analysis.shape(sh(c)).clone();
                    let zero_block = k(c).is_some_and(|p| p.is_zero()) && s.is_scalar();
                    if !zero_block && height.is_none() {
                        height = Some(s.rows.clone());
                    }
                    width = width.add(&s.cols).unwrap_or(width);
                }
                (
                    Some(Shape::matrix(height.unwrap_or_else(|| Poly::int(1)), width)),
                    None,
                )
            }
            Node::Block(rows) => {
                let mut height = Poly::zero();
                let mut width: Option<Poly> = None;
                for r in rows.iter() {
                    let s = eg.analysis.shape(sh(r)).clone();
                    height = height.add(&s.rows).unwrap_or(height);
                    if width.is_none() {
                        width = Some(s.cols);
                    }
                }
                (
                    Some(Shape::matrix(height, width.unwrap_or_else(|| Poly::int(1)))),
                    None,
                )
            }
            Node::Vjp([_, x, _]) => {
                return Data {
                    shape: sh(x),
                    konst: None,
                }
            }
            Node::Jac([x, e]) => {
                let rows = eg.analysis.shape(sh(e)).rows.clone();
                let cols = eg.analysis.shape(sh(x)).rows.clone();
                (Some(Shape::matrix(rows, cols)), None)
            }
        };
        let shape = match shape {
            Some(s) => eg.analysis.intern(&s),
            None => scalar,
        };
        Data { shape, konst }
    }

    fn merge(&mut self, to: &mut Data, from: Data) -> DidMerge {
        let mut changed = DidMerge(false, false);
        if to.shape != from.shape {
            // Every rule's merge checks shapes, and zeros are typed (the
            // zero of a vector is `0 * v`, never the scalar `0`); only
            // congruence over a broadcast can merge two shapes. The graph
            // then no longer tells two values apart: extraction and proofs
            // refuse it.
            self.shape_conflict = true;
            changed.1 = true;
        }
        match (&to.konst, from.konst) {
            (None, Some(k)) => {
                to.konst = Some(k);
                changed.0 = true;
            }
            (Some(a), Some(b)) if *a != b => {
                self.contradiction = true;
                changed.1 = true;
            }
            (Some(_), None) => changed.1 = true,
            _ => {}
        }
        changed
    }

    fn modify(eg: &mut Graph, id: Id) {
        let Some(p) = eg[id].data.konst.clone() else {
            return;
        };
        let scalar = is_scalar(eg, id);
        // A number stands for a constant only where it cannot be read as a
        // scalar of the wrong shape: in scalars. A vector that is zero stays
        // a vector (its class holds `0 * v`-like forms, and extraction
        // prints it as `0` where the shape cannot be misread).
        if !scalar {
            // One zero class per shape, as the scalar `0` is one class for
            // scalars: otherwise `2 * z`, `z + z`, ... of a zero `z` would
            // each be a new class and a rewrite could make them without end.
            if p.is_zero() {
                let shape = eg[id].data.shape;
                match eg.analysis.zeros.get(&shape).copied() {
                    Some(z) => {
                        eg.union(id, z);
                    }
                    None => {
                        eg.analysis.zeros.insert(shape, id);
                    }
                }
            }
            return;
        }
        let n = match p.as_constant() {
            Some(c) => eg.add(Node::Num(c)),
            None => add_poly(eg, &p),
        };
        eg.union(id, n);
    }
}

/// Whether a class is a constant zero (of its own shape).
pub fn is_zero(eg: &Graph, id: Id) -> bool {
    eg[id].data.konst.as_ref().is_some_and(|p| p.is_zero())
}

/// A zero of the shape of `id`: the scalar `0` for a scalar, `0 * id`
/// otherwise (zeros are typed: the scalar `0` in a vector's class would
/// read as a scalar wherever it is broadcast).
pub fn zero_like(eg: &mut Graph, id: Id) -> Id {
    let z = eg.add(Node::Num(crate::num::Rational::zero()));
    if is_scalar(eg, id) {
        z
    } else {
        eg.add(Node::Mul([z, id]))
    }
}

/// Merges `id` with zero (of its shape).
pub fn union_zero(eg: &mut Graph, id: Id) {
    let z = zero_like(eg, id);
    eg.union(id, z);
}

/// Merges `a` with `b`, where `b` may be the scalar `0` standing for a zero
/// of any shape.
pub fn union_value(eg: &mut Graph, a: Id, b: Id) {
    if is_zero(eg, b) && eg[a].data.shape != eg[b].data.shape {
        union_zero(eg, a);
    } else {
        eg.union(a, b);
    }
}

/// Adds a polynomial in dims in its canonical form (see
/// [`crate::ir::build::poly_nodes`]).
pub fn add_poly(eg: &mut Graph, p: &Poly) -> Id {
    crate::ir::build::poly_nodes(p, &mut |n| eg.add(n))
}

/// Every node of a class, for conditions that inspect them.
pub fn nodes_of(eg: &Graph, id: Id) -> &[Node] {
    &eg[id].nodes
}

/// Whether the class of `id` provably does not depend on the leaf class
/// `x`: some node of it is a constant or another leaf, or has only
/// children that do not depend on `x`. Sound in an e-graph whose leaves are
/// independent variables (no leaf merged with its definition).
pub fn independent(eg: &Graph, id: Id, x: Id) -> bool {
    fn go(eg: &Graph, id: Id, x: Id, memo: &mut HashMap<Id, bool>, depth: usize) -> bool {
        let id = eg.find(id);
        if id == x {
            return false;
        }
        if let Some(&v) = memo.get(&id) {
            return v;
        }
        if depth > 256 {
            return false;
        }
        // Assume dependence while visiting, so cycles do not prove anything.
        memo.insert(id, false);
        let ok = eg[id].nodes.iter().any(|n| match n {
            Node::Num(_) | Node::Leaf(_) => true,
            Node::Vjp(_) | Node::Jac(_) => false,
            other => other
                .children()
                .iter()
                .all(|&c| go(eg, c, x, memo, depth + 1)),
        });
        memo.insert(id, ok);
        ok
    }
    go(eg, id, eg.find(x), &mut HashMap::default(), 0)
}

/// Whether the class of `id` provably does not depend on index `i`: some
/// node of it mentions no reference at `i` (`h[i-1]`), no bound `i`, and
/// has only children that do not depend on it.
pub fn free_of_index(eg: &Graph, id: Id, i: u32) -> bool {
    fn mentions(l: &Leaf, i: u32) -> bool {
        let at = |r: &super::Ref| {
            r.at.iter()
                .any(|ix| matches!(ix, super::Ix::Rel(j, _) if *j == i))
        };
        match l {
            Leaf::Index(j) => *j == i,
            Leaf::Var(r) | Leaf::Bar(super::Target::Var(r)) => at(r),
            _ => false,
        }
    }
    fn go(eg: &Graph, id: Id, i: u32, memo: &mut HashMap<Id, bool>, depth: usize) -> bool {
        let id = eg.find(id);
        if let Some(&v) = memo.get(&id) {
            return v;
        }
        if depth > 256 {
            return false;
        }
        memo.insert(id, false);
        let ok = eg[id].nodes.iter().any(|n| match n {
            Node::Num(_) => true,
            Node::Leaf(l) => !mentions(l, i),
            other => other
                .children()
                .iter()
                .all(|&c| go(eg, c, i, memo, depth + 1)),
        });
        memo.insert(id, ok);
        ok
    }
    go(eg, id, i, &mut HashMap::default(), 0)
}
