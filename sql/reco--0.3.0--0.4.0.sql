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
    PERFORM reco.switch_active_model(target, 'manual', pg_catalog.coalesce(reason, 'rollback'));
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
COMMENT ON COLUMN reco.model_drift.baseline_model_id IS 'The version active at that refresh, whose training window is the baseline.';
COMMENT ON COLUMN reco.model_drift.feature IS 'shoe_popularity (interactions per decile of shoes by baseline popularity, plus shoes unseen in the baseline), action_mix (interactions per action), user_activity (users per log2 bin of their interactions in the window), new_users and new_shoes (share of the window''s users or shoes absent from the baseline: psi NULL, js_divergence NULL, the share in current_total).';
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
-- <<<< Rust-defined functions of 0.4.0

-- >>> web dashboard (#15)
-- <<< web dashboard (#15)

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
