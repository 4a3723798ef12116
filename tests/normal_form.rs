//! The normal form behind `expect` proofs: identities of the algebra give
//! one normal form, and expressions that differ in value never do. Every
//! pair is also checked numerically, so a test here cannot pass on a
//! wrong identity.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use deriv::diag::Source;
use deriv::eval::{Forward, Instance};
use deriv::ir::normal::same;
use deriv::Options;

const MODEL: &str = "dim D, T
index t, n in 1..T
input x[t] : D
input w[t, n] : D
input q[t] : scalar
param A, B : D x D
param y, z, h : D
param s, r : scalar
fn F : D -> scalar
a[t] = tanh(A * x[t])
loss L = sum(t, F(a[t]))
";

fn model() -> deriv::model::Model {
    let source = Source::new("normal.deriv", MODEL);
    deriv::run(&source, &Options::default()).unwrap().key.model
}

fn read(m: &deriv::model::Model, text: &str) -> egg::RecExpr<deriv::ir::Node> {
    try_read(m, text).unwrap_or_else(|| panic!("{text} does not check"))
}

fn try_read(m: &deriv::model::Model, text: &str) -> Option<egg::RecExpr<deriv::ir::Node>> {
    let t = m.indices.iter().position(|i| i.name == "t").unwrap() as u32;
    let n = m.indices.iter().position(|i| i.name == "n").unwrap() as u32;
    let mut bound = Vec::new();
    if !text.contains("sum(t") {
        bound.push(t);
    }
    if !text.contains("sum(n") {
        bound.push(n);
    }
    deriv::check::expression(m, &Source::new("e", text), &bound)
        .ok()
        .map(|e| e.0)
}

/// The largest difference of two expressions over a few instances.
fn difference(m: &deriv::model::Model, a: &str, b: &str) -> f64 {
    let (ea, eb) = (read(m, a), read(m, b));
    let mut worst: f64 = 0.0;
    for seed in [1, 2, 3] {
        let inst = Instance::new(m, vec![3, 3], seed).unwrap();
        let f = Forward::new(&inst, None);
        let at = vec![Some(1), Some(1)];
        let (va, vb) = (f.eval(&ea, &at).unwrap(), f.eval(&eb, &at).unwrap());
        worst = worst.max(deriv::eval::rel_error(&va, &vb));
    }
    worst
}

#[test]
fn identities_of_the_algebra_share_a_normal_form() {
    let m = model();
    for (a, b) in [
        ("A * (B * y)", "(A * B) * y"),
        // Derivative forms are written with the activation table's
        // identities.
        ("tanh'(y) .* z", "z .* (1 - tanh(y)^2)"),
        ("sigma'(y)", "sigma(y) .* (1 - sigma(y))"),
        // A product of matrices that is a scalar commutes like one.
        ("(s * y^T) * z", "z^T * y * s"),
        ("1 + ((1 - s^2) * y^T) * z", "1 + z^T * y * (1 - s^2)"),
        ("s * (A * y)", "A * (s * y)"),
        ("(A * y)^T * z", "y^T * A^T * z"),
        ("y^T * z * h", "h * (z^T * y)"),
        ("2 * y / 2", "y"),
        ("(y + y) / 2", "y"),
        ("y + y", "2 * y"),
        ("-(-(y - z))", "y - z"),
        ("y .* z", "z .* y"),
        ("(s * y) .* z", "s * (y .* z)"),
        ("(1 - h) .* y", "y - h .* y"),
        ("A^T * (s * y) + B^T * y", "s * A^T * y + (y^T * B)^T"),
        ("sum(t, 2 * x[t] - x[t])", "sum(t, x[t])"),
        ("-sum(t, -(y^T * x[t]))", "sum(t, x[t]^T * y)"),
        ("(sum(t, x[t] * y^T))^T", "sum(t, y * x[t]^T)"),
        ("A^T * sum(t, s * x[t])", "sum(t, s * (A^T * x[t]))"),
        ("sum(t, A * x[t] * y^T) * B", "A * sum(t, x[t] * y^T * B)"),
        ("sum(t, (y^T * x[t]) * z)", "sum(t, x[t]^T * y) * z"),
        ("tanh(A * (B * y))", "tanh((A * B) * y)"),
        ("(A * B)^T", "B^T * A^T"),
        (
            "A^T * diag(1 - h .* h) * y + B * z",
            "B * z + A^T * ((1 - h .* h) .* y)",
        ),
        ("s * r * y - r * (s * y)", "0 * y"),
        // A matrix applied to a vector, through sums, scalings, products
        // and diagonals: the softmax's Jacobian applied to a vector.
        ("(diag(h) - h * h^T) * y", "h .* (y - h^T * y)"),
        ("(s * diag(h) + A) * y", "A * y + s * (h .* y)"),
        ("(A * diag(h)) * y", "A * (h .* y)"),
        ("(diag(h) * A) * y", "h .* (A * y)"),
        ("-(diag(h) * diag(z)) * y", "-(h .* z .* y)"),
        // Powers of one base merge, in exact or symbolic exponents; a
        // division is a power -1 and a square root a power 1/2.
        ("s^(D - 1) * s", "s^D"),
        ("s^D * s^(-D)", "1"),
        // A sign raised to a dim: its exponent counts mod 2.
        ("((-1)^D)^2", "1"),
        ("(-1)^D * (-1)^D * s", "s"),
        ("(-1)^(3 * D)", "(-1)^D"),
        ("(-1)^D * (-1)^(D + 1)", "(-1)^1"),
        ("(-1)^(D * D + D) * s", "s"),
        ("(-1)^(D * D * D)", "(-1)^D"),
        ("(-1)^(D * D * T + 3 * D * T)", "1"),
        ("(-(-1)^D)^(D + 1) * s", "-(-1)^D * s"),
        // Determinants of scaled identities and of zero.
        ("det(s * I(D))", "s^D"),
        ("det(I(D) - I(D))", "0"),
        (
            "(s * s + 1)^(-1) * sqrt(s * s + 1)^(-1)",
            "(s * s + 1)^(-3/2)",
        ),
        (
            "1 / (2 * (s * s + 1) * sqrt(s * s + 1))",
            "(s * s + 1)^(-3/2) / 2",
        ),
        (
            "y ./ sqrt(h .* h + 1) ./ (h .* h + 1)",
            "y .* (h .* h + 1)^(-3/2)",
        ),
        ("(r * (s * s + 1))^(-1)", "1 / r / (s * s + 1)"),
        // Sums of entries and inner products are one form.
        ("sum(y .* z)", "y^T * z"),
        ("sum(y .* y)", "y^T * y"),
        ("y^T * diag(h) * z", "sum(y .* h .* z)"),
        // A negative whole power goes into powers and elementwise products.
        ("y ./ ((h + z)^2 .* z)", "y .* (h + z)^(-2) ./ z"),
        (
            "y ./ (sqrt(h .* h + z .* z) .* z)",
            "y .* (h .* h + z .* z)^(-1/2) ./ z",
        ),
        // A diagonal beside a column or row inside a longer product.
        ("y^T * diag(h)", "(h .* y)^T"),
        ("z * y^T * diag(h)", "z * (diag(h) * y)^T"),
        ("diag(h) * y * z^T", "(h .* y) * z^T"),
        ("(y^T * A) * z", "y^T * (A * z)"),
        ("sum(y - sum(y) / D)", "0"),
        ("sum(A * y)", "y^T * A^T * (y - y + 1)"),
        // diag is linear and symmetric; a step is its own square.
        ("diag(s * y + z)", "s * diag(y) + diag(z)"),
        ("(diag(y) * A)^T", "A^T * diag(y)"),
        ("step(y) .* step(y) .* z", "step(y) .* z"),
        // The activation table's further identities.
        ("step(relu(A * y)) .* z", "z .* relu'(A * y)"),
        ("1 ./ (1 + exp(-y))", "sigma(y)"),
        ("log(1 + exp(y + z))", "softplus(z + y)"),
        // Diagonals multiply entrywise, and the identity is the unit.
        ("diag(y) * diag(z) * A", "diag(z .* y) * A"),
        ("A * diag(y) * (diag(z) * diag(h))", "A * diag(y .* z .* h)"),
        ("diag(y) * (s * diag(y)) * B", "s * diag(y .* y) * B"),
        ("I(D) * A * I(D) + B * I(D)", "A + B"),
        ("diag(y) * I(D) * diag(z)", "diag(y .* z)"),
        // `AB` and `BA` have one characteristic polynomial.
        ("det(I(D) - s * A * diag(y))", "det(I(D) - diag(s * y) * A)"),
        ("det(2 * I(D) + A * B * A^T)", "det(A^T * A * B + 2 * I(D))"),
        ("det(A * B)", "det(B * A)"),
        // The scale of the one multiple of the identity taken out.
        ("det(s * I(D) - A)", "s^D * det(I(D) - A / s)"),
        ("det(s * I(D) - A)", "(-1)^D * det(A - s * I(D))"),
        (
            "det(2 * s * I(D) + s * A * B)",
            "(2 * s)^D * det(I(D) + B * A / 2)",
        ),
        // A common last (or first) factor of a sum of products moved to
        // the other end, and the transpose.
        (
            "det(I(D) + s * diag(1 - y) * A)",
            "det(I(D) + s * A * diag(1 - y))",
        ),
        (
            "det(2 * I(D) + A * B - diag(y) * A * B)",
            "det(2 * I(D) + B * A - B * diag(y) * A)",
        ),
        (
            "det(I(D) + s * A^T * diag(y))",
            "det(I(D) + s * diag(y) * A)",
        ),
        (
            "det(I(D) + A * B + diag(y) * B)",
            "det(I(D) + B * A + B * diag(y))",
        ),
        // A sum over an index of a term free of it is the term times the
        // length of the range; factors free of the index come out of
        // elementwise products and inner products.
        ("sum(t, y)", "T * y"),
        ("sum(t, s * y - x[t])", "T * s * y - sum(t, x[t])"),
        ("sum(t, y .* x[t])", "y .* sum(t, x[t])"),
        // Sums over two indices commute.
        ("sum(n, sum(t, w[t, n]))", "sum(t, sum(n, w[t, n]))"),
        (
            "sum(n, sum(t, (y .* w[t, n]) * x[t]^T))",
            "sum(t, sum(n, y .* w[t, n]) * x[t]^T)",
        ),
        (
            "sum(n, A * sum(t, q[t] * x[t] * w[t, n]^T) * B)",
            "A * sum(t, sum(n, w[t, n] * x[t]^T * q[t])^T) * B",
        ),
        (
            "sum(t, y .* (x[t] - z))",
            "y .* sum(t, x[t]) - T * (y .* z)",
        ),
        ("sum(t, (y^T * x[t]) * q[t])", "y^T * sum(t, q[t] * x[t])"),
        (
            "sum(t, (x[t]^T * A * y) * z)",
            "(sum(t, x[t])^T * A * y) * z",
        ),
        (
            "sum(t, q[t] * (y^T * x[t]) * z)",
            "z * (sum(t, q[t] * x[t]^T) * y)",
        ),
        // `y^0` is the all-ones value of `y`'s shape: its row picks a
        // diagonal's entries and sums a vector's.
        ("y^0 * (z^0)^T * diag(h)", "y^0 * h^T"),
        ("diag(h) * y^0", "h"),
        ("(y^0)^T * z", "sum(z)"),
        ("sum(y^0)", "D"),
        ("y^0 .* z", "z"),
        ("s^0 * y", "y"),
        // A product of entries takes out what every entry shares:
        // `prod(c * v) = c^D * prod(v)`, signs and scalars alike.
        ("prod(s - h)", "(-1)^D * prod(h - s)"),
        ("prod(2 * y)", "2^D * prod(y)"),
        ("prod(s * y - s * z)", "s^D * prod(y - z)"),
        ("prod(-y / 3)", "(-1/3)^D * prod(y)"),
        ("prod(s^2 * (y - 1))", "(-1)^D * s^(2 * D) * prod(1 - y)"),
        // A sum to a whole power: its sign comes out, so that a sum and
        // its negation meet (`(x - 1)^D = (-1)^D * (1 - x)^D`).
        ("(s * r - 1)^D * (-1)^D", "(1 - r * s)^D"),
        ("(s * (r - 1))^D", "(-s)^D * (1 - r)^D"),
        ("(y - 1)^(-1) .* z", "-z ./ (1 - y)"),
        ("(s - r)^(2 * D)", "(r - s)^(2 * D)"),
        ("(h - y)^D", "(-1)^D * (y - h)^D"),
        // The inverse of a scaled identity.
        ("inv(s * I(D)) * y", "y / s"),
        ("det(2 * s * I(D)) * det(inv(s * I(D)) * A)", "2^D * det(A)"),
        ("inv(-I(D) / 2)", "-2 * I(D)"),
        ("(-2 * (-1)^D)^D", "(-1)^D * 2^D * (-1)^(D * D)"),
        // A number's power is its numerator's over its denominator's.
        ("(1/2)^D * 2^D * s", "s"),
        ("(2/3)^D * 3^D", "2^D"),
        ("(-3/2)^(D + 1) * 2^D", "-3/2 * (-3)^D"),
        // The entries of a softmax sum to one.
        ("sum(softmax(A * y))", "1"),
        ("softmax(y)^T * (z + 1)", "z^T * softmax(y) + 1"),
        (
            "softmax(y) .* (z - softmax(y)^T * (z + 1))",
            "softmax(y) .* z - softmax(y) * (softmax(y)^T * z) - softmax(y)",
        ),
    ] {
        let e = difference(&m, a, b);
        assert!(e < 1e-9, "{a} and {b} differ in value ({e})");
        assert!(
            same(&read(&m, a), &read(&m, b), &m),
            "{a} and {b}: normal forms differ"
        );
    }
}

#[test]
fn different_values_have_different_normal_forms() {
    let m = model();
    for (a, b) in [
        ("A * B * y", "B * A * y"),
        ("(s * y^T) * z", "s * (y^T * y)"),
        ("tanh'(y)", "1 - tanh(y)"),
        ("sigma'(y)", "tanh'(y)"),
        ("step(relu(y))", "relu(y)"),
        ("relu(step(y))", "step(y) .* y"),
        ("(s * y^T) * A * z", "s * (z^T * A * y)"),
        ("A^T * y", "A * y"),
        ("diag(h) * y", "h + y"),
        ("z * y^T * diag(h)", "z * (h .* z)^T"),
        ("y ./ ((h + z)^2 .* z)", "y .* (h + z)^(-2) .* z"),
        ("y^T * diag(h)", "(h .* z)^T"),
        ("(A * y)^T * z", "y^T * A * z"),
        ("A * (y + 1)", "A * y + 1"),
        ("y .* z", "y + z"),
        ("y - z", "z - y"),
        ("s * y", "r * y"),
        ("tanh(A * y)", "tanh(B * y)"),
        ("sum(t, x[t]) .* y", "sum(t, x[t] .* z)"),
        ("(1 - h) .* y", "y - h"),
        ("(sum(t, x[t] * y^T))^T", "sum(t, x[t] * y^T)"),
        ("A * sum(t, x[t])", "sum(t, x[t]) + A * y"),
        ("sum(t, A * x[t]) * s", "A * sum(t, x[t])"),
        // A scalar in a sum with a matrix stands for every entry.
        ("(diag(h) + s) * y", "h .* y + s * y"),
        ("(diag(h) - h * h^T) * y", "h .* (y - h)"),
        // A square root of a square is an absolute value.
        ("(y .* y)^(1/2)", "y"),
        ("((-s) * (-s))^(1/2)", "-s"),
        ("s^(D - 1)", "s^D"),
        ("(-1)^D", "1"),
        ("(-1)^(D + 1)", "(-1)^D"),
        ("(-1)^(D * D)", "1"),
        ("(-1)^(D * D + 1)", "(-1)^D"),
        ("((-1)^D)^3", "1"),
        ("det(s * I(D))", "s"),
        ("prod(-y)", "prod(y)"),
        ("prod(2 * y)", "2 * prod(y)"),
        ("prod(s * y)", "s * prod(y)"),
        ("prod(y - s)", "prod(s - y)"),
        ("prod(y + z)", "prod(y) + prod(z)"),
        ("(1/2)^D", "2^D"),
        // A power of a signed power keeps both signs' exponents.
        ("((-1)^(D + 1))^D", "(-1)^D"),
        ("(-(-1)^D)^D * s", "(-1)^D * s"),
        ("(2 * 2^D)^D", "2^(D * D)"),
        ("inv(s * I(D)) * y", "s * y"),
        ("inv(s * I(D) + A) * y", "y / s + A * y"),
        ("(2/3)^D * 3^D", "3^D"),
        ("sum(y .* z .* h)", "y^T * z"),
        ("tanh(y) .* tanh(y)", "tanh(y)"),
        ("sum(t, y)", "y"),
        ("sum(n, sum(t, w[t, n]))", "sum(t, x[t])"),
        (
            "sum(n, sum(t, w[t, n] * x[t]^T))",
            "sum(n, sum(t, w[t, n])) * sum(t, x[t])^T",
        ),
        ("sum(t, y .* x[t])", "sum(t, x[t])"),
        ("sum(t, (y^T * x[t]) * q[t])", "y^T * sum(t, x[t])"),
        ("sum(t, q[t] * y)", "sum(t, y)"),
        ("sum(softmax(y))", "sum(y)"),
        ("softmax(y)^T * z", "sum(z)"),
        ("diag(y) * A * diag(z)", "diag(y .* z) * A"),
        ("diag(y) * diag(z) * A", "diag(y + z) * A"),
        ("I(D) + A", "A"),
        ("det(I(D) + A * B + diag(y))", "det(I(D) + B * A + diag(y))"),
        ("det(s * I(D) - A)", "s^D * det(I(D) - A)"),
        ("det(s * I(D) - A)", "s * det(I(D) - A / s)"),
        ("det(I(D) + A * B * A^T)", "det(I(D) + B * A * A)"),
        ("det(I(D) + A * y * z^T)", "det(I(D) + A * z * y^T)"),
        (
            "det(I(D) + A * B + diag(y) * A)",
            "det(I(D) + B * A + A * diag(y))",
        ),
        (
            "det(I(D) + A * B + B * A * A)",
            "det(I(D) + B * A + A * B * A)",
        ),
        ("det(2 * I(D) + A * B + B * A)", "det(2 * I(D) + 2 * A * B)"),
        ("(s * r - 1)^D", "(1 - r * s)^D"),
        ("(s - r)^D", "(r - s)^D"),
        ("(y - 1)^(-1) .* z", "z ./ (1 - y)"),
    ] {
        let e = difference(&m, a, b);
        assert!(e > 1e-6, "{a} and {b} agree in value: not a useful case");
        assert!(
            !same(&read(&m, a), &read(&m, b), &m),
            "{a} and {b} share a normal form"
        );
    }
}

/// The relative difference of two expressions on one instance (dims
/// `dims`, at `t = 1`), where both have finite values there.
fn gap(
    m: &deriv::model::Model,
    a: &egg::RecExpr<deriv::ir::Node>,
    b: &egg::RecExpr<deriv::ir::Node>,
    dims: Vec<i64>,
    seed: u64,
) -> Option<f64> {
    let inst = Instance::new(m, dims, seed).unwrap();
    let f = Forward::new(&inst, None);
    let at = vec![Some(1), Some(1)];
    let (va, vb) = (f.eval(a, &at).ok()?, f.eval(b, &at).ok()?);
    (va.is_finite() && vb.is_finite()).then(|| deriv::eval::rel_error(&va, &vb))
}

/// A small deterministic generator of random expressions of the test
/// model, by shape: scalars, vectors of `D` and `D x D` matrices, built
/// from the operations the normal form rearranges, with sums over `t` and
/// `n`, nested in either order (inside them, the values at their steps
/// are leaves too). The second field is the indices bound where it is.
struct Gen(u64, (bool, bool));

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    /// A sum over `t` or `n` (one not bound yet) of what `inner` makes,
    /// or what it makes alone inside both.
    fn summed(&mut self, inner: impl FnOnce(&mut Gen) -> String) -> String {
        let outer = self.1;
        let over_t = match outer {
            (true, true) => return inner(self),
            (false, false) => self.next(2) == 0,
            (t, _) => !t,
        };
        if over_t {
            self.1 .0 = true;
        } else {
            self.1 .1 = true;
        }
        let body = inner(self);
        self.1 = outer;
        format!("sum({}, {body})", if over_t { "t" } else { "n" })
    }

    /// One of `leaves` whose indices are bound where it is.
    fn leaf(&mut self, leaves: &[&str]) -> String {
        let (t, n) = self.1;
        let fits: Vec<&&str> = leaves
            .iter()
            .filter(|l| (t || !l.contains("t]") && !l.contains("[t")) && (n || !l.contains("n]")))
            .collect();
        fits[self.next(fits.len() as u64) as usize].to_string()
    }

    /// The `k`-th expression of a run: a scalar, a vector or a matrix in
    /// turn, of depth 1 to 3.
    fn nth(&mut self, k: usize) -> String {
        let depth = 1 + (k % 3) as u32;
        match k % 3 {
            0 => self.scalar(depth),
            1 => self.vector(depth),
            _ => self.matrix(depth),
        }
    }

    fn scalar(&mut self, depth: u32) -> String {
        if depth == 0 {
            return self.leaf(&["s", "r", "2", "1/2", "D", "T", "q[t]"]);
        }
        let d = depth - 1;
        match self.next(19) {
            14 => self.summed(|g| g.scalar(d)),
            // A product of entries, and a number to a power in the dims.
            16 => format!("prod({})", self.vector(d)),
            // (Shifted off a rank-one matrix, whose determinant is zero
            // and computes as noise.)
            18 => format!("det({} * ({} + 3 * I(D)))", self.scalar(d), self.matrix(d)),
            17 => format!(
                "({})^({}) * {}",
                ["2", "-2", "1/2", "-3/2"][self.next(4) as usize],
                ["D", "D - 1", "2 * D"][self.next(3) as usize],
                self.scalar(d)
            ),
            0 => format!("({} + {})", self.scalar(d), self.scalar(d)),
            1 => format!("({} - {})", self.scalar(d), self.scalar(d)),
            2 => format!("({} * {})", self.scalar(d), self.scalar(d)),
            3 => format!("({} / {})", self.scalar(d), self.scalar(d)),
            4 => format!("({})^2", self.scalar(d)),
            5 => format!("({})^(-1)", self.scalar(d)),
            6 => format!("sqrt({} * {0})", self.scalar(d)),
            7 => format!("(({})^T * {})", self.vector(d), self.vector(d)),
            8 => format!("sum({})", self.vector(d)),
            9 => format!(
                "(({})^T * {} * {})",
                self.vector(d),
                self.matrix(d),
                self.vector(d)
            ),
            10 => format!("s^(D - 1) * {}", self.scalar(d)),
            11 => format!(
                "sqrt(s * s + 1)^({})",
                ["3", "-1", "1/2", "-3"][self.next(4) as usize]
            ),
            12 => format!("(-{})", self.scalar(d)),
            13 => format!(
                "det({} * I(D) + {} * {})",
                self.scalar(d),
                self.matrix(d),
                self.matrix(d)
            ),
            15 => format!(
                "(-1)^({}) * {}",
                [
                    "D",
                    "2 * D",
                    "D + 1",
                    "3 * D - 1",
                    "D * D",
                    "D * D + D",
                    "D * T * D - T"
                ][self.next(7) as usize],
                self.scalar(d)
            ),
            _ => self.scalar(0),
        }
    }

    fn vector(&mut self, depth: u32) -> String {
        if depth == 0 {
            return self.leaf(&["y", "z", "h", "x[t]", "w[t, n]"]);
        }
        let d = depth - 1;
        match self.next(17) {
            14 => self.summed(|g| g.vector(d)),
            // A column of ones, `u^0`, scaling and summed.
            16 => format!("({} * ({})^0)", self.scalar(d), self.vector(d)),
            0 => format!("({} * {})", self.matrix(d), self.vector(d)),
            1 => format!("({} + {})", self.vector(d), self.vector(d)),
            2 => format!("({} - {})", self.vector(d), self.vector(d)),
            3 => format!("({} * {})", self.scalar(d), self.vector(d)),
            4 => format!("({} .* {})", self.vector(d), self.vector(d)),
            5 => format!("({} / {})", self.vector(d), self.scalar(d)),
            6 => format!("(diag({}) * {})", self.vector(d), self.vector(d)),
            7 => format!("({} ./ {})", self.vector(d), self.vector(d)),
            8 => format!("({})^2", self.vector(d)),
            9 => format!(
                "(h .* h + 1)^({})",
                ["-1/2", "1/2", "-1", "3/2"][self.next(4) as usize]
            ),
            10 => format!("({} + {})", self.vector(d), self.scalar(d)),
            11 => format!("(({})^T * {})^T", self.vector(d), self.matrix(d)),
            12 => format!("tanh({})", self.vector(d)),
            13 => format!("softmax({})", self.vector(d)),
            15 => {
                let f =
                    ["relu", "step", "step(relu", "sigma", "1 ./ (1 + exp"][self.next(5) as usize];
                let open = f.matches('(').count();
                let neg = if f.ends_with("exp") { "-" } else { "" };
                format!("{f}({neg}({}))", self.vector(d)) + &")".repeat(open)
            }
            _ => self.vector(0),
        }
    }

    fn matrix(&mut self, depth: u32) -> String {
        let leaves = ["A", "B"];
        if depth == 0 {
            return leaves[self.next(2) as usize].to_owned();
        }
        let d = depth - 1;
        match self.next(11) {
            8 => self.summed(|g| format!("({} * ({})^T)", g.vector(d), g.vector(d))),
            // The inverse of a scaled identity.
            10 => format!("inv({} * I(D))", self.scalar(d)),
            0 => format!("({} * {})", self.matrix(d), self.matrix(d)),
            1 => format!("({})^T", self.matrix(d)),
            2 => format!("diag({})", self.vector(d)),
            3 => format!("({} + {})", self.matrix(d), self.matrix(d)),
            4 => format!("({} * {})", self.scalar(d), self.matrix(d)),
            5 => "I(D)".to_owned(),
            6 => format!("({} * ({})^T)", self.vector(d), self.vector(d)),
            7 => format!("({} - {})", self.matrix(d), self.matrix(d)),
            _ => self.matrix(0),
        }
    }
}

/// How many random expressions a test makes, and from what seed:
/// `DERIV_NORMAL_CASES` and `DERIV_NORMAL_SEED` where set.
fn runs(cases: usize, seed: u64) -> (usize, u64) {
    let var = |name: &str| std::env::var(name).ok();
    (
        var("DERIV_NORMAL_CASES")
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        var("DERIV_NORMAL_SEED")
            .and_then(|v| v.parse().ok())
            .unwrap_or(seed),
    )
}

/// Random expressions of each shape, grouped by normal form: every two
/// in a group must have one value wherever both are defined, at several
/// sizes of `D` (the normal form knows `sum` of an all-ones vector is `D`).
#[test]
fn equal_normal_forms_are_equal_values_on_random_expressions() {
    use std::collections::BTreeMap;
    let m = model();
    // More cases (and another seed) behind an environment variable.
    let (cases, seed) = runs(6000, 0x9e37_79b9_7f4a_7c15);
    let mut g = Gen(seed, (false, false));
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for k in 0..cases {
        let text = g.nth(k);
        // A text that divides by a constant zero is refused.
        let Some(e) = try_read(&m, &text) else {
            continue;
        };
        let Some(form) = deriv::ir::normal::normal_form(&e, &m) else {
            continue;
        };
        // Zeros of two shapes share the empty form: compare one shape.
        groups
            .entry(format!("{} {form}", k % 3))
            .or_default()
            .push(text);
    }
    let mut compared = 0;
    for texts in groups.values() {
        let first = &texts[0];
        for other in texts.iter().skip(1).filter(|t| *t != first) {
            let (ea, eb) = (read(&m, first), read(&m, other));
            for (d, t, seed) in [(2, 3, 11), (3, 2, 12), (4, 1, 13)] {
                let Some(e) = gap(&m, &ea, &eb, vec![d, t], seed) else {
                    continue;
                };
                assert!(
                    e < 1e-8,
                    "{first} and {other} share a normal form but differ ({e}) at D = {d}"
                );
                compared += 1;
            }
        }
    }
    println!("{compared} comparisons of expressions sharing a normal form");
    assert!(compared > 500, "too few pairs compared: {compared}");
}

/// A normal form read back into an expression collects like terms, and
/// has the value of the expression it was made from: on random
/// expressions of every shape, compared numerically.
#[test]
fn collected_forms_keep_their_value() {
    let m = model();
    let text = |e: &egg::RecExpr<deriv::ir::Node>| deriv::ir::text::expr(&m.symbols, e);
    for (a, b) in [
        (
            "diag(y) * ((1 - s) * A) + diag((1 - s) * y) * A",
            "2 * (1 - s) * diag(y) * A",
        ),
        (
            "(-s^(-2) * y) .* (1/2 * s^(-1) * z)",
            "-1/2 * (y .* z) / s^3",
        ),
        ("s * A * y + A * (s * y) - y", "2 * s * A * y - y"),
        // What some terms share is taken out of them, with the least
        // power of a factor.
        ("A * y + z - z .* h", "A * y + z .* (1 - h)"),
        ("h .* z - h .* h .* z + y .* h", "h .* (y + z .* (1 - h))"),
        // Sums over one index, each times factors free of it, are one
        // sum (batch norm's `bar(v)`).
        (
            "z .* sum(t, x[t]) - sum(t, x[t] .* a[t])",
            "sum(t, x[t] .* (z - a[t]))",
        ),
        (
            "s * sum(t, q[t]) + sum(t, q[t] * r) + r",
            "r + sum(t, q[t] * (s + r))",
        ),
        // Over a common denominator, where terms divide by a scalar
        // (RMSProp's inverse), and where terms cancel over it.
        ("z / s + (1 - s^(-1)) * y", "(z - (1 - s) * y) / s"),
        ("z - s / (1 + s) * z", "z / (1 + s)"),
        (
            "diag(h) * A - r * diag(y) + r * s / (1 + s) * diag(y) - s / (1 + s) * (diag(h) * A)",
            "(diag(h) * A - r * diag(y)) / (1 + s)",
        ),
        // A perfect square as one.
        ("(1 - 2 * s + s^2) * y", "(1 - s)^2 * y"),
        ("(r^2 + 4 * r * s + 4 * s^2) * A", "(r + 2 * s)^2 * A"),
    ] {
        let e = read(&m, a);
        let c = deriv::ir::normal::collected(&e, &m).unwrap();
        assert_eq!(text(&c), b, "{a}");
        let err = gap(&m, &e, &c, vec![3, 2], 5).unwrap();
        assert!(err < 1e-8, "{a} collected is {b} and differs ({err})");
    }
    // More cases (and another seed) behind the environment variables of
    // the test above.
    let (cases, seed) = runs(3000, 0x2545_f491_4f6c_dd1d);
    let mut g = Gen(seed, (false, false));
    let mut compared = 0;
    for k in 0..cases {
        let a = g.nth(k);
        let Some(e) = try_read(&m, &a) else {
            continue;
        };
        let Some(c) = deriv::ir::normal::collected(&e, &m) else {
            continue;
        };
        for (d, t, seed) in [(2, 3, 21), (3, 2, 22)] {
            let Some(err) = gap(&m, &e, &c, vec![d, t], seed) else {
                continue;
            };
            assert!(
                err < 1e-8,
                "{a} collected is {} and differs ({err})",
                text(&c)
            );
            compared += 1;
        }
    }
    println!("{compared} collected forms compared");
    assert!(
        compared > 1000,
        "too few collected forms compared: {compared}"
    );
}

/// Clearing denominators proves rational identities the normal form
/// alone does not (`(e * B + f) / B = e + f / B` for a sum `B`), and never
/// a pair whose values differ: random pairs of both kinds, every proof
/// checked numerically.
#[test]
fn cleared_denominators_prove_only_equal_values() {
    use deriv::ir::normal::same_cleared;
    let m = model();
    // The textbook case: sigmoid with the binary cross-entropy.
    let (a, b) = ("((1 - s) / (1 - r) - s / r) * (r - r^2)", "r - s");
    assert!(same_cleared(&read(&m, a), &read(&m, b), &m));
    assert!(!same_cleared(&read(&m, a), &read(&m, "s - r"), &m));
    let (a, b) = ("(y - z) ./ (h - h .* h)", "(y - z) ./ h ./ (1 - h)");
    assert!(same_cleared(&read(&m, a), &read(&m, b), &m));
    // Inside a diagonal (`diag` is linear), and block by block.
    let (a, b) = (
        "diag(1 ./ (h + z)) * A",
        "diag((h + z)^(-2) .* (h + z)) * A",
    );
    assert!(same_cleared(&read(&m, a), &read(&m, b), &m));
    let wrong = "diag((h + z)^(-2) .* (h - z)) * A";
    assert!(!same_cleared(&read(&m, a), &read(&m, wrong), &m));
    let block = |cell: &str| format!("[{cell}, A; B, I(D)]");
    assert!(same_cleared(&read(&m, &block(a)), &read(&m, &block(b)), &m));
    assert!(!same_cleared(
        &read(&m, &block(a)),
        &read(&m, &block(wrong)),
        &m
    ));
    // A sum raised to a fraction clears by that fraction, and powers that
    // merge into a whole number are multiplied out; products with a
    // common factor (also powers of equal bases) are equal where the rest
    // is. Each pair is also checked by value.
    let n = "sqrt((y - z)^T * (y - z))";
    for (a, b, equal) in [
        ("(1 + r^2) / sqrt(1 + r^2)", "sqrt(1 + r^2)".to_owned(), true),
        ("(1 + r^2) / sqrt(1 + r^2)", "sqrt(1 + r^2) + 1".to_owned(), false),
        ("sqrt(1 + r^2)^2", "1 + r^2".to_owned(), true),
        ("sqrt(1 + r^2)^2", "1 - r^2".to_owned(), false),
        ("(1 + r^2)^(3/2)", "(1 + r^2) * sqrt(1 + r^2)".to_owned(), true),
        ("(1 + r^2)^(3/2)", "(1 - r^2) * sqrt(1 + r^2)".to_owned(), false),
        (
            "(y - z)^T * (s * (y - z)) / sqrt((y - z)^T * (y - z))",
            format!("s * {n}"),
            true,
        ),
        (
            "1 / (r^2 + sqrt((y - z)^T * (y - z))) - (y - z)^T * (y - z) / sqrt((y - z)^T * (y - z)) / (r^2 + sqrt((y - z)^T * (y - z)))^2",
            format!("r^2 / (r^2 + {n})^2"),
            true,
        ),
        (
            "1 / (r^2 + sqrt((y - z)^T * (y - z))) - (y - z)^T * (y - z) / sqrt((y - z)^T * (y - z)) / (r^2 + sqrt((y - z)^T * (y - z)))^2",
            format!("r^2 / (r^2 + {n})^3"),
            false,
        ),
        (
            "(1 + s^2 / (1 + r^2))^(D - 1) * (1 - r / (1 + r^2))",
            "((1 + r^2 + s^2) / (1 + r^2))^(D - 1) * ((1 + r^2 - r) / (1 + r^2))".to_owned(),
            true,
        ),
        (
            "(1 + s^2 / (1 + r^2))^(D - 1) * (1 - r / (1 + r^2))",
            "((1 + r^2 + s^2) / (1 + r^2))^(D - 1) * ((1 + r^2 + r) / (1 + r^2))".to_owned(),
            false,
        ),
        (
            "(1 + s^2 / (1 + r^2))^(D - 1) * (1 - r / (1 + r^2))",
            "((1 + r^2 + s) / (1 + r^2))^(D - 1) * ((1 + r^2 - r) / (1 + r^2))".to_owned(),
            false,
        ),
    ] {
        let (ea, eb) = (read(&m, a), read(&m, &b));
        assert_eq!(same_cleared(&ea, &eb, &m), equal, "{a} and {b}");
        let err = [(2, 3, 41), (3, 2, 42)]
            .into_iter()
            .filter_map(|(d, t, seed)| gap(&m, &ea, &eb, vec![d, t], seed))
            .fold(0.0, f64::max);
        assert_eq!(err < 1e-8, equal, "{a} and {b} differ by {err}");
    }
    // Functions nested deep, written with `exp`, are not compared (their
    // texts would grow with the tree): no proof, and no time or memory.
    let nested = |f: &str| (0..8).fold("y".to_owned(), |e, _| format!("{f}({e})"));
    let (a, b) = (nested("tanh"), nested("sigma"));
    assert!(!same_cleared(&read(&m, &a), &read(&m, &b), &m));
    let (cases, seed) = runs(1500, 0x6a09_e667_f3bc_c908);
    let mut g = Gen(seed, (false, false));
    let (mut proven, mut true_pairs, mut compared) = (0, 0, 0);
    for k in 0..cases {
        let vector = k % 2 == 1;
        let pick = |g: &mut Gen, depth| {
            if vector {
                g.vector(depth)
            } else {
                g.scalar(depth)
            }
        };
        let (e, f) = (pick(&mut g, 2), pick(&mut g, 1));
        let base = format!("({} + {})", pick(&mut g, 1), pick(&mut g, 1));
        let (times, over) = if vector { (".*", "./") } else { ("*", "/") };
        let pairs = [
            (
                format!("(({e}) {times} {base} + {f}) {over} {base}"),
                format!("{e} + {f} {over} {base}"),
                true,
            ),
            (
                format!("({e}) {times} {base} {over} {base}"),
                e.clone(),
                true,
            ),
            (
                format!("(({e}) + {f}) {over} {base}"),
                format!("({e}) {over} {base} + {f}"),
                false,
            ),
            (
                format!("({e}) {times} {base} {over} ({base} + 1)"),
                e.clone(),
                false,
            ),
        ];
        // A vector pair inside a diagonal (`diag` is linear), times a
        // matrix, and as one entry of a block matrix.
        let wrapped = pairs.iter().filter(|_| vector).flat_map(|(a, b, equal)| {
            let diag = |x: &str| format!("diag({x}) * A");
            let block = |x: &str| format!("[B, {}; A, I(D)]", diag(x));
            [(diag(a), diag(b), *equal), (block(a), block(b), *equal)]
        });
        let pairs: Vec<(String, String, bool)> = wrapped.chain(pairs.iter().cloned()).collect();
        for (a, b, equal) in pairs {
            // A pair that divides by a constant zero is refused.
            let (Some(ea), Some(eb)) = (try_read(&m, &a), try_read(&m, &b)) else {
                continue;
            };
            let yes = same_cleared(&ea, &eb, &m);
            if equal {
                true_pairs += 1;
                proven += usize::from(yes);
            }
            if !yes {
                continue;
            }
            for (d, t, seed) in [(2, 3, 31), (3, 2, 32), (4, 1, 33)] {
                let Some(err) = gap(&m, &ea, &eb, vec![d, t], seed) else {
                    continue;
                };
                assert!(
                    err < 1e-8,
                    "{a} and {b} were proven equal but differ ({err})"
                );
                compared += 1;
            }
        }
    }
    println!("{proven} of {true_pairs} equal pairs proven, {compared} proofs compared");
    assert!(
        proven * 2 > true_pairs,
        "too few equal pairs proven: {proven} of {true_pairs}"
    );
}
