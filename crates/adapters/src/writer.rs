//! Writing a [`Plan`] made in memory (by a planner or a workflow template) as text in any
//! format dagent reads: native TOML or JSON, or DeerFlow plan JSON.
//!
//! What is written reads back to the same plan (`parse_plan(write_plan(p, f), f) == p`, up
//! to DeerFlow's fixed `step-N` ids and its role-from-kind rule); a test checks it.

use dagent_core::{LoopSpec, Plan, Task};
use serde_json::{Map, Value, json};

use crate::PlanFormat;

/// An estimate's duration as the plan formats write it: `"45s"`, or `"1500ms"` when it is not
/// a whole number of seconds.
fn duration_text(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 && d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The plan as text in `format`. Native formats keep every field and the loops; DeerFlow
/// keeps titles, descriptions, kinds (`step_type`), estimates and dependencies (as `step-N`,
/// in the order the tasks are written) — it has no loops, so callers refuse to write a plan
/// with loops as DeerFlow.
#[must_use]
pub fn write_plan(plan: &Plan, format: PlanFormat) -> String {
    match format {
        PlanFormat::Toml => toml_text(plan),
        PlanFormat::Json => {
            let tasks: Vec<Value> = plan.tasks.iter().map(task_json).collect();
            let mut doc = Map::new();
            if let Some(t) = &plan.title {
                doc.insert("title".into(), Value::String(t.clone()));
            }
            doc.insert("tasks".into(), Value::Array(tasks));
            if !plan.loops.is_empty() {
                doc.insert(
                    "loops".into(),
                    Value::Array(plan.loops.iter().map(loop_json).collect()),
                );
            }
            pretty(&Value::Object(doc))
        }
        PlanFormat::DeerFlow => deerflow_text(plan),
    }
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

fn task_json(t: &Task) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(t.id.to_string()));
    m.insert("title".into(), Value::String(t.title.clone()));
    if !t.description.is_empty() {
        m.insert("description".into(), Value::String(t.description.clone()));
    }
    if !t.kind.as_str().is_empty() {
        m.insert("kind".into(), Value::String(t.kind.as_str().to_owned()));
    }
    if let Some(r) = &t.role {
        m.insert("role".into(), Value::String(r.clone()));
    }
    if let Some(e) = t.estimate {
        let d = Value::String(duration_text(e.duration));
        m.insert(
            "estimate".into(),
            match e.tokens {
                Some(tokens) => json!({ "duration": d, "tokens": tokens }),
                None => d,
            },
        );
    }
    if let Some(model) = &t.model {
        m.insert("model".into(), Value::String(model.clone()));
    }
    if let Some(f) = &t.output_file {
        m.insert("output_file".into(), Value::String(f.clone()));
    }
    if let Some(x) = t.extract {
        m.insert("extract".into(), Value::String(x.as_str().to_owned()));
    }
    if let Some(deps) = &t.depends_on {
        m.insert(
            "depends_on".into(),
            Value::Array(deps.iter().map(|d| Value::String(d.to_string())).collect()),
        );
    }
    Value::Object(m)
}

fn loop_json(l: &LoopSpec) -> Value {
    let ids = |ids: &[dagent_core::TaskId]| {
        Value::Array(ids.iter().map(|t| Value::String(t.to_string())).collect())
    };
    let mut m = Map::new();
    m.insert("id".into(), Value::String(l.id.clone()));
    m.insert("tasks".into(), ids(&l.tasks));
    m.insert("repeat_until".into(), Value::String(l.repeat_until.clone()));
    if let Some(j) = &l.judges {
        m.insert("judges".into(), ids(j));
    }
    m.insert("max_iterations".into(), Value::from(l.max_iterations));
    Value::Object(m)
}

fn toml_text(plan: &Plan) -> String {
    use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, value};
    let mut doc = DocumentMut::new();
    if let Some(t) = &plan.title {
        doc["title"] = value(t.as_str());
    }
    let mut tasks = ArrayOfTables::new();
    for t in &plan.tasks {
        let mut table = Table::new();
        table["id"] = value(t.id.as_str());
        table["title"] = value(t.title.as_str());
        if !t.description.is_empty() {
            table["description"] = value(t.description.as_str());
        }
        if !t.kind.as_str().is_empty() {
            table["kind"] = value(t.kind.as_str());
        }
        if let Some(r) = &t.role {
            table["role"] = value(r.as_str());
        }
        if let Some(e) = t.estimate {
            let d = duration_text(e.duration);
            table["estimate"] = match e.tokens {
                Some(tokens) => {
                    let mut it = InlineTable::new();
                    it.insert("duration", d.into());
                    it.insert("tokens", i64::try_from(tokens).unwrap_or(i64::MAX).into());
                    value(it)
                }
                None => value(d),
            };
        }
        if let Some(model) = &t.model {
            table["model"] = value(model.as_str());
        }
        if let Some(f) = &t.output_file {
            table["output_file"] = value(f.as_str());
        }
        if let Some(x) = t.extract {
            table["extract"] = value(x.as_str());
        }
        if let Some(deps) = &t.depends_on {
            let arr: Array = deps.iter().map(|d| d.as_str()).collect();
            table["depends_on"] = value(arr);
        }
        tasks.push(table);
    }
    doc.insert("tasks", Item::ArrayOfTables(tasks));
    if !plan.loops.is_empty() {
        let mut loops = ArrayOfTables::new();
        for l in &plan.loops {
            let mut table = Table::new();
            table["id"] = value(l.id.as_str());
            table["tasks"] = value(l.tasks.iter().map(|t| t.as_str()).collect::<Array>());
            table["repeat_until"] = value(l.repeat_until.as_str());
            if let Some(j) = &l.judges {
                table["judges"] = value(j.iter().map(|t| t.as_str()).collect::<Array>());
            }
            table["max_iterations"] = value(i64::from(l.max_iterations));
            loops.push(table);
        }
        doc.insert("loops", Item::ArrayOfTables(loops));
    }
    doc.to_string()
}

fn deerflow_text(plan: &Plan) -> String {
    let index = |id: &dagent_core::TaskId| plan.tasks.iter().position(|t| &t.id == id);
    let steps: Vec<Value> = plan
        .tasks
        .iter()
        .map(|t| {
            let mut m = Map::new();
            m.insert(
                "need_search".into(),
                Value::Bool(t.kind == dagent_core::TaskKind::Research),
            );
            m.insert("title".into(), Value::String(t.title.clone()));
            m.insert("description".into(), Value::String(t.description.clone()));
            let step_type = match t.kind.as_str() {
                "research" | "analysis" | "processing" => t.kind.as_str(),
                _ => "processing",
            };
            m.insert("step_type".into(), Value::String(step_type.to_owned()));
            if let Some(e) = t.estimate {
                m.insert("estimate".into(), Value::String(duration_text(e.duration)));
            }
            if let Some(deps) = &t.depends_on {
                let ids = deps
                    .iter()
                    .filter_map(index)
                    .map(|i| Value::String(crate::deerflow::step_id(i)))
                    .collect();
                m.insert("dependencies".into(), Value::Array(ids));
            }
            m.insert("execution_res".into(), Value::Null);
            Value::Object(m)
        })
        .collect();
    pretty(&json!({
        "locale": "en-US",
        "has_enough_context": false,
        "thought": "",
        "title": plan.title.clone().unwrap_or_default(),
        "steps": steps,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_plan;
    use dagent_core::{Estimate, Extract, TaskKind};
    use std::time::Duration;

    fn sample() -> Plan {
        let mut a = Task::new("clarify", "Clarify \"the\" request")
            .with_kind(TaskKind::Analysis)
            .with_description("Line one\nline two")
            .with_estimate(Duration::from_millis(1500));
        a.role = Some("clarifier".into());
        let mut b = Task::new("code", "Write the code").with_deps(["clarify"]);
        b.estimate = Some(Estimate {
            duration: Duration::from_secs(60),
            tokens: Some(3000),
        });
        b.output_file = Some("src/main.py".into());
        b.extract = Some(Extract::Code);
        b.kind = TaskKind::Other("coding".into());
        let mut p = Plan::new(vec![a, b]);
        p.title = Some("A plan".into());
        p.loops.push(
            dagent_core::LoopSpec::new("fix", ["clarify", "code"], "APPROVE")
                .with_judges(["code"])
                .with_max_iterations(2),
        );
        p
    }

    #[test]
    fn native_formats_read_back_to_the_same_plan() {
        for format in [PlanFormat::Toml, PlanFormat::Json] {
            let text = write_plan(&sample(), format);
            let back = parse_plan(text.clone(), format, "x").expect(&text);
            assert_eq!(back.plan, sample(), "{text}");
        }
    }

    #[test]
    fn deerflow_keeps_steps_and_dependencies() {
        let text = write_plan(&sample(), PlanFormat::DeerFlow);
        let back = parse_plan(text.clone(), PlanFormat::DeerFlow, "x").expect(&text);
        assert_eq!(back.plan.tasks.len(), 2);
        assert_eq!(
            back.plan.tasks[1].depends_on.as_deref(),
            Some(&["step-1".into()][..])
        );
        assert_eq!(back.plan.tasks[0].title, "Clarify \"the\" request");
    }
}
