//! Benchmark of the item-item build on a `user,shoe,value[,time]` CSV (e.g. the tier M log with
//! action weights, or a `\copy` of a benchmark database):
//!
//! ```text
//! cargo run --release --example knn_bench -- FILE.csv [neighbours] [max_user_items] [next_weight]
//! /usr/bin/time -v target/release/examples/knn_bench FILE.csv 100 200 8
//! ```
//! Prints the time of the matrix build and of itemknn::build, and the sum of the squared user
//! degrees (the number of multiply-adds before capping). With a time column (any integer ordered
//! as time) and a next_weight > 0 it also times the histories (sequences::Sequences) and builds
//! with "bought next" merged in.

use std::collections::HashMap;
use std::time::Instant;

use reco_core::itemknn::{self, KnnParams, Weighting};
use reco_core::matrix::{csr_from_triplets, Triplets};
use reco_core::sequences::Sequences;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args
        .first()
        .expect("usage: knn_bench FILE.csv [neighbours] [max_user_items]");
    let neighbours = args.get(1).map_or(100, |v| v.parse().expect("numeric"));
    let cap = args.get(2).map_or(200, |v| v.parse().expect("numeric"));
    let next_weight: f32 = args.get(3).map_or(0.0, |v| v.parse().expect("numeric"));
    let t0 = Instant::now();
    let text = std::fs::read_to_string(file).expect("readable file");
    let (mut users, mut shoes) = (HashMap::new(), HashMap::new());
    let mut t = Triplets::default();
    for line in text.lines() {
        let mut f = line.split(',');
        let (Some(u), Some(s), Some(v)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let (Ok(u), Ok(s), Ok(v)) = (u.parse::<i64>(), s.parse::<i64>(), v.parse::<f32>()) else {
            continue;
        };
        let nu = users.len() as u32;
        let r = *users.entry(u).or_insert(nu);
        let ns = shoes.len() as u32;
        let c = *shoes.entry(s).or_insert(ns);
        match f.next().and_then(|k| k.parse::<i64>().ok()) {
            Some(key) => t.push_at(r, c, v, key),
            None => t.push(r, c, v),
        }
    }
    let t2 = Instant::now();
    let seqs = if next_weight > 0.0 {
        t.sequences(users.len(), shoes.len())
    } else {
        Sequences::default()
    };
    if next_weight > 0.0 {
        println!(
            "histories: {} places in {:.3} s",
            seqs.flat.len(),
            t2.elapsed().as_secs_f64()
        );
        let t3 = Instant::now();
        let transitions = reco_core::sequences::Transitions::of(&seqs, shoes.len());
        println!(
            "transitions (inside each build below): {:.3} s",
            t3.elapsed().as_secs_f64()
        );
        drop(transitions);
    }
    let a = csr_from_triplets(users.len(), shoes.len(), t);
    let sq: f64 = a.outer_iterator().map(|r| (r.nnz() as f64).powi(2)).sum();
    println!(
        "matrix {} x {}, {} non-zeros, sum of squared degrees {:.3e}, read in {:.2} s",
        a.rows(),
        a.cols(),
        a.nnz(),
        sq,
        t0.elapsed().as_secs_f64()
    );
    let p = KnnParams {
        neighbours,
        shrinkage: 250.0,
        exponent: 2.0,
        max_user_items: cap,
        weighting: Weighting::Raw,
        next_weight,
    };
    for run in 0..3 {
        let t1 = Instant::now();
        let nb = itemknn::build_with_next_unless(&a, Some(&seqs), &p, &mut || false)
            .expect("not stopped");
        // A digest of every list (ids and similarity bits, in order), so two builds can be
        // checked for identical output.
        let digest = nb
            .items
            .iter()
            .zip(&nb.weights)
            .chain(std::iter::once((&0, &0.0)))
            .fold(0xcbf29ce484222325u64, |h, (&j, &w)| {
                (h ^ (u64::from(j) << 32 | u64::from(w.to_bits()))).wrapping_mul(0x100000001b3)
            });
        println!(
            "run {run}: itemknn::build {:.3} s, {} neighbours kept, digest {digest:016x}",
            t1.elapsed().as_secs_f64(),
            nb.items.len()
        );
    }
}
