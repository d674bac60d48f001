"""The bench's results: `target/bench/results.json` and the Markdown tables each section's
module renders (`results.md`, printed too).
"""

import json
import os

from harness import ROOT


def save(results):
    out_dir = os.path.join(ROOT, "target", "bench")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    table = render(results)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(table)
    print(table)


def scale_lines(r):
    """The many-certificates tables, when the run had the scale section."""
    if "scale" not in r:
        return []
    import scale_rows
    return ["\n### certgate alone with many certificates (CERT_CACHE_SIZE=10000)\n",
            scale_rows.render(r["scale"]), scale_rows.render_issuance(r.get("issuance", {}))]


def render(r):
    lines = []
    if r.get("sweep"):
        import sweep_rows
        lines.append(sweep_rows.render(r["sweep"]))
    if r.get("h3"):
        import h3_rows
        lines.append(h3_rows.render(r["h3"]))
    if r.get("tls"):
        import tls_rows
        lines.append(tls_rows.render(r["tls"]))
    if r.get("traffic"):
        import traffic_rows
        lines.append(traffic_rows.render(r["traffic"]))
    if r.get("redis"):
        import redis_rows
        lines.append(redis_rows.render(r["redis"]))
    if not r["pinned"]:
        # A run of other sections only (`BENCH_SECTIONS=scale`, say).
        return "\n".join(lines + scale_lines(r)) + "\n"
    p = r["pinned"]
    others = ["nginx", "haproxy", "caddy"]

    def row(label, key, section, higher_better=True, fmt="{:.0f}", against=None):
        """`against`: the others' key the ratio is taken to, when certgate's row is its own."""
        vals = {s: section.get(s, {}).get(key) for s in others + ["certgate"]}
        present = [section.get(s, {}).get(against or key) for s in others]
        present = [v for v in present if v is not None]
        best = (max(present) if higher_better else min(present)) if present else None
        cg = vals["certgate"]
        ratio = f"{cg / best:.2f}" if (cg is not None and best) else "–"
        cells = [fmt.format(vals[s]) if vals[s] is not None else "–" for s in others + ["certgate"]]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")

    header = "| measure | nginx | HAProxy | Caddy | certgate | certgate / best other |\n|---|---|---|---|---|---|"
    lines.append(f"### Pinned: one worker on CPU 0, load generator and upstream on CPU 1 ({r['runs']} runs × {r['seconds']} s, medians)\n")
    lines.append(header)
    row("full TLS handshakes/s (ECDSA P-256, + 1 request)", "full_hs", p)
    row("full TLS handshakes/s (RSA-2048, + 1 request)", "full_hs", r["pinned_rsa"])
    row("peak RSS MiB, 1,500 concurrent RSA handshakes + 1 request each (fresh process; lower is better)", "burst_peak_mib", r["pinned_rsa"], higher_better=False, fmt="{:.1f}")
    row("… the same, certgate with UPSTREAM_MAX_CONNECTIONS=16 (ratio to the others' row above)", "burst_peak_capped_mib", r["pinned_rsa"], higher_better=False, fmt="{:.1f}", against="burst_peak_mib")
    row("resumed handshakes/s", "resumed_hs", p)
    row("resumption ratio", "resumed_ratio", p, fmt="{:.2f}")
    row("… of the handshakes that offered a ticket (1.00: the server refused none)", "resumed_of_offered", p, fmt="{:.2f}")
    row("HTTP/1.1 keep-alive req/s (proxied)", "h1_rps", p)
    row("HTTP/2 req/s (proxied, -m 10)", "h2_rps", p)
    row("p50 latency ms at ½ nginx peak (lower is better)", "p50_ms", p, higher_better=False, fmt="{:.3f}")
    row("p99 latency ms at ½ nginx peak (lower is better)", "p99_ms", p, higher_better=False, fmt="{:.3f}")
    row("KiB per idle TLS connection, 1,000 open (lower is better)", "idle_kib_per_conn_1000", p, higher_better=False, fmt="{:.1f}")
    row("KiB per idle TLS connection, 10,000 open (lower is better)", "idle_kib_per_conn_10000", p, higher_better=False, fmt="{:.1f}")
    row("CPU 1 (load generator) utilisation % during HTTP/1.1", "cpu1_util", p, fmt="{:.0f}")
    row("server CPU µs per proxied HTTP/1.1 request (CPU 0 busy time / requests; lower is better)", "h1_cpu_us", p, higher_better=False, fmt="{:.1f}")
    row("server CPU µs per proxied HTTP/2 request (lower is better)", "h2_cpu_us", p, higher_better=False, fmt="{:.1f}")
    row("termination only: HTTP/1.1 req/s (server answers itself)", "term_h1_rps", p)
    row("HTTP/1.1 keep-alive req/s through a TLS upstream", "tls_upstream_h1_rps", p)
    row("gRPC unary calls/s (HTTP/2, -m 10; h2c / grpc_pass / proto h2)", "grpc_calls", p)
    lines.append(f"\n### Unpinned: two workers each\n")
    lines.append(header)
    u = r["unpinned"]
    row("full TLS handshakes/s (ECDSA P-256)", "full_hs", u)
    row("HTTP/1.1 keep-alive req/s", "h1_rps", u)
    row("HTTP/2 req/s", "h2_rps", u)
    lines.extend(scale_lines(r))
    lines.append("\nVersions: " + "; ".join(f"{k}: {v}" for k, v in r["versions"].items()))
    return "\n".join(lines) + "\n"

