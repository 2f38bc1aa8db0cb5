#!/usr/bin/env python3
"""Writes the benchmark's data set for the Graph emulator (tests/fake_graph/README.md layout).

Under the docs' example user and meeting:
- the docs' example report itself (cache hits, small);
- `large`, and `large-0` ... `large-{L-1}`: reports with N_LARGE attendance records shaped like
  Graph's (an identity with tenantId null, one to three intervals with 7-digit fractional seconds);
- `stream-25k`: a report shaped like `large` with N_STREAM records (25,000 by default, about
  5.2 MB serialized), streamed by the slow readers of bench/stream_memory.py;
- `mem-0` ... , `miss-0` ... , `peer-0` ... , `coalesce`: distinct copies of the docs' example
  report, so that every request for one of them is a cache miss the first time.

Also writes the large report's JSON body alone (what Graph sends for it), for the JSON mapping
benchmark. Deterministic: the same arguments give the same bytes.

  gen_reports.py OUT_DIR [--large-records 10000] [--large-copies 5] [--stream-records 25000]
                 [--mem 10000] [--miss 2000] [--peer 600]
"""
import argparse
import copy
import json
import os
import random

USER = "16664f75-11dc-4870-bec6-38c1aaa81431"
MEETING = "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ"
DOCS_REPORT_ID = "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATASET = os.path.join(HERE, "..", "tests", "fake_graph", "dataset.json")


def timestamp(rng: random.Random, base_s: int) -> str:
    s = base_s + rng.randrange(0, 3600)
    frac = rng.randrange(0, 10_000_000)
    h, m, sec = (s // 3600) % 24, (s // 60) % 60, s % 60
    return f"2021-10-05T{h:02d}:{m:02d}:{sec:02d}.{frac:07d}Z"


def large_report(records: int, report_id: str = "large") -> dict:
    rng = random.Random(20211005)
    roles = ["Attendee", "Presenter", "Organizer", "None"]
    out = []
    for i in range(records):
        intervals = []
        for _ in range(rng.randrange(1, 4)):
            duration = rng.randrange(0, 3600)
            intervals.append({
                "joinDateTime": timestamp(rng, 4 * 3600),
                "leaveDateTime": timestamp(rng, 5 * 3600),
                "durationInSeconds": duration,
            })
        out.append({
            "id": f"{i:08x}-518d-4d4b-9f3c-{rng.randrange(16**12):012x}",
            "emailAddress": f"attendee{i}@contoso.com",
            "totalAttendanceInSeconds": sum(x["durationInSeconds"] for x in intervals),
            "role": roles[i % len(roles)],
            "identity": {
                "id": f"{rng.randrange(16**8):08x}-81d9-4adb-bfb2-{rng.randrange(16**12):012x}",
                "displayName": f"Attendee Number {i}",
                "tenantId": None,
            },
            "attendanceIntervals": intervals,
        })
    return {
        "id": report_id,
        "totalParticipantCount": records,
        "meetingStartDateTime": "2021-10-05T04:00:00.000Z",
        "meetingEndDateTime": "2021-10-05T06:00:00.000Z",
        "attendanceRecords": out,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--large-records", type=int, default=10000)
    parser.add_argument("--large-copies", type=int, default=5)
    parser.add_argument("--stream-records", type=int, default=25000)
    parser.add_argument("--mem", type=int, default=10000)
    parser.add_argument("--miss", type=int, default=2000)
    parser.add_argument("--peer", type=int, default=600)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)

    with open(DEFAULT_DATASET, encoding="utf-8") as f:
        docs = json.load(f)["users"][USER]["onlineMeetings"][MEETING]["attendanceReports"][DOCS_REPORT_ID]
    large = large_report(args.large_records)
    reports = {DOCS_REPORT_ID: docs, "large": large}
    for i in range(args.large_copies):
        reports[f"large-{i}"] = dict(large, id=f"large-{i}")
    reports["stream-25k"] = large_report(args.stream_records, "stream-25k")

    def copies(prefix: str, count: int) -> None:
        for i in range(count):
            small = copy.deepcopy(docs)
            small["id"] = f"{prefix}{i}"
            reports[small["id"]] = small

    copies("mem-", args.mem)
    copies("miss-", args.miss)
    copies("peer-", args.peer)
    copies("coalesce", 1)
    reports["coalesce"] = reports.pop("coalesce0")
    reports["coalesce"]["id"] = "coalesce"

    dataset = {"users": {USER: {"onlineMeetings": {MEETING: {"attendanceReports": reports}}}}}
    with open(os.path.join(args.out_dir, "dataset.json"), "w", encoding="utf-8") as f:
        json.dump(dataset, f, separators=(",", ":"))
    with open(os.path.join(args.out_dir, "large_report.json"), "w", encoding="utf-8") as f:
        json.dump(large, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
