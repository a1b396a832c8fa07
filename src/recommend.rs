//! reco.recommend() and reco.similar(): served from the per-backend cache (see cache.rs).

use std::collections::{HashMap, HashSet};

use pgrx::pg_sys::{PgBuiltInOids, PgOid};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use reco_core::tfidf::ShoeText;
use reco_core::topk::top_k;

use crate::cache::{self, Cache};
use crate::errors;
use crate::guc;
use crate::scoring::{
    cf_scores, content_scores, cosine, decayed, sparse_dot, user_scores, UserScores,
};
use crate::segments::{segment_keys, usage_audience};

/// A segment needs this many users before its popularity is used for cold start (one user's
/// picks are not a segment's taste).
const MIN_SEGMENT_USERS: i32 = 2;

/// How many of a user's history items (strongest action, then weight) are considered as the
/// "similar to ..." of a reason.
const REASON_CANDIDATES: usize = 50;

/// What a user did with one shoe, summed over their interactions.
struct HistoryItem {
    pos: usize,
    weight: f32,
    /// 3 purchase, 2 wishlist, 1 view, 0 anything else: the strongest action, for reasons.
    strongest: u8,
}

fn action_rank(action: &str) -> u8 {
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

/// Filters applied before the top-k, so k rows come back whenever k candidates pass them.
struct Filters {
    brand: Option<String>,
    shoe_type: Option<String>,
    max_price: Option<f64>,
    allowed: Option<HashSet<i64>>,
    denied: HashSet<i64>,
}

impl Filters {
    fn admits(&self, shoe: &cache::ShoeRow) -> bool {
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

/// Top-k shoes for a user: a weighted blend of CF (folded in from the user's current
/// interactions) and TF-IDF content, with cold-start fallbacks. `user_id` NULL = anonymous.
#[allow(clippy::too_many_arguments)]
#[pg_extern(parallel_unsafe)]
fn recommend(
    user_id: Option<i64>,
    k: default!(Option<i32>, 10),
    exclude_purchased: default!(Option<bool>, true),
    brand: default!(Option<&str>, "NULL"),
    shoe_type: default!(Option<&str>, "NULL"),
    max_price: default!(Option<f64>, "NULL"),
    allowed_ids: default!(Option<Vec<Option<i64>>>, "NULL"),
    denied_ids: default!(Option<Vec<Option<i64>>>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(shoe_id, i64),
        name!(score, f64),
        name!(cf_score, f64),
        name!(content_score, f64),
        name!(reason, String),
    ),
> {
    let k = errors::check_k(k);
    if let Some(m) = max_price {
        if m.is_nan() || m < 0.0 {
            errors::invalid_parameter(format!("max_price must be >= 0, got {m}"), None);
        }
    }
    let filters = Filters {
        brand: brand.map(str::to_string),
        shoe_type: shoe_type.map(str::to_string),
        max_price,
        allowed: allowed_ids.map(|a| a.into_iter().flatten().collect()),
        denied: denied_ids
            .map(|a| a.into_iter().flatten().collect())
            .unwrap_or_default(),
    };
    let exclude_purchased = exclude_purchased.unwrap_or(true);

    let rows = Spi::connect(|client| {
        let cache = cache::current(client);
        match user_id {
            None => popular(&cache, k, &filters, "popular in the shop"),
            Some(uid) => {
                let (profile, history) = read_user(client, &cache, uid);
                if history.is_empty() {
                    cold_start(&cache, k, &filters, &profile)
                } else {
                    personal(&cache, k, &filters, &history, exclude_purchased)
                }
            }
        }
    });
    TableIterator::new(rows)
}

struct Profile {
    age: Option<i32>,
    gender: Option<String>,
    usage: Option<String>,
}

/// The user's profile and current interactions summed per shoe (time-decayed like the model),
/// in one query. A user that does not exist is an error.
fn read_user(client: &SpiClient, cache: &Cache, user_id: i64) -> (Profile, Vec<HistoryItem>) {
    let plan = cache::prepared(
        client,
        "SELECT u.age, u.gender, u.primary_usage, i.shoe_id, i.action, w.weight::float8, \
                extract(epoch FROM i.occurred_at)::float8 \
         FROM reco.users u \
         LEFT JOIN reco.interactions i ON i.user_id = u.user_id \
         LEFT JOIN reco.action_weights w ON w.action = i.action \
         WHERE u.user_id = $1",
        &[PgOid::BuiltIn(PgBuiltInOids::INT8OID)],
    );
    let table = client
        .select(&*plan, None, &[user_id.into()])
        .unwrap_or_else(|e| errors::spi("reading the user", e));
    if table.is_empty() {
        errors::no_data(
            format!("user {user_id} does not exist in reco.users"),
            Some("Pass an existing user_id, or NULL for an anonymous visitor (popular shoes)."),
        );
    }
    let mut profile = None;
    let mut by_pos: HashMap<usize, HistoryItem> = HashMap::new();
    for row in table {
        if profile.is_none() {
            profile = Some(Profile {
                age: row.get(1).ok().flatten(),
                gender: row.get(2).ok().flatten(),
                usage: row.get(3).ok().flatten(),
            });
        }
        let Some(shoe_id) = row.get::<i64>(4).ok().flatten() else {
            continue;
        };
        let Some(&pos) = cache.pos.get(&shoe_id) else {
            continue;
        };
        let action: String = row.get(5).ok().flatten().unwrap_or_default();
        // An action missing from action_weights (possible only if a weight row was deleted)
        // counts nothing.
        let weight: f64 = row.get(6).ok().flatten().unwrap_or(0.0);
        let at: f64 = row.get(7).ok().flatten().unwrap_or(0.0);
        let w = decayed(weight, at, cache.reference_epoch, cache.half_life_days) as f32;
        let item = by_pos.entry(pos).or_insert(HistoryItem {
            pos,
            weight: 0.0,
            strongest: 0,
        });
        item.weight += w;
        item.strongest = item.strongest.max(action_rank(&action));
    }
    let mut items: Vec<HistoryItem> = by_pos.into_values().collect();
    items.sort_by_key(|h| h.pos);
    (profile.expect("at least one row"), items)
}

fn popular(
    cache: &Cache,
    k: usize,
    filters: &Filters,
    reason: &str,
) -> Vec<(i64, f64, f64, f64, String)> {
    let top = top_k(&cache.popularity, k, |i| !filters.admits(&cache.shoes[i]));
    top.into_iter()
        .map(|(i, s)| {
            (
                cache.shoes[i].shoe_id,
                s as f64,
                0.0,
                0.0,
                reason.to_string(),
            )
        })
        .collect()
}

/// A known user with no interactions: what their segment engages with, blended with content
/// matching their primary usage.
fn cold_start(
    cache: &Cache,
    k: usize,
    filters: &Filters,
    profile: &Profile,
) -> Vec<(i64, f64, f64, f64, String)> {
    let keys = segment_keys(
        profile.age,
        profile.gender.as_deref(),
        profile.usage.as_deref(),
    );
    let segment = keys
        .iter()
        .filter_map(|key| cache.segments.get(key))
        .find(|(users, _)| *users >= MIN_SEGMENT_USERS);
    let mut base = vec![0f32; cache.shoes.len()];
    let audience = match (segment, profile.usage.as_deref()) {
        (Some((_, list)), Some(usage)) => {
            for &(p, s) in list {
                base[p] = s;
            }
            format!("popular with {}", usage_audience(usage))
        }
        _ => {
            base.copy_from_slice(&cache.popularity);
            "popular in the shop".to_string()
        }
    };
    let content = match profile.usage.as_deref() {
        Some(usage) => {
            let q = cache.vocab.transform(&ShoeText {
                name: "",
                brand: "",
                shoe_type: usage,
                material: "",
                color: "",
                description: usage,
            });
            content_scores(&cache.content_by_term, &q)
        }
        None => vec![0f32; cache.shoes.len()],
    };
    // A little global popularity breaks ties among shoes outside the segment's list.
    let score: Vec<f32> = (0..cache.shoes.len())
        .map(|i| 0.6 * base[i] + 0.4 * content[i] + 0.05 * cache.popularity[i])
        .collect();
    let top = top_k(&score, k, |i| !filters.admits(&cache.shoes[i]));
    top.into_iter()
        .map(|(i, s)| {
            let reason = if base[i] > 0.0 || content[i] <= 0.0 {
                audience.clone()
            } else {
                format!("a {} shoe, like you use them", cache.shoes[i].shoe_type)
            };
            (
                cache.shoes[i].shoe_id,
                s as f64,
                0.0,
                content[i] as f64,
                reason,
            )
        })
        .collect()
}

fn personal(
    cache: &Cache,
    k: usize,
    filters: &Filters,
    history: &[HistoryItem],
    exclude_purchased: bool,
) -> Vec<(i64, f64, f64, f64, String)> {
    let view = cache.view();
    let weights: Vec<(usize, f32)> = history.iter().map(|h| (h.pos, h.weight)).collect();
    let cf_weight = if cache.model_id.is_some() {
        guc::CF_WEIGHT.get()
    } else {
        0.0
    };
    let UserScores {
        hybrid: score,
        cf,
        content,
    } = user_scores(&view, &weights, cf_weight, guc::HISTORY_SHRINKAGE.get());
    // Reasons are drawn from the user's strongest interactions only: a heavy user has hundreds,
    // and comparing each result with all of them made the reasons cost more than the ranking.
    let mut strongest: Vec<&HistoryItem> = history.iter().collect();
    strongest.sort_by(|a, b| {
        (b.strongest, b.weight)
            .partial_cmp(&(a.strongest, a.weight))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    strongest.truncate(REASON_CANDIDATES);
    let rows: Vec<Vec<(usize, f32)>> = strongest.iter().map(|h| cache.content_row(h.pos)).collect();
    let purchased: HashSet<usize> = history
        .iter()
        .filter(|h| h.strongest == 3)
        .map(|h| h.pos)
        .collect();
    let top = top_k(&score, k, |i| {
        (exclude_purchased && purchased.contains(&i)) || !filters.admits(&cache.shoes[i])
    });
    top.into_iter()
        .map(|(i, s)| {
            let reason = explain(cache, i, &strongest, &rows);
            (
                cache.shoes[i].shoe_id,
                s as f64,
                cf[i] as f64,
                content[i] as f64,
                reason,
            )
        })
        .collect()
}

/// "similar to <shoe> you bought": the history item that best explains recommending `target`,
/// by content and factor similarity weighted by how strongly the user engaged with it.
fn explain(
    cache: &Cache,
    target: usize,
    history: &[&HistoryItem],
    rows: &[Vec<(usize, f32)>],
) -> String {
    let target_row = cache.content_row(target);
    let best = history
        .iter()
        .zip(rows)
        .filter(|(h, _)| h.pos != target)
        .map(|(h, r)| {
            let mut sim = sparse_dot(&target_row, r);
            if cache.k > 0 && cache.in_model[h.pos] && cache.in_model[target] {
                sim += cosine(cache.factor_row(h.pos), cache.factor_row(target)).max(0.0);
            }
            // Similarity first; a stronger action (purchase > wishlist > view) breaks near-ties.
            (h, sim * (1.0 + 0.25 * h.strongest as f32))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let Some((h, sim)) = best else {
        return "popular with shoppers like you".to_string();
    };
    if sim <= 0.0 {
        return "popular with shoppers like you".to_string();
    }
    let (t, s) = (&cache.shoes[target], &cache.shoes[h.pos]);
    let phrase = action_phrase(h.strongest);
    let same_brand = !t.brand.is_empty() && t.brand.eq_ignore_ascii_case(&s.brand);
    let same_material = !t.material.is_empty() && t.material.eq_ignore_ascii_case(&s.material);
    match (same_brand, same_material) {
        (true, true) => format!("same brand and material as {} {phrase}", s.name),
        (true, false) => format!("same brand as {} {phrase}", s.name),
        _ => format!("similar to {} {phrase}", s.name),
    }
}

/// Shoes like `shoe_id`: blend of TF-IDF cosine and cosine of CF factors (content only for a
/// shoe the active model has not seen).
#[pg_extern(parallel_unsafe)]
fn similar(
    shoe_id: Option<i64>,
    k: default!(Option<i32>, 10),
) -> TableIterator<
    'static,
    (
        name!(shoe_id, i64),
        name!(score, f64),
        name!(content_score, f64),
        name!(cf_score, f64),
    ),
> {
    let k = errors::check_k(k);
    let Some(shoe_id) = shoe_id else {
        errors::null_value("shoe_id must not be NULL")
    };
    let rows = Spi::connect(|client| {
        let cache = cache::current(client);
        let s = shoe_position(&cache, shoe_id);
        similar_to(&cache, s, k, |i| i == s || !cache.shoes[i].active)
            .into_iter()
            .map(|(i, score, content, cf)| (cache.shoes[i].shoe_id, score, content, cf))
            .collect::<Vec<_>>()
    });
    TableIterator::new(rows)
}

/// Internal, for due_services(): for each shoe_ids[i], the ids of what similar(shoe_ids[i],
/// ks[i]) returns, best first, computed in one call on all cores (the lists are independent)
/// instead of one similar() call per shoe.
#[pg_extern(parallel_unsafe)]
fn similar_lists(
    shoe_ids: Vec<Option<i64>>,
    ks: Vec<Option<i32>>,
) -> TableIterator<'static, (name!(shoe_id, i64), name!(similar_ids, Vec<i64>))> {
    use rayon::prelude::*;
    if shoe_ids.len() != ks.len() {
        errors::invalid_parameter(
            format!(
                "shoe_ids has {} elements but ks has {}",
                shoe_ids.len(),
                ks.len()
            ),
            Some("Pass one k per shoe."),
        );
    }
    let rows = Spi::connect(|client| {
        let cache = cache::current(client);
        let mut todo = Vec::with_capacity(shoe_ids.len());
        for (id, k) in shoe_ids.iter().zip(&ks) {
            let Some(id) = *id else {
                errors::null_value("shoe_ids must not contain NULL")
            };
            let k = errors::check_k(*k);
            todo.push((id, shoe_position(&cache, id), k));
        }
        // GUCs are read here: worker threads never call into Postgres.
        let w = guc::SIMILAR_CF_WEIGHT.get() as f32;
        let cache: &Cache = &cache;
        let mut out = Vec::with_capacity(todo.len());
        // Chunks keep the backend responsive to cancellation between them.
        for chunk in todo.chunks(256) {
            let lists: Vec<(i64, Vec<i64>)> = chunk
                .par_iter()
                .map(|&(id, s, k)| {
                    let top =
                        similar_with_weight(cache, s, k, w, |i| i == s || !cache.shoes[i].active);
                    (
                        id,
                        top.into_iter()
                            .map(|(i, ..)| cache.shoes[i].shoe_id)
                            .collect(),
                    )
                })
                .collect();
            out.extend(lists);
            check_for_interrupts!();
        }
        out
    });
    TableIterator::new(rows)
}

/// Catalogue position of `shoe_id`; an unknown id is an error that says so.
fn shoe_position(cache: &Cache, shoe_id: i64) -> usize {
    match cache.pos.get(&shoe_id) {
        Some(&s) => s,
        None => errors::no_data(format!("shoe {shoe_id} does not exist in reco.shoes"), None),
    }
}

/// Top-k shoes by similarity to catalogue position `s`: (position, score, content, cf).
pub fn similar_to(
    cache: &Cache,
    s: usize,
    k: usize,
    skip: impl Fn(usize) -> bool,
) -> Vec<(usize, f64, f64, f64)> {
    similar_with_weight(cache, s, k, guc::SIMILAR_CF_WEIGHT.get() as f32, skip)
}

/// similar_to with the CF weight (reco.similar_cf_weight) passed in: callable off the main thread.
fn similar_with_weight(
    cache: &Cache,
    s: usize,
    k: usize,
    cf_weight: f32,
    skip: impl Fn(usize) -> bool,
) -> Vec<(usize, f64, f64, f64)> {
    let content = content_scores(&cache.content_by_term, &cache.content_row(s));
    let use_cf = cache.k > 0 && cache.in_model[s];
    let cf: Vec<f32> = if use_cf {
        // Cosines as one pass of dot products over the unit-length rows (zero rows stay zero).
        let k = cache.k;
        cf_scores(
            &cache.unit_factors,
            k,
            &cache.unit_factors[s * k..(s + 1) * k],
        )
    } else {
        vec![0f32; cache.shoes.len()]
    };
    let w = if use_cf { cf_weight } else { 0.0 };
    let score: Vec<f32> = (0..cache.shoes.len())
        .map(|i| w * cf[i] + (1.0 - w) * content[i])
        .collect();
    top_k(&score, k, skip)
        .into_iter()
        .map(|(i, sc)| (i, sc as f64, content[i] as f64, cf[i] as f64))
        .collect()
}
