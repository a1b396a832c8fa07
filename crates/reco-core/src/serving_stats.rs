//! Serving counters with a log-spaced latency histogram, fixed-size and `Copy` so that it can
//! live in PostgreSQL shared memory (no heap: only `u64` fields and arrays, `#[repr(C)]`).
//!
//! # Latency buckets
//!
//! There are [`LATENCY_BUCKETS`] = 24 buckets of latencies in microseconds (µs):
//!
//! * bucket 0: `[0, 8)` µs;
//! * bucket `i` for `1 ≤ i ≤ 22`: `[8 · 2^(i−1), 8 · 2^i)` µs, e.g. bucket 1 = `[8, 16)`,
//!   bucket 7 = `[512, 1024)`, bucket 22 = `[16 777 216, 33 554 432)` µs;
//! * bucket 23 (the last): `[8 · 2^22, ∞)` = `[33 554 432 µs, ∞)`, i.e. from about 33.5 s on.
//!
//! So for `t ≥ 8` µs, [`bucket_of`]`(t) = min(⌊log₂ t⌋ − 2, 23)`.
//!
//! # Percentiles
//!
//! [`ServingCounters::percentile_ms`] estimates the `q`-quantile from the histogram. With `N`
//! the number of calls in the histogram, the rank is `r = ⌈q · N⌉` (clamped to `1..=N`); the
//! bucket holding it is the first whose cumulative count reaches `r`. If that bucket holds `n`
//! calls, of which `k` (`1 ≤ k ≤ n`) are at or before rank `r`, the rank's position in the bucket
//! is `f = (k − ½) / n ∈ (0, 1)` (the middle of the rank's slot, so the estimate always lies
//! strictly inside the bucket), and the estimate is
//!
//! * bucket 0: linear, `8 · f` µs;
//! * buckets 1..=22: geometric, `lower · (upper / lower)^f = lower · 2^f` µs;
//! * the last bucket (no upper bound): its lower bound, `8 · 2^22` µs.
//!
//! # Overflow
//!
//! All additions saturate at `u64::MAX` instead of wrapping or panicking.

/// Number of latency buckets (see the module doc for their bounds).
pub const LATENCY_BUCKETS: usize = 24;

/// Upper bound (exclusive) of bucket 0, in microseconds; bucket `i ≥ 1` starts at
/// `FIRST_BOUND_MICROS · 2^(i−1)`.
const FIRST_BOUND_MICROS: u64 = 8;

/// The bucket of a latency of `micros` microseconds: `0` for `< 8`, else
/// `min(⌊log₂ micros⌋ − 2, LATENCY_BUCKETS − 1)`.
pub fn bucket_of(micros: u64) -> usize {
    if micros < FIRST_BOUND_MICROS {
        return 0;
    }
    let log2 = (u64::BITS - 1 - micros.leading_zeros()) as usize; // ≥ 3
    (log2 - 2).min(LATENCY_BUCKETS - 1)
}

/// The bounds `[lower, upper)` of bucket `i`, in microseconds: `(0, 8)` for bucket 0,
/// `(8 · 2^(i−1), 8 · 2^i)` for `1 ≤ i ≤ 22`, and `(8 · 2^22, f64::INFINITY)` for the last.
///
/// # Panics
///
/// If `i ≥ LATENCY_BUCKETS`.
pub fn bucket_bounds(i: usize) -> (f64, f64) {
    assert!(i < LATENCY_BUCKETS, "bucket_bounds: no bucket {i}");
    let first = FIRST_BOUND_MICROS as f64;
    if i == 0 {
        (0.0, first)
    } else {
        let lower = first * 2f64.powi(i as i32 - 1);
        let upper = if i == LATENCY_BUCKETS - 1 {
            f64::INFINITY
        } else {
            2.0 * lower
        };
        (lower, upper)
    }
}

/// How one served call ended, for [`ServingCounters::record`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The call failed (raised an error).
    pub error: bool,
    /// The call was answered by the cold-start path (user unknown to the model).
    pub cold_start: bool,
    /// The call was for an anonymous visitor (no user id).
    pub anonymous: bool,
}

/// Counters of served calls. Plain old data (`Copy`, `#[repr(C)]`, no heap), suitable for shared
/// memory; `Default` is all zeros.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct ServingCounters {
    /// Calls recorded, failed ones included.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Successful calls that returned no rows.
    pub empty_results: u64,
    /// Calls flagged [`Outcome::cold_start`] (failed ones included).
    pub cold_start: u64,
    /// Calls flagged [`Outcome::anonymous`] (failed ones included).
    pub anonymous: u64,
    /// Rows returned by successful calls.
    pub rows: u64,
    /// Sum of the latencies of all calls, in microseconds.
    pub total_micros: u64,
    /// Number of calls per latency bucket ([`bucket_of`]), failed ones included.
    pub latency: [u64; LATENCY_BUCKETS],
}

impl ServingCounters {
    /// Records one call that took `micros` microseconds and returned `rows` rows.
    ///
    /// Every call adds 1 to `calls`, its latency to `total_micros` and to the histogram, and 1 to
    /// `cold_start` / `anonymous` when flagged. A failed call ([`Outcome::error`]) adds 1 to
    /// `errors` and nothing else: its `rows` are ignored and it never counts as an empty result.
    /// A successful call adds its `rows`, and 1 to `empty_results` when `rows == 0`.
    pub fn record(&mut self, micros: u64, rows: u64, outcome: Outcome) {
        self.calls = self.calls.saturating_add(1);
        self.total_micros = self.total_micros.saturating_add(micros);
        let bucket = &mut self.latency[bucket_of(micros)];
        *bucket = bucket.saturating_add(1);
        if outcome.cold_start {
            self.cold_start = self.cold_start.saturating_add(1);
        }
        if outcome.anonymous {
            self.anonymous = self.anonymous.saturating_add(1);
        }
        if outcome.error {
            self.errors = self.errors.saturating_add(1);
        } else {
            self.rows = self.rows.saturating_add(rows);
            if rows == 0 {
                self.empty_results = self.empty_results.saturating_add(1);
            }
        }
    }

    /// Mean latency in milliseconds, `total_micros / calls / 1000`; `None` when `calls == 0`.
    pub fn mean_ms(&self) -> Option<f64> {
        if self.calls == 0 {
            None
        } else {
            Some(self.total_micros as f64 / self.calls as f64 / 1000.0)
        }
    }

    /// The `q`-quantile of the latency in milliseconds, estimated from the histogram as described
    /// in the module doc; `None` when the histogram is empty or `q` is not in `(0, 1]` (or NaN).
    ///
    /// The number of calls `N` is the histogram's total (equal to `calls` when the counters are
    /// only changed through [`record`](Self::record) and [`merge`](Self::merge)).
    pub fn percentile_ms(&self, q: f64) -> Option<f64> {
        if !(q > 0.0 && q <= 1.0) {
            return None;
        }
        let total: u64 = self
            .latency
            .iter()
            .fold(0u64, |acc, &n| acc.saturating_add(n));
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut before = 0u64;
        for (i, &n) in self.latency.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if before.saturating_add(n) >= rank {
                let k = rank - before; // 1..=n
                let f = (k as f64 - 0.5) / n as f64;
                let (lower, upper) = bucket_bounds(i);
                let micros = if i == 0 {
                    upper * f
                } else if i == LATENCY_BUCKETS - 1 {
                    lower
                } else {
                    lower * (upper / lower).powf(f)
                };
                return Some(micros / 1000.0);
            }
            before += n;
        }
        unreachable!("rank {rank} is at most the histogram total {total}")
    }

    /// Adds every counter of `other` to `self` (bucket by bucket for the histogram).
    pub fn merge(&mut self, other: &ServingCounters) {
        self.calls = self.calls.saturating_add(other.calls);
        self.errors = self.errors.saturating_add(other.errors);
        self.empty_results = self.empty_results.saturating_add(other.empty_results);
        self.cold_start = self.cold_start.saturating_add(other.cold_start);
        self.anonymous = self.anonymous.saturating_add(other.anonymous);
        self.rows = self.rows.saturating_add(other.rows);
        self.total_micros = self.total_micros.saturating_add(other.total_micros);
        for (mine, theirs) in self.latency.iter_mut().zip(&other.latency) {
            *mine = mine.saturating_add(*theirs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn assert_close(actual: Option<f64>, expected: f64) {
        let actual = actual.unwrap_or_else(|| panic!("expected {expected:?}, got None"));
        assert!(
            (actual - expected).abs() <= 1e-12 * expected.abs().max(1e-3),
            "expected {expected:?}, got {actual:?}"
        );
    }

    const OK: Outcome = Outcome {
        error: false,
        cold_start: false,
        anonymous: false,
    };

    #[test]
    fn bucket_of_boundaries() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(7), 0);
        assert_eq!(bucket_of(8), 1);
        assert_eq!(bucket_of(15), 1);
        assert_eq!(bucket_of(16), 2);
        assert_eq!(bucket_of(1000), 7); // [512, 1024)
        assert_eq!(bucket_of((1 << 25) - 1), 22); // just below 8·2^22
        assert_eq!(bucket_of(1 << 25), 23);
        assert_eq!(bucket_of(u64::MAX), 23);
    }

    #[test]
    fn bucket_bounds_agree_with_bucket_of() {
        assert_eq!(bucket_bounds(0), (0.0, 8.0));
        assert_eq!(bucket_bounds(1), (8.0, 16.0));
        assert_eq!(bucket_bounds(7), (512.0, 1024.0));
        assert_eq!(bucket_bounds(22), (16_777_216.0, 33_554_432.0));
        assert_eq!(bucket_bounds(23), (33_554_432.0, f64::INFINITY));
        for i in 1..LATENCY_BUCKETS {
            let (lower, upper) = bucket_bounds(i);
            assert_eq!(bucket_of(lower as u64), i, "lower bound of {i}");
            assert_eq!(bucket_of(lower as u64 - 1), i - 1, "just below {i}");
            if upper.is_finite() {
                assert_eq!(bucket_of(upper as u64 - 1), i, "just below upper of {i}");
                assert_eq!(bucket_bounds(i + 1).0, upper, "contiguous at {i}");
            }
        }
    }

    #[test]
    fn record_of_a_failed_call() {
        let mut c = ServingCounters::default();
        c.record(
            100,
            5,
            Outcome {
                error: true,
                cold_start: true,
                anonymous: false,
            },
        );
        let mut latency = [0; LATENCY_BUCKETS];
        latency[4] = 1; // 100 µs ∈ [64, 128)
        assert_eq!(
            c,
            ServingCounters {
                calls: 1,
                errors: 1,
                empty_results: 0,
                cold_start: 1,
                anonymous: 0,
                rows: 0,
                total_micros: 100,
                latency,
            }
        );
    }

    #[test]
    fn record_of_successful_calls() {
        let mut c = ServingCounters::default();
        c.record(3, 0, OK);
        c.record(
            20,
            10,
            Outcome {
                anonymous: true,
                ..OK
            },
        );
        assert_eq!(c.calls, 2);
        assert_eq!(c.errors, 0);
        assert_eq!(c.empty_results, 1);
        assert_eq!(c.anonymous, 1);
        assert_eq!(c.cold_start, 0);
        assert_eq!(c.rows, 10);
        assert_eq!(c.total_micros, 23);
        assert_eq!(c.latency[0], 1);
        assert_eq!(c.latency[2], 1); // 20 µs ∈ [16, 32)
    }

    #[test]
    fn mean() {
        let mut c = ServingCounters::default();
        assert_eq!(c.mean_ms(), None);
        c.record(1000, 1, OK);
        c.record(2000, 1, OK);
        c.record(6000, 1, OK);
        // (1000 + 2000 + 6000) / 3 µs = 3000 µs = 3 ms
        assert_close(c.mean_ms(), 3.0);
    }

    #[test]
    fn single_call_percentile_lies_in_its_bucket() {
        for micros in [0, 5, 8, 100, 1000, 123_456, 20_000_000] {
            let mut c = ServingCounters::default();
            c.record(micros, 1, OK);
            let (lower, upper) = bucket_bounds(bucket_of(micros));
            for q in [0.01, 0.5, 0.99, 1.0] {
                let p = c.percentile_ms(q).unwrap() * 1000.0;
                assert!(lower <= p && p < upper, "{micros} µs, q {q}: {p}");
            }
        }
        // The last bucket reports its lower bound: 8·2^22 µs = 33554.432 ms.
        let mut c = ServingCounters::default();
        c.record(100_000_000, 1, OK);
        assert_close(c.percentile_ms(0.5), 33_554.432);
    }

    #[test]
    fn hand_computed_percentiles() {
        // Two calls in bucket 0 ([0, 8) µs) and two in bucket 3 ([32, 64) µs); N = 4.
        let mut c = ServingCounters::default();
        for micros in [1, 5, 40, 50] {
            c.record(micros, 1, OK);
        }
        // q = 0.25: rank ⌈1⌉ = 1, bucket 0, k = 1 of n = 2, f = 0.25 → 8·0.25 = 2 µs.
        assert_close(c.percentile_ms(0.25), 0.002);
        // q = 0.5: rank 2, bucket 0, k = 2, f = 0.75 → 6 µs.
        assert_close(c.percentile_ms(0.5), 0.006);
        // q = 0.6: rank ⌈2.4⌉ = 3, bucket 3, k = 1, f = 0.25 → 32·2^0.25 µs.
        // python3: 32 * 2**0.25 / 1000 → 0.03805462768008707
        assert_close(c.percentile_ms(0.6), 0.03805462768008707);
        // q = 1: rank 4, bucket 3, k = 2, f = 0.75.
        // python3: 32 * 2**0.75 / 1000 → 0.05381737057623773
        assert_close(c.percentile_ms(1.0), 0.05381737057623773);
        // Invalid q.
        assert_eq!(c.percentile_ms(0.0), None);
        assert_eq!(c.percentile_ms(1.5), None);
        assert_eq!(c.percentile_ms(f64::NAN), None);
        assert_eq!(ServingCounters::default().percentile_ms(0.5), None);
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = ServingCounters::default();
        a.record(10, 3, OK);
        a.record(10_000, 0, Outcome { error: true, ..OK });
        let mut b = ServingCounters::default();
        b.record(
            12,
            0,
            Outcome {
                cold_start: true,
                anonymous: true,
                ..OK
            },
        );
        let mut all = ServingCounters::default();
        all.record(10, 3, OK);
        all.record(10_000, 0, Outcome { error: true, ..OK });
        all.record(
            12,
            0,
            Outcome {
                cold_start: true,
                anonymous: true,
                ..OK
            },
        );
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(a.calls, 3);
        assert_eq!(a.latency[1], 2);
        assert_eq!(a.empty_results, 1);
    }
}
