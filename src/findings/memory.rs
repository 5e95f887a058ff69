//! What the findings stage remembers between batches, bounded: a cache in front of OpenSearch,
//! which holds the real baseline (the indexed events). Forgetting costs one query, never a
//! wrong finding: an evicted value is asked again, and a finding written twice is one document.
//!
//! Sizes (entries × bytes per entry in quick_cache, about key + value + 24 of bookkeeping):
//! known values 1,000,000 × ~40 B ≈ 40 MB (100k identities × 10 hot values each), identities'
//! first events 200,000 × ~40 B ≈ 8 MB, minted keys 100,000 × ~100 B ≈ 10 MB, denied hours
//! 20,000 × ≤ ~700 B ≈ 14 MB: under 80 MB for 100k identities, whatever runs for how long.

use super::kind::Kind;
use crate::event::facts::Identity;
use quick_cache::unsync::Cache;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::LazyLock;

/// One seed per process: the hashes live only in this process's memory.
static SEED: LazyLock<foldhash::quality::RandomState> = LazyLock::new(Default::default);

pub const KNOWN_VALUES: usize = 1_000_000;
pub const IDENTITIES: usize = 200_000;
pub const MINTED_KEYS: usize = 100_000;
pub const DENIED_HOURS: usize = 20_000;

/// One authorization failure: (time in ms, event id).
pub type Denial = (i64, Box<str>);

/// The authorization failures of one identity in one hour, as far as the threshold.
#[derive(Debug, Default, Clone)]
pub struct Burst {
    /// (time in ms, event id), oldest first, at most the threshold.
    pub events: Vec<Denial>,
    /// A finding was made for this hour.
    pub told: bool,
}

impl Burst {
    /// Adds events not there yet (a replay brings the same ones again), keeping the oldest
    /// `limit`.
    pub fn add(&mut self, events: impl IntoIterator<Item = Denial>, limit: usize) {
        for e in events {
            if !self.events.iter().any(|(_, id)| *id == e.1) {
                self.events.push(e);
            }
        }
        self.events.sort();
        self.events.truncate(limit);
    }
}

pub struct Memory {
    /// Hashes of (identity, kind, value) known to have been seen.
    pub known: Cache<u64, ()>,
    /// Identity hash → time (ms) of its first indexed event.
    pub first_seen: Cache<u64, i64>,
    /// Temporary access key → who minted it (an access key, else an ARN).
    pub minted: Cache<Box<str>, Box<str>>,
    /// (identity hash, hour in ms) → its authorization failures.
    pub denied: Cache<(u64, i64), Burst>,
}

impl Default for Memory {
    fn default() -> Self {
        Memory {
            known: Cache::new(KNOWN_VALUES),
            first_seen: Cache::new(IDENTITIES),
            minted: Cache::new(MINTED_KEYS),
            denied: Cache::new(DENIED_HOURS),
        }
    }
}

pub fn identity_hash(identity: &Identity) -> u64 {
    SEED.hash_one(identity)
}

/// 64 bits: two different tuples share a hash with odds of about n²/2⁶⁵ (10⁻⁷ for a million
/// tuples), and then one finding is missed; no finding is ever invented by it.
pub fn value_hash(identity: &Identity, kind: Kind, value: &str) -> u64 {
    value_hash_of(identity_hash(identity), kind, value)
}

/// [`value_hash`] from the identity's [`identity_hash`], computed once for all the values of
/// an event.
pub fn value_hash_of(identity: u64, kind: Kind, value: &str) -> u64 {
    let mut h = SEED.build_hasher();
    identity.hash(&mut h);
    kind.hash(&mut h);
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_counts_each_event_once_and_keeps_the_oldest() {
        let mut b = Burst::default();
        let e = |t: i64, id: &str| (t, Box::<str>::from(id));
        b.add([e(3, "c"), e(1, "a")], 3);
        b.add([e(1, "a"), e(2, "b"), e(4, "d")], 3);
        let ids: Vec<&str> = b.events.iter().map(|(_, id)| &**id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }
}
