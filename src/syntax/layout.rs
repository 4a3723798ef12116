//! The layout pass that runs before the grammar: it blanks comments, folds
//! newlines inside open brackets into spaces, and checks that brackets
//! match and nest no deeper than the limit. The text keeps its length, so
//! every byte offset still points into the original script.

use crate::diag::{Diagnostic, Span};

/// Returns the script with comments blanked and bracketed newlines folded.
pub fn layout(text: &str, max_nesting: usize) -> Result<String, Diagnostic> {
    let mut out = text.as_bytes().to_vec();
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut in_comment = false;
    for (at, ch) in text.char_indices() {
        let width = ch.len_utf8();
        if ch == '\n' {
            in_comment = false;
            if !open.is_empty() {
                out[at] = b' ';
            }
            continue;
        }
        if in_comment || ch == '#' {
            in_comment = true;
            out[at..at + width].fill(b' ');
            continue;
        }
        match ch {
            '\r' if !open.is_empty() => out[at] = b' ',
            '(' | '[' => {
                if open.len() >= max_nesting {
                    return Err(Diagnostic::new(
                        Span::new(at, at + 1),
                        format!("brackets nest deeper than the limit of {max_nesting}"),
                        "this bracket is one too deep",
                    )
                    .hint(super::too_deep_hint(
                        "split the expression into named equations",
                        "--max-nesting",
                        max_nesting,
                    )));
                }
                open.push((ch, at));
            }
            ')' | ']' => {
                let want = if ch == ')' { '(' } else { '[' };
                match open.pop() {
                    Some((o, _)) if o == want => {}
                    Some((o, start)) => {
                        let close = if o == '(' { ')' } else { ']' };
                        return Err(Diagnostic::new(
                            Span::new(at, at + 1),
                            format!("`{ch}` does not match the `{o}` it closes"),
                            format!("expected `{close}` here"),
                        )
                        .related(Span::new(start, start + 1), format!("`{o}` opened here"))
                        .hint(format!("close the `{o}` with `{close}`")));
                    }
                    None => {
                        return Err(Diagnostic::new(
                            Span::new(at, at + 1),
                            format!("`{ch}` closes nothing"),
                            "no bracket is open here",
                        )
                        .hint(format!(
                            "remove the `{ch}`, or open it with `{want}` earlier"
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(&(o, start)) = open.last() {
        let close = if o == '(' { ')' } else { ']' };
        return Err(Diagnostic::new(
            Span::new(start, start + 1),
            format!("`{o}` is never closed"),
            "opened here",
        )
        .hint(format!(
            "close it with `{close}`; a statement continues onto the next line only inside brackets"
        )));
    }
    // Only ASCII bytes were replaced, and whole characters at that, so the
    // text is still UTF-8; fall back to the original if that ever fails.
    Ok(String::from_utf8(out).unwrap_or_else(|_| text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_only_inside_brackets_and_keeps_offsets() {
        let src = "a = (b +\n  c) # note\nd = e";
        let out = layout(src, 8).unwrap_or_default();
        assert_eq!(out.len(), src.len());
        assert_eq!(out, "a = (b +   c)       \nd = e");
    }

    #[test]
    fn blanks_multibyte_comments() {
        let src = "x = 1 # σ ⊙\ny = 2";
        let out = layout(src, 8).unwrap_or_default();
        assert_eq!(out.len(), src.len());
        assert!(out.starts_with("x = 1 ") && out.ends_with("\ny = 2"));
    }

    #[test]
    fn reports_bracket_errors() {
        assert!(layout("a = (b", 8).is_err());
        assert!(layout("a = b)", 8).is_err());
        assert!(layout("a = (b]", 8).is_err());
        assert!(layout("((((", 3).is_err());
    }
}
