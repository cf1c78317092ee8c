//! `dagent compare` and `dagent bench-models`: model selection. One prompt, or a set of
//! validation cases, across several models at once — answers, pass rate, latency, tokens
//! and cost side by side. Every call goes through the providers' wiring and the one metered
//! path (`dagent_core::metered_chat`), so `[budget]` and `[shared]` apply.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use dagent_adapters::{PlanError, PlanErrorKind};
use dagent_core::display::{escape, escape_lines};
use dagent_core::{
    Billing, ChatMessage, ChatProvider, ChatRequest, CostTracker, Money, Usage, metered_chat,
};
use dagent_providers::{CostLedger, ModelInfo};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::args::{BenchModelsArgs, CompareArgs, TableFormat};
use crate::diag::{Failure, write_output};
use crate::settings::Settings;
use crate::settings::value::{Raw, Rule, Value};

/// The models to call, each with its client, its entry and its provider's concurrency
/// limit; the tracker every call is metered in.
struct Wired {
    models: Vec<(ModelInfo, Arc<dyn ChatProvider>, Arc<Semaphore>)>,
    tracker: Arc<dyn CostTracker>,
    ledger: Arc<CostLedger>,
    shared: Option<crate::shared::Shared>,
}

fn wire(settings: &Settings, names: &[String]) -> Result<Wired, Failure> {
    let m = &settings.models;
    let mut seen = std::collections::HashSet::new();
    for name in names {
        if name.trim().is_empty() {
            return Err(Failure::bad_input("error: --models has an empty name"));
        }
        if !seen.insert(name) {
            return Err(Failure::bad_input(format!(
                "error: --models names \"{}\" twice",
                escape(name)
            )));
        }
        if m.catalogue.get(name).is_none() {
            return Err(Failure::bad_input(format!(
                "error: unknown model \"{}\" (known: {}); define others under [models.NAME] in dagent.toml",
                escape(name),
                m.catalogue.names().join(", ")
            )));
        }
    }
    let ledger = Arc::new(CostLedger::new(m.budget, m.warn_at));
    let shared = crate::shared::Shared::from_settings(
        settings.shared.as_ref(),
        m.budget,
        Arc::clone(&ledger) as Arc<dyn CostTracker>,
        false,
    )?;
    // With [shared], requests count against the shared limits and calls pay through the
    // shared budget.
    let (providers, tracker) = crate::shared::providers(m, shared.as_ref(), &ledger)
        .map_err(|e| Failure::bad_input(format!("error: {e}")))?;
    let limits = providers.key_limits();
    let mut semaphores: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let mut models = Vec::new();
    for name in names {
        let (client, info) = providers
            .client_for_model(&m.catalogue, name)
            .map_err(|e| Failure::bad_input(format!("error: {e}")))?;
        let permits = limits
            .get(&info.provider)
            .copied()
            .unwrap_or(Semaphore::MAX_PERMITS)
            .clamp(1, Semaphore::MAX_PERMITS);
        let sem = semaphores
            .entry(info.provider.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(permits)))
            .clone();
        models.push((info, client, sem));
    }
    Ok(Wired {
        models,
        tracker,
        ledger,
        shared,
    })
}

/// One call's outcome.
#[derive(Clone, Debug, Serialize)]
struct Call {
    answer: Option<String>,
    error: Option<String>,
    latency_ms: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cost_usd: String,
    provider_reported_usd: Option<String>,
    #[serde(skip)]
    cost: Money,
}

impl Call {
    /// The outcome of a call whose task panicked (a defect): an error, nothing paid.
    fn panicked() -> Self {
        Self {
            answer: None,
            error: Some("the call panicked (a defect in dagent); nothing was recorded".to_owned()),
            latency_ms: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: usd(Money::ZERO),
            provider_reported_usd: None,
            cost: Money::ZERO,
        }
    }
}

fn usd(m: Money) -> String {
    m.to_string().trim_start_matches('$').to_owned()
}

#[allow(clippy::too_many_arguments)]
async fn call(
    info: &ModelInfo,
    client: &Arc<dyn ChatProvider>,
    sem: &Semaphore,
    tracker: &Arc<dyn CostTracker>,
    label: &str,
    system: Option<&str>,
    prompt: &str,
    max_tokens: Option<u32>,
) -> Call {
    let mut messages = Vec::new();
    if let Some(s) = system {
        messages.push(ChatMessage::system(s));
    }
    messages.push(ChatMessage::user(prompt));
    let request = ChatRequest {
        model: info.id.clone(),
        messages,
        temperature: Some(0.0),
        max_tokens: Some(
            max_tokens
                .unwrap_or(info.max_output_tokens)
                .min(info.max_output_tokens.max(1)),
        ),
        ..ChatRequest::default()
    };
    let _permit = sem.acquire().await;
    let started = Instant::now();
    let outcome = metered_chat(
        client.as_ref(),
        tracker.as_ref(),
        info.price,
        &request,
        Billing::new(label, info.name.clone()),
    )
    .await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match outcome {
        Ok(done) => Call {
            answer: Some(done.response.content),
            error: None,
            latency_ms,
            prompt_tokens: done.usage.prompt_tokens,
            completion_tokens: done.usage.completion_tokens,
            cost_usd: usd(done.cost),
            provider_reported_usd: done.reported_cost.map(usd),
            cost: done.cost,
        },
        Err(e) => Call {
            answer: None,
            error: Some(e.to_string()),
            latency_ms,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: "0".into(),
            provider_reported_usd: None,
            cost: Money::ZERO,
        },
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::bad_input(format!("error: cannot start the async runtime: {e}")))
}

#[derive(Serialize)]
struct CompareRow {
    model: String,
    #[serde(flatten)]
    call: Call,
}

#[derive(Serialize)]
struct CompareDoc<'a> {
    prompt: &'a str,
    models: Vec<CompareRow>,
    total_cost_usd: String,
}

/// `dagent compare`.
pub(crate) fn compare(args: &CompareArgs) -> Result<ExitCode, Failure> {
    let settings = Settings::from_env(args.config.as_deref())?;
    if args.prompt.trim().is_empty() {
        return Err(Failure::bad_input("error: the prompt is empty"));
    }
    if args.max_tokens == Some(0) {
        return Err(Failure::bad_input("error: --max-tokens must be at least 1"));
    }
    let wired = wire(&settings, &args.models)?;
    let rows = runtime()?.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        let mut names = std::collections::HashMap::new();
        for (i, (info, client, sem)) in wired.models.iter().enumerate() {
            let (info, client, sem) = (info.clone(), Arc::clone(client), Arc::clone(sem));
            let tracker = Arc::clone(&wired.tracker);
            let (system, prompt, max) = (args.system.clone(), args.prompt.clone(), args.max_tokens);
            let name = info.name.clone();
            let id = set.spawn(async move {
                let c = call(
                    &info,
                    &client,
                    &sem,
                    &tracker,
                    "(compare)",
                    system.as_deref(),
                    &prompt,
                    max,
                )
                .await;
                (i, info.name.clone(), c)
            });
            names.insert(id.id(), (i, name));
        }
        let mut rows: Vec<(usize, CompareRow)> = Vec::new();
        while let Some(r) = set.join_next_with_id().await {
            match r {
                Ok((_, (i, model, call))) => rows.push((i, CompareRow { model, call })),
                // A call that panicked still has its row: every model asked is shown.
                Err(e) => {
                    if let Some((i, model)) = names.get(&e.id()).cloned() {
                        rows.push((
                            i,
                            CompareRow {
                                model,
                                call: Call::panicked(),
                            },
                        ));
                    }
                }
            }
        }
        if let Some(s) = &wired.shared {
            for line in s.finish(true).await {
                eprintln!("{}", escape(&line));
            }
        }
        rows.sort_by_key(|(i, _)| *i);
        rows.into_iter().map(|(_, r)| r).collect::<Vec<_>>()
    });
    let total = wired.ledger.summary().total.cost;
    let failed = rows.iter().any(|r| r.call.error.is_some());
    if args.format == TableFormat::Json {
        let doc = CompareDoc {
            prompt: &args.prompt,
            models: rows,
            total_cost_usd: usd(total),
        };
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        let mut out = String::new();
        let w = rows
            .iter()
            .map(|r| r.model.chars().count())
            .max()
            .unwrap_or(5)
            .clamp(5, 32);
        let _ = writeln!(
            out,
            "{:<w$}  {:>9}  {:>7}  {:>7}  {:>12}",
            "model", "latency", "in", "out", "cost"
        );
        for r in &rows {
            let _ = writeln!(
                out,
                "{:<w$}  {:>8.2}s  {:>7}  {:>7}  {:>12}",
                r.model,
                r.call.latency_ms as f64 / 1000.0,
                r.call.prompt_tokens,
                r.call.completion_tokens,
                format!("${}", r.call.cost_usd),
            );
        }
        let _ = writeln!(out, "Total cost {total}");
        for r in &rows {
            let _ = writeln!(out, "\n── {} ──", r.model);
            match (&r.call.answer, &r.call.error) {
                (Some(a), _) => {
                    let _ = writeln!(out, "{}", a.trim_end());
                }
                (None, Some(e)) => {
                    let _ = writeln!(out, "FAILED: {e}");
                }
                _ => {}
            }
        }
        print!("{}", escape_lines(&out));
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

// ---------------------------------------------------------------------------------------
// bench-models

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CasesFile {
    cases: Vec<toml::Spanned<RawCase>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: toml::Spanned<String>,
    prompt: toml::Spanned<String>,
    system: Option<String>,
    max_tokens: Option<toml::Spanned<u32>>,
    expect: toml::Spanned<RawExpect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    contains: Option<String>,
    regex: Option<String>,
    exact: Option<String>,
    json_schema: Option<toml::Value>,
    ignore_case: Option<bool>,
}

/// What an answer must satisfy.
enum Expect {
    Contains { text: String, ignore_case: bool },
    Regex(regex::Regex),
    Exact(String),
    Schema(Box<jsonschema::Validator>),
}

impl Expect {
    fn describe(&self) -> String {
        match self {
            Self::Contains { text, .. } => format!("contains {text:?}"),
            Self::Regex(r) => format!("matches /{}/", r.as_str()),
            Self::Exact(t) => format!("is exactly {t:?}"),
            Self::Schema(_) => "is JSON valid against the case's schema".to_owned(),
        }
    }

    /// `Ok(())` when `answer` passes, else why not.
    fn check(&self, answer: &str) -> Result<(), String> {
        let ok = match self {
            Self::Contains { text, ignore_case } => {
                if *ignore_case {
                    answer.to_lowercase().contains(&text.to_lowercase())
                } else {
                    answer.contains(text.as_str())
                }
            }
            Self::Regex(r) => r.is_match(answer),
            Self::Exact(t) => answer.trim() == t.trim(),
            Self::Schema(v) => {
                let body = strip_fence(answer);
                let value: serde_json::Value = serde_json::from_str(body)
                    .map_err(|e| format!("the answer is not JSON ({e})"))?;
                return v
                    .validate(&value)
                    .map_err(|e| format!("the JSON does not match the schema: {e}"));
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!("the answer does not satisfy: {}", self.describe()))
        }
    }
}

/// The JSON inside a Markdown code fence, if the answer is one.
fn strip_fence(answer: &str) -> &str {
    let t = answer.trim();
    t.strip_prefix("```")
        .and_then(|rest| rest.strip_suffix("```"))
        .map_or(t, |inner| {
            let inner = inner.strip_prefix("json").unwrap_or(inner);
            inner.trim()
        })
}

struct Case {
    name: String,
    prompt: String,
    system: Option<String>,
    max_tokens: Option<u32>,
    expect: Expect,
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn load_cases(path: &Path, max_bytes: u64) -> Result<Vec<Case>, Failure> {
    let origin = path.display().to_string();
    let text = dagent_adapters::read_input(path, max_bytes)?;
    let bad = |span: Option<std::ops::Range<usize>>, m: String| {
        Failure::from(PlanError::new(PlanErrorKind::Schema, &origin, m).with_span(&text, span))
    };
    let file: CasesFile =
        toml::from_str(&text).map_err(|e| bad(e.span(), e.message().trim().to_owned()))?;
    if file.cases.is_empty() {
        return Err(bad(None, "no [[cases]]: add at least one".into()));
    }
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, case) in file.cases.into_iter().enumerate() {
        let c = case.into_inner();
        let name = c.name.get_ref().clone();
        // Each error points at the value it is about (file:line:col).
        let at = |span: std::ops::Range<usize>, m: &str| {
            bad(Some(span), format!("case #{} ({name:?}): {m}", i + 1))
        };
        if !names.insert(name.clone()) {
            return Err(at(c.name.span(), "another case has this name"));
        }
        if c.prompt.get_ref().trim().is_empty() {
            return Err(at(c.prompt.span(), "the prompt is empty"));
        }
        if let Some(m) = c.max_tokens.as_ref().filter(|m| *m.get_ref() == 0) {
            return Err(at(m.span(), "max_tokens must be at least 1"));
        }
        let span = c.expect.span();
        let e = c.expect.get_ref();
        let given = [
            e.contains.is_some(),
            e.regex.is_some(),
            e.exact.is_some(),
            e.json_schema.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if given != 1 {
            return Err(at(
                span,
                "expect needs exactly one of contains, regex, exact or json_schema",
            ));
        }
        let expect = if let Some(t) = &e.contains {
            Expect::Contains {
                text: t.clone(),
                ignore_case: e.ignore_case.unwrap_or(false),
            }
        } else if let Some(r) = &e.regex {
            let r = regex::RegexBuilder::new(r)
                .case_insensitive(e.ignore_case.unwrap_or(false))
                .size_limit(1 << 20)
                .build()
                .map_err(|err| at(span.clone(), &format!("bad regex: {err}")))?;
            Expect::Regex(r)
        } else if let Some(t) = &e.exact {
            Expect::Exact(t.clone())
        } else {
            let schema = e.json_schema.as_ref().map(toml_to_json).unwrap_or_default();
            let v = jsonschema::validator_for(&schema)
                .map_err(|err| at(span.clone(), &format!("bad json_schema: {err}")))?;
            Expect::Schema(Box::new(v))
        };
        out.push(Case {
            name,
            prompt: c.prompt.into_inner(),
            system: c.system,
            max_tokens: c.max_tokens.map(toml::Spanned::into_inner),
            expect,
        });
    }
    Ok(out)
}

#[derive(Serialize)]
struct CaseResult {
    case: String,
    passed: bool,
    reason: Option<String>,
    #[serde(flatten)]
    call: Call,
}

#[derive(Serialize)]
struct ModelResult {
    model: String,
    passed: usize,
    total: usize,
    pass_rate: f64,
    median_latency_ms: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cost_usd: String,
    cases: Vec<CaseResult>,
    #[serde(skip)]
    cost: Money,
}

#[derive(Serialize)]
struct BenchDoc {
    cases_file: String,
    min_pass_rate: f64,
    cheapest_qualifying: Option<String>,
    models: Vec<ModelResult>,
    total_cost_usd: String,
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    match v.len() {
        0 => 0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

/// `dagent bench-models`.
pub(crate) fn bench(args: &BenchModelsArgs) -> Result<ExitCode, Failure> {
    let settings = Settings::from_env(args.config.as_deref())?;
    let Value::Number(Some(min_rate)) = Rule::Fraction
        .parse(&Raw::Text(&args.min_pass_rate))
        .map_err(|m| {
            Failure::bad_input(format!(
                "error: --min-pass-rate {}: {m}",
                args.min_pass_rate
            ))
        })?
    else {
        return Err(Failure::bad_input(
            "error: --min-pass-rate must be a fraction between 0 and 1",
        ));
    };
    let cases = Arc::new(load_cases(&args.cases, settings.max_input_bytes)?);
    // Checked before any call, without truncating what is there (it could be anything).
    if let Some(path) = args.report.as_ref().filter(|p| p.as_os_str() != "-") {
        crate::run::check_writable(path, "report")?;
    }
    let wired = wire(&settings, &args.models)?;
    let results = runtime()?.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        let mut names = std::collections::HashMap::new();
        for (i, (info, client, sem)) in wired.models.iter().enumerate() {
            let (info, client, sem) = (info.clone(), Arc::clone(client), Arc::clone(sem));
            let tracker = Arc::clone(&wired.tracker);
            let cases = Arc::clone(&cases);
            let name = info.name.clone();
            let id = set.spawn(async move {
                let mut results = Vec::new();
                for case in cases.iter() {
                    let c = call(
                        &info,
                        &client,
                        &sem,
                        &tracker,
                        &format!("(bench {})", case.name),
                        case.system.as_deref(),
                        &case.prompt,
                        case.max_tokens,
                    )
                    .await;
                    let verdict = match (&c.answer, &c.error) {
                        (Some(a), _) => case.expect.check(a),
                        (None, e) => Err(format!(
                            "the call failed: {}",
                            e.as_deref().unwrap_or("no answer")
                        )),
                    };
                    results.push(CaseResult {
                        case: case.name.clone(),
                        passed: verdict.is_ok(),
                        reason: verdict.err(),
                        call: c,
                    });
                }
                (i, info.name.clone(), results)
            });
            names.insert(id.id(), (i, name));
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next_with_id().await {
            match r {
                Ok((_, r)) => out.push(r),
                // A model whose run panicked fails every case, and is still shown.
                Err(e) => {
                    if let Some((i, model)) = names.get(&e.id()).cloned() {
                        let failed = cases
                            .iter()
                            .map(|case| CaseResult {
                                case: case.name.clone(),
                                passed: false,
                                reason: Some("the call panicked".to_owned()),
                                call: Call::panicked(),
                            })
                            .collect();
                        out.push((i, model, failed));
                    }
                }
            }
        }
        if let Some(s) = &wired.shared {
            for line in s.finish(true).await {
                eprintln!("{}", escape(&line));
            }
        }
        out.sort_by_key(|(i, _, _)| *i);
        out
    });
    let models: Vec<ModelResult> = results
        .into_iter()
        .map(|(_, model, cases)| {
            let passed = cases.iter().filter(|c| c.passed).count();
            let total = cases.len();
            let cost = cases.iter().fold(Money::ZERO, |a, c| a + c.call.cost);
            let usage = cases.iter().fold(Usage::default(), |mut a, c| {
                a += Usage::new(c.call.prompt_tokens, c.call.completion_tokens);
                a
            });
            #[allow(clippy::cast_precision_loss)]
            let pass_rate = if total == 0 {
                0.0
            } else {
                ((passed as f64 / total as f64) * 1000.0).round() / 1000.0
            };
            ModelResult {
                model,
                passed,
                total,
                pass_rate,
                median_latency_ms: median(cases.iter().map(|c| c.call.latency_ms).collect()),
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                cost_usd: usd(cost),
                cost,
                cases,
            }
        })
        .collect();
    let cheapest = models
        .iter()
        .filter(|m| m.pass_rate + 1e-9 >= min_rate)
        .min_by(|a, b| {
            a.cost
                .cmp(&b.cost)
                .then(b.pass_rate.total_cmp(&a.pass_rate))
        })
        .map(|m| m.model.clone());
    let doc = BenchDoc {
        cases_file: args.cases.display().to_string(),
        min_pass_rate: min_rate,
        cheapest_qualifying: cheapest.clone(),
        total_cost_usd: usd(wired.ledger.summary().total.cost),
        models,
    };
    let json = serde_json::to_string_pretty(&doc).unwrap_or_default();
    let mut report_to_stdout = false;
    if let Some(path) = &args.report {
        if path.as_os_str() == "-" {
            report_to_stdout = true;
            println!("{json}");
        } else {
            write_output(path, &format!("{json}\n"))?;
        }
    }
    if report_to_stdout {
    } else if args.format == TableFormat::Json {
        println!("{json}");
    } else {
        print!("{}", escape_lines(&bench_text(&doc, cases.len())));
    }
    Ok(if cheapest.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn bench_text(doc: &BenchDoc, n: usize) -> String {
    let mut out = String::new();
    let w = doc
        .models
        .iter()
        .map(|m| m.model.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 32);
    let _ = writeln!(
        out,
        "{n} case{} × {} model{}",
        if n == 1 { "" } else { "s" },
        doc.models.len(),
        if doc.models.len() == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        out,
        "{:<w$}  {:>9}  {:>10}  {:>8}  {:>8}  {:>12}",
        "model", "pass", "median", "in", "out", "cost"
    );
    for m in &doc.models {
        let _ = writeln!(
            out,
            "{:<w$}  {:>3}/{:<3}{:>3.0}%  {:>9.2}s  {:>8}  {:>8}  {:>12}",
            m.model,
            m.passed,
            m.total,
            m.pass_rate * 100.0,
            m.median_latency_ms as f64 / 1000.0,
            m.prompt_tokens,
            m.completion_tokens,
            format!("${}", m.cost_usd)
        );
    }
    for m in &doc.models {
        for c in m.cases.iter().filter(|c| !c.passed) {
            let _ = writeln!(
                out,
                "  {} failed {}: {}",
                m.model,
                c.case,
                c.reason.as_deref().unwrap_or("")
            );
        }
    }
    let pct = doc.min_pass_rate * 100.0;
    match &doc.cheapest_qualifying {
        Some(m) => {
            let _ = writeln!(
                out,
                "Cheapest model with a pass rate of at least {pct:.0}%: {m}"
            );
        }
        None => {
            let _ = writeln!(out, "No model reached a pass rate of {pct:.0}%");
        }
    }
    out
}
