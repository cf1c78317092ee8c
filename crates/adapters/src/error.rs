//! Plan errors with file, line and column.

use std::fmt;

use crate::source::{Location, Span, line_col, line_text};

/// What kind of problem a plan has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlanErrorKind {
    /// The file could not be read (missing, a directory, permissions).
    Io,
    /// The text is not valid UTF-8.
    Encoding,
    /// The format could not be determined.
    Format,
    /// The text is not valid TOML/JSON.
    Syntax,
    /// Valid syntax, wrong shape: wrong types, unknown or missing fields, bad values.
    Schema,
    /// The plan has no tasks.
    Empty,
    /// A task has an empty id.
    EmptyId,
    /// Two tasks share an id.
    DuplicateId,
    /// A dependency names no task.
    UnknownDependency,
    /// A task depends on itself.
    SelfDependency,
    /// The dependencies form a cycle.
    Cycle,
}

/// A problem with a plan, reported as `FILE:LINE:COL: message`, with the offending line
/// when it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    kind: PlanErrorKind,
    origin: String,
    message: String,
    location: Option<Location>,
    snippet: Option<Snippet>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Snippet {
    line_text: String,
    underline_len: usize,
}

impl PlanError {
    /// A new error about `origin`.
    pub fn new(kind: PlanErrorKind, origin: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            origin: origin.to_owned(),
            message: message.into(),
            location: None,
            snippet: None,
        }
    }

    /// Locates the error at a byte span of `source` (no-op for `None`).
    #[must_use]
    pub fn with_span(mut self, source: &str, span: Option<Span>) -> Self {
        if let Some(span) = span {
            let start = span.start.min(source.len());
            let loc = line_col(source, start);
            let text = line_text(source, start);
            let end = span.end.clamp(start, source.len());
            let len = source
                .get(start..end)
                .map_or(1, |s| s.lines().next().unwrap_or("").chars().count());
            self.location = Some(loc);
            self.snippet = Some(Snippet {
                line_text: text.to_owned(),
                underline_len: len.max(1),
            });
        }
        self
    }

    /// Locates the error at a known line and column (for parsers that give no span).
    #[must_use]
    pub fn with_location(mut self, source: &str, location: Location) -> Self {
        self.location = Some(location);
        if let Some(text) = source.lines().nth(location.line.saturating_sub(1)) {
            self.snippet = Some(Snippet {
                line_text: text.to_owned(),
                underline_len: 1,
            });
        }
        self
    }

    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> PlanErrorKind {
        self.kind
    }

    /// The file (or name) the plan came from.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The message, without location.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Line and column, when known.
    #[must_use]
    pub fn location(&self) -> Option<Location> {
        self.location
    }

    /// The error with the offending line underlined, for terminals:
    ///
    /// ```text
    /// error: plan.toml:3:6: duplicate task id "tokyo" …
    ///   |
    /// 3 | id = "tokyo"
    ///   |      ^^^^^^^
    /// ```
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = format!("error: {self}");
        if let (Some(loc), Some(snip)) = (self.location, &self.snippet) {
            let gutter = loc.line.to_string().len();
            let pad = " ".repeat(gutter);
            let prefix: String = snip
                .line_text
                .chars()
                .take(loc.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            out.push_str(&format!(
                "\n{pad} |\n{} | {}\n{pad} | {prefix}{}",
                loc.line,
                snip.line_text,
                "^".repeat(snip.underline_len)
            ));
        }
        out
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(l) => write!(
                f,
                "{}:{}:{}: {}",
                self.origin, l.line, l.column, self.message
            ),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for PlanError {}
