//! What shoppers go on to next: each user's shoes in time order, and the transition counts
//! between a shoe and the shoes that followed it in the same user's history.
//!
//! ```text
//! T(i, j) = Σ_users Σ_{j at d = 1..WINDOW places after i} 1 / d
//! next(i, j) = T(i, j) / (sqrt(out(i)) · sqrt(in(j)) + NEXT_SHRINKAGE)
//! ```
//!
//! over every user's history ordered by time, each shoe at its latest interaction (a view and a
//! later purchase of one shoe are one step, at the purchase), with out(i) = Σ_j T(i, j) and
//! in(j) = Σ_i T(i, j). The item-item build adds `next_weight · next(i, j)` to the similarity of
//! i and j before it keeps each shoe's top N ([`crate::itemknn`]), so what shoppers bought after
//! a shoe ranks high among its neighbours, while the co-occurrence similarity, which ignores
//! order, still fills the lists. At query time nothing changes: the neighbours of the user's
//! most recent shoes weigh most (recency weighting), which is where the order pays off.
//!
//! The weight `next_weight` (`reco.knn_next_weight`) was chosen on the validation splits of
//! MovieLens and Amazon Toys (scripts/eval/tune_hybrid.sh; BENCHMARKS.md "What shoppers buy
//! next"); the window of 5 steps and the shrinkage of 10 are fixed constants, set before the
//! grid and not tuned.

/// Separates two users in [`Sequences::flat`].
pub const END: u32 = u32::MAX;
/// How many later steps of a history a shoe leads to.
pub const WINDOW: usize = 5;
/// Added to sqrt(out(i)) · sqrt(in(j)): a transition seen a few times counts less.
pub const NEXT_SHRINKAGE: f32 = 10.0;

/// Every user's shoes (catalogue positions) in time order, each at its latest interaction, one
/// user after the other with [`END`] after each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sequences {
    pub flat: Vec<u32>,
}

impl Sequences {
    /// From interaction events (user row, shoe position, weight, time key), in any order: each
    /// user's events sorted by key (equal keys keep their order in the input), events with a
    /// weight below 1e-15 left out (as the item-item build leaves them out), and a shoe the user
    /// touched more than once kept at its last place. `users` is the number of rows, `shoes` of
    /// positions; every row and position must be below them.
    pub fn from_events(
        users: usize,
        shoes: usize,
        rows: &[u32],
        cols: &[u32],
        vals: &[f32],
        keys: &[i64],
    ) -> Sequences {
        assert!(rows.len() == cols.len() && rows.len() == vals.len() && rows.len() == keys.len());
        // Counting sort by user (stable: input order within a user), moving each kept event's
        // (key, shoe) into one contiguous run per user: a user's events are scattered over the
        // whole log, and reading them through an index array cost three cache misses an event
        // (0.19 s for tier M's 2M events against 0.07 s this way, examples/knn_bench.rs).
        let mut start = vec![0usize; users + 1];
        for (&r, &v) in rows.iter().zip(vals) {
            if v >= 1e-15 {
                start[r as usize + 1] += 1;
            }
        }
        for u in 0..users {
            start[u + 1] += start[u];
        }
        let mut fill = start.clone();
        let mut events = vec![(0i64, 0u32); start[users]];
        for e in 0..rows.len() {
            if vals[e] >= 1e-15 {
                let slot = &mut fill[rows[e] as usize];
                events[*slot] = (keys[e], cols[e]);
                *slot += 1;
            }
        }
        drop(fill);
        let mut flat = Vec::with_capacity(events.len() + users);
        // seen[shoe] = the user (row + 1) that last kept it: no clearing between users.
        let mut seen = vec![0u32; shoes];
        let mut kept: Vec<u32> = Vec::new();
        for u in 0..users {
            let run = &mut events[start[u]..start[u + 1]];
            // Stable, and linear on a run already in order (the scan of an appended log).
            run.sort_by_key(|&(key, _)| key);
            kept.clear();
            let stamp = u as u32 + 1;
            // Newest first, so the first time a shoe is met is its latest place.
            for &(_, shoe) in run.iter().rev() {
                if seen[shoe as usize] == stamp {
                    continue;
                }
                seen[shoe as usize] = stamp;
                kept.push(shoe);
            }
            if kept.is_empty() {
                continue;
            }
            flat.extend(kept.iter().rev());
            flat.push(END);
        }
        Sequences { flat }
    }

    pub fn is_empty(&self) -> bool {
        self.flat.is_empty()
    }
}

/// The transition counts of [`Sequences`], by the shoe they start from: where each shoe occurs
/// in the histories, and every shoe's total outflow and inflow.
pub struct Transitions<'a> {
    flat: &'a [u32],
    /// The places of shoe i in `flat` are `places[place_start[i]..place_start[i + 1]]`.
    place_start: Vec<usize>,
    places: Vec<u32>,
    /// sqrt(out(i)) and sqrt(in(i)).
    out_root: Vec<f32>,
    in_root: Vec<f32>,
}

impl<'a> Transitions<'a> {
    /// One pass over the histories for the totals, one to index the places: 2 x (WINDOW + 1)
    /// steps per interaction.
    pub fn of(seqs: &'a Sequences, shoes: usize) -> Transitions<'a> {
        let flat = seqs.flat.as_slice();
        assert!(flat.len() < u32::MAX as usize, "under 2^32 interactions");
        let mut outflow = vec![0f32; shoes];
        let mut inflow = vec![0f32; shoes];
        let mut place_start = vec![0usize; shoes + 1];
        for (k, &i) in flat.iter().enumerate() {
            if i == END {
                continue;
            }
            place_start[i as usize + 1] += 1;
            for (d, &j) in flat[k + 1..].iter().take(WINDOW).enumerate() {
                if j == END {
                    break;
                }
                let w = 1.0 / (d + 1) as f32;
                outflow[i as usize] += w;
                inflow[j as usize] += w;
            }
        }
        for i in 0..shoes {
            place_start[i + 1] += place_start[i];
        }
        let mut fill = place_start.clone();
        let mut places = vec![0u32; place_start[shoes]];
        for (k, &i) in flat.iter().enumerate() {
            if i != END {
                places[fill[i as usize]] = k as u32;
                fill[i as usize] += 1;
            }
        }
        Transitions {
            flat,
            place_start,
            places,
            out_root: outflow.iter().map(|v| v.sqrt()).collect(),
            in_root: inflow.iter().map(|v| v.sqrt()).collect(),
        }
    }

    /// Calls `add(j, t)` for every step from shoe `i` to a shoe `j` (t = 1 / distance; the same
    /// j may come more than once: the caller sums).
    #[inline]
    pub fn for_each_step(&self, i: usize, mut add: impl FnMut(u32, f32)) {
        let (a, b) = (self.place_start[i], self.place_start[i + 1]);
        let places = &self.places[a..b];
        for (n, &k) in places.iter().enumerate() {
            // The places are scattered over the histories: a cache miss each, which a profile
            // on tier M found at a sixth of the merged build. The one 8 places ahead is
            // requested early (a hint only; nothing read changes).
            if let Some(&ahead) = places.get(n + 8) {
                prefetch(self.flat.as_ptr().wrapping_add(ahead as usize + 1));
            }
            let k = k as usize;
            for (d, &j) in self.flat[k + 1..].iter().take(WINDOW).enumerate() {
                if j == END {
                    break;
                }
                add(j, 1.0 / (d + 1) as f32);
            }
        }
    }

    /// next(i, j) from the summed T(i, j).
    #[inline]
    pub fn normalised(&self, i: usize, j: usize, t: f32) -> f32 {
        t / (self.out_root[i] * self.in_root[j] + NEXT_SHRINKAGE)
    }

    /// The dense row T(i, ·) (tests and checks).
    pub fn row(&self, i: usize) -> Vec<f32> {
        let mut row = vec![0f32; self.out_root.len()];
        self.for_each_step(i, |j, t| row[j as usize] += t);
        row
    }
}

/// Asks the CPU to start loading the cache line at `at`.
#[inline(always)]
fn prefetch(at: *const u32) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is only a hint: it never faults and writes nothing, whatever the
        // address (here inside or one past the end of `flat`).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histories_in_time_order_with_each_shoe_at_its_last_place() {
        // User 0: shoe 2 at t=30, shoe 0 at t=10, shoe 1 at t=20, shoe 0 again at t=40.
        // User 1: nothing. User 2: shoe 1 (t=5), a weight-0 event on shoe 3, shoe 2 (t=5, after
        // shoe 1 in the input: equal keys keep their order).
        let rows = [0, 2, 0, 0, 2, 0, 2];
        let cols = [2, 1, 0, 1, 3, 0, 2];
        let vals = [1.0, 1.0, 1.0, 5.0, 0.0, 5.0, 1.0];
        let keys = [30, 5, 10, 20, 1, 40, 5];
        let s = Sequences::from_events(3, 4, &rows, &cols, &vals, &keys);
        assert_eq!(s.flat, vec![1, 2, 0, END, 1, 2, END]);
        assert!(Sequences::from_events(2, 2, &[], &[], &[], &[]).is_empty());
    }

    #[test]
    fn transitions_by_hand() {
        // Two histories: 0 1 2 and 1 2. Window 5 covers both.
        let s = Sequences {
            flat: vec![0, 1, 2, END, 1, 2, END],
        };
        let t = Transitions::of(&s, 4);
        // From 0: 1 at distance 1, 2 at distance 2.
        assert_eq!(t.row(0), vec![0.0, 1.0, 0.5, 0.0]);
        // From 1: 2 at distance 1, twice. Nothing after 2; shoe 3 never occurs.
        assert_eq!(t.row(1), vec![0.0, 0.0, 2.0, 0.0]);
        assert_eq!(t.row(2), vec![0.0; 4]);
        assert_eq!(t.row(3), vec![0.0; 4]);
        // out(0) = 1.5, in(2) = 0.5 + 2 = 2.5: 0.5 / (sqrt(1.5 * 2.5) + 10).
        let want = 0.5 / ((1.5f32).sqrt() * (2.5f32).sqrt() + NEXT_SHRINKAGE);
        assert!((t.normalised(0, 2, 0.5) - want).abs() < 1e-7);
        // Directed: nothing leads from 2 back to 0.
        assert_eq!(t.row(2)[0], 0.0);
    }

    #[test]
    fn the_window_stops_at_five_steps_and_at_the_end_of_a_history() {
        let mut flat: Vec<u32> = (0..8).collect();
        flat.push(END);
        flat.push(7);
        flat.push(END);
        let s = Sequences { flat };
        let t = Transitions::of(&s, 8);
        let row = t.row(0);
        let want: Vec<f32> = (0..8)
            .map(|j| match j {
                1..=5 => 1.0 / j as f32,
                _ => 0.0,
            })
            .collect();
        assert_eq!(row, want);
        // 7 ends both histories: it leads nowhere.
        assert_eq!(t.row(7), vec![0.0; 8]);
    }
}
