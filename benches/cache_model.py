"""HTTP/2 requests through certgate and HAProxy under callgrind's model of this CPU's cache: how
many instructions a proxied request costs each, how often it misses the L2 (1 MiB, the last
level the model has) for reading and for writing, and how many of the write misses are `memcpy`
moving values into memory not touched for a while. Counts, not seconds: steady on a noisy
machine, so a change to how a request's state is kept can be measured before any req/s run
(`docs/benchmarks.md`, "HTTP/2 with many streams in flight").

    python3 benches/cache_model.py
    CACHE_POINTS=16x100 CACHE_SERVERS=certgate CACHE_BINARY=/tmp/other/certgate python3 benches/cache_model.py

CACHE_POINTS: h2load `-c`x`-m` points (default 8x10,16x100); CACHE_REQUESTS counted after 2,000
(default 10,000); CACHE_SERVERS (default certgate,haproxy); CACHE_CALLERS, how many of the
functions calling `memcpy` to list by their write misses (default 6). Needs valgrind, h2load, haproxy,
redis-server and the bench upstream (`just bench` installs and builds them). ≈ 3 min a row.
"""

import collections
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import bench as b  # noqa: E402

POINTS = os.environ.get("CACHE_POINTS", "8x10,16x100").split(",")
REQUESTS = int(os.environ.get("CACHE_REQUESTS", "10000"))
SERVERS = os.environ.get("CACHE_SERVERS", "certgate,haproxy").split(",")
BINARY = os.environ.get("CACHE_BINARY") or None
CALLERS = int(os.environ.get("CACHE_CALLERS", "6"))
WARM_UP = 2000


def callgrind(out):
    """valgrind with the cache model: the L2's size, ways and line as its last level."""
    return ["valgrind", "--tool=callgrind", "--cache-sim=yes", "--LL=1048576,8,64", f"--callgrind-out-file={out}"]


def compressed_name(names, text):
    """A function's name in callgrind's compressed form: `(id) name` defines, `(id)` refers."""
    m = re.match(r"\((\d+)\)(?: (.*))?", text.strip())
    if not m:
        return text.strip()
    if m.group(2):
        names[m.group(1)] = m.group(2)
    return names.get(m.group(1), text.strip())


def read_dump(path):
    """(totals by event, write misses in calls to memcpy/memmove by calling function, those
    calls) of one dump."""
    names, events, totals = {}, [], {}
    by_caller, memcpy_calls = collections.Counter(), 0
    caller = callee = calls = None
    with open(path) as dump:
        for line in dump:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith(("summary:", "totals:")):
                values = dict(zip(events, map(int, line.split()[1:])))
                totals = {k: max(v, totals.get(k, 0)) for k, v in values.items()}
            elif line.startswith("fn="):
                caller = compressed_name(names, line[3:])
            elif line.startswith("cfn="):
                callee = compressed_name(names, line[4:])
            elif line.startswith("calls="):
                calls = int(line.split()[0][6:])
            elif calls is not None:
                if callee and re.search(r"mem(cpy|move)", callee):
                    costs = dict(zip(events, map(int, line.split()[1:])))
                    by_caller[caller] += costs.get("DLmw", 0)
                    memcpy_calls += calls
                calls = None
    return totals, by_caller, memcpy_calls


def count(server, port, point, out):
    """Runs the point's load on `server` (started under callgrind), counting only its last
    REQUESTS requests: the figures per request."""
    conns, streams = point.split("x")
    load = ["h2load", "--connect-to", f"127.0.0.1:{port}", "-c", conns, "-m", streams, "https://bench.test/"]
    totals, by_caller, calls = {}, collections.Counter(), 0
    for f in b.callgrind_dumps(server.proc.pid, load, WARM_UP, REQUESTS, out):
        t, m, c = read_dump(f)
        for k, v in t.items():
            totals[k] = totals.get(k, 0) + v
        by_caller, calls = by_caller + m, calls + c
    return {k: v / REQUESTS for k, v in totals.items()}, by_caller, calls / REQUESTS


def main():
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    first, upstream = b.proxied_certgate("cache:", binary=BINARY)
    cert_key = b.export(first.admin, "bench")
    first.stop()
    callers = {}
    print("| point | server | instructions per request | L2 read misses | L2 write misses | … of them in `memcpy` | `memcpy` calls |")
    print("|---|---|---|---|---|---|---|")
    for point in POINTS:
        for name in SERVERS:
            out = os.path.join(b.TMP, f"callgrind.{name}.out")
            if name == "certgate":
                server = b.Certgate(first.redis_url, prefix="cache:", binary=BINARY, launcher=callgrind(out))
                server.start(1, "0")
            else:
                server = b.Haproxy("haproxy")
                server.launcher = callgrind(out)
                server.start(1, "0", *cert_key, upstream)
            totals, by_caller, calls = count(server, server.port, point, out)
            server.stop()
            copies = sum(by_caller.values()) / REQUESTS
            print(f"| HTTP/2 {point} | {name} | {totals.get('Ir', 0) / 1000:.1f}k | {totals.get('DLmr', 0):.1f} | "
                  f"{totals.get('DLmw', 0):.1f} | {copies:.1f} | {calls:.0f} |", flush=True)
            callers[(point, name)] = by_caller
    # Where the copies that miss are made: the functions calling memcpy, LTO's inlining included.
    for (point, name), by_caller in callers.items() if CALLERS else []:
        print(f"\n`memcpy` write misses per request by caller, {name} at HTTP/2 {point}:")
        for caller, misses in by_caller.most_common(CALLERS):
            print(f"- {misses / REQUESTS:.1f} {caller[:160]}")


if __name__ == "__main__":
    b.run_stopping_all(main)
