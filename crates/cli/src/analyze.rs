//! `dagent analyze`: load, validate, resolve dependencies, render.

use std::process::ExitCode;
use std::sync::Arc;

use dagent_providers::CostLedger;

use dagent_adapters::{LoadOptions, LoadedPlan, annotate, load_plan_with};
use dagent_analyzers::{Analysis, FallbackChain, Resolution, Strategy, validate_plan};
use dagent_core::DependencyAnalyzer;

use crate::args::{AnalyzeArgs, OutputFormat, PlanArgs};
use crate::diag::{Failure, graph_error, write_output};
use crate::render;
use crate::settings::Settings;

/// A plan loaded, validated and given a dependency graph.
pub(crate) struct Prepared {
    pub(crate) loaded: LoadedPlan,
    pub(crate) resolution: Resolution,
}

/// Loads and validates the plan, then runs the strategy's fallback chain (the flag's
/// strategy, else the configuration's).
pub(crate) fn prepare(
    args: &PlanArgs,
    config: &Settings,
    ledger: &Arc<CostLedger>,
) -> Result<Prepared, Failure> {
    let strategy = config.parallelization.dependency_strategy;
    let loaded = load_plan_with(
        &args.plan,
        LoadOptions::default()
            .format(args.input_format)
            .max_bytes(config.max_input_bytes),
    )?;
    validate_plan(&loaded.plan).map_err(|e| graph_error(&loaded, &e))?;
    // The model analyzer is built only when the strategy (or its fallback) may ask it.
    let fallback = config.parallelization.fallback_strategy;
    let model =
        || crate::llm::analyzer(config, ledger).map(|a| Box::new(a) as Box<dyn DependencyAnalyzer>);
    let primary = if matches!(strategy, Strategy::Llm | Strategy::Auto) {
        model()
    } else {
        Err(String::new())
    };
    let fallback_model = (fallback == Strategy::Llm
        && !matches!(strategy, Strategy::Llm | Strategy::Auto))
    .then(model)
    .and_then(Result::ok);
    let chain =
        FallbackChain::with_model(strategy, primary).with_fallback(fallback, fallback_model);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::bad_input(format!("error: cannot start the async runtime: {e}")))?;
    let resolution = runtime
        .block_on(chain.resolve(&loaded.plan))
        .map_err(|e| Failure::from(graph_error(&loaded, &e)))?;
    // Loops are checked against the resolved graph (their bodies must be closed under it).
    dagent_analyzers::LoopSet::new(&loaded.plan, &resolution.graph)
        .map_err(|e| Failure::from(graph_error(&loaded, &e)))?;
    Ok(Prepared { loaded, resolution })
}

pub(crate) fn run(args: &AnalyzeArgs) -> Result<ExitCode, Failure> {
    let mut flags = args.plan.flag_values();
    if let Some(k) = &args.max_concurrent {
        flags.push(("--max-concurrent", k.clone()));
    }
    let config = Settings::load(
        args.plan.config.as_deref(),
        &|k| std::env::var(k).ok(),
        &flags,
    )?;
    let ledger = Arc::new(CostLedger::new(None, None));
    let prepared = prepare(&args.plan, &config, &ledger)?;
    let analysis = Analysis::new(&prepared.loaded.plan, &prepared.resolution.graph);
    let k = config.parallelization.max_concurrent_tasks;
    let view = render::View {
        loaded: &prepared.loaded,
        resolution: &prepared.resolution,
        analysis: &analysis,
        k,
        analysis_cost: Some(ledger.summary().total).filter(|t| t.calls > 0),
        explanation: args
            .explain
            .then(|| render::explain(&prepared.loaded, &prepared.resolution)),
    };
    let out = match args.format {
        OutputFormat::Text => render::text(&view),
        OutputFormat::Json => render::json(&view),
        OutputFormat::Dot => render::dot(&view),
        OutputFormat::Mermaid => render::mermaid(&view),
    };
    if let Some(path) = &args.annotate {
        let annotated = annotate(&prepared.loaded, prepared.resolution.graph.deps())?;
        write_output(path, &annotated)?;
        if path.as_os_str() == "-" {
            return Ok(ExitCode::SUCCESS);
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
