#!/usr/bin/env python3
"""certgate side by side with nginx, HAProxy and Caddy, on this machine, over loopback only.

Every server gets the same certificate (issued by certgate, exported through its API), the
same upstream (examples/bench_upstream.rs: a small fixed body) and the same load. Each figure
is the median of BENCH_RUNS runs (default 3) of BENCH_SECONDS seconds (default 3).

Pinned run: each server on CPU 0 with one worker, load generator and upstream on CPU 1 (CPU 1's
utilisation is reported: near 100 % means the load generator, not the server, was the limit;
the server's CPU time per request, from CPU 0's busy time, compares servers even then).
Unpinned run: two workers each, no pinning. Then certgate alone with 10,000 certificates.

Run with `just bench`. Results: a table on stdout, and target/bench/results.{json,md}.
"""

import glob
import json
import os
import shutil
import statistics
import subprocess
import time

# The plumbing and the servers live in their own modules. TOKEN and tree_status_kib are not
# used here: they are re-exported for the measuring scripts that `import bench` (`b.TOKEN`).
from harness import (  # noqa: F401
    PROCS, RELEASE, ROOT, RUNS, SCALE_CERTS, SECONDS, SECTIONS, TMP, TOKEN, CpuMeter, api,
    burst_peak_mib, free_port, h2load, log, run, start, stop, taskset, tls_load, tree_rss_kib,
    tree_status_kib, wait_port,
)
from report import save
from servers import Caddy, Certgate, Haproxy, Nginx, write


# --- measures ----------------------------------------------------------------------------------


def guarded(server, what, fn):
    """Runs `fn` (one server's measurements). An anchor that fails (say, does not start) is
    logged with the tail of its log and left out of the table, instead of ending the whole run;
    certgate's own failures still end it."""
    try:
        return fn()
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
        if server.name.startswith("certgate"):
            raise
        log(f"  {server.name}: {what} failed ({e}); left out of the table")
        try:
            with open(os.path.join(TMP, f"{server.name}.log"), errors="replace") as f:
                for line in f.readlines()[-5:]:
                    log(f"    {line.rstrip()}")
        except OSError:
            pass
        server.stop()
        return None


def median_of(fn):
    values = [fn() for _ in range(RUNS)]
    if isinstance(values[0], tuple):
        return tuple(statistics.median(v[i] for v in values) for i in range(len(values[0])))
    return statistics.median(values)


def measure(server, load_cpus, sni="bench.test", idle=True, nginx_h1=None):
    r = {}
    r["full_hs"] = median_of(lambda: tls_load(["handshakes", f"127.0.0.1:{server.port}", sni, "16", str(SECONDS)], load_cpus)["rate"])
    res = [tls_load(["handshakes", f"127.0.0.1:{server.port}", sni, "16", str(SECONDS), "--resume"], load_cpus) for _ in range(RUNS)]
    r["resumed_hs"] = statistics.median(x["rate"] for x in res)
    r["resumed_ratio"] = statistics.median(x["resumed_ratio"] for x in res)
    # Of the handshakes whose client had a ticket to offer, the share the server resumed: tells
    # a server refusing tickets from a client that ran out of them (the ratio above sees both).
    of_offered = [x["resumed_ratio"] / x["offered_ratio"] for x in res if x.get("offered_ratio")]
    if of_offered:
        r["resumed_of_offered"] = statistics.median(of_offered)
    # The server's CPU (CPU 0, where it is pinned) per request: what a proxied request costs
    # the server even when the load generator's CPU is the one saturated.
    meter, server_cpu = CpuMeter(1), CpuMeter(0)
    r["h1_rps"] = median_of(lambda: h2load(server.port, ["--h1", "-c", "32"], load_cpus)[0])
    r["cpu1_util"] = meter.percent()
    r["h1_cpu_us"] = server_cpu.percent() * 1e4 / r["h1_rps"]
    server_cpu = CpuMeter(0)
    r["h2_rps"] = median_of(lambda: h2load(server.port, ["-c", "8", "-m", "10"], load_cpus)[0])
    r["h2_cpu_us"] = server_cpu.percent() * 1e4 / r["h2_rps"]
    if server.term_port:
        r["term_h1_rps"] = median_of(lambda: h2load(server.term_port, ["--h1", "-c", "32"], load_cpus)[0])
    if nginx_h1:
        r["p50_ms"], r["p99_ms"] = median_of(lambda: latency(server.port, nginx_h1 / 2, load_cpus))
    if idle:
        for n in (1000, 10000):
            r[f"idle_kib_per_conn_{n}"] = idle_memory(server, n, load_cpus)
    return r


def latency(port, rate, cpus):
    clients = 16
    path = os.path.join(TMP, "latency.log")
    run(["h2load", "--h1", "--connect-to", f"127.0.0.1:{port}", "-c", str(clients), "--rps", str(max(1, int(rate / clients))),
         "-D", str(SECONDS), "--log-file", path, "https://bench.test/"], cpus)
    durations = sorted(int(line.split("\t")[2]) for line in open(path) if line.count("\t") >= 2)
    if not durations:
        return (0.0, 0.0)
    p = lambda q: durations[min(len(durations) - 1, int(q * len(durations)))] / 1000.0
    return (round(p(0.50), 3), round(p(0.99), 3))


def idle_memory(server, n, cpus, http2=False):
    before = tree_rss_kib(server.proc.pid)
    cmd = taskset(cpus) + [os.path.join(RELEASE, "examples", "tls_load"), "idle", f"127.0.0.1:{server.port}", "bench.test", str(n), "120"]
    if http2:
        cmd.append("--h2")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    opened = json.loads(line)["open"] if line else 0
    time.sleep(1)
    after = tree_rss_kib(server.proc.pid)
    p.kill()
    p.wait()
    time.sleep(1)
    if opened < n * 0.95:
        log(f"  {server.name}: only {opened}/{n} idle connections opened")
    return round((after - before) / max(opened, 1), 2)


# --- the run -----------------------------------------------------------------------------------


def versions():
    def first(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    return {
        "certgate": first([os.path.join(RELEASE, "certgate"), "--version"]),
        "nginx": first(["nginx", "-v"]),
        "haproxy": first(["haproxy", "-v"]),
        "caddy": first(["caddy", "version"]),
        "h2load": first(["h2load", "--version"]),
        "rustc": first(["rustc", "--version"]),
        "kernel": first(["uname", "-sr"]),
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
    }


def start_redis_and_upstream():
    """A scratch redis-server and the bench upstream (`examples/bench_upstream`, one thread on
    CPU 1), each on a free port and answering: (Redis port, upstream port)."""
    redis_port = free_port()
    start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", TMP], name="redis")
    wait_port(redis_port)
    return redis_port, start_bench_upstream()


def start_bench_upstream(mode=()):
    """`examples/bench_upstream` in `mode` (none: plain HTTP/1.1; `["grpc"]`: HTTP/2 with prior
    knowledge; `["tls", CERT, KEY]`), one thread on CPU 1, on a free port once answering: the port."""
    port = free_port()
    start([os.path.join(RELEASE, "examples", "bench_upstream"), f"127.0.0.1:{port}", "1"] + list(mode), cpus="1",
          name="upstream" + (f"-{mode[0]}" if mode else ""))
    wait_port(port)
    return port


def proxied_certgate(prefix, binary=None):
    """Redis, the bench upstream (CPU 1) and a pinned certgate (CPU 0, one worker) proxying
    bench.test to it with a self-signed ECDSA certificate: the setup of the one-off measuring
    scripts (`profile.py`, `syscalls.py`). Returns (certgate, upstream port)."""
    redis_port, upstream = start_redis_and_upstream()
    server = Certgate(f"redis://127.0.0.1:{redis_port}", prefix=prefix, binary=binary)
    server.start(1, "0")
    api(server.admin, "POST", "/certificates/", {"cert_name": "bench", "domain": "bench.test", "issuer": "self-signed", "key_type": "ecdsa-p256"})
    while api(server.admin, "GET", "/certificates/bench")["status"] != "active":
        time.sleep(0.1)
    api(server.admin, "POST", "/proxies/", {"hostname": "bench.test", "upstream": f"http://127.0.0.1:{upstream}", "cert_name": "bench"})
    return server, upstream


def haproxy_instead(certgate, upstream):
    """HAProxy configured as the bench does, pinned as `certgate` was, with its certificate and
    upstream, in place of the `proxied_certgate` it stops: a peer under the same load in the
    one-off measuring scripts (`profile.py`, `slow_buckets.py`)."""
    cert_key = export(certgate.admin, "bench")
    certgate.stop()
    server = Haproxy("haproxy")
    server.start(1, "0", *cert_key, upstream)
    return server


def run_stopping_all(main):
    """Runs a script's `main`, then, whatever happened, stops every process it started and
    removes the scratch directory (kept with BENCH_KEEP=1)."""
    try:
        main()
    finally:
        for proc in PROCS:
            stop(proc)
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(TMP, ignore_errors=True)


def callgrind_dumps(pid, load, warm, counted, out):
    """Runs the h2load command `load` (without `-n`) against a server running under callgrind
    (`--callgrind-out-file=out`): `warm` requests, the counters zeroed, `counted` requests, then
    a dump. Returns the dump files, which hold only the counted requests' costs."""
    if warm:
        run(load[:1] + ["-n", str(warm)] + load[1:], "1")
    subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True, check=True)
    run(load[:1] + ["-n", str(counted)] + load[1:], "1")
    for f in glob.glob(out + "*"):
        os.remove(f)
    subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True, check=True)
    return glob.glob(out + "*")


def export(cg_admin, name):
    cert = api(cg_admin, "GET", f"/certificates/{name}?pem=true")
    chain = write(f"{name}.crt", cert["fullchain_pem"])
    key = write(f"{name}.key", cert["private_key_pem"])
    return chain, key


def main():
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        # 10,000 proxied connections need 20,000 descriptors in the server (and in the load
        # generator and the upstream); as root the hard limit can go up too.
        want = max(hard, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    log(f"bench: scratch in {TMP}; {RUNS} runs of {SECONDS}s per figure")
    redis_port, upstream_port = start_redis_and_upstream()
    redis_url = f"redis://127.0.0.1:{redis_port}"

    # certgate issues the certificates everyone serves.
    cg = Certgate(redis_url)
    cg.start(1, "0")
    for name, domain, kind in [("bench-ecdsa", "bench.test", "ecdsa-p256"), ("bench-rsa", "rsa.bench.test", "rsa")]:
        api(cg.admin, "POST", "/certificates/", {"cert_name": name, "domain": domain, "issuer": "self-signed", "key_type": kind})
        while api(cg.admin, "GET", f"/certificates/{name}")["status"] != "active":
            time.sleep(0.1)
        api(cg.admin, "POST", "/proxies/", {"hostname": domain, "upstream": f"http://127.0.0.1:{upstream_port}", "cert_name": name})
    certs = {"ecdsa": export(cg.admin, "bench-ecdsa"), "rsa": export(cg.admin, "bench-rsa")}
    cg.stop()

    anchors = [Nginx("nginx"), Haproxy("haproxy"), Caddy("caddy")]
    # Caddy runs last. Its latency run (at half of nginx's peak, above Caddy's own) leaves
    # loopback traffic slow for minutes afterwards: whoever ran after it showed a p99 of ≈ 3.5 ms
    # instead of ≈ 0.7–0.9 ms (measured for nginx and certgate alike; TIME_WAIT sockets and TCP
    # metrics were ruled out). nginx runs first: its HTTP/1.1 peak sets the latency rate.
    order = [anchors[0], anchors[1], cg, anchors[2]]
    results = {"versions": versions(), "date": time.strftime("%Y-%m-%d"), "runs": RUNS, "seconds": SECONDS, "pinned": {}, "pinned_rsa": {}, "unpinned": {}}

    if "sweep" in SECTIONS:
        log("concurrency sweep (pinned; default settings)")
        import sweep_rows
        ctx = {"log": log, "run": run, "tmp": TMP, "seconds": SECONDS, "guarded": guarded}
        # The build without the committed profile beside the profile-guided one, when named.
        sweep_order = list(order)
        if os.environ.get("BENCH_PLAIN_BINARY"):
            plain = Certgate(redis_url, binary=os.environ["BENCH_PLAIN_BINARY"], name="certgate-plain")
            sweep_order.insert(sweep_order.index(cg) + 1, plain)
        results["sweep"] = sweep_rows.measure(sweep_order, anchors[:2], certs["ecdsa"], upstream_port, ctx)

    if "main" in SECTIONS:
        log("pinned run (servers on CPU 0, one worker; load and upstream on CPU 1)")
        nginx_h1 = None
        for server in order:
            def pinned():
                server.start(1, "0", *certs["ecdsa"], upstream_port)
                log(f"  {server.name} …")
                r = measure(server, "1", nginx_h1=nginx_h1 or None)
                if server.name == "nginx":
                    r["p50_ms"], r["p99_ms"] = median_of(lambda: latency(server.port, r["h1_rps"] / 2, "1"))
                server.stop()
                return r
            r = guarded(server, "pinned run", pinned)
            if r is not None:
                results["pinned"][server.name] = r
                if server.name == "nginx":
                    nginx_h1 = r["h1_rps"]

        log("pinned run, RSA-2048 certificate: full handshakes")
        for server in order:
            def pinned_rsa():
                sni = "rsa.bench.test"

                def burst_peaks(**settings):
                    """Median peak RSS of the burst, a fresh server each run."""
                    peaks = []
                    for _ in range(RUNS):
                        server.start(1, "0", *certs["rsa"], upstream_port, **settings)
                        peaks.append(burst_peak_mib(server, server.port, sni, "1"))
                        server.stop()
                    return statistics.median(peaks)

                r = {"burst_peak_mib": burst_peaks()}
                if server.name == "certgate":
                    # The same burst with the upstream connection cap an operator can set: the
                    # 1,500 requests queue for 16 upstream connections instead of opening one each.
                    r["burst_peak_capped_mib"] = burst_peaks(extra={"UPSTREAM_MAX_CONNECTIONS": "16"})
                server.start(1, "0", *certs["rsa"], upstream_port)
                r["full_hs"] = median_of(lambda: tls_load(["handshakes", f"127.0.0.1:{server.port}", sni, "16", str(SECONDS)], "1")["rate"])
                server.stop()
                return r
            r = guarded(server, "RSA run", pinned_rsa)
            if r is not None:
                results["pinned_rsa"][server.name] = r

        log("unpinned run (two workers each)")
        for server in order:
            def unpinned():
                server.start(2, None, *certs["ecdsa"], upstream_port)
                r = {}
                r["full_hs"] = median_of(lambda: tls_load(["handshakes", f"127.0.0.1:{server.port}", "bench.test", "16", str(SECONDS)], None)["rate"])
                r["h1_rps"] = median_of(lambda: h2load(server.port, ["--h1", "-c", "32"], None)[0])
                r["h2_rps"] = median_of(lambda: h2load(server.port, ["-c", "8", "-m", "10"], None)[0])
                server.stop()
                return r
            r = guarded(server, "unpinned run", unpinned)
            if r is not None:
                results["unpinned"][server.name] = r

    if "h3" in SECTIONS:
        log("pinned run: HTTP/3 against Caddy")
        import h3_rows
        ctx = {"log": log, "run": run, "tmp": TMP, "seconds": SECONDS, "guarded": guarded, "release": RELEASE}
        results["h3"] = h3_rows.measure([anchors[2], cg], certs["ecdsa"], upstream_port, ctx)

    if "tls" in SECTIONS:
        log("pinned run: client certificates (mTLS) and post-quantum key exchange")
        import tls_rows
        ctx = {"log": log, "tls_load": tls_load, "median_of": median_of, "api": api, "tmp": TMP, "seconds": SECONDS, "guarded": guarded, "CpuMeter": CpuMeter}
        results["tls"] = tls_rows.measure([anchors[0], anchors[1], cg], certs["ecdsa"], upstream_port, ctx)

    if "traffic" in SECTIONS:
        log("pinned run: compression and rate limits")
        import traffic_rows
        ctx = {"log": log, "h2load": h2load, "median_of": median_of, "api": api, "guarded": guarded, "CpuMeter": CpuMeter, "runs": RUNS}
        results["traffic"] = traffic_rows.measure([anchors[0], anchors[1], anchors[2], cg], certs["ecdsa"], upstream_port, ctx)

    if "redis" in SECTIONS:
        log("Redis in production: keys at rest, Sentinel failover")
        import redis_rows
        ctx = {"log": log, "run": run, "tls_load": tls_load, "redis_url": redis_url, "tmp": TMP, "release": RELEASE,
               "Certgate": Certgate, "runs": RUNS, "seconds": SECONDS, "free_port": free_port, "api": api}
        results["redis"] = redis_rows.measure(ctx)

    if "upstreams" in SECTIONS:
        log("pinned run with TLS and gRPC upstreams")
        import upstream_rows

        rows = upstream_rows.measure([anchors[0], anchors[1], cg], certs["ecdsa"], start_bench_upstream, api, None, h2load, median_of, TMP, SECONDS, log)
        for name, r in rows.items():
            results["pinned"].setdefault(name, {}).update(r)
        cg.start(1, "0")
        api(cg.admin, "PUT", "/proxies/bench.test", {"upstream": f"http://127.0.0.1:{upstream_port}", "cert_name": "bench-ecdsa"})
        cg.stop()

    if "scale" not in SECTIONS:
        return save(results)
    import scale_rows
    ctx = {"log": log, "run": run, "tls_load": tls_load, "median_of": median_of, "redis_port": redis_port,
           "redis_url": redis_url, "tmp": TMP, "release": RELEASE, "Certgate": Certgate, "runs": RUNS,
           "tree_rss_kib": tree_rss_kib, "api": api, "seconds": SECONDS}
    scale = []
    for count in SCALE_CERTS:
        log(f"scale: certgate with {count} certificates")
        scale.append(scale_rows.measure(count, ctx))
    results["issuance"] = scale_rows.issuance(ROOT, log)
    results["scale"] = scale
    save(results)


if __name__ == "__main__":
    run_stopping_all(main)
