//! The scheduler's policies, each a small piece the run loop composes:
//!
//! * [`concurrency`] — the global slot count and per-runner-key limits;
//! * [`rate`] — tasks launched per second (governor, on tokio's clock so paused-clock tests
//!   are exact);
//! * [`retry`] — exponential back-off with jitter (backon), honouring retry-after hints;
//! * [`timeout`] — per-attempt time limits;
//! * [`breaker`] — the circuit breaker over finished tasks.

pub mod breaker;
pub mod concurrency;
pub mod rate;
pub mod retry;
pub mod timeout;
