//! The spanned syntax tree of a script, exactly as written. Names are not
//! resolved and shapes are not known here; `check` does that.

use crate::diag::Span;
use crate::num::Rational;

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it is.
    pub span: Span,
}

/// A whole script.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The statements in order.
    pub stmts: Vec<Stmt>,
}

/// One statement with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    /// What it says.
    pub kind: StmtKind,
    /// The whole statement.
    pub span: Span,
    /// A request that ends `with steps`.
    pub steps: bool,
}

/// The statements of the language.
#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `dim D, H`.
    Dim(Vec<Ident>),
    /// `index i, j [in lo..hi]`.
    Index {
        /// The index names.
        names: Vec<Ident>,
        /// The range, if given.
        range: Option<(SizeExpr, SizeExpr)>,
    },
    /// `param W, V : shape`, or `param W[l] : shape` (one per index value).
    Param {
        /// The parameters, with their indices if they have them.
        targets: Vec<Ref>,
        /// Their shape.
        shape: ShapeExpr,
    },
    /// `input x[t] : shape`.
    Input {
        /// The inputs with their indices.
        targets: Vec<Ref>,
        /// Their shape.
        shape: ShapeExpr,
    },
    /// `state x[k] : shape`.
    State {
        /// The variables with their indices.
        targets: Vec<Ref>,
        /// Their shape.
        shape: ShapeExpr,
    },
    /// `fn F : from -> to`.
    Fn {
        /// The function name.
        name: Ident,
        /// Its argument's shape.
        from: ShapeExpr,
        /// Its value's shape.
        to: ShapeExpr,
    },
    /// `init h[0] = value`.
    Init {
        /// The boundary value being set.
        target: Ref,
        /// Its value.
        value: Expr,
    },
    /// `loss L = expr`.
    Loss {
        /// The loss's name.
        name: Ident,
        /// Its definition.
        value: Expr,
    },
    /// `v[t] = expr`.
    Equation {
        /// The variable defined, with its indices.
        target: Ref,
        /// The right-hand side.
        value: Expr,
    },
    /// `derive ...`, `count ...`, `depth ...`, `expect ...`.
    Request(Request),
}

/// A request for a derivation.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `derive adjoints [assuming ...]`.
    Adjoints {
        /// Substitutions to apply.
        assuming: Vec<Assign>,
    },
    /// `derive grad W [assuming ...]`.
    Grad {
        /// The parameter, with its indices if it has them.
        param: Ref,
        /// Substitutions to apply.
        assuming: Vec<Assign>,
    },
    /// `derive inverse`.
    Inverse,
    /// `derive J = jacobian (ys) wrt (xs)`.
    Jacobian {
        /// The name given to the result.
        name: Ident,
        /// The differentiated values.
        of: Vec<Ref>,
        /// The values differentiated by.
        wrt: Vec<Ref>,
    },
    /// `derive det(J)`.
    Det {
        /// The matrix.
        of: Ident,
    },
    /// `count params`.
    CountParams,
    /// `count macs v[...]`.
    CountMacs(Ref),
    /// `depth v[...]`.
    Depth(Ref),
    /// `expect lhs = rhs [assuming ...]`.
    Expect {
        /// The derived result named.
        lhs: ExpectLhs,
        /// The claimed value.
        rhs: Expr,
        /// Substitutions under which the claim is made.
        assuming: Vec<Assign>,
    },
}

/// The left side of an `expect`.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectLhs {
    /// `depth(v[...])`.
    Depth(Ref, Span),
    /// Any other form: `bar(v[t])`, `det(J)`, `params`, `macs(v[...])`, `J`, `theta[k]`.
    Expr(Expr),
}

/// `v[t] = value` after `assuming`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assign {
    /// The variable.
    pub target: Ref,
    /// Its assumed value.
    pub value: Expr,
    /// The whole assignment.
    pub span: Span,
    /// Whether the assumption is about the sum of the variable's entries
    /// (`sum(y) = 1`) rather than its value.
    pub sum_of: bool,
}

/// A shape as written: `scalar`, `N`, or `M x N`.
#[derive(Debug, Clone, PartialEq)]
pub enum ShapeExpr {
    /// `scalar`.
    Scalar(Span),
    /// A vector of the given size.
    Vector(SizeExpr),
    /// A matrix.
    Matrix(SizeExpr, SizeExpr),
}

/// A size: a polynomial in dims and integers.
#[derive(Debug, Clone, PartialEq)]
pub struct SizeExpr {
    /// What it is.
    pub kind: SizeKind,
    /// Where.
    pub span: Span,
}

/// The forms of a size.
#[derive(Debug, Clone, PartialEq)]
pub enum SizeKind {
    /// An integer.
    Int(u64),
    /// A dim name.
    Name(String),
    /// `a + b`.
    Add(Box<SizeExpr>, Box<SizeExpr>),
    /// `a - b`.
    Sub(Box<SizeExpr>, Box<SizeExpr>),
    /// `a * b`.
    Mul(Box<SizeExpr>, Box<SizeExpr>),
    /// `a ^ n`.
    Pow(Box<SizeExpr>, u32),
}

/// A reference to a name with optional indices: `h[t-1]`, `W`, `h[0, j]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ref {
    /// The name.
    pub name: Ident,
    /// The indices, if written.
    pub indices: Option<Vec<IndexItem>>,
    /// The whole reference.
    pub span: Span,
}

/// One index inside brackets.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexItem {
    /// An index name with an offset: `t`, `t-1`, `k+1`.
    Var {
        /// The index.
        name: Ident,
        /// The offset.
        offset: i64,
        /// The whole item.
        span: Span,
    },
    /// A fixed index value: `0`.
    Const {
        /// The value.
        value: i64,
        /// Where.
        span: Span,
    },
}

impl IndexItem {
    /// Where the item is.
    pub fn span(&self) -> Span {
        match self {
            IndexItem::Var { span, .. } | IndexItem::Const { span, .. } => *span,
        }
    }
}

/// An expression with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `.*`.
    Had,
    /// `./`: elementwise division, `a .* b^(-1)`.
    HadDiv,
    /// `/`.
    Div,
    /// `^`.
    Pow,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Had => ".*",
            BinOp::HadDiv => "./",
            BinOp::Div => "/",
            BinOp::Pow => "^",
        }
    }
}

impl Expr {
    /// Calls `f` with this expression and every expression inside it.
    pub fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            f(e);
            match &e.kind {
                ExprKind::Num(_) | ExprKind::Ref(_) => {}
                ExprKind::Neg(a) | ExprKind::Transpose(a) | ExprKind::Paren(a) => stack.push(a),
                ExprKind::Grad(_, a) | ExprKind::Hess(_, a) | ExprKind::Jac(_, a) => stack.push(a),
                ExprKind::Binary(_, a, b) => {
                    stack.push(a);
                    stack.push(b);
                }
                ExprKind::Call { args, .. } => stack.extend(args.iter()),
                ExprKind::Block(rows) => stack.extend(rows.iter().flatten()),
            }
        }
    }
}

/// The forms of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A number, exact.
    Num(Rational),
    /// A reference to a name.
    Ref(Ref),
    /// A unary minus.
    Neg(Box<Expr>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a^T`.
    Transpose(Box<Expr>),
    /// `f(args)` or `f'(args)`: activations, declared functions, and the
    /// built-in forms `sum`, `bar`, `det`, `inv`, `tr`, `I`.
    Call {
        /// The function name.
        name: Ident,
        /// Whether it is the derivative form `f'`.
        prime: bool,
        /// The arguments.
        args: Vec<Expr>,
    },
    /// `grad F(a)`.
    Grad(Ident, Box<Expr>),
    /// `hess F(a)`.
    Hess(Ident, Box<Expr>),
    /// `jac f(a)`.
    Jac(Ident, Box<Expr>),
    /// `[A, B; C, D]`.
    Block(Vec<Vec<Expr>>),
    /// `(a)`.
    Paren(Box<Expr>),
}
