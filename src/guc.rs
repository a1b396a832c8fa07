//! Settings (`reco.*` GUCs). Every one of them is documented in README.md, "Settings".

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Largest k accepted by recommend() and similar().
pub const MAX_K: i32 = 10_000;

// Defaults chosen by reco.evaluate() on validation splits (scripts/eval/sweep.sh; BENCHMARKS.md,
// "Choosing the defaults"): 32 factors and a CF weight of 0.5 were best on both MovieLens and the
// synthetic shop; the action weights 1/3/5 were within noise of the alternatives tried.
pub static FACTORS: GucSetting<i32> = GucSetting::<i32>::new(32);
pub static OVERSAMPLE: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static POWER_ITERATIONS: GucSetting<i32> = GucSetting::<i32>::new(4);
pub static SEED: GucSetting<i32> = GucSetting::<i32>::new(42);
pub static HALF_LIFE_DAYS: GucSetting<f64> = GucSetting::<f64>::new(0.0);
pub static KEEP_MODELS: GucSetting<i32> = GucSetting::<i32>::new(3);
pub static REFRESH_MEMORY_LIMIT_MB: GucSetting<i32> = GucSetting::<i32>::new(4096);
pub static CF_WEIGHT: GucSetting<f64> = GucSetting::<f64>::new(0.5);
pub static HISTORY_SHRINKAGE: GucSetting<f64> = GucSetting::<f64>::new(5.0);
pub static SIMILAR_CF_WEIGHT: GucSetting<f64> = GucSetting::<f64>::new(0.5);

pub fn register() {
    GucRegistry::define_int_guc(
        c"reco.factors",
        c"Number of SVD factors refresh() computes.",
        c"Clamped to the number of users and shoes. More factors capture more of the matrix at the cost of refresh time and memory.",
        &FACTORS,
        1,
        1024,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"reco.svd_oversampling",
        c"Extra random directions used by the randomized SVD range finder.",
        c"",
        &OVERSAMPLE,
        0,
        256,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"reco.svd_power_iterations",
        c"Power iterations of the randomized SVD (more = more accurate singular vectors, slower).",
        c"",
        &POWER_ITERATIONS,
        0,
        20,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"reco.seed",
        c"Seed of the randomized SVD; the same data and seed give the same model.",
        c"",
        &SEED,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"reco.half_life_days",
        c"Half-life in days of interaction weights (0 = no time decay).",
        c"An interaction's weight is multiplied by 0.5^(age / half-life), age measured from the newest interaction.",
        &HALF_LIFE_DAYS,
        0.0,
        36500.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"reco.keep_models",
        c"How many model versions refresh() keeps (the active one included).",
        c"",
        &KEEP_MODELS,
        1,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"reco.refresh_memory_limit",
        c"Memory refresh() may use; it refuses to start when its estimate is larger.",
        c"A backend killed for memory restarts the whole cluster, so refresh() checks its estimate first.",
        &REFRESH_MEMORY_LIMIT_MB,
        16,
        i32::MAX / 2,
        GucContext::Userset,
        GucFlags::UNIT_MB,
    );
    GucRegistry::define_float_guc(
        c"reco.cf_weight",
        c"Weight of the collaborative-filtering score in recommend() for a user with a long history.",
        c"The weight actually used is cf_weight * n / (n + reco.history_shrinkage) for a user with n shoes in their history; the rest goes to content and popularity.",
        &CF_WEIGHT,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"reco.history_shrinkage",
        c"How many shoes of history it takes for the CF weight to reach half of reco.cf_weight.",
        c"",
        &HISTORY_SHRINKAGE,
        0.0,
        10000.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"reco.similar_cf_weight",
        c"Weight of CF factor cosine (vs TF-IDF cosine) in similar().",
        c"",
        &SIMILAR_CF_WEIGHT,
        0.0,
        1.0,
        GucContext::Userset,
        GucFlags::default(),
    );
}
