//! # dagent-executor
//!
//! The scheduler: runs any [`TaskRunner`](dagent_core::TaskRunner) in dependency order under
//! concurrency, rate, timeout, retry and failure policies. It knows nothing of HTTP or LLMs.
//!
//! This crate is a documented skeleton until the executor lands; its place in the workspace
//! (and its single dependency, `dagent-core`) is fixed now so that the dependency direction
//! of the design is visible from the start.
#![deny(missing_docs)]
