//! Numeric evaluation of the IR on concrete instances: small dims, seeded
//! random parameters, inputs and functions. Every derived result is checked
//! against this (finite differences, round trips, numeric determinants);
//! it is the ground truth of the tests and of `expect` counterexamples.

mod instance;
mod solved;
mod tape;
mod truth;
mod value;

pub use instance::{
    drawn_steps, loss_gradient, Forward, Instance, Perturb, Rng, TestFn, DEFAULT_STEPS,
    KINK_CROSSED,
};
pub use solved::SolvedAdjoints;
pub use tape::TapeAdjoints;
pub use truth::{positions, tuples, FdAdjoints, RandomAdjoints};
pub use value::Mat;

use crate::ir::{Ix, Leaf, Node, Ref, Target};
use egg::{Id, RecExpr};
use std::fmt;

/// Which side of its kink (0) each argument of a function with one falls
/// on (`relu`, `step`): a finite difference whose perturbed evaluations
/// put an argument on the other side from the unperturbed one measures a
/// jump, not a derivative, and is left out.
pub mod kinks {
    use super::Mat;
    use std::cell::RefCell;

    thread_local! {
        static SIDES: RefCell<Option<Vec<bool>>> = const { RefCell::new(None) };
    }

    /// Notes the sides of `arg`'s entries, while [`sides`] is recording.
    pub(crate) fn record(arg: &Mat) {
        SIDES.with(|s| {
            if let Some(v) = s.borrow_mut().as_mut() {
                v.extend(arg.entries().iter().map(|&x| x > 0.0));
            }
        });
    }

    /// Runs `f`, and gives the sides of every argument of a kinked
    /// function it evaluated, in order.
    pub fn sides<T>(f: impl FnOnce() -> T) -> (T, Vec<bool>) {
        let outer = SIDES.with(|s| s.replace(Some(Vec::new())));
        let out = f();
        let inner = SIDES.with(|s| s.replace(outer)).unwrap_or_default();
        // A recording around this one sees these arguments too.
        SIDES.with(|s| {
            if let Some(all) = s.borrow_mut().as_mut() {
                all.extend(&inner);
            }
        });
        (out, inner)
    }
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError(pub String);

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The result type of evaluation.
pub type Result<T> = std::result::Result<T, EvalError>;

/// Values of adjoint leaves (`bar(...)`) during evaluation.
pub trait Adjoints {
    /// The value of `bar(target)` at concrete index values.
    fn adjoint(&self, target: &Target, at: &[i64]) -> Result<Mat>;
}

/// No adjoint values: evaluating a `bar(...)` is an error.
pub struct NoAdjoints;

impl Adjoints for NoAdjoints {
    fn adjoint(&self, _: &Target, _: &[i64]) -> Result<Mat> {
        Err(EvalError("an adjoint has no value here".into()))
    }
}

/// Evaluates expressions against a forward pass.
pub struct Evaluator<'a> {
    /// Forward values of variables.
    pub forward: &'a Forward<'a>,
    /// Values of adjoints.
    pub adjoints: &'a dyn Adjoints,
    /// Variables whose values are replaced, as under `assuming`: each
    /// reference to the variable takes the value of the expression, with the
    /// variable's indices bound to the reference's index values.
    pub assumed: &'a [(u32, RecExpr<Node>)],
}

impl Evaluator<'_> {
    /// The concrete index values of a reference under a binding, in an
    /// instance (whose ranges place a position such as `T+1`).
    pub fn tuple(inst: &Instance<'_>, at: &[Ix], binding: &[Option<i64>]) -> Result<Vec<i64>> {
        at.iter()
            .map(|ix| match *ix {
                Ix::Abs(v) => Ok(v),
                Ix::End(i, o) => inst
                    .range(i)
                    .1
                    .checked_add(o)
                    .ok_or_else(|| EvalError("an index out of range".into())),
                Ix::Rel(i, o) => binding
                    .get(i as usize)
                    .copied()
                    .flatten()
                    .ok_or_else(|| EvalError("an index has no value".into()))
                    .and_then(|v| {
                        v.checked_add(o)
                            .ok_or_else(|| EvalError("an index out of range".into()))
                    }),
            })
            .collect()
    }

    fn var(&self, r: &Ref, binding: &[Option<i64>]) -> Result<Mat> {
        let t = Self::tuple(self.forward.instance(), &r.at, binding)?;
        // An assumption holds where the model computes the variable, not
        // at its boundary values; about an input, at every value given.
        let inst = self.forward.instance();
        let input = inst
            .model
            .vars
            .get(r.var as usize)
            .is_some_and(|d| d.kind == crate::model::VarKind::Input);
        let assumed = self
            .assumed
            .iter()
            .find(|(v, _)| *v == r.var)
            .filter(|_| input || inst.computed(r.var, &t));
        if let Some((_, value)) = assumed {
            let model = self.forward.instance().model;
            let mut b = vec![None; model.indices.len()];
            for (&i, &v) in model.vars[r.var as usize].indices.iter().zip(&t) {
                b[i as usize] = Some(v);
            }
            // An assumed constant (`i[t] = 0`) stands for every entry.
            let v = self.eval(value, &b)?;
            let actual = self.forward.value(r.var, &t)?;
            if v.is_scalar() && !actual.is_scalar() {
                let c = v.as_scalar()?;
                return Ok(Mat::from_fn(actual.rows(), actual.cols(), |_, _| c));
            }
            return Ok(v);
        }
        self.forward.value(r.var, &t)
    }

    /// Evaluates the whole expression with the given index values
    /// (`binding[i]` for index `i`).
    pub fn eval(&self, expr: &RecExpr<Node>, binding: &[Option<i64>]) -> Result<Mat> {
        if expr.as_ref().is_empty() {
            return Err(EvalError("an empty expression".into()));
        }
        let mut binding = binding.to_vec();
        self.node(expr, crate::ir::root(expr), &mut binding)
    }

    fn node(&self, e: &RecExpr<Node>, id: Id, b: &mut Vec<Option<i64>>) -> Result<Mat> {
        let inst = self.forward.instance();
        let go = |x: Id, b: &mut Vec<Option<i64>>| self.node(e, x, b);
        Ok(match &e[id] {
            Node::Num(r) => Mat::scalar(r.to_f64()),
            Node::Leaf(l) => match l {
                Leaf::Dim(d) => Mat::scalar(inst.dim(*d) as f64),
                Leaf::Param(p) => self.forward.param(*p)?,
                Leaf::Var(r) => self.var(r, b)?,
                Leaf::Bar(t) => {
                    let at = match t {
                        Target::Var(r) => Self::tuple(inst, &r.at, b)?,
                        Target::Param(_) => Vec::new(),
                    };
                    self.adjoints.adjoint(t, &at)?
                }
                Leaf::Index(i) => match b.get(*i as usize).copied().flatten() {
                    Some(v) => Mat::scalar(v as f64),
                    None => return Err(EvalError("an unbound index".into())),
                },
                Leaf::Fn(_) => return Err(EvalError("a function name is not a value".into())),
            },
            Node::Add([x, y]) => go(*x, b)?.add(&go(*y, b)?)?,
            Node::Sub([x, y]) => go(*x, b)?.sub(&go(*y, b)?)?,
            Node::Neg(x) => go(*x, b)?.scale(-1.0),
            Node::Mul([x, y]) => go(*x, b)?.mul(&go(*y, b)?)?,
            Node::Had([x, y]) => go(*x, b)?.had(&go(*y, b)?)?,
            Node::Div([x, y]) => {
                let d = go(*y, b)?.as_scalar()?;
                go(*x, b)?.scale(1.0 / d)
            }
            Node::Pow([x, y]) => {
                let p = go(*y, b)?.as_scalar()?;
                go(*x, b)?.map(|v| v.powf(p))
            }
            Node::Trans(x) => go(*x, b)?.transpose(),
            Node::Act(f, [x]) => {
                let arg = go(*x, b)?;
                if f.act.row().kink {
                    kinks::record(&arg);
                }
                arg.map(|v| f.eval(v))
            }
            Node::Call([f, x]) | Node::Grad([f, x]) | Node::Hess([f, x]) | Node::JacF([f, x]) => {
                let Node::Leaf(Leaf::Fn(fid)) = &e[*f] else {
                    return Err(EvalError(
                        "a call of something that is not a function".into(),
                    ));
                };
                let func = inst.func(*fid)?;
                let arg = match &e[*x] {
                    // A constant takes its shape from the function it is
                    // given to: `grad f(0)` is the gradient at the zero vector.
                    Node::Num(r) => Mat::zeros(func.domain(), 1).map(|_| r.to_f64()),
                    _ => go(*x, b)?,
                };
                match &e[id] {
                    Node::Call(_) => func.value_mat(&arg)?,
                    Node::Grad(_) => func.grad(&arg)?,
                    Node::JacF(_) => func.jac(&arg)?,
                    _ => func.hess(&arg)?,
                }
            }
            Node::Sum([t, body]) => {
                let Node::Leaf(Leaf::Index(i)) = &e[*t] else {
                    return Err(EvalError(
                        "a sum over something that is not an index".into(),
                    ));
                };
                let (lo, hi) = inst.range(*i);
                let slot = *i as usize;
                if b.len() <= slot {
                    b.resize(slot + 1, None);
                }
                let saved = b[slot];
                let mut total: Option<Mat> = None;
                for v in lo..=hi {
                    b[slot] = Some(v);
                    let term = go(*body, b);
                    let term = match term {
                        Ok(t) => t,
                        Err(err) => {
                            b[slot] = saved;
                            return Err(err);
                        }
                    };
                    total = Some(match total {
                        Some(acc) => acc.add(&term)?,
                        None => term,
                    });
                }
                b[slot] = saved;
                total.unwrap_or_else(|| Mat::scalar(0.0))
            }
            Node::SumAll(x) => Mat::scalar(go(*x, b)?.entries().iter().sum()),
            Node::Prod(x) => Mat::scalar(go(*x, b)?.entries().iter().product()),
            Node::Softmax(x) => go(*x, b)?.softmax(),
            Node::Eye(n) => {
                let n = go(*n, b)?.as_scalar()?;
                Mat::identity(size(n)?)
            }
            Node::Zeros([m, n]) => {
                let m = go(*m, b)?.as_scalar()?;
                let n = go(*n, b)?.as_scalar()?;
                Mat::zeros(size(m)?, size(n)?)
            }
            Node::Det(x) => Mat::scalar(go(*x, b)?.det()?),
            Node::Inv(x) => go(*x, b)?.inv()?,
            Node::Trace(x) => Mat::scalar(go(*x, b)?.trace()?),
            Node::Diag(x) => go(*x, b)?.diag()?,
            Node::Block(rows) => {
                let mut cells = Vec::new();
                for r in rows.iter() {
                    let Node::Row(items) = &e[*r] else {
                        return Err(EvalError("a block matrix without rows".into()));
                    };
                    let mut row = Vec::new();
                    for c in items.iter() {
                        row.push(go(*c, b)?);
                    }
                    cells.push(row);
                }
                Mat::blocks(&cells)?
            }
            Node::Row(_) => return Err(EvalError("a block row outside a block matrix".into())),
            Node::Vjp(_) | Node::Jac(_) => {
                return Err(EvalError(
                    "an unresolved derivative has no numeric value".into(),
                ))
            }
        })
    }
}

fn size(n: f64) -> Result<usize> {
    if n.fract() == 0.0 && (0.0..=4096.0).contains(&n) {
        Ok(n as usize)
    } else {
        Err(EvalError(format!("{n} is not a size")))
    }
}

/// The largest difference between two values, entry by entry, relative
/// to the larger magnitude of the two values as a whole (so tiny entries of
/// a large vector are not judged on their own), with magnitudes below
/// 1e-3 counted as 1e-3 (so an exact zero against finite-difference noise
/// of 1e-12 is a match, while a missing term of ordinary size never is).
pub fn rel_error(a: &Mat, b: &Mat) -> f64 {
    // A scalar such as `0` stands for that value in every entry.
    let widen = |s: &Mat, like: &Mat| {
        let v = s.get(0, 0);
        Mat::from_fn(like.rows(), like.cols(), |_, _| v)
    };
    if a.is_scalar() && !b.is_scalar() {
        return rel_error(&widen(a, b), b);
    }
    if b.is_scalar() && !a.is_scalar() {
        return rel_error(a, &widen(b, a));
    }
    if a.rows() != b.rows() || a.cols() != b.cols() {
        return f64::INFINITY;
    }
    let scale = a.max_abs().max(b.max_abs()).max(1e-3);
    let diff = a.sub(b).map_or(f64::INFINITY, |d| d.max_abs());
    diff / scale
}
