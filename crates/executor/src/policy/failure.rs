//! The failure mode: what a task that ended without output does to the rest of the run.

use dagent_core::TaskId;

use crate::{FailureMode, StopReason};

/// What happens to the dependents of a task that failed or never ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dependents {
    /// They (and their descendants) are skipped.
    Skip,
    /// They run, and are told which input failed.
    Run,
}

/// The configured [`FailureMode`] as decisions.
#[derive(Clone, Copy, Debug)]
pub struct FailurePolicy {
    mode: FailureMode,
}

impl FailurePolicy {
    /// The policy of `mode`.
    #[must_use]
    pub fn new(mode: FailureMode) -> Self {
        Self { mode }
    }

    /// Whether the failure of `task` stops the whole run (`fail_fast`), and why.
    #[must_use]
    pub fn stops_run(&self, task: &TaskId) -> Option<StopReason> {
        (self.mode == FailureMode::FailFast).then(|| StopReason::FailFast(task.clone()))
    }

    /// What the dependents of a task that ended without output do.
    #[must_use]
    pub fn dependents(&self) -> Dependents {
        match self.mode {
            FailureMode::PartialCompletion => Dependents::Run,
            FailureMode::SkipDependents | FailureMode::FailFast => Dependents::Skip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_decides_the_run_and_the_dependents() {
        let id = TaskId::new("a");
        let skip = FailurePolicy::new(FailureMode::SkipDependents);
        assert_eq!(skip.stops_run(&id), None);
        assert_eq!(skip.dependents(), Dependents::Skip);
        let partial = FailurePolicy::new(FailureMode::PartialCompletion);
        assert_eq!(partial.stops_run(&id), None);
        assert_eq!(partial.dependents(), Dependents::Run);
        let fast = FailurePolicy::new(FailureMode::FailFast);
        assert_eq!(fast.stops_run(&id), Some(StopReason::FailFast(id)));
        assert_eq!(fast.dependents(), Dependents::Skip);
    }
}
