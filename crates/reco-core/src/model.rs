//! Building a model version from its inputs: the pure middle stage of `refresh()` (read the
//! inputs, **build**, write) and the training step of the offline evaluation.
//!
//! ```text
//! ModelInputs { catalog, user_ids, matrix, sequences, segments }
//!                      (matrix: csr_from_triplets of the log; sequences: the same events in time order)
//!   ├─ build_content(catalog)      TF-IDF vocabulary and shoe vectors (needs only the catalogue,
//!   │                              so refresh() starts it while it still reads the log)
//!   └─ build(inputs, content, ..)  popularity, segment popularity, item-item neighbours beside
//!                                  the SVD
//! ```

use std::collections::HashMap;

use sprs::CsMat;

use crate::catalog::Shoe;
use crate::itemknn::{self, KnnParams, Neighbours};
use crate::matrix::{column_sums, grouped_column_sums};
use crate::sequences::Sequences;
use crate::svd::{randomized_svd, SvdParams, TruncatedSvd};
use crate::tfidf::{self, ShoeText, TfidfModel};
use crate::topk::top_k;

/// Shoes kept per cold-start segment.
pub const SEGMENT_TOP: usize = 200;

/// The segment of each matrix row (its most specific key, see segments::segment_keys).
#[derive(Clone, Debug, Default)]
pub struct SegmentAssignment {
    /// Distinct segment keys, in order of first appearance.
    pub names: Vec<String>,
    /// Index into `names` for each matrix row, None for a user without a segment.
    pub of_row: Vec<Option<usize>>,
}

impl SegmentAssignment {
    /// Assign row `row` to segment `key`.
    pub fn assign(&mut self, index: &mut HashMap<String, usize>, row: usize, key: String) {
        let next = self.names.len();
        let g = *index.entry(key.clone()).or_insert_with(|| {
            self.names.push(key);
            next
        });
        self.of_row[row] = Some(g);
    }

    /// Users per segment.
    pub fn users(&self) -> Vec<i32> {
        let mut users = vec![0i32; self.names.len()];
        for g in self.of_row.iter().flatten() {
            users[*g] += 1;
        }
        users
    }
}

/// Everything a model is built from, in owned buffers.
pub struct ModelInputs {
    /// The catalogue in shoe_id order: column `j` of the matrix is `catalog[j]`.
    pub catalog: Vec<Shoe>,
    /// Row `i` of the matrix is user `user_ids[i]`.
    pub user_ids: Vec<i64>,
    /// Users x shoes (CSR): row `i` is `user_ids[i]`, column `j` is `catalog[j]`, each cell the
    /// summed weight of the user's interactions with the shoe
    /// ([`crate::matrix::csr_from_triplets`]).
    pub matrix: CsMat<f32>,
    /// The same interactions as every user's shoes in time order (empty: order unknown, and
    /// the item-item build ignores it; see reco.knn_next_weight).
    pub sequences: Sequences,
    pub segments: SegmentAssignment,
}

/// TF-IDF of the catalogue.
pub struct Content {
    pub vocab: TfidfModel,
    /// One L2-normalised row per shoe (CSR).
    pub matrix: CsMat<f32>,
}

/// Popularity of one segment: its users and its best shoes (catalogue positions) with their
/// summed weights, best first.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentTop {
    pub segment: String,
    pub users: i32,
    pub shoes: Vec<(usize, f32)>,
}

/// A built model version.
pub struct Model {
    /// The catalogue it was built from: shoe `j` of the factors, popularity and content.
    pub catalog: Vec<Shoe>,
    /// User `i` of the user factors.
    pub user_ids: Vec<i64>,
    pub svd: TruncatedSvd,
    /// Summed (decayed) action weights per shoe.
    pub popularity: Vec<f32>,
    pub vocab: TfidfModel,
    pub content: CsMat<f32>,
    pub segments: Vec<SegmentTop>,
    /// Item-item neighbours of every shoe (catalogue positions).
    pub neighbours: Neighbours,
}

/// Settings of a build.
#[derive(Clone, Debug)]
pub struct BuildParams {
    pub svd: SvdParams,
    pub knn: KnnParams,
}

impl Model {
    /// Factors actually kept (<= the requested number).
    pub fn factors(&self) -> usize {
        self.svd.singular_values.len()
    }
}

/// TF-IDF vocabulary and vectors of the catalogue.
pub fn build_content(catalog: &[Shoe]) -> Content {
    let texts: Vec<ShoeText> = catalog.iter().map(Shoe::text).collect();
    let (vocab, matrix) = tfidf::fit_transform(&texts);
    Content { vocab, matrix }
}

/// Build the model from its inputs and the catalogue's content (from [`build_content`] on
/// `inputs.catalog`). `checkpoint` is called on this thread between steps and inside the SVD
/// (cancellation); it may unwind.
pub fn build(
    inputs: ModelInputs,
    content: Content,
    params: &BuildParams,
    checkpoint: &mut dyn FnMut(),
) -> Model {
    let ModelInputs {
        catalog,
        user_ids,
        matrix: a,
        sequences,
        segments,
    } = inputs;
    assert_eq!(
        a.shape(),
        (user_ids.len(), catalog.len()),
        "a row per user, a column per shoe"
    );
    let popularity = column_sums(&a);
    let sums = grouped_column_sums(&a, &segments.of_row, segments.names.len());
    let segments = segment_tops(&segments.names, &segments.users(), &sums);
    drop(sums);
    checkpoint();
    let (neighbours, svd) = knn_beside_svd(&a, &sequences, params, checkpoint);
    drop(sequences);
    Model {
        catalog,
        user_ids,
        svd,
        popularity,
        vocab: content.vocab,
        content: content.matrix,
        segments,
        neighbours,
    }
}

/// The item-item build on another thread while this one runs the SVD: both are parallel, but
/// each has single-threaded steps (the item-item build's copies of the matrix, the SVD's small
/// dense factorisations) that the other one's work fills. `checkpoint` stays on this thread:
/// it runs inside the SVD and, once the SVD is done, every few milliseconds until the item-item
/// build is; if it unwinds (a cancelled query), the item-item thread stops at its next round and
/// the unwinding goes on.
fn knn_beside_svd(
    a: &CsMat<f32>,
    sequences: &Sequences,
    params: &BuildParams,
    checkpoint: &mut dyn FnMut(),
) -> (Neighbours, TruncatedSvd) {
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Sets the flag when dropped while this thread unwinds (out of `checkpoint`).
    struct StopOnUnwind<'a>(&'a AtomicBool);
    impl Drop for StopOnUnwind<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.store(true, Ordering::Relaxed);
            }
        }
    }

    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // None only when stopped, which happens only while this thread unwinds.
        let knn = scope.spawn(|| {
            itemknn::build_with_next_unless(a, Some(sequences), &params.knn, &mut || {
                stop.load(Ordering::Relaxed)
            })
        });
        let _stop = StopOnUnwind(&stop);
        let svd = randomized_svd(a, &params.svd, checkpoint);
        while !knn.is_finished() {
            checkpoint();
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let neighbours = knn
            .join()
            .expect("the item-item build does not panic")
            .expect("only stopped while unwinding");
        checkpoint();
        (neighbours, svd)
    })
}

/// Peak bytes of a refresh: triplets and the CSR matrix (plus its transpose inside the SVD), the
/// tall dense matrices of the SVD (a few m x l and n x l blocks of f32), id maps and catalogue
/// text, and the item-item build (its weighted copy of the matrix by rows and by columns, 24
/// bytes a cell, and `neighbours` (shoe, similarity) pairs per shoe, kept twice while they are
/// gathered), and the histories in time order (while they are built: a time key, a (key,
/// shoe) copy of every event and the sequence, 28 bytes an interaction).
pub fn estimate_peak_bytes(nnz: f64, users: f64, shoes: f64, l: usize, neighbours: usize) -> f64 {
    let l = l as f64;
    nnz * (12.0 + 8.0 + 24.0)
        + users * (4.0 * l * 4.0 + 48.0)
        + shoes * (4.0 * l * 4.0 + 1024.0)
        + nnz * 24.0
        + nnz * 28.0
        + shoes * neighbours as f64 * 16.0
        + 64.0 * 1048576.0
}

/// Top shoes per segment: the specific segments ("usage=.../gender=.../age=..."), plus one
/// broader "usage=..." segment per usage, summed from its specific ones. Specific segments
/// first in the given order, then the broad ones sorted by name.
pub fn segment_tops(names: &[String], users: &[i32], sums: &[Vec<f32>]) -> Vec<SegmentTop> {
    let mut all: Vec<(String, i32, Vec<f32>)> = Vec::new();
    let mut broad: std::collections::BTreeMap<String, (i32, Vec<f32>)> = Default::default();
    for ((name, &u), s) in names.iter().zip(users).zip(sums) {
        let usage_key = name.split('/').next().unwrap_or(name).to_string();
        let entry = broad
            .entry(usage_key)
            .or_insert_with(|| (0, vec![0.0; s.len()]));
        entry.0 += u;
        for (acc, v) in entry.1.iter_mut().zip(s) {
            *acc += v;
        }
        if name.contains('/') {
            all.push((name.clone(), u, s.clone()));
        }
    }
    all.extend(broad.into_iter().map(|(k, (u, s))| (k, u, s)));
    all.into_iter()
        .map(|(segment, users, scores)| SegmentTop {
            segment,
            users,
            shoes: top_k(&scores, SEGMENT_TOP, |i| scores[i] <= 0.0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{csr_from_triplets, Triplets};

    fn shoe(id: i64, name: &str, shoe_type: &str) -> Shoe {
        Shoe {
            shoe_id: id,
            name: name.into(),
            brand: "b".into(),
            shoe_type: shoe_type.into(),
            active: true,
            ..Default::default()
        }
    }

    #[test]
    fn builds_popularity_segments_content_and_factors() {
        // 3 users x 3 shoes. Rows 0 and 1 are runners, row 2 has no segment.
        //   u0: shoe0 5 (two rows: 3 + 2), shoe1 1
        //   u1: shoe1 3
        //   u2: shoe2 4
        let catalog = vec![
            shoe(10, "road runner", "running"),
            shoe(11, "trail runner", "running"),
            shoe(12, "oxford", "formal"),
        ];
        let mut triplets = Triplets::default();
        for (r, c, v) in [
            (0, 0, 3.0),
            (0, 0, 2.0),
            (0, 1, 1.0),
            (1, 1, 3.0),
            (2, 2, 4.0),
        ] {
            triplets.push(r, c, v);
        }
        let mut segments = SegmentAssignment {
            names: Vec::new(),
            of_row: vec![None; 3],
        };
        let mut index = HashMap::new();
        segments.assign(
            &mut index,
            0,
            "usage=running/gender=female/age=25-34".into(),
        );
        segments.assign(&mut index, 1, "usage=running/gender=male/age=25-34".into());
        let content = build_content(&catalog);
        let inputs = ModelInputs {
            matrix: csr_from_triplets(3, catalog.len(), triplets),
            sequences: Sequences::default(),
            catalog,
            user_ids: vec![7, 8, 9],
            segments,
        };
        let params = small_params(3, 2);
        let mut checks = 0;
        let model = build(inputs, content, &params, &mut || checks += 1);
        assert!(checks >= 2);
        assert_eq!(model.popularity, vec![5.0, 4.0, 4.0]);
        // Specific segments, then the broad usage=running summed from both.
        type Row<'a> = (&'a str, i32, Vec<(usize, f32)>);
        let seg: Vec<Row> = model
            .segments
            .iter()
            .map(|s| (s.segment.as_str(), s.users, s.shoes.clone()))
            .collect();
        assert_eq!(
            seg,
            vec![
                (
                    "usage=running/gender=female/age=25-34",
                    1,
                    vec![(0, 5.0), (1, 1.0)]
                ),
                ("usage=running/gender=male/age=25-34", 1, vec![(1, 3.0)]),
                ("usage=running", 2, vec![(0, 5.0), (1, 4.0)]),
            ]
        );
        // Full rank: the factors reproduce the matrix, U S V^T = A.
        assert_eq!(model.factors(), 3);
        let want = [[5.0, 1.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 4.0]];
        for (i, row) in want.iter().enumerate() {
            for (j, &w) in row.iter().enumerate() {
                let got: f32 = (0..3)
                    .map(|f| model.svd.user_factors[[i, f]] * model.svd.shoe_factors[[j, f]])
                    .sum();
                assert!((got - w).abs() < 1e-4, "({i},{j}): {got} vs {w}");
            }
        }
        // Shoes 0 and 1 share user 7 (row 0): cosine 1 / (1 * sqrt 2); shoe 2 shares nobody.
        let (items, sims) = model.neighbours.row(0);
        assert_eq!(items, &[1]);
        assert!((sims[0] - 0.5f32.sqrt()).abs() < 1e-6);
        assert!(model.neighbours.row(2).0.is_empty());
        // One TF-IDF row per shoe, unit length; "runner" is shared by the first two.
        assert_eq!(model.content.rows(), 3);
        let runner = model.vocab.term_index("runner").unwrap();
        assert!(model.content.get(0, runner).is_some());
        assert!(model.content.get(2, runner).is_none());
    }

    #[test]
    fn a_borrowed_copy_serves_and_ranks_as_the_model_itself() {
        // 40 users x 12 shoes of two kinds: users mostly stay with one kind (deterministic).
        let catalog: Vec<Shoe> = (0..12)
            .map(|j| {
                let kind = if j % 2 == 0 { "running" } else { "formal" };
                shoe(100 + j, &format!("{kind} shoe {j}"), kind)
            })
            .collect();
        let mut triplets = Triplets::default();
        for u in 0..40u32 {
            for step in 0..4u32 {
                let j = (u * 7 + step * 5 + (u % 2)) % 12;
                triplets.push(u, j, 1.0 + (step % 3) as f32);
            }
        }
        let content = build_content(&catalog);
        let inputs = ModelInputs {
            matrix: csr_from_triplets(40, catalog.len(), triplets),
            sequences: Sequences::default(),
            catalog,
            user_ids: (0..40).collect(),
            segments: SegmentAssignment {
                names: Vec::new(),
                of_row: vec![None; 40],
            },
        };
        let params = BuildParams {
            svd: SvdParams {
                k: 4,
                oversample: 4,
                power_iters: 2,
                seed: 3,
            },
            knn: KnnParams {
                neighbours: 5,
                shrinkage: 1.0,
                exponent: 2.0,
                max_user_items: 0,
                weighting: itemknn::Weighting::Raw,
                next_weight: 0.0,
            },
        };
        let model = build(inputs, content, &params, &mut || {});
        let borrowed = crate::serving::ServingModel::from_model_ref(&model);
        let owned = crate::serving::ServingModel::from_model(model);
        let users = crate::offline::ScoredUsers {
            user_ids: (0..6).collect(),
            train: (0..6)
                .map(|u| vec![(u, 1.0), ((u + 3) % 12, 5.0)])
                .collect(),
            recency: (0..6).map(|_| vec![1, 0]).collect(),
            relevant: (0..6).map(|u| [(u + 1) % 12].into()).collect(),
        };
        let blend = crate::scoring::Blend {
            knn_weight: 1.0,
            cf_weight: 1.4,
            history_shrinkage: 30.0,
            content_weight: 1.0,
            popularity_weight: 0.05,
            recency_half_life: 2.0,
            recency_floor: 0.25,
            content_terms: 0,
        };
        let all = crate::offline::rank(&owned.view(), &users, 5, &blend);
        let hybrid = crate::offline::rank_hybrid(&borrowed.view(), &users, 5, &blend);
        assert_eq!(hybrid.len(), 6);
        for (h, a) in hybrid.iter().zip(&all) {
            assert_eq!(h, &a[0]);
            assert_eq!(h.len(), 5);
        }
        // The history is left out of the ranking.
        assert!(!hybrid[0].contains(&0) && !hybrid[0].contains(&3));
    }

    /// k factors (oversampling 2, seed 1), 5 plain-cosine neighbours.
    fn small_params(k: usize, power_iters: usize) -> BuildParams {
        BuildParams {
            svd: SvdParams {
                k,
                oversample: 2,
                power_iters,
                seed: 1,
            },
            knn: KnnParams {
                neighbours: 5,
                shrinkage: 0.0,
                exponent: 1.0,
                max_user_items: 0,
                weighting: itemknn::Weighting::Binary,
                next_weight: 0.0,
            },
        }
    }

    #[test]
    fn a_checkpoint_that_unwinds_stops_the_item_item_thread_and_passes_its_panic_on() {
        // 6000 shoes (two item-item rounds), a user per pair of neighbouring shoes.
        let n = 6000usize;
        let mut t = sprs::TriMat::new((n, n));
        for u in 0..n {
            t.add_triplet(u, u, 1.0f32);
            t.add_triplet(u, (u + 1) % n, 1.0);
        }
        let a: CsMat<f32> = t.to_csr();
        let params = small_params(4, 1);
        // Finishing: every shoe's neighbours are the two it shares a user with.
        let (nb, svd) = knn_beside_svd(&a, &Sequences::default(), &params, &mut || {});
        assert_eq!(nb.row(10).0, &[9, 11]);
        assert_eq!(svd.singular_values.len(), 4);
        // Cancelled inside the SVD: the checkpoint's own panic comes out, after the item-item
        // thread has stopped (the scope joins it).
        let mut calls = 0;
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            knn_beside_svd(&a, &Sequences::default(), &params, &mut || {
                calls += 1;
                if calls == 2 {
                    std::panic::panic_any("cancelled by the test");
                }
            })
        }))
        .expect_err("the checkpoint unwinds");
        assert_eq!(
            unwound.downcast_ref::<&str>(),
            Some(&"cancelled by the test")
        );
        // And the item-item build alone stops when asked.
        assert!(itemknn::build_unless(&a, &params.knn, &mut || true).is_none());
        assert!(itemknn::build_unless(&a, &params.knn, &mut || false).is_some());
    }

    #[test]
    fn peak_estimate_grows_with_every_input() {
        let base = estimate_peak_bytes(2e6, 1e5, 2e4, 42, 100);
        assert!(base > 64.0 * 1048576.0);
        assert!(estimate_peak_bytes(4e6, 1e5, 2e4, 42, 100) > base);
        assert!(estimate_peak_bytes(2e6, 2e5, 2e4, 42, 100) > base);
        assert!(estimate_peak_bytes(2e6, 1e5, 2e4, 84, 100) > base);
        assert!(estimate_peak_bytes(2e6, 1e5, 2e4, 42, 200) > base);
        // Tier M: 2M x 44 + 100k x (16 x 42 + 48) + 20k x (16 x 42 + 1024) + 2M x 24
        // + 2M x 28 (histories in time order) + 20k x 100 x 16 + 64 MiB.
        assert_eq!(
            base,
            88e6 + 72e6 + 33.92e6 + 48e6 + 56e6 + 32e6 + 67_108_864.0
        );
    }

    #[test]
    fn segment_tops_drop_zero_scores_and_sort_broad_segments() {
        let names = vec!["usage=hiking/gender=male/age=50-plus".to_string()];
        let tops = segment_tops(&names, &[3], &[vec![0.0, 2.0, 1.0]]);
        assert_eq!(tops.len(), 2);
        assert_eq!(tops[0].shoes, vec![(1, 2.0), (2, 1.0)]);
        assert_eq!(tops[1].segment, "usage=hiking");
        assert_eq!(tops[1].users, 3);
        assert!(segment_tops(&[], &[], &[]).is_empty());
    }
}
