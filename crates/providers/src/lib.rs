//! # dagent-providers
//!
//! LLM provider clients (OpenAI-compatible, Ollama), model routing, the pricing catalogue,
//! cost tracking with budgets, and the LLM task runner — all behind the ports of
//! `dagent-core`.
//!
//! This crate is a documented skeleton until the providers land; it depends only on
//! `dagent-core`, as the design requires.
#![deny(missing_docs)]
