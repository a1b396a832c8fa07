//! Every statement reco-web runs. Each calls reco's SQL functions (never a table: the role has
//! no table privileges) and returns one jsonb value. Arguments arrive as text and are cast in
//! SQL, so a malformed value ("k=abc", a bad date) is PostgreSQL's 22P02 / 22007 and maps to
//! 400 like every other bad value, with PostgreSQL's own message.

/// recommend(), one row per shoe in rank order; reco-web adds the shoes' names from its
/// short-lived cache (shoe_cache.rs) and writes the JSON itself (this is the hot endpoint:
/// building it with jsonb_agg in the backend cost about a tenth of the throughput on tier M).
pub const RECOMMEND: &str = "
SELECT r.shoe_id, r.score::float8, r.cf_score::float8, r.content_score::float8, r.reason
FROM reco.recommend($1::text::bigint, coalesce($2::text::integer, 10),
                    coalesce($3::text::boolean, true), $4::text, $5::text, $6::text::float8) r";

/// The display fields of shoes missing from that cache.
pub const SHOE_SUMMARIES: &str = "
SELECT s.shoe_id, s.name, s.brand, s.type, s.price::float8 FROM reco.shoe_summaries($1::bigint[]) s";

pub const SIMILAR: &str = "
WITH r AS MATERIALIZED (
    SELECT * FROM reco.similar($1::text::bigint, coalesce($2::text::integer, 10))
         WITH ORDINALITY AS r(shoe_id, score, content_score, cf_score, rank))
SELECT coalesce(jsonb_agg(jsonb_build_object(
           'rank', r.rank, 'shoe_id', r.shoe_id, 'name', s.name, 'brand', s.brand, 'type', s.type,
           'price', s.price, 'score', r.score, 'content_score', r.content_score,
           'cf_score', r.cf_score) ORDER BY r.rank), '[]'::jsonb)
FROM r LEFT JOIN reco.shoe_summaries((SELECT array_agg(r2.shoe_id) FROM r r2)) s USING (shoe_id)";

/// due_services() of a day, optionally one user's, with the shoes' names; `limit` caps the
/// rows returned (a big shop has many a day), `total` counts them all.
pub const SERVICES: &str = "
WITH d AS MATERIALIZED (
    SELECT * FROM reco.due_services(coalesce($1::text::date, current_date)) d
    WHERE $2::text IS NULL OR d.user_id = $2::text::bigint),
page AS (SELECT * FROM d ORDER BY d.due_on, d.user_id, d.shoe_id, d.service
         LIMIT coalesce($3::text::integer, 1000))
SELECT jsonb_build_object(
    'as_of', coalesce($1::text::date, current_date),
    'total', (SELECT count(*) FROM d),
    'services', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'user_id', p.user_id, 'shoe_id', p.shoe_id, 'shoe_name', s.name,
                   'purchased_on', p.purchased_on, 'service', p.service, 'due_on', p.due_on,
                   'message', p.message, 'suggestions', coalesce(to_jsonb(p.suggestions), '[]'::jsonb))
                ORDER BY p.due_on, p.user_id, p.shoe_id, p.service)
        FROM page p LEFT JOIN reco.shoe_summaries((SELECT array_agg(p2.shoe_id) FROM page p2)) s USING (shoe_id)),
        '[]'::jsonb))";

pub const USER_PROFILE: &str = "
SELECT jsonb_build_object(
    'profile', (SELECT to_jsonb(p) FROM reco.user_profile($1::text::bigint) p),
    'history', coalesce((SELECT jsonb_agg(to_jsonb(h)) FROM reco.user_history($1::text::bigint, coalesce($2::text::integer, 20)) h), '[]'::jsonb))";

pub const USERS: &str = "
SELECT coalesce(jsonb_agg(to_jsonb(u)), '[]'::jsonb)
FROM reco.dashboard_users($1::text, coalesce($2::text::integer, 50)) u";

pub const SHOE: &str = "SELECT to_jsonb(s) FROM reco.shoe_details($1::text::bigint) s";

/// serve(): one impression, its request id and arm, the list with names.
pub const SERVE: &str = "
WITH b AS (SELECT $1::jsonb AS j),
r AS MATERIALIZED (
    SELECT s.* FROM b, reco.serve((j->>'user_id')::bigint, coalesce((j->>'k')::integer, 10),
                                  coalesce(j->>'placement', 'home'),
                                  coalesce((j->>'exclude_purchased')::boolean, true),
                                  j->>'brand', j->>'type', (j->>'max_price')::float8,
                                  NULL, NULL, j->>'visitor') s)
SELECT jsonb_build_object(
    'request_id', (SELECT min(r.request_id) FROM r),
    'arm', (SELECT min(r.arm) FROM r),
    'items', coalesce((
        SELECT jsonb_agg(jsonb_build_object('position', r.position, 'shoe_id', r.shoe_id,
                   'name', s.name, 'brand', s.brand, 'type', s.type, 'price', s.price,
                   'score', r.score, 'reason', r.reason) ORDER BY r.position)
        FROM r LEFT JOIN reco.shoe_summaries((SELECT array_agg(r2.shoe_id) FROM r r2)) s USING (shoe_id)),
        '[]'::jsonb))";

pub const LOG_EVENT: &str = "
SELECT jsonb_build_object('event_id', reco.log_event(
    (j->>'request_id')::bigint, (j->>'shoe_id')::bigint, j->>'kind', (j->>'order_value')::numeric,
    (j->>'user_id')::bigint, coalesce((j->>'occurred_at')::timestamptz, now()),
    coalesce((j->>'attribution_window')::interval, interval '1 day')))
FROM (SELECT $1::jsonb AS j) b";

pub const RATE: &str = "
SELECT jsonb_build_object('user_id', (j->>'user_id')::bigint, 'shoe_id', (j->>'shoe_id')::bigint,
                          'rating', (j->>'rating')::integer, 'ok', true)
FROM (SELECT $1::jsonb AS j) b,
     LATERAL (SELECT reco.rate((j->>'user_id')::bigint, (j->>'shoe_id')::bigint,
                               (j->>'rating')::integer, (j->>'request_id')::bigint)) r";

pub const EXPERIMENTS: &str = "
SELECT coalesce(jsonb_agg(to_jsonb(e)), '[]'::jsonb) FROM reco.experiments_list() e";

pub const CREATE_EXPERIMENT: &str = "
SELECT jsonb_build_object('experiment_id', reco.create_experiment(
    j->>'name', j->'arms', coalesce(j->>'placement', 'home'),
    coalesce((j->>'minimum_detectable_effect')::float8, 0.1)), 'name', j->>'name', 'status', 'draft')
FROM (SELECT $1::jsonb AS j) b";

pub const START_EXPERIMENT: &str =
    "SELECT jsonb_build_object('name', $1::text, 'status', 'running') FROM (SELECT reco.start_experiment($1::text)) x";
pub const PAUSE_EXPERIMENT: &str =
    "SELECT jsonb_build_object('name', $1::text, 'status', 'paused') FROM (SELECT reco.pause_experiment($1::text)) x";
pub const STOP_EXPERIMENT: &str =
    "SELECT jsonb_build_object('name', $1::text, 'status', 'stopped') FROM (SELECT reco.stop_experiment($1::text)) x";

pub const EXPERIMENT_RESULTS: &str =
    "SELECT coalesce(jsonb_agg(to_jsonb(r)), '[]'::jsonb) FROM reco.experiment_results($1::text) r";

pub const EXPERIMENT_TIMELINE: &str =
    "SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]'::jsonb) FROM reco.experiment_timeline($1::text) t";

pub const MODELS: &str =
    "SELECT coalesce(jsonb_agg(to_jsonb(m)), '[]'::jsonb) FROM reco.model_versions() m";

pub const MODEL_QUALITY: &str =
    "SELECT coalesce(jsonb_agg(to_jsonb(q)), '[]'::jsonb) FROM reco.model_quality_history() q";

pub const ACTIVATIONS: &str =
    "SELECT coalesce(jsonb_agg(to_jsonb(a)), '[]'::jsonb) FROM reco.model_activation_log() a";

pub const DRIFT: &str =
    "SELECT coalesce(jsonb_agg(to_jsonb(d)), '[]'::jsonb) FROM reco.model_drift_history() d";

/// refresh(), activate(), rollback() are the owner's: reco-web calls them through the
/// dashboard's SECURITY DEFINER wrappers (sql/reco--0.3.0--0.4.0.sql, "web dashboard").
pub const REFRESH: &str = "
SELECT reco.dashboard_refresh(coalesce((j->>'activate')::boolean, true), (j->>'max_quality_drop')::float8)
FROM (SELECT $1::jsonb AS j) b";
pub const ACTIVATE: &str = "SELECT reco.dashboard_activate($1::text::bigint, $2::text)";
pub const ROLLBACK: &str = "SELECT reco.dashboard_rollback($1::text)";

pub const HEALTH: &str = "SELECT reco.dashboard_health()";

/// This database's rows of reco.serving_stats (through a SECURITY DEFINER function: the view
/// reads shared memory through an internal function); 42P01, so 501, on a reco without it.
pub const SERVING_STATS: &str = "SELECT reco.dashboard_serving_stats()";
