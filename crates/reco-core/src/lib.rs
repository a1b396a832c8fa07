//! `reco_core`: everything of the `reco` PostgreSQL extension that does not talk to Postgres.
//! The extension crate (src/) reads arguments and tables into the plain Rust values defined here,
//! calls these functions, and writes or returns what they give back.
//!
//! * [`model`] — building a model version from its inputs (refresh(), evaluate()).
//! * [`serving`] — recommend(), similar() and cold start on a loaded model, with reasons.
//! * [`itemknn`] — item-item collaborative filtering: top-N neighbour lists per shoe.
//! * [`scoring`] — the per-user scores shared by serving and the offline evaluation: CF fold-in,
//!   content, the hybrid blend.
//! * [`svd`] — randomized truncated SVD of the sparse user × shoe matrix.
//! * [`tfidf`] — tokenizer and TF-IDF content vectors for shoes.
//! * [`matrix`] — the user × shoe matrix from interaction triplets; id → position indexes.
//! * [`segments`] — cold-start user segments.
//! * [`sequences`] — users' histories in time order and the transitions between shoes.
//! * [`offline`] — the train/test grouping and rankings of the offline evaluation.
//! * [`metrics`] — ranking metrics (precision/recall/nDCG/MAP@k).
//! * [`topk`] — heap-based top-k selection.
//! * [`catalog`] — the catalogue rows.
//! * [`rng`] — small seeded PRNG (xoshiro256**) with a Gaussian sampler.
//! * [`experiment_stats`] — A/B-test statistics (Welch, two-proportion and delta-method tests,
//!   SRM check, sample size, verdict) and the stable user → bucket → arm assignment hash.
//! * [`lifecycle`] — model versions: pruning with protected versions, the quality guard, and the
//!   comparison of two versions' lists (Jaccard, coverage, concentration, Gini).
//! * [`drift`] — PSI and Jensen–Shannon divergence between a baseline and a current window.
//! * [`monitor`] — what refresh() measures while it reads: the quality hold-out, drift windows.
//! * [`serving_stats`] — serving counters and the log-spaced latency histogram kept in shared
//!   memory.

pub mod catalog;
pub mod drift;
pub mod experiment_stats;
pub mod itemknn;
pub mod lifecycle;
mod linalg;
pub mod matrix;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod offline;
pub mod rng;
pub mod scoring;
pub mod segments;
pub mod sequences;
pub mod serving;
pub mod serving_stats;
pub mod svd;
pub mod tfidf;
pub mod topk;

pub use metrics::{catalogue_coverage, evaluate, evaluate_user, RankingMetrics};
pub use rng::Rng;
pub use svd::{frobenius_norm_sq, randomized_svd, SvdParams, TruncatedSvd};
pub use tfidf::{fit_transform, tokenize, ShoeText, TfidfModel};
pub use topk::top_k;
