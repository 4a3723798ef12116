//! Dense matrices for numeric checks, with the language's shape rules:
//! `1 x 1` values are scalars that scale and broadcast.

use super::{EvalError, Result};
use nalgebra::DMatrix;

/// A dense matrix; scalars are `1 x 1`, vectors `n x 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mat(pub DMatrix<f64>);

fn shape_error(op: &str, a: &Mat, b: &Mat) -> EvalError {
    EvalError(format!(
        "{op} of a {}x{} and a {}x{} value",
        a.rows(),
        a.cols(),
        b.rows(),
        b.cols()
    ))
}

impl Mat {
    /// A scalar.
    pub fn scalar(v: f64) -> Mat {
        Mat(DMatrix::from_element(1, 1, v))
    }

    /// A matrix from a function of (row, column).
    pub fn from_fn(rows: usize, cols: usize, f: impl FnMut(usize, usize) -> f64) -> Mat {
        Mat(DMatrix::from_fn(rows, cols, f))
    }

    /// The identity.
    pub fn identity(n: usize) -> Mat {
        Mat(DMatrix::identity(n, n))
    }

    /// Each entry replaced by the product of all the other entries (the
    /// gradient of the product of entries), computed without dividing.
    pub fn others_product(&self) -> Mat {
        let x = self.0.as_slice();
        let n = x.len();
        let mut out = vec![1.0; n];
        let mut before = 1.0;
        for k in 0..n {
            out[k] = before;
            before *= x[k];
        }
        let mut after = 1.0;
        for k in (0..n).rev() {
            out[k] *= after;
            after *= x[k];
        }
        Mat(DMatrix::from_column_slice(self.rows(), self.cols(), &out))
    }

    /// Zeros.
    pub fn zeros(rows: usize, cols: usize) -> Mat {
        Mat(DMatrix::zeros(rows, cols))
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.0.nrows()
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.0.ncols()
    }

    /// Whether this is `1 x 1`.
    pub fn is_scalar(&self) -> bool {
        self.rows() == 1 && self.cols() == 1
    }

    /// The value of a `1 x 1` matrix.
    pub fn as_scalar(&self) -> Result<f64> {
        if self.is_scalar() {
            Ok(self.0[(0, 0)])
        } else {
            Err(EvalError(format!(
                "a {}x{} value used as a scalar",
                self.rows(),
                self.cols()
            )))
        }
    }

    /// Entry `(i, j)`.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.0.get((i, j)).copied().unwrap_or(f64::NAN)
    }

    /// Sets entry `(i, j)`.
    pub fn set(&mut self, i: usize, j: usize, v: f64) {
        if let Some(x) = self.0.get_mut((i, j)) {
            *x = v;
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entries in column-major order.
    pub fn entries(&self) -> &[f64] {
        self.0.as_slice()
    }

    /// Entry `k` in column-major order, mutably.
    pub fn entry_mut(&mut self, k: usize) -> Option<&mut f64> {
        self.0.as_mut_slice().get_mut(k)
    }

    /// The largest absolute entry (infinite if any entry is not finite).
    pub fn max_abs(&self) -> f64 {
        self.0.iter().fold(0.0f64, |m, v| {
            if v.is_finite() {
                m.max(v.abs())
            } else {
                f64::INFINITY
            }
        })
    }

    /// Whether every entry is finite.
    pub fn is_finite(&self) -> bool {
        self.0.iter().all(|v| v.is_finite())
    }

    /// `exp(self) / sum(exp(self))` over every entry, computed with the
    /// largest entry taken out first so that no exponential overflows.
    pub fn softmax(&self) -> Mat {
        let top = self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e = self.map(|v| (v - top).exp());
        let total: f64 = e.0.iter().sum();
        e.scale(1.0 / total)
    }

    /// Each entry mapped.
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Mat {
        Mat(self.0.map(f))
    }

    /// Every entry times `k`.
    pub fn scale(&self, k: f64) -> Mat {
        Mat(&self.0 * k)
    }

    fn zip(&self, other: &Mat, op: &str, f: impl Fn(f64, f64) -> f64) -> Result<Mat> {
        if self.is_scalar() && !other.is_scalar() {
            let a = self.0[(0, 0)];
            return Ok(other.map(|b| f(a, b)));
        }
        if other.is_scalar() {
            let b = other.0[(0, 0)];
            return Ok(self.map(|a| f(a, b)));
        }
        if self.rows() != other.rows() || self.cols() != other.cols() {
            return Err(shape_error(op, self, other));
        }
        Ok(Mat(self.0.zip_map(&other.0, f)))
    }

    /// `self + other`, scalars broadcast.
    pub fn add(&self, other: &Mat) -> Result<Mat> {
        self.zip(other, "a sum", |a, b| a + b)
    }

    /// `self - other`, scalars broadcast.
    pub fn sub(&self, other: &Mat) -> Result<Mat> {
        self.zip(other, "a difference", |a, b| a - b)
    }

    /// `self .* other`.
    pub fn had(&self, other: &Mat) -> Result<Mat> {
        self.zip(other, "an elementwise product", |a, b| a * b)
    }

    /// `self * other`: scaling if either is a scalar, else a matrix product.
    pub fn mul(&self, other: &Mat) -> Result<Mat> {
        if self.is_scalar() {
            return Ok(other.scale(self.0[(0, 0)]));
        }
        if other.is_scalar() {
            return Ok(self.scale(other.0[(0, 0)]));
        }
        if self.cols() != other.rows() {
            return Err(shape_error("a product", self, other));
        }
        Ok(Mat(&self.0 * &other.0))
    }

    /// The transpose.
    pub fn transpose(&self) -> Mat {
        Mat(self.0.transpose())
    }

    fn square(&self, what: &str) -> Result<()> {
        if self.rows() == self.cols() {
            Ok(())
        } else {
            Err(EvalError(format!(
                "{what} of a {}x{} matrix",
                self.rows(),
                self.cols()
            )))
        }
    }

    /// The determinant.
    pub fn det(&self) -> Result<f64> {
        self.square("a determinant")?;
        Ok(self.0.determinant())
    }

    /// The inverse.
    pub fn inv(&self) -> Result<Mat> {
        self.square("an inverse")?;
        self.0
            .clone()
            .try_inverse()
            .map(Mat)
            .ok_or_else(|| EvalError("the inverse of a singular matrix".into()))
    }

    /// The trace.
    pub fn trace(&self) -> Result<f64> {
        self.square("a trace")?;
        Ok(self.0.trace())
    }

    /// The diagonal matrix of a vector.
    pub fn diag(&self) -> Result<Mat> {
        if self.cols() != 1 {
            return Err(EvalError("`diag` of a matrix".into()));
        }
        Ok(Mat(DMatrix::from_diagonal(&self.0.column(0).into_owned())))
    }

    /// A block matrix; `1 x 1` zero blocks take their size from their row
    /// and column neighbours.
    pub fn blocks(cells: &[Vec<Mat>]) -> Result<Mat> {
        let ncols = cells.first().map_or(0, Vec::len);
        let is_zero = |m: &Mat| m.is_scalar() && m.0[(0, 0)] == 0.0;
        let mut heights = vec![None; cells.len()];
        let mut widths = vec![None; ncols];
        for (r, row) in cells.iter().enumerate() {
            if row.len() != ncols {
                return Err(EvalError("a ragged block matrix".into()));
            }
            for (c, m) in row.iter().enumerate() {
                if is_zero(m) {
                    continue;
                }
                for (slot, n) in [(&mut heights[r], m.rows()), (&mut widths[c], m.cols())] {
                    match slot {
                        Some(prev) if *prev != n => {
                            return Err(EvalError("blocks do not conform".into()))
                        }
                        _ => *slot = Some(n),
                    }
                }
            }
        }
        let heights: Vec<usize> = heights.into_iter().map(|h| h.unwrap_or(1)).collect();
        let widths: Vec<usize> = widths.into_iter().map(|w| w.unwrap_or(1)).collect();
        let mut out = DMatrix::zeros(heights.iter().sum(), widths.iter().sum());
        let mut r0 = 0;
        for (r, row) in cells.iter().enumerate() {
            let mut c0 = 0;
            for (c, m) in row.iter().enumerate() {
                if !is_zero(m) {
                    out.view_mut((r0, c0), (heights[r], widths[c]))
                        .copy_from(&m.0);
                }
                c0 += widths[c];
            }
            r0 += heights[r];
        }
        Ok(Mat(out))
    }
}
