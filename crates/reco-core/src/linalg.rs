//! Internal numerical kernels shared by the SVD (and usable by tests).
//!
//! Two families live here:
//!
//! * **Tall-matrix kernels** operating on row-major `f32` slices with many rows
//!   (up to millions) and few columns (≤ ~100): sparse × dense products, Gram
//!   matrices, and right-multiplication by a small matrix. These are the hot
//!   loops; they are parallelised with rayon over *fixed-size* row chunks and
//!   accumulate in `f64`. Reductions combine the per-chunk partial results in
//!   chunk order, so the output does not depend on the number of threads or on
//!   scheduling.
//! * **Small dense kernels** on row-major `f64` matrices (a few dozen rows and
//!   columns): cyclic Jacobi symmetric eigensolver and one-sided Jacobi SVD.
//!   Jacobi methods are slow for big matrices but simple, robust and very
//!   accurate, which is what matters at this size.

use rayon::prelude::*;

/// Row chunk used by the parallel reductions. A constant (rather than
/// something derived from the thread count) keeps results deterministic.
const CHUNK_ROWS: usize = 2048;

/// An index type stored in a compressed sparse structure.
pub(crate) trait Idx: Copy + Send + Sync {
    fn ix(self) -> usize;
}
impl Idx for usize {
    #[inline(always)]
    fn ix(self) -> usize {
        self
    }
}
impl Idx for u32 {
    #[inline(always)]
    fn ix(self) -> usize {
        self as usize
    }
}

/// Element type of a tall dense matrix: `f32` for storage, `f64` where a
/// product is immediately multiplied by a badly conditioned small matrix and
/// its rounding would be amplified (see `randomized_svd`).
pub(crate) trait Real: Copy + Send + Sync + Default + Into<f64> + 'static {
    fn from_f64(v: f64) -> Self;
}
impl Real for f32 {
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}
impl Real for f64 {
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
}

/// Borrowed CSR matrix: `indptr` is "proper" (starts at 0, length rows + 1).
#[derive(Clone, Copy)]
pub(crate) struct CsrRef<'a, I: Idx> {
    pub rows: usize,
    pub cols: usize,
    pub indptr: &'a [usize],
    pub indices: &'a [I],
    pub data: &'a [f32],
}

/// Owned CSR matrix with 32-bit column indices; used for Aᵀ, whose column
/// index is a row of A (the user). Halves index memory versus `usize`.
pub(crate) struct Csr32 {
    pub rows: usize,
    pub cols: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub data: Vec<f32>,
}

impl Csr32 {
    pub fn view(&self) -> CsrRef<'_, u32> {
        CsrRef {
            rows: self.rows,
            cols: self.cols,
            indptr: &self.indptr,
            indices: &self.indices,
            data: &self.data,
        }
    }
}

/// Transposes a CSR matrix with a two-pass counting sort (O(nnz + rows +
/// cols)). Within each output row the column indices come out sorted.
pub(crate) fn transpose<I: Idx>(a: CsrRef<'_, I>) -> Csr32 {
    assert!(
        a.rows <= u32::MAX as usize,
        "matrix has more than 2^32 rows; not supported"
    );
    let nnz = a.indptr[a.rows];
    let mut indptr = vec![0usize; a.cols + 1];
    for &j in &a.indices[..nnz] {
        indptr[j.ix() + 1] += 1;
    }
    for j in 0..a.cols {
        indptr[j + 1] += indptr[j];
    }
    let mut next = indptr[..a.cols].to_vec();
    let mut indices = vec![0u32; nnz];
    let mut data = vec![0f32; nnz];
    for i in 0..a.rows {
        for p in a.indptr[i]..a.indptr[i + 1] {
            let j = a.indices[p].ix();
            let dst = next[j];
            next[j] += 1;
            indices[dst] = i as u32;
            data[dst] = a.data[p];
        }
    }
    Csr32 {
        rows: a.cols,
        cols: a.rows,
        indptr,
        indices,
        data,
    }
}

// ---------------------------------------------------------------------------
// SIMD dispatch.
//
// The crate is compiled for the baseline x86-64 target (SSE2), where f64
// arithmetic is only two lanes wide and there is no fused multiply-add. The
// hot kernels are therefore written once, generic over `FUSED`, and each
// entry point calls a copy compiled with AVX2+FMA when the CPU has them
// (checked at run time, cached by std). Results differ between the two paths
// only by rounding (FMA rounds once); on a given machine they are
// deterministic.
// ---------------------------------------------------------------------------

#[inline]
fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `a·b + c`, fused when the caller was compiled with FMA (`FUSED = true`);
/// without hardware FMA `mul_add` would be a slow software call.
#[inline(always)]
fn fmadd<const FUSED: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FUSED {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Register-blocked rank-n update of a 4 × 8 tile:
/// `acc[p][u] += Σ_s x[s·xs + p] · y[s·ys + u]`. The fixed-size arrays let the
/// compiler keep the 32 accumulators in vector registers.
#[inline(always)]
fn rank_update_4x8<const FUSED: bool>(
    x: &[f64],
    xs: usize,
    y: &[f64],
    ys: usize,
    n: usize,
    acc: &mut [[f64; 8]; 4],
) {
    let mut a = *acc;
    for s in 0..n {
        let xv: &[f64; 4] = x[s * xs..s * xs + 4].try_into().unwrap();
        let yv: &[f64; 8] = y[s * ys..s * ys + 8].try_into().unwrap();
        for p in 0..4 {
            for u in 0..8 {
                a[p][u] = fmadd::<FUSED>(xv[p], yv[u], a[p][u]);
            }
        }
    }
    *acc = a;
}

#[inline]
fn round_up8(x: usize) -> usize {
    x.div_ceil(8) * 8
}

/// Rows handled by one task of [`spmm`].
const SPMM_ROWS: usize = 256;

/// `A · X` for sparse `A` (rows × cols) and dense row-major `X` (cols × w).
/// Returns a row-major `rows × w` matrix. Each output row is accumulated in
/// `f64` (rows of Aᵀ for popular items can hold 10⁵+ entries) and is computed
/// by exactly one task, so the result is deterministic. The output is rounded
/// once, to `O`.
pub(crate) fn spmm<I: Idx, O: Real>(a: CsrRef<'_, I>, x: &[f32], w: usize) -> Vec<O> {
    assert_eq!(x.len(), a.cols * w);
    let mut out = vec![O::default(); a.rows * w];
    if w == 0 {
        return out;
    }
    let fast = has_avx2_fma();
    out.par_chunks_mut(w * SPMM_ROWS)
        .enumerate()
        .for_each(|(ci, och)| {
            let first = ci * SPMM_ROWS;
            #[cfg(target_arch = "x86_64")]
            if fast {
                // SAFETY: the CPU supports AVX2 and FMA (checked above).
                unsafe { spmm_rows_avx2(a, x, w, first, och) };
                return;
            }
            let _ = fast;
            spmm_rows::<I, O, false>(a, x, w, first, och);
        });
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn spmm_rows_avx2<I: Idx, O: Real>(
    a: CsrRef<'_, I>,
    x: &[f32],
    w: usize,
    first: usize,
    och: &mut [O],
) {
    spmm_rows::<I, O, true>(a, x, w, first, och)
}

/// Nonzeros of one sparse row handled per pass in [`spmm_rows`]: their rows of `X` (at most
/// 64 × w floats, ~19 KB for w = 74) stay in L1 while each column block walks them.
const SPMM_SEGMENT: usize = 64;

#[inline(always)]
fn spmm_rows<I: Idx, O: Real, const FUSED: bool>(
    a: CsrRef<'_, I>,
    x: &[f32],
    w: usize,
    first: usize,
    och: &mut [O],
) {
    let mut acc = vec![0f64; w];
    for (r, orow) in och.chunks_exact_mut(w).enumerate() {
        let i = first + r;
        let (lo, hi) = (a.indptr[i], a.indptr[i + 1]);
        if lo == hi {
            continue;
        }
        acc.iter_mut().for_each(|v| *v = 0.0);
        // Column blocks with their accumulators in registers (a running sum kept in memory
        // would be loaded and stored once per nonzero and column), over segments of the row
        // so that the rows of X gathered for a segment are still in cache for the next block.
        for seg in (lo..hi).step_by(SPMM_SEGMENT) {
            let end = (seg + SPMM_SEGMENT).min(hi);
            let idx = &a.indices[seg..end];
            let val = &a.data[seg..end];
            // The first pass gathers the rows of X from memory (X can be tens of MB: for AᵀQ it
            // has a row per user); ask for them a few nonzeros ahead so the misses overlap.
            prefetch_rows(idx, x, w, SPMM_PREFETCH.min(idx.len()));
            let mut c0 = 0;
            let mut first_pass = true;
            while c0 + 32 <= w {
                if first_pass {
                    spmm_block::<I, 32, FUSED, true>(idx, val, x, w, c0, &mut acc[c0..c0 + 32]);
                    first_pass = false;
                } else {
                    spmm_block::<I, 32, FUSED, false>(idx, val, x, w, c0, &mut acc[c0..c0 + 32]);
                }
                c0 += 32;
            }
            while c0 + 8 <= w {
                spmm_block::<I, 8, FUSED, false>(idx, val, x, w, c0, &mut acc[c0..c0 + 8]);
                c0 += 8;
            }
            // The last w % 8 columns (2 for the default sketch width 74) also keep their sums
            // in registers: a running sum in memory chains each multiply-add through a store
            // and a load, which made these 2 columns cost as much as the other 72 together.
            for b in [4, 2, 1] {
                if c0 + b <= w {
                    match b {
                        4 => spmm_block::<I, 4, FUSED, false>(
                            idx,
                            val,
                            x,
                            w,
                            c0,
                            &mut acc[c0..c0 + 4],
                        ),
                        2 => spmm_block::<I, 2, FUSED, false>(
                            idx,
                            val,
                            x,
                            w,
                            c0,
                            &mut acc[c0..c0 + 2],
                        ),
                        _ => spmm_block::<I, 1, FUSED, false>(
                            idx,
                            val,
                            x,
                            w,
                            c0,
                            &mut acc[c0..c0 + 1],
                        ),
                    }
                    c0 += b;
                }
            }
            debug_assert_eq!(c0, w);
        }
        for (o, &s) in orow.iter_mut().zip(acc.iter()) {
            *o = O::from_f64(s);
        }
    }
}

/// Nonzeros ahead of the current one whose row of `X` is prefetched.
const SPMM_PREFETCH: usize = 8;

/// Prefetch hint for the rows of `X` of the first `count` nonzeros.
#[inline(always)]
fn prefetch_rows<I: Idx>(idx: &[I], x: &[f32], w: usize, count: usize) {
    for p in &idx[..count] {
        prefetch_row(x, p.ix() * w, w);
    }
}

#[inline(always)]
fn prefetch_row(x: &[f32], start: usize, w: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let row = &x[start..start + w];
        let bytes = w * 4;
        let base = row.as_ptr() as *const i8;
        let mut off = 0;
        while off < bytes {
            // SAFETY: a prefetch is only a hint; the address is inside `row`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.add(off)) };
            off += 64;
        }
        // The row may straddle one more cache line than bytes / 64.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(base.add(bytes - 1)) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, start, w);
}

/// `out[u] += Σ_p val[p] · X[idx[p], c0 + u]` for u < B, with the B sums in registers.
/// With `PREFETCH`, each step also prefetches the row SPMM_PREFETCH nonzeros ahead.
#[inline(always)]
fn spmm_block<I: Idx, const B: usize, const FUSED: bool, const PREFETCH: bool>(
    idx: &[I],
    val: &[f32],
    x: &[f32],
    w: usize,
    c0: usize,
    out: &mut [f64],
) {
    let mut sums = [0f64; B];
    for (n, (p, &v)) in idx.iter().zip(val).enumerate() {
        if PREFETCH {
            if let Some(q) = idx.get(n + SPMM_PREFETCH) {
                prefetch_row(x, q.ix() * w, w);
            }
        }
        let start = p.ix() * w + c0;
        let xr: &[f32; B] = x[start..start + B].try_into().unwrap();
        let v = v as f64;
        for u in 0..B {
            sums[u] = fmadd::<FUSED>(v, xr[u] as f64, sums[u]);
        }
    }
    for (o, s) in out.iter_mut().zip(sums) {
        *o += s;
    }
}

/// Gram matrix `YᵀY` (c × c, row-major `f64`) of a row-major `rows × c` matrix.
///
/// Each chunk of rows is converted to `f64` in small blocks and multiplied
/// with 4 × 8 register tiles; only tiles touching the upper triangle are
/// computed, then mirrored.
pub(crate) fn gram(y: &[f32], c: usize) -> Vec<f64> {
    if c == 0 {
        return Vec::new();
    }
    assert_eq!(y.len() % c, 0);
    let fast = has_avx2_fma();
    let partials: Vec<Vec<f64>> = y
        .par_chunks(c * CHUNK_ROWS)
        .map(|chunk| {
            #[cfg(target_arch = "x86_64")]
            if fast {
                // SAFETY: the CPU supports AVX2 and FMA (checked above).
                return unsafe { gram_chunk_avx2(chunk, c) };
            }
            let _ = fast;
            gram_chunk::<false>(chunk, c)
        })
        .collect();
    let cp = round_up8(c);
    let total = sum_in_order(partials, cp * cp);
    let mut g = vec![0f64; c * c];
    for i in 0..c {
        for j in i..c {
            g[i * c + j] = total[i * cp + j];
            g[j * c + i] = total[i * cp + j];
        }
    }
    g
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gram_chunk_avx2(chunk: &[f32], c: usize) -> Vec<f64> {
    gram_chunk::<true>(chunk, c)
}

/// Rows converted to `f64` at a time inside a Gram chunk (fits in L1/L2).
const GRAM_BLOCK: usize = 64;

/// Upper-triangle tiles of `chunkᵀ·chunk`, as a padded cp × cp matrix.
#[inline(always)]
fn gram_chunk<const FUSED: bool>(chunk: &[f32], c: usize) -> Vec<f64> {
    let cp = round_up8(c);
    let mut g = vec![0f64; cp * cp];
    // Padding columns c..cp stay zero for the whole function.
    let mut buf = vec![0f64; GRAM_BLOCK * cp];
    for block in chunk.chunks(GRAM_BLOCK * c) {
        let nb = block.len() / c;
        for (b, row) in block.chunks_exact(c).enumerate() {
            for (d, &v) in buf[b * cp..b * cp + c].iter_mut().zip(row) {
                *d = v as f64;
            }
        }
        for i0 in (0..c).step_by(4) {
            for j0 in ((i0 / 8) * 8..c).step_by(8) {
                let mut acc = [[0f64; 8]; 4];
                rank_update_4x8::<FUSED>(&buf[i0..], cp, &buf[j0..], cp, nb, &mut acc);
                for (p, accp) in acc.iter().enumerate() {
                    let grow = &mut g[(i0 + p) * cp + j0..(i0 + p) * cp + j0 + 8];
                    for (gv, &v) in grow.iter_mut().zip(accp) {
                        *gv += v;
                    }
                }
            }
        }
    }
    g
}

/// Cross product `Aᵀ B` (ca × cb, row-major `f64`) of two row-major tall
/// matrices with the same number of rows, accumulated in `f64` with 4 × 8
/// register tiles (like [`gram`], but over all tiles). Deterministic: chunks
/// of rows are summed in order.
pub(crate) fn cross_gram<TA: Real, TB: Real>(a: &[TA], ca: usize, b: &[TB], cb: usize) -> Vec<f64> {
    if ca == 0 || cb == 0 {
        return vec![0f64; ca * cb];
    }
    assert_eq!(a.len() / ca, b.len() / cb, "row count mismatch");
    let fast = has_avx2_fma();
    let (cap, cbp) = (ca.div_ceil(4) * 4, round_up8(cb));
    let partials: Vec<Vec<f64>> = a
        .par_chunks(ca * CHUNK_ROWS)
        .zip(b.par_chunks(cb * CHUNK_ROWS))
        .map(|(ach, bch)| {
            #[cfg(target_arch = "x86_64")]
            if fast {
                // SAFETY: the CPU supports AVX2 and FMA (checked above).
                return unsafe { cross_chunk_avx2(ach, ca, bch, cb) };
            }
            let _ = fast;
            cross_chunk::<TA, TB, false>(ach, ca, bch, cb)
        })
        .collect();
    let total = sum_in_order(partials, cap * cbp);
    let mut g = vec![0f64; ca * cb];
    for i in 0..ca {
        g[i * cb..(i + 1) * cb].copy_from_slice(&total[i * cbp..i * cbp + cb]);
    }
    g
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cross_chunk_avx2<TA: Real, TB: Real>(
    ach: &[TA],
    ca: usize,
    bch: &[TB],
    cb: usize,
) -> Vec<f64> {
    cross_chunk::<TA, TB, true>(ach, ca, bch, cb)
}

/// `achᵀ·bch` of one chunk of rows, as a padded (ca rounded up to 4) × (cb rounded up to 8)
/// matrix.
#[inline(always)]
fn cross_chunk<TA: Real, TB: Real, const FUSED: bool>(
    ach: &[TA],
    ca: usize,
    bch: &[TB],
    cb: usize,
) -> Vec<f64> {
    let (cap, cbp) = (ca.div_ceil(4) * 4, round_up8(cb));
    let mut g = vec![0f64; cap * cbp];
    let mut abuf = vec![0f64; GRAM_BLOCK * cap];
    let mut bbuf = vec![0f64; GRAM_BLOCK * cbp];
    for (ablock, bblock) in ach.chunks(GRAM_BLOCK * ca).zip(bch.chunks(GRAM_BLOCK * cb)) {
        let nb = ablock.len() / ca;
        for (r, row) in ablock.chunks_exact(ca).enumerate() {
            for (d, &v) in abuf[r * cap..r * cap + ca].iter_mut().zip(row) {
                *d = v.into();
            }
        }
        for (r, row) in bblock.chunks_exact(cb).enumerate() {
            for (d, &v) in bbuf[r * cbp..r * cbp + cb].iter_mut().zip(row) {
                *d = v.into();
            }
        }
        for i0 in (0..ca).step_by(4) {
            for j0 in (0..cb).step_by(8) {
                let mut acc = [[0f64; 8]; 4];
                rank_update_4x8::<FUSED>(&abuf[i0..], cap, &bbuf[j0..], cbp, nb, &mut acc);
                for (p, accp) in acc.iter().enumerate() {
                    let grow = &mut g[(i0 + p) * cbp + j0..(i0 + p) * cbp + j0 + 8];
                    for (gv, &v) in grow.iter_mut().zip(accp) {
                        *gv += v;
                    }
                }
            }
        }
    }
    g
}

fn sum_in_order(partials: Vec<Vec<f64>>, len: usize) -> Vec<f64> {
    let mut total = vec![0f64; len];
    for p in partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// `M` (c × r, row-major) with its columns zero-padded to a multiple of 8.
fn pad_columns(m: &[f64], c: usize, r: usize) -> (Vec<f64>, usize) {
    let rp = round_up8(r);
    let mut mp = vec![0f64; c * rp];
    for i in 0..c {
        mp[i * rp..i * rp + r].copy_from_slice(&m[i * r..(i + 1) * r]);
    }
    (mp, rp)
}

/// `Y · M` for row-major `Y` (rows × c, `f32`) and small row-major `M`
/// (c × r, `f64`); returns row-major rows × r in `f32`. Computed in `f64`
/// with 4-row × 8-column register tiles and rounded once.
pub(crate) fn mul_small<T: Real>(y: &[T], c: usize, m: &[f64], r: usize) -> Vec<f32> {
    assert_eq!(m.len(), c * r);
    let rows = y.len().checked_div(c).unwrap_or(0);
    let mut out = vec![0f32; rows * r];
    if r == 0 || c == 0 {
        return out;
    }
    let (mp, rp) = pad_columns(m, c, r);
    out.par_chunks_mut(r * CHUNK_ROWS)
        .zip(y.par_chunks(c * CHUNK_ROWS))
        .for_each(|(och, ych)| mul_small_chunk_dispatch(ych, c, &mp, rp, r, och));
    out
}

/// In-place `Y ← Y · M` for a square c × c `M` (avoids a second tall buffer;
/// only one chunk-sized temporary per task).
pub(crate) fn mul_small_inplace(y: &mut [f32], c: usize, m: &[f64]) {
    assert_eq!(m.len(), c * c);
    if c == 0 {
        return;
    }
    let (mp, rp) = pad_columns(m, c, c);
    y.par_chunks_mut(c * CHUNK_ROWS).for_each(|ych| {
        let mut tmp = vec![0f32; ych.len()];
        mul_small_chunk_dispatch(ych, c, &mp, rp, c, &mut tmp);
        ych.copy_from_slice(&tmp);
    });
}

fn mul_small_chunk_dispatch<T: Real>(
    ych: &[T],
    c: usize,
    mp: &[f64],
    rp: usize,
    r: usize,
    och: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        unsafe { mul_small_chunk_avx2(ych, c, mp, rp, r, och) };
        return;
    }
    mul_small_chunk::<T, false>(ych, c, mp, rp, r, och);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn mul_small_chunk_avx2<T: Real>(
    ych: &[T],
    c: usize,
    mp: &[f64],
    rp: usize,
    r: usize,
    och: &mut [f32],
) {
    mul_small_chunk::<T, true>(ych, c, mp, rp, r, och)
}

/// Processes a chunk of rows 4 at a time: the 4 rows are transposed into an
/// interleaved `f64` buffer (`ybuf[i·4 + p] = Y[row p, i]`) so that the tile
/// kernel reads both operands contiguously.
#[inline(always)]
fn mul_small_chunk<T: Real, const FUSED: bool>(
    ych: &[T],
    c: usize,
    mp: &[f64],
    rp: usize,
    r: usize,
    och: &mut [f32],
) {
    let rows = ych.len() / c;
    let mut ybuf = vec![0f64; 4 * c];
    let mut results = vec![[[0f64; 8]; 4]; rp / 8];
    for b0 in (0..rows).step_by(4) {
        let nb = (rows - b0).min(4);
        ybuf.iter_mut().for_each(|v| *v = 0.0);
        for p in 0..nb {
            let row = &ych[(b0 + p) * c..(b0 + p + 1) * c];
            for (i, &v) in row.iter().enumerate() {
                ybuf[i * 4 + p] = v.into();
            }
        }
        for (tile, acc) in results.iter_mut().enumerate() {
            *acc = [[0f64; 8]; 4];
            rank_update_4x8::<FUSED>(&ybuf, 4, &mp[tile * 8..], rp, c, acc);
        }
        for (tile, acc) in results.iter().enumerate() {
            for (p, accp) in acc.iter().enumerate().take(nb) {
                for (u, &v) in accp.iter().enumerate() {
                    let t = tile * 8 + u;
                    if t < r {
                        och[(b0 + p) * r + t] = v as f32;
                    }
                }
            }
        }
    }
}

/// Eigen-decomposition of a symmetric n × n matrix (row-major): Householder
/// reduction to tridiagonal form, then the implicit QL method (EISPACK's
/// tred2/tql2, as in JAMA). Returns `(eigenvalues, eigenvectors)` where
/// eigenvector `j` is column `j` of the row-major n × n matrix. Order is
/// unspecified.
///
/// This replaced cyclic Jacobi: for the 74 × 74 Gram matrices of the SVD it
/// takes well under a millisecond instead of 10-20 ms, and the SVD needs a
/// dozen of them. Eigenvalues are accurate to about `eps·‖A‖` in absolute
/// terms, ample for SVQB, which discards those below `1e-10·λmax`. A
/// non-finite input is returned unchanged (diagonal, identity vectors).
pub(crate) fn sym_eigen(a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n);
    let fro = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    if n == 0 || fro == 0.0 || !fro.is_finite() {
        let mut v = vec![0f64; n * n];
        for i in 0..n {
            v[i * n + i] = 1.0;
        }
        return ((0..n).map(|i| a[i * n + i]).collect(), v);
    }
    let mut v = a;
    let mut d = vec![0f64; n];
    let mut e = vec![0f64; n];
    tred2(&mut v, &mut d, &mut e, n);
    // tql2 rotates pairs of eigenvector columns; with the transpose they are contiguous rows.
    let mut vt = transpose_square(&v, n);
    tql2(&mut vt, &mut d, &mut e, n);
    (d, transpose_square(&vt, n))
}

fn transpose_square(a: &[f64], n: usize) -> Vec<f64> {
    let mut t = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            t[j * n + i] = a[i * n + j];
        }
    }
    t
}

/// Householder tridiagonalisation (EISPACK tred2). On return `v` holds the
/// orthogonal transformation, `d` the diagonal and `e[1..]` the subdiagonal.
fn tred2(v: &mut [f64], d: &mut [f64], e: &mut [f64], n: usize) {
    for j in 0..n {
        d[j] = v[(n - 1) * n + j];
    }
    for i in (1..n).rev() {
        let scale: f64 = d[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[(i - 1) * n + j];
                v[i * n + j] = 0.0;
                v[j * n + i] = 0.0;
            }
        } else {
            for dk in d[..i].iter_mut() {
                *dk /= scale;
                h += *dk * *dk;
            }
            let mut f = d[i - 1];
            let mut g = h.sqrt();
            if f > 0.0 {
                g = -g;
            }
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            e[..i].iter_mut().for_each(|x| *x = 0.0);
            for j in 0..i {
                f = d[j];
                v[j * n + i] = f;
                g = e[j] + v[j * n + j] * f;
                for k in j + 1..i {
                    g += v[k * n + j] * d[k];
                    e[k] += v[k * n + j] * f;
                }
                e[j] = g;
            }
            f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                f = d[j];
                g = e[j];
                for k in j..i {
                    v[k * n + j] -= f * e[k] + g * d[k];
                }
                d[j] = v[(i - 1) * n + j];
                v[i * n + j] = 0.0;
            }
        }
        d[i] = h;
    }
    // Accumulate the transformations.
    for i in 0..n - 1 {
        v[(n - 1) * n + i] = v[i * n + i];
        v[i * n + i] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[k * n + i + 1] / h;
            }
            for j in 0..=i {
                let mut g = 0.0;
                for k in 0..=i {
                    g += v[k * n + i + 1] * v[k * n + j];
                }
                for k in 0..=i {
                    v[k * n + j] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[k * n + i + 1] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[(n - 1) * n + j];
        v[(n - 1) * n + j] = 0.0;
    }
    v[(n - 1) * n + n - 1] = 1.0;
    e[0] = 0.0;
}

/// Implicit QL iterations on the tridiagonal matrix (EISPACK tql2). `vt` is
/// the *transpose* of tred2's transformation (row j = eigenvector j); on
/// return `d` holds the eigenvalues.
fn tql2(vt: &mut [f64], d: &mut [f64], e: &mut [f64], n: usize) {
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let mut f = 0.0;
    let mut tst1: f64 = 0.0;
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 && e[m].abs() > eps * tst1 {
            m += 1;
        }
        if m > l {
            // Converges in 1-3 iterations per eigenvalue in practice; the cap only guards
            // against a pathological input looping forever.
            for _iter in 0..100 {
                let mut g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for di in d[l + 2..].iter_mut() {
                    *di -= h;
                }
                f += h;
                p = d[m];
                let (mut c, mut c2, mut c3) = (1.0f64, 1.0f64, 1.0f64);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0.0f64, 0.0f64);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    let (lo, hi) = vt.split_at_mut((i + 1) * n);
                    let row_i = &mut lo[i * n..];
                    let row_i1 = &mut hi[..n];
                    for (a, b) in row_i.iter_mut().zip(row_i1.iter_mut()) {
                        let t = *b;
                        *b = s * *a + c * t;
                        *a = c * *a - s * t;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
}

/// One-sided (Hestenes) Jacobi: orthogonalises the columns of a small matrix
/// `X` (given as a list of columns) by plane rotations applied on the right.
///
/// On return `cols` holds `X·W` whose columns are mutually orthogonal, and the
/// returned `W` (q × q, row-major, q = number of columns) is orthogonal. Hence
/// `X = (X·W)·Wᵀ` is an SVD up to normalisation: the singular values are the
/// column norms of `X·W`. No division by a singular value ever happens, so
/// zero or tiny singular values cannot produce NaN.
pub(crate) fn one_sided_jacobi(cols: &mut [Vec<f64>]) -> Vec<f64> {
    let q = cols.len();
    let mut w = vec![0f64; q * q];
    for i in 0..q {
        w[i * q + i] = 1.0;
    }
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let total: f64 = cols.iter().map(|c| dot(c, c)).sum();
    if total == 0.0 || !total.is_finite() {
        return w;
    }
    for _sweep in 0..100 {
        let mut rotated = false;
        for i in 0..q {
            for j in i + 1..q {
                let alpha = dot(&cols[i], &cols[i]);
                let beta = dot(&cols[j], &cols[j]);
                let gamma = dot(&cols[i], &cols[j]);
                if gamma.abs() <= f64::EPSILON * (alpha * beta).sqrt()
                    || gamma.abs() <= 1e-300 * total
                {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = t * c;
                let (left, right) = cols.split_at_mut(j);
                for (xi, xj) in left[i].iter_mut().zip(right[0].iter_mut()) {
                    let (a, b) = (*xi, *xj);
                    *xi = c * a - s * b;
                    *xj = s * a + c * b;
                }
                for k in 0..q {
                    let (a, b) = (w[k * q + i], w[k * q + j]);
                    w[k * q + i] = c * a - s * b;
                    w[k * q + j] = s * a + c * b;
                }
            }
        }
        if !rotated {
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matmul(a: &[f64], b: &[f64], n: usize, k: usize, m: usize) -> Vec<f64> {
        let mut c = vec![0.0; n * m];
        for i in 0..n {
            for t in 0..k {
                for j in 0..m {
                    c[i * m + j] += a[i * k + t] * b[t * m + j];
                }
            }
        }
        c
    }

    #[test]
    fn transpose_and_spmm() {
        // A = [[1, 0, 2], [0, 3, 0]]
        let a = CsrRef {
            rows: 2,
            cols: 3,
            indptr: &[0, 2, 3],
            indices: &[0usize, 2, 1],
            data: &[1.0, 2.0, 3.0],
        };
        let t = transpose(a);
        assert_eq!(t.indptr, vec![0, 1, 2, 3]);
        assert_eq!(t.indices, vec![0, 1, 0]);
        assert_eq!(t.data, vec![1.0, 3.0, 2.0]);
        // X = [[1, 2], [3, 4], [5, 6]] → A·X = [[11, 14], [9, 12]]
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(spmm::<_, f32>(a, &x, 2), vec![11.0, 14.0, 9.0, 12.0]);
        assert_eq!(spmm::<_, f64>(a, &x, 2), vec![11.0, 14.0, 9.0, 12.0]);
        // Aᵀ·[[1], [2]] = [1, 6, 2]
        assert_eq!(
            spmm::<_, f32>(t.view(), &[1.0, 2.0], 1),
            vec![1.0, 6.0, 2.0]
        );
    }

    #[test]
    fn spmm_blocks_and_segments_match_naive() {
        // Widths hitting the 32- and 8-column blocks and the scalar tail; rows longer than
        // one segment (SPMM_SEGMENT nonzeros) and empty rows.
        let mut rng = crate::rng::Rng::new(7);
        let (rows, cols) = (9, 300);
        let mut indptr = vec![0usize];
        let mut indices = Vec::new();
        let mut data = Vec::new();
        for i in 0..rows {
            let len = [0, 1, 5, 63, 64, 65, 130, 200, 299][i];
            let mut cs: Vec<usize> = (0..cols).collect();
            // Deterministic shuffle, then keep `len` sorted columns.
            for c in (1..cols).rev() {
                cs.swap(c, (rng.normal().abs() * 1e6) as usize % (c + 1));
            }
            let mut cs = cs[..len].to_vec();
            cs.sort();
            for c in cs {
                indices.push(c);
                data.push(rng.normal() as f32);
            }
            indptr.push(indices.len());
        }
        let a = CsrRef {
            rows,
            cols,
            indptr: &indptr,
            indices: &indices,
            data: &data,
        };
        for w in [1usize, 7, 8, 9, 31, 32, 33, 41, 74, 75] {
            let x: Vec<f32> = (0..cols * w).map(|_| rng.normal() as f32).collect();
            let got: Vec<f32> = spmm(a, &x, w);
            for i in 0..rows {
                for u in 0..w {
                    let want: f64 = (indptr[i]..indptr[i + 1])
                        .map(|p| data[p] as f64 * x[indices[p] * w + u] as f64)
                        .sum();
                    let g = got[i * w + u] as f64;
                    assert!(
                        (g - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "w {w} row {i} col {u}: {g} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn gram_cross_and_mul() {
        // Y = [[1, 2], [3, 4], [5, 6]] (more rows than one chunk is covered by
        // the SVD tests; here the arithmetic is checked by hand).
        let y = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(gram(&y, 2), vec![35.0, 44.0, 44.0, 56.0]);
        assert_eq!(cross_gram(&y, 2, &[1.0, 0.0, 1.0], 1), vec![6.0, 8.0]);
        let m = [1.0, 0.5, -1.0, 0.0];
        assert_eq!(
            mul_small(&y, 2, &m, 2),
            vec![-1.0, 0.5, -1.0, 1.5, -1.0, 2.5]
        );
        let mut yy = y;
        mul_small_inplace(&mut yy, 2, &m);
        assert_eq!(yy.to_vec(), vec![-1.0, 0.5, -1.0, 1.5, -1.0, 2.5]);
    }

    #[test]
    fn gram_spanning_many_chunks_matches_naive() {
        let rows = 3 * CHUNK_ROWS + 17;
        let c = 3;
        let y: Vec<f32> = (0..rows * c)
            .map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0)
            .collect();
        let g = gram(&y, c);
        for a in 0..c {
            for b in 0..c {
                let naive: f64 = (0..rows)
                    .map(|r| y[r * c + a] as f64 * y[r * c + b] as f64)
                    .sum();
                assert!((g[a * c + b] - naive).abs() < 1e-9 * naive.abs().max(1.0));
            }
        }
    }

    #[test]
    fn tiled_kernels_match_naive_on_odd_shapes() {
        // Shapes that exercise every padding path: c and r not multiples of
        // 8, row count not a multiple of 4 nor of the chunk sizes.
        let (rows, c, r) = (CHUNK_ROWS + 4 * GRAM_BLOCK + 3, 11, 13);
        let mut rng = crate::rng::Rng::new(3);
        let y: Vec<f32> = (0..rows * c).map(|_| rng.normal() as f32).collect();
        let m: Vec<f64> = (0..c * r).map(|_| rng.normal()).collect();

        let g = gram(&y, c);
        let out = mul_small(&y, c, &m, r);
        for a in 0..c {
            for b in 0..c {
                let naive: f64 = (0..rows)
                    .map(|i| y[i * c + a] as f64 * y[i * c + b] as f64)
                    .sum();
                assert!((g[a * c + b] - naive).abs() < 1e-9 * rows as f64);
            }
        }
        for i in [0, 1, 2, 3, 4, 2047, 2048, rows - 1] {
            for t in 0..r {
                let naive: f64 = (0..c).map(|j| y[i * c + j] as f64 * m[j * r + t]).sum();
                assert!((out[i * r + t] as f64 - naive).abs() < 1e-5 * (1.0 + naive.abs()));
            }
        }
        // Both code paths (baseline and FMA) agree up to rounding, whichever
        // one the dispatcher picks on this machine.
        let g0 = gram_chunk::<false>(&y[..c * 1000], c);
        let g1 = gram_chunk::<true>(&y[..c * 1000], c);
        for (a, b) in g0.iter().zip(&g1) {
            assert!((a - b).abs() < 1e-9);
        }
        let (mp, rp) = pad_columns(&m, c, r);
        let (mut o0, mut o1) = (vec![0f32; 100 * r], vec![0f32; 100 * r]);
        mul_small_chunk::<f32, false>(&y[..c * 100], c, &mp, rp, r, &mut o0);
        mul_small_chunk::<f32, true>(&y[..c * 100], c, &mp, rp, r, &mut o1);
        for (a, b) in o0.iter().zip(&o1) {
            assert!((a - b).abs() < 1e-5 * (1.0 + a.abs()));
        }
        // In-place square variant equals the out-of-place one.
        let sq: Vec<f64> = m[..c * c].to_vec();
        let mut yy = y.clone();
        mul_small_inplace(&mut yy, c, &sq);
        assert_eq!(yy, mul_small(&y, c, &sq, c));
    }

    #[test]
    fn sym_eigen_2x2_and_3x3() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
        let (mut ev, _) = sym_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
        ev.sort_by(f64::total_cmp);
        assert!((ev[0] - 1.0).abs() < 1e-14 && (ev[1] - 3.0).abs() < 1e-14);

        // A = V diag(λ) Vᵀ must be reproduced.
        let a = vec![4.0, 1.0, -2.0, 1.0, 2.0, 0.0, -2.0, 0.0, 3.0];
        let (ev, v) = sym_eigen(a.clone(), 3);
        let mut vl = v.clone();
        for i in 0..3 {
            for j in 0..3 {
                vl[i * 3 + j] *= ev[j];
            }
        }
        let vt: Vec<f64> = (0..9).map(|t| v[(t % 3) * 3 + t / 3]).collect();
        let back = matmul(&vl, &vt, 3, 3, 3);
        for (x, y) in back.iter().zip(&a) {
            assert!((x - y).abs() < 1e-12);
        }
        // Trace is preserved.
        assert!((ev.iter().sum::<f64>() - 9.0).abs() < 1e-12);
    }

    /// Max |A·V − V·diag(λ)| and max |VᵀV − I|.
    fn eigen_residuals(a: &[f64], n: usize) -> (f64, f64, Vec<f64>) {
        let (ev, v) = sym_eigen(a.to_vec(), n);
        let av = matmul(a, &v, n, n, n);
        let mut res: f64 = 0.0;
        for i in 0..n {
            for j in 0..n {
                res = res.max((av[i * n + j] - v[i * n + j] * ev[j]).abs());
            }
        }
        let vt = transpose_square(&v, n);
        let vtv = matmul(&vt, &v, n, n, n);
        let mut orth: f64 = 0.0;
        for i in 0..n {
            for j in 0..n {
                let want = if i == j { 1.0 } else { 0.0 };
                orth = orth.max((vtv[i * n + j] - want).abs());
            }
        }
        (res, orth, ev)
    }

    #[test]
    fn sym_eigen_sizes_of_the_svd() {
        let mut rng = crate::rng::Rng::new(7);
        let n = 74;
        // Dense random symmetric matrix.
        let mut a = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..=i {
                let x = rng.normal();
                a[i * n + j] = x;
                a[j * n + i] = x;
            }
        }
        let (res, orth, ev) = eigen_residuals(&a, n);
        assert!(res < 1e-12 && orth < 1e-13, "res {res} orth {orth}");
        let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
        assert!((ev.iter().sum::<f64>() - trace).abs() < 1e-10);

        // Rank-10 Gram matrix (64 zero eigenvalues, like SVQB on a rank-deficient basis).
        let x: Vec<f64> = (0..n * 10).map(|_| rng.normal()).collect();
        let mut g = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                g[i * n + j] = (0..10).map(|t| x[i * 10 + t] * x[j * 10 + t]).sum();
            }
        }
        let (res, orth, ev) = eigen_residuals(&g, n);
        assert!(res < 1e-11 && orth < 1e-13, "res {res} orth {orth}");
        let lmax = ev.iter().copied().fold(0.0, f64::max);
        assert_eq!(ev.iter().filter(|&&l| l > 1e-10 * lmax).count(), 10);

        // Diagonal with repeated and negative entries: eigenvalues are the diagonal.
        let mut dg = vec![0f64; 9];
        for (i, l) in [3.0, -1.0, 3.0].iter().enumerate() {
            dg[i * 3 + i] = *l;
        }
        let (res, orth, mut ev) = eigen_residuals(&dg, 3);
        ev.sort_by(f64::total_cmp);
        assert!(res < 1e-15 && orth < 1e-15);
        assert_eq!(ev, vec![-1.0, 3.0, 3.0]);

        // 1 × 1 and graded entries spanning 20 orders of magnitude.
        assert_eq!(sym_eigen(vec![5.0], 1).0, vec![5.0]);
        let graded: Vec<f64> = (0..16)
            .map(|t| {
                let (i, j) = (t / 4, t % 4);
                if i == j {
                    10f64.powi(-6 * i)
                } else {
                    1e-13
                }
            })
            .collect();
        let (res, orth, _) = eigen_residuals(&graded, 4);
        assert!(res < 1e-15 && orth < 1e-14, "res {res} orth {orth}");
    }

    #[test]
    fn one_sided_jacobi_known_singular_values() {
        // X = [[3, 0], [4, 5]] has singular values 3√5 and √5.
        let mut cols = vec![vec![3.0, 4.0], vec![0.0, 5.0]];
        let w = one_sided_jacobi(&mut cols);
        let mut s: Vec<f64> = cols
            .iter()
            .map(|c| c.iter().map(|x| x * x).sum::<f64>().sqrt())
            .collect();
        s.sort_by(|a, b| b.total_cmp(a));
        assert!((s[0] - 3.0 * 5f64.sqrt()).abs() < 1e-12);
        assert!((s[1] - 5f64.sqrt()).abs() < 1e-12);
        // W is orthogonal.
        let wtw = matmul(&[w[0], w[2], w[1], w[3]], &w, 2, 2, 2);
        assert!(
            (wtw[0] - 1.0).abs() < 1e-14 && wtw[1].abs() < 1e-14 && (wtw[3] - 1.0).abs() < 1e-14
        );
        // Zero matrix: nothing happens, no NaN.
        let mut z = vec![vec![0.0; 3]; 2];
        let w = one_sided_jacobi(&mut z);
        assert!(w.iter().all(|x| x.is_finite()));
    }
}
