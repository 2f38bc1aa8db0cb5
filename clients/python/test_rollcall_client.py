"""clients/python against a live Rollcall and Graph emulator (scripts/with_server): the docs'
report field by field against tests/fake_graph/dataset.json, the errors' google.rpc details,
paging and streaming. Run by test.sh, which generates the code and sets PYTHONPATH.

Environment: ROLLCALL_TARGET, ROLLCALL_GRAPH_URL, ROLLCALL_GRAPH_CA (scripts/with_server), and
ROLLCALL_GRAPH_MAX_ATTEMPTS when the server was started with it (default 4, the server's).
"""

from __future__ import annotations

import datetime
import json
import os
import ssl
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from rollcall.v1 import attendance_pb2
from rollcall_client import RollcallClient, RollcallError

HERE = Path(__file__).resolve().parent
DATASET = HERE.parent.parent / "tests" / "fake_graph" / "dataset.json"
# The Graph docs' example report (README.md, tests/fake_graph/README.md).
USER = "16664f75-11dc-4870-bec6-38c1aaa81431"
MEETING = "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ"
REPORT = "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7"
# The second report of that meeting: two records, the webinar-registration properties.
REPORT2 = "2c2c2454-7613-4d6e-9c7c-4cf7a6cdce89"
DEADLINE = 20.0


@pytest.fixture(scope="module")
def dataset() -> Any:
    return json.loads(DATASET.read_text(encoding="utf-8"))


def stored_report(dataset: Any, report: str, user: str = USER, meeting: str = MEETING) -> Any:
    return dataset["users"][user]["onlineMeetings"][meeting]["attendanceReports"][report]


@pytest.fixture(scope="module")
def client() -> Any:
    with RollcallClient(os.environ["ROLLCALL_TARGET"], timeout=DEADLINE) as c:
        yield c


class Emulator:
    """The Graph emulator's control endpoints (tests/fake_graph/README.md), over verified HTTPS."""

    def __init__(self) -> None:
        self.url = os.environ["ROLLCALL_GRAPH_URL"]
        self.context = ssl.create_default_context(cafile=os.environ["ROLLCALL_GRAPH_CA"])

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self.context, timeout=10) as reply:
            return json.loads(reply.read())


@pytest.fixture(scope="module")
def emulator() -> Emulator:
    return Emulator()


def timestamp(text: str) -> Timestamp:
    value = Timestamp()
    value.FromJsonString(text)  # RFC 3339, up to 9 fraction digits: Graph's 7 are kept exactly
    return value


def check_time(message: Any, field: str, expected: Any) -> None:
    if expected is None:
        assert not message.HasField(field), f"{field}: Graph sent null"
    else:
        assert message.HasField(field), field
        assert getattr(message, field) == timestamp(expected), field


def check_optional(message: Any, field: str, expected: Any) -> None:
    """A proto3 optional field against Graph's property: null or absent means unset."""
    if expected is None:
        assert not message.HasField(field), f"{field}: Graph sent null"
    else:
        assert message.HasField(field), field
        assert getattr(message, field) == expected, field


def check_record(record: attendance_pb2.AttendanceRecord, expected: dict) -> None:
    handled = {"id", "emailAddress", "role", "totalAttendanceInSeconds", "identity",
               "attendanceIntervals", "registrantId", "registrationId",
               "externalRegistrationInformation"}
    assert set(expected) <= handled, f"the test does not check {set(expected) - handled}"
    check_optional(record, "id", expected.get("id"))
    check_optional(record, "email_address", expected.get("emailAddress"))
    check_optional(record, "role", expected.get("role"))
    check_optional(record, "total_attendance_in_seconds", expected.get("totalAttendanceInSeconds"))
    check_optional(record, "registrant_id", expected.get("registrantId"))
    check_optional(record, "registration_id", expected.get("registrationId"))
    external = expected.get("externalRegistrationInformation")
    assert record.HasField("external_registration_information") == (external is not None)
    if external is not None:
        check_optional(record.external_registration_information, "referrer",
                       external.get("referrer"))
        check_optional(record.external_registration_information, "registration_id",
                       external.get("registrationId"))
    identity = expected["identity"]
    assert set(identity) <= {"id", "displayName", "tenantId"}
    check_optional(record.identity, "id", identity.get("id"))
    check_optional(record.identity, "display_name", identity.get("displayName"))
    check_optional(record.identity, "tenant_id", identity.get("tenantId"))
    assert not record.identity.HasField("odata_type")  # the docs' identity has no @odata.type
    intervals = expected["attendanceIntervals"]
    assert len(record.attendance_intervals) == len(intervals)
    for got, want in zip(record.attendance_intervals, intervals):
        check_time(got, "join_date_time", want["joinDateTime"])
        check_time(got, "leave_date_time", want["leaveDateTime"])
        check_optional(got, "duration_in_seconds", want["durationInSeconds"])


def check_report(report: attendance_pb2.MeetingAttendanceReport, expected: dict) -> None:
    assert report.id == expected["id"]
    check_optional(report, "total_participant_count", expected["totalParticipantCount"])
    check_time(report, "meeting_start_date_time", expected["meetingStartDateTime"])
    check_time(report, "meeting_end_date_time", expected["meetingEndDateTime"])
    assert len(report.attendance_records) == len(expected["attendanceRecords"])
    for record, want in zip(report.attendance_records, expected["attendanceRecords"]):
        check_record(record, want)
    assert not report.external_event_information
    assert not report.additional_properties.fields


def test_docs_report_field_by_field(client: RollcallClient, dataset: Any) -> None:
    expected = stored_report(dataset, REPORT)
    reply = client.get_report(USER, MEETING, REPORT)
    check_report(reply.report, expected)
    assert reply.HasField("graph_fetch_time") and not reply.stale
    # The values the docs show, spelled out once, so that a dataset edit cannot hide a mapping bug.
    record = reply.report.attendance_records[0]
    assert (record.identity.display_name, record.email_address, record.role,
            record.total_attendance_in_seconds) == (
        "Frederick Cormier", "frederick.cormier@contoso.com", "Presenter", 1152)
    assert record.attendance_intervals[0].join_date_time.ToJsonString() == \
        "2021-03-16T18:59:52.278218200Z"
    assert [i.duration_in_seconds for i in record.attendance_intervals] == [415, 427, 310]
    # Asked again: served from Rollcall's cache, the same report.
    again = client.get_report(USER, MEETING, REPORT)
    assert again.from_cache and again.report == reply.report


def test_second_report_with_registration_properties(client: RollcallClient, dataset: Any) -> None:
    check_report(client.get_report(USER, MEETING, REPORT2).report, stored_report(dataset, REPORT2))


def test_basic_view_has_no_records(client: RollcallClient, dataset: Any) -> None:
    expected = dict(stored_report(dataset, REPORT), attendanceRecords=[])
    reply = client.get_report(USER, MEETING, REPORT, view=attendance_pb2.REPORT_VIEW_BASIC)
    check_report(reply.report, expected)


def test_list_reports(client: RollcallClient, dataset: Any) -> None:
    stored = dataset["users"][USER]["onlineMeetings"][MEETING]["attendanceReports"]
    reply = client.list_reports(USER, MEETING)
    assert [r.id for r in reply.reports] == list(stored)
    assert all(not r.attendance_records for r in reply.reports)


def test_not_found_is_report_not_found(client: RollcallClient) -> None:
    made_up = f"made-up-{uuid.uuid4()}"
    with pytest.raises(RollcallError) as caught:
        client.get_report(USER, MEETING, made_up)
    error = caught.value
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert (error.reason, error.domain) == ("REPORT_NOT_FOUND", "rollcall.v1")
    assert error.metadata.get("graph_code") == "NotFound", error.metadata
    assert error.metadata.get("http_status") == "404" and error.metadata.get("graph_request_id")
    assert error.retry_delay is None and not error.field_violations


def test_empty_id_is_invalid_id_with_bad_request(client: RollcallClient) -> None:
    with pytest.raises(RollcallError) as caught:
        client.get_report(USER, MEETING, "")
    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.reason, error.domain) == ("INVALID_ID", "rollcall.v1")
    assert error.metadata.get("field") == "report_id", error.metadata
    assert [field for field, _ in error.field_violations] == ["report_id"]
    assert all(description for _, description in error.field_violations)


def test_throttling_is_resource_exhausted_with_retry_info(client: RollcallClient,
                                                          emulator: Emulator) -> None:
    """Graph answers 429 with Retry-After: 1 to every attempt; Rollcall retries as configured
    (graph_max_attempts), then answers RESOURCE_EXHAUSTED with Graph's delay in RetryInfo."""
    attempts = int(os.environ.get("ROLLCALL_GRAPH_MAX_ATTEMPTS", "4"))
    report = f"throttled-{uuid.uuid4()}"
    emulator.call("POST", "/_emulator/faults", {
        "kind": "report", "path_contains": f"/attendanceReports/{report}", "count": 100,
        "status": 429, "retry_after": "1"})
    try:
        with pytest.raises(RollcallError) as caught:
            client.get_report(USER, MEETING, report)
    finally:
        emulator.call("DELETE", "/_emulator/faults")
    error = caught.value
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (error.reason, error.domain) == ("GRAPH_THROTTLED", "rollcall.v1")
    assert error.retry_delay == datetime.timedelta(seconds=1)
    assert error.metadata.get("graph_code") == "TooManyRequests", error.metadata
    reached = [r for r in emulator.call("GET", "/_emulator/requests")
               if report in r["raw_path"]]
    assert len(reached) == attempts and all(r["status"] == 429 for r in reached)


def test_unavailable_is_retried_as_the_service_config_says(client: RollcallClient,
                                                          emulator: Emulator) -> None:
    """Graph answers 503 (Retry-After: 0) to everything for one report: each of the client's
    attempts (clients/service_config.json retries UNAVAILABLE) costs the server's attempts."""
    service_config = json.loads((HERE.parent / "service_config.json").read_text(encoding="utf-8"))
    client_attempts = service_config["methodConfig"][0]["retryPolicy"]["maxAttempts"]
    server_attempts = int(os.environ.get("ROLLCALL_GRAPH_MAX_ATTEMPTS", "4"))
    report = f"unavailable-{uuid.uuid4()}"
    emulator.call("POST", "/_emulator/faults", {
        "kind": "report", "path_contains": f"/attendanceReports/{report}", "count": 1000,
        "status": 503, "retry_after": "0"})
    try:
        with pytest.raises(RollcallError) as caught:
            client.get_report(USER, MEETING, report)
    finally:
        emulator.call("DELETE", "/_emulator/faults")
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    assert caught.value.reason == "GRAPH_UNAVAILABLE"
    reached = [r for r in emulator.call("GET", "/_emulator/requests") if report in r["raw_path"]]
    assert len(reached) == client_attempts * server_attempts


@pytest.fixture(scope="module")
def large_report(emulator: Emulator) -> tuple[str, str, str]:
    """A report of 2,345 generated records, in a meeting of its own."""
    ids = ("python-client-user", "python-client-meeting", f"large-{uuid.uuid4()}")
    emulator.call("POST", "/_emulator/reports", {
        "user": ids[0], "meeting": ids[1], "report": ids[2], "records": 2345})
    return ids


@pytest.mark.parametrize("which,page_size", [("docs", 1), ("docs", 0), ("second", 1),
                                             ("large", 100), ("large", 1000), ("large", 0)])
def test_pages_and_stream_equal_the_report(client: RollcallClient, large_report: Any,
                                           which: str, page_size: int) -> None:
    ids = {"docs": (USER, MEETING, REPORT), "second": (USER, MEETING, REPORT2),
           "large": large_report}[which]
    records = list(client.get_report(*ids).report.attendance_records)
    assert records

    pages = list(client.list_records(*ids, page_size=page_size))
    per_page = page_size or 100  # 0 means the server's default, 100
    assert len(pages) == -(-len(records) // per_page)
    assert all(len(p.attendance_records) == per_page for p in pages[:-1])
    assert all(p.total_records == len(records) for p in pages)
    assert all(p.next_page_token for p in pages[:-1]) and not pages[-1].next_page_token
    assert [r for p in pages for r in p.attendance_records] == records

    messages = list(client.stream_records(*ids))
    assert all(m.total_records == len(records) for m in messages)
    assert [r for m in messages for r in m.attendance_records] == records
    if which == "large":
        assert len(messages) > 1  # about 32 KiB a message


def test_stream_error_is_decoded(client: RollcallClient) -> None:
    with pytest.raises(RollcallError) as caught:
        list(client.stream_records(USER, MEETING, f"made-up-{uuid.uuid4()}"))
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert caught.value.reason == "REPORT_NOT_FOUND"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HERE / "rollcall_client.py"),
                           "--target", os.environ["ROLLCALL_TARGET"], "--user", USER,
                           "--meeting", MEETING, *args],
                          capture_output=True, text=True, timeout=60, env=os.environ)


def test_command_line_prints_the_report() -> None:
    done = run_cli("--report", REPORT, "--deadline", "10")
    assert done.returncode == 0, done.stderr
    assert "report c9b6db1c-d5eb-427d-a5c0-20088d9b22d7: 1 participants" in done.stdout
    assert "Frederick Cormier" in done.stdout and "Presenter" in done.stdout
    assert "2021-03-16T19:20:27.709438200Z .. 2021-03-16T19:25:37.712195600Z (310s)" in done.stdout


def test_command_line_prints_the_error_details() -> None:
    done = run_cli("--report", "")
    assert done.returncode == 1
    assert "error: INVALID_ARGUMENT" in done.stderr
    assert "reason: INVALID_ID (rollcall.v1)" in done.stderr
    assert "field report_id: " in done.stderr
