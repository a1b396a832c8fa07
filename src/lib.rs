//! reco: product recommendations inside PostgreSQL.
//!
//! This crate is the thin SQL-facing layer: it converts arguments, talks to Postgres through SPI
//! and calls the algorithm code in `reco-core` (no pgrx there). Heavy computation runs on owned
//! Rust buffers; Postgres is only ever called from the backend's main thread.

use pgrx::prelude::*;

mod bulk;
mod cache;
mod errors;
mod evaluate;
mod guc;
mod matrix;
mod offline;
mod recommend;
mod refresh;
mod scoring;
mod segments;

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

#[allow(non_snake_case)]
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    guc::register();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    include!("tests.rs");
    include!("tests_services.rs");
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![
            "shared_preload_libraries = 'pg_cron'",
            "cron.database_name = 'pgrx_tests'",
        ]
    }
}
