//! What refresh() measures while it reads the log: the held-out users of the quality
//! measurement, and the counts of the drift windows.
//!
//! **Quality.** Users are sampled by a hash of their id (the same users at every refresh with the
//! same seed); a sampled user's interactions at or after the split time are left out of the
//! training matrix and kept as the test part, the earlier ones are their history. The version is
//! then scored on the users whose test part holds a purchase or wishlist add not in their history,
//! exactly as reco.evaluate() scores a time split, but without a second model build.
//!
//! **Drift windows.** With `L` the last interaction id the active version was trained on and `M`
//! the largest id now, the *current* window is ids in `(L, M]` (the data since) and the *baseline*
//! window the same number of ids before it, `(L − (M − L), L]`: the end of the active version's
//! training data, over an equally long stretch of the log, so that a user's activity or a shoe's
//! share is compared over windows of the same size.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::drift::{self, DriftMeasure};
use crate::offline::ScoredUsers;
use crate::rng::splitmix64;
use crate::scoring::recency_ranks;

/// Deciles of shoes by popularity in both windows (plus the group of shoes seen in neither).
pub const POPULARITY_GROUPS: usize = 10;

/// Whether `user_id` is in the quality sample: the user's hash (SplitMix64 of the id mixed with
/// the seed) falls below `rate_ppm` parts per million.
pub fn quality_sampled(user_id: i64, rate_ppm: u64, seed: u64) -> bool {
    let mut state = (user_id as u64) ^ seed.wrapping_mul(0xA24B_AED4_963E_E407);
    splitmix64(&mut state) % 1_000_000 < rate_ppm
}

/// The sampling rate, in parts per million: enough users that about `4 × users_wanted` are
/// sampled (about a quarter of them have a held-out purchase or wishlist add on the shop data
/// measured), but never more than a tenth of all users, so the served model loses at most a tenth
/// of the last tenth of the log.
pub fn quality_rate_ppm(users_wanted: usize, users_estimate: f64) -> u64 {
    if users_wanted == 0 {
        return 0;
    }
    let rate = (4.0 * users_wanted as f64 / users_estimate.max(1.0)).min(0.1);
    (rate * 1e6).round() as u64
}

/// The sampled users' interactions as they are read.
#[derive(Default)]
pub struct Holdout {
    users: HashMap<i64, SampledUser>,
    /// Interactions left out of the training matrix.
    pub held_out: u64,
}

#[derive(Default)]
struct SampledUser {
    /// Per history shoe: the summed weight and the key (time, interaction id) of its latest
    /// interaction, for the recency ranks.
    history: BTreeMap<usize, (f32, (i64, i64))>,
    test: HashSet<usize>,
}

impl Holdout {
    /// One interaction of a sampled user, in any order: history (also in the training matrix) or
    /// test (left out of it); only a test interaction with a `relevant` action can be a hit.
    /// `latest` orders the interactions in time: (timestamp, interaction id).
    pub fn push(
        &mut self,
        user_id: i64,
        shoe: usize,
        weight: f32,
        relevant: bool,
        test: bool,
        latest: (i64, i64),
    ) {
        let u = self.users.entry(user_id).or_default();
        if test {
            self.held_out += 1;
            if relevant {
                u.test.insert(shoe);
            }
        } else {
            let e = u.history.entry(shoe).or_insert((0.0, latest));
            e.0 += weight;
            e.1 = e.1.max(latest);
        }
    }

    /// The users to score: a history and at least one relevant test shoe not in it; at most
    /// `max_users`, the smallest user ids first (deterministic).
    pub fn scored_users(self, max_users: usize) -> ScoredUsers {
        let mut ids: Vec<i64> = self.users.keys().copied().collect();
        ids.sort_unstable();
        let mut users = self.users;
        let mut scored = ScoredUsers {
            user_ids: Vec::new(),
            train: Vec::new(),
            recency: Vec::new(),
            relevant: Vec::new(),
        };
        for id in ids {
            if scored.user_ids.len() == max_users {
                break;
            }
            let u = users.remove(&id).expect("listed");
            let relevant: HashSet<usize> = u
                .test
                .into_iter()
                .filter(|s| !u.history.contains_key(s))
                .collect();
            if u.history.is_empty() || relevant.is_empty() {
                continue;
            }
            scored.user_ids.push(id);
            let latest: Vec<(i64, i64)> = u.history.values().map(|&(_, l)| l).collect();
            scored.recency.push(recency_ranks(&latest));
            scored
                .train
                .push(u.history.into_iter().map(|(p, (w, _))| (p, w)).collect());
            scored.relevant.push(relevant);
        }
        scored
    }
}

/// Counts of the two drift windows (see the module documentation).
pub struct DriftWindows {
    /// Ids in `(baseline_from, current_from]` are the baseline, above `current_from` current.
    baseline_from: i64,
    current_from: i64,
    shoes: [Vec<f64>; 2],
    actions: [Vec<f64>; 2],
    users: [Vec<u32>; 2],
}

impl DriftWindows {
    /// Windows for an active version trained up to id `last_trained` with `newest` the largest
    /// id now; None when nothing was added since.
    pub fn new(
        last_trained: i64,
        newest: i64,
        shoes: usize,
        actions: usize,
    ) -> Option<DriftWindows> {
        (newest > last_trained).then(|| DriftWindows {
            baseline_from: last_trained - (newest - last_trained),
            current_from: last_trained,
            shoes: [vec![0.0; shoes], vec![0.0; shoes]],
            actions: [vec![0.0; actions], vec![0.0; actions]],
            users: [Vec::new(), Vec::new()],
        })
    }

    /// One interaction: counted in its window, if any.
    #[inline]
    pub fn count(&mut self, interaction_id: i64, shoe: usize, action: usize, user_row: usize) {
        let w = if interaction_id > self.current_from {
            1
        } else if interaction_id > self.baseline_from {
            0
        } else {
            return;
        };
        self.shoes[w][shoe] += 1.0;
        self.actions[w][action] += 1.0;
        let users = &mut self.users[w];
        if users.len() <= user_row {
            users.resize(user_row + 1, 0);
        }
        users[user_row] += 1;
    }

    /// shoe_popularity (interactions per decile of shoes ranked by their count in both windows),
    /// action_mix and user_activity (PSI and JS divergence), then new_users and
    /// new_shoes: the share of the current window's users (shoes) absent from the baseline
    /// window, in `current_total`, with PSI and JS divergence NaN.
    pub fn measures(&self) -> Vec<DriftMeasure> {
        let [base_shoes, cur_shoes] = &self.shoes;
        // Deciles by the count in both windows together: grouping by the baseline alone would
        // put its lucky shoes in the top decile, which any other sample then underfills (on
        // the small shop that alone gave a PSI of 0.18 between two stretches of the same log).
        let both: Vec<f64> = base_shoes
            .iter()
            .zip(cur_shoes)
            .map(|(a, b)| a + b)
            .collect();
        let group_of = drift::popularity_groups(&both, POPULARITY_GROUPS);
        let popularity = drift::measure(
            "shoe_popularity",
            &drift::grouped_counts(base_shoes, &group_of, POPULARITY_GROUPS + 1),
            &drift::grouped_counts(cur_shoes, &group_of, POPULARITY_GROUPS + 1),
        );
        let actions = drift::measure("action_mix", &self.actions[0], &self.actions[1]);
        let activity = drift::measure(
            "user_activity",
            &drift::activity_histogram(self.users[0].iter().map(|&n| n as u64)),
            &drift::activity_histogram(self.users[1].iter().map(|&n| n as u64)),
        );
        let share_new = |base: &dyn Fn(usize) -> bool, current: &mut dyn Iterator<Item = usize>| {
            let (mut all, mut new) = (0.0, 0.0);
            for i in current {
                all += 1.0;
                if !base(i) {
                    new += 1.0;
                }
            }
            if all > 0.0 {
                new / all
            } else {
                f64::NAN
            }
        };
        let base_users = &self.users[0];
        let new_users = share_new(
            &|i| base_users.get(i).is_some_and(|&n| n > 0),
            &mut self.users[1]
                .iter()
                .enumerate()
                .filter(|(_, &n)| n > 0)
                .map(|(i, _)| i),
        );
        let new_shoes = share_new(
            &|i| base_shoes[i] > 0.0,
            &mut cur_shoes
                .iter()
                .enumerate()
                .filter(|(_, &n)| n > 0.0)
                .map(|(i, _)| i),
        );
        let share = |feature: &str, baseline_total: f64, share: f64| DriftMeasure {
            feature: feature.to_string(),
            psi: f64::NAN,
            js_divergence: f64::NAN,
            baseline_total,
            current_total: share,
        };
        let base_user_count = base_users.iter().filter(|&&n| n > 0).count() as f64;
        let base_shoe_count = base_shoes.iter().filter(|&&n| n > 0.0).count() as f64;
        vec![
            popularity,
            actions,
            activity,
            share("new_users", base_user_count, new_users),
            share("new_shoes", base_shoe_count, new_shoes),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_a_stable_share_of_users() {
        let rate = 100_000; // 10 %
        let sampled: Vec<i64> = (0..100_000)
            .filter(|&u| quality_sampled(u, rate, 42))
            .collect();
        // 10 % of 100k, within 4 standard deviations (sd = sqrt(100k * 0.1 * 0.9) = 95).
        assert!(
            (sampled.len() as i64 - 10_000).abs() < 380,
            "{}",
            sampled.len()
        );
        // Deterministic, and another seed samples other users.
        assert!(sampled.iter().all(|&u| quality_sampled(u, rate, 42)));
        let other = (0..100_000)
            .filter(|&u| quality_sampled(u, rate, 7))
            .count();
        let both = sampled
            .iter()
            .filter(|&&u| quality_sampled(u, rate, 7))
            .count();
        assert!(other > 9_000 && both < 1_500, "other {other}, both {both}");
        assert!(!(0..1000).any(|u| quality_sampled(u, 0, 42)));
    }

    #[test]
    fn the_rate_aims_at_four_times_the_users_wanted_and_at_most_a_tenth() {
        assert_eq!(quality_rate_ppm(1000, 100_000.0), 40_000);
        assert_eq!(quality_rate_ppm(1000, 1000.0), 100_000);
        assert_eq!(quality_rate_ppm(0, 1000.0), 0);
        assert_eq!(quality_rate_ppm(10, 0.0), 100_000);
    }

    #[test]
    fn scored_users_need_a_history_and_an_unseen_relevant_test_shoe() {
        let mut h = Holdout::default();
        // User 5: history {1: 1+2}, test {2 relevant, 3 not relevant, 1 relevant but seen}.
        h.push(5, 1, 1.0, true, false, (0, 0));
        h.push(5, 1, 2.0, false, false, (0, 0));
        h.push(5, 2, 1.0, true, true, (0, 0));
        h.push(5, 3, 1.0, false, true, (0, 0));
        h.push(5, 1, 1.0, true, true, (0, 0));
        // User 3: test only (no history): not scored.
        h.push(3, 4, 1.0, true, true, (0, 0));
        // User 9: history, but only a non-relevant test shoe: not scored.
        h.push(9, 0, 1.0, true, false, (0, 0));
        h.push(9, 4, 1.0, false, true, (0, 0));
        // User 1: scored, the smallest id first.
        h.push(1, 0, 1.0, false, false, (0, 0));
        h.push(1, 4, 1.0, true, true, (0, 0));
        assert_eq!(h.held_out, 6);
        let s = h.scored_users(10);
        assert_eq!(s.user_ids, vec![1, 5]);
        assert_eq!(s.train[1], vec![(1, 3.0)]);
        assert_eq!(s.recency[1], vec![0]);
        assert_eq!(s.relevant[1], HashSet::from([2]));
        assert_eq!(s.relevant[0], HashSet::from([4]));
    }

    #[test]
    fn history_shoes_are_ranked_by_their_latest_interaction_whatever_the_read_order() {
        let mut h = Holdout::default();
        // Shoe 7 at t=5 and again at t=30, shoe 2 at t=20, shoe 4 at t=20 but a later id.
        h.push(1, 7, 1.0, false, false, (30, 9));
        h.push(1, 2, 1.0, false, false, (20, 3));
        h.push(1, 7, 1.0, false, false, (5, 1));
        h.push(1, 4, 1.0, false, false, (20, 4));
        h.push(1, 0, 1.0, true, true, (40, 10));
        let s = h.scored_users(10);
        assert_eq!(s.train[0], vec![(2, 1.0), (4, 1.0), (7, 2.0)]);
        assert_eq!(s.recency[0], vec![2, 1, 0]);
    }

    #[test]
    fn scored_users_stop_at_the_cap() {
        let mut h = Holdout::default();
        for u in 0..10 {
            h.push(u, 0, 1.0, false, false, (0, 0));
            h.push(u, 1, 1.0, true, true, (0, 0));
        }
        assert_eq!(h.scored_users(3).user_ids, vec![0, 1, 2]);
    }

    #[test]
    fn windows_are_the_same_number_of_ids_before_and_after_the_last_trained_one() {
        assert!(DriftWindows::new(100, 100, 3, 2).is_none());
        // Trained up to 100, newest 104: current (100, 104], baseline (96, 100].
        let mut w = DriftWindows::new(100, 104, 3, 2).unwrap();
        for id in 90..=104 {
            let (shoe, action, user) = if id > 100 { (2, 1, 1) } else { (0, 0, 0) };
            w.count(id, shoe, action, user);
        }
        assert_eq!(w.shoes[0], vec![4.0, 0.0, 0.0]);
        assert_eq!(w.shoes[1], vec![0.0, 0.0, 4.0]);
        let m = w.measures();
        let names: Vec<&str> = m.iter().map(|d| d.feature.as_str()).collect();
        assert_eq!(
            names,
            [
                "shoe_popularity",
                "action_mix",
                "user_activity",
                "new_users",
                "new_shoes"
            ]
        );
        // Disjoint supports: JS divergence 1, PSI far above 0.25.
        assert!((m[0].js_divergence - 1.0).abs() < 1e-12);
        assert!(m[0].psi > 0.25 && m[1].psi > 0.25);
        // The same activity (4 interactions each): PSI 0.
        assert!(m[2].psi.abs() < 1e-12);
        // Every current user and shoe is new.
        assert_eq!(m[3].current_total, 1.0);
        assert_eq!(m[4].current_total, 1.0);
    }

    #[test]
    fn an_unchanged_mix_is_stable() {
        let mut w = DriftWindows::new(1000, 2000, 20, 3).unwrap();
        for id in 1..=2000 {
            let shoe = (id * 7 % 20) as usize;
            let action = (id % 3) as usize;
            let user = (id % 50) as usize;
            w.count(id, shoe, action, user);
        }
        let m = w.measures();
        for d in &m[..3] {
            assert!(d.psi < 0.1, "{d:?}");
        }
        assert_eq!(m[3].current_total, 0.0);
        assert_eq!(m[4].current_total, 0.0);
    }
}
