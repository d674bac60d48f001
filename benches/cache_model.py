"""HTTP/2 requests through certgate and HAProxy under callgrind's model of this CPU's cache: how
many instructions a proxied request costs each, how often it misses the L2 (1 MiB, the last
level the model has) for reading and for writing, and how many of the write misses are `memcpy`
moving values into memory not touched for a while. Counts, not seconds: steady on a noisy
machine, so a change to how a request's state is kept can be measured before any req/s run
(`docs/benchmarks.md`, "HTTP/2 with many streams in flight").

    python3 benches/cache_model.py
    CACHE_POINTS=16x100 CACHE_SERVERS=certgate CACHE_BINARY=/tmp/other/certgate python3 benches/cache_model.py

CACHE_POINTS: h2load `-c`x`-m` points (default 8x10,16x100); CACHE_REQUESTS counted after 2,000
(default 10,000); CACHE_SERVERS (default certgate,haproxy). Needs valgrind, h2load, haproxy,
redis-server and the bench upstream (`just bench` installs and builds them). ≈ 3 min a row.
"""

import glob
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import bench as b  # noqa: E402

POINTS = os.environ.get("CACHE_POINTS", "8x10,16x100").split(",")
REQUESTS = int(os.environ.get("CACHE_REQUESTS", "10000"))
SERVERS = os.environ.get("CACHE_SERVERS", "certgate,haproxy").split(",")
BINARY = os.environ.get("CACHE_BINARY") or None
WARM_UP = 2000


def callgrind(out):
    """valgrind with the cache model: the L2's size, ways and line as its last level."""
    return ["valgrind", "--tool=callgrind", "--cache-sim=yes", "--LL=1048576,8,64", f"--callgrind-out-file={out}"]


def read_dump(path):
    """(totals by event, write misses in calls to memcpy/memmove, those calls) of one dump."""
    names, events, totals = {}, [], {}
    memcpy_misses = memcpy_calls = 0
    callee, calls = None, None
    with open(path) as dump:
        for line in dump:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith(("summary:", "totals:")):
                values = dict(zip(events, map(int, line.split()[1:])))
                totals = {k: max(v, totals.get(k, 0)) for k, v in values.items()}
            elif line.startswith("cfn="):
                m = re.match(r"cfn=\((\d+)\)(?: (.*))?", line.strip())
                if m and m.group(2):
                    names[m.group(1)] = m.group(2)
                callee = names.get(m.group(1)) if m else line[4:]
            elif line.startswith("fn="):
                m = re.match(r"fn=\((\d+)\)(?: (.*))?", line.strip())
                if m and m.group(2):
                    names[m.group(1)] = m.group(2)
            elif line.startswith("calls="):
                calls = int(line.split()[0][6:])
            elif calls is not None:
                if callee and re.search(r"mem(cpy|move)", callee):
                    costs = dict(zip(events, map(int, line.split()[1:])))
                    memcpy_misses += costs.get("DLmw", 0)
                    memcpy_calls += calls
                calls = None
    return totals, memcpy_misses, memcpy_calls


def count(server, port, point, out):
    """Runs the point's load on `server` (started under callgrind), counting only its last
    REQUESTS requests: the figures per request."""
    conns, streams = point.split("x")
    load = ["h2load", "--connect-to", f"127.0.0.1:{port}", "-c", conns, "-m", streams, "https://bench.test/"]
    b.run(load[:1] + ["-n", str(WARM_UP)] + load[1:], "1")
    subprocess.run(["callgrind_control", "-z", str(server.proc.pid)], capture_output=True, check=True)
    b.run(load[:1] + ["-n", str(REQUESTS)] + load[1:], "1")
    for f in glob.glob(out + "*"):
        os.remove(f)
    subprocess.run(["callgrind_control", "-d", str(server.proc.pid)], capture_output=True, check=True)
    totals, misses, calls = {}, 0, 0
    for f in glob.glob(out + "*"):
        t, m, c = read_dump(f)
        for k, v in t.items():
            totals[k] = totals.get(k, 0) + v
        misses, calls = misses + m, calls + c
    per = lambda v: v / REQUESTS  # noqa: E731
    return per(totals.get("Ir", 0)), per(totals.get("DLmr", 0)), per(totals.get("DLmw", 0)), per(misses), per(calls)


def main():
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    first, upstream = b.proxied_certgate("cache:", binary=BINARY)
    cert_key = b.export(first.admin, "bench")
    first.stop()
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
            ir, reads, writes, copies, calls = count(server, server.port, point, out)
            server.stop()
            print(f"| HTTP/2 {point} | {name} | {ir / 1000:.1f}k | {reads:.1f} | {writes:.1f} | {copies:.1f} | {calls:.0f} |", flush=True)


if __name__ == "__main__":
    b.run_stopping_all(main)
