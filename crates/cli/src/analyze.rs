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
    prepare_loaded(load(args, config)?, config, ledger)
}

/// Reads the plan file the arguments name.
pub(crate) fn load(args: &PlanArgs, config: &Settings) -> Result<LoadedPlan, Failure> {
    let path = args
        .plan
        .as_deref()
        .ok_or_else(|| Failure::bad_input("error: no plan file given"))?;
    Ok(load_plan_with(
        path,
        LoadOptions::default()
            .format(args.input_format)
            .max_bytes(config.max_input_bytes),
    )?)
}

/// [`prepare`] for a plan already read (or generated, by a workflow template).
pub(crate) fn prepare_loaded(
    loaded: LoadedPlan,
    config: &Settings,
    ledger: &Arc<CostLedger>,
) -> Result<Prepared, Failure> {
    let strategy = config.parallelization.dependency_strategy;
    validate_plan(&loaded.plan).map_err(|e| graph_error(&loaded, &e))?;
    // The model analyzer is built only when the strategy (or its fallback) may ask it.
    let fallback = config.parallelization.fallback_strategy;
    // With [shared], a model's dependency analysis counts against the limits and budget
    // shared with other processes too; its settlement reaches Redis before this returns.
    let shared = crate::shared::Shared::from_settings(
        config.shared.as_ref(),
        config.models.budget,
        Arc::clone(ledger) as Arc<dyn dagent_core::CostTracker>,
        true,
    )?;
    let shared = shared.as_ref();
    let model = || {
        crate::llm::analyzer(config, ledger, shared)
            .map(|a| Box::new(a) as Box<dyn DependencyAnalyzer>)
    };
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
    let resolution = runtime.block_on(async {
        let resolution = chain.resolve(&loaded.plan).await;
        if let Some(s) = shared {
            for line in s.finish(true).await {
                eprintln!("{}", dagent_core::display::escape(&line));
            }
        }
        resolution
    });
    let resolution = resolution.map_err(|e| Failure::from(graph_error(&loaded, &e)))?;
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
    // With a configuration, the projected cost: the plan's routes, prompts and max_tokens.
    let projection = config.source.is_some().then(|| {
        let plan = &prepared.loaded.plan;
        let deps: Vec<Vec<usize>> = (0..plan.tasks.len())
            .map(|i| prepared.resolution.graph.deps_of(i).to_vec())
            .collect();
        let m = &config.models;
        render::Projected {
            configured: dagent_providers::project(plan, &deps, &m.router, &m.catalogue),
            tiers: dagent_providers::project_tiers(plan, &deps, &m.router, &m.catalogue),
        }
    });
    let view = render::View {
        loaded: &prepared.loaded,
        resolution: &prepared.resolution,
        analysis: &analysis,
        k,
        analysis_cost: Some(ledger.summary().total).filter(|t| t.calls > 0),
        explanation: args
            .explain
            .then(|| render::explain(&prepared.loaded, &prepared.resolution)),
        projection,
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
