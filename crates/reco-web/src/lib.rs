//! reco-web: a web dashboard and a JSON HTTP API over the reco extension (README "Web dashboard
//! and HTTP API"). Thin by design: every page and endpoint calls reco's SQL functions, so the
//! database stays the one source of truth; nothing here ranks, scores or computes statistics.

pub mod api;
pub mod charts;
pub mod db;
pub mod error;
pub mod pages;
pub mod shoe_cache;
pub mod sql;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::GovernorLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// Default read rate limit per client IP: 50 requests/s sustained, bursts of 100. A shop's
/// front end calls from a few server IPs, so it should raise it (`--read-rate`); a person on
/// the dashboard never comes near it.
pub const DEFAULT_READ_RATE: u64 = 50;
pub const DEFAULT_READ_BURST: u32 = 100;

#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub ok: AtomicU64,
    pub client_errors: AtomicU64,
    pub server_errors: AtomicU64,
    pub rate_limited: AtomicU64,
}

#[derive(Clone)]
pub struct AppState {
    pub pool: deadpool_postgres::Pool,
    /// The bearer token write endpoints need; None = every write is refused (503).
    pub token: Option<Arc<str>>,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
    /// Names and prices for the recommendations endpoint (shoe_cache.rs).
    pub shoes: Arc<shoe_cache::ShoeCache>,
}

pub struct Limits {
    /// Sustained reads per second per client IP; 0 = no limit.
    pub read_rate: u64,
    pub read_burst: u32,
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
pub fn token_matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes: 503 when no token is configured (the operator has not enabled writes), 401 when the
/// request has no or another token.
async fn require_token(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = st.token.as_deref() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "writes are disabled: reco-web was started without RECO_WEB_TOKEN",
        )
        .with_hint(
            "Set RECO_WEB_TOKEN in reco-web's environment and send Authorization: Bearer <token>.",
        )
        .into_response();
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if token_matches(expected, g) => next.run(req).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "invalid bearer token").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this endpoint writes: it needs Authorization: Bearer <token>",
        )
        .with_hint("The token is the RECO_WEB_TOKEN reco-web was started with.")
        .into_response(),
    }
}

async fn count(State(st): State<AppState>, req: Request, next: Next) -> Response {
    st.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let resp = next.run(req).await;
    let s = resp.status();
    let m = &st.metrics;
    if s == StatusCode::TOO_MANY_REQUESTS {
        m.rate_limited.fetch_add(1, Ordering::Relaxed);
    }
    if s.is_server_error() {
        m.server_errors.fetch_add(1, Ordering::Relaxed);
    } else if s.is_client_error() {
        m.client_errors.fetch_add(1, Ordering::Relaxed);
    } else {
        m.ok.fetch_add(1, Ordering::Relaxed);
    }
    resp
}

async fn not_found_api() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
        .with_hint("GET /openapi.json lists the endpoints; /docs shows them.")
}

pub fn router(state: AppState, limits: &Limits) -> Router {
    let reads = Router::new()
        .route("/api/recommendations/{user_id}", get(api::recommendations))
        .route("/api/similar/{shoe_id}", get(api::similar))
        .route("/api/services", get(api::services))
        .route("/api/users", get(api::users))
        .route("/api/users/{user_id}", get(api::user))
        .route("/api/shoes/{shoe_id}", get(api::shoe))
        .route("/api/experiments", get(api::experiments))
        .route(
            "/api/experiments/{name}/results",
            get(api::experiment_results),
        )
        .route(
            "/api/experiments/{name}/timeline",
            get(api::experiment_timeline),
        )
        .route("/api/models", get(api::models))
        .route("/api/models/history", get(api::model_history))
        .route("/api/models/quality", get(api::model_quality))
        .route("/api/models/drift", get(api::model_drift))
        .route("/api/metrics/serving", get(api::serving_metrics));
    let reads = if let Some(period_ns) = 1_000_000_000u64.checked_div(limits.read_rate) {
        // Period between two replenished requests, per client IP (the peer address: put a
        // proxy's real-IP handling in front if there is one).
        let conf = GovernorConfigBuilder::default()
            .per_nanosecond(period_ns.max(1))
            .burst_size(limits.read_burst.max(1))
            .use_headers()
            .finish()
            .expect("valid rate limit");
        let limiter = conf.limiter().clone();
        // Forget clients not seen for a while, so the table does not grow without bound.
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                limiter.retain_recent();
            }
        });
        reads.layer(GovernorLayer::new(conf).error_handler(|e| {
            let wait = match &e {
                tower_governor::GovernorError::TooManyRequests { wait_time, .. } => *wait_time,
                _ => 1,
            };
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("rate limit exceeded: retry in {wait} s"),
            )
            .with_hint("Reads are limited per client IP (reco-web --read-rate / --read-burst).")
            .into_response();
            if let Ok(v) = wait.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }))
    } else {
        reads
    };
    let writes = Router::new()
        .route("/api/serve", post(api::serve))
        .route("/api/events", post(api::events))
        .route("/api/ratings", post(api::ratings))
        .route("/api/experiments", post(api::create_experiment))
        .route("/api/experiments/{name}/start", post(api::start_experiment))
        .route("/api/experiments/{name}/pause", post(api::pause_experiment))
        .route("/api/experiments/{name}/stop", post(api::stop_experiment))
        .route("/api/models/refresh", post(api::refresh))
        .route("/api/models/{model_id}/activate", post(api::activate))
        .route("/api/models/rollback", post(api::rollback))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    // Health is outside the rate limit: monitors poll it.
    let open = Router::new().route("/api/health", get(api::health));
    let api_router = reads
        .merge(writes)
        .merge(open)
        .route("/api/{*rest}", axum::routing::any(not_found_api));
    Router::new()
        .merge(api_router)
        .merge(pages::router())
        .merge(SwaggerUi::new("/docs").url("/openapi.json", api::ApiDoc::openapi()))
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}
