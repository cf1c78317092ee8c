//! Text that is safe to show on a terminal.
//!
//! Plans and provider answers are untrusted: an id or a title can carry escape sequences (ESC,
//! OSC, CSI), carriage returns, NUL, C1 controls or bidirectional overrides that would rewrite
//! the screen, hide text or reorder it. Everything dagent prints as *text* passes through
//! [`escape`] (one value, one line) or [`escape_lines`] (composed text whose own line breaks
//! and tabs are kept). Such characters are shown visibly escaped, as ripgrep and git do:
//! `\x1b`, `\r`, `\0`→`\x00`, `\u{9b}`, `\u{202e}`. JSON output is not escaped this way: it
//! keeps exact strings, which the JSON encoder escapes itself.
//!
//! [`quote`] shortens a value for an error message (`"abc…xyz"`), so that a 10 MB id never
//! makes a 10 MB message.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// Whether `c` must not reach a terminal raw: C0 and C1 controls, DEL, and the
/// bidirectional formatting characters (embeddings, overrides, isolates, marks).
#[must_use]
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Appends the visible form of one character that [`needs_escape`].
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if u32::from(c) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

/// Number of characters `c` takes once escaped.
#[must_use]
pub fn escaped_width(c: char) -> usize {
    if !needs_escape(c) {
        1
    } else if matches!(c, '\n' | '\r' | '\t') {
        2
    } else if u32::from(c) < 0x80 {
        4
    } else {
        // \u{…} around the hex digits.
        4 + format!("{:x}", u32::from(c)).len()
    }
}

fn escape_where(s: &str, escape_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&escape_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if escape_char(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One value (an id, a title, a path) for a terminal: every character that
/// [`needs_escape`] — line breaks and tabs included — is shown escaped.
#[must_use]
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_where(s, needs_escape)
}

/// Composed text for a terminal: as [`escape`], but its own line breaks and tabs are kept.
#[must_use]
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c != '\n' && c != '\t' && needs_escape(c))
}

/// A value shown escaped (see [`escape`]); `{:<20}`-style padding applies to the escaped form.
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&escape(self.0))
    }
}

/// The escaped form of `s` in at most about `max_chars` characters: when longer, its start
/// and end with `…` between them (the end is kept because ids often differ there).
#[must_use]
pub fn shorten(s: &str, max_chars: usize) -> Cow<'_, str> {
    let escaped = escape(s);
    let total = escaped.chars().count();
    if total <= max_chars {
        return escaped;
    }
    let head = max_chars.saturating_sub(1) * 2 / 3;
    let tail = max_chars.saturating_sub(1) - head;
    let mut out: String = escaped.chars().take(head).collect();
    out.push('…');
    out.extend(escaped.chars().skip(total - tail));
    Cow::Owned(out)
}

/// The longest a value quoted in a message gets, in characters.
pub const QUOTED_MAX: usize = 80;

/// A value for an error message: escaped, shortened to [`QUOTED_MAX`] characters and in
/// double quotes, e.g. `"tokyo"`, `"\x1b[31mred"`, `"aaaaaa…aaaa"`.
#[must_use]
pub fn quote(s: &str) -> String {
    format!("\"{}\"", shorten(s, QUOTED_MAX))
}

/// Bounds a whole message to about `max_chars` characters by cutting its middle (`…`), so that
/// both the start (what went wrong) and the end (what was expected) survive.
#[must_use]
pub fn bound_message(s: &str, max_chars: usize) -> Cow<'_, str> {
    let total = s.chars().count();
    if total <= max_chars {
        return Cow::Borrowed(s);
    }
    let head = max_chars.saturating_sub(1) * 3 / 5;
    let tail = max_chars.saturating_sub(1) - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(total - tail));
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_kind_of_control() {
        let raw = "a\x1b[31mb\x1b]8;;x\x07c\rd\0e\u{9b}f\u{202e}g\u{2066}h\ni\tj\x7f";
        let e = escape(raw);
        assert_eq!(
            e,
            "a\\x1b[31mb\\x1b]8;;x\\x07c\\rd\\x00e\\u{9b}f\\u{202e}g\\u{2066}h\\ni\\tj\\x7f"
        );
        assert!(!e.chars().any(needs_escape));
        let kept = escape_lines("x\ny\tz\x1b");
        assert_eq!(kept, "x\ny\tz\\x1b");
    }

    #[test]
    fn plain_text_is_borrowed_and_unchanged() {
        assert!(matches!(escape("Tokyo — 東京"), Cow::Borrowed(_)));
        assert_eq!(format!("[{:<6}]", Escaped("ab")), "[ab    ]");
        assert_eq!(format!("[{:<6}]", Escaped("\r")), "[\\r    ]");
    }

    #[test]
    fn widths_match_the_escaped_forms() {
        for c in ['a', '\n', '\x1b', '\u{9b}', '\u{202e}', '\u{10ffff}', '東'] {
            assert_eq!(
                escape(&c.to_string()).chars().count(),
                escaped_width(c),
                "{c:?}"
            );
        }
    }

    #[test]
    fn long_values_are_shortened_with_a_marker() {
        let long = "x".repeat(10_000) + "END";
        let q = quote(&long);
        assert!(q.chars().count() <= QUOTED_MAX + 2, "{q}");
        assert!(q.contains('…') && q.ends_with("END\""), "{q}");
        assert_eq!(quote("tokyo"), "\"tokyo\"");
        let many = "m".repeat(5000);
        let m = bound_message(&many, 100);
        assert_eq!(m.chars().count(), 100);
    }
}
