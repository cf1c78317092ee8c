//! The executor's `TaskRunner` for LLM tasks.

use std::collections::HashMap;
use std::sync::Arc;

use dagent_core::{
    Alternative, Billing, BoxFuture, ChatProvider, ChatRequest, CostTracker, MeteredError,
    ProviderErrorKind, Task, TaskContext, TaskError, TaskErrorKind, TaskOutput, metered_chat_with,
};

use tracing::Instrument;

use crate::prompt::default_system_prompt;
use crate::{Catalogue, PromptBuilder, Router};

/// Runs each task as one chat call: routes it to a model, builds the prompt from the task and
/// its dependencies' outputs (plan order), and sends it through the one metered call path
/// ([`dagent_core::metered_chat`]: reserve the worst case in the [`CostTracker`], call,
/// settle the actual cost). When a model is unavailable (404) the next fallback is tried
/// at once; from the third attempt of a task on, the fallbacks are used in turn ("keeps
/// failing").
pub struct LlmRunner {
    providers: HashMap<String, Arc<dyn ChatProvider>>,
    catalogue: Catalogue,
    router: Router,
    tracker: Arc<dyn CostTracker>,
    stream: HashMap<String, bool>,
    step_down: Option<Arc<crate::StepDown>>,
    provider_routing: HashMap<String, String>,
}

impl std::fmt::Debug for LlmRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmRunner")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl LlmRunner {
    /// A runner over named providers, a catalogue, a router and a cost tracker (usually a
    /// [`crate::CostLedger`]).
    #[must_use]
    pub fn new(
        providers: HashMap<String, Arc<dyn ChatProvider>>,
        catalogue: Catalogue,
        router: Router,
        tracker: Arc<dyn CostTracker>,
    ) -> Self {
        Self {
            providers,
            catalogue,
            router,
            tracker,
            stream: HashMap::new(),
            step_down: None,
            provider_routing: HashMap::new(),
        }
    }

    /// Routes tasks one tier down when the budget left cannot cover the rest of the plan
    /// (`[budget] on_exhaustion = "step_down"`).
    #[must_use]
    pub fn with_step_down(mut self, step_down: Arc<crate::StepDown>) -> Self {
        self.step_down = Some(step_down);
        self
    }

    /// Sends OpenRouter's provider-routing preferences `json` (the request's `provider`
    /// object) with every call to `provider`'s models that set none of their own.
    #[must_use]
    pub fn with_provider_routing(mut self, provider: &str, json: Option<String>) -> Self {
        if let Some(j) = json {
            self.provider_routing.insert(provider.to_owned(), j);
        }
        self
    }

    /// Streams answers from `provider`.
    #[must_use]
    pub fn with_streaming(mut self, provider: &str, stream: bool) -> Self {
        self.stream.insert(provider.to_owned(), stream);
        self
    }

    /// The cost tracker.
    #[must_use]
    pub fn tracker(&self) -> &Arc<dyn CostTracker> {
        &self.tracker
    }

    fn chain(
        &self,
        task: &Task,
        tier: Option<crate::Tier>,
    ) -> Result<(crate::Route, Vec<String>), TaskError> {
        let route = match tier {
            Some(tier) if tier != self.router.tier => {
                let mut router = self.router.clone();
                router.tier = tier;
                router.route(task)
            }
            _ => self.router.route(task),
        };
        let route = route.ok_or_else(|| {
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
        let tier = self
            .step_down
            .as_ref()
            .map(|s| s.tier_for(ctx.index(), &task.id));
        let (route, chain) = self.chain(task, tier)?;
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
            let (messages, mut prompt_notes, _) = builder.build(&ctx, &system)?;
            let alternatives: Vec<Alternative> = info
                .fallback_models
                .iter()
                .filter_map(|n| self.catalogue.get(n))
                .map(|m| Alternative {
                    id: m.id.clone(),
                    name: m.name.clone(),
                    price: m.price,
                })
                .collect();
            let mut extra_body = Vec::new();
            if let Some(r) = info
                .provider_routing
                .as_ref()
                .or_else(|| self.provider_routing.get(&info.provider))
            {
                extra_body.push(("provider".to_owned(), r.clone()));
            }
            if !alternatives.is_empty() {
                let ids: Vec<&str> = std::iter::once(info.id.as_str())
                    .chain(alternatives.iter().map(|a| a.id.as_str()))
                    .collect();
                extra_body.push((
                    "models".to_owned(),
                    serde_json::to_string(&ids).unwrap_or_default(),
                ));
            }
            let request = ChatRequest {
                model: info.id.clone(),
                messages,
                temperature: route.temperature,
                top_p: route.top_p,
                max_tokens: Some(max_tokens),
                json_mode: false,
                tools: Vec::new(),
                stream: self.stream.get(&info.provider).copied().unwrap_or(false),
                extra_body,
            };
            let billing =
                Billing::new(task.id.clone(), model_name.clone()).with_role(task.role.clone());
            // The provider call's span follows OpenTelemetry's GenAI conventions; it holds no
            // secret (keys never leave the client) and its text fields come from scrubbed
            // provider answers.
            // Numbers are i64: OpenTelemetry has no unsigned integers (an exporter would
            // turn a u64 into text). `otel.*` fields name and classify the span for an OpenTelemetry export
            // ("chat MODEL", a client span); `endpoint` is the provider whose limits apply.
            let span = tracing::info_span!(
                "provider_call",
                otel.name = %format_args!("chat {}", info.id),
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                gen_ai.operation.name = "chat",
                gen_ai.system = %info.provider,
                gen_ai.provider.name = %info.provider,
                gen_ai.request.model = %info.id,
                gen_ai.request.max_tokens = i64::from(max_tokens),
                gen_ai.response.model = tracing::field::Empty,
                gen_ai.usage.input_tokens = tracing::field::Empty,
                gen_ai.usage.output_tokens = tracing::field::Empty,
                error.type = tracing::field::Empty,
                task = %task.id,
                attempt = i64::from(ctx.attempt()),
                model = %model_name,
                endpoint = %info.provider,
                cost_nanos = tracing::field::Empty,
                cost_usd = tracing::field::Empty,
                status = tracing::field::Empty,
            );
            let started = std::time::Instant::now();
            let outcome = metered_chat_with(
                provider.as_ref(),
                self.tracker.as_ref(),
                info.price,
                &alternatives,
                &request,
                billing,
            )
            .instrument(span.clone())
            .await;
            let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            match &outcome {
                Ok(done) => {
                    span.record("gen_ai.response.model", done.response.model.as_str());
                    span.record("gen_ai.usage.input_tokens", int(done.usage.prompt_tokens));
                    span.record(
                        "gen_ai.usage.output_tokens",
                        int(done.usage.completion_tokens),
                    );
                    span.record("cost_nanos", int(done.cost.nanos()));
                    // For trace viewers only; sums stay in exact nano-dollars.
                    #[allow(clippy::cast_precision_loss)]
                    span.record("cost_usd", done.cost.nanos() as f64 / 1e9);
                    span.record("status", "ok");
                    span.in_scope(|| tracing::debug!(latency_ms, "model answered"));
                }
                Err(e) => {
                    let why = match e {
                        MeteredError::Provider(p) if p.kind().is_transient() => "transient",
                        MeteredError::Provider(_) => "permanent",
                        _ => "refused",
                    };
                    span.record("status", why);
                    span.record("otel.status_code", "ERROR");
                    span.record(
                        "error.type",
                        match e {
                            MeteredError::Provider(p) => p.kind().as_str(),
                            _ => "budget",
                        },
                    );
                    span.in_scope(|| tracing::info!(latency_ms, error = %e, "model call failed"));
                }
            }
            match outcome {
                Ok(done) => {
                    if done.usage_estimated {
                        notes.push(format!(
                            "{model_name} reported no usage; billed at the upper bound"
                        ));
                    }
                    if &done.model != model_name {
                        notes.push(format!(
                            "{} answered instead of {model_name} (provider fallback) and is billed at its price",
                            done.model
                        ));
                    }
                    notes.append(&mut prompt_notes);
                    if let (Some(s), Some(tier)) = (&self.step_down, tier) {
                        s.finished(ctx.index());
                        if tier != self.router.tier {
                            notes.push(format!(
                                "routed at the {tier} tier instead of {}: the budget left could not cover the rest of the plan",
                                self.router.tier
                            ));
                        }
                    }
                    return Ok(TaskOutput {
                        text: done.response.content,
                        usage: Some(done.usage),
                        cost: Some(done.cost),
                        model: Some(done.model),
                        reported_cost: done.reported_cost,
                        notes,
                    });
                }
                Err(MeteredError::Provider(e)) if e.kind() == ProviderErrorKind::NotFound => {
                    notes.push(format!(
                        "{model_name} unavailable ({}); tried the next fallback",
                        e.message()
                    ));
                    last_error = Some(e);
                }
                Err(e) => return Err(e.into()),
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

/// A count as a span field (saturating: OpenTelemetry integers are signed).
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
