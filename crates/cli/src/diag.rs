//! Turning errors into messages and exit statuses.

use std::process::ExitCode;

use dagent_adapters::{LoadedPlan, PlanError, PlanErrorKind};
use dagent_analyzers::{GraphError, GraphErrorKind};
use dagent_core::display::escape_lines;

/// Exit status for bad input (plans, configuration, flags).
pub(crate) const BAD_INPUT: u8 = 2;

/// A command that could not do its job: a message for stderr and an exit status.
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    pub(crate) fn bad_input(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: BAD_INPUT,
        }
    }

    /// A command that ran but could not produce its result (exit status 1), e.g. a model
    /// that wrote no valid plan.
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }

    /// The message printed on stderr.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// Prints the message to stderr, control characters escaped (it may quote plan text,
    /// paths or a server's words), and gives the exit status.
    pub(crate) fn report(&self) -> ExitCode {
        eprintln!("{}", escape_lines(&self.message));
        ExitCode::from(self.code)
    }
}

impl From<PlanError> for Failure {
    fn from(e: PlanError) -> Self {
        Self::bad_input(e.render())
    }
}

/// Locates a graph error in the plan's text.
pub(crate) fn graph_error(loaded: &LoadedPlan, e: &GraphError) -> PlanError {
    let kind = match e.kind() {
        GraphErrorKind::Empty => PlanErrorKind::Empty,
        GraphErrorKind::EmptyId { .. } => PlanErrorKind::EmptyId,
        GraphErrorKind::DuplicateId { .. } => PlanErrorKind::DuplicateId,
        GraphErrorKind::UnknownDependency { .. } => PlanErrorKind::UnknownDependency,
        GraphErrorKind::SelfDependency { .. } => PlanErrorKind::SelfDependency,
        GraphErrorKind::Loop { .. } => PlanErrorKind::Loop,
        _ => PlanErrorKind::Cycle,
    };
    let mut message = e.message().to_owned();
    if let GraphErrorKind::DuplicateId { first, .. } = e.kind()
        && let Some(span) = loaded.spans.task_span(*first)
    {
        let first_err =
            PlanError::new(kind, &loaded.origin, "").with_span(&loaded.source, Some(span));
        if let Some(loc) = first_err.location() {
            message.push_str(&format!(
                " (first used at line {}, column {})",
                loc.line, loc.column
            ));
        }
    }
    if let GraphErrorKind::Loop { index } = e.kind() {
        return PlanError::new(kind, &loaded.origin, message)
            .with_span(&loaded.source, loaded.spans.loop_span(*index));
    }
    match e.primary_task() {
        Some((task, entry)) => loaded.error_at_task(kind, task, entry, message),
        None => PlanError::new(kind, &loaded.origin, message),
    }
}

/// Writes `text` to a path, or stdout for "-".
pub(crate) fn write_output(path: &std::path::Path, text: &str) -> Result<(), Failure> {
    if path.as_os_str() == "-" {
        print!("{text}");
        return Ok(());
    }
    std::fs::write(path, text)
        .map_err(|e| Failure::bad_input(format!("error: {}: cannot write: {e}", path.display())))
}
