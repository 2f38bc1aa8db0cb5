#!/usr/bin/env python3
"""fake_graph: an emulator of the Microsoft identity platform token endpoint and of the Microsoft
Graph attendance-report paths (online meetings, webinar and town hall sessions, under /v1.0 and
/beta) and the JoinWebUrl lookup of an online meeting, for Rollcall's integration tests and
quick-start demo.

Standard library only (Python 3.11). What it emulates, and how faithfully, is in README.md beside
this file; the facts it follows are in Microsoft's published documentation (token endpoint, Graph
paths, permissions, errors, throttling; "FACTS.md §N" in comments) and the verbatim bodies in
tests/data/graph/.

    fake_graph.py --listen 127.0.0.1:0 [--plaintext] [--tls-dir DIR] [--dataset FILE] ...

The first (and only) line on stdout is "fake_graph listening on https://HOST:PORT" (http:// with
--plaintext). The process serves until SIGTERM or SIGINT, then exits 0.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import contextlib
import copy
import dataclasses
import datetime
import fcntl
import hashlib
import hmac
import http.server
import io
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from typing import Any, Callable, Optional

# ----------------------------------------------------------------------------------------------
# Defaults (also listed in README.md).

DEFAULT_TENANT = "contoso-tenant"
DEFAULT_CLIENT_ID = "rollcall-demo-client"
DEFAULT_CLIENT_SECRET = "rollcall-demo-secret"
DEFAULT_TOKEN_LIFETIME = 3599  # the documented sample's expires_in (FACTS.md §6)
DEFAULT_DATASET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dataset.json")

GRAPH_HOST = "https://graph.microsoft.com"  # used in @odata.context, as Graph itself writes it
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's resource app ID
# The challenge on Graph's 401s.
GRAPH_WWW_AUTHENTICATE = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                          'common/oauth2/authorize", client_id="' + GRAPH_APP_ID + '"')
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The on-behalf-of grant (FACTS.md §6, "OBO"): grant_type, and what requested_token_use says.
OBO_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The delegated permission /me/onlineMeetings/.../attendanceReports needs.
DELEGATED_SCOPE = "OnlineMeetingArtifact.Read.All"

GRAPH_CONTENT_TYPE = "application/json; odata.metadata=minimal"
AAD_CONTENT_TYPE = "application/json; charset=utf-8"
CONTROL_CONTENT_TYPE = "application/json"

MAX_REQUEST_BODY = 256 * 1024 * 1024  # the control endpoint accepts large datasets
REQUEST_LOG_SIZE = 1000
IDLE_TIMEOUT_SECONDS = 300  # a keep-alive connection idle this long is closed
HANDSHAKE_TIMEOUT_SECONDS = 10

COUNTER_NAMES = (
    "total", "token", "token_error", "report", "records", "reports_list", "meeting_lookup",
    "virtual_event", "unauthorized", "forbidden", "not_found", "bad_request",
    "method_not_allowed", "fault", "other", "obo", "obo_error", "me",
)
GRAPH_KINDS = ("report", "records", "reports_list", "meeting_lookup", "graph_other")
COUNTED_KINDS = ("token", "report", "records", "reports_list", "meeting_lookup")
FAULT_KINDS = ("any", "token", "graph") + GRAPH_KINDS
FAULT_ACTIONS = ("status", "delay", "reset", "truncate", "oversize", "html")

# Application permissions (app roles) the emulator knows, and which ones each kind of Graph call
# needs (FACTS.md §2: OnlineMeetingArtifact.Read.All for attendance reports and records; §3:
# OnlineMeetings.Read.All or OnlineMeetings.ReadWrite.All for the JoinWebUrl lookup, which the
# artifact permission does not cover).
ARTIFACT_PERMISSION = "OnlineMeetingArtifact.Read.All"
MEETINGS_READ_PERMISSION = "OnlineMeetings.Read.All"
MEETINGS_READWRITE_PERMISSION = "OnlineMeetings.ReadWrite.All"
KNOWN_PERMISSIONS = (ARTIFACT_PERMISSION, MEETINGS_READ_PERMISSION, MEETINGS_READWRITE_PERMISSION)
DEFAULT_PERMISSIONS = (ARTIFACT_PERMISSION, MEETINGS_READ_PERMISSION)
REQUIRED_PERMISSIONS = {
    "report": {ARTIFACT_PERMISSION},
    "records": {ARTIFACT_PERMISSION},
    "reports_list": {ARTIFACT_PERMISSION},
    "meeting_lookup": {MEETINGS_READ_PERMISSION, MEETINGS_READWRITE_PERMISSION},
}
# Graph's wording for a token without the needed role. FACTS.md names the permissions but has no
# body for this 403; the message is Graph's generic insufficient-privileges text.
FORBIDDEN_MESSAGE = "Insufficient privileges to complete the operation."

# "only returns up to 50 of the most recent reports" (FACTS.md §2, beta list page).
DEFAULT_MAX_REPORTS_LISTED = 50

# Graph's error code and message for injected status faults without a custom body. 429 has its
# own documented shape (tests/data/graph/graph-error-429-throttling.json); the codes below are
# from the code table of Graph's concepts/errors.md.
GRAPH_FAULT_ERRORS = {
    400: ("BadRequest", "Bad request."),
    # Graph's words for a token it will not take because it is for another resource: a fault
    # of this status makes Graph refuse every token, however fresh.
    401: ("InvalidAuthenticationToken", "Access token validation failure. Invalid audience."),
    403: ("Forbidden", "Forbidden."),
    500: ("generalException", "An unspecified error has occurred."),
    502: ("generalException", "An unspecified error has occurred."),
    503: ("serviceNotAvailable",
          "The service is temporarily unavailable for maintenance or is overloaded. You may "
          "repeat the request after a delay, the length of which may be specified in a "
          "Retry-After header."),
    504: ("generalException", "An unspecified error has occurred."),
}

DEFAULT_HTML_BODY = (
    "<!DOCTYPE html>\n<html><head><title>Sign in to continue</title></head>\n"
    "<body><h1>Network access requires sign-in</h1>"
    "<p>This page was served by an intercepting proxy, not by Microsoft Graph.</p></body></html>\n"
)


# ----------------------------------------------------------------------------------------------
# Small helpers.

def graph_date() -> str:
    """innerError.date as Graph writes it: "2020-08-18T12:51:51" (UTC, no zone, no fraction)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def aad_timestamp() -> str:
    """The identity platform's error timestamp: "2016-01-09 02:02:12Z"."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def to_json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def percent_decode(raw: str) -> str:
    """Decodes one raw path segment or query component.

    http.server hands us the request line decoded as latin-1, so any raw (unencoded) non-ASCII
    bytes come back as latin-1 characters; re-encoding restores the bytes before percent-decoding.
    Raises UnicodeDecodeError when the bytes are not UTF-8.
    """
    return urllib.parse.unquote_to_bytes(raw.encode("latin-1")).decode("utf-8")


def encode_segment(value: str) -> str:
    """Percent-encodes an ID as one URL path segment. "." and ".." are encoded too, so that URL
    libraries that remove dot segments (libcurl does) cannot turn the ID into a path step."""
    if value in (".", ".."):
        return "%2E" * len(value)
    return urllib.parse.quote(value, safe="")


def odata_key(value: str) -> str:
    """An OData key literal as it appears in @odata.context: users('...')."""
    return "'" + value.replace("'", "''") + "'"


class HttpError(Exception):
    """Raised while reading a request that cannot be served; closes the connection."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# ----------------------------------------------------------------------------------------------
# Configuration.

@dataclasses.dataclass
class Config:
    tenant: str
    client_id: str
    client_secret: str
    token_lifetime: int
    records_page_size: int
    max_reports_listed: int
    latency_ms: int
    accept_assertions: bool
    verbose: bool
    app_permissions: tuple[str, ...] = DEFAULT_PERMISSIONS


# ----------------------------------------------------------------------------------------------
# Dataset: users -> onlineMeetings -> attendanceReports -> report JSON, and
# virtualEvents -> webinars|townhalls -> sessions -> attendanceReports -> report JSON.

class DatasetError(ValueError):
    pass


# Where reports hang (FACTS.md §2): an online meeting of a user, or a session of a webinar or of
# a town hall. In paths and the dataset these are the collections "users", "webinars" and
# "townhalls"; the owner is the user or the event, the parent the meeting or the session.
SOURCES = ("users", "webinars", "townhalls")
OWNER_NAMES = {"users": "user", "webinars": "webinar", "townhalls": "town hall"}
PARENT_NAMES = {"users": "online meeting", "webinars": "session", "townhalls": "session"}

GENERATED_START = "2024-01-15T09:00:00Z"  # default start of generated attendance intervals
MAX_GENERATED_RECORDS = 10_000_000
GENERATED_NAMESPACE = uuid.UUID("6f0c1d2e-3b4a-5c6d-8e7f-90a1b2c3d4e5")  # for identity ids


def parse_utc(value: str, where: str) -> datetime.datetime:
    """An RFC 3339 UTC time without fraction, as "2024-01-15T09:00:00Z"."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value):
        raise DatasetError(f"{where} must be a UTC time like {GENERATED_START!r}")
    try:
        return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError as e:
        raise DatasetError(f"{where}: {e}") from e


class GeneratedRecords:
    """Attendance records made on demand from their index, for `"attendanceRecords":
    {"_generate": {"count": N}}`: nothing is stored but the spec, so a 25,000-record report costs
    no memory until a page of it is served, and each page is made afresh.

    Record i (0-based) is deterministic: id "<id_prefix><i>" (zero-padded to at least 5 digits, so
    ids sort as the records do), e-mail attendee<i>@contoso.com, display name "Attendee <i>", an
    identity id that is a UUID derived from the id, role Organizer for record 0, Presenter for
    every 500th from 1, else Attendee; one attendance interval, two for every third record (i % 3
    == 2), with 7-digit fractions as Graph writes them (FACTS.md §1.3), within two hours of
    `start`. totalAttendanceInSeconds is the sum of the intervals' durations.
    """

    __slots__ = ("count", "id_prefix", "start", "width")

    def __init__(self, spec: Any, where: str):
        if not isinstance(spec, dict):
            raise DatasetError(f"{where}._generate must be a JSON object")
        unknown = sorted(set(spec) - {"count", "id_prefix", "start"})
        if unknown:
            raise DatasetError(f"{where}._generate: unexpected key {unknown[0]!r} "
                               "(expected count, id_prefix, start)")
        count = spec.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or \
                not 0 <= count <= MAX_GENERATED_RECORDS:
            raise DatasetError(f"{where}._generate.count must be an integer from 0 to "
                               f"{MAX_GENERATED_RECORDS}")
        id_prefix = spec.get("id_prefix", "record-")
        if not isinstance(id_prefix, str):
            raise DatasetError(f"{where}._generate.id_prefix must be a string")
        self.count = count
        self.id_prefix = id_prefix
        self.start = parse_utc(spec.get("start", GENERATED_START), f"{where}._generate.start")
        self.width = max(5, len(str(max(count - 1, 0))))

    def __len__(self) -> int:
        return self.count

    def record(self, i: int) -> dict:
        n = f"{i:0{self.width}d}"
        frac = f"{(i * 7919) % 10_000_000:07d}"

        def interval(join: datetime.datetime, seconds: int) -> dict:
            leave = join + datetime.timedelta(seconds=seconds)
            return {"joinDateTime": f"{join:%Y-%m-%dT%H:%M:%S}.{frac}Z",
                    "leaveDateTime": f"{leave:%Y-%m-%dT%H:%M:%S}.{frac}Z",
                    "durationInSeconds": seconds}

        join = self.start + datetime.timedelta(seconds=i % 900)
        first = 300 + (i * 37) % 2700
        intervals = [interval(join, first)]
        if i % 3 == 2:
            rejoin = join + datetime.timedelta(seconds=first + 60 + i % 240)
            intervals.append(interval(rejoin, 60 + (i * 53) % 1200))
        record_id = self.id_prefix + n
        return {
            "id": record_id,
            "emailAddress": f"attendee{n}@contoso.com",
            "totalAttendanceInSeconds": sum(x["durationInSeconds"] for x in intervals),
            "role": "Organizer" if i == 0 else "Presenter" if i % 500 == 1 else "Attendee",
            "identity": {"id": str(uuid.uuid5(GENERATED_NAMESPACE, record_id)),
                         "displayName": f"Attendee {n}", "tenantId": None},
            "attendanceIntervals": intervals,
        }

    def slice(self, start: int, end: int) -> list[dict]:
        return [self.record(i) for i in range(max(start, 0), min(end, self.count))]


def records_slice(records: Any, start: int, end: int) -> list[dict]:
    """Records [start, end) of a stored report's list or GeneratedRecords."""
    if isinstance(records, GeneratedRecords):
        return records.slice(start, end)
    return records[start:end]


@dataclasses.dataclass
class Container:
    """A meeting or a virtual event session: its reports, newest first, and for a meeting the
    onlineMeeting resource that the JoinWebUrl lookup answers with."""
    reports: dict[str, dict] = dataclasses.field(default_factory=dict)
    online_meeting: Optional[dict] = None


class Dataset:
    """The reports the emulator serves. IDs are JSON keys, so any string is an ID.

    Stored report and meeting dicts are never mutated after insertion (a merge replaces whole
    reports), so a reader may serialize one outside the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (source, owner ID) -> parent ID -> Container
        self._owners: dict[tuple[str, str], dict[str, Container]] = {}

    @staticmethod
    def load(path: str) -> "Dataset":
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path}: not JSON: {e}") from e
        dataset = Dataset()
        dataset.merge(data)
        return dataset

    @staticmethod
    def _check_object(value: Any, where: str, child_keys: Optional[tuple[str, ...]]) -> None:
        if not isinstance(value, dict):
            raise DatasetError(f"{where} must be a JSON object")
        if child_keys is None:
            return
        # Keys starting with "_" are comments; anything else unknown is likely a typo.
        unknown = [k for k in value if k not in child_keys and not k.startswith("_")]
        if unknown:
            expected = " or ".join(repr(k) for k in child_keys)
            raise DatasetError(f"{where}: unexpected key {unknown[0]!r} (expected {expected})")
        for key in child_keys:
            if key in value and not isinstance(value[key], dict):
                raise DatasetError(f"{where}.{key} must be a JSON object keyed by ID")

    @classmethod
    def _parents(cls, data: Any) -> list[tuple[str, str, str, dict, str]]:
        """Checks the structural levels; returns (source, owner, parent, parent object, where)
        for every meeting and session."""
        cls._check_object(data, "dataset", ("users", "virtualEvents"))
        found = []
        for user, user_obj in data.get("users", {}).items():
            where_u = f"users[{user!r}]"
            cls._check_object(user_obj, where_u, ("onlineMeetings",))
            for meeting, meeting_obj in user_obj.get("onlineMeetings", {}).items():
                where_m = f"{where_u}.onlineMeetings[{meeting!r}]"
                cls._check_object(meeting_obj, where_m, ("attendanceReports", "onlineMeeting"))
                found.append(("users", user, meeting, meeting_obj, where_m))
        events = data.get("virtualEvents", {})
        cls._check_object(events, "virtualEvents", ("webinars", "townhalls"))
        for source in SOURCES[1:]:
            for event, event_obj in events.get(source, {}).items():
                where_e = f"virtualEvents.{source}[{event!r}]"
                cls._check_object(event_obj, where_e, ("sessions",))
                for session, session_obj in event_obj.get("sessions", {}).items():
                    where_s = f"{where_e}.sessions[{session!r}]"
                    cls._check_object(session_obj, where_s, ("attendanceReports",))
                    found.append((source, event, session, session_obj, where_s))
        return found

    @staticmethod
    def _prepare_report(report_id: str, report: Any, where: str) -> dict:
        """The report as stored: a deep copy minus @odata.context, with `id` first when missing,
        and a `{"_generate": …}` attendanceRecords turned into GeneratedRecords."""
        if not isinstance(report, dict):
            raise DatasetError(f"{where} must be a JSON object")
        stored = {k: copy.deepcopy(v) for k, v in report.items() if k != "@odata.context"}
        if "id" not in stored:
            stored = {"id": report_id, **stored}
        records = stored.get("attendanceRecords", [])
        if isinstance(records, dict) and set(records) == {"_generate"}:
            stored["attendanceRecords"] = GeneratedRecords(records["_generate"],
                                                           f"{where}.attendanceRecords")
        elif not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise DatasetError(f"{where}.attendanceRecords must be a list of objects or "
                               '{"_generate": {"count": N}}')
        return stored

    @staticmethod
    def _prepare_meeting(meeting: str, value: Any, where: str) -> dict:
        """A meeting's onlineMeeting as stored: `id` first when missing, and equal to the key."""
        if not isinstance(value, dict):
            raise DatasetError(f"{where}.onlineMeeting must be a JSON object")
        stored = copy.deepcopy(value)
        if "id" not in stored:
            stored = {"id": meeting, **stored}
        elif stored["id"] != meeting:
            raise DatasetError(f"{where}.onlineMeeting.id {stored['id']!r} is not the meeting's "
                               "key")
        if not isinstance(stored.get("joinWebUrl", ""), (str, type(None))):
            raise DatasetError(f"{where}.onlineMeeting.joinWebUrl must be a string")
        return stored

    def merge(self, data: Any) -> int:
        """Adds users, meetings, events, sessions and reports. A report with an existing ID
        replaces the old one in its place; new reports go before the existing ones of their
        meeting or session, in the order given, as the newest (lists are newest first). Returns
        the number of reports merged. Validates everything before changing anything."""
        prepared = []
        for source, owner, parent, parent_obj, where in self._parents(data):
            reports = [(report_id, self._prepare_report(
                report_id, report, f"{where}.attendanceReports[{report_id!r}]"))
                for report_id, report in parent_obj.get("attendanceReports", {}).items()]
            meeting = None
            if "onlineMeeting" in parent_obj:
                meeting = self._prepare_meeting(parent, parent_obj["onlineMeeting"], where)
            prepared.append((source, owner, parent, reports, meeting))
        # Users and events may be given with nothing under them.
        owners = [("users", u) for u in data.get("users", {})] + [
            (s, e) for s in SOURCES[1:]
            for e in data.get("virtualEvents", {}).get(s, {})]
        with self._lock:
            for key in owners:
                self._owners.setdefault(key, {})
            for source, owner, parent, reports, meeting in prepared:
                container = self._owners[(source, owner)].setdefault(parent, Container())
                new = {}
                for report_id, report in reports:
                    if report_id in container.reports:
                        container.reports[report_id] = report
                    else:
                        new[report_id] = report
                if new:
                    container.reports = {**new, **container.reports}
                if meeting is not None:
                    container.online_meeting = meeting
        return sum(len(reports) for _, _, _, reports, _ in prepared)

    def _container(self, source: str, owner: str, parent: str
                   ) -> tuple[Optional[Container], str]:
        """The meeting's or session's Container, or (None, "owner"|"parent"). Caller holds the
        lock."""
        parents = self._owners.get((source, owner))
        if parents is None:
            return None, "owner"
        container = parents.get(parent)
        if container is None:
            return None, "parent"
        return container, ""

    def lookup_meeting(self, source: str, owner: str, parent: str
                       ) -> tuple[Optional[list[dict]], str]:
        """Returns (reports of the meeting or session, newest first, "") or (None,
        "owner"|"parent")."""
        with self._lock:
            container, missing = self._container(source, owner, parent)
            return (None, missing) if container is None else (list(container.reports.values()), "")

    def lookup_report(self, source: str, owner: str, parent: str, report_id: str
                      ) -> tuple[Optional[dict], str]:
        """Returns (report, "") or (None, "owner"|"parent"|"report")."""
        with self._lock:
            container, missing = self._container(source, owner, parent)
            if container is None:
                return None, missing
            report = container.reports.get(report_id)
            return (None, "report") if report is None else (report, "")

    def find_online_meetings(self, user: str, path: tuple[str, ...], value: str
                             ) -> Optional[list[dict]]:
        """The user's onlineMeetings whose property at `path` (("joinWebUrl",) or
        ("joinMeetingIdSettings", "joinMeetingId")) equals `value` exactly, in stored order; None
        when the user is unknown."""
        with self._lock:
            parents = self._owners.get(("users", user))
            if parents is None:
                return None
            meetings = [c.online_meeting for c in parents.values() if c.online_meeting]
        found = []
        for meeting in meetings:
            current: Any = meeting
            for key in path:
                current = current.get(key) if isinstance(current, dict) else None
            if isinstance(current, str) and current == value:
                found.append(meeting)
        return found


# ----------------------------------------------------------------------------------------------
# Tokens, counters and the request log.

class TokenStore:
    """Access tokens issued, with their expiry in wall-clock seconds and the application
    permissions (the `roles` claim of a real token) that the app had when each was issued."""

    def __init__(self, permissions: tuple[str, ...] = DEFAULT_PERMISSIONS) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self._roles: dict[str, frozenset[str]] = {}
        self._issued: list[str] = []
        self._users: dict[str, str] = {}  # delegated Graph token -> the user's oid
        self._assertions: collections.deque[str] = collections.deque(maxlen=REQUEST_LOG_SIZE)
        self._permissions = frozenset(permissions)

    def issue(self, lifetime: int) -> str:
        # Opaque, like Graph tokens are to their clients (FACTS.md §7: not to be validated).
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._expiry[token] = time.time() + lifetime
            self._roles[token] = self._permissions
            self._issued.append(token)
        return token

    def issue_delegated(self, lifetime: int, claims: dict) -> str:
        """A Graph token for a user (the on-behalf-of grant's answer): a JWT whose payload holds
        `claims` (oid, tid, scp, ...), with no roles, remembered with the user it is for."""
        now = int(time.time())
        token = user_jwt({**claims, "iat": now, "nbf": now, "exp": now + lifetime})
        with self._lock:
            self._expiry[token] = time.time() + lifetime
            self._roles[token] = frozenset()
            self._users[token] = claims["oid"]
            self._issued.append(token)
        return token

    def user_of(self, token: str) -> str:
        """The user (oid) of a delegated token; "" for an app-only one."""
        with self._lock:
            return self._users.get(token, "")

    def check(self, token: str) -> tuple[str, frozenset[str]]:
        """Returns ("valid"|"expired"|"unknown", the token's permissions)."""
        with self._lock:
            expiry = self._expiry.get(token)
            roles = self._roles.get(token, frozenset())
        if expiry is None:
            return "unknown", roles
        return ("valid" if time.time() < expiry else "expired"), roles

    def permissions(self) -> list[str]:
        with self._lock:
            return sorted(self._permissions)

    def set_permissions(self, permissions: list[str], issued_tokens: bool) -> None:
        """The app's permissions for tokens issued from now on; with issued_tokens, for the
        tokens already issued too (a real token keeps the roles it was issued with)."""
        with self._lock:
            self._permissions = frozenset(permissions)
            if issued_tokens:
                for token in self._roles:
                    self._roles[token] = self._permissions

    def expire_all(self) -> int:
        with self._lock:
            for token in self._expiry:
                self._expiry[token] = 0.0
            return len(self._expiry)

    def issued(self) -> list[str]:
        with self._lock:
            return list(self._issued)

    def remember_assertion(self, assertion: str) -> None:
        with self._lock:
            self._assertions.append(assertion)

    def assertions(self) -> list[str]:
        with self._lock:
            return list(self._assertions)


# ----------------------------------------------------------------------------------------------
# Credentials an assertion is verified against (--client-certificate, --federated-*,
# POST /_emulator/credentials). Python's standard library has no RSA: public keys are extracted
# and signatures verified with the `openssl` command line (one subprocess per assertion).

FEDERATED_AUDIENCE = "api://AzureADTokenExchange"  # FACTS.md §6, workload identity federation
ASSERTION_SKEW_SECONDS = 300  # clock skew allowed on an assertion's nbf and exp
PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.S)


def b64url_decode(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def user_jwt(payload: dict) -> str:
    """A signed-looking JWT (RS256 header, a random signature): the emulator recognizes the
    tokens it issued by remembering them, as Entra ID would by their signature."""
    header = {"typ": "JWT", "alg": "RS256", "kid": "fake-graph-user-key"}
    return ".".join([b64url(json.dumps(header, separators=(",", ":")).encode()),
                     b64url(json.dumps(payload, separators=(",", ":")).encode()),
                     b64url(secrets.token_bytes(64))])


class UserTokens:
    """User tokens the emulator issued for Rollcall's app (POST /_emulator/user-tokens): what a
    caller signed in to Entra ID would send Rollcall, and the on-behalf-of grant's assertion.
    Also which users have not consented to the delegated permission."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[str, dict] = {}
        self._issued: list[str] = []
        self._no_consent: set[str] = set()
        self._no_consent_all = False

    def issue(self, user: str, audience: str, lifetime: int, tenant: str) -> str:
        now = int(time.time())
        claims = {"aud": audience, "iss": f"https://sts.windows.net/{tenant}/", "tid": tenant,
                  "oid": user, "scp": "access_as_user", "iat": now, "nbf": now,
                  "exp": now + lifetime}
        token = user_jwt(claims)
        with self._lock:
            self._claims[token] = claims
            self._issued.append(token)
        return token

    def claims(self, token: str) -> Optional[dict]:
        with self._lock:
            return self._claims.get(token)

    def issued(self) -> list[str]:
        with self._lock:
            return list(self._issued)

    def set_consent(self, granted: bool, users: Optional[list[str]]) -> None:
        with self._lock:
            if users is None:
                self._no_consent_all = not granted
                self._no_consent.clear()
            elif granted:
                self._no_consent -= set(users)
            else:
                self._no_consent |= set(users)

    def consented(self, user: str) -> bool:
        with self._lock:
            return not self._no_consent_all and user not in self._no_consent


def _openssl_stdin(args: list[str], data: bytes) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=30,
                              check=False)
    except FileNotFoundError:
        raise RuntimeError("the openssl command is needed to verify assertions") from None


@dataclasses.dataclass
class Certificate:
    x5t: str          # base64url SHA-1 of the DER (the RS256-era header)
    x5t_s256: str     # base64url SHA-256 of the DER (the documented PS256 header)
    public_key: str   # path of the PEM public key
    subject: str


@dataclasses.dataclass
class FederatedCredential:
    issuer: str
    subject: str
    audience: str
    public_key: str   # path of the PEM public key


class CredentialStore:
    """The app's certificates and federated identity credentials. While none is registered,
    assertions are accepted (--accept-assertions) or refused with AADSTS700027, as before."""

    def __init__(self, key_dir: str, client_secret: str = "") -> None:
        self._lock = threading.Lock()
        self._key_dir = key_dir
        # The app's client secrets: --client-secret, replaced by POST /_emulator/credentials
        # {"secrets": [...]} (a rotation adds the new one, then drops the old one).
        self.secrets: list[str] = [client_secret] if client_secret else []
        self.certificates: list[Certificate] = []
        self.federated: list[FederatedCredential] = []

    def active(self) -> bool:
        with self._lock:
            return bool(self.certificates or self.federated)

    def _key_file(self, pem: str) -> str:
        path = os.path.join(self._key_dir,
                            hashlib.sha256(pem.encode()).hexdigest()[:32] + ".pub.pem")
        if not os.path.exists(path):
            with open(path + ".tmp", "w", encoding="ascii") as f:
                f.write(pem)
            os.replace(path + ".tmp", path)
        return path

    def parse_certificates(self, pem_text: str, where: str) -> list[Certificate]:
        """Every certificate in a PEM text (a file may hold several)."""
        blocks = [m.group(2) for m in PEM_BLOCK.finditer(pem_text) if m.group(1) == "CERTIFICATE"]
        if not blocks:
            raise ValueError(f"{where}: no PEM certificate (-----BEGIN CERTIFICATE-----)")
        certs = []
        for body in blocks:
            try:
                der = base64.b64decode("".join(body.split()), validate=True)
            except binascii.Error:
                raise ValueError(f"{where}: a certificate's base64 is invalid") from None
            pem = ("-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der).decode()
                   + "-----END CERTIFICATE-----\n")
            out = _openssl_stdin(["x509", "-pubkey", "-noout", "-subject"], pem.encode())
            text = out.stdout.decode("utf-8", "replace")
            key = PEM_BLOCK.search(text)
            if out.returncode != 0 or not key:
                raise ValueError(f"{where}: openssl cannot read a certificate: "
                                 f"{out.stderr.decode('utf-8', 'replace').strip()}")
            subject = next((line for line in text.splitlines() if line.startswith("subject")), "")
            certs.append(Certificate(x5t=b64url(hashlib.sha1(der).digest()),
                                     x5t_s256=b64url(hashlib.sha256(der).digest()),
                                     public_key=self._key_file(key.group(0) + "\n"),
                                     subject=subject.partition("=")[2].strip()))
        return certs

    def parse_public_key(self, pem_text: str, where: str) -> str:
        """A PEM public key, or the key of a PEM certificate: the path of its PEM file."""
        match = PEM_BLOCK.search(pem_text)
        if match and match.group(1) == "CERTIFICATE":
            return self.parse_certificates(pem_text, where)[0].public_key
        if not match or match.group(1) != "PUBLIC KEY":
            raise ValueError(f"{where}: expected a PEM public key or certificate")
        out = _openssl_stdin(["pkey", "-pubin", "-pubout"], match.group(0).encode())
        if out.returncode != 0:
            raise ValueError(f"{where}: openssl cannot read the public key: "
                             f"{out.stderr.decode('utf-8', 'replace').strip()}")
        return self._key_file(out.stdout.decode("ascii"))

    def parse_federated(self, spec: Any, where: str) -> FederatedCredential:
        if not isinstance(spec, dict) or set(spec) - {"issuer", "subject", "audience", "key"} \
                or not all(isinstance(spec.get(k), str) and spec.get(k)
                           for k in ("issuer", "subject", "key")) \
                or not isinstance(spec.get("audience", FEDERATED_AUDIENCE), str):
            raise ValueError(f'{where}: give {{"issuer", "subject", "key": "<PEM>", '
                             f'"audience": "{FEDERATED_AUDIENCE}"}}')
        return FederatedCredential(spec["issuer"], spec["subject"],
                                   spec.get("audience", FEDERATED_AUDIENCE),
                                   self.parse_public_key(spec["key"], f"{where}.key"))

    def replace(self, certificates: Optional[list[Certificate]],
                federated: Optional[list[FederatedCredential]],
                secrets: Optional[list[str]] = None) -> None:
        with self._lock:
            if secrets is not None:
                self.secrets = secrets
            if certificates is not None:
                self.certificates = certificates
            if federated is not None:
                self.federated = federated

    def describe(self) -> dict:
        with self._lock:
            return {"secrets": len(self.secrets),
                    "certificates": [{"x5t#S256": c.x5t_s256, "x5t": c.x5t, "subject": c.subject}
                                     for c in self.certificates],
                    "federated": [{"issuer": f.issuer, "subject": f.subject,
                                   "audience": f.audience} for f in self.federated]}

    def secret_ok(self, secret: str) -> bool:
        with self._lock:
            return any(hmac.compare_digest(secret.encode(), s.encode()) for s in self.secrets)

    def certificate(self, thumbprint: str, sha256: bool) -> Optional[Certificate]:
        with self._lock:
            for cert in self.certificates:
                if (cert.x5t_s256 if sha256 else cert.x5t) == thumbprint:
                    return cert
        return None

    def federated_for(self, issuer: str) -> list[FederatedCredential]:
        with self._lock:
            return [f for f in self.federated if f.issuer == issuer]

    def verify(self, public_key: str, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """RS256: RSASSA-PKCS1-v1_5 SHA-256; PS256: RSASSA-PSS SHA-256, MGF1 SHA-256, salt 32
        bytes (RFC 7518 §3.3, §3.5)."""
        fd, sig_path = tempfile.mkstemp(dir=self._key_dir, suffix=".sig")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(signature)
            args = ["dgst", "-sha256", "-verify", public_key, "-signature", sig_path]
            if alg == "PS256":
                args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
            return _openssl_stdin(args, signing_input).returncode == 0
        finally:
            with contextlib.suppress(OSError):
                os.unlink(sig_path)


class Stats:
    """Counters and the last REQUEST_LOG_SIZE requests, under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters = dict.fromkeys(COUNTER_NAMES, 0)
        self._log: collections.deque[dict] = collections.deque(maxlen=REQUEST_LOG_SIZE)

    def record(self, entry: dict, counters: list[str]) -> None:
        with self._lock:
            for name in counters:
                self._counters[name] += 1
            self._log.append(entry)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def requests(self) -> list[dict]:
        with self._lock:
            return list(self._log)

    def reset(self) -> None:
        with self._lock:
            self._counters = dict.fromkeys(COUNTER_NAMES, 0)
            self._log.clear()


# ----------------------------------------------------------------------------------------------
# Fault injection.

@dataclasses.dataclass
class Fault:
    id: int
    action: str
    kind: str = "any"
    path_contains: str = ""
    count: Optional[int] = 1  # remaining; None when the fault is time-bounded
    until: Optional[float] = None  # monotonic deadline when time-bounded
    seconds: Optional[float] = None
    status: Optional[int] = None
    retry_after: Optional[str] = None
    body: Optional[str] = None
    content_type: Optional[str] = None
    headers: dict = dataclasses.field(default_factory=dict)
    delay_ms: int = 0
    size_bytes: int = 100 * 1024 * 1024
    chunked: bool = False
    truncate_bytes: Optional[int] = None

    def describe(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("until")
        return d


class FaultInjector:
    """Faults registered by POST /_emulator/faults, matched in registration order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Signalled whenever the set of active faults changes (added, cleared, taken); a fault
        # that runs out of time is noticed by the waiter at its `until`.
        self._changed = threading.Condition(self._lock)
        self._faults: list[Fault] = []
        self._next_id = 1

    @staticmethod
    def parse(spec: Any, fault_id: int) -> Fault:
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object")
        known = {f.name for f in dataclasses.fields(Fault)} - {"id", "until"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"unknown fault field {unknown[0]!r}")
        action = spec.get("action", "status")
        if action not in FAULT_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(FAULT_ACTIONS)}")
        kind = spec.get("kind", "any")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        fault = Fault(id=fault_id, action=action, kind=kind)
        fault.path_contains = str(spec.get("path_contains", ""))
        if "seconds" in spec and "count" in spec:
            raise ValueError("give count or seconds, not both")
        if "seconds" in spec:
            seconds = float(spec["seconds"])
            if seconds <= 0:
                raise ValueError("seconds must be > 0")
            fault.count, fault.seconds = None, seconds
            fault.until = time.monotonic() + seconds
        else:
            count = int(spec.get("count", 1))
            if count < 1:
                raise ValueError("count must be >= 1")
            fault.count = count
        if "status" in spec:
            fault.status = int(spec["status"])
            if not 100 <= fault.status <= 599:
                raise ValueError("status must be an HTTP status code")
        elif action == "status":
            fault.status = 429
        if "retry_after" in spec:
            fault.retry_after = str(spec["retry_after"])
        for name in ("body", "content_type"):
            if name in spec:
                if not isinstance(spec[name], str):
                    raise ValueError(f"{name} must be a string")
                setattr(fault, name, spec[name])
        if "headers" in spec:
            headers = spec["headers"]
            if not isinstance(headers, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
                raise ValueError("headers must be an object of strings")
            fault.headers = headers
        fault.delay_ms = int(spec.get("delay_ms", 0))
        fault.size_bytes = int(spec.get("size_bytes", fault.size_bytes))
        fault.chunked = bool(spec.get("chunked", False))
        if "truncate_bytes" in spec:
            fault.truncate_bytes = int(spec["truncate_bytes"])
        if fault.delay_ms < 0 or fault.size_bytes < 0 or (fault.truncate_bytes or 0) < 0:
            raise ValueError("delay_ms, size_bytes and truncate_bytes must be >= 0")
        return fault

    def add(self, specs: list) -> list[Fault]:
        with self._lock:
            faults = []
            for spec in specs:
                faults.append(self.parse(spec, self._next_id + len(faults)))
            self._next_id += len(faults)
            self._faults.extend(faults)
            self._changed.notify_all()
            return faults

    def clear(self) -> int:
        with self._lock:
            n = len(self._faults)
            self._faults.clear()
            self._changed.notify_all()
            return n

    def active(self) -> list[dict]:
        with self._lock:
            self._expire_locked()
            return [f.describe() for f in self._faults]

    def wait_active(self, count: int, timeout: float) -> tuple[bool, int]:
        """Blocks until exactly `count` faults are active or `timeout` seconds pass; returns
        whether that count was reached, and the count at return."""
        give_up = time.monotonic() + timeout
        with self._lock:
            while True:
                self._expire_locked()
                if len(self._faults) == count:
                    return True, count
                now = time.monotonic()
                if now >= give_up:
                    return False, len(self._faults)
                wake = min([give_up] + [f.until for f in self._faults if f.until is not None])
                self._changed.wait(max(0.0, wake - now))

    def _expire_locked(self) -> None:
        now = time.monotonic()
        self._faults = [f for f in self._faults
                        if (f.count is None or f.count > 0) and (f.until is None or now < f.until)]

    def take(self, kind: str, raw_target: str) -> Optional[Fault]:
        """The first active fault that matches this request, consuming one of its count."""
        with self._lock:
            self._expire_locked()
            for fault in self._faults:
                if fault.kind == "any" or fault.kind == kind or (
                        fault.kind == "graph" and kind in GRAPH_KINDS):
                    if fault.path_contains in raw_target:
                        if fault.count is not None:
                            fault.count -= 1
                            self._changed.notify_all()
                        return fault
        return None


# ----------------------------------------------------------------------------------------------
# TLS: a test CA and a server certificate made with the openssl command line.

OPENSSL_CONFIG = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = fake_graph
[ v3_ca ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def _openssl(*args: str, cwd: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def ensure_tls_files(tls_dir: str) -> None:
    """Makes ca.pem/ca.key and server.pem/server.key in tls_dir unless ca.pem, server.pem and
    server.key are all there. An existing CA (ca.pem + ca.key) is reused to sign a new leaf.
    A lock file serializes emulators that share one directory."""
    def path(name: str) -> str:
        return os.path.join(tls_dir, name)

    os.makedirs(tls_dir, exist_ok=True)
    with open(path(".fake_graph.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if all(os.path.exists(path(n)) for n in ("ca.pem", "server.pem", "server.key")):
            return
        with tempfile.TemporaryDirectory(dir=tls_dir, prefix=".gen-") as work:
            with open(os.path.join(work, "openssl.cnf"), "w") as f:
                f.write(OPENSSL_CONFIG)
            ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            reuse_ca = os.path.exists(path("ca.pem")) and os.path.exists(path("ca.key"))
            if reuse_ca:
                shutil.copy(path("ca.pem"), os.path.join(work, "ca.pem"))
                shutil.copy(path("ca.key"), os.path.join(work, "ca.key"))
            else:
                _openssl("req", "-x509", "-new", *ec, "-keyout", "ca.key", "-out", "ca.pem",
                         "-days", "3650", "-sha256", "-subj", "/CN=Rollcall fake_graph test CA",
                         "-config", "openssl.cnf", "-extensions", "v3_ca", cwd=work)
            _openssl("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
                     "-subj", "/CN=localhost", "-config", "openssl.cnf", cwd=work)
            _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                     "-set_serial", "0x" + secrets.token_hex(16), "-days", "825", "-sha256",
                     "-extfile", "openssl.cnf", "-extensions", "v3_leaf", "-out", "server.pem",
                     cwd=work)
            names = ["server.key", "server.pem"] + ([] if reuse_ca else ["ca.key", "ca.pem"])
            for name in names:
                if name.endswith(".key"):
                    os.chmod(os.path.join(work, name), 0o600)
                os.replace(os.path.join(work, name), path(name))


def make_ssl_context(tls_dir: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(os.path.join(tls_dir, "server.pem"),
                            os.path.join(tls_dir, "server.key"))
    context.set_alpn_protocols(["http/1.1"])  # libcurl offers h2 too; we speak HTTP/1.1 only
    return context


# ----------------------------------------------------------------------------------------------
# Responses.

@dataclasses.dataclass
class Response:
    status: int
    body: bytes
    content_type: str
    headers: list = dataclasses.field(default_factory=list)
    close: bool = False


@dataclasses.dataclass
class Route:
    """What a request path names. `kind` is decided by the path alone (never by the method)."""
    kind: str  # token | report | records | reports_list | meeting_lookup | graph_other | control
    #            | discovery | other
    version: str = "v1.0"
    tenant: str = ""
    source: str = "users"  # users | webinars | townhalls (SOURCES)
    user: str = ""  # the user, or the webinar or town hall (event) ID
    meeting: str = ""  # the online meeting, or the event's session ID
    report: str = ""
    me: bool = False  # /me/... (delegated only)
    bad_segment: str = ""  # for graph_other: the segment Graph would complain about


def classify(segments: list[str]) -> Route:
    """Routes decoded path segments (without the leading empty one)."""
    lower = [s.lower() for s in segments]
    if segments and segments[0] == "_emulator":
        return Route("control")
    if len(segments) == 4 and lower[1:] == ["oauth2", "v2.0", "token"]:
        return Route("token", tenant=segments[0])
    if len(segments) == 4 and lower[1:] == ["v2.0", ".well-known", "openid-configuration"]:
        return Route("discovery", tenant=segments[0])
    if not segments or lower[0] not in ("v1.0", "beta"):
        return Route("other")
    # Both API versions serve every path, each under its own @odata.context (FACTS.md §2).
    version, rest = lower[0], segments[1:]
    me = bool(rest) and rest[0].lower() == "me"
    if me:
        # /me/onlineMeetings[/{m}/attendanceReports[/{r}[/attendanceRecords]]]
        rest = ["users", ""] + rest[1:]
    if rest and rest[0].lower() == "solutions":
        # solutions/virtualEvents/{webinars|townhalls}/{e}/sessions/{s}/attendanceReports
        #     [/{r}[/attendanceRecords]]
        source = rest[2].lower() if len(rest) > 2 else ""
        # Segment 2 must be webinars or townhalls: anything else fails as "webinars" would.
        literals = {1: "virtualevents", 2: source if source in SOURCES[1:] else "webinars",
                    4: "sessions", 6: "attendancereports", 8: "attendancerecords"}
        kinds = {7: "reports_list", 8: "report", 9: "records"}
        owner, parent, report = 3, 5, 7
    else:
        # users/{u}/onlineMeetings[/{m}/attendanceReports[/{r}[/attendanceRecords]]]
        source = "users"
        literals = {0: "users", 2: "onlinemeetings", 4: "attendancereports",
                    6: "attendancerecords"}
        kinds = {3: "meeting_lookup", 5: "reports_list", 6: "report", 7: "records"}
        owner, parent, report = 1, 3, 5
    for i, literal in literals.items():
        if i < len(rest) and rest[i].lower() != literal:
            return Route("graph_other", version=version, bad_segment=rest[i])
    if len(rest) not in kinds:
        return Route("graph_other", version=version, bad_segment=rest[-1] if rest else version)
    return Route(kinds[len(rest)], version=version, source=source, user=rest[owner],
                 meeting=rest[parent] if len(rest) > parent else "",
                 report=rest[report] if len(rest) > report else "", me=me)


def parse_permissions(value: Any, where: str) -> list[str]:
    """A list of application permission names, each one of KNOWN_PERMISSIONS (a typo would
    otherwise silently deny)."""
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValueError(f"{where} must be a list of permission names")
    unknown = [p for p in value if p not in KNOWN_PERMISSIONS]
    if unknown:
        raise ValueError(f"{where}: unknown permission {unknown[0]!r} (known: "
                         f"{', '.join(KNOWN_PERMISSIONS)})")
    return sorted(set(value))


# The onlineMeeting properties the JoinWebUrl lookup can filter on (FACTS.md §3), by their
# lower-cased OData name (Graph matches property names case-insensitively).
FILTER_PROPERTIES = {
    "joinweburl": ("joinWebUrl",),
    "joinmeetingidsettings/joinmeetingid": ("joinMeetingIdSettings", "joinMeetingId"),
}


def parse_eq_filter(text: str) -> tuple[str, str]:
    """Parses a decoded $filter of the form `<property> eq '<OData string literal>'`, where a
    quote inside the literal is written twice (OData ABNF: SQUOTE-in-string). Returns the
    property as written and the literal's value; raises ValueError with what is wrong."""
    match = re.match(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)[ \t]+eq[ \t]+'",
                     text)
    if not match:
        raise ValueError("expected <property> eq '<value>'")
    out, i = [], match.end()
    while True:
        j = text.find("'", i)
        if j < 0:
            raise ValueError("the string literal has no closing quote")
        out.append(text[i:j])
        if text.startswith("''", j):
            out.append("'")
            i = j + 2
            continue
        i = j + 1
        break
    if text[i:].strip(" \t"):
        raise ValueError(f"unexpected text after the string literal: {text[i:i + 40]!r}")
    return match.group(1), "".join(out)


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    """Splits a raw query string; keys and values percent-decoded ('+' is a space)."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((percent_decode(key.replace("+", " ")),
                      percent_decode(value.replace("+", " "))))
    return pairs


def generated_report(spec: Any) -> tuple[dict, dict]:
    """For POST /_emulator/reports: the dataset layout of one report with generated records,
    and the answer ({"report", "records", "path"}). Raises ValueError on a bad spec."""
    if not isinstance(spec, dict):
        raise ValueError("the body must be a JSON object")
    known = {"user", "meeting", "webinar", "townhall", "session", "report", "records",
             "properties", "id_prefix", "start"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
    where = [k for k in ("user", "webinar", "townhall") if k in spec]
    if len(where) != 1:
        raise ValueError('give exactly one of "user" (with "meeting"), "webinar" or "townhall" '
                         '(with "session")')
    parent_key, other_key = ("meeting", "session") if where[0] == "user" else ("session", "meeting")
    if other_key in spec:
        raise ValueError(f'"{where[0]}" goes with "{parent_key}", not "{other_key}"')
    for key in (where[0], parent_key, "report"):
        if not isinstance(spec.get(key), str):
            raise ValueError(f'"{key}" must be a string')
    count = spec.get("records")
    if not isinstance(count, int) or isinstance(count, bool):
        raise ValueError('"records" must be the number of records to generate')
    properties = spec.get("properties", {})
    if not isinstance(properties, dict) or "attendanceRecords" in properties:
        raise ValueError('"properties" must be an object of report properties (records are '
                         'generated)')
    generate = {"count": count}
    for key in ("id_prefix", "start"):
        if key in spec:
            generate[key] = spec[key]
    start = parse_utc(spec.get("start", GENERATED_START), "start")
    report = {"id": spec["report"], "totalParticipantCount": count,
              "meetingStartDateTime": f"{start:%Y-%m-%dT%H:%M:%SZ}",
              "meetingEndDateTime": f"{start + datetime.timedelta(hours=2):%Y-%m-%dT%H:%M:%SZ}",
              **properties, "attendanceRecords": {"_generate": generate}}
    reports = {"attendanceReports": {spec["report"]: report}}
    owner, parent = spec[where[0]], spec[parent_key]
    if where[0] == "user":
        layout = {"users": {owner: {"onlineMeetings": {parent: reports}}}}
        path = f"/users/{encode_segment(owner)}/onlineMeetings/{encode_segment(parent)}"
    else:
        source = where[0] + "s"
        layout = {"virtualEvents": {source: {owner: {"sessions": {parent: reports}}}}}
        path = (f"/solutions/virtualEvents/{source}/{encode_segment(owner)}/sessions/"
                f"{encode_segment(parent)}")
    path += f"/attendanceReports/{encode_segment(spec['report'])}"
    return layout, {"report": spec["report"], "records": count, "path": path}


# ----------------------------------------------------------------------------------------------
# The request handler.

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    timeout = IDLE_TIMEOUT_SECONDS
    wbufsize = 64 * 1024  # headers and a small body leave in one write
    server: "FakeGraphServer"

    def version_string(self) -> str:
        return "fake_graph"

    # --- connection setup ------------------------------------------------------------------

    def setup(self) -> None:
        self._tls = False
        if self.server.ssl_context is not None:
            # The handshake runs here, in the connection's own thread, so a slow or silent client
            # cannot stall the accept loop.
            self.request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
            self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
            self._tls = True
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        if self._tls:
            # The server closes the socket it accepted, which wrap_socket detached; close ours.
            with contextlib.suppress(OSError):
                self.connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.config.verbose:
            sys.stderr.write("fake_graph: %s - %s\n" % (self.address_string(), format % args))

    # Every method, including ones http.server has never heard of, goes to _dispatch; the routes
    # answer 405 for methods they do not serve.
    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    # --- the request ------------------------------------------------------------------------

    def _dispatch(self) -> None:
        self._headers_done = False
        self.request_id = str(uuid.uuid4())
        self.client_request_id = self.headers.get("client-request-id") or str(uuid.uuid4())
        raw_target = self.path
        if raw_target.startswith(("http://", "https://")):  # absolute-form request target
            parts = urllib.parse.urlsplit(raw_target)
            raw_target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        raw_path, _, raw_query = raw_target.partition("?")
        raw_path, _, _ = raw_path.partition("#")
        self.entry = {
            "method": self.command,
            "raw_path": raw_path.encode("latin-1").decode("utf-8", "backslashreplace"),
            "path_segments": None,
            "query": raw_query.encode("latin-1").decode("utf-8", "backslashreplace"),
            "kind": "other",
            "status": None,
            "fault": None,
            "client_request_id": self.headers.get("client-request-id"),
            "traceparent": self.headers.get("traceparent"),
        }
        self.extra_counters: list[str] = []
        route = Route("other")
        try:
            # Split the raw path on '/' first, then decode each segment, so an ID holding an
            # encoded '/' stays one segment.
            try:
                segments = [percent_decode(s) for s in raw_path.split("/")[1:]]
                self.entry["path_segments"] = segments
                route = classify(segments)
                self.entry["kind"] = route.kind
                query = parse_query(raw_query)
            except UnicodeDecodeError:
                self._read_body()
                self.extra_counters.append("bad_request")
                self._send(self._graph_error(400, "BadRequest",
                                             "The request URI is not valid UTF-8 once decoded."))
                return
            body = self._read_body()
            if route.kind == "control":
                self._control(segments[1:], body)
                return
            self._serve(route, query, body, raw_target)
        except HttpError as e:
            if not self._headers_done:
                response = self._graph_error(e.status, "BadRequest", e.message)
                response.close = True  # the body's framing is unknown: do not read on
                self.extra_counters.append("bad_request")
                self._send(response, record=route.kind != "control")
        except (OSError, ssl.SSLError):
            self.close_connection = True
        except Exception as e:  # a bug in the emulator: answer 500 and keep serving
            sys.stderr.write(f"fake_graph: internal error on {self.command} {self.path!r}: {e!r}\n")
            if not self._headers_done:
                with contextlib.suppress(OSError):
                    self._send(self._graph_error(500, "generalException", f"fake_graph bug: {e!r}"))
            self.close_connection = True

    def _read_body(self) -> bytes:
        """Reads the request body (Content-Length or chunked) so the connection stays in step."""
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise HttpError(501, f"Transfer-Encoding {encoding!r} is not supported.")
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise HttpError(400, "Malformed chunked request body.") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_REQUEST_BODY:
                    raise HttpError(413, "Request body too large.")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise HttpError(400, "Invalid Content-Length.")
        n = int(length)
        if n > MAX_REQUEST_BODY:
            raise HttpError(413, "Request body too large.")
        body = self.rfile.read(n)
        if len(body) != n:
            raise ConnectionResetError("client closed the connection mid-body")
        return body

    def _serve(self, route: Route, query: list[tuple[str, str]], body: bytes,
               raw_target: str) -> None:
        """Token endpoint and Graph paths: faults first, then the emulated service."""
        kind = route.kind
        self.extra_counters.append(kind if kind in COUNTED_KINDS else "other")
        is_graph = kind in GRAPH_KINDS
        if is_graph and route.source != "users":
            self.extra_counters.append("virtual_event")
        fault = self.server.faults.take(kind, raw_target)
        if fault is not None:
            self.entry["fault"] = fault.action
            self.extra_counters.append("fault")
            if fault.delay_ms:
                time.sleep(fault.delay_ms / 1000)
        if is_graph and self.server.config.latency_ms:
            time.sleep(self.server.config.latency_ms / 1000)

        if fault is None or fault.action == "delay":
            self._send(self._emulate(route, query, body))
        elif fault.action == "status":
            self._send(self._fault_status_response(fault, kind))
        elif fault.action == "html":
            html = fault.body if fault.body is not None else DEFAULT_HTML_BODY
            self._send(Response(fault.status or 200, html.encode("utf-8"),
                                fault.content_type or "text/html; charset=utf-8",
                                list(fault.headers.items())))
        elif fault.action == "reset":
            self._reset_connection()
        elif fault.action == "truncate":
            self._send_truncated(self._emulate(route, query, body), fault)
        elif fault.action == "oversize":
            self._send_oversize(fault, kind)

    def _emulate(self, route: Route, query: list[tuple[str, str]], body: bytes) -> Response:
        if route.kind == "token":
            if self.command != "POST":
                self.extra_counters.append("method_not_allowed")
                return self._aad_error(405, "invalid_request", 900561,
                                       "The endpoint only accepts POST requests. Received a "
                                       f"{self.command} request.")
            return self._token(route.tenant, body)
        if route.kind == "discovery":
            return self._openid_configuration(route.tenant)
        if route.kind in GRAPH_KINDS:
            return self._graph(route, query)
        self.extra_counters.append("not_found")
        return self._graph_error(404, "NotFound", "fake_graph does not serve this path.")

    # --- token endpoint (FACTS.md §6) ------------------------------------------------------

    def _openid_configuration(self, tenant: str) -> Response:
        """The tenant's OpenID Connect metadata, which MSAL-based clients (the official Graph
        SDKs' azure-identity among them) read before their first token request."""
        if tenant != self.server.config.tenant:
            return self._aad_error(400, "invalid_tenant", 90002,
                                   f"Tenant '{tenant}' not found. Check to make sure you have the "
                                   "correct tenant ID and are signing into the correct cloud.")
        base = f"{self._own_base()}/{tenant}"
        return Response(200, to_json_bytes({
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "issuer": f"{base}/v2.0",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "tenant_region_scope": "WW",
        }), "application/json; charset=utf-8")

    def _aad_error(self, status: int, error: str, code: int, description: str) -> Response:
        trace_id = str(uuid.uuid4())
        correlation_id = self.headers.get("client-request-id") or str(uuid.uuid4())
        timestamp = aad_timestamp()
        body = {
            "error": error,
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\n"
                                 f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}",
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        }
        return Response(status, to_json_bytes(body), AAD_CONTENT_TYPE, self._aad_headers(trace_id))

    def _aad_headers(self, trace_id: str) -> list:
        headers = [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"),
                   ("x-ms-request-id", trace_id)]
        if self.headers.get("client-request-id"):
            headers.append(("client-request-id", self.headers["client-request-id"]))
        return headers

    def _graph_resources(self) -> set[str]:
        """Resources whose /.default scope is a Graph scope: Graph's URL and app ID, and this
        emulator's own origins (a client may derive the scope from its Graph base URL)."""
        scheme = "http" if self.server.ssl_context is None else "https"
        port = self.server.server_address[1]
        return {GRAPH_HOST, GRAPH_APP_ID, f"{scheme}://127.0.0.1:{port}",
                f"{scheme}://localhost:{port}", f"{scheme}://[::1]:{port}"}

    def _assertion_audiences(self, tenant: str) -> list[str]:
        """The token endpoint URLs a client pointed at this emulator builds from its authority
        host: this emulator's origin as reached (Host header) and its loopback names."""
        scheme = "http" if self.server.ssl_context is None else "https"
        port = self.server.server_address[1]
        origins = [self._own_base()] + [f"{scheme}://{h}:{port}"
                                        for h in ("127.0.0.1", "localhost", "[::1]")]
        return list(dict.fromkeys(f"{o}/{tenant}/oauth2/v2.0/token" for o in origins))

    def _check_assertion(self, tenant: str, assertion: str) -> Optional[Response]:
        """Verifies a jwt-bearer client_assertion against the registered certificates and
        federated identity credentials (FACTS.md §6). None when it is good, else the refusal."""
        cfg = self.server.config
        creds = self.server.credentials

        def invalid(status: int, error: str, what: str) -> Response:
            return self._aad_error(status, error, 50013, f"InvalidAssertion: {what}")

        parts = assertion.split(".")
        if len(parts) != 3:
            return invalid(400, "invalid_request",
                           f"the client_assertion is not a JWS compact JWT (header.payload."
                           f"signature): it has {len(parts)} dot-separated parts.")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            return invalid(400, "invalid_request", "the client_assertion's header, payload or "
                           "signature is not base64url, or the header or payload is not JSON.")
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return invalid(400, "invalid_request",
                           "the client_assertion's header and payload must be JSON objects.")
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        alg = header.get("alg")
        has_thumbprint = "x5t#S256" in header or "x5t" in header
        is_certificate = has_thumbprint or (isinstance(claims.get("iss"), str) and
                                            claims["iss"].casefold() == cfg.client_id.casefold())
        allowed = ("PS256", "RS256") if is_certificate else ("RS256",)
        if alg not in allowed:
            return invalid(400, "invalid_request",
                           f"the client_assertion's alg {json.dumps(alg)} is not supported; "
                           f"use {' or '.join(allowed)}.")

        def time_check() -> Optional[Response]:
            now = time.time()
            for name in ("exp", "nbf"):
                value = claims.get(name)
                if (value is None and name == "nbf") or (
                        isinstance(value, (int, float)) and not isinstance(value, bool)):
                    continue
                return invalid(401, "invalid_client",
                               f"the assertion's '{name}' claim is "
                               f"{'missing' if value is None else 'not a number'}.")
            exp, nbf = claims["exp"], claims.get("nbf")
            if now > exp + ASSERTION_SKEW_SECONDS or \
                    (nbf is not None and now < nbf - ASSERTION_SKEW_SECONDS):
                def utc(t: float) -> str:
                    return datetime.datetime.fromtimestamp(
                        t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                return self._aad_error(
                    401, "invalid_client", 500133,
                    f"Assertion is not within its valid time range. Current time: {utc(now)}, "
                    f"assertion valid from {utc(nbf) if nbf is not None else '(no nbf)'} to "
                    f"{utc(exp)} (allowed clock skew {ASSERTION_SKEW_SECONDS} s).")
            return None

        if not is_certificate:
            # A federated token (workload identity): issued by another identity provider.
            issuer = claims.get("iss")
            records = creds.federated_for(issuer) if isinstance(issuer, str) else []
            if not records:
                # AADSTS700211/70021 are not in Microsoft's docs (FACTS.md §6 [NOT FOUND]): the
                # numbers and wording are those users report from Entra ID.
                return self._aad_error(400, "invalid_request", 700211,
                                       "No matching federated identity record found for "
                                       f"presented assertion issuer '{issuer}'. Please check "
                                       "your federated identity credential Subject, Audience "
                                       "and Issuer against the presented assertion.")
            if not any(creds.verify(key, alg, signing_input, signature)
                       for key in dict.fromkeys(r.public_key for r in records)):
                return self._aad_error(401, "invalid_client", 700027,
                                       "Client assertion failed signature validation. [Reason - "
                                       "the federated token's signature does not verify with "
                                       f"the key of issuer '{issuer}'.]")
            refusal = time_check()
            if refusal:
                return refusal
            aud = claims.get("aud")
            auds = aud if isinstance(aud, list) else [aud]
            if not any(r.subject == claims.get("sub") and r.audience in auds for r in records):
                return self._aad_error(400, "invalid_request", 70021,
                                       "No matching federated identity record found for "
                                       f"presented assertion. Assertion Issuer: '{issuer}'. "
                                       f"Assertion Subject: '{claims.get('sub')}'. Assertion "
                                       f"Audience: '{','.join(str(a) for a in auds)}'.")
            return None

        # A certificate credential (client assertion signed with the app's certificate key).
        sha256 = "x5t#S256" in header
        thumbprint = header.get("x5t#S256" if sha256 else "x5t")
        cert = creds.certificate(thumbprint, sha256) if isinstance(thumbprint, str) else None
        if cert is None:
            try:
                shown = b64url_decode(thumbprint).hex().upper() if thumbprint else ""
            except (ValueError, TypeError):
                shown = str(thumbprint)
            # Entra ID's observed wording for an unregistered key (not in FACTS.md).
            return self._aad_error(401, "invalid_client", 700027,
                                   "Client assertion contains an invalid signature. [Reason - "
                                   "The key was not found., Thumbprint of key used by client: "
                                   f"'{shown}', Please visit the Azure Portal, Graph Explorer or "
                                   "directly use MS Graph to see configured keys for app Id "
                                   f"'{cfg.client_id}'.]")
        if not creds.verify(cert.public_key, alg, signing_input, signature):
            return self._aad_error(401, "invalid_client", 700027,
                                   "Client assertion failed signature validation.")
        audiences = self._assertion_audiences(tenant)
        aud = claims.get("aud")
        if not isinstance(aud, str) or aud.casefold() not in {a.casefold() for a in audiences}:
            return invalid(401, "invalid_client",
                           f"the assertion's audience {json.dumps(aud)} is not this token "
                           f"endpoint; expected '{audiences[0]}'.")
        for name in ("iss", "sub"):
            value = claims.get(name)
            if not isinstance(value, str) or value.casefold() != cfg.client_id.casefold():
                return invalid(401, "invalid_client",
                               f"the assertion's '{name}' claim {json.dumps(value)} must be the "
                               f"client ID '{cfg.client_id}'.")
        return time_check()

    def _token(self, tenant: str, body: bytes) -> Response:
        cfg = self.server.config
        form: dict[str, str] = {}
        for key, value in urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                                 keep_blank_values=True):
            form.setdefault(key, value)
        # RFC 6749 §2.3.1 Basic authentication of the client is supported too (FACTS.md §6).
        auth = self.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                user, _, password = base64.b64decode(auth[6:].strip(), validate=True) \
                    .decode("utf-8").partition(":")
                form.setdefault("client_id", urllib.parse.unquote_plus(user))
                form.setdefault("client_secret", urllib.parse.unquote_plus(password))
            except (binascii.Error, UnicodeDecodeError):
                return self._aad_error(400, "invalid_request", 900144,
                                       "The Authorization header is not valid Basic credentials.")

        def missing(name: str) -> Response:
            return self._aad_error(400, "invalid_request", 900144,
                                   "The request body must contain the following parameter: "
                                   f"'{name}'.")

        grant_type = form.get("grant_type")
        if not grant_type:
            return missing("grant_type")
        if grant_type not in ("client_credentials", OBO_GRANT):
            return self._aad_error(400, "unsupported_grant_type", 70003,
                                   f"The app requested an unsupported grant type '{grant_type}'.")
        if tenant.casefold() != cfg.tenant.casefold():
            return self._aad_error(400, "invalid_request", 90002,
                                   f"Tenant '{tenant}' not found. Check to make sure you have "
                                   "the correct tenant ID and are signing into the correct cloud. "
                                   "Check with your subscription administrator, this may happen if "
                                   "there are no active subscriptions for the tenant.")
        client_id = form.get("client_id")
        if not client_id:
            return missing("client_id")
        if client_id.casefold() != cfg.client_id.casefold():
            return self._aad_error(400, "unauthorized_client", 700016,
                                   f"Application with identifier '{client_id}' was not found in "
                                   f"the directory '{cfg.tenant}'. This can happen if the "
                                   "application has not been installed by the administrator of "
                                   "the tenant or consented to by any user in the tenant. You may "
                                   "have sent your authentication request to the wrong tenant.")
        secret = form.get("client_secret")
        assertion = form.get("client_assertion")
        if secret and assertion:
            return self._aad_error(400, "invalid_request", 90014,
                                   "The request must contain only one of the following parameters: "
                                   "'client_assertion' or 'client_secret'.")
        if assertion:
            assertion_type = form.get("client_assertion_type")
            if not assertion_type:
                return missing("client_assertion_type")
            if assertion_type != JWT_BEARER:
                return self._aad_error(400, "invalid_request", 900144,
                                       f"The client_assertion_type must be '{JWT_BEARER}'.")
            self.server.tokens.remember_assertion(assertion)
            if self.server.credentials.active():
                refusal = self._check_assertion(tenant, assertion)
                if refusal:
                    return refusal
            elif not cfg.accept_assertions:
                return self._aad_error(401, "invalid_client", 700027,
                                       "Client assertion failed signature validation.")
        elif not secret:
            return self._aad_error(401, "invalid_client", 7000218,
                                   "The request body must contain the following parameter: "
                                   "'client_assertion' or 'client_secret'.")
        elif not self.server.credentials.secret_ok(secret):
            return self._aad_error(401, "invalid_client", 7000215,
                                   "Invalid client secret provided. Ensure the secret being sent "
                                   "in the request is the client secret value, not the client "
                                   f"secret ID, for a secret added to app '{cfg.client_id}'.")
        scope = form.get("scope", "")
        scopes = scope.split()
        if not scopes:
            return missing("scope")
        if grant_type == OBO_GRANT:
            return self._on_behalf_of(tenant, form, scopes, missing)
        resource = scopes[0][: -len("/.default")] if scopes[0].endswith("/.default") else None
        if len(scopes) != 1 or resource is None or \
                resource.rstrip("/").lower() not in {r.lower() for r in self._graph_resources()}:
            return self._aad_error(400, "invalid_scope", 70011,
                                   "The provided value for the input parameter 'scope' is not "
                                   f"valid. The scope {scope} is not valid.")
        lifetime = cfg.token_lifetime
        token = self.server.tokens.issue(lifetime)
        body_out = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                    "access_token": token}
        self.entry["token_issued"] = True
        return Response(200, to_json_bytes(body_out), AAD_CONTENT_TYPE,
                        self._aad_headers(str(uuid.uuid4())))

    def _on_behalf_of(self, tenant: str, form: dict[str, str], scopes: list[str],
                      missing: Callable[[str], Response]) -> Response:
        """The on-behalf-of grant, once the client is authenticated: the user's token (the
        assertion) must be one this emulator issued (POST /_emulator/user-tokens), for this app
        (aud = client ID or api://client ID), unexpired, and the user (or an admin) must have
        consented to the delegated permission. Answers a Graph token for that user."""
        cfg = self.server.config

        def refuse(error: str, code: int, description: str) -> Response:
            self.extra_counters.append("obo_error")
            return self._aad_error(400, error, code, description)

        if form.get("requested_token_use") != "on_behalf_of":
            return missing("requested_token_use")
        assertion = form.get("assertion")
        if not assertion:
            return missing("assertion")
        for scope in scopes:
            resource, _, permission = scope.rpartition("/")
            if resource.rstrip("/").lower() not in {r.lower() for r in self._graph_resources()} \
                    or permission not in (DELEGATED_SCOPE, ".default"):
                return refuse("invalid_scope", 70011,
                              "The provided value for the input parameter 'scope' is not valid. "
                              f"The scope {' '.join(scopes)} is not valid.")
        claims = self.server.user_tokens.claims(assertion)
        if claims is None:
            return refuse("invalid_grant", 50013,
                          "Assertion failed signature validation. [Reason - The key was not "
                          "found.]")
        if claims["aud"] not in (cfg.client_id, f"api://{cfg.client_id}"):
            return refuse("invalid_grant", 50013,
                          "Assertion failed signature validation. [Reason - Assertion audience "
                          "does not match the Client app presenting the assertion. Audience in "
                          f"assertion: {claims['aud']}.]")
        if claims["tid"].casefold() != tenant.casefold():
            return refuse("invalid_grant", 50013,
                          "Assertion failed signature validation. [Reason - The assertion was "
                          "issued for another tenant.]")
        if time.time() >= claims["exp"]:
            return refuse("invalid_grant", 500133,
                          "Assertion is not within its valid time range. Ensure that the access "
                          "token is not expired before using it for user assertion, or request a "
                          "new token.")
        if not self.server.user_tokens.consented(claims["oid"]):
            return refuse("invalid_grant", 65001,
                          "The user or administrator has not consented to use the application "
                          f"with ID '{cfg.client_id}' named 'rollcall'. Send an interactive "
                          "authorization request for this user and resource.")
        lifetime = min(cfg.token_lifetime, max(1, int(claims["exp"] - time.time())))
        token = self.server.tokens.issue_delegated(lifetime, {
            "aud": GRAPH_HOST, "iss": f"https://sts.windows.net/{tenant}/", "tid": tenant,
            "oid": claims["oid"], "appid": cfg.client_id, "scp": DELEGATED_SCOPE})
        self.extra_counters.append("obo")
        self.entry["token_issued"] = True
        body_out = {"token_type": "Bearer", "scope": " ".join(scopes), "expires_in": lifetime,
                    "ext_expires_in": lifetime, "access_token": token}
        return Response(200, to_json_bytes(body_out), AAD_CONTENT_TYPE,
                        self._aad_headers(str(uuid.uuid4())))

    # --- Graph (FACTS.md §1, §2, §4) -------------------------------------------------------

    def _graph_error(self, status: int, code: str, message: str, headers: Optional[list] = None
                     ) -> Response:
        body = {"error": {"code": code, "message": message, "innerError": {
            "date": graph_date(), "request-id": self.request_id,
            "client-request-id": self.client_request_id}}}
        return Response(status, to_json_bytes(body), GRAPH_CONTENT_TYPE, headers or [])

    def _graph_ok(self, body: dict) -> Response:
        return Response(200, to_json_bytes(body), GRAPH_CONTENT_TYPE)

    @staticmethod
    def _parent_path(route: Route, encode: Callable[[str], str]) -> list[str]:
        """The path from the version to the meeting or session, each ID passed to `encode`."""
        if route.source == "users":
            return ["users", encode(route.user), "onlineMeetings", encode(route.meeting)]
        return ["solutions", "virtualEvents", route.source, encode(route.user), "sessions",
                encode(route.meeting)]

    def _context_base(self, route: Route) -> str:
        """…/$metadata#users('{u}')/onlineMeetings('{m}')/attendanceReports, or
        …#solutions/virtualEvents/webinars('{e}')/sessions('{s}')/attendanceReports as in the
        webinar session examples (tests/data/graph/*-webinar-session.json)."""
        if route.source == "users":
            path = f"users({odata_key(route.user)})/onlineMeetings({odata_key(route.meeting)})"
        else:
            path = (f"solutions/virtualEvents/{route.source}({odata_key(route.user)})"
                    f"/sessions({odata_key(route.meeting)})")
        return f"{GRAPH_HOST}/{route.version}/$metadata#{path}/attendanceReports"

    def _own_base(self) -> str:
        """scheme://host:port that this client used to reach us, for @odata.nextLink."""
        scheme = "http" if self.server.ssl_context is None else "https"
        host = self.headers.get("Host", "")
        if not re.fullmatch(r"[A-Za-z0-9.\-]+(:\d+)?|\[[0-9A-Fa-f:.]+\](:\d+)?", host):
            host = self.server.announced_hostport
        return f"{scheme}://{host}"

    def _records_link(self, route: Route, offset: int) -> str:
        token = base64.urlsafe_b64encode(f"offset={offset}".encode()).decode().rstrip("=")
        parent = "/".join(self._parent_path(route, encode_segment))
        return (f"{self._own_base()}/{route.version}/{parent}/attendanceReports/"
                f"{encode_segment(route.report)}/attendanceRecords?$skiptoken={token}")

    @staticmethod
    def _parse_skiptoken(token: str) -> Optional[int]:
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        match = re.fullmatch(r"offset=(\d+)", text)
        return int(match.group(1)) if match else None

    @staticmethod
    def _records_json(records: Any, start: int, end: int, version: str) -> bytes:
        """Records [start, end) as a JSON array. On v1.0 the beta-only `engagements` is left out
        (FACTS.md §1.2); everything else, unknown properties included, is served as stored."""
        page = records_slice(records, start, end)
        if version != "beta":
            page = [{k: v for k, v in r.items() if k != "engagements"} if "engagements" in r
                    else r for r in page]
        return to_json_bytes(page)

    @staticmethod
    def _with_array(head: dict, key: str, array: bytes, link_key: str = "",
                    link: str = "") -> bytes:
        """`head` as a JSON object, then "key": array, then "link_key": link when given; the
        array is already serialized, so a large page is encoded once."""
        out = to_json_bytes(head)[:-1] + b"," + to_json_bytes(key) + b":" + array
        if link:
            out += b"," + to_json_bytes(link_key) + b":" + to_json_bytes(link)
        return out + b"}"

    def _graph(self, route: Route, query: list[tuple[str, str]]) -> Response:
        if self.command != "GET":
            self.extra_counters.append("method_not_allowed")
            return self._graph_error(405, "BadRequest",
                                     f"The HTTP method '{self.command}' is not allowed for this "
                                     "resource. fake_graph serves GET only.",
                                     headers=[("Allow", "GET")])
        # Authentication comes before everything else, as on Graph.
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.strip().partition(" ")
        token = token.strip()
        roles: frozenset[str] = frozenset()
        if scheme.lower() != "bearer" or not token:
            message = "Access token is empty."
        else:
            state, roles = self.server.tokens.check(token)
            message = {"valid": "", "expired": "Lifetime validation failed, the token is expired.",
                       "unknown": "Access token validation failure."}[state]
        if message:
            self.extra_counters.append("unauthorized")
            return self._graph_error(401, "InvalidAuthenticationToken", message,
                                     headers=[("WWW-Authenticate", GRAPH_WWW_AUTHENTICATE)])

        options: dict[str, str] = {}
        for key, value in query:
            if key.startswith("$"):
                name = key.lower()
                if name in options:
                    self.extra_counters.append("bad_request")
                    return self._graph_error(400, "BadRequest",
                                             f"Query option '{key}' was specified more than once, "
                                             "but it must be specified at most once.")
                options[name] = value
        if route.kind == "graph_other":
            self.extra_counters.append("bad_request")
            return self._graph_error(400, "BadRequest",
                                     f"Resource not found for the segment '{route.bad_segment}'.")
        user = self.server.tokens.user_of(token)
        if route.me:
            if not user:
                self.extra_counters.append("bad_request")
                return self._graph_error(
                    400, "BadRequest",
                    "/me request is only valid with delegated authentication flow.")
            # A delegated token reads as its user: /me is that user.
            self.extra_counters.append("me")
            route.user = user
        elif user and route.kind != "graph_other":
            # A user's token reads only the user's own meetings (through /me or their own ID).
            if route.source != "users" or route.user.casefold() != user.casefold():
                self.extra_counters.append("forbidden")
                return self._graph_error(403, "Forbidden", FORBIDDEN_MESSAGE)
        # The token's application permissions (FACTS.md §2, §3), before any lookup; a user's
        # token carries the delegated permission instead (its scp claim).
        if not user and not roles & REQUIRED_PERMISSIONS[route.kind]:
            self.extra_counters.append("forbidden")
            return self._graph_error(403, "Forbidden", FORBIDDEN_MESSAGE)

        if route.kind == "meeting_lookup":
            return self._meeting_lookup(route, options)

        expand = False
        if "$expand" in options and route.kind == "report":
            for item in options["$expand"].split(","):
                if item.strip().lower() != "attendancerecords":
                    self.extra_counters.append("bad_request")
                    return self._graph_error(400, "BadRequest",
                                             "Parsing OData Select and Expand failed: Could not "
                                             f"find a property named '{item.strip()}' on type "
                                             "'microsoft.graph.meetingAttendanceReport'.")
            expand = True
        page_size = self.server.config.records_page_size

        if route.kind == "reports_list":
            reports, missing = self.server.dataset.lookup_meeting(route.source, route.user,
                                                                  route.meeting)
            if reports is None:
                return self._not_found(route, missing)
            # Newest first as stored, at most max_reports_listed of them, no paging (FACTS.md
            # §2 "only returns up to 50 of the most recent reports"; no nextLink documented).
            cap = self.server.config.max_reports_listed
            if cap:
                reports = reports[:cap]
            # Records are always [] in list responses (FACTS.md §1.1, list page TIP).
            value = [{**{k: v for k, v in r.items() if k != "attendanceRecords"},
                      "attendanceRecords": []} for r in reports]
            return self._graph_ok({"@odata.context": self._context_base(route), "value": value})

        report, missing = self.server.dataset.lookup_report(route.source, route.user,
                                                            route.meeting, route.report)
        if report is None:
            return self._not_found(route, missing)
        records = report.get("attendanceRecords", [])
        total = len(records)
        context = f"{self._context_base(route)}({odata_key(route.report)})"

        if route.kind == "report":
            # Without $expand the navigation property is omitted entirely (FACTS.md §1.1).
            head = {"@odata.context": context}
            head.update((k, v) for k, v in report.items() if k != "attendanceRecords")
            if not expand:
                return self._graph_ok(head)
            end = min(page_size, total) if page_size else total
            link = self._records_link(route, end) if end < total else ""
            return Response(200, self._with_array(
                head, "attendanceRecords", self._records_json(records, 0, end, route.version),
                "attendanceRecords@odata.nextLink", link), GRAPH_CONTENT_TYPE)

        # route.kind == "records"
        offset = 0
        if "$skiptoken" in options:
            parsed = self._parse_skiptoken(options["$skiptoken"])
            if parsed is None:
                self.extra_counters.append("bad_request")
                return self._graph_error(400, "BadRequest", "The $skiptoken value is not valid.")
            offset = parsed
        end = min(offset + page_size, total) if page_size else total
        link = self._records_link(route, end) if end < total else ""
        return Response(200, self._with_array(
            {"@odata.context": context + "/attendanceRecords"}, "value",
            self._records_json(records, offset, end, route.version), "@odata.nextLink", link),
            GRAPH_CONTENT_TYPE)

    def _meeting_lookup(self, route: Route, options: dict[str, str]) -> Response:
        """GET /users/{u}/onlineMeetings?$filter=JoinWebUrl eq '{joinWebUrl}' (FACTS.md §3).

        The query string has been percent-decoded once, so a join URL that the client
        percent-encoded inside the quotes, as the docs require, arrives here as itself (its own
        %3a and %40 intact) and is compared with the stored joinWebUrl exactly."""
        if "$filter" not in options:
            self.extra_counters.append("bad_request")
            return self._graph_error(
                400, "BadRequest", "fake_graph lists a user's onlineMeetings only with "
                "$filter=JoinWebUrl eq '{joinWebUrl}' (or joinMeetingIdSettings/joinMeetingId eq "
                "'{id}'), as an application token must.")
        try:
            name, value = parse_eq_filter(options["$filter"])
        except ValueError as e:
            self.extra_counters.append("bad_request")
            return self._graph_error(400, "BadRequest", f"Invalid filter clause: {e}.")
        path = FILTER_PROPERTIES.get(name.lower())
        if path is None:
            self.extra_counters.append("bad_request")
            return self._graph_error(400, "BadRequest",
                                     "Invalid filter clause: fake_graph filters onlineMeetings "
                                     "only on JoinWebUrl or joinMeetingIdSettings/joinMeetingId, "
                                     f"not on '{name}'.")
        meetings = self.server.dataset.find_online_meetings(route.user, path, value)
        if meetings is None:
            return self._not_found(route, "owner")
        # No match: an empty collection, the OData norm (Graph's own answer is undocumented).
        return self._graph_ok({
            "@odata.context": f"{GRAPH_HOST}/{route.version}/$metadata#users("
                              f"{odata_key(route.user)})/onlineMeetings",
            "value": meetings})

    def _not_found(self, route: Route, missing: str) -> Response:
        self.extra_counters.append("not_found")
        if route.me and missing == "owner":
            missing = "parent"  # /me always exists: the signed-in user has no such meeting
        what = {"owner": OWNER_NAMES[route.source], "parent": PARENT_NAMES[route.source],
                "report": "attendance report"}[missing]
        return self._graph_error(404, "NotFound", f"The specified {what} was not found.")

    # --- faults ------------------------------------------------------------------------------

    def _fault_status_response(self, fault: Fault, kind: str) -> Response:
        status = fault.status or 429
        headers = list(fault.headers.items())
        if fault.retry_after is not None:
            headers.append(("Retry-After", fault.retry_after))
        if fault.body is not None:
            response = Response(status, fault.body.encode("utf-8"),
                                fault.content_type or CONTROL_CONTENT_TYPE, headers)
        elif kind == "token":
            if status == 429:
                response = self._aad_error(429, "temporarily_unavailable", 90055,
                                           "TenantThrottlingError - There are too many incoming "
                                           "requests. Please try again later.")
            else:
                response = self._aad_error(status, "temporarily_unavailable", 90024,
                                           "RequestBudgetExceededError - A transient error has "
                                           "occurred. Please try again.")
            response.headers += headers
        elif status == 429:
            # tests/data/graph/graph-error-429-throttling.json, with a fresh date and request-id.
            body = {"error": {"code": "TooManyRequests", "innerError": {
                "code": "429", "date": graph_date(), "message": "Please retry after",
                "request-id": self.request_id, "status": "429"},
                "message": "Please retry again later."}}
            response = Response(429, to_json_bytes(body), GRAPH_CONTENT_TYPE, headers)
        else:
            code, message = GRAPH_FAULT_ERRORS.get(status, GRAPH_FAULT_ERRORS[500])
            if status == 401 and not any(k.lower() == "www-authenticate" for k, _ in headers):
                headers.append(("WWW-Authenticate", GRAPH_WWW_AUTHENTICATE))
            response = self._graph_error(status, code, message, headers)
        return response

    def _reset_connection(self) -> None:
        """Aborts the connection with a TCP RST (SO_LINGER 0) and no response at all."""
        self.entry["status"] = None
        self._record()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # Close here rather than leave it to the server, whose shutdown(SHUT_WR) would send a FIN
        # before the RST. The buffered files hold references that defer socket.close(), so close
        # them first, then give http.server harmless stand-ins to flush and close afterwards.
        for f in (self.wfile, self.rfile):
            with contextlib.suppress(OSError, ValueError):
                f.close()
        with contextlib.suppress(OSError):
            self.connection.close()
        self.wfile, self.rfile = io.BytesIO(), io.BytesIO()

    def _send_truncated(self, response: Response, fault: Fault) -> None:
        """Promises the whole body in Content-Length, sends part of it, then closes."""
        cut = fault.truncate_bytes if fault.truncate_bytes is not None else len(response.body) // 2
        cut = max(0, min(cut, len(response.body) - 1))
        response.close = True
        self._send(response, body_override=response.body[:cut])

    def _send_oversize(self, fault: Fault, kind: str) -> None:
        """Streams a valid JSON object of about fault.size_bytes: {"padding":"aaa…","value":[]}."""
        head, tail = b'{"padding":"', b'","value":[]}'
        pad = max(0, fault.size_bytes - len(head) - len(tail))
        total = len(head) + pad + len(tail)
        response = Response(fault.status or 200, b"", GRAPH_CONTENT_TYPE if kind != "token"
                            else AAD_CONTENT_TYPE, list(fault.headers.items()), close=True)
        self._write_head(response, None if fault.chunked else total)
        self._record()
        if self.command == "HEAD":
            self.wfile.flush()
            return
        chunk = b"a" * (1 << 20)

        def write(data: bytes) -> None:
            if fault.chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(data)

        try:
            write(head)
            while pad > 0:
                n = min(pad, len(chunk))
                write(chunk[:n])
                pad -= n
            write(tail)
            if fault.chunked:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass  # the client gave up, as a size-capped client should

    # --- control endpoints (no auth) -----------------------------------------------------------

    def _control(self, parts: list[str], body: bytes) -> None:
        server = self.server
        name = "/".join(parts)
        method = self.command

        def ok(value: Any, status: int = 200) -> None:
            self._send(Response(status, to_json_bytes(value), CONTROL_CONTENT_TYPE), record=False)

        def fail(status: int, message: str) -> None:
            self._send(Response(status, to_json_bytes({"error": message}), CONTROL_CONTENT_TYPE),
                       record=False)

        def json_body() -> Any:
            try:
                return json.loads(body.decode("utf-8")) if body.strip() else None
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValueError(f"body is not JSON: {e}") from e

        routes = {
            ("GET", "counters"): lambda: ok(server.stats.counters()),
            ("GET", "requests"): lambda: ok(server.stats.requests()),
            ("GET", "tokens"): lambda: ok(server.tokens.issued()),
            ("GET", "assertions"): lambda: ok(server.tokens.assertions()),
            ("GET", "user-tokens"): lambda: ok(server.user_tokens.issued()),
            ("GET", "faults"): lambda: ok(server.faults.active()),
            ("POST", "reset"): lambda: (server.stats.reset(), ok({"reset": True})),
            ("POST", "expire-tokens"): lambda: ok({"expired": server.tokens.expire_all()}),
            ("DELETE", "faults"): lambda: ok({"cleared": server.faults.clear()}),
            ("GET", "permissions"): lambda: ok({"app_permissions": server.tokens.permissions()}),
            ("GET", "credentials"): lambda: ok(server.credentials.describe()),
        }
        try:
            if (method, name) in routes:
                routes[(method, name)]()
            elif (method, name) == ("POST", "dataset"):
                ok({"merged_reports": server.dataset.merge(json_body())})
            elif (method, name) == ("POST", "faults/wait"):
                spec = json_body()
                if not isinstance(spec, dict) or not isinstance(spec.get("active"), int):
                    raise ValueError('give {"active": N, "timeout_ms": T}')
                timeout_ms = spec.get("timeout_ms", 10000)
                if not isinstance(timeout_ms, int) or not 0 <= timeout_ms <= 600000:
                    raise ValueError("timeout_ms must be an integer from 0 to 600000")
                reached, active = server.faults.wait_active(spec["active"], timeout_ms / 1000)
                ok({"reached": reached, "active": active})
            elif (method, name) == ("POST", "faults"):
                spec = json_body()
                specs = spec if isinstance(spec, list) else [spec]
                ok({"faults": [f.describe() for f in server.faults.add(specs)]})
            elif (method, name) == ("POST", "reports"):
                layout, answer = generated_report(json_body())
                server.dataset.merge(layout)
                ok(answer)
            elif (method, name) == ("POST", "permissions"):
                spec = json_body()
                if not isinstance(spec, dict) or set(spec) - {"app_permissions", "issued_tokens"}:
                    raise ValueError('give {"app_permissions": [...], "issued_tokens": false}')
                permissions = parse_permissions(spec.get("app_permissions"), "app_permissions")
                issued_tokens = spec.get("issued_tokens", False)
                if not isinstance(issued_tokens, bool):
                    raise ValueError("issued_tokens must be true or false")
                server.tokens.set_permissions(permissions, issued_tokens)
                ok({"app_permissions": permissions, "issued_tokens": issued_tokens})
            elif (method, name) == ("POST", "user-tokens"):
                spec = json_body()
                if not isinstance(spec, dict) or not isinstance(spec.get("user"), str) \
                        or not spec["user"] or set(spec) - {"user", "audience", "expires_in"}:
                    raise ValueError('give {"user": "<oid>", "audience": "api://<client id>", '
                                     '"expires_in": seconds}')
                audience = spec.get("audience", f"api://{server.config.client_id}")
                expires_in = spec.get("expires_in", 3600)
                if not isinstance(audience, str) or not isinstance(expires_in, int):
                    raise ValueError("audience must be a string and expires_in an integer "
                                     "(negative: already expired)")
                token = server.user_tokens.issue(spec["user"], audience, expires_in,
                                                 server.config.tenant)
                ok({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})
            elif (method, name) == ("POST", "consent"):
                spec = json_body()
                if not isinstance(spec, dict) or not isinstance(spec.get("granted"), bool) \
                        or set(spec) - {"granted", "users"}:
                    raise ValueError('give {"granted": true|false, "users": ["<oid>", ...]}')
                users = spec.get("users")
                if users is not None and not (isinstance(users, list)
                                              and all(isinstance(u, str) for u in users)):
                    raise ValueError("users must be a list of object IDs")
                server.user_tokens.set_consent(spec["granted"], users)
                ok({"granted": spec["granted"], "users": users})
            elif (method, name) == ("POST", "credentials"):
                spec = json_body()
                if not isinstance(spec, dict) or not spec \
                        or set(spec) - {"certificates", "federated", "secrets"} \
                        or not all(isinstance(v, list) for v in spec.values()):
                    raise ValueError('give {"secrets": ["...", ...], "certificates": ["<PEM>", '
                                     '...], "federated": [{"issuer", "subject", "key", '
                                     '"audience"}, ...]}')
                secrets = None
                if "secrets" in spec:
                    secrets = spec["secrets"]
                    if not all(isinstance(x, str) and x for x in secrets):
                        raise ValueError("secrets must be non-empty strings")
                certificates = None
                if "certificates" in spec:
                    certificates = []
                    for i, pem in enumerate(spec["certificates"]):
                        if not isinstance(pem, str):
                            raise ValueError(f"certificates[{i}] must be a PEM string")
                        certificates += server.credentials.parse_certificates(
                            pem, f"certificates[{i}]")
                federated = None
                if "federated" in spec:
                    federated = [server.credentials.parse_federated(f, f"federated[{i}]")
                                 for i, f in enumerate(spec["federated"])]
                server.credentials.replace(certificates, federated, secrets)
                ok(server.credentials.describe())
            elif name in {n for _, n in routes} | {"dataset", "faults/wait", "reports",
                                                    "consent"}:
                fail(405, f"{method} is not allowed on /_emulator/{name}")
            else:
                fail(404, f"no control endpoint /_emulator/{name}")
        except (ValueError, TypeError, RuntimeError) as e:  # DatasetError is a ValueError
            fail(400, str(e))

    # --- writing -----------------------------------------------------------------------------

    def _write_head(self, response: Response, content_length: Optional[int]) -> None:
        self._headers_done = True
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        if response.content_type == GRAPH_CONTENT_TYPE:
            self.send_header("request-id", self.request_id)
            self.send_header("client-request-id", self.client_request_id)
            self.send_header("OData-Version", "4.0")
        for key, value in response.headers:
            self.send_header(key, value)
        if content_length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(content_length))
        if response.close:
            self.send_header("Connection", "close")  # also sets self.close_connection
        self.end_headers()

    def _send(self, response: Response, record: bool = True,
              body_override: Optional[bytes] = None) -> None:
        self.entry["status"] = response.status
        if record:
            self._record()
        self._write_head(response, len(response.body))
        if self.command != "HEAD":
            self.wfile.write(response.body if body_override is None else body_override)
        self.wfile.flush()

    def _record(self) -> None:
        """Counts and logs one token/Graph request (never control requests)."""
        counters = ["total"] + self.extra_counters
        # A token request is an error unless it got its genuine 200 (a "delay" fault still does).
        issued = self.entry.pop("token_issued", False)
        genuine = self.entry["fault"] in (None, "delay")
        if self.entry["kind"] == "token" and not (issued and genuine):
            counters.append("token_error")
        self.server.stats.record(dict(self.entry), counters)

    # --- protocol details ------------------------------------------------------------------

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":  # "GET /path" with no version
            self.send_error(400, "HTTP/0.9 requests are not supported.")
            return False
        return True

    def handle_expect_100(self) -> bool:
        # wfile is buffered (wbufsize), so the interim "100 Continue" must be flushed by hand or
        # the client waits for it while we wait for the body.
        self.send_response_only(100)
        self.end_headers()
        self.wfile.flush()
        return True

    def send_error(self, code: int, message: Optional[str] = None,
                   explain: Optional[str] = None) -> None:
        """http.server calls this for requests it cannot parse (bad request line, headers too
        long, ...). Answer with a Graph-style JSON error instead of its HTML page, and close."""
        self.request_id = str(uuid.uuid4())
        self.client_request_id = str(uuid.uuid4())
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # so that a status line and headers are sent
        text = message or self.responses.get(code, ("Error",))[0]
        body = to_json_bytes({"error": {"code": "BadRequest" if code < 500 else "generalException",
                                        "message": text, "innerError": {
                                            "date": graph_date(), "request-id": self.request_id,
                                            "client-request-id": self.client_request_id}}})
        self.server.stats.record({"method": getattr(self, "command", None),
                                  "raw_path": None, "path_segments": None, "query": None,
                                  "kind": "malformed", "status": code, "fault": None,
                                  "client_request_id": None, "traceparent": None},
                                 ["total", "bad_request"])
        self.send_response(code, message)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", GRAPH_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if getattr(self, "command", None) != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)
        self.wfile.flush()


# ----------------------------------------------------------------------------------------------
# The server.

class FakeGraphServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen backlog: 100+ clients may connect at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], config: Config, dataset: Dataset,
                 ssl_context: Optional[ssl.SSLContext], credentials: CredentialStore):
        host = address[0]
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).version == 6:
                self.address_family = socket.AF_INET6
        self.config = config
        self.dataset = dataset
        self.ssl_context = ssl_context
        self.tokens = TokenStore(config.app_permissions)
        self.user_tokens = UserTokens()
        self.stats = Stats()
        self.faults = FaultInjector()
        self.credentials = credentials
        super().__init__(address, Handler)
        # Clients on this machine reach a wildcard listener through loopback.
        bound_host, port = self.server_address[0], self.server_address[1]
        if bound_host in ("0.0.0.0", ""):
            bound_host = "127.0.0.1"
        elif bound_host == "::":
            bound_host = "::1"
        self.announced_hostport = (f"[{bound_host}]:{port}" if ":" in bound_host
                                   else f"{bound_host}:{port}")

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without DNS; skip it.
        socketserver_bind = http.server.socketserver.TCPServer.server_bind
        socketserver_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish or fail the TLS handshake are routine here.
        if self.config.verbose:
            super().handle_error(request, client_address)


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT (port 0 picks a free port)")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def non_negative_int(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return n


def permission_list(value: str) -> tuple[str, ...]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    try:
        return tuple(parse_permissions(names, "--app-permissions"))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Emulator of the Microsoft identity platform token endpoint and the Microsoft "
                    "Graph attendance-report paths. See README.md.")
    parser.add_argument("--listen", type=parse_listen, required=True, metavar="HOST:PORT",
                        help="address to listen on; port 0 lets the OS pick (printed on stdout)")
    parser.add_argument("--dataset", default=DEFAULT_DATASET, metavar="FILE",
                        help="JSON dataset (default: dataset.json beside this script)")
    parser.add_argument("--plaintext", action="store_true", help="serve HTTP instead of HTTPS")
    parser.add_argument("--tls-dir", metavar="DIR",
                        help="where ca.pem, server.pem and server.key are (made when missing); "
                             "default: a fresh temporary directory, removed at exit")
    parser.add_argument("--token-lifetime", type=non_negative_int, default=DEFAULT_TOKEN_LIFETIME,
                        metavar="SECONDS", help="expires_in of issued tokens (default 3599)")
    parser.add_argument("--tenant", default=DEFAULT_TENANT, help="the one known tenant")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="the one app registration")
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET,
                        help="the app's client secret")
    parser.add_argument("--accept-assertions", action="store_true",
                        help="accept any non-empty jwt-bearer client_assertion (while no "
                             "certificate or federated credential is registered)")
    parser.add_argument("--client-certificate", action="append", default=[], metavar="PEM",
                        help="a PEM certificate file registered on the app (repeatable, or a "
                             "comma list): certificate assertions are then verified")
    parser.add_argument("--federated-issuer", action="append", default=[], metavar="ISSUER",
                        help="issuer of a federated identity credential (repeatable; one "
                             "--federated-subject and --federated-key each)")
    parser.add_argument("--federated-subject", action="append", default=[], metavar="SUBJECT",
                        help="subject of that federated identity credential")
    parser.add_argument("--federated-key", action="append", default=[], metavar="PEM",
                        help="PEM public key or certificate file that signs that issuer's tokens")
    parser.add_argument("--records-page-size", type=non_negative_int, default=0, metavar="N",
                        help="page attendance records N at a time (0: never page)")
    parser.add_argument("--max-reports-listed", type=non_negative_int,
                        default=DEFAULT_MAX_REPORTS_LISTED, metavar="N",
                        help="list at most the N newest reports of a meeting or session "
                             "(default 50, as Graph; 0: no cap)")
    parser.add_argument("--app-permissions", type=permission_list,
                        default=DEFAULT_PERMISSIONS, metavar="P1,P2",
                        help="application permissions granted to the app, comma-separated "
                             f"(default {','.join(DEFAULT_PERMISSIONS)}; '' for none)")
    parser.add_argument("--latency-ms", type=non_negative_int, default=0, metavar="N",
                        help="delay added to every Graph response")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)

    try:
        dataset = Dataset.load(args.dataset)
    except (OSError, DatasetError) as e:
        print(f"fake_graph: cannot load dataset: {e}", file=sys.stderr)
        return 2

    key_dir = tempfile.mkdtemp(prefix="fake_graph-keys-")
    credentials = CredentialStore(key_dir, args.client_secret)
    try:
        if not len(args.federated_issuer) == len(args.federated_subject) == \
                len(args.federated_key):
            raise ValueError("give as many --federated-issuer, --federated-subject and "
                             "--federated-key as federated credentials")
        certificates = []
        for path in (p for value in args.client_certificate for p in value.split(",") if p):
            with open(path, encoding="utf-8") as f:
                certificates += credentials.parse_certificates(f.read(), path)
        federated = []
        for issuer, subject, path in zip(args.federated_issuer, args.federated_subject,
                                         args.federated_key):
            with open(path, encoding="utf-8") as f:
                federated.append(credentials.parse_federated(
                    {"issuer": issuer, "subject": subject, "key": f.read()}, path))
        credentials.replace(certificates, federated)
    except (OSError, ValueError, RuntimeError) as e:
        shutil.rmtree(key_dir, ignore_errors=True)
        print(f"fake_graph: bad credential: {e}", file=sys.stderr)
        return 2

    made_tls_dir = None
    ssl_context = None
    if not args.plaintext:
        tls_dir = args.tls_dir
        if tls_dir is None:
            tls_dir = made_tls_dir = tempfile.mkdtemp(prefix="fake_graph-tls-")
        try:
            ensure_tls_files(tls_dir)
            ssl_context = make_ssl_context(tls_dir)
        except (OSError, RuntimeError, ssl.SSLError) as e:
            print(f"fake_graph: TLS setup failed: {e}", file=sys.stderr)
            shutil.rmtree(key_dir, ignore_errors=True)
            return 2
        print(f"fake_graph: TLS files in {os.path.abspath(tls_dir)} (trust ca.pem)",
              file=sys.stderr, flush=True)

    config = Config(tenant=args.tenant, client_id=args.client_id, client_secret=args.client_secret,
                    token_lifetime=args.token_lifetime, records_page_size=args.records_page_size,
                    max_reports_listed=args.max_reports_listed, latency_ms=args.latency_ms,
                    accept_assertions=args.accept_assertions, verbose=args.verbose,
                    app_permissions=args.app_permissions)
    try:
        server = FakeGraphServer(args.listen, config, dataset, ssl_context, credentials)
    except OSError as e:
        print(f"fake_graph: cannot listen on {args.listen}: {e}", file=sys.stderr)
        shutil.rmtree(key_dir, ignore_errors=True)
        return 2

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                               name="serve_forever", daemon=True)
    serving.start()
    scheme = "http" if args.plaintext else "https"
    print(f"fake_graph listening on {scheme}://{server.announced_hostport}", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    if made_tls_dir:
        shutil.rmtree(made_tls_dir, ignore_errors=True)
    shutil.rmtree(key_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
