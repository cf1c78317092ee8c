//! Analysis of a validated graph: levels, critical path, width, work and speed-up.

use std::time::Duration;

use dagent_core::{Plan, Weights};

use crate::TaskGraph;

/// The heaviest chain of dependent tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CriticalPath {
    /// Task positions, first to last.
    pub tasks: Vec<usize>,
    /// Total weight: microseconds when weighed by estimate, tasks otherwise.
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
    /// Per-task weights and how they were chosen ([`Plan::weights`]).
    pub weights: Weights,
}

impl Analysis {
    /// Analyses a validated graph of `plan`.
    #[must_use]
    pub fn new(plan: &Plan, graph: &TaskGraph) -> Self {
        let weights = plan.weights();
        let levels = graph.levels();
        let (tasks, length) = graph.longest_path(&weights.values);
        let width = levels.iter().map(Vec::len).max().unwrap_or(0);
        let total_work = weights
            .values
            .iter()
            .fold(0u64, |a, &w| a.saturating_add(w));
        Self {
            levels,
            critical_path: CriticalPath { tasks, length },
            width,
            total_work,
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

    /// A weight as a duration (when weighed by estimate).
    #[must_use]
    pub fn as_duration(&self, weight: u64) -> Option<Duration> {
        self.weights
            .by_estimate
            .then(|| Duration::from_micros(weight))
    }
}

#[allow(clippy::cast_precision_loss)]
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}
