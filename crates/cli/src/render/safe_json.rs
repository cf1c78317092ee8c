//! Pretty JSON whose strings are exact and still safe on a terminal.
//!
//! serde_json escapes only what JSON requires (`"`, `\`, C0 controls). DEL, C1 controls and
//! bidirectional overrides would reach a terminal raw when the JSON is printed; this
//! formatter writes them as `\uXXXX` escapes too, which every JSON reader decodes back to the
//! exact string.

use std::io;

use dagent_core::display::needs_escape;
use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

struct SafeFormatter(PrettyFormatter<'static>);

impl Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| needs_escape(c)) {
            w.write_all(&rest.as_bytes()[..at])?;
            // Every character needs_escape accepts is in the Basic Multilingual Plane.
            write!(w, "\\u{:04x}", u32::from(c))?;
            rest = &rest[at + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// `value` as pretty JSON (two-space indent, like `serde_json::to_string_pretty`) with a
/// final newline; terminal-unsafe characters in strings are `\uXXXX`-escaped.
pub(crate) fn to_json(value: &impl Serialize) -> String {
    let mut buf = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut buf, SafeFormatter(PrettyFormatter::new()));
    match value.serialize(&mut ser) {
        Ok(()) => {
            let mut s = String::from_utf8(buf).unwrap_or_default();
            s.push('\n');
            s
        }
        Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_stay_exact_and_terminal_safe() {
        let raw = "a\u{1b}[31m\u{9b}\u{202e}\u{7f}é\"";
        let out = to_json(&serde_json::json!({ "id": raw }));
        assert!(
            !out.chars().any(|c| c != '\n' && needs_escape(c)),
            "{out:?}"
        );
        assert!(out.contains("\\u202e") && out.contains("\\u001b"), "{out}");
        let back: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        assert_eq!(back["id"], raw);
        assert_eq!(
            to_json(&serde_json::json!({"a": [1, 2]})),
            serde_json::to_string_pretty(&serde_json::json!({"a": [1, 2]})).unwrap_or_default()
                + "\n"
        );
    }
}
