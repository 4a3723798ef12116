//! The arithmetic of one expression as written: every sub-expression's
//! shape bottom-up from the leaf shapes, multiply-accumulates for matrix
//! products and elementwise work for everything else. It must not guess:
//! operations with no honest cost (declared functions, `det`, `inv`) are
//! named, never priced.

use crate::ir::{Act, Leaf, LeafShapes, Node};
use crate::model::Model;
use crate::poly::Poly;
use crate::shape::{Product, Shape};
use egg::{Language, RecExpr};
use std::collections::{BTreeMap, BTreeSet};

/// An elementwise function whose evaluations are counted by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Func {
    /// `sigma(a)`, `tanh(a)`, ... or, with `true`, their derivative forms.
    Act(Act, bool),
    /// `a ^ s`.
    Pow,
}

impl Func {
    /// The name as the language writes it: `tanh`, `sigma'`, `^`.
    pub fn name(self) -> String {
        match self {
            Func::Act(a, false) => a.name().to_owned(),
            Func::Act(a, true) => format!("{}'", a.name()),
            Func::Pow => "^".to_owned(),
        }
    }
}

/// What computing an expression costs, each part a polynomial in the dims.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cost {
    /// Multiply-accumulates of matrix products.
    pub macs: Poly,
    /// Elementwise additions and subtractions, and the additions of sums.
    pub adds: Poly,
    /// Elementwise multiplications: `.*`, scaling by a scalar, `/`, negation.
    pub muls: Poly,
    /// Entries each elementwise function is applied to.
    pub funcs: BTreeMap<Func, Poly>,
    /// Operations whose cost is not counted, in words.
    pub uncosted: BTreeSet<String>,
    /// Each matrix product, by its node in the expression costed, with the
    /// multiply-accumulates it costs in all (times the values of any sum
    /// around it); they add up to `macs`.
    pub products: Vec<(usize, Poly)>,
}

/// Why an expression could not be costed.
#[derive(Debug, Clone, PartialEq)]
pub enum CostError {
    /// A `sum` runs over an index with no declared range (its number).
    SumWithoutRange(u32),
    /// A `sum` runs over an index whose range may be empty for some dims.
    MaybeEmpty(u32),
    /// A count grew past the polynomial limits.
    TooLarge,
}

type Result<T> = std::result::Result<T, CostError>;

fn big<T>(x: Option<T>) -> Result<T> {
    x.ok_or(CostError::TooLarge)
}

fn entries(s: &Shape) -> Result<Poly> {
    big(s.rows.mul(&s.cols))
}

impl Cost {
    fn plus(&self, other: &Cost) -> Result<Cost> {
        let mut funcs = self.funcs.clone();
        for (f, n) in &other.funcs {
            let sum = match funcs.get(f) {
                Some(m) => big(m.add(n))?,
                None => n.clone(),
            };
            funcs.insert(*f, sum);
        }
        Ok(Cost {
            macs: big(self.macs.add(&other.macs))?,
            adds: big(self.adds.add(&other.adds))?,
            muls: big(self.muls.add(&other.muls))?,
            funcs,
            uncosted: self.uncosted.union(&other.uncosted).cloned().collect(),
            products: self
                .products
                .iter()
                .chain(&other.products)
                .cloned()
                .collect(),
        })
    }

    fn times(&self, n: &Poly) -> Result<Cost> {
        let mut funcs = BTreeMap::new();
        for (f, m) in &self.funcs {
            funcs.insert(*f, big(m.mul(n))?);
        }
        Ok(Cost {
            macs: big(self.macs.mul(n))?,
            adds: big(self.adds.mul(n))?,
            muls: big(self.muls.mul(n))?,
            funcs,
            uncosted: self.uncosted.clone(),
            products: self
                .products
                .iter()
                .map(|(k, m)| Ok((*k, big(m.mul(n))?)))
                .collect::<Result<_>>()?,
        })
    }

    fn add_to(slot: &mut Poly, n: &Poly) -> Result<()> {
        *slot = big(slot.add(n))?;
        Ok(())
    }
}

/// What the walk knows about one node.
struct Info {
    shape: Shape,
    /// The value, when the node is made of numbers and dims only: such a
    /// sub-expression is a constant, folded once, and costs nothing per value.
    konst: Option<Poly>,
    /// The cost of the sub-expression as written: a shared sub-expression
    /// is counted every time it is written.
    cost: Cost,
}

fn konst_of(node: &Node, k: &dyn Fn(usize) -> Option<Poly>) -> Option<Poly> {
    let arg = |id: &egg::Id| k(usize::from(*id));
    match node {
        Node::Num(r) => Some(Poly::constant(r.clone())),
        Node::Leaf(Leaf::Dim(d)) => Some(Poly::dim(*d)),
        Node::Add([a, b]) => arg(a)?.add(&arg(b)?),
        Node::Sub([a, b]) => arg(a)?.sub(&arg(b)?),
        Node::Mul([a, b]) => arg(a)?.mul(&arg(b)?),
        Node::Neg(a) => Some(arg(a)?.neg()),
        Node::Div([a, b]) => {
            let c = arg(b)?.as_constant()?;
            if c.is_zero() {
                return None;
            }
            arg(a)?.div_const(&c)
        }
        Node::Pow([a, b]) => {
            let n = arg(b)?.as_constant()?.to_i64()?;
            arg(a)?.pow(u32::try_from(n).ok()?)
        }
        _ => None,
    }
}

/// The cost of computing `expr` once, with every leaf given.
pub fn cost(model: &Model, expr: &RecExpr<Node>) -> Result<Cost> {
    let nodes = expr.as_ref();
    let mut info: Vec<Info> = Vec::with_capacity(nodes.len());
    for (k, node) in nodes.iter().enumerate() {
        let konst = konst_of(node, &|i| info[i].konst.clone());
        let shape = shape_of(model, nodes, node, &info);
        let cost = if konst.is_some() {
            Cost::default()
        } else {
            node_cost(model, nodes, k, &shape, &info)?
        };
        info.push(Info { shape, konst, cost });
    }
    Ok(info.pop().map(|i| i.cost).unwrap_or_default())
}

/// The cost of the sub-expression at `node`: its children's, plus its own.
fn node_cost(
    model: &Model,
    nodes: &[Node],
    k: usize,
    shape: &Shape,
    info: &[Info],
) -> Result<Cost> {
    let node = &nodes[k];
    let at = |id: &egg::Id| &info[usize::from(*id)];
    if let Node::Sum([t, body]) = node {
        // `sum(t, e)` computes `e` once per value of `t` and adds the
        // values up: n copies of the body and n - 1 additions per entry.
        let Node::Leaf(Leaf::Index(i)) = &nodes[usize::from(*t)] else {
            return Ok(at(body).cost.clone());
        };
        let range = model.indices.get(*i as usize).and_then(|d| d.range.clone());
        let Some((lo, hi)) = range else {
            return Err(CostError::SumWithoutRange(*i));
        };
        let n = big(hi.sub(&lo).and_then(|x| x.add(&Poly::int(1))))?;
        // An empty range would make `n - 1` additions negative.
        if !big(n.sub(&Poly::int(1)))?.never_negative() {
            return Err(CostError::MaybeEmpty(*i));
        }
        let mut cost = at(body).cost.times(&n)?;
        let adds = big(n
            .sub(&Poly::int(1))
            .and_then(|m| m.mul(&entries(shape).ok()?)))?;
        Cost::add_to(&mut cost.adds, &adds)?;
        return Ok(cost);
    }
    let mut cost = Cost::default();
    for c in node.children() {
        cost = cost.plus(&at(c).cost)?;
    }
    let n = entries(shape)?;
    match node {
        Node::Add(_) | Node::Sub(_) => Cost::add_to(&mut cost.adds, &n)?,
        Node::Neg(_) | Node::Had(_) | Node::Div(_) => Cost::add_to(&mut cost.muls, &n)?,
        Node::Mul([a, b]) => {
            let (sa, sb) = (&at(a).shape, &at(b).shape);
            match sa.product(sb) {
                Product::Scale(_) => Cost::add_to(&mut cost.muls, &n)?,
                // An m x k matrix times a k x n one: m*k*n multiply-accumulates.
                Product::Matrix(_) => {
                    let m = big(sa.rows.mul(&sa.cols).and_then(|x| x.mul(&sb.cols)))?;
                    Cost::add_to(&mut cost.macs, &m)?;
                    cost.products.push((k, m));
                }
                // The checker rejects these; never price what it let through.
                Product::Mismatch => {
                    cost.uncosted
                        .insert("a product of mismatched shapes".to_owned());
                }
            }
        }
        Node::Pow(_) => add_func(&mut cost, Func::Pow, &n)?,
        Node::SumAll(a) => {
            let m = big(entries(&at(a).shape)?.sub(&Poly::int(1)))?;
            Cost::add_to(&mut cost.adds, &m)?;
        }
        Node::Prod(a) => {
            let m = big(entries(&at(a).shape)?.sub(&Poly::int(1)))?;
            Cost::add_to(&mut cost.muls, &m)?;
        }
        // As written out: `exp` of each entry, their sum, a division each.
        Node::Softmax(_) => {
            add_func(&mut cost, Func::Act(Act::Exp, false), &n)?;
            Cost::add_to(&mut cost.adds, &big(n.sub(&Poly::int(1)))?)?;
            Cost::add_to(&mut cost.muls, &n)?;
        }
        Node::Trace(a) => {
            let m = big(at(a).shape.rows.sub(&Poly::int(1)))?;
            Cost::add_to(&mut cost.adds, &m)?;
        }
        Node::Call([f, _]) | Node::Grad([f, _]) | Node::Hess([f, _]) | Node::JacF([f, _]) => {
            let name = match &nodes[usize::from(*f)] {
                Node::Leaf(Leaf::Fn(k)) => model.symbols.func(*k).to_owned(),
                _ => "?".to_owned(),
            };
            cost.uncosted.insert(match node {
                Node::Call(_) => format!("calls of {name}"),
                Node::Grad(_) => format!("grad {name}"),
                Node::JacF(_) => format!("jac {name}"),
                _ => format!("hess {name}"),
            });
        }
        Node::Det(_) => {
            cost.uncosted.insert("det".to_owned());
        }
        Node::Inv(_) => {
            cost.uncosted.insert("inv".to_owned());
        }
        Node::Vjp(_) | Node::Jac(_) => {
            cost.uncosted.insert("unresolved derivatives".to_owned());
        }
        other => {
            if let Some((act, prime, _)) = other.as_act() {
                add_func(&mut cost, Func::Act(act, prime), &n)?;
            }
            // Leaves, numbers, transposes, identities, diagonals and block
            // assembly name or move values: no arithmetic.
        }
    }
    Ok(cost)
}

fn add_func(cost: &mut Cost, f: Func, n: &Poly) -> Result<()> {
    let slot = cost.funcs.entry(f).or_default();
    Cost::add_to(slot, n)
}

/// The shape of a node from its children's, by the checker's rules.
fn shape_of(model: &Model, nodes: &[Node], node: &Node, info: &[Info]) -> Shape {
    let at = |id: &egg::Id| info[usize::from(*id)].shape.clone();
    match node {
        Node::Num(_) => Shape::scalar(),
        Node::Leaf(l) => model.shape_of(l),
        Node::Add([a, b]) | Node::Sub([a, b]) | Node::Had([a, b]) => {
            let (sa, sb) = (at(a), at(b));
            sa.broadcast(&sb).unwrap_or(sa)
        }
        Node::Mul([a, b]) => {
            let (sa, sb) = (at(a), at(b));
            match sa.product(&sb) {
                Product::Scale(s) | Product::Matrix(s) => s,
                Product::Mismatch => sa,
            }
        }
        Node::Neg(a) | Node::Div([a, _]) | Node::Pow([a, _]) | Node::Inv(a) | Node::Softmax(a) => {
            at(a)
        }
        Node::Sum([_, e]) => at(e),
        Node::Trans(a) => at(a).transpose(),
        Node::Det(_) | Node::Trace(_) | Node::SumAll(_) | Node::Prod(_) => Shape::scalar(),
        Node::Call([f, _]) | Node::Grad([f, _]) | Node::Hess([f, _]) | Node::JacF([f, _]) => {
            match &nodes[usize::from(*f)] {
                Node::Leaf(Leaf::Fn(k)) => {
                    node.fn_shape(model.fn_domain(*k), model.fn_codomain(*k))
                }
                _ => Shape::scalar(),
            }
        }
        Node::Eye(n) => {
            let n = info[usize::from(*n)]
                .konst
                .clone()
                .unwrap_or_else(|| Poly::int(1));
            Shape::matrix(n.clone(), n)
        }
        Node::Zeros([m, n]) => {
            let size = |id: &egg::Id| {
                info[usize::from(*id)]
                    .konst
                    .clone()
                    .unwrap_or_else(|| Poly::int(1))
            };
            Shape::matrix(size(m), size(n))
        }
        Node::Diag(a) => {
            let n = at(a).rows;
            Shape::matrix(n.clone(), n)
        }
        Node::Block(rows) => block(nodes, rows, info),
        Node::Vjp([_, x, _]) => at(x),
        Node::Jac([x, e]) => Shape::matrix(at(e).rows, at(x).rows),
        // A row stands only inside its block, which sizes it.
        Node::Row(_) => Shape::scalar(),
        other => match other.as_act() {
            Some((_, _, a)) => at(&a),
            None => Shape::scalar(),
        },
    }
}

/// A block matrix: each block row as tall as its nonzero blocks, each block
/// column as wide as its nonzero blocks; a literal `0` takes its size from
/// its neighbours (the checker's rule, and a row or column of zeros only is
/// one wide).
fn block(nodes: &[Node], rows: &[egg::Id], info: &[Info]) -> Shape {
    let mut height = Poly::zero();
    let mut widths: Vec<Option<Poly>> = Vec::new();
    for r in rows {
        let Node::Row(cells) = &nodes[usize::from(*r)] else {
            continue;
        };
        let mut row_height: Option<Poly> = None;
        for (c, cell) in cells.iter().enumerate() {
            if widths.len() <= c {
                widths.resize(c + 1, None);
            }
            let zero = matches!(&nodes[usize::from(*cell)], Node::Num(z) if z.is_zero());
            if zero {
                continue;
            }
            let s = &info[usize::from(*cell)].shape;
            row_height.get_or_insert_with(|| s.rows.clone());
            widths[c].get_or_insert_with(|| s.cols.clone());
        }
        let h = row_height.unwrap_or_else(|| Poly::int(1));
        height = height.add(&h).unwrap_or(height);
    }
    let width = widths.iter().fold(Poly::zero(), |acc, w| {
        let w = w.clone().unwrap_or_else(|| Poly::int(1));
        acc.add(&w).unwrap_or(acc)
    });
    Shape::matrix(height, width)
}
