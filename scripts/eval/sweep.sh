#!/usr/bin/env bash
# A small grid over reco's settings, scored by reco.evaluate() (metrics computed in Rust, the same
# numbers scripts/eval/peers.py computes from reco.evaluation_rankings()). Each call trains its own
# model on the train split; the active model is untouched.
#
#   PGHOST=... PGPORT=... PGDATABASE=... bash scripts/eval/sweep.sh
# Grid via env (space-separated): FACTORS="16 32 48 64 128" CF_WEIGHTS="0.7 0.85 1.0"
# SHRINKAGES="0 5"; WEIGHTS="1:3:5" (action weights view:add_to_wishlist:purchase, set in
# reco.action_weights inside the rolled-back transaction; relevance does not depend on them);
# K=10 TEST_FRACTION=0.2.
# VALIDATION=1 (recommended for choosing settings): first deletes the test part of the split from
# reco.interactions inside a transaction, so the grid is scored on a split of the train part
# (its own latest TEST_FRACTION per user), then rolls everything back. VALIDATION=0 scores on the
# test split itself (tuning there overstates what the chosen setting will do on new data).
# Everything runs in one transaction that is rolled back: reco.evaluations keeps no rows.
set -euo pipefail
FACTORS="${FACTORS:-16 32 48 64 128}"
CF_WEIGHTS="${CF_WEIGHTS:-0.7 0.85 1.0}"
SHRINKAGES="${SHRINKAGES:-0 5}"
WEIGHTS="${WEIGHTS:-1:3:5}"
K="${K:-10}"
TF="${TEST_FRACTION:-0.2}"
VALIDATION="${VALIDATION:-1}"

{
  echo "BEGIN;"
  if [ "$VALIDATION" = 1 ]; then
    # The test part by the rule of reco.evaluation_split(), by interaction_id.
    cat <<SQL
DELETE FROM reco.interactions WHERE interaction_id IN (
    SELECT interaction_id FROM (
        SELECT interaction_id,
               row_number() OVER (PARTITION BY user_id ORDER BY occurred_at, interaction_id) AS rn,
               count(*) OVER (PARTITION BY user_id) AS n
        FROM reco.interactions) s
    WHERE n >= 2 AND rn > n - ceil($TF::float8 * n));
SQL
  fi
  for aw in $WEIGHTS; do
    IFS=: read -r wv ww wp <<<"$aw"
    cat <<SQL
UPDATE reco.action_weights SET weight = CASE action WHEN 'view' THEN $wv WHEN 'add_to_wishlist' THEN $ww
                                                    WHEN 'purchase' THEN $wp ELSE weight END;
SQL
    for f in $FACTORS; do
      for w in $CF_WEIGHTS; do
        for h in $SHRINKAGES; do
          cat <<SQL
SET LOCAL reco.factors = $f; SET LOCAL reco.cf_weight = $w; SET LOCAL reco.history_shrinkage = $h;
SELECT format('| %s | %s | %s | %s | %s | %s | %s | %s | %s |', '$aw', $f, $w, $h,
              round(max(ndcg_at_k) FILTER (WHERE method = 'hybrid')::numeric, 4),
              round(max(precision_at_k) FILTER (WHERE method = 'hybrid')::numeric, 4),
              round(max(map_at_k) FILTER (WHERE method = 'hybrid')::numeric, 4),
              round(max(ndcg_at_k) FILTER (WHERE method = 'cf')::numeric, 4),
              max(users))
FROM reco.evaluate($K, $TF);
SQL
        done
      done
    done
  done
  echo "ROLLBACK;"
} > "${TMPDIR:-/tmp}/reco-sweep.$$.sql"
trap 'rm -f "${TMPDIR:-/tmp}/reco-sweep.$$.sql"' EXIT

if [ "$VALIDATION" = 1 ]; then
  echo "scored on a validation split of the train part (test part removed, rolled back afterwards)"
else
  echo "scored on the test split itself"
fi
echo
echo "| weights view:wishlist:purchase | reco.factors | reco.cf_weight | reco.history_shrinkage | hybrid nDCG@$K | hybrid P@$K | hybrid MAP@$K | cf nDCG@$K | users |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
psql -X -qAt -v ON_ERROR_STOP=1 -f "${TMPDIR:-/tmp}/reco-sweep.$$.sql" | grep '^|'
