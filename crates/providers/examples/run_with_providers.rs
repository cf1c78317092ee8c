//! Runs a plan against a configured model provider using only library crates — what
//! `dagent run` does, without the CLI.
//!
//! ```text
//! DAGENT_EXAMPLE_BASE_URL=http://127.0.0.1:8080/v1 \
//!     cargo run -p dagent-providers --example run_with_providers -- examples/ten-cities.toml
//! ```
//!
//! The provider is any OpenAI-compatible server (llama.cpp's server, LM Studio, vLLM) at
//! `DAGENT_EXAMPLE_BASE_URL` (default `http://127.0.0.1:8080/v1`); its key, if it needs one,
//! is read from `DAGENT_EXAMPLE_API_KEY`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dagent_analyzers::{FallbackChain, Strategy, validate_plan};
use dagent_core::{CostTracker, Money, Price};
use dagent_executor::{Executor, ExecutorConfig};
use dagent_providers::{
    Catalogue, CostLedger, ModelInfo, ProviderKind, ProviderSpec, Providers, Router, RoutingTable,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("examples/ten-cities.toml"), PathBuf::from);
    // 1. Load and validate the plan (dagent-adapters, dagent-analyzers).
    let loaded = dagent_adapters::load_plan(&path, None).map_err(|e| e.to_string())?;
    validate_plan(&loaded.plan).map_err(|e| e.to_string())?;
    // 2. Resolve its dependencies: explicit, else heuristic, else sequential.
    let resolution = FallbackChain::for_strategy(Strategy::Auto)
        .resolve(&loaded.plan)
        .await
        .map_err(|e| e.to_string())?;
    // 3. One provider, one model, a router and a budget (what dagent.toml would say).
    let base_url = std::env::var("DAGENT_EXAMPLE_BASE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8080/v1".to_owned());
    let mut spec = ProviderSpec::new("local", ProviderKind::OpenAi).with_base_url(base_url);
    spec.api_key_env = Some("DAGENT_EXAMPLE_API_KEY".to_owned());
    spec.max_concurrent = Some(1); // a local server answers one request at a time
    spec.timeout = Duration::from_secs(120);
    let mut catalogue = Catalogue::new();
    catalogue.insert(ModelInfo {
        name: "local-model".to_owned(),
        provider: "local".to_owned(),
        id: "local-model".to_owned(),
        price: Price::new(Money::ZERO, Money::ZERO),
        context_window: 2048,
        max_output_tokens: 128,
        capabilities: Vec::new(),
        ..ModelInfo::default()
    });
    let router = Router {
        default_model: Some("local-model".to_owned()),
        table: RoutingTable::empty(),
        ..Router::default()
    };
    let providers = Providers::from_specs(&[spec])?;
    providers.check_routes(&router, &catalogue, &loaded.plan)?;
    let ledger = CostLedger::new(Some("1".parse()?), None);
    let tracker: Arc<dyn CostTracker> = Arc::new(ledger.clone());
    let runner = Arc::new(providers.llm_runner(catalogue, router, tracker));
    // 4. Run it (dagent-executor) under the provider's concurrency limit.
    let plan = Arc::new(loaded.plan);
    let graph = &resolution.graph;
    let config = ExecutorConfig {
        key_limits: providers.key_limits(),
        ..ExecutorConfig::default()
    };
    let report = Executor::new(config)
        .run(Arc::clone(&plan), graph, runner)
        .await;
    for t in &report.tasks {
        let id = &t.id;
        match (&t.output, &t.error) {
            (Some(out), _) => println!("{id}: {}", out.text.lines().next().unwrap_or("")),
            (None, Some(e)) => println!("{id}: {e}"),
            (None, None) => println!("{id}: {:?}", t.status),
        }
    }
    let costs = ledger.summary();
    println!(
        "{} calls, {} + {} tokens, {}",
        costs.total.calls,
        costs.total.usage.prompt_tokens,
        costs.total.usage.completion_tokens,
        costs.total.cost
    );
    Ok(())
}
