//! Extraction that keeps every value's shape. The e-graph has one zero for
//! every shape, so a class such as `1 - i[t]` (a vector) can hold the node
//! `1 - 0` once `i[t] = 0` is assumed; printed, that node is the scalar `1`,
//! and `W * (1 - 0)` would read as `W` scaled, not `W` times a vector of
//! ones. A scalar form in place of a vector is harmless where it is
//! broadcast (a sum, an elementwise product), and wrong where the shape
//! decides the meaning (a matrix product, a transpose fed to one, a
//! function's argument, a sum of entries, the answer itself).
//!
//! So the cheapest expression is built, each node's shape as written is
//! worked out, and wherever a written shape differs from the class's shape
//! at a place where it matters, that operand is rebuilt from another of its
//! class's nodes with the right shape (`1 - i[t]`). If none has it, the
//! extraction says so, and the caller keeps the form it started from.
//!
//! The cost model is here too ([`readable_cost`]): what a form costs to
//! read, which extraction minimises.

use crate::ir::analysis::{is_zero, Graph, ShapeId};
use crate::ir::Node;
use crate::num::Rational;
use crate::shape::{Product, Shape};
use egg::{Id, Language, RecExpr};
use rustc_hash::{FxHashMap, FxHashSet};

/// The number a class is everywhere, when it is one: a zero of any shape,
/// or a value an assumption makes constant (`h[t] = 1` makes `h[t]` and
/// `2 * 1/2 * h[t]` the vector of ones). It prints as that number wherever
/// a scalar stands for every entry.
fn number(eg: &Graph, id: Id) -> Option<Rational> {
    eg[id].data.konst.as_ref().and_then(|p| p.as_constant())
}

/// The cost of an unresolved derivative; any extraction at or above it did
/// not finish differentiating.
pub const UNRESOLVED: usize = 1_000_000;

/// The cost of a node as printed: unresolved derivatives are prohibitive,
/// derivative forms such as `sigma'(a)` dearer than their expansion in
/// named forward values, names and numbers cheapest. `child` gives each
/// operand's cost; an operand that is zero (`zero`) costs what `0` costs,
/// whatever node stands for it (a vector's zero is `0 * v` in the graph and
/// prints as `0`).
pub fn readable_cost(
    enode: &Node,
    mut zero: impl FnMut(Id) -> bool,
    mut child: impl FnMut(Id) -> usize,
) -> usize {
    // A determinant or inverse of a larger matrix is more work to read than
    // scalars pulled out of it: `beta^D * det(X)` beats `det(beta * X)`.
    let (own, weight) = match enode {
        Node::Vjp(_) | Node::Jac(_) => (UNRESOLVED, 1),
        Node::Act(f, _) if f.prime => (f.act.row().prime_cost, 1),
        Node::Det(_) | Node::Inv(_) => (4, 3),
        // A product of entries reads worse than the sum it folds into:
        // `exp(sum(s))` beats `prod(exp(s))`.
        Node::Prod(_) => (3, 1),
        Node::Div(_) => (3, 1),
        Node::Leaf(_) | Node::Num(_) => (1, 1),
        // A sum of one value with itself reads worse than twice it:
        // `2 * y` beats `y + y`, which would otherwise cost the same.
        Node::Add([a, b]) if a == b => (3, 1),
        _ => (2, 1),
    };
    enode.fold(own, |sum, id| {
        let c = if zero(id) { 1 } else { child(id) };
        sum.saturating_add(c.saturating_mul(weight))
    })
}

/// The deepest a search for a form of the right shape goes.
const MAX_SEARCH: usize = 24;

/// The most nodes a search for forms of the right shape may try, in one
/// extraction.
const SEARCH_BUDGET: usize = 4096;

/// The cheapest node of every class that a root reaches, and its cost
/// ([`readable_cost`]). It is the table egg's `Extractor` computes, by the
/// same passes over the classes in the graph's order with the same ties
/// (the first cheapest node of a class, replaced only by a strictly
/// cheaper one), so the same forms are chosen; but it covers only the
/// classes the root reaches, and in a pass it skips a class whose operands'
/// costs have not changed since it was last costed (it would find what it
/// found then).
struct Costs {
    /// By class (canonical id): the cost and the cheapest node.
    best: Vec<Option<(usize, Node)>>,
}

impl Costs {
    fn new(eg: &Graph, root: Id) -> Costs {
        // The classes the root reaches.
        let root = eg.find(root);
        let mut reached: Vec<bool> = Vec::new();
        let mark = |reached: &mut Vec<bool>, id: Id| -> bool {
            let k = usize::from(id);
            if k >= reached.len() {
                reached.resize(k + 1, false);
            }
            !std::mem::replace(&mut reached[k], true)
        };
        let mut stack = vec![root];
        mark(&mut reached, root);
        while let Some(c) = stack.pop() {
            for n in eg[c].nodes.iter() {
                for &k in n.children() {
                    let k = eg.find(k);
                    if mark(&mut reached, k) {
                        stack.push(k);
                    }
                }
            }
        }
        let order: Vec<Id> = eg
            .classes()
            .map(|c| c.id)
            .filter(|&id| reached.get(usize::from(id)).copied().unwrap_or(false))
            .collect();
        let size = reached.len();
        let zero: Vec<bool> = (0..size)
            .map(|k| reached[k] && number(eg, Id::from(k)).is_some())
            .collect();
        let mut best: Vec<Option<(usize, Node)>> = vec![None; size];
        // When each class's cost last changed, and when it was last
        // costed, in steps of the passes.
        let mut changed = vec![0usize; size];
        let mut costed = vec![0usize; size];
        let mut step = 0usize;
        let mut again = true;
        while again {
            again = false;
            for &c in &order {
                let k = usize::from(c);
                let nodes = &eg[c].nodes;
                if costed[k] > 0
                    && nodes.iter().all(|n| {
                        n.children()
                            .iter()
                            .all(|&o| changed[usize::from(eg.find(o))] < costed[k])
                    })
                {
                    continue;
                }
                step += 1;
                costed[k] = step;
                let mut pick: Option<(usize, &Node)> = None;
                for n in nodes.iter() {
                    let whole = n
                        .children()
                        .iter()
                        .all(|&o| best[usize::from(eg.find(o))].is_some());
                    if !whole {
                        continue;
                    }
                    let cost = readable_cost(
                        n,
                        |o| zero[usize::from(eg.find(o))],
                        |o| {
                            best[usize::from(eg.find(o))]
                                .as_ref()
                                .map_or(usize::MAX, |b| b.0)
                        },
                    )
                    .saturating_add(awkward(eg, n));
                    if pick.is_none_or(|(p, _)| cost < p) {
                        pick = Some((cost, n));
                    }
                }
                let Some((cost, node)) = pick else {
                    continue;
                };
                if best[k].as_ref().is_none_or(|(old, _)| cost < *old) {
                    best[k] = Some((cost, node.clone()));
                    step += 1;
                    changed[k] = step;
                    again = true;
                }
            }
        }
        Costs { best }
    }

    fn entry(&self, eg: &Graph, class: Id) -> Option<&(usize, Node)> {
        self.best.get(usize::from(eg.find(class)))?.as_ref()
    }

    /// The cost of a class's cheapest form (the most there is, for a class
    /// with no finished form).
    fn cost(&self, eg: &Graph, class: Id) -> usize {
        self.entry(eg, class).map_or(usize::MAX, |b| b.0)
    }

    /// A class's cheapest node. Every class a root reaches has one (each
    /// class holds the node that made it, whose operands were made before
    /// it), and the builder only asks for classes the root reaches, so it
    /// never meets `None`; where it would, it does not trust the form.
    fn node(&self, eg: &Graph, class: Id) -> Option<&Node> {
        self.entry(eg, class).map(|b| &b.1)
    }
}

/// An extra cost for a node that can only be written the long way, or that
/// reads worse than another form of its class: an elementwise product with
/// a number that stands for a whole vector (`x .* 1/4` does not check;
/// `1/4 * x`, in the same class, does), a negative power of a scalar, a
/// power of a power.
fn awkward(eg: &Graph, n: &Node) -> usize {
    match n {
        // A negative power of a scalar reads worse than a quotient by its
        // positive power (`b / s^2`, not `b * s^(-2)`), where the graph
        // holds one.
        Node::Pow([b, e])
            if crate::ir::analysis::is_scalar(eg, *b)
                && number(eg, *e).is_some_and(|k| k.is_negative()) =>
        {
            2
        }
        // A power of a power reads worse than one power: `c^(2 * D)`, not
        // `(c^2)^D`, where the graph holds both.
        Node::Pow([b, _])
            if eg[*b]
                .nodes
                .iter()
                .any(|n| matches!(n, Node::Pow([_, k]) if eg[*k].data.konst.is_some())) =>
        {
            1
        }
        Node::Had(ab) => {
            let vector_number =
                |id: &Id| number(eg, *id).is_some() && !crate::ir::analysis::is_scalar(eg, *id);
            if ab.iter().any(vector_number) {
                100
            } else {
                0
            }
        }
        _ => 0,
    }
}

struct Builder<'a> {
    eg: &'a Graph,
    ex: Costs,
    out: RecExpr<Node>,
    /// The written shape of each node of `out`.
    shapes: Vec<Written>,
    /// Classes already built in their cheapest form, and whether that form
    /// keeps its shapes.
    done: FxHashMap<Id, (Id, bool)>,
    /// Classes already built in their cheapest form, unchecked.
    plain_done: FxHashMap<Id, Id>,
    /// Classes whose cheapest form is being built.
    busy: FxHashSet<Id>,
    /// Search steps left: the search for a shaped form gives up past it.
    budget: usize,
}

/// A node's shape as written: its class's shape (the common case, kept
/// without copying), or another.
enum Written {
    Class(ShapeId),
    Other(Shape),
}

fn class_shape(eg: &Graph, id: Id) -> Shape {
    eg.analysis.shape(eg[id].data.shape).clone()
}

/// Whether an operand's written shape decides what the node means (it is
/// not broadcast or passed through elementwise).
fn shape_matters(n: &Node) -> bool {
    elementwise(n).is_none()
}

/// For an elementwise node (or a transpose), which operands its written
/// shape comes from, and how (`true`: transposed). An elementwise product
/// is not one of them: the language broadcasts a scalar in a sum, but
/// `.*` takes two values of one shape.
fn elementwise(n: &Node) -> Option<(&[Id], bool)> {
    match n {
        Node::Add(ab) | Node::Sub(ab) => Some((&ab[..], false)),
        Node::Div(ab) | Node::Pow(ab) => Some((&ab[..1], false)),
        Node::Sum(ie) => Some((&ie[1..], false)),
        Node::Trans(a) => Some((std::slice::from_ref(a), true)),
        Node::Neg(a) | Node::Act(_, [a]) => Some((std::slice::from_ref(a), false)),
        _ => None,
    }
}

impl<'a> Builder<'a> {
    fn new(eg: &'a Graph, root: Id) -> Builder<'a> {
        Builder {
            eg,
            ex: Costs::new(eg, root),
            out: RecExpr::default(),
            shapes: Vec::new(),
            done: FxHashMap::default(),
            plain_done: FxHashMap::default(),
            busy: FxHashSet::default(),
            budget: SEARCH_BUDGET,
        }
    }

    fn shape(&self, id: Id) -> &Shape {
        match &self.shapes[usize::from(id)] {
            Written::Class(s) => self.eg.analysis.shape(*s),
            Written::Other(s) => s,
        }
    }

    /// Whether node `id` of `out` is written with the shape of `class`.
    fn has_shape_of(&self, id: Id, class: Id) -> bool {
        let want = self.eg[class].data.shape;
        match &self.shapes[usize::from(id)] {
            Written::Class(s) => *s == want,
            Written::Other(s) => s == self.eg.analysis.shape(want),
        }
    }

    /// The written shape of `node` (of class `class`), its children in
    /// `out`: the class's shape where every child is written with its own
    /// class's shape (the class's shape was made from theirs), worked out
    /// otherwise.
    fn written(&self, class: Id, node: &Node) -> Written {
        let own = self.eg[class].data.shape;
        let plain = !matches!(node, Node::Num(_))
            && node
                .children()
                .iter()
                .all(|c| matches!(self.shapes[usize::from(*c)], Written::Class(_)));
        if plain {
            return Written::Class(own);
        }
        let s = self.written_shape(class, node);
        if s == *self.eg.analysis.shape(own) {
            Written::Class(own)
        } else {
            Written::Other(s)
        }
    }

    fn written_shape(&self, class: Id, node: &Node) -> Shape {
        match node {
            Node::Num(_) => Shape::scalar(),
            Node::Leaf(l) => self.eg.analysis.leaves().leaf_shape(l),
            Node::Add([a, b]) | Node::Sub([a, b]) | Node::Had([a, b]) => {
                if self.shape(*a).is_scalar() {
                    self.shape(*b).clone()
                } else {
                    self.shape(*a).clone()
                }
            }
            Node::Trans(a) => self.shape(*a).transpose(),
            Node::Mul([a, b]) => match self.shape(*a).product(self.shape(*b)) {
                Product::Scale(s) | Product::Matrix(s) => s,
                Product::Mismatch => class_shape(self.eg, class),
            },
            Node::Inv(a) => self.shape(*a).clone(),
            n => match elementwise(n) {
                Some((from, _)) => from
                    .first()
                    .map_or_else(Shape::scalar, |a| self.shape(*a).clone()),
                None => class_shape(self.eg, class),
            },
        }
    }

    /// Adds a node whose children are already in `out`.
    fn push(&mut self, class: Id, node: Node) -> Id {
        let shape = self.written(class, &node);
        self.shapes.push(shape);
        self.out.add(node)
    }

    /// The cheapest form of a class, with operands rebuilt where their
    /// written shape would change the meaning; and whether that worked.
    fn best(&mut self, class: Id) -> (Id, bool) {
        let class = self.eg.find(class);
        if let Some(&done) = self.done.get(&class) {
            return done;
        }
        if let Some(c) = number(self.eg, class) {
            // A number prints as itself; where its shape matters, the node
            // that uses a zero is itself zero, and for another number the
            // caller searches for a form of the right shape.
            let id = self.push(class, Node::Num(c));
            self.done.insert(class, (id, true));
            return (id, true);
        }
        let Some(node) = self.ex.node(self.eg, class).cloned() else {
            // No finished form (not reached in a graph built from
            // expressions): not trusted.
            let id = self.push(class, Node::Num(crate::num::Rational::zero()));
            return (id, false);
        };
        if !self.busy.insert(class) {
            // Reached again from a search inside its own operands: the plain
            // cheapest form, not trusted.
            let (id, _) = self.node_plain(class, &node);
            return (id, false);
        }
        let done = self.node(class, &node, 0);
        self.busy.remove(&class);
        self.done.insert(class, done);
        done
    }

    /// Builds `node` of `class`: children in their cheapest forms, rebuilt
    /// where the shape matters and differs.
    fn node(&mut self, class: Id, node: &Node, depth: usize) -> (Id, bool) {
        if let Node::Block(rows) = node {
            if let Some(done) = self.block(class, rows) {
                return done;
            }
        }
        let strict = shape_matters(node);
        let mut ok = true;
        let mut kids = Vec::new();
        for &c in node.children() {
            let c = self.eg.find(c);
            let (mut id, kid_ok) = self.best(c);
            ok &= kid_ok;
            // A zero operand is harmless where the node using it is zero
            // too; a softmax of a zero vector is the uniform vector, which
            // needs the operand's shape written.
            let exempt = is_zero(self.eg, c) && !matches!(node, Node::Softmax(_));
            if strict && !exempt && !self.has_shape_of(id, c) {
                let want = class_shape(self.eg, c);
                match self.shaped(c, &want, depth + 1) {
                    Some(fixed) => id = fixed,
                    None => ok = false,
                }
            }
            kids.push(id);
        }
        let mut k = kids.into_iter();
        let built = node.clone().map_children(|old| k.next().unwrap_or(old));
        (self.push(class, built), ok)
    }

    /// A block matrix, with each zero block whose size no neighbour gives
    /// (the `0` of `[I(H), 0]`: its height is its row's, its width no other
    /// row's) written with its size, `zeros(H, D)`, where its class has that
    /// form. `None` where a row is not a row of cells.
    fn block(&mut self, class: Id, rows: &[Id]) -> Option<(Id, bool)> {
        let eg = self.eg;
        let cells: Vec<Vec<Id>> = rows
            .iter()
            .map(|r| {
                eg[*r].nodes.iter().find_map(|n| match n {
                    Node::Row(c) => Some(c.iter().map(|&x| eg.find(x)).collect()),
                    _ => None,
                })
            })
            .collect::<Option<_>>()?;
        let zero = |c: Id| is_zero(eg, c);
        let mut ok = true;
        let mut built_rows = Vec::new();
        for (i, row) in cells.iter().enumerate() {
            let mut ids = Vec::new();
            for (j, &c) in row.iter().enumerate() {
                // A zero whose width no other row gives, or whose height
                // no other cell of its row gives, is written with its size.
                let width_known = cells
                    .iter()
                    .enumerate()
                    .any(|(k, r)| k != i && r.get(j).is_some_and(|&x| !zero(x)));
                let height_known = row.iter().enumerate().any(|(l, &x)| l != j && !zero(x));
                let id = if zero(c) && !(width_known && height_known) {
                    let shape = class_shape(eg, c);
                    let m = self.push_poly(c, &shape.rows);
                    let n = self.push_poly(c, &shape.cols);
                    self.push(c, Node::Zeros([m, n]))
                } else {
                    let (id, kid_ok) = self.best(c);
                    ok &= kid_ok;
                    id
                };
                ids.push(id);
            }
            built_rows.push(self.push(rows[i], Node::Row(ids.into_boxed_slice())));
        }
        Some((
            self.push(class, Node::Block(built_rows.into_boxed_slice())),
            ok,
        ))
    }

    /// A size polynomial written into the output (its nodes recorded as
    /// scalars beside `anchor`'s class).
    fn push_poly(&mut self, anchor: Id, p: &crate::poly::Poly) -> Id {
        let mut b = crate::ir::build::ExprBuilder::new();
        let root = b.poly(p);
        let e = b.finish(root);
        let mut map: Vec<Id> = Vec::new();
        for n in e.as_ref() {
            let node = n.clone().map_children(|c| map[usize::from(c)]);
            map.push(self.push(anchor, node));
        }
        map.last()
            .copied()
            .unwrap_or_else(|| self.push(anchor, Node::Num(Rational::zero())))
    }

    /// The cheapest form of `node`, without any check.
    fn node_plain(&mut self, class: Id, node: &Node) -> (Id, bool) {
        let mut kids = Vec::new();
        for &c in node.children() {
            let c = self.eg.find(c);
            kids.push(self.plain(c));
        }
        let mut k = kids.into_iter();
        let built = node.clone().map_children(|old| k.next().unwrap_or(old));
        (self.push(class, built), false)
    }

    /// The cheapest form of a class, without any check; zero classes are
    /// `0` (their cheapest node may lead back to them: a zero costs what
    /// `0` costs wherever it is used).
    fn plain(&mut self, class: Id) -> Id {
        let class = self.eg.find(class);
        if let Some(&id) = self.plain_done.get(&class) {
            return id;
        }
        let id = if let Some(c) = number(self.eg, class) {
            self.push(class, Node::Num(c))
        } else {
            match self.ex.node(self.eg, class).cloned() {
                Some(n) => self.node_plain(class, &n).0,
                // Not met (see `Costs::node`); unchecked forms are for
                // conditions and reports only.
                None => self.push(class, Node::Num(crate::num::Rational::zero())),
            }
        };
        self.plain_done.insert(class, id);
        id
    }

    /// A form of `class` written with shape `want`, keeping every shape
    /// inside it: its nodes tried cheapest first, an elementwise node's
    /// operands searched in turn. `None` if no node has it.
    fn shaped(&mut self, class: Id, want: &Shape, depth: usize) -> Option<Id> {
        if depth > MAX_SEARCH || self.budget == 0 {
            return None;
        }
        let mut nodes: Vec<(usize, Node)> = self.eg[class]
            .nodes
            .iter()
            .filter(|n| !matches!(n, Node::Vjp(_) | Node::Jac(_) | Node::Num(_)))
            .map(|n| {
                let cost = n.fold(1usize, |acc, c| {
                    acc.saturating_add(self.ex.cost(self.eg, c))
                });
                (cost, n.clone())
            })
            .collect();
        nodes.sort_by_key(|(c, _)| *c);
        for (_, n) in nodes {
            if n.children().iter().any(|&c| self.eg.find(c) == class) {
                continue;
            }
            if let Some(id) = self.shaped_node(class, &n, want, depth) {
                return Some(id);
            }
        }
        None
    }

    fn shaped_node(&mut self, class: Id, n: &Node, want: &Shape, depth: usize) -> Option<Id> {
        self.budget = self.budget.checked_sub(1)?;
        let (first, ok) = self.node(class, n, depth);
        if ok && self.shape(first) == want {
            return Some(first);
        }
        let (from, transposed) = elementwise(n)?;
        let operand_want = if transposed {
            want.transpose()
        } else {
            want.clone()
        };
        let from: Vec<Id> = from.iter().map(|&c| self.eg.find(c)).collect();
        let children: Vec<Id> = n.children().iter().map(|&c| self.eg.find(c)).collect();
        for f in from {
            let Some(fixed) = self.shaped(f, &operand_want, depth + 1) else {
                continue;
            };
            let mut ok = true;
            let mut kids = Vec::new();
            let mut replaced = false;
            for &d in &children {
                if d == f && !replaced {
                    replaced = true;
                    kids.push(fixed);
                } else {
                    let (id, kid_ok) = self.best(d);
                    ok &= kid_ok;
                    kids.push(id);
                }
            }
            let mut k = kids.into_iter();
            let built = n.clone().map_children(|old| k.next().unwrap_or(old));
            let id = self.push(class, built);
            if ok && self.shape(id) == want {
                return Some(id);
            }
        }
        None
    }
}

/// The part of `expr` that `root` reaches, in order.
fn compact(expr: &RecExpr<Node>, root: Id) -> RecExpr<Node> {
    let nodes = expr.as_ref();
    let mut used = vec![false; usize::from(root) + 1];
    used[usize::from(root)] = true;
    for i in (0..=usize::from(root)).rev() {
        if used[i] {
            for &c in nodes[i].children() {
                used[usize::from(c)] = true;
            }
        }
    }
    let mut map: Vec<Id> = vec![Id::from(0); used.len()];
    let mut out = RecExpr::default();
    for (i, n) in nodes.iter().enumerate().take(used.len()) {
        if used[i] {
            map[i] = out.add(n.clone().map_children(|c| map[usize::from(c)]));
        }
    }
    out
}

/// The cheapest expression of a class that keeps every value's shape, and
/// its cost (the cheapest expression's). `None` where no expression in the
/// graph keeps them; unresolved derivatives (cost at or above
/// [`UNRESOLVED`]) are returned as they are, for the caller to report.
pub fn extract_shaped(graph: &Graph, root: Id) -> Option<(usize, RecExpr<Node>)> {
    let root = graph.find(root);
    let mut b = Builder::new(graph, root);
    let cost = b.ex.cost(graph, root);
    if cost >= UNRESOLVED {
        let top = b.plain(root);
        return Some((cost, compact(&b.out, top)));
    }
    let (mut top, ok) = b.best(root);
    if !ok {
        return None;
    }
    if number(graph, root).is_none() && !b.has_shape_of(top, root) {
        let want = class_shape(graph, root);
        top = b.shaped(root, &want, 1)?;
    }
    Some((cost, compact(&b.out, top)))
}

/// The cheapest expression of a class, shapes unchecked, and its cost.
pub fn extract_unchecked(graph: &Graph, root: Id) -> (usize, RecExpr<Node>) {
    let root = graph.find(root);
    let mut b = Builder::new(graph, root);
    let cost = b.ex.cost(graph, root);
    let top = b.plain(root);
    (cost, compact(&b.out, top))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// egg's extractor with the same cost, to compare with.
    struct Readable<'a>(&'a Graph);

    impl egg::CostFunction<Node> for Readable<'_> {
        type Cost = usize;
        fn cost<C: FnMut(Id) -> usize>(&mut self, enode: &Node, costs: C) -> usize {
            readable_cost(enode, |id| is_zero(self.0, id), costs) + awkward(self.0, enode)
        }
    }

    /// The cost table chooses, for every class a root reaches, the cost
    /// and node egg's extractor chooses, on graphs that the chain rule and
    /// the simplifying rules have grown (many equal forms per class, ties
    /// among them).
    #[test]
    fn chooses_what_eggs_extractor_chooses() {
        let mut compared = 0;
        for (eg, root) in crate::egraph::grown::graphs(150) {
            let eg = &eg;
            let theirs = egg::Extractor::new(eg, Readable(eg));
            for class in eg.classes() {
                let ours = Costs::new(eg, class.id);
                assert_eq!(ours.cost(eg, class.id), theirs.find_best_cost(class.id));
                assert_eq!(
                    ours.node(eg, class.id),
                    Some(theirs.find_best_node(class.id))
                );
                compared += 1;
            }
            // The table from the root covers what the root reaches.
            let ours = Costs::new(eg, root);
            assert_eq!(ours.node(eg, root), Some(theirs.find_best_node(root)));
        }
        assert!(compared > 1000, "{compared} classes compared");
    }
}
