//! Block Jacobians of update maps: `derive J = jacobian (y1, y2) wrt (x1,
//! x2)` differentiates each value of the first list by each of the second.
//! A value is first written in terms of the second list: the definitions of
//! later values (`p[k+1]` inside `theta[k+1]`) are substituted until only
//! the values differentiated by, inputs, parameters and earlier values
//! remain.

use super::simplify::rewrite;
use crate::diag::{Diagnostic, Span};
use crate::egraph::{extract, graph, run, ShapeTable, UNRESOLVED};
use crate::ir::build::ExprBuilder;
use crate::ir::{self, Ix, Leaf, Node, Ref};
use crate::key::RunStats;
use crate::model::{Model, VarKind};
use crate::poly::Poly;
use crate::rules;
use crate::Limits;
use egg::{Id, Language, RecExpr};
use rustc_hash::FxHashMap as HashMap;
use std::rc::Rc;

/// How deep definitions may be substituted into one another.
const MAX_INLINE: usize = 256;

/// Whether `r` is later than every value differentiated by, so that its
/// definition must be substituted.
fn later(r: &Ref, wrt: &[Ref]) -> bool {
    r.at.iter().all(|ix| match *ix {
        Ix::Rel(i, o) => {
            let min = wrt
                .iter()
                .flat_map(|w| w.at.iter())
                .filter_map(|w| match *w {
                    Ix::Rel(j, p) if j == i => Some(p),
                    _ => None,
                })
                .min();
            min.is_none_or(|m| o > m)
        }
        Ix::Abs(_) | Ix::End(..) => false,
    })
}

/// `r` written in terms of `wrt`: the definitions of later values
/// substituted, recursively.
pub fn inline(
    model: &Model,
    r: &Ref,
    wrt: &[Ref],
    span: Span,
) -> Result<RecExpr<Node>, Diagnostic> {
    inline_naming(model, r, wrt, span).map(|(e, _)| e)
}

/// [`inline`], with the values whose definitions were written out (other
/// than `r` itself), in the order met.
fn inline_naming(
    model: &Model,
    r: &Ref,
    wrt: &[Ref],
    span: Span,
) -> Result<(RecExpr<Node>, Vec<Ref>), Diagnostic> {
    let mut b = ExprBuilder::new();
    let mut memo = HashMap::default();
    let window = super::window::Window::computing(model, std::slice::from_ref(r));
    let cx = Inline {
        model,
        wrt,
        span,
        window: &window,
        of: r,
    };
    let root = inline_into(&cx, r, &mut b, &mut memo, 0)?;
    let mut written: Vec<Ref> = memo.into_keys().filter(|k| k != r).collect();
    written.sort();
    Ok((b.finish(root), written))
}

/// What writing one value out needs to know.
struct Inline<'a> {
    model: &'a Model,
    /// The values differentiated by.
    wrt: &'a [Ref],
    span: Span,
    /// The steps at which the value differentiated is computed.
    window: &'a super::window::Window,
    /// The value differentiated.
    of: &'a Ref,
}

impl Inline<'_> {
    /// The refusal for a value that its equation does not compute at
    /// every step of the Jacobian (`h[t-1]` at `t = 1` is set by `init
    /// h[0] = ...`, which depends on nothing): written out by the
    /// equation, it would be differentiated where it is constant.
    fn not_computed(&self, r: &Ref) -> Diagnostic {
        let text = |r: &Ref| self.model.symbols.ref_text(r);
        let list = |refs: &[Ref]| refs.iter().map(text).collect::<Vec<_>>().join(", ");
        // Its value one step on, a step being how far the value
        // differentiated is from the values differentiated by.
        let ahead = self.of.offsets();
        let behind: Vec<(u32, i64)> = self.wrt.iter().flat_map(Ref::offsets).collect();
        let step = |i: u32| {
            let at = |o: &[(u32, i64)]| o.iter().find(|p| p.0 == i).map(|p| p.1);
            at(&ahead).zip(at(&behind)).map_or(0, |(a, b)| a - b)
        };
        let of = [self.of.clone(), r.shifted(&step)];
        let mut wrt = self.wrt.to_vec();
        wrt.push(r.clone());
        Diagnostic::new(
            self.span,
            format!(
                "`{}` is not computed by its equation at every step of this Jacobian: where an `init` sets it, it does not depend on `{}`",
                text(r),
                list(self.wrt)
            ),
            "while deriving this",
        )
        .hint(format!(
            "differentiate by it too, as a state of its own: `jacobian ({}) wrt ({})`",
            list(&of),
            list(&wrt)
        ))
    }

    /// The refusal for a fixed step (`z[1]`, `h[T]`) of a value the model
    /// computes, on an index the Jacobian steps along: at that index value
    /// it is one of the values differentiated by (or depends on them), and
    /// elsewhere it is constant, so the Jacobian is not one formula.
    fn fixed_step(&self, r: &Ref) -> Option<Diagnostic> {
        let var = self.model.vars.get(r.var as usize)?;
        if !matches!(var.kind, VarKind::Defined(_)) {
            return None;
        }
        let stepped = |i: u32| {
            self.wrt
                .iter()
                .flat_map(|w| w.at.iter())
                .any(|ix| matches!(*ix, Ix::Rel(j, _) if j == i))
        };
        let (pos, i) = r
            .at
            .iter()
            .zip(var.indices.iter())
            .enumerate()
            .find_map(|(pos, (ix, &i))| matches!(ix, Ix::Abs(_) | Ix::End(..)).then_some((pos, i)))
            .filter(|&(_, i)| stepped(i))?;
        let text = |r: &Ref| self.model.symbols.ref_text(r);
        let mut at = r.at.to_vec();
        at[pos] = Ix::Rel(i, 0);
        let current = Ref {
            var: r.var,
            at: at.into(),
        };
        Some(
            Diagnostic::new(
                self.span,
                format!(
                    "this Jacobian reads `{}`, a fixed step of a value the model computes: at that step it is `{}` itself, elsewhere it does not change with `{}`, so the Jacobian is not one formula",
                    text(r),
                    text(&current),
                    self.wrt.iter().map(text).collect::<Vec<_>>().join(", ")
                ),
                "while deriving this",
            )
            .hint(format!(
                "read the value at the current step (`{}`), or make the fixed value a parameter or an input of its own",
                text(&current)
            )),
        )
    }
}

fn inline_into(
    cx: &Inline,
    r: &Ref,
    b: &mut ExprBuilder,
    memo: &mut HashMap<Ref, Id>,
    depth: usize,
) -> Result<Id, Diagnostic> {
    let (model, wrt, span) = (cx.model, cx.wrt, cx.span);
    if let Some(&id) = memo.get(r) {
        return Ok(id);
    }
    if let Some(d) = cx.fixed_step(r) {
        return Err(d);
    }
    // Later values, and values computed within one step from others
    // (`g[k] = grad F(theta[k])`), are written out; the values
    // differentiated by and earlier state stay. A value written out must
    // be computed by its equation at every step of the Jacobian.
    let eq = match model.vars.get(r.var as usize).map(|v| v.kind) {
        Some(VarKind::Defined(e)) if !wrt.contains(r) => {
            let eq = &model.equations[e];
            let same_step = eq.lhs.at.iter().all(|ix| matches!(ix, Ix::Rel(_, 0)));
            if same_step || later(r, wrt) {
                if !cx.window.computes(model, r) {
                    return Err(cx.not_computed(r));
                }
                eq
            } else {
                return Ok(b.leaf(Leaf::Var(r.clone())));
            }
        }
        _ => return Ok(b.leaf(Leaf::Var(r.clone()))),
    };
    if depth > MAX_INLINE {
        return Err(Diagnostic::new(span, "the values differentiated are too far from the values differentiated by", "while deriving this")
            .hint("substituting definitions did not reach the listed values; list the previous state of every value"));
    }
    let offsets: HashMap<u32, i64> = r.offsets().into_iter().collect();
    let def = ir::shift(&eq.norm, &|i| offsets.get(&i).copied().unwrap_or(0));
    let mut map: Vec<Id> = Vec::with_capacity(def.as_ref().len());
    for n in def.as_ref() {
        let id = match n {
            Node::Leaf(Leaf::Var(inner)) => inline_into(cx, inner, b, memo, depth + 1)?,
            other => b.add(other.clone().map_children(|c| map[usize::from(c)])),
        };
        map.push(id);
    }
    let id = map.last().copied().unwrap_or_else(|| b.int(0));
    memo.insert(r.clone(), id);
    Ok(id)
}

/// The block Jacobian, simplified, with the statistics of its runs and
/// whether simplification stopped at a limit.
pub fn jacobian(
    model: &Model,
    shapes: &Rc<ShapeTable>,
    of: &[Ref],
    wrt: &[Ref],
    limits: &Limits,
    span: Span,
) -> Result<(RecExpr<Node>, Vec<RunStats>, bool), Diagnostic> {
    let (expr, mut written) = blocks(model, of, wrt, span)?;
    // The values the Jacobian is of are named too, as textbooks write
    // `diag(1 - h[t]^2) * W` for `h[t] = tanh(W * h[t-1] + ...)`.
    for r in of {
        if !written.contains(r) {
            written.push(r.clone());
        }
    }
    let window = super::window::Window::computing(model, of);
    let scope = super::scope::Scope {
        model,
        window: &window,
        assuming: &[],
        zero: &Default::default(),
        name: true,
        also: &written,
    };
    let (m, stats, limited) = resolve(shapes, Some(&scope), &expr, limits, span)?;
    Ok((
        sized_zero_blocks(&m, &sizes(model, of), &sizes(model, wrt)),
        stats,
        limited,
    ))
}

/// The size of each value of a list: the heights of a Jacobian's blocks.
fn sizes(model: &Model, refs: &[Ref]) -> Vec<Poly> {
    refs.iter()
        .map(|r| model.vars[r.var as usize].shape.rows.clone())
        .collect()
}

/// The block matrix of `jac` forms the Jacobian resolves, and the values
/// whose definitions were written out in it.
fn blocks(
    model: &Model,
    of: &[Ref],
    wrt: &[Ref],
    span: Span,
) -> Result<(RecExpr<Node>, Vec<Ref>), Diagnostic> {
    let mut b = ExprBuilder::new();
    let xs: Vec<Id> = wrt.iter().map(|w| b.leaf(Leaf::Var(w.clone()))).collect();
    let mut rows = Vec::new();
    let mut written: Vec<Ref> = Vec::new();
    for y in of {
        let (e, also) = inline_naming(model, y, wrt, span)?;
        for r in also {
            if !written.contains(&r) {
                written.push(r);
            }
        }
        let e = b.copy_all(&e);
        let cells: Vec<Id> = xs.iter().map(|&x| b.add(Node::Jac([x, e]))).collect();
        rows.push(b.add(Node::Row(cells.into())));
    }
    let root = b.add(Node::Block(rows.into()));
    Ok((b.finish(root), written))
}

/// The steps of a Jacobian: each block as the chain rule alone gives it
/// (derivative forms kept, definitions of later values written out), then
/// the simplified matrix `done`.
pub fn steps(
    model: &Model,
    shapes: &Rc<ShapeTable>,
    of: &[Ref],
    wrt: &[Ref],
    limits: &Limits,
    done: &RecExpr<Node>,
) -> Vec<crate::key::Step> {
    use super::adjoint::leaf_expr as leaf;
    use super::steps::{dedup, listed, step, text, trivial_gone};
    use crate::key::Part;
    let mut out = Vec::new();
    if let Ok((expr, written)) = blocks(model, of, wrt, Span::default()) {
        let mut g = graph(shapes);
        let root = g.add_expr(&expr);
        let ran = run(
            g,
            rules::jacobian_chain_rule(),
            limits,
            "steps of the jacobian",
        );
        if let Some((cost, raw)) = extract(&ran.graph, root) {
            if cost < UNRESOLVED {
                let raw =
                    sized_zero_blocks(&trivial_gone(&raw), &sizes(model, of), &sizes(model, wrt));
                let var = |r: &Ref| Part::Expr(leaf(Leaf::Var(r.clone())));
                // One value by one: the matrix itself, not a block of one.
                let single = match &raw[crate::ir::root(&raw)] {
                    Node::Block(rows) if rows.len() == 1 => match &raw[rows[0]] {
                        Node::Row(cells) if cells.len() == 1 => {
                            Some(crate::ir::build::subtree(&raw, cells[0]))
                        }
                        _ => None,
                    },
                    _ => None,
                };
                let mut why = Vec::new();
                match (of, wrt) {
                    ([y], [x]) if single.is_some() => {
                        why.push(text("the Jacobian of "));
                        why.push(var(y));
                        why.push(text(" by "));
                        why.push(var(x));
                    }
                    _ => {
                        why.push(text("block (i, j) is the Jacobian of the i-th of "));
                        why.extend(listed(of.iter().map(var).collect()));
                        why.push(text(" by the j-th of "));
                        why.extend(listed(wrt.iter().map(var).collect()));
                    }
                }
                let raw = match single {
                    Some(cell) if of.len() == 1 && wrt.len() == 1 => cell,
                    _ => raw,
                };
                if !written.is_empty() {
                    why.push(text(", with "));
                    why.extend(listed(
                        written
                            .iter()
                            .filter_map(|r| {
                                let eq = match model.vars.get(r.var as usize)?.kind {
                                    VarKind::Defined(e) => &model.equations[e],
                                    _ => return None,
                                };
                                let offsets: HashMap<u32, i64> = r.offsets().into_iter().collect();
                                let def =
                                    ir::shift(&eq.norm, &|i| offsets.get(&i).copied().unwrap_or(0));
                                Some(Part::Equation(leaf(Leaf::Var(r.clone())), def))
                            })
                            .collect(),
                    ));
                    why.push(text(" written out"));
                }
                why.push(text(if of.len() == 1 && wrt.len() == 1 {
                    ", by the chain rule"
                } else {
                    "; each block by the chain rule"
                }));
                out.push(step(raw, why));
            }
        }
    }
    // The forward values the simplified matrix names that the blocks did
    // not have.
    let before: Vec<Ref> = out
        .first()
        .and_then(|st| match &st.rhs {
            crate::key::Rhs::Expr(e) => Some(super::steps::var_refs(e)),
            _ => None,
        })
        .unwrap_or_default();
    let named: Vec<Part> = super::steps::var_refs(done)
        .into_iter()
        .filter(|r| !before.contains(r) && !wrt.contains(r))
        .map(|r| Part::Expr(leaf(Leaf::Var(r))))
        .collect();
    let mut why = vec![text("simplified")];
    if !named.is_empty() {
        why.push(text(if named.len() == 1 {
            ", with the forward value "
        } else {
            ", with the forward values "
        }));
        why.extend(listed(named));
        why.push(text(" named"));
    }
    out.push(step(done.clone(), why));
    dedup(out, &model.symbols)
}

/// A block matrix whose zero blocks are written with their size
/// (`zeros(K, M)`) wherever no other block of their block row gives their
/// height, or none of their block column their width: `[a * I(K), 0]`
/// would not say how wide its zero is. `rows` and `cols` are the block
/// sizes.
pub fn sized_zero_blocks(m: &RecExpr<Node>, rows: &[Poly], cols: &[Poly]) -> RecExpr<Node> {
    let root = ir::root(m);
    let Node::Block(block_rows) = &m[root] else {
        return m.clone();
    };
    let cells: Vec<Vec<Id>> = block_rows
        .iter()
        .map(|&r| match &m[r] {
            Node::Row(c) => c.to_vec(),
            _ => vec![r],
        })
        .collect();
    let zero = |id: Id| matches!(&m[id], Node::Num(c) if c.is_zero());
    let width = cells.first().map_or(0, Vec::len);
    if cells.len() != rows.len() || cells.iter().any(|r| r.len() != width) || width != cols.len() {
        return m.clone();
    }
    let row_known: Vec<bool> = cells.iter().map(|r| r.iter().any(|&c| !zero(c))).collect();
    let col_known: Vec<bool> = (0..width)
        .map(|j| cells.iter().any(|r| !zero(r[j])))
        .collect();
    if row_known.iter().all(|&k| k) && col_known.iter().all(|&k| k) {
        return m.clone();
    }
    let mut b = ExprBuilder::new();
    let mut new_rows = Vec::new();
    for (i, r) in cells.iter().enumerate() {
        let mut new_cells = Vec::new();
        for (j, &c) in r.iter().enumerate() {
            let id = if zero(c) && !(row_known[i] && col_known[j]) {
                let h = b.poly(&rows[i]);
                let w = b.poly(&cols[j]);
                b.add(Node::Zeros([h, w]))
            } else {
                b.copy(m, c)
            };
            new_cells.push(id);
        }
        new_rows.push(b.add(Node::Row(new_cells.into())));
    }
    let top = b.add(Node::Block(new_rows.into()));
    b.finish(top)
}

/// The innermost part of `e` (in `expr`) whose Jacobian by `x` the chain
/// rule does not find: the operation itself where every operand that
/// depends on `x` has a Jacobian (`sum(z[k])` in `z[k] + z0 * sum(z[k])`,
/// not the `+`).
fn blocking(
    shapes: &Rc<ShapeTable>,
    expr: &RecExpr<Node>,
    x: Id,
    e: Id,
    limits: &Limits,
) -> RecExpr<Node> {
    use egg::Language;
    let wrt = crate::ir::build::subtree(expr, x);
    let depends = |c: Id| {
        let part = crate::ir::build::subtree(expr, c);
        let leaves: Vec<&Node> = wrt.as_ref().iter().collect();
        leaves.iter().all(|l| part.as_ref().contains(l))
    };
    let resolves = |c: Id| {
        let mut b = ExprBuilder::new();
        let xi = b.copy(expr, x);
        let ci = b.copy(expr, c);
        let j = b.add(Node::Jac([xi, ci]));
        let e = b.finish(j);
        let mut g = graph(shapes);
        let root = g.add_expr(&e);
        let ran = run(g, rules::jacobians(), limits, "jacobian");
        extract(&ran.graph, root).is_some_and(|(cost, _)| cost < UNRESOLVED)
    };
    let mut at = e;
    // At most as deep as the expression.
    for _ in 0..expr.as_ref().len() {
        let next = expr[at]
            .children()
            .iter()
            .copied()
            .find(|&c| depends(c) && !resolves(c));
        match next {
            Some(c) => at = c,
            None => break,
        }
    }
    crate::ir::build::subtree(expr, at)
}

/// Resolves every `jac` in `expr` by the chain rule, then simplifies (with
/// the forward values named when `named` is given).
pub fn resolve(
    shapes: &Rc<ShapeTable>,
    named: Option<&super::scope::Scope<'_>>,
    expr: &RecExpr<Node>,
    limits: &Limits,
    span: Span,
) -> Result<(RecExpr<Node>, Vec<RunStats>, bool), Diagnostic> {
    let mut g = graph(shapes);
    let root = g.add_expr(expr);
    let ran = run(g, rules::jacobians(), limits, "jacobian");
    let mut stats = vec![ran.stats.clone()];
    let Some((cost, raw)) = extract(&ran.graph, root) else {
        return Err(super::adjoint::unshaped(span, "the Jacobian"));
    };
    if cost >= UNRESOLVED {
        let blocked = raw.as_ref().iter().find_map(|n| match n {
            Node::Jac([x, e]) => {
                let part = blocking(shapes, &raw, *x, *e, limits);
                Some(match named {
                    Some(scope) => crate::ir::text::expr(&scope.model.symbols, &part),
                    None => part[crate::ir::root(&part)].to_string(),
                })
            }
            _ => None,
        });
        let why = if ran.limited {
            format!(
                "the derivation did not finish within the e-graph limits ({})",
                ran.stats.stop
            )
        } else {
            format!(
                "the chain rule for Jacobians does not pass through `{}` here",
                blocked.unwrap_or_else(|| "an operation".into())
            )
        };
        return Err(Diagnostic::new(span, format!("this Jacobian cannot be derived: {why}"), "while deriving this")
            .hint("Jacobians pass through sums (a scalar broadcast onto a vector included), sums of entries, scaling and quotients by scalars (which may depend on the state), inner products, products of matrices and vectors (a matrix that depends on the state where it is a diagonal, or a product, sum or negation of such matrices), elementwise functions and declared functions; the part named is where the chain rule stops (not supported yet)"));
    }
    let done = rewrite(
        shapes,
        named,
        &raw,
        rules::linear_algebra(),
        limits,
        "simplify jacobian",
    );
    stats.push(done.stats);
    Ok((done.expr, stats, done.limited))
}
