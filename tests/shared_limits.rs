//! Limits and budget shared across processes through a real `redis-server`: four `dagent
//! run` processes against one loopback stub under a shared requests-per-minute limit and a
//! shared budget (counted at the stub), Redis going away mid-run (wait and fail), a crashed
//! process's reservation expiring, and the shared ledger's guard semantics through the
//! library.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dagent_core::{Billing, Charge, CostTracker, Money, Usage};
use dagent_providers::CostLedger;
use dagent_shared::{OnUnavailable, RedisUrl, SharedConfig, SharedLedger, SharedRedis};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{command, scratch};

const PASSWORD: &str = "s3cret-redis-pass-77";

/// A `redis-server` on a free loopback port, without persistence, killed on drop.
pub struct Redis {
    child: Option<Child>,
    port: u16,
}

impl Redis {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    /// Starts (or restarts) a server on `port`, protected by [`PASSWORD`].
    pub fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--requirepass", PASSWORD])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): the shared-limit tests need it installed (apt-get install -y redis-server; .ci/run does this)"
                )
            });
        let mut me = Self {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if me.ping() {
                return me;
            }
            if let Some(status) = me.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("redis-server on port {port} exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let cmd = format!(
            "*2\r\n$4\r\nAUTH\r\n${}\r\n{PASSWORD}\r\n*1\r\n$4\r\nPING\r\n",
            PASSWORD.len()
        );
        if s.write_all(cmd.as_bytes()).is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        let mut got = String::new();
        while !got.contains("PONG") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        true
    }

    pub fn url(&self) -> String {
        format!("redis://:{PASSWORD}@127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (as a crash or an outage would).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The loopback provider: records when each request arrived and what the usage it reports
/// costs at the configured price.
#[derive(Clone)]
struct Stub {
    arrivals: Arc<Mutex<Vec<Instant>>>,
    delay: Duration,
}

/// Usage every answer reports: 100 prompt + 20 completion tokens. At $1,000 per 1M tokens
/// either way, a call costs $0.12.
const CALL_COST: Money = Money::from_nanos(120_000_000);

impl Respond for Stub {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.arrivals.lock().unwrap().push(Instant::now());
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        ResponseTemplate::new(200)
            .set_body_json(json!({
                "model": body["model"],
                "choices": [{ "message": { "role": "assistant", "content": "done" }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": 100, "completion_tokens": 20 }
            }))
            .set_delay(self.delay)
    }
}

/// A loopback provider answering every chat request with `content` and the given usage.
async fn chat_server(model: &str, content: &str, prompt: u64, completion: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "model": model,
            "choices": [{ "message": { "role": "assistant", "content": content },
                "finish_reason": "stop" }],
            "usage": { "prompt_tokens": prompt, "completion_tokens": completion }
        })))
        .mount(&server)
        .await;
    server
}

impl Stub {
    async fn start(delay: Duration) -> (MockServer, Self) {
        let server = MockServer::start().await;
        let stub = Self {
            arrivals: Arc::new(Mutex::new(Vec::new())),
            delay,
        };
        Mock::given(method("POST"))
            .respond_with(stub.clone())
            .mount(&server)
            .await;
        (server, stub)
    }

    fn count(&self) -> usize {
        self.arrivals.lock().unwrap().len()
    }

    /// The most requests that arrived in any 60-second window `[t, t + 60 s)`.
    fn peak_per_minute(&self) -> usize {
        let mut t = self.arrivals.lock().unwrap().clone();
        t.sort();
        let mut peak = 0;
        let mut start = 0;
        for end in 0..t.len() {
            while t[end].duration_since(t[start]) >= Duration::from_secs(60) {
                start += 1;
            }
            peak = peak.max(end - start + 1);
        }
        peak
    }
}

fn config(dir: &Path, stub: &str, extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"[parallelization]
dependency_strategy = "explicit"
max_concurrent_tasks = 4
retry_backoff_seconds = [0.05]

[providers.stub]
kind = "openai"
base_url = "{stub}/v1"

[models.m]
provider = "stub"
id = "vendor/m"
pricing = {{ input = "1000", output = "1000" }}
context_window = 4096
max_output_tokens = 64

[routing]
default_model = "m"
{extra}"#
    );
    let path = dir.join("dagent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn plan(dir: &Path, tasks: usize) -> std::path::PathBuf {
    let mut text = String::from("title = \"shared\"\n");
    for i in 1..=tasks {
        text.push_str(&format!(
            "[[tasks]]\nid = \"t{i}\"\ntitle = \"Summarise item {i}\"\nkind = \"analysis\"\ndepends_on = []\n"
        ));
    }
    let path = dir.join("plan.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn_run(cfg: &Path, plan: &Path, report: &Path, redis_url: &str) -> Child {
    command()
        .args(["run", "--no-store", "--config"])
        .arg(cfg)
        .arg(plan)
        .arg("--report")
        .arg(report)
        .env("DAGENT_REDIS_URL", redis_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Collects a child's stderr lines as they come.
fn collect_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let out = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&out);
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    out
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn finish(mut child: Child, stderr: &Arc<Mutex<String>>) -> (i32, String, String) {
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap().code().unwrap_or(-1);
    // Let the reader thread drain.
    std::thread::sleep(Duration::from_millis(50));
    (status, stdout, stderr.lock().unwrap().clone())
}

fn tasks_of(report: &Path) -> Vec<Value> {
    let r: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    r["tasks"].as_array().unwrap().clone()
}

/// Four processes, one stub, 60 requests per minute and a $8 budget shared through Redis.
/// 72 tasks would cost $8.64: the budget stops some, and more than 60 calls are made, so the
/// 61st must wait for the first minute to pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_share_one_rate_limit_and_one_budget() {
    let redis = Redis::start();
    let (server, stub) = Stub::start(Duration::ZERO).await;
    let dir = scratch("shared-four");
    let budget = Money::from_nanos(8_000_000_000);
    let cfg = config(
        &dir,
        &server.uri(),
        "\n[budget]\nmax_usd = \"8\"\n\n[shared.limits.stub]\nrequests_per_minute = 60\n",
    );
    let plan = plan(&dir, 18);
    let url = redis.url();
    let outcomes = tokio::task::spawn_blocking(move || {
        let children: Vec<_> = (0..4)
            .map(|i| {
                let report = dir.join(format!("r{i}.json"));
                let mut c = spawn_run(&cfg, &plan, &report, &url);
                let err = collect_stderr(&mut c);
                (c, err, report)
            })
            .collect();
        children
            .into_iter()
            .map(|(c, err, report)| (finish(c, &err), report))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let mut succeeded = 0;
    let mut refused = 0;
    for ((status, stdout, stderr), report) in &outcomes {
        assert!(matches!(status, 0 | 1), "{status}\n{stdout}\n{stderr}");
        assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
        let text = std::fs::read_to_string(report).unwrap();
        assert!(!text.contains(PASSWORD), "the Redis password leaked");
        for t in tasks_of(report) {
            match t["status"].as_str().unwrap() {
                "succeeded" => succeeded += 1,
                _ => {
                    assert!(
                        t["error"].to_string().contains("shared budget"),
                        "{t}\n{stderr}"
                    );
                    refused += 1;
                }
            }
        }
        assert!(
            stderr.contains("shared budget (redis://***@127.0.0.1:"),
            "{stderr}"
        );
    }
    let calls = stub.count();
    let peak = stub.peak_per_minute();
    let charged = CALL_COST.saturating_mul(calls as u64);
    eprintln!(
        "shared limits: {calls} calls, peak {peak} in any 60 s (limit 60); cost charged at the stub {charged} (budget {budget}); {succeeded} succeeded, {refused} refused"
    );
    assert_eq!(succeeded + refused, 72);
    assert_eq!(
        succeeded, calls,
        "every success is exactly one call at the stub"
    );
    assert!(
        calls > 60,
        "the limit was not exercised: only {calls} calls"
    );
    assert!(peak <= 60, "{peak} requests in one 60-second window");
    assert!(
        charged <= budget,
        "{charged} charged over the {budget} budget"
    );
    assert!(refused > 0, "the budget never bound");
}

fn outage_config(dir: &Path, stub: &str, mode: &str) -> std::path::PathBuf {
    config(
        dir,
        stub,
        &format!("\n[budget]\nmax_usd = \"100\"\n\n[shared]\non_unavailable = \"{mode}\"\n"),
    )
}

/// Redis killed mid-run with `on_unavailable = "fail"`: no paid call starts after it went
/// away; the remaining tasks fail naming the reason (without the password).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_with_fail_stops_paid_calls_and_fails_the_rest() {
    let mut redis = Redis::start();
    let (server, stub) = Stub::start(Duration::from_millis(150)).await;
    let dir = scratch("shared-fail");
    let cfg = outage_config(&dir, &server.uri(), "fail");
    let plan = plan(&dir, 8);
    let report = dir.join("r.json");
    let url = redis.url();
    let stub2 = stub.clone();
    let (out, at_kill) = tokio::task::spawn_blocking(move || {
        let mut child = spawn_run(&cfg, &plan, &report, &url);
        let err = collect_stderr(&mut child);
        wait_until("two calls", Duration::from_secs(60), || stub2.count() >= 2);
        redis.kill();
        let at_kill = stub2.count();
        (finish(child, &err), at_kill)
    })
    .await
    .unwrap();
    let (status, stdout, stderr) = out;
    assert_eq!(status, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Redis at redis://***@127.0.0.1:") && stderr.contains("is unavailable"),
        "{stderr}"
    );
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
    // At most the call already launched when Redis died (four may be in flight) reaches the
    // stub afterwards; nothing later does.
    let calls = stub.count();
    assert!(
        calls <= at_kill + 4,
        "{calls} calls, {at_kill} when Redis died"
    );
    let tasks = tasks_of(&dir.join("r.json"));
    let succeeded = tasks.iter().filter(|t| t["status"] == "succeeded").count();
    assert_eq!(succeeded, calls, "every call is a recorded success");
    let unavailable = tasks
        .iter()
        .filter(|t| t["error"].to_string().contains("are unavailable"))
        .count();
    assert!(unavailable > 0, "{tasks:?}");
    assert_eq!(succeeded + unavailable, 8);
    assert!(
        !std::fs::read_to_string(dir.join("r.json"))
            .unwrap()
            .contains(PASSWORD)
    );
}

/// Redis killed mid-run with `on_unavailable = "wait"`: the run says so and makes no call
/// while Redis is away; restarted, the run completes with every task called exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_with_wait_pauses_paid_calls_until_it_is_back() {
    let mut redis = Redis::start();
    let port = redis.port();
    let (server, stub) = Stub::start(Duration::from_millis(150)).await;
    let dir = scratch("shared-wait");
    let cfg = outage_config(&dir, &server.uri(), "wait");
    let plan = plan(&dir, 8);
    let report = dir.join("r.json");
    let url = redis.url();
    let stub2 = stub.clone();
    let (out, during) = tokio::task::spawn_blocking(move || {
        let mut child = spawn_run(&cfg, &plan, &report, &url);
        let err = collect_stderr(&mut child);
        wait_until("two calls", Duration::from_secs(60), || stub2.count() >= 2);
        redis.kill();
        wait_until("the outage notice", Duration::from_secs(60), || {
            err.lock().unwrap().contains("is unavailable")
        });
        // Calls in flight when Redis died may still arrive; then nothing may start.
        std::thread::sleep(Duration::from_millis(400));
        let before = stub2.count();
        std::thread::sleep(Duration::from_millis(1500));
        let after = stub2.count();
        let _back = Redis::start_on(port);
        (finish(child, &err), (before, after))
    })
    .await
    .unwrap();
    let (status, stdout, stderr) = out;
    assert_eq!(
        during.0, during.1,
        "a paid call started while Redis was away"
    );
    assert_eq!(status, 0, "{stdout}\n{stderr}");
    assert!(stderr.contains("waiting for it"), "{stderr}");
    assert!(stderr.contains("is back"), "{stderr}");
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
    assert_eq!(stub.count(), 8, "each task called exactly once");
}

/// A process killed while its call is in flight cannot hold the shared budget beyond its
/// reservation's expiry: a second process, which could not fit beside it, then runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_process_reservation_expires() {
    let redis = Redis::start();
    let (server, stub) = Stub::start(Duration::from_secs(120)).await;
    let (fast, fast_stub) = Stub::start(Duration::ZERO).await;
    let dir = scratch("shared-crash");
    // One call's worst case is about $0.4: a $0.6 budget fits one reservation at a time.
    let extra = "\n[budget]\nmax_usd = \"0.6\"\n\n[shared]\nreservation_ttl_seconds = 1\n";
    let slow_cfg = config(&dir, &server.uri(), extra);
    let plan = plan(&dir, 1);
    let url = redis.url();
    let dir2 = dir.clone();
    let fast_uri = fast.uri();
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let mut a = spawn_run(&slow_cfg, &plan, &dir2.join("a.json"), &url);
        wait_until("the slow call", Duration::from_secs(60), || {
            stub.count() >= 1
        });
        a.kill().unwrap();
        a.wait().unwrap();
        let fast_dir = dir2.join("b");
        std::fs::create_dir_all(&fast_dir).unwrap();
        let cfg = config(&fast_dir, &fast_uri, extra);
        let mut b = command()
            .args(["run", "--no-store", "--deadline", "60", "--config"])
            .arg(&cfg)
            .arg(&plan)
            .env("DAGENT_REDIS_URL", &url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = collect_stderr(&mut b);
        finish(b, &err)
    })
    .await
    .unwrap();
    assert_eq!(status, 0, "{stdout}\n{stderr}");
    assert_eq!(fast_stub.count(), 1);
}

fn charge(cost: u64, reported: Option<u64>) -> Charge {
    Charge {
        billing: Billing::new("t", "m"),
        usage: Usage::new(1, 1),
        usage_estimated: false,
        cost: Money::from_nanos(cost),
        reported_cost: reported.map(Money::from_nanos),
    }
}

/// The library: the same guard semantics as the in-process ledger, across two ledgers (two
/// processes) on one Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_ledger_keeps_the_guard_semantics_across_ledgers() {
    let redis = Redis::start();
    let make = || {
        let mut c = SharedConfig::new(RedisUrl::parse(&redis.url()).unwrap());
        c.on_unavailable = OnUnavailable::Fail;
        c.prefix = "guard".into();
        let local: Arc<dyn CostTracker> = Arc::new(CostLedger::new(None, None));
        SharedLedger::new(
            SharedRedis::new(c).unwrap(),
            "team",
            Some(Money::from_nanos(100)),
            local,
        )
    };
    let (a, b) = (make(), make());
    let r = a.reserve("m", Money::from_nanos(60)).await.unwrap();
    // b cannot fit beside a's reservation; with it open, b waits, then fits once released.
    let waiting = tokio::spawn({
        let b = b.clone();
        async move {
            b.reserve("m", Money::from_nanos(60))
                .await
                .map(|r| r.amount())
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "b did not wait for a's reservation");
    drop(r); // released on drop
    assert_eq!(waiting.await.unwrap().unwrap(), Money::from_nanos(60));
    assert_eq!(a.flush(Duration::from_secs(5)).await, 0);
    let t = b.totals().await.unwrap();
    assert_eq!((t.spent, t.reserved), (Money::ZERO, Money::ZERO), "{t:?}");
    // Settle charges the larger of dagent's figure and the provider's.
    let r = a.reserve("m", Money::from_nanos(50)).await.unwrap();
    r.settle(charge(10, Some(30)));
    let r = b.reserve("m", Money::from_nanos(50)).await.unwrap();
    r.settle(charge(20, Some(5)));
    a.flush(Duration::from_secs(5)).await;
    b.flush(Duration::from_secs(5)).await;
    let t = a.totals().await.unwrap();
    assert_eq!((t.spent, t.calls), (Money::from_nanos(50), 2), "{t:?}");
    // $50 spent: a $60 call can never fit, and nothing is open: refused at once.
    let e = b.reserve("m", Money::from_nanos(60)).await.unwrap_err();
    assert!(e.message().contains("shared budget"), "{e}");
    // b's spend is the budget's (both processes'), not only its own $20.
    assert_eq!(CostTracker::spent(&b), Money::from_nanos(50));
    // An overrun stops every new paid call, in every process.
    let r = a.reserve("m", Money::from_nanos(5)).await.unwrap();
    r.settle(charge(9, None));
    a.flush(Duration::from_secs(5)).await;
    let e = b.reserve("m", Money::from_nanos(1)).await.unwrap_err();
    assert!(
        e.message().contains("cost more than its reservation"),
        "{e}"
    );
}

/// `[shared]` goes through the one settings layer: validated from the file and the
/// environment with the source named, the password never echoed, and `dagent config` shows
/// the URL redacted.
#[test]
fn shared_settings_are_validated_and_the_password_is_never_shown() {
    let dir = scratch("shared-settings");
    let cfg = dir.join("dagent.toml");
    let config_of = |text: &str| {
        std::fs::write(&cfg, text).unwrap();
        cfg.display().to_string()
    };
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = command()
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let path = config_of("");
    let (status, _, err) = run(
        &["config", "--config", &path],
        &[("DAGENT_REDIS_URL", "rediss://:topsecretpw@h:1")],
    );
    assert_eq!(status, 2, "{err}");
    assert!(
        err.contains("environment DAGENT_REDIS_URL") && err.contains("scheme \"rediss\""),
        "{err}"
    );
    assert!(!err.contains("topsecretpw"), "{err}");
    let path = config_of("[shared]\nredis_url = \"redis://:topsecretpw@h:99999\"\n");
    let (status, _, err) = run(&["config", "--config", &path], &[]);
    assert_eq!(status, 2, "{err}");
    assert!(
        err.contains("dagent.toml:2") && err.contains("bad port"),
        "{err}"
    );
    assert!(!err.contains("topsecretpw"), "{err}");
    let path = config_of("[shared]\nredis_url = \"redis://h\"\non_unavailable = \"retry\"\n");
    let (status, _, err) = run(&["config", "--config", &path], &[]);
    assert_eq!(status, 2, "{err}");
    assert!(
        err.contains("dagent.toml:3:18") && err.contains("on_unavailable"),
        "{err}"
    );
    let path = config_of("[shared.limits.nobody]\nrequests_per_minute = 5\n");
    let (status, _, err) = run(&["config", "--config", &path], &[]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("needs [shared] redis_url"), "{err}");
    let path = config_of(
        "[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\n[shared]\nredis_url = \"redis://:topsecretpw@127.0.0.1:6379\"\non_unavailable = \"fail\"\n\n[shared.limits.p]\nrequests_per_minute = 0\n",
    );
    let (status, _, err) = run(&["config", "--config", &path], &[]);
    assert_eq!(status, 2, "{err}");
    assert!(
        err.contains("requests_per_minute must be a whole number"),
        "{err}"
    );
    let path = config_of(
        "[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\n[shared]\nredis_url = \"redis://:topsecretpw@127.0.0.1:6379\"\non_unavailable = \"fail\"\n\n[shared.limits.p]\nrequests_per_minute = 60\n",
    );
    for format in ["text", "json"] {
        let (status, out, err) = run(&["config", "--config", &path, "--format", format], &[]);
        assert_eq!(status, 0, "{err}");
        assert!(out.contains("redis://***@127.0.0.1:6379"), "{out}");
        assert!(!out.contains("topsecretpw"), "{out}");
    }
}

/// Architecture Invariant: the Redis client lives in dagent-shared alone, which depends on
/// core (and the runtime it needs), nothing else of dagent.
#[test]
fn only_dagent_shared_depends_on_redis() {
    let deps = |dir: &str| -> Vec<String> {
        let text =
            std::fs::read_to_string(crate::support::root().join(dir).join("Cargo.toml")).unwrap();
        let doc: toml::Table = toml::from_str(&text).unwrap();
        let mut names: Vec<String> = doc
            .get("dependencies")
            .and_then(toml::Value::as_table)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    assert_eq!(
        deps("crates/shared"),
        ["dagent-core", "redis", "tokio", "tracing"]
    );
    for dir in [
        "crates/core",
        "crates/graph",
        "crates/analyzers",
        "crates/executor",
        "crates/providers",
        "crates/adapters",
        "crates/store",
    ] {
        assert!(
            !deps(dir)
                .iter()
                .any(|d| d == "redis" || d == "dagent-shared"),
            "{dir}"
        );
    }
}

/// A model's dependency analysis (`analyze --strategy llm`) is metered in the shared ledger
/// too: its cost reaches Redis before the command ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependency_analysis_by_a_model_is_charged_to_the_shared_budget() {
    let redis = Redis::start();
    let server = chat_server(
        "m",
        r#"{"tokyo": [], "paris": [], "compare": ["tokyo", "paris"]}"#,
        200,
        30,
    )
    .await;
    let dir = scratch("shared-analyzer");
    std::fs::write(
        dir.join("plan.toml"),
        "[[tasks]]\nid = \"tokyo\"\ntitle = \"Research Tokyo\"\n\n[[tasks]]\nid = \"paris\"\ntitle = \"Research Paris\"\n\n[[tasks]]\nid = \"compare\"\ntitle = \"Compare all cities\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("dagent.toml"),
        format!(
            "[parallelization]\nanalyzer_model = \"tiny\"\n\n[providers.stub]\nkind = \"openai\"\nbase_url = \"{}\"\n\n[models.tiny]\nprovider = \"stub\"\npricing = {{ input = \"1\", output = \"2\" }}\n\n[budget]\nmax_usd = \"1\"\n\n[shared]\nkey_prefix = \"analysis\"\n",
            server.uri()
        ),
    )
    .unwrap();
    let (p, c, url) = (dir.join("plan.toml"), dir.join("dagent.toml"), redis.url());
    let out = tokio::task::spawn_blocking(move || {
        command()
            .arg("analyze")
            .arg(&p)
            .arg("--config")
            .arg(&c)
            .args(["--strategy", "llm", "--format", "json"])
            .env("DAGENT_REDIS_URL", &url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cfg = SharedConfig::new(RedisUrl::parse(&redis.url()).unwrap());
    cfg.prefix = "analysis".into();
    let ledger = SharedLedger::new(
        SharedRedis::new(cfg).unwrap(),
        "default",
        None,
        Arc::new(CostLedger::new(None, None)),
    );
    let t = ledger.totals().await.unwrap();
    // 200 × $1/M + 30 × $2/M = $0.00026, settled; nothing left reserved.
    assert_eq!(
        (t.calls, t.spent, t.reserved),
        (1, Money::from_nanos(260_000), Money::ZERO)
    );
}

/// `dagent plan` pays for its planner call like a run does: with `[shared]`, through the
/// shared budget in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planners_call_is_charged_to_the_shared_budget() {
    let redis = Redis::start();
    let server = chat_server(
        "m",
        r#"{"title": "Tea", "tasks": [
                    {"id": "research", "title": "Research the history of tea", "depends_on": []},
                    {"id": "write", "title": "Write the summary", "depends_on": ["research"]}]}"#,
        400,
        60,
    )
    .await;
    let dir = scratch("shared-planner");
    std::fs::write(
        dir.join("dagent.toml"),
        format!(
            "[providers.stub]\nkind = \"openai\"\nbase_url = \"{}\"\n\n[models.tiny]\nprovider = \"stub\"\npricing = {{ input = \"1\", output = \"2\" }}\n\n[routing]\ndefault_model = \"tiny\"\n\n[budget]\nmax_usd = \"1\"\n\n[shared]\nkey_prefix = \"planner\"\n",
            server.uri()
        ),
    )
    .unwrap();
    let (c, out_file, url) = (dir.join("dagent.toml"), dir.join("plan.toml"), redis.url());
    let out = tokio::task::spawn_blocking(move || {
        command()
            .args(["plan", "Research the history of tea, then write a summary."])
            .args(["--complexity", "medium", "--config"])
            .arg(&c)
            .arg("--out")
            .arg(&out_file)
            .env("DAGENT_REDIS_URL", &url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    let mut cfg = SharedConfig::new(RedisUrl::parse(&redis.url()).unwrap());
    cfg.prefix = "planner".into();
    let ledger = SharedLedger::new(
        SharedRedis::new(cfg).unwrap(),
        "default",
        None,
        Arc::new(CostLedger::new(None, None)),
    );
    let t = ledger.totals().await.unwrap();
    // 400 × $1/M + 60 × $2/M = $0.00052, settled; nothing left reserved.
    assert_eq!(
        (t.calls, t.spent, t.reserved),
        (1, Money::from_nanos(520_000), Money::ZERO)
    );
}

/// The shared limit counts every request sent to an endpoint, a failover attempt included
/// (it wraps each endpoint's HTTP client, innermost): Redis's count of admitted requests
/// equals the requests the endpoints saw, not the number of calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_sent_to_an_endpoint_counts_in_the_shared_limit_failovers_included() {
    let redis = Redis::start();
    let server = chat_server("vendor/m", "Done.", 10, 5).await;
    // A closed loopback port: the first endpoint refuses every connection.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = scratch("shared-failover");
    let cfg = dir.join("dagent.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[parallelization]
dependency_strategy = "explicit"
max_concurrent_tasks = 1

[providers.stub]
kind = "openai"
base_urls = ["http://127.0.0.1:{dead}/v1", "{}/v1"]
balance = "priority"
allowed_fails = 100

[models.m]
provider = "stub"
id = "vendor/m"
pricing = {{ input = "1", output = "1" }}
context_window = 4096
max_output_tokens = 64

[routing]
default_model = "m"

[shared]
key_prefix = "failover"

[shared.limits.stub]
requests_per_minute = 100
"#,
            server.uri()
        ),
    )
    .unwrap();
    let plan = plan(&dir, 3);
    let report = dir.join("r.json");
    let url = redis.url();
    let (c, p, r) = (cfg.clone(), plan.clone(), report.clone());
    let out = tokio::task::spawn_blocking(move || {
        let child = spawn_run(&c, &p, &r, &url);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let sent: u64 = doc["endpoints"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"))
        .iter()
        .map(|e| e["requests"].as_u64().unwrap())
        .sum();
    let failovers: u64 = doc["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["failovers"].as_u64().unwrap())
        .sum();
    assert!(failovers >= 3, "every call failed over once: {doc}");
    let admitted = Command::new("redis-cli")
        .args([
            "-p",
            &redis.port().to_string(),
            "-a",
            PASSWORD,
            "--no-auth-warning",
        ])
        .args(["GET", "failover:limit:stub:seq"])
        .output()
        .unwrap();
    let admitted: u64 = String::from_utf8_lossy(&admitted.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {admitted:?}"));
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    assert_eq!(admitted, sent, "{doc}");
    assert!(admitted >= 6, "3 calls, each sent twice: {admitted}");
}
