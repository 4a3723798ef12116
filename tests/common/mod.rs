//! What several test files share.

use std::path::PathBuf;

/// The `.deriv` scripts in a folder of the repository, in name order.
#[allow(dead_code)]
pub fn scripts(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deriv"))
        .collect();
    v.sort();
    v
}

/// A property test's configuration: `cases` cases from a fixed seed, so
/// that every run tests the same cases; `PROPTEST_RNG_SEED` and
/// `PROPTEST_CASES` explore further.
#[allow(dead_code)]
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    let mut c = proptest::test_runner::Config::with_cases(cases);
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = proptest::test_runner::RngSeed::Fixed(0x0de1_7a11);
    }
    if let Some(n) = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        c.cases = n;
    }
    c
}

/// Each printed result of a key as an `expect` line, with its request's
/// assumptions: pasted back, every one must be proven. (A claim about
/// `macs(v)` has no syntax of its own, so counts of MACs are left out.)
#[allow(dead_code)]
pub fn pasted(key: &deriv::key::AnswerKey) -> Vec<String> {
    pasted_with(key, false)
}

/// Every step of every derivation in a key (see [`pasted`]) as an
/// `expect` line: with the request's assumptions where the step has them
/// substituted, without them before.
#[allow(dead_code)]
pub fn pasted_steps(key: &deriv::key::AnswerKey) -> Vec<String> {
    pasted_with(key, true)
}

fn pasted_with(key: &deriv::key::AnswerKey, steps: bool) -> Vec<String> {
    use deriv::key::Lhs;
    use deriv::model::RequestKind;
    use deriv::print::{lhs_plain, rhs_plain};
    let m = &key.model;
    let mut out = Vec::new();
    for a in &key.answers {
        let req = &m.requests[a.request];
        let (assuming, sums) = match &req.kind {
            RequestKind::Adjoints { assuming, sums } | RequestKind::Grad { assuming, sums, .. } => {
                (assuming.clone(), sums.clone())
            }
            RequestKind::Expect { .. } => continue,
            _ => (Vec::new(), Vec::new()),
        };
        let parts: Vec<String> = assuming
            .iter()
            .map(|x| {
                format!(
                    "{} = {}",
                    m.symbols.ref_text(&x.target),
                    deriv::print::plain::expr(&m.symbols, &x.value)
                )
            })
            .chain(sums.iter().map(|s| {
                format!(
                    "sum({}) = {}",
                    m.symbols.ref_text(&m.plain_ref(s.var)),
                    s.value
                )
            }))
            .collect();
        let tail = if parts.is_empty() {
            String::new()
        } else {
            format!(" assuming {}", parts.join(", "))
        };
        // A partial inverse's implicit equations are not claims about a
        // derived value.
        let implicit = a
            .notes
            .iter()
            .any(|n| matches!(n, deriv::key::Note::Implicit { .. }));
        for (k, d) in a.equations.iter().enumerate() {
            if matches!(d.lhs, Lhs::Macs(_)) {
                continue;
            }
            if implicit && matches!(&d.lhs, Lhs::Expr(e) if !is_plain_state(e)) {
                continue;
            }
            if !steps {
                out.push(format!(
                    "expect {} = {}{tail}",
                    lhs_plain(&d.lhs, &m.symbols),
                    rhs_plain(&d.rhs, &m.symbols)
                ));
                continue;
            }
            for st in a.steps.get(k).into_iter().flatten() {
                out.push(format!(
                    "expect {} = {}{}",
                    lhs_plain(&d.lhs, &m.symbols),
                    rhs_plain(&st.rhs, &m.symbols),
                    if st.assumed { tail.as_str() } else { "" }
                ));
            }
        }
    }
    out
}

/// Whether an inverse equation's left side is a previous value (`theta[k]`),
/// not a next one (`p[k+1]`, the left side of an implicit equation).
fn is_plain_state(e: &egg::RecExpr<deriv::ir::Node>) -> bool {
    use deriv::ir::{Ix, Leaf, Node};
    matches!(e.as_ref().last(), Some(Node::Leaf(Leaf::Var(r))) if r.at.iter().all(|ix| matches!(ix, Ix::Rel(_, 0))))
}
