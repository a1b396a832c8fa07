//! SQL-level tests: The per-backend model cache: rolled-back catalogue changes, edited shoes, popularity before the first refresh, non-finite inputs.

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

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
        assert!(try_sql(
            "UPDATE reco.action_weights SET weight = 'Infinity' WHERE action = 'view'"
        )
        .starts_with("23514"));
        assert!(
            try_sql("UPDATE reco.action_weights SET weight = 'NaN' WHERE action = 'view'")
                .starts_with("23514")
        );
        assert!(try_sql(
        "INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at) VALUES (1, 10, 'view', 'infinity')"
    )
    .starts_with("23514"));
    }
}
