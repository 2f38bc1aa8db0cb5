#!/usr/bin/env python3
"""Rollcall's benchmark suite (see bench/README.md). Run through bench/run, which installs the
tools and builds the Release binaries first.

Prints one JSON object per measurement on stdout and a summary object last:
{"summary": {...}}. Everything is measured in this one run, as ratios against a baseline measured
the same way, alternately, on the same machine: the ratios hold on a noisy machine where the
absolute numbers do not.

Servers (Rollcall, the baseline) run pinned to CPU 0, the load generator (h2load for every cache
hit measurement, ghz for the others) to CPU 1, so the two do not fight over one core; the Graph
emulator is not pinned. Every h2load run is checked on the server's side (its count of replies by
gRPC code) and reports the CPU use of both sides.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import ssl

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import peer_sdk  # noqa: E402  (stub generation, shared with the peer benchmark)
import peer_go  # noqa: E402  (the Go peer: bench/peer_go/)
import stream_memory  # noqa: E402  (slow StreamAttendanceRecords readers: bench/stream_memory.py)
import token_refresh  # noqa: E402  (3-second tokens under load: bench/token_refresh.py)

USER = "16664f75-11dc-4870-bec6-38c1aaa81431"
MEETING = "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ"
DOCS_REPORT = "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7"
TENANT, CLIENT_ID, SECRET = "contoso-tenant", "rollcall-demo-client", "rollcall-demo-secret"
METHOD = "rollcall.v1.AttendanceReportService.GetAttendanceReport"
METHOD_PATH = "/rollcall.v1.AttendanceReportService/GetAttendanceReport"
TARGETS = {
    "hit_small_throughput_ratio": (">=", 0.90),
    "hit_small_p50_ratio": ("<=", 1.20),
    "hit_small_p99_ratio": ("<=", 1.2),
    "hit_large_throughput_ratio": (">=", 0.90),
    "miss_overhead_p50_ms": ("<=", 0.5),
    "json_map_speedup": (">=", 5.0),
    "json_map_equal": ("==", True),
    "coalesce_graph_calls": ("==", 1),
    "token_requests": ("==", 1),
    "memory_per_report_ratio": ("<=", 2.0),
    "peer_sdk_hit_speedup": (">=", 10.0),
    "peer_sdk_miss_ratio": ("<=", 1.0),
    # Instructions per cache hit, Rollcall over the bare baseline (callgrind): issue #9's target
    # (1.20 was what a hit cost before the cache was split into a sharded LRU, a single-flight
    # and a loader).
    "hit_instructions_ratio": ("<=", 1.15),
    # Rollcall against the Go service a team would write instead (bench/peer_go/), same proto,
    # same data, same pinned core: hits (requests/s, Rollcall / peer) and a 10,000-record miss
    # (p50, Rollcall / peer). Debian's gRPC serves small replies slower than grpc-go does
    # (bare servers: about 0.7 of Go), so 0.65 is that ceiling nearly reached.
    "peer_go_hit_small_throughput_ratio": (">=", 0.65),
    "peer_go_hit_large_throughput_ratio": (">=", 1.3),
    "peer_go_miss_large_ratio": ("<=", 0.8),
    # StreamAttendanceRecords to 20 clients reading one message a second (bench/stream_memory.py):
    # the server's RSS growth over what 20 buffered copies of the streamed report would take;
    # and that the figure means it (the streams held open by flow control, from the cache, let
    # go of when cancelled, the server serving after).
    "stream_memory_ratio": ("<=", 0.1),
    # Tokens living 3 s under a minute of steady load (bench/token_refresh.py): p99 of misses
    # and hits against hour-long tokens, and one token request per refresh interval.
    **token_refresh.TARGETS,
    "stream_memory_checks": ("==", True),
}


# h2load's shape for the hit measurements: for small replies, many streams over a few
# connections, so that h2load on its one core outruns the server on its own; for 1.5 MB replies,
# one stream on each of 4 connections (flow control, not requests, is the limit there).
SMALL_CONNECTIONS, SMALL_STREAMS = 4, 16
LARGE_CONNECTIONS, LARGE_STREAMS = 4, 1


def emit(obj):
    print(json.dumps(obj), flush=True)


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Process:
    """A child whose first stdout line announces its address. Every one still running is
    stopped when the benchmark exits, a failed measurement included."""

    running = []

    def __init__(self, argv, prefix, env=None, cpu=None, second_prefix=None):
        if cpu is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", str(cpu)] + argv
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env={**os.environ, **(env or {})}, text=True)
        Process.running.append(self)
        line = self.proc.stdout.readline().strip()
        if not line.startswith(prefix):
            self.stderr.seek(0)
            raise SystemExit(f"{argv[0]} did not start: {line!r}\n{self.stderr.read().decode()}")
        self.address = line[len(prefix):]
        if second_prefix:  # e.g. Rollcall's "rollcall metrics on HOST:PORT"
            line = self.proc.stdout.readline().strip()
            assert line.startswith(second_prefix), line
            self.second_address = line[len(second_prefix):]

    def rss_bytes(self):
        pid = self.proc.pid
        # With taskset in front, the server is taskset's exec'd image: same pid.
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Emulator:
    def __init__(self, build, dataset, tls_dir, extra=()):
        self.p = Process([sys.executable, os.path.join(ROOT, "tests/fake_graph/fake_graph.py"),
                          "--listen", "127.0.0.1:0", "--tls-dir", tls_dir, "--dataset", dataset,
                          *extra], "fake_graph listening on ")
        self.url = self.p.address
        self.ca = os.path.join(tls_dir, "ca.pem")
        self.ctx = ssl.create_default_context(cafile=self.ca)

    def control(self, method, name, value=None):
        body = None if value is None else json.dumps(value).encode()
        req = urllib.request.Request(f"{self.url}/_emulator/{name}", data=body, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def counter(self, name):
        return self.control("GET", "counters").get(name, 0)


class Ghz:
    def __init__(self, binary, cpu):
        self.binary, self.cpu = binary, cpu

    def run(self, target, report_id, concurrency, duration=None, total=None, rps=None,
            connections=1, view="REPORT_VIEW_FULL", skip_first=0):
        data = json.dumps({"userId": USER, "meetingId": MEETING, "reportId": report_id,
                           "view": view})
        argv = [self.binary, "--insecure", "--proto", os.path.join(ROOT, "proto/rollcall/v1/attendance.proto"),
                "--import-paths", os.path.join(ROOT, "proto"), "--call", METHOD, "-d", data,
                "-c", str(concurrency), "--connections", str(connections), "--format", "json",
                "--cpus", "1", "--timeout", "30s", "--duration-stop", "ignore"]
        if duration:
            argv += ["-z", duration]
        if total:
            argv += ["-n", str(total)]
        if rps:
            argv += ["--rps", str(int(rps))]
        if skip_first:  # left out of the latency figures (ghz's own start-up)
            argv += ["--skipFirst", str(int(skip_first))]
        if shutil.which("taskset"):
            argv = ["taskset", "-c", str(self.cpu)] + argv
        out = subprocess.run(argv + [target], capture_output=True, text=True, timeout=600)
        result = json.loads(out.stdout)
        lat = {d["percentage"]: d["latency"] / 1e6 for d in result.get("latencyDistribution") or []}
        codes = result.get("statusCodeDistribution") or {}
        return {"rps": result["rps"], "count": result["count"], "p50_ms": lat.get(50),
                "p99_ms": lat.get(99), "codes": codes,
                # Every counted request's latency, for figures over several runs.
                "latencies_ms": [d["latency"] / 1e6 for d in result.get("details") or []]}


CLK_TCK = os.sysconf("SC_CLK_TCK")
SATURATED_PCT = 90.0  # a side is saturated at this % of its one core


def cpu_seconds(pid):
    """utime + stime of process `pid`, all its threads, in seconds (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # fields from the 3rd (state) on
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def core_times():
    """{cpu number: (busy, total) jiffies} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+) (.*)", line)
            if m:
                ticks = [int(x) for x in m.group(2).split()]
                idle = ticks[3] + ticks[4]  # idle, iowait
                out[int(m.group(1))] = (sum(ticks[:8]) - idle, sum(ticks[:8]))
    return out


def core_busy_pct(before, after, cpu):
    """How busy core `cpu` was between two core_times(), whatever ran on it, in %."""
    if cpu is None or cpu not in before:
        return None
    busy, total = (a - b for a, b in zip(after[cpu], before[cpu]))
    return 100 * busy / total if total else None


def saturated(server_pct, loadgen_pct, server_core_pct=None, loadgen_core_pct=None):
    """Which side of a throughput run ran out of CPU; each has one core (servers CPU 0, the load
    generator CPU 1). "server" / "load generator" / "both" when the process itself used at least
    SATURATED_PCT of its core; else, when its core was that busy all the same (other processes
    on this shared machine took the rest), "... core (contended)"; else "neither"."""
    high = lambda pct: pct is not None and pct >= SATURATED_PCT  # noqa: E731
    names = {(True, False): "server", (False, True): "load generator", (True, True): "both"}
    verdict = names.get((high(server_pct), high(loadgen_pct)))
    if verdict:
        return verdict
    core = {(True, False): "server core", (False, True): "load generator core",
            (True, True): "both cores"}.get((high(server_core_pct), high(loadgen_core_pct)))
    return f"{core} (contended)" if core else "neither"


class StatusCheckFailed(AssertionError):
    """The server's own count of replies does not account for every request the load generator
    completed, all OK."""


class Server:
    """What the hit measurements drive: any server of rollcall.v1's GetAttendanceReport at
    `address` (Rollcall, the baseline, a peer). `pid`: the process whose CPU use is reported
    (None: not reported). `replies()`: the gRPC replies it has sent so far, {code name: count},
    for the status check (None: the server cannot tell, and its runs are marked unchecked)."""

    def __init__(self, name, address, pid=None, replies=None, cpu=None):
        self.name, self.address, self.pid, self.replies = name, address, pid, replies
        self.cpu = cpu  # the core it is pinned to, if any


def peer_server(name, peer, cpu=0):
    """A Server for a peer started elsewhere (an object with .address and .stop(), such as
    bench/peer_go.py's start_peer(..., cpu) gives): its CPU use is reported if it has a .pid,
    its replies checked if it has a .replies() like Server's. Add it to `small_servers` /
    `large_servers` in main() to measure it with the same h2load runs and rounds."""
    return Server(name, peer.address, getattr(peer, "pid", None), getattr(peer, "replies", None),
                  cpu=cpu)


def rollcall_replies(metrics_address):
    """Rollcall's rollcall_requests_total by code, from its Prometheus endpoint."""
    def replies():
        with urllib.request.urlopen(f"http://{metrics_address}/metrics", timeout=30) as r:
            text = r.read().decode()
        out = {}
        for m in re.finditer(r'^rollcall_requests_total\{code="(\w+)"\} (\S+)$', text, re.M):
            out[m.group(1)] = int(float(m.group(2)))
        assert "OK" in out, "no rollcall_requests_total{code=\"OK\"} in /metrics"
        return out
    return replies


def baseline_replies(pid, count_file):
    """The baseline's count of replies (all OK): it writes it to `count_file` on SIGUSR1."""
    def replies():
        if os.path.exists(count_file):
            os.remove(count_file)
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not os.path.exists(count_file):
            assert time.monotonic() < deadline, f"baseline wrote no {count_file}"
            time.sleep(0.005)
        with open(count_file) as f:
            return {"OK": int(f.read())}
    return replies


class H2load:
    """h2load sending gRPC-framed requests (many streams over a few connections) for every hit
    measurement: it does not decode replies, so on its one core it outruns both servers, where
    ghz, which decodes every reply, tops out at its own ceiling.

    Each run sends a fixed number of requests (-n), sized by the caller to last about the
    run's length, and waits for every reply: no request is cut off at the end of a run, so the
    counts are exact. h2load counts HTTP 2xx as success, and a gRPC error is HTTP 200 with an
    error trailer, which h2load does not read: each run is checked on the server's side instead.
    The server's count of replies by gRPC code, read before and after the run, must be exactly
    the requests h2load sent and completed, all OK; else StatusCheckFailed.

    Also reported per run: CPU use of the server process and of h2load, in % of one core over
    the run's wall time, how busy each one's core was (whatever ran on it: the machine is
    shared), and the server's CPU time per request."""

    def __init__(self, binary, cpu, out_dir):
        self.binary, self.cpu, self.out_dir = binary, cpu, out_dir

    def run(self, server, request_bytes, connections, streams, total, rps=None, path=METHOD_PATH):
        total = max(int(total), connections)
        body = os.path.join(self.out_dir, "h2load-request.bin")
        with open(body, "wb") as f:  # the gRPC message frame: no compression, 4-byte length
            f.write(b"\x00" + len(request_bytes).to_bytes(4, "big") + request_bytes)
        log_file = os.path.join(self.out_dir, "h2load.log")
        if os.path.exists(log_file):  # h2load appends to it: each run's latencies alone
            os.remove(log_file)
        argv = [self.binary, "-c", str(connections), "-m", str(streams), "-n", str(total),
                "-d", body, "--log-file", log_file,
                "-H", "content-type: application/grpc", "-H", "te: trailers",
                f"http://{server.address}{path}"]
        if rps:  # h2load's rate is per connection
            argv[1:1] = ["--rps", str(max(1, round(rps / connections)))]
        if shutil.which("taskset"):
            argv = ["taskset", "-c", str(self.cpu)] + argv
        before = server.replies() if server.replies else None
        server_cpu = cpu_seconds(server.pid) if server.pid else None
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cores = core_times()
        start = time.monotonic()
        out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
        wall = time.monotonic() - start
        cores_after = core_times()
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_pct = (100 * (cpu_seconds(server.pid) - server_cpu) / wall
                      if server.pid else None)
        loadgen_pct = 100 * ((after_children.ru_utime - children.ru_utime)
                             + (after_children.ru_stime - children.ru_stime)) / wall
        after = server.replies() if server.replies else None
        m = re.search(r"finished in .*?, ([\d.]+) req/s", out)
        counts = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded",
                           out)
        assert m and counts, out
        _, started, done, succeeded = (int(x) for x in counts.groups())
        # HTTP level: every request sent, completed, and answered with a 2xx.
        assert started == done == succeeded == total, out
        result = {"server": server.name, "rps": float(m.group(1)), "requests": done,
                  "seconds": round(wall, 2), "connections": connections, "streams": streams,
                  "target_rps": round(rps) if rps else None,
                  "server_cpu_pct": None if server_pct is None else round(server_pct, 1),
                  "loadgen_cpu_pct": round(loadgen_pct, 1),
                  # The server's CPU time per request: what a reply costs it, whatever share of
                  # its core the machine's other processes left it.
                  "server_cpu_us_per_request": (None if server_pct is None else
                                                round(server_pct / 100 * wall / done * 1e6, 2))}
        for side, cpu in (("server", server.cpu), ("loadgen", self.cpu)):
            busy = core_busy_pct(cores, cores_after, cpu)
            result[f"{side}_core_busy_pct"] = None if busy is None else round(busy, 1)
        result["saturated"] = saturated(server_pct, loadgen_pct, result["server_core_busy_pct"],
                                        result["loadgen_core_busy_pct"])
        if before is None:
            result["status_checked"] = False
        else:
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}
            not_ok = {k: v for k, v in delta.items() if k != "OK" and v}
            result.update(status_checked=True, replies_ok=delta.get("OK", 0),
                          replies_not_ok=not_ok)
            if not_ok or delta.get("OK", 0) != done:
                raise StatusCheckFailed(
                    f"{server.name}: h2load completed {done} requests (HTTP 200), the server "
                    f"answered {delta.get('OK', 0)} OK and {not_ok or 'no'} other codes")
        with open(log_file) as f:  # start time (us), HTTP status, request time (us)
            latencies = sorted(int(line.split()[2]) / 1000 for line in f if line.strip())
        assert len(latencies) == done, (len(latencies), done)
        pick = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))]  # noqa: E731
        result.update(p50_ms=pick(0.5), p99_ms=pick(0.99))
        return result


def check(name, value):
    op, bound = TARGETS[name]
    if op == "between":
        return bound[0] <= value <= bound[1]
    return {">=": value >= bound, "<=": value <= bound, "==": value == bound}[op]


def saturation_and_latency(load, name, servers, rounds, seconds, warmup):
    """Throughput at saturation, then latency at half of the baseline's saturation rate, the
    servers taking turns round by round (`servers`: {who: Server}, one of them "baseline", the
    denominator of every ratio; any other server, a peer, is measured the same way). Medians of
    the rounds. `load(server, seconds, rps=None)` runs the load tool once and checks every
    reply's gRPC status (H2load.run); each run is printed as a `{name}_round` line.

    `load(server, requests, rps=None)` sends a fixed number of requests: each run's is the
    server's rate in its previous run times `seconds`, or at half load that rate times
    `seconds`. Two warm-up runs each: `warmup` requests, then about 2 s at the rate measured."""
    rate = {who: load(server, warmup)["rps"] for who, server in servers.items()}
    rate = {who: load(server, rate[who] * 2)["rps"] for who, server in servers.items()}
    runs = {"saturation": {who: [] for who in servers}, "half_load": {who: [] for who in servers}}
    for phase in ("saturation", "half_load"):
        rps = None
        if phase == "half_load":
            rps = statistics.median(r["rps"] for r in runs["saturation"]["baseline"]) / 2
        for i in range(rounds):
            for who, server in servers.items():
                r = load(server, (rps or rate[who]) * seconds, rps=rps)
                rate[who] = r["rps"] if rps is None else rate[who]
                emit({"measurement": f"{name}_round", "phase": phase, "round": i, **r})
                runs[phase][who].append(r)
    med = lambda phase, who, key: statistics.median(r[key] for r in runs[phase][who])  # noqa: E731
    first = runs["saturation"]["baseline"][0]
    m = {"measurement": name, "tool": "h2load", "connections": first["connections"],
         "streams": first["streams"], "rounds": rounds, "seconds": seconds,
         "half_load_rps": round(med("saturation", "baseline", "rps") / 2),
         "status_checked": all(r["status_checked"] for phase in runs.values()
                               for rs in phase.values() for r in rs)}
    for who in servers:
        # Which side saturated, and the CPU use behind it: from the round whose rate is the
        # median (the figures of one round hang together; medians taken one by one may not).
        rounds_by_rps = sorted(runs["saturation"][who], key=lambda r: r["rps"])
        mid = rounds_by_rps[(len(rounds_by_rps) - 1) // 2]
        m.update({f"{who}_rps": round(med("saturation", who, "rps")),
                  f"{who}_server_cpu_pct": mid["server_cpu_pct"],
                  f"{who}_loadgen_cpu_pct": mid["loadgen_cpu_pct"],
                  f"{who}_server_core_busy_pct": mid["server_core_busy_pct"],
                  f"{who}_loadgen_core_busy_pct": mid["loadgen_core_busy_pct"],
                  f"{who}_saturated": mid["saturated"],
                  f"{who}_saturated_rounds": [r["saturated"] for r in runs["saturation"][who]],
                  f"{who}_server_cpu_us_per_request": (
                      None if servers[who].pid is None
                      else round(med("saturation", who, "server_cpu_us_per_request"), 2)),
                  f"{who}_p50_ms": round(med("half_load", who, "p50_ms"), 3),
                  f"{who}_p99_ms": round(med("half_load", who, "p99_ms"), 3)})
    for who in servers:
        if who == "baseline":
            continue
        prefix = "" if who == "rollcall" else f"{who}_"
        if m[f"{who}_server_cpu_us_per_request"] and m["baseline_server_cpu_us_per_request"]:
            m[f"{prefix}cpu_per_request_ratio"] = round(
                m[f"{who}_server_cpu_us_per_request"] / m["baseline_server_cpu_us_per_request"], 3)
        m.update({f"{prefix}throughput_ratio": round(m[f"{who}_rps"] / m["baseline_rps"], 3),
                  f"{prefix}p50_ratio": round(m[f"{who}_p50_ms"] / m["baseline_p50_ms"], 3),
                  f"{prefix}p99_ratio": round(m[f"{who}_p99_ms"] / m["baseline_p99_ms"], 3)})
    emit(m)
    return m


def latency_curve(load, servers, saturation_rps, seconds, out_png):
    """Latency against load, in short runs at fractions of the baseline's saturation rate."""
    points = []
    for frac in (0.1, 0.25, 0.5, 0.75, 0.9):
        for who, server in servers.items():
            r = load(server, saturation_rps * frac * seconds, rps=saturation_rps * frac)
            points.append({"server": who, "load": frac, "rps": round(r["rps"]),
                           "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"]})
    emit({"measurement": "hit_small_latency_curve", "points": points})
    plot_latency(points, out_png)


def status_check_selftest(h2load, rollcall, baseline, bad_request):
    """Shows that the status check can fail, each run: h2load sends Rollcall a request it must
    refuse (INVALID_ARGUMENT: HTTP 200 all the same, which h2load counts as succeeded), and sends
    the baseline calls of a method it does not serve (UNIMPLEMENTED, HTTP 200 as well). Both runs
    must raise StatusCheckFailed."""
    detected = {}
    for who, server, request, path in (
            ("rollcall_invalid_argument", rollcall, bad_request, METHOD_PATH),
            ("baseline_unimplemented", baseline, bad_request,
             "/rollcall.v1.AttendanceReportService/NoSuchMethod")):
        try:
            h2load.run(server, request, 1, 4, 2000, path=path)
            detected[who] = False
        except StatusCheckFailed as e:
            detected[who] = str(e)
    emit({"measurement": "status_check_selftest", **detected})
    assert all(detected.values()), f"the status check let errors through: {detected}"


def plot_latency(points, out_png):
    """Latency against achieved load, p50 and p99, Rollcall and the baseline; log scale, so that
    sub-millisecond medians and a p99 outlier both stay readable."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no plot")
        return
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for who, color in (("rollcall", "tab:blue"), ("baseline", "tab:gray"),
                       ("peer_go", "tab:orange")):
        xs = [p["rps"] for p in points if p["server"] == who]
        if not xs:
            continue
        for q, style in (("p50_ms", "-o"), ("p99_ms", "--s")):
            ax.plot(xs, [p[q] for p in points if p["server"] == who], style, color=color,
                    label=f"{who} {q[:3]}")
    ax.set_xlabel("achieved load (requests/s)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_yscale("log")
    ax.set_title("Cache hits, docs example report: Rollcall, bare gRPC baseline, Go peer")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)


def callgrind_hits(argv, prefix, env, ghz, out_dir, who, hits=3000, concurrency=4):
    """Instructions per cache hit of the server that `argv` starts, counted by callgrind: the
    server runs under valgrind with counting off; after a warm-up (the first call is a miss for
    Rollcall), counting is switched on for `hits` calls of the docs' report from ghz
    (`concurrency` at once) and off again. Instruction counts do not move with the machine's
    load the way seconds do."""
    out_file = os.path.join(out_dir, f"callgrind.{who}.out")
    server = Process(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                      f"--callgrind-out-file={out_file}", *argv], prefix, env=env)
    ghz.run(server.address, DOCS_REPORT, 1, total=1)
    ghz.run(server.address, DOCS_REPORT, concurrency, total=300)
    pid = str(server.proc.pid)
    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
    r = ghz.run(server.address, DOCS_REPORT, concurrency, total=hits)
    subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
    assert r["codes"].get("OK") == hits, r["codes"]
    server.stop()
    server.proc.wait(timeout=120)
    with open(out_file) as f:
        totals = [int(line.split()[1]) for line in f if line.startswith(("summary:", "totals:"))]
    return totals[-1] / hits


def token_refresh_parts(build, ghz_binary, out_dir, dataset):
    """What token_refresh.measure needs: an emulator factory (its own TLS folder each) and a
    Rollcall factory, both with this benchmark's settings, and ghz."""
    counter = [0]

    def make_emulator(extra):
        counter[0] += 1
        return Emulator(build, dataset, os.path.join(out_dir, f"tls-token-{counter[0]}"), extra)

    def start_rollcall(emulator, env):
        return Process([os.path.join(build, "service/rollcall_server")], "rollcall listening on ",
                       cpu=0, env={"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT_ID,
                                   "AZURE_CLIENT_SECRET": SECRET,
                                   "AZURE_AUTHORITY_HOST": emulator.url + "/",
                                   "ROLLCALL_GRAPH_BASE_URL": emulator.url,
                                   "ROLLCALL_CA_BUNDLE": emulator.ca, "ROLLCALL_PLAINTEXT": "true",
                                   "ROLLCALL_LISTEN": "127.0.0.1:0", "ROLLCALL_LOG_LEVEL": "warn",
                                   **env})

    return make_emulator, start_rollcall, Ghz(ghz_binary, cpu=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--ghz", required=True)
    ap.add_argument("--h2load", default=shutil.which("h2load") or "h2load")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--seconds", type=int, default=5, help="length of one load run")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.results, exist_ok=True)
    started = time.time()
    binary = lambda name: os.path.join(args.build, name)  # noqa: E731

    log("generating the data set")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_reports.py"), args.out], check=True)
    emulator = Emulator(args.build, os.path.join(args.out, "dataset.json"),
                        os.path.join(args.out, "tls"))
    creds = {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": SECRET}
    # Rollcall runs with its defaults (log level info: a line per Graph fetch), plus a cache big
    # enough for the memory measurement.
    rollcall_env = {
        **creds, "AZURE_AUTHORITY_HOST": emulator.url + "/",
        "ROLLCALL_GRAPH_BASE_URL": emulator.url, "ROLLCALL_CA_BUNDLE": emulator.ca,
        "ROLLCALL_LISTEN": "127.0.0.1:0", "ROLLCALL_CACHE_MAX_BYTES": "1GiB",
        # Loopback, and the load generators speak plaintext: the server must be told.
        "ROLLCALL_PLAINTEXT": "true"}
    # The measured server also serves its Prometheus metrics: its count of replies by gRPC code
    # is the status check of every h2load run.
    rollcall = Process([binary("service/rollcall_server")], "rollcall listening on ", cpu=0,
                       env={**rollcall_env, "ROLLCALL_METRICS_LISTEN": "127.0.0.1:0"},
                       second_prefix="rollcall metrics on ")
    ghz = Ghz(args.ghz, cpu=1)
    pb2, pb2_grpc = peer_sdk.load_stubs()
    import grpc
    stub = pb2_grpc.AttendanceReportServiceStub(grpc.insecure_channel(rollcall.address))

    def fetch(report_id):
        return stub.GetAttendanceReport(pb2.GetAttendanceReportRequest(
            user_id=USER, meeting_id=MEETING, report_id=report_id), timeout=60)

    # The baselines answer with the very bytes of Rollcall's cache hits.
    baselines = {}
    for report_id in (DOCS_REPORT, "large"):
        fetch(report_id)
        reply = fetch(report_id)
        assert reply.from_cache
        path = os.path.join(args.out, f"{report_id}.bin")
        with open(path, "wb") as f:
            f.write(reply.SerializeToString())
        count_file = os.path.join(args.out, f"baseline-{report_id}.count")
        p = Process([binary("bench/bench_baseline_server"), "--listen", "127.0.0.1:0",
                     "--response", path, "--count_file", count_file],
                    "baseline listening on ", cpu=0)
        baselines[report_id] = Server("baseline", p.address, p.proc.pid,
                                      baseline_replies(p.proc.pid, count_file), cpu=0)
    docs_reply_bytes = os.path.getsize(os.path.join(args.out, f"{DOCS_REPORT}.bin"))
    rollcall_server = Server("rollcall", rollcall.address, rollcall.proc.pid,
                             rollcall_replies(rollcall.second_address), cpu=0)
    # Further servers of the same method (a peer) can join `small_servers` and `large_servers`:
    # every hit measurement takes any Server.
    small_servers = {"rollcall": rollcall_server, "baseline": baselines[DOCS_REPORT]}
    large_servers = {"rollcall": rollcall_server, "baseline": baselines["large"]}

    log("peer_go: building and starting the Go peer")
    tokens_before = emulator.counter("token")
    peer_count_file = os.path.join(args.out, "peer_go.count")
    go_peer = peer_go.start_peer(args.out, os.path.join(args.build, "tools"), emulator.url,
                                 emulator.ca, TENANT, CLIENT_ID, SECRET, cpu=0,
                                 count_file=peer_count_file)
    Process.running.append(go_peer)  # stopped with the others, a failed measurement included
    peer_stub = pb2_grpc.AttendanceReportServiceStub(grpc.insecure_channel(go_peer.address))
    for report_id in (DOCS_REPORT, "large"):  # a miss, then a hit: both cached like Rollcall's
        for _ in range(2):
            reply = peer_stub.GetAttendanceReport(pb2.GetAttendanceReportRequest(
                user_id=USER, meeting_id=MEETING, report_id=report_id), timeout=60)
        assert reply.from_cache, report_id
    small_servers["peer_go"] = large_servers["peer_go"] = Server(
        "peer_go", go_peer.address, go_peer.proc.pid,
        baseline_replies(go_peer.proc.pid, peer_count_file), cpu=0)
    peer_tokens = emulator.counter("token") - tokens_before  # the peer's, not Rollcall's

    h2load = H2load(args.h2load, cpu=1, out_dir=args.out)
    request = lambda report_id, user_id=USER: pb2.GetAttendanceReportRequest(  # noqa: E731
        user_id=user_id, meeting_id=MEETING, report_id=report_id).SerializeToString()
    small_request, large_request = request(DOCS_REPORT), request("large")

    log("status check self-test")
    status_check_selftest(h2load, rollcall_server, baselines[DOCS_REPORT],
                          request(DOCS_REPORT, user_id=""))  # no user: INVALID_ARGUMENT

    log("hit_small")

    def h2load_small(server, requests, rps=None):
        return h2load.run(server, small_request, SMALL_CONNECTIONS, SMALL_STREAMS, requests,
                          rps=rps)
    small = saturation_and_latency(h2load_small, "hit_small", small_servers, args.rounds,
                                   args.seconds, warmup=40000)
    log("hit_small latency curve")
    latency_curve(h2load_small, small_servers, small["baseline_rps"], max(2, args.seconds // 2),
                  os.path.join(args.results, "hit_latency.png"))
    log("hit_large")

    def h2load_large(server, requests, rps=None):
        return h2load.run(server, large_request, LARGE_CONNECTIONS, LARGE_STREAMS, requests,
                          rps=rps)
    large = saturation_and_latency(h2load_large, "hit_large", large_servers, args.rounds,
                                   args.seconds, warmup=2000)

    log("miss")
    misses = {}
    other_tokens = peer_tokens  # token requests of the peer and the direct clients
    for name, prefix, count in (("small", "miss-", 1000), ("large", "large-", 5)):
        g = subprocess.run([binary("bench/bench_grpc_get"), "--target", rollcall.address,
                            "--user", USER, "--meeting", MEETING, "--prefix", prefix, "--start",
                            "0", "--count", str(count)], check=True, capture_output=True, text=True)
        r = json.loads(g.stdout)
        direct_start = count if name == "small" else 0
        tokens_before = emulator.counter("token")
        d = subprocess.run([binary("bench/bench_direct_get"), "--graph", emulator.url, "--ca",
                            emulator.ca, "--tenant", TENANT, "--client-id", CLIENT_ID, "--user",
                            USER, "--meeting", MEETING, "--prefix", prefix, "--start",
                            str(direct_start), "--count", str(count)],
                           env={**os.environ, "AZURE_CLIENT_SECRET": SECRET}, check=True,
                           capture_output=True, text=True)
        direct = json.loads(d.stdout)
        other_tokens += emulator.counter("token") - tokens_before
        misses[name] = {"rollcall_p50_ms": round(r["p50_ms"], 3),
                        "emulator_direct_p50_ms": round(direct["p50_ms"], 3),
                        "overhead_p50_ms": round(r["p50_ms"] - direct["p50_ms"], 3), "requests": count}
        emit({"measurement": f"miss_{name}", **misses[name]})

    # The Go peer's miss of the same 10,000-record reports (its own cache is cold for them).
    g = subprocess.run([binary("bench/bench_grpc_get"), "--target", go_peer.address,
                        "--user", USER, "--meeting", MEETING, "--prefix", "large-", "--start",
                        "0", "--count", "5"], check=True, capture_output=True, text=True)
    peer_large_miss = json.loads(g.stdout)
    peer_go_miss = {"measurement": "peer_go_miss_large", "requests": 5,
                    "rollcall_p50_ms": misses["large"]["rollcall_p50_ms"],
                    "peer_go_p50_ms": round(peer_large_miss["p50_ms"], 3),
                    "ratio": round(misses["large"]["rollcall_p50_ms"] / peer_large_miss["p50_ms"],
                                   3)}
    emit(peer_go_miss)

    log("json_map")
    out = subprocess.run([binary("bench/bench_json_map"), os.path.join(args.out, "large_report.json"),
                          os.path.join(ROOT, "tests", "data", "graph"), "3"],
                         capture_output=True, text=True)
    json_map = None
    for line in out.stdout.splitlines():
        obj = json.loads(line)
        emit(obj)
        if obj["measurement"] == "json_map":
            json_map = obj

    log("coalesce")
    emulator.control("POST", "faults", {"kind": "report", "path_contains": "coalesce",
                                        "action": "delay", "delay_ms": 500, "count": 5})
    before = emulator.counter("report")
    r = ghz.run(rollcall.address, "coalesce", 1000, total=1000, connections=10)
    coalesce_calls = emulator.counter("report") - before
    emit({"measurement": "coalesce", "concurrent_requests": 1000, "ok": r["codes"].get("OK", 0),
          "graph_calls": coalesce_calls})

    log("memory")
    tokens_before = emulator.counter("token")
    # A server of its own, so that memory freed by the earlier measurements cannot hide growth.
    mem_server = Process([binary("service/rollcall_server")], "rollcall listening on ", cpu=0, env={
        **rollcall_env, "ROLLCALL_CACHE_MAX_BYTES": "1GiB"})
    ghz.run(mem_server.address, "miss-{{.RequestNumber}}", 8, total=200)  # warm-up: 200 reports
    rss_before = mem_server.rss_bytes()
    r = ghz.run(mem_server.address, "mem-{{.RequestNumber}}", 8, total=10000)
    assert r["codes"].get("OK") == 10000, r["codes"]
    rss_after = mem_server.rss_bytes()
    # The denominator: the serialized size of what was cached, the mem-* reports' own hit
    # replies (a sample of every 10th, their IDs' lengths in proportion), not the docs report's.
    mem_channel = grpc.insecure_channel(mem_server.address)
    raw_get = mem_channel.unary_unary(METHOD_PATH,
                                      request_serializer=lambda b: b,
                                      response_deserializer=None)
    sizes = []
    for i in range(0, 10000, 10):
        raw = raw_get(request(f"mem-{i}"), timeout=60)
        assert pb2.GetAttendanceReportResponse.FromString(raw).from_cache, f"mem-{i}"
        sizes.append(len(raw))
    mem_channel.close()
    mem_server.stop()
    other_tokens += emulator.counter("token") - tokens_before  # the second server's own token
    per_report = (rss_after - rss_before) / 10000
    cached_bytes = statistics.mean(sizes)
    memory = {"measurement": "memory", "reports": 10000, "rss_before": rss_before,
              "rss_after": rss_after, "rss_per_report_bytes": round(per_report),
              "serialized_bytes_per_report": round(cached_bytes, 1),
              "serialized_sample": len(sizes), "docs_reply_bytes": docs_reply_bytes,
              "ratio": round(per_report / cached_bytes, 3)}
    emit(memory)

    log("stream_memory")
    tokens_before = emulator.counter("token")
    # A server of its own as well (its heap probe preloaded): slow readers of a 25,000-record
    # report's stream, against K copies of the report.
    stream_mem = stream_memory.measure(
        lambda extra: Process([binary("service/rollcall_server")], "rollcall listening on ",
                              cpu=0, env={**rollcall_env, "ROLLCALL_METRICS_LISTEN": "127.0.0.1:0",
                                          **extra},
                              second_prefix="rollcall metrics on "),
        emulator, pb2, os.path.join(args.build, "tools"), args.out)
    other_tokens += emulator.counter("token") - tokens_before  # that server's own token
    emit(stream_mem)

    log("token_refresh")
    # Emulators and servers of its own: 3-second tokens against hour-long ones.
    token_result = token_refresh.measure(
        *token_refresh_parts(args.build, args.ghz, args.out, os.path.join(args.out, "dataset.json")),
        DOCS_REPORT)
    emit(token_result)

    log("peer_sdk")
    tokens_before = emulator.counter("token")
    out = subprocess.run([sys.executable, os.path.join(HERE, "peer_sdk.py"), "--graph", emulator.url,
                          "--ca", emulator.ca, "--rollcall", rollcall.address, "--tenant", TENANT,
                          "--client-id", CLIENT_ID, "--user", USER, "--meeting", MEETING,
                          "--report", DOCS_REPORT, "--miss-prefix", "peer-", "--miss-start", "0",
                          "--calls", "200"],
                         env={**os.environ, "AZURE_CLIENT_SECRET": SECRET}, check=True,
                         capture_output=True, text=True)
    peer = json.loads(out.stdout.strip().splitlines()[-1])
    emit(peer)
    other_tokens += emulator.counter("token") - tokens_before

    log("hit_instructions (callgrind)")
    tokens_before = emulator.counter("token")
    instructions = {
        "rollcall": callgrind_hits([binary("service/rollcall_server")], "rollcall listening on ",
                                   rollcall_env, ghz,
                                   args.out, "rollcall"),
        "baseline": callgrind_hits([binary("bench/bench_baseline_server"), "--listen",
                                    "127.0.0.1:0", "--response",
                                    os.path.join(args.out, f"{DOCS_REPORT}.bin")],
                                   "baseline listening on ", None, ghz,
                                   args.out, "baseline"),
    }
    other_tokens += emulator.counter("token") - tokens_before  # the valgrind server's own token
    hit_instr = {"measurement": "hit_instructions", "hits": 3000, "concurrency": 4,
                 "rollcall_per_hit": round(instructions["rollcall"]),
                 "baseline_per_hit": round(instructions["baseline"]),
                 "ratio": round(instructions["rollcall"] / instructions["baseline"], 3)}
    emit(hit_instr)

    tokens = emulator.counter("token") - other_tokens  # Rollcall's own, over the whole run
    for p in Process.running:
        p.stop()

    summary = {
        "hit_small_throughput_ratio": small["throughput_ratio"],
        "hit_small_p50_ratio": small["p50_ratio"],
        "hit_small_p99_ratio": small["p99_ratio"],
        "hit_large_throughput_ratio": large["throughput_ratio"],
        "miss_overhead_p50_ms": misses["small"]["overhead_p50_ms"],
        "json_map_speedup": json_map["speedup"] if json_map else 0.0,
        "json_map_equal": bool(json_map and json_map["equal"]),
        "coalesce_graph_calls": coalesce_calls,
        "token_requests": tokens,
        "memory_per_report_ratio": memory["ratio"],
        "peer_sdk_hit_speedup": peer["hit_speedup"],
        "peer_sdk_miss_ratio": peer["miss_ratio"],
        "hit_instructions_ratio": hit_instr["ratio"],
        "peer_go_hit_small_throughput_ratio": round(small["rollcall_rps"] / small["peer_go_rps"], 3),
        "peer_go_hit_large_throughput_ratio": round(large["rollcall_rps"] / large["peer_go_rps"], 3),
        "peer_go_miss_large_ratio": peer_go_miss["ratio"],
        **token_refresh.summary_of(token_result),
        "stream_memory_ratio": stream_mem["ratio"],
        "stream_memory_checks": stream_mem["checks"],
    }
    met = {k: check(k, v) for k, v in summary.items()}
    # Not targets: which side ran out of CPU in the throughput runs (the median round's), and
    # the figures behind it.
    for name, m in (("hit_small", small), ("hit_large", large)):
        summary[f"{name}_saturated"] = {who: m[f"{who}_saturated"] for who in ("rollcall", "baseline")}
        summary[f"{name}_cpu_pct"] = {
            who: {"server": m[f"{who}_server_cpu_pct"],
                  "load_generator": m[f"{who}_loadgen_cpu_pct"],
                  "server_core_busy": m[f"{who}_server_core_busy_pct"],
                  "load_generator_core_busy": m[f"{who}_loadgen_core_busy_pct"]}
            for who in ("rollcall", "baseline")}
        summary[f"{name}_rps"] = {who: m[f"{who}_rps"] for who in ("rollcall", "baseline")}
        summary[f"{name}_p50_ms"] = {who: m[f"{who}_p50_ms"] for who in ("rollcall", "baseline")}
        summary[f"{name}_cpu_per_request_ratio"] = m.get("cpu_per_request_ratio")
        summary[f"{name}_status_checked"] = m["status_checked"]
    # Not targets: the stream measurement's figures behind its ratio.
    summary["stream_memory"] = {k: stream_mem.get(k) for k in (
        "streams", "stream_bytes", "rss_before", "rss_peak", "growth_bytes", "per_stream_bytes",
        "heap_growth_bytes", "heap_per_stream_bytes", "heap_ratio",
        "heap_left_after_cancel_bytes", "messages_read_max", "messages_per_stream",
        "graph_requests_during")}
    summary["targets_met"] = all(met.values())
    summary["missed"] = [k for k, ok in met.items() if not ok]
    summary["seconds"] = round(time.time() - started)
    emit({"summary": summary})
    with open(os.path.join(args.results, "latest.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return 0 if summary["targets_met"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        for process in Process.running:
            process.stop()
