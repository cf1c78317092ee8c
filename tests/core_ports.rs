//! dagent-core's architecture invariants: no dependencies; every port is dyn-compatible
//! with `Send` futures.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dagent_core::{
    AnalyzeError, Billing, BoxFuture, Charge, ChatProvider, ChatRequest, ChatResponse, CostTracker,
    DependencyAnalyzer, DependencyMap, Money, Plan, Price, ProviderError, Reservation,
    ReservationLedger, RunEvent, RunEventKind, RunObserver, Task, TaskContext, TaskError,
    TaskErrorKind, TaskId, TaskOutput, TaskRunner, Usage, metered_chat,
};

#[test]
fn core_has_no_dependencies() {
    let manifest =
        std::fs::read_to_string(crate::support::root().join("crates/core/Cargo.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&manifest).unwrap();
    let deps = doc
        .get("dependencies")
        .and_then(|d| d.as_table())
        .cloned()
        .unwrap_or_default();
    let names: Vec<&String> = deps.keys().collect();
    assert_eq!(
        names,
        vec!["serde"],
        "dagent-core may depend on optional serde only"
    );
    assert_eq!(
        deps["serde"].get("optional").and_then(toml::Value::as_bool),
        Some(true)
    );
    assert!(doc.get("build-dependencies").is_none());
    for key in doc.keys() {
        assert!(
            !key.starts_with("target"),
            "no target-specific dependencies in core"
        );
    }
}

struct Chain;
impl DependencyAnalyzer for Chain {
    fn name(&self) -> &str {
        "chain"
    }
    fn analyze<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, Result<DependencyMap, AnalyzeError>> {
        Box::pin(async move {
            Ok(DependencyMap::from_lists(
                (0..plan.len())
                    .map(|i| (0..i).rev().take(1).collect())
                    .collect(),
            ))
        })
    }
}

struct Echo;
impl TaskRunner for Echo {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'_, Result<TaskOutput, TaskError>> {
        Box::pin(async move {
            let inputs: Vec<String> = ctx.inputs().map(|(t, _)| t.id.to_string()).collect();
            Ok(TaskOutput::text(format!(
                "{} <- [{}]",
                ctx.task().id,
                inputs.join(",")
            )))
        })
    }
}

struct Fixed;
impl ChatProvider for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            Ok(ChatResponse {
                model: request.model.clone(),
                content: "ok".into(),
                usage: Some(Usage::new(3, 1)),
                ..Default::default()
            })
        })
    }
}

/// Spent and held nano-dollars, and how many reservations were released.
#[derive(Default)]
struct Book {
    spent: AtomicU64,
    held: AtomicU64,
    released: AtomicU64,
}
impl ReservationLedger for Book {
    fn settle(&self, _id: u64, reserved: Money, charge: Charge) {
        self.held.fetch_sub(reserved.nanos(), Ordering::SeqCst);
        self.spent.fetch_add(charge.cost.nanos(), Ordering::SeqCst);
    }
    fn release(&self, _id: u64, reserved: Money) {
        self.held.fetch_sub(reserved.nanos(), Ordering::SeqCst);
        self.released.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Tally(Arc<Book>);
impl CostTracker for Tally {
    fn reserve<'a>(
        &'a self,
        _model: &'a str,
        worst_case: Money,
    ) -> BoxFuture<'a, Result<Reservation, TaskError>> {
        Box::pin(async move {
            if worst_case > Money::from_dollars(1) {
                return Err(TaskError::new(TaskErrorKind::Budget, "over budget"));
            }
            self.0.held.fetch_add(worst_case.nanos(), Ordering::SeqCst);
            let ledger: Arc<dyn ReservationLedger> = self.0.clone();
            Ok(Reservation::new(1, worst_case, ledger))
        })
    }
    fn spent(&self) -> Money {
        Money::from_nanos(self.0.spent.load(Ordering::SeqCst))
    }
}

#[derive(Default)]
struct Count(AtomicU64);
impl RunObserver for Count {
    fn on_event(&self, _event: &RunEvent) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn assert_send<T: Send>(_: &T) {}
fn assert_send_sync<T: Send + Sync + ?Sized>() {}

#[test]
fn every_port_works_as_a_trait_object_with_send_futures() {
    assert_send_sync::<dyn DependencyAnalyzer>();
    assert_send_sync::<dyn TaskRunner>();
    assert_send_sync::<dyn ChatProvider>();
    assert_send_sync::<dyn CostTracker>();
    assert_send_sync::<dyn ReservationLedger>();
    assert_send_sync::<Reservation>();
    assert_send_sync::<dyn RunObserver>();

    let plan = Arc::new(Plan::new(vec![Task::new("a", "A"), Task::new("b", "B")]));
    let analyzer: Box<dyn DependencyAnalyzer> = Box::new(Chain);
    let runner: Arc<dyn TaskRunner> = Arc::new(Echo);
    let provider: Box<dyn ChatProvider> = Box::new(Fixed);
    let tracker: Arc<dyn CostTracker> = Arc::new(Tally::default());
    let observer: Arc<dyn RunObserver> = Arc::new(Count::default());

    let fut = analyzer.analyze(&plan);
    assert_send(&fut);
    let map = block_on(fut).unwrap();
    assert_eq!(map.deps_of(1), &[0]);

    let ctx = TaskContext::new(
        plan.clone(),
        1,
        1,
        vec![(
            0,
            dagent_core::DependencyOutcome::Succeeded(Arc::new(TaskOutput::text("a-out"))),
        )],
    );
    let fut = runner.run(ctx);
    assert_send(&fut);
    assert_eq!(block_on(fut).unwrap().text, "b <- [a]");

    let req = ChatRequest {
        model: "m".into(),
        ..Default::default()
    };
    let fut = provider.chat(&req);
    assert_send(&fut);
    assert_eq!(block_on(fut).unwrap().usage, Some(Usage::new(3, 1)));

    let fut = tracker.reserve("m", Money::from_nanos(10));
    assert_send(&fut);
    let r = block_on(fut).unwrap();
    r.settle(Charge {
        billing: Billing::new("a", "m"),
        usage: Usage::new(1, 1),
        usage_estimated: false,
        cost: Money::from_nanos(7),
        reported_cost: None,
    });
    assert_eq!(tracker.spent(), Money::from_nanos(7));
    assert_eq!(
        block_on(tracker.reserve("m", Money::from_dollars(2)))
            .unwrap_err()
            .kind(),
        TaskErrorKind::Budget
    );

    // The one metered path works over trait objects, and its future is `Send`.
    let req = ChatRequest {
        model: "m".into(),
        max_tokens: Some(1),
        ..Default::default()
    };
    let fut = metered_chat(
        provider.as_ref(),
        tracker.as_ref(),
        Price::new(Money::from_nanos(1_000_000), Money::from_nanos(1_000_000)),
        &req,
        Billing::new(TaskId::new("b"), "m"),
    );
    assert_send(&fut);
    let done = block_on(fut).unwrap();
    assert_eq!(
        (done.usage, done.cost),
        (Usage::new(3, 1), Money::from_nanos(4))
    );
    assert_eq!(tracker.spent(), Money::from_nanos(11));

    observer.on_event(&RunEvent {
        at: Default::default(),
        task: 0,
        id: TaskId::new("a"),
        kind: RunEventKind::Succeeded,
    });
}

#[test]
fn a_reservation_is_settled_or_released_exactly_once_and_released_on_drop() {
    let book = Arc::new(Book::default());
    let tracker = Tally(Arc::clone(&book));
    let held = || book.held.load(Ordering::SeqCst);
    let released = || book.released.load(Ordering::SeqCst);

    let r = block_on(tracker.reserve("m", Money::from_nanos(50))).unwrap();
    assert_eq!((r.amount(), held()), (Money::from_nanos(50), 50));
    drop(r);
    assert_eq!((held(), released()), (0, 1), "dropping releases");

    let r = block_on(tracker.reserve("m", Money::from_nanos(50))).unwrap();
    r.release();
    assert_eq!(
        (held(), released()),
        (0, 2),
        "release consumes: no second release on drop"
    );

    let r = block_on(tracker.reserve("m", Money::from_nanos(50))).unwrap();
    r.settle(Charge {
        billing: Billing::new("a", "m"),
        usage: Usage::default(),
        usage_estimated: false,
        cost: Money::from_nanos(9),
        reported_cost: None,
    });
    assert_eq!(
        (held(), released()),
        (0, 2),
        "settle consumes: no release on drop"
    );
    assert_eq!(tracker.spent(), Money::from_nanos(9));

    // A call whose future is dropped mid-flight (a timeout, a cancellation) gives its
    // reservation back.
    struct Never;
    impl ChatProvider for Never {
        fn name(&self) -> &str {
            "never"
        }
        fn chat<'a>(
            &'a self,
            _request: &'a ChatRequest,
        ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
            Box::pin(std::future::pending())
        }
    }
    let req = ChatRequest {
        max_tokens: Some(10),
        ..Default::default()
    };
    let mut fut = Box::pin(metered_chat(
        &Never,
        &tracker,
        Price::new(Money::from_nanos(1_000_000), Money::from_nanos(1_000_000)),
        &req,
        Billing::new("a", "m"),
    ));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert!(held() > 0, "held while in flight");
    drop(fut);
    assert_eq!(
        (held(), released()),
        (0, 3),
        "released when the future is dropped"
    );
}

/// A minimal executor for futures that complete without waiting on I/O.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Names in a crate's `[dependencies]`, `[build-dependencies]` and target-specific tables.
fn dependency_names(crate_dir: &str) -> Vec<String> {
    let manifest =
        std::fs::read_to_string(crate::support::root().join(crate_dir).join("Cargo.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&manifest).unwrap();
    let mut tables: Vec<&toml::Table> = ["dependencies", "build-dependencies"]
        .iter()
        .filter_map(|k| doc.get(*k).and_then(toml::Value::as_table))
        .collect();
    if let Some(targets) = doc.get("target").and_then(toml::Value::as_table) {
        for target in targets.values().filter_map(toml::Value::as_table) {
            tables.extend(
                ["dependencies", "build-dependencies"]
                    .iter()
                    .filter_map(|k| target.get(*k).and_then(toml::Value::as_table)),
            );
        }
    }
    let mut names: Vec<String> = tables.iter().flat_map(|t| t.keys().cloned()).collect();
    names.sort();
    names
}

/// Architecture Invariant: the executor never sees HTTP or LLMs, nor strategy code.
#[test]
fn executor_has_no_http_llm_or_strategy_dependency() {
    let names = dependency_names("crates/executor");
    for banned in [
        "reqwest",
        "hyper",
        "hyper-util",
        "http",
        "wiremock",
        "dagent-providers",
        "dagent-analyzers",
        "dagent-adapters",
        "dagent-cli",
    ] {
        assert!(
            !names.iter().any(|n| n == banned),
            "dagent-executor must not depend on {banned} (it has {names:?})"
        );
    }
    assert!(names.iter().any(|n| n == "dagent-graph"));
}

/// Architecture Invariant: the graph kernel depends on core and the graph library only.
#[test]
fn graph_kernel_depends_on_core_and_petgraph_only() {
    assert_eq!(
        dependency_names("crates/graph"),
        ["dagent-core", "petgraph"]
    );
}
