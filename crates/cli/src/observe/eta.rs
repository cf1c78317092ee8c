//! The ETA of a run in progress, from the tasks' estimates.
//!
//! What is left of a task: nothing once it ended; its estimate less the time its current
//! attempt has run (never below zero) while it runs; its whole estimate otherwise. The run
//! cannot end before the longest chain of what is left (the remaining critical path), nor
//! before what is left in all divided among the `k` slots, so
//!
//! ```text
//! ETA = max( max over tasks of (left(t) + max over t's dependencies d of path(d)),
//!            Σ left(t) ÷ k )
//! ```
//!
//! the same lower bound the analysis uses for a whole plan (max(critical path, work ÷ k)),
//! applied to what remains. Tasks without an estimate count at the median of the given
//! ones (`Plan::weights`); a plan with no estimate at all has no ETA.

use std::time::Duration;

use dagent_core::Plan;

/// Where one task is, for the ETA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Left {
    /// Not started yet (or waiting to retry): all of its estimate is left.
    Waiting,
    /// Its current attempt has run this long.
    Running(Duration),
    /// Ended (whatever the outcome): nothing is left.
    Done,
}

/// The estimates and the graph an ETA is computed from.
#[derive(Clone, Debug)]
pub(crate) struct EtaModel {
    estimates: Vec<Duration>,
    deps: Vec<Vec<usize>>,
    order: Vec<usize>,
    k: usize,
}

impl EtaModel {
    /// The model of a plan run with `k` slots, its estimates multiplied by `scale`
    /// (`--time-scale` in a simulation); `None` when no task has an estimate.
    pub(crate) fn of_plan(
        plan: &Plan,
        deps: Vec<Vec<usize>>,
        order: Vec<usize>,
        k: usize,
        scale: f64,
    ) -> Option<Self> {
        let weights = plan.weights();
        if !weights.by_estimate {
            return None;
        }
        let estimates = weights
            .values
            .iter()
            .map(|&us| Duration::from_micros(us).mul_f64(scale.max(0.0)))
            .collect();
        Some(Self::new(estimates, deps, order, k))
    }

    /// A model from explicit estimates; `order` is a topological order of `deps`.
    pub(crate) fn new(
        estimates: Vec<Duration>,
        deps: Vec<Vec<usize>>,
        order: Vec<usize>,
        k: usize,
    ) -> Self {
        Self {
            estimates,
            deps,
            order,
            k: k.max(1),
        }
    }

    /// The time left until the run ends, by the formula in this module's doc. `left` has
    /// one entry per task, in plan order.
    pub(crate) fn eta(&self, left: &[Left]) -> Duration {
        let rest = |i: usize| match left.get(i).copied().unwrap_or(Left::Done) {
            Left::Done => Duration::ZERO,
            Left::Running(ran) => self.estimates[i].saturating_sub(ran),
            Left::Waiting => self.estimates[i],
        };
        let mut path = vec![Duration::ZERO; self.estimates.len()];
        let mut longest = Duration::ZERO;
        let mut work = Duration::ZERO;
        for &i in &self.order {
            let before = self.deps[i]
                .iter()
                .map(|&d| path[d])
                .max()
                .unwrap_or(Duration::ZERO);
            let mine = rest(i);
            path[i] = before.saturating_add(mine);
            longest = longest.max(path[i]);
            work = work.saturating_add(mine);
        }
        longest.max(work / u32::try_from(self.k).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// a(10) → c(5), b(20) → c: critical path b, c = 25 s.
    fn diamond(k: usize) -> EtaModel {
        EtaModel::new(
            vec![secs(10), secs(20), secs(5)],
            vec![vec![], vec![], vec![0, 1]],
            vec![0, 1, 2],
            k,
        )
    }

    #[test]
    fn before_the_start_it_is_the_lower_bound_of_the_whole_plan() {
        let all = [Left::Waiting; 3];
        // k = 2: max(critical path 25, work 35 / 2) = 25.
        assert_eq!(diamond(2).eta(&all), secs(25));
        // k = 1: the work is the bound, 35.
        assert_eq!(diamond(1).eta(&all), secs(35));
    }

    #[test]
    fn running_tasks_count_what_is_left_of_their_estimate() {
        let m = diamond(2);
        let left = [Left::Done, Left::Running(secs(15)), Left::Waiting];
        // b has 5 s left, then c 5 s.
        assert_eq!(m.eta(&left), secs(10));
        // Past its estimate a task counts as nothing left (never negative).
        let overdue = [Left::Done, Left::Running(secs(60)), Left::Waiting];
        assert_eq!(m.eta(&overdue), secs(5));
        assert_eq!(m.eta(&[Left::Done; 3]), Duration::ZERO);
    }

    #[test]
    fn the_work_bound_wins_on_wide_plans() {
        // Eight independent tasks of 10 s on 2 slots: 40 s, not 10.
        let m = EtaModel::new(vec![secs(10); 8], vec![vec![]; 8], (0..8).collect(), 2);
        assert_eq!(m.eta(&[Left::Waiting; 8]), secs(40));
        let mut left = [Left::Done; 8];
        left[7] = Left::Running(secs(4));
        assert_eq!(m.eta(&left), secs(6));
    }

    #[test]
    fn the_order_need_not_be_plan_order() {
        // Task 0 depends on task 1 (a plan listing a step before its input).
        let m = EtaModel::new(vec![secs(3), secs(7)], vec![vec![1], vec![]], vec![1, 0], 4);
        assert_eq!(m.eta(&[Left::Waiting; 2]), secs(10));
    }
}
