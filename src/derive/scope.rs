//! The graph a derived form is simplified (or a claim proven) in: the form
//! added, with the forward values named, the assumptions substituted and
//! the adjoints known to vanish set to zero, each only where it holds for
//! every index value of the form's window (see [`Window`]).

use super::window::Window;
use crate::egraph::{graph, ShapeTable};
use crate::ir::analysis::{union_value, union_zero, Graph};
use crate::ir::{self, Ix, Leaf, Node, Ref, Target};
use crate::model::{Assumption, Model, SumAssumption};
use crate::num::Rational;
use egg::{Id, RecExpr};
use std::collections::BTreeSet;
use std::rc::Rc;

/// What holds where a form is simplified.
pub struct Scope<'a> {
    /// The model.
    pub model: &'a Model,
    /// The index values the form holds at.
    pub window: &'a Window,
    /// The substitutions of the request.
    pub assuming: &'a [Assumption],
    /// Variables whose adjoints vanish everywhere.
    pub zero: &'a BTreeSet<u32>,
    /// Whether forward values are merged with their definitions.
    pub name: bool,
    /// Forward values to name even where the form does not mention them:
    /// those a Jacobian's rows were written out from (`g[k]`, `v[k+1]`).
    pub also: &'a [Ref],
}

/// Merges `sum(y)` with its value for each assumption about the sum of an
/// input's entries (`sum(y) = 1`), and rebuilds the graph if any.
pub fn assume_sums(g: &mut Graph, model: &Model, sums: &[SumAssumption]) {
    for s in sums {
        let y = g.add(Node::Leaf(Leaf::Var(model.plain_ref(s.var))));
        let total = g.add(Node::SumAll(y));
        let value = g.add(Node::Num(s.value.clone()));
        union_value(g, total, value);
    }
    if !sums.is_empty() {
        g.rebuild();
    }
}

/// The value of an assumption that is a plain constant (`1`, `-1/2`).
pub fn constant_value(e: &RecExpr<Node>) -> Option<Rational> {
    match e.as_ref() {
        [Node::Num(r)] => Some(r.clone()),
        [Node::Num(r), Node::Neg(_)] => Some(r.neg()),
        _ => None,
    }
}

/// An expression (an equation's right side, an assumed value) moved to a
/// reference: each index shifted by the reference's offset there, each
/// fixed position fixed.
pub(super) fn at_ref(e: &RecExpr<Node>, r: &Ref, own: &[u32]) -> RecExpr<Node> {
    let by = r.offsets();
    let moved = ir::shift(e, &|i| by.iter().find(|(j, _)| *j == i).map_or(0, |x| x.1));
    let fixed: Vec<(u32, Ix)> = own
        .iter()
        .zip(r.at.iter())
        .filter_map(|(&i, ix)| match *ix {
            Ix::Abs(_) | Ix::End(..) => Some((i, *ix)),
            Ix::Rel(..) => None,
        })
        .collect();
    if fixed.is_empty() {
        moved
    } else {
        ir::fix_at(&moved, &|i| {
            fixed.iter().find(|(j, _)| *j == i).map(|x| x.1)
        })
    }
}

/// The argument `x` of a definition that is its square root, `sqrt(x)` or
/// `x^(1/2)`.
fn square_root_of(def: &RecExpr<Node>) -> Option<RecExpr<Node>> {
    let root = ir::root(def);
    let x = match &def[root] {
        Node::Act(f, [x]) if f.act == crate::ir::act::Act::Sqrt && !f.prime => *x,
        Node::Pow([x, e]) if matches!(&def[*e], Node::Num(h) if *h == Rational::frac(1, 2)) => *x,
        _ => return None,
    };
    Some(ir::build::subtree(def, x))
}

/// The references of an expression, as values (an adjoint `bar(v[t])`
/// gives `v[t]`), distinct, in order of appearance.
fn value_refs(e: &RecExpr<Node>, out: &mut Vec<Ref>, seen: &mut BTreeSet<Ref>) {
    for n in e.as_ref() {
        if let Node::Leaf(Leaf::Var(r) | Leaf::Bar(Target::Var(r))) = n {
            if seen.insert(r.clone()) {
                out.push(r.clone());
            }
        }
    }
}

impl Scope<'_> {
    /// The assumption about `r`'s variable, if it holds at `r` for every
    /// index value of the window: for an input, where the model computes
    /// `r` there, or,
    /// for an assumed constant (`h[t] = 0`) that every `init` of the
    /// variable sets too (`init h[0] = 0`), where every value of `r` is
    /// computed or set by an `init` (`h[t-1]` in a sum over `t` is `h[0]`
    /// at `t = 1`).
    fn assumption(&self, r: &Ref) -> Option<&Assumption> {
        let a = self.assuming.iter().find(|a| a.target.var == r.var)?;
        // An input is given at every index value: the assumption is about
        // all of them.
        let input = self
            .model
            .vars
            .get(r.var as usize)
            .is_some_and(|d| d.kind == crate::model::VarKind::Input);
        if input || self.window.computes(self.model, r) {
            return Some(a);
        }
        let c = constant_value(&a.value)?;
        let inits: Vec<_> = self
            .model
            .inits
            .iter()
            .filter(|i| i.target.var == r.var)
            .collect();
        let all_set = !inits.is_empty()
            && inits
                .iter()
                .all(|i| constant_value(&i.value).as_ref() == Some(&c));
        (all_set && self.window.computed_or_set(self.model, r)).then_some(a)
    }

    /// A graph holding `exprs` (their roots returned in order), with the
    /// scope applied.
    pub fn graph(&self, shapes: &Rc<ShapeTable>, exprs: &[&RecExpr<Node>]) -> (Graph, Vec<Id>) {
        let model = self.model;
        let mut refs = Vec::new();
        let mut seen = BTreeSet::new();
        for e in exprs {
            value_refs(e, &mut refs, &mut seen);
        }
        // Definitions to merge with the values they define.
        let mut named: Vec<(Ref, RecExpr<Node>)> = Vec::new();
        if self.name {
            for r in self.also {
                if seen.insert(r.clone()) {
                    refs.push(r.clone());
                }
            }
            for r in refs.clone() {
                if !self.window.computes(model, &r) {
                    continue;
                }
                let (Some(eq), Some(decl)) =
                    (model.equation_of(r.var), model.vars.get(r.var as usize))
                else {
                    continue;
                };
                let def = at_ref(&eq.norm, &r, &decl.indices);
                value_refs(&def, &mut refs, &mut seen);
                named.push((r, def));
            }
            // A value an `init` sets is that value (`d[0] = h[T]`), for
            // the values of the expressions and of the definitions above.
            let mut k = 0;
            while k < refs.len() {
                let r = refs[k].clone();
                k += 1;
                if self.window.computes(model, &r) {
                    continue;
                }
                if let (Some(init), Some(decl)) =
                    (model.init_of(&r), model.vars.get(r.var as usize))
                {
                    let def = at_ref(&init.value, &r, &decl.indices);
                    value_refs(&def, &mut refs, &mut seen);
                    named.push((r, def));
                }
            }
        }
        let mut g = graph(shapes);
        for r in &refs {
            if let Some(c) = self.assumption(r).and_then(|a| constant_value(&a.value)) {
                g.analysis.assumed.insert(r.clone(), c);
            }
        }
        let roots: Vec<Id> = exprs.iter().map(|e| g.add_expr(e)).collect();
        for (r, def) in &named {
            let l = g.add(Node::Leaf(Leaf::Var(r.clone())));
            let d = g.add_expr(def);
            union_value(&mut g, l, d);
            // A value defined as a square root names its argument too:
            // `r = sqrt(x)` is defined only where `x >= 0`, and there
            // `x = r^2` (a norm's square is the inner product).
            if let Some(x) = square_root_of(def) {
                let x = g.add_expr(&x);
                let two = g.add(Node::Num(Rational::int(2)));
                let squared = g.add(Node::Pow([l, two]));
                union_value(&mut g, squared, x);
            }
        }
        for r in &refs {
            let Some(a) = self.assumption(r) else {
                continue;
            };
            if constant_value(&a.value).is_some() {
                continue;
            }
            let own = model
                .vars
                .get(r.var as usize)
                .map(|d| d.indices.clone())
                .unwrap_or_default();
            let l = g.add(Node::Leaf(Leaf::Var(r.clone())));
            let v = g.add_expr(&at_ref(&a.value, r, &own));
            union_value(&mut g, l, v);
        }
        for e in exprs {
            for n in e.as_ref() {
                if let Node::Leaf(Leaf::Bar(Target::Var(r))) = n {
                    if self.zero.contains(&r.var) {
                        let l = g.add(n.clone());
                        union_zero(&mut g, l);
                    }
                }
            }
        }
        g.rebuild();
        (g, roots)
    }
}
