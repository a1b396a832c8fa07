-- reco 0.1.0 -> 0.2.0 (ALTER EXTENSION reco UPDATE). A fresh CREATE EXTENSION runs this file too,
-- after the 0.1.0 objects (src/lib.rs), so an updated database and a new one have the same
-- objects; the upgrade test compares the two catalog by catalog.
--
-- pg_dump and pg_restore keep everything a shop put into reco's tables:

-- 1. Custom action weights. pg_dump dumps every row of reco.action_weights (they are the shop's
--    settings), but the restore's CREATE EXTENSION has already inserted the built-in rows, and
--    the dumped ones failed on the primary key, so pg_restore dropped them all. A row inserted
--    for a built-in action that still has its built-in weight now replaces that weight.
CREATE FUNCTION reco.action_weights_replace_builtin() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE reco.action_weights AS w SET weight = NEW.weight
    WHERE w.action OPERATOR(pg_catalog.=) NEW.action
      AND (w.action, w.weight) IN (('view', 1::float8), ('add_to_wishlist', 3::float8),
                                   ('purchase', 5::float8));
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION reco.action_weights_replace_builtin() FROM PUBLIC;
COMMENT ON FUNCTION reco.action_weights_replace_builtin() IS 'Internal trigger function: inserting a row for a built-in action (view, add_to_wishlist, purchase) that still has its built-in weight sets its weight instead of failing on the key, so pg_restore brings back custom weights.';
CREATE TRIGGER action_weights_replace_builtin
    BEFORE INSERT ON reco.action_weights
    FOR EACH ROW EXECUTE FUNCTION reco.action_weights_replace_builtin();

-- 2. The interaction id sequence: an extension member, so pg_dump left it out, and the first
--    plain INSERT after a restore got id 1 again (23505). The same for the evaluations' ids.
SELECT pg_catalog.pg_extension_config_dump('reco.interactions_interaction_id_seq', '');

-- 3. Stored evaluations (reco.evaluate()'s results) are the shop's history too.
SELECT pg_catalog.pg_extension_config_dump('reco.evaluations', '');
SELECT pg_catalog.pg_extension_config_dump('reco.evaluations_evaluation_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reco.evaluation_run_seq', '');

-- 4. The item-item component (src/refresh.rs, reco_core::itemknn): every model version keeps
--    each shoe's top-N neighbours. Versions built before the update keep NULL here and are
--    served without the item-item part.
ALTER TABLE reco.model_shoes
    ADD COLUMN neighbour_ids bigint[],
    ADD COLUMN neighbour_weights real[];
COMMENT ON COLUMN reco.model_shoes.neighbour_ids IS 'The shoe''s item-item neighbours (shoe ids), most similar first: the reco.knn_neighbours shoes with the highest shrunk cosine over the users they share. NULL in versions built before 0.2.0.';
COMMENT ON COLUMN reco.model_shoes.neighbour_weights IS 'Similarity of each neighbour in neighbour_ids: co-occurrence / (product of the norms + reco.knn_shrinkage), on ln(1 + weight) interaction values.';

-- 5. Audience similarity. In a new installation this file runs after pgrx created the same
--    function, so it is CREATE OR REPLACE with pgrx's definition, word for word.
CREATE OR REPLACE FUNCTION reco."similar_users"(
	"user_id" bigint, /* Option < i64 > */
	"k" INT DEFAULT 10 /* Option < i32 > */
) RETURNS TABLE (
	"user_id" bigint,  /* i64 */
	"score" double precision  /* f64 */
)
PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'similar_users_wrapper';
