//! Reading plan text and mapping byte offsets to lines and columns.

use std::path::Path;

use crate::{PlanError, PlanErrorKind};

/// A byte range in the plan's text.
pub type Span = std::ops::Range<usize>;

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// Where each task's id and dependency entries are in the text, when the parser knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMap {
    pub(crate) ids: Vec<Option<Span>>,
    pub(crate) deps: Vec<Vec<Option<Span>>>,
}

impl SourceMap {
    /// The span of task `index`'s id.
    #[must_use]
    pub fn task_span(&self, index: usize) -> Option<Span> {
        self.ids.get(index).cloned().flatten()
    }

    /// The span of the `dep`-th entry of task `index`'s `depends_on`.
    #[must_use]
    pub fn dep_span(&self, index: usize, dep: usize) -> Option<Span> {
        self.deps
            .get(index)
            .and_then(|d| d.get(dep))
            .cloned()
            .flatten()
    }
}

pub(crate) fn line_col(text: &str, offset: usize) -> Location {
    let offset = offset.min(text.len());
    let mut start = offset;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..start].chars().count() + 1;
    Location { line, column }
}

pub(crate) fn line_text(text: &str, offset: usize) -> &str {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    text[start..end].trim_end_matches('\r')
}

pub(crate) fn read_text(path: &Path, origin: &str) -> Result<String, PlanError> {
    let io_err = |msg: String| PlanError::new(PlanErrorKind::Io, origin, msg);
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => io_err("no such file: check the path".to_owned()),
        std::io::ErrorKind::PermissionDenied => {
            io_err("permission denied reading the plan".to_owned())
        }
        _ => io_err(format!("cannot read the plan: {e}")),
    })?;
    if meta.is_dir() {
        return Err(io_err(
            "is a directory, not a plan file: pass the path of a .toml or .json plan".to_owned(),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| io_err(format!("cannot read the plan: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let valid = std::str::from_utf8(&bytes[..at]).unwrap_or("");
        let loc = line_col(valid, valid.len());
        PlanError::new(
            PlanErrorKind::Encoding,
            origin,
            format!("the file is not valid UTF-8 (invalid byte 0x{:02x} at byte offset {at}); plans must be UTF-8 text", bytes[at]),
        )
        .with_location(valid, loc)
    })
}

/// Finds, in JSON text, the value span of each `"key": "<value>"` occurrence in order, so
/// that JSON plans (whose parser keeps no spans) can still point at an id's line.
pub(crate) fn json_string_spans<'a>(
    text: &str,
    key: &str,
    values: impl Iterator<Item = &'a str>,
) -> Vec<Option<Span>> {
    let needle = format!("\"{key}\"");
    let mut pos = 0;
    values
        .map(|value| {
            let mut search = pos;
            while let Some(rel) = text[search..].find(&needle) {
                let key_end = search + rel + needle.len();
                let rest = &text[key_end..];
                let after_ws = rest.trim_start();
                if let Some(after_colon) = after_ws.strip_prefix(':') {
                    let v = after_colon.trim_start();
                    let v_start = text.len() - v.len();
                    let quoted = serde_json::to_string(value).unwrap_or_default();
                    if v.starts_with(&quoted) {
                        pos = v_start + quoted.len();
                        return Some(v_start..v_start + quoted.len());
                    }
                }
                search = key_end;
            }
            None
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        let t = "ab\ncdé f\n";
        assert_eq!(line_col(t, 0), Location { line: 1, column: 1 });
        assert_eq!(line_col(t, 3), Location { line: 2, column: 1 });
        let f = t.find('f').unwrap_or(0);
        assert_eq!(line_col(t, f), Location { line: 2, column: 5 });
        assert_eq!(line_text(t, f), "cdé f");
    }

    #[test]
    fn finds_json_id_spans_in_order() {
        let t = r#"{"tasks":[{"id": "a"},{"id":"b"},{"id" : "a"}]}"#;
        let spans = json_string_spans(t, "id", ["a", "b", "a"].into_iter());
        assert_eq!(spans.len(), 3);
        let s2 = spans[2].clone().unwrap_or(0..0);
        assert_eq!(&t[s2], "\"a\"");
        assert!(spans[2].as_ref().map(|s| s.start) > spans[0].as_ref().map(|s| s.start));
    }
}
