"""The concurrency sweep: proxied req/s, p99 and server CPU per request at the concurrency real
edges see, for every server, each row with its ceiling.

Pinned like the main run: the server on CPU 0 with one worker; h2load and the upstream on CPU 1.
Points: HTTP/2 at 8x10, 64x1, 64x10, 16x100, 256x10 (connections x streams) and HTTP/1.1 at
64, 500, 2,000 and 10,000 connections, all with default settings. Point by point, every server
in turn at each point, the turn order rotating (`measure`): a server's figures depend on what ran
just before it on this machine.

Ceiling: the same load against the fastest termination-only server here (nginx's and HAProxy's
`term` listeners answer themselves, on CPU 0): what the load generator can drive on its CPU. A
row whose best peer reaches 90 % of its ceiling is marked client-bound: no lead can show there.

Server CPU per request: the server's own CPU time (utime + stime of its process tree, from
/proc/PID/stat) from the end of h2load's warm-up to the end of the run, per request, so the
handshakes of thousands of connections are not counted as requests' cost. certgate's upstream
connections opened per 1,000 requests after a warm-up come from its
`certgate_upstream_connections_opened_total`.
"""

import os
import statistics
import subprocess
import time
import urllib.request

H2_POINTS = [(8, 10), (64, 1), (64, 10), (16, 100), (256, 10)]
H1_POINTS = [64, 500, 2000, 10000]
CLIENT_BOUND = 0.9


def h1_points():
    """The HTTP/1.1 points, the largest at most what a proxy can hold here: 10,000 clients need
    20,000 descriptors in a proxy (each client's upstream connection too); with a lower hard
    limit (20,000 on the bench machine) the top point is what fits."""
    import resource
    fits = (resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 2000) // 2
    return [min(c, fits // 1000 * 1000) for c in H1_POINTS]


def points():
    only = os.environ.get("BENCH_SWEEP_POINTS")
    every = [("h2", c, m) for c, m in H2_POINTS] + [("h1", c, 1) for c in h1_points()]
    if not only:
        return every
    wanted = set(only.split(","))
    return [p for p in every if label(p) in wanted]


def label(point):
    proto, c, m = point
    return f"h2 {c}x{m}" if proto == "h2" else f"h1 {c}"


def tree_cpu_seconds(pid):
    """utime + stime of `pid` and its descendants, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    children, stat = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            stat[int(entry)] = int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += stat.get(p, 0)
        todo.extend(children.get(p, []))
    return total / ticks


def h2load_args(point):
    proto, c, m = point
    return (["--h1", "-c", str(c)] if proto == "h1" else ["-c", str(c), "-m", str(m)])


def warm_up_seconds(point):
    """h2load's warm-up: at thousands of connections, long enough for the slowest server to
    open them all (full handshakes: 1,300 to 5,000 per second for one pinned worker here), so
    that the measured run is the steady state and not the connection storm."""
    return 1 if point[1] < 2000 else 2 + point[1] // 1000


def load(ctx, port, point, seconds, log_file=None, during=None):
    """One h2load run at `point` (bounded by `timeout`: h2load 1.52 can hang in -D mode);
    (req/s, failed, p99 ms or None, seconds the run lasted). `during(warm)`, when given, is
    called while the load runs (after `warm` seconds of it)."""
    warm = warm_up_seconds(point)
    cmd = ["timeout", str(seconds + warm + 60), "h2load", "--connect-to", f"127.0.0.1:{port}",
           "-D", str(seconds), "--warm-up-time", str(warm)] + h2load_args(point)
    if log_file:
        cmd += ["--log-file", log_file]
    cmd.append("https://bench.test/")
    proc = subprocess.Popen(["taskset", "-c", "1"] + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if during:
        during(warm)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-300:]}{out[-300:]}")
    if os.environ.get("BENCH_KEEP"):
        # h2load's own report (its spread of req/s between clients, say), one file per run.
        with open(os.path.join(ctx["tmp"], f"h2load-{port}-{label(point).replace(' ', '-')}.txt"), "a") as f:
            f.write(out)
    rps, failed = 0.0, 0
    for line in out.splitlines():
        if line.startswith("finished in"):
            rps = float(line.split(",")[1].strip().split()[0])
        if line.startswith("requests:"):
            failed = int(line.split("failed")[0].split(",")[-1].split()[0]) + int(line.split("errored")[0].split(",")[-1].split()[0])
    p99 = None
    if log_file and os.path.exists(log_file):
        durations = sorted(int(l.split("\t")[2]) for l in open(log_file) if l.count("\t") >= 2)
        if durations:
            p99 = durations[min(len(durations) - 1, int(0.99 * len(durations)))] / 1000.0
        os.remove(log_file)
    return rps, failed, p99, seconds + warm


def metric_sum(admin_port, name):
    """The sum of a metric's series in certgate's /metrics (None when it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def opened_connections(admin_port):
    return metric_sum(admin_port, 'certgate_upstream_connections_opened_total{route="bench.test"}')


def measure_server(server, point, ctx):
    """One sweep point against a running server: a short warm-up run, then the measured run.
    certgate's upstream connects are counted over the measured run's steady part (from its own
    warm-up's end to its end): each h2load run ends by closing its connections with requests
    in flight, whose upstream connections are closed too, so the next run's start reconnects."""
    seconds = ctx["seconds"]
    port = server.port
    # h2load 1.52 never returns in -D mode when its whole run (warm-up and duration) ends
    # before every client has connected: at 9,000 clients a 1 s warm-up run hung until its
    # `timeout` against certgate. The warm-up run lasts as long as the measured run's warm-up,
    # and at least 2 s: long enough for certgate's pool to grow to the point's concurrency.
    load(ctx, port, point, max(2, warm_up_seconds(point)))
    counted = {}
    handshakes_before = metric_sum(server.admin, "certgate_tls_handshakes_total") if server.name.startswith("certgate") else None

    def during(warm):
        """Server CPU is read from the end of h2load's warm-up (its connection storm and
        handshakes are not requests) to the end of the run. certgate's upstream connects are
        counted once every client of the run has connected, 0.5 s more, and its pool has not
        grown for a second, until a second before the run's end: the first requests of all clients at once open what the previous
        run's end closed (h2load closes its connections with requests in flight, and their
        upstream connections close with them). Counting from a fixed time caught that ramp at
        some points and not others."""
        time.sleep(warm)
        counted["cpu_from"] = (tree_cpu_seconds(server.proc.pid), time.time())
        if handshakes_before is None:
            return
        deadline = time.time() + seconds - 1
        while time.time() < deadline:
            done = metric_sum(server.admin, "certgate_tls_handshakes_total")
            if done is not None and done >= handshakes_before + point[1]:
                break
            time.sleep(0.1)
        # Then until the pool has stopped growing for a second: a load of 1,600 streams opens
        # its connections over its first seconds, as in-flight exchanges reach new highs, and
        # that is warm-up too. Churn (connects that go on) keeps the count moving, so it is
        # counted from `deadline` on; one connect a second or less is far below 1 per 1,000.
        time.sleep(0.5)
        opened, still_since = opened_connections(server.admin), time.time()
        while time.time() < deadline and time.time() - still_since < 1.0:
            time.sleep(0.25)
            now = opened_connections(server.admin)
            if now != opened:
                opened, still_since = now, time.time()
        counted["from"] = (opened, time.time())
        # ... and up to a second before the run's end: as h2load closes its connections one by
        # one, requests still in line at a cap (UPSTREAM_MAX_CONNECTIONS) take the places the
        # abandoned ones free and open connections. That is the load's teardown, not a steady
        # state.
        time.sleep(max(0.0, deadline - time.time()))
        counted["until"] = (opened_connections(server.admin), time.time())

    log_file = os.path.join(ctx["tmp"], "sweep-latency.log")
    rps, failed, p99, _ = load(ctx, port, point, seconds, log_file, during=during)
    cpu_until = (tree_cpu_seconds(server.proc.pid), time.time())
    r = {"rps": rps, "failed": failed, "p99_ms": p99}
    if rps > 0 and counted.get("cpu_from"):
        cpu = cpu_until[0] - counted["cpu_from"][0]
        r["cpu_us"] = round(cpu * 1e6 / (rps * max(0.1, cpu_until[1] - counted["cpu_from"][1])), 2)
    if counted.get("from") and counted["from"][0] is not None and counted["until"][0] is not None and rps > 0:
        after, until = counted["until"]
        steady = max(0.1, until - counted["from"][1])
        r["connects_per_1000"] = round((after - counted["from"][0]) * 1000.0 / (rps * steady), 3)
    return r


def measure(servers, ceiling_servers, certs, upstream_port, ctx):
    """{point label: {server name: figures, "ceiling": req/s}}.

    Point by point (`BENCH_SWEEP_ORDER=point`, the default): at each point every server runs in
    turn, started for it and stopped after, and the ceiling is measured while nginx's and
    HAProxy's servers are up. The turn order rotates from point to point among all servers but
    Caddy (always last: its runs leave loopback slow for minutes, see bench.py), so no server
    always runs right after another's heaviest load. Server by server
    (`BENCH_SWEEP_ORDER=server`): each server runs all its points before the next starts, in the
    given order. That order was the sweep's until it showed the same build at 0.60× when run
    third and 0.99× when run first (docs/benchmarks.md, "The sweep's order")."""
    log = ctx["log"]
    rows = {label(p): {} for p in points()}
    only = os.environ.get("BENCH_SWEEP_SERVERS")
    if only:
        # In the order given: which server runs first, and after which, can be chosen.
        wanted = only.split(",")
        servers = sorted((s for s in servers if s.name in wanted), key=lambda s: wanted.index(s.name))
        ceiling_servers = [s for s in ceiling_servers if s.name in wanted]

    def ceiling(server, point):
        rps = load(ctx, server.term_port, point, ctx["seconds"])[0]
        row = rows[label(point)]
        row["ceiling"] = max(row.get("ceiling", 0.0), rps)

    def run_point(server, point):
        log(f"  sweep {server.name} {label(point)} …")
        try:
            rows[label(point)][server.name] = measure_server(server, point, ctx)
        except (RuntimeError, OSError, ValueError) as e:
            # One point failing (say, h2load giving up) leaves a gap, not the sweep.
            log(f"  {server.name} {label(point)} failed: {str(e)[:300]}")

    def started(server, what, points_of):
        """Starts `server`, runs `points_of(server)`, stops it; a peer that fails is left out."""
        def run():
            server.start(1, "0", *certs, upstream_port)
            points_of(server)
            server.stop()
        ctx["guarded"](server, what, run)

    if os.environ.get("BENCH_SWEEP_ORDER", "point") == "server":
        def every_point(server):
            for point in points():
                run_point(server, point)

        def every_ceiling(server):
            for point in points():
                ceiling(server, point)

        for server in servers:
            started(server, "sweep", every_point)
        for server in ceiling_servers:
            started(server, "ceiling", every_ceiling)
        return rows

    rotating = [s for s in servers if s.name != "caddy"]
    last = [s for s in servers if s.name == "caddy"]
    for i, point in enumerate(points()):
        shift = i % len(rotating) if rotating else 0
        for server in rotating[shift:] + rotating[:shift] + last:
            def at_point(s, point=point):
                run_point(s, point)
                if s in ceiling_servers:
                    ceiling(s, point)
            started(server, f"sweep {label(point)}", at_point)
    return rows


def render(rows):
    """The sweep's two tables; a certgate-plain column (and its ratio) when that build ran."""
    cgs = ["certgate"] + (["certgate-plain"] if any("certgate-plain" in row for row in rows.values()) else [])
    names = ["nginx", "haproxy", "caddy"] + cgs
    titles = ["nginx", "HAProxy", "Caddy"] + cgs
    out = ["### Concurrency sweep (headline): proxied, pinned (server on CPU 0, one worker), default settings, one run each\n",
           "| point | " + " | ".join(titles) + " | " + " | ".join(f"{n} / best peer" for n in cgs) + " | ceiling | bound |",
           "|---|" + "---|" * (len(names) + len(cgs) + 2)]

    def cells(row, key, fmt):
        return [fmt.format(row[n][key]) if row.get(n, {}).get(key) is not None else "–" for n in names]

    for point, row in rows.items():
        peers = [row[n]["rps"] for n in names[:3] if row.get(n, {}).get("rps")]
        best = max(peers) if peers else None
        ceiling = row.get("ceiling")
        bound = "client" if (best and ceiling and best >= CLIENT_BOUND * ceiling) else "server"
        ratios = []
        for n in cgs:
            cg = row.get(n, {}).get("rps")
            ratios.append(f"**{cg / best:.2f}**" if (cg and best) else "–")
        out.append(f"| {point} req/s | " + " | ".join(cells(row, "rps", "{:.0f}")) + " | " + " | ".join(ratios)
                   + f" | {ceiling or 0:.0f} | {bound} |")
    out.append("\n| point | " + " | ".join(f"p99 ms: {t}" for t in titles) + " | " + " | ".join(f"CPU µs/req: {t}" for t in titles)
               + " | " + " | ".join(f"{n} upstream connects per 1,000 requests" for n in cgs) + " |")
    out.append("|---|" + "---|" * (2 * len(names) + len(cgs)))
    for point, row in rows.items():
        conns = [row.get(n, {}).get("connects_per_1000") for n in cgs]
        out.append(f"| {point} | " + " | ".join(cells(row, "p99_ms", "{:.2f}")) + " | "
                   + " | ".join(cells(row, "cpu_us", "{:.1f}")) + " | "
                   + " | ".join(str(c) if c is not None else "–" for c in conns) + " |")
    return "\n".join(out) + "\n"
