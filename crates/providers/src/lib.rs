//! # dagent-providers
//!
//! Everything that talks to language models, behind the ports of `dagent-core`:
//!
//! * [`OpenAiCompatible`] — OpenRouter, LM Studio, llama.cpp's server, vLLM, any
//!   `/v1/chat/completions` server; streaming (SSE) and not, JSON mode, tools, `usage`;
//! * [`Ollama`] — Ollama's native `/api/chat` (NDJSON streaming);
//! * [`EndpointPool`] — several servers behind one provider: least-busy, round-robin,
//!   weighted, priority or lowest-latency; cooldown after `allowed_fails`, health checks,
//!   failover to another endpoint within one call;
//! * [`AdaptiveLimit`] and [`RateLimited`] — adaptive (AIMD) concurrency per endpoint, and
//!   requests/tokens per minute per provider and model, as `ChatProvider` decorators;
//! * [`Catalogue`] and [`Router`] — model prices and the routing of tasks to models by
//!   tier × kind × complexity, role, per-task override and fallbacks;
//! * [`CostLedger`] — exact cost accounting and a budget cap that is never crossed
//!   (reserve the worst case before a call, settle on the reported usage after);
//! * [`LlmRunner`] — the executor's `TaskRunner` for LLM tasks: prompt = system prompt +
//!   task + dependencies' outputs in plan order, shortened visibly to fit the context; every
//!   call goes through the core's one metered path (`dagent_core::metered_chat`);
//! * [`Providers`] — the wiring: clients for configured [`ProviderSpec`]s, the pre-run
//!   routing check, per-provider limits, the runner, the analyzer's client.
//!
//! The design choice to know: errors are classified once, here, into the core's
//! transient/permanent classes with any `Retry-After` hint, so the executor's retry policy
//! never sees HTTP. API keys live in [`ApiKey`], whose `Debug` is redacted; every key
//! constructed is registered with one scrubbing layer ([`scrub_secrets`]) that every body,
//! stream line, answer and error from a provider passes through.
#![deny(missing_docs)]

mod adaptive;
mod catalogue;
mod cost;
mod error;
mod http;
mod ollama;
mod openai;
mod pool;
mod projection;
mod prompt;
mod rate;
pub mod roles;
mod router;
mod runner;
mod secret;
mod stepdown;
mod wiring;

pub use adaptive::{Adaptive, AdaptiveLimit, AdaptivePermit, AdaptiveState, BACKOFF_RATIO};
pub use catalogue::{BUILTIN_PRICES_AS_OF, Catalogue, ModelInfo, ProviderKind, ProviderSpec};
pub use cost::{CostLedger, CostSummary, Drift, Overrun, Totals};
pub use dagent_core::estimate_tokens;
pub use error::{
    MAX_RETRY_AFTER, classify_status, is_backpressure, parse_rate_limit_reset, parse_retry_after,
    rate_limit_wait,
};
pub use http::validate_base_url;
pub use ollama::Ollama;
pub use openai::OpenAiCompatible;
pub use pool::{Balance, Endpoint, EndpointPool, EndpointStats, PoolPolicy};
pub use projection::{Projection, TaskProjection, TokenSource, project, project_tiers, tier_below};
pub use prompt::{PromptBuilder, default_system_prompt};
pub use rate::{RateLimited, RateLimits, request_tokens};
pub use roles::{BUILTIN_ROLES, BuiltinRole, builtin_role};
pub use router::{Complexity, RoleSettings, Route, Router, RoutingTable, TaskCategory, Tier};
pub use runner::LlmRunner;
pub use secret::{ApiKey, scrub_secrets};
pub use stepdown::{OnExhaustion, StepDown, StepDownEvent};
pub use wiring::{
    DEFAULT_ADAPTIVE_MAX, Providers, WiringError, WiringErrorKind, check_routes, client_for_model,
    key_limits,
};
