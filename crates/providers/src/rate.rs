//! Requests-per-minute and tokens-per-minute limits of a provider and of its models, as a
//! [`ChatProvider`] decorator over governor's GCRA limiter on tokio's clock.
//!
//! The design choice to know: requests are **paced** (one every `60 s ÷ rpm`, no burst),
//! so no 60-second window ever sees more than `requests_per_minute` calls from this
//! process; tokens are a bucket holding one minute's worth, charged before the call with
//! the request's estimated prompt tokens plus its `max_tokens` (the figure providers such
//! as OpenAI count against a token quota). A call bigger than a whole minute's tokens waits
//! for a full bucket rather than never running. The provider's limits are passed before the
//! model's; a call held at the model's gate reaches the server later than the provider's
//! gate counted it (so the provider's spacing can look shorter at the server by that wait).
//! Limits shared between processes are another
//! decorator of the same shape (`[shared] redis_url`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dagent_core::{BoxFuture, ChatProvider, ChatRequest, ChatResponse, ProviderError};
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Per-minute limits of a provider or a model; `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Calls started per minute.
    pub requests_per_minute: Option<u32>,
    /// Tokens (estimated prompt + `max_tokens`) per minute.
    pub tokens_per_minute: Option<u32>,
}

impl RateLimits {
    /// Whether any limit is set.
    #[must_use]
    pub fn is_set(&self) -> bool {
        self.requests_per_minute.is_some() || self.tokens_per_minute.is_some()
    }
}

/// governor clock reading tokio's time, so a paused test clock drives the limiter too.
#[derive(Clone, Debug)]
struct TokioClock {
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

#[derive(Debug)]
struct Buckets {
    requests: Option<Limiter>,
    tokens: Option<(Limiter, NonZeroU32)>,
}

impl Buckets {
    fn new(limits: RateLimits, clock: &TokioClock) -> Option<Self> {
        let minute = Duration::from_secs(60);
        let requests = limits
            .requests_per_minute
            .and_then(NonZeroU32::new)
            .and_then(|n| Quota::with_period(minute / n.get()))
            .map(|q| RateLimiter::direct_with_clock(q.allow_burst(NonZeroU32::MIN), clock.clone()));
        let tokens = limits.tokens_per_minute.and_then(NonZeroU32::new).map(|n| {
            (
                RateLimiter::direct_with_clock(Quota::per_minute(n), clock.clone()),
                n,
            )
        });
        (requests.is_some() || tokens.is_some()).then_some(Self { requests, tokens })
    }

    async fn wait(&self, tokens: u64, clock: &TokioClock) {
        if let Some(r) = &self.requests {
            while let Err(not_until) = r.check() {
                tokio::time::sleep(not_until.wait_time_from(clock.now())).await;
            }
        }
        if let Some((t, cap)) = &self.tokens {
            let n = NonZeroU32::new(
                u32::try_from(tokens)
                    .unwrap_or(u32::MAX)
                    .clamp(1, cap.get()),
            )
            .unwrap_or(NonZeroU32::MIN);
            loop {
                match t.check_n(n) {
                    Ok(Ok(())) => break,
                    Ok(Err(not_until)) => {
                        tokio::time::sleep(not_until.wait_time_from(clock.now())).await;
                    }
                    // Cannot happen: `n` is capped to the bucket's size.
                    Err(_) => break,
                }
            }
        }
    }
}

/// The tokens a request is charged against a tokens-per-minute limit: its estimated prompt
/// tokens plus its `max_tokens`.
#[must_use]
pub fn request_tokens(request: &ChatRequest) -> u64 {
    request
        .messages
        .iter()
        .map(|m| dagent_core::estimate_tokens(&m.content))
        .sum::<u64>()
        .saturating_add(u64::from(request.max_tokens.unwrap_or(0)))
}

/// A [`ChatProvider`] decorator that waits, before each call, for the provider's and the
/// requested model's per-minute limits (see the module documentation).
pub struct RateLimited {
    inner: Arc<dyn ChatProvider>,
    provider: Option<Buckets>,
    models: HashMap<String, Buckets>,
    clock: TokioClock,
}

impl std::fmt::Debug for RateLimited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimited")
            .field("provider", &self.inner.name())
            .field("models", &self.models.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl RateLimited {
    /// `inner` under the provider's `limits` and per-model limits keyed by the model id
    /// the requests carry. `None` when no limit is set at all (nothing to decorate).
    #[must_use]
    pub fn new(
        inner: Arc<dyn ChatProvider>,
        limits: RateLimits,
        models: impl IntoIterator<Item = (String, RateLimits)>,
    ) -> Option<Self> {
        let clock = TokioClock {
            start: tokio::time::Instant::now(),
        };
        let provider = Buckets::new(limits, &clock);
        let models: HashMap<String, Buckets> = models
            .into_iter()
            .filter_map(|(id, l)| Buckets::new(l, &clock).map(|b| (id, b)))
            .collect();
        (provider.is_some() || !models.is_empty()).then_some(Self {
            inner,
            provider,
            models,
            clock,
        })
    }
}

impl ChatProvider for RateLimited {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let tokens = request_tokens(request);
            // The provider's gate first, then the model's (usually the stricter): a call
            // held at the second gate after passing the first reaches the server later than
            // the first gate counted it, never earlier.
            if let Some(p) = &self.provider {
                p.wait(tokens, &self.clock).await;
            }
            if let Some(m) = self.models.get(&request.model) {
                m.wait(tokens, &self.clock).await;
            }
            self.inner.chat(request).await
        })
    }
}
