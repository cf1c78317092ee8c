//! Large TOML plans, deserialised a few `[[tasks]]` sections at a time.
//!
//! `toml::from_str` holds a document several times over while it works (its tokens, its
//! events and a spanned tree), hundreds of bytes per task on top of the plan itself: a
//! 100,000-task plan peaked at 330 MiB. Here one pass of `toml_parser`'s lexer finds
//! where each top-level `[[tasks]]` section starts and ends. Groups of consecutive sections
//! are deserialised one group at a time, and the rest (the title, `[[loops]]`) once, with
//! the task sections blanked out so that every span stays where it was.
//!
//! Anything the pass does not fully follow returns `None`: a quoted header key, a `tasks`
//! key at the top level, a `[tasks.x]` table outside a task section, unbalanced brackets,
//! a group that does not deserialise. The caller then parses the document whole, which
//! gives the same plan or the error it would always have given.

use std::ops::Range;

use toml::Spanned;
use toml_parser::Source;
use toml_parser::lexer::{Token, TokenKind};

use crate::native::{RawPlan, RawTask};

/// Task sections are deserialised in groups of about this many bytes.
pub(crate) const GROUP_BYTES: usize = 64 * 1024;

type Raw = RawPlan<Spanned<String>, Spanned<String>>;

/// The plan in `text`, deserialised in groups of task sections of about `group_bytes`; `None`
/// where the caller should parse the document whole.
pub(crate) fn parse(text: &str, group_bytes: usize) -> Option<Raw> {
    let groups = task_groups(text, group_bytes)?;
    let first = groups.first()?.start;
    // Everything outside the task sections, at its own offsets.
    let mut raw: Raw = if groups.last().is_some_and(|g| g.end == text.len())
        && groups.windows(2).all(|w| w[0].end == w[1].start)
    {
        toml::from_str(&text[..first]).ok()?
    } else {
        let mut bytes = text.as_bytes().to_vec();
        for g in &groups {
            // Groups start and end at line starts, so this keeps the text UTF-8.
            bytes[g.clone()].fill(b' ');
        }
        toml::from_str(&String::from_utf8(bytes).ok()?).ok()?
    };
    if !raw.tasks.is_empty() {
        return None;
    }
    for g in groups {
        let part: Raw = toml::from_str(&text[g.clone()]).ok()?;
        if part.title.is_some() || !part.loops.is_empty() {
            return None;
        }
        raw.tasks
            .extend(part.tasks.into_iter().map(|t| shifted(t, g.start)));
    }
    Some(raw)
}

fn shifted(
    mut task: RawTask<Spanned<String>, Spanned<String>>,
    by: usize,
) -> RawTask<Spanned<String>, Spanned<String>> {
    task.id = shift(task.id, by);
    task.depends_on = task
        .depends_on
        .map(|d| d.into_iter().map(|s| shift(s, by)).collect());
    task
}

fn shift(s: Spanned<String>, by: usize) -> Spanned<String> {
    let span = s.span();
    Spanned::new(span.start + by..span.end + by, s.into_inner())
}

/// A top-level table header.
enum Header {
    /// `[[tasks]]`: a task section starts.
    Task,
    /// `[tasks.estimate]`, `[[tasks.x]]`: part of the task section before it.
    InTask,
    /// Any other table: the task section before it ends.
    Other,
}

/// Byte ranges of groups of consecutive top-level `[[tasks]]` sections, each from the start
/// of its header's line to the start of the line of the header after it.
fn task_groups(text: &str, group_bytes: usize) -> Option<Vec<Range<usize>>> {
    let mut tokens = Source::new(text).lex();
    let mut depth = 0usize;
    let mut line_start = 0;
    let mut at_line_start = true;
    let mut in_root = true;
    let mut open: Option<usize> = None;
    let mut sections: Vec<Range<usize>> = Vec::new();
    while let Some(token) = tokens.next() {
        let kind = token.kind();
        match kind {
            TokenKind::Newline => {
                line_start = token.span().end();
                at_line_start = true;
                continue;
            }
            TokenKind::Whitespace | TokenKind::Comment | TokenKind::Eof => continue,
            TokenKind::LeftSquareBracket if depth == 0 && at_line_start => {
                let header = header(text, &mut tokens)?;
                match header {
                    Header::Task | Header::Other => {
                        if let Some(start) = open.take() {
                            sections.push(start..line_start);
                        }
                        if matches!(header, Header::Task) {
                            open = Some(line_start);
                        }
                    }
                    Header::InTask => {
                        open?;
                    }
                }
                in_root = false;
            }
            TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => depth += 1,
            TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => {
                depth = depth.checked_sub(1)?;
            }
            // A top-level key: `tasks` (bare or quoted) would be tasks outside any section.
            TokenKind::Atom
                if in_root && depth == 0 && at_line_start && slice(text, &token) == "tasks" =>
            {
                return None;
            }
            TokenKind::BasicString
            | TokenKind::LiteralString
            | TokenKind::MlBasicString
            | TokenKind::MlLiteralString
                if in_root && depth == 0 && at_line_start =>
            {
                return None;
            }
            _ => {}
        }
        at_line_start = false;
    }
    if depth != 0 {
        return None;
    }
    if let Some(start) = open {
        sections.push(start..text.len());
    }
    // Consecutive sections join up to about `group_bytes`.
    let mut groups: Vec<Range<usize>> = Vec::new();
    for s in sections {
        match groups.last_mut() {
            Some(g) if g.end == s.start && g.len() < group_bytes => g.end = s.end,
            _ => groups.push(s),
        }
    }
    Some(groups)
}

fn slice<'t>(text: &'t str, token: &Token) -> &'t str {
    text.get(token.span().start()..token.span().end())
        .unwrap_or_default()
}

/// Reads a header after its opening `[`: `[tasks]]`, `[tasks.estimate]`, `loops]]`, …
fn header(text: &str, tokens: &mut impl Iterator<Item = Token>) -> Option<Header> {
    let mut next = tokens.next()?;
    let array = next.kind() == TokenKind::LeftSquareBracket;
    if array {
        next = tokens.next()?;
    }
    let mut keys = Vec::new();
    let mut want_key = true;
    loop {
        match next.kind() {
            TokenKind::Whitespace => {}
            TokenKind::Atom if want_key => {
                keys.push(slice(text, &next));
                want_key = false;
            }
            TokenKind::Dot if !want_key => want_key = true,
            TokenKind::RightSquareBracket if !want_key => break,
            // Quoted keys and anything malformed: parse the document whole.
            _ => return None,
        }
        next = tokens.next()?;
    }
    if array && tokens.next()?.kind() != TokenKind::RightSquareBracket {
        return None;
    }
    Some(match (keys.first() == Some(&"tasks"), keys.len(), array) {
        (true, 1, true) => Header::Task,
        (true, 1, false) => return None,
        (true, _, _) => Header::InTask,
        (false, _, _) => Header::Other,
    })
}

#[cfg(test)]
mod tests {
    use crate::native::parse_toml_in_groups;

    /// Parsed a section at a time (groups of one byte hold one section each) and whole.
    fn both(doc: &str) -> (String, String) {
        let sections = parse_toml_in_groups(doc, "p.toml", 1);
        let whole = parse_toml_in_groups(doc, "p.toml", usize::MAX);
        (format!("{sections:?}"), format!("{whole:?}"))
    }

    const MIXED: &str = "# a plan\r\ntitle = \"Trip\" # the title\r\n\r\n[[tasks]]\r\nid = \"a\"\r\n\
        description = \"\"\"\r\n[[tasks]]\r\n[tasks.x]\r\n\"\"\"\r\ndepends_on = [\r\n]\r\n\
        [tasks.estimate]\r\nduration = \"5s\"\r\ntokens = 3\r\n\r\n  [[ tasks ]]\r\nid = \"b\"\r\n\
        title = 'Grüße, 東京'\r\ndepends_on = [\r\n  \"a\", # first\r\n]\r\n\
        [tasks.simulate]\r\nfail = \"transient\"\r\n\r\n[[loops]]\r\nid = \"l\"\r\n\
        tasks = [\"a\", \"b\"]\r\nrepeat_until = \"done\"\r\n\r\n[[tasks]]\r\nid = \"c\"\r\n\
        depends_on = [\"b\", \"a\"]\r\nestimate = { duration = \"1m\", tokens = 9 }\r\n";

    #[test]
    fn a_plan_read_a_section_at_a_time_is_the_plan_read_whole() {
        assert!(
            super::parse(MIXED, 1).is_some(),
            "this document is read in sections"
        );
        let (sections, whole) = both(MIXED);
        assert_eq!(sections, whole);
        let (plan, spans) = parse_toml_in_groups(MIXED, "p.toml", 1).unwrap();
        assert_eq!(plan.tasks.len(), 3);
        assert_eq!(plan.title.as_deref(), Some("Trip"));
        assert!(plan.tasks[0].description.contains("[[tasks]]"));
        assert_eq!(plan.loops.len(), 1);
        // Spans point into the whole text, whichever group a task was read in.
        let at = spans.task_span(2).unwrap();
        assert_eq!(&MIXED[at], "\"c\"");
        // Only task sections are grouped: the loop between them splits the groups.
        let groups = super::task_groups(MIXED, usize::MAX).unwrap();
        assert_eq!(groups.len(), 2);
        assert!(
            MIXED[groups[1].clone()]
                .trim_start()
                .starts_with("[[tasks]]\r\nid = \"c\"")
        );
    }

    #[test]
    fn documents_the_sections_cannot_follow_are_read_whole() {
        for doc in [
            // Tasks as a top-level key, bare or quoted.
            "tasks = [{ id = \"a\" }]\n",
            "\"tasks\" = [{ id = \"a\" }]\n",
            // A task's table after another table: TOML puts it in the last task.
            "[[tasks]]\nid = \"a\"\n[[loops]]\nid = \"l\"\ntasks = [\"a\"]\nrepeat_until = \"x\"\n[tasks.estimate]\nduration = \"1s\"\n",
            "[[\"tasks\"]]\nid = \"a\"\n",
            "[tasks]\nid = \"a\"\n",
            // Brackets that never close.
            "[[tasks]]\nid = \"a\"\ndepends_on = [\n[[tasks]]\nid = \"b\"\n",
        ] {
            assert!(super::parse(doc, 1).is_none(), "{doc}");
            let (sections, whole) = both(doc);
            assert_eq!(sections, whole, "{doc}");
        }
    }

    #[test]
    fn errors_are_the_whole_documents_errors() {
        let task = |id: &str, extra: &str| format!("[[tasks]]\nid = \"{id}\"\n{extra}\n");
        for doc in [
            // An empty id in a later section is located in the whole text.
            [task("a", ""), task("b", ""), task(" ", "")].concat(),
            [task("a", ""), task("b", "title = \"x\"\ntitle = \"y\"")].concat(),
            [task("a", ""), task("b", "colour = \"red\"")].concat(),
            [
                task("a", ""),
                task("b", "depends_on = [\"a\""),
                task("c", ""),
            ]
            .concat(),
            format!("title = 1\n{}", task("a", "")),
        ] {
            let err = parse_toml_in_groups(&doc, "p.toml", 1).unwrap_err();
            let (sections, whole) = both(&doc);
            assert_eq!(sections, whole, "{doc}");
            assert!(err.to_string().contains("p.toml:"), "{err}");
        }
        let doc = [task("a", ""), task("b", ""), task(" ", "")].concat();
        let err = parse_toml_in_groups(&doc, "p.toml", 1).unwrap_err();
        assert!(err.to_string().contains("p.toml:8:6:"), "{err}");
    }
}
