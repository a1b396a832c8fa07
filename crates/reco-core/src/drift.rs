//! Distribution drift between a *baseline* window and a *current* window, measured at model
//! refresh (for example: interactions per popularity group of items, or users per activity bin).
//!
//! Every distribution is given as **counts per bin** (`&[f64]`, not necessarily normalised); both
//! sides must use the same bins in the same order. Shares are `b_i = B_i / Σ B` and
//! `c_i = C_i / Σ C`.
//!
//! # Measures
//!
//! * **Population stability index** ([`psi`]):
//!   `PSI = Σ_i (c_i − b_i) · ln(c_i / b_i)`,
//!   where every share is first floored at [`PSI_EPSILON`] (`b_i ← max(b_i, ε)`,
//!   `c_i ← max(c_i, ε)`, *without* renormalising afterwards), so a bin that is empty on one side
//!   gives a large but finite term instead of infinity. Every term is `≥ 0`, so `PSI ≥ 0`, and
//!   `PSI = 0` exactly for identical shares. It is symmetric in its two arguments.
//! * **Jensen–Shannon divergence** ([`js_divergence`]), in bits (log base 2):
//!   `JSD = ½ Σ_i b_i log₂(b_i / m_i) + ½ Σ_i c_i log₂(c_i / m_i)` with `m_i = (b_i + c_i) / 2`
//!   and `0 · log 0 = 0` (no epsilon). It is symmetric, lies in `[0, 1]`, is `0` for identical
//!   shares and `1` for disjoint supports.
//! * **PSI bands** ([`band`]): the usual rule of thumb, `PSI < 0.1` stable,
//!   `0.1 ≤ PSI < 0.25` moderate, `PSI ≥ 0.25` significant.
//!
//! # Invalid input
//!
//! [`psi`] and [`js_divergence`] never panic on data: they return `f64::NAN` when the two slices
//! have different lengths, when any count is negative or not finite, or when either side's total
//! is `0` (this includes empty slices). [`band`] maps `NaN` to `None`.
//!
//! # Bins
//!
//! * [`popularity_groups`] splits the items seen in the baseline into `groups` groups of (nearly)
//!   equal numbers of items by baseline popularity, plus one extra group (index `groups`) for the
//!   items unseen in the baseline; [`grouped_counts`] then sums any per-item counts into those
//!   groups, giving the bins for [`psi`] / [`js_divergence`].
//! * [`activity_bin`] / [`activity_histogram`]: log₂ bins of a user's interaction count,
//!   `bin = min(⌊log₂ n⌋, ACTIVITY_BINS − 1)`.

use serde::Serialize;

/// Floor applied to every share (of both sides) before computing [`psi`]: `max(share, 1e-4)`.
///
/// Without it a bin that is empty on one side makes `ln(c_i / b_i)` infinite. The floored shares
/// are not renormalised, so they may sum to slightly more than 1.
pub const PSI_EPSILON: f64 = 1e-4;

/// Number of bins of [`activity_bin`] (bins `0..ACTIVITY_BINS`); the last bin, 9, holds users
/// with 512 or more interactions.
pub const ACTIVITY_BINS: usize = 10;

/// Shares `x_i / Σ x`, or `None` when the input is not a valid count vector (a negative or
/// non-finite count, or a total that is not strictly positive and finite).
fn shares(counts: &[f64]) -> Option<Vec<f64>> {
    if counts.iter().any(|&x| !x.is_finite() || x < 0.0) {
        return None;
    }
    let total: f64 = counts.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    Some(counts.iter().map(|&x| x / total).collect())
}

/// Population stability index of `current` against `baseline`, both counts over the same bins:
/// `Σ (c_i − b_i) · ln(c_i / b_i)` on shares floored at [`PSI_EPSILON`] (see the module doc).
///
/// Returns `f64::NAN` (never panics) when the lengths differ, a count is negative or not finite,
/// or either total is `0`.
pub fn psi(baseline: &[f64], current: &[f64]) -> f64 {
    if baseline.len() != current.len() {
        return f64::NAN;
    }
    let (Some(b), Some(c)) = (shares(baseline), shares(current)) else {
        return f64::NAN;
    };
    b.iter()
        .zip(&c)
        .map(|(&b, &c)| {
            let b = b.max(PSI_EPSILON);
            let c = c.max(PSI_EPSILON);
            (c - b) * (c / b).ln()
        })
        .sum()
}

/// Jensen–Shannon divergence (log base 2, so in `[0, 1]`) between the shares of `baseline` and
/// `current`, both counts over the same bins; `0 · log 0 = 0` (see the module doc).
///
/// Returns `f64::NAN` (never panics) when the lengths differ, a count is negative or not finite,
/// or either total is `0`.
pub fn js_divergence(baseline: &[f64], current: &[f64]) -> f64 {
    if baseline.len() != current.len() {
        return f64::NAN;
    }
    let (Some(p), Some(q)) = (shares(baseline), shares(current)) else {
        return f64::NAN;
    };
    // x · log₂(x / m), with 0 · log 0 = 0 (m > 0 whenever x > 0).
    let term = |x: f64, m: f64| if x > 0.0 { x * (x / m).log2() } else { 0.0 };
    let sum: f64 = p
        .iter()
        .zip(&q)
        .map(|(&p, &q)| {
            let m = 0.5 * (p + q);
            0.5 * term(p, m) + 0.5 * term(q, m)
        })
        .sum();
    // Rounding may push the result a hair outside its mathematical range.
    sum.clamp(0.0, 1.0)
}

/// Interpretation band of a PSI value (see [`band`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PsiBand {
    /// `PSI < 0.1`: no meaningful shift.
    Stable,
    /// `0.1 ≤ PSI < 0.25`: a moderate shift, worth a look.
    Moderate,
    /// `PSI ≥ 0.25`: a significant shift.
    Significant,
}

impl PsiBand {
    /// `"stable"`, `"moderate"` or `"significant"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PsiBand::Stable => "stable",
            PsiBand::Moderate => "moderate",
            PsiBand::Significant => "significant",
        }
    }
}

/// Band of a PSI value: `< 0.1` → [`PsiBand::Stable`], `[0.1, 0.25)` → [`PsiBand::Moderate`],
/// `≥ 0.25` (including `+∞`) → [`PsiBand::Significant`]; `NaN` → `None`.
pub fn band(psi: f64) -> Option<PsiBand> {
    if psi.is_nan() {
        None
    } else if psi < 0.1 {
        Some(PsiBand::Stable)
    } else if psi < 0.25 {
        Some(PsiBand::Moderate)
    } else {
        Some(PsiBand::Significant)
    }
}

/// Popularity group of every item, from its baseline count (`baseline_counts_per_item[i]` is
/// item `i`'s count).
///
/// The `m` items with a count `> 0` are ranked by count descending, ties by item index
/// ascending; the item of rank `r` (0-based) goes to group `⌊r · groups / m⌋`. So group 0 holds
/// the most popular items, group sizes differ by at most one (the earlier groups being the
/// larger), and when `m < groups` some groups are empty. Items whose baseline count is `0`
/// (or negative, or `NaN`) are *unseen in the baseline* and get the extra group index `groups`;
/// there are therefore `groups + 1` groups in all (pass `groups + 1` to [`grouped_counts`]).
///
/// # Panics
///
/// If `groups == 0`.
pub fn popularity_groups(baseline_counts_per_item: &[f64], groups: usize) -> Vec<usize> {
    assert!(groups > 0, "popularity_groups: groups must be at least 1");
    let mut seen: Vec<usize> = (0..baseline_counts_per_item.len())
        .filter(|&i| baseline_counts_per_item[i] > 0.0)
        .collect();
    // Count descending, then index ascending.
    seen.sort_by(|&a, &b| {
        baseline_counts_per_item[b]
            .total_cmp(&baseline_counts_per_item[a])
            .then(a.cmp(&b))
    });
    let m = seen.len();
    let mut group_of = vec![groups; baseline_counts_per_item.len()];
    for (rank, &item) in seen.iter().enumerate() {
        group_of[item] = rank * groups / m;
    }
    group_of
}

/// Sums `counts_per_item[i]` into bin `group_of[i]`, giving a vector of length `groups_total`
/// (for groups from [`popularity_groups`] with `groups` groups, `groups_total = groups + 1`).
///
/// # Panics
///
/// If the two slices have different lengths, or a group index is `≥ groups_total`.
pub fn grouped_counts(
    counts_per_item: &[f64],
    group_of: &[usize],
    groups_total: usize,
) -> Vec<f64> {
    assert_eq!(
        counts_per_item.len(),
        group_of.len(),
        "grouped_counts: one group per item"
    );
    let mut sums = vec![0.0; groups_total];
    for (&count, &group) in counts_per_item.iter().zip(group_of) {
        sums[group] += count;
    }
    sums
}

/// Activity bin of a user with `interactions` interactions: `min(⌊log₂ n⌋, ACTIVITY_BINS − 1)`,
/// i.e. 1 → 0, 2–3 → 1, 4–7 → 2, …, 256–511 → 8, 512 and more → 9.
///
/// `0` is not a meaningful input (callers skip users without interactions, as
/// [`activity_histogram`] does); it returns bin 0 rather than panicking.
pub fn activity_bin(interactions: u64) -> usize {
    if interactions == 0 {
        return 0;
    }
    let log2 = (u64::BITS - 1 - interactions.leading_zeros()) as usize;
    log2.min(ACTIVITY_BINS - 1)
}

/// Number of users per [`activity_bin`] (a vector of length [`ACTIVITY_BINS`]) from each user's
/// interaction count; users with `0` interactions are skipped.
pub fn activity_histogram(per_user_counts: impl Iterator<Item = u64>) -> Vec<f64> {
    let mut histogram = vec![0.0; ACTIVITY_BINS];
    for n in per_user_counts.filter(|&n| n > 0) {
        histogram[activity_bin(n)] += 1.0;
    }
    histogram
}

/// The drift of one feature between the baseline and the current window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftMeasure {
    /// Name of the feature (for example `"item_popularity"` or `"user_activity"`).
    pub feature: String,
    /// [`psi`] of current against baseline (`NaN` when undefined).
    pub psi: f64,
    /// [`js_divergence`] between baseline and current (`NaN` when undefined).
    pub js_divergence: f64,
    /// Sum of the baseline counts.
    pub baseline_total: f64,
    /// Sum of the current counts.
    pub current_total: f64,
}

/// [`psi`], [`js_divergence`] and both totals of one feature's binned counts.
pub fn measure(feature: &str, baseline: &[f64], current: &[f64]) -> DriftMeasure {
    DriftMeasure {
        feature: feature.to_string(),
        psi: psi(baseline, current),
        js_divergence: js_divergence(baseline, current),
        baseline_total: baseline.iter().sum(),
        current_total: current.iter().sum(),
    }
}

#[cfg(test)]
mod tests {
    //! Reference values from Python 3 (standard library only), with these helpers:
    //!
    //! ```python
    //! import math
    //! def sh(x): t = sum(x); return [v / t for v in x]
    //! def psi(b, c, eps=1e-4):
    //!     b = [max(v, eps) for v in sh(b)]; c = [max(v, eps) for v in sh(c)]
    //!     return sum((ci - bi) * math.log(ci / bi) for bi, ci in zip(b, c))
    //! def jsd(b, c):
    //!     p = sh(b); q = sh(c); m = [(x + y) / 2 for x, y in zip(p, q)]
    //!     kl = lambda a: sum(x * math.log2(x / y) for x, y in zip(a, m) if x > 0)
    //!     return 0.5 * kl(p) + 0.5 * kl(q)
    //! ```

    use super::*;

    #[track_caller]
    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "expected {expected:?}, got {actual:?}"
        );
    }

    #[test]
    fn identical_distributions_have_zero_drift() {
        // Same shares at different scales.
        let b = [10.0, 20.0, 30.0, 0.0];
        let c = [1.0, 2.0, 3.0, 0.0];
        assert_eq!(psi(&b, &c), 0.0);
        assert_eq!(js_divergence(&b, &c), 0.0);
    }

    #[test]
    fn two_bin_case() {
        // b = (0.5, 0.5), c = (0.3, 0.7):
        // PSI = (0.3 − 0.5)·ln(0.6) + (0.7 − 0.5)·ln(1.4) = 0.10216512 + 0.06729445
        // psi([50,50],[30,70]) → 0.16945957207744072
        // jsd([50,50],[30,70]) → 0.030305144839322347
        assert_close(psi(&[50.0, 50.0], &[30.0, 70.0]), 0.16945957207744072);
        assert_close(
            js_divergence(&[50.0, 50.0], &[30.0, 70.0]),
            0.030305144839322347,
        );
    }

    #[test]
    fn three_bin_case_and_symmetry() {
        // psi([2,3,5],[4,4,2]) → 0.44228486291941366
        // jsd([2,3,5],[4,4,2]) → 0.07758920317334433 (same value with arguments swapped)
        let b = [2.0, 3.0, 5.0];
        let c = [4.0, 4.0, 2.0];
        assert_close(psi(&b, &c), 0.44228486291941366);
        assert_close(psi(&c, &b), 0.44228486291941366);
        assert_close(js_divergence(&b, &c), 0.07758920317334433);
        assert_close(js_divergence(&c, &b), js_divergence(&b, &c));
    }

    #[test]
    fn psi_floors_empty_bins_at_epsilon() {
        // b = (1, 0 → 1e-4), c = (0.5, 0.5):
        // PSI = (0.5 − 1)·ln(0.5) + (0.5 − 1e-4)·ln(0.5 / 1e-4) = 0.34657 + 4.25775
        // psi([10,0],[5,5]) → 4.60431846666895
        // jsd([10,0],[5,5]) → 0.31127812445913283 (no epsilon in JSD)
        let p = psi(&[10.0, 0.0], &[5.0, 5.0]);
        assert!(p.is_finite());
        assert_close(p, 4.60431846666895);
        assert_close(psi(&[5.0, 5.0], &[10.0, 0.0]), 4.60431846666895);
        assert_close(
            js_divergence(&[10.0, 0.0], &[5.0, 5.0]),
            0.31127812445913283,
        );
    }

    #[test]
    fn jsd_is_one_for_disjoint_supports() {
        assert_eq!(js_divergence(&[3.0, 0.0, 0.0], &[0.0, 1.0, 7.0]), 1.0);
        assert_eq!(js_divergence(&[0.0, 1.0, 7.0], &[3.0, 0.0, 0.0]), 1.0);
        // Overlapping supports stay strictly below 1.
        let j = js_divergence(&[3.0, 1.0, 0.0], &[0.0, 1.0, 7.0]);
        assert!(j > 0.0 && j < 1.0, "{j}");
    }

    #[test]
    fn undefined_inputs_give_nan() {
        assert!(psi(&[0.0, 0.0], &[1.0, 2.0]).is_nan());
        assert!(psi(&[1.0, 2.0], &[0.0, 0.0]).is_nan());
        assert!(psi(&[], &[]).is_nan());
        assert!(psi(&[1.0, 2.0], &[1.0, 2.0, 3.0]).is_nan());
        assert!(psi(&[1.0, -2.0], &[1.0, 2.0]).is_nan());
        assert!(psi(&[1.0, f64::NAN], &[1.0, 2.0]).is_nan());
        assert!(js_divergence(&[0.0], &[1.0]).is_nan());
        assert!(js_divergence(&[1.0], &[1.0, 0.0]).is_nan());
        assert!(js_divergence(&[1.0, f64::INFINITY], &[1.0, 2.0]).is_nan());
    }

    #[test]
    fn bands_at_the_boundaries() {
        assert_eq!(band(0.0), Some(PsiBand::Stable));
        assert_eq!(band(0.0999), Some(PsiBand::Stable));
        assert_eq!(band(0.1), Some(PsiBand::Moderate));
        assert_eq!(band(0.2499), Some(PsiBand::Moderate));
        assert_eq!(band(0.25), Some(PsiBand::Significant));
        assert_eq!(band(f64::INFINITY), Some(PsiBand::Significant));
        assert_eq!(band(f64::NAN), None);
        assert_eq!(PsiBand::Stable.as_str(), "stable");
        assert_eq!(PsiBand::Moderate.as_str(), "moderate");
        assert_eq!(PsiBand::Significant.as_str(), "significant");
    }

    #[test]
    fn popularity_groups_by_rank_with_unseen_group() {
        // Seen items by count desc, ties by index: 4 (9), 0 (5), 2 (3), 3 (3), 5 (1); m = 5.
        // Group of rank r = r·2/5: ranks 0,1,2 → 0; ranks 3,4 → 1. Item 1 (count 0) → group 2.
        let counts = [5.0, 0.0, 3.0, 3.0, 9.0, 1.0];
        let groups = popularity_groups(&counts, 2);
        assert_eq!(groups, vec![0, 2, 0, 1, 0, 1]);

        // Sum other counts into the 2 + 1 groups.
        let current = [1.0, 4.0, 2.0, 8.0, 16.0, 32.0];
        assert_eq!(
            grouped_counts(&current, &groups, 3),
            vec![1.0 + 2.0 + 16.0, 8.0 + 32.0, 4.0]
        );
        // The baseline itself puts nothing into the unseen group.
        assert_eq!(grouped_counts(&counts, &groups, 3), vec![17.0, 4.0, 0.0]);
    }

    #[test]
    fn popularity_groups_edge_cases() {
        // Fewer seen items than groups: ranks 0, 1 of m = 2 → groups 0·3/2 = 0, 1·3/2 = 1.
        assert_eq!(popularity_groups(&[0.0, 2.0, 7.0], 3), vec![3, 1, 0]);
        // Nothing seen: everything unseen.
        assert_eq!(popularity_groups(&[0.0, 0.0], 4), vec![4, 4]);
        assert_eq!(popularity_groups(&[], 4), Vec::<usize>::new());
    }

    #[test]
    fn activity_bins() {
        let cases = [
            (1, 0),
            (2, 1),
            (3, 1),
            (4, 2),
            (7, 2),
            (8, 3),
            (511, 8),
            (512, 9),
            (10_000, 9),
            (u64::MAX, 9),
        ];
        for (n, bin) in cases {
            assert_eq!(activity_bin(n), bin, "activity_bin({n})");
        }
        let h = activity_histogram([0, 1, 1, 3, 0, 600, 5].into_iter());
        assert_eq!(h, vec![2.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn measure_collects_everything() {
        let m = measure("item_popularity", &[50.0, 50.0], &[30.0, 70.0]);
        assert_eq!(m.feature, "item_popularity");
        assert_close(m.psi, 0.16945957207744072);
        assert_close(m.js_divergence, 0.030305144839322347);
        assert_eq!(m.baseline_total, 100.0);
        assert_eq!(m.current_total, 100.0);
        assert_eq!(band(m.psi), Some(PsiBand::Moderate));
    }
}
