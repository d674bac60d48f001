"""The bench's plumbing, shared by `bench.py` and the one-off measuring scripts (`ab.py`,
`cache_model.py`, `profile.py`, `syscalls.py`, `scripts/hot-functions.py`): its settings from
the environment, the scratch directory, starting and stopping processes (all stopped at the
end), free ports, load generators and the /proc readings the tables are made of.
"""

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "3"))
# Certificate counts of the scale section (comma-separated).
SCALE_CERTS = [int(n) for n in os.environ.get("BENCH_SCALE_CERTS", "10000,100000").split(",")]
# Which sections run (comma-separated): sweep (the concurrency sweep, the headline), main
# (pinned, RSA, unpinned), h3 (HTTP/3 against Caddy), tls, traffic (compression, rate limits),
# redis (keys at rest, Sentinel failover), upstreams, scale. BENCH_SWEEP_POINTS picks sweep points ("h2 64x10,h1 500"),
# BENCH_SWEEP_SERVERS servers (in that order), BENCH_SWEEP_ORDER=server runs each server's points together.
SECTIONS = os.environ.get("BENCH_SECTIONS", "sweep,main,h3,tls,traffic,redis,upstreams,scale").split(",")
TOKEN = "bench-admin-token-0123456789abcdef"
RELEASE = os.path.join(ROOT, "target", "release")
TMP = tempfile.mkdtemp(prefix="certgate-bench-")
BODY = "hello from the upstream\n"
PROCS = []


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def _ephemeral_range():
    try:
        low, high = open("/proc/sys/net/ipv4/ip_local_port_range").read().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_HANDED_OUT = set()


def free_port():
    """A port nothing listens on, below the kernel's ephemeral range. A server's ports are
    picked when it is set up and bound only when it starts, sections later; a port from the
    ephemeral range (what binding to port 0 gives) could by then be the source port of one of
    the loads' own connections (9,000 at the widest sweep point), and the server would fail to
    start ("Address already in use"), as HAProxy once did in a sweep."""
    high = _ephemeral_range()[0]
    low = max(1024, high - 12000)
    for _ in range(200):
        port = random.randrange(low, high)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port between {low} and {high}")


def wait_port(port, limit=20):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def max_connections():
    """Client connections a proxy can hold here: each needs its upstream connection too, so
    half the descriptors (HAProxy refuses to start with a maxconn it cannot back)."""
    import resource
    return max(1000, (resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 100) // 2)


def taskset(cpus):
    return ["taskset", "-c", cpus] if cpus else []


def start(cmd, env=None, cpus=None, name="proc"):
    out = open(os.path.join(TMP, f"{name}.log"), "ab")
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.Popen(taskset(cpus) + cmd, env=full_env, stdout=out, stderr=out)
    PROCS.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def tree_status_kib(pid, field):
    """A /proc status field (VmRSS, VmHWM) summed over a process and its children."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
        todo.extend(children.get(p, []))
    return total


def tree_rss_kib(pid):
    """Resident memory of a process and its children (nginx's master and workers)."""
    return tree_status_kib(pid, "VmRSS")


def burst_peak_mib(server, port, sni, cpus, connections=1500):
    """Peak resident memory (VmHWM, MiB) of a freshly started server while `connections`
    clients open at once, each with a full handshake and one request (h2load --h1)."""
    run(["h2load", "--h1", "--connect-to", f"127.0.0.1:{port}", "-c", str(connections), "-n", str(connections), f"https://{sni}/"], cpus)
    return round(tree_status_kib(server.proc.pid, "VmHWM") / 1024, 1)


def cpu_times(cpu):
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                return sum(v), v[3] + v[4]
    return 0, 0


class CpuMeter:
    def __init__(self, cpu):
        self.cpu = cpu
        self.start = cpu_times(cpu)

    def percent(self):
        total, idle = cpu_times(self.cpu)
        dt, di = total - self.start[0], idle - self.start[1]
        return round(100.0 * (dt - di) / dt, 1) if dt else 0.0


def api(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    req.add_header("Authorization", f"Bearer {TOKEN}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, data, timeout=30) as r:
        text = r.read()
        return json.loads(text) if text else None


def run(cmd, cpus=None, timeout=600):
    r = subprocess.run(taskset(cpus) + cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr[-500:]}{r.stdout[-500:]}")
    return r.stdout


def h2load(port, extra, cpus, path="/", warm=1):
    """(req/s, failed requests) of SECONDS of h2load after `warm` seconds of warm-up (at
    thousands of connections, `sweep_rows.warm_up_seconds`: h2load 1.52 can hang when its run
    starts before every connection's handshake is through)."""
    out = run(["h2load", "--connect-to", f"127.0.0.1:{port}", "-D", str(SECONDS), "--warm-up-time", str(warm)] + extra + [f"https://bench.test{path}"], cpus)
    for line in out.splitlines():
        if line.startswith("finished in"):
            rps = float(line.split(",")[1].strip().split()[0])
        if line.startswith("requests:"):
            failed = int(line.split("failed")[0].split(",")[-1].split()[0]) + int(line.split("errored")[0].split(",")[-1].split()[0])
    return rps, failed


def tls_load(args, cpus):
    out = run([os.path.join(RELEASE, "examples", "tls_load")] + args, cpus)
    return json.loads(out.strip().splitlines()[-1])
