//! Text to spanned syntax tree: the layout pass, the pest grammar in
//! `grammar/deriv.pest`, and the translation of pest's errors into
//! diagnostics that speak of the language, never of grammar rules.

pub mod ast;
mod build;
mod layout;

use crate::diag::{Diagnostic, Span};
use crate::Limits;
use pest::error::{ErrorVariant, InputLocation};
use pest::Parser as _;
use std::collections::BTreeSet;

mod grammar {
    #![allow(missing_docs)]
    /// The pest parser generated from `grammar/deriv.pest`.
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/deriv.pest"]
    pub struct DerivParser;
}

pub use self::ast::Script;
pub use grammar::{DerivParser, Rule};

/// Parses a script's text into its syntax tree.
pub fn parse(text: &str, limits: &Limits) -> Result<Script, Diagnostic> {
    let laid_out = layout::layout(text, limits.max_nesting)?;
    let mut pairs = parse_rule(Rule::script, text, &laid_out)?;
    let script = pairs
        .next()
        .ok_or_else(|| Diagnostic::new(Span::default(), "internal error: empty parse", "here"))?;
    build::Builder::new(limits.max_depth).script(script)
}

/// Runs the parser for `rule`. Tracking every attempt (which the message
/// for a syntax error needs) costs more than the parse itself, so a text is
/// parsed without it, and again with it only when it does not parse. The
/// switch is global to the process and read when a parse starts, so it is
/// only ever turned on: a parse in another thread never loses its detail.
fn parse_rule<'t>(
    rule: Rule,
    text: &str,
    laid_out: &'t str,
) -> Result<pest::iterators::Pairs<'t, Rule>, Diagnostic> {
    if let Ok(pairs) = DerivParser::parse(rule, laid_out) {
        return Ok(pairs);
    }
    pest::set_error_detail(true);
    DerivParser::parse(rule, laid_out).map_err(|e| syntax_error(text, &e))
}

/// Parses one expression, as it would appear on the right of an equation.
pub fn parse_expr(text: &str, limits: &Limits) -> Result<ast::Expr, Diagnostic> {
    let laid_out = layout::layout(text, limits.max_nesting)?;
    let mut pairs = parse_rule(Rule::expr, text, &laid_out)?;
    let pair = pairs
        .next()
        .ok_or_else(|| Diagnostic::new(Span::default(), "internal error: empty parse", "here"))?;
    let end = pair.as_span().end();
    if end != laid_out.len() {
        return Err(Diagnostic::new(
            Span::new(end, laid_out.len()),
            "unexpected text after the expression",
            "not part of the expression",
        ));
    }
    build::Builder::new(limits.max_depth).expr(pair)
}

/// What a grammar rule expects, in the words of the language.
/// The hint for a script past a depth limit at `limit`: split it, or
/// raise the limit with `flag`, where it can still be raised.
fn too_deep_hint(split: &str, flag: &str, limit: usize) -> String {
    if limit >= crate::MAX_DEPTH_LIMIT {
        return split.to_owned();
    }
    format!(
        "{split}, or raise the limit with `{flag} {}`",
        limit.saturating_mul(2).min(crate::MAX_DEPTH_LIMIT)
    )
}

fn phrase(rule: Rule) -> Option<&'static str> {
    use Rule::*;
    Some(match rule {
        EOI => "the end of the script",
        script | dim_decl | index_decl | param_decl | input_decl | state_decl | fn_decl
        | init_decl | loss_decl | equation | derive_req | count_req | depth_req | expect_req => {
            "a declaration, an equation or a request"
        }
        name | dim_name => "a name",
        fname => "a function name",
        int => "an integer",
        number => "a number",
        kw_dim => "`dim`",
        kw_index => "`index`",
        kw_in => "`in`",
        kw_param => "`param`",
        kw_input => "`input`",
        kw_fn => "`fn`",
        kw_state => "`state`",
        kw_init => "`init`",
        kw_loss => "`loss`",
        kw_derive => "`derive`",
        kw_count => "`count`",
        kw_depth => "`depth`",
        kw_expect => "`expect`",
        kw_assuming | assuming => "`assuming`",
        kw_with | with_steps => "`with steps`",
        kw_steps => "`steps`",
        kw_wrt => "`wrt`",
        kw_jacobian => "`jacobian`",
        kw_grad => "`grad`",
        kw_hess => "`hess`",
        kw_jac => "`jac`",
        kw_adjoints | adjoints_req => "`adjoints`",
        kw_inverse | inverse_req => "`inverse`",
        kw_det | det_req => "`det(J)`",
        grad_req => "`grad W`",
        jacobian_req => "`J = jacobian (...) wrt (...)`",
        kw_params | count_params => "`params`",
        kw_macs | count_macs => "`macs v[...]`",
        kw_scalar => "`scalar`",
        range => "a range such as `1..G`",
        shape => "a shape: `scalar`, a size such as `H`, or `H x D`",
        dim_expr | dim_term | dim_factor => "a size such as `H`",
        dim_add_op => "`+` or `-`",
        target => "a variable such as `h[t]`",
        reference => "a name such as `h[t-1]`",
        index_list => return None,
        index_item | index_var | signed_int => "an index such as `t-1`",
        offset_op => "an offset such as `-1`",
        expr | term | unary | power | postfix | paren | call | deriv_call | grad_call
        | hess_call | jac_call | block | block_row => "an expression",
        add_op => "an operator",
        mul_op => "an operator",
        neg_op => "an expression",
        pow_op => "an operator",
        transpose => "an operator",
        ref_tuple => "a reference such as `z[k]`, or a list such as `(theta[k], p[k])`",
        expect_lhs | depth_lhs => "a derived result such as `bar(h[t])`",
        assignment => "an assumption such as `p[t] = 1`",
        _ => return None,
    })
}

/// The token at a byte offset, for "unexpected ..." messages.
fn found_at(text: &str, at: usize) -> (String, Span) {
    let rest = &text[at.min(text.len())..];
    let line_rest = rest.split(['\n', '\r']).next().unwrap_or("");
    if rest.is_empty() {
        return ("end of script".into(), Span::new(at, at));
    }
    if line_rest.trim().is_empty() || line_rest.trim_start().starts_with('#') {
        return ("end of line".into(), Span::new(at, at));
    }
    let word: String = if rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect()
    } else {
        rest.chars().take(1).collect()
    };
    let shown = word.escape_debug().to_string();
    (format!("`{shown}`"), Span::new(at, at + word.len()))
}

fn syntax_error(text: &str, err: &pest::error::Error<Rule>) -> Diagnostic {
    let mut at = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut rules: Vec<Rule> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    if let ErrorVariant::ParsingError { positives, .. } = &err.variant {
        rules.extend(positives.iter().copied());
    }
    // The detailed attempts know the furthest position any token was tried
    // at, which is where the reader's mistake is.
    if let Some(attempts) = err.parse_attempts() {
        if attempts.max_position >= at {
            if attempts.max_position > at {
                rules.clear();
            }
            at = attempts.max_position;
            rules.extend(
                attempts
                    .call_stacks
                    .iter()
                    .filter_map(|c| c.deepest.get_rule().copied()),
            );
            tokens = attempts
                .expected_tokens()
                .iter()
                .map(ToString::to_string)
                .collect();
        }
    }
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for r in rules {
        if let Some(p) = phrase(r) {
            expected.insert(p.to_owned());
        }
    }
    for token in tokens {
        // Character ranges (`0..9`) and built-in rules say nothing a
        // reader can act on; literal tokens do.
        let is_range = token.chars().count() == 4 && token.chars().nth(1) == Some('.');
        if token.trim().is_empty() || token == "BUILTIN_RULE" || is_range {
            continue;
        }
        match token.as_str() {
            "+" | "-" | "*" | ".*" | "./" | "/" | "^" | "\u{2299}" | "\u{2298}" => {
                expected.insert("an operator".into());
            }
            // Openers and postfix marks continue the operand before them;
            // listing them would only add noise.
            "(" | "[" | "'" | "\u{1d40}" => {}
            _ => {
                expected.insert(format!("`{}`", token.escape_debug()));
            }
        }
    }
    if expected.len() > 1 {
        expected.remove("a declaration, an equation or a request");
    }
    // `_` and "a name" right after a name only say the name could go on.
    let after_name =
        text[..at.min(text.len())].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
    if after_name {
        expected.remove("`_`");
        expected.remove("a name");
    }
    expected.remove("`_`");
    // Words that start an expression are covered by "an expression".
    if expected.contains("an expression") {
        for w in [
            "`grad`",
            "`hess`",
            "`jac`",
            "`\u{3c3}`",
            "`\u{2207}`",
            "`σ`",
            "`∇`",
        ] {
            expected.remove(w);
        }
    }
    if let Some(d) = keyword_as_name(text, at) {
        return d;
    }
    let (found, span) = found_at(text, at);
    let list: Vec<String> = expected.into_iter().collect();
    let label = match list.as_slice() {
        [] => "not understood here".to_owned(),
        [one] => format!("expected {one}"),
        [init @ .., last] => format!("expected {} or {last}", init.join(", ")),
    };
    let mut d = Diagnostic::new(span, format!("unexpected {found}"), label);
    d.hint = Some(hint_for(text, at, &found));
    d
}

/// The words the grammar reserves.
const KEYWORDS: &[&str] = &[
    "dim", "index", "param", "input", "fn", "init", "loss", "derive", "count", "depth", "expect",
    "assuming", "wrt", "jacobian", "grad", "hess", "in",
];

/// A keyword written where a name belongs (`dim input, H`): the parser
/// stops just after it; say what the real problem is.
fn keyword_as_name(text: &str, at: usize) -> Option<Diagnostic> {
    let before = text.get(..at)?;
    // Name characters are ASCII, so counting them back from the end lands
    // on a character boundary even when a multibyte symbol precedes them.
    let word_start = before.len()
        - before
            .bytes()
            .rev()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
    let word = &before[word_start..];
    let rest = text.get(at..)?;
    let next = rest.trim_start_matches([' ', '\t']).chars().next();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let leading = before[line_start..word_start].trim().is_empty();
    if word.is_empty()
        || leading
        || !KEYWORDS.contains(&word)
        || matches!(next, None | Some('\n' | '\r'))
    {
        return None;
    }
    Some(
        Diagnostic::new(
            Span::new(word_start, at),
            format!("`{word}` is a keyword of the language, not a name"),
            "reserved word",
        )
        .hint("choose another name"),
    )
}

/// Whether `line` stops inside an index list such as `h[t-`.
fn inside_index(line: &str) -> bool {
    let mut depth: Vec<(char, bool)> = Vec::new();
    let mut prev = ' ';
    for c in line.chars() {
        match c {
            '[' => depth.push(('[', prev.is_ascii_alphanumeric() || prev == '_')),
            '(' => depth.push(('(', false)),
            ']' | ')' => {
                depth.pop();
            }
            _ => {}
        }
        if !c.is_whitespace() {
            prev = c;
        }
    }
    depth
        .last()
        .is_some_and(|&(b, after_name)| b == '[' && after_name)
}

/// A hint for the most common slips; otherwise a pointer to the forms.
fn hint_for(text: &str, at: usize, found: &str) -> String {
    let before = &text[..at.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before[line_start..].trim_end();
    let first_word = line
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    match first_word {
        "param" | "input" => {
            return "declare a shape after `:`, such as `param W : H x D` or `input x[t] : D`"
                .into()
        }
        "index" => return "write `index t`, or `index i, j in 1..G` with a range".into(),
        "fn" => return "declare a function as `fn F : D -> scalar`".into(),
        "derive" => {
            return "the derive requests are `derive adjoints`, `derive grad W`, `derive inverse`, \
                    `derive J = jacobian (y) wrt (x)` and `derive det(J)`"
                .into()
        }
        "count" => return "the count requests are `count params` and `count macs v[i]`".into(),
        _ => {}
    }
    if inside_index(line) {
        return "an index is an index name with an integer offset, such as `t-1`, or an integer such as `0`".into();
    }
    if !line.contains('=')
        && line
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ')
    {
        return "a statement is a declaration (`dim`, `index`, `param`, `input`, `fn`, `init`, `loss`), \
                an equation such as `h[t] = ...`, or a request (`derive`, `count`, `depth`, `expect`)"
            .into();
    }
    if found == "end of line" || found == "end of script" {
        return "the statement is incomplete; a statement ends at the end of its line unless a bracket is still open".into();
    }
    if line.ends_with(|c: char| c.is_ascii_alphanumeric() || c == ']' || c == ')') {
        return "two operands need an operator between them: `*` for a product, `.*` for an elementwise product".into();
    }
    "see the language reference for the forms a statement can take".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> Script {
        match parse(src, &Limits::default()) {
            Ok(s) => s,
            Err(e) => panic!("{src:?} did not parse: {} / {}", e.message, e.label),
        }
    }

    #[test]
    fn parses_the_statement_forms() {
        let s = ok("dim D, H\nindex i, j in 1..G\nparam W : H x D\ninput x[t] : D\n\
                    fn ell : H -> scalar\ninit h[0] = 0\nh[t] = tanh(W * x[t] + h[t-1])\n\
                    loss L = sum(t, ell(h[t]))\nderive adjoints assuming p[t] = 1, i[t] = 0\n\
                    derive grad W\nderive inverse\nderive J = jacobian (a[k+1], b[k+1]) wrt (a[k], b[k])\n\
                    derive det(J)\ncount params\ncount macs h[i, j]\ndepth h[i, j]\n\
                    expect depth(h[i, j]) = 2*G - 1\nexpect bar(c[t]) = bar(c[t+1]) assuming p[t] = 1");
        assert_eq!(s.stmts.len(), 18);
    }

    #[test]
    fn transpose_beats_power_by_t() {
        let s = ok("y = x^T * A^(T) ^ 2");
        let text = format!("{:?}", s.stmts[0].kind);
        assert!(text.contains("Transpose"));
        assert!(text.contains("Pow"));
    }

    #[test]
    fn unicode_aliases() {
        ok("y = σ(a) ⊙ b + ∇F(x) + xᵀ * x");
    }

    #[test]
    fn continuation_inside_brackets_only() {
        ok("y = tanh(a +\n  b)\nz = 1");
        assert!(parse("y = a +\n b", &Limits::default()).is_err());
    }

    #[test]
    fn an_error_after_a_multibyte_operator_is_reported() {
        // Found by fuzzing: the word before the error was sliced one byte
        // after the start of `⊙`, inside the character.
        let e = parse("h=x\u{2299}", &Limits::default()).err();
        assert_eq!(
            e.map(|e| e.message),
            Some("unexpected end of script".into())
        );
    }

    #[test]
    fn errors_name_what_was_expected() {
        let e = parse("h[t] = tanh(W x[t])", &Limits::default()).err();
        let e = e.map(|e| (e.message, e.label));
        assert_eq!(
            e,
            Some((
                "unexpected `x`".into(),
                "expected `)`, `,`, an expression or an operator".into()
            ))
        );
    }
}
