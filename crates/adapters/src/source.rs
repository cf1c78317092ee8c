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
    /// The span of each `[[loops]]` entry's id.
    pub(crate) loops: Vec<Option<Span>>,
}

impl SourceMap {
    /// The span of task `index`'s id.
    #[must_use]
    pub fn task_span(&self, index: usize) -> Option<Span> {
        self.ids.get(index).cloned().flatten()
    }

    /// The span of loop `index`'s id (its `[[loops]]` entry).
    #[must_use]
    pub fn loop_span(&self, index: usize) -> Option<Span> {
        self.loops.get(index).cloned().flatten()
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

/// The default limit on the size of an input file: 256 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Reads a UTF-8 input file (a plan, a configuration) safely: only regular files (a FIFO
/// would block forever, `/dev/zero` would never end), at most `max_bytes` bytes (read with a
/// limit, so a file that grows while it is read is caught too).
///
/// # Errors
/// A [`PlanError`] naming the file: missing, a directory, not a regular file, unreadable,
/// over `max_bytes`, or not UTF-8 (with the line and column of the first bad byte).
pub fn read_input(path: &Path, max_bytes: u64) -> Result<String, PlanError> {
    read_text(
        path,
        &path.display().to_string(),
        max_bytes,
        "is a directory, not a file: pass the path of a file",
    )
}

/// Sizes for messages: "300 MiB", "12 KiB", "17 bytes".
fn size(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(unix)]
fn file_type_name(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "a named pipe"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(not(unix))]
fn file_type_name(_: std::fs::FileType) -> &'static str {
    "not a file"
}

pub(crate) fn read_text(
    path: &Path,
    origin: &str,
    max_bytes: u64,
    directory_message: &str,
) -> Result<String, PlanError> {
    use std::io::Read;
    let io_err = |msg: String| PlanError::new(PlanErrorKind::Io, origin, msg);
    let open_err = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => io_err("no such file: check the path".to_owned()),
        std::io::ErrorKind::PermissionDenied => io_err("permission denied".to_owned()),
        _ => io_err(format!("cannot read the file: {e}")),
    };
    let too_large = || {
        PlanError::new(
            PlanErrorKind::TooLarge,
            origin,
            format!(
                "the file is larger than the {} limit for input files",
                size(max_bytes)
            ),
        )
    };
    // Look before opening: opening a FIFO for reading blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(open_err)?;
    if meta.is_dir() {
        return Err(io_err(directory_message.to_owned()));
    }
    if !meta.is_file() {
        return Err(io_err(format!(
            "is not a regular file ({}): pass the path of a file",
            file_type_name(meta.file_type())
        )));
    }
    if meta.len() > max_bytes {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(open_err)?;
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(format!("cannot read the file: {e}")))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
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

/// The byte offset of a 1-based `line` and a 1-based *byte* `column` (serde_json's), clamped
/// to the text.
pub(crate) fn byte_offset(text: &str, line: usize, byte_column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (line_start + byte_column.saturating_sub(1)).min(text.len())
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
    fn byte_offsets_from_serde_positions() {
        let t = "ab\ncdé f\n";
        let f = t.find('f').unwrap_or(0);
        // serde_json counts bytes: 'f' is the 6th byte of line 2.
        assert_eq!(byte_offset(t, 2, 6), f);
        assert_eq!(byte_offset(t, 1, 0), 0);
        assert_eq!(byte_offset(t, 9, 9), t.len());
    }
}
