-- The demo session run by scripts/demo.sh (psql -e echoes each statement before its output).
\pset pager off
CREATE EXTENSION reco;
SET search_path = reco, public;
SELECT * FROM load_csv(:'datadir');
-- Before the first refresh recommend() already works (content and popularity).
SELECT * FROM recommend(7, 5);
SELECT model_id, users, shoes, interactions, factors, round(energy::numeric, 3) AS energy,
       round(read_seconds::numeric, 3) AS read_s, round(svd_seconds::numeric, 3) AS svd_s,
       round(tfidf_seconds::numeric, 3) AS tfidf_s, round(write_seconds::numeric, 3) AS write_s
FROM refresh();
SELECT u.user_id, u.age, u.gender, u.primary_usage FROM users u WHERE user_id = 7;
SELECT r.shoe_id, s.name, s.type, round(r.score::numeric, 3) AS score, round(r.cf_score::numeric, 3) AS cf,
       round(r.content_score::numeric, 3) AS content, r.reason
FROM recommend(7, 10) r JOIN shoes s USING (shoe_id);
SELECT * FROM recommend(7, 5, shoe_type => 'hiking', max_price => 150);
SELECT r.shoe_id, s.name, s.brand, s.type, round(r.score::numeric, 3) AS score,
       round(r.content_score::numeric, 3) AS content, round(r.cf_score::numeric, 3) AS cf
FROM similar(42, 10) r JOIN shoes s USING (shoe_id);
SELECT name, brand, type FROM shoes WHERE shoe_id = 42;
-- A new user with a profile but no history (cold start), and an anonymous visitor.
INSERT INTO users (user_id, age, gender, primary_usage) VALUES (100001, 29, 'female', 'hiking');
SELECT * FROM recommend(100001, 5);
SELECT * FROM recommend(NULL, 5);
-- Freshness: a purchase shows up in the very next call, no refresh needed.
INSERT INTO interactions (user_id, shoe_id, action) VALUES (100001, 42, 'purchase');
SELECT * FROM recommend(100001, 5);
SELECT model_id, status, users, shoes, interactions, factors, seconds FROM models;
-- Post-purchase services on one day: care reminders and replacement suggestions.
SELECT service, count(*) FROM due_services('2026-11-01') GROUP BY service ORDER BY service;
SELECT user_id, shoe_id, purchased_on, service, due_on, left(message, 90) AS message, suggestions
FROM due_services('2026-11-01') ORDER BY service, user_id LIMIT 6;
-- Once sent, a service is not returned again.
SELECT mark_service_sent(d.user_id, d.shoe_id, d.purchased_on, d.service, '2026-11-01')
FROM (SELECT * FROM due_services('2026-11-01') ORDER BY service, user_id LIMIT 1) d;
SELECT count(*) AS due_after_marking_one FROM due_services('2026-11-01');
-- A service stays due until it is sent: log the rest of the day's list, and the next day brings
-- only what comes due then.
INSERT INTO services_sent (user_id, shoe_id, purchased_on, service, sent_on)
SELECT user_id, shoe_id, purchased_on, service, '2026-11-01' FROM due_services('2026-11-01');
SELECT count(*) AS due_next_day FROM due_services('2026-11-02');
-- Offline evaluation on a time split (the active model is not touched).
SELECT method, round(precision_at_k::numeric, 4) AS p_at_10, round(recall_at_k::numeric, 4) AS r_at_10,
       round(ndcg_at_k::numeric, 4) AS ndcg_at_10, round(map_at_k::numeric, 4) AS map_at_10,
       round(hit_rate_at_k::numeric, 4) AS hr_at_10, round(coverage_at_k::numeric, 4) AS coverage, users
FROM evaluate(10, 0.2);
SELECT part, count(*) FROM evaluation_split(0.2) GROUP BY part ORDER BY part;
SELECT * FROM evaluation_rankings(10, 0.2) WHERE method = 'reco-hybrid' ORDER BY user_id, rank LIMIT 3;
-- Nightly refresh with pg_cron (the demo cluster preloads it for this database).
CREATE EXTENSION pg_cron;
SELECT schedule_refresh() AS job_id;
SELECT jobname, schedule, command FROM cron.job;
SELECT unschedule_refresh();
-- Model lifecycle: a candidate built with fewer factors, compared with the active version,
-- activated by hand, rolled back; every change is logged (README "Model lifecycle and monitoring").
SET reco.factors = 4;
SELECT model_id, status, round(ndcg_at_10::numeric, 4) AS ndcg_at_10,
       round(quality_seconds::numeric, 3) AS quality_s FROM refresh(activate => false);
RESET reco.factors;
SELECT model_id, status, pinned, factors FROM models ORDER BY model_id;
SELECT users, round(ndcg_a::numeric, 4) AS ndcg_a, round(ndcg_b::numeric, 4) AS ndcg_b,
       round(mean_jaccard::numeric, 3) AS jaccard, round(list_coverage_a::numeric, 3) AS cov_a,
       round(list_coverage_b::numeric, 3) AS cov_b, round(gini_a::numeric, 3) AS gini_a,
       round(gini_b::numeric, 3) AS gini_b
FROM compare_models(1, 2, 200);
SELECT activate(2, 'demo: try the small model');
SELECT rollback();
SELECT activation_id, from_model_id, to_model_id, decision, how, reason FROM model_activations ORDER BY activation_id;
SELECT model_id, users, round(ndcg_at_10::numeric, 4) AS ndcg_at_10, round(recall_at_10::numeric, 4) AS recall_at_10,
       round(coverage_at_10::numeric, 3) AS coverage, status, was_active FROM quality_history ORDER BY model_id;
SELECT function, model_id, calls, errors, cold_start, anonymous, rows, round(p50_ms::numeric, 2) AS p50_ms, note
FROM serving_stats WHERE datname = current_database() OR datname IS NULL ORDER BY function, model_id;
SELECT active_model_id, last_refresh_model_id, last_refresh_status, last_activation, serving_calls FROM health;
-- A/B test: popularity (what a shop shows without personalisation) vs reco's hybrid, 50/50.
-- scripts/demo.sh then sends simulated shoppers through reco.serve() and reco.log_event()
-- (scripts/simulate.sh) and prints experiment_results(). Planned to detect a 100% lift of user
-- conversion (a doubling), so this small shop of 1,000 users reaches its planned sample size.
SELECT create_experiment('demo-pop-vs-hybrid',
    '[{"name": "control", "strategy": "popularity", "weight": 50},
      {"name": "treatment", "strategy": "hybrid", "weight": 50}]',
    placement => 'home', minimum_detectable_effect => 1.0);
