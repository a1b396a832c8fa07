//! Deterministic random streams for the generator: reco-core's SplitMix64-seeded xoshiro256**,
//! plus sampling helpers (ranges, weighted choice, alias tables). The output depends only on the
//! seed (and, for the few floating-point transforms that use `ln`/`exp`/`cos`, on the platform libm).

pub use reco_core::rng::splitmix64;

/// xoshiro256** streams from reco-core's generator (the one the SVD uses for its random test
/// matrix), with the sampling helpers the generator needs on top.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: reco_core::rng::Rng,
}

impl Rng {
    /// A stream identified by (seed, stream, index): independent-looking streams for
    /// different tables and for every user, so generation order never matters.
    pub fn new(seed: u64, stream: u64, index: u64) -> Rng {
        let mut st = seed
            ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03)
            ^ index.wrapping_mul(0xA24B_AED4_963E_E407);
        // Mix once more so nearby (stream, index) pairs diverge; the core generator then
        // expands the state into its four words with SplitMix64.
        splitmix64(&mut st);
        Rng {
            inner: reco_core::rng::Rng::new(st),
        }
    }

    /// Raw 64 bits (the generator itself only needs the helpers below; tests compare streams).
    #[cfg(test)]
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn f64(&mut self) -> f64 {
        self.inner.next_f64()
    }

    /// Uniform integer in [0, n). n > 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        self.inner.below(n)
    }

    /// Uniform integer in [lo, hi] (inclusive).
    #[inline]
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(hi >= lo);
        lo + self.below((hi - lo) as u64 + 1) as i64
    }

    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64(); // (0, 1]
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Index drawn proportionally to `weights` (small slices; linear scan).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        // Rounding: return the last index with a positive weight.
        weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
    }

    /// Integer "log-uniform" delay in seconds between `lo` and `hi` (inclusive), `lo >= 1`:
    /// a power-of-two bucket is chosen uniformly, then a uniform value inside it.
    /// Integer-only, so it is bit-exact everywhere.
    #[inline]
    pub fn log_delay(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo >= 1);
        if hi <= lo {
            return lo;
        }
        let ratio = (hi / lo).max(1) as u64;
        let buckets = 64 - ratio.leading_zeros() as u64; // floor(log2(ratio)) + 1
        let b = self.below(buckets);
        let a = lo << b;
        let z = (a * 2).min(hi + 1);
        if z <= a {
            return a.min(hi);
        }
        a + self.below((z - a) as u64) as i64
    }
}

/// Walker/Vose alias table over a set of item ids.
#[derive(Clone, Debug)]
pub struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
    items: Vec<u32>,
}

impl Alias {
    /// Returns None when there is no item with positive weight.
    pub fn new(items: &[u32], weights: &[f64]) -> Option<Alias> {
        assert_eq!(items.len(), weights.len());
        let pairs: Vec<(u32, f64)> = items
            .iter()
            .zip(weights)
            .filter(|(_, w)| **w > 0.0)
            .map(|(i, w)| (*i, *w))
            .collect();
        let n = pairs.len();
        if n == 0 {
            return None;
        }
        let total: f64 = pairs.iter().map(|p| p.1).sum();
        let mut scaled: Vec<f64> = pairs.iter().map(|p| p.1 * n as f64 / total).collect();
        let mut prob = vec![1.0; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let mut small: Vec<usize> = Vec::new();
        let mut large: Vec<usize> = Vec::new();
        for (i, s) in scaled.iter().enumerate() {
            if *s < 1.0 {
                small.push(i);
            } else {
                large.push(i);
            }
        }
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            prob[s] = scaled[s];
            alias[s] = l as u32;
            scaled[l] = (scaled[l] + scaled[s]) - 1.0;
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers (numerical rounding) keep prob 1.0.
        Some(Alias {
            prob,
            alias,
            items: pairs.iter().map(|p| p.0).collect(),
        })
    }

    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> u32 {
        let i = rng.below(self.prob.len() as u64) as usize;
        if rng.f64() < self.prob[i] {
            self.items[i]
        } else {
            self.items[self.alias[i] as usize]
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_streams() {
        let mut a = Rng::new(42, 1, 7);
        let mut b = Rng::new(42, 1, 7);
        let mut c = Rng::new(42, 1, 8);
        let va: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let vc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
    }

    #[test]
    fn log_delay_bounds() {
        let mut r = Rng::new(1, 2, 3);
        for hi in [60, 61, 100, 1000, 604_800] {
            for _ in 0..2000 {
                let d = r.log_delay(60, hi);
                assert!((60..=hi.max(60)).contains(&d), "{d} not in 60..={hi}");
            }
        }
    }

    #[test]
    fn alias_matches_weights() {
        let items = [10u32, 20, 30];
        let w = [1.0, 0.0, 3.0];
        let a = Alias::new(&items, &w).unwrap();
        assert_eq!(a.len(), 2);
        let mut r = Rng::new(5, 0, 0);
        let mut c30 = 0;
        for _ in 0..40_000 {
            let x = a.sample(&mut r);
            assert!(x == 10 || x == 30);
            if x == 30 {
                c30 += 1;
            }
        }
        let share = c30 as f64 / 40_000.0;
        assert!((share - 0.75).abs() < 0.02, "{share}");
        assert!(Alias::new(&items, &[0.0, 0.0, 0.0]).is_none());
    }
}
