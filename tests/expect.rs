//! `expect` decides claims correctly: in the grading example, each claim's
//! comment says whether the student was right, and the verdict must agree;
//! the exit status and the JSON `expects` follow the verdicts.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use deriv::diag::Source;
use deriv::key::Verdict;
use deriv::model::RequestKind;
use deriv::Options;
use std::process::Command;

#[test]
fn verdicts_match_the_grading_comments() {
    for path in [
        "derivations/lstm_grading.deriv",
        "tests/grading/relu_mistakes.deriv",
        "tests/grading/last_step_mistakes.deriv",
        "tests/grading/planar_flow_mistakes.deriv",
        "tests/grading/softmax_mistakes.deriv",
        "tests/grading/adam_mistakes.deriv",
        "tests/grading/lstm_concat_mistakes.deriv",
        "tests/grading/layer_norm_mistakes.deriv",
        "tests/grading/batch_norm_mistakes.deriv",
        "tests/grading/attention_mistakes.deriv",
        "tests/grading/rmsprop_mistakes.deriv",
        "tests/grading/encoder_decoder_mistakes.deriv",
        "tests/grading/bidirectional_rnn_mistakes.deriv",
        "tests/grading/deep_mlp_mistakes.deriv",
        "tests/grading/realnvp_mistakes.deriv",
    ] {
        grading_comments_hold(path);
    }
}

/// Each claim of a graded script is preceded by a comment saying `right`
/// or `wrong`: the verdict must agree.
fn grading_comments_hold(path: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let run = deriv::run(&Source::new(path, text.clone()), &Options::default()).unwrap();
    assert!(run.problems.is_empty());
    let mut seen = 0;
    for a in &run.key.answers {
        let req = &run.key.model.requests[a.request];
        let RequestKind::Expect { .. } = req.kind else {
            continue;
        };
        // The comment block just above the claim (it may wrap).
        let comment = lines[..req.line - 1]
            .iter()
            .rev()
            .take_while(|l| l.starts_with('#'))
            .last()
            .copied()
            .unwrap_or("");
        let verdict = a.verdict.as_ref().unwrap();
        if comment.contains("right") {
            assert_eq!(verdict, &Verdict::Proven, "line {}: {comment}", req.line);
        } else if comment.contains("wrong") {
            assert!(
                matches!(verdict, Verdict::Refuted { .. }),
                "line {}: {comment}: {verdict:?}",
                req.line
            );
        } else {
            panic!("line {}: no verdict in the comment", req.line);
        }
        seen += 1;
    }
    assert!(seen >= 6, "{path}: {seen} claims");
}

fn deriv(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_deriv"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn exit_status_and_json_follow_the_verdicts() {
    let (code, _) = deriv(&["run", "derivations/lstm.deriv"]);
    assert_eq!(code, 0);
    let (code, json) = deriv(&["run", "derivations/lstm_grading.deriv", "--format", "json"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let expects = doc["expects"].as_array().unwrap();
    assert_eq!(expects.len(), 8);
    for e in expects {
        let holds = e["holds"].as_bool().unwrap();
        let how = e["how"].as_str().unwrap();
        assert!(e["line"].as_u64().is_some());
        assert_eq!(holds, how == "proof", "{e}");
        assert!(["proof", "refuted", "numeric"].contains(&how));
    }
    assert!(expects.iter().any(|e| e["how"] == "refuted"));
}

fn verdicts(text: &str) -> Vec<Verdict> {
    let run = deriv::run(&Source::new("<test>", text), &Options::default()).unwrap();
    assert!(run.problems.is_empty());
    run.key
        .answers
        .iter()
        .filter_map(|a| a.verdict.clone())
        .collect()
}

/// A claim may write an adjoint out as its derived equation (`grad ell(y)`
/// for `bar(y)`): the proof uses the adjoint equations, one level deep, and
/// such a proof is checked against the true adjoint values.
#[test]
fn claims_that_expand_an_adjoint_are_proven() {
    let text = "dim D, H, K
input x : D
param W1 : H x D
param W2 : K x H
fn ell : K -> scalar
h1 = tanh(W1 * x)
y = W2 * h1
loss L = ell(y) + 1/2 * h1^T * h1
derive adjoints
expect bar(W2) = grad ell(y) * h1^T
expect bar(h1) = W2^T * grad ell(y) + h1
expect bar(W1) = ((W2^T * grad ell(y) + h1) .* (1 - h1 .* h1)) * x^T
expect bar(W2) = grad ell(y) * (W1 * x)^T
expect bar(h1) = W2^T * grad ell(y)
";
    let v = verdicts(text);
    assert_eq!(v.len(), 5);
    for (k, verdict) in v.iter().enumerate().take(3) {
        assert_eq!(verdict, &Verdict::Proven, "claim {k}: {verdict:?}");
    }
    for (k, verdict) in v.iter().enumerate().skip(3) {
        assert!(
            matches!(verdict, Verdict::Refuted { .. }),
            "claim {k}: {verdict:?}"
        );
    }
}

/// The same across time: `bar(y[t+1])` in a claim is the equation of
/// `bar(y[t])` shifted to `t+1`.
#[test]
fn expanded_adjoints_are_shifted_to_their_index() {
    let text = "dim D, H
index t
input x[t] : D
param A : H x D
param B : H x H
fn ell : H -> scalar
init h[0] = 0
h[t] = tanh(A * x[t] + B * h[t-1])
y[t] = 2 * h[t]
loss L = sum(t, ell(y[t]))
derive adjoints
expect bar(h[t]) = 2 * grad ell(y[t]) + B^T * (bar(h[t+1]) .* (1 - h[t+1]^2))
expect bar(h[t]) = 2 * grad ell(y[t+1]) + B^T * (bar(h[t+1]) .* (1 - h[t+1]^2))
";
    let v = verdicts(text);
    assert_eq!(v[0], Verdict::Proven, "{:?}", v[0]);
    assert!(matches!(v[1], Verdict::Refuted { .. }), "{:?}", v[1]);
}

/// A request that cannot be answered stays in the key, in every format,
/// with its reason; a claim that needs it is "not checked", never dropped;
/// the rest of the key is complete and the run exits 2.
#[test]
fn unanswered_requests_stay_in_the_key() {
    let text = "dim D\nindex k\nparam eps : scalar\nfn F : D -> scalar\n\
                theta[k+1] = theta[k] - eps * grad F(theta[k])\n\
                derive inverse\n\
                derive J = jacobian (theta[k+1]) wrt (theta[k])\n\
                expect theta[k] = theta[k+1]\n";
    let source = Source::new("descent.deriv", text);
    let run = deriv::run(&source, &Options::default()).unwrap();
    assert_eq!(run.key.answers.len(), 3, "every request is in the key");
    assert!(run.key.answers[0].refused.is_some());
    assert!(
        !run.key.answers[1].equations.is_empty(),
        "the Jacobian is answered"
    );
    assert!(run.key.answers[2].refused.is_some());
    let render = |f| deriv::print::render(&run.key, f, &Default::default());
    let plain = render(deriv::print::Format::Text);
    assert!(
        plain.contains("  not answered: the previous state cannot be solved for"),
        "{plain}"
    );
    assert!(
        plain.contains("  NOT CHECKED: this request needs a result"),
        "{plain}"
    );
    assert!(plain.contains("    hint: "), "{plain}");
    let md = render(deriv::print::Format::Markdown);
    assert!(md.contains("**not answered: the previous state"), "{md}");
    let tex = render(deriv::print::Format::Latex);
    assert!(
        tex.contains("\\textbf{Not answered}: the previous state"),
        "{tex}"
    );
    assert!(
        tex.contains("\\textbf{Not checked}: this request needs"),
        "{tex}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&render(deriv::print::Format::Json)).unwrap();
    assert_eq!(json["expects"][0]["how"], "not checked", "{json}");
    assert_eq!(json["results"][0]["equations"], serde_json::json!([]));
    assert!(json["results"][0]["not_answered"]["message"]
        .as_str()
        .unwrap()
        .starts_with("the previous state"));
    let out = Command::new(env!("CARGO_BIN_EXE_deriv"))
        .args(["run", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not answered"));
}

/// A gradient written with an adjoint whose own equation cannot be derived
/// says so, in a note: the reader is not left with `bar(h[k+1])` as if the
/// key had given it.
#[test]
fn a_gradient_names_an_adjoint_it_cannot_give() {
    let text = "dim H\nindex k\nparam b : H\nfn ell : H -> scalar\ninit h[1] = 0\n\
                h[k+1] = tanh(h[k] + b)\nloss L = sum(k, ell(h[k]))\nderive grad b\n";
    let source = Source::new("update.deriv", text);
    let run = deriv::run(&source, &Options::default()).unwrap();
    assert!(run.problems.is_empty());
    let plain = deriv::print::render(&run.key, deriv::print::Format::Text, &Default::default());
    assert!(
        plain.contains("bar(b) = sum(k, bar(h[k+1]) .* (1 - h[k+1]^2))"),
        "{plain}"
    );
    assert!(
        plain.contains("note: this is exact in terms of `bar(h[k+1])` but that adjoint's own equation could not be derived"),
        "{plain}"
    );
    let json = deriv::print::render(&run.key, deriv::print::Format::Json, &Default::default());
    assert!(json.contains("\"kind\": \"adjoint_not_derived\""), "{json}");
}

/// A value an `init` sets is named by it only where that `init` is the one
/// that sets it for every value of the dims.
#[test]
fn an_init_names_the_values_it_alone_sets() {
    use deriv::ir::{Ix, Ref};
    let text = "dim D, G
index i, j in 1..G
param W : D x D
param a, c : D
fn F : D -> scalar
init h[i, 0] = a
init h[0, j] = c
h[i, j] = tanh(W * h[i-1, j] + W * h[i, j-1])
loss L = F(h[G, G])
";
    let m = deriv::run(&Source::new("init.deriv", text), &Options::default())
        .unwrap()
        .key
        .model;
    let h = m.vars.iter().position(|v| v.name == "h").unwrap() as u32;
    let (i, j) = (0, 1);
    let at = |x: Ix, y: Ix| Ref {
        var: h,
        at: vec![x, y].into(),
    };
    let value = |r: &Ref| {
        m.init_of(r)
            .map(|init| deriv::ir::text::expr(&m.symbols, &init.value))
    };
    // `h[1, 0]` is set by the first, `h[0, 2]` by the second.
    assert_eq!(value(&at(Ix::Abs(1), Ix::Abs(0))).as_deref(), Some("a"));
    assert_eq!(value(&at(Ix::Abs(0), Ix::Abs(2))).as_deref(), Some("c"));
    // `h[0, 0]` fits both; `h[G, 0]` and `h[i+1, 0]` are not known to be
    // clear of the second; `h[i-1, j]` is set only at `i = 1`.
    assert_eq!(value(&at(Ix::Abs(0), Ix::Abs(0))), None);
    assert_eq!(value(&at(Ix::End(i, 0), Ix::Abs(0))), None);
    assert_eq!(value(&at(Ix::Rel(i, 1), Ix::Abs(0))), None);
    assert_eq!(value(&at(Ix::Rel(i, -1), Ix::Rel(j, 0))), None);
    assert_eq!(value(&at(Ix::Rel(i, 0), Ix::Rel(j, 0))), None);
}

/// An assumed constant (`h[t] = 0`) holds at a value before the start
/// (`h[t-1]` at `t = 1`) only where every `init` of the variable sets that
/// constant too.
#[test]
fn an_assumed_constant_reaches_the_start_only_where_inits_agree() {
    let script = |init: &str| {
        format!(
            "dim D, H, T
index t in 1..T
input x[t] : D
param U : H x D
param W : H x H
fn ell : H -> scalar
init h[0] = {init}
h[t] = tanh(W * h[t-1] + U * x[t])
loss L = sum(t, ell(h[t]))
derive adjoints
expect bar(W) = 0 assuming h[t] = 0
"
        )
    };
    assert_eq!(verdicts(&script("0")), vec![Verdict::Proven]);
    // `h[0]` is a parameter: `bar(W)` keeps the term of `t = 1`.
    let text = script("h0").replace("param W : H x H", "param W : H x H\nparam h0 : H");
    assert!(!matches!(verdicts(&text)[0], Verdict::Proven));
}

/// A cell state carried back only by its own next value vanishes under an
/// output gate held shut, by induction from the last step back; with a
/// loss that reads the last cell value, it does not.
#[test]
fn adjoints_that_vanish_together_are_found_only_where_they_do() {
    let script = |loss: &str| {
        format!(
            "dim D, H, T
index t in 1..T
input x[t] : D
param W : H x D
param U : H x D
fn ell : H -> scalar
fn m : H -> scalar
init c[0] = 0
o[t] = sigma(W * x[t])
c[t] = c[t-1] + tanh(U * x[t])
h[t] = o[t] .* tanh(c[t])
loss L = {loss}
derive adjoints assuming o[t] = 0
expect bar(c[t]) = 0 assuming o[t] = 0
expect bar(U) = 0 assuming o[t] = 0
expect bar(c[t]) = bar(c[t+1]) assuming o[t] = 0
"
        )
    };
    let kinds = |text: &str| -> Vec<&'static str> {
        verdicts(text)
            .iter()
            .map(|v| match v {
                Verdict::Proven => "proven",
                Verdict::Refuted { .. } => "refuted",
                Verdict::NotProven { .. } => "not proven",
            })
            .collect()
    };
    let shut = script("sum(t, ell(h[t]))");
    assert_eq!(kinds(&shut), ["proven", "proven", "proven"]);
    let run = deriv::run(&Source::new("<test>", &shut), &Options::default()).unwrap();
    let text = deriv::print::render(&run.key, deriv::print::Format::Text, &Default::default());
    assert!(text.contains("  bar(c[t]) = 0\n"), "{text}");
    // The last cell value reaches the loss by another path: `bar(c[T])`
    // is not zero, and neither is any earlier one.
    let read = script("sum(t, ell(h[t])) + m(c[T])");
    assert_eq!(kinds(&read), ["refuted", "refuted", "proven"]);
}

/// A counterexample is a point where the claim reads only values the
/// model computes, where there is one; where the claim is refuted only at
/// a step where it reads a value the model does not compute (`a[0]`), the
/// counterexample names that value.
#[test]
fn counterexamples_name_values_the_model_does_not_compute() {
    let model = "dim D, H, K, T
index t in 1..T
input x[t] : D
input y[t] : K
param W : H x H
param U : H x D
param V : K x H
param c : K
init h[0] = 0
a[t] = W * h[t-1] + U * x[t]
h[t] = relu(a[t])
o[t] = V * h[t] + c
loss L = sum(t, (o[t] - y[t])^T * (o[t] - y[t])) / 2
";
    let counterexample = |claim: &str| {
        let text = format!("{model}{claim}\n");
        let run = deriv::run(&Source::new("c.deriv", text), &Options::default()).unwrap();
        match run.key.answers.last().unwrap().verdict.clone().unwrap() {
            Verdict::Refuted { counterexample, .. } => counterexample,
            other => panic!("{claim}: {other:?}"),
        }
    };
    // Wrong at every step: shown where `a[t-1]` is computed.
    let wrong = counterexample("expect bar(a[t]) = step(a[t-1]) .* bar(h[t])");
    assert!(!wrong.contains("t = 1 "), "{wrong}");
    assert!(!wrong.contains("does not compute"), "{wrong}");
    // Right wherever it reads computed values: `a[t-1] - W * h[t-2] - U
    // * x[t-1]` is zero from `t = 2` on, but reads `a[0]` and `h[-1]` at
    // `t = 1`.
    let given =
        counterexample("expect bar(o[t]) = o[t] - y[t] + V * (a[t-1] - W * h[t-2] - U * x[t-1])");
    assert!(given.contains("t = 1 "), "{given}");
    assert!(
        given.contains("reads `a[0]` and `h[-1]`, which the model does not compute"),
        "{given}"
    );
}
