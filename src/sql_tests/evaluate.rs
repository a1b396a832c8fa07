//! SQL-level tests: reco.evaluate(), reco.evaluation_rankings() and time decay.

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

    #[pg_test]
    fn evaluate_scores_methods_without_touching_the_active_model() {
        load_shop();
        Spi::run("SELECT reco.refresh()").unwrap();
        let active = one_i64("SELECT model_id FROM reco.models WHERE status = 'active'");
        type MetricsRow = (String, f64, f64, f64, f64, f64, f64, i32);
        let metrics: Vec<MetricsRow> = Spi::connect(|c| {
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
        assert_eq!(
            names,
            vec!["hybrid", "cf", "itemknn", "content", "popularity"]
        );
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
        assert_eq!(one_i64("SELECT count(*) FROM reco.evaluations"), 5);
        assert_eq!(
            one_i64(
                "SELECT count(DISTINCT model_id) FROM reco.evaluations WHERE model_id IS NOT NULL"
            ),
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
}
