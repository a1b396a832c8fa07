//! SQL-level tests: A refresh seen from a second session: the old model until the commit.

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

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
        // keep_models = 1: the active version and the one rollback() would return to stay.
        assert_eq!(
            remote_text(
                "writer",
                "SELECT string_agg(model_id::text, ',' ORDER BY model_id) FROM reco.models"
            ),
            format!("{third},{fourth}")
        );
        assert_eq!(
            remote_i64(
                "writer",
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'reco.model_users'::regclass"
            ),
            2
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
}
