-- Model versions written by reco.refresh(). Every refresh adds one version in one transaction and
-- makes it the active one when that transaction commits, so readers never see a half-built model.

CREATE TABLE reco.models (
    model_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL CHECK (status IN ('active', 'retired')),
    parameters      jsonb NOT NULL,
    users           integer NOT NULL,
    shoes           integer NOT NULL,
    interactions    bigint NOT NULL,
    factors         integer NOT NULL,
    energy          double precision NOT NULL,
    singular_values double precision[] NOT NULL,
    seconds         jsonb NOT NULL
);
-- At most one active version: the flip from old to new happens inside refresh()'s transaction.
CREATE UNIQUE INDEX models_one_active_idx ON reco.models (status) WHERE status = 'active';
COMMENT ON TABLE reco.models IS 'Model versions built by reco.refresh(); exactly one is active after the first refresh. Old versions are pruned (reco.keep_models).';
COMMENT ON COLUMN reco.models.status IS 'active (served by recommend/similar) or retired.';
COMMENT ON COLUMN reco.models.parameters IS 'Settings the version was built with (factors, oversampling, power iterations, seed, half-life, action weights).';
COMMENT ON COLUMN reco.models.users IS 'Users with at least one interaction (rows of the CF matrix).';
COMMENT ON COLUMN reco.models.shoes IS 'Shoes in the catalogue at refresh time (columns of the CF matrix).';
COMMENT ON COLUMN reco.models.interactions IS 'Interaction rows read.';
COMMENT ON COLUMN reco.models.factors IS 'Number of SVD factors actually kept (<= reco.factors, <= min(users, shoes)).';
COMMENT ON COLUMN reco.models.energy IS 'Share of the squared Frobenius norm of the user x shoe matrix captured by the factors (0..1).';
COMMENT ON COLUMN reco.models.singular_values IS 'Singular values, descending.';
COMMENT ON COLUMN reco.models.seconds IS 'Wall-clock seconds per phase: read, svd, tfidf, write (tfidf runs during read, so the two overlap).';

CREATE TABLE reco.model_shoes (
    model_id      bigint NOT NULL,
    shoe_id       bigint NOT NULL,
    factors       real[] NOT NULL,
    popularity    real NOT NULL,
    tfidf_terms   integer[] NOT NULL,
    tfidf_weights real[] NOT NULL,
    PRIMARY KEY (model_id, shoe_id)
);
COMMENT ON TABLE reco.model_shoes IS 'Per model version and shoe: CF factors (right singular vector rows), popularity and TF-IDF vector.';
COMMENT ON COLUMN reco.model_shoes.factors IS 'Row of V (orthonormal columns): the shoe in factor space.';
COMMENT ON COLUMN reco.model_shoes.popularity IS 'Sum of (decayed) action weights the shoe received.';
COMMENT ON COLUMN reco.model_shoes.tfidf_terms IS 'term_id of each non-zero TF-IDF entry (see reco.model_vocabulary).';
COMMENT ON COLUMN reco.model_shoes.tfidf_weights IS 'TF-IDF weight of each entry of tfidf_terms; the vector is L2-normalised.';

CREATE TABLE reco.model_users (
    model_id bigint NOT NULL,
    user_id  bigint NOT NULL,
    factors  real[] NOT NULL,
    PRIMARY KEY (model_id, user_id)
);
COMMENT ON TABLE reco.model_users IS 'Per model version and user: U * diag(singular values), so the dot product with model_shoes.factors approximates the user''s weight for that shoe. recommend() does not need it (it folds users in live); it serves SQL analysis and the naive baseline.';

CREATE TABLE reco.model_vocabulary (
    model_id bigint NOT NULL,
    term_id  integer NOT NULL,
    term     text NOT NULL,
    idf      double precision NOT NULL,
    PRIMARY KEY (model_id, term_id)
);
COMMENT ON TABLE reco.model_vocabulary IS 'TF-IDF vocabulary of a model version: term and smoothed idf.';

CREATE TABLE reco.model_segments (
    model_id bigint NOT NULL,
    segment  text NOT NULL,
    users    integer NOT NULL,
    shoe_ids bigint[] NOT NULL,
    scores   real[] NOT NULL,
    PRIMARY KEY (model_id, segment)
);
COMMENT ON TABLE reco.model_segments IS 'Cold-start popularity: the most engaged-with shoes per user segment (usage=..., or usage/gender/age band), best first.';

-- Deleting a version deletes its rows. This is a statement trigger, not foreign keys with ON DELETE
-- CASCADE: a foreign key checks every inserted row against reco.models (a trigger call and an
-- index probe per row), which was 1 s of the 1.6 s it took refresh() to write 95k user rows on
-- tier M. refresh() is the only writer of these tables and inserts the reco.models row first.
CREATE FUNCTION reco.delete_model_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE reco.model_shoes, reco.model_users, reco.model_vocabulary, reco.model_segments;
        RETURN NULL;
    END IF;
    DELETE FROM reco.model_shoes      WHERE model_id IN (SELECT model_id FROM gone);
    DELETE FROM reco.model_users      WHERE model_id IN (SELECT model_id FROM gone);
    DELETE FROM reco.model_vocabulary WHERE model_id IN (SELECT model_id FROM gone);
    DELETE FROM reco.model_segments   WHERE model_id IN (SELECT model_id FROM gone);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION reco.delete_model_rows() FROM PUBLIC;
CREATE TRIGGER models_delete_rows
    AFTER DELETE ON reco.models REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION reco.delete_model_rows();
CREATE TRIGGER models_truncate_rows
    AFTER TRUNCATE ON reco.models
    FOR EACH STATEMENT EXECUTE FUNCTION reco.delete_model_rows();

-- Changed by any change to reco.shoes, so a backend's cached catalogue knows when to reload.
-- A row, because it must be transactional (readers see the new value only with the change), set
-- from a sequence, because a value must never come back: a transaction that rebuilt a backend's
-- cache and then rolled back must not leave a key that a later, different catalogue also gets.
CREATE SEQUENCE reco.catalog_version_seq;
CREATE TABLE reco.catalog_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO reco.catalog_version (singleton, version) VALUES (true, 0);
COMMENT ON TABLE reco.catalog_version IS 'Internal: set to a new value by every statement that changes reco.shoes.';
COMMENT ON COLUMN reco.catalog_version.singleton IS 'Always true: the table has one row.';
COMMENT ON COLUMN reco.catalog_version.version IS 'Catalogue version; never reused (from reco.catalog_version_seq).';

-- SECURITY DEFINER: a role allowed to edit reco.shoes need not be granted this internal table.
CREATE FUNCTION reco.bump_catalog_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE reco.catalog_version SET version = nextval('reco.catalog_version_seq');
    RETURN NULL;
END
$$;
CREATE TRIGGER shoes_bump_catalog_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON reco.shoes
    FOR EACH STATEMENT EXECUTE FUNCTION reco.bump_catalog_version();
-- Fire also under session_replication_role = replica (logical replication, bulk loads).
ALTER TABLE reco.shoes ENABLE ALWAYS TRIGGER shoes_bump_catalog_version;
