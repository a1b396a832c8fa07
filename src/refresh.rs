//! reco.refresh(): read the log and catalogue, build a new model version, make it active.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::PgSqlErrorCode;
use reco_core::catalog::Shoe;
use reco_core::drift::{self, DriftMeasure};
use reco_core::itemknn::KnnParams;
use reco_core::lifecycle::{quality_guard, versions_to_prune};
use reco_core::matrix::{csr_from_triplets, IdIndex, Triplets};
use reco_core::metrics::{self, RankingMetrics};
use reco_core::model::{self, BuildParams, Model, ModelInputs, SegmentAssignment};
use reco_core::monitor::{quality_rate_ppm, quality_sampled, DriftWindows, Holdout};
use reco_core::offline;
use reco_core::scoring::{decayed, Blend};
use reco_core::scoring::{KNN_EXPONENT, KNN_WEIGHTING};
use reco_core::segments::segment_keys;
use reco_core::serving::ServingModel;
use reco_core::svd::SvdParams;
use reco_core::tfidf;

use crate::bulk::{for_each_row, table_columns, text_bytes, Column, Kind, TableWriter, Value};
use crate::cache::read_catalog;
use crate::errors::{self, column, raise};
use crate::guc;
use crate::shmem::RefreshProgress;

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
    quality_users: usize,
}

impl RefreshSettings {
    fn current() -> RefreshSettings {
        RefreshSettings {
            build: build_params(),
            half_life_days: guc::half_life_days(),
            keep_models: guc::keep_models(),
            memory_limit_bytes: guc::refresh_memory_limit_bytes(),
            quality_users: guc::quality_users(),
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
            next_weight: guc::knn_next_weight() as f32,
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
    observed: Observed,
}

/// Wall-clock seconds of the stages.
struct StageSeconds {
    read: f64,
    svd: f64,
    tfidf: f64,
    write: f64,
    quality: f64,
    drift: f64,
}

/// Build a new model version from reco.interactions and reco.shoes, measure it, and make it the
/// active one when the calling transaction commits (with `activate`, and if the quality guard
/// `max_quality_drop` lets it). Stages: read the inputs (SPI, this thread), build the model
/// (reco_core::model, pure), write it, measure its held-out quality and the drift since the
/// active version, then activate and prune.
// pgrx reads the SQL result columns from the return type itself (name!), so it cannot be a
// type alias.
#[allow(clippy::type_complexity)]
#[pg_extern(name = "refresh", volatile, parallel_unsafe)]
fn refresh_versioned(
    activate: default!(Option<bool>, true),
    max_quality_drop: default!(Option<f64>, "NULL"),
) -> TableIterator<
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
        name!(status, String),
        name!(ndcg_at_10, Option<f64>),
        name!(quality_seconds, f64),
        name!(drift_seconds, f64),
    ),
> {
    TableIterator::once(run_refresh(activate, max_quality_drop, Schema::Current))
}

/// The entry point of the SQL declaration of 0.1.0 to 0.3.0, `reco.refresh()` with ten result
/// columns, which calls this symbol until ALTER EXTENSION reco UPDATE replaces it: installing
/// the new library before the update (a nightly job in between) must not break the old one.
/// No SQL of its own (a new installation has only the function above).
#[allow(clippy::type_complexity)]
#[pg_extern(sql = false, volatile, parallel_unsafe)]
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
    let r = run_refresh(Some(true), None, Schema::Before040);
    TableIterator::once((r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9))
}

/// One row of refresh()'s result.
type RefreshRow = (
    i64,
    i32,
    i32,
    i64,
    i32,
    f64,
    f64,
    f64,
    f64,
    f64,
    String,
    Option<f64>,
    f64,
    f64,
);

/// The tables refresh() writes to: this release's, or those of 0.1.0-0.3.0 (before ALTER
/// EXTENSION reco UPDATE), which have no activation log, quality or drift tables, no candidate
/// status and no models.last_interaction_id: there it builds and activates as 0.3.0 did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Schema {
    Current,
    Before040,
}

fn run_refresh(
    activate: Option<bool>,
    max_quality_drop: Option<f64>,
    schema: Schema,
) -> RefreshRow {
    let current = schema == Schema::Current;
    let Some(activate) = activate else {
        errors::null_value("activate must not be NULL")
    };
    if let Some(d) = max_quality_drop {
        if !(0.0..=1.0).contains(&d) {
            errors::invalid_parameter(
                format!("max_quality_drop must be between 0 and 1, got {d}"),
                Some("It is the largest relative drop of nDCG@10 against the active version that still activates the new one: 0.05 allows 5 %."),
            );
        }
    }
    let settings = RefreshSettings::current();
    Spi::connect_mut(|client| {
        // One refresh at a time; readers (ACCESS SHARE) are not blocked.
        client
            .update(
                "LOCK TABLE reco.models IN SHARE ROW EXCLUSIVE MODE",
                None,
                &[],
            )
            .unwrap_or_else(|e| errors::spi("locking reco.models", e));
        let sizes = check_memory(client, &settings);
        let mut progress = RefreshProgress::start(sizes.interactions);

        // ---- stage 1: read (and the content part of stage 2, which needs only the catalogue)
        let t_read = Instant::now();
        let catalog = timed_step("reading the catalogue", read_catalog);
        if catalog.is_empty() {
            errors::no_data(
                "reco.refresh(): reco.shoes is empty, there is nothing to recommend",
                Some("Load the catalogue first (reco.load_csv or INSERT INTO reco.shoes); the previous model, if any, stays active."),
            );
        }
        let active = active_version(client, schema);
        let plan = if current {
            measurement_plan(client, &settings, &sizes, &active)
        } else {
            MeasurementPlan {
                holdout: None,
                drift: None,
                newest_interaction_id: None,
            }
        };
        // TF-IDF runs on another core while this thread reads the log from Postgres (pure Rust
        // on owned data; the scope joins it even if a read fails).
        let (read, (content, tfidf_seconds)) = std::thread::scope(|scope| {
            let content = scope.spawn(|| {
                let started = Instant::now();
                let content = on_one_core(|| model::build_content(&catalog));
                (content, started.elapsed().as_secs_f64())
            });
            let read = read_inputs(client, &catalog, &settings, &sizes, plan, &progress);
            (read, content.join().expect("TF-IDF does not panic"))
        });
        let read_seconds = t_read.elapsed().as_secs_f64();
        check_for_interrupts!();

        // ---- stage 2: build
        progress.phase(1);
        let t_svd = Instant::now();
        let RefreshInputs {
            model: mut inputs,
            action_weights,
            interaction_rows,
            reference_epoch,
            observed,
        } = read;
        inputs.catalog = catalog;
        let built = model::build(inputs, content, &settings.build, &mut || {
            check_for_interrupts!();
        });
        let svd_seconds = t_svd.elapsed().as_secs_f64();
        check_for_interrupts!();

        // ---- stage 3: write
        progress.phase(2);
        let parameters = serde_json::json!({
            "factors_requested": settings.build.svd.k,
            "oversampling": settings.build.svd.oversample,
            "power_iterations": settings.build.svd.power_iters,
            "seed": settings.build.svd.seed,
            "knn_neighbours": settings.build.knn.neighbours,
            "knn_shrinkage": settings.build.knn.shrinkage,
            "knn_next_weight": settings.build.knn.next_weight,
            "half_life_days": settings.half_life_days,
            "reference_epoch": reference_epoch,
            "quality_users": settings.quality_users,
            "action_weights": action_weights
                .iter()
                .map(|(action, weight)| (action.clone(), serde_json::Value::from(*weight)))
                .collect::<serde_json::Map<_, _>>(),
        });
        // ---- stage 4: held-out quality of the new version, on another thread while this one
        // writes (stage 3 is Postgres work on one core; the ranking is pure Rust on a copy of the
        // shoe side of the model, and the scope joins it even if a write fails).
        let t_write = Instant::now();
        let holdout = observed.holdout;
        let quality_users = settings.quality_users;
        // Read here: the settings are Postgres state, which the other thread must not touch.
        let blend = crate::recommend::blend();
        let (model_id, write_seconds, quality, quality_seconds) = std::thread::scope(|scope| {
            let quality = holdout.map(|(holdout, split_at)| {
                let built = &built;
                scope.spawn(move || {
                    let started = Instant::now();
                    let quality = on_one_core(|| {
                        let model = ServingModel::from_model_ref(built);
                        measure_quality(&model, holdout, quality_users, split_at, &blend)
                    });
                    (quality, started.elapsed().as_secs_f64())
                })
            });
            let model_id = write_model(
                client,
                &built,
                &parameters,
                interaction_rows,
                observed.newest_interaction_id,
                schema,
            );
            let write_seconds = t_write.elapsed().as_secs_f64();
            progress.phase(3);
            let (quality, quality_seconds) = match quality {
                Some(h) => {
                    let (q, seconds) = h.join().expect("measuring quality does not panic");
                    (Some(q), seconds)
                }
                None => (None, 0.0),
            };
            (model_id, write_seconds, quality, quality_seconds)
        });
        let summary = (
            built.user_ids.len() as i32,
            built.catalog.len() as i32,
            built.factors() as i32,
            built.svd.energy,
        );
        drop(built);
        if let (Some(q), true) = (&quality, current) {
            record_quality(client, model_id, q, quality_seconds);
        }
        check_for_interrupts!();

        // ---- stage 5: drift since the active version, data checks
        progress.phase(4);
        let t_drift = Instant::now();
        if let (Some(windows), Some(baseline)) = (&observed.drift, active.model_id) {
            record_drift(client, model_id, baseline, &windows.measures());
        }
        if current {
            record_data_checks(client, model_id, &observed.checks);
        }
        let drift_seconds = t_drift.elapsed().as_secs_f64();

        // ---- stage 6: activate (or keep as a candidate), prune
        progress.phase(5);
        // (Before 0.4.0 the version was inserted active.)
        let status = if current {
            decide_activation(
                client,
                model_id,
                &active,
                activate,
                max_quality_drop,
                quality.as_ref().and_then(|q| q.metrics.map(|m| m.ndcg)),
            )
        } else {
            "active".to_string()
        };
        timed_step("pruning", || {
            prune_old_versions(client, settings.keep_models, schema)
        });
        record_seconds(
            client,
            model_id,
            &StageSeconds {
                read: read_seconds,
                svd: svd_seconds,
                tfidf: tfidf_seconds,
                write: write_seconds,
                quality: quality_seconds,
                drift: drift_seconds,
            },
        );
        (
            model_id,
            summary.0,
            summary.1,
            interaction_rows,
            summary.2,
            summary.3,
            read_seconds,
            svd_seconds,
            tfidf_seconds,
            write_seconds,
            status,
            quality.and_then(|q| q.metrics.map(|m| m.ndcg)),
            quality_seconds,
            drift_seconds,
        )
    })
}

/// Runs `work` (which may use rayon) on a pool of one thread: for the work refresh() does beside
/// the main thread's reading and writing (TF-IDF, the held-out quality). On the shared pool it
/// would take both cores from the main thread, whose Postgres work is the longer path; on one
/// it still ends about first (tier M, run Z2: TF-IDF 0.22-0.31 s beside a 0.33-0.44 s read,
/// quality 0.32-0.40 s beside a 0.32-0.48 s write).
fn on_one_core<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(work),
        // No thread to be had: the shared pool does it.
        Err(_) => work(),
    }
}

/// The active version, if any, and the last interaction it was trained on.
struct ActiveVersion {
    model_id: Option<i64>,
    last_interaction_id: Option<i64>,
}

fn active_version(client: &SpiClient, schema: Schema) -> ActiveVersion {
    let query = match schema {
        Schema::Current => "SELECT model_id, last_interaction_id FROM reco.models WHERE status OPERATOR(pg_catalog.=) 'active'",
        Schema::Before040 => "SELECT model_id, NULL::int8 FROM reco.models WHERE status OPERATOR(pg_catalog.=) 'active'",
    };
    let (model_id, last_interaction_id) = client
        .select(query, None, &[])
        .map(|t| {
            if t.is_empty() {
                (None, None)
            } else {
                let row = t.first();
                (
                    column::<i64>(&row, 1, "reco.models", "model_id"),
                    column::<i64>(&row, 2, "reco.models", "last_interaction_id"),
                )
            }
        })
        .unwrap_or_else(|e| errors::spi("reading the active model", e));
    ActiveVersion {
        model_id,
        last_interaction_id,
    }
}

/// What the read measures besides the model's inputs: which users are held out from when
/// (quality), which ids make the drift windows.
struct MeasurementPlan {
    /// Sampling rate (parts per million), seed, and the split time in microseconds since
    /// 2000-01-01 (a timestamptz).
    holdout: Option<(u64, u64, i64)>,
    drift: Option<(i64, i64)>,
    newest_interaction_id: Option<i64>,
}

fn measurement_plan(
    client: &SpiClient,
    settings: &RefreshSettings,
    sizes: &TableSizes,
    active: &ActiveVersion,
) -> MeasurementPlan {
    let newest: Option<i64> = client
        .select(
            "SELECT max(interaction_id) FROM reco.interactions",
            None,
            &[],
        )
        .map(|t| column::<i64>(&t.first(), 1, INTERACTIONS, "interaction_id"))
        .unwrap_or_else(|e| errors::spi("reading the newest interaction id", e));
    let drift = match (active.last_interaction_id, newest) {
        (Some(last), Some(newest)) if newest > last => Some((last, newest)),
        _ => None,
    };
    let rate = quality_rate_ppm(settings.quality_users, sizes.users);
    let holdout = if rate == 0 {
        None
    } else {
        // The split time from a block sample of about 50k rows (all of a smaller log),
        // REPEATABLE so that the same data gives the same model. On tier M it lands 68 s from the
        // exact 90th percentile (a 200k-row sample: 207 s) in a fifth of the time (7 ms).
        let percent = (100.0 * 50_000.0 / sizes.interactions.max(1.0)).clamp(0.01, 100.0);
        let split: Option<i64> = client
            .select(
                "SELECT ((extract(epoch FROM percentile_disc(0.9) WITHIN GROUP (ORDER BY occurred_at)) \
                          OPERATOR(pg_catalog.-) 946684800) OPERATOR(pg_catalog.*) 1000000)::int8 \
                 FROM reco.interactions TABLESAMPLE SYSTEM ($1) REPEATABLE ($2)",
                None,
                &[(percent as f32).into(), (settings.build.svd.seed as f64).into()],
            )
            .map(|t| column::<i64>(&t.first(), 1, INTERACTIONS, "occurred_at"))
            .unwrap_or_else(|e| errors::spi("estimating the quality split time", e));
        split.map(|at| (rate, settings.build.svd.seed, at))
    };
    MeasurementPlan {
        holdout,
        drift,
        newest_interaction_id: newest,
    }
}

/// Counted while reading: the quality hold-out, the drift windows, the data checks.
struct Observed {
    /// The held-out users and the split time (microseconds since 2000-01-01).
    holdout: Option<(Holdout, i64)>,
    drift: Option<DriftWindows>,
    checks: DataChecks,
    newest_interaction_id: Option<i64>,
}

#[derive(Default)]
struct DataChecks {
    future_interactions: i64,
    interactions: i64,
    shoes_without_text: i64,
    shoes: i64,
    users_without_history: i64,
    users: i64,
}

/// Stage 1 after the catalogue: action weights, the log, the users' segments.
fn read_inputs(
    client: &SpiClient,
    catalog: &[Shoe],
    settings: &RefreshSettings,
    sizes: &TableSizes,
    plan: MeasurementPlan,
    progress: &RefreshProgress,
) -> RefreshInputs {
    let shoe_pos: IdIndex = catalog
        .iter()
        .enumerate()
        .map(|(i, s)| (s.shoe_id, i as u32))
        .collect();
    let action_weights = read_action_weights(client);
    let mut observed = Observed {
        holdout: plan.holdout.map(|(_, _, at)| (Holdout::default(), at)),
        drift: plan.drift.and_then(|(last, newest)| {
            DriftWindows::new(last, newest, catalog.len(), action_weights.len())
        }),
        checks: DataChecks::default(),
        newest_interaction_id: plan.newest_interaction_id,
    };
    let (user_ids, triplets, interaction_rows, reference_epoch) =
        timed_step("reading interactions", || {
            read_interactions(
                client,
                &shoe_pos,
                &action_weights,
                settings.half_life_days,
                sizes,
                settings.build.knn.next_weight > 0.0,
                ReadMeasures {
                    sample: plan.holdout.map(|(rate, seed, _)| (rate, seed)),
                    observed: &mut observed,
                    progress,
                },
            )
        });
    observed.checks.shoes = catalog.len() as i64;
    observed.checks.shoes_without_text = catalog
        .iter()
        .filter(|s| {
            s.description.trim().is_empty()
                && s.material.trim().is_empty()
                && s.color.trim().is_empty()
        })
        .count() as i64;
    if interaction_rows == 0 {
        errors::no_data(
            "reco.refresh(): reco.interactions is empty, there is nothing to learn from",
            Some("Record some views, wishlist adds or purchases first; the previous model, if any, stays active."),
        );
    }
    // The matrix is built on another core while this thread reads the users from Postgres
    // (pure Rust on owned data; the scope joins it even if the read fails).
    let (rows, shoes) = (user_ids.len(), catalog.len());
    let ((matrix, sequences), (segments, users_total)) = std::thread::scope(|scope| {
        let matrix = scope.spawn(move || {
            // Empty unless read with time keys (reco.knn_next_weight > 0).
            let sequences = triplets.sequences(rows, shoes);
            (csr_from_triplets(rows, shoes, triplets), sequences)
        });
        let users = timed_step("reading users", || read_user_segments(&user_ids));
        (
            matrix.join().expect("building the matrix does not panic"),
            users,
        )
    });
    observed.checks.users = users_total;
    observed.checks.users_without_history = (users_total - user_ids.len() as i64).max(0);
    RefreshInputs {
        model: ModelInputs {
            catalog: Vec::new(),
            user_ids,
            matrix,
            sequences,
            segments,
        },
        action_weights,
        interaction_rows,
        reference_epoch,
        observed,
    }
}

/// Stage 3: the version's row in reco.models (a candidate until stage 6 decides), its own
/// tables, filled and attached as partitions. Returns the new model id.
fn write_model(
    client: &mut SpiClient,
    built: &Model,
    parameters: &serde_json::Value,
    interaction_rows: i64,
    last_interaction_id: Option<i64>,
    schema: Schema,
) -> i64 {
    let factors = built.factors();
    let insert = match schema {
        Schema::Current => "INSERT INTO reco.models (status, parameters, users, shoes, interactions, factors, energy, singular_values, seconds, last_interaction_id) \
             VALUES ('candidate', $1::jsonb, $2, $3, $4, $5, $6, $7, '{}', $8) RETURNING model_id",
        Schema::Before040 => {
            client
                .update(
                    "UPDATE reco.models SET status = 'retired' WHERE status OPERATOR(pg_catalog.=) 'active'",
                    None,
                    &[],
                )
                .unwrap_or_else(|e| errors::spi("retiring the active model", e));
            "INSERT INTO reco.models (status, parameters, users, shoes, interactions, factors, energy, singular_values, seconds) \
             VALUES ('active', $1::jsonb, $2, $3, $4, $5, $6, $7, '{}') RETURNING model_id"
        }
    };
    let mut args: Vec<pgrx::datum::DatumWithOid> = vec![
        parameters.to_string().into(),
        (built.user_ids.len() as i32).into(),
        (built.catalog.len() as i32).into(),
        interaction_rows.into(),
        (factors as i32).into(),
        built.svd.energy.into(),
        built.svd.singular_values.clone().into(),
    ];
    if schema == Schema::Current {
        args.push(last_interaction_id.into());
    }
    let model_id: i64 = client
        .update(insert, None, &args)
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
        // PostgreSQL plans parallel workers for the primary keys of a version's users and shoes;
        // below a million users starting them costs more than they save (tier M, 100k users:
        // 0.053-0.072 s serial against 0.065-0.094 s, 2026-12-03), all the more as the quality
        // ranking has the other core by then. Transaction-local, and restored right after, so
        // the caller's own index builds keep their setting.
        let serial = built.user_ids.len() < PARALLEL_KEYS_MIN_USERS;
        let previous = serial.then(|| set_local(client, PARALLEL_MAINTENANCE_WORKERS, "0"));
        client
            .update(
                "SELECT reco.attach_model_partitions($1)",
                None,
                &[model_id.into()],
            )
            .unwrap_or_else(|e| errors::spi("attaching the model version's tables", e));
        if let Some(previous) = previous {
            set_local(client, PARALLEL_MAINTENANCE_WORKERS, &previous);
        }
    });
    model_id
}

/// Versions with fewer users than this build their primary keys without parallel workers.
const PARALLEL_KEYS_MIN_USERS: usize = 1_000_000;
const PARALLEL_MAINTENANCE_WORKERS: &str = "max_parallel_maintenance_workers";

/// Sets `setting` to `value` until the end of the transaction and returns its previous value.
fn set_local(client: &mut SpiClient, setting: &str, value: &str) -> String {
    client
        .update(
            "SELECT pg_catalog.current_setting($1), pg_catalog.set_config($1, $2, true)",
            None,
            &[setting.into(), value.into()],
        )
        .and_then(|t| t.first().get_one::<String>())
        .unwrap_or_else(|e| errors::spi("changing a setting for the key builds", e))
        .unwrap_or_default()
}

/// Held-out quality of a version (stage 4).
struct Quality {
    /// None when no sampled user had a held-out purchase or wishlist add.
    metrics: Option<RankingMetrics>,
    coverage: f64,
    users: usize,
    held_out: u64,
    /// The split time, microseconds since 2000-01-01.
    split_at: i64,
}

/// Ranks every shoe for the held-out users with the version just built, as recommend() would
/// from their history before the split (the same blend), and scores the top 10 against their
/// held-out purchases and wishlist adds.
fn measure_quality(
    model: &ServingModel,
    holdout: Holdout,
    max_users: usize,
    split_at: i64,
    blend: &Blend,
) -> Quality {
    const K: usize = 10;
    let held_out = holdout.held_out;
    let users = holdout.scored_users(max_users);
    if users.user_ids.is_empty() {
        return Quality {
            metrics: None,
            coverage: 0.0,
            users: 0,
            held_out,
            split_at,
        };
    }
    let rankings = offline::rank_hybrid(&model.view(), &users, K, blend);
    let per_user = users.relevant.iter().zip(&rankings).map(|(rel, ranks)| {
        let ranked: Vec<u64> = ranks.iter().map(|&p| p as u64).collect();
        let relevant: HashSet<u64> = rel.iter().map(|&p| p as u64).collect();
        (ranked, relevant)
    });
    let metrics = metrics::evaluate(per_user, K);
    let coverage = metrics::catalogue_coverage(
        rankings.iter().flat_map(|r| r.iter().map(|&p| p as u64)),
        model.shoes.len(),
    );
    Quality {
        metrics: Some(metrics),
        coverage,
        users: users.user_ids.len(),
        held_out,
        split_at,
    }
}

fn record_quality(client: &mut SpiClient, model_id: i64, q: &Quality, seconds: f64) {
    let m = q.metrics;
    client
        .update(
            "INSERT INTO reco.model_quality (model_id, ndcg_at_10, recall_at_10, hit_rate_at_10, coverage_at_10, \
                                            users, held_out_interactions, split_at, seconds) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, \
                     pg_catalog.to_timestamp(($8::float8 OPERATOR(pg_catalog./) 1000000) OPERATOR(pg_catalog.+) 946684800), $9)",
            None,
            &[
                model_id.into(),
                m.map(|m| m.ndcg).into(),
                m.map(|m| m.recall).into(),
                m.map(|m| m.hit_rate).into(),
                m.map(|_| q.coverage).into(),
                (q.users as i32).into(),
                (q.held_out as i64).into(),
                (q.split_at as f64).into(),
                seconds.into(),
            ],
        )
        .unwrap_or_else(|e| errors::spi("recording the model's quality", e));
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn record_drift(client: &mut SpiClient, model_id: i64, baseline: i64, measures: &[DriftMeasure]) {
    for d in measures {
        let band = finite(d.psi).and_then(drift::band).map(|b| b.as_str());
        client
            .update(
                "INSERT INTO reco.model_drift (model_id, baseline_model_id, feature, psi, js_divergence, band, baseline_total, current_total) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                None,
                &[
                    model_id.into(),
                    baseline.into(),
                    d.feature.clone().into(),
                    finite(d.psi).into(),
                    finite(d.js_divergence).into(),
                    band.into(),
                    d.baseline_total.into(),
                    // new_users/new_shoes: the share (NaN when the window has none).
                    (if d.current_total.is_finite() { d.current_total } else { 0.0 }).into(),
                ],
            )
            .unwrap_or_else(|e| errors::spi("recording drift", e));
    }
}

fn record_data_checks(client: &mut SpiClient, model_id: i64, c: &DataChecks) {
    for (name, failing, total) in [
        ("future_interactions", c.future_interactions, c.interactions),
        ("shoes_without_text", c.shoes_without_text, c.shoes),
        ("users_without_history", c.users_without_history, c.users),
    ] {
        client
            .update(
                "INSERT INTO reco.model_data_checks (model_id, check_name, failing, total) VALUES ($1, $2, $3, $4)",
                None,
                &[model_id.into(), name.into(), failing.into(), total.into()],
            )
            .unwrap_or_else(|e| errors::spi("recording data checks", e));
    }
}

/// Stage 6: activate the new version (logged), or keep it as a candidate: with `activate` false,
/// or when the quality guard finds it worse than the active one by more than `max_quality_drop`
/// (logged as kept_candidate). Returns the version's status.
fn decide_activation(
    client: &mut SpiClient,
    model_id: i64,
    active: &ActiveVersion,
    activate: bool,
    max_quality_drop: Option<f64>,
    ndcg: Option<f64>,
) -> String {
    if !activate {
        return "candidate".to_string();
    }
    // The nightly job marks its session (reco.schedule_refresh()), so the log can say so.
    let scheduled = client
        .select(
            "SELECT pg_catalog.current_setting('application_name') OPERATOR(pg_catalog.=) 'reco-refresh (pg_cron)'",
            None,
            &[],
        )
        .and_then(|t| t.first().get_one::<bool>())
        .unwrap_or_else(|e| errors::spi("reading application_name", e))
        .unwrap_or(false);
    let how = if scheduled { "scheduled" } else { "automatic" };
    let mut reason = match ndcg {
        Some(n) => format!("refresh: nDCG@10 {n:.4}"),
        None => "refresh: quality not measured".to_string(),
    };
    if let (Some(margin), Some(active_id)) = (max_quality_drop, active.model_id) {
        let active_ndcg: Option<f64> = client
            .select(
                "SELECT ndcg_at_10 FROM reco.model_quality WHERE model_id OPERATOR(pg_catalog.=) $1",
                None,
                &[active_id.into()],
            )
            .map(|t| {
                if t.is_empty() {
                    None
                } else {
                    column::<f64>(&t.first(), 1, "reco.model_quality", "ndcg_at_10")
                }
            })
            .unwrap_or_else(|e| errors::spi("reading the active version's quality", e));
        let candidate = ndcg.unwrap_or(f64::NAN);
        let versus = match active_ndcg {
            Some(a) => format!("{a:.4}"),
            None => "not measured".to_string(),
        };
        reason = format!(
            "{reason}, active version {active_id} {versus}, allowed drop {:.1} %",
            margin * 100.0
        );
        if !quality_guard(candidate, active_ndcg.unwrap_or(f64::NAN), margin) {
            client
                .update(
                    "INSERT INTO reco.model_activations (from_model_id, to_model_id, decision, how, reason) \
                     VALUES ($1, $2, 'kept_candidate', $3, $4)",
                    None,
                    &[active_id.into(), model_id.into(), how.into(), reason.clone().into()],
                )
                .unwrap_or_else(|e| errors::spi("logging the kept candidate", e));
            pgrx::notice!(
                "reco.refresh(): version {model_id} kept as a candidate, version {active_id} stays active ({reason})"
            );
            return "candidate".to_string();
        }
    }
    client
        .update(
            "SELECT reco.switch_active_model($1, $2, $3)",
            None,
            &[model_id.into(), how.into(), reason.into()],
        )
        .unwrap_or_else(|e| errors::spi("activating the new version", e));
    "active".to_string()
}

fn record_seconds(client: &mut SpiClient, model_id: i64, s: &StageSeconds) {
    let seconds = serde_json::json!({
        "read": s.read, "svd": s.svd, "tfidf": s.tfidf, "write": s.write,
        "quality": s.quality, "drift": s.drift,
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
    ordered: bool,
    measures: ReadMeasures,
) -> (Vec<i64>, Triplets, i64, f64) {
    let ReadMeasures {
        sample,
        observed,
        progress,
    } = measures;
    // Purchases and wishlist adds are what the quality measurement counts as hits (as
    // reco.evaluate() does).
    let relevant: Vec<bool> = action_weights
        .iter()
        .map(|(name, _)| name == "purchase" || name == "add_to_wishlist")
        .collect();
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    let mut future: i64 = 0;
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
    if ordered {
        triplets.keys.reserve((sizes.interactions * 1.05) as usize);
    }
    let mut rows: i64 = 0;
    // Every column is NOT NULL; user_id, shoe_id and occurred_at are int8/timestamptz
    // (pass-by-value on 64-bit builds), action is text, all checked by for_each_row before the
    // first row (INTERACTION_COLUMNS). This runs once per interaction (20M on tier L), so it
    // reads the executor's values in place and makes no call into Postgres.
    let (holdout, split_at) = match &mut observed.holdout {
        Some((h, at)) => (Some(h), *at),
        None => (None, i64::MAX),
    };
    let mut holdout = holdout;
    let drift = &mut observed.drift;
    let mut on_row = |values: &[pg_sys::Datum], _nulls: &[bool]| {
        let interaction_id = values[0].value() as i64;
        let user_id = values[1].value() as i64;
        let shoe_id = values[2].value() as i64;
        // timestamptz: microseconds since 2000-01-01 UTC.
        let at_micros = values[4].value() as i64;
        if at_micros > now {
            future += 1;
        }
        // SAFETY: column 4 of READ_INTERACTIONS is the NOT NULL text column action (type
        // checked).
        let action = unsafe { text_bytes(values[3]) };
        // The log references reco.action_weights, so every action is found; a linear search of a
        // handful of names beats hashing the text.
        let Some(action_index) = action_weights
            .iter()
            .position(|(name, _)| name.as_bytes() == action)
        else {
            return;
        };
        let mut weight = action_weights[action_index].1;
        if decay {
            let at = at_micros as f64 / 1e6 + POSTGRES_EPOCH_UNIX_SECONDS;
            weight = decayed(weight, at, reference_epoch, half_life_days);
        }
        let Some(col) = shoe_pos.get(shoe_id) else {
            return;
        };
        let row = user_pos.get_or_insert_with(user_id, || {
            user_ids.push(user_id);
            (user_ids.len() - 1) as u32
        });
        rows += 1;
        if rows % 65_536 == 0 {
            progress.rows_read(rows as u64);
        }
        if let Some(w) = drift {
            w.count(interaction_id, col as usize, action_index, row as usize);
        }
        if let (Some(h), Some((rate, seed))) = (&mut holdout, sample) {
            if quality_sampled(user_id, rate, seed) {
                let test = at_micros >= split_at;
                h.push(
                    user_id,
                    col as usize,
                    weight as f32,
                    relevant[action_index],
                    test,
                    (at_micros, interaction_id),
                );
                if test {
                    // Left out of the training matrix: unseen by the version it measures.
                    return;
                }
            }
        }
        if ordered {
            // Time, then the order of the scan (an appended log's interaction_id order).
            triplets.push_at(row, col, weight as f32, at_micros);
        } else {
            triplets.push(row, col, weight as f32);
        }
    };
    for_each_row(
        "reading interactions",
        READ_INTERACTIONS,
        &INTERACTION_COLUMNS,
        &mut on_row,
    );
    progress.rows_read(rows as u64);
    observed.checks.future_interactions = future;
    observed.checks.interactions = rows;
    (user_ids, triplets, rows, reference_epoch)
}

/// What read_interactions() measures besides the model's inputs.
struct ReadMeasures<'a> {
    /// Quality sample: rate (parts per million) and seed.
    sample: Option<(u64, u64)>,
    observed: &'a mut Observed,
    progress: &'a RefreshProgress,
}

/// Read the demographics of the users that have interactions and assign each matrix row to its
/// most specific cold-start segment (the broader usage segment is derived by the build); also
/// counts every user (the data checks' total), in the same scan.
fn read_user_segments(user_ids: &[i64]) -> (SegmentAssignment, i64) {
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
    let mut users: i64 = 0;
    let mut on_row = |values: &[pg_sys::Datum], nulls: &[bool]| {
        users += 1;
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
        "SELECT user_id, age, gender, primary_usage FROM reco.users",
        &USER_COLUMNS,
        &mut on_row,
    );
    (segments, users)
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

/// Delete the versions beyond reco.keep_models but the protected ones (pinned, active, the
/// rollback target: reco.protected_models()); a trigger on reco.models drops their tables.
/// Dropping a partition takes an ACCESS EXCLUSIVE lock on its parent table. Waiting for it behind
/// a long query on the model tables would queue every backend that then loads a model behind
/// this refresh, so the locks are only tried: if one is taken, the old versions stay until a
/// later refresh (a NOTICE says so). Serving does not get in the way: recommend(), similar() and
/// due_services() release their locks on the model tables once their backend's cache is loaded
/// (cache::without_lasting_locks), so only a cache load in progress or a query reading the model
/// tables itself (SQL analysis, the naive benchmark) keeps a version. On a hot standby the replay
/// of these drops waits for the same locks, and cancels their holders after
/// max_standby_streaming_delay.
fn prune_old_versions(client: &mut SpiClient, keep_models: i64, schema: Schema) {
    let versions: Vec<i64> = client
        .select(
            "SELECT model_id FROM reco.models ORDER BY model_id DESC",
            None,
            &[],
        )
        .unwrap_or_else(|e| errors::spi("finding old models", e))
        .filter_map(|row| row.get::<i64>(1).ok().flatten())
        .collect();
    // Before 0.4.0 nothing was protected but by age (the active version is the newest).
    let protected: Vec<i64> = if schema == Schema::Current {
        client
            .select("SELECT reco.protected_models()", None, &[])
            .and_then(|t| t.first().get_one::<Vec<i64>>())
            .unwrap_or_else(|e| errors::spi("finding the protected versions", e))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let doomed = versions_to_prune(&versions, keep_models as usize, &protected);
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
