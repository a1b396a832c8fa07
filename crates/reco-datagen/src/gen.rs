//! Generation of users, shoes and interactions with planted structure.
//! See data/README.md for the model in prose.

use crate::catalog::*;
use crate::rng::{Alias, Rng};
use crate::time::{ts, DAY, END, START};

const STREAM_USERS: u64 = 1;
const STREAM_SHOES: u64 = 2;
const STREAM_COUNTS: u64 = 3;
const STREAM_INTER: u64 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier {
    pub name: &'static str,
    pub users: u32,
    pub shoes: u32,
    pub interactions: u64,
}

pub const TIERS: [Tier; 3] = [
    Tier {
        name: "small",
        users: 1_000,
        shoes: 300,
        interactions: 30_000,
    },
    Tier {
        name: "M",
        users: 100_000,
        shoes: 20_000,
        interactions: 2_000_000,
    },
    Tier {
        name: "L",
        users: 1_000_000,
        shoes: 100_000,
        interactions: 20_000_000,
    },
];

pub fn tier_by_name(s: &str) -> Option<Tier> {
    let l = s.to_ascii_lowercase();
    let key = match l.as_str() {
        "small" | "s" => "small",
        "m" | "medium" => "M",
        "l" | "large" => "L",
        _ => return None,
    };
    TIERS.iter().copied().find(|t| t.name == key)
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: u32,
    pub age: Option<u8>,
    /// Index into GENDERS.
    pub gender: Option<u8>,
    /// The real primary usage (type index); always set, used by the behaviour model.
    pub hidden_type: u8,
    /// Whether primary_usage is written (false = NULL in the CSV).
    pub usage_visible: bool,
    pub band: u8,
    pub created_at: i64,
    /// Number of interactions to generate (0 for new users).
    pub n_inter: u32,
}

#[derive(Clone, Debug)]
pub struct Shoe {
    pub id: u32,
    pub name: String,
    pub brand: u8,
    pub typ: u8,
    pub material: u8,
    pub color: &'static str,
    pub cluster: u8,
    pub price_cents: u32,
    pub description: String,
    pub care: String,
    pub lifespan_days: u32,
    pub active: bool,
    pub created_at: i64,
    /// Zipf popularity weight within the type (before availability).
    pub pop: f64,
}

/// Action codes (low bits of a packed interaction).
pub const ACTIONS: [&str; 3] = ["view", "add_to_wishlist", "purchase"];
pub const VIEW: u32 = 0;
pub const WISH: u32 = 1;
pub const PURCHASE: u32 = 2;

/// An interaction packed into a u128 whose natural order is (time, user, shoe, action):
/// bits 96.. seconds since START, 64.. user_id, 32.. shoe_id, 0.. action.
pub type Packed = u128;

#[inline]
pub fn pack(t: i64, user: u32, shoe: u32, action: u32) -> Packed {
    debug_assert!((START..=END).contains(&t));
    (((t - START) as u128) << 96) | ((user as u128) << 64) | ((shoe as u128) << 32) | action as u128
}

#[inline]
pub fn unpack(p: Packed) -> (i64, u32, u32, u32) {
    (
        START + (p >> 96) as i64,
        (p >> 64) as u32,
        (p >> 32) as u32,
        p as u32,
    )
}

// ---------------------------------------------------------------------------------------------
// Users

pub fn gen_users(tier: &Tier, seed: u64) -> Vec<User> {
    let mut rng = Rng::new(seed, STREAM_USERS, 0);
    let n = tier.users as usize;
    let mut users = Vec::with_capacity(n);
    let mut raw_w = Vec::with_capacity(n);
    for _ in 0..n {
        let band_known = rng.weighted(&AGE_BAND_MIX);
        let (lo, hi) = AGE_BANDS[band_known];
        let age_val = rng.range_i64(lo as i64, hi as i64) as u8;
        let (age, band) = if rng.chance(P_NULL_AGE) {
            (None, UNKNOWN_BAND)
        } else {
            (Some(age_val), band_known)
        };
        let g = rng.weighted(&GENDER_MIX) as u8;
        let gender = if rng.chance(P_NULL_GENDER) {
            None
        } else {
            Some(g)
        };
        // Usage follows the band the user really is in (even when age is hidden).
        let hidden_type = rng.weighted(&USAGE_BY_BAND[band_known]) as u8;
        let usage_visible = !rng.chance(P_NULL_USAGE);
        let is_new = rng.chance(P_NEW_USER);
        let created_at = if is_new {
            rng.range_i64(END - 45 * DAY, END - 3600)
        } else if rng.chance(0.55) {
            rng.range_i64(ts(2021, 1, 1), START - 1)
        } else {
            rng.range_i64(START, END - 30 * DAY)
        };
        // Activity: lognormal, damped for accounts that exist only part of the window.
        let act = (ACTIVITY_SIGMA * rng.normal()).exp();
        let lo_u = (created_at + 60).max(START);
        let frac = (END - lo_u) as f64 / (END - START) as f64;
        raw_w.push(if is_new {
            0.0
        } else {
            act * frac.max(0.0).powf(0.7)
        });
        users.push(User {
            id: 0,
            age,
            gender,
            hidden_type,
            usage_visible,
            band: band as u8,
            created_at,
            n_inter: 0,
        });
    }
    // Interaction budgets summing exactly to tier.interactions.
    let total_w: f64 = raw_w.iter().sum();
    let active: Vec<usize> = (0..n).filter(|&i| raw_w[i] > 0.0).collect();
    let target = tier.interactions;
    let min_c: u32 = if target >= active.len() as u64 { 1 } else { 0 };
    let mut sum: u64 = 0;
    for &i in &active {
        let c = (target as f64 * raw_w[i] / total_w).round() as u64;
        let c = (c as u32).clamp(min_c, ACTIVITY_CAP);
        users[i].n_inter = c;
        sum += c as u64;
    }
    let mut crng = Rng::new(seed, STREAM_COUNTS, 0);
    assert!(
        target <= active.len() as u64 * ACTIVITY_CAP as u64,
        "too many interactions for this many users"
    );
    while sum != target {
        let i = active[crng.below(active.len() as u64) as usize];
        if sum < target && users[i].n_inter < ACTIVITY_CAP {
            users[i].n_inter += 1;
            sum += 1;
        } else if sum > target && users[i].n_inter > min_c {
            users[i].n_inter -= 1;
            sum -= 1;
        }
    }
    // user_id follows account creation order (stable sort: ties keep generation order).
    users.sort_by_key(|u| u.created_at);
    for (i, u) in users.iter_mut().enumerate() {
        u.id = i as u32 + 1;
    }
    users
}

// ---------------------------------------------------------------------------------------------
// Shoes

fn subst(template: &str, adj: &str, mat: &str, cushion: &str) -> String {
    let article = if adj.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "An"
    } else {
        "A"
    };
    template
        .replace("{A}", article)
        .replace("{adj}", adj)
        .replace("{mat}", mat)
        .replace("{cushion}", cushion)
}

pub fn gen_shoes(tier: &Tier, seed: u64) -> Vec<Shoe> {
    let mut rng = Rng::new(seed, STREAM_SHOES, 0);
    let n = tier.shoes as usize;
    let mut shoes = Vec::with_capacity(n);
    let recent_from = ts(2026, 7, 1);
    for _ in 0..n {
        let typ = rng.weighted(&TYPE_MIX);
        let lean: Vec<f64> = BRANDS.iter().map(|b| b.lean[typ]).collect();
        let brand = rng.weighted(&lean);
        let b = &BRANDS[brand];
        let material = rng.weighted(&MATERIAL_BY_TYPE[typ]);
        let cluster = rng.below(CLUSTERS as u64) as usize;
        let color = if rng.chance(CLUSTER_COLOR_P) {
            PALETTE[typ][cluster]
        } else {
            PALETTE[typ][rng.below(CLUSTERS as u64) as usize]
        };
        // Price: type base x brand tier x lognormal noise, ending in .99/.95/.00.
        let raw = TYPE_BASE_PRICE[typ] * TIER_PRICE[b.tier as usize] * (0.12 * rng.normal()).exp();
        let whole = (raw.round() as u32).max(15);
        let cents = match rng.below(4) {
            0 | 1 => whole * 100 - 1,
            2 => whole * 100 - 5,
            _ => whole * 100,
        };
        // Name: "Brand Model [Suffix] [GTX] [version]".
        let model = MODELS[typ][rng.below(8) as usize];
        let suffix = SUFFIXES[typ][rng.below(5) as usize];
        let mut name = format!("{} {}", b.name, model);
        if !suffix.is_empty() {
            name.push(' ');
            name.push_str(suffix);
        }
        if material == GORETEX {
            name.push_str(" GTX");
        }
        if typ != FORMAL || rng.chance(0.3) {
            name.push_str(&format!(" {}", 1 + rng.below(9)));
        }
        // Description: 1-3 sentences.
        let adj = DESC_ADJ[typ][rng.below(4) as usize];
        let cushion = CUSHION[rng.below(4) as usize];
        let mut description = subst(DESC_FIRST[typ], adj, MAT_DESC[material], cushion);
        let extra = rng.below(3) as usize; // 0..2 more sentences
        let first = rng.below(4) as usize;
        for k in 0..extra {
            description.push(' ');
            description.push_str(DESC_MORE[typ][(first + k) % 4]);
        }
        if material == GORETEX && typ != HIKING {
            description.push_str(" The waterproof membrane keeps feet dry in rain and puddles.");
        }
        if rng.chance(0.3) {
            description.push_str(&format!(" Shown in {color}."));
        }
        let care = format!("{} {}", CARE_MATERIAL[material], CARE_TYPE[typ]);
        let (lmin, lmax) = LIFESPAN[typ];
        let lifespan_days = rng.range_i64(lmin as i64, lmax as i64) as u32;
        let r = rng.f64();
        let created_at = if r < 0.70 {
            rng.range_i64(ts(2021, 3, 1), START - 1)
        } else if r < 0.92 {
            rng.range_i64(START, recent_from - 1)
        } else {
            rng.range_i64(recent_from, END - 7 * DAY)
        };
        let active = !(created_at < ts(2026, 1, 1) && rng.chance(P_INACTIVE_OLD));
        shoes.push(Shoe {
            id: 0,
            name,
            brand: brand as u8,
            typ: typ as u8,
            material: material as u8,
            color,
            cluster: cluster as u8,
            price_cents: cents,
            description,
            care,
            lifespan_days,
            active,
            created_at,
            pop: 0.0,
        });
    }
    shoes.sort_by_key(|s| s.created_at);
    for (i, s) in shoes.iter_mut().enumerate() {
        s.id = i as u32 + 1;
    }
    // Zipf popularity: a random rank within each type.
    for t in 0..TYPES.len() {
        let mut idx: Vec<usize> = (0..n).filter(|&i| shoes[i].typ as usize == t).collect();
        // Fisher-Yates.
        for i in (1..idx.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            idx.swap(i, j);
        }
        for (rank, &i) in idx.iter().enumerate() {
            shoes[i].pop = (rank as f64 + ZIPF_OFFSET).powf(-ZIPF_S);
        }
    }
    shoes
}

// ---------------------------------------------------------------------------------------------
// Interactions

/// Sampling tables over shoe ids.
pub struct Tables {
    /// [type][age band 0..=5]: popularity x availability x age-band price tilt x brand appeal.
    pop: Vec<Option<Alias>>,
    /// [type][cluster]
    cluster: Vec<Option<Alias>>,
    /// [brand][type]
    brand: Vec<Option<Alias>>,
    /// [type][material]
    material: Vec<Option<Alias>>,
    /// created_at per shoe id (index id-1).
    created: Vec<i64>,
}

#[allow(clippy::needless_range_loop)]
pub fn build_tables(shoes: &[Shoe]) -> Tables {
    let nt = TYPES.len();
    let avail: Vec<f64> = shoes
        .iter()
        .map(|s| (END - s.created_at.max(START)) as f64 / (END - START) as f64)
        .collect();
    let base: Vec<f64> = shoes.iter().zip(&avail).map(|(s, a)| s.pop * a).collect();
    let build = |filter: &dyn Fn(&Shoe) -> bool, weight: &dyn Fn(usize) -> f64| -> Option<Alias> {
        let mut items = Vec::new();
        let mut w = Vec::new();
        for (i, s) in shoes.iter().enumerate() {
            if filter(s) {
                items.push(s.id);
                w.push(weight(i));
            }
        }
        Alias::new(&items, &w)
    };
    let mut pop = Vec::new();
    for t in 0..nt {
        for band in 0..6 {
            pop.push(build(&|s| s.typ as usize == t, &|i| {
                let s = &shoes[i];
                let price = s.price_cents as f64 / 100.0;
                let tilt = (price / TYPE_BASE_PRICE[t]).powf(PRICE_GAMMA[band]);
                let appeal = if band < 5 {
                    BRANDS[s.brand as usize].age[band]
                } else {
                    1.0
                };
                base[i] * tilt * appeal
            }));
        }
    }
    let mut cluster = Vec::new();
    for t in 0..nt {
        for c in 0..CLUSTERS {
            cluster.push(build(
                &|s| s.typ as usize == t && s.cluster as usize == c,
                &|i| base[i],
            ));
        }
    }
    let mut brand = Vec::new();
    for b in 0..BRANDS.len() {
        for t in 0..nt {
            brand.push(build(
                &|s| s.brand as usize == b && s.typ as usize == t,
                &|i| base[i],
            ));
        }
    }
    let mut material = Vec::new();
    for t in 0..nt {
        for m in 0..MATERIALS.len() {
            material.push(build(
                &|s| s.typ as usize == t && s.material as usize == m,
                &|i| base[i],
            ));
        }
    }
    Tables {
        pop,
        cluster,
        brand,
        material,
        created: shoes.iter().map(|s| s.created_at).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Hidden taste (the behaviour model of one user)

/// A user's planted (hidden) taste: what [`gen_user_interactions`] draws for the user before any
/// interaction, from the user's own PRNG stream. Type, brand, material and cluster values are
/// indexes into `TYPES`, `BRANDS`, `MATERIALS` and `0..CLUSTERS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taste {
    /// The real primary usage (= `User::hidden_type`, also for users whose primary_usage is NULL).
    pub primary: usize,
    /// Secondary type: drawn from the user's age band usage mix without the primary.
    pub secondary: usize,
    /// Favourite brand #1 (weight: the brand's lean on the primary type x its age appeal).
    pub fav1: usize,
    /// Favourite brand #2 (the same for the secondary type; never `fav1`).
    pub fav2: usize,
    /// Latent taste cluster per type.
    pub fav_cluster: [usize; 5],
    /// Favourite material per type (from the type's material mix).
    pub fav_mat: [usize; 5],
}

/// The planted taste of user `u` of the data generated with `seed`: exactly the taste
/// [`gen_user_interactions`] uses (the same random numbers of the same stream, in the same
/// order). Users without interactions (the "new" users) get the taste they would have had:
/// the generator never draws it for them, so it is planted only in the sense that it is fixed by
/// the seed.
pub fn taste(u: &User, seed: u64) -> Taste {
    let mut rng = Rng::new(seed, STREAM_INTER, u.id as u64);
    draw_taste(u, &mut rng)
}

/// Draws the taste from the user's interaction stream (the first draws of that stream).
fn draw_taste(u: &User, rng: &mut Rng) -> Taste {
    let band = u.band as usize;
    let band_known = if band < 5 { Some(band) } else { None };
    let primary = u.hidden_type as usize;
    // Secondary type: from the band's usage mix, excluding the primary type.
    let mut sec_w = USAGE_BY_BAND[band];
    sec_w[primary] = 0.0;
    let secondary = rng.weighted(&sec_w);
    // Favourite brands: leaning on the primary (fav1) and secondary (fav2) type, times age appeal.
    let brand_w = |t: usize, excl: Option<usize>| -> Vec<f64> {
        BRANDS
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if Some(i) == excl {
                    0.0
                } else {
                    b.lean[t] * band_known.map_or(1.0, |k| b.age[k])
                }
            })
            .collect()
    };
    let fav1 = rng.weighted(&brand_w(primary, None));
    let mut w2 = brand_w(secondary, Some(fav1));
    if w2.iter().all(|w| *w == 0.0) {
        w2 = brand_w(primary, Some(fav1));
    }
    let fav2 = rng.weighted(&w2);
    // Latent taste cluster and favourite material for every type.
    let mut fav_cluster = [0usize; 5];
    let mut fav_mat = [0usize; 5];
    for t in 0..5 {
        fav_cluster[t] = rng.below(CLUSTERS as u64) as usize;
        fav_mat[t] = rng.weighted(&MATERIAL_BY_TYPE[t]);
    }
    Taste {
        primary,
        secondary,
        fav1,
        fav2,
        fav_cluster,
        fav_mat,
    }
}

/// The probability, under the generator's behaviour model, that an engagement of user `t` is
/// *eligible* to land on `shoe`: the probability that the engagement's type is the shoe's type,
/// times the probability that the source drawn for it is a pool that contains the shoe.
///
/// It mirrors the two draws of [`gen_user_interactions`], with its constants:
///
/// - type: `P_PRIMARY_TYPE` (0.70) for the primary type, `P_SECONDARY_TYPE` (0.18) for the
///   secondary, and the rest (0.12) spread over `TYPE_MIX` without the primary (the secondary
///   gets a share of that too, as in the generator);
/// - source within the type: the popularity pool (probability 1 - `P_SRC_CLUSTER` -
///   `P_SRC_BRAND` - `P_SRC_MATERIAL` = 0.35) contains every shoe of the type; the cluster pool
///   (`P_SRC_CLUSTER`, 0.35) only shoes of the user's cluster for that type; the brand pool
///   (`P_SRC_BRAND`, 0.20) shoes of favourite brand #1 (`P_FAV_BRAND1`, 70% of it) or #2 (30%);
///   when that brand makes no shoe of the type (its lean is 0) the generator falls back to the
///   popularity pool, so that share counts for every shoe; the material pool
///   (`P_SRC_MATERIAL`, 0.10) shoes of the user's favourite material for the type.
///
/// The matches add up: a primary-type shoe that matches nothing scores 0.70 x 0.35 = 0.245, one
/// in the user's cluster 0.49, one that also has favourite brand #1 and material 0.658 (0.70,
/// the maximum, when brand #2 makes no shoe of the type, so its share falls back to popularity
/// and counts for every shoe); a shoe of a type that is neither primary nor secondary scores at
/// most 0.12 x 0.27 / 0.72 = 0.045 (casual for a runner).
/// What it leaves out: pool sizes and popularity (within a pool the generator picks by
/// popularity x availability, so a small pool concentrates more probability on each of its
/// shoes), the age-band price tilt and brand appeal of the popularity pool, and the fallback of
/// an empty cluster or material pool (only possible in tiny catalogues).
pub fn affinity(t: &Taste, shoe: &Shoe) -> f64 {
    let ty = shoe.typ as usize;
    let mut other_w = TYPE_MIX;
    other_w[t.primary] = 0.0;
    let other_total: f64 = other_w.iter().sum();
    let p_other = 1.0 - P_PRIMARY_TYPE - P_SECONDARY_TYPE;
    let mut p_type = p_other * other_w[ty] / other_total;
    if ty == t.primary {
        p_type += P_PRIMARY_TYPE;
    }
    if ty == t.secondary {
        p_type += P_SECONDARY_TYPE;
    }
    let p_pop = 1.0 - P_SRC_CLUSTER - P_SRC_BRAND - P_SRC_MATERIAL;
    let mut p_src = p_pop;
    if shoe.cluster as usize == t.fav_cluster[ty] {
        p_src += P_SRC_CLUSTER;
    }
    for (b, share) in [(t.fav1, P_FAV_BRAND1), (t.fav2, 1.0 - P_FAV_BRAND1)] {
        if BRANDS[b].lean[ty] == 0.0 || shoe.brand as usize == b {
            p_src += P_SRC_BRAND * share;
        }
    }
    if shoe.material as usize == t.fav_mat[ty] {
        p_src += P_SRC_MATERIAL;
    }
    p_type * p_src
}

/// Generates one user's interactions (appends packed records to `out`).
/// Uses only the user's own PRNG stream, so users are independent of each other.
pub fn gen_user_interactions(
    u: &User,
    tables: &Tables,
    seed: u64,
    sessions: &mut Vec<i64>,
    out: &mut Vec<Packed>,
) {
    if u.n_inter == 0 {
        return;
    }
    let mut rng = Rng::new(seed, STREAM_INTER, u.id as u64);
    let band = u.band as usize;
    let taste = draw_taste(u, &mut rng);
    let Taste {
        primary,
        secondary,
        fav1,
        fav2,
        fav_cluster,
        fav_mat,
    } = taste;
    // Sessions: uniform over the user's active window.
    let lo_u = (u.created_at + 60).max(START);
    let last = END - 3 * 3600;
    let n_sess = 1 + (u.n_inter as usize) / 6;
    sessions.clear();
    for _ in 0..n_sess {
        sessions.push(rng.range_i64(lo_u, last));
    }
    let mut other_w = TYPE_MIX;
    other_w[primary] = 0.0;

    let mut budget = u.n_inter;
    let uid = u.id;
    while budget > 0 {
        let r = rng.f64();
        let t = if r < P_PRIMARY_TYPE {
            primary
        } else if r < P_PRIMARY_TYPE + P_SECONDARY_TYPE {
            secondary
        } else {
            rng.weighted(&other_w)
        };
        let s = rng.f64();
        let pop = || tables.pop[t * 6 + band].as_ref();
        let table = if s < P_SRC_CLUSTER {
            tables.cluster[t * CLUSTERS + fav_cluster[t]]
                .as_ref()
                .or_else(pop)
        } else if s < P_SRC_CLUSTER + P_SRC_BRAND {
            let b = if rng.chance(P_FAV_BRAND1) { fav1 } else { fav2 };
            tables.brand[b * 5 + t].as_ref().or_else(pop)
        } else if s < P_SRC_CLUSTER + P_SRC_BRAND + P_SRC_MATERIAL {
            tables.material[t * MATERIALS.len() + fav_mat[t]]
                .as_ref()
                .or_else(pop)
        } else {
            pop()
        };
        let Some(table) = table else {
            // No shoe of this type at all (only possible in tiny catalogues): try again.
            continue;
        };
        let shoe = table.sample(&mut rng);
        let lo = lo_u.max(tables.created[shoe as usize - 1] + 60);
        let hi = last + 1800;
        let mut t0 = sessions[rng.below(n_sess as u64) as usize] + rng.below(1800) as i64;
        if t0 < lo {
            t0 = rng.range_i64(lo, hi);
        }
        out.push(pack(t0, uid, shoe, VIEW));
        budget -= 1;
        if budget > 0 && rng.chance(P_REVIEW) {
            let tv = t0 + rng.log_delay(60, (7 * DAY).min((END - t0) / 2));
            out.push(pack(tv, uid, shoe, VIEW));
            budget -= 1;
        }
        let mut tmax = t0;
        let wished = budget > 0 && rng.chance(P_WISHLIST);
        if wished {
            let tw = t0 + rng.log_delay(60, (7 * DAY).min((END - t0) / 2));
            out.push(pack(tw, uid, shoe, WISH));
            budget -= 1;
            tmax = tw;
        }
        let p = if wished {
            P_PURCHASE_AFTER_WISH
        } else {
            P_PURCHASE_NO_WISH
        };
        if budget > 0 && rng.chance(p) {
            let tp = tmax + rng.log_delay(60, (7 * DAY).min((END - tmax) / 2));
            out.push(pack(tp, uid, shoe, PURCHASE));
            budget -= 1;
        }
    }
}

/// All interactions, sorted by (time, user, shoe, action); interaction_id = position + 1.
pub fn gen_interactions(users: &[User], shoes: &[Shoe], seed: u64, total: u64) -> Vec<Packed> {
    let tables = build_tables(shoes);
    let mut out: Vec<Packed> = Vec::with_capacity(total as usize);
    let mut sessions = Vec::new();
    for u in users {
        gen_user_interactions(u, &tables, seed, &mut sessions, &mut out);
    }
    out.sort_unstable();
    out
}

// ---------------------------------------------------------------------------------------------
// Summary

pub struct Summary {
    pub per_action: [u64; 3],
    pub with_usage: u64,
    pub match_usage: u64,
    pub match_hidden: u64,
    pub users_without: u64,
    pub max_per_user: u32,
    pub inactive_shoes: u64,
}

pub fn summarize(users: &[User], shoes: &[Shoe], inter: &[Packed]) -> Summary {
    let mut per_action = [0u64; 3];
    let (mut with_usage, mut match_usage, mut match_hidden) = (0u64, 0u64, 0u64);
    for &p in inter {
        let (_, uid, sid, a) = unpack(p);
        per_action[a as usize] += 1;
        let u = &users[uid as usize - 1];
        let s = &shoes[sid as usize - 1];
        if s.typ == u.hidden_type {
            match_hidden += 1;
        }
        if u.usage_visible {
            with_usage += 1;
            if s.typ == u.hidden_type {
                match_usage += 1;
            }
        }
    }
    Summary {
        per_action,
        with_usage,
        match_usage,
        match_hidden,
        users_without: users.iter().filter(|u| u.n_inter == 0).count() as u64,
        max_per_user: users.iter().map(|u| u.n_inter).max().unwrap_or(0),
        inactive_shoes: shoes.iter().filter(|s| !s.active).count() as u64,
    }
}
