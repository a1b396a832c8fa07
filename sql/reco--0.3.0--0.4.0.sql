-- reco 0.3.0 -> 0.4.0 (ALTER EXTENSION reco UPDATE). A fresh CREATE EXTENSION runs this file too,
-- after the 0.1.0 objects and the earlier upgrade scripts (src/lib.rs).
--
-- Model lifecycle and monitoring (README "Model lifecycle and monitoring"): candidate versions,
-- activation with a log, rollback, pinning; held-out quality and drift measured by every
-- refresh; serving statistics and refresh progress in shared memory; a health view.

-- ================================================================ 1. Versions you control
-- A version is 'active' (served), 'candidate' (built by refresh(activate => false), or kept out
-- by the quality guard) or 'retired' (was active once). Any of them can be activated.
ALTER TABLE reco.models DROP CONSTRAINT models_status_check;
ALTER TABLE reco.models ADD CONSTRAINT models_status_check
    CHECK (status IN ('active', 'candidate', 'retired'));
ALTER TABLE reco.models ADD COLUMN pinned boolean NOT NULL DEFAULT false;
ALTER TABLE reco.models ADD COLUMN last_interaction_id bigint;
COMMENT ON COLUMN reco.models.status IS 'active (served by recommend/similar; at most one), candidate (built and not activated: refresh(activate => false) or kept out by the quality guard) or retired (was active before). reco.activate() serves any of them.';
COMMENT ON COLUMN reco.models.pinned IS 'Pinned by reco.pin_model(): pruning never removes it.';
COMMENT ON COLUMN reco.models.last_interaction_id IS 'The highest interaction_id the version was trained on: later rows are the "data now" of drift (reco.model_drift). NULL for versions built before 0.4.0.';
COMMENT ON TABLE reco.models IS 'Model versions built by reco.refresh(); at most one is active. Old versions are pruned beyond reco.keep_models, except pinned ones, the active one and the one reco.rollback() would return to.';

CREATE TABLE reco.model_activations (
    activation_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT pg_catalog.now(),
    from_model_id   bigint,
    to_model_id     bigint NOT NULL,
    decision        text NOT NULL CHECK (decision IN ('activated', 'kept_candidate')),
    how             text NOT NULL CHECK (how IN ('manual', 'scheduled', 'automatic')),
    by_role         name NOT NULL DEFAULT session_user,
    reason          text
);
CREATE INDEX model_activations_to_idx ON reco.model_activations (to_model_id, activation_id);
SELECT pg_catalog.pg_extension_config_dump('reco.model_activations', '');
SELECT pg_catalog.pg_extension_config_dump('reco.model_activations_activation_id_seq', '');
COMMENT ON TABLE reco.model_activations IS 'Every change of the active model version (and every candidate the quality guard kept out): when, from, to, by whom, why and how. Kept when versions are pruned.';
COMMENT ON COLUMN reco.model_activations.activation_id IS 'Order of the changes.';
COMMENT ON COLUMN reco.model_activations.at IS 'When (transaction start).';
COMMENT ON COLUMN reco.model_activations.from_model_id IS 'The version active before (NULL: none).';
COMMENT ON COLUMN reco.model_activations.to_model_id IS 'The version made active (decision activated) or kept as a candidate (decision kept_candidate).';
COMMENT ON COLUMN reco.model_activations.decision IS 'activated, or kept_candidate: refresh()''s quality guard found the new version worse than the active one by more than the margin and left the active one serving.';
COMMENT ON COLUMN reco.model_activations.how IS 'manual (reco.activate, reco.rollback), scheduled (refresh() run by the pg_cron job) or automatic (refresh() called directly).';
COMMENT ON COLUMN reco.model_activations.by_role IS 'The session''s role (session_user; the pg_cron job runs as the role that scheduled it).';
COMMENT ON COLUMN reco.model_activations.reason IS 'Why: the caller''s reason, or what refresh() decided and why.';

-- The version reco.rollback() goes back to: the one that was active before the active one was
-- last activated.
CREATE FUNCTION reco.rollback_target() RETURNS bigint
LANGUAGE sql STABLE AS $fn$
    SELECT a.from_model_id FROM reco.model_activations a
    WHERE a.decision OPERATOR(pg_catalog.=) 'activated'
      AND a.to_model_id OPERATOR(pg_catalog.=)
          (SELECT m.model_id FROM reco.models m WHERE m.status OPERATOR(pg_catalog.=) 'active')
    ORDER BY a.activation_id DESC LIMIT 1
$fn$;
COMMENT ON FUNCTION reco.rollback_target() IS 'The version reco.rollback() would make active: the one active before the active version was last activated (NULL: none). Pruning keeps it.';

-- Versions pruning must keep whatever their age.
CREATE FUNCTION reco.protected_models() RETURNS bigint[]
LANGUAGE sql STABLE AS $fn$
    SELECT pg_catalog.array_agg(x.model_id) FROM (
        SELECT m.model_id FROM reco.models m
        WHERE m.pinned OR m.status OPERATOR(pg_catalog.=) 'active'
        UNION SELECT reco.rollback_target()) x
    WHERE x.model_id IS NOT NULL
$fn$;
COMMENT ON FUNCTION reco.protected_models() IS 'Internal: the versions pruning never removes (pinned, active, the rollback target).';

-- The one place the active version changes (refresh(), activate(), rollback()): retire the active
-- one, activate `target`, log it. Serving picks the change up at its next call (the cache is keyed
-- by the active model id), when this transaction commits.
CREATE FUNCTION reco.switch_active_model(target bigint, how text, reason text)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    previous bigint;
BEGIN
    -- One change at a time, and none during a refresh (which takes the same lock).
    LOCK TABLE reco.models IN SHARE ROW EXCLUSIVE MODE;
    IF NOT EXISTS (SELECT 1 FROM reco.models WHERE model_id OPERATOR(pg_catalog.=) target) THEN
        RAISE EXCEPTION 'reco: no model version %', target
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT model_id, status, created_at FROM reco.models ORDER BY model_id lists the versions.';
    END IF;
    SELECT model_id INTO previous FROM reco.models WHERE status OPERATOR(pg_catalog.=) 'active';
    IF previous OPERATOR(pg_catalog.=) target THEN
        RAISE EXCEPTION 'reco: model version % is already active', target
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Nothing to do; reco.rollback() returns to the version active before it.';
    END IF;
    UPDATE reco.models SET status = 'retired' WHERE status OPERATOR(pg_catalog.=) 'active';
    UPDATE reco.models SET status = 'active' WHERE model_id OPERATOR(pg_catalog.=) target;
    INSERT INTO reco.model_activations (from_model_id, to_model_id, decision, how, reason)
    VALUES (previous, target, 'activated', how, reason);
    RETURN previous;
END
$fn$;
COMMENT ON FUNCTION reco.switch_active_model(bigint, text, text) IS 'Internal: makes a version active and logs it in reco.model_activations; returns the version active before (NULL: none). P0002 for an unknown version, 55000 if it is already active.';

CREATE FUNCTION reco.activate(model_id bigint, reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM reco.require_extension_owner('reco.activate');
    IF model_id IS NULL THEN
        RAISE EXCEPTION 'reco.activate: model_id must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass a model_id of reco.models.';
    END IF;
    RETURN reco.switch_active_model(model_id, 'manual', reason);
END
$fn$;
COMMENT ON FUNCTION reco.activate(bigint, text) IS 'Makes a model version (candidate or retired) the one served, logged in reco.model_activations as manual with the reason; returns the version active before. P0002 unknown version, 55000 already active, 42501 not the owner.';

CREATE FUNCTION reco.rollback(reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    target bigint;
BEGIN
    PERFORM reco.require_extension_owner('reco.rollback');
    LOCK TABLE reco.models IN SHARE ROW EXCLUSIVE MODE;
    target := reco.rollback_target();
    IF target IS NULL THEN
        RAISE EXCEPTION 'reco.rollback: there is no previously active version to return to'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'The active version was the first one activated (or was activated before 0.4.0). reco.activate(model_id) serves any version of reco.models.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM reco.models m WHERE m.model_id OPERATOR(pg_catalog.=) target) THEN
        RAISE EXCEPTION 'reco.rollback: the previously active version % was removed', target
            USING ERRCODE = 'no_data_found',
                  HINT = 'It was deleted by hand (pruning keeps it). reco.activate(model_id) serves any version of reco.models.';
    END IF;
    PERFORM reco.switch_active_model(target, 'manual', coalesce(reason, 'rollback'));
    RETURN target;
END
$fn$;
COMMENT ON FUNCTION reco.rollback(text) IS 'Makes the version that was active before the active one active again (logged as manual, reason ''rollback'' unless given); returns it. Calling it twice returns to where you started. 55000 if there is no previous version, 42501 not the owner.';

CREATE FUNCTION reco.pin_model(model_id bigint)
RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM reco.require_extension_owner('reco.pin_model');
    UPDATE reco.models m SET pinned = true WHERE m.model_id OPERATOR(pg_catalog.=) pin_model.model_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reco.pin_model: no model version %', model_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT model_id, status, created_at FROM reco.models ORDER BY model_id lists the versions.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION reco.pin_model(bigint) IS 'Pins a model version: pruning (reco.keep_models) never removes it. P0002 unknown version, 42501 not the owner.';

CREATE FUNCTION reco.unpin_model(model_id bigint)
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    state text;
BEGIN
    PERFORM reco.require_extension_owner('reco.unpin_model');
    SELECT m.status INTO state FROM reco.models m WHERE m.model_id OPERATOR(pg_catalog.=) unpin_model.model_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reco.unpin_model: no model version %', model_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT model_id, status, created_at FROM reco.models ORDER BY model_id lists the versions.';
    END IF;
    IF state OPERATOR(pg_catalog.=) 'active' THEN
        RAISE EXCEPTION 'reco.unpin_model: model version % is the active one, which is always kept', model_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Activate another version first (reco.activate or reco.rollback), then unpin this one.';
    END IF;
    UPDATE reco.models m SET pinned = false WHERE m.model_id OPERATOR(pg_catalog.=) unpin_model.model_id;
END
$fn$;
COMMENT ON FUNCTION reco.unpin_model(bigint) IS 'Unpins a model version, so pruning may remove it once it is older than reco.keep_models versions. P0002 unknown version, 55000 for the active version (always kept), 42501 not the owner.';

-- ================================================================ 2. Quality history
CREATE TABLE reco.model_quality (
    model_id              bigint PRIMARY KEY,
    measured_at           timestamptz NOT NULL DEFAULT pg_catalog.now(),
    ndcg_at_10            double precision,
    recall_at_10          double precision,
    hit_rate_at_10        double precision,
    coverage_at_10        double precision,
    users                 integer NOT NULL,
    held_out_interactions bigint NOT NULL,
    split_at              timestamptz,
    seconds               double precision NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('reco.model_quality', '');
COMMENT ON TABLE reco.model_quality IS 'Held-out quality of each model version, measured by the refresh() that built it (README "Quality history"); kept when versions are pruned.';
COMMENT ON COLUMN reco.model_quality.model_id IS 'The version (reco.models; the row stays after the version is pruned).';
COMMENT ON COLUMN reco.model_quality.measured_at IS 'When the refresh ran.';
COMMENT ON COLUMN reco.model_quality.ndcg_at_10 IS 'Mean nDCG@10 over the evaluated users (binary relevance: held-out purchases and wishlist adds); NULL when no user could be evaluated.';
COMMENT ON COLUMN reco.model_quality.recall_at_10 IS 'Mean recall@10 over the evaluated users.';
COMMENT ON COLUMN reco.model_quality.hit_rate_at_10 IS 'Share of evaluated users with at least one held-out shoe in their top 10.';
COMMENT ON COLUMN reco.model_quality.coverage_at_10 IS 'Share of the catalogue appearing in at least one evaluated user''s top 10.';
COMMENT ON COLUMN reco.model_quality.users IS 'Users evaluated: sampled users with a held-out purchase or wishlist add (at most reco.quality_users).';
COMMENT ON COLUMN reco.model_quality.held_out_interactions IS 'Interactions of the sampled users at or after split_at, left out of this version''s training so they are truly unseen.';
COMMENT ON COLUMN reco.model_quality.split_at IS 'Time split: the 90th percentile of occurred_at (estimated from a sample of the log).';
COMMENT ON COLUMN reco.model_quality.seconds IS 'Seconds the measurement took (ranking the evaluated users).';

-- ================================================================ 4. Drift and data checks
CREATE TABLE reco.model_drift (
    model_id          bigint NOT NULL,
    measured_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    baseline_model_id bigint NOT NULL,
    feature           text NOT NULL,
    psi               double precision,
    js_divergence     double precision,
    band              text CHECK (band IN ('stable', 'moderate', 'significant')),
    baseline_total    double precision NOT NULL,
    current_total     double precision NOT NULL,
    PRIMARY KEY (model_id, feature)
);
SELECT pg_catalog.pg_extension_config_dump('reco.model_drift', '');
COMMENT ON TABLE reco.model_drift IS 'Drift measured by refresh(): the training window of the version active before it (interactions up to that version''s last_interaction_id) against the data since (later interactions). README "Drift".';
COMMENT ON COLUMN reco.model_drift.model_id IS 'The version whose refresh measured it.';
COMMENT ON COLUMN reco.model_drift.measured_at IS 'When the refresh ran.';
COMMENT ON COLUMN reco.model_drift.baseline_model_id IS 'The version active at that refresh, whose training window is the baseline.';
COMMENT ON COLUMN reco.model_drift.feature IS 'shoe_popularity (interactions per decile of shoes ranked by their interactions in both windows together), action_mix (interactions per action), user_activity (users per log2 bin of their interactions in the window), new_users and new_shoes (share of the window''s users or shoes absent from the baseline: psi NULL, js_divergence NULL, the share in current_total).';
COMMENT ON COLUMN reco.model_drift.psi IS 'Population stability index: < 0.1 stable, 0.1-0.25 moderate, >= 0.25 significant (empty bins floored at a share of 1e-4).';
COMMENT ON COLUMN reco.model_drift.js_divergence IS 'Jensen-Shannon divergence, log base 2 (0 = same, 1 = disjoint).';
COMMENT ON COLUMN reco.model_drift.band IS 'The PSI band: stable, moderate or significant.';
COMMENT ON COLUMN reco.model_drift.baseline_total IS 'Interactions (users for user_activity) in the baseline window.';
COMMENT ON COLUMN reco.model_drift.current_total IS 'Interactions (users for user_activity) since the baseline; for new_users and new_shoes, the share itself.';

CREATE TABLE reco.model_data_checks (
    model_id    bigint NOT NULL,
    check_name  text NOT NULL,
    failing     bigint NOT NULL,
    total       bigint NOT NULL,
    PRIMARY KEY (model_id, check_name)
);
SELECT pg_catalog.pg_extension_config_dump('reco.model_data_checks', '');
COMMENT ON TABLE reco.model_data_checks IS 'Data checks run by refresh() on the data it trained on.';
COMMENT ON COLUMN reco.model_data_checks.model_id IS 'The version whose refresh ran the check.';
COMMENT ON COLUMN reco.model_data_checks.check_name IS 'future_interactions (occurred_at after now()), shoes_without_text (no description and no attributes), users_without_history (in reco.users with no interaction).';
COMMENT ON COLUMN reco.model_data_checks.failing IS 'Rows failing the check.';
COMMENT ON COLUMN reco.model_data_checks.total IS 'Rows checked.';

-- >>>> Rust-defined functions of 0.4.0 (word for word as a new installation creates them)
-- In a new installation this file runs after pgrx created them, so these are CREATE OR REPLACE
-- with pgrx's definitions, word for word; on an update they are new. refresh() gains arguments
-- and result columns: the old one goes first (a job running 'SELECT reco.refresh()' calls the
-- new one with its defaults).
DROP FUNCTION IF EXISTS reco.refresh();
CREATE OR REPLACE FUNCTION reco."refresh"(
	"activate" bool DEFAULT true, /* Option < bool > */
	"max_quality_drop" double precision DEFAULT NULL /* Option < f64 > */
) RETURNS TABLE (
	"model_id" bigint,  /* i64 */
	"users" INT,  /* i32 */
	"shoes" INT,  /* i32 */
	"interactions" bigint,  /* i64 */
	"factors" INT,  /* i32 */
	"energy" double precision,  /* f64 */
	"read_seconds" double precision,  /* f64 */
	"svd_seconds" double precision,  /* f64 */
	"tfidf_seconds" double precision,  /* f64 */
	"write_seconds" double precision,  /* f64 */
	"status" TEXT,  /* String */
	"ndcg_at_10" double precision,  /* Option < f64 > */
	"quality_seconds" double precision,  /* f64 */
	"drift_seconds" double precision  /* f64 */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'refresh_versioned_wrapper';
COMMENT ON FUNCTION reco.refresh(boolean, double precision) IS 'Builds a model version from reco.interactions and reco.shoes, measures its held-out quality (reco.model_quality) and the drift since the active version (reco.model_drift, reco.model_data_checks), then activates it (logged in reco.model_activations) unless activate is false or max_quality_drop is given and its nDCG@10 is more than that share below the active version''s: then it stays a candidate. Prunes versions beyond reco.keep_models except pinned ones, the active one and the rollback target. Owner only.';

CREATE OR REPLACE FUNCTION reco."serving_stats_rows"() RETURNS TABLE (
	"datid" oid,  /* Option < pg_sys :: Oid > */
	"function" TEXT,  /* Option < String > */
	"model_id" bigint,  /* Option < i64 > */
	"calls" bigint,  /* i64 */
	"errors" bigint,  /* i64 */
	"empty_results" bigint,  /* i64 */
	"cold_start" bigint,  /* i64 */
	"anonymous" bigint,  /* i64 */
	"rows" bigint,  /* i64 */
	"mean_ms" double precision,  /* Option < f64 > */
	"p50_ms" double precision,  /* Option < f64 > */
	"p90_ms" double precision,  /* Option < f64 > */
	"p99_ms" double precision,  /* Option < f64 > */
	"latency_bucket_upper_ms" double precision[],  /* Vec < f64 > */
	"latency_counts" bigint[],  /* Vec < i64 > */
	"since" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"note" TEXT  /* Option < String > */
)
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'serving_stats_rows_wrapper';
COMMENT ON FUNCTION reco.serving_stats_rows() IS 'Internal, behind the view reco.serving_stats.';

CREATE OR REPLACE FUNCTION reco."reset_serving_stats_now"() RETURNS bool /* bool */
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'reset_serving_stats_now_wrapper';
COMMENT ON FUNCTION reco.reset_serving_stats_now() IS 'Internal, called by reco.reset_serving_stats(): zeroes the counters; false when reco is not preloaded (nothing is counted).';

CREATE OR REPLACE FUNCTION reco."refresh_progress_rows"() RETURNS TABLE (
	"pid" INT,  /* Option < i32 > */
	"datid" oid,  /* Option < pg_sys :: Oid > */
	"phase" TEXT,  /* Option < String > */
	"rows_read" bigint,  /* Option < i64 > */
	"rows_estimate" bigint,  /* Option < i64 > */
	"started_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"phase_started_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"phase_seconds" jsonb,  /* Option < pgrx :: JsonB > */
	"note" TEXT  /* Option < String > */
)
STRICT VOLATILE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'refresh_progress_rows_wrapper';
COMMENT ON FUNCTION reco.refresh_progress_rows() IS 'Internal, behind the view reco.refresh_progress.';
CREATE OR REPLACE FUNCTION reco."compare_models"(
	"a" bigint, /* Option < i64 > */
	"b" bigint, /* Option < i64 > */
	"sample_users" INT DEFAULT 1000 /* Option < i32 > */
) RETURNS TABLE (
	"model_a" bigint,  /* i64 */
	"model_b" bigint,  /* i64 */
	"users" INT,  /* i32 */
	"ndcg_a" double precision,  /* Option < f64 > */
	"ndcg_b" double precision,  /* Option < f64 > */
	"ndcg_delta" double precision,  /* Option < f64 > */
	"recall_a" double precision,  /* Option < f64 > */
	"recall_b" double precision,  /* Option < f64 > */
	"recall_delta" double precision,  /* Option < f64 > */
	"coverage_a" double precision,  /* Option < f64 > */
	"coverage_b" double precision,  /* Option < f64 > */
	"coverage_delta" double precision,  /* Option < f64 > */
	"mean_jaccard" double precision,  /* Option < f64 > */
	"list_coverage_a" double precision,  /* f64 */
	"list_coverage_b" double precision,  /* f64 */
	"top1pct_share_a" double precision,  /* f64 */
	"top1pct_share_b" double precision,  /* f64 */
	"gini_a" double precision,  /* f64 */
	"gini_b" double precision  /* f64 */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'compare_models_wrapper';
COMMENT ON FUNCTION reco.compare_models(bigint, bigint, integer) IS 'Two model versions side by side: held-out nDCG@10, recall@10 and coverage of each (reco.model_quality) and b minus a; and for a fixed sample of users with history (sample_users, by a hash of their id) their top-10 lists served as recommend() would serve each version now: mean Jaccard overlap, catalogue coverage, share of recommendations going to the 1 % most recommended shoes, Gini of the recommendation counts. P0002 for a version that does not exist (pruned), 22004 for NULL. Owner only.';
-- <<<< Rust-defined functions of 0.4.0

-- ================================================================ 3. Serving statistics, 5. progress
CREATE FUNCTION reco.reset_serving_stats() RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM reco.require_extension_owner('reco.reset_serving_stats');
    PERFORM reco.reset_serving_stats_now();
END
$fn$;
COMMENT ON FUNCTION reco.reset_serving_stats() IS 'Zeroes reco.serving_stats (all functions and versions, in every database of the server). Owner only.';

CREATE VIEW reco.serving_stats AS
SELECT s.datid, d.datname, s.function, s.model_id, s.calls, s.errors, s.empty_results, s.cold_start,
       s.anonymous, s.rows, s.mean_ms, s.p50_ms, s.p90_ms, s.p99_ms, s.latency_bucket_upper_ms,
       s.latency_counts, s.since, s.note
FROM reco.serving_stats_rows() s
LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.datid;
COMMENT ON VIEW reco.serving_stats IS 'Serving statistics since the server started or reco.reset_serving_stats(), per function (recommend, similar, serve) and model version, kept in shared memory (serving writes no table, so they work on hot standbys too; each server counts its own calls). Needs shared_preload_libraries = ''reco''; without it one row whose note says so.';
COMMENT ON COLUMN reco.serving_stats.datid IS 'The database served (model ids are per database).';
COMMENT ON COLUMN reco.serving_stats.datname IS 'Its name.';
COMMENT ON COLUMN reco.serving_stats.function IS 'recommend, similar or serve (the A/B serving call).';
COMMENT ON COLUMN reco.serving_stats.model_id IS 'The model version that served (NULL: before the first refresh, or the entry of versions beyond the 93 kept apart: see note).';
COMMENT ON COLUMN reco.serving_stats.calls IS 'Calls, failed ones included.';
COMMENT ON COLUMN reco.serving_stats.errors IS 'Calls that raised an error.';
COMMENT ON COLUMN reco.serving_stats.empty_results IS 'Successful calls that returned no row.';
COMMENT ON COLUMN reco.serving_stats.cold_start IS 'Calls for a known user without usable history, answered from the cold-start segment lists.';
COMMENT ON COLUMN reco.serving_stats.anonymous IS 'Calls without a user id, answered with popular shoes.';
COMMENT ON COLUMN reco.serving_stats.rows IS 'Rows returned by successful calls.';
COMMENT ON COLUMN reco.serving_stats.mean_ms IS 'Mean latency inside the function, in milliseconds.';
COMMENT ON COLUMN reco.serving_stats.p50_ms IS 'Median latency (ms), estimated from the histogram: geometric interpolation inside a bucket.';
COMMENT ON COLUMN reco.serving_stats.p90_ms IS '90th percentile latency (ms), as p50_ms.';
COMMENT ON COLUMN reco.serving_stats.p99_ms IS '99th percentile latency (ms), as p50_ms.';
COMMENT ON COLUMN reco.serving_stats.latency_bucket_upper_ms IS 'Upper bounds of the 24 log-spaced latency buckets in ms: 0.008, 0.016, ... doubling, the last infinite.';
COMMENT ON COLUMN reco.serving_stats.latency_counts IS 'Calls per latency bucket.';
COMMENT ON COLUMN reco.serving_stats.since IS 'When counting started: the last reset, or the server start.';
COMMENT ON COLUMN reco.serving_stats.note IS 'Why a row is special (or why the view is empty: reco not in shared_preload_libraries).';

CREATE VIEW reco.refresh_progress AS
SELECT p.pid, p.datid, d.datname, p.phase, p.rows_read, p.rows_estimate,
       p.started_at,
       pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) p.started_at) AS elapsed_seconds,
       pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) p.phase_started_at) AS phase_elapsed_seconds,
       p.phase_seconds, p.note
FROM reco.refresh_progress_rows() p
LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) p.datid;
COMMENT ON VIEW reco.refresh_progress IS 'One row per refresh() running now on this server, readable from any session (shared memory, like pg_stat_progress_*). Needs shared_preload_libraries = ''reco''; without it one row whose note says so.';
COMMENT ON COLUMN reco.refresh_progress.pid IS 'Backend running the refresh.';
COMMENT ON COLUMN reco.refresh_progress.datid IS 'Its database.';
COMMENT ON COLUMN reco.refresh_progress.datname IS 'Its database''s name.';
COMMENT ON COLUMN reco.refresh_progress.phase IS 'reading, building, writing, measuring quality, measuring drift, activating and pruning.';
COMMENT ON COLUMN reco.refresh_progress.rows_read IS 'Interaction rows read so far (updated every 65,536 rows).';
COMMENT ON COLUMN reco.refresh_progress.rows_estimate IS 'Rows of reco.interactions estimated by the planner at the start.';
COMMENT ON COLUMN reco.refresh_progress.started_at IS 'When the refresh started.';
COMMENT ON COLUMN reco.refresh_progress.elapsed_seconds IS 'Seconds since it started.';
COMMENT ON COLUMN reco.refresh_progress.phase_elapsed_seconds IS 'Seconds in the current phase.';
COMMENT ON COLUMN reco.refresh_progress.phase_seconds IS 'Seconds of each finished phase: {"reading": 3.1, ...}.';
COMMENT ON COLUMN reco.refresh_progress.note IS 'Why the view is empty when reco is not in shared_preload_libraries.';

-- ================================================================ 6. Data for charts; health
CREATE VIEW reco.quality_history AS
SELECT q.model_id, q.measured_at, q.ndcg_at_10, q.recall_at_10, q.hit_rate_at_10, q.coverage_at_10,
       q.users, coalesce(m.status, 'pruned') AS status,
       EXISTS (SELECT 1 FROM reco.model_activations a
               WHERE a.to_model_id OPERATOR(pg_catalog.=) q.model_id
                 AND a.decision OPERATOR(pg_catalog.=) 'activated') AS was_active
FROM reco.model_quality q
LEFT JOIN reco.models m ON m.model_id OPERATOR(pg_catalog.=) q.model_id;
COMMENT ON VIEW reco.quality_history IS 'Held-out quality per model version over time, one row per version, ready for a line chart (x measured_at, y ndcg_at_10 / recall_at_10 / coverage_at_10).';
COMMENT ON COLUMN reco.quality_history.model_id IS 'The version.';
COMMENT ON COLUMN reco.quality_history.measured_at IS 'When its refresh ran.';
COMMENT ON COLUMN reco.quality_history.ndcg_at_10 IS 'Held-out nDCG@10.';
COMMENT ON COLUMN reco.quality_history.recall_at_10 IS 'Held-out recall@10.';
COMMENT ON COLUMN reco.quality_history.hit_rate_at_10 IS 'Held-out hit rate@10.';
COMMENT ON COLUMN reco.quality_history.coverage_at_10 IS 'Catalogue coverage of the evaluated users'' top 10.';
COMMENT ON COLUMN reco.quality_history.users IS 'Users evaluated.';
COMMENT ON COLUMN reco.quality_history.status IS 'active, candidate, retired, or pruned (the version is gone, its quality kept).';
COMMENT ON COLUMN reco.quality_history.was_active IS 'Whether the version was ever activated.';

CREATE VIEW reco.drift_history AS
SELECT d.model_id, d.measured_at, d.baseline_model_id, d.feature, d.psi, d.js_divergence, d.band,
       d.baseline_total, d.current_total
FROM reco.model_drift d;
COMMENT ON VIEW reco.drift_history IS 'Drift per refresh and feature, ready for a chart (x measured_at, y psi per feature, with lines at 0.1 and 0.25).';
COMMENT ON COLUMN reco.drift_history.model_id IS 'The version whose refresh measured it.';
COMMENT ON COLUMN reco.drift_history.measured_at IS 'When.';
COMMENT ON COLUMN reco.drift_history.baseline_model_id IS 'The version active then (its training window is the baseline).';
COMMENT ON COLUMN reco.drift_history.feature IS 'See reco.model_drift.feature.';
COMMENT ON COLUMN reco.drift_history.psi IS 'Population stability index.';
COMMENT ON COLUMN reco.drift_history.js_divergence IS 'Jensen-Shannon divergence (log base 2).';
COMMENT ON COLUMN reco.drift_history.band IS 'stable (< 0.1), moderate, significant (>= 0.25).';
COMMENT ON COLUMN reco.drift_history.baseline_total IS 'Size of the baseline window.';
COMMENT ON COLUMN reco.drift_history.current_total IS 'Size of the current window (the share for new_users, new_shoes).';

-- The pg_cron job's last run, if pg_cron is installed and its tables readable here.
CREATE FUNCTION reco.refresh_job_last_run(OUT status text, OUT start_time timestamptz, OUT return_message text)
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    IF pg_catalog.to_regclass('cron.job_run_details') IS NULL
       OR NOT pg_catalog.has_table_privilege('cron.job_run_details', 'SELECT')
       OR NOT pg_catalog.has_table_privilege('cron.job', 'SELECT') THEN
        RETURN;
    END IF;
    EXECUTE 'SELECT r.status, r.start_time, r.return_message
             FROM cron.job_run_details r JOIN cron.job j ON j.jobid OPERATOR(pg_catalog.=) r.jobid
             WHERE j.jobname OPERATOR(pg_catalog.=) ''reco-refresh''
             ORDER BY r.start_time DESC LIMIT 1'
        INTO status, start_time, return_message;
END
$fn$;
COMMENT ON FUNCTION reco.refresh_job_last_run() IS 'Internal, for reco.health: status, start time and message of the last run of the pg_cron job reco-refresh (NULLs without pg_cron or without a run).';

CREATE VIEW reco.health AS
WITH active AS (SELECT m.* FROM reco.models m WHERE m.status OPERATOR(pg_catalog.=) 'active'),
     latest AS (SELECT m.* FROM reco.models m ORDER BY m.model_id DESC LIMIT 1),
     stats AS (SELECT pg_catalog.sum(s.calls) AS calls, pg_catalog.sum(s.errors) AS errors
               FROM reco.serving_stats_rows() s
               WHERE s.function IS NOT NULL AND s.datid OPERATOR(pg_catalog.=)
                     (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())),
     job AS (SELECT * FROM reco.refresh_job_last_run())
SELECT a.model_id AS active_model_id,
       pg_catalog.now() OPERATOR(pg_catalog.-) a.created_at AS active_model_age,
       aq.ndcg_at_10 AS active_ndcg_at_10,
       aq.recall_at_10 AS active_recall_at_10,
       l.model_id AS last_refresh_model_id,
       l.created_at AS last_refresh_at,
       l.status AS last_refresh_status,
       (SELECT a2.decision OPERATOR(pg_catalog.||) ' (' OPERATOR(pg_catalog.||) a2.how OPERATOR(pg_catalog.||) '): '
               OPERATOR(pg_catalog.||) coalesce(a2.reason, '')
        FROM reco.model_activations a2 ORDER BY a2.activation_id DESC LIMIT 1) AS last_activation,
       job.status AS refresh_job_status,
       job.start_time AS refresh_job_last_start,
       (SELECT pg_catalog.array_agg(d.feature OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) d.band ORDER BY d.feature)
        FROM reco.model_drift d
        WHERE d.model_id OPERATOR(pg_catalog.=) l.model_id AND d.band OPERATOR(pg_catalog.<>) 'stable') AS drift_flags,
       (SELECT pg_catalog.array_agg(c.check_name OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) c.failing ORDER BY c.check_name)
        FROM reco.model_data_checks c
        WHERE c.model_id OPERATOR(pg_catalog.=) l.model_id AND c.failing OPERATOR(pg_catalog.>) 0) AS data_check_failures,
       stats.calls AS serving_calls,
       stats.errors::float8 OPERATOR(pg_catalog./) nullif(stats.calls, 0)::float8 AS serving_error_rate
FROM (SELECT 1) one
LEFT JOIN active a ON true
LEFT JOIN reco.model_quality aq ON aq.model_id OPERATOR(pg_catalog.=) a.model_id
LEFT JOIN latest l ON true
LEFT JOIN stats ON true
LEFT JOIN job ON true;
COMMENT ON VIEW reco.health IS 'One row: the active version, its age and held-out quality; the last refresh and what it decided; the pg_cron job''s last run; drift flags (features not stable) and failed data checks of the last refresh; serving calls and error rate (reco.serving_stats).';
COMMENT ON COLUMN reco.health.active_model_id IS 'The version served (NULL before the first activation).';
COMMENT ON COLUMN reco.health.active_model_age IS 'How long ago it was built.';
COMMENT ON COLUMN reco.health.active_ndcg_at_10 IS 'Its held-out nDCG@10 (reco.model_quality).';
COMMENT ON COLUMN reco.health.active_recall_at_10 IS 'Its held-out recall@10.';
COMMENT ON COLUMN reco.health.last_refresh_model_id IS 'The newest version.';
COMMENT ON COLUMN reco.health.last_refresh_at IS 'When it was built.';
COMMENT ON COLUMN reco.health.last_refresh_status IS 'Its status: active, or candidate (refresh(activate => false), or kept out by the quality guard: see last_activation).';
COMMENT ON COLUMN reco.health.last_activation IS 'The last entry of reco.model_activations: decision (how): reason.';
COMMENT ON COLUMN reco.health.refresh_job_status IS 'Status of the pg_cron job''s last run (succeeded, failed, running; NULL without pg_cron).';
COMMENT ON COLUMN reco.health.refresh_job_last_start IS 'When the job last started.';
COMMENT ON COLUMN reco.health.drift_flags IS 'Features of the last refresh''s drift that are moderate or significant.';
COMMENT ON COLUMN reco.health.data_check_failures IS 'Data checks of the last refresh with failing rows, and how many.';
COMMENT ON COLUMN reco.health.serving_calls IS 'Serving calls in this database counted on this server (NULL without shared_preload_libraries).';
COMMENT ON COLUMN reco.health.serving_error_rate IS 'Share of those calls that failed.';

-- The nightly job can use the quality guard; the job marks its session so that refresh() logs
-- the activation as scheduled.
DROP FUNCTION reco.schedule_refresh(text);
CREATE FUNCTION reco.schedule_refresh(schedule text DEFAULT '0 3 * * *', max_quality_drop double precision DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
AS $fn$
DECLARE
    job bigint;
BEGIN
    PERFORM reco.require_extension_owner('reco.schedule_refresh');
    IF schedule IS NULL THEN
        RAISE EXCEPTION 'reco.schedule_refresh: schedule must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass a cron schedule such as ''0 3 * * *'' (03:00 every day, server time zone of pg_cron: cron.timezone, default GMT).';
    END IF;
    IF max_quality_drop IS NOT NULL AND NOT (max_quality_drop OPERATOR(pg_catalog.>=) 0 AND max_quality_drop OPERATOR(pg_catalog.<=) 1) THEN
        RAISE EXCEPTION 'reco.schedule_refresh: max_quality_drop must be between 0 and 1, got %', max_quality_drop
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It is the largest relative drop of nDCG@10 against the active version that still activates the new one: 0.05 allows 5 %.';
    END IF;
    PERFORM reco.require_pg_cron();
    -- A named job: scheduling again updates the schedule of the same job.
    job := cron.schedule('reco-refresh', schedule, pg_catalog.format(
        'SET application_name = %L; SELECT reco.refresh(max_quality_drop => %s)',
        'reco-refresh (pg_cron)',
        coalesce(max_quality_drop::text, 'NULL')));
    RETURN job;
END
$fn$;
COMMENT ON FUNCTION reco.schedule_refresh(text, double precision) IS 'Schedules reco.refresh() with pg_cron as job ''reco-refresh'' (default 03:00 daily); with max_quality_drop, the quality guard: a new version more than that share below the active one''s nDCG@10 stays a candidate (logged in reco.model_activations). Calling again replaces the job. Returns the cron job id. Needs pg_cron preloaded (shared_preload_libraries, cron.database_name = this database) and CREATE EXTENSION pg_cron; otherwise error 55000 with a hint. Runs: SELECT * FROM cron.job_run_details WHERE jobid = <id> ORDER BY start_time DESC.';

-- >>> web dashboard (#15)
-- ================================================================ 6. Web dashboard (README "Web dashboard and HTTP API")
-- The read functions of the web dashboard and HTTP API (crates/reco-web) and the role that runs
-- it. reco-web connects as a least-privilege role that reads no table: everything it shows comes
-- through these functions, which run as the owner of reco (SECURITY DEFINER, pinned search_path,
-- values as arguments only), like the serving functions of reco.grant_app(). This block is plain
-- SQL on its own: scripts/web/cluster.sh runs it as the superuser on a build without it.

-- Users to pick from: by id (search is an integer) or by primary usage (any other text), or the
-- first ones when search is NULL or empty.
CREATE FUNCTION reco.dashboard_users(search text DEFAULT NULL, lim integer DEFAULT 50)
RETURNS TABLE (user_id bigint, age integer, gender text, primary_usage text, interactions bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF lim IS NULL OR lim < 1 OR lim > 1000 THEN
        RAISE EXCEPTION 'reco.dashboard_users: lim must be in 1..1000, got %', coalesce(lim::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'For example 50.';
    END IF;
    RETURN QUERY
    SELECT u.user_id, u.age, u.gender, u.primary_usage,
           (SELECT pg_catalog.count(*) FROM reco.interactions i WHERE i.user_id OPERATOR(pg_catalog.=) u.user_id)
    FROM reco.users u
    WHERE CASE
        WHEN search IS NULL OR search OPERATOR(pg_catalog.=) '' THEN true
        WHEN search OPERATOR(pg_catalog.~) '^[0-9]{1,18}$' THEN u.user_id OPERATOR(pg_catalog.=) search::bigint
        ELSE u.primary_usage OPERATOR(pg_catalog.~~*) ('%' OPERATOR(pg_catalog.||) search OPERATOR(pg_catalog.||) '%')
    END
    ORDER BY u.user_id
    LIMIT lim;
END
$fn$;
REVOKE ALL ON FUNCTION reco.dashboard_users(text, integer) FROM PUBLIC;
COMMENT ON FUNCTION reco.dashboard_users(text, integer) IS 'Dashboard: users to pick from (search = a user id, or part of a primary usage; NULL = the first ones), with their interaction counts. lim 1..1000 (22023).';

CREATE FUNCTION reco.user_profile(who bigint)
RETURNS TABLE (user_id bigint, age integer, gender text, primary_usage text, created_at timestamptz,
               views bigint, wishlist_adds bigint, purchases bigint, last_seen timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF who IS NULL THEN
        RAISE EXCEPTION 'reco.user_profile: user_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN QUERY
    SELECT u.user_id, u.age, u.gender, u.primary_usage, u.created_at,
           pg_catalog.count(*) FILTER (WHERE i.action OPERATOR(pg_catalog.=) 'view'),
           pg_catalog.count(*) FILTER (WHERE i.action OPERATOR(pg_catalog.=) 'add_to_wishlist'),
           pg_catalog.count(*) FILTER (WHERE i.action OPERATOR(pg_catalog.=) 'purchase'),
           pg_catalog.max(i.occurred_at)
    FROM reco.users u
    LEFT JOIN reco.interactions i ON i.user_id OPERATOR(pg_catalog.=) u.user_id
    WHERE u.user_id OPERATOR(pg_catalog.=) who
    GROUP BY u.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reco.user_profile: user % does not exist', who
            USING ERRCODE = 'no_data_found', HINT = 'reco.dashboard_users() lists users.';
    END IF;
END
$fn$;
REVOKE ALL ON FUNCTION reco.user_profile(bigint) FROM PUBLIC;
COMMENT ON FUNCTION reco.user_profile(bigint) IS 'Dashboard: a user''s profile and interaction counts by action. Unknown user: P0002.';

CREATE FUNCTION reco.user_history(user_id bigint, lim integer DEFAULT 20)
RETURNS TABLE (occurred_at timestamptz, shoe_id bigint, name text, brand text, type text, action text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF lim IS NULL OR lim < 1 OR lim > 1000 THEN
        RAISE EXCEPTION 'reco.user_history: lim must be in 1..1000, got %', coalesce(lim::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'For example 20.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM reco.users u WHERE u.user_id OPERATOR(pg_catalog.=) user_history.user_id) THEN
        RAISE EXCEPTION 'reco.user_history: user % does not exist', coalesce(user_history.user_id::text, 'NULL')
            USING ERRCODE = 'no_data_found', HINT = 'reco.dashboard_users() lists users.';
    END IF;
    -- interactions_user_time_idx: the newest rows of one user, no sort of their whole history.
    RETURN QUERY
    SELECT i.occurred_at, i.shoe_id, s.name, s.brand, s.type, i.action
    FROM reco.interactions i JOIN reco.shoes s ON s.shoe_id OPERATOR(pg_catalog.=) i.shoe_id
    WHERE i.user_id OPERATOR(pg_catalog.=) user_history.user_id
    ORDER BY i.occurred_at DESC, i.interaction_id DESC
    LIMIT lim;
END
$fn$;
REVOKE ALL ON FUNCTION reco.user_history(bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION reco.user_history(bigint, integer) IS 'Dashboard: a user''s latest interactions, newest first, with the shoes'' names. Unknown user: P0002; lim 1..1000 (22023).';

CREATE FUNCTION reco.shoe_details(id bigint)
RETURNS TABLE (shoe_id bigint, name text, brand text, type text, material text, color text,
               price numeric, description text, care_instructions text, lifespan_days integer,
               active boolean, created_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN QUERY
    SELECT s.shoe_id, s.name, s.brand, s.type, s.material, s.color, s.price, s.description,
           s.care_instructions, s.lifespan_days, s.active, s.created_at
    FROM reco.shoes s WHERE s.shoe_id OPERATOR(pg_catalog.=) id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reco.shoe_details: shoe % does not exist', coalesce(id::text, 'NULL')
            USING ERRCODE = 'no_data_found';
    END IF;
END
$fn$;
REVOKE ALL ON FUNCTION reco.shoe_details(bigint) FROM PUBLIC;
COMMENT ON FUNCTION reco.shoe_details(bigint) IS 'Dashboard: one shoe of the catalogue. Unknown shoe: P0002.';

-- Names and prices of the shoes in a list recommend(), similar() or serve() returned (the
-- role may not read reco.shoes); unknown ids are left out. PL/pgSQL, not SQL: a SECURITY
-- DEFINER SQL function is never inlined and is planned again on every call, which cost the
-- recommendations endpoint a quarter of its throughput on tier M; PL/pgSQL keeps the plan.
CREATE FUNCTION reco.shoe_summaries(shoe_ids bigint[])
RETURNS TABLE (shoe_id bigint, name text, brand text, type text, price numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RETURN QUERY
    SELECT s.shoe_id, s.name, s.brand, s.type, s.price
    FROM reco.shoes s WHERE s.shoe_id OPERATOR(pg_catalog.=) ANY (shoe_ids);
END
$fn$;
REVOKE ALL ON FUNCTION reco.shoe_summaries(bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION reco.shoe_summaries(bigint[]) IS 'Dashboard and HTTP API: name, brand, type and price of the given shoes (unknown ids are left out).';

CREATE FUNCTION reco.experiments_list()
RETURNS TABLE (experiment_id bigint, name text, placement text, status text, arms jsonb,
               minimum_detectable_effect double precision, created_at timestamptz,
               started_at timestamptz, stopped_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT e.experiment_id, e.name, e.placement, e.status, e.arms, e.minimum_detectable_effect,
           e.created_at, e.started_at, e.stopped_at
    FROM reco.experiments e ORDER BY e.experiment_id DESC
$fn$;
REVOKE ALL ON FUNCTION reco.experiments_list() FROM PUBLIC;
COMMENT ON FUNCTION reco.experiments_list() IS 'Dashboard: every experiment, newest first, with its arms and status.';

-- The cumulative metric per arm over time, for the experiments chart: on each UTC day from the
-- first exposure to the last exposure or purchase, the units (users, or visitor keys) exposed
-- so far and how many of them have bought through the experiment so far. The unit counts once,
-- in the arm of its first impression; this is the running version of experiment_results()'s
-- user conversion, not its exact statistics.
CREATE FUNCTION reco.experiment_timeline(name text)
RETURNS TABLE (day date, arm text, users bigint, converters bigint, conversion_rate double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    id bigint;
BEGIN
    SELECT e.experiment_id INTO id FROM reco.experiments e WHERE e.name OPERATOR(pg_catalog.=) experiment_timeline.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reco.experiment_timeline: experiment "%" does not exist', coalesce(experiment_timeline.name, 'NULL')
            USING ERRCODE = 'no_data_found', HINT = 'reco.experiments_list() lists them.';
    END IF;
    RETURN QUERY
    WITH units AS (
        SELECT DISTINCT ON (x.unit) x.arm, x.unit, (x.shown_at AT TIME ZONE 'UTC')::date AS first_day
        FROM (SELECT i.arm, coalesce(i.user_id::text, 'visitor:' OPERATOR(pg_catalog.||) i.visitor) AS unit, i.shown_at
              FROM reco.impressions i WHERE i.experiment_id OPERATOR(pg_catalog.=) id) x
        ORDER BY x.unit, x.shown_at
    ), buys AS (
        SELECT coalesce(i.user_id::text, 'visitor:' OPERATOR(pg_catalog.||) i.visitor) AS unit,
               pg_catalog.min((ev.occurred_at AT TIME ZONE 'UTC')::date) AS buy_day
        FROM reco.events ev JOIN reco.impressions i ON i.request_id OPERATOR(pg_catalog.=) ev.request_id
        WHERE i.experiment_id OPERATOR(pg_catalog.=) id AND ev.kind OPERATOR(pg_catalog.=) 'purchase'
        GROUP BY 1
    ), days AS (
        SELECT g::date AS d
        FROM pg_catalog.generate_series(
                 (SELECT pg_catalog.min(u.first_day) FROM units u)::timestamp,
                 greatest((SELECT pg_catalog.max(u.first_day) FROM units u), (SELECT pg_catalog.max(b.buy_day) FROM buys b))::timestamp,
                 interval '1 day') AS g
    ), arms AS (
        SELECT a->>'name' AS arm, o AS position
        FROM reco.experiments e, pg_catalog.jsonb_array_elements(e.arms) WITH ORDINALITY AS t(a, o)
        WHERE e.experiment_id OPERATOR(pg_catalog.=) id
    )
    -- Running sums, one pass: each unit adds 1 to its arm's users on its first day and 1 to its
    -- converters on the day it has been both exposed and has bought.
    , steps AS (
        SELECT u.arm, u.first_day AS d, 1 AS exposed, 0 AS bought FROM units u
        UNION ALL
        SELECT u.arm, greatest(u.first_day, b.buy_day), 0, 1
        FROM units u JOIN buys b ON b.unit OPERATOR(pg_catalog.=) u.unit
    ), daily AS (
        SELECT s.arm, s.d, pg_catalog.sum(s.exposed) AS exposed, pg_catalog.sum(s.bought) AS bought
        FROM steps s GROUP BY s.arm, s.d
    ), cum AS (
        SELECT days.d, arms.arm, arms.position,
               pg_catalog.sum(coalesce(daily.exposed, 0)) OVER w AS n,
               pg_catalog.sum(coalesce(daily.bought, 0)) OVER w AS conv
        FROM days CROSS JOIN arms
        LEFT JOIN daily ON daily.arm OPERATOR(pg_catalog.=) arms.arm AND daily.d OPERATOR(pg_catalog.=) days.d
        WINDOW w AS (PARTITION BY arms.arm ORDER BY days.d)
    )
    SELECT cum.d, cum.arm, cum.n::bigint, cum.conv::bigint,
           CASE WHEN cum.n > 0 THEN cum.conv::double precision / cum.n::double precision END
    FROM cum ORDER BY cum.d, cum.position;
END
$fn$;
REVOKE ALL ON FUNCTION reco.experiment_timeline(text) FROM PUBLIC;
COMMENT ON FUNCTION reco.experiment_timeline(text) IS 'Dashboard: per UTC day and arm, the users exposed so far and those of them who bought through the experiment so far (cumulative user conversion; a user counts in the arm of their first impression). P0002 for an unknown experiment.';

CREATE FUNCTION reco.model_versions()
RETURNS TABLE (model_id bigint, created_at timestamptz, status text, pinned boolean, users integer,
               shoes integer, interactions bigint, factors integer, energy double precision, seconds jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT m.model_id, m.created_at, m.status, m.pinned, m.users, m.shoes, m.interactions, m.factors,
           m.energy, m.seconds
    FROM reco.models m ORDER BY m.model_id DESC
$fn$;
REVOKE ALL ON FUNCTION reco.model_versions() FROM PUBLIC;
COMMENT ON FUNCTION reco.model_versions() IS 'Dashboard: the kept model versions, newest first (status active, candidate or retired; pinned), with their sizes and build seconds.';

-- Quality history, from both places it is measured: the held-out split of the refresh() that
-- built each version (reco.model_quality, source 'refresh'), and the latest stored reco.evaluate()
-- of each version and method (reco.evaluations with the model that was active, source 'evaluate').
CREATE FUNCTION reco.model_quality_history()
RETURNS TABLE (model_id bigint, measured_at timestamptz, source text, method text, k integer,
               ndcg_at_k double precision, recall_at_k double precision,
               hit_rate_at_k double precision, coverage_at_k double precision, users integer)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT q.model_id, q.measured_at, 'refresh', 'hybrid', 10, q.ndcg_at_10, q.recall_at_10,
           q.hit_rate_at_10, q.coverage_at_10, q.users
    FROM reco.model_quality q
    UNION ALL
    SELECT * FROM (
        SELECT DISTINCT ON (e.model_id, e.method) e.model_id, e.created_at, 'evaluate', e.method, e.k,
               e.ndcg_at_k, e.recall_at_k, e.hit_rate_at_k, e.coverage_at_k, e.users
        FROM reco.evaluations e WHERE e.model_id IS NOT NULL
        ORDER BY e.model_id, e.method, e.created_at DESC, e.evaluation_id DESC) ev
    ORDER BY 1, 3, 4
$fn$;
REVOKE ALL ON FUNCTION reco.model_quality_history() FROM PUBLIC;
COMMENT ON FUNCTION reco.model_quality_history() IS 'Dashboard: quality per model version: refresh()''s held-out measure (reco.model_quality, source refresh) and the latest reco.evaluate() of each version and method (source evaluate).';

CREATE FUNCTION reco.model_activation_log()
RETURNS TABLE (activation_id bigint, at timestamptz, from_model_id bigint, to_model_id bigint,
               decision text, how text, by_role name, reason text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT a.activation_id, a.at, a.from_model_id, a.to_model_id, a.decision, a.how, a.by_role, a.reason
    FROM reco.model_activations a ORDER BY a.activation_id DESC
$fn$;
REVOKE ALL ON FUNCTION reco.model_activation_log() FROM PUBLIC;
COMMENT ON FUNCTION reco.model_activation_log() IS 'Dashboard: every change of the active model version, newest first (reco.model_activations).';

CREATE FUNCTION reco.model_drift_history()
RETURNS TABLE (model_id bigint, baseline_model_id bigint, feature text, psi double precision,
               js_divergence double precision, band text, baseline_total double precision,
               current_total double precision)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT d.model_id, d.baseline_model_id, d.feature, d.psi, d.js_divergence, d.band,
           d.baseline_total, d.current_total
    FROM reco.model_drift d ORDER BY d.model_id DESC, d.feature
$fn$;
REVOKE ALL ON FUNCTION reco.model_drift_history() FROM PUBLIC;
COMMENT ON FUNCTION reco.model_drift_history() IS 'Dashboard: the drift each refresh() measured against the version active before it (reco.model_drift), newest first.';

-- Health: the extension version, the active model, and the row of reco.health (quality, the last
-- refresh and activation, drift flags, data checks, serving error rate).
CREATE FUNCTION reco.dashboard_health()
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT pg_catalog.jsonb_build_object(
        'extension_version', (SELECT x.extversion FROM pg_catalog.pg_extension x WHERE x.extname OPERATOR(pg_catalog.=) 'reco'),
        'active_model_id', m.model_id,
        'active_model_created_at', m.created_at,
        'active_model_age_seconds', pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) m.created_at),
        'model_versions', (SELECT pg_catalog.count(*) FROM reco.models),
        'health', (SELECT pg_catalog.to_jsonb(h) FROM reco.health h),
        'server_time', pg_catalog.now())
    FROM (SELECT 1) one
    LEFT JOIN reco.models m ON m.status OPERATOR(pg_catalog.=) 'active'
$fn$;
REVOKE ALL ON FUNCTION reco.dashboard_health() FROM PUBLIC;
COMMENT ON FUNCTION reco.dashboard_health() IS 'Dashboard and HTTP API: reco''s version, the active model (id, build time, age, number of versions) and the row of reco.health, as JSON.';

-- The dashboard's admin refreshes the model as the owner: refresh() creates and attaches
-- tables, which only the owner may (granting EXECUTE on reco.refresh() alone would fail).
CREATE FUNCTION reco.dashboard_refresh(activate boolean DEFAULT true, max_quality_drop double precision DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT pg_catalog.to_jsonb(r) FROM reco.refresh(activate, max_quality_drop) r
$fn$;
REVOKE ALL ON FUNCTION reco.dashboard_refresh(boolean, double precision) FROM PUBLIC;
COMMENT ON FUNCTION reco.dashboard_refresh(boolean, double precision) IS 'Dashboard: runs reco.refresh(activate, max_quality_drop) as the owner of reco and returns its row as JSON.';

-- reco.activate() and reco.rollback() are the owner's (require_extension_owner): the dashboard's
-- admin calls them through these, as the owner; reco.model_activations still records the
-- dashboard's role (session_user) and the reason.
CREATE FUNCTION reco.dashboard_activate(model_id bigint, reason text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT pg_catalog.jsonb_build_object('model_id', model_id, 'previous_model_id', reco.activate(model_id, reason))
$fn$;
REVOKE ALL ON FUNCTION reco.dashboard_activate(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION reco.dashboard_activate(bigint, text) IS 'Dashboard: reco.activate(model_id, reason) as the owner of reco; returns the version now active and the one before. P0002 unknown version, 55000 already active.';

CREATE FUNCTION reco.dashboard_rollback(reason text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT pg_catalog.jsonb_build_object('model_id', reco.rollback(reason))
$fn$;
REVOKE ALL ON FUNCTION reco.dashboard_rollback(text) FROM PUBLIC;
COMMENT ON FUNCTION reco.dashboard_rollback(text) IS 'Dashboard: reco.rollback(reason) as the owner of reco; returns the version now active. 55000 when there is no previous version.';

-- reco.serving_stats reads shared memory through an internal function the role may not call.
-- PL/pgSQL resolves the view when it runs, so a server without it says 42P01.
CREATE FUNCTION reco.dashboard_serving_stats()
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    result jsonb;
BEGIN
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(s)), '[]'::jsonb) INTO result
    FROM reco.serving_stats s
    WHERE s.datid IS NULL OR s.datid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database());
    RETURN result;
END
$fn$;
REVOKE ALL ON FUNCTION reco.dashboard_serving_stats() FROM PUBLIC;
COMMENT ON FUNCTION reco.dashboard_serving_stats() IS 'Dashboard and HTTP API: the rows of reco.serving_stats for this database, as JSON.';

-- Experiment management runs as the owner too, so the dashboard role needs no table privilege.
ALTER FUNCTION reco.create_experiment(text, jsonb, text, double precision) SECURITY DEFINER;
ALTER FUNCTION reco.start_experiment(text) SECURITY DEFINER;
ALTER FUNCTION reco.pause_experiment(text) SECURITY DEFINER;
ALTER FUNCTION reco.stop_experiment(text) SECURITY DEFINER;
ALTER FUNCTION reco.experiment_results(text) SECURITY DEFINER;

CREATE FUNCTION reco.dashboard_functions()
RETURNS regprocedure[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT ARRAY[
        'reco.dashboard_users(text, integer)',
        'reco.user_profile(bigint)',
        'reco.user_history(bigint, integer)',
        'reco.shoe_details(bigint)',
        'reco.shoe_summaries(bigint[])',
        'reco.experiments_list()',
        'reco.experiment_timeline(text)',
        'reco.model_versions()',
        'reco.model_quality_history()',
        'reco.model_activation_log()',
        'reco.model_drift_history()',
        'reco.dashboard_health()',
        'reco.dashboard_serving_stats()',
        'reco.dashboard_refresh(boolean, double precision)',
        'reco.dashboard_activate(bigint, text)',
        'reco.dashboard_rollback(text)',
        'reco.create_experiment(text, jsonb, text, double precision)',
        'reco.start_experiment(text)',
        'reco.pause_experiment(text)',
        'reco.stop_experiment(text)',
        'reco.experiment_results(text)'
    ]::pg_catalog.regprocedure[]
$fn$;
REVOKE ALL ON FUNCTION reco.dashboard_functions() FROM PUBLIC;
COMMENT ON FUNCTION reco.dashboard_functions() IS 'The functions reco.grant_dashboard() grants EXECUTE on (besides reco.app_functions()): the dashboard''s reads, experiment management, refresh, activate and rollback; all SECURITY DEFINER.';

CREATE FUNCTION reco.grant_dashboard(dashboard regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f regprocedure;
BEGIN
    IF dashboard IS NULL THEN
        RAISE EXCEPTION 'reco.grant_dashboard: role must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the name of the dashboard''s role: SELECT reco.grant_dashboard(''reco_web'').';
    END IF;
    PERFORM reco.require_extension_owner('reco.grant_dashboard');
    -- The dashboard also serves (recommendations, similar shoes, services, experiments' serve).
    PERFORM reco.grant_app(dashboard);
    FOREACH f IN ARRAY reco.dashboard_functions() LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', f, dashboard);
    END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION reco.grant_dashboard(regrole) FROM PUBLIC;
COMMENT ON FUNCTION reco.grant_dashboard(regrole) IS 'Lets a role run the web dashboard (crates/reco-web): reco.grant_app(role) plus EXECUTE on reco.dashboard_functions(), no table privilege. Owner only.';

CREATE FUNCTION reco.revoke_dashboard(dashboard regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f regprocedure;
BEGIN
    IF dashboard IS NULL THEN
        RAISE EXCEPTION 'reco.revoke_dashboard: role must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM reco.require_extension_owner('reco.revoke_dashboard');
    FOREACH f IN ARRAY reco.dashboard_functions() LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM %s', f, dashboard);
    END LOOP;
    PERFORM reco.revoke_app(dashboard);
END
$fn$;
REVOKE ALL ON FUNCTION reco.revoke_dashboard(regrole) FROM PUBLIC;
COMMENT ON FUNCTION reco.revoke_dashboard(regrole) IS 'Undoes reco.grant_dashboard(role), reco.grant_app(role) included. Owner only.';
-- <<< web dashboard (#15)

-- The item-item lists say what shoppers bought next as well as what they bought together
-- (reco.knn_next_weight; README "How recommend() scores").
COMMENT ON COLUMN reco.model_shoes.neighbour_ids IS 'The shoe''s item-item neighbours (shoe ids), most similar first: the reco.knn_neighbours shoes with the highest similarity (neighbour_weights). NULL in versions built before 0.2.0.';
COMMENT ON COLUMN reco.model_shoes.neighbour_weights IS 'Similarity of each neighbour in neighbour_ids, in (0, 1): (cos² + reco.knn_next_weight · next) / (1 + reco.knn_next_weight), with cos = co-occurrence / (product of the norms + reco.knn_shrinkage) over the summed action weights, and next how often shoppers went on to the neighbour within their next 5 shoes (README "How recommend() scores"). The setting in force is in reco.models.parameters.';

-- Last: the search_path of every function of reco is pinned and none is executable by PUBLIC
-- (as in 0.3.0, for the functions this release adds).
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
        FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
        WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
          AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
          AND d.refobjid OPERATOR(pg_catalog.=)
              (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'reco')
          AND d.deptype OPERATOR(pg_catalog.=) 'e'
          AND p.pronamespace OPERATOR(pg_catalog.=) 'reco'::pg_catalog.regnamespace
    LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f);
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION reco.require_extension_owner(text) TO PUBLIC;
