//! A normal form read back into an expression: terms with one matrix part
//! collected (their scalar parts summed: `diag(g) * ((1 - rho) * H) +
//! diag((1 - rho) * g) * H` is `2 * (1 - rho) * diag(g) * H`), powers of
//! one base merged, like terms merged. Each opaque factor is written as
//! what its text stands for (see `Meaning`).

use super::{as_constant, constant, meaning, Combo, Factor, Meaning, Product};
use crate::ir::build::ExprBuilder;
use crate::ir::{Leaf, Node};
use crate::num::Rational;
use egg::{Id, Language, RecExpr};
use std::collections::BTreeMap;

/// Reads normal forms back into one expression.
pub(super) struct Reify<'a> {
    /// The expression the normal form was made of (opaque factors are
    /// copied from it).
    pub(super) expr: &'a RecExpr<Node>,
    pub(super) b: ExprBuilder,
}

impl Reify<'_> {
    /// The sum the normal form `c` is; `None` for zero, or where a factor
    /// cannot be written (an all-ones matrix).
    pub(super) fn combo(&mut self, c: &Combo) -> Option<Id> {
        let plain = self.unfolded(c);
        let best = match (plain, self.folded(c)) {
            (Some(p), Some(f)) if self.size(f) < self.size(p) => Some(f),
            (None, f) => f,
            (p, _) => p,
        };
        let mut best = match (best, self.over_common(c)) {
            (Some(b), Some(o)) if self.size(o) < self.size(b) => Some(o),
            (None, o) => o,
            (b, _) => b,
        };
        if let Some(q) = self.squared(c) {
            if best.is_none_or(|b| self.size(q) < self.size(b)) {
                best = Some(q);
            }
        }
        best
    }

    /// The scalar sum `c` of three terms as the square of a sum of two,
    /// where it is one: `1 - 2 * rho + rho^2` is `(1 - rho)^2`. `None`
    /// otherwise.
    fn squared(&mut self, c: &Combo) -> Option<Id> {
        if c.len() != 3 || c.keys().any(|p| !p.matrices.is_empty()) {
            return None;
        }
        let terms: Vec<(&Product, &Rational)> = c.iter().collect();
        for (i, j, k) in [(0, 1, 2), (0, 2, 1), (1, 2, 0)] {
            let (Some((p, a)), Some((q, b))) = (square_root(terms[i]), square_root(terms[j]))
            else {
                continue;
            };
            // The cross term must be `2 * a * b * p * q`, or its negation.
            let (pq, m) = p.times(&q)?;
            if pq != *terms[k].0 {
                continue;
            }
            let cross = m.mul(&a)?.mul(&b)?.mul(&Rational::int(2))?;
            let sign = if *terms[k].1 == cross {
                Rational::one()
            } else if *terms[k].1 == cross.neg() {
                Rational::one().neg()
            } else {
                continue;
            };
            let mut base = Combo::new();
            super::add_product(&mut base, p, &a)?;
            super::add_product(&mut base, q, &b.mul(&sign)?)?;
            let inner = self.combo(&base)?;
            let two = self.b.int(2);
            return Some(self.b.add(Node::Pow([inner, two])));
        }
        None
    }

    /// The sum `c` over a common denominator: where some terms but not
    /// all divide by a scalar `s` (to the power one, and none to another
    /// negative power), `c * s` read back, divided by `s`. RMSProp's
    /// inverse `v / rho + (1 - rho^(-1)) * g^2` is `(v - (1 - rho) * g^2)
    /// / rho`. `None` where no term divides by a scalar so.
    fn over_common(&mut self, c: &Combo) -> Option<Id> {
        if c.len() < 2 {
            return None;
        }
        let divides = |p: &Product, b: &str| p.scalars.get(b).is_some_and(is_inverse);
        let base = c
            .keys()
            .flat_map(|p| p.scalars.iter())
            .find(|(b, e)| {
                is_inverse(e)
                    && !c.keys().all(|p| divides(p, b))
                    && c.keys().all(|p| {
                        p.scalars
                            .get(*b)
                            .and_then(as_constant)
                            .is_none_or(|r| !r.is_negative() || r == Rational::int(-1))
                    })
            })
            .map(|(b, _)| b.clone())?;
        // What the base stands for: a sum (multiplied out into the terms
        // that do not divide by it, so that like terms meet) or a scalar.
        let value = match super::meaning(&base) {
            Some(Meaning::Base(sum)) => sum,
            _ => super::single(
                Product {
                    scalars: std::iter::once((base.clone(), super::one())).collect(),
                    matrices: Vec::new(),
                },
                Rational::one(),
            ),
        };
        let mut times = Combo::new();
        for (p, k) in c {
            let mut q = p.clone();
            if divides(p, &base) {
                q.scalars.remove(&base);
                super::add_product(&mut times, q, k)?;
            } else {
                let term = super::multiply(&super::single(q, k.clone()), &value)?;
                super::add_into(&mut times, &term, &Rational::one())?;
            }
        }
        let numerator = self.combo(&times)?;
        let denominator = self.text(&base)?;
        Some(self.b.add(Node::Div([numerator, denominator])))
    }

    /// The sum `c` with the terms that are sums over one index, each
    /// times factors free of it, written as one sum: `mu .* sum(n, b[n]) -
    /// sum(n, b[n] .* x[n])` is `sum(n, b[n] .* (mu - x[n]))`. `None`
    /// where no two terms are such sums over one index.
    fn folded(&mut self, c: &Combo) -> Option<Id> {
        let mut groups: BTreeMap<(u32, bool), Vec<(&Product, Combo)>> = BTreeMap::new();
        for (p, k) in c {
            if let Some((n, scalar, body)) = summand(p) {
                groups
                    .entry((n, scalar))
                    .or_default()
                    .push((p, super::scaled(&body, k)?));
            }
        }
        // The index with the most such terms, the first in a fixed order.
        let most = groups.values().map(Vec::len).max()?;
        if most < 2 {
            return None;
        }
        let ((n, scalar), members) = groups.into_iter().find(|(_, m)| m.len() == most)?;
        let mut body = Combo::new();
        for (_, part) in &members {
            super::add_into(&mut body, part, &Rational::one())?;
        }
        if body.is_empty() {
            return None;
        }
        let text = super::bound(n, &body);
        let mut rest: Combo = c
            .iter()
            .filter(|(p, _)| !members.iter().any(|(q, _)| q == p))
            .map(|(p, k)| (p.clone(), k.clone()))
            .collect();
        let sum = if scalar {
            Product {
                scalars: std::iter::once((text, super::one())).collect(),
                matrices: Vec::new(),
            }
        } else {
            Product {
                scalars: BTreeMap::new(),
                matrices: vec![Factor::Atom(text)],
            }
        };
        super::add_product(&mut rest, sum, &Rational::one())?;
        self.combo(&rest)
    }

    /// The sum `c` read back term by term (see [`Reify::combo`]).
    fn unfolded(&mut self, c: &Combo) -> Option<Id> {
        if let Some(f) = self.factored(c) {
            return Some(f);
        }
        // A scalar in a sum with a matrix stands for every entry: where
        // another term has the shape, an all-ones part is written as its
        // scalar.
        let broadcast = c
            .keys()
            .any(|p| !p.matrices.is_empty() && !all_ones(&p.matrices));
        let mut terms = Vec::new();
        self.terms(c, broadcast, &mut terms)?;
        self.signed(terms)
    }

    /// The terms of the sum `c`, with their signs and ranks (see
    /// [`Reify::signed`]): the terms that share an elementwise factor
    /// with it taken out (`a + x - x .* t` is `a + x .* (1 - t)`), in
    /// turn, then the others collected by their matrix part.
    fn terms(&mut self, c: &Combo, broadcast: bool, out: &mut Vec<(Id, bool, u8)>) -> Option<()> {
        if let Some((with, rest)) = shared_part(c) {
            if let Some(f) = self.factored(&with) {
                out.push((f, false, 1));
                return self.terms(&rest, broadcast, out);
            }
        }
        let mut parts: BTreeMap<Vec<Factor>, Combo> = BTreeMap::new();
        for (p, k) in c {
            let scalar = Product {
                scalars: p.scalars.clone(),
                matrices: Vec::new(),
            };
            parts
                .entry(p.matrices.clone())
                .or_default()
                .insert(scalar, k.clone());
        }
        // A term that is the whole sum is negated only where all its
        // scalar terms are negative (`y - t`, not `-(t - y)`); in a sum of
        // several, where its first is (`- (1 - rho) * H`).
        let alone = parts.len() == 1 && out.is_empty();
        for (chain, scalars) in &parts {
            let ones = all_ones(chain);
            let chain: &[Factor] = if broadcast && ones { &[] } else { chain };
            let (t, negative) = self.term(chain, scalars, alone)?;
            // Numbers first (`1 - rho`), a broadcast scalar last (`v +
            // eps`).
            let rank = match (chain.is_empty() || ones, is_number(scalars)) {
                (true, true) => 0,
                (true, false) if broadcast => 2,
                _ => 1,
            };
            out.push((t, negative, rank));
        }
        Some(())
    }

    /// A sum of several terms written with what every term has taken
    /// out: a number (the least size of a coefficient, where every
    /// coefficient is a whole multiple of it), scalar factors, and
    /// elementwise factors (`a .* b .* x - a .* b .* y` is `a .* b .* (x
    /// - y)`). `None` where nothing is common.
    fn factored(&mut self, c: &Combo) -> Option<Id> {
        // Terms of one matrix part are collected by `term` instead.
        let first = c.keys().next()?;
        if c.keys().all(|p| p.matrices == first.matrices) {
            return None;
        }
        let number = shared_number(c)?;
        let scalars = common_factors(c);
        // The elementwise factors of every term, with one power: each
        // term's matrix part one elementwise product (or one factor).
        // Each factor every term has, with the least of its powers where
        // they are positive numbers, or the one power they all have.
        let groups = elementwise;
        let mut terms = c.keys();
        let mut common = groups(terms.next()?);
        for p in terms {
            let g = groups(p);
            common.retain(|k, e| g.get(k).is_some_and(|theirs| shared_power(e, theirs)));
        }
        // A term that is only the common factors leaves a one behind
        // (`x - x .* t` is `x .* (1 - t)`), written as a scalar in a sum
        // with the other terms; not where every term would.
        if !common.is_empty() && c.keys().all(|p| without(&groups(p), &common).is_empty()) {
            common.clear();
        }
        if number.is_one() && scalars.is_empty() && common.is_empty() {
            return None;
        }
        let mut rest = Combo::new();
        for (p, k) in &divided(c, &scalars)? {
            let mut q = p.clone();
            if !common.is_empty() {
                let g = without(&groups(p), &common);
                q.matrices = if g.is_empty() {
                    Vec::new()
                } else {
                    super::had_chain(g)
                };
            }
            rest.insert(q, k.div(&number)?);
        }
        let mut factors = Vec::new();
        let mut divisors = Vec::new();
        if !number.is_one() {
            factors.push(self.b.num(number));
        }
        self.split_monomial(&scalars, &mut factors, &mut divisors)?;
        let mut inner = self.combo(&rest)?;
        // Shared inverses divide the rest (`(x - y) ./ b`).
        let (inverses, shared): (BTreeMap<_, _>, BTreeMap<_, _>) =
            common.into_iter().partition(|(_, e)| is_inverse(e));
        if !shared.is_empty() {
            let shared = self.factor(&Factor::Had(shared))?;
            inner = self.b.add(Node::Had([shared, inner]));
        }
        for (g, e) in &inverses {
            let x = self.chain(g)?;
            let x = self.raised(x, e)?;
            inner = self.b.add(Node::Had([inner, x]));
        }
        factors.push(inner);
        let t = self.product(&factors)?;
        Some(match self.product(&divisors) {
            Some(d) => self.b.add(Node::Div([t, d])),
            None => t,
        })
    }

    /// Terms with their signs and ranks, added: by rank, then smaller
    /// terms first (`I(D) - alpha * ...`), in a fixed order, and a
    /// positive one first where there is one.
    fn signed(&mut self, terms: Vec<(Id, bool, u8)>) -> Option<Id> {
        let keys: Vec<(u8, usize)> = terms.iter().map(|t| (t.2, self.size(t.0))).collect();
        let mut order: Vec<usize> = (0..terms.len()).collect();
        order.sort_by_key(|&k| keys[k]);
        let terms: Vec<(Id, bool)> = order
            .into_iter()
            .map(|k| (terms[k].0, terms[k].1))
            .collect();
        self.b.signed_sum(terms)
    }

    /// The size of the expression at `id` as printed (a tree).
    fn size(&self, id: Id) -> usize {
        tree_size(&self.b, id, &mut std::collections::HashMap::new())
    }

    /// One term: the scalar sum `scalars` (products without matrices)
    /// times the matrix product `chain`, and whether it is negative (see
    /// [`content`]; `alone` where it is the whole sum).
    fn term(&mut self, chain: &[Factor], scalars: &Combo, alone: bool) -> Option<(Id, bool)> {
        let (content, negative, rest) = content(scalars, alone)?;
        let mut factors: Vec<Id> = Vec::new();
        // Scalar factors with a negative exponent, written as a divisor
        // (`r / N`, not `N^(-1) * r`).
        let mut divisors: Vec<Id> = Vec::new();
        if !content.is_one() {
            factors.push(self.b.num(content));
        }
        let common = common_factors(&rest);
        self.split_monomial(&common, &mut factors, &mut divisors)?;
        let rest = divided(&rest, &common)?;
        match rest.len() {
            0 => return None,
            1 => {
                let (p, _) = rest.iter().next()?;
                self.split_monomial(&p.scalars, &mut factors, &mut divisors)?;
            }
            _ => {
                // A perfect square as one: `(1 - rho)^2`.
                if let Some(q) = self.squared(&rest) {
                    factors.push(q);
                    return self.finished(factors, divisors, chain, negative);
                }
                let mut terms = Vec::new();
                for (p, k) in &rest {
                    let mut f = Vec::new();
                    if !k.abs().is_one() {
                        f.push(self.b.num(k.abs()));
                    }
                    f.extend(self.monomial(&p.scalars)?);
                    let t = match self.product(&f) {
                        Some(t) => t,
                        None => self.b.int(1),
                    };
                    terms.push((t, k.is_negative(), u8::from(!p.scalars.is_empty())));
                }
                factors.push(self.signed(terms)?);
            }
        }
        self.finished(factors, divisors, chain, negative)
    }

    /// A term's scalar factors times its matrix product `chain`, over its
    /// divisors, with its sign.
    fn finished(
        &mut self,
        mut factors: Vec<Id>,
        divisors: Vec<Id>,
        chain: &[Factor],
        negative: bool,
    ) -> Option<(Id, bool)> {
        for f in chain {
            factors.push(self.factor(f)?);
        }
        let t = match self.product(&factors) {
            Some(t) => t,
            None => self.b.int(1),
        };
        let t = match self.product(&divisors) {
            Some(d) => self.b.add(Node::Div([t, d])),
            None => t,
        };
        Some((t, negative))
    }

    /// The factors of the monomial `scalars` (see [`Reify::monomial`]):
    /// those with a negative number as exponent onto `divisors`, raised
    /// to its size, the others onto `factors`.
    fn split_monomial(
        &mut self,
        scalars: &BTreeMap<String, Combo>,
        factors: &mut Vec<Id>,
        divisors: &mut Vec<Id>,
    ) -> Option<()> {
        let (up, down): (BTreeMap<String, Combo>, BTreeMap<String, Combo>) = scalars
            .iter()
            .map(|(b, e)| (b.clone(), e.clone()))
            .partition(|(_, e)| !as_constant(e).is_some_and(|r| r.is_negative()));
        factors.extend(self.monomial(&up)?);
        let down: BTreeMap<String, Combo> = down
            .into_iter()
            .map(|(b, e)| {
                let r = as_constant(&e).unwrap_or_else(Rational::zero);
                (b, constant(r.abs()))
            })
            .collect();
        divisors.extend(self.monomial(&down)?);
        Some(())
    }

    /// The product of `factors`, left to right; `None` for none.
    fn product(&mut self, factors: &[Id]) -> Option<Id> {
        let mut out: Option<Id> = None;
        for &f in factors {
            out = Some(match out {
                None => f,
                Some(acc) => self.b.add(Node::Mul([acc, f])),
            });
        }
        out
    }

    /// Each scalar base raised to its exponent, smaller factors first
    /// (`rho^D * det(...)`), in a fixed order.
    fn monomial(&mut self, scalars: &BTreeMap<String, Combo>) -> Option<Vec<Id>> {
        let mut out = Vec::new();
        for (base, e) in scalars {
            let b = self.text(base)?;
            out.push(self.raised(b, e)?);
        }
        out.sort_by_cached_key(|&f| self.size(f));
        Some(out)
    }

    /// `b` raised to the exponent `e` (itself when `e` is one).
    fn raised(&mut self, b: Id, e: &Combo) -> Option<Id> {
        if as_constant(e).is_some_and(|r| r.is_one()) {
            return Some(b);
        }
        if as_constant(e) == Some(Rational::frac(1, 2)) {
            return Some(self.b.add(Node::act(crate::ir::Act::Sqrt, false, b)));
        }
        let e = match (as_constant(e), dims_poly(e, self.expr)) {
            (Some(r), _) => self.b.num(r),
            // A polynomial in dims in its canonical form (`D - 1`).
            (None, Some(p)) => self.b.poly(&p),
            (None, None) => self.combo(e)?,
        };
        Some(self.b.add(Node::Pow([b, e])))
    }

    /// An elementwise product as a quotient: the factors with negative
    /// constant exponents, raised to their opposites, are one denominator
    /// (`1 ./ d` where nothing else is left), the others in order before it.
    fn quotient(&mut self, groups: &BTreeMap<Vec<Factor>, Combo>) -> Option<Id> {
        let mut numerator: Option<Id> = None;
        let mut denominator: Option<Id> = None;
        for (g, e) in groups {
            let x = self.chain(g)?;
            let (into, x) = match as_constant(e).filter(|r| r.is_negative()) {
                Some(r) => (&mut denominator, self.raised(x, &constant(r.neg()))?),
                None => (&mut numerator, self.raised(x, e)?),
            };
            *into = Some(match *into {
                None => x,
                Some(acc) => self.b.add(Node::Had([acc, x])),
            });
        }
        let Some(denominator) = denominator else {
            return numerator;
        };
        let minus_one = self.b.int(-1);
        let inverse = self.b.add(Node::Pow([denominator, minus_one]));
        Some(match numerator {
            Some(n) => self.b.add(Node::Had([n, inverse])),
            None => {
                let one = self.b.int(1);
                self.b.add(Node::Mul([one, inverse]))
            }
        })
    }

    /// The matrix product of `chain`, left to right; a row of ones before
    /// the rest (`1^T * u`) or a column of ones after it (`u^T * 1`) is the
    /// sum of the rest's entries (which the reading back checks: the rest
    /// must then be a column, or a row).
    fn chain(&mut self, chain: &[Factor]) -> Option<Id> {
        let one = |p: &crate::poly::Poly| *p == crate::poly::Poly::int(1);
        let rest = match chain {
            [Factor::Ones(r, _), rest @ .., Factor::Ones(_, c)] if one(r) && one(c) => Some(rest),
            [Factor::Ones(r, _), rest @ ..] if one(r) => Some(rest),
            [rest @ .., Factor::Ones(_, c)] if one(c) => Some(rest),
            _ => None,
        };
        if let Some(rest) = rest.filter(|r| !r.is_empty()) {
            let x = self.chain(rest)?;
            return Some(self.b.add(Node::SumAll(x)));
        }
        let mut ids = Vec::with_capacity(chain.len());
        for f in chain {
            ids.push(self.factor(f)?);
        }
        self.product(&ids)
    }

    fn factor(&mut self, f: &Factor) -> Option<Id> {
        match f {
            Factor::Atom(text) | Factor::Sym(text) => self.text(text),
            Factor::T(inner) => {
                // The transpose of a sum over an index is the sum of the
                // transposes: written inside where that has no more
                // transposes (`sum(t, a[t] * h[t]^T)`, not `sum(t, h[t] *
                // a[t]^T)^T`).
                if let Factor::Atom(text) = &**inner {
                    if let Some(Meaning::Sum(n, body)) = super::meaning(text) {
                        if let Some(flipped) = super::transpose(&body) {
                            if transposes(&flipped) <= transposes(&body) {
                                let i = self.b.leaf(Leaf::Index(n));
                                let body = self.combo(&flipped)?;
                                return Some(self.b.add(Node::Sum([i, body])));
                            }
                        }
                    }
                }
                let x = self.factor(inner)?;
                Some(self.b.add(Node::Trans(x)))
            }
            Factor::Ones(..) => None,
            Factor::Had(groups) => {
                let negative = |e: &Combo| as_constant(e).filter(|r| r.is_negative());
                let below = groups.values().filter_map(negative).collect::<Vec<_>>();
                // One factor with a negative power other than `-1` stays a
                // power (`a .* b^(-2)`), unless it is a root beside others;
                // else the factors with negative powers are one denominator,
                // so that they print as a quotient (`a ./ b`, `a ./ (b.^2
                // .* sqrt(c))`, a lone one as `1 ./ b`).
                let power = match below.as_slice() {
                    [r] => {
                        *r != Rational::int(-1)
                            && !(*r == Rational::frac(-1, 2) && groups.len() > 1)
                    }
                    _ => false,
                };
                if !power {
                    return self.quotient(groups);
                }
                let mut out: Option<Id> = None;
                for (g, e) in groups {
                    let x = self.chain(g)?;
                    let x = self.raised(x, e)?;
                    out = Some(match out {
                        None => x,
                        Some(acc) => self.b.add(Node::Had([acc, x])),
                    });
                }
                out
            }
        }
    }

    /// What an opaque factor's text stands for, as an expression.
    fn text(&mut self, text: &str) -> Option<Id> {
        match super::meaning(text)? {
            Meaning::Node(id) => Some(self.b.copy(self.expr, id)),
            Meaning::Chain(chain) => self.chain(&chain),
            Meaning::Sum(n, body) => {
                let i = self.b.leaf(Leaf::Index(n));
                let body = self.combo(&body)?;
                Some(self.b.add(Node::Sum([i, body])))
            }
            Meaning::Diag(body, _) => {
                let v = self.combo(&body)?;
                Some(self.b.add(Node::Diag(v)))
            }
            Meaning::Det(inner, id) => match self.combo(&inner) {
                Some(m) => Some(self.b.add(Node::Det(m))),
                None => id.map(|id| self.b.copy(self.expr, id)),
            },
            Meaning::Base(body) => {
                let read = self.combo(&body)?;
                // The sum as the expression writes it, where it is no
                // longer than read back: one normal form, so one value.
                let written = match super::meaning(&super::written_text(&super::key(&body))) {
                    Some(Meaning::Node(id)) => Some(id),
                    _ => None,
                };
                Some(match written {
                    Some(id)
                        if crate::ir::size(&crate::ir::build::subtree(self.expr, id))
                            <= self.size(read) =>
                    {
                        self.b.copy(self.expr, id)
                    }
                    _ => read,
                })
            }
            Meaning::Prod(body) => {
                let v = self.combo(&body)?;
                Some(self.b.add(Node::Prod(v)))
            }
            Meaning::Dim(d) => Some(self.b.leaf(Leaf::Dim(d))),
            Meaning::Eye(n) => self.b.eye(&n),
            Meaning::Number(r) => Some(self.b.num(r)),
            // Noted under another text, never a factor's own.
            Meaning::Entries(..) | Meaning::Shape(_) => None,
        }
    }
}

/// A term that is a sum over an index times factors free of it, as the
/// index, whether the sum is a scalar, and the term written inside the
/// sum (`mu .* sum(n, b[n])` is `sum(n, mu .* b[n])`): a scalar sum
/// among the scalar factors of a scalar term, or a sum as an elementwise
/// factor, each to the power one.
fn summand(p: &Product) -> Option<(u32, bool, Combo)> {
    let free = |q: &Product, n: u32| {
        !super::depends_on(&super::key(&super::single(q.clone(), Rational::one())), n)
    };
    let unit = |e: &Combo| as_constant(e).is_some_and(|r| r.is_one());
    if p.matrices.is_empty() {
        for (b, e) in &p.scalars {
            let (Some(Meaning::Sum(n, body)), true) = (super::meaning(b), unit(e)) else {
                continue;
            };
            let mut rest = p.clone();
            rest.scalars.remove(b);
            if !free(&rest, n) {
                return None;
            }
            let inside = super::multiply(&super::single(rest, Rational::one()), &body)?;
            return Some((n, true, inside));
        }
        return None;
    }
    let groups = elementwise(p);
    for (g, e) in &groups {
        let [Factor::Atom(text)] = g.as_slice() else {
            continue;
        };
        let (Some(Meaning::Sum(n, body)), true) = (super::meaning(text), unit(e)) else {
            continue;
        };
        let mut others = groups.clone();
        others.remove(g);
        let rest = Product {
            scalars: p.scalars.clone(),
            matrices: if others.is_empty() {
                Vec::new()
            } else {
                super::had_chain(others)
            },
        };
        if !free(&rest, n) {
            return None;
        }
        let inside = super::hadamard(&super::single(rest, Rational::one()), &body, None)?;
        return Some((n, false, inside));
    }
    None
}

/// The elementwise factors `g` with the powers of `common` taken out.
fn without(
    g: &BTreeMap<Vec<Factor>, Combo>,
    common: &BTreeMap<Vec<Factor>, Combo>,
) -> BTreeMap<Vec<Factor>, Combo> {
    let mut out = BTreeMap::new();
    for (k, e) in g {
        let left = match common.get(k) {
            None => e.clone(),
            Some(c) => {
                let mut d = e.clone();
                if super::add_into(&mut d, c, &Rational::one().neg()).is_none() {
                    return g.clone();
                }
                d
            }
        };
        if !left.is_empty() {
            out.insert(k.clone(), left);
        }
    }
    out
}

/// The elementwise factors of a term, with their powers: its matrix
/// part's, or the part itself (none for a scalar or an all-ones part).
fn elementwise(p: &Product) -> BTreeMap<Vec<Factor>, Combo> {
    match p.matrices.as_slice() {
        [Factor::Had(g)] => g.clone(),
        [] => BTreeMap::new(),
        m if all_ones(m) => BTreeMap::new(),
        m => std::iter::once((m.to_vec(), super::one())).collect(),
    }
}

/// The terms of `x` that have the elementwise factor most terms share
/// (at least two; the first such factor in a fixed order), and the
/// others; `None` where no two terms share one.
fn shared_part(x: &Combo) -> Option<(Combo, Combo)> {
    let mut count: BTreeMap<(Vec<Factor>, Combo), usize> = BTreeMap::new();
    for p in x.keys() {
        for f in elementwise(p) {
            *count.entry(f).or_default() += 1;
        }
    }
    let most = count.values().copied().max()?;
    if most < 2 {
        return None;
    }
    let (g, e) = count.into_iter().find(|(_, n)| *n == most)?.0;
    let (with, without): (Combo, Combo) = x
        .iter()
        .map(|(p, k)| (p.clone(), k.clone()))
        .partition(|(p, _)| elementwise(p).get(&g) == Some(&e));
    Some((with, without))
}

/// A term `k * p` as the square of `a * r` (`a` a positive whole
/// number, `r` a product of scalars to whole powers), where it is one.
fn square_root((p, k): (&Product, &Rational)) -> Option<(Product, Rational)> {
    let n = k.to_i64().filter(|n| *n > 0)?;
    let a = (1..=n).take_while(|a| a * a <= n).find(|a| a * a == n)?;
    let mut r = Product::unit();
    for (b, e) in &p.scalars {
        let half = as_constant(e)
            .filter(|e| e.is_integer())
            .and_then(|e| e.div(&Rational::int(2)))
            .filter(|h| h.is_integer() && !h.is_zero())?;
        if b.starts_with('#') {
            return None;
        }
        r.scalars.insert(b.clone(), constant(half));
    }
    Some((r, Rational::int(a)))
}

/// Whether a number is greater than zero.
fn positive(r: &Rational) -> bool {
    !r.is_negative() && !r.is_zero()
}

/// A scalar sum as its content (the least size of a coefficient, where
/// every coefficient is a whole multiple of it, else one), whether it is
/// taken as negative, and the rest, divided by the content and the sign.
/// It is negative where its first term is, or, `alone`, where every term
/// is: `-t + y` alone is `y - t`, not `-(t - y)`.
fn content(x: &Combo, alone: bool) -> Option<(Rational, bool, Combo)> {
    let (_, first) = x.iter().next()?;
    let negative = match alone {
        true => x.values().all(|k| k.is_negative()),
        false => first.is_negative(),
    };
    let content = shared_number(x)?;
    let by = if negative {
        content.neg()
    } else {
        content.clone()
    };
    let mut rest = Combo::new();
    for (p, k) in x {
        rest.insert(p.clone(), k.div(&by)?);
    }
    Some((content, negative, rest))
}

/// The scalar factors every term of `x` has, where there is more than one
/// term: with the one exponent they all have, or the least of their
/// exponents where these are positive numbers (`s - s^2` has `s`).
fn common_factors(x: &Combo) -> BTreeMap<String, Combo> {
    let mut terms = x.keys();
    let Some(first) = terms.next() else {
        return BTreeMap::new();
    };
    if x.len() < 2 {
        return BTreeMap::new();
    }
    let mut common = first.scalars.clone();
    for p in terms {
        common.retain(|b, e| {
            p.scalars
                .get(b)
                .is_some_and(|theirs| shared_power(e, theirs))
        });
    }
    common
}

/// Whether a factor with power `e` in one term and `theirs` in another is
/// common to both, with `e` made the power they share: the one power they
/// have, or the least where both are positive numbers.
fn shared_power(e: &mut Combo, theirs: &Combo) -> bool {
    if theirs == e {
        return true;
    }
    match (as_constant(e), as_constant(theirs)) {
        (Some(mine), Some(theirs)) if positive(&mine) && positive(&theirs) => {
            *e = super::constant(mine.min(theirs));
            true
        }
        _ => false,
    }
}

/// `x` with the scalar factors `common` taken out of every term: their
/// exponents less the common ones. `None` where an exponent leaves exact
/// bounds.
fn divided(x: &Combo, common: &BTreeMap<String, Combo>) -> Option<Combo> {
    let mut out = Combo::new();
    for (p, k) in x {
        let mut q = p.clone();
        for (b, e) in common {
            let mut left = q.scalars.remove(b).unwrap_or_default();
            super::add_into(&mut left, e, &Rational::one().neg())?;
            if !left.is_empty() {
                q.scalars.insert(b.clone(), left);
            }
        }
        out.insert(q, k.clone());
    }
    Some(out)
}

/// The transposed factors in the matrix parts of a normal form's terms.
fn transposes(c: &Combo) -> usize {
    c.keys()
        .flat_map(|p| &p.matrices)
        .filter(|f| matches!(f, Factor::T(_)))
        .count()
}

/// Whether an exponent is `-1`: the factor is an inverse.
fn is_inverse(e: &Combo) -> bool {
    as_constant(e).is_some_and(|r| r == Rational::int(-1))
}

/// Whether a matrix part is one all-ones matrix.
fn all_ones(chain: &[Factor]) -> bool {
    matches!(chain, [Factor::Ones(..)])
}

/// Whether a scalar sum is one number.
fn is_number(x: &Combo) -> bool {
    x.len() == 1 && x.keys().all(|p| p.scalars.is_empty())
}

/// The number a sum's coefficients share: their size where they all have
/// one size (`1/2 * x + 1/2 * y`), or the least size where that is a whole
/// number dividing every coefficient (`2 - 2 * rho`); else one. `None`
/// for an empty sum.
fn shared_number(x: &Combo) -> Option<Rational> {
    let least = x.values().map(Rational::abs).min()?;
    let same = x.values().all(|k| k.abs() == least);
    let divides = least.is_integer()
        && x.values()
            .all(|k| k.div(&least).is_some_and(|r| r.is_integer()));
    Some(if same || divides {
        least
    } else {
        Rational::one()
    })
}

/// The number of nodes of the tree at `id` of `b`, sharing undone (each
/// shared node's count remembered in `memo`).
fn tree_size(
    b: &crate::ir::build::ExprBuilder,
    id: Id,
    memo: &mut std::collections::HashMap<Id, usize>,
) -> usize {
    if let Some(&n) = memo.get(&id) {
        return n;
    }
    let n = b
        .node(id)
        .children()
        .iter()
        .fold(1usize, |acc, &c| acc.saturating_add(tree_size(b, c, memo)));
    memo.insert(id, n);
    n
}

/// An exponent that is a polynomial in dims, as one: its terms products of
/// dims raised to whole powers. `None` otherwise.
fn dims_poly(e: &Combo, expr: &RecExpr<Node>) -> Option<crate::poly::Poly> {
    let mut out = crate::poly::Poly::zero();
    for (p, c) in e {
        if !p.matrices.is_empty() {
            return None;
        }
        let mut term = crate::poly::Poly::constant(c.clone());
        for (base, k) in &p.scalars {
            let d = match meaning(base)? {
                Meaning::Dim(d) => d,
                Meaning::Node(id) => match expr.as_ref().get(usize::from(id))? {
                    Node::Leaf(Leaf::Dim(d)) => *d,
                    _ => return None,
                },
                _ => return None,
            };
            let k = as_constant(k)
                .and_then(|r| r.to_i64())
                .and_then(|k| u32::try_from(k).ok())?;
            term = term.mul(&crate::poly::Poly::dim(d).pow(k)?)?;
        }
        out = out.add(&term)?;
    }
    Some(out)
}
