//! `derive inverse`: the previous state of an update map solved from the
//! next, equation by equation, substituting as it goes. Each equation must
//! be affine in the value it gives, with a coefficient that can be
//! inverted (a nonzero scalar, a scaled identity, or a matrix whose
//! invertibility the answer states as a condition). A value that sits
//! inside a function (`theta[k]` in `grad F(theta[k])`) cannot be isolated
//! in closed form. Where some of the previous state can be solved and the
//! rest cannot (Nesterov's `theta[k]` and `p[k]`), the answer is partial:
//! the explicit values, then the equations the others must solve, with a
//! note naming them. Where none can, the request is refused.

use super::jacobian::resolve;
use super::simplify::rewrite;
use crate::diag::{Diagnostic, Span};
use crate::egraph::ShapeTable;
use crate::ir::build::{substitute, ExprBuilder};
use crate::ir::{Ix, Leaf, Node, Ref};
use crate::key::{Condition, Derived, Lhs, Note, Rhs, RunStats};
use crate::model::{Model, VarKind};
use crate::rules;
use crate::Limits;
use egg::{Id, Language, RecExpr};
use std::rc::Rc;

/// The inverse: one equation per state variable, in the order solved, with
/// the notes it needs.
pub struct Inverse {
    /// `theta[k] = ...`, in the order they were solved.
    pub equations: Vec<Derived>,
    /// Conditions and remarks.
    pub notes: Vec<Note>,
    /// Statistics of every run.
    pub stats: Vec<RunStats>,
    /// The derivation of each equation, step by step: how its value was
    /// isolated, the values solved before it substituted, the result
    /// simplified (none for the equations of a partial inverse).
    pub steps: Vec<Vec<crate::key::Step>>,
    /// Every value solved, intermediate values of the step included
    /// (`m[k+1]` of a leapfrog step), in the order they were solved, each
    /// in the next state's values.
    pub solved: Vec<(Ref, RecExpr<Node>)>,
}

/// A state equation: `next = rhs`, where `prev` is the value it may give.
struct Step {
    next: Ref,
    prev: Ref,
    rhs: RecExpr<Node>,
}

fn error(span: Span, message: impl Into<String>, hint: impl Into<String>) -> Diagnostic {
    Diagnostic::new(span, message, "while deriving this").hint(hint)
}

/// A claimed previous value `r` written with other values the inverse
/// solves in closed form (a worked step of the inverse, pasted back: other
/// previous values, intermediate values of the step): `claim` with those
/// values replaced by their solutions (`solved`, as [`Inverse::solved`]),
/// which hold wherever the inverse does, and the words that say so;
/// `None` where the claim reads none of them.
pub fn solved_in_claim(
    model: &Model,
    claim: &RecExpr<Node>,
    r: &Ref,
    solved: &[(Ref, RecExpr<Node>)],
) -> Option<(RecExpr<Node>, crate::key::Note)> {
    use super::steps::{listed, text};
    use crate::key::Part;
    let mut used = Vec::new();
    // The values the step computes on the way (`g[k] = grad F(theta[k])`)
    // written out by their equations first, as the inverse reads them.
    let stepped: Vec<u32> = state_steps(model, Span::default())
        .ok()?
        .iter()
        .map(|s| s.prev.var)
        .collect();
    let mut out = inline_same_step(model, claim, &stepped, Span::default(), 0).ok()?;
    let mut named: Vec<&Ref> = Vec::new();
    for n in claim.as_ref() {
        if let Node::Leaf(Leaf::Var(x)) = n {
            if !stepped.contains(&x.var)
                && matches!(model.vars[x.var as usize].kind, VarKind::Defined(_))
                && !named.contains(&x)
            {
                named.push(x);
            }
        }
    }
    let written_out = !named.is_empty();
    for x in named {
        let mut l = RecExpr::default();
        l.add(Node::Leaf(Leaf::Var(x.clone())));
        if let Ok(def) = inline_same_step(model, &l, &stepped, Span::default(), 0) {
            used.push(Part::Equation(l, def));
        }
    }
    for (x, solution) in solved {
        let leaf = Leaf::Var(x.clone());
        if x == r || !contains(&out, &leaf) {
            continue;
        }
        out = substitute(&out, &leaf, solution);
        let mut l = RecExpr::default();
        l.add(Node::Leaf(leaf));
        used.push(Part::Equation(l, solution.clone()));
    }
    if used.is_empty() {
        return None;
    }
    let mut why = vec![text(if written_out {
        "proved with the values the step computes on the way and the previous values the inverse solves substituted in the claim: "
    } else {
        "proved with the previous values the inverse solves substituted in the claim: "
    })];
    why.extend(listed(used));
    Some((out, Note::Parts(why)))
}

fn contains(expr: &RecExpr<Node>, leaf: &Leaf) -> bool {
    expr.as_ref()
        .iter()
        .any(|n| matches!(n, Node::Leaf(l) if l == leaf))
}

/// The smallest nonlinear sub-expression that holds `leaf`.
fn nonlinear_context(expr: &RecExpr<Node>, leaf: &Leaf) -> Option<RecExpr<Node>> {
    let nodes = expr.as_ref();
    let mut has = vec![false; nodes.len()];
    for (k, n) in nodes.iter().enumerate() {
        has[k] = match n {
            Node::Leaf(l) => l == leaf,
            other => other.children().iter().any(|&c| has[usize::from(c)]),
        };
        let nonlinear = has[k]
            && match n {
                Node::Call(_)
                | Node::Grad(_)
                | Node::Hess(_)
                | Node::JacF(_)
                | Node::Det(_)
                | Node::Inv(_) => true,
                Node::Pow(_) | Node::Div([_, _]) => true,
                Node::Had([a, b]) | Node::Mul([a, b]) => {
                    has[usize::from(*a)] && has[usize::from(*b)]
                }
                other => other.as_act().is_some(),
            };
        if nonlinear {
            return Some(crate::ir::build::subtree(expr, Id::from(k)));
        }
    }
    None
}

/// The equations of the step `s[k] -> s[k+1]`: those defining a value one
/// step ahead. Their variables whose previous value the step reads are the
/// state; the others are intermediate values of the step.
fn state_steps(model: &Model, span: Span) -> Result<Vec<Step>, Diagnostic> {
    let mut steps = Vec::new();
    for eq in &model.equations {
        let ahead: Vec<(u32, i64)> = eq
            .lhs
            .at
            .iter()
            .filter_map(|ix| match *ix {
                Ix::Rel(i, d) if d != 0 => Some((i, d)),
                _ => None,
            })
            .collect();
        match ahead.as_slice() {
            [] => continue,
            [(_, 1)] => {}
            _ => {
                return Err(error(
                    span,
                    format!("`{}` is defined more than one step ahead", model.symbols.ref_text(&eq.lhs)),
                    "an inverse undoes one step `s[k] -> s[k+1]`: define every state value as `v[k+1] = ...`",
                ))
            }
        }
        steps.push(Step {
            next: eq.lhs.clone(),
            prev: model.plain_ref(eq.var),
            rhs: eq.rhs.clone(),
        });
    }
    if steps.is_empty() {
        return Err(error(
            span,
            "`derive inverse` needs an update map",
            "define the next state from the previous one, such as `theta[k+1] = theta[k] + p[k+1]`",
        ));
    }
    Ok(steps)
}

/// Derives the inverse of the model's update map.
pub fn inverse(
    model: &Model,
    shapes: &Rc<ShapeTable>,
    limits: &Limits,
    span: Span,
) -> Result<Inverse, Diagnostic> {
    let steps = state_steps(model, span)?;
    let stepped: Vec<u32> = steps.iter().map(|s| s.prev.var).collect();
    let mut rhss = Vec::new();
    for s in &steps {
        rhss.push(inline_same_step(model, &s.rhs, &stepped, span, 0)?);
    }
    // The state: stepped variables whose previous value the step reads.
    let state: Vec<&Step> = steps
        .iter()
        .filter(|s| rhss.iter().any(|r| contains(r, &Leaf::Var(s.prev.clone()))))
        .collect();
    let is_state = |v: u32| state.iter().any(|s| s.prev.var == v);
    // Unknowns: the previous state, and intermediate values of the step.
    let mut unknowns: Vec<Ref> = state.iter().map(|s| s.prev.clone()).collect();
    unknowns.extend(
        steps
            .iter()
            .filter(|s| !is_state(s.prev.var))
            .map(|s| s.next.clone()),
    );
    let mut pending: Vec<(RecExpr<Node>, RecExpr<Node>)> = steps
        .iter()
        .zip(rhss)
        .map(|(s, r)| {
            let mut l = RecExpr::default();
            l.add(Node::Leaf(Leaf::Var(s.next.clone())));
            (l, r)
        })
        .collect();
    let mut out = Inverse {
        equations: Vec::new(),
        notes: Vec::new(),
        stats: Vec::new(),
        steps: Vec::new(),
        solved: Vec::new(),
    };
    // Each pending equation as written, before solved values replaced
    // anything in it (removed in step with `pending`).
    let mut written: Vec<(RecExpr<Node>, RecExpr<Node>)> = pending.clone();
    let mut solutions: Vec<(Ref, RecExpr<Node>)> = Vec::new();
    let mut solved: Vec<Ref> = Vec::new();
    let mut conditions: Vec<Condition> = Vec::new();
    let mut last_reason: Option<String> = None;
    while unknowns
        .iter()
        .any(|u| is_state(u.var) && !solved.contains(u))
    {
        let mut progress = false;
        let mut k = 0;
        while k < pending.len() {
            let (lhs, rhs) = &pending[k];
            let open: Vec<&Ref> = unknowns
                .iter()
                .filter(|u| !solved.contains(u))
                .filter(|u| {
                    contains(lhs, &Leaf::Var((*u).clone()))
                        || contains(rhs, &Leaf::Var((*u).clone()))
                })
                .collect();
            let [u] = open.as_slice() else {
                k += 1;
                continue;
            };
            let u = (*u).clone();
            let attempt = if contains(lhs, &Leaf::Var(u.clone())) {
                if contains(rhs, &Leaf::Var(u.clone())) {
                    Ok(Err(format!(
                        "`{}` appears on both sides of its equation",
                        model.symbols.ref_text(&u)
                    )))
                } else {
                    // `u = rhs` already: an intermediate value of the step.
                    Ok(Ok((rhs.clone(), None, None)))
                }
            } else {
                isolate(model, shapes, limits, span, lhs, rhs, &u, &mut out.stats)
            };
            match attempt? {
                Ok((solution, condition, coef)) => {
                    if is_state(u.var) {
                        let (l0, r0) = &written[k];
                        out.steps.push(isolation_steps(
                            model,
                            (l0, r0),
                            (lhs, rhs),
                            &u,
                            coef.as_ref(),
                            condition.as_ref(),
                            &solutions,
                            &solution,
                        ));
                    }
                    // Each condition once, though two values need it
                    // (Adam's moments and running powers both divide by
                    // `b1`).
                    if let Some(c) = condition.filter(|c| !always_holds(c)) {
                        if !conditions.contains(&c) {
                            conditions.push(c);
                        }
                    }
                    let leaf = Leaf::Var(u.clone());
                    for (l, r) in pending.iter_mut() {
                        *l = substitute(l, &leaf, &solution);
                        *r = substitute(r, &leaf, &solution);
                    }
                    if is_state(u.var) {
                        let mut lhs = RecExpr::default();
                        lhs.add(Node::Leaf(leaf));
                        out.equations.push(Derived {
                            lhs: Lhs::Expr(lhs),
                            rhs: Rhs::Expr(solution.clone()),
                        });
                    }
                    solutions.push((u.clone(), solution));
                    solved.push(u);
                    pending.remove(k);
                    written.remove(k);
                    progress = true;
                }
                Err(reason) => {
                    last_reason = Some(reason);
                    k += 1;
                }
            }
        }
        if !progress {
            let unsolved: Vec<Ref> = unknowns
                .iter()
                .filter(|u| is_state(u.var) && !solved.contains(u))
                .cloned()
                .collect();
            if solved.iter().any(|u| is_state(u.var)) {
                implicit(
                    shapes, limits, &pending, &unknowns, &solved, unsolved, &mut out,
                );
                break;
            }
            let names: Vec<String> = unsolved
                .iter()
                .map(|p| format!("`{}`", model.symbols.ref_text(p)))
                .collect();
            let Some(why) = last_reason else {
                // Every equation left mixes previous values: they would
                // have to be solved together.
                return Err(error(
                    span,
                    format!(
                        "the previous state cannot be solved for one value at a time: every equation of the step left mixes two or more of {}; solving equations together (a coupled step such as `x[k+1] = x[k] + h * v[k]`, `v[k+1] = v[k] - h * x[k]`) is not supported yet",
                        names.join(", ")
                    ),
                    "where the step allows it, write it so that one value is updated from the other's new value (`x[k+1] = x[k] + h * v[k+1]`): each equation then gives one previous value",
                ));
            };
            return Err(error(
                span,
                format!(
                    "the previous state cannot be solved for in closed form: {}",
                    names.join(", ")
                ),
                why,
            ));
        }
    }
    if !conditions.is_empty() {
        out.notes.push(Note::InverseExistsWhere(conditions));
    }
    out.solved = solutions;
    Ok(out)
}

/// Whether a condition holds at every value: a coefficient whose every
/// entry is an exponential, a sigmoid, a softplus, a nonzero number, or a
/// product or power of such, is never zero (`diag(exp(s))` is always
/// invertible).
fn always_holds(c: &Condition) -> bool {
    fn never_zero(e: &RecExpr<Node>, id: Id) -> bool {
        use crate::ir::act::Act;
        match &e[id] {
            Node::Num(r) => !r.is_zero(),
            // exp, sigma, softplus and their derivatives (exp,
            // sigma(1 - sigma), sigma) are positive; so is tanh'.
            Node::Act(f, _) => matches!(
                (f.act, f.prime),
                (Act::Exp | Act::Sigma | Act::Softplus, _) | (Act::Tanh, true)
            ),
            Node::Had([a, b]) => never_zero(e, *a) && never_zero(e, *b),
            Node::Neg(a) | Node::Diag(a) => never_zero(e, *a),
            Node::Pow([a, n]) => never_zero(e, *a) && matches!(&e[*n], Node::Num(_)),
            Node::Eye(_) => true,
            _ => false,
        }
    }
    let (Condition::Nonzero(e) | Condition::Invertible(e)) = c;
    never_zero(e, crate::ir::root(e))
}

/// The partial answer's second half: every equation still holding an
/// unsolved value, tidied, as the equation that value must solve; and the
/// note naming those values and where one of them sits inside a function.
fn implicit(
    shapes: &Rc<ShapeTable>,
    limits: &Limits,
    pending: &[(RecExpr<Node>, RecExpr<Node>)],
    unknowns: &[Ref],
    solved: &[Ref],
    unsolved: Vec<Ref>,
    out: &mut Inverse,
) {
    let open: Vec<Leaf> = unknowns
        .iter()
        .filter(|u| !solved.contains(u))
        .map(|u| Leaf::Var(u.clone()))
        .collect();
    let mut inside = None;
    for (lhs, rhs) in pending {
        if !open.iter().any(|u| contains(lhs, u) || contains(rhs, u)) {
            continue;
        }
        let done = rewrite(shapes, None, rhs, rules::linear_algebra(), limits, "solve");
        out.stats.push(done.stats);
        if inside.is_none() {
            inside = open.iter().find_map(|u| nonlinear_context(&done.expr, u));
        }
        out.equations.push(Derived {
            lhs: Lhs::Expr(lhs.clone()),
            rhs: Rhs::Expr(done.expr),
        });
    }
    out.notes.push(Note::Implicit { unsolved, inside });
}

/// `expr` with every value computed within one step (an equation with no
/// offset on its left, such as `g[k] = grad F(theta[k])`) written out.
fn inline_same_step(
    model: &Model,
    expr: &RecExpr<Node>,
    stepped: &[u32],
    span: Span,
    depth: usize,
) -> Result<RecExpr<Node>, Diagnostic> {
    if depth > 64 {
        return Err(error(
            span,
            "the step's values are defined too deeply in terms of one another",
            "simplify the model",
        ));
    }
    let mut b = ExprBuilder::new();
    let mut map: Vec<Id> = Vec::with_capacity(expr.as_ref().len());
    for n in expr.as_ref() {
        let id = match n {
            Node::Leaf(Leaf::Var(r)) if !stepped.contains(&r.var) => {
                match model.vars[r.var as usize].kind {
                    VarKind::Defined(e) => {
                        let eq = &model.equations[e];
                        let by: rustc_hash::FxHashMap<u32, i64> = r.offsets().into_iter().collect();
                        let def = crate::ir::shift(&eq.norm, &|i| by.get(&i).copied().unwrap_or(0));
                        let def = inline_same_step(model, &def, stepped, span, depth + 1)?;
                        b.copy_all(&def)
                    }
                    VarKind::Input => b.add(n.clone()),
                }
            }
            other => b.add(other.clone().map_children(|c| map[usize::from(c)])),
        };
        map.push(id);
    }
    let root = map.last().copied().unwrap_or_else(|| b.int(0));
    Ok(b.finish(root))
}

/// Solves `next = rhs` for `u`, which appears on the right only:
/// `Ok(Ok((solution, condition)))`, or
/// `Ok(Err(reason))` when `rhs` is not affine in `u` with an invertible
/// coefficient.
#[allow(clippy::too_many_arguments)]
fn isolate(
    model: &Model,
    shapes: &Rc<ShapeTable>,
    limits: &Limits,
    span: Span,
    next: &RecExpr<Node>,
    rhs: &RecExpr<Node>,
    u: &Ref,
    stats: &mut Vec<RunStats>,
) -> Result<Isolated, Diagnostic> {
    let leaf = Leaf::Var(u.clone());
    let name = model.symbols.ref_text(u);
    // The coefficient: the Jacobian of the right side by `u`.
    let mut b = ExprBuilder::new();
    let x = b.leaf(leaf.clone());
    let e = b.copy_all(rhs);
    let root = b.add(Node::Jac([x, e]));
    let (coef, runs, _) = resolve(shapes, None, &b.finish(root), limits, span)?;
    stats.extend(runs);
    if contains(&coef, &leaf) {
        let inside = nonlinear_context(rhs, &leaf)
            .map(|c| {
                format!(
                    " it appears inside `{}`",
                    crate::ir::text::expr(&model.symbols, &c)
                )
            })
            .unwrap_or_default();
        return Ok(Err(format!(
            "the equation for `{}` is not affine in `{name}`:{inside}, so `{name}` cannot be isolated in closed form",
            crate::ir::text::expr(&model.symbols, next)
        )));
    }
    let scalar = model.shape_of(&leaf).is_scalar();
    // A value of another size than the next state's is not determined by
    // it: its coefficient is not square, and has no inverse.
    if let Node::Leaf(Leaf::Var(n)) = &next[crate::ir::root(next)] {
        let (to, from) = (model.shape_of(&Leaf::Var(n.clone())), model.shape_of(&leaf));
        if to.rows != from.rows || to.cols != from.cols {
            return Ok(Err(format!(
                "`{name}` has another size than `{}`, so its coefficient in that equation is not square and has no inverse: `{name}` is not determined by the next state",
                crate::ir::text::expr(&model.symbols, next)
            )));
        }
    }
    let coef = coefficient(&coef, scalar, model);
    let condition = match &coef {
        Coefficient::Zero => return Ok(Err(format!("`{name}` drops out of its equation"))),
        Coefficient::One | Coefficient::Number(_) => None,
        // `-c` is nonzero where `c` is.
        Coefficient::Scalar(c) => Some(Condition::Nonzero(
            unnegated(c).unwrap_or_else(|| c.clone()),
        )),
        Coefficient::Matrix(m) => Some(Condition::Invertible(m.clone())),
    };
    let sol = isolated(next, rhs, &leaf, &coef);
    let done = rewrite(shapes, None, &sol, rules::linear_algebra(), limits, "solve");
    stats.push(done.stats);
    Ok(Ok((done.expr, condition, Some(coef))))
}

/// `c` where the expression is `-c`.
fn unnegated(e: &RecExpr<Node>) -> Option<RecExpr<Node>> {
    match &e[crate::ir::root(e)] {
        Node::Neg(x) => Some(crate::ir::build::subtree(e, *x)),
        _ => None,
    }
}

/// `u` isolated from `next = rhs`, affine in `u` with coefficient `coef`,
/// unsimplified: `(next - rest) / c`, or `inv(M) * (next - rest)`, where
/// `rest` is `rhs` with `u` set to zero.
fn isolated(
    next: &RecExpr<Node>,
    rhs: &RecExpr<Node>,
    leaf: &Leaf,
    coef: &Coefficient,
) -> RecExpr<Node> {
    let zero = {
        let mut z = RecExpr::default();
        z.add(Node::Num(crate::num::Rational::zero()));
        z
    };
    let rest = super::steps::trivial_gone(&substitute(rhs, leaf, &zero));
    let mut b = ExprBuilder::new();
    let n = b.copy_all(next);
    // A negated scalar coefficient `-c` turns the difference round:
    // `(rest - next) / c`.
    let negated = match coef {
        Coefficient::Scalar(c) => unnegated(c),
        _ => None,
    };
    let numerator = match (super::steps::is_zero(&rest), &negated) {
        (true, None) => n,
        (true, Some(_)) => b.add(Node::Neg(n)),
        (false, None) => {
            let r = b.copy_all(&rest);
            b.add(Node::Sub([n, r]))
        }
        (false, Some(_)) => {
            let r = b.copy_all(&rest);
            b.add(Node::Sub([r, n]))
        }
    };
    if let Some(c) = negated {
        let c = b.copy_all(&c);
        let root = b.add(Node::Div([numerator, c]));
        return b.finish(root);
    }
    let root = match coef {
        Coefficient::Zero | Coefficient::One => numerator,
        Coefficient::Number(c) => {
            let c = b.num(c.clone());
            b.add(Node::Div([numerator, c]))
        }
        Coefficient::Scalar(c) => {
            let c = b.copy_all(c);
            b.add(Node::Div([numerator, c]))
        }
        Coefficient::Matrix(m) => {
            let mi = b.copy_all(m);
            let inv = b.add(Node::Inv(mi));
            b.add(Node::Mul([inv, numerator]))
        }
    };
    b.finish(root)
}

/// The steps that give `u`: isolated from its equation as written, the
/// values solved before substituted, simplified.
#[allow(clippy::too_many_arguments)]
fn isolation_steps(
    model: &Model,
    written: (&RecExpr<Node>, &RecExpr<Node>),
    substituted: (&RecExpr<Node>, &RecExpr<Node>),
    u: &Ref,
    coef: Option<&Coefficient>,
    condition: Option<&Condition>,
    solutions: &[(Ref, RecExpr<Node>)],
    solution: &RecExpr<Node>,
) -> Vec<crate::key::Step> {
    use super::adjoint::leaf_expr as leaf;
    use super::steps::{dedup, listed, step, text};
    use crate::key::Part;
    let leaf_u = Leaf::Var(u.clone());
    let mut out = Vec::new();
    if let Some(coef) = coef {
        let mut why = vec![
            Part::Equation(written.0.clone(), written.1.clone()),
            text(" is affine in "),
            Part::Expr(leaf(leaf_u.clone())),
        ];
        match coef {
            Coefficient::Zero | Coefficient::One => {
                why.push(text(": the rest moved to the other side"));
            }
            Coefficient::Number(c) => {
                why.push(text(" with coefficient "));
                why.push(Part::Expr(super::adjoint::num_expr(c.clone())));
                why.push(text(
                    ": the rest moved to the other side, then divided by it",
                ));
            }
            Coefficient::Scalar(c) => {
                why.push(text(" with coefficient "));
                why.push(Part::Expr(c.clone()));
                why.push(text(
                    ": the rest moved to the other side, then divided by it",
                ));
            }
            Coefficient::Matrix(m) => {
                why.push(text(" with coefficient "));
                why.push(Part::Expr(m.clone()));
                why.push(text(
                    ": the rest moved to the other side, then multiplied by its inverse",
                ));
            }
        }
        match condition {
            Some(Condition::Nonzero(c)) => {
                why.push(text(", where "));
                why.push(Part::Expr(c.clone()));
                why.push(text(" is not zero"));
            }
            Some(Condition::Invertible(m)) => {
                why.push(text(", where "));
                why.push(Part::Expr(m.clone()));
                why.push(text(" is invertible"));
            }
            None => {}
        }
        out.push(step(isolated(written.0, written.1, &leaf_u, coef), why));
        let used: Vec<Part> = solutions
            .iter()
            .filter(|(r, _)| {
                contains(written.1, &Leaf::Var(r.clone()))
                    || contains(written.0, &Leaf::Var(r.clone()))
            })
            .map(|(r, e)| Part::Equation(leaf(Leaf::Var(r.clone())), e.clone()))
            .collect();
        if !used.is_empty() {
            let mut why = vec![text("the values solved above substituted: ")];
            why.extend(listed(used));
            out.push(step(
                isolated(substituted.0, substituted.1, &leaf_u, coef),
                why,
            ));
        }
    }
    out.push(step(solution.clone(), vec![text("simplified")]));
    dedup(out, &model.symbols)
}

/// A solution with the condition it needs and the coefficient it divided
/// by, or why there is none.
type Isolated = Result<(RecExpr<Node>, Option<Condition>, Option<Coefficient>), String>;

#[derive(Debug, Clone)]
enum Coefficient {
    Zero,
    One,
    Number(crate::num::Rational),
    Scalar(RecExpr<Node>),
    Matrix(RecExpr<Node>),
}

/// Reads a simplified coefficient: a number, `I(n)`, `c * I(n)`, a scalar
/// (when the unknown is a scalar), or a general matrix.
fn coefficient(c: &RecExpr<Node>, scalar: bool, model: &Model) -> Coefficient {
    let root = crate::ir::root(c);
    // A negated identity, alone or scaled, is a negated number or scalar.
    let negated_eye = |m: Id| matches!(&c[m], Node::Neg(e) if matches!(c[*e], Node::Eye(_)));
    match &c[root] {
        Node::Neg(e) if matches!(c[*e], Node::Eye(_)) => {
            Coefficient::Number(crate::num::Rational::int(-1))
        }
        Node::Mul([s, m]) if negated_eye(*m) => match &c[*s] {
            Node::Num(r) if r.is_zero() => Coefficient::Zero,
            Node::Num(r) => Coefficient::Number(r.neg()),
            _ => {
                let mut b = crate::ir::build::ExprBuilder::new();
                let x = b.copy(c, *s);
                let n = b.add(Node::Neg(x));
                Coefficient::Scalar(b.finish(n))
            }
        },
        Node::Num(r) if r.is_zero() => Coefficient::Zero,
        Node::Num(r) if r.is_one() => Coefficient::One,
        Node::Num(r) => Coefficient::Number(r.clone()),
        Node::Eye(_) => Coefficient::One,
        Node::Mul([s, m]) if matches!(c[*m], Node::Eye(_)) => match &c[*s] {
            Node::Num(r) if r.is_zero() => Coefficient::Zero,
            Node::Num(r) => Coefficient::Number(r.clone()),
            _ => Coefficient::Scalar(crate::ir::build::subtree(c, *s)),
        },
        _ if scalar => Coefficient::Scalar(c.clone()),
        // A matrix that is a scalar times the identity by its normal form
        // (`I(D) - lambda * I(D)`) is that scalar.
        _ => match crate::ir::normal::block_form(c, model) {
            Some(crate::ir::normal::BlockForm::ScaledIdentity(s)) => {
                match &s[crate::ir::root(&s)] {
                    Node::Num(r) if r.is_zero() => Coefficient::Zero,
                    Node::Num(r) if r.is_one() => Coefficient::One,
                    Node::Num(r) => Coefficient::Number(r.clone()),
                    _ => Coefficient::Scalar(s),
                }
            }
            _ => Coefficient::Matrix(c.clone()),
        },
    }
}
