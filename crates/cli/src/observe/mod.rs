//! Seeing a run from outside: the live metrics and status of `dagent run --metrics-addr`,
//! the ETA, and the log/trace subscriber.
//!
//! The library crates only emit: task states arrive through the executor's `RunObserver`
//! port ([`Live`] implements it), model calls through the `provider_call` spans the
//! providers' runner opens ([`layer::MetricsLayer`] reads them). [`server`] serves what
//! [`Live`] holds: `/metrics` (Prometheus text, every metric in `docs/metrics.md`),
//! `/health`, `/status` (JSON).

pub(crate) mod eta;
pub(crate) mod layer;
pub(crate) mod server;
pub(crate) mod telemetry;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use dagent_core::{Money, RunEvent, RunEventKind, RunObserver};
use dagent_providers::{CostLedger, EndpointStats};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use self::eta::{EtaModel, Left};

/// A metric's labels.
type Labels = Vec<(&'static str, String)>;

/// Where a task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Pending,
    Running,
    Retrying,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

impl Phase {
    const ALL: [Self; 7] = [
        Self::Pending,
        Self::Running,
        Self::Retrying,
        Self::Succeeded,
        Self::Failed,
        Self::Skipped,
        Self::Cancelled,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }

    fn ended(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Skipped | Self::Cancelled
        )
    }
}

/// One task as the status shows it.
#[derive(Debug)]
struct TaskLive {
    id: String,
    /// `None` for a task first seen through an event of a task appended by a loop,
    /// until its `Appended` event tells it.
    title: Option<String>,
    model: Option<String>,
    phase: Phase,
    attempt: u32,
    since: Option<Instant>,
}

/// What a run is, once its plan is known.
pub(crate) struct RunInfo {
    /// The run's id in the store (`None` without one).
    pub(crate) run_id: Option<String>,
    /// Each task's id, title and routed model (the model its first attempt goes to).
    pub(crate) tasks: Vec<(String, String, Option<String>)>,
    /// For the ETA (`None` when the plan has no estimates).
    pub(crate) eta: Option<EtaModel>,
    /// Spend and budget (`None` for a simulation).
    pub(crate) ledger: Option<Arc<CostLedger>>,
}

#[derive(Default)]
struct State {
    started: Option<Instant>,
    run_id: Option<String>,
    tasks: Vec<TaskLive>,
    eta: Option<EtaModel>,
    ledger: Option<Arc<CostLedger>>,
}

/// The metric families (see `docs/metrics.md`).
struct Families {
    tasks: Family<Labels, Gauge>,
    in_flight: Gauge,
    retries: Family<Labels, Counter>,
    tokens: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    provider_in_flight: Family<Labels, Gauge>,
    provider_errors: Family<Labels, Counter>,
    breaker_open: Gauge,
    budget_remaining: Gauge<f64, AtomicU64>,
    spent: Gauge<f64, AtomicU64>,
    eta: Gauge<f64, AtomicU64>,
}

/// `dagent_cost_usd_total{model}`: summed in exact nano-dollars, converted once per
/// scrape (a float counter would drift: 0.0001085 + … = 0.00010850000000000001).
#[derive(Clone, Debug, Default)]
struct CostByModel(Arc<Mutex<std::collections::BTreeMap<String, u64>>>);

impl prometheus_client::collector::Collector for CostByModel {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let by_model = self.0.lock().map(|m| m.clone()).unwrap_or_default();
        if by_model.is_empty() {
            return Ok(());
        }
        let mut family = encoder.encode_descriptor(
            "dagent_cost_usd",
            "Cost of model calls in US dollars, by model",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (model, nanos) in &by_model {
            let labels = [("model", model.as_str())];
            let value = prometheus_client::metrics::counter::ConstCounter::new(usd(
                Money::from_nanos(*nanos),
            ));
            value.encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Where the endpoints' state comes from at scrape time.
pub(crate) type EndpointSource = Arc<dyn Fn() -> Vec<EndpointStats> + Send + Sync>;

/// The `dagent_endpoint_*` series: one per endpoint of every provider's pool, labelled
/// `provider` and `endpoint` (its base URL, credentials removed), read from the pools at
/// each scrape rather than kept twice.
#[derive(Clone, Default)]
struct EndpointCollector(Arc<Mutex<Option<EndpointSource>>>);

impl std::fmt::Debug for EndpointCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointCollector").finish_non_exhaustive()
    }
}

impl EndpointCollector {
    fn read(&self) -> Vec<EndpointStats> {
        let source = self.0.lock().ok().and_then(|s| s.clone());
        source.map(|f| f()).unwrap_or_default()
    }
}

/// `url` without the user and password an URL may carry (`https://u:p@host/v1` →
/// `https://host/v1`); configuration refuses them, but a label must never show one.
pub(crate) fn public_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if scheme.is_empty() {
        format!("{host}{path}")
    } else {
        format!("{scheme}://{host}{path}")
    }
}

impl prometheus_client::collector::Collector for EndpointCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::MetricType;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let stats = self.read();
        if stats.is_empty() {
            return Ok(());
        }
        let labels: Vec<[(&str, String); 2]> = stats
            .iter()
            .map(|e| {
                [
                    ("provider", e.provider.clone()),
                    ("endpoint", public_url(&e.url)),
                ]
            })
            .collect();
        let gauge = |v: u64| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
        type Read = fn(&EndpointStats) -> Option<u64>;
        let counters: [(&str, &str, Read); 4] = [
            (
                "dagent_endpoint_requests",
                "Model calls sent to each endpoint of a provider",
                |e| Some(e.requests),
            ),
            (
                "dagent_endpoint_errors",
                "Model calls that failed at each endpoint",
                |e| Some(e.errors),
            ),
            (
                "dagent_endpoint_failovers",
                "Calls that failed at an endpoint and were sent to another one of the provider",
                |e| Some(e.failovers),
            ),
            (
                "dagent_endpoint_cooldowns",
                "Times each endpoint was put in cooldown after failing",
                |e| Some(e.cooldowns),
            ),
        ];
        for (name, help, read) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (e, l) in stats.iter().zip(&labels) {
                if let Some(v) = read(e) {
                    ConstCounter::new(v).encode(family.encode_family(l)?)?;
                }
            }
        }
        let gauges: [(&str, &str, Read); 3] = [
            (
                "dagent_endpoint_in_flight",
                "Model calls in flight at each endpoint",
                |e| Some(e.in_flight as u64),
            ),
            (
                "dagent_endpoint_cooling_down",
                "1 while an endpoint is cooling down (no call is sent there), else 0",
                |e| Some(u64::from(e.cooling_down)),
            ),
            (
                "dagent_endpoint_adaptive_limit",
                "The adaptive concurrency limit of each endpoint now (only with adaptive concurrency)",
                |e| e.adaptive_limit.map(|l| l as u64),
            ),
        ];
        for (name, help, read) in gauges {
            if stats.iter().all(|e| read(e).is_none()) {
                continue;
            }
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (e, l) in stats.iter().zip(&labels) {
                if let Some(v) = read(e) {
                    gauge(v).encode(family.encode_family(l)?)?;
                }
            }
        }
        Ok(())
    }
}

fn latency_histogram() -> Histogram {
    // 50 ms … ~200 s.
    Histogram::new(exponential_buckets(0.05, 2.0, 13))
}

/// The live view of one run: what `/metrics` and `/status` show.
pub(crate) struct Live {
    registry: Registry,
    m: Families,
    cost: CostByModel,
    endpoints: EndpointCollector,
    state: Mutex<State>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

fn usd(m: Money) -> f64 {
    m.as_dollars_f64()
}

impl Live {
    /// An empty view with every metric registered.
    pub(crate) fn new() -> Self {
        let m = Families {
            tasks: Family::default(),
            in_flight: Gauge::default(),
            retries: Family::default(),
            tokens: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            provider_in_flight: Family::default(),
            provider_errors: Family::default(),
            breaker_open: Gauge::default(),
            budget_remaining: Gauge::default(),
            spent: Gauge::default(),
            eta: Gauge::default(),
        };
        let mut r = Registry::default();
        r.register(
            "dagent_tasks",
            "Tasks of the run by state (pending, running, retrying, succeeded, failed, skipped, cancelled)",
            m.tasks.clone(),
        );
        r.register(
            "dagent_tasks_in_flight",
            "Attempts running now",
            m.in_flight.clone(),
        );
        r.register(
            "dagent_retries",
            "Retries scheduled, by the kind of error that caused them",
            m.retries.clone(),
        );
        r.register(
            "dagent_tokens",
            "Tokens billed, by model and direction (input, output)",
            m.tokens.clone(),
        );
        let cost = CostByModel::default();
        r.register_collector(Box::new(cost.clone()));
        r.register(
            "dagent_provider_latency_seconds",
            "Duration of model calls, by provider and model",
            m.latency.clone(),
        );
        r.register(
            "dagent_provider_in_flight",
            "Model calls in flight, by provider",
            m.provider_in_flight.clone(),
        );
        r.register(
            "dagent_provider_errors",
            "Failed model calls, by provider and error kind",
            m.provider_errors.clone(),
        );
        let endpoints = EndpointCollector::default();
        r.register_collector(Box::new(endpoints.clone()));
        r.register(
            "dagent_breaker_open",
            "1 once the circuit breaker opened (no new task starts), else 0",
            m.breaker_open.clone(),
        );
        r.register(
            "dagent_budget_remaining_usd",
            "Budget left in US dollars (absent without a budget)",
            m.budget_remaining.clone(),
        );
        r.register(
            "dagent_spent_usd",
            "Money spent so far by the run, in US dollars",
            m.spent.clone(),
        );
        r.register(
            "dagent_eta_seconds",
            "Estimated time until the run ends, from the task estimates (absent without estimates)",
            m.eta.clone(),
        );
        Self {
            registry: r,
            m,
            cost,
            endpoints,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The run starts: its tasks, estimates and ledger.
    pub(crate) fn begin(&self, info: RunInfo) {
        let mut s = self.state();
        s.started = Some(Instant::now());
        s.run_id = info.run_id;
        s.tasks = info
            .tasks
            .into_iter()
            .map(|(id, title, model)| TaskLive {
                id,
                title: Some(title),
                model,
                phase: Phase::Pending,
                attempt: 0,
                since: None,
            })
            .collect();
        s.eta = info.eta;
        s.ledger = info.ledger;
    }

    /// A model call of `task` went to `model` (fallbacks may change the routed model).
    pub(crate) fn set_model(&self, task: &str, model: &str) {
        let mut s = self.state();
        if let Some(t) = s.tasks.iter_mut().find(|t| t.id == task) {
            t.model = Some(model.to_owned());
        }
    }

    /// The circuit breaker opened.
    pub(crate) fn breaker_opened(&self) {
        self.m.breaker_open.set(1);
    }

    /// Reads the state of every provider endpoint from `source` at each scrape of
    /// `/metrics` and `/status` (the providers' endpoint pools).
    pub(crate) fn watch_endpoints(&self, source: EndpointSource) {
        if let Ok(mut slot) = self.endpoints.0.lock() {
            *slot = Some(source);
        }
    }

    /// A model call started (`provider`: the provider's name).
    pub(crate) fn call_started(&self, provider: &str) {
        self.m
            .provider_in_flight
            .get_or_create(&vec![("provider", provider.to_owned())])
            .inc();
    }

    /// A model call ended: `Ok((input, output, cost_nanos))` or `Err(error kind)`.
    pub(crate) fn call_ended(
        &self,
        provider: &str,
        model: &str,
        latency: Duration,
        outcome: Result<(u64, u64, u64), &str>,
    ) {
        let provider = provider.to_owned();
        self.m
            .provider_in_flight
            .get_or_create(&vec![("provider", provider.clone())])
            .dec();
        self.m
            .latency
            .get_or_create(&vec![
                ("provider", provider.clone()),
                ("model", model.to_owned()),
            ])
            .observe(latency.as_secs_f64());
        match outcome {
            Ok((input, output, nanos)) => {
                for (direction, n) in [("input", input), ("output", output)] {
                    self.m
                        .tokens
                        .get_or_create(&vec![
                            ("model", model.to_owned()),
                            ("direction", direction.to_owned()),
                        ])
                        .inc_by(n);
                }
                if let Ok(mut by_model) = self.cost.0.lock() {
                    let sum = by_model.entry(model.to_owned()).or_insert(0);
                    *sum = sum.saturating_add(nanos);
                }
            }
            Err(kind) => {
                self.m
                    .provider_errors
                    .get_or_create(&vec![("provider", provider), ("kind", kind.to_owned())])
                    .inc();
            }
        }
    }

    fn left(s: &State, now: Instant) -> Vec<Left> {
        s.tasks
            .iter()
            .map(|t| match t.phase {
                Phase::Running => Left::Running(t.since.map_or(Duration::ZERO, |at| now - at)),
                p if p.ended() => Left::Done,
                _ => Left::Waiting,
            })
            .collect()
    }

    /// Brings the gauges read from the state up to date.
    fn refresh(&self) {
        let s = self.state();
        let now = Instant::now();
        for phase in Phase::ALL {
            let n = s.tasks.iter().filter(|t| t.phase == phase).count();
            self.m
                .tasks
                .get_or_create(&vec![("state", phase.as_str().to_owned())])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let running = s.tasks.iter().filter(|t| t.phase == Phase::Running).count();
        self.m
            .in_flight
            .set(i64::try_from(running).unwrap_or(i64::MAX));
        if let Some(eta) = &s.eta {
            self.m.eta.set(eta.eta(&Self::left(&s, now)).as_secs_f64());
        }
        if let Some(ledger) = &s.ledger {
            let summary = ledger.summary();
            self.m.spent.set(usd(summary.total.cost));
            if let Some(budget) = summary.budget {
                self.m
                    .budget_remaining
                    .set(usd(budget.saturating_sub(summary.total.cost)));
            }
        }
    }

    /// `/metrics`: the Prometheus (OpenMetrics) text exposition.
    pub(crate) fn metrics_text(&self) -> String {
        self.refresh();
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        // Metrics only apply when they can: no budget, no estimates → no sample.
        let s = self.state();
        let skip = |name: &str| {
            (name == "dagent_budget_remaining_usd"
                && s.ledger
                    .as_ref()
                    .is_none_or(|l| l.summary().budget.is_none()))
                || (name == "dagent_eta_seconds" && s.eta.is_none())
        };
        out.lines()
            .filter(|l| {
                let name = l
                    .strip_prefix("# HELP ")
                    .or_else(|| l.strip_prefix("# TYPE "))
                    .unwrap_or(l);
                let name = name.split([' ', '{']).next().unwrap_or("");
                !skip(name)
            })
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// `/status`: running tasks with their elapsed time, progress, ETA, spend.
    pub(crate) fn status_json(&self) -> serde_json::Value {
        use serde_json::json;
        let s = self.state();
        let now = Instant::now();
        let count = |p: Phase| s.tasks.iter().filter(|t| t.phase == p).count();
        let done = s.tasks.iter().filter(|t| t.phase.ended()).count();
        let total = s.tasks.len();
        let running: Vec<_> = s
            .tasks
            .iter()
            .filter(|t| matches!(t.phase, Phase::Running | Phase::Retrying))
            .map(|t| {
                json!({
                    "id": t.id,
                    "title": t.title,
                    "model": t.model,
                    "attempt": t.attempt,
                    "state": t.phase.as_str(),
                    "elapsed_seconds": t.since.map_or(0.0, |at| (now - at).as_secs_f64()),
                })
            })
            .collect();
        let eta = s
            .eta
            .as_ref()
            .map(|e| e.eta(&Self::left(&s, now)).as_secs_f64());
        let (spent, budget) = s.ledger.as_ref().map_or((None, None), |l| {
            let summary = l.summary();
            (
                Some(summary.total.cost),
                summary.budget.map(|b| b.saturating_sub(summary.total.cost)),
            )
        });
        let money = |m: Option<Money>| m.map(|m| m.to_string().trim_start_matches('$').to_owned());
        #[allow(clippy::cast_precision_loss)]
        let percent = if total == 0 {
            100.0
        } else {
            (done as f64 * 1000.0 / total as f64).round() / 10.0
        };
        json!({
            "run_id": s.run_id,
            "elapsed_seconds": s.started.map_or(0.0, |at| (now - at).as_secs_f64()),
            "progress": {
                "total": total,
                "done": done,
                "percent": percent,
                "pending": count(Phase::Pending),
                "running": count(Phase::Running),
                "retrying": count(Phase::Retrying),
                "succeeded": count(Phase::Succeeded),
                "failed": count(Phase::Failed),
                "skipped": count(Phase::Skipped),
                "cancelled": count(Phase::Cancelled),
            },
            "eta_seconds": eta,
            "spent_usd": money(spent),
            "budget_remaining_usd": money(budget),
            "breaker_open": self.m.breaker_open.get() == 1,
            "running": running,
            "endpoints": self.endpoints.read().iter().map(|e| json!({
                "provider": e.provider,
                "endpoint": public_url(&e.url),
                "in_flight": e.in_flight,
                "requests": e.requests,
                "errors": e.errors,
                "failovers": e.failovers,
                "cooldowns": e.cooldowns,
                "cooling_down": e.cooling_down,
                "adaptive_limit": e.adaptive_limit,
                "latency_ms": e.latency_ms,
                "healthy": e.healthy,
            })).collect::<Vec<_>>(),
        })
    }
}

impl RunObserver for Live {
    fn on_event(&self, e: &RunEvent) {
        if let RunEventKind::Retrying { error, .. } = &e.kind {
            self.m
                .retries
                .get_or_create(&vec![("kind", error.kind().as_str().to_owned())])
                .inc();
        }
        let mut s = self.state();
        // A task appended while the run goes on (a loop's next iteration): added at its
        // position, announced by `Appended` (any other first event adds it too, its title
        // unknown).
        if e.task >= s.tasks.len() && s.started.is_some() {
            while s.tasks.len() <= e.task {
                s.tasks.push(TaskLive {
                    id: String::new(),
                    title: None,
                    model: None,
                    phase: Phase::Pending,
                    attempt: 0,
                    since: None,
                });
            }
        }
        if let RunEventKind::Appended {
            copy_of,
            title,
            depends_on,
        } = &e.kind
        {
            let model = s.tasks.get(*copy_of).and_then(|o| o.model.clone());
            if let Some(eta) = &mut s.eta {
                eta.append(e.task, *copy_of, depends_on);
            }
            if let Some(t) = s.tasks.get_mut(e.task) {
                t.title = Some(title.clone());
                if t.model.is_none() {
                    t.model = model;
                }
            }
        }
        let Some(t) = s.tasks.get_mut(e.task) else {
            return;
        };
        if t.id.is_empty() {
            t.id = e.id.to_string();
        }
        match &e.kind {
            RunEventKind::Started { attempt } => {
                t.phase = Phase::Running;
                t.attempt = *attempt;
                t.since = Some(Instant::now());
            }
            RunEventKind::Retrying { .. } => t.phase = Phase::Retrying,
            RunEventKind::Succeeded | RunEventKind::Reused => t.phase = Phase::Succeeded,
            RunEventKind::Failed { .. } => t.phase = Phase::Failed,
            RunEventKind::Skipped { .. } => t.phase = Phase::Skipped,
            RunEventKind::Cancelled => t.phase = Phase::Cancelled,
            _ => {}
        }
    }
}

/// Both observers of a run: the progress display and, with `--metrics-addr`, the live view.
pub(crate) struct Observers(pub(crate) Vec<Arc<dyn RunObserver>>);

impl RunObserver for Observers {
    fn on_event(&self, e: &RunEvent) {
        for o in &self.0 {
            o.on_event(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use dagent_core::{RunEvent, RunEventKind, RunObserver, TaskError};
    use tracing_subscriber::layer::SubscriberExt;

    use super::layer::MetricsLayer;
    use super::{Live, RunInfo};

    fn line<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .map(|l| &l[series.len() + 1..])
    }

    fn live(tasks: &[&str]) -> Arc<Live> {
        let live = Arc::new(Live::new());
        live.begin(RunInfo {
            run_id: None,
            tasks: tasks
                .iter()
                .map(|t| ((*t).to_owned(), format!("Do {t}"), Some("cheap".to_owned())))
                .collect(),
            eta: None,
            ledger: None,
        });
        live
    }

    fn event(task: usize, id: &str, kind: RunEventKind) -> RunEvent {
        RunEvent {
            at: Duration::ZERO,
            task,
            id: id.into(),
            kind,
        }
    }

    #[test]
    fn task_states_and_retries_by_kind_follow_the_run_events() {
        let live = live(&["a", "b", "c"]);
        live.on_event(&event(0, "a", RunEventKind::Started { attempt: 1 }));
        live.on_event(&event(
            0,
            "a",
            RunEventKind::Retrying {
                attempt: 1,
                delay: Duration::from_secs(1),
                error: TaskError::transient("429"),
            },
        ));
        live.on_event(&event(1, "b", RunEventKind::Started { attempt: 1 }));
        live.on_event(&event(1, "b", RunEventKind::Succeeded));
        live.on_event(&event(2, "c", RunEventKind::Skipped { reason: "x".into() }));
        let text = live.metrics_text();
        assert_eq!(line(&text, "dagent_tasks{state=\"retrying\"}"), Some("1"));
        assert_eq!(line(&text, "dagent_tasks{state=\"succeeded\"}"), Some("1"));
        assert_eq!(line(&text, "dagent_tasks{state=\"skipped\"}"), Some("1"));
        assert_eq!(line(&text, "dagent_tasks{state=\"pending\"}"), Some("0"));
        assert_eq!(line(&text, "dagent_tasks_in_flight"), Some("0"));
        assert_eq!(
            line(&text, "dagent_retries_total{kind=\"transient\"}"),
            Some("1")
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            !text.contains("dagent_eta_seconds") && !text.contains("budget_remaining"),
            "no estimates, no budget: {text}"
        );
        let status = live.status_json();
        assert_eq!(status["running"][0]["id"], "a");
        assert_eq!(status["running"][0]["state"], "retrying");
        assert_eq!(status["running"][0]["model"], "cheap");
        assert_eq!(status["progress"]["done"], 2);
    }

    #[test]
    fn tasks_appended_by_a_loop_are_counted_with_the_title_and_model_of_their_original() {
        let live = live(&["code", "review"]);
        live.on_event(&event(0, "code", RunEventKind::Succeeded));
        live.on_event(&event(1, "review", RunEventKind::Succeeded));
        for (at, id, of) in [(2, "code#2", 0), (3, "review#2", 1)] {
            live.on_event(&event(
                at,
                id,
                RunEventKind::Appended {
                    copy_of: of,
                    title: format!("Do {id}"),
                    depends_on: if of == 0 { vec![1] } else { vec![2] },
                },
            ));
        }
        live.on_event(&event(2, "code#2", RunEventKind::Started { attempt: 1 }));
        // An event of a task never announced adds it too, its title unknown.
        live.on_event(&event(
            5,
            "x#2",
            RunEventKind::Skipped { reason: "y".into() },
        ));
        let text = live.metrics_text();
        assert_eq!(line(&text, "dagent_tasks{state=\"succeeded\"}"), Some("2"));
        assert_eq!(line(&text, "dagent_tasks{state=\"running\"}"), Some("1"));
        assert_eq!(line(&text, "dagent_tasks{state=\"pending\"}"), Some("2"));
        assert_eq!(line(&text, "dagent_tasks{state=\"skipped\"}"), Some("1"));
        let status = live.status_json();
        assert_eq!(status["progress"]["total"], 6);
        assert_eq!(status["running"][0]["id"], "code#2");
        assert_eq!(status["running"][0]["title"], "Do code#2");
        assert_eq!(status["running"][0]["model"], "cheap");
    }

    #[test]
    fn endpoint_series_come_from_the_source_at_each_scrape_without_credentials() {
        use dagent_providers::EndpointStats;
        let live = live(&["a"]);
        assert!(!live.metrics_text().contains("dagent_endpoint_"));
        assert_eq!(live.status_json()["endpoints"], serde_json::json!([]));
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let c = Arc::clone(&calls);
        live.watch_endpoints(Arc::new(move || {
            let n = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            vec![EndpointStats {
                provider: "p".into(),
                url: "https://user:secret@host.example/v1".into(),
                requests: n,
                errors: 1,
                adaptive_limit: Some(3),
                cooling_down: true,
                ..EndpointStats::default()
            }]
        }));
        let text = live.metrics_text();
        assert!(!text.contains("secret"), "{text}");
        let at = |text: &str, name: &str| {
            line(
                text,
                &format!("{name}{{provider=\"p\",endpoint=\"https://host.example/v1\"}}"),
            )
            .map(str::to_owned)
        };
        assert_eq!(
            at(&text, "dagent_endpoint_requests_total").as_deref(),
            Some("1")
        );
        assert_eq!(
            at(&text, "dagent_endpoint_errors_total").as_deref(),
            Some("1")
        );
        assert_eq!(
            at(&text, "dagent_endpoint_adaptive_limit").as_deref(),
            Some("3")
        );
        assert_eq!(
            at(&text, "dagent_endpoint_cooling_down").as_deref(),
            Some("1")
        );
        // Read again at the next scrape, not cached.
        let again = live.metrics_text();
        assert_eq!(
            at(&again, "dagent_endpoint_requests_total").as_deref(),
            Some("2")
        );
        let status = live.status_json();
        assert_eq!(
            status["endpoints"][0]["endpoint"],
            "https://host.example/v1"
        );
        assert_eq!(status["endpoints"][0]["requests"], 3);
    }

    #[test]
    fn public_url_removes_user_and_password_only() {
        use super::public_url;
        assert_eq!(
            public_url("http://127.0.0.1:8080/v1"),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(public_url("https://u:p@h/v1?x=@y"), "https://h/v1?x=@y");
        assert_eq!(public_url("https://u@h"), "https://h");
        assert_eq!(public_url("endpoint 1"), "endpoint 1");
    }

    #[test]
    fn model_call_spans_and_the_breaker_event_become_metrics() {
        let live = live(&["a", "b"]);
        let subscriber = tracing_subscriber::registry().with(MetricsLayer::new(Arc::clone(&live)));
        tracing::subscriber::with_default(subscriber, || {
            let ok = tracing::info_span!(
                "provider_call",
                task = "a",
                model = "smart",
                endpoint = "local",
                gen_ai.usage.input_tokens = tracing::field::Empty,
                gen_ai.usage.output_tokens = tracing::field::Empty,
                cost_nanos = tracing::field::Empty,
                status = tracing::field::Empty,
                error.type = tracing::field::Empty,
            );
            assert_eq!(
                line(
                    &live.metrics_text(),
                    "dagent_provider_in_flight{provider=\"local\"}"
                ),
                Some("1")
            );
            assert_eq!(live.status_json()["progress"]["total"], 2);
            ok.record("gen_ai.usage.input_tokens", 30_i64);
            ok.record("gen_ai.usage.output_tokens", 7_i64);
            ok.record("cost_nanos", 1_500_i64);
            ok.record("status", "ok");
            drop(ok);
            let failed = tracing::info_span!(
                "provider_call",
                task = "b",
                model = "smart",
                endpoint = "local",
                status = tracing::field::Empty,
                error.type = tracing::field::Empty,
            );
            failed.record("status", "transient");
            failed.record("error.type", "rate_limited");
            drop(failed);
            // Dropped before it ended (a timeout): counted as cancelled.
            drop(tracing::info_span!(
                "provider_call",
                task = "b",
                model = "smart",
                endpoint = "local",
                status = tracing::field::Empty,
            ));
            tracing::info!(stop = "breaker", "run stopped");
        });
        let text = live.metrics_text();
        let m = |s: &str| line(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
        assert_eq!(m("dagent_provider_in_flight{provider=\"local\"}"), "0");
        assert_eq!(
            m("dagent_tokens_total{model=\"smart\",direction=\"input\"}"),
            "30"
        );
        assert_eq!(
            m("dagent_tokens_total{model=\"smart\",direction=\"output\"}"),
            "7"
        );
        assert_eq!(m("dagent_cost_usd_total{model=\"smart\"}"), "0.0000015");
        assert_eq!(
            m("dagent_provider_errors_total{provider=\"local\",kind=\"rate_limited\"}"),
            "1"
        );
        assert_eq!(
            m("dagent_provider_errors_total{provider=\"local\",kind=\"cancelled\"}"),
            "1"
        );
        assert_eq!(
            m("dagent_provider_latency_seconds_count{provider=\"local\",model=\"smart\"}"),
            "3"
        );
        assert_eq!(m("dagent_breaker_open"), "1");
        assert_eq!(live.status_json()["breaker_open"], true);
    }
}
