//! Command-line flags (stage one: raw; validated settings are built per command).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use dagent_adapters::PlanFormat;

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

    /// More log output on stderr: -v for the run, tasks and retries, -vv for every attempt
    /// and model call. RUST_LOG (e.g. RUST_LOG=dagent_executor=debug) overrides it.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,

    /// Log format on stderr: text (for people) or json (one object per line, for log
    /// pipelines). Reports written to stdout never mix with logs.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub(crate) log_format: LogFormat,

    /// Export traces over OTLP (HTTP, protobuf) to this collector, e.g.
    /// http://127.0.0.1:4318 (/v1/traces is appended). Spans: run → task → attempt →
    /// model call, with OpenTelemetry's GenAI attributes (model, tokens) and dagent's own
    /// (run id, task, attempt, cost, endpoint, status); never a key. The flag wins over
    /// OTEL_EXPORTER_OTLP_ENDPOINT. Needs the `otlp` feature (on by default).
    #[arg(long, value_name = "URL", global = true)]
    pub(crate) otlp_endpoint: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
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
    /// succeeded, 1 some task failed, was skipped or cancelled, 2 bad input. Ctrl-C (or
    /// SIGTERM) stops launching, cancels running tasks and still prints the full report.
    /// Every run is recorded in the run store (.dagent/runs.db) with its id; --resume
    /// continues one without paying again for what succeeded. Examples:
    ///
    ///   dagent run examples/ten-cities.toml --simulate --time-scale 0.05
    ///
    ///   dagent run plan.toml --simulate -k 3 --report report.json
    ///
    ///   dagent run plan.toml --simulate --mode batched --failure-mode fail_fast
    ///
    ///   dagent run plan.toml --resume            # continue the last run
    ///
    ///   dagent run plan.toml --timeline run.svg  # and draw its Gantt chart
    ///
    ///   dagent run plan.toml --metrics-addr 9090 # live /metrics, /status, /health
    ///
    ///   dagent --otlp-endpoint http://127.0.0.1:4318 run plan.toml   # export traces
    ///   dagent run plan.toml --review            # see batches, time and cost; accept, edit or cancel
    ///
    ///   dagent run --workflow standard --request "A CSV parser" --out-dir out
    ///
    /// A plan's [[loops]] repeat a group of tasks (code and its reviews) until every judge
    /// answers `VERDICT: <repeat_until>` or max_iterations runs out; later iterations run as
    /// new tasks (code#2, …) and the report shows each loop's verdicts and why it stopped
    /// (README, "Review loops"; examples/review-loop.toml).
    #[command(verbatim_doc_comment)]
    Run(Box<RunArgs>),

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

    /// Show the effective settings and where each value came from: built-in default, a
    /// line of dagent.toml, a DAGENT_* environment variable, or a flag. Secrets are never
    /// shown (only whether each provider's key variable is set).
    ///
    ///   dagent config
    ///
    ///   DAGENT_MAX_RETRIES=5 dagent config --config ci.toml -k 4
    ///
    ///   dagent config --format json
    #[command(verbatim_doc_comment)]
    Config(ConfigArgs),

    /// Run history from the run store: list runs, show one, compare two, export, clean up,
    /// write a stored run's plan back with its results.
    ///
    ///   dagent runs list
    ///
    ///   dagent runs show last
    ///
    ///   dagent runs compare RUN_A RUN_B
    ///
    ///   dagent runs export --csv > runs.csv
    ///
    ///   dagent runs gc --older-than 30d
    ///
    ///   dagent runs write-back RUN plan.out.toml
    #[command(verbatim_doc_comment)]
    Runs(RunsArgs),

    /// Run one prompt on several models at once: answers, latency, tokens and cost side by
    /// side.
    ///
    /// Every call is metered and counts against [budget] (and [shared], when configured).
    /// Exit status: 0 when every model answered, 1 when one failed, 2 bad input. Examples:
    ///
    ///   dagent compare "Summarise the French revolution in one line" --models deepseek-chat,llama-3.3-70b
    ///
    ///   dagent compare "Write a haiku" --models a,b,c --max-tokens 64 --format json
    #[command(verbatim_doc_comment)]
    Compare(CompareArgs),

    /// Run validation cases on several models: pass rate, median latency, tokens and cost per
    /// model, and the cheapest model that meets --min-pass-rate (the evidence for a routing
    /// tier).
    ///
    /// CASES.toml holds [[cases]] with a name, a prompt (and optionally system and
    /// max_tokens) and one expectation: contains or regex (either with ignore_case), exact,
    /// or json_schema (see examples/bench-cases.toml). Exit status: 0 when a model
    /// meets --min-pass-rate, 1 when none does, 2 bad input. Examples:
    ///
    ///   dagent bench-models examples/bench-cases.toml --models deepseek-chat,llama-3.3-70b
    ///
    ///   dagent bench-models cases.toml --models a,b --min-pass-rate 0.9 --report bench.json
    #[command(verbatim_doc_comment)]
    BenchModels(BenchModelsArgs),
    /// Turn a request into a plan: a model (role planner) writes it, or a workflow template
    /// generates it. The plan is checked (strict format, known ids, no cycles, at most
    /// --max-steps steps) and written for you to read, edit and run.
    ///
    /// Without --complexity the request's size decides: under 12 words in one sentence is
    /// simple (a one-step plan, no model call); 60+ words or 8+ parts (sentences, list
    /// items) complex; 150+ words or 25+ parts massive; anything else medium. Steps:
    /// simple 1, medium 2-20, complex 5-50, massive 10-100 (--max-steps lowers the cap).
    /// A bad answer is shown to the model once with its error; if the second is bad too,
    /// the error names the file where both answers were saved. Exit status: 0 the plan was
    /// written, 1 the model wrote no valid plan, 2 bad input. Examples:
    ///
    ///   dagent plan "Compare the tourist attractions of Tokyo, Paris and Rome" --out plan.toml
    ///
    ///   dagent plan --request-file request.txt --complexity complex --max-steps 12
    ///
    ///   dagent plan --workflow standard "A CSV parser with error handling" --out plan.toml
    ///
    ///   dagent run plan.toml --review
    #[command(verbatim_doc_comment)]
    Plan(PlanCmdArgs),

    /// List the built-in roles (and those [roles.NAME] defines) with their parameters and
    /// system prompts. A task's `role` picks one; [roles.NAME] in dagent.toml overrides any
    /// value (model, temperature, max_tokens, top_p, system_prompt).
    ///
    ///   dagent roles
    ///
    ///   dagent roles --config dagent.toml --format json
    #[command(verbatim_doc_comment)]
    Roles(RolesArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct PlanCmdArgs {
    /// The request, e.g. "Build a CLI that converts CSV to JSON" (or --request-file).
    #[arg(value_name = "REQUEST", required_unless_present = "request_file")]
    pub(crate) request: Option<String>,

    /// Read the request from a file.
    #[arg(long, value_name = "FILE", conflicts_with = "request")]
    pub(crate) request_file: Option<PathBuf>,

    /// Generate the plan from a workflow template instead of asking a model: standard,
    /// full, review, or a template file (a TOML plan whose strings say {request}). In
    /// standard and full, code and reviews form a review loop ([[loops]], written out too).
    #[arg(long, value_name = "NAME|FILE")]
    pub(crate) workflow: Option<String>,

    /// Where to write the plan; "-" (the default) for stdout.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "-")]
    pub(crate) out: PathBuf,

    /// The plan's format: toml, json or deerflow [default: from --out's extension, else toml].
    #[arg(long, short = 'f', value_name = "FORMAT", value_parser = parse_format)]
    pub(crate) format: Option<PlanFormat>,

    /// At most this many steps (lowers the complexity's cap).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000), conflicts_with = "workflow")]
    pub(crate) max_steps: Option<u16>,

    /// simple, medium, complex or massive [default: inferred from the request].
    #[arg(long, value_name = "LEVEL", value_parser = ["simple", "medium", "complex", "massive"], conflicts_with = "workflow")]
    pub(crate) complexity: Option<String>,

    /// Configuration file (providers, models, [routing], [roles.planner])
    /// [default: ./dagent.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RolesArgs {
    /// Configuration file (for [roles.*]) [default: ./dagent.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// text or json.
    #[arg(long, short = 'f', value_enum, default_value_t = TableFormat::Text)]
    pub(crate) format: TableFormat,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunsArgs {
    #[command(subcommand)]
    pub(crate) command: RunsCommand,

    /// Configuration file (for [store] path) [default: ./dagent.toml when it exists].
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) config: Option<PathBuf>,

    /// The run store [config: [store] path, DAGENT_STORE; default .dagent/runs.db].
    #[arg(long, value_name = "PATH", global = true)]
    pub(crate) store: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RunsCommand {
    /// Every stored run, newest first: status, plan, start, makespan, speed-up, tokens, cost.
    List {
        /// text or json.
        #[arg(long, short = 'f', value_enum, default_value_t = TableFormat::Text)]
        format: TableFormat,
    },
    /// One run's per-task table (RUN: an id, a unique prefix of one, or "last").
    Show {
        /// The run.
        #[arg(value_name = "RUN")]
        run: String,
        /// Also draw its timeline (a Gantt chart, SVG): attempts, waits, the critical
        /// path, and the predicted schedule as ghost bars.
        #[arg(long, value_name = "FILE.svg")]
        timeline: Option<PathBuf>,
        /// text or json.
        #[arg(long, short = 'f', value_enum, default_value_t = TableFormat::Text)]
        format: TableFormat,
    },
    /// Two runs side by side: makespan, cost, and per-task time and status changes.
    Compare {
        /// The first run.
        #[arg(value_name = "RUN_A")]
        a: String,
        /// The second run.
        #[arg(value_name = "RUN_B")]
        b: String,
    },
    /// Every run as CSV (one line per run) or JSON (with every attempt).
    Export {
        /// CSV (the default).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// JSON, with every attempt of every run.
        #[arg(long)]
        json: bool,
    },
    /// Delete finished runs older than a duration (e.g. 30d, 12h).
    Gc {
        /// Age, e.g. 30d.
        #[arg(long, value_name = "AGE")]
        older_than: String,
    },
    /// Write a stored run's plan back with its dependencies and results.
    WriteBack {
        /// The run.
        #[arg(value_name = "RUN")]
        run: String,
        /// Where to write; "-" for stdout.
        #[arg(value_name = "OUT")]
        out: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {
    /// Configuration file [default: ./dagent.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// How dependencies are found [config: dependency_strategy, default auto].
    #[arg(long, value_name = "STRATEGY")]
    pub(crate) strategy: Option<String>,

    #[command(flatten)]
    pub(crate) exec: ExecFlags,

    /// text or json.
    #[arg(long, short = 'f', value_enum, default_value_t = TableFormat::Text)]
    pub(crate) format: TableFormat,
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

    /// Check every endpoint now (a GET of its models list) and show its state.
    #[arg(long)]
    pub(crate) health: bool,
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
    #[arg(value_name = "PLAN", required = true)]
    pub(crate) plan: Option<PathBuf>,

    /// Plan format, when the file extension does not tell (.toml → toml; .json → deerflow
    /// if it has top-level "steps", else json).
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub(crate) input_format: Option<PlanFormat>,

    /// How dependencies are found: explicit (the plan's depends_on), heuristic (task kinds
    /// and wording), llm (ask a model), sequential (one after another), auto (explicit if
    /// the plan declares any, else heuristic). Every strategy falls back to sequential.
    /// [default: auto, or dependency_strategy in dagent.toml]
    #[arg(long, value_name = "STRATEGY")]
    pub(crate) strategy: Option<String>,

    /// Configuration file [default: ./dagent.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Largest plan or configuration file read, e.g. 64MiB [config: [input] max_bytes,
    /// DAGENT_MAX_INPUT_BYTES; default 256MiB].
    #[arg(long, value_name = "SIZE")]
    pub(crate) max_input_bytes: Option<String>,
}

impl PlanArgs {
    /// The settings flags these arguments carry.
    pub(crate) fn flag_values(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(s) = &self.strategy {
            out.push(("--strategy", s.clone()));
        }
        if let Some(b) = &self.max_input_bytes {
            out.push(("--max-input-bytes", b.clone()));
        }
        out
    }
}

#[derive(Debug, clap::Args)]
#[command(mut_arg("plan", |a| a.required(false).required_unless_present("workflow")))]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) plan: PlanArgs,

    /// Run a workflow template instead of a plan file: standard (clarify → architect → code
    /// → three reviews), full (… → review, security, tests → optimise, document), review
    /// (four parallel reviews of the code given as the request), or a template file. In
    /// standard and full the coder runs again with every review until the reviewers answer
    /// VERDICT: APPROVE (at most 3 iterations).
    #[arg(
        long,
        value_name = "NAME|FILE",
        conflicts_with = "plan",
        requires = "request_source"
    )]
    pub(crate) workflow: Option<String>,

    /// The workflow's request (its {request} placeholders).
    #[arg(
        long,
        value_name = "TEXT",
        group = "request_source",
        requires = "workflow"
    )]
    pub(crate) request: Option<String>,

    /// Read the workflow's request from a file.
    #[arg(
        long,
        value_name = "FILE",
        group = "request_source",
        requires = "workflow"
    )]
    pub(crate) request_file: Option<PathBuf>,

    /// Directory for the tasks' output files (`output_file = "…"`; the workflows write
    /// code, tests, docs and review results). Paths stay inside it: `..`, absolute paths
    /// and symbolic links are refused [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) out_dir: Option<PathBuf>,

    /// Review the plan before running: batches, critical path, predicted time and cost,
    /// then Accept / Edit (opens $EDITOR on the plan, analyses it again) / Cancel (exit
    /// status 1, nothing run). Needs a terminal; with --yes it prints the review and accepts.
    #[arg(long)]
    pub(crate) review: bool,

    /// Accept the --review without asking (for scripts and CI).
    #[arg(long, short = 'y', requires = "review")]
    pub(crate) yes: bool,

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

    /// Multiply simulated durations by F, between 0.000001 and 1000000 (0.01 previews a
    /// schedule 100 times faster).
    #[arg(long, value_name = "F", default_value = "1")]
    pub(crate) time_scale: String,

    /// Duration simulated for tasks without an estimate.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub(crate) default_estimate: String,

    #[command(flatten)]
    pub(crate) exec: ExecFlags,

    /// Write the run report as JSON (schema: docs/run-report-json.md); "-" for stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<PathBuf>,

    /// No progress output; only the final report.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,

    /// Continue a stored run (an id, a unique prefix, or "last", the default): its
    /// successful tasks are not run again — their stored outputs feed their dependents —
    /// unless the task or one of its inputs changed; failed, skipped, cancelled and
    /// never-started tasks run. Earlier spend counts against the budget.
    #[arg(long, value_name = "RUN", num_args = 0..=1, default_missing_value = "last")]
    pub(crate) resume: Option<String>,

    /// Draw the run's timeline (a Gantt chart, SVG): attempts, waits, the critical path,
    /// and the predicted schedule as ghost bars.
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) timeline: Option<PathBuf>,

    /// Serve live metrics while the run lasts: /metrics (Prometheus text: tasks by state,
    /// retries, tokens and cost by model, model-call latency, breaker, budget; see
    /// docs/metrics.md), /health, and /status (JSON: running tasks, progress, ETA, spend).
    /// A bare port listens on 127.0.0.1 only; give HOST:PORT (e.g. 0.0.0.0:9090) to listen
    /// elsewhere.
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_addr: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AnalyzeArgs {
    #[command(flatten)]
    pub(crate) plan: PlanArgs,

    /// Output format: text (for people), json (stable schema, for tools), dot (Graphviz),
    /// mermaid (Markdown diagrams).
    #[arg(long, short = 'f', value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) format: OutputFormat,

    /// Concurrency limit used for the speed-up bound (work ÷ max(critical path, work ÷ K))
    /// [config: max_concurrent_tasks, default 10].
    #[arg(long, short = 'k', value_name = "K")]
    pub(crate) max_concurrent: Option<String>,

    /// Write the plan back to OUT with the dependencies filled in (depends_on for native
    /// plans, dependencies for DeerFlow), everything else preserved. "-" for stdout.
    #[arg(long, value_name = "OUT")]
    pub(crate) annotate: Option<PathBuf>,

    /// Explain the graph: for every dependency, the rule and the words that produced it and
    /// a confidence; for each task left independent of the task listed before it, why; and
    /// the plan's confidence (text and json formats).
    #[arg(long)]
    pub(crate) explain: bool,
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

/// The run settings a flag can override (validated by the settings layer, by the same rule
/// as the `dagent.toml` key and the `DAGENT_*` variable named in each help text).
#[derive(Debug, Default, clap::Args)]
pub(crate) struct ExecFlags {
    /// Tasks running at once (1 runs one at a time) [config: max_concurrent_tasks, default 10].
    #[arg(long, short = 'k', value_name = "K")]
    pub(crate) max_concurrent: Option<String>,

    /// eager: start each task as soon as its dependencies are done; batched: level
    /// barriers [config: mode, default eager].
    #[arg(long, value_name = "MODE")]
    pub(crate) mode: Option<String>,

    /// Tasks launched per second, retries included, between 0.000001 and 1000000
    /// [config: max_tasks_per_second].
    #[arg(long, value_name = "N")]
    pub(crate) rate: Option<String>,

    /// Time limit of one attempt, e.g. 30s, 5m; 0 for none [config: task_timeout_seconds, default 300].
    #[arg(long, value_name = "DURATION")]
    pub(crate) task_timeout: Option<String>,

    /// Time limit of one batch in batched mode; 0 for none [config: batch_timeout_seconds].
    #[arg(long, value_name = "DURATION")]
    pub(crate) batch_timeout: Option<String>,

    /// Time limit of the whole run, e.g. 10m: past it, running tasks are cancelled and the
    /// rest skipped; 0 for none [config: run_timeout_seconds].
    #[arg(long, value_name = "DURATION")]
    pub(crate) deadline: Option<String>,

    /// Retries of transient failures [config: max_retries, default 3].
    #[arg(long, value_name = "N")]
    pub(crate) max_retries: Option<String>,

    /// Delays before each retry, in seconds, comma-separated; the last repeats, jitter is
    /// added [config: retry_backoff_seconds, default 1,5,15].
    #[arg(long, value_name = "LIST")]
    pub(crate) retry_backoff: Option<String>,

    /// Longest wait before a retry: a server asking for more (Retry-After) fails the attempt
    /// as rate-limited instead [config: max_retry_delay_seconds, default 300].
    #[arg(long, value_name = "DURATION")]
    pub(crate) max_retry_delay: Option<String>,

    /// Do not retry failures [config: retry_on_failure = false].
    #[arg(long)]
    pub(crate) no_retry: bool,

    /// The run store, where every run and attempt is recorded [config: [store] path,
    /// DAGENT_STORE; default .dagent/runs.db].
    #[arg(long, value_name = "PATH")]
    pub(crate) store: Option<String>,

    /// Record nothing in the run store [config: [store] enabled = false].
    #[arg(long, conflicts_with = "store")]
    pub(crate) no_store: bool,

    /// skip_dependents (descendants of a failed task are skipped), partial_completion
    /// (dependents run and are told which inputs failed), fail_fast (stop everything)
    /// [config: failure_mode, default skip_dependents].
    #[arg(long, value_name = "MODE")]
    pub(crate) failure_mode: Option<String>,

    /// Open the circuit breaker (stop launching) once more than this fraction of finished
    /// tasks failed [config: failure_threshold].
    #[arg(long, value_name = "FRACTION")]
    pub(crate) failure_threshold: Option<String>,
}

impl ExecFlags {
    /// The flags given, as `(flag, raw value)` pairs for the settings layer.
    pub(crate) fn values(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut push = |flag: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                out.push((flag, v.clone()));
            }
        };
        push("--max-concurrent", &self.max_concurrent);
        push("--mode", &self.mode);
        push("--rate", &self.rate);
        push("--task-timeout", &self.task_timeout);
        push("--batch-timeout", &self.batch_timeout);
        push("--deadline", &self.deadline);
        push("--max-retries", &self.max_retries);
        push("--retry-backoff", &self.retry_backoff);
        push("--max-retry-delay", &self.max_retry_delay);
        push("--failure-mode", &self.failure_mode);
        push("--failure-threshold", &self.failure_threshold);
        push("--store", &self.store);
        if self.no_retry {
            out.push(("--no-retry", "false".to_owned()));
        }
        if self.no_store {
            out.push(("--no-store", "false".to_owned()));
        }
        out
    }
}

/// `dagent compare`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompareArgs {
    /// The prompt sent to every model.
    pub(crate) prompt: String,

    /// Models to compare, comma-separated names from [models.*] or the built-in catalogue.
    #[arg(long, value_name = "LIST", value_delimiter = ',', required = true)]
    pub(crate) models: Vec<String>,

    /// A system prompt.
    #[arg(long, value_name = "TEXT")]
    pub(crate) system: Option<String>,

    /// Cap on generated tokens, at least 1 [default: each model's max_output_tokens].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_tokens: Option<u32>,

    /// Configuration file [default: ./dagent.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// text or json.
    #[arg(long, short = 'f', value_enum, default_value_t = TableFormat::Text)]
    pub(crate) format: TableFormat,
}

/// `dagent bench-models`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchModelsArgs {
    /// The validation cases (TOML: [[cases]] name, prompt, expect).
    pub(crate) cases: PathBuf,

    /// Models to benchmark, comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',', required = true)]
    pub(crate) models: Vec<String>,

    /// The pass rate (0 to 1) a model needs to be named the cheapest that qualifies.
    #[arg(long, value_name = "FRACTION", default_value = "0.8")]
    pub(crate) min_pass_rate: String,

    /// Write the full results as JSON to FILE ("-" for stdout).
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<PathBuf>,

    /// Configuration file [default: ./dagent.toml when it exists].
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// text or json.
    #[arg(long, short = 'f', value_enum, default_value_t = TableFormat::Text)]
    pub(crate) format: TableFormat,
}
