//! LaTeX: expressions in the conventions of LANGUAGE.md (`\bar{h}^{(t)}`,
//! `W_{ih}`, `\odot`, `A^\top`, `\frac`), and the text escaping that keeps
//! anything taken from a script from becoming a TeX command.

use crate::ir::prec::{is_sum, needs_parens, negative_lead, Slot};
use crate::ir::text::leaf as plain_leaf;
use crate::ir::{Ix, Leaf, Node, Ref, Symbols, Target};
use crate::num::Rational;
use crate::poly::Poly;
use egg::{Id, RecExpr};

const GREEK: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Xi",
    "Pi",
    "Sigma",
    "Upsilon",
    "Phi",
    "Psi",
    "Omega",
    "ell",
];

/// The typeset head of a name (without subscript): `W`, `\alpha`, `\mathrm{loss}`.
fn head(h: &str) -> String {
    if GREEK.contains(&h) {
        format!("\\{h}")
    } else if h.chars().count() == 1 {
        h.to_owned()
    } else {
        format!("\\mathrm{{{h}}}")
    }
}

/// Splits a name into its head and its subscript: `W_ih` is `W` and `ih`,
/// `h1` is `h` and `1`.
fn split(name: &str) -> (String, Option<String>) {
    let (body, tail) = match name.split_once('_') {
        Some((b, t)) => (b, Some(t)),
        None => (name, None),
    };
    let letters = body.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &body[letters.len()..];
    let letters = if letters.is_empty() { body } else { letters };
    let digits = if letters == body { "" } else { digits };
    let mut sub: Vec<String> = Vec::new();
    if !digits.is_empty() {
        sub.push(digits.to_owned());
    }
    if let Some(t) = tail {
        sub.extend(t.split('_').filter(|p| !p.is_empty()).map(|p| {
            if GREEK.contains(&p) {
                format!("\\{p}")
            } else {
                p.to_owned()
            }
        }));
    }
    let sub = (!sub.is_empty()).then(|| sub.join(","));
    (letters.to_owned(), sub)
}

/// A name typeset: `W_ih` is `W_{ih}`, `beta` is `\beta`.
pub fn name(n: &str) -> String {
    let (h, sub) = split(n);
    match sub {
        Some(s) => format!("{}_{{{s}}}", head(&h)),
        None => head(&h),
    }
}

/// A name with a bar over its head: `\bar{W}_{ih}`.
fn barred(n: &str) -> String {
    let (h, sub) = split(n);
    let top = if h.chars().count() == 1 || GREEK.contains(&h.as_str()) {
        format!("\\bar{{{}}}", head(&h))
    } else {
        format!("\\overline{{{}}}", head(&h))
    };
    match sub {
        Some(s) => format!("{top}_{{{s}}}"),
        None => top,
    }
}

/// Indices as a superscript: `^{(t-1)}`.
fn index_sup(symbols: &Symbols, at: &[Ix]) -> String {
    if at.is_empty() {
        return String::new();
    }
    let items: Vec<String> = at
        .iter()
        .map(|ix| match *ix {
            Ix::Rel(i, 0) => name(symbols.index_name(i)),
            Ix::Rel(i, o) if o > 0 => format!("{}+{o}", name(symbols.index_name(i))),
            Ix::Rel(i, o) => format!("{}-{}", name(symbols.index_name(i)), o.unsigned_abs()),
            Ix::Abs(v) => v.to_string(),
            Ix::End(i, o) => symbols.end_text(i, o, &name),
        })
        .collect();
    format!("^{{({})}}", items.join(","))
}

/// A reference typeset: `h^{(t-1)}`.
pub fn reference(symbols: &Symbols, r: &Ref) -> String {
    format!("{}{}", name(symbols.var(r.var)), index_sup(symbols, &r.at))
}

/// A leaf typeset.
pub fn leaf(symbols: &Symbols, l: &Leaf) -> String {
    match l {
        Leaf::Dim(d) => name(symbols.dim(*d)),
        Leaf::Param(p) => name(symbols.param(*p)),
        Leaf::Var(r) => reference(symbols, r),
        Leaf::Bar(Target::Var(r)) => format!(
            "{}{}",
            barred(symbols.var(r.var)),
            index_sup(symbols, &r.at)
        ),
        Leaf::Bar(Target::Param(p)) => barred(symbols.param(*p)),
        Leaf::Index(i) => name(symbols.index_name(*i)),
        Leaf::Fn(f) => name(symbols.func(*f)),
    }
}

/// A constant typeset; `abs` drops the sign.
pub fn number(r: &Rational, abs: bool) -> String {
    let r = if abs { r.abs() } else { r.clone() };
    let (n, d) = r.parts();
    if r.is_integer() {
        n.to_string()
    } else if r.is_negative() {
        format!("-\\frac{{{}}}{{{d}}}", -n)
    } else {
        format!("\\frac{{{n}}}{{{d}}}")
    }
}

/// A polynomial in the dims typeset: `D H + 2 H^{2}`.
pub fn poly(p: &Poly, symbols: &Symbols) -> String {
    let terms = p.terms();
    if terms.is_empty() {
        return "0".to_owned();
    }
    let mut out = String::new();
    for (k, (m, c)) in terms.into_iter().enumerate() {
        let neg = c.is_negative();
        out.push_str(match (k, neg) {
            (0, true) => "-",
            (0, false) => "",
            (_, true) => " - ",
            (_, false) => " + ",
        });
        let factors: Vec<String> =
            m.0.iter()
                .map(|&(d, e)| {
                    if e == 1 {
                        name(symbols.dim(d))
                    } else {
                        format!("{}^{{{e}}}", name(symbols.dim(d)))
                    }
                })
                .collect();
        let mag = c.abs();
        if factors.is_empty() {
            out.push_str(&number(&mag, false));
        } else {
            if !mag.is_one() {
                out.push_str(&number(&mag, false));
                out.push(' ');
            }
            out.push_str(&factors.join(" "));
        }
    }
    out
}

/// Escapes text from a script or the command line for a LaTeX document:
/// every character that TeX treats specially is printed as itself, and
/// anything outside printable ASCII becomes `?`.
pub fn escape_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '{' | '}' | '$' | '&' | '#' | '%' | '_' => {
                out.push('\\');
                out.push(c);
            }
            '^' => out.push_str("\\textasciicircum{}"),
            '~' => out.push_str("\\textasciitilde{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            '|' => out.push_str("\\textbar{}"),
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// Prints one expression as LaTeX math.
pub fn expr(symbols: &Symbols, expr: &RecExpr<Node>) -> String {
    if expr.as_ref().is_empty() {
        return String::new();
    }
    let mut p = Latex {
        symbols,
        expr,
        shapes: crate::ir::prec::shapes(expr, symbols),
        out: String::new(),
    };
    p.node(crate::ir::root(expr), false);
    p.out
}

struct Latex<'a> {
    symbols: &'a Symbols,
    expr: &'a RecExpr<Node>,
    /// Each node's shape as written, where known.
    shapes: Vec<Option<crate::shape::Shape>>,
    out: String,
}

impl Latex<'_> {
    fn child(&mut self, parent: &Node, slot: Slot, id: Id, abs: bool) {
        let is_t = |l: &Leaf| plain_leaf(self.symbols, l) == "T";
        if needs_parens(self.expr, parent, slot, id, abs, &is_t)
            || !crate::ir::prec::product_reads_back(self.expr, &self.shapes, parent, slot, id)
        {
            self.out.push_str("\\left(");
            self.node(id, abs);
            self.out.push_str("\\right)");
        } else {
            self.node(id, abs);
        }
    }

    /// Prints `id` as the base of a superscript, braced so that a base
    /// which already carries a superscript stays valid TeX.
    fn base(&mut self, parent: &Node, id: Id) {
        self.out.push('{');
        self.child(parent, Slot::Left, id, false);
        self.out.push('}');
    }

    fn args(&mut self, args: &[Id]) {
        self.out.push_str("\\left(");
        for (k, &a) in args.iter().enumerate() {
            if k > 0 {
                self.out.push_str(", ");
            }
            self.node(a, false);
        }
        self.out.push_str("\\right)");
    }

    fn fn_name(&self, f: Id) -> String {
        match &self.expr[f] {
            Node::Leaf(l) => leaf(self.symbols, l),
            _ => "?".to_owned(),
        }
    }

    /// Whether the node at `id` prints starting with a digit, so that
    /// juxtaposition after another factor would read as one number.
    fn starts_with_number(&self, id: Id) -> bool {
        match &self.expr[id] {
            Node::Num(_) => true,
            Node::Mul([a, _]) | Node::Had([a, _]) | Node::Div([a, _]) | Node::Pow([a, _]) => {
                self.starts_with_number(*a)
            }
            _ => false,
        }
    }

    fn node(&mut self, id: Id, abs: bool) {
        let node = self.expr[id].clone();
        match &node {
            Node::Add([a, b]) => {
                self.child(&node, Slot::Left, *a, abs);
                let neg = negative_lead(self.expr, *b);
                self.out.push_str(if neg { " - " } else { " + " });
                if is_sum(&self.expr[*b]) {
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
                    self.out.push_str("\\left(");
                    self.node(*a, false);
                    self.out.push_str("\\right)");
                } else if abs {
                    self.node(*a, false);
                } else {
                    self.out.push('-');
                    self.child(&node, Slot::Only, *a, false);
                }
            }
            Node::Mul([a, b]) => {
                self.child(&node, Slot::Left, *a, abs);
                let needs_dot = self.starts_with_number(*b)
                    && !needs_parens(self.expr, &node, Slot::Right, *b, false, &|_| false);
                // A thin space keeps juxtaposed factors apart
                // (`\mathrm{def}\,\mathrm{x}`, not `defx`).
                self.out
                    .push_str(if needs_dot { " \\cdot " } else { " \\, " });
                self.child(&node, Slot::Right, *b, false);
            }
            Node::Had([a, b]) => {
                self.child(&node, Slot::Left, *a, abs);
                self.out.push_str(" \\odot ");
                self.child(&node, Slot::Right, *b, false);
            }
            Node::Div([a, b]) => {
                self.out.push_str("\\frac{");
                self.node(*a, abs);
                self.out.push_str("}{");
                self.node(*b, false);
                self.out.push('}');
            }
            Node::Pow([a, b]) => {
                self.base(&node, *a);
                self.out.push_str("^{");
                self.node(*b, false);
                self.out.push('}');
            }
            Node::Trans(a) => {
                self.base(&node, *a);
                self.out.push_str("^\\top");
            }
            Node::Num(r) => self.out.push_str(&number(r, abs)),
            Node::Leaf(l) => self.out.push_str(&leaf(self.symbols, l)),
            Node::Call([f, a]) => {
                let f = self.fn_name(*f);
                self.out.push_str(&f);
                self.args(&[*a]);
            }
            Node::Grad([f, a]) => {
                let f = self.fn_name(*f);
                self.out.push_str(&format!("\\nabla {f}"));
                self.args(&[*a]);
            }
            Node::Hess([f, a]) => {
                let f = self.fn_name(*f);
                self.out.push_str(&format!("\\nabla^2 {f}"));
                self.args(&[*a]);
            }
            Node::Sum([t, e]) => {
                self.out.push_str("\\sum_{");
                self.node(*t, false);
                self.out.push_str("} ");
                let lv = crate::ir::prec::level(self.expr, *e, false);
                if lv <= crate::ir::prec::Level::Sum {
                    self.args(&[*e]);
                } else {
                    self.node(*e, false);
                }
            }
            Node::SumAll(e) => {
                self.out.push_str("\\operatorname{sum}");
                self.args(&[*e]);
            }
            Node::Eye(n) => {
                self.out.push_str("I_{");
                self.node(*n, false);
                self.out.push('}');
            }
            Node::Zeros([m, n]) => {
                self.out.push_str("0_{");
                self.node(*m, false);
                self.out.push_str(" \\times ");
                self.node(*n, false);
                self.out.push('}');
            }
            Node::Det(a) => {
                self.out.push_str("\\det");
                self.args(&[*a]);
            }
            Node::Inv(a) => {
                self.out.push('{');
                self.child(&Node::Trans(*a), Slot::Only, *a, false);
                self.out.push_str("}^{-1}");
            }
            Node::Trace(a) => {
                self.out.push_str("\\operatorname{tr}");
                self.args(&[*a]);
            }
            Node::Diag(a) => {
                self.out.push_str("\\operatorname{diag}");
                self.args(&[*a]);
            }
            Node::Vjp(args) => {
                self.out.push_str("\\operatorname{vjp}");
                self.args(args);
            }
            Node::Jac(args) => {
                self.out.push_str("\\operatorname{jac}");
                self.args(args);
            }
            Node::Block(rows) => {
                self.out.push_str("\\begin{bmatrix} ");
                for (k, r) in rows.iter().enumerate() {
                    if k > 0 {
                        self.out.push_str(" \\\\ ");
                    }
                    self.node(*r, false);
                }
                self.out.push_str(" \\end{bmatrix}");
            }
            Node::Row(cells) => {
                for (k, c) in cells.iter().enumerate() {
                    if k > 0 {
                        self.out.push_str(" & ");
                    }
                    self.node(*c, false);
                }
            }
            Node::Act(f, [a]) => match (f.act.row().latex, f.prime) {
                (crate::ir::act::Latex::Wrap { open, close, .. }, false) => {
                    self.out.push_str(open);
                    self.node(*a, false);
                    self.out.push_str(close);
                }
                (
                    crate::ir::act::Latex::Wrap {
                        prime_name: name, ..
                    },
                    true,
                )
                | (crate::ir::act::Latex::Operator(name), _) => {
                    self.out.push_str(name);
                    if f.prime {
                        self.out.push('\'');
                    }
                    self.args(&[*a]);
                }
            },
        }
    }
}
