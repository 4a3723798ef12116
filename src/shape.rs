//! Shapes with symbolic sizes, and the linear-algebra rules that combine
//! them. Scalars are `1 x 1`, vectors `n x 1`, row vectors `1 x n`.

use crate::poly::Poly;

/// The shape of a value: rows and columns, each a polynomial in dims.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shape {
    /// Number of rows.
    pub rows: Poly,
    /// Number of columns.
    pub cols: Poly,
}

/// How two shapes combine under `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Product {
    /// One side is a scalar: the other side is scaled.
    Scale(Shape),
    /// A matrix product with the given result.
    Matrix(Shape),
    /// The inner sizes differ.
    Mismatch,
}

impl Shape {
    /// `1 x 1`.
    pub fn scalar() -> Shape {
        Shape {
            rows: Poly::int(1),
            cols: Poly::int(1),
        }
    }

    /// An `n`-vector (a column).
    pub fn vector(n: Poly) -> Shape {
        Shape {
            rows: n,
            cols: Poly::int(1),
        }
    }

    /// An `m x n` matrix.
    pub fn matrix(rows: Poly, cols: Poly) -> Shape {
        Shape { rows, cols }
    }

    /// Whether this is `1 x 1`.
    pub fn is_scalar(&self) -> bool {
        self.rows.is_one() && self.cols.is_one()
    }

    /// Whether this is a column vector (not a scalar).
    pub fn is_vector(&self) -> bool {
        self.cols.is_one() && !self.rows.is_one()
    }

    /// Whether this is a row vector (not a scalar).
    pub fn is_row(&self) -> bool {
        self.rows.is_one() && !self.cols.is_one()
    }

    /// Whether rows and columns are the same size.
    pub fn is_square(&self) -> bool {
        self.rows == self.cols
    }

    /// The transposed shape.
    pub fn transpose(&self) -> Shape {
        Shape {
            rows: self.cols.clone(),
            cols: self.rows.clone(),
        }
    }

    /// The shape of `self * other`.
    pub fn product(&self, other: &Shape) -> Product {
        if self.is_scalar() {
            Product::Scale(other.clone())
        } else if other.is_scalar() {
            Product::Scale(self.clone())
        } else if self.cols == other.rows {
            Product::Matrix(Shape {
                rows: self.rows.clone(),
                cols: other.cols.clone(),
            })
        } else {
            Product::Mismatch
        }
    }

    /// The shape of an elementwise `+`/`-`: scalars broadcast.
    pub fn broadcast(&self, other: &Shape) -> Option<Shape> {
        if self.is_scalar() {
            Some(other.clone())
        } else if other.is_scalar() || self == other {
            Some(self.clone())
        } else {
            None
        }
    }

    /// Prints as the language writes shapes: `scalar`, `H`, `H x D`.
    pub fn describe(&self, names: &dyn Fn(u32) -> String) -> String {
        let show = |p: &Poly| p.grouped(p.display(names).to_string());
        if self.is_scalar() {
            "scalar".to_owned()
        } else if self.cols.is_one() {
            format!("{}-vector", show(&self.rows))
        } else if self.rows.is_one() {
            format!("row {}-vector", show(&self.cols))
        } else {
            format!("{} x {} matrix", show(&self.rows), show(&self.cols))
        }
    }
}
