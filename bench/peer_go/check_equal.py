#!/usr/bin/env python3
"""Checks that the Go peer answers what Rollcall answers: for the docs' example report and the
10,000-record `large` report (bench/gen_reports.py), in the FULL and BASIC views, the two replies
are equal field by field apart from graph_fetch_time and from_cache; a second call is a hit
(from_cache true) on both and equal to the first. Runs once against an emulator that sends all
records in the report, once against one that pages them (attendanceRecords@odata.nextLink).
Exits 1 on any difference, printing where the replies differ.

  check_equal.py [--build ROLLCALL_BUILD_DIR] [--tools TOOLS_DIR]
(Python with grpcio, grpcio-tools and bench/requirements.txt: build/tools/bench-venv/bin/python.)
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
import peer_go  # noqa: E402
import peer_sdk  # noqa: E402  (load_stubs: Python stubs generated from proto/)

USER = "16664f75-11dc-4870-bec6-38c1aaa81431"
MEETING = "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ"
DOCS_REPORT = "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7"
TENANT, CLIENT_ID, SECRET = "contoso-tenant", "rollcall-demo-client", "rollcall-demo-secret"


class Child:
    """A child whose first stdout line announces its address."""

    def __init__(self, argv, prefix, env=None):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     env={**os.environ, **(env or {})})
        line = self.proc.stdout.readline().strip()
        if not line.startswith(prefix):
            self.stderr.seek(0)
            self.stop()
            sys.exit(f"{argv[0]} did not start: {line!r}\n{self.stderr.read().decode()}")
        self.address = line[len(prefix):]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def differences(a, b, path="reply"):
    """Where two messages differ, field by field (set fields only: presence counts)."""
    out = []
    fields = {f.name: f for f, _ in a.ListFields()} | {f.name: f for f, _ in b.ListFields()}
    for name, field in sorted(fields.items()):
        here = f"{path}.{name}"
        has = lambda m: (len(getattr(m, name)) > 0 if field.is_repeated  # noqa: E731
                         else m.HasField(name) if field.has_presence else True)
        if has(a) != has(b):
            out.append(f"{here}: set in {'Rollcall' if has(a) else 'peer'} only")
            continue
        va, vb = getattr(a, name), getattr(b, name)
        if field.is_repeated:
            if len(va) != len(vb):
                out.append(f"{here}: {len(va)} elements (Rollcall) vs {len(vb)} (peer)")
                continue
            pairs = list(zip(va, vb))
        else:
            pairs = [(va, vb)]
        for i, (x, y) in enumerate(pairs):
            where = f"{here}[{i}]" if field.is_repeated else here
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                if x != y:
                    out.append(f"{where}: map differs")
            elif field.message_type is not None:
                out.extend(differences(x, y, where))
            elif x != y:
                out.append(f"{where}: {x!r} (Rollcall) vs {y!r} (peer)")
        if len(out) > 20:
            break
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--tools", default=None, help="default: BUILD/tools")
    args = ap.parse_args()
    tools = args.tools or os.path.join(args.build, "tools")
    server = os.path.join(args.build, "service", "rollcall_server")
    if not os.path.exists(server):
        sys.exit(f"{server} missing: cmake --build {args.build} --target rollcall_server")

    import grpc
    pb2, pb2_grpc = peer_sdk.load_stubs()
    work = tempfile.mkdtemp(prefix="peer-go-check-")
    subprocess.run([sys.executable, os.path.join(BENCH, "gen_reports.py"), work,
                    "--large-copies", "0", "--mem", "0", "--miss", "0", "--peer", "0"], check=True)
    failures = 0
    for page_size in (0, 1500):
        emulator = Child([sys.executable, os.path.join(ROOT, "tests/fake_graph/fake_graph.py"),
                          "--listen", "127.0.0.1:0", "--tls-dir", os.path.join(work, "tls"),
                          "--dataset", os.path.join(work, "dataset.json"),
                          "--records-page-size", str(page_size)], "fake_graph listening on ")
        ca = os.path.join(work, "tls", "ca.pem")
        rollcall = Child([server], "rollcall listening on ", env={
            "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": SECRET,
            "AZURE_AUTHORITY_HOST": emulator.address + "/",
            "ROLLCALL_GRAPH_BASE_URL": emulator.address, "ROLLCALL_CA_BUNDLE": ca,
            "ROLLCALL_LISTEN": "127.0.0.1:0", "ROLLCALL_PLAINTEXT": "true",
            "ROLLCALL_LOG_LEVEL": "warn"})
        peer = peer_go.start_peer(work, tools, emulator.address, ca, TENANT, CLIENT_ID, SECRET,
                                  cpu=None)
        try:
            options = [("grpc.max_receive_message_length", -1)]
            stubs = {who: pb2_grpc.AttendanceReportServiceStub(grpc.insecure_channel(addr, options))
                     for who, addr in (("rollcall", rollcall.address), ("peer", peer.address))}
            for report in (DOCS_REPORT, "large"):
                for view in (pb2.REPORT_VIEW_FULL, pb2.REPORT_VIEW_BASIC):
                    request = pb2.GetAttendanceReportRequest(
                        user_id=USER, meeting_id=MEETING, report_id=report, view=view)
                    replies = {who: [stub.GetAttendanceReport(request, timeout=60)
                                     for _ in range(2)] for who, stub in stubs.items()}
                    name = f"{report} {pb2.ReportView.Name(view)} page_size={page_size}"
                    problems = []
                    for who, (miss, hit) in replies.items():
                        if miss.from_cache or not hit.from_cache:
                            problems.append(f"{who}: from_cache {miss.from_cache}, {hit.from_cache}"
                                            " (want False, True)")
                        if not miss.HasField("graph_fetch_time"):
                            problems.append(f"{who}: no graph_fetch_time")
                        if hit.SerializeToString() != (
                                miss.SerializeToString() + b"\x18\x01"):
                            problems.append(f"{who}: the hit is not the miss with from_cache")
                        for r in (miss, hit):
                            r.ClearField("graph_fetch_time")
                            r.ClearField("from_cache")
                    a, b = replies["rollcall"][0], replies["peer"][0]
                    problems += differences(a, b)
                    if a != b and not problems:
                        problems.append("messages differ (unknown fields?)")
                    records = len(a.report.attendance_records)
                    same_bytes = a.SerializeToString() == b.SerializeToString()
                    if problems:
                        failures += 1
                        print(f"DIFFERENT {name}:", *problems, sep="\n  ")
                    else:
                        print(f"equal     {name}: {records} records, {a.ByteSize()} bytes"
                              f"{', byte for byte' if same_bytes else ''}")
        finally:
            peer.stop()
            rollcall.stop()
            emulator.stop()
    print("check_equal:", "FAILED" if failures else "the peer's replies equal Rollcall's")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
