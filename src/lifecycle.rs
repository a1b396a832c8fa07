//! reco.compare_models(): two model versions side by side: their held-out quality (recorded by
//! the refreshes that built them) and their top-10 lists for a fixed sample of users, served as
//! recommend() would serve each version now.

use std::collections::HashMap;

use pgrx::prelude::*;
use reco_core::lifecycle::{coverage, gini, mean_jaccard, top_share};
use reco_core::serving::Filters;

use crate::cache;
use crate::errors::{self, column};
use crate::recommend::{blend, rank, Strategy};

/// Held-out nDCG, recall and coverage of a version (NULLs when not measured).
fn stored_quality(client: &pgrx::spi::SpiClient, model_id: i64) -> [Option<f64>; 3] {
    client
        .select(
            "SELECT ndcg_at_10, recall_at_10, coverage_at_10 FROM reco.model_quality \
             WHERE model_id OPERATOR(pg_catalog.=) $1",
            None,
            &[model_id.into()],
        )
        .map(|t| {
            if t.is_empty() {
                [None; 3]
            } else {
                let r = t.first();
                [
                    column::<f64>(&r, 1, "reco.model_quality", "ndcg_at_10"),
                    column::<f64>(&r, 2, "reco.model_quality", "recall_at_10"),
                    column::<f64>(&r, 3, "reco.model_quality", "coverage_at_10"),
                ]
            }
        })
        .unwrap_or_else(|e| errors::spi("reading model quality", e))
}

fn delta(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(b? - a?)
}

/// What one version's lists give: coverage, the share of the top 1 % of shoes, Gini.
fn list_measures(lists: &[Vec<i64>], catalogue: &[i64]) -> (f64, f64, f64) {
    let mut counts: HashMap<i64, f64> = catalogue.iter().map(|&id| (id, 0.0)).collect();
    for id in lists.iter().flatten() {
        *counts.entry(*id).or_default() += 1.0;
    }
    let counts: Vec<f64> = counts.into_values().collect();
    (
        coverage(lists, catalogue.len()),
        top_share(&counts, 0.01),
        gini(&counts),
    )
}

#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_unsafe)]
fn compare_models(
    a: Option<i64>,
    b: Option<i64>,
    sample_users: default!(Option<i32>, 1000),
) -> TableIterator<
    'static,
    (
        name!(model_a, i64),
        name!(model_b, i64),
        name!(users, i32),
        name!(ndcg_a, Option<f64>),
        name!(ndcg_b, Option<f64>),
        name!(ndcg_delta, Option<f64>),
        name!(recall_a, Option<f64>),
        name!(recall_b, Option<f64>),
        name!(recall_delta, Option<f64>),
        name!(coverage_a, Option<f64>),
        name!(coverage_b, Option<f64>),
        name!(coverage_delta, Option<f64>),
        name!(mean_jaccard, Option<f64>),
        name!(list_coverage_a, f64),
        name!(list_coverage_b, f64),
        name!(top1pct_share_a, f64),
        name!(top1pct_share_b, f64),
        name!(gini_a, f64),
        name!(gini_b, f64),
    ),
> {
    let (Some(a), Some(b)) = (a, b) else {
        errors::null_value("compare_models: model ids must not be NULL")
    };
    let users = match sample_users {
        None => errors::null_value("compare_models: sample_users must not be NULL"),
        Some(n) if !(1..=100_000).contains(&n) => errors::invalid_parameter(
            format!("compare_models: sample_users must be between 1 and 100000, got {n}"),
            Some("The number of users whose top-10 lists are compared (default 1000)."),
        ),
        Some(n) => n,
    };
    let blend = blend();
    let row = Spi::connect(|client| {
        for id in [a, b] {
            cache::require_version(
                client,
                id,
                "SELECT model_id, status FROM reco.models lists the versions; reco.quality_history keeps the quality of pruned ones.",
            );
        }
        // A fixed sample: users with history, in the order of a hash of their id (the same users
        // for every comparison while they exist).
        let sample: Vec<i64> = client
            .select(
                "SELECT u.user_id FROM reco.users u \
                 WHERE EXISTS (SELECT 1 FROM reco.interactions i WHERE i.user_id OPERATOR(pg_catalog.=) u.user_id) \
                 ORDER BY pg_catalog.hashint8extended(u.user_id, 42), u.user_id LIMIT $1",
                None,
                &[(users as i64).into()],
            )
            .unwrap_or_else(|e| errors::spi("sampling users", e))
            .filter_map(|r| column::<i64>(&r, 1, "reco.users", "user_id"))
            .collect();
        let lists_of = |model_id: i64| -> (Vec<Vec<i64>>, Vec<i64>) {
            let model = cache::version(client, model_id);
            let lists = sample
                .iter()
                .map(|&uid| {
                    check_for_interrupts!();
                    let (found, _) = rank(
                        client,
                        &model,
                        Some(uid),
                        10,
                        Filters::default(),
                        true,
                        Strategy::Hybrid,
                        &blend,
                    );
                    found
                        .iter()
                        .map(|r| model.shoes[r.pos].shoe_id)
                        .collect::<Vec<i64>>()
                })
                .collect();
            let catalogue = model
                .shoes
                .iter()
                .filter(|s| s.active)
                .map(|s| s.shoe_id)
                .collect();
            (lists, catalogue)
        };
        let (lists_a, catalogue) = lists_of(a);
        let (lists_b, _) = lists_of(b);
        let qa = stored_quality(client, a);
        let qb = stored_quality(client, b);
        let (cov_a, top_a, gini_a) = list_measures(&lists_a, &catalogue);
        let (cov_b, top_b, gini_b) = list_measures(&lists_b, &catalogue);
        (
            a,
            b,
            sample.len() as i32,
            qa[0],
            qb[0],
            delta(qa[0], qb[0]),
            qa[1],
            qb[1],
            delta(qa[1], qb[1]),
            qa[2],
            qb[2],
            delta(qa[2], qb[2]),
            mean_jaccard(&lists_a, &lists_b),
            cov_a,
            cov_b,
            top_a,
            top_b,
            gini_a,
            gini_b,
        )
    });
    TableIterator::once(row)
}
