//! Block elimination for determinants of block matrices whose blocks are
//! square and of one size.
//!
//! Where every other block of a block column is a scalar multiple of one
//! block `M` (the pivot, in row `p` and column `j`), subtracting those
//! multiples of the pivot's row from the other rows clears the column but
//! for the pivot. Such row operations keep the determinant. The
//! determinant is then `(-1)^((p + j) * n) * det(M) * det(R)`, where `R` is
//! what is left without the pivot's row and column (a block triangular
//! matrix once the pivot's row and column are moved first, which takes
//! `(p + j) * n * n` exchanges of rows or columns, and `(-1)^(n * n) =
//! (-1)^n`). A pivot `c * I(n)` has `det(M) = c^n` and clears any scalar
//! multiple `d * I(n)` (`d / c` times its row); any other pivot clears
//! blocks equal to it or to its negation. The same holds with rows and
//! columns exchanged (column operations), since the multiples are scalars.
//!
//! Momentum with RMSProp, `[A, -mu * I, P; B, mu * I, -P; C, 0, rho *
//! I]` with `A + B = I`: the pivot `mu * I` adds the second row to the
//! first, which becomes `[I, 0, 0]`, and the determinant is `mu^n * rho^n`.
//!
//! Blocks are recognised by their normal forms ([`block_form`]), so a new
//! block that is zero once its terms cancel is written `0`.

use crate::ir::build::ExprBuilder;
use crate::ir::normal::{block_form, BlockForm};
use crate::ir::Node;
use crate::model::Model;
use crate::poly::Poly;
use egg::{Id, RecExpr};

/// A block of the grid: its expression and its form.
#[derive(Clone)]
struct Cell {
    expr: RecExpr<Node>,
    form: Option<BlockForm>,
}

/// The result of eliminating: the factors taken out (signs and pivots'
/// determinants) times the determinant of what is left, and the pivots.
pub struct Eliminated {
    pub expr: RecExpr<Node>,
    /// The scalars of the pivots that are scalar multiples of the
    /// identity, where they are not numbers (the other blocks of their
    /// columns were cleared with multiples divided by them).
    pub pivots: Vec<RecExpr<Node>>,
    /// Every pivot block, in the order taken.
    pub all_pivots: Vec<RecExpr<Node>>,
    /// The rule that took the determinant of the last two block rows,
    /// two of whose blocks commute, where one did: in words and in LaTeX.
    pub commuting: Option<(&'static str, &'static str)>,
}

/// `det(matrix)` by block elimination (see the module documentation), as
/// far as pivots are found; `None` where no column (or row) has one.
pub fn eliminated(matrix: &RecExpr<Node>, model: &Model) -> Option<Eliminated> {
    let (mut grid, size) = grid(matrix, model)?;
    // The sign's parity, the scalar pivots (with how often each was taken,
    // in the order first taken), and the other pivots' determinants.
    let mut odd = false;
    let mut scalars: Vec<(RecExpr<Node>, i64)> = Vec::new();
    let mut dets: Vec<RecExpr<Node>> = Vec::new();
    let mut pivots = Vec::new();
    let mut all_pivots = Vec::new();
    let mut steps = 0;
    // The commuting rule's result where the loop stopped for it.
    let mut last = None;
    while grid.len() > 1 {
        // Row operations or column operations, whichever pivot ranks
        // better (row operations on a tie).
        let by_rows = step(&grid, &size, model, false);
        let by_cols = step(&transposed(&grid), &size, model, true)
            .map(|(rank, r, flip, c)| (rank, transposed(&r), flip, c));
        let chosen = match (by_rows, by_cols) {
            (Some(r), Some(c)) => Some(if c.0 < r.0 { c } else { r }),
            (r, c) => r.or(c),
        };
        let Some((rank, rest, flip, c)) = chosen else {
            break;
        };
        // Of two block rows, a pivot that clears with a matrix multiple
        // divides by it; where two blocks commute, one determinant of a
        // product does not.
        if grid.len() == 2 && rank.0 > 0 {
            if let Some(found) = commuted(&grid, model) {
                last = Some(found);
                break;
            }
        }
        steps += 1;
        odd ^= flip;
        match &c.form {
            // `det(c * I(n)) = c^n`; `-1` only flips the sign, `1` nothing.
            Some(BlockForm::ScaledIdentity(k)) => match number(k) {
                Some(r) if r.is_one() => {}
                Some(r) if r.neg().is_one() => odd ^= true,
                _ => {
                    if !matches!(k.as_ref(), [Node::Num(_)]) {
                        pivots.push(k.clone());
                    }
                    match scalars.iter_mut().find(|(x, _)| x == k) {
                        Some((_, m)) => *m += 1,
                        None => scalars.push((k.clone(), 1)),
                    }
                }
            },
            _ => dets.push(c.expr.clone()),
        }
        all_pivots.push(c.expr);
        grid = rest;
    }
    // Two block rows left, two of whose blocks commute: one determinant
    // of a product (see [`commuted`]).
    let mut commuting = None;
    if grid.len() == 2 {
        if let Some((inner, rule)) = last.or_else(|| commuted(&grid, model)) {
            grid = vec![vec![Cell {
                expr: inner,
                form: None,
            }]];
            commuting = Some(rule);
            steps += 1;
        }
    }
    if steps == 0 {
        return None;
    }
    let mut b = ExprBuilder::new();
    // A block row or column of zeros: the determinant is zero.
    let zero_line = grid.iter().any(|row| row.iter().all(Cell::is_zero))
        || (0..grid.len()).any(|j| grid.iter().all(|row| row[j].is_zero()));
    if zero_line {
        let zero = b.int(0);
        return Some(Eliminated {
            expr: b.finish(zero),
            pivots,
            all_pivots,
            commuting,
        });
    }
    let rest = if grid.len() == 1 {
        // `det(M / s) = s^(-n) * det(M)` and `det(s * M) = s^n * det(M)`
        // for a scalar `s`, which may meet a pivot's power.
        let last = &grid[0][0].expr;
        match scaled(last, model) {
            Some((m, s, power)) => {
                match scalars.iter_mut().find(|(x, _)| *x == s) {
                    Some((_, k)) => *k += power,
                    None => scalars.push((s, power)),
                }
                b.copy_all(&m)
            }
            None => b.copy_all(last),
        }
    } else {
        let rows: Vec<Id> = grid
            .iter()
            .map(|row| {
                let cells: Vec<Id> = row.iter().map(|c| b.copy_all(&c.expr)).collect();
                b.add(Node::Row(cells.into()))
            })
            .collect();
        b.add(Node::Block(rows.into()))
    };
    let mut factors: Vec<Id> = Vec::new();
    if odd {
        let minus = b.int(-1);
        let n = b.poly(&size);
        factors.push(b.add(Node::Pow([minus, n])));
    }
    for (k, m) in &scalars {
        if *m == 0 {
            continue;
        }
        let n = size.mul(&Poly::int(*m))?;
        let n = b.poly(&n);
        let s = b.copy_all(k);
        factors.push(b.add(Node::Pow([s, n])));
    }
    for m in &dets {
        let m = b.copy_all(m);
        factors.push(b.add(Node::Det(m)));
    }
    let mut acc = b.add(Node::Det(rest));
    for &f in factors.iter().rev() {
        acc = b.add(Node::Mul([f, acc]));
    }
    Some(Eliminated {
        expr: b.finish(acc),
        pivots,
        all_pivots,
        commuting,
    })
}

impl Cell {
    fn is_zero(&self) -> bool {
        matches!(self.form, Some(BlockForm::Zero))
    }
}

/// The blocks of `matrix` as a square grid, each with its form, and the
/// blocks' size; `None` unless every block is square of one size (at
/// least two rows of blocks). A block whose shape is not known takes it
/// from the others of its row and column; a block written `0` is zero of
/// that shape.
fn grid(matrix: &RecExpr<Node>, model: &Model) -> Option<(Vec<Vec<Cell>>, Poly)> {
    let Node::Block(rows) = &matrix[crate::ir::root(matrix)] else {
        return None;
    };
    let shapes = crate::ir::prec::shapes(matrix, model);
    let n = rows.len();
    if n < 2 {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    // The rows of each block row and the columns of each block column,
    // from the blocks whose shapes are known.
    let mut row_size: Vec<Option<Poly>> = vec![None; n];
    let mut col_size: Vec<Option<Poly>> = vec![None; n];
    for (r, &row) in rows.iter().enumerate() {
        let Node::Row(cells) = &matrix[row] else {
            return None;
        };
        if cells.len() != n {
            return None;
        }
        let mut line = Vec::with_capacity(n);
        for (c, &cell) in cells.iter().enumerate() {
            let expr = crate::ir::build::subtree(matrix, cell);
            let form = block_form(&expr, model);
            let zero = matches!(form, Some(BlockForm::Zero));
            if let Some(Some(shape)) = shapes.get(usize::from(cell)) {
                if !(zero && shape.is_scalar()) {
                    for (slot, size) in [
                        (&mut row_size[r], &shape.rows),
                        (&mut col_size[c], &shape.cols),
                    ] {
                        match slot {
                            Some(s) if s != size => return None,
                            Some(_) => {}
                            None => *slot = Some(size.clone()),
                        }
                    }
                }
            }
            line.push(Cell { expr, form });
        }
        out.push(line);
    }
    let size = row_size.first()?.clone()?;
    let all = row_size
        .iter()
        .chain(&col_size)
        .all(|s| s.as_ref() == Some(&size));
    (all && !size.is_one()).then_some((out, size))
}

/// The grid with rows and columns exchanged (each block as it is).
fn transposed(grid: &[Vec<Cell>]) -> Vec<Vec<Cell>> {
    (0..grid.len())
        .map(|j| grid.iter().map(|row| row[j].clone()).collect())
        .collect()
}

/// How a block of a pivot's column is cleared by the pivot's row.
enum Ratio {
    /// Zero: nothing to clear.
    Zero,
    /// The pivot itself.
    Same,
    /// The pivot negated.
    Negated,
    /// `d * I` for the pivot `c * I`: `d / c` times it.
    Scaled(RecExpr<Node>, RecExpr<Node>),
    /// Any block `X` for the pivot `c * I`: `X / c` times it, a matrix
    /// multiple (on the left of the pivot's row for row operations, on
    /// the right of its column for column operations).
    Over(RecExpr<Node>, RecExpr<Node>),
}

impl Ratio {
    /// Whether clearing with it multiplies blocks by a matrix.
    fn is_matrix(&self) -> bool {
        matches!(self, Ratio::Over(..))
    }
}

/// How the block `x` is cleared by the pivot `pivot`, if it can be.
fn ratio(x: &Cell, pivot: &Cell, model: &Model) -> Option<Ratio> {
    use crate::ir::normal::same;
    match (&x.form, &pivot.form) {
        (Some(BlockForm::Zero), _) => Some(Ratio::Zero),
        (Some(BlockForm::ScaledIdentity(d)), Some(BlockForm::ScaledIdentity(c))) => {
            Some(Ratio::Scaled(d.clone(), c.clone()))
        }
        _ if same(&x.expr, &pivot.expr, model) => Some(Ratio::Same),
        (_, pivot_form) => {
            let mut b = ExprBuilder::new();
            let y = b.copy_all(&pivot.expr);
            let minus = b.add(Node::Neg(y));
            if same(&x.expr, &b.finish(minus), model) {
                return Some(Ratio::Negated);
            }
            match pivot_form {
                Some(BlockForm::ScaledIdentity(c)) => Some(Ratio::Over(x.expr.clone(), c.clone())),
                _ => None,
            }
        }
    }
}

/// How a pivot ranks: the fewest products of blocks its clearing makes,
/// then the fewest other blocks to clear, then a scalar multiple of the
/// identity, then one whose scalar is a number (nothing is divided by a
/// symbol), then on the diagonal, then the first.
type Rank = (usize, usize, bool, bool, bool, usize, usize);

/// One elimination by row operations (column operations where `columns`,
/// on the transposed grid): the pivot's rank, the grid without the
/// pivot's row and column, whether the sign is `(-1)^n`, and the pivot.
fn step(
    grid: &[Vec<Cell>],
    size: &Poly,
    model: &Model,
    columns: bool,
) -> Option<(Rank, Vec<Vec<Cell>>, bool, Cell)> {
    let n = grid.len();
    let mut best: Option<(Rank, usize, usize, Vec<Ratio>)> = None;
    for j in 0..n {
        for (p, row) in grid.iter().enumerate() {
            let pivot = &row[j];
            let (scaled, symbolic) = match &pivot.form {
                Some(BlockForm::Zero) => continue,
                Some(BlockForm::ScaledIdentity(c)) if is_zero_number(c) => continue,
                Some(BlockForm::ScaledIdentity(c)) => (true, number(c).is_none()),
                Some(BlockForm::Diagonal) | None => (false, false),
            };
            let others = (0..n)
                .filter(|&r| r != p && !matches!(grid[r][j].form, Some(BlockForm::Zero)))
                .count();
            let filled = (0..n)
                .filter(|&k| k != j && !matches!(row[k].form, Some(BlockForm::Zero)))
                .count();
            // Zero products is a lower bound, before the ratios.
            if best
                .as_ref()
                .is_some_and(|b| b.0 <= (0, others, !scaled, symbolic, p != j, j, p))
            {
                continue;
            }
            let ratios: Option<Vec<Ratio>> = (0..n)
                .map(|r| {
                    if r == p {
                        Some(Ratio::Zero)
                    } else {
                        ratio(&grid[r][j], pivot, model)
                    }
                })
                .collect();
            let Some(ratios) = ratios else {
                continue;
            };
            let products = ratios.iter().filter(|r| r.is_matrix()).count() * filled;
            let rank = (products, others, !scaled, symbolic, p != j, j, p);
            if best.as_ref().is_none_or(|b| rank < b.0) {
                best = Some((rank, p, j, ratios));
            }
        }
    }
    let (rank, p, j, ratios) = best?;
    let mut rest = Vec::with_capacity(n - 1);
    for (r, row) in grid.iter().enumerate() {
        if r == p {
            continue;
        }
        let mut new_row = Vec::with_capacity(n - 1);
        for (k, cell) in row.iter().enumerate() {
            if k == j {
                continue;
            }
            let cell = match (&ratios[r], &grid[p][k].form) {
                (Ratio::Zero, _) | (_, Some(BlockForm::Zero)) => cell.clone(),
                (ratio, _) => subtracted(cell, ratio, &grid[p][k].expr, size, model, columns),
            };
            new_row.push(cell);
        }
        rest.push(new_row);
    }
    Some((rank, rest, (p + j) % 2 == 1, grid[p][j].clone()))
}

/// `x` minus the multiple `ratio` of `y` (a matrix multiple on the left,
/// or on the right for column operations), written in its simplest form,
/// with its form.
fn subtracted(
    x: &Cell,
    ratio: &Ratio,
    y: &RecExpr<Node>,
    size: &Poly,
    model: &Model,
    columns: bool,
) -> Cell {
    let mut b = ExprBuilder::new();
    let xi = b.copy_all(&x.expr);
    let yi = b.copy_all(y);
    let diff = match ratio {
        Ratio::Zero => xi,
        Ratio::Same => b.add(Node::Sub([xi, yi])),
        Ratio::Negated => b.add(Node::Add([xi, yi])),
        Ratio::Scaled(d, c) => {
            let di = b.copy_all(d);
            let ci = b.copy_all(c);
            let k = b.add(Node::Div([di, ci]));
            let scaled = b.add(Node::Mul([k, yi]));
            b.add(Node::Sub([xi, scaled]))
        }
        Ratio::Over(m, c) => {
            let mi = b.copy_all(m);
            let ci = b.copy_all(c);
            let one = b.int(1);
            let k = b.add(Node::Div([one, ci]));
            let product = if columns {
                b.add(Node::Mul([yi, mi]))
            } else {
                b.add(Node::Mul([mi, yi]))
            };
            let scaled = b.add(Node::Mul([k, product]));
            b.add(Node::Sub([xi, scaled]))
        }
    };
    written(b.finish(diff), size, model)
}

/// A new block in its simplest form, with its form: zero as `0`, a scalar
/// times the identity as `s * I(n)`, anything else collected where that
/// is smaller.
fn written(expr: RecExpr<Node>, size: &Poly, model: &Model) -> Cell {
    let form = block_form(&expr, model);
    let written = match &form {
        Some(BlockForm::Zero) => {
            let mut z = RecExpr::default();
            z.add(Node::Num(crate::num::Rational::zero()));
            Some(z)
        }
        Some(BlockForm::ScaledIdentity(s)) => scaled_identity(s, size),
        Some(BlockForm::Diagonal) | None => None,
    };
    let expr = written.unwrap_or_else(|| {
        crate::ir::normal::collected(&expr, model)
            .filter(|c| crate::ir::size(c) < crate::ir::size(&expr))
            .unwrap_or(expr)
    });
    Cell { expr, form }
}

/// A rule in words and in LaTeX.
type Rule = (&'static str, &'static str);

/// The rules of [`commuted`], in words and in LaTeX.
const COMMUTING: [Rule; 4] = [
    (
        "det([A, B; C, D]) = det(D * A - B * C) where B and D commute",
        r"$\det\begin{bmatrix} A & B \\ C & D \end{bmatrix} = \det(DA - BC)$ where $B$ and $D$ commute",
    ),
    (
        "det([A, B; C, D]) = det(A * D - B * C) where C and D commute",
        r"$\det\begin{bmatrix} A & B \\ C & D \end{bmatrix} = \det(AD - BC)$ where $C$ and $D$ commute",
    ),
    (
        "det([A, B; C, D]) = det(A * D - C * B) where A and C commute",
        r"$\det\begin{bmatrix} A & B \\ C & D \end{bmatrix} = \det(AD - CB)$ where $A$ and $C$ commute",
    ),
    (
        "det([A, B; C, D]) = det(D * A - C * B) where A and B commute",
        r"$\det\begin{bmatrix} A & B \\ C & D \end{bmatrix} = \det(DA - CB)$ where $A$ and $B$ commute",
    ),
];

/// The determinant of `[A, B; C, D]` where two of its blocks commute, as
/// the determinant of one matrix (Silvester, "Determinants of block
/// matrices", 2000): `det(D * A - B * C)` where `B` and `D` commute,
/// `det(A * D - B * C)` where `C` and `D` do, `det(A * D - C * B)` where
/// `A` and `C` do, `det(D * A - C * B)` where `A` and `B` do. For `D`
/// invertible, `det(M) = det(D) * det(A - B * inv(D) * C)`, which is
/// `det(D * A - D * B * inv(D) * C)`, and that is `det(D * A - B * C)`
/// where `B * D = D * B`; the others alike; and the identities are polynomial, so they hold
/// where `D` is singular too. Blocks commute where one is zero or a
/// scalar times the identity, or both are diagonal. The smallest of the
/// forms that apply, with the rule that gave it.
fn commuted(grid: &[Vec<Cell>], model: &Model) -> Option<(RecExpr<Node>, Rule)> {
    let [a, bb, c, d] = [&grid[0][0], &grid[0][1], &grid[1][0], &grid[1][1]];
    let commute = |x: &Cell, y: &Cell| {
        let plain = |f: &Option<BlockForm>| {
            matches!(f, Some(BlockForm::Zero | BlockForm::ScaledIdentity(_)))
        };
        plain(&x.form)
            || plain(&y.form)
            || matches!(
                (&x.form, &y.form),
                (Some(BlockForm::Diagonal), Some(BlockForm::Diagonal))
            )
    };
    // (the pair that commutes, the first product, the second product, the
    // rule's words)
    let candidates: [(bool, [&Cell; 2], [&Cell; 2], Rule); 4] = [
        (commute(bb, d), [d, a], [bb, c], COMMUTING[0]),
        (commute(c, d), [a, d], [bb, c], COMMUTING[1]),
        (commute(a, c), [a, d], [c, bb], COMMUTING[2]),
        (commute(a, bb), [d, a], [c, bb], COMMUTING[3]),
    ];
    let mut best: Option<(RecExpr<Node>, Rule)> = None;
    for (applies, [x1, x2], [y1, y2], rule) in candidates {
        if !applies {
            continue;
        }
        let mut b = ExprBuilder::new();
        let product = |b: &mut ExprBuilder, u: &Cell, v: &Cell| {
            let ui = b.copy_all(&u.expr);
            let vi = b.copy_all(&v.expr);
            b.add(Node::Mul([ui, vi]))
        };
        let first = product(&mut b, x1, x2);
        let second = product(&mut b, y1, y2);
        let diff = b.add(Node::Sub([first, second]));
        let expr = b.finish(diff);
        let expr = crate::ir::normal::collected(&expr, model)
            .filter(|c| crate::ir::size(c) < crate::ir::size(&expr))
            .unwrap_or(expr);
        if best
            .as_ref()
            .is_none_or(|(e, _)| crate::ir::size(&expr) < crate::ir::size(e))
        {
            best = Some((expr, rule));
        }
    }
    best
}

/// A matrix written as `M / s` or `s * M` (as it is, or collected) for a
/// scalar `s` that is not a number: `M`, `s` and its power (`-1` or `1`).
fn scaled(e: &RecExpr<Node>, model: &Model) -> Option<(RecExpr<Node>, RecExpr<Node>, i64)> {
    let split = |x: &RecExpr<Node>| {
        let shapes = crate::ir::prec::shapes(x, model);
        let scalar = |id: Id| {
            shapes
                .get(usize::from(id))
                .and_then(Option::as_ref)
                .is_some_and(|s| s.is_scalar())
                && !matches!(x[id], Node::Num(_))
        };
        let sub = |id: Id| crate::ir::build::subtree(x, id);
        match &x[crate::ir::root(x)] {
            Node::Div([m, s]) if scalar(*s) && !scalar(*m) => Some((sub(*m), sub(*s), -1)),
            Node::Mul([s, m]) if scalar(*s) && !scalar(*m) => Some((sub(*m), sub(*s), 1)),
            _ => None,
        }
    };
    split(e).or_else(|| split(&crate::ir::normal::collected(e, model)?))
}

/// `s * I(n)` (`I(n)` where `s` is one), where `n` is a dim or a number.
fn scaled_identity(s: &RecExpr<Node>, n: &Poly) -> Option<RecExpr<Node>> {
    let mut b = ExprBuilder::new();
    let eye = b.eye(n)?;
    let root = match s.as_ref() {
        [Node::Num(r)] if r.is_one() => eye,
        _ => {
            let c = b.copy_all(s);
            b.add(Node::Mul([c, eye]))
        }
    };
    Some(b.finish(root))
}

/// The number `e` is, written as one or negated.
fn number(e: &RecExpr<Node>) -> Option<crate::num::Rational> {
    match e.as_ref() {
        [Node::Num(r)] => Some(r.clone()),
        [Node::Num(r), Node::Neg(_)] => Some(r.neg()),
        _ => None,
    }
}

/// Whether `e` is the number zero.
fn is_zero_number(e: &RecExpr<Node>) -> bool {
    matches!(e.as_ref(), [Node::Num(r)] if r.is_zero())
}
