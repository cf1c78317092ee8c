//! Wiring configured providers into runnable pieces: a client for every [`ProviderSpec`],
//! the pre-run routing check, per-provider concurrency limits, the [`LlmRunner`] and the
//! client of one model (for the LLM dependency analyzer). The CLI is one caller; a library
//! user builds the same things without it (see `examples/run_with_providers.rs`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use dagent_core::{ChatProvider, CostTracker, Plan};

use crate::http::validate_base_url;
use crate::{
    AdaptiveLimit, ApiKey, Catalogue, Endpoint, EndpointPool, EndpointStats, LlmRunner, ModelInfo,
    Ollama, OpenAiCompatible, ProviderKind, ProviderSpec, RateLimited, Router,
};

/// What kind of wiring failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WiringErrorKind {
    /// No provider is configured at all.
    NoProviders,
    /// A task routes to no model.
    NoRoute,
    /// A task or the caller names a model the catalogue does not define.
    UnknownModel,
    /// A model is served by a provider that is not configured.
    ProviderNotConfigured,
    /// A provider that needs an API key has none in its environment variable.
    MissingKey,
    /// A provider's base URL is not a usable http(s) URL.
    InvalidBaseUrl,
}

/// A wiring failure: its kind and a message for people (no `error:` prefix, no location).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WiringError {
    kind: WiringErrorKind,
    message: String,
}

impl WiringError {
    fn new(kind: WiringErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> WiringErrorKind {
        self.kind
    }

    /// The message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for WiringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WiringError {}

/// A client for every configured provider (several endpoints of one provider become one
/// [`EndpointPool`]), with the specs they were built from.
pub struct Providers {
    specs: Vec<ProviderSpec>,
    clients: HashMap<String, Arc<dyn ChatProvider>>,
    pools: HashMap<String, Arc<EndpointPool>>,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers")
            .field(
                "names",
                &self.specs.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Providers {
    /// Builds a client for every spec. Keys come only from the environment variables the
    /// specs name; OpenRouter without a key is an error, and so is a bad base URL.
    ///
    /// # Errors
    /// [`WiringErrorKind::NoProviders`], [`WiringErrorKind::MissingKey`] or
    /// [`WiringErrorKind::InvalidBaseUrl`].
    pub fn from_specs(specs: &[ProviderSpec]) -> Result<Self, WiringError> {
        Self::from_config(specs, &Catalogue::default())
    }

    /// Like [`Providers::from_specs`], with the per-model limits (`requests_per_minute`,
    /// `tokens_per_minute`) of `catalogue`'s models applied on their providers.
    ///
    /// # Errors
    /// As [`Providers::from_specs`].
    pub fn from_config(specs: &[ProviderSpec], catalogue: &Catalogue) -> Result<Self, WiringError> {
        Self::from_config_wrapped(specs, catalogue, |_, client| client)
    }

    /// Like [`Providers::from_config`], with every endpoint's HTTP client wrapped by
    /// `wrap(spec, client)` — innermost, so the wrapper sees each request as it is sent:
    /// after the per-minute limits and the endpoint's adaptive permit, once per failover
    /// attempt (a limit shared across processes goes here).
    ///
    /// # Errors
    /// As [`Providers::from_config`].
    pub fn from_config_wrapped(
        specs: &[ProviderSpec],
        catalogue: &Catalogue,
        wrap: impl Fn(&ProviderSpec, Arc<dyn ChatProvider>) -> Arc<dyn ChatProvider>,
    ) -> Result<Self, WiringError> {
        if specs.is_empty() {
            return Err(no_providers());
        }
        register_keys(specs);
        let mut clients = HashMap::new();
        let mut pools = HashMap::new();
        for spec in specs {
            let (client, pool) = client(spec, catalogue, &wrap)?;
            clients.insert(spec.name.clone(), client);
            pools.insert(spec.name.clone(), pool);
        }
        Ok(Self {
            specs: specs.to_vec(),
            clients,
            pools,
        })
    }

    /// The state of every endpoint of every provider (requests, errors, failovers,
    /// cooldowns, in flight, latency, adaptive limit), in configuration order.
    #[must_use]
    pub fn endpoint_stats(&self) -> Vec<EndpointStats> {
        self.specs
            .iter()
            .filter_map(|s| self.pools.get(&s.name))
            .flat_map(|p| p.stats())
            .collect()
    }

    /// Starts the periodic health checks of every provider that sets
    /// `health_check_interval` (on the current tokio runtime; they stop when these
    /// providers are dropped).
    pub fn start_health_checks(&self) {
        for pool in self.pools.values() {
            pool.spawn_health_checks();
        }
    }

    /// One round of health checks of every endpoint now (a GET of its models list), for
    /// `dagent models --health`.
    pub async fn check_health(&self, timeout: std::time::Duration) {
        let checks = self.pools.values().map(|p| p.check_health(timeout));
        futures_util::future::join_all(checks).await;
    }

    /// The client of provider `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Arc<dyn ChatProvider>> {
        self.clients.get(name)
    }

    /// The specs, in configuration order.
    #[must_use]
    pub fn specs(&self) -> &[ProviderSpec] {
        &self.specs
    }

    /// Per-provider concurrency limits for the executor: `max_concurrent` per endpoint ×
    /// endpoints, for every provider that sets one.
    #[must_use]
    pub fn key_limits(&self) -> HashMap<String, usize> {
        key_limits(&self.specs)
    }

    /// The pre-run routing check (see [`check_routes`]).
    ///
    /// # Errors
    /// As [`check_routes`].
    pub fn check_routes(
        &self,
        router: &Router,
        catalogue: &Catalogue,
        plan: &Plan,
    ) -> Result<(), WiringError> {
        check_routes(&self.specs, router, catalogue, plan)
    }

    /// The executor's runner for LLM tasks over these providers, billing every call in
    /// `tracker`; providers that stream get streaming.
    #[must_use]
    pub fn llm_runner(
        &self,
        catalogue: Catalogue,
        router: Router,
        tracker: Arc<dyn CostTracker>,
    ) -> LlmRunner {
        let mut runner = LlmRunner::new(self.clients.clone(), catalogue, router, tracker);
        for spec in &self.specs {
            runner = runner
                .with_streaming(&spec.name, spec.stream)
                .with_provider_routing(&spec.name, spec.provider_routing.clone());
        }
        runner
    }

    /// The client serving model `name` and the model's entry (for the LLM analyzer).
    ///
    /// # Errors
    /// [`WiringErrorKind::UnknownModel`] or [`WiringErrorKind::ProviderNotConfigured`].
    pub fn client_for_model(
        &self,
        catalogue: &Catalogue,
        name: &str,
    ) -> Result<(Arc<dyn ChatProvider>, ModelInfo), WiringError> {
        let info = model(catalogue, name)?;
        let client = self
            .clients
            .get(&info.provider)
            .cloned()
            .ok_or_else(|| provider_missing(name, info))?;
        Ok((client, info.clone()))
    }
}

/// Like [`Providers::client_for_model`], building only the one client needed (so a provider
/// that is not used, e.g. one without its key, does not matter).
///
/// # Errors
/// [`WiringErrorKind::UnknownModel`], [`WiringErrorKind::ProviderNotConfigured`],
/// [`WiringErrorKind::MissingKey`] or [`WiringErrorKind::InvalidBaseUrl`].
pub fn client_for_model(
    specs: &[ProviderSpec],
    catalogue: &Catalogue,
    name: &str,
) -> Result<(Arc<dyn ChatProvider>, ModelInfo), WiringError> {
    register_keys(specs);
    let info = model(catalogue, name)?;
    let spec = specs
        .iter()
        .find(|p| p.name == info.provider)
        .ok_or_else(|| provider_missing(name, info))?;
    Ok((client(spec, catalogue, &|_, c| c)?.0, info.clone()))
}

/// Per-provider concurrency limits (see [`Providers::key_limits`]).
#[must_use]
pub fn key_limits(specs: &[ProviderSpec]) -> HashMap<String, usize> {
    specs
        .iter()
        .filter_map(|s| {
            s.max_concurrent
                .map(|per| (s.name.clone(), per.saturating_mul(s.base_urls.len().max(1))))
        })
        .collect()
}

/// Before anything runs: every task routes to a model the catalogue defines, served by a
/// configured provider.
///
/// # Errors
/// The first task that does not: [`WiringErrorKind::NoProviders`],
/// [`WiringErrorKind::NoRoute`], [`WiringErrorKind::UnknownModel`] or
/// [`WiringErrorKind::ProviderNotConfigured`].
pub fn check_routes(
    specs: &[ProviderSpec],
    router: &Router,
    catalogue: &Catalogue,
    plan: &Plan,
) -> Result<(), WiringError> {
    if specs.is_empty() {
        return Err(no_providers());
    }
    for (i, task) in plan.tasks.iter().enumerate() {
        let route = router.route(task).ok_or_else(|| {
            WiringError::new(
                WiringErrorKind::NoRoute,
                format!(
                    "task \"{}\" (#{}) routes to no model: set model on the task, a model for its role, or routing.default_model",
                    task.id,
                    i + 1
                ),
            )
        })?;
        let info = catalogue.get(&route.model).ok_or_else(|| {
            WiringError::new(
                WiringErrorKind::UnknownModel,
                format!(
                    "task \"{}\" asks for model \"{}\" ({}), which is not defined: add [models.{}]",
                    task.id, route.model, route.reason, route.model
                ),
            )
        })?;
        if !specs.iter().any(|p| p.name == info.provider) {
            return Err(WiringError::new(
                WiringErrorKind::ProviderNotConfigured,
                format!(
                    "task \"{}\" routes to model \"{}\" ({}), served by provider \"{}\", which is not configured: add [providers.{}] to dagent.toml",
                    task.id, route.model, route.reason, info.provider, info.provider
                ),
            ));
        }
    }
    Ok(())
}

/// Reads every configured key once, so the scrubbing layer knows all of them — a key of one
/// provider echoed by another is caught too, even when only one client is built.
fn register_keys(specs: &[ProviderSpec]) {
    for spec in specs {
        let _ = spec.api_key_env.as_deref().and_then(ApiKey::from_env);
    }
}

fn no_providers() -> WiringError {
    WiringError::new(
        WiringErrorKind::NoProviders,
        "no model provider is configured: add a [providers.NAME] section to dagent.toml (see examples/dagent.toml)",
    )
}

fn model<'c>(catalogue: &'c Catalogue, name: &str) -> Result<&'c ModelInfo, WiringError> {
    catalogue.get(name).ok_or_else(|| {
        WiringError::new(
            WiringErrorKind::UnknownModel,
            format!("unknown model \"{name}\": add [models.{name}]"),
        )
    })
}

fn provider_missing(name: &str, info: &ModelInfo) -> WiringError {
    WiringError::new(
        WiringErrorKind::ProviderNotConfigured,
        format!(
            "model \"{name}\" is served by provider \"{}\", which is not configured",
            info.provider
        ),
    )
}

/// Calls in flight per endpoint an adaptive provider may reach when it sets no
/// `max_concurrent`.
pub const DEFAULT_ADAPTIVE_MAX: usize = 16;

/// Wraps one endpoint's HTTP client (see [`Providers::from_config_wrapped`]).
type WrapEndpoint<'a> = dyn Fn(&ProviderSpec, Arc<dyn ChatProvider>) -> Arc<dyn ChatProvider> + 'a;

/// The client of one provider, composed from the inside out: an HTTP client per endpoint
/// (wrapped by `wrap`),
/// each under its adaptive limit (`adaptive = true`), balanced by an [`EndpointPool`]
/// (cooldown, failover, health), under the provider's and its models' per-minute limits
/// ([`RateLimited`]). The pool is returned too, for its statistics.
fn client(
    spec: &ProviderSpec,
    catalogue: &Catalogue,
    wrap: &WrapEndpoint<'_>,
) -> Result<(Arc<dyn ChatProvider>, Arc<EndpointPool>), WiringError> {
    for url in &spec.base_urls {
        validate_base_url(url).map_err(|e| {
            WiringError::new(
                WiringErrorKind::InvalidBaseUrl,
                format!("provider \"{}\": {e}", spec.name),
            )
        })?;
    }
    if spec.base_urls.is_empty() {
        return Err(WiringError::new(
            WiringErrorKind::InvalidBaseUrl,
            format!("provider \"{}\" has no base_url", spec.name),
        ));
    }
    let key = spec.api_key_env.as_deref().and_then(ApiKey::from_env);
    if key.is_none() && spec.kind == ProviderKind::OpenRouter {
        let var = spec.api_key_env.as_deref().unwrap_or("OPENROUTER_API_KEY");
        return Err(WiringError::new(
            WiringErrorKind::MissingKey,
            format!(
                "provider \"{}\" needs an API key: set the environment variable {var} (dagent never reads keys from files)",
                spec.name
            ),
        ));
    }
    let endpoints: Vec<Endpoint> = spec
        .base_urls
        .iter()
        .map(|url| {
            let limit = spec.adaptive.then(|| {
                Arc::new(AdaptiveLimit::new(
                    spec.max_concurrent.unwrap_or(DEFAULT_ADAPTIVE_MAX),
                ))
            });
            let (client, health): (Arc<dyn ChatProvider>, String) = match spec.kind {
                ProviderKind::Ollama => {
                    let mut c = Ollama::new(&spec.name, url)
                        .with_timeout(spec.timeout)
                        .follow_redirects(spec.follow_redirects);
                    if let Some(l) = &limit {
                        c = c.with_rate_signals(Arc::clone(l));
                    }
                    let h = c.health_url();
                    (Arc::new(c), h)
                }
                _ => {
                    let mut c = OpenAiCompatible::new(&spec.name, url)
                        .with_api_key(key.clone())
                        .with_timeout(spec.timeout)
                        .follow_redirects(spec.follow_redirects);
                    for (h, v) in &spec.headers {
                        c = c.with_header(h, v);
                    }
                    if let Some(l) = &limit {
                        c = c.with_rate_signals(Arc::clone(l));
                    }
                    let h = c.health_url();
                    (Arc::new(c), h)
                }
            };
            let mut e = Endpoint::new(wrap(spec, client), url.clone()).with_health_url(health);
            if let Some(l) = limit {
                e = e.with_adaptive(l);
            }
            e
        })
        .collect();
    let pool = Arc::new(EndpointPool::with_policy(
        &spec.name,
        endpoints,
        spec.pool.clone(),
    ));
    let balanced: Arc<dyn ChatProvider> = pool.clone();
    let models = catalogue
        .iter()
        .filter(|m| m.provider == spec.name && m.limits.is_set())
        .map(|m| (m.id.clone(), m.limits));
    let limited: Arc<dyn ChatProvider> =
        match RateLimited::new(Arc::clone(&balanced), spec.limits, models) {
            Some(r) => Arc::new(r),
            None => balanced,
        };
    Ok((limited, pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_when_providers_are_built() {
        for (url, needle) in [
            ("not a url", "is not a URL"),
            ("file:///tmp/x", "scheme \"file\""),
            ("http://", "not a URL"),
            ("http://u:p@host/v1", "credentials"),
            ("http://host/v1?x=1", "query"),
        ] {
            let err = validate_base_url(url).unwrap_err();
            assert!(err.contains(needle), "{url}: {err}");
            let spec = ProviderSpec::new("p", ProviderKind::OpenAi).with_base_url(url);
            let err = Providers::from_specs(&[spec]).unwrap_err();
            assert_eq!(err.kind(), WiringErrorKind::InvalidBaseUrl, "{url}");
            assert!(err.message().starts_with("provider \"p\": "), "{err}");
        }
        for url in [
            "http://127.0.0.1:8080/v1",
            "https://openrouter.ai/api/v1",
            "http://localhost:11434",
            "http://[::1]:8080",
        ] {
            validate_base_url(url).unwrap();
        }
    }

    #[test]
    fn key_limits_multiply_by_endpoints() {
        let mut spec = ProviderSpec::new("local", ProviderKind::OpenAi);
        spec.base_urls = vec![
            "http://127.0.0.1:1/v1".into(),
            "http://127.0.0.1:2/v1".into(),
        ];
        spec.max_concurrent = Some(1);
        let providers =
            Providers::from_specs(&[spec, ProviderSpec::new("o", ProviderKind::Ollama)]).unwrap();
        assert_eq!(
            providers.key_limits(),
            HashMap::from([("local".to_owned(), 2)])
        );
        assert!(providers.get("local").is_some() && providers.get("o").is_some());
    }
}
