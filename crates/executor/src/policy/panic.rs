//! Panic catching: a runner that panics inside an attempt fails that attempt with a
//! permanent error instead of taking the run down or losing the task.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use dagent_core::{TaskError, TaskOutput};

/// Wraps an attempt's future; a panic while polling it becomes
/// `Err(permanent("the task runner panicked: …"))`.
#[derive(Debug)]
pub struct CatchPanic<F>(pub F);

impl<F: Future<Output = Result<TaskOutput, TaskError>> + Unpin> Future for CatchPanic<F> {
    type Output = Result<TaskOutput, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = Pin::new(&mut self.0);
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(ToString::to_string)
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                Poll::Ready(Err(TaskError::permanent(format!(
                    "the task runner panicked: {msg}"
                ))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use dagent_core::TaskErrorKind;

    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_a_permanent_error_naming_it() {
        let boom = CatchPanic(Box::pin(async {
            let n: Option<u8> = None;
            #[allow(clippy::unnecessary_literal_unwrap)]
            Ok(TaskOutput::text(format!("{}", n.expect("boom"))))
        }));
        let err = boom.await.expect_err("caught");
        assert_eq!(err.kind(), TaskErrorKind::Permanent);
        assert_eq!(err.message(), "the task runner panicked: boom");
        let formatted = CatchPanic(Box::pin(async {
            let who = "runner";
            if !who.is_empty() {
                std::panic::panic_any(format!("{who} broke"));
            }
            Ok(TaskOutput::text(who))
        }));
        assert!(
            formatted
                .await
                .expect_err("caught")
                .message()
                .ends_with("runner broke")
        );
    }

    #[tokio::test]
    async fn a_normal_attempt_passes_through() {
        let ok = CatchPanic(Box::pin(async { Ok(TaskOutput::text("fine")) }));
        assert_eq!(ok.await.expect("ok").text, "fine");
    }
}
