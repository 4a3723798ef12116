//! deriv: a symbolic derivation engine for recurrent models.
//!
//! A `.deriv` script states a model's forward computation as equations and
//! asks for derivations: adjoints, gradients, inverses, Jacobians,
//! determinants, counts and depths. deriv answers each one symbolically and
//! prints an answer key. The pipeline runs one way:
//!
//! text → [`syntax`] (spanned AST) → [`check`](mod@check) (checked [`model`]) →
//! [`derive`](mod@derive) (IR rewriting) → [`key`] → [`verify::self_check`] (every
//! result evaluated against a numeric truth) → [`print`](mod@print).
//!
//! [`run`] answers a script and [`print::render`] writes its key in any
//! format; [`suite`] runs folders of scripts as snapshot tests (the
//! `deriv test` command). A Rust project can pin a key with its own insta
//! setup (`insta::assert_snapshot!(key)`), as `tests/library_api.rs` does.
//! Running a script and rendering its key:
//!
//! ```
//! let source = deriv::diag::Source::new("rnn.deriv", "dim H\nindex t\n\
//!     param W : H x H\ninput x[t] : H\nh[t] = tanh(W * h[t-1] + x[t])\n");
//! let run = deriv::run(&source, &deriv::Options::default()).unwrap();
//! let text = deriv::print::render(&run.key, deriv::print::Format::Text, &Default::default());
//! assert!(text.contains("h[t] = tanh(W * h[t-1] + x[t])"));
//! ```

#![warn(missing_docs)]

pub mod check;
pub mod derive;
pub mod diag;
pub mod egraph;
pub mod eval;
pub mod graph;
pub mod ir;
pub mod key;
pub mod model;
pub mod num;
pub mod poly;
pub mod print;
pub mod rules;
pub mod shape;
pub mod suite;
pub mod syntax;
pub mod verify;

use diag::{Diagnostic, Diagnostics, Source};
use key::AnswerKey;

/// Bounds on what one script may ask of the engine. Each has a command-line
/// flag to raise it.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Deepest bracket nesting (`--max-nesting`).
    pub max_nesting: usize,
    /// Deepest expression tree (`--max-depth`).
    pub max_depth: usize,
    /// Most rewrite iterations of one e-graph run (`--egraph-iters`).
    pub egraph_iters: usize,
    /// Most e-nodes of one e-graph (`--egraph-nodes`).
    pub egraph_nodes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_nesting: 256,
            max_depth: 2000,
            egraph_iters: 64,
            egraph_nodes: 50_000,
        }
    }
}

/// How to run a script.
#[derive(Debug, Clone)]
pub struct Options {
    /// The limits.
    pub limits: Limits,
    /// Whether every result is checked numerically before it is printed
    /// (`--no-self-check` turns it off).
    pub self_check: bool,
    /// Whether every answer shows its derivation, step by step (`--steps`),
    /// not only those of requests that end `with steps`.
    pub steps: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            limits: Limits::default(),
            self_check: true,
            steps: false,
        }
    }
}

/// The result of running a script that parsed and checked.
#[derive(Debug)]
pub struct Run {
    /// The answer key, with every request that could be answered.
    pub key: AnswerKey,
    /// Requests that could not be answered, as diagnostics.
    pub problems: Vec<Diagnostic>,
}

/// The stack a run has. Deep expressions are bounded by the limits, but
/// parsing, the derivations and the printers recurse; a stack this large
/// keeps the limits, not the caller's thread, the thing that decides. Only
/// the pages used are ever committed.
pub const STACK: usize = 512 << 20;

/// The most `--max-nesting` and `--max-depth` may be raised to: deeper
/// brackets or expressions than this would need more than [`STACK`] for
/// the parser, the derivations and the printers, which recurse. An
/// unoptimised (debug) build takes far larger stack frames, so its cap is
/// lower.
pub const MAX_DEPTH_LIMIT: usize = if cfg!(debug_assertions) {
    3_000
} else {
    40_000
};

/// Runs `f` as the library's entry points run:
///
/// - with at least half of [`STACK`] bytes of stack left, switching to a
///   new stack of [`STACK`] bytes on this thread when less is left (a
///   switch is cheaper than a thread of its own), so a caller on a small
///   stack (a test thread, a benchmark) gets the binary's limits;
/// - with egg's clock frozen (see [`egraph::frozen_clock`]).
///
/// A call from within a run stays where it is.
pub fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(STACK / 2, STACK, || egraph::frozen_clock(f))
}

/// Parses, checks and answers a script.
pub fn run(source: &Source, options: &Options) -> Result<Run, Diagnostics> {
    with_stack(|| run_here(source, options))
}

/// Parses and checks a script without deriving anything.
pub fn check(source: &Source, limits: &Limits) -> Result<model::Model, Diagnostics> {
    with_stack(|| {
        let script = syntax::parse(&source.text, limits)?;
        check::check(&script, source)
    })
}

fn run_here(source: &Source, options: &Options) -> Result<Run, Diagnostics> {
    let model = check(source, &options.limits)?;
    let derived = derive::derive_all(&model, options);
    let mut key = AnswerKey {
        script: source.name.clone(),
        model,
        answers: derived.answers,
    };
    if options.self_check {
        let failures = verify::self_check(&key, &options.limits);
        for (k, failure) in failures {
            if let Some(a) = key.answers.get_mut(k) {
                a.failed = Some(failure);
            }
        }
    }
    Ok(Run {
        key,
        problems: derived.problems,
    })
}
