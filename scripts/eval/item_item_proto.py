#!/usr/bin/env python3
"""Prototype of an item-item collaborative-filtering component for reco's hybrid recommender.

Research script (no database): measures item-kNN (cosine with shrinkage, top-N pruned), RP3beta,
EASE (dense, and with B pruned to top-N) and score-normalised blends of an item-item component
with reco's current PureSVD fold-in, TF-IDF content and popularity scores, on two public data sets,
with the same protocols reco uses for its accuracy checks. It reproduces the numbers of the
item-item report (the chosen defaults are the `--method final` blend).

Run (single-threaded; a few minutes per call):
    python3 -m venv /tmp/proto-venv && /tmp/proto-venv/bin/pip install numpy scipy scikit-learn
    export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
    /tmp/proto-venv/bin/python scripts/eval/item_item_proto.py --dataset amazon --phase test
    /tmp/proto-venv/bin/python scripts/eval/item_item_proto.py --dataset movielens --phase validation \
        --method knn --grid
    /tmp/proto-venv/bin/python scripts/eval/item_item_proto.py --dataset movielens --phase test \
        --method final --lam 4000      # local-EASE variant (amazon: --lam 50)
  --method  final      the chosen defaults: kNN blend (FINAL), beside kNN alone and reco's current
                       hybrid; with --lam L the item-item part is local EASE (lambda L, m = 200)
            peers      popularity, PureSVD, EASE at the validation-tuned settings (TUNED);
                       with --grid the tuning grids (EASE over 25..1000 / 500..8000, rank 16..2048)
            reco       reco's current hybrid and its cf / content parts
            knn        item-kNN cosine (--grid: round 1 grid, --grid2: round 2 grid)
            rp3        RP3beta (--grid)
            easeprune  EASE (--lam) with B pruned to top-N per row / column
            localease  local EASE (per-item ridge on its m kNN neighbours), lambda grid
            localease-binary | localease-log | localease-rel   the same on other Gram scalings
            blend      blend grids (--blend-grid 1..4, --knn knn100,knn200)
            scale      chunked sparse kNN build: checks it against the dense one, times it on a
                       synthetic tier-L matrix (100k items, 1M users, ~20M cells)
            default    final + peers
  Reproduce the report: --method final|peers --phase test (both data sets); validation search:
  --method peers --grid, knn --grid, knn --grid2, rp3 --grid, blend --blend-grid 3,
  blend --blend-grid 4, localease, easeprune --lam 50 (amazon) / 4000 (movielens).
  --data-dir  directory holding amazon-toys/ and ml-latest-small/ (default ../shared/datasets
              relative to the repository root, i.e. /work/shared/datasets)

Protocols
  amazon     Toys_and_Games.txt, one user a line, items in time order. Leave-last-out: test phase
             trains on all but the last item and scores the last; validation phase trains on all
             but the last two and scores the second-to-last. Every interaction has weight 1.
             Full ranking over all 11,924 items, the user's train items excluded; HR@10, nDCG@10.
             Content tokens: the item's attribute ids (Toys_and_Games_item2attributes.json).
  movielens  ml-latest-small ratings.csv: rating >= 4 -> 'purchase' (weight 5, relevant),
             < 4 -> 'view' (weight 1). reco's split: per user ordered by (timestamp, line), the
             latest ceil(0.2 n) are test when n >= 2; relevant = distinct test items with
             rating >= 4 not in the user's train part; users with >= 1 relevant are scored; rank all
             9,742 movies, train items excluded; nDCG@10 with IDCG over min(10, |relevant|).
             Validation = the train part split again by the same rule. Matrix value = sum of
             weights. Content tokens: genres + lower-cased title words (with the year).

Data acknowledgements
  MovieLens: F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and
  Context. ACM Transactions on Interactive Intelligent Systems (TiiS) 5, 4: 19:1-19:19.
  https://doi.org/10.1145/2827872
  Amazon Toys and Games: the preprocessed data of S3-Rec (K. Zhou et al., "S3-Rec: Self-Supervised
  Learning for Sequential Recommendation with Mutual Information Maximization", CIKM 2020), derived
  from the Amazon review data of J. McAuley et al. ("Image-based recommendations on styles and
  substitutes", SIGIR 2015). Both data sets are read in place and never copied into the repository.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent.parent / "shared" / "datasets"
K = 10


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------

@dataclass
class Problem:
    name: str
    train: sp.csr_matrix        # users x items, summed action weights (float64)
    eval_rows: np.ndarray       # rows of scored users
    relevant: list[np.ndarray]  # per scored user: relevant item columns
    tokens: sp.csr_matrix       # items x tokens, raw term counts (content)


def _tfidf(counts: sp.csr_matrix) -> sp.csr_matrix:
    """sklearn TfidfVectorizer defaults: tf = count, idf = ln((1+n)/(1+df)) + 1, rows L2-normalised."""
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    t = (counts @ sp.diags(idf)).tocsr()
    norm = np.sqrt(np.asarray(t.multiply(t).sum(axis=1)).ravel())
    norm[norm == 0] = 1.0
    return (sp.diags(1.0 / norm) @ t).tocsr()


def load_amazon(data: Path, phase: str) -> Problem:
    d = data / "amazon-toys"
    seqs = [[int(x) - 1 for x in line.split()[1:]] for line in open(d / "Toys_and_Games.txt")]
    attrs = json.load(open(d / "Toys_and_Games_item2attributes.json"))
    n_items = max(max(s) for s in seqs) + 1
    cut = 2 if phase == "validation" else 1
    rows, cols, rel = [], [], []
    for u, s in enumerate(seqs):
        hist = s[:-cut]
        rows += [u] * len(hist)
        cols += hist
        rel.append(np.array([s[-cut]]))
    train = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(seqs), n_items))
    train.sum_duplicates()
    tr, tc = [], []
    vocab: dict[int, int] = {}
    for it, a in attrs.items():
        for t in a:
            tr.append(int(it) - 1)
            tc.append(vocab.setdefault(t, len(vocab)))
    tokens = sp.csr_matrix((np.ones(len(tr)), (tr, tc)), shape=(n_items, len(vocab)))
    tokens.sum_duplicates()
    return Problem("amazon", train, np.arange(len(seqs)), rel, tokens)


def _split(uid: np.ndarray, frac: float = 0.2) -> np.ndarray:
    """reco.evaluation_split(): rows sorted by (user, time, line); latest ceil(frac n) are test."""
    is_test = np.zeros(len(uid), dtype=bool)
    bounds = np.flatnonzero(np.diff(uid)) + 1
    for s, e in zip(np.concatenate(([0], bounds)), np.concatenate((bounds, [len(uid)]))):
        n = e - s
        if n >= 2:
            is_test[e - math.ceil(frac * float(n)):e] = True
    return is_test


def load_movielens(data: Path, phase: str) -> Problem:
    d = data / "ml-latest-small"
    movies, vocab = {}, {}
    tr, tc = [], []
    with open(d / "movies.csv", newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            j = movies.setdefault(int(rec["movieId"]), len(movies))
            toks = [] if rec["genres"] == "(no genres listed)" else ["g:" + g for g in rec["genres"].split("|")]
            toks += re.findall(r"\w+", rec["title"].lower())
            for t in toks:
                tr.append(j)
                tc.append(vocab.setdefault(t, len(vocab)))
    tokens = sp.csr_matrix((np.ones(len(tr)), (tr, tc)), shape=(len(movies), len(vocab)))
    tokens.sum_duplicates()
    r = np.loadtxt(d / "ratings.csv", delimiter=",", skiprows=1)
    line = np.arange(len(r))
    order = np.lexsort((line, r[:, 3], r[:, 0]))
    r = r[order]
    uid = r[:, 0].astype(np.int64)
    item = np.array([movies[int(m)] for m in r[:, 1]])
    w = np.where(r[:, 2] >= 4.0, 5.0, 1.0)
    is_test = _split(uid)
    if phase == "validation":
        keep = ~is_test
        uid, item, w = uid[keep], item[keep], w[keep]
        is_test = _split(uid)
    users = np.unique(uid)
    upos = np.searchsorted(users, uid)
    trm = ~is_test
    train = sp.csr_matrix((w[trm], (upos[trm], item[trm])), shape=(len(users), len(movies)))
    train.sum_duplicates()
    rel: dict[int, set[int]] = {}
    for u, i, ww in zip(upos[is_test], item[is_test], w[is_test]):
        if ww == 5.0:
            rel.setdefault(int(u), set()).add(int(i))
    eval_rows, relevant = [], []
    for u in sorted(rel):
        s = train.indices[train.indptr[u]:train.indptr[u + 1]]
        r_ = np.array(sorted(rel[u] - set(s.tolist())))
        if len(r_):
            eval_rows.append(u)
            relevant.append(r_)
    return Problem("movielens", train, np.array(eval_rows), relevant, tokens)


def load(dataset: str, data: Path, phase: str) -> Problem:
    return (load_amazon if dataset == "amazon" else load_movielens)(data, phase)


# ------------------------------------------------------------------------------------------------
# Evaluation: components are computed per user batch, any number of blends scored on them
# ------------------------------------------------------------------------------------------------

def evaluate(prob: Problem, components: dict, blends: dict, batch: int = 2048) -> dict:
    """components: name -> fn(rows) -> dense (len(rows) x items) scores.
    blends: name -> fn(comp: dict name -> array, n_hist: array) -> scores.
    Returns name -> (nDCG@10, HR@10), averaged over the scored users. The user's train items are
    excluded (score -inf). With one relevant item per user (Amazon) the rank is the number of
    items scoring strictly higher; otherwise the top 10 are taken (argpartition)."""
    disc = (1.0 / np.log2(np.arange(2, K + 2))).astype(np.float64)
    acc = {b: [0.0, 0.0] for b in blends}
    X = prob.train
    n_items = X.shape[1]
    single = all(len(r) == 1 for r in prob.relevant)
    for s in range(0, len(prob.eval_rows), batch):
        rows = prob.eval_rows[s:s + batch]
        rel = prob.relevant[s:s + batch]
        sub = X[rows]
        n_hist = np.diff(sub.indptr).astype(np.float64)
        excl = (np.repeat(np.arange(len(rows)), np.diff(sub.indptr)), sub.indices)
        comp = {c: np.asarray(f(rows), dtype=np.float32) for c, f in components.items()}
        if single:
            tgt = np.array([r[0] for r in rel])
            ar = np.arange(len(rows))
        else:
            relm = np.zeros((len(rows), n_items), dtype=bool)
            for i, r in enumerate(rel):
                relm[i, r] = True
            idcg = np.array([disc[:min(K, len(r))].sum() for r in rel])
        for b, f in blends.items():
            sc = np.asarray(f(comp, n_hist), dtype=np.float32)
            if any(sc is v for v in comp.values()):
                sc = sc.copy()
            sc[excl] = -np.inf
            if single:
                t = sc[ar, tgt]
                rank = (sc > t[:, None]).sum(axis=1)
                rank[~np.isfinite(t)] = n_items  # target among the train items: a miss
                hit = rank < K
                acc[b][0] += float((1.0 / np.log2(rank[hit] + 2.0)).sum())
                acc[b][1] += float(hit.sum())
                continue
            top = np.argpartition(-sc, K, axis=1)[:, :K]
            tv = np.take_along_axis(sc, top, axis=1)
            top = np.take_along_axis(top, np.argsort(-tv, axis=1, kind="stable"), axis=1)
            hits = np.take_along_axis(relm, top, axis=1)
            acc[b][0] += float(((hits * disc).sum(axis=1) / idcg).sum())
            acc[b][1] += float(hits.any(axis=1).sum())
        if len(blends) > 20:
            log(f"  evaluate: {s + len(rows)}/{len(prob.eval_rows)} users")
    n = len(prob.eval_rows)
    return {b: (v[0] / n, v[1] / n) for b, v in acc.items()}


# ------------------------------------------------------------------------------------------------
# Components
# ------------------------------------------------------------------------------------------------

def hist_weight(X: sp.csr_matrix, how: str) -> sp.csr_matrix:
    Y = X.copy().astype(np.float64)
    if how == "binary":
        Y.data[:] = 1.0
    elif how == "log":
        Y.data = np.log1p(Y.data)
    elif how != "raw":
        raise ValueError(how)
    return Y.tocsr()


def prune_rows(D: np.ndarray, n: int) -> sp.csr_matrix:
    """Keeps the n largest positive entries of each row of a dense item x item matrix."""
    m = D.shape[0]
    n = min(n, D.shape[1] - 1)
    idx = np.argpartition(-D, n, axis=1)[:, :n]
    val = np.take_along_axis(D, idx, axis=1)
    keep = val > 0
    r = np.repeat(np.arange(m), n)[keep.ravel()]
    S = sp.csr_matrix((val.ravel()[keep.ravel()], (r, idx.ravel()[keep.ravel()])), shape=D.shape)
    return S


def normalise_rows(S: sp.csr_matrix, how: str) -> sp.csr_matrix:
    if how == "none":
        return S
    S = S.tocsr().copy()
    for i in range(S.shape[0]):
        a, b = S.indptr[i], S.indptr[i + 1]
        if b > a:
            d = S.data[a:b]
            S.data[a:b] = d / (d.max() if how == "max" else d.sum())
    return S


def knn_matrix(X: sp.csr_matrix, shrink: float = 10.0, topn: int = 100, mat: str = "binary",
               exponent: float = 1.0, prune: str = "row", rownorm: str = "none",
               colnorm: str = "none") -> sp.csr_matrix:
    """Item-item cosine with shrinkage: sim(a,b) = <x_a, x_b> / (|x_a| |x_b| + shrink), x = item
    column of the (binarised or weighted) user x item matrix; diagonal 0; sim ** exponent; the
    topn largest per row (prune='row': the neighbours of each history item) or per column
    (prune='col': each candidate keeps its topn most similar items)."""
    Y = hist_weight(X, "binary" if mat == "binary" else ("log" if mat == "log" else "raw"))
    G = (Y.T @ Y).toarray()
    nrm = np.sqrt(np.diag(G))
    D = G / (np.outer(nrm, nrm) + shrink)
    del G
    np.fill_diagonal(D, 0.0)
    if exponent != 1.0:
        D **= exponent
    S = prune_rows(D, topn) if prune == "row" else prune_rows(D.T.copy(), topn).T.tocsr()
    del D
    S = normalise_rows(S, rownorm)
    if colnorm == "max":
        cm = np.asarray(S.max(axis=0).todense()).ravel()
        cm[cm == 0] = 1.0
        S = (S @ sp.diags(1.0 / cm)).tocsr()
    return S


def rp3_matrix(X: sp.csr_matrix, alpha: float = 1.0, beta: float = 0.5, topn: int = 100,
               rownorm: str = "none") -> sp.csr_matrix:
    """RP3beta (Paudel et al. 2016): W = (P_iu ** alpha) (P_ui ** alpha), P_ui the binarised
    user x item matrix with rows divided by the user's degree, P_iu its transpose with rows
    divided by the item's degree; W[:, j] /= deg_j ** beta; diagonal 0; top-N per row."""
    B = hist_weight(X, "binary")
    du = np.asarray(B.sum(axis=1)).ravel()
    di = np.asarray(B.sum(axis=0)).ravel()
    Pui = (sp.diags(1.0 / np.maximum(du, 1)) @ B).tocsr()
    Piu = (sp.diags(1.0 / np.maximum(di, 1)) @ B.T).tocsr()
    if alpha != 1.0:
        Pui.data **= alpha
        Piu.data **= alpha
    W = (Piu @ Pui).toarray()
    W /= np.power(np.maximum(di, 1), beta)[None, :]
    np.fill_diagonal(W, 0.0)
    S = prune_rows(W, topn)
    del W
    return normalise_rows(S, rownorm)


def ease_B(X: sp.csr_matrix, lam: float) -> np.ndarray:
    """EASE (Steck 2019) closed form on the weighted matrix, float32 (items x items)."""
    from scipy.linalg import cho_factor, cho_solve
    G = (X.T @ X).toarray().astype(np.float32)
    G[np.diag_indices_from(G)] += lam
    c = cho_factor(G, overwrite_a=True, check_finite=False)
    P = cho_solve(c, np.eye(G.shape[0], dtype=np.float32), overwrite_b=True, check_finite=False)
    del c, G
    B = P / (-np.diag(P))[None, :]
    np.fill_diagonal(B, 0.0)
    return B


def local_ease_matrix(X: sp.csr_matrix, lam: float, m: int = 100, shrink: float = 10.0,
                      relative: bool = False, mat: str = "raw") -> sp.csr_matrix:
    """Scalable EASE approximation: for each target item j, a ridge regression of column x_j on the
    columns of its m nearest items N(j) (cosine with shrinkage on the same matrix):
    b_j = (G[N,N] + lam I)^-1 G[N,j], G = X^T X; B[N(j), j] = b_j (j never in N(j), so EASE's zero
    diagonal holds); cost m^3/3 per item, memory m per item. Scores s = x_u B as for EASE.
    mat: the Gram matrix from the raw weights, or binarised / log(1 + w) ones."""
    X = hist_weight(X, mat)
    G = (X.T @ X).toarray()
    nrm = np.sqrt(np.diag(G))
    D = G / (np.outer(nrm, nrm) + shrink)
    np.fill_diagonal(D, -np.inf)
    nb = np.argpartition(-D, m, axis=1)[:, :m]
    del D
    n = X.shape[1]
    vals = np.empty((n, m))
    eye = lam * np.eye(m)
    dg = np.diag(G).copy()
    for j in range(n):
        N = nb[j]
        A = G[np.ix_(N, N)]
        A[np.diag_indices(m)] += lam * np.maximum(dg[N], 1.0) if relative else lam  # relative: ridge lam * G_hh
        vals[j] = np.linalg.solve(A, G[N, j])
    return sp.csr_matrix((vals.ravel(), (nb.ravel(), np.repeat(np.arange(n), m))), shape=(n, n))


def item_scorer(X: sp.csr_matrix, S, how: str = "binary"):
    """s_u = sum_h w'(x_uh) S[h, :] with w' in {binary, log(1+w), raw w}."""
    Y = hist_weight(X, how).tocsr()
    if sp.issparse(S):
        S = S.tocsr()
        return lambda rows: (Y[rows] @ S).toarray()
    return lambda rows: Y[rows] @ S


def puresvd_V(X: sp.csr_matrix, factors: int = 32, seed: int = 42) -> np.ndarray:
    from sklearn.utils.extmath import randomized_svd
    _, _, vt = randomized_svd(X, n_components=factors, n_oversamples=10, n_iter=4, random_state=seed)
    return vt  # factors x items


def cf_scorer(X, vt):
    return lambda rows: (X[rows] @ vt.T) @ vt


def content_scorer(X, T):
    T = _tfidf(T.tocsr())

    def f(rows):
        prof = (X[rows] @ T).toarray()
        nr = np.linalg.norm(prof, axis=1, keepdims=True)
        nr[nr == 0] = 1.0
        return np.asarray((T @ (prof / nr).T).T)
    return f


def pop_vector(X):
    p = np.asarray(X.sum(axis=0)).ravel()
    return p / p.max()


def maxnorm(a: np.ndarray, absolute: bool = False) -> np.ndarray:
    m = (np.abs(a) if absolute else a).max(axis=1, keepdims=True)
    m[m <= 0] = 1.0
    return a / m


# ------------------------------------------------------------------------------------------------
# Blends
# ------------------------------------------------------------------------------------------------

def reco_hybrid(c, n):
    """reco's current default: a = 0.5 n / (n + 5); a cf + (1 - a)(0.7 content + 0.3 pop)."""
    a = (0.5 * n / (n + 5.0))[:, None]
    cf = c["cf_n"] if "cf_n" in c else maxnorm(c["cf"], True)
    return a * cf + (1 - a) * (0.7 * c["content"] + 0.3 * c["pop"])


def make_blend(wk: float, wc: float, wt: float, wp: float, h0: float, hc: float = 0.0):
    """score = wk knn' + wc(n) cf' + g(n) (wt content + wp pop), per user, with knn' = knn / max knn,
    cf' = cf / max |cf|, content = cosine in [0, 1], pop = weight sum / max over items, and
    g(n) = h0 / (n + h0) for h0 > 0 (n = distinct history items), g = 1 for h0 = 0, and
    wc(n) = wc n / (n + hc) (wc constant for hc = 0).
    Expects the components 'knn_n' and 'cf_n' already normalised (see norm_components)."""
    def f(c, n):
        out = np.multiply(c["knn_n"], np.float32(wk))
        if wc:
            out += (np.float32(wc) if hc <= 0 else (wc * n / (n + hc)).astype(np.float32)[:, None]) * c["cf_n"]
        if wt:
            w = np.float32(wt) if h0 <= 0 else (wt * h0 / (n + h0)).astype(np.float32)[:, None]
            out += w * c["content"]
        if wp:
            if h0 <= 0:
                out += np.float32(wp) * c["pop"][:1]
            else:
                out += (wp * h0 / (n + h0)).astype(np.float32)[:, None] * c["pop"][:1]
        return out
    return f


def norm_components(comps: dict) -> dict:
    """Adds the per-user normalised knn_n = knn / max knn and cf_n = cf / max |cf|."""
    out = dict(comps)
    if "knn" in comps:
        f = comps["knn"]
        out["knn_n"] = lambda rows: maxnorm(np.asarray(f(rows), dtype=np.float32))
        del out["knn"]
    if "cf" in comps:
        g = comps["cf"]
        out["cf_n"] = lambda rows: maxnorm(np.asarray(g(rows), dtype=np.float32), True)
    return out


# The chosen defaults (validation rounds: KNN_GRID, KNN_GRID2, BLEND_GRID3, BLEND_GRID4; criterion:
# the mean over both data sets of nDCG@10 / best validation nDCG@10 of any method on that set).
FINAL = dict(knn=dict(shrink=10.0, topn=100, mat="raw", exponent=2.0, prune="row"),
             hist="raw", blend=dict(wk=1.0, wc=0.7, wt=0.6, wp=0.05, h0=0.0, hc=30.0))


# ------------------------------------------------------------------------------------------------
# Runs
# ------------------------------------------------------------------------------------------------

def log(msg):
    print(msg, file=sys.stderr, flush=True)


def report(results: dict, prob: Problem, phase: str, extra: str = ""):
    for name, (nd, hr) in results.items():
        print(f"| {prob.name} | {phase} | {name} | {nd:.4f} | {hr:.4f} | {extra}", flush=True)


# Peers' hyperparameters picked on the validation splits (run_peers with --grid).
TUNED = {"amazon": dict(svd=1024, ease=50), "movielens": dict(svd=32, ease=4000)}


def run_peers(prob, phase, grid):
    X = prob.train
    pop = pop_vector(X)
    comps = {"pop": lambda rows: np.tile(pop, (len(rows), 1))}
    blends = {"popularity": lambda c, n: c["pop"]}
    report(evaluate(prob, comps, blends), prob, phase)
    for f in ([16, 32, 64, 128, 256, 512, 1024, 2048] if grid else [TUNED[prob.name]["svd"]]):
        vt = puresvd_V(X, f)
        report(evaluate(prob, {"cf": cf_scorer(X, vt)}, {f"puresvd f={f}": lambda c, n: c["cf"]}), prob, phase)
    lams = ([25, 50, 100, 200, 400, 1000] if prob.name == "amazon" else [500, 1000, 2000, 4000, 8000]) \
        if grid else [TUNED[prob.name]["ease"]]
    for lam in lams:
        t0 = time.time()
        B = ease_B(X, lam)
        r = evaluate(prob, {"e": item_scorer(X, B, "raw")}, {f"ease lambda={lam}": lambda c, n: c["e"]})
        report(r, prob, phase, f"{time.time() - t0:.0f} s")
        del B


def base_components(prob, factors=32):
    X = prob.train
    vt = puresvd_V(X, factors)
    pop = pop_vector(X)
    return {"cf": cf_scorer(X, vt), "content": content_scorer(X, prob.tokens),
            "pop": lambda rows: np.tile(pop, (len(rows), 1))}


def run_reco(prob, phase):
    comps = base_components(prob)
    blends = {"reco hybrid (current)": reco_hybrid, "reco cf (32 f)": lambda c, n: c["cf"],
              "reco content": lambda c, n: c["content"]}
    report(evaluate(prob, comps, blends), prob, phase)


KNN_GRID = [dict(shrink=s, topn=t, mat=m, exponent=1.0, prune=p)
            for s in (0, 10, 50) for t in (50, 100, 200) for m in ("binary", "raw") for p in ("row",)] + \
           [dict(shrink=10, topn=100, mat="binary", exponent=e, prune="row") for e in (0.5, 2.0)] + \
           [dict(shrink=10, topn=100, mat="binary", exponent=1.0, prune="col")] + \
           [dict(shrink=10, topn=100, mat="binary", exponent=1.0, prune="row", rownorm="max"),
            dict(shrink=10, topn=100, mat="binary", exponent=1.0, prune="row", colnorm="max")]

# Second round (after the first showed shrinkage > 0, row pruning, no per-item normalisation and
# exponent 2 to help on both data sets): exponent x shrink x top-N x matrix weighting.
KNN_GRID2 = [dict(shrink=s, topn=t, mat=m, exponent=e, prune="row")
             for e in (1.5, 2.0, 3.0) for s in (10, 50, 200) for t in (50, 100, 200)
             for m in ("binary", "log", "raw")]


def run_knn(prob, phase, grid, configs=None):
    X = prob.train
    # Amazon: every weight is 1, so the matrix and history variants coincide; only 'binary' runs.
    hists = ("binary",) if prob.name == "amazon" else ("binary", "log", "raw")
    for cfg in (configs or (KNN_GRID if grid else [FINAL["knn"]])):
        if prob.name == "amazon" and cfg.get("mat") != "binary":
            continue
        t0 = time.time()
        S = knn_matrix(X, **cfg)
        comps = {h: item_scorer(X, S, h) for h in hists}
        blends = {f"knn {cfg} hist={h}": (lambda h: lambda c, n: c[h])(h) for h in comps}
        report(evaluate(prob, comps, blends), prob, phase, f"{time.time() - t0:.0f} s")


RP3_GRID = [dict(alpha=a, beta=b, topn=t) for a in (0.5, 1.0) for b in (0.0, 0.3, 0.5, 0.7) for t in (100,)] + \
           [dict(alpha=1.0, beta=0.5, topn=t) for t in (50, 200)]


def run_rp3(prob, phase, grid, configs=None):
    X = prob.train
    for cfg in (configs or (RP3_GRID if grid else [dict(alpha=1.0, beta=0.5, topn=100)])):
        t0 = time.time()
        S = rp3_matrix(X, **cfg)
        comps = {h: item_scorer(X, S, h) for h in (("binary",) if prob.name == "amazon" else ("binary", "log"))}
        blends = {f"rp3 {cfg} hist={h}": (lambda h: lambda c, n: c[h])(h) for h in comps}
        report(evaluate(prob, comps, blends), prob, phase, f"{time.time() - t0:.0f} s")


def run_localease(prob, phase, lams, ms=(100, 200), relative=False, mat="raw"):
    X = prob.train
    for m in ms:
        for lam in lams:
            t0 = time.time()
            B = local_ease_matrix(X, lam, m, relative=relative, mat=mat)
            r = evaluate(prob, {"e": item_scorer(X, B, "raw")},
                         {f"local-ease lambda={lam}{' x G_hh' if relative else ''} m={m} mat={mat}": lambda c, n: c["e"]})
            report(r, prob, phase, f"{time.time() - t0:.0f} s")


def run_easeprune(prob, phase, lam, topns=(50, 100, 200, 500)):
    X = prob.train
    B = ease_B(X, lam)
    comps = {"dense": item_scorer(X, B, "raw")}
    for t in topns:
        comps[f"row{t}"] = item_scorer(X, prune_rows(B, t), "raw")
        comps[f"col{t}"] = item_scorer(X, prune_rows(B.T.copy(), t).T.tocsr(), "raw")
    blends = {f"ease lambda={lam} {k}": (lambda k: lambda c, n: c[k])(k) for k in comps}
    report(evaluate(prob, comps, blends), prob, phase)


KNN_BLEND_CANDIDATES = {
    "knn100": dict(shrink=10.0, topn=100, mat="raw", exponent=2.0, prune="row"),
    "knn200": dict(shrink=10.0, topn=200, mat="raw", exponent=2.0, prune="row"),
}
BLEND_GRID = [dict(wk=1.0, wc=wc, wt=wt, wp=wp, h0=0.0)
              for wc in (0.0, 0.1, 0.2, 0.4) for wp in (0.0, 0.02, 0.05, 0.1) for wt in (0.0, 0.05, 0.1, 0.2)]

# Round 2: larger cf weights (round 1 peaked at its edge wc = 0.4 on MovieLens) and a
# history-length dependent content/pop weight (h0 > 0: wt(n) = wt h0 / (n + h0)).
BLEND_GRID2 = [dict(wk=1.0, wc=wc, wt=wt, wp=wp, h0=h0)
               for wc in (0.3, 0.5, 0.7, 1.0) for wp in (0.0, 0.05, 0.1) for wt in (0.1, 0.2, 0.4)
               for h0 in (0.0, 20.0)]
# Round 3, the one grid run on both data sets (after rounds 1-2 on MovieLens only):
BLEND_GRID3 = [dict(wk=1.0, wc=wc, wt=wt, wp=wp, h0=h0)
               for wc in (0.0, 0.1, 0.2, 0.4, 0.7, 1.0) for wt in (0.0, 0.05, 0.1, 0.2, 0.4)
               for wp in (0.0, 0.02, 0.05, 0.1) for h0 in (0.0, 20.0) if h0 == 0 or wt + wp > 0]
# Round 4 (round 3: content weight at its edge 0.4 on both; Amazon wants little cf, MovieLens
# more): larger content weights and a cf weight growing with history length.
BLEND_GRID4 = [dict(wk=1.0, wc=wc, wt=wt, wp=wp, h0=0.0, hc=hc)
               for wc in (0.2, 0.4, 0.7, 1.0) for hc in (0.0, 10.0, 30.0) for wt in (0.4, 0.6, 0.8, 1.2)
               for wp in (0.0, 0.05)]
BLEND_GRIDS = {"1": BLEND_GRID, "2": BLEND_GRID2, "3": BLEND_GRID3, "4": BLEND_GRID4}


def run_blend(prob, phase, grid, knns=None, hist="raw"):
    """Blends of kNN candidates with reco's cf, content and pop (make_blend), on one evaluation."""
    comps = norm_components(base_components(prob))
    knns = knns or KNN_BLEND_CANDIDATES
    for name, cfg in knns.items():
        comps["knn_n:" + name] = (lambda f: lambda rows: maxnorm(np.asarray(f(rows), dtype=np.float32)))(
            item_scorer(prob.train, knn_matrix(prob.train, **cfg), hist))
    blends = {}
    for name in knns:
        for b in grid:
            f = make_blend(**b)
            blends[f"{name} {b}"] = (lambda f, name: lambda c, n: f({**c, "knn_n": c["knn_n:" + name]}, n))(f, name)
    report(evaluate(prob, comps, blends), prob, phase)


def final_components(prob, cfg=FINAL, lease_lam=None):
    comps = base_components(prob)
    S = local_ease_matrix(prob.train, lease_lam, 200) if lease_lam else knn_matrix(prob.train, **cfg["knn"])
    comps["knn"] = item_scorer(prob.train, S, cfg["hist"])
    return norm_components(comps)


def run_final(prob, phase, cfg=FINAL, lease_lam=None):
    """The chosen blend; with lease_lam the item-item component is local EASE (m = 200) instead."""
    comps = final_components(prob, cfg, lease_lam)
    if lease_lam:
        cfg = {**cfg, "knn": f"local-ease lambda={lease_lam} m=200"}
    blends = {"final blend": make_blend(**cfg["blend"]), "knn alone": lambda c, n: c["knn_n"],
              "reco hybrid (current)": reco_hybrid}
    report(evaluate(prob, comps, blends), prob, phase, str(cfg))


def knn_build_chunked(X: sp.csr_matrix, shrink: float, topn: int, exponent: float,
                      rows: np.ndarray | None = None, chunk: int = 2000):
    """The scalable build: S rows of items `rows` (default all) from sparse X^T X, `chunk` items at a
    time (Gustavson product of the chunk's columns of X^T with X), cosine + shrink + exponent, top-N
    per row. Returns (S restricted to those rows as csr, co-occurrence products done, seconds)."""
    t0 = time.time()
    Xc = X.tocsc()
    XT = Xc.T.tocsr()                      # items x users
    sq = np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel())
    du = np.diff(X.indptr).astype(np.float64)
    rows = np.arange(X.shape[1]) if rows is None else rows
    ops = 0.0
    out_r, out_c, out_v = [], [], []
    for s in range(0, len(rows), chunk):
        rr = rows[s:s + chunk]
        A = XT[rr]                          # chunk x users
        ops += float(du[A.indices].sum())   # multiply-adds of this chunk's rows of X^T X
        G = (A @ X).tocsr()                 # chunk x items, sparse co-occurrence
        for i in range(len(rr)):
            a, b = G.indptr[i], G.indptr[i + 1]
            cols, v = G.indices[a:b], G.data[a:b]
            keep = cols != rr[i]
            cols, v = cols[keep], v[keep]
            v = v / (sq[rr[i]] * sq[cols] + shrink)
            if exponent != 1.0:
                v = v ** exponent
            if len(v) > topn:
                j = np.argpartition(-v, topn)[:topn]
                cols, v = cols[j], v[j]
            out_r.append(np.full(len(v), rr[i]))
            out_c.append(cols)
            out_v.append(v)
    S = sp.csr_matrix((np.concatenate(out_v), (np.concatenate(out_r), np.concatenate(out_c))),
                      shape=(X.shape[1], X.shape[1]))
    return S, ops, time.time() - t0


def run_scale(prob, sample_items: int = 2000, seed: int = 1):
    """Checks that the chunked sparse build equals the dense one on this data set, then times it on
    a synthetic tier-L matrix (100k items, 1M users, ~20M interactions, lognormal history lengths
    with mean ~20, Zipf-like item popularity) for a random sample of item rows, and extrapolates."""
    cfg = FINAL["knn"]
    X = hist_weight(prob.train, "binary" if cfg["mat"] == "binary" else cfg["mat"])
    S1 = knn_matrix(prob.train, **cfg)
    S2, ops, secs = knn_build_chunked(X, cfg["shrink"], cfg["topn"], cfg["exponent"])
    diff = abs(S1 - S2).max()
    log(f"{prob.name}: chunked build {secs:.1f} s, {ops:.3g} multiply-adds, nnz {S2.nnz}; "
        f"max |dense - chunked| = {diff:.2e} (ties at the top-N boundary may differ)")
    rng = np.random.default_rng(seed)
    n_users, n_items = 1_000_000, 100_000
    lens = np.maximum(1, np.round(rng.lognormal(np.log(12.0), 1.0, n_users))).astype(np.int64)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    pop /= pop.sum()
    items = rng.choice(n_items, size=int(lens.sum()), p=pop).astype(np.int32)
    indptr = np.concatenate(([0], np.cumsum(lens)))
    Xl = sp.csr_matrix((np.ones(len(items), dtype=np.float32), items, indptr), shape=(n_users, n_items))
    Xl.sum_duplicates()
    Xl.data[:] = 1.0
    du = np.diff(Xl.indptr).astype(np.float64)
    total_ops = float((du ** 2).sum())
    log(f"synthetic tier L: {n_users} users x {n_items} items, {Xl.nnz} cells, mean history "
        f"{du.mean():.1f}, max {du.max():.0f}; sum n_u^2 = {total_ops:.3g}")
    rows = np.sort(rng.choice(n_items, size=sample_items, replace=False))
    _, ops_s, secs_s = knn_build_chunked(Xl, cfg["shrink"], cfg["topn"], cfg["exponent"], rows, chunk=500)
    log(f"sample of {sample_items} item rows: {ops_s:.3g} multiply-adds in {secs_s:.1f} s "
        f"({secs_s / ops_s * 1e9:.2f} ns each, scipy single thread); "
        f"whole build extrapolated {secs_s * n_items / sample_items:.0f} s here")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=("amazon", "movielens"), required=True)
    ap.add_argument("--phase", choices=("validation", "test"), default="validation")
    ap.add_argument("--method", default="default",
                    choices=("default", "peers", "reco", "knn", "rp3", "ease", "easeprune", "blend", "final", "scale", "localease", "localease-rel", "localease-binary", "localease-log", "all"))
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--grid2", action="store_true", help="knn: the second-round grid")
    ap.add_argument("--blend-grid", default="3", choices=tuple(BLEND_GRIDS))
    ap.add_argument("--knn", default="knn100", help="blend: comma list of KNN_BLEND_CANDIDATES")
    ap.add_argument("--lam", type=float, default=None, help="EASE lambda for easeprune")
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("RECO_DATA_DIR", DEFAULT_DATA)))
    a = ap.parse_args()
    t0 = time.time()
    prob = load(a.dataset, a.data_dir, a.phase)
    log(f"{a.dataset} {a.phase}: {prob.train.shape[0]} users x {prob.train.shape[1]} items, "
        f"{prob.train.nnz} train cells, {len(prob.eval_rows)} scored users")
    print("| dataset | phase | method | nDCG@10 | HR@10 | note |\n|---|---|---|---|---|---|")
    m = a.method
    if m in ("default", "final", "all"):
        run_final(prob, a.phase, lease_lam=a.lam)
    if m in ("default", "peers", "all", "ease"):
        run_peers(prob, a.phase, a.grid)
    if m in ("reco",):
        run_reco(prob, a.phase)
    if m in ("knn", "all"):
        run_knn(prob, a.phase, a.grid, KNN_GRID2 if a.grid2 else None)
    if m in ("rp3", "all"):
        run_rp3(prob, a.phase, a.grid)
    if m == "localease":
        run_localease(prob, a.phase, [a.lam] if a.lam else
                      ([25, 50, 100, 200] if a.dataset == "amazon" else [500, 1000, 2000, 4000]))
    if m in ("localease-binary", "localease-log"):
        run_localease(prob, a.phase, [a.lam] if a.lam else [25.0, 50.0, 100.0, 200.0, 400.0], ms=(200,),
                      mat=m.split("-")[1])
    if m == "localease-rel":
        run_localease(prob, a.phase, [a.lam] if a.lam else [1.0, 4.0, 16.0], ms=(200,), relative=True)
    if m == "scale":
        run_scale(prob)
    if m == "blend":
        run_blend(prob, a.phase, BLEND_GRIDS[a.blend_grid],
                  {k: KNN_BLEND_CANDIDATES[k] for k in a.knn.split(",")})
    if m == "easeprune":
        run_easeprune(prob, a.phase, a.lam or (100 if a.dataset == "amazon" else 4000))
    log(f"done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
