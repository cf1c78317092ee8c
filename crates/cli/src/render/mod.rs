//! Renderers of an analysis: text for people, JSON for tools, DOT and Mermaid for diagrams.
//!
//! Text, DOT and Mermaid output shows plan strings through `dagent_core::display` (control
//! characters and bidirectional overrides visibly escaped); JSON keeps them exact.

mod explain;
mod graph;
mod json;
mod report;
mod safe_json;
mod text;

use std::time::Duration;

use dagent_adapters::LoadedPlan;
use dagent_analyzers::{Analysis, Resolution};
use dagent_core::display::escape;
use dagent_core::format_duration;

pub(crate) use explain::{Explanation, explain};
pub(crate) use graph::{dot, mermaid};
pub(crate) use json::json;
pub(crate) use report::{RunView, run_json, run_text};
pub(crate) use safe_json::to_json;
pub(crate) use text::text;

/// Everything a renderer needs.
pub(crate) struct View<'a> {
    pub(crate) loaded: &'a LoadedPlan,
    pub(crate) resolution: &'a Resolution,
    pub(crate) analysis: &'a Analysis,
    pub(crate) k: usize,
    /// What asking a model for the graph cost (calls, tokens, money), when it did.
    pub(crate) analysis_cost: Option<dagent_providers::Totals>,
    /// With `--explain`: why each dependency is there.
    pub(crate) explanation: Option<Explanation>,
    /// With a configuration: the projected tokens and cost at the configured tier and at
    /// every tier.
    pub(crate) projection: Option<Projected>,
}

/// The projected cost of a plan (see `dagent_providers::project`).
pub(crate) struct Projected {
    /// At the configured tier.
    pub(crate) configured: dagent_providers::Projection,
    /// At budget, balanced and premium, in that order.
    pub(crate) tiers: Vec<dagent_providers::Projection>,
}

impl Projected {
    /// What tier `t` saves against the most expensive tier's expected cost: the amount, and
    /// the percent of the dearest (0 when every tier costs nothing).
    pub(crate) fn saving(&self, t: &dagent_providers::Projection) -> (dagent_core::Money, f64) {
        let dearest = self
            .tiers
            .iter()
            .map(|p| p.expected_cost)
            .max()
            .unwrap_or(dagent_core::Money::ZERO);
        let saving = dearest.saturating_sub(t.expected_cost);
        #[allow(clippy::cast_precision_loss)]
        let percent = if dearest.nanos() == 0 {
            0.0
        } else {
            saving.nanos() as f64 * 100.0 / dearest.nanos() as f64
        };
        (saving, percent)
    }
}

impl View<'_> {
    /// A weight for people: a duration under estimates, a task count otherwise.
    pub(crate) fn weight(&self, w: u64) -> String {
        if self.analysis.weights.by_estimate {
            format_duration(Duration::from_micros(w))
        } else if w == 1 {
            "1 task".to_owned()
        } else {
            format!("{w} tasks")
        }
    }

    /// Task `i`'s id, exact (for JSON).
    pub(crate) fn id(&self, i: usize) -> &str {
        self.loaded.plan.tasks[i].id.as_str()
    }

    /// Task `i`'s id for a terminal (escaped).
    pub(crate) fn shown_id(&self, i: usize) -> std::borrow::Cow<'_, str> {
        escape(self.id(i))
    }
}
