//! # dagent-adapters
//!
//! Plan formats in and out of dagent: the native format in TOML or JSON, and DeerFlow plan
//! JSON as DeerFlow writes it. Loading returns a [`LoadedPlan`]: the domain [`Plan`] plus
//! what is needed to report problems at a `line:column` of the original file
//! ([`SourceMap`]) and to write the plan back with dependencies added while preserving
//! everything else (comments and formatting in TOML, every unknown field in JSON).
//!
//! Input is untrusted: only regular files are read, at most [`DEFAULT_MAX_BYTES`] unless
//! [`LoadOptions::max_bytes`] says otherwise ([`read_input`] does the same for any other input
//! file, such as a configuration), and every error is bounded in size and safe to print.
//!
//! The design choice to know: parsing is strict for the native format (unknown fields are
//! errors, since a typo like `depend_on` would otherwise silently drop a dependency) and
//! lenient for DeerFlow (whose plans carry fields dagent does not use and must preserve).
//!
//! [`Plan`]: dagent_core::Plan
#![deny(missing_docs)]

mod deerflow;
mod error;
mod format;
mod native;
mod source;
pub mod templates;
mod toml_sections;
mod writeback;
mod writer;

pub use error::{MAX_MESSAGE, PlanError, PlanErrorKind, SNIPPET_CONTEXT};
pub use format::PlanFormat;
pub use source::{DEFAULT_MAX_BYTES, Location, SourceMap, Span, read_input};
pub use writeback::{annotate, write_back};
pub use writer::write_plan;

use std::path::Path;

use dagent_core::Plan;

/// A plan as read from a file or string, with what is needed to point at its text.
#[derive(Debug, Clone)]
pub struct LoadedPlan {
    /// The plan.
    pub plan: Plan,
    /// The format it was read in.
    pub format: PlanFormat,
    /// Where it came from (a path, or a name given by the caller).
    pub origin: String,
    /// The original text.
    pub source: String,
    /// Spans of ids and dependency entries, for diagnostics.
    pub spans: SourceMap,
}

impl LoadedPlan {
    /// A diagnostic located at task `index`'s id (or its `dep`-th dependency entry when known).
    #[must_use]
    pub fn error_at_task(
        &self,
        kind: PlanErrorKind,
        index: usize,
        dep: Option<usize>,
        message: impl Into<String>,
    ) -> PlanError {
        let span = dep
            .and_then(|d| self.spans.dep_span(index, d))
            .or_else(|| self.spans.task_span(index));
        PlanError::new(kind, &self.origin, message).with_span(&self.source, span)
    }
}

/// How [`load_plan_with`] reads a plan file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// The format; `None` chooses by extension and content (see [`load_plan`]).
    pub format: Option<PlanFormat>,
    /// The largest file read, in bytes ([`DEFAULT_MAX_BYTES`] by default).
    pub max_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            format: None,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl LoadOptions {
    /// Reads the plan in this format instead of detecting it.
    #[must_use]
    pub fn format(mut self, format: Option<PlanFormat>) -> Self {
        self.format = format;
        self
    }

    /// Refuses files larger than `max_bytes`.
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }
}

/// Reads and parses a plan file. The format is `format` when given, otherwise chosen by
/// extension (`.toml`; `.json` is DeerFlow when its top level has `steps`, else native).
/// Files over [`DEFAULT_MAX_BYTES`] are refused; [`load_plan_with`] sets another limit.
///
/// # Errors
/// A [`PlanError`] naming the file — and `line:column` where it applies — for a missing
/// file, a directory, a FIFO or device, a file over the size limit, non-UTF-8 text, malformed
/// TOML/JSON, wrong types, unknown fields, missing or empty ids, bad estimates and empty plans.
pub fn load_plan(path: &Path, format: Option<PlanFormat>) -> Result<LoadedPlan, PlanError> {
    load_plan_with(path, LoadOptions::default().format(format))
}

/// [`load_plan`] with options (format, size limit).
///
/// # Errors
/// As [`load_plan`].
pub fn load_plan_with(path: &Path, options: LoadOptions) -> Result<LoadedPlan, PlanError> {
    let origin = path.display().to_string();
    let text = source::read_text(
        path,
        &origin,
        options.max_bytes,
        "is a directory, not a plan file: pass the path of a .toml or .json plan",
    )?;
    let format = match options.format {
        Some(f) => f,
        None => PlanFormat::detect(path, &text).ok_or_else(|| {
            PlanError::new(PlanErrorKind::Format, &origin, format::UNKNOWN_FORMAT)
        })?,
    };
    parse_plan(text, format, origin)
}

/// Parses plan text in a given format. `origin` names it in errors.
///
/// # Errors
/// As [`load_plan`], minus the file-system cases.
pub fn parse_plan(
    text: String,
    format: PlanFormat,
    origin: impl Into<String>,
) -> Result<LoadedPlan, PlanError> {
    let origin = origin.into();
    let (plan, spans) = match format {
        PlanFormat::Toml => native::parse_toml(&text, &origin)?,
        PlanFormat::Json => native::parse_json(&text, &origin)?,
        PlanFormat::DeerFlow => deerflow::parse(&text, &origin)?,
    };
    if plan.tasks.is_empty() {
        let what = if format == PlanFormat::DeerFlow {
            "steps"
        } else {
            "tasks"
        };
        return Err(PlanError::new(
            PlanErrorKind::Empty,
            &origin,
            format!("the plan has no {what}: add at least one to analyse or run it"),
        ));
    }
    Ok(LoadedPlan {
        plan,
        format,
        origin,
        source: text,
        spans,
    })
}
