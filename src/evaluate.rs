//! reco.evaluate() and reco.evaluation_rankings(): train on the time split of the log without
//! touching the active model, rank every shoe for each test user, and score the rankings.

use std::collections::{HashMap, HashSet};

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use reco_core::matrix::Triplets;
use reco_core::metrics;
use reco_core::model::{self, ModelInputs, SegmentAssignment};
use reco_core::offline::{self, ScoredUsers, SplitRow, METHODS};
use reco_core::serving::ServingModel;

use crate::cache::read_catalog;
use crate::errors::{self, column};

struct Evaluation {
    model: ServingModel,
    users: ScoredUsers,
    rankings: Vec<[Vec<usize>; 5]>,
    parameters: serde_json::Value,
}

fn check_fraction(test_fraction: Option<f64>) -> f64 {
    match test_fraction {
        None => errors::null_value("test_fraction must not be NULL"),
        Some(f) if !(f > 0.0 && f < 1.0) => {
            errors::invalid_parameter(format!("test_fraction must be > 0 and < 1, got {f}"), None)
        }
        Some(f) => f,
    }
}

/// Train on the train part through the same build as refresh() (reco_core::model::build) and
/// rank with the same scoring as recommend().
fn run(client: &SpiClient, k: usize, test_fraction: f64) -> Evaluation {
    const SPLIT: &str = "reco.evaluation_split()";
    let params = crate::refresh::build_params();
    let blend = crate::recommend::blend();
    let catalog = read_catalog();
    let pos: HashMap<i64, usize> = catalog
        .iter()
        .enumerate()
        .map(|(i, s)| (s.shoe_id, i))
        .collect();
    let mut rows = Vec::new();
    let table = client
        .select(
            "SELECT user_id, shoe_id, action IN ('purchase', 'add_to_wishlist'), weight, part = 'test' \
             FROM reco.evaluation_split($1)",
            None,
            &[test_fraction.into()],
        )
        .unwrap_or_else(|e| errors::spi("reading the evaluation split", e));
    for r in table {
        let shoe_id: i64 = column(&r, 2, SPLIT, "shoe_id").unwrap_or_default();
        let Some(&shoe_pos) = pos.get(&shoe_id) else {
            continue;
        };
        rows.push(SplitRow {
            user_id: column(&r, 1, SPLIT, "user_id").unwrap_or_default(),
            shoe_pos,
            relevant_action: column(&r, 3, SPLIT, "action").unwrap_or(false),
            weight: column::<f64>(&r, 4, SPLIT, "weight").unwrap_or(0.0) as f32,
            test: column(&r, 5, SPLIT, "part").unwrap_or(false),
        });
    }
    check_for_interrupts!();
    let (users, train_rows) = offline::build(rows);
    if users.user_ids.is_empty() {
        errors::no_data(
            "reco.evaluate(): no user has a held-out purchase or wishlist add to score",
            Some("Evaluation needs users with at least 2 interactions whose later ones include purchases or wishlist adds."),
        );
    }
    let m = train_rows
        .iter()
        .map(|t| t.0 as usize + 1)
        .max()
        .unwrap_or(0);
    let mut triplets = Triplets::default();
    // The split's rows come in (user, time) order: their index is a time key.
    for (at, (u, s, w)) in train_rows.into_iter().enumerate() {
        triplets.push_at(u, s, w, at as i64);
    }
    let content = model::build_content(&catalog);
    let sequences = if params.knn.next_weight > 0.0 {
        triplets.sequences(m, catalog.len())
    } else {
        Default::default()
    };
    let inputs = ModelInputs {
        matrix: reco_core::matrix::csr_from_triplets(m, catalog.len(), triplets),
        sequences,
        catalog,
        // Train users are identified by their row; the rankings go by ScoredUsers.
        user_ids: (0..m as i64).collect(),
        segments: SegmentAssignment {
            names: Vec::new(),
            of_row: vec![None; m],
        },
    };
    let built = model::build(inputs, content, &params, &mut || {
        check_for_interrupts!();
    });
    let model = ServingModel::from_model(built);
    check_for_interrupts!();
    let rankings = offline::rank(&model.view(), &users, k, &blend);
    let svd = &params.svd;
    let parameters = serde_json::json!({
        "factors": svd.k, "oversampling": svd.oversample, "power_iterations": svd.power_iters,
        "seed": svd.seed, "cf_weight": blend.cf_weight, "history_shrinkage": blend.history_shrinkage,
        "knn_neighbours": params.knn.neighbours, "knn_shrinkage": params.knn.shrinkage,
        "knn_next_weight": params.knn.next_weight,
        "knn_weight": blend.knn_weight, "content_weight": blend.content_weight,
        "popularity_weight": blend.popularity_weight,
        "recency_half_life": blend.recency_half_life, "recency_floor": blend.recency_floor,
        "content_profile_terms": blend.content_terms,
    });
    Evaluation {
        model,
        users,
        rankings,
        parameters,
    }
}

/// Offline metrics per method on a time split (see README, "Evaluation"); results are also
/// stored in reco.evaluations.
// pgrx reads the SQL result columns from the return type itself (name!), so it cannot be a
// type alias.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_unsafe)]
fn evaluate(
    k: default!(Option<i32>, 10),
    test_fraction: default!(Option<f64>, 0.2),
) -> TableIterator<
    'static,
    (
        name!(method, String),
        name!(precision_at_k, f64),
        name!(recall_at_k, f64),
        name!(ndcg_at_k, f64),
        name!(map_at_k, f64),
        name!(hit_rate_at_k, f64),
        name!(coverage_at_k, f64),
        name!(users, i32),
    ),
> {
    let k = errors::check_k(k);
    let test_fraction = check_fraction(test_fraction);
    let rows = Spi::connect_mut(|client| {
        let ev = run(client, k, test_fraction);
        let mut out = Vec::new();
        for (mi, method) in METHODS.iter().enumerate() {
            let per_user = ev
                .users
                .relevant
                .iter()
                .zip(&ev.rankings)
                .map(|(rel, ranks)| {
                    let ranked: Vec<u64> = ranks[mi].iter().map(|&p| p as u64).collect();
                    let relevant: HashSet<u64> = rel.iter().map(|&p| p as u64).collect();
                    (ranked, relevant)
                });
            let r = metrics::evaluate(per_user, k);
            let coverage = metrics::catalogue_coverage(
                ev.rankings
                    .iter()
                    .flat_map(|ranks| ranks[mi].iter().map(|&p| p as u64)),
                ev.model.shoes.len(),
            );
            out.push((
                method.to_string(),
                r.precision,
                r.recall,
                r.ndcg,
                r.map,
                r.hit_rate,
                coverage,
                r.users as i32,
            ));
        }
        let run_id: i64 = client
            .update("SELECT nextval('reco.evaluation_run_seq')", None, &[])
            .and_then(|t| t.first().get_one::<i64>())
            .unwrap_or_else(|e| errors::spi("numbering the evaluation", e))
            .unwrap_or(0);
        for row in &out {
            client
                .update(
                    "INSERT INTO reco.evaluations (run_id, model_id, method, k, test_fraction, parameters, \
                        precision_at_k, recall_at_k, ndcg_at_k, map_at_k, hit_rate_at_k, coverage_at_k, users) \
                     VALUES ($1, (SELECT model_id FROM reco.models WHERE status = 'active'), $2, $3, $4, $5::jsonb, \
                             $6, $7, $8, $9, $10, $11, $12)",
                    None,
                    &[
                        run_id.into(),
                        row.0.clone().into(),
                        (k as i32).into(),
                        test_fraction.into(),
                        ev.parameters.to_string().into(),
                        row.1.into(),
                        row.2.into(),
                        row.3.into(),
                        row.4.into(),
                        row.5.into(),
                        row.6.into(),
                        row.7.into(),
                    ],
                )
                .unwrap_or_else(|e| errors::spi("storing the evaluation", e));
        }
        out
    });
    TableIterator::new(rows)
}

/// The top-k lists behind reco.evaluate(), for scoring reco beside other libraries with one
/// metric implementation (scripts/eval). Methods: reco-hybrid, reco-cf, reco-content, reco-popularity.
#[pg_extern(parallel_unsafe)]
fn evaluation_rankings(
    k: default!(Option<i32>, 10),
    test_fraction: default!(Option<f64>, 0.2),
) -> TableIterator<
    'static,
    (
        name!(method, String),
        name!(user_id, i64),
        name!(rank, i32),
        name!(shoe_id, i64),
    ),
> {
    let k = errors::check_k(k);
    let test_fraction = check_fraction(test_fraction);
    let rows = Spi::connect(|client| {
        let ev = run(client, k, test_fraction);
        let mut out = Vec::new();
        for (mi, method) in METHODS.iter().enumerate() {
            for (uid, ranks) in ev.users.user_ids.iter().zip(&ev.rankings) {
                for (r, &p) in ranks[mi].iter().enumerate() {
                    out.push((
                        format!("reco-{method}"),
                        *uid,
                        r as i32 + 1,
                        ev.model.shoes[p].shoe_id,
                    ));
                }
            }
        }
        out
    });
    TableIterator::new(rows)
}
