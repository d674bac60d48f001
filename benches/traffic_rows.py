"""Traffic rows (`BENCH_SECTIONS=traffic`), pinned like the main run (server on CPU 0 with one
worker; load and upstream on CPU 1):

- Compression of a 64 KiB HTML page (examples/bench_upstream.rs `/page`) through each proxy's
  own module, gzip at level 5 (nginx `gzip_comp_level 5`, HAProxy `compression algo gzip`,
  Caddy `encode`, certgate `encode`), and zstd where the peer has it (Caddy): requests/s at 16
  HTTP/1.1 connections, the server's CPU milliseconds per MB of page compressed (CPU 0's busy
  time over the bytes it compressed), and the compressed size.
- Rate limiting: certgate's requests/s with a route `rate_limit` configured but never reached
  (1,000,000 per second), against the same route without one. Target ≥ 0.95.
"""

import os
import statistics
import subprocess

PAGE_BYTES = 64 * 1024
# Which rows run: compression, ratelimit (comma-separated).
ROWS = os.environ.get("BENCH_TRAFFIC_ROWS", "compression,ratelimit").split(",")


def compressed_size(port, coding):
    out = subprocess.run(
        ["curl", "-sk", "--max-time", "10", "--connect-to", f"bench.test:{port}:127.0.0.1:{port}",
         "-H", f"Accept-Encoding: {coding}", "-o", "/dev/null", "-w", "%{size_download} %header{content-encoding}",
         f"https://bench.test:{port}/page"], capture_output=True, text=True, check=True).stdout.split()
    size, encoding = int(out[0]), (out[1] if len(out) > 1 else "")
    return size if encoding == coding else None


def measure(servers, certs, upstream_port, ctx):
    log, h2load, median_of, api, guarded = ctx["log"], ctx["h2load"], ctx["median_of"], ctx["api"], ctx["guarded"]
    CpuMeter = ctx["CpuMeter"]
    rows = {}
    for server in servers:
        def one():
            r = {}
            server.compress = True
            server.start(1, "0", *certs, upstream_port)
            codings = ["gzip"] + (["zstd"] if server.name in ("caddy", "certgate") else [])
            if "compression" not in ROWS:
                codings = []
            for coding in codings:
                if server.name == "certgate":
                    api(server.admin, "PUT", "/proxies/bench.test",
                        {"upstream": f"http://127.0.0.1:{upstream_port}", "cert_name": "bench-ecdsa", "encode": [coding]})
                log(f"  {server.name}: {coding} of a 64 KiB page …")
                size = compressed_size(server.port, coding)
                if size is None:
                    log(f"  {server.name}: no {coding} answer; row left out")
                    continue
                cpu = CpuMeter(0)
                rps = median_of(lambda: h2load(server.port, ["--h1", "-c", "16", "-H", f"accept-encoding: {coding}"], "1", path="/page")[0])
                busy = cpu.percent()
                r[f"{coding}_rps"] = rps
                r[f"{coding}_cpu_ms_per_mb"] = busy * 10 / (rps * PAGE_BYTES / 2**20) if rps else None
                r[f"{coding}_bytes"] = size
            server.stop()
            server.compress = False
            if server.name == "certgate" and "ratelimit" in ROWS:
                server.start(1, "0", *certs, upstream_port)
                plain = {"upstream": f"http://127.0.0.1:{upstream_port}", "cert_name": "bench-ecdsa"}
                limited = dict(plain, rate_limit={"requests": 1000000, "per_seconds": 1})
                log("  certgate: requests/s without and with a rate limit that is never reached …")
                # Interleaved, so that drift on this shared machine hits both sides alike.
                runs = {"unlimited_rps": [], "limited_rps": []}
                for _ in range(max(3, ctx.get("runs", 3)) * 2):
                    for key, body in (("unlimited_rps", plain), ("limited_rps", limited)):
                        api(server.admin, "PUT", "/proxies/bench.test", body)
                        runs[key].append(h2load(server.port, ["--h1", "-c", "32"], "1")[0])
                r.update({key: statistics.median(values) for key, values in runs.items()})
                api(server.admin, "PUT", "/proxies/bench.test", plain)
                server.stop()
            return r
        r = guarded(server, "traffic rows", one)
        if r is not None:
            rows[server.name] = r
    return rows


def render(rows):
    names = ["nginx", "haproxy", "caddy", "certgate"]
    get = lambda s, k: rows.get(s, {}).get(k)
    fmt = lambda v, f="{:.0f}": "–" if v is None else f.format(v)
    lines = ["### Traffic: compression and rate limits (pinned)\n",
             "| measure | nginx | HAProxy | Caddy | certgate | certgate / best other |", "|---|---|---|---|---|---|"]
    for coding in ("gzip", "zstd"):
        for key, label, higher, f in (
            ("rps", f"{coding} 64 KiB page, req/s (16 conns)", True, "{:.0f}"),
            ("cpu_ms_per_mb", f"{coding}: server CPU ms per MB compressed", False, "{:.2f}"),
            ("bytes", f"{coding}: compressed size, bytes", False, "{:.0f}"),
        ):
            vals = [get(s, f"{coding}_{key}") for s in names]
            if vals[3] is None:
                continue
            peers = [v for v in vals[:3] if v]
            best = (max(peers) if higher else min(peers)) if peers else None
            ratio = f"{vals[3] / best:.2f}" if best else "–"
            lines.append(f"| {label} | " + " | ".join(fmt(v, f) for v in vals) + f" | {ratio} |")
    unlimited, limited = get("certgate", "unlimited_rps"), get("certgate", "limited_rps")
    if unlimited and limited:
        lines.append(f"| rate limit configured, not reached: req/s without → with | | | | "
                     f"{unlimited:.0f} → {limited:.0f} | {limited / unlimited:.2f} (of itself) |")
    lines.append("\nCPU ms per MB: lower is cheaper; for the size row lower is smaller. Ratios below 1 are "
                 "better for those two rows.\n")
    return "\n".join(lines) + "\n"
