//! Rule patterns: read from their s-expressions once per process, and
//! searched with a cheap look at the graph's operators first.

use crate::ir::analysis::{Graph, Meta};
use crate::ir::Node;
use egg::{ENodeOrVar, FromOp, Id, Language, Pattern, PatternAst, SearchMatches, Searcher, Var};
use std::sync::OnceLock;

/// A pattern variable by name (a literal of this crate, such as `"?a"`).
pub fn var(name: &str) -> Var {
    name.parse()
        .unwrap_or_else(|_| invalid_rule(name, "not a pattern variable"))
}

/// The pattern AST of rule `name`, read from its s-expression. The rule
/// tables are read once per process, and this reader does it without the
/// intermediate s-expression tree (a tenth of a small derivation's work);
/// a test checks that it reads every rule as egg's own parser does.
pub fn pattern_ast(name: &str, text: &str) -> PatternAst<Node> {
    let mut ast = PatternAst::default();
    let mut rest = text;
    // Rule texts are ASCII (a test reads every rule as egg does), so the
    // tokens split on ASCII bytes.
    let mut tokens = std::iter::from_fn(|| {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        let end = match rest.as_bytes().first()? {
            b'(' | b')' => 1,
            _ => rest
                .bytes()
                .position(|b| b == b'(' || b == b')' || b.is_ascii_whitespace())
                .unwrap_or(rest.len()),
        };
        let (token, after) = rest.split_at(end);
        rest = after;
        Some(token)
    });
    let mut stack: Vec<(&str, Vec<Id>)> = Vec::new();
    let mut root = None;
    let node = |ast: &mut PatternAst<Node>, op: &str, kids: Vec<Id>| -> Id {
        let node = if op.starts_with('?') {
            if !kids.is_empty() {
                invalid_rule(name, &format!("the variable `{op}` has operands"));
            }
            ENodeOrVar::Var(var(op))
        } else if let Some(n) = small_int(op).filter(|_| kids.is_empty()) {
            // The common constants (`0`, `1`, `-1`, `2`), without trying
            // every operator's name first.
            ENodeOrVar::ENode(Node::Num(crate::num::Rational::int(n)))
        } else {
            match Node::from_op(op, kids) {
                Ok(n) => ENodeOrVar::ENode(n),
                Err(e) => invalid_rule(name, &e.to_string()),
            }
        };
        ast.add(node)
    };
    while let Some(t) = tokens.next() {
        let id = match t {
            "(" => match tokens.next() {
                Some(op) if op != "(" && op != ")" => {
                    stack.push((op, Vec::new()));
                    continue;
                }
                _ => invalid_rule(name, "an operator must follow `(`"),
            },
            ")" => match stack.pop() {
                Some((op, kids)) => node(&mut ast, op, kids),
                None => invalid_rule(name, "unbalanced `)`"),
            },
            op => node(&mut ast, op, Vec::new()),
        };
        match stack.last_mut() {
            Some((_, kids)) => kids.push(id),
            None if root.is_none() => root = Some(id),
            None => invalid_rule(name, "more than one expression"),
        }
    }
    if root.is_none() || !stack.is_empty() {
        invalid_rule(name, "not one whole expression");
    }
    ast
}

/// The integer a token writes in decimal digits, with an optional minus
/// sign, if it fits an `i64`.
fn small_int(token: &str) -> Option<i64> {
    let digits = token.strip_prefix('-').unwrap_or(token);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

/// The searcher pattern of rule `name`.
pub fn pattern(name: &str, text: &str) -> RuleSearcher {
    RuleSearcher::new(pattern_ast(name, text))
}

/// A rule's searcher. It looks first whether the graph holds every
/// operator of its pattern (a pattern cannot match a graph without one of
/// them), which most rules of a set fail for a given graph: the chain rule
/// for `det` in a graph without a determinant. Only then does it search,
/// compiled on that first search: compiling a pattern costs more than
/// searching a small graph with it, and some rules never meet their
/// operators in a given script.
pub struct RuleSearcher {
    ast: PatternAst<Node>,
    vars: Vec<Var>,
    /// The operator at the root, unless the root is a variable.
    root: Option<std::mem::Discriminant<Node>>,
    /// The operators of the pattern, each once.
    ops: Vec<std::mem::Discriminant<Node>>,
    /// The operator at each operand of the root, where the pattern names
    /// one (not a variable).
    operands: Vec<Option<std::mem::Discriminant<Node>>>,
    compiled: OnceLock<Pattern<Node>>,
}

impl RuleSearcher {
    fn new(ast: PatternAst<Node>) -> RuleSearcher {
        let mut ops = Vec::new();
        for n in ast.as_ref().iter().rev() {
            if let ENodeOrVar::ENode(e) = n {
                let d = e.discriminant();
                if !ops.contains(&d) {
                    ops.push(d);
                }
            }
        }
        let nodes = ast.as_ref();
        let (root, operands) = match nodes.last() {
            Some(ENodeOrVar::ENode(root)) => (
                Some(root.discriminant()),
                root.children()
                    .iter()
                    .map(|&c| match &nodes[usize::from(c)] {
                        ENodeOrVar::ENode(e) => Some(e.discriminant()),
                        ENodeOrVar::Var(_) => None,
                    })
                    .collect(),
            ),
            _ => (None, Vec::new()),
        };
        RuleSearcher {
            vars: vars_of(&ast),
            ast,
            root,
            ops,
            operands,
            compiled: OnceLock::new(),
        }
    }

    /// Whether the pattern may match at class `id`, whose nodes include
    /// the root's operator: one of them has operands whose classes hold the
    /// operators the pattern names there. (Only then is the compiled
    /// pattern run, which costs far more.)
    fn may_match(&self, eg: &Graph, root: std::mem::Discriminant<Node>, id: Id) -> bool {
        eg[id].nodes.iter().any(|n| {
            n.discriminant() == root
                && n.children().len() == self.operands.len()
                && n.children().iter().zip(&self.operands).all(|(&c, want)| {
                    want.is_none_or(|d| eg[c].nodes.iter().any(|m| m.discriminant() == d))
                })
        })
    }

    fn pattern(&self) -> &Pattern<Node> {
        self.compiled.get_or_init(|| Pattern::new(self.ast.clone()))
    }
}

impl Searcher<Node, Meta> for RuleSearcher {
    fn search_with_limit(&self, eg: &Graph, limit: usize) -> Vec<SearchMatches<'_, Node>> {
        let absent = |d: &std::mem::Discriminant<Node>| {
            eg.classes_for_op(d)
                .is_none_or(|classes| classes.len() == 0)
        };
        if self.ops.iter().any(absent) {
            return Vec::new();
        }
        let pattern = self.pattern();
        let Some(root) = self.root else {
            return pattern.search_with_limit(eg, limit);
        };
        // As egg's own search: the classes that hold the root's operator,
        // in egg's order, until `limit` matches; but only where the
        // operands can match.
        let mut left = limit;
        let mut found = Vec::new();
        for id in eg.classes_for_op(&root).into_iter().flatten() {
            if left == 0 {
                break;
            }
            if !self.may_match(eg, root, id) {
                continue;
            }
            if let Some(m) = pattern.search_eclass_with_limit(eg, id, left) {
                left = left.saturating_sub(m.substs.len());
                found.push(m);
            }
        }
        found
    }

    fn search_eclass_with_limit(
        &self,
        eg: &Graph,
        eclass: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, Node>> {
        self.pattern().search_eclass_with_limit(eg, eclass, limit)
    }

    fn get_pattern_ast(&self) -> Option<&PatternAst<Node>> {
        Some(&self.ast)
    }

    fn vars(&self) -> Vec<Var> {
        self.vars.clone()
    }
}

/// The distinct variables of a pattern, in order of appearance.
pub fn vars_of(ast: &PatternAst<Node>) -> Vec<Var> {
    let mut vars = Vec::new();
    for n in ast.as_ref() {
        if let ENodeOrVar::Var(v) = n {
            if !vars.contains(v) {
                vars.push(*v);
            }
        }
    }
    vars
}

/// The rule tables are literals of this crate; a malformed one is a bug
/// that every test run would hit at once.
#[allow(clippy::panic)]
pub fn invalid_rule(name: &str, why: &str) -> ! {
    panic!("rule `{name}` is malformed: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{differentiate, jacobians, linear_algebra, prove};
    use egg::Subst;

    /// The reader agrees with egg's s-expression parser.
    #[test]
    fn reads_patterns_as_egg_does() {
        for text in [
            "?a",
            "0",
            "-1",
            "1/2",
            "(+ ?a ?b)",
            "(- ?z ?a)",
            "(neg (neg ?a))",
            "(.* (sigma' ?x) (- 1 (sigma ?x)))",
            "(*  (T ?a)\n (* ?b  (T ?c)))",
            "(^ ?a -1)",
            "(* -12 (+ 007 1/2))",
            "-0",
            "((T ?a))",
        ] {
            let theirs: Result<PatternAst<Node>, _> = text.parse();
            let ours = std::panic::catch_unwind(|| pattern_ast("test", text));
            match (theirs, ours) {
                (Ok(t), Ok(o)) => assert_eq!(o, t, "{text}"),
                (Err(_), Err(_)) => {}
                (t, o) => panic!("{text}: egg {:?}, ours {:?}", t.is_ok(), o.is_ok()),
            }
        }
    }

    /// Every rule finds, in grown graphs, the matches egg's own pattern
    /// search finds, in the same order, also when a limit cuts them short.
    #[test]
    fn searches_find_what_egg_finds() {
        let mut found = 0;
        for (eg, _) in crate::egraph::grown::graphs(60) {
            for rule in prove().iter().chain(differentiate()).chain(jacobians()) {
                let Some(ast) = rule.searcher.get_pattern_ast() else {
                    continue;
                };
                let egg_own = Pattern::new(ast.clone());
                for limit in [usize::MAX, 3] {
                    let key = |ms: Vec<SearchMatches<'_, Node>>| -> Vec<(Id, Vec<Subst>)> {
                        ms.into_iter().map(|m| (m.eclass, m.substs)).collect()
                    };
                    let ours = key(rule.searcher.search_with_limit(&eg, limit));
                    let theirs = key(egg_own.search_with_limit(&eg, limit));
                    assert_eq!(ours, theirs, "{}", rule.name);
                    found += ours.len();
                }
            }
        }
        assert!(found > 1000, "{found} matches compared");
    }

    /// Every rule's searcher, printed by egg, is read as egg reads it.
    #[test]
    fn every_rule_reads_back() {
        for rule in prove()
            .iter()
            .chain(differentiate())
            .chain(jacobians())
            .chain(linear_algebra())
        {
            if let Some(ast) = rule.searcher.get_pattern_ast() {
                let theirs: PatternAst<Node> = match ast.to_string().parse() {
                    Ok(t) => t,
                    Err(e) => panic!("{}: {e}", rule.name),
                };
                assert_eq!(
                    pattern_ast("test", &ast.to_string()),
                    theirs,
                    "{}",
                    rule.name
                );
            }
        }
    }
}
