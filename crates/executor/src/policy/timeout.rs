//! Per-attempt time limits.

use std::future::Future;
use std::time::Duration;

use dagent_core::{TaskError, TaskErrorKind, TaskOutput, format_duration};

/// Runs an attempt under an optional time limit; over time, it fails with a
/// [`TaskErrorKind::Timeout`] error (retryable). Any limit is accepted: tokio saturates a
/// deadline past the end of time to "never".
pub async fn with_timeout<F>(limit: Option<Duration>, attempt: F) -> Result<TaskOutput, TaskError>
where
    F: Future<Output = Result<TaskOutput, TaskError>>,
{
    match limit {
        None => attempt.await,
        Some(limit) => tokio::time::timeout(limit, attempt)
            .await
            .unwrap_or_else(|_| Err(timed_out(limit))),
    }
}

/// The error of an attempt that ran out of time.
#[must_use]
pub fn timed_out(limit: Duration) -> TaskError {
    TaskError::new(
        TaskErrorKind::Timeout,
        format!("timed out after {}", format_duration(limit)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    async fn slow(d: Duration) -> Result<TaskOutput, TaskError> {
        tokio::time::sleep(d).await;
        Ok(TaskOutput::text("done"))
    }

    #[tokio::test(start_paused = true)]
    async fn over_time_is_a_timeout_error_at_the_limit() {
        let start = tokio::time::Instant::now();
        let err = with_timeout(Some(2 * S), slow(10 * S))
            .await
            .expect_err("times out");
        assert_eq!(err.kind(), TaskErrorKind::Timeout);
        assert_eq!(err.message(), "timed out after 2s");
        assert_eq!(start.elapsed(), 2 * S);
    }

    #[tokio::test(start_paused = true)]
    async fn in_time_or_without_a_limit_the_attempt_finishes() {
        assert!(with_timeout(Some(2 * S), slow(S)).await.is_ok());
        assert!(with_timeout(None, slow(S)).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_limit_of_duration_max_does_not_panic() {
        assert!(with_timeout(Some(Duration::MAX), slow(S)).await.is_ok());
        assert_eq!(timed_out(Duration::MAX).kind(), TaskErrorKind::Timeout);
    }
}
