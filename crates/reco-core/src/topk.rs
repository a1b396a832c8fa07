//! Top-k selection: the last step of every ranking (recommend, similar, segments, evaluation).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A candidate in the selection heap. Its `Ord` says "is worse than": the
/// max-heap's top is the worst of the kept candidates, ready to be evicted.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    score: f32,
    index: usize,
}

impl Candidate {
    /// Ranking order: higher score first, then smaller index. Scores are never
    /// NaN here, so `partial_cmp` is total (and -0.0 ties with 0.0).
    fn better_than(&self, other: &Candidate) -> bool {
        match self.score.partial_cmp(&other.score) {
            Some(Ordering::Greater) => true,
            Some(Ordering::Less) => false,
            _ => self.index < other.index,
        }
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        if self.better_than(other) {
            Ordering::Less
        } else if other.better_than(self) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    }
}

/// The `k` best `(index, score)` pairs: highest score first, ties broken by
/// the smaller index. Indices for which `skip(i)` is true and NaN scores are
/// ignored. Runs in O(n log k) with a bounded heap; `k = 0` gives an empty
/// vector and fewer than `k` eligible entries gives all of them.
pub fn top_k(scores: &[f32], k: usize, skip: impl Fn(usize) -> bool) -> Vec<(usize, f32)> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Candidate> = BinaryHeap::with_capacity(k.min(scores.len()) + 1);
    for (index, &score) in scores.iter().enumerate() {
        if score.is_nan() {
            continue;
        }
        let cand = Candidate { score, index };
        if heap.len() == k {
            // Cheap rejection before the (possibly expensive) skip predicate.
            let worst = heap.peek().expect("heap is full");
            if !cand.better_than(worst) {
                continue;
            }
        }
        if skip(index) {
            continue;
        }
        heap.push(cand);
        if heap.len() > k {
            heap.pop();
        }
    }
    // Ascending in `Ord` = best first.
    heap.into_sorted_vec()
        .into_iter()
        .map(|c| (c.index, c.score))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_order_and_ties() {
        let scores = [0.5, 0.9, 0.1, 0.9, 0.7];
        assert_eq!(
            top_k(&scores, 3, |_| false),
            vec![(1, 0.9), (3, 0.9), (4, 0.7)]
        );
        assert_eq!(top_k(&scores, 1, |_| false), vec![(1, 0.9)]);
        // k larger than the input returns everything, sorted.
        assert_eq!(
            top_k(&scores, 10, |_| false),
            vec![(1, 0.9), (3, 0.9), (4, 0.7), (0, 0.5), (2, 0.1)]
        );
        assert!(top_k(&scores, 0, |_| false).is_empty());
        assert!(top_k(&[], 3, |_| false).is_empty());
    }

    #[test]
    fn ties_prefer_smaller_index_even_when_seen_later() {
        // All equal: must return indices 0, 1, 2 regardless of heap order.
        let scores = [1.0f32; 10];
        assert_eq!(
            top_k(&scores, 3, |_| false),
            vec![(0, 1.0), (1, 1.0), (2, 1.0)]
        );
        // -0.0 and 0.0 are equal scores: tie broken by index.
        assert_eq!(top_k(&[0.0, -0.0], 2, |_| false), vec![(0, 0.0), (1, -0.0)]);
        assert_eq!(top_k(&[-0.0, 0.0], 1, |_| false)[0].0, 0);
    }

    #[test]
    fn skip_and_nan() {
        let scores = [f32::NAN, 3.0, 2.0, f32::INFINITY, 1.0, f32::NEG_INFINITY];
        assert_eq!(top_k(&scores, 2, |i| i == 3), vec![(1, 3.0), (2, 2.0)]);
        assert_eq!(
            top_k(&scores, 2, |_| false),
            vec![(3, f32::INFINITY), (1, 3.0)]
        );
        let all = top_k(&scores, 10, |_| false);
        assert_eq!(all.len(), 5);
        assert_eq!(all.last().unwrap().0, 5);
        assert!(top_k(&[f32::NAN; 4], 2, |_| false).is_empty());
        assert!(top_k(&[1.0, 2.0], 2, |_| true).is_empty());
    }

    #[test]
    fn matches_full_sort_on_random_input() {
        let mut rng = crate::rng::Rng::new(5);
        let scores: Vec<f32> = (0..5000).map(|_| (rng.below(100) as f32) / 10.0).collect();
        let mut all: Vec<(usize, f32)> = scores
            .iter()
            .copied()
            .enumerate()
            .filter(|(i, _)| i % 7 != 0)
            .collect();
        all.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
        all.truncate(50);
        assert_eq!(top_k(&scores, 50, |i| i % 7 == 0), all);
    }
}
