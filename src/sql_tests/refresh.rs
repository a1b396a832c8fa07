//! SQL-level tests: reco.refresh(): the model versions it builds, action weights, empty inputs, the memory limit.

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

    #[pg_test]
    fn refresh_restores_the_parallel_key_build_setting_it_changes() {
        // refresh() builds a small version's primary keys serially; the caller's setting (here a
        // transaction-local one, as pg_test runs in a transaction) is back afterwards.
        tiny_shop();
        Spi::run("SET LOCAL max_parallel_maintenance_workers = 3").unwrap();
        Spi::run("SELECT reco.refresh()").unwrap();
        assert_eq!(
            one_text("SELECT current_setting('max_parallel_maintenance_workers')").as_deref(),
            Some("3")
        );
        Spi::run("SET max_parallel_maintenance_workers = 1").unwrap();
        Spi::run("SELECT reco.refresh()").unwrap();
        assert_eq!(
            one_text("SELECT current_setting('max_parallel_maintenance_workers')").as_deref(),
            Some("1")
        );
    }

    #[pg_test]
    fn refresh_builds_an_active_model() {
        tiny_shop();
        let factors = one_i64("SELECT factors::bigint FROM reco.refresh()");
        assert!((1..=5).contains(&factors), "{factors}");
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
            one_text(
                "SELECT pg_column_compression(action) FROM reco.interactions WHERE shoe_id = 14"
            ),
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
}
