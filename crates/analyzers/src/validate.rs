//! Plan-level validation: ids and explicit dependency references.

use std::collections::HashMap;

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
                        "duplicate task id \"{}\": tasks #{} and #{} both use it; ids must be unique",
                        t.id,
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
                        .map(|s| format!(" (did you mean \"{s}\"?)"))
                        .unwrap_or_default();
                    return Err(GraphError::new(
                        GraphErrorKind::UnknownDependency {
                            task: i,
                            entry,
                            dependency: dep.clone(),
                            suggestion,
                        },
                        format!(
                            "task \"{}\" depends on \"{dep}\", but no task has that id{hint}",
                            t.id
                        ),
                    ));
                };
                if pos == i {
                    return Err(GraphError::new(
                        GraphErrorKind::SelfDependency {
                            task: i,
                            entry: Some(entry),
                        },
                        format!("task \"{}\" depends on itself", t.id),
                    ));
                }
                list.push(pos);
            }
            lists.push(list);
        }
        Ok(DependencyMap::from_lists(lists))
    }
}

fn closest<'a>(target: &str, ids: impl Iterator<Item = &'a TaskId>) -> Option<TaskId> {
    let limit = (target.chars().count() / 3).max(1);
    ids.map(|id| (edit_distance(target, id.as_str()), id))
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, id)| id.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
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
