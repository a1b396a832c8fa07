//! reco.refresh(): read the log and catalogue, build a new model version, make it active.

use std::collections::HashMap;
use std::time::Instant;

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::PgSqlErrorCode;
use reco_core::catalog::Shoe;
use reco_core::itemknn::KnnParams;
use reco_core::matrix::{IdIndex, Triplets};
use reco_core::model::{self, BuildParams, Model, ModelInputs, SegmentAssignment};
use reco_core::scoring::decayed;
use reco_core::scoring::{KNN_EXPONENT, KNN_WEIGHTING};
use reco_core::segments::segment_keys;
use reco_core::svd::SvdParams;
use reco_core::tfidf;

use crate::bulk::{for_each_row, table_columns, text_bytes, Column, Kind, TableWriter, Value};
use crate::cache::read_catalog;
use crate::errors::{self, column, raise};
use crate::guc;

const INTERACTIONS: &str = "reco.interactions";
// Every column, in table order: the scan then hands its tuples over as they are, with no
// projection step per row (0.1 s of 2M rows on tier M). The action's weight is looked up in Rust,
// not joined in SQL: the hash join on text cost more than the scan itself (0.45 s against 0.30 s
// for 2M rows on tier M).
const READ_INTERACTIONS: &str =
    "SELECT interaction_id, user_id, shoe_id, action, occurred_at FROM reco.interactions";
const INTERACTION_COLUMNS: [Column; 5] = [
    Column::new(INTERACTIONS, "interaction_id", Kind::Int8),
    Column::new(INTERACTIONS, "user_id", Kind::Int8),
    Column::new(INTERACTIONS, "shoe_id", Kind::Int8),
    Column::new(INTERACTIONS, "action", Kind::Text),
    Column::new(INTERACTIONS, "occurred_at", Kind::TimestampTz),
];
const USERS: &str = "reco.users";
const USER_COLUMNS: [Column; 4] = [
    Column::new(USERS, "user_id", Kind::Int8),
    Column::new(USERS, "age", Kind::Int4),
    Column::new(USERS, "gender", Kind::Text),
    Column::new(USERS, "primary_usage", Kind::Text),
];
/// Seconds from the Unix epoch to the Postgres epoch (2000-01-01), for timestamptz values.
const POSTGRES_EPOCH_UNIX_SECONDS: f64 = 946_684_800.0;

/// The settings a refresh is built with, read once at its start.
struct RefreshSettings {
    build: BuildParams,
    half_life_days: f64,
    keep_models: i64,
    memory_limit_bytes: f64,
}

impl RefreshSettings {
    fn current() -> RefreshSettings {
        RefreshSettings {
            build: build_params(),
            half_life_days: guc::half_life_days(),
            keep_models: guc::keep_models(),
            memory_limit_bytes: guc::refresh_memory_limit_bytes(),
        }
    }
}

/// The model build's settings (reco.factors, ..., reco.knn_neighbours, reco.knn_shrinkage), for
/// refresh() and evaluate() alike.
pub fn build_params() -> BuildParams {
    BuildParams {
        svd: SvdParams {
            k: guc::factors(),
            oversample: guc::svd_oversampling(),
            power_iters: guc::svd_power_iterations(),
            seed: guc::seed(),
        },
        knn: KnnParams {
            neighbours: guc::knn_neighbours(),
            shrinkage: guc::knn_shrinkage() as f32,
            exponent: KNN_EXPONENT,
            max_user_items: guc::knn_max_user_items(),
            weighting: KNN_WEIGHTING,
        },
    }
}

/// Stage 1's result: the model's inputs and what the version records about them.
struct RefreshInputs {
    model: ModelInputs,
    action_weights: Vec<(String, f64)>,
    interaction_rows: i64,
    /// Reference time of the decay (epoch seconds; 0 without decay).
    reference_epoch: f64,
}

/// Wall-clock seconds of the stages.
struct StageSeconds {
    read: f64,
    svd: f64,
    tfidf: f64,
    write: f64,
}

/// Build a new model version from reco.interactions and reco.shoes and make it the active one
/// when the calling transaction commits. Three stages: read the inputs (SPI, this thread), build
/// the model (reco_core::model, pure), write it (this thread).
// pgrx reads the SQL result columns from the return type itself (name!), so it cannot be a
// type alias.
#[allow(clippy::type_complexity)]
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
    let settings = RefreshSettings::current();
    let row = Spi::connect_mut(|client| {
        // One refresh at a time; readers (ACCESS SHARE) are not blocked.
        client
            .update(
                "LOCK TABLE reco.models IN SHARE ROW EXCLUSIVE MODE",
                None,
                &[],
            )
            .unwrap_or_else(|e| errors::spi("locking reco.models", e));
        let sizes = check_memory(client, &settings);

        // ---- stage 1: read (and the content part of stage 2, which needs only the catalogue)
        let t_read = Instant::now();
        let catalog = timed_step("reading the catalogue", read_catalog);
        if catalog.is_empty() {
            errors::no_data(
                "reco.refresh(): reco.shoes is empty, there is nothing to recommend",
                Some("Load the catalogue first (reco.load_csv or INSERT INTO reco.shoes); the previous model, if any, stays active."),
            );
        }
        // TF-IDF runs on another core while this thread reads the log from Postgres (pure Rust
        // on owned data; the scope joins it even if a read fails).
        let (read, (content, tfidf_seconds)) = std::thread::scope(|scope| {
            let content = scope.spawn(|| {
                let started = Instant::now();
                let content = model::build_content(&catalog);
                (content, started.elapsed().as_secs_f64())
            });
            let read = read_inputs(client, &catalog, &settings, &sizes);
            (read, content.join().expect("TF-IDF does not panic"))
        });
        let read_seconds = t_read.elapsed().as_secs_f64();
        check_for_interrupts!();

        // ---- stage 2: build
        let t_svd = Instant::now();
        let RefreshInputs {
            model: mut inputs,
            action_weights,
            interaction_rows,
            reference_epoch,
        } = read;
        inputs.catalog = catalog;
        let built = model::build(inputs, content, &settings.build, &mut || {
            check_for_interrupts!();
        });
        let svd_seconds = t_svd.elapsed().as_secs_f64();
        check_for_interrupts!();

        // ---- stage 3: write
        let parameters = serde_json::json!({
            "factors_requested": settings.build.svd.k,
            "oversampling": settings.build.svd.oversample,
            "power_iterations": settings.build.svd.power_iters,
            "seed": settings.build.svd.seed,
            "knn_neighbours": settings.build.knn.neighbours,
            "knn_shrinkage": settings.build.knn.shrinkage,
            "half_life_days": settings.half_life_days,
            "reference_epoch": reference_epoch,
            "action_weights": action_weights
                .iter()
                .map(|(action, weight)| (action.clone(), serde_json::Value::from(*weight)))
                .collect::<serde_json::Map<_, _>>(),
        });
        let t_write = Instant::now();
        let model_id = write_model(client, &built, &parameters, interaction_rows, &settings);
        let seconds = StageSeconds {
            read: read_seconds,
            svd: svd_seconds,
            tfidf: tfidf_seconds,
            write: t_write.elapsed().as_secs_f64(),
        };
        record_seconds(client, model_id, &seconds);
        (
            model_id,
            built.user_ids.len() as i32,
            built.catalog.len() as i32,
            interaction_rows,
            built.factors() as i32,
            built.svd.energy,
            seconds.read,
            seconds.svd,
            seconds.tfidf,
            seconds.write,
        )
    });
    TableIterator::once(row)
}

/// Stage 1 after the catalogue: action weights, the log, the users' segments.
fn read_inputs(
    client: &SpiClient,
    catalog: &[Shoe],
    settings: &RefreshSettings,
    sizes: &TableSizes,
) -> RefreshInputs {
    let shoe_pos: IdIndex = catalog
        .iter()
        .enumerate()
        .map(|(i, s)| (s.shoe_id, i as u32))
        .collect();
    let action_weights = read_action_weights(client);
    let (user_ids, triplets, interaction_rows, reference_epoch) =
        timed_step("reading interactions", || {
            read_interactions(
                client,
                &shoe_pos,
                &action_weights,
                settings.half_life_days,
                sizes,
            )
        });
    if interaction_rows == 0 {
        errors::no_data(
            "reco.refresh(): reco.interactions is empty, there is nothing to learn from",
            Some("Record some views, wishlist adds or purchases first; the previous model, if any, stays active."),
        );
    }
    let segments = timed_step("reading users", || read_user_segments(&user_ids));
    RefreshInputs {
        model: ModelInputs {
            catalog: Vec::new(),
            user_ids,
            triplets,
            segments,
        },
        action_weights,
        interaction_rows,
        reference_epoch,
    }
}

/// Stage 3: the version's row in reco.models (active when this transaction commits), its own
/// tables, filled and attached as partitions, then pruning. Returns the new model id.
fn write_model(
    client: &mut SpiClient,
    built: &Model,
    parameters: &serde_json::Value,
    interaction_rows: i64,
    settings: &RefreshSettings,
) -> i64 {
    let factors = built.factors();
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
                (built.user_ids.len() as i32).into(),
                (built.catalog.len() as i32).into(),
                interaction_rows.into(),
                (factors as i32).into(),
                built.svd.energy.into(),
                built.svd.singular_values.clone().into(),
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
    timed_step("writing shoes", || write_shoes(client, model_id, built));
    timed_step("writing users", || write_users(client, model_id, built));
    timed_step("writing the vocabulary", || {
        write_vocabulary(client, model_id, &built.vocab)
    });
    timed_step("writing segments", || {
        write_segments(client, model_id, built)
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
    timed_step("pruning", || {
        prune_old_versions(client, settings.keep_models)
    });
    model_id
}

fn record_seconds(client: &mut SpiClient, model_id: i64, s: &StageSeconds) {
    let seconds = serde_json::json!({
        "read": s.read, "svd": s.svd, "tfidf": s.tfidf, "write": s.write,
    });
    client
        .update(
            "UPDATE reco.models SET seconds = $2::jsonb WHERE model_id = $1",
            None,
            &[model_id.into(), seconds.to_string().into()],
        )
        .unwrap_or_else(|e| errors::spi("recording timings", e));
}

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

/// Refuse before allocating when the estimated peak is above reco.refresh_memory_limit: a
/// backend killed by the OOM killer takes the whole cluster through crash recovery.
fn check_memory(client: &SpiClient, settings: &RefreshSettings) -> TableSizes {
    let params = &settings.build.svd;
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
    let bytes = model::estimate_peak_bytes(
        nnz,
        users,
        shoes,
        params.k + params.oversample,
        settings.build.knn.neighbours,
    );
    let limit = settings.memory_limit_bytes;
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

    // The user ids' range comes from the (user_id, occurred_at) index: two index probes.
    let (min_user, max_user) = client
        .select(
            "SELECT min(user_id), max(user_id) FROM reco.interactions",
            None,
            &[],
        )
        .map(|t| {
            let row = t.first();
            (
                column::<i64>(&row, 1, INTERACTIONS, "user_id"),
                column::<i64>(&row, 2, INTERACTIONS, "user_id"),
            )
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
    // (pass-by-value on 64-bit builds), action is text, all checked by for_each_row before the
    // first row (INTERACTION_COLUMNS). This runs once per interaction (20M on tier L), so it
    // reads the executor's values in place and makes no call into Postgres.
    let mut on_row = |values: &[pg_sys::Datum], _nulls: &[bool]| {
        let user_id = values[1].value() as i64;
        let shoe_id = values[2].value() as i64;
        // SAFETY: column 4 of READ_INTERACTIONS is the NOT NULL text column action (type
        // checked).
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
            weight = decayed(weight, at, reference_epoch, half_life_days);
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
    for_each_row(
        "reading interactions",
        READ_INTERACTIONS,
        &INTERACTION_COLUMNS,
        &mut on_row,
    );
    (user_ids, triplets, rows, reference_epoch)
}

/// Read the demographics of the users that have interactions and assign each matrix row to its
/// most specific cold-start segment (the broader usage segment is derived by the build).
fn read_user_segments(user_ids: &[i64]) -> SegmentAssignment {
    let row_of: IdIndex = user_ids
        .iter()
        .enumerate()
        .map(|(i, &u)| (u, i as u32))
        .collect();
    let mut segments = SegmentAssignment {
        names: Vec::new(),
        of_row: vec![None; user_ids.len()],
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut on_row = |values: &[pg_sys::Datum], nulls: &[bool]| {
        let user_id = values[0].value() as i64;
        let Some(row) = row_of.get(user_id) else {
            return;
        };
        // Column types checked by for_each_row (USER_COLUMNS): age int4, gender and
        // primary_usage text.
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
            segments.assign(&mut index, row as usize, key);
        }
    };
    for_each_row(
        "reading users",
        "SELECT user_id, age, gender, primary_usage FROM reco.users WHERE primary_usage IS NOT NULL",
        &USER_COLUMNS,
        &mut on_row,
    );
    segments
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
        let action: String = column(&row, 1, "reco.action_weights", "action").unwrap_or_default();
        let weight: f64 = column(&row, 2, "reco.action_weights", "weight").unwrap_or_default();
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
/// later refresh (a NOTICE says so). Serving does not get in the way: recommend(), similar() and
/// due_services() release their locks on the model tables once their backend's cache is loaded
/// (cache::without_lasting_locks), so only a cache load in progress or a query reading the model
/// tables itself (SQL analysis, the naive benchmark) keeps a version. On a hot standby the replay
/// of these drops waits for the same locks, and cancels their holders after
/// max_standby_streaming_delay.
fn prune_old_versions(client: &mut SpiClient, keep_models: i64) {
    let doomed: Vec<i64> = client
        .select(
            "SELECT model_id FROM reco.models ORDER BY model_id DESC OFFSET $1",
            None,
            &[keep_models.into()],
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

fn write_shoes(client: &SpiClient, model_id: i64, built: &Model) {
    const COLUMNS: [&str; 8] = [
        "model_id",
        "shoe_id",
        "factors",
        "popularity",
        "tfidf_terms",
        "tfidf_weights",
        "neighbour_ids",
        "neighbour_weights",
    ];
    let k = built.factors();
    let relid = partition_oid(client, "model_shoes", model_id);
    // Until ALTER EXTENSION reco UPDATE has run, the 0.1.0 table has no neighbour columns: the
    // version is then written without them (and served without the item-item part).
    let with_neighbours = table_columns(relid).len() == COLUMNS.len();
    let columns = if with_neighbours {
        &COLUMNS[..]
    } else {
        &COLUMNS[..6]
    };
    let mut writer = TableWriter::open(relid, columns);
    let mut terms: Vec<i32> = Vec::new();
    let mut weights: Vec<f32> = Vec::new();
    let mut neighbour_ids: Vec<i64> = Vec::new();
    for (i, shoe) in built.catalog.iter().enumerate() {
        let factors = built.svd.shoe_factors.row(i);
        let factors = &factors.as_slice().expect("row-major factors")[..k];
        terms.clear();
        weights.clear();
        if let Some(row) = built.content.outer_view(i) {
            for (t, &w) in row.iter() {
                terms.push(t as i32);
                weights.push(w);
            }
        }
        let (items, sims) = built.neighbours.row(i);
        neighbour_ids.clear();
        neighbour_ids.extend(items.iter().map(|&j| built.catalog[j as usize].shoe_id));
        let mut row = vec![
            Value::Int8(model_id),
            Value::Int8(shoe.shoe_id),
            Value::Float4Array(factors),
            Value::Float4(built.popularity[i]),
            Value::Int4Array(&terms),
            Value::Float4Array(&weights),
        ];
        if with_neighbours {
            row.push(Value::Int8Array(&neighbour_ids));
            row.push(Value::Float4Array(sims));
        }
        writer.write_row(&row);
    }
    writer.finish();
}

fn write_users(client: &SpiClient, model_id: i64, built: &Model) {
    let (k, user_ids) = (built.factors(), &built.user_ids);
    let mut writer = TableWriter::open(
        partition_oid(client, "model_users", model_id),
        &["model_id", "user_id", "factors"],
    );
    // Rows go in by user_id (matrix rows are in order of first appearance in the log), so the
    // primary key that ATTACH builds afterwards sorts input that is already in key order.
    let mut order: Vec<usize> = (0..user_ids.len()).collect();
    order.sort_unstable_by_key(|&i| user_ids[i]);
    for i in order {
        let factors = built.svd.user_factors.row(i);
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

/// The cold-start segments the build computed (reco_core::model::segment_tops).
fn write_segments(client: &mut SpiClient, model_id: i64, built: &Model) {
    let sql = format!(
        "INSERT INTO {} (model_id, segment, users, shoe_ids, scores) VALUES ($1, $2, $3, $4, $5)",
        partition("model_segments", model_id)
    );
    for top in &built.segments {
        let ids: Vec<i64> = top
            .shoes
            .iter()
            .map(|&(i, _)| built.catalog[i].shoe_id)
            .collect();
        let vals: Vec<f32> = top.shoes.iter().map(|&(_, s)| s).collect();
        client
            .update(
                &sql,
                None,
                &[
                    model_id.into(),
                    top.segment.clone().into(),
                    top.users.into(),
                    ids.into(),
                    vals.into(),
                ],
            )
            .unwrap_or_else(|e| errors::spi("writing segments", e));
    }
}
