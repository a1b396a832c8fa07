//! Item-item collaborative filtering: for every shoe, its most similar shoes by the users who
//! interacted with both, kept as a sparse top-N list per shoe ([`Neighbours`]).
//!
//! Similarity of shoes i and j over the user x shoe matrix X (after [`Weighting`]):
//!
//! ```text
//! sim(i, j) = ((x_i · x_j) / (‖x_i‖ · ‖x_j‖ + shrinkage)) ^ exponent
//! ```
//!
//! the cosine of their columns, shrunk towards 0 when few users support it (Sarwar et al. 2001;
//! shrinkage as in Koren 2008), and sharpened by the exponent so that a few strong neighbours
//! outweigh many weak ones (exponent 2 scored 4-5% better than 1 on the validation splits of
//! both MovieLens and Amazon Toys; scripts/eval/item_item_proto.py). Only the `neighbours` largest similarities of each shoe are kept,
//! so the model is n x N, never n x n: at query time a user's score for shoe j is
//! `Σ_h g(w_h) · sim(h, j)` over the neighbour lists of the shoes h in their *current* history,
//! which costs |history| x N, not a pass over the catalogue.
//!
//! The build computes X^T X one shoe at a time (the users of shoe i, then their shoes), in
//! parallel over shoes, with one dense accumulator per worker: Σ_u deg(u)^2 multiply-adds in
//! all, and memory n x N for the result.

use rayon::prelude::*;
use sprs::CsMat;

use crate::sequences::{Sequences, Transitions};

/// How an interaction weight (summed per user and shoe) enters the similarity and the query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Weighting {
    /// 1 for any interaction: who interacted, not how much.
    Binary,
    /// ln(1 + w): more weight for purchases than views, with diminishing returns.
    Log1p,
    /// The weight itself.
    Raw,
}

impl Weighting {
    #[inline]
    pub fn apply(self, w: f32) -> f32 {
        match self {
            Weighting::Binary => {
                if w > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Weighting::Log1p => w.max(0.0).ln_1p(),
            Weighting::Raw => w,
        }
    }
}

/// Parameters of the item-item build.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KnnParams {
    /// Neighbours kept per shoe (N).
    pub neighbours: usize,
    /// Added to the product of the norms: a pair supported by few users scores lower.
    pub shrinkage: f32,
    /// Power the shrunk cosine is raised to (1 = plain cosine).
    pub exponent: f32,
    /// A user's strongest shoes taken into the similarities (0 = all).
    pub max_user_items: usize,
    pub weighting: Weighting,
    /// Weight of what shoppers bought next ([`crate::sequences`]) added to the similarity
    /// before the top N are kept (0 = order ignored: the lists are symmetric before pruning).
    pub next_weight: f32,
}

/// Top-N neighbours of every shoe, best first, as a sparse n x n matrix in CSR form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Neighbours {
    /// Row i is `items[offsets[i]..offsets[i + 1]]`.
    pub offsets: Vec<usize>,
    pub items: Vec<u32>,
    pub weights: Vec<f32>,
}

impl Neighbours {
    /// No neighbours for `n` shoes.
    pub fn empty(n: usize) -> Neighbours {
        Neighbours {
            offsets: vec![0; n + 1],
            items: Vec::new(),
            weights: Vec::new(),
        }
    }

    /// From one (item, weight) list per shoe, each sorted best first.
    pub fn from_rows(rows: Vec<Vec<(u32, f32)>>) -> Neighbours {
        let mut out = Neighbours {
            offsets: Vec::with_capacity(rows.len() + 1),
            items: Vec::with_capacity(rows.iter().map(Vec::len).sum()),
            weights: Vec::new(),
        };
        out.weights.reserve(out.items.capacity());
        out.offsets.push(0);
        for row in rows {
            for (j, s) in row {
                out.items.push(j);
                out.weights.push(s);
            }
            out.offsets.push(out.items.len());
        }
        out
    }

    /// Number of shoes (rows).
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The neighbours of shoe `i` and their similarities, best first (empty for a shoe outside
    /// the model).
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        if i + 1 >= self.offsets.len() {
            return (&[], &[]);
        }
        let (a, b) = (self.offsets[i], self.offsets[i + 1]);
        (&self.items[a..b], &self.weights[a..b])
    }
}

/// Shoes handled per parallel task, and per round between two checkpoints.
const TASK: usize = 64;
const ROUND: usize = 4096;

/// Builds the neighbour lists from the user x shoe matrix `a` (CSR, weights summed per cell).
/// `checkpoint` runs on the calling thread between rounds of shoes (cancellation).
pub fn build(a: &CsMat<f32>, p: &KnnParams, checkpoint: &mut dyn FnMut()) -> Neighbours {
    build_unless(a, p, &mut || {
        checkpoint();
        false
    })
    .expect("never stopped")
}

/// [`build`], stopped early (None) when `stop` returns true; it is asked between rounds of
/// 4096 shoes, on this thread.
pub fn build_unless(
    a: &CsMat<f32>,
    p: &KnnParams,
    stop: &mut dyn FnMut() -> bool,
) -> Option<Neighbours> {
    build_with_next_unless(a, None, p, stop)
}

/// [`build_unless`] with the users' histories in time order: with `p.next_weight > 0` the
/// transitions between them ([`Transitions`]) are added to the similarities.
pub fn build_with_next_unless(
    a: &CsMat<f32>,
    seqs: Option<&Sequences>,
    p: &KnnParams,
    stop: &mut dyn FnMut() -> bool,
) -> Option<Neighbours> {
    let n = a.cols();
    let transitions = match seqs {
        Some(s) if p.next_weight > 0.0 && !s.is_empty() && p.neighbours > 0 => {
            Some(Transitions::of(s, n))
        }
        _ => None,
    };
    let next = transitions.as_ref();
    if p.neighbours == 0 || n == 0 {
        return Some(Neighbours::empty(n));
    }
    let x = weighted_rows(a, p);
    let xt = x.to_csc();
    // Plain slices: the inner loop runs Σ_u n_u² times.
    let rows_of = UserRows::of(&Compressed::of(&x));
    let users_of = Compressed::of(&xt);
    drop((x, xt));
    let norms: Vec<f32> = (0..n)
        .map(|i| {
            let (_, v) = users_of.lane(i);
            v.iter().map(|v| v * v).sum::<f32>().sqrt()
        })
        .collect();
    let mut rows: Vec<Vec<(u32, f32)>> = Vec::with_capacity(n);
    for start in (0..n).step_by(ROUND) {
        let end = (start + ROUND).min(n);
        let tasks: Vec<(usize, usize)> = (start..end)
            .step_by(TASK)
            .map(|a| (a, (a + TASK).min(end)))
            .collect();
        let part: Vec<Vec<(u32, f32)>> = tasks
            .par_iter()
            .map_init(
                || Scratch {
                    acc: vec![0f32; n],
                    acc_next: if next.is_some() {
                        vec![0f32; n]
                    } else {
                        Vec::new()
                    },
                    followers: Vec::new(),
                    touched: Vec::new(),
                    cands: Vec::new(),
                },
                |scratch, &(a, b)| {
                    (a..b)
                        .map(|i| neighbours_of(i, &rows_of, &users_of, &norms, next, p, scratch))
                        .collect::<Vec<_>>()
                },
            )
            .flatten()
            .collect();
        rows.extend(part);
        if stop() {
            return None;
        }
    }
    Some(Neighbours::from_rows(rows))
}

/// The matrix the similarities are computed on: each value weighted, and each user's row cut to
/// their `max_user_items` strongest shoes (largest weight, then smaller position). The pairs of
/// one user cost n² multiply-adds, so a few users with thousands of shoes would cost more than
/// everyone else together, while what they add to any one pair is small.
fn weighted_rows(a: &CsMat<f32>, p: &KnnParams) -> CsMat<f32> {
    let csr;
    let a = if a.is_csr() {
        a
    } else {
        csr = a.to_csr();
        &csr
    };
    let cap = if p.max_user_items == 0 {
        usize::MAX
    } else {
        p.max_user_items
    };
    let mut indptr = Vec::with_capacity(a.rows() + 1);
    let mut indices = Vec::with_capacity(a.nnz());
    let mut data = Vec::with_capacity(a.nnz());
    indptr.push(0);
    let mut row: Vec<(usize, f32)> = Vec::new();
    for r in a.outer_iterator() {
        row.clear();
        // Values below 1e-15 (a weight of 0, or decayed to nothing) are left out: every product
        // of two kept values is then a positive f32 (>= 1e-30), which neighbours_of relies on.
        row.extend(
            r.iter()
                .map(|(j, &v)| (j, p.weighting.apply(v)))
                .filter(|&(_, v)| v >= 1e-15),
        );
        if row.len() > cap {
            row.select_nth_unstable_by(cap, |x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            row.truncate(cap);
            row.sort_unstable_by_key(|e| e.0);
        }
        for &(j, v) in &row {
            indices.push(j);
            data.push(v);
        }
        indptr.push(indices.len());
    }
    CsMat::new((a.rows(), a.cols()), indptr, indices, data)
}

/// A compressed sparse matrix with u32 indices (CSR: lanes are rows; CSC: columns): half the
/// memory traffic of sprs's usize indices in the inner loop.
struct Compressed {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f32>,
}

impl Compressed {
    fn of(m: &CsMat<f32>) -> Compressed {
        Compressed {
            indptr: m.indptr().into_raw_storage().to_vec(),
            indices: m.indices().iter().map(|&j| j as u32).collect(),
            data: m.data().to_vec(),
        }
    }

    #[inline]
    fn lane(&self, i: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.data[a..b])
    }
}

/// The users' rows for the inner loop: each row's (shoe, value) pairs side by side, and its
/// bounds as u32 pairs, so that visiting a user costs one cache line of bounds and one run of
/// pairs instead of four scattered reads. A profile of the tier M build spent most of its time
/// waiting for those reads (a shoe's users are spread over the whole matrix); see also the
/// prefetching in [`neighbours_of`].
struct UserRows {
    bounds: Vec<(u32, u32)>,
    pairs: Vec<(u32, f32)>,
}

impl UserRows {
    fn of(m: &Compressed) -> UserRows {
        let rows = m.indptr.len().saturating_sub(1);
        UserRows {
            bounds: (0..rows)
                .map(|u| {
                    // The memory limit refuses a build long before 2^32 non-zeros (48 GB here).
                    let at = |k: usize| u32::try_from(m.indptr[k]).expect("under 2^32 non-zeros");
                    (at(u), at(u + 1))
                })
                .collect(),
            pairs: m
                .indices
                .iter()
                .copied()
                .zip(m.data.iter().copied())
                .collect(),
        }
    }

    #[inline]
    fn row(&self, u: usize) -> &[(u32, f32)] {
        let (a, b) = self.bounds[u];
        &self.pairs[a as usize..b as usize]
    }

    /// A hint to the CPU to start loading user `u`'s bounds (`row: false`) or the start of their
    /// pairs (`row: true`, which reads the bounds); it changes no result.
    #[inline(always)]
    fn prefetch(&self, u: usize, row: bool) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let at: *const i8 = if row {
                let (a, _) = self.bounds[u];
                self.pairs.as_ptr().wrapping_add(a as usize).cast()
            } else {
                self.bounds.as_ptr().wrapping_add(u).cast()
            };
            // SAFETY: a prefetch is only a hint: it never faults and writes nothing, whatever
            // the address (here always inside or one past the end of a live buffer).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(at) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (u, row);
    }
}

/// Per-worker buffers, reused from one shoe to the next.
struct Scratch {
    acc: Vec<f32>,
    /// T(i, ·) of the shoe at hand (empty without transitions).
    acc_next: Vec<f32>,
    /// The shoes that followed the shoe at hand (empty without transitions).
    followers: Vec<u32>,
    touched: Vec<u32>,
    /// Candidates as [`rank_key`]s.
    cands: Vec<u64>,
}

fn neighbours_of(
    i: usize,
    rows_of: &UserRows,
    users_of: &Compressed,
    norms: &[f32],
    next: Option<&Transitions>,
    p: &KnnParams,
    scratch: &mut Scratch,
) -> Vec<(u32, f32)> {
    let Scratch {
        acc,
        acc_next,
        followers,
        touched,
        cands,
    } = scratch;
    // `touched` has room for every shoe; a shoe is appended unconditionally and kept (the
    // length advanced) only when its sum was still 0: no branch to mispredict in the loop that
    // runs Σ_u n_u² times. Every product is > 0 (weighted_rows keeps values >= 1e-15), so a sum
    // of 0 means untouched and each shoe is kept once: `len` never passes n.
    let n = acc.len();
    if touched.len() < n + 1 {
        touched.resize(n + 1, 0);
    }
    let mut len = 0usize;
    let (users, values) = users_of.lane(i);
    // Users are visited in index order, which is random in memory: the bounds of the user 8
    // ahead and the pairs of the user 4 ahead are requested early (the summation order, and so
    // every result bit, is unchanged).
    for (k, (&u, &xu)) in users.iter().zip(values).enumerate() {
        if let Some(&ahead) = users.get(k + 8) {
            rows_of.prefetch(ahead as usize, false);
        }
        if let Some(&ahead) = users.get(k + 4) {
            rows_of.prefetch(ahead as usize, true);
        }
        for &(j, xj) in rows_of.row(u as usize) {
            let slot = &mut acc[j as usize];
            touched[len] = j;
            len += (*slot == 0.0) as usize;
            *slot += xu * xj;
        }
    }
    let touched = &touched[..len];
    // The top N by the shrunk cosine (the exponent does not change the order): every candidate
    // into `cands`, then one selection (linear) instead of a bounded heap, whose replacements
    // cost a sixth of the build in a profile on tier M. The candidates are integer keys ordered
    // as `better` orders (similarity, then index; see rank_key), so the selection and the sort
    // compare plain integers; the N kept are the same either way.
    let ni = norms[i];
    cands.clear();
    if let Some(t) = next {
        followers_as_candidates(i, t, acc, acc_next, followers, norms, p, cands);
    }
    for &j in touched.iter() {
        let dot = std::mem::take(&mut acc[j as usize]);
        if j as usize == i || dot <= 0.0 {
            continue;
        }
        let denom = ni * norms[j as usize] + p.shrinkage;
        if denom <= 0.0 {
            continue;
        }
        let cos = dot / denom;
        if cos > 0.0 && cos.is_finite() {
            cands.push(rank_key(j, cos));
        }
    }
    if cands.len() > p.neighbours {
        cands.select_nth_unstable_by(p.neighbours - 1, |a, b| b.cmp(a));
        cands.truncate(p.neighbours);
    }
    // With "bought next", every similarity is divided by 1 + next_weight: both parts are below
    // 1, so the stored similarities stay in (0, 1) as the plain build's are; the scores built
    // from them are scaled to a maximum of 1 per call, so a factor common to all shoes changes
    // no ranking.
    let scale = if next.is_some() {
        1.0 + p.next_weight
    } else {
        1.0
    };
    let mut kept: Vec<(u32, f32)> = cands
        .iter()
        .map(|&key| {
            let (j, cos) = from_rank_key(key);
            let sim = sharpened(cos, p.exponent);
            (j, if next.is_some() { sim / scale } else { sim })
        })
        .collect();
    // Sorted after the exponent, as the similarities are stored (two cosines may square to
    // the same f32, and then the smaller index comes first).
    kept.sort_unstable_by(better);
    kept
}

/// Puts the shoes that followed shoe i into `cands`, each at `sim(i, j) + next_weight ·
/// next(i, j)` expressed as a cosine (its exponent-th root), so that the plain candidates (the
/// other co-occurring shoes, added after) and these are selected together and sharpened
/// alike. Their co-occurrence sums are taken out of `acc`, so the plain loop skips them. A
/// follower that does not co-occur in the matrix (the cap of max_user_items, or a weight of
/// 0, kept it out) becomes a candidate by its next part alone.
///
/// There are a few followers per place of i in the histories, far fewer than co-occurring
/// shoes, so the loop over all of those stays the plain one (next_weight 0 builds the same
/// lists bit for bit) and the followers are the only extra work.
#[allow(clippy::too_many_arguments)]
fn followers_as_candidates(
    i: usize,
    t: &Transitions,
    acc: &mut [f32],
    acc_next: &mut [f32],
    followers: &mut Vec<u32>,
    norms: &[f32],
    p: &KnnParams,
    cands: &mut Vec<u64>,
) {
    followers.clear();
    t.for_each_step(i, |j, w| {
        let slot = &mut acc_next[j as usize];
        if *slot == 0.0 {
            followers.push(j);
        }
        *slot += w;
    });
    let ni = norms[i];
    for &j in followers.iter() {
        let j = j as usize;
        let steps = std::mem::take(&mut acc_next[j]);
        let dot = std::mem::take(&mut acc[j]);
        // A shoe never follows itself (one place per history), but i's own sum is cleared.
        if j == i {
            continue;
        }
        let mut s = p.next_weight * t.normalised(i, j, steps);
        let denom = ni * norms[j] + p.shrinkage;
        if dot > 0.0 && denom > 0.0 {
            let cos = dot / denom;
            if cos > 0.0 && cos.is_finite() {
                s += sharpened(cos, p.exponent);
            }
        }
        let as_cosine = unsharpened(s, p.exponent);
        if as_cosine > 0.0 && as_cosine.is_finite() {
            cands.push(rank_key(j as u32, as_cosine));
        }
    }
}

/// cos^exponent, with the usual exponents (1, and the default 2) spelt out.
#[inline]
fn sharpened(cos: f32, exponent: f32) -> f32 {
    if exponent == 1.0 {
        cos
    } else if exponent == 2.0 {
        cos * cos
    } else {
        cos.powf(exponent)
    }
}

/// The inverse of [`sharpened`]: s^(1/exponent).
#[inline]
fn unsharpened(s: f32, exponent: f32) -> f32 {
    if exponent == 1.0 {
        s
    } else if exponent == 2.0 {
        s.sqrt()
    } else {
        s.powf(1.0 / exponent)
    }
}

/// A candidate (shoe j, similarity s > 0, finite) as one integer that sorts as [`better`]: a
/// larger key is a better candidate. The bits of a positive finite f32 order as its value, and
/// `u32::MAX - j` puts the smaller index first among equal similarities.
#[inline]
fn rank_key(j: u32, s: f32) -> u64 {
    debug_assert!(s > 0.0 && s.is_finite());
    (u64::from(s.to_bits()) << 32) | u64::from(u32::MAX - j)
}

#[inline]
fn from_rank_key(key: u64) -> (u32, f32) {
    (u32::MAX - key as u32, f32::from_bits((key >> 32) as u32))
}

/// Higher similarity first, then the smaller index (deterministic ties).
fn better(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Item-item score of every shoe for a user with `history` = (shoe position, summed weight):
/// `Σ_h g(w_h) · sim(h, j)`, g the same [`Weighting`] as the build. Returns a dense vector of
/// `n` scores (0 where no history shoe has j as a neighbour).
pub fn user_scores(
    nb: &Neighbours,
    n: usize,
    history: &[(usize, f32)],
    weighting: Weighting,
) -> Vec<f32> {
    let mut scores = vec![0f32; n];
    for &(h, w) in history {
        let g = weighting.apply(w);
        let (items, sims) = nb.row(h);
        for (&j, &s) in items.iter().zip(sims) {
            if let Some(slot) = scores.get_mut(j as usize) {
                *slot += g * s;
            }
        }
    }
    scores
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sequences::END;

    /// users x items, from dense rows.
    fn matrix(rows: &[&[f32]]) -> CsMat<f32> {
        let mut t = sprs::TriMat::new((rows.len(), rows[0].len()));
        for (u, r) in rows.iter().enumerate() {
            for (i, &v) in r.iter().enumerate() {
                if v != 0.0 {
                    t.add_triplet(u, i, v);
                }
            }
        }
        t.to_csr()
    }

    fn assert_row(nb: &Neighbours, i: usize, want: &[(u32, f32)]) {
        let (items, sims) = nb.row(i);
        assert_eq!(items.len(), want.len(), "row {i}: {items:?} {sims:?}");
        for ((&j, &s), &(wj, ws)) in items.iter().zip(sims).zip(want) {
            assert_eq!(j, wj, "row {i}: {items:?}");
            assert!((s - ws).abs() < 1e-6, "row {i}: {sims:?}");
        }
    }

    fn params(neighbours: usize, shrinkage: f32, weighting: Weighting) -> KnnParams {
        KnnParams {
            neighbours,
            shrinkage,
            exponent: 1.0,
            max_user_items: 0,
            weighting,
            next_weight: 0.0,
        }
    }

    #[test]
    fn the_exponent_sharpens_without_reordering() {
        let a = matrix(&[
            &[1.0, 1.0, 0.0, 0.0],
            &[1.0, 1.0, 1.0, 0.0],
            &[0.0, 0.0, 1.0, 0.0],
        ]);
        let p = KnnParams {
            exponent: 2.0,
            ..params(10, 0.0, Weighting::Binary)
        };
        let nb = build(&a, &p, &mut || {});
        // (2 / 2)^2 and (1 / 2)^2.
        assert_row(&nb, 0, &[(1, 1.0), (2, 0.25)]);
        let p = KnnParams {
            exponent: 3.0,
            ..params(10, 2.0, Weighting::Binary)
        };
        let nb = build(&a, &p, &mut || {});
        // (2 / 4)^3 and (1 / 4)^3.
        assert_row(&nb, 0, &[(1, 0.125), (2, 1.0 / 64.0)]);
    }

    #[test]
    fn cosine_with_shrinkage_by_hand() {
        // Items 0 and 1 share users 0 and 1; item 2 shares user 1 with both; item 3 is alone
        // (its only user has nothing else).
        //        i0 i1 i2 i3
        let a = matrix(&[
            &[1.0, 1.0, 0.0, 0.0],
            &[1.0, 1.0, 1.0, 0.0],
            &[0.0, 0.0, 1.0, 0.0],
            &[0.0, 0.0, 0.0, 1.0],
        ]);
        let nb = build(&a, &params(10, 0.0, Weighting::Binary), &mut || {});
        // |x0| = |x1| = |x2| = sqrt 2; x0.x1 = 2, x0.x2 = x1.x2 = 1.
        assert_row(&nb, 0, &[(1, 1.0), (2, 0.5)]);
        assert_row(&nb, 1, &[(0, 1.0), (2, 0.5)]);
        assert_row(&nb, 2, &[(0, 0.5), (1, 0.5)]);
        // No co-occurrence: no neighbours, and not a neighbour of anyone.
        assert_row(&nb, 3, &[]);
        // Shrinkage 2: 2 / (2 + 2) and 1 / (2 + 2).
        let nb = build(&a, &params(10, 2.0, Weighting::Binary), &mut || {});
        assert_row(&nb, 0, &[(1, 0.5), (2, 0.25)]);
        // N = 1 keeps the best; a tie goes to the smaller index.
        let nb = build(&a, &params(1, 0.0, Weighting::Binary), &mut || {});
        assert_row(&nb, 2, &[(0, 0.5)]);
        assert_eq!(nb.items.len(), 3);
    }

    #[test]
    fn symmetric_before_pruning_and_weighted() {
        let a = matrix(&[
            &[5.0, 1.0, 0.0, 3.0],
            &[0.0, 3.0, 1.0, 0.0],
            &[1.0, 0.0, 5.0, 5.0],
            &[3.0, 3.0, 3.0, 0.0],
        ]);
        for w in [Weighting::Binary, Weighting::Log1p, Weighting::Raw] {
            let nb = build(&a, &params(10, 1.5, w), &mut || {});
            let sim = |i: usize, j: u32| {
                let (items, sims) = nb.row(i);
                items.iter().position(|&x| x == j).map(|p| sims[p])
            };
            for i in 0..4 {
                for j in 0..4u32 {
                    assert_eq!(sim(i, j), sim(j as usize, i as u32), "{w:?} ({i},{j})");
                }
            }
        }
        // Raw weights by hand: x0 = (5,0,1,3), x3 = (3,0,5,0): dot 20, norms sqrt35 * sqrt34.
        let nb = build(&a, &params(10, 0.0, Weighting::Raw), &mut || {});
        let (items, sims) = nb.row(0);
        let p = items.iter().position(|&x| x == 3).unwrap();
        assert!((sims[p] - 20.0 / (35f32.sqrt() * 34f32.sqrt())).abs() < 1e-6);
    }

    #[test]
    fn parallel_chunks_match_a_plain_loop() {
        // More items than one chunk, with a checkpoint per round.
        let (users, items) = (300, 700);
        let mut rng = crate::rng::Rng::new(3);
        let mut t = sprs::TriMat::new((users, items));
        for u in 0..users {
            for _ in 0..8 {
                t.add_triplet(
                    u,
                    rng.below(items as u64) as usize,
                    1.0 + rng.below(3) as f32,
                );
            }
        }
        let a: CsMat<f32> = t.to_csr();
        let p = params(5, 1.0, Weighting::Log1p);
        let mut calls = 0;
        let nb = build(&a, &p, &mut || calls += 1);
        assert!(calls >= 1);
        assert_eq!(nb.len(), items);
        // Against a dense computation.
        let dense: Vec<Vec<f32>> = (0..users)
            .map(|u| {
                let mut r = vec![0f32; items];
                if let Some(row) = a.outer_view(u) {
                    for (i, &v) in row.iter() {
                        r[i] = p.weighting.apply(v);
                    }
                }
                r
            })
            .collect();
        let norm = |i: usize| dense.iter().map(|r| r[i] * r[i]).sum::<f32>().sqrt();
        for i in (0..items).step_by(37) {
            let mut want: Vec<(u32, f32)> = (0..items)
                .filter(|&j| j != i)
                .map(|j| {
                    let dot: f32 = dense.iter().map(|r| r[i] * r[j]).sum();
                    (j as u32, dot / (norm(i) * norm(j) + p.shrinkage))
                })
                .filter(|&(_, s)| s > 0.0)
                .collect();
            want.sort_by(better);
            want.truncate(5);
            let (items_got, sims_got) = nb.row(i);
            assert_eq!(items_got.len(), want.len());
            for ((&j, &s), &(wj, ws)) in items_got.iter().zip(sims_got).zip(&want) {
                assert!((s - ws).abs() < 1e-5, "item {i}: {j} {s} vs {wj} {ws}");
            }
        }
    }

    #[test]
    fn heavy_users_count_with_their_strongest_shoes_only() {
        // User 0 has 4 shoes; capped at 2 they are shoes 1 and 3 (weights 5 and 4), so 0 and 2
        // no longer co-occur through them. User 1 links 0 and 2 as before.
        let a = matrix(&[&[1.0, 5.0, 2.0, 4.0], &[1.0, 0.0, 1.0, 0.0]]);
        let capped = KnnParams {
            max_user_items: 2,
            ..params(10, 0.0, Weighting::Raw)
        };
        let x = weighted_rows(&a, &capped);
        assert_eq!(x.outer_view(0).unwrap().indices(), &[1, 3]);
        assert_eq!(x.outer_view(1).unwrap().indices(), &[0, 2]);
        let nb = build(&a, &capped, &mut || {});
        // Shoes 0 and 2: users {1} each now, cosine 1; shoes 1 and 3: user 0 only, cosine 1.
        assert_row(&nb, 0, &[(2, 1.0)]);
        assert_row(&nb, 1, &[(3, 1.0)]);
        let all = build(&a, &params(10, 0.0, Weighting::Raw), &mut || {});
        assert_eq!(
            all.row(0).0.len(),
            3,
            "uncapped: 0 co-occurs with 1, 2 and 3"
        );
    }

    #[test]
    fn zero_weights_are_left_out() {
        // A weight-0 action (e.g. an action weighed 0 in reco.action_weights) adds nothing.
        let a = matrix(&[&[1.0, 1.0, 0.0], &[1.0, 0.0, 1.0]]);
        let mut t = sprs::TriMat::new((2, 3));
        t.add_triplet(0, 0, 1.0f32);
        t.add_triplet(0, 1, 1.0);
        t.add_triplet(0, 2, 0.0);
        t.add_triplet(1, 0, 1.0);
        t.add_triplet(1, 2, 1.0);
        let with_zero: CsMat<f32> = t.to_csr();
        let p = params(10, 0.0, Weighting::Raw);
        assert_eq!(build(&a, &p, &mut || {}), build(&with_zero, &p, &mut || {}));
    }

    #[test]
    fn what_came_next_is_added_to_the_similarity() {
        // Users 0 and 1 bought shoe 0, then shoe 1; user 2 bought shoe 2, then shoe 0.
        let a = matrix(&[&[1.0, 1.0, 0.0], &[1.0, 1.0, 0.0], &[1.0, 0.0, 1.0]]);
        let seqs = Sequences::from_events(
            3,
            3,
            &[0, 0, 1, 1, 2, 2],
            &[1, 0, 0, 1, 0, 2],
            &[1.0; 6],
            &[2, 1, 1, 2, 2, 1],
        );
        assert_eq!(seqs.flat, vec![0, 1, END, 0, 1, END, 2, 0, END]);
        let p = KnnParams {
            next_weight: 1.0,
            ..params(10, 0.0, Weighting::Binary)
        };
        let nb = build_with_next_unless(&a, Some(&seqs), &p, &mut || false).unwrap();
        // cos(0, 1) = 2 / (sqrt 3 sqrt 2), cos(0, 2) = 1 / sqrt 3, cos(1, 2) = 0.
        // T(0, 1) = 2, out(0) = 2, in(1) = 2: next(0, 1) = 2 / (2 + 10).
        // T(2, 0) = 1, out(2) = 1, in(0) = 1: next(2, 0) = 1 / (1 + 10).
        let c01 = 2.0 / (3f32.sqrt() * 2f32.sqrt());
        let c02 = 1.0 / 3f32.sqrt();
        // Each sum is divided by 1 + next_weight = 2.
        assert_row(&nb, 0, &[(1, (c01 + 2.0 / 12.0) / 2.0), (2, c02 / 2.0)]);
        // Nothing came after shoe 1: the plain cosine (the lists are no longer symmetric).
        assert_row(&nb, 1, &[(0, c01 / 2.0)]);
        assert_row(&nb, 2, &[(0, (c02 + 1.0 / 11.0) / 2.0)]);
        // Weight 0, or no histories: the plain build.
        let plain = build(&a, &params(10, 0.0, Weighting::Binary), &mut || {});
        let off = KnnParams {
            next_weight: 0.0,
            ..p
        };
        assert_eq!(
            build_with_next_unless(&a, Some(&seqs), &off, &mut || false).unwrap(),
            plain
        );
        assert_eq!(
            build_with_next_unless(&a, Some(&Sequences::default()), &p, &mut || false).unwrap(),
            plain
        );
        // A heavy weight reorders. Now users 0 and 1 bought shoe 1 first, then 0, and user 2
        // bought 0, then 2: shoe 0 co-occurs most with 1 (the plain top 1), but what came after
        // it is 2. T(0, 2) = 1, out(0) = 1, in(2) = 1: next(0, 2) = 1 / (1 + 10).
        let seqs = Sequences::from_events(
            3,
            3,
            &[0, 0, 1, 1, 2, 2],
            &[1, 0, 1, 0, 0, 2],
            &[1.0; 6],
            &[1, 2, 1, 2, 1, 2],
        );
        assert_eq!(seqs.flat, vec![1, 0, END, 1, 0, END, 0, 2, END]);
        let top1 = params(1, 0.0, Weighting::Binary);
        assert_row(&build(&a, &top1, &mut || {}), 0, &[(1, c01)]);
        let heavy = KnnParams {
            next_weight: 10.0,
            ..top1
        };
        let nb = build_with_next_unless(&a, Some(&seqs), &heavy, &mut || false).unwrap();
        assert_row(&nb, 0, &[(2, (c02 + 10.0 / 11.0) / 11.0)]);
    }

    #[test]
    fn a_shoe_that_followed_without_co_occurring_in_the_matrix_is_still_a_neighbour() {
        // User 0 bought shoes 0, 1, 2 in that order but the cap keeps only their 2 strongest
        // (1 and 2): 0 co-occurs with nothing, yet 1 and 2 followed it.
        let a = matrix(&[&[1.0, 5.0, 5.0]]);
        let seqs =
            Sequences::from_events(1, 3, &[0, 0, 0], &[0, 1, 2], &[1.0, 5.0, 5.0], &[1, 2, 3]);
        let p = KnnParams {
            next_weight: 1.0,
            max_user_items: 2,
            ..params(10, 0.0, Weighting::Raw)
        };
        let nb = build_with_next_unless(&a, Some(&seqs), &p, &mut || false).unwrap();
        // T(0, 1) = 1, T(0, 2) = 1/2: out(0) = 1.5; in(1) = 1, in(2) = 1/2 + 1 = 1.5.
        let n01 = 1.0 / (1.5f32.sqrt() * 1.0 + 10.0);
        let n02 = 0.5 / (1.5f32.sqrt() * 1.5f32.sqrt() + 10.0);
        // Divided by 1 + next_weight = 2.
        assert_row(&nb, 0, &[(1, n01 / 2.0), (2, n02 / 2.0)]);
    }

    #[test]
    fn query_scores_follow_the_history() {
        let nb = Neighbours::from_rows(vec![
            vec![(1, 0.8), (2, 0.2)],
            vec![(0, 0.8)],
            vec![(0, 0.2)],
        ]);
        // History: shoe 0 bought twice (weight 10), shoe 2 viewed (1), binary weighting.
        let s = user_scores(&nb, 3, &[(0, 10.0), (2, 1.0)], Weighting::Binary);
        assert_eq!(s, vec![0.2, 0.8, 0.2]);
        let s = user_scores(&nb, 3, &[(0, 10.0)], Weighting::Raw);
        assert_eq!(s, vec![0.0, 8.0, 2.0]);
        // A shoe outside the lists (position 5) and an empty model add nothing.
        assert_eq!(
            user_scores(&nb, 3, &[(5, 1.0)], Weighting::Binary),
            vec![0.0; 3]
        );
        assert_eq!(
            user_scores(&Neighbours::empty(3), 3, &[(0, 1.0)], Weighting::Binary),
            vec![0.0; 3]
        );
    }
}
