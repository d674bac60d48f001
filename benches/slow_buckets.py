#!/usr/bin/env python3
"""When a load's slow requests happen: h2load's per-request log of a pinned certgate (or HAProxy)
in 50 ms buckets of start time, and which buckets hold the requests at or above the p99. Slow
requests spread over every bucket mean a per-request cost; a few buckets holding whole
connections' windows (multiples of the streams per connection) mean moments when whole
connections waited (`docs/benchmarks.md`, "p99 at 100 streams per connection").

    SLOW_LOAD="-c 16 -m 100" python3 benches/slow_buckets.py
    SLOW_SERVER=haproxy python3 benches/slow_buckets.py

SLOW_LOAD: h2load's arguments (default `-c 16 -m 100`); SLOW_SERVER: certgate (default,
target/release or SLOW_BINARY) or haproxy; SLOW_RUNS runs of 8 s (default 2).
"""

import collections
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b  # noqa: E402

BUCKET = 0.05


def main():
    load = os.environ.get("SLOW_LOAD", "-c 16 -m 100").split()
    server, upstream = b.proxied_certgate("slow:", os.environ.get("SLOW_BINARY"))
    if os.environ.get("SLOW_SERVER") == "haproxy":
        server = b.haproxy_instead(server, upstream)
    for run in range(int(os.environ.get("SLOW_RUNS", "2"))):
        log = os.path.join(b.TMP, "requests.log")
        subprocess.run(["taskset", "-c", "1", "timeout", "60", "h2load", "--connect-to", f"127.0.0.1:{server.port}",
                        "-D", "8", "--warm-up-time", "1"] + load + ["--log-file", log, "https://bench.test/"],
                       capture_output=True, text=True)
        # Each line: start time (µs since the epoch), status, duration (µs).
        rows = sorted((int(f[0]), int(f[2])) for f in (line.split("\t") for line in open(log)) if len(f) >= 3)
        os.remove(log)
        durations = sorted(d for _, d in rows)
        n = len(durations)
        p99 = durations[int(0.99 * n)]
        print(f"run {run}: {n} requests, mean {statistics.mean(durations) / 1000:.1f} ms, "
              f"p50 {durations[n // 2] / 1000:.1f}, p99 {p99 / 1000:.1f}, max {durations[-1] / 1000:.1f}")
        start = rows[0][0]
        buckets, slow = set(), collections.Counter()
        for began, took in rows:
            k = int((began - start) / 1e6 / BUCKET)
            buckets.add(k)
            if took >= p99:
                slow[k] += 1
        print(f"  requests at or above the p99 fall in {len(slow)} of {len(buckets)} buckets of {BUCKET * 1000:.0f} ms: "
              + " ".join(f"{k * BUCKET:.2f}s:{slow[k]}" for k in sorted(slow)))


if __name__ == "__main__":
    b.run_stopping_all(main)
