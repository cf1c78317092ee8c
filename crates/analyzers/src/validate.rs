//! Plan-level validation: ids and explicit dependency references.

use std::collections::HashMap;

use dagent_core::display::quote;
use dagent_core::{DependencyMap, Plan, TaskId};

use crate::{GraphError, GraphErrorKind, TaskGraph};

/// Id → position lookup for a validated plan.
#[derive(Clone, Debug, Default)]
pub struct PlanIndex {
    by_id: HashMap<TaskId, usize>,
}

impl PlanIndex {
    /// Position of the task with this id.
    #[must_use]
    pub fn position(&self, id: &TaskId) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Number of tasks.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Builds an index, reporting empty and duplicate ids.
    ///
    /// # Errors
    /// [`GraphErrorKind::Empty`], [`GraphErrorKind::EmptyId`] or [`GraphErrorKind::DuplicateId`].
    pub fn build(plan: &Plan) -> Result<Self, GraphError> {
        if plan.tasks.is_empty() {
            return Err(GraphError::new(
                GraphErrorKind::Empty,
                "the plan has no tasks".to_owned(),
            ));
        }
        let mut by_id = HashMap::with_capacity(plan.tasks.len());
        for (i, t) in plan.tasks.iter().enumerate() {
            if t.id.as_str().trim().is_empty() {
                return Err(GraphError::new(
                    GraphErrorKind::EmptyId { task: i },
                    format!("task #{} has an empty id", i + 1),
                ));
            }
            if let Some(&first) = by_id.get(&t.id) {
                return Err(GraphError::new(
                    GraphErrorKind::DuplicateId {
                        id: t.id.clone(),
                        first,
                        second: i,
                    },
                    format!(
                        "duplicate task id {}: tasks #{} and #{} both use it; ids must be unique",
                        quote(t.id.as_str()),
                        first + 1,
                        i + 1
                    ),
                ));
            }
            by_id.insert(t.id.clone(), i);
        }
        Ok(Self { by_id })
    }

    /// The plan's declared dependencies as a map (tasks without `depends_on` have none).
    ///
    /// # Errors
    /// [`GraphErrorKind::UnknownDependency`] or [`GraphErrorKind::SelfDependency`].
    pub fn explicit_map(&self, plan: &Plan) -> Result<DependencyMap, GraphError> {
        let mut lists = Vec::with_capacity(plan.tasks.len());
        for (i, t) in plan.tasks.iter().enumerate() {
            let declared = t.depends_on.as_deref().unwrap_or(&[]);
            let mut list = Vec::with_capacity(declared.len());
            for (entry, dep) in declared.iter().enumerate() {
                let Some(pos) = self.position(dep) else {
                    let suggestion = closest(dep.as_str(), self.by_id.keys());
                    let hint = suggestion
                        .as_ref()
                        .map(|s| format!(" (did you mean {}?)", quote(s.as_str())))
                        .unwrap_or_default();
                    return Err(GraphError::new(
                        GraphErrorKind::UnknownDependency {
                            task: i,
                            entry,
                            dependency: dep.clone(),
                            suggestion,
                        },
                        format!(
                            "task {} depends on {}, but no task has that id{hint}",
                            quote(t.id.as_str()),
                            quote(dep.as_str())
                        ),
                    ));
                };
                if pos == i {
                    return Err(GraphError::new(
                        GraphErrorKind::SelfDependency {
                            task: i,
                            entry: Some(entry),
                        },
                        format!("task {} depends on itself", quote(t.id.as_str())),
                    ));
                }
                list.push(pos);
            }
            lists.push(list);
        }
        Ok(DependencyMap::from_lists(lists))
    }
}

/// Ids longer than this get no "did you mean": a typo in a 100-character id is not what
/// happened, and the bound keeps the suggestion cheap on any input.
const MAX_SUGGESTED_LEN: usize = 64;

/// The closest id within an edit distance of a third of the target's length.
///
/// Bounded whatever the input: targets over [`MAX_SUGGESTED_LEN`] characters are not compared,
/// and candidates whose length differs by more than the allowed distance are skipped before
/// any distance is computed, so each comparison costs at most 64 × 85 steps.
fn closest<'a>(target: &str, ids: impl Iterator<Item = &'a TaskId>) -> Option<TaskId> {
    let len = target.chars().take(MAX_SUGGESTED_LEN + 1).count();
    if len > MAX_SUGGESTED_LEN {
        return None;
    }
    let limit = (len / 3).max(1);
    ids.filter(|id| {
        let n = id.as_str().chars().take(len + limit + 1).count();
        n.abs_diff(len) <= limit
    })
    .map(|id| (strsim::levenshtein(target, id.as_str()), id))
    .filter(|(d, _)| *d <= limit)
    .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
    .map(|(_, id)| id.clone())
}

/// Validates a plan: ids non-empty and unique; when the plan declares dependencies, every
/// reference known, none to itself, and no cycle. Returns the id index.
///
/// # Errors
/// A [`GraphError`] naming the offending tasks (a cycle lists its tasks in order).
pub fn validate_plan(plan: &Plan) -> Result<PlanIndex, GraphError> {
    let index = PlanIndex::build(plan)?;
    if plan.has_explicit_dependencies() {
        let map = index.explicit_map(plan)?;
        TaskGraph::new(plan, map)?;
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<TaskId> {
        list.iter().map(|s| TaskId::new(*s)).collect()
    }

    #[test]
    fn suggests_close_ids_only() {
        let known = ids(&["tokyo", "paris", "report"]);
        assert_eq!(closest("tokio", known.iter()), Some(TaskId::new("tokyo")));
        assert_eq!(closest("reprot", known.iter()), Some(TaskId::new("report")));
        assert_eq!(closest("berlin", known.iter()), None);
    }

    #[test]
    fn huge_ids_get_no_suggestion() {
        let long = "a".repeat(MAX_SUGGESTED_LEN + 1);
        let known = ids(&[&long[1..], "a"]);
        assert_eq!(closest(&long, known.iter()), None);
        let near = "a".repeat(MAX_SUGGESTED_LEN);
        let known = ids(&[&"a".repeat(1_000_000), &near[1..]]);
        assert_eq!(closest(&near, known.iter()), Some(TaskId::new(&near[1..])));
    }
}
