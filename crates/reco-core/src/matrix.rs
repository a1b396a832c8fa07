//! Building the user x shoe matrix from interaction triplets, and the id -> position indexes
//! used while reading the log.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use sprs::CsMat;

/// Hasher for the id -> position maps of refresh(), which take one lookup per interaction (20M on
/// tier L): std's SipHash costs more than the rest of the loop. The keys are the shop's own ids,
/// not attacker-chosen input, so flooding resistance buys nothing here. splitmix64's finaliser
/// mixes every input bit into the high bits (hashbrown's control bytes) and the low bits (bucket).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only integer keys are hashed with this; fold anything else in 8 bytes at a time.
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(29) ^ u64::from_le_bytes(buf))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_i64(&mut self, i: i64) {
        self.0 = i as u64;
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

/// A map keyed by shop ids (user_id, shoe_id) with [`IdHasher`].
pub type IdMap<V> = HashMap<i64, V, BuildHasherDefault<IdHasher>>;

/// Position of each id (user or shoe) in the matrix, looked up once per interaction. Shop ids are
/// mostly dense ranges (serial or identity keys), so ids in the expected range are found in an
/// array indexed by `id - min`: one memory access instead of a hash probe's two or more (on tier
/// M the two probes per interaction took about half of reading the log). Ids outside that range,
/// or all ids when the range is much sparser than the count, go to a hash map.
pub struct IdIndex {
    min: i64,
    /// `ABSENT` where no id has been inserted.
    dense: Vec<u32>,
    overflow: IdMap<u32>,
}

const ABSENT: u32 = u32::MAX;

impl IdIndex {
    /// An index expecting about `count` ids between `min` and `max`. The array is used when the
    /// range holds at most 4 slots per expected id (plus 64k) and at most 2^26 slots (256 MB).
    pub fn for_range(min: i64, max: i64, count: usize) -> IdIndex {
        let span = (max as i128) - (min as i128) + 1;
        let limit = (4 * count as i128 + 65_536).min(1 << 26);
        let dense = if span > 0 && span <= limit {
            vec![ABSENT; span as usize]
        } else {
            Vec::new()
        };
        IdIndex {
            min,
            dense,
            overflow: IdMap::default(),
        }
    }

    #[inline]
    fn slot(&self, id: i64) -> Option<usize> {
        let offset = id.wrapping_sub(self.min) as u64;
        (id >= self.min && offset < self.dense.len() as u64).then_some(offset as usize)
    }

    #[inline]
    pub fn get(&self, id: i64) -> Option<u32> {
        match self.slot(id) {
            Some(i) => Some(self.dense[i]).filter(|&p| p != ABSENT),
            None => self.overflow.get(&id).copied(),
        }
    }

    /// The position of `id`, inserting `next()` first if it is not there yet.
    #[inline]
    pub fn get_or_insert_with(&mut self, id: i64, next: impl FnOnce() -> u32) -> u32 {
        match self.slot(id) {
            Some(i) => {
                if self.dense[i] == ABSENT {
                    let p = next();
                    debug_assert_ne!(p, ABSENT, "positions are below u32::MAX");
                    self.dense[i] = p;
                }
                self.dense[i]
            }
            None => *self.overflow.entry(id).or_insert_with(next),
        }
    }
}

impl FromIterator<(i64, u32)> for IdIndex {
    /// An index of the given (id, position) pairs; a repeated id keeps its last position.
    fn from_iter<T: IntoIterator<Item = (i64, u32)>>(iter: T) -> Self {
        let pairs: Vec<(i64, u32)> = iter.into_iter().collect();
        let min = pairs.iter().map(|p| p.0).min().unwrap_or(0);
        let max = pairs.iter().map(|p| p.0).max().unwrap_or(-1);
        let mut index = IdIndex::for_range(min, max, pairs.len());
        for (id, pos) in pairs {
            match index.slot(id) {
                Some(i) => index.dense[i] = pos,
                None => {
                    index.overflow.insert(id, pos);
                }
            }
        }
        index
    }
}

/// Interaction triplets as read from the log: one entry per interaction row.
#[derive(Default)]
pub struct Triplets {
    pub rows: Vec<u32>,
    pub cols: Vec<u32>,
    pub vals: Vec<f32>,
    /// When each interaction happened (any key ordered as time; parallel to the others), or
    /// empty when nothing was pushed with [`Triplets::push_at`]: what
    /// [`crate::sequences::Sequences`] orders histories by.
    pub keys: Vec<i64>,
}

impl Triplets {
    pub fn with_capacity(n: usize) -> Triplets {
        Triplets {
            rows: Vec::with_capacity(n),
            cols: Vec::with_capacity(n),
            vals: Vec::with_capacity(n),
            keys: Vec::new(),
        }
    }

    pub fn push(&mut self, row: u32, col: u32, val: f32) {
        self.rows.push(row);
        self.cols.push(col);
        self.vals.push(val);
    }

    /// [`Triplets::push`] with the interaction's time key; use one or the other for all.
    pub fn push_at(&mut self, row: u32, col: u32, val: f32, key: i64) {
        self.push(row, col, val);
        self.keys.push(key);
    }

    /// Every user's shoes in time order (empty unless every triplet has a key).
    pub fn sequences(&self, users: usize, shoes: usize) -> crate::sequences::Sequences {
        if self.keys.is_empty() || self.keys.len() != self.rows.len() {
            return crate::sequences::Sequences::default();
        }
        crate::sequences::Sequences::from_events(
            users, shoes, &self.rows, &self.cols, &self.vals, &self.keys,
        )
    }
}

/// CSR matrix (m x n) with duplicate (row, col) entries summed, columns sorted within each row.
/// Counting sort by row, then a sort of each (short) row: O(nnz log(row length)), and no
/// intermediate copy bigger than the output.
pub fn csr_from_triplets(m: usize, n: usize, t: Triplets) -> CsMat<f32> {
    let Triplets {
        rows, cols, vals, ..
    } = t;
    let mut indptr = vec![0usize; m + 1];
    for &r in &rows {
        indptr[r as usize + 1] += 1;
    }
    for i in 0..m {
        indptr[i + 1] += indptr[i];
    }
    let mut next = indptr.clone();
    let mut entries: Vec<(u32, f32)> = vec![(0, 0.0); rows.len()];
    for ((r, c), v) in rows.into_iter().zip(cols).zip(vals) {
        let slot = &mut next[r as usize];
        entries[*slot] = (c, v);
        *slot += 1;
    }
    // Sort and merge each row.
    let mut out_indptr = Vec::with_capacity(m + 1);
    let mut out_indices: Vec<usize> = Vec::with_capacity(entries.len());
    let mut out_data: Vec<f32> = Vec::with_capacity(entries.len());
    out_indptr.push(0);
    for i in 0..m {
        let row = &mut entries[indptr[i]..indptr[i + 1]];
        row.sort_unstable_by_key(|e| e.0);
        for &(c, v) in row.iter() {
            if out_indices.len() > *out_indptr.last().unwrap()
                && *out_indices.last().unwrap() == c as usize
            {
                *out_data.last_mut().unwrap() += v;
            } else {
                out_indices.push(c as usize);
                out_data.push(v);
            }
        }
        out_indptr.push(out_indices.len());
    }
    drop(entries);
    out_indices.shrink_to_fit();
    out_data.shrink_to_fit();
    CsMat::new((m, n), out_indptr, out_indices, out_data)
}

/// Column sums of a CSR matrix: the popularity of each shoe.
pub fn column_sums(a: &CsMat<f32>) -> Vec<f32> {
    let mut sums = vec![0f32; a.cols()];
    for (&c, &v) in a.indices().iter().zip(a.data()) {
        sums[c] += v;
    }
    sums
}

/// Sums of the rows of `a` that belong to each group (`group_of_row[i]` = group of row i, or
/// None): per-segment popularity for cold-start users.
pub fn grouped_column_sums(
    a: &CsMat<f32>,
    group_of_row: &[Option<usize>],
    groups: usize,
) -> Vec<Vec<f32>> {
    let mut sums = vec![vec![0f32; a.cols()]; groups];
    for (i, row) in a.outer_iterator().enumerate() {
        if let Some(g) = group_of_row[i] {
            for (c, &v) in row.iter() {
                sums[g][c] += v;
            }
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_summed_and_columns_sorted() {
        let mut t = Triplets::default();
        t.push(1, 2, 1.0);
        t.push(0, 1, 3.0);
        t.push(1, 0, 5.0);
        t.push(1, 2, 2.0);
        let a = csr_from_triplets(3, 3, t);
        assert_eq!(a.indptr().raw_storage(), &[0, 1, 3, 3]);
        assert_eq!(a.indices(), &[1, 0, 2]);
        assert_eq!(a.data(), &[3.0, 5.0, 3.0]);
        assert_eq!(column_sums(&a), vec![5.0, 3.0, 3.0]);
        let g = grouped_column_sums(&a, &[Some(0), Some(1), None], 2);
        assert_eq!(g[0], vec![0.0, 3.0, 0.0]);
        assert_eq!(g[1], vec![5.0, 0.0, 3.0]);
    }

    #[test]
    fn id_index_dense_sparse_and_out_of_range() {
        // Dense range with ids outside it (below, above, i64 extremes) falling back to the map.
        let mut idx = IdIndex::for_range(100, 199, 100);
        assert!(!idx.dense.is_empty());
        let mut next = 0u32;
        for id in [150, 100, 199, 99, 200, i64::MIN, i64::MAX, 150, -5] {
            idx.get_or_insert_with(id, || {
                next += 1;
                next - 1
            });
        }
        assert_eq!(next, 8, "150 was inserted once");
        assert_eq!(idx.get(150), Some(0));
        assert_eq!(idx.get(199), Some(2));
        assert_eq!(idx.get(99), Some(3));
        assert_eq!(idx.get(i64::MIN), Some(5));
        assert_eq!(idx.get(i64::MAX), Some(6));
        assert_eq!(idx.get(-5), Some(7));
        assert_eq!(idx.get(101), None);
        assert_eq!(idx.get(1000), None);
        // A sparse range gets no array at all: every id goes to the map.
        let sparse: IdIndex = [(1i64, 0u32), (1 << 40, 1), (-(1 << 40), 2)]
            .into_iter()
            .collect();
        assert!(sparse.dense.is_empty());
        assert_eq!(sparse.get(1 << 40), Some(1));
        assert_eq!(sparse.get(-(1 << 40)), Some(2));
        assert_eq!(sparse.get(2), None);
        // Empty and full-width ranges do not overflow.
        let empty: IdIndex = std::iter::empty().collect();
        assert_eq!(empty.get(0), None);
        assert!(IdIndex::for_range(i64::MIN, i64::MAX, 10).dense.is_empty());
    }

    #[test]
    fn id_map_spreads_sequential_ids() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<IdHasher>::default();
        // Sequential ids must differ in the top 7 bits (hashbrown's tag) and the low bits.
        let tags: std::collections::HashSet<u64> =
            (0..1000i64).map(|i| build.hash_one(i) >> 57).collect();
        let low: std::collections::HashSet<u64> =
            (0..1000i64).map(|i| build.hash_one(i) & 1023).collect();
        assert!(tags.len() > 100, "{} distinct tags", tags.len());
        assert!(low.len() > 500, "{} distinct low bits", low.len());
        let mut m: IdMap<u32> = IdMap::default();
        for i in 0..10_000i64 {
            m.insert(i * 7 - 3, i as u32);
        }
        assert_eq!(m.get(&(5 * 7 - 3)), Some(&5));
        assert_eq!(m.get(&-1), None);
        assert_eq!(m.len(), 10_000);
    }
}
