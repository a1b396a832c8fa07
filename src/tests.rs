// SQL-level tests, run inside a throwaway cluster by `cargo pgrx test` (included into the
// `tests` module of lib.rs, which #[pg_schema] needs inline). Each #[pg_test] runs in its own
// transaction, rolled back afterwards.

use pgrx::prelude::*;

/// Absolute path of the small synthetic shop shipped in data/.
fn data_dir() -> String {
    // scripts/test.sh copies data/ where the postgres OS user can read it wherever the checkout is.
    option_env!("RECO_TEST_DATA_DIR")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}/data", env!("CARGO_MANIFEST_DIR")))
}

/// Create pg_temp.try_sql(q): runs q and returns 'ok' or 'SQLSTATE: message'.
fn install_try_sql() {
    Spi::run(
        "CREATE OR REPLACE FUNCTION pg_temp.try_sql(q text) RETURNS text LANGUAGE plpgsql AS $$
         BEGIN EXECUTE q; RETURN 'ok';
         EXCEPTION WHEN query_canceled OR others THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$",
    )
    .unwrap();
}

fn try_sql(q: &str) -> String {
    Spi::get_one_with_args::<String>("SELECT pg_temp.try_sql($1)", &[q.into()])
        .unwrap()
        .unwrap()
}

fn one_i64(q: &str) -> i64 {
    Spi::get_one::<i64>(q).unwrap().unwrap()
}

fn one_f64(q: &str) -> f64 {
    Spi::get_one::<f64>(q).unwrap().unwrap()
}

fn one_text(q: &str) -> Option<String> {
    Spi::get_one::<String>(q).unwrap()
}

fn load_shop() {
    Spi::run(&format!("SELECT * FROM reco.load_csv('{}')", data_dir())).unwrap();
}

/// A tiny hand-built shop: two running shoes, two hiking boots, one formal shoe, one inactive.
fn tiny_shop() {
    Spi::run(
        "INSERT INTO reco.users (user_id, age, gender, primary_usage) VALUES
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
            (5, 11, 'view', '2026-03-01');",
    )
    .unwrap();
}

fn recommended_ids(q: &str) -> Vec<i64> {
    Spi::connect(|c| {
        c.select(q, None, &[])
            .unwrap()
            .map(|r| r.get::<i64>(1).unwrap().unwrap())
            .collect()
    })
}

// ---------------------------------------------------------------- schema and loading

#[pg_test]
fn schema_rejects_bad_rows() {
    install_try_sql();
    tiny_shop();
    assert!(try_sql("INSERT INTO reco.users (user_id, age) VALUES (100, 5)").starts_with("23514"));
    assert!(
        try_sql("INSERT INTO reco.users (user_id, gender) VALUES (100, 'robot')")
            .starts_with("23514")
    );
    assert!(try_sql(
        "INSERT INTO reco.shoes (shoe_id, name, brand, type, lifespan_days) VALUES (100, 'x', 'b', 'casual', 0)"
    )
    .starts_with("23514"));
    assert!(try_sql(
        "INSERT INTO reco.shoes (shoe_id, name, brand, type, price, lifespan_days) VALUES (100, 'x', 'b', 'casual', -1, 10)"
    )
    .starts_with("23514"));
    assert!(try_sql(
        "INSERT INTO reco.interactions (user_id, shoe_id, action) VALUES (1, 10, 'like')"
    )
    .starts_with("23503"));
    assert!(try_sql(
        "INSERT INTO reco.interactions (user_id, shoe_id, action) VALUES (999, 10, 'view')"
    )
    .starts_with("23503"));
    assert!(try_sql(
        "INSERT INTO reco.interactions (user_id, shoe_id, action) VALUES (1, 999, 'view')"
    )
    .starts_with("23503"));
    assert!(try_sql("INSERT INTO reco.action_weights VALUES ('share', -1)").starts_with("23514"));
    assert_eq!(
        try_sql("INSERT INTO reco.interactions (user_id, shoe_id, action) VALUES (1, 10, 'view')"),
        "ok"
    );
}

#[pg_test]
fn schema_has_indexes_and_comments() {
    for idx in [
        "interactions_user_time_idx",
        "interactions_shoe_idx",
        "interactions_purchase_date_idx",
    ] {
        assert_eq!(
            one_i64(&format!(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = 'reco' AND indexname = '{idx}'"
            )),
            1,
            "{idx}"
        );
    }
    // Every column of the three data tables is commented.
    assert_eq!(
        one_i64(
            "SELECT count(*) FROM information_schema.columns c
             WHERE c.table_schema = 'reco' AND c.table_name IN ('users', 'shoes', 'interactions', 'action_weights')
               AND col_description(('reco.' || c.table_name)::regclass, c.ordinal_position) IS NULL"
        ),
        0
    );
    assert_eq!(
        one_f64("SELECT weight FROM reco.action_weights WHERE action = 'purchase'"),
        5.0
    );
}

#[pg_test]
fn load_csv_loads_the_demo_shop() {
    load_shop();
    assert_eq!(one_i64("SELECT count(*) FROM reco.users"), 1000);
    assert_eq!(one_i64("SELECT count(*) FROM reco.shoes"), 300);
    assert!(one_i64("SELECT count(*) FROM reco.interactions") > 20_000);
    // The identity sequence was moved past the loaded ids.
    Spi::run("INSERT INTO reco.interactions (user_id, shoe_id, action) VALUES (1, 1, 'view')")
        .unwrap();
}

/// Copy data/ to a temp dir with one line changed, and expect load_csv to name file and line.
fn load_with_bad_line(file: &str, line: usize, replacement: &str) -> String {
    let dir = std::env::temp_dir().join(format!(
        "reco_bad_{}_{}",
        file.replace('.', "_"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["users.csv", "shoes.csv", "interactions.csv"] {
        let text = std::fs::read_to_string(format!("{}/{f}", data_dir())).unwrap();
        let text = if f == file {
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines[line - 1] = replacement.to_string();
            lines.join("\n") + "\n"
        } else {
            text
        };
        std::fs::write(dir.join(f), text).unwrap();
    }
    install_try_sql();
    try_sql(&format!("SELECT * FROM reco.load_csv('{}')", dir.display()))
}

#[pg_test]
fn load_csv_names_file_and_line_and_loads_nothing() {
    let r = load_with_bad_line(
        "interactions.csv",
        5,
        "999999,999999,1,view,2025-01-01 00:00:00+00",
    );
    assert!(
        r.starts_with("23503") && r.contains("interactions.csv line 5"),
        "{r}"
    );
    let r = load_with_bad_line(
        "interactions.csv",
        7,
        "999998,1,999999,view,2025-01-01 00:00:00+00",
    );
    assert!(
        r.starts_with("23503") && r.contains("interactions.csv line 7"),
        "{r}"
    );
    let r = load_with_bad_line(
        "interactions.csv",
        3,
        "999997,1,1,like,2025-01-01 00:00:00+00",
    );
    assert!(
        r.starts_with("23503") && r.contains("interactions.csv line 3"),
        "{r}"
    );
    let r = load_with_bad_line(
        "interactions.csv",
        4,
        "999996,1,1,view,2025-13-45 99:00:00+00",
    );
    assert!(r.contains("interactions.csv line 4"), "{r}");
    let r = load_with_bad_line(
        "shoes.csv",
        6,
        "999,Bad Shoe,Brand,casual,leather,black,10.00,desc,care,0,t,2025-01-01 00:00:00+00",
    );
    assert!(
        r.starts_with("23514") && r.contains("shoes.csv line 6"),
        "{r}"
    );
    // Nothing half-loaded.
    assert_eq!(one_i64("SELECT count(*) FROM reco.users"), 0);
    assert_eq!(one_i64("SELECT count(*) FROM reco.shoes"), 0);
    assert_eq!(one_i64("SELECT count(*) FROM reco.interactions"), 0);
    install_try_sql();
    assert!(try_sql("SELECT * FROM reco.load_csv(NULL)").starts_with("22004"));
    assert!(try_sql("SELECT * FROM reco.load_csv('/nonexistent')").starts_with("58P01"));
}

// ---------------------------------------------------------------- refresh

#[pg_test]
fn refresh_builds_an_active_model() {
    tiny_shop();
    let factors = one_i64("SELECT factors::bigint FROM reco.refresh()");
    assert!(factors >= 1 && factors <= 5, "{factors}");
    assert_eq!(
        one_i64("SELECT count(*) FROM reco.models WHERE status = 'active'"),
        1
    );
    assert_eq!(one_i64("SELECT count(*) FROM reco.model_shoes"), 6);
    assert_eq!(one_i64("SELECT count(*) FROM reco.model_users"), 5);
    assert!(one_i64("SELECT count(*) FROM reco.model_vocabulary") > 10);
    let energy = one_f64("SELECT energy FROM reco.models WHERE status = 'active'");
    assert!(energy > 0.5 && energy <= 1.0 + 1e-9, "{energy}");
    // Keep 3 versions by default.
    for _ in 0..4 {
        Spi::run("SELECT reco.refresh()").unwrap();
    }
    assert_eq!(one_i64("SELECT count(*) FROM reco.models"), 3);
    assert_eq!(
        one_i64("SELECT count(*) FROM reco.models WHERE status = 'active'"),
        1
    );
    assert_eq!(
        one_i64("SELECT max(model_id) FROM reco.models"),
        one_i64("SELECT model_id FROM reco.models WHERE status = 'active'")
    );
    // Each version has its own partition of each model table; pruned versions take theirs along.
    const MODEL_TABLES: [&str; 4] = [
        "model_shoes",
        "model_users",
        "model_vocabulary",
        "model_segments",
    ];
    let partitions = |table: &str| {
        one_i64(&format!(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'reco.{table}'::regclass"
        ))
    };
    for table in MODEL_TABLES {
        assert_eq!(partitions(table), 3, "{table}");
        assert_eq!(
            one_i64(&format!(
                "SELECT count(*) FROM reco.{table} WHERE model_id NOT IN (SELECT model_id FROM reco.models)"
            )),
            0,
            "{table} keeps rows of pruned versions"
        );
    }
    assert_eq!(one_i64("SELECT count(*) FROM reco.model_users"), 3 * 5);
    let active = one_i64("SELECT model_id FROM reco.models WHERE status = 'active'");
    assert_eq!(
        one_i64(&format!(
            "SELECT count(*) FROM reco.model_users_{active} WHERE model_id = {active}"
        )),
        5
    );
    // Deleting versions by hand drops their tables too; TRUNCATE drops them all.
    Spi::run("DELETE FROM reco.models WHERE status = 'retired'").unwrap();
    assert_eq!(partitions("model_users"), 1);
    assert_eq!(one_i64("SELECT count(*) FROM reco.model_users"), 5);
    assert_eq!(one_i64("SELECT count(*) FROM reco.model_shoes"), 6);
    Spi::run("TRUNCATE reco.models CASCADE").unwrap();
    for table in MODEL_TABLES {
        assert_eq!(partitions(table), 0, "{table}");
        assert_eq!(
            one_i64(&format!("SELECT count(*) FROM reco.{table}")),
            0,
            "{table}"
        );
    }
    // And the next refresh starts again from an empty set of versions.
    Spi::run("SELECT reco.refresh()").unwrap();
    assert_eq!(one_i64("SELECT count(*) FROM reco.model_shoes"), 6);
}

#[pg_test]
fn refresh_weighs_every_action_by_its_current_weight() {
    tiny_shop();
    // A custom action whose name is long enough to be stored compressed, and a changed weight.
    let long_action = "x".repeat(3000);
    Spi::run_with_args(
        "INSERT INTO reco.action_weights (action, weight) VALUES ($1, 7)",
        &[long_action.clone().into()],
    )
    .unwrap();
    Spi::run("UPDATE reco.action_weights SET weight = 2 WHERE action = 'view'").unwrap();
    Spi::run_with_args(
        "INSERT INTO reco.interactions (user_id, shoe_id, action) VALUES (5, 14, $1)",
        &[long_action.into()],
    )
    .unwrap();
    assert_eq!(
        one_text("SELECT pg_column_compression(action) FROM reco.interactions WHERE shoe_id = 14"),
        Some("pglz".to_string()),
        "the long action should be stored compressed, so refresh() has to detoast it"
    );
    assert_eq!(one_i64("SELECT interactions FROM reco.refresh()"), 12);
    // A shoe's popularity is the sum of the weights of its interactions (no decay by default):
    // shoe 10 = view 2 + purchase 5 + view 2, shoe 14 = 7.
    let mismatched = one_i64(
        "SELECT count(*) FROM reco.model_shoes s JOIN reco.models m USING (model_id)
         WHERE m.status = 'active'
           AND abs(s.popularity - coalesce((SELECT sum(w.weight) FROM reco.interactions i
                                            JOIN reco.action_weights w USING (action)
                                            WHERE i.shoe_id = s.shoe_id), 0)) > 1e-4",
    );
    assert_eq!(mismatched, 0);
    assert_eq!(
        one_f64(
            "SELECT s.popularity::float8 FROM reco.model_shoes s JOIN reco.models m USING (model_id)
             WHERE m.status = 'active' AND s.shoe_id = 10"
        ),
        9.0
    );
    assert_eq!(
        one_f64(
            "SELECT s.popularity::float8 FROM reco.model_shoes s JOIN reco.models m USING (model_id)
             WHERE m.status = 'active' AND s.shoe_id = 14"
        ),
        7.0
    );
    // The version records the weights it was built with.
    assert_eq!(
        one_f64("SELECT (parameters->'action_weights'->>'view')::float8 FROM reco.models WHERE status = 'active'"),
        2.0
    );
}

#[pg_test]
fn refresh_without_interactions_keeps_the_previous_model() {
    install_try_sql();
    tiny_shop();
    let r = try_sql("SELECT reco.refresh()");
    assert_eq!(r, "ok");
    let before = one_i64("SELECT model_id FROM reco.models WHERE status = 'active'");
    Spi::run("DELETE FROM reco.interactions").unwrap();
    let r = try_sql("SELECT reco.refresh()");
    assert!(
        r.starts_with("P0002") && r.contains("reco.interactions is empty"),
        "{r}"
    );
    assert_eq!(
        one_i64("SELECT model_id FROM reco.models WHERE status = 'active'"),
        before
    );
}

#[pg_test]
fn refresh_refuses_above_the_memory_limit() {
    install_try_sql();
    tiny_shop();
    Spi::run("SET LOCAL reco.refresh_memory_limit = '16MB'").unwrap();
    Spi::run("SET LOCAL reco.factors = 1000").unwrap();
    Spi::run("UPDATE pg_class SET reltuples = 5e7 WHERE oid = 'reco.interactions'::regclass")
        .unwrap();
    let r = try_sql("SELECT reco.refresh()");
    assert!(
        r.starts_with("53200") && r.contains("reco.refresh_memory_limit"),
        "{r}"
    );
    assert_eq!(one_i64("SELECT count(*) FROM reco.models"), 0);
}

// ---------------------------------------------------------------- recommend

#[pg_test]
fn recommend_argument_errors() {
    install_try_sql();
    tiny_shop();
    assert!(try_sql("SELECT * FROM reco.recommend(1, 0)").starts_with("22023"));
    assert!(try_sql("SELECT * FROM reco.recommend(1, 10001)").starts_with("22023"));
    assert!(try_sql("SELECT * FROM reco.recommend(1, NULL)").starts_with("22004"));
    let r = try_sql("SELECT * FROM reco.recommend(424242, 5)");
    assert!(
        r.starts_with("P0002") && r.contains("user 424242 does not exist"),
        "{r}"
    );
    assert!(try_sql("SELECT * FROM reco.recommend(1, 5, max_price => -1)").starts_with("22023"));
    assert!(try_sql("SELECT * FROM reco.similar(424242, 5)").starts_with("P0002"));
    assert!(try_sql("SELECT * FROM reco.similar(NULL, 5)").starts_with("22004"));
    assert!(try_sql("SELECT * FROM reco.similar(10, -3)").starts_with("22023"));
}

#[pg_test]
fn recommend_works_before_the_first_refresh() {
    tiny_shop();
    let ids = recommended_ids("SELECT shoe_id FROM reco.recommend(1, 10)");
    assert!(!ids.is_empty());
    assert!(!ids.contains(&10), "bought shoe excluded");
    assert!(!ids.contains(&15), "inactive shoe excluded");
    // Content only: the other running shoe comes first.
    assert_eq!(ids[0], 11);
    assert_eq!(one_i64("SELECT count(*) FROM reco.recommend(NULL, 3)"), 3);
}

#[pg_test]
fn recommend_excludes_purchases_and_inactive_and_applies_filters() {
    tiny_shop();
    Spi::run("SELECT reco.refresh()").unwrap();
    let ids = recommended_ids("SELECT shoe_id FROM reco.recommend(1, 100)");
    assert!(!ids.contains(&10) && !ids.contains(&15));
    assert_eq!(
        ids.len(),
        4,
        "every active shoe but the bought one: {ids:?}"
    );
    let ids =
        recommended_ids("SELECT shoe_id FROM reco.recommend(1, 100, exclude_purchased => false)");
    assert!(ids.contains(&10));
    let ids = recommended_ids("SELECT shoe_id FROM reco.recommend(1, 2, brand => 'summit')");
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|i| *i == 12 || *i == 13));
    let ids = recommended_ids(
        "SELECT shoe_id FROM reco.recommend(1, 10, shoe_type => 'hiking', max_price => 190)",
    );
    assert_eq!(ids, vec![12]);
    let ids = recommended_ids(
        "SELECT shoe_id FROM reco.recommend(1, 10, allowed_ids => ARRAY[12, 14, 10])",
    );
    assert_eq!(ids.len(), 2);
    let ids = recommended_ids("SELECT shoe_id FROM reco.recommend(1, 10, denied_ids => ARRAY[11])");
    assert!(!ids.contains(&11));
    // Scores are ordered and reasons are sentences.
    let reason = one_text("SELECT reason FROM reco.recommend(2, 1)").unwrap();
    assert!(reason.contains("Swift Road"), "{reason}");
}

#[pg_test]
fn a_new_purchase_changes_the_next_call_without_refresh() {
    tiny_shop();
    Spi::run("SELECT reco.refresh()").unwrap();
    let before = recommended_ids("SELECT shoe_id FROM reco.recommend(5, 10)");
    assert!(before[..2].contains(&10), "{before:?}");
    Spi::run("INSERT INTO reco.interactions (user_id, shoe_id, action) VALUES (5, 10, 'purchase'), (5, 12, 'add_to_wishlist'), (5, 13, 'add_to_wishlist')").unwrap();
    let after = recommended_ids("SELECT shoe_id FROM reco.recommend(5, 10)");
    assert!(!after.contains(&10), "{after:?}");
    assert_ne!(before, after);
    let reason =
        one_text("SELECT reason FROM reco.recommend(5, 1, shoe_type => 'hiking')").unwrap();
    assert!(reason.contains("on your wishlist"), "{reason}");
}

#[pg_test]
fn new_shoes_are_reachable_through_content_and_inactive_ones_vanish() {
    tiny_shop();
    Spi::run("SELECT reco.refresh()").unwrap();
    Spi::run(
        "INSERT INTO reco.shoes (shoe_id, name, brand, type, material, description, lifespan_days)
         VALUES (16, 'Swift Road 3', 'Stride', 'running', 'mesh', 'cushioned running shoe', 400)",
    )
    .unwrap();
    let ids = recommended_ids("SELECT shoe_id FROM reco.recommend(1, 10)");
    assert!(ids.contains(&16), "{ids:?}");
    let sim = recommended_ids("SELECT shoe_id FROM reco.similar(16, 2)");
    assert!(sim.contains(&11), "{sim:?}");
    Spi::run("UPDATE reco.shoes SET active = false WHERE shoe_id = 16").unwrap();
    let ids = recommended_ids("SELECT shoe_id FROM reco.recommend(1, 10)");
    assert!(!ids.contains(&16));
}

#[pg_test]
fn cold_start_and_anonymous() {
    tiny_shop();
    Spi::run("SELECT reco.refresh()").unwrap();
    Spi::run("INSERT INTO reco.users (user_id, age, gender, primary_usage) VALUES (7, 40, 'male', 'hiking')").unwrap();
    let ids = recommended_ids("SELECT shoe_id FROM reco.recommend(7, 2)");
    assert!(ids.iter().all(|i| *i == 12 || *i == 13), "{ids:?}");
    let anon = recommended_ids("SELECT shoe_id FROM reco.recommend(NULL, 10)");
    assert!(!anon.is_empty() && !anon.contains(&15));
    assert_eq!(
        one_text("SELECT reason FROM reco.recommend(NULL, 1)").unwrap(),
        "popular in the shop"
    );
    // A user with no profile and no history still gets k rows.
    assert_eq!(one_i64("SELECT count(*) FROM reco.recommend(6, 3)"), 3);
}

#[pg_test]
fn similar_blends_content_and_cf() {
    tiny_shop();
    Spi::run("SELECT reco.refresh()").unwrap();
    let ids = recommended_ids("SELECT shoe_id FROM reco.similar(12, 10)");
    assert_eq!(ids[0], 13);
    assert!(!ids.contains(&12) && !ids.contains(&15));
    let (content, cf) =
        Spi::get_two::<f64, f64>("SELECT content_score, cf_score FROM reco.similar(12, 1)")
            .unwrap();
    assert!(content.unwrap() > 0.0 && cf.unwrap() != 0.0);
}

#[pg_test]
fn text_edge_cases_do_not_break_anything() {
    tiny_shop();
    let long = "trail ".repeat(20_000);
    Spi::run_with_args(
        "INSERT INTO reco.shoes (shoe_id, name, brand, type, description, lifespan_days) VALUES
            (20, '', '', '', NULL, 100), (21, 'Wanderschuh für Bergtouren', 'Größe', 'hiking', '運動靴 ハイキング', 500),
            (22, 'Long', 'Long', 'running', $1, 300)",
        &[long.as_str().into()],
    )
    .unwrap();
    Spi::run("SELECT reco.refresh()").unwrap();
    assert!(one_i64("SELECT count(*) FROM reco.similar(20, 5)") >= 0);
    assert_eq!(one_i64("SELECT count(*) FROM reco.similar(21, 3)"), 3);
    assert!(one_i64("SELECT count(*) FROM reco.model_vocabulary WHERE term = 'bergtouren'") == 1);
}

/// The model rows are written straight through the table AM (bulk::TableWriter), with arrays
/// built byte by byte: check their shape and, through identities of the SVD and TF-IDF, their
/// values and order.
#[pg_test]
fn stored_model_arrays_are_exact() {
    tiny_shop();
    Spi::run(
        "INSERT INTO reco.shoes (shoe_id, name, brand, type, lifespan_days) VALUES (20, '', '', '', 100)",
    )
    .unwrap();
    let k = one_i64("SELECT factors::bigint FROM reco.refresh()");
    // 5 users with history x 6 shoes seen: full rank at k = 5, so U·S·Vᵀ reproduces the matrix.
    assert_eq!(k, 5);
    let bad_shape = "SELECT count(*) FROM reco.model_users WHERE array_ndims(factors) <> 1 OR array_lower(factors, 1) <> 1 OR cardinality(factors) <> 5";
    assert_eq!(one_i64(bad_shape), 0);
    assert_eq!(
        one_i64(&bad_shape.replace("model_users", "model_shoes")),
        0
    );
    // User 1 viewed (1) and bought (5) shoe 10, viewed (1) shoe 11, never touched shoe 12.
    let cell = |user: i64, shoe: i64| {
        one_f64(&format!(
            "SELECT sum(u.f * s.f)::float8
             FROM reco.model_users mu, reco.model_shoes ms,
                  unnest(mu.factors) WITH ORDINALITY u(f, j), unnest(ms.factors) WITH ORDINALITY s(f, j)
             WHERE mu.user_id = {user} AND ms.shoe_id = {shoe} AND u.j = s.j"
        ))
    };
    for (user, shoe, want) in [(1, 10, 6.0), (1, 11, 1.0), (1, 12, 0.0), (2, 11, 3.0), (4, 13, 3.0)] {
        let got = cell(user, shoe);
        assert!((got - want).abs() < 1e-4, "A[{user}, {shoe}] = {got}, want {want}");
    }
    // The shoe factors (V) have orthonormal columns.
    let worst = one_f64(
        "SELECT max(abs(n - 1))::float8 FROM (
             SELECT j, sum(f * f) AS n FROM reco.model_shoes, unnest(factors) WITH ORDINALITY v(f, j)
             GROUP BY j) c",
    );
    assert!(worst < 1e-5, "{worst}");
    // TF-IDF rows are L2-normalised, terms and weights pair up, and a shoe with no text has
    // empty arrays.
    assert_eq!(
        one_i64(
            "SELECT count(*) FROM reco.model_shoes
             WHERE cardinality(tfidf_terms) <> cardinality(tfidf_weights)
                OR (shoe_id <> 20 AND abs((SELECT sum(w * w) FROM unnest(tfidf_weights) w) - 1) > 1e-5)"
        ),
        0
    );
    assert_eq!(
        one_i64("SELECT count(*) FROM reco.model_shoes WHERE shoe_id = 20 AND tfidf_terms = '{}' AND tfidf_weights = '{}' AND popularity = 0"),
        1
    );
    // Every term id refers to the version's vocabulary.
    assert_eq!(
        one_i64(
            "SELECT count(*) FROM reco.model_shoes s, unnest(s.tfidf_terms) t
             WHERE NOT EXISTS (SELECT 1 FROM reco.model_vocabulary v
                               WHERE v.model_id = s.model_id AND v.term_id = t)"
        ),
        0
    );
}

#[pg_test]
fn planted_segments_get_shoes_of_their_type() {
    load_shop();
    Spi::run("SELECT reco.refresh()").unwrap();
    // Share of top-10 recommendations whose type matches the user's primary usage, over users
    // with history, against the share of active shoes of that type (chance).
    let (hit, chance) = Spi::get_two::<f64, f64>(
        "WITH u AS (
             SELECT u.user_id, u.primary_usage FROM reco.users u
             WHERE u.primary_usage IS NOT NULL
               AND EXISTS (SELECT 1 FROM reco.interactions i WHERE i.user_id = u.user_id)
             ORDER BY u.user_id LIMIT 200),
         r AS (SELECT u.primary_usage, s.type FROM u
               CROSS JOIN LATERAL reco.recommend(u.user_id, 10) rec
               JOIN reco.shoes s ON s.shoe_id = rec.shoe_id)
         SELECT avg((type = primary_usage)::int)::float8,
                (SELECT avg(share) FROM (
                    SELECT u.primary_usage, avg((s.type = u.primary_usage)::int)::float8 AS share
                    FROM u CROSS JOIN reco.shoes s WHERE s.active GROUP BY 1) x)
         FROM r",
    )
    .unwrap();
    let (hit, chance) = (hit.unwrap(), chance.unwrap());
    assert!(
        hit > chance + 0.3,
        "match share {hit:.2} vs chance {chance:.2}"
    );
}

// ---------------------------------------------------------------- concurrency and cancellation
// These need other sessions that commit, so they work in a database of their own (through
// dblink, over loopback) that they create and drop: committed rows never leak into other tests.

/// Create database `db` with reco installed and return a libpq connection string for it.
fn scratch_database(db: &str) -> String {
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
        "SELECT dblink_exec($1, 'CREATE EXTENSION reco')",
        &[conn.as_str().into()],
    )
    .unwrap();
    conn
}

fn drop_scratch_database(db: &str) {
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

fn remote_i64(conn_name: &str, sql: &str) -> i64 {
    Spi::get_one_with_args::<i64>(
        "SELECT v FROM dblink($1, $2) AS t(v bigint)",
        &[conn_name.into(), sql.into()],
    )
    .unwrap()
    .unwrap()
}

const SYNTHETIC_SHOP: &str = "
    INSERT INTO reco.users (user_id, age, gender, primary_usage)
        SELECT g, 20 + g % 50, 'female', 'running' FROM generate_series(1, 3000) g;
    INSERT INTO reco.shoes (shoe_id, name, brand, type, lifespan_days, description)
        SELECT g, 'Shoe ' || g, 'Brand ' || (g % 10), 'running', 300, 'shoe number ' || g
        FROM generate_series(1, 500) g;
    INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at)
        SELECT 1 + (g * 7919::bigint) % 3000, 1 + (g * 104729::bigint + g / 3) % 500, 'view',
               '2026-01-01'::timestamptz + g * interval '1 minute'
        FROM generate_series(1, 300000) g;";

#[pg_test]
fn a_second_session_sees_the_old_model_until_the_refresh_commits() {
    let db = "reco_test_concurrency";
    let conn = scratch_database(db);
    Spi::run_with_args(
        "SELECT dblink_connect('reader', $1)",
        &[conn.as_str().into()],
    )
    .unwrap();
    Spi::run_with_args(
        "SELECT dblink_connect('writer', $1)",
        &[conn.as_str().into()],
    )
    .unwrap();
    Spi::run_with_args("SELECT dblink_exec('reader', $1)", &[SYNTHETIC_SHOP.into()]).unwrap();
    let first = remote_i64("reader", "SELECT model_id FROM reco.refresh()");

    Spi::run("SELECT dblink_exec('writer', 'BEGIN')").unwrap();
    let second = remote_i64("writer", "SELECT model_id FROM reco.refresh()");
    assert!(second > first);
    // Not committed yet: the reader still serves the first model, and is not blocked.
    assert_eq!(
        remote_i64(
            "reader",
            "SELECT model_id FROM reco.models WHERE status = 'active'"
        ),
        first
    );
    assert_eq!(
        remote_i64("reader", "SELECT count(*) FROM reco.recommend(1, 5)"),
        5
    );
    Spi::run("SELECT dblink_exec('writer', 'COMMIT')").unwrap();
    assert_eq!(
        remote_i64(
            "reader",
            "SELECT model_id FROM reco.models WHERE status = 'active'"
        ),
        second
    );
    assert_eq!(
        remote_i64("reader", "SELECT count(*) FROM reco.recommend(1, 5)"),
        5
    );

    // A refresh stopped by statement_timeout leaves the active model and no partial rows.
    let models = remote_i64("reader", "SELECT count(*) FROM reco.models");
    let shoe_rows = remote_i64("reader", "SELECT count(*) FROM reco.model_shoes");
    Spi::run("SELECT dblink_exec('writer', 'SET reco.factors = 200')").unwrap();
    Spi::run("SELECT dblink_exec('writer', 'SET statement_timeout = ''100ms''')").unwrap();
    install_try_sql();
    let r = try_sql("SELECT dblink_exec('writer', 'SELECT reco.refresh()')");
    assert!(r.starts_with("57014"), "{r}");
    assert_eq!(
        remote_i64(
            "reader",
            "SELECT model_id FROM reco.models WHERE status = 'active'"
        ),
        second
    );
    assert_eq!(
        remote_i64("reader", "SELECT count(*) FROM reco.models"),
        models
    );
    assert_eq!(
        remote_i64("reader", "SELECT count(*) FROM reco.model_shoes"),
        shoe_rows
    );

    // Pruning never waits for readers: while a transaction of the reader holds the model tables,
    // the refresh keeps the old versions (dropping a partition would lock out every reader until
    // the refresh commits); the next refresh after the reader is done removes them.
    Spi::run("SELECT dblink_exec('writer', 'RESET reco.factors')").unwrap();
    Spi::run("SELECT dblink_exec('writer', 'SET statement_timeout = ''60s''')").unwrap();
    Spi::run("SELECT dblink_exec('writer', 'SET reco.keep_models = 1')").unwrap();
    Spi::run("SELECT dblink_exec('reader', 'BEGIN')").unwrap();
    assert_eq!(
        remote_i64("reader", "SELECT count(*) FROM reco.model_shoes"),
        shoe_rows
    );
    let third = remote_i64("writer", "SELECT model_id FROM reco.refresh()");
    assert!(third > second);
    assert_eq!(
        remote_i64("writer", "SELECT count(*) FROM reco.models"),
        models + 1,
        "old versions kept while the reader holds the model tables"
    );
    Spi::run("SELECT dblink_exec('reader', 'COMMIT')").unwrap();
    let fourth = remote_i64("writer", "SELECT model_id FROM reco.refresh()");
    assert_eq!(remote_i64("writer", "SELECT count(*) FROM reco.models"), 1);
    assert_eq!(
        remote_i64(
            "writer",
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'reco.model_users'::regclass"
        ),
        1
    );
    assert_eq!(
        remote_i64(
            "reader",
            "SELECT model_id FROM reco.models WHERE status = 'active'"
        ),
        fourth
    );
    assert_eq!(
        remote_i64("reader", "SELECT count(*) FROM reco.recommend(1, 5)"),
        5
    );
    drop_scratch_database(db);
}

// ---------------------------------------------------------------- evaluation

#[pg_test]
fn evaluate_scores_methods_without_touching_the_active_model() {
    load_shop();
    Spi::run("SELECT reco.refresh()").unwrap();
    let active = one_i64("SELECT model_id FROM reco.models WHERE status = 'active'");
    let metrics: Vec<(String, f64, f64, f64, f64, f64, f64, i32)> = Spi::connect(|c| {
        c.select("SELECT * FROM reco.evaluate(10, 0.2)", None, &[])
            .unwrap()
            .map(|r| {
                (
                    r.get::<String>(1).unwrap().unwrap(),
                    r.get::<f64>(2).unwrap().unwrap(),
                    r.get::<f64>(3).unwrap().unwrap(),
                    r.get::<f64>(4).unwrap().unwrap(),
                    r.get::<f64>(5).unwrap().unwrap(),
                    r.get::<f64>(6).unwrap().unwrap(),
                    r.get::<f64>(7).unwrap().unwrap(),
                    r.get::<i32>(8).unwrap().unwrap(),
                )
            })
            .collect()
    });
    let names: Vec<&str> = metrics.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(names, vec!["hybrid", "cf", "content", "popularity"]);
    for m in &metrics {
        for v in [m.1, m.2, m.3, m.4, m.5, m.6] {
            assert!((0.0..=1.0).contains(&v), "{m:?}");
        }
        assert!(m.7 > 100, "{m:?}");
    }
    let ndcg = |name: &str| metrics.iter().find(|m| m.0 == name).unwrap().3;
    assert!(ndcg("hybrid") > ndcg("popularity"), "{metrics:?}");
    // Same model as before, results stored once per method.
    assert_eq!(
        one_i64("SELECT model_id FROM reco.models WHERE status = 'active'"),
        active
    );
    assert_eq!(one_i64("SELECT count(*) FROM reco.evaluations"), 4);
    assert_eq!(
        one_i64("SELECT count(DISTINCT model_id) FROM reco.evaluations WHERE model_id IS NOT NULL"),
        1
    );

    // The rankings behind it, scored independently in SQL, give the same hit rate and precision.
    let (hit_rate, precision) = Spi::get_two::<f64, f64>(
        "WITH split AS (SELECT * FROM reco.evaluation_split(0.2)),
              train AS (SELECT DISTINCT user_id, shoe_id FROM split WHERE part = 'train'),
              rel AS (SELECT DISTINCT s.user_id, s.shoe_id FROM split s
                      WHERE s.part = 'test' AND s.action IN ('purchase', 'add_to_wishlist')
                        AND NOT EXISTS (SELECT 1 FROM train t WHERE t.user_id = s.user_id AND t.shoe_id = s.shoe_id)),
              r AS (SELECT * FROM reco.evaluation_rankings(10, 0.2) WHERE method = 'reco-hybrid'),
              per_user AS (SELECT u.user_id,
                                  (SELECT count(*) FROM r JOIN rel USING (user_id, shoe_id) WHERE r.user_id = u.user_id) AS hits
                           FROM (SELECT DISTINCT user_id FROM rel) u)
         SELECT avg((hits > 0)::int)::float8, avg(hits / 10.0)::float8 FROM per_user",
    )
    .unwrap();
    assert!(
        (hit_rate.unwrap() - metrics[0].5).abs() < 1e-9,
        "{hit_rate:?} vs {:?}",
        metrics[0]
    );
    assert!(
        (precision.unwrap() - metrics[0].1).abs() < 1e-9,
        "{precision:?} vs {:?}",
        metrics[0]
    );

    install_try_sql();
    assert!(try_sql("SELECT * FROM reco.evaluate(10, 1.5)").starts_with("22023"));
    assert!(try_sql("SELECT * FROM reco.evaluate(0, 0.2)").starts_with("22023"));
    assert!(try_sql("SELECT * FROM reco.evaluation_split(NULL)").starts_with("22023"));
}

#[pg_test]
fn time_decay_discounts_old_interactions() {
    tiny_shop();
    // Shoe 14 was bought long ago, shoe 11 viewed recently (relative to the newest interaction).
    Spi::run(
        "INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at) VALUES
            (6, 14, 'purchase', '2020-01-01'), (6, 14, 'purchase', '2020-01-02')",
    )
    .unwrap();
    Spi::run("SELECT reco.refresh()").unwrap();
    let pop = |id: i64| {
        one_f64(&format!(
            "SELECT popularity::float8 FROM reco.model_shoes s JOIN reco.models m USING (model_id)
             WHERE m.status = 'active' AND s.shoe_id = {id}"
        ))
    };
    assert_eq!(pop(14), 10.0);
    Spi::run("SET LOCAL reco.half_life_days = 30").unwrap();
    Spi::run("SELECT reco.refresh()").unwrap();
    assert!(pop(14) < 0.01, "{}", pop(14));
    // Shoe 11: the newest interaction (a view, 2026-03-01) keeps its full weight 1; the view and
    // the wishlist add two months earlier count about a quarter (5 without decay).
    let p11 = pop(11);
    assert!(p11 > 1.0 && p11 < 2.5, "{p11}");
    assert_eq!(
        one_f64("SELECT (parameters->>'half_life_days')::float8 FROM reco.models WHERE status = 'active'"),
        30.0
    );
}

// ---------------------------------------------------------------- cache invalidation

#[pg_test]
fn a_rolled_back_catalogue_change_does_not_stick_in_the_cache() {
    tiny_shop();
    Spi::run("SELECT reco.refresh()").unwrap();
    // Deactivate shoe 11, let recommend() cache that catalogue, then roll the change back.
    Spi::run(
        "DO $$ BEGIN
             UPDATE reco.shoes SET active = false WHERE shoe_id = 11;
             PERFORM * FROM reco.recommend(1, 10);
             RAISE EXCEPTION 'undo';
         EXCEPTION WHEN raise_exception THEN NULL;
         END $$",
    )
    .unwrap();
    // Another change: the catalogue version moves on, and must not equal the rolled-back one.
    Spi::run("UPDATE reco.shoes SET price = 121 WHERE shoe_id = 10").unwrap();
    let ids = recommended_ids("SELECT shoe_id FROM reco.recommend(1, 10)");
    assert!(ids.contains(&11), "{ids:?}");
}

#[pg_test]
fn edited_shoes_are_scored_by_their_current_text() {
    tiny_shop();
    Spi::run("SELECT reco.refresh()").unwrap();
    let content = || {
        Spi::get_one::<f64>(
            "SELECT coalesce(max(content_score), 0) FROM reco.similar(10, 10) WHERE shoe_id = 14",
        )
        .unwrap()
        .unwrap()
    };
    let before = content();
    Spi::run(
        "UPDATE reco.shoes SET name = 'Swift Road 9', brand = 'Stride', type = 'running', material = 'mesh',
                description = 'light road running shoe with cushioning' WHERE shoe_id = 14",
    )
    .unwrap();
    let after = content();
    assert!(
        after > 0.5 && after > before + 0.3,
        "before {before}, after {after}"
    );
}

#[pg_test]
fn popularity_before_the_first_refresh_follows_the_log() {
    tiny_shop();
    assert_ne!(one_i64("SELECT shoe_id FROM reco.recommend(NULL, 1)"), 14);
    Spi::run(
        "INSERT INTO reco.interactions (user_id, shoe_id, action)
         SELECT u, 14, 'purchase' FROM generate_series(1, 6) u",
    )
    .unwrap();
    assert_eq!(one_i64("SELECT shoe_id FROM reco.recommend(NULL, 1)"), 14);
}

#[pg_test]
fn non_finite_weights_and_times_are_rejected() {
    install_try_sql();
    tiny_shop();
    assert!(
        try_sql("UPDATE reco.action_weights SET weight = 'Infinity' WHERE action = 'view'")
            .starts_with("23514")
    );
    assert!(
        try_sql("UPDATE reco.action_weights SET weight = 'NaN' WHERE action = 'view'")
            .starts_with("23514")
    );
    assert!(try_sql(
        "INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at) VALUES (1, 10, 'view', 'infinity')"
    )
    .starts_with("23514"));
}
