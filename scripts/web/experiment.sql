-- A small A/B test with a week of traffic for the experiments page (scripts/web/test.sh, run as
-- the superuser): popularity against the hybrid on placement "home", 400 users served once
-- each through reco.serve(), a click on the first shoe and, with a higher chance in the
-- treatment, a purchase. serve() stamps impressions with now(), so they are moved back to one
-- of the last seven days before the events are logged (log_event() refuses events older than
-- their impression): synthetic data, for the chart to have days to draw.
SELECT reco.create_experiment(:'name',
    '[{"name": "control", "strategy": "popularity", "weight": 50},
      {"name": "treatment", "strategy": "hybrid", "weight": 50}]',
    placement => 'home', minimum_detectable_effect => 0.5);
SELECT reco.start_experiment(:'name');
SELECT setseed(0.42);
DO $$
DECLARE
    u bigint;
    req bigint;
    shoe bigint;
    arm text;
    shown timestamptz;
BEGIN
    FOR u IN 1..400 LOOP
        SELECT s.request_id, s.shoe_id, s.arm INTO req, shoe, arm
        FROM reco.serve(u, 10, 'home') s ORDER BY s.position LIMIT 1;
        shown := date_trunc('day', now()) - make_interval(days => 7 - (u % 7)::int) + interval '10 hours';
        UPDATE reco.impressions SET shown_at = shown WHERE request_id = req;
        PERFORM reco.log_event(req, shoe, 'click', occurred_at => shown + interval '1 minute');
        IF random() < (CASE arm WHEN 'treatment' THEN 0.35 ELSE 0.15 END) THEN
            PERFORM reco.log_event(req, shoe, 'purchase', occurred_at => shown + interval '5 minutes');
        END IF;
    END LOOP;
END
$$;
