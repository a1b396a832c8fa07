//! Offline ranking metrics with binary relevance, following Microsoft
//! Recommenders' `recommenders/evaluation/python_evaluation.py`.
//!
//! For one user with ranked recommendations `r₁, r₂, …`, relevant set `R`
//! and cut-off `k` (ranks are 1-based; only the first `k` recommendations
//! count, and a repeated item counts as a hit only at its first occurrence):
//!
//! * `precision@k = hits / k` (divides by `k` even if fewer were recommended)
//! * `recall@k    = hits / |R|`
//! * `nDCG@k      = DCG / IDCG`, `DCG = Σ_{hit ranks i} 1 / log₂(i + 1)`,
//!   `IDCG = Σ_{i=1..min(k, |R|)} 1 / log₂(i + 1)`. (Recommenders defaults to
//!   natural log, which cancels in the ratio.)
//! * `MAP@k`: Recommenders' `map_at_k` —
//!   `Σ_{hit ranks i} (hits within the first i) / i`, divided by `min(|R|, k)`.
//!   (Their separate `map` function divides by `|R|` instead; that is the
//!   older `map_at_k` behaviour. We implement the current `map_at_k`.)
//! * `hit_rate@k  = 1` if at least one hit, else 0.
//!
//! Aggregates are means over users with at least one relevant item. Unlike
//! Recommenders, which only averages over users present in both the truth
//! and the prediction tables, a user with relevant items but an empty
//! ranking here counts (with all metrics 0).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Mean ranking metrics over `users` users.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub map: f64,
    pub hit_rate: f64,
    /// Number of users averaged over (those with ≥ 1 relevant item).
    pub users: usize,
}

/// `(precision, recall, ndcg, map, hit_rate)` at `k` for one user, or `None`
/// when `relevant` is empty (the user cannot be evaluated). `k = 0` gives all
/// zeros.
pub fn evaluate_user(
    ranked: &[u64],
    relevant: &HashSet<u64>,
    k: usize,
) -> Option<(f64, f64, f64, f64, f64)> {
    if relevant.is_empty() {
        return None;
    }
    if k == 0 {
        return Some((0.0, 0.0, 0.0, 0.0, 0.0));
    }
    let mut seen = HashSet::new();
    let mut hits = 0usize;
    let mut dcg = 0.0;
    let mut precision_sum = 0.0;
    for (pos, item) in ranked.iter().take(k).enumerate() {
        let rank = pos + 1;
        if relevant.contains(item) && seen.insert(*item) {
            hits += 1;
            dcg += 1.0 / ((rank + 1) as f64).log2();
            precision_sum += hits as f64 / rank as f64;
        }
    }
    let ideal_hits = relevant.len().min(k);
    let idcg: f64 = (1..=ideal_hits)
        .map(|i| 1.0 / ((i + 1) as f64).log2())
        .sum();
    let precision = hits as f64 / k as f64;
    let recall = hits as f64 / relevant.len() as f64;
    let ndcg = dcg / idcg;
    let map = precision_sum / ideal_hits as f64;
    let hit_rate = if hits > 0 { 1.0 } else { 0.0 };
    Some((precision, recall, ndcg, map, hit_rate))
}

/// Mean of [`evaluate_user`] over all users with at least one relevant item.
/// Each item of `per_user` is `(ranked recommendations, relevant items)`.
/// With no evaluable user all means are 0 and `users` is 0.
pub fn evaluate(
    per_user: impl IntoIterator<Item = (Vec<u64>, HashSet<u64>)>,
    k: usize,
) -> RankingMetrics {
    let mut sum = RankingMetrics::default();
    for (ranked, relevant) in per_user {
        if let Some((p, r, n, m, h)) = evaluate_user(&ranked, &relevant, k) {
            sum.precision += p;
            sum.recall += r;
            sum.ndcg += n;
            sum.map += m;
            sum.hit_rate += h;
            sum.users += 1;
        }
    }
    if sum.users == 0 {
        return sum;
    }
    let u = sum.users as f64;
    RankingMetrics {
        precision: sum.precision / u,
        recall: sum.recall / u,
        ndcg: sum.ndcg / u,
        map: sum.map / u,
        hit_rate: sum.hit_rate / u,
        users: sum.users,
    }
}

/// Catalogue coverage: distinct recommended items / `catalogue_size`
/// (0 for an empty catalogue). Items are assumed to belong to the catalogue.
pub fn catalogue_coverage(
    recommended: impl IntoIterator<Item = u64>,
    catalogue_size: usize,
) -> f64 {
    if catalogue_size == 0 {
        return 0.0;
    }
    let distinct: HashSet<u64> = recommended.into_iter().collect();
    distinct.len() as f64 / catalogue_size as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[u64]) -> HashSet<u64> {
        items.iter().copied().collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn hand_computed_single_user() {
        // Hits at ranks 2 and 4 of 5; 3 relevant items (9 is never shown).
        let ranked = [1, 2, 3, 4, 5];
        let rel = set(&[2, 4, 9]);
        let (p, r, n, m, h) = evaluate_user(&ranked, &rel, 5).unwrap();
        assert!(close(p, 0.4));
        assert!(close(r, 2.0 / 3.0));
        // DCG = 1/log2(3) + 1/log2(5) = 1.0616063; IDCG = 1 + 1/log2(3) + 1/2 = 2.1309298
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!(close(n, dcg / idcg));
        assert!((n - 0.498_189).abs() < 1e-6);
        // MAP: (1/2 + 2/4) / min(3, 5) = 1/3
        assert!(close(m, 1.0 / 3.0));
        assert!(close(h, 1.0));

        // k = 3: one hit at rank 2.
        let (p, r, n, m, _) = evaluate_user(&ranked, &rel, 3).unwrap();
        assert!(close(p, 1.0 / 3.0));
        assert!(close(r, 1.0 / 3.0));
        assert!(close(n, (1.0 / 3f64.log2()) / idcg));
        assert!(close(m, 0.5 / 3.0));

        // k = 2: MAP divides by min(|R|, k) = 2; IDCG over 2 positions.
        let (p, _, n, m, _) = evaluate_user(&ranked, &rel, 2).unwrap();
        assert!(close(p, 0.5));
        assert!(close(m, 0.25));
        assert!(close(n, (1.0 / 3f64.log2()) / (1.0 + 1.0 / 3f64.log2())));
    }

    #[test]
    fn perfect_miss_and_edge_cases() {
        let (p, r, n, m, h) = evaluate_user(&[7, 8], &set(&[7, 8]), 2).unwrap();
        assert!(close(p, 1.0) && close(r, 1.0) && close(n, 1.0) && close(m, 1.0) && close(h, 1.0));
        // Fewer recommendations than k: precision still divides by k.
        let (p, r, n, m, h) = evaluate_user(&[7], &set(&[7]), 4).unwrap();
        assert!(close(p, 0.25) && close(r, 1.0) && close(n, 1.0) && close(m, 1.0) && close(h, 1.0));
        let (p, r, n, m, h) = evaluate_user(&[1, 2], &set(&[3]), 2).unwrap();
        assert_eq!((p, r, n, m, h), (0.0, 0.0, 0.0, 0.0, 0.0));
        assert_eq!(evaluate_user(&[1, 2], &set(&[]), 2), None);
        assert_eq!(
            evaluate_user(&[1], &set(&[1]), 0),
            Some((0.0, 0.0, 0.0, 0.0, 0.0))
        );
        // A duplicated item is one hit only.
        let (p, r, _, _, _) = evaluate_user(&[5, 5, 6], &set(&[5, 6]), 3).unwrap();
        assert!(close(p, 2.0 / 3.0) && close(r, 1.0));
    }

    #[test]
    fn mean_over_users_with_relevant_items() {
        let users = vec![
            (vec![1, 2, 3, 4, 5], set(&[2, 4, 9])), // p .4, r 2/3, map 1/3
            (vec![9], set(&[9])),                   // p .2, r 1, ndcg 1, map 1
            (vec![1, 2], set(&[])),                 // skipped
            (vec![], set(&[3])),                    // all zero
        ];
        let m = evaluate(users, 5);
        assert_eq!(m.users, 3);
        assert!(close(m.precision, (0.4 + 0.2) / 3.0));
        assert!(close(m.recall, (2.0 / 3.0 + 1.0) / 3.0));
        let n1 = (1.0 / 3f64.log2() + 1.0 / 5f64.log2()) / (1.0 + 1.0 / 3f64.log2() + 0.5);
        assert!(close(m.ndcg, (n1 + 1.0) / 3.0));
        assert!(close(m.map, (1.0 / 3.0 + 1.0) / 3.0));
        assert!(close(m.hit_rate, 2.0 / 3.0));

        assert_eq!(evaluate(Vec::new(), 10), RankingMetrics::default());
    }

    #[test]
    fn coverage() {
        assert!(close(catalogue_coverage([1, 2, 2, 3, 1], 10), 0.3));
        assert_eq!(catalogue_coverage([], 10), 0.0);
        assert_eq!(catalogue_coverage([1], 0), 0.0);
    }
}
