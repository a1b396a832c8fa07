//! Randomized truncated SVD of a sparse matrix (Halko, Martinsson & Tropp,
//! "Finding structure with randomness", SIAM Review 2011, Alg. 4.4 + 5.1).
//!
//! Pipeline for `A` (m × n, CSR), target rank `k`, sketch width
//! `l = min(k + oversample, m, n)`:
//!
//! 1. `Ω` ~ Gaussian (n × l); `Y = AΩ`; `Q = orth(Y)`.
//! 2. `power_iters` times: `Z = orth(AᵀQ)`, `Q = orth(AZ)`. Orthonormalising
//!    after every half step keeps the basis from collapsing onto the top
//!    singular vector (subspace iteration rather than plain powering).
//! 3. `Bᵀ = AᵀQ` (n × l), i.e. `B = QᵀA`.
//! 4. Small SVD of `B`: `Bᵀ = Q₂C` with `Q₂ = orth(Bᵀ)`, `C = Q₂ᵀBᵀ` (l × l);
//!    one-sided Jacobi on `Cᵀ` gives `CᵀW = X` with orthogonal `W` and
//!    orthogonal columns of `X`, so `A ≈ QB = (QX)(Q₂W)ᵀ`. Hence
//!    `user_factors = QX` (= U·diag(s)) and `shoe_factors = Q₂W` (= V). No
//!    division by a singular value is needed anywhere, so tiny or zero singular
//!    values cannot produce NaN, and `V` is orthonormal by construction.
//!
//! `orth` is SVQB (Stathopoulos & Wu 2002) applied twice: with `G = YᵀY`,
//! `D = diag(G)^-½`, eigen-decompose `DGD = WΛWᵀ` and set `Q = Y·D·W·Λ^-½`,
//! dropping directions whose eigenvalue is below `1e-10·λmax` (singular value
//! ratio < 1e-5, i.e. numerically outside the range of the f32 data). The
//! second pass restores orthogonality lost to rounding in the first (as in
//! CholeskyQR2). It costs two O(rows·l²) parallel passes over the tall
//! matrix and, unlike Cholesky-QR, does not break down on rank-deficient
//! input. When the input has numerical rank below `k`, the missing components
//! are returned with singular value 0, a zero `user_factors` column and a
//! `shoe_factors` column completed to keep `V` orthonormal.
//!
//! Storage: `A`, its transpose (built once, u32 indices) and the tall m × l /
//! n × l matrices are `f32`; all l × l algebra and every accumulation is `f64`.

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use sprs::CsMat;

use crate::linalg::{
    cross_gram, gram, mul_small, mul_small_inplace, one_sided_jacobi, spmm, sym_eigen, transpose,
    CsrRef,
};
use crate::rng::Rng;

/// Parameters of [`randomized_svd`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvdParams {
    /// Target rank (number of latent factors).
    pub k: usize,
    /// Extra sketch columns beyond `k` (Halko et al. recommend 5–10).
    pub oversample: usize,
    /// Number of subspace (power) iterations; 2–4 is plenty for the slowly
    /// decaying spectra of rating matrices.
    pub power_iters: usize,
    /// Seed of the Gaussian test matrix; same seed → same result.
    pub seed: u64,
}

impl Default for SvdParams {
    fn default() -> Self {
        SvdParams {
            k: 64,
            oversample: 10,
            power_iters: 4,
            seed: 42,
        }
    }
}

/// Result of [`randomized_svd`]: `A ≈ user_factors · shoe_factorsᵀ`.
#[derive(Clone, Debug)]
pub struct TruncatedSvd {
    /// m × k' matrix `U·diag(s)`.
    pub user_factors: Array2<f32>,
    /// n × k' matrix `V` with orthonormal columns.
    pub shoe_factors: Array2<f32>,
    /// The k' singular values, descending (trailing zeros if rank(A) < k').
    pub singular_values: Vec<f64>,
    /// Captured energy `Σ s² / ‖A‖²_F` in [0, 1]; 0 for an all-zero `A`.
    pub energy: f64,
}

/// SVQB drops directions whose Gram eigenvalue is below this fraction of the
/// largest one (singular-value ratio 1e-5, ~100× the f32 rounding level).
const DROP_REL: f64 = 1e-10;

/// Squared Frobenius norm `Σ a_ij²`, accumulated in `f64`.
pub fn frobenius_norm_sq(a: &CsMat<f32>) -> f64 {
    a.data()[..a.nnz()]
        .iter()
        .map(|&v| {
            let v = v as f64;
            v * v
        })
        .sum()
}

/// Randomized truncated SVD of a sparse m × n matrix; see the module docs.
///
/// Returns k' = min(k, m, n) components. `checkpoint` is invoked on the
/// calling thread between the major steps (never from a rayon worker), so it
/// may be used for cancellation checks and may unwind.
///
/// A CSC input is accepted but first converted to CSR (one extra copy). A
/// matrix containing NaN or infinite values is treated like an all-zero one
/// (zero singular values, energy 0) rather than propagating NaN.
pub fn randomized_svd(a: &CsMat<f32>, p: &SvdParams, checkpoint: &mut dyn FnMut()) -> TruncatedSvd {
    let (m, n) = (a.rows(), a.cols());
    let k = p.k.min(m).min(n);
    let l = p.k.saturating_add(p.oversample).min(m).min(n);
    checkpoint();
    if k == 0 {
        return TruncatedSvd {
            user_factors: Array2::zeros((m, 0)),
            shoe_factors: Array2::zeros((n, 0)),
            singular_values: Vec::new(),
            energy: 0.0,
        };
    }

    let csr_copy;
    let a = if a.is_csr() {
        a
    } else {
        csr_copy = a.to_csr();
        &csr_copy
    };
    let fro2 = frobenius_norm_sq(a);
    let indptr = a.proper_indptr();
    let nnz = a.nnz();
    let a_ref = CsrRef {
        rows: m,
        cols: n,
        indptr: &indptr,
        indices: &a.indices()[..nnz],
        data: &a.data()[..nnz],
    };

    // Row-major k-column coefficient matrices mapping the final bases (Q and
    // Q₂) to the factors; columns past the numerical rank stay zero.
    let mut user_factors = vec![0f32; m * k];
    let mut shoe_factors = vec![0f32; n * k];
    let mut singular_values = vec![0f64; k];
    let mut found = 0usize; // components actually recovered (≤ k)

    if fro2 > 0.0 && fro2.is_finite() {
        // Two independent single-threaded steps: build Aᵀ and draw Ω (one seeded stream, so
        // sequential) side by side.
        let (at, omega) = rayon::join(
            || transpose(a_ref),
            || {
                let mut rng = Rng::new(p.seed);
                (0..n * l)
                    .map(|_| rng.normal() as f32)
                    .collect::<Vec<f32>>()
            },
        );
        checkpoint();
        // The tall m × c bases Y are never orthonormalised explicitly: the SVQB coefficients
        // of Y (c × r, from its Gram matrix) are carried along instead, Q = Y·M, and applied
        // on the short side, AᵀQ = (AᵀY)·M, or folded into the final factors. That saves a
        // tall m × c × c product per step; AᵀY is kept in f64 because M amplifies its
        // rounding by up to cond(Y).
        //
        // Inside the iterations the Gram matrix of Y = A·Z is taken from the short side,
        // YᵀY = Zᵀ(AᵀY), with AᵀY computed anyway: an n × c instead of an m × c product. It
        // differs from the Gram matrix of the stored f32 Y by about eps32·cond(Y)² relative
        // to its smallest eigenvalues, which only perturbs the next basis (re-orthonormalised
        // explicitly on the short side). The Q that the factors come from needs the exact
        // Gram matrix of the stored Y, so the last one is computed from Y itself.
        let mut y: Vec<f32> = spmm(a_ref, &omega, l);
        let mut cy = l;
        let mut z = omega; // Y = A·Z
        checkpoint();
        let mut r = cy;
        for _ in 0..p.power_iters {
            let aty: Vec<f64> = spmm(at.view(), &y, cy);
            drop(y); // release the tall buffer before allocating the next one
            checkpoint();
            let mut g = cross_gram(&z, cy, &aty, cy);
            symmetrize(&mut g, cy);
            let my;
            (my, r) = svqb_coefficients(&g, cy, false);
            if r == 0 {
                y = Vec::new();
                break;
            }
            let zn = mul_small(&aty, cy, &my, r);
            drop(aty);
            let rz;
            (z, rz) = orthonormalize(zn, r, false);
            checkpoint();
            y = spmm(a_ref, &z, rz);
            cy = rz;
            checkpoint();
        }
        drop(z);
        let mut my = Vec::new();
        if r > 0 {
            (my, r) = svqb_coefficients(&gram(&y, cy), cy, true);
        }
        checkpoint();

        if r > 0 {
            // Bᵀ = AᵀQ (n × r), then Bᵀ = Q₂·C.
            let aty: Vec<f64> = spmm(at.view(), &y, cy);
            drop(at);
            let bt = mul_small(&aty, cy, &my, r);
            drop(aty);
            checkpoint();
            let (q2, r2) = orthonormalize(bt.clone(), r, true);
            checkpoint();
            let c = cross_gram(&q2, r2, &bt, r); // r2 × r, row-major
            drop(bt);

            // Columns of Cᵀ are the rows of C.
            let mut xcols: Vec<Vec<f64>> =
                (0..r2).map(|j| c[j * r..(j + 1) * r].to_vec()).collect();
            let w = one_sided_jacobi(&mut xcols); // r2 × r2
            let sigma: Vec<f64> = xcols
                .iter()
                .map(|col| col.iter().map(|x| x * x).sum::<f64>().sqrt())
                .collect();
            let mut order: Vec<usize> = (0..r2).collect();
            order.sort_by(|&i, &j| sigma[j].total_cmp(&sigma[i]).then(i.cmp(&j)));
            found = k.min(r2);

            let mut mu = vec![0f64; r * k];
            let mut mv = vec![0f64; r2 * k];
            for (t, &j) in order.iter().take(found).enumerate() {
                singular_values[t] = sigma[j];
                for i in 0..r {
                    mu[i * k + t] = xcols[j][i];
                }
                for i in 0..r2 {
                    mv[i * k + t] = w[i * r2 + j];
                }
            }
            checkpoint();
            shoe_factors = mul_small(&q2, r2, &mv, k);
            drop(q2);
            // user_factors = Q·mu = Y·(M·mu).
            user_factors = mul_small(&y, cy, &matmul_small(&my, cy, r, &mu, k), k);
            checkpoint();
        }
    }

    // Zero singular values contribute nothing; count them as "not found" so
    // that their V columns get a well-defined orthonormal completion.
    while found > 0 && singular_values[found - 1] == 0.0 {
        found -= 1;
    }
    if found < k {
        complete_orthonormal_columns(&mut shoe_factors, n, k, found, p.seed);
        checkpoint();
    }

    let captured: f64 = singular_values.iter().map(|s| s * s).sum();
    let energy = if fro2 > 0.0 && fro2.is_finite() {
        (captured / fro2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    TruncatedSvd {
        user_factors: Array2::from_shape_vec((m, k), user_factors).expect("shape"),
        shoe_factors: Array2::from_shape_vec((n, k), shoe_factors).expect("shape"),
        singular_values,
        energy,
    }
}

/// Returns `(Q, r)` with `Q` row-major rows × r, `r ≤ c`, whose columns span
/// the numerical range of `Y` (rows × c). With `full`, two SVQB passes make
/// the columns orthonormal to f32 working precision; one pass leaves an
/// orthogonality error of about `eps·cond(Y)`, harmless for intermediate
/// subspace-iteration bases.
fn orthonormalize(y: Vec<f32>, c: usize, full: bool) -> (Vec<f32>, usize) {
    let (q, r) = svqb(y, c);
    if full {
        svqb(q, r)
    } else {
        (q, r)
    }
}

/// One SVQB pass (see module docs) on an explicit tall matrix.
fn svqb(mut y: Vec<f32>, c: usize) -> (Vec<f32>, usize) {
    if c == 0 {
        return (Vec::new(), 0);
    }
    let (m, r) = svqb_pass(&gram(&y, c), c);
    if r == c {
        mul_small_inplace(&mut y, c, &m);
        (y, c)
    } else {
        (mul_small(&y, c, &m, r), r)
    }
}

/// SVQB coefficients of a tall `Y` (rows × c) from its Gram matrix `g = YᵀY`: returns
/// `(M, r)`, M c × r row-major, such that `Y·M` has orthonormal columns spanning the
/// numerical range of Y. With `full`, a second pass is made on the Gram matrix of `Y·M`,
/// `MᵀGM`, computed in f64 without forming `Y·M`; it corrects the eigensolver's rounding, the
/// role the second explicit pass plays in [`orthonormalize`].
fn svqb_coefficients(g: &[f64], c: usize, full: bool) -> (Vec<f64>, usize) {
    if c == 0 {
        return (Vec::new(), 0);
    }
    let (m1, r1) = svqb_pass(g, c);
    if !full || r1 == 0 {
        return (m1, r1);
    }
    let gm1 = matmul_small(g, c, c, &m1, r1); // c × r1
    let mut g2 = vec![0f64; r1 * r1];
    for i in 0..r1 {
        for j in 0..r1 {
            g2[i * r1 + j] = (0..c).map(|t| m1[t * r1 + i] * gm1[t * r1 + j]).sum();
        }
    }
    symmetrize(&mut g2, r1);
    let (m2, r2) = svqb_pass(&g2, r1);
    (matmul_small(&m1, c, r1, &m2, r2), r2)
}

/// Replaces the square c × c `g` by `(g + gᵀ)/2`: a Gram matrix computed as a cross product is
/// symmetric only up to rounding.
fn symmetrize(g: &mut [f64], c: usize) {
    for i in 0..c {
        for j in 0..i {
            let v = 0.5 * (g[i * c + j] + g[j * c + i]);
            g[i * c + j] = v;
            g[j * c + i] = v;
        }
    }
}

/// `A·B` for small row-major f64 matrices (a × b times b × c).
fn matmul_small(a: &[f64], rows: usize, inner: usize, b: &[f64], cols: usize) -> Vec<f64> {
    let mut out = vec![0f64; rows * cols];
    for i in 0..rows {
        for t in 0..inner {
            let ait = a[i * inner + t];
            if ait == 0.0 {
                continue;
            }
            for (o, &bv) in out[i * cols..(i + 1) * cols]
                .iter_mut()
                .zip(&b[t * cols..(t + 1) * cols])
            {
                *o += ait * bv;
            }
        }
    }
    out
}

/// The coefficients of one SVQB pass from the Gram matrix `g` (c × c): `M = D·W·Λ^-½`
/// restricted to the kept eigenvalues, c × r.
fn svqb_pass(g: &[f64], c: usize) -> (Vec<f64>, usize) {
    // Diagonal scaling makes the method insensitive to badly scaled columns;
    // an all-zero column gets d = 0 and is dropped with its zero eigenvalue.
    let d: Vec<f64> = (0..c)
        .map(|i| {
            let gii = g[i * c + i];
            if gii > 0.0 {
                1.0 / gii.sqrt()
            } else {
                0.0
            }
        })
        .collect();
    let mut s = g.to_vec();
    for i in 0..c {
        for j in 0..c {
            s[i * c + j] *= d[i] * d[j];
        }
    }
    let (lam, w) = sym_eigen(s, c);
    let lmax = lam.iter().copied().fold(0.0, f64::max);
    let mut keep: Vec<usize> = (0..c)
        .filter(|&j| lmax > 0.0 && lam[j] > DROP_REL * lmax)
        .collect();
    keep.sort_by(|&a, &b| lam[b].total_cmp(&lam[a]).then(a.cmp(&b)));
    let r = keep.len();
    let mut m = vec![0f64; c * r];
    for (t, &j) in keep.iter().enumerate() {
        let scale = 1.0 / lam[j].sqrt();
        for i in 0..c {
            m[i * r + t] = d[i] * w[i * c + j] * scale;
        }
    }
    (m, r)
}

/// Fills columns `from..k` of the row-major n × k matrix `v` with unit vectors
/// orthogonal to all other columns (Gaussian vectors, Gram-Schmidt applied
/// twice). Requires k ≤ n, which `randomized_svd` guarantees.
fn complete_orthonormal_columns(v: &mut [f32], n: usize, k: usize, from: usize, seed: u64) {
    let mut rng = Rng::new(seed ^ 0x5EED_C0DE_0F0E_7A00);
    let mut basis: Vec<Vec<f64>> = (0..from)
        .map(|t| (0..n).map(|i| v[i * k + t] as f64).collect())
        .collect();
    while basis.len() < k {
        let mut g: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        for _pass in 0..2 {
            for b in &basis {
                let coef: f64 = b.iter().zip(&g).map(|(x, y)| x * y).sum();
                for (gi, bi) in g.iter_mut().zip(b) {
                    *gi -= coef * bi;
                }
            }
        }
        let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        // A Gaussian vector is almost surely far from a proper subspace;
        // retry in the (measure-zero, or rounding-induced) degenerate case.
        if norm > 1e-3 {
            g.iter_mut().for_each(|x| *x /= norm);
            basis.push(g);
        }
    }
    for (t, b) in basis.iter().enumerate().skip(from) {
        for i in 0..n {
            v[i * k + t] = b[i] as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::one_sided_jacobi;
    use sprs::TriMat;

    fn csr_from_dense(rows: &[Vec<f64>]) -> CsMat<f32> {
        let m = rows.len();
        let n = rows.first().map_or(0, |r| r.len());
        let mut t = TriMat::new((m, n));
        for (i, r) in rows.iter().enumerate() {
            for (j, &v) in r.iter().enumerate() {
                if v != 0.0 {
                    t.add_triplet(i, j, v as f32);
                }
            }
        }
        t.to_csr()
    }

    /// Reference singular values (descending) by one-sided Jacobi on the
    /// dense matrix — checked against hand-computed values in `linalg`.
    fn reference_singular_values(a: &[Vec<f64>]) -> Vec<f64> {
        let n = a[0].len();
        let mut cols: Vec<Vec<f64>> = (0..n).map(|j| a.iter().map(|r| r[j]).collect()).collect();
        one_sided_jacobi(&mut cols);
        let mut s: Vec<f64> = cols
            .iter()
            .map(|c| c.iter().map(|x| x * x).sum::<f64>().sqrt())
            .collect();
        s.sort_by(|a, b| b.total_cmp(a));
        s
    }

    fn random_sparse(m: usize, n: usize, density: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = Rng::new(seed);
        (0..m)
            .map(|_| {
                (0..n)
                    .map(|_| {
                        if rng.next_f64() < density {
                            rng.normal()
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Sparse matrix of exact rank `rank` (sum of sparse outer products).
    fn low_rank_sparse(m: usize, n: usize, rank: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = Rng::new(seed);
        let us: Vec<Vec<f64>> = (0..rank)
            .map(|_| {
                (0..m)
                    .map(|_| {
                        if rng.next_f64() < 0.4 {
                            rng.normal()
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let vs: Vec<Vec<f64>> = (0..rank)
            .map(|_| {
                (0..n)
                    .map(|_| {
                        if rng.next_f64() < 0.3 {
                            rng.normal()
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let mut a = vec![vec![0.0; n]; m];
        for t in 0..rank {
            for i in 0..m {
                for j in 0..n {
                    a[i][j] += us[t][i] * vs[t][j];
                }
            }
        }
        a
    }

    fn reconstruction_rel_error(a: &[Vec<f64>], s: &TruncatedSvd) -> f64 {
        let (mut err, mut norm) = (0.0, 0.0);
        for (i, row) in a.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let approx: f64 = s
                    .user_factors
                    .row(i)
                    .iter()
                    .zip(s.shoe_factors.row(j))
                    .map(|(&x, &y)| x as f64 * y as f64)
                    .sum();
                err += (v - approx).powi(2);
                norm += v * v;
            }
        }
        (err / norm).sqrt()
    }

    /// max |MᵀM − I| over the columns of `m` (optionally scaled by 1/s).
    fn orthonormality_defect(m: &Array2<f32>, scale: Option<&[f64]>) -> f64 {
        let k = m.ncols();
        let mut worst: f64 = 0.0;
        for a in 0..k {
            for b in 0..k {
                let mut dot: f64 = m
                    .column(a)
                    .iter()
                    .zip(m.column(b))
                    .map(|(&x, &y)| x as f64 * y as f64)
                    .sum();
                if let Some(s) = scale {
                    dot /= s[a] * s[b];
                }
                let target = if a == b { 1.0 } else { 0.0 };
                worst = worst.max((dot - target).abs());
            }
        }
        worst
    }

    fn no_nan(s: &TruncatedSvd) -> bool {
        s.user_factors.iter().all(|x| x.is_finite())
            && s.shoe_factors.iter().all(|x| x.is_finite())
            && s.singular_values.iter().all(|x| x.is_finite())
            && s.energy.is_finite()
    }

    fn params(k: usize) -> SvdParams {
        SvdParams {
            k,
            ..SvdParams::default()
        }
    }

    /// `cols` random orthonormal columns of length `len` (Gram-Schmidt, twice).
    fn random_orthonormal(len: usize, cols: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
        let mut basis: Vec<Vec<f64>> = Vec::new();
        while basis.len() < cols {
            let mut g: Vec<f64> = (0..len).map(|_| rng.normal()).collect();
            for _ in 0..2 {
                for b in &basis {
                    let c: f64 = b.iter().zip(&g).map(|(x, y)| x * y).sum();
                    g.iter_mut().zip(b).for_each(|(gi, bi)| *gi -= c * bi);
                }
            }
            let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
            g.iter_mut().for_each(|x| *x /= norm);
            basis.push(g);
        }
        basis
    }

    #[test]
    fn steep_spectrum_keeps_small_singular_values_accurate() {
        // A = U·diag(s)·Vᵀ with s_i = 1000·0.8^i, i < 30: σ₁/σ₃₀ ≈ 650, so the sketch bases
        // are badly conditioned (cond(Y)² ≈ 4·10⁵), which is where carrying SVQB coefficients
        // instead of orthonormalising explicitly could lose the small components.
        let (m, n, rank) = (300, 150, 30);
        let mut rng = Rng::new(11);
        let u = random_orthonormal(m, rank, &mut rng);
        let v = random_orthonormal(n, rank, &mut rng);
        let sv: Vec<f64> = (0..rank).map(|i| 1000.0 * 0.8f64.powi(i as i32)).collect();
        let a: Vec<Vec<f64>> = (0..m)
            .map(|i| {
                (0..n)
                    .map(|j| (0..rank).map(|t| u[t][i] * sv[t] * v[t][j]).sum())
                    .collect()
            })
            .collect();
        let s = randomized_svd(&csr_from_dense(&a), &params(20), &mut || {});
        assert!(no_nan(&s));
        for (t, (&got, &want)) in s.singular_values.iter().zip(&sv).enumerate() {
            assert!(
                (got - want).abs() < 1e-6 * want,
                "s[{t}] = {got}, want {want}"
            );
        }
        assert!(orthonormality_defect(&s.shoe_factors, None) < 1e-5);
        assert!(orthonormality_defect(&s.user_factors, Some(&s.singular_values)) < 1e-4);
    }

    #[test]
    fn exact_low_rank_is_reconstructed() {
        let a = low_rank_sparse(200, 120, 3, 1);
        let csr = csr_from_dense(&a);
        assert!(csr.nnz() < 200 * 120 / 2, "test matrix should be sparse");
        let s = randomized_svd(&csr, &params(3), &mut || {});
        assert_eq!(s.user_factors.dim(), (200, 3));
        assert_eq!(s.shoe_factors.dim(), (120, 3));
        let err = reconstruction_rel_error(&a, &s);
        assert!(err < 1e-5, "relative reconstruction error {err}");
        assert!((s.energy - 1.0).abs() < 1e-5, "energy {}", s.energy);
        let reference = reference_singular_values(&a);
        for t in 0..3 {
            assert!((s.singular_values[t] - reference[t]).abs() < 1e-5 * reference[0]);
        }
    }

    #[test]
    fn factors_are_orthonormal() {
        let a = random_sparse(300, 150, 0.05, 2);
        let csr = csr_from_dense(&a);
        let s = randomized_svd(&csr, &params(10), &mut || {});
        assert!(no_nan(&s));
        assert!(orthonormality_defect(&s.shoe_factors, None) < 1e-5);
        assert!(orthonormality_defect(&s.user_factors, Some(&s.singular_values)) < 1e-4);
        assert!(s.singular_values.windows(2).all(|w| w[0] >= w[1]));
        assert!(s.energy > 0.0 && s.energy < 1.0);
    }

    #[test]
    fn hand_computed_singular_values() {
        // A permuted diag(3, 2, 1): singular values 3, 2, 1.
        let a = vec![
            vec![0.0, 2.0, 0.0],
            vec![0.0, 0.0, 1.0],
            vec![3.0, 0.0, 0.0],
        ];
        let s = randomized_svd(&csr_from_dense(&a), &params(3), &mut || {});
        for (got, want) in s.singular_values.iter().zip([3.0, 2.0, 1.0]) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        assert!((s.energy - 1.0).abs() < 1e-6);
        assert!(reconstruction_rel_error(&a, &s) < 1e-6);

        // [[3, 0], [4, 5]]: singular values 3√5 and √5.
        let b = vec![vec![3.0, 0.0], vec![4.0, 5.0]];
        let s = randomized_svd(&csr_from_dense(&b), &params(2), &mut || {});
        assert!((s.singular_values[0] - 3.0 * 5f64.sqrt()).abs() < 1e-5);
        assert!((s.singular_values[1] - 5f64.sqrt()).abs() < 1e-5);

        // Rank 1 truncation of the same: keeps the top one, energy 45/50.
        let s = randomized_svd(&csr_from_dense(&b), &params(1), &mut || {});
        assert_eq!(s.singular_values.len(), 1);
        assert!((s.energy - 0.9).abs() < 1e-6);
    }

    #[test]
    fn matches_dense_reference_on_random_matrix() {
        // When l = min(m, n) the sketch spans everything, so all singular
        // values are exact up to f32 rounding.
        let a = random_sparse(40, 25, 0.2, 3);
        let reference = reference_singular_values(&a);
        let s = randomized_svd(&csr_from_dense(&a), &params(25), &mut || {});
        for (got, want) in s.singular_values.iter().zip(&reference) {
            assert!((got - want).abs() < 1e-5 * reference[0], "{got} vs {want}");
        }
        assert!((s.energy - 1.0).abs() < 1e-5);

        // Truncated: top singular values of a matrix with a decaying spectrum
        // are found accurately with the default power iterations.
        let mut a = low_rank_sparse(150, 100, 8, 4);
        for (t, row) in random_sparse(150, 100, 0.05, 5).iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                a[t][j] += 0.01 * v;
            }
        }
        let reference = reference_singular_values(&a);
        let s = randomized_svd(&csr_from_dense(&a), &params(5), &mut || {});
        for (got, want) in s.singular_values.iter().zip(&reference) {
            assert!((got - want).abs() < 1e-4 * want, "{got} vs {want}");
        }
    }

    #[test]
    fn k_is_clamped_to_matrix_size() {
        let a = random_sparse(5, 3, 0.8, 6);
        let s = randomized_svd(&csr_from_dense(&a), &params(10), &mut || {});
        assert_eq!(s.singular_values.len(), 3);
        assert_eq!(s.user_factors.dim(), (5, 3));
        assert_eq!(s.shoe_factors.dim(), (3, 3));
        assert!(reconstruction_rel_error(&a, &s) < 1e-5);

        let empty: CsMat<f32> = CsMat::zero((0, 4));
        let s = randomized_svd(&empty, &params(3), &mut || {});
        assert!(s.singular_values.is_empty() && s.energy == 0.0);
        assert_eq!(s.user_factors.dim(), (0, 0));
        assert_eq!(s.shoe_factors.dim(), (4, 0));
    }

    #[test]
    fn all_zero_matrix() {
        let z: CsMat<f32> = CsMat::zero((20, 10));
        let s = randomized_svd(&z, &params(4), &mut || {});
        assert!(no_nan(&s));
        assert_eq!(s.energy, 0.0);
        assert_eq!(s.singular_values, vec![0.0; 4]);
        assert!(s.user_factors.iter().all(|&x| x == 0.0));
        assert!(orthonormality_defect(&s.shoe_factors, None) < 1e-6);
        assert_eq!(frobenius_norm_sq(&z), 0.0);
    }

    #[test]
    fn rank_deficient_with_k_above_rank() {
        let a = low_rank_sparse(60, 30, 2, 7);
        let s = randomized_svd(&csr_from_dense(&a), &params(5), &mut || {});
        assert!(no_nan(&s));
        assert!(s.singular_values[1] > 0.1);
        for &sv in &s.singular_values[2..] {
            assert!(
                sv < 1e-4 * s.singular_values[0],
                "spurious singular value {sv}"
            );
        }
        assert!((s.energy - 1.0).abs() < 1e-5);
        assert!(orthonormality_defect(&s.shoe_factors, None) < 1e-5);
        assert!(reconstruction_rel_error(&a, &s) < 1e-5);
    }

    #[test]
    fn energy_close_to_one_when_k_equals_rank() {
        let a = low_rank_sparse(100, 80, 6, 8);
        let s = randomized_svd(&csr_from_dense(&a), &params(6), &mut || {});
        assert!((s.energy - 1.0).abs() < 1e-5, "{}", s.energy);
        let s = randomized_svd(&csr_from_dense(&a), &params(3), &mut || {});
        assert!(s.energy < 0.999 && s.energy > 0.3, "{}", s.energy);
    }

    #[test]
    fn frobenius() {
        let a = csr_from_dense(&[vec![1.0, 0.0, -2.0], vec![0.0, 3.0, 0.0]]);
        assert_eq!(frobenius_norm_sq(&a), 14.0);
    }

    #[test]
    fn csc_input_gives_same_result() {
        let a = random_sparse(50, 30, 0.1, 9);
        let csr = csr_from_dense(&a);
        let csc = csr.to_csc();
        let s1 = randomized_svd(&csr, &params(4), &mut || {});
        let s2 = randomized_svd(&csc, &params(4), &mut || {});
        assert_eq!(s1.singular_values, s2.singular_values);
        assert_eq!(s1.shoe_factors, s2.shoe_factors);
    }

    #[test]
    fn deterministic_across_runs_and_thread_counts() {
        // Tall enough that the reductions span several chunks.
        let mut a = low_rank_sparse(5000, 60, 5, 10);
        for (t, row) in random_sparse(5000, 60, 0.05, 12).iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                a[t][j] += 0.01 * v;
            }
        }
        let csr = csr_from_dense(&a);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| randomized_svd(&csr, &params(8), &mut || {}))
        };
        let (s1, s2, s3) = (run(1), run(2), run(3));
        assert_eq!(s1.singular_values, s2.singular_values);
        assert_eq!(s1.singular_values, s3.singular_values);
        assert_eq!(s1.user_factors, s2.user_factors);
        assert_eq!(s1.shoe_factors, s3.shoe_factors);
        let other_seed = randomized_svd(
            &csr,
            &SvdParams {
                seed: 7,
                ..params(8)
            },
            &mut || {},
        );
        // Different sketch, same (well-separated) top singular value.
        assert!(
            (other_seed.singular_values[0] - s1.singular_values[0]).abs()
                < 1e-3 * s1.singular_values[0]
        );
    }

    #[test]
    fn checkpoint_runs_on_calling_thread_and_can_unwind() {
        let a = csr_from_dense(&random_sparse(30, 20, 0.3, 11));
        let me = std::thread::current().id();
        let mut calls = 0;
        randomized_svd(&a, &params(3), &mut || {
            assert_eq!(std::thread::current().id(), me);
            calls += 1;
        });
        assert!(
            calls >= 2 + 4 * SvdParams::default().power_iters,
            "only {calls} checkpoints"
        );

        let result = std::panic::catch_unwind(|| {
            let mut n = 0;
            randomized_svd(&a, &params(3), &mut || {
                n += 1;
                if n == 3 {
                    panic!("query cancelled");
                }
            })
        });
        assert!(result.is_err());
    }
}
