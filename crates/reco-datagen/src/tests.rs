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
