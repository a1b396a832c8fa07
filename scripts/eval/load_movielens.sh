#!/usr/bin/env bash
# Loads MovieLens ml-latest-small into a database that has `CREATE EXTENSION reco`, as real data
# for the accuracy evaluation (scripts/eval/run.sh, reco.evaluate()).
#
# Data: MovieLens ml-latest-small, read in place from $RECO_MOVIELENS_DIR (default: the repo's
# sibling ../shared/datasets/ml-latest-small). It is never copied into the repository.
#   Acknowledgement (required by the dataset's licence): F. Maxwell Harper and Joseph A. Konstan.
#   2015. The MovieLens Datasets: History and Context. ACM Transactions on Interactive Intelligent
#   Systems (TiiS) 5, 4: 19:1-19:19. https://doi.org/10.1145/2827872
#   The data are GroupLens Research's (University of Minnesota), used for research only; no
#   endorsement by the University of Minnesota or GroupLens is stated or implied.
#
# Connection: psql with the usual PG* environment variables (PGHOST, PGPORT, PGDATABASE, PGUSER).
# Client-side \copy, so the files only need to be readable by the user running this script.
#
# DESTRUCTIVE: it empties the catalogue and the log first with
#   TRUNCATE reco.users, reco.shoes, reco.interactions CASCADE
# (CASCADE also empties every table with a foreign key to them). Model versions (reco.models...)
# are left alone; run reco.refresh() afterwards. Everything runs in one transaction.
#
# Mapping (movies are the catalogue, ratings the interaction log):
#   movies.csv  movieId  -> shoes.shoe_id
#               title    -> shoes.name (with its "(year)", so the year is a TF-IDF word)
#               brand    -> the release decade, e.g. '1990s' ('undated' when the title has no
#                           year). ml-latest-small has no studio or director, and brand must be
#                           non-empty text; the decade is the closest thing to a "label" a movie has
#                           here, it becomes the field token brand=1990s in the TF-IDF text (a real
#                           era feature, not a constant that every movie would share), and the
#                           reason "same brand as <movie> you bought" then means "same decade".
#               genres   -> shoes.type = the first listed genre, lowercased ('none' for
#                           "(no genres listed)");
#                           shoes.description = all genres, then the movie's distinct user tags
#                           from tags.csv (case-insensitively deduplicated, sorted), joined by ', '.
#                           Set RECO_MOVIELENS_TAGS=0 to leave tags out (tags are written by the
#                           same users whose later ratings are held out, a mild leak into content).
#               material, color, price, care_instructions -> NULL; lifespan_days -> 365 (must be
#               > 0; replacement suggestions are meaningless for movies); active -> true;
#               created_at -> the movie's first rating or tag time (now() if none).
#   ratings.csv userId   -> users.user_id, with NULL age, gender and primary_usage (MovieLens has
#                           no demographics; cold start falls back to overall popularity);
#                           created_at -> the user's first rating.
#               each rating -> one interaction at its timestamp (UTC epoch seconds):
#                 rating >= 4.0 -> action 'purchase'  (weight 5 in reco.action_weights; relevant)
#                 rating <  4.0 -> action 'view'      (weight 1; never relevant)
#               'add_to_wishlist' is not used: it counts as relevant in the evaluation, and only
#               ratings >= 4 may be relevant. So a low rating still says "watched it" (a weak
#               positive for CF, as a view is for a shoe), a high one says "liked it".
#               interaction_id = the rating's line number in ratings.csv (1-based, header
#               excluded), so ties in occurred_at (same second) break in file order,
#               deterministically; the identity sequence is moved past the largest id.
#   tags.csv    only feeds descriptions (above); links.csv is not used.
#
# Usage: PGHOST=/tmp PGPORT=55466 PGDATABASE=reco_eval bash scripts/eval/load_movielens.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DATA="${RECO_MOVIELENS_DIR:-$ROOT/../shared/datasets/ml-latest-small}"
TAGS="${RECO_MOVIELENS_TAGS:-1}"

for f in movies.csv ratings.csv tags.csv; do
  [ -r "$DATA/$f" ] || { echo "load_movielens: cannot read $DATA/$f (set RECO_MOVIELENS_DIR)" >&2; exit 1; }
done
DATA="$(cd "$DATA" && pwd)"
case "$DATA" in
  *\'*) echo "load_movielens: the data path must not contain a single quote" >&2; exit 1 ;;
esac

echo "== loading MovieLens ml-latest-small from $DATA (Harper & Konstan 2015) =="
psql -X -q -v ON_ERROR_STOP=1 -v tags="$TAGS" <<SQL
\set QUIET on
BEGIN;
CREATE TEMP TABLE ml_movies (movie_id bigint, title text, genres text) ON COMMIT DROP;
CREATE TEMP TABLE ml_ratings (line bigint GENERATED ALWAYS AS IDENTITY, user_id bigint,
                              movie_id bigint, rating numeric, ts bigint) ON COMMIT DROP;
CREATE TEMP TABLE ml_tags (user_id bigint, movie_id bigint, tag text, ts bigint) ON COMMIT DROP;
\copy ml_movies (movie_id, title, genres) FROM '$DATA/movies.csv' WITH (FORMAT csv, HEADER true)
\copy ml_ratings (user_id, movie_id, rating, ts) FROM '$DATA/ratings.csv' WITH (FORMAT csv, HEADER true)
\copy ml_tags (user_id, movie_id, tag, ts) FROM '$DATA/tags.csv' WITH (FORMAT csv, HEADER true)

TRUNCATE reco.users, reco.shoes, reco.interactions CASCADE;

-- Users: ids from ratings (every tagging user also rated), no demographics.
INSERT INTO reco.users (user_id, age, gender, primary_usage, created_at)
SELECT user_id, NULL, NULL, NULL, to_timestamp(min(ts))
FROM ml_ratings GROUP BY user_id;

-- Catalogue. Tags: trimmed, deduplicated case-insensitively (first spelling by lower-case order).
WITH tag_text AS (
    SELECT movie_id, string_agg(tag, ', ' ORDER BY lower(tag), tag) AS tags
    FROM (SELECT DISTINCT ON (movie_id, lower(btrim(tag))) movie_id, btrim(tag) AS tag
          FROM ml_tags WHERE btrim(coalesce(tag, '')) <> '' AND :tags::int = 1
          ORDER BY movie_id, lower(btrim(tag)), btrim(tag)) d
    GROUP BY movie_id
), first_seen AS (
    SELECT movie_id, min(ts) AS ts
    FROM (SELECT movie_id, ts FROM ml_ratings UNION ALL SELECT movie_id, ts FROM ml_tags) a
    GROUP BY movie_id
), m AS (
    SELECT mv.movie_id, btrim(mv.title) AS title,
           CASE WHEN mv.genres = '(no genres listed)' THEN ARRAY[]::text[]
                ELSE string_to_array(mv.genres, '|') END AS genre_list,
           (regexp_match(mv.title, '\((\d{4})[^)]*\)\s*$'))[1]::int AS year
    FROM ml_movies mv
)
INSERT INTO reco.shoes (shoe_id, name, brand, type, material, color, price, description,
                        care_instructions, lifespan_days, active, created_at)
SELECT m.movie_id,
       m.title,
       coalesce((m.year / 10 * 10)::text || 's', 'undated'),
       coalesce(lower(m.genre_list[1]), 'none'),
       NULL, NULL, NULL,
       nullif(concat_ws(', ', nullif(array_to_string(m.genre_list, ', '), ''), t.tags), ''),
       NULL, 365, true,
       coalesce(to_timestamp(f.ts), now())
FROM m LEFT JOIN tag_text t USING (movie_id) LEFT JOIN first_seen f USING (movie_id);

-- The log: interaction_id = line number in ratings.csv.
INSERT INTO reco.interactions (interaction_id, user_id, shoe_id, action, occurred_at)
SELECT line, user_id, movie_id,
       CASE WHEN rating >= 4 THEN 'purchase' ELSE 'view' END,
       to_timestamp(ts)
FROM ml_ratings ORDER BY line;
SELECT setval(pg_get_serial_sequence('reco.interactions', 'interaction_id'),
              (SELECT max(interaction_id) FROM reco.interactions)) AS last_interaction_id \gset
COMMIT;
ANALYZE reco.users, reco.shoes, reco.interactions;
\set QUIET off
\pset footer off
SELECT (SELECT count(*) FROM reco.users) AS users,
       (SELECT count(*) FROM reco.shoes) AS movies,
       (SELECT count(*) FROM reco.interactions) AS interactions,
       (SELECT count(*) FROM reco.interactions WHERE action = 'purchase') AS "rated >= 4 (purchase)",
       (SELECT count(*) FROM reco.interactions WHERE action = 'view') AS "rated < 4 (view)",
       (SELECT count(DISTINCT brand) FROM reco.shoes) AS "decades (brand)",
       (SELECT count(DISTINCT type) FROM reco.shoes) AS "first genres (type)";
SQL
