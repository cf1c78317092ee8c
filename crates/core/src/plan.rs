//! Plans: an ordered list of tasks.

use std::time::Duration;

use crate::{LoopSpec, Task, TaskId};

/// An ordered list of tasks, as a planner produced it. Plan order matters: it breaks ties
/// in scheduling and fixes the order in which a task sees its dependencies' outputs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Plan {
    /// The plan's title, if it has one.
    pub title: Option<String>,
    /// The tasks, in plan order.
    pub tasks: Vec<Task>,
    /// Groups of tasks that repeat until their judges approve (`[[loops]]`); empty for most
    /// plans. Checked against the graph by `dagent-graph`'s `LoopSet`.
    pub loops: Vec<LoopSpec>,
}

impl Plan {
    /// A plan of the given tasks, untitled.
    #[must_use]
    pub fn new(tasks: Vec<Task>) -> Self {
        Self {
            title: None,
            tasks,
            loops: Vec::new(),
        }
    }

    /// Number of tasks.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the plan has no tasks.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Whether any task declares its dependencies (the `explicit` strategy applies).
    #[must_use]
    pub fn has_explicit_dependencies(&self) -> bool {
        self.tasks.iter().any(|t| t.depends_on.is_some())
    }

    /// Each task's weight for critical paths and scheduling priority: its estimate in
    /// microseconds (at least 1), with tasks lacking one counted at the median of the given
    /// estimates; or 1 per task when no task has an estimate.
    #[must_use]
    pub fn weights(&self) -> Weights {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        let mut given: Vec<u64> = self
            .tasks
            .iter()
            .filter_map(Task::estimated_duration)
            .map(micros)
            .collect();
        if given.is_empty() {
            return Weights {
                values: vec![1; self.tasks.len()],
                by_estimate: false,
                assumed: None,
                missing: self.tasks.len(),
            };
        }
        given.sort_unstable();
        let median = given[given.len() / 2];
        let missing = self.tasks.len() - given.len();
        Weights {
            values: self
                .tasks
                .iter()
                .map(|t| t.estimated_duration().map_or(median, micros))
                .collect(),
            by_estimate: true,
            assumed: (missing > 0).then(|| Duration::from_micros(median)),
            missing,
        }
    }

    /// Position of the task with this id (linear scan; build an index for repeated use).
    #[must_use]
    pub fn position(&self, id: &TaskId) -> Option<usize> {
        self.tasks.iter().position(|t| &t.id == id)
    }
}

/// Task weights, from [`Plan::weights`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weights {
    /// One weight per task, plan order.
    pub values: Vec<u64>,
    /// Microseconds of estimates (`true`) or task counts (`false`).
    pub by_estimate: bool,
    /// The duration assumed for tasks without an estimate, when some lacked one.
    pub assumed: Option<Duration>,
    /// Tasks without an estimate.
    pub missing: usize,
}
