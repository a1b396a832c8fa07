//! reco.refresh(): read the log and catalogue, build a new model version, make it active.

use std::collections::HashMap;
use std::time::Instant;

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::PgSqlErrorCode;
use reco_core::svd::{randomized_svd, SvdParams};
use reco_core::tfidf;

use crate::bulk::{for_each_row, text_bytes, TableWriter, Value};
use crate::cache::{read_catalog, shoe_text};
use crate::errors::{self, raise};
use crate::guc;
use crate::matrix::{column_sums, csr_from_triplets, grouped_column_sums, IdIndex, Triplets};
use crate::segments::segment_keys;

/// Shoes kept per cold-start segment.
const SEGMENT_TOP: usize = 200;

// The action's weight is looked up in Rust, not joined in SQL: the hash join on text cost more
// than the scan itself (0.45 s against 0.30 s for 2M rows on tier M).
// Every column, in table order: the scan then hands its tuples over as they are, with no
// projection step per row (0.1 s of 2M rows on tier M). The action's weight is looked up in Rust,
// not joined in SQL: the hash join on text cost more than the scan itself.
const READ_INTERACTIONS: &str =
    "SELECT interaction_id, user_id, shoe_id, action, occurred_at FROM reco.interactions";
/// Seconds from the Unix epoch to the Postgres epoch (2000-01-01), for timestamptz values.
const POSTGRES_EPOCH_UNIX_SECONDS: f64 = 946_684_800.0;

/// Build a new model version from reco.interactions and reco.shoes and make it the active one
/// when the calling transaction commits.
#[pg_extern(volatile, parallel_unsafe)]
fn refresh() -> TableIterator<
    'static,
    (
        name!(model_id, i64),
        name!(users, i32),
        name!(shoes, i32),
        name!(interactions, i64),
        name!(factors, i32),
        name!(energy, f64),
        name!(read_seconds, f64),
        name!(svd_seconds, f64),
        name!(tfidf_seconds, f64),
        name!(write_seconds, f64),
    ),
> {
    let params = SvdParams {
        k: guc::FACTORS.get() as usize,
        oversample: guc::OVERSAMPLE.get() as usize,
        power_iters: guc::POWER_ITERATIONS.get() as usize,
        seed: guc::SEED.get() as u64,
    };
    let half_life_days = guc::HALF_LIFE_DAYS.get();

    let row = Spi::connect_mut(|client| {
        // One refresh at a time; readers (ACCESS SHARE) are not blocked.
        client
            .update(
                "LOCK TABLE reco.models IN SHARE ROW EXCLUSIVE MODE",
                None,
                &[],
            )
            .unwrap_or_else(|e| errors::spi("locking reco.models", e));

        let sizes = check_memory(client, &params);

        // ---- read ----
        let t_read = Instant::now();
        let catalog = timed_step("reading the catalogue", || read_catalog(client));
        if catalog.is_empty() {
            errors::no_data(
                "reco.refresh(): reco.shoes is empty, there is nothing to recommend",
                Some("Load the catalogue first (reco.load_csv or INSERT INTO reco.shoes); the previous model, if any, stays active."),
            );
        }
        let shoe_pos: IdIndex = catalog
            .iter()
            .enumerate()
            .map(|(i, s)| (s.shoe_id, i as u32))
            .collect();
        let action_weights = read_action_weights(client);
        // TF-IDF needs only the catalogue, so it runs on another core while this thread reads the
        // log from Postgres, and the matrix is built there while this thread reads the users
        // (pure Rust on owned data; the scope joins them even if a read fails).
        let (user_ids, matrix, interaction_rows, reference_epoch, segment_of_user, content) =
            std::thread::scope(|scope| {
                let content = scope.spawn(|| {
                    let t_tfidf = Instant::now();
                    let texts: Vec<_> = catalog.iter().map(shoe_text).collect();
                    let fitted = tfidf::fit_transform(&texts);
                    (fitted, t_tfidf.elapsed().as_secs_f64())
                });
                let (user_ids, triplets, interaction_rows, reference_epoch) =
                    timed_step("reading interactions", || {
                        read_interactions(
                            client,
                            &shoe_pos,
                            &action_weights,
                            half_life_days,
                            &sizes,
                        )
                    });
                if interaction_rows == 0 {
                    errors::no_data(
                        "reco.refresh(): reco.interactions is empty, there is nothing to learn from",
                        Some("Record some views, wishlist adds or purchases first; the previous model, if any, stays active."),
                    );
                }
                let (m, n) = (user_ids.len(), catalog.len());
                let matrix = scope.spawn(move || {
                    let tt = Instant::now();
                    let a = csr_from_triplets(m, n, triplets);
                    let popularity = column_sums(&a);
                    (a, popularity, tt.elapsed().as_secs_f64())
                });
                let segment_of_user = timed_step("reading users", || read_user_segments(&user_ids));
                let content = content.join().expect("TF-IDF does not panic");
                let matrix = matrix.join().expect("building the matrix does not panic");
                (
                    user_ids,
                    matrix,
                    interaction_rows,
                    reference_epoch,
                    segment_of_user,
                    content,
                )
            });
        let ((vocab, tfidf_matrix), tfidf_seconds) = content;
        let (a, popularity, csr_seconds) = matrix;
        pgrx::debug1!(
            "reco.refresh(): building the matrix: {csr_seconds:.3} s (beside reading the users)"
        );
        let read_seconds = t_read.elapsed().as_secs_f64();
        check_for_interrupts!();

        // ---- CF: truncated SVD ----
        let t_svd = Instant::now();
        let (m, n) = (user_ids.len(), catalog.len());
        let (segment_names, group_of_row, segment_users) = segment_of_user;
        let segment_sums = grouped_column_sums(&a, &group_of_row, segment_names.len());
        check_for_interrupts!();
        let svd = randomized_svd(&a, &params, &mut || {
            check_for_interrupts!();
        });
        drop(a);
        let svd_seconds = t_svd.elapsed().as_secs_f64();
        check_for_interrupts!();

        // ---- write ----
        let t_write = Instant::now();
        let factors = svd.singular_values.len();
        let parameters = serde_json::json!({
            "factors_requested": params.k,
            "oversampling": params.oversample,
            "power_iterations": params.power_iters,
            "seed": params.seed,
            "half_life_days": half_life_days,
            "reference_epoch": reference_epoch,
            "action_weights": action_weights
                .iter()
                .map(|(action, weight)| (action.clone(), serde_json::Value::from(*weight)))
                .collect::<serde_json::Map<_, _>>(),
        });
        client
            .update(
                "UPDATE reco.models SET status = 'retired' WHERE status = 'active'",
                None,
                &[],
            )
            .unwrap_or_else(|e| errors::spi("retiring the active model", e));
        let model_id: i64 = client
            .update(
                "INSERT INTO reco.models (status, parameters, users, shoes, interactions, factors, energy, singular_values, seconds) \
                 VALUES ('active', $1::jsonb, $2, $3, $4, $5, $6, $7, '{}') RETURNING model_id",
                None,
                &[
                    parameters.to_string().into(),
                    (m as i32).into(),
                    (n as i32).into(),
                    interaction_rows.into(),
                    (factors as i32).into(),
                    svd.energy.into(),
                    svd.singular_values.clone().into(),
                ],
            )
            .and_then(|t| t.first().get_one::<i64>())
            .unwrap_or_else(|e| errors::spi("inserting the model row", e))
            .expect("INSERT ... RETURNING gives a row");

        // The version's own tables, filled below and attached as partitions at the end.
        timed_step("creating the tables", || {
            client
                .update(
                    "SELECT reco.create_model_partitions($1)",
                    None,
                    &[model_id.into()],
                )
                .unwrap_or_else(|e| errors::spi("creating the model version's tables", e))
        });
        timed_step("writing shoes", || {
            write_shoes(
                client,
                model_id,
                &catalog,
                &svd.shoe_factors,
                factors,
                &popularity,
                &tfidf_matrix,
            )
        });
        timed_step("writing users", || {
            write_users(client, model_id, &user_ids, &svd.user_factors, factors)
        });
        timed_step("writing the vocabulary", || {
            write_vocabulary(client, model_id, &vocab)
        });
        timed_step("writing segments", || {
            write_segments(
                client,
                model_id,
                &catalog,
                &segment_names,
                &segment_users,
                &segment_sums,
            )
        });
        timed_step("building keys and attaching", || {
            client
                .update(
                    "SELECT reco.attach_model_partitions($1)",
                    None,
                    &[model_id.into()],
                )
                .unwrap_or_else(|e| errors::spi("attaching the model version's tables", e))
        });
        timed_step("pruning", || prune_old_versions(client));
        let write_seconds = t_write.elapsed().as_secs_f64();
        let seconds = serde_json::json!({
            "read": read_seconds, "svd": svd_seconds, "tfidf": tfidf_seconds, "write": write_seconds,
        });
        client
            .update(
                "UPDATE reco.models SET seconds = $2::jsonb WHERE model_id = $1",
                None,
                &[model_id.into(), seconds.to_string().into()],
            )
            .unwrap_or_else(|e| errors::spi("recording timings", e));

        (
            model_id,
            m as i32,
            n as i32,
            interaction_rows,
            factors as i32,
            svd.energy,
            read_seconds,
            svd_seconds,
            tfidf_seconds,
            write_seconds,
        )
    });
    TableIterator::once(row)
}

/// Refuse before allocating when the estimated peak is above reco.refresh_memory_limit: a
/// backend killed by the OOM killer takes the whole cluster through crash recovery.
/// Runs a step of refresh() and reports its seconds at DEBUG1 (SET client_min_messages = debug1
/// to see them).
fn timed_step<T>(step: &str, run: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = run();
    pgrx::debug1!(
        "reco.refresh(): {step}: {:.3} s",
        started.elapsed().as_secs_f64()
    );
    result
}

/// Row counts of the input tables, as estimated by the planner (or counted, if never analysed).
struct TableSizes {
    interactions: f64,
    users: f64,
}

fn check_memory(client: &SpiClient, params: &SvdParams) -> TableSizes {
    // The planner's row estimates are enough and cost nothing; a table never vacuumed or
    // analyzed (reltuples < 0) is counted instead.
    let estimate = |table: &str, count_sql: &str| -> f64 {
        let reltuples = client
            .select(
                "SELECT reltuples::float8 FROM pg_catalog.pg_class WHERE oid = $1::regclass",
                None,
                &[table.into()],
            )
            .and_then(|t| t.first().get_one::<f64>())
            .unwrap_or_else(|e| errors::spi("estimating table sizes", e))
            .unwrap_or(-1.0);
        if reltuples >= 0.0 {
            return reltuples;
        }
        client
            .select(count_sql, None, &[])
            .and_then(|t| t.first().get_one::<i64>())
            .unwrap_or_else(|e| errors::spi("counting rows", e))
            .unwrap_or(0) as f64
    };
    let nnz = estimate(
        "reco.interactions",
        "SELECT count(*) FROM reco.interactions",
    );
    let users = estimate("reco.users", "SELECT count(*) FROM reco.users");
    let shoes = estimate("reco.shoes", "SELECT count(*) FROM reco.shoes");
    let bytes = estimate_refresh_bytes(nnz, users, shoes, params.k + params.oversample);
    let limit = guc::REFRESH_MEMORY_LIMIT_MB.get() as f64 * 1024.0 * 1024.0;
    if bytes > limit {
        raise(
            PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY,
            format!(
                "reco.refresh() would need about {:.0} MB ({:.0} interactions, {:.0} users, {:.0} shoes, {} factors), above reco.refresh_memory_limit = {:.0} MB",
                bytes / 1048576.0, nnz, users, shoes, params.k, limit / 1048576.0
            ),
            Some("Raise the limit if the machine has the memory (SET reco.refresh_memory_limit = '8GB'), or lower reco.factors."),
        );
    }
    TableSizes {
        interactions: nnz,
        users,
    }
}

/// Peak bytes of a refresh: triplets and the CSR matrix (plus its transpose inside the SVD), the
/// tall dense matrices of the SVD (a few m x l and n x l blocks of f32), id maps and catalogue text.
pub fn estimate_refresh_bytes(nnz: f64, users: f64, shoes: f64, l: usize) -> f64 {
    let l = l as f64;
    nnz * (12.0 + 8.0 + 24.0)
        + users * (4.0 * l * 4.0 + 48.0)
        + shoes * (4.0 * l * 4.0 + 1024.0)
        + 64.0 * 1048576.0
}

/// Read the log into triplets. Returns the user ids in row order, the triplets, the number of
/// interaction rows and the reference time of the decay (epoch seconds; 0 without decay).
fn read_interactions(
    client: &SpiClient,
    shoe_pos: &IdIndex,
    action_weights: &[(String, f64)],
    half_life_days: f64,
    sizes: &TableSizes,
) -> (Vec<i64>, Triplets, i64, f64) {
    let decay = half_life_days > 0.0;
    let reference_epoch = if decay {
        client
            .select(
                "SELECT extract(epoch FROM max(occurred_at))::float8 FROM reco.interactions",
                None,
                &[],
            )
            .and_then(|t| t.first().get_one::<f64>())
            .unwrap_or_else(|e| errors::spi("reading the newest interaction time", e))
            .unwrap_or(0.0)
    } else {
        0.0
    };
    let half_life_seconds = half_life_days * 86_400.0;

    // The user ids' range comes from the (user_id, occurred_at) index: two index probes.
    let (min_user, max_user) = client
        .select(
            "SELECT min(user_id), max(user_id) FROM reco.interactions",
            None,
            &[],
        )
        .and_then(|t| {
            let row = t.first();
            Ok((row.get::<i64>(1)?, row.get::<i64>(2)?))
        })
        .unwrap_or_else(|e| errors::spi("reading the range of user ids", e));
    let mut user_pos = IdIndex::for_range(
        min_user.unwrap_or(0),
        max_user.unwrap_or(-1),
        sizes.users as usize,
    );
    let mut user_ids: Vec<i64> = Vec::with_capacity(sizes.users as usize);
    // Sized from the planner's estimate: growing three 2M-entry vectors by doubling costs
    // copies and page faults.
    let mut triplets = Triplets::with_capacity((sizes.interactions * 1.05) as usize);
    let mut rows: i64 = 0;
    // Every column is NOT NULL; user_id, shoe_id and occurred_at are int8/timestamptz
    // (pass-by-value on 64-bit builds), action is text. This runs once per interaction (20M on
    // tier L), so it reads the executor's values in place (bulk::for_each_row) and makes no call
    // into Postgres.
    let mut on_row = |values: &[pg_sys::Datum], _nulls: &[bool]| {
        let user_id = values[1].value() as i64;
        let shoe_id = values[2].value() as i64;
        // SAFETY: column 4 of READ_INTERACTIONS is the NOT NULL text column action.
        let action = unsafe { text_bytes(values[3]) };
        // The log references reco.action_weights, so every action is found; a linear search of a
        // handful of names beats hashing the text.
        let Some(&(_, mut weight)) = action_weights
            .iter()
            .find(|(name, _)| name.as_bytes() == action)
        else {
            return;
        };
        if decay {
            // timestamptz: microseconds since 2000-01-01 UTC.
            let at = values[4].value() as i64 as f64 / 1e6 + POSTGRES_EPOCH_UNIX_SECONDS;
            weight *= 0.5f64.powf((reference_epoch - at).max(0.0) / half_life_seconds);
        }
        let Some(col) = shoe_pos.get(shoe_id) else {
            return;
        };
        let row = user_pos.get_or_insert_with(user_id, || {
            user_ids.push(user_id);
            (user_ids.len() - 1) as u32
        });
        triplets.push(row, col, weight as f32);
        rows += 1;
    };
    for_each_row("reading interactions", READ_INTERACTIONS, &mut on_row);
    (user_ids, triplets, rows, reference_epoch)
}

/// Segment names, the segment (group) of each matrix row, and users per segment.
type Segments = (Vec<String>, Vec<Option<usize>>, Vec<i32>);

/// Read the demographics of the users that have interactions and assign them to cold-start
/// segments. A user belongs to each of their keys; we keep one group index per (row, key) by
/// giving every key its own pass below.
fn read_user_segments(user_ids: &[i64]) -> Segments {
    let row_of: IdIndex = user_ids
        .iter()
        .enumerate()
        .map(|(i, &u)| (u, i as u32))
        .collect();
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // Most specific key per row; the broader usage key is derived when writing.
    let mut group_of_row: Vec<Option<usize>> = vec![None; user_ids.len()];
    let mut on_row = |values: &[pg_sys::Datum], nulls: &[bool]| {
        let user_id = values[0].value() as i64;
        let Some(row) = row_of.get(user_id) else {
            return;
        };
        let row = row as usize;
        let age = (!nulls[1]).then(|| values[1].value() as i32);
        // SAFETY: columns 3 and 4 are text, read only when not NULL.
        let text = |i: usize| {
            (!nulls[i]).then(|| String::from_utf8_lossy(unsafe { text_bytes(values[i]) }))
        };
        let (gender, usage) = (text(2), text(3));
        if let Some(key) = segment_keys(age, gender.as_deref(), usage.as_deref())
            .into_iter()
            .next()
        {
            let next = names.len();
            let g = *index.entry(key.clone()).or_insert_with(|| {
                names.push(key);
                next
            });
            group_of_row[row] = Some(g);
        }
    };
    for_each_row(
        "reading users",
        "SELECT user_id, age, gender, primary_usage FROM reco.users WHERE primary_usage IS NOT NULL",
        &mut on_row,
    );
    // Users per segment.
    let mut users = vec![0i32; names.len()];
    for g in group_of_row.iter().flatten() {
        users[*g] += 1;
    }
    (names, group_of_row, users)
}

/// The action weights the model is built with (and records in its parameters).
fn read_action_weights(client: &SpiClient) -> Vec<(String, f64)> {
    let mut weights = Vec::new();
    let table = client
        .select(
            "SELECT action, weight::float8 FROM reco.action_weights ORDER BY action",
            None,
            &[],
        )
        .unwrap_or_else(|e| errors::spi("reading action weights", e));
    for row in table {
        let action: String = row.get(1).ok().flatten().unwrap_or_default();
        let weight: f64 = row.get(2).ok().flatten().unwrap_or_default();
        weights.push((action, weight));
    }
    weights
}

/// The table of one model version of `table` (created by reco.create_model_partitions()).
fn partition(table: &str, model_id: i64) -> String {
    format!(
        "reco.{}",
        pgrx::spi::quote_identifier(format!("{table}_{model_id}"))
    )
}

/// Delete the versions beyond reco.keep_models; a trigger on reco.models drops their tables.
/// Dropping a partition takes an ACCESS EXCLUSIVE lock on its parent table. Waiting for it behind
/// a long query on the model tables would queue every backend that then loads a model behind
/// this refresh, so the locks are only tried: if one is taken, the old versions stay until a
/// later refresh (a NOTICE says so).
fn prune_old_versions(client: &mut SpiClient) {
    let doomed: Vec<i64> = client
        .select(
            "SELECT model_id FROM reco.models ORDER BY model_id DESC OFFSET $1",
            None,
            &[(guc::KEEP_MODELS.get() as i64).into()],
        )
        .unwrap_or_else(|e| errors::spi("finding old models", e))
        .filter_map(|row| row.get::<i64>(1).ok().flatten())
        .collect();
    if doomed.is_empty() {
        return;
    }
    let parents: Vec<pg_sys::Oid> = client
        .select(
            "SELECT ('reco.' || quote_ident(name))::regclass::oid FROM reco.model_tables()",
            None,
            &[],
        )
        .unwrap_or_else(|e| errors::spi("finding the model tables", e))
        .filter_map(|row| row.get::<pg_sys::Oid>(1).ok().flatten())
        .collect();
    for oid in parents {
        // SAFETY: a plain lock-manager call on an existing relation; held until commit.
        let locked = unsafe {
            pg_sys::ConditionalLockRelationOid(oid, pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE)
        };
        if !locked {
            pgrx::notice!(
                "reco.refresh(): kept {} old model version(s) beyond reco.keep_models: a query is reading the model tables; a later refresh removes them",
                doomed.len()
            );
            return;
        }
    }
    client
        .update(
            "DELETE FROM reco.models WHERE model_id = ANY($1)",
            None,
            &[doomed.into()],
        )
        .unwrap_or_else(|e| errors::spi("pruning old models", e));
}

/// The oid of a model version's table (see partition()).
fn partition_oid(client: &SpiClient, table: &str, model_id: i64) -> pg_sys::Oid {
    client
        .select(
            "SELECT $1::regclass::oid",
            None,
            &[partition(table, model_id).into()],
        )
        .and_then(|t| t.first().get_one::<pg_sys::Oid>())
        .unwrap_or_else(|e| errors::spi("finding the model version's tables", e))
        .expect("the table was created by this refresh")
}

fn write_shoes(
    client: &SpiClient,
    model_id: i64,
    catalog: &[crate::cache::ShoeRow],
    shoe_factors: &ndarray::Array2<f32>,
    k: usize,
    popularity: &[f32],
    tfidf_matrix: &sprs::CsMat<f32>,
) {
    let mut writer = TableWriter::open(
        partition_oid(client, "model_shoes", model_id),
        &[
            "model_id",
            "shoe_id",
            "factors",
            "popularity",
            "tfidf_terms",
            "tfidf_weights",
        ],
    );
    let mut terms: Vec<i32> = Vec::new();
    let mut weights: Vec<f32> = Vec::new();
    for (i, shoe) in catalog.iter().enumerate() {
        let factors = shoe_factors.row(i);
        let factors = &factors.as_slice().expect("row-major factors")[..k];
        terms.clear();
        weights.clear();
        if let Some(row) = tfidf_matrix.outer_view(i) {
            for (t, &w) in row.iter() {
                terms.push(t as i32);
                weights.push(w);
            }
        }
        writer.write_row(&[
            Value::Int8(model_id),
            Value::Int8(shoe.shoe_id),
            Value::Float4Array(factors),
            Value::Float4(popularity[i]),
            Value::Int4Array(&terms),
            Value::Float4Array(&weights),
        ]);
    }
    writer.finish();
}

fn write_users(
    client: &SpiClient,
    model_id: i64,
    user_ids: &[i64],
    user_factors: &ndarray::Array2<f32>,
    k: usize,
) {
    let mut writer = TableWriter::open(
        partition_oid(client, "model_users", model_id),
        &["model_id", "user_id", "factors"],
    );
    // Rows go in by user_id (matrix rows are in order of first appearance in the log), so the
    // primary key that ATTACH builds afterwards sorts input that is already in key order.
    let mut order: Vec<usize> = (0..user_ids.len()).collect();
    order.sort_unstable_by_key(|&i| user_ids[i]);
    for i in order {
        let factors = user_factors.row(i);
        writer.write_row(&[
            Value::Int8(model_id),
            Value::Int8(user_ids[i]),
            Value::Float4Array(&factors.as_slice().expect("row-major factors")[..k]),
        ]);
    }
    writer.finish();
}

fn write_vocabulary(client: &mut SpiClient, model_id: i64, vocab: &tfidf::TfidfModel) {
    let ids: Vec<i32> = (0..vocab.vocabulary.len() as i32).collect();
    client
        .update(
            &format!(
                "INSERT INTO {} (model_id, term_id, term, idf) \
                 SELECT $1, t.term_id, t.term, t.idf \
                 FROM unnest($2::int[], $3::text[], $4::float8[]) AS t(term_id, term, idf)",
                partition("model_vocabulary", model_id)
            ),
            None,
            &[
                model_id.into(),
                ids.into(),
                vocab.vocabulary.clone().into(),
                vocab.idf.clone().into(),
            ],
        )
        .unwrap_or_else(|e| errors::spi("writing the vocabulary", e));
}

/// Top shoes per segment: the specific segments as read, plus one broader "usage=..." segment
/// per usage, summed from its specific ones.
fn write_segments(
    client: &mut SpiClient,
    model_id: i64,
    catalog: &[crate::cache::ShoeRow],
    names: &[String],
    users: &[i32],
    sums: &[Vec<f32>],
) {
    let mut all: Vec<(String, i32, Vec<f32>)> = Vec::new();
    let mut broad: HashMap<String, (i32, Vec<f32>)> = HashMap::new();
    for ((name, &u), s) in names.iter().zip(users).zip(sums) {
        let usage_key = name.split('/').next().unwrap_or(name).to_string();
        let entry = broad
            .entry(usage_key)
            .or_insert_with(|| (0, vec![0.0; s.len()]));
        entry.0 += u;
        for (acc, v) in entry.1.iter_mut().zip(s) {
            *acc += v;
        }
        if name.contains('/') {
            all.push((name.clone(), u, s.clone()));
        }
    }
    all.extend(broad.into_iter().map(|(k, (u, s))| (k, u, s)));
    let sql = format!(
        "INSERT INTO {} (model_id, segment, users, shoe_ids, scores) VALUES ($1, $2, $3, $4, $5)",
        partition("model_segments", model_id)
    );
    for (segment, u, scores) in all {
        let top = reco_core::topk::top_k(&scores, SEGMENT_TOP, |i| scores[i] <= 0.0);
        let ids: Vec<i64> = top.iter().map(|&(i, _)| catalog[i].shoe_id).collect();
        let vals: Vec<f32> = top.iter().map(|&(_, s)| s).collect();
        client
            .update(
                &sql,
                None,
                &[
                    model_id.into(),
                    segment.into(),
                    u.into(),
                    ids.into(),
                    vals.into(),
                ],
            )
            .unwrap_or_else(|e| errors::spi("writing segments", e));
    }
}
