//! # dagent-shared
//!
//! Limits and budgets shared by several dagent processes (a CI farm, a service with many
//! users, several machines) through one Redis server:
//!
//! * [`SharedRateLimit`] — a `ChatProvider` decorator: requests and tokens per minute of a
//!   provider, counted in Redis by an atomic Lua script over a sliding-window log, so that
//!   N processes together never exceed the provider's limit in any minute;
//! * [`SharedLedger`] — the budget's reserve-then-settle ledger in Redis, a `CostTracker`
//!   with the same guard semantics as the in-process ledger (settled or released once,
//!   released on drop; settle charges the larger of dagent's and the provider's figure;
//!   reservations expire unless their process renews them).
//!
//! The design choice to know: **no paid call runs unmetered**. Redis is asked before every
//! call; when it cannot be reached, calls wait or are refused ([`OnUnavailable`]), and
//! what already happened (settlements, releases) is queued and retried. All Redis I/O runs
//! on one background thread ([`SharedRedis`]), so callers on any runtime share one
//! connection. The URL's password never appears in an error, a log or `Debug`
//! ([`RedisUrl`]).
#![deny(missing_docs)]

mod client;
mod ledger;
mod limit;
mod url;

pub use client::{OnUnavailable, SharedConfig, SharedRedis, Unavailable};
pub use ledger::{SharedLedger, SharedTotals};
pub use limit::{Limits, SharedRateLimit, WINDOW_MARGIN};
pub use url::RedisUrl;
