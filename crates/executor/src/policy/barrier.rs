//! Level barriers (batched mode): a level's tasks start only when every task of the levels
//! before it is terminal; each level may have a time limit (the batch timeout).

use std::time::Duration;

use tokio::time::Instant;

use super::clock::after;

/// The barrier state of one run. In eager mode it admits everything and never times out.
#[derive(Debug)]
pub struct LevelBarrier {
    enabled: bool,
    timeout: Option<Duration>,
    /// The level now open.
    level: usize,
    /// Tasks of each level not yet terminal.
    left: Vec<usize>,
    /// Tasks ready before their level opened.
    held: Vec<Vec<usize>>,
    deadline: Option<Instant>,
}

impl LevelBarrier {
    /// A barrier over tasks with these levels; `enabled` for batched mode.
    #[must_use]
    pub fn new(
        levels: impl Iterator<Item = usize>,
        enabled: bool,
        timeout: Option<Duration>,
    ) -> Self {
        let mut left = Vec::new();
        for l in levels {
            if l >= left.len() {
                left.resize(l + 1, 0);
            }
            left[l] += 1;
        }
        let depth = left.len();
        Self {
            enabled,
            timeout: timeout.filter(|_| enabled),
            level: 0,
            left,
            held: vec![Vec::new(); depth],
            deadline: None,
        }
    }

    /// Starts the first level's clock.
    pub fn start(&mut self, now: Instant) {
        self.deadline = self.timeout.map(|t| after(now, t));
    }

    /// The level now open.
    #[must_use]
    pub fn level(&self) -> usize {
        self.level
    }

    /// Whether a ready task of `level` may be queued now; if not, it is held until its
    /// level opens (and returned by [`Self::finished`]).
    pub fn admit(&mut self, task: usize, level: usize) -> bool {
        if !self.enabled || level <= self.level {
            return true;
        }
        self.held[level].push(task);
        false
    }

    /// A task of `level` was added to the run (a loop's next iteration): its level waits
    /// for it too.
    pub fn add(&mut self, level: usize) {
        if level >= self.left.len() {
            self.left.resize(level + 1, 0);
            self.held.resize(level + 1, Vec::new());
        }
        self.left[level] += 1;
    }

    /// A task of `level` became terminal. Returns the held tasks of every level this opens
    /// (their level's clock starts at `now`).
    pub fn finished(&mut self, level: usize, now: Instant) -> Vec<usize> {
        self.left[level] = self.left[level].saturating_sub(1);
        if !self.enabled {
            return Vec::new();
        }
        let mut released = Vec::new();
        let mut advanced = false;
        while self.level + 1 < self.left.len() && self.left[self.level] == 0 {
            self.level += 1;
            advanced = true;
            released.append(&mut self.held[self.level]);
        }
        if advanced {
            self.start(now);
        }
        released
    }

    /// When the open level times out, if it can.
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The open level timed out: its clock stops (it is up to the caller to end its
    /// tasks). Returns the level and the message for its tasks.
    pub fn timed_out(&mut self) -> (usize, String) {
        self.deadline = None;
        let limit = self.timeout.unwrap_or_default();
        (
            self.level,
            format!(
                "batch {} timed out after {}",
                self.level + 1,
                dagent_core::format_duration(limit)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn levels_open_in_order_and_release_held_tasks() {
        // Tasks 0, 1 at level 0; 2 at level 1; 3 at level 2.
        let mut b = LevelBarrier::new([0, 0, 1, 2].into_iter(), true, Some(5 * S));
        let t0 = Instant::now();
        b.start(t0);
        assert!(b.admit(0, 0));
        assert!(!b.admit(2, 1), "level 1 is not open yet");
        assert!(b.finished(0, t0).is_empty(), "task 1 of level 0 is left");
        tokio::time::advance(2 * S).await;
        let now = Instant::now();
        assert_eq!(b.finished(0, now), vec![2]);
        assert_eq!(b.level(), 1);
        assert_eq!(
            b.deadline(),
            Some(now + 5 * S),
            "the new level's clock starts"
        );
        assert!(!b.admit(3, 2));
        assert_eq!(b.finished(1, now), vec![3]);
        let (level, message) = b.timed_out();
        assert_eq!((level, message.as_str()), (2, "batch 3 timed out after 5s"));
        assert_eq!(b.deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn eager_mode_admits_everything_and_never_times_out() {
        let mut b = LevelBarrier::new([0, 1, 2].into_iter(), false, Some(S));
        b.start(Instant::now());
        assert!(b.admit(2, 2));
        assert_eq!(b.deadline(), None);
        assert!(b.finished(0, Instant::now()).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_batch_timeout_does_not_panic() {
        let mut b = LevelBarrier::new([0, 1].into_iter(), true, Some(Duration::MAX));
        b.start(Instant::now());
        assert!(b.deadline().is_some());
        assert_eq!(b.finished(0, Instant::now()), Vec::<usize>::new());
    }
}
