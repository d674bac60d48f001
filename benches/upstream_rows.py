"""Proxied rows with other upstream protocols: HTTP/1.1 over a TLS upstream, and gRPC unary
calls over HTTP/2 (certgate `h2c://`, nginx `grpc_pass`, HAProxy `proto h2`).

The upstreams are examples/bench_upstream.rs in its `tls` and `grpc` modes. Upstream
certificates are not verified by any server here (certgate `insecure_skip_verify`, nginx's
default, HAProxy `verify none`): connections are pooled, so verification would cost once per
connection, not per request.
"""

import os
import subprocess


def grpc_load(h2load, port, tmp, seconds, cpus):
    """Unary gRPC calls/s: POSTs with a 5-byte-framed message, 8 connections × 10 streams."""
    payload = os.path.join(tmp, "grpc-request.bin")
    with open(payload, "wb") as f:
        f.write(b"\x00\x00\x00\x00\x05hello")
    return h2load(port, ["-c", "8", "-m", "10", "-d", payload,
                         "-H", "content-type: application/grpc", "-H", "te: trailers"],
                  cpus, path="/helloworld.Greeter/SayHello")


def grpc_succeeds(port, tmp):
    """One call with nghttp: did the answer carry `grpc-status: 0` (a proxy's own gRPC error
    would count as a 200 in h2load)?"""
    payload = os.path.join(tmp, "grpc-request.bin")
    out = subprocess.run(
        ["nghttp", "-v", "-H", ":authority: bench.test", "-H", "content-type: application/grpc",
         "-H", "te: trailers", "-d", payload, f"https://127.0.0.1:{port}/helloworld.Greeter/SayHello"],
        capture_output=True, text=True, timeout=30)
    return "grpc-status: 0" in out.stdout


def measure(servers, certs, start_upstream, api, token_headers, h2load, median_of, tmp, seconds, log):
    """For each server: HTTP/1.1 req/s through a TLS upstream and gRPC calls/s (pinned)."""
    cert, key = certs
    tls_port = start_upstream(["tls", cert, key])
    grpc_port = start_upstream(["grpc"])
    rows = {}
    for server in servers:
        r = {}
        for kind, port in (("https", tls_port), ("grpc", grpc_port)):
            server.kind = kind
            server.start(1, "0", cert, key, port)
            if server.name == "certgate":
                url = f"https://127.0.0.1:{port}" if kind == "https" else f"h2c://127.0.0.1:{port}"
                body = {"upstream": url, "cert_name": "bench-ecdsa"}
                if kind == "https":
                    body["insecure_skip_verify"] = True
                api(server.admin, "PUT", "/proxies/bench.test", body)
            log(f"  {server.name} with a {kind} upstream …")
            if kind == "https":
                r["tls_upstream_h1_rps"] = median_of(lambda: h2load(server.port, ["--h1", "-c", "32"], "1")[0])
            else:
                r["grpc_calls"] = median_of(lambda: grpc_load(h2load, server.port, tmp, seconds, "1")[0])
                if not grpc_succeeds(server.port, tmp):
                    log(f"  {server.name}: the gRPC call did not end with grpc-status 0; figure dropped")
                    r.pop("grpc_calls")
            server.stop()
            server.kind = "http"
        rows[server.name] = r
    return rows
