//! Reading the checked model into a dependence system: the variables a
//! depth involves, the box of values each computes, and the offsets of the
//! references between them. Everything the method does not cover is refused
//! here, with the reason; nothing here reasons about paths.

use super::system::{Affine, Dep, System};
use super::{refuse, Refusal};
use crate::diag::Span;
use crate::ir::{Ix, Leaf, Node, Ref};
use crate::model::{Model, VarKind};
use crate::poly::Poly;
use egg::{Id, Language, RecExpr};
use std::collections::BTreeMap;

/// A range's length minus one as `(value when every dim is 1, growth per
/// dim)`, when it is affine in the dims and never shrinks as one grows.
fn extent(lo: &Poly, hi: &Poly) -> Option<(i64, BTreeMap<u32, i64>)> {
    // With dim = 1 + y the length may not shrink as a dim grows.
    let shifted = hi.sub(lo)?.shift_dims()?;
    let mut base = 0;
    let mut growth = BTreeMap::new();
    for (m, c) in &shifted.0 {
        let c = c.to_i64().filter(|&c| c >= 0)?;
        match m.0.as_slice() {
            [] => base = c,
            [(d, 1)] => {
                growth.insert(*d, c);
            }
            _ => return None,
        }
    }
    Some((base, growth))
}

/// The references to defined variables in an expression, each with the
/// indices summed over around it.
fn references(expr: &RecExpr<Node>) -> Vec<(Ref, Vec<u32>)> {
    let mut out = Vec::new();
    if expr.as_ref().is_empty() {
        return out;
    }
    let mut stack: Vec<(Id, Vec<u32>)> = vec![(crate::ir::root(expr), Vec::new())];
    while let Some((id, bound)) = stack.pop() {
        match &expr[id] {
            Node::Leaf(Leaf::Var(r)) => out.push((r.clone(), bound)),
            Node::Sum([t, body]) => {
                let mut inner = bound.clone();
                if let Node::Leaf(Leaf::Index(i)) = &expr[*t] {
                    inner.push(*i);
                }
                stack.push((*body, inner));
            }
            n => stack.extend(n.children().iter().map(|&c| (c, bound.clone()))),
        }
    }
    out.reverse();
    out
}

/// Reads the values `target` needs into a dependence system.
pub(super) fn build(model: &Model, target: u32) -> Result<System, Refusal> {
    let s = &model.symbols;
    let text = |v: u32| s.ref_text(&model.plain_ref(v));
    let decl = &model.vars[target as usize];
    let coords: Vec<u32> = decl.indices.clone();
    let mut extents = Vec::new();
    let mut first = Vec::new();
    for &i in &coords {
        let name = s.index_name(i);
        let Some((lo, hi)) = &model.indices[i as usize].range else {
            return Err(refuse(
                format!("`depth` needs the range of index `{name}`"),
                &format!("`{name}` has no declared range"),
                format!("declare it, such as `index {name} in 1..N`: the depth counts steps over every value of the range"),
            ));
        };
        let names = |d: u32| s.dim(d).to_owned();
        let length = || {
            hi.sub(lo)
                .and_then(|x| x.add(&Poly::int(1)))
                .map_or_else(String::new, |p| p.display(&names).to_string())
        };
        let Some(e) = extent(lo, hi) else {
            return Err(refuse(
                format!("`depth` cannot use the range of `{name}`, of length `{}`", length()),
                "range not supported",
                "a depth is derived over ranges whose length is at least 1 for every size and grows linearly with the dims, such as `1..T`, `0..T-1` or `1..2*G`",
            ));
        };
        extents.push(e);
        first.push((
            lo.as_constant().and_then(|c| c.to_i64()),
            lo.display(&names).to_string(),
        ));
    }
    // The dims the lengths grow with.
    let mut dims: Vec<u32> = extents
        .iter()
        .flat_map(|(_, g)| g.keys().copied())
        .collect();
    dims.sort_unstable();
    dims.dedup();
    let extents: Vec<Affine> = extents
        .iter()
        .map(|(base, growth)| Affine {
            base: *base,
            slopes: dims
                .iter()
                .map(|d| growth.get(d).copied().unwrap_or(0))
                .collect(),
        })
        .collect();
    let mut b = Builder {
        model,
        coords,
        extents,
        first,
        vars: Vec::new(),
        start: Vec::new(),
        deps: Vec::new(),
    };
    b.add(target)?;
    let mut next = 0;
    while next < b.vars.len() {
        b.deps_of(next)?;
        next += 1;
    }
    let n = b.vars.len();
    Ok(System {
        vars: b.vars.iter().map(|&v| text(v)).collect(),
        target: 0,
        coords: b
            .coords
            .iter()
            .map(|&i| s.index_name(i).to_owned())
            .collect(),
        first: b.first,
        extents: b.extents,
        start: b.start,
        trim: vec![vec![0; b.coords.len()]; n],
        deps: b.deps,
        spans: b
            .vars
            .iter()
            .map(|&v| model.equation_of(v).map_or(Span::default(), |e| e.span))
            .collect(),
        dim_names: dims.iter().map(|&d| s.dim(d).to_owned()).collect(),
        dims,
        ends_anywhere: false,
    })
}

/// The largest index offset or fixed index value a depth follows; larger
/// ones would only overflow the arithmetic on positions.
const MAX_OFFSET: i64 = 1_000_000;

fn too_far(what: &str) -> Refusal {
    refuse(
        format!("`depth` does not follow {what}: an index offset or value past {MAX_OFFSET}"),
        "not answered",
        "a depth is derived for offsets and fixed index values of moderate size",
    )
}

struct Builder<'m> {
    model: &'m Model,
    coords: Vec<u32>,
    extents: Vec<Affine>,
    first: Vec<(Option<i64>, String)>,
    vars: Vec<u32>,
    start: Vec<Vec<i64>>,
    deps: Vec<Dep>,
}

impl Builder<'_> {
    fn name(&self, v: u32) -> String {
        self.model.symbols.ref_text(&self.model.plain_ref(v))
    }

    fn coord(&self, index: u32) -> usize {
        self.coords.iter().position(|&i| i == index).unwrap_or(0)
    }

    /// A fixed index value relative to the start of coordinate `k`'s
    /// range, when the range starts at a constant.
    fn relative(&self, k: usize, value: i64, what: &str) -> Result<i64, Refusal> {
        let (lo, text) = &self.first[k];
        if value.abs() > MAX_OFFSET {
            return Err(too_far(what));
        }
        lo.and_then(|lo| value.checked_sub(lo)).ok_or_else(|| {
            let index = self.model.symbols.index_name(self.coords[k]);
            refuse(
                format!("`depth` cannot place {what} in the range of `{index}`, which starts at `{text}`"),
                "not answered",
                format!("a fixed index value is placed against a range that starts at a number, such as `index {index} in 1..N`"),
            )
        })
    }

    /// Adds a variable the target needs: its position in the system.
    fn add(&mut self, v: u32) -> Result<usize, Refusal> {
        if let Some(k) = self.vars.iter().position(|&w| w == v) {
            return Ok(k);
        }
        let model = self.model;
        let decl = &model.vars[v as usize];
        let mut own = decl.indices.clone();
        let mut ours = self.coords.clone();
        own.sort_unstable();
        ours.sort_unstable();
        if own != ours {
            let target = self.name(self.vars.first().copied().unwrap_or(v));
            return Err(refuse(
                format!("`depth` follows variables over the same indices, but `{target}` needs `{}`", self.name(v)),
                "not answered",
                "a depth is derived when every variable it involves runs over the same indices as the one asked about",
            ));
        }
        let Some(eq) = model.equation_of(v) else {
            return Err(refuse(
                "an input has no depth",
                "not answered",
                "ask for the depth of a defined variable",
            ));
        };
        // An equation `v[t+d] = ...` starts at t = first, so the first d
        // values of v are given (as the numeric evaluator does).
        let mut start = vec![0i64; self.coords.len()];
        for ix in eq.lhs.at.iter() {
            if let Ix::Rel(i, d) = *ix {
                if d.abs() > MAX_OFFSET {
                    return Err(too_far(&format!(
                        "the left side of the equation of `{}`",
                        self.name(v)
                    )));
                }
                let k = self.coord(i);
                start[k] = start[k].max(d);
            }
        }
        self.apply_inits(v, &mut start)?;
        self.vars.push(v);
        self.start.push(start);
        Ok(self.vars.len() - 1)
    }

    /// Boundary values `init v[...]` at the start of a range are given
    /// like the ones before it; one elsewhere inside a range would cut the
    /// box of computed values, which this method does not follow.
    fn apply_inits(&self, v: u32, start: &mut [i64]) -> Result<(), Refusal> {
        let model = self.model;
        let decl = &model.vars[v as usize];
        let inits: Vec<_> = model.inits.iter().filter(|i| i.target.var == v).collect();
        let inside = loop {
            let mut changed = false;
            let mut inside = None;
            // A value set past the end of a range (`init b[T+1] = 0`) is
            // given; it never holds up the start of a range.
            for init in inits
                .iter()
                .filter(|i| !i.target.at.iter().any(|ix| matches!(ix, Ix::End(..))))
            {
                let mut fixed = Vec::new();
                for (pos, ix) in init.target.at.iter().enumerate() {
                    if let Ix::Abs(a) = *ix {
                        let k = self.coord(decl.indices[pos]);
                        fixed.push((k, self.relative(k, a, "a boundary value set by `init`")?));
                    }
                }
                let outside = fixed
                    .iter()
                    .any(|&(k, r)| self.never_computed(k, r, start[k], 0));
                match fixed.as_slice() {
                    _ if outside => {}
                    [(k, r)] if *r == start[*k] => {
                        start[*k] += 1;
                        changed = true;
                    }
                    _ => inside = Some(init),
                }
            }
            if !changed {
                break inside;
            }
        };
        if let Some(init) = inside {
            let what = model.symbols.ref_text(&init.target);
            return Err(refuse(
                format!("`depth` cannot follow `{}` past `init {what}`, a boundary value inside the ranges", self.name(v)),
                "not answered",
                "a depth is derived when boundary values lie before the ranges or at their start, such as `init h[0]` for `index t in 1..T`",
            )
            .at(init.span, "sets a value after computed ones"));
        }
        Ok(())
    }

    /// Whether relative position `r` along coordinate `k` is never a
    /// computed value of a variable whose box there is `[start, E - trim]`.
    fn never_computed(&self, k: usize, r: i64, start: i64, trim: i64) -> bool {
        let e = &self.extents[k];
        let fixed = e.slopes.iter().all(|&s| s == 0);
        r < start || (fixed && r > e.base - trim)
    }

    /// The dependences of the equation of system variable `k`.
    fn deps_of(&mut self, to: usize) -> Result<(), Refusal> {
        let model = self.model;
        let v = self.vars[to];
        let Some(eq) = model.equation_of(v) else {
            return Ok(());
        };
        for (r, summed) in references(&eq.norm) {
            if model.vars[r.var as usize].kind == VarKind::Input {
                continue;
            }
            let written = model.symbols.ref_text(&r);
            if r.at
                .iter()
                .any(|ix| matches!(ix, Ix::Rel(i, _) if summed.contains(i)))
            {
                return Err(refuse(
                    format!("`depth` does not follow `{written}` inside a `sum` in the equation of `{}`", self.name(v)),
                    "not answered",
                    "a depth is derived when each value uses others at fixed offsets of its own indices",
                ));
            }
            let from = self.add(r.var)?;
            let mut offset = vec![0i64; self.coords.len()];
            let mut given = false;
            let decl = &model.vars[r.var as usize];
            for (pos, ix) in r.at.iter().enumerate() {
                let k = self.coord(decl.indices[pos]);
                match *ix {
                    Ix::Rel(_, o) if o.abs() > MAX_OFFSET => {
                        return Err(too_far(&format!("`{written}`")))
                    }
                    Ix::Rel(_, o) => offset[k] = o,
                    Ix::End(..) => {
                        return Err(refuse(
                            format!("`{}` uses `{written}`, a value at the end of a range", self.name(v)),
                            "not answered",
                            "a depth is derived when each value uses others at fixed offsets of its own indices",
                        ))
                    }
                    Ix::Abs(a) => {
                        let rel = self.relative(k, a, &format!("`{written}`"))?;
                        if self.never_computed(k, rel, self.start[from][k], 0) {
                            given = true;
                        } else {
                            return Err(refuse(
                                format!("`{}` uses `{written}`, a computed value at a fixed index", self.name(v)),
                                "not answered",
                                "a depth is derived when fixed indices name boundary values only, such as `h[0]` before a range `1..T`",
                            ));
                        }
                    }
                }
            }
            if given || !self.realizable(from, to, &offset) {
                continue;
            }
            if !self
                .deps
                .iter()
                .any(|d| d.from == from && d.to == to && d.offset == offset)
            {
                self.deps.push(Dep {
                    from,
                    to,
                    offset,
                    text: written,
                });
            }
        }
        Ok(())
    }

    /// Whether a dependence can join two computed values at some size:
    /// along a range of fixed length, an offset past its end never does.
    fn realizable(&self, from: usize, to: usize, offset: &[i64]) -> bool {
        offset.iter().enumerate().all(|(k, &o)| {
            let e = &self.extents[k];
            if e.slopes.iter().any(|&s| s > 0) {
                return true;
            }
            let lo = self.start[to][k].max(self.start[from][k] - o);
            let hi = e.base.min(e.base - o);
            lo <= hi
        })
    }
}
