//! Writing a plan back with its dependencies filled in, preserving everything else.

use dagent_core::DependencyMap;
use serde_json::Value;

use crate::{LoadedPlan, PlanError, PlanErrorKind, PlanFormat};

/// The plan's original text with each task's direct dependencies added: `depends_on` for
/// the native formats, `dependencies` (ids `step-N`) for DeerFlow. Comments, key order and
/// unknown fields are preserved; existing dependency fields are replaced.
///
/// # Errors
/// If the map does not cover the plan, or the original text no longer parses.
pub fn annotate(loaded: &LoadedPlan, deps: &DependencyMap) -> Result<String, PlanError> {
    write_back(loaded, deps, &[])
}

/// Like [`annotate`], and also records each task's result when `results` has one:
/// `execution_res` for DeerFlow steps, `result` for native tasks.
///
/// # Errors
/// As [`annotate`].
pub fn write_back(
    loaded: &LoadedPlan,
    deps: &DependencyMap,
    results: &[Option<String>],
) -> Result<String, PlanError> {
    if deps.len() != loaded.plan.tasks.len() {
        return Err(PlanError::new(
            PlanErrorKind::Schema,
            &loaded.origin,
            format!(
                "dependency map covers {} tasks, the plan has {}",
                deps.len(),
                loaded.plan.tasks.len()
            ),
        ));
    }
    let ids_of = |i: usize| -> Vec<String> {
        deps.deps_of(i)
            .iter()
            .map(|&d| loaded.plan.tasks[d].id.to_string())
            .collect()
    };
    let result_of = |i: usize| results.get(i).cloned().flatten();
    match loaded.format {
        PlanFormat::Toml => annotate_toml(loaded, ids_of, result_of),
        PlanFormat::Json => {
            annotate_json(loaded, ("tasks", "depends_on", "result"), ids_of, result_of)
        }
        PlanFormat::DeerFlow => annotate_json(
            loaded,
            ("steps", "dependencies", "execution_res"),
            ids_of,
            result_of,
        ),
    }
}

fn reparse_error(loaded: &LoadedPlan, e: impl std::fmt::Display) -> PlanError {
    PlanError::new(
        PlanErrorKind::Syntax,
        &loaded.origin,
        format!("cannot re-read the plan to annotate it: {e}"),
    )
}

fn annotate_toml(
    loaded: &LoadedPlan,
    ids_of: impl Fn(usize) -> Vec<String>,
    result_of: impl Fn(usize) -> Option<String>,
) -> Result<String, PlanError> {
    let mut doc: toml_edit::DocumentMut = loaded
        .source
        .parse()
        .map_err(|e| reparse_error(loaded, e))?;
    let tasks = doc
        .get_mut("tasks")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .ok_or_else(|| reparse_error(loaded, "no [[tasks]] array"))?;
    for (i, table) in tasks.iter_mut().enumerate() {
        let arr: toml_edit::Array = ids_of(i).into_iter().collect();
        table.insert("depends_on", toml_edit::value(arr));
        if let Some(r) = result_of(i) {
            table.insert("result", toml_edit::value(r));
        }
    }
    Ok(doc.to_string())
}

fn annotate_json(
    loaded: &LoadedPlan,
    (list_key, deps_key, result_key): (&str, &str, &str),
    ids_of: impl Fn(usize) -> Vec<String>,
    result_of: impl Fn(usize) -> Option<String>,
) -> Result<String, PlanError> {
    let mut doc: Value =
        serde_json::from_str(&loaded.source).map_err(|e| reparse_error(loaded, e))?;
    let items = doc
        .get_mut(list_key)
        .and_then(Value::as_array_mut)
        .ok_or_else(|| reparse_error(loaded, format!("no {list_key:?} array")))?;
    for (i, item) in items.iter_mut().enumerate() {
        if let Value::Object(map) = item {
            let ids = ids_of(i).into_iter().map(Value::String).collect();
            map.insert(deps_key.to_owned(), Value::Array(ids));
            if let Some(r) = result_of(i) {
                map.insert(result_key.to_owned(), Value::String(r));
            }
        }
    }
    let mut out = serde_json::to_string_pretty(&doc).map_err(|e| reparse_error(loaded, e))?;
    out.push('\n');
    Ok(out)
}
