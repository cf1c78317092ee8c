//! From a request to a plan: how big the plan should be, and asking a model to write it.
//!
//! [`PlanComplexity::infer`] reads the request; each complexity is a range of steps
//! ([`PlanComplexity::steps`], after the agent-pools system's thresholds). A simple request
//! becomes a one-step plan without any model call ([`one_step_plan`]). Otherwise a
//! [`Planner`] asks a model (JSON mode, through the one metered call path) for a native plan,
//! which the caller's parser reads strictly; the plan is then checked here (step count,
//! every `depends_on` declared, ids, references and cycles through the graph kernel). A bad
//! answer is shown to the model with its error once; a second bad answer is a
//! [`PlanFailure`] that keeps every answer, so the caller can save them for inspection.

use std::ops::RangeInclusive;
use std::sync::Arc;

use dagent_core::{
    Billing, ChatMessage, ChatProvider, ChatRequest, ChatRole, CostTracker, MeteredError, Money,
    Plan, Price, Task, TaskKind, Usage, metered_chat,
};

/// The task name planning is billed under in a cost tracker.
pub const PLANNING_TASK: &str = "(planning)";

/// How big a request is, and so how many steps its plan may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlanComplexity {
    /// One step: nothing to split.
    Simple,
    /// 2 to 20 steps.
    Medium,
    /// 5 to 50 steps.
    Complex,
    /// 10 to 100 steps.
    Massive,
}

impl PlanComplexity {
    /// Parses `simple`, `medium`, `complex` or `massive`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "simple" => Some(Self::Simple),
            "medium" => Some(Self::Medium),
            "complex" => Some(Self::Complex),
            "massive" => Some(Self::Massive),
            _ => None,
        }
    }

    /// The name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Medium => "medium",
            Self::Complex => "complex",
            Self::Massive => "massive",
        }
    }

    /// The steps a plan of this complexity has. The upper bounds are the agent-pools
    /// system's microtask counts for medium (20), complex (50) and massive (100); its simple
    /// tasks use a single agent, so a simple plan has one step.
    #[must_use]
    pub const fn steps(self) -> RangeInclusive<usize> {
        match self {
            Self::Simple => 1..=1,
            Self::Medium => 2..=20,
            Self::Complex => 5..=50,
            Self::Massive => 10..=100,
        }
    }

    /// Infers the complexity of a request from its size and structure, and says why.
    ///
    /// The rule counts words and *parts*: list items (lines starting with `-`, `*`, `•` or
    /// `N.`/`N)`) plus sentences (ends of `.`, `!`, `?` followed by more text, and
    /// semicolons). Massive: 150 words or more, or 25 parts or more. Complex: 60 words or
    /// more, or 8 parts or more. Simple: under 12 words, a single part, and no list.
    /// Everything else is medium.
    #[must_use]
    pub fn infer(request: &str) -> (Self, String) {
        let words = request.split_whitespace().count();
        let items = request
            .lines()
            .map(str::trim_start)
            .filter(|l| {
                l.starts_with(['-', '*', '•'])
                    || l.split_once(['.', ')']).is_some_and(|(n, _)| {
                        !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit())
                    })
            })
            .count();
        let text = request.trim();
        let breaks = text
            .char_indices()
            .filter(|&(i, c)| {
                (matches!(c, '.' | '!' | '?')
                    && text[i + c.len_utf8()..].starts_with(char::is_whitespace)
                    && !text[i + c.len_utf8()..].trim().is_empty())
                    || c == ';'
            })
            .count();
        let parts = items + breaks + 1;
        let why = format!(
            "{words} word{}, {parts} part{}",
            if words == 1 { "" } else { "s" },
            if parts == 1 { "" } else { "s" }
        );
        let c = if words >= 150 || parts >= 25 {
            Self::Massive
        } else if words >= 60 || parts >= 8 {
            Self::Complex
        } else if words < 12 && parts == 1 && items == 0 {
            Self::Simple
        } else {
            Self::Medium
        };
        (c, why)
    }
}

/// The plan of a simple request: one step that does the whole request.
#[must_use]
pub fn one_step_plan(request: &str) -> Plan {
    let request = request.trim();
    let title: String = request.chars().take(80).collect();
    let mut task = Task::new("answer", title).with_description(request);
    task.kind = TaskKind::Report;
    task.role = Some("writer".to_owned());
    task.depends_on = Some(Vec::new());
    let mut plan = Plan::new(vec![task]);
    plan.title = Some(request.chars().take(80).collect());
    plan
}

/// What the planner is asked for, and how.
#[derive(Clone, Debug)]
pub struct PlanRequest<'a> {
    /// The user's request.
    pub request: &'a str,
    /// The plan's size: at least `steps.start()` (asked for), at most `steps.end()` (enforced).
    pub steps: RangeInclusive<usize>,
    /// The complexity, named in the prompt.
    pub complexity: PlanComplexity,
    /// Roles the model may assign, with what each does.
    pub roles: Vec<(String, String)>,
    /// The planner role's system prompt.
    pub system_prompt: String,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Cap on generated tokens.
    pub max_tokens: u32,
}

/// A plan the model wrote and the checks accepted.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The plan.
    pub plan: Plan,
    /// Every answer, the accepted one last.
    pub answers: Vec<String>,
    /// Tokens used by every call.
    pub usage: Usage,
    /// What every call cost.
    pub cost: Money,
}

/// Why no plan was accepted; the answers are kept for inspection.
#[derive(Clone, Debug)]
pub struct PlanFailure {
    /// What was wrong (both times, after a repair attempt).
    pub message: String,
    /// Every answer the model gave.
    pub answers: Vec<String>,
    /// What the calls cost.
    pub cost: Money,
}

impl std::fmt::Display for PlanFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PlanFailure {}

/// Asks a model for a plan. See the module documentation.
pub struct Planner {
    provider: Arc<dyn ChatProvider>,
    model: String,
    billed_as: String,
    price: Price,
    costs: Arc<dyn CostTracker>,
}

impl std::fmt::Debug for Planner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planner")
            .field("provider", &self.provider.name())
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

/// The strict parser the caller supplies: the answer's JSON text to a plan, or a message
/// (with a line and column) saying what is wrong.
pub type PlanParser<'a> = dyn Fn(&str) -> Result<Plan, String> + 'a;

impl Planner {
    /// A planner asking `model` (the provider's id) through `provider`, billing each call
    /// at `price` to `costs` under the catalogue name `billed_as`.
    #[must_use]
    pub fn new(
        provider: Arc<dyn ChatProvider>,
        model: impl Into<String>,
        billed_as: impl Into<String>,
        price: Price,
        costs: Arc<dyn CostTracker>,
    ) -> Self {
        Self {
            provider,
            model: model.into(),
            billed_as: billed_as.into(),
            price,
            costs,
        }
    }

    fn prompt(req: &PlanRequest<'_>) -> String {
        let roles: Vec<String> = req
            .roles
            .iter()
            .map(|(name, what)| format!("{name} ({what})"))
            .collect();
        let (lo, hi) = (*req.steps.start(), *req.steps.end());
        format!(
            "The request:\n<<<\n{}\n>>>\n\n\
Write a plan of {lo} to {hi} steps for it (the request is {}). Answer with one JSON object only, in this shape:\n\
{{\"title\": \"…\", \"tasks\": [{{\"id\": \"short-id\", \"title\": \"…\", \"description\": \"what to do and what to produce\", \
\"kind\": \"research|analysis|processing|report\", \"role\": \"…\", \"estimate\": \"30s\", \"depends_on\": []}}]}}\n\n\
Rules:\n\
- ids are unique, short, lowercase words joined by hyphens;\n\
- depends_on lists the ids of the earlier steps whose output the step needs ([] for none); steps that do not need each other's output must not depend on each other, so that they run in parallel;\n\
- role is one of: {};\n\
- estimate is how long the step takes, like \"30s\" or \"2m\";\n\
- no other fields, at most {hi} steps.",
            req.request.trim(),
            req.complexity.as_str(),
            roles.join(", ")
        )
    }

    async fn ask(
        &self,
        messages: Vec<ChatMessage>,
        req: &PlanRequest<'_>,
    ) -> Result<(String, Usage, Money), String> {
        let request = ChatRequest {
            model: self.model.clone(),
            messages,
            temperature: req.temperature,
            top_p: req.top_p,
            max_tokens: Some(req.max_tokens),
            json_mode: true,
            ..ChatRequest::default()
        };
        let billing = Billing::new(PLANNING_TASK, self.billed_as.clone())
            .with_role(Some("planner".to_owned()));
        metered_chat(
            self.provider.as_ref(),
            self.costs.as_ref(),
            self.price,
            &request,
            billing,
        )
        .await
        .map(|done| (done.response.content, done.usage, done.cost))
        .map_err(|e| match e {
            MeteredError::Budget(e) => e.message().to_owned(),
            MeteredError::Provider(e) => format!("the model call failed: {e}"),
        })
    }

    /// Asks for a plan, checks it, and on a bad answer asks once more with the error.
    ///
    /// # Errors
    /// A [`PlanFailure`] when the call fails or both answers are bad.
    pub async fn plan(
        &self,
        req: &PlanRequest<'_>,
        parse: &PlanParser<'_>,
    ) -> Result<Planned, PlanFailure> {
        let mut messages = vec![
            ChatMessage::system(req.system_prompt.clone()),
            ChatMessage::user(Self::prompt(req)),
        ];
        let mut answers = Vec::new();
        let mut usage = Usage::default();
        let mut cost = Money::ZERO;
        let mut first_error: Option<String> = None;
        loop {
            let (answer, u, c) =
                self.ask(messages.clone(), req)
                    .await
                    .map_err(|m| PlanFailure {
                        message: match &first_error {
                            None => m,
                            Some(first) => {
                                format!("invalid plan ({first}); the repair attempt failed: {m}")
                            }
                        },
                        answers: answers.clone(),
                        cost,
                    })?;
            usage += u;
            cost += c;
            answers.push(answer.clone());
            match check(&answer, req, parse) {
                Ok(plan) => {
                    return Ok(Planned {
                        plan,
                        answers,
                        usage,
                        cost,
                    });
                }
                Err(e) => match first_error {
                    None => {
                        messages.push(ChatMessage {
                            role: ChatRole::Assistant,
                            content: answer,
                        });
                        messages.push(ChatMessage::user(format!(
                            "That plan is invalid: {e}. Reply with the corrected JSON object only."
                        )));
                        first_error = Some(e);
                    }
                    Some(first) => {
                        return Err(PlanFailure {
                            message: format!(
                                "invalid plan ({first}), and again after one repair attempt ({e})"
                            ),
                            answers,
                            cost,
                        });
                    }
                },
            }
        }
    }
}

/// Parses and checks one answer.
fn check(answer: &str, req: &PlanRequest<'_>, parse: &PlanParser<'_>) -> Result<Plan, String> {
    let text = crate::strategy::llm::extract_object(answer)
        .ok_or_else(|| "no JSON object found".to_owned())?;
    let plan = parse(text)?;
    let max = *req.steps.end();
    if plan.tasks.len() > max {
        return Err(format!(
            "the plan has {} steps, more than the {max} allowed",
            plan.tasks.len()
        ));
    }
    if let Some(t) = plan.tasks.iter().find(|t| t.depends_on.is_none()) {
        return Err(format!(
            "task \"{}\" has no depends_on: every task needs one ([] for none)",
            t.id
        ));
    }
    crate::validate_plan(&plan).map_err(|e| e.message().to_owned())?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complexity_follows_size_and_structure() {
        let c = |s: &str| PlanComplexity::infer(s).0;
        assert_eq!(c("Hello"), PlanComplexity::Simple);
        assert_eq!(
            c("Summarise the causes of the French Revolution"),
            PlanComplexity::Simple
        );
        assert_eq!(
            c("Create a Python FIFO queue class with thread safety, a capacity and timeouts"),
            PlanComplexity::Medium
        );
        assert_eq!(
            c("Write a haiku. Then translate it."),
            PlanComplexity::Medium
        );
        assert_eq!(c("Build it:\n- a\n- b"), PlanComplexity::Medium);
        let list: String = (1..=9).map(|i| format!("{i}. item\n")).collect();
        assert_eq!(c(&list), PlanComplexity::Complex);
        assert_eq!(c(&"word ".repeat(60)), PlanComplexity::Complex);
        assert_eq!(c(&"word ".repeat(150)), PlanComplexity::Massive);
        assert_eq!(c("v1.2 is out"), PlanComplexity::Simple);
    }

    #[test]
    fn a_simple_request_is_one_declared_step() {
        let p = one_step_plan("  Say hello  ");
        assert_eq!(p.tasks.len(), 1);
        assert_eq!(p.tasks[0].description, "Say hello");
        assert!(crate::validate_plan(&p).is_ok());
    }
}
