//! Benchmark of `randomized_svd` on a random sparse "ratings" matrix.
//!
//! ```text
//! cargo run --release --example svd_bench -- [users] [shoes] [nnz_per_user] [k]
//! /usr/bin/time -v target/release/examples/svd_bench 1000000 100000 20 64
//! ```
//! With a file instead, `svd_bench FILE.csv [k]`, the matrix is read from `user,shoe,value` lines
//! (any integer ids; e.g. `\copy (SELECT user_id, shoe_id, sum(weight) ...) TO 'FILE.csv' CSV`
//! from a benchmark database), so the kernels can be timed on real data.
//!
//! Defaults: 1,000,000 users × 100,000 shoes, 20 ratings per user on average
//! (≈ 20M non-zeros), k = 64. Shoe popularity is skewed (a few shoes get many
//! ratings), like real interaction data. Prints the time of each step
//! (measured between `checkpoint` calls) and the total.

use std::time::Instant;

use reco_core::{randomized_svd, Rng, SvdParams};
use sprs::CsMat;

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let t0 = Instant::now();
    let (a, k) = if raw.first().is_some_and(|f| f.ends_with(".csv")) {
        let k = raw.get(1).map_or(64, |v| v.parse().expect("numeric k"));
        (read_csv(&raw[0]), k)
    } else {
        let args: Vec<usize> = raw
            .iter()
            .map(|a| a.parse().expect("numeric argument"))
            .collect();
        let m = args.first().copied().unwrap_or(1_000_000);
        let n = args.get(1).copied().unwrap_or(100_000);
        let per_user = args.get(2).copied().unwrap_or(20);
        (
            random_ratings(m, n, per_user, 1),
            args.get(3).copied().unwrap_or(64),
        )
    };
    println!(
        "matrix {} x {}, nnz = {} in {:.2?}",
        a.rows(),
        a.cols(),
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

/// A CSR matrix from `row_id,col_id,value` lines; ids are numbered in order of appearance and
/// repeated cells are summed.
fn read_csv(path: &str) -> CsMat<f32> {
    use std::collections::HashMap;
    let text = std::fs::read_to_string(path).expect("readable CSV file");
    let (mut rows, mut cols) = (HashMap::new(), HashMap::new());
    let mut cells = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split(',');
        let mut next = || f.next().expect("three fields").trim().to_string();
        let (r, c, v) = (next(), next(), next());
        let n = rows.len();
        let r = *rows.entry(r).or_insert(n);
        let n = cols.len();
        let c = *cols.entry(c).or_insert(n);
        cells.push((r, c, v.parse::<f32>().expect("numeric value")));
    }
    let mut tri = sprs::TriMat::with_capacity((rows.len(), cols.len()), cells.len());
    for (r, c, v) in cells {
        tri.add_triplet(r, c, v);
    }
    tri.to_csr()
}
