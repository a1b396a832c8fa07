//! Pure parts of the model lifecycle (pruning old versions, the activation guard) and of the
//! comparison of two model versions (overlap of their recommendations, concentration and
//! coverage of what they recommend).
//!
//! # Definitions
//!
//! * **Pruning** ([`versions_to_prune`]): given the versions newest first, the `keep` newest are
//!   kept, and so is every *protected* version (pinned, active, rollback target). A protected
//!   version among the `keep` newest uses up one of the `keep` places; a protected version older
//!   than that is kept in addition. Everything else is pruned.
//! * **Mean Jaccard overlap** ([`mean_jaccard`]) of paired lists `(A_u, B_u)`, as sets:
//!   `(1 / U) Σ_u |A_u ∩ B_u| / |A_u ∪ B_u|`, where a pair of two empty lists counts as `1`.
//! * **Gini coefficient** ([`gini`]) of counts `x` over *all* `n` items (zeros included), with
//!   `x_(1) ≤ … ≤ x_(n)` sorted ascending and `i` 1-based:
//!   `G = Σ_i (2i − n − 1) · x_(i) / (n · Σ_i x_i)`;
//!   `0` when all counts are equal, `(n − 1) / n` (→ 1) when one item has everything, and `0`
//!   when the total is `0`.
//! * **Top share** ([`top_share`]): the share of the total count that goes to the
//!   `k = max(1, ⌈s · n⌉)` items with the largest counts (`k ≤ n`).
//! * **Coverage** ([`coverage`]): `|⋃_u L_u| / catalogue_size`, the distinct ids recommended
//!   across all lists over the catalogue size.
//! * **Quality guard** ([`quality_guard`]): a candidate may be activated when
//!   `candidate ≥ active · (1 − max_relative_drop)`.

use std::collections::HashSet;

/// Versions to delete: those beyond the `keep` newest that are not `protected`, in the order of
/// `versions_newest_first` (so newest first).
///
/// Protected versions *do* count against `keep` when they are among the `keep` newest; protected
/// versions older than that are kept in addition. With `keep = 0` every unprotected version is
/// pruned. Protected ids that are not in the list are ignored.
pub fn versions_to_prune(
    versions_newest_first: &[i64],
    keep: usize,
    protected: &[i64],
) -> Vec<i64> {
    versions_newest_first
        .iter()
        .skip(keep)
        .filter(|v| !protected.contains(v))
        .copied()
        .collect()
}

/// Jaccard index of two lists taken as sets; two empty lists give `1`.
fn jaccard(a: &[i64], b: &[i64]) -> f64 {
    let a: HashSet<i64> = a.iter().copied().collect();
    let b: HashSet<i64> = b.iter().copied().collect();
    let union = a.union(&b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

/// Mean over the pairs `(a[u], b[u])` of the Jaccard index `|A ∩ B| / |A ∪ B|` of the two lists
/// taken as sets (duplicates within a list are ignored; two empty lists count as `1.0`).
/// `None` when there are no pairs.
///
/// # Panics
///
/// If `a` and `b` have different lengths (they must be paired, e.g. by user).
pub fn mean_jaccard(a: &[Vec<i64>], b: &[Vec<i64>]) -> Option<f64> {
    assert_eq!(a.len(), b.len(), "mean_jaccard: the lists must be paired");
    if a.is_empty() {
        return None;
    }
    let sum: f64 = a.iter().zip(b).map(|(a, b)| jaccard(a, b)).sum();
    Some(sum / a.len() as f64)
}

/// Gini coefficient of `counts` over all items (zeros included):
/// `Σ_i (2i − n − 1) · x_(i) / (n · Σ x)` with `x` sorted ascending and `i` 1-based.
/// `0` means equal counts; it approaches `1` as the counts concentrate on one item. Returns `0`
/// when the sum is `0` (including an empty slice). Counts are expected to be non-negative.
pub fn gini(counts: &[f64]) -> f64 {
    let total: f64 = counts.iter().sum();
    if total == 0.0 {
        return 0.0;
    }
    let mut sorted = counts.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let weighted: f64 = sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| (2.0 * (i as f64 + 1.0) - n - 1.0) * x)
        .sum();
    weighted / (n * total)
}

/// Share of the total count that goes to the top `k = ⌈share_of_items · n⌉` items by count,
/// with `k` clamped to `1..=n` (so at least one item, also for `share_of_items ≤ 0` or NaN).
/// Returns `0` when the total is `0` (including an empty slice).
///
/// `share_of_items · n` is shrunk by a relative `1e-12` before the ceiling, so that a product
/// that is an integer up to floating-point rounding (`0.07 · 100 = 7.000000000000001`) is not
/// rounded up to the next item.
pub fn top_share(counts: &[f64], share_of_items: f64) -> f64 {
    let total: f64 = counts.iter().sum();
    if counts.is_empty() || total == 0.0 {
        return 0.0;
    }
    let n = counts.len();
    let wanted = (share_of_items * n as f64 * (1.0 - 1e-12)).ceil();
    // `as usize` saturates and maps NaN to 0; the clamp then gives at least one item.
    let k = (wanted as usize).clamp(1, n);
    let mut sorted = counts.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    sorted[..k].iter().sum::<f64>() / total
}

/// Catalogue coverage: the number of distinct ids across all `lists` divided by
/// `catalogue_size`; `0` when `catalogue_size == 0`. Not clamped: ids outside the catalogue
/// would push it above 1.
pub fn coverage(lists: &[Vec<i64>], catalogue_size: usize) -> f64 {
    if catalogue_size == 0 {
        return 0.0;
    }
    let distinct: HashSet<i64> = lists.iter().flatten().copied().collect();
    distinct.len() as f64 / catalogue_size as f64
}

/// Whether a candidate model may be activated, by its offline nDCG against the active model's:
/// `candidate_ndcg ≥ active_ndcg · (1 − max_relative_drop)`.
///
/// In this order:
/// * `active_ndcg` NaN or `≤ 0` (no active model, or nothing to lose): `true`, whatever the
///   candidate;
/// * `candidate_ndcg` NaN: `false`;
/// * otherwise the comparison above (a NaN `max_relative_drop` makes it `false`).
pub fn quality_guard(candidate_ndcg: f64, active_ndcg: f64, max_relative_drop: f64) -> bool {
    if active_ndcg.is_nan() || active_ndcg <= 0.0 {
        return true;
    }
    if candidate_ndcg.is_nan() {
        return false;
    }
    candidate_ndcg >= active_ndcg * (1.0 - max_relative_drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() <= 1e-12,
            "expected {expected:?}, got {actual:?}"
        );
    }

    #[test]
    fn prune_keeps_newest_and_protected() {
        let versions = [10, 9, 8, 7, 6, 5];
        // Keep 10, 9 (9 is protected and uses a place); 6 is protected and older: kept extra.
        assert_eq!(versions_to_prune(&versions, 2, &[9, 6]), vec![8, 7, 5]);
        // Nothing protected.
        assert_eq!(versions_to_prune(&versions, 4, &[]), vec![6, 5]);
        // keep = 0: all but the protected ones; unknown protected ids are ignored.
        assert_eq!(
            versions_to_prune(&versions, 0, &[7, 42]),
            vec![10, 9, 8, 6, 5]
        );
        // keep beyond the list: nothing to prune.
        assert_eq!(versions_to_prune(&versions, 10, &[]), Vec::<i64>::new());
        assert_eq!(versions_to_prune(&[], 3, &[1]), Vec::<i64>::new());
    }

    #[test]
    fn jaccard_means() {
        // [1,2,3] vs [2,3,4]: |{2,3}| / |{1,2,3,4}| = 2/4 = 0.5
        assert_eq!(mean_jaccard(&[vec![1, 2, 3]], &[vec![2, 3, 4]]), Some(0.5));
        // Pairs: 0.5; both empty → 1; [1,2,3,4] vs [4] → 1/4; [5] vs [6] → 0;
        // duplicates ignored: [1,1,2] vs [2,1] → 1.
        // mean = (0.5 + 1 + 0.25 + 0 + 1) / 5 = 2.75 / 5 = 0.55
        let a = vec![
            vec![1, 2, 3],
            vec![],
            vec![1, 2, 3, 4],
            vec![5],
            vec![1, 1, 2],
        ];
        let b = vec![vec![2, 3, 4], vec![], vec![4], vec![6], vec![2, 1]];
        assert_close(mean_jaccard(&a, &b).unwrap(), 0.55);
        // One side empty → 0.
        assert_eq!(mean_jaccard(&[vec![]], &[vec![1]]), Some(0.0));
        assert_eq!(mean_jaccard(&[], &[]), None);
    }

    #[test]
    #[should_panic(expected = "paired")]
    fn jaccard_requires_pairs() {
        mean_jaccard(&[vec![1]], &[]);
    }

    #[test]
    fn gini_cases() {
        // python3: x sorted, sum((2*i-n-1)*v for i,v in enumerate(x,1)) / (n*sum(x))
        // [0,0,0,1] → 3·1/(4·1) = 0.75
        assert_close(gini(&[0.0, 0.0, 0.0, 1.0]), 0.75);
        assert_close(gini(&[1.0, 0.0, 0.0, 0.0]), 0.75);
        assert_close(gini(&[1.0, 1.0, 1.0, 1.0]), 0.0);
        // [1,2,3,4]: (−3·1 − 1·2 + 1·3 + 3·4) / (4·10) = 10/40 = 0.25; order does not matter.
        assert_close(gini(&[1.0, 2.0, 3.0, 4.0]), 0.25);
        assert_close(gini(&[3.0, 1.0, 4.0, 2.0]), 0.25);
        // [0,2,0,6,2] sorted [0,0,2,2,6]: (0·2 + 2·2 + 4·6) / (5·10) = 28/50 = 0.56
        assert_close(gini(&[0.0, 2.0, 0.0, 6.0, 2.0]), 0.56);
        assert_eq!(gini(&[0.0, 0.0]), 0.0);
        assert_eq!(gini(&[]), 0.0);
    }

    #[test]
    fn top_share_cases() {
        let counts = [5.0, 1.0, 3.0, 1.0]; // total 10
        assert_close(top_share(&counts, 0.25), 0.5); // top 1: 5
        assert_close(top_share(&counts, 0.3), 0.8); // ⌈1.2⌉ = 2: 5 + 3
        assert_close(top_share(&counts, 0.5), 0.8);
        assert_close(top_share(&counts, 0.0), 0.5); // at least one item
        assert_close(top_share(&counts, f64::NAN), 0.5);
        assert_close(top_share(&counts, 1.0), 1.0);
        assert_close(top_share(&counts, 2.0), 1.0);
        assert_eq!(top_share(&[0.0, 0.0], 0.5), 0.0);
        assert_eq!(top_share(&[], 0.5), 0.0);
        // 0.07 · 100 = 7.000000000000001 in f64: still the top 7 items, not 8.
        assert_close(top_share(&[1.0; 100], 0.07), 0.07);
    }

    #[test]
    fn coverage_cases() {
        let lists = vec![vec![1, 2, 3], vec![2, 3, 4], vec![]];
        assert_close(coverage(&lists, 8), 0.5); // {1,2,3,4} / 8
        assert_close(coverage(&lists, 5), 0.8);
        assert_eq!(coverage(&lists, 0), 0.0);
        assert_eq!(coverage(&[], 10), 0.0);
    }

    #[test]
    fn quality_guard_cases() {
        // Threshold 0.5 · (1 − 0.25) = 0.375 (exact in f64).
        assert!(quality_guard(0.375, 0.5, 0.25));
        assert!(quality_guard(0.6, 0.5, 0.25));
        assert!(!quality_guard(0.3749, 0.5, 0.25));
        // Zero tolerance: must not be worse.
        assert!(quality_guard(0.5, 0.5, 0.0));
        assert!(!quality_guard(0.4999, 0.5, 0.0));
        // No usable active score: allowed, even for a NaN candidate.
        assert!(quality_guard(0.1, f64::NAN, 0.1));
        assert!(quality_guard(0.1, 0.0, 0.1));
        assert!(quality_guard(f64::NAN, -1.0, 0.1));
        assert!(quality_guard(f64::NAN, f64::NAN, 0.1));
        // NaN candidate against a real active score: refused.
        assert!(!quality_guard(f64::NAN, 0.5, 0.25));
        // NaN tolerance: refused.
        assert!(!quality_guard(0.9, 0.5, f64::NAN));
    }
}
