//! Helpers shared by the SQL-level test modules (src/sql_tests/*.rs).

use pgrx::prelude::*;

/// Absolute path of the small synthetic shop shipped in data/.
pub fn data_dir() -> String {
    // scripts/test.sh copies data/ where the postgres OS user can read it wherever the checkout is.
    option_env!("RECO_TEST_DATA_DIR")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}/data", env!("CARGO_MANIFEST_DIR")))
}

/// pg_temp.try_sql(q): runs q and returns 'ok' or 'SQLSTATE: message'.
pub const TRY_SQL: &str =
    "CREATE OR REPLACE FUNCTION pg_temp.try_sql(q text) RETURNS text LANGUAGE plpgsql AS $$
         BEGIN EXECUTE q; RETURN 'ok';
         EXCEPTION WHEN query_canceled OR others THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$";

/// Create pg_temp.try_sql(q) in this session.
pub fn install_try_sql() {
    Spi::run(TRY_SQL).unwrap();
}

/// pg_temp.try_sql(q) in the session of the open dblink connection `name` (TRY_SQL installed
/// there).
pub fn remote_try_sql(name: &str, q: &str) -> String {
    Spi::get_one_with_args::<String>(
        "SELECT v FROM dblink($1, format('SELECT pg_temp.try_sql(%L)', $2::text)) AS t(v text)",
        &[name.into(), q.into()],
    )
    .unwrap()
    .unwrap()
}

/// Serialises the tests that create or drop the pg_cron extension in the test database (one of
/// them commits it, through dblink, for pg_cron's scheduler to see).
pub const PG_CRON_LOCK: &str = "SELECT pg_advisory_xact_lock(727272)";

pub fn try_sql(q: &str) -> String {
    Spi::get_one_with_args::<String>("SELECT pg_temp.try_sql($1)", &[q.into()])
        .unwrap()
        .unwrap()
}

pub fn one_i64(q: &str) -> i64 {
    Spi::get_one::<i64>(q).unwrap().unwrap()
}

pub fn one_f64(q: &str) -> f64 {
    Spi::get_one::<f64>(q).unwrap().unwrap()
}

pub fn one_text(q: &str) -> Option<String> {
    Spi::get_one::<String>(q).unwrap()
}

pub fn load_shop() {
    Spi::run(&format!("SELECT * FROM reco.load_csv('{}')", data_dir())).unwrap();
}

/// A tiny hand-built shop: two running shoes, two hiking boots, one formal shoe, one inactive.
pub const TINY_SHOP: &str = "INSERT INTO reco.users (user_id, age, gender, primary_usage) VALUES
            (1, 30, 'female', 'running'), (2, 31, 'female', 'running'), (3, 45, 'male', 'hiking'),
            (4, 46, 'male', 'hiking'), (5, 28, 'other', 'running'), (6, NULL, NULL, NULL);
         INSERT INTO reco.shoes (shoe_id, name, brand, type, material, color, price, description, care_instructions, lifespan_days, active) VALUES
            (10, 'Swift Road 1', 'Stride', 'running', 'mesh', 'blue', 120, 'light road running shoe with cushioning', 'rinse', 400, true),
            (11, 'Swift Road 2', 'Stride', 'running', 'mesh', 'red', 130, 'cushioned running shoe for long runs', 'rinse', 400, true),
            (12, 'Peak Hiker', 'Summit', 'hiking', 'leather', 'brown', 180, 'waterproof leather hiking boot with ankle support', 'wax', 800, true),
            (13, 'Peak Trail GTX', 'Summit', 'hiking', 'gore-tex', 'green', 200, 'waterproof hiking boot with grip', 'brush', 800, true),
            (14, 'Office Oxford', 'Dapper', 'formal', 'leather', 'black', 150, 'classic leather oxford', 'polish', 900, true),
            (15, 'Old Runner', 'Stride', 'running', 'mesh', 'grey', 90, 'discontinued running shoe with cushioning', 'rinse', 300, false);
         INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at) VALUES
            (1, 10, 'view', '2026-01-01'), (1, 10, 'purchase', '2026-01-02'), (1, 11, 'view', '2026-01-03'),
            (2, 10, 'view', '2026-01-01'), (2, 11, 'add_to_wishlist', '2026-01-02'), (2, 15, 'view', '2026-01-02'),
            (3, 12, 'purchase', '2026-02-01'), (3, 13, 'view', '2026-02-02'),
            (4, 13, 'add_to_wishlist', '2026-02-01'), (4, 12, 'view', '2026-02-03'),
            (5, 11, 'view', '2026-03-01');";

/// Loads TINY_SHOP in this transaction.
pub fn tiny_shop() {
    Spi::run(TINY_SHOP).unwrap();
}

pub fn recommended_ids(q: &str) -> Vec<i64> {
    Spi::connect(|c| {
        c.select(q, None, &[])
            .unwrap()
            .map(|r| r.get::<i64>(1).unwrap().unwrap())
            .collect()
    })
}

// These need other sessions that commit, so they work in a database of their own (through
// dblink, over loopback) that they create and drop: committed rows never leak into other tests.

/// Create database `db` with reco installed and return a libpq connection string for it.
pub fn scratch_database(db: &str) -> String {
    scratch_database_with(db, "CREATE EXTENSION reco")
}

/// Create database `db`, run `setup` in it (e.g. CREATE EXTENSION reco VERSION '0.1.0') and
/// return a libpq connection string for it.
pub fn scratch_database_with(db: &str, setup: &str) -> String {
    Spi::run("CREATE EXTENSION IF NOT EXISTS dblink").unwrap();
    let port = one_text("SELECT current_setting('port')").unwrap();
    let user = one_text("SELECT current_user::text").unwrap();
    let admin = format!("host=127.0.0.1 port={port} user={user} dbname=postgres");
    let conn = format!("host=127.0.0.1 port={port} user={user} dbname={db}");
    Spi::run_with_args(
        "SELECT dblink_exec($1, format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $2::text))",
        &[admin.as_str().into(), db.into()],
    )
    .unwrap();
    Spi::run_with_args(
        "SELECT dblink_exec($1, format('CREATE DATABASE %I', $2::text))",
        &[admin.as_str().into(), db.into()],
    )
    .unwrap();
    Spi::run_with_args(
        "SELECT dblink_exec($1, $2)",
        &[conn.as_str().into(), setup.into()],
    )
    .unwrap();
    conn
}

pub fn drop_scratch_database(db: &str) {
    Spi::run("SELECT dblink_disconnect(c) FROM unnest(dblink_get_connections()) c").unwrap();
    let port = one_text("SELECT current_setting('port')").unwrap();
    let user = one_text("SELECT current_user::text").unwrap();
    let admin = format!("host=127.0.0.1 port={port} user={user} dbname=postgres");
    Spi::run_with_args(
        "SELECT dblink_exec($1, format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $2::text))",
        &[admin.as_str().into(), db.into()],
    )
    .unwrap();
}

pub fn remote_i64(conn_name: &str, sql: &str) -> i64 {
    Spi::get_one_with_args::<i64>(
        "SELECT v FROM dblink($1, $2) AS t(v bigint)",
        &[conn_name.into(), sql.into()],
    )
    .unwrap()
    .unwrap()
}

pub const SYNTHETIC_SHOP: &str = "
    INSERT INTO reco.users (user_id, age, gender, primary_usage)
        SELECT g, 20 + g % 50, 'female', 'running' FROM generate_series(1, 3000) g;
    INSERT INTO reco.shoes (shoe_id, name, brand, type, lifespan_days, description)
        SELECT g, 'Shoe ' || g, 'Brand ' || (g % 10), 'running', 300, 'shoe number ' || g
        FROM generate_series(1, 500) g;
    INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at)
        SELECT 1 + (g * 7919::bigint) % 3000, 1 + (g * 104729::bigint + g / 3) % 500, 'view',
               '2026-01-01'::timestamptz + g * interval '1 minute'
        FROM generate_series(1, 300000) g;";

/// Run `sql` in a new session of the database `conn` points to (dblink; errors propagate with
/// the remote SQLSTATE).
pub fn remote_exec(conn: &str, sql: &str) {
    Spi::run_with_args("SELECT dblink_exec($1, $2)", &[conn.into(), sql.into()]).unwrap();
}

/// Run the query `query` in a new session of `conn`'s database and discard its rows
/// (dblink_exec refuses statements that return rows).
pub fn remote_perform(conn: &str, query: &str) {
    remote_exec(
        conn,
        &format!("DO $remote$ BEGIN PERFORM * FROM ({query}) AS q; END $remote$"),
    );
}

/// The single text value `sql` returns in a new session of `conn`'s database.
pub fn remote_text(conn: &str, sql: &str) -> String {
    Spi::get_one_with_args::<String>(
        "SELECT v FROM dblink($1, $2) AS t(v text)",
        &[conn.into(), sql.into()],
    )
    .unwrap()
    .unwrap_or_default()
}

/// The directory of the PostgreSQL programs (pg_dump, pg_restore) of the server under test.
pub fn postgres_bindir() -> String {
    one_text("SELECT setting FROM pg_catalog.pg_config WHERE name = 'BINDIR'").unwrap()
}

/// libpq options (host, port, user) reaching the server under test over loopback, as a
/// pg_dump / pg_restore argument list.
pub fn client_args() -> Vec<String> {
    let port = one_text("SELECT current_setting('port')").unwrap();
    let user = one_text("SELECT current_user::text").unwrap();
    vec![
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port,
        "-U".into(),
        user,
    ]
}

/// Everything a shop keeps in reco and what the serving functions answer, as one text: row
/// counts and digests of every table a shop writes or reco stores results in, the model
/// versions, and the rows of recommend() (a user with history, a user without, an anonymous
/// visitor), similar() and due_services(). Two databases with the same text hold the same data
/// and answer the same. Needs load_shop()'s data (user 7, shoe 42).
pub const SHOP_SNAPSHOT: &str = r#"
SELECT concat_ws(E'\n',
  (SELECT 'users ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY t.user_id), '')) FROM reco.users t),
  (SELECT 'shoes ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY t.shoe_id), '')) FROM reco.shoes t),
  (SELECT 'interactions ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY t.interaction_id), '')) FROM reco.interactions t),
  (SELECT 'action_weights ' || string_agg(t.action || '=' || t.weight, ',' ORDER BY t.action) FROM reco.action_weights t),
  (SELECT 'service_settings ' || coalesce(string_agg(t::text, ',' ORDER BY t.shoe_type), '') FROM reco.service_settings t),
  (SELECT 'services_sent ' || coalesce(string_agg(t::text, ',' ORDER BY t.user_id, t.shoe_id, t.purchased_on, t.service), '') FROM reco.services_sent t),
  (SELECT 'models ' || coalesce(string_agg(t.model_id || ':' || t.status || ':' || t.factors || ':' || t.singular_values::text, ',' ORDER BY t.model_id), '') FROM reco.models t),
  (SELECT 'model_shoes ' || count(*) || ' ' || md5(coalesce(string_agg((t.model_id, t.shoe_id, t.factors, t.popularity, t.tfidf_terms, t.tfidf_weights)::text, ',' ORDER BY t.model_id, t.shoe_id), '')) FROM reco.model_shoes t),
  (SELECT 'model_users ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY t.model_id, t.user_id), '')) FROM reco.model_users t),
  (SELECT 'model_segments ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY t.model_id, t.segment), '')) FROM reco.model_segments t),
  (SELECT 'evaluations ' || coalesce(string_agg(t.run_id || ':' || t.method || ':' || t.ndcg_at_k, ',' ORDER BY t.evaluation_id), '') FROM reco.evaluations t),
  (SELECT 'recommend ' || string_agg(r.shoe_id || ':' || round(r.score::numeric, 6) || ':' || r.reason, ',') FROM reco.recommend(7, 10) r),
  (SELECT 'cold start ' || coalesce(string_agg(r.shoe_id || ':' || round(r.score::numeric, 6) || ':' || r.reason, ','), '')
     FROM reco.recommend((SELECT min(u.user_id) FROM reco.users u
                          WHERE u.primary_usage IS NOT NULL
                            AND NOT EXISTS (SELECT 1 FROM reco.interactions i WHERE i.user_id = u.user_id)), 10) r),
  (SELECT 'anonymous ' || string_agg(r.shoe_id || ':' || round(r.score::numeric, 6), ',') FROM reco.recommend(NULL, 10) r),
  (SELECT 'similar ' || string_agg(s.shoe_id || ':' || round(s.score::numeric, 6), ',') FROM reco.similar(42, 10) s),
  (SELECT 'due ' || count(*) || ' ' || md5(coalesce(string_agg(d::text, ','), '')) FROM reco.due_services('2026-11-23') d))
"#;

/// A shop with everything a dump or an update must keep: the demo data, a changed built-in
/// weight and a new action, service settings, a service marked sent, a model and an evaluation.
pub const SHOP_WITH_SETTINGS: &str = "
    DO $shop$ BEGIN
    UPDATE reco.action_weights SET weight = 2 WHERE action = 'view';
    INSERT INTO reco.action_weights (action, weight) VALUES ('review', 4);
    INSERT INTO reco.service_settings (shoe_type, care_delay_days, suggestions) VALUES ('running', 12, 2);
    PERFORM reco.mark_service_sent(i.user_id, i.shoe_id, (i.occurred_at AT TIME ZONE 'UTC')::date, 'care',
                                   (i.occurred_at AT TIME ZONE 'UTC')::date + 40)
    FROM (SELECT * FROM reco.interactions WHERE action = 'purchase' ORDER BY interaction_id LIMIT 3) i;
    PERFORM * FROM reco.refresh();
    PERFORM * FROM reco.evaluate();
    END $shop$";
