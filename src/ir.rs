//! The expression IR: one egg language for every expression form, with
//! exact rational constants and leaves numbered by the script (never by
//! egg's symbol interning, whose order would leak into the output).
//! Every derivation works on `RecExpr<Node>`; nodes are built directly,
//! never by formatting and parsing strings.

pub mod act;
pub mod analysis;
pub mod build;
pub mod join;
pub mod normal;
pub mod prec;
pub mod text;

use crate::num::Rational;
use crate::shape::Shape;
use egg::{Id, Language, RecExpr};
use std::fmt;
use std::str::FromStr;

/// One index position of a reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ix {
    /// Index number `.0` plus an offset: `t-1`.
    Rel(u32, i64),
    /// A fixed value: `0`.
    Abs(i64),
    /// A fixed value relative to the end of index `.0`'s declared range:
    /// `T+1` for the range `1..T`.
    End(u32, i64),
}

/// A variable or input at some indices: `h[t-1]`, `x[i, j]`, `h[0]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ref {
    /// The variable's number in the model.
    pub var: u32,
    /// One entry per index of the variable.
    pub at: std::sync::Arc<[Ix]>,
}

impl Ref {
    /// The relative positions' offsets, by index: `h[t-1, j]` gives
    /// `[(t, -1), (j, 0)]`.
    pub fn offsets(&self) -> Vec<(u32, i64)> {
        self.at
            .iter()
            .filter_map(|ix| match *ix {
                Ix::Rel(i, o) => Some((i, o)),
                Ix::Abs(_) | Ix::End(..) => None,
            })
            .collect()
    }

    /// The same variable with every relative index shifted by `by(index)`.
    pub fn shifted(&self, by: &dyn Fn(u32) -> i64) -> Ref {
        Ref {
            var: self.var,
            at: self
                .at
                .iter()
                .map(|ix| match *ix {
                    Ix::Rel(i, o) => Ix::Rel(i, o.saturating_add(by(i))),
                    a => a,
                })
                .collect(),
        }
    }
}

/// What an adjoint `bar(...)` is of.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// A variable at some indices.
    Var(Ref),
    /// A parameter (its gradient).
    Param(u32),
}

/// The leaves of the IR, numbered in script order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Leaf {
    /// A variable or input at indices. First in the order, so that where a
    /// variable and its definition are one value of equal cost (`z = s`),
    /// extraction writes the variable.
    Var(Ref),
    /// A dim's value, as a scalar.
    Dim(u32),
    /// A parameter.
    Param(u32),
    /// An adjoint `bar(...)`.
    Bar(Target),
    /// An index bound by `sum`.
    Index(u32),
    /// A declared function's name.
    Fn(u32),
}

fn write_ref(f: &mut fmt::Formatter<'_>, r: &Ref) -> fmt::Result {
    write!(f, "v{}[", r.var)?;
    for (k, ix) in r.at.iter().enumerate() {
        if k > 0 {
            f.write_str(",")?;
        }
        match ix {
            Ix::Rel(i, o) => write!(f, "i{i}{o:+}")?,
            Ix::Abs(v) => write!(f, "{v}")?,
            Ix::End(i, o) => write!(f, "e{i}{o:+}")?,
        }
    }
    f.write_str("]")
}

impl fmt::Display for Leaf {
    /// An unambiguous debugging form: `$d0`, `$p1`, `$v2[i0-1]`, `$bv2[i0+0]`,
    /// `$bp1`, `$i0`, `$f0`. Printers use the model's names instead.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Leaf::Dim(d) => write!(f, "$d{d}"),
            Leaf::Param(p) => write!(f, "$p{p}"),
            Leaf::Var(r) => {
                f.write_str("$")?;
                write_ref(f, r)
            }
            Leaf::Bar(Target::Var(r)) => {
                f.write_str("$b")?;
                write_ref(f, r)
            }
            Leaf::Bar(Target::Param(p)) => write!(f, "$bp{p}"),
            Leaf::Index(i) => write!(f, "$i{i}"),
            Leaf::Fn(n) => write!(f, "$f{n}"),
        }
    }
}

/// A string that is not a leaf's debugging form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotALeaf;

fn parse_ref(s: &str) -> Result<Ref, NotALeaf> {
    let s = s.strip_prefix('v').ok_or(NotALeaf)?;
    let (var, rest) = s.split_once('[').ok_or(NotALeaf)?;
    let body = rest.strip_suffix(']').ok_or(NotALeaf)?;
    let var = var.parse().map_err(|_| NotALeaf)?;
    let mut at = Vec::new();
    if !body.is_empty() {
        for item in body.split(',') {
            if let Some((rel, end)) = item
                .strip_prefix('i')
                .map(|r| (r, false))
                .or_else(|| item.strip_prefix('e').map(|r| (r, true)))
            {
                let cut = rel.find(['+', '-']).ok_or(NotALeaf)?;
                let (i, o) = rel.split_at(cut);
                let (i, o) = (
                    i.parse().map_err(|_| NotALeaf)?,
                    o.parse().map_err(|_| NotALeaf)?,
                );
                at.push(if end { Ix::End(i, o) } else { Ix::Rel(i, o) });
            } else {
                at.push(Ix::Abs(item.parse().map_err(|_| NotALeaf)?));
            }
        }
    }
    Ok(Ref { var, at: at.into() })
}

impl FromStr for Leaf {
    type Err = NotALeaf;

    fn from_str(s: &str) -> Result<Leaf, NotALeaf> {
        let s = s.strip_prefix('$').ok_or(NotALeaf)?;
        let num = |t: &str| t.parse::<u32>().map_err(|_| NotALeaf);
        if let Some(r) = s.strip_prefix("bp") {
            return Ok(Leaf::Bar(Target::Param(num(r)?)));
        }
        if let Some(r) = s.strip_prefix('b') {
            return Ok(Leaf::Bar(Target::Var(parse_ref(r)?)));
        }
        if s.starts_with('v') {
            return Ok(Leaf::Var(parse_ref(s)?));
        }
        let (tag, rest) = s.split_at(s.len().min(1));
        match tag {
            "d" => Ok(Leaf::Dim(num(rest)?)),
            "p" => Ok(Leaf::Param(num(rest)?)),
            "i" => Ok(Leaf::Index(num(rest)?)),
            "f" => Ok(Leaf::Fn(num(rest)?)),
            _ => Err(NotALeaf),
        }
    }
}

mod language {
    // The macro takes no doc attributes on variants; each is described by
    // the comment above it.
    #![allow(missing_docs)]
    use super::{Fun, Leaf, Rational};
    use egg::{define_language, Id};

    define_language! {
        /// Every expression form of the language, plus the derivation operators
        /// `vjp` (a vector-Jacobian product) and `jac` (a Jacobian). Each
        /// variant's meaning is in the comment above it.
        pub enum Node {
            // `a + b`, scalars broadcast.
            "+" = Add([Id; 2]),
            // `a - b`, scalars broadcast.
            "-" = Sub([Id; 2]),
            // `-a`.
            "neg" = Neg(Id),
            // `a * b`: scaling when either side is a scalar, else a matrix product.
            "*" = Mul([Id; 2]),
            // `a .* b`, elementwise.
            ".*" = Had([Id; 2]),
            // `a / s`, division by a scalar.
            "/" = Div([Id; 2]),
            // `a ^ s`, elementwise power by a scalar.
            "^" = Pow([Id; 2]),
            // `a^T`.
            "T" = Trans(Id),
            // An elementwise function or its derivative form: `tanh(a)`,
            // `tanh'(a)` (see `act::ROWS`).
            Act(Fun, [Id; 1]),
            // `(call f a)`: a declared function's value; `f` is a `Leaf::Fn`.
            "call" = Call([Id; 2]),
            // `(grad f a)`: its gradient.
            "grad" = Grad([Id; 2]),
            // `(hess f a)`: its Hessian.
            "hess" = Hess([Id; 2]),
            // `(jacf f a)`: the Jacobian of a vector-valued declared
            // function, written `jac f(a)`.
            "jacf" = JacF([Id; 2]),
            // `(sum t e)`: `e` summed over every value of index `t`.
            "sum" = Sum([Id; 2]),
            // `(sumall e)`: the sum of the entries of `e`, written `sum(e)`.
            "sumall" = SumAll(Id),
            // `(prod e)`: the product of the entries of `e`, written `prod(e)`.
            "prod" = Prod(Id),
            // `(softmax e)`: `exp(e) / sum(exp(e))`, kept whole so that its
            // derivative has the textbook form `s .* (b - s^T * b)`.
            "softmax" = Softmax(Id),
            // `(I n)`: the identity of size `n`, a scalar size expression.
            "I" = Eye(Id),
            // `(zeros m n)`: the zero matrix of `m` rows and `n` columns,
            // written where no neighbouring block gives a zero its size.
            "zeros" = Zeros([Id; 2]),
            // `(block (row a b) (row c d))`: a block matrix.
            "block" = Block(Box<[Id]>),
            // One row of a block matrix.
            "row" = Row(Box<[Id]>),
            // `det(M)`.
            "det" = Det(Id),
            // `inv(M)`.
            "inv" = Inv(Id),
            // `tr(M)`.
            "tr" = Trace(Id),
            // `(vjp seed x e)`: the adjoint that `seed`, flowing back through
            // `e`, contributes to the leaf `x`.
            "vjp" = Vjp([Id; 3]),
            // `(jac x e)`: the Jacobian of `e` with respect to the leaf `x`.
            "jac" = Jac([Id; 2]),
            // `(diag v)`: the diagonal matrix with `v` on its diagonal.
            "diag" = Diag(Id),
            // An exact constant.
            Num(Rational),
            // A name.
            Leaf(Leaf),
        }
    }
}
pub use act::{Act, Fun};
pub use language::Node;

impl Node {
    /// The shape of a declared function's node (`f(a)`, `grad f(a)`,
    /// `hess f(a)`, `jac f(a)`), given the function's argument and value
    /// shapes: the value, the gradient, the Hessian or the Jacobian.
    pub fn fn_shape(&self, domain: Shape, codomain: Shape) -> Shape {
        match self {
            Node::Call(_) => codomain,
            Node::Grad(_) => domain,
            Node::Hess(_) => Shape::matrix(domain.rows.clone(), domain.rows),
            _ => Shape::matrix(codomain.rows, domain.rows),
        }
    }

    /// The function, whether it is the derivative form, and the argument,
    /// for an elementwise-function node.
    pub fn as_act(&self) -> Option<(Act, bool, Id)> {
        match *self {
            Node::Act(f, [a]) => Some((f.act, f.prime, a)),
            _ => None,
        }
    }

    /// The node applying `act` (or its derivative) to `a`.
    pub fn act(act: Act, prime: bool, a: Id) -> Node {
        Node::Act(Fun { act, prime }, [a])
    }

    /// The constant, if this is one.
    pub fn as_num(&self) -> Option<&Rational> {
        match self {
            Node::Num(r) => Some(r),
            _ => None,
        }
    }
}

/// The index number that stands for the argument of an identity stated in
/// words (`tanh'(u) = 1 - tanh(u)^2`), printed `u`; never an index of a
/// model.
pub const ARGUMENT: u32 = u32::MAX;

/// Names of everything a leaf can refer to, for printing.
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    /// Dim names by number.
    pub dims: Vec<String>,
    /// Index names by number.
    pub indices: Vec<String>,
    /// For each index whose range ends at a dim plus a constant (`1..T`,
    /// `0..T-1`), that dim's name and the constant: how a position
    /// relative to the end is written (`T+1`).
    pub ends: Vec<Option<(String, i64)>>,
    /// Parameter names by number.
    pub params: Vec<String>,
    /// Variable and input names by number.
    pub vars: Vec<String>,
    /// Function names by number.
    pub fns: Vec<String>,
    /// The shapes of parameters, variables and function arguments, by
    /// number, once the script is checked: printers read them to place
    /// parentheses where a shape decides how a product groups.
    pub shapes: LeafShapeTable,
}

/// Leaf shapes by number.
#[derive(Debug, Clone, Default)]
pub struct LeafShapeTable {
    /// Parameter shapes.
    pub params: Vec<Shape>,
    /// Variable and input shapes.
    pub vars: Vec<Shape>,
    /// Function argument shapes.
    pub fns: Vec<Shape>,
    /// Function value shapes.
    pub fn_values: Vec<Shape>,
}

impl LeafShapes for LeafShapeTable {
    fn leaf_shape(&self, leaf: &Leaf) -> Shape {
        self.stored_leaf_shape(leaf)
            .cloned()
            .unwrap_or_else(Shape::scalar)
    }

    fn stored_leaf_shape(&self, leaf: &Leaf) -> Option<&Shape> {
        match leaf {
            Leaf::Param(p) | Leaf::Bar(Target::Param(p)) => self.params.get(*p as usize),
            Leaf::Var(r) | Leaf::Bar(Target::Var(r)) => self.vars.get(r.var as usize),
            Leaf::Dim(_) | Leaf::Index(_) | Leaf::Fn(_) => None,
        }
    }

    fn fn_domain(&self, f: u32) -> Shape {
        self.fns
            .get(f as usize)
            .cloned()
            .unwrap_or_else(Shape::scalar)
    }

    fn fn_codomain(&self, f: u32) -> Shape {
        self.fn_values
            .get(f as usize)
            .cloned()
            .unwrap_or_else(Shape::scalar)
    }
}

impl LeafShapes for Symbols {
    fn leaf_shape(&self, leaf: &Leaf) -> Shape {
        self.shapes.leaf_shape(leaf)
    }

    fn stored_leaf_shape(&self, leaf: &Leaf) -> Option<&Shape> {
        self.shapes.stored_leaf_shape(leaf)
    }

    fn fn_domain(&self, f: u32) -> Shape {
        self.shapes.fn_domain(f)
    }

    fn fn_codomain(&self, f: u32) -> Shape {
        self.shapes.fn_codomain(f)
    }
}

impl Symbols {
    /// A leaf in the language: `W`, `h[t-1]`, `bar(c[t])`, `D`, `t`, `F`.
    pub fn leaf_text(&self, leaf: &Leaf) -> String {
        match leaf {
            Leaf::Dim(d) => self.dim(*d).to_owned(),
            Leaf::Param(p) => self.param(*p).to_owned(),
            Leaf::Var(r) => self.ref_text(r),
            Leaf::Bar(Target::Var(r)) => format!("bar({})", self.ref_text(r)),
            Leaf::Bar(Target::Param(p)) => format!("bar({})", self.param(*p)),
            Leaf::Index(i) => self.index_name(*i).to_owned(),
            Leaf::Fn(f) => self.func(*f).to_owned(),
        }
    }

    /// A dim's name.
    pub fn dim(&self, d: u32) -> &str {
        self.dims.get(d as usize).map_or("?", String::as_str)
    }

    /// An index's name; [`ARGUMENT`] is `u`.
    pub fn index_name(&self, i: u32) -> &str {
        if i == ARGUMENT {
            return "u";
        }
        self.indices.get(i as usize).map_or("?", String::as_str)
    }

    /// A parameter's name.
    pub fn param(&self, p: u32) -> &str {
        self.params.get(p as usize).map_or("?", String::as_str)
    }

    /// A variable's name.
    pub fn var(&self, v: u32) -> &str {
        self.vars.get(v as usize).map_or("?", String::as_str)
    }

    /// A function's name.
    pub fn func(&self, f: u32) -> &str {
        self.fns.get(f as usize).map_or("?", String::as_str)
    }

    /// A reference's indices in the language: `t-1`, `i, j+1`, `0`.
    pub fn indices_text(&self, at: &[Ix]) -> String {
        at.iter()
            .map(|ix| match *ix {
                Ix::Rel(i, 0) => self.index_name(i).to_owned(),
                Ix::Rel(i, o) if o > 0 => format!("{}+{o}", self.index_name(i)),
                Ix::Rel(i, o) => format!("{}-{}", self.index_name(i), o.unsigned_abs()),
                Ix::Abs(v) => v.to_string(),
                Ix::End(i, o) => self.end_text(i, o, &|d| d.to_owned()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A position relative to the end of index `i`'s range (`T+1`), with
    /// the dim's name written by `dim`.
    pub fn end_text(&self, i: u32, o: i64, dim: &dyn Fn(&str) -> String) -> String {
        match self.ends.get(i as usize).cloned().flatten() {
            Some((d, c)) => {
                let d = dim(&d);
                let k = o.saturating_add(c);
                match k.cmp(&0) {
                    std::cmp::Ordering::Equal => d,
                    std::cmp::Ordering::Greater => format!("{d}+{k}"),
                    std::cmp::Ordering::Less => format!("{d}-{}", k.unsigned_abs()),
                }
            }
            None => format!("end({})", self.index_name(i)),
        }
    }

    /// A reference in the language: `h[t-1]`, `W`.
    pub fn ref_text(&self, r: &Ref) -> String {
        if r.at.is_empty() {
            self.var(r.var).to_owned()
        } else {
            format!("{}[{}]", self.var(r.var), self.indices_text(&r.at))
        }
    }
}

/// The shape a model gives each leaf.
pub trait LeafShapes {
    /// The shape of a leaf (a `Leaf::Fn` or `Leaf::Index` is a scalar).
    fn leaf_shape(&self, leaf: &Leaf) -> Shape;
    /// The shape of a leaf, where it is kept as it is (so that it need not
    /// be copied to be looked up).
    fn stored_leaf_shape(&self, _leaf: &Leaf) -> Option<&Shape> {
        None
    }
    /// The argument shape of a declared function.
    fn fn_domain(&self, f: u32) -> Shape;
    /// The value shape of a declared function (a scalar unless declared
    /// vector-valued).
    fn fn_codomain(&self, _f: u32) -> Shape {
        Shape::scalar()
    }
    /// The number of values of index `i`'s range (`hi - lo + 1`), where
    /// the range is declared and that number is never negative for dims
    /// of at least 1: a sum over the index of a term free of it is that
    /// many times the term.
    fn index_count(&self, _i: u32) -> Option<crate::poly::Poly> {
        None
    }
}

/// Every node of `expr` in order, with its children's positions.
pub fn nodes(expr: &RecExpr<Node>) -> &[Node] {
    expr.as_ref()
}

/// For each node of `expr`, whether the leaf `leaf` is in its subtree.
pub fn holding(expr: &RecExpr<Node>, leaf: &Leaf) -> Vec<bool> {
    let nodes = expr.as_ref();
    let mut has = vec![false; nodes.len()];
    for (k, n) in nodes.iter().enumerate() {
        has[k] = match n {
            Node::Leaf(l) => l == leaf,
            other => egg::Language::children(other)
                .iter()
                .any(|&c| has[usize::from(c)]),
        };
    }
    has
}

/// The root of a non-empty expression.
pub fn root(expr: &RecExpr<Node>) -> Id {
    Id::from(expr.as_ref().len().saturating_sub(1))
}

/// A copy of `expr` with every relative index of every reference (and
/// every adjoint's reference) shifted by `by(index)`.
pub fn shift(expr: &RecExpr<Node>, by: &dyn Fn(u32) -> i64) -> RecExpr<Node> {
    expr.as_ref()
        .iter()
        .map(|n| match n {
            Node::Leaf(Leaf::Var(r)) => Node::Leaf(Leaf::Var(r.shifted(by))),
            Node::Leaf(Leaf::Bar(Target::Var(r))) => {
                Node::Leaf(Leaf::Bar(Target::Var(r.shifted(by))))
            }
            other => other.clone(),
        })
        .collect::<Vec<_>>()
        .into()
}

/// A copy of `expr` with every relative position of index `i` for which
/// `at(i)` gives a value `v` fixed to `v` plus its offset: `h[t-1]` with
/// `t` fixed to 3 is `h[2]`.
pub fn fix(expr: &RecExpr<Node>, at: &dyn Fn(u32) -> Option<i64>) -> RecExpr<Node> {
    fix_at(expr, &|i| at(i).map(Ix::Abs))
}

/// A copy of `expr` with every relative position of index `i` for which
/// `at(i)` gives a fixed position (`Ix::Abs` or `Ix::End`) fixed there,
/// plus its offset: `bar(c[t+1])` with `t` fixed to the end `T` is
/// `bar(c[T+1])`.
pub fn fix_at(expr: &RecExpr<Node>, at: &dyn Fn(u32) -> Option<Ix>) -> RecExpr<Node> {
    let fix_ref = |r: &Ref| Ref {
        var: r.var,
        at: r
            .at
            .iter()
            .map(|ix| match *ix {
                Ix::Rel(i, o) => match at(i) {
                    Some(Ix::Abs(v)) => Ix::Abs(v.saturating_add(o)),
                    Some(Ix::End(j, e)) => Ix::End(j, e.saturating_add(o)),
                    _ => Ix::Rel(i, o),
                },
                a => a,
            })
            .collect(),
    };
    expr.as_ref()
        .iter()
        .map(|n| match n {
            Node::Leaf(Leaf::Var(r)) => Node::Leaf(Leaf::Var(fix_ref(r))),
            Node::Leaf(Leaf::Bar(Target::Var(r))) => Node::Leaf(Leaf::Bar(Target::Var(fix_ref(r)))),
            other => other.clone(),
        })
        .collect::<Vec<_>>()
        .into()
}

/// The size of `expr` as printed: its nodes counted as a tree, a shared
/// sub-expression once per use (saturating).
pub fn size(expr: &RecExpr<Node>) -> usize {
    let mut s: Vec<usize> = Vec::with_capacity(expr.as_ref().len());
    for n in expr.as_ref() {
        let here = n
            .children()
            .iter()
            .fold(1usize, |acc, &c| acc.saturating_add(s[usize::from(c)]));
        s.push(here);
    }
    s.last().copied().unwrap_or(0)
}

/// The depth of the deepest path in `expr` (a leaf has depth 1).
pub fn depth(expr: &RecExpr<Node>) -> usize {
    let mut d: Vec<usize> = Vec::with_capacity(expr.as_ref().len());
    for n in expr.as_ref() {
        let here = n
            .children()
            .iter()
            .map(|&c| d[usize::from(c)])
            .max()
            .unwrap_or(0)
            + 1;
        d.push(here);
    }
    d.last().copied().unwrap_or(0)
}

/// Whether the sub-expressions at `a` and `b` (in `ea` and `eb`) are equal
/// as trees.
pub fn same_tree(ea: &RecExpr<Node>, a: Id, eb: &RecExpr<Node>, b: Id) -> bool {
    let mut stack = vec![(a, b)];
    while let Some((x, y)) = stack.pop() {
        let (nx, ny) = (&ea[x], &eb[y]);
        if !nx.matches(ny) {
            return false;
        }
        stack.extend(
            nx.children()
                .iter()
                .copied()
                .zip(ny.children().iter().copied()),
        );
    }
    true
}
