//! SQL-level tests: columns of reco's tables altered to another type. Every reader checks the
//! types it reads once per query, so each call fails with 42804 naming the column instead of
//! reading garbage or crashing the backend (which would restart the whole cluster and fail
//! these tests with a lost connection).

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

    /// Every reader: recommend() for a user with history (1), a cold-start user (5 has a
    /// profile once their interaction is gone), an anonymous visitor, similar(), refresh()
    /// and due_services() on a day with a replacement due (it asks for similar shoes).
    const READERS: [&str; 6] = [
        "SELECT * FROM reco.recommend(1, 3)",
        "SELECT * FROM reco.recommend(5, 3)",
        "SELECT * FROM reco.recommend(NULL, 3)",
        "SELECT * FROM reco.similar(10, 3)",
        "SELECT * FROM reco.refresh()",
        "SELECT * FROM reco.due_services('2027-02-01')",
    ];

    /// In a scratch database of its own (ALTER TABLE on the shared test database would block the
    /// tests running beside this one, or deadlock with them): a shop with a model, then
    /// `alter`; every reader in `readers` must fail with 42804 naming `column`. Returns the
    /// dblink connection name, still open, for more checks.
    fn each_reader_refuses(db: &str, alter: &str, column: &str, readers: &[&str]) -> String {
        let name = altered_shop(db, alter);
        for q in readers {
            let got = remote_try_sql(&name, q);
            assert!(
                got.starts_with("42804: ") && got.contains(column),
                "{q} after {alter}: {got}"
            );
        }
        name
    }

    /// The scratch database `db` with the tiny shop, a model, then `alter`; returns the name of
    /// an open dblink connection to it with pg_temp.try_sql installed.
    fn altered_shop(db: &str, alter: &str) -> String {
        let conn = scratch_database(db);
        let name = db.to_string();
        Spi::run_with_args(
            "SELECT dblink_connect($1, $2)",
            &[name.as_str().into(), conn.as_str().into()],
        )
        .unwrap();
        let exec = |sql: &str| {
            Spi::run_with_args(
                "SELECT dblink_exec($1, $2)",
                &[name.as_str().into(), sql.into()],
            )
            .unwrap()
        };
        exec(TRY_SQL);
        exec(TINY_SHOP);
        exec("DELETE FROM reco.interactions WHERE user_id = 5");
        exec("DO $$ BEGIN PERFORM * FROM reco.refresh(); END $$");
        exec(alter);
        name
    }

    fn done(name: &str) {
        drop_scratch_database(name);
    }

    #[pg_test]
    fn shoes_brand_of_another_type_is_refused_by_every_reader() {
        let c = each_reader_refuses(
            "reco_test_odd_brand",
            "ALTER TABLE reco.shoes ALTER brand TYPE int USING 0",
            "reco.shoes.brand",
            &READERS,
        );
        done(&c);
    }

    #[pg_test]
    fn shoes_type_of_another_type_is_refused_by_every_reader() {
        // due_services() compares the type with the settings' text first: 42883 from the
        // planner, also a clean error; the other readers go through the catalogue reader.
        let c = each_reader_refuses(
            "reco_test_odd_type",
            "ALTER TABLE reco.shoes ALTER type TYPE int USING 0",
            "reco.shoes.type",
            &READERS[..5],
        );
        let got = remote_try_sql(&c, READERS[5]);
        assert!(got.starts_with("42"), "{got}");
        done(&c);
    }

    #[pg_test]
    fn users_primary_usage_of_another_type_is_refused() {
        let c = each_reader_refuses(
            "reco_test_odd_usage",
            "ALTER TABLE reco.users ALTER primary_usage TYPE int USING 0",
            "reco.users.primary_usage",
            &[READERS[0], READERS[1], READERS[4]],
        );
        done(&c);
    }

    #[pg_test]
    fn users_gender_of_another_type_is_refused() {
        let c = each_reader_refuses(
            "reco_test_odd_gender",
            "ALTER TABLE reco.users DROP CONSTRAINT users_gender_check, ALTER gender TYPE int USING 0",
            "reco.users.gender",
            &[READERS[0], READERS[1], READERS[4]],
        );
        done(&c);
    }

    #[pg_test]
    fn users_age_as_numeric_is_refused_not_misread() {
        let c = each_reader_refuses(
            "reco_test_odd_age",
            "ALTER TABLE reco.users ALTER age TYPE numeric",
            "reco.users.age",
            &[READERS[0], READERS[1], READERS[4]],
        );
        done(&c);
    }

    #[pg_test]
    fn text_columns_as_varchar_still_work() {
        // varchar has the bytes of text: accepted.
        let c = altered_shop(
            "reco_test_odd_varchar",
            "ALTER TABLE reco.shoes ALTER brand TYPE varchar(40), ALTER description TYPE varchar",
        );
        assert_eq!(remote_try_sql(&c, "SELECT * FROM reco.refresh()"), "ok");
        let n = Spi::get_one_with_args::<i64>(
            "SELECT v FROM dblink($1, 'SELECT count(*) FROM reco.recommend(1, 3)') AS t(v bigint)",
            &[c.as_str().into()],
        )
        .unwrap()
        .unwrap();
        assert_eq!(n, 3, "recommend works on varchar columns");
        done(&c);
    }
}
