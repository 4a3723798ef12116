//! Worked steps: the derivation of a result as a person writes it, one
//! line per rule family (the uses, the vector-Jacobian products, the
//! activation identities, naming forward values, assumptions, clean-up),
//! each with why it follows. The steps are the intermediate forms deriv's
//! own derivation passes through, so each is an equation that holds like
//! the result (`verify` checks every one).

use crate::ir::build::ExprBuilder;
use crate::ir::{self, Leaf, Node, Ref, Symbols};
use crate::key::{Part, Rhs, Step};
use crate::num::Rational;
use egg::{ENodeOrVar, Id, Language, Pattern, RecExpr};
use std::collections::BTreeSet;

/// Words.
pub fn text(s: impl Into<String>) -> Part {
    Part::Text(s.into())
}

/// The sum of `parts`, left to right; `0` for none.
pub fn sum_of(parts: &[RecExpr<Node>]) -> RecExpr<Node> {
    let mut b = ExprBuilder::new();
    let mut acc: Option<Id> = None;
    for p in parts {
        let id = b.copy_all(p);
        acc = Some(match acc {
            Some(prev) => b.add(Node::Add([prev, id])),
            None => id,
        });
    }
    let root = acc.unwrap_or_else(|| b.num(Rational::zero()));
    b.finish(root)
}

/// Steps with any step that prints as the one before left out: the first
/// of two equal forms keeps its reason.
pub fn dedup(steps: Vec<Step>, symbols: &Symbols) -> Vec<Step> {
    let text = |r: &Rhs| crate::print::rhs_plain(r, symbols);
    let mut out: Vec<Step> = Vec::new();
    for s in steps {
        if out.last().is_some_and(|p| text(&p.rhs) == text(&s.rhs)) {
            continue;
        }
        out.push(s);
    }
    out
}

/// A step to an expression.
pub fn step(rhs: RecExpr<Node>, why: Vec<Part>) -> Step {
    Step {
        rhs: Rhs::Expr(rhs),
        why,
        assumed: true,
    }
}

/// Parts listed as `a, b and c`.
pub fn listed(items: Vec<Part>) -> Vec<Part> {
    listed_groups(items.into_iter().map(|p| vec![p]).collect())
}

/// Groups of parts listed as `a, b and c`.
pub fn listed_groups(items: Vec<Vec<Part>>) -> Vec<Part> {
    let n = items.len();
    let mut out = Vec::new();
    for (k, p) in items.into_iter().enumerate() {
        if k > 0 {
            out.push(text(if k + 1 == n { " and " } else { ", " }));
        }
        out.extend(p);
    }
    out
}

/// The operator a value flows back through, as the language writes it
/// (`.*`, `tanh`, `grad F`), or in words where it has no symbol of its own
/// (a power, a transpose); `None` for sums and negation, whose products
/// are the seed itself.
pub fn op_word(n: &Node, e: &RecExpr<Node>, s: &Symbols) -> Option<Part> {
    let code = |w: &str| Some(Part::Code(w.to_owned()));
    match n {
        Node::Mul(_) => code("*"),
        Node::Had(_) => code(".*"),
        Node::Div(_) => code("/"),
        Node::Pow(_) => Some(text("a power")),
        Node::Trans(_) => Some(text("a transpose")),
        Node::Block(_) | Node::Row(_) => Some(text("a block matrix")),
        Node::Act(f, _) => code(&format!(
            "{}{}",
            f.act.name(),
            if f.prime { "'" } else { "" }
        )),
        Node::Call([f, _]) | Node::Grad([f, _]) | Node::Hess([f, _]) | Node::JacF([f, _]) => {
            let name = match &e[*f] {
                Node::Leaf(Leaf::Fn(k)) => s.func(*k).to_owned(),
                _ => "f".to_owned(),
            };
            match n {
                Node::Call(_) => code(&name),
                Node::Grad(_) => code(&format!("grad {name}")),
                Node::Hess(_) => code(&format!("hess {name}")),
                _ => code(&format!("jac {name}")),
            }
        }
        Node::SumAll(_) | Node::Sum(_) => code("sum"),
        Node::Prod(_) => code("prod"),
        Node::Softmax(_) => code("softmax"),
        Node::Diag(_) => code("diag"),
        Node::Inv(_) => code("inv"),
        Node::Det(_) => code("det"),
        Node::Trace(_) => code("tr"),
        _ => None,
    }
}

/// The operators on the way from the root of `rhs` to the leaf `used`,
/// distinct, outermost first.
pub fn ops_to(rhs: &RecExpr<Node>, used: &Leaf, s: &Symbols) -> Vec<Part> {
    let nodes = rhs.as_ref();
    let contains = crate::ir::holding(rhs, used);
    let mut out: Vec<Part> = Vec::new();
    for (k, n) in nodes.iter().enumerate().rev() {
        if contains[k] {
            if let Some(w) = op_word(n, rhs, s) {
                if !out.contains(&w) {
                    out.push(w);
                }
            }
        }
    }
    out
}

/// The variable references in an expression, distinct, in order.
pub fn var_refs(e: &RecExpr<Node>) -> Vec<Ref> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for n in e.as_ref() {
        if let Node::Leaf(Leaf::Var(r)) = n {
            if seen.insert(r.clone()) {
                out.push(r.clone());
            }
        }
    }
    out
}

/// A pattern in `?u` instantiated at `arg_id`, a node of `b`.
fn instantiate(pattern: &Pattern<Node>, arg_id: Id, b: &mut ExprBuilder) -> Id {
    let mut map: Vec<Id> = Vec::new();
    for n in pattern.ast.as_ref() {
        let id = match n {
            ENodeOrVar::Var(_) => arg_id,
            ENodeOrVar::ENode(e) => b.add(e.clone().map_children(|c| map[usize::from(c)])),
        };
        map.push(id);
    }
    map.last().copied().unwrap_or(arg_id)
}

/// `expr` with every derivative form of an elementwise function that has
/// a derivative identity (`tanh'(a)`) written by it (`1 - tanh(a)^2`),
/// and each identity used, in `u`; `None` where there is none.
pub fn with_identities(expr: &RecExpr<Node>) -> Option<(RecExpr<Node>, Vec<Part>)> {
    let nodes = expr.as_ref();
    let mut used: Vec<crate::ir::Act> = Vec::new();
    let mut b = ExprBuilder::new();
    let mut map: Vec<Id> = Vec::with_capacity(nodes.len());
    for n in nodes {
        let id = match n.as_act() {
            Some((act, true, arg)) if identity(act).is_some() => {
                let pattern = identity(act)?;
                if !used.contains(&act) {
                    used.push(act);
                }
                instantiate(&pattern, map[usize::from(arg)], &mut b)
            }
            _ => b.add(n.clone().map_children(|c| map[usize::from(c)])),
        };
        map.push(id);
    }
    if used.is_empty() {
        return None;
    }
    let root = map.last().copied()?;
    let out = b.finish(root);
    let why = used
        .iter()
        .filter_map(|&act| {
            let mut lb = ExprBuilder::new();
            let a = lb.leaf(Leaf::Index(ir::ARGUMENT));
            let lroot = lb.add(Node::act(act, true, a));
            let lhs = lb.finish(lroot);
            let mut rb = ExprBuilder::new();
            let u = rb.leaf(Leaf::Index(ir::ARGUMENT));
            let rroot = instantiate(&identity(act)?, u, &mut rb);
            Some(Part::Equation(lhs, rb.finish(rroot)))
        })
        .collect();
    Some((out, listed(why)))
}

/// The derivative identity of a function, as a pattern in `?u`, where
/// it is one a person writes (not a multiple of zero).
fn identity(act: crate::ir::Act) -> Option<Pattern<Node>> {
    let pattern: Pattern<Node> = act.row().identity?.parse().ok()?;
    let nodes = pattern.ast.as_ref();
    let zero =
        |id: Id| matches!(&nodes[usize::from(id)], ENodeOrVar::ENode(Node::Num(c)) if c.is_zero());
    match nodes.last() {
        Some(ENodeOrVar::ENode(Node::Mul([a, b]))) if zero(*a) || zero(*b) => None,
        _ => Some(pattern),
    }
}

/// Whether an expression is a zero as the chain rule leaves them.
pub fn is_zero(e: &RecExpr<Node>) -> bool {
    !e.as_ref().is_empty() && is_zero_at(e, ir::root(e))
}

/// Whether a node is a zero as the chain rule leaves them: `0`, a
/// product with `0`, a zero matrix; and what a linear use of a vector set
/// to `0` leaves: a sum of zeros (`0 + A * 0`), a zero divided
/// (`v * (v^T * 0) / s`), the diagonal matrix of a zero, a transpose or
/// negation of one. A sum over an index of zero (`sum(t, 0)`) is left to
/// the simplifier, which writes it as a step of its own.
fn is_zero_at(e: &RecExpr<Node>, id: Id) -> bool {
    match &e[id] {
        Node::Num(c) => c.is_zero(),
        Node::Zeros(_) => true,
        Node::Mul([a, b]) | Node::Had([a, b]) => is_zero_at(e, *a) || is_zero_at(e, *b),
        Node::Add([a, b]) | Node::Sub([a, b]) => is_zero_at(e, *a) && is_zero_at(e, *b),
        Node::Div([a, _]) | Node::Diag(a) => is_zero_at(e, *a),
        Node::Trans(a) | Node::Neg(a) => is_zero_at(e, *a),
        _ => false,
    }
}

/// Whether the expression at `id` is a negation, and what it negates (or
/// `id` itself).
fn unsigned(b: &ExprBuilder, id: Id) -> (bool, Id) {
    match b.node(id) {
        Node::Neg(x) => (true, *x),
        _ => (false, id),
    }
}

/// The negation of the expression at `id`: what it negates, where it is a
/// negation.
fn negated(b: &mut ExprBuilder, id: Id) -> Id {
    match unsigned(b, id) {
        (true, x) => x,
        (false, x) => b.add(Node::Neg(x)),
    }
}

/// `expr` without the zero terms of its sums and the factors `1` of its
/// products, and with a factor `-1` written as a minus sign (`-y`, not
/// `y * (-1)`): what the chain rule leaves behind on its way, which a
/// person does not write.
pub fn trivial_gone(expr: &RecExpr<Node>) -> RecExpr<Node> {
    let nodes = expr.as_ref();
    let mut b = ExprBuilder::new();
    let mut map: Vec<Id> = Vec::with_capacity(nodes.len());
    let one = |id: Id| matches!(&expr[id], Node::Num(c) if *c == Rational::one());
    let minus_one = |id: Id| matches!(&expr[id], Node::Num(c) if *c == Rational::int(-1));
    for n in nodes {
        let id = match n {
            Node::Add([a, c]) if is_zero_at(expr, *a) && !is_zero_at(expr, *c) => {
                map[usize::from(*c)]
            }
            Node::Add([a, c]) | Node::Sub([a, c])
                if is_zero_at(expr, *c) && !is_zero_at(expr, *a) =>
            {
                map[usize::from(*a)]
            }
            Node::Sub([a, c]) if is_zero_at(expr, *a) && !is_zero_at(expr, *c) => {
                b.add(Node::Neg(map[usize::from(*c)]))
            }
            Node::Mul([a, c]) if one(*a) => map[usize::from(*c)],
            Node::Mul([a, c]) if one(*c) => map[usize::from(*a)],
            Node::Mul([a, c]) if minus_one(*a) => negated(&mut b, map[usize::from(*c)]),
            Node::Mul([a, c]) if minus_one(*c) => negated(&mut b, map[usize::from(*a)]),
            // Signs out of products, and a subtracted negative added.
            Node::Mul([a, c]) | Node::Had([a, c]) => {
                let (sa, xa) = unsigned(&b, map[usize::from(*a)]);
                let (sc, xc) = unsigned(&b, map[usize::from(*c)]);
                let p = b.add(match n {
                    Node::Mul(_) => Node::Mul([xa, xc]),
                    _ => Node::Had([xa, xc]),
                });
                if sa != sc {
                    b.add(Node::Neg(p))
                } else {
                    p
                }
            }
            Node::Add([a, c]) | Node::Sub([a, c]) => {
                let (sc, xc) = unsigned(&b, map[usize::from(*c)]);
                let x = map[usize::from(*a)];
                b.add(match (n, sc) {
                    (Node::Add(_), false) | (Node::Sub(_), true) => Node::Add([x, xc]),
                    _ => Node::Sub([x, xc]),
                })
            }
            Node::Neg(a) => negated(&mut b, map[usize::from(*a)]),
            Node::Trans(a) => match &expr[*a] {
                Node::Trans(x) => map[usize::from(*x)],
                _ => b.add(n.clone().map_children(|c| map[usize::from(c)])),
            },
            _ => b.add(n.clone().map_children(|c| map[usize::from(c)])),
        };
        map.push(id);
    }
    let root = map
        .last()
        .copied()
        .unwrap_or_else(|| b.num(Rational::zero()));
    b.finish(root)
}
