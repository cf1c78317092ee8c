//! Plan errors with file, line and column.
//!
//! Everything an error shows is safe for a terminal and bounded in size: the message has its
//! control characters escaped and is cut in the middle past [`MAX_MESSAGE`] characters; the
//! quoted source line is a window of [`SNIPPET_CONTEXT`] characters either side of the column,
//! with `…` where it was cut, escaped, and the caret still under the right character.

use std::fmt;

use dagent_core::display::{bound_message, escape, escape_lines, escaped_width, needs_escape};

use crate::source::{Location, Span, line_col, line_text};

/// The longest message an error keeps, in characters (the middle is cut past it).
pub const MAX_MESSAGE: usize = 600;

/// How many characters of the offending line an error shows on each side of the column.
pub const SNIPPET_CONTEXT: usize = 80;

/// What kind of problem a plan has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlanErrorKind {
    /// The file could not be read (missing, a directory, not a regular file, permissions).
    Io,
    /// The file is larger than the size limit for input files.
    TooLarge,
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
    /// A `[[loops]]` entry is invalid (unknown ids, empty body, judges outside the body, a
    /// body not closed under the graph, …).
    Loop,
}

/// A problem with a plan, reported as `FILE:LINE:COL: message`, with the offending line
/// when it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    kind: PlanErrorKind,
    origin: String,
    message: String,
    location: Option<Location>,
    /// Boxed: errors travel in `Result`s and should stay small.
    snippet: Option<Box<Snippet>>,
}

/// The part of the offending line that is shown, already escaped, and where the caret goes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Snippet {
    /// The window of the line (escaped, `…` where cut).
    text: String,
    /// Blanks (tabs kept) up to the caret.
    caret_prefix: String,
    /// Carets under the offending text.
    underline_len: usize,
}

impl Snippet {
    /// The window of `line` around the 1-based character `column`, underlining `underline`
    /// characters.
    fn new(line: &str, column: usize, underline: usize) -> Self {
        let col0 = column.saturating_sub(1);
        let underline = underline.clamp(1, SNIPPET_CONTEXT);
        let start = col0.saturating_sub(SNIPPET_CONTEXT);
        let end = col0 + underline + SNIPPET_CONTEXT;
        let mut text = String::new();
        let mut caret_prefix = String::new();
        let mut underline_len = 0;
        if start > 0 {
            text.push('…');
            caret_prefix.push(' ');
        }
        let mut buf = [0u8; 4];
        for (i, c) in line.chars().enumerate().skip(start) {
            if i >= end {
                text.push('…');
                break;
            }
            let width = if c == '\t' {
                text.push('\t');
                1
            } else if needs_escape(c) {
                text.push_str(&escape(c.encode_utf8(&mut buf)));
                escaped_width(c)
            } else {
                text.push(c);
                1
            };
            if i < col0 {
                if c == '\t' {
                    caret_prefix.push('\t');
                } else {
                    caret_prefix.extend(std::iter::repeat_n(' ', width));
                }
            } else if i < col0 + underline {
                underline_len += width;
            }
        }
        Self {
            text,
            caret_prefix,
            underline_len: underline_len.max(1),
        }
    }
}

impl PlanError {
    /// A new error about `origin`. The message is made safe for a terminal (control
    /// characters escaped) and bounded to [`MAX_MESSAGE`] characters.
    pub fn new(kind: PlanErrorKind, origin: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            origin: origin.to_owned(),
            message: bound_message(&escape_lines(&message.into()), MAX_MESSAGE).into_owned(),
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
            let len = source.get(start..end).map_or(1, |s| {
                s.lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(SNIPPET_CONTEXT + 1)
                    .count()
            });
            self.location = Some(loc);
            self.snippet = Some(Box::new(Snippet::new(text, loc.column, len)));
        }
        self
    }

    /// Locates the error at a known line and column (for parsers that give no span).
    #[must_use]
    pub fn with_location(mut self, source: &str, location: Location) -> Self {
        self.location = Some(location);
        if let Some(text) = source.lines().nth(location.line.saturating_sub(1)) {
            self.snippet = Some(Box::new(Snippet::new(text, location.column, 1)));
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

    /// The message, without location (escaped and bounded, see [`PlanError::new`]).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Line and column, when known.
    #[must_use]
    pub fn location(&self) -> Option<Location> {
        self.location
    }

    /// The error with the offending line underlined, for terminals (long lines are cut
    /// around the column; control characters are escaped):
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
            out.push_str(&format!(
                "\n{pad} |\n{} | {}\n{pad} | {}{}",
                loc.line,
                snip.text,
                snip.caret_prefix,
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
                escape(&self.origin),
                l.line,
                l.column,
                self.message
            ),
            None => write!(f, "{}: {}", escape(&self.origin), self.message),
        }
    }
}

impl std::error::Error for PlanError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_around_the_column() {
        let line = format!("{}X{}", "a".repeat(5000), "b".repeat(5000));
        let err = PlanError::new(PlanErrorKind::Syntax, "p.json", "bad")
            .with_span(&line, Some(5000..5001));
        let r = err.render();
        assert!(r.len() < 600, "{r}");
        let lines: Vec<&str> = r.lines().collect();
        let text = lines[2].split_once(" | ").map_or("", |x| x.1);
        let caret = lines[3].split_once(" | ").map_or("", |x| x.1);
        assert!(text.starts_with('…') && text.ends_with('…'), "{text}");
        let at = caret.find('^').unwrap_or(0);
        assert_eq!(text.chars().nth(at), Some('X'), "{r}");
        assert!(r.contains("p.json:1:5001: bad"), "{r}");
    }

    #[test]
    fn controls_in_the_line_are_escaped_and_the_caret_follows() {
        let line = "id = \"\x1b[2J\u{202e}\" x = 1";
        let x = line.find('x').unwrap_or(0);
        let r = PlanError::new(PlanErrorKind::Syntax, "p\x07.toml", "bad \x1b")
            .with_span(line, Some(x..x + 1))
            .render();
        assert!(!r.chars().any(|c| c != '\n' && needs_escape(c)), "{r:?}");
        assert!(r.contains("p\\x07.toml") && r.contains("bad \\x1b"), "{r}");
        let lines: Vec<&str> = r.lines().collect();
        let text = lines[2].split_once(" | ").map_or("", |x| x.1);
        let caret = lines[3].split_once(" | ").map_or("", |x| x.1);
        let at = caret.find('^').unwrap_or(0);
        assert_eq!(text.chars().nth(at), Some('x'), "{r}");
    }
}
