#!/usr/bin/env python3
"""Tokens that live 3 seconds: does any request wait for one? (issue 11, acceptance 2)

Rollcall's credential refreshes its token in the background, ahead of expiry (at `refresh_in`,
else a few minutes before expiry, and at half-life for a lifetime that short), so that after the
first token no request waits for one. This measures it against a baseline in the same run:

- two emulators, one issuing tokens that live 3 seconds (`--token-lifetime 3`), one issuing
  tokens that live an hour (the baseline);
- against each, a Rollcall server with its cache off (`cache_max_bytes=0`), so that every
  request is a miss that calls Graph with the current token, under a steady load of `--rps`
  (50) requests a second from ghz; then a Rollcall server with its cache on, under a steady load
  of cache hits (200 a second). Both sides at the same time (both servers pinned to the
  server's core, both ghz to the load generator's), in 4 rounds of fresh emulators and servers,
  which side starts first alternating: `--seconds` (60) of misses a side, half of that of
  hits, each round's first second of load left out;
- `token_refresh_miss_p99_ratio` = the p99 of the misses with 3-second tokens / the same with
  hour-long ones, each over the requests of all its rounds (target <= 1.2: a request that
  waited for a token fetch would show at p99 at this rate, about one in 75 requests arriving
  during a refresh), the same for hits, and `token_refresh_requests_per_interval` = token
  requests during the misses' load / (its seconds / 1.5 s): one token request per refresh
  interval (target 0.8 to 1.2);
- every reply must be OK (ghz's status counts), and neither side is near saturation at this
  rate (the load generator's and the server's CPU are reported).

A p99 of hits is a fraction of a millisecond, and the machine is shared. Measured one side
after the other, it moved by a third either way on the same code (0.70 and 1.29); in
alternating rounds, pooled or the worst round left out, an A/A run (hour-long tokens on both
sides, `--aa`) still read up to 1.18 and a real one 0.87 to 1.41 from run to run, while an
idle server refreshing every 1.5 s used no measurable CPU (under 10 ms in 30 s, as much as one
that never refreshed). Hence both sides at once: what disturbs one disturbs the other. With a
fixed order of start the second side read 5% slower at p50 in an A/A run, every round; so the
order alternates, and each round has fresh emulators.

Prints one JSON object ({"measurement": "token_refresh", ...}); bench.py calls measure().

  python bench/token_refresh.py --build build --ghz PATH [--rps 50] [--seconds 60]
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SHORT_LIFETIME = 3   # seconds, as the issue asks
LONG_LIFETIME = 3600
REFRESH_INTERVAL = SHORT_LIFETIME / 2  # never in the first half of a short lifetime
TARGETS = {
    "token_refresh_miss_p99_ratio": ("<=", 1.2),
    "token_refresh_hit_p99_ratio": ("<=", 1.2),
    "token_refresh_requests_per_interval": ("between", (0.8, 1.2)),
    "token_refresh_all_ok": ("==", True),
}


def log(msg):
    print(f"token_refresh: {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(ghz, server, report, rps, seconds):
    """A steady load; the server's CPU over it."""
    before = cpu_seconds(server.proc.pid)
    started = time.monotonic()
    # The first second's requests are sent but not counted: ghz's own start-up (a new
    # process, its connection, its goroutines) showed in the first round's p99.
    result = ghz.run(server.address, report, concurrency=8, duration=f"{seconds + 1:g}s",
                     rps=rps, skip_first=rps)
    elapsed = time.monotonic() - started
    result["load_seconds"] = seconds + 1
    result["server_cpu_pct"] = round(100 * (cpu_seconds(server.proc.pid) - before) / elapsed, 1)
    return result


def quantile(values, q):
    """The q-quantile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


def one_round(make_emulator, lifetimes, order, start_rollcall, ghz, report, env, rps, seconds):
    """For each side, in `order`: a fresh emulator issuing tokens of its lifetime and a fresh
    Rollcall server on it, warmed up; then both servers under `seconds` of load at `rps` at the
    same time (a ghz each, started in `order`). Per side, its latency figures and the token
    requests its server made during the load."""
    emulators, servers = {}, {}
    try:
        for name in order:
            emulators[name] = make_emulator(["--token-lifetime", str(lifetimes[name])])
            servers[name] = start_rollcall(emulators[name], env)
            # The first token is fetched in the background at start; a few calls make sure the
            # server serves (and, cache on, has the report) before the load.
            result = ghz.run(servers[name].address, report, concurrency=1, total=3)
            assert set(result["codes"]) == {"OK"}, result
        before = {name: (emulator.counter("token"), cpu_seconds(emulator.p.proc.pid))
                  for name, emulator in emulators.items()}
        results = {}

        def run(name):
            results[name] = load(ghz, servers[name], report, rps, seconds)

        threads = [threading.Thread(target=run, args=(name,)) for name in order]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name, emulator in emulators.items():
            tokens, cpu = before[name]
            results[name]["tokens"] = emulator.counter("token") - tokens
            results[name]["emulator_cpu_s"] = cpu_seconds(emulator.p.proc.pid) - cpu
        return results
    finally:
        for server in servers.values():
            server.stop()
        for emulator in emulators.values():
            emulator.p.stop()


def measure(make_emulator, start_rollcall, ghz, report, rps=50, seconds=60, rounds=4,
            short_lifetime=SHORT_LIFETIME):
    """make_emulator(extra_args) -> an Emulator; start_rollcall(emulator, env) -> a Process.

    The two sides run at the same time, each its own emulator, server (both on the server's
    core) and ghz (both on the load generator's core), so that whatever else the shared
    machine does falls on both alike: measured one after the other, in alternating rounds, the
    sides' sub-millisecond p99s moved apart by up to a half with no difference between them.
    Each side's figures are taken over the requests of all its rounds together."""
    # short_lifetime=LONG_LIFETIME is an A/A run: both sides alike, the method's own noise.
    out = {"measurement": "token_refresh", "rps": rps, "seconds": seconds, "rounds": rounds,
           "short_lifetime_s": short_lifetime, "long_lifetime_s": LONG_LIFETIME}
    lifetimes = {"long": LONG_LIFETIME, "short": short_lifetime}
    runs = {(name, kind): [] for name in lifetimes for kind in ("miss", "hit")}
    # Misses: the cache off, every request a Graph call with the current token. Hits: the
    # cache on, at four times the rate, for half as long.
    kinds = (("miss", {"ROLLCALL_CACHE_MAX_BYTES": "0"}, rps, seconds / rounds),
             ("hit", {}, rps * 4, seconds / 2 / rounds))
    for kind, env, kind_rps, round_seconds in kinds:
        for r in range(rounds):
            # Which side starts first alternates: with a fixed order an A/A run read the second
            # side's misses 5% slower at p50 in every round.
            order = ("short", "long") if r % 2 == 0 else ("long", "short")
            log(f"{kind} load, both sides at once, round {r + 1} of {rounds}: "
                f"{round_seconds:g}s at {kind_rps}/s each")
            results = one_round(make_emulator, lifetimes, order, start_rollcall, ghz, report, env,
                                kind_rps, round_seconds)
            for name, result in results.items():
                runs[(name, kind)].append(result)
    codes_ok = True
    for (name, kind), results in runs.items():
        codes = {}
        for r in results:
            codes_ok = codes_ok and set(r["codes"]) == {"OK"}
            for code, count in r["codes"].items():
                codes[code] = codes.get(code, 0) + count
            assert len(r["latencies_ms"]) == r["count"], (name, kind)
        # Over the requests of all the side's rounds together: a round's own p99 is only its
        # 8th (misses) or 15th (hits) slowest request.
        pooled = [ms for r in results for ms in r["latencies_ms"]]
        out[f"{name}_{kind}_p50_ms"] = round(quantile(pooled, 0.50), 3)
        out[f"{name}_{kind}_p99_ms"] = round(quantile(pooled, 0.99), 3)
        out[f"{name}_{kind}_p99_ms_rounds"] = [round(r["p99_ms"], 3) for r in results]
        out[f"{name}_{kind}_rps"] = round(statistics.median([r["rps"] for r in results]), 1)
        out[f"{name}_{kind}_count"] = sum(r["count"] for r in results)
        out[f"{name}_{kind}_codes"] = codes
        out[f"{name}_{kind}_server_cpu_pct"] = round(
            statistics.median([r["server_cpu_pct"] for r in results]), 1)
        # The emulator's CPU over the loads; over the hits, token requests are its only work.
        out[f"{name}_{kind}_emulator_cpu_s"] = round(sum(r["emulator_cpu_s"] for r in results), 3)
        out[f"{name}_{kind}_token_requests"] = sum(r["tokens"] for r in results)
        if kind == "miss":
            out[f"{name}_miss_load_seconds"] = sum(r["load_seconds"] for r in results)
    out["miss_p99_ratio"] = round(out["short_miss_p99_ms"] / out["long_miss_p99_ms"], 3)
    out["hit_p99_ratio"] = round(out["short_hit_p99_ms"] / out["long_hit_p99_ms"], 3)
    out["expected_refreshes"] = round(out["short_miss_load_seconds"] / REFRESH_INTERVAL, 1)
    out["requests_per_interval"] = round(
        out["short_miss_token_requests"] / out["expected_refreshes"], 3)
    out["all_ok"] = codes_ok
    return out


def check(name, value):
    op, target = TARGETS[name]
    if op == "<=":
        return value <= target
    if op == "==":
        return value == target
    return target[0] <= value <= target[1]


def summary_of(result):
    return {"token_refresh_miss_p99_ratio": result["miss_p99_ratio"],
            "token_refresh_hit_p99_ratio": result["hit_p99_ratio"],
            "token_refresh_requests_per_interval": result["requests_per_interval"],
            "token_refresh_all_ok": result["all_ok"]}


def main():
    import bench  # the emulator, process and ghz helpers
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(bench.ROOT, "build"))
    ap.add_argument("--ghz", required=True)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--rps", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--aa", action="store_true",
                    help="hour-long tokens on both sides: the ratios' spread with no difference")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    dataset = os.path.join(bench.ROOT, "tests/fake_graph/dataset.json")
    result = measure(*bench.token_refresh_parts(args.build, args.ghz, args.out, dataset),
                     bench.DOCS_REPORT, rps=args.rps, seconds=args.seconds,
                     short_lifetime=LONG_LIFETIME if args.aa else SHORT_LIFETIME)
    print(json.dumps(result), flush=True)
    summary = summary_of(result)
    summary["targets_met"] = all(check(k, v) for k, v in summary.items())
    print(json.dumps({"summary": summary}), flush=True)
    return 0 if summary["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
