//! Wiring the configured providers, catalogue and router into an `LlmRunner`.

use std::collections::HashMap;
use std::sync::Arc;

use dagent_analyzers::LlmAnalyzer;
use dagent_core::{ChatProvider, Plan};
use dagent_providers::{
    ApiKey, CostLedger, EndpointPool, LlmRunner, Ollama, OpenAiCompatible, ProviderKind,
    ProviderSpec,
};

use crate::diag::Failure;
use crate::models_config::ModelConfig;

/// The runner, its per-provider concurrency limits and its ledger.
pub(crate) struct Wired {
    pub(crate) runner: Arc<LlmRunner>,
    pub(crate) key_limits: HashMap<String, usize>,
    pub(crate) ledger: Arc<CostLedger>,
}

/// Builds clients for every provider (keys from their environment variables) and checks,
/// before anything runs, that every task routes to a known model on a configured provider.
pub(crate) fn wire(
    cfg: &ModelConfig,
    plan: &Plan,
    origin: &str,
    ledger: Arc<CostLedger>,
) -> Result<Wired, Failure> {
    if cfg.providers.is_empty() {
        return Err(Failure::bad_input(
            "error: no model provider is configured: add a [providers.NAME] section to dagent.toml \
             (see examples/dagent.toml), or add --simulate to preview the run without models",
        ));
    }
    for (i, task) in plan.tasks.iter().enumerate() {
        let route = cfg.router.route(task).ok_or_else(|| {
            Failure::bad_input(format!(
                "error: {origin}: task \"{}\" (#{}) routes to no model: set model on the task, a model for its role, or routing.default_model",
                task.id,
                i + 1
            ))
        })?;
        let info = cfg.catalogue.get(&route.model).ok_or_else(|| {
            Failure::bad_input(format!(
                "error: {origin}: task \"{}\" asks for model \"{}\" ({}), which is not defined: add [models.{}]",
                task.id, route.model, route.reason, route.model
            ))
        })?;
        if !cfg.providers.iter().any(|p| p.name == info.provider) {
            return Err(Failure::bad_input(format!(
                "error: task \"{}\" routes to model \"{}\" ({}), served by provider \"{}\", which is not configured: add [providers.{}] to dagent.toml",
                task.id, route.model, route.reason, info.provider, info.provider
            )));
        }
    }
    let providers = providers(cfg)?;
    let mut key_limits = HashMap::new();
    for spec in &cfg.providers {
        if let Some(per_endpoint) = spec.max_concurrent {
            key_limits.insert(spec.name.clone(), per_endpoint * spec.base_urls.len());
        }
    }
    let mut runner = LlmRunner::new(
        providers,
        cfg.catalogue.clone(),
        cfg.router.clone(),
        Arc::clone(&ledger),
    );
    for spec in &cfg.providers {
        runner = runner.with_streaming(&spec.name, spec.stream);
    }
    Ok(Wired {
        runner: Arc::new(runner),
        key_limits,
        ledger,
    })
}

/// A client for every configured provider (several endpoints become one pool). Keys come
/// from the variables the configuration names; OpenRouter without a key is an error.
pub(crate) fn providers(
    cfg: &ModelConfig,
) -> Result<HashMap<String, Arc<dyn ChatProvider>>, Failure> {
    let mut out: HashMap<String, Arc<dyn ChatProvider>> = HashMap::new();
    for spec in &cfg.providers {
        out.insert(spec.name.clone(), client(spec).map_err(Failure::bad_input)?);
    }
    Ok(out)
}

fn client(spec: &ProviderSpec) -> Result<Arc<dyn ChatProvider>, String> {
    let key = spec.api_key_env.as_deref().and_then(ApiKey::from_env);
    if key.is_none() && spec.kind == ProviderKind::OpenRouter {
        let var = spec.api_key_env.as_deref().unwrap_or("OPENROUTER_API_KEY");
        return Err(format!(
            "error: provider \"{}\" needs an API key: set the environment variable {var} (dagent never reads keys from files)",
            spec.name
        ));
    }
    let endpoints: Vec<Arc<dyn ChatProvider>> = spec
        .base_urls
        .iter()
        .map(|url| -> Arc<dyn ChatProvider> {
            match spec.kind {
                ProviderKind::Ollama => {
                    Arc::new(Ollama::new(&spec.name, url).with_timeout(spec.timeout))
                }
                _ => {
                    let mut c = OpenAiCompatible::new(&spec.name, url)
                        .with_api_key(key.clone())
                        .with_timeout(spec.timeout);
                    for (h, v) in &spec.headers {
                        c = c.with_header(h, v);
                    }
                    Arc::new(c)
                }
            }
        })
        .collect();
    Ok(if endpoints.len() == 1 {
        endpoints.into_iter().next().expect("one endpoint")
    } else {
        Arc::new(EndpointPool::new(&spec.name, endpoints))
    })
}

/// The dependency analyzer of `--strategy llm` / `auto`: the model named by
/// `parallelization.analyzer_model`, else `routing.default_model`. `Err` says why there is none.
pub(crate) fn analyzer(
    config: &crate::settings::Settings,
    ledger: &Arc<CostLedger>,
) -> Result<LlmAnalyzer, String> {
    let m = &config.models;
    let name = config
        .parallelization
        .analyzer_model
        .clone()
        .or_else(|| m.router.default_model.clone())
        .ok_or_else(|| {
            "no model is configured for dependency analysis (set parallelization.analyzer_model)"
                .to_owned()
        })?;
    let info = m
        .catalogue
        .get(&name)
        .ok_or_else(|| format!("unknown analyzer model \"{name}\""))?;
    let spec = m
        .providers
        .iter()
        .find(|p| p.name == info.provider)
        .ok_or_else(|| {
            format!(
                "model \"{name}\" is served by provider \"{}\", which is not configured",
                info.provider
            )
        })?;
    let client = client(spec).map_err(|e| e.trim_start_matches("error: ").to_owned())?;
    let costs: Arc<dyn dagent_core::CostTracker> =
        Arc::clone(ledger) as Arc<dyn dagent_core::CostTracker>;
    Ok(LlmAnalyzer::new(client, info.id.clone()).with_costs(info.price, costs))
}
