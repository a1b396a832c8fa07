//! A/B tests: reco.serve() (the arm's list, with the exposure and impression recorded),
//! reco.experiment_bucket() (the documented assignment hash) and reco.experiment_statistics()
//! (per-arm statistics for reco.experiment_results()). The experiments, events and ratings
//! themselves are SQL (sql/reco--0.2.0--0.3.0.sql); the statistics are
//! `reco_core::experiment_stats`.

use pgrx::pg_sys::{PgBuiltInOids, PgOid};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use reco_core::experiment_stats::{
    arm_for_bucket, assignment_bucket, ratio_delta_test, srm_test, two_proportion_z_test, user_key,
    verdict, welch_t_test, Comparison, MeanStats, ProportionStats, RatioStats, VerdictInput,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::bulk::{for_each_row_int8, text_bytes, Column, Kind};
use crate::cache;
use crate::errors::{self, column};
use crate::recommend::{filters_of, rank, Fallback, Strategy};
use crate::shmem::{Function, ServingCall, NO_MODEL};

/// The bucket (0..9999) of a registered user in an experiment with assignment seed `seed`:
/// 64-bit FNV-1a over the seed's 8 little-endian bytes then the user id's 8 little-endian bytes,
/// the SplitMix64 finaliser, modulo 10,000. The same on every server, version and session.
#[pg_extern(immutable, parallel_safe, strict, name = "experiment_bucket")]
fn experiment_bucket_user(seed: i64, user_id: i64) -> i32 {
    assignment_bucket(seed, &user_key(user_id)) as i32
}

/// The bucket of an anonymous visitor, by the caller's visitor key (its UTF-8 bytes).
#[pg_extern(immutable, parallel_safe, strict, name = "experiment_bucket")]
fn experiment_bucket_visitor(seed: i64, visitor: &str) -> i32 {
    assignment_bucket(seed, visitor.as_bytes()) as i32
}

/// Users needed per arm for a two-proportion test to detect a relative lift
/// `minimum_detectable_effect` of a conversion rate `baseline_rate` (e.g. 0.1 = +10%), at the
/// two-sided level `alpha` with `power` (what experiment_results() plans with).
#[pg_extern(immutable, parallel_safe)]
fn sample_size_per_arm(
    baseline_rate: Option<f64>,
    minimum_detectable_effect: Option<f64>,
    alpha: default!(Option<f64>, 0.05),
    power: default!(Option<f64>, 0.8),
) -> i64 {
    let (Some(base), Some(mde), Some(alpha), Some(power)) =
        (baseline_rate, minimum_detectable_effect, alpha, power)
    else {
        errors::null_value(
            "baseline_rate, minimum_detectable_effect, alpha and power must not be NULL",
        )
    };
    match reco_core::experiment_stats::sample_size_per_arm(base, base * mde, alpha, power) {
        Some(n) => i64::try_from(n).unwrap_or(i64::MAX),
        None => errors::invalid_parameter(
            format!(
                "no sample size for baseline_rate {base}, minimum_detectable_effect {mde}, alpha {alpha}, power {power}"
            ),
            Some("baseline_rate and baseline_rate * (1 + minimum_detectable_effect) must be in (0, 1), the effect not 0, alpha and power in (0, 1)."),
        ),
    }
}

/// One arm as stored in reco.experiments.arms (checked by reco.checked_arms()).
#[derive(Deserialize)]
struct Arm {
    name: String,
    strategy: String,
    model_id: Option<i64>,
    weight: f64,
}

fn parse_arms(arms: &str) -> Vec<Arm> {
    serde_json::from_str(arms).unwrap_or_else(|e| {
        errors::raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("reco.experiments.arms cannot be read: {e}"),
            Some("The arms are written by reco.create_experiment(); restore them from a backup."),
        )
    })
}

/// The live experiment of a placement: (id, seed, status, arms).
fn live_experiment(client: &SpiClient, placement: &str) -> Option<(i64, i64, String, Vec<Arm>)> {
    let plan = cache::prepared(
        client,
        "SELECT experiment_id, seed, status, arms::text FROM reco.experiments \
         WHERE placement OPERATOR(pg_catalog.=) $1 AND status IN ('running', 'paused')",
        &[PgOid::BuiltIn(PgBuiltInOids::TEXTOID)],
    );
    let table = client
        .select(&*plan, None, &[placement.into()])
        .unwrap_or_else(|e| errors::spi("reading the experiment", e));
    let row = table.into_iter().next()?;
    const EXPERIMENTS: &str = "reco.experiments";
    let id: i64 = column(&row, 1, EXPERIMENTS, "experiment_id")?;
    let seed: i64 = column(&row, 2, EXPERIMENTS, "seed")?;
    let status: String = column(&row, 3, EXPERIMENTS, "status")?;
    let arms: String = column(&row, 4, EXPERIMENTS, "arms")?;
    Some((id, seed, status, parse_arms(&arms)))
}

type ServeRow = (i64, i32, i64, f64, String, String);

/// The list of `user_id`'s arm in the experiment running on `placement` (recommend()'s with no
/// experiment), recorded in reco.impressions; the request id identifies it for log_event().
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe)]
fn serve(
    user_id: Option<i64>,
    k: default!(Option<i32>, 10),
    placement: default!(Option<&str>, "'home'"),
    exclude_purchased: default!(Option<bool>, true),
    brand: default!(Option<&str>, "NULL"),
    shoe_type: default!(Option<&str>, "NULL"),
    max_price: default!(Option<f64>, "NULL"),
    allowed_ids: default!(Option<Vec<Option<i64>>>, "NULL"),
    denied_ids: default!(Option<Vec<Option<i64>>>, "NULL"),
    visitor: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(request_id, i64),
        name!(position, i32),
        name!(shoe_id, i64),
        name!(score, f64),
        name!(reason, String),
        name!(arm, String),
    ),
> {
    let mut stats = ServingCall::start(Function::Serve);
    let k = errors::check_k(k);
    let Some(placement) = placement.filter(|p| !p.is_empty()) else {
        errors::null_value("placement must not be NULL or empty")
    };
    let filters = filters_of(brand, shoe_type, max_price, allowed_ids, denied_ids);
    let exclude_purchased = exclude_purchased.unwrap_or(true);
    let blend = crate::recommend::blend();
    let rows: Vec<ServeRow> = Spi::connect_mut(|client| {
        // The arm: by the user's (or visitor's) bucket while the experiment runs; the control
        // while it is paused, then without recording an exposure (the pause is not part of the
        // experiment). No unit to assign (anonymous, no visitor key): the default list, outside
        // the experiment.
        let mut exposure: Option<(i64, String)> = None;
        let mut served_arm = "default".to_string();
        let mut strategy = (Strategy::Hybrid, None::<i64>);
        if let Some((id, seed, status, arms)) = live_experiment(client, placement) {
            let unit: Option<Vec<u8>> = match (user_id, visitor) {
                (Some(u), _) => Some(user_key(u).to_vec()),
                (None, Some(v)) => Some(v.as_bytes().to_vec()),
                (None, None) => None,
            };
            let weights: Vec<f64> = arms.iter().map(|a| a.weight).collect();
            let chosen = match (&unit, status.as_str()) {
                (Some(key), "running") => {
                    arm_for_bucket(assignment_bucket(seed, key), &weights).map(|i| (i, true))
                }
                (Some(_), _) => Some((0, false)),
                (None, _) => None,
            };
            if let Some((i, exposed)) = chosen {
                let arm = &arms[i];
                served_arm = arm.name.clone();
                if exposed {
                    exposure = Some((id, arm.name.clone()));
                }
                strategy = match arm.strategy.as_str() {
                    "popularity" => (Strategy::Popularity, None),
                    "model" => (Strategy::Hybrid, arm.model_id),
                    _ => (Strategy::Hybrid, None),
                };
            }
        }
        let model = match strategy.1 {
            Some(model_id) => cache::version(client, model_id),
            None => cache::current(client),
        };
        stats.model_id = model.model_id.unwrap_or(NO_MODEL);
        let (found, fallback) = rank(
            client,
            &model,
            user_id,
            k,
            filters,
            exclude_purchased,
            strategy.0,
            &blend,
        );
        stats.cold_start = fallback == Fallback::ColdStart;
        stats.anonymous = fallback == Fallback::Anonymous;
        let shoe_ids: Vec<i64> = found.iter().map(|r| model.shoes[r.pos].shoe_id).collect();
        let plan = cache::prepared(
            client,
            "INSERT INTO reco.impressions (experiment_id, arm, placement, user_id, visitor, shoe_ids) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING request_id",
            &[
                PgOid::BuiltIn(PgBuiltInOids::INT8OID),
                PgOid::BuiltIn(PgBuiltInOids::TEXTOID),
                PgOid::BuiltIn(PgBuiltInOids::TEXTOID),
                PgOid::BuiltIn(PgBuiltInOids::INT8OID),
                PgOid::BuiltIn(PgBuiltInOids::TEXTOID),
                PgOid::BuiltIn(PgBuiltInOids::INT8ARRAYOID),
            ],
        );
        let (experiment_id, arm) = match &exposure {
            Some((id, name)) => (Some(*id), Some(name.as_str())),
            None => (None, None),
        };
        let request_id = client
            .update(
                &*plan,
                None,
                &[
                    experiment_id.into(),
                    arm.into(),
                    placement.into(),
                    user_id.into(),
                    visitor.into(),
                    shoe_ids.clone().into(),
                ],
            )
            .and_then(|t| t.first().get_one::<i64>())
            .unwrap_or_else(|e| errors::spi("recording the impression", e))
            .unwrap_or_default();
        found
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    request_id,
                    i as i32 + 1,
                    model.shoes[r.pos].shoe_id,
                    r.score,
                    r.reason,
                    served_arm.clone(),
                )
            })
            .collect()
    });
    stats.finish(rows.len());
    TableIterator::new(rows)
}

/// What one arm's users did, summed per user (the unit of randomisation).
#[derive(Default)]
struct ArmTotals {
    users: u64,
    impressions: f64,
    clicks: f64,
    orders: f64,
    revenue: f64,
    conversion: ProportionStats,
    ctr: RatioStats,
    aov: RatioStats,
    revenue_per_user: MeanStats,
}

/// Per-arm statistics of experiment `experiment_id`, one row per arm in the arms' order, as a
/// JSON object per arm (reco.experiment_results() spreads it into columns): counts and rates,
/// then for conversion, ctr, aov and revenue_per_user against the control (the first arm) the
/// absolute lift with its confidence interval, the relative lift with its interval and the
/// p-value; the SRM p-value, the users needed per arm and the verdict.
#[pg_extern(stable, parallel_unsafe)]
fn experiment_statistics(
    experiment_id: i64,
) -> TableIterator<
    'static,
    (
        name!(arm, String),
        name!(position, i32),
        name!(statistics, pgrx::JsonB),
    ),
> {
    let rows = Spi::connect(|client| {
        let experiment = client
            .select(
                "SELECT arms::text, minimum_detectable_effect, alpha, power FROM reco.experiments \
                 WHERE experiment_id OPERATOR(pg_catalog.=) $1",
                None,
                &[experiment_id.into()],
            )
            .unwrap_or_else(|e| errors::spi("reading the experiment", e));
        let Some(row) = experiment.into_iter().next() else {
            errors::no_data(format!("experiment {experiment_id} does not exist"), None)
        };
        const EXPERIMENTS: &str = "reco.experiments";
        let arms = parse_arms(&column::<String>(&row, 1, EXPERIMENTS, "arms").unwrap_or_default());
        let mde: f64 = column(&row, 2, EXPERIMENTS, "minimum_detectable_effect").unwrap_or(0.1);
        let alpha: f64 = column(&row, 3, EXPERIMENTS, "alpha").unwrap_or(0.05);
        let power: f64 = column(&row, 4, EXPERIMENTS, "power").unwrap_or(0.8);
        (arms, totals(experiment_id), mde, alpha, power)
    });
    let (arms, totals, mde, alpha, power) = rows;
    TableIterator::new(statistics_rows(&arms, totals, mde, alpha, power))
}

/// Sums every user's impressions, clicks, orders and revenue, per arm, in one pass over the
/// impressions of the experiment and their totals (the SQL aggregates per user; this folds the
/// users into sufficient statistics).
fn totals(experiment_id: i64) -> std::collections::HashMap<String, ArmTotals> {
    const COLUMNS: [Column; 5] = [
        Column::new("reco.impressions", "arm", Kind::Text),
        Column::new("reco.impressions", "impressions", Kind::Int8),
        Column::new("reco.request_totals", "clicks", Kind::Int8),
        Column::new("reco.request_totals", "orders", Kind::Int8),
        Column::new("reco.request_totals", "revenue", Kind::Float8),
    ];
    let mut by_arm: std::collections::HashMap<String, ArmTotals> = Default::default();
    let mut on_row = |values: &[pg_sys::Datum], nulls: &[bool]| {
        if nulls[0] {
            return;
        }
        // SAFETY: column 1 is text (checked by for_each_row) and not NULL.
        let arm = String::from_utf8_lossy(unsafe { text_bytes(values[0]) }).into_owned();
        let count = |i: usize| {
            if nulls[i] {
                0.0
            } else {
                values[i].value() as i64 as f64
            }
        };
        let (impressions, clicks, orders) = (count(1), count(2), count(3));
        let revenue = if nulls[4] {
            0.0
        } else {
            f64::from_bits(values[4].value() as u64)
        };
        let t = by_arm.entry(arm).or_default();
        t.users += 1;
        t.impressions += impressions;
        t.clicks += clicks;
        t.orders += orders;
        t.revenue += revenue;
        t.conversion.n += 1;
        t.conversion.successes += u64::from(orders > 0.0);
        t.ctr.add(clicks, impressions);
        t.aov.add(revenue, orders);
        t.revenue_per_user.add(revenue);
    };
    for_each_row_int8(
        "reading the experiment's impressions and events",
        // One row per request (reco.request_totals, kept by the triggers of reco.events), not
        // per event: 1M rows for 10M events.
        "SELECT i.arm, count(*) AS impressions, sum(t.clicks)::int8 AS clicks, \
                sum(t.orders)::int8 AS orders, sum(t.revenue)::float8 AS revenue \
         FROM reco.impressions i LEFT JOIN reco.request_totals t USING (request_id) \
         WHERE i.experiment_id OPERATOR(pg_catalog.=) $1 \
         GROUP BY i.arm, i.user_id, i.visitor",
        experiment_id,
        &COLUMNS,
        &mut on_row,
    );
    by_arm
}

fn comparison_json(out: &mut Map<String, Value>, metric: &str, c: &Comparison) {
    let mut put = |suffix: &str, v: Option<f64>| {
        out.insert(format!("{metric}_{suffix}"), json!(v));
    };
    put("lift", c.lift);
    put("ci_low", c.lift_ci_low);
    put("ci_high", c.lift_ci_high);
    put("relative_lift", c.relative_lift);
    put("relative_ci_low", c.relative_ci_low);
    put("relative_ci_high", c.relative_ci_high);
    put("p_value", c.p_value);
}

fn statistics_rows(
    arms: &[Arm],
    mut totals: std::collections::HashMap<String, ArmTotals>,
    mde: f64,
    alpha: f64,
    power: f64,
) -> Vec<(String, i32, pgrx::JsonB)> {
    let per_arm: Vec<ArmTotals> = arms
        .iter()
        .map(|a| totals.remove(&a.name).unwrap_or_default())
        .collect();
    // SRM over the arms that can receive users (a zero-weight arm gets none by construction).
    let (observed, weights): (Vec<u64>, Vec<f64>) = arms
        .iter()
        .zip(&per_arm)
        .filter(|(a, _)| a.weight > 0.0)
        .map(|(a, t)| (t.users, a.weight))
        .unzip();
    let srm = srm_test(&observed, &weights).map(|s| s.p_value);
    let control = &per_arm[0];
    // The users needed per arm to detect a relative lift of `mde` of the control's conversion.
    let required = control.conversion.rate().and_then(|base| {
        reco_core::experiment_stats::sample_size_per_arm(base, base * mde, alpha, power)
    });
    // The intervals match the experiment's significance level (0.95 for alpha 0.05).
    let confidence = 1.0 - alpha;
    arms.iter()
        .zip(&per_arm)
        .enumerate()
        .map(|(i, (arm, t))| {
            let mut out = Map::new();
            let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
            out.insert("users".into(), json!(t.users));
            out.insert("impressions".into(), json!(t.impressions));
            out.insert("clicks".into(), json!(t.clicks));
            out.insert("ctr".into(), json!(ratio(t.clicks, t.impressions)));
            out.insert("conversions".into(), json!(t.conversion.successes));
            out.insert("conversion_rate".into(), json!(t.conversion.rate()));
            out.insert("orders".into(), json!(t.orders));
            out.insert("revenue".into(), json!(t.revenue));
            out.insert("aov".into(), json!(ratio(t.revenue, t.orders)));
            out.insert("revenue_per_user".into(), json!(t.revenue_per_user.mean()));
            let conversion = two_proportion_z_test(&control.conversion, &t.conversion, confidence);
            if i > 0 {
                comparison_json(&mut out, "conversion", &conversion);
                comparison_json(
                    &mut out,
                    "ctr",
                    &ratio_delta_test(&control.ctr, &t.ctr, confidence),
                );
                comparison_json(
                    &mut out,
                    "aov",
                    &ratio_delta_test(&control.aov, &t.aov, confidence),
                );
                comparison_json(
                    &mut out,
                    "revenue_per_user",
                    &welch_t_test(&control.revenue_per_user, &t.revenue_per_user, confidence),
                );
            }
            out.insert("srm_p_value".into(), json!(srm));
            out.insert("required_users_per_arm".into(), json!(required));
            let v = verdict(&VerdictInput {
                is_control: i == 0,
                srm_p_value: srm,
                control_users: control.users,
                arm_users: t.users,
                required_users_per_arm: required.unwrap_or(u64::MAX),
                p_value: conversion.p_value,
                lift: conversion.lift,
                alpha,
            });
            out.insert("verdict".into(), json!(v.as_str()));
            (
                arm.name.clone(),
                i as i32 + 1,
                pgrx::JsonB(Value::Object(out)),
            )
        })
        .collect()
}
