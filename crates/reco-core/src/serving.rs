//! Serving: everything `recommend()` and `similar()` compute once the model and the user's
//! history are in memory. The SQL layer (src/recommend.rs) reads the arguments, the user and the
//! cached [`ServingModel`], and calls [`ServingModel::recommend`], [`ServingModel::cold_start`],
//! [`ServingModel::popular`] or [`ServingModel::similar`].

use std::collections::{HashMap, HashSet};

use sprs::CsMat;

use crate::catalog::Shoe;
use crate::itemknn::Neighbours;
use crate::model::Model;
use crate::scoring::{
    cf_scores, content_scores, cosine, decayed, recency_factor, recency_ranks, scale_to_unit_max,
    sparse_dot, user_scores, Blend, ModelView, Postings, UserScores,
};
use crate::segments::{segment_keys, usage_audience};
use crate::svd::TruncatedSvd;
use crate::tfidf::{ShoeText, TfidfModel};
use crate::topk::top_k;

/// A segment needs this many users before its popularity is used for cold start (one user's
/// picks are not a segment's taste).
pub const MIN_SEGMENT_USERS: i32 = 2;

/// How many of a user's history items (strongest action, then weight) are considered as the
/// "similar to ..." of a reason: a heavy user has hundreds, and comparing each result with all
/// of them made the reasons cost more than the ranking.
pub const REASON_CANDIDATES: usize = 50;

/// Strength of an action for reasons and for "already bought": 3 purchase, 2 wishlist, 1 view,
/// 0 anything else.
pub fn action_rank(action: &str) -> u8 {
    match action {
        "purchase" => 3,
        "add_to_wishlist" => 2,
        "view" => 1,
        _ => 0,
    }
}

fn action_phrase(rank: u8) -> &'static str {
    match rank {
        3 => "you bought",
        2 => "on your wishlist",
        _ => "you viewed",
    }
}

/// What a user did with one shoe, summed over their interactions.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryItem {
    /// Catalogue position.
    pub pos: usize,
    /// Sum of the (decayed) action weights.
    pub weight: f32,
    /// The strongest action ([`action_rank`]).
    pub strongest: u8,
    /// How many other shoes of the history were touched more recently (0 = the newest): see
    /// [`crate::scoring::recency_factor`].
    pub recency: u32,
}

/// A user's demographics (cold start).
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub age: Option<i32>,
    pub gender: Option<String>,
    pub usage: Option<String>,
}

/// Filters applied before the top-k, so k rows come back whenever k candidates pass them.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// Matched ignoring ASCII case.
    pub brand: Option<String>,
    pub shoe_type: Option<String>,
    /// A shoe without a price never passes.
    pub max_price: Option<f64>,
    pub allowed: Option<HashSet<i64>>,
    pub denied: HashSet<i64>,
}

impl Filters {
    /// Whether `shoe` may be recommended: active and passing every filter.
    pub fn admits(&self, shoe: &Shoe) -> bool {
        shoe.active
            && self
                .brand
                .as_ref()
                .is_none_or(|b| shoe.brand.eq_ignore_ascii_case(b))
            && self
                .shoe_type
                .as_ref()
                .is_none_or(|t| shoe.shoe_type.eq_ignore_ascii_case(t))
            && self
                .max_price
                .is_none_or(|m| shoe.price.is_some_and(|p| p <= m))
            && self
                .allowed
                .as_ref()
                .is_none_or(|a| a.contains(&shoe.shoe_id))
            && !self.denied.contains(&shoe.shoe_id)
    }
}

/// One row of recommend().
#[derive(Clone, Debug, PartialEq)]
pub struct Recommendation {
    /// Catalogue position.
    pub pos: usize,
    pub score: f64,
    pub cf_score: f64,
    pub content_score: f64,
    pub reason: String,
}

/// One row of similar().
#[derive(Clone, Debug, PartialEq)]
pub struct SimilarShoe {
    pub pos: usize,
    pub score: f64,
    pub content_score: f64,
    pub cf_score: f64,
    /// Item-item similarity relative to the closest neighbour (1 for it).
    pub knn_score: f64,
}

/// Weights of similar(): the CF factor cosine and the item-item similarity; the rest goes to the
/// TF-IDF cosine (reco.similar_cf_weight, reco.similar_knn_weight).
#[derive(Clone, Copy, Debug)]
pub struct SimilarBlend {
    pub cf_weight: f32,
    pub knn_weight: f32,
}

/// Cold-start popularity of one user segment: (catalogue position, score scaled to max 1), best
/// first.
#[derive(Clone, Debug, Default)]
pub struct SegmentList {
    pub users: i32,
    pub shoes: Vec<(usize, f32)>,
}

/// The active model joined with the current catalogue, indexed by catalogue position.
pub struct ServingModel {
    /// The catalogue in shoe_id order.
    pub shoes: Vec<Shoe>,
    pub pos: HashMap<i64, usize>,
    /// False before the first refresh: no CF, popularity from the live log.
    pub has_model: bool,
    /// Factors per shoe (k each); zeros for shoes the model has not seen. k = 0: no CF.
    pub k: usize,
    pub factors: Vec<f32>,
    /// The same rows scaled to unit length, so similar() gets cosines from dot products.
    pub unit_factors: Vec<f32>,
    pub in_model: Vec<bool>,
    /// TF-IDF rows (L2-normalised), and the same matrix by term for scoring a query.
    pub content: CsMat<f32>,
    pub content_by_term: Postings,
    pub vocab: TfidfModel,
    /// Popularity scaled to a maximum of 1.
    pub popularity: Vec<f32>,
    pub segments: HashMap<String, SegmentList>,
    /// Item-item neighbours by catalogue position (empty before the first refresh, or for a
    /// version built before 0.2.0).
    pub neighbours: Neighbours,
    /// Time decay of the model (0 = none) and its reference time (epoch seconds).
    pub half_life_days: f64,
    pub reference_epoch: f64,
}

/// Parts of a stored model version, as read back from its tables (src/cache.rs).
pub struct StoredModel {
    pub k: usize,
    pub vocab: TfidfModel,
    /// (shoe_id, factors, popularity) per shoe of the version.
    pub shoes: Vec<(i64, Vec<f32>, f32)>,
    /// (shoe_id, neighbour shoe ids, similarities) per shoe that has neighbours.
    pub neighbours: Vec<(i64, Vec<i64>, Vec<f32>)>,
    /// (segment, users, shoe ids, scores) per segment.
    pub segments: Vec<(String, i32, Vec<i64>, Vec<f32>)>,
    pub half_life_days: f64,
    pub reference_epoch: f64,
}

fn position_index(shoes: &[Shoe]) -> HashMap<i64, usize> {
    shoes
        .iter()
        .enumerate()
        .map(|(i, s)| (s.shoe_id, i))
        .collect()
}

impl ServingModel {
    /// Before the first refresh: content from a TF-IDF fitted on the spot, popularity from the
    /// live log (`popularity_sums`, by catalogue position), no CF.
    pub fn without_model(shoes: Vec<Shoe>, mut popularity_sums: Vec<f32>) -> ServingModel {
        let texts: Vec<ShoeText> = shoes.iter().map(Shoe::text).collect();
        let (vocab, content) = crate::tfidf::fit_transform(&texts);
        drop(texts);
        scale_to_unit_max(&mut popularity_sums);
        let n = shoes.len();
        ServingModel {
            pos: position_index(&shoes),
            shoes,
            has_model: false,
            k: 0,
            factors: Vec::new(),
            unit_factors: Vec::new(),
            in_model: vec![false; n],
            content_by_term: Postings::new(&content),
            content,
            vocab,
            popularity: popularity_sums,
            segments: HashMap::new(),
            neighbours: Neighbours::empty(n),
            half_life_days: 0.0,
            reference_epoch: 0.0,
        }
    }

    /// A stored model version served with the current catalogue. Content vectors come from the
    /// shoes' current text with the model's vocabulary and idf: the same as the stored rows for
    /// unchanged shoes, and right away for shoes added or edited since the refresh. Shoes deleted
    /// since the refresh are simply not served.
    pub fn from_stored(shoes: Vec<Shoe>, stored: StoredModel) -> ServingModel {
        let pos = position_index(&shoes);
        let n = shoes.len();
        let k = stored.k;
        let mut factors = vec![0f32; n * k];
        let mut in_model = vec![false; n];
        let mut popularity = vec![0f32; n];
        for (id, f, pop) in stored.shoes {
            let Some(&p) = pos.get(&id) else { continue };
            if f.len() == k {
                factors[p * k..(p + 1) * k].copy_from_slice(&f);
            }
            in_model[p] = true;
            popularity[p] = pop;
        }
        scale_to_unit_max(&mut popularity);
        let rows: Vec<Vec<(usize, f32)>> = shoes
            .iter()
            .map(|shoe| stored.vocab.transform(&shoe.text()))
            .collect();
        let content = csr_from_rows(&rows, stored.vocab.vocabulary.len());
        drop(rows);
        let mut segments = HashMap::new();
        for (segment, users, ids, scores) in stored.segments {
            let max = scores.iter().cloned().fold(0f32, f32::max);
            let list: Vec<(usize, f32)> = ids
                .iter()
                .zip(&scores)
                .filter_map(|(id, s)| {
                    pos.get(id)
                        .map(|&p| (p, if max > 0.0 { s / max } else { 0.0 }))
                })
                .collect();
            segments.insert(segment, SegmentList { users, shoes: list });
        }
        let mut lists: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
        for (id, ids, sims) in stored.neighbours {
            let Some(&p) = pos.get(&id) else { continue };
            lists[p] = ids
                .iter()
                .zip(&sims)
                .filter_map(|(j, &s)| pos.get(j).map(|&q| (q as u32, s)))
                .collect();
        }
        let neighbours = if lists.iter().all(Vec::is_empty) {
            Neighbours::empty(n)
        } else {
            Neighbours::from_rows(lists)
        };
        ServingModel {
            shoes,
            pos,
            has_model: true,
            k,
            neighbours,
            unit_factors: unit_rows(&factors, k),
            factors,
            in_model,
            content_by_term: Postings::new(&content),
            content,
            vocab: stored.vocab,
            popularity,
            segments,
            half_life_days: stored.half_life_days,
            reference_epoch: stored.reference_epoch,
        }
    }

    /// A freshly built model served with the catalogue it was built from (offline evaluation):
    /// the same scoring as recommend() without a round trip through the tables.
    pub fn from_model(model: Model) -> ServingModel {
        let Model {
            catalog,
            svd,
            popularity,
            vocab,
            content,
            neighbours,
            ..
        } = model;
        Self::from_parts(catalog, &svd, popularity, vocab, content, neighbours)
    }

    /// As [`ServingModel::from_model`], from a copy of the shoe side of `model` (the users'
    /// factors are not needed to serve): `refresh()` measures a version's quality with it on
    /// another thread while this one writes the version to its tables.
    pub fn from_model_ref(model: &Model) -> ServingModel {
        Self::from_parts(
            model.catalog.clone(),
            &model.svd,
            model.popularity.clone(),
            model.vocab.clone(),
            model.content.clone(),
            model.neighbours.clone(),
        )
    }

    fn from_parts(
        catalog: Vec<Shoe>,
        svd: &TruncatedSvd,
        mut popularity: Vec<f32>,
        vocab: TfidfModel,
        content: CsMat<f32>,
        neighbours: Neighbours,
    ) -> ServingModel {
        let n = catalog.len();
        let k = svd.singular_values.len();
        let factors: Vec<f32> = svd.shoe_factors.iter().copied().collect();
        scale_to_unit_max(&mut popularity);
        ServingModel {
            pos: position_index(&catalog),
            shoes: catalog,
            has_model: true,
            k,
            unit_factors: unit_rows(&factors, k),
            factors,
            in_model: vec![true; n],
            content_by_term: Postings::new(&content),
            content,
            vocab,
            popularity,
            segments: HashMap::new(),
            neighbours,
            half_life_days: 0.0,
            reference_epoch: 0.0,
        }
    }

    /// What the shared scoring code (scoring::user_scores) needs.
    pub fn view(&self) -> ModelView<'_> {
        ModelView {
            k: self.k,
            factors: &self.factors,
            in_model: &self.in_model,
            content: &self.content,
            content_by_term: &self.content_by_term,
            popularity: &self.popularity,
            neighbours: &self.neighbours,
        }
    }

    /// Item-item similarity of `j` to `i` (0 when `j` is not among `i`'s neighbours).
    pub fn neighbour_similarity(&self, i: usize, j: usize) -> f32 {
        let (items, sims) = self.neighbours.row(i);
        items
            .iter()
            .position(|&x| x as usize == j)
            .map_or(0.0, |p| sims[p])
    }

    pub fn factor_row(&self, pos: usize) -> &[f32] {
        &self.factors[pos * self.k..(pos + 1) * self.k]
    }

    /// Sparse TF-IDF row of a shoe.
    pub fn content_row(&self, pos: usize) -> Vec<(usize, f32)> {
        self.content
            .outer_view(pos)
            .map(|r| r.iter().map(|(t, &w)| (t, w)).collect())
            .unwrap_or_default()
    }

    /// The time-decayed weight of an interaction of `weight` at `at_epoch` under this model.
    pub fn decayed_weight(&self, weight: f64, at_epoch: f64) -> f32 {
        decayed(weight, at_epoch, self.reference_epoch, self.half_life_days) as f32
    }

    /// Overall popularity (anonymous visitors, users without a profile).
    pub fn popular(&self, k: usize, filters: &Filters, reason: &str) -> Vec<Recommendation> {
        top_k(&self.popularity, k, |i| !filters.admits(&self.shoes[i]))
            .into_iter()
            .map(|(i, s)| Recommendation {
                pos: i,
                score: s as f64,
                cf_score: 0.0,
                content_score: 0.0,
                reason: reason.to_string(),
            })
            .collect()
    }

    /// A known user with no interactions: what their segment engages with, blended with content
    /// matching their primary usage.
    pub fn cold_start(
        &self,
        k: usize,
        filters: &Filters,
        profile: &Profile,
    ) -> Vec<Recommendation> {
        let n = self.shoes.len();
        let keys = segment_keys(
            profile.age,
            profile.gender.as_deref(),
            profile.usage.as_deref(),
        );
        let segment = keys
            .iter()
            .filter_map(|key| self.segments.get(key))
            .find(|s| s.users >= MIN_SEGMENT_USERS);
        let mut base = vec![0f32; n];
        let audience = match (segment, profile.usage.as_deref()) {
            (Some(list), Some(usage)) => {
                for &(p, s) in &list.shoes {
                    base[p] = s;
                }
                format!("popular with {}", usage_audience(usage))
            }
            _ => {
                base.copy_from_slice(&self.popularity);
                "popular in the shop".to_string()
            }
        };
        let content = match profile.usage.as_deref() {
            Some(usage) => {
                let q = self.vocab.transform(&ShoeText {
                    name: "",
                    brand: "",
                    shoe_type: usage,
                    material: "",
                    color: "",
                    description: usage,
                });
                content_scores(&self.content_by_term, &q)
            }
            None => vec![0f32; n],
        };
        // A little global popularity breaks ties among shoes outside the segment's list.
        let score: Vec<f32> = (0..n)
            .map(|i| 0.6 * base[i] + 0.4 * content[i] + 0.05 * self.popularity[i])
            .collect();
        top_k(&score, k, |i| !filters.admits(&self.shoes[i]))
            .into_iter()
            .map(|(i, s)| {
                let reason = if base[i] > 0.0 || content[i] <= 0.0 {
                    audience.clone()
                } else {
                    format!("a {} shoe, like you use them", self.shoes[i].shoe_type)
                };
                Recommendation {
                    pos: i,
                    score: s as f64,
                    cf_score: 0.0,
                    content_score: content[i] as f64,
                    reason,
                }
            })
            .collect()
    }

    /// A user with history (`history` sorted by position): the hybrid of CF fold-in, content and
    /// popularity, with a reason per row.
    pub fn recommend(
        &self,
        k: usize,
        filters: &Filters,
        history: &[HistoryItem],
        exclude_purchased: bool,
        blend: &Blend,
    ) -> Vec<Recommendation> {
        let weights: Vec<(usize, f32)> = history
            .iter()
            .map(|h| {
                let f = recency_factor(h.recency, blend.recency_half_life, blend.recency_floor);
                (h.pos, h.weight * f)
            })
            .collect();
        let blend = Blend {
            cf_weight: if self.has_model { blend.cf_weight } else { 0.0 },
            ..*blend
        };
        let UserScores {
            hybrid: score,
            cf,
            content,
            knn,
        } = user_scores(&self.view(), &weights, &blend);
        // A shoe the user rated down has a negative weight: it pushes its look-alikes down, but
        // it is never the "similar to ..." of a reason.
        let mut strongest: Vec<&HistoryItem> = history.iter().filter(|h| h.weight > 0.0).collect();
        strongest.sort_by(|a, b| {
            (b.strongest, b.weight)
                .partial_cmp(&(a.strongest, a.weight))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        strongest.truncate(REASON_CANDIDATES);
        let rows: Vec<Vec<(usize, f32)>> =
            strongest.iter().map(|h| self.content_row(h.pos)).collect();
        let purchased: HashSet<usize> = history
            .iter()
            .filter(|h| h.strongest == 3)
            .map(|h| h.pos)
            .collect();
        top_k(&score, k, |i| {
            (exclude_purchased && purchased.contains(&i)) || !filters.admits(&self.shoes[i])
        })
        .into_iter()
        .map(|(i, s)| Recommendation {
            pos: i,
            score: s as f64,
            cf_score: cf[i] as f64,
            content_score: content[i] as f64,
            reason: self.explain(i, &strongest, &rows, blend.knn_weight as f32 * knn[i], s),
        })
        .collect()
    }

    /// "similar to <shoe> you bought": the history item that best explains recommending
    /// `target`, by content and factor similarity weighted by how strongly the user engaged
    /// with it. When the item-item part (`knn_part` of the `score`) is at least half the score,
    /// the reason is the history item shoppers most often chose together with `target`.
    fn explain(
        &self,
        target: usize,
        history: &[&HistoryItem],
        rows: &[Vec<(usize, f32)>],
        knn_part: f32,
        score: f32,
    ) -> String {
        if knn_part > 0.0 && knn_part >= 0.5 * score {
            let best = history
                .iter()
                .filter(|h| h.pos != target)
                .map(|h| {
                    let sim = self.neighbour_similarity(h.pos, target);
                    (h, sim * (1.0 + 0.25 * h.strongest as f32))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((h, _)) = best.filter(|b| b.1 > 0.0) {
                return format!(
                    "often chosen together with {} {}",
                    self.shoes[h.pos].name,
                    action_phrase(h.strongest)
                );
            }
        }
        let target_row = self.content_row(target);
        let best = history
            .iter()
            .zip(rows)
            .filter(|(h, _)| h.pos != target)
            .map(|(h, r)| {
                let mut sim = sparse_dot(&target_row, r);
                if self.k > 0 && self.in_model[h.pos] && self.in_model[target] {
                    sim += cosine(self.factor_row(h.pos), self.factor_row(target)).max(0.0);
                }
                // Similarity first; a stronger action (purchase > wishlist > view) breaks
                // near-ties.
                (h, sim * (1.0 + 0.25 * h.strongest as f32))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((h, sim)) = best else {
            return "popular with shoppers like you".to_string();
        };
        if sim <= 0.0 {
            return "popular with shoppers like you".to_string();
        }
        let (t, s) = (&self.shoes[target], &self.shoes[h.pos]);
        let phrase = action_phrase(h.strongest);
        let same_brand = !t.brand.is_empty() && t.brand.eq_ignore_ascii_case(&s.brand);
        let same_material = !t.material.is_empty() && t.material.eq_ignore_ascii_case(&s.material);
        match (same_brand, same_material) {
            (true, true) => format!("same brand and material as {} {phrase}", s.name),
            (true, false) => format!("same brand as {} {phrase}", s.name),
            _ => format!("similar to {} {phrase}", s.name),
        }
    }

    /// Top-k shoes like the shoe at position `s`:
    /// `cf_weight * CF factor cosine + knn_weight * item-item similarity + the rest * TF-IDF
    /// cosine`, the item-item similarity divided by the best neighbour's (so 1 for the closest).
    /// A shoe the model has not seen has neither CF nor neighbours: content only. `skip`
    /// excludes positions (the shoe itself, inactive shoes).
    pub fn similar(
        &self,
        s: usize,
        k: usize,
        blend: SimilarBlend,
        skip: impl Fn(usize) -> bool,
    ) -> Vec<SimilarShoe> {
        let n = self.shoes.len();
        let content = content_scores(&self.content_by_term, &self.content_row(s));
        let use_cf = self.k > 0 && self.in_model[s];
        let cf: Vec<f32> = if use_cf {
            // Cosines as one pass of dot products over the unit-length rows (zero rows stay
            // zero).
            let k = self.k;
            cf_scores(
                &self.unit_factors,
                k,
                &self.unit_factors[s * k..(s + 1) * k],
            )
        } else {
            vec![0f32; n]
        };
        let mut knn = vec![0f32; n];
        let (items, sims) = self.neighbours.row(s);
        let best = sims.first().copied().unwrap_or(0.0);
        if best > 0.0 {
            for (&j, &sim) in items.iter().zip(sims) {
                knn[j as usize] = sim / best;
            }
        }
        let wc = if use_cf { blend.cf_weight } else { 0.0 };
        let wk = if best > 0.0 { blend.knn_weight } else { 0.0 };
        // The two weights share what is left of 1 with content; together they never exceed it.
        let (wc, wk) = if wc + wk > 1.0 {
            (wc / (wc + wk), wk / (wc + wk))
        } else {
            (wc, wk)
        };
        let score: Vec<f32> = (0..n)
            .map(|i| wc * cf[i] + wk * knn[i] + (1.0 - wc - wk) * content[i])
            .collect();
        top_k(&score, k, skip)
            .into_iter()
            .map(|(i, sc)| SimilarShoe {
                pos: i,
                score: sc as f64,
                content_score: content[i] as f64,
                cf_score: cf[i] as f64,
                knn_score: knn[i] as f64,
            })
            .collect()
    }
}

/// Sums a user's interactions per shoe: `(catalogue position, action, weight, epoch seconds)`
/// in any order; the result is sorted by position. Weights are decayed as the model decays them.
pub fn aggregate_history(
    model: &ServingModel,
    rows: impl IntoIterator<Item = (usize, u8, f64, f64, i64)>,
) -> Vec<HistoryItem> {
    let mut by_pos: HashMap<usize, (HistoryItem, (f64, i64))> = HashMap::new();
    for (pos, rank, weight, at, interaction_id) in rows {
        let w = model.decayed_weight(weight, at);
        let (item, latest) = by_pos.entry(pos).or_insert((
            HistoryItem {
                pos,
                weight: 0.0,
                strongest: 0,
                recency: 0,
            },
            (f64::NEG_INFINITY, i64::MIN),
        ));
        item.weight += w;
        item.strongest = item.strongest.max(rank);
        if (at, interaction_id) > *latest {
            *latest = (at, interaction_id);
        }
    }
    let mut items: Vec<(HistoryItem, (f64, i64))> = by_pos.into_values().collect();
    items.sort_by_key(|(h, _)| h.pos);
    let latest: Vec<(f64, i64)> = items.iter().map(|&(_, l)| l).collect();
    items
        .into_iter()
        .zip(recency_ranks(&latest))
        .map(|((h, _), recency)| HistoryItem { recency, ..h })
        .collect()
}

/// Rows of `factors` (k each) scaled to unit length; zero rows stay zero.
fn unit_rows(factors: &[f32], k: usize) -> Vec<f32> {
    let mut out = factors.to_vec();
    if k == 0 {
        return out;
    }
    for row in out.chunks_exact_mut(k) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 && norm.is_finite() {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
    out
}

fn csr_from_rows(rows: &[Vec<(usize, f32)>], cols: usize) -> CsMat<f32> {
    let mut indptr = Vec::with_capacity(rows.len() + 1);
    let mut indices = Vec::new();
    let mut data = Vec::new();
    indptr.push(0);
    for r in rows {
        let mut r = r.clone();
        r.sort_unstable_by_key(|e| e.0);
        for (t, w) in r {
            if t < cols {
                indices.push(t);
                data.push(w);
            }
        }
        indptr.push(indices.len());
    }
    CsMat::new((rows.len(), cols), indptr, indices, data)
}
