//! reco.recommend(), reco.similar() and reco.similar_lists(): argument checks, the user's
//! profile and history from SPI, then the scoring of reco-core's `serving` module on the
//! per-backend cache (cache.rs).

use pgrx::pg_sys::{PgBuiltInOids, PgOid};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use reco_core::scoring::Blend;
use reco_core::serving::{
    action_rank, aggregate_history, Filters, HistoryItem, Profile, Recommendation, ServingModel,
    SimilarBlend,
};

use crate::cache;
use crate::errors::{self, column};
use crate::guc;
use crate::shmem::{Function, ServingCall, NO_MODEL};

pub type RecommendRow = (i64, f64, f64, f64, String);

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
    let mut stats = ServingCall::start(Function::Recommend);
    let k = errors::check_k(k);
    let filters = filters_of(brand, shoe_type, max_price, allowed_ids, denied_ids);
    let exclude_purchased = exclude_purchased.unwrap_or(true);
    // Read before any work, so a bad setting fails every call (even one that would not use it).
    let blend = blend();
    let rows = Spi::connect(|client| {
        let model = cache::current(client);
        stats.model_id = model.model_id.unwrap_or(NO_MODEL);
        let (found, fallback) = rank(
            client,
            &model,
            user_id,
            k,
            filters,
            exclude_purchased,
            Strategy::Hybrid,
            &blend,
        );
        stats.cold_start = fallback == Fallback::ColdStart;
        stats.anonymous = fallback == Fallback::Anonymous;
        rows_of(&model, found)
    });
    stats.finish(rows.len());
    TableIterator::new(rows)
}

/// recommend()'s and serve()'s filters from their arguments; max_price must be >= 0 (22023).
pub fn filters_of(
    brand: Option<&str>,
    shoe_type: Option<&str>,
    max_price: Option<f64>,
    allowed_ids: Option<Vec<Option<i64>>>,
    denied_ids: Option<Vec<Option<i64>>>,
) -> Filters {
    if let Some(m) = max_price {
        if m.is_nan() || m < 0.0 {
            errors::invalid_parameter(format!("max_price must be >= 0, got {m}"), None);
        }
    }
    Filters {
        brand: brand.map(str::to_string),
        shoe_type: shoe_type.map(str::to_string),
        max_price,
        allowed: allowed_ids.map(|a| a.into_iter().flatten().collect()),
        denied: denied_ids
            .map(|a| a.into_iter().flatten().collect())
            .unwrap_or_default(),
    }
}

/// Which path answered a call of [`rank`] (counted by reco.serving_stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Personalised (or the strategy's own list, e.g. popularity for a known user).
    None,
    /// A known user with no usable history: the cold-start segment lists.
    ColdStart,
    /// No user id: popular shoes.
    Anonymous,
}

/// How a list is ranked: recommend()'s hybrid, or plain popularity (what a shop shows without
/// personalisation; an A/B test's usual control).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Hybrid,
    Popularity,
}

/// Weight of a shoe the user rated down in their fold-in: as strong as a wishlist add at its
/// built-in weight, with the sign turned, so the shoe's look-alikes sink too.
const RATED_DOWN_WEIGHT: f32 = -3.0;

/// The top-k of `model` for `user_id` (None: anonymous) with recommend()'s filters and
/// exclusions: a user's purchased shoes (with `exclude_purchased`) and the shoes they rated down
/// are never returned, whatever the strategy.
#[allow(clippy::too_many_arguments)]
pub fn rank(
    client: &SpiClient,
    model: &cache::Cache,
    user_id: Option<i64>,
    k: usize,
    mut filters: Filters,
    exclude_purchased: bool,
    strategy: Strategy,
    blend: &Blend,
) -> (Vec<Recommendation>, Fallback) {
    let Some(uid) = user_id else {
        return (
            model.popular(k, &filters, "popular in the shop"),
            Fallback::Anonymous,
        );
    };
    let (profile, mut history) = read_user(client, model, uid);
    let rated_down = if model.has_ratings {
        rated_down(client, model, uid)
    } else {
        Vec::new()
    };
    for &pos in &rated_down {
        filters.denied.insert(model.shoes[pos].shoe_id);
        match history.iter_mut().find(|h| h.pos == pos) {
            Some(h) => {
                h.weight = RATED_DOWN_WEIGHT;
                h.recency = 0;
            }
            None => history.push(HistoryItem {
                pos,
                weight: RATED_DOWN_WEIGHT,
                strongest: 0,
                // A rating is a deliberate signal: recency weighting leaves it whole.
                recency: 0,
            }),
        }
    }
    if strategy == Strategy::Popularity {
        if exclude_purchased {
            for h in history.iter().filter(|h| h.strongest == 3) {
                filters.denied.insert(model.shoes[h.pos].shoe_id);
            }
        }
        return (
            model.popular(k, &filters, "popular in the shop"),
            Fallback::None,
        );
    }
    // No history, or only shoes rated down: cold start (with those shoes denied).
    if history.iter().all(|h| h.weight < 0.0) {
        (model.cold_start(k, &filters, &profile), Fallback::ColdStart)
    } else {
        (
            model.recommend(k, &filters, &history, exclude_purchased, blend),
            Fallback::None,
        )
    }
}

/// Catalogue positions of the shoes `user_id` rated down (their latest rating of it is -1).
fn rated_down(client: &SpiClient, model: &ServingModel, user_id: i64) -> Vec<usize> {
    let plan = cache::prepared(
        client,
        "SELECT r.shoe_id FROM (SELECT DISTINCT ON (shoe_id) shoe_id, rating FROM reco.ratings \
                               WHERE user_id OPERATOR(pg_catalog.=) $1 \
                               ORDER BY shoe_id, rating_id DESC) r \
         WHERE r.rating OPERATOR(pg_catalog.<) 0",
        &[PgOid::BuiltIn(PgBuiltInOids::INT8OID)],
    );
    let table = client
        .select(&*plan, None, &[user_id.into()])
        .unwrap_or_else(|e| errors::spi("reading the user's ratings", e));
    table
        .filter_map(|row| column::<i64>(&row, 1, "reco.ratings", "shoe_id"))
        .filter_map(|id| model.pos.get(&id).copied())
        .collect()
}

/// The hybrid's weights from the settings (recommend() and evaluate()).
pub fn blend() -> Blend {
    Blend {
        knn_weight: guc::knn_weight(),
        cf_weight: guc::cf_weight(),
        history_shrinkage: guc::history_shrinkage(),
        content_weight: guc::content_weight(),
        popularity_weight: guc::popularity_weight(),
        recency_half_life: guc::recency_half_life(),
        recency_floor: guc::recency_floor(),
        content_terms: guc::content_profile_terms(),
    }
}

/// similar()'s weights from the settings.
fn similar_blend() -> SimilarBlend {
    SimilarBlend {
        cf_weight: guc::similar_cf_weight() as f32,
        knn_weight: guc::similar_knn_weight() as f32,
    }
}

pub fn rows_of(model: &ServingModel, found: Vec<Recommendation>) -> Vec<RecommendRow> {
    found
        .into_iter()
        .map(|r| {
            (
                model.shoes[r.pos].shoe_id,
                r.score,
                r.cf_score,
                r.content_score,
                r.reason,
            )
        })
        .collect()
}

/// The user's profile and current interactions summed per shoe (time-decayed like the model),
/// in one query. A user that does not exist is an error.
pub fn read_user(
    client: &SpiClient,
    model: &ServingModel,
    user_id: i64,
) -> (Profile, Vec<HistoryItem>) {
    const USERS: &str = "reco.users";
    const INTERACTIONS: &str = "reco.interactions";
    let plan = cache::prepared(
        client,
        "SELECT u.age, u.gender, u.primary_usage, i.shoe_id, i.action, w.weight::float8, \
                extract(epoch FROM i.occurred_at)::float8, i.interaction_id \
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
    let mut interactions = Vec::new();
    for row in table {
        if profile.is_none() {
            profile = Some(Profile {
                age: column(&row, 1, USERS, "age"),
                gender: column(&row, 2, USERS, "gender"),
                usage: column(&row, 3, USERS, "primary_usage"),
            });
        }
        let Some(shoe_id) = column::<i64>(&row, 4, INTERACTIONS, "shoe_id") else {
            continue;
        };
        let Some(&pos) = model.pos.get(&shoe_id) else {
            continue;
        };
        let action: String = column(&row, 5, INTERACTIONS, "action").unwrap_or_default();
        // An action missing from action_weights (possible only if a weight row was deleted)
        // counts nothing.
        let weight: f64 = column(&row, 6, "reco.action_weights", "weight").unwrap_or(0.0);
        let at: f64 = column(&row, 7, INTERACTIONS, "occurred_at").unwrap_or(0.0);
        let interaction_id: i64 = column(&row, 8, INTERACTIONS, "interaction_id").unwrap_or(0);
        interactions.push((pos, action_rank(&action), weight, at, interaction_id));
    }
    let history = aggregate_history(model, interactions);
    (profile.expect("at least one row"), history)
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
    let mut stats = ServingCall::start(Function::Similar);
    let k = errors::check_k(k);
    let Some(shoe_id) = shoe_id else {
        errors::null_value("shoe_id must not be NULL")
    };
    let blend = similar_blend();
    let rows = Spi::connect(|client| {
        let model = cache::current(client);
        stats.model_id = model.model_id.unwrap_or(NO_MODEL);
        let s = shoe_position(&model, shoe_id);
        model
            .similar(s, k, blend, |i| i == s || !model.shoes[i].active)
            .into_iter()
            .map(|r| {
                (
                    model.shoes[r.pos].shoe_id,
                    r.score,
                    r.content_score,
                    r.cf_score,
                )
            })
            .collect::<Vec<_>>()
    });
    stats.finish(rows.len());
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
    // Settings are read here: worker threads never call into Postgres.
    let w = similar_blend();
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
        let model: &ServingModel = &cache;
        let mut out = Vec::with_capacity(todo.len());
        // Chunks keep the backend responsive to cancellation between them.
        for chunk in todo.chunks(256) {
            let lists: Vec<(i64, Vec<i64>)> = chunk
                .par_iter()
                .map(|&(id, s, k)| {
                    let top = model.similar(s, k, w, |i| i == s || !model.shoes[i].active);
                    (
                        id,
                        top.into_iter()
                            .map(|r| model.shoes[r.pos].shoe_id)
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
fn shoe_position(model: &ServingModel, shoe_id: i64) -> usize {
    match model.pos.get(&shoe_id) {
        Some(&s) => s,
        None => errors::no_data(format!("shoe {shoe_id} does not exist in reco.shoes"), None),
    }
}

/// Users whose tastes are closest to `user_id`'s (audience similarity, e.g. for campaigns): the
/// cosine between the user's *current* fold-in (their interactions now, through the active
/// model's shoe factors, as recommend() folds them in) and every other user's stored
/// representation in the active model (`reco.model_users.factors` = U·S, which is the same
/// fold-in of their interactions as of the refresh). Best first, the user excluded, only users
/// with a positive cosine. A user with no interactions, or no model yet, gets no rows.
#[pg_extern(parallel_unsafe)]
fn similar_users(
    user_id: Option<i64>,
    k: default!(Option<i32>, 10),
) -> TableIterator<'static, (name!(user_id, i64), name!(score, f64))> {
    use crate::bulk::{float4_array, for_each_row_int8, Column, Kind};
    let k = errors::check_k(k);
    let Some(user_id) = user_id else {
        errors::null_value("user_id must not be NULL")
    };
    let rows = Spi::connect(|client| {
        let cache = cache::current(client);
        let (_, history) = read_user(client, &cache, user_id);
        let weights: Vec<(usize, f32)> = history
            .iter()
            .filter(|h| cache.in_model[h.pos])
            .map(|h| (h.pos, h.weight))
            .collect();
        let Some(model_id) = cache
            .model_id
            .filter(|_| cache.k > 0 && !weights.is_empty())
        else {
            return Vec::new();
        };
        let query = reco_core::scoring::fold_in(&cache.factors, cache.k, &weights);
        const MODEL_USERS: &str = "reco.model_users";
        const COLUMNS: [Column; 2] = [
            Column::new(MODEL_USERS, "user_id", Kind::Int8),
            Column::new(MODEL_USERS, "factors", Kind::Float4Array),
        ];
        let mut ids: Vec<i64> = Vec::new();
        let mut scores: Vec<f32> = Vec::new();
        let mut on_row = |values: &[pg_sys::Datum], nulls: &[bool]| {
            let other = values[0].value() as i64;
            if other == user_id || nulls[1] {
                return;
            }
            // SAFETY: column 2 is a non-NULL real[] (type checked by for_each_row).
            if let Some(f) = unsafe { float4_array(values[1]) } {
                if f.len() == query.len() {
                    ids.push(other);
                    scores.push(reco_core::scoring::cosine(&query, f));
                }
            }
        };
        for_each_row_int8(
            "reading user factors",
            "SELECT user_id, factors FROM reco.model_users WHERE model_id OPERATOR(pg_catalog.=) $1",
            model_id,
            &COLUMNS,
            &mut on_row,
        );
        reco_core::topk::top_k(&scores, k, |i| scores[i] <= 0.0)
            .into_iter()
            .map(|(i, s)| (ids[i], s as f64))
            .collect()
    });
    TableIterator::new(rows)
}
