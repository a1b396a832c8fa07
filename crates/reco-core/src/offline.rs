//! Offline evaluation on a time split: per-user train histories and held-out relevant shoes,
//! and the top-k of each method for every scored user.

use std::collections::HashSet;

use crate::topk::top_k;
use rayon::prelude::*;

use crate::scoring::{
    cf_query, cf_scores_batch, content_profile, content_scores_batch, recency_ranks,
    recency_weighted, user_scores_with_parts, Blend, ModelView, UserScores,
};

/// One interaction of the split, in (user, time) order.
pub struct SplitRow {
    pub user_id: i64,
    pub shoe_pos: usize,
    pub weight: f32,
    /// purchase or add_to_wishlist: relevant when held out.
    pub relevant_action: bool,
    pub test: bool,
}

/// Users with at least one relevant held-out shoe that is not in their train part.
pub struct ScoredUsers {
    pub user_ids: Vec<i64>,
    /// Train history per scored user: (shoe position, summed weight), sorted by position.
    pub train: Vec<Vec<(usize, f32)>>,
    /// Parallel to `train`: each shoe's recency rank in the train part (0 = touched last; see
    /// [`crate::scoring::recency_factor`]).
    pub recency: Vec<Vec<u32>>,
    pub relevant: Vec<HashSet<usize>>,
}

/// Group rows (ordered by user) into train histories and relevant sets; also returns every
/// train row as (user index among all users, shoe, weight) for building the train matrix.
pub fn build(rows: Vec<SplitRow>) -> (ScoredUsers, Vec<(u32, u32, f32)>) {
    let mut scored = ScoredUsers {
        user_ids: Vec::new(),
        train: Vec::new(),
        recency: Vec::new(),
        relevant: Vec::new(),
    };
    let mut train_triplets = Vec::new();
    let mut user_index: u32 = 0;
    let mut i = 0;
    while i < rows.len() {
        let uid = rows[i].user_id;
        let mut j = i;
        while j < rows.len() && rows[j].user_id == uid {
            j += 1;
        }
        // Per shoe: the summed weight and the index of its latest train row (rows are in time
        // order).
        let mut history: std::collections::BTreeMap<usize, (f32, usize)> = Default::default();
        for (at, r) in rows[i..j].iter().enumerate().filter(|(_, r)| !r.test) {
            let e = history.entry(r.shoe_pos).or_default();
            e.0 += r.weight;
            e.1 = at;
            train_triplets.push((user_index, r.shoe_pos as u32, r.weight));
        }
        if !history.is_empty() {
            user_index += 1;
        }
        let relevant: HashSet<usize> = rows[i..j]
            .iter()
            .filter(|r| r.test && r.relevant_action && !history.contains_key(&r.shoe_pos))
            .map(|r| r.shoe_pos)
            .collect();
        if !relevant.is_empty() && !history.is_empty() {
            scored.user_ids.push(uid);
            let latest: Vec<usize> = history.values().map(|&(_, at)| at).collect();
            scored.recency.push(recency_ranks(&latest));
            scored
                .train
                .push(history.into_iter().map(|(p, (w, _))| (p, w)).collect());
            scored.relevant.push(relevant);
        }
        i = j;
    }
    (scored, train_triplets)
}

/// Method names, in the order of the rankings returned by `rank`.
pub const METHODS: [&str; 5] = ["hybrid", "cf", "itemknn", "content", "popularity"];

/// Top-k shoe positions per scored user for each method (train shoes excluded), in parallel over
/// users: pure computation on owned data.
pub fn rank(
    view: &ModelView,
    users: &ScoredUsers,
    k: usize,
    blend: &Blend,
) -> Vec<[Vec<usize>; 5]> {
    rank_by(view, users, k, blend, |s, top| {
        [
            top(&s.hybrid),
            top(&s.cf),
            top(&s.knn),
            top(&s.content),
            top(view.popularity),
        ]
    })
}

/// The top-k of the hybrid alone (the first ranking of [`rank`]), for each scored user: what
/// `refresh()`'s held-out quality needs, without the four per-method rankings.
pub fn rank_hybrid(
    view: &ModelView,
    users: &ScoredUsers,
    k: usize,
    blend: &Blend,
) -> Vec<Vec<usize>> {
    rank_by(view, users, k, blend, |s, top| top(&s.hybrid))
}

/// Scores every scored user's shoes and hands them to `pick` with a top-k function that leaves
/// the user's train shoes out.
fn rank_by<T: Send>(
    view: &ModelView,
    users: &ScoredUsers,
    k: usize,
    blend: &Blend,
    pick: impl Fn(&UserScores, &dyn Fn(&[f32]) -> Vec<usize>) -> T + Sync,
) -> Vec<T> {
    users
        .train
        .par_chunks(CF_BATCH)
        .zip(users.recency.par_chunks(CF_BATCH))
        .flat_map_iter(|(histories, recencies)| {
            let weighted: Vec<Vec<(usize, f32)>> = histories
                .iter()
                .zip(recencies)
                .map(|(history, recency)| recency_weighted(history, recency, blend))
                .collect();
            let queries: Vec<Option<Vec<f32>>> =
                weighted.iter().map(|w| cf_query(view, w)).collect();
            let present: Vec<&[f32]> = queries.iter().flatten().map(|p| p.as_slice()).collect();
            let mut cf = cf_scores_batch(view.factors, view.k, &present).into_iter();
            let cfs: Vec<Option<Vec<f32>>> = queries
                .iter()
                .map(|q| q.as_ref().map(|_| cf.next().expect("one per query")))
                .collect();
            let profiles: Vec<Vec<(usize, f32)>> = weighted
                .iter()
                .map(|w| content_profile(view, w, blend.content_terms))
                .collect();
            let profile_refs: Vec<&[(usize, f32)]> =
                profiles.iter().map(|p| p.as_slice()).collect();
            let contents = content_scores_batch(view.content, &profile_refs);
            histories
                .iter()
                .zip(weighted)
                .zip(cfs.into_iter().zip(contents))
                .map(|((history, weighted), (cf, content))| {
                    let s = user_scores_with_parts(view, &weighted, blend, cf, Some(content));
                    let seen: HashSet<usize> = history.iter().map(|&(p, _)| p).collect();
                    let top = |scores: &[f32]| -> Vec<usize> {
                        top_k(scores, k, |i| seen.contains(&i))
                            .into_iter()
                            .map(|(i, _)| i)
                            .collect()
                    };
                    pick(&s, &top)
                })
                .collect::<Vec<T>>()
        })
        .collect()
}

/// Users scored together by one pass over the shoes' factors ([`cf_scores_batch`]) and one over
/// their TF-IDF rows ([`content_scores_batch`]): 16 query vectors of 64 factors are 4 KB, which
/// stay in the L1 cache beside the current shoe's row.
const CF_BATCH: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn row(user_id: i64, shoe_pos: usize, relevant_action: bool, test: bool) -> SplitRow {
        SplitRow {
            user_id,
            shoe_pos,
            weight: 1.0,
            relevant_action,
            test,
        }
    }

    #[test]
    fn relevant_items_are_held_out_relevant_actions_not_seen_in_train() {
        let rows = vec![
            row(1, 0, false, false),
            row(1, 1, true, false),
            row(1, 1, true, true),  // seen in train: not relevant
            row(1, 2, false, true), // a view: not relevant
            row(1, 3, true, true),
            row(2, 4, true, false), // no test part: not scored
            row(3, 5, true, true),  // no train part: not scored
        ];
        let (scored, triplets) = build(rows);
        assert_eq!(scored.user_ids, vec![1]);
        assert_eq!(scored.train[0], vec![(0, 1.0), (1, 1.0)]);
        // Shoe 1 was touched after shoe 0.
        assert_eq!(scored.recency[0], vec![1, 0]);
        assert_eq!(scored.relevant[0], HashSet::from([3]));
        assert_eq!(triplets, vec![(0, 0, 1.0), (0, 1, 1.0), (1, 4, 1.0)]);
    }

    #[test]
    fn batched_ranking_equals_scoring_each_user_alone() {
        use crate::itemknn::Neighbours;
        use crate::scoring::user_scores;
        use sprs::CsMat;
        // 12 shoes, k = 3 (shoe 11 outside the model), one TF-IDF term per shoe pair, a ring of
        // neighbours; 37 users (two full batches and a partial one), one with only shoe 11.
        let (n, k) = (12usize, 3usize);
        let factors: Vec<f32> = (0..n * k)
            .map(|i| {
                if i / k == 11 {
                    0.0
                } else {
                    (i as f32 * 0.71).sin()
                }
            })
            .collect();
        let in_model: Vec<bool> = (0..n).map(|i| i != 11).collect();
        let content = CsMat::new(
            (n, n / 2),
            (0..=n).collect(),
            (0..n).map(|i| i / 2).collect(),
            vec![1.0; n],
        );
        let content_by_term = crate::scoring::Postings::new(&content);
        let popularity: Vec<f32> = (0..n).map(|i| (n - i) as f32 / n as f32).collect();
        let neighbours = Neighbours::from_rows(
            (0..n)
                .map(|i| vec![(((i + 1) % n) as u32, 0.5), (((i + 5) % n) as u32, 0.25)])
                .collect(),
        );
        let view = ModelView {
            k,
            factors: &factors,
            in_model: &in_model,
            content: &content,
            content_by_term: &content_by_term,
            popularity: &popularity,
            neighbours: &neighbours,
        };
        let mut train: Vec<Vec<(usize, f32)>> = (0..36)
            .map(|u| {
                let mut h: Vec<(usize, f32)> = (0..1 + u % 4)
                    .map(|j| ((u * 7 + j * 3) % n, 1.0 + j as f32))
                    .collect();
                h.sort_by_key(|e| e.0);
                h.dedup_by_key(|e| e.0);
                h
            })
            .collect();
        train.push(vec![(11, 1.0)]);
        let recency: Vec<Vec<u32>> = train
            .iter()
            .map(|h| (0..h.len() as u32).rev().collect())
            .collect();
        let users = ScoredUsers {
            user_ids: (0..train.len() as i64).collect(),
            relevant: train.iter().map(|_| HashSet::new()).collect(),
            train,
            recency,
        };
        // All of each profile, then only its strongest term (the histories' profiles have up to
        // four terms: shoe i has term i / 2).
        for content_terms in [0, 1] {
            let blend = Blend {
                knn_weight: 1.0,
                cf_weight: 1.4,
                history_shrinkage: 2.0,
                content_weight: 0.5,
                popularity_weight: 0.05,
                recency_half_life: 2.0,
                recency_floor: 0.25,
                content_terms,
            };
            let mut cut_profiles = 0;
            let batched = rank(&view, &users, 5, &blend);
            assert_eq!(batched.len(), 37);
            for (u, got) in batched.iter().enumerate() {
                let (history, recency) = (&users.train[u], &users.recency[u]);
                let s = user_scores(&view, &recency_weighted(history, recency, &blend), &blend);
                let seen: HashSet<usize> = history.iter().map(|&(p, _)| p).collect();
                let top = |scores: &[f32]| -> Vec<usize> {
                    top_k(scores, 5, |i| seen.contains(&i))
                        .into_iter()
                        .map(|(i, _)| i)
                        .collect()
                };
                assert_eq!(got[0], top(&s.hybrid), "user {u}");
                assert_eq!(got[1], top(&s.cf), "user {u}");
                assert_eq!(got[2], top(&s.knn), "user {u}");
                assert_eq!(got[3], top(&s.content), "user {u}");
                let weighted = recency_weighted(history, recency, &blend);
                let whole = content_profile(&view, &weighted, 0);
                let used = crate::scoring::strongest_terms(whole.clone(), content_terms);
                assert_eq!(
                    s.content,
                    crate::scoring::content_scores(&content_by_term, &used),
                    "user {u}"
                );
                if used.len() < whole.len() {
                    cut_profiles += 1;
                    assert_ne!(
                        s.content,
                        crate::scoring::content_scores(&content_by_term, &whole)
                    );
                }
            }
            assert_eq!(rank_hybrid(&view, &users, 5, &blend)[36], batched[36][0]);
            assert_eq!(cut_profiles > 0, content_terms == 1, "the cut is exercised");
        }
    }
}
