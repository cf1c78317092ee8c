//! Command-line flags (stage one: raw; validated settings are built per command).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use dagent_adapters::PlanFormat;
use dagent_analyzers::Strategy;

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
    #[arg(long, value_name = "STRATEGY", default_value = "auto", value_parser = parse_strategy)]
    pub(crate) strategy: Strategy,
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

fn parse_format(s: &str) -> Result<PlanFormat, String> {
    s.parse()
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse()
}
