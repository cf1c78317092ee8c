//! Classifying provider failures for the executor.

use std::time::{Duration, SystemTime};

use dagent_core::{ProviderError, ProviderErrorKind};

use crate::secret::{scrub_fragments, scrub_owned, scrub_secrets};

/// The longest `Retry-After` kept: 100 years. Any longer request (`1e300`, a date in the
/// year 9999) is clamped to it, so no caller adding it to a clock can overflow; it is far
/// beyond any sensible maximum retry delay, so the attempt still fails as rate-limited.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Parses a `Retry-After` value: delta-seconds (`"120"`, `"1.5"`) or an HTTP date
/// (`"Wed, 21 Oct 2026 07:28:00 GMT"`), relative to `now`. The server's request is kept as
/// asked (the executor compares it with its maximum retry delay), clamped to
/// [`MAX_RETRY_AFTER`]; a date in the past is zero; negative, infinite or non-numeric
/// values are `None`. Never panics.
#[must_use]
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        return Some(
            Duration::try_from_secs_f64(secs).map_or(MAX_RETRY_AFTER, |d| d.min(MAX_RETRY_AFTER)),
        );
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// Parses an `X-RateLimit-Reset` value into the time to wait from `now`. Providers write it
/// in several forms, all accepted: a Unix epoch in milliseconds (OpenRouter:
/// `1735689600000`) or in seconds (`1735689600`), a number of seconds to wait (`20`,
/// `0.5`), or a Go-style duration (OpenAI: `1s`, `6m0s`, `1h2m3.5s`, `250ms`). Clamped to
/// [`MAX_RETRY_AFTER`]; a time in the past is zero; anything else is `None`. Never panics.
#[must_use]
pub fn parse_rate_limit_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(x) = v.parse::<f64>() {
        if !x.is_finite() || x < 0.0 {
            return None;
        }
        let since_epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        // An epoch in ms is > 1e12 today; in seconds > 1e9; a wait in seconds is smaller.
        let wait = if x >= 1e11 {
            x / 1000.0 - since_epoch
        } else if x >= 1e9 {
            x - since_epoch
        } else {
            x
        };
        return Some(
            Duration::try_from_secs_f64(wait.max(0.0))
                .map_or(MAX_RETRY_AFTER, |d| d.min(MAX_RETRY_AFTER)),
        );
    }
    go_duration(v).map(|d| d.min(MAX_RETRY_AFTER))
}

/// A Go `time.Duration` string (`6m0s`, `1h2m3.5s`, `250ms`, `1.5s`); `None` if it is not one.
fn go_duration(v: &str) -> Option<Duration> {
    if v.is_empty() || v.len() > 64 {
        return None;
    }
    let mut total = 0f64;
    let mut rest = v;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        let x: f64 = num.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += x * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total)
        .ok()
        .or(Some(MAX_RETRY_AFTER))
}

/// The wait a response's rate-limit headers ask for: `Retry-After` if present, else, when
/// `X-RateLimit-Remaining` (or OpenAI's `x-ratelimit-remaining-requests` /
/// `-tokens`) is zero, the matching `X-RateLimit-Reset`. `None` when the quota is not spent.
#[must_use]
pub fn rate_limit_wait(headers: &reqwest::header::HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(d) = get("retry-after").and_then(|v| parse_retry_after(v, now)) {
        return Some(d);
    }
    let spent = |remaining: &str| {
        get(remaining)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .is_some_and(|r| r <= 0.0)
    };
    [
        ("x-ratelimit-remaining", "x-ratelimit-reset"),
        (
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        ),
        ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
    ]
    .into_iter()
    .filter(|(remaining, _)| spent(remaining))
    .filter_map(|(_, reset)| get(reset).and_then(|v| parse_rate_limit_reset(v, now)))
    .max()
}

/// Whether an error says the server is overloaded (back off): 429, 503, a timeout, or a
/// server complaining its queue is full or it is busy (Ollama's `server busy, please try
/// again` / `queue full`).
#[must_use]
pub fn is_backpressure(e: &ProviderError) -> bool {
    if matches!(
        e.kind(),
        ProviderErrorKind::RateLimited | ProviderErrorKind::Timeout
    ) || e.status() == Some(503)
    {
        return true;
    }
    let m = e.message().to_ascii_lowercase();
    e.kind() == ProviderErrorKind::Server
        && (m.contains("queue full") || m.contains("server busy") || m.contains("overloaded"))
}

/// Classifies an HTTP error status with the server's message: 429, 408 and 5xx are
/// transient; 401/403 auth, 404 not found, context-length complaints and other 4xx are
/// permanent.
#[must_use]
pub fn classify_status(status: u16, message: &str, retry_after: Option<Duration>) -> ProviderError {
    let lower = message.to_ascii_lowercase();
    let kind = match status {
        429 => ProviderErrorKind::RateLimited,
        408 => ProviderErrorKind::Timeout,
        500..=599 => ProviderErrorKind::Server,
        401 | 403 => ProviderErrorKind::Auth,
        404 => ProviderErrorKind::NotFound,
        413 => ProviderErrorKind::ContextLength,
        _ if is_context_length(&lower) => ProviderErrorKind::ContextLength,
        _ => ProviderErrorKind::BadRequest,
    };
    let hint = match kind {
        ProviderErrorKind::Auth => " (check the API key variable named in dagent.toml)",
        ProviderErrorKind::NotFound => " (check the model id and the base URL)",
        _ => "",
    };
    let message = scrub_secrets(message);
    ProviderError::new(kind, format!("{message}{hint}"))
        .with_status(status)
        .with_retry_after(retry_after)
}

fn is_context_length(lower: &str) -> bool {
    (lower.contains("context")
        && (lower.contains("length") || lower.contains("window") || lower.contains("exceed")))
        || lower.contains("too many tokens")
        || lower.contains("maximum context")
}

/// The human message in an error body: OpenAI-style `{"error": {"message": …}}`, Ollama's
/// `{"error": "…"}`, or the (shortened) text itself.
pub(crate) fn body_message(body: &str) -> String {
    let body = &*scrub_secrets(body);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let e = &v["error"];
        if let Some(m) = e["message"]
            .as_str()
            .or_else(|| e.as_str())
            .or_else(|| v["message"].as_str())
        {
            return shorten(m);
        }
    }
    let t = body.trim();
    if t.is_empty() {
        "empty response body".to_owned()
    } else {
        shorten(t)
    }
}

/// `s` scrubbed of secrets, **then** cut to 400 characters (a key straddling the cut is
/// removed whole before the cut is made), then scrubbed of any remaining fragment of a key
/// (a key split across stream chunks, a cut through one).
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 400;
    let s = &*scrub_secrets(s);
    if s.chars().count() <= MAX {
        scrub_fragments(s)
    } else {
        let mut t: String = s.chars().take(MAX).collect();
        t = scrub_fragments(&t);
        t.push('…');
        t
    }
}

/// A transport failure (no HTTP status).
pub(crate) fn transport(e: &reqwest::Error, what: &str) -> ProviderError {
    let kind = if e.is_timeout() {
        ProviderErrorKind::Timeout
    } else if e.is_decode() || e.is_body() {
        ProviderErrorKind::InvalidResponse
    } else {
        ProviderErrorKind::Connection
    };
    // reqwest's Display includes the URL (never the key, which travels in a header).
    let mut msg = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    ProviderError::new(kind, shorten(&scrub_owned(msg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_both_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_never_overflows_or_panics() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        for v in [
            "1e300",
            "1e20",
            "18446744073709551616",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(parse_retry_after(v, now), Some(MAX_RETRY_AFTER), "{v}");
        }
        // Kept as the server asked when it is below the clamp (2037 is ~10.2 years away).
        let far = parse_retry_after("Wed, 21 Oct 2037 07:28:00 GMT", now).unwrap();
        assert_eq!(far.as_secs(), 4018 * 86_400);
        for v in [
            "inf",
            "-inf",
            "NaN",
            "-5",
            "-0.5",
            "",
            "Thu, 01 Jan 1970 00:00:00 GMT",
        ] {
            let got = parse_retry_after(v, now);
            assert!(got.is_none() || got == Some(Duration::ZERO), "{v}: {got:?}");
        }
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past"
        );
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        // Whatever comes out can be added to a clock.
        let _ = std::time::Instant::now() + MAX_RETRY_AFTER;
        let _ = tokio::time::Instant::now() + MAX_RETRY_AFTER;
    }

    #[test]
    fn a_key_at_the_cut_is_removed_whole() {
        let key = "sk-cut-0123456789abcdefghij";
        let _k = crate::ApiKey::new(key);
        let body = format!("{}{key} trailing", "x".repeat(390));
        let short = shorten(&body);
        assert!(!short.contains(&key[..8]), "{short}");
        let msg = body_message(&format!("{{\"error\": {{\"message\": \"{body}\"}}}}"));
        assert!(!msg.contains(&key[..8]), "{msg}");
    }

    #[test]
    fn rate_limit_reset_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        let epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let s = Duration::from_secs;
        assert_eq!(
            parse_rate_limit_reset(&format!("{}", (epoch + 30) * 1000), now),
            Some(s(30)),
            "epoch ms (OpenRouter)"
        );
        assert_eq!(
            parse_rate_limit_reset(&format!("{}", epoch + 12), now),
            Some(s(12)),
            "epoch seconds"
        );
        assert_eq!(parse_rate_limit_reset("20", now), Some(s(20)));
        assert_eq!(parse_rate_limit_reset("6m0s", now), Some(s(360)), "OpenAI");
        assert_eq!(parse_rate_limit_reset("1s", now), Some(s(1)));
        assert_eq!(
            parse_rate_limit_reset("1h2m3.5s", now),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(
            parse_rate_limit_reset("250ms", now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_rate_limit_reset(&format!("{}", (epoch - 5) * 1000), now),
            Some(Duration::ZERO),
            "a reset in the past"
        );
        for bad in ["", "soon", "-3", "inf", "NaN", "5x", "m", "1e400"] {
            let got = parse_rate_limit_reset(bad, now);
            assert!(
                got.is_none() || got == Some(MAX_RETRY_AFTER),
                "{bad}: {got:?}"
            );
        }
        assert_eq!(
            parse_rate_limit_reset(&"9".repeat(300), now),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn rate_limit_wait_reads_the_headers() {
        use reqwest::header::{HeaderMap, HeaderValue};
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("3"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("20"));
        assert_eq!(rate_limit_wait(&h, now), None, "quota left");
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        assert_eq!(rate_limit_wait(&h, now), Some(Duration::from_secs(20)));
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(
            rate_limit_wait(&h, now),
            Some(Duration::from_secs(7)),
            "Retry-After wins"
        );
        let mut o = HeaderMap::new();
        o.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("0"),
        );
        o.insert(
            "x-ratelimit-reset-requests",
            HeaderValue::from_static("6m0s"),
        );
        o.insert(
            "x-ratelimit-remaining-tokens",
            HeaderValue::from_static("100"),
        );
        o.insert("x-ratelimit-reset-tokens", HeaderValue::from_static("1s"));
        assert_eq!(rate_limit_wait(&o, now), Some(Duration::from_secs(360)));
    }

    #[test]
    fn backpressure_errors() {
        assert!(is_backpressure(&classify_status(429, "slow down", None)));
        assert!(is_backpressure(&classify_status(
            503,
            "server busy, please try again.  maximum pending requests exceeded",
            None
        )));
        assert!(is_backpressure(&ProviderError::new(
            ProviderErrorKind::Timeout,
            "timed out"
        )));
        assert!(!is_backpressure(&classify_status(500, "boom", None)));
        assert!(is_backpressure(&classify_status(500, "queue full", None)));
        assert!(!is_backpressure(&classify_status(400, "bad", None)));
    }

    #[test]
    fn classes() {
        assert!(
            classify_status(429, "slow down", None)
                .kind()
                .is_transient()
        );
        assert!(
            classify_status(503, "overloaded", None)
                .kind()
                .is_transient()
        );
        assert_eq!(
            classify_status(
                400,
                "This model's maximum context length is 8192 tokens",
                None
            )
            .kind(),
            ProviderErrorKind::ContextLength
        );
        assert_eq!(
            classify_status(401, "bad key", None).kind(),
            ProviderErrorKind::Auth
        );
        assert!(
            !classify_status(404, "no such model", None)
                .kind()
                .is_transient()
        );
    }
}
