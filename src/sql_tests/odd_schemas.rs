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

    /// A shop with a model, then `alter`; every reader in `readers` must fail with 42804
    /// naming `column`.
    fn each_reader_refuses(alter: &str, column: &str, readers: &[&str]) {
        install_try_sql();
        tiny_shop();
        Spi::run("DELETE FROM reco.interactions WHERE user_id = 5").unwrap();
        Spi::run("SELECT * FROM reco.refresh()").unwrap();
        Spi::run(alter).unwrap();
        for q in readers {
            let got = try_sql(q);
            assert!(
                got.starts_with("42804: ") && got.contains(column),
                "{q} after {alter}: {got}"
            );
        }
    }

    #[pg_test]
    fn shoes_brand_of_another_type_is_refused_by_every_reader() {
        each_reader_refuses(
            "ALTER TABLE reco.shoes ALTER brand TYPE int USING 0",
            "reco.shoes.brand",
            &READERS,
        );
    }

    #[pg_test]
    fn shoes_type_of_another_type_is_refused_by_every_reader() {
        // due_services() compares the type with the settings' text first: 42883 from the
        // planner, also a clean error; the other readers go through the catalogue reader.
        each_reader_refuses(
            "ALTER TABLE reco.shoes ALTER type TYPE int USING 0",
            "reco.shoes.type",
            &READERS[..5],
        );
        let got = try_sql(READERS[5]);
        assert!(got.starts_with("42"), "{got}");
    }

    #[pg_test]
    fn users_primary_usage_of_another_type_is_refused() {
        each_reader_refuses(
            "ALTER TABLE reco.users ALTER primary_usage TYPE int USING 0",
            "reco.users.primary_usage",
            &[READERS[0], READERS[1], READERS[4]],
        );
    }

    #[pg_test]
    fn users_gender_of_another_type_is_refused() {
        each_reader_refuses(
            "ALTER TABLE reco.users DROP CONSTRAINT users_gender_check, ALTER gender TYPE int USING 0",
            "reco.users.gender",
            &[READERS[0], READERS[1], READERS[4]],
        );
    }

    #[pg_test]
    fn users_age_as_numeric_is_refused_not_misread() {
        each_reader_refuses(
            "ALTER TABLE reco.users ALTER age TYPE numeric",
            "reco.users.age",
            &[READERS[0], READERS[1], READERS[4]],
        );
    }

    #[pg_test]
    fn text_columns_as_varchar_still_work() {
        // varchar has the bytes of text: accepted.
        install_try_sql();
        tiny_shop();
        Spi::run(
            "ALTER TABLE reco.shoes ALTER brand TYPE varchar(40), ALTER description TYPE varchar",
        )
        .unwrap();
        Spi::run("SELECT * FROM reco.refresh()").unwrap();
        assert_eq!(
            one_i64("SELECT count(*) FROM reco.recommend(1, 3)"),
            3,
            "recommend works on varchar columns"
        );
    }
}
