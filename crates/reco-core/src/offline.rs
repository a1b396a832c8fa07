//! Offline evaluation on a time split: per-user train histories and held-out relevant shoes,
//! and the top-k of each method for every scored user.

use std::collections::HashSet;

use crate::topk::top_k;
use rayon::prelude::*;

use crate::scoring::{recency_ranks, recency_weighted, user_scores, Blend, ModelView, UserScores};

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
        .par_iter()
        .zip(&users.recency)
        .map(|(history, recency)| {
            let s = user_scores(view, &recency_weighted(history, recency, blend), blend);
            let seen: HashSet<usize> = history.iter().map(|&(p, _)| p).collect();
            let top = |scores: &[f32]| -> Vec<usize> {
                top_k(scores, k, |i| seen.contains(&i))
                    .into_iter()
                    .map(|(i, _)| i)
                    .collect()
            };
            pick(&s, &top)
        })
        .collect()
}

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
}
