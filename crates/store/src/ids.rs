//! Run ids (short, sortable by start time) and content hashes (stable across builds).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use dagent_core::RunId;

const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn base36(mut x: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        // The index is below 36, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let d = (x % 36) as usize;
        *slot = DIGITS[d];
        x /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// `xxxxxxxxx-yyyy`: the start time in base 36 (fixed width, so ids sort by time as text),
/// then four characters that tell apart runs started in the same millisecond.
pub(crate) fn new_run_id(started_at_ms: u64) -> RunId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let salt = fnv1a(
        &[
            u64::from(std::process::id()).to_le_bytes(),
            nanos.to_le_bytes(),
            COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes(),
        ]
        .concat(),
    );
    RunId::new(format!(
        "{}-{}",
        base36(started_at_ms, 9),
        base36(salt % 36u64.pow(4), 4)
    ))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A stable 64-bit content hash as 16 hex digits (FNV-1a: for change detection only).
#[must_use]
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:016x}", fnv1a(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_differ_within_a_millisecond() {
        let a = new_run_id(1_700_000_000_000);
        let b = new_run_id(1_700_000_000_000);
        let c = new_run_id(1_700_000_000_001);
        assert_ne!(a, b);
        assert!(a.as_str() < c.as_str() && b.as_str() < c.as_str());
        assert_eq!(a.as_str().len(), 14);
    }
}
