//! Classifying provider failures for the executor.

use std::time::{Duration, SystemTime};

use dagent_core::{ProviderError, ProviderErrorKind};

/// Parses a `Retry-After` value: delta-seconds (`"120"`, `"1.5"`) or an HTTP date
/// (`"Wed, 21 Oct 2026 07:28:00 GMT"`), relative to `now`.
#[must_use]
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
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

pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 400;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX).collect();
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
    ProviderError::new(kind, shorten(&msg))
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
