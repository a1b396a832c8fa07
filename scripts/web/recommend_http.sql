-- pgbench script: the exact statement reco-web runs for GET /api/recommendations/{uid}
-- (crates/reco-web/src/sql.rs, RECOMMEND: recommend() + shoe names + JSON), as the reco_web role,
-- so the HTTP layer's own cost is the difference to the wrk numbers.
\set uid random(1, :max_uid)
WITH r AS MATERIALIZED (
    SELECT * FROM reco.recommend(:uid::text::bigint, coalesce(NULL::text::integer, 10),
                                 coalesce(NULL::text::boolean, true), NULL::text, NULL::text, NULL::text::float8)
         WITH ORDINALITY AS r(shoe_id, score, cf_score, content_score, reason, rank))
SELECT coalesce(jsonb_agg(jsonb_build_object(
           'rank', r.rank, 'shoe_id', r.shoe_id, 'name', s.name, 'brand', s.brand, 'type', s.type,
           'price', s.price, 'score', r.score, 'cf_score', r.cf_score,
           'content_score', r.content_score, 'reason', r.reason) ORDER BY r.rank), '[]'::jsonb)
FROM r LEFT JOIN reco.shoe_summaries((SELECT array_agg(r2.shoe_id) FROM r r2)) s USING (shoe_id);
