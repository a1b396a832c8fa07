-- >>> web dashboard (#15)
-- The read functions of the web dashboard (crates/reco-web) and the role that runs it. The
-- dashboard connects as a least-privilege role that reads no table: everything it shows comes
-- through these functions, which run as the owner of reco (SECURITY DEFINER, pinned search_path,
-- values as arguments only), like the serving functions of reco.grant_app().
--
-- Until sql/reco--0.3.0--0.4.0.sql carries this block, scripts/web/test.sh (and the demo) run
-- this file as the superuser right after CREATE EXTENSION reco.

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
-- role may not read reco.shoes); unknown ids are left out.
CREATE FUNCTION reco.shoe_summaries(shoe_ids bigint[])
RETURNS TABLE (shoe_id bigint, name text, brand text, type text, price numeric)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT s.shoe_id, s.name, s.brand, s.type, s.price
    FROM reco.shoes s WHERE s.shoe_id OPERATOR(pg_catalog.=) ANY (shoe_ids)
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
    SELECT days.d, arms.arm, c.n, c.conv,
           CASE WHEN c.n > 0 THEN c.conv::double precision / c.n END
    FROM days CROSS JOIN arms
    CROSS JOIN LATERAL (
        SELECT pg_catalog.count(*) AS n,
               pg_catalog.count(*) FILTER (WHERE b.buy_day OPERATOR(pg_catalog.<=) days.d) AS conv
        FROM units u LEFT JOIN buys b ON b.unit OPERATOR(pg_catalog.=) u.unit
        WHERE u.arm OPERATOR(pg_catalog.=) arms.arm AND u.first_day OPERATOR(pg_catalog.<=) days.d
    ) c
    ORDER BY days.d, arms.position;
END
$fn$;
REVOKE ALL ON FUNCTION reco.experiment_timeline(text) FROM PUBLIC;
COMMENT ON FUNCTION reco.experiment_timeline(text) IS 'Dashboard: per UTC day and arm, the users exposed so far and those of them who bought through the experiment so far (cumulative user conversion; a user counts in the arm of their first impression). P0002 for an unknown experiment.';

CREATE FUNCTION reco.model_versions()
RETURNS TABLE (model_id bigint, created_at timestamptz, status text, users integer, shoes integer,
               interactions bigint, factors integer, energy double precision, seconds jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT m.model_id, m.created_at, m.status, m.users, m.shoes, m.interactions, m.factors,
           m.energy, m.seconds
    FROM reco.models m ORDER BY m.model_id DESC
$fn$;
REVOKE ALL ON FUNCTION reco.model_versions() FROM PUBLIC;
COMMENT ON FUNCTION reco.model_versions() IS 'Dashboard: the kept model versions, newest first (status active or retired), with their sizes and build seconds.';

-- Quality history: reco.evaluate() stores its metrics with the model id that was active; the
-- latest evaluation of each (model, method) is the point drawn for it.
CREATE FUNCTION reco.model_quality()
RETURNS TABLE (model_id bigint, evaluated_at timestamptz, method text, k integer,
               ndcg_at_k double precision, precision_at_k double precision,
               recall_at_k double precision, hit_rate_at_k double precision,
               coverage_at_k double precision, users integer)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT DISTINCT ON (e.model_id, e.method) e.model_id, e.created_at, e.method, e.k, e.ndcg_at_k,
           e.precision_at_k, e.recall_at_k, e.hit_rate_at_k, e.coverage_at_k, e.users
    FROM reco.evaluations e WHERE e.model_id IS NOT NULL
    ORDER BY e.model_id, e.method, e.created_at DESC, e.evaluation_id DESC
$fn$;
REVOKE ALL ON FUNCTION reco.model_quality() FROM PUBLIC;
COMMENT ON FUNCTION reco.model_quality() IS 'Dashboard: the latest stored reco.evaluate() metrics of each model version and method (offline quality per version).';

-- Health in one cheap call: the extension version and the active model.
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
        'server_time', pg_catalog.now())
    FROM (SELECT 1) one
    LEFT JOIN reco.models m ON m.status OPERATOR(pg_catalog.=) 'active'
$fn$;
REVOKE ALL ON FUNCTION reco.dashboard_health() FROM PUBLIC;
COMMENT ON FUNCTION reco.dashboard_health() IS 'Dashboard and HTTP API: reco''s version and the active model (id, build time, age), for a health check.';

-- The dashboard's admin refreshes the model as the owner: refresh() creates and attaches
-- tables, which only the owner may (granting EXECUTE on reco.refresh() alone would fail).
CREATE FUNCTION reco.dashboard_refresh()
RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT pg_catalog.to_jsonb(r) FROM reco.refresh() r
$fn$;
REVOKE ALL ON FUNCTION reco.dashboard_refresh() FROM PUBLIC;
COMMENT ON FUNCTION reco.dashboard_refresh() IS 'Dashboard: runs reco.refresh() as the owner of reco and returns its row as JSON.';

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
        'reco.model_quality()',
        'reco.dashboard_health()',
        'reco.dashboard_refresh()',
        'reco.create_experiment(text, jsonb, text, double precision)',
        'reco.start_experiment(text)',
        'reco.pause_experiment(text)',
        'reco.stop_experiment(text)',
        'reco.experiment_results(text)'
    ]::pg_catalog.regprocedure[]
$fn$;
REVOKE ALL ON FUNCTION reco.dashboard_functions() FROM PUBLIC;
COMMENT ON FUNCTION reco.dashboard_functions() IS 'The functions reco.grant_dashboard() grants EXECUTE on (besides reco.app_functions()): the dashboard''s reads, experiment management, refresh; all SECURITY DEFINER.';

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
