//! Reverse-mode differentiation of an instance's loss, on the evaluator:
//! the loss is evaluated once with every operation recorded on a tape, and
//! one backward pass gives the derivative of the loss with respect to every
//! value of every variable and every parameter. It is the numeric truth
//! that derived adjoints and gradients are checked against (exact up to
//! rounding, where finite differences carry an error of their own), and it
//! knows nothing of the rewrite rules: only the forward semantics of each
//! operation and its local derivative.
//!
//! The adjoint of a variable's value is that of the value as its consumers
//! read it, like a finite difference that perturbs it after it is computed;
//! by the convention of the printed equations, the adjoint of a value the
//! model does not compute is zero (see [`super::FdAdjoints`]).

use super::{Adjoints, EvalError, Evaluator, Instance, Mat, Result};
use crate::ir::{Fun, Ix, Leaf, Node, Ref, Target};
use crate::model::VarKind;
use egg::{Id, RecExpr};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeSet;

/// One recorded operation: what its backward step needs.
#[derive(Debug, Clone)]
enum Op {
    /// A constant, an input, a parameter, a value given to the model.
    Leaf,
    /// A variable's value as its consumers read it.
    Value(usize),
    /// A scalar broadcast to a matrix of the variable's size.
    Fill(usize),
    Add(usize, usize),
    Sub(usize, usize),
    Neg(usize),
    Had(usize, usize),
    Mul(usize, usize),
    Div(usize, usize),
    Pow(usize, usize),
    Trans(usize),
    Act(Fun, usize),
    Call(u32, usize),
    Grad(u32, usize),
    Hess(u32, usize),
    SumAll(usize),
    Prod(usize),
    Softmax(usize),
    Det(usize),
    Inv(usize),
    Trace(usize),
    Diag(usize),
    /// Cells by block row, with each block row's height and each block
    /// column's width.
    Block(Vec<Vec<usize>>, Vec<usize>, Vec<usize>),
}

/// The tape of one evaluation of the loss.
struct Tape<'i> {
    inst: &'i Instance<'i>,
    ops: Vec<Op>,
    vals: Vec<Mat>,
    /// Whether each node depends on a parameter or a variable's value.
    varying: Vec<bool>,
    /// The node of each variable value, by variable and index values.
    values: HashMap<(u32, Vec<i64>), usize>,
    /// Values being computed, to report a cycle instead of recursing.
    busy: BTreeSet<(u32, Vec<i64>)>,
    /// The node of each parameter, once read.
    params: HashMap<u32, usize>,
}

fn err(msg: &str) -> EvalError {
    EvalError(msg.to_owned())
}

impl<'i> Tape<'i> {
    fn push(&mut self, op: Op, val: Mat) -> usize {
        let varying = match &op {
            Op::Leaf => false,
            Op::Value(_) => true,
            Op::Block(cells, _, _) => cells.iter().flatten().any(|&c| self.varying[c]),
            Op::Fill(a)
            | Op::Neg(a)
            | Op::Trans(a)
            | Op::Act(_, a)
            | Op::Call(_, a)
            | Op::Grad(_, a)
            | Op::Hess(_, a)
            | Op::SumAll(a)
            | Op::Prod(a)
            | Op::Softmax(a)
            | Op::Det(a)
            | Op::Inv(a)
            | Op::Trace(a)
            | Op::Diag(a) => self.varying[*a],
            Op::Add(a, c)
            | Op::Sub(a, c)
            | Op::Had(a, c)
            | Op::Mul(a, c)
            | Op::Div(a, c)
            | Op::Pow(a, c) => self.varying[*a] || self.varying[*c],
        };
        self.ops.push(op);
        self.vals.push(val);
        self.varying.push(varying);
        self.vals.len() - 1
    }

    fn leaf(&mut self, val: Mat) -> usize {
        self.push(Op::Leaf, val)
    }

    /// A leaf the loss is differentiated by: a parameter, or a value given
    /// to the model.
    fn input(&mut self, val: Mat) -> usize {
        let n = self.leaf(val);
        self.varying[n] = true;
        n
    }

    fn param(&mut self, p: u32) -> Result<usize> {
        if let Some(&n) = self.params.get(&p) {
            return Ok(n);
        }
        let v = self.inst.param(p)?;
        let n = self.input(v);
        self.params.insert(p, n);
        Ok(n)
    }

    /// The node of a variable's value at `at`: computed by its equation,
    /// set by `init`, or given.
    fn value(&mut self, var: u32, at: &[i64]) -> Result<usize> {
        let key = (var, at.to_vec());
        if let Some(&n) = self.values.get(&key) {
            return Ok(n);
        }
        if !self.busy.insert(key.clone()) {
            return Err(err("a value depends on itself"));
        }
        let inner = self.compute(var, at);
        self.busy.remove(&key);
        let inner = inner?;
        let v = self.vals[inner].clone();
        let n = self.push(Op::Value(inner), v);
        self.values.insert(key, n);
        Ok(n)
    }

    fn compute(&mut self, var: u32, at: &[i64]) -> Result<usize> {
        let inst = self.inst;
        let model = inst.model;
        let decl = model
            .vars
            .get(var as usize)
            .ok_or_else(|| err("an unknown variable"))?;
        if let Some(init) = inst.init_of(var, at) {
            let mut b: Vec<Option<i64>> = vec![None; model.indices.len()];
            for (ix, &v) in init.target.at.iter().zip(at) {
                if let Ix::Rel(i, _) = *ix {
                    b[i as usize] = Some(v);
                }
            }
            let n = self.eval(&init.value, &b)?;
            return self.fit(var, n);
        }
        let eq = match decl.kind {
            VarKind::Defined(e) if inst.computed(var, at) => &model.equations[e],
            _ => {
                let given = super::Forward::new(inst, None).value(var, at)?;
                return Ok(self.input(given));
            }
        };
        let mut b: Vec<Option<i64>> = vec![None; model.indices.len()];
        for (ix, &v) in eq.lhs.at.iter().zip(at) {
            if let Ix::Rel(i, d) = *ix {
                b[i as usize] = Some(
                    v.checked_sub(d)
                        .ok_or_else(|| err("an index out of range"))?,
                );
            }
        }
        let n = self.eval(&eq.rhs, &b)?;
        self.fit(var, n)
    }

    /// A scalar boundary value or right side fills the variable's shape.
    fn fit(&mut self, var: u32, n: usize) -> Result<usize> {
        let (rows, cols) = self.inst.size(var)?;
        let v = &self.vals[n];
        if !v.is_scalar() || (rows, cols) == (1, 1) {
            return Ok(n);
        }
        let x = v.as_scalar()?;
        Ok(self.push(Op::Fill(n), Mat::from_fn(rows, cols, |_, _| x)))
    }

    fn reference(&mut self, r: &Ref, b: &[Option<i64>]) -> Result<usize> {
        let t = Evaluator::tuple(self.inst, &r.at, b)?;
        self.value(r.var, &t)
    }

    fn eval(&mut self, e: &RecExpr<Node>, b: &[Option<i64>]) -> Result<usize> {
        let mut b = b.to_vec();
        self.node(e, crate::ir::root(e), &mut b)
    }

    fn node(&mut self, e: &RecExpr<Node>, id: Id, b: &mut Vec<Option<i64>>) -> Result<usize> {
        let inst = self.inst;
        let val = |t: &Tape<'_>, n: usize| t.vals[n].clone();
        Ok(match &e[id] {
            Node::Num(r) => self.leaf(Mat::scalar(r.to_f64())),
            Node::Leaf(l) => match l {
                Leaf::Dim(d) => self.leaf(Mat::scalar(inst.dim(*d) as f64)),
                Leaf::Param(p) => self.param(*p)?,
                Leaf::Var(r) => self.reference(r, b)?,
                Leaf::Index(i) => match b.get(*i as usize).copied().flatten() {
                    Some(v) => self.leaf(Mat::scalar(v as f64)),
                    None => return Err(err("an unbound index")),
                },
                Leaf::Bar(_) | Leaf::Fn(_) => {
                    return Err(err("the loss refers to an adjoint or a function name"))
                }
            },
            Node::Add([x, y]) | Node::Sub([x, y]) | Node::Had([x, y]) | Node::Mul([x, y]) => {
                let (a, c) = (self.node(e, *x, b)?, self.node(e, *y, b)?);
                let (va, vc) = (val(self, a), val(self, c));
                match &e[id] {
                    Node::Add(_) => self.push(Op::Add(a, c), va.add(&vc)?),
                    Node::Sub(_) => self.push(Op::Sub(a, c), va.sub(&vc)?),
                    Node::Had(_) => self.push(Op::Had(a, c), va.had(&vc)?),
                    _ => self.push(Op::Mul(a, c), va.mul(&vc)?),
                }
            }
            Node::Div([x, y]) => {
                let (a, c) = (self.node(e, *x, b)?, self.node(e, *y, b)?);
                let d = self.vals[c].as_scalar()?;
                let v = val(self, a).scale(1.0 / d);
                self.push(Op::Div(a, c), v)
            }
            Node::Pow([x, y]) => {
                let (a, c) = (self.node(e, *x, b)?, self.node(e, *y, b)?);
                let p = self.vals[c].as_scalar()?;
                let v = val(self, a).map(|u| u.powf(p));
                self.push(Op::Pow(a, c), v)
            }
            Node::Neg(x) => {
                let a = self.node(e, *x, b)?;
                let v = val(self, a).scale(-1.0);
                self.push(Op::Neg(a), v)
            }
            Node::Trans(x) => {
                let a = self.node(e, *x, b)?;
                let v = val(self, a).transpose();
                self.push(Op::Trans(a), v)
            }
            Node::JacF(_) => return Err(err(
                "the derivative of `jac f(x)` needs second derivatives of a vector-valued function",
            )),
            Node::Call([f, x]) | Node::Grad([f, x]) | Node::Hess([f, x]) => {
                let Node::Leaf(Leaf::Fn(fid)) = &e[*f] else {
                    return Err(err("a call of something that is not a function"));
                };
                let func = inst.func(*fid)?;
                let a = match &e[*x] {
                    Node::Num(r) => self.leaf(Mat::zeros(func.domain(), 1).map(|_| r.to_f64())),
                    _ => self.node(e, *x, b)?,
                };
                let arg = val(self, a);
                match &e[id] {
                    Node::Call(_) => self.push(Op::Call(*fid, a), func.value_mat(&arg)?),
                    Node::Grad(_) => self.push(Op::Grad(*fid, a), func.grad(&arg)?),
                    _ => self.push(Op::Hess(*fid, a), func.hess(&arg)?),
                }
            }
            Node::Sum([t, body]) => {
                let Node::Leaf(Leaf::Index(i)) = &e[*t] else {
                    return Err(err("a sum over something that is not an index"));
                };
                let (lo, hi) = inst.range(*i);
                let slot = *i as usize;
                if b.len() <= slot {
                    b.resize(slot + 1, None);
                }
                let saved = b[slot];
                let mut total: Option<usize> = None;
                for v in lo..=hi {
                    b[slot] = Some(v);
                    let term = self.node(e, *body, b);
                    let term = match term {
                        Ok(t) => t,
                        Err(x) => {
                            b[slot] = saved;
                            return Err(x);
                        }
                    };
                    total = Some(match total {
                        Some(acc) => {
                            let v = val(self, acc).add(&self.vals[term])?;
                            self.push(Op::Add(acc, term), v)
                        }
                        None => term,
                    });
                }
                b[slot] = saved;
                match total {
                    Some(t) => t,
                    None => self.leaf(Mat::scalar(0.0)),
                }
            }
            Node::SumAll(x) => {
                let a = self.node(e, *x, b)?;
                let s = self.vals[a].entries().iter().sum();
                self.push(Op::SumAll(a), Mat::scalar(s))
            }
            Node::Prod(x) => {
                let a = self.node(e, *x, b)?;
                let p = self.vals[a].entries().iter().product();
                self.push(Op::Prod(a), Mat::scalar(p))
            }
            Node::Softmax(x) => {
                let a = self.node(e, *x, b)?;
                let s = self.vals[a].softmax();
                self.push(Op::Softmax(a), s)
            }
            Node::Eye(_) | Node::Zeros(_) => {
                let v =
                    super::Forward::new(inst, None).eval(&crate::ir::build::subtree(e, id), b)?;
                self.leaf(v)
            }
            Node::Det(x) => {
                let a = self.node(e, *x, b)?;
                let v = Mat::scalar(self.vals[a].det()?);
                self.push(Op::Det(a), v)
            }
            Node::Inv(x) => {
                let a = self.node(e, *x, b)?;
                let v = self.vals[a].inv()?;
                self.push(Op::Inv(a), v)
            }
            Node::Trace(x) => {
                let a = self.node(e, *x, b)?;
                let v = Mat::scalar(self.vals[a].trace()?);
                self.push(Op::Trace(a), v)
            }
            Node::Diag(x) => {
                let a = self.node(e, *x, b)?;
                let v = self.vals[a].diag()?;
                self.push(Op::Diag(a), v)
            }
            Node::Block(rows) => {
                let mut cells = Vec::new();
                for r in rows.iter() {
                    let Node::Row(items) = &e[*r] else {
                        return Err(err("a block matrix without rows"));
                    };
                    let mut row = Vec::new();
                    for c in items.iter() {
                        row.push(self.node(e, *c, b)?);
                    }
                    cells.push(row);
                }
                let mats: Vec<Vec<Mat>> = cells
                    .iter()
                    .map(|r| r.iter().map(|&c| self.vals[c].clone()).collect())
                    .collect();
                let v = Mat::blocks(&mats)?;
                let heights = block_sizes(&mats, true);
                let widths = block_sizes(&mats, false);
                self.push(Op::Block(cells, heights, widths), v)
            }
            Node::Row(_) => return Err(err("a block row outside a block matrix")),
            Node::Vjp(_) | Node::Jac(_) => {
                return Err(err("an unresolved derivative has no numeric value"))
            }
            Node::Act(f, [x]) => {
                let a = self.node(e, *x, b)?;
                let v = self.vals[a].map(|u| f.eval(u));
                self.push(Op::Act(*f, a), v)
            }
        })
    }

    /// The adjoint of every node, from the adjoint of the last (the loss).
    fn backward(&self, root: usize) -> Result<Vec<Option<Mat>>> {
        let mut bar: Vec<Option<Mat>> = vec![None; self.vals.len()];
        bar[root] = Some(Mat::scalar(1.0));
        for n in (0..=root).rev() {
            if !self.varying[n] {
                continue;
            }
            let Some(g) = bar[n].take() else { continue };
            bar[n] = Some(g.clone());
            let v = |k: usize| &self.vals[k];
            let mut give = |k: usize, d: Mat| -> Result<()> {
                let d = reduce(d, v(k))?;
                bar[k] = Some(match bar[k].take() {
                    Some(prev) => prev.add(&d)?,
                    None => d,
                });
                Ok(())
            };
            match &self.ops[n] {
                Op::Leaf => {}
                Op::Value(a) => give(*a, g)?,
                Op::Fill(a) => give(*a, Mat::scalar(g.entries().iter().sum()))?,
                Op::Add(a, c) => {
                    give(*a, g.clone())?;
                    give(*c, g)?;
                }
                Op::Sub(a, c) => {
                    give(*a, g.clone())?;
                    give(*c, g.scale(-1.0))?;
                }
                Op::Neg(a) => give(*a, g.scale(-1.0))?,
                Op::Had(a, c) => {
                    give(*a, g.had(v(*c))?)?;
                    give(*c, g.had(v(*a))?)?;
                }
                Op::Mul(a, c) => {
                    let (va, vc) = (v(*a), v(*c));
                    if va.is_scalar() {
                        give(*a, Mat::scalar(dot(&g, vc)))?;
                        give(*c, g.scale(va.as_scalar()?))?;
                    } else if vc.is_scalar() {
                        give(*a, g.scale(vc.as_scalar()?))?;
                        give(*c, Mat::scalar(dot(&g, va)))?;
                    } else {
                        give(*a, g.mul(&vc.transpose())?)?;
                        give(*c, va.transpose().mul(&g)?)?;
                    }
                }
                Op::Div(a, c) => {
                    let d = v(*c).as_scalar()?;
                    give(*a, g.scale(1.0 / d))?;
                    give(*c, Mat::scalar(-dot(&g, v(*a)) / (d * d)))?;
                }
                Op::Pow(a, c) => {
                    let p = v(*c).as_scalar()?;
                    let du = v(*a).map(|u| if p == 0.0 { 0.0 } else { p * u.powf(p - 1.0) });
                    give(*a, g.had(&du)?)?;
                    // Only an exponent that is not a constant gets a share
                    // (the logarithm of a negative base is not defined).
                    if self.varying[*c] {
                        let dp = v(*a).map(|u| if u > 0.0 { u.powf(p) * u.ln() } else { 0.0 });
                        give(*c, Mat::scalar(dot(&g, &dp)))?;
                    }
                }
                Op::Trans(a) => give(*a, g.transpose())?,
                Op::Act(f, a) => {
                    let slope = v(*a).map(|u| f.slope(u));
                    give(*a, g.had(&slope)?)?;
                }
                Op::Call(f, a) => {
                    let d = self.inst.func(*f)?.vjp(v(*a), &g)?;
                    give(*a, d)?;
                }
                Op::Grad(f, a) => {
                    let hess = self.inst.func(*f)?.hess(v(*a))?;
                    give(*a, hess.mul(&g)?)?;
                }
                Op::Hess(f, a) => {
                    let d = self.inst.func(*f)?.hess_vjp(v(*a), &g)?;
                    give(*a, d)?;
                }
                Op::SumAll(a) => {
                    let s = g.as_scalar()?;
                    give(*a, v(*a).map(|_| s))?;
                }
                Op::Prod(a) => {
                    let s = g.as_scalar()?;
                    give(*a, v(*a).others_product().map(|x| x * s))?;
                }
                Op::Softmax(a) => {
                    // s .* (g - sum(s .* g))
                    let s = v(n);
                    let sg = dot(&g, s);
                    give(*a, s.had(&g.map(|x| x - sg))?)?;
                }
                Op::Det(a) => {
                    let det = v(*a).det()?;
                    let inv = v(*a).inv()?;
                    give(*a, inv.transpose().scale(g.as_scalar()? * det))?;
                }
                Op::Inv(a) => {
                    let it = v(n).transpose();
                    give(*a, it.mul(&g)?.mul(&it)?.scale(-1.0))?;
                }
                Op::Trace(a) => {
                    let k = v(*a).rows();
                    give(*a, Mat::identity(k).scale(g.as_scalar()?))?;
                }
                Op::Diag(a) => {
                    let k = v(*a).rows();
                    give(*a, Mat::from_fn(k, 1, |i, _| g.get(i, i)))?;
                }
                Op::Block(cells, heights, widths) => {
                    let mut r0 = 0;
                    for (r, row) in cells.iter().enumerate() {
                        let mut c0 = 0;
                        for (c, &cell) in row.iter().enumerate() {
                            let (h, w) = (heights[r], widths[c]);
                            let part = Mat::from_fn(h, w, |i, j| g.get(r0 + i, c0 + j));
                            give(cell, part)?;
                            c0 += w;
                        }
                        r0 += heights[r];
                    }
                }
            }
        }
        Ok(bar)
    }
}

/// The sizes of a block matrix's block rows (`true`) or columns, as
/// `Mat::blocks` places them.
fn block_sizes(cells: &[Vec<Mat>], rows: bool) -> Vec<usize> {
    let zero = |m: &Mat| m.is_scalar() && m.get(0, 0) == 0.0;
    let n = if rows {
        cells.len()
    } else {
        cells.first().map_or(0, Vec::len)
    };
    (0..n)
        .map(|k| {
            let found = if rows {
                cells[k].iter().find(|m| !zero(m)).map(Mat::rows)
            } else {
                cells
                    .iter()
                    .filter_map(|r| r.get(k))
                    .find(|m| !zero(m))
                    .map(Mat::cols)
            };
            found.unwrap_or(1)
        })
        .collect()
}

/// The sum of the entrywise products of two values of one shape (a scalar
/// standing for every entry).
fn dot(a: &Mat, b: &Mat) -> f64 {
    match a.had(b) {
        Ok(p) => p.entries().iter().sum(),
        Err(_) => f64::NAN,
    }
}

/// An adjoint brought to the shape of the operand it flows to: summed over
/// every entry where a scalar operand was broadcast.
fn reduce(d: Mat, to: &Mat) -> Result<Mat> {
    if to.is_scalar() && !d.is_scalar() {
        return Ok(Mat::scalar(d.entries().iter().sum()));
    }
    if d.is_scalar() && !to.is_scalar() {
        let x = d.as_scalar()?;
        return Ok(to.map(|_| x));
    }
    Ok(d)
}

/// The true adjoints of an instance, by reverse-mode differentiation of its
/// loss: every variable value's and every parameter's, from one backward
/// pass. Adjoints of the variables in `zero`, and of values the model does
/// not compute, are zero.
pub struct TapeAdjoints<'i> {
    inst: &'i Instance<'i>,
    zero: BTreeSet<u32>,
    values: HashMap<(u32, Vec<i64>), Mat>,
    params: HashMap<u32, Mat>,
}

impl<'i> TapeAdjoints<'i> {
    /// Differentiates the loss of `inst`.
    pub fn new(inst: &'i Instance<'i>, zero: BTreeSet<u32>) -> Result<TapeAdjoints<'i>> {
        let model = inst.model;
        let loss = model
            .loss
            .as_ref()
            .ok_or_else(|| err("the script has no loss"))?;
        let mut tape = Tape {
            inst,
            ops: Vec::new(),
            vals: Vec::new(),
            varying: Vec::new(),
            values: HashMap::default(),
            busy: BTreeSet::new(),
            params: HashMap::default(),
        };
        let b = vec![None; model.indices.len()];
        let root = tape.eval(&loss.value, &b)?;
        if !tape.vals[root].is_scalar() {
            return Err(err("the loss is not a scalar"));
        }
        let bar = tape.backward(root)?;
        let take = |n: usize| bar[n].clone().unwrap_or_else(|| tape.vals[n].map(|_| 0.0));
        let values = tape
            .values
            .iter()
            .map(|(k, &n)| (k.clone(), take(n)))
            .collect();
        let params = tape.params.iter().map(|(&p, &n)| (p, take(n))).collect();
        Ok(TapeAdjoints {
            inst,
            zero,
            values,
            params,
        })
    }
}

impl Adjoints for TapeAdjoints<'_> {
    fn adjoint(&self, target: &Target, at: &[i64]) -> Result<Mat> {
        match target {
            Target::Var(r) => {
                let (rows, cols) = self.inst.size(r.var)?;
                if self.zero.contains(&r.var) || !self.inst.has_adjoint(r.var, at) {
                    return Ok(Mat::zeros(rows, cols));
                }
                Ok(self
                    .values
                    .get(&(r.var, at.to_vec()))
                    .cloned()
                    .unwrap_or_else(|| Mat::zeros(rows, cols)))
            }
            Target::Param(p) => match self.params.get(p) {
                Some(m) => Ok(m.clone()),
                None => {
                    let m = self.inst.param(*p)?;
                    Ok(Mat::zeros(m.rows(), m.cols()))
                }
            },
        }
    }
}
