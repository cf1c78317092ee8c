//! Several servers behind one provider name: balancing, passive and active health, cooldown
//! and failover.
//!
//! The design choice to know: a call that fails on one endpoint for a transient reason
//! (connection, timeout, 5xx, 429) is sent to another endpoint **within the same call**,
//! before the executor ever sees an error — so a dead server costs a failover, not a task
//! retry. An endpoint that fails `allowed_fails` times in a row cools down for `cooldown`
//! (LiteLLM's semantics): no call picks it until then, unless every endpoint is cooling
//! down, when the one whose cooldown ends first is tried rather than failing outright. A
//! success, or a passing health check, ends a cooldown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use dagent_core::{
    BoxFuture, ChatProvider, ChatRequest, ChatResponse, ProviderError, ProviderErrorKind,
};
use tokio::time::Instant;

use crate::adaptive::{Adaptive, AdaptiveLimit};

/// How a pool picks the endpoint of a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Balance {
    /// The endpoint with the fewest calls in flight (ties: the first).
    #[default]
    LeastBusy,
    /// Each endpoint in turn.
    RoundRobin,
    /// In proportion to each endpoint's weight (smooth weighted round-robin, as nginx does).
    Weighted,
    /// The first available endpoint in configuration order: ordered failover.
    Priority,
    /// The endpoint with the lowest moving average latency (untried endpoints first).
    LowestLatency,
}

impl Balance {
    /// Parses `least_busy`, `round_robin`, `weighted`, `priority` or `lowest_latency`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "least_busy" => Some(Self::LeastBusy),
            "round_robin" => Some(Self::RoundRobin),
            "weighted" => Some(Self::Weighted),
            "priority" => Some(Self::Priority),
            "lowest_latency" => Some(Self::LowestLatency),
            _ => None,
        }
    }

    /// The configuration name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LeastBusy => "least_busy",
            Self::RoundRobin => "round_robin",
            Self::Weighted => "weighted",
            Self::Priority => "priority",
            Self::LowestLatency => "lowest_latency",
        }
    }
}

/// A pool's policy: balancing, cooldown and health checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolPolicy {
    /// How calls are spread.
    pub balance: Balance,
    /// Weights per endpoint for [`Balance::Weighted`] (missing ones are 1).
    pub weights: Vec<u32>,
    /// Consecutive failures after which an endpoint cools down (LiteLLM's `allowed_fails`).
    pub allowed_fails: u32,
    /// How long a failing endpoint is left alone.
    pub cooldown: Duration,
    /// How often each endpoint's models list is fetched as a health check (`None`: only
    /// passive failure counting).
    pub health_check_interval: Option<Duration>,
}

impl Default for PoolPolicy {
    /// Least busy, equal weights, cooldown after 3 consecutive failures for 5 s (LiteLLM's
    /// defaults), no active health checks.
    fn default() -> Self {
        Self {
            balance: Balance::LeastBusy,
            weights: Vec::new(),
            allowed_fails: 3,
            cooldown: Duration::from_secs(5),
            health_check_interval: None,
        }
    }
}

/// One endpoint of a pool: its client, its URL (for reports), the URL of its health check
/// and its adaptive limit, if any.
pub struct Endpoint {
    client: Arc<dyn ChatProvider>,
    url: String,
    health_url: Option<String>,
    adaptive: Option<Arc<AdaptiveLimit>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint at `url` served by `client`.
    #[must_use]
    pub fn new(client: Arc<dyn ChatProvider>, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
            health_url: None,
            adaptive: None,
        }
    }

    /// Checks health with a GET of `url` (a models list).
    #[must_use]
    pub fn with_health_url(mut self, url: impl Into<String>) -> Self {
        self.health_url = Some(url.into());
        self
    }

    /// Sends calls through an adaptive concurrency limit (the client should feed the same
    /// limit its rate-limit headers).
    #[must_use]
    pub fn with_adaptive(mut self, limit: Arc<AdaptiveLimit>) -> Self {
        self.client = Arc::new(Adaptive::new(self.client, Arc::clone(&limit)));
        self.adaptive = Some(limit);
        self
    }
}

/// What happened at one endpoint so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EndpointStats {
    /// The provider's name.
    pub provider: String,
    /// The endpoint's base URL.
    pub url: String,
    /// Calls sent to it.
    pub requests: u64,
    /// Calls that failed there.
    pub errors: u64,
    /// Calls that failed there and were sent to another endpoint instead.
    pub failovers: u64,
    /// Times it was put in cooldown.
    pub cooldowns: u64,
    /// Whether it is cooling down now.
    pub cooling_down: bool,
    /// Calls in flight there now.
    pub in_flight: usize,
    /// Moving average latency of its successful calls, milliseconds.
    pub latency_ms: Option<f64>,
    /// The adaptive limit now, when adaptive concurrency is on.
    pub adaptive_limit: Option<usize>,
    /// Calls that met backpressure there (429, 503, timeouts), when adaptive is on.
    pub rejected: u64,
    /// The last health check's verdict, when health checks ran.
    pub healthy: Option<bool>,
}

#[derive(Debug, Default)]
struct Health {
    requests: u64,
    errors: u64,
    failovers: u64,
    cooldowns: u64,
    consecutive_fails: u32,
    cooling_until: Option<Instant>,
    latency_ms: Option<f64>,
    healthy: Option<bool>,
    current_weight: i64,
}

/// Endpoints of one provider (e.g. two llama.cpp servers), balanced by a [`PoolPolicy`].
/// Pair it with a per-provider concurrency limit of `endpoints × per-endpoint limit`.
pub struct EndpointPool {
    name: String,
    endpoints: Vec<Endpoint>,
    in_flight: Vec<AtomicUsize>,
    health: Mutex<Vec<Health>>,
    next: AtomicUsize,
    policy: PoolPolicy,
}

impl std::fmt::Debug for EndpointPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointPool")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints.len())
            .field("balance", &self.policy.balance)
            .finish()
    }
}

impl EndpointPool {
    /// A pool named `name` over `endpoints`, least busy first, with the default policy.
    #[must_use]
    pub fn new(name: impl Into<String>, endpoints: Vec<Arc<dyn ChatProvider>>) -> Self {
        let endpoints = endpoints
            .into_iter()
            .enumerate()
            .map(|(i, c)| Endpoint::new(c, format!("endpoint {}", i + 1)))
            .collect();
        Self::with_policy(name, endpoints, PoolPolicy::default())
    }

    /// A pool named `name` over `endpoints` under `policy`.
    #[must_use]
    pub fn with_policy(
        name: impl Into<String>,
        endpoints: Vec<Endpoint>,
        policy: PoolPolicy,
    ) -> Self {
        let in_flight = endpoints.iter().map(|_| AtomicUsize::new(0)).collect();
        let health = Mutex::new(endpoints.iter().map(|_| Health::default()).collect());
        Self {
            name: name.into(),
            endpoints,
            in_flight,
            health,
            next: AtomicUsize::new(0),
            policy,
        }
    }

    /// Number of endpoints.
    #[must_use]
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether the pool is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &PoolPolicy {
        &self.policy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Health>> {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state of every endpoint, in configuration order.
    #[must_use]
    pub fn stats(&self) -> Vec<EndpointStats> {
        let now = Instant::now();
        let h = self.lock();
        self.endpoints
            .iter()
            .zip(h.iter())
            .zip(&self.in_flight)
            .map(|((e, h), f)| {
                let a = e.adaptive.as_ref().map(|a| a.state());
                EndpointStats {
                    provider: self.name.clone(),
                    url: e.url.clone(),
                    requests: h.requests,
                    errors: h.errors,
                    failovers: h.failovers,
                    cooldowns: h.cooldowns,
                    cooling_down: h.cooling_until.is_some_and(|t| t > now),
                    in_flight: f.load(Ordering::SeqCst),
                    latency_ms: h.latency_ms,
                    adaptive_limit: a.map(|a| a.limit),
                    rejected: a.map_or(0, |a| a.rejected),
                    healthy: h.healthy,
                }
            })
            .collect()
    }

    /// The endpoint for the next call among those not `tried`: endpoints out of cooldown
    /// (and, with adaptive limits, with a free slot) first, by the policy.
    fn pick(&self, tried: &[bool]) -> Option<usize> {
        let now = Instant::now();
        let mut h = self.lock();
        let open: Vec<usize> = (0..self.endpoints.len()).filter(|&i| !tried[i]).collect();
        if open.is_empty() {
            return None;
        }
        let warm: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| h[i].cooling_until.is_none_or(|t| t <= now))
            .collect();
        if warm.is_empty() {
            // Every endpoint left is cooling down: try the one that recovers first.
            return open.into_iter().min_by_key(|&i| h[i].cooling_until);
        }
        let free: Vec<usize> = warm
            .iter()
            .copied()
            .filter(|&i| {
                self.endpoints[i]
                    .adaptive
                    .as_ref()
                    .is_none_or(|a| a.has_capacity())
            })
            .collect();
        let candidates = if free.is_empty() { warm } else { free };
        let busy = |i: usize| self.in_flight[i].load(Ordering::SeqCst);
        Some(match self.policy.balance {
            Balance::LeastBusy => candidates.into_iter().min_by_key(|&i| busy(i))?,
            Balance::Priority => candidates[0],
            Balance::RoundRobin => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                // The first candidate at or after the turn.
                let len = self.endpoints.len();
                (0..len)
                    .map(|k| (n + k) % len)
                    .find(|i| candidates.contains(i))?
            }
            Balance::Weighted => {
                // Smooth weighted round-robin over the candidates.
                let weight = |i: usize| i64::from(self.policy.weights.get(i).copied().unwrap_or(1));
                let total: i64 = candidates.iter().map(|&i| weight(i)).sum();
                for &i in &candidates {
                    h[i].current_weight += weight(i);
                }
                let best = candidates
                    .iter()
                    .copied()
                    .max_by_key(|&i| (h[i].current_weight, std::cmp::Reverse(i)))?;
                h[best].current_weight -= total;
                best
            }
            Balance::LowestLatency => candidates.into_iter().min_by(|&a, &b| {
                let la = h[a].latency_ms.unwrap_or(-1.0);
                let lb = h[b].latency_ms.unwrap_or(-1.0);
                la.total_cmp(&lb).then(busy(a).cmp(&busy(b)))
            })?,
        })
    }

    fn succeeded(&self, i: usize, latency: Duration) {
        let mut h = self.lock();
        let e = &mut h[i];
        e.consecutive_fails = 0;
        e.cooling_until = None;
        let ms = latency.as_secs_f64() * 1000.0;
        e.latency_ms = Some(e.latency_ms.map_or(ms, |l| 0.8 * l + 0.2 * ms));
    }

    /// Counts a failure; returns whether it is worth trying another endpoint.
    fn failed(&self, i: usize, error: &ProviderError) -> bool {
        let failover = fails_over(error);
        let mut h = self.lock();
        let e = &mut h[i];
        e.errors += 1;
        if failover {
            self.count_failure(e);
        }
        failover
    }

    fn count_failure(&self, e: &mut Health) {
        e.consecutive_fails = e.consecutive_fails.saturating_add(1);
        let now = Instant::now();
        if e.consecutive_fails >= self.policy.allowed_fails.max(1)
            && e.cooling_until.is_none_or(|t| t <= now)
        {
            e.cooling_until = now.checked_add(self.policy.cooldown);
            e.cooldowns += 1;
        }
    }

    /// One round of health checks: a GET of each endpoint's health URL. A server that
    /// answers (any status below 500) ends its endpoint's cooldown; one that does not counts
    /// as a failure towards it.
    pub async fn check_health(&self, timeout: Duration) {
        let http = &crate::http::client(false);
        let checks = self.endpoints.iter().enumerate().filter_map(|(i, e)| {
            e.health_url.as_ref().map(|url| async move {
                let ok = http
                    .get(url)
                    .timeout(timeout)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() < 500);
                (i, ok)
            })
        });
        let results = futures_util::future::join_all(checks).await;
        let mut h = self.lock();
        for (i, ok) in results {
            h[i].healthy = Some(ok);
            if ok {
                h[i].consecutive_fails = 0;
                h[i].cooling_until = None;
            } else {
                let e = &mut h[i];
                self.count_failure(e);
            }
        }
    }

    /// Starts checking health every `health_check_interval` on the current tokio runtime
    /// (nothing when the policy sets no interval). The task ends when the pool is dropped.
    pub fn spawn_health_checks(self: &Arc<Self>) {
        let Some(every) = self.policy.health_check_interval else {
            return;
        };
        if self.endpoints.iter().all(|e| e.health_url.is_none()) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Self> = Arc::downgrade(self);
        rt.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(pool) = weak.upgrade() else { return };
                pool.check_health(every.min(Duration::from_secs(10))).await;
            }
        });
    }
}

/// Whether a failure at one endpoint is worth another endpoint: transient ones
/// (connection, timeout, 5xx, 429) are; a bad request or a bad key would fail anywhere.
fn fails_over(e: &ProviderError) -> bool {
    matches!(
        e.kind(),
        ProviderErrorKind::Connection
            | ProviderErrorKind::Timeout
            | ProviderErrorKind::Server
            | ProviderErrorKind::RateLimited
    )
}

struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ChatProvider for EndpointPool {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let mut tried = vec![false; self.endpoints.len()];
            let mut last: Option<(usize, ProviderError)> = None;
            while let Some(i) = self.pick(&tried) {
                tried[i] = true;
                if let Some((prev, _)) = &last {
                    self.lock()[*prev].failovers += 1;
                }
                self.lock()[i].requests += 1;
                self.in_flight[i].fetch_add(1, Ordering::SeqCst);
                let slot = Slot(&self.in_flight[i]);
                let started = Instant::now();
                let result = self.endpoints[i].client.chat(request).await;
                drop(slot);
                match result {
                    Ok(r) => {
                        self.succeeded(i, started.elapsed());
                        return Ok(r);
                    }
                    Err(e) => {
                        let again = self.failed(i, &e);
                        last = Some((i, e));
                        if !again {
                            break;
                        }
                    }
                }
            }
            Err(last.map_or_else(
                || ProviderError::new(ProviderErrorKind::Connection, "no endpoint configured"),
                |(_, e)| e,
            ))
        })
    }
}
