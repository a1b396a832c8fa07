-- Post-purchase services: care reminders and replacement suggestions (reco.due_services), the
-- log of services sent (reco.services_sent, reco.mark_service_sent), their settings
-- (reco.service_settings) and pg_cron scheduling of reco.refresh() (reco.schedule_refresh).
--
-- Everything here is deterministic: due_services(as_of) depends on as_of and the tables only,
-- never on now(), so any past or future day can be replayed. The purchase date of an interaction
-- is its UTC calendar day, always written (occurred_at AT TIME ZONE 'UTC')::date so that the
-- planner matches the indexes on it.
--
-- pg_cron is optional: reco does not require it, and cron.* is referenced only from PL/pgSQL
-- bodies, which are resolved when they run, not when the extension is created.

-- ---------------------------------------------------------------- settings

CREATE TABLE reco.service_settings (
    shoe_type               text PRIMARY KEY,
    care_delay_days         integer CHECK (care_delay_days BETWEEN 0 AND 36500),
    replacement_window_days integer CHECK (replacement_window_days BETWEEN 0 AND 36500),
    suggestions             integer CHECK (suggestions BETWEEN 0 AND 100)
);
COMMENT ON TABLE reco.service_settings IS
'Settings of reco.due_services(), per shoe type (reco.shoes.type, exact match) plus an optional row ''default''. Each value is resolved column by column: the type''s row, else the ''default'' row, else the built-in default (care_delay_days 30, replacement_window_days 30, suggestions 3). NULL = inherit. The table ships empty; user rows are dumped by pg_dump. A change recomputes reco.service_periods for every purchase.';
COMMENT ON COLUMN reco.service_settings.shoe_type IS 'A value of reco.shoes.type, or ''default'' for every type without its own value.';
COMMENT ON COLUMN reco.service_settings.care_delay_days IS 'Care reminder is due this many days after the purchase date (built-in 30).';
COMMENT ON COLUMN reco.service_settings.replacement_window_days IS 'Replacement is due this many days before end of life = purchase date + lifespan_days (built-in 30).';
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

-- The service periods of a user are rebuilt from their purchases, and due_services() lists the
-- shoes each user owns: one index-only probe per user instead of reading all their interactions.
CREATE INDEX interactions_purchase_user_idx ON reco.interactions (user_id, occurred_at) INCLUDE (shoe_id)
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

-- ---------------------------------------------------------------- service periods

-- A service is due from its due day until it is sent, or, for a replacement, until the user buys
-- a shoe of the same type on a later day: an interval of days, open-ended while neither happened.
-- due_services(as_of) is then a stabbing query on a GiST index of those intervals, and costs what
-- it returns, however long the purchase history is. The intervals are derived data, kept in step
-- with interactions, shoes, service_settings and services_sent by the triggers below (in the same
-- transaction), never written by the application.
CREATE TABLE reco.service_periods (
    user_id      bigint NOT NULL,
    shoe_id      bigint NOT NULL,
    purchased_on date NOT NULL,
    service      text NOT NULL CHECK (service IN ('care', 'replacement')),
    due_on       date NOT NULL,
    closed_on    date CHECK (closed_on >= due_on),
    PRIMARY KEY (user_id, shoe_id, purchased_on, service)
);
CREATE INDEX service_periods_due_idx ON reco.service_periods USING gist (daterange(due_on, closed_on));
COMMENT ON TABLE reco.service_periods IS
'Derived, maintained by triggers: for each purchase (user, shoe, UTC day) and service, the days [due_on, closed_on) on which it is due (closed_on NULL = still open). Read by reco.due_services(); rebuilt with reco.rebuild_service_periods().';
COMMENT ON COLUMN reco.service_periods.due_on IS 'care: purchase day + care_delay_days; replacement: purchase day + lifespan_days - replacement_window_days, not before the purchase day.';
COMMENT ON COLUMN reco.service_periods.closed_on IS 'First day it is no longer due: the sent_on of reco.services_sent, or for a replacement the first later day the user bought a shoe of the same type, whichever is first (never before due_on); NULL while neither happened.';

-- One row per user whose periods were ever rebuilt. A rebuild first updates the rows of its users
-- (in user_id order, so that two rebuilds cannot deadlock on them): a second transaction
-- rebuilding the same user waits for the first to end, then reads what it committed (under READ
-- COMMITTED each later statement takes a new snapshot), or, under REPEATABLE READ or
-- SERIALIZABLE, fails with a serialization error (40001) instead of writing periods computed
-- from rows it cannot see. Row locks, unlike advisory locks, take no room in the shared lock
-- table however many users one transaction touches.
CREATE TABLE reco.service_period_users (
    user_id  bigint PRIMARY KEY,
    rebuilds bigint NOT NULL DEFAULT 1
);
COMMENT ON TABLE reco.service_period_users IS
'Internal: one row per user whose reco.service_periods were rebuilt; updating it serialises concurrent rebuilds of the same user.';

-- Recompute the service periods of the given users (NULL: of everyone) from reco.interactions,
-- reco.shoes, reco.service_settings and reco.services_sent. Only rows that change are written.
CREATE FUNCTION reco.rebuild_service_periods(users bigint[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
-- Triggers call it on behalf of whoever wrote the source tables; reco.service_periods is the
-- extension's own, derived table.
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF users IS NULL THEN
        -- Everyone: wait for every rebuild in flight (they hold ROW EXCLUSIVE on the marker
        -- table) and keep new ones out until commit; due_services() is not blocked.
        LOCK TABLE reco.service_period_users IN EXCLUSIVE MODE;
        users := ARRAY(SELECT i.user_id FROM reco.interactions i WHERE i.action = 'purchase'
                       UNION SELECT sp.user_id FROM reco.service_periods sp);
    ELSE
        users := ARRAY(SELECT DISTINCT u FROM unnest(users) u WHERE u IS NOT NULL ORDER BY 1);
        IF cardinality(users) = 0 THEN
            RETURN;
        END IF;
        INSERT INTO reco.service_period_users AS m (user_id)
        SELECT u FROM unnest(users) u ORDER BY u
        ON CONFLICT (user_id) DO UPDATE SET rebuilds = m.rebuilds + 1;
    END IF;

    WITH d AS (
        SELECT coalesce(x.care_delay_days, 30) AS care_delay_days,
               coalesce(x.replacement_window_days, 30) AS replacement_window_days
        FROM (SELECT) one LEFT JOIN reco.service_settings x ON x.shoe_type = 'default'),
    -- One purchase per user, shoe and UTC day, with its shoe's type and resolved settings.
    -- Lifespans are capped at 10,000 years so that date arithmetic cannot overflow.
    p AS MATERIALIZED (
        SELECT b.user_id, b.shoe_id, b.purchased_on, sh.type,
               LEAST(sh.lifespan_days, 3652500) AS lifespan_days,
               coalesce(s.care_delay_days, d.care_delay_days) AS care_delay,
               coalesce(s.replacement_window_days, d.replacement_window_days) AS rep_window
        FROM (SELECT DISTINCT i.user_id, i.shoe_id, (i.occurred_at AT TIME ZONE 'UTC')::date AS purchased_on
              FROM unnest(users) u (user_id)
              JOIN reco.interactions i ON i.user_id = u.user_id AND i.action = 'purchase') b
        JOIN reco.shoes sh ON sh.shoe_id = b.shoe_id
        CROSS JOIN d
        LEFT JOIN reco.service_settings s ON s.shoe_type = sh.type),
    -- A purchase is replaced on the next UTC day on which the same user bought a shoe of the
    -- same type (two shoes bought the same day do not replace each other).
    replaced AS (
        SELECT t.user_id, t.type, t.purchased_on,
               lead(t.purchased_on) OVER (PARTITION BY t.user_id, t.type ORDER BY t.purchased_on) AS replaced_on
        FROM (SELECT DISTINCT p.user_id, p.type, p.purchased_on FROM p) t),
    sent AS (
        SELECT x.user_id, x.shoe_id, x.purchased_on, x.service, x.sent_on
        FROM unnest(users) u (user_id)
        JOIN reco.services_sent x ON x.user_id = u.user_id),
    fresh AS MATERIALIZED (
        SELECT p.user_id, p.shoe_id, p.purchased_on, v.service, v.due_on,
               CASE WHEN v.closes IS NOT NULL THEN GREATEST(v.due_on, v.closes) END AS closed_on
        FROM p
        JOIN replaced r ON r.user_id = p.user_id AND r.type = p.type AND r.purchased_on = p.purchased_on
        LEFT JOIN sent sc ON sc.user_id = p.user_id AND sc.shoe_id = p.shoe_id
                         AND sc.purchased_on = p.purchased_on AND sc.service = 'care'
        LEFT JOIN sent sr ON sr.user_id = p.user_id AND sr.shoe_id = p.shoe_id
                         AND sr.purchased_on = p.purchased_on AND sr.service = 'replacement'
        CROSS JOIN LATERAL (VALUES
            ('care', p.purchased_on + p.care_delay, sc.sent_on),
            ('replacement', p.purchased_on + GREATEST(p.lifespan_days - p.rep_window, 0),
             LEAST(r.replaced_on, sr.sent_on))) v (service, due_on, closes)),
    -- Periods of these users that no longer exist (a purchase deleted or moved to another day).
    gone AS (
        DELETE FROM reco.service_periods sp
        USING unnest(users) u (user_id)
        WHERE sp.user_id = u.user_id
          AND NOT EXISTS (
              SELECT 1 FROM fresh f
              WHERE f.user_id = sp.user_id AND f.shoe_id = sp.shoe_id
                AND f.purchased_on = sp.purchased_on AND f.service = sp.service))
    INSERT INTO reco.service_periods AS sp (user_id, shoe_id, purchased_on, service, due_on, closed_on)
    SELECT f.user_id, f.shoe_id, f.purchased_on, f.service, f.due_on, f.closed_on FROM fresh f
    ON CONFLICT (user_id, shoe_id, purchased_on, service) DO UPDATE
        SET due_on = EXCLUDED.due_on, closed_on = EXCLUDED.closed_on
        WHERE (sp.due_on, sp.closed_on) IS DISTINCT FROM (EXCLUDED.due_on, EXCLUDED.closed_on);
END
$fn$;
REVOKE EXECUTE ON FUNCTION reco.rebuild_service_periods(bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION reco.rebuild_service_periods(bigint[]) IS
'Recompute reco.service_periods for the given users (default NULL: everyone). Triggers do this on every change of purchases, shoe types or lifespans, settings and the sent log; call it by hand only after writes that fire no statement trigger (pg_restore --disable-triggers, ALTER TABLE ... DISABLE TRIGGER, a logical replication subscriber). Not granted to PUBLIC.';

-- Which users' periods a write to reco.interactions or reco.services_sent changes. Returns early
-- when there are none: a view or a wishlist add costs one scan of its own transition rows.
CREATE FUNCTION reco.service_periods_after_write() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    users bigint[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM reco.rebuild_service_periods(NULL);
        RETURN NULL;
    END IF;
    -- Only purchases matter in the interaction log; every row of the sent log does.
    IF TG_TABLE_NAME = 'interactions' THEN
        IF TG_OP = 'INSERT' THEN
            users := ARRAY(SELECT n.user_id FROM new_rows n WHERE n.action = 'purchase');
        ELSIF TG_OP = 'DELETE' THEN
            users := ARRAY(SELECT o.user_id FROM old_rows o WHERE o.action = 'purchase');
        ELSE
            users := ARRAY(SELECT n.user_id FROM new_rows n WHERE n.action = 'purchase'
                           UNION SELECT o.user_id FROM old_rows o WHERE o.action = 'purchase');
        END IF;
    ELSE
        IF TG_OP = 'INSERT' THEN
            users := ARRAY(SELECT n.user_id FROM new_rows n);
        ELSIF TG_OP = 'DELETE' THEN
            users := ARRAY(SELECT o.user_id FROM old_rows o);
        ELSE
            users := ARRAY(SELECT n.user_id FROM new_rows n UNION SELECT o.user_id FROM old_rows o);
        END IF;
    END IF;
    IF cardinality(users) > 0 THEN
        PERFORM reco.rebuild_service_periods(users);
    END IF;
    RETURN NULL;
END
$fn$;

-- A shoe's type decides what replaces it, its lifespan when its replacement is due. Updates that
-- change neither (price, active, text) cost nothing more.
CREATE FUNCTION reco.service_periods_after_shoes_update() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM new_rows n JOIN old_rows o ON o.shoe_id = n.shoe_id
        WHERE n.type IS DISTINCT FROM o.type OR n.lifespan_days IS DISTINCT FROM o.lifespan_days) THEN
        RETURN NULL;
    END IF;
    -- A purchase of one of these shoes committed by another transaction while this one runs
    -- would be rebuilt from the old type or lifespan and missed by the user list below: wait
    -- for rebuilds in flight and hold new ones back until commit, then list the buyers.
    LOCK TABLE reco.service_period_users IN EXCLUSIVE MODE;
    PERFORM reco.rebuild_service_periods(ARRAY(
        SELECT i.user_id
        FROM new_rows n
        JOIN old_rows o ON o.shoe_id = n.shoe_id
        JOIN reco.interactions i ON i.shoe_id = n.shoe_id AND i.action = 'purchase'
        WHERE n.type IS DISTINCT FROM o.type OR n.lifespan_days IS DISTINCT FROM o.lifespan_days));
    RETURN NULL;
END
$fn$;

-- Settings: the buyers of shoes of the types whose delay or window changed; everyone when the
-- 'default' row did. A change of `suggestions` alone rebuilds nothing (it is read at query time).
CREATE FUNCTION reco.service_periods_after_settings() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    types text[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM reco.rebuild_service_periods(NULL);
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        types := ARRAY(SELECT n.shoe_type FROM new_rows n
                       WHERE n.care_delay_days IS NOT NULL OR n.replacement_window_days IS NOT NULL);
    ELSIF TG_OP = 'DELETE' THEN
        types := ARRAY(SELECT o.shoe_type FROM old_rows o
                       WHERE o.care_delay_days IS NOT NULL OR o.replacement_window_days IS NOT NULL);
    ELSE
        types := ARRAY(
            SELECT coalesce(n.shoe_type, o.shoe_type)
            FROM new_rows n FULL JOIN old_rows o ON o.shoe_type = n.shoe_type
            WHERE (n.care_delay_days, n.replacement_window_days)
                  IS DISTINCT FROM (o.care_delay_days, o.replacement_window_days));
    END IF;
    IF cardinality(types) = 0 THEN
        RETURN NULL;
    ELSIF 'default' = ANY (types) THEN
        PERFORM reco.rebuild_service_periods(NULL);
    ELSE
        LOCK TABLE reco.service_period_users IN EXCLUSIVE MODE;  -- as for shoes, above
        PERFORM reco.rebuild_service_periods(ARRAY(
            SELECT i.user_id
            FROM reco.shoes sh
            JOIN reco.interactions i ON i.shoe_id = sh.shoe_id AND i.action = 'purchase'
            WHERE sh.type = ANY (types)));
    END IF;
    RETURN NULL;
END
$fn$;
-- Trigger functions run as their owner: nobody else may attach them to a table of their own.
REVOKE EXECUTE ON FUNCTION reco.service_periods_after_write() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION reco.service_periods_after_shoes_update() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION reco.service_periods_after_settings() FROM PUBLIC;

-- Statement-level, with transition tables: one rebuild per statement, not per row. ENABLE ALWAYS,
-- so that loads under session_replication_role = replica keep the periods right too. (A logical
-- replication subscriber fires no statement triggers for replicated rows: run
-- reco.rebuild_service_periods() there, and do not publish reco.service_periods.)
CREATE TRIGGER interactions_service_periods_insert AFTER INSERT ON reco.interactions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_write();
CREATE TRIGGER interactions_service_periods_update AFTER UPDATE ON reco.interactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_write();
CREATE TRIGGER interactions_service_periods_delete AFTER DELETE ON reco.interactions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_write();
CREATE TRIGGER interactions_service_periods_truncate AFTER TRUNCATE ON reco.interactions
    FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_write();
CREATE TRIGGER services_sent_service_periods_insert AFTER INSERT ON reco.services_sent
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_write();
CREATE TRIGGER services_sent_service_periods_update AFTER UPDATE ON reco.services_sent
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_write();
CREATE TRIGGER services_sent_service_periods_delete AFTER DELETE ON reco.services_sent
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_write();
CREATE TRIGGER services_sent_service_periods_truncate AFTER TRUNCATE ON reco.services_sent
    FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_write();
CREATE TRIGGER shoes_service_periods_update AFTER UPDATE ON reco.shoes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_shoes_update();
CREATE TRIGGER service_settings_service_periods_insert AFTER INSERT ON reco.service_settings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_settings();
CREATE TRIGGER service_settings_service_periods_update AFTER UPDATE ON reco.service_settings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_settings();
CREATE TRIGGER service_settings_service_periods_delete AFTER DELETE ON reco.service_settings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_settings();
CREATE TRIGGER service_settings_service_periods_truncate AFTER TRUNCATE ON reco.service_settings
    FOR EACH STATEMENT EXECUTE FUNCTION reco.service_periods_after_settings();
ALTER TABLE reco.interactions ENABLE ALWAYS TRIGGER interactions_service_periods_insert;
ALTER TABLE reco.interactions ENABLE ALWAYS TRIGGER interactions_service_periods_update;
ALTER TABLE reco.interactions ENABLE ALWAYS TRIGGER interactions_service_periods_delete;
ALTER TABLE reco.interactions ENABLE ALWAYS TRIGGER interactions_service_periods_truncate;
ALTER TABLE reco.services_sent ENABLE ALWAYS TRIGGER services_sent_service_periods_insert;
ALTER TABLE reco.services_sent ENABLE ALWAYS TRIGGER services_sent_service_periods_update;
ALTER TABLE reco.services_sent ENABLE ALWAYS TRIGGER services_sent_service_periods_delete;
ALTER TABLE reco.services_sent ENABLE ALWAYS TRIGGER services_sent_service_periods_truncate;
ALTER TABLE reco.shoes ENABLE ALWAYS TRIGGER shoes_service_periods_update;
ALTER TABLE reco.service_settings ENABLE ALWAYS TRIGGER service_settings_service_periods_insert;
ALTER TABLE reco.service_settings ENABLE ALWAYS TRIGGER service_settings_service_periods_update;
ALTER TABLE reco.service_settings ENABLE ALWAYS TRIGGER service_settings_service_periods_delete;
ALTER TABLE reco.service_settings ENABLE ALWAYS TRIGGER service_settings_service_periods_truncate;

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
-- The plan's cost estimate can be high enough to trigger JIT, which costs more than a second of
-- compilation per call and saves nothing here.
SET jit = off
AS $fn$
DECLARE
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

    RETURN QUERY
    WITH d AS (
        SELECT coalesce(x.suggestions, 3) AS suggestions
        FROM (SELECT) one LEFT JOIN reco.service_settings x ON x.shoe_type = 'default'),
    -- Every service whose period holds as_of (service_periods_due_idx).
    due AS MATERIALIZED (
        SELECT sp.user_id, sp.shoe_id, sp.purchased_on, sp.service, sp.due_on,
               sh.name, sh.care_instructions,
               sp.purchased_on + LEAST(sh.lifespan_days, 3652500) AS end_of_life,
               coalesce(s.suggestions, d.suggestions) AS n
        FROM reco.service_periods sp
        JOIN reco.shoes sh ON sh.shoe_id = sp.shoe_id
        CROSS JOIN d
        LEFT JOIN reco.service_settings s ON s.shoe_type = sh.type
        WHERE daterange(sp.due_on, sp.closed_on) @> as_of),
    rep_due AS (
        SELECT r.* FROM due r WHERE r.service = 'replacement'),
    -- Shoes each of those users bought by as_of (never suggested back to them).
    owned AS (
        SELECT u.user_id, array_agg(DISTINCT j.shoe_id) AS shoes
        FROM (SELECT DISTINCT rd.user_id FROM rep_due rd WHERE rd.n > 0) u
        JOIN reco.interactions j ON j.user_id = u.user_id AND j.action = 'purchase' AND j.occurred_at < day_end
        GROUP BY u.user_id),
    -- similar()'s list for each distinct shoe, deep enough that after removing the shoes of the
    -- user who owns the most, n remain (similar() already leaves out the shoe and inactive ones);
    -- all lists in one call of reco.similar_lists, which computes them on all cores.
    pool AS (
        SELECT l.shoe_id, l.similar_ids AS cands
        FROM (SELECT array_agg(p.shoe_id) AS ids, array_agg(p.depth) AS ks
              FROM (SELECT rd.shoe_id, LEAST(max(rd.n + cardinality(o.shoes)), 10000)::integer AS depth
                    FROM rep_due rd JOIN owned o ON o.user_id = rd.user_id
                    WHERE rd.n > 0
                    GROUP BY rd.shoe_id) p) a
        CROSS JOIN LATERAL reco.similar_lists(a.ids, a.ks) l)
    SELECT cd.user_id, cd.shoe_id, cd.purchased_on, 'care'::text, cd.due_on,
           format('Time to care for your %s (bought on %s): %s', cd.name, cd.purchased_on,
                  coalesce(nullif(btrim(cd.care_instructions), ''), 'see the product page for care instructions.')),
           NULL::bigint[]
    FROM due cd
    WHERE cd.service = 'care'
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
'Services due on as_of (default today; NULL is an error, 22004), one row per purchase (user, shoe, UTC day) and service, ordered by due_on, user_id, shoe_id. care: due from purchase date + care_delay_days until sent; message carries the shoe''s care_instructions, suggestions NULL. replacement: due from purchase date + lifespan_days - replacement_window_days until the user buys a shoe of the same type on a later day or it is sent; suggestions = top similar() active shoes the user does not own. Sent = logged in reco.services_sent with sent_on <= as_of. Settings: reco.service_settings. Depends only on as_of and the tables (no now()).';

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
