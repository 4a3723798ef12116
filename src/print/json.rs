//! JSON for other tools, in the shape LANGUAGE.md fixes. Fields are only
//! ever added, never renamed or removed.

use super::{lhs_latex, lhs_plain, model_lines, rhs_latex, rhs_plain};
use crate::key::{AnswerKey, Derived, Verdict};
use crate::model::RequestKind;
use serde_json::{json, Value};

fn equation(d: &Derived, key: &AnswerKey) -> Value {
    let s = &key.model.symbols;
    let (l, r) = (lhs_plain(&d.lhs, s), rhs_plain(&d.rhs, s));
    let latex = format!("{} = {}", lhs_latex(&d.lhs, s), rhs_latex(&d.rhs, s));
    match &d.rhs {
        // The size of a derived form: the nodes of its right side as a
        // tree (names, numbers, operators), the measure of simplest forms.
        crate::key::Rhs::Expr(e) => {
            json!({ "lhs": l, "rhs": r, "latex": latex, "size": crate::ir::size(e) })
        }
        _ => json!({ "lhs": l, "rhs": r, "latex": latex }),
    }
}

/// Renders the key as pretty-printed JSON with a trailing newline.
pub fn render(key: &AnswerKey) -> String {
    let m = &key.model;
    let model: Vec<Value> = model_lines(m)
        .into_iter()
        .map(|l| Value::String(l.plain))
        .collect();
    let mut results = Vec::new();
    let mut expects = Vec::new();
    for a in &key.answers {
        let Some(req) = m.requests.get(a.request) else {
            continue;
        };
        // A result without equations: what stands in their place, under
        // which field, and how a claim was (not) decided.
        let missing = match (&a.failed, &a.refused) {
            (Some(f), _) => Some((
                "internal_error",
                json!({ "what": f.what, "why": f.why, "text": super::failure_text(f) }),
                "internal error",
                "internal_error",
            )),
            (None, Some(r)) => Some((
                "not_answered",
                json!({ "message": r.message, "hint": r.hint }),
                "not checked",
                "not_checked",
            )),
            (None, None) => None,
        };
        if let Some((field, why, how, outcome)) = missing {
            let mut entry = json!({
                "request": req.text,
                "line": req.line,
                "equations": [],
                "notes": [],
            });
            entry[field] = why.clone();
            results.push(entry);
            if let RequestKind::Expect { .. } = req.kind {
                let mut e = json!({
                    "line": req.line,
                    "holds": false,
                    "outcome": outcome,
                    "how": how,
                    "claim": req.text,
                });
                e[field] = why;
                expects.push(e);
            }
            continue;
        }
        let equations: Vec<Value> = a
            .equations
            .iter()
            .enumerate()
            .map(|(k, d)| {
                let mut e = equation(d, key);
                // Worked steps, where asked for.
                if let Some(st) = a.steps.get(k).filter(|st| !st.is_empty()) {
                    e["steps"] = super::steps::json(st, &m.symbols);
                }
                e
            })
            .collect();
        let mut entry = json!({
            "request": req.text,
            "line": req.line,
            "equations": equations,
            "notes": a.notes.iter().map(|n| super::notes::text(&key.model.symbols, n)).collect::<Vec<_>>(),
            "note_details": a.notes.iter().map(|n| super::notes::json(&key.model.symbols, n)).collect::<Vec<_>>(),
        });
        if let RequestKind::Expect { .. } = req.kind {
            let (outcome, how, detail) = match &a.verdict {
                Some(Verdict::Proven) => ("proven", "proof", Value::Null),
                Some(Verdict::Refuted {
                    derived,
                    counterexample,
                }) => (
                    "refuted",
                    "refuted",
                    json!({
                        "derived": derived.iter().map(|d| equation(d, key)).collect::<Vec<_>>(),
                        "counterexample": counterexample,
                    }),
                ),
                Some(Verdict::NotProven { derived, evidence }) => (
                    "not_proven",
                    "numeric",
                    json!({
                        "derived": derived.iter().map(|d| equation(d, key)).collect::<Vec<_>>(),
                        "evidence": evidence,
                    }),
                ),
                None => continue,
            };
            // `holds` is true for a proven claim only: a claim not proven
            // is not known to hold (`outcome` says which of the three).
            let holds = outcome == "proven";
            let mut e = json!({ "line": req.line, "holds": holds, "outcome": outcome, "how": how, "claim": req.text });
            if !detail.is_null() {
                e["detail"] = detail;
            }
            expects.push(e.clone());
            entry["verdict"] = e;
        }
        results.push(entry);
    }
    let mut doc = json!({
        "script": key.script,
        "model": model,
        "results": results,
        "expects": expects,
    });
    let conventions: Vec<String> = super::conventions(m)
        .into_iter()
        .map(|c| c.plain(m))
        .collect();
    if !conventions.is_empty() {
        doc["conventions"] = json!(conventions);
    }
    let notes = super::given_notes(m);
    if !notes.is_empty() {
        doc["model_notes"] = json!(notes);
    }
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}
