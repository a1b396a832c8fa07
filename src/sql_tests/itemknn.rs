//! SQL-level tests: the item-item component (neighbour lists built by refresh(), blended into
//! recommend() and similar()) and reco.similar_users().

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

    #[pg_test]
    fn refresh_stores_each_shoes_neighbours() {
        tiny_shop();
        Spi::run("SELECT reco.refresh()").unwrap();
        // Shoes 12 and 13 share users 3 and 4 (hiking); 10 and 11 share users 1 and 2; shoe 14
        // (formal) has no interaction at all, so no neighbours.
        assert_eq!(
            one_text(
                "SELECT neighbour_ids::text FROM reco.model_shoes s JOIN reco.models m USING (model_id) \
                 WHERE m.status = 'active' AND s.shoe_id = 12"
            )
            .unwrap(),
            "{13}"
        );
        assert_eq!(
            one_text(
                "SELECT neighbour_ids::text FROM reco.model_shoes s JOIN reco.models m USING (model_id) \
                 WHERE m.status = 'active' AND s.shoe_id = 14"
            )
            .unwrap(),
            "{}"
        );
        // Similarities are (co-occurrence / (|i| |j| + shrinkage))^2, in (0, 1], best first.
        assert_eq!(
            one_i64(
                "SELECT count(*) FROM reco.model_shoes s JOIN reco.models m USING (model_id), \
                        unnest(s.neighbour_weights) w \
                 WHERE m.status = 'active' AND NOT (w > 0 AND w <= 1)"
            ),
            0
        );
        // reco.knn_neighbours = 0: no lists, and recommend() still answers.
        Spi::run("SET LOCAL reco.knn_neighbours = 0; SELECT reco.refresh()").unwrap();
        assert_eq!(
            one_i64(
                "SELECT count(*) FROM reco.model_shoes s JOIN reco.models m USING (model_id) \
                 WHERE m.status = 'active' AND cardinality(s.neighbour_ids) > 0"
            ),
            0
        );
        assert_eq!(one_i64("SELECT count(*) FROM reco.recommend(1, 3)"), 3);
    }

    #[pg_test]
    fn a_purchase_brings_its_neighbours_into_the_next_call() {
        tiny_shop();
        Spi::run("SELECT reco.refresh()").unwrap();
        // User 5 viewed a running shoe only: nothing of the hiking boots' neighbourhood yet.
        let before = recommended_ids("SELECT shoe_id FROM reco.recommend(5, 2)");
        assert!(!before.contains(&13), "{before:?}");
        // A purchase of boot 12, no refresh: its neighbour 13 comes first, explained by it.
        Spi::run(
            "INSERT INTO reco.interactions (user_id, shoe_id, action) VALUES (5, 12, 'purchase')",
        )
        .unwrap();
        let (first, reason) =
            Spi::get_two::<i64, String>("SELECT shoe_id, reason FROM reco.recommend(5, 1)")
                .unwrap();
        assert_eq!(first, Some(13));
        assert_eq!(
            reason.as_deref(),
            Some("often chosen together with Peak Hiker you bought")
        );
        // Turned off at query time, the same call ranks by CF, content and popularity only.
        Spi::run("SET LOCAL reco.knn_weight = 0").unwrap();
        let reason = one_text("SELECT reason FROM reco.recommend(5, 1)").unwrap();
        assert!(!reason.starts_with("often chosen together"), "{reason}");
    }

    #[pg_test]
    fn the_latest_shoe_of_a_history_counts_most() {
        tiny_shop();
        Spi::run("SELECT reco.refresh()").unwrap();
        // Users 7 and 8 bought the same two shoes, in opposite orders; nothing else.
        Spi::run(
            "INSERT INTO reco.users (user_id) VALUES (7), (8);
             INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at) VALUES
                (7, 10, 'purchase', '2026-04-01'), (7, 12, 'purchase', '2026-04-02'),
                (8, 12, 'purchase', '2026-04-01'), (8, 10, 'purchase', '2026-04-02');
             SET LOCAL reco.recency_half_life = 1; SET LOCAL reco.recency_floor = 0",
        )
        .unwrap();
        // Each gets the neighbour of what they bought last: the hiking boot 13 after boot 12,
        // the running shoe 11 after shoe 10.
        let after_boot = recommended_ids("SELECT shoe_id FROM reco.recommend(7, 2)");
        let after_runner = recommended_ids("SELECT shoe_id FROM reco.recommend(8, 2)");
        assert_eq!(after_boot.first(), Some(&13), "{after_boot:?}");
        assert_eq!(after_runner.first(), Some(&11), "{after_runner:?}");
        // The reason names the shoe the recommendation comes from.
        assert_eq!(
            one_text("SELECT reason FROM reco.recommend(7, 1)").as_deref(),
            Some("often chosen together with Peak Hiker you bought")
        );
        // Without recency weighting the two histories are the same, and so are the lists.
        Spi::run("SET LOCAL reco.recency_half_life = 0").unwrap();
        assert_eq!(
            recommended_ids("SELECT shoe_id FROM reco.recommend(7, 3)"),
            recommended_ids("SELECT shoe_id FROM reco.recommend(8, 3)")
        );
        // The defaults weigh recency too.
        Spi::run("RESET reco.recency_half_life; RESET reco.recency_floor").unwrap();
        assert_eq!(
            recommended_ids("SELECT shoe_id FROM reco.recommend(7, 1)"),
            vec![13]
        );
    }

    #[pg_test]
    fn what_shoppers_bought_next_leads_the_neighbour_list() {
        // Ten shoppers bought shoe 20, then 22; eleven bought 21, then 20. Shoe 20 co-occurs a
        // little more with 21, but what shoppers went on to after 20 is 22.
        Spi::run(
            "INSERT INTO reco.users (user_id) SELECT g FROM generate_series(1, 22) g;
             INSERT INTO reco.shoes (shoe_id, name, brand, type, material, color, price, description, care_instructions, lifespan_days, active) VALUES
                (20, 'Base Runner', 'Stride', 'running', 'mesh', 'blue', 100, 'running shoe', 'rinse', 400, true),
                (21, 'Warm-up Runner', 'Stride', 'running', 'mesh', 'red', 100, 'running shoe', 'rinse', 400, true),
                (22, 'Race Runner', 'Stride', 'running', 'mesh', 'green', 100, 'running shoe', 'rinse', 400, true);
             INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at)
                SELECT g, 20, 'purchase', '2026-05-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 10) g
                UNION ALL SELECT g, 22, 'purchase', '2026-05-02'::timestamptz + g * interval '1 hour' FROM generate_series(1, 10) g
                UNION ALL SELECT g, 21, 'purchase', '2026-05-01'::timestamptz + g * interval '1 hour' FROM generate_series(11, 21) g
                UNION ALL SELECT g, 20, 'purchase', '2026-05-02'::timestamptz + g * interval '1 hour' FROM generate_series(11, 21) g;
             INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at) VALUES (22, 20, 'purchase', '2026-06-01');
             SET LOCAL reco.cf_weight = 0; SET LOCAL reco.content_weight = 0; SET LOCAL reco.popularity_weight = 0;
             SET LOCAL reco.similar_knn_weight = 1; SET LOCAL reco.similar_cf_weight = 0;
             SELECT reco.refresh()",
        )
        .unwrap();
        let active = "SELECT neighbour_ids::text FROM reco.model_shoes s JOIN reco.models m USING (model_id) \
                      WHERE m.status = 'active' AND s.shoe_id = 20";
        // The default (reco.knn_next_weight = 8): 22 first, for shoppers who just bought 20.
        assert_eq!(one_text(active).unwrap(), "{22,21}");
        assert_eq!(
            recommended_ids("SELECT shoe_id FROM reco.recommend(22, 2)"),
            vec![22, 21]
        );
        assert_eq!(
            recommended_ids("SELECT shoe_id FROM reco.similar(20, 2)"),
            vec![22, 21]
        );
        // Similarities stay in (0, 1], and the model says which weight built it.
        assert_eq!(
            one_i64(
                "SELECT count(*) FROM reco.model_shoes s JOIN reco.models m USING (model_id), \
                        unnest(s.neighbour_weights) w \
                 WHERE m.status = 'active' AND NOT (w > 0 AND w <= 1)"
            ),
            0
        );
        assert_eq!(
            one_f64(
                "SELECT (parameters->>'knn_next_weight')::float8 FROM reco.models WHERE status = 'active'"
            ),
            8.0
        );
        // Order ignored (weight 0): the co-occurrence alone puts 21 first.
        Spi::run("SET LOCAL reco.knn_next_weight = 0; SELECT reco.refresh()").unwrap();
        assert_eq!(one_text(active).unwrap(), "{21,22}");
        assert_eq!(
            recommended_ids("SELECT shoe_id FROM reco.recommend(22, 2)"),
            vec![21, 22]
        );
        assert_eq!(
            recommended_ids("SELECT shoe_id FROM reco.similar(20, 2)"),
            vec![21, 22]
        );
    }

    #[pg_test]
    fn similar_uses_the_neighbours() {
        tiny_shop();
        Spi::run("SELECT reco.refresh()").unwrap();
        // Only the item-item part: shoe 10's one neighbour is 11, at 1 (the closest).
        Spi::run("SET LOCAL reco.similar_knn_weight = 1; SET LOCAL reco.similar_cf_weight = 0")
            .unwrap();
        let (id, score) =
            Spi::get_two::<i64, f64>("SELECT shoe_id, score FROM reco.similar(10, 1)").unwrap();
        assert_eq!(id, Some(11));
        assert!((score.unwrap() - 1.0).abs() < 1e-9, "{score:?}");
    }

    #[pg_test]
    fn similar_users_ranks_users_by_taste() {
        install_try_sql();
        tiny_shop();
        Spi::run("SELECT reco.refresh()").unwrap();
        // User 3 (bought boot 12, viewed 13) is closest to user 4 (13, 12): the other hiker.
        let ids = recommended_ids("SELECT user_id FROM reco.similar_users(3, 5)");
        assert_eq!(ids.first(), Some(&4), "{ids:?}");
        assert!(!ids.contains(&3), "the user is excluded");
        let scores = Spi::connect(|c| {
            c.select("SELECT score FROM reco.similar_users(3, 5)", None, &[])
                .unwrap()
                .map(|r| r.get::<f64>(1).unwrap().unwrap())
                .collect::<Vec<_>>()
        });
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        assert!(
            scores.iter().all(|&s| s > 0.0 && s <= 1.0 + 1e-6),
            "{scores:?}"
        );
        // No history: no rows. Unknown user: P0002. NULL: 22004.
        assert_eq!(one_i64("SELECT count(*) FROM reco.similar_users(6)"), 0);
        assert!(try_sql("SELECT * FROM reco.similar_users(999)").starts_with("P0002: "));
        assert!(try_sql("SELECT * FROM reco.similar_users(NULL)").starts_with("22004: "));
        assert!(try_sql("SELECT * FROM reco.similar_users(3, 0)").starts_with("22023: "));
    }

    #[pg_test]
    fn similar_users_before_the_first_refresh_is_empty() {
        tiny_shop();
        assert_eq!(one_i64("SELECT count(*) FROM reco.similar_users(3)"), 0);
    }
}
