//! SQL-level tests, run inside a throwaway cluster by `cargo pgrx test`: one module per feature,
//! helpers in `helpers`. Each #[pg_test] runs in its own transaction, rolled back afterwards;
//! tests that need other sessions or other databases make a scratch database through dblink.
//! pgrx calls every test as `tests.<name>()`, so each module keeps its tests in an inline
//! `#[pg_schema] mod tests`.

pub mod helpers;

mod cache;
mod concurrency;
mod dump_restore;
mod evaluate;
mod experiments;
mod itemknn;
mod lifecycle;
mod odd_schemas;
mod recommend;
mod refresh;
mod schema_and_loading;
mod security;
mod services;
mod settings;
mod upgrade;
