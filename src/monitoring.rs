//! reco.serving_stats and reco.refresh_progress (views over the functions here), and
//! reco.reset_serving_stats(): what shmem.rs keeps, as rows.

use pgrx::prelude::*;
use reco_core::serving_stats::{bucket_bounds, LATENCY_BUCKETS};

use crate::shmem::{self, NO_MODEL, OTHER_VERSIONS, PHASES};

fn timestamp(t: pg_sys::TimestampTz) -> Option<TimestampWithTimeZone> {
    // SAFETY: a TimestampTz is an int8 datum; the conversion copies it.
    unsafe { TimestampWithTimeZone::from_datum(pg_sys::Datum::from(t), false) }
}

/// Upper bounds of the latency buckets in milliseconds (the last is infinite).
fn bucket_upper_ms() -> Vec<f64> {
    (0..LATENCY_BUCKETS)
        .map(|i| bucket_bounds(i).1 / 1000.0)
        .collect()
}

#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_restricted)]
fn serving_stats_rows() -> TableIterator<
    'static,
    (
        name!(datid, Option<pg_sys::Oid>),
        name!(function, Option<String>),
        name!(model_id, Option<i64>),
        name!(calls, i64),
        name!(errors, i64),
        name!(empty_results, i64),
        name!(cold_start, i64),
        name!(anonymous, i64),
        name!(rows, i64),
        name!(mean_ms, Option<f64>),
        name!(p50_ms, Option<f64>),
        name!(p90_ms, Option<f64>),
        name!(p99_ms, Option<f64>),
        name!(latency_bucket_upper_ms, Vec<f64>),
        name!(latency_counts, Vec<i64>),
        name!(since, Option<TimestampWithTimeZone>),
        name!(note, Option<String>),
    ),
> {
    let Some(table) = shmem::serving_snapshot() else {
        return TableIterator::once((
            None,
            None,
            None,
            0,
            0,
            0,
            0,
            0,
            0,
            None,
            None,
            None,
            None,
            bucket_upper_ms(),
            vec![0; LATENCY_BUCKETS],
            None,
            Some(shmem::NOT_PRELOADED.to_string()),
        ));
    };
    let since = timestamp(if table.since == 0 {
        shmem::server_start()
    } else {
        table.since
    });
    let mut entries: Vec<_> = table.entries.iter().filter(|e| e.used).collect();
    entries.sort_by_key(|e| {
        (
            e.database.to_u32(),
            e.function,
            std::cmp::Reverse(e.model_id),
        )
    });
    let rows: Vec<_> = entries
        .into_iter()
        .map(|e| {
            let c = &e.counters;
            let (model_id, note) = match e.model_id {
                NO_MODEL => (
                    None,
                    Some(
                        "no model version: before the first refresh, or failed before loading one"
                            .to_string(),
                    ),
                ),
                OTHER_VERSIONS => (
                    None,
                    Some(
                        "versions beyond the entries of shared memory (reset to count them apart)"
                            .to_string(),
                    ),
                ),
                id => (Some(id), None),
            };
            (
                Some(e.database),
                Some(shmem::FUNCTION_NAMES[e.function as usize].to_string()),
                model_id,
                c.calls as i64,
                c.errors as i64,
                c.empty_results as i64,
                c.cold_start as i64,
                c.anonymous as i64,
                c.rows as i64,
                c.mean_ms(),
                c.percentile_ms(0.5),
                c.percentile_ms(0.9),
                c.percentile_ms(0.99),
                bucket_upper_ms(),
                c.latency.iter().map(|&n| n as i64).collect(),
                since,
                note,
            )
        })
        .collect();
    TableIterator::new(rows)
}

/// Zeroes the serving statistics. Owner only (the SQL wrapper checks).
#[pg_extern(volatile, parallel_unsafe)]
fn reset_serving_stats_now() -> bool {
    shmem::reset_serving();
    shmem::preloaded()
}

#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_restricted)]
fn refresh_progress_rows() -> TableIterator<
    'static,
    (
        name!(pid, Option<i32>),
        name!(datid, Option<pg_sys::Oid>),
        name!(phase, Option<String>),
        name!(rows_read, Option<i64>),
        name!(rows_estimate, Option<i64>),
        name!(started_at, Option<TimestampWithTimeZone>),
        name!(phase_started_at, Option<TimestampWithTimeZone>),
        name!(phase_seconds, Option<pgrx::JsonB>),
        name!(note, Option<String>),
    ),
> {
    let Some(slots) = shmem::progress_snapshot() else {
        return TableIterator::once((
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            Some(shmem::NOT_PRELOADED.to_string()),
        ));
    };
    let rows: Vec<_> = slots
        .into_iter()
        .map(|s| {
            let finished: serde_json::Map<String, serde_json::Value> = PHASES
                .iter()
                .enumerate()
                .take(s.phase as usize)
                .map(|(i, name)| {
                    (
                        name.to_string(),
                        serde_json::Value::from(s.phase_seconds[i]),
                    )
                })
                .collect();
            (
                Some(s.pid),
                Some(s.database),
                Some(PHASES[s.phase as usize].to_string()),
                Some(s.rows_read as i64),
                Some(s.rows_estimate as i64),
                timestamp(s.started_at),
                timestamp(s.phase_started_at),
                Some(pgrx::JsonB(serde_json::Value::Object(finished))),
                None,
            )
        })
        .collect();
    TableIterator::new(rows)
}
