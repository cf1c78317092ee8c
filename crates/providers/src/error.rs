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
