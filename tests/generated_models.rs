//! Whole scripts generated at random, and every result deriv gives for them
//! checked against an independent numeric truth: recurrences with offsets
//! of one, two and three steps back and one ahead (with the boundary value
//! past the end), equations written one step ahead (`h[k+1] = f(h[k])`
//! with `init h[1]`), boundary values that are parameters, equations
//! without their index's variable used at offsets, parameters with one
//! value per step (`W[t]`), a softmax classifier with adjoints under an
//! assumed sum of its target, scalar factors and
//! subtracted sums, assumptions with the values 0 and 1, grids with
//! diagonal neighbours, update maps whose blocks have dims of different
//! sizes, and update maps of three states of one size (determinants by
//! block elimination). For each script: it checks, no result fails the self-check,
//! `verify` passes every result, and every printed result, pasted back as
//! an `expect`, is proven.
//!
//! The cases come from a fixed seed (see `common::proptest_config`);
//! `PROPTEST_CASES` and `PROPTEST_RNG_SEED` explore further. A failure
//! prints the script.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use deriv::diag::{Diagnostics, Source};
use deriv::key::Verdict;
use deriv::print::{render, Format, PrintOptions};
use deriv::Options;
use proptest::prelude::*;
use std::fmt::Write as _;

/// Choices read off a tape of bytes: shrinking the tape towards zeros makes
/// the script simpler.
struct Tape<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Tape<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b as usize % n.max(1)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.pick(100) < percent
    }
}

/// A variable of a sequence model.
struct Var {
    name: String,
    dim: &'static str,
    /// The offset of its left side: `v[t+1] = ...` is 1.
    ahead: i64,
    /// Whether its equation reads its own value one step later.
    backward: bool,
}

const DIMS: [&str; 2] = ["D", "E"];

fn offset_text(o: i64) -> String {
    match o {
        0 => "t".to_owned(),
        o if o > 0 => format!("t+{o}"),
        o => format!("t-{}", -o),
    }
}

/// Declarations collected while the equations are written.
#[derive(Default)]
struct Decls {
    params: Vec<(String, String)>,
    fns: Vec<(String, &'static str)>,
    /// Vector-valued functions, each of one size's vectors to themselves.
    vfns: Vec<(String, &'static str)>,
}

impl Decls {
    fn param(&mut self, name: String, shape: String) -> String {
        if !self.params.iter().any(|(n, _)| *n == name) {
            self.params.push((name.clone(), shape));
        }
        name
    }

    fn vfunc(&mut self, dim: &'static str) -> String {
        let name = format!("G{dim}");
        if !self.vfns.iter().any(|(n, _)| *n == name) {
            self.vfns.push((name.clone(), dim));
        }
        name
    }

    fn func(&mut self, dim: &'static str) -> String {
        let name = format!("F{dim}");
        if !self.fns.iter().any(|(n, _)| *n == name) {
            self.fns.push((name.clone(), dim));
        }
        name
    }
}

/// One term of the right side of variable `i` (of size `dim`).
fn term(t: &mut Tape<'_>, vars: &[Var], i: usize, decls: &mut Decls, depth: usize) -> String {
    let me = &vars[i];
    let dim = me.dim;
    let choice = if depth > 1 { t.pick(3) } else { t.pick(12) };
    match choice {
        0 => {
            // A weight shared by every step, or one per step (`W[t]`),
            // read at the equation's own step.
            if t.chance(30) {
                let w = decls.param(format!("Wt{}{dim}[t]", i), format!("{dim} x D"));
                format!("{w} * x[t]")
            } else {
                let w = decls.param(format!("W{}{dim}", i), format!("{dim} x D"));
                format!("{w} * x[t]")
            }
        }
        1 | 2 => {
            // A value of a variable: another at its own step or earlier, or
            // this one earlier (or, for a backward recurrence, later).
            // A recurrence that runs backwards reads only itself: reading
            // an earlier value of another variable that reads it would
            // make a cycle (the checker refuses those).
            let j = if me.backward { i } else { t.pick(vars.len()) };
            let o: i64 = if j == i {
                if me.backward {
                    1
                } else {
                    -1 - t.pick(3) as i64
                }
            } else if j < i {
                -(t.pick(3) as i64)
            } else {
                -1 - t.pick(2) as i64
            };
            let o = o + me.ahead;
            let src = &vars[j];
            let u = decls.param(format!("U{}{}", i, j), format!("{dim} x {}", src.dim));
            format!("{u} * {}[{}]", src.name, offset_text(o))
        }
        3 if t.chance(25) => decls.param(format!("bt{}{dim}[t]", i), dim.to_owned()),
        3 => decls.param(format!("b{}{dim}", i), dim.to_owned()),
        4 => {
            // A scalar factor: an inner product times a term.
            let j = if me.backward {
                i
            } else {
                t.pick(vars.len().min(i + 1))
            };
            let src = &vars[j];
            let p = decls.param(format!("p{}{}", i, j), src.dim.to_owned());
            let o = match (j == i, me.backward) {
                (true, true) => 1,
                (true, false) => -1 + me.ahead,
                (false, _) => me.ahead.min(0),
            };
            let inner = term(t, vars, i, decls, depth + 1);
            format!("({p}^T * {}[{}]) * ({inner})", src.name, offset_text(o))
        }
        5 => {
            // A subtracted sum.
            let a = term(t, vars, i, decls, depth + 1);
            let b = term(t, vars, i, decls, depth + 1);
            let c = term(t, vars, i, decls, depth + 1);
            format!("{a} - ({b} + {c})")
        }
        6 => {
            let a = term(t, vars, i, decls, depth + 1);
            let b = term(t, vars, i, decls, depth + 1);
            format!("({a}) .* sigma({b})")
        }
        7 => {
            let s = decls.param("s".to_owned(), "scalar".to_owned());
            let a = term(t, vars, i, decls, depth + 1);
            format!("{s} * ({a})")
        }
        9 => {
            // An activation of the table beyond sigma and tanh.
            const ACTS: [&str; 8] = [
                "relu",
                "softplus",
                "silu",
                "gelu",
                "elu",
                "softsign",
                "leaky_relu",
                "gelu_tanh",
            ];
            let a = term(t, vars, i, decls, depth + 1);
            // Or a vector-valued function left abstract.
            let k = t.pick(ACTS.len() + 1);
            match ACTS.get(k) {
                Some(act) => format!("{act}({a})"),
                None => format!("{}({a})", decls.vfunc(dim)),
            }
        }
        10 => {
            // An elementwise quotient by a positive value.
            let a = term(t, vars, i, decls, depth + 1);
            let b = term(t, vars, i, decls, depth + 1);
            format!("({a}) ./ (1 + exp({b}))")
        }
        11 => {
            // Sums of entries: a softmax, or a mean as a scalar factor.
            let a = term(t, vars, i, decls, depth + 1);
            if t.chance(50) {
                format!("softmax({a})")
            } else {
                let b = term(t, vars, i, decls, depth + 1);
                format!("mean(tanh({a})) * ({b})")
            }
        }
        _ => {
            let a = term(t, vars, i, decls, depth + 1);
            format!("tanh({a})")
        }
    }
}

/// A sequence model: variables over `t`, a loss, adjoints and gradients.
fn sequence(t: &mut Tape<'_>) -> String {
    let ranged = t.chance(50);
    let n = 1 + t.pick(3);
    let mut vars: Vec<Var> = Vec::new();
    for k in 0..n {
        let backward = ranged && k == 0 && t.chance(30);
        vars.push(Var {
            name: format!("v{k}"),
            dim: DIMS[t.pick(2)],
            ahead: if !backward && t.chance(25) { 1 } else { 0 },
            backward,
        });
    }
    let mut decls = Decls::default();
    let mut body = String::new();
    let mut inits = String::new();
    for (i, v) in vars.iter().enumerate() {
        let lhs = format!("{}[{}]", v.name, offset_text(v.ahead));
        // An equation without its index's variable, sometimes.
        let rhs = if t.chance(10) {
            let b = decls.param(format!("c{i}"), v.dim.to_owned());
            format!("tanh({b})")
        } else {
            let k = 1 + t.pick(3);
            let terms: Vec<String> = (0..k).map(|_| term(t, &vars, i, &mut decls, 0)).collect();
            match t.pick(3) {
                0 => format!("tanh({})", terms.join(" + ")),
                1 => format!("sigma({})", terms.join(" + ")),
                _ => terms.join(" + "),
            }
        };
        let _ = writeln!(body, "{lhs} = {rhs}");
        // Boundary values: zero, a parameter (learned), or none (given).
        let first = 1 + v.ahead;
        if v.backward {
            let _ = writeln!(inits, "init {}[T+1] = 0", v.name);
        } else {
            for back in 1..=3 {
                let at = first - back;
                match t.pick(3) {
                    0 => {
                        let _ = writeln!(inits, "init {}[{at}] = 0", v.name);
                    }
                    1 => {
                        let p = decls.param(format!("{}0{}", v.name, -at + 1), v.dim.to_owned());
                        let _ = writeln!(inits, "init {}[{at}] = {p}", v.name);
                    }
                    _ => {}
                }
            }
        }
    }
    // The loss: functions of some values over the range, a regulariser.
    let mut terms = Vec::new();
    for v in &vars {
        if terms.is_empty() || t.chance(50) {
            let f = decls.func(v.dim);
            terms.push(format!("{f}({}[{}])", v.name, offset_text(v.ahead)));
        }
    }
    let mut loss = format!("sum(t, {})", terms.join(" + "));
    // A loss at fixed steps besides (the last, the first, the one before
    // the last), sometimes through a read-out value.
    let mut readout = String::new();
    if ranged && t.chance(40) {
        let v = &vars[t.pick(vars.len())];
        // The last value `v` computes, the one before, and its first.
        let (last, before, first) = if v.ahead == 1 {
            ("T+1", "T", "2")
        } else {
            ("T", "T-1", "1")
        };
        let steps: Vec<&str> = match t.pick(5) {
            0 => vec![last],
            1 => vec![first],
            2 => vec![before],
            3 => vec![last, first],
            _ => vec![last, before],
        };
        for step in steps {
            let f = decls.func(v.dim);
            if t.chance(50) {
                loss = format!("{loss} + {f}({}[{step}])", v.name);
            } else {
                let name = format!("o{}", readout.lines().count());
                let p = decls.param(format!("P{name}"), format!("{} x {}", v.dim, v.dim));
                let _ = writeln!(readout, "{name} = tanh({p} * {}[{step}])", v.name);
                loss = format!("{loss} + {f}({name})");
            }
        }
    }
    if t.chance(30) {
        let r = decls.param("r".to_owned(), "D".to_owned());
        loss = format!("1/2 * {r}^T * {r} + {loss}");
    }
    let mut out = String::new();
    let _ = writeln!(out, "dim D, E{}", if ranged { ", T" } else { "" });
    let _ = writeln!(out, "index t{}", if ranged { " in 1..T" } else { "" });
    let _ = writeln!(out, "input x[t] : D");
    for (p, s) in &decls.params {
        let _ = writeln!(out, "param {p} : {s}");
    }
    for (f, d) in &decls.fns {
        let _ = writeln!(out, "fn {f} : {d} -> scalar");
    }
    for (f, d) in &decls.vfns {
        let _ = writeln!(out, "fn {f} : {d} -> {d}");
    }
    out.push_str(&inits);
    out.push_str(&body);
    out.push_str(&readout);
    let _ = writeln!(out, "loss L = {loss}");
    let _ = writeln!(out, "derive adjoints");
    for (p, _) in &decls.params {
        if t.chance(60) {
            let _ = writeln!(out, "derive grad {p}");
        }
    }
    if t.chance(40) {
        let v = &vars[t.pick(vars.len())];
        let value = if t.chance(50) { 0 } else { 1 };
        let _ = writeln!(out, "derive adjoints assuming {}[t] = {value}", v.name);
    }
    out
}

/// A grid: `h[i, j]` from its west and north neighbours, and a diagonal one.
fn grid(t: &mut Tape<'_>) -> String {
    let diagonal = match t.pick(3) {
        0 => None,
        1 => Some("h[i-1, j-1]"),
        _ => Some("h[i-1, j+1]"),
    };
    let learned = t.chance(40);
    let mut out =
        String::from("dim H, G\nindex i, j in 1..G\ninput x[i, j] : H\nparam W, U, V, Z : H x H\n");
    if learned {
        out.push_str("param b : H\n");
    }
    out.push_str("fn F : H -> scalar\n");
    let edge = if learned { "b" } else { "0" };
    let _ = writeln!(out, "init h[0, j] = 0\ninit h[i, 0] = {edge}");
    if diagonal == Some("h[i-1, j+1]") && t.chance(50) {
        out.push_str("init h[i, G+1] = 0\n");
    }
    let extra = diagonal.map_or(String::new(), |d| format!(" + Z * {d}"));
    let act = if t.chance(50) { "tanh" } else { "sigma" };
    let _ = writeln!(
        out,
        "h[i, j] = {act}(W * x[i, j] + U * h[i-1, j] + V * h[i, j-1]{extra})"
    );
    out.push_str("loss L = sum(i, sum(j, F(h[i, j])))\nderive adjoints\nderive grad W\n");
    if learned {
        out.push_str("derive grad b\n");
    }
    out.push_str("count params\ndepth h[i, j]\n");
    out
}

/// An update map over two states of different dims.
fn update_map(t: &mut Tape<'_>) -> String {
    let mut out = String::from(
        "dim D, E\nindex k\nparam A : D x E\nparam B : E x D\nparam C : D x D\nparam a, c : scalar\nparam q : D\n",
    );
    let x = match t.pick(4) {
        0 => "x[k+1] = a * x[k] + A * y[k]",
        1 => "x[k+1] = x[k] - c * (C * x[k] + A * tanh(y[k]))",
        2 => "x[k+1] = x[k] + q * tanh(q^T * x[k] + c)",
        _ => "x[k+1] = C * x[k]",
    };
    let y = match t.pick(4) {
        0 => "y[k+1] = y[k] + B * tanh(x[k+1])",
        1 => "y[k+1] = a * y[k] - B * x[k]",
        2 => "y[k+1] = y[k]",
        _ => "y[k+1] = y[k] .* exp(B * x[k])",
    };
    let _ = writeln!(out, "{x}\n{y}");
    let order = if t.chance(50) {
        "(x[k+1], y[k+1]) wrt (x[k], y[k])"
    } else {
        "(y[k+1], x[k+1]) wrt (x[k], y[k])"
    };
    let _ = writeln!(out, "derive J = jacobian {order}\nderive det(J)");
    if y == "y[k+1] = y[k]" {
        // A pass-through state whose shape its uses may not fix.
        out = out.replacen("param q : D\n", "param q : D\nstate y[k] : E\n", 1);
    }
    out
}

/// An update map over three states of one dim: blocks that are scalar
/// multiples of the identity, of one another or of nothing, for the
/// determinant's block elimination (pivots on and off the diagonal, by
/// rows and by columns).
fn square_update_map(t: &mut Tape<'_>) -> String {
    let mut out = String::from(
        "dim D\nindex k\nparam C : D x D\nparam a, c : scalar\nstate x[k], y[k], z[k] : D\n",
    );
    // Blocks that are scalar identities, multiples of one another,
    // diagonal (elementwise products) or general.
    let x = match t.pick(5) {
        0 => "x[k+1] = a * x[k] + c * y[k]",
        1 => "x[k+1] = x[k] - a * tanh(C * x[k]) + z[k]",
        2 => "x[k+1] = c * y[k]",
        3 => "x[k+1] = x[k] .* y[k] + c * z[k]",
        _ => "x[k+1] = x[k] + y[k] - C * z[k]",
    };
    let y = match t.pick(5) {
        0 => "y[k+1] = y[k] - x[k+1]",
        1 => "y[k+1] = a * y[k] + tanh(C * x[k])",
        2 => "y[k+1] = x[k]",
        3 => "y[k+1] = a * y[k] + x[k] .* z[k]",
        _ => "y[k+1] = c * z[k] - y[k]",
    };
    let z = match t.pick(5) {
        0 => "z[k+1] = z[k] + x[k+1] - y[k+1]",
        1 => "z[k+1] = a * z[k]",
        2 => "z[k+1] = tanh(C * y[k]) + c * z[k]",
        3 => "z[k+1] = tanh(y[k]) .* z[k] + a * x[k]",
        _ => "z[k+1] = z[k] .* exp(C * x[k])",
    };
    let _ = writeln!(out, "{x}\n{y}\n{z}");
    let of = match t.pick(3) {
        0 => "(x[k+1], y[k+1], z[k+1])",
        1 => "(z[k+1], x[k+1], y[k+1])",
        _ => "(y[k+1], z[k+1], x[k+1])",
    };
    let wrt = if t.chance(50) {
        "(x[k], y[k], z[k])"
    } else {
        "(y[k], x[k], z[k])"
    };
    let _ = writeln!(out, "derive J = jacobian {of} wrt {wrt}\nderive det(J)");
    out
}

/// A flow on one state: a scaled identity plus a rank-one update, through
/// inner products of the state with itself or a parameter, norms and
/// quotients by scalars that depend on the state (planar and radial
/// flows, normalisation), for the chain rule through them and the matrix
/// determinant lemma.
fn flow_map(t: &mut Tape<'_>) -> String {
    let mut out =
        String::from("dim D\nindex k\nparam q, u : D\nparam a, c : scalar\nstate z[k] : D\n");
    let scale = match t.pick(4) {
        0 => "z[k]",
        1 => "a * z[k]",
        2 => "z[k] / (1 + c^2)",
        _ => "-z[k]",
    };
    let update = match t.pick(11) {
        0 => "u * tanh(q^T * z[k] + c)",
        1 => "c / (1 + a^2 + r[k]) * (z[k] - q)",
        2 => "(q^T * z[k]) * u",
        3 => "z[k] * (z[k]^T * q)",
        4 => "z[k] / sqrt(1 + z[k]^T * z[k])",
        5 => "(z[k] - q) / (1 + r[k]^2)",
        // A scalar of the state broadcast onto every entry, and sums of
        // entries (columns of ones in the Jacobian).
        6 => "a * tanh(q^T * z[k] + c)",
        7 => "sum(z[k] .* q) * u",
        8 => "sum(z[k]) / D",
        // A matrix that depends on the state times a vector.
        9 => "c * diag(tanh(z[k])) * (q + z[k])",
        _ => "c * (u^T * z[k]) * z[k] / (1 + a^2)",
    };
    let sign = if t.chance(50) { "+" } else { "-" };
    if update.contains("r[k]") {
        out.push_str("r[k] = sqrt((z[k] - q)^T * (z[k] - q))\n");
    }
    let _ = writeln!(out, "z[k+1] = {scale} {sign} {update}");
    out.push_str("derive J = jacobian (z[k+1]) wrt (z[k])\nderive det(J)\n");
    out
}

/// A feed-forward layer over examples, with a regulariser beside the sum.
fn examples(t: &mut Tape<'_>) -> String {
    let mut out = String::from(
        "dim D, E\nindex n\ninput x[n] : D\ninput y[n] : E\nparam W : E x D\nparam b : E\nparam w : D\nfn F : E -> scalar\n",
    );
    let act = if t.chance(50) { "tanh" } else { "sigma" };
    let _ = writeln!(out, "z[n] = {act}(W * x[n] + b)");
    let reg = match t.pick(3) {
        0 => "1/2 * w^T * w + ",
        1 => "w^T * W^T * b - ",
        _ => "",
    };
    if t.chance(40) {
        // A classifier: softmax and the cross-entropy with a target whose
        // entries sum to a number, assumed in some requests.
        let _ = writeln!(out, "s[n] = softmax(W * x[n] + b)");
        let _ = writeln!(out, "loss L = {reg}-sum(n, y[n]^T * log(s[n]))");
        out.push_str("derive adjoints\nderive grad W\n");
        let total = if t.chance(50) { "1" } else { "2" };
        let _ = writeln!(out, "derive adjoints assuming sum(y[n]) = {total}");
        let _ = writeln!(out, "derive grad W assuming sum(y[n]) = {total}");
        let _ = writeln!(out, "derive grad b assuming sum(y[n]) = {total}");
        return out;
    }
    let _ = writeln!(out, "loss L = {reg}sum(n, F(z[n] - y[n]))");
    out.push_str("derive adjoints\nderive grad W\nderive grad b\nderive grad w\n");
    out
}

fn script(bytes: &[u8]) -> String {
    let mut t = Tape { bytes, at: 0 };
    match t.pick(9) {
        0..=3 => sequence(&mut t),
        4 => grid(&mut t),
        5 => update_map(&mut t),
        6 => square_update_map(&mut t),
        7 => flow_map(&mut t),
        _ => examples(&mut t),
    }
}

/// Diagnostics of requests deriv declines on purpose, with a reason.
fn declined(message: &str) -> bool {
    [
        "yet",
        "boundary case",
        "cannot be derived",
        "limitation",
        "needs a result",
    ]
    .iter()
    .any(|w| message.contains(w))
}

fn check_script(text: &str) -> Result<(), String> {
    let source = Source::new("generated.deriv", text.to_owned());
    // With the steps of every request: each step is self-checked and
    // verified like its result.
    let options = Options {
        steps: true,
        ..Options::default()
    };
    let run =
        deriv::run(&source, &options).map_err(|d| format!("rejected:\n{}", d.render(&source)))?;
    for p in &run.problems {
        if !declined(&p.message) {
            return Err(format!(
                "a request failed:\n{}",
                Diagnostics(vec![p.clone()]).render(&source)
            ));
        }
    }
    for a in &run.key.answers {
        if let Some(f) = &a.failed {
            return Err(format!("the self-check failed `{}`: {}", f.what, f.why));
        }
    }
    for format in [Format::Text, Format::Latex, Format::Markdown, Format::Json] {
        let _ = render(&run.key, format, &PrintOptions::default());
    }
    let checks = deriv::verify::verify_all(&run.key);
    for c in &checks {
        // A model whose values overflow on every instance (a cubic
        // recurrence without a squashing function) gives no evidence
        // either way.
        if !c.passed && c.how.contains("is not finite") {
            continue;
        }
        if !c.passed {
            return Err(format!(
                "verify failed {} (line {}): {}",
                c.what, c.line, c.how
            ));
        }
    }
    let claims = common::pasted(&run.key);
    if claims.is_empty() {
        return Ok(());
    }
    let first = text.lines().count() + 1;
    let again = format!("{}{}\n", text, claims.join("\n"));
    let source = Source::new("generated.deriv", again.clone());
    let run = deriv::run(&source, &Options::default())
        .map_err(|d| format!("pasted claims rejected:\n{}", d.render(&source)))?;
    for a in &run.key.answers {
        let req = &run.key.model.requests[a.request];
        if req.line < first {
            continue;
        }
        if a.failed.is_some() || !matches!(a.verdict, Some(Verdict::Proven)) {
            return Err(format!(
                "pasted back, `{}` is not proven: {:?}",
                req.text, a.verdict
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(common::proptest_config(200))]
    #[test]
    fn generated_models_are_answered_right(bytes in prop::collection::vec(any::<u8>(), 96)) {
        let text = script(&bytes);
        if let Err(e) = check_script(&text) {
            return Err(TestCaseError::fail(format!("{e}\n--- script ---\n{text}")));
        }
    }
}

/// The generator reaches every shape of script it is meant to.
#[test]
fn the_generator_covers_its_shapes() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0u64..400 {
        let mut rng = deriv::eval::Rng::new(seed, &[]);
        let bytes: Vec<u8> = (0..96).map(|_| rng.next_u64() as u8).collect();
        let s = script(&bytes);
        for (mark, what) in [
            ("[t-2]", "two steps back"),
            ("[t-3]", "three steps back"),
            ("[T+1] = 0", "a boundary value past the end"),
            ("[t+1] = ", "an equation one step ahead"),
            ("[1] = v", "a learned boundary value"),
            ("assuming", "an assumption"),
            ("= 1\n", "an assumption with the value 1"),
            ("^T * ", "a scalar factor"),
            (" - (", "a subtracted sum"),
            ("h[i-1, j+1]", "a north-east neighbour"),
            ("h[i-1, j-1]", "a north-west neighbour"),
            ("jacobian", "an update map"),
            ("state y[k]", "a declared pass-through state"),
            ("1/2 * w^T * w + sum", "a regulariser beside a sum"),
            ("= tanh(c", "an equation without its index's variable"),
            ("relu(", "a rectifier"),
            (") ./ (1 + exp(", "an elementwise quotient"),
            ("softmax(", "a softmax"),
            ("mean(tanh(", "a mean of entries"),
            ("[T])", "a fixed step at the end"),
            ("[T-1])", "a fixed step before the last"),
            ("[1])", "a fixed step at the start"),
            ("= tanh(Po", "a read-out at a fixed step"),
            (" -> D\n", "a vector-valued function"),
            (
                "z[k] * (z[k]^T",
                "an inner product of the state with itself",
            ),
            ("r[k] = sqrt(", "a norm of the state"),
            ("a * tanh(q^T", "a scalar of the state broadcast onto it"),
            ("sum(z[k]", "a sum of the state's entries"),
            ("diag(tanh(z[k])) *", "a matrix of the state times a vector"),
            ("param Wt", "a parameter with one value per step"),
            (
                "derive grad W assuming sum(y[n])",
                "a gradient under an assumed sum",
            ),
        ] {
            if s.contains(mark) {
                seen.insert(what);
            }
        }
    }
    assert_eq!(seen.len(), 31, "{seen:?}");
}
