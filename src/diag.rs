//! One diagnostic type for every error, parse or semantic, rendered the same
//! way: message, the source line with a marker under the span, a label and a
//! hint. The library only builds diagnostics; `main.rs` prints them.

use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;
use std::fmt;

/// A byte range in a script's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A script's name and text, for rendering diagnostics.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name shown in diagnostics: a path, or `<stdin>`.
    pub name: String,
    /// The whole text.
    pub text: String,
    /// Byte offsets where lines start, for line numbers in constant time.
    line_starts: Vec<usize>,
}

/// The largest script read, in bytes: far more than any model needs, and
/// a bound for a reader that never ends (`/dev/zero`).
pub const MAX_SCRIPT_BYTES: u64 = 256 << 20;

impl Source {
    /// Reads a script from `reader`, named `name`, or says why not: a read
    /// error, a script larger than [`MAX_SCRIPT_BYTES`], or bytes that are
    /// not UTF-8 text, located by line and column with a hint.
    pub fn read(name: &str, reader: impl std::io::Read) -> Result<Source, String> {
        use std::io::Read;
        let mut bytes = Vec::new();
        reader
            .take(MAX_SCRIPT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read `{name}`: {e}"))?;
        if bytes.len() as u64 > MAX_SCRIPT_BYTES {
            return Err(format!(
                "`{name}` is larger than {} MiB, the most deriv reads\n  = hint: a script is a model's equations and requests; split a generated one",
                MAX_SCRIPT_BYTES >> 20
            ));
        }
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Source::new(name, text)),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let bytes = e.as_bytes();
                let before = &bytes[..at];
                let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                let start = before
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |k| k + 1);
                let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
                Err(format!(
                    "{name}:{line}:{column}: the script is not UTF-8 text (byte 0x{:02x} at line {line}, column {column})\n  = hint: save the script as UTF-8 text",
                    bytes.get(at).copied().unwrap_or(0)
                ))
            }
        }
    }

    /// A named source text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Source {
        let mut text = text.into();
        // A byte-order mark (some editors write one) is not part of the
        // script.
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self
            .line_starts
            .get(line - 1)
            .copied()
            .unwrap_or(0)
            .min(offset);
        let col = self.text[start..offset].chars().count() + 1;
        (line, col)
    }

    /// The text a span covers.
    pub fn slice(&self, span: Span) -> &str {
        let start = floor_char_boundary(&self.text, span.start);
        let end = floor_char_boundary(&self.text, span.end.max(span.start));
        &self.text[start..end]
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// What went wrong with a script, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// One line saying what is wrong.
    pub message: String,
    /// The offending text.
    pub span: Span,
    /// A few words shown under the offending text.
    pub label: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// Other places that explain the error, such as an earlier definition.
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    /// A diagnostic at `span` with a message and a label.
    pub fn new(span: Span, message: impl Into<String>, label: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span,
            label: label.into(),
            hint: None,
            related: Vec::new(),
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a secondary location.
    pub fn related(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.related.push((span, label.into()));
        self
    }

    /// Renders the diagnostic with a code frame: `file:line:col`, the line,
    /// a marker under the span, the label and the hint.
    pub fn render(&self, source: &Source) -> String {
        self.render_styled(source, false)
    }

    /// [`Diagnostic::render`], coloured with ANSI escapes when `color` is
    /// set (for a terminal).
    pub fn render_styled(&self, source: &Source, color: bool) -> String {
        let file = SimpleFile::new(source.name.as_str(), source.text.as_str());
        let clamp = |s: Span| {
            let start = floor_char_boundary(&source.text, s.start);
            let end = floor_char_boundary(&source.text, s.end.max(s.start));
            start..end
        };
        let mut labels = vec![Label::primary((), clamp(self.span)).with_message(&self.label)];
        labels.extend(
            self.related
                .iter()
                .map(|(s, l)| Label::secondary((), clamp(*s)).with_message(l)),
        );
        let mut report = Report::error()
            .with_message(&self.message)
            .with_labels(labels);
        if let Some(hint) = &self.hint {
            report = report.with_notes(vec![format!("hint: {hint}")]);
        }
        let config = term::Config::default();
        let rendered = if color {
            let mut buf = term::termcolor::Buffer::ansi();
            term::emit_to_write_style(&mut buf, &config, &file, &report)
                .map(|()| String::from_utf8_lossy(buf.as_slice()).into_owned())
        } else {
            term::emit_into_string(&config, &file, &report)
        };
        match rendered {
            Ok(text) => text,
            // The spans are clamped to the text, so rendering cannot fail; if
            // it ever does, still say where and what.
            Err(_) => {
                let (line, col) = source.line_col(self.span.start);
                format!(
                    "error: {}\n  at {}:{line}:{col}\n",
                    self.message, source.name
                )
            }
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Every diagnostic a stage found, in source order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Renders every diagnostic, one after another.
    pub fn render(&self, source: &Source) -> String {
        self.render_styled(source, false)
    }

    /// [`Diagnostics::render`], coloured when `color` is set.
    pub fn render_styled(&self, source: &Source, color: bool) -> String {
        self.0
            .iter()
            .map(|d| d.render_styled(source, color))
            .collect()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Diagnostics {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
