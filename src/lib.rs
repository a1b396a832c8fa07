//! reco: product recommendations inside PostgreSQL.
//!
//! This crate is the thin SQL-facing layer: it checks arguments, talks to Postgres through SPI,
//! keeps the per-backend model cache, moves rows in and out in bulk, and reports errors; every
//! computation is in `reco-core` (no pgrx there). Heavy computation runs on owned Rust buffers;
//! Postgres is only ever called from the backend's main thread.
//!
//! | module | SQL functions | pure code it calls |
//! |---|---|---|
//! | `recommend` | recommend(), similar(), similar_lists() | `reco_core::serving` |
//! | `refresh` | refresh() | `reco_core::model` |
//! | `evaluate` | evaluate(), evaluation_rankings() | `reco_core::model`, `reco_core::offline` |
//! | `cache` | (the per-backend model cache) | `reco_core::serving::ServingModel` |
//! | `bulk` | (streaming rows in, writing model rows out) | |
//! | `guc` | (the `reco.*` settings) | |
//! | `errors` | (SQLSTATEs and hints) | |

use pgrx::prelude::*;

mod bulk;
mod cache;
mod errors;
mod evaluate;
mod experiments;
mod guc;
mod lifecycle;
mod monitoring;
mod recommend;
mod refresh;
mod shmem;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!("../sql/model.sql", name = "model", requires = ["schema"]);
extension_sql_file!("../sql/load.sql", name = "load", requires = ["schema"]);
extension_sql_file!(
    "../sql/evaluate.sql",
    name = "evaluate",
    requires = ["schema", "model"]
);
extension_sql_file!(
    "../sql/services.sql",
    name = "services",
    requires = ["schema", "model", similar, similar_lists]
);
// Each release's upgrade script, in order: a new installation runs them after the 0.1.0 objects
// above, exactly as ALTER EXTENSION reco UPDATE runs them on an old one.
extension_sql_file!(
    "../sql/reco--0.1.0--0.2.0.sql",
    name = "v0_2_0",
    requires = [
        "schema",
        "model",
        "load",
        "evaluate",
        "services",
        similar_users
    ]
);
extension_sql_file!(
    "../sql/reco--0.2.0--0.3.0.sql",
    name = "v0_3_0",
    requires = [
        "v0_2_0",
        refresh_versioned,
        evaluate,
        evaluation_rankings,
        recommend,
        similar,
        similar_lists,
        similar_users,
        experiment_bucket_user,
        experiment_bucket_visitor,
        serve,
        experiment_statistics,
        sample_size_per_arm
    ]
);
extension_sql_file!(
    "../sql/reco--0.3.0--0.4.0.sql",
    name = "v0_4_0",
    requires = [
        "v0_3_0",
        refresh_versioned,
        serving_stats_rows,
        reset_serving_stats_now,
        refresh_progress_rows,
        compare_models
    ]
);

#[allow(non_snake_case)]
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::register();
    shmem::init();
}

#[cfg(any(test, feature = "pg_test"))]
mod sql_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    /// RECO_TEST_PRELOAD=1 preloads reco too (shared memory: serving statistics, refresh
    /// progress); scripts/test.sh runs the lifecycle tests a second time that way. Without it,
    /// reco loads in each session as it does without the preload, which the settings tests need.
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        let preload = if std::env::var("RECO_TEST_PRELOAD").is_ok_and(|v| v == "1") {
            "shared_preload_libraries = 'pg_cron,reco'"
        } else {
            "shared_preload_libraries = 'pg_cron'"
        };
        vec![preload, "cron.database_name = 'pgrx_tests'"]
    }
}
