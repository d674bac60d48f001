"""HTTP/3 rows (`BENCH_SECTIONS=h3`): certgate against Caddy, the only peer on this machine that
serves HTTP/3, pinned like the sweep (the server on CPU 0 with one worker; the load client and
the upstream on CPU 1).

The load client is `examples/h3_load.rs` (quinn + h3): Debian's h2load is built without
HTTP/3. Rows:
- proxied GETs at 1 x 100 and 64 x 10 (connections x streams): req/s and the server's CPU time
  per request (utime + stime of its process tree, from /proc/PID/stat, over the whole run);
- full handshakes/s over QUIC (16 loops of a new connection and one GET, no resumption);
- certgate's own HTTP/2 CPU per request at the same two points (h2load), for the target of at
  most 1.5x its HTTP/2 cost.

Ceiling: the same load against Caddy's termination-only listener (it answers itself, on CPU
0). A row where Caddy's proxied rate reaches 90 % of that ceiling is marked client-bound (the
load client, not Caddy, would be the limit, and no lead could show); below it Caddy is bound
by its own CPU. The ceiling is Caddy's, not the client's: certgate may pass it.
"""

import json
import os
import subprocess
import time

POINTS = [(1, 100), (64, 10)]
CLIENT_BOUND = 0.9


def h3_load(ctx, args):
    """One h3_load run on CPU 1; its JSON, and the seconds it ran (warm-up included)."""
    binary = os.path.join(ctx["release"], "examples", "h3_load")
    started = time.time()
    out = subprocess.run(["taskset", "-c", "1", "timeout", "120", binary] + [str(a) for a in args],
                         capture_output=True, text=True, timeout=180)
    if out.returncode != 0:
        raise RuntimeError(f"h3_load {args} failed: {out.stderr[-400:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), time.time() - started


def cpu_us_per_request(ctx, server, run):
    """Runs `run()` -> (rate, seconds it lasted); (rate, server CPU µs per request), the
    requests over the whole run counted at the measured rate."""
    import sweep_rows
    before = sweep_rows.tree_cpu_seconds(server.proc.pid)
    rate, wall = run()
    cpu = sweep_rows.tree_cpu_seconds(server.proc.pid) - before
    return rate, (round(cpu * 1e6 / (rate * wall), 2) if rate > 0 else None)


def measure_point(ctx, server, port, c, m):
    seconds = ctx["seconds"]
    h3_load(ctx, ["requests", f"127.0.0.1:{port}", "bench.test", c, m, 1])

    def run():
        got, _ = h3_load(ctx, ["requests", f"127.0.0.1:{port}", "bench.test", c, m, seconds])
        if got["errors"]:
            ctx["log"](f"    {server.name} h3 {c}x{m}: {got['errors']} errors")
        return got["rate"], seconds + 1
    rps, cpu = cpu_us_per_request(ctx, server, run)
    return {"rps": rps, "cpu_us": cpu}


def measure(servers, certs, upstream_port, ctx):
    """`servers`: Caddy and certgate (Server objects of servers.py)."""
    log, guarded, seconds = ctx["log"], ctx["guarded"], ctx["seconds"]
    rows = {}
    for server in servers:
        def one():
            server.start(1, "0", *certs, upstream_port)
            time.sleep(1)
            r = {}
            for c, m in POINTS:
                log(f"  {server.name}: HTTP/3 {c}x{m} …")
                r[f"{c}x{m}"] = measure_point(ctx, server, server.port, c, m)
            log(f"  {server.name}: HTTP/3 full handshakes …")
            def handshakes():
                got, _ = h3_load(ctx, ["handshakes", f"127.0.0.1:{server.port}", "bench.test", 16, seconds])
                return got["rate"], seconds + 1
            r["full_hs"], r["full_hs_cpu_us"] = cpu_us_per_request(ctx, server, handshakes)
            if server.name == "certgate":
                import sweep_rows
                for c, m in POINTS:
                    log(f"  certgate: HTTP/2 {c}x{m} for its CPU per request …")

                    def run():
                        rps, _, _, wall = sweep_rows.load(ctx, server.port, ("h2", c, m), seconds)
                        return rps, wall
                    _, cpu = cpu_us_per_request(ctx, server, run)
                    r[f"h2_{c}x{m}_cpu_us"] = cpu
            if server.name == "caddy":
                for c, m in POINTS:
                    log(f"  ceiling: Caddy answering itself, HTTP/3 {c}x{m} …")
                    r[f"ceiling_{c}x{m}"] = measure_point(ctx, server, server.term_port, c, m)["rps"]
            server.stop()
            return r
        r = guarded(server, "HTTP/3 rows", one)
        if r is not None:
            rows[server.name] = r
    return rows


def render(rows):
    caddy, cg = rows.get("caddy", {}), rows.get("certgate", {})
    fmt = lambda v, f="{:.0f}": "–" if v is None else f.format(v)
    ratio = lambda a, b: "–" if not a or not b else f"{a / b:.2f}"
    lines = ["### HTTP/3 (pinned; against Caddy, the only peer here with HTTP/3)\n",
             "| row | Caddy | certgate | certgate / Caddy | ceiling | bound |", "|---|---|---|---|---|---|"]
    for c, m in POINTS:
        key = f"{c}x{m}"
        a, b = caddy.get(key, {}).get("rps"), cg.get(key, {}).get("rps")
        ceiling = caddy.get(f"ceiling_{key}")
        bound = "client" if ceiling and a and a >= CLIENT_BOUND * ceiling else "server"
        lines.append(f"| req/s {key} | {fmt(a)} | {fmt(b)} | {ratio(b, a)} | {fmt(ceiling)} | {bound} |")
        ca, cc = caddy.get(key, {}).get("cpu_us"), cg.get(key, {}).get("cpu_us")
        lines.append(f"| server CPU µs/request {key} | {fmt(ca, '{:.1f}')} | {fmt(cc, '{:.1f}')} | {ratio(cc, ca)} | | |")
        h2 = cg.get(f"h2_{key}_cpu_us")
        lines.append(f"| certgate HTTP/3 CPU / its HTTP/2 CPU {key} | | {fmt(h2, '{:.1f}')} µs (h2) | {ratio(cc, h2)} | | |")
    a, b = caddy.get("full_hs"), cg.get("full_hs")
    lines.append(f"| full handshakes/s (+ 1 GET each) | {fmt(a)} | {fmt(b)} | {ratio(b, a)} | | |")
    a, b = caddy.get("full_hs_cpu_us"), cg.get("full_hs_cpu_us")
    lines.append(f"| server CPU µs/handshake | {fmt(a, '{:.1f}')} | {fmt(b, '{:.1f}')} | {ratio(b, a)} | | |")
    return "\n".join(lines) + "\n"
