//! Adaptive concurrency for one endpoint: an AIMD limit, as Netflix's concurrency-limits
//! library does it, between 1 and the configured `max_concurrent`.
//!
//! The design choice to know: the limit only ever **narrows** what the executor's fixed
//! per-provider limit (`Providers::key_limits`) allows — the executor still holds its slot
//! while a call waits here — so the configured maximum stays a hard ceiling, and the
//! executor knows nothing of HTTP. The limit shrinks multiplicatively once per *window* (a
//! burst of 429s answered to calls launched under the same limit shrinks it once, not once
//! per call), grows additively (about one slot per limit's worth of successes, slower near
//! the limit of the last cut), and a
//! server's `Retry-After` or spent `X-RateLimit-*` quota pauses every new call until the
//! time it named. All times are `tokio::time` instants, so tests run it on a paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dagent_core::{BoxFuture, ChatProvider, ChatRequest, ChatResponse, ProviderError};
use tokio::time::Instant;

use crate::error::is_backpressure;

/// The factor the limit is multiplied by on backpressure.
pub const BACKOFF_RATIO: f64 = 0.75;

/// A snapshot of an adaptive limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveState {
    /// Calls allowed at once now (1 ..= `max`).
    pub limit: usize,
    /// The configured ceiling.
    pub max: usize,
    /// Calls in flight through this limit.
    pub in_flight: usize,
    /// Times the limit was cut for backpressure.
    pub decreases: u64,
    /// Calls that met backpressure (429, 503, timeout, a full queue).
    pub rejected: u64,
    /// Calls that succeeded.
    pub succeeded: u64,
    /// Whether new calls are held until a server-named time (`Retry-After`, quota reset).
    pub paused: bool,
}

#[derive(Debug)]
struct State {
    limit: f64,
    /// The limit at the last cut: near it, the limit probes upwards eight times slower
    /// (as TCP CUBIC slows near its last maximum), so a server's true capacity is not
    /// overrun every few calls.
    ceiling: f64,
    in_flight: usize,
    window: u64,
    paused_until: Option<Instant>,
    decreases: u64,
    rejected: u64,
    succeeded: u64,
}

/// The adaptive limit of one endpoint (see the module documentation). Cheap to share
/// (`Arc`); [`AdaptiveLimit::acquire`] waits for a slot.
#[derive(Debug)]
pub struct AdaptiveLimit {
    max: usize,
    state: Mutex<State>,
    freed: tokio::sync::Notify,
}

impl AdaptiveLimit {
    /// A limit that starts at `max` (at least 1) and never exceeds it.
    #[must_use]
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        #[allow(clippy::cast_precision_loss)]
        let limit = max as f64;
        Self {
            max,
            state: Mutex::new(State {
                limit,
                ceiling: limit,
                in_flight: 0,
                window: 0,
                paused_until: None,
                decreases: 0,
                rejected: 0,
                succeeded: 0,
            }),
            freed: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A snapshot.
    #[must_use]
    pub fn state(&self) -> AdaptiveState {
        let s = self.lock();
        AdaptiveState {
            limit: current(&s),
            max: self.max,
            in_flight: s.in_flight,
            decreases: s.decreases,
            rejected: s.rejected,
            succeeded: s.succeeded,
            paused: s.paused_until.is_some_and(|t| t > Instant::now()),
        }
    }

    /// Whether a call could start now without waiting.
    #[must_use]
    pub fn has_capacity(&self) -> bool {
        let s = self.lock();
        s.in_flight < current(&s) && s.paused_until.is_none_or(|t| t <= Instant::now())
    }

    /// Holds every new call for `wait` (a server's `Retry-After`, or the reset of a spent
    /// quota); a later pause never shortens an earlier one.
    pub fn pause_for(&self, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        let Some(until) = Instant::now().checked_add(wait) else {
            return;
        };
        let mut s = self.lock();
        s.paused_until = Some(s.paused_until.map_or(until, |t| t.max(until)));
    }

    /// Waits for a slot: until no pause is in force and fewer calls than the limit are in
    /// flight. The permit reports the call's outcome (or, dropped unreported, just frees
    /// the slot).
    pub async fn acquire(self: &Arc<Self>) -> AdaptivePermit {
        loop {
            let notified = self.freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let pause = {
                let mut s = self.lock();
                match s.paused_until {
                    Some(t) if t > Instant::now() => Some(t),
                    _ => {
                        s.paused_until = None;
                        if s.in_flight < current(&s) {
                            s.in_flight += 1;
                            return AdaptivePermit {
                                limit: Arc::clone(self),
                                window: s.window,
                                done: false,
                            };
                        }
                        None
                    }
                }
            };
            match pause {
                Some(t) => tokio::time::sleep_until(t).await,
                None => notified.await,
            }
        }
    }

    fn finish(&self, window: u64, outcome: Outcome) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        #[allow(clippy::cast_precision_loss)]
        let max = self.max as f64;
        match outcome {
            Outcome::Success => {
                s.succeeded += 1;
                // Additive increase: one slot per limit's worth of successes; an eighth of
                // that within one slot of the last cut.
                let step = if (s.limit - s.ceiling).abs() < 1.0 {
                    1.0 / (8.0 * s.limit)
                } else {
                    1.0 / s.limit
                };
                s.limit = (s.limit + step).min(max);
            }
            Outcome::Backpressure(wait) => {
                s.rejected += 1;
                if window == s.window {
                    s.ceiling = s.limit;
                    s.limit = (s.limit * BACKOFF_RATIO).max(1.0);
                    s.window += 1;
                    s.decreases += 1;
                }
                if let Some(wait) = wait.filter(|w| !w.is_zero()) {
                    let now = Instant::now();
                    if let Some(until) = now.checked_add(wait) {
                        s.paused_until = Some(s.paused_until.map_or(until, |t| t.max(until)));
                    }
                }
            }
            Outcome::Ignored => {}
        }
        drop(s);
        self.freed.notify_waiters();
    }
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn current(s: &State) -> usize {
    (s.limit.floor() as usize).max(1)
}

enum Outcome {
    Success,
    Backpressure(Option<Duration>),
    Ignored,
}

/// A slot of an [`AdaptiveLimit`]; report the call's result with [`AdaptivePermit::report`].
#[derive(Debug)]
pub struct AdaptivePermit {
    limit: Arc<AdaptiveLimit>,
    window: u64,
    done: bool,
}

impl AdaptivePermit {
    /// Reports the call's result: a success grows the limit, backpressure (429, 503, a
    /// timeout, a full queue) shrinks it and honours the error's `Retry-After`; other
    /// failures leave it as it is.
    pub fn report<T>(mut self, result: &Result<T, ProviderError>) {
        let outcome = match result {
            Ok(_) => Outcome::Success,
            Err(e) if is_backpressure(e) => Outcome::Backpressure(e.retry_after()),
            Err(_) => Outcome::Ignored,
        };
        self.done = true;
        self.limit.finish(self.window, outcome);
    }
}

impl Drop for AdaptivePermit {
    fn drop(&mut self) {
        if !self.done {
            self.limit.finish(self.window, Outcome::Ignored);
        }
    }
}

/// A [`ChatProvider`] decorator that sends every call through an [`AdaptiveLimit`].
pub struct Adaptive {
    inner: Arc<dyn ChatProvider>,
    limit: Arc<AdaptiveLimit>,
}

impl std::fmt::Debug for Adaptive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adaptive")
            .field("provider", &self.inner.name())
            .field("limit", &self.limit.state())
            .finish()
    }
}

impl Adaptive {
    /// `inner` under `limit`.
    #[must_use]
    pub fn new(inner: Arc<dyn ChatProvider>, limit: Arc<AdaptiveLimit>) -> Self {
        Self { inner, limit }
    }

    /// The limit.
    #[must_use]
    pub fn limit(&self) -> &Arc<AdaptiveLimit> {
        &self.limit
    }
}

impl ChatProvider for Adaptive {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let permit = self.limit.acquire().await;
            let result = self.inner.chat(request).await;
            permit.report(&result);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dagent_core::ProviderErrorKind;

    fn rate_limited(after: Option<Duration>) -> Result<(), ProviderError> {
        Err(ProviderError::new(ProviderErrorKind::RateLimited, "429").with_retry_after(after))
    }

    #[tokio::test(start_paused = true)]
    async fn shrinks_once_per_window_and_grows_back_to_the_ceiling_only() {
        let l = Arc::new(AdaptiveLimit::new(8));
        let permits: Vec<_> = futures_util::future::join_all((0..8).map(|_| l.acquire())).await;
        assert_eq!(l.state().in_flight, 8);
        // Eight calls of one window all rejected: one cut (8 × 0.75 = 6).
        for p in permits {
            p.report(&rate_limited(None));
        }
        assert_eq!((l.state().limit, l.state().decreases), (6, 1));
        // A call of the new window rejected: another cut, never below 1.
        for _ in 0..20 {
            l.acquire().await.report(&rate_limited(None));
        }
        assert_eq!(l.state().limit, 1);
        // Successes grow it back, and never past the ceiling.
        for _ in 0..500 {
            l.acquire().await.report(&Ok::<(), ProviderError>(()));
        }
        assert_eq!(l.state().limit, 8);
        // Other failures leave it alone; a dropped permit frees its slot.
        l.acquire().await.report(&Err::<(), _>(ProviderError::new(
            ProviderErrorKind::BadRequest,
            "x",
        )));
        drop(l.acquire().await);
        let s = l.state();
        assert_eq!((s.limit, s.in_flight), (8, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn holds_calls_over_the_limit_and_during_a_retry_after() {
        let l = Arc::new(AdaptiveLimit::new(2));
        let a = l.acquire().await;
        let b = l.acquire().await;
        assert!(!l.has_capacity());
        let waiter = tokio::spawn({
            let l = Arc::clone(&l);
            async move { l.acquire().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "a third call waits");
        // A 429 naming Retry-After: 30 s cuts the limit (2 → 1) and pauses new calls for
        // 30 s; the slots are free once the other call ends, the pause still holds.
        let started = Instant::now();
        a.report(&rate_limited(Some(Duration::from_secs(30))));
        drop(b);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "held by the pause");
        let c = waiter.await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        drop(c);
        // A spent quota seen on a success pauses too.
        l.pause_for(Duration::from_secs(5));
        assert!(l.state().paused);
        let t = Instant::now();
        drop(l.acquire().await);
        assert!(t.elapsed() >= Duration::from_secs(5));
    }
}
