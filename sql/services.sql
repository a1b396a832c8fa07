-- Post-purchase services: care reminders and replacement suggestions (reco.due_services), the
-- log of services sent (reco.services_sent, reco.mark_service_sent), their settings
-- (reco.service_settings) and pg_cron scheduling of reco.refresh() (reco.schedule_refresh).
--
-- Everything here is deterministic: due_services(as_of) depends on as_of and the tables only,
-- never on now(), so any past or future day can be replayed. The purchase date of an interaction
-- is its UTC calendar day, always written (occurred_at AT TIME ZONE 'UTC')::date so that the
-- planner matches reco.interactions_purchase_date_idx.
--
-- pg_cron is optional: reco does not require it, and cron.* is referenced only from PL/pgSQL
-- bodies, which are resolved when they run, not when the extension is created.

-- ---------------------------------------------------------------- settings

CREATE TABLE reco.service_settings (
    shoe_type               text PRIMARY KEY,
    care_delay_days         integer CHECK (care_delay_days BETWEEN 0 AND 36500),
    care_window_days        integer CHECK (care_window_days BETWEEN 1 AND 36500),
    replacement_window_days integer CHECK (replacement_window_days BETWEEN 0 AND 36500),
    replacement_grace_days  integer CHECK (replacement_grace_days BETWEEN 0 AND 36500),
    suggestions             integer CHECK (suggestions BETWEEN 0 AND 100)
);
COMMENT ON TABLE reco.service_settings IS
'Settings of reco.due_services(), per shoe type (reco.shoes.type, exact match) plus an optional row ''default''. Each value is resolved column by column: the type''s row, else the ''default'' row, else the built-in default (care_delay_days 30, care_window_days 30, replacement_window_days 30, replacement_grace_days 365, suggestions 3). NULL = inherit. The table ships empty; user rows are dumped by pg_dump.';
COMMENT ON COLUMN reco.service_settings.shoe_type IS 'A value of reco.shoes.type, or ''default'' for every type without its own value.';
COMMENT ON COLUMN reco.service_settings.care_delay_days IS 'Care reminder is due this many days after the purchase date (built-in 30).';
COMMENT ON COLUMN reco.service_settings.care_window_days IS 'An unsent care reminder stays due this many days from its due date, then lapses (built-in 30).';
COMMENT ON COLUMN reco.service_settings.replacement_window_days IS 'Replacement is due this many days before end of life = purchase date + lifespan_days (built-in 30).';
COMMENT ON COLUMN reco.service_settings.replacement_grace_days IS 'An unsent, unreplaced replacement stays due this many days past end of life, then lapses (built-in 365; 36500 = practically forever, at the cost of scanning all purchases).';
COMMENT ON COLUMN reco.service_settings.suggestions IS 'How many similar active shoes a replacement suggests (0-100, built-in 3).';
SELECT pg_catalog.pg_extension_config_dump('reco.service_settings', '');

-- ---------------------------------------------------------------- log of services sent

CREATE TABLE reco.services_sent (
    user_id      bigint NOT NULL REFERENCES reco.users (user_id) ON DELETE CASCADE,
    shoe_id      bigint NOT NULL REFERENCES reco.shoes (shoe_id) ON DELETE CASCADE,
    purchased_on date NOT NULL,
    service      text NOT NULL CHECK (service IN ('care', 'replacement')),
    sent_on      date NOT NULL,
    CHECK (sent_on >= purchased_on),
    PRIMARY KEY (user_id, shoe_id, purchased_on, service)
);
COMMENT ON TABLE reco.services_sent IS
'Services sent (or marked done). A logged service is not returned by reco.due_services(as_of) for as_of >= sent_on; replaying an earlier day still shows it. Written by reco.mark_service_sent() or directly by the application.';
COMMENT ON COLUMN reco.services_sent.user_id IS 'Who bought (reco.users).';
COMMENT ON COLUMN reco.services_sent.shoe_id IS 'What was bought (reco.shoes).';
COMMENT ON COLUMN reco.services_sent.purchased_on IS 'UTC date of the purchase: (occurred_at AT TIME ZONE ''UTC'')::date.';
COMMENT ON COLUMN reco.services_sent.service IS 'care or replacement.';
COMMENT ON COLUMN reco.services_sent.sent_on IS 'Day the service was sent or marked done; it is not due from this day on.';
SELECT pg_catalog.pg_extension_config_dump('reco.services_sent', '');

-- due_services() checks, per due replacement, whether the user bought a shoe later, and which
-- shoes the user owns: one index-only probe per user instead of reading all their interactions.
CREATE INDEX interactions_purchase_user_idx ON reco.interactions (user_id, occurred_at) INCLUDE (shoe_id)
    WHERE action = 'purchase';

-- Replacements are searched per shoe over the purchase days that can be due (see due_services).
CREATE INDEX interactions_purchase_shoe_date_idx
    ON reco.interactions (shoe_id, ((occurred_at AT TIME ZONE 'UTC')::date)) INCLUDE (user_id, occurred_at)
    WHERE action = 'purchase';

CREATE FUNCTION reco.mark_service_sent(
    user_id bigint,
    shoe_id bigint,
    purchased_on date,
    service text,
    sent_on date DEFAULT current_date)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF mark_service_sent.user_id IS NULL OR mark_service_sent.shoe_id IS NULL
       OR mark_service_sent.purchased_on IS NULL OR mark_service_sent.service IS NULL
       OR mark_service_sent.sent_on IS NULL THEN
        RAISE EXCEPTION 'reco.mark_service_sent: user_id, shoe_id, purchased_on, service and sent_on must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF mark_service_sent.service NOT IN ('care', 'replacement') THEN
        RAISE EXCEPTION 'reco.mark_service_sent: unknown service "%"', mark_service_sent.service
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'service is ''care'' or ''replacement''.';
    END IF;
    IF mark_service_sent.sent_on < mark_service_sent.purchased_on THEN
        RAISE EXCEPTION 'reco.mark_service_sent: sent_on % is before purchased_on %',
            mark_service_sent.sent_on, mark_service_sent.purchased_on
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The UTC day [purchased_on, purchased_on + 1) as a timestamptz range: uses the (user_id, occurred_at) index.
    IF NOT EXISTS (
        SELECT 1 FROM reco.interactions i
        WHERE i.user_id = mark_service_sent.user_id
          AND i.action = 'purchase'
          AND i.occurred_at >= (mark_service_sent.purchased_on::timestamp AT TIME ZONE 'UTC')
          AND i.occurred_at < ((mark_service_sent.purchased_on + 1)::timestamp AT TIME ZONE 'UTC')
          AND i.shoe_id = mark_service_sent.shoe_id) THEN
        RAISE EXCEPTION 'reco.mark_service_sent: user % did not buy shoe % on %',
            mark_service_sent.user_id, mark_service_sent.shoe_id, mark_service_sent.purchased_on
            USING ERRCODE = 'no_data_found',
                  HINT = 'Pass user_id, shoe_id and purchased_on as returned by reco.due_services().';
    END IF;
    -- Marking twice keeps the earliest day.
    INSERT INTO reco.services_sent AS s (user_id, shoe_id, purchased_on, service, sent_on)
    VALUES (mark_service_sent.user_id, mark_service_sent.shoe_id, mark_service_sent.purchased_on,
            mark_service_sent.service, mark_service_sent.sent_on)
    ON CONFLICT ON CONSTRAINT services_sent_pkey
    DO UPDATE SET sent_on = LEAST(s.sent_on, EXCLUDED.sent_on);
END
$fn$;
COMMENT ON FUNCTION reco.mark_service_sent(bigint, bigint, date, text, date) IS
'Log a service (care or replacement) of the purchase (user_id, shoe_id, purchased_on) as sent or done on sent_on (default today): reco.due_services(as_of) stops returning it for as_of >= sent_on. Marking again keeps the earliest day. Errors: NULL argument 22004, unknown service or sent_on before purchased_on 22023, no such purchase P0002.';

-- ---------------------------------------------------------------- due services

CREATE FUNCTION reco.due_services(as_of date DEFAULT current_date)
RETURNS TABLE (
    user_id      bigint,
    shoe_id      bigint,
    purchased_on date,
    service      text,
    due_on       date,
    message      text,
    suggestions  bigint[])
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
-- The plan's cost estimate is high enough to trigger JIT, which costs ~1.7 s of compilation per
-- call and saves nothing here.
SET jit = off
AS $fn$
DECLARE
    care_lo date;
    care_hi date;
    -- End of the day as_of (exclusive), as a timestamptz: purchases after it have not happened yet.
    day_end timestamptz;
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'reco.due_services: as_of must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass a date, e.g. reco.due_services(current_date) or reco.due_services(''2026-11-01'').';
    END IF;
    IF NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'reco.due_services: as_of must be a finite date, got %', as_of
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    day_end := (as_of + 1)::timestamp AT TIME ZONE 'UTC';

    -- Care: bound the purchase dates that can have a reminder due on as_of from the settings of
    -- the types in the catalogue (due_on = p + delay, due while due_on <= as_of < due_on + window),
    -- so that the purchase-date index reads only those days.
    WITH d AS (
        SELECT coalesce(x.care_delay_days, 30) AS care_delay_days,
               coalesce(x.care_window_days, 30) AS care_window_days
        FROM (SELECT) one LEFT JOIN reco.service_settings x ON x.shoe_type = 'default')
    SELECT as_of - max(coalesce(s.care_delay_days, d.care_delay_days) + coalesce(s.care_window_days, d.care_window_days)) + 1,
           as_of - min(coalesce(s.care_delay_days, d.care_delay_days))
    INTO care_lo, care_hi
    FROM (SELECT DISTINCT sh.type FROM reco.shoes sh) t
    CROSS JOIN d
    LEFT JOIN reco.service_settings s ON s.shoe_type = t.type;
    IF care_lo IS NULL THEN
        RETURN;  -- empty catalogue
    END IF;

    RETURN QUERY
    WITH d AS (
        SELECT coalesce(x.care_delay_days, 30) AS care_delay_days,
               coalesce(x.care_window_days, 30) AS care_window_days,
               coalesce(x.replacement_window_days, 30) AS replacement_window_days,
               coalesce(x.replacement_grace_days, 365) AS replacement_grace_days,
               coalesce(x.suggestions, 3) AS suggestions
        FROM (SELECT) one LEFT JOIN reco.service_settings x ON x.shoe_type = 'default'),
    -- Care: purchases (one row per user, shoe and UTC day) whose reminder window holds as_of.
    care AS (
        SELECT b.user_id, b.shoe_id, b.purchased_on,
               b.purchased_on + coalesce(s.care_delay_days, d.care_delay_days) AS due_on,
               coalesce(s.care_window_days, d.care_window_days) AS care_window,
               sh.name, sh.care_instructions
        FROM (SELECT DISTINCT i.user_id, i.shoe_id, (i.occurred_at AT TIME ZONE 'UTC')::date AS purchased_on
              FROM reco.interactions i
              WHERE i.action = 'purchase'
                AND (i.occurred_at AT TIME ZONE 'UTC')::date BETWEEN care_lo AND care_hi) b
        JOIN reco.shoes sh ON sh.shoe_id = b.shoe_id
        CROSS JOIN d
        LEFT JOIN reco.service_settings s ON s.shoe_type = sh.type),
    care_due AS (
        SELECT c.*
        FROM care c
        WHERE c.due_on <= as_of AND as_of < c.due_on + c.care_window
          AND NOT EXISTS (
              SELECT 1 FROM reco.services_sent x
              WHERE x.user_id = c.user_id AND x.shoe_id = c.shoe_id AND x.purchased_on = c.purchased_on
                AND x.service = 'care' AND x.sent_on <= as_of)),
    -- Replacement: per shoe, the purchases whose replacement window started and whose grace has
    -- not ended. The purchase-date range depends on the shoe's lifespan, so it is searched per
    -- shoe (interactions_purchase_shoe_date_idx): exactly the candidates are read, however wide
    -- the lifespans of the catalogue are. With due_on = GREATEST(p, p + lifespan - window):
    --   due_on <= as_of < p + lifespan + grace  <=>  as_of - lifespan - grace < p <= LEAST(as_of, as_of - lifespan + window)
    rep AS (
        SELECT b.user_id, sh.shoe_id, b.purchased_on, sh.type, sh.name,
               b.purchased_on + sh.lifespan_days AS end_of_life,
               GREATEST(b.purchased_on, b.purchased_on + sh.lifespan_days - k.rep_window) AS due_on,
               k.n
        FROM reco.shoes sh
        CROSS JOIN d
        LEFT JOIN reco.service_settings s ON s.shoe_type = sh.type
        CROSS JOIN LATERAL (
            SELECT coalesce(s.replacement_window_days, d.replacement_window_days) AS rep_window,
                   coalesce(s.replacement_grace_days, d.replacement_grace_days) AS rep_grace,
                   coalesce(s.suggestions, d.suggestions) AS n) k
        CROSS JOIN LATERAL (
            SELECT DISTINCT i.user_id, (i.occurred_at AT TIME ZONE 'UTC')::date AS purchased_on
            FROM reco.interactions i
            WHERE i.shoe_id = sh.shoe_id
              AND i.action = 'purchase'
              AND (i.occurred_at AT TIME ZONE 'UTC')::date
                  BETWEEN as_of - sh.lifespan_days - k.rep_grace + 1
                      AND LEAST(as_of, as_of - sh.lifespan_days + k.rep_window)) b
    ),
    -- Not sent yet (a cheap anti-join first), then not replaced.
    rep_unsent AS MATERIALIZED (
        SELECT r.*
        FROM rep r
        WHERE NOT EXISTS (
              SELECT 1 FROM reco.services_sent x
              WHERE x.user_id = r.user_id AND x.shoe_id = r.shoe_id AND x.purchased_on = r.purchased_on
                AND x.service = 'replacement' AND x.sent_on <= as_of)),
    -- Replaced: the user bought a shoe of the same type on a later UTC day, by as_of. Replaced
    -- purchases stay candidates until their grace ends, so rep_unsent is large (on tier L ~165k
    -- rows a day); written as a join (not NOT EXISTS) so that the planner can hash the candidates
    -- and stream the purchases past them once, instead of building a hash of all purchases or
    -- probing per row.
    replaced AS MATERIALIZED (
        SELECT DISTINCT r.user_id, r.shoe_id, r.purchased_on
        FROM rep_unsent r
        JOIN reco.interactions j
          ON j.user_id = r.user_id AND j.action = 'purchase'
         AND j.occurred_at >= ((r.purchased_on + 1)::timestamp AT TIME ZONE 'UTC')
         AND j.occurred_at < day_end
        JOIN reco.shoes s2 ON s2.shoe_id = j.shoe_id AND s2.type = r.type),
    rep_due AS MATERIALIZED (
        SELECT r.*
        FROM rep_unsent r
        WHERE NOT EXISTS (
            SELECT 1 FROM replaced x
            WHERE x.user_id = r.user_id AND x.shoe_id = r.shoe_id AND x.purchased_on = r.purchased_on)),
    -- Shoes each of those users bought by as_of (never suggested back to them).
    owned AS (
        SELECT u.user_id, array_agg(DISTINCT j.shoe_id) AS shoes
        FROM (SELECT DISTINCT rd.user_id FROM rep_due rd WHERE rd.n > 0) u
        JOIN reco.interactions j ON j.user_id = u.user_id AND j.action = 'purchase' AND j.occurred_at < day_end
        GROUP BY u.user_id),
    -- One similar() call per distinct shoe, deep enough that after removing the shoes of the
    -- user who owns the most, n remain (similar() already leaves out the shoe and inactive ones).
    pool AS (
        SELECT p.shoe_id, array_agg(sim.shoe_id ORDER BY sim.ord) AS cands
        FROM (SELECT rd.shoe_id, LEAST(max(rd.n + cardinality(o.shoes)), 10000) AS depth
              FROM rep_due rd JOIN owned o ON o.user_id = rd.user_id
              WHERE rd.n > 0
              GROUP BY rd.shoe_id) p
        CROSS JOIN LATERAL reco.similar(p.shoe_id, p.depth)
            WITH ORDINALITY AS sim(shoe_id, score, content_score, cf_score, ord)
        GROUP BY p.shoe_id)
    SELECT cd.user_id, cd.shoe_id, cd.purchased_on, 'care'::text, cd.due_on,
           format('Time to care for your %s (bought on %s): %s', cd.name, cd.purchased_on,
                  coalesce(nullif(btrim(cd.care_instructions), ''), 'see the product page for care instructions.')),
           NULL::bigint[]
    FROM care_due cd
    UNION ALL
    SELECT rd.user_id, rd.shoe_id, rd.purchased_on, 'replacement'::text, rd.due_on,
           CASE WHEN as_of < rd.end_of_life
                THEN format('Your %s (bought on %s) reaches the end of its expected life on %s: time to look for a replacement.',
                            rd.name, rd.purchased_on, rd.end_of_life)
                ELSE format('Your %s (bought on %s) passed the end of its expected life on %s: time for a replacement.',
                            rd.name, rd.purchased_on, rd.end_of_life)
           END,
           CASE WHEN rd.n = 0 THEN '{}'::bigint[]
                ELSE ARRAY(SELECT c.id FROM unnest(pl.cands) WITH ORDINALITY AS c(id, ord)
                           WHERE c.id <> ALL (o.shoes)
                           ORDER BY c.ord LIMIT rd.n)
           END
    FROM rep_due rd
    LEFT JOIN owned o ON o.user_id = rd.user_id
    LEFT JOIN pool pl ON pl.shoe_id = rd.shoe_id
    ORDER BY 5, 1, 2, 3, 4;
END
$fn$;
COMMENT ON FUNCTION reco.due_services(date) IS
'Services due on as_of (default today; NULL is an error, 22004), one row per purchase (user, shoe, UTC day) and service, ordered by due_on, user_id, shoe_id. care: due from purchase date + care_delay_days, returned for care_window_days, message carries the shoe''s care_instructions, suggestions NULL. replacement: due from purchase date + lifespan_days - replacement_window_days until the user buys a shoe of the same type on a later day, or for replacement_grace_days past end of life; suggestions = top similar() active shoes the user does not own. A service logged in reco.services_sent with sent_on <= as_of is not returned. Settings: reco.service_settings. Depends only on as_of and the tables (no now()).';

-- ---------------------------------------------------------------- pg_cron

-- Raise a clear error unless pg_cron is preloaded and installed in this database.
CREATE FUNCTION reco.require_pg_cron()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    cron_db text := current_setting('cron.database_name', true);
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM regexp_split_to_table(current_setting('shared_preload_libraries'), ',') AS lib
        WHERE btrim(lib, ' "') IN ('pg_cron', '$libdir/pg_cron')) THEN
        RAISE EXCEPTION 'reco: pg_cron is not loaded (it is not in shared_preload_libraries)'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Install pg_cron, then in postgresql.conf set shared_preload_libraries = ''pg_cron'' (add it to the list) and cron.database_name = %L, restart PostgreSQL and run CREATE EXTENSION pg_cron in that database.',
                                current_database());
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        IF cron_db IS NOT NULL AND cron_db <> current_database() THEN
            RAISE EXCEPTION 'reco: pg_cron runs jobs from database "%", not from "%"', cron_db, current_database()
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = format('Set cron.database_name = %L and restart PostgreSQL, or in database %I run: SELECT cron.schedule_in_database(''reco-refresh'', ''0 3 * * *'', ''SELECT reco.refresh()'', %L).',
                                    current_database(), cron_db, current_database());
        END IF;
        RAISE EXCEPTION 'reco: the pg_cron extension is not installed in database "%"', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run CREATE EXTENSION pg_cron (as a superuser) in this database; cron.database_name must name it.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION reco.require_pg_cron() IS
'Internal: raises 55000 with a hint (shared_preload_libraries, cron.database_name, CREATE EXTENSION pg_cron) unless pg_cron is preloaded and installed in this database.';

CREATE FUNCTION reco.schedule_refresh(schedule text DEFAULT '0 3 * * *')
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    job bigint;
BEGIN
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
COMMENT ON FUNCTION reco.schedule_refresh(text) IS
'Schedule SELECT reco.refresh() with pg_cron as job ''reco-refresh'' (default 03:00 daily); calling again replaces the schedule. Returns the cron job id. Needs pg_cron preloaded (shared_preload_libraries, cron.database_name = this database) and CREATE EXTENSION pg_cron; otherwise error 55000 with a hint. Runs: SELECT * FROM cron.job_run_details WHERE jobid = <id> ORDER BY start_time DESC.';

CREATE FUNCTION reco.unschedule_refresh()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM reco.require_pg_cron();
    IF NOT EXISTS (SELECT 1 FROM cron.job WHERE jobname = 'reco-refresh' AND username = current_user) THEN
        RETURN false;
    END IF;
    PERFORM cron.unschedule('reco-refresh');
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION reco.unschedule_refresh() IS
'Remove the pg_cron job ''reco-refresh'' of the current user. Returns true if a job was removed, false if there was none. Same prerequisites as reco.schedule_refresh().';
