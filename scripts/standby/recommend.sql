-- pgbench script (standby serving): reco.recommend() for a random user id 1..max_uid.
\set uid random(1, :max_uid)
SELECT * FROM reco.recommend(:uid, 10);
