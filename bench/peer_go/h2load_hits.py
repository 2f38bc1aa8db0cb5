#!/usr/bin/env python3
"""Throughput sanity check of cache hits: h2load (gRPC-framed requests, replies not decoded)
against the Go peer and Rollcall, each pinned to CPU 0 with h2load on CPU 1, alternating round by
round; the docs' example report (small: 32 connections, then 1 connection of 32 streams) and the
10,000-record `large` (4 connections). Prints one JSON object per
report with the median req/s of each and their ratio.

  h2load_hits.py [--build ROLLCALL_BUILD_DIR] [--tools TOOLS_DIR] [--seconds 5] [--rounds 3]
(Python with grpcio, grpcio-tools and bench/requirements.txt: build/tools/bench-venv/bin/python.)
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, HERE)
sys.path.insert(0, BENCH)
import peer_go  # noqa: E402
import peer_sdk  # noqa: E402

from check_equal import (CLIENT_ID, DOCS_REPORT, MEETING, SECRET, TENANT, USER,  # noqa: E402
                         Child)  # (the IDs, the credentials, a child process)


def h2load(target, request, concurrency, seconds, work, streams=1):
    """req/s of `concurrency` connections with `streams` calls in flight on each."""
    body = os.path.join(work, "h2load-request.bin")
    with open(body, "wb") as f:  # the gRPC message frame: no compression, 4-byte length
        f.write(b"\x00" + len(request).to_bytes(4, "big") + request)
    argv = ["h2load", "-c", str(concurrency), "-m", str(streams), "-D", str(seconds),
            "--warm-up-time", "1",
            "-d", body, "-H", "content-type: application/grpc", "-H", "te: trailers",
            f"http://{target}/rollcall.v1.AttendanceReportService/GetAttendanceReport"]
    if shutil.which("taskset"):
        argv = ["taskset", "-c", "1"] + argv
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
    m = re.search(r"finished in .*?, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    assert m and done and done.group(1) == done.group(2), out
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--tools", default=None, help="default: BUILD/tools")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tools = args.tools or os.path.join(args.build, "tools")

    import grpc
    pb2, pb2_grpc = peer_sdk.load_stubs()
    work = tempfile.mkdtemp(prefix="peer-go-h2load-")
    subprocess.run([sys.executable, os.path.join(BENCH, "gen_reports.py"), work,
                    "--large-copies", "0", "--mem", "0", "--miss", "0", "--peer", "0"], check=True)
    emulator = Child([sys.executable, os.path.join(ROOT, "tests/fake_graph/fake_graph.py"),
                      "--listen", "127.0.0.1:0", "--tls-dir", os.path.join(work, "tls"),
                      "--dataset", os.path.join(work, "dataset.json")], "fake_graph listening on ")
    ca = os.path.join(work, "tls", "ca.pem")
    rollcall = Child(["taskset", "-c", "0", os.path.join(args.build, "service", "rollcall_server")],
                     "rollcall listening on ", env={
        "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": SECRET,
        "AZURE_AUTHORITY_HOST": emulator.address + "/",
        "ROLLCALL_GRAPH_BASE_URL": emulator.address, "ROLLCALL_CA_BUNDLE": ca,
        "ROLLCALL_LISTEN": "127.0.0.1:0", "ROLLCALL_PLAINTEXT": "true",
        "ROLLCALL_CACHE_MAX_BYTES": "1GiB",
        "ROLLCALL_LOG_LEVEL": "warn"})
    peer = peer_go.start_peer(work, tools, emulator.address, ca, TENANT, CLIENT_ID, SECRET, cpu=0)
    servers = {"peer_go": peer.address, "rollcall": rollcall.address}
    try:
        # (name, report, connections, streams per connection): 32 connections of one call each;
        # one connection of 32 streams, as ghz in bench.py sends them; the large report.
        for name, report, concurrency, streams in (("hit_small", DOCS_REPORT, 32, 1),
                                                  ("hit_small_1conn", DOCS_REPORT, 1, 32),
                                                  ("hit_large", "large", 4, 1)):
            request = pb2.GetAttendanceReportRequest(user_id=USER, meeting_id=MEETING,
                                                     report_id=report)
            for address in servers.values():  # fill the caches; the second call is a hit
                stub = pb2_grpc.AttendanceReportServiceStub(grpc.insecure_channel(
                    address, [("grpc.max_receive_message_length", -1)]))
                stub.GetAttendanceReport(request, timeout=60)
                assert stub.GetAttendanceReport(request, timeout=60).from_cache
            raw = request.SerializeToString()
            for address in servers.values():  # warm-up
                h2load(address, raw, concurrency, 2, work, streams)
            rps = {who: [] for who in servers}
            for _ in range(args.rounds):
                for who, address in servers.items():
                    rps[who].append(h2load(address, raw, concurrency, args.seconds, work,
                                           streams))
            med = {who: statistics.median(v) for who, v in rps.items()}
            print(json.dumps({
                "measurement": name, "connections": concurrency, "streams": streams,
                "seconds": args.seconds, "rounds": args.rounds,
                "peer_go_rps": round(med["peer_go"]), "rollcall_rps": round(med["rollcall"]),
                "rollcall_over_peer": round(med["rollcall"] / med["peer_go"], 3),
                "rounds_rps": {k: [round(x) for x in v] for k, v in rps.items()}}), flush=True)
    finally:
        peer.stop()
        rollcall.stop()
        emulator.stop()


if __name__ == "__main__":
    main()
