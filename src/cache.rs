//! Per-backend cache of the active model joined with the current catalogue.
//!
//! A backend keeps one [`Cache`], keyed by (active model id, catalogue version). Each call of
//! recommend()/similar() reads both with one tiny query and rebuilds the cache only when either
//! changed (a refresh committed, or reco.shoes was modified), so a call normally costs a
//! matrix-vector product and a top-k instead of a table scan. What is cached is a
//! [`ServingModel`] of reco-core; this module only reads it from the tables.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::pg_sys::{self, PgOid};
use pgrx::spi::{OwnedPreparedStatement, SpiClient};
use reco_core::catalog::Shoe;
use reco_core::serving::{ServingModel, StoredModel};
use reco_core::tfidf::TfidfModel;

use crate::bulk::{for_each_row, text_bytes, Column, Kind};
use crate::errors::{self, column};

const SHOES: &str = "reco.shoes";
/// The columns read_catalog() reads, in its query's order.
const CATALOG_COLUMNS: [Column; 9] = [
    Column::new(SHOES, "shoe_id", Kind::Int8),
    Column::new(SHOES, "name", Kind::Text),
    Column::new(SHOES, "brand", Kind::Text),
    Column::new(SHOES, "type", Kind::Text),
    Column::new(SHOES, "material", Kind::Text),
    Column::new(SHOES, "color", Kind::Text),
    Column::new(SHOES, "description", Kind::Text),
    Column::new(SHOES, "price", Kind::Float8),
    Column::new(SHOES, "active", Kind::Bool),
];

/// The whole catalogue ordered by shoe_id.
pub fn read_catalog() -> Vec<Shoe> {
    let mut out = Vec::new();
    // Through bulk::for_each_row: pgrx's per-value conversions of a SPI tuple table took 0.06 s
    // for tier M's 20k shoes, as long as reading 400k interactions. The column types are
    // checked before the first row (CATALOG_COLUMNS), so the raw reads below are sound.
    let mut on_row = |values: &[pgrx::pg_sys::Datum], nulls: &[bool]| {
        // SAFETY: columns 1-6 are text (checked); a NULL one is read as ''.
        let text = |i: usize| {
            if nulls[i] {
                String::new()
            } else {
                String::from_utf8_lossy(unsafe { text_bytes(values[i]) }).into_owned()
            }
        };
        out.push(Shoe {
            shoe_id: values[0].value() as i64,
            name: text(1),
            brand: text(2),
            shoe_type: text(3),
            material: text(4),
            color: text(5),
            description: text(6),
            price: (!nulls[7]).then(|| f64::from_bits(values[7].value() as u64)),
            active: !nulls[8] && values[8].value() != 0,
        });
    };
    // price is numeric(10,2): cast here, and any numeric type casts to float8 safely.
    for_each_row(
        "reading reco.shoes",
        "SELECT shoe_id, name, brand, type, material, color, description, price::float8 AS price, active \
         FROM reco.shoes ORDER BY shoe_id",
        &CATALOG_COLUMNS,
        &mut on_row,
    );
    out
}

/// The serving model and the key it was built for.
pub struct Cache {
    pub model_id: Option<i64>,
    pub catalog_version: i64,
    /// Newest interaction id when there is no model (popularity is then read live), else None.
    pub log_mark: Option<i64>,
    /// reco.ratings exists (it does from 0.3.0 on; the 0.3.0 upgrade script bumps the catalogue
    /// version, so every backend's cache is rebuilt and sees it).
    pub has_ratings: bool,
    pub model: ServingModel,
}

impl std::ops::Deref for Cache {
    type Target = ServingModel;
    fn deref(&self) -> &ServingModel {
        &self.model
    }
}

thread_local! {
    static CACHE: RefCell<Option<Rc<Cache>>> = const { RefCell::new(None) };
    /// A model version other than the active one (see [`version`]).
    static OTHER_VERSION: RefCell<Option<Rc<Cache>>> = const { RefCell::new(None) };
    /// Saved plans of the queries every recommend() call runs: SPI would otherwise parse and
    /// plan them on each call. Postgres' plan cache revalidates them after DDL.
    static PLANS: RefCell<HashMap<&'static str, Rc<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

/// A kept (per-backend) prepared statement for `sql`.
pub fn prepared(
    client: &SpiClient,
    sql: &'static str,
    args: &[PgOid],
) -> Rc<OwnedPreparedStatement> {
    if let Some(plan) = PLANS.with(|p| p.borrow().get(sql).cloned()) {
        return plan;
    }
    let plan = Rc::new(
        client
            .prepare(sql, args)
            .unwrap_or_else(|e| errors::spi("preparing a query", e))
            .keep(),
    );
    PLANS.with(|p| p.borrow_mut().insert(sql, plan.clone()));
    plan
}

/// The cache for the active model and current catalogue, rebuilt if either changed.
pub fn current(client: &SpiClient) -> Rc<Cache> {
    let plan = prepared(
        client,
        // Before the first refresh, popularity comes from the live log: the newest interaction id
        // is then part of the key too (a cheap backward scan of the primary key).
        "SELECT m.model_id, (SELECT version FROM reco.catalog_version), \
                CASE WHEN m.model_id IS NULL THEN (SELECT max(interaction_id) FROM reco.interactions) END \
         FROM (SELECT (SELECT model_id FROM reco.models WHERE status = 'active') AS model_id) m",
        &[],
    );
    let (model_id, version, log_mark) = client
        .select(&*plan, None, &[])
        .and_then(|t| t.first().get_three::<i64, i64, i64>())
        .unwrap_or_else(|e| errors::spi("reading the active model", e));
    let version = version.unwrap_or(0);
    if let Some(c) = CACHE.with(|c| c.borrow().clone()) {
        if c.model_id == model_id && c.catalog_version == version && c.log_mark == log_mark {
            return c;
        }
    }
    // Drop the old cache before building the new one so the two never coexist in memory.
    CACHE.with(|c| *c.borrow_mut() = None);
    // Everything is copied into Rust-owned memory inside without_lasting_locks(), so the locks
    // those reads took are gone when the model is built and served (see there).
    let (shoes, stored) = without_lasting_locks(|| {
        let shoes = read_catalog();
        let stored = match model_id {
            Some(id) => Ok(read_stored_model(client, id)),
            None => Err(live_popularity(client, &shoes)),
        };
        (shoes, stored)
    });
    let model = match stored {
        Ok(stored) => ServingModel::from_stored(shoes, stored),
        Err(sums) => ServingModel::without_model(shoes, sums),
    };
    let built = Rc::new(Cache {
        model_id,
        catalog_version: version,
        log_mark,
        has_ratings: has_ratings(client),
        model,
    });
    CACHE.with(|c| *c.borrow_mut() = Some(built.clone()));
    built
}

fn has_ratings(client: &SpiClient) -> bool {
    client
        .select(
            "SELECT pg_catalog.to_regclass('reco.ratings') IS NOT NULL",
            None,
            &[],
        )
        .and_then(|t| t.first().get_one::<bool>())
        .unwrap_or_else(|e| errors::spi("looking for reco.ratings", e))
        .unwrap_or(false)
}

/// The cache of model version `model_id` (an A/B test's "model" arm), for the current
/// catalogue: the active cache when it is the active version, else a second per-backend slot
/// (so a backend serving an experiment keeps at most two versions in memory). A version that no
/// longer exists (pruned) is an error naming it.
pub fn version(client: &SpiClient, model_id: i64) -> Rc<Cache> {
    let active = current(client);
    if active.model_id == Some(model_id) {
        return active;
    }
    if let Some(c) = OTHER_VERSION.with(|c| c.borrow().clone()) {
        if c.model_id == Some(model_id) && c.catalog_version == active.catalog_version {
            return c;
        }
    }
    OTHER_VERSION.with(|c| *c.borrow_mut() = None);
    require_version(
        client,
        model_id,
        "Keep the versions an experiment serves: pin them (reco.pin_model), raise reco.keep_models, or stop the experiment.",
    );
    let (shoes, stored) =
        without_lasting_locks(|| (read_catalog(), read_stored_model(client, model_id)));
    let model = ServingModel::from_stored(shoes, stored);
    let built = Rc::new(Cache {
        model_id: Some(model_id),
        catalog_version: active.catalog_version,
        log_mark: None,
        has_ratings: active.has_ratings,
        model,
    });
    OTHER_VERSION.with(|c| *c.borrow_mut() = Some(built.clone()));
    built
}

/// Raises P0002 with `hint` unless model version `model_id` exists.
pub fn require_version(client: &SpiClient, model_id: i64, hint: &str) {
    let exists = client
        .select(
            "SELECT count(*) FROM reco.models WHERE model_id OPERATOR(pg_catalog.=) $1",
            None,
            &[model_id.into()],
        )
        .and_then(|t| t.first().get_one::<i64>())
        .unwrap_or_else(|e| errors::spi("looking up a model version", e))
        .unwrap_or(0);
    if exists == 0 {
        errors::no_data(
            format!("model version {model_id} does not exist (pruned, or never built)"),
            Some(hint),
        );
    }
}

/// Runs `read` in an internal subtransaction that is rolled back when `read` returns, so the
/// relation locks its queries took (ACCESS SHARE on reco.model_shoes and the other partitioned
/// model tables, and on the version's partitions) are released right away instead of at the end
/// of the caller's transaction. `read` must copy what it reads into Rust-owned memory: SPI
/// tuple tables and anything palloc'd in the subtransaction are freed by the rollback.
///
/// Why: refresh() prunes old versions by dropping their partitions, which takes ACCESS
/// EXCLUSIVE on the parents. On a hot standby the replay of that lock waits for every backend
/// holding a lock on a parent and, after max_standby_streaming_delay (30 s by default), cancels
/// them ("canceling statement due to conflict with recovery"; measured with
/// scripts/standby/run.sh: a transaction that had called recommend() and stayed open, and a
/// long statement over recommend(), were both cancelled, and replay, so every later model, was
/// held back for the whole delay). On the primary the same locks made refresh() skip pruning
/// (it only tries the lock). With the locks released after the load, a drop waits at most for
/// a cache load in progress. Nothing is lost by releasing them early: the copied rows are
/// independent of the tables, and the cache key (the active model id, read before this under
/// the caller's transaction) decides what is served.
///
/// A Postgres error or panic inside `read` (which pgrx turns into a Rust panic after copying the
/// error out and flushing Postgres' error state, as a PG_CATCH block does) rolls the
/// subtransaction back here too before it continues unwinding, so an exception block of the
/// caller (PL/pgSQL's BEGIN ... EXCEPTION) finds its own subtransaction current, as it expects.
///
/// pgrx 0.18 has no wrapper for subtransactions (only callbacks on their events,
/// `pgrx::register_subxact_callback`), hence the calls below, made the way PL/pgSQL's exception
/// blocks make them (pl_exec.c, exec_stmt_block).
fn without_lasting_locks<T>(read: impl FnOnce() -> T) -> T {
    // SAFETY: reading a backend-global flag; we are on the backend's main thread (pgrx calls
    // SQL functions only there).
    if unsafe { pg_sys::IsInParallelMode() } {
        // Subtransactions cannot start in parallel mode (never the case today: every function
        // that reaches this is PARALLEL UNSAFE). Read under the caller's transaction.
        return read();
    }
    // SAFETY: main thread, inside a transaction (a SQL function is running). The memory context
    // and resource owner current now are the caller's, valid until it returns, so restoring
    // them below is sound; BeginInternalSubTransaction switches to the subtransaction's own
    // context, which the rollback deletes, so the caller's context is made current again at once
    // (as exec_stmt_block does). A NULL name is allowed (an unnamed subtransaction).
    let (caller_context, caller_owner) = unsafe {
        let context = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::CurrentMemoryContext = context;
        (context, owner)
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    // SAFETY: the subtransaction begun above is still the current one: `read` only runs
    // SELECTs through SPI on reco's tables (no PL code that could leave a subtransaction of its
    // own open: SPI and PL/pgSQL end theirs before returning), and an error inside it reached us
    // as a panic with Postgres' error state already flushed (pgrx's FFI guard), which is the
    // state in which PL/pgSQL rolls back its block's subtransaction. After the rollback its
    // locks, SPI tuple tables and memory are released; nothing of it is referenced any more
    // (`read`'s results are Rust-owned). Then the caller's memory context and resource owner are
    // current again: the rollback leaves the parent transaction's, which need not be the caller's
    // (e.g. a portal's resource owner).
    unsafe {
        pg_sys::RollbackAndReleaseCurrentSubTransaction();
        pg_sys::CurrentMemoryContext = caller_context;
        pg_sys::CurrentResourceOwner = caller_owner;
    }
    match result {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Before the first refresh: the summed action weights per shoe from the live log.
fn live_popularity(client: &SpiClient, shoes: &[Shoe]) -> Vec<f32> {
    let pos: HashMap<i64, usize> = shoes
        .iter()
        .enumerate()
        .map(|(i, s)| (s.shoe_id, i))
        .collect();
    let mut popularity = vec![0f32; shoes.len()];
    let table = client
        .select(
            "SELECT i.shoe_id::int8, sum(w.weight)::float8 FROM reco.interactions i \
             JOIN reco.action_weights w ON w.action = i.action GROUP BY i.shoe_id",
            None,
            &[],
        )
        .unwrap_or_else(|e| errors::spi("computing popularity", e));
    for row in table {
        let id: Option<i64> = column(&row, 1, "reco.interactions", "shoe_id");
        let sum: Option<f64> = column(&row, 2, "reco.action_weights", "weight");
        if let (Some(p), Some(sum)) = (id.and_then(|id| pos.get(&id)), sum) {
            popularity[*p] = sum as f32;
        }
    }
    popularity
}

/// The stored parts of model version `model_id`.
fn read_stored_model(client: &SpiClient, model_id: i64) -> StoredModel {
    const MODELS: &str = "reco.models";
    let row = client
        .select(
            "SELECT factors, coalesce((parameters->>'half_life_days')::float8, 0), \
                    coalesce((parameters->>'reference_epoch')::float8, 0) \
             FROM reco.models WHERE model_id = $1",
            None,
            &[model_id.into()],
        )
        .unwrap_or_else(|e| errors::spi("reading the model", e));
    let row = row.first();
    let k: Option<i32> = column(&row, 1, MODELS, "factors");
    let half_life_days: Option<f64> = column(&row, 2, MODELS, "parameters");
    let reference_epoch: Option<f64> = column(&row, 3, MODELS, "parameters");
    let k = k.unwrap_or(0).max(0) as usize;

    const VOCABULARY: &str = "reco.model_vocabulary";
    let mut terms = Vec::new();
    let mut idf = Vec::new();
    let table = client
        .select(
            "SELECT term, idf FROM reco.model_vocabulary WHERE model_id = $1 ORDER BY term_id",
            None,
            &[model_id.into()],
        )
        .unwrap_or_else(|e| errors::spi("reading the vocabulary", e));
    for row in table {
        terms.push(column::<String>(&row, 1, VOCABULARY, "term").unwrap_or_default());
        idf.push(column::<f64>(&row, 2, VOCABULARY, "idf").unwrap_or(1.0));
    }

    const MODEL_SHOES: &str = "reco.model_shoes";
    let table = client
        .select(
            "SELECT shoe_id, factors, popularity FROM reco.model_shoes WHERE model_id = $1",
            None,
            &[model_id.into()],
        )
        .unwrap_or_else(|e| errors::spi("reading shoe factors", e));
    let mut shoes = Vec::with_capacity(table.len());
    for row in table {
        shoes.push((
            column::<i64>(&row, 1, MODEL_SHOES, "shoe_id").unwrap_or_default(),
            column::<Vec<f32>>(&row, 2, MODEL_SHOES, "factors").unwrap_or_default(),
            column::<f32>(&row, 3, MODEL_SHOES, "popularity").unwrap_or(0.0),
        ));
    }

    // Versions built before ALTER EXTENSION reco UPDATE to 0.2.0 have no neighbour lists (and
    // the 0.1.0 table has no columns for them): they are served without the item-item part.
    let has_neighbours = client
        .select(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute \
             WHERE attrelid OPERATOR(pg_catalog.=) 'reco.model_shoes'::pg_catalog.regclass \
               AND attname OPERATOR(pg_catalog.=) 'neighbour_ids' AND NOT attisdropped)",
            None,
            &[],
        )
        .and_then(|t| t.first().get_one::<bool>())
        .unwrap_or_else(|e| errors::spi("reading the model's columns", e))
        .unwrap_or(false);
    let mut neighbours = Vec::new();
    if has_neighbours {
        let table = client
            .select(
                "SELECT shoe_id, neighbour_ids, neighbour_weights FROM reco.model_shoes \
                 WHERE model_id OPERATOR(pg_catalog.=) $1 \
                   AND pg_catalog.cardinality(neighbour_ids) OPERATOR(pg_catalog.>) 0",
                None,
                &[model_id.into()],
            )
            .unwrap_or_else(|e| errors::spi("reading item-item neighbours", e));
        neighbours.reserve(table.len());
        for row in table {
            let ids: Vec<i64> = column(&row, 2, MODEL_SHOES, "neighbour_ids").unwrap_or_default();
            let sims: Vec<f32> =
                column(&row, 3, MODEL_SHOES, "neighbour_weights").unwrap_or_default();
            if ids.len() == sims.len() {
                neighbours.push((
                    column::<i64>(&row, 1, MODEL_SHOES, "shoe_id").unwrap_or_default(),
                    ids,
                    sims,
                ));
            }
        }
    }

    const SEGMENTS: &str = "reco.model_segments";
    let table = client
        .select(
            "SELECT segment, users, shoe_ids, scores FROM reco.model_segments WHERE model_id = $1",
            None,
            &[model_id.into()],
        )
        .unwrap_or_else(|e| errors::spi("reading segments", e));
    let mut segments = Vec::with_capacity(table.len());
    for row in table {
        segments.push((
            column::<String>(&row, 1, SEGMENTS, "segment").unwrap_or_default(),
            column::<i32>(&row, 2, SEGMENTS, "users").unwrap_or(0),
            column::<Vec<i64>>(&row, 3, SEGMENTS, "shoe_ids").unwrap_or_default(),
            column::<Vec<f32>>(&row, 4, SEGMENTS, "scores").unwrap_or_default(),
        ));
    }
    StoredModel {
        k,
        vocab: TfidfModel::from_parts(terms, idf),
        shoes,
        neighbours,
        segments,
        half_life_days: half_life_days.unwrap_or(0.0),
        reference_epoch: reference_epoch.unwrap_or(0.0),
    }
}
