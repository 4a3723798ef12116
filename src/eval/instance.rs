//! A concrete instance of a model (dims, ranges, parameters, inputs and
//! functions drawn from a seed) and its forward pass, with the hooks that
//! finite differences need: one perturbed value, or one perturbed parameter.

use super::{EvalError, Evaluator, Mat, NoAdjoints, Result};
use crate::ir::{Ix, Node, Ref};
use crate::model::{Model, VarKind};
use egg::RecExpr;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::cell::RefCell;

/// A small deterministic generator (SplitMix64), the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for a seed and a tag path.
    pub fn new(seed: u64, tags: &[i64]) -> Rng {
        let mut r = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
        for &t in tags {
            r.0 ^= (t as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            r.next_u64();
        }
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A value away from the special points 0 and ±1: magnitude in
    /// `[0.2, 0.9]`, either sign.
    pub fn entry(&mut self) -> f64 {
        let m = 0.2 + 0.7 * self.uniform();
        if self.next_u64() & 1 == 0 {
            m
        } else {
            -m
        }
    }

    /// A random matrix of entries.
    pub fn mat(&mut self, rows: usize, cols: usize) -> Mat {
        Mat::from_fn(rows, cols, |_, _| self.entry())
    }
}

/// A smooth scalar function of a vector standing in for a declared `fn`:
/// `F(v) = sum_k a_k tanh(w_k . v + c_k) + v^T S v / 2 + b . v`, so its
/// gradient and Hessian are nontrivial and depend on `v`. A vector-valued
/// function (`fn f : D -> H`) is `f(v) = tanh(M v + c) + A v` instead, its
/// Jacobian `diag(1 - tanh(M v + c)^2) M + A`.
#[derive(Debug, Clone)]
pub struct TestFn {
    terms: Vec<(f64, Mat, f64)>,
    s: Mat,
    b: Mat,
    /// `(M, c, A)` of a vector-valued function.
    vector: Option<(Mat, Mat, Mat)>,
}

impl TestFn {
    /// The stand-in for a function of `n`-vectors whose values are
    /// `m`-vectors (`m = 0`: scalar-valued).
    fn with_values(rng: &mut Rng, n: usize, m: usize) -> TestFn {
        let mut f = TestFn::new(rng, n);
        if m > 0 {
            f.vector = Some((rng.mat(m, n), rng.mat(m, 1), rng.mat(m, n)));
        }
        f
    }

    /// `f(v)`: a scalar, or a vector for a vector-valued function.
    pub fn value_mat(&self, v: &Mat) -> Result<Mat> {
        match &self.vector {
            None => Ok(Mat::scalar(self.value(v)?)),
            Some((m, c, a)) => {
                self.check(v)?;
                m.mul(v)?.add(c)?.map(f64::tanh).add(&a.mul(v)?)
            }
        }
    }

    /// `jac f(v)`, the Jacobian of a vector-valued function.
    pub fn jac(&self, v: &Mat) -> Result<Mat> {
        self.check(v)?;
        let Some((m, c, a)) = &self.vector else {
            return Err(EvalError("the Jacobian of a scalar-valued function".into()));
        };
        let slope = m.mul(v)?.add(c)?.map(|x| 1.0 - x.tanh() * x.tanh());
        slope.diag()?.mul(m)?.add(a)
    }

    /// The adjoint that `g`, flowing back through `f(v)`, gives `v`.
    pub fn vjp(&self, v: &Mat, g: &Mat) -> Result<Mat> {
        match &self.vector {
            None => Ok(self.grad(v)?.scale(g.as_scalar()?)),
            Some(_) => self.jac(v)?.transpose().mul(g),
        }
    }

    fn new(rng: &mut Rng, n: usize) -> TestFn {
        let terms = (0..3)
            .map(|_| (rng.entry(), rng.mat(n, 1), rng.entry()))
            .collect();
        let m = rng.mat(n, n);
        let s = m
            .add(&m.transpose())
            .unwrap_or_else(|_| Mat::zeros(n, n))
            .scale(0.5);
        TestFn {
            terms,
            s,
            b: rng.mat(n, 1),
            vector: None,
        }
    }

    /// The size of the vectors the function takes.
    pub fn domain(&self) -> usize {
        self.b.rows()
    }

    fn check(&self, v: &Mat) -> Result<()> {
        if v.rows() == self.b.rows() && v.cols() == 1 {
            Ok(())
        } else {
            Err(EvalError(format!(
                "a function of a {}-vector applied to a {}x{} value",
                self.b.rows(),
                v.rows(),
                v.cols()
            )))
        }
    }

    fn dot(a: &Mat, b: &Mat) -> f64 {
        a.entries()
            .iter()
            .zip(b.entries())
            .map(|(x, y)| x * y)
            .sum()
    }

    /// `F(v)`.
    pub fn value(&self, v: &Mat) -> Result<f64> {
        self.check(v)?;
        let mut total = Self::dot(&self.b, v) + 0.5 * Self::dot(v, &self.s.mul(v)?);
        for (a, w, c) in &self.terms {
            total += a * (Self::dot(w, v) + c).tanh();
        }
        Ok(total)
    }

    /// `grad F(v)`.
    pub fn grad(&self, v: &Mat) -> Result<Mat> {
        self.check(v)?;
        let mut g = self.b.add(&self.s.mul(v)?)?;
        for (a, w, c) in &self.terms {
            let t = (Self::dot(w, v) + c).tanh();
            g = g.add(&w.scale(a * (1.0 - t * t)))?;
        }
        Ok(g)
    }

    /// The adjoint that `g`, flowing back through `hess F(v)`, gives `v`:
    /// the third derivative of `F` contracted with `g`.
    pub fn hess_vjp(&self, v: &Mat, g: &Mat) -> Result<Mat> {
        self.check(v)?;
        let mut out = Mat::zeros(v.rows(), 1);
        for (a, w, c) in &self.terms {
            let t = (Self::dot(w, v) + c).tanh();
            let wgw = Self::dot(w, &g.mul(w)?);
            let k = wgw * -2.0 * a * (1.0 - t * t) * (1.0 - 3.0 * t * t);
            out = out.add(&w.scale(k))?;
        }
        Ok(out)
    }

    /// `hess F(v)`.
    pub fn hess(&self, v: &Mat) -> Result<Mat> {
        self.check(v)?;
        let mut h = self.s.clone();
        for (a, w, c) in &self.terms {
            let t = (Self::dot(w, v) + c).tanh();
            h = h.add(&w.mul(&w.transpose())?.scale(-2.0 * a * t * (1.0 - t * t)))?;
        }
        Ok(h)
    }
}

/// Concrete values for everything a model leaves open.
#[derive(Debug, Clone)]
pub struct Instance<'m> {
    /// The model.
    pub model: &'m Model,
    /// The seed everything is drawn from.
    pub seed: u64,
    dims: Vec<i64>,
    ranges: Vec<(i64, i64)>,
    params: Vec<Mat>,
    fns: Vec<TestFn>,
    /// Every variable's concrete size (rows, columns).
    sizes: Vec<(usize, usize)>,
    /// Inputs drawn with a given sum of entries (`sum(y) = 1`).
    sums: Vec<(u32, f64)>,
    /// Whether the values before the start are drawn positive (see
    /// [`Instance::with_positive_states`]).
    positive_states: bool,
    /// Whether the inputs are drawn positive (see
    /// [`Instance::with_positive_values`]).
    positive_inputs: bool,
}

/// How many steps an index without a declared range runs over, unless an
/// instance draws its own number.
pub const DEFAULT_STEPS: i64 = 4;

/// The fewest steps a drawn instance runs an undeclared index over: enough
/// that every offset of the model reaches from the start to the end of the
/// range and back, so that a term wrong at one end only (a shifted index
/// past the last step, a boundary value at the first) shows.
fn least_steps(model: &Model) -> i64 {
    let mut reach: i64 = 0;
    let mut note = |e: &RecExpr<Node>| {
        for n in e.as_ref() {
            if let Node::Leaf(
                crate::ir::Leaf::Var(r) | crate::ir::Leaf::Bar(crate::ir::Target::Var(r)),
            ) = n
            {
                for ix in r.at.iter() {
                    if let Ix::Rel(_, o) = *ix {
                        reach = reach.saturating_add(o.saturating_abs().min(64));
                    }
                }
            }
        }
    };
    for eq in &model.equations {
        note(&eq.rhs);
    }
    if let Some(l) = &model.loss {
        note(&l.value);
    }
    (reach + 2).clamp(DEFAULT_STEPS, 12)
}

/// A number of steps for an undeclared range, drawn from a seed: long
/// enough for the model's offsets (see `least_steps`), and then some.
pub fn drawn_steps(model: &Model, seed: u64) -> i64 {
    least_steps(model) + (Rng::new(seed, &[7]).next_u64() % 3) as i64
}

impl<'m> Instance<'m> {
    /// An instance with the given dim values (one per dim) and seed; an
    /// index without a declared range runs over `1..=DEFAULT_STEPS`.
    pub fn new(model: &'m Model, dims: Vec<i64>, seed: u64) -> Result<Instance<'m>> {
        Instance::with_steps(model, dims, DEFAULT_STEPS, seed)
    }

    /// An instance with the given dim values, the number of steps of every
    /// index without a declared range, and a seed.
    pub fn with_steps(
        model: &'m Model,
        dims: Vec<i64>,
        steps: i64,
        seed: u64,
    ) -> Result<Instance<'m>> {
        let dim_of = |d: u32| dims.get(d as usize).copied().unwrap_or(2);
        let size = |p: &crate::poly::Poly| -> Result<usize> {
            let v = p
                .eval_exact(&dim_of)
                .and_then(|r| r.to_i64())
                .ok_or_else(|| EvalError("a size that is not an integer".into()))?;
            usize::try_from(v)
                .ok()
                .filter(|&n| (1..=64).contains(&n))
                .ok_or_else(|| EvalError(format!("a size of {v} is out of the numeric range")))
        };
        let mut ranges = Vec::new();
        for d in &model.indices {
            ranges.push(match &d.range {
                Some((lo, hi)) => {
                    let ev = |p: &crate::poly::Poly| p.eval_exact(&dim_of).and_then(|r| r.to_i64());
                    match (ev(lo), ev(hi)) {
                        (Some(lo), Some(hi)) => (lo, hi),
                        _ => return Err(EvalError("a range that is not integral".into())),
                    }
                }
                None => (1, steps.max(1)),
            });
        }
        let mut params = Vec::new();
        for (k, p) in model.params.iter().enumerate() {
            let mut rng = Rng::new(seed, &[1, k as i64]);
            let mut value = rng.mat(size(&p.shape.rows)?, size(&p.shape.cols)?);
            // Scalar parameters are often rates, decays and epsilons that
            // only make sense positive (`sqrt(v + eps)`): on every other
            // instance they are, so that such models get points where
            // their values are defined; on the others they take either
            // sign.
            if p.shape.is_scalar() && seed % 2 == 1 {
                value = value.map(f64::abs);
            }
            params.push(value);
        }
        let mut fns = Vec::new();
        for (k, f) in model.fns.iter().enumerate() {
            let mut rng = Rng::new(seed, &[2, k as i64]);
            let values = if f.codomain.is_scalar() {
                0
            } else {
                size(&f.codomain.rows)?
            };
            fns.push(TestFn::with_values(&mut rng, size(&f.domain.rows)?, values));
        }
        let sizes = model
            .vars
            .iter()
            .map(|v| Ok((size(&v.shape.rows)?, size(&v.shape.cols)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Instance {
            model,
            seed,
            dims,
            ranges,
            params,
            fns,
            sizes,
            sums: Vec::new(),
            positive_states: false,
            positive_inputs: false,
        })
    }

    /// This instance with the values before the start (an update map's
    /// state) drawn positive: an accumulator of squares under a root
    /// (AdaGrad's `sqrt(r[k+1]) + eps`) has a value only there.
    pub fn with_positive_states(mut self) -> Instance<'m> {
        self.positive_states = true;
        self
    }

    /// This instance with the parameters, the inputs and the values before
    /// the start all drawn positive: a formula with a root or a logarithm
    /// of an input (`sqrt(w)`) has a value only there.
    pub fn with_positive_values(mut self) -> Instance<'m> {
        self.positive_states = true;
        self.positive_inputs = true;
        self.params = self.params.iter().map(|m| m.map(f64::abs)).collect();
        self
    }

    /// This instance with every scalar parameter of size above one (each
    /// drawn value `x` of `(-1, 1)` becomes `2x + sign(x)`): a claim that
    /// differs from the derived form only there (`((1 - a)^2)^(D/2)` for
    /// `(1 - a)^D` at an odd `D`) is refuted there.
    pub fn with_wide_scalars(mut self) -> Instance<'m> {
        self.params = self
            .params
            .iter()
            .map(|m| {
                if m.is_scalar() {
                    m.map(|x| 2.0 * x + x.signum())
                } else {
                    m.clone()
                }
            })
            .collect();
        self
    }

    /// An instance whose dims are drawn from the seed, each in `2..=4`, and
    /// whose undeclared ranges run over a drawn number of steps, long enough
    /// for the model's offsets (see `least_steps`).
    pub fn seeded(model: &'m Model, seed: u64) -> Result<Instance<'m>> {
        let mut rng = Rng::new(seed, &[0]);
        let dims = model
            .dims
            .iter()
            .map(|_| 2 + (rng.next_u64() % 3) as i64)
            .collect();
        Instance::with_steps(model, dims, drawn_steps(model, seed), seed)
    }

    /// The value of dim `d`.
    pub fn dim(&self, d: u32) -> i64 {
        self.dims.get(d as usize).copied().unwrap_or(2)
    }

    /// Every dim's value.
    pub fn dims(&self) -> &[i64] {
        &self.dims
    }

    /// The range of index `i`, both ends included.
    pub fn range(&self, i: u32) -> (i64, i64) {
        self.ranges
            .get(i as usize)
            .copied()
            .unwrap_or((1, DEFAULT_STEPS))
    }

    /// Whether the equation of `var` computes its value at `at`: a defined
    /// variable, at a position inside its range shifted by its left side
    /// (`p[k+1] = ...` over `k in 1..K` computes `p[2]` to `p[K+1]`), that
    /// no `init` sets. Every other value is given: a boundary value, an
    /// input, or a state before the start of its recurrence.
    pub fn computed(&self, var: u32, at: &[i64]) -> bool {
        let model = self.model;
        let Some(eq) = model.equation_of(var) else {
            return false;
        };
        let inside = eq.lhs.at.iter().zip(at).all(|(ix, &v)| match *ix {
            Ix::Rel(i, d) => {
                let (lo, hi) = self.range(i);
                lo.saturating_add(d) <= v && v <= hi.saturating_add(d)
            }
            Ix::Abs(a) => a == v,
            Ix::End(i, o) => self.range(i).1.saturating_add(o) == v,
        });
        inside && self.init_of(var, at).is_none()
    }

    /// Whether the loss has an adjoint with respect to `var` at `at`, by
    /// the convention of the printed equations: where the model computes
    /// the value, or, for a parameter with indices, at every value of its
    /// indices' ranges. Every other value's adjoint is zero.
    pub fn has_adjoint(&self, var: u32, at: &[i64]) -> bool {
        if self.model.is_learned(var) {
            let indices = &self.model.vars[var as usize].indices;
            return indices.iter().zip(at).all(|(&i, &v)| {
                let (lo, hi) = self.range(i);
                lo <= v && v <= hi
            });
        }
        self.computed(var, at)
    }

    /// The `init` that sets `var` at `at`, if one does (the first that
    /// fits, in script order).
    pub fn init_of(&self, var: u32, at: &[i64]) -> Option<&'m crate::model::Init> {
        self.model.inits.iter().find(|init| {
            init.target.var == var
                && init.target.at.iter().zip(at).all(|(ix, &v)| match *ix {
                    Ix::Abs(a) => a == v,
                    Ix::End(i, o) => self.range(i).1.saturating_add(o) == v,
                    Ix::Rel(..) => true,
                })
        })
    }

    /// The positions where `var` is computed (see [`Instance::computed`]),
    /// in order; one empty position for a variable without indices.
    pub fn domain(&self, var: u32) -> Vec<Vec<i64>> {
        let Some(eq) = self.model.equation_of(var) else {
            return Vec::new();
        };
        let mut out = product(eq.lhs.at.iter().map(|ix| match *ix {
            Ix::Rel(i, d) => {
                let (lo, hi) = self.range(i);
                (lo.saturating_add(d), hi.saturating_add(d))
            }
            Ix::Abs(a) => (a, a),
            Ix::End(i, o) => {
                let end = self.range(i).1.saturating_add(o);
                (end, end)
            }
        }));
        out.retain(|t| self.init_of(var, t).is_none());
        out
    }

    /// The value of parameter `p`.
    pub fn param(&self, p: u32) -> Result<Mat> {
        self.params
            .get(p as usize)
            .cloned()
            .ok_or_else(|| EvalError("an unknown parameter".into()))
    }

    /// The stand-in for function `f`.
    pub fn func(&self, f: u32) -> Result<&TestFn> {
        self.fns
            .get(f as usize)
            .ok_or_else(|| EvalError("an unknown function".into()))
    }

    /// The instance with inputs drawn to the given sums of entries: each
    /// such input's entries are made positive and scaled to the sum (or,
    /// for a sum of zero, shifted to it).
    pub fn with_sums(mut self, sums: &[crate::model::SumAssumption]) -> Instance<'m> {
        self.sums = sums.iter().map(|s| (s.var, s.value.to_f64())).collect();
        self
    }

    /// The value of an input at the given index values.
    fn input(&self, var: u32, at: &[i64]) -> Result<Mat> {
        let v = self.drawn(3, var, at)?;
        let v = if self.positive_inputs {
            v.map(f64::abs)
        } else {
            v
        };
        let Some(&(_, want)) = self.sums.iter().find(|(x, _)| *x == var) else {
            return Ok(v);
        };
        if want == 0.0 {
            let n = v.entries().len().max(1) as f64;
            let shift = v.entries().iter().sum::<f64>() / n;
            return Ok(v.map(|x| x - shift));
        }
        let v = v.map(f64::abs);
        let total: f64 = v.entries().iter().sum();
        Ok(v.scale(want / total))
    }

    /// A random value for an input, or for a state before its first step,
    /// fixed by the seed, the variable and the index values.
    fn drawn(&self, tag: i64, var: u32, at: &[i64]) -> Result<Mat> {
        let (rows, cols) = self.size(var)?;
        let mut tags = vec![tag, i64::from(var)];
        tags.extend_from_slice(at);
        Ok(Rng::new(self.seed, &tags).mat(rows, cols))
    }

    /// A value the model does not compute (before the start, or past the
    /// end), drawn; positive where the instance says so.
    fn given(&self, var: u32, at: &[i64]) -> Result<Mat> {
        let value = self.drawn(4, var, at)?;
        Ok(if self.positive_states {
            value.map(f64::abs)
        } else {
            value
        })
    }

    /// A variable's concrete size (rows, columns).
    pub fn size(&self, var: u32) -> Result<(usize, usize)> {
        self.sizes
            .get(var as usize)
            .copied()
            .ok_or_else(|| EvalError("an unknown variable".into()))
    }
}

/// Every combination of one value from each range (both ends included),
/// the first position varying slowest.
pub fn product(ranges: impl Iterator<Item = (i64, i64)>) -> Vec<Vec<i64>> {
    let mut out = vec![Vec::new()];
    for (lo, hi) in ranges {
        out = out
            .into_iter()
            .flat_map(|t| {
                (lo..=hi).map(move |v| {
                    let mut t = t.clone();
                    t.push(v);
                    t
                })
            })
            .collect();
    }
    out
}

/// A change to one entry of one value, for finite differences.
#[derive(Debug, Clone, PartialEq)]
pub enum Perturb {
    /// Entry `entry` (column-major) of variable `var` at index values `at`.
    Var {
        /// The variable.
        var: u32,
        /// Its index values.
        at: Vec<i64>,
        /// The entry.
        entry: usize,
        /// The change.
        delta: f64,
    },
    /// Entry `entry` of parameter `param`.
    Param {
        /// The parameter.
        param: u32,
        /// The entry.
        entry: usize,
        /// The change.
        delta: f64,
    },
}

/// The forward pass of an instance, computed on demand and remembered.
pub struct Forward<'i> {
    inst: &'i Instance<'i>,
    perturb: Option<Perturb>,
    /// Variables whose values are assumed (`i[t] = 0`), each with its
    /// value: the values computed from them follow (`f[t] = 1 - i[t]` is
    /// `1`).
    assumed: Vec<(u32, RecExpr<Node>)>,
    /// Values held at given values rather than computed (the other
    /// arguments of a step, while one of them moves).
    held: HashMap<(u32, Vec<i64>), Mat>,
    memo: RefCell<HashMap<(u32, Vec<i64>), Mat>>,
    busy: RefCell<HashSet<(u32, Vec<i64>)>>,
}

impl<'i> Forward<'i> {
    /// The forward pass, optionally with one entry perturbed.
    pub fn new(inst: &'i Instance<'i>, perturb: Option<Perturb>) -> Forward<'i> {
        Forward {
            inst,
            perturb,
            assumed: Vec::new(),
            held: HashMap::default(),
            memo: RefCell::new(HashMap::default()),
            busy: RefCell::new(HashSet::default()),
        }
    }

    /// The forward pass of the model under assumptions about its values
    /// (see [`crate::model::Assumption::substitution`]): each assumed
    /// variable has its assumed value wherever its equation computes it,
    /// and the values computed from it follow.
    pub fn assuming(inst: &'i Instance<'i>, assumed: Vec<(u32, RecExpr<Node>)>) -> Forward<'i> {
        Forward {
            assumed,
            ..Forward::new(inst, None)
        }
    }

    /// The forward pass with the values `held` fixed where the model would
    /// compute them, and one entry perturbed: the partial derivatives of a
    /// step by its arguments, each moved while the others stay, even where
    /// one argument is computed from another (`theta[k]` from `m[k]`).
    pub fn holding(
        inst: &'i Instance<'i>,
        held: HashMap<(u32, Vec<i64>), Mat>,
        perturb: Option<Perturb>,
    ) -> Forward<'i> {
        Forward {
            held,
            ..Forward::new(inst, perturb)
        }
    }

    /// The instance.
    pub fn instance(&self) -> &'i Instance<'i> {
        self.inst
    }

    /// The value of a parameter, perturbed if asked.
    pub fn param(&self, p: u32) -> Result<Mat> {
        let mut v = self.inst.param(p)?;
        if let Some(Perturb::Param {
            param,
            entry,
            delta,
        }) = &self.perturb
        {
            if *param == p {
                if let Some(x) = v.entry_mut(*entry) {
                    *x += delta;
                }
            }
        }
        Ok(v)
    }

    fn evaluator(&self) -> Evaluator<'_> {
        Evaluator {
            forward: self,
            adjoints: &NoAdjoints,
            assumed: &[],
        }
    }

    /// The value of variable `var` at index values `at`.
    pub fn value(&self, var: u32, at: &[i64]) -> Result<Mat> {
        let key = (var, at.to_vec());
        if let Some(v) = self.memo.borrow().get(&key) {
            return Ok(v.clone());
        }
        if !self.busy.borrow_mut().insert(key.clone()) {
            let name = self.inst.model.symbols.var(var);
            return Err(EvalError(format!(
                "`{name}` at {at:?} depends on itself; its values cannot be computed in order"
            )));
        }
        let computed = match self.held.get(&key) {
            Some(v) => Ok(v.clone()),
            None => self.compute(var, at),
        };
        self.busy.borrow_mut().remove(&key);
        let mut v = computed?;
        if let Some(Perturb::Var {
            var: pv,
            at: pat,
            entry,
            delta,
        }) = &self.perturb
        {
            if *pv == var && pat == at {
                if let Some(x) = v.entry_mut(*entry) {
                    *x += delta;
                }
            }
        }
        self.memo.borrow_mut().insert(key, v.clone());
        Ok(v)
    }

    fn compute(&self, var: u32, at: &[i64]) -> Result<Mat> {
        let model = self.inst.model;
        let decl = model
            .vars
            .get(var as usize)
            .ok_or_else(|| EvalError("an unknown variable".into()))?;
        // An assumed input has its assumed value at every index value
        // (it is given at all of them), and the values computed from it
        // follow (`z = tanh(w .* x)` is zero where `x = 0`).
        if matches!(decl.kind, VarKind::Input) {
            if let Some(value) = self.assumed_value(var, at) {
                return value;
            }
        }
        let eq = match decl.kind {
            VarKind::Input => return self.inst.input(var, at),
            VarKind::Defined(e) => model
                .equations
                .get(e)
                .ok_or_else(|| EvalError("a variable without its equation".into()))?,
        };
        // A boundary value set by `init` comes first.
        if let Some(init) = self.inst.init_of(var, at) {
            let mut b: Vec<Option<i64>> = vec![None; model.indices.len()];
            for (ix, &v) in init.target.at.iter().zip(at) {
                if let Ix::Rel(i, _) = *ix {
                    b[i as usize] = Some(v);
                }
            }
            let value = self.evaluator().eval(&init.value, &b)?;
            return self.fit(var, value);
        }
        // The equation computes the value inside its range; a value before
        // the start (the initial state) or past the end is given.
        if !self.inst.computed(var, at) {
            return self.inst.given(var, at);
        }
        if let Some(value) = self.assumed_value(var, at) {
            return value;
        }
        let mut binding: Vec<Option<i64>> = vec![None; model.indices.len()];
        for (ix, &v) in eq.lhs.at.iter().zip(at) {
            if let Ix::Rel(i, d) = *ix {
                binding[i as usize] = Some(
                    v.checked_sub(d)
                        .ok_or_else(|| EvalError("an index out of range".into()))?,
                );
            }
        }
        self.evaluator().eval(&eq.rhs, &binding)
    }

    /// The value assumed for `var` at the index values `at` (its own
    /// indices bound to them), where one is.
    fn assumed_value(&self, var: u32, at: &[i64]) -> Option<Result<Mat>> {
        let (_, value) = self.assumed.iter().find(|(v, _)| *v == var)?;
        let model = self.inst.model;
        let mut b: Vec<Option<i64>> = vec![None; model.indices.len()];
        for (&i, &v) in model.vars[var as usize].indices.iter().zip(at) {
            b[i as usize] = Some(v);
        }
        Some(
            self.evaluator()
                .eval(value, &b)
                .and_then(|value| self.fit(var, value)),
        )
    }

    /// A scalar boundary value such as `0` fills the variable's shape.
    fn fit(&self, var: u32, value: Mat) -> Result<Mat> {
        if !value.is_scalar() {
            return Ok(value);
        }
        let (rows, cols) = self.inst.size(var)?;
        let x = value.as_scalar()?;
        Ok(Mat::from_fn(rows, cols, |_, _| x))
    }

    /// The loss.
    pub fn loss(&self) -> Result<f64> {
        let loss = self
            .inst
            .model
            .loss
            .as_ref()
            .ok_or_else(|| EvalError("the script has no loss".into()))?;
        let b = vec![None; self.inst.model.indices.len()];
        self.evaluator().eval(&loss.value, &b)?.as_scalar()
    }

    /// How many values of `var` this forward pass has read so far.
    pub fn read(&self, var: u32) -> usize {
        self.memo.borrow().keys().filter(|k| k.0 == var).count()
    }

    /// Evaluates an expression in this forward pass.
    pub fn eval(&self, expr: &RecExpr<Node>, binding: &[Option<i64>]) -> Result<Mat> {
        self.evaluator().eval(expr, binding)
    }

    /// The value of a reference under a binding.
    pub fn reference(&self, r: &Ref, binding: &[Option<i64>]) -> Result<Mat> {
        let t = Evaluator::tuple(self.inst, &r.at, binding)?;
        self.value(r.var, &t)
    }
}

/// Why a finite difference was left out.
pub const KINK_CROSSED: &str =
    "a finite difference crosses a kink (such as relu's at 0) at this instance";

/// The derivative of the loss with respect to every entry of one value, by
/// a five-point central difference (error of order `h^4`); an error where
/// a perturbation moves an argument of a kinked function across its kink.
pub fn loss_gradient(
    inst: &Instance<'_>,
    make: &dyn Fn(usize, f64) -> Perturb,
    shape: (usize, usize),
) -> Result<Mat> {
    const H: f64 = 5e-4;
    let mut out = Mat::zeros(shape.0, shape.1);
    // Differences from the unperturbed loss first: a loss that does not
    // depend on the entry then gives exactly zero, where the stencil on the
    // raw values would leave rounding noise of the loss's magnitude.
    let (base, sides) = super::kinks::sides(|| Forward::new(inst, None).loss());
    let base = base?;
    for k in 0..shape.0 * shape.1 {
        let at = |d: f64| {
            let (loss, moved) = super::kinks::sides(|| Forward::new(inst, Some(make(k, d))).loss());
            if moved != sides {
                return Err(EvalError(KINK_CROSSED.into()));
            }
            loss.map(|l| l - base)
        };
        let d = (-at(2.0 * H)? + 8.0 * at(H)? - 8.0 * at(-H)? + at(-2.0 * H)?) / (12.0 * H);
        if let Some(x) = out.entry_mut(k) {
            *x = d;
        }
    }
    Ok(out)
}
