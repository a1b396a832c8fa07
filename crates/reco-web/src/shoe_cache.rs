//! The shoes' display fields (name, brand, type, price) for the recommendations endpoint, kept
//! for a few seconds so the hot path runs recommend() alone: fetching them with every call
//! (reco.shoe_summaries(), a SECURITY DEFINER PL/pgSQL function) cost 6-14% of the statement's
//! throughput on tier M (BENCHMARKS.md, "HTTP API"). What ranks and filters is always
//! recommend() on the database's current catalogue; only the names and prices shown can lag an
//! edit of reco.shoes by at most the time to live (`--shoe-cache-seconds`, 0 = no cache).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the API shows of a shoe besides its id.
#[derive(Clone, Debug, PartialEq)]
pub struct ShoeSummary {
    pub name: Option<String>,
    pub brand: Option<String>,
    pub r#type: Option<String>,
    pub price: Option<f64>,
}

/// `--shoe-cache-seconds` unless given.
pub const DEFAULT_SHOE_CACHE_SECONDS: u64 = 10;

/// Entries kept at most; past it, expired entries are dropped first, then everything (a
/// catalogue bigger than this is served with more database round trips, never more memory).
const MAX_ENTRIES: usize = 200_000;

pub struct ShoeCache {
    ttl: Duration,
    entries: Mutex<HashMap<i64, (ShoeSummary, Instant)>>,
}

impl ShoeCache {
    pub fn new(ttl: Duration) -> ShoeCache {
        ShoeCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached summaries of `ids` (None where missing or older than the time to live), and
    /// the ids to fetch.
    pub fn lookup(&self, ids: &[i64], now: Instant) -> (Vec<Option<ShoeSummary>>, Vec<i64>) {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut missing = Vec::new();
        let found = ids
            .iter()
            .map(|id| match entries.get(id) {
                Some((s, at)) if !self.ttl.is_zero() && now.duration_since(*at) < self.ttl => {
                    Some(s.clone())
                }
                _ => {
                    if !missing.contains(id) {
                        missing.push(*id);
                    }
                    None
                }
            })
            .collect();
        (found, missing)
    }

    /// Keep what was fetched at `now` (nothing when the time to live is 0).
    pub fn store(&self, fetched: impl IntoIterator<Item = (i64, ShoeSummary)>, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| now.duration_since(*at) < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        for (id, s) in fetched {
            entries.insert(id, (s, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shoe(name: &str) -> ShoeSummary {
        ShoeSummary {
            name: Some(name.into()),
            brand: None,
            r#type: None,
            price: Some(10.0),
        }
    }

    #[test]
    fn serves_fresh_entries_and_refetches_expired_or_missing_ones() {
        let cache = ShoeCache::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let (found, missing) = cache.lookup(&[1, 2, 1], t0);
        assert_eq!(found, vec![None, None, None]);
        assert_eq!(missing, vec![1, 2]);
        cache.store([(1, shoe("a")), (2, shoe("b"))], t0);
        let (found, missing) = cache.lookup(&[2, 3], t0 + Duration::from_secs(9));
        assert_eq!(found, vec![Some(shoe("b")), None]);
        assert_eq!(missing, vec![3]);
        // Ten seconds later the entry is stale: fetched again, so an edit shows within the TTL.
        let (found, missing) = cache.lookup(&[1], t0 + Duration::from_secs(10));
        assert_eq!(found, vec![None]);
        assert_eq!(missing, vec![1]);
        cache.store([(1, shoe("renamed"))], t0 + Duration::from_secs(10));
        let (found, _) = cache.lookup(&[1], t0 + Duration::from_secs(11));
        assert_eq!(found, vec![Some(shoe("renamed"))]);
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = ShoeCache::new(Duration::ZERO);
        let t0 = Instant::now();
        cache.store([(1, shoe("a"))], t0);
        let (found, missing) = cache.lookup(&[1], t0);
        assert_eq!(found, vec![None]);
        assert_eq!(missing, vec![1]);
    }
}
