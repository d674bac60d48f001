"""Redis in production (`BENCH_SECTIONS=redis`), certgate alone:

- Handshakes for names not in the cache, with private keys stored plain and sealed
  (`KEY_ENCRYPTION_KEYS`): 2,000 certificates, `CERT_CACHE_SIZE=100`, SNI spread over every name,
  so nearly every handshake loads its certificate and key from Redis (and opens the key). The two
  variants alternate run by run. Target: sealed ≥ 0.95× plain.
- Sentinel failover: a primary, a replica and three Sentinels (down after 1 s, quorum 2); the
  primary killed, the time until certgate's admin API accepts a write again (a certificate
  created on the promoted replica).
"""

import os
import signal
import statistics
import subprocess
import time

CERTS = 2000
KEY_LINE = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"


def uncached_handshakes(ctx):
    log, run, tls_load = ctx["log"], ctx["run"], ctx["tls_load"]
    key_file = os.path.join(ctx["tmp"], "keys")
    with open(key_file, "w") as f:
        f.write(KEY_LINE)
    names = {}
    for variant in ("plain", "sealed"):
        names[variant] = os.path.join(ctx["tmp"], f"names-{variant}.txt")
        env = dict(os.environ, KEY_ENCRYPTION_KEYS=key_file if variant == "sealed" else "")
        subprocess.run([os.path.join(ctx["release"], "examples", "load_certs"), ctx["redis_url"], f"keys-{variant}:",
                        str(CERTS), "keys.test", names[variant]], env=env, check=True, capture_output=True)
    rates = {"plain": [], "sealed": []}
    for _ in range(ctx["runs"]):
        for variant in ("plain", "sealed"):
            cg = ctx["Certgate"](ctx["redis_url"], prefix=f"keys-{variant}:")
            extra = {"CERT_CACHE_SIZE": "100"}
            if variant == "sealed":
                extra["KEY_ENCRYPTION_KEYS"] = key_file
            cg.start(1, "0", extra=extra)
            # Certificates without routes: the request after each handshake gets 404.
            out = tls_load(["handshakes", f"127.0.0.1:{cg.port}", "@" + names[variant], "16", str(ctx["seconds"]), "--any-answer"], "1")
            rates[variant].append(out["rate"])
            cg.stop()
    r = {k: statistics.median(v) for k, v in rates.items()}
    log(f"  uncached handshakes/s: {r}")
    return r


def sentinel_failover(ctx):
    """Seconds from the primary's death to the first admin write accepted again."""
    log, free_port, api = ctx["log"], ctx["free_port"], ctx["api"]
    base = os.path.join(ctx["tmp"], f"sentinel-{time.time_ns()}")
    os.makedirs(base)
    primary, replica = free_port(), free_port()
    procs = []

    def server(port, *extra):
        d = os.path.join(base, str(port))
        os.makedirs(d)
        return subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", d, *extra],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p = server(primary)
    procs.append(server(replica, "--replicaof", "127.0.0.1", str(primary)))
    sentinels = []
    for i in range(3):
        port = free_port()
        d = os.path.join(base, f"s{i}")
        os.makedirs(d)
        conf = os.path.join(d, "sentinel.conf")
        with open(conf, "w") as f:
            f.write(f"port {port}\nbind 127.0.0.1\ndir {d}\nsentinel monitor certgate 127.0.0.1 {primary} 2\n"
                    "sentinel down-after-milliseconds certgate 1000\nsentinel failover-timeout certgate 4000\n")
        procs.append(subprocess.Popen(["redis-server", conf, "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        sentinels.append(port)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            info = subprocess.run(["redis-cli", "-p", str(sentinels[0]), "SENTINEL", "master", "certgate"],
                                  capture_output=True, text=True).stdout.split("\n")
            fields = dict(zip(info[::2], info[1::2]))
            if fields.get("num-slaves") == "1" and fields.get("num-other-sentinels") == "2":
                break
            time.sleep(0.2)
        url = "redis-sentinel://" + ",".join(f"127.0.0.1:{s}" for s in sentinels) + "/certgate"
        cg = ctx["Certgate"](url, prefix="failover:")
        cg.start(1, "0")
        subprocess.run(["redis-cli", "-p", str(primary), "WAIT", "1", "5000"], capture_output=True)
        p.send_signal(signal.SIGKILL)
        p.wait()
        killed = time.time()
        body = {"cert_name": "after-failover", "domains": ["failover.test"], "issuer": "self-signed"}
        while time.time() - killed < 60:
            try:
                api(cg.admin, "POST", "/certificates/multi-domain", body)
                break
            except Exception:
                time.sleep(0.05)
        seconds = time.time() - killed
        cg.stop()
        return seconds
    finally:
        for proc in procs + [p]:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def measure(ctx):
    r = uncached_handshakes(ctx)
    failovers = [sentinel_failover(ctx) for _ in range(ctx["runs"])]
    r["failover_s"] = statistics.median(failovers)
    ctx["log"](f"  sentinel failover to the first admin write: {failovers}")
    return r


def render(r):
    plain, sealed = r.get("plain"), r.get("sealed")
    lines = ["### Redis in production (certgate alone)\n", "| measure | value |", "|---|---|"]
    if plain and sealed:
        lines.append(f"| handshakes/s for names not in the cache, keys plain → sealed | {plain:.0f} → {sealed:.0f} (**{sealed / plain:.2f}×**) |")
    if r.get("failover_s") is not None:
        lines.append(f"| Sentinel failover: primary killed → first admin write accepted | {r['failover_s']:.1f} s |")
    return "\n".join(lines) + "\n"
