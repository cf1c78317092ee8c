//! `--workflow NAME|FILE` and `--request`/`--request-file`: a workflow template and a
//! request become a plan (`dagent_adapters::templates`).

use std::path::Path;

use dagent_adapters::LoadedPlan;
use dagent_adapters::templates::{BUILTIN_TEMPLATES, builtin_template, instantiate};

use crate::diag::Failure;

/// The request: the text given, or the file's contents (read as untrusted input, capped).
pub(crate) fn request(
    text: Option<&str>,
    file: Option<&Path>,
    max_bytes: u64,
) -> Result<String, Failure> {
    let request = match (text, file) {
        (Some(t), _) => t.to_owned(),
        (None, Some(path)) => dagent_adapters::read_input(path, max_bytes)?,
        (None, None) => {
            return Err(Failure::bad_input(
                "error: no request: give it as text or with --request-file",
            ));
        }
    };
    if request.trim().is_empty() {
        return Err(Failure::bad_input("error: the request is empty"));
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
    Ok(instantiate(&text, workflow, request, &origin)?)
}
