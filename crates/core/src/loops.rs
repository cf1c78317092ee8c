//! Review loops: a group of tasks that repeats until its judges approve.
//!
//! A plan's `[[loops]]` table names a body (some of its tasks), the verdict the judges'
//! answers must give (`repeat_until`), the judges (by default the body's sinks) and a bound
//! on the iterations. The executor runs the body once, reads each judge's verdict with
//! [`parse_verdict`], and appends the next iteration (ids [`iteration_id`]: `code#2`, …)
//! until every judge approves ([`verdict_approves`]) or `max_iterations` is reached.
//!
//! This module only describes loops and reads verdicts: validation against the dependency
//! graph is `dagent-graph`'s, running them is the executor's.

use crate::TaskId;

/// Iterations when a loop does not say.
pub const DEFAULT_MAX_ITERATIONS: u32 = 3;

/// The largest `max_iterations` a loop may ask for (the smallest is 1).
pub const MAX_ITERATIONS: u32 = 20;

/// One loop of a plan, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopSpec {
    /// The loop's name (unique among the plan's loops; shown in reports).
    pub id: String,
    /// The body: the tasks that repeat, by id.
    pub tasks: Vec<TaskId>,
    /// The verdict every judge must give for the loop to end approved (compared
    /// case-insensitively).
    pub repeat_until: String,
    /// The tasks whose answers are read for a verdict; `None`: the body's sinks (the body
    /// tasks no other body task depends on).
    pub judges: Option<Vec<TaskId>>,
    /// The most iterations run, 1 to [`MAX_ITERATIONS`] ([`DEFAULT_MAX_ITERATIONS`]).
    pub max_iterations: u32,
}

impl LoopSpec {
    /// A loop over `tasks` until `repeat_until`, with the default judges and iterations.
    pub fn new<I, T>(id: impl Into<String>, tasks: I, repeat_until: impl Into<String>) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<TaskId>,
    {
        Self {
            id: id.into(),
            tasks: tasks.into_iter().map(Into::into).collect(),
            repeat_until: repeat_until.into(),
            judges: None,
            max_iterations: DEFAULT_MAX_ITERATIONS,
        }
    }

    /// Sets the judges (builder style).
    #[must_use]
    pub fn with_judges<I, T>(mut self, judges: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<TaskId>,
    {
        self.judges = Some(judges.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the bound on iterations (builder style).
    #[must_use]
    pub fn with_max_iterations(mut self, max_iterations: u32) -> Self {
        self.max_iterations = max_iterations;
        self
    }
}

/// The id of a body task's copy in iteration `k` (from 1): the task's own id in the first
/// iteration, `ID#k` afterwards (`code#2`).
#[must_use]
pub fn iteration_id(base: &TaskId, k: u32) -> TaskId {
    if k <= 1 {
        base.clone()
    } else {
        TaskId::new(format!("{base}#{k}"))
    }
}

/// The verdict in a judge's answer: the word after `VERDICT:` on the **last** line that
/// starts with it (case-insensitive, surrounding blanks, `*`, `#`, `>` and `` ` `` ignored,
/// so Markdown emphasis such as `**VERDICT: APPROVED**` counts). The word is the first run
/// of letters, digits, `_` or `-` after the colon; trailing punctuation is dropped.
/// `None` when no line gives one.
///
/// ```
/// use dagent_core::parse_verdict;
/// let answer = "Looks fine.\nVERDICT: CHANGES\n...on second thought\nverdict: approved.";
/// assert_eq!(parse_verdict(answer), Some("approved"));
/// assert_eq!(parse_verdict("I approve."), None);
/// ```
#[must_use]
pub fn parse_verdict(answer: &str) -> Option<&str> {
    const PREFIX: &str = "verdict:";
    let decoration = |c: char| c.is_whitespace() || matches!(c, '*' | '#' | '>' | '`' | '_');
    answer.lines().rev().find_map(|line| {
        let line = line.trim_start_matches(decoration);
        let head = line.get(..PREFIX.len())?;
        if !head.eq_ignore_ascii_case(PREFIX) {
            return None;
        }
        let rest = line[PREFIX.len()..].trim_start_matches(decoration);
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        let word = rest[..end].trim_end_matches(['_', '-']);
        (!word.is_empty()).then_some(word)
    })
}

/// Whether a judge's answer approves: its [`parse_verdict`] equals `repeat_until`,
/// case-insensitively. **An answer without a verdict does not approve** (a judge that
/// forgot the line is asked again, bounded by `max_iterations`).
#[must_use]
pub fn verdict_approves(answer: &str, repeat_until: &str) -> bool {
    parse_verdict(answer).is_some_and(|v| v.eq_ignore_ascii_case(repeat_until.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_verdict_line_wins_whatever_its_case_and_decoration() {
        assert_eq!(parse_verdict("VERDICT: APPROVED"), Some("APPROVED"));
        assert_eq!(parse_verdict("verdict:changes"), Some("changes"));
        assert_eq!(
            parse_verdict("VERDICT: CHANGES\nbody\n  **Verdict: Approved**"),
            Some("Approved")
        );
        assert_eq!(
            parse_verdict("> ## VERDICT: `NEEDS-WORK`."),
            Some("NEEDS-WORK")
        );
        assert_eq!(
            parse_verdict("the verdict: approved"),
            None,
            "not at a line start"
        );
        assert_eq!(parse_verdict("VERDICT:"), None);
        assert_eq!(parse_verdict("VERDICT: !!"), None);
        assert_eq!(parse_verdict(""), None);
        // Multi-byte text before the prefix length cannot split a character.
        assert_eq!(parse_verdict("é\nééééééé"), None);
    }

    #[test]
    fn approval_needs_a_verdict_equal_to_repeat_until() {
        assert!(verdict_approves("VERDICT: approved", "APPROVED"));
        assert!(!verdict_approves("VERDICT: CHANGES", "APPROVED"));
        assert!(!verdict_approves("APPROVED", "APPROVED"), "no verdict line");
        assert!(!verdict_approves("VERDICT: APPROVED-ish", "APPROVED"));
    }

    #[test]
    fn iteration_ids_keep_the_first_and_number_the_rest() {
        let id = TaskId::new("code");
        assert_eq!(iteration_id(&id, 1).as_str(), "code");
        assert_eq!(iteration_id(&id, 2).as_str(), "code#2");
    }
}
