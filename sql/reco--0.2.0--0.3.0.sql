-- reco 0.2.0 -> 0.3.0 (ALTER EXTENSION reco UPDATE). A fresh CREATE EXTENSION runs this file too,
-- after 0.1.0's objects and the 0.1.0 -> 0.2.0 script (src/lib.rs).
--
-- No privilege escalation, and a least-privilege application role (README "Security").

-- 1. Every function of reco runs its SQL with search_path = pg_catalog, pg_temp. Before, the
--    functions written in Rust (refresh(), evaluate(), recommend(), ...) and model_tables() ran
--    with the caller's search_path: an operator public.=(oid, regclass) or a function
--    public.nextval(text), created by any role allowed to create objects in public, was picked
--    over pg_catalog's (an exact type match wins over an implicit cast) and ran with the rights of
--    whoever called refresh(), the nightly pg_cron job included. pg_temp last: a caller's temporary
--    tables never shadow a catalog or reco table (functions and operators are never looked up
--    there). reco's own objects are always written schema-qualified.
--
--    And no function of reco is executable by PUBLIC any more: the owner grants the serving
--    functions to an application role with reco.grant_app(role). Before, the internal trigger
--    function reco.bump_catalog_version() (SECURITY DEFINER) was executable by PUBLIC, so a role
--    with USAGE on schema reco could attach it to a table of its own and invalidate every
--    backend's model cache on each of its statements.
--
--    The loop covers every function of schema reco (src/lib.rs orders this file after the
--    functions written in Rust); the test
--    every_function_pins_search_path_and_none_is_executable_by_public checks that none is missed.
-- (The loop doing this is at the end of this file, after every function of 0.3.0 exists.)

-- 2. The serving functions run as the owner of reco (SECURITY DEFINER), so an application role
--    needs EXECUTE on them and nothing else: no SELECT on the interaction log, the users or the
--    models. Their search_path is pinned (above) and they take only values, never SQL.
ALTER FUNCTION reco.recommend(bigint, integer, boolean, text, text, double precision, bigint[], bigint[])
    SECURITY DEFINER;
ALTER FUNCTION reco.similar(bigint, integer) SECURITY DEFINER;
ALTER FUNCTION reco.due_services(date) SECURITY DEFINER;
ALTER FUNCTION reco.mark_service_sent(bigint, bigint, date, text, date) SECURITY DEFINER;

-- 3. The catalogue-version trigger refuses any table but reco.shoes, even for a role the owner
--    granted EXECUTE to.
CREATE OR REPLACE FUNCTION reco.bump_catalog_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) 'reco.shoes'::pg_catalog.regclass THEN
        RAISE EXCEPTION 'reco.bump_catalog_version() is the trigger of reco.shoes only, not of %', TG_RELID::pg_catalog.regclass
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE reco.catalog_version SET version = pg_catalog.nextval('reco.catalog_version_seq'::pg_catalog.regclass);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION reco.bump_catalog_version() IS 'Internal trigger function of reco.shoes: sets reco.catalog_version to a new value, so each backend''s cached catalogue knows when to reload. Refuses any other table.';

-- 4. The pg_cron job runs refresh() as the role that scheduled it, and refresh() must own the
--    model tables: only the extension's owner (or a member of that role, or a superuser) may
--    schedule it. Before, a non-owner got pg_cron's own error about cron.database_name.
CREATE OR REPLACE FUNCTION reco.require_extension_owner(caller text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    owner pg_catalog.name := (SELECT r.rolname FROM pg_catalog.pg_extension e
                              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) e.extowner
                              WHERE e.extname OPERATOR(pg_catalog.=) 'reco');
BEGIN
    IF NOT pg_catalog.pg_has_role(current_user, owner, 'USAGE') THEN
        RAISE EXCEPTION '%: only the owner of the reco extension (role %) can do this, not %', caller, owner, current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = pg_catalog.format('Run it as %I (or a member of it): the pg_cron job runs refresh() as the role that scheduled it, and refresh() creates tables of the model.', owner);
    END IF;
END
$fn$;
-- The one function of reco executable by PUBLIC, on purpose: it grants nothing and only raises,
-- and the functions that call it (security invoker) can then be granted to another role and still
-- say why they refuse it.
COMMENT ON FUNCTION reco.require_extension_owner(text) IS 'Internal: raises 42501 naming the caller unless current_user has the privileges of the extension''s owner. Executable by PUBLIC: it only raises.';

CREATE OR REPLACE FUNCTION reco.schedule_refresh(schedule text DEFAULT '0 3 * * *')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
    PERFORM reco.require_pg_cron();
    -- A named job: scheduling again updates the schedule of the same job.
    job := cron.schedule('reco-refresh', schedule, 'SELECT reco.refresh()');
    RETURN job;
END
$fn$;

CREATE OR REPLACE FUNCTION reco.unschedule_refresh()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM reco.require_extension_owner('reco.unschedule_refresh');
    PERFORM reco.require_pg_cron();
    IF NOT EXISTS (SELECT 1 FROM cron.job
                   WHERE jobname OPERATOR(pg_catalog.=) 'reco-refresh'
                     AND username OPERATOR(pg_catalog.=) current_user) THEN
        RETURN false;
    END IF;
    PERFORM cron.unschedule('reco-refresh');
    RETURN true;
END
$fn$;

-- 5. The application role: what serving needs, nothing more (README "Security"). Later releases
--    add their serving functions (experiments, events) to reco.app_functions().
CREATE FUNCTION reco.app_functions()
RETURNS regprocedure[]
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT ARRAY[
        'reco.recommend(bigint, integer, boolean, text, text, double precision, bigint[], bigint[])',
        'reco.similar(bigint, integer)',
        'reco.due_services(date)',
        'reco.mark_service_sent(bigint, bigint, date, text, date)',
        'reco.serve(bigint, integer, text, boolean, text, text, double precision, bigint[], bigint[], text)',
        'reco.log_event(bigint, bigint, text, numeric, bigint, timestamp with time zone, interval)',
        'reco.rate(bigint, bigint, integer, bigint)'
    ]::pg_catalog.regprocedure[]
$fn$;
REVOKE ALL ON FUNCTION reco.app_functions() FROM PUBLIC;
COMMENT ON FUNCTION reco.app_functions() IS 'The functions reco.grant_app() grants EXECUTE on: serving, the services log, experiment serving, events and ratings, all SECURITY DEFINER.';

CREATE FUNCTION reco.grant_app(app regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f regprocedure;
BEGIN
    IF app IS NULL THEN
        RAISE EXCEPTION 'reco.grant_app: role must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the name of the application''s role: SELECT reco.grant_app(''shop_app'').';
    END IF;
    PERFORM reco.require_extension_owner('reco.grant_app');
    -- regrole's and regprocedure's text forms are already quoted and qualified.
    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA reco TO %s', app);
    FOREACH f IN ARRAY reco.app_functions() LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', f, app);
    END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION reco.grant_app(regrole) FROM PUBLIC;
COMMENT ON FUNCTION reco.grant_app(regrole) IS 'Lets a role serve: USAGE on schema reco and EXECUTE on reco.app_functions() (recommend, similar, due_services, mark_service_sent, serve, log_event, rate), nothing else. Owner only.';

CREATE FUNCTION reco.revoke_app(app regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    f regprocedure;
BEGIN
    IF app IS NULL THEN
        RAISE EXCEPTION 'reco.revoke_app: role must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM reco.require_extension_owner('reco.revoke_app');
    FOREACH f IN ARRAY reco.app_functions() LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM %s', f, app);
    END LOOP;
    EXECUTE pg_catalog.format('REVOKE USAGE ON SCHEMA reco FROM %s', app);
END
$fn$;
REVOKE ALL ON FUNCTION reco.revoke_app(regrole) FROM PUBLIC;
COMMENT ON FUNCTION reco.revoke_app(regrole) IS 'Undoes reco.grant_app(role). Owner only.';

-- ================================================================ A/B tests (README "A/B tests")
-- 6. Experiments: arms, serving through an arm, exposure and event logging, ratings.

CREATE TABLE reco.experiments (
    experiment_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL UNIQUE CHECK (name OPERATOR(pg_catalog.<>) ''),
    placement      text NOT NULL CHECK (placement OPERATOR(pg_catalog.<>) ''),
    arms           jsonb NOT NULL,
    seed           bigint NOT NULL,
    status         text NOT NULL DEFAULT 'draft'
                   CHECK (status IN ('draft', 'running', 'paused', 'stopped')),
    minimum_detectable_effect double precision NOT NULL DEFAULT 0.1
                   CHECK (minimum_detectable_effect > 0 AND minimum_detectable_effect < 10),
    alpha          double precision NOT NULL DEFAULT 0.05 CHECK (alpha > 0 AND alpha < 0.5),
    power          double precision NOT NULL DEFAULT 0.8 CHECK (power > 0.5 AND power < 1),
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at     timestamptz,
    stopped_at     timestamptz
);
-- One live experiment per placement: a user is then in at most one experiment there.
CREATE UNIQUE INDEX experiments_one_live_per_placement ON reco.experiments (placement)
    WHERE status IN ('running', 'paused');
COMMENT ON TABLE reco.experiments IS 'A/B experiments: reco.create_experiment(), start_experiment(), pause_experiment(), stop_experiment(); reco.serve() serves the running one of a placement.';
COMMENT ON COLUMN reco.experiments.experiment_id IS 'Surrogate key.';
COMMENT ON COLUMN reco.experiments.name IS 'Unique name, used by every experiment function.';
COMMENT ON COLUMN reco.experiments.placement IS 'Where in the shop the list is shown (home, product page, ...); reco.serve(placement => ...) picks the live experiment of its placement.';
COMMENT ON COLUMN reco.experiments.arms IS 'The arms, in order (the first is the control): [{"name", "strategy": popularity | hybrid | model, "model_id" (strategy model), "weight"}]. Frozen once started.';
COMMENT ON COLUMN reco.experiments.seed IS 'Assignment seed: a user''s arm is reco.experiment_bucket(seed, user) mapped through the arm weights. Frozen once started.';
COMMENT ON COLUMN reco.experiments.status IS 'draft (arms editable), running, paused (serves the control, logs nothing for the experiment) or stopped (final).';
COMMENT ON COLUMN reco.experiments.minimum_detectable_effect IS 'Relative lift of user conversion the experiment is planned to detect (0.1 = 10%); sets the users needed per arm before the verdict names a winner.';
COMMENT ON COLUMN reco.experiments.alpha IS 'Two-sided significance level of the verdict.';
COMMENT ON COLUMN reco.experiments.power IS 'Power of the planned sample size.';
COMMENT ON COLUMN reco.experiments.created_at IS 'When it was created.';
COMMENT ON COLUMN reco.experiments.started_at IS 'When it was first started.';
COMMENT ON COLUMN reco.experiments.stopped_at IS 'When it was stopped.';
SELECT pg_catalog.pg_extension_config_dump('reco.experiments', '');
SELECT pg_catalog.pg_extension_config_dump('reco.experiments_experiment_id_seq', '');

CREATE TABLE reco.impressions (
    request_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id  bigint REFERENCES reco.experiments (experiment_id) ON DELETE CASCADE,
    arm            text,
    placement      text NOT NULL,
    user_id        bigint,
    visitor        text,
    shown_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    shoe_ids       bigint[] NOT NULL,
    CHECK ((experiment_id IS NULL) = (arm IS NULL))
);
CREATE INDEX impressions_experiment_idx ON reco.impressions (experiment_id, arm) WHERE experiment_id IS NOT NULL;
CREATE INDEX impressions_user_idx ON reco.impressions (user_id, shown_at) WHERE user_id IS NOT NULL;
COMMENT ON TABLE reco.impressions IS 'One row per reco.serve() call: what was shown to whom, through which experiment arm. Written by serve() only.';
COMMENT ON COLUMN reco.impressions.request_id IS 'The request id serve() returned; reco.log_event() and reco.rate() refer to it.';
COMMENT ON COLUMN reco.impressions.experiment_id IS 'The experiment the user was exposed to; NULL when no experiment was running on the placement (or it was paused, or an anonymous visitor had no visitor key).';
COMMENT ON COLUMN reco.impressions.arm IS 'The arm''s name; NULL exactly when experiment_id is.';
COMMENT ON COLUMN reco.impressions.placement IS 'serve()''s placement.';
COMMENT ON COLUMN reco.impressions.user_id IS 'The user; NULL for an anonymous visitor. Not a foreign key: the log outlives deleted users.';
COMMENT ON COLUMN reco.impressions.visitor IS 'The caller-given key of an anonymous visitor (assignment unit when user_id is NULL).';
COMMENT ON COLUMN reco.impressions.shown_at IS 'When the list was served.';
COMMENT ON COLUMN reco.impressions.shoe_ids IS 'The shoes shown, in position order (position 1 first).';
SELECT pg_catalog.pg_extension_config_dump('reco.impressions', '');
SELECT pg_catalog.pg_extension_config_dump('reco.impressions_request_id_seq', '');

CREATE TABLE reco.events (
    event_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id     bigint NOT NULL REFERENCES reco.impressions (request_id) ON DELETE CASCADE,
    shoe_id        bigint NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('click', 'add_to_cart', 'purchase')),
    order_value    numeric CHECK (order_value >= 0 AND order_value < 'Infinity'),
    occurred_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK ((kind OPERATOR(pg_catalog.=) 'purchase') = (order_value IS NOT NULL))
);
-- De-duplication: one event of each kind per shown shoe and request (a repeat is ignored).
CREATE UNIQUE INDEX events_once_per_request_idx ON reco.events (request_id, shoe_id, kind);
COMMENT ON TABLE reco.events IS 'What shoppers did with served shoes: written by reco.log_event().';
COMMENT ON COLUMN reco.events.event_id IS 'Surrogate key.';
COMMENT ON COLUMN reco.events.request_id IS 'The impression the event belongs to (given, or attributed by log_event()).';
COMMENT ON COLUMN reco.events.shoe_id IS 'The shoe clicked, put in the cart or bought; one of the impression''s shoe_ids.';
COMMENT ON COLUMN reco.events.kind IS 'click, add_to_cart or purchase.';
COMMENT ON COLUMN reco.events.order_value IS 'Value of the purchase (>= 0; the shoe''s price when log_event() was given NULL); NULL for clicks and cart adds.';
COMMENT ON COLUMN reco.events.occurred_at IS 'When it happened; never before the impression.';
SELECT pg_catalog.pg_extension_config_dump('reco.events', '');
SELECT pg_catalog.pg_extension_config_dump('reco.events_event_id_seq', '');

CREATE TABLE reco.ratings (
    rating_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES reco.users (user_id) ON DELETE CASCADE,
    shoe_id        bigint NOT NULL REFERENCES reco.shoes (shoe_id) ON DELETE CASCADE,
    rating         smallint NOT NULL CHECK (rating IN (-1, 1)),
    request_id     bigint REFERENCES reco.impressions (request_id) ON DELETE SET NULL,
    rated_at       timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX ratings_user_idx ON reco.ratings (user_id, shoe_id, rated_at);
COMMENT ON TABLE reco.ratings IS 'Shopper feedback from reco.rate(): thumbs up (1) or down (-1). The latest rating of a user for a shoe holds.';
COMMENT ON COLUMN reco.ratings.rating_id IS 'Surrogate key (later ratings have larger ids).';
COMMENT ON COLUMN reco.ratings.user_id IS 'Who rated.';
COMMENT ON COLUMN reco.ratings.shoe_id IS 'What was rated.';
COMMENT ON COLUMN reco.ratings.rating IS '1 thumbs up (counts like a wishlist add), -1 thumbs down (never recommended to this user again while it stands, and counts against the shoe in the user''s scores).';
COMMENT ON COLUMN reco.ratings.request_id IS 'The serve() request the rated shoe was shown in, when known.';
COMMENT ON COLUMN reco.ratings.rated_at IS 'When.';
SELECT pg_catalog.pg_extension_config_dump('reco.ratings', '');
SELECT pg_catalog.pg_extension_config_dump('reco.ratings_rating_id_seq', '');

-- The arms, checked: a JSON array of at least two objects with a unique non-empty "name", a
-- "strategy" (popularity, hybrid, model with an existing "model_id") and a "weight" >= 0; the
-- weights must sum to a positive number. Returns them normalised (keys in a fixed set).
CREATE FUNCTION reco.checked_arms(arms jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    arm jsonb;
    out jsonb := '[]';
    names text[] := '{}';
    total double precision := 0;
    arm_name text;
    strategy text;
    weight double precision;
    model bigint;
    hint constant text := 'Arms look like [{"name": "control", "strategy": "popularity", "weight": 50}, {"name": "treatment", "strategy": "hybrid", "weight": 50}]; a strategy is popularity, hybrid or model (with "model_id": an id of reco.models).';
BEGIN
    IF arms IS NULL OR jsonb_typeof(arms) OPERATOR(pg_catalog.<>) 'array' OR jsonb_array_length(arms) < 2 THEN
        RAISE EXCEPTION 'reco: arms must be a JSON array of at least two arms, got %', coalesce(arms::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = hint;
    END IF;
    FOR arm IN SELECT a FROM jsonb_array_elements(arms) AS a LOOP
        IF jsonb_typeof(arm) OPERATOR(pg_catalog.<>) 'object'
           OR EXISTS (SELECT 1 FROM jsonb_object_keys(arm) AS key
                      WHERE key OPERATOR(pg_catalog.<>) ALL (ARRAY['name', 'strategy', 'model_id', 'weight'])) THEN
            RAISE EXCEPTION 'reco: each arm must be an object with the keys name, strategy, weight (and model_id), got %', arm
                USING ERRCODE = 'invalid_parameter_value', HINT = hint;
        END IF;
        arm_name := arm->>'name';
        strategy := arm->>'strategy';
        IF arm_name IS NULL OR arm_name OPERATOR(pg_catalog.=) '' OR arm_name OPERATOR(pg_catalog.=) ANY (names) THEN
            RAISE EXCEPTION 'reco: every arm needs a unique, non-empty name, got %', arm
                USING ERRCODE = 'invalid_parameter_value', HINT = hint;
        END IF;
        names := pg_catalog.array_append(names, arm_name);
        IF jsonb_typeof(arm->'weight') IS DISTINCT FROM 'number' THEN
            RAISE EXCEPTION 'reco: arm "%" needs a numeric weight, got %', arm_name, coalesce(arm->>'weight', 'none')
                USING ERRCODE = 'invalid_parameter_value', HINT = hint;
        END IF;
        weight := (arm->>'weight')::double precision;
        IF weight < 0 OR weight OPERATOR(pg_catalog.=) 'Infinity'::double precision THEN
            RAISE EXCEPTION 'reco: arm "%" has weight %, which is not a finite number >= 0', arm_name, weight
                USING ERRCODE = 'invalid_parameter_value', HINT = hint;
        END IF;
        total := total + weight;
        model := NULL;
        IF strategy OPERATOR(pg_catalog.=) 'model' THEN
            IF jsonb_typeof(arm->'model_id') IS DISTINCT FROM 'number' THEN
                RAISE EXCEPTION 'reco: arm "%" has strategy model but no numeric model_id', arm_name
                    USING ERRCODE = 'invalid_parameter_value', HINT = hint;
            END IF;
            model := (arm->>'model_id')::bigint;
            IF NOT EXISTS (SELECT 1 FROM reco.models m WHERE m.model_id OPERATOR(pg_catalog.=) model) THEN
                RAISE EXCEPTION 'reco: arm "%": model % does not exist in reco.models', arm_name, model
                    USING ERRCODE = 'no_data_found',
                          HINT = 'SELECT model_id, status FROM reco.models lists the versions kept (reco.keep_models).';
            END IF;
        ELSIF strategy IS NULL OR strategy OPERATOR(pg_catalog.<>) ALL (ARRAY['popularity', 'hybrid']) THEN
            RAISE EXCEPTION 'reco: arm "%" has strategy %, not popularity, hybrid or model', arm_name, coalesce(strategy, 'none')
                USING ERRCODE = 'invalid_parameter_value', HINT = hint;
        ELSIF arm ? 'model_id' THEN
            RAISE EXCEPTION 'reco: arm "%" has a model_id but strategy %', arm_name, strategy
                USING ERRCODE = 'invalid_parameter_value', HINT = hint;
        END IF;
        out := out OPERATOR(pg_catalog.||) jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
            'name', arm_name, 'strategy', strategy, 'model_id', model, 'weight', weight)));
    END LOOP;
    IF total <= 0 THEN
        RAISE EXCEPTION 'reco: the arm weights sum to %, they must sum to a positive number', total
            USING ERRCODE = 'invalid_parameter_value', HINT = hint;
    END IF;
    RETURN out;
END
$fn$;
REVOKE ALL ON FUNCTION reco.checked_arms(jsonb) FROM PUBLIC;
COMMENT ON FUNCTION reco.checked_arms(jsonb) IS 'Internal: validates and normalises the arms of an experiment (22023 / P0002 with a hint).';

CREATE FUNCTION reco.create_experiment(
    name text,
    arms jsonb,
    placement text DEFAULT 'home',
    minimum_detectable_effect double precision DEFAULT 0.1)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    id bigint;
BEGIN
    IF create_experiment.name IS NULL OR create_experiment.name OPERATOR(pg_catalog.=) ''
       OR create_experiment.placement IS NULL OR create_experiment.placement OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'reco.create_experiment: name and placement must be non-empty'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF minimum_detectable_effect IS NULL OR NOT (minimum_detectable_effect > 0 AND minimum_detectable_effect < 10) THEN
        RAISE EXCEPTION 'reco.create_experiment: minimum_detectable_effect must be a relative lift in (0, 10), got %', minimum_detectable_effect
            USING ERRCODE = 'invalid_parameter_value', HINT = 'For example 0.1: plan to detect a 10% lift of user conversion.';
    END IF;
    IF EXISTS (SELECT 1 FROM reco.experiments e WHERE e.name OPERATOR(pg_catalog.=) create_experiment.name) THEN
        RAISE EXCEPTION 'reco.create_experiment: an experiment named "%" exists already', create_experiment.name
            USING ERRCODE = 'unique_violation', HINT = 'Choose another name; names are never reused, even after stop_experiment().';
    END IF;
    -- The seed: random, so two experiments split the same users independently.
    INSERT INTO reco.experiments (name, placement, arms, seed, minimum_detectable_effect)
    VALUES (create_experiment.name, create_experiment.placement, reco.checked_arms(arms),
            (pg_catalog.random() * 9.2e18)::bigint, create_experiment.minimum_detectable_effect)
    RETURNING experiment_id INTO id;
    RETURN id;
END
$fn$;
COMMENT ON FUNCTION reco.create_experiment(text, jsonb, text, double precision) IS 'Creates an experiment in status draft and returns its id. arms: [{"name", "strategy": popularity | hybrid | model, "model_id", "weight"}], the first is the control. Errors: 22023 bad arms, P0002 unknown model, 23505 name taken.';

-- The one place where status changes: start (draft or paused -> running), pause (running ->
-- paused), stop (draft, running or paused -> stopped).
CREATE FUNCTION reco.set_experiment_status(experiment text, to_status text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    e reco.experiments;
    allowed constant jsonb := '{"running": ["draft", "paused"], "paused": ["running"], "stopped": ["draft", "running", "paused"]}';
    live text;
BEGIN
    IF experiment IS NULL THEN
        RAISE EXCEPTION 'reco: experiment name must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT * INTO e FROM reco.experiments x WHERE x.name OPERATOR(pg_catalog.=) experiment FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reco: experiment "%" does not exist', experiment
            USING ERRCODE = 'no_data_found', HINT = 'SELECT name, status FROM reco.experiments lists them.';
    END IF;
    IF NOT (allowed->to_status) ? e.status THEN
        RAISE EXCEPTION 'reco: experiment "%" is %, it cannot become %', experiment, e.status, to_status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'start: draft or paused; pause: running; stop: anything but stopped (final).';
    END IF;
    IF to_status OPERATOR(pg_catalog.=) 'running' THEN
        SELECT x.name INTO live FROM reco.experiments x
        WHERE x.placement OPERATOR(pg_catalog.=) e.placement AND x.status IN ('running', 'paused')
          AND x.experiment_id OPERATOR(pg_catalog.<>) e.experiment_id;
        IF FOUND THEN
            RAISE EXCEPTION 'reco: experiment "%" is live on placement "%" already', live, e.placement
                USING ERRCODE = 'unique_violation',
                      HINT = 'A user is in at most one experiment per placement: stop that one first, or use another placement.';
        END IF;
    END IF;
    UPDATE reco.experiments x
    SET status = to_status,
        started_at = CASE WHEN to_status OPERATOR(pg_catalog.=) 'running' THEN coalesce(x.started_at, pg_catalog.now()) ELSE x.started_at END,
        stopped_at = CASE WHEN to_status OPERATOR(pg_catalog.=) 'stopped' THEN pg_catalog.now() END
    WHERE x.experiment_id OPERATOR(pg_catalog.=) e.experiment_id;
END
$fn$;
REVOKE ALL ON FUNCTION reco.set_experiment_status(text, text) FROM PUBLIC;
COMMENT ON FUNCTION reco.set_experiment_status(text, text) IS 'Internal: the status transitions of an experiment (55000 when not allowed, 23505 for a second live experiment on a placement).';

CREATE FUNCTION reco.start_experiment(name text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT reco.set_experiment_status(name, 'running') $fn$;
CREATE FUNCTION reco.pause_experiment(name text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT reco.set_experiment_status(name, 'paused') $fn$;
CREATE FUNCTION reco.stop_experiment(name text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp
AS $fn$ SELECT reco.set_experiment_status(name, 'stopped') $fn$;
COMMENT ON FUNCTION reco.start_experiment(text) IS 'Starts (or resumes) an experiment: its arms and seed are frozen from now on; 23505 if another experiment is live on its placement.';
COMMENT ON FUNCTION reco.pause_experiment(text) IS 'Pauses a running experiment: serve() then shows everyone the control arm''s list and records no exposure for the experiment.';
COMMENT ON FUNCTION reco.stop_experiment(text) IS 'Stops an experiment for good; its results stay queryable.';

-- Arms, seed and placement are frozen once an experiment has started: its users keep their arm.
CREATE FUNCTION reco.experiments_freeze() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    IF OLD.status OPERATOR(pg_catalog.<>) 'draft'
       AND (NEW.arms, NEW.seed, NEW.placement) IS DISTINCT FROM (OLD.arms, OLD.seed, OLD.placement) THEN
        RAISE EXCEPTION 'reco: the arms, seed and placement of experiment "%" are frozen since it started', OLD.name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Stop it and create a new experiment with the new arms.';
    END IF;
    IF NEW.status OPERATOR(pg_catalog.=) 'draft' THEN
        NEW.arms := reco.checked_arms(NEW.arms);
    END IF;
    RETURN NEW;
END
$fn$;
REVOKE ALL ON FUNCTION reco.experiments_freeze() FROM PUBLIC;
COMMENT ON FUNCTION reco.experiments_freeze() IS 'Internal trigger function: refuses changes of arms, seed or placement once an experiment has left draft; checks the arms of a draft.';
CREATE TRIGGER experiments_freeze BEFORE UPDATE ON reco.experiments
    FOR EACH ROW EXECUTE FUNCTION reco.experiments_freeze();

-- Events. With a request id: the shoe must have been shown in that request, and the event may not
-- be older than the impression. Without one (request_id NULL, user_id given): attributed to the
-- user's latest impression that showed the shoe within attribution_window before the event; none
-- such: the event is not logged and NULL is returned (a purchase still goes into the log).
-- Repeats (same request, shoe and kind) are ignored: NULL is returned.
CREATE FUNCTION reco.log_event(
    request_id bigint,
    shoe_id bigint,
    kind text,
    order_value numeric DEFAULT NULL,
    user_id bigint DEFAULT NULL,
    occurred_at timestamptz DEFAULT pg_catalog.now(),
    attribution_window interval DEFAULT '1 day')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    imp reco.impressions;
    value numeric := order_value;
    event bigint;
    who bigint := log_event.user_id;
BEGIN
    IF shoe_id IS NULL OR kind IS NULL OR occurred_at IS NULL THEN
        RAISE EXCEPTION 'reco.log_event: shoe_id, kind and occurred_at must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF kind OPERATOR(pg_catalog.<>) ALL (ARRAY['click', 'add_to_cart', 'purchase']) THEN
        RAISE EXCEPTION 'reco.log_event: kind must be click, add_to_cart or purchase, got "%"', kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF value IS NOT NULL AND (value < 0 OR value OPERATOR(pg_catalog.=) 'Infinity'::numeric OR value OPERATOR(pg_catalog.=) 'NaN'::numeric) THEN
        RAISE EXCEPTION 'reco.log_event: order_value must be a finite amount >= 0, got %', value
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF value IS NOT NULL AND kind OPERATOR(pg_catalog.<>) 'purchase' THEN
        RAISE EXCEPTION 'reco.log_event: only a purchase has an order_value (kind %)', kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF request_id IS NOT NULL THEN
        SELECT * INTO imp FROM reco.impressions i WHERE i.request_id OPERATOR(pg_catalog.=) log_event.request_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'reco.log_event: request % does not exist', request_id
                USING ERRCODE = 'no_data_found', HINT = 'Pass the request_id reco.serve() returned with the list, or NULL with user_id to attribute the event.';
        END IF;
        IF who IS NOT NULL AND who IS DISTINCT FROM imp.user_id THEN
            RAISE EXCEPTION 'reco.log_event: request % was served to user %, not %', request_id, coalesce(imp.user_id::text, 'anonymous'), who
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF NOT shoe_id OPERATOR(pg_catalog.=) ANY (imp.shoe_ids) THEN
            RAISE EXCEPTION 'reco.log_event: shoe % was not shown in request %', shoe_id, request_id
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Events count only for the shoes of the list they were served in.';
        END IF;
        IF occurred_at < imp.shown_at THEN
            RAISE EXCEPTION 'reco.log_event: the event (%) is older than its impression (%)', occurred_at, imp.shown_at
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    ELSE
        IF who IS NULL THEN
            RAISE EXCEPTION 'reco.log_event: pass the request_id of the list, or the user_id to attribute the event'
                USING ERRCODE = 'null_value_not_allowed';
        END IF;
        SELECT * INTO imp FROM reco.impressions i
        WHERE i.user_id OPERATOR(pg_catalog.=) who
          AND i.shown_at <= occurred_at AND i.shown_at >= occurred_at - attribution_window
          AND shoe_id OPERATOR(pg_catalog.=) ANY (i.shoe_ids)
        ORDER BY i.shown_at DESC, i.request_id DESC LIMIT 1;
    END IF;
    IF kind OPERATOR(pg_catalog.=) 'purchase' THEN
        IF value IS NULL THEN
            SELECT s.price INTO value FROM reco.shoes s WHERE s.shoe_id OPERATOR(pg_catalog.=) log_event.shoe_id;
            IF value IS NULL THEN
                RAISE EXCEPTION 'reco.log_event: shoe % has no price: pass the order_value of the purchase', shoe_id
                    USING ERRCODE = 'null_value_not_allowed';
            END IF;
        END IF;
        -- A purchase feeds the next recommendations at once.
        IF coalesce(imp.user_id, who) IS NOT NULL THEN
            INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at)
            VALUES (coalesce(imp.user_id, who), log_event.shoe_id, 'purchase', log_event.occurred_at);
        END IF;
    END IF;
    IF imp.request_id IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO reco.events (request_id, shoe_id, kind, order_value, occurred_at)
    VALUES (imp.request_id, log_event.shoe_id, kind, value, log_event.occurred_at)
    ON CONFLICT DO NOTHING
    RETURNING event_id INTO event;
    RETURN event;
END
$fn$;
COMMENT ON FUNCTION reco.log_event(bigint, bigint, text, numeric, bigint, timestamptz, interval) IS 'Logs a click, add_to_cart or purchase of a served shoe; returns the event id, or NULL for a repeat (same request, shoe, kind: ignored) or an event without a request id that no impression of the user within attribution_window explains. A purchase also goes into reco.interactions. Errors: P0002 unknown request, 22023 shoe not shown / event before its impression / bad kind or value.';

-- What each request led to, summed: derived from reco.events by its triggers, so
-- experiment_results() reads one row per request instead of every event (10M events: 12-21 s
-- before, see BENCHMARKS.md). Not dumped: a restore rebuilds it from the restored events.
CREATE TABLE reco.request_totals (
    request_id  bigint PRIMARY KEY REFERENCES reco.impressions (request_id) ON DELETE CASCADE,
    clicks      bigint NOT NULL DEFAULT 0,
    cart_adds   bigint NOT NULL DEFAULT 0,
    orders      bigint NOT NULL DEFAULT 0,
    revenue     numeric NOT NULL DEFAULT 0
);
COMMENT ON TABLE reco.request_totals IS 'Internal, derived from reco.events by triggers: the events of each request, summed (what experiment_results() reads).';
COMMENT ON COLUMN reco.request_totals.request_id IS 'The request (reco.impressions).';
COMMENT ON COLUMN reco.request_totals.clicks IS 'Its click events.';
COMMENT ON COLUMN reco.request_totals.cart_adds IS 'Its add_to_cart events.';
COMMENT ON COLUMN reco.request_totals.orders IS 'Its purchase events.';
COMMENT ON COLUMN reco.request_totals.revenue IS 'Sum of the order values of its purchases.';

CREATE FUNCTION reco.request_totals_after_events() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
        TRUNCATE reco.request_totals;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        INSERT INTO reco.request_totals AS t (request_id, clicks, cart_adds, orders, revenue)
        SELECT n.request_id,
               count(*) FILTER (WHERE n.kind OPERATOR(pg_catalog.=) 'click'),
               count(*) FILTER (WHERE n.kind OPERATOR(pg_catalog.=) 'add_to_cart'),
               count(*) FILTER (WHERE n.kind OPERATOR(pg_catalog.=) 'purchase'),
               coalesce(sum(n.order_value), 0)
        FROM added n GROUP BY n.request_id
        ON CONFLICT (request_id) DO UPDATE
        SET clicks = t.clicks + EXCLUDED.clicks, cart_adds = t.cart_adds + EXCLUDED.cart_adds,
            orders = t.orders + EXCLUDED.orders, revenue = t.revenue + EXCLUDED.revenue;
    ELSE
        -- DELETE (also the cascade from a deleted impression, whose totals are gone already).
        UPDATE reco.request_totals AS t
        SET clicks = t.clicks - g.clicks, cart_adds = t.cart_adds - g.cart_adds,
            orders = t.orders - g.orders, revenue = t.revenue - g.revenue
        FROM (SELECT o.request_id,
                     count(*) FILTER (WHERE o.kind OPERATOR(pg_catalog.=) 'click') AS clicks,
                     count(*) FILTER (WHERE o.kind OPERATOR(pg_catalog.=) 'add_to_cart') AS cart_adds,
                     count(*) FILTER (WHERE o.kind OPERATOR(pg_catalog.=) 'purchase') AS orders,
                     coalesce(sum(o.order_value), 0) AS revenue
              FROM removed o GROUP BY o.request_id) g
        WHERE t.request_id OPERATOR(pg_catalog.=) g.request_id;
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION reco.request_totals_after_events() IS 'Internal trigger function: keeps reco.request_totals equal to the sums of reco.events.';
CREATE TRIGGER events_request_totals_insert AFTER INSERT ON reco.events
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION reco.request_totals_after_events();
CREATE TRIGGER events_request_totals_delete AFTER DELETE ON reco.events
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION reco.request_totals_after_events();
CREATE TRIGGER events_request_totals_truncate AFTER TRUNCATE ON reco.events
    FOR EACH STATEMENT EXECUTE FUNCTION reco.request_totals_after_events();
-- Also under session_replication_role = replica (logical replication, bulk loads).
ALTER TABLE reco.events ENABLE ALWAYS TRIGGER events_request_totals_insert;
ALTER TABLE reco.events ENABLE ALWAYS TRIGGER events_request_totals_delete;
ALTER TABLE reco.events ENABLE ALWAYS TRIGGER events_request_totals_truncate;

-- Shopper feedback: thumbs up (1) or down (-1).
CREATE FUNCTION reco.rate(
    user_id bigint,
    shoe_id bigint,
    rating integer,
    request_id bigint DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF user_id IS NULL OR shoe_id IS NULL OR rating IS NULL THEN
        RAISE EXCEPTION 'reco.rate: user_id, shoe_id and rating must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF rating OPERATOR(pg_catalog.<>) ALL (ARRAY[-1, 1]) THEN
        RAISE EXCEPTION 'reco.rate: rating must be 1 (thumbs up) or -1 (thumbs down), got %', rating
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF request_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM reco.impressions i
        WHERE i.request_id OPERATOR(pg_catalog.=) rate.request_id
          AND i.user_id OPERATOR(pg_catalog.=) rate.user_id
          AND rate.shoe_id OPERATOR(pg_catalog.=) ANY (i.shoe_ids)) THEN
        RAISE EXCEPTION 'reco.rate: request % did not show shoe % to user %', request_id, shoe_id, user_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The foreign keys give 23503 for an unknown user or shoe.
    INSERT INTO reco.ratings (user_id, shoe_id, rating, request_id)
    VALUES (rate.user_id, rate.shoe_id, rate.rating, rate.request_id);
    IF rating OPERATOR(pg_catalog.=) 1 THEN
        INSERT INTO reco.interactions (user_id, shoe_id, action)
        VALUES (rate.user_id, rate.shoe_id, 'add_to_wishlist');
    END IF;
END
$fn$;
COMMENT ON FUNCTION reco.rate(bigint, bigint, integer, bigint) IS 'A shopper rates a shoe: 1 (thumbs up) counts like a wishlist add; -1 (thumbs down) removes the shoe from that user''s recommendations at once and counts against it in their scores, until a later thumbs up. Logged in reco.ratings with the request id when given.';

-- The functions written in Rust that are new in 0.3.0. In a new installation this file runs
-- after pgrx created them, so these are CREATE OR REPLACE with pgrx's definitions, word for word.
CREATE OR REPLACE FUNCTION reco."experiment_bucket"(
	"seed" bigint, /* i64 */
	"user_id" bigint /* i64 */
) RETURNS INT /* i32 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'experiment_bucket_user_wrapper';
COMMENT ON FUNCTION reco.experiment_bucket(bigint, bigint) IS 'Assignment bucket (0..9999) of a user in an experiment with this seed: 64-bit FNV-1a over the seed''s then the user id''s 8 little-endian bytes, SplitMix64 finaliser, modulo 10000. Stable across servers, versions and sessions.';

CREATE OR REPLACE FUNCTION reco."experiment_bucket"(
	"seed" bigint, /* i64 */
	"visitor" TEXT /* & str */
) RETURNS INT /* i32 */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'experiment_bucket_visitor_wrapper';
COMMENT ON FUNCTION reco.experiment_bucket(bigint, text) IS 'Assignment bucket (0..9999) of an anonymous visitor, by the caller''s visitor key (its UTF-8 bytes after the seed''s).';

CREATE OR REPLACE FUNCTION reco."experiment_statistics"(
	"experiment_id" bigint /* i64 */
) RETURNS TABLE (
	"arm" TEXT,  /* String */
	"position" INT,  /* i32 */
	"statistics" jsonb  /* pgrx :: JsonB */
)
STRICT STABLE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'experiment_statistics_wrapper';
COMMENT ON FUNCTION reco.experiment_statistics(bigint) IS 'Internal, for reco.experiment_results(): the statistics of each arm as one JSON object.';

CREATE OR REPLACE FUNCTION reco."sample_size_per_arm"(
	"baseline_rate" double precision, /* Option < f64 > */
	"minimum_detectable_effect" double precision, /* Option < f64 > */
	"alpha" double precision DEFAULT 0.05, /* Option < f64 > */
	"power" double precision DEFAULT 0.8 /* Option < f64 > */
) RETURNS bigint /* i64 */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sample_size_per_arm_wrapper';
COMMENT ON FUNCTION reco.sample_size_per_arm(double precision, double precision, double precision, double precision) IS 'Users needed per arm to detect a relative lift minimum_detectable_effect (0.1 = +10%) of the conversion rate baseline_rate, two-sided alpha, power (two-proportion test; what experiment_results() plans with). 22023 when undefined.';

CREATE OR REPLACE FUNCTION reco."serve"(
	"user_id" bigint, /* Option < i64 > */
	"k" INT DEFAULT 10, /* Option < i32 > */
	"placement" TEXT DEFAULT 'home', /* Option < & str > */
	"exclude_purchased" bool DEFAULT true, /* Option < bool > */
	"brand" TEXT DEFAULT NULL, /* Option < & str > */
	"shoe_type" TEXT DEFAULT NULL, /* Option < & str > */
	"max_price" double precision DEFAULT NULL, /* Option < f64 > */
	"allowed_ids" bigint[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < i64 > > > */
	"denied_ids" bigint[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < i64 > > > */
	"visitor" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"request_id" bigint,  /* i64 */
	"position" INT,  /* i32 */
	"shoe_id" bigint,  /* i64 */
	"score" double precision,  /* f64 */
	"reason" TEXT,  /* String */
	"arm" TEXT  /* String */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'serve_wrapper';
COMMENT ON FUNCTION reco.serve(bigint, integer, text, boolean, text, text, double precision, bigint[], bigint[], text) IS 'The top-k of the user''s arm in the experiment running on the placement (recommend()''s list with no experiment; the control''s while it is paused), with the filters and exclusions of recommend(); records the impression and returns its request_id on every row. An anonymous visitor (user_id NULL) is assigned by visitor. Writes: primary only.';

-- Results: one row per arm, from reco.experiment_statistics() (Rust, reco_core::experiment_stats).
CREATE FUNCTION reco.experiment_results(name text)
RETURNS TABLE (
    arm text, users bigint, impressions bigint, clicks bigint, ctr double precision,
    conversions bigint, conversion_rate double precision, orders bigint, revenue double precision,
    aov double precision, revenue_per_user double precision,
    conversion_lift double precision, conversion_ci_low double precision, conversion_ci_high double precision,
    conversion_relative_lift double precision, conversion_relative_ci_low double precision,
    conversion_relative_ci_high double precision, conversion_p_value double precision,
    ctr_lift double precision, ctr_ci_low double precision, ctr_ci_high double precision,
    ctr_relative_lift double precision, ctr_relative_ci_low double precision,
    ctr_relative_ci_high double precision, ctr_p_value double precision,
    aov_lift double precision, aov_ci_low double precision, aov_ci_high double precision,
    aov_relative_lift double precision, aov_relative_ci_low double precision,
    aov_relative_ci_high double precision, aov_p_value double precision,
    revenue_per_user_lift double precision, revenue_per_user_ci_low double precision,
    revenue_per_user_ci_high double precision, revenue_per_user_relative_lift double precision,
    revenue_per_user_relative_ci_low double precision, revenue_per_user_relative_ci_high double precision,
    revenue_per_user_p_value double precision,
    required_users_per_arm bigint, srm_p_value double precision, verdict text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    id bigint;
BEGIN
    SELECT e.experiment_id INTO id FROM reco.experiments e WHERE e.name OPERATOR(pg_catalog.=) experiment_results.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reco.experiment_results: experiment "%" does not exist', coalesce(experiment_results.name, 'NULL')
            USING ERRCODE = 'no_data_found', HINT = 'SELECT name, status FROM reco.experiments lists them.';
    END IF;
    RETURN QUERY
    SELECT s.arm, (j->>'users')::bigint, (j->>'impressions')::float8::bigint, (j->>'clicks')::float8::bigint,
           (j->>'ctr')::float8, (j->>'conversions')::bigint, (j->>'conversion_rate')::float8,
           (j->>'orders')::float8::bigint, (j->>'revenue')::float8, (j->>'aov')::float8,
           (j->>'revenue_per_user')::float8,
           (j->>'conversion_lift')::float8, (j->>'conversion_ci_low')::float8, (j->>'conversion_ci_high')::float8,
           (j->>'conversion_relative_lift')::float8, (j->>'conversion_relative_ci_low')::float8,
           (j->>'conversion_relative_ci_high')::float8, (j->>'conversion_p_value')::float8,
           (j->>'ctr_lift')::float8, (j->>'ctr_ci_low')::float8, (j->>'ctr_ci_high')::float8,
           (j->>'ctr_relative_lift')::float8, (j->>'ctr_relative_ci_low')::float8,
           (j->>'ctr_relative_ci_high')::float8, (j->>'ctr_p_value')::float8,
           (j->>'aov_lift')::float8, (j->>'aov_ci_low')::float8, (j->>'aov_ci_high')::float8,
           (j->>'aov_relative_lift')::float8, (j->>'aov_relative_ci_low')::float8,
           (j->>'aov_relative_ci_high')::float8, (j->>'aov_p_value')::float8,
           (j->>'revenue_per_user_lift')::float8, (j->>'revenue_per_user_ci_low')::float8,
           (j->>'revenue_per_user_ci_high')::float8, (j->>'revenue_per_user_relative_lift')::float8,
           (j->>'revenue_per_user_relative_ci_low')::float8, (j->>'revenue_per_user_relative_ci_high')::float8,
           (j->>'revenue_per_user_p_value')::float8,
           (j->>'required_users_per_arm')::bigint, (j->>'srm_p_value')::float8, j->>'verdict'
    FROM reco.experiment_statistics(id) AS s, LATERAL (SELECT s.statistics AS j) AS x
    ORDER BY s.position;
END
$fn$;
COMMENT ON FUNCTION reco.experiment_results(text) IS 'One row per arm (the control first): users, impressions, clicks, ctr, conversions, conversion_rate, orders, revenue, aov, revenue_per_user; for each arm against the control, for conversion (two-proportion z-test), ctr and aov (delta method) and revenue_per_user (Welch): lift, ci_low/ci_high (confidence 1 - alpha), relative_lift with its interval, p_value; the users needed per arm; srm_p_value; verdict (SRM, control, underpowered, better, worse, no difference). P0002 for an unknown experiment.';

-- Serving, events and ratings run as the owner, like recommend(): an application role needs
-- EXECUTE on them only (reco.grant_app()).
ALTER FUNCTION reco.serve(bigint, integer, text, boolean, text, text, double precision, bigint[], bigint[], text)
    SECURITY DEFINER;
ALTER FUNCTION reco.log_event(bigint, bigint, text, numeric, bigint, timestamp with time zone, interval)
    SECURITY DEFINER;
ALTER FUNCTION reco.rate(bigint, bigint, integer, bigint) SECURITY DEFINER;

-- Every backend rebuilds its model cache after the update (it learns that reco.ratings exists).
UPDATE reco.catalog_version SET version = pg_catalog.nextval('reco.catalog_version_seq'::pg_catalog.regclass);

-- Last: the search_path of every function of reco is pinned and none is executable by PUBLIC
-- (section 1 above).
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

-- ... but for reco.require_extension_owner(text), which only raises (see section 4).
GRANT EXECUTE ON FUNCTION reco.require_extension_owner(text) TO PUBLIC;
