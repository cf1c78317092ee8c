//! Requests and tokens per minute of one provider, counted in Redis for every process.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use dagent_core::{
    BoxFuture, ChatProvider, ChatRequest, ChatResponse, ProviderError, ProviderErrorKind,
    estimate_tokens,
};
use redis::Script;

use crate::SharedRedis;

/// The window is a minute, plus this margin: a call admitted by Redis reaches the provider a
/// little later, and calls are not equally delayed, so the provider's own count of any 60 s
/// could otherwise include one call more than the limit.
pub const WINDOW_MARGIN: Duration = Duration::from_millis(500);

/// KEYS: log zset, counter. ARGV: window ms, rpm (0 = none), tpm (0 = none), tokens.
/// A sliding-window log: every admitted call is one member `n:tokens` scored by its time.
/// Returns {1, 0} when admitted, {0, wait ms} otherwise.
static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local log = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local count = #log / 2
local wait = 0
if rpm > 0 and count >= rpm then
  local s = tonumber(log[(count - rpm) * 2 + 2])
  wait = s + window - now + 1
end
if tpm > 0 then
  local used = 0
  for i = 1, #log, 2 do
    used = used + tonumber(string.match(log[i], ':(%d+)$') or '0')
  end
  if used + tokens > tpm then
    local freed = 0
    for i = 1, #log, 2 do
      freed = freed + tonumber(string.match(log[i], ':(%d+)$') or '0')
      if used - freed + tokens <= tpm then
        local w = tonumber(log[i + 1]) + window - now + 1
        if w > wait then wait = w end
        break
      end
    end
  end
end
if wait > 0 then return {0, wait} end
local n = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], now, n .. ':' .. tokens)
redis.call('PEXPIRE', KEYS[1], window * 2)
return {1, 0}
",
    )
});

/// Per-minute limits of one provider, shared through Redis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests in any minute.
    pub requests_per_minute: Option<u32>,
    /// Estimated tokens (prompt estimate + `max_tokens`) in any minute.
    pub tokens_per_minute: Option<u64>,
}

/// A [`ChatProvider`] decorator: before each call it takes a request and the call's
/// estimated tokens from the provider's shared window in Redis (an atomic script over a
/// sliding-window log, exact: no minute ever holds more than the limit), and waits while
/// the window is full. When Redis is unavailable no call is sent: it waits or fails per
/// [`crate::OnUnavailable`].
pub struct SharedRateLimit {
    inner: Arc<dyn ChatProvider>,
    redis: SharedRedis,
    keys: Vec<String>,
    limits: Limits,
}

impl std::fmt::Debug for SharedRateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRateLimit")
            .field("provider", &self.inner.name())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl SharedRateLimit {
    /// Limits calls to `inner` (counted under the key `name`, usually the provider's name).
    #[must_use]
    pub fn new(
        inner: Arc<dyn ChatProvider>,
        redis: SharedRedis,
        name: &str,
        limits: Limits,
    ) -> Self {
        let keys = vec![
            redis.key(&["limit", name, "log"]),
            redis.key(&["limit", name, "seq"]),
        ];
        Self {
            inner,
            redis,
            keys,
            limits,
        }
    }

    /// The tokens a request is counted for: the prompt's estimate plus `max_tokens`.
    #[must_use]
    pub fn tokens_of(request: &ChatRequest) -> u64 {
        request
            .messages
            .iter()
            .map(|m| estimate_tokens(&m.content))
            .sum::<u64>()
            .saturating_add(u64::from(request.max_tokens.unwrap_or(0)))
    }

    async fn admit(&self, request: &ChatRequest) -> Result<(), ProviderError> {
        let tokens = Self::tokens_of(request);
        if let Some(tpm) = self.limits.tokens_per_minute
            && tokens > tpm
        {
            return Err(ProviderError::new(
                ProviderErrorKind::BadRequest,
                format!(
                    "a call counted as {tokens} tokens can never fit the shared limit of {tpm} tokens per minute of provider \"{}\"",
                    self.inner.name()
                ),
            ));
        }
        let window = Duration::from_secs(60) + WINDOW_MARGIN;
        let args = vec![
            window.as_millis().to_string(),
            self.limits.requests_per_minute.unwrap_or(0).to_string(),
            self.limits.tokens_per_minute.unwrap_or(0).to_string(),
            tokens.to_string(),
        ];
        loop {
            let v = self
                .redis
                .eval(&ADMIT, &self.keys, &args)
                .await
                .map_err(|e| ProviderError::new(ProviderErrorKind::BadRequest, e.0))?;
            if v.first() == Some(&1) {
                return Ok(());
            }
            let wait = u64::try_from(v.get(1).copied().unwrap_or(1)).unwrap_or(1);
            tracing::debug!(
                provider = self.inner.name(),
                wait_ms = wait,
                "shared rate limit: waiting"
            );
            tokio::time::sleep(Duration::from_millis(wait.clamp(1, 60_000))).await;
        }
    }
}

impl ChatProvider for SharedRateLimit {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            self.admit(request).await?;
            self.inner.chat(request).await
        })
    }
}
