//! Query-time scoring shared by recommend() (serving) and the offline evaluation, so both rank
//! exactly the same way.

use sprs::CsMat;

use crate::itemknn::{self, Neighbours, Weighting};

/// A TF-IDF matrix by term, for scoring a sparse query: each term's postings are its shoes'
/// rows, each beside its weight, so one 8-byte load fetches both (a CSC with `usize` indices
/// takes two loads from two arrays, 12 bytes). Scoring a recommend() call's profile walks a
/// third of the matrix and was over a third of the CPU time of the call (tier M, 2026-12-03).
#[derive(Clone, Debug, Default)]
pub struct Postings {
    rows: usize,
    /// Term t's postings are `entries[starts[t]..starts[t + 1]]`.
    starts: Vec<usize>,
    /// (row, weight), rows increasing within a term.
    entries: Vec<(u32, f32)>,
}

impl Postings {
    /// From a matrix with a row per shoe and a column per term (CSR or CSC).
    ///
    /// Panics when there are 2^32 rows or more.
    pub fn new(matrix: &CsMat<f32>) -> Postings {
        let by_term = if matrix.is_csc() {
            matrix.view()
        } else {
            return Postings::new(&matrix.to_csc());
        };
        let rows = by_term.rows();
        assert!(u32::try_from(rows).is_ok(), "rows fit in u32");
        let mut starts = Vec::with_capacity(by_term.cols() + 1);
        let mut entries = Vec::with_capacity(by_term.nnz());
        starts.push(0);
        for col in by_term.outer_iterator() {
            entries.extend(col.iter().map(|(row, &w)| (row as u32, w)));
            starts.push(entries.len());
        }
        Postings {
            rows,
            starts,
            entries,
        }
    }

    /// Shoes (rows of the matrix).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Terms (columns of the matrix).
    pub fn terms(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }
}

/// Score every shoe against a sparse query (terms increasing): the cost is the length of the
/// query's posting lists, not n x V. With L2-normalised rows and query this is cosine
/// similarity. Each shoe's sum runs over the query's terms in increasing order; terms outside
/// the matrix add nothing.
pub fn content_scores(by_term: &Postings, query: &[(usize, f32)]) -> Vec<f32> {
    let mut scores = vec![0f32; by_term.rows];
    for &(term, q) in query {
        let Some(postings) = by_term
            .starts
            .get(term..term + 2)
            .map(|s| &by_term.entries[s[0]..s[1]])
        else {
            continue;
        };
        for &(row, w) in postings {
            // SAFETY: every row of `entries` is below `rows` = scores.len() (Postings::new takes
            // them from a matrix of that many rows, and nothing else writes them); the bounds
            // check of a plain index was a tenth of this loop.
            unsafe { *scores.get_unchecked_mut(row as usize) += q * w };
        }
    }
    scores
}

/// [`content_scores`] of several profiles at once, bit for bit: `out[u]` is
/// `content_scores(by_term, profiles[u])`, computed by one pass over the shoes' rows (`by_shoe`,
/// the same matrix in CSR) with the profiles as a dense terms x users block. Scattering one
/// profile's terms over their shoes touches most of the matrix for every user (a profile has
/// a third of a small vocabulary's terms); a batch shares that pass, and the inner loop over
/// users vectorises. Each shoe's sum runs over its terms in increasing order, as the scatter
/// adds them, and a term outside a profile adds an exact 0.
pub fn content_scores_batch(by_shoe: &CsMat<f32>, profiles: &[&[(usize, f32)]]) -> Vec<Vec<f32>> {
    debug_assert!(by_shoe.is_csr(), "one row per shoe");
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { content_scores_batch_avx2(by_shoe, profiles) };
        }
    }
    content_scores_batch_lanes(by_shoe, profiles)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn content_scores_batch_avx2(
    by_shoe: &CsMat<f32>,
    profiles: &[&[(usize, f32)]],
) -> Vec<Vec<f32>> {
    content_scores_batch_lanes(by_shoe, profiles)
}

#[inline(always)]
fn content_scores_batch_lanes(by_shoe: &CsMat<f32>, profiles: &[&[(usize, f32)]]) -> Vec<Vec<f32>> {
    let mut out: Vec<Vec<f32>> = profiles
        .iter()
        .map(|_| Vec::with_capacity(by_shoe.rows()))
        .collect();
    for (first, chunk) in (0..profiles.len())
        .step_by(CONTENT_BATCH)
        .zip(profiles.chunks(CONTENT_BATCH))
    {
        let terms = by_shoe.cols();
        let mut q = vec![0f32; terms * CONTENT_BATCH];
        for (b, profile) in chunk.iter().enumerate() {
            for &(t, w) in profile.iter() {
                if t < terms {
                    q[t * CONTENT_BATCH + b] = w;
                }
            }
        }
        let outs = &mut out[first..first + chunk.len()];
        for row in by_shoe.outer_iterator() {
            let mut acc = [0f32; CONTENT_BATCH];
            for (t, &w) in row.iter() {
                let qt = &q[t * CONTENT_BATCH..(t + 1) * CONTENT_BATCH];
                for (a, &x) in acc.iter_mut().zip(qt) {
                    *a += x * w;
                }
            }
            for (o, &a) in outs.iter_mut().zip(&acc) {
                o.push(a);
            }
        }
    }
    out
}

/// Profiles per pass of [`content_scores_batch`] (two AVX registers of sums per shoe).
const CONTENT_BATCH: usize = 16;

/// PureSVD fold-in: the user's vector in factor space, p = sum_h w_h * V_h.
pub fn fold_in(factors: &[f32], k: usize, history: &[(usize, f32)]) -> Vec<f32> {
    let mut p = vec![0f32; k];
    for &(pos, w) in history {
        let row = &factors[pos * k..(pos + 1) * k];
        for (acc, v) in p.iter_mut().zip(row) {
            *acc += w * v;
        }
    }
    p
}

/// CF score of every shoe: V p (the user's row of A V Vᵀ). This is most of the CPU time of a
/// recommend() call, so the dot products use 8 independent lanes (f32 sums cannot be vectorised
/// by the compiler otherwise) and an AVX2+FMA build of the same code where the CPU has it.
pub fn cf_scores(factors: &[f32], k: usize, p: &[f32]) -> Vec<f32> {
    if k == 0 {
        return Vec::new();
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { cf_scores_avx2(factors, k, p) };
        }
    }
    cf_scores_lanes(factors, k, p)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cf_scores_avx2(factors: &[f32], k: usize, p: &[f32]) -> Vec<f32> {
    cf_scores_lanes(factors, k, p)
}

#[inline(always)]
fn cf_scores_lanes(factors: &[f32], k: usize, p: &[f32]) -> Vec<f32> {
    factors
        .chunks_exact(k)
        .map(|row| dot_lanes(row, p))
        .collect()
}

/// [`cf_scores`] of several users at once: `out[u]` is `cf_scores(factors, k, queries[u])`,
/// bit for bit. One pass over the shoes' factors serves every query, so a batch of users (the
/// held-out quality sample, evaluate()) reads the n x k matrix, several MB, once per batch
/// instead of once per user: scoring one user is bound by that read, not by the arithmetic.
pub fn cf_scores_batch(factors: &[f32], k: usize, queries: &[&[f32]]) -> Vec<Vec<f32>> {
    if k == 0 {
        return vec![Vec::new(); queries.len()];
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { cf_scores_batch_avx2(factors, k, queries) };
        }
    }
    cf_scores_batch_lanes(factors, k, queries)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cf_scores_batch_avx2(factors: &[f32], k: usize, queries: &[&[f32]]) -> Vec<Vec<f32>> {
    cf_scores_batch_lanes(factors, k, queries)
}

#[inline(always)]
fn cf_scores_batch_lanes(factors: &[f32], k: usize, queries: &[&[f32]]) -> Vec<Vec<f32>> {
    let n = factors.len() / k;
    let mut out: Vec<Vec<f32>> = queries.iter().map(|_| Vec::with_capacity(n)).collect();
    for row in factors.chunks_exact(k) {
        for (scores, p) in out.iter_mut().zip(queries) {
            scores.push(dot_lanes(row, p));
        }
    }
    out
}

#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let split = a.len().min(b.len()) / LANES * LANES;
    let mut acc = [0f32; LANES];
    for (x, y) in a[..split]
        .chunks_exact(LANES)
        .zip(b[..split].chunks_exact(LANES))
    {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = a[split..].iter().zip(&b[split..]).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Dot product of two sparse vectors sorted by index.
pub fn sparse_dot(a: &[(usize, f32)], b: &[(usize, f32)]) -> f32 {
    let (mut i, mut j, mut s) = (0, 0, 0f32);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                s += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    s
}

/// Weighted sum of sparse vectors, sorted by index and L2-normalised (empty if all zero).
pub fn weighted_profile(parts: &[(&[(usize, f32)], f32)]) -> Vec<(usize, f32)> {
    let mut acc: std::collections::BTreeMap<usize, f32> = Default::default();
    for (vec, w) in parts {
        for &(t, v) in vec.iter() {
            *acc.entry(t).or_default() += w * v;
        }
    }
    let norm = acc.values().map(|v| v * v).sum::<f32>().sqrt();
    if norm <= 0.0 || !norm.is_finite() {
        return Vec::new();
    }
    acc.into_iter().map(|(t, v)| (t, v / norm)).collect()
}

/// Divide by the largest absolute value so scores of different kinds are comparable (max 1).
pub fn scale_by_max_abs(v: &mut [f32]) {
    let max = v.iter().map(|x| x.abs()).fold(0f32, f32::max);
    if max > 0.0 && max.is_finite() {
        v.iter_mut().for_each(|x| *x /= max);
    }
}

/// Divide by the largest value so the maximum is 1 (popularity); all-zero stays zero.
pub fn scale_to_unit_max(v: &mut [f32]) {
    let max = v.iter().cloned().fold(0f32, f32::max);
    if max > 0.0 && max.is_finite() {
        v.iter_mut().for_each(|x| *x /= max);
    }
}

/// Weight of CF in the hybrid for a user with `history` distinct shoes: it grows from 0 towards
/// `cf_weight` as history accumulates, reaching half of it at `shrinkage` shoes.
pub fn cf_blend_weight(cf_weight: f64, shrinkage: f64, history: usize) -> f64 {
    let n = history as f64;
    if n == 0.0 {
        return 0.0;
    }
    cf_weight * n / (n + shrinkage)
}

/// Time-decayed weight: halves every `half_life_days` before `reference_epoch` (0 = no decay).
pub fn decayed(weight: f64, at_epoch: f64, reference_epoch: f64, half_life_days: f64) -> f64 {
    if half_life_days <= 0.0 {
        return weight;
    }
    weight * 0.5f64.powf((reference_epoch - at_epoch).max(0.0) / (half_life_days * 86_400.0))
}

/// Cosine of two dense vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa <= 0.0 || bb <= 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

/// What a model offers for scoring one user, as plain slices (shared by recommend() and the
/// offline evaluation, so both rank exactly the same way).
pub struct ModelView<'a> {
    /// Factors per shoe, `k` each (zeros for shoes outside the model); k = 0 means no CF.
    pub k: usize,
    pub factors: &'a [f32],
    pub in_model: &'a [bool],
    /// TF-IDF rows (CSR) and the same matrix by term.
    pub content: &'a CsMat<f32>,
    pub content_by_term: &'a Postings,
    /// Popularity scaled to a maximum of 1.
    pub popularity: &'a [f32],
    /// Item-item neighbours by catalogue position (empty: no item-item component).
    pub neighbours: &'a Neighbours,
}

/// How the parts of the hybrid are weighed (reco.knn_weight, reco.cf_weight,
/// reco.history_shrinkage, reco.content_weight, reco.popularity_weight, reco.recency_half_life,
/// reco.recency_floor, reco.content_profile_terms), read by the SQL layer and passed in.
#[derive(Clone, Copy, Debug)]
pub struct Blend {
    /// Weight of the item-item score.
    pub knn_weight: f64,
    /// Weight of the CF score for a long history (0 disables CF).
    pub cf_weight: f64,
    /// History size at which the CF weight reaches half of `cf_weight`.
    pub history_shrinkage: f64,
    /// Weight of the TF-IDF cosine with the history's profile.
    pub content_weight: f64,
    /// Weight of popularity.
    pub popularity_weight: f64,
    /// Recency weighting of the history, in shoes (0 = off): see [`recency_factor`].
    pub recency_half_life: f64,
    /// The share of a shoe's weight recency weighting keeps however old it is.
    pub recency_floor: f64,
    /// Most terms of the history's TF-IDF profile the content score uses, its strongest
    /// (0 = all): see [`strongest_terms`].
    pub content_terms: usize,
}

/// What the weight of a history shoe is multiplied by when `rank` other shoes of the user's
/// history were touched more recently (0 = the newest): `floor + (1 - floor) 0.5^(rank /
/// half_life)`, 1 when `half_life` is 0. What a shopper did last says most about what they look
/// for next (on the validation splits of both real datasets), but a long history's older shoes
/// still say what they like, hence the floor. Counted in shoes, not days, so the same value fits
/// a shop visited daily and one visited yearly.
pub fn recency_factor(rank: u32, half_life: f64, floor: f64) -> f32 {
    if half_life <= 0.0 || floor >= 1.0 || !half_life.is_finite() {
        return 1.0;
    }
    let floor = floor.max(0.0);
    (floor + (1.0 - floor) * 0.5f64.powf(rank as f64 / half_life)) as f32
}

/// Recency ranks of a history's shoes from the key of each one's latest interaction (time, then
/// interaction id): 0 for the largest key, 1 for the next, ...; equal keys keep their order.
pub fn recency_ranks<K: PartialOrd>(latest: &[K]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..latest.len()).collect();
    order.sort_by(|&a, &b| {
        latest[b]
            .partial_cmp(&latest[a])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut ranks = vec![0u32; latest.len()];
    for (r, i) in order.into_iter().enumerate() {
        ranks[i] = r as u32;
    }
    ranks
}

/// The history's weights multiplied by their [`recency_factor`]; `recency` is parallel to
/// `history` (an empty slice: no recency weighting).
pub fn recency_weighted(
    history: &[(usize, f32)],
    recency: &[u32],
    blend: &Blend,
) -> Vec<(usize, f32)> {
    if recency.is_empty() || blend.recency_half_life <= 0.0 {
        return history.to_vec();
    }
    history
        .iter()
        .zip(recency)
        .map(|(&(p, w), &r)| {
            (
                p,
                w * recency_factor(r, blend.recency_half_life, blend.recency_floor),
            )
        })
        .collect()
}

/// The exponent of the item-item similarity (see itemknn).
pub const KNN_EXPONENT: f32 = 2.0;

/// How the history's weights enter the item-item score: the weighting the neighbours were built
/// with. The weights themselves (raw) scored best on MovieLens, where a rating below 4 is a view
/// (weight 1) and above a purchase (5); on Amazon every interaction is a purchase, so all
/// weightings are the same there.
pub const KNN_WEIGHTING: Weighting = Weighting::Raw;

/// Per-shoe scores of one user: the hybrid and its parts (each scaled to a maximum of 1).
pub struct UserScores {
    pub hybrid: Vec<f32>,
    pub cf: Vec<f32>,
    pub content: Vec<f32>,
    pub knn: Vec<f32>,
}

/// Score every shoe for a user with `history` = (shoe position, summed weight), sorted by
/// position:
///
/// ```text
/// score = knn_weight * knn + cf_weight * n / (n + history_shrinkage) * cf
///       + content_weight * content + popularity_weight * popularity
/// ```
///
/// with n the number of distinct shoes in the history, knn the item-item score
/// `Σ_h w_h sim(h, ·)` divided by its maximum, cf the PureSVD fold-in `r V Vᵀ` divided by its
/// largest absolute value, content the cosine with the history's TF-IDF profile, popularity
/// scaled to a maximum of 1. CF grows with the history: users with little of it get the
/// neighbours of what they did and content; long histories add the low-rank model.
pub fn user_scores(m: &ModelView, history: &[(usize, f32)], blend: &Blend) -> UserScores {
    // One filter of the history serves the fold-in and the item-item part (a recommend() call).
    let in_model = in_model(m, history);
    let cf = fold_in_model(m, &in_model).map(|p| cf_scores(m.factors, m.k, &p));
    scores_from_parts(m, history, &in_model, blend, cf, None)
}

/// The history's shoes that are in the model (the CF and item-item parts use only those).
fn in_model(m: &ModelView, history: &[(usize, f32)]) -> Vec<(usize, f32)> {
    history
        .iter()
        .copied()
        .filter(|&(p, _)| m.in_model[p])
        .collect()
}

fn fold_in_model(m: &ModelView, in_model: &[(usize, f32)]) -> Option<Vec<f32>> {
    (m.k > 0 && !in_model.is_empty()).then(|| fold_in(m.factors, m.k, in_model))
}

/// The user's vector in factor space (the fold-in of the history's shoes that are in the
/// model), or None when there is no CF part (no factors, or no such shoe): what
/// [`cf_scores`] / [`cf_scores_batch`] take.
pub fn cf_query(m: &ModelView, history: &[(usize, f32)]) -> Option<Vec<f32>> {
    fold_in_model(m, &in_model(m, history))
}

/// The history's TF-IDF profile: the rows of its shoes weighted by the history's weights,
/// summed, cut to its `max_terms` strongest terms (0 = all; [`strongest_terms`]) and
/// L2-normalised (empty when no shoe has text); what [`content_scores`] takes.
pub fn content_profile(
    m: &ModelView,
    history: &[(usize, f32)],
    max_terms: usize,
) -> Vec<(usize, f32)> {
    let rows: Vec<Vec<(usize, f32)>> = history
        .iter()
        .map(|&(p, _)| {
            m.content
                .outer_view(p)
                .map(|r| r.iter().map(|(t, &w)| (t, w)).collect())
                .unwrap_or_default()
        })
        .collect();
    let parts: Vec<(&[(usize, f32)], f32)> = rows
        .iter()
        .zip(history)
        .map(|(r, &(_, w))| (r.as_slice(), w))
        .collect();
    strongest_terms(weighted_profile(&parts), max_terms)
}

/// The `max_terms` terms of `profile` with the largest absolute weights (ties: the lower term
/// first), in term order and L2-normalised again; `profile` itself when it has no more terms
/// than that or `max_terms` is 0. A long history's profile holds hundreds of terms, among them
/// most of a small vocabulary, and scoring it touches nearly every posting of the catalogue (a
/// user with 150 shoes cost about three times a user with 11 in recommend(), the content pass
/// most of it); its weakest terms move the cosine least.
pub fn strongest_terms(mut profile: Vec<(usize, f32)>, max_terms: usize) -> Vec<(usize, f32)> {
    if max_terms == 0 || profile.len() <= max_terms {
        return profile;
    }
    let stronger =
        |a: &(usize, f32), b: &(usize, f32)| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0));
    profile.select_nth_unstable_by(max_terms - 1, stronger);
    profile.truncate(max_terms);
    profile.sort_unstable_by_key(|&(t, _)| t);
    let norm = profile.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    if norm <= 0.0 || !norm.is_finite() {
        return Vec::new();
    }
    profile.iter_mut().for_each(|(_, v)| *v /= norm);
    profile
}

/// [`user_scores`] with parts already computed, so that a batch of users can share one pass
/// over the model: `cf` is `cf_scores` of [`cf_query`]'s vector (None where that is None),
/// `content` is `content_scores` of [`content_profile`] (None: computed here).
pub fn user_scores_with_parts(
    m: &ModelView,
    history: &[(usize, f32)],
    blend: &Blend,
    cf: Option<Vec<f32>>,
    content: Option<Vec<f32>>,
) -> UserScores {
    scores_from_parts(m, history, &in_model(m, history), blend, cf, content)
}

fn scores_from_parts(
    m: &ModelView,
    history: &[(usize, f32)],
    in_model: &[(usize, f32)],
    blend: &Blend,
    cf: Option<Vec<f32>>,
    content: Option<Vec<f32>>,
) -> UserScores {
    let n = m.popularity.len();
    let a = if m.k > 0 {
        cf_blend_weight(blend.cf_weight, blend.history_shrinkage, history.len()) as f32
    } else {
        0.0
    };
    let mut cf = cf.unwrap_or_else(|| vec![0f32; n]);
    scale_by_max_abs(&mut cf);
    let content = content.unwrap_or_else(|| {
        content_scores(
            m.content_by_term,
            &content_profile(m, history, blend.content_terms),
        )
    });
    let mut knn = if m.neighbours.is_empty() || blend.knn_weight <= 0.0 {
        vec![0f32; n]
    } else {
        itemknn::user_scores(m.neighbours, n, in_model, KNN_WEIGHTING)
    };
    scale_to_unit_max(&mut knn);
    let (wk, wc, wp) = (
        blend.knn_weight as f32,
        blend.content_weight as f32,
        blend.popularity_weight as f32,
    );
    let hybrid = (0..n)
        .map(|i| wk * knn[i] + a * cf[i] + wc * content[i] + wp * m.popularity[i])
        .collect();
    UserScores {
        hybrid,
        cf,
        content,
        knn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blend_with_recency(half_life: f64, floor: f64) -> Blend {
        Blend {
            knn_weight: 1.0,
            cf_weight: 1.4,
            history_shrinkage: 30.0,
            content_weight: 1.0,
            popularity_weight: 0.05,
            recency_half_life: half_life,
            recency_floor: floor,
            content_terms: 0,
        }
    }

    #[test]
    fn recency_factor_halves_every_half_life_down_to_the_floor() {
        // half-life 2, floor 0.25: 1, 0.25 + 0.75 / sqrt(2), 0.25 + 0.375, ..., -> 0.25.
        assert_eq!(recency_factor(0, 2.0, 0.25), 1.0);
        assert!((recency_factor(1, 2.0, 0.25) - (0.25 + 0.75 * 0.5f32.sqrt())).abs() < 1e-6);
        assert!((recency_factor(2, 2.0, 0.25) - 0.625).abs() < 1e-6);
        assert!((recency_factor(4, 2.0, 0.25) - 0.4375).abs() < 1e-6);
        assert!((recency_factor(200, 2.0, 0.25) - 0.25).abs() < 1e-6);
        // Floor 0: the weight itself halves.
        assert!((recency_factor(3, 3.0, 0.0) - 0.5).abs() < 1e-6);
        // Off: half-life 0, or a floor of 1.
        assert_eq!(recency_factor(7, 0.0, 0.25), 1.0);
        assert_eq!(recency_factor(7, 2.0, 1.0), 1.0);
    }

    #[test]
    fn recency_ranks_put_the_latest_first_and_keep_ties_in_order() {
        assert_eq!(recency_ranks(&[10, 30, 20]), vec![2, 0, 1]);
        assert_eq!(recency_ranks(&[(5, 1), (5, 2), (4, 9)]), vec![1, 0, 2]);
        // Equal keys: the earlier one ranks first (a stable sort).
        assert_eq!(recency_ranks(&[7, 7]), vec![0, 1]);
        assert!(recency_ranks::<i64>(&[]).is_empty());
    }

    #[test]
    fn recency_weighted_scales_each_weight_by_its_rank() {
        let history = [(3, 5.0), (8, 1.0), (9, -2.0)];
        let w = recency_weighted(&history, &[2, 0, 1], &blend_with_recency(1.0, 0.0));
        assert_eq!(w, vec![(3, 1.25), (8, 1.0), (9, -1.0)]);
        // Off, or no ranks: the weights as they are.
        assert_eq!(
            recency_weighted(&history, &[2, 0, 1], &blend_with_recency(0.0, 0.0)),
            history.to_vec()
        );
        assert_eq!(
            recency_weighted(&history, &[], &blend_with_recency(1.0, 0.0)),
            history.to_vec()
        );
    }

    #[test]
    fn content_scores_match_dense_dot() {
        // rows: [1,0,0], [0.6,0.8,0], [0,0,1]
        let m = CsMat::new(
            (3, 3),
            vec![0, 1, 3, 4],
            vec![0, 0, 1, 2],
            vec![1.0, 0.6, 0.8, 1.0],
        );
        let s = content_scores(&Postings::new(&m), &[(0, 0.6), (1, 0.8)]);
        // CSR and CSC give the same postings; a term past the vocabulary adds nothing.
        assert_eq!(
            content_scores(&Postings::new(&m.to_csc()), &[(0, 0.6), (1, 0.8), (7, 1.0)]),
            s
        );
        assert_eq!(Postings::new(&m).terms(), 3);
        assert_eq!(Postings::new(&m).rows(), 3);
        assert!((s[0] - 0.6).abs() < 1e-6);
        assert!((s[1] - 1.0).abs() < 1e-6);
        assert_eq!(s[2], 0.0);
    }

    #[test]
    fn fold_in_and_cf_scores() {
        // V = [[1,0],[0,1],[1,1]] (k = 2); history: shoe 0 with weight 2.
        let v = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let p = fold_in(&v, 2, &[(0, 2.0)]);
        assert_eq!(p, vec![2.0, 0.0]);
        assert_eq!(cf_scores(&v, 2, &p), vec![2.0, 0.0, 2.0]);
        // Lanes and tail: k = 19 against a plain sum.
        let a: Vec<f32> = (0..38).map(|i| (i as f32 * 0.37).sin()).collect();
        let q: Vec<f32> = (0..19).map(|i| (i as f32 * 0.11).cos()).collect();
        let got = cf_scores(&a, 19, &q);
        for (r, g) in a.chunks(19).zip(&got) {
            let want: f32 = r.iter().zip(&q).map(|(x, y)| x * y).sum();
            assert!((want - g).abs() < 1e-5, "{want} vs {g}");
        }
    }

    #[test]
    fn batched_cf_scores_equal_one_user_at_a_time_bit_for_bit() {
        // 7 shoes x k = 19 (lanes and a tail), 3 queries, and the empty batch.
        let k = 19;
        let v: Vec<f32> = (0..7 * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let qs: Vec<Vec<f32>> = (0..3)
            .map(|u| (0..k).map(|i| ((i + 5 * u) as f32 * 0.11).cos()).collect())
            .collect();
        let refs: Vec<&[f32]> = qs.iter().map(|q| q.as_slice()).collect();
        let batch = cf_scores_batch(&v, k, &refs);
        assert_eq!(batch.len(), 3);
        for (q, got) in qs.iter().zip(&batch) {
            let want = cf_scores(&v, k, q);
            assert_eq!(got.len(), 7);
            assert!(want
                .iter()
                .zip(got)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        assert!(cf_scores_batch(&v, k, &[]).is_empty());
        assert_eq!(cf_scores_batch(&[], 0, &refs), vec![Vec::<f32>::new(); 3]);
    }

    #[test]
    fn batched_content_scores_equal_the_scatter_bit_for_bit() {
        // 9 shoes x 7 terms, irregular rows (shoe 4 has no text); 19 profiles (a full batch of
        // 16 and 3 more), one of them empty.
        let mut t = sprs::TriMat::new((9, 7));
        for shoe in 0..9usize {
            for term in 0..7usize {
                if shoe != 4 && (shoe * 3 + term * 5) % 4 != 0 {
                    t.add_triplet(shoe, term, ((shoe * 7 + term) as f32 * 0.53).sin().abs());
                }
            }
        }
        let by_shoe: CsMat<f32> = t.to_csr();
        let by_term = Postings::new(&by_shoe.to_csc());
        let profiles: Vec<Vec<(usize, f32)>> = (0..19usize)
            .map(|u| {
                (0..7usize)
                    .filter(|term| u != 5 && (u + term) % 3 != 0)
                    .map(|term| (term, ((u * 11 + term) as f32 * 0.29).cos()))
                    .collect()
            })
            .collect();
        let refs: Vec<&[(usize, f32)]> = profiles.iter().map(|p| p.as_slice()).collect();
        let batch = content_scores_batch(&by_shoe, &refs);
        assert_eq!(batch.len(), 19);
        assert!(batch[5].iter().all(|&x| x == 0.0));
        for (p, got) in profiles.iter().zip(&batch) {
            let want = content_scores(&by_term, p);
            assert_eq!(got.len(), 9);
            for (a, b) in want.iter().zip(got) {
                assert_eq!(a.to_bits(), b.to_bits(), "{want:?} {got:?}");
            }
        }
        assert!(content_scores_batch(&by_shoe, &[]).is_empty());
    }

    #[test]
    fn profile_dot_and_weights() {
        let a = [(0, 1.0f32), (2, 1.0)];
        let b = [(2, 2.0f32), (3, 1.0)];
        assert_eq!(sparse_dot(&a, &b), 2.0);
        let p = weighted_profile(&[(&a, 1.0), (&b, 0.0)]);
        let norm: f32 = p.iter().map(|x| x.1 * x.1).sum();
        assert!((norm - 1.0).abs() < 1e-6);
        assert!(weighted_profile(&[]).is_empty());
        assert_eq!(cf_blend_weight(0.8, 5.0, 0), 0.0);
        assert!((cf_blend_weight(0.8, 5.0, 5) - 0.4).abs() < 1e-12);
        assert!((decayed(4.0, 0.0, 86_400.0 * 30.0, 30.0) - 2.0).abs() < 1e-9);
        assert_eq!(decayed(4.0, 0.0, 1e9, 0.0), 4.0);
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.70710677).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        let mut v = [1.0, -4.0, 2.0];
        scale_by_max_abs(&mut v);
        assert_eq!(v, [0.25, -1.0, 0.5]);
    }

    #[test]
    fn strongest_terms_keeps_the_largest_weights_in_term_order() {
        // Weights 0.1, -0.6, 0.3, 0.6, 0.2 at terms 1, 3, 4, 7, 9 (not normalised on purpose).
        let p = vec![(1, 0.1f32), (3, -0.6), (4, 0.3), (7, 0.6), (9, 0.2)];
        // 0 or at least as many terms as there are: the profile itself, bit for bit.
        assert_eq!(strongest_terms(p.clone(), 0), p);
        assert_eq!(strongest_terms(p.clone(), 5), p);
        assert_eq!(strongest_terms(p.clone(), 9), p);
        // Three terms: |-0.6|, 0.6, 0.3, by absolute weight; back in term order, norm 0.9.
        let cut = strongest_terms(p.clone(), 3);
        assert_eq!(cut.iter().map(|t| t.0).collect::<Vec<_>>(), [3, 4, 7]);
        let expected = [-0.6 / 0.9, 0.3 / 0.9, 0.6 / 0.9];
        for ((_, v), e) in cut.iter().zip(expected) {
            assert!((v - e).abs() < 1e-6, "{v} against {e}");
        }
        // A tie at the cut (|-0.6| = 0.6) keeps the lower term.
        assert_eq!(strongest_terms(p.clone(), 1), [(3, -1.0)]);
        // All-zero weights: nothing to score with.
        assert!(strongest_terms(vec![(0, 0.0), (1, 0.0)], 1).is_empty());
        assert!(strongest_terms(Vec::new(), 2).is_empty());
    }
}
