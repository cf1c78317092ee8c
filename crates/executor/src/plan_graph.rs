//! What the scheduler needs from the graph: dependents, levels, and priorities.

use std::fmt;

use dagent_core::{DependencyMap, Plan};

/// The dependency structure of a plan in the scheduler's terms: for each task its
/// dependencies (plan order), its dependents, its level and its priority (the weight of the
/// longest path from it to the end, by estimate — or task count when the plan has none).
#[derive(Clone, Debug)]
pub struct PlanGraph {
    pub(crate) deps: DependencyMap,
    pub(crate) dependents: Vec<Vec<u32>>,
    pub(crate) level: Vec<u32>,
    pub(crate) priority: Vec<u64>,
}

/// The map does not describe an acyclic graph over the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanGraphError(String);

impl fmt::Display for PlanGraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanGraphError {}

impl PlanGraph {
    /// Builds the scheduler's view, weighting tasks by estimate (missing estimates count as
    /// the median of the given ones) or by count when no task has an estimate.
    ///
    /// # Errors
    /// If the map's size differs from the plan's, a position is out of range, or there is a
    /// cycle (validate plans with `dagent-analyzers` first for errors that name tasks).
    pub fn new(plan: &Plan, deps: DependencyMap) -> Result<Self, PlanGraphError> {
        let n = plan.tasks.len();
        if deps.len() != n {
            return Err(PlanGraphError(format!(
                "dependency map has {} entries for {n} tasks",
                deps.len()
            )));
        }
        let mut dependents: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut indegree = vec![0u32; n];
        for (t, list) in deps.iter() {
            for &d in list {
                if d >= n || d == t {
                    return Err(PlanGraphError(format!(
                        "task {t} has an invalid dependency {d}"
                    )));
                }
                dependents[d]
                    .push(u32::try_from(t).map_err(|_| PlanGraphError("plan too large".into()))?);
                indegree[t] += 1;
            }
        }
        let mut order: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut level = vec![0u32; n];
        let mut head = 0;
        while head < order.len() {
            let v = order[head];
            head += 1;
            for &w in &dependents[v] {
                let w = w as usize;
                level[w] = level[w].max(level[v] + 1);
                indegree[w] -= 1;
                if indegree[w] == 0 {
                    order.push(w);
                }
            }
        }
        if order.len() != n {
            return Err(PlanGraphError(
                "the dependencies contain a cycle".to_owned(),
            ));
        }
        let weights = plan.weights().values;
        let mut priority = vec![0u64; n];
        for &v in order.iter().rev() {
            let tail = dependents[v]
                .iter()
                .map(|&w| priority[w as usize])
                .max()
                .unwrap_or(0);
            priority[v] = weights[v].saturating_add(tail);
        }
        Ok(Self {
            deps,
            dependents,
            level,
            priority,
        })
    }

    /// Number of tasks.
    #[must_use]
    pub fn len(&self) -> usize {
        self.level.len()
    }

    /// Whether there are no tasks.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.level.is_empty()
    }

    /// Direct dependencies of a task, plan order.
    #[must_use]
    pub fn deps_of(&self, task: usize) -> &[usize] {
        self.deps.deps_of(task)
    }

    /// Level (batch) of a task.
    #[must_use]
    pub fn level_of(&self, task: usize) -> usize {
        self.level[task] as usize
    }

    /// The longest remaining path from a task (its scheduling priority).
    #[must_use]
    pub fn priority_of(&self, task: usize) -> u64 {
        self.priority[task]
    }
}
