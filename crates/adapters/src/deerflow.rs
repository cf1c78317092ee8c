//! DeerFlow plan JSON: `{locale, has_enough_context, thought, title, steps: [...]}`.
//!
//! Steps get ids `step-1`, `step-2`, … in order. `step_type` becomes the task kind and
//! suggests a role (research → researcher, processing → coder, analysis → analyst). An
//! existing `dependencies` list (ids like `"step-2"`, or 1-based step numbers) is read as
//! explicit dependencies. An optional `estimate` per step is a dagent extension.

use dagent_core::{Plan, Task, TaskId, TaskKind};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::native::{Ctx, RawEstimate, json_error, json_string};
use crate::source::SourceMap;
use crate::{PlanError, PlanErrorKind};

#[derive(Deserialize)]
struct DfPlan<'a> {
    title: Option<String>,
    #[serde(borrow)]
    steps: Vec<DfStep<'a>>,
}

#[derive(Deserialize)]
struct DfStep<'a> {
    /// Decoded after parsing; its span locates errors about the step (steps have no id).
    #[serde(borrow)]
    title: &'a RawValue,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    step_type: Option<String>,
    #[serde(default)]
    dependencies: Option<Vec<DfDep>>,
    #[serde(default)]
    estimate: Option<RawEstimate>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DfDep {
    Id(String),
    Number(u64),
}

/// The id DeerFlow step `n` (0-based) gets.
#[must_use]
pub(crate) fn step_id(n: usize) -> String {
    format!("step-{}", n + 1)
}

pub(crate) fn parse(text: &str, origin: &str) -> Result<(Plan, SourceMap), PlanError> {
    let raw: DfPlan = serde_json::from_str(text).map_err(|e| json_error(&e, origin, text))?;
    let ctx = Ctx { text, origin };
    let mut tasks = Vec::with_capacity(raw.steps.len());
    let mut ids = Vec::with_capacity(raw.steps.len());
    for (n, step) in raw.steps.into_iter().enumerate() {
        let (title, title_span) = json_string(step.title, &ctx)?;
        let kind = step
            .step_type
            .as_deref()
            .map(TaskKind::parse)
            .unwrap_or_default();
        let role = match kind {
            TaskKind::Research => Some("researcher"),
            TaskKind::Processing => Some("coder"),
            TaskKind::Analysis => Some("analyst"),
            _ => None,
        };
        let depends_on = step.dependencies.map(|deps| {
            deps.into_iter()
                .map(|d| match d {
                    DfDep::Id(s) => TaskId::new(s),
                    DfDep::Number(k) => TaskId::new(format!("step-{k}")),
                })
                .collect()
        });
        if title.trim().is_empty() && step.description.as_deref().unwrap_or("").trim().is_empty() {
            return Err(PlanError::new(
                PlanErrorKind::Schema,
                origin,
                format!("step {} has neither a title nor a description", n + 1),
            )
            .with_span(text, title_span));
        }
        ids.push(title_span);
        tasks.push(Task {
            id: TaskId::new(step_id(n)),
            title,
            description: step.description.unwrap_or_default(),
            kind,
            role: role.map(str::to_owned),
            estimate: step.estimate.map(|e| e.0),
            depends_on,
            ..Task::default()
        });
    }
    let mut spans = SourceMap {
        ids,
        deps: Vec::new(),
        loops: Vec::new(),
    };
    spans.deps.resize(tasks.len(), Vec::new());
    Ok((
        Plan {
            title: raw.title,
            tasks,
            loops: Vec::new(),
        },
        spans,
    ))
}
