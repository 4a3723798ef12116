//! `depth v[...]`: the fewest sequential steps that compute every value of
//! `v` over the declared ranges, and everything those values need; that is
//! the number of values on the longest chain of dependences. This module
//! answers the request and words refusals; `build` reads the model into a
//! dependence system and `solve` decides it. Boundary values (`init`, values
//! before an equation's first step, values outside the ranges) are given,
//! not computed.

mod build;
mod explicit;
mod parts;
mod proof;
mod schedule;
mod solve;
mod system;

use crate::diag::{Diagnostic, Span};
use crate::ir::Ref;
use crate::key::{Answer, Derived, Lhs, Part, Rhs, Step};
use crate::model::{Model, Request};
use crate::poly::Poly;
use schedule::Schedule;
use solve::Verdict;
use system::{Affine, System};

/// A refusal: message, label, hint, and statements it concerns.
struct Refusal(String, String, String, Vec<(Span, String)>);

fn refuse(message: impl Into<String>, label: &str, hint: impl Into<String>) -> Refusal {
    Refusal(message.into(), label.to_owned(), hint.into(), Vec::new())
}

impl Refusal {
    fn at(mut self, span: Span, label: impl Into<String>) -> Refusal {
        self.3.push((span, label.into()));
        self
    }
}

/// `depth v[...]`: `depth(v[...]) = ...`, with its steps where `with_steps`,
/// or a diagnostic at the request.
pub fn depth(
    model: &Model,
    target: &Ref,
    req: &Request,
    request: usize,
    with_steps: bool,
) -> Result<Answer, Diagnostic> {
    let at_request = |r: Refusal| {
        r.3.into_iter().fold(
            Diagnostic::new(req.span, r.0, r.1).hint(r.2),
            |d, (span, label)| d.related(span, label),
        )
    };
    let sys = build::build(model, target.var).map_err(at_request)?;
    let (d, schedule) = match solve::solve(&sys) {
        Verdict::Exact(a, s) => (in_dims(&a, &sys), s),
        other => return Err(at_request(explain(&sys, other))),
    };
    let d = d.ok_or_else(|| {
        at_request(refuse(
            "the depth is too large to work with",
            "not answered",
            "depths are polynomials of limited size in the dims",
        ))
    })?;
    let steps = if with_steps {
        vec![steps(&sys, schedule.as_ref(), &d)]
    } else {
        Vec::new()
    };
    Ok(Answer {
        request,
        equations: vec![Derived {
            lhs: Lhs::Depth(target.clone()),
            rhs: Rhs::Poly(d),
        }],
        notes: Vec::new(),
        verdict: None,
        stats: Vec::new(),
        failed: None,
        refused: None,
        steps,
        named: Vec::new(),
    })
}

/// A counterexample to the claim `depth(target) = claimed` where the depth
/// itself is not derived: the smallest size enumerated at which the longest
/// chain differs from the claim (every dim the depth does not grow with at
/// 1, then at 2), in words.
pub fn refuted(model: &Model, target: &Ref, claimed: &Poly) -> Option<String> {
    let sys = build::build(model, target.var).ok()?;
    let name = |d: u32| model.dim_name(d);
    for (y, n) in solve::enumerated(&sys) {
        for rest in [1, 2] {
            let at = |d: u32| {
                sys.dims
                    .iter()
                    .position(|&x| x == d)
                    .map_or(rest, |k| y[k] + 1)
            };
            let Some(c) = claimed.eval_exact(&at) else {
                continue;
            };
            if c == crate::num::Rational::int(n) {
                continue;
            }
            let mut used: Vec<u32> = sys.dims.clone();
            for m in claimed.0.keys() {
                for &(d, _) in &m.0 {
                    if !used.contains(&d) {
                        used.push(d);
                    }
                }
            }
            let dims: Vec<String> = used
                .iter()
                .map(|&d| format!("{} = {}", name(d), at(d)))
                .collect();
            let values = if n == 1 { "value" } else { "values" };
            return Some(format!(
                "at {}, the longest chain of dependences that ends at a value of {} has {n} {values}, where the claim gives {}",
                dims.join(", "),
                sys.vars[sys.target],
                c
            ));
        }
    }
    None
}

/// The steps of a depth: the schedule that bounds it from above (each
/// value's time `lambda . P + c`, which every dependence advances by at
/// least one), where one schedule does, and the chain of values as long as
/// the bound that meets it from below.
fn steps(sys: &System, schedule: Option<&Schedule>, d: &Poly) -> Vec<Step> {
    use super::steps::text;
    let mut why = Vec::new();
    match schedule {
        Some(s) => {
            let time: Vec<String> = s
                .lambda
                .iter()
                .zip(&sys.coords)
                .filter(|(l, _)| **l != 0)
                .map(|(l, c)| match *l {
                    1 => c.clone(),
                    -1 => format!("-{c}"),
                    l => format!("{l}*{c}"),
                })
                .collect();
            let time = if time.is_empty() {
                "0".to_owned()
            } else {
                time.join(" + ").replace("+ -", "- ")
            };
            let offsets: Vec<String> = sys
                .vars
                .iter()
                .zip(&s.c)
                .map(|(v, c)| format!("{c} for {v}"))
                .collect();
            why.push(text("the schedule "));
            why.push(Part::Code(format!("time = {time} + offset")));
            why.push(text(format!(
                ", with offset {}, gives every dependence at least one step, so the times of the values needed span at most this many steps; an induction on the dims builds a chain of dependent values as long, so no schedule does better",
                offsets.join(", ")
            )));
        }
        None => why.push(text(
            "each strongly connected part of the dependences ordered by its own schedule; the chain of parts bounds the depth from above, and the chain that attains it, solved on its own, from below",
        )),
    }
    vec![Step {
        rhs: Rhs::Poly(d.clone()),
        why,
        assumed: true,
    }]
}

/// `base + sum(slope * (dim - 1))` as a polynomial in the dims.
fn in_dims(a: &Affine, sys: &System) -> Option<Poly> {
    let mut p = Poly::int(a.base);
    for (&d, &s) in sys.dims.iter().zip(&a.slopes) {
        p = p.add(&Poly::dim(d).sub(&Poly::int(1))?.mul(&Poly::int(s))?)?;
    }
    Some(p)
}

/// A verdict other than an answer, in words.
fn explain(sys: &System, v: Verdict) -> Refusal {
    let target = &sys.vars[sys.target];
    match v {
        // Answers are not explained; `depth` prints them.
        Verdict::Exact(..) => refuse("the depth was derived", "answered", "see the answer key"),
        Verdict::Cycle(c, y) => {
            let uses: Vec<String> = c
                .deps
                .iter()
                .enumerate()
                .map(|(k, &d)| {
                    let next = &c.values[(k + 1) % c.values.len()];
                    let (v, p) = &c.values[k];
                    format!(
                        "`{}` needs `{}` (as `{}`)",
                        sys.show(*v, p),
                        sys.show(next.0, &next.1),
                        sys.deps[d].text
                    )
                })
                .collect();
            let at = if y.is_empty() {
                String::new()
            } else {
                format!("with {}, ", sys.show_dims(&y))
            };
            let mut r = refuse(
                format!("the values of `{target}` cannot be put in an order: they depend on each other in a cycle"),
                "no order computes these values",
                format!("{at}{}; a value can only use values computed before it", uses.join(", and ")),
            );
            // Each equation on the cycle, with the references that close it.
            let mut by_equation: Vec<(usize, Vec<&str>)> = Vec::new();
            for &d in &c.deps {
                let dep = &sys.deps[d];
                match by_equation.iter_mut().find(|(v, _)| *v == dep.to) {
                    Some((_, refs)) if !refs.contains(&dep.text.as_str()) => refs.push(&dep.text),
                    Some(_) => {}
                    None => by_equation.push((dep.to, vec![&dep.text])),
                }
            }
            for (v, refs) in by_equation {
                let refs: Vec<String> = refs.iter().map(|t| format!("`{t}`")).collect();
                r = r.at(sys.spans[v], format!("uses {}", refs.join(" and ")));
            }
            r
        }
        Verdict::NotPolynomial(w) => {
            let at = |y: &[i64]| {
                let dims = sys.show_dims(y);
                if y.len() > 1 {
                    format!("({dims})")
                } else {
                    dims
                }
            };
            let mut shown: Vec<String> =
                w.iter().map(|(y, n)| format!("{n} at {}", at(y))).collect();
            let last = shown.pop().unwrap_or_default();
            if let Some(first) = shown.first_mut() {
                let plural = if w.first().is_some_and(|(_, n)| *n == 1) {
                    "value"
                } else {
                    "values"
                };
                *first = first.replacen(" at ", &format!(" {plural} at "), 1);
            }
            let fixing = match shown.split_last() {
                Some((l, rest)) if !rest.is_empty() => format!("{} and {l}", rest.join(", ")),
                _ => shown.join(""),
            };
            refuse(
                format!("the depth of `{target}` is not a polynomial in the dims"),
                "no polynomial gives it exactly",
                format!(
                    "the longest chain has {fixing}, which fix the only polynomial it could be (a depth grows at most linearly), but {last}; chains that skip values (such as `h[t-2]` without `h[t-1]`), ranges that leave nothing to compute at small sizes, and diagonals across ranges of different dims do this"
                ),
            )
        }
        Verdict::Unconfirmed(a, up_to) => {
            let found = in_dims(&a, sys).map_or_else(
                || "one polynomial".to_owned(),
                |p| {
                    let name = |d: u32| {
                        sys.dims
                            .iter()
                            .position(|&x| x == d)
                            .and_then(|k| sys.dim_names.get(k).cloned())
                            .unwrap_or_else(|| "?".to_owned())
                    };
                    format!("`{}`", p.display(&name))
                },
            );
            refuse(
                format!("deriv cannot derive the depth of `{target}` exactly"),
                "not answered",
                format!("it equals {found} at every size deriv enumerated (each dim up to {up_to}), but no schedule proves that it does at every size; deriv prints a depth only when it holds for every size"),
            )
        }
        Verdict::Unproven(why) => refuse(
            format!("deriv cannot derive the depth of `{target}` exactly"),
            "not answered",
            format!("{why}; deriv prints a depth only when it holds for every size"),
        ),
    }
}
