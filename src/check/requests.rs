//! Requests: what each `derive`, `count`, `depth` and `expect` names must
//! exist and fit, and the claims of `expect` are lowered for proof.

use super::lower::Lowerer;
use super::{Checker, Named};
use crate::diag::{Diagnostic, Span};
use crate::ir::{Ix, Leaf, Node, Ref, Target};
use crate::model::{Assumption, Claim, Claimed, Request, RequestKind, SumAssumption, VarKind};
use crate::shape::Shape;
use crate::syntax::ast::{self, Assign, ExpectLhs, Expr, ExprKind, IndexItem, Stmt, StmtKind};

type Result<T> = std::result::Result<T, Diagnostic>;

impl Checker {
    pub(super) fn check_requests(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            let StmtKind::Request(req) = &s.kind else {
                continue;
            };
            match self.request(s, req) {
                Ok(kind) => {
                    let line = self.line(s.span);
                    let text = self.text(s.span).trim().to_owned();
                    self.model.requests.push(Request {
                        kind,
                        span: s.span,
                        line,
                        text,
                        steps: s.steps,
                    });
                }
                Err(d) => self.error(d),
            }
        }
    }

    fn needs_loss(&self, span: Span, what: &str) -> Result<()> {
        if self.model.loss.is_some() {
            return Ok(());
        }
        Err(Diagnostic::new(
            span,
            format!("{what} needs a loss"),
            "no `loss` in this script",
        )
        .hint("declare the objective, such as `loss L = sum(t, ell(h[t]))`"))
    }

    fn request(&mut self, s: &Stmt, req: &ast::Request) -> Result<RequestKind> {
        Ok(match req {
            ast::Request::Adjoints { assuming } => {
                self.needs_loss(s.span, "`derive adjoints`")?;
                let (assuming, sums) = self.both_assumptions(assuming)?;
                RequestKind::Adjoints { assuming, sums }
            }
            ast::Request::Grad { param, assuming } => {
                let target = match self.names.get(&param.name.name) {
                    Some(&(Named::Param(p), _)) if param.indices.is_none() => Target::Param(p),
                    Some(&(Named::Param(_), _)) => {
                        return Err(Diagnostic::new(
                            param.span,
                            format!("`{}` has no indices", param.name.name),
                            "a parameter shared by every index value",
                        )
                        .hint(format!("write `derive grad {}`", param.name.name)))
                    }
                    // `grad W` and `grad W[l]` alike: the gradient at every
                    // index value.
                    Some(&(Named::Var(v), _)) if self.model.is_learned(v) => match param.indices {
                        Some(_) => Target::Var(self.at_own_indices(param, v, "`derive grad`")?),
                        None => Target::Var(self.model.plain_ref(v)),
                    },
                    _ => return Err(self.not_a_param(&param.name)),
                };
                self.needs_loss(s.span, "`derive grad`")?;
                let (assuming, sums) = self.both_assumptions(assuming)?;
                RequestKind::Grad {
                    target,
                    assuming,
                    sums,
                }
            }
            ast::Request::Inverse => RequestKind::Inverse,
            ast::Request::Jacobian { name, of, wrt } => {
                let of = self.state_refs(of)?;
                let wrt = self.state_refs(wrt)?;
                let k = self.model.requests.len();
                if !self.declare(name, Named::Jacobian(k)) {
                    return Err(self.errors.pop().unwrap_or_else(|| {
                        Diagnostic::new(name.span, "this name cannot be used", "here")
                    }));
                }
                RequestKind::Jacobian {
                    name: name.name.clone(),
                    of,
                    wrt,
                }
            }
            ast::Request::Det { of: name } => {
                let of = self.jacobian(name)?;
                self.square_jacobian(of, name.span)?;
                RequestKind::Det { of }
            }
            ast::Request::CountParams => RequestKind::CountParams,
            ast::Request::CountMacs(r) => {
                RequestKind::CountMacs(self.plain_var(r, "`count macs`")?)
            }
            ast::Request::Depth(r) => RequestKind::Depth(self.plain_var(r, "`depth`")?),
            ast::Request::Expect { lhs, rhs, assuming } => self.expect(lhs, rhs, assuming)?,
        })
    }

    fn not_a_param(&self, name: &ast::Ident) -> Diagnostic {
        let params: Vec<&str> = self.model.params.iter().map(|p| p.name.as_str()).collect();
        let hint = match super::closest(&name.name, params.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None if params.is_empty() => "this script declares no parameters".to_owned(),
            None => format!(
                "the parameters are {}",
                params
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Diagnostic::new(
            name.span,
            format!("`{}` is not a parameter", name.name),
            "expected a parameter",
        )
        .hint(hint)
    }

    /// Refuses the determinant of a Jacobian that is not square for every
    /// size: as many entries differentiated as differentiated by.
    fn square_jacobian(&self, k: usize, span: Span) -> Result<()> {
        let Some((of, wrt)) = self.jacobian_refs(k) else {
            return Ok(());
        };
        let size = |refs: &[Ref]| {
            refs.iter().try_fold(crate::poly::Poly::int(0), |n, r| {
                let shape = &self.model.vars[r.var as usize].shape;
                n.add(&shape.rows.mul(&shape.cols)?)
            })
        };
        match (size(of), size(wrt)) {
            (Some(rows), Some(cols)) if rows != cols => {
                let names = |d: u32| self.model.dim_name(d);
                Err(Diagnostic::new(
                    span,
                    format!(
                        "`det` needs a square matrix, but this Jacobian has {} rows and {} columns",
                        rows.display(&names),
                        cols.display(&names)
                    ),
                    "not square",
                )
                .hint("a determinant is of a map from a space to itself: differentiate values by as many entries as they have, such as the next state by the previous one"))
            }
            _ => Ok(()),
        }
    }

    fn jacobian(&self, name: &ast::Ident) -> Result<usize> {
        match self.names.get(&name.name) {
            Some(&(Named::Jacobian(k), _)) => Ok(k),
            Some(&(other, prev)) => Err(Diagnostic::new(
                name.span,
                format!("`{}` is {}, not a derived Jacobian", name.name, other.describe()),
                "not a Jacobian",
            )
            .related(prev, "declared here")
            .hint("`derive det(J)` takes a Jacobian derived earlier with `derive J = jacobian (...) wrt (...)`")),
            None => Err(Diagnostic::new(
                name.span,
                format!("`{}` is not a derived Jacobian", name.name),
                "unknown matrix",
            )
            .hint(format!(
                "derive it first, such as `derive {} = jacobian (theta[k+1]) wrt (theta[k])`",
                name.name
            ))),
        }
    }

    /// A variable at its own indices with no offset: `h[i, j]`.
    fn plain_var(&mut self, r: &ast::Ref, what: &str) -> Result<Ref> {
        let v = match self.names.get(&r.name.name) {
            Some(&(Named::Var(v), _)) if self.model.vars[v as usize].kind != VarKind::Input => v,
            _ => {
                self.unknown_var(&r.name, &format!("named by {what}"));
                return Err(self
                    .errors
                    .pop()
                    .unwrap_or_else(|| Diagnostic::new(r.span, "unknown variable", "here")));
            }
        };
        self.at_own_indices(r, v, what)
    }

    /// `r`, a reference to variable `v`, at `v`'s own indices with no
    /// offset.
    fn at_own_indices(&mut self, r: &ast::Ref, v: u32, what: &str) -> Result<Ref> {
        let decl = self.model.vars[v as usize].clone();
        let items = r.indices.as_deref().unwrap_or(&[]);
        if items.len() != decl.indices.len() {
            return Err(self.arity_error(r, &decl));
        }
        for (pos, item) in items.iter().enumerate() {
            match item {
                IndexItem::Var {
                    name,
                    offset: 0,
                    span,
                } => match self.names.get(&name.name) {
                    Some(&(Named::Index(i), _)) if i == decl.indices[pos] => {}
                    _ => return Err(self.position_error(*span, &name.name, &decl, pos)),
                },
                other => {
                    return Err(Diagnostic::new(
                        other.span(),
                        format!("{what} names a variable at its own indices"),
                        "expected a plain index",
                    )
                    .hint(format!(
                        "write `{}`",
                        self.model.symbols.ref_text(&self.model.plain_ref(v))
                    )))
                }
            }
        }
        Ok(self.model.plain_ref(v))
    }

    /// References to state values in a Jacobian request: vectors or scalars.
    fn state_refs(&mut self, refs: &[ast::Ref]) -> Result<Vec<Ref>> {
        let mut out = Vec::new();
        for r in refs {
            let v = match self.names.get(&r.name.name) {
                Some(&(Named::Var(v), _)) => v,
                _ => {
                    self.unknown_var(&r.name, "named in a Jacobian");
                    return Err(self
                        .errors
                        .pop()
                        .unwrap_or_else(|| Diagnostic::new(r.span, "unknown variable", "here")));
                }
            };
            let bound = self.model.vars[v as usize].indices.clone();
            let lw = Lowerer::new(self, bound, false);
            let e = Expr {
                kind: ExprKind::Ref(r.clone()),
                span: r.span,
            };
            let mut lw = lw;
            let (id, shape) = lw.expr(&e)?;
            let expr = lw.finish(id);
            let Some(Node::Leaf(Leaf::Var(rf))) = expr.as_ref().last().cloned() else {
                return Err(Diagnostic::new(r.span, "expected a variable", "here"));
            };
            if shape
                .as_ref()
                .is_some_and(|s| !s.is_scalar() && !s.is_vector())
            {
                return Err(Diagnostic::new(
                    r.span,
                    "a Jacobian is taken of vectors and scalars",
                    "a matrix",
                )
                .hint("split a matrix-valued state into vectors"));
            }
            out.push(rf);
        }
        Ok(out)
    }

    fn assumptions(&mut self, list: &[Assign]) -> Result<Vec<Assumption>> {
        let mut out: Vec<Assumption> = Vec::new();
        for a in list {
            let target = self.plain_var_or_input(&a.target)?;
            if out.iter().any(|o| o.target.var == target.var) {
                return Err(Diagnostic::new(
                    a.span,
                    format!("`{}` is assumed twice", self.model.symbols.var(target.var)),
                    "second assumption",
                )
                .hint("give each variable one assumed value"));
            }
            let decl = self.model.vars[target.var as usize].clone();
            let mut lw = Lowerer::new(self, decl.indices.clone(), false);
            let (id, shape) = lw.expr(&a.value)?;
            let value = lw.finish(id);
            self.same_shape_or_scalar(&decl.shape, shape.as_ref(), a.value.span, &decl.name)?;
            out.push(Assumption {
                target,
                value,
                span: a.span,
            });
        }
        self.acyclic(&out)?;
        Ok(out)
    }

    /// Refuses assumptions whose values lead back to the assumed variable
    /// (`y = 2 * y`, or `y = z` with `z = y`): substituting them would not
    /// end, and they do not say what the value is.
    fn acyclic(&self, out: &[Assumption]) -> Result<()> {
        // From each assumption to those its value mentions.
        let edges: Vec<Vec<usize>> = out
            .iter()
            .map(|a| {
                (0..out.len())
                    .filter(|&k| {
                        a.value.as_ref().iter().any(
                            |n| matches!(n, Node::Leaf(Leaf::Var(r)) if r.var == out[k].target.var),
                        )
                    })
                    .collect()
            })
            .collect();
        for comp in crate::graph::sccs(&edges) {
            let looped = comp.len() > 1 || comp.first().is_some_and(|&k| edges[k].contains(&k));
            if !looped {
                continue;
            }
            let names: Vec<String> = comp
                .iter()
                .map(|&k| format!("`{}`", self.model.symbols.var(out[k].target.var)))
                .collect();
            let message = match names.as_slice() {
                [one] => format!("{one} is assumed in terms of itself"),
                _ => format!("{} are assumed in terms of each other", names.join(" and ")),
            };
            return Err(Diagnostic::new(
                out[comp[0]].span,
                message,
                "assumed value depends on the assumed variable",
            )
            .hint("an assumption gives a value in terms of the model's other values, inputs and parameters, such as `f[t] = 1`"));
        }
        Ok(())
    }

    fn plain_var_or_input(&mut self, r: &ast::Ref) -> Result<Ref> {
        if let Some(&(Named::Var(v), _)) = self.names.get(&r.name.name) {
            if self.model.vars[v as usize].kind == VarKind::Input {
                let decl = self.model.vars[v as usize].clone();
                let items = r.indices.as_deref().unwrap_or(&[]);
                if items.len() != decl.indices.len() {
                    return Err(self.arity_error(r, &decl));
                }
                return Ok(self.model.plain_ref(v));
            }
        }
        self.plain_var(r, "an assumption")
    }

    fn same_shape_or_scalar(
        &self,
        want: &Shape,
        got: Option<&Shape>,
        span: Span,
        what: &str,
    ) -> Result<()> {
        match got {
            Some(g) if g != want && !g.is_scalar() => {
                let names = |d: u32| self.model.dim_name(d);
                Err(Diagnostic::new(
                    span,
                    format!("{what} is a {}, but this is a {}", want.describe(&names), g.describe(&names)),
                    "wrong shape",
                )
                .hint("both sides of a claim or an assumption have one shape; a scalar applies to every entry"))
            }
            _ => Ok(()),
        }
    }

    /// `sum(y) = c`: `y` an input (at its own indices), `c` a number.
    fn sum_assumptions(&mut self, list: &[&Assign]) -> Result<Vec<SumAssumption>> {
        let mut out: Vec<SumAssumption> = Vec::new();
        for a in list {
            let target = self.plain_var_or_input(&a.target)?;
            let decl = self.model.vars[target.var as usize].clone();
            if decl.kind != VarKind::Input {
                return Err(Diagnostic::new(
                    a.target.span,
                    format!("`sum({})` is assumed, but `{}` is computed by the model", decl.name, decl.name),
                    "not an input",
                )
                .hint("an assumption about a sum of entries is about an input (a target that sums to one, `sum(y) = 1`); a computed value's sum follows from the model"));
            }
            if out.iter().any(|o| o.var == target.var) {
                return Err(Diagnostic::new(
                    a.span,
                    format!("`sum({})` is assumed twice", decl.name),
                    "second assumption",
                )
                .hint("give each sum one assumed value"));
            }
            let mut lw = Lowerer::new(self, decl.indices.clone(), false);
            let (id, _) = lw.expr(&a.value)?;
            let value = lw.finish(id);
            let Some(value) = crate::derive::scope::constant_value(&value) else {
                return Err(Diagnostic::new(
                    a.value.span,
                    "the assumed sum is not a number",
                    "not a number",
                )
                .hint("write the sum as a number, such as `sum(y) = 1`"));
            };
            out.push(SumAssumption {
                var: target.var,
                value,
                span: a.span,
            });
        }
        Ok(out)
    }

    /// An `assuming` list: the values assumed, and the sums of inputs'
    /// entries.
    fn both_assumptions(
        &mut self,
        assuming: &[Assign],
    ) -> Result<(Vec<Assumption>, Vec<SumAssumption>)> {
        let (sums, values): (Vec<&Assign>, Vec<&Assign>) = assuming.iter().partition(|a| a.sum_of);
        let values: Vec<Assign> = values.into_iter().cloned().collect();
        let sums = self.sum_assumptions(&sums)?;
        Ok((self.assumptions(&values)?, sums))
    }

    fn expect(&mut self, lhs: &ExpectLhs, rhs: &Expr, assuming: &[Assign]) -> Result<RequestKind> {
        let (assuming, sums) = self.both_assumptions(assuming)?;
        let (claim, bound, shape) = match lhs {
            ExpectLhs::Depth(r, _) => (Claim::Depth(self.plain_var(r, "`depth`")?), None, None),
            ExpectLhs::Expr(e) => self.claim(e)?,
        };
        if let (Claim::Adjoint(_), ExpectLhs::Expr(e)) = (&claim, lhs) {
            self.needs_loss(e.span, "a claim about an adjoint")?;
        }
        let rhs = match claim {
            Claim::Params | Claim::Macs(_) | Claim::Depth(_) => {
                let lw = Lowerer::new(self, Vec::new(), false);
                Claimed::Poly(lw.size_of(rhs).map_err(|d| {
                    Diagnostic::new(d.span, "a count or a depth is claimed as a size", d.label)
                        .hint("write a polynomial in the dims, such as `D*H + 2*H^2` or `2*G - 1`")
                })?)
            }
            _ => {
                let mut lw = Lowerer::new(self, bound.unwrap_or_default(), false);
                lw.allow_bar = true;
                // A claim that does not fit shapes is false, not a script
                // error: a grader marks it wrong and the sheet goes on.
                match lw.expr(rhs) {
                    Err(d) if lw.shape_error => Claimed::IllTyped {
                        message: d.message,
                        hint: d.hint,
                    },
                    Err(d) => return Err(d),
                    Ok((id, got)) => {
                        let value = lw.finish(id);
                        match shape.as_ref().map(|want| {
                            self.same_shape_or_scalar(
                                want,
                                got.as_ref(),
                                rhs.span,
                                "the derived result",
                            )
                        }) {
                            Some(Err(d)) => Claimed::IllTyped {
                                message: d.message,
                                hint: d.hint,
                            },
                            _ => Claimed::Expr(value),
                        }
                    }
                }
            }
        };
        // `bar(v[l-1]) = R` for every `l` is `bar(v[l]) = R` with `l`
        // shifted: the claim about the general equation, in its own frame.
        let (claim, rhs, written_at) = match (claim, rhs) {
            (Claim::Adjoint(Target::Var(r)), Claimed::Expr(value))
                if r.at.iter().any(|ix| matches!(ix, Ix::Rel(_, o) if *o != 0)) =>
            {
                let offsets = r.offsets();
                let back = |i: u32| -offsets.iter().find(|x| x.0 == i).map_or(0, |x| x.1);
                (
                    Claim::Adjoint(Target::Var(r.shifted(&back))),
                    Claimed::Expr(crate::ir::shift(&value, &back)),
                    offsets,
                )
            }
            (claim, rhs) => (claim, rhs, Vec::new()),
        };
        Ok(RequestKind::Expect {
            lhs: claim,
            rhs,
            assuming,
            sums,
            written_at,
        })
    }

    /// Why a claim about `bar(r)`, at a fixed index value, is refused:
    /// `r` is not a value the model computes (past the end, or set by an
    /// `init`), or its variable has fixed steps with equations of their
    /// own, which a general equation does not reach.
    fn fixed_adjoint_refused(&self, r: &Ref, steps: &[Ref], span: Span) -> Diagnostic {
        let text = |r: &Ref| self.model.symbols.ref_text(r);
        let general = text(&self.model.plain_ref(r.var));
        let computed =
            crate::derive::window::Window::of_var(&self.model, r.var).computes(&self.model, r);
        if !computed {
            let later =
                r.at.iter()
                    .zip(&self.model.vars[r.var as usize].indices)
                    .any(|(ix, &own)| match *ix {
                        Ix::Abs(a) => self.model.range_start(own).is_some_and(|lo| a > lo),
                        Ix::End(_, o) => o < 0,
                        Ix::Rel(..) => false,
                    });
            let label = if self.model.init_of(r).is_some() {
                "set by an `init`, not computed"
            } else if later {
                "computed only where the range is long enough to reach it"
            } else {
                "not a value the model computes"
            };
            return Diagnostic::new(
                span,
                format!(
                    "a claim names `bar({})`, the adjoint of a value the model does not always compute",
                    text(r)
                ),
                label,
            )
            .hint(format!(
                "claim the adjoint of a value computed at every length of the range: the general `bar({general})`, or one step such as the first or the last"
            ));
        }
        let named: Vec<String> = steps
            .iter()
            .map(|s| format!("`bar({})`", text(s)))
            .collect();
        Diagnostic::new(
            span,
            "a claim names an adjoint at a fixed index value that steps with equations of their own may reach",
            "fixed index",
        )
        .hint(format!(
            "claim the general `bar({general})`, which holds at every other step, or a fixed step with an equation of its own: {}",
            named.join(", ")
        ))
    }

    /// What the left side of an `expect` names, the indices it binds and its shape.
    #[allow(clippy::type_complexity)]
    fn claim(&mut self, e: &Expr) -> Result<(Claim, Option<Vec<u32>>, Option<Shape>)> {
        let forms = "an `expect` names a derived result: `bar(h[t])`, `bar(W)`, `J`, `det(J)`, `theta[k]`, `params`, `macs(h[i, j])` or `depth(h[i, j])`";
        let not_derived = |span: Span| {
            if let Some(inner) = adjoint_inside(e).map(|at| self.text(at)) {
                // `sum(bar(a)) = 0`: an expression of a derived result.
                return Diagnostic::new(
                    span,
                    "an `expect` claims one derived result, and this is an expression of one",
                    "an expression of a derived result",
                )
                .hint(format!(
                    "claims about expressions of derived results are not supported yet; claim `{inner}` itself, as in `expect {inner} = ...`"
                ));
            }
            Diagnostic::new(
                span,
                "this is not a result deriv derives",
                "not a derived result",
            )
            .hint(forms)
        };
        match &e.kind {
            ExprKind::Paren(inner) => self.claim(inner),
            ExprKind::Call {
                name,
                prime: false,
                args,
            } if args.len() == 1 => {
                let arg = &args[0];
                match name.name.as_str() {
                    "bar" => {
                        let bound = match &arg.kind {
                            ExprKind::Ref(r) => match self.names.get(&r.name.name) {
                                Some(&(Named::Var(v), _)) => {
                                    self.model.vars[v as usize].indices.clone()
                                }
                                _ => Vec::new(),
                            },
                            _ => Vec::new(),
                        };
                        let mut lw = Lowerer::new(self, bound.clone(), false);
                        lw.allow_bar = true;
                        let (id, shape) = lw.expr(e)?;
                        let expr = lw.finish(id);
                        let Some(Node::Leaf(Leaf::Bar(target))) = expr.as_ref().last().cloned()
                        else {
                            return Err(not_derived(e.span));
                        };
                        let mut bound = bound;
                        if let Target::Var(r) = &target {
                            let steps = self.model.fixed_steps(r.var);
                            if steps.contains(r)
                                || crate::derive::cases::at_fixed_without_equation(&self.model, r)
                            {
                                // `bar(h[T])`: a fixed step with its own
                                // equation, or one where the general
                                // equation holds, binds only its free
                                // indices.
                                let indices = &self.model.vars[r.var as usize].indices;
                                bound = indices
                                    .iter()
                                    .zip(r.at.iter())
                                    .filter(|(_, ix)| matches!(ix, Ix::Rel(..)))
                                    .map(|(&i, _)| i)
                                    .collect();
                            } else if r.at.iter().any(|ix| !matches!(ix, Ix::Rel(..))) {
                                return Err(self.fixed_adjoint_refused(r, &steps, arg.span));
                            }
                        }
                        Ok((Claim::Adjoint(target), Some(bound), shape))
                    }
                    "det" => match &arg.kind {
                        ExprKind::Ref(r) if r.indices.is_none() => {
                            let k = self.jacobian(&r.name)?;
                            self.square_jacobian(k, r.span)?;
                            let bound = self.jacobian_indices(k);
                            Ok((Claim::Det(k), Some(bound), Some(Shape::scalar())))
                        }
                        _ => Err(not_derived(e.span)),
                    },
                    "macs" => match &arg.kind {
                        ExprKind::Ref(r) => {
                            Ok((Claim::Macs(self.plain_var(r, "`macs`")?), None, None))
                        }
                        _ => Err(not_derived(e.span)),
                    },
                    _ => Err(not_derived(e.span)),
                }
            }
            ExprKind::Ref(r) => match self.names.get(&r.name.name) {
                None if r.name.name == "params" && r.indices.is_none() => {
                    Ok((Claim::Params, None, None))
                }
                Some(&(Named::Jacobian(k), _)) => {
                    let bound = self.jacobian_indices(k);
                    Ok((Claim::Jacobian(k), Some(bound), self.jacobian_shape(k)))
                }
                Some(&(Named::Var(v), _)) if self.model.vars[v as usize].kind != VarKind::Input => {
                    // Only a state of an update map (`theta[k+1] = ...`)
                    // has a previous value an inverse derives.
                    let state = self.model.equation_of(v).is_none_or(|eq| {
                        eq.lhs
                            .at
                            .iter()
                            .any(|ix| matches!(ix, Ix::Rel(_, o) if *o > 0))
                    });
                    if !state {
                        return Err(Diagnostic::new(
                            e.span,
                            format!(
                                "`{}` is a value the model computes, not a derived result",
                                r.name.name
                            ),
                            "a forward value",
                        )
                        .hint(format!(
                            "{forms}; a forward value is claimed only as the previous state of an update map (`theta[k] = ...` for `theta[k+1] = ...`)"
                        )));
                    }
                    let r = self.plain_var(r, "an inverse claim")?;
                    let decl = &self.model.vars[v as usize];
                    Ok((
                        Claim::Inverse(r),
                        Some(decl.indices.clone()),
                        Some(decl.shape.clone()),
                    ))
                }
                _ if r.name.name == "params" => Ok((Claim::Params, None, None)),
                _ => Err(not_derived(e.span)),
            },
            _ => Err(not_derived(e.span)),
        }
    }

    fn jacobian_refs(&self, k: usize) -> Option<(&[Ref], &[Ref])> {
        match &self.model.requests.get(k)?.kind {
            RequestKind::Jacobian { of, wrt, .. } => Some((of, wrt)),
            _ => None,
        }
    }

    fn jacobian_indices(&self, k: usize) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        if let Some((of, wrt)) = self.jacobian_refs(k) {
            for r in of.iter().chain(wrt) {
                for ix in r.at.iter() {
                    if let Ix::Rel(i, _) = ix {
                        if !out.contains(i) {
                            out.push(*i);
                        }
                    }
                }
            }
        }
        out
    }

    fn jacobian_shape(&self, k: usize) -> Option<Shape> {
        let (of, wrt) = self.jacobian_refs(k)?;
        let total = |refs: &[Ref]| {
            refs.iter().try_fold(crate::poly::Poly::zero(), |acc, r| {
                acc.add(&self.model.vars[r.var as usize].shape.rows)
            })
        };
        Some(Shape::matrix(total(of)?, total(wrt)?))
    }
}

/// Where the first `bar(...)` inside `e` below its root is, if any: a
/// left side such as `sum(bar(a))` is an expression of a derived result.
fn adjoint_inside(e: &Expr) -> Option<Span> {
    let inside = |x: &Expr| match &x.kind {
        ExprKind::Call {
            name, prime: false, ..
        } if name.name == "bar" => Some(x.span),
        _ => adjoint_inside(x),
    };
    match &e.kind {
        ExprKind::Num(_) | ExprKind::Ref(_) => None,
        ExprKind::Neg(a)
        | ExprKind::Transpose(a)
        | ExprKind::Paren(a)
        | ExprKind::Grad(_, a)
        | ExprKind::Hess(_, a)
        | ExprKind::Jac(_, a) => inside(a),
        ExprKind::Binary(_, a, b) => inside(a).or_else(|| inside(b)),
        ExprKind::Call { args, .. } => args.iter().find_map(inside),
        ExprKind::Block(rows) => rows.iter().flatten().find_map(inside),
    }
}
