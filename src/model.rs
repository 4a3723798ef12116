//! The checked model: every name resolved, every shape known, every
//! expression lowered to the IR. Derivations read only this; spans survive
//! here only to point diagnostics of later stages at the script.

use crate::diag::Span;
use crate::ir::{Ix, Leaf, LeafShapes, Node, Ref, Symbols, Target};
use crate::num::Rational;
use crate::poly::Poly;
use crate::shape::Shape;
use egg::RecExpr;

/// A declared dim.
#[derive(Debug, Clone)]
pub struct DimDecl {
    /// Its name.
    pub name: String,
    /// Where it is declared.
    pub span: Span,
}

/// A declared index.
#[derive(Debug, Clone)]
pub struct IndexDecl {
    /// Its name.
    pub name: String,
    /// Its range `lo..hi`, both included, if declared.
    pub range: Option<(Poly, Poly)>,
    /// Where it is declared.
    pub span: Span,
}

/// A declared parameter.
#[derive(Debug, Clone)]
pub struct ParamDecl {
    /// Its name.
    pub name: String,
    /// Its shape.
    pub shape: Shape,
    /// Where it is declared.
    pub span: Span,
}

/// Whether a variable is given or computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    /// An input: given for every index value.
    Input,
    /// Defined by equation number `.0`.
    Defined(usize),
}

/// An input or a defined variable.
#[derive(Debug, Clone)]
pub struct VarDecl {
    /// Its name.
    pub name: String,
    /// The indices it is a function of, in order.
    pub indices: Vec<u32>,
    /// Its shape.
    pub shape: Shape,
    /// Input or defined.
    pub kind: VarKind,
    /// Whether it is a parameter with indices (`param W[l] : H x H`): an
    /// input that is learned, with a gradient at each index value.
    pub learned: bool,
    /// Where it is declared or defined.
    pub span: Span,
}

/// A declared function.
#[derive(Debug, Clone)]
pub struct FnDecl {
    /// Its name.
    pub name: String,
    /// Its argument's shape.
    pub domain: Shape,
    /// Its value's shape: a scalar, or a vector (`fn f : H -> H`).
    pub codomain: Shape,
    /// Where it is declared.
    pub span: Span,
}

/// An equation `v[I + d] = rhs`.
#[derive(Debug, Clone)]
pub struct Equation {
    /// The variable defined.
    pub var: u32,
    /// The left side as written (`p[k+1]`).
    pub lhs: Ref,
    /// The right side as written.
    pub rhs: RecExpr<Node>,
    /// The right side shifted so that the left side is `v[I]`: what `v[I]` is.
    pub norm: RecExpr<Node>,
    /// The statement.
    pub span: Span,
    /// Its line in the script.
    pub line: usize,
}

/// A boundary value: `init h[0] = 0`.
#[derive(Debug, Clone)]
pub struct Init {
    /// The value set: fixed positions are `Ix::Abs`, free ones `Ix::Rel(i, 0)`.
    pub target: Ref,
    /// The value.
    pub value: RecExpr<Node>,
    /// The statement.
    pub span: Span,
}

/// The objective.
#[derive(Debug, Clone)]
pub struct Loss {
    /// Its name.
    pub name: String,
    /// Its definition, a scalar.
    pub value: RecExpr<Node>,
    /// The statement.
    pub span: Span,
}

/// `v[t] = value` under `assuming`, for every value of the indices.
#[derive(Debug, Clone)]
pub struct Assumption {
    /// The variable, at its own indices.
    pub target: Ref,
    /// The assumed value.
    pub value: RecExpr<Node>,
    /// Where it is written.
    pub span: Span,
}

impl Assumption {
    /// Each assumed variable with its value, as the evaluator and the
    /// derivation substitute them.
    pub fn substitution(assuming: &[Assumption]) -> Vec<(u32, RecExpr<Node>)> {
        assuming
            .iter()
            .map(|a| (a.target.var, a.value.clone()))
            .collect()
    }
}

/// An assumption about the sum of an input's entries (`sum(y) = 1`: a
/// one-hot or probability target). Claims under it are checked on inputs
/// scaled to that sum, and a proof may use it.
#[derive(Debug, Clone, PartialEq)]
pub struct SumAssumption {
    /// The input.
    pub var: u32,
    /// The sum of its entries.
    pub value: Rational,
    /// Where it is written.
    pub span: Span,
}

/// A derived result that an `expect` names.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// `bar(v[t])` or `bar(W)`.
    Adjoint(Target),
    /// `J`, the Jacobian of the request with this index.
    Jacobian(usize),
    /// `det(J)`.
    Det(usize),
    /// `theta[k]`: the inverse's expression for a previous-state value.
    Inverse(Ref),
    /// `params`.
    Params,
    /// `macs(v[...])`.
    Macs(Ref),
    /// `depth(v[...])`.
    Depth(Ref),
}

/// The claimed value of an `expect`.
#[derive(Debug, Clone)]
pub enum Claimed {
    /// An expression in the language.
    Expr(RecExpr<Node>),
    /// A polynomial in the dims (counts and depths).
    Poly(Poly),
    /// A value that has no shape in the model: its operands' shapes do
    /// not fit (`W * x` with the wrong inner size), or it is not of the
    /// derived result's shape. The claim is false; why, and the hint.
    IllTyped {
        /// What does not fit.
        message: String,
        /// How it might have been meant.
        hint: Option<String>,
    },
}

impl RequestKind {
    /// The request's assumptions about sums of inputs' entries.
    pub fn sums(&self) -> &[SumAssumption] {
        match self {
            RequestKind::Adjoints { sums, .. }
            | RequestKind::Grad { sums, .. }
            | RequestKind::Expect { sums, .. } => sums,
            _ => &[],
        }
    }
}

/// A checked request.
#[derive(Debug, Clone)]
pub enum RequestKind {
    /// `derive adjoints [assuming ...]`.
    Adjoints {
        /// The substitutions.
        assuming: Vec<Assumption>,
        /// Assumptions about sums of inputs' entries (`sum(y) = 1`).
        sums: Vec<SumAssumption>,
    },
    /// `derive grad W [assuming ...]`.
    Grad {
        /// The parameter: a parameter, or one with indices at its own
        /// indices (`bar(W[l])`).
        target: Target,
        /// The substitutions.
        assuming: Vec<Assumption>,
        /// Assumptions about sums of inputs' entries (`sum(y) = 1`).
        sums: Vec<SumAssumption>,
    },
    /// `derive inverse`.
    Inverse,
    /// `derive J = jacobian (...) wrt (...)`.
    Jacobian {
        /// The name of the result.
        name: String,
        /// The values differentiated.
        of: Vec<Ref>,
        /// The values differentiated by.
        wrt: Vec<Ref>,
    },
    /// `derive det(J)`.
    Det {
        /// The request index of the Jacobian.
        of: usize,
    },
    /// `count params`.
    CountParams,
    /// `count macs v[...]`.
    CountMacs(Ref),
    /// `depth v[...]`.
    Depth(Ref),
    /// `expect lhs = rhs [assuming ...]`.
    Expect {
        /// The result named.
        lhs: Claim,
        /// The claimed value.
        rhs: Claimed,
        /// The substitutions.
        assuming: Vec<Assumption>,
        /// Assumptions about sums of inputs' entries.
        sums: Vec<SumAssumption>,
        /// The shift of each index that took the claim as written to the
        /// frame of its result's equation (`bar(h[l-1]) = ...` is about
        /// `bar(h[l])`, `l` moved by 1), for showing it as written.
        written_at: Vec<(u32, i64)>,
    },
}

/// A request with where it was written.
#[derive(Debug, Clone)]
pub struct Request {
    /// What is asked.
    pub kind: RequestKind,
    /// The statement.
    pub span: Span,
    /// Its line in the script.
    pub line: usize,
    /// The statement's text as written, for headings.
    pub text: String,
    /// Whether it ends `with steps`: its answer shows its derivation.
    pub steps: bool,
}

/// One line of the model section, in script order.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `dim ...`: the dim numbers.
    Dims(Vec<u32>),
    /// `index ...`: the index numbers.
    Indices(Vec<u32>),
    /// `param ...`: the parameter numbers.
    Params(Vec<u32>),
    /// `param W[l] ...`: parameters with indices, by variable number.
    IndexedParams(Vec<u32>),
    /// `input ...`: the variable numbers.
    Inputs(Vec<u32>),
    /// `state ...`: the variable numbers.
    States(Vec<u32>),
    /// `fn ...`.
    Fn(u32),
    /// `init ...`: the init number.
    Init(usize),
    /// An equation, by number.
    Equation(usize),
    /// The loss.
    Loss,
}

/// A whole checked script.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Names for printing.
    pub symbols: Symbols,
    /// Dims by number.
    pub dims: Vec<DimDecl>,
    /// Indices by number.
    pub indices: Vec<IndexDecl>,
    /// Parameters by number.
    pub params: Vec<ParamDecl>,
    /// Inputs and variables by number.
    pub vars: Vec<VarDecl>,
    /// Functions by number.
    pub fns: Vec<FnDecl>,
    /// Equations in script order.
    pub equations: Vec<Equation>,
    /// Boundary values in script order.
    pub inits: Vec<Init>,
    /// The objective, if declared.
    pub loss: Option<Loss>,
    /// Requests in script order.
    pub requests: Vec<Request>,
    /// The model section, in script order.
    pub items: Vec<Item>,
    /// Values that equations read past the end of a range and no `init`
    /// sets (`b[T+1]`, written relative to the range's end): given, like a
    /// state before its first step.
    pub given_past_end: Vec<Ref>,
    /// The least value of a dim that the fixed steps of the model need to
    /// be distinct values it computes (`h[T-1]` over `1..T` needs `T >= 2`):
    /// each dim with its least value, where that is more than 1.
    pub steps_need: Vec<(u32, i64)>,
}

impl Model {
    /// Small settings of the dims for checking a count: every dim at 1, 2,
    /// ..., `up_to`, then each dim alone at 3 with the others at 2 (so a
    /// formula that swaps two dims differs somewhere).
    pub fn dim_settings(&self, up_to: i64) -> Vec<Vec<i64>> {
        let n = self.dims.len();
        let mut out: Vec<Vec<i64>> = (1..=up_to).map(|v| vec![v; n]).collect();
        for k in 0..n {
            let mut s = vec![2; n];
            s[k] = 3;
            out.push(s);
        }
        out
    }

    /// The equation defining variable `v`, if it is defined.
    pub fn equation_of(&self, v: u32) -> Option<&Equation> {
        match self.vars.get(v as usize)?.kind {
            VarKind::Defined(e) => self.equations.get(e),
            VarKind::Input => None,
        }
    }

    /// Where the equation of `v` computes it, position by position: the
    /// offset of its left side (`p[k+1]`: `[1]`, `h[i, j]`: `[0, 0]`), so
    /// that `v` is computed at `lo + d ..= hi + d` of each index's range.
    /// `None` for an input.
    pub fn lhs_shift(&self, v: u32) -> Option<Vec<i64>> {
        let eq = self.equation_of(v)?;
        Some(
            eq.lhs
                .at
                .iter()
                .map(|ix| match *ix {
                    Ix::Rel(_, d) => d,
                    Ix::Abs(_) | Ix::End(..) => 0,
                })
                .collect(),
        )
    }

    /// Where the equation of `v` computes it, position by position, as
    /// offsets from the ends of each index's range: `(lower, upper)` for
    /// the values `lo + lower ..= hi + upper`. The offset of the left side
    /// (`p[k+1]`: 1) moves both ends; an `init` that sets the first value
    /// of one position (`init h[1] = 0` over `1..T`) moves the start past
    /// it. `None` for an input.
    pub fn domain(&self, v: u32) -> Option<Vec<(i64, i64)>> {
        let shift = self.lhs_shift(v)?;
        let decl = self.vars.get(v as usize)?;
        let mut out: Vec<(i64, i64)> = shift.iter().map(|&d| (d, d)).collect();
        for (p, span) in out.iter_mut().enumerate() {
            let Some(lo) = decl
                .indices
                .get(p)
                .map_or(Some(1), |&i| self.range_start(i))
            else {
                continue;
            };
            // Inits that fix this position only, at the current start.
            loop {
                let start = lo.saturating_add(span.0);
                if !self.init_fixes(v, p, start) || span.0 > span.1.saturating_add(64) {
                    break;
                }
                span.0 += 1;
            }
        }
        Some(out)
    }

    /// Whether an `init` of `v` fixes position `p` alone, at `at`, the
    /// other positions free (`init h[0, j] = ...` fixes position 0 at 0).
    pub fn init_fixes(&self, v: u32, p: usize, at: i64) -> bool {
        self.inits.iter().any(|init| {
            init.target.var == v
                && init.target.at.iter().enumerate().all(|(q, ix)| match *ix {
                    Ix::Abs(a) => q == p && a == at,
                    Ix::Rel(..) => q != p,
                    Ix::End(..) => false,
                })
        })
    }

    /// Where the adjoint of `v` is derived, in the form of
    /// [`Model::domain`]: where its equation computes it, or, for a
    /// parameter with indices, at every value of its indices' ranges.
    pub fn adjoint_domain(&self, v: u32) -> Option<Vec<(i64, i64)>> {
        match self.vars.get(v as usize)? {
            d if d.learned => Some(vec![(0, 0); d.indices.len()]),
            _ => self.domain(v),
        }
    }

    /// Whether the adjoint of `t` is a gradient, which `derive grad` asks
    /// for: a parameter's, or a parameter's with indices.
    pub fn is_gradient(&self, t: &Target) -> bool {
        match t {
            Target::Param(_) => true,
            Target::Var(r) => self.is_learned(r.var),
        }
    }

    /// Whether variable `v` is a parameter with indices (`param W[l]`).
    pub fn is_learned(&self, v: u32) -> bool {
        self.vars.get(v as usize).is_some_and(|d| d.learned)
    }

    /// The `init` that sets the value `r` for every value of the dims:
    /// the one `init` of its variable that may set it, where its fixed
    /// positions are `r`'s (a free position fits any). `None` where
    /// another may set it too for some dims (`h[0]` and `h[T-1]` at
    /// `T = 1`).
    pub fn init_of(&self, r: &Ref) -> Option<&Init> {
        let fits = |init: &Init, exact: bool| {
            init.target.var == r.var
                && init.target.at.len() == r.at.len()
                && init
                    .target
                    .at
                    .iter()
                    .zip(r.at.iter())
                    .all(|(a, b)| match (*a, *b) {
                        (Ix::Rel(..), _) => true,
                        (Ix::Abs(x), Ix::Abs(y)) => x == y,
                        (Ix::End(i, x), Ix::End(j, y)) => i == j && x == y,
                        (Ix::Abs(_), Ix::End(..)) | (Ix::End(..), Ix::Abs(_)) => !exact,
                        (_, Ix::Rel(..)) => !exact,
                    })
        };
        let mut may = self.inits.iter().filter(|i| fits(i, false));
        let one = may.next()?;
        (may.next().is_none() && fits(one, true)).then_some(one)
    }

    /// The right sides of the equations, then the loss's value.
    pub fn expressions(&self) -> impl Iterator<Item = &RecExpr<Node>> {
        self.equations
            .iter()
            .map(|e| &e.rhs)
            .chain(self.loss.as_ref().map(|l| &l.value))
    }

    /// The fixed steps of `v` that the model uses on their own: each use
    /// of a value `v` computes at a fixed index value in at least one
    /// position (`h[T]` in `y = V * h[T]`, `h[1]`, `h[i, G]`), as the
    /// reference with those positions fixed and the others plain, in
    /// script order. The adjoint at such a step has a term of its own, so
    /// adjoints give it an equation of its own (`bar(h[T]) = ...`) beside
    /// the general one. A use of a value before the start of the range (a
    /// boundary value) or past its end is not a fixed step.
    pub fn fixed_steps(&self, v: u32) -> Vec<Ref> {
        let Some(domain) = self.domain(v) else {
            return Vec::new();
        };
        let Some(decl) = self.vars.get(v as usize) else {
            return Vec::new();
        };
        let exprs = self
            .expressions()
            .chain(self.inits.iter().map(|i| &i.value));
        let mut out: Vec<Ref> = Vec::new();
        for rhs in exprs {
            for n in rhs.as_ref() {
                let Node::Leaf(Leaf::Var(r)) = n else {
                    continue;
                };
                if r.var != v || r.at.iter().all(|ix| matches!(ix, Ix::Rel(..))) {
                    continue;
                }
                let computed =
                    r.at.iter()
                        .zip(&decl.indices)
                        .enumerate()
                        .all(|(p, (ix, &i))| {
                            let (lower, upper) = domain.get(p).copied().unwrap_or((0, 0));
                            match *ix {
                                Ix::Rel(..) => true,
                                Ix::End(_, o) => o <= upper,
                                Ix::Abs(a) => self
                                    .range_start(i)
                                    .is_some_and(|lo| a >= lo.saturating_add(lower)),
                            }
                        });
                if !computed {
                    continue;
                }
                let step = self.step_of(r);
                if !out.contains(&step) {
                    out.push(step);
                }
            }
        }
        out
    }

    /// The step a reference names: its fixed positions as written, its
    /// other positions plain (`h[i+1, G]` names the step `h[i, G]`).
    pub fn step_of(&self, r: &Ref) -> Ref {
        let indices = self
            .vars
            .get(r.var as usize)
            .map_or(&[][..], |d| &d.indices[..]);
        Ref {
            var: r.var,
            at: r
                .at
                .iter()
                .zip(indices)
                .map(|(ix, &i)| match *ix {
                    Ix::Rel(..) => Ix::Rel(i, 0),
                    fixed => fixed,
                })
                .collect(),
        }
    }

    /// The first value of index `i`'s range, if it is a number (`1` for an
    /// index without a declared range).
    pub fn range_start(&self, i: u32) -> Option<i64> {
        match self.indices.get(i as usize).and_then(|d| d.range.as_ref()) {
            Some((lo, _)) => lo.as_constant().and_then(|c| c.to_i64()),
            None => Some(1),
        }
    }

    /// The dim index `i`'s range ends at and the constant beside it
    /// (`1..T-1` ends at `T` and `-1`), if it ends at one dim plus a
    /// constant: what a position such as `T+1` is written with.
    pub fn range_end(&self, i: u32) -> Option<(u32, i64)> {
        let (_, hi) = self.indices.get(i as usize)?.range.as_ref()?;
        range_end(hi)
    }

    /// Whether the value of `v` at the index values `at` is one of its
    /// fixed steps (see [`Model::fixed_steps`]), given the last value of
    /// each index's range.
    pub fn matches_step(step: &Ref, at: &[i64], end: &dyn Fn(u32) -> i64) -> bool {
        step.at.iter().zip(at).all(|(ix, &x)| match *ix {
            Ix::Rel(..) => true,
            Ix::Abs(a) => a == x,
            Ix::End(i, o) => end(i).saturating_add(o) == x,
        })
    }

    /// The reference to `v` at its own indices with no offset: `h[t]`.
    pub fn plain_ref(&self, v: u32) -> Ref {
        let indices = self
            .vars
            .get(v as usize)
            .map_or(&[][..], |d| &d.indices[..]);
        Ref {
            var: v,
            at: indices.iter().map(|&i| Ix::Rel(i, 0)).collect(),
        }
    }

    /// The shape of a dim-free scalar, a parameter, a variable, ...
    pub fn shape_of(&self, leaf: &Leaf) -> Shape {
        match leaf {
            Leaf::Param(p) | Leaf::Bar(Target::Param(p)) => self
                .params
                .get(*p as usize)
                .map_or_else(Shape::scalar, |d| d.shape.clone()),
            Leaf::Var(r) | Leaf::Bar(Target::Var(r)) => self
                .vars
                .get(r.var as usize)
                .map_or_else(Shape::scalar, |d| d.shape.clone()),
            Leaf::Dim(_) | Leaf::Index(_) | Leaf::Fn(_) => Shape::scalar(),
        }
    }

    /// A dim's name, for printing sizes.
    pub fn dim_name(&self, d: u32) -> String {
        self.symbols.dim(d).to_owned()
    }
}

impl LeafShapes for Model {
    fn leaf_shape(&self, leaf: &Leaf) -> Shape {
        self.shape_of(leaf)
    }

    fn stored_leaf_shape(&self, leaf: &Leaf) -> Option<&Shape> {
        match leaf {
            Leaf::Param(p) | Leaf::Bar(Target::Param(p)) => {
                self.params.get(*p as usize).map(|d| &d.shape)
            }
            Leaf::Var(r) | Leaf::Bar(Target::Var(r)) => {
                self.vars.get(r.var as usize).map(|d| &d.shape)
            }
            Leaf::Dim(_) | Leaf::Index(_) | Leaf::Fn(_) => None,
        }
    }

    fn index_count(&self, i: u32) -> Option<Poly> {
        let (lo, hi) = self.indices.get(i as usize)?.range.as_ref()?;
        let count = hi.sub(lo)?.add(&Poly::int(1))?;
        // Every dim is at least 1: where the coefficients of every term
        // but the constant are not negative, the count is least with
        // every dim at 1, and it must not be negative there (a range
        // `3..T` is empty, not of length -1, at `T = 1`).
        let mut at_ones = Rational::zero();
        for (m, c) in count.terms() {
            if !m.0.is_empty() && c.is_negative() {
                return None;
            }
            at_ones = at_ones.add(c)?;
        }
        (!at_ones.is_negative()).then_some(count)
    }

    fn fn_domain(&self, f: u32) -> Shape {
        self.fns
            .get(f as usize)
            .map_or_else(Shape::scalar, |d| d.domain.clone())
    }

    fn fn_codomain(&self, f: u32) -> Shape {
        self.fns
            .get(f as usize)
            .map_or_else(Shape::scalar, |d| d.codomain.clone())
    }
}

/// The dim and constant a range's end is, when it is one dim plus a
/// constant (`T`, `T-1`).
pub fn range_end(hi: &Poly) -> Option<(u32, i64)> {
    let mut dim = None;
    let mut constant = 0i64;
    for (m, c) in hi.terms() {
        match m.0.as_slice() {
            [] => constant = c.to_i64()?,
            [(d, 1)] if c.is_one() && dim.is_none() => dim = Some(*d),
            _ => return None,
        }
    }
    dim.map(|d| (d, constant))
}
