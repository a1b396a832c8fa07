-- Offline evaluation (see src/evaluate.rs): a deterministic time split of the log, and the
-- table where reco.evaluate() stores its results.

CREATE FUNCTION reco.evaluation_split(test_fraction double precision DEFAULT 0.2)
RETURNS TABLE (user_id bigint, shoe_id bigint, action text, weight double precision,
               occurred_at timestamptz, part text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF test_fraction IS NULL OR NOT (test_fraction > 0 AND test_fraction < 1) THEN
        RAISE EXCEPTION 'test_fraction must be > 0 and < 1, got %', coalesce(test_fraction::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Per user, ordered by (occurred_at, interaction_id): the latest ceil(test_fraction * n)
    -- interactions are 'test' when the user has at least 2; a single interaction stays 'train'.
    RETURN QUERY
    SELECT s.user_id, s.shoe_id, s.action, s.weight, s.occurred_at,
           CASE WHEN s.n >= 2 AND s.rn > s.n - ceil(test_fraction * s.n) THEN 'test' ELSE 'train' END
    FROM (SELECT i.user_id, i.shoe_id, i.action, w.weight::float8 AS weight, i.occurred_at,
                 row_number() OVER (PARTITION BY i.user_id ORDER BY i.occurred_at, i.interaction_id) AS rn,
                 count(*) OVER (PARTITION BY i.user_id) AS n
          FROM reco.interactions i JOIN reco.action_weights w ON w.action = i.action) s
    ORDER BY s.user_id, s.rn;
END
$fn$;
COMMENT ON FUNCTION reco.evaluation_split(double precision) IS
    'Every interaction with part = train or test: per user, the latest ceil(test_fraction * n) interactions (users with >= 2) are held out.';

CREATE TABLE reco.evaluations (
    evaluation_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    model_id      bigint REFERENCES reco.models (model_id) ON DELETE SET NULL,
    method        text NOT NULL,
    k             integer NOT NULL,
    test_fraction double precision NOT NULL,
    parameters    jsonb NOT NULL,
    precision_at_k double precision NOT NULL,
    recall_at_k   double precision NOT NULL,
    ndcg_at_k     double precision NOT NULL,
    map_at_k      double precision NOT NULL,
    hit_rate_at_k double precision NOT NULL,
    coverage_at_k double precision NOT NULL,
    users         integer NOT NULL
);
COMMENT ON TABLE reco.evaluations IS 'Results of reco.evaluate(): one row per method per run, with the settings evaluated and the model version active at the time.';
COMMENT ON COLUMN reco.evaluations.run_id IS 'Same for all methods of one evaluate() call.';
COMMENT ON COLUMN reco.evaluations.model_id IS 'The active model version when the evaluation ran (its settings are the ones evaluated; the evaluation trains its own model on the train split).';
CREATE SEQUENCE reco.evaluation_run_seq;
