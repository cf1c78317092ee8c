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
    /// The plan's own task count, once a task was appended.
    base: Option<usize>,
    /// Per appended task (position − base): whether it is in `order`.
    placed: Vec<bool>,
    /// Appended tasks whose dependencies are not all in `order` yet.
    waiting: Vec<usize>,
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
            base: None,
            placed: Vec::new(),
            waiting: Vec::new(),
        }
    }

    /// Adds a task appended while the run goes on (a loop's next iteration) at position
    /// `at`: the estimate of the plan task it copies, after `deps`. Positions between the
    /// known ones and `at` (not announced yet) count as nothing left.
    ///
    /// The order stays topological at a cost proportional to the tasks still waiting: a
    /// task joins the order once each of its dependencies is a plan task or already in
    /// it; until then (a dependency announced later, as when a plan lists a step before
    /// its input) it waits, and the ETA counts it after the ordered tasks.
    pub(crate) fn append(&mut self, at: usize, copy_of: usize, deps: &[usize]) {
        let estimate = self.estimates.get(copy_of).copied().unwrap_or_default();
        let base = *self.base.get_or_insert(self.estimates.len());
        if self.estimates.len() <= at {
            self.estimates.resize(at + 1, Duration::ZERO);
            self.deps.resize(at + 1, Vec::new());
            self.placed.resize(at + 1 - base, false);
        }
        let Some(placed) = at.checked_sub(base) else {
            return; // A plan task: known from the start.
        };
        if self.placed[placed] {
            return;
        }
        self.estimates[at] = estimate;
        self.deps[at] = deps.to_vec();
        if !self.waiting.contains(&at) {
            self.waiting.push(at);
        }
        loop {
            let before = self.waiting.len();
            let mut waiting = std::mem::take(&mut self.waiting);
            waiting.retain(|&t| {
                let ready = self.deps[t]
                    .iter()
                    .all(|&d| d < base || self.placed.get(d - base).copied().unwrap_or(false));
                if ready {
                    self.order.push(t);
                    self.placed[t - base] = true;
                }
                !ready
            });
            self.waiting = waiting;
            if self.waiting.len() == before {
                break;
            }
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
        for &i in self.order.iter().chain(&self.waiting) {
            let before = self.deps[i]
                .iter()
                .filter_map(|&d| path.get(d).copied())
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
    fn appended_tasks_count_with_their_originals_estimate_after_their_dependencies() {
        // a(10) → b(20); a loop appends b#2 (copy of b) after b, and c#2 (copy of a)
        // after b#2, announced before b#2 is (dependency not known yet at first).
        let mut m = EtaModel::new(
            vec![secs(10), secs(20)],
            vec![vec![], vec![0]],
            vec![0, 1],
            4,
        );
        m.append(3, 0, &[2]);
        // Position 2 not announced yet: nothing left there; c#2 counts its 10 s.
        let left = [Left::Done, Left::Done, Left::Waiting, Left::Waiting];
        assert_eq!(m.eta(&left), secs(10));
        m.append(2, 1, &[1]);
        // b#2 (20 s) then c#2 (10 s).
        assert_eq!(m.eta(&left), secs(30));
        assert_eq!(
            m.eta(&[
                Left::Done,
                Left::Done,
                Left::Running(secs(5)),
                Left::Waiting
            ]),
            secs(25)
        );
        assert_eq!(m.eta(&[Left::Done; 4]), Duration::ZERO);
    }

    #[test]
    fn many_appended_tasks_stay_cheap_and_counted() {
        // 20,000 appended tasks, each after the one before (a long loop): linear work.
        let mut m = EtaModel::new(vec![secs(1)], vec![vec![]], vec![0], 1);
        for at in 1..=20_000 {
            m.append(at, 0, &[at - 1]);
        }
        let mut left = vec![Left::Waiting; 20_001];
        left[0] = Left::Done;
        assert_eq!(m.eta(&left), secs(20_000));
    }

    #[test]
    fn the_order_need_not_be_plan_order() {
        // Task 0 depends on task 1 (a plan listing a step before its input).
        let m = EtaModel::new(vec![secs(3), secs(7)], vec![vec![1], vec![]], vec![1, 0], 4);
        assert_eq!(m.eta(&[Left::Waiting; 2]), secs(10));
    }
}
