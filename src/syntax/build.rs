//! Builds the spanned syntax tree from pest's pairs. Operator chains are
//! folded iteratively; recursion follows brackets only, whose depth the
//! layout pass has bounded. Expression depth is bounded here.

use super::ast::*;
use super::Rule;
use crate::diag::{Diagnostic, Span};
use crate::num::Rational;
use pest::iterators::Pair;

type Result<T> = std::result::Result<T, Diagnostic>;

/// The largest index offset or fixed index value a script may write; it
/// keeps every index computation far from overflow.
pub const MAX_INDEX: u64 = 1_000_000;

/// Turns a parsed `script` pair into a [`Script`].
pub struct Builder {
    max_depth: usize,
}

/// A pair's span without the trailing whitespace pest may include.
fn span(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    let trailing = s.as_str().len() - s.as_str().trim_end_matches([' ', '\t']).len();
    Span::new(s.start(), s.end() - trailing)
}

/// The inner pairs of a pair; pest guarantees their order by the grammar.
fn inner<'i>(pair: Pair<'i, Rule>) -> Vec<Pair<'i, Rule>> {
    pair.into_inner().collect()
}

fn ident(pair: &Pair<'_, Rule>) -> Ident {
    Ident {
        name: pair.as_str().to_owned(),
        span: span(pair),
    }
}

/// A grammar/builder mismatch; unreachable for text the grammar accepted,
/// but reported as an error rather than a panic.
/// Made only when it is reported (it cannot be, for a tree the grammar
/// built); `at` is the pair's span.
fn shape_error(at: Span) -> Diagnostic {
    Diagnostic::new(
        at,
        "internal error: the syntax tree does not have the expected form",
        "here",
    )
    .hint("please report this script")
}

impl Builder {
    /// A builder that refuses expressions deeper than `max_depth`.
    pub fn new(max_depth: usize) -> Builder {
        Builder { max_depth }
    }

    /// Builds the whole script.
    pub fn script(&self, pair: Pair<'_, Rule>) -> Result<Script> {
        let mut stmts = Vec::new();
        for p in pair.into_inner() {
            if p.as_rule() == Rule::EOI {
                continue;
            }
            stmts.push(self.stmt(p)?);
        }
        Ok(Script { stmts })
    }

    fn stmt(&self, pair: Pair<'_, Rule>) -> Result<Stmt> {
        let sp = span(&pair);
        let rule = pair.as_rule();
        let at = span(&pair);
        let err = move || shape_error(at);
        let mut parts = inner(pair);
        let steps = parts
            .last()
            .is_some_and(|p| p.as_rule() == Rule::with_steps);
        if steps {
            parts.pop();
        }
        let kind = match rule {
            Rule::dim_decl => StmtKind::Dim(names(&parts[1..])),
            Rule::index_decl => {
                let mut range = None;
                let mut ns = Vec::new();
                for p in &parts[1..] {
                    match p.as_rule() {
                        Rule::name => ns.push(ident(p)),
                        Rule::range => {
                            let r = inner(p.clone());
                            let (lo, hi) = match r.as_slice() {
                                [lo, hi] => (self.size(lo.clone())?, self.size(hi.clone())?),
                                _ => return Err(shape_error(span(p))),
                            };
                            range = Some((lo, hi));
                        }
                        _ => {}
                    }
                }
                StmtKind::Index { names: ns, range }
            }
            Rule::param_decl | Rule::input_decl | Rule::state_decl => {
                // `param W[l] : D`, `input x[t], y[t] : D` and `state x[k] : D`
                // read alike.
                let (last, rest) = parts.split_last().ok_or_else(err)?;
                let targets = rest[1..]
                    .iter()
                    .map(|p| self.reference(p.clone()))
                    .collect::<Result<_>>()?;
                let shape = self.shape(last.clone())?;
                match rule {
                    Rule::param_decl => StmtKind::Param { targets, shape },
                    Rule::input_decl => StmtKind::Input { targets, shape },
                    _ => StmtKind::State { targets, shape },
                }
            }
            Rule::fn_decl => match parts.as_slice() {
                [_, n, from, to] => StmtKind::Fn {
                    name: ident(n),
                    from: self.shape(from.clone())?,
                    to: self.shape(to.clone())?,
                },
                _ => return Err(err()),
            },
            Rule::init_decl => match parts.as_slice() {
                [_, t, v] => StmtKind::Init {
                    target: self.reference(t.clone())?,
                    value: self.expr(v.clone())?,
                },
                _ => return Err(err()),
            },
            Rule::loss_decl => match parts.as_slice() {
                [_, n, v] => StmtKind::Loss {
                    name: ident(n),
                    value: self.expr(v.clone())?,
                },
                _ => return Err(err()),
            },
            Rule::equation => match parts.as_slice() {
                [t, v] => StmtKind::Equation {
                    target: self.reference(t.clone())?,
                    value: self.expr(v.clone())?,
                },
                _ => return Err(err()),
            },
            Rule::derive_req => match parts.as_slice() {
                [_, req] => StmtKind::Request(self.derive(req.clone())?),
                _ => return Err(err()),
            },
            Rule::count_req => {
                let req = parts.get(1).ok_or_else(err)?;
                let sub = inner(req.clone());
                match req.as_rule() {
                    Rule::count_params => StmtKind::Request(Request::CountParams),
                    Rule::count_macs => match sub.as_slice() {
                        [_, r] => StmtKind::Request(Request::CountMacs(self.reference(r.clone())?)),
                        _ => return Err(err()),
                    },
                    _ => return Err(err()),
                }
            }
            Rule::depth_req => match parts.as_slice() {
                [_, r] => StmtKind::Request(Request::Depth(self.reference(r.clone())?)),
                _ => return Err(err()),
            },
            Rule::expect_req => {
                let lhs_pair = parts.get(1).ok_or_else(err)?;
                let rhs_pair = parts.get(2).ok_or_else(err)?;
                let lhs = match inner(lhs_pair.clone()).as_slice() {
                    [p] if p.as_rule() == Rule::depth_lhs => match inner(p.clone()).as_slice() {
                        [_, r] => ExpectLhs::Depth(self.reference(r.clone())?, span(p)),
                        _ => return Err(err()),
                    },
                    [p] => ExpectLhs::Expr(self.expr(p.clone())?),
                    _ => return Err(err()),
                };
                let assuming = match parts.get(3) {
                    Some(a) => self.assuming(a.clone())?,
                    None => Vec::new(),
                };
                StmtKind::Request(Request::Expect {
                    lhs,
                    rhs: self.expr(rhs_pair.clone())?,
                    assuming,
                })
            }
            _ => return Err(err()),
        };
        Ok(Stmt {
            kind,
            span: sp,
            steps,
        })
    }

    fn derive(&self, pair: Pair<'_, Rule>) -> Result<Request> {
        let rule = pair.as_rule();
        let at = span(&pair);
        let err = move || shape_error(at);
        let parts = inner(pair);
        let assuming = |p: Option<&Pair<'_, Rule>>| match p {
            Some(a) => self.assuming(a.clone()),
            None => Ok(Vec::new()),
        };
        Ok(match rule {
            Rule::adjoints_req => Request::Adjoints {
                assuming: assuming(parts.get(1))?,
            },
            Rule::grad_req => Request::Grad {
                param: self.reference(parts.get(1).ok_or_else(err)?.clone())?,
                assuming: assuming(parts.get(2))?,
            },
            Rule::inverse_req => Request::Inverse,
            Rule::jacobian_req => match parts.as_slice() {
                [n, _, of, _, wrt] => Request::Jacobian {
                    name: ident(n),
                    of: self.ref_tuple(of.clone())?,
                    wrt: self.ref_tuple(wrt.clone())?,
                },
                _ => return Err(err()),
            },
            Rule::det_req => Request::Det {
                of: ident(parts.get(1).ok_or_else(err)?),
            },
            _ => return Err(err()),
        })
    }

    fn ref_tuple(&self, pair: Pair<'_, Rule>) -> Result<Vec<Ref>> {
        pair.into_inner().map(|p| self.reference(p)).collect()
    }

    fn assuming(&self, pair: Pair<'_, Rule>) -> Result<Vec<Assign>> {
        let mut out = Vec::new();
        for p in pair.into_inner() {
            if p.as_rule() != Rule::assignment {
                continue;
            }
            let sp = span(&p);
            let at = span(&p);
            let err = move || shape_error(at);
            match inner(p).as_slice() {
                [t, v] => {
                    let sum_of = t.as_rule() == Rule::sum_target;
                    let t = if sum_of {
                        inner(t.clone()).into_iter().next().ok_or_else(err)?
                    } else {
                        t.clone()
                    };
                    out.push(Assign {
                        target: self.reference(t)?,
                        value: self.expr(v.clone())?,
                        span: sp,
                        sum_of,
                    })
                }
                _ => return Err(err()),
            }
        }
        Ok(out)
    }

    fn shape(&self, pair: Pair<'_, Rule>) -> Result<ShapeExpr> {
        let at = span(&pair);
        let err = move || shape_error(at);
        let parts: Vec<_> = inner(pair)
            .into_iter()
            .filter(|p| p.as_rule() != Rule::shape_times)
            .collect();
        match parts.as_slice() {
            [s] if s.as_rule() == Rule::kw_scalar => Ok(ShapeExpr::Scalar(span(s))),
            [n] => Ok(ShapeExpr::Vector(self.size(n.clone())?)),
            [m, n] => Ok(ShapeExpr::Matrix(
                self.size(m.clone())?,
                self.size(n.clone())?,
            )),
            _ => Err(err()),
        }
    }

    /// A size expression (`dim_expr`, `dim_term`, `dim_factor` or an atom).
    fn size(&self, pair: Pair<'_, Rule>) -> Result<SizeExpr> {
        let sp = span(&pair);
        match pair.as_rule() {
            Rule::int => {
                let n = pair.as_str().parse::<u64>().map_err(|_| {
                    Diagnostic::new(sp, "this size is too large", "more than 2^64")
                        .hint("sizes are ordinary integers; use a `dim` for a symbolic size")
                })?;
                Ok(SizeExpr {
                    kind: SizeKind::Int(n),
                    span: sp,
                })
            }
            Rule::dim_name => Ok(SizeExpr {
                kind: SizeKind::Name(pair.as_str().to_owned()),
                span: sp,
            }),
            Rule::dim_expr => {
                let mut it = pair.into_inner();
                let first = it
                    .next()
                    .ok_or_else(|| Diagnostic::new(sp, "empty size", "here"))?;
                let mut acc = self.size(first)?;
                while let (Some(op), Some(rhs)) = (it.next(), it.next()) {
                    let rhs = self.size(rhs)?;
                    let s = acc.span.to(rhs.span);
                    let kind = if op.as_str() == "+" {
                        SizeKind::Add(Box::new(acc), Box::new(rhs))
                    } else {
                        SizeKind::Sub(Box::new(acc), Box::new(rhs))
                    };
                    acc = SizeExpr { kind, span: s };
                }
                Ok(acc)
            }
            Rule::dim_term => {
                let mut it = pair.into_inner();
                let first = it
                    .next()
                    .ok_or_else(|| Diagnostic::new(sp, "empty size", "here"))?;
                let mut acc = self.size(first)?;
                for rhs in it {
                    let rhs = self.size(rhs)?;
                    let s = acc.span.to(rhs.span);
                    acc = SizeExpr {
                        kind: SizeKind::Mul(Box::new(acc), Box::new(rhs)),
                        span: s,
                    };
                }
                Ok(acc)
            }
            Rule::dim_factor => {
                let at = span(&pair);
                let err = move || shape_error(at);
                let parts = inner(pair);
                match parts.as_slice() {
                    [a] => self.size(a.clone()),
                    [a, e] => {
                        let base = self.size(a.clone())?;
                        let exp = e.as_str().parse::<u32>().map_err(|_| {
                            Diagnostic::new(span(e), "this exponent is too large", "here")
                                .hint("a size's exponent is a small integer")
                        })?;
                        Ok(SizeExpr {
                            kind: SizeKind::Pow(Box::new(base), exp),
                            span: sp,
                        })
                    }
                    _ => Err(err()),
                }
            }
            _ => Err(shape_error(span(&pair))),
        }
    }

    /// A `target` or `reference`: a name with optional indices.
    fn reference(&self, pair: Pair<'_, Rule>) -> Result<Ref> {
        let sp = span(&pair);
        let at = span(&pair);
        let err = move || shape_error(at);
        let parts = inner(pair);
        let name = ident(parts.first().ok_or_else(err)?);
        let indices = match parts.get(1) {
            Some(list) => Some(
                list.clone()
                    .into_inner()
                    .map(|item| self.index_item(item))
                    .collect::<Result<Vec<_>>>()?,
            ),
            None => None,
        };
        Ok(Ref {
            name,
            indices,
            span: sp,
        })
    }

    fn index_item(&self, pair: Pair<'_, Rule>) -> Result<IndexItem> {
        let sp = span(&pair);
        let at = span(&pair);
        let err = move || shape_error(at);
        let item = inner(pair).into_iter().next().ok_or_else(err)?;
        // Indices stay far from overflow in every later computation.
        let number = |text: &str, at: Span| -> Result<i64> {
            match text.parse::<i64>() {
                Ok(n) if n.unsigned_abs() <= MAX_INDEX => Ok(n),
                _ => Err(Diagnostic::new(
                    at,
                    format!("this index is beyond the limit of {MAX_INDEX}"),
                    "too large",
                )
                .hint(
                    "index offsets and fixed index values are small integers such as `t-1` or `0`",
                )),
            }
        };
        match item.as_rule() {
            Rule::signed_int => Ok(IndexItem::Const {
                value: number(item.as_str(), sp)?,
                span: sp,
            }),
            Rule::index_var => {
                let parts = inner(item);
                let name = ident(parts.first().ok_or_else(err)?);
                let offset = match (parts.get(1), parts.get(2)) {
                    (Some(op), Some(n)) => {
                        let n = number(n.as_str(), span(n))?;
                        if op.as_str() == "-" {
                            -n
                        } else {
                            n
                        }
                    }
                    _ => 0,
                };
                Ok(IndexItem::Var {
                    name,
                    offset,
                    span: sp,
                })
            }
            _ => Err(err()),
        }
    }

    fn too_deep(&self, sp: Span) -> Diagnostic {
        Diagnostic::new(
            sp,
            format!(
                "this expression nests deeper than the limit of {}",
                self.max_depth
            ),
            "too deep",
        )
        .hint(super::too_deep_hint(
            "split it into named equations",
            "--max-depth",
            self.max_depth,
        ))
    }

    /// Builds an expression and checks its depth.
    pub fn expr(&self, pair: Pair<'_, Rule>) -> Result<Expr> {
        let (e, depth) = self.expr_depth(pair)?;
        if depth > self.max_depth {
            return Err(self.too_deep(e.span));
        }
        Ok(e)
    }

    /// An expression and its depth; any level of the expression grammar.
    fn expr_depth(&self, pair: Pair<'_, Rule>) -> Result<(Expr, usize)> {
        let sp = span(&pair);
        let rule = pair.as_rule();
        let at = span(&pair);
        let err = move || shape_error(at);
        match rule {
            Rule::expr | Rule::term => {
                let mut it = pair.into_inner();
                let first = it.next().ok_or_else(err)?;
                let (mut acc, mut depth) = self.expr_depth(first)?;
                while let (Some(op), Some(rhs)) = (it.next(), it.next()) {
                    let (rhs, d) = self.expr_depth(rhs)?;
                    let op = match op.as_str() {
                        "+" => BinOp::Add,
                        "-" => BinOp::Sub,
                        "*" => BinOp::Mul,
                        "/" => BinOp::Div,
                        "./" | "⊘" => BinOp::HadDiv,
                        _ => BinOp::Had,
                    };
                    depth = depth.max(d) + 1;
                    if depth > self.max_depth {
                        return Err(self.too_deep(sp));
                    }
                    let s = acc.span.to(rhs.span);
                    acc = Expr {
                        kind: ExprKind::Binary(op, Box::new(acc), Box::new(rhs)),
                        span: s,
                    };
                }
                Ok((acc, depth))
            }
            Rule::unary => {
                let parts = inner(pair);
                let (last, negs) = parts.split_last().ok_or_else(err)?;
                let (mut e, mut depth) = self.expr_depth(last.clone())?;
                for neg in negs.iter().rev() {
                    depth += 1;
                    let s = span(neg).to(e.span);
                    e = Expr {
                        kind: ExprKind::Neg(Box::new(e)),
                        span: s,
                    };
                }
                if depth > self.max_depth {
                    return Err(self.too_deep(sp));
                }
                Ok((e, depth))
            }
            Rule::power => {
                // base (^ -* operand)*, right associative: fold from the right.
                let mut operands: Vec<(usize, Expr, usize, Span)> = Vec::new();
                let mut negs = 0usize;
                let mut neg_start = None;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::pow_op => {
                            negs = 0;
                            neg_start = None;
                        }
                        Rule::neg_op => {
                            negs += 1;
                            neg_start.get_or_insert(span(&p));
                        }
                        _ => {
                            let s = neg_start.unwrap_or_else(|| span(&p));
                            let (e, d) = self.expr_depth(p)?;
                            operands.push((negs, e, d, s));
                        }
                    }
                }
                let (negs, mut acc, mut depth, s) = operands.pop().ok_or_else(err)?;
                (acc, depth) = wrap_negs(acc, depth, negs, s);
                while let Some((negs, base, d, s)) = operands.pop() {
                    depth = depth.max(d) + 1;
                    if depth > self.max_depth {
                        return Err(self.too_deep(sp));
                    }
                    let whole = base.span.to(acc.span);
                    acc = Expr {
                        kind: ExprKind::Binary(BinOp::Pow, Box::new(base), Box::new(acc)),
                        span: whole,
                    };
                    (acc, depth) = wrap_negs(acc, depth, negs, s);
                }
                Ok((acc, depth))
            }
            Rule::postfix => {
                let mut it = pair.into_inner();
                let (mut e, mut depth) = self.expr_depth(it.next().ok_or_else(err)?)?;
                for t in it {
                    depth += 1;
                    let s = e.span.to(span(&t));
                    e = Expr {
                        kind: ExprKind::Transpose(Box::new(e)),
                        span: s,
                    };
                }
                if depth > self.max_depth {
                    return Err(self.too_deep(sp));
                }
                Ok((e, depth))
            }
            Rule::number => {
                let value = pair.as_str().parse::<Rational>().map_err(|_| {
                    Diagnostic::new(sp, "this number cannot be read", "not an exact number")
                        .hint("write an integer such as `2` or a decimal such as `0.5`; a fraction is a division, `1/2`")
                })?;
                Ok((
                    Expr {
                        kind: ExprKind::Num(value),
                        span: sp,
                    },
                    1,
                ))
            }
            Rule::reference => Ok((
                Expr {
                    kind: ExprKind::Ref(self.reference(pair)?),
                    span: sp,
                },
                1,
            )),
            Rule::paren => {
                let (e, d) = self.expr_depth(pair.into_inner().next().ok_or_else(err)?)?;
                Ok((
                    Expr {
                        kind: ExprKind::Paren(Box::new(e)),
                        span: sp,
                    },
                    d + 1,
                ))
            }
            Rule::block => {
                let mut rows = Vec::new();
                let mut depth = 0;
                for row in pair.into_inner() {
                    let mut cells = Vec::new();
                    for cell in row.into_inner() {
                        let (e, d) = self.expr_depth(cell)?;
                        depth = depth.max(d);
                        cells.push(e);
                    }
                    rows.push(cells);
                }
                Ok((
                    Expr {
                        kind: ExprKind::Block(rows),
                        span: sp,
                    },
                    depth + 1,
                ))
            }
            Rule::call | Rule::deriv_call => {
                let mut it = pair.into_inner();
                let name = ident(&it.next().ok_or_else(err)?);
                let mut args = Vec::new();
                let mut depth = 0;
                for a in it {
                    let (e, d) = self.expr_depth(a)?;
                    depth = depth.max(d);
                    args.push(e);
                }
                Ok((
                    Expr {
                        kind: ExprKind::Call {
                            name,
                            prime: rule == Rule::deriv_call,
                            args,
                        },
                        span: sp,
                    },
                    depth + 1,
                ))
            }
            Rule::grad_call | Rule::hess_call | Rule::jac_call => {
                let parts = inner(pair);
                let (f, arg) = match parts.as_slice() {
                    [_, f, a] => (ident(f), a.clone()),
                    _ => return Err(err()),
                };
                let (a, d) = self.expr_depth(arg)?;
                let kind = match rule {
                    Rule::grad_call => ExprKind::Grad(f, Box::new(a)),
                    Rule::jac_call => ExprKind::Jac(f, Box::new(a)),
                    _ => ExprKind::Hess(f, Box::new(a)),
                };
                Ok((Expr { kind, span: sp }, d + 1))
            }
            _ => Err(err()),
        }
    }
}

fn wrap_negs(mut e: Expr, mut depth: usize, negs: usize, start: Span) -> (Expr, usize) {
    for _ in 0..negs {
        depth += 1;
        let s = start.to(e.span);
        e = Expr {
            kind: ExprKind::Neg(Box::new(e)),
            span: s,
        };
    }
    (e, depth)
}

fn names(pairs: &[Pair<'_, Rule>]) -> Vec<Ident> {
    pairs
        .iter()
        .filter(|p| p.as_rule() == Rule::name)
        .map(ident)
        .collect()
}
