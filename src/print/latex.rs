//! LaTeX: expressions in the conventions of LANGUAGE.md (`\bar{h}^{(t)}`,
//! `W_{ih}`, `\odot`, `A^\top`, `\frac`), and the text escaping that keeps
//! anything taken from a script from becoming a TeX command.

use crate::ir::prec::{is_sum, needs_parens, negative_lead, Slot};
use crate::ir::text::leaf as plain_leaf;
use crate::ir::{Ix, Leaf, Node, Ref, Symbols, Target};
use crate::num::Rational;
use crate::poly::Poly;
use egg::{Id, Language, RecExpr};

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

/// A one-letter (or Greek) name with an accent written after it, as
/// `xhat` and `htilde` are: `\hat{x}`, `\tilde{h}`.
fn accented(h: &str) -> Option<String> {
    ["hat", "tilde"].iter().find_map(|accent| {
        let base = h.strip_suffix(accent)?;
        (base.chars().count() == 1 && base.chars().all(|c| c.is_ascii_alphabetic())
            || GREEK.contains(&base))
        .then(|| format!("\\{accent}{{{}}}", head(base)))
    })
}

/// The typeset head of a name (without subscript): `W`, `\alpha`, `\mathrm{loss}`.
fn head(h: &str) -> String {
    if let Some(a) = accented(h) {
        a
    } else if h == "eps" {
        // The usual short name of a step size or a small constant.
        "\\epsilon".to_owned()
    } else if GREEK.contains(&h) {
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
    let top = if h.chars().count() == 1 || GREEK.contains(&h.as_str()) || accented(&h).is_some() {
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

/// A column of ones, as LaTeX writes it.
pub const ONES: &str = "\\mathbf{1}";

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

/// Whether a leaf is typeset with a step superscript (`h^{(t)}`).
fn indexed(l: &Leaf) -> bool {
    match l {
        Leaf::Var(r) | Leaf::Bar(Target::Var(r)) => !r.at.is_empty(),
        _ => false,
    }
}

/// A constant typeset; `abs` drops the sign.
pub fn number(r: &Rational, abs: bool) -> String {
    let r = if abs { r.abs() } else { r.clone() };
    let (n, d) = r.parts();
    if r.is_integer() {
        n.to_string()
    } else if r.is_negative() {
        format!("-\\tfrac{{{}}}{{{d}}}", -n)
    } else {
        format!("\\tfrac{{{n}}}{{{d}}}")
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
    print(symbols, expr, None)
}

/// The widest a displayed line's right side may be, in [`width`]'s
/// units: an article's text width, less the left side's usual width.
pub const DISPLAY_WIDTH: usize = 48;

/// Prints the right side of a displayed equation (after `&=` in an
/// `align*` row): a long sum breaks before a `+` or `-` (outside braces, sized
/// parentheses and matrices) into
/// further rows, `\\ &\quad + ...`, so that no line leaves the page.
///
/// Breaks go at the outermost level that makes every line fit: between
/// the terms of the sum itself first, and inside a term's parentheses only
/// where a term is wider than a line.
pub fn display(symbols: &Symbols, expr: &RecExpr<Node>, room: usize) -> String {
    let mut best = String::new();
    for depth in 0..8 {
        best = print(symbols, expr, Some((room, depth)));
        if best.split(BREAK).all(|line| width(line) <= room) {
            break;
        }
    }
    best
}

fn print(symbols: &Symbols, expr: &RecExpr<Node>, wrap: Option<(usize, usize)>) -> String {
    if expr.as_ref().is_empty() {
        return String::new();
    }
    let shapes = crate::ir::prec::shapes(expr, symbols);
    // A lone elementwise inverse prints as `1 \oslash v`.
    if let Some(e) = crate::ir::prec::lone_inverses_as_quotients(expr, &shapes) {
        return print(symbols, &e, wrap);
    }
    let mut p = Latex {
        symbols,
        expr,
        shapes,
        out: String::new(),
        wrap,
        depth: 0,
        line_start: 0,
        tall: vec![None; expr.as_ref().len()],
        groups: Vec::new(),
    };
    p.node(crate::ir::root(expr), false);
    p.out
}

/// About how wide LaTeX math sets, in characters of an average symbol:
/// command names count as one symbol (`\sigma`) or as their letters
/// (`\tanh`), sizing commands, braces and spaces as nothing, and
/// superscripts and subscripts as two thirds.
pub fn width(latex: &str) -> usize {
    let mut total = 0.0;
    let mut script_depth = 0usize;
    let mut depth = 0usize;
    let mut scripts: Vec<usize> = Vec::new();
    let mut chars = latex.chars().peekable();
    let mut pending_script = false;
    while let Some(c) = chars.next() {
        let scale = if script_depth > 0 { 0.66 } else { 1.0 };
        match c {
            '\\' => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphabetic() {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let w = match name.as_str() {
                    "left" | "right" | "Bigl" | "Bigr" | "operatorname" | "mathrm" | "quad"
                    | "qquad" | "," | "" => 0.0,
                    "tanh" | "exp" | "log" | "det" | "sqrt" | "tr" | "diag" => name.len() as f64,
                    _ => 1.0,
                };
                total += w * scale;
            }
            '{' => {
                depth += 1;
                if pending_script {
                    scripts.push(depth);
                    script_depth += 1;
                    pending_script = false;
                }
            }
            '}' => {
                if scripts.last() == Some(&depth) {
                    scripts.pop();
                    script_depth = script_depth.saturating_sub(1);
                }
                depth = depth.saturating_sub(1);
            }
            '^' | '_' => pending_script = true,
            ' ' | '&' => {}
            '+' | '-' | '=' => total += 2.0 * scale,
            _ => {
                total += scale;
                pending_script = false;
            }
        }
    }
    total.round() as usize
}

/// The shortest a displayed line may be where it is broken, in [`width`]'s
/// units.
const SHORTEST_LINE: usize = 8;

/// Where a displayed right side continues on the next row.
pub const BREAK: &str = " \\\\\n&\\quad";

/// The most levels a continued line is set in by (see
/// [`Latex::operator_at`]).
const MAX_INDENT: usize = 4;

struct Latex<'a> {
    symbols: &'a Symbols,
    expr: &'a RecExpr<Node>,
    /// Each node's shape as written, where known.
    shapes: Vec<Option<crate::shape::Shape>>,
    out: String,
    /// For a displayed right side: the widest a line may be (see
    /// [`width`]) before the next `+` or `-` starts a new line, and the
    /// deepest parentheses a line may break inside.
    wrap: Option<(usize, usize)>,
    /// How many parentheses are open where the printer is.
    depth: usize,
    /// Where the current line starts in `out`.
    line_start: usize,
    /// Whether each node prints something tall, once known.
    tall: Vec<Option<bool>>,
    /// Where the contents of each open parenthesis start in `out`.
    groups: Vec<usize>,
}

impl Latex<'_> {
    fn child(&mut self, parent: &Node, slot: Slot, id: Id, abs: bool) {
        if self.in_parens(parent, slot, id, abs) {
            self.parenthesized(&[id], |p| p.node(id, abs));
        } else {
            self.node(id, abs);
        }
    }

    /// Whether [`Latex::child`] prints `id` in parentheses.
    fn in_parens(&self, parent: &Node, slot: Slot, id: Id, abs: bool) -> bool {
        let is_t = |l: &Leaf| plain_leaf(self.symbols, l) == "T";
        needs_parens(self.expr, parent, slot, id, abs, &is_t)
            || !crate::ir::prec::product_reads_back(self.expr, &self.shapes, parent, slot, id)
    }

    /// Whether `printed` is wider than a displayed line: a group that must
    /// then let the line break inside it.
    fn too_wide(&self, printed: &str) -> bool {
        self.wrap.is_some_and(|(w, _)| width(printed) > w)
    }

    /// Whether `id` prints something tall: a sum over an index, a
    /// quotient, a matrix (a constant fraction is a small `\\tfrac`).
    fn tall(&mut self, id: Id) -> bool {
        let k = usize::from(id);
        if let Some(t) = self.tall.get(k).copied().flatten() {
            return t;
        }
        let node = &self.expr[id];
        let own = matches!(
            node,
            Node::Sum(_) | Node::Div(_) | Node::Block(_) | Node::Row(_)
        );
        let t = own || node.children().to_vec().into_iter().any(|c| self.tall(c));
        if k < self.tall.len() {
            self.tall[k] = Some(t);
        }
        t
    }

    /// Prints `f`'s output in parentheses: larger ones (`\\Bigl(`) around
    /// something tall (any of `ids`), plain ones otherwise. Neither pairs
    /// like `\\left(`, so a long line may break inside either.
    fn parenthesized(&mut self, ids: &[Id], f: impl FnOnce(&mut Self)) {
        let (open, close) = if ids.iter().any(|&i| self.tall(i)) {
            ("\\Bigl(", "\\Bigr)")
        } else {
            ("(", ")")
        };
        self.out.push_str(open);
        self.depth += 1;
        self.groups.push(self.out.len());
        f(self);
        self.groups.pop();
        self.depth -= 1;
        self.out.push_str(close);
    }

    /// Whether a line may break at the end of what is printed so far: not
    /// inside braces (a superscript, a fraction's parts), sized
    /// parentheses or a matrix.
    fn breakable_here(&self) -> bool {
        let mut braces = 0i64;
        let mut chars = self.out.char_indices().peekable();
        while let Some((_, c)) = chars.next() {
            match c {
                '{' => braces += 1,
                '}' => braces -= 1,
                '\\' => {
                    // An escaped brace is text, not a group.
                    if let Some(&(_, '{' | '}')) = chars.peek() {
                        chars.next();
                    }
                }
                _ => {}
            }
        }
        let count = |t: &str| self.out.matches(t).count();
        braces == 0 && count("\\left") == count("\\right") && count("\\begin") == count("\\end")
    }

    /// Writes a `+` or `-` between terms, first breaking the line if the
    /// line and `next` more would not fit and a line may break here.
    fn operator(&mut self, op: &str, next: usize) {
        self.operator_at(op, next, 0);
    }

    /// [`Latex::operator`] for an operator that counts as `extra` levels
    /// deeper than the parentheses it is in: a line breaks at a product's
    /// `\odot` only where breaking at the sums around it is not enough.
    fn operator_at(&mut self, op: &str, next: usize, extra: usize) -> bool {
        let line = width(&self.out[self.line_start..]);
        // A line as short as `\quad \odot (1` gains nothing by ending,
        // nor does one that would leave `(1` of a group behind.
        let group = self
            .groups
            .last()
            .filter(|&&g| g >= self.line_start)
            .map_or(usize::MAX, |&g| width(&self.out[g..]));
        if line > SHORTEST_LINE
            && group > SHORTEST_LINE
            && self.wrap.is_some_and(|(w, deepest)| {
                self.depth + extra <= deepest && line + width(op) + next > w
            })
            && self.breakable_here()
        {
            self.out.push_str(BREAK);
            // A line that continues inside parentheses (or a product) is
            // set in by one more `\quad` per level, so that it does not
            // read as a term of the sum around them.
            for _ in 0..(self.depth + extra).min(MAX_INDENT) {
                self.out.push_str("\\quad");
            }
            self.line_start = self.out.len();
            self.out.push_str(op);
            return true;
        }
        self.out.push_str(op);
        false
    }

    /// Writes `op` and the term `f` prints, breaking the line before them
    /// if the term's first line would not fit on it.
    fn term(&mut self, op: &str, f: impl Fn(&mut Self)) {
        self.term_at(op, 0, f);
    }

    /// [`Latex::term`] with the operator `extra` levels deeper (see
    /// [`Latex::operator_at`]).
    fn term_at(&mut self, op: &str, extra: usize, f: impl Fn(&mut Self)) {
        let start = self.out.len();
        let line_start = self.line_start;
        f(self);
        let mut term = self.out.split_off(start);
        self.line_start = line_start;
        // A term that breaks inside starts a line of its own where it may:
        // a break between terms reads better than one within a term.
        let next = if term.contains(BREAK) {
            usize::MAX / 4
        } else {
            width(&term)
        };
        if self.operator_at(op, next, extra) && term.contains(BREAK) {
            // The term's own breaks were placed for the line it was to
            // continue; it starts a new one, so place them again.
            let (again, new_line) = (self.out.len(), self.line_start);
            f(self);
            term = self.out.split_off(again);
            self.line_start = new_line;
        }
        let at = self.out.len();
        self.out.push_str(&term);
        if let Some(k) = term.rfind(BREAK) {
            self.line_start = at + k + BREAK.len();
        }
    }

    /// How wide the first term of the sum at `id` prints, on one line.
    fn first_term_width(&mut self, mut id: Id) -> usize {
        while let Node::Add([a, _]) | Node::Sub([a, _]) = self.expr[id] {
            id = a;
        }
        let (start, wrap) = (self.out.len(), self.wrap.take());
        self.node(id, true);
        let w = width(&self.out[start..]);
        self.out.truncate(start);
        self.wrap = wrap;
        w
    }

    /// Prints `id` as the base of a superscript, braced so that a base
    /// which already carries a superscript stays valid TeX.
    ///
    /// Braces keep a line from breaking inside, so a parenthesized base
    /// wider than a line is printed without them (`\\Bigl(...\\Bigr)^\\top`
    /// is valid as it is): its line may then break inside the parentheses.
    fn base(&mut self, parent: &Node, id: Id) {
        let start = self.out.len();
        self.out.push('{');
        self.child(parent, Slot::Left, id, false);
        self.out.push('}');
        if self.in_parens(parent, Slot::Left, id, false) && self.too_wide(&self.out[start..]) {
            self.out.truncate(start);
            self.child(parent, Slot::Left, id, false);
        }
    }

    fn args(&mut self, args: &[Id]) {
        self.parenthesized(args, |p| {
            for (k, &a) in args.iter().enumerate() {
                if k > 0 {
                    p.out.push_str(", ");
                }
                p.node(a, false);
            }
        });
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

    /// Whether the node at `id` is `x^0` of a vector or matrix `x`: its
    /// all-ones value.
    fn is_ones(&self, id: Id) -> bool {
        matches!(&self.expr[id], Node::Pow([a, b])
            if matches!(&self.expr[*b], Node::Num(r) if r.is_zero())
                && self.shapes[usize::from(*a)].as_ref().is_some_and(|s| !s.is_scalar()))
    }

    fn node(&mut self, id: Id, abs: bool) {
        let node = self.expr[id].clone();
        match &node {
            Node::Add([a, b]) => {
                self.child(&node, Slot::Left, *a, abs);
                let neg = negative_lead(self.expr, *b);
                let op = if neg { " - " } else { " + " };
                if is_sum(&self.expr[*b]) {
                    let next = self.first_term_width(*b);
                    self.operator(op, next);
                    self.node(*b, neg);
                } else {
                    let parent = if neg {
                        Node::Sub([*a, *b])
                    } else {
                        node.clone()
                    };
                    self.term(op, |p| p.child(&parent, Slot::Right, *b, neg));
                }
            }
            Node::Sub([a, b]) => {
                self.child(&node, Slot::Left, *a, abs);
                if is_sum(&self.expr[*b]) {
                    self.term(" - ", |p| p.child(&node, Slot::Right, *b, false));
                } else {
                    let neg = negative_lead(self.expr, *b);
                    let parent = if neg {
                        Node::Add([*a, *b])
                    } else {
                        node.clone()
                    };
                    let op = if neg { " + " } else { " - " };
                    self.term(op, |p| p.child(&parent, Slot::Right, *b, neg));
                }
            }
            Node::Neg(a) => {
                if abs && is_sum(&self.expr[*a]) {
                    // The minus is printed by the sum around: `x - (a + b)`.
                    self.parenthesized(&[*a], |p| p.node(*a, false));
                } else if abs {
                    self.node(*a, false);
                } else {
                    self.out.push('-');
                    self.child(&node, Slot::Only, *a, false);
                }
            }
            Node::Mul([a, b]) => {
                self.child(&node, Slot::Left, *a, abs);
                // `1 ./ v`, each entry's inverse scaled.
                if let Some(d) = crate::ir::prec::hadamard_divisor(self.expr, &self.shapes, id) {
                    self.term_at(" \\oslash ", 1, |p| {
                        p.child(&Node::Div([*a, d]), Slot::Right, d, false)
                    });
                    return;
                }
                let needs_dot = self.starts_with_number(*b)
                    && !needs_parens(self.expr, &node, Slot::Right, *b, false, &|_| false);
                // A thin space keeps juxtaposed factors apart
                // (`\mathrm{def}\,\mathrm{x}`, not `defx`).
                // A long product breaks between its factors only where
                // breaking at the sums and elementwise products around it
                // is not enough.
                let op = if needs_dot { " \\cdot " } else { " \\, " };
                self.term_at(op, 2, |p| p.child(&node, Slot::Right, *b, false));
            }
            Node::Had([a, b]) => {
                self.child(&node, Slot::Left, *a, abs);
                match crate::ir::prec::hadamard_divisor(self.expr, &self.shapes, id) {
                    // `a ./ b`, the elementwise quotient.
                    Some(d) => self.term_at(" \\oslash ", 1, |p| {
                        p.child(&Node::Div([*a, d]), Slot::Right, d, false)
                    }),
                    None => self.term_at(" \\odot ", 1, |p| p.child(&node, Slot::Right, *b, false)),
                }
            }
            Node::Div([a, b]) => {
                // A fraction that scales the numerator stands before the
                // quotient, full size beside it: `-\frac{1}{2} \,
                // \frac{x}{y}`, not a fraction inside a fraction.
                let fraction = match &self.expr[*a] {
                    Node::Mul([c, rest]) => match &self.expr[*c] {
                        Node::Num(r) if !r.is_integer() => Some((number(r, abs), *rest)),
                        _ => None,
                    },
                    _ => None,
                };
                let (a, abs) = match fraction {
                    Some((coefficient, rest)) => {
                        self.out.push_str(&coefficient.replace("\\tfrac", "\\frac"));
                        self.out.push_str(" \\, ");
                        (rest, false)
                    }
                    None => (*a, abs),
                };
                let start = self.out.len();
                self.out.push_str("\\frac{");
                self.node(a, abs);
                self.out.push_str("}{");
                let numerator_end = self.out.len();
                self.node(*b, false);
                self.out.push('}');
                // A numerator wider than a line cannot break inside
                // `\\frac`: the quotient is written `\\frac{1}{b} \\, (a)`
                // instead, which may break inside its parentheses.
                if self.too_wide(&self.out[start..numerator_end]) {
                    self.out.truncate(start);
                    self.out.push_str("\\frac{1}{");
                    self.node(*b, false);
                    self.out.push_str("} \\, ");
                    self.parenthesized(&[a], |p| p.node(a, abs));
                }
            }
            // A column (or matrix) of ones, `x^0` of a vector `x`.
            Node::Pow(_) if self.is_ones(id) => self.out.push_str(ONES),
            Node::Pow([a, b]) => {
                match (&self.expr[*a], self.expr[*a].as_act()) {
                    // `\tanh^{2}(c)`, as a squared function is written.
                    // (A positive whole power only: `\sigma^{-1}` would read
                    // as the inverse function.)
                    (_, Some((act, false, x)))
                        if matches!(act.row().latex, crate::ir::act::Latex::Operator(_))
                            && matches!(&self.expr[*b], Node::Num(r) if r.is_integer() && !r.is_negative() && !r.is_zero()) =>
                    {
                        let crate::ir::act::Latex::Operator(name) = act.row().latex else {
                            return;
                        };
                        self.out.push_str(name);
                        self.out.push_str("^{");
                        self.node(*b, false);
                        self.out.push('}');
                        self.args(&[x]);
                        return;
                    }
                    // A value with a step index takes its power outside
                    // parentheses: `(g^{(t)})^{2}`.
                    (Node::Leaf(l), _) if indexed(l) => {
                        self.out.push('(');
                        self.out.push_str(&leaf(self.symbols, l));
                        self.out.push(')');
                    }
                    // `b_{1}^{D}`: a name without a superscript of its own
                    // takes the power directly, beside its subscript.
                    (Node::Leaf(l), _) if !leaf(self.symbols, l).contains('^') => {
                        self.out.push_str(&leaf(self.symbols, l));
                    }
                    _ => self.base(&node, *a),
                }
                self.out.push_str("^{");
                match &self.expr[*b] {
                    // `^{-1/2}`: a fraction in a superscript is written
                    // inline, not stacked.
                    Node::Num(r) if !r.is_integer() => self.out.push_str(&r.to_string()),
                    _ => self.node(*b, false),
                }
                self.out.push('}');
            }
            // `\mathbf{1}^\top`, the row of ones.
            Node::Trans(a) if self.is_ones(*a) => {
                self.out.push_str(ONES);
                self.out.push_str("^\\top");
            }
            Node::Trans(a) => match &self.expr[*a] {
                // `x^{(t)\top}`: the transpose joins the step's superscript.
                Node::Leaf(l) if indexed(l) => {
                    let mut t = leaf(self.symbols, l);
                    t.pop();
                    t.push_str("\\top}");
                    self.out.push_str(&t);
                }
                Node::Leaf(l) => {
                    self.out.push_str(&leaf(self.symbols, l));
                    self.out.push_str("^\\top");
                }
                _ => {
                    self.base(&node, *a);
                    self.out.push_str("^\\top");
                }
            },
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
            Node::JacF([f, a]) => {
                let f = self.fn_name(*f);
                self.out.push_str(&format!("J_{{{f}}}"));
                self.args(&[*a]);
            }
            Node::Sum([t, e]) => {
                self.out.push_str("\\sum_{");
                self.node(*t, false);
                self.out.push_str("} ");
                let lv = crate::ir::prec::level(self.expr, *e, false);
                if lv <= crate::ir::prec::Level::Sum {
                    // Parentheses as tall as the sign they follow.
                    self.parenthesized(&[id], |p| p.node(*e, false));
                } else {
                    self.node(*e, false);
                }
            }
            // Functions of one value written by name.
            Node::SumAll(a) | Node::Prod(a) | Node::Softmax(a) | Node::Trace(a) | Node::Diag(a) => {
                let name = match &node {
                    Node::SumAll(_) => "sum",
                    Node::Prod(_) => "prod",
                    Node::Softmax(_) => "softmax",
                    Node::Trace(_) => "tr",
                    _ => "diag",
                };
                self.out.push_str("\\operatorname{");
                self.out.push_str(name);
                self.out.push('}');
                self.args(&[*a]);
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
