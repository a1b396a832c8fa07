-- pgbench script: the naive in-database baseline. Top-10 shoes by the dot product of the user's
-- stored factors (reco.model_users: U * diag(s)) with every shoe's stored factors
-- (reco.model_shoes: V rows) of the active model, in plain SQL. Same users as recommend.sql
-- (random 1..max_uid); the ~5% without interactions have no row in reco.model_users and get an
-- empty answer at once (the baseline has no cold-start path), which only flatters the baseline.
\set uid random(1, :max_uid)
SELECT s.shoe_id,
       (SELECT sum(a * b) FROM unnest(u.factors, s.factors) AS t(a, b)) AS score
  FROM reco.models m
  JOIN reco.model_users u ON u.model_id = m.model_id AND u.user_id = :uid
  JOIN reco.model_shoes s ON s.model_id = m.model_id
 WHERE m.status = 'active'
 ORDER BY score DESC
 LIMIT 10;
