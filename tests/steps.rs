//! Worked steps (`with steps`, `--steps`): every step of every example's
//! derivations holds numerically, a wrong step is caught, steps change no
//! result, and each kind of request shows the steps a person writes.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use deriv::diag::Source;
use deriv::key::{AnswerKey, Rhs};
use deriv::print::{render, Format, PrintOptions};
use deriv::Options;
use std::process::Command;

fn key(path: &str, steps: bool) -> AnswerKey {
    let text = std::fs::read_to_string(path).unwrap();
    let options = Options {
        steps,
        ..Options::default()
    };
    deriv::run(&Source::new(path, text), &options).unwrap().key
}

fn key_of(text: &str, steps: bool) -> AnswerKey {
    let options = Options {
        steps,
        ..Options::default()
    };
    deriv::run(&Source::new("t.deriv", text), &options)
        .unwrap()
        .key
}

/// `deriv verify --steps` passes on every example, claim file and fixture
/// (a claim's steps under an assumption are checked on the forward values
/// computed under it), and checks steps.
#[test]
fn every_step_of_every_example_verifies() {
    let dirs = ["derivations", "tests/claims", "tests/cells", "tests/maps"];
    for path in dirs.into_iter().flat_map(common::scripts) {
        let out = Command::new(env!("CARGO_BIN_EXE_deriv"))
            .args(["verify", "--steps"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{}:\n{text}", path.display());
        assert!(text.contains(" 0 failed"), "{}:\n{text}", path.display());
        let k = key(path.to_str().unwrap(), true);
        assert!(!k.failed_self_check(), "{}", path.display());
        let steps: usize = k
            .answers
            .iter()
            .map(|a| a.steps.iter().map(Vec::len).sum::<usize>())
            .sum();
        if steps > 0 {
            assert!(text.contains(", step 1"), "{}:\n{text}", path.display());
        }
    }
}

/// A step that does not hold fails `verify` and the self-check, and is
/// named as a step.
#[test]
fn a_wrong_step_is_caught() {
    let lstm = key("derivations/lstm.deriv", true);
    let mut k = lstm.clone();
    // The first step of bar(c[t]) replaced by the right side of bar(g[t]).
    let a = &mut k.answers[0];
    let c = a
        .equations
        .iter()
        .position(|d| deriv::print::lhs_plain(&d.lhs, &lstm.model.symbols) == "bar(c[t])")
        .unwrap();
    let g = a
        .equations
        .iter()
        .position(|d| deriv::print::lhs_plain(&d.lhs, &lstm.model.symbols) == "bar(g[t])")
        .unwrap();
    assert!(!a.steps[c].is_empty());
    a.steps[c][0].rhs = a.equations[g].rhs.clone();
    let checks = deriv::verify::verify_all(&k);
    let failed: Vec<_> = checks.iter().filter(|c| !c.passed).collect();
    assert_eq!(failed.len(), 1, "{checks:?}");
    assert_eq!(failed[0].what, "bar(c[t]), step 1");
    let found = deriv::verify::self_check(&k, &deriv::Limits::default());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].1.what.contains("step 1"), "{found:?}");
    // The untouched key passes both.
    assert!(deriv::verify::verify_all(&lstm).iter().all(|c| c.passed));
    assert!(deriv::verify::self_check(&lstm, &deriv::Limits::default()).is_empty());
}

/// Asking for steps changes no result, and without them no answer has
/// any: every example's results are the same either way.
#[test]
fn steps_change_no_result() {
    for path in common::scripts("derivations") {
        let p = path.to_str().unwrap();
        let with = key(p, true);
        let text = std::fs::read_to_string(p)
            .unwrap()
            .replace(" with steps", "");
        let without = deriv::run(&Source::new(p, text), &Options::default())
            .unwrap()
            .key;
        assert!(without.answers.iter().all(|a| a.steps.is_empty()), "{p}");
        for (a, b) in with.answers.iter().zip(&without.answers) {
            if a.verdict.is_some() {
                assert_eq!(a.verdict, b.verdict, "{p}");
                continue;
            }
            assert_eq!(a.equations, b.equations, "{p}");
        }
    }
}

/// Each step's last form is its result's right side, and steps are never
/// repeated lines.
#[test]
fn steps_end_at_the_result() {
    for path in common::scripts("derivations") {
        let k = key(path.to_str().unwrap(), true);
        let s = &k.model.symbols;
        for a in k.answers.iter().filter(|a| a.verdict.is_none()) {
            for (d, steps) in a.equations.iter().zip(&a.steps) {
                let Some(last) = steps.last() else { continue };
                let text = |r: &Rhs| deriv::print::rhs_plain(r, s);
                assert_eq!(text(&last.rhs), text(&d.rhs), "{}", path.display());
                for w in steps.windows(2) {
                    assert_ne!(text(&w[0].rhs), text(&w[1].rhs), "{}", path.display());
                }
                assert!(steps.iter().all(|st| !st.why.is_empty()));
            }
        }
    }
}

/// The adjoint of `c[t]` in an LSTM, step by step: the uses, the
/// derivative form, the identity that writes it with `tanh`.
#[test]
fn the_lstm_cell_state_reads_like_a_worked_solution() {
    let k = key("derivations/lstm.deriv", false);
    let text = render(&k, Format::Text, &PrintOptions::default());
    let want = "    bar(c[t])
      = bar(h[t]) .* o[t] .* tanh'(c[t]) + bar(c[t+1]) .* p[t+1]
          c[t] is used by h[t] and c[t+1]: the chain rule, one vector-Jacobian product per use, through .* and tanh
      = bar(h[t]) .* o[t] .* (1 - tanh(c[t])^2) + bar(c[t+1]) .* p[t+1]
          the derivative identity tanh'(u) = 1 - tanh(u)^2
";
    assert!(text.contains(want), "{text}");
    // Under assumptions (with `--steps`): the unassumed form, then the
    // assumptions substituted.
    let k = key("derivations/lstm.deriv", true);
    let text = render(&k, Format::Text, &PrintOptions::default());
    assert!(
        text.contains("assuming p[t] = 1, i[t] = 0 and o[t] = 0"),
        "{text}"
    );
}

/// Momentum's determinant: the block rule, then `det(c * A) = c^n det(A)`,
/// down to `beta^D`; its inverse isolates each value with the condition.
#[test]
fn momentum_shows_its_determinant_rules_and_isolation() {
    let k = key("derivations/momentum.deriv", false);
    let text = render(&k, Format::Text, &PrintOptions::default());
    for want in [
        "its two block rows end in the same block",
        "det(c * A) = c^n * det(A)",
        "      = beta^D\n",
        "is affine in p[k] with coefficient beta",
        "where beta is not zero",
        "the values solved above substituted: theta[k] = theta[k+1] - p[k+1]",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
}

/// The grid's counts give one term per parameter and per product; its
/// depth gives the schedule.
#[test]
fn counts_and_depth_show_their_terms_and_schedule() {
    let k = key("derivations/grid_rnn.deriv", false);
    let text = render(&k, Format::Text, &PrintOptions::default());
    for want in [
        "      = D*H + H^2 + H^2\n          the entries of each parameter",
        "W_W * h[i, j-1] (H^2)",
        "the schedule time = i + j + offset",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
}

/// Every format shows the steps: LaTeX an `align*` with `\text`, Markdown
/// a block per step, JSON `steps: [{rhs, latex, why}]`.
#[test]
fn every_format_shows_the_steps() {
    let k = key("derivations/momentum.deriv", false);
    let latex = render(&k, Format::Latex, &PrintOptions::default());
    assert!(latex.contains("Step by step:\n\\begin{align*}"), "{latex}");
    assert!(latex.contains("\\text{\\parbox"), "{latex}");
    let md = render(&k, Format::Markdown, &PrintOptions::default());
    assert!(md.contains("Step by step, `det(J)`:"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&render(&k, Format::Json, &PrintOptions::default())).unwrap();
    let steps = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["equations"].as_array().unwrap().iter())
        .filter_map(|e| e["steps"].as_array())
        .flatten()
        .collect::<Vec<_>>();
    assert!(!steps.is_empty());
    for st in steps {
        for field in ["rhs", "latex", "why"] {
            assert!(st[field].as_str().is_some_and(|s| !s.is_empty()), "{st}");
        }
    }
}

const LSTM: &str = "dim D, H\nindex t\ninput x[t] : D\n\
param W_ix, W_px, W_ox, W_gx : H x D\nparam W_ih, W_ph, W_oh, W_gh : H x H\n\
fn ell : H -> scalar\ninit h[0] = 0\ninit c[0] = 0\n\
i[t] = sigma(W_ix * x[t] + W_ih * h[t-1])\np[t] = sigma(W_px * x[t] + W_ph * h[t-1])\n\
o[t] = sigma(W_ox * x[t] + W_oh * h[t-1])\ng[t] = tanh(W_gx * x[t] + W_gh * h[t-1])\n\
c[t] = p[t] .* c[t-1] + i[t] .* g[t]\nh[t] = o[t] .* tanh(c[t])\nloss L = sum(t, ell(h[t]))\n";

/// A claim with steps: proven, the derivation ends at the claim; refuted,
/// a note names the use at which it parts from the derivation.
#[test]
fn a_claim_shows_where_it_parts_from_the_derivation() {
    let cases = [
        (
            "expect bar(c[t]) = bar(h[t]) .* o[t] .* tanh'(c[t]) + bar(c[t+1]) .* p[t] with steps",
            "by `c[t+1]`",
        ),
        (
            "expect bar(c[t]) = bar(h[t]) .* o[t] .* sigma'(c[t]) + bar(c[t+1]) .* p[t+1] with steps",
            "by `h[t]`",
        ),
        (
            "expect bar(c[t]) = bar(h[t]) .* o[t] .* tanh'(c[t]) with steps",
            "by `c[t+1]`",
        ),
    ];
    for (claim, want) in cases {
        let k = key_of(&format!("{LSTM}{claim}\n"), false);
        let text = render(&k, Format::Text, &PrintOptions::default());
        assert!(text.contains("REFUTED"), "{text}");
        assert!(
            text.contains(&format!("the claim parts from the derivation at step 1, in the terms for the use of `c[t]` {want}")),
            "{claim}\n{text}"
        );
    }
    let k = key_of(
        &format!("{LSTM}expect bar(c[t]) = bar(h[t]) .* o[t] .* tanh'(c[t]) + bar(c[t+1]) .* p[t+1] with steps\n"),
        false,
    );
    let text = render(&k, Format::Text, &PrintOptions::default());
    assert!(text.contains("proven"), "{text}");
    assert!(
        text.contains("the claim, equal to the form above"),
        "{text}"
    );
    assert!(deriv::verify::verify_all(&k).iter().all(|c| c.passed));
}

/// `with steps` reads after any request, assumptions included; a name
/// `with` elsewhere is still a name.
#[test]
fn with_steps_parses_after_every_request() {
    let k = key_of(
        &format!(
            "{LSTM}derive adjoints assuming p[t] = 1 with steps\nderive grad W_ix with steps\n"
        ),
        false,
    );
    assert!(k
        .answers
        .iter()
        .all(|a| a.steps.iter().any(|s| !s.is_empty())));
    let k = key_of(
        "dim D\ninput with : D\nparam W : D x D\nfn f : D -> scalar\ny = tanh(W * with)\nloss L = f(y)\nderive grad W\n",
        false,
    );
    assert!(k.answers[0].steps.is_empty());
}

/// With `--steps`, every script of the test folders is answered without a
/// self-check failure: each step holds where the self-check looks.
#[test]
fn every_test_script_with_steps_passes_the_self_check() {
    for dir in [
        "tests/claims",
        "tests/cells",
        "tests/maps",
        "tests/grading",
        "tests/repro",
    ] {
        for path in common::scripts(dir) {
            let text = std::fs::read_to_string(&path).unwrap();
            let options = Options {
                steps: true,
                ..Options::default()
            };
            if let Ok(run) = deriv::run(&Source::new(path.display().to_string(), text), &options) {
                let failed: Vec<_> = run
                    .key
                    .answers
                    .iter()
                    .filter_map(|a| a.failed.as_ref())
                    .collect();
                assert!(failed.is_empty(), "{}: {failed:?}", path.display());
            }
        }
    }
}
