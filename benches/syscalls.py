#!/usr/bin/env python3
"""Where a request's server time is spent, user or kernel, and how many system calls it takes:
certgate beside HAProxy under the same load, pinned as in the sweep.

    SYSCALLS_POINTS="h2 64x10,h1 500" python3 benches/syscalls.py

For each point and server: h2load runs 7 s (1 s warm-up); from its 2.5th second, for 4 s, the
server's utime and stime (/proc/PID/stat) and `perf stat` counts of its system calls
(tracepoints) are taken, and each is divided by the requests answered meanwhile (req/s x 4).
It answers whether a gap is in user space (our code and its libraries) or in the kernel (more or
smaller writes, more wake-ups), which req/s alone cannot tell.
"""

import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b  # noqa: E402

EVENTS = ["raw_syscalls:sys_enter", "syscalls:sys_enter_writev", "syscalls:sys_enter_sendto",
          "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_ctl"]
WINDOW = 4


def h2load_args(point):
    proto, size = point.split()
    if proto == "h1":
        return ["--h1", "-c", size]
    connections, streams = size.split("x")
    return ["-c", connections, "-m", streams]


def ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def measure(server, point):
    load = subprocess.Popen(["timeout", "60", "taskset", "-c", "1", "h2load", "--connect-to", f"127.0.0.1:{server.port}",
                             "-D", "7", "--warm-up-time", "1"] + h2load_args(point) + ["https://bench.test/"],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(2.5)
    pid = server.proc.pid
    user0, sys0 = ticks(pid)
    stat = subprocess.run(["perf", "stat", "-x", ",", "-e", ",".join(EVENTS), "-p", str(pid), "--", "sleep", str(WINDOW)],
                          capture_output=True, text=True)
    user1, sys1 = ticks(pid)
    out, _ = load.communicate()
    rps = next(float(l.split(",")[1].split()[0]) for l in out.splitlines() if l.startswith("finished in"))
    requests = rps * WINDOW
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    calls = {}
    for line in stat.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 3 and fields[0].replace(".", "").isdigit():
            calls[fields[2].split(":")[-1].replace("sys_enter_", "").replace("sys_enter", "all")] = float(fields[0]) / requests
    return {"rps": rps, "user_us": (user1 - user0) * tick_us / requests, "sys_us": (sys1 - sys0) * tick_us / requests, **calls}


def main():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    certgate, upstream = b.proxied_certgate("bench:")
    haproxy = b.Haproxy("haproxy")
    haproxy.start(1, "0", *b.export(certgate.admin, "bench"), upstream)
    print("| point | server | req/s | user µs/req | kernel µs/req | syscalls/req | writev | sendto | recvfrom | epoll_wait | epoll_ctl |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for point in os.environ.get("SYSCALLS_POINTS", "h2 64x10,h2 16x100,h1 64,h1 500,h1 2000").split(","):
        for server in (certgate, haproxy):
            r = measure(server, point)
            print(f"| {point} | {server.name} | {r['rps']:.0f} | {r['user_us']:.1f} | {r['sys_us']:.1f} | {r.get('all', 0):.2f} | "
                  + " | ".join(f"{r.get(k, 0):.2f}" for k in ["writev", "sendto", "recvfrom", "epoll_wait", "epoll_ctl"]) + " |", flush=True)


if __name__ == "__main__":
    b.run_stopping_all(main)
