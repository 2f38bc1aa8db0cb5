"""The emulator against Microsoft's own Python SDKs: azure-identity's ClientSecretCredential gets
its token from the emulator's token endpoint (after MSAL reads the tenant's OpenID metadata), and
msgraph-sdk's GraphServiceClient, its base URL set to the emulator, reads the reports and must
parse them into its typed models with the dataset's values. What the SDK cannot parse, Graph would
not have sent: the emulator is wrong (tests/fake_graph/README.md).

Run by run.sh (a venv with requirements.txt); it starts its own emulator on port 0, like
test_fake_graph.py, whose Emulator class it uses.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import unittest
import uuid
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from test_fake_graph import (CLIENT_ID, JOIN_URL, MEETING, MEETING2, REPORT, REPORT2,  # noqa: E402
                             SECRET, TENANT, TOWNHALL, TOWNHALL_REPORT, TOWNHALL_SESSION, USER,
                             USER2, WEBINAR, WEBINAR_REPORT, WEBINAR_SESSION, Emulator, example)

from azure.identity import ClientSecretCredential  # noqa: E402
from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: E402
from kiota_authentication_azure.azure_identity_authentication_provider import (  # noqa: E402
    AzureIdentityAuthenticationProvider)
from msgraph import GraphRequestAdapter, GraphServiceClient  # noqa: E402
from msgraph.generated.models import (  # noqa: E402
    attendance_record, azure_communication_services_user_identity, communications_user_identity,
    identity, meeting_attendance_report, o_data_errors)
from msgraph.generated.users.item.online_meetings.item.attendance_reports.item.\
    meeting_attendance_report_item_request_builder import (  # noqa: E402
        MeetingAttendanceReportItemRequestBuilder)
from msgraph.generated.users.item.online_meetings.online_meetings_request_builder import (  # noqa: E402,E501
    OnlineMeetingsRequestBuilder)

# IsolatedAsyncioTestCase runs its loop in debug mode, which logs every step over 0.1 s; the
# SDK's first call imports its ~1,000 model modules (seconds).
logging.getLogger("asyncio").setLevel(logging.ERROR)

DATASET = json.loads((HERE.parent / "dataset.json").read_text(encoding="utf-8"))
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
PAGE_SIZE = 5  # the emulator's --records-page-size: small, the SDK parses ~10 ms a record


def expand_records() -> RequestConfiguration:
    query = MeetingAttendanceReportItemRequestBuilder \
        .MeetingAttendanceReportItemRequestBuilderGetQueryParameters(expand=["attendanceRecords"])
    return RequestConfiguration(query_parameters=query)


def stored(user: str, meeting: str, report: str) -> dict:
    return DATASET["users"][user]["onlineMeetings"][meeting]["attendanceReports"][report]


def stored_session(kind: str, event: str, session: str, report: str) -> dict:
    return DATASET["virtualEvents"][kind][event]["sessions"][session]["attendanceReports"][report]


DATE_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$")


def date_time(text: str) -> datetime.datetime:
    """Graph's UTC date-time as Python holds it: microseconds, the 7th digit cut off (the SDK's
    parser truncates too)."""
    match = DATE_TIME.match(text)
    assert match, text
    fraction = (match.group(2) or "")[:6].ljust(6, "0")
    return datetime.datetime.fromisoformat(match.group(1)).replace(
        microsecond=int(fraction), tzinfo=datetime.timezone.utc)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


EMULATOR: Optional[Emulator] = None  # one for the module, started by setUpModule
CREDENTIAL: Optional[ClientSecretCredential] = None
TLS_DIR = ""
SAVED_ENV: dict = {}


def setUpModule() -> None:
    global EMULATOR, CREDENTIAL, TLS_DIR
    TLS_DIR = tempfile.mkdtemp(prefix="fake_graph-sdk-tls-")
    EMULATOR = Emulator("--records-page-size", str(PAGE_SIZE), tls_dir=TLS_DIR)
    # Both SDKs trust the emulator's CA the ordinary way: requests (azure-identity, MSAL) reads
    # REQUESTS_CA_BUNDLE, httpx (msgraph-sdk) SSL_CERT_FILE.
    for key in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        SAVED_ENV[key] = os.environ.get(key)
        os.environ[key] = EMULATOR.ca
    CREDENTIAL = make_credential()


def make_credential() -> ClientSecretCredential:
    # The emulator is the authority (HTTPS, as azure-identity requires); MSAL reads its tenant's
    # OpenID metadata there. Instance discovery would ask a Microsoft host: off.
    return ClientSecretCredential(TENANT, CLIENT_ID, SECRET, authority=EMULATOR.url,
                                  disable_instance_discovery=True)


def tearDownModule() -> None:
    for key, value in SAVED_ENV.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    code = EMULATOR.stop()
    shutil.rmtree(TLS_DIR, ignore_errors=True)
    if code != 0:
        raise AssertionError(f"emulator exited {code}: {EMULATOR.stderr()}")


class SdkTestCase(unittest.IsolatedAsyncioTestCase):
    def setUp(self) -> None:
        self.e = EMULATOR
        self.e.control("DELETE", "faults")
        # One client per test: its httpx client belongs to the test's event loop.
        provider = AzureIdentityAuthenticationProvider(CREDENTIAL, scopes=[GRAPH_SCOPE])
        adapter = GraphRequestAdapter(provider)
        adapter.base_url = self.e.url + "/v1.0"
        self.graph = GraphServiceClient(request_adapter=adapter)

    # --- comparing a typed model with the dataset's JSON -----------------------------------

    def assertModel(self, model: Any, expected: dict, where: str = "") -> None:
        """Every property of `expected` is in `model`: as the typed attribute of its snake_case
        name when the SDK's model has one, else in additional_data, as Graph sent it."""
        self.assertIsNotNone(model, where)
        for key, want in expected.items():
            here = f"{where}.{key}"
            if key == "@odata.type":
                self.assertEqual(model.odata_type, want, here)
            elif key == "engagements":
                # beta only: the emulator leaves it out on /v1.0, as Graph's v1.0 schema does
                self.assertNotIn(key, model.additional_data, here)
            elif hasattr(model, snake(key)) and snake(key) != "additional_data":
                self.assertValue(getattr(model, snake(key)), want, here)
            else:
                self.assertIn(key, model.additional_data, f"{here}: neither typed nor kept")
                got = model.additional_data[key]
                if isinstance(got, uuid.UUID):  # kiota turns a GUID-like string into a UUID
                    got = str(got)
                self.assertEqual(got, want, here)

    def assertValue(self, got: Any, want: Any, where: str) -> None:
        if want is None:
            self.assertIsNone(got, where)
        elif isinstance(want, dict):
            self.assertModel(got, want, where)
        elif isinstance(want, list):
            self.assertIsInstance(got, list, where)
            self.assertEqual(len(got), len(want), where)
            for i, (g, w) in enumerate(zip(got, want)):
                self.assertValue(g, w, f"{where}[{i}]")
        elif isinstance(got, datetime.datetime):
            self.assertEqual(got, date_time(want), where)
        elif hasattr(got, "value") and not isinstance(got, (str, int)):  # an enum
            self.assertEqual(got.value, want, where)
        else:
            self.assertEqual(got, want, where)
            self.assertIs(type(got), type(want), where)

    def report_builder(self, user: str, meeting: str, report: str) -> Any:
        return self.graph.users.by_user_id(user).online_meetings.by_online_meeting_id(meeting) \
            .attendance_reports.by_meeting_attendance_report_id(report)

    def session_builder(self, kind: str, event: str, session: str) -> Any:
        events = self.graph.solutions.virtual_events
        if kind == "webinars":
            sessions = events.webinars.by_virtual_event_webinar_id(event).sessions
        else:
            sessions = events.townhalls.by_virtual_event_townhall_id(event).sessions
        return sessions.by_virtual_event_session_id(session).attendance_reports


class TokenTest(SdkTestCase):
    async def test_client_secret_credential_gets_the_emulators_token(self) -> None:
        self.e.control("POST", "reset")
        token = CREDENTIAL.get_token(GRAPH_SCOPE)
        self.assertIn(token.token, self.e.control("GET", "tokens"))
        self.assertGreater(token.expires_on, datetime.datetime.now().timestamp() + 3000)
        kinds = [(r["method"], r["kind"], r["status"]) for r in self.e.control("GET", "requests")]
        self.assertIn(("POST", "token", 200), kinds)


class DocsReportTest(SdkTestCase):
    async def test_docs_report_as_typed_model(self) -> None:
        report = await self.report_builder(USER, MEETING, REPORT).get(
            request_configuration=expand_records())
        self.assertIsInstance(report, meeting_attendance_report.MeetingAttendanceReport)
        expected = stored(USER, MEETING, REPORT)
        # The docs' values, spelled out.
        self.assertEqual(report.id, REPORT)
        self.assertEqual(report.total_participant_count, 1)
        self.assertEqual(report.meeting_start_date_time,
                         datetime.datetime(2021, 10, 5, 4, 38, 23, 945000, datetime.timezone.utc))
        self.assertEqual(report.meeting_end_date_time,
                         datetime.datetime(2021, 10, 5, 4, 43, 49, 770000, datetime.timezone.utc))
        self.assertEqual(len(report.attendance_records), 1)
        record = report.attendance_records[0]
        self.assertIsInstance(record, attendance_record.AttendanceRecord)
        self.assertIsNone(record.id)
        self.assertEqual(record.email_address, "frederick.cormier@contoso.com")
        self.assertEqual(record.role, "Presenter")
        self.assertEqual(record.total_attendance_in_seconds, 1152)
        self.assertIs(type(record.identity), identity.Identity)  # no @odata.type in the docs
        self.assertEqual((record.identity.id, record.identity.display_name),
                         ("dc17674c-81d9-4adb-bfb2-8f6a442e4623", "Frederick Cormier"))
        self.assertEqual(record.identity.additional_data, {"tenantId": None})
        self.assertEqual(
            [(i.join_date_time, i.leave_date_time, i.duration_in_seconds)
             for i in record.attendance_intervals],
            [(date_time(i["joinDateTime"]), date_time(i["leaveDateTime"]), i["durationInSeconds"])
             for i in expected["attendanceRecords"][0]["attendanceIntervals"]])
        self.assertEqual([i.duration_in_seconds for i in record.attendance_intervals],
                         [415, 427, 310])
        # And everything, generically.
        self.assertModel(report, expected, "report")
        self.assertEqual(set(report.additional_data), {"@odata.context"})
        self.assertEqual(report.additional_data["@odata.context"],
                         example("get-meetingattendancereport-v1.0-expand-attendancerecords.json")
                         ["@odata.context"])

    async def test_report_without_expand_has_no_records(self) -> None:
        report = await self.report_builder(USER, MEETING, REPORT).get()
        self.assertIsNone(report.attendance_records)
        expected = {k: v for k, v in stored(USER, MEETING, REPORT).items()
                    if k != "attendanceRecords"}
        self.assertModel(report, expected, "report")

    async def test_every_meeting_report_of_the_dataset(self) -> None:
        for user, meeting, report in [(USER, MEETING, REPORT), (USER, MEETING, REPORT2),
                                      (USER2, MEETING2, "5d1b2a9e-6a4c-4f0e-9b2d-3c7e8f1a2b4c")]:
            with self.subTest(report=report):
                got = await self.report_builder(user, meeting, report).get(
                    request_configuration=expand_records())
                self.assertModel(got, stored(user, meeting, report), report)

    async def test_list_of_reports(self) -> None:
        reports = await self.graph.users.by_user_id(USER).online_meetings \
            .by_online_meeting_id(MEETING).attendance_reports.get()
        docs = example("list-meetingattendancereports-v1.0.json")
        self.assertIsNone(reports.odata_next_link)
        self.assertEqual(len(reports.value), len(docs["value"]))
        for got, want in zip(reports.value, docs["value"]):
            self.assertModel(got, want, want["id"])
            self.assertEqual(got.attendance_records, [])


class VirtualEventTest(SdkTestCase):
    async def test_webinar_session_report(self) -> None:
        builder = self.session_builder("webinars", WEBINAR, WEBINAR_SESSION) \
            .by_meeting_attendance_report_id(WEBINAR_REPORT)
        report = await builder.get(request_configuration=expand_records())
        self.assertModel(report, stored_session("webinars", WEBINAR, WEBINAR_SESSION,
                                                WEBINAR_REPORT), "webinar report")
        docs = example("get-meetingattendancereport-v1.0-webinar-session.json")
        self.assertEqual(report.additional_data["@odata.context"], docs["@odata.context"])
        self.assertEqual(report.attendance_records[0].external_registration_information.referrer,
                         "Fabrikam")

    async def test_town_hall_report_with_typed_identities(self) -> None:
        builder = self.session_builder("townhalls", TOWNHALL, TOWNHALL_SESSION) \
            .by_meeting_attendance_report_id(TOWNHALL_REPORT)
        report = await builder.get(request_configuration=expand_records())
        self.assertModel(report, stored_session("townhalls", TOWNHALL, TOWNHALL_SESSION,
                                                TOWNHALL_REPORT), "town hall report")
        organizer, guest, acs = report.attendance_records
        self.assertIsInstance(organizer.identity,
                              communications_user_identity.CommunicationsUserIdentity)
        self.assertEqual(organizer.identity.tenant_id, "5466a424-aadf-425c-9b24-034ca28d4bdd")
        self.assertIsInstance(
            acs.identity,
            azure_communication_services_user_identity.AzureCommunicationServicesUserIdentity)
        self.assertEqual(acs.identity.azure_communication_services_resource_id,
                         "5d3f7e2a-9c41-4b8e-a6d0-7f1e2c3b4a59")
        self.assertEqual(acs.email_address, "")
        self.assertIsNone(acs.attendance_intervals[0].leave_date_time)  # null in the dataset
        self.assertEqual(acs.additional_data["futureProperty"], {"a": 1})
        self.assertEqual(report.external_event_information[0].external_event_id,
                         "fabrikam-townhall-2024-q1")

    async def test_session_list_of_reports(self) -> None:
        reports = await self.session_builder("webinars", WEBINAR, WEBINAR_SESSION).get()
        self.assertEqual([r.id for r in reports.value], [WEBINAR_REPORT])


class PagingTest(SdkTestCase):
    async def test_records_list_followed_by_next_link(self) -> None:
        count = 2 * PAGE_SIZE + 2
        self.e.control("POST", "reports", {"user": "sdk-user", "meeting": "sdk-meeting",
                                           "report": "sdk-report", "records": count})
        builder = self.report_builder("sdk-user", "sdk-meeting", "sdk-report").attendance_records
        page = await builder.get()
        records, pages = list(page.value), 1
        while page.odata_next_link:
            self.assertTrue(page.odata_next_link.startswith(self.e.url + "/v1.0/"))
            page = await builder.with_url(page.odata_next_link).get()
            records += page.value
            pages += 1
        self.assertEqual(pages, 3)
        self.assertEqual([r.id for r in records], [f"record-{i:05d}" for i in range(count)])
        self.assertEqual(records[0].role, "Organizer")
        self.assertEqual(records[2].total_attendance_in_seconds,
                         sum(i.duration_in_seconds for i in records[2].attendance_intervals))
        self.assertEqual(len(records[2].attendance_intervals), 2)
        # $expand returns the first page, and the records' nextLink is kept as Graph sent it.
        report = await self.report_builder("sdk-user", "sdk-meeting", "sdk-report").get(
            request_configuration=expand_records())
        self.assertEqual(len(report.attendance_records), PAGE_SIZE)
        self.assertTrue(report.additional_data["attendanceRecords@odata.nextLink"]
                        .startswith(self.e.url + "/v1.0/"))


class MeetingLookupTest(SdkTestCase):
    async def test_join_web_url_filter(self) -> None:
        """The SDK encodes the filter's value itself (the join link's %3a goes out as %253a)."""
        docs = example("get-onlinemeeting-by-joinweburl-msteams-docs.json")
        join_url = docs["value"][0]["joinWebUrl"]
        query = OnlineMeetingsRequestBuilder.OnlineMeetingsRequestBuilderGetQueryParameters(
            filter=f"JoinWebUrl eq '{join_url}'")
        self.e.control("POST", "reset")
        meetings = await self.graph.users.by_user_id(USER2).online_meetings.get(
            request_configuration=RequestConfiguration(query_parameters=query))
        self.assertEqual([m.id for m in meetings.value], [MEETING2])
        [sent] = [r["query"] for r in self.e.control("GET", "requests")
                  if r["kind"] == "meeting_lookup"]
        self.assertIn("19%253ameeting_", sent)
        self.assertModel(meetings.value[0], docs["value"][0], "onlineMeeting")
        query.filter = f"JoinWebUrl eq '{JOIN_URL}'"
        meetings = await self.graph.users.by_user_id(USER).online_meetings.get(
            request_configuration=RequestConfiguration(query_parameters=query))
        self.assertEqual([m.id for m in meetings.value], [MEETING])


class ErrorTest(SdkTestCase):
    async def test_not_found_is_an_odata_error(self) -> None:
        with self.assertRaises(o_data_errors.o_data_error.ODataError) as caught:
            await self.report_builder(USER, MEETING, "no-such-report").get()
        error = caught.exception
        self.assertEqual(error.response_status_code, 404)
        self.assertEqual(error.error.code, "NotFound")
        self.assertEqual(error.error.message, "The specified attendance report was not found.")
        self.assertIsNotNone(error.error.inner_error.request_id)
        self.assertIsNotNone(error.error.inner_error.client_request_id)
        self.assertIsInstance(error.error.inner_error.date, datetime.datetime)

    async def test_expired_token_is_an_odata_error(self) -> None:
        """The emulator's 401 (with its WWW-Authenticate) parses; azure-identity keeps using the
        token it cached until it expires by its own clock, as it would against Graph."""
        await self.report_builder(USER, MEETING, REPORT).get()  # a token is cached
        self.e.control("POST", "expire-tokens")
        self.addCleanup(self.forget_tokens)
        with self.assertRaises(o_data_errors.o_data_error.ODataError) as caught:
            await self.report_builder(USER, MEETING, REPORT).get()
        self.assertEqual((caught.exception.response_status_code, caught.exception.error.code),
                         (401, "InvalidAuthenticationToken"))
        self.assertEqual(caught.exception.error.message,
                         "Lifetime validation failed, the token is expired.")

    @staticmethod
    def forget_tokens() -> None:
        global CREDENTIAL
        CREDENTIAL = make_credential()  # the next tests' clients get a new token

    async def test_forbidden_is_an_odata_error(self) -> None:
        self.e.control("POST", "faults", {"kind": "report", "status": 403})
        with self.assertRaises(o_data_errors.o_data_error.ODataError) as caught:
            await self.report_builder(USER, MEETING, REPORT).get()
        self.assertEqual((caught.exception.response_status_code, caught.exception.error.code),
                         (403, "Forbidden"))

    async def test_throttling_is_retried_after_retry_after(self) -> None:
        """The SDK's retry handler reads the emulator's 429 and Retry-After, waits, retries."""
        self.e.control("POST", "reset")
        self.e.control("POST", "faults", {"kind": "report", "count": 1, "status": 429,
                                          "retry_after": "1"})
        started = datetime.datetime.now()
        report = await self.report_builder(USER, MEETING, REPORT).get()
        self.assertEqual(report.id, REPORT)
        self.assertGreaterEqual((datetime.datetime.now() - started).total_seconds(), 1.0)
        statuses = [r["status"] for r in self.e.control("GET", "requests") if r["kind"] == "report"]
        self.assertEqual(statuses, [429, 200])


if __name__ == "__main__":
    unittest.main()
