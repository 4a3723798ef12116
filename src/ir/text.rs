//! Plain text: the language's own syntax, fully explicit, so that any
//! printed equation can be pasted back into an `expect` line.

use super::prec::{is_sum, needs_parens, negative_lead, Slot};
use crate::ir::{Leaf, Node, Symbols};
use crate::num::Rational;
use egg::{Id, RecExpr};
use leaf as plain_leaf;

/// Prints expressions in the language's syntax.
pub struct Plain<'a> {
    symbols: &'a Symbols,
    expr: &'a RecExpr<Node>,
    /// Each node's shape as written, where known.
    shapes: Vec<Option<crate::shape::Shape>>,
    out: String,
}

/// Prints one expression in the language's syntax.
pub fn expr(symbols: &Symbols, expr: &RecExpr<Node>) -> String {
    if expr.as_ref().is_empty() {
        return String::new();
    }
    let shapes = super::prec::shapes(expr, symbols);
    // A lone elementwise inverse prints as `1 ./ v`.
    if let Some(e) = super::prec::lone_inverses_as_quotients(expr, &shapes) {
        return self::expr(symbols, &e);
    }
    let mut p = Plain {
        symbols,
        expr,
        shapes,
        out: String::new(),
    };
    p.node(crate::ir::root(expr), false);
    p.out
}

/// Prints a leaf in the language's syntax.
pub fn leaf(symbols: &Symbols, leaf: &Leaf) -> String {
    symbols.leaf_text(leaf)
}

/// Whether a constant that is not an integer needs parentheses: it
/// prints as the quotient `1/2`, so it binds like a product, wherever a
/// product would need them (`x^(1/2)`, `a * (1/2)`, `(1/2)^T`).
fn fraction_needs_parens(expr: &RecExpr<Node>, child: Id, parent: &Node, slot: Slot) -> bool {
    let fraction = |id: Id| matches!(&expr[id], Node::Num(r) if !r.is_integer());
    match (parent, slot) {
        // A product printed without parentheses after another factor
        // (`a * b * c` for `a * (b * c)`) must not start with a fraction
        // either: `a * 1/2 * c` reads as `(a * 1) / 2 * c`.
        (Node::Mul(_) | Node::Had(_) | Node::Div(_), Slot::Right) => {
            let mut at = child;
            while let Node::Mul([a, _]) | Node::Had([a, _]) | Node::Div([a, _]) = &expr[at] {
                at = *a;
            }
            fraction(at)
        }
        (Node::Pow(_) | Node::Trans(_), _) => fraction(child),
        _ => false,
    }
}

/// Prints a constant; `abs` drops its sign.
pub fn number(r: &Rational, abs: bool) -> String {
    if abs {
        r.abs().to_string()
    } else {
        r.to_string()
    }
}

impl Plain<'_> {
    fn child(&mut self, parent: &Node, slot: Slot, id: Id, abs: bool) {
        let is_t = |l: &Leaf| plain_leaf(self.symbols, l) == "T";
        if needs_parens(self.expr, parent, slot, id, abs, &is_t)
            || fraction_needs_parens(self.expr, id, parent, slot)
            || !super::prec::product_reads_back(self.expr, &self.shapes, parent, slot, id)
        {
            self.out.push('(');
            self.node(id, abs);
            self.out.push(')');
        } else {
            self.node(id, abs);
        }
    }

    fn binary(&mut self, parent: &Node, a: Id, op: &str, b: Id, abs: bool) {
        self.child(parent, Slot::Left, a, abs);
        self.out.push_str(op);
        self.child(parent, Slot::Right, b, false);
    }

    fn call(&mut self, name: &str, args: &[Id]) {
        self.out.push_str(name);
        self.out.push('(');
        for (k, &a) in args.iter().enumerate() {
            if k > 0 {
                self.out.push_str(", ");
            }
            self.node(a, false);
        }
        self.out.push(')');
    }

    /// Prints the node at `id`; with `abs`, without its leading minus.
    fn node(&mut self, id: Id, abs: bool) {
        let node = self.expr[id].clone();
        match &node {
            Node::Add([a, b]) => {
                self.child(&node, Slot::Left, *a, abs);
                let neg = negative_lead(self.expr, *b);
                self.out.push_str(if neg { " - " } else { " + " });
                if is_sum(&self.expr[*b]) {
                    // a + (-x + y) reads as a - x + y.
                    self.node(*b, neg);
                } else {
                    let parent = if neg {
                        Node::Sub([*a, *b])
                    } else {
                        node.clone()
                    };
                    self.child(&parent, Slot::Right, *b, neg);
                }
            }
            Node::Sub([a, b]) => {
                self.child(&node, Slot::Left, *a, abs);
                if is_sum(&self.expr[*b]) {
                    self.out.push_str(" - ");
                    self.child(&node, Slot::Right, *b, false);
                } else {
                    let neg = negative_lead(self.expr, *b);
                    self.out.push_str(if neg { " + " } else { " - " });
                    let parent = if neg {
                        Node::Add([*a, *b])
                    } else {
                        node.clone()
                    };
                    self.child(&parent, Slot::Right, *b, neg);
                }
            }
            Node::Neg(a) => {
                if abs && is_sum(&self.expr[*a]) {
                    // The minus is printed by the sum around: `x - (a + b)`.
                    self.out.push('(');
                    self.node(*a, false);
                    self.out.push(')');
                } else if abs {
                    self.node(*a, false);
                } else {
                    self.out.push('-');
                    self.child(&node, Slot::Only, *a, false);
                }
            }
            Node::Mul([a, b]) | Node::Had([a, b]) => {
                match super::prec::hadamard_divisor(self.expr, &self.shapes, id) {
                    Some(d) => {
                        self.child(&node, Slot::Left, *a, abs);
                        self.out.push_str(" ./ ");
                        self.child(&Node::Div([*a, d]), Slot::Right, d, false);
                    }
                    None if matches!(node, Node::Mul(_)) => self.binary(&node, *a, " * ", *b, abs),
                    None => self.binary(&node, *a, " .* ", *b, abs),
                }
            }
            Node::Div([a, b]) => self.binary(&node, *a, " / ", *b, abs),
            Node::Pow([a, b]) => self.binary(&node, *a, "^", *b, false),
            Node::Trans(a) => {
                self.child(&node, Slot::Only, *a, false);
                self.out.push_str("^T");
            }
            Node::Num(r) => self.out.push_str(&number(r, abs)),
            Node::Leaf(l) => self.out.push_str(&leaf(self.symbols, l)),
            Node::Call([f, a]) | Node::Grad([f, a]) | Node::Hess([f, a]) | Node::JacF([f, a]) => {
                let name = match &self.expr[*f] {
                    Node::Leaf(l) => leaf(self.symbols, l),
                    _ => "?".to_owned(),
                };
                let name = match node {
                    Node::Grad(_) => format!("grad {name}"),
                    Node::Hess(_) => format!("hess {name}"),
                    Node::JacF(_) => format!("jac {name}"),
                    _ => name,
                };
                self.call(&name, &[*a]);
            }
            Node::Sum([t, e]) => self.call("sum", &[*t, *e]),
            Node::SumAll(e) => self.call("sum", &[*e]),
            Node::Prod(e) => self.call("prod", &[*e]),
            Node::Softmax(e) => self.call("softmax", &[*e]),
            Node::Eye(n) => self.call("I", &[*n]),
            Node::Zeros([m, n]) => self.call("zeros", &[*m, *n]),
            Node::Det(a) => self.call("det", &[*a]),
            Node::Inv(a) => self.call("inv", &[*a]),
            Node::Trace(a) => self.call("tr", &[*a]),
            Node::Diag(a) => self.call("diag", &[*a]),
            Node::Vjp(args) => self.call("vjp", args),
            Node::Jac(args) => self.call("jac", args),
            Node::Block(rows) => {
                self.out.push('[');
                for (k, r) in rows.iter().enumerate() {
                    if k > 0 {
                        self.out.push_str("; ");
                    }
                    self.node(*r, false);
                }
                self.out.push(']');
            }
            Node::Row(cells) => {
                for (k, c) in cells.iter().enumerate() {
                    if k > 0 {
                        self.out.push_str(", ");
                    }
                    self.node(*c, false);
                }
            }
            Node::Act(f, [a]) => self.call(&f.to_string(), &[*a]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::build::ExprBuilder;

    fn symbols() -> Symbols {
        Symbols {
            params: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            ..Symbols::default()
        }
    }

    /// Builds an expression over the parameters `a`..`d` and prints it.
    fn show(f: impl FnOnce(&mut ExprBuilder, [Id; 4]) -> Id) -> String {
        let mut b = ExprBuilder::new();
        let p = [0, 1, 2, 3].map(|k| b.leaf(Leaf::Param(k)));
        let root = f(&mut b, p);
        expr(&symbols(), &b.finish(root))
    }

    #[test]
    fn signs_and_parentheses() {
        assert_eq!(
            show(|b, [a, x, ..]| {
                let n = b.add(Node::Neg(x));
                b.add(Node::Add([a, n]))
            }),
            "a - b"
        );
        assert_eq!(
            show(|b, [a, x, ..]| {
                let n = b.add(Node::Neg(x));
                b.add(Node::Sub([a, n]))
            }),
            "a + b"
        );
        assert_eq!(
            show(|b, [a, x, ..]| {
                let m = b.add(Node::Mul([a, x]));
                b.add(Node::Neg(m))
            }),
            "-a * b"
        );
        // A minus inside a parenthesized sum is kept.
        assert_eq!(
            show(|b, [a, x, c, d]| {
                let n = b.add(Node::Neg(x));
                let s = b.add(Node::Add([n, c]));
                let m = b.add(Node::Mul([s, d]));
                b.add(Node::Add([a, m]))
            }),
            "a + (-b + c) * d"
        );
        assert_eq!(
            show(|b, [a, x, c, _]| {
                let s = b.add(Node::Add([x, c]));
                b.add(Node::Sub([a, s]))
            }),
            "a - (b + c)"
        );
        assert_eq!(
            show(|b, [a, x, c, _]| {
                let h = b.add(Node::Had([a, x]));
                b.add(Node::Mul([h, c]))
            }),
            "(a .* b) * c"
        );
    }
}
