-- pgbench script (standby serving): reco.similar() for a random shoe id 1..max_sid.
\set sid random(1, :max_sid)
SELECT * FROM reco.similar(:sid, 10);
