//! Syntax tree to checked model: names, indices and shapes. Every problem
//! becomes a diagnostic that points at the offending text; nothing past
//! this stage sees a span-less error about the script.

mod lower;
mod order;
mod requests;

use crate::diag::{Diagnostic, Diagnostics, Source, Span};
use crate::graph::sccs;
use crate::ir::{self, Ix, Leaf, Node, Ref};
use crate::model::*;
use crate::poly::Poly;
use crate::shape::Shape;
use crate::syntax::ast::{self, Expr, ExprKind, IndexItem, SizeExpr, SizeKind, Stmt, StmtKind};
use lower::Lowerer;
use rustc_hash::FxHashMap as HashMap;

/// What a name in the script refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Dim(u32),
    Index(u32),
    Param(u32),
    Var(u32),
    Fn(u32),
    Loss,
    Jacobian(usize),
}

impl Named {
    fn describe(self) -> &'static str {
        match self {
            Named::Dim(_) => "a dim",
            Named::Index(_) => "an index",
            Named::Param(_) => "a parameter",
            Named::Var(_) => "a variable",
            Named::Fn(_) => "a function",
            Named::Loss => "the loss",
            Named::Jacobian(_) => "a derived Jacobian",
        }
    }
}

/// Names the language keeps for itself, besides the elementwise
/// functions' (see `is_builtin`).
const BUILTINS: &[&str] = &[
    "sum",
    "bar",
    "det",
    "inv",
    "tr",
    "I",
    "zeros",
    "diag",
    "params",
    "macs",
    "scalar",
    "adjoints",
    "inverse",
    "softmax",
    "logsumexp",
    "mean",
    "prod",
];

/// Whether the language keeps `name` for itself.
fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name) || crate::ir::Act::from_name(name).is_some()
}

/// Checks a parsed script and builds its model.
pub fn check(script: &ast::Script, source: &Source) -> Result<Model, Diagnostics> {
    let mut ck = Checker {
        source: source.clone(),
        model: Model::default(),
        names: HashMap::default(),
        errors: Vec::new(),
        var_shapes: Vec::new(),
        var_eq_stmt: Vec::new(),
        items: Vec::new(),
        failed: Default::default(),
        declared_states: Vec::new(),
    };
    ck.declare_dims(&script.stmts);
    ck.declare_rest(&script.stmts);
    ck.declare_states(&script.stmts);
    ck.infer_shapes(&script.stmts);
    ck.infer_from_uses(&script.stmts);
    ck.lower_statements(&script.stmts);
    ck.no_silent_failures();
    if ck.errors.is_empty() {
        ck.check_cycles();
    }
    if ck.errors.is_empty() {
        if let Some(d) = order::cycle(&ck.model) {
            ck.error(d);
        }
    }
    if ck.errors.is_empty() {
        ck.check_boundaries();
    }
    if ck.errors.is_empty() {
        ck.check_fixed_steps();
    }
    if ck.errors.is_empty() {
        ck.check_requests(&script.stmts);
    }
    ck.model.symbols.shapes = crate::egraph::ShapeTable::new(&ck.model);
    ck.items.sort_by_key(|(k, _)| *k);
    ck.model.items = ck.items.drain(..).map(|(_, item)| item).collect();
    if ck.errors.is_empty() {
        Ok(ck.model)
    } else {
        ck.errors.sort_by_key(|d| d.span.start);
        Err(Diagnostics(ck.errors))
    }
}

struct Checker {
    /// The text spans point into (a copy: a reader swaps it per expression).
    source: Source,
    model: Model,
    names: HashMap<String, (Named, Span)>,
    errors: Vec<Diagnostic>,
    /// Variables' shapes as far as they are known.
    var_shapes: Vec<Option<Shape>>,
    /// For each defined variable, the statement number of its equation.
    var_eq_stmt: Vec<Option<usize>>,
    /// The model section's items with their statement numbers.
    items: Vec<(usize, Item)>,
    /// Variables whose equation has an error already reported.
    failed: rustc_hash::FxHashSet<u32>,
    /// Variables whose shape a `state` line declares.
    declared_states: Vec<u32>,
}

/// The refusal of a size that is not positive for every value of the dims
/// (zero, or with a negative coefficient), written `text` at `span`.
fn not_positive(p: &Poly, span: Span, text: &str) -> Option<Diagnostic> {
    (p.is_zero() || p.0.values().any(|c| c.is_negative())).then(|| {
        Diagnostic::new(
            span,
            format!("the size `{text}` is not positive for every value of the dims"),
            "a size must be positive",
        )
        .hint("use a positive integer, a dim, or a sum of products of them")
    })
}

/// The closest of `candidates` to `name`, if it is close enough to suggest.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(name, c);
        let limit = (name.len().max(c.len()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, bc)| d < bd || (d == bd && c < bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Checker {
    fn line(&self, span: Span) -> usize {
        self.source.line_col(span.start).0
    }

    fn text(&self, span: Span) -> String {
        self.source.slice(span).to_owned()
    }

    /// A variable whose equation failed has an error reported for it or
    /// for a variable it uses. Should the cascade rule ever drop them all,
    /// the script must still be refused: a model missing an equation would
    /// be answered wrongly, and evaluating it would fail.
    fn no_silent_failures(&mut self) {
        if !self.errors.is_empty() {
            return;
        }
        let unchecked = self.model.vars.iter().enumerate().find(|(v, d)| {
            self.failed.contains(&(*v as u32)) || d.kind == VarKind::Defined(usize::MAX)
        });
        if let Some((_, d)) = unchecked {
            let d = Diagnostic::new(
                d.span,
                format!("the equation of `{}` could not be checked", d.name),
                "not checked",
            )
            .hint("please report the script");
            self.errors.push(d);
        }
    }

    fn error(&mut self, d: Diagnostic) {
        // An error that only follows from an earlier one says nothing new.
        if d.message != lower::CASCADE {
            self.errors.push(d);
        }
    }

    /// Declares a name, reporting a redefinition or a built-in clash.
    fn declare(&mut self, name: &ast::Ident, what: Named) -> bool {
        if is_builtin(&name.name) {
            self.error(
                Diagnostic::new(
                    name.span,
                    format!("`{}` is a built-in name of the language", name.name),
                    "cannot be declared",
                )
                .hint("choose another name"),
            );
            return false;
        }
        if let Some(&(prev, prev_span)) = self.names.get(&name.name) {
            let d = Diagnostic::new(
                name.span,
                format!("`{}` is already defined", name.name),
                "defined again here",
            )
            .related(
                prev_span,
                format!("first defined here as {}", prev.describe()),
            )
            .hint("every name is defined once; rename one of them");
            self.error(d);
            return false;
        }
        self.names.insert(name.name.clone(), (what, name.span));
        true
    }

    fn declare_dims(&mut self, stmts: &[Stmt]) {
        for (k, s) in stmts.iter().enumerate() {
            if let StmtKind::Dim(names) = &s.kind {
                let mut ids = Vec::new();
                for n in names {
                    let id = self.model.dims.len() as u32;
                    if self.declare(n, Named::Dim(id)) {
                        self.model.dims.push(DimDecl {
                            name: n.name.clone(),
                            span: n.span,
                        });
                        self.model.symbols.dims.push(n.name.clone());
                        ids.push(id);
                    }
                }
                self.items.push((k, Item::Dims(ids)));
            }
        }
    }

    /// A size expression as a polynomial in dims.
    fn size(&mut self, e: &SizeExpr) -> Option<Poly> {
        let too_big = |sp: Span| {
            Diagnostic::new(sp, "this size is too large to work with", "here")
                .hint("sizes are small polynomials in the dims")
        };
        let p = match &e.kind {
            SizeKind::Int(n) => match i64::try_from(*n) {
                Ok(n) => Poly::int(n),
                Err(_) => {
                    self.error(too_big(e.span));
                    return None;
                }
            },
            SizeKind::Name(n) => match self.names.get(n) {
                Some(&(Named::Dim(d), _)) => Poly::dim(d),
                Some(&(other, _)) => {
                    self.error(
                        Diagnostic::new(
                            e.span,
                            format!("`{n}` is {}, not a dim", other.describe()),
                            "used as a size",
                        )
                        .hint(format!(
                            "declare a size with `dim {n}`, or use a declared dim"
                        )),
                    );
                    return None;
                }
                None => {
                    let dims: Vec<String> =
                        self.model.dims.iter().map(|d| d.name.clone()).collect();
                    let hint = match closest(n, dims.iter().map(String::as_str)) {
                        Some(c) => {
                            format!("did you mean `{c}`? Otherwise declare it with `dim {n}`")
                        }
                        None => format!("declare it with `dim {n}`"),
                    };
                    self.error(
                        Diagnostic::new(e.span, format!("unknown dim `{n}`"), "not declared")
                            .hint(hint),
                    );
                    return None;
                }
            },
            SizeKind::Add(a, b) | SizeKind::Sub(a, b) | SizeKind::Mul(a, b) => {
                let (pa, pb) = (self.size(a), self.size(b));
                let (pa, pb) = (pa?, pb?);
                let r = match &e.kind {
                    SizeKind::Add(..) => pa.add(&pb),
                    SizeKind::Sub(..) => pa.sub(&pb),
                    _ => pa.mul(&pb),
                };
                match r {
                    Some(p) => p,
                    None => {
                        self.error(too_big(e.span));
                        return None;
                    }
                }
            }
            SizeKind::Pow(a, n) => match self.size(a)?.pow(*n) {
                Some(p) => p,
                None => {
                    self.error(too_big(e.span));
                    return None;
                }
            },
        };
        Some(p)
    }

    /// A size that must be positive for every value of the dims: a nonzero
    /// polynomial whose coefficients are all positive.
    fn positive_size(&mut self, e: &SizeExpr) -> Option<Poly> {
        let p = self.size(e)?;
        if let Some(d) = not_positive(&p, e.span, &self.text(e.span)) {
            self.error(d);
            return None;
        }
        Some(p)
    }

    fn shape(&mut self, s: &ast::ShapeExpr) -> Option<Shape> {
        match s {
            ast::ShapeExpr::Scalar(_) => Some(Shape::scalar()),
            ast::ShapeExpr::Vector(n) => Some(Shape::vector(self.positive_size(n)?)),
            ast::ShapeExpr::Matrix(m, n) => {
                let (m, n) = (self.positive_size(m), self.positive_size(n));
                Some(Shape::matrix(m?, n?))
            }
        }
    }

    /// The index list of a declared input or an equation's left side.
    fn target_indices(
        &mut self,
        r: &ast::Ref,
        what: &str,
        allow_offsets: bool,
    ) -> Option<(Vec<u32>, Vec<i64>)> {
        let mut ids = Vec::new();
        let mut offsets = Vec::new();
        for item in r.indices.iter().flatten() {
            match item {
                IndexItem::Const { span, .. } => {
                    let hint = if what == "an equation" {
                        format!(
                            "set a boundary value with `init {} = ...`; an equation holds for every index value",
                            self.text(r.span)
                        )
                    } else {
                        format!(
                            "declare `{}` over index names, such as `{}[t]`",
                            r.name.name, r.name.name
                        )
                    };
                    self.error(
                        Diagnostic::new(
                            *span,
                            format!("a fixed index value in {what}"),
                            "expected an index name",
                        )
                        .hint(hint),
                    );
                    return None;
                }
                IndexItem::Var { name, offset, span } => {
                    let i = match self.names.get(&name.name) {
                        Some(&(Named::Index(i), _)) => i,
                        _ => {
                            self.unknown_index(name);
                            return None;
                        }
                    };
                    if *offset != 0 && !allow_offsets {
                        self.error(
                            Diagnostic::new(
                                *span,
                                format!("an index offset in {what}"),
                                "no offset here",
                            )
                            .hint(format!("write the plain index, `{}`", name.name)),
                        );
                        return None;
                    }
                    if ids.contains(&i) {
                        self.error(
                            Diagnostic::new(
                                *span,
                                format!("index `{}` appears twice", name.name),
                                "repeated",
                            )
                            .hint("each position needs its own index, such as `h[i, j]`"),
                        );
                        return None;
                    }
                    ids.push(i);
                    offsets.push(*offset);
                }
            }
        }
        Some((ids, offsets))
    }

    fn unknown_index(&mut self, name: &ast::Ident) {
        let d = match self.names.get(&name.name) {
            Some(&(other, _)) => Diagnostic::new(
                name.span,
                format!("`{}` is {}, not an index", name.name, other.describe()),
                "used as an index",
            )
            .hint(format!("declare an index with `index {}`", name.name)),
            None => {
                let indices: Vec<String> =
                    self.model.indices.iter().map(|d| d.name.clone()).collect();
                let hint = match closest(&name.name, indices.iter().map(String::as_str)) {
                    Some(c) => format!(
                        "did you mean `{c}`? Otherwise declare it with `index {}`",
                        name.name
                    ),
                    None => format!("declare it with `index {}`", name.name),
                };
                Diagnostic::new(
                    name.span,
                    format!("unknown index `{}`", name.name),
                    "not declared",
                )
                .hint(hint)
            }
        };
        self.error(d);
    }

    /// Refuses a range `lo..hi` that ends before it starts at every value
    /// of the dims (`1..0`).
    fn refuse_empty_range(&mut self, lo: &Poly, hi: &Poly, span: Span) {
        let empty = hi
            .sub(lo)
            .and_then(|d| d.as_constant())
            .is_some_and(|d| d.is_negative());
        if empty {
            self.error(
                Diagnostic::new(
                    span,
                    format!("the range `{}` is empty", self.text(span)),
                    "ends before it starts",
                )
                .hint("a range runs from its first index value up to its last, such as `1..T`"),
            );
        }
    }

    fn declare_rest(&mut self, stmts: &[Stmt]) {
        for (k, s) in stmts.iter().enumerate() {
            match &s.kind {
                StmtKind::Index { names, range } => {
                    let range = match range {
                        Some((lo, hi)) => {
                            let span = lo.span.to(hi.span);
                            let (lo, hi) = (self.size(lo), self.size(hi));
                            match (lo, hi) {
                                (Some(lo), Some(hi)) => {
                                    self.refuse_empty_range(&lo, &hi, span);
                                    Some((lo, hi))
                                }
                                _ => None,
                            }
                        }
                        None => None,
                    };
                    let mut ids = Vec::new();
                    for n in names {
                        let id = self.model.indices.len() as u32;
                        if self.declare(n, Named::Index(id)) {
                            self.model.indices.push(IndexDecl {
                                name: n.name.clone(),
                                range: range.clone(),
                                span: n.span,
                            });
                            self.model.symbols.indices.push(n.name.clone());
                            let end = range.as_ref().and_then(|(_, hi)| range_end(hi));
                            self.model
                                .symbols
                                .ends
                                .push(end.map(|(d, c)| (self.model.symbols.dim(d).to_owned(), c)));
                            ids.push(id);
                        }
                    }
                    self.items.push((k, Item::Indices(ids)));
                }
                StmtKind::Param { targets, shape } => {
                    let Some(shape) = self.shape(shape) else {
                        continue;
                    };
                    let mut ids = Vec::new();
                    let mut indexed = Vec::new();
                    for t in targets {
                        let n = &t.name;
                        if t.indices.is_some() {
                            // One parameter per index value: an input that is
                            // learned.
                            let Some((indices, _)) =
                                self.target_indices(t, "a parameter declaration", false)
                            else {
                                continue;
                            };
                            if let Some(id) =
                                self.new_var(n, indices, Some(shape.clone()), VarKind::Input, None)
                            {
                                self.model.vars[id as usize].learned = true;
                                indexed.push(id);
                            }
                            continue;
                        }
                        let id = self.model.params.len() as u32;
                        if self.declare(n, Named::Param(id)) {
                            self.model.params.push(ParamDecl {
                                name: n.name.clone(),
                                shape: shape.clone(),
                                span: n.span,
                            });
                            self.model.symbols.params.push(n.name.clone());
                            ids.push(id);
                        }
                    }
                    if !ids.is_empty() || indexed.is_empty() {
                        self.items.push((k, Item::Params(ids)));
                    }
                    if !indexed.is_empty() {
                        self.items.push((k, Item::IndexedParams(indexed)));
                    }
                }
                StmtKind::Input { targets, shape } => {
                    let Some(shape) = self.shape(shape) else {
                        continue;
                    };
                    let mut ids = Vec::new();
                    for t in targets {
                        let Some((indices, _)) =
                            self.target_indices(t, "an input declaration", false)
                        else {
                            continue;
                        };
                        if let Some(id) = self.new_var(
                            &t.name,
                            indices,
                            Some(shape.clone()),
                            VarKind::Input,
                            None,
                        ) {
                            ids.push(id);
                        }
                    }
                    self.items.push((k, Item::Inputs(ids)));
                }
                StmtKind::Fn { name, from, to } => {
                    let domain = self.shape(from);
                    let to_shape = self.shape(to);
                    if to_shape
                        .as_ref()
                        .is_some_and(|t| !t.is_scalar() && !t.is_vector())
                    {
                        self.error(
                            Diagnostic::new(
                                s.span,
                                format!("`{}` takes values that are matrices", name.name),
                                "value is a matrix",
                            )
                            .hint(format!(
                                "a function's value is a scalar or a vector: declare `fn {} : ... -> scalar` or `fn {} : ... -> H`",
                                name.name, name.name
                            )),
                        );
                        continue;
                    }
                    let Some(codomain) = to_shape else { continue };
                    let Some(domain) = domain else { continue };
                    if !domain.is_scalar() && !domain.is_vector() {
                        self.error(
                            Diagnostic::new(
                                s.span,
                                format!("`{}` takes a matrix", name.name),
                                "argument shape",
                            )
                            .hint("a function's argument is a scalar or a vector"),
                        );
                        continue;
                    }
                    let id = self.model.fns.len() as u32;
                    if self.declare(name, Named::Fn(id)) {
                        self.model.fns.push(FnDecl {
                            name: name.name.clone(),
                            domain,
                            codomain,
                            span: name.span,
                        });
                        self.model.symbols.fns.push(name.name.clone());
                        self.items.push((k, Item::Fn(id)));
                    }
                }
                StmtKind::Equation { target, .. } => {
                    if let Some(&(Named::Var(v), prev)) = self.names.get(&target.name.name) {
                        let d = if self.model.vars[v as usize].kind == VarKind::Input {
                            Diagnostic::new(
                                target.name.span,
                                format!("`{}` is an input, so it cannot be defined", target.name.name),
                                "defined here",
                            )
                            .related(prev, "declared as an input here")
                            .hint("inputs are given for every index value; give the computed value its own name")
                        } else {
                            Diagnostic::new(
                                target.name.span,
                                format!("`{}` is already defined", target.name.name),
                                "defined again here",
                            )
                            .related(prev, "first defined here")
                            .hint("a variable has one equation; for a boundary value use `init`")
                        };
                        self.error(d);
                        continue;
                    }
                    let Some((indices, _)) = self.target_indices(target, "an equation", true)
                    else {
                        continue;
                    };
                    self.new_var(
                        &target.name,
                        indices,
                        None,
                        VarKind::Defined(usize::MAX),
                        Some(k),
                    );
                }
                StmtKind::Loss { name, .. } => {
                    let prev = self
                        .names
                        .values()
                        .find(|(n, _)| *n == Named::Loss)
                        .map(|p| p.1);
                    if let Some(prev) = prev {
                        self.error(
                            Diagnostic::new(s.span, "a second `loss`", "one objective only")
                                .related(prev, "the loss is declared here")
                                .hint("combine the terms into one `loss L = ...`"),
                        );
                        continue;
                    }
                    self.declare(name, Named::Loss);
                }
                _ => {}
            }
        }
    }

    fn new_var(
        &mut self,
        name: &ast::Ident,
        indices: Vec<u32>,
        shape: Option<Shape>,
        kind: VarKind,
        stmt: Option<usize>,
    ) -> Option<u32> {
        let id = self.model.vars.len() as u32;
        if !self.declare(name, Named::Var(id)) {
            return None;
        }
        self.model.vars.push(VarDecl {
            name: name.name.clone(),
            indices,
            shape: shape.clone().unwrap_or_else(Shape::scalar),
            kind,
            learned: false,
            span: name.span,
        });
        self.model.symbols.vars.push(name.name.clone());
        self.var_shapes.push(shape);
        self.var_eq_stmt.push(stmt);
        Some(id)
    }

    /// `state x[k] : D`: the declared shape of a variable an equation
    /// defines, which its equation must then give.
    fn declare_states(&mut self, stmts: &[Stmt]) {
        for (k, s) in stmts.iter().enumerate() {
            let StmtKind::State { targets, shape } = &s.kind else {
                continue;
            };
            let Some(shape) = self.shape(shape) else {
                continue;
            };
            let mut ids = Vec::new();
            for t in targets {
                let v = match self.names.get(&t.name.name) {
                    Some(&(Named::Var(v), _))
                        if self.model.vars[v as usize].kind != VarKind::Input =>
                    {
                        v
                    }
                    _ => {
                        self.unknown_var(&t.name, "declared as a state");
                        continue;
                    }
                };
                let decl = self.model.vars[v as usize].clone();
                let Some((indices, offsets)) = self.target_indices(t, "a state declaration", false)
                else {
                    continue;
                };
                if indices != decl.indices || offsets.iter().any(|&o| o != 0) {
                    self.error(self.arity_error(t, &decl));
                    continue;
                }
                if self.declared_states.contains(&v) {
                    self.error(
                        Diagnostic::new(
                            t.span,
                            format!("`{}` is declared twice", decl.name),
                            "declared again",
                        )
                        .hint("declare each state's shape once"),
                    );
                    continue;
                }
                self.declared_states.push(v);
                self.var_shapes[v as usize] = Some(shape.clone());
                self.model.vars[v as usize].shape = shape.clone();
                ids.push(v);
            }
            self.items.push((k, Item::States(ids)));
        }
    }

    /// Infers the shape of every defined variable from its right side, in
    /// dependence order; recurrences are iterated to a fixed point.
    fn infer_shapes(&mut self, stmts: &[Stmt]) {
        let defined: Vec<(u32, usize)> = self
            .var_eq_stmt
            .iter()
            .enumerate()
            .filter_map(|(v, s)| s.map(|s| (v as u32, s)))
            .collect();
        // Dependencies: the variables each equation's right side names.
        let pos: HashMap<u32, usize> = defined
            .iter()
            .enumerate()
            .map(|(k, &(v, _))| (v, k))
            .collect();
        let edges: Vec<Vec<usize>> = defined
            .iter()
            .map(|&(_, s)| match &stmts[s].kind {
                StmtKind::Equation { value, .. } => {
                    let mut deps = Vec::new();
                    collect_names(value, &mut |n| {
                        if let Some(&(Named::Var(u), _)) = self.names.get(n) {
                            if let Some(&k) = pos.get(&u) {
                                deps.push(k);
                            }
                        }
                    });
                    deps.sort_unstable();
                    deps.dedup();
                    deps
                }
                _ => Vec::new(),
            })
            .collect();
        for comp in sccs(&edges) {
            loop {
                let mut progress = false;
                for &k in &comp {
                    let (v, s) = defined[k];
                    if self.var_shapes[v as usize].is_some() {
                        continue;
                    }
                    if let StmtKind::Equation { target, value } = &stmts[s].kind {
                        let indices = self.model.vars[v as usize].indices.clone();
                        let mut lw = Lowerer::new(self, indices, true);
                        let _ = target;
                        if let Ok((_, Some(shape))) = lw.expr(value) {
                            self.var_shapes[v as usize] = Some(shape.clone());
                            self.model.vars[v as usize].shape = shape;
                            progress = true;
                        }
                    }
                }
                if !progress {
                    break;
                }
            }
        }
    }

    /// A variable whose equation does not tell its shape (`x[k+1] = x[k]`)
    /// takes the one shape under which every expression that uses it
    /// checks, when exactly one shape the model mentions does (a parameter's,
    /// a variable's, a function's argument, a scalar, a parameter's rows or
    /// columns as a vector, a vector of a dim); otherwise it stays unknown, and the script is
    /// refused with a hint to declare it (`state x[k] : D`).
    fn infer_from_uses(&mut self, stmts: &[Stmt]) {
        loop {
            let unknown: Vec<u32> = (0..self.model.vars.len() as u32)
                .filter(|&v| {
                    self.var_shapes[v as usize].is_none() && self.var_eq_stmt[v as usize].is_some()
                })
                .collect();
            let mut progress = false;
            for v in unknown {
                let mut fits = Vec::new();
                for c in self.shape_candidates() {
                    self.var_shapes[v as usize] = Some(c.clone());
                    self.model.vars[v as usize].shape = c.clone();
                    if self.shape_fits(stmts, v, &c) {
                        fits.push(c);
                    }
                    self.var_shapes[v as usize] = None;
                    self.model.vars[v as usize].shape = Shape::scalar();
                }
                if let [one] = fits.as_slice() {
                    self.var_shapes[v as usize] = Some(one.clone());
                    self.model.vars[v as usize].shape = one.clone();
                    progress = true;
                }
            }
            if !progress {
                return;
            }
            self.infer_shapes(stmts);
        }
    }

    /// The shapes the model mentions.
    fn shape_candidates(&self) -> Vec<Shape> {
        let mut out = vec![Shape::scalar()];
        let mut add = |s: Shape| {
            if !out.contains(&s) {
                out.push(s);
            }
        };
        for p in &self.model.params {
            add(p.shape.clone());
            add(Shape::vector(p.shape.rows.clone()));
            add(Shape::vector(p.shape.cols.clone()));
        }
        for (v, s) in self.var_shapes.iter().enumerate() {
            if let Some(s) = s {
                add(s.clone());
                let _ = v;
            }
        }
        for f in &self.model.fns {
            add(f.domain.clone());
        }
        // A vector of each dim: a state that only an elementwise function
        // or a softmax uses (`z[k+1] = softmax(z[k])`) fits a scalar and a
        // vector alike, and must be declared rather than taken as a scalar.
        for d in 0..self.model.dims.len() as u32 {
            add(Shape::vector(crate::poly::Poly::dim(d)));
        }
        out
    }

    /// Whether every equation and the loss check, as far as shapes are
    /// known, with `v` of shape `c`; and `v`'s own equation gives `c` (or a
    /// scalar for every entry).
    fn shape_fits(&self, stmts: &[Stmt], v: u32, c: &Shape) -> bool {
        let name = self.model.vars[v as usize].name.clone();
        for s in stmts {
            match &s.kind {
                StmtKind::Equation { target, value } => {
                    let Some(&(Named::Var(u), _)) = self.names.get(&target.name.name) else {
                        continue;
                    };
                    let mut uses = u == v;
                    collect_names(value, &mut |n| uses |= n == name);
                    if !uses {
                        continue;
                    }
                    let indices = self.model.vars[u as usize].indices.clone();
                    let mut lw = Lowerer::new(self, indices, true);
                    match lw.expr(value) {
                        Err(_) => return false,
                        Ok((_, Some(got))) => {
                            let want = self.var_shapes[u as usize].as_ref();
                            if want.is_some_and(|w| *w != got && !got.is_scalar()) {
                                return false;
                            }
                        }
                        Ok((_, None)) => {}
                    }
                    if u == v && self.var_shapes[u as usize].as_ref().is_none_or(|w| w != c) {
                        return false;
                    }
                }
                StmtKind::Loss { value, .. } => {
                    let mut uses = false;
                    collect_names(value, &mut |n| uses |= n == name);
                    if !uses {
                        continue;
                    }
                    let mut lw = Lowerer::new(self, Vec::new(), true);
                    match lw.expr(value) {
                        Err(_) => return false,
                        Ok((_, Some(got))) if !got.is_scalar() => return false,
                        Ok(_) => {}
                    }
                }
                _ => {}
            }
        }
        true
    }

    /// Lowers every equation, init and the loss, now that shapes are known.
    fn lower_statements(&mut self, stmts: &[Stmt]) {
        for (k, s) in stmts.iter().enumerate() {
            match &s.kind {
                StmtKind::Equation { target, value } => {
                    let Some(&(Named::Var(v), _)) = self.names.get(&target.name.name) else {
                        continue;
                    };
                    if self.model.vars[v as usize].kind == VarKind::Input
                        || self.var_eq_stmt[v as usize].is_none()
                        || matches!(self.model.vars[v as usize].kind, VarKind::Defined(e) if e != usize::MAX)
                    {
                        continue;
                    }
                    if self.var_shapes[v as usize].is_none() {
                        // A mistake in the right side (an unknown index, a bad
                        // call) is the likely reason; lenient lowering finds it
                        // whatever the shapes.
                        let indices = self.model.vars[v as usize].indices.clone();
                        let mut lw = Lowerer::new(self, indices.clone(), true);
                        if let Err(d) = lw.expr(value) {
                            self.error(d);
                            self.failed.insert(v);
                            continue;
                        }
                        // Say why only if the right side is otherwise well
                        // formed. The variable is marked failed only after:
                        // marked before, its own `c[t-1]` on the right read as
                        // a use of a failed variable, whose error is dropped
                        // as a cascade (found by fuzzing: the equation then
                        // vanished from the model without a word).
                        let mut lw = Lowerer::new(self, indices, false);
                        let d = match lw.expr(value) {
                            Ok(_) => Diagnostic::new(
                                value.span,
                                format!("the shape of `{}` cannot be inferred", target.name.name),
                                "every term depends on a value whose shape is unknown",
                            )
                            .hint(format!("declare its shape, such as `state {} : ...`, or give the recurrence a term of known shape", self.text(target.span))),
                            Err(d) => d,
                        };
                        self.error(d);
                        self.failed.insert(v);
                        continue;
                    }
                    let indices = self.model.vars[v as usize].indices.clone();
                    let offsets: Vec<i64> = target
                        .indices
                        .iter()
                        .flatten()
                        .map(|it| match it {
                            IndexItem::Var { offset, .. } => *offset,
                            IndexItem::Const { .. } => 0,
                        })
                        .collect();
                    let mut lw = Lowerer::new(self, indices.clone(), false);
                    match lw.expr(value) {
                        Ok((root, shape)) => {
                            let rhs = lw.finish(root);
                            let shape = shape.unwrap_or_else(Shape::scalar);
                            // A declared state keeps its shape; its right
                            // side gives that shape, or a scalar for every
                            // entry.
                            let shape = if self.declared_states.contains(&v) {
                                let declared = self.model.vars[v as usize].shape.clone();
                                if shape != declared && !shape.is_scalar() {
                                    let names = |d: u32| self.model.dim_name(d);
                                    let msg = format!(
                                        "`{}` is declared a {}, but its equation gives a {}",
                                        target.name.name,
                                        declared.describe(&names),
                                        shape.describe(&names)
                                    );
                                    self.error(
                                        Diagnostic::new(value.span, msg, "wrong shape")
                                            .hint("make the declaration and the equation agree"),
                                    );
                                    self.failed.insert(v);
                                    continue;
                                }
                                declared
                            } else {
                                shape
                            };
                            let lhs = Ref {
                                var: v,
                                at: indices
                                    .iter()
                                    .zip(&offsets)
                                    .map(|(&i, &o)| Ix::Rel(i, o))
                                    .collect(),
                            };
                            let by: HashMap<u32, i64> = indices
                                .iter()
                                .zip(&offsets)
                                .map(|(&i, &o)| (i, -o))
                                .collect();
                            let norm = ir::shift(&rhs, &|i| by.get(&i).copied().unwrap_or(0));
                            let eq = self.model.equations.len();
                            self.model.vars[v as usize].kind = VarKind::Defined(eq);
                            self.model.vars[v as usize].shape = shape;
                            self.model.equations.push(Equation {
                                var: v,
                                lhs,
                                rhs,
                                norm,
                                span: s.span,
                                line: self.line(s.span),
                            });
                            self.items.push((k, Item::Equation(eq)));
                        }
                        Err(d) => {
                            self.failed.insert(v);
                            self.error(d);
                        }
                    }
                }
                StmtKind::Init { target, value } => self.lower_init(k, s, target, value),
                StmtKind::Loss { name, value } => {
                    if self.model.loss.is_some()
                        || self.names.get(&name.name).map(|n| n.1) != Some(name.span)
                    {
                        continue;
                    }
                    let mut lw = Lowerer::new(self, Vec::new(), false);
                    match lw.expr(value) {
                        Ok((root, shape)) => {
                            let value_ir = lw.finish(root);
                            if shape.is_some_and(|sh| !sh.is_scalar()) {
                                self.error(
                                    Diagnostic::new(value.span, "the loss is not a scalar", "not a scalar")
                                        .hint("apply a scalar function, such as a declared `fn ell : H -> scalar`"),
                                );
                                continue;
                            }
                            self.model.loss = Some(Loss {
                                name: name.name.clone(),
                                value: value_ir,
                                span: s.span,
                            });
                            self.items.push((k, Item::Loss));
                        }
                        Err(d) => self.error(d),
                    }
                }
                _ => {}
            }
        }
    }

    fn lower_init(&mut self, stmt_no: usize, s: &Stmt, target: &ast::Ref, value: &Expr) {
        let v = match self.names.get(&target.name.name) {
            Some(&(Named::Var(v), _)) if self.model.vars[v as usize].kind != VarKind::Input => v,
            Some(&(Named::Var(_), _)) => {
                self.error(
                    Diagnostic::new(target.name.span, format!("`{}` is an input", target.name.name), "not a variable")
                        .hint("inputs are given for every index value; `init` sets boundary values of defined variables"),
                );
                return;
            }
            _ => {
                self.unknown_var(&target.name, "set by `init`");
                return;
            }
        };
        let decl = self.model.vars[v as usize].clone();
        let items = target.indices.clone().unwrap_or_default();
        if items.len() != decl.indices.len() {
            self.error(self.arity_error(target, &decl));
            return;
        }
        let mut at = Vec::new();
        let mut bound = Vec::new();
        let mut any_fixed = false;
        for (pos, item) in items.iter().enumerate() {
            match item {
                IndexItem::Const { value, .. } => {
                    any_fixed = true;
                    at.push(Ix::Abs(*value));
                }
                IndexItem::Var { name, offset, span } => {
                    let want = decl.indices[pos];
                    if let Some(&(Named::Dim(d), _)) = self.names.get(&name.name) {
                        // `init b[T+1] = 0`: past the end of a range `1..T`.
                        let end = self.model.range_end(want);
                        match end {
                            Some((e, c)) if e == d => {
                                any_fixed = true;
                                at.push(Ix::End(want, offset - c));
                                continue;
                            }
                            _ => {
                                let index = self.model.symbols.index_name(want).to_owned();
                                self.error(
                                    Diagnostic::new(
                                        *span,
                                        format!("`{}` is not the end of the range of `{index}`", self.text(*span)),
                                        "not a position of this index",
                                    )
                                    .hint(format!(
                                        "a position past the end is written with the dim the range ends at: declare `index {index} in 1..{}` and write `{}+1`",
                                        name.name, name.name
                                    )),
                                );
                                return;
                            }
                        }
                    }
                    match self.names.get(&name.name) {
                        Some(&(Named::Index(i), _)) if i == want && *offset == 0 => {
                            at.push(Ix::Rel(i, 0));
                            bound.push(i);
                        }
                        Some(&(Named::Index(i), _)) if i == want => {
                            self.error(
                                Diagnostic::new(*span, "an index offset in `init`", "no offset here")
                                    .hint("`init` fixes some positions to values and leaves the others free, such as `init h[i, 0] = 0`"),
                            );
                            return;
                        }
                        Some(&(Named::Index(_), _)) => {
                            self.error(self.position_error(*span, &name.name, &decl, pos));
                            return;
                        }
                        _ => {
                            self.unknown_index(name);
                            return;
                        }
                    }
                }
            }
        }
        if !any_fixed && !decl.indices.is_empty() {
            self.error(
                Diagnostic::new(
                    target.span,
                    "`init` sets no boundary",
                    "every position is free",
                )
                .hint(format!(
                    "fix at least one position to a value, such as `init {}[0] = 0`",
                    decl.name
                )),
            );
            return;
        }
        let mut lw = Lowerer::new(self, bound, false);
        match lw.expr(value) {
            Ok((root, shape)) => {
                let value_ir = lw.finish(root);
                if let Some(sh) = shape {
                    if !sh.is_scalar() && sh != decl.shape {
                        let names = |d: u32| self.model.dim_name(d);
                        let msg = format!(
                            "`init` gives `{}` a {} but it is a {}",
                            decl.name,
                            sh.describe(&names),
                            decl.shape.describe(&names)
                        );
                        self.error(
                            Diagnostic::new(value.span, msg, "wrong shape")
                                .hint("a boundary value has the variable's shape, or is a scalar applied to every entry"),
                        );
                        return;
                    }
                }
                let n = self.model.inits.len();
                self.model.inits.push(Init {
                    target: Ref {
                        var: v,
                        at: at.into(),
                    },
                    value: value_ir,
                    span: s.span,
                });
                self.items.push((stmt_no, Item::Init(n)));
            }
            Err(d) => self.error(d),
        }
    }

    fn arity_error(&self, r: &ast::Ref, decl: &VarDecl) -> Diagnostic {
        let n = r.indices.as_ref().map_or(0, Vec::len);
        let want = decl.indices.len();
        let form = if want == 0 {
            decl.name.clone()
        } else {
            format!(
                "{}[{}]",
                decl.name,
                decl.indices
                    .iter()
                    .map(|&i| self.model.symbols.index_name(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let msg = match (want, n) {
            (0, _) => format!("`{}` has no index", decl.name),
            (w, 0) => format!(
                "`{}` needs {} index{}",
                decl.name,
                w,
                if w == 1 { "" } else { "es" }
            ),
            (w, _) => format!(
                "`{}` takes {} index{}, not {}",
                decl.name,
                w,
                if w == 1 { "" } else { "es" },
                n
            ),
        };
        Diagnostic::new(r.span, msg, "wrong number of indices")
            .related(decl.span, format!("declared as `{form}` here"))
            .hint(format!("write it as `{form}`, with offsets where needed"))
    }

    fn position_error(&self, span: Span, name: &str, decl: &VarDecl, pos: usize) -> Diagnostic {
        let want = self.model.symbols.index_name(decl.indices[pos]);
        Diagnostic::new(
            span,
            format!(
                "position {} of `{}` is index `{want}`, not `{name}`",
                pos + 1,
                decl.name
            ),
            format!("expected `{want}` here"),
        )
        .related(decl.span, "declared here")
        .hint(format!(
            "write `{want}` (with an offset if needed) in this position"
        ))
    }

    fn unknown_var(&mut self, name: &ast::Ident, role: &str) {
        let d = match self.names.get(&name.name) {
            Some(&(Named::Var(v), prev)) if self.model.vars[v as usize].kind == VarKind::Input => {
                Diagnostic::new(
                    name.span,
                    format!("`{}` is an input: it is given, not computed", name.name),
                    role.to_owned(),
                )
                .related(prev, "declared as an input here")
                .hint("this names a variable that an equation defines")
            }
            Some(&(other, prev)) => Diagnostic::new(
                name.span,
                format!("`{}` is {}, not a variable", name.name, other.describe()),
                role.to_owned(),
            )
            .related(prev, "declared here")
            .hint(match other {
                // An assumption fixes a value: an input's can be.
                Named::Param(_) if role == "named by an assumption" => format!(
                    "an assumption fixes a value that an equation defines (`h[t] = ...`) or an input; a parameter is learned, not computed: to fix the value of `{}`, declare it as an input instead",
                    name.name
                ),
                _ => "only a variable that an equation defines (`h[t] = ...`) can be named here".to_owned(),
            }),
            None => {
                let vars: Vec<String> = self.model.vars.iter().map(|d| d.name.clone()).collect();
                let hint = match closest(&name.name, vars.iter().map(String::as_str)) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "define it with an equation such as `v[t] = ...`".to_owned(),
                };
                Diagnostic::new(
                    name.span,
                    format!("unknown variable `{}`", name.name),
                    "not defined",
                )
                .hint(hint)
            }
        };
        self.error(d);
    }

    /// Boundary values sit outside the values an equation computes: an
    /// `init` inside the range would make the equation wrong at that one
    /// value. Values read past the end of a range that no `init` sets are
    /// recorded, for the key to name them.
    fn check_boundaries(&mut self) {
        let model = &self.model;
        let mut errors = Vec::new();
        for init in &model.inits {
            let v = init.target.var;
            let Some(domain) = model.domain(v) else {
                continue;
            };
            let decl = &model.vars[v as usize];
            let outside = init.target.at.iter().enumerate().any(|(p, ix)| {
                let (lower, upper) = domain.get(p).copied().unwrap_or((0, 0));
                match *ix {
                    Ix::Abs(a) => model
                        .range_start(decl.indices[p])
                        .is_none_or(|lo| a < lo.saturating_add(lower)),
                    Ix::End(_, k) => k > upper,
                    Ix::Rel(..) => false,
                }
            });
            if !outside {
                let eq = model.equation_of(v).map(|e| e.span);
                let mut d = Diagnostic::new(
                    init.span,
                    format!(
                        "`init` sets `{}`, a value the equation of `{}` computes",
                        model.symbols.ref_text(&init.target),
                        decl.name
                    ),
                    "inside the range",
                )
                .hint("a boundary value comes before the first value the equation computes (such as `h[0]` for a range starting at 1) or past its last (`h[T+1]`)");
                if let Some(span) = eq {
                    d = d.related(span, "the equation that computes it");
                }
                errors.push(d);
            }
        }
        // A value read past the end of a range that no `init` sets is
        // given, as a state before its first step is; the key says so.
        let mut past: Vec<(Ref, u32, i64)> = Vec::new();
        let mut written_past: Vec<Ref> = Vec::new();
        // Boundary values' own expressions only for steps written out.
        let exprs = model
            .expressions()
            .map(|e| (e, false))
            .chain(model.inits.iter().map(|i| (&i.value, true)));
        for (rhs, in_init) in exprs {
            for n in rhs.as_ref() {
                let Node::Leaf(Leaf::Var(r)) = n else {
                    continue;
                };
                let Some(domain) = model.domain(r.var) else {
                    continue;
                };
                for (p, ix) in r.at.iter().enumerate() {
                    let d = domain.get(p).map_or(0, |x| x.1);
                    // A step past the last one written out (`h[T+5]`) that
                    // no `init` sets: almost surely a slip, where the same
                    // value read by a recurrence (`b[t+1]` at `t = T`) is a
                    // given boundary value.
                    if matches!(*ix, Ix::End(_, o) if o > d) {
                        let step = model.step_of(r);
                        let set = model
                            .inits
                            .iter()
                            .any(|i| i.target.var == r.var && model.step_of(&i.target) == step);
                        if !set && !written_past.contains(&step) {
                            written_past.push(step);
                        }
                        continue;
                    }
                    let Ix::Rel(i, o) = *ix else { continue };
                    if in_init {
                        continue;
                    }
                    for k in d.saturating_add(1)..=o {
                        let set = model.inits.iter().any(|init| {
                            init.target.var == r.var
                                && matches!(init.target.at.get(p), Some(Ix::End(_, e)) if *e == k)
                        });
                        if !set {
                            past.push((r.clone(), i, k));
                        }
                    }
                }
            }
        }
        let mut given = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (r, i, k) in past {
            let mut at = model.plain_ref(r.var);
            let pos = model.vars[r.var as usize]
                .indices
                .iter()
                .position(|&j| j == i)
                .unwrap_or(0);
            if let Some(slot) = std::sync::Arc::make_mut(&mut at.at).get_mut(pos) {
                *slot = Ix::End(i, k);
            }
            if seen.insert(at.clone()) {
                given.push(at);
            }
        }
        for step in &written_past {
            let name = &self.model.vars[step.var as usize].name;
            errors.push(
                Diagnostic::new(
                    self.step_span(step),
                    format!(
                        "`{}` is past the last step the equation of `{name}` computes, and no `init` sets it",
                        self.model.symbols.ref_text(step)
                    ),
                    "past the end of the range",
                )
                .hint(format!("the last step is written with the dim the range ends at (such as `{name}[T]`); a value past it is given only by an `init`")),
            );
        }
        self.model.given_past_end = given;
        for d in errors {
            self.error(d);
        }
    }

    /// Where a fixed step is written: the reference in the first
    /// statement that uses it, or that statement.
    fn step_span(&self, r: &Ref) -> Span {
        let model = &self.model;
        let uses = |e: &egg::RecExpr<Node>| {
            e.as_ref()
                .iter()
                .any(|n| matches!(n, Node::Leaf(Leaf::Var(u)) if model.step_of(u) == *r))
        };
        let stmt = model
            .equations
            .iter()
            .find(|e| uses(&e.rhs))
            .map(|e| e.span)
            .or_else(|| {
                model
                    .loss
                    .as_ref()
                    .filter(|l| uses(&l.value))
                    .map(|l| l.span)
            })
            .or_else(|| model.inits.iter().find(|i| uses(&i.value)).map(|i| i.span))
            .unwrap_or_default();
        // The reference itself, where the statement writes it as the
        // key prints it (spaces aside).
        let want: String = model.symbols.ref_text(r).split_whitespace().collect();
        let text = self.source.slice(stmt);
        let name = &model.vars[r.var as usize].name;
        let mut from = 0;
        while let Some(k) = text[from..].find(name.as_str()).map(|k| k + from) {
            from = k + name.len();
            let Some(close) = text[k..].find(']').map(|c| c + k + 1) else {
                break;
            };
            let written: String = text[k..close].split_whitespace().collect();
            let starts_name =
                k == 0 || !text[..k].ends_with(|c: char| c.is_alphanumeric() || c == '_');
            if starts_name && written == want {
                return Span::new(stmt.start + k, stmt.start + close);
            }
        }
        stmt
    }

    /// Fixed steps (`h[T]`, `h[1]`) get adjoint equations of their own:
    /// each must be a value the equation computes, and two of them must be
    /// different values, for every length of the range deriv checks its
    /// results on (2 and more). What they need of a dim beyond 1 is kept
    /// for the key to state (`T >= 2`).
    fn check_fixed_steps(&mut self) {
        let model = &self.model;
        let mut errors = Vec::new();
        let mut need: Vec<(u32, i64)> = Vec::new();
        for v in 0..model.vars.len() as u32 {
            let steps = model.fixed_steps(v);
            if steps.is_empty() {
                continue;
            }
            let decl = &model.vars[v as usize];
            let domain = model.domain(v).unwrap_or_default();
            let text = |r: &Ref| model.symbols.ref_text(r);
            // The range of position `p`: its start, and the dim it ends at
            // with the constant beside it.
            let range = |p: usize| -> (Option<i64>, Option<(u32, i64)>) {
                let i = decl.indices[p];
                let lo = self.model.range_start(i);
                (lo, self.model.range_end(i))
            };
            for step in &steps {
                for (p, ix) in step.at.iter().enumerate() {
                    let (lower, upper) = domain.get(p).copied().unwrap_or((0, 0));
                    let (lo, end) = range(p);
                    let least = match (*ix, lo, end) {
                        (Ix::Rel(..), _, _) => continue,
                        (Ix::End(_, o), Some(lo), Some((_, c))) => lo + lower - c - o,
                        (Ix::Abs(a), Some(lo), Some((_, c))) if a >= lo + lower => a - c - upper,
                        (Ix::Abs(a), Some(lo), None) if a == lo + lower => 1,
                        _ => i64::MAX,
                    };
                    let Some((dim, _)) = end else {
                        if least > 1 {
                            errors.push(
                                Diagnostic::new(
                                    self.step_span(step),
                                    format!("`{}` is a fixed step of a range that does not end at one dim", text(step)),
                                    "uses this fixed step",
                                )
                                .hint("a fixed step inside a range is its first value, or is counted from a range `lo..T` that ends at a dim"),
                            );
                        }
                        continue;
                    };
                    if least > 2 {
                        errors.push(
                            Diagnostic::new(
                                self.step_span(step),
                                format!(
                                    "`{}` is a value the equation of `{}` computes only when {} >= {least}",
                                    text(step),
                                    decl.name,
                                    model.symbols.dim(dim)
                                ),
                                "uses this fixed step",
                            )
                            .hint("deriv derives adjoints of fixed steps that exist whenever the range has at least 2 values (such as `h[1]`, `h[2]`, `h[T]`, `h[T-1]`)"),
                        );
                    } else if least == 2 {
                        need.push((dim, 2));
                    }
                }
            }
            for (k, a) in steps.iter().enumerate() {
                for b in &steps[k + 1..] {
                    let same_positions =
                        a.at.iter()
                            .zip(b.at.iter())
                            .all(|(x, y)| matches!(x, Ix::Rel(..)) == matches!(y, Ix::Rel(..)));
                    let mut distinct = false;
                    let mut least = i64::MAX;
                    for (p, (x, y)) in a.at.iter().zip(b.at.iter()).enumerate() {
                        match (*x, *y) {
                            (Ix::End(_, o), Ix::End(_, q)) if o != q => distinct = true,
                            (Ix::Abs(m), Ix::Abs(n)) if m != n => distinct = true,
                            (Ix::Abs(m), Ix::End(_, o)) | (Ix::End(_, o), Ix::Abs(m)) => {
                                if let (_, Some((_, c))) = range(p) {
                                    // They meet when the dim is m - c - o.
                                    least = least.min(m - c - o + 1);
                                }
                            }
                            _ => {}
                        }
                    }
                    if same_positions && !distinct && least <= 2 {
                        distinct = true;
                        if least == 2 {
                            let dim = a.at.iter().enumerate().find_map(|(p, x)| match x {
                                Ix::End(..) => range(p).1.map(|e| e.0),
                                _ => None,
                            });
                            if let Some(d) = dim {
                                need.push((d, 2));
                            }
                        }
                    }
                    if !distinct {
                        errors.push(
                            Diagnostic::new(
                                self.step_span(b),
                                format!(
                                    "the fixed steps `{}` and `{}` can be the same value, and deriv cannot write their adjoints yet",
                                    text(a),
                                    text(b)
                                ),
                                "uses this fixed step",
                            )
                            .related(self.step_span(a), "uses the other")
                            .hint("use fixed steps that are always different values, such as `h[1]` and `h[T]`, or the first and the last step of one position"),
                        );
                    }
                }
            }
        }
        need.sort_unstable();
        need.dedup_by_key(|x| x.0);
        self.model.steps_need = need;
        for d in errors {
            self.error(d);
        }
    }

    /// A cycle among values at one index value cannot be computed.
    fn check_cycles(&mut self) {
        let n = self.model.vars.len();
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
        for eq in &self.model.equations {
            for node in eq.norm.as_ref() {
                if let Node::Leaf(Leaf::Var(r)) = node {
                    let same_step = r.at.iter().all(|ix| matches!(ix, Ix::Rel(_, 0)));
                    if same_step && self.model.vars[r.var as usize].kind != VarKind::Input {
                        edges[eq.var as usize].push(r.var as usize);
                    }
                }
            }
        }
        for comp in sccs(&edges) {
            let looped = comp.len() > 1 || comp.first().is_some_and(|&v| edges[v].contains(&v));
            if !looped {
                continue;
            }
            let names: Vec<String> = comp
                .iter()
                .map(|&v| {
                    format!(
                        "`{}`",
                        self.model.symbols.ref_text(&self.model.plain_ref(v as u32))
                    )
                })
                .collect();
            let first = comp[0];
            let Some(eq) = self.model.equation_of(first as u32) else {
                continue;
            };
            let mut d = if comp.len() == 1 {
                Diagnostic::new(
                    eq.span,
                    format!(
                        "{} is defined in terms of itself at the same index value",
                        names[0]
                    ),
                    "depends on itself",
                )
            } else {
                Diagnostic::new(
                    eq.span,
                    format!(
                        "{} depend on each other at the same index value",
                        names.join(" and ")
                    ),
                    "part of the cycle",
                )
            };
            for &v in &comp[1..] {
                if let Some(e) = self.model.equation_of(v as u32) {
                    d = d.related(e.span, "also part of the cycle");
                }
            }
            d = d.hint("a value can only use earlier values of the cycle, such as `h[t-1]`");
            self.error(d);
        }
    }
}

/// Calls `f` with every name referenced in `e` (references only).
fn collect_names(e: &Expr, f: &mut dyn FnMut(&str)) {
    e.visit(&mut |x| {
        if let ExprKind::Ref(r) = &x.kind {
            f(&r.name.name);
        }
    });
}

/// Reads expressions against a checked model, as on the right of an
/// `expect`: indices given as bound, adjoints allowed. Made once for many
/// expressions (the names of a large model are gathered once).
pub struct Reader {
    ck: Checker,
}

impl Reader {
    /// A reader for `model`.
    pub fn new(model: &Model) -> Reader {
        Reader {
            ck: Checker::from_model(model, Source::new("<expression>", String::new())),
        }
    }

    /// Parses and lowers `source`'s text, with `bound` indices bound.
    pub fn read(
        &mut self,
        source: &Source,
        bound: &[u32],
    ) -> Result<(egg::RecExpr<Node>, Shape), Diagnostics> {
        let expr = crate::syntax::parse_expr(&source.text, &crate::Limits::default())?;
        self.ck.source = source.clone();
        let mut lw = Lowerer::new(&self.ck, bound.to_vec(), false);
        lw.allow_bar = true;
        let (root, shape) = lw.expr(&expr)?;
        Ok((lw.finish(root), shape.unwrap_or_else(Shape::scalar)))
    }
}

/// Parses and lowers one expression against a checked model, with the
/// given indices bound and adjoints allowed, as on the right of an `expect`.
pub fn expression(
    model: &Model,
    source: &Source,
    bound: &[u32],
) -> Result<(egg::RecExpr<Node>, Shape), Diagnostics> {
    Reader::new(model).read(source, bound)
}

impl Checker {
    /// A checker that knows the names of a finished model.
    fn from_model(model: &Model, source: Source) -> Checker {
        let mut names = HashMap::default();
        for (k, d) in model.dims.iter().enumerate() {
            names.insert(d.name.clone(), (Named::Dim(k as u32), d.span));
        }
        for (k, d) in model.indices.iter().enumerate() {
            names.insert(d.name.clone(), (Named::Index(k as u32), d.span));
        }
        for (k, d) in model.params.iter().enumerate() {
            names.insert(d.name.clone(), (Named::Param(k as u32), d.span));
        }
        for (k, d) in model.vars.iter().enumerate() {
            names.insert(d.name.clone(), (Named::Var(k as u32), d.span));
        }
        for (k, d) in model.fns.iter().enumerate() {
            names.insert(d.name.clone(), (Named::Fn(k as u32), d.span));
        }
        if let Some(l) = &model.loss {
            names.insert(l.name.clone(), (Named::Loss, l.span));
        }
        for (k, r) in model.requests.iter().enumerate() {
            if let RequestKind::Jacobian { name, .. } = &r.kind {
                names.insert(name.clone(), (Named::Jacobian(k), r.span));
            }
        }
        Checker {
            source,
            model: model.clone(),
            names,
            errors: Vec::new(),
            var_shapes: model.vars.iter().map(|v| Some(v.shape.clone())).collect(),
            var_eq_stmt: Vec::new(),
            items: Vec::new(),
            failed: Default::default(),
            declared_states: Vec::new(),
        }
    }
}
