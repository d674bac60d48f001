"""certgate alone with N certificates in Redis (#17): time to ready, memory (certgate and Redis),
handshakes with SNI spread over every name (most of them cache misses) against one name, the
Redis commands of steady renewal passes, and a /metrics scrape.

Each count gets its own key prefix in the bench's Redis; `load_certs` writes the records through
the store (one shared ECDSA key), ten of them due for renewal at once.
"""

import os
import statistics
import subprocess
import time
import urllib.request

DUE = 10
STEADY_SECONDS = 10


def redis_info(port, section):
    out = subprocess.run(["redis-cli", "-p", str(port), "info", section], capture_output=True, text=True, check=True).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def redis_commands(port):
    """Every command Redis ran since the last CONFIG RESETSTAT, summed over commandstats."""
    total = 0
    for key, value in redis_info(port, "commandstats").items():
        if key.startswith("cmdstat_"):
            total += int(value.split("calls=")[1].split(",")[0])
    return total


def measure(count, ctx):
    """One scale run; `ctx` carries the bench's helpers (see bench.py)."""
    log, run, tls_load, median_of = ctx["log"], ctx["run"], ctx["tls_load"], ctx["median_of"]
    redis_port, redis_url = ctx["redis_port"], ctx["redis_url"]
    prefix = f"scale{count}:"
    names = os.path.join(ctx["tmp"], f"names-{count}.txt")
    used_before = int(redis_info(redis_port, "memory")["used_memory"])
    began = time.time()
    run([os.path.join(ctx["release"], "examples", "load_certs"), redis_url, prefix, str(count), "scale.test", names, str(DUE)])
    r = {"certificates": count, "load_s": round(time.time() - began, 1)}
    r["redis_mib"] = round((int(redis_info(redis_port, "memory")["used_memory"]) - used_before) / 2**20, 1)
    extra = {"CERT_CACHE_SIZE": "10000", "RENEWAL_CHECK_INTERVAL": "1"}
    big = ctx["Certgate"](redis_url, prefix=prefix)
    startups = []
    for _ in range(ctx["runs"]):
        big.start(1, "0", extra=extra)
        startups.append(big.ready_seconds)
        big.stop()
    r["startup_s"] = round(statistics.median(startups), 3)
    big.start(1, "0", extra=extra)
    started = time.time()
    time.sleep(2)
    r["rss_mib"] = round(ctx["tree_rss_kib"](big.proc.pid) / 1024, 1)
    # The start-up scan (index repairs over every record, in chunks, after ready) ends when
    # Redis goes quiet: ~7 commands per certificate, seconds at 100,000. The steady window
    # starts after it.
    while time.time() - started < 120:
        subprocess.run(["redis-cli", "-p", str(redis_port), "config", "resetstat"], capture_output=True, check=True)
        time.sleep(1)
        if redis_commands(redis_port) < 100:
            break
    r["scan_s"] = round(time.time() - started - 1, 1)
    # Steady state: a renewal pass every second; the ten due ones were renewed by the first.
    subprocess.run(["redis-cli", "-p", str(redis_port), "config", "resetstat"], capture_output=True, check=True)
    time.sleep(STEADY_SECONDS)
    r["redis_commands_per_s"] = round(redis_commands(redis_port) / STEADY_SECONDS, 1)
    renewed = 0
    for i in range(DUE):
        cert = ctx["api"](big.admin, "GET", f"/certificates/bench-{i}")
        if cert.get("next_renewal_at", "") > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()):
            renewed += 1
    r["due_renewed"] = renewed
    scrapes = []
    for _ in range(3):
        began = time.time()
        with urllib.request.urlopen(f"http://127.0.0.1:{big.admin}/metrics", timeout=30) as resp:
            body = resp.read()
        scrapes.append(time.time() - began)
    r["metrics_ms"] = round(statistics.median(scrapes) * 1000, 1)
    r["metrics_kib"] = round(len(body) / 1024, 1)
    one_name = open(names).readline().strip()
    # The loaded names have certificates but no routes: each handshake's request gets 404.
    r["hs_one_name"] = median_of(lambda: tls_load(["handshakes", f"127.0.0.1:{big.port}", one_name, "16", str(ctx["seconds"]), "--any-answer"], "1")["rate"])
    spread = [tls_load(["handshakes", f"127.0.0.1:{big.port}", "@" + names, "16", str(ctx["seconds"]), "--any-answer"], "1") for _ in range(ctx["runs"])]
    r["hs_spread"] = statistics.median(x["rate"] for x in spread)
    r["hs_spread_p99_ms"] = statistics.median(x["p99_ms"] for x in spread)
    r["hs_one_name_rss_after_mib"] = round(ctx["tree_rss_kib"](big.proc.pid) / 1024, 1)
    big.stop()
    log(f"  {count}: {r}")
    return r


def render(rows):
    counts = [r["certificates"] for r in rows]
    lines = ["| measure | " + " | ".join(f"{c:,}" for c in counts) + " |", "|---|" + "---|" * len(rows)]

    def row(label, key, fmt="{}"):
        lines.append(f"| {label} | " + " | ".join(fmt.format(r[key]) for r in rows) + " |")
    row("loading through the store (s)", "load_s")
    row("Redis memory for the certificates (MiB)", "redis_mib")
    row("start-up until ready, health 200 (s)", "startup_s")
    lines.append("| start-up scan done, after start, within 1 s (s) | " + " | ".join(str(r.get("scan_s", "–")) for r in rows) + " |")
    row("certgate resident memory after start (MiB)", "rss_mib")
    row("certgate resident memory after the spread handshakes (MiB)", "hs_one_name_rss_after_mib")
    row("handshakes/s, one name", "hs_one_name", "{:.0f}")
    row("handshakes/s, SNI spread over all names", "hs_spread", "{:.0f}")
    lines.append("| spread / one name | " + " | ".join(f"{r['hs_spread'] / r['hs_one_name']:.2f}" for r in rows) + " |")
    row("p99 ms of a spread handshake + request (misses above 10,000)", "hs_spread_p99_ms", "{:.2f}")
    row("Redis commands/s, steady (a renewal pass every second, heartbeats)", "redis_commands_per_s")
    row(f"of the {DUE} due, renewed by the first pass", "due_renewed")
    row("/metrics scrape (ms)", "metrics_ms")
    row("/metrics size (KiB)", "metrics_kib")
    return "\n".join(lines)


def _seconds(text):
    """A Rust `Duration` as Debug prints it (`1.5s`, `530.1ms`, `12µs`), in seconds."""
    for unit, factor in (("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9), ("s", 1.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise ValueError(text)


def issuance(root, log):
    """The 100-name order and the 1,000-certificate onboarding against Pebble, as the ACME tests
    run them (their debug build of certgate, Pebble started by the test harness); the tests
    print their timings and certgate's peak RSS."""
    env = dict(os.environ)
    shared = os.path.join(root, "..", "shared", "tools", "pebble")
    if os.path.exists(os.path.join(shared, "pebble")):
        env.setdefault("PEBBLE_BIN", os.path.abspath(os.path.join(shared, "pebble")))
        env.setdefault("CHALLTESTSRV_BIN", os.path.abspath(os.path.join(shared, "pebble-challtestsrv")))
    log("scale: 100-name order and 1,000-certificate onboarding (cargo test --test acme)")
    out = subprocess.run(
        ["cargo", "test", "--quiet", "--test", "acme", "--", "one_three_and_hundred", "a_thousand", "--nocapture", "--test-threads", "1"],
        cwd=root, env=env, capture_output=True, text=True, timeout=900)
    r = {}
    for line in out.stdout.splitlines():
        if line.startswith("issuance of 100 name(s)"):
            r["hundred_names_s"] = round(_seconds(line.rsplit(" ", 1)[1]), 2)
        if "1000 certificates:" in line:
            # `--quiet` prints a test's progress dot on the same line.
            line = line[line.index("1000 certificates:"):]
            r["thousand_submitted_s"] = round(_seconds(line.split("submitted in ")[1].split(",")[0]), 1)
            r["thousand_active_s"] = round(_seconds(line.split("all active after ")[1].split(";")[0]), 1)
            r["thousand_peak_rss_mib"] = round(int(line.split("VmHWM:")[1].split()[0]) / 1024, 1)
    if out.returncode != 0 or len(r) < 4:
        log("  the ACME tests did not report their figures:\n" + out.stdout[-2000:] + out.stderr[-2000:])
    return r


def render_issuance(r):
    if not r:
        return ""
    return "\n".join([
        "",
        "| issuance against Pebble (debug build, as the tests run it) | value |",
        "|---|---|",
        f"| one order of 100 names (s) | {r.get('hundred_names_s', '–')} |",
        f"| 1,000 single-name certificates: all submitted (s) | {r.get('thousand_submitted_s', '–')} |",
        f"| 1,000 single-name certificates: all active (s) | {r.get('thousand_active_s', '–')} |",
        f"| certgate peak RSS during the 1,000 (MiB) | {r.get('thousand_peak_rss_mib', '–')} |",
    ])
