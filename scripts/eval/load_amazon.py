#!/usr/bin/env python3
"""Loads the Amazon Toys and Games purchase sequences into a database with CREATE EXTENSION reco.

    PGHOST=... PGPORT=... PGDATABASE=... python scripts/eval/load_amazon.py [--holdout N] [--data DIR]

Data: ../shared/datasets/amazon-toys/ (RECO_AMAZON_DIR or --data), read in place, never copied
into the repository: Toys_and_Games.txt (one user a line, `user item item ...`, oldest first) and
Toys_and_Games_item2attributes.json (item -> attribute ids: categories and brand, as integers).
Source: the preprocessed data of S3-Rec (K. Zhou et al., "S3-Rec: Self-Supervised Learning for
Sequential Recommendation with Mutual Information Maximization", CIKM 2020), derived from the
Amazon review data of J. McAuley et al. ("Image-based recommendations on styles and substitutes",
SIGIR 2015). Research use only.

DESTRUCTIVE: TRUNCATE reco.users, reco.shoes, reco.interactions CASCADE first, in one transaction.

Mapping:
  users      user_id = the file's user id; no demographics (cold start falls back to popularity).
  items      shoes.shoe_id = item id; name 'item <id>'; brand 'amazon' (the data names no brand:
             brand ids are among the attributes, unlabelled); type 'toy'; description = the
             item's attribute ids as words 'a<id>' (the content text: TF-IDF over attributes);
             lifespan_days 365; active.
  sequence   each entry -> one 'purchase' (weight 5) at 2020-01-01 + its position in the user's
             sequence in minutes; interaction_id increases along each sequence, so reco's time
             split orders by position. --holdout N drops each user's last N entries first.

The literature's leave-last-out protocol (each user's last item is the test item, the
second-to-last the validation item, full ranking): reco.evaluation_split() with a test fraction
below 1 / (longest sequence), e.g. 1e-9, holds out exactly the last interaction of every user
with at least 2. So:
  test:        --holdout 0, then evaluate / evaluation_rankings(10, 1e-9)
  validation:  --holdout 1 (the test item is gone), then the same call scores the second-to-last
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent.parent / "shared" / "datasets" / "amazon-toys"


def read_sequences(data: Path) -> dict[int, list[int]]:
    seqs: dict[int, list[int]] = {}
    with open(data / "Toys_and_Games.txt", encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                seqs[int(parts[0])] = [int(x) for x in parts[1:]]
    return seqs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("RECO_AMAZON_DIR", str(DEFAULT_DATA)))
    ap.add_argument("--holdout", type=int, default=0,
                    help="drop each user's last N items (1 = validation data)")
    args = ap.parse_args()
    data = Path(args.data)
    seqs = read_sequences(data)
    with open(data / "Toys_and_Games_item2attributes.json", encoding="utf-8") as f:
        attrs = {int(k): v for k, v in json.load(f).items()}
    items = sorted({i for s in seqs.values() for i in s} | set(attrs))

    import psycopg

    with psycopg.connect("") as conn:  # PG* environment variables
        conn.execute("TRUNCATE reco.users, reco.shoes, reco.interactions CASCADE")
        with conn.cursor().copy("COPY reco.users (user_id) FROM STDIN") as cp:
            for u in sorted(seqs):
                cp.write_row((u,))
        with conn.cursor().copy(
                "COPY reco.shoes (shoe_id, name, brand, type, description, lifespan_days, active) FROM STDIN") as cp:
            for i in items:
                desc = " ".join(f"a{a}" for a in attrs.get(i, [])) or None
                cp.write_row((i, f"item {i}", "amazon", "toy", desc, 365, True))
        base = datetime(2020, 1, 1, tzinfo=timezone.utc)
        next_id = 1
        rows = 0
        with conn.cursor().copy(
                "COPY reco.interactions (interaction_id, user_id, shoe_id, action, occurred_at) FROM STDIN") as cp:
            for u in sorted(seqs):
                seq = seqs[u][: len(seqs[u]) - args.holdout] if args.holdout else seqs[u]
                for pos, i in enumerate(seq):
                    cp.write_row((next_id, u, i, "purchase", base + timedelta(minutes=pos)))
                    next_id += 1
                    rows += 1
        conn.execute("SELECT setval(pg_get_serial_sequence('reco.interactions', 'interaction_id'), %s)",
                     (max(next_id - 1, 1),))
        conn.commit()
        conn.execute("ANALYZE reco.users, reco.shoes, reco.interactions")
    print(f"load_amazon: {len(seqs)} users, {len(items)} items, {rows} purchases "
          f"(holdout {args.holdout} per user) from {data}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
