//! Graph errors that name the tasks involved.

use std::fmt;

use dagent_core::TaskId;

/// What is wrong with a plan's graph.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphErrorKind {
    /// The plan has no tasks.
    Empty,
    /// Task `task` has an empty id.
    EmptyId {
        /// Position of the task.
        task: usize,
    },
    /// Two tasks share an id.
    DuplicateId {
        /// The id.
        id: TaskId,
        /// Position of its first use.
        first: usize,
        /// Position of the duplicate.
        second: usize,
    },
    /// A dependency names no task.
    UnknownDependency {
        /// Position of the task declaring it.
        task: usize,
        /// Position of the entry in its `depends_on` list.
        entry: usize,
        /// The unknown id.
        dependency: TaskId,
        /// The closest existing id, if one is close.
        suggestion: Option<TaskId>,
    },
    /// A task depends on itself.
    SelfDependency {
        /// Position of the task.
        task: usize,
        /// Position of the entry in its `depends_on` list, when known.
        entry: Option<usize>,
    },
    /// The dependencies form a cycle: each task depends on the next, the last on the first.
    Cycle {
        /// Positions of the tasks on the cycle, in order.
        cycle: Vec<usize>,
    },
    /// A `[[loops]]` entry is invalid: unknown or repeated ids, an empty body, judges outside
    /// the body, a task in two loops, a bound out of range, or a body not closed under the
    /// graph (the message names the ids).
    Loop {
        /// Position of the loop in the plan's `loops`.
        index: usize,
    },
    /// A dependency map does not match the plan (wrong length or out-of-range position).
    Malformed {
        /// What is wrong.
        detail: String,
    },
}

/// A plan whose dependencies do not form a valid DAG. Its message names the tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    kind: GraphErrorKind,
    message: String,
}

impl GraphError {
    /// An error of this kind with a message for people (naming ids, not positions).
    #[must_use]
    pub fn new(kind: GraphErrorKind, message: String) -> Self {
        Self { kind, message }
    }

    /// What is wrong, with task positions.
    #[must_use]
    pub fn kind(&self) -> &GraphErrorKind {
        &self.kind
    }

    /// The message for people (names ids, not positions).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The task the error is best shown at, and the `depends_on` entry when known.
    #[must_use]
    pub fn primary_task(&self) -> Option<(usize, Option<usize>)> {
        match &self.kind {
            GraphErrorKind::Empty
            | GraphErrorKind::Malformed { .. }
            | GraphErrorKind::Loop { .. } => None,
            GraphErrorKind::EmptyId { task } => Some((*task, None)),
            GraphErrorKind::DuplicateId { second, .. } => Some((*second, None)),
            GraphErrorKind::UnknownDependency { task, entry, .. } => Some((*task, Some(*entry))),
            GraphErrorKind::SelfDependency { task, entry } => Some((*task, *entry)),
            GraphErrorKind::Cycle { cycle } => cycle.iter().min().map(|&t| (t, None)),
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GraphError {}
