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

pub use crate::egraph::search::{invalid_rule, var};
use crate::egraph::search::{pattern, pattern_ast, vars_of};
pub use crate::egraph::{Rewrite, RuleSet};

use crate::ir::analysis::{constant, is_scalar, Graph, Meta};
use crate::ir::Node;
use egg::{Applier, Condition, Id, PatternAst, Subst, Symbol, Var};
use std::sync::LazyLock;

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

/// The function of `?f` (a `Leaf::Fn`) takes vectors as values.
fn fn_values_vectors(eg: &Graph, f: Id) -> bool {
    eg[f].nodes.iter().any(|n| match n {
        crate::ir::Node::Leaf(crate::ir::Leaf::Fn(k)) => {
            !eg.analysis.leaves().fn_codomain(*k).is_scalar()
        }
        _ => false,
    })
}

/// `?f` is a scalar-valued declared function.
pub fn fn_scalar(f: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let f = var(f);
    move |eg, _, s| !fn_values_vectors(eg, s[f])
}

/// `?f` is a vector-valued declared function.
pub fn fn_vector(f: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let f = var(f);
    move |eg, _, s| fn_values_vectors(eg, s[f])
}

/// `?v` is a column vector (not a scalar): `n x 1`.
pub fn is_column(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| {
        !is_scalar(eg, s[v])
            && crate::ir::analysis::shape_of(eg, s[v]).cols == crate::poly::Poly::int(1)
    }
}

/// `?v` is a row vector (not a scalar): `1 x n`.
pub fn is_row(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| {
        !is_scalar(eg, s[v])
            && crate::ir::analysis::shape_of(eg, s[v]).rows == crate::poly::Poly::int(1)
    }
}

/// `?v` is a square matrix (not a scalar).
pub fn is_square_matrix(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| !is_scalar(eg, s[v]) && crate::ir::analysis::shape_of(eg, s[v]).is_square()
}

/// `?v` is a square block of a block matrix: a square matrix, or a scalar
/// other than zero, which a block matrix holds only as a block of one row
/// and one column (`b` in `[c * I(D), u * b; 0, b]`, a Jacobian by a scalar
/// state); a zero stands for a zero block of any shape.
pub fn is_square_block(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| square_block(eg, s[v])
}

/// The class is a square block of a block matrix (see [`is_square_block`]).
pub fn square_block(eg: &Graph, id: Id) -> bool {
    if is_scalar(eg, id) {
        !crate::ir::analysis::is_zero(eg, id)
    } else {
        crate::ir::analysis::shape_of(eg, id).is_square()
    }
}

/// `?a` and `?b` have one shape, and it is not a scalar's.
pub fn same_shape(a: &str, b: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let (a, b) = (var(a), var(b));
    move |eg, _, s| {
        !is_scalar(eg, s[a])
            && crate::ir::analysis::shape_of(eg, s[a]) == crate::ir::analysis::shape_of(eg, s[b])
    }
}

/// `?v` is not a scalar.
pub fn is_matrix(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| !is_scalar(eg, s[v])
}

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

/// The determinant rules, one by one, for the steps of a determinant.
pub fn determinant_rules() -> &'static [Rewrite] {
    det_group()
}

rule_set! {
    /// The rules that tidy a determinant's factors between the steps of its
    /// derivation: the algebra of matrices, without determinant rules.
    tidy_factors => [activation_group, zeros_group, algebra_group, matrix_group]
}

rule_set! {
    /// The chain rule for Jacobians alone, derivative forms kept, for the
    /// steps of a Jacobian.
    jacobian_chain_rule => [jacobian_group]
}

rule_set! {
    /// The chain rule alone: derivatives as the rule for each operator
    /// gives them (`tanh'(a)`), for the steps of a derivation, before the
    /// activation identities write them with forward values.
    chain_rule => [calculus_group]
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
