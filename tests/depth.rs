//! Brute force for `depth`: the dependence graph of every value over the
//! ranges, built explicitly from the equations at concrete sizes, and its
//! longest path counted in values, compared with the derived polynomial at
//! every size from 1 to 8 (every dim set to the size), and over independent
//! dims where the ranges use several. Refusals are checked too: a cycle
//! must exist, and a "not a polynomial" must be true of the brute force.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use deriv::diag::Source;
use deriv::ir::{Ix, Leaf, Node};
use deriv::key::{Lhs, Rhs, Verdict};
use deriv::model::{Model, VarKind};
use deriv::poly::Poly;
use std::collections::HashMap;

type Value = (u32, Vec<i64>);

/// The explicit graph at given dim values.
struct Graph<'m> {
    model: &'m Model,
    dims: Vec<i64>,
    memo: HashMap<Value, Option<i64>>,
}

impl<'m> Graph<'m> {
    fn new(model: &'m Model, dims: &[i64]) -> Graph<'m> {
        Graph {
            model,
            dims: dims.to_vec(),
            memo: HashMap::new(),
        }
    }

    fn range(&self, i: u32) -> (i64, i64) {
        let (lo, hi) = self.model.indices[i as usize]
            .range
            .clone()
            .expect("a range");
        let ev = |p: &Poly| {
            p.eval_exact(&|d| self.dims[d as usize])
                .unwrap()
                .to_i64()
                .unwrap()
        };
        (ev(&lo), ev(&hi))
    }

    /// Whether `v` at `at` is a value the equations compute: inside the
    /// ranges, not set by `init`, and not before its equation's first step.
    fn computed(&self, v: u32, at: &[i64]) -> bool {
        let decl = &self.model.vars[v as usize];
        if decl.kind == VarKind::Input {
            return false;
        }
        for (pos, &i) in decl.indices.iter().enumerate() {
            let (lo, hi) = self.range(i);
            if at[pos] < lo || at[pos] > hi {
                return false;
            }
        }
        let set = self.model.inits.iter().any(|init| {
            init.target.var == v
                && init.target.at.iter().zip(at).all(|(ix, &x)| match *ix {
                    Ix::Abs(a) => a == x,
                    Ix::End(i, o) => self.range(i).1 + o == x,
                    Ix::Rel(..) => true,
                })
        });
        if set {
            return false;
        }
        let eq = self.model.equation_of(v).unwrap();
        eq.lhs.at.iter().zip(at).all(|(ix, &x)| match *ix {
            Ix::Rel(i, d) => x - d >= self.range(i).0,
            Ix::Abs(_) | Ix::End(..) => true,
        })
    }

    /// The computed values `v` at `at` uses, read off its equation as written.
    fn needs(&self, v: u32, at: &[i64]) -> Vec<Value> {
        let eq = self.model.equation_of(v).unwrap();
        let mut binding: HashMap<u32, i64> = HashMap::new();
        for (ix, &x) in eq.lhs.at.iter().zip(at) {
            if let Ix::Rel(i, d) = *ix {
                binding.insert(i, x - d);
            }
        }
        let mut out = Vec::new();
        for n in eq.rhs.as_ref() {
            if let Node::Leaf(Leaf::Var(r)) = n {
                let t: Vec<i64> =
                    r.at.iter()
                        .map(|ix| match *ix {
                            Ix::Rel(i, o) => binding[&i] + o,
                            Ix::Abs(a) => a,
                            Ix::End(i, o) => self.range(i).1 + o,
                        })
                        .collect();
                if self.computed(r.var, &t) {
                    out.push((r.var, t));
                }
            }
        }
        out
    }

    /// Values on the longest path ending at `value`; `None` on a cycle.
    fn longest(&mut self, value: &Value) -> Option<i64> {
        if let Some(m) = self.memo.get(value) {
            return *m; // `None` here means: on the current path, a cycle.
        }
        self.memo.insert(value.clone(), None);
        let mut best = 0;
        for w in self.needs(value.0, &value.1) {
            best = best.max(self.longest(&w)?);
        }
        self.memo.insert(value.clone(), Some(best + 1));
        Some(best + 1)
    }

    /// The depth of `v`: the longest path ending at any of its values.
    fn depth(&mut self, v: u32) -> Option<i64> {
        let decl = self.model.vars[v as usize].clone();
        let mut tuples: Vec<Vec<i64>> = vec![Vec::new()];
        for &i in &decl.indices {
            let (lo, hi) = self.range(i);
            tuples = tuples
                .into_iter()
                .flat_map(|t| {
                    (lo..=hi).map(move |x| {
                        let mut u = t.clone();
                        u.push(x);
                        u
                    })
                })
                .collect();
        }
        let mut best = 0;
        for t in tuples {
            if self.computed(v, &t) {
                best = best.max(self.longest(&(v, t))?);
            }
        }
        Some(best)
    }
}

/// What deriv says about `depth v`: the polynomial, or the refusal.
/// A model whose values depend on each other in a cycle through earlier and
/// later steps is refused when the script is checked (by a walk over the
/// unrolled values, the same brute force this file does): `None` then.
fn derived(text: &str) -> (Option<Model>, Result<Poly, String>) {
    let source = Source::new("t.deriv", text);
    let run = match deriv::run(&source, &deriv::Options::default()) {
        Ok(r) => r,
        Err(d) if d.0.iter().any(|x| x.message.contains("depends on itself")) => {
            return (None, Err(format!("a cycle: {}", d.render(&source))));
        }
        Err(d) => panic!("rejected:\n{}\n{text}", d.render(&source)),
    };
    let answer = run
        .key
        .answers
        .iter()
        .flat_map(|a| a.equations.iter())
        .find_map(|d| match (&d.lhs, &d.rhs) {
            (Lhs::Depth(_), Rhs::Poly(p)) => Some(p.clone()),
            _ => None,
        });
    let result = match answer {
        Some(p) => Ok(p),
        None => Err(run
            .problems
            .iter()
            .map(|d| d.render(&source))
            .collect::<String>()),
    };
    (Some(run.key.model), result)
}

fn target(model: &Model) -> u32 {
    match &model.requests.last().expect("a request").kind {
        deriv::model::RequestKind::Depth(r) => r.var,
        _ => panic!("the last request is not a depth"),
    }
}

/// Sizes to compare at: every dim set to each size 1..=8 (the diagonal),
/// and, when the ranges use several dims, every combination of sizes 1..=5
/// of those dims (the grid; other dims at 2).
fn sizes(model: &Model) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    let n = model.dims.len();
    let diagonal = (1..=8).map(|s| vec![s; n]).collect();
    let ranged: Vec<usize> = (0..n)
        .filter(|&d| {
            model.indices.iter().any(|i| {
                i.range.as_ref().is_some_and(|(lo, hi)| {
                    [lo, hi]
                        .iter()
                        .any(|p| p.0.keys().any(|m| m.exponent(d as u32) > 0))
                })
            })
        })
        .collect();
    let mut grid: Vec<Vec<i64>> = Vec::new();
    if ranged.len() > 1 {
        grid.push(vec![2; n]);
        for &d in &ranged {
            grid = grid
                .into_iter()
                .flat_map(|c| {
                    (1..=5).map(move |s| {
                        let mut c = c.clone();
                        c[d] = s;
                        c
                    })
                })
                .collect();
        }
    }
    (diagonal, grid)
}

/// Brute-force depths by dims, `None` where values form a cycle.
type Depths = Vec<(Vec<i64>, Option<i64>)>;

/// The brute-force depth on the diagonal and on the grid of sizes.
fn brute(model: &Model, v: u32) -> (Depths, Depths) {
    let at = |list: Vec<Vec<i64>>| -> Depths {
        list.into_iter()
            .map(|dims| {
                let d = Graph::new(model, &dims).depth(v);
                (dims, d)
            })
            .collect()
    };
    let (diagonal, grid) = sizes(model);
    (at(diagonal), at(grid))
}

fn all(d: &(Depths, Depths)) -> impl Iterator<Item = &(Vec<i64>, Option<i64>)> {
    d.0.iter().chain(d.1.iter())
}

/// Whether one affine function of the dims gives every depth listed (each
/// finite): fixed by the smallest point and one step along each dim (along
/// the diagonal, one step of every dim at once), then tested everywhere.
fn affine(values: &Depths) -> bool {
    let Some((first, Some(base))) = values.iter().min_by_key(|(d, _)| d.clone()).cloned() else {
        return values.is_empty();
    };
    let value = |dims: &[i64]| values.iter().find(|(d, _)| d == dims).and_then(|(_, v)| *v);
    let diagonal = values.iter().all(|(d, _)| d.iter().all(|x| *x == d[0]));
    let mut slopes = vec![0; first.len()];
    if diagonal {
        let next: Vec<i64> = first.iter().map(|x| x + 1).collect();
        let Some(v) = value(&next) else { return false };
        slopes[0] = v - base;
    } else {
        for (k, slope) in slopes.iter_mut().enumerate() {
            let mut next = first.clone();
            next[k] += 1;
            if let Some(v) = value(&next) {
                *slope = v - base;
            }
        }
    }
    values.iter().all(|(d, v)| {
        let moved: i64 = if diagonal {
            (d[0] - first[0]) * slopes[0]
        } else {
            d.iter()
                .zip(&first)
                .zip(&slopes)
                .map(|((x, b), s)| (x - b) * s)
                .sum()
        };
        *v == Some(base + moved)
    })
}

/// Whether the brute force agrees that no polynomial gives the depth.
fn not_affine(d: &(Depths, Depths)) -> bool {
    !affine(&d.0) || !affine(&d.1)
}

enum Expect {
    /// Answered with this polynomial (checked by brute force as well).
    Depth(&'static str),
    /// Refused; the rendered diagnostic contains this.
    Refused(&'static str),
}

/// Runs `depth` on a script and checks it against brute force.
fn check(name: &str, text: &str, expect: Expect) {
    let (model, result) = derived(text);
    let Some(model) = model else {
        assert!(
            matches!(expect, Expect::Refused(why) if why.contains("cycle")),
            "{name}: refused as a cycle when checked:\n{result:?}"
        );
        return;
    };
    let v = target(&model);
    // Only scripts whose ranges are all declared can be enumerated.
    let enumerable = result.is_ok()
        || ["cycle", "not a polynomial"]
            .iter()
            .any(|w| result.as_ref().is_err_and(|m| m.contains(w)));
    let truth = if enumerable {
        brute(&model, v)
    } else {
        (Vec::new(), Vec::new())
    };
    match (&result, &expect) {
        (Ok(p), _) => {
            for (dims, want) in all(&truth) {
                let got = p.eval_exact(&|d| dims[d as usize]).and_then(|r| r.to_i64());
                assert_eq!(
                    got,
                    *want,
                    "{name}: depth {} at dims {dims:?}",
                    p.display(&|d| model.symbols.dim(d).to_owned())
                );
            }
        }
        (Err(msg), Expect::Refused(_)) if msg.contains("cycle") => {
            assert!(
                all(&truth).any(|(_, d)| d.is_none()),
                "{name}: refused as a cycle, but there is none:\n{msg}"
            );
        }
        (Err(msg), Expect::Refused(_)) if msg.contains("not a polynomial") => {
            assert!(
                not_affine(&truth),
                "{name}: refused as not a polynomial, but {truth:?} is affine:\n{msg}"
            );
        }
        (Err(_), _) => {}
    }
    match (result, expect) {
        (Ok(p), Expect::Depth(want)) => {
            assert_eq!(
                p.display(&|d| model.symbols.dim(d).to_owned()).to_string(),
                want,
                "{name}"
            )
        }
        (Err(msg), Expect::Refused(why)) => assert!(
            msg.contains(why),
            "{name}: expected a refusal with `{why}`, got:\n{msg}"
        ),
        (Ok(p), Expect::Refused(why)) => {
            panic!("{name}: expected a refusal with `{why}`, got {p:?}")
        }
        (Err(msg), Expect::Depth(want)) => panic!("{name}: expected {want}, got:\n{msg}"),
    }
}

const RECURRENCE: &str =
    "dim H, T\nindex t in 1..T\ninput x[t] : H\nparam W : H x H\ninit h[0] = 0\n";

#[test]
fn grid_rnn() {
    let text = std::fs::read_to_string("derivations/grid_rnn.deriv").unwrap();
    // The example's last request is an `expect`; ask for the depth last.
    check(
        "grid_rnn",
        &format!("{text}\ndepth h[i, j]\n"),
        Expect::Depth("2*G - 1"),
    );
}

#[test]
fn one_index_recurrences() {
    let cases: &[(&str, &str, Expect)] = &[
        (
            "chain",
            "h[t] = tanh(W * h[t-1] + x[t])",
            Expect::Depth("T"),
        ),
        (
            "skip and step",
            "init h[-1] = 0\nh[t] = tanh(W * h[t-1] + W * h[t-2] + x[t])",
            Expect::Depth("T"),
        ),
        (
            "skip alone",
            "init h[-1] = 0\nh[t] = tanh(W * h[t-2] + x[t])",
            Expect::Refused("not a polynomial"),
        ),
        (
            "skips of 2 and 3",
            "h[t] = tanh(W * h[t-2] + W * h[t-3] + x[t])",
            Expect::Refused("not a polynomial"),
        ),
        (
            "backwards",
            "h[t] = tanh(W * h[t+1] + x[t])",
            Expect::Depth("T"),
        ),
        (
            "both ways",
            "h[t] = tanh(W * h[t-1] + W * h[t+1] + x[t])",
            Expect::Refused("cycle"),
        ),
        ("no recurrence", "h[t] = tanh(x[t])", Expect::Depth("1")),
        (
            "init at the start",
            "init h[1] = 0\nh[t] = tanh(W * h[t-1] + x[t])",
            Expect::Depth("T - 1"),
        ),
        // An `init` inside the range (`init h[3]` over `1..T`) is refused
        // when the script is checked: `tests/rejected/init_inside_range.deriv`.
        (
            "shifted left side",
            "h[t+1] = tanh(W * h[t] + x[t])",
            Expect::Depth("T - 1"),
        ),
        (
            "fixed boundary",
            "h[t] = tanh(W * h[t-1] + h[0] + x[t])",
            Expect::Depth("T"),
        ),
        (
            "fixed computed value",
            "u[t] = tanh(W * u[t-1] + x[t])\nh[t] = tanh(W * h[t-1] + u[2] + x[t])",
            Expect::Refused("a computed value at a fixed index"),
        ),
        (
            // h[1] uses itself at t = 1.
            "fixed computed value that uses itself",
            "h[t] = tanh(W * h[t-1] + h[1] + x[t])",
            Expect::Refused("cycle"),
        ),
    ];
    for (name, eq, expect) in cases {
        let text = format!("{RECURRENCE}{eq}\ndepth h[t]\n");
        check(
            name,
            &text,
            match expect {
                Expect::Depth(d) => Expect::Depth(d),
                Expect::Refused(r) => Expect::Refused(r),
            },
        );
    }
}

#[test]
fn stacked_layers_and_cells() {
    let stacked =
        "dim D, H, T\nindex t in 1..T\ninput x[t] : D\nparam U : H x D\nparam W, V : H x H\n\
                   h1[t] = tanh(W * h1[t-1] + U * x[t])\nh2[t] = tanh(V * h2[t-1] + h1[t])\n";
    check(
        "stacked, lower",
        &format!("{stacked}depth h1[t]\n"),
        Expect::Depth("T"),
    );
    check(
        "stacked, upper",
        &format!("{stacked}depth h2[t]\n"),
        Expect::Depth("T + 1"),
    );
    let three = format!("{stacked}h3[t] = tanh(V * h3[t-1] + h2[t] + h1[t])\ndepth h3[t]\n");
    check("three layers", &three, Expect::Depth("T + 2"));
    let lstm = std::fs::read_to_string("derivations/lstm.deriv")
        .unwrap()
        .replace("dim D, H\nindex t\n", "dim D, H, T\nindex t in 1..T\n");
    assert!(lstm.contains("index t in 1..T"));
    check(
        "lstm h",
        &format!("{lstm}\ndepth h[t]\n"),
        Expect::Depth("3*T"),
    );
    check(
        "lstm c",
        &format!("{lstm}\ndepth c[t]\n"),
        Expect::Depth("3*T - 1"),
    );
    check(
        "lstm o",
        &format!("{lstm}\ndepth o[t]\n"),
        Expect::Depth("3*T - 2"),
    );
    let momentum = std::fs::read_to_string("derivations/momentum.deriv")
        .unwrap()
        .replace("dim D\nindex k\n", "dim D, K\nindex k in 1..K\n");
    check(
        "momentum theta",
        &format!("{momentum}\ndepth theta[k]\n"),
        Expect::Depth("2*K - 2"),
    );
    // p[k] has depth 0 at K = 1 and 2*K - 3 after: no polynomial.
    check(
        "momentum p",
        &format!("{momentum}\ndepth p[k]\n"),
        Expect::Refused("not a polynomial"),
    );
}

/// A recurrence fed by values that are not recurrent (QRNN's gates, a
/// projection of the input computed first), and read out by others: its
/// chains start and end at values the recurrence never returns to.
#[test]
fn feed_forward_into_a_recurrence() {
    let qrnn = "dim H, T\nindex t in 1..T\ninput x[t] : H\nparam W, U : H x H\ninit c[0] = 0\n\
                f[t] = tanh(W * x[t])\nc[t] = c[t-1] + f[t]\n";
    let grid = "dim H, G\nindex i, j in 1..G\ninput x[i, j] : H\nparam W, U, V : H x H\n\
                init h[0, j] = 0\ninit h[i, 0] = 0\na[i, j] = tanh(W * x[i, j])\nb[i, j] = sigma(V * a[i, j])\n\
                h[i, j] = tanh(U * h[i-1, j] + U * h[i, j-1] + b[i, j])\n";
    let cases = [
        ("qrnn c", qrnn, "", "c[t]", Expect::Depth("T + 1")),
        (
            "two gates deep",
            qrnn,
            "g[t] = sigma(U * f[t])\nd[t] = g[t] .* d[t-1] + c[t]\ninit d[0] = 0\n",
            "d[t]",
            Expect::Depth("T + 2"),
        ),
        (
            "a read-out one step behind",
            qrnn,
            "e[t] = c[t-1] + f[t]\n",
            "e[t]",
            Expect::Depth("T + 1"),
        ),
        // `c[T-2]` feeds `e[T]`: 2 values at T = 1 and T = 2, then T.
        (
            "a skip into a fed value",
            qrnn,
            "e[t] = c[t-2] + f[t]\ninit c[-1] = 0\n",
            "e[t]",
            Expect::Refused("not a polynomial"),
        ),
        (
            "qrnn h",
            qrnn,
            "o[t] = sigma(U * x[t])\nh[t] = o[t] .* c[t]\n",
            "h[t]",
            Expect::Depth("T + 2"),
        ),
        ("grid fed", grid, "", "h[i, j]", Expect::Depth("2*G + 1")),
        (
            "grid fed and read",
            grid,
            "y[i, j] = V * h[i, j]\n",
            "y[i, j]",
            Expect::Depth("2*G + 2"),
        ),
    ];
    for (name, model, more, target, want) in cases {
        check(name, &format!("{model}{more}depth {target}\n"), want);
    }
}

#[test]
fn feed_forward() {
    let text = std::fs::read_to_string("tests/cells/mlp.deriv").unwrap();
    check("mlp", &format!("{text}depth y\n"), Expect::Depth("3"));
    check("mlp a", &format!("{text}depth a\n"), Expect::Depth("1"));
}

const GRID: &str = "dim H, G\nindex i, j in 1..G\ninput x[i, j] : H\nparam W : H x H\n";

#[test]
fn grids_and_diagonals() {
    let cases: &[(&str, &str, &str)] = &[
        ("west and north", "h[i, j-1] + h[i-1, j]", "2*G - 1"),
        (
            "with north-west",
            "h[i, j-1] + h[i-1, j] + h[i-1, j-1]",
            "2*G - 1",
        ),
        (
            "with north-east",
            "h[i, j-1] + h[i-1, j] + h[i-1, j+1]",
            "3*G - 2",
        ),
        ("west and north-east", "h[i, j-1] + h[i-1, j+1]", "3*G - 2"),
        ("north-east alone", "h[i-1, j+1]", "G"),
        ("north and north-east", "h[i-1, j] + h[i-1, j+1]", "G"),
        ("east and south", "h[i, j+1] + h[i+1, j]", "2*G - 1"),
        ("north alone", "h[i-1, j]", "G"),
    ];
    for (name, terms, want) in cases {
        let rhs: String = terms.split(" + ").map(|t| format!("W * {t} + ")).collect();
        let text = format!("{GRID}h[i, j] = tanh({rhs}x[i, j])\ndepth h[i, j]\n");
        check(name, &text, Expect::Depth(want));
    }
}

#[test]
fn a_jump_wider_than_the_smallest_grid() {
    // Chains zigzag from G = 3 on (4*G - 3 values), but at G = 2 the jump
    // of two columns does not fit: 1, 2, 9, 13, ... is no polynomial.
    let text =
        format!("{GRID}h[i, j] = tanh(W * h[i-1, j+2] + W * h[i, j-1] + x[i, j])\ndepth h[i, j]\n");
    check("knight's move", &text, Expect::Refused("not a polynomial"));
}

#[test]
fn grids_over_different_dims() {
    let grid =
        "dim H, A, B\nindex i in 1..A\nindex j in 1..B\ninput x[i, j] : H\nparam W : H x H\n";
    let text =
        format!("{grid}h[i, j] = tanh(W * h[i, j-1] + W * h[i-1, j] + x[i, j])\ndepth h[i, j]\n");
    check("A x B", &text, Expect::Depth("A + B - 1"));
    // Along a diagonal the depth is min(A, B).
    let text = format!("{grid}h[i, j] = tanh(W * h[i-1, j+1] + x[i, j])\ndepth h[i, j]\n");
    check("A x B diagonal", &text, Expect::Refused("not a polynomial"));
    let text =
        format!("{grid}h[i, j] = tanh(W * h[i, j-1] + W * h[i-1, j+1] + x[i, j])\ndepth h[i, j]\n");
    check(
        "A x B west and north-east",
        &text,
        Expect::Refused("not a polynomial"),
    );
    let fixed = "dim H, T\nindex k in 1..3\nindex t in 1..T\ninput x[k, t] : H\nparam W : H x H\n";
    let text =
        format!("{fixed}h[k, t] = tanh(W * h[k-1, t] + W * h[k, t-1] + x[k, t])\ndepth h[k, t]\n");
    check("three layers by index", &text, Expect::Depth("T + 2"));
    let long = "dim H, T\nindex t in 0..2*T\ninput x[t] : H\nparam W : H x H\n";
    check(
        "range 0..2*T",
        &format!("{long}h[t] = tanh(W * h[t-1] + x[t])\ndepth h[t]\n"),
        Expect::Depth("2*T + 1"),
    );
}

#[test]
fn three_index_grids() {
    let grid = "dim H, G\nindex i, j, k in 1..G\ninput x[i, j, k] : H\nparam W : H x H\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "three neighbours",
            "h[i-1, j, k] + h[i, j-1, k] + h[i, j, k-1]",
            "3*G - 2",
        ),
        (
            "with a diagonal",
            "h[i-1, j, k] + h[i, j-1, k] + h[i, j, k-1] + h[i-1, j+1, k]",
            "4*G - 3",
        ),
        (
            "with a long diagonal",
            "h[i-1, j-1, k-1] + h[i, j, k-1]",
            "G",
        ),
    ];
    for (name, terms, want) in cases {
        let rhs: String = terms.split(" + ").map(|t| format!("W * {t} + ")).collect();
        let text = format!("{grid}h[i, j, k] = tanh({rhs}x[i, j, k])\ndepth h[i, j, k]\n");
        check(name, &text, Expect::Depth(want));
    }
}

#[test]
fn refusals_name_the_reason() {
    let text = "dim H\nindex t\ninput x[t] : H\nparam W : H x H\nh[t] = tanh(W * h[t-1] + x[t])\ndepth h[t]\n";
    check(
        "no range",
        text,
        Expect::Refused("needs the range of index `t`"),
    );
    let text = "dim H, T\nindex t in 1..T\nindex s in 1..T\ninput x[t] : H\ninput y[s] : H\nparam W : H x H\n\
                z[s] = tanh(W * z[s-1] + y[s])\nh[t] = tanh(W * h[t-1] + sum(s, z[s]))\ndepth h[t]\n";
    check("sum over values", text, Expect::Refused("inside a `sum`"));
    let text = "dim H, T\nindex t in 1..T\ninput x[t] : H\nparam W : H x H\nb = W * W * W\n\
                h[t] = tanh(b * h[t-1] + x[t])\ndepth h[t]\n";
    check(
        "other indices",
        text,
        Expect::Refused("over the same indices"),
    );
    let text = "dim H, T\nindex t in 1..T^2\ninput x[t] : H\nparam W : H x H\nh[t] = tanh(W * h[t-1] + x[t])\ndepth h[t]\n";
    check(
        "quadratic range",
        text,
        Expect::Refused("cannot use the range"),
    );
    let text = "dim H, T\nindex t in 1..T-1\ninput x[t] : H\nparam W : H x H\nh[t] = tanh(W * h[t-1] + x[t])\ndepth h[t]\n";
    check(
        "range that may be empty",
        text,
        Expect::Refused("cannot use the range"),
    );
}

/// Every set of up to three neighbours within one step on a grid, over a
/// square and over independent ranges: every answer matches brute force,
/// every refusal is true, and the square's plain cases are all answered.
#[test]
fn every_small_neighbourhood() {
    let steps: Vec<(i64, i64)> = (-1..=1)
        .flat_map(|a| (-1..=1).map(move |b| (a, b)))
        .filter(|&s| s != (0, 0))
        .collect();
    let mut sets: Vec<Vec<(i64, i64)>> = Vec::new();
    for mask in 1u32..(1 << steps.len()) {
        if mask.count_ones() <= 3 {
            sets.push(
                (0..steps.len())
                    .filter(|k| mask & (1 << k) != 0)
                    .map(|k| steps[k])
                    .collect(),
            );
        }
    }
    let mut answered = 0;
    let mut unproven = Vec::new();
    for set in &sets {
        let rhs: String = set
            .iter()
            .map(|(a, b)| format!("W * h[i{a:+}, j{b:+}] + "))
            .collect::<String>()
            .replace("+0", "");
        for header in [
            GRID,
            "dim H, A, B\nindex i in 1..A\nindex j in 1..B\ninput x[i, j] : H\nparam W : H x H\n",
        ] {
            let text = format!("{header}h[i, j] = tanh({rhs}x[i, j])\ndepth h[i, j]\n");
            let (model, result) = derived(&text);
            // A cycle through earlier and later values is refused when
            // the script is checked.
            let Some(model) = model else {
                assert!(result.as_ref().is_err_and(|m| m.contains("cycle")));
                continue;
            };
            let truth = brute(&model, target(&model));
            match result {
                Ok(p) => {
                    answered += 1;
                    for (dims, want) in all(&truth) {
                        let got = p.eval_exact(&|d| dims[d as usize]).and_then(|r| r.to_i64());
                        assert_eq!(got, *want, "{rhs} at {dims:?}");
                    }
                }
                Err(msg) if msg.contains("cycle") => {
                    assert!(
                        all(&truth).any(|(_, d)| d.is_none()),
                        "{rhs}: no cycle:\n{msg}"
                    )
                }
                Err(msg) if msg.contains("not a polynomial") => {
                    assert!(not_affine(&truth), "{rhs}: affine after all:\n{msg}")
                }
                Err(msg) => unproven.push(format!("{rhs}\n{msg}")),
            }
        }
    }
    // Every orderable neighbourhood on the square has an affine depth here,
    // and deriv proves each one.
    assert!(unproven.is_empty(), "unproven:\n{}", unproven.join("\n"));
    assert!(answered >= 60, "only {answered} answered");
}

/// Every set of offsets up to three steps back or forward on a line.
#[test]
fn every_small_skip_pattern() {
    let offsets = [-3i64, -2, -1, 1, 2, 3];
    for mask in 1u32..(1 << offsets.len()) {
        let rhs: String = (0..offsets.len())
            .filter(|k| mask & (1 << k) != 0)
            .map(|k| format!("W * h[t{:+}] + ", offsets[k]))
            .collect();
        let text = format!("{RECURRENCE}h[t] = tanh({rhs}x[t])\ndepth h[t]\n");
        let (model, result) = derived(&text);
        let Some(model) = model else {
            assert!(result.as_ref().is_err_and(|m| m.contains("cycle")));
            continue;
        };
        let truth = brute(&model, target(&model));
        let has_unit = mask & 0b000100 != 0 || mask & 0b001000 != 0;
        match result {
            Ok(p) => {
                for (dims, want) in all(&truth) {
                    let got = p.eval_exact(&|d| dims[d as usize]).and_then(|r| r.to_i64());
                    assert_eq!(got, *want, "{rhs} at {dims:?}");
                }
            }
            Err(msg) if msg.contains("cycle") => {
                assert!(all(&truth).any(|(_, d)| d.is_none()), "{rhs}")
            }
            Err(msg) if msg.contains("not a polynomial") => {
                assert!(!has_unit, "{rhs}: a step of one gives T");
                assert!(not_affine(&truth), "{rhs}: affine after all:\n{msg}")
            }
            Err(msg) => panic!("{rhs}: unproven:\n{msg}"),
        }
    }
}

/// A claim about a depth deriv does not derive (no polynomial gives it, or
/// none is proven) is refuted where the longest chain differs from it at a
/// size deriv enumerates, and at the size it names; a claim the brute force
/// agrees with at every small size is not refuted.
#[test]
fn claims_about_a_depth_not_derived() {
    let offsets = [-3i64, -2, 2, 3];
    type Claim = (&'static str, fn(f64, f64) -> f64);
    let claims: [Claim; 7] = [
        ("T", |_, t| t),
        ("T - 1", |_, t| t - 1.0),
        ("T + 2", |_, t| t + 2.0),
        ("3", |_, _| 3.0),
        ("1", |_, _| 1.0),
        ("2*T - 3", |_, t| 2.0 * t - 3.0),
        ("H + T", |h, t| h + t),
    ];
    let (mut refuted, mut open) = (0, 0);
    for mask in 1u32..(1 << offsets.len()) {
        let rhs: String = (0..offsets.len())
            .filter(|k| mask & (1 << k) != 0)
            .map(|k| format!("W * h[t{:+}] + ", offsets[k]))
            .collect();
        for (claim, value) in claims {
            let text = format!(
                "{RECURRENCE}h[t] = tanh({rhs}x[t])\nexpect depth(h[t]) = {claim}\ndepth h[t]\n"
            );
            let (model, result) = derived(&text);
            let Some(model) = model else { continue };
            if result.is_ok() {
                continue;
            }
            let source = Source::new("t.deriv", text.as_str());
            let run = deriv::run(&source, &deriv::Options::default()).expect("checked");
            let verdict = run.key.answers.iter().find_map(|a| a.verdict.clone());
            let truth = |h: i64, t: i64| Graph::new(&model, &[h, t]).depth(target(&model));
            let holds =
                |h: i64, t: i64| truth(h, t).map(|d| d as f64) == Some(value(h as f64, t as f64));
            match verdict {
                Some(Verdict::Refuted { counterexample, .. }) => {
                    refuted += 1;
                    let size = |dim: &str| {
                        counterexample
                            .split(&format!("{dim} = "))
                            .nth(1)
                            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                            .and_then(|n| n.parse::<i64>().ok())
                    };
                    let t = size("T").unwrap_or_else(|| panic!("{rhs} {claim}: {counterexample}"));
                    let h = size("H").unwrap_or(1);
                    assert!(
                        !holds(h, t),
                        "{rhs}: {claim} refuted at H = {h}, T = {t}, where it holds"
                    );
                }
                None => {
                    open += 1;
                    for t in 1..=8 {
                        assert!(
                            holds(1, t) && holds(2, t),
                            "{rhs}: {claim} differs at T = {t}, and is not refuted"
                        );
                    }
                }
                Some(v) => panic!("{rhs}: {claim} is {v:?}"),
            }
        }
    }
    // Every such claim here differs from the brute force at a small size
    // (the one that agrees there is in the next test).
    assert!(
        refuted > 20 && open == 0,
        "{refuted} refuted, {open} not checked"
    );
}

/// A dependence that only joins values past the sizes deriv enumerates:
/// up to G = 10 the depth is G, after that chains zigzag through the jump.
/// Fitting the small sizes would print `G`; the schedule argument refuses.
#[test]
fn a_jump_past_the_enumerated_sizes_is_not_guessed() {
    let text = format!(
        "{GRID}h[i, j] = tanh(W * h[i-1, j+10] + W * h[i, j-1] + x[i, j])\ndepth h[i, j]\n"
    );
    let (model, result) = derived(&text);
    let model = model.expect("no cycle");
    let at = |g: i64| Graph::new(&model, &vec![g; model.dims.len()]).depth(target(&model));
    assert_eq!(at(8), Some(8));
    assert!(at(12) > Some(12), "the jump lengthens chains at G = 12");
    let msg = result.expect_err("a guess from small sizes");
    assert!(msg.contains("cannot derive the depth"), "{msg}");
    // A claim of what the small sizes give is not checked, not refuted;
    // one that differs there is refuted.
    for (claim, refuted) in [("G", false), ("G + 1", true), ("2*G - 1", true)] {
        let text = format!(
            "{GRID}h[i, j] = tanh(W * h[i-1, j+10] + W * h[i, j-1] + x[i, j])\nexpect depth(h[i, j]) = {claim}\n"
        );
        let run = deriv::run(&Source::new("t.deriv", text.as_str()), &Default::default())
            .expect("checked");
        let verdict = &run.key.answers[0].verdict;
        assert_eq!(
            matches!(verdict, Some(Verdict::Refuted { .. })),
            refuted,
            "{claim}: {verdict:?}"
        );
        assert!(refuted || verdict.is_none(), "{claim}: {verdict:?}");
    }
}

/// Offsets that skip at small sizes and close a cycle only at large ones
/// (`h[t-2]` and `h[t+13]`): the script is refused as a cycle when it is
/// checked, however small the sizes deriv would enumerate.
#[test]
fn a_cycle_closed_only_at_large_sizes_is_refused() {
    let text = format!(
        "{RECURRENCE}init h[-1] = 0\nh[t] = tanh(W * h[t-2] + W * h[t+13] + x[t])\ndepth h[t]\n"
    );
    let (model, result) = derived(&text);
    assert!(model.is_none(), "accepted: {result:?}");
    assert!(result.is_err_and(|m| m.contains("cycle")));
}

/// Four indices, with diagonals chained from one index pair to the next.
#[test]
fn four_indices_with_chained_diagonals() {
    let grid = "dim H, G\nindex i, j, k, l in 1..G\ninput x[i, j, k, l] : H\nparam W : H x H\n";
    let text = format!(
        "{grid}h[i, j, k, l] = tanh(W * h[i-1, j+1, k, l] + W * h[i, j-1, k+1, l] + W * h[i, j, k-1, l+1] + W * h[i, j, k, l-1] + x[i, j, k, l])\ndepth h[i, j, k, l]\n"
    );
    check("chained diagonals", &text, Expect::Depth("10*G - 9"));
}

/// Recurrences that run in opposite directions need a schedule each: a
/// bidirectional RNN's output has depth `T + 1`; where the parts chain
/// through both directions the answer must still match brute force or be
/// refused.
#[test]
fn recurrences_in_opposite_directions() {
    let text = std::fs::read_to_string("derivations/bidirectional_rnn.deriv").unwrap();
    check(
        "bidirectional_rnn",
        &format!("{text}\ndepth y[t]\n"),
        Expect::Depth("T + 1"),
    );
    let both = "dim H, T\nindex t in 1..T\ninput x[t] : H\nparam A, B, C, E : H x H\n\
                init f[0] = 0\ninit b[T+1] = 0\n\
                f[t] = tanh(A * f[t-1] + x[t])\nb[t] = tanh(B * b[t+1] + x[t])\n";
    // Two forward layers over a bidirectional one; a sum of both
    // directions read at shifted steps.
    for (name, extra) in [
        ("two outputs", "y[t] = C * f[t] + E * b[t]\nz[t] = tanh(y[t])\ndepth z[t]\n"),
        ("shifted reads", "y[t] = C * f[t-1] + E * b[t+1]\ndepth y[t]\n"),
        ("chained directions", "init g[0] = 0\ny[t] = C * f[t] + E * b[t]\ng[t] = tanh(A * g[t-1] + y[t])\ndepth g[t]\n"),
    ] {
        let (model, result) = derived(&format!("{both}{extra}"));
        let model = model.unwrap();
        let truth = brute(&model, target(&model));
        if let Ok(p) = result {
            for (dims, want) in all(&truth) {
                let got = p.eval_exact(&|d| dims[d as usize]).and_then(|r| r.to_i64());
                assert_eq!(got, *want, "{name}: at dims {dims:?}");
            }
        }
    }
    check(
        "two outputs",
        &format!("{both}y[t] = C * f[t] + E * b[t]\nz[t] = tanh(y[t])\ndepth z[t]\n"),
        Expect::Depth("T + 2"),
    );
}
