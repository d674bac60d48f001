"""TLS rows (`BENCH_SECTIONS=tls`), pinned like the main run (server on CPU 0 with one worker;
load and upstream on CPU 1):

- Full handshakes/s with a client certificate (mTLS, + 1 request each): certgate's route with
  `client_auth` against nginx `ssl_verify_client on` and HAProxy `verify required`, the same
  client CA and certificate (made here with openssl, EC P-256) for all.
- What post-quantum key exchange costs certgate: full handshakes/s of a client offering
  X25519MLKEM768 first against one offering only X25519 (the peers installed here — nginx 1.22
  with OpenSSL 3.0, HAProxy 2.6 — have no ML-KEM, so this row is certgate against itself).
"""

import os
import statistics
import subprocess


def client_pki(tmp):
    """A client CA and one client certificate (clientAuth), PEM files."""
    ca_key, ca, key, csr, cert, ext = (os.path.join(tmp, n) for n in (
        "client-ca.key", "client-ca.pem", "client.key", "client.csr", "client.pem", "client.ext"))
    run = lambda *args: subprocess.run(args, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca, "-subj", "/CN=bench client CA", "-days", "2")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=bench client")
    with open(ext, "w") as f:
        f.write("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


def measure(servers, certs, upstream_port, ctx):
    log, tls_load, median_of, api = ctx["log"], ctx["tls_load"], ctx["median_of"], ctx["api"]
    seconds, guarded = ctx["seconds"], ctx["guarded"]
    ca, client_cert, client_key = client_pki(ctx["tmp"])
    mtls = ["--client-cert", client_cert, "--client-key", client_key]
    rows = {}
    for server in servers:
        def one():
            r = {}
            server.client_ca = ca
            server.start(1, "0", *certs, upstream_port)
            if server.name == "certgate":
                with open(ca) as f:
                    body = {"upstream": f"http://127.0.0.1:{upstream_port}", "cert_name": "bench-ecdsa",
                            "client_auth": {"ca_pem": f.read()}}
                api(server.admin, "PUT", "/proxies/bench.test", body)
            log(f"  {server.name}: full handshakes with a client certificate …")
            args = ["handshakes", f"127.0.0.1:{server.port}", "bench.test", "16", str(seconds)]
            server_cpu, load_cpu = ctx["CpuMeter"](0), ctx["CpuMeter"](1)
            r["mtls_full_hs"] = median_of(lambda: tls_load(args + mtls, "1")["rate"])
            r["mtls_server_cpu"], r["mtls_load_cpu"] = server_cpu.percent(), load_cpu.percent()
            refused = tls_load(args[:4] + ["1"], "1")
            r["mtls_refused_without_cert"] = refused["handshakes"] == 0 and refused["errors"] > 0
            server.stop()
            server.client_ca = None
            if server.name == "certgate":
                server.start(1, "0", *certs, upstream_port)
                api(server.admin, "PUT", "/proxies/bench.test",
                    {"upstream": f"http://127.0.0.1:{upstream_port}", "cert_name": "bench-ecdsa"})
                log("  certgate: full handshakes, X25519MLKEM768 against X25519 …")
                r["pq_full_hs"] = median_of(lambda: tls_load(args + ["--groups", "X25519MLKEM768,X25519"], "1")["rate"])
                r["x25519_full_hs"] = median_of(lambda: tls_load(args + ["--groups", "X25519"], "1")["rate"])
                server.stop()
            return r
        r = guarded(server, "TLS rows", one)
        if r is not None:
            rows[server.name] = r
    return rows


def render(rows):
    names = ["nginx", "haproxy", "certgate"]
    get = lambda s, k: rows.get(s, {}).get(k)
    fmt = lambda v: "–" if v is None else f"{v:.0f}"
    lines = ["### TLS: client certificates and post-quantum key exchange (pinned)\n",
             "| measure | nginx | HAProxy | certgate | certgate / best other |", "|---|---|---|---|---|"]
    peers = [v for v in (get("nginx", "mtls_full_hs"), get("haproxy", "mtls_full_hs")) if v]
    cg = get("certgate", "mtls_full_hs")
    ratio = f"{cg / max(peers):.2f}" if cg and peers else "–"
    lines.append("| full handshakes/s with a client certificate (ECDSA P-256, + 1 request) | "
                 + " | ".join(fmt(get(s, "mtls_full_hs")) for s in names) + f" | **{ratio}** |")
    util = lambda key: " | ".join("–" if get(s, key) is None else f"{get(s, key):.0f}" for s in names)
    lines.append(f"| … CPU 0 (server) utilisation % | {util('mtls_server_cpu')} | – |")
    lines.append(f"| … CPU 1 (load generator and upstream) utilisation % | {util('mtls_load_cpu')} | – |")
    refused = " | ".join({True: "yes", False: "NO", None: "–"}[get(s, "mtls_refused_without_cert")] for s in names)
    lines.append(f"| a client without a certificate gets no 200 (refused handshake, or nginx's 400) | {refused} | – |")
    pq, classic = get("certgate", "pq_full_hs"), get("certgate", "x25519_full_hs")
    if pq and classic:
        lines.append(f"| certgate full handshakes/s: X25519MLKEM768 {pq:.0f}, X25519 {classic:.0f} | – | – | "
                     f"{pq / classic:.2f} | (PQ / classic) |")
    return "\n".join(lines) + "\n"
