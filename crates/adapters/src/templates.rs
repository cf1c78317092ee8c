//! Workflow templates: plans with `{request}` placeholders that turn a request into a plan.
//!
//! A template is a native TOML plan whose strings (the plan title, task titles and
//! descriptions) may say `{request}`; [`instantiate`] parses it (errors point at the
//! template's `line:column`), replaces every `{request}` with the request, and writes the
//! result out again as a native TOML plan, so that what runs (and what the run store keeps,
//! and what `dagent plan --workflow` writes for editing) is an ordinary plan.
//!
//! Three are built in, embedded in the binary from `crates/adapters/templates/`:
//! `standard` (clarify → architect → code → three reviews in parallel), `full` (… → review,
//! security audit and tests in parallel → optimisation and documentation) and `review`
//! (four parallel reviews of the given code). Their tasks name output files (code, tests,
//! docs, review results) that `dagent run --out-dir` writes.

use dagent_core::Plan;

use crate::{LoadedPlan, PlanError, PlanErrorKind, PlanFormat, parse_plan, write_plan};

/// The placeholder a template's strings may use.
pub const PLACEHOLDER: &str = "{request}";

/// A built-in workflow template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltinTemplate {
    /// Its name (`--workflow NAME`).
    pub name: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// The template: a native TOML plan.
    pub text: &'static str,
}

/// The built-in templates.
pub const BUILTIN_TEMPLATES: &[BuiltinTemplate] = &[
    BuiltinTemplate {
        name: "standard",
        summary: "clarify → architect → code → three reviews in parallel",
        text: include_str!("../templates/standard.toml"),
    },
    BuiltinTemplate {
        name: "full",
        summary: "clarify → architect → code → review, security and tests in parallel → optimise and document",
        text: include_str!("../templates/full.toml"),
    },
    BuiltinTemplate {
        name: "review",
        summary: "four parallel reviews of the given code: correctness, security, performance, style",
        text: include_str!("../templates/review.toml"),
    },
];

/// The built-in template of a name.
#[must_use]
pub fn builtin_template(name: &str) -> Option<&'static BuiltinTemplate> {
    BUILTIN_TEMPLATES.iter().find(|t| t.name == name)
}

fn fill(s: &mut String, request: &str, used: &mut bool) {
    if s.contains(PLACEHOLDER) {
        *used = true;
        *s = s.replace(PLACEHOLDER, request);
    }
}

/// The plan a template makes for a request, as a native TOML plan named `origin`.
///
/// # Errors
/// The template's own errors (syntax, schema, empty) located in `template_origin`; and a
/// template that says `{request}` nowhere, since the request would be silently dropped.
pub fn instantiate(
    template: &str,
    template_origin: &str,
    request: &str,
    origin: &str,
) -> Result<LoadedPlan, PlanError> {
    let parsed = parse_plan(template.to_owned(), PlanFormat::Toml, template_origin)?;
    let mut plan: Plan = parsed.plan;
    let mut used = false;
    if let Some(t) = &mut plan.title {
        fill(t, request, &mut used);
    }
    for t in &mut plan.tasks {
        fill(&mut t.title, request, &mut used);
        fill(&mut t.description, request, &mut used);
    }
    if !used {
        return Err(PlanError::new(
            PlanErrorKind::Schema,
            template_origin,
            "the template says {request} nowhere: put it in a task's description (or title) so the request reaches the tasks",
        ));
    }
    parse_plan(
        write_plan(&plan, PlanFormat::Toml),
        PlanFormat::Toml,
        origin,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_fills_its_placeholders_and_declares_every_dependency() {
        for t in BUILTIN_TEMPLATES {
            let p = instantiate(t.text, t.name, "a \"quoted\"\nrequest", "x").expect(t.name);
            assert!(!p.source.contains(PLACEHOLDER), "{}", t.name);
            assert!(p.plan.tasks.iter().all(|t| t.depends_on.is_some()));
            assert!(
                p.plan
                    .tasks
                    .iter()
                    .any(|t| t.description.contains("a \"quoted\"\nrequest"))
            );
        }
    }

    #[test]
    fn a_template_without_the_placeholder_is_refused() {
        let e = instantiate("[[tasks]]\nid = \"a\"\n", "t.toml", "r", "x").unwrap_err();
        assert!(e.render().contains("{request} nowhere"), "{}", e.render());
    }
}
