//! SQL-level tests: A/B tests (sql/reco--0.2.0--0.3.0.sql, src/experiments.rs): experiments and
//! their errors, assignment, serve(), events, results and ratings. The statistics themselves are
//! unit-tested against scipy in reco_core::experiment_stats (including 400 A/A experiments).

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

    const POPULARITY_VS_HYBRID: &str = r#"[{"name": "control", "strategy": "popularity", "weight": 50},
                                           {"name": "treatment", "strategy": "hybrid", "weight": 50}]"#;

    fn shop_with_model() {
        load_shop();
        Spi::run("SELECT * FROM reco.refresh()").unwrap();
        install_try_sql();
    }

    fn create(name: &str, arms: &str) -> String {
        try_sql(&format!(
            "SELECT reco.create_experiment('{name}', '{arms}'::jsonb)"
        ))
    }

    fn served(q: &str) -> Vec<String> {
        Spi::connect(|c| {
            c.select(q, None, &[])
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap_or_default())
                .collect()
        })
    }

    #[pg_test]
    fn bad_experiments_are_refused_with_sqlstates() {
        shop_with_model();
        for (arms, code, words) in [
            ("[]", "22023", "at least two arms"),
            ("{}", "22023", "at least two arms"),
            (
                r#"[{"name": "a", "strategy": "hybrid", "weight": 1}]"#,
                "22023",
                "at least two arms",
            ),
            (
                r#"[{"name": "a", "strategy": "hybrid", "weight": 0}, {"name": "b", "strategy": "popularity", "weight": 0}]"#,
                "22023",
                "sum to 0",
            ),
            (
                r#"[{"name": "a", "strategy": "hybrid", "weight": -1}, {"name": "b", "strategy": "popularity", "weight": 2}]"#,
                "22023",
                "not a finite number >= 0",
            ),
            (
                r#"[{"name": "a", "strategy": "hybrid", "weight": "x"}, {"name": "b", "strategy": "popularity", "weight": 2}]"#,
                "22023",
                "numeric weight",
            ),
            (
                r#"[{"name": "a", "strategy": "magic", "weight": 1}, {"name": "b", "strategy": "popularity", "weight": 1}]"#,
                "22023",
                "not popularity, hybrid or model",
            ),
            (
                r#"[{"name": "a", "strategy": "hybrid", "weight": 1}, {"name": "a", "strategy": "popularity", "weight": 1}]"#,
                "22023",
                "unique, non-empty name",
            ),
            (
                r#"[{"name": "a", "strategy": "hybrid", "weight": 1, "colour": "red"}, {"name": "b", "strategy": "popularity", "weight": 1}]"#,
                "22023",
                "with the keys",
            ),
            (
                r#"[{"name": "a", "strategy": "model", "model_id": 999999, "weight": 1}, {"name": "b", "strategy": "popularity", "weight": 1}]"#,
                "P0002",
                "model 999999 does not exist",
            ),
        ] {
            let got = create("bad", arms);
            assert!(
                got.starts_with(code) && got.contains(words),
                "{arms}: {got}"
            );
        }
        assert_eq!(create("split", POPULARITY_VS_HYBRID), "ok");
        assert!(create("split", POPULARITY_VS_HYBRID).starts_with("23505"));
        assert!(try_sql("SELECT reco.create_experiment(NULL, '[]')").starts_with("22004"));
        for q in [
            "SELECT reco.start_experiment('nope')",
            "SELECT * FROM reco.experiment_results('nope')",
        ] {
            assert!(try_sql(q).starts_with("P0002"), "{q}");
        }
        // Lifecycle: draft -> running -> paused -> running -> stopped, nothing else.
        assert!(try_sql("SELECT reco.pause_experiment('split')").starts_with("55000"));
        assert_eq!(try_sql("SELECT reco.start_experiment('split')"), "ok");
        assert!(try_sql("SELECT reco.start_experiment('split')").starts_with("55000"));
        // Frozen arms, seed and placement once started.
        for change in ["arms = arms || '[]'::jsonb || '[{\"name\": \"c\", \"strategy\": \"hybrid\", \"weight\": 1}]'::jsonb", "seed = seed + 1", "placement = 'pdp'"] {
            let got = try_sql(&format!("UPDATE reco.experiments SET {change} WHERE name = 'split'"));
            assert!(got.starts_with("55000") && got.contains("frozen"), "{change}: {got}");
        }
        // One live experiment per placement.
        assert_eq!(create("second", POPULARITY_VS_HYBRID), "ok");
        let got = try_sql("SELECT reco.start_experiment('second')");
        assert!(
            got.starts_with("23505") && got.contains("live on placement"),
            "{got}"
        );
        assert_eq!(try_sql("SELECT reco.pause_experiment('split')"), "ok");
        assert!(try_sql("SELECT reco.start_experiment('second')").starts_with("23505"));
        assert_eq!(try_sql("SELECT reco.stop_experiment('split')"), "ok");
        assert!(try_sql("SELECT reco.start_experiment('split')").starts_with("55000"));
        assert_eq!(try_sql("SELECT reco.start_experiment('second')"), "ok");
    }

    #[pg_test]
    fn serve_without_an_experiment_is_recommend_and_records_the_impression() {
        shop_with_model();
        let want = served("SELECT shoe_id::text FROM reco.recommend(7, 5)");
        let got = served(
            "SELECT shoe_id::text || ':' || position || ':' || arm FROM reco.serve(7, 5) ORDER BY position",
        );
        let expected: Vec<String> = want
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{s}:{}:default", i + 1))
            .collect();
        assert_eq!(got, expected);
        assert_eq!(
            one_text(
                "SELECT format('%s|%s|%s|%s', experiment_id, arm, user_id, array_to_string(shoe_ids, ',')) FROM reco.impressions"
            )
            .unwrap(),
            format!("||7|{}", want.join(","))
        );
    }

    #[pg_test]
    fn users_are_assigned_by_the_documented_hash_and_keep_their_arm() {
        shop_with_model();
        // Reference values of the hash (computed by an independent implementation; see
        // reco_core::experiment_stats): bucket(42, user 1) = 2632, bucket(2024, 'visitor-abc') = 5467.
        assert_eq!(
            one_i64("SELECT reco.experiment_bucket(42, 1::bigint)"),
            2632
        );
        assert_eq!(
            one_i64("SELECT reco.experiment_bucket(2024, 'visitor-abc')"),
            5467
        );
        assert_eq!(create("split", POPULARITY_VS_HYBRID), "ok");
        Spi::run("UPDATE reco.experiments SET seed = 42 WHERE name = 'split'").unwrap();
        Spi::run("SELECT reco.start_experiment('split')").unwrap();
        // Buckets below 5000 are the control's (50 / 100 of the weight).
        let mismatched = one_i64(
            "SELECT count(*) FROM generate_series(1, 200) u,
                 LATERAL (SELECT arm FROM reco.serve(u, 3) LIMIT 1) s
             WHERE s.arm <> CASE WHEN reco.experiment_bucket(42, u::bigint) < 5000 THEN 'control' ELSE 'treatment' END",
        );
        assert_eq!(mismatched, 0);
        let arms = one_text(
            "SELECT string_agg(DISTINCT arm, ',' ORDER BY arm) FROM reco.impressions WHERE experiment_id IS NOT NULL",
        );
        assert_eq!(arms.as_deref(), Some("control,treatment"));
        // The same user, again: the same arm. The control ranks by popularity, the treatment as
        // recommend() does.
        for u in 1..=30 {
            let arm1 = one_text(&format!("SELECT arm FROM reco.serve({u}, 3) LIMIT 1")).unwrap();
            let arm2 = one_text(&format!("SELECT arm FROM reco.serve({u}, 3) LIMIT 1")).unwrap();
            assert_eq!(arm1, arm2);
            let list = served(&format!(
                "SELECT shoe_id::text || ' ' || reason FROM reco.serve({u}, 3) ORDER BY position"
            ));
            if arm1 == "treatment" {
                assert_eq!(
                    list,
                    served(&format!(
                        "SELECT shoe_id::text || ' ' || reason FROM reco.recommend({u}, 3)"
                    ))
                );
            } else {
                assert!(
                    list.iter().all(|r| r.ends_with(" popular in the shop")),
                    "{list:?}"
                );
            }
        }
        // Anonymous visitors by their key; without a key, outside the experiment.
        let want = if one_i64("SELECT reco.experiment_bucket(42, 'visitor-abc')") < 5000 {
            "control"
        } else {
            "treatment"
        };
        assert_eq!(
            one_text("SELECT arm FROM reco.serve(NULL, 3, visitor => 'visitor-abc') LIMIT 1")
                .as_deref(),
            Some(want)
        );
        assert_eq!(
            one_text("SELECT arm FROM reco.serve(NULL, 3) LIMIT 1").as_deref(),
            Some("default")
        );
        assert_eq!(
            one_i64("SELECT count(*) FROM reco.impressions WHERE user_id IS NULL AND visitor IS NULL AND experiment_id IS NULL"),
            1
        );
        // The shares follow the weights: 200 users, about 100 each.
        let control =
            one_i64("SELECT count(DISTINCT user_id) FROM reco.impressions WHERE arm = 'control'");
        assert!((70..=130).contains(&control), "{control}");
    }

    #[pg_test]
    fn a_paused_experiment_serves_its_control_and_records_no_exposure() {
        shop_with_model();
        assert_eq!(create("split", POPULARITY_VS_HYBRID), "ok");
        Spi::run("SELECT reco.start_experiment('split'); SELECT reco.pause_experiment('split')")
            .unwrap();
        let arms = one_text(
            "SELECT string_agg(DISTINCT s.arm, ',') FROM generate_series(1, 50) u, LATERAL reco.serve(u, 3) s",
        );
        assert_eq!(arms.as_deref(), Some("control"));
        assert_eq!(
            one_i64("SELECT count(*) FROM reco.impressions WHERE experiment_id IS NOT NULL"),
            0
        );
        assert_eq!(
            one_i64("SELECT count(*) FROM reco.serve(3, 3) WHERE reason <> 'popular in the shop'"),
            0
        );
    }

    #[pg_test]
    fn log_event_checks_its_input_deduplicates_and_feeds_the_log() {
        shop_with_model();
        let request = one_i64("SELECT request_id FROM reco.serve(7, 5) LIMIT 1");
        let shown: Vec<i64> = Spi::connect(|c| {
            c.select(
                &format!(
                    "SELECT unnest(shoe_ids) FROM reco.impressions WHERE request_id = {request}"
                ),
                None,
                &[],
            )
            .unwrap()
            .map(|r| r.get::<i64>(1).unwrap().unwrap())
            .collect()
        });
        let (first, second) = (shown[0], shown[1]);
        let not_shown = one_i64(&format!(
            "SELECT min(shoe_id) FROM reco.shoes WHERE shoe_id <> ALL (ARRAY{shown:?})"
        ));
        let event = |q: &str| try_sql(&format!("SELECT reco.log_event({q})"));
        assert_eq!(event(&format!("{request}, {first}, 'click'")), "ok");
        // A repeat is ignored.
        assert_eq!(
            one_text(&format!(
                "SELECT reco.log_event({request}, {first}, 'click')::text"
            )),
            None
        );
        for (args, code) in [
            (format!("999999999, {first}, 'click'"), "P0002"),
            (format!("{request}, {not_shown}, 'click'"), "22023"),
            (format!("{request}, {first}, 'like'"), "22023"),
            (format!("{request}, {first}, 'purchase', -1"), "22023"),
            (format!("{request}, {first}, 'click', 10"), "22023"),
            (
                format!("{request}, {first}, 'click', occurred_at => now() - interval '1 hour'"),
                "22023",
            ),
            (
                format!("{request}, {first}, 'click', user_id => 8"),
                "22023",
            ),
            (format!("NULL, {first}, 'click'"), "22004"),
            (format!("{request}, NULL, 'click'"), "22004"),
        ] {
            let got = event(&args);
            assert!(got.starts_with(code), "log_event({args}): {got}");
        }
        // A purchase at the shoe's price, into the interaction log at once: the next
        // recommendations no longer offer it.
        let interactions = one_i64("SELECT count(*) FROM reco.interactions");
        assert_eq!(event(&format!("{request}, {first}, 'purchase'")), "ok");
        assert_eq!(
            one_i64("SELECT count(*) FROM reco.interactions"),
            interactions + 1
        );
        assert_eq!(
            one_i64(&format!(
                "SELECT count(*) FROM reco.events e JOIN reco.shoes s USING (shoe_id)
                 WHERE e.kind = 'purchase' AND e.order_value = s.price AND e.shoe_id = {first}"
            )),
            1
        );
        assert_eq!(
            one_i64(&format!(
                "SELECT count(*) FROM reco.recommend(7, 20) WHERE shoe_id = {first}"
            )),
            0
        );
        // Without a request id: attributed to the user's latest impression that showed the shoe.
        let attributed = one_i64(&format!(
            "SELECT reco.log_event(NULL, {second}, 'add_to_cart', user_id => 7)"
        ));
        assert_eq!(
            one_i64(&format!(
                "SELECT request_id FROM reco.events WHERE event_id = {attributed}"
            )),
            request
        );
        assert_eq!(
            one_text(&format!(
                "SELECT reco.log_event(NULL, {not_shown}, 'click', user_id => 7)::text"
            )),
            None
        );
        assert_eq!(one_i64("SELECT count(*) FROM reco.events"), 3);
    }

    /// A started experiment of two hybrid arms with planted outcomes written straight into the
    /// log: `users` users per arm (plus `extra_treatment` more in the treatment), a share
    /// `control_rate` / `treatment_rate` of them buy once for 100, every user saw 2 lists and
    /// clicked one shoe in 30% of them.
    fn planted(mde: f64, users: i64, extra_treatment: i64, control_rate: f64, treatment_rate: f64) {
        Spi::run(&format!(
            "SELECT reco.create_experiment('planted', '[{{\"name\": \"A\", \"strategy\": \"hybrid\", \"weight\": 1}},
                                                        {{\"name\": \"B\", \"strategy\": \"hybrid\", \"weight\": 1}}]', 'home', {mde});
             SELECT reco.start_experiment('planted');
             INSERT INTO reco.impressions (experiment_id, arm, placement, user_id, shoe_ids)
                 SELECT e.experiment_id, arm, 'home', u, ARRAY[1, 2, 3]::bigint[]
                 FROM reco.experiments e,
                      LATERAL (SELECT 'A' AS arm, g AS u FROM generate_series(1, {users}) g
                               UNION ALL SELECT 'B', 100000 + g FROM generate_series(1, {users} + {extra_treatment}) g) x,
                      generate_series(1, 2) visit
                 WHERE e.name = 'planted';
             INSERT INTO reco.events (request_id, shoe_id, kind, order_value)
                 SELECT DISTINCT ON (user_id) request_id, 1, 'purchase', 100 FROM reco.impressions
                 WHERE ((user_id * 7919) % 1000) < 1000 * CASE arm WHEN 'A' THEN {control_rate} ELSE {treatment_rate} END
                 ORDER BY user_id, request_id;
             INSERT INTO reco.events (request_id, shoe_id, kind)
                 SELECT request_id, 2, 'click' FROM reco.impressions WHERE (request_id * 104729) % 10 < 3;"
        ))
        .unwrap();
    }

    fn result(column: &str, arm: &str) -> Option<String> {
        one_text(&format!(
            "SELECT {column}::text FROM reco.experiment_results('planted') WHERE arm = '{arm}'"
        ))
    }

    #[pg_test]
    fn a_planted_lift_is_detected_at_the_planned_sample_size() {
        install_try_sql();
        // 10% -> 13% with 4,000 users per arm; planned for a 30% relative lift: 1,774 per arm.
        planted(0.3, 4000, 0, 0.10, 0.13);
        assert_eq!(result("users", "A").as_deref(), Some("4000"));
        assert_eq!(result("conversions", "A").as_deref(), Some("400"));
        assert_eq!(result("conversions", "B").as_deref(), Some("520"));
        assert_eq!(result("impressions", "B").as_deref(), Some("8000"));
        assert_eq!(result("verdict", "A").as_deref(), Some("control"));
        assert_eq!(result("verdict", "B").as_deref(), Some("better"));
        let p: f64 = result("conversion_p_value", "B").unwrap().parse().unwrap();
        assert!(p < 0.001, "{p}");
        let (low, high): (f64, f64) = (
            result("conversion_ci_low", "B").unwrap().parse().unwrap(),
            result("conversion_ci_high", "B").unwrap().parse().unwrap(),
        );
        assert!(low < 0.03 && 0.03 < high && low > 0.0, "{low} {high}");
        assert_eq!(result("aov", "B").as_deref(), Some("100"));
        let rpu_p: f64 = result("revenue_per_user_p_value", "B")
            .unwrap()
            .parse()
            .unwrap();
        assert!(rpu_p < 0.001);
        let srm: f64 = result("srm_p_value", "A").unwrap().parse().unwrap();
        assert!(srm > 0.5, "{srm}");
        // The same answer when recomputed.
        let all = "SELECT string_agg(r::text, E'\\n') FROM reco.experiment_results('planted') r";
        assert_eq!(one_text(all), one_text(all));
        // The plan is the public sample-size function's.
        assert_eq!(
            result("required_users_per_arm", "A"),
            one_text("SELECT reco.sample_size_per_arm(0.1, 0.3)::text")
        );
        assert_eq!(one_i64("SELECT reco.sample_size_per_arm(0.1, 0.2)"), 3841);
        assert!(try_sql("SELECT reco.sample_size_per_arm(0.1, 0)").starts_with("22023"));
        assert!(try_sql("SELECT reco.sample_size_per_arm(NULL, 0.1)").starts_with("22004"));
        // Planned for a 10% lift (14,750 per arm), the same data is underpowered.
        Spi::run(
            "UPDATE reco.experiments SET minimum_detectable_effect = 0.1 WHERE name = 'planted'",
        )
        .unwrap();
        assert_eq!(result("verdict", "B").as_deref(), Some("underpowered"));
        // The per-request totals the results read match the events, also after a delete.
        let totals = "SELECT (SELECT count(*) FROM reco.events)::text || '/' || \
                      (SELECT sum(clicks + cart_adds + orders) FROM reco.request_totals)::text || '/' || \
                      (SELECT coalesce(sum(order_value), 0) FROM reco.events)::text || '/' || \
                      (SELECT sum(revenue) FROM reco.request_totals)::text";
        let parts: Vec<String> = one_text(totals)
            .unwrap()
            .split('/')
            .map(str::to_string)
            .collect();
        assert_eq!((&parts[0], &parts[2]), (&parts[1], &parts[3]), "{parts:?}");
        Spi::run("DELETE FROM reco.events WHERE event_id % 7 = 0").unwrap();
        let parts: Vec<String> = one_text(totals)
            .unwrap()
            .split('/')
            .map(str::to_string)
            .collect();
        assert_eq!(
            (&parts[0], &parts[2]),
            (&parts[1], &parts[3]),
            "after a delete: {parts:?}"
        );
        Spi::run("TRUNCATE reco.events").unwrap();
        assert_eq!(one_i64("SELECT count(*) FROM reco.request_totals"), 0);
    }

    #[pg_test]
    fn a_tampered_split_is_flagged_as_srm_before_any_winner() {
        install_try_sql();
        // 4,000 vs 4,400 users on a 50/50 split: chi-squared 19.0, p about 1e-5.
        planted(0.3, 4000, 400, 0.10, 0.13);
        let srm: f64 = result("srm_p_value", "B").unwrap().parse().unwrap();
        assert!(srm < 0.001, "{srm}");
        assert_eq!(result("verdict", "A").as_deref(), Some("SRM"));
        assert_eq!(result("verdict", "B").as_deref(), Some("SRM"));
    }

    #[pg_test]
    fn a_thumbs_down_removes_the_shoe_at_once_and_counts_against_its_look_alikes() {
        shop_with_model();
        let top = one_i64("SELECT shoe_id FROM reco.recommend(7, 1)");
        // The shoe most like it, and its score for user 7 before.
        let twin = one_i64(&format!(
            "SELECT s.shoe_id FROM reco.similar({top}, 20) s JOIN reco.recommend(7, 300) r USING (shoe_id) LIMIT 1"
        ));
        let score = |id: i64| {
            one_f64(&format!(
                "SELECT score FROM reco.recommend(7, 300) WHERE shoe_id = {id}"
            ))
        };
        let before = score(twin);
        assert_eq!(try_sql(&format!("SELECT reco.rate(7, {top}, -1)")), "ok");
        for q in [
            "SELECT count(*) FROM reco.recommend(7, 300) WHERE shoe_id = $1",
            "SELECT count(*) FROM reco.serve(7, 300) WHERE shoe_id = $1",
        ] {
            let n = Spi::get_one_with_args::<i64>(q, &[top.into()])
                .unwrap()
                .unwrap();
            assert_eq!(n, 0, "{q}");
        }
        assert!(score(twin) < before, "{} vs {before}", score(twin));
        // A later thumbs up holds: the shoe may come back, and it counts like a wishlist add.
        let wishlist = "SELECT count(*) FROM reco.interactions WHERE user_id = 7 AND action = 'add_to_wishlist'";
        let wished = one_i64(wishlist);
        assert_eq!(try_sql(&format!("SELECT reco.rate(7, {top}, 1)")), "ok");
        assert_eq!(one_i64(wishlist), wished + 1);
        assert_eq!(
            one_i64("SELECT count(*) FROM reco.ratings WHERE user_id = 7"),
            2
        );
        for (q, code) in [
            (format!("SELECT reco.rate(7, {top}, 0)"), "22023"),
            (format!("SELECT reco.rate(7, {top}, NULL)"), "22004"),
            ("SELECT reco.rate(7, 99999999, 1)".to_string(), "23503"),
            (format!("SELECT reco.rate(7, {top}, 1, 99999999)"), "22023"),
        ] {
            let got = try_sql(&q);
            assert!(got.starts_with(code), "{q}: {got}");
        }
    }
}
