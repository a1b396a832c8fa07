-- pgbench script: the statement reco-web runs for GET /api/recommendations/{uid}
-- (crates/reco-web/src/sql.rs, RECOMMEND: recommend() alone since the shoes' names come from
-- reco-web's cache; the casts of its text parameters included), as the reco_web role, so the
-- HTTP layer's own cost is the difference to the wrk numbers.
\set uid random(1, :max_uid)
SELECT r.shoe_id, r.score::float8, r.cf_score::float8, r.content_score::float8, r.reason
FROM reco.recommend(:uid::text::bigint, coalesce(NULL::text::integer, 10),
                    coalesce(NULL::text::boolean, true), NULL::text, NULL::text, NULL::text::float8) r;
