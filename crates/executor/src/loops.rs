//! The bookkeeping of review loops in a run: which task copies which body task, the
//! dependencies of the tasks appended for later iterations, and each loop's progress.
//!
//! The run loop ([`crate::run`]) owns the task table; this module only answers questions
//! about positions. Positions below `base` are the plan's own tasks (whose dependencies
//! are the graph's); positions from `base` on were appended, one iteration at a time, and
//! their dependencies are kept here. A plan without loops has no `Loops` at all.

use dagent_graph::LoopSet;

use crate::{IterationReport, LoopReport, LoopStop};

/// One loop's progress.
#[derive(Debug)]
pub(crate) struct LoopRun {
    /// Positions of the current iteration's tasks, in body order.
    pub(crate) current: Vec<usize>,
    /// Tasks of the current iteration not yet terminal.
    pub(crate) left: usize,
    pub(crate) iterations: Vec<IterationReport>,
    pub(crate) stop: Option<LoopStop>,
}

#[derive(Debug)]
pub(crate) struct Loops {
    pub(crate) set: LoopSet,
    /// The plan's own task count: positions from here on were appended.
    pub(crate) base: usize,
    /// Per appended task: the plan task it copies, its loop and body index.
    pub(crate) origin: Vec<(usize, usize, usize)>,
    /// Per appended task: its dependencies (positions, sorted) and dependents.
    pub(crate) deps: Vec<Vec<usize>>,
    pub(crate) dependents: Vec<Vec<usize>>,
    pub(crate) runs: Vec<LoopRun>,
    /// Loops whose current iteration has just ended (every task terminal).
    pub(crate) pending: Vec<usize>,
}

impl Loops {
    pub(crate) fn new(set: LoopSet, base: usize) -> Self {
        let runs = set
            .loops()
            .iter()
            .map(|info| LoopRun {
                current: info.body.clone(),
                left: info.body.len(),
                iterations: vec![IterationReport {
                    iteration: 1,
                    tasks: info.body.clone(),
                    verdicts: Vec::new(),
                }],
                stop: None,
            })
            .collect();
        Self {
            set,
            base,
            origin: Vec::new(),
            deps: Vec::new(),
            dependents: Vec::new(),
            runs,
            pending: Vec::new(),
        }
    }

    /// The loop and body index of any position (a plan task or a copy).
    pub(crate) fn member(&self, i: usize) -> Option<(usize, usize)> {
        if i < self.base {
            self.set.member(i)
        } else {
            self.origin.get(i - self.base).map(|&(_, l, b)| (l, b))
        }
    }

    /// The plan task a position stands for.
    pub(crate) fn origin_of(&self, i: usize) -> usize {
        if i < self.base {
            i
        } else {
            self.origin.get(i - self.base).map_or(i, |&(o, _, _)| o)
        }
    }

    /// The newest copy of `task` (itself when it is in no loop).
    pub(crate) fn latest(&self, task: usize) -> usize {
        match self.member(task) {
            Some((l, b)) => self.runs[l].current[b],
            None => task,
        }
    }

    /// A task became terminal: counts it against its loop's current iteration.
    pub(crate) fn terminated(&mut self, i: usize) {
        let Some((l, b)) = self.member(i) else { return };
        let run = &mut self.runs[l];
        if run.stop.is_none() && run.current.get(b) == Some(&i) {
            run.left = run.left.saturating_sub(1);
            if run.left == 0 {
                self.pending.push(l);
            }
        }
    }

    /// The report of every loop (a loop that never ended — not possible once the run has
    /// finished — reads as cancelled).
    pub(crate) fn reports(self) -> Vec<LoopReport> {
        let Self { set, runs, .. } = self;
        set.loops()
            .iter()
            .zip(runs)
            .map(|(info, run)| LoopReport {
                id: info.id.clone(),
                body: info.body.clone(),
                repeat_until: info.repeat_until.clone(),
                max_iterations: info.max_iterations,
                iterations: run.iterations,
                stop: run.stop.unwrap_or(LoopStop::Cancelled),
            })
            .collect()
    }
}
