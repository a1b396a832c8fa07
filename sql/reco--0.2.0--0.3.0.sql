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
--    The loop covers every function of schema reco at this point (src/lib.rs orders this file
--    after the functions written in Rust); the test
--    every_function_pins_search_path_and_none_is_executable_by_public checks that none is missed.
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
        'reco.mark_service_sent(bigint, bigint, date, text, date)'
    ]::pg_catalog.regprocedure[]
$fn$;
REVOKE ALL ON FUNCTION reco.app_functions() FROM PUBLIC;
COMMENT ON FUNCTION reco.app_functions() IS 'The functions reco.grant_app() grants EXECUTE on: serving and the services log, all SECURITY DEFINER.';

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
COMMENT ON FUNCTION reco.grant_app(regrole) IS 'Lets a role serve: USAGE on schema reco and EXECUTE on reco.app_functions() (recommend, similar, due_services, mark_service_sent), nothing else. Owner only.';

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
