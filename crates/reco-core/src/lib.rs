//! `reco_core`: the pure-Rust algorithms behind the `reco` PostgreSQL
//! extension. Nothing in here knows about Postgres; the extension crate feeds
//! plain slices and `sprs` matrices in and gets plain Rust values out.
//!
//! * [`svd`] — randomized truncated SVD of the sparse user × shoe matrix
//!   (collaborative filtering factors).
//! * [`tfidf`] — tokenizer and TF-IDF content vectors for shoes.
//! * [`topk`] — heap-based top-k selection and sparse cosine scoring.
//! * [`metrics`] — offline ranking metrics (precision/recall/nDCG/MAP@k).
//! * [`rng`] — small seeded PRNG (xoshiro256**) with a Gaussian sampler.

mod linalg;
pub mod metrics;
pub mod rng;
pub mod svd;
pub mod tfidf;
pub mod topk;

pub use metrics::{catalogue_coverage, evaluate, evaluate_user, RankingMetrics};
pub use rng::Rng;
pub use svd::{frobenius_norm_sq, randomized_svd, SvdParams, TruncatedSvd};
pub use tfidf::{fit_transform, tokenize, ShoeText, TfidfModel};
pub use topk::{cosine_scores_sparse, dot_scores, top_k};
