//! Asking a model for the dependency graph, with strict validation, one repair attempt,
//! caching and cost tracking.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use dagent_core::{
    AnalyzeError, Billing, BoxFuture, ChatMessage, ChatProvider, ChatRequest, ChatRole,
    CostTracker, DependencyAnalyzer, DependencyMap, MeteredError, Plan, Price, Usage, metered_chat,
};

use crate::TaskGraph;

/// Asks a chat model for a JSON dependency map (JSON mode), parses it strictly (an object
/// wrapped in prose or a code fence is accepted), validates it (every step present, known ids,
/// no self-edges, no cycles), and on a bad answer shows the model its error once. A failure
/// is an [`AnalyzeError`] the fallback chain records. Results are cached by plan text and
/// model, so analysing the same plan again costs nothing.
pub struct LlmAnalyzer {
    provider: Arc<dyn ChatProvider>,
    model: String,
    price: Option<Price>,
    costs: Option<Arc<dyn CostTracker>>,
    cache: moka::future::Cache<u64, DependencyMap>,
}

impl std::fmt::Debug for LlmAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmAnalyzer")
            .field("provider", &self.provider.name())
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

const SYSTEM: &str = "You analyse task plans. For each step, list the earlier steps whose output it directly \
needs as input. A step that refers to an earlier result (\"the transcript\", \"the generated image\", \"the results \
above\", \"the draft\") needs the step that made it. Steps on different subjects, or that start from their own \
input, are independent. A step that compares, combines or summarises several results needs each of them. When \
nothing says otherwise, keep the listed order: a missed dependency is worse than an extra one. The hints come \
from a rule-based reading of the wording; use them, but correct them where the steps say otherwise. Answer with \
one JSON object only: keys are step ids, values are arrays of step ids.";

/// At most this many hint lines go into a prompt (large plans get the first ones).
const MAX_HINTS: usize = 200;

impl LlmAnalyzer {
    /// An analyzer asking `model` (the provider's model id) through `provider`.
    #[must_use]
    pub fn new(provider: Arc<dyn ChatProvider>, model: impl Into<String>) -> Self {
        Self {
            provider,
            model: model.into(),
            price: None,
            costs: None,
            cache: moka::future::Cache::new(256),
        }
    }

    /// Tracks the cost of each analysis call at `price` in `costs`.
    #[must_use]
    pub fn with_costs(mut self, price: Price, costs: Arc<dyn CostTracker>) -> Self {
        self.price = Some(price);
        self.costs = Some(costs);
        self
    }

    fn key(&self, plan: &Plan) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.model.hash(&mut h);
        for t in &plan.tasks {
            (
                t.id.as_str(),
                t.title.as_str(),
                t.description.as_str(),
                t.kind.as_str(),
            )
                .hash(&mut h);
        }
        h.finish()
    }

    /// The user message: the steps numbered in plan order with their ids, kinds and
    /// descriptions; the heuristic's evidence as hints; the answer's shape.
    fn prompt(plan: &Plan) -> String {
        use std::fmt::Write as _;
        let mut s = String::from(
            "Steps, numbered in plan order (a step can only depend on earlier steps):\n",
        );
        for (i, t) in plan.tasks.iter().enumerate() {
            let kind = if t.kind.as_str().is_empty() {
                String::new()
            } else {
                format!(" [{}]", t.kind)
            };
            let _ = write!(s, "{}. id \"{}\"{kind}: {}", i + 1, t.id, t.title);
            if !t.description.is_empty() {
                let _ = write!(s, " — {}", t.description);
            }
            s.push('\n');
        }
        let inference = crate::HeuristicAnalyzer.explain(plan);
        let step = |i: usize| format!("{} (\"{}\")", i + 1, plan.tasks[i].id);
        let mut hints: Vec<String> = Vec::new();
        for e in &inference.edges {
            let words = if e.words.is_empty() {
                String::new()
            } else {
                format!(", from the words \"{}\"", e.words)
            };
            hints.push(format!(
                "- step {} needs step {}: {}{words}",
                step(e.to),
                step(e.from),
                e.rule
            ));
        }
        for x in &inference.independent {
            hints.push(format!(
                "- step {} does not need step {}: {}",
                step(x.task),
                step(x.task - 1),
                x.reason
            ));
        }
        if !hints.is_empty() {
            let _ = writeln!(
                s,
                "\nHints (rule-based, confidence {:.2}; check them against the steps):",
                inference.confidence
            );
            let more = hints.len().saturating_sub(MAX_HINTS);
            for h in hints.into_iter().take(MAX_HINTS) {
                s.push_str(&h);
                s.push('\n');
            }
            if more > 0 {
                let _ = writeln!(s, "- … and {more} more");
            }
        }
        let example = plan
            .tasks
            .first()
            .map_or_else(|| "step-1".to_owned(), |t| t.id.to_string());
        let _ = write!(
            s,
            "\nReturn a JSON object with every step id as a key and the list of the ids of the earlier steps it needs as the value, e.g. {{\"{example}\": []}}."
        );
        s
    }

    async fn ask(
        &self,
        messages: Vec<ChatMessage>,
        plan: &Plan,
    ) -> Result<(String, Option<Usage>), AnalyzeError> {
        #[allow(clippy::cast_possible_truncation)]
        let max_tokens = (plan.tasks.len() as u32)
            .saturating_mul(24)
            .saturating_add(64)
            .min(4096);
        let request = ChatRequest {
            model: self.model.clone(),
            messages,
            temperature: Some(0.0),
            max_tokens: Some(max_tokens),
            json_mode: true,
            ..ChatRequest::default()
        };
        // Paid calls take the one metered path (reserve the worst case, call, settle).
        let resp = match (&self.costs, self.price) {
            (Some(costs), Some(price)) => {
                let billing = Billing::new(crate::ANALYSIS_TASK, self.model.clone());
                metered_chat(
                    self.provider.as_ref(),
                    costs.as_ref(),
                    price,
                    &request,
                    billing,
                )
                .await
                .map(|done| done.response)
                .map_err(|e| match e {
                    MeteredError::Budget(e) => AnalyzeError::new(e.message()),
                    MeteredError::Provider(e) => {
                        AnalyzeError::new(format!("the model call failed: {e}"))
                    }
                })?
            }
            _ => self
                .provider
                .chat(&request)
                .await
                .map_err(|e| AnalyzeError::new(format!("the model call failed: {e}")))?,
        };
        Ok((resp.content, resp.usage))
    }

    async fn run(&self, plan: &Plan) -> Result<DependencyMap, AnalyzeError> {
        if plan.is_empty() {
            return Ok(DependencyMap::new(0));
        }
        let key = self.key(plan);
        if let Some(hit) = self.cache.get(&key).await {
            return Ok(hit);
        }
        let mut messages = vec![
            ChatMessage::system(SYSTEM),
            ChatMessage::user(Self::prompt(plan)),
        ];
        let (answer, _) = self.ask(messages.clone(), plan).await?;
        let map = match parse_answer(&answer, plan) {
            Ok(map) => map,
            Err(first) => {
                messages.push(ChatMessage {
                    role: ChatRole::Assistant,
                    content: answer,
                });
                messages.push(ChatMessage::user(format!(
                    "That answer is invalid: {first}. Reply with the corrected JSON object only, with every step id as a key."
                )));
                let (again, _) = self.ask(messages, plan).await?;
                parse_answer(&again, plan).map_err(|second| {
                    AnalyzeError::new(format!(
                        "invalid answer ({first}), and again after one repair attempt ({second})"
                    ))
                })?
            }
        };
        self.cache.insert(key, map.clone()).await;
        Ok(map)
    }
}

impl DependencyAnalyzer for LlmAnalyzer {
    fn name(&self) -> &str {
        "llm"
    }

    fn analyze<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, Result<DependencyMap, AnalyzeError>> {
        Box::pin(self.run(plan))
    }
}

/// The JSON object in an answer: the whole text, or inside a code fence, or the outermost
/// `{…}` in prose.
pub(crate) fn extract_object(answer: &str) -> Option<&str> {
    let t = answer.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .map_or(t, |rest| rest.split("```").next().unwrap_or(rest));
    let start = t.find('{')?;
    // A truncated answer has no closing brace: hand the rest to the parser, which says so.
    let end = t
        .rfind('}')
        .filter(|&e| e > start)
        .map_or(t.len(), |e| e + 1);
    Some(&t[start..end])
}

/// Parses and validates a model's answer into a dependency map.
///
/// # Errors
/// A message for the model (and the fallback record) naming what is wrong.
pub(crate) fn parse_answer(answer: &str, plan: &Plan) -> Result<DependencyMap, String> {
    let text = extract_object(answer).ok_or_else(|| "no JSON object found".to_owned())?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| "the JSON is not an object".to_owned())?;
    let index: HashMap<&str, usize> = plan
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    let resolve = |v: &serde_json::Value| -> Result<usize, String> {
        let id = match v {
            serde_json::Value::String(s) => s.trim().to_owned(),
            serde_json::Value::Number(n) => format!("step-{n}"),
            other => return Err(format!("dependency {other} is not a step id")),
        };
        index
            .get(id.as_str())
            .copied()
            .ok_or_else(|| format!("unknown step id \"{id}\""))
    };
    let mut lists = vec![Vec::new(); plan.tasks.len()];
    for (key, deps) in obj {
        let t = *index
            .get(key.trim())
            .ok_or_else(|| format!("unknown step id \"{key}\""))?;
        let deps = deps
            .as_array()
            .ok_or_else(|| format!("the value of \"{key}\" is not an array"))?;
        for d in deps {
            let d = resolve(d)?;
            if d == t {
                return Err(format!("step \"{key}\" depends on itself"));
            }
            lists[t].push(d);
        }
    }
    let missing: Vec<&str> = plan
        .tasks
        .iter()
        .filter(|t| !obj.contains_key(t.id.as_str()))
        .map(|t| t.id.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "steps missing from the answer: {}",
            missing.join(", ")
        ));
    }
    let map = DependencyMap::from_lists(lists);
    TaskGraph::new(plan, map.clone()).map_err(|e| e.message().to_owned())?;
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dagent_core::Task;

    fn plan() -> Plan {
        Plan::new(vec![
            Task::new("step-1", "A"),
            Task::new("step-2", "B"),
            Task::new("step-3", "C"),
        ])
    }

    #[test]
    fn the_prompt_numbers_steps_and_gives_the_heuristic_hints() {
        let mut p = Plan::new(vec![
            Task::new("asr", "Speech-to-Text"),
            Task::new("sum", "Summarization"),
            Task::new("kw", "Keyword Extraction"),
        ]);
        p.tasks[0].description = "Transcribe talk.mp3.".into();
        p.tasks[1].description = "Summarise the transcript.".into();
        p.tasks[2].description = "Extract keywords from the transcript.".into();
        let prompt = LlmAnalyzer::prompt(&p);
        assert!(
            prompt.contains("1. id \"asr\": Speech-to-Text — Transcribe talk.mp3."),
            "{prompt}"
        );
        assert!(prompt.contains("3. id \"kw\""), "{prompt}");
        assert!(
            prompt.contains("- step 3 (\"kw\") needs step 1 (\"asr\"): reference, from the words \"the transcript\""),
            "{prompt}"
        );
        assert!(
            prompt.contains("- step 3 (\"kw\") does not need step 2 (\"sum\")"),
            "{prompt}"
        );
    }

    #[test]
    fn accepts_prose_and_fences() {
        let p = plan();
        for a in [
            r#"{"step-1": [], "step-2": [], "step-3": ["step-1", "step-2"]}"#,
            "Here you go:\n```json\n{\"step-1\": [], \"step-2\": [], \"step-3\": [\"step-1\", 2]}\n```\nDone.",
            "Sure! {\"step-1\": [], \"step-2\": [], \"step-3\": [\"step-1\", \"step-2\"]} Hope it helps.",
        ] {
            assert_eq!(parse_answer(a, &p).unwrap().deps_of(2), &[0, 1], "{a}");
        }
    }

    #[test]
    fn rejects_bad_answers_with_reasons() {
        let p = plan();
        for (a, why) in [
            ("no json here", "no JSON object"),
            ("{\"step-1\": [", "not valid JSON"),
            (
                r#"{"step-1": [], "step-2": ["step-9"], "step-3": []}"#,
                "unknown step id \"step-9\"",
            ),
            (
                r#"{"step-1": ["step-2"], "step-2": ["step-1"], "step-3": []}"#,
                "cycle",
            ),
            (
                r#"{"step-1": [], "step-2": []}"#,
                "missing from the answer: step-3",
            ),
            (
                r#"{"step-1": ["step-1"], "step-2": [], "step-3": []}"#,
                "depends on itself",
            ),
        ] {
            let err = parse_answer(a, &p).unwrap_err();
            assert!(err.contains(why), "{a}: {err}");
        }
    }
}
