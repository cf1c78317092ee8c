//! The dependency map: which tasks each task needs, by position in the plan.

/// For each task (by its position in the plan), the positions of the tasks it directly
/// depends on, kept sorted in plan order and without duplicates.
///
/// Positions rather than ids keep the map compact (100,000-task plans) and make plan order —
/// the order in which a task receives its dependencies' outputs — the natural order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DependencyMap {
    deps: Vec<Vec<usize>>,
}

impl DependencyMap {
    /// A map of `len` tasks with no dependencies.
    #[must_use]
    pub fn new(len: usize) -> Self {
        Self {
            deps: vec![Vec::new(); len],
        }
    }

    /// Builds a map from per-task dependency lists (sorted and deduplicated here).
    #[must_use]
    pub fn from_lists(mut deps: Vec<Vec<usize>>) -> Self {
        for list in &mut deps {
            list.sort_unstable();
            list.dedup();
        }
        Self { deps }
    }

    /// Number of tasks covered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.deps.len()
    }

    /// Whether the map covers no task.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.deps.is_empty()
    }

    /// Records that `task` depends on `dep` (no-op if already recorded).
    ///
    /// # Panics
    /// If `task` is out of range.
    pub fn add(&mut self, task: usize, dep: usize) {
        let list = &mut self.deps[task];
        if let Err(at) = list.binary_search(&dep) {
            list.insert(at, dep);
        }
    }

    /// Replaces the dependencies of `task`.
    ///
    /// # Panics
    /// If `task` is out of range.
    pub fn set(&mut self, task: usize, mut deps: Vec<usize>) {
        deps.sort_unstable();
        deps.dedup();
        self.deps[task] = deps;
    }

    /// The direct dependencies of `task`, in plan order (empty when out of range).
    #[must_use]
    pub fn deps_of(&self, task: usize) -> &[usize] {
        self.deps.get(task).map_or(&[], Vec::as_slice)
    }

    /// Total number of edges.
    #[must_use]
    pub fn edge_count(&self) -> usize {
        self.deps.iter().map(Vec::len).sum()
    }

    /// Iterates `(task, deps)` pairs in plan order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &[usize])> {
        self.deps.iter().enumerate().map(|(i, d)| (i, d.as_slice()))
    }
}
