#!/usr/bin/env python3
"""peer_sdk: what a Python developer gets without Rollcall, against what they get with it.

Direct: the official Microsoft Graph SDK for Python (msgraph-sdk, with azure-identity's
ClientSecretCredential) reads the report from the Graph emulator, as it would from Graph.
Rollcall: a Python gRPC client (stubs generated from proto/ at run time) asks Rollcall, once for
reports it has not cached (a miss: Rollcall calls the emulator) and once for a cached one (a hit).
Each side is timed per call, after warm-up, and reported by its median. One JSON object on stdout.

  peer_sdk.py --graph URL --ca CA.pem --rollcall HOST:PORT --tenant T --client-id C \\
      --user U --meeting M --report R --miss-prefix small- --miss-start 9000 [--calls 200]
  (the client secret comes from AZURE_CLIENT_SECRET)
"""
import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time

import grpc
import httpx
from azure.identity import ClientSecretCredential
from grpc_tools import protoc
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.users.item.online_meetings.item.attendance_reports.item.meeting_attendance_report_item_request_builder import (  # noqa: E501
    MeetingAttendanceReportItemRequestBuilder)
from msgraph_core import GraphClientFactory

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "proto")


def load_stubs():
    """Generates rollcall/v1 Python stubs into a temporary folder and imports them."""
    out = tempfile.mkdtemp(prefix="rollcall-py-")
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={out}",
                      f"--grpc_python_out={out}", os.path.join(PROTO_DIR, "rollcall/v1/attendance.proto")])
    if rc != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, out)
    from rollcall.v1 import attendance_pb2, attendance_pb2_grpc  # noqa: E402
    return attendance_pb2, attendance_pb2_grpc


def timed(fn, calls):
    samples = []
    for i in range(calls):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def sdk_client(args):
    host = args.graph.split("://", 1)[1]
    credential = ClientSecretCredential(
        args.tenant, args.client_id, os.environ["AZURE_CLIENT_SECRET"], authority=host,
        disable_instance_discovery=True, connection_verify=args.ca)
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=["https://graph.microsoft.com/.default"],
        allowed_hosts=[host.split(":")[0]])
    http = GraphClientFactory.create_with_default_middleware(client=httpx.AsyncClient(verify=args.ca))
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{args.graph}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


async def sdk_samples(args):
    client = sdk_client(args)
    config = MeetingAttendanceReportItemRequestBuilder.MeetingAttendanceReportItemRequestBuilderGetRequestConfiguration(
        query_parameters=MeetingAttendanceReportItemRequestBuilder.MeetingAttendanceReportItemRequestBuilderGetQueryParameters(
            expand=["attendanceRecords"]))
    builder = (client.users.by_user_id(args.user).online_meetings
               .by_online_meeting_id(args.meeting).attendance_reports
               .by_meeting_attendance_report_id(args.report))

    async def one():
        report = await builder.get(request_configuration=config)
        assert report.attendance_records and report.attendance_records[0].identity.display_name
        return report

    for _ in range(args.warmup):
        await one()
    samples = []
    for _ in range(args.calls):
        start = time.perf_counter()
        await one()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main():
    p = argparse.ArgumentParser()
    for name in ("graph", "ca", "rollcall", "tenant", "client_id", "user", "meeting", "report",
                 "miss_prefix"):
        p.add_argument("--" + name.replace("_", "-"), dest=name, required=True)
    p.add_argument("--miss-start", type=int, required=True)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    args = p.parse_args()

    pb2, pb2_grpc = load_stubs()
    stub = pb2_grpc.AttendanceReportServiceStub(grpc.insecure_channel(args.rollcall))

    def ask(report_id):
        reply = stub.GetAttendanceReport(pb2.GetAttendanceReportRequest(
            user_id=args.user, meeting_id=args.meeting, report_id=report_id), timeout=30)
        assert reply.report.attendance_records[0].identity.display_name
        return reply

    sdk = asyncio.run(sdk_samples(args))
    for _ in range(args.warmup):
        ask(args.report)
    hits = timed(lambda i: ask(args.report), args.calls)
    assert ask(args.report).from_cache
    misses = timed(lambda i: ask(f"{args.miss_prefix}{args.miss_start + i}"), args.calls)

    sdk_p50, hit_p50, miss_p50 = (statistics.median(x) for x in (sdk, hits, misses))
    print(json.dumps({
        "measurement": "peer_sdk", "calls": args.calls,
        "sdk_direct_p50_ms": round(sdk_p50, 3), "rollcall_hit_p50_ms": round(hit_p50, 3),
        "rollcall_miss_p50_ms": round(miss_p50, 3),
        "hit_speedup": round(sdk_p50 / hit_p50, 2), "miss_ratio": round(miss_p50 / sdk_p50, 3)}))


if __name__ == "__main__":
    main()
