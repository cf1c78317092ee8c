//! Command-line flags (stage one: raw; validated settings are built per command).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use dagent_adapters::PlanFormat;
use dagent_analyzers::Strategy;
use dagent_executor::{FailureMode, Mode};

/// dagent — find the parallelism in agent plans and run them concurrently.
///
/// Agent frameworks produce plans ("research Tokyo, research Paris, …, analyse, write the
/// report") and run them one step at a time. dagent works out which steps depend on which,
/// shows the critical path and the speed-up to expect, and runs the steps concurrently.
#[derive(Debug, Parser)]
#[command(
    name = "dagent",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show a plan's dependency graph, batches, critical path and predicted speed-up.
    ///
    /// No LLM or network needed. Dependencies come from the plan's `depends_on` fields when
    /// it has them, otherwise they are inferred from task kinds and wording (see
    /// --strategy). Examples:
    ///
    ///   dagent analyze examples/ten-cities.toml
    ///
    ///   dagent analyze plan.json --format json > analysis.json
    ///
    ///   dagent analyze deerflow-plan.json --annotate annotated.json
    ///
    ///   dagent analyze plan.toml --format dot | dot -Tsvg > plan.svg
    #[command(verbatim_doc_comment)]
    Analyze(AnalyzeArgs),

    /// Run a plan concurrently: live progress, then a report (makespan, speed-up, per-task
    /// status).
    ///
    /// With --simulate every task sleeps its estimate (tasks without one use
    /// --default-estimate), so you can preview a schedule and rehearse failures (a task's
    /// `simulate = { fail = "transient", times = 2 }`). Settings come from dagent.toml
    /// [parallelization], then DAGENT_* variables, then flags. Exit status: 0 all
    /// succeeded, 1 some task failed, was skipped or cancelled, 2 bad input. Ctrl-C stops
    /// launching, cancels running tasks and still prints the full report. Examples:
    ///
    ///   dagent run examples/ten-cities.toml --simulate --time-scale 0.05
    ///
    ///   dagent run plan.toml --simulate -k 3 --report report.json
    ///
    ///   dagent run plan.toml --simulate --mode batched --failure-mode fail_fast
    #[command(verbatim_doc_comment)]
    Run(RunArgs),

    /// Show providers, models and prices, and the routing table of a configuration; with
    /// --plan, which model each task of a plan goes to and why.
    Models(ModelsArgs),

    /// Cost calculator: a scenario (tokens per request, requests per day) priced for each
    /// model, per request and per month, with savings against a baseline model.
    ///
    ///   dagent cost --input-tokens 2000 --output-tokens 500 --requests-per-day 1000
    ///
    ///   dagent cost --models deepseek-chat,llama-3.3-70b --baseline claude-3.5-sonnet --format json
    #[command(verbatim_doc_comment)]
    Cost(CostArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ModelsArgs {
    /// Configuration file [default: ./dagent.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Also show the route of every task of this plan.
    #[arg(long, value_name = "PLAN")]
    pub(crate) plan: Option<PathBuf>,

    /// text or json.
    #[arg(long, short = 'f', value_enum, default_value_t = TableFormat::Text)]
    pub(crate) format: TableFormat,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CostArgs {
    /// Configuration file (for [models.*] prices) [default: ./dagent.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Prompt tokens per request.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub(crate) input_tokens: u64,

    /// Completion tokens per request.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub(crate) output_tokens: u64,

    /// Requests per day.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub(crate) requests_per_day: u64,

    /// Days in a month.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub(crate) days: u64,

    /// Models to price, comma-separated [default: every known model].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub(crate) models: Vec<String>,

    /// The model savings are measured against.
    #[arg(long, value_name = "MODEL", default_value = "claude-3.5-sonnet")]
    pub(crate) baseline: String,

    /// text or json.
    #[arg(long, short = 'f', value_enum, default_value_t = TableFormat::Text)]
    pub(crate) format: TableFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TableFormat {
    Text,
    Json,
}

/// Flags shared by commands that read a plan.
#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// The plan file: native TOML or JSON, or DeerFlow plan JSON.
    #[arg(value_name = "PLAN")]
    pub(crate) plan: PathBuf,

    /// Plan format, when the file extension does not tell (.toml → toml; .json → deerflow
    /// if it has top-level "steps", else json).
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub(crate) input_format: Option<PlanFormat>,

    /// How dependencies are found: explicit (the plan's depends_on), heuristic (task kinds
    /// and wording), llm (ask a model), sequential (one after another), auto (explicit if
    /// the plan declares any, else heuristic). Every strategy falls back to sequential.
    /// [default: auto, or dependency_strategy in dagent.toml]
    #[arg(long, value_name = "STRATEGY", value_parser = parse_strategy)]
    pub(crate) strategy: Option<Strategy>,

    /// Configuration file [default: ./dagent.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) plan: PlanArgs,

    /// Simulate: each task sleeps its estimate instead of calling a model. Without it,
    /// tasks call the models of dagent.toml ([providers.*], [models.*], [routing]).
    #[arg(long)]
    pub(crate) simulate: bool,

    /// Write the plan back with dependencies and results (execution_res for DeerFlow
    /// plans, result for native ones); "-" for stdout.
    #[arg(long, value_name = "OUT")]
    pub(crate) write_back: Option<PathBuf>,

    /// Runs per day, for the report's monthly cost projection (30-day months).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) runs_per_day: u64,

    /// Multiply simulated durations by F (0.01 previews a schedule 100 times faster).
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = parse_scale)]
    pub(crate) time_scale: f64,

    /// Duration simulated for tasks without an estimate.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_dur)]
    pub(crate) default_estimate: Duration,

    /// Tasks running at once (1 runs one at a time) [config: max_concurrent_tasks, default 10].
    #[arg(long, short = 'k', value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_concurrent: Option<u32>,

    /// eager: start each task as soon as its dependencies are done; batched: level
    /// barriers [config: mode, default eager].
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    pub(crate) mode: Option<Mode>,

    /// Tasks launched per second, retries included [config: max_tasks_per_second].
    #[arg(long, value_name = "N", value_parser = parse_rate)]
    pub(crate) rate: Option<f64>,

    /// Time limit of one attempt, e.g. 30s, 5m; 0 for none [config: task_timeout_seconds, default 300].
    #[arg(long, value_name = "DURATION", value_parser = parse_dur)]
    pub(crate) task_timeout: Option<Duration>,

    /// Time limit of one batch in batched mode; 0 for none [config: batch_timeout_seconds].
    #[arg(long, value_name = "DURATION", value_parser = parse_dur)]
    pub(crate) batch_timeout: Option<Duration>,

    /// Retries of transient failures [config: max_retries, default 3].
    #[arg(long, value_name = "N")]
    pub(crate) max_retries: Option<u32>,

    /// Do not retry failures [config: retry_on_failure = false].
    #[arg(long)]
    pub(crate) no_retry: bool,

    /// skip_dependents (descendants of a failed task are skipped), partial_completion
    /// (dependents run and are told which inputs failed), fail_fast (stop everything)
    /// [config: failure_mode, default skip_dependents].
    #[arg(long, value_name = "MODE", value_parser = parse_failure_mode)]
    pub(crate) failure_mode: Option<FailureMode>,

    /// Open the circuit breaker (stop launching) once more than this fraction of finished
    /// tasks failed [config: failure_threshold].
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction)]
    pub(crate) failure_threshold: Option<f64>,

    /// Write the run report as JSON (schema: docs/run-report-json.md); "-" for stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<PathBuf>,

    /// No progress output; only the final report.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AnalyzeArgs {
    #[command(flatten)]
    pub(crate) plan: PlanArgs,

    /// Output format: text (for people), json (stable schema, for tools), dot (Graphviz),
    /// mermaid (Markdown diagrams).
    #[arg(long, short = 'f', value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) format: OutputFormat,

    /// Concurrency limit used for the speed-up bound (work ÷ max(critical path, work ÷ K)).
    #[arg(long, short = 'k', value_name = "K", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_concurrent: u32,

    /// Write the plan back to OUT with the dependencies filled in (depends_on for native
    /// plans, dependencies for DeerFlow), everything else preserved. "-" for stdout.
    #[arg(long, value_name = "OUT")]
    pub(crate) annotate: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Text,
    Json,
    Dot,
    Mermaid,
}

fn parse_dur(s: &str) -> Result<Duration, String> {
    dagent_core::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err("expected a positive number, e.g. 0.1".to_owned()),
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    parse_scale(s)
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err("expected a fraction between 0 and 1, e.g. 0.5".to_owned()),
    }
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

fn parse_failure_mode(s: &str) -> Result<FailureMode, String> {
    s.parse()
}

fn parse_format(s: &str) -> Result<PlanFormat, String> {
    s.parse()
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse()
}
