//! Wiring the configured providers, catalogue and router into an `LlmRunner`: a thin call
//! into `dagent_providers::Providers`, with the CLI's locations and hints on its errors.

use std::collections::HashMap;
use std::sync::Arc;

use dagent_analyzers::LlmAnalyzer;
use dagent_core::{CostTracker, Plan};
use dagent_providers::{CostLedger, LlmRunner, Providers, WiringError, WiringErrorKind};

use crate::diag::Failure;
use crate::models_config::ModelConfig;

/// The runner, its per-provider concurrency limits and its ledger.
pub(crate) struct Wired {
    pub(crate) runner: Arc<LlmRunner>,
    pub(crate) key_limits: HashMap<String, usize>,
    pub(crate) ledger: Arc<CostLedger>,
    /// The step-down policy, with `[budget] on_exhaustion = "step_down"`.
    pub(crate) step_down: Option<Arc<dagent_providers::StepDown>>,
    /// The providers, for their endpoints' state and health checks.
    pub(crate) providers: Arc<Providers>,
}

fn failure(origin: &str, e: &WiringError) -> Failure {
    Failure::bad_input(match e.kind() {
        WiringErrorKind::NoProviders => {
            format!("error: {e}, or add --simulate to preview the run without models")
        }
        WiringErrorKind::NoRoute | WiringErrorKind::UnknownModel => {
            format!("error: {origin}: {e}")
        }
        _ => format!("error: {e}"),
    })
}

/// Checks, before anything runs, that every task routes to a known model on a configured
/// provider, then builds clients for every provider (keys from their environment variables).
pub(crate) fn wire(
    cfg: &ModelConfig,
    plan: &Plan,
    origin: &str,
    ledger: Arc<CostLedger>,
    shared: Option<&crate::shared::Shared>,
    deps: &[Vec<usize>],
) -> Result<Wired, Failure> {
    dagent_providers::check_routes(&cfg.providers, &cfg.router, &cfg.catalogue, plan)
        .map_err(|e| failure(origin, &e))?;
    // With `[shared]`, requests count against the shared limits and calls pay through the
    // shared budget.
    let (providers, tracker) =
        crate::shared::providers(cfg, shared, &ledger).map_err(|e| failure(origin, &e))?;
    // The budget step-down measures against: the shared one (whose spend counts every
    // process and session), or this process's ledger's cap (the configured budget less
    // what earlier sessions of a resumed run spent).
    let budget = if shared.is_some() {
        cfg.budget
    } else {
        ledger.budget()
    };
    let step_down = match (cfg.on_exhaustion, budget) {
        (dagent_providers::OnExhaustion::StepDown, Some(budget)) => {
            Some(Arc::new(dagent_providers::StepDown::new(
                plan,
                deps,
                &cfg.router,
                &cfg.catalogue,
                budget,
                Arc::clone(&tracker),
            )))
        }
        _ => None,
    };
    let mut runner = providers.llm_runner(cfg.catalogue.clone(), cfg.router.clone(), tracker);
    if let Some(s) = &step_down {
        runner = runner.with_step_down(Arc::clone(s));
    }
    Ok(Wired {
        runner: Arc::new(runner),
        key_limits: providers.key_limits(),
        ledger,
        step_down,
        providers: Arc::new(providers),
    })
}

/// The dependency analyzer of `--strategy llm` / `auto`: the model named by
/// `parallelization.analyzer_model`, else `routing.default_model`. `Err` says why there is none.
pub(crate) fn analyzer(
    config: &crate::settings::Settings,
    ledger: &Arc<CostLedger>,
    shared: Option<&crate::shared::Shared>,
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
    if m.catalogue.get(&name).is_none() {
        return Err(format!("unknown analyzer model \"{name}\""));
    }
    let (client, info) = dagent_providers::client_for_model(&m.providers, &m.catalogue, &name)
        .map_err(|e| e.to_string())?;
    let mut costs: Arc<dyn CostTracker> = ledger.clone();
    let mut client = client;
    if let Some(s) = shared {
        client = s.limit(&info.provider, client);
        costs = Arc::new(s.ledger.clone());
    }
    Ok(LlmAnalyzer::new(client, info.id.clone()).with_costs(info.price, costs))
}

/// The endpoints a run report shows: those of providers that balance several endpoints or
/// adapt their concurrency.
pub(crate) fn reported_endpoints(
    cfg: &ModelConfig,
    providers: &Providers,
) -> Vec<dagent_providers::EndpointStats> {
    let shown: Vec<&str> = cfg
        .providers
        .iter()
        .filter(|p| p.base_urls.len() > 1 || p.adaptive)
        .map(|p| p.name.as_str())
        .collect();
    providers
        .endpoint_stats()
        .into_iter()
        .filter(|e| shown.contains(&e.provider.as_str()))
        .collect()
}
