//! Invariant tests on the small tier (and a determinism check).

use crate::catalog::*;
use crate::gen::*;
use crate::time::{DAY, END, START};
use std::collections::HashMap;

fn small() -> Tier {
    tier_by_name("small").unwrap()
}

fn render(seed: u64) -> Vec<u8> {
    let t = small();
    let users = gen_users(&t, seed);
    let shoes = gen_shoes(&t, seed);
    let inter = gen_interactions(&users, &shoes, seed, t.interactions);
    let mut v = Vec::new();
    v = crate::csv::write_users(v, &users).unwrap();
    v = crate::csv::write_shoes(v, &shoes).unwrap();
    crate::csv::write_interactions(v, &inter).unwrap()
}

#[test]
fn deterministic() {
    let a = render(42);
    assert_eq!(a, render(42));
    assert_ne!(a, render(43));
}

#[test]
fn invariants_small() {
    let t = small();
    let users = gen_users(&t, 42);
    let shoes = gen_shoes(&t, 42);
    let inter = gen_interactions(&users, &shoes, 42, t.interactions);
    assert_eq!(users.len(), 1000);
    assert_eq!(shoes.len(), 300);
    assert_eq!(inter.len(), 30_000);
    for (i, u) in users.iter().enumerate() {
        assert_eq!(u.id as usize, i + 1);
        if let Some(a) = u.age {
            assert!((16..=75).contains(&a));
        }
        assert!(u.n_inter <= ACTIVITY_CAP);
    }
    for (i, s) in shoes.iter().enumerate() {
        assert_eq!(s.id as usize, i + 1);
        let (lo, hi) = LIFESPAN[s.typ as usize];
        assert!((lo..=hi).contains(&s.lifespan_days));
        assert!(s.created_at <= END - 7 * DAY);
    }
    let new_users = users.iter().filter(|u| u.n_inter == 0).count();
    assert!((25..=80).contains(&new_users), "{new_users}");
    assert!(users
        .iter()
        .filter(|u| u.n_inter == 0)
        .all(|u| u.created_at > END - 46 * DAY));
    let inactive = shoes.iter().filter(|s| !s.active).count();
    assert!((5..=30).contains(&inactive), "{inactive}");

    // First view time per (user, shoe); funnel and time constraints.
    let mut first_view: HashMap<(u32, u32), i64> = HashMap::new();
    let mut prev = 0u128;
    let mut per_user = vec![0u32; users.len()];
    for &p in &inter {
        assert!(p >= prev, "not sorted");
        prev = p;
        let (ts, uid, sid, a) = unpack(p);
        assert!((START..=END).contains(&ts));
        let u = &users[uid as usize - 1];
        let s = &shoes[sid as usize - 1];
        assert!(ts > u.created_at, "interaction before user creation");
        assert!(ts > s.created_at, "interaction before shoe creation");
        per_user[uid as usize - 1] += 1;
        match a {
            VIEW => {
                first_view.entry((uid, sid)).or_insert(ts);
            }
            _ => {
                let v = first_view
                    .get(&(uid, sid))
                    .expect("wishlist/purchase without prior view");
                assert!(*v < ts, "wishlist/purchase not after the view");
            }
        }
    }
    for u in &users {
        assert_eq!(per_user[u.id as usize - 1], u.n_inter);
    }
    let s = summarize(&users, &shoes, &inter);
    let n = inter.len() as f64;
    let wish = s.per_action[WISH as usize] as f64 / n;
    let buy = s.per_action[PURCHASE as usize] as f64 / n;
    assert!((0.10..=0.15).contains(&wish), "wishlist share {wish}");
    assert!((0.05..=0.08).contains(&buy), "purchase share {buy}");
    let m = s.match_usage as f64 / s.with_usage as f64;
    assert!((0.66..=0.76).contains(&m), "type match {m}");
}

/// The exposed taste is the one the interactions were drawn with: for users with many
/// interactions, the most frequent cluster (and brand) of their primary-type shoes is their
/// planted cluster (favourite brand #1) far more often than chance (1 in 6), and the mean
/// affinity of the shoes they interacted with is well above that of random shoes.
#[test]
fn taste_matches_the_interactions() {
    let t = small();
    let users = gen_users(&t, 42);
    let shoes = gen_shoes(&t, 42);
    let inter = gen_interactions(&users, &shoes, 42, t.interactions);
    let mut per_user: Vec<Vec<u32>> = vec![Vec::new(); users.len()];
    for &p in &inter {
        let (_, uid, sid, _) = unpack(p);
        per_user[uid as usize - 1].push(sid);
    }
    let (mut heavy, mut cluster_hits, mut brand_hits) = (0, 0, 0);
    let (mut aff_seen, mut n_seen, mut aff_all, mut n_all) = (0.0, 0u64, 0.0, 0u64);
    for u in &users {
        let ta = taste(u, 42);
        assert_eq!(ta.primary, u.hidden_type as usize);
        assert_ne!(ta.fav1, ta.fav2);
        assert_ne!(ta.primary, ta.secondary);
        for s in &shoes {
            let a = affinity(&ta, s);
            assert!((0.0..=0.70).contains(&a), "affinity {a}");
            aff_all += a;
            n_all += 1;
        }
        let seen = &per_user[u.id as usize - 1];
        for &sid in seen {
            aff_seen += affinity(&ta, &shoes[sid as usize - 1]);
            n_seen += 1;
        }
        if seen.len() < 60 {
            continue;
        }
        heavy += 1;
        let mut by_cluster = [0u32; CLUSTERS];
        let mut by_brand = [0u32; 12];
        for &sid in seen {
            let s = &shoes[sid as usize - 1];
            if s.typ as usize == ta.primary {
                by_cluster[s.cluster as usize] += 1;
                by_brand[s.brand as usize] += 1;
            }
        }
        let argmax = |v: &[u32]| (0..v.len()).max_by_key(|&i| v[i]).unwrap();
        cluster_hits += usize::from(argmax(&by_cluster) == ta.fav_cluster[ta.primary]);
        brand_hits += usize::from(argmax(&by_brand) == ta.fav1);
    }
    assert!(heavy >= 50, "{heavy} heavy users");
    assert!(
        cluster_hits * 10 >= heavy * 8,
        "cluster {cluster_hits}/{heavy}"
    );
    assert!(brand_hits * 10 >= heavy * 5, "brand {brand_hits}/{heavy}");
    let (seen, all) = (aff_seen / n_seen as f64, aff_all / n_all as f64);
    assert!(seen > 2.0 * all, "mean affinity seen {seen} vs all {all}");
}

#[test]
fn affinity_examples() {
    let ta = Taste {
        primary: 0,
        secondary: 2,
        fav1: 0, // Stridewell: running 6, casual 1
        fav2: 7, // Canvas & Co: casual only
        fav_cluster: [1, 0, 2, 0, 0],
        fav_mat: [0, 3, 6, 4, 2],
    };
    let shoes = gen_shoes(&small(), 42);
    let mut s = shoes[0].clone();
    s.typ = 0;
    s.cluster = 5;
    s.brand = 3;
    s.material = 2;
    // Running, nothing matches: 0.70 x (0.35 + 0.20 x 0.30: Canvas & Co makes no running shoe).
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(
        close(affinity(&ta, &s), 0.70 * 0.41),
        "{}",
        affinity(&ta, &s)
    );
    s.cluster = 1;
    s.brand = 0;
    s.material = 0;
    assert!(close(affinity(&ta, &s), 0.70 * 1.0));
    // Hiking (neither primary nor secondary): 0.12 x 0.17 / 0.72 of the type; no match, but
    // neither favourite brand makes hiking shoes, so the brand source falls back to popularity.
    s.typ = 1;
    s.cluster = 5;
    s.brand = 3;
    s.material = 4;
    let p_hiking = 0.12 * 0.17 / 0.72;
    assert!(
        close(affinity(&ta, &s), p_hiking * (0.35 + 0.20)),
        "{}",
        affinity(&ta, &s)
    );
}
