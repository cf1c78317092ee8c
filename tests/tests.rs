//! dagent's integration tests: one binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod analyze_cli;
mod core_ports;
mod corpus;
mod e2e;
mod executor;
mod formats;
mod hostile;
mod llm_analyzer;
mod loops;
mod model_select;
mod models_cli;
mod observability;
mod planner;
mod properties;
mod providers;
mod run_cli;
mod scale;
mod shared_limits;
mod store;
mod store_cli;
mod support;
mod tidy;
