//! Top-k selection and scoring helpers used at recommendation time.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::ArrayView2;
use rayon::prelude::*;
use sprs::CsMat;

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

/// Dot products of every row of `matrix` with a sparse `query` given as
/// `(column, weight)` pairs (duplicate columns are summed; columns outside
/// the matrix are ignored). With L2-normalised rows and query — as produced
/// by [`crate::tfidf`] — these are cosine similarities.
///
/// Speed depends on the storage of `matrix`:
/// * **CSC** (recommended; convert once with `to_csc()` and keep it): only the
///   columns of the query terms are visited, O(Σ nnz of those columns).
/// * **CSR**: every stored entry is visited once, in parallel over rows.
pub fn cosine_scores_sparse(matrix: &CsMat<f32>, query: &[(usize, f32)]) -> Vec<f32> {
    let (rows, cols) = (matrix.rows(), matrix.cols());
    let mut scores = vec![0f32; rows];
    if query.is_empty() || rows == 0 {
        return scores;
    }
    let indptr = matrix.proper_indptr();
    let indices = &matrix.indices()[..matrix.nnz()];
    let data = &matrix.data()[..matrix.nnz()];
    if matrix.is_csc() {
        // Accumulate in f64 and round once; columns in query order.
        let mut acc = vec![0f64; rows];
        for &(j, w) in query {
            if j >= cols || w == 0.0 {
                continue;
            }
            let w = w as f64;
            for p in indptr[j]..indptr[j + 1] {
                acc[indices[p]] += w * data[p] as f64;
            }
        }
        for (s, a) in scores.iter_mut().zip(acc) {
            *s = a as f32;
        }
    } else {
        let mut dense_query = vec![0f32; cols];
        for &(j, w) in query {
            if j < cols {
                dense_query[j] += w;
            }
        }
        scores
            .par_iter_mut()
            .enumerate()
            .with_min_len(1024)
            .for_each(|(i, s)| {
                let mut acc = 0f64;
                for p in indptr[i]..indptr[i + 1] {
                    acc += data[p] as f64 * dense_query[indices[p]] as f64;
                }
                *s = acc as f32;
            });
    }
    scores
}

/// Dense scores `factors · query` (one score per row of an n × k factor
/// matrix, e.g. `TruncatedSvd::shoe_factors` against a user's factor row).
/// Accumulates in `f64`; parallel over rows.
pub fn dot_scores(factors: ArrayView2<'_, f32>, query: &[f32]) -> Vec<f32> {
    assert_eq!(
        factors.ncols(),
        query.len(),
        "query length must equal the number of factors"
    );
    let mut scores = vec![0f32; factors.nrows()];
    scores
        .par_iter_mut()
        .enumerate()
        .with_min_len(1024)
        .for_each(|(i, s)| {
            let acc: f64 = factors
                .row(i)
                .iter()
                .zip(query)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum();
            *s = acc as f32;
        });
    scores
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use sprs::TriMat;

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

    fn small_matrix() -> CsMat<f32> {
        // rows: [0.6, 0.8, 0], [0, 0, 1], [1, 0, 0]
        let mut t = TriMat::new((3, 3));
        t.add_triplet(0, 0, 0.6f32);
        t.add_triplet(0, 1, 0.8);
        t.add_triplet(1, 2, 1.0);
        t.add_triplet(2, 0, 1.0);
        t.to_csr()
    }

    #[test]
    fn cosine_scores_csr_and_csc_agree() {
        let csr = small_matrix();
        let csc = csr.to_csc();
        let query = [(0usize, 0.6f32), (1, 0.8)];
        let expect = [1.0f32, 0.0, 0.6];
        for m in [&csr, &csc] {
            let s = cosine_scores_sparse(m, &query);
            for (a, b) in s.iter().zip(expect) {
                assert!((a - b).abs() < 1e-6, "{s:?}");
            }
        }
        // Out-of-range and empty queries.
        assert_eq!(cosine_scores_sparse(&csc, &[(99, 1.0)]), vec![0.0; 3]);
        assert_eq!(cosine_scores_sparse(&csr, &[]), vec![0.0; 3]);
    }

    #[test]
    fn dense_dot_scores() {
        let f = array![[1.0f32, 0.0], [0.5, 0.5], [0.0, -2.0]];
        assert_eq!(dot_scores(f.view(), &[2.0, 1.0]), vec![2.0, 1.5, -2.0]);
    }
}
