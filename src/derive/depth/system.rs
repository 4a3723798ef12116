//! The dependence system a depth is computed on: the variables involved,
//! the boxes of values each computes, and the uniform dependences between
//! them. Positions are relative to the start of each index's range, so a
//! system only knows range lengths; building one from a model is the job
//! of `depth`, reasoning about it the job of the sibling modules.

/// A length that is affine in the dims: `base + sum(slopes[d] * y[d])`
/// where `y[d]` is dim `d` minus one, so every `y[d]` ranges over the
/// naturals. Lengths with nonnegative integer coefficients in this form are
/// exactly the ones that never shrink as a dim grows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affine {
    /// The value when every dim is 1.
    pub base: i64,
    /// The growth per unit of each dim of [`System::dims`].
    pub slopes: Vec<i64>,
}

impl Affine {
    /// The value at `y` (each dim minus one), if it fits.
    pub fn at(&self, y: &[i64]) -> Option<i64> {
        self.slopes
            .iter()
            .zip(y)
            .try_fold(self.base, |acc, (s, v)| acc.checked_add(s.checked_mul(*v)?))
    }

    /// The constant `c` with the given number of slopes.
    pub fn constant(c: i64, n: usize) -> Affine {
        Affine {
            base: c,
            slopes: vec![0; n],
        }
    }

    /// `self + k * other`, if it fits.
    pub fn plus_times(&self, k: i64, other: &Affine) -> Option<Affine> {
        Some(Affine {
            base: self.base.checked_add(k.checked_mul(other.base)?)?,
            slopes: self
                .slopes
                .iter()
                .zip(&other.slopes)
                .map(|(a, b)| a.checked_add(k.checked_mul(*b)?))
                .collect::<Option<Vec<i64>>>()?,
        })
    }
}

/// `to`'s equation uses `from` at `to`'s own position plus `offset`: the
/// value `from[P + offset]` must be computed before `to[P]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    /// The variable used (a position in [`System::vars`]).
    pub from: usize,
    /// The variable whose equation uses it.
    pub to: usize,
    /// One offset per coordinate.
    pub offset: Vec<i64>,
    /// The reference as written in `to`'s equation: `h[t-1]`.
    pub text: String,
}

/// The values to compute and how they depend on each other.
#[derive(Debug, Clone)]
pub struct System {
    /// Each variable as the language writes it at its own indices: `h[t]`.
    pub vars: Vec<String>,
    /// The variable whose depth is asked for.
    pub target: usize,
    /// The coordinates: index names, in the target's order.
    pub coords: Vec<String>,
    /// The first value of each coordinate's range: the number when it is a
    /// constant, and its text (for showing positions as the script numbers
    /// them).
    pub first: Vec<(Option<i64>, String)>,
    /// Each coordinate's range length minus one.
    pub extents: Vec<Affine>,
    /// `start[v][k]`: how many values at the start of coordinate `k` are
    /// given rather than computed for variable `v`.
    pub start: Vec<Vec<i64>>,
    /// `trim[v][k]`: the same at the end of the range.
    pub trim: Vec<Vec<i64>>,
    /// The dependences.
    pub deps: Vec<Dep>,
    /// Each variable's equation, for pointing diagnostics at it.
    pub spans: Vec<crate::diag::Span>,
    /// The dims the extents grow with, by number.
    pub dims: Vec<u32>,
    /// Their names.
    pub dim_names: Vec<String>,
    /// Whether a path may end at any value, not only at the target's: set
    /// on the reversed system ([`System::reversed`]), whose paths end
    /// where the original's start.
    pub ends_anywhere: bool,
}

impl System {
    /// The extents at `y` (each dim of [`System::dims`] minus one).
    pub fn extents_at(&self, y: &[i64]) -> Option<Vec<i64>> {
        self.extents.iter().map(|e| e.at(y)).collect()
    }

    /// Whether variable `v` computes the value at relative position `p`
    /// when the extents are `e`.
    pub fn computes(&self, v: usize, p: &[i64], e: &[i64]) -> bool {
        p.iter()
            .zip(e)
            .enumerate()
            .all(|(k, (&x, &ek))| x >= self.start[v][k] && x <= ek - self.trim[v][k])
    }

    /// Whether variable `v` computes no value at all at extents `e`.
    pub fn empty(&self, v: usize, e: &[i64]) -> bool {
        e.iter()
            .enumerate()
            .any(|(k, &ek)| self.start[v][k] > ek - self.trim[v][k])
    }

    /// A relative position as the script numbers it: `h[3, 1]`.
    pub fn show(&self, v: usize, p: &[i64]) -> String {
        let name = self.vars[v].split('[').next().unwrap_or("?");
        if p.is_empty() {
            return name.to_owned();
        }
        let at: Vec<String> = p
            .iter()
            .zip(&self.first)
            .map(|(x, f)| match f {
                (Some(lo), _) => (x + lo).to_string(),
                (None, text) if *x == 0 => text.clone(),
                (None, text) => format!("{text}+{x}"),
            })
            .collect();
        format!("{name}[{}]", at.join(", "))
    }

    /// The dims at `y`, as the script names them: `A = 2, B = 1`.
    pub fn show_dims(&self, y: &[i64]) -> String {
        self.dim_names
            .iter()
            .zip(y)
            .map(|(n, v)| format!("{n} = {}", v + 1))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl System {
    /// The same values with every dependence reversed: a path of this
    /// system, read backwards, is a path of the original, as long.
    pub fn reversed(&self) -> System {
        System {
            deps: self
                .deps
                .iter()
                .map(|d| Dep {
                    from: d.to,
                    to: d.from,
                    offset: d.offset.iter().map(|o| -o).collect(),
                    text: d.text.clone(),
                })
                .collect(),
            ends_anywhere: true,
            ..self.clone()
        }
    }

    /// The system of the variables `keep` only (in that order), with the
    /// dependences among them and `target` (a position in `keep`) as its
    /// target. Every path of the smaller system is one of this system.
    pub fn restrict(&self, keep: &[usize], target: usize) -> System {
        let at = |v: usize| keep.iter().position(|&k| k == v);
        System {
            vars: keep.iter().map(|&v| self.vars[v].clone()).collect(),
            target,
            coords: self.coords.clone(),
            first: self.first.clone(),
            extents: self.extents.clone(),
            start: keep.iter().map(|&v| self.start[v].clone()).collect(),
            trim: keep.iter().map(|&v| self.trim[v].clone()).collect(),
            deps: self
                .deps
                .iter()
                .filter_map(|d| {
                    Some(Dep {
                        from: at(d.from)?,
                        to: at(d.to)?,
                        ..d.clone()
                    })
                })
                .collect(),
            spans: keep.iter().map(|&v| self.spans[v]).collect(),
            dims: self.dims.clone(),
            dim_names: self.dim_names.clone(),
            ends_anywhere: self.ends_anywhere,
        }
    }
}
