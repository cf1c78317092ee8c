//! The Redis client: one background thread with its own runtime owns the connection, so
//! callers on any runtime (or several short-lived ones) share it; availability is tracked
//! and announced once per outage.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script};
use tokio::sync::{mpsc, oneshot};

use crate::RedisUrl;

/// What to do when Redis cannot be reached: paid calls never run unmetered either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnUnavailable {
    /// Stop launching paid calls, say so, and wait until Redis is back (the default).
    #[default]
    Wait,
    /// Refuse paid calls (their tasks fail with the reason) until Redis is back.
    Fail,
}

impl OnUnavailable {
    /// Parses `wait` or `fail`.
    ///
    /// # Errors
    /// A message naming the accepted values.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "wait" => Ok(Self::Wait),
            "fail" => Ok(Self::Fail),
            _ => Err("must be \"wait\" or \"fail\"".to_owned()),
        }
    }

    /// `wait` or `fail`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Wait => "wait",
            Self::Fail => "fail",
        }
    }
}

/// How to reach Redis and what to do without it.
#[derive(Clone, Debug)]
pub struct SharedConfig {
    /// The server.
    pub url: RedisUrl,
    /// Wait or fail while it is unreachable.
    pub on_unavailable: OnUnavailable,
    /// Prefix of every key dagent writes (several teams can share one server).
    pub prefix: String,
    /// How long a reservation survives without its process renewing it (a crashed process
    /// cannot hold budget longer than this).
    pub reservation_ttl: Duration,
    /// Time limit of one Redis round trip (connecting included).
    pub timeout: Duration,
}

impl SharedConfig {
    /// Defaults: wait, prefix `dagent`, reservations live 60 s unless renewed, 2 s timeout.
    #[must_use]
    pub fn new(url: RedisUrl) -> Self {
        Self {
            url,
            on_unavailable: OnUnavailable::Wait,
            prefix: "dagent".to_owned(),
            reservation_ttl: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
        }
    }
}

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;
type Notice = Arc<dyn Fn(&str) + Send + Sync>;

struct Inner {
    config: SharedConfig,
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    down: AtomicBool,
    outages: AtomicU64,
    pending: AtomicUsize,
    notice: Mutex<Notice>,
}

/// A handle on the shared Redis server (cheap to clone).
#[derive(Clone)]
pub struct SharedRedis {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SharedRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRedis")
            .field("url", &self.inner.config.url)
            .field("on_unavailable", &self.inner.config.on_unavailable)
            .finish_non_exhaustive()
    }
}

/// A Redis failure, its message already scrubbed of the URL's password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl SharedRedis {
    /// A client for `config` (nothing is connected yet). Its connection lives on a thread
    /// of its own, started here.
    ///
    /// # Errors
    /// The URL is refused by the client or the thread cannot start (message scrubbed).
    pub fn new(config: SharedConfig) -> Result<Self, String> {
        let client = redis::Client::open(config.url.expose())
            .map_err(|e| config.url.scrub(&format!("Redis URL {}: {e}", config.url)))?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the Redis client's runtime: {e}"))?;
        std::thread::Builder::new()
            .name("dagent-redis".into())
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some(job) = rx.recv().await {
                        tokio::spawn(job);
                    }
                });
            })
            .map_err(|e| format!("cannot start the Redis client's thread: {e}"))?;
        let notice: Notice = Arc::new(|m: &str| tracing::warn!("{m}"));
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                client,
                conn: tokio::sync::Mutex::new(None),
                jobs: Mutex::new(Some(tx)),
                down: AtomicBool::new(false),
                outages: AtomicU64::new(0),
                pending: AtomicUsize::new(0),
                notice: Mutex::new(notice),
            }),
        })
    }

    /// Where notices about Redis going away and coming back go (a `tracing` warning by
    /// default; the CLI prints them on stderr).
    #[must_use]
    pub fn with_notice(self, notice: impl Fn(&str) + Send + Sync + 'static) -> Self {
        *self
            .inner
            .notice
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(notice);
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SharedConfig {
        &self.inner.config
    }

    /// How many times Redis became unreachable.
    #[must_use]
    pub fn outages(&self) -> u64 {
        self.inner.outages.load(Ordering::Relaxed)
    }

    /// A key under the configured prefix.
    #[must_use]
    pub fn key(&self, parts: &[&str]) -> String {
        let mut k = self.inner.config.prefix.clone();
        for p in parts {
            k.push(':');
            k.push_str(p);
        }
        k
    }

    fn notice(&self, message: &str) {
        let f = self
            .inner
            .notice
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        f(message);
    }

    /// Runs `job` on the client's thread.
    pub(crate) fn spawn(&self, job: impl Future<Output = ()> + Send + 'static) {
        if let Some(tx) = self
            .inner
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            let _ = tx.send(Box::pin(job));
        }
    }

    /// One script call, on the client's thread, within the configured time limit.
    pub(crate) async fn eval_once(
        &self,
        script: &'static Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Vec<i64>, Unavailable> {
        let (tx, rx) = oneshot::channel();
        let me = self.clone();
        self.spawn(async move {
            let result = me.eval_here(script, &keys, &args).await;
            let _ = tx.send(result);
        });
        let out = rx
            .await
            .unwrap_or_else(|_| Err(Unavailable("the Redis client stopped".into())));
        match &out {
            Ok(_) => self.mark_up(),
            Err(e) => self.mark_down(e),
        }
        out
    }

    async fn eval_here(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<Vec<i64>, Unavailable> {
        let url = &self.inner.config.url;
        let timeout = self.inner.config.timeout;
        let mut conn = {
            let mut slot = self.inner.conn.lock().await;
            if let Some(c) = slot.as_ref() {
                c.clone()
            } else {
                let cfg = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout));
                let c = self
                    .inner
                    .client
                    .get_multiplexed_async_connection_with_config(&cfg)
                    .await
                    .map_err(|e| Unavailable(url.scrub(&e.to_string())))?;
                *slot = Some(c.clone());
                c
            }
        };
        let mut invocation = script.prepare_invoke();
        for k in keys {
            invocation.key(k);
        }
        for a in args {
            invocation.arg(a);
        }
        let result = tokio::time::timeout(timeout, invocation.invoke_async::<Vec<i64>>(&mut conn))
            .await
            .map_err(|_| Unavailable(format!("no answer within {timeout:?}")))
            .and_then(|r| r.map_err(|e| Unavailable(url.scrub(&e.to_string()))));
        if result.is_err() {
            *self.inner.conn.lock().await = None;
        }
        result
    }

    fn mark_down(&self, e: &Unavailable) {
        if !self.inner.down.swap(true, Ordering::SeqCst) {
            self.inner.outages.fetch_add(1, Ordering::Relaxed);
            let what = match self.inner.config.on_unavailable {
                OnUnavailable::Wait => "waiting for it (on_unavailable = \"wait\")",
                OnUnavailable::Fail => "paid calls are refused (on_unavailable = \"fail\")",
            };
            self.notice(&format!(
                "shared limits: Redis at {} is unavailable ({e}): no paid call starts until it is back; {what}",
                self.inner.config.url
            ));
        }
    }

    fn mark_up(&self) {
        if self.inner.down.swap(false, Ordering::SeqCst) {
            self.notice(&format!(
                "shared limits: Redis at {} is back; paid calls resume",
                self.inner.config.url
            ));
        }
    }

    /// A script call that honours `on_unavailable`: with `wait` it retries (backing off up
    /// to 2 s) until Redis answers; with `fail` the first failure is returned.
    pub(crate) async fn eval(
        &self,
        script: &'static Script,
        keys: &[String],
        args: &[String],
    ) -> Result<Vec<i64>, Unavailable> {
        let mut delay = Duration::from_millis(50);
        loop {
            match self.eval_once(script, keys.to_vec(), args.to_vec()).await {
                Ok(v) => return Ok(v),
                Err(e) if self.inner.config.on_unavailable == OnUnavailable::Fail => {
                    return Err(Unavailable(format!(
                        "not launched: the shared limits and budget (Redis at {}) are unavailable: {e}",
                        self.inner.config.url
                    )));
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Records something that already happened (a settlement, a release): retried on the
    /// client's thread until Redis takes it, whatever `on_unavailable` says. See
    /// [`SharedRedis::flush`].
    pub(crate) fn record(&self, script: &'static Script, keys: Vec<String>, args: Vec<String>) {
        self.inner.pending.fetch_add(1, Ordering::SeqCst);
        let me = self.clone();
        self.spawn(async move {
            let mut delay = Duration::from_millis(50);
            loop {
                let r = me.eval_here(script, &keys, &args).await;
                match r {
                    Ok(_) => {
                        me.mark_up();
                        break;
                    }
                    Err(e) => {
                        me.mark_down(&e);
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(2));
                    }
                }
            }
            me.inner.pending.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Waits up to `limit` for every recorded settlement and release to reach Redis;
    /// returns how many have not (they stay held in Redis until their reservation expires).
    pub async fn flush(&self, limit: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let n = self.inner.pending.load(Ordering::SeqCst);
            if n == 0 || tokio::time::Instant::now() >= deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Checks that Redis answers (one `PING`-like script call), honouring
    /// `on_unavailable`.
    ///
    /// # Errors
    /// With `fail`, the reason Redis cannot be used.
    pub async fn check(&self) -> Result<(), String> {
        static PING: std::sync::LazyLock<Script> =
            std::sync::LazyLock::new(|| Script::new("return {1}"));
        self.eval(&PING, &[], &[]).await.map(drop).map_err(|e| e.0)
    }
}
