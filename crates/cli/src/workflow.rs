//! `--workflow NAME|FILE` and `--request`/`--request-file`: a workflow template and a
//! request become a plan (`dagent_adapters::templates`).

use std::path::Path;

use dagent_adapters::templates::{BUILTIN_TEMPLATES, builtin_template, instantiate};
use dagent_adapters::{LoadedPlan, PlanFormat};
use dagent_analyzers::{LoopSet, TaskGraph, validate_plan};

use crate::diag::{Failure, graph_error};

/// The largest request: it is copied into every `{request}` of a template (seven times in
/// the built-in ones), so it gets its own cap, well under the plan's.
pub(crate) const MAX_REQUEST_BYTES: u64 = 1 << 20;

/// The request: the text given, or the file's contents (read as untrusted input, capped).
pub(crate) fn request(
    text: Option<&str>,
    file: Option<&Path>,
    max_bytes: u64,
) -> Result<String, Failure> {
    let request = match (text, file) {
        (Some(t), _) => t.to_owned(),
        (None, Some(path)) => dagent_adapters::read_input(path, max_bytes.min(MAX_REQUEST_BYTES))?,
        (None, None) => {
            return Err(Failure::bad_input(
                "error: no request: give it as text or with --request-file",
            ));
        }
    };
    if request.trim().is_empty() {
        return Err(Failure::bad_input("error: the request is empty"));
    }
    if request.len() as u64 > MAX_REQUEST_BYTES {
        return Err(Failure::bad_input(format!(
            "error: the request is {} bytes; at most {MAX_REQUEST_BYTES} (1 MiB) is accepted, since a workflow copies it into every step",
            request.len()
        )));
    }
    Ok(request)
}

/// The plan the workflow makes for the request. `workflow` is a built-in name, else a path
/// to a template file.
pub(crate) fn plan(workflow: &str, request: &str, max_bytes: u64) -> Result<LoadedPlan, Failure> {
    let origin = format!("workflow {workflow}");
    if let Some(t) = builtin_template(workflow) {
        return Ok(instantiate(t.text, &origin, request, &origin)?);
    }
    let path = Path::new(workflow);
    if !path.exists() {
        let names: Vec<&str> = BUILTIN_TEMPLATES.iter().map(|t| t.name).collect();
        return Err(Failure::bad_input(format!(
            "error: unknown workflow \"{workflow}\": expected {}, or the path of a template file (a TOML plan whose strings say {{request}})",
            names.join(", ")
        )));
    }
    let text = dagent_adapters::read_input(path, max_bytes)?;
    check_template(&text, workflow)?;
    Ok(instantiate(&text, workflow, request, &origin)?)
}

/// The plan of `dagent run --workflow WORKFLOW` with its `--request` or `--request-file`.
pub(crate) fn run_plan(
    workflow: &str,
    args: &crate::args::RunArgs,
    max_bytes: u64,
) -> Result<LoadedPlan, Failure> {
    let request = request(
        args.request.as_deref(),
        args.request_file.as_deref(),
        max_bytes,
    )?;
    plan(workflow, &request, max_bytes)
}

/// Checks a template file as it is written, so errors point into it: its format, the
/// declared dependencies (known ids, no cycle) and, when every task declares its
/// dependencies, its loops.
fn check_template(text: &str, name: &str) -> Result<(), Failure> {
    let loaded = dagent_adapters::parse_plan(text.to_owned(), PlanFormat::Toml, name)?;
    let plan = &loaded.plan;
    let graph = validate_plan(plan)
        .and_then(|index| index.explicit_map(plan))
        .and_then(|map| TaskGraph::new(plan, map))
        .map_err(|e| Failure::from(graph_error(&loaded, &e)))?;
    if plan.tasks.iter().all(|t| t.depends_on.is_some()) {
        LoopSet::new(plan, &graph).map_err(|e| Failure::from(graph_error(&loaded, &e)))?;
    }
    Ok(())
}
