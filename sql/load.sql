-- reco.load_csv(dir): load users.csv, shoes.csv and interactions.csv from a directory on the
-- database server, all or nothing. The files are read by the server process (COPY FROM file), so
-- the caller needs superuser or the pg_read_server_files role, and the files must be readable by
-- the postgres OS user. Column order is that of data/*.csv (a header line is required).
--
-- Errors name the file and line: the set-based load runs first, and only if it fails is the file
-- replayed row by row (each in a subtransaction) to find the first bad line. The whole call is one
-- statement, so on any error nothing at all is loaded.

CREATE FUNCTION reco.load_csv(dir text)
RETURNS TABLE (users_loaded bigint, shoes_loaded bigint, interactions_loaded bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    r record;
    msg text;
    detail text;
    state text;
BEGIN
    IF dir IS NULL THEN
        RAISE EXCEPTION 'reco.load_csv: dir must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    dir := rtrim(dir, '/');

    -- A second call in the same transaction finds the staging tables of the first.
    IF to_regclass('pg_temp.reco_load_users') IS NOT NULL THEN
        DROP TABLE pg_temp.reco_load_users, pg_temp.reco_load_shoes, pg_temp.reco_load_interactions;
    END IF;
    -- line = the file's line number (the header is line 1), for records without embedded newlines.
    CREATE TEMP TABLE reco_load_users (
        line bigint GENERATED ALWAYS AS IDENTITY (START WITH 2),
        user_id text, age text, gender text, primary_usage text, created_at text) ON COMMIT DROP;
    CREATE TEMP TABLE reco_load_shoes (
        line bigint GENERATED ALWAYS AS IDENTITY (START WITH 2),
        shoe_id text, name text, brand text, type text, material text, color text, price text,
        description text, care_instructions text, lifespan_days text, active text, created_at text) ON COMMIT DROP;
    CREATE TEMP TABLE reco_load_interactions (
        line bigint GENERATED ALWAYS AS IDENTITY (START WITH 2),
        interaction_id text, user_id text, shoe_id text, action text, occurred_at text) ON COMMIT DROP;

    EXECUTE format('COPY pg_temp.reco_load_users (user_id, age, gender, primary_usage, created_at) FROM %L (FORMAT csv, HEADER true)',
                   dir || '/users.csv');
    EXECUTE format('COPY pg_temp.reco_load_shoes (shoe_id, name, brand, type, material, color, price, description, care_instructions, lifespan_days, active, created_at) FROM %L (FORMAT csv, HEADER true)',
                   dir || '/shoes.csv');
    EXECUTE format('COPY pg_temp.reco_load_interactions (interaction_id, user_id, shoe_id, action, occurred_at) FROM %L (FORMAT csv, HEADER true)',
                   dir || '/interactions.csv');

    -- users.csv
    BEGIN
        INSERT INTO reco.users (user_id, age, gender, primary_usage, created_at)
        SELECT user_id::bigint, age::integer, gender, primary_usage, coalesce(created_at::timestamptz, now())
        FROM pg_temp.reco_load_users ORDER BY line;
    EXCEPTION WHEN others THEN
        FOR r IN SELECT * FROM pg_temp.reco_load_users ORDER BY line LOOP
            BEGIN
                INSERT INTO reco.users (user_id, age, gender, primary_usage, created_at)
                VALUES (r.user_id::bigint, r.age::integer, r.gender, r.primary_usage, coalesce(r.created_at::timestamptz, now()));
            EXCEPTION WHEN others THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, state = RETURNED_SQLSTATE;
                RAISE EXCEPTION '%/users.csv line %: %', dir, r.line, msg
                    USING ERRCODE = state, DETAIL = coalesce(detail, ''),
                          HINT = 'Fix that line and call reco.load_csv again; nothing was loaded.';
            END;
        END LOOP;
        RAISE;
    END;

    -- shoes.csv
    BEGIN
        INSERT INTO reco.shoes (shoe_id, name, brand, type, material, color, price, description,
                                care_instructions, lifespan_days, active, created_at)
        SELECT shoe_id::bigint, name, brand, type, material, color, price::numeric, description,
               care_instructions, lifespan_days::integer, coalesce(active::boolean, true),
               coalesce(created_at::timestamptz, now())
        FROM pg_temp.reco_load_shoes ORDER BY line;
    EXCEPTION WHEN others THEN
        FOR r IN SELECT * FROM pg_temp.reco_load_shoes ORDER BY line LOOP
            BEGIN
                INSERT INTO reco.shoes (shoe_id, name, brand, type, material, color, price, description,
                                        care_instructions, lifespan_days, active, created_at)
                VALUES (r.shoe_id::bigint, r.name, r.brand, r.type, r.material, r.color, r.price::numeric,
                        r.description, r.care_instructions, r.lifespan_days::integer,
                        coalesce(r.active::boolean, true), coalesce(r.created_at::timestamptz, now()));
            EXCEPTION WHEN others THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, state = RETURNED_SQLSTATE;
                RAISE EXCEPTION '%/shoes.csv line %: %', dir, r.line, msg
                    USING ERRCODE = state, DETAIL = coalesce(detail, ''),
                          HINT = 'Fix that line and call reco.load_csv again; nothing was loaded.';
            END;
        END LOOP;
        RAISE;
    END;

    -- interactions.csv (an empty interaction_id takes the next identity value)
    BEGIN
        INSERT INTO reco.interactions (interaction_id, user_id, shoe_id, action, occurred_at)
        SELECT coalesce(interaction_id::bigint, nextval(pg_get_serial_sequence('reco.interactions', 'interaction_id'))),
               user_id::bigint, shoe_id::bigint, action, occurred_at::timestamptz
        FROM pg_temp.reco_load_interactions ORDER BY line;
    EXCEPTION WHEN others THEN
        FOR r IN SELECT * FROM pg_temp.reco_load_interactions ORDER BY line LOOP
            BEGIN
                INSERT INTO reco.interactions (interaction_id, user_id, shoe_id, action, occurred_at)
                VALUES (coalesce(r.interaction_id::bigint, nextval(pg_get_serial_sequence('reco.interactions', 'interaction_id'))),
                        r.user_id::bigint, r.shoe_id::bigint, r.action, r.occurred_at::timestamptz);
            EXCEPTION WHEN others THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, state = RETURNED_SQLSTATE;
                RAISE EXCEPTION '%/interactions.csv line %: %', dir, r.line, msg
                    USING ERRCODE = state, DETAIL = coalesce(detail, ''),
                          HINT = 'Fix that line and call reco.load_csv again; nothing was loaded.';
            END;
        END LOOP;
        RAISE;
    END;
    -- Explicit ids bypass the identity sequence: move it past them so later INSERTs don't collide.
    PERFORM setval(pg_get_serial_sequence('reco.interactions', 'interaction_id'),
                   greatest((SELECT max(interaction_id) FROM reco.interactions), 1));

    RETURN QUERY SELECT (SELECT count(*) FROM pg_temp.reco_load_users),
                        (SELECT count(*) FROM pg_temp.reco_load_shoes),
                        (SELECT count(*) FROM pg_temp.reco_load_interactions);
END
$fn$;
COMMENT ON FUNCTION reco.load_csv(text) IS 'Load users.csv, shoes.csv and interactions.csv from a server directory in one transaction; errors name the file and line.';
