//! Settings (`reco.*` GUCs), read through typed accessors. Every one of them is documented in
//! README.md, "Settings".
//!
//! The `reco` prefix is reserved (MarkGUCPrefixReserved): once the library is loaded, a name
//! reco does not define, such as `SET reco.factor = 8`, is an error instead of a placeholder
//! that nothing reads.
//!
//! A value set before the library was loaded (`SET reco.x = ...` as a session's first command,
//! `ALTER DATABASE ... SET`, postgresql.conf) is kept by Postgres as a placeholder and checked
//! when reco defines the setting; Postgres then only warns about an invalid value and keeps the
//! default. reco remembers such a rejected value, and the accessor of that setting raises 22023
//! until the setting is assigned again (SET, RESET), so a call never runs silently with a value
//! other than the one the session asked for.

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void, CStr, CString};

use pgrx::pg_sys;

use crate::errors;

/// Largest k accepted by recommend() and similar().
pub const MAX_K: i32 = 10_000;

/// A value Postgres writes through the pointer it is given when the setting is defined.
struct Slot<T>(UnsafeCell<T>);

// SAFETY: a backend is single-threaded as far as settings go: Postgres's GUC code and reco's
// accessors run on the backend's main thread, and reco never reads settings from its worker
// threads (they get values passed in).
unsafe impl<T> Sync for Slot<T> {}

impl<T: Copy> Slot<T> {
    fn get(&self) -> T {
        // SAFETY: see the Sync impl; Postgres writes the value only while no accessor runs.
        unsafe { *self.0.get() }
    }
}

struct IntSetting {
    name: &'static CStr,
    short: &'static CStr,
    long: &'static CStr,
    boot: c_int,
    min: c_int,
    max: c_int,
    flags: c_int,
}

struct RealSetting {
    name: &'static CStr,
    short: &'static CStr,
    long: &'static CStr,
    boot: f64,
    min: f64,
    max: f64,
}

// Defaults chosen by reco.evaluate() on validation splits (scripts/eval/sweep.sh; BENCHMARKS.md,
// "Choosing the defaults"): 32 factors and a CF weight of 0.5 were best on both MovieLens and the
// synthetic shop; the action weights 1/3/5 were within noise of the alternatives tried.
const FACTORS: usize = 0;
const OVERSAMPLING: usize = 1;
const POWER_ITERATIONS: usize = 2;
const SEED: usize = 3;
const KEEP_MODELS: usize = 4;
const REFRESH_MEMORY_LIMIT: usize = 5;
const KNN_NEIGHBOURS: usize = 6;
const KNN_MAX_USER_ITEMS: usize = 7;
const QUALITY_USERS: usize = 8;
const CONTENT_PROFILE_TERMS: usize = 9;
const INTS: [IntSetting; 10] = [
    IntSetting {
        name: c"reco.factors",
        short: c"Number of SVD factors refresh() computes.",
        long: c"Clamped to the number of users and shoes. More factors capture more of the user x shoe matrix at the cost of refresh time and memory; takes effect at the next refresh().",
        boot: 32,
        min: 1,
        max: 1024,
        flags: 0,
    },
    IntSetting {
        name: c"reco.svd_oversampling",
        short: c"Extra random directions used by the randomized SVD range finder.",
        long: c"The range finder samples factors + oversampling directions; more makes the kept factors more accurate at a small cost in time.",
        boot: 10,
        min: 0,
        max: 256,
        flags: 0,
    },
    IntSetting {
        name: c"reco.svd_power_iterations",
        short: c"Power iterations of the randomized SVD.",
        long: c"Each iteration multiplies by A A^T once more: more accurate singular vectors on slowly decaying spectra, one more pass over the matrix each.",
        boot: 4,
        min: 0,
        max: 20,
        flags: 0,
    },
    IntSetting {
        name: c"reco.seed",
        short: c"Seed of the randomized SVD.",
        long: c"The same data, settings and seed give the same model, bit for bit.",
        boot: 42,
        min: 0,
        max: i32::MAX,
        flags: 0,
    },
    IntSetting {
        name: c"reco.keep_models",
        short: c"How many model versions refresh() keeps (the active one included).",
        long: c"Older versions are deleted at the end of refresh(); while another transaction reads the model tables they are left to a later refresh (a NOTICE says so).",
        boot: 3,
        min: 1,
        max: 1000,
        flags: 0,
    },
    IntSetting {
        name: c"reco.refresh_memory_limit",
        short: c"Memory refresh() may use; it refuses to start when its estimate is larger.",
        long: c"A backend killed for memory restarts the whole cluster, so refresh() estimates its peak from the table sizes first and refuses (SQLSTATE 53200) above this limit.",
        boot: 4096,
        min: 16,
        max: i32::MAX / 2,
        flags: pg_sys::GUC_UNIT_MB as c_int,
    },
    IntSetting {
        name: c"reco.knn_neighbours",
        short: c"Item-item neighbours refresh() keeps per shoe (0 = no item-item component).",
        long: c"The item-item component scores a shoe by the neighbour lists of the shoes in a user's history, so its query cost is history size times this; more neighbours reach more shoes at the cost of refresh time and the size of reco.model_shoes.",
        boot: 100,
        min: 0,
        max: 1000,
        flags: 0,
    },
    IntSetting {
        name: c"reco.knn_max_user_items",
        short: c"Most shoes of one user that the item-item similarities are computed from (0 = all).",
        long: c"A user with n shoes adds n^2 pairs to the item-item build, so a few users with thousands of shoes would cost more than everyone else together; such a user counts with their strongest shoes (largest weight) only. Takes effect at the next refresh().",
        boot: 200,
        min: 0,
        max: 1000000,
        flags: 0,
    },
    IntSetting {
        name: c"reco.quality_users",
        short: c"Users refresh() evaluates the new version on (0 = no quality measurement).",
        long: c"refresh() samples users by a hash of their id, leaves their interactions after the 90th percentile of time out of the training, and ranks the held-out shoes for at most this many of them (reco.model_quality). More users give a steadier number at the cost of refresh time.",
        boot: 1000,
        min: 0,
        max: 1000000,
        flags: 0,
    },
    IntSetting {
        name: c"reco.content_profile_terms",
        short: c"Most terms of a user's TF-IDF profile the content score uses, the strongest (0 = all).",
        long: c"A long history's profile holds hundreds of terms and scoring it touches nearly every shoe's text; the weakest terms change the ranking least. Applies to recommend(), evaluate() and refresh()'s quality measurement. Off by default: on the validation splits of both real datasets every cut cost some nDCG@10.",
        boot: 0,
        min: 0,
        max: 1000000,
        flags: 0,
    },
];

const HALF_LIFE_DAYS: usize = 0;
const CF_WEIGHT: usize = 1;
const HISTORY_SHRINKAGE: usize = 2;
const SIMILAR_CF_WEIGHT: usize = 3;
const KNN_SHRINKAGE: usize = 4;
const KNN_WEIGHT: usize = 5;
const CONTENT_WEIGHT: usize = 6;
const POPULARITY_WEIGHT: usize = 7;
const SIMILAR_KNN_WEIGHT: usize = 8;
const RECENCY_HALF_LIFE: usize = 9;
const RECENCY_FLOOR: usize = 10;
const KNN_NEXT_WEIGHT: usize = 11;
const REALS: [RealSetting; 12] = [
    RealSetting {
        name: c"reco.half_life_days",
        short: c"Half-life in days of interaction weights (0 = no time decay).",
        long: c"An interaction's weight is multiplied by 0.5^(age / half-life), age measured from the newest interaction; refresh() and recommend()'s fold-in decay alike.",
        boot: 0.0,
        min: 0.0,
        max: 36500.0,
    },
    RealSetting {
        name: c"reco.cf_weight",
        short: c"Weight of the collaborative-filtering (SVD fold-in) score in recommend() for a user with a long history.",
        long: c"The weight used is cf_weight * n / (n + reco.history_shrinkage) for a user with n shoes in their history, beside reco.knn_weight, reco.content_weight and reco.popularity_weight (each score is scaled to a maximum of 1; only the ratios of the weights matter).",
        boot: 1.4,
        min: 0.0,
        max: 100.0,
    },
    RealSetting {
        name: c"reco.history_shrinkage",
        short: c"How many shoes of history it takes for the CF weight to reach half of reco.cf_weight.",
        long: c"Users with little history lean on the item-item neighbours and content; 0 gives every user with history the full reco.cf_weight.",
        boot: 30.0,
        min: 0.0,
        max: 10000.0,
    },
    RealSetting {
        name: c"reco.similar_cf_weight",
        short: c"Weight of CF factor cosine (vs TF-IDF cosine) in similar().",
        long: c"similar() scores cf_weight * cosine of CF factors + reco.similar_knn_weight * item-item similarity + the rest * TF-IDF cosine; a shoe the active model has not seen uses content only.",
        boot: 0.5,
        min: 0.0,
        max: 1.0,
    },
    RealSetting {
        name: c"reco.knn_shrinkage",
        short: c"Shrinkage of the item-item cosine: added to the product of the two shoes' norms.",
        long: c"sim(i, j) = (co-occurrence / (|i| |j| + shrinkage))^2 over the summed action weights: pairs supported by few shoppers count less. In squared action weights: 250 is what 10 shoppers who bought both shoes (5 x 5 each) add. Takes effect at the next refresh().",
        boot: 250.0,
        min: 0.0,
        max: 1000000.0,
    },
    RealSetting {
        name: c"reco.knn_weight",
        short: c"Weight of the item-item score in recommend()'s hybrid.",
        long: c"score = knn_weight * item-item + cf_weight * n / (n + history_shrinkage) * CF + content_weight * content + popularity_weight * popularity, each part scaled to a maximum of 1; 0 turns the item-item component off at query time.",
        boot: 1.0,
        min: 0.0,
        max: 100.0,
    },
    RealSetting {
        name: c"reco.content_weight",
        short: c"Weight of the TF-IDF content score in recommend()'s hybrid.",
        long: c"The content score is the cosine between a shoe's TF-IDF vector and the weighted sum of the vectors of the user's history; see reco.knn_weight for the whole formula.",
        boot: 1.0,
        min: 0.0,
        max: 100.0,
    },
    RealSetting {
        name: c"reco.popularity_weight",
        short: c"Weight of popularity in recommend()'s hybrid for a user with history.",
        long: c"Popularity is the model's per-shoe sum of action weights scaled to a maximum of 1; see reco.knn_weight for the whole formula. Cold-start and anonymous users are served by popularity regardless.",
        boot: 0.05,
        min: 0.0,
        max: 100.0,
    },
    RealSetting {
        name: c"reco.similar_knn_weight",
        short: c"Weight of the item-item similarity in similar().",
        long: c"Shared with reco.similar_cf_weight: the rest goes to the TF-IDF cosine (when the two add up to more than 1 they are scaled to sum to 1).",
        boot: 0.3,
        min: 0.0,
        max: 1.0,
    },
    RealSetting {
        name: c"reco.recency_half_life",
        short: c"How many more recent shoes of a user's history halve a shoe's weight in recommend() (0 = no recency weighting).",
        long: c"The user's distinct shoes are ranked by their latest interaction, r = 0 for the newest; each shoe's summed action weight is multiplied by floor + (1 - floor) * 0.5^(r / half-life), floor = reco.recency_floor, before the item-item, CF and content scores are computed. Counted in shoes, not days, so it means the same in a shop whose customers come daily and one whose customers come yearly. The model itself is trained without it.",
        boot: 1.0,
        min: 0.0,
        max: 1000000.0,
    },
    RealSetting {
        name: c"reco.recency_floor",
        short: c"Share of a shoe's weight that recency weighting never takes away (see reco.recency_half_life).",
        long: c"1 turns recency weighting off; 0 lets the oldest shoes of a long history count for almost nothing.",
        boot: 0.15,
        min: 0.0,
        max: 1.0,
    },
    RealSetting {
        name: c"reco.knn_next_weight",
        short: c"Weight of what shoppers went on to next in the item-item neighbours (0 = order ignored).",
        long: c"refresh() ranks each shoe's neighbour candidates by (cos^2 + next_weight * next(i, j)) / (1 + next_weight), next(i, j) = T(i, j) / (sqrt(out(i)) sqrt(in(j)) + 10), and keeps the reco.knn_neighbours best, T(i, j) summing 1/d over every user's history in time order where j came d = 1..5 shoes after i. recommend() and similar() then favour what usually comes next after the user's latest shoes. Takes effect at the next refresh().",
        boot: 8.0,
        min: 0.0,
        max: 10000.0,
    },
];

static INT_VALUES: [Slot<c_int>; INTS.len()] = [const { Slot(UnsafeCell::new(0)) }; INTS.len()];
static REAL_VALUES: [Slot<f64>; REALS.len()] = [const { Slot(UnsafeCell::new(0.0)) }; REALS.len()];
/// A value set before the library was loaded and rejected when the setting was defined, kept
/// until the setting is assigned again. Ints first, then reals.
static REJECTED: Slot<[Option<&'static str>; INTS.len() + REALS.len()]> =
    Slot(UnsafeCell::new([None; INTS.len() + REALS.len()]));

fn set_rejected(slot: usize, value: Option<&'static str>) {
    // SAFETY: main thread only (see Slot).
    unsafe { (*REJECTED.0.get())[slot] = value };
}

unsafe extern "C-unwind" fn assign_int<const I: usize>(_newval: c_int, _extra: *mut c_void) {
    set_rejected(I, None);
}

unsafe extern "C-unwind" fn assign_real<const I: usize>(_newval: f64, _extra: *mut c_void) {
    set_rejected(INTS.len() + I, None);
}

/// The placeholder value of `name` set before the library was loaded, if any.
fn placeholder(name: &CStr) -> Option<String> {
    // SAFETY: a lookup in the GUC table; the result is copied before anything else runs.
    unsafe {
        let p = pg_sys::GetConfigOption(name.as_ptr(), true, false);
        (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

fn int_value_is_valid(s: &IntSetting, value: &str) -> bool {
    let Ok(c) = CString::new(value) else {
        return false;
    };
    let mut parsed: c_int = 0;
    // SAFETY: parse_int reads the string and writes the result; the hint is not kept.
    let ok = unsafe {
        let mut hint: *const std::ffi::c_char = std::ptr::null();
        pg_sys::parse_int(c.as_ptr(), &mut parsed, s.flags, &mut hint)
    };
    ok && (s.min..=s.max).contains(&parsed)
}

fn real_value_is_valid(s: &RealSetting, value: &str) -> bool {
    let Ok(c) = CString::new(value) else {
        return false;
    };
    let mut parsed: f64 = 0.0;
    // SAFETY: as in int_value_is_valid.
    let ok = unsafe {
        let mut hint: *const std::ffi::c_char = std::ptr::null();
        pg_sys::parse_real(c.as_ptr(), &mut parsed, 0, &mut hint)
    };
    ok && parsed >= s.min && parsed <= s.max
}

macro_rules! int_hooks {
    ($($i:literal),*) => { [$(Some(assign_int::<$i> as unsafe extern "C-unwind" fn(c_int, *mut c_void))),*] };
}
macro_rules! real_hooks {
    ($($i:literal),*) => { [$(Some(assign_real::<$i> as unsafe extern "C-unwind" fn(f64, *mut c_void))),*] };
}

/// Defines every setting and reserves the prefix; called once from _PG_init.
pub fn register() {
    let int_assign: [pg_sys::GucIntAssignHook; 10] = int_hooks!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    let real_assign: [pg_sys::GucRealAssignHook; 12] =
        real_hooks!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
    // The accessors find their settings by index: each index must name its setting.
    for (i, name) in [
        (FACTORS, c"reco.factors"),
        (OVERSAMPLING, c"reco.svd_oversampling"),
        (POWER_ITERATIONS, c"reco.svd_power_iterations"),
        (SEED, c"reco.seed"),
        (KEEP_MODELS, c"reco.keep_models"),
        (REFRESH_MEMORY_LIMIT, c"reco.refresh_memory_limit"),
        (KNN_NEIGHBOURS, c"reco.knn_neighbours"),
        (KNN_MAX_USER_ITEMS, c"reco.knn_max_user_items"),
        (QUALITY_USERS, c"reco.quality_users"),
        (CONTENT_PROFILE_TERMS, c"reco.content_profile_terms"),
    ] {
        assert_eq!(INTS[i].name, name);
    }
    for (i, name) in [
        (HALF_LIFE_DAYS, c"reco.half_life_days"),
        (CF_WEIGHT, c"reco.cf_weight"),
        (HISTORY_SHRINKAGE, c"reco.history_shrinkage"),
        (SIMILAR_CF_WEIGHT, c"reco.similar_cf_weight"),
        (KNN_SHRINKAGE, c"reco.knn_shrinkage"),
        (KNN_WEIGHT, c"reco.knn_weight"),
        (CONTENT_WEIGHT, c"reco.content_weight"),
        (POPULARITY_WEIGHT, c"reco.popularity_weight"),
        (SIMILAR_KNN_WEIGHT, c"reco.similar_knn_weight"),
        (RECENCY_HALF_LIFE, c"reco.recency_half_life"),
        (RECENCY_FLOOR, c"reco.recency_floor"),
        (KNN_NEXT_WEIGHT, c"reco.knn_next_weight"),
    ] {
        assert_eq!(REALS[i].name, name);
    }
    for (i, s) in INTS.iter().enumerate() {
        let pending = placeholder(s.name);
        // SAFETY: the name, descriptions and the value's storage are 'static; Postgres keeps the
        // pointers for the life of the backend.
        unsafe {
            pg_sys::DefineCustomIntVariable(
                s.name.as_ptr(),
                s.short.as_ptr(),
                s.long.as_ptr(),
                INT_VALUES[i].0.get(),
                s.boot,
                s.min,
                s.max,
                pg_sys::GucContext::PGC_USERSET,
                s.flags,
                None,
                int_assign[i],
                None,
            );
        }
        if let Some(v) = pending.filter(|v| !int_value_is_valid(s, v)) {
            set_rejected(i, Some(Box::leak(v.into_boxed_str())));
        }
    }
    for (i, s) in REALS.iter().enumerate() {
        let pending = placeholder(s.name);
        // SAFETY: as above.
        unsafe {
            pg_sys::DefineCustomRealVariable(
                s.name.as_ptr(),
                s.short.as_ptr(),
                s.long.as_ptr(),
                REAL_VALUES[i].0.get(),
                s.boot,
                s.min,
                s.max,
                pg_sys::GucContext::PGC_USERSET,
                0,
                None,
                real_assign[i],
                None,
            );
        }
        if let Some(v) = pending.filter(|v| !real_value_is_valid(s, v)) {
            set_rejected(INTS.len() + i, Some(Box::leak(v.into_boxed_str())));
        }
    }
    // SAFETY: a plain GUC-table call with a static name.
    unsafe { pg_sys::MarkGUCPrefixReserved(c"reco".as_ptr()) };
}

/// Raises 22023 when the setting in `slot` holds a value that was rejected at load time.
fn check_not_rejected(slot: usize, name: &CStr, range: String) {
    // SAFETY: main thread only (see Slot).
    let rejected = unsafe { (*REJECTED.0.get())[slot] };
    if let Some(value) = rejected {
        let name = name.to_string_lossy();
        errors::invalid_parameter(
            format!(
                "{name} = '{value}' was set before reco was loaded and is not a valid value ({range}); reco does not fall back to the default"
            ),
            Some(&format!(
                "SET {name} to a valid value, or RESET {name} for the default."
            )),
        );
    }
}

fn int(i: usize) -> i32 {
    let s = &INTS[i];
    let unit = if s.flags == pg_sys::GUC_UNIT_MB as c_int {
        "MB"
    } else {
        ""
    };
    check_not_rejected(i, s.name, format!("{}{unit} to {}{unit}", s.min, s.max));
    INT_VALUES[i].get()
}

fn real(i: usize) -> f64 {
    let s = &REALS[i];
    check_not_rejected(INTS.len() + i, s.name, format!("{} to {}", s.min, s.max));
    REAL_VALUES[i].get()
}

/// reco.factors
pub fn factors() -> usize {
    int(FACTORS) as usize
}

/// reco.svd_oversampling
pub fn svd_oversampling() -> usize {
    int(OVERSAMPLING) as usize
}

/// reco.svd_power_iterations
pub fn svd_power_iterations() -> usize {
    int(POWER_ITERATIONS) as usize
}

/// reco.seed
pub fn seed() -> u64 {
    int(SEED) as u64
}

/// reco.keep_models
/// reco.quality_users.
pub fn quality_users() -> usize {
    int(QUALITY_USERS) as usize
}

pub fn keep_models() -> i64 {
    int(KEEP_MODELS) as i64
}

/// reco.refresh_memory_limit, in bytes (the setting is in MB).
pub fn refresh_memory_limit_bytes() -> f64 {
    int(REFRESH_MEMORY_LIMIT) as f64 * 1024.0 * 1024.0
}

/// reco.half_life_days
pub fn half_life_days() -> f64 {
    real(HALF_LIFE_DAYS)
}

/// reco.cf_weight
pub fn cf_weight() -> f64 {
    real(CF_WEIGHT)
}

/// reco.history_shrinkage
pub fn history_shrinkage() -> f64 {
    real(HISTORY_SHRINKAGE)
}

/// reco.similar_cf_weight
pub fn similar_cf_weight() -> f64 {
    real(SIMILAR_CF_WEIGHT)
}

/// reco.knn_neighbours
pub fn knn_neighbours() -> usize {
    int(KNN_NEIGHBOURS) as usize
}

/// reco.knn_shrinkage
pub fn knn_shrinkage() -> f64 {
    real(KNN_SHRINKAGE)
}

/// reco.knn_weight
pub fn knn_weight() -> f64 {
    real(KNN_WEIGHT)
}

/// reco.similar_knn_weight
pub fn similar_knn_weight() -> f64 {
    real(SIMILAR_KNN_WEIGHT)
}

/// reco.content_weight
pub fn content_weight() -> f64 {
    real(CONTENT_WEIGHT)
}

/// reco.popularity_weight
pub fn popularity_weight() -> f64 {
    real(POPULARITY_WEIGHT)
}

/// reco.recency_half_life
pub fn recency_half_life() -> f64 {
    real(RECENCY_HALF_LIFE)
}

/// reco.recency_floor
pub fn recency_floor() -> f64 {
    real(RECENCY_FLOOR)
}

/// reco.knn_max_user_items
pub fn knn_max_user_items() -> usize {
    int(KNN_MAX_USER_ITEMS) as usize
}

/// reco.content_profile_terms
pub fn content_profile_terms() -> usize {
    int(CONTENT_PROFILE_TERMS) as usize
}

/// reco.knn_next_weight
pub fn knn_next_weight() -> f64 {
    real(KNN_NEXT_WEIGHT)
}
