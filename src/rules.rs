//! Rewrite rules, by topic: `algebra` (identities that simplify),
//! `calculus` (the chain rule as vector-Jacobian products), `activation`
//! (derivatives of the elementwise functions). Conditions are small named
//! helpers; custom appliers appear only where a pattern cannot say it
//! (the right formula depends on the operands' shapes).

pub mod activation;
pub mod algebra;
pub mod calculus;
pub mod det;
pub mod jacobian;
pub mod matpoly;
pub mod matrix;
pub mod ring;

use crate::ir::analysis::{constant, is_scalar, Graph, Meta};
use crate::ir::Node;
use egg::{
    Applier, Condition, ENodeOrVar, FromOp, Id, Language, Pattern, PatternAst, SearchMatches,
    Searcher, Subst, Symbol, Var,
};
use std::sync::{LazyLock, OnceLock};

/// A rewrite over the IR.
pub type Rewrite = egg::Rewrite<Node, Meta>;

/// A pattern variable by name (a literal of this crate, such as `"?a"`).
pub fn var(name: &str) -> Var {
    name.parse()
        .unwrap_or_else(|_| invalid_rule(name, "not a pattern variable"))
}

/// `?v` is a scalar.
pub fn is_scalar_var(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| is_scalar(eg, s[v])
}

/// `?y` does not depend on the leaf `?x`.
pub fn is_independent(y: &str, x: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let (y, x) = (var(y), var(x));
    move |eg, _, s| crate::ir::analysis::independent(eg, s[y], s[x])
}

/// The classes of `vars` do not depend on the index that the class `?i`
/// names (`(sum ?i ?e)` binds it): a seed and a leaf outside the sum.
pub fn free_of_bound(vars: &'static [&'static str]) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let i = var("?i");
    let vs: Vec<Var> = vars.iter().map(|v| var(v)).collect();
    move |eg, _, s| {
        let index = eg[s[i]].nodes.iter().find_map(|n| match n {
            Node::Leaf(crate::ir::Leaf::Index(k)) => Some(*k),
            _ => None,
        });
        index.is_some_and(|k| {
            vs.iter()
                .all(|&v| crate::ir::analysis::free_of_index(eg, s[v], k))
        })
    }
}

/// Some operand depends on `?x` (a derivative or Jacobian with respect to
/// `?x` is not simply zero).
pub fn depends(operands: &'static [&'static str]) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let x = var("?x");
    let ops: Vec<Var> = operands.iter().map(|v| var(v)).collect();
    move |eg, _, s| {
        ops.iter()
            .any(|&v| !crate::ir::analysis::independent(eg, s[v], s[x]))
    }
}

/// A product by `?a` distributes over `?b ± ?c`: `?a` is a scalar, or
/// `?b` and `?c` have one shape. (`A * (s + v)` broadcasts `s` to a vector
/// of ones, while `A * s` scales `A`: the two differ.)
pub fn distributes(a: &str, b: &str, c: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let (a, b, c) = (var(a), var(b), var(c));
    move |eg, _, s| is_scalar(eg, s[a]) || eg[s[b]].data.shape == eg[s[c]].data.shape
}

/// `?v` is a nonzero constant.
pub fn is_nonzero_const(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| constant(eg, s[v]).is_some_and(|c| !c.is_zero())
}

/// Whether two classes may be merged: they have one shape. Every rule
/// merges through this check, so no rule can put a scalar in the class of a
/// vector (`(s + v) - v` is the vector `s * ones`, not the scalar `s`;
/// `v - v` is the zero vector `0 * v`, not the scalar `0`) however its
/// conditions were written.
pub fn may_merge(eg: &Graph, a: Id, b: Id) -> bool {
    eg[a].data.shape == eg[b].data.shape
}

/// `?v` is a constant zero (of any shape).
pub fn is_zero_var(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| crate::ir::analysis::is_zero(eg, s[v])
}

/// Whether a class is settled: a zero (of any shape) or a scalar constant.
/// Such a class already holds its simplest form (`0`, a number, a
/// polynomial in dims), so no rule rewrites inside it: rewriting the many
/// forms a zero collects (`0 * x`, `x - x`, `0 .* y`, ...) would only pair
/// them up without end.
pub fn settled(eg: &Graph, id: Id) -> bool {
    match &eg[id].data.konst {
        Some(p) => p.is_zero() || is_scalar(eg, id),
        None => false,
    }
}

/// Merges the class a rule built with the class it matched, when
/// [`may_merge`] allows it.
fn merge_built(eg: &mut Graph, eclass: Id, id: Id) -> Vec<Id> {
    if may_merge(eg, eclass, id) && eg.union(eclass, id) {
        vec![eclass]
    } else {
        Vec::new()
    }
}

/// A condition on a match.
pub type Cond = Box<dyn Condition<Node, Meta> + Send + Sync>;

/// The applier of a pattern rule: the conditions must hold, and the
/// instantiated right-hand side merges only through [`may_merge`].
pub struct Guarded {
    /// The right-hand side, only ever instantiated (never searched, so
    /// never compiled).
    rhs: PatternAst<Node>,
    conds: Vec<Cond>,
}

impl Applier<Node, Meta> for Guarded {
    fn apply_one(
        &self,
        eg: &mut Graph,
        eclass: Id,
        subst: &Subst,
        _ast: Option<&PatternAst<Node>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        if settled(eg, eclass) || !self.conds.iter().all(|c| c.check(eg, eclass, subst)) {
            return Vec::new();
        }
        let id = eg.add_instantiation(&self.rhs, subst);
        merge_built(eg, eclass, id)
    }

    fn vars(&self) -> Vec<Var> {
        vars_of(&self.rhs)
    }
}

/// Builds a pattern rule from a name, two patterns and its conditions.
pub fn guarded(name: &str, lhs: &str, rhs: &str, conds: Vec<Cond>) -> Rewrite {
    let rhs = pattern_ast(name, rhs);
    match Rewrite::new(name, pattern(name, lhs), Guarded { rhs, conds }) {
        Ok(r) => r,
        Err(e) => invalid_rule(name, &e),
    }
}

/// A pattern rule: `rule!("name"; "lhs" => "rhs" if cond ...)`, merged
/// through [`may_merge`].
macro_rules! rule {
    ($name:literal; $lhs:literal => $rhs:literal $(if $cond:expr)*) => {
        $crate::rules::guarded($name, $lhs, $rhs, vec![$(Box::new($cond) as $crate::rules::Cond),*])
    };
}
pub(crate) use rule;

/// An applier that builds its right-hand side in code: the closure adds
/// nodes and returns the class to merge with the match, or `None` to skip.
/// The conditions of its row must hold first; the merge goes through
/// [`may_merge`].
pub struct Build<F> {
    build: F,
    conds: Vec<Cond>,
}

impl<F> Applier<Node, Meta> for Build<F>
where
    F: Fn(&mut Graph, &Subst) -> Option<Id>,
{
    fn apply_one(
        &self,
        eg: &mut Graph,
        eclass: Id,
        subst: &Subst,
        _ast: Option<&PatternAst<Node>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        if settled(eg, eclass) || !self.conds.iter().all(|c| c.check(eg, eclass, subst)) {
            return Vec::new();
        }
        match (self.build)(eg, subst) {
            Some(id) => merge_built(eg, eclass, id),
            None => Vec::new(),
        }
    }
}

/// Builds a rule from a name, a searcher pattern, the conditions under
/// which it is sound, and a code applier.
pub fn built_with<F>(name: &str, searcher: &str, conds: Vec<Cond>, f: F) -> Rewrite
where
    F: Fn(&mut Graph, &Subst) -> Option<Id> + Send + Sync + 'static,
{
    match Rewrite::new(name, pattern(name, searcher), Build { build: f, conds }) {
        Ok(r) => r,
        Err(e) => invalid_rule(name, &e),
    }
}

/// Builds a rule from a name, a searcher pattern and a code applier that
/// holds whenever it matches.
pub fn built<F>(name: &str, searcher: &str, f: F) -> Rewrite
where
    F: Fn(&mut Graph, &Subst) -> Option<Id> + Send + Sync + 'static,
{
    built_with(name, searcher, Vec::new(), f)
}

/// A rule built in code, in row form: `built_row!("name"; "lhs" => applier if
/// cond ...)`, with the conditions it is sound under beside it, as in
/// [`rule!`].
macro_rules! built_row {
    ($name:literal; $lhs:literal => $f:expr $(, if $cond:expr)*) => {
        $crate::rules::built_with($name, $lhs, vec![$(Box::new($cond) as $crate::rules::Cond),*], $f)
    };
}
pub(crate) use built_row;

/// [`built`], where a condition on the match holds.
pub fn built_if<C, F>(name: &str, searcher: &str, cond: C, f: F) -> Rewrite
where
    C: Fn(&mut Graph, Id, &Subst) -> bool + Send + Sync + 'static,
    F: Fn(&mut Graph, &Subst) -> Option<Id> + Send + Sync + 'static,
{
    built_with(name, searcher, vec![Box::new(cond) as Cond], f)
}

/// `?v` is a square matrix (not a scalar).
pub fn is_square_matrix(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| !is_scalar(eg, s[v]) && crate::ir::analysis::shape_of(eg, s[v]).is_square()
}

/// `?v` is not a scalar.
pub fn is_matrix(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| !is_scalar(eg, s[v])
}

/// The pattern AST of rule `name`, read from its s-expression. The rule
/// tables are read once per process, and this reader does it without the
/// intermediate s-expression tree (a tenth of a small derivation's work);
/// a test checks that it reads every rule as egg's own parser does.
fn pattern_ast(name: &str, text: &str) -> PatternAst<Node> {
    let mut ast = PatternAst::default();
    let mut rest = text;
    // Rule texts are ASCII (a test reads every rule as egg does), so the
    // tokens split on ASCII bytes.
    let mut tokens = std::iter::from_fn(|| {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        let end = match rest.as_bytes().first()? {
            b'(' | b')' => 1,
            _ => rest
                .bytes()
                .position(|b| b == b'(' || b == b')' || b.is_ascii_whitespace())
                .unwrap_or(rest.len()),
        };
        let (token, after) = rest.split_at(end);
        rest = after;
        Some(token)
    });
    let mut stack: Vec<(&str, Vec<Id>)> = Vec::new();
    let mut root = None;
    let node = |ast: &mut PatternAst<Node>, op: &str, kids: Vec<Id>| -> Id {
        let node = if op.starts_with('?') {
            if !kids.is_empty() {
                invalid_rule(name, &format!("the variable `{op}` has operands"));
            }
            ENodeOrVar::Var(var(op))
        } else if let Some(n) = small_int(op).filter(|_| kids.is_empty()) {
            // The common constants (`0`, `1`, `-1`, `2`), without trying
            // every operator's name first.
            ENodeOrVar::ENode(Node::Num(crate::num::Rational::int(n)))
        } else {
            match Node::from_op(op, kids) {
                Ok(n) => ENodeOrVar::ENode(n),
                Err(e) => invalid_rule(name, &e.to_string()),
            }
        };
        ast.add(node)
    };
    while let Some(t) = tokens.next() {
        let id = match t {
            "(" => match tokens.next() {
                Some(op) if op != "(" && op != ")" => {
                    stack.push((op, Vec::new()));
                    continue;
                }
                _ => invalid_rule(name, "an operator must follow `(`"),
            },
            ")" => match stack.pop() {
                Some((op, kids)) => node(&mut ast, op, kids),
                None => invalid_rule(name, "unbalanced `)`"),
            },
            op => node(&mut ast, op, Vec::new()),
        };
        match stack.last_mut() {
            Some((_, kids)) => kids.push(id),
            None if root.is_none() => root = Some(id),
            None => invalid_rule(name, "more than one expression"),
        }
    }
    if root.is_none() || !stack.is_empty() {
        invalid_rule(name, "not one whole expression");
    }
    ast
}

/// The integer a token writes in decimal digits, with an optional minus
/// sign, if it fits an `i64`.
fn small_int(token: &str) -> Option<i64> {
    let digits = token.strip_prefix('-').unwrap_or(token);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

/// The searcher pattern of rule `name`.
fn pattern(name: &str, text: &str) -> RuleSearcher {
    RuleSearcher::new(pattern_ast(name, text))
}

/// A rule's searcher. It looks first whether the graph holds every
/// operator of its pattern (a pattern cannot match a graph without one of
/// them), which most rules of a set fail for a given graph: the chain rule
/// for `det` in a graph without a determinant. Only then does it search,
/// compiled on that first search: compiling a pattern costs more than
/// searching a small graph with it, and some rules never meet their
/// operators in a given script.
pub struct RuleSearcher {
    ast: PatternAst<Node>,
    vars: Vec<Var>,
    /// The operator at the root, unless the root is a variable.
    root: Option<std::mem::Discriminant<Node>>,
    /// The operators of the pattern, each once.
    ops: Vec<std::mem::Discriminant<Node>>,
    /// The operator at each operand of the root, where the pattern names
    /// one (not a variable).
    operands: Vec<Option<std::mem::Discriminant<Node>>>,
    compiled: OnceLock<Pattern<Node>>,
}

impl RuleSearcher {
    fn new(ast: PatternAst<Node>) -> RuleSearcher {
        let mut ops = Vec::new();
        for n in ast.as_ref().iter().rev() {
            if let ENodeOrVar::ENode(e) = n {
                let d = e.discriminant();
                if !ops.contains(&d) {
                    ops.push(d);
                }
            }
        }
        let nodes = ast.as_ref();
        let (root, operands) = match nodes.last() {
            Some(ENodeOrVar::ENode(root)) => (
                Some(root.discriminant()),
                root.children()
                    .iter()
                    .map(|&c| match &nodes[usize::from(c)] {
                        ENodeOrVar::ENode(e) => Some(e.discriminant()),
                        ENodeOrVar::Var(_) => None,
                    })
                    .collect(),
            ),
            _ => (None, Vec::new()),
        };
        RuleSearcher {
            vars: vars_of(&ast),
            ast,
            root,
            ops,
            operands,
            compiled: OnceLock::new(),
        }
    }

    /// Whether the pattern may match at class `id`, whose nodes include
    /// the root's operator: one of them has operands whose classes hold the
    /// operators the pattern names there. (Only then is the compiled
    /// pattern run, which costs far more.)
    fn may_match(&self, eg: &Graph, root: std::mem::Discriminant<Node>, id: Id) -> bool {
        eg[id].nodes.iter().any(|n| {
            n.discriminant() == root
                && n.children().len() == self.operands.len()
                && n.children().iter().zip(&self.operands).all(|(&c, want)| {
                    want.is_none_or(|d| eg[c].nodes.iter().any(|m| m.discriminant() == d))
                })
        })
    }

    fn pattern(&self) -> &Pattern<Node> {
        self.compiled.get_or_init(|| Pattern::new(self.ast.clone()))
    }
}

impl Searcher<Node, Meta> for RuleSearcher {
    fn search_with_limit(&self, eg: &Graph, limit: usize) -> Vec<SearchMatches<'_, Node>> {
        let absent = |d: &std::mem::Discriminant<Node>| {
            eg.classes_for_op(d)
                .is_none_or(|classes| classes.len() == 0)
        };
        if self.ops.iter().any(absent) {
            return Vec::new();
        }
        let pattern = self.pattern();
        let Some(root) = self.root else {
            return pattern.search_with_limit(eg, limit);
        };
        // As egg's own search: the classes that hold the root's operator,
        // in egg's order, until `limit` matches; but only where the
        // operands can match.
        let mut left = limit;
        let mut found = Vec::new();
        for id in eg.classes_for_op(&root).into_iter().flatten() {
            if left == 0 {
                break;
            }
            if !self.may_match(eg, root, id) {
                continue;
            }
            if let Some(m) = pattern.search_eclass_with_limit(eg, id, left) {
                left = left.saturating_sub(m.substs.len());
                found.push(m);
            }
        }
        found
    }

    fn search_eclass_with_limit(
        &self,
        eg: &Graph,
        eclass: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, Node>> {
        self.pattern().search_eclass_with_limit(eg, eclass, limit)
    }

    fn get_pattern_ast(&self) -> Option<&PatternAst<Node>> {
        Some(&self.ast)
    }

    fn vars(&self) -> Vec<Var> {
        self.vars.clone()
    }
}

/// The distinct variables of a pattern, in order of appearance.
fn vars_of(ast: &PatternAst<Node>) -> Vec<Var> {
    let mut vars = Vec::new();
    for n in ast.as_ref() {
        if let ENodeOrVar::Var(v) = n {
            if !vars.contains(v) {
                vars.push(*v);
            }
        }
    }
    vars
}

/// The rule tables are literals of this crate; a malformed one is a bug
/// that every test run would hit at once.
#[allow(clippy::panic)]
pub fn invalid_rule(name: &str, why: &str) -> ! {
    panic!("rule `{name}` is malformed: {why}")
}

/// A rule set: rules shared with other sets, each compiled once.
pub type RuleSet = [&'static Rewrite];

/// A group of rules compiled once per process, on first use: compiling
/// patterns costs more than a small derivation, and several sets share a
/// group.
macro_rules! rule_group {
    ($name:ident => $build:expr) => {
        fn $name() -> &'static [Rewrite] {
            static GROUP: LazyLock<Vec<Rewrite>> = LazyLock::new(|| $build);
            &GROUP
        }
    };
}

rule_group!(calculus_group => calculus::rules());
rule_group!(activation_group => activation::rules());
rule_group!(zeros_group => algebra::zeros());
rule_group!(algebra_group => algebra::rules());
rule_group!(jacobian_group => jacobian::rules());
rule_group!(matrix_group => matrix::rules());
rule_group!(det_group => det::rules());
rule_group!(matpoly_group => matpoly::rules());
rule_group!(ring_group => ring::rules());
rule_group!(ac_group => algebra::ac());

/// A set of rule groups, gathered once per process.
macro_rules! rule_set {
    ($(#[$doc:meta])* $name:ident => [$($group:ident),* $(,)?]) => {
        $(#[$doc])*
        pub fn $name() -> &'static RuleSet {
            static SET: LazyLock<Vec<&'static Rewrite>> =
                LazyLock::new(|| [$($group()),*].into_iter().flatten().collect());
            &SET
        }
    };
}

rule_set! {
    /// The rules that differentiate: the chain rule and the activation
    /// identities. No algebra runs beside them: an identity such as `a^1 = a`
    /// puts `a^1` in the class of `a`, and the chain rule would then
    /// differentiate that form too, and the form it produces, without end.
    /// The zero terms this leaves behind are removed by `simplify`.
    differentiate => [calculus_group, activation_group]
}

rule_set! {
    /// The rules that simplify a finished derivative.
    simplify => [activation_group, zeros_group, algebra_group]
}

rule_set! {
    /// The rules that take Jacobians: the chain rule for `jac` and the
    /// activation identities, again without algebra beside them.
    jacobians => [jacobian_group, activation_group]
}

rule_set! {
    /// The rules that simplify matrix expressions and determinants.
    linear_algebra => [activation_group, zeros_group, algebra_group, matrix_group, det_group, matpoly_group]
}

rule_set! {
    /// The rules an `expect` proof may use: everything that simplifies, the
    /// elementwise normal form, and distributivity of matrix products.
    prove => [
        activation_group,
        zeros_group,
        algebra_group,
        matrix_group,
        det_group,
        matpoly_group,
        ring_group,
        ac_group,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader agrees with egg's s-expression parser.
    #[test]
    fn reads_patterns_as_egg_does() {
        for text in [
            "?a",
            "0",
            "-1",
            "1/2",
            "(+ ?a ?b)",
            "(- ?z ?a)",
            "(neg (neg ?a))",
            "(.* (sigma' ?x) (- 1 (sigma ?x)))",
            "(*  (T ?a)\n (* ?b  (T ?c)))",
            "(^ ?a -1)",
            "(* -12 (+ 007 1/2))",
            "-0",
            "((T ?a))",
        ] {
            let theirs: Result<PatternAst<Node>, _> = text.parse();
            let ours = std::panic::catch_unwind(|| pattern_ast("test", text));
            match (theirs, ours) {
                (Ok(t), Ok(o)) => assert_eq!(o, t, "{text}"),
                (Err(_), Err(_)) => {}
                (t, o) => panic!("{text}: egg {:?}, ours {:?}", t.is_ok(), o.is_ok()),
            }
        }
    }

    /// Every rule finds, in grown graphs, the matches egg's own pattern
    /// search finds, in the same order, also when a limit cuts them short.
    #[test]
    fn searches_find_what_egg_finds() {
        let mut found = 0;
        for (eg, _) in crate::derive::egraph::grown::graphs(60) {
            for rule in prove().iter().chain(differentiate()).chain(jacobians()) {
                let Some(ast) = rule.searcher.get_pattern_ast() else {
                    continue;
                };
                let egg_own = Pattern::new(ast.clone());
                for limit in [usize::MAX, 3] {
                    let key = |ms: Vec<SearchMatches<'_, Node>>| -> Vec<(Id, Vec<Subst>)> {
                        ms.into_iter().map(|m| (m.eclass, m.substs)).collect()
                    };
                    let ours = key(rule.searcher.search_with_limit(&eg, limit));
                    let theirs = key(egg_own.search_with_limit(&eg, limit));
                    assert_eq!(ours, theirs, "{}", rule.name);
                    found += ours.len();
                }
            }
        }
        assert!(found > 1000, "{found} matches compared");
    }

    /// Every rule's searcher, printed by egg, is read as egg reads it.
    #[test]
    fn every_rule_reads_back() {
        for rule in prove()
            .iter()
            .chain(differentiate())
            .chain(jacobians())
            .chain(linear_algebra())
        {
            if let Some(ast) = rule.searcher.get_pattern_ast() {
                let theirs: PatternAst<Node> = match ast.to_string().parse() {
                    Ok(t) => t,
                    Err(e) => panic!("{}: {e}", rule.name),
                };
                assert_eq!(
                    pattern_ast("test", &ast.to_string()),
                    theirs,
                    "{}",
                    rule.name
                );
            }
        }
    }
}
