#!/usr/bin/env python3
"""Writes linker/hot-functions.txt: the functions certgate runs as an edge, for the linker to
place together at the front of `.text` (`build.rs` passes the file to lld).

Why: the kernel maps a binary's code 64 KiB at a time around each page touched (fault-around),
and the functions an edge runs are scattered over a 14 MiB `.text`, so ≈ 12 MiB of it end up
resident — a third of the peak during a burst of handshakes. Packed together they take a few
MiB, and the code ACME, the admin API, HTTP/3 or DNS need stays on disk until it runs.

How: certgate (the release build, `scripts/build-release.sh`) runs under valgrind's callgrind
through start-up, full ECDSA and RSA handshakes, resumed handshakes, proxied HTTP/1.1, HTTP/2
and HTTP/3, the plain-HTTP port, a health check and a metrics scrape, idle connections going
quiet and a graceful stop (one worker, pinned as the bench, at the default log level).
Every function of the binary that executed an instruction is listed in two tiers, each with the
most executed first: what start-up and the TCP edge run, then what only the rest ran (HTTP/3,
the plain-HTTP port, the admin API, the stop), so that a TCP load maps only the first.
Symbol names carry the crates' hashes, which change with a dependency, a feature or the
compiler: rerun this after such a change (`just release` does, after recording a new profile;
names the build does not have are skipped, so a stale list only packs less). About a minute;
needs valgrind, h2load, redis-server and the bench's load tools (`cargo build --release
--example bench_upstream --example tls_load --example h3_load`, as `just bench` builds them).

    python3 scripts/hot-functions.py            # uses target/release/certgate
    python3 scripts/hot-functions.py --check    # how many listed names the binary has
    python3 scripts/hot-functions.py --add target/plain/certgate
        # appends the names of the build without the profile (`CERTGATE_PGO=0
        # scripts/build-release.sh`, copied aside), then scripts/build-release.sh again
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
import bench as b  # noqa: E402

OUTPUT = os.path.join(ROOT, "linker", "hot-functions.txt")
BINARY = os.environ.get("HOT_BINARY", os.path.join(ROOT, "target", "release", "certgate"))


def configure(server, upstream):
    """Two self-signed certificates (ECDSA and RSA) and a route to the upstream for each."""
    for cert_name, domain, key_type in [("bench", "bench.test", "ecdsa-p256"), ("rsa", "rsa.bench.test", "rsa")]:
        b.api(server.admin, "POST", "/certificates/", {"cert_name": cert_name, "domain": domain, "issuer": "self-signed", "key_type": key_type})
        while b.api(server.admin, "GET", f"/certificates/{cert_name}")["status"] != "active":
            time.sleep(0.1)
        b.api(server.admin, "POST", "/proxies/", {"hostname": domain, "upstream": f"http://127.0.0.1:{upstream}", "cert_name": cert_name})


def tcp_edge(server):
    """The first tier: what an HTTPS edge does over TCP, and what a burst of handshakes runs."""
    h2load = ["h2load", "--connect-to", f"127.0.0.1:{server.port}"]
    for host in ["bench.test", "rsa.bench.test"]:
        b.run(h2load + ["--h1", "-c", "100", "-n", "100", f"https://{host}/"], "1")
        b.run(h2load + ["-c", "20", "-n", "20", f"https://{host}/"], "1")
    b.run(h2load + ["--h1", "-c", "32", "-n", "3000", "https://bench.test/"], "1")
    b.run(h2load + ["-c", "8", "-m", "10", "-n", "3000", "https://bench.test/"], "1")
    tls_load = os.path.join(b.RELEASE, "examples", "tls_load")
    b.run([tls_load, "handshakes", f"127.0.0.1:{server.port}", "bench.test", "4", "3", "--resume"], "1")
    # Held connections go quiet (their buffers are released).
    b.run([tls_load, "idle", f"127.0.0.1:{server.port}", "bench.test", "20", "2"], "1")
    b.run([tls_load, "idle", f"127.0.0.1:{server.port}", "bench.test", "20", "2", "--h2"], "1")


def the_rest(server):
    """The second tier, placed after the first so that a TCP load does not map it: HTTP/3
    (on by default), the plain-HTTP port, a health check, a metrics scrape (and the stop)."""
    h3_load = os.path.join(b.RELEASE, "examples", "h3_load")
    b.run([h3_load, "requests", f"127.0.0.1:{server.port}", "bench.test", "2", "5", "2"], "1")
    for url in [f"http://127.0.0.1:{server.admin}/health", f"http://127.0.0.1:{server.admin}/metrics",
                f"http://127.0.0.1:{server.http}/"]:
        request = urllib.request.Request(url, headers={"Host": "bench.test", "Authorization": f"Bearer {b.TOKEN}"})
        try:
            urllib.request.urlopen(request, timeout=30).read()
        except OSError:
            pass  # the plain-HTTP port redirects to https://bench.test/, which does not resolve


def executed_functions(callgrind_out, binary):
    """(name, instructions) of every function of the certgate binary in a callgrind dump,
    with `--compress-strings` names resolved and self cost summed (call lines excluded); the
    dump files are removed once read."""
    names, objects, cost = {}, {}, {}
    obj = fn = None
    after_calls = False
    for path in glob.glob(callgrind_out + "*"):
        with open(path, errors="replace") as dump:
            for line in dump:
                if line.startswith(("ob=", "fn=", "cob=", "cfn=")):
                    key, _, rest = line.rstrip("\n").partition("=")
                    m = re.match(r"\((\d+)\)(?: (.*))?$", rest)
                    table = objects if key.endswith("ob") else names
                    value = rest
                    if m:
                        value = table.setdefault(m.group(1), m.group(2)) if m.group(2) else table.get(m.group(1))
                    if key == "ob":
                        obj = value
                    elif key == "fn":
                        fn = value
                        cost.setdefault((obj, fn), 0)
                    continue
                if line.startswith("calls="):
                    after_calls = True
                    continue
                if line[:1].isdigit() or line[:1] in "+-*":
                    if after_calls:
                        after_calls = False
                        continue
                    parts = line.split()
                    if len(parts) >= 2 and fn is not None:
                        cost[(obj, fn)] = cost.get((obj, fn), 0) + int(parts[1])
        os.remove(path)
    own = os.path.realpath(binary)
    total = {}
    for (obj, fn), n in cost.items():
        if obj and fn and os.path.realpath(obj) == own and not fn.startswith(("0x", "(")):
            # callgrind names a function's recursion cycles `name'2`, `name'3`.
            name = re.sub(r"'\d+$", "", fn)
            total[name] = total.get(name, 0) + n
    return sorted(total.items(), key=lambda item: -item[1])


def functions_run_by(binary):
    """The functions of `binary` that ran, in two tiers: start-up and the TCP edge, then the rest."""
    tools = [os.path.join(b.RELEASE, "examples", name) for name in ("bench_upstream", "tls_load", "h3_load")]
    missing = [tool for tool in tools if not os.path.exists(tool)] + \
        [cmd for cmd in ("valgrind", "callgrind_control", "h2load", "redis-server") if not shutil.which(cmd)]
    if missing:
        sys.exit(f"hot-functions: missing {', '.join(missing)} (see this script's doc comment)")
    out = os.path.join(b.TMP, "callgrind.hot.out")
    redis_port, upstream = b.start_redis_and_upstream()
    url = f"redis://127.0.0.1:{redis_port}"
    # A first instance writes the certificates and routes; the profiled one starts with them
    # in Redis, as an edge restarts.
    first = b.Certgate(url, prefix="hot:", binary=binary)
    first.start(1, "0")
    configure(first, upstream)
    first.stop()
    server = b.Certgate(url, prefix="hot:", binary=binary,
                        launcher=["valgrind", "--tool=callgrind", "--demangle=no", "--dump-instr=no",
                                  f"--callgrind-out-file={out}"])
    # The default log level (the bench runs quieter), so that what an edge logs is in the list.
    server.start(1, "0", extra={"LOG_LEVEL": "info"})
    tcp_edge(server)
    subprocess.run(["callgrind_control", "-d", str(server.proc.pid)], capture_output=True, check=True)
    first_tier = [name for name, _ in executed_functions(out, binary)]
    the_rest(server)
    server.stop()
    if not first_tier:
        sys.exit("hot-functions: callgrind recorded no function of the binary")
    listed = set(first_tier)
    return first_tier, [name for name, _ in executed_functions(out, binary) if name not in listed]


def main():
    first_tier, second_tier = functions_run_by(BINARY)
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    with open(OUTPUT, "w") as f:
        f.writelines(name + "\n" for name in first_tier + second_tier)
    b.log(f"hot-functions: {len(first_tier)} + {len(second_tier)} functions written to {OUTPUT}")


def add(binary):
    """Appends what another build of the same code (the one without the profile) runs under
    names the list lacks: its optimiser inlines other functions, so some of its names are its
    own. The names already listed keep their order, so the profile-guided build's layout does
    not change."""
    have = set(read_list())
    first_tier, second_tier = functions_run_by(binary)
    extra = [name for name in first_tier + second_tier if name not in have]
    with open(OUTPUT, "a") as f:
        f.writelines(name + "\n" for name in extra)
    b.log(f"hot-functions: {len(extra)} functions of {binary} added to {OUTPUT}")


def read_list():
    return [line for line in open(OUTPUT).read().split("\n") if line]


def check():
    """Prints how many of the listed functions the binary has (`just bench` shows it): below
    80 % the list is from another compiler or dependency version and should be written again
    (a list with the other build's names added has 83–95 % of them in each build)."""
    listed = read_list()
    symbols = subprocess.run(["nm", "--defined-only", BINARY], capture_output=True, text=True, check=True).stdout
    have = {line.split()[-1] for line in symbols.splitlines() if line.strip()}
    found = sum(1 for name in listed if name in have)
    advice = "" if found >= 0.8 * len(listed) else ": stale, run scripts/hot-functions.py"
    print(f"hot-functions: {found} of {len(listed)} listed functions are in {BINARY}{advice}", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        check()
        shutil.rmtree(b.TMP, ignore_errors=True)
    elif sys.argv[1:2] == ["--add"] and len(sys.argv) == 3:
        b.run_stopping_all(lambda: add(sys.argv[2]))
    elif len(sys.argv) == 1:
        b.run_stopping_all(main)
    else:
        # Anything else (`--help`, a typo) would otherwise rewrite the list.
        sys.exit("usage: scripts/hot-functions.py [--check | --add BINARY]")
