//! The `deriv` command: arguments, files and exit codes only. Exit 0 on
//! success, 1 when an `expect` fails, 2 on bad input or usage, 3 when the
//! self-check found a derived result wrong (a bug in deriv).

use clap::{Parser, Subcommand, ValueEnum};
use deriv::diag::{Diagnostics, Source};
use deriv::print::{self, Format, PrintOptions};
use deriv::{Limits, Options};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A derivation allocates many small, short-lived nodes; mimalloc serves
/// them markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Symbolic derivations for recurrent models, printed as an answer key.
#[derive(Parser, Debug)]
#[command(
    name = "deriv",
    version,
    about,
    after_long_help = "Exit status: 0 when every request is answered and every `expect` holds; \
1 when an `expect` fails; 2 for a script with errors, a request not answered, or bad usage; \
3 when the self-check found a derived result wrong (a bug in deriv)."
)]
struct Cli {
    /// When to colour diagnostics: `auto` colours them on a terminal,
    /// unless the `NO_COLOR` environment variable is set.
    #[arg(long, global = true, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

impl ColorArg {
    /// Whether to colour what goes to a stream that is a terminal or not.
    fn on(self, terminal: bool) -> bool {
        match self {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// The choice given on the command line, read before clap parses it
    /// so that clap's own errors follow it too.
    fn from_args() -> ColorArg {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let mut choice = ColorArg::Auto;
        for (k, a) in args.iter().enumerate() {
            let value = match a.to_str() {
                Some("--") => break,
                Some("--color") => args.get(k + 1).and_then(|v| v.to_str()),
                Some(a) => a.strip_prefix("--color="),
                None => None,
            };
            if let Some(v) = value.and_then(|v| ColorArg::from_str(v, false).ok()) {
                choice = v;
            }
        }
        choice
    }
}

/// Whether standard error is coloured, decided once from `--color`.
static STDERR_COLOR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn stderr_color() -> bool {
    STDERR_COLOR.load(std::sync::atomic::Ordering::Relaxed)
}

/// `error: message` on standard error, the label in bold red on a
/// coloured terminal, as clap and the diagnostics set it.
fn error(message: impl std::fmt::Display) {
    if stderr_color() {
        eprintln!("\x1b[1m\x1b[38;5;9merror\x1b[0m: {message}");
    } else {
        eprintln!("error: {message}");
    }
}

/// `warning: message` on standard error, the label in bold yellow on a
/// coloured terminal.
fn warning(message: impl std::fmt::Display) {
    if stderr_color() {
        eprintln!("\x1b[1m\x1b[38;5;11mwarning\x1b[0m: {message}");
    } else {
        eprintln!("warning: {message}");
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Answer every request of a script and print the answer key.
    Run {
        /// The script; `-` reads standard input.
        file: String,
        /// The output format.
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
        /// Write the answer key here instead of standard output (`-` is
        /// standard output). A link is followed; a FIFO or a device is
        /// written directly; a file is replaced whole, keeping its
        /// permissions.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// LaTeX: print the body only, for `\input` into another document.
        #[arg(long)]
        fragment: bool,
        /// Print the e-graph statistics of every request on standard error.
        #[arg(long)]
        stats: bool,
        /// Print results without checking each one numerically first.
        #[arg(long)]
        no_self_check: bool,
        /// Show the derivation of every result, step by step, as if every
        /// request ended `with steps`.
        #[arg(long)]
        steps: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Answer every request, then check every derived result numerically
    /// on random instances: adjoints and gradients against finite
    /// differences, inverses by round trip, Jacobians against finite
    /// differences, determinants against numeric determinants.
    Verify {
        /// The script; `-` reads standard input.
        file: String,
        /// Derive every result with its steps, and check each step too
        /// (steps of requests that end `with steps` are always checked).
        #[arg(long)]
        steps: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Run every script under the paths as a test: each `expect` must
    /// hold and the answer key must equal its snapshot in `snapshots/`
    /// beside the script. A missing or changed key is written as
    /// `.snap.new`; `--accept` writes it in place.
    Test {
        /// Scripts, or folders searched for `.deriv` scripts.
        #[arg(default_value = ".")]
        paths: Vec<PathBuf>,
        /// Write missing and changed snapshots in place.
        #[arg(long)]
        accept: bool,
        /// The format the snapshots are kept in.
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Parse and check a script without deriving anything.
    Check {
        /// The script; `-` reads standard input.
        file: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Print a shell completion script: `deriv completions bash >
    /// ~/.local/share/bash-completion/completions/deriv`, or `source <(deriv
    /// completions bash)` for this shell only.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print deriv's manual page (roff), or write one page per command
    /// into a folder: `deriv man | man -l -`.
    Man {
        /// Write `deriv.1` and a page for each command (`deriv-run.1`,
        /// ...) into this folder instead.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
struct LimitArgs {
    /// The deepest bracket nesting a script may use.
    #[arg(long, default_value_t = Limits::default().max_nesting as u32, value_parser = clap::value_parser!(u32).range(1..=deriv::MAX_DEPTH_LIMIT as i64))]
    max_nesting: u32,
    /// The deepest expression a script may write.
    #[arg(long, default_value_t = Limits::default().max_depth as u32, value_parser = clap::value_parser!(u32).range(1..=deriv::MAX_DEPTH_LIMIT as i64))]
    max_depth: u32,
    /// The most rewrite iterations one derivation step may run.
    #[arg(long, default_value_t = Limits::default().egraph_iters as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    egraph_iters: u32,
    /// The most e-nodes one derivation step may grow to.
    #[arg(long, default_value_t = Limits::default().egraph_nodes as u32, value_parser = clap::value_parser!(u32).range(100..=50_000_000))]
    egraph_nodes: u32,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            max_nesting: self.max_nesting as usize,
            max_depth: self.max_depth as usize,
            egraph_iters: self.egraph_iters as usize,
            egraph_nodes: self.egraph_nodes as usize,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    Text,
    Latex,
    Markdown,
    Json,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Text => Format::Text,
            FormatArg::Latex => Format::Latex,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Json => Format::Json,
        }
    }
}

/// Reads the script, or says why not.
fn read_source(file: &str) -> Result<Source, String> {
    if file == "-" {
        return Source::read("<stdin>", std::io::stdin());
    }
    let reader = std::fs::File::open(file).map_err(|e| format!("cannot read `{file}`: {e}"))?;
    Source::read(file, reader)
}

/// Writes `text` to `path`. A regular file (new or existing) is written
/// whole or not at all: a temporary file beside it, given the existing
/// file's permissions, renamed into place. A symbolic link is followed and
/// its target written that way, the link left as it is. A file that is not
/// regular (a FIFO, a device such as `/dev/null`) is written directly, never
/// replaced.
fn write_out(path: &Path, text: &str) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("cannot write `{}`: {e}", path.display());
    // Follow links to the file they name (which may not exist yet).
    let mut target = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&target) {
            Ok(m) if m.file_type().is_symlink() => {
                let next = std::fs::read_link(&target).map_err(cannot)?;
                target = match target.parent() {
                    Some(dir) if next.is_relative() => dir.join(next),
                    _ => next,
                };
            }
            _ => break,
        }
    }
    match std::fs::metadata(&target) {
        Ok(m) if !m.is_file() && !m.is_dir() => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&target)
                .map_err(cannot)?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.flush())
                .map_err(cannot)
        }
        Ok(m) if m.is_file() => {
            write_replacing(&target, text, Some(m.permissions())).map_err(cannot)
        }
        Ok(_) => Err(format!(
            "cannot write `{}`: it is a directory",
            path.display()
        )),
        Err(_) => write_replacing(&target, text, None).map_err(cannot),
    }
}

/// Writes a regular file whole or not at all, through a temporary file
/// beside it renamed into place, with `permissions` if given.
fn write_replacing(
    path: &Path,
    text: &str,
    permissions: Option<std::fs::Permissions>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let tmp = dir.join(format!(".{name}.deriv-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Some(p) = permissions {
            std::fs::set_permissions(&tmp, p)?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn report(source: &Source, diags: &Diagnostics) {
    eprint!("{}", diags.render_styled(source, stderr_color()));
}

/// Writes generated text (a completion script, a manual page) to standard
/// output; the exit code.
fn print_generated(out: &[u8]) -> u8 {
    match emit(None, &String::from_utf8_lossy(out)) {
        Ok(()) => 0,
        Err(e) => {
            if !e.is_empty() {
                error(e);
            }
            2
        }
    }
}

/// `deriv completions SHELL`.
fn completions(shell: clap_complete::Shell) -> u8 {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "deriv", &mut out);
    print_generated(&out)
}

/// `deriv man [--dir DIR]`.
fn man(dir: Option<&Path>) -> u8 {
    use clap::CommandFactory;
    let cmd = Cli::command();
    if let Some(dir) = dir {
        return match clap_mangen::generate_to(cmd, dir) {
            Ok(()) => 0,
            Err(e) => {
                error(format_args!(
                    "cannot write the manual pages to `{}`: {e}",
                    dir.display()
                ));
                2
            }
        };
    }
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
        error(format_args!("cannot render the manual page: {e}"));
        return 2;
    }
    print_generated(&out)
}

impl Command {
    /// The script a command works on, and its limits; `None` for `test`,
    /// which works on many.
    fn script(&self) -> Option<(&str, Limits)> {
        match self {
            Command::Run { file, limits, .. }
            | Command::Verify { file, limits, .. }
            | Command::Check { file, limits } => Some((file, limits.limits())),
            Command::Test { .. } | Command::Completions { .. } | Command::Man { .. } => None,
        }
    }
}

/// `deriv test`: exit 0 when every script passes, 1 when one fails, 2 for
/// bad usage.
fn test(paths: &[PathBuf], accept: bool, format: FormatArg, limits: Limits, color: ColorArg) -> u8 {
    use std::io::IsTerminal;
    let color = color.on(std::io::stdout().is_terminal());
    let opts = deriv::suite::SuiteOptions {
        format: format.into(),
        accept,
        color,
        run: Options {
            limits,
            self_check: true,
            steps: false,
        },
    };
    match deriv::with_stack(|| deriv::suite::run_suite(paths, &opts)) {
        Ok(summary) => {
            print!("{}", summary.report);
            u8::from(summary.failed > 0)
        }
        Err(e) => {
            error(&e.0);
            2
        }
    }
}

/// Answers a script, or reports why not and gives the exit code.
fn answer(source: &Source, options: &Options) -> Result<deriv::Run, u8> {
    deriv::run(source, options).map_err(|d| {
        report(source, &d);
        2
    })
}

fn run(cli: Cli) -> u8 {
    if let Command::Test {
        paths,
        accept,
        format,
        limits,
    } = &cli.command
    {
        return test(paths, *accept, *format, limits.limits(), cli.color);
    }
    match &cli.command {
        Command::Completions { shell } => return completions(*shell),
        Command::Man { dir } => return man(dir.as_deref()),
        _ => {}
    }
    let Some((file, limits)) = cli.command.script() else {
        return 2;
    };
    let source = match read_source(file) {
        Ok(s) => s,
        Err(e) => {
            error(e);
            return 2;
        }
    };
    match cli.command {
        Command::Test { .. } | Command::Completions { .. } | Command::Man { .. } => 2,
        Command::Check { .. } => match deriv::check(&source, &limits) {
            Ok(_) => 0,
            Err(d) => {
                report(&source, &d);
                2
            }
        },
        Command::Verify { steps, .. } => {
            // `verify` checks every result itself, at more instances.
            let options = Options {
                limits,
                self_check: false,
                steps,
            };
            let run = match answer(&source, &options) {
                Ok(r) => r,
                Err(code) => return code,
            };
            let checks = deriv::verify::verify_all(&run.key);
            print!("{}", deriv::verify::report(&source.name, &checks));
            if !run.problems.is_empty() {
                report(&source, &Diagnostics(run.problems));
                return 2;
            }
            if checks.iter().any(|c| !c.passed) {
                return 1;
            }
            0
        }
        Command::Run {
            format,
            output,
            fragment,
            stats,
            no_self_check,
            steps,
            ..
        } => {
            if fragment && !matches!(format, FormatArg::Latex) {
                error("`--fragment` is for LaTeX: add `--format latex`, or drop `--fragment`");
                return 2;
            }
            let options = Options {
                limits,
                self_check: !no_self_check,
                steps,
            };
            let run = match answer(&source, &options) {
                Ok(r) => r,
                Err(code) => return code,
            };
            if run.key.model.requests.is_empty() {
                warning(format_args!(
                    "`{}` has no requests (`derive`, `count`, `depth`, `expect`): the key shows the model only",
                    source.name
                ));
            }
            let text = print::render(&run.key, format.into(), &PrintOptions { fragment });
            if let Err(e) = emit(output.as_deref(), &text) {
                if !e.is_empty() {
                    error(e);
                }
                return 2;
            }
            if stats {
                print_stats(&run.key);
            }
            if !run.problems.is_empty() {
                report(&source, &Diagnostics(run.problems.clone()));
            }
            if run.key.failed_self_check() {
                for a in run.key.answers.iter() {
                    if let Some(f) = &a.failed {
                        let line = run.key.model.requests.get(a.request).map_or(0, |r| r.line);
                        error(format_args!(
                            "internal error: the self-check found `{}` (line {line}) wrong: {}; it is not printed. This is a bug in deriv: please report the script",
                            f.what, f.why
                        ));
                    }
                }
                return 3;
            }
            if !run.problems.is_empty() {
                return 2;
            }
            if !run.key.all_hold() {
                return 1;
            }
            0
        }
    }
}

/// Writes the key to `output` (`-` is standard output), or to standard
/// output.
fn emit(output: Option<&Path>, text: &str) -> Result<(), String> {
    match output {
        Some(path) if path != Path::new("-") => write_out(path, text),
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| match e.kind() {
                    // A reader that stopped early (`| head`) needs no message.
                    std::io::ErrorKind::BrokenPipe => String::new(),
                    _ => format!("cannot write the answer key to standard output: {e}"),
                })
        }
    }
}

/// `--stats`: the e-graph statistics of every request, on standard error.
fn print_stats(key: &deriv::key::AnswerKey) {
    for a in &key.answers {
        let line = key.model.requests.get(a.request).map_or(0, |r| r.line);
        if a.stats.is_empty() {
            eprintln!("stats: line {line}: no e-graph run");
        }
        for s in &a.stats {
            eprintln!(
                "stats: line {line}: {}: {} iterations, {} nodes, {} classes, stopped: {}",
                s.what, s.iterations, s.nodes, s.classes, s.stop
            );
        }
    }
}

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    use std::io::IsTerminal;
    let color = ColorArg::from_args();
    let clap_color = match color {
        ColorArg::Auto => clap::ColorChoice::Auto,
        ColorArg::Always => clap::ColorChoice::Always,
        ColorArg::Never => clap::ColorChoice::Never,
    };
    let parsed = Cli::command()
        .color(clap_color)
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    STDERR_COLOR.store(
        cli.color.on(std::io::stderr().is_terminal()),
        std::sync::atomic::Ordering::Relaxed,
    );
    // Deep expressions are bounded by the limits, but parsing, the
    // derivations and the printers recurse; a large stack keeps the limits,
    // not the platform, the thing that decides. The run switches to it on
    // this thread: a thread of its own would cost more to start and stop
    // than a small script takes to answer. Only the pages used are ever
    // committed.
    let ran = deriv::with_stack(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || run(cli)))
    });
    match ran {
        Ok(code) => ExitCode::from(code),
        Err(_) => {
            error("internal error: the run stopped unexpectedly; please report the script");
            ExitCode::from(2)
        }
    }
}
