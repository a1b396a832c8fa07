//! SQL-level tests: the `reco.*` settings. The prefix is reserved, a value set before the
//! library was loaded is held to the same rules as one set after, and every setting is
//! described and documented.

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

    #[pg_test]
    fn a_misspelt_setting_is_an_error() {
        install_try_sql();
        let got = try_sql("SET reco.factor = 8");
        assert!(
            got.starts_with("42602: ") && got.contains("reco.factor"),
            "{got}"
        );
        // The real name works, and a bad value is refused when set.
        assert_eq!(try_sql("SET reco.factors = 8"), "ok");
        assert!(try_sql("SET reco.refresh_memory_limit = '10MB'").starts_with("22023: "));
    }

    /// A new session of this database in which reco is not loaded yet, as connection `name`.
    fn fresh_session(name: &str) {
        Spi::run("CREATE EXTENSION IF NOT EXISTS dblink").unwrap();
        let port = one_text("SELECT current_setting('port')").unwrap();
        let user = one_text("SELECT current_user::text").unwrap();
        let db = one_text("SELECT current_database()::text").unwrap();
        let conn = format!("host=127.0.0.1 port={port} user={user} dbname={db}");
        Spi::run_with_args(
            "SELECT dblink_connect($1, $2)",
            &[name.into(), conn.as_str().into()],
        )
        .unwrap();
        let loaded = Spi::get_one_with_args::<i64>(
            "SELECT v FROM dblink($1, 'SELECT count(*) FROM pg_settings WHERE name LIKE ''reco.%''') AS t(v bigint)",
            &[name.into()],
        )
        .unwrap()
        .unwrap();
        assert_eq!(loaded, 0, "reco is not loaded in a new session");
    }

    fn remote_try(name: &str, sql: &str) -> String {
        try_sql(&format!(
            "SELECT * FROM dblink('{name}', $q${sql}$q$) AS t(v text)"
        ))
    }

    #[pg_test]
    fn a_bad_value_set_before_loading_fails_the_call_that_needs_it() {
        install_try_sql();
        fresh_session("early");
        Spi::run("SELECT dblink_exec('early', 'SET reco.refresh_memory_limit = ''10MB''')")
            .unwrap();
        // refresh() loads reco, which rejects the placeholder: the call fails with 22023 instead
        // of refreshing with the 4GB default.
        let got = remote_try("early", "SELECT model_id::text FROM reco.refresh()");
        assert!(
            got.starts_with("22023: ") && got.contains("reco.refresh_memory_limit = '10MB'"),
            "{got}"
        );
        // So does every later call that reads it, until the setting is assigned again.
        let again = remote_try("early", "SELECT model_id::text FROM reco.refresh()");
        assert!(again.starts_with("22023: "), "{again}");
        Spi::run("SELECT dblink_exec('early', 'SET reco.refresh_memory_limit = ''1GB''')").unwrap();
        let after = remote_try("early", "SELECT model_id::text FROM reco.refresh()");
        assert!(!after.starts_with("22023: "), "{after}");
        Spi::run("SELECT dblink_disconnect('early')").unwrap();
    }

    #[pg_test]
    fn a_bad_weight_set_before_loading_fails_recommend() {
        install_try_sql();
        fresh_session("early_weight");
        Spi::run("SELECT dblink_exec('early_weight', 'SET reco.cf_weight = -1')").unwrap();
        let got = remote_try("early_weight", "SELECT reason FROM reco.recommend(NULL, 3)");
        assert!(
            got.starts_with("22023: ") && got.contains("reco.cf_weight"),
            "{got}"
        );
        // A valid value set before loading is taken as it is.
        fresh_session("early_ok");
        Spi::run("SELECT dblink_exec('early_ok', 'SET reco.cf_weight = 0.25')").unwrap();
        assert_eq!(
            remote_try("early_ok", "SELECT current_setting('reco.cf_weight') FROM reco.recommend(NULL, 1) UNION ALL SELECT current_setting('reco.cf_weight') LIMIT 1"),
            "ok"
        );
        let value = Spi::get_one::<String>(
            "SELECT v FROM dblink('early_ok', 'SELECT current_setting(''reco.cf_weight'')') AS t(v text)",
        )
        .unwrap()
        .unwrap();
        assert_eq!(value, "0.25");
        Spi::run("SELECT dblink_disconnect('early_weight'); SELECT dblink_disconnect('early_ok')")
            .unwrap();
    }

    #[pg_test]
    fn every_setting_is_described_and_in_the_readme() {
        // Loaded in this session (the test calls reco functions): all settings are defined.
        Spi::run("SELECT * FROM reco.recommend(NULL, 1)").unwrap();
        let readme = include_str!("../../README.md");
        let settings: Vec<(String, String, String)> = Spi::connect(|c| {
            c.select(
                "SELECT name::text, short_desc, coalesce(extra_desc, '') FROM pg_settings \
                 WHERE name LIKE 'reco.%' ORDER BY name",
                None,
                &[],
            )
            .unwrap()
            .map(|r| {
                (
                    r.get::<String>(1).unwrap().unwrap(),
                    r.get::<String>(2).unwrap().unwrap(),
                    r.get::<String>(3).unwrap().unwrap(),
                )
            })
            .collect()
        });
        assert_eq!(settings.len(), 22, "{settings:?}");
        for (name, short, long) in &settings {
            assert!(
                !short.is_empty() && !long.is_empty(),
                "{name} lacks a description"
            );
            assert!(
                readme.contains(&format!("| `{name}` |")),
                "{name} is missing from README's settings table"
            );
        }
    }
}
