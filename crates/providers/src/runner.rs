//! The executor's `TaskRunner` for LLM tasks.

use std::collections::HashMap;
use std::sync::Arc;

use dagent_core::{
    BoxFuture, ChatProvider, ChatRequest, CostTracker, ProviderErrorKind, Task, TaskContext,
    TaskError, TaskErrorKind, TaskOutput, Usage,
};

use crate::prompt::default_system_prompt;
use crate::{Catalogue, CostLedger, PromptBuilder, Router, estimate_tokens};

/// Runs each task as one chat call: routes it to a model, builds the prompt from the task and
/// its dependencies' outputs (plan order), reserves the worst-case cost, calls the provider,
/// and settles the actual cost. When a model is unavailable (404) the next fallback is tried
/// at once; from the third attempt of a task on, the fallbacks are used in turn ("keeps
/// failing").
pub struct LlmRunner {
    providers: HashMap<String, Arc<dyn ChatProvider>>,
    catalogue: Catalogue,
    router: Router,
    ledger: Arc<CostLedger>,
    stream: HashMap<String, bool>,
}

impl std::fmt::Debug for LlmRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmRunner")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl LlmRunner {
    /// A runner over named providers, a catalogue, a router and a ledger.
    #[must_use]
    pub fn new(
        providers: HashMap<String, Arc<dyn ChatProvider>>,
        catalogue: Catalogue,
        router: Router,
        ledger: Arc<CostLedger>,
    ) -> Self {
        Self {
            providers,
            catalogue,
            router,
            ledger,
            stream: HashMap::new(),
        }
    }

    /// Streams answers from `provider`.
    #[must_use]
    pub fn with_streaming(mut self, provider: &str, stream: bool) -> Self {
        self.stream.insert(provider.to_owned(), stream);
        self
    }

    /// The ledger.
    #[must_use]
    pub fn ledger(&self) -> &Arc<CostLedger> {
        &self.ledger
    }

    fn chain(&self, task: &Task) -> Result<(crate::Route, Vec<String>), TaskError> {
        let route = self.router.route(task).ok_or_else(|| {
            TaskError::permanent(format!(
                "no model for task \"{}\": set model on the task, a model for its role, a routing table entry, or routing.default_model",
                task.id
            ))
        })?;
        let mut chain = vec![route.model.clone()];
        chain.extend(route.fallbacks.iter().cloned());
        Ok((route, chain))
    }

    async fn attempt(&self, ctx: TaskContext) -> Result<TaskOutput, TaskError> {
        let task = ctx.task();
        let (route, chain) = self.chain(task)?;
        let start = if ctx.attempt() >= 3 {
            ((ctx.attempt() - 2) as usize).min(chain.len() - 1)
        } else {
            0
        };
        let mut notes = Vec::new();
        let mut last_error = None;
        for model_name in &chain[start..] {
            let info = self.catalogue.get(model_name).ok_or_else(|| {
                TaskError::permanent(format!("unknown model \"{model_name}\": add it under [models.{model_name}] in dagent.toml"))
            })?;
            let provider = self.providers.get(&info.provider).ok_or_else(|| {
                TaskError::permanent(format!(
                    "model \"{model_name}\" names provider \"{}\", which is not configured",
                    info.provider
                ))
            })?;
            let max_tokens = route
                .max_tokens
                .unwrap_or(info.max_output_tokens)
                .min(info.max_output_tokens.max(1));
            let system = route
                .system_prompt
                .clone()
                .unwrap_or_else(|| default_system_prompt(task.role.as_deref(), &task.kind));
            let builder = PromptBuilder {
                context_window: info.context_window,
                max_output_tokens: max_tokens,
            };
            let (messages, mut prompt_notes, prompt_estimate) = builder.build(&ctx, &system)?;
            // Worst case: a generous prompt estimate and every allowed output token.
            let worst_prompt = prompt_estimate + prompt_estimate / 4 + 16;
            let worst = info
                .price
                .cost(Usage::new(worst_prompt, u64::from(max_tokens)));
            let reservation = self.ledger.reserve_when_possible(model_name, worst).await?;
            let request = ChatRequest {
                model: info.id.clone(),
                messages,
                temperature: route.temperature,
                top_p: route.top_p,
                max_tokens: Some(max_tokens),
                json_mode: false,
                tools: Vec::new(),
                stream: self.stream.get(&info.provider).copied().unwrap_or(false),
            };
            match provider.chat(&request).await {
                Ok(resp) => {
                    let usage = resp.usage.unwrap_or_else(|| {
                        notes.push(format!("{model_name} reported no usage; tokens estimated"));
                        Usage::new(prompt_estimate, estimate_tokens(&resp.content))
                    });
                    let cost = info.price.cost(usage);
                    self.ledger.settle_with_role(
                        reservation,
                        &task.id,
                        task.role.as_deref(),
                        model_name,
                        usage,
                        cost,
                    );
                    notes.append(&mut prompt_notes);
                    return Ok(TaskOutput {
                        text: resp.content,
                        usage: Some(usage),
                        cost: Some(cost),
                        model: Some(model_name.clone()),
                        notes,
                    });
                }
                Err(e) => {
                    self.ledger.release(reservation);
                    if e.kind() == ProviderErrorKind::NotFound {
                        notes.push(format!(
                            "{model_name} unavailable ({}); tried the next fallback",
                            e.message()
                        ));
                        last_error = Some(e);
                        continue;
                    }
                    return Err(e.into());
                }
            }
        }
        Err(last_error.map_or_else(
            || TaskError::new(TaskErrorKind::Permanent, "no model could run the task"),
            Into::into,
        ))
    }
}

impl dagent_core::TaskRunner for LlmRunner {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        Box::pin(self.attempt(ctx))
    }

    fn concurrency_key(&self, task: &Task) -> Option<String> {
        let route = self.router.route(task)?;
        self.catalogue.get(&route.model).map(|m| m.provider.clone())
    }
}
