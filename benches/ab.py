#!/usr/bin/env python3
"""A/B of certgate builds, interleaved in one run so machine noise hits every build alike.

    AB_BINARIES="base=/tmp/ab/base,new=target/release/certgate" python3 benches/ab.py

Each build is started pinned (CPU 0, one worker; load generator and upstream on CPU 1), fresh
for every round, and measured with what `benches/bench.py` uses:
- `idle`: KiB per idle TLS connection, 1,000 held open on a fresh process; `idle2` the same with
  HTTP/2 connections (each after one answered request);
- `h1`, `h2`: proxied HTTP/1.1 keep-alive (`-c 32`) and HTTP/2 (`-c 8 -m 10`) req/s;
- `h2wide`, `h1wide`: the sweep's wide points, HTTP/2 at 64x10 and HTTP/1.1 at 500
  connections (`AB_H2WIDE` sets another HTTP/2 point, "16x100" say; `AB_H1WIDE` another count): req/s and the server's CPU µs per request (its own utime + stime,
  over the warm-up too: the sweep's, 1 s, or 2 s + 1 s per 1,000 connections from 2,000 on),
  and the upstream connections opened per 1,000 requests over that second run (the first one
  warms the pool);
- `lat`: p50 and p99 ms of HTTP/1.1 requests at `AB_LATENCY_RATE` req/s (default 20,000, about
  half of nginx's peak here), 16 clients, as the bench's latency row;
- `hs`: full ECDSA, full RSA and resumed handshakes/s (`tls_load`, 16 at a time, + 1 request);
- `grow`: MiB the resident memory grows from the 5th to the 40th second of a steady HTTP/2
  64x10 load (near 0 when a busy connection's state is bounded);
- `ir`: instructions the server executes per proxied request (valgrind's callgrind, `Ir`),
  HTTP/1.1 and HTTP/2 (8x10; `AB_IR_H2="-c 64 -m 1"` another load), over `AB_IR_REQUESTS`
  requests after a warm-up. Slow, but steady to
  ±0.3 % between runs where req/s moves by ±10 % on this shared machine; needs `valgrind`
  (`apt-get install valgrind`). Handshakes of the load's connections are included, alike for
  every build;
- `irhs`: the same count per new connection (a full ECDSA or RSA handshake and one proxied
  request), over `AB_IRHS_HANDSHAKES` connections (default 200) opened at once;
- `burst`: peak resident memory (VmHWM) of a fresh process while h2load opens 1,500 connections
  at once with full RSA-2048 handshakes, its resident memory 2 s after they closed, and the
  upstream connections the burst's requests opened.
AB_MEASURES picks some (comma-separated); AB_ROUNDS (default 3) rounds, the builds' order reversed
in every other one (use an even count); medians are printed.
`AB_UPSTREAM=h2c` proxies to the bench upstream speaking HTTP/2 (`h2c://`, its `grpc` mode)
instead of HTTP/1.1, `AB_UPSTREAM=tls` to it speaking HTTP/1.1 over TLS (`https://`, its `tls`
mode, not verified). `AB_ENV_<label>="NAME=value,…"` gives one build extra settings (the same binary may appear under
two labels, e.g. to measure a setting).
"""

import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as b  # noqa: E402
import sweep_rows  # noqa: E402

ROUNDS = int(os.environ.get("AB_ROUNDS", "3"))
MEASURES = os.environ.get("AB_MEASURES", "idle,h1,h2,burst").split(",")


IR_REQUESTS = int(os.environ.get("AB_IR_REQUESTS", "10000"))
HANDSHAKES = int(os.environ.get("AB_IRHS_HANDSHAKES", "200"))
LATENCY_RATE = int(os.environ.get("AB_LATENCY_RATE", "20000"))


# What `ir` and `irhs` count: (key, h2load's arguments, host, warm-up requests, requests counted).
IR_LOADS = [("h1_instructions_per_req", ["--h1", "-c", "32"], "bench.test", 500, IR_REQUESTS),
            ("h2_instructions_per_req", os.environ.get("AB_IR_H2", "-c 8 -m 10").split(), "bench.test", 500,
             IR_REQUESTS)]
IRHS_LOADS = [(f"{kind}_instructions_per_handshake", ["--h1", "-c", str(HANDSHAKES), "-m", "1"], host, 0, HANDSHAKES)
              for kind, host in [("ecdsa", "bench.test"), ("rsa", "rsa.bench.test")]]


def instructions(redis_url, binary, settings, loads):
    """callgrind's instruction count per unit of each load: per proxied request (`ir`), or per
    connection with a full handshake and one proxied request (`irhs`; h2load lists AES-128-GCM
    first, so it does not see certgate's cipher suite order)."""
    out = os.path.join(b.TMP, f"callgrind.{binary.replace('/', '_')}.out")
    server = b.Certgate(redis_url, prefix="ab:", binary=binary,
                        launcher=["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"])
    server.start(1, "0", extra=settings)
    r = {}
    for key, args, host, warm, counted in loads:
        load = ["h2load", "--connect-to", f"127.0.0.1:{server.port}"] + args + [f"https://{host}/"]
        total = 0
        for f in b.callgrind_dumps(server.proc.pid, load, warm, counted, out):
            with open(f) as dump:
                for line in dump:
                    if line.startswith(("summary:", "totals:")):
                        total = max(total, int(line.split()[1]))
        r[key] = total / counted
    server.stop()
    return r


def growth(server, seconds=40):
    """MiB the server's resident memory grows from the 5th second to a second before the end of
    a steady HTTP/2 64x10 load of `seconds`: memory a busy connection keeps gaining (state that
    should be bounded, like the HPACK table's pinned buffers found on 2026-12-07)."""
    load = subprocess.Popen(b.taskset("1") + ["h2load", "--connect-to", f"127.0.0.1:{server.port}", "-D", str(seconds),
                                              "-c", "64", "-m", "10", "https://bench.test/"],
                            stdout=subprocess.DEVNULL)
    time.sleep(5)
    start = b.tree_rss_kib(server.proc.pid)
    time.sleep(seconds - 6)
    end = b.tree_rss_kib(server.proc.pid)
    load.wait(timeout=60)
    return {"grow_mib": (end - start) / 1024}


def burst(server, connections=1500):
    """Peak RSS (MiB) while `connections` RSA handshakes arrive at once, and RSS after."""
    before = b.tree_status_kib(server.proc.pid, "VmRSS")
    b.run(["h2load", "--h1", "--connect-to", f"127.0.0.1:{server.port}", "-c", str(connections),
           "-n", str(connections), "https://rsa.bench.test/"], "1")
    peak = b.tree_status_kib(server.proc.pid, "VmHWM")
    opened = sweep_rows.metric_sum(server.admin, "certgate_upstream_connections_opened_total")
    time.sleep(2)
    after = b.tree_status_kib(server.proc.pid, "VmRSS")
    return {"burst_before_mib": before / 1024, "burst_peak_mib": peak / 1024, "burst_after_mib": after / 1024,
            "burst_upstream_connects": opened or 0.0}


def main():
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    builds = [pair.split("=", 1) for pair in os.environ["AB_BINARIES"].split(",")]
    redis_port, upstream = b.start_redis_and_upstream()
    redis_url = f"redis://127.0.0.1:{redis_port}"
    upstream_url = f"http://127.0.0.1:{upstream}"
    if os.environ.get("AB_UPSTREAM") == "h2c":
        # The bench upstream speaking HTTP/2 with prior knowledge (its `grpc` mode).
        upstream_url = f"h2c://127.0.0.1:{b.start_bench_upstream(['grpc'])}"

    first = b.Certgate(redis_url, prefix="ab:", binary=builds[0][1])
    first.start(1, "0")
    certs = [("bench-ecdsa", "bench.test", "ecdsa-p256"), ("bench-rsa", "rsa.bench.test", "rsa")]
    for name, domain, kind in certs:
        b.api(first.admin, "POST", "/certificates/", {"cert_name": name, "domain": domain, "issuer": "self-signed", "key_type": kind})
        while b.api(first.admin, "GET", f"/certificates/{name}")["status"] != "active":
            time.sleep(0.1)
    extra = {}
    if os.environ.get("AB_UPSTREAM") == "tls":
        # The bench upstream speaking HTTP/1.1 over TLS (its `tls` mode), not verified.
        cert, key = b.export(first.admin, "bench-ecdsa")
        upstream_url = f"https://127.0.0.1:{b.start_bench_upstream(['tls', cert, key])}"
        extra = {"insecure_skip_verify": True}
    for name, domain, _ in certs:
        b.api(first.admin, "POST", "/proxies/", {"hostname": domain, "upstream": upstream_url, "cert_name": name, **extra})
    first.stop()

    settings = {label: dict(kv.split("=", 1) for kv in os.environ.get(f"AB_ENV_{label}", "").split(",") if kv)
                for label, _ in builds}
    results = {label: {} for label, _ in builds}
    for round_ in range(ROUNDS):
        b.log(f"round {round_ + 1}/{ROUNDS}")
        # Who goes first alternates: on this machine a build measured right after another
        # one's wide loads ran slower at them (2026-12-08: the same two builds 0.86x one way
        # round and 1.13x the other at HTTP/1.1 500), so even rounds give each build each place.
        for label, binary in (builds if round_ % 2 == 0 else builds[::-1]):
            r = {}
            if {"idle", "idle2", "h1", "h2", "hs", "lat", "h2wide", "h1wide"} & set(MEASURES):
                server = b.Certgate(redis_url, prefix="ab:", binary=binary)
                server.start(1, "0", extra=settings[label])
                if "idle" in MEASURES:
                    r["idle_kib_per_conn"] = b.idle_memory(server, 1000, "1")
                if "idle2" in MEASURES:
                    r["idle_h2_kib_per_conn"] = b.idle_memory(server, 1000, "1", http2=True)
                if "h1" in MEASURES:
                    r["h1_rps"] = b.h2load(server.port, ["--h1", "-c", "32"], "1")[0]
                if "h2" in MEASURES:
                    r["h2_rps"] = b.h2load(server.port, ["-c", "8", "-m", "10"], "1")[0]
                h1wide = os.environ.get("AB_H1WIDE", "500")
                h2c, h2m = os.environ.get("AB_H2WIDE", "64x10").split("x")
                for key, args, point in [("h2wide", ["-c", h2c, "-m", h2m], ("h2", int(h2c), int(h2m))),
                                         ("h1wide", ["--h1", "-c", h1wide], ("h1", int(h1wide), 1))]:
                    if key in MEASURES:
                        warm = sweep_rows.warm_up_seconds(point)
                        b.h2load(server.port, args, "1", warm=warm)
                        cpu = sweep_rows.tree_cpu_seconds(server.proc.pid)
                        opened = sweep_rows.opened_connections(server.admin)
                        rps = b.h2load(server.port, args, "1", warm=warm)[0]
                        cpu = sweep_rows.tree_cpu_seconds(server.proc.pid) - cpu
                        opened = sweep_rows.opened_connections(server.admin) - opened
                        r[f"{key}_rps"] = rps
                        r[f"{key}_cpu_us"] = cpu * 1e6 / (rps * (b.SECONDS + warm))
                        r[f"{key}_connects_per_1000"] = opened * 1000 / (rps * (b.SECONDS + warm))
                if "lat" in MEASURES:
                    r["lat_p50_ms"], r["lat_p99_ms"] = b.latency(server.port, LATENCY_RATE, "1")
                if "hs" in MEASURES:
                    for key, sni, extra in [("hs_ecdsa", "bench.test", []), ("hs_rsa", "rsa.bench.test", []),
                                            ("hs_resumed", "bench.test", ["--resume"])]:
                        args = ["handshakes", f"127.0.0.1:{server.port}", sni, "16", str(b.SECONDS)] + extra
                        r[key] = b.tls_load(args, "1")["rate"]
                server.stop()
            if "ir" in MEASURES:
                r.update(instructions(redis_url, binary, settings[label], IR_LOADS))
            if "irhs" in MEASURES:
                r.update(instructions(redis_url, binary, settings[label], IRHS_LOADS))
            for key, measure in [("burst", burst), ("grow", growth)]:
                if key in MEASURES:
                    server = b.Certgate(redis_url, prefix="ab:", binary=binary)
                    server.start(1, "0", extra=settings[label])
                    r.update(measure(server))
                    server.stop()
            b.log(f"  {label}: " + ", ".join(f"{k} {v:.1f}" for k, v in r.items()))
            for k, v in r.items():
                results[label].setdefault(k, []).append(v)

    keys = sorted({k for r in results.values() for k in r})
    base = builds[0][0]
    print("| measure | " + " | ".join(label for label, _ in builds) + " | " + " | ".join(f"{l} / {base}" for l, _ in builds[1:]) + " |")
    print("|---" * (1 + 2 * len(builds) - 1) + "|")
    for k in keys:
        meds = [statistics.median(results[label].get(k, [0])) for label, _ in builds]
        ratios = [f"{m / meds[0]:.3f}" if meds[0] else "–" for m in meds[1:]]
        print(f"| {k} | " + " | ".join(f"{m:.1f}" for m in meds) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    b.run_stopping_all(main)
