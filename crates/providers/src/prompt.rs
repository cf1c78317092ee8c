//! Prompts: system prompt + task + dependencies' outputs in plan order, within a budget.

use dagent_core::{
    ChatMessage, DependencyOutcome, TaskContext, TaskError, TaskErrorKind, TaskKind,
    estimate_tokens,
};

/// Builds the messages of one task attempt.
#[derive(Clone, Debug)]
pub struct PromptBuilder {
    /// The model's context window, tokens.
    pub context_window: u32,
    /// Tokens reserved for the answer.
    pub max_output_tokens: u32,
}

const MARGIN_TOKENS: u64 = 64;
const MARKER_TOKENS: u64 = 32;
const INPUTS_HEADER: &str = "\n# Inputs from the tasks this one depends on (in plan order)\n";
const FOOTER: &str = "\nComplete the task now.";

/// The default system prompt of a role or kind.
#[must_use]
pub fn default_system_prompt(role: Option<&str>, kind: &TaskKind) -> String {
    let who = match (role.unwrap_or(""), kind) {
        ("researcher", _) | ("", TaskKind::Research) => {
            "a meticulous researcher: gather the facts the task asks for, concisely, and say what is uncertain"
        }
        ("analyst", _) | ("", TaskKind::Analysis) => {
            "an analyst: reason over the inputs you are given and draw clear, supported conclusions"
        }
        ("coder" | "developer", _) | ("", TaskKind::Processing) => {
            "a careful engineer: produce correct, complete, documented work"
        }
        ("writer" | "reporter", _) | ("", TaskKind::Report) => {
            "a clear writer: turn the inputs into a well-structured report"
        }
        ("reviewer", _) => "a reviewer: find problems and suggest concrete improvements",
        _ => "a capable assistant completing one step of a larger plan",
    };
    format!(
        "You are {who}. You are working on one task of a plan; the outputs of the tasks it depends on are included."
    )
}

impl PromptBuilder {
    /// The messages and any notes (inputs shortened to fit). Inputs are never silently
    /// dropped: when they do not fit, each is cut proportionally and the cut is marked.
    ///
    /// # Errors
    /// A permanent error when even the task alone does not fit the context window.
    pub fn build(
        &self,
        ctx: &TaskContext,
        system: &str,
    ) -> Result<(Vec<ChatMessage>, Vec<String>, u64), TaskError> {
        let task = ctx.task();
        let mut head = format!("# Task: {}\n", task.title);
        if !task.description.is_empty() {
            head.push_str(&task.description);
            head.push('\n');
        }
        let inputs: Vec<(String, String)> = ctx
            .inputs()
            .map(|(dep, outcome)| {
                let (label, body) = match outcome {
                    DependencyOutcome::Succeeded(out) => {
                        (format!("## {} ({})", dep.title, dep.id), out.text.clone())
                    }
                    DependencyOutcome::Failed(e) => (
                        format!("## {} ({}) — FAILED", dep.title, dep.id),
                        format!("This input is missing: the task failed ({e})."),
                    ),
                    DependencyOutcome::Skipped(why) => (
                        format!("## {} ({}) — NOT RUN", dep.title, dep.id),
                        format!("This input is missing: {why}."),
                    ),
                };
                (label, body)
            })
            .collect();
        // Everything but the inputs' bodies, including room for a cut marker per input.
        let fixed = estimate_tokens(system)
            + estimate_tokens(&head)
            + estimate_tokens(INPUTS_HEADER)
            + estimate_tokens(FOOTER)
            + inputs
                .iter()
                .map(|(l, _)| estimate_tokens(l) + 2 + MARKER_TOKENS)
                .sum::<u64>()
            + MARGIN_TOKENS;
        let window =
            u64::from(self.context_window).saturating_sub(u64::from(self.max_output_tokens));
        if fixed > window {
            return Err(TaskError::new(
                TaskErrorKind::Permanent,
                format!(
                    "the task alone (~{fixed} tokens) does not fit a {}-token context window with {} tokens for the answer",
                    self.context_window, self.max_output_tokens
                ),
            ));
        }
        let available = window - fixed;
        let wanted: u64 = inputs.iter().map(|(_, b)| estimate_tokens(b)).sum();
        let mut notes = Vec::new();
        let mut body = head;
        if !inputs.is_empty() {
            body.push_str(INPUTS_HEADER);
        }
        let mut cut_list = Vec::new();
        for (label, text) in &inputs {
            body.push('\n');
            body.push_str(label);
            body.push('\n');
            if wanted <= available {
                body.push_str(text);
            } else {
                let share = u128::from(available) * u128::from(estimate_tokens(text))
                    / u128::from(wanted.max(1));
                let keep_bytes = usize::try_from(share * 3).unwrap_or(usize::MAX);
                let mut end = keep_bytes.min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                let cut = text.len() - end;
                body.push_str(&text[..end]);
                if cut > 0 {
                    body.push_str(&format!("\n[… {cut} bytes of this input were cut to fit the model's context window …]"));
                    cut_list.push(format!(
                        "{} (cut {cut} bytes)",
                        label.trim_start_matches("## ")
                    ));
                }
            }
            body.push('\n');
        }
        if !cut_list.is_empty() {
            notes.push(format!(
                "inputs shortened to fit the context window: {}",
                cut_list.join(", ")
            ));
        }
        body.push_str(FOOTER);
        let estimate = estimate_tokens(system) + estimate_tokens(&body) + 8;
        Ok((
            vec![ChatMessage::system(system), ChatMessage::user(body)],
            notes,
            estimate,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use dagent_core::{DependencyOutcome, Plan, Task, TaskContext, TaskError, TaskOutput};

    use super::*;

    fn ctx(inputs: Vec<(usize, DependencyOutcome)>) -> TaskContext {
        let plan = Plan::new(vec![
            Task::new("a", "Research Tokyo"),
            Task::new("b", "Research Paris"),
            Task::new("c", "Compare the cities").with_description("Use both inputs."),
        ]);
        TaskContext::new(Arc::new(plan), 2, 1, inputs)
    }

    fn ok(text: &str) -> DependencyOutcome {
        DependencyOutcome::Succeeded(Arc::new(TaskOutput::text(text)))
    }

    #[test]
    fn inputs_come_in_plan_order_with_titles() {
        let b = PromptBuilder {
            context_window: 8192,
            max_output_tokens: 256,
        };
        let (msgs, notes, _) = b
            .build(
                &ctx(vec![(0, ok("TOKYO-OUT")), (1, ok("PARIS-OUT"))]),
                "sys",
            )
            .unwrap();
        let user = &msgs[1].content;
        assert!(user.starts_with("# Task: Compare the cities\nUse both inputs."));
        let (t, p) = (
            user.find("## Research Tokyo (a)").unwrap(),
            user.find("## Research Paris (b)").unwrap(),
        );
        assert!(t < p && user.contains("TOKYO-OUT") && user.contains("PARIS-OUT"));
        assert!(notes.is_empty());
    }

    #[test]
    fn oversized_inputs_are_cut_visibly_and_reported() {
        let big = "x".repeat(30_000);
        let b = PromptBuilder {
            context_window: 2048,
            max_output_tokens: 256,
        };
        let (msgs, notes, estimate) = b
            .build(&ctx(vec![(0, ok(&big)), (1, ok("short"))]), "sys")
            .unwrap();
        let user = &msgs[1].content;
        assert!(user.contains("bytes of this input were cut to fit the model's context window"));
        assert!(
            user.contains("## Research Paris (b)"),
            "no input is dropped"
        );
        assert!(estimate <= 2048 - 256, "fits: {estimate}");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("Research Tokyo (a) (cut"), "{notes:?}");
    }

    #[test]
    fn failed_inputs_are_named_and_a_task_too_big_for_the_window_is_an_error() {
        let b = PromptBuilder {
            context_window: 8192,
            max_output_tokens: 256,
        };
        let failed = DependencyOutcome::Failed(TaskError::transient("429"));
        let (msgs, _, _) = b
            .build(&ctx(vec![(0, failed), (1, ok("p"))]), "sys")
            .unwrap();
        assert!(msgs[1].content.contains("## Research Tokyo (a) — FAILED"));
        let tiny = PromptBuilder {
            context_window: 300,
            max_output_tokens: 256,
        };
        let err = tiny.build(&ctx(vec![]), &"s".repeat(600)).unwrap_err();
        assert!(err.message().contains("does not fit"));
    }
}
