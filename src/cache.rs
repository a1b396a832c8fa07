//! Per-backend cache of the active model joined with the current catalogue.
//!
//! A backend keeps one `Cache`, keyed by (active model id, catalogue version). Each call of
//! recommend()/similar() reads both with one tiny query and rebuilds the cache only when either
//! changed (a refresh committed, or reco.shoes was modified), so a call normally costs a
//! matrix-vector product and a top-k instead of a table scan.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use pgrx::pg_sys::PgOid;
use pgrx::spi::{OwnedPreparedStatement, SpiClient};
use reco_core::tfidf::{self, ShoeText, TfidfModel};
use sprs::CsMat;

use crate::errors;
use crate::scoring::scale_to_unit_max;

/// One catalogue row, as much of it as recommendations and reasons need.
pub struct ShoeRow {
    pub shoe_id: i64,
    pub name: String,
    pub brand: String,
    pub shoe_type: String,
    pub material: String,
    pub color: String,
    pub description: String,
    pub price: Option<f64>,
    pub active: bool,
}

pub fn shoe_text(s: &ShoeRow) -> ShoeText<'_> {
    ShoeText {
        name: &s.name,
        brand: &s.brand,
        shoe_type: &s.shoe_type,
        material: &s.material,
        color: &s.color,
        description: &s.description,
    }
}

/// The whole catalogue ordered by shoe_id.
pub fn read_catalog(_client: &SpiClient) -> Vec<ShoeRow> {
    let mut out = Vec::new();
    // Through bulk::for_each_row: pgrx's per-value conversions of a SPI tuple table took 0.06 s
    // for tier M's 20k shoes, as long as reading 400k interactions.
    let mut on_row = |values: &[pgrx::pg_sys::Datum], nulls: &[bool]| {
        // SAFETY: columns 2-7 are text, non-NULL (NOT NULL or coalesced).
        let text = |i: usize| {
            String::from_utf8_lossy(unsafe { crate::bulk::text_bytes(values[i]) }).into_owned()
        };
        out.push(ShoeRow {
            shoe_id: values[0].value() as i64,
            name: text(1),
            brand: text(2),
            shoe_type: text(3),
            material: text(4),
            color: text(5),
            description: text(6),
            price: (!nulls[7]).then(|| f64::from_bits(values[7].value() as u64)),
            active: values[8].value() != 0,
        });
    };
    crate::bulk::for_each_row(
        "reading reco.shoes",
        "SELECT shoe_id, name, brand, type, coalesce(material, ''), coalesce(color, ''), \
                coalesce(description, ''), price::float8, active \
         FROM reco.shoes ORDER BY shoe_id",
        &mut on_row,
    );
    out
}

/// Everything recommend()/similar() need, indexed by catalogue position (shoe_id order).
pub struct Cache {
    pub model_id: Option<i64>,
    pub catalog_version: i64,
    /// Newest interaction id when there is no model (popularity is then read live), else None.
    pub log_mark: Option<i64>,
    pub shoes: Vec<ShoeRow>,
    pub pos: HashMap<i64, usize>,
    /// Factors per shoe (k each); zeros for shoes the model has not seen.
    pub k: usize,
    pub factors: Vec<f32>,
    /// The same rows scaled to unit length, so similar() gets cosines from dot products.
    pub unit_factors: Vec<f32>,
    pub in_model: Vec<bool>,
    /// TF-IDF rows (L2-normalised), and the same matrix by term for scoring a query.
    pub content: CsMat<f32>,
    pub content_by_term: CsMat<f32>,
    pub vocab: TfidfModel,
    /// Popularity scaled to a maximum of 1.
    pub popularity: Vec<f32>,
    /// segment -> (users, [(catalogue position, score scaled to max 1)] best first)
    pub segments: HashMap<String, (i32, Vec<(usize, f32)>)>,
    /// Time decay of the model (0 = none) and its reference time (epoch seconds).
    pub half_life_days: f64,
    pub reference_epoch: f64,
}

impl Cache {
    pub fn view(&self) -> crate::scoring::ModelView<'_> {
        crate::scoring::ModelView {
            k: self.k,
            factors: &self.factors,
            in_model: &self.in_model,
            content: &self.content,
            content_by_term: &self.content_by_term,
            popularity: &self.popularity,
        }
    }

    pub fn factor_row(&self, pos: usize) -> &[f32] {
        &self.factors[pos * self.k..(pos + 1) * self.k]
    }

    /// Sparse TF-IDF row of a shoe.
    pub fn content_row(&self, pos: usize) -> Vec<(usize, f32)> {
        self.content
            .outer_view(pos)
            .map(|r| r.iter().map(|(t, &w)| (t, w)).collect())
            .unwrap_or_default()
    }
}

thread_local! {
    static CACHE: RefCell<Option<Rc<Cache>>> = const { RefCell::new(None) };
    /// Saved plans of the queries every recommend() call runs: SPI would otherwise parse and
    /// plan them on each call. Postgres' plan cache revalidates them after DDL.
    static PLANS: RefCell<HashMap<&'static str, Rc<OwnedPreparedStatement>>> = RefCell::new(HashMap::new());
}

/// A kept (per-backend) prepared statement for `sql`.
pub fn prepared(
    client: &SpiClient,
    sql: &'static str,
    args: &[PgOid],
) -> Rc<OwnedPreparedStatement> {
    if let Some(plan) = PLANS.with(|p| p.borrow().get(sql).cloned()) {
        return plan;
    }
    let plan = Rc::new(
        client
            .prepare(sql, args)
            .unwrap_or_else(|e| errors::spi("preparing a query", e))
            .keep(),
    );
    PLANS.with(|p| p.borrow_mut().insert(sql, plan.clone()));
    plan
}

/// The cache for the active model and current catalogue, rebuilt if either changed.
pub fn current(client: &SpiClient) -> Rc<Cache> {
    let plan = prepared(
        client,
        // Before the first refresh, popularity comes from the live log: the newest interaction id
        // is then part of the key too (a cheap backward scan of the primary key).
        "SELECT m.model_id, (SELECT version FROM reco.catalog_version), \
                CASE WHEN m.model_id IS NULL THEN (SELECT max(interaction_id) FROM reco.interactions) END \
         FROM (SELECT (SELECT model_id FROM reco.models WHERE status = 'active') AS model_id) m",
        &[],
    );
    let (model_id, version, log_mark) = client
        .select(&*plan, None, &[])
        .and_then(|t| t.first().get_three::<i64, i64, i64>())
        .unwrap_or_else(|e| errors::spi("reading the active model", e));
    let version = version.unwrap_or(0);
    if let Some(c) = CACHE.with(|c| c.borrow().clone()) {
        if c.model_id == model_id && c.catalog_version == version && c.log_mark == log_mark {
            return c;
        }
    }
    // Drop the old cache before building the new one so the two never coexist in memory.
    CACHE.with(|c| *c.borrow_mut() = None);
    let mut built = build(client, model_id, version);
    built.log_mark = log_mark;
    let built = Rc::new(built);
    CACHE.with(|c| *c.borrow_mut() = Some(built.clone()));
    built
}

fn build(client: &SpiClient, model_id: Option<i64>, catalog_version: i64) -> Cache {
    let shoes = read_catalog(client);
    let pos: HashMap<i64, usize> = shoes
        .iter()
        .enumerate()
        .map(|(i, s)| (s.shoe_id, i))
        .collect();
    let n = shoes.len();
    let mut cache = match model_id {
        Some(id) => build_from_model(client, id, shoes, pos),
        None => build_without_model(client, shoes, pos),
    };
    cache.model_id = model_id;
    cache.catalog_version = catalog_version;
    debug_assert_eq!(cache.popularity.len(), n);
    cache
}

/// Before the first refresh: content from a TF-IDF fitted on the spot, live popularity, no CF.
fn build_without_model(client: &SpiClient, shoes: Vec<ShoeRow>, pos: HashMap<i64, usize>) -> Cache {
    let texts: Vec<_> = shoes.iter().map(shoe_text).collect();
    let (vocab, content) = tfidf::fit_transform(&texts);
    drop(texts);
    let mut popularity = vec![0f32; shoes.len()];
    let table = client
        .select(
            "SELECT i.shoe_id, sum(w.weight)::float8 FROM reco.interactions i \
             JOIN reco.action_weights w ON w.action = i.action GROUP BY i.shoe_id",
            None,
            &[],
        )
        .unwrap_or_else(|e| errors::spi("computing popularity", e));
    for row in table {
        let id: Option<i64> = row.get(1).ok().flatten();
        let sum: Option<f64> = row.get(2).ok().flatten();
        if let (Some(p), Some(sum)) = (id.and_then(|id| pos.get(&id)), sum) {
            popularity[*p] = sum as f32;
        }
    }
    scale_to_unit_max(&mut popularity);
    let n = shoes.len();
    Cache {
        model_id: None,
        catalog_version: 0,
        log_mark: None,
        content_by_term: content.to_csc(),
        content,
        vocab,
        shoes,
        pos,
        k: 0,
        factors: Vec::new(),
        unit_factors: Vec::new(),
        in_model: vec![false; n],
        popularity,
        segments: HashMap::new(),
        half_life_days: 0.0,
        reference_epoch: 0.0,
    }
}

fn build_from_model(
    client: &SpiClient,
    model_id: i64,
    shoes: Vec<ShoeRow>,
    pos: HashMap<i64, usize>,
) -> Cache {
    let (k, half_life_days, reference_epoch) = client
        .select(
            "SELECT factors, coalesce((parameters->>'half_life_days')::float8, 0), \
                    coalesce((parameters->>'reference_epoch')::float8, 0) \
             FROM reco.models WHERE model_id = $1",
            None,
            &[model_id.into()],
        )
        .and_then(|t| t.first().get_three::<i32, f64, f64>())
        .unwrap_or_else(|e| errors::spi("reading the model", e));
    let k = k.unwrap_or(0).max(0) as usize;

    let mut terms = Vec::new();
    let mut idf = Vec::new();
    let table = client
        .select(
            "SELECT term, idf FROM reco.model_vocabulary WHERE model_id = $1 ORDER BY term_id",
            None,
            &[model_id.into()],
        )
        .unwrap_or_else(|e| errors::spi("reading the vocabulary", e));
    for row in table {
        terms.push(row.get::<String>(1).ok().flatten().unwrap_or_default());
        idf.push(row.get::<f64>(2).ok().flatten().unwrap_or(1.0));
    }
    let vocab = TfidfModel::from_parts(terms, idf);

    let n = shoes.len();
    let mut factors = vec![0f32; n * k];
    let mut in_model = vec![false; n];
    let mut popularity = vec![0f32; n];
    let table = client
        .select(
            "SELECT shoe_id, factors, popularity FROM reco.model_shoes WHERE model_id = $1",
            None,
            &[model_id.into()],
        )
        .unwrap_or_else(|e| errors::spi("reading shoe factors", e));
    for row in table {
        let id: i64 = row.get(1).ok().flatten().unwrap_or_default();
        // A shoe deleted from the catalogue since the refresh is simply not served.
        let Some(&p) = pos.get(&id) else { continue };
        let f: Vec<f32> = row.get(2).ok().flatten().unwrap_or_default();
        if f.len() == k {
            factors[p * k..(p + 1) * k].copy_from_slice(&f);
        }
        in_model[p] = true;
        popularity[p] = row.get::<f32>(3).ok().flatten().unwrap_or(0.0);
    }
    // Content vectors from the shoes' current text with the model's vocabulary and idf: the same
    // as the stored model_shoes rows for unchanged shoes, and right away for shoes added or
    // edited since the refresh.
    let rows: Vec<Vec<(usize, f32)>> = shoes
        .iter()
        .map(|shoe| vocab.transform(&shoe_text(shoe)))
        .collect();
    let content = csr_from_rows(&rows, vocab.vocabulary.len());
    drop(rows);
    scale_to_unit_max(&mut popularity);

    let mut segments = HashMap::new();
    let table = client
        .select(
            "SELECT segment, users, shoe_ids, scores FROM reco.model_segments WHERE model_id = $1",
            None,
            &[model_id.into()],
        )
        .unwrap_or_else(|e| errors::spi("reading segments", e));
    for row in table {
        let segment: String = row.get(1).ok().flatten().unwrap_or_default();
        let users: i32 = row.get(2).ok().flatten().unwrap_or(0);
        let ids: Vec<i64> = row.get(3).ok().flatten().unwrap_or_default();
        let scores: Vec<f32> = row.get(4).ok().flatten().unwrap_or_default();
        let max = scores.iter().cloned().fold(0f32, f32::max);
        let list: Vec<(usize, f32)> = ids
            .iter()
            .zip(&scores)
            .filter_map(|(id, s)| {
                pos.get(id)
                    .map(|&p| (p, if max > 0.0 { s / max } else { 0.0 }))
            })
            .collect();
        segments.insert(segment, (users, list));
    }

    Cache {
        model_id: Some(model_id),
        catalog_version: 0,
        log_mark: None,
        content_by_term: content.to_csc(),
        content,
        vocab,
        shoes,
        pos,
        k,
        unit_factors: unit_rows(&factors, k),
        factors,
        in_model,
        popularity,
        segments,
        half_life_days: half_life_days.unwrap_or(0.0),
        reference_epoch: reference_epoch.unwrap_or(0.0),
    }
}

/// Rows of `factors` (k each) scaled to unit length; zero rows stay zero.
fn unit_rows(factors: &[f32], k: usize) -> Vec<f32> {
    let mut out = factors.to_vec();
    if k == 0 {
        return out;
    }
    for row in out.chunks_exact_mut(k) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 && norm.is_finite() {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
    out
}

fn csr_from_rows(rows: &[Vec<(usize, f32)>], cols: usize) -> CsMat<f32> {
    let mut indptr = Vec::with_capacity(rows.len() + 1);
    let mut indices = Vec::new();
    let mut data = Vec::new();
    indptr.push(0);
    for r in rows {
        let mut r = r.clone();
        r.sort_unstable_by_key(|e| e.0);
        for (t, w) in r {
            if t < cols {
                indices.push(t);
                data.push(w);
            }
        }
        indptr.push(indices.len());
    }
    CsMat::new((rows.len(), cols), indptr, indices, data)
}
