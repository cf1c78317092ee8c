//! Concurrency slots: one global limit plus optional limits per runner key.

use std::collections::HashMap;

/// Tracks slots in use globally and per key. Keys are interned to small indices once, when
/// the run starts, so the hot path does no hashing.
#[derive(Debug)]
pub struct Slots {
    global_limit: usize,
    global_in_use: usize,
    key_limit: Vec<usize>,
    key_in_use: Vec<usize>,
}

/// A task's key, interned: `None` when the task has no key or its key has no limit.
pub type KeyIndex = Option<u32>;

impl Slots {
    /// Slots for `global_limit` tasks at once (at least 1).
    #[must_use]
    pub fn new(global_limit: usize) -> Self {
        Self {
            global_limit: global_limit.max(1),
            global_in_use: 0,
            key_limit: Vec::new(),
            key_in_use: Vec::new(),
        }
    }

    /// Interns keys against configured limits: each task's key becomes an index, or `None`
    /// when it has no configured limit.
    pub fn intern(
        &mut self,
        limits: &HashMap<String, usize>,
        keys: impl Iterator<Item = Option<String>>,
    ) -> Vec<KeyIndex> {
        let mut ids: HashMap<String, u32> = HashMap::new();
        keys.map(|key| {
            let key = key?;
            let limit = *limits.get(&key)?;
            let next = u32::try_from(self.key_limit.len()).ok()?;
            Some(*ids.entry(key).or_insert_with(|| {
                self.key_limit.push(limit.max(1));
                self.key_in_use.push(0);
                next
            }))
        })
        .collect()
    }

    /// Whether any global slot is free.
    #[must_use]
    pub fn global_free(&self) -> bool {
        self.global_in_use < self.global_limit
    }

    /// Whether a task with this key could start now.
    #[must_use]
    pub fn available(&self, key: KeyIndex) -> bool {
        self.global_free()
            && key.is_none_or(|k| self.key_in_use[k as usize] < self.key_limit[k as usize])
    }

    /// Takes a slot (call only when [`Self::available`]).
    pub fn acquire(&mut self, key: KeyIndex) {
        self.global_in_use += 1;
        if let Some(k) = key {
            self.key_in_use[k as usize] += 1;
        }
    }

    /// Returns a slot.
    pub fn release(&mut self, key: KeyIndex) {
        self.global_in_use = self.global_in_use.saturating_sub(1);
        if let Some(k) = key {
            let c = &mut self.key_in_use[k as usize];
            *c = c.saturating_sub(1);
        }
    }

    /// Slots in use.
    #[must_use]
    pub fn in_use(&self) -> usize {
        self.global_in_use
    }

    /// The global limit.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.global_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_limit_and_per_key_limits() {
        let mut slots = Slots::new(3);
        let limits = HashMap::from([("local".to_owned(), 1)]);
        let keys = slots.intern(
            &limits,
            [Some("local"), Some("cloud"), None, Some("local")]
                .into_iter()
                .map(|k| k.map(str::to_owned)),
        );
        assert_eq!(
            keys,
            [Some(0), None, None, Some(0)],
            "unlimited keys intern to None"
        );
        assert!(slots.available(keys[0]));
        slots.acquire(keys[0]);
        assert!(!slots.available(keys[3]), "the local key is full");
        assert!(slots.available(None));
        slots.acquire(None);
        slots.acquire(None);
        assert!(!slots.global_free());
        assert!(!slots.available(None));
        slots.release(keys[0]);
        assert!(slots.available(keys[3]));
        assert_eq!(slots.in_use(), 2);
    }

    #[test]
    fn limits_are_at_least_one_and_release_never_underflows() {
        let mut slots = Slots::new(0);
        assert_eq!(slots.limit(), 1);
        slots.release(None);
        assert_eq!(slots.in_use(), 0);
        let keys = slots.intern(
            &HashMap::from([("k".to_owned(), 0)]),
            std::iter::once(Some("k".to_owned())),
        );
        assert!(slots.available(keys[0]), "a zero key limit means one");
    }
}
