#!/usr/bin/env python3
"""The pipeline a team would write instead of reco.refresh(): the benchmark's "peer".

    python3 scripts/bench/peer_pipeline.py [--json FILE]      # connection from PGHOST/PGPORT/PGUSER/PGDATABASE

Steps (each timed):
  read      COPY out (user_id, shoe_id, weight) = reco.interactions JOIN reco.action_weights, and the
            text columns of reco.shoes (binary COPY, parsed with numpy; no per-row Python work)
  build     scipy.sparse CSR (users with interactions x all shoes, duplicates summed)
  svd       sklearn.utils.extmath.randomized_svd(A, n_components=64, n_oversamples=10, n_iter=4,
            random_state=42) -- reco's defaults (src/guc.rs: reco.factors, reco.svd_oversampling,
            reco.svd_power_iterations, reco.seed)
  tfidf     TfidfVectorizer(sublinear_tf=True, smooth_idf=True, norm='l2') over
            name + brand + type + material + color + description
  write     in ONE transaction: (re)create peer.model_users(user_id, factors real[]) and
            peer.model_shoes(shoe_id, factors real[], tfidf_terms int[], tfidf_weights real[]), both
            with a primary key like reco.model_users/model_shoes, and binary COPY the results in.
            users: factors = U * diag(s) (as reco.model_users), shoes: factors = V rows (as
            reco.model_shoes).

The script makes its own virtualenv (scripts/bench/.venv, gitignored) with pinned packages on first
use and re-executes itself inside it. BLAS is left multi-threaded (OpenBLAS uses all cores: 2 here),
which is the peer's natural set-up; reco uses the same 2 cores through rayon.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.environ.get("RECO_BENCH_VENV", os.path.join(HERE, ".venv"))
PINS = ["psycopg[binary]==3.2.9", "numpy==2.2.6", "scipy==1.15.3", "scikit-learn==1.6.1",
        "threadpoolctl==3.6.0"]


def ensure_venv():
    py = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    stamp = os.path.join(VENV, ".reco-bench-pins")
    want = "\n".join(PINS)
    have = open(stamp).read() if os.path.exists(stamp) else None
    if have != want:
        print(f"peer: creating virtualenv {VENV} with {' '.join(PINS)}", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([py, "-m", "pip", "install", "-q", *PINS])
        with open(stamp, "w") as f:
            f.write(want)
    os.execv(py, [py, os.path.abspath(__file__), *sys.argv[1:]])


ensure_venv()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import sklearn  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.utils.extmath import randomized_svd  # noqa: E402
from threadpoolctl import threadpool_info  # noqa: E402

PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
PGCOPY_TRAILER = b"\xff\xff"
FLOAT4_OID = 700
INT4_OID = 23

READ_INTERACTIONS = """COPY (SELECT i.user_id, i.shoe_id, w.weight::float8
      FROM reco.interactions i JOIN reco.action_weights w ON w.action = i.action) TO STDOUT (FORMAT binary)"""
READ_SHOES = """COPY (SELECT shoe_id, name, brand, type, coalesce(material, ''), coalesce(color, ''),
             coalesce(description, '') FROM reco.shoes ORDER BY shoe_id) TO STDOUT"""

# One binary COPY tuple of (int8, int8, float8): field count, then (length, value) per field.
TRIPLET = np.dtype([("nf", ">i2"), ("l1", ">i4"), ("user", ">i8"), ("l2", ">i4"), ("shoe", ">i8"),
                    ("l3", ">i4"), ("w", ">f8")])


def copy_out(cur, sql):
    buf = bytearray()
    with cur.copy(sql) as copy:
        for chunk in copy:
            buf += chunk
    return buf


def read_interactions(cur):
    buf = copy_out(cur, READ_INTERACTIONS)
    assert buf[:11] == PGCOPY_HEADER[:11], "not a binary COPY stream"
    ext = int.from_bytes(buf[15:19], "big")
    start = 19 + ext
    n = (len(buf) - start - 2) // TRIPLET.itemsize
    rows = np.frombuffer(buf, dtype=TRIPLET, count=n, offset=start)
    assert n == 0 or (rows["nf"][0] == 3 and rows["l3"][0] == 8), "unexpected tuple layout"
    return rows["user"].astype(np.int64), rows["shoe"].astype(np.int64), rows["w"].astype(np.float32)


def read_shoes(cur):
    ids, docs = [], []
    with cur.copy(READ_SHOES) as copy:
        copy.set_types(["int8", "text", "text", "text", "text", "text", "text"])
        for row in copy.rows():
            ids.append(row[0])
            docs.append(" ".join(row[1:]))
    return np.asarray(ids, dtype=np.int64), docs


def pg_array_f4(dim, n):
    """dtype of n binary float4[] values of length dim, each preceded by its int8 id."""
    return np.dtype([("nf", ">i2"), ("lid", ">i4"), ("id", ">i8"), ("larr", ">i4"),
                     ("ndim", ">i4"), ("hasnull", ">i4"), ("oid", ">i4"), ("dim", ">i4"), ("lb", ">i4"),
                     ("el", [("l", ">i4"), ("v", ">f4")], (dim,))])


def users_copy_payload(ids, factors):
    m, k = factors.shape
    rec = np.empty(m, dtype=pg_array_f4(k, m))
    rec["nf"] = 2
    rec["lid"] = 8
    rec["id"] = ids
    rec["larr"] = 20 + 8 * k
    rec["ndim"] = 1
    rec["hasnull"] = 0
    rec["oid"] = FLOAT4_OID
    rec["dim"] = k
    rec["lb"] = 1
    rec["el"]["l"] = 4
    rec["el"]["v"] = factors
    return PGCOPY_HEADER + rec.tobytes() + PGCOPY_TRAILER


def bin_array(values, oid, be_type):
    n = len(values)
    el = np.empty(n, dtype=[("l", ">i4"), ("v", be_type)])
    el["l"] = 4
    el["v"] = values
    body = np.array([1, 0, oid, n, 1], dtype=">i4").tobytes() + el.tobytes() if n else \
        np.array([0, 0, oid], dtype=">i4").tobytes()
    return len(body).to_bytes(4, "big", signed=True) + body


def shoes_copy_payload(ids, factors, tfidf):
    out = [PGCOPY_HEADER]
    be_factors = factors.astype(np.float32)
    for i, sid in enumerate(ids.tolist()):
        lo, hi = tfidf.indptr[i], tfidf.indptr[i + 1]
        out.append(b"\x00\x04" + b"\x00\x00\x00\x08" + int(sid).to_bytes(8, "big", signed=True))
        out.append(bin_array(be_factors[i], FLOAT4_OID, ">f4"))
        out.append(bin_array(tfidf.indices[lo:hi], INT4_OID, ">i4"))
        out.append(bin_array(tfidf.data[lo:hi], FLOAT4_OID, ">f4"))
    out.append(PGCOPY_TRAILER)
    return b"".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--oversamples", type=int, default=10)
    ap.add_argument("--iters", type=int, default=4)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                    help="dtype of the sparse matrix and the SVD (reco works in f32; default float32)")
    ap.add_argument("--json", help="append a JSON line with the timings to this file")
    args = ap.parse_args()

    t = {}
    t_all = time.perf_counter()
    conn = psycopg.connect("", autocommit=False)
    cur = conn.cursor()

    t0 = time.perf_counter()
    users, shoes, w = read_interactions(cur)
    shoe_ids, docs = read_shoes(cur)
    conn.commit()
    t["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    user_ids, rows = np.unique(users, return_inverse=True)
    cols = np.searchsorted(shoe_ids, shoes)
    known = (cols < len(shoe_ids)) & (shoe_ids[np.minimum(cols, len(shoe_ids) - 1)] == shoes)
    a = sp.csr_matrix((w[known].astype(args.dtype), (rows[known], cols[known])),
                      shape=(len(user_ids), len(shoe_ids)))
    a.sum_duplicates()
    t["build"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    u, s, vt = randomized_svd(a, n_components=args.k, n_oversamples=args.oversamples, n_iter=args.iters,
                              random_state=args.seed)
    user_factors = (u * s).astype(np.float32)
    shoe_factors = vt.T.astype(np.float32)
    t["svd"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    vec = TfidfVectorizer(sublinear_tf=True, smooth_idf=True, norm="l2", dtype=np.float32)
    tfidf = vec.fit_transform(docs).tocsr()
    tfidf.sort_indices()
    t["tfidf"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cur.execute("CREATE SCHEMA IF NOT EXISTS peer")
    cur.execute("DROP TABLE IF EXISTS peer.model_users, peer.model_shoes")
    cur.execute("CREATE TABLE peer.model_users (user_id bigint PRIMARY KEY, factors real[] NOT NULL)")
    cur.execute("CREATE TABLE peer.model_shoes (shoe_id bigint PRIMARY KEY, factors real[] NOT NULL, "
                "tfidf_terms integer[] NOT NULL, tfidf_weights real[] NOT NULL)")
    with cur.copy("COPY peer.model_users (user_id, factors) FROM STDIN (FORMAT binary)") as copy:
        copy.write(users_copy_payload(user_ids, user_factors))
    with cur.copy("COPY peer.model_shoes (shoe_id, factors, tfidf_terms, tfidf_weights) FROM STDIN "
                  "(FORMAT binary)") as copy:
        copy.write(shoes_copy_payload(shoe_ids, shoe_factors, tfidf))
    conn.commit()
    t["write"] = time.perf_counter() - t0
    t["total"] = time.perf_counter() - t_all
    conn.close()

    blas = [f"{i.get('internal_api')} {i.get('version')} threads={i.get('num_threads')}"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    info = {
        "users": int(a.shape[0]), "shoes": int(a.shape[1]), "interactions": int(len(w)), "nnz": int(a.nnz),
        "vocabulary": len(vec.vocabulary_), "k": args.k, "dtype": args.dtype,
        "singular_values_top5": [round(float(x), 4) for x in s[:5]],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
                     "sklearn": sklearn.__version__, "psycopg": psycopg.__version__},
        "blas": blas,
        "seconds": {k: round(v, 3) for k, v in t.items()},
    }
    print(f"peer pipeline: {info['users']} users x {info['shoes']} shoes, {info['interactions']} interactions "
          f"(nnz {info['nnz']}), k={args.k}, {args.dtype}, BLAS: {'; '.join(blas)}")
    print(f"  {'phase':<8} {'seconds':>8}")
    for k in ("read", "build", "svd", "tfidf", "write", "total"):
        print(f"  {k:<8} {t[k]:8.2f}")
    print(f"  top singular values {info['singular_values_top5']}; peak RSS {info['peak_rss_mb']} MB")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(info) + "\n")


if __name__ == "__main__":
    main()
