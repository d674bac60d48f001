#!/usr/bin/env python3
"""Where a pinned certgate's CPU goes under one load: perf samples (software clock, the only
one this machine's VM offers) of the server while h2load runs, by symbol, self time.

    PROFILE_LOAD="-c 64 -m 10" python3 benches/profile.py        # HTTP/2 64x10
    PROFILE_LOAD="--h1 -c 2000" python3 benches/profile.py       # HTTP/1.1 at 2,000

The setup is the bench's: certgate (target/release, or PROFILE_BINARY) on CPU 0 with one worker,
h2load and the upstream on CPU 1. PROFILE_SECONDS (default 10) of sampling after a warm-up. PROFILE_CALLERS="sym1,sym2" shows
who calls those symbols instead (needs frame pointers: the `profiling` build).
PROFILE_SERVER=haproxy samples HAProxy instead, configured as the bench does, under the same
load: where a peer's kernel time goes beside certgate's.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b  # noqa: E402


def main():
    load = os.environ.get("PROFILE_LOAD", "-c 64 -m 10").split()
    seconds = int(os.environ.get("PROFILE_SECONDS", "10"))
    binary = os.environ.get("PROFILE_BINARY")
    server, upstream = b.proxied_certgate("profile:", binary)
    if os.environ.get("PROFILE_SERVER") == "haproxy":
        server = b.haproxy_instead(server, upstream)
    h2load = subprocess.Popen(["taskset", "-c", "1", "h2load", "--connect-to", f"127.0.0.1:{server.port}", "-D", str(seconds + 4)]
                              + load + ["https://bench.test/"], stdout=subprocess.PIPE, text=True)
    time.sleep(3)
    data = os.path.join(b.TMP, "perf.data")
    graph = ["--call-graph", "fp"] if os.environ.get("PROFILE_CALLERS") else []
    subprocess.run(["perf", "record", "-F", "4000", "-e", "cpu-clock"] + graph + ["-p", str(server.proc.pid), "-o", data, "--", "sleep", str(seconds)],
                   capture_output=True, check=True)
    out, _ = h2load.communicate()
    for line in out.splitlines():
        if line.startswith("finished in") or line.startswith("requests:"):
            print(line)
    callers = os.environ.get("PROFILE_CALLERS")
    if callers:
        # Who calls the symbols named (comma-separated), by caller chain.
        report = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio", "--symbols", callers,
                                 "-G", "--percent-limit", "0.3"], capture_output=True, text=True).stdout
    else:
        report = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "symbol", "--stdio", "--percent-limit", "0.4"],
                                capture_output=True, text=True).stdout
    print("\n".join(l.rstrip() for l in report.splitlines() if l.strip() and not l.startswith("#")))


if __name__ == "__main__":
    b.run_stopping_all(main)
