-- pgbench script: reco.recommend() for a random existing user (pgbench -D max_uid=<count of reco.users>).
-- User ids are 1..max_uid (dense, see data/README.md); ~5% of them have no interactions and take the
-- cold-start path -- that share of traffic is kept on purpose (it is what a shop sees).
\set uid random(1, :max_uid)
SELECT * FROM reco.recommend(:uid, 10);
