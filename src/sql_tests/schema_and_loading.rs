//! SQL-level tests: reco.users/shoes/interactions constraints, indexes, comments; reco.load_csv().

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

    #[pg_test]
    fn schema_rejects_bad_rows() {
        install_try_sql();
        tiny_shop();
        assert!(
            try_sql("INSERT INTO reco.users (user_id, age) VALUES (100, 5)").starts_with("23514")
        );
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
        assert!(
            try_sql("INSERT INTO reco.action_weights VALUES ('share', -1)").starts_with("23514")
        );
        assert_eq!(
            try_sql(
                "INSERT INTO reco.interactions (user_id, shoe_id, action) VALUES (1, 10, 'view')"
            ),
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
}
