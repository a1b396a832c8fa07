-- pgbench script: the exact statement reco-web runs for GET /api/recommendations/{uid}
-- (crates/reco-web/src/sql.rs, RECOMMEND: recommend() + the shoes' names), as the reco_web role,
-- so the HTTP layer's own cost is the difference to the wrk numbers.
\set uid random(1, :max_uid)
WITH r AS MATERIALIZED (
    SELECT * FROM reco.recommend(:uid::text::bigint, coalesce(NULL::text::integer, 10),
                                 coalesce(NULL::text::boolean, true), NULL::text, NULL::text, NULL::text::float8)
         WITH ORDINALITY AS r(shoe_id, score, cf_score, content_score, reason, rank))
SELECT r.rank, r.shoe_id, s.name, s.brand, s.type, s.price::float8, r.score::float8,
       r.cf_score::float8, r.content_score::float8, r.reason
FROM r LEFT JOIN reco.shoe_summaries((SELECT array_agg(r2.shoe_id) FROM r r2)) s USING (shoe_id)
ORDER BY r.rank;
