//! Analysis of a validated graph: levels, critical path, width, work and speed-up.

use std::time::Duration;

use dagent_core::Plan;

use crate::TaskGraph;

/// How tasks are weighed for the critical path and speed-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weighting {
    /// By estimated duration; `assumed` is used for tasks without an estimate (the median
    /// of the given ones), when some lack one.
    Estimates {
        /// Duration assumed for tasks without an estimate, if any lack one.
        assumed: Option<Duration>,
        /// How many tasks lacked an estimate.
        missing: usize,
    },
    /// By task count (no task has an estimate): every task weighs 1.
    Count,
}

/// The heaviest chain of dependent tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CriticalPath {
    /// Task positions, first to last.
    pub tasks: Vec<usize>,
    /// Total weight: microseconds under [`Weighting::Estimates`], tasks under [`Weighting::Count`].
    pub length: u64,
}

/// Everything `dagent analyze` reports about a plan's graph.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// The batches of a level-barrier schedule.
    pub levels: Vec<Vec<usize>>,
    /// The critical path.
    pub critical_path: CriticalPath,
    /// Largest level.
    pub width: usize,
    /// Sum of all weights (same unit as the critical path).
    pub total_work: u64,
    /// How weights were chosen.
    pub weighting: Weighting,
    /// Per-task weight used.
    pub weights: Vec<u64>,
}

impl Analysis {
    /// Analyses a validated graph of `plan`.
    #[must_use]
    pub fn new(plan: &Plan, graph: &TaskGraph) -> Self {
        let (weights, weighting) = weights_of(plan);
        let levels = graph.levels();
        let (tasks, length) = graph.longest_path(&weights);
        let width = levels.iter().map(Vec::len).max().unwrap_or(0);
        let total_work = weights.iter().fold(0u64, |a, &w| a.saturating_add(w));
        Self {
            levels,
            critical_path: CriticalPath { tasks, length },
            width,
            total_work,
            weighting,
            weights,
        }
    }

    /// Sequential time ÷ critical path: the speed-up with unlimited concurrency.
    #[must_use]
    pub fn speedup_unbounded(&self) -> f64 {
        ratio(self.total_work, self.critical_path.length)
    }

    /// The Amdahl-style bound at concurrency `k`: `work ÷ max(critical path, work ÷ k)`.
    #[must_use]
    pub fn speedup_at(&self, k: usize) -> f64 {
        let k = k.max(1) as u64;
        let lower = self.critical_path.length.max(self.total_work.div_ceil(k));
        ratio(self.total_work, lower)
    }

    /// The lower bound on makespan at concurrency `k`: `max(critical path, work ÷ k)`.
    #[must_use]
    pub fn makespan_lower_bound(&self, k: usize) -> u64 {
        self.critical_path
            .length
            .max(self.total_work.div_ceil(k.max(1) as u64))
    }

    /// A weight as a duration (under [`Weighting::Estimates`]).
    #[must_use]
    pub fn as_duration(&self, weight: u64) -> Option<Duration> {
        matches!(self.weighting, Weighting::Estimates { .. }).then(|| Duration::from_micros(weight))
    }
}

#[allow(clippy::cast_precision_loss)]
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn weights_of(plan: &Plan) -> (Vec<u64>, Weighting) {
    let w = plan.weights();
    let weighting = if w.by_estimate {
        Weighting::Estimates {
            assumed: w.assumed,
            missing: w.missing,
        }
    } else {
        Weighting::Count
    };
    (w.values, weighting)
}
