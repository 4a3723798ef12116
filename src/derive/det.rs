//! `derive det(J)`: the determinant of a derived Jacobian, simplified by
//! the determinant rules with the dimensions symbolic (`beta^D`). Where a
//! step assumed a scalar nonzero and the result still divides by
//! something, the answer states the condition.

use super::simplify::rewrite;
use crate::egraph::ShapeTable;
use crate::ir::build::ExprBuilder;
use crate::ir::Node;
use crate::key::{Condition, Note, RunStats};
use crate::model::Model;
use crate::rules;
use crate::Limits;
use egg::RecExpr;
use std::rc::Rc;

/// The simplified determinant of `matrix`, the notes it needs, and the
/// statistics of its run.
pub fn determinant(
    model: &Model,
    shapes: &Rc<ShapeTable>,
    matrix: &RecExpr<Node>,
    window: &super::window::Window,
    limits: &Limits,
) -> (RecExpr<Node>, Vec<Note>, Vec<RunStats>) {
    let mut b = ExprBuilder::new();
    let m = b.copy_all(matrix);
    let root = b.add(Node::Det(m));
    let expr = b.finish(root);
    let done = rewrite(
        shapes,
        Some(&super::scope::Scope {
            model,
            window,
            assuming: &[],
            zero: &Default::default(),
            name: true,
            also: &[],
        }),
        &expr,
        rules::linear_algebra(),
        limits,
        "determinant",
    );
    let mut notes = Vec::new();
    if divides(&done.expr) && !done.nonzero.is_empty() {
        notes.push(Note::HoldsWhere(
            done.nonzero
                .iter()
                .cloned()
                .map(Condition::Nonzero)
                .collect(),
        ));
    }
    if done.limited {
        notes.push(Note::Limited);
    }
    if done.expr.as_ref().iter().any(|n| matches!(n, Node::Det(_))) {
        notes.push(Note::DeterminantLeft);
    }
    (done.expr, notes, vec![done.stats])
}

/// Whether an expression divides by something (a quotient, an inverse or
/// a negative power), so that a nonzero condition matters.
pub fn divides(e: &RecExpr<Node>) -> bool {
    e.as_ref().iter().any(|n| match n {
        Node::Div(_) | Node::Inv(_) => true,
        Node::Pow([_, p]) => e[*p].as_num().is_some_and(|r| r.is_negative()),
        _ => false,
    })
}
