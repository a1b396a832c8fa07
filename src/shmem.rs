//! What reco keeps in shared memory: serving statistics (reco.serving_stats) and the progress of
//! running refreshes (reco.refresh_progress). Both need `shared_preload_libraries = 'reco'`
//! (README "Serving statistics"): shared memory can only be reserved while the postmaster starts.
//! Without it serving works as before, records nothing, and the views say why they are empty.
//!
//! Serving never writes to a table for this, so it works unchanged on a read-only hot standby.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use pgrx::lwlock::PgLwLock;
use pgrx::pg_guard;
use pgrx::pg_shmem_init;
use pgrx::pg_sys;
use pgrx::shmem::PGRXSharedMemory;
use reco_core::serving_stats::{Outcome, ServingCounters};

/// The serving functions counted, in the order of [`FUNCTION_NAMES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Function {
    Recommend = 0,
    Similar = 1,
    Serve = 2,
}

pub const FUNCTION_NAMES: [&str; 3] = ["recommend", "similar", "serve"];

/// Entries of (function, model version); each function also has one entry of its own, the last
/// three, that takes the calls of versions beyond the others once they are all used (model_id
/// [`OTHER_VERSIONS`]) until reco.reset_serving_stats().
pub const SERVING_ENTRIES: usize = 96;
const GENERAL_ENTRIES: usize = SERVING_ENTRIES - FUNCTION_NAMES.len();
/// The model_id of an entry counting calls of versions that found no entry of their own.
pub const OTHER_VERSIONS: i64 = -1;
/// The model_id of calls served before any model existed.
pub const NO_MODEL: i64 = 0;

#[derive(Clone, Copy, Default)]
#[repr(C)]
pub struct ServingEntry {
    pub used: bool,
    pub function: u8,
    /// Model ids are per database: the database is part of the key.
    pub database: pg_sys::Oid,
    pub model_id: i64,
    pub counters: ServingCounters,
}

#[derive(Clone, Copy)]
#[repr(C)]
pub struct ServingTable {
    pub entries: [ServingEntry; SERVING_ENTRIES],
    /// When the statistics were last reset (or the server started): a TimestampTz.
    pub since: pg_sys::TimestampTz,
}

impl Default for ServingTable {
    fn default() -> ServingTable {
        ServingTable {
            entries: [ServingEntry::default(); SERVING_ENTRIES],
            since: 0,
        }
    }
}

// SAFETY: plain old data (integers, bools, arrays of them), no pointers: valid in any process
// that maps the segment.
unsafe impl PGRXSharedMemory for ServingTable {}

impl ServingTable {
    fn entry(
        &mut self,
        function: Function,
        database: pg_sys::Oid,
        model_id: i64,
    ) -> &mut ServingEntry {
        let f = function as u8;
        let found = self.entries[..GENERAL_ENTRIES]
            .iter()
            .position(|e| {
                e.used && e.function == f && e.database == database && e.model_id == model_id
            })
            .or_else(|| self.entries[..GENERAL_ENTRIES].iter().position(|e| !e.used));
        let i = found.unwrap_or(GENERAL_ENTRIES + f as usize);
        let e = &mut self.entries[i];
        if !e.used {
            e.used = true;
            e.function = f;
            e.database = database;
            e.model_id = if i >= GENERAL_ENTRIES {
                OTHER_VERSIONS
            } else {
                model_id
            };
        }
        e
    }
}

/// Phases of a refresh, in order (reco.refresh_progress.phase).
pub const PHASES: [&str; 6] = [
    "reading",
    "building",
    "writing",
    "measuring quality",
    "measuring drift",
    "activating and pruning",
];
pub const PROGRESS_SLOTS: usize = 16;

#[derive(Clone, Copy, Default)]
#[repr(C)]
pub struct ProgressSlot {
    /// 0: free.
    pub pid: i32,
    pub database: pg_sys::Oid,
    pub started_at: pg_sys::TimestampTz,
    pub phase: u8,
    pub phase_started_at: pg_sys::TimestampTz,
    pub rows_read: u64,
    pub rows_estimate: u64,
    /// Seconds of each finished phase.
    pub phase_seconds: [f64; PHASES.len()],
}

#[derive(Clone, Copy, Default)]
#[repr(C)]
pub struct ProgressTable {
    pub slots: [ProgressSlot; PROGRESS_SLOTS],
}

// SAFETY: as for ServingTable.
unsafe impl PGRXSharedMemory for ProgressTable {}

// SAFETY: the names are reco's own and unique in the cluster.
static SERVING: PgLwLock<ServingTable> = unsafe { PgLwLock::new(c"reco serving statistics") };
static PROGRESS: PgLwLock<ProgressTable> = unsafe { PgLwLock::new(c"reco refresh progress") };

/// Set in _PG_init when the library is loaded by shared_preload_libraries (in the postmaster;
/// its backends inherit it at fork).
static PRELOADED: AtomicBool = AtomicBool::new(false);

/// Reserves the shared memory; called from _PG_init.
// pg_shmem_init! tests the pgXX features of the crate it expands in; reco builds only pg15.
#[allow(unexpected_cfgs)]
pub fn init() {
    // SAFETY: a global of the postmaster, read on the main thread while libraries load.
    if unsafe { !pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    pg_shmem_init!(SERVING);
    pg_shmem_init!(PROGRESS);
    PRELOADED.store(true, Ordering::Relaxed);
}

/// Whether the shared memory exists (reco is in shared_preload_libraries).
pub fn preloaded() -> bool {
    PRELOADED.load(Ordering::Relaxed)
}

/// Why the views are empty, when they are.
pub const NOT_PRELOADED: &str = "reco is not in shared_preload_libraries, so nothing is counted: add it (shared_preload_libraries = 'reco', with pg_cron if used: 'pg_cron,reco') and restart the server";

fn now() -> pg_sys::TimestampTz {
    // SAFETY: reads the clock; no allocation, no error.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// One serving call being timed: made at the start of the call, filled in as it goes, recorded
/// when dropped, also when the call fails (the drop then runs while the error unwinds: an error
/// with no rows).
pub struct ServingCall {
    function: Function,
    started: Instant,
    pub model_id: i64,
    pub rows: u64,
    pub cold_start: bool,
    pub anonymous: bool,
    finished: bool,
}

impl ServingCall {
    pub fn start(function: Function) -> ServingCall {
        ServingCall {
            function,
            started: Instant::now(),
            model_id: NO_MODEL,
            rows: 0,
            cold_start: false,
            anonymous: false,
            finished: false,
        }
    }

    /// The call succeeded with `rows` rows.
    pub fn finish(mut self, rows: usize) {
        self.rows = rows as u64;
        self.finished = true;
    }
}

impl Drop for ServingCall {
    fn drop(&mut self) {
        if !preloaded() {
            return;
        }
        let micros = self.started.elapsed().as_micros() as u64;
        let error = !self.finished;
        let outcome = Outcome {
            error,
            cold_start: self.cold_start,
            anonymous: self.anonymous,
        };
        let rows = if error { 0 } else { self.rows };
        // The lock is held for a few array updates only and nothing in between can fail; on an
        // error path Postgres has not yet released anything (the error is a Rust unwind until
        // pgrx's boundary), and an LWLock acquire is allowed there.
        // SAFETY: a global of this backend.
        let database = unsafe { pg_sys::MyDatabaseId };
        let mut table = SERVING.exclusive();
        table
            .entry(self.function, database, self.model_id)
            .counters
            .record(micros, rows, outcome);
    }
}

/// A copy of the serving statistics (None: not preloaded).
pub fn serving_snapshot() -> Option<ServingTable> {
    preloaded().then(|| *SERVING.share())
}

pub fn reset_serving() {
    if preloaded() {
        let mut table = SERVING.exclusive();
        *table = ServingTable::default();
        table.since = now();
    }
}

/// When the server started: what `since` means before the first reset.
pub fn server_start() -> pg_sys::TimestampTz {
    // SAFETY: a global set once by the postmaster.
    unsafe { pg_sys::PgStartTime }
}

/// The progress slot of a running refresh: claimed by [`RefreshProgress::start`], freed on drop
/// (also when the refresh fails). A slot of a backend that died without freeing it is reclaimed
/// and not shown (its pid is no longer a backend).
pub struct RefreshProgress {
    slot: Option<usize>,
    phase_started: Instant,
    phase: usize,
}

fn backend_alive(pid: i32) -> bool {
    // SAFETY: looks the pid up in the proc array (takes ProcArrayLock in shared mode).
    !unsafe { pg_sys::BackendPidGetProc(pid) }.is_null()
}

impl RefreshProgress {
    pub fn start(rows_estimate: f64) -> RefreshProgress {
        let mut progress = RefreshProgress {
            slot: None,
            phase_started: Instant::now(),
            phase: 0,
        };
        if !preloaded() {
            return progress;
        }
        // SAFETY: globals of this backend.
        let (pid, database) = unsafe { (pg_sys::MyProcPid, pg_sys::MyDatabaseId) };
        let stale: Vec<i32> = {
            let table = PROGRESS.share();
            table
                .slots
                .iter()
                .filter(|s| s.pid != 0 && s.pid != pid)
                .map(|s| s.pid)
                .collect()
        };
        let dead: Vec<i32> = stale.into_iter().filter(|&p| !backend_alive(p)).collect();
        let mut table = PROGRESS.exclusive();
        for s in table.slots.iter_mut() {
            if s.pid == pid || dead.contains(&s.pid) {
                *s = ProgressSlot::default();
            }
        }
        if let Some(i) = table.slots.iter().position(|s| s.pid == 0) {
            let at = now();
            table.slots[i] = ProgressSlot {
                pid,
                database,
                started_at: at,
                phase: 0,
                phase_started_at: at,
                rows_read: 0,
                rows_estimate: rows_estimate.max(0.0) as u64,
                phase_seconds: [0.0; PHASES.len()],
            };
            progress.slot = Some(i);
        }
        progress
    }

    /// Moves on to phase `phase` (an index of [`PHASES`]), recording the seconds of the one before.
    pub fn phase(&mut self, phase: usize) {
        let seconds = self.phase_started.elapsed().as_secs_f64();
        let previous = self.phase;
        self.phase = phase;
        self.phase_started = Instant::now();
        if let Some(i) = self.slot {
            let mut table = PROGRESS.exclusive();
            let s = &mut table.slots[i];
            s.phase_seconds[previous] += seconds;
            s.phase = phase as u8;
            s.phase_started_at = now();
        }
    }

    /// Interaction rows read so far.
    pub fn rows_read(&self, rows: u64) {
        if let Some(i) = self.slot {
            PROGRESS.exclusive().slots[i].rows_read = rows;
        }
    }
}

impl Drop for RefreshProgress {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            PROGRESS.exclusive().slots[i] = ProgressSlot::default();
        }
    }
}

/// The slots of refreshes running now (None: not preloaded).
pub fn progress_snapshot() -> Option<Vec<ProgressSlot>> {
    if !preloaded() {
        return None;
    }
    let slots: Vec<ProgressSlot> = PROGRESS
        .share()
        .slots
        .iter()
        .filter(|s| s.pid != 0)
        .copied()
        .collect();
    Some(slots.into_iter().filter(|s| backend_alive(s.pid)).collect())
}
