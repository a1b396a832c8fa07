//! The JSON API under /api and its OpenAPI description. Handlers are thin: each runs one
//! statement of `sql.rs` and returns its JSON; the schemas below document those JSON shapes.

use crate::db::{self, opt};
use crate::error::{ApiError, ErrorBody};
use crate::shoe_cache::ShoeSummary;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use utoipa::{IntoParams, OpenApi, ToSchema};

// ---------------------------------------------------------------- documented shapes

/// One recommended shoe, best first.
#[derive(Serialize, ToSchema)]
pub struct Recommendation {
    rank: i64,
    shoe_id: i64,
    name: Option<String>,
    brand: Option<String>,
    r#type: Option<String>,
    price: Option<f64>,
    /// The hybrid score recommend() ranks by.
    score: f64,
    cf_score: f64,
    content_score: f64,
    /// Why: "often chosen together with <shoe> you bought", "popular with hikers", ...
    reason: String,
}

/// One look-alike shoe, best first.
#[derive(Serialize, ToSchema)]
pub struct SimilarShoe {
    rank: i64,
    shoe_id: i64,
    name: Option<String>,
    brand: Option<String>,
    r#type: Option<String>,
    price: Option<f64>,
    score: f64,
    content_score: f64,
    cf_score: f64,
}

/// A care reminder or replacement suggestion due on a day (reco.due_services()).
#[derive(Serialize, ToSchema)]
pub struct DueService {
    user_id: i64,
    shoe_id: i64,
    shoe_name: Option<String>,
    /// YYYY-MM-DD
    purchased_on: String,
    /// care or replacement
    service: String,
    due_on: String,
    message: String,
    /// Suggested replacement shoe ids (empty for care).
    suggestions: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct DueServices {
    as_of: String,
    /// All rows due, also those past `limit`.
    total: i64,
    services: Vec<DueService>,
}

#[derive(Serialize, ToSchema)]
pub struct UserProfile {
    user_id: i64,
    age: Option<i32>,
    gender: Option<String>,
    primary_usage: Option<String>,
    created_at: String,
    views: i64,
    wishlist_adds: i64,
    purchases: i64,
    last_seen: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryItem {
    occurred_at: String,
    shoe_id: i64,
    name: String,
    brand: String,
    r#type: String,
    /// view, add_to_wishlist, purchase
    action: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserDetails {
    profile: UserProfile,
    /// Newest first.
    history: Vec<HistoryItem>,
}

#[derive(Serialize, ToSchema)]
pub struct UserSummary {
    user_id: i64,
    age: Option<i32>,
    gender: Option<String>,
    primary_usage: Option<String>,
    interactions: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Shoe {
    shoe_id: i64,
    name: String,
    brand: String,
    r#type: String,
    material: Option<String>,
    color: Option<String>,
    price: Option<f64>,
    description: Option<String>,
    care_instructions: Option<String>,
    lifespan_days: i32,
    active: bool,
    created_at: String,
}

/// What POST /api/serve takes: recommend()'s filters plus the placement and an anonymous
/// visitor's key.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // documentation only: the body is passed to SQL as JSON
pub struct ServeRequest {
    /// NULL / absent = anonymous (then `visitor` assigns the arm).
    user_id: Option<i64>,
    /// 1..10000, default 10.
    k: Option<i32>,
    /// Default "home".
    placement: Option<String>,
    visitor: Option<String>,
    exclude_purchased: Option<bool>,
    brand: Option<String>,
    r#type: Option<String>,
    max_price: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct ServedItem {
    position: i32,
    shoe_id: i64,
    name: Option<String>,
    score: f64,
    reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct Served {
    /// Pass it to /api/events and /api/ratings.
    request_id: Option<i64>,
    /// The user's arm, or "default" outside any experiment.
    arm: Option<String>,
    items: Vec<ServedItem>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct EventRequest {
    request_id: Option<i64>,
    shoe_id: i64,
    /// click, add_to_cart or purchase
    kind: String,
    order_value: Option<f64>,
    user_id: Option<i64>,
    /// RFC 3339; default now.
    occurred_at: Option<String>,
    /// A PostgreSQL interval, default "1 day".
    attribution_window: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EventLogged {
    /// NULL when the event was a repeat or could not be attributed.
    event_id: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct RatingRequest {
    user_id: i64,
    shoe_id: i64,
    /// 1 (thumbs up) or -1 (thumbs down)
    rating: i32,
    request_id: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct RatingLogged {
    user_id: i64,
    shoe_id: i64,
    rating: i32,
    ok: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Arm {
    name: String,
    /// popularity, hybrid or model
    strategy: String,
    /// For strategy "model".
    model_id: Option<i64>,
    weight: f64,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ExperimentRequest {
    name: String,
    /// The first arm is the control.
    arms: Vec<Arm>,
    placement: Option<String>,
    /// Relative lift of user conversion to plan for; default 0.1.
    minimum_detectable_effect: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct ExperimentState {
    experiment_id: Option<i64>,
    name: String,
    /// draft, running, paused or stopped
    status: String,
}

#[derive(Serialize, ToSchema)]
pub struct Experiment {
    experiment_id: i64,
    name: String,
    placement: String,
    status: String,
    arms: Vec<Arm>,
    minimum_detectable_effect: f64,
    created_at: String,
    started_at: Option<String>,
    stopped_at: Option<String>,
}

/// One arm of reco.experiment_results() (the control first). Only the main columns are listed;
/// every column of experiment_results() is returned (ctr_*, aov_*, revenue_per_user_* too).
#[derive(Serialize, ToSchema)]
pub struct ArmResult {
    arm: String,
    users: i64,
    impressions: i64,
    clicks: i64,
    ctr: Option<f64>,
    conversions: i64,
    conversion_rate: Option<f64>,
    orders: i64,
    revenue: Option<f64>,
    revenue_per_user: Option<f64>,
    conversion_lift: Option<f64>,
    conversion_ci_low: Option<f64>,
    conversion_ci_high: Option<f64>,
    conversion_p_value: Option<f64>,
    required_users_per_arm: Option<i64>,
    srm_p_value: Option<f64>,
    /// SRM, control, underpowered, better, worse, no difference
    verdict: String,
}

/// Cumulative user conversion of an arm up to a day (reco.experiment_timeline()).
#[derive(Serialize, ToSchema)]
pub struct TimelinePoint {
    /// YYYY-MM-DD (UTC)
    day: String,
    arm: String,
    users: i64,
    converters: i64,
    conversion_rate: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct ModelVersion {
    model_id: i64,
    created_at: String,
    /// active or retired
    status: String,
    users: i32,
    shoes: i32,
    interactions: i64,
    factors: i32,
    energy: f64,
    seconds: Value,
}

/// Quality of a model version: refresh()'s held-out measure (source "refresh") or the latest
/// stored reco.evaluate() of a method (source "evaluate").
#[derive(Serialize, ToSchema)]
pub struct ModelQuality {
    model_id: i64,
    measured_at: String,
    /// refresh or evaluate
    source: String,
    /// hybrid, cf, itemknn, content, popularity
    method: String,
    k: i32,
    ndcg_at_k: Option<f64>,
    recall_at_k: Option<f64>,
    hit_rate_at_k: Option<f64>,
    coverage_at_k: Option<f64>,
    users: i32,
}

/// A change of the active version (reco.model_activations), newest first.
#[derive(Serialize, ToSchema)]
pub struct Activation {
    activation_id: i64,
    at: String,
    from_model_id: Option<i64>,
    to_model_id: i64,
    /// activated or kept_candidate
    decision: String,
    /// manual, scheduled or automatic
    how: String,
    by_role: String,
    reason: Option<String>,
}

/// Drift refresh() measured against the version active before (reco.model_drift).
#[derive(Serialize, ToSchema)]
pub struct Drift {
    model_id: i64,
    baseline_model_id: i64,
    /// shoe_popularity, action_mix, user_activity, new_users, new_shoes
    feature: String,
    psi: Option<f64>,
    js_divergence: Option<f64>,
    /// stable, moderate or significant
    band: Option<String>,
    baseline_total: f64,
    current_total: f64,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ActivateRequest {
    /// Why (kept in reco.model_activations).
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// ok, or unavailable (then the status code is 503).
    status: String,
    web_version: String,
    uptime_seconds: f64,
    database: Value,
}

#[derive(Serialize, ToSchema)]
pub struct ServingMetrics {
    /// Counters of this reco-web process since it started.
    http: Value,
    /// This database's rows of reco.serving_stats (empty counters unless reco is in
    /// shared_preload_libraries), or null when the database's reco has no such view.
    database: Value,
    database_note: Option<String>,
}

// ---------------------------------------------------------------- parameters

#[derive(Deserialize, IntoParams, Default)]
pub struct RecoParams {
    /// Number of shoes, 1..10000 (default 10).
    #[param(value_type = Option<i32>)]
    k: Option<String>,
    /// Only this brand (ignoring ASCII case).
    brand: Option<String>,
    /// Only this type (running, hiking, formal, ...).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    shoe_type: Option<String>,
    /// Only shoes at most this price.
    #[param(value_type = Option<f64>)]
    max_price: Option<String>,
    /// Leave out shoes the user bought (default true).
    #[param(value_type = Option<bool>)]
    exclude_purchased: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct KParams {
    /// Number of shoes, 1..10000 (default 10).
    #[param(value_type = Option<i32>)]
    k: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct ServicesParams {
    /// The day, YYYY-MM-DD (default: the database's current_date).
    date: Option<String>,
    /// Only this user's services.
    #[param(value_type = Option<i64>)]
    user_id: Option<String>,
    /// Most rows returned (default 1000; `total` counts all).
    #[param(value_type = Option<i32>)]
    limit: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct UsersParams {
    /// A user id, or part of a primary usage (running, hiking, ...).
    q: Option<String>,
    /// 1..1000 (default 50).
    #[param(value_type = Option<i32>)]
    limit: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct HistoryParams {
    /// Latest interactions returned, 1..1000 (default 20).
    #[param(value_type = Option<i32>)]
    history: Option<String>,
}

// ---------------------------------------------------------------- handlers

type ApiResult = Result<Json<Value>, ApiError>;

fn body(b: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    match b {
        Ok(Json(v)) if v.is_object() => Ok(v),
        Ok(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body: {}", e.body_text()),
        )
        .with_hint("Send Content-Type: application/json and a JSON object.")),
    }
}

/// A body that may be left out (empty = the defaults), else a JSON object of that shape.
fn optional_body<T: serde::de::DeserializeOwned + Default>(b: &Bytes) -> Result<T, ApiError> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(b)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

/// Recommendations for a user (reco.recommend()).
#[utoipa::path(get, path = "/api/recommendations/{user_id}", tag = "serving",
    params(("user_id" = i64, Path, description = "The user"), RecoParams),
    responses((status = 200, description = "Best first", body = [Recommendation]),
              (status = 400, description = "Bad k, price or flag (22xxx)", body = ErrorBody),
              (status = 404, description = "Unknown user (P0002)", body = ErrorBody),
              (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn recommendations(
    State(st): State<AppState>,
    Path(user_id): Path<String>,
    Query(q): Query<RecoParams>,
) -> Result<Json<Vec<Recommendation>>, ApiError> {
    recommend(&st, &user_id, &q).await.map(Json)
}

/// recommend() for the API and the user page.
pub async fn recommend(
    st: &AppState,
    user_id: &str,
    q: &RecoParams,
) -> Result<Vec<Recommendation>, ApiError> {
    let rows = db::rows(
        &st.pool,
        crate::sql::RECOMMEND,
        &[
            &user_id,
            &opt(&q.k),
            &opt(&q.exclude_purchased),
            &opt(&q.brand),
            &opt(&q.shoe_type),
            &opt(&q.max_price),
        ],
    )
    .await?;
    let ids = rows
        .iter()
        .map(|r| r.try_get::<_, i64>(0))
        .collect::<Result<Vec<i64>, tokio_postgres::Error>>()?;
    let now = std::time::Instant::now();
    let (mut found, missing) = st.shoes.lookup(&ids, now);
    if !missing.is_empty() {
        let fetched = db::rows(&st.pool, crate::sql::SHOE_SUMMARIES, &[&missing])
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<_, i64>(0)?,
                    ShoeSummary {
                        name: r.try_get(1)?,
                        brand: r.try_get(2)?,
                        r#type: r.try_get(3)?,
                        price: r.try_get(4)?,
                    },
                ))
            })
            .collect::<Result<HashMap<i64, ShoeSummary>, tokio_postgres::Error>>()?;
        for (slot, id) in found.iter_mut().zip(&ids) {
            if slot.is_none() {
                *slot = fetched.get(id).cloned();
            }
        }
        st.shoes.store(fetched, now);
    }
    rows.iter()
        .zip(found)
        .enumerate()
        .map(|(i, (r, summary))| {
            // A shoe deleted since recommend() read the catalogue has no summary: shown
            // without a name, as the LEFT JOIN of earlier versions did.
            let s = summary.unwrap_or(ShoeSummary {
                name: None,
                brand: None,
                r#type: None,
                price: None,
            });
            Ok(Recommendation {
                rank: i as i64 + 1,
                shoe_id: r.try_get(0)?,
                name: s.name,
                brand: s.brand,
                r#type: s.r#type,
                price: s.price,
                score: r.try_get(1)?,
                cf_score: r.try_get(2)?,
                content_score: r.try_get(3)?,
                reason: r.try_get(4)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(ApiError::from)
}

/// Look-alikes of a shoe (reco.similar()).
#[utoipa::path(get, path = "/api/similar/{shoe_id}", tag = "serving",
    params(("shoe_id" = i64, Path, description = "The shoe"), KParams),
    responses((status = 200, description = "Best first", body = [SimilarShoe]),
              (status = 400, description = "Bad k (22xxx)", body = ErrorBody),
              (status = 404, description = "Unknown shoe (P0002)", body = ErrorBody)))]
pub async fn similar(
    State(st): State<AppState>,
    Path(shoe_id): Path<String>,
    Query(q): Query<KParams>,
) -> ApiResult {
    db::json(&st.pool, crate::sql::SIMILAR, &[&shoe_id, &opt(&q.k)])
        .await
        .map(Json)
}

/// Care reminders and replacement suggestions due on a day (reco.due_services()).
#[utoipa::path(get, path = "/api/services", tag = "serving", params(ServicesParams),
    responses((status = 200, body = DueServices),
              (status = 400, description = "Bad date (22007/22008)", body = ErrorBody)))]
pub async fn services(State(st): State<AppState>, Query(q): Query<ServicesParams>) -> ApiResult {
    db::json(
        &st.pool,
        crate::sql::SERVICES,
        &[&opt(&q.date), &opt(&q.user_id), &opt(&q.limit)],
    )
    .await
    .map(Json)
}

/// Users to pick from (by id or primary usage).
#[utoipa::path(get, path = "/api/users", tag = "catalogue", params(UsersParams),
    responses((status = 200, body = [UserSummary]), (status = 400, body = ErrorBody)))]
pub async fn users(State(st): State<AppState>, Query(q): Query<UsersParams>) -> ApiResult {
    db::json(&st.pool, crate::sql::USERS, &[&opt(&q.q), &opt(&q.limit)])
        .await
        .map(Json)
}

/// A user's profile and latest interactions.
#[utoipa::path(get, path = "/api/users/{user_id}", tag = "catalogue",
    params(("user_id" = i64, Path, description = "The user"), HistoryParams),
    responses((status = 200, body = UserDetails), (status = 404, description = "Unknown user (P0002)", body = ErrorBody)))]
pub async fn user(
    State(st): State<AppState>,
    Path(user_id): Path<String>,
    Query(q): Query<HistoryParams>,
) -> ApiResult {
    db::json(
        &st.pool,
        crate::sql::USER_PROFILE,
        &[&user_id, &opt(&q.history)],
    )
    .await
    .map(Json)
}

/// A shoe of the catalogue.
#[utoipa::path(get, path = "/api/shoes/{shoe_id}", tag = "catalogue",
    params(("shoe_id" = i64, Path, description = "The shoe")),
    responses((status = 200, body = Shoe), (status = 404, description = "Unknown shoe (P0002)", body = ErrorBody)))]
pub async fn shoe(State(st): State<AppState>, Path(shoe_id): Path<String>) -> ApiResult {
    db::json(&st.pool, crate::sql::SHOE, &[&shoe_id])
        .await
        .map(Json)
}

/// Serves a list through the placement's running experiment and records the impression
/// (reco.serve()). Needs the bearer token: it writes.
#[utoipa::path(post, path = "/api/serve", tag = "experiments", request_body = ServeRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Served), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, description = "Unknown user (P0002)", body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn serve(State(st): State<AppState>, b: Result<Json<Value>, JsonRejection>) -> ApiResult {
    let b = body(b)?;
    db::json(&st.pool, crate::sql::SERVE, &[&b]).await.map(Json)
}

/// Logs a click, cart add or purchase of a served shoe (reco.log_event()).
#[utoipa::path(post, path = "/api/events", tag = "experiments", request_body = EventRequest,
    security(("bearer" = [])),
    responses((status = 201, body = EventLogged), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, description = "Unknown request (P0002)", body = ErrorBody)))]
pub async fn events(
    State(st): State<AppState>,
    b: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let v = db::json(&st.pool, crate::sql::LOG_EVENT, &[&b]).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// A thumbs up (1) or down (-1) (reco.rate()).
#[utoipa::path(post, path = "/api/ratings", tag = "experiments", request_body = RatingRequest,
    security(("bearer" = [])),
    responses((status = 201, body = RatingLogged), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, description = "Unknown user or shoe", body = ErrorBody)))]
pub async fn ratings(
    State(st): State<AppState>,
    b: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let v = db::json(&st.pool, crate::sql::RATE, &[&b]).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// Every experiment, newest first.
#[utoipa::path(get, path = "/api/experiments", tag = "experiments", responses((status = 200, body = [Experiment])))]
pub async fn experiments(State(st): State<AppState>) -> ApiResult {
    db::json(&st.pool, crate::sql::EXPERIMENTS, &[])
        .await
        .map(Json)
}

/// Creates an experiment in status draft (reco.create_experiment()).
#[utoipa::path(post, path = "/api/experiments", tag = "experiments", request_body = ExperimentRequest,
    security(("bearer" = [])),
    responses((status = 201, body = ExperimentState), (status = 400, description = "Bad arms (22023)", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 409, description = "Name taken (23505)", body = ErrorBody)))]
pub async fn create_experiment(
    State(st): State<AppState>,
    b: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let b = body(b)?;
    let v = db::json(&st.pool, crate::sql::CREATE_EXPERIMENT, &[&b]).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn transition(st: &AppState, sql: &str, name: &str) -> ApiResult {
    db::json(&st.pool, sql, &[&name]).await.map(Json)
}

/// Starts (or resumes) an experiment.
#[utoipa::path(post, path = "/api/experiments/{name}/start", tag = "experiments", security(("bearer" = [])),
    params(("name" = String, Path, description = "The experiment")),
    responses((status = 200, body = ExperimentState), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "Wrong state (55000) or another experiment live on the placement (23505)", body = ErrorBody)))]
pub async fn start_experiment(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult {
    transition(&st, crate::sql::START_EXPERIMENT, &name).await
}

/// Pauses a running experiment.
#[utoipa::path(post, path = "/api/experiments/{name}/pause", tag = "experiments", security(("bearer" = [])),
    params(("name" = String, Path, description = "The experiment")),
    responses((status = 200, body = ExperimentState), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn pause_experiment(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult {
    transition(&st, crate::sql::PAUSE_EXPERIMENT, &name).await
}

/// Stops an experiment for good.
#[utoipa::path(post, path = "/api/experiments/{name}/stop", tag = "experiments", security(("bearer" = [])),
    params(("name" = String, Path, description = "The experiment")),
    responses((status = 200, body = ExperimentState), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn stop_experiment(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult {
    transition(&st, crate::sql::STOP_EXPERIMENT, &name).await
}

/// Per-arm results with confidence intervals and the verdict (reco.experiment_results()).
#[utoipa::path(get, path = "/api/experiments/{name}/results", tag = "experiments",
    params(("name" = String, Path, description = "The experiment")),
    responses((status = 200, body = [ArmResult]), (status = 404, body = ErrorBody)))]
pub async fn experiment_results(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult {
    db::json(&st.pool, crate::sql::EXPERIMENT_RESULTS, &[&name])
        .await
        .map(Json)
}

/// Cumulative user conversion per arm and day (what the experiments page draws).
#[utoipa::path(get, path = "/api/experiments/{name}/timeline", tag = "experiments",
    params(("name" = String, Path, description = "The experiment")),
    responses((status = 200, body = [TimelinePoint]), (status = 404, body = ErrorBody)))]
pub async fn experiment_timeline(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult {
    db::json(&st.pool, crate::sql::EXPERIMENT_TIMELINE, &[&name])
        .await
        .map(Json)
}

/// The kept model versions, newest first.
#[utoipa::path(get, path = "/api/models", tag = "models", responses((status = 200, body = [ModelVersion])))]
pub async fn models(State(st): State<AppState>) -> ApiResult {
    db::json(&st.pool, crate::sql::MODELS, &[]).await.map(Json)
}

/// Every change of the active model version, newest first (reco.model_activations).
#[utoipa::path(get, path = "/api/models/history", tag = "models", responses((status = 200, body = [Activation])))]
pub async fn model_history(State(st): State<AppState>) -> ApiResult {
    db::json(&st.pool, crate::sql::ACTIVATIONS, &[])
        .await
        .map(Json)
}

/// Quality per model version: refresh()'s held-out nDCG@10 and stored reco.evaluate() runs.
#[utoipa::path(get, path = "/api/models/quality", tag = "models", responses((status = 200, body = [ModelQuality])))]
pub async fn model_quality(State(st): State<AppState>) -> ApiResult {
    db::json(&st.pool, crate::sql::MODEL_QUALITY, &[])
        .await
        .map(Json)
}

/// Drift per model version against the version active before it (reco.model_drift).
#[utoipa::path(get, path = "/api/models/drift", tag = "models", responses((status = 200, body = [Drift])))]
pub async fn model_drift(State(st): State<AppState>) -> ApiResult {
    db::json(&st.pool, crate::sql::DRIFT, &[]).await.map(Json)
}

/// What POST /api/models/refresh takes (all optional; no body = refresh()'s defaults).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // documentation only: the body is passed to SQL as JSON
pub struct RefreshRequest {
    /// Activate the new version (default true); false keeps it a candidate.
    activate: Option<bool>,
    /// refresh()'s quality guard: keep the new version a candidate when its held-out nDCG@10 is
    /// more than this share below the active version's (e.g. 0.05).
    max_quality_drop: Option<f64>,
}

/// Builds a new model version (reco.refresh(activate, max_quality_drop) as the owner, through
/// reco.dashboard_refresh()).
#[utoipa::path(post, path = "/api/models/refresh", tag = "models", security(("bearer" = [])), request_body = RefreshRequest,
    responses((status = 200, description = "refresh()'s row (model_id, status, ndcg_at_10, seconds, ...)", body = Object), (status = 401, body = ErrorBody),
              (status = 404, description = "No interactions (P0002)", body = ErrorBody),
              (status = 503, description = "Over reco.refresh_memory_limit (53200)", body = ErrorBody)))]
pub async fn refresh(State(st): State<AppState>, b: Bytes) -> ApiResult {
    let body: Value = optional_body::<Option<Value>>(&b)?.unwrap_or_else(|| json!({}));
    if !body.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request body must be a JSON object",
        ));
    }
    db::json(&st.pool, crate::sql::REFRESH, &[&body])
        .await
        .map(Json)
}

/// Serves a kept version (reco.activate(model_id, reason), as the owner).
#[utoipa::path(post, path = "/api/models/{model_id}/activate", tag = "models", security(("bearer" = [])),
    params(("model_id" = i64, Path, description = "The version")), request_body = ActivateRequest,
    responses((status = 200, description = "model_id and previous_model_id", body = Object), (status = 401, body = ErrorBody),
              (status = 404, description = "Unknown version (P0002)", body = ErrorBody),
              (status = 409, description = "Already active (55000)", body = ErrorBody)))]
pub async fn activate(
    State(st): State<AppState>,
    Path(model_id): Path<String>,
    b: Bytes,
) -> ApiResult {
    let reason = optional_body::<ActivateRequest>(&b)?.reason;
    db::json(&st.pool, crate::sql::ACTIVATE, &[&model_id, &reason])
        .await
        .map(Json)
}

/// Goes back to the version active before the active one (reco.rollback(reason), as the owner).
#[utoipa::path(post, path = "/api/models/rollback", tag = "models", security(("bearer" = [])), request_body = ActivateRequest,
    responses((status = 200, description = "model_id now active", body = Object), (status = 401, body = ErrorBody),
              (status = 409, description = "No previous version (55000)", body = ErrorBody)))]
pub async fn rollback(State(st): State<AppState>, b: Bytes) -> ApiResult {
    let reason = optional_body::<ActivateRequest>(&b)?.reason;
    db::json(&st.pool, crate::sql::ROLLBACK, &[&reason])
        .await
        .map(Json)
}

/// Is the database reachable, which reco and which active model. 503 when unreachable.
#[utoipa::path(get, path = "/api/health", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(st): State<AppState>) -> Response {
    let uptime = st.started.elapsed().as_secs_f64();
    let (status, db) = match db::json(&st.pool, crate::sql::HEALTH, &[]).await {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => (
            e.status,
            serde_json::to_value(e.body()).unwrap_or(Value::Null),
        ),
    };
    let ok = status == StatusCode::OK;
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(json!({"status": if ok {"ok"} else {"unavailable"}, "web_version": env!("CARGO_PKG_VERSION"),
                        "uptime_seconds": uptime, "database": db}))).into_response()
}

/// Serving metrics: this process's request counters and this database's rows of reco.serving_stats.
#[utoipa::path(get, path = "/api/metrics/serving", tag = "operations", responses((status = 200, body = ServingMetrics)))]
pub async fn serving_metrics(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let m = &st.metrics;
    let http = json!({
        "uptime_seconds": st.started.elapsed().as_secs_f64(),
        "requests": m.requests.load(Ordering::Relaxed),
        "responses_2xx": m.ok.load(Ordering::Relaxed),
        "responses_4xx": m.client_errors.load(Ordering::Relaxed),
        "responses_5xx": m.server_errors.load(Ordering::Relaxed),
        "rate_limited": m.rate_limited.load(Ordering::Relaxed),
    });
    match db::json(&st.pool, crate::sql::SERVING_STATS, &[]).await {
        Ok(v) => Ok(Json(
            json!({"http": http, "database": v, "database_note": null}),
        )),
        Err(e) if e.status == StatusCode::NOT_IMPLEMENTED => {
            Ok(Json(json!({"http": http, "database": null,
            "database_note": format!("reco.serving_stats is not available in this database: {}", e.message)})))
        }
        Err(e) => Err(e),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "reco HTTP API", description = "JSON over reco's SQL functions (crates/reco-web). Errors: a JSON ErrorBody; SQLSTATE 22xxx -> 400, P0002 -> 404, 42501 -> 403, 53200 -> 503, 23505/55000 -> 409, others 500. Write endpoints need `Authorization: Bearer <RECO_WEB_TOKEN>`; reads are rate limited per client IP."),
    paths(recommendations, similar, services, users, user, shoe, serve, events, ratings, experiments,
          create_experiment, start_experiment, pause_experiment, stop_experiment, experiment_results,
          experiment_timeline, models, model_history, model_quality, model_drift, refresh, activate, rollback, health,
          serving_metrics),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// (method, path, summary) of every operation in the spec, sorted by path: the rows of the
/// README's endpoint table (`reco-web --endpoints` prints it; a test compares the two).
pub fn endpoints() -> Vec<(String, String, String)> {
    let spec = serde_json::to_value(ApiDoc::openapi()).expect("spec serialises");
    let mut out = Vec::new();
    if let Some(paths) = spec["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "post", "put", "delete", "patch"] {
                if let Some(op) = item.get(method) {
                    let summary = op["summary"]
                        .as_str()
                        .or(op["description"].as_str())
                        .unwrap_or("")
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ");
                    out.push((method.to_uppercase(), path.clone(), summary));
                }
            }
        }
    }
    out.sort_by_key(|a| (a.1.clone(), a.0.clone()));
    out
}

/// The README's endpoint table, generated from the spec.
pub fn endpoints_markdown() -> String {
    let mut out = String::from("| method | path | needs | what |\n|---|---|---|---|\n");
    for (m, p, s) in endpoints() {
        let needs = if m != "GET" {
            "token"
        } else if p == "/api/health" {
            "-"
        } else {
            "rate limit"
        };
        out.push_str(&format!("| {m} | `{p}` | {needs} | {s} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    /// The README's endpoint table is the one the spec generates (`reco-web --endpoints`).
    #[test]
    fn readme_endpoint_table_matches_the_spec() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .expect("README.md");
        let marker = "<!-- endpoints: generated by `reco-web --endpoints`, checked by a test -->\n";
        let start = readme
            .find(marker)
            .expect("the endpoints marker in README.md")
            + marker.len();
        let table: String = readme[start..]
            .lines()
            .take_while(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            table,
            super::endpoints_markdown(),
            "README.md's endpoint table is stale: paste `reco-web --endpoints` under the marker"
        );
    }
}
