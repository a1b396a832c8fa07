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
