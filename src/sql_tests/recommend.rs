//! SQL-level tests: reco.recommend() and reco.similar(): arguments, filters, fold-in freshness, cold start, stored arrays, planted segments.

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

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
        assert!(
            try_sql("SELECT * FROM reco.recommend(1, 5, max_price => -1)").starts_with("22023")
        );
        assert!(try_sql("SELECT * FROM reco.similar(424242, 5)").starts_with("P0002"));
        assert!(try_sql("SELECT * FROM reco.similar(NULL, 5)").starts_with("22004"));
        assert!(try_sql("SELECT * FROM reco.similar(10, -3)").starts_with("22023"));
    }

    #[pg_test]
    fn content_profile_terms_cuts_the_profile_content_scores_use() {
        install_try_sql();
        tiny_shop();
        Spi::run("SELECT reco.refresh()").unwrap();
        // Shoe id and content score of everything user 1 may get, as text to compare whole.
        let scores = |terms: &str| {
            Spi::run(&format!("SET reco.content_profile_terms = {terms}")).unwrap();
            one_text(
                "SELECT string_agg(shoe_id || ':' || content_score, ',' ORDER BY shoe_id) \
                 FROM reco.recommend(1, 100)",
            )
            .expect("user 1 gets recommendations")
        };
        let all = scores("0");
        // User 1's two running shoes share most words: a profile of one term scores differently,
        // one with more terms than the vocabulary exactly as all of them.
        assert_ne!(scores("1"), all);
        assert_eq!(scores("100000"), all);
        assert!(try_sql("SET reco.content_profile_terms = -1").starts_with("22023"));
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
        let ids = recommended_ids(
            "SELECT shoe_id FROM reco.recommend(1, 100, exclude_purchased => false)",
        );
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
        let ids =
            recommended_ids("SELECT shoe_id FROM reco.recommend(1, 10, denied_ids => ARRAY[11])");
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
        assert!(
            one_i64("SELECT count(*) FROM reco.model_vocabulary WHERE term = 'bergtouren'") == 1
        );
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
        assert_eq!(one_i64(&bad_shape.replace("model_users", "model_shoes")), 0);
        // User 1 viewed (1) and bought (5) shoe 10, viewed (1) shoe 11, never touched shoe 12.
        let cell = |user: i64, shoe: i64| {
            one_f64(&format!(
            "SELECT sum(u.f * s.f)::float8
             FROM reco.model_users mu, reco.model_shoes ms,
                  unnest(mu.factors) WITH ORDINALITY u(f, j), unnest(ms.factors) WITH ORDINALITY s(f, j)
             WHERE mu.user_id = {user} AND ms.shoe_id = {shoe} AND u.j = s.j"
        ))
        };
        for (user, shoe, want) in [
            (1, 10, 6.0),
            (1, 11, 1.0),
            (1, 12, 0.0),
            (2, 11, 3.0),
            (4, 13, 3.0),
        ] {
            let got = cell(user, shoe);
            assert!(
                (got - want).abs() < 1e-4,
                "A[{user}, {shoe}] = {got}, want {want}"
            );
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
}
