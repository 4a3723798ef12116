//! Expressions: name resolution, index checks and shape inference, lowered
//! to the IR in one walk. In lenient mode (shape inference of recurrences)
//! a variable of unknown shape makes its expression's shape unknown.

use super::{closest, Checker, Named};
use crate::diag::{Diagnostic, Span};
use crate::ir::build::ExprBuilder;
use crate::ir::{Act, Ix, Leaf, Node, Ref, Target};
use crate::model::VarKind;
use crate::poly::Poly;
use crate::shape::{Product, Shape};
use crate::syntax::ast::{self, BinOp, Expr, ExprKind, IndexItem};
use egg::{Id, RecExpr};

type Result<T> = std::result::Result<T, Diagnostic>;

/// The message of an error that follows from one already reported (a use of
/// a variable whose own equation failed); the checker drops it.
pub(super) const CASCADE: &str = "";

/// A lowered sub-expression: its root and its shape (`None` if unknown).
type Lowered = (Id, Option<Shape>);

/// Lowers expressions in a scope of bound indices.
pub(super) struct Lowerer<'c> {
    ck: &'c Checker,
    /// Indices usable in references here: the equation's, then `sum`'s.
    bound: Vec<u32>,
    lenient: bool,
    /// Whether `bar(...)` may appear (claims and assumptions only).
    pub allow_bar: bool,
    /// Whether the last error was two shapes that do not fit (`W * x`
    /// with the wrong inner size), as opposed to a name or a form.
    pub shape_error: bool,
    /// Fresh names bound by a `sum` (`sum(s, ... b[s] ...)`), each standing
    /// for the index whose positions it is written at; innermost last.
    aliases: Vec<(String, u32)>,
    b: ExprBuilder,
}

/// The declared indices of the positions where `name` is written in
/// references inside `e` (`b[s]` gives the index of `b`'s position), each
/// with the span of that position.
fn positions_of(ck: &Checker, name: &str, e: &Expr, out: &mut Vec<(u32, Span)>) {
    e.visit(&mut |x| {
        let ExprKind::Ref(r) = &x.kind else { return };
        let Some(&(Named::Var(var), _)) = ck.names.get(&r.name.name) else {
            return;
        };
        let decl = &ck.model.vars[var as usize];
        for (pos, item) in r.indices.as_deref().unwrap_or(&[]).iter().enumerate() {
            if let IndexItem::Var { name: n, span, .. } = item {
                if n.name == name {
                    if let Some(&i) = decl.indices.get(pos) {
                        out.push((i, *span));
                    }
                }
            }
        }
    });
}

fn ordinal(n: usize) -> &'static str {
    match n {
        0 => "first",
        1 => "second",
        2 => "third",
        _ => "next",
    }
}

impl<'c> Lowerer<'c> {
    pub(super) fn new(ck: &'c Checker, bound: Vec<u32>, lenient: bool) -> Lowerer<'c> {
        Lowerer {
            ck,
            bound,
            lenient,
            allow_bar: false,
            shape_error: false,
            aliases: Vec::new(),
            b: ExprBuilder::new(),
        }
    }

    pub(super) fn finish(self, root: Id) -> RecExpr<Node> {
        self.b.finish(root)
    }

    fn names(&self) -> impl Fn(u32) -> String + '_ {
        |d| self.ck.model.dim_name(d)
    }

    fn describe(&self, s: &Shape) -> String {
        s.describe(&self.names())
    }

    fn text(&self, span: Span) -> String {
        self.ck.text(span)
    }

    /// Lowers an expression; returns its root and shape.
    pub(super) fn expr(&mut self, e: &Expr) -> Result<Lowered> {
        match &e.kind {
            ExprKind::Num(r) => Ok((self.b.num(r.clone()), Some(Shape::scalar()))),
            ExprKind::Paren(a) => self.expr(a),
            ExprKind::Ref(r) => self.reference(r),
            ExprKind::Neg(a) => {
                let (a, s) = self.expr(a)?;
                Ok((self.b.add(Node::Neg(a)), s))
            }
            ExprKind::Transpose(a) => {
                let (a, s) = self.expr(a)?;
                Ok((self.b.add(Node::Trans(a)), s.map(|s| s.transpose())))
            }
            ExprKind::Binary(op, a, b) => self.binary(e, *op, a, b),
            ExprKind::Call { name, prime, args } => self.call(e, name, *prime, args),
            ExprKind::Grad(f, a) | ExprKind::Hess(f, a) | ExprKind::Jac(f, a) => {
                let is_grad = matches!(e.kind, ExprKind::Grad(..));
                let is_jac = matches!(e.kind, ExprKind::Jac(..));
                let fid = self.function(f)?;
                let domain = self.ck.model.fns[fid as usize].domain.clone();
                let codomain = self.ck.model.fns[fid as usize].codomain.clone();
                if is_jac == codomain.is_scalar() {
                    let (message, hint) = if is_jac {
                        (
                            format!("`{}` is scalar-valued: its derivative is a gradient", f.name),
                            format!("write `grad {}(...)`, or declare `fn {} : ... -> H` for a vector-valued function", f.name, f.name),
                        )
                    } else {
                        (
                            format!("`{}` is vector-valued: its derivative is a Jacobian", f.name),
                            format!("write `jac {}(...)`; `grad` and `hess` take a scalar-valued function", f.name),
                        )
                    };
                    return Err(
                        Diagnostic::new(e.span, message, "wrong derivative form").hint(hint)
                    );
                }
                let (arg, s) = self.expr(a)?;
                let s = self.constant_fits(arg, s, &domain);
                self.check_fn_arg(f, &domain, s.as_ref(), a.span)?;
                let fnode = self.b.leaf(Leaf::Fn(fid));
                if is_jac {
                    let shape = Shape::matrix(codomain.rows.clone(), domain.rows.clone());
                    Ok((self.b.add(Node::JacF([fnode, arg])), Some(shape)))
                } else if is_grad {
                    Ok((self.b.add(Node::Grad([fnode, arg])), Some(domain)))
                } else {
                    let n = domain.rows.clone();
                    Ok((
                        self.b.add(Node::Hess([fnode, arg])),
                        Some(Shape::matrix(n.clone(), n)),
                    ))
                }
            }
            ExprKind::Block(rows) => self.block(e, rows),
        }
    }

    /// A number given to a function of a vector stands for that number in
    /// every entry (`grad F(0)`, the gradient at the zero vector), as a
    /// scalar does beside a vector in a sum.
    fn constant_fits(&self, arg: Id, got: Option<Shape>, domain: &Shape) -> Option<Shape> {
        match self.b.node(arg) {
            Node::Num(_) if got.as_ref().is_some_and(Shape::is_scalar) => Some(domain.clone()),
            _ => got,
        }
    }

    fn check_fn_arg(
        &self,
        f: &ast::Ident,
        domain: &Shape,
        got: Option<&Shape>,
        span: Span,
    ) -> Result<()> {
        match got {
            Some(s) if s != domain => Err(Diagnostic::new(
                span,
                format!(
                    "`{}` takes a {}, but this is a {}",
                    f.name,
                    self.describe(domain),
                    self.describe(s)
                ),
                "wrong argument shape",
            )
            .hint(format!(
                "the declaration of `{}` fixes its argument's shape",
                f.name
            ))
            .related(
                self.ck
                    .model
                    .fns
                    .iter()
                    .find(|d| d.name == f.name)
                    .map_or(f.span, |d| d.span),
                "declared here",
            )),
            _ => Ok(()),
        }
    }

    fn function(&self, f: &ast::Ident) -> Result<u32> {
        match self.ck.names.get(&f.name) {
            Some(&(Named::Fn(id), _)) => Ok(id),
            Some(&(other, prev)) => Err(Diagnostic::new(
                f.span,
                format!("`{}` is {}, not a function", f.name, other.describe()),
                "used as a function",
            )
            .related(prev, "declared here")
            .hint(format!(
                "declare a function with `fn {} : D -> scalar`",
                f.name
            ))),
            None => Err(self.unknown_function(f)),
        }
    }

    fn unknown_function(&self, f: &ast::Ident) -> Diagnostic {
        let mut known: Vec<&str> = Act::all().map(Act::name).collect();
        known.extend(["sum", "bar", "det", "inv", "tr", "I", "zeros", "diag"]);
        known.extend(self.ck.model.fns.iter().map(|d| d.name.as_str()));
        let hint = match closest(&f.name, known.iter().copied()) {
            _ if f.name == "grad" || f.name == "hess" => format!(
                "`{}` takes a declared function and its argument: write `{} F(x)` for a `fn F : D -> scalar`",
                f.name, f.name
            ),
            Some(c) => format!("did you mean `{c}`?"),
            None => format!(
                "the built-in functions are {}, sum, mean, softmax, logsumexp, bar, det, inv, tr, diag and I; declare others with `fn {} : D -> scalar`",
                Act::all().map(Act::name).collect::<Vec<_>>().join(", "),
                f.name
            ),
        };
        Diagnostic::new(
            f.span,
            format!("unknown function `{}`", f.name),
            "not declared",
        )
        .hint(hint)
    }

    /// The indices of a reference to a variable, checked against its declaration.
    fn ref_indices(&self, r: &ast::Ref, v: u32) -> Result<Box<[Ix]>> {
        let decl = &self.ck.model.vars[v as usize];
        let items = r.indices.as_deref().unwrap_or(&[]);
        if items.len() != decl.indices.len() {
            return Err(self.ck.arity_error(r, decl));
        }
        let mut at = Vec::with_capacity(items.len());
        for (pos, item) in items.iter().enumerate() {
            match item {
                IndexItem::Const { value, .. } => at.push(Ix::Abs(*value)),
                IndexItem::Var { name, offset, span } => {
                    let alias = self.aliases.iter().rev().find(|(n, _)| *n == name.name);
                    let named = match alias {
                        Some(&(_, i)) => Some(Named::Index(i)),
                        None => self.ck.names.get(&name.name).map(|x| x.0),
                    };
                    let i = match named {
                        Some(Named::Index(i)) => i,
                        Some(Named::Dim(d)) => {
                            // `h[T]`, `h[T-1]`: a fixed step counted from
                            // the end of the range `1..T`.
                            let want = decl.indices[pos];
                            match self.ck.model.range_end(want) {
                                Some((e, c)) if e == d => {
                                    at.push(Ix::End(want, offset - c));
                                    continue;
                                }
                                _ => {
                                    let index = self.ck.model.symbols.index_name(want).to_owned();
                                    return Err(Diagnostic::new(
                                        *span,
                                        format!("`{}` is a dim, not the end of the range of `{index}`", name.name),
                                        "used as an index",
                                    )
                                    .hint(format!(
                                        "a fixed step counted from the end is written with the dim the range ends at: declare `index {index} in 1..{}` and write `{}` or `{}-1`; a step counted from the start is an integer such as `1`",
                                        name.name, name.name, name.name
                                    )));
                                }
                            }
                        }
                        Some(other) => {
                            return Err(Diagnostic::new(
                                *span,
                                format!("`{}` is {}, not an index", name.name, other.describe()),
                                "used as an index",
                            )
                            .hint("indices are declared with `index`; a fixed position is an integer such as `0`"))
                        }
                        None => {
                            let names: Vec<&str> = self.ck.model.indices.iter().map(|d| d.name.as_str()).collect();
                            let hint = match closest(&name.name, names.iter().copied()) {
                                Some(c) => format!("did you mean `{c}`? Otherwise declare it with `index {}`", name.name),
                                None => format!("declare it with `index {}`", name.name),
                            };
                            return Err(Diagnostic::new(*span, format!("unknown index `{}`", name.name), "not declared").hint(hint));
                        }
                    };
                    if i != decl.indices[pos] {
                        return Err(self.ck.position_error(*span, &name.name, decl, pos));
                    }
                    if !self.bound.contains(&i) {
                        return Err(Diagnostic::new(
                            *span,
                            format!("index `{}` is not bound here", name.name),
                            "no value for this index",
                        )
                        .hint(format!(
                            "an equation binds the indices of its left side; sum over it with `sum({}, ...)`",
                            name.name
                        )));
                    }
                    at.push(Ix::Rel(i, *offset));
                }
            }
        }
        Ok(at.into())
    }

    fn reference(&mut self, r: &ast::Ref) -> Result<Lowered> {
        let name = &r.name.name;
        match self.ck.names.get(name) {
            Some(&(Named::Var(v), _)) => {
                let at = self.ref_indices(r, v)?;
                if !self.allow_bar
                    && !self.lenient
                    && self.ck.model.is_learned(v)
                    && at.iter().any(|ix| !matches!(ix, Ix::Rel(_, 0)))
                {
                    // So that the values a model reads, and with them
                    // `count params`, are the index values its equations
                    // and sums run over.
                    let own = self.ck.model.plain_ref(v);
                    // Only in the strict pass: shapes are inferred first,
                    // so that no error follows from this one.
                    return Err(Diagnostic::new(
                        r.span,
                        format!("the parameter `{name}` is read at another index value than its own"),
                        "offset or fixed index",
                    )
                    .hint(format!(
                        "a parameter with indices is read at the index value of the equation or sum that uses it, `{}`; write the equation in that frame, such as `v[l] = tanh(W[l] * v[l-1])`, or declare a parameter of its own for a fixed step",
                        self.ck.model.symbols.ref_text(&own)
                    )));
                }
                let shape = self.ck.var_shapes[v as usize].clone();
                if shape.is_none() && !self.lenient && self.ck.failed.contains(&v) {
                    return Err(Diagnostic::new(r.span, CASCADE, CASCADE));
                }
                if shape.is_none() && !self.lenient {
                    return Err(Diagnostic::new(
                        r.span,
                        format!("the shape of `{name}` cannot be inferred"),
                        "shape unknown",
                    )
                    .hint({
                        let own = self.ck.model.plain_ref(v);
                        format!(
                            "nothing in the script fixes its shape; declare it, such as `state {} : ...`",
                            self.ck.model.symbols.ref_text(&own)
                        )
                    }));
                }
                Ok((self.b.leaf(Leaf::Var(Ref { var: v, at: at.into() })), shape))
            }
            Some(&(Named::Param(p), _)) => {
                if r.indices.is_some() {
                    return Err(Diagnostic::new(
                        r.span,
                        format!("the parameter `{name}` takes no index"),
                        "indexed parameter",
                    )
                    .hint(format!(
                        "this parameter is shared by every index value: write `{name}`; for one per index value declare it with its index, `param {name}[l] : ...`, or declare an `input`"
                    )));
                }
                Ok((
                    self.b.leaf(Leaf::Param(p)),
                    Some(self.ck.model.params[p as usize].shape.clone()),
                ))
            }
            Some(&(Named::Dim(d), _)) => {
                if r.indices.is_some() {
                    return Err(Diagnostic::new(r.span, format!("the dim `{name}` takes no index"), "indexed dim")
                        .hint(format!("a dim is a number; write `{name}`")));
                }
                Ok((self.b.leaf(Leaf::Dim(d)), Some(Shape::scalar())))
            }
            Some(&(Named::Index(_), _)) => Err(Diagnostic::new(
                r.span,
                format!("the index `{name}` is not a value"),
                "index used as a value",
            )
            .hint("indices appear inside brackets, such as `h[t-1]`, or as the first argument of `sum`")),
            Some(&(Named::Fn(_), _)) => Err(Diagnostic::new(
                r.span,
                format!("the function `{name}` needs an argument"),
                "function without a call",
            )
            .hint(format!("call it, such as `{name}(h[t])`"))),
            Some(&(Named::Loss, _)) => Err(Diagnostic::new(
                r.span,
                format!("the loss `{name}` cannot appear in an expression"),
                "the loss",
            )
            .hint("the loss is the objective; expressions use the values it is computed from")),
            Some(&(Named::Jacobian(_), _)) => Err(Diagnostic::new(
                r.span,
                format!("the derived Jacobian `{name}` cannot appear in an expression"),
                "a derived result",
            )
            .hint(format!("claims about it are written `expect {name} = ...` or `expect det({name}) = ...`"))),
            None => {
                let mut known: Vec<&str> = self.ck.names.keys().map(String::as_str).collect();
                known.sort_unstable();
                let hint = match closest(name, known.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "declare it with `param`, `input` or `dim`, or define it with an equation".to_owned(),
                };
                Err(Diagnostic::new(r.span, format!("unknown name `{name}`"), "not declared").hint(hint))
            }
        }
    }

    fn binary(&mut self, e: &Expr, op: BinOp, a: &Expr, b: &Expr) -> Result<Lowered> {
        let (ia, sa) = self.expr(a)?;
        let (ib, sb) = self.expr(b)?;
        let value = |id: Id| constant_value(&self.b, id);
        let zero = |id: Id| value(id).is_some_and(|r| r.is_zero());
        let negative = |id: Id| value(id).is_some_and(|r| r.is_negative());
        let by_zero = match op {
            BinOp::Div | BinOp::HadDiv => zero(ib),
            BinOp::Pow => zero(ia) && negative(ib),
            _ => false,
        };
        if by_zero {
            return Err(Diagnostic::new(
                e.span,
                format!("`{}` divides by zero", self.text(e.span)),
                "no value",
            )
            .hint("a quotient needs a divisor that is not zero; a constant offset such as `v + eps` keeps a value away from it"));
        }
        // A scalar in an elementwise product or quotient stands for every
        // entry (`2 .* x`, `x ./ N`, `1 ./ v`): a scaling, a division by a
        // scalar, or a scaled elementwise inverse; between two scalars, the
        // quotient `/`.
        if let (BinOp::Had | BinOp::HadDiv, Some(x), Some(y)) = (op, &sa, &sb) {
            if x.is_scalar() != y.is_scalar() || op == BinOp::HadDiv && y.is_scalar() {
                let node = match op {
                    BinOp::Had => Node::Mul([ia, ib]),
                    _ if y.is_scalar() => Node::Div([ia, ib]),
                    _ => {
                        let minus_one = self.b.num(crate::num::Rational::int(-1));
                        let inverse = self.b.add(Node::Pow([ib, minus_one]));
                        Node::Mul([ia, inverse])
                    }
                };
                let node = fold_fraction(&self.b, node);
                let shape = if x.is_scalar() { y.clone() } else { x.clone() };
                return Ok((self.b.add(node), Some(shape)));
            }
        }
        let node = match op {
            BinOp::Add => Node::Add([ia, ib]),
            BinOp::Sub => Node::Sub([ia, ib]),
            BinOp::Mul => Node::Mul([ia, ib]),
            BinOp::Had => Node::Had([ia, ib]),
            // `a ./ b` is `a .* b^(-1)`, and prints back as written.
            BinOp::HadDiv => {
                let minus_one = self.b.num(crate::num::Rational::int(-1));
                let inverse = self.b.add(Node::Pow([ib, minus_one]));
                Node::Had([ia, inverse])
            }
            BinOp::Div => Node::Div([ia, ib]),
            BinOp::Pow => Node::Pow([ia, ib]),
        };
        let node = fold_fraction(&self.b, node);
        let id = self.b.add(node);
        let (sa, sb) = match (sa, sb) {
            (Some(x), Some(y)) => (x, y),
            (x, y) => return Ok((id, unknown_result(op, x, y))),
        };
        let (ta, tb) = (self.text(a.span), self.text(b.span));
        // An error returned from this match is a shape error.
        self.shape_error = true;
        let shape = match op {
            BinOp::Add | BinOp::Sub => match sa.broadcast(&sb) {
                Some(s) => s,
                None => {
                    return Err(Diagnostic::new(
                        e.span,
                        format!(
                            "`{}` cannot {} a {} and a {}",
                            op.symbol(),
                            if op == BinOp::Add { "add" } else { "subtract" },
                            self.describe(&sa),
                            self.describe(&sb)
                        ),
                        format!("`{ta}` and `{tb}` differ in shape"),
                    )
                    .hint(if sa.is_square() && sb.is_square() {
                        "both sides need the same shape; a scalar applies to every entry (use `I(n)` for the identity)".to_owned()
                    } else {
                        "both sides need the same shape; a scalar applies to every entry".to_owned()
                    }))
                }
            },
            BinOp::HadDiv => {
                if sa != sb {
                    let hint = if sa.is_vector() && !sb.is_vector() {
                        format!("a vector is not divided by a matrix: multiply by the matrix's inverse, `inv({tb}) * {ta}`")
                    } else {
                        "an elementwise quotient needs equal shapes".to_owned()
                    };
                    return Err(Diagnostic::new(
                        e.span,
                        format!("`./` needs two values of one shape, not a {} and a {}", self.describe(&sa), self.describe(&sb)),
                        format!("`{ta}` and `{tb}` differ in shape"),
                    )
                    .hint(hint));
                }
                sa
            }
            BinOp::Had => {
                if sa != sb {
                    return Err(Diagnostic::new(
                        e.span,
                        format!("`.*` needs two values of one shape, not a {} and a {}", self.describe(&sa), self.describe(&sb)),
                        format!("`{ta}` and `{tb}` differ in shape"),
                    )
                    .hint("an elementwise product needs equal shapes; a scalar stands for every entry"));
                }
                sa
            }
            BinOp::Mul => match sa.product(&sb) {
                Product::Scale(s) | Product::Matrix(s) => s,
                Product::Mismatch => {
                    let both_vectors = sa.is_vector() && sb.is_vector();
                    let d = if both_vectors {
                        Diagnostic::new(
                            e.span,
                            format!("`{ta} * {tb}` multiplies two vectors"),
                            format!("a {} times a {}", self.describe(&sa), self.describe(&sb)),
                        )
                        .hint(if sa == sb {
                            format!("for the elementwise product write `{ta} .* {tb}`; for the inner product `{} * {tb}`", transposed(&ta))
                        } else {
                            format!("for the outer product write `{ta} * {}`", transposed(&tb))
                        })
                    } else {
                        Diagnostic::new(
                            e.span,
                            format!(
                                "`*` cannot multiply a {} by a {}",
                                self.describe(&sa),
                                self.describe(&sb)
                            ),
                            format!(
                                "inner sizes `{}` and `{}` differ",
                                sa.cols.display(&self.names()),
                                sb.rows.display(&self.names())
                            ),
                        )
                        .hint(if sa.transpose().product(&sb) != Product::Mismatch {
                            format!("did you mean `{} * {tb}`?", transposed(&ta))
                        } else if sa.product(&sb.transpose()) != Product::Mismatch {
                            format!("did you mean `{ta} * {}`?", transposed(&tb))
                        } else {
                            "check the declared shapes of both sides".to_owned()
                        })
                    };
                    return Err(d);
                }
            },
            BinOp::Div => {
                if !sb.is_scalar() {
                    return Err(Diagnostic::new(
                        b.span,
                        format!("division by a {}", self.describe(&sb)),
                        "not a scalar",
                    )
                    .hint(if sa == sb {
                        format!("for the elementwise quotient write `{ta} ./ {tb}`; `/` divides by a scalar")
                    } else {
                        "divide by a scalar; for a matrix, multiply by its inverse `inv(M)`".to_owned()
                    }));
                }
                sa
            }
            BinOp::Pow => {
                if !sb.is_scalar() {
                    return Err(Diagnostic::new(
                        b.span,
                        format!("an exponent that is a {}", self.describe(&sb)),
                        "not a scalar",
                    )
                    .hint("the exponent of `^` is a scalar; `^T` is the transpose"));
                }
                sa
            }
        };
        self.shape_error = false;
        Ok((id, Some(shape)))
    }

    fn one_arg<'a>(
        &self,
        e: &Expr,
        name: &ast::Ident,
        args: &'a [Expr],
        n: usize,
    ) -> Result<&'a [Expr]> {
        if args.len() == n {
            return Ok(args);
        }
        let form = match name.name.as_str() {
            "sum" => "`sum(t, e)`, or `sum(e)` for the sum of the entries".to_owned(),
            "I" => "`I(n)` with a size `n`".to_owned(),
            "zeros" => "`zeros(m, n)` with two sizes".to_owned(),
            other => format!("`{other}(a)`"),
        };
        Err(Diagnostic::new(
            e.span,
            format!(
                "`{}` takes {} argument{}, not {}",
                name.name,
                n,
                if n == 1 { "" } else { "s" },
                args.len()
            ),
            "wrong number of arguments",
        )
        .hint(format!("write {form}")))
    }

    fn call(&mut self, e: &Expr, name: &ast::Ident, prime: bool, args: &[Expr]) -> Result<Lowered> {
        let fname = if name.name == "σ" {
            "sigma"
        } else {
            name.name.as_str()
        };
        if fname == "leaky_relu" && !prime && args.len() == 2 {
            // `leaky_relu(a, s)`: the slope `s` a scalar (a parameter, so
            // that it is learned, or a number), written out as
            // `relu(a) - s * relu(-a)`, which is `a` for `a > 0` and `s * a`
            // otherwise.
            let (ia, sa) = self.expr(&args[0])?;
            let (is, ss) = self.expr(&args[1])?;
            if ss.as_ref().is_some_and(|x| !x.is_scalar()) {
                return Err(Diagnostic::new(args[1].span, "the slope of `leaky_relu` is not a scalar", "not a scalar")
                    .hint("write `leaky_relu(a, s)` with a scalar slope `s`, such as a `param s : scalar` or `1/10`; a slope per entry is `relu(a) - s .* relu(-a)`"));
            }
            let pos = self.b.add(Node::act(Act::Relu, false, ia));
            let neg_a = self.b.add(Node::Neg(ia));
            let neg = self.b.add(Node::act(Act::Relu, false, neg_a));
            let scaled = self.b.add(Node::Mul([is, neg]));
            return Ok((self.b.add(Node::Sub([pos, scaled])), sa));
        }
        if let Some(act) = Act::from_name(fname) {
            let [a] = self.one_arg(e, name, args, 1)? else {
                unreachable_arity(e)?
            };
            let (ia, s) = self.expr(a)?;
            return Ok((self.b.add(Node::act(act, prime, ia)), s));
        }
        if prime {
            return Err(Diagnostic::new(
                name.span,
                format!("`{}'` is not a derivative the language knows", name.name),
                "no derivative form",
            )
            .hint(format!(
                "derivative forms exist for {}; for a declared function use `grad F(x)`",
                Act::listed()
            )));
        }
        match fname {
            // `softmax(z)` is kept whole; written out:
            // `logsumexp(z) = log(sum(exp(z)))`, `mean(e) = sum(e) / n` for
            // the `n` entries of `e`.
            "softmax" | "logsumexp" | "mean" => {
                let [a] = self.one_arg(e, name, args, 1)? else {
                    unreachable_arity(e)?
                };
                let (ia, shape) = self.expr(a)?;
                match fname {
                    "mean" => {
                        let Some(shape) = shape else {
                            return Err(Diagnostic::new(a.span, format!("the size of `{}` is not known here", self.text(a.span)), "size unknown")
                                .hint("`mean` divides by the number of entries: declare the value's shape (`state x[k] : D`)"));
                        };
                        let Some(count) = shape.rows.mul(&shape.cols) else {
                            return Err(Diagnostic::new(
                                a.span,
                                format!(
                                    "`{}` has too many entries to count exactly",
                                    self.text(a.span)
                                ),
                                "too large",
                            )
                            .hint("use smaller sizes"));
                        };
                        let total = self.b.add(Node::SumAll(ia));
                        let entries = self.b.poly(&count);
                        Ok((
                            self.b.add(Node::Div([total, entries])),
                            Some(Shape::scalar()),
                        ))
                    }
                    "softmax" => {
                        if let Some(s) = &shape {
                            if !s.rows.is_one() && !s.cols.is_one() {
                                return Err(Diagnostic::new(a.span, format!("`softmax` of `{}`, a {}", self.text(a.span), self.describe(s)), "not a vector")
                                    .hint("`softmax` normalises a vector; for a matrix, apply it to each column (`softmax(Z_col)`) or write `exp(Z) / sum(exp(Z))` to normalise over every entry"));
                            }
                        }
                        Ok((self.b.add(Node::Softmax(ia)), shape))
                    }
                    _ => {
                        let ez = self.b.add(Node::act(Act::Exp, false, ia));
                        let total = self.b.add(Node::SumAll(ez));
                        Ok((
                            self.b.add(Node::act(Act::Log, false, total)),
                            Some(Shape::scalar()),
                        ))
                    }
                }
            }
            "sum" if args.len() == 1 => {
                let (ia, _) = self.expr(&args[0])?;
                Ok((self.b.add(Node::SumAll(ia)), Some(Shape::scalar())))
            }
            "prod" => {
                let [a] = self.one_arg(e, name, args, 1)? else {
                    unreachable_arity(e)?
                };
                let (ia, _) = self.expr(a)?;
                Ok((self.b.add(Node::Prod(ia)), Some(Shape::scalar())))
            }
            "sum" => {
                let [t, body] = self.one_arg(e, name, args, 2)? else {
                    unreachable_arity(e)?
                };
                let mut fresh: Option<String> = None;
                let index = match &t.kind {
                    ExprKind::Ref(r) if r.indices.is_none() => match self.ck.names.get(&r.name.name) {
                        Some(&(Named::Index(i), _)) => i,
                        // A fresh name: it stands for the index of the
                        // positions it is written at (`sum(s, b[s])`).
                        None => {
                            let mut at = Vec::new();
                            positions_of(self.ck, &r.name.name, body, &mut at);
                            let Some(&(i, _)) = at.first() else {
                                return Err(Diagnostic::new(t.span, format!("`{}` is not an index", r.name.name), "expected an index")
                                    .hint(format!(
                                        "a name that is not declared can be summed over when the sum writes it in a reference's index position, such as `sum({0}, ell(h[{0}]))`; otherwise declare it with `index {0}`",
                                        r.name.name
                                    )));
                            };
                            if let Some(&(j, span)) = at.iter().find(|(j, _)| *j != i) {
                                let names = &self.ck.model.symbols;
                                return Err(Diagnostic::new(span, format!(
                                    "`{}` is written where `{}` goes and where `{}` goes",
                                    r.name.name, names.index_name(i), names.index_name(j)
                                ), "a position of another index")
                                .hint("a name bound by a `sum` stands for one index: write it only at positions of that index"));
                            }
                            fresh = Some(r.name.name.clone());
                            i
                        }
                        _ => {
                            return Err(Diagnostic::new(t.span, format!("`{}` is not an index", self.text(t.span)), "expected an index")
                                .hint("the first argument of `sum` is the index summed over, such as `sum(t, ell(h[t]))`"))
                        }
                    },
                    _ => {
                        return Err(Diagnostic::new(t.span, "the first argument of `sum` is not an index", "expected an index")
                            .hint("write `sum(t, e)`: the index, then the summed expression"))
                    }
                };
                if self.bound.contains(&index) {
                    let hint = match &fresh {
                        Some(_) => format!(
                            "`{}` stands for the index `{}`, which the claim's left side already fixes; a sum over the same index inside a value at one of its index values cannot be written yet",
                            self.text(t.span),
                            self.ck.model.symbols.index_name(index)
                        ),
                        None => "a sum runs over an index that the surrounding equation does not fix".to_owned(),
                    };
                    return Err(Diagnostic::new(
                        t.span,
                        format!("`{}` is already bound here", self.text(t.span)),
                        "summed over a bound index",
                    )
                    .hint(hint));
                }
                self.bound.push(index);
                if let Some(n) = &fresh {
                    self.aliases.push((n.clone(), index));
                }
                let inner = self.expr(body);
                if fresh.is_some() {
                    self.aliases.pop();
                }
                self.bound.pop();
                let (ib, s) = inner?;
                let it = self.b.leaf(Leaf::Index(index));
                Ok((self.b.add(Node::Sum([it, ib])), s))
            }
            "bar" => {
                let [a] = self.one_arg(e, name, args, 1)? else {
                    unreachable_arity(e)?
                };
                if !self.allow_bar {
                    return Err(Diagnostic::new(
                        e.span,
                        "an adjoint `bar(...)` in a model equation",
                        "adjoints are derived, not defined",
                    )
                    .hint("adjoints appear in `expect` claims; the model states only the forward computation"));
                }
                let ExprKind::Ref(r) = &a.kind else {
                    return Err(Diagnostic::new(
                        a.span,
                        "`bar` takes a variable or a parameter",
                        "not a name",
                    )
                    .hint("write `bar(h[t])` or `bar(W)`"));
                };
                match self.ck.names.get(&r.name.name) {
                    Some(&(Named::Var(v), _))
                        if self.ck.model.vars[v as usize].kind != VarKind::Input
                            || self.ck.model.is_learned(v) =>
                    {
                        let at = self.ref_indices(r, v)?;
                        let s = self.ck.var_shapes[v as usize].clone();
                        Ok((self.b.leaf(Leaf::Bar(Target::Var(Ref { var: v, at: at.into() }))), s))
                    }
                    Some(&(Named::Param(p), _)) if r.indices.is_none() => Ok((
                        self.b.leaf(Leaf::Bar(Target::Param(p))),
                        Some(self.ck.model.params[p as usize].shape.clone()),
                    )),
                    _ => Err(Diagnostic::new(a.span, format!("`bar({})` is not an adjoint deriv computes", self.text(a.span)), "no such adjoint")
                        .hint("adjoints exist for defined variables, `bar(h[t])`, and parameters, `bar(W)`")),
                }
            }
            "det" | "inv" | "tr" => {
                let [a] = self.one_arg(e, name, args, 1)? else {
                    unreachable_arity(e)?
                };
                let (ia, s) = self.expr(a)?;
                if let Some(s) = &s {
                    if !s.is_square() {
                        return Err(Diagnostic::new(
                            a.span,
                            format!(
                                "`{fname}` needs a square matrix, not a {}",
                                self.describe(s)
                            ),
                            "not square",
                        )
                        .hint("determinants, inverses and traces exist for square matrices only"));
                    }
                }
                let (node, shape) = match fname {
                    "det" => (Node::Det(ia), Some(Shape::scalar())),
                    "tr" => (Node::Trace(ia), Some(Shape::scalar())),
                    _ => (Node::Inv(ia), s),
                };
                Ok((self.b.add(node), shape))
            }
            "diag" => {
                let [a] = self.one_arg(e, name, args, 1)? else {
                    unreachable_arity(e)?
                };
                let (ia, s) = self.expr(a)?;
                if let Some(s) = &s {
                    if !s.is_vector() && !s.is_scalar() {
                        return Err(Diagnostic::new(
                            a.span,
                            format!("`diag` takes a vector, not a {}", self.describe(s)),
                            "not a vector",
                        )
                        .hint(
                            "`diag(v)` is the square matrix with the vector `v` on its diagonal",
                        ));
                    }
                }
                let n = s.map(|s| s.rows);
                Ok((
                    self.b.add(Node::Diag(ia)),
                    n.map(|n| Shape::matrix(n.clone(), n)),
                ))
            }
            "I" => {
                let [a] = self.one_arg(e, name, args, 1)? else {
                    unreachable_arity(e)?
                };
                let n = self.positive_size_of(a)?;
                let (ia, _) = self.expr(a)?;
                Ok((self.b.add(Node::Eye(ia)), Some(Shape::matrix(n.clone(), n))))
            }
            "zeros" => {
                let [a, c] = self.one_arg(e, name, args, 2)? else {
                    unreachable_arity(e)?
                };
                let (m, n) = (self.positive_size_of(a)?, self.positive_size_of(c)?);
                let (ia, _) = self.expr(a)?;
                let (ic, _) = self.expr(c)?;
                Ok((self.b.add(Node::Zeros([ia, ic])), Some(Shape::matrix(m, n))))
            }
            _ => {
                let fid = self.function(name)?;
                let [a] = self.one_arg(e, name, args, 1)? else {
                    unreachable_arity(e)?
                };
                let domain = self.ck.model.fns[fid as usize].domain.clone();
                let (ia, s) = self.expr(a)?;
                let s = self.constant_fits(ia, s, &domain);
                self.check_fn_arg(name, &domain, s.as_ref(), a.span)?;
                let f = self.b.leaf(Leaf::Fn(fid));
                let codomain = self.ck.model.fns[fid as usize].codomain.clone();
                Ok((self.b.add(Node::Call([f, ia])), Some(codomain)))
            }
        }
    }

    /// [`Self::size_of`], positive for every value of the dims, as a
    /// declared size must be (`I(0)` and `zeros(-1, D)` have no entries to
    /// speak of).
    fn positive_size_of(&self, e: &Expr) -> Result<Poly> {
        let p = self.size_of(e)?;
        match super::not_positive(&p, e.span, &self.text(e.span)) {
            Some(d) => Err(d),
            None => Ok(p),
        }
    }

    /// An expression that must be a size: dims, integers, `+ - *`, `^` by an integer.
    pub(super) fn size_of(&self, e: &Expr) -> Result<Poly> {
        let bad = |span: Span| {
            Diagnostic::new(span, "not a size", "expected dims and integers").hint(
                "a size is built from dims and integers with `+`, `-`, `*` and `^`, such as `2*H`",
            )
        };
        let too_big = |span: Span| {
            Diagnostic::new(span, "this size is too large to work with", "too large")
                .hint("sizes are small polynomials in the dims")
        };
        let p = match &e.kind {
            ExprKind::Num(r) if r.is_integer() => Poly::constant(r.clone()),
            ExprKind::Paren(a) => self.size_of(a)?,
            ExprKind::Ref(r) if r.indices.is_none() => match self.ck.names.get(&r.name.name) {
                Some(&(Named::Dim(d), _)) => Poly::dim(d),
                _ => return Err(bad(e.span)),
            },
            ExprKind::Neg(a) => self.size_of(a)?.neg(),
            ExprKind::Binary(op, a, b) => {
                let pa = self.size_of(a)?;
                match op {
                    BinOp::Pow => {
                        let n = match &b.kind {
                            ExprKind::Num(r) => r.to_i64().and_then(|n| u32::try_from(n).ok()),
                            _ => None,
                        };
                        let n = n.ok_or_else(|| bad(b.span))?;
                        pa.pow(n).ok_or_else(|| too_big(e.span))?
                    }
                    BinOp::Add => pa.add(&self.size_of(b)?).ok_or_else(|| too_big(e.span))?,
                    BinOp::Sub => pa.sub(&self.size_of(b)?).ok_or_else(|| too_big(e.span))?,
                    BinOp::Mul => pa.mul(&self.size_of(b)?).ok_or_else(|| too_big(e.span))?,
                    _ => return Err(bad(e.span)),
                }
            }
            _ => return Err(bad(e.span)),
        };
        Ok(p)
    }

    fn block(&mut self, e: &Expr, rows: &[Vec<Expr>]) -> Result<Lowered> {
        let ncols = rows.first().map_or(0, Vec::len);
        for (k, row) in rows.iter().enumerate() {
            if row.len() != ncols {
                let span = row
                    .first()
                    .map_or(e.span, |c| c.span)
                    .to(row.last().map_or(e.span, |c| c.span));
                return Err(Diagnostic::new(
                    span,
                    format!("the {} row of the block matrix has {} blocks, the first has {}", ordinal(k), row.len(), ncols),
                    "row of a different length",
                )
                .hint("every row of a block matrix has the same number of blocks; write `0` for a zero block"));
            }
        }
        let mut cells: Vec<Vec<Lowered>> = Vec::new();
        for row in rows {
            let mut out = Vec::new();
            for cell in row {
                out.push(self.expr(cell)?);
            }
            cells.push(out);
        }
        let is_zero = |c: &Expr| matches!(&c.kind, ExprKind::Num(r) if r.is_zero());
        let mut heights: Vec<Option<Poly>> = vec![None; rows.len()];
        let mut widths: Vec<Option<Poly>> = vec![None; ncols];
        let mut unknown = false;
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                if is_zero(cell) {
                    continue;
                }
                let Some(s) = &cells[r][c].1 else {
                    unknown = true;
                    continue;
                };
                for (slot, size, what) in [
                    (&mut heights[r], &s.rows, "rows"),
                    (&mut widths[c], &s.cols, "columns"),
                ] {
                    match slot {
                        Some(prev) if prev != size => {
                            return Err(Diagnostic::new(
                                cell.span,
                                format!(
                                    "this block has {} {what} where its neighbours have {}",
                                    size.display(&self.names()),
                                    prev.display(&self.names())
                                ),
                                "does not conform",
                            )
                            .hint("blocks in one row share their rows, blocks in one column their columns"));
                        }
                        Some(_) => {}
                        None => *slot = Some(size.clone()),
                    }
                }
            }
        }
        let mut row_ids = Vec::new();
        for r in cells {
            let ids: Vec<Id> = r.into_iter().map(|(id, _)| id).collect();
            row_ids.push(self.b.add(Node::Row(ids.into())));
        }
        let id = self.b.add(Node::Block(row_ids.into()));
        if unknown {
            return Ok((id, None));
        }
        let sum = |v: &[Option<Poly>]| {
            v.iter().try_fold(Poly::zero(), |acc, p| {
                acc.add(p.as_ref().unwrap_or(&Poly::int(1)))
            })
        };
        let (Some(h), Some(w)) = (sum(&heights), sum(&widths)) else {
            return Err(Diagnostic::new(
                e.span,
                "this block matrix is too large to work with",
                "too large",
            ));
        };
        Ok((id, Some(Shape::matrix(h, w))))
    }
}

/// The arity was checked just before; this keeps the slice pattern total.
fn unreachable_arity<T>(e: &Expr) -> Result<T> {
    Err(Diagnostic::new(
        e.span,
        "internal error: wrong number of arguments",
        "here",
    ))
}

/// The shape of `a op b` when one side's shape is not yet known.
fn unknown_result(op: BinOp, a: Option<Shape>, b: Option<Shape>) -> Option<Shape> {
    match op {
        BinOp::Add | BinOp::Sub => a.or(b).filter(|s| !s.is_scalar()),
        BinOp::Had | BinOp::HadDiv => a.or(b),
        BinOp::Div | BinOp::Pow => a,
        // A matrix times a value of unknown shape: in a recurrence such as
        // `x[k+1] = W * x[k]` the unknown is a vector; the strict pass
        // checks that guess.
        BinOp::Mul => match (a, b) {
            (Some(m), None) if !m.is_scalar() && !m.is_vector() => Some(Shape::vector(m.rows)),
            _ => None,
        },
    }
}

/// The transpose of an operand, as text: `W` for `W^T` (not `(W^T)^T`),
/// else the operand with a postfix `^T`.
fn transposed(text: &str) -> String {
    match text.strip_suffix("^T") {
        Some(inner) if operand(inner) == inner => inner.to_owned(),
        _ => format!("{}^T", operand(text)),
    }
}

/// An operand's text as it can take a postfix `^T`: a name (indexed or
/// not) or a bracketed whole as written, anything else in parentheses
/// (`(x^2)^T`, not `x^2^T`, which reads as `x^(2^T)`).
fn operand(text: &str) -> String {
    let name_end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let rest = &text[name_end..];
    let name = name_end > 0
        && (rest.is_empty()
            || (rest.starts_with('[') && rest.ends_with(']') && !rest[1..].contains('[')));
    let mut depth = 0i32;
    let mut whole = text.starts_with('(');
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 && i + 1 != text.len() {
                    whole = false;
                }
            }
            _ => {}
        }
    }
    if name || (whole && depth == 0) {
        text.to_owned()
    } else {
        format!("({text})")
    }
}

/// The value of a constant expression of numbers (`1 - 1`, `-2/3`);
/// `None` for anything else, or where the arithmetic has no exact value.
fn constant_value(b: &crate::ir::build::ExprBuilder, id: Id) -> Option<crate::num::Rational> {
    let v = |x: Id| constant_value(b, x);
    match b.node(id) {
        Node::Num(r) => Some(r.clone()),
        Node::Neg(x) => Some(v(*x)?.neg()),
        Node::Add([x, y]) => v(*x)?.add(&v(*y)?),
        Node::Sub([x, y]) => v(*x)?.sub(&v(*y)?),
        Node::Mul([x, y]) | Node::Had([x, y]) => v(*x)?.mul(&v(*y)?),
        Node::Div([x, y]) => v(*x)?.div(&v(*y)?),
        _ => None,
    }
}

/// A quotient of two numbers (`1/2`, `-3/4`) as the one exact constant
/// it is, so that a fraction reads and prints as a number; any other node
/// as it is.
fn fold_fraction(b: &crate::ir::build::ExprBuilder, node: Node) -> Node {
    let Node::Div([a, d]) = node else {
        return node;
    };
    let (num, negated) = match b.node(a) {
        Node::Num(r) => (r.clone(), false),
        Node::Neg(x) => match b.node(*x) {
            Node::Num(r) => (r.clone(), true),
            _ => return node,
        },
        _ => return node,
    };
    match b.node(d) {
        // (`-0/1` stays as written: the sign of a zero is not a number's.)
        Node::Num(den) if !(den.is_zero() || negated && num.is_zero()) => match num.div(den) {
            Some(q) if negated => Node::Num(q.neg()),
            Some(q) => Node::Num(q),
            None => node,
        },
        _ => node,
    }
}

#[cfg(test)]
mod tests {
    use super::operand;

    #[test]
    fn a_transposed_operand_keeps_its_meaning() {
        assert_eq!(operand("x"), "x");
        assert_eq!(operand("h[t-1]"), "h[t-1]");
        assert_eq!(operand("(W * x)"), "(W * x)");
        assert_eq!(operand("(x)^2"), "((x)^2)");
        assert_eq!(operand("(a) * (b)"), "((a) * (b))");
        assert_eq!(operand("W * x"), "(W * x)");
    }
}
