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
-- Dumped with their data: pg_dump dumps the per-version partitions of the model tables (below;
-- they are not members of the extension), so the versions they belong to come along, and the
-- identity keeps counting past them after a restore.
SELECT pg_catalog.pg_extension_config_dump('reco.models', '');
SELECT pg_catalog.pg_extension_config_dump('reco.models_model_id_seq', '');
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
    tfidf_weights real[] NOT NULL
) PARTITION BY LIST (model_id);
COMMENT ON TABLE reco.model_shoes IS 'Per model version and shoe: CF factors (right singular vector rows), popularity and TF-IDF vector.';
COMMENT ON COLUMN reco.model_shoes.factors IS 'Row of V (orthonormal columns): the shoe in factor space.';
COMMENT ON COLUMN reco.model_shoes.popularity IS 'Sum of (decayed) action weights the shoe received.';
COMMENT ON COLUMN reco.model_shoes.tfidf_terms IS 'term_id of each non-zero TF-IDF entry (see reco.model_vocabulary).';
COMMENT ON COLUMN reco.model_shoes.tfidf_weights IS 'TF-IDF weight of each entry of tfidf_terms; the vector is L2-normalised.';

CREATE TABLE reco.model_users (
    model_id bigint NOT NULL,
    user_id  bigint NOT NULL,
    factors  real[] NOT NULL
) PARTITION BY LIST (model_id);
COMMENT ON TABLE reco.model_users IS 'Per model version and user: U * diag(singular values), so the dot product with model_shoes.factors approximates the user''s weight for that shoe. recommend() does not need it (it folds users in live); it serves SQL analysis and the naive baseline.';

CREATE TABLE reco.model_vocabulary (
    model_id bigint NOT NULL,
    term_id  integer NOT NULL,
    term     text NOT NULL,
    idf      double precision NOT NULL
) PARTITION BY LIST (model_id);
COMMENT ON TABLE reco.model_vocabulary IS 'TF-IDF vocabulary of a model version: term and smoothed idf.';

CREATE TABLE reco.model_segments (
    model_id bigint NOT NULL,
    segment  text NOT NULL,
    users    integer NOT NULL,
    shoe_ids bigint[] NOT NULL,
    scores   real[] NOT NULL
) PARTITION BY LIST (model_id);
COMMENT ON TABLE reco.model_segments IS 'Cold-start popularity: the most engaged-with shoes per user segment (usage=..., or usage/gender/age band), best first.';

-- Each model version has its own partition of each of these four tables, reco.<table>_<model_id>.
-- refresh() creates them as plain tables in its transaction, fills them through the table
-- access method's multi-insert (as COPY FROM does; src/bulk.rs), and attaches them, so rows are
-- written without per-row index maintenance (each partition's primary key is built once, after
-- its rows are in) and, with wal_level = minimal, without WAL; on tier M the 95k user rows took
-- 0.8 s through one shared index, 0.3 s by INSERT into a table of their own, and 0.11-0.15 s
-- this way. Pruning a version drops its tables instead of deleting rows.
-- ATTACH takes only a SHARE UPDATE EXCLUSIVE lock on the parent, so readers are not blocked;
-- dropping a partition takes ACCESS EXCLUSIVE on the parent, which refresh() only tries
-- without waiting (see src/refresh.rs). Creating and attaching need ownership of the tables:
-- refresh() is run by the role that owns the extension's tables (or a superuser).
-- The parents have no primary key of their own: each version's table gets one, (model_id, key),
-- built by refresh() after the rows are in. (A key on the parent would make ATTACH build the
-- partition's index, and pg_restore, which then adds the dumped key of the partition, fail.)
CREATE FUNCTION reco.model_tables() RETURNS TABLE (name text, key_column text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    VALUES ('model_shoes', 'shoe_id'), ('model_users', 'user_id'),
           ('model_vocabulary', 'term_id'), ('model_segments', 'segment')
$$;
COMMENT ON FUNCTION reco.model_tables() IS 'Internal: the tables partitioned by model version, and the column that with model_id is the key of each partition.';

CREATE FUNCTION reco.create_model_partitions(version bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m record;
BEGIN
    -- The CHECK matches the partition bound, so ATTACH need not scan the rows to prove it
    -- (19 ms of the user rows on tier M).
    FOR m IN SELECT * FROM reco.model_tables() LOOP
        EXECUTE format('CREATE TABLE reco.%I (LIKE reco.%I, CHECK (model_id = %L::bigint))',
                       m.name || '_' || version, m.name, version);
    END LOOP;
END
$$;

CREATE FUNCTION reco.attach_model_partitions(version bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m record;
BEGIN
    FOR m IN SELECT * FROM reco.model_tables() LOOP
        EXECUTE format('ALTER TABLE reco.%I ADD PRIMARY KEY (model_id, %I)',
                       m.name || '_' || version, m.key_column);
        EXECUTE format('ALTER TABLE reco.%I ATTACH PARTITION reco.%I FOR VALUES IN (%L)',
                       m.name, m.name || '_' || version, version);
    END LOOP;
END
$$;

-- Deleting a version (refresh()'s pruning, or by hand) drops its partitions; TRUNCATE drops all.
CREATE FUNCTION reco.drop_model_partitions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part regclass;
    version bigint;
    m record;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        FOR part IN
            SELECT i.inhrelid::regclass FROM pg_inherits i
            WHERE i.inhparent IN (SELECT ('reco.' || quote_ident(t.name))::regclass
                                  FROM reco.model_tables() AS t)
        LOOP
            EXECUTE format('DROP TABLE %s', part);
        END LOOP;
    ELSE
        FOR version IN SELECT g.model_id FROM gone g LOOP
            FOR m IN SELECT * FROM reco.model_tables() LOOP
                EXECUTE format('DROP TABLE IF EXISTS reco.%I', m.name || '_' || version);
            END LOOP;
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION reco.create_model_partitions(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION reco.attach_model_partitions(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION reco.drop_model_partitions() FROM PUBLIC;
COMMENT ON FUNCTION reco.create_model_partitions(bigint) IS 'Internal, called by refresh(): creates the empty tables reco.<table>_<version> of a model version.';
COMMENT ON FUNCTION reco.attach_model_partitions(bigint) IS 'Internal, called by refresh(): builds the primary key of each table of a model version and attaches it as a partition.';
COMMENT ON FUNCTION reco.drop_model_partitions() IS 'Internal trigger function: deleting a row of reco.models drops the tables of that version; TRUNCATE drops them all.';
CREATE TRIGGER models_drop_partitions
    AFTER DELETE ON reco.models REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION reco.drop_model_partitions();
CREATE TRIGGER models_truncate_partitions
    AFTER TRUNCATE ON reco.models
    FOR EACH STATEMENT EXECUTE FUNCTION reco.drop_model_partitions();

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
