#!/usr/bin/env python3
"""Scores reco against peer recommenders on the identical time split, with one metric code.

Run through scripts/eval/run.sh (it makes the venv and loads the data); directly:
    PGHOST=... PGPORT=... PGDATABASE=... python scripts/eval/peers.py [--k 10] [--test-fraction 0.2]

What it does, in order:
  1. Reads reco.interactions (+ reco.action_weights) and splits it in Python by the rule of
     reco.evaluation_split(): per user, ordered by (occurred_at, interaction_id), the latest
     ceil(test_fraction * n) interactions are 'test' when the user has >= 2 interactions (users
     with one interaction are all 'train'). When reco.evaluation_split() exists, its rows must equal
     this split exactly (same users, shoes, actions, weights, times and parts, in the same order);
     any difference is printed and the run fails (--no-split-check to go on anyway).
  2. Writes the split to OUT/train.csv and OUT/test.csv (OUT defaults to /tmp/reco-eval).
  3. Relevant items of a user: distinct shoes of their 'test' part with action purchase or
     add_to_wishlist that are not in their 'train' part. Users scored: >= 1 relevant item.
     Every method ranks all active catalogue items for every scored user, the user's train items
     excluded, and keeps the top k.
  4. Methods (all trained on the train part only; matrix = sum of action weights per user x item):
       popularity  items by number of distinct train users
       puresvd     sklearn randomized_svd of the weighted matrix, reco.factors factors (64 unless
                   --reco-set changes it), 10 oversamples, 4 power iterations (reco's defaults),
                   scores r_u V V^T
       als         implicit AlternatingLeastSquares, 64 factors, 15 iterations, confidence
                   alpha * weight; regularization 10, alpha 0.25 (--tune re-picks them from a
                   grid by nDCG@k on a validation split of the train part: the train part split
                   again by the same rule; these defaults are what it picked on ml-latest-small)
       ease        EASE (Steck 2019), closed form on the weighted matrix over items with train
                   interactions; lambda 4000 (--tune: grid 500..8000 on the validation split)
       lightfm     LightFM WARP, 64 components, learning rate 0.05, item features = identity +
                   genres (from the MovieLens movies.csv when it is readable, else
                   reco.shoes.type), sample weights = action weights, 30 epochs (--tune: 10/30/60)
       reco-*      reco.evaluation_rankings(k, test_fraction): hybrid, cf, content, popularity;
                   the wall time of that one call (it trains and ranks all four) is reported as
                   the fit+rank seconds of each reco row.
  5. Scores every method with the one metric implementation below (binary relevance):
       precision@k = hits / k;  recall@k = hits / |relevant|;
       nDCG@k = DCG / IDCG with DCG = sum over hit ranks r of 1/log2(r+1), IDCG over
                min(k, |relevant|) ideal ranks;
       MAP@k = (sum of precision@r over hit ranks r) / min(k, |relevant|)
               (Microsoft Recommenders' map_at_k);
       HR@k = share of users with >= 1 hit;
       coverage@k = distinct recommended items over all scored users / active catalogue size.
     Averages are over all scored users (a user a method returns nothing for scores 0).
  6. Prints one markdown table and writes it to OUT/results.md (and all rankings to
     OUT/rankings.csv).

Data acknowledgement (when run on MovieLens, required by its licence): F. Maxwell Harper and
Joseph A. Konstan. 2015. The MovieLens Datasets: History and Context. ACM Transactions on
Interactive Intelligent Systems (TiiS) 5, 4: 19:1-19:19. https://doi.org/10.1145/2827872
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp

RELEVANT_ACTIONS = ("purchase", "add_to_wishlist")
HERE = Path(__file__).resolve().parent
DEFAULT_MOVIELENS = HERE.parent.parent.parent / "shared" / "datasets" / "ml-latest-small"


# --------------------------------------------------------------------------------------------
# Data and split
# --------------------------------------------------------------------------------------------

@dataclass
class Log:
    """The interaction log, sorted by (user_id, occurred_at, interaction_id)."""

    iid: np.ndarray  # interaction_id
    uid: np.ndarray  # user_id
    sid: np.ndarray  # shoe_id
    action: np.ndarray  # str
    weight: np.ndarray  # float64
    ts: np.ndarray  # epoch seconds, float64

    def take(self, mask: np.ndarray) -> "Log":
        return Log(self.iid[mask], self.uid[mask], self.sid[mask], self.action[mask],
                   self.weight[mask], self.ts[mask])

    def __len__(self) -> int:
        return len(self.uid)


def read_log(conn) -> Log:
    rows = conn.execute(
        "SELECT i.interaction_id, i.user_id, i.shoe_id, i.action, w.weight::float8, "
        "       extract(epoch FROM i.occurred_at)::float8 "
        "FROM reco.interactions i JOIN reco.action_weights w ON w.action = i.action "
        "ORDER BY i.user_id, i.occurred_at, i.interaction_id").fetchall()
    if not rows:
        sys.exit("peers: reco.interactions is empty (load data first)")
    cols = list(zip(*rows))
    return Log(np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype=np.int64),
               np.array(cols[2], dtype=np.int64), np.array(cols[3], dtype=object),
               np.array(cols[4], dtype=np.float64), np.array(cols[5], dtype=np.float64))


def time_split(log: Log, test_fraction: float) -> np.ndarray:
    """True where the row is 'test'. `log` must be sorted by (user, occurred_at, interaction_id).

    The rule of reco.evaluation_split(): per user with n >= 2 rows, the latest
    ceil(test_fraction * n) are test (float8 arithmetic, as in SQL)."""
    is_test = np.zeros(len(log), dtype=bool)
    bounds = np.flatnonzero(np.diff(log.uid)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(log)]))
    for s, e in zip(starts, ends):
        n = e - s
        if n >= 2:
            n_test = math.ceil(float(test_fraction) * float(n))
            is_test[e - n_test:e] = True
    return is_test


def check_split(conn, log: Log, is_test: np.ndarray, test_fraction: float) -> bool | None:
    """Compares our split with reco.evaluation_split(); None when the function does not exist."""
    exists = conn.execute(
        "SELECT to_regprocedure('reco.evaluation_split(double precision)') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    rows = conn.execute(
        "SELECT s.user_id, s.shoe_id, s.action, s.weight, extract(epoch FROM s.occurred_at)::float8, s.part "
        "FROM reco.evaluation_split(%s) WITH ORDINALITY AS s(user_id, shoe_id, action, weight, occurred_at, part, ord) "
        "ORDER BY s.ord", (test_fraction,)).fetchall()
    ours = list(zip(log.uid.tolist(), log.sid.tolist(), log.action.tolist(), log.weight.tolist(),
                    log.ts.tolist(), np.where(is_test, "test", "train").tolist()))
    theirs = [tuple(r) for r in rows]
    if ours == theirs:
        return True
    print(f"SPLIT MISMATCH: ours {len(ours)} rows, reco.evaluation_split {len(theirs)} rows", file=sys.stderr)
    shown = 0
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            print(f"  row {i}: ours {a} | reco {b}", file=sys.stderr)
            shown += 1
            if shown >= 10:
                break
    return False


@dataclass
class Problem:
    """One train/test problem over a fixed item universe."""

    users: np.ndarray  # user ids of the train matrix rows (all users in the log)
    items: np.ndarray  # shoe ids of the matrix columns (the active catalogue, sorted)
    train: sp.csr_matrix  # users x items, summed weights
    eval_rows: np.ndarray  # row indices (into users) of the scored users
    relevant: list[set[int]]  # per scored user, relevant item column indices
    catalogue_size: int


def build_problem(log: Log, is_test: np.ndarray, items: np.ndarray) -> Problem:
    users = np.unique(log.uid)
    u_pos = {u: i for i, u in enumerate(users.tolist())}
    i_pos = {s: j for j, s in enumerate(items.tolist())}
    tr = log.take(~is_test)
    keep = np.array([s in i_pos for s in tr.sid.tolist()], dtype=bool)
    rows = np.array([u_pos[u] for u in tr.uid[keep].tolist()], dtype=np.int64)
    cols = np.array([i_pos[s] for s in tr.sid[keep].tolist()], dtype=np.int64)
    train = sp.csr_matrix((tr.weight[keep], (rows, cols)), shape=(len(users), len(items)), dtype=np.float64)
    train.sum_duplicates()
    # Train shoes per user, by id (shoes outside the catalogue count too: they are "seen").
    train_sets: dict[int, set[int]] = {}
    for u, s in zip(tr.uid.tolist(), tr.sid.tolist()):
        train_sets.setdefault(u, set()).add(s)
    te = log.take(is_test)
    rel: dict[int, set[int]] = {}
    for u, s, a in zip(te.uid.tolist(), te.sid.tolist(), te.action.tolist()):
        if a in RELEVANT_ACTIONS and s not in train_sets.get(u, ()):  # noqa: SIM102
            rel.setdefault(u, set()).add(s)
    scored = sorted(rel)
    eval_rows = np.array([u_pos[u] for u in scored], dtype=np.int64)
    # Relevant shoes outside the catalogue (inactive) stay in |relevant| but can never be hit.
    relevant = [{i_pos.get(s, -1 - k) for k, s in enumerate(sorted(rel[u]))} for u in scored]
    return Problem(users, items, train, eval_rows, relevant, len(items))


def write_split_csv(out: Path, log: Log, is_test: np.ndarray) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for part, mask in (("train", ~is_test), ("test", is_test)):
        with open(out / f"{part}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["interaction_id", "user_id", "shoe_id", "action", "weight", "occurred_at"])
            sub = log.take(mask)
            for row in zip(sub.iid.tolist(), sub.uid.tolist(), sub.sid.tolist(), sub.action.tolist(),
                           sub.weight.tolist(), sub.ts.tolist()):
                at = datetime.fromtimestamp(row[5], tz=timezone.utc).isoformat()
                w.writerow([row[0], row[1], row[2], row[3], repr(row[4]), at])


# --------------------------------------------------------------------------------------------
# The one metric implementation
# --------------------------------------------------------------------------------------------

@dataclass
class Metrics:
    precision: float
    recall: float
    ndcg: float
    map: float
    hit_rate: float
    coverage: float
    users: int
    users_without_list: int = 0


def score_rankings(rankings: dict[int, list[int]], relevant: list[set[int]], k: int,
                   catalogue_size: int) -> Metrics:
    """rankings: scored-user index -> ranked item column indices (best first, <= k used)."""
    n = len(relevant)
    p = r = nd = ap = hr = 0.0
    seen: set[int] = set()
    missing = 0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for u, rel in enumerate(relevant):
        ranked = rankings.get(u, [])[:k]
        if not ranked:
            missing += 1
        seen.update(ranked)
        hits = 0
        dcg = 0.0
        prec_sum = 0.0
        for pos, item in enumerate(ranked):
            if item in rel:
                hits += 1
                dcg += discounts[pos]
                prec_sum += hits / (pos + 1)
        ideal = min(k, len(rel))
        p += hits / k
        r += hits / len(rel)
        nd += dcg / discounts[:ideal].sum()
        ap += prec_sum / ideal
        hr += 1.0 if hits else 0.0
    return Metrics(p / n, r / n, nd / n, ap / n, hr / n, len(seen) / catalogue_size, n, missing)


# --------------------------------------------------------------------------------------------
# Ranking and models
# --------------------------------------------------------------------------------------------

def top_k(scores: np.ndarray, train: sp.csr_matrix, rows: np.ndarray, k: int) -> dict[int, list[int]]:
    """Top k columns of each row of `scores` (len(rows) x items), the row's train items excluded.
    Ties break by column (catalogue order, i.e. ascending shoe_id)."""
    s = np.array(scores, dtype=np.float64, copy=True)
    s[~np.isfinite(s)] = -np.inf
    sub = train[rows]
    for i in range(len(rows)):
        s[i, sub.indices[sub.indptr[i]:sub.indptr[i + 1]]] = -np.inf
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    out = {}
    for i in range(len(rows)):
        out[i] = [int(j) for j in order[i] if np.isfinite(s[i, j])]
    return out


def fit_popularity(train: sp.csr_matrix, rows: np.ndarray, **_) -> np.ndarray:
    pop = np.asarray((train > 0).sum(axis=0)).ravel().astype(np.float64)
    return np.tile(pop, (len(rows), 1))


def fit_puresvd(train: sp.csr_matrix, rows: np.ndarray, factors: int = 64, seed: int = 42, **_) -> np.ndarray:
    from sklearn.utils.extmath import randomized_svd

    k = min(factors, min(train.shape) - 1)
    _, _, vt = randomized_svd(train, n_components=k, n_oversamples=10, n_iter=4, random_state=seed)
    ru = train[rows].toarray()
    return (ru @ vt.T) @ vt


def fit_als(train: sp.csr_matrix, rows: np.ndarray, factors: int = 64, regularization: float = 10.0,
            alpha: float = 0.25, iterations: int = 15, seed: int = 42, **_) -> np.ndarray:
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=alpha,
                                    iterations=iterations, random_state=seed, num_threads=1)
    model.fit(train.tocsr().astype(np.float32), show_progress=False)
    return np.asarray(model.user_factors)[rows] @ np.asarray(model.item_factors).T


def fit_ease(train: sp.csr_matrix, rows: np.ndarray, lam: float = 4000.0, **_) -> np.ndarray:
    from scipy.linalg import cho_factor, cho_solve

    used = np.flatnonzero(np.asarray((train != 0).sum(axis=0)).ravel())
    x = train[:, used]
    g = (x.T @ x).toarray().astype(np.float64)
    g[np.diag_indices_from(g)] += lam
    c = cho_factor(g, overwrite_a=True, check_finite=False)
    p = cho_solve(c, np.eye(len(used)), overwrite_b=True, check_finite=False)
    b = p / (-np.diag(p))
    b[np.diag_indices_from(b)] = 0.0
    scores = np.full((len(rows), train.shape[1]), -np.inf)
    scores[:, used] = train[rows][:, used] @ b
    return scores


def fit_lightfm(train: sp.csr_matrix, rows: np.ndarray, item_features: sp.csr_matrix = None,
                factors: int = 64, epochs: int = 30, learning_rate: float = 0.05, seed: int = 42,
                **_) -> np.ndarray:
    from lightfm import LightFM

    coo = train.tocoo()
    inter = sp.coo_matrix((np.ones_like(coo.data, dtype=np.float32), (coo.row, coo.col)), shape=train.shape)
    weights = sp.coo_matrix((coo.data.astype(np.float32), (coo.row, coo.col)), shape=train.shape)
    model = LightFM(no_components=factors, loss="warp", learning_rate=learning_rate, random_state=seed)
    model.fit(inter, item_features=item_features, sample_weight=weights, epochs=epochs, num_threads=1)
    ib, iv = model.get_item_representations(item_features)
    ub, uv = model.get_user_representations()
    return uv[rows] @ iv.T + ib[None, :] + ub[rows][:, None]


def item_genre_features(conn, items: np.ndarray, movielens_dir: Path,
                        kind: str = "genres") -> tuple[sp.csr_matrix, str]:
    """Identity + genre (or description word) indicator features, rows normalised to sum 1
    (LightFM's Dataset default). kind 'description': the words of reco.shoes.description (the
    Amazon loader puts each item's attribute ids there)."""
    genres: dict[int, list[str]] = {}
    source = ""
    movies = movielens_dir / "movies.csv"
    if kind == "description":
        genres = {int(s): sorted(set((d or "").split()))
                  for s, d in conn.execute("SELECT shoe_id, description FROM reco.shoes")}
        source = "reco.shoes.description words"
    elif movies.is_file():
        with open(movies, newline="", encoding="utf-8") as f:
            for rec in csv.DictReader(f):
                g = rec["genres"]
                genres[int(rec["movieId"])] = [] if g == "(no genres listed)" else g.split("|")
        source = f"genres from {movies}"
    if kind != "description" and (not genres or not set(items.tolist()) <= set(genres)):
        genres = {int(s): [t] for s, t in conn.execute("SELECT shoe_id, lower(type) FROM reco.shoes")}
        source = "reco.shoes.type"
    names = sorted({g for gs in genres.values() for g in gs})
    g_pos = {g: i for i, g in enumerate(names)}
    r, c = list(range(len(items))), list(range(len(items)))
    for j, s in enumerate(items.tolist()):
        for g in genres.get(s, []):
            r.append(j)
            c.append(len(items) + g_pos[g])
    m = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(len(items), len(items) + len(names)))
    norm = np.asarray(m.sum(axis=1)).ravel()
    m = sp.diags(1.0 / norm).astype(np.float32) @ m
    return m.tocsr(), f"identity + {len(names)} features ({source})"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def evaluate_model(fit, prob: Problem, k: int, **params) -> tuple[dict[int, list[int]], float]:
    t0 = time.perf_counter()
    scores = fit(prob.train, prob.eval_rows, **params)
    ranks = top_k(scores, prob.train, prob.eval_rows, k)
    return ranks, time.perf_counter() - t0


def tune(name, fit, grid, log_train: Log, items, test_fraction, k, base) -> dict:
    """Picks the grid point with the best nDCG@k on a validation split of the train part."""
    is_val = time_split(log_train, test_fraction)
    vprob = build_problem(log_train, is_val, items)
    best, best_nd = None, -1.0
    for params in grid:
        ranks, secs = evaluate_model(fit, vprob, k, **{**base, **params})
        m = score_rankings(ranks, vprob.relevant, k, vprob.catalogue_size)
        print(f"  tune {name} {params}: validation nDCG@{k} {m.ndcg:.4f} ({secs:.1f} s)", file=sys.stderr)
        if m.ndcg > best_nd:
            best, best_nd = params, m.ndcg
    return best


def self_test() -> int:
    """Hand-computed checks of the metric code and the split rule (no database needed)."""
    k = 3
    # User 0: relevant {1, 5}; ranked [1, 2, 5] -> hits at ranks 1 and 3.
    # User 1: relevant {7}; ranked [4, 8, 9] -> no hit.  User 2: relevant {2}, no list at all.
    m = score_rankings({0: [1, 2, 5], 1: [4, 8, 9]}, [{1, 5}, {7}, {2}], k, catalogue_size=10)
    d = 1.0 / np.log2(np.arange(2, 5))
    nd0 = (d[0] + d[2]) / (d[0] + d[1])
    ap0 = (1.0 + 2.0 / 3.0) / 2.0
    expect = Metrics((2 / 3) / 3, 1.0 / 3, nd0 / 3, ap0 / 3, 1 / 3, 6 / 10, 3, 1)
    for f in ("precision", "recall", "ndcg", "map", "hit_rate", "coverage", "users", "users_without_list"):
        a, b = getattr(m, f), getattr(expect, f)
        assert abs(a - b) < 1e-12, f"{f}: {a} != {b}"
    # Split: user 1 has 5 rows -> ceil(0.2 * 5) = 1 test; user 2 has 1 row -> train; user 3 has
    # 11 rows -> ceil(2.2) = 3 test (the latest by (occurred_at, interaction_id)).
    uid = np.array([1] * 5 + [2] + [3] * 11)
    log = Log(np.arange(len(uid)), uid, np.arange(len(uid)), np.array(["view"] * len(uid), dtype=object),
              np.ones(len(uid)), np.zeros(len(uid)))
    t = time_split(log, 0.2)
    assert t.tolist() == [False] * 4 + [True] + [False] + [False] * 8 + [True] * 3, t
    print("self-test: 2 passed, 0 failed")
    return 0


def main() -> int:
    if "--self-test" in sys.argv[1:]:
        return self_test()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--out", default=os.environ.get("RECO_EVAL_OUT", "/tmp/reco-eval"))
    ap.add_argument("--methods", default="popularity,puresvd,als,ease,lightfm,reco")
    ap.add_argument("--tune", action="store_true", help="tune ALS, EASE and LightFM on a validation split of train")
    ap.add_argument("--no-split-check", action="store_true")
    ap.add_argument("--reco-set", action="append", default=[], metavar="NAME=VALUE",
                    help="a reco setting for the evaluation session, e.g. reco.cf_weight=0.9 (repeatable)")
    ap.add_argument("--self-test", action="store_true", help="check the metric and split code on hand-computed cases, then exit")
    ap.add_argument("--check-evaluate", action="store_true",
                    help="also call reco.evaluate(k, test_fraction) and compare its metrics with ours")
    ap.add_argument("--item-features", choices=("genres", "description"), default="genres",
                    help="LightFM item features: MovieLens genres (else reco.shoes.type), or the words of reco.shoes.description")
    ap.add_argument("--movielens-dir", default=os.environ.get("RECO_MOVIELENS_DIR", str(DEFAULT_MOVIELENS)))
    args = ap.parse_args()
    k, tf = args.k, args.test_fraction
    out = Path(args.out)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]

    import psycopg

    conn = psycopg.connect("", autocommit=True)  # PG* environment variables
    for setting in args.reco_set:
        name, _, value = setting.partition("=")
        conn.execute("SELECT set_config(%s, %s, false)", (name.strip(), value.strip()))
    log = read_log(conn)
    is_test = time_split(log, tf)
    check = check_split(conn, log, is_test, tf)
    if check is None:
        print("split check: reco.evaluation_split() does not exist, using the Python split only", file=sys.stderr)
    elif check:
        print(f"split check: reco.evaluation_split({tf}) equals the Python split ({len(log)} rows)", file=sys.stderr)
    elif not args.no_split_check:
        return 2
    write_split_csv(out, log, is_test)

    items = np.array(sorted(s for (s,) in conn.execute("SELECT shoe_id FROM reco.shoes WHERE active")), dtype=np.int64)
    prob = build_problem(log, is_test, items)
    print(f"split: {int((~is_test).sum())} train / {int(is_test.sum())} test interactions, "
          f"{len(prob.users)} users, {len(prob.eval_rows)} scored users, "
          f"{sum(len(r) for r in prob.relevant)} relevant items, catalogue {prob.catalogue_size}", file=sys.stderr)

    feats, feats_desc = (None, "")
    if "lightfm" in methods:
        feats, feats_desc = item_genre_features(conn, items, Path(args.movielens_dir), args.item_features)

    # PureSVD uses reco's number of factors (reco.factors, 64 unless set with --reco-set).
    setting = conn.execute("SELECT current_setting('reco.factors', true)").fetchone()[0]
    reco_factors = int(setting) if setting else 64
    peers = {
        "popularity": (fit_popularity, {}, None),
        "puresvd": (fit_puresvd, {"factors": reco_factors}, [{"factors": f} for f in (16, 32, 64, 128, 256)]),
        "als": (fit_als, {"factors": 64, "iterations": 15, "regularization": 10.0, "alpha": 0.25},
                [{"factors": f, "regularization": r, "alpha": a} for f in (64, 128)
                 for r in (1.0, 10.0, 100.0) for a in (0.25, 1.0)]),
        "ease": (fit_ease, {"lam": 4000.0}, [{"lam": l} for l in (25.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
                                                                   2000.0, 4000.0, 8000.0)]),
        "lightfm": (fit_lightfm, {"factors": 64, "epochs": 30, "learning_rate": 0.05, "item_features": feats},
                    [{"epochs": e} for e in (10, 30, 60)]),
    }
    results: list[tuple[str, Metrics, float, str]] = []
    all_ranks: dict[str, dict[int, list[int]]] = {}
    train_log = log.take(~is_test)
    for name in methods:
        if name == "reco":
            continue
        if name not in peers:
            print(f"unknown method {name}", file=sys.stderr)
            return 2
        fit, params, grid = peers[name]
        if args.tune and grid:
            params = {**params, **tune(name, fit, grid, train_log, items, tf, k, params)}
        ranks, secs = evaluate_model(fit, prob, k, **params)
        shown = {p: v for p, v in params.items() if p != "item_features"}
        if name == "lightfm":
            shown["item_features"] = feats_desc
        results.append((name, score_rankings(ranks, prob.relevant, k, prob.catalogue_size), secs,
                        ", ".join(f"{p}={v}" for p, v in shown.items())))
        all_ranks[name] = ranks
        print(f"{name}: done in {secs:.2f} s", file=sys.stderr)

    if "reco" in methods:
        exists = conn.execute(
            "SELECT to_regprocedure('reco.evaluation_rankings(integer, double precision)') IS NOT NULL").fetchone()[0]
        if not exists:
            print("reco.evaluation_rankings() does not exist: reco rows skipped", file=sys.stderr)
        else:
            t0 = time.perf_counter()
            rows = conn.execute("SELECT method, user_id, rank, shoe_id FROM reco.evaluation_rankings(%s, %s)",
                                (k, tf)).fetchall()
            secs = time.perf_counter() - t0
            u_row = {int(u): i for i, u in enumerate(prob.users[prob.eval_rows].tolist())}
            i_pos = {s: j for j, s in enumerate(items.tolist())}
            by_method: dict[str, dict[int, list[tuple[int, int]]]] = {}
            unknown_users: set[int] = set()
            for method, u, rank, s in rows:
                if u not in u_row:
                    unknown_users.add(u)
                    continue
                by_method.setdefault(method, {}).setdefault(u_row[u], []).append((rank, i_pos.get(s, -10**9)))
            if unknown_users:
                print(f"WARNING: reco ranked {len(unknown_users)} users that the Python split does not score",
                      file=sys.stderr)
            for n_method, method in enumerate(sorted(by_method)):
                ranks = {u: [j for _, j in sorted(lst)] for u, lst in by_method[method].items()}
                m = score_rankings(ranks, prob.relevant, k, prob.catalogue_size)
                results.append((method, m, secs, "" if n_method else
                                "reco-*: fit+rank s is the wall time of the one reco.evaluation_rankings() "
                                "call that trains and ranks all four"))
                all_ranks[method] = ranks
            if args.check_evaluate and conn.execute(
                    "SELECT to_regprocedure('reco.evaluate(integer, double precision)') IS NOT NULL").fetchone()[0]:
                ev = conn.execute("SELECT * FROM reco.evaluate(%s, %s)", (k, tf))
                cols = [d.name for d in ev.description]
                ours = {name: m for name, m, _, _ in results}
                worst = 0.0
                print("reco.evaluate() (metrics computed in Rust) against this script's metrics on "
                      "reco.evaluation_rankings():", file=sys.stderr)
                for row in ev.fetchall():
                    r = dict(zip(cols, row))
                    m = ours.get("reco-" + r["method"])
                    if m is None:
                        print(f"  {r['method']}: no rankings to compare", file=sys.stderr)
                        continue
                    diffs = {f: abs(r[f"{f}_at_k"] - getattr(m, f)) for f in
                             ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")}
                    diffs["users"] = abs(r["users"] - m.users)
                    worst = max(worst, max(diffs.values()))
                    print(f"  {r['method']}: nDCG {r['ndcg_at_k']:.6f} (ours {m.ndcg:.6f}), largest difference "
                          f"{max(diffs.values()):.2e}", file=sys.stderr)
                print(f"evaluate check: largest difference {worst:.2e} "
                      f"({'agree' if worst < 1e-9 else 'DISAGREE'})", file=sys.stderr)

    # Rankings, for inspection.
    with open(out / "rankings.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "user_id", "rank", "shoe_id"])
        scored_users = prob.users[prob.eval_rows]
        for method, ranks in all_ranks.items():
            for u in sorted(ranks):
                for r, j in enumerate(ranks[u], 1):
                    w.writerow([method, int(scored_users[u]), r, int(items[j]) if j >= 0 else "?"])

    lines = [f"| method | P@{k} | R@{k} | nDCG@{k} | MAP@{k} | HR@{k} | coverage | fit+rank s | users |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m, secs, _ in results:
        users = f"{m.users}" + (f" ({m.users_without_list} empty)" if m.users_without_list else "")
        lines.append(f"| {name} | {m.precision:.4f} | {m.recall:.4f} | {m.ndcg:.4f} | {m.map:.4f} | "
                     f"{m.hit_rate:.4f} | {m.coverage:.4f} | {secs:.2f} | {users} |")
    table = "\n".join(lines)
    notes = "\n".join(f"- {desc}" if desc.startswith("reco-") else f"- {name}: {desc}"
                      for name, _, _, desc in results if desc)
    settings = "".join(f", {x}" for x in args.reco_set)
    header = (f"k={k}, test_fraction={tf}{settings}, {len(prob.eval_rows)} scored users, catalogue {prob.catalogue_size}, "
              f"{int((~is_test).sum())} train / {int(is_test.sum())} test interactions; "
              f"split check: {'equal' if check else ('not available' if check is None else 'MISMATCH')}")
    print(header)
    print()
    print(table)
    print()
    print(notes)
    (out / "results.md").write_text(header + "\n\n" + table + "\n\n" + notes + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
