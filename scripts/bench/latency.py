#!/usr/bin/env python3
"""Summarise pgbench per-transaction logs (pgbench -l): TPS and latency percentiles.

    python3 latency.py [--skip SECONDS] [--json FILE] [--label NAME] LOGFILE...

Log lines (PostgreSQL 15, no --aggregate-interval): client_id transaction_no latency_us script_no
epoch_s epoch_us [lag]. Transactions that *started* in the first --skip seconds of the run are the
warm-up and are dropped; TPS = measured transactions / (last end - window start).
"""
import argparse
import math
import json
import sys


def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    # nearest rank: the smallest value with at least p% of the values at or below it
    i = min(len(sorted_vals) - 1, max(0, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip", type=float, default=0.0)
    ap.add_argument("--json")
    ap.add_argument("--label", default="")
    ap.add_argument("logs", nargs="+")
    a = ap.parse_args()
    tx = []  # (start, end, latency_ms)
    failed = 0
    for path in a.logs:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) < 6:
                    continue
                if p[2] in ("failed", "skipped"):
                    failed += 1
                    continue
                lat_us = int(p[2])
                end = int(p[4]) + int(p[5]) / 1e6
                tx.append((end - lat_us / 1e6, end, lat_us / 1000.0))
    if not tx:
        sys.exit("latency.py: no transactions in " + " ".join(a.logs))
    t0 = min(t[0] for t in tx)
    w0 = t0 + a.skip
    kept = [t for t in tx if t[0] >= w0]
    end = max(t[1] for t in kept)
    lat = sorted(t[2] for t in kept)
    dur = end - w0 if a.skip > 0 else end - t0
    out = {
        "label": a.label, "transactions": len(kept), "warmup_dropped": len(tx) - len(kept), "failed": failed,
        "window_s": round(dur, 2), "tps": round(len(kept) / dur, 1),
        "avg_ms": round(sum(lat) / len(lat), 3), "p50_ms": round(pct(lat, 50), 3),
        "p90_ms": round(pct(lat, 90), 3), "p99_ms": round(pct(lat, 99), 3),
        "p999_ms": round(pct(lat, 99.9), 3), "max_ms": round(lat[-1], 3),
    }
    print(f"{a.label:<12} tx={out['transactions']:<7} tps={out['tps']:<9} avg={out['avg_ms']} ms  "
          f"p50={out['p50_ms']} ms  p90={out['p90_ms']} ms  p99={out['p99_ms']} ms  "
          f"p99.9={out['p999_ms']} ms  max={out['max_ms']} ms  (warm-up dropped: {out['warmup_dropped']})")
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
