//! Algebraic identities that simplify: zeros and ones, signs, transposes.
//! No commutativity or associativity: terms keep the order a derivation
//! produced them in, and the e-graph stays small.
//!
//! Identities that drop a term keep the shape: like every rule, they merge
//! only classes of one shape (`rules::may_merge`), so `s + v` with `v` zero
//! is not `s`.

use super::{
    built_row, distributes, is_matrix, is_scalar_var, is_zero_var, rule, same_shape, var, Rewrite,
};
use crate::ir::analysis::{constant, is_scalar, Graph};
use crate::ir::Node;
use crate::num::Rational;
use egg::{Id, Subst};

/// The identities of zero and one: the rules that drop terms and factors.
/// They only ever merge a node with one of its operands, so they are safe
/// to run beside differentiation.
#[rustfmt::skip]
pub fn zeros() -> Vec<Rewrite> {
    vec![
        rule!("alg-add-zero-r";   "(+ ?a ?z)"          => "?a" if is_zero_var("?z")),
        rule!("alg-add-zero-l";   "(+ ?z ?a)"          => "?a" if is_zero_var("?z")),
        rule!("alg-sub-zero";     "(- ?a ?z)"          => "?a" if is_zero_var("?z")),
        rule!("alg-zero-sub";     "(- ?z ?a)"          => "(neg ?a)" if is_zero_var("?z")),
        rule!("alg-mul-zero-l";   "(* 0 ?a)"           => "0"),
        rule!("alg-mul-zero-r";   "(* ?a 0)"           => "0"),
        rule!("alg-mul-one-l";    "(* 1 ?a)"           => "?a"),
        rule!("alg-mul-one-r";    "(* ?a 1)"           => "?a"),
        rule!("alg-had-zero-l";   "(.* 0 ?a)"          => "0"),
        rule!("alg-had-zero-r";   "(.* ?a 0)"          => "0"),
        rule!("alg-had-one-l";    "(.* 1 ?a)"          => "?a"),
        rule!("alg-had-one-r";    "(.* ?a 1)"          => "?a"),
        rule!("alg-div-one";      "(/ ?a 1)"           => "?a"),
        rule!("alg-div-zero";     "(/ 0 ?a)"           => "0"),
        rule!("alg-pow-one";      "(^ ?a 1)"           => "?a"),
        rule!("alg-trans-zero";   "(T 0)"              => "0"),
        rule!("alg-sumall-zero";  "(sumall 0)"         => "0"),
    ]
}

/// `?v` is a nonzero constant that is not a scalar: a value assumptions
/// make all ones (or all twos ...).
fn is_vector_constant(
    v: &str,
) -> impl Fn(&mut crate::ir::analysis::Graph, egg::Id, &egg::Subst) -> bool {
    let v = var(v);
    move |eg, _, s| !is_scalar(eg, s[v]) && constant(eg, s[v]).is_some_and(|c| !c.is_zero())
}

/// `?v` is not a constant. Factoring a constant out of a sum feeds on the
/// forms that `x + x = 2 * x` makes (`x + x = 1/2 * (2x + 2x)`), without end.
fn not_constant(v: &str) -> impl Fn(&mut crate::ir::analysis::Graph, egg::Id, &egg::Subst) -> bool {
    let v = var(v);
    move |eg, _, s| constant(eg, s[v]).is_none()
}

/// Quotients by scalars, as books write them: a product with a negative
/// power of a scalar is a quotient by the positive power (`b * s^(-2)` is
/// `b / s^2`, `b * (1 / s)` is `b / s`), and a negative power divided by a
/// scalar is one over the product (`s^(-2) / b` is `1 / (s^2 * b)`).
/// Extraction prefers them to negative powers where the graph holds both.
fn quotients() -> Vec<Rewrite> {
    vec![
        rule!("scal-one-div-r"; "(* ?a (/ 1 ?c))" => "(/ ?a ?c)" if is_scalar_var("?c") if not_fraction("?a")),
        rule!("scal-one-div-l"; "(* (/ 1 ?c) ?a)" => "(/ ?a ?c)" if is_scalar_var("?c") if not_fraction("?a")),
        rule!("scal-div-times"; "(* (/ ?a ?b) ?c)" => "(/ (* ?a ?c) ?b)" if is_scalar_var("?a") if is_scalar_var("?b") if named_factor("?a", "?b", "?c")),
        built_row!("scal-neg-pow-div-r"; "(* ?a (^ ?c ?k))" => |eg, s| over_power(eg, s, "?a"), if is_scalar_var("?c")),
        built_row!("scal-neg-pow-div-l"; "(* (^ ?c ?k) ?a)" => |eg, s| over_power(eg, s, "?a"), if is_scalar_var("?c")),
        built_row!("scal-neg-pow-over"; "(/ (^ ?c ?k) ?b)" => |eg, s| {
            let k = constant(eg, s[var("?k")])?;
            if !k.is_negative() {
                return None;
            }
            let pos = eg.add(Node::Num(k.neg()));
            let power = eg.add(Node::Pow([s[var("?c")], pos]));
            let divisor = eg.add(Node::Mul([power, s[var("?b")]]));
            let one = eg.add(Node::Num(Rational::one()));
            Some(eg.add(Node::Div([one, divisor])))
        }, if is_scalar_var("?c"), if is_scalar_var("?b")),
    ]
}

/// `?a / ?c^(-k)` for a product of `?a` with `?c^k`, `k` a negative
/// number (`?a / ?c` for `k = -1`), where `?a` is not a fraction
/// (`1/2 * s^(-1/2)` reads better than `1/2 / s^(1/2)`).
fn over_power(eg: &mut Graph, s: &Subst, a: &str) -> Option<Id> {
    let k = constant(eg, s[var("?k")])?;
    let a = s[var(a)];
    if !k.is_negative() || constant(eg, a).is_some_and(|c| !c.is_integer()) {
        return None;
    }
    let c = s[var("?c")];
    let divisor = if k == Rational::int(-1) {
        c
    } else {
        let pos = eg.add(Node::Num(k.neg()));
        eg.add(Node::Pow([c, pos]))
    };
    Some(eg.add(Node::Div([a, divisor])))
}

/// `?c` is a named scalar (a leaf), other than the divisor `?b`, that a
/// quotient `?a / ?b` may take into its numerator (`beta * r / s^2`, not
/// `beta / s^2 * r`). Only names: a factor such as `c^D`, or the divisor
/// itself, would let the product and the quotient feed each other without
/// end (`c^D / c^D * c^D = c^(2 * D) / c^D`, and so on).
fn named_factor(a: &str, b: &str, c: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let (a, b, c) = (var(a), var(b), var(c));
    move |eg, _, s| {
        let (b, c) = (eg.find(s[b]), eg.find(s[c]));
        is_scalar(eg, c)
            && b != c
            && constant(eg, s[a]).is_none()
            && eg[c].nodes.iter().any(|n| matches!(n, Node::Leaf(_)))
    }
}

/// `?a` is not a number that is a fraction.
fn not_fraction(v: &str) -> impl Fn(&mut Graph, Id, &Subst) -> bool {
    let v = var(v);
    move |eg, _, s| constant(eg, s[v]).is_none_or(|c| c.is_integer())
}

/// The algebra that tidies a finished derivative: signs, transposes, like
/// terms and common factors.
#[rustfmt::skip]
pub fn rules() -> Vec<Rewrite> {
    let mut rules = vec![
        rule!("alg-sub-self";     "(- ?a ?a)"          => "(* 0 ?a)"),
        rule!("alg-add-neg";      "(+ ?a (neg ?b))"    => "(- ?a ?b)"),
        rule!("alg-sub-neg";      "(- ?a (neg ?b))"    => "(+ ?a ?b)"),
        rule!("alg-neg-neg";      "(neg (neg ?a))"     => "?a"),
        rule!("alg-mul-neg-one";  "(* -1 ?a)"          => "(neg ?a)"),
        rule!("alg-mul-neg-one-r"; "(* ?a -1)"         => "(neg ?a)"),
        rule!("alg-mul-neg-l";    "(* (neg ?a) ?b)"    => "(neg (* ?a ?b))"),
        rule!("alg-mul-neg-r";    "(* ?a (neg ?b))"    => "(neg (* ?a ?b))"),
        rule!("alg-had-neg-l";    "(.* (neg ?a) ?b)"   => "(neg (.* ?a ?b))"),
        rule!("alg-had-neg-r";    "(.* ?a (neg ?b))"   => "(neg (.* ?a ?b))"),
        // A sign comes out of a sum of entries or over an index, so that
        // `-sum(-a)` reads `sum(a)`.
        rule!("alg-sumall-neg";   "(sumall (neg ?a))"  => "(neg (sumall ?a))"),
        rule!("alg-sum-neg";      "(sum ?i (neg ?a))"  => "(neg (sum ?i ?a))"),
        rule!("alg-div-neg";      "(/ (neg ?a) ?b)"    => "(neg (/ ?a ?b))"),
        rule!("alg-pow-zero";     "(^ ?a 0)"           => "1" if is_scalar_var("?a")),
        rule!("alg-trans-trans";  "(T (T ?a))"         => "?a"),
        rule!("alg-trans-scalar"; "(T ?a)"             => "?a" if is_scalar_var("?a")),
        rule!("alg-trans-neg";    "(T (neg ?a))"       => "(neg (T ?a))"),
        rule!("alg-neg-first";    "(+ (neg ?a) ?b)"    => "(- ?b ?a)"),
        rule!("alg-twice";        "(+ ?a ?a)"          => "(* 2 ?a)"),
        rule!("alg-add-sub-cancel"; "(+ (- ?a ?b) ?b)" => "?a"),
        rule!("alg-sub-add-cancel"; "(- (+ ?a ?b) ?b)" => "?a"),
        rule!("alg-twice-last";   "(+ (+ ?r ?a) ?a)"   => "(+ ?r (* 2 ?a))"),
        rule!("alg-factor-had-l"; "(+ (.* ?a ?b) (.* ?a ?c))" => "(.* ?a (+ ?b ?c))"),
        rule!("alg-factor-had-r"; "(+ (.* ?b ?a) (.* ?c ?a))" => "(.* (+ ?b ?c) ?a)"),
        rule!("alg-factor-had-sub-l"; "(- (.* ?a ?b) (.* ?a ?c))" => "(.* ?a (- ?b ?c))"),
        rule!("alg-factor-had-sub-r"; "(- (.* ?b ?a) (.* ?c ?a))" => "(.* (- ?b ?c) ?a)"),
        rule!("alg-factor-mul-l"; "(+ (* ?a ?b) (* ?a ?c))"   => "(* ?a (+ ?b ?c))" if not_constant("?a") if distributes("?a", "?b", "?c")),
        rule!("alg-factor-mul-r"; "(+ (* ?b ?a) (* ?c ?a))"   => "(* (+ ?b ?c) ?a)" if not_constant("?a") if distributes("?a", "?b", "?c")),
        rule!("alg-factor-mul-sub-l"; "(- (* ?a ?b) (* ?a ?c))" => "(* ?a (- ?b ?c))" if not_constant("?a") if distributes("?a", "?b", "?c")),
        rule!("alg-had-scalars";  "(.* ?a ?b)"         => "(* ?a ?b)" if is_scalar_var("?a") if is_scalar_var("?b")),
        // `w^0` is the all-ones value of `w`'s shape (the seed a sum of
        // entries passes back): a scalar times it, added to a value of that
        // shape, is the scalar broadcast; an elementwise factor of it is 1.
        rule!("alg-ones-add-l";   "(+ ?v (* ?c (^ ?w 0)))" => "(+ ?v ?c)" if is_scalar_var("?c") if same_shape("?v", "?w")),
        rule!("alg-ones-add-r";   "(+ (* ?c (^ ?w 0)) ?v)" => "(+ ?c ?v)" if is_scalar_var("?c") if same_shape("?v", "?w")),
        rule!("alg-ones-sub-l";   "(- ?v (* ?c (^ ?w 0)))" => "(- ?v ?c)" if is_scalar_var("?c") if same_shape("?v", "?w")),
        rule!("alg-ones-sub-r";   "(- (* ?c (^ ?w 0)) ?v)" => "(- ?c ?v)" if is_scalar_var("?c") if same_shape("?v", "?w")),
        rule!("alg-ones-had-l";   "(.* (^ ?w 0) ?v)"   => "?v" if same_shape("?v", "?w")),
        rule!("alg-ones-had-r";   "(.* ?v (^ ?w 0))"   => "?v" if same_shape("?v", "?w")),
        rule!("alg-ones-scaled-had-l"; "(.* (* ?c (^ ?w 0)) ?v)" => "(* ?c ?v)" if is_scalar_var("?c") if same_shape("?v", "?w")),
        rule!("alg-ones-scaled-had-r"; "(.* ?v (* ?c (^ ?w 0)))" => "(* ?c ?v)" if is_scalar_var("?c") if same_shape("?v", "?w")),
        // The row of ones times a vector is the sum of its entries (a
        // Jacobian through `sum(v)` or a scalar broadcast meets it).
        rule!("alg-ones-inner-l"; "(* (T (^ ?w 0)) ?v)" => "(sumall ?v)" if columns("?w", "?v")),
        rule!("alg-ones-inner-r"; "(* (T ?v) (^ ?w 0))" => "(sumall ?v)" if columns("?w", "?v")),
        rule!("alg-ones-row-diag"; "(* (T (^ ?w 0)) (diag ?v))" => "(T ?v)" if columns("?w", "?v")),
        rule!("alg-ones-diag-col"; "(* (diag ?v) (^ ?w 0))" => "?v" if columns("?w", "?v")),
        rule!("alg-ones-row-had-l"; "(.* (T (^ ?w 0)) (T ?v))" => "(T ?v)" if same_shape("?v", "?w")),
        rule!("alg-ones-row-had-r"; "(.* (T ?v) (T (^ ?w 0)))" => "(T ?v)" if same_shape("?v", "?w")),
        built_row!("alg-ones-count"; "(sumall (^ ?w 0))" => |eg, s| {
            let shape = crate::ir::analysis::shape_of(eg, s[var("?w")]);
            let size = shape.rows.mul(&shape.cols)?;
            Some(crate::ir::analysis::add_poly(eg, &size))
        }, if is_matrix("?w")),
        rule!("alg-trans-scale";  "(T (* ?s ?a))"      => "(* ?s (T ?a))" if is_scalar_var("?s")),
        rule!("alg-sumall-scalar"; "(sumall ?a)"       => "?a" if is_scalar_var("?a")),
        // The logistic function, as the chain rule meets it through
        // `log(1 + exp(u))` (softplus): exp(u) / (1 + exp(u)) = sigma(u)
        // (`(1 + exp(-u))^(-1)` is the function's own row of the table).
        rule!("alg-exp-recip";    "(^ (exp ?u) -1)"      => "(exp (neg ?u))"),
        rule!("alg-logistic-l";   "(.* (exp ?u) (^ (+ 1 (exp ?u)) -1))" => "(sigma ?u)"),
        rule!("alg-logistic-r";   "(.* (^ (+ 1 (exp ?u)) -1) (exp ?u))" => "(sigma ?u)"),
        rule!("alg-logistic-in";  "(.* (.* ?x (^ (+ 1 (exp ?u)) -1)) (exp ?u))" => "(.* ?x (sigma ?u))"),
    ];
    // A value that assumptions make a nonzero constant `c` but that is not
    // a scalar (a gate of all ones) scales elementwise products by `c`.
    let scale = |keep: &'static str| {
        let (a, b) = (var("?a"), var(keep));
        move |eg: &mut crate::ir::analysis::Graph, s: &egg::Subst| {
            let c = constant(eg, s[a])?;
            if c.is_one() {
                return Some(s[b]);
            }
            let n = eg.add(Node::Num(c));
            Some(eg.add(Node::Mul([n, s[b]])))
        }
    };
    // `-1` to an even power is 1: `(-1)^(2 * D)`.
    rules.push(built_row!("alg-minus-one-even"; "(^ -1 ?e)" => |eg, s| {
        let e = eg[s[var("?e")]].data.konst.clone()?;
        let two = Rational::int(2);
        let even = e.terms().iter().all(|(_, c)| c.div(&two).is_some_and(|h| h.is_integer()));
        even.then(|| eg.add(Node::Num(Rational::one())))
    }));
    rules.extend(quotients());
    rules.extend([
        built_row!("alg-had-const-l"; "(.* ?a ?b)" => scale("?b"), if is_vector_constant("?a")),
        built_row!("alg-had-const-r"; "(.* ?b ?a)" => scale("?b"), if is_vector_constant("?a")),
    ]);
    rules
}

/// Distributivity of matrix products, for proofs only; sums of elementwise
/// products meet through the normal form of `ring`.
#[rustfmt::skip]
pub fn ac() -> Vec<Rewrite> {
    vec![
        rule!("ac-dist-mul";      "(* ?a (+ ?b ?c))"     => "(+ (* ?a ?b) (* ?a ?c))" if distributes("?a", "?b", "?c")),
        rule!("ac-dist-mul-r";    "(* (+ ?b ?c) ?a)"     => "(+ (* ?b ?a) (* ?c ?a))" if distributes("?a", "?b", "?c")),
        rule!("ac-dist-mul-sub";  "(* ?a (- ?b ?c))"     => "(- (* ?a ?b) (* ?a ?c))" if distributes("?a", "?b", "?c")),
        // An inner product is the sum of an elementwise product's entries,
        // where the elementwise normal form can cancel and collect.
        rule!("ac-inner-sumall";  "(* (T ?a) ?b)"        => "(sumall (.* ?a ?b))" if columns("?a", "?b")),
        // `sum` of entries is linear.
        rule!("ac-sumall-add";    "(sumall (+ ?a ?b))"   => "(+ (sumall ?a) (sumall ?b))" if same_shape("?a", "?b")),
        rule!("ac-sumall-sub";    "(sumall (- ?a ?b))"   => "(- (sumall ?a) (sumall ?b))" if same_shape("?a", "?b")),
        rule!("ac-sumall-scale";  "(sumall (* ?c ?a))"   => "(* ?c (sumall ?a))" if is_scalar_var("?c")),
        rule!("ac-sumall-div";    "(sumall (/ ?a ?c))"   => "(/ (sumall ?a) ?c)"),
        // The logistic function's symmetry, `sigma(-a) = 1 - sigma(a)`, and
        // the step function's idempotence.
        rule!("ac-sigma-neg";     "(sigma (neg ?a))"     => "(- 1 (sigma ?a))"),
        rule!("ac-step-twice";    "(.* (step ?a) (step ?a))" => "(step ?a)"),
        // A diagonal matrix applied to a vector is an elementwise product.
        // A scalar broadcast in a sum adds itself once per entry.
        built_row!("ac-sumall-bcast-add"; "(sumall (+ ?a ?c))" => |eg, s| broadcast_sum(eg, s, false, false), if broadcasts("?a", "?c")),
        built_row!("ac-sumall-bcast-sub"; "(sumall (- ?a ?c))" => |eg, s| broadcast_sum(eg, s, false, true), if broadcasts("?a", "?c")),
        built_row!("ac-sumall-bcast-add-l"; "(sumall (+ ?c ?a))" => |eg, s| broadcast_sum(eg, s, false, false), if broadcasts("?a", "?c")),
        built_row!("ac-sumall-bcast-sub-l"; "(sumall (- ?c ?a))" => |eg, s| broadcast_sum(eg, s, true, false), if broadcasts("?a", "?c")),
    ]
}

/// `?a` is not a scalar and `?c` is one, broadcast over it.
fn broadcasts(a: &str, c: &str) -> impl Fn(&mut super::Graph, egg::Id, &egg::Subst) -> bool {
    let (a, c) = (var(a), var(c));
    move |eg, _, s| !is_scalar(eg, s[a]) && is_scalar(eg, s[c])
}

/// `sum(a ± c)` for a scalar `c` broadcast over `a`'s `n` entries:
/// `±sum(a) ± n * c`, with `sum(a)` negated where `a` is subtracted
/// (`negate_a`) and `n * c` where `c` is (`negate_c`).
fn broadcast_sum(
    eg: &mut super::Graph,
    s: &egg::Subst,
    negate_a: bool,
    negate_c: bool,
) -> Option<egg::Id> {
    let (a, c) = (s[var("?a")], s[var("?c")]);
    let shape = crate::ir::analysis::shape_of(eg, a).clone();
    let n = shape.rows.mul(&shape.cols)?;
    let n = crate::ir::analysis::add_poly(eg, &n);
    let sa = eg.add(Node::SumAll(a));
    let nc = eg.add(Node::Mul([n, c]));
    Some(match (negate_a, negate_c) {
        (false, false) => eg.add(Node::Add([sa, nc])),
        (false, true) => eg.add(Node::Sub([sa, nc])),
        (true, _) => eg.add(Node::Sub([nc, sa])),
    })
}

/// `?a` and `?b` are column vectors of one length (not scalars).
pub(super) fn columns(
    a: &str,
    b: &str,
) -> impl Fn(&mut super::Graph, egg::Id, &egg::Subst) -> bool {
    let (a, b) = (var(a), var(b));
    move |eg, _, s| {
        let (sa, sb) = (
            crate::ir::analysis::shape_of(eg, s[a]),
            crate::ir::analysis::shape_of(eg, s[b]),
        );
        !sa.is_scalar() && sa.cols.is_one() && sa == sb
    }
}
