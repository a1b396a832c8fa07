//! Benchmark of `randomized_svd` on a random sparse "ratings" matrix.
//!
//! ```text
//! cargo run --release --example svd_bench -- [users] [shoes] [nnz_per_user] [k]
//! /usr/bin/time -v target/release/examples/svd_bench 1000000 100000 20 64
//! ```
//! Defaults: 1,000,000 users × 100,000 shoes, 20 ratings per user on average
//! (≈ 20M non-zeros), k = 64. Shoe popularity is skewed (a few shoes get many
//! ratings), like real interaction data. Prints the time of each step
//! (measured between `checkpoint` calls) and the total.

use std::time::Instant;

use reco_core::{randomized_svd, Rng, SvdParams};
use sprs::CsMat;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric argument"))
        .collect();
    let m = args.first().copied().unwrap_or(1_000_000);
    let n = args.get(1).copied().unwrap_or(100_000);
    let per_user = args.get(2).copied().unwrap_or(20);
    let k = args.get(3).copied().unwrap_or(64);

    let t0 = Instant::now();
    let a = random_ratings(m, n, per_user, 1);
    println!(
        "generated {m} x {n}, nnz = {} in {:.2?}",
        a.nnz(),
        t0.elapsed()
    );

    let params = SvdParams {
        k,
        ..SvdParams::default()
    };
    let start = Instant::now();
    let mut last = Instant::now();
    let mut step = 0;
    let svd = randomized_svd(&a, &params, &mut || {
        step += 1;
        println!("  checkpoint {step:2}: +{:.2?}", last.elapsed());
        last = Instant::now();
    });
    let total = start.elapsed();
    println!(
        "randomized_svd k={k} oversample={} power_iters={}: {:.2?}",
        params.oversample, params.power_iters, total
    );
    let s = &svd.singular_values;
    println!(
        "s[0] = {:.3}, s[{}] = {:.3}, energy = {:.4}",
        s[0],
        s.len() - 1,
        s[s.len() - 1],
        svd.energy
    );
}

/// CSR matrix with about `per_user` ratings (1..=5) per row; column choice is
/// skewed towards low indices (popular shoes).
fn random_ratings(m: usize, n: usize, per_user: usize, seed: u64) -> CsMat<f32> {
    let mut rng = Rng::new(seed);
    let mut indptr = Vec::with_capacity(m + 1);
    let mut indices = Vec::with_capacity(m * per_user);
    let mut data = Vec::with_capacity(m * per_user);
    indptr.push(0);
    let mut row: Vec<usize> = Vec::new();
    for _ in 0..m {
        let count = 1 + rng.below(2 * per_user as u64 - 1) as usize;
        row.clear();
        for _ in 0..count {
            let u = rng.next_f64();
            row.push(((u * u) * n as f64) as usize);
        }
        row.sort_unstable();
        row.dedup();
        for &j in &row {
            indices.push(j);
            data.push(1.0 + rng.below(5) as f32);
        }
        indptr.push(indices.len());
    }
    CsMat::new((m, n), indptr, indices, data)
}
