-- pgbench script: reco.serve() for a random existing user, with an experiment running on the
-- placement (scripts/bench/experiments.sh): recommend()'s work plus the assignment and the
-- impression row.
\set uid random(1, :max_uid)
SELECT * FROM reco.serve(:uid, 10, 'home');
