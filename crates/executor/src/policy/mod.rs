//! The scheduler's policies, each a small unit with its own tests, composed by the run loop
//! (`wake → admit → poll → apply`):
//!
//! * [`concurrency`] — the global slot count and per-runner-key limits;
//! * [`rate`] — tasks launched per second (governor, on tokio's clock so paused-clock tests
//!   are exact; any positive finite rate);
//! * [`barrier`] — level barriers and the batch timeout (batched mode);
//! * [`timeout`] — per-attempt time limits;
//! * [`panic`](mod@panic) — a panicking runner fails its attempt instead of the run;
//! * [`retry`] — the configured delays with jitter, retry-after hints, the maximum delay;
//! * [`breaker`] — the circuit breaker over finished tasks;
//! * [`failure`] — the failure mode (skip dependents, partial completion, fail fast);
//! * [`outcome`] — the one map from an attempt's result to succeed / retry / fail / stop,
//!   built from the three above;
//! * [`clock`] — saturating time arithmetic, so no duration can overflow an `Instant`.

pub mod barrier;
pub mod breaker;
pub mod clock;
pub mod concurrency;
pub mod failure;
pub mod outcome;
pub mod panic;
pub mod rate;
pub mod retry;
pub mod timeout;
