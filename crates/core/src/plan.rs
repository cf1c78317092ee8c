//! Plans: an ordered list of tasks.

use crate::{Task, TaskId};

/// An ordered list of tasks, as a planner produced it. Plan order matters: it breaks ties
/// in scheduling and fixes the order in which a task sees its dependencies' outputs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Plan {
    /// The plan's title, if it has one.
    pub title: Option<String>,
    /// The tasks, in plan order.
    pub tasks: Vec<Task>,
}

impl Plan {
    /// A plan of the given tasks, untitled.
    #[must_use]
    pub fn new(tasks: Vec<Task>) -> Self {
        Self { title: None, tasks }
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

    /// Position of the task with this id (linear scan; build an index for repeated use).
    #[must_use]
    pub fn position(&self, id: &TaskId) -> Option<usize> {
        self.tasks.iter().position(|t| &t.id == id)
    }
}
