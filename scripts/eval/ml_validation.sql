-- MovieLens validation data: deletes the test part of reco's 0.2 time split (per user, ordered by
-- occurred_at and interaction_id, the latest ceil(0.2 n) interactions of users with n >= 2), so
-- the same split of what is left is the validation split. Used by run.sh --validation and
-- tune_hybrid.sh.
DELETE FROM reco.interactions i USING (
    SELECT interaction_id,
           row_number() OVER (PARTITION BY user_id ORDER BY occurred_at, interaction_id) AS rn,
           count(*) OVER (PARTITION BY user_id) AS n
    FROM reco.interactions) s
WHERE s.interaction_id = i.interaction_id AND s.n >= 2 AND s.rn > s.n - ceil(0.2 * s.n);
ANALYZE reco.interactions;
