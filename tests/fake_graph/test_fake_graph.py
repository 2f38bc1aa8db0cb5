"""Self-test of the Graph emulator (fake_graph.py), black box: each test class starts the emulator
as a subprocess on port 0, reads the bound address from its first stdout line (no sleeping for
readiness), talks to it over verified HTTPS (or HTTP in plaintext mode), and stops it with
SIGTERM, expecting exit status 0.

Run: cd tests/fake_graph && python3 -m unittest -v test_fake_graph
The docs' examples are read from $ROLLCALL_EXAMPLES_DIR, else tests/data/graph/ (the project's
own copy of Microsoft's published bodies).
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "fake_graph.py"
EXAMPLES = Path(os.environ.get("ROLLCALL_EXAMPLES_DIR")
                or HERE.parent / "data" / "graph")

TENANT, CLIENT_ID, SECRET = "contoso-tenant", "rollcall-demo-client", "rollcall-demo-secret"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
USER = "16664f75-11dc-4870-bec6-38c1aaa81431"
MEETING = "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ"
REPORT = "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7"
REPORT2 = "2c2c2454-7613-4d6e-9c7c-4cf7a6cdce89"
# The Teams developer docs' meeting (get-onlinemeeting-by-joinweburl-msteams-docs.json).
USER2 = "14b779ae-cb64-47e7-a512-52fd50a4154d"
MEETING2 = ("MSoxNGI3NzlhZS1jYjY0LTQ3ZTctYTUxMi01MmZkNTBhNDE1NGQqMCoqMTk6bWVldGluZ19NVE01T1RZM01HVX"
            "RObVk0TWkwMFlqZzRMVGsyTURVdFkySXlaR1JsTm1VMVpqQTJAdGhyZWFkLnYy")
REPORT3 = "5d1b2a9e-6a4c-4f0e-9b2d-3c7e8f1a2b4c"
JOIN_URL = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_ZGMxNzY3NGMtODFkOS00YWRiLWJmYj"
            "ItOGY2YTQ0MmU0NjIz%40thread.v2/0?context=%7b%22Tid%22%3a%22909c6581-5130-43e9-88f3-"
            "fcb3582cde37%22%2c%22Oid%22%3a%2216664f75-11dc-4870-bec6-38c1aaa81431%22%7d")
WEBINAR = "f8ce2a5f-0e6a-4186-aa90-1f64bc023566@5466a424-aadf-425c-9b24-034ca28d4bdd"
WEBINAR_SESSION = "8d62dd52-4dff-4c75-96a9-f905cc3ff942"
WEBINAR_REPORT = "b76965d4-0763-496e-9980-b323c5f3aa3b"
TOWNHALL = "9a7c3e51-2b84-4d6f-a0e9-5c1d7b3f8e26@5466a424-aadf-425c-9b24-034ca28d4bdd"
TOWNHALL_SESSION = "4f2a8c1d-7e3b-4a9f-b6d5-0c8e1f2a3b4d"
TOWNHALL_REPORT = "7c4e9b2a-1d3f-4e5a-8b6c-9d0e1f2a3b4c"
ARTIFACT = "OnlineMeetingArtifact.Read.All"
MEETINGS_READ = "OnlineMeetings.Read.All"
FORBIDDEN_MESSAGE = "Insufficient privileges to complete the operation."
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LINE = re.compile(r"^fake_graph listening on (https?)://127\.0\.0\.1:(\d+)$")

TLS_DIR = ""  # one test CA for the whole module, made by the first emulator


def setUpModule() -> None:
    global TLS_DIR
    TLS_DIR = tempfile.mkdtemp(prefix="fake_graph-test-tls-")


def tearDownModule() -> None:
    shutil.rmtree(TLS_DIR, ignore_errors=True)


def example(name: str) -> Any:
    path = EXAMPLES / name
    if not path.exists():
        raise unittest.SkipTest(f"docs examples not found at {EXAMPLES}")
    return json.loads(path.read_text(encoding="utf-8"))


def seg(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def report_path(user: str = USER, meeting: str = MEETING, report: Optional[str] = REPORT,
                tail: str = "") -> str:
    path = f"/v1.0/users/{seg(user)}/onlineMeetings/{seg(meeting)}/attendanceReports"
    if report is not None:
        path += "/" + seg(report)
    return path + tail


def session_path(source: str = "webinars", event: str = WEBINAR, session: str = WEBINAR_SESSION,
                 report: Optional[str] = WEBINAR_REPORT, tail: str = "",
                 version: str = "v1.0") -> str:
    path = (f"/{version}/solutions/virtualEvents/{source}/{seg(event)}/sessions/{seg(session)}"
            "/attendanceReports")
    if report is not None:
        path += "/" + seg(report)
    return path + tail


def lookup_path(user: str, join_url: str, version: str = "v1.0", prop: str = "JoinWebUrl",
                safe: str = "") -> str:
    """The JoinWebUrl lookup as the docs write it (FACTS.md §3): the OData literal (quotes
    doubled) percent-encoded inside the filter; `safe` characters are left raw."""
    literal = "'" + join_url.replace("'", "''") + "'"
    return (f"/{version}/users/{seg(user)}/onlineMeetings?$filter="
            + urllib.parse.quote(f"{prop} eq {literal}", safe=safe))


class Reply:
    def __init__(self, status: int, headers: Any, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class Emulator:
    """One fake_graph process."""

    def __init__(self, *args: str, plaintext: bool = False, tls_dir: Optional[str] = None,
                 default_tls_dir: bool = False):
        argv = [sys.executable, str(SCRIPT), "--listen", "127.0.0.1:0", *args]
        if plaintext:
            argv.append("--plaintext")
        elif not default_tls_dir:
            argv += ["--tls-dir", tls_dir or TLS_DIR]
        self.stderr_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr_file,
                                     text=True)
        # A watchdog, not a readiness wait: it only fires if the emulator never announces itself.
        watchdog = threading.Timer(60, self.proc.kill)
        watchdog.start()
        try:
            self.line = self.proc.stdout.readline().rstrip("\n")
        finally:
            watchdog.cancel()
        match = LINE.match(self.line)
        if not match:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"bad first line {self.line!r}; stderr: {self.stderr()}")
        self.scheme, self.port = match.group(1), int(match.group(2))
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.ca = os.path.join(tls_dir or TLS_DIR, "ca.pem")
        self.context = None
        if self.scheme == "https" and not default_tls_dir:
            # Certificate verification on, hostname 127.0.0.1 checked against the SAN.
            self.context = ssl.create_default_context(cafile=self.ca)
            assert self.context.check_hostname and self.context.verify_mode == ssl.CERT_REQUIRED

    def stderr(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode("utf-8", "replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -999
        self.proc.stdout.close()
        self.stderr_file.close()
        return self.proc.returncode

    # --- HTTP -----------------------------------------------------------------------------

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context,
                                               timeout=timeout)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def call(self, method: str, path: str, body: Optional[bytes] = None,
             headers: Optional[dict] = None) -> Reply:
        request = urllib.request.Request(self.url + path, data=body, headers=headers or {},
                                         method=method)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as r:
                return Reply(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            with e:
                return Reply(e.code, e.headers, e.read())

    def token_request(self, tenant: str = TENANT, headers: Optional[dict] = None,
                      **form: Optional[str]) -> Reply:
        fields = {"client_id": CLIENT_ID, "client_secret": SECRET,
                  "grant_type": "client_credentials", "scope": GRAPH_SCOPE}
        fields.update(form)
        fields = {k: v for k, v in fields.items() if v is not None}
        body = urllib.parse.urlencode(fields).encode()
        return self.call("POST", f"/{seg(tenant)}/oauth2/v2.0/token", body,
                         {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

    def token(self) -> str:
        reply = self.token_request()
        assert reply.status == 200, reply.body
        return reply.json()["access_token"]

    def get(self, path: str, token: Optional[str] = None, headers: Optional[dict] = None) -> Reply:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        return self.call("GET", path, headers=all_headers)

    def control(self, method: str, name: str, value: Any = None) -> Any:
        body = None if value is None else json.dumps(value).encode()
        reply = self.call(method, f"/_emulator/{name}", body,
                          {"Content-Type": "application/json"} if body else {})
        assert reply.status == 200, (reply.status, reply.body)
        return reply.json()

    def add_reports(self, user: str, meeting: str, reports: dict) -> None:
        self.control("POST", "dataset", {"users": {user: {"onlineMeetings": {
            meeting: {"attendanceReports": reports}}}}})

    def add_session_reports(self, source: str, event: str, session: str, reports: dict) -> None:
        self.control("POST", "dataset", {"virtualEvents": {source: {event: {"sessions": {
            session: {"attendanceReports": reports}}}}}})

    def walk(self, conn: http.client.HTTPConnection, path: str, token: str,
             first_key: str) -> tuple[list, int]:
        """GETs `path` on a kept-alive connection, then follows the nextLinks: the records of
        every page (`first_key` holds the first page's), and the number of pages."""
        def get(target: str) -> dict:
            conn.request("GET", target, headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, (response.status, body[:500])
            return json.loads(body)

        body = get(path)
        records = list(body[first_key])
        link = body.get(first_key + "@odata.nextLink" if first_key != "value"
                        else "@odata.nextLink")
        pages = 1
        while link:
            assert link.startswith(self.url), link
            body = get(link[len(self.url):])
            records += body["value"]
            link = body.get("@odata.nextLink")
            pages += 1
        return records, pages


class EmulatorTestCase(unittest.TestCase):
    """Starts one emulator per class with ARGS; tests share it and reset it in setUp."""
    ARGS: tuple = ()
    PLAINTEXT = False
    emulator: Emulator

    @classmethod
    def setUpClass(cls) -> None:
        cls.emulator = Emulator(*cls.ARGS, plaintext=cls.PLAINTEXT)

    @classmethod
    def tearDownClass(cls) -> None:
        code = cls.emulator.stop()
        if code != 0:
            raise AssertionError(f"emulator exited {code}: {cls.emulator.stderr()}")

    def setUp(self) -> None:
        self.e = self.emulator
        self.e.control("DELETE", "faults")
        self.e.control("POST", "reset")

    def assertGraphError(self, reply: Reply, status: int, code: str,
                         client_request_id: Optional[str] = None) -> dict:
        self.assertEqual(reply.status, status, reply.body)
        self.assertEqual(reply.headers["Content-Type"], "application/json; odata.metadata=minimal")
        body = reply.json()
        self.assertEqual(set(body), {"error"})
        error = body["error"]
        self.assertEqual(error["code"], code)
        self.assertIsInstance(error["message"], str)
        inner = error["innerError"]
        self.assertEqual(set(inner), {"date", "request-id", "client-request-id"})
        self.assertRegex(inner["date"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
        self.assertEqual(inner["request-id"], reply.headers["request-id"])
        uuid.UUID(inner["request-id"])
        self.assertEqual(inner["client-request-id"], reply.headers["client-request-id"])
        if client_request_id is not None:
            self.assertEqual(inner["client-request-id"], client_request_id)
        return error


# ----------------------------------------------------------------------------------------------

class StartupAndTlsTest(unittest.TestCase):

    def test_announces_https_address_and_exits_zero_on_sigterm(self) -> None:
        e = Emulator()
        self.assertRegex(e.line, LINE)
        self.assertNotEqual(e.port, 0)
        self.assertEqual(e.call("GET", "/_emulator/counters").status, 200)
        started = time.monotonic()
        self.assertEqual(e.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - started, 5)

    def test_exits_zero_on_sigint(self) -> None:
        e = Emulator()
        self.assertEqual(e.stop(signal.SIGINT), 0)

    def test_certificates_have_proper_v3_extensions(self) -> None:
        Emulator().stop()  # makes the files if no other test has yet

        def text(name: str) -> str:
            return subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                                   os.path.join(TLS_DIR, name)],
                                  capture_output=True, text=True, check=True).stdout

        ca, leaf = text("ca.pem"), text("server.pem")
        self.assertRegex(ca, r"Basic Constraints: critical\s+CA:TRUE")
        self.assertRegex(ca, r"Key Usage: critical\s+Certificate Sign, CRL Sign")
        self.assertRegex(leaf, r"Basic Constraints: critical\s+CA:FALSE")
        self.assertRegex(leaf, r"Key Usage: critical\s+Digital Signature")
        self.assertIn("TLS Web Server Authentication", leaf)
        self.assertIn("DNS:localhost", leaf)
        self.assertIn("IP Address:127.0.0.1", leaf)
        verify = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(TLS_DIR, "ca.pem"),
                                 os.path.join(TLS_DIR, "server.pem")],
                                capture_output=True, text=True)
        self.assertEqual(verify.returncode, 0, verify.stderr)

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_curl_with_openssl_verifies_the_certificate(self) -> None:
        e = Emulator()
        try:
            for host in ("127.0.0.1", "localhost"):
                result = subprocess.run(
                    ["curl", "-sS", "--fail", "--cacert", e.ca,
                     f"https://{host}:{e.port}/_emulator/counters"],
                    capture_output=True, text=True, timeout=30)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn('"total"', result.stdout)
            # Without the test CA, verification fails: the check above is real.
            result = subprocess.run(["curl", "-sS", "--fail", "--cacert", "/dev/null",
                                     f"{e.url}/_emulator/counters"],
                                    capture_output=True, text=True, timeout=30)
            self.assertNotEqual(result.returncode, 0)
        finally:
            self.assertEqual(e.stop(), 0)

    def test_existing_tls_dir_is_reused(self) -> None:
        Emulator().stop()
        before = {n: Path(TLS_DIR, n).read_bytes() for n in ("ca.pem", "server.pem", "server.key")}
        e = Emulator()
        self.assertEqual(e.stop(), 0)
        after = {n: Path(TLS_DIR, n).read_bytes() for n in before}
        self.assertEqual(before, after)

    def test_missing_leaf_is_signed_by_the_existing_ca(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            Emulator(tls_dir=d).stop()
            ca = Path(d, "ca.pem").read_bytes()
            os.remove(os.path.join(d, "server.pem"))
            e = Emulator(tls_dir=d)
            self.assertEqual(e.call("GET", "/_emulator/counters").status, 200)
            self.assertEqual(e.stop(), 0)
            self.assertEqual(Path(d, "ca.pem").read_bytes(), ca)

    def test_default_tls_dir_is_temporary_and_removed(self) -> None:
        e = Emulator(default_tls_dir=True)
        match = re.search(r"TLS files in (\S+)", e.stderr())
        self.assertIsNotNone(match, e.stderr())
        tls_dir = match.group(1)
        context = ssl.create_default_context(cafile=os.path.join(tls_dir, "ca.pem"))
        with urllib.request.urlopen(e.url + "/_emulator/counters", context=context) as r:
            self.assertEqual(r.status, 200)
        self.assertEqual(e.stop(), 0)
        self.assertFalse(os.path.exists(tls_dir))

    def test_plaintext_mode(self) -> None:
        e = Emulator(plaintext=True)
        try:
            self.assertTrue(e.line.startswith("fake_graph listening on http://127.0.0.1:"))
            token = e.token()
            reply = e.get(report_path() + "?$expand=attendanceRecords", token)
            self.assertEqual(reply.status, 200)
            self.assertEqual(reply.json()["id"], REPORT)
        finally:
            self.assertEqual(e.stop(), 0)

    def test_custom_dataset_and_bad_dataset(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            good = os.path.join(d, "good.json")
            Path(good).write_text(json.dumps({"users": {"u": {"onlineMeetings": {"m": {
                "attendanceReports": {"r": {"totalParticipantCount": 3}}}}}}}))
            e = Emulator("--dataset", good)
            try:
                reply = e.get(report_path("u", "m", "r"), e.token())
                self.assertEqual(reply.json()["id"], "r")  # filled in from the key
                self.assertEqual(reply.json()["totalParticipantCount"], 3)
                self.assertEqual(e.get(report_path(), e.token()).status, 404)
            finally:
                self.assertEqual(e.stop(), 0)
            bad = os.path.join(d, "bad.json")
            Path(bad).write_text(json.dumps({"users": {"u": {"meetings": {}}}}))
            result = subprocess.run([sys.executable, str(SCRIPT), "--listen", "127.0.0.1:0",
                                     "--plaintext", "--dataset", bad],
                                    capture_output=True, text=True, timeout=30)
            self.assertEqual(result.returncode, 2)
            self.assertEqual(result.stdout, "")
            self.assertIn("meetings", result.stderr)


# ----------------------------------------------------------------------------------------------

class TokenEndpointTest(EmulatorTestCase):

    def assertAadError(self, reply: Reply, status: int, error: str, code: int) -> dict:
        self.assertEqual(reply.status, status, reply.body)
        body = reply.json()
        self.assertEqual(set(body), {"error", "error_description", "error_codes", "timestamp",
                                     "trace_id", "correlation_id", "error_uri"})
        self.assertEqual(body["error"], error)
        self.assertEqual(body["error_codes"], [code])
        self.assertTrue(body["error_description"].startswith(f"AADSTS{code}: "),
                        body["error_description"])
        self.assertTrue(body["error_description"].endswith(
            f"\r\nTrace ID: {body['trace_id']}\r\nCorrelation ID: {body['correlation_id']}"
            f"\r\nTimestamp: {body['timestamp']}"), body["error_description"])
        self.assertRegex(body["timestamp"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$")
        uuid.UUID(body["trace_id"])
        self.assertEqual(body["error_uri"], f"https://login.microsoftonline.com/error?code={code}")
        return body

    def test_success(self) -> None:
        reply = self.e.token_request()
        self.assertEqual(reply.status, 200)
        body = reply.json()
        self.assertEqual(list(body), ["token_type", "expires_in", "ext_expires_in", "access_token"])
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 3599)
        self.assertEqual(body["ext_expires_in"], 3599)
        self.assertGreaterEqual(len(body["access_token"]), 32)
        self.assertIn(body["access_token"], self.e.control("GET", "tokens"))
        self.assertNotEqual(self.e.token(), body["access_token"])  # fresh each time

    def test_success_with_app_id_scope_and_basic_auth(self) -> None:
        reply = self.e.token_request(scope="00000003-0000-0000-c000-000000000000/.default")
        self.assertEqual(reply.status, 200, reply.body)
        basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        reply = self.e.token_request(client_id=None, client_secret=None,
                                     headers={"Authorization": f"Basic {basic}"})
        self.assertEqual(reply.status, 200, reply.body)
        # The emulator's own origin counts as the Graph resource.
        reply = self.e.token_request(scope=f"{self.e.url}/.default")
        self.assertEqual(reply.status, 200, reply.body)

    def test_openid_configuration_points_at_this_token_endpoint(self) -> None:
        reply = self.e.get(f"/{TENANT}/v2.0/.well-known/openid-configuration")
        self.assertEqual(reply.status, 200, reply.body)
        body = reply.json()
        self.assertEqual(body["token_endpoint"], f"{self.e.url}/{TENANT}/oauth2/v2.0/token")
        self.assertEqual(body["issuer"], f"{self.e.url}/{TENANT}/v2.0")
        self.assertIn("authorization_endpoint", body)
        self.assertAadError(self.e.get("/other-tenant/v2.0/.well-known/openid-configuration"),
                            400, "invalid_tenant", 90002)

    def test_each_error(self) -> None:
        cases = [
            ({"grant_type": "password"}, TENANT, 400, "unsupported_grant_type", 70003),
            ({"grant_type": None}, TENANT, 400, "invalid_request", 900144),
            ({}, "fabrikam-tenant", 400, "invalid_request", 90002),
            ({"client_id": "someone-else"}, TENANT, 400, "unauthorized_client", 700016),
            ({"client_id": None}, TENANT, 400, "invalid_request", 900144),
            ({"client_secret": None}, TENANT, 401, "invalid_client", 7000218),
            ({"client_secret": "wrong"}, TENANT, 401, "invalid_client", 7000215),
            ({"scope": "https://foo.microsoft.com/.default"}, TENANT, 400, "invalid_scope", 70011),
            ({"scope": "https://graph.microsoft.com/User.Read"}, TENANT, 400, "invalid_scope",
             70011),
            ({"scope": None}, TENANT, 400, "invalid_request", 900144),
            ({"scope": "  "}, TENANT, 400, "invalid_request", 900144),
            ({"scope": f"{GRAPH_SCOPE} {GRAPH_SCOPE}"}, TENANT, 400, "invalid_scope", 70011),
            ({"client_assertion": "x.y.z", "client_assertion_type": JWT_BEARER,
              "client_secret": None}, TENANT, 401, "invalid_client", 700027),
        ]
        issued_before = len(self.e.control("GET", "tokens"))
        for form, tenant, status, error, code in cases:
            with self.subTest(form=form, tenant=tenant):
                self.assertAadError(self.e.token_request(tenant, **form), status, error, code)
        counters = self.e.control("GET", "counters")
        self.assertEqual(counters["token"], len(cases))
        self.assertEqual(counters["token_error"], len(cases))
        self.assertEqual(len(self.e.control("GET", "tokens")), issued_before)

    def test_wrong_secret_description_is_exact(self) -> None:
        body = self.assertAadError(self.e.token_request(client_secret="wrong"), 401,
                                   "invalid_client", 7000215)
        self.assertTrue(body["error_description"].startswith(
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
            "request is the client secret value, not the client secret ID, for a secret added to "
            f"app '{CLIENT_ID}'.\r\nTrace ID: "))
        self.assertNotIn("wrong", body["error_description"])

    def test_client_secrets_rotate_through_the_credentials_endpoint(self) -> None:
        try:
            # A rotation: the new secret is added beside the old one, then the old one dropped.
            both = self.e.control("POST", "credentials", {"secrets": [SECRET, "rotated-secret"]})
            self.assertEqual(both["secrets"], 2)
            self.assertEqual(self.e.token_request().status, 200)
            self.assertEqual(self.e.token_request(client_secret="rotated-secret").status, 200)
            self.e.control("POST", "credentials", {"secrets": ["rotated-secret"]})
            self.assertAadError(self.e.token_request(), 401, "invalid_client", 7000215)
            self.assertEqual(self.e.token_request(client_secret="rotated-secret").status, 200)
            with self.assertRaises(Exception):
                self.e.control("POST", "credentials", {"secrets": [""]})
        finally:
            self.e.control("POST", "credentials", {"secrets": [SECRET]})
        self.assertEqual(self.e.token_request().status, 200)

    def test_scope_error_matches_docs_example(self) -> None:
        sample = example("identity-token-error-client-credentials.json")
        body = self.assertAadError(
            self.e.token_request(scope="https://foo.microsoft.com/.default"), 400, "invalid_scope",
            70011)
        self.assertEqual(body["error_description"].split("\r\n")[0],
                         sample["error_description"].split("\r\n")[0])
        self.assertTrue(set(sample) <= set(body))

    def test_tenant_error_names_the_tenant(self) -> None:
        body = self.assertAadError(self.e.token_request("nope.example"), 400, "invalid_request",
                                   90002)
        self.assertIn("Tenant 'nope.example' not found", body["error_description"])

    def test_correlation_id_echoes_client_request_id(self) -> None:
        crid = str(uuid.uuid4())
        body = self.assertAadError(
            self.e.token_request(client_secret="wrong", headers={"client-request-id": crid}),
            401, "invalid_client", 7000215)
        self.assertEqual(body["correlation_id"], crid)

    def test_get_is_not_allowed(self) -> None:
        reply = self.e.call("GET", f"/{TENANT}/oauth2/v2.0/token")
        self.assertAadError(reply, 405, "invalid_request", 900561)

    def test_expired_token_is_rejected(self) -> None:
        token = self.e.token()
        self.assertEqual(self.e.get(report_path(), token).status, 200)
        self.e.control("POST", "expire-tokens")
        reply = self.e.get(report_path(), token)
        error = self.assertGraphError(reply, 401, "InvalidAuthenticationToken")
        self.assertEqual(error["message"], "Lifetime validation failed, the token is expired.")
        self.assertEqual(self.e.get(report_path(), self.e.token()).status, 200)


class TokenLifetimeAndAssertionTest(EmulatorTestCase):
    ARGS = ("--token-lifetime", "0", "--accept-assertions", "--tenant", "t2",
            "--client-id", "c2", "--client-secret", "s2")

    def test_flags(self) -> None:
        reply = self.e.token_request("t2", client_id="c2", client_secret="s2")
        self.assertEqual(reply.status, 200, reply.body)
        self.assertEqual(reply.json()["expires_in"], 0)
        # A zero lifetime makes a token that is already expired.
        error = self.assertGraphError(self.e.get(report_path(), reply.json()["access_token"]),
                                      401, "InvalidAuthenticationToken")
        self.assertIn("expired", error["message"])
        self.assertEqual(self.e.token_request().status, 400)  # the default tenant is unknown now

    def test_assertion_accepted_and_recorded(self) -> None:
        reply = self.e.token_request("t2", client_id="c2", client_secret=None,
                                     client_assertion="header.payload.signature",
                                     client_assertion_type=JWT_BEARER)
        self.assertEqual(reply.status, 200, reply.body)
        self.assertEqual(self.e.control("GET", "assertions")[-1], "header.payload.signature")
        reply = self.e.token_request("t2", client_id="c2", client_secret=None,
                                     client_assertion="a.b.c", client_assertion_type="other")
        self.assertEqual(reply.status, 400)
        reply = self.e.token_request("t2", client_id="c2", client_secret="s2",
                                     client_assertion="a.b.c", client_assertion_type=JWT_BEARER)
        self.assertEqual(reply.status, 400)

    def test_registered_credentials_override_accept_assertions(self) -> None:
        cert = Path(assertion_keys()["app.pem"]).read_text()
        self.e.control("POST", "credentials", {"certificates": [cert]})
        try:
            reply = self.e.token_request("t2", client_id="c2", client_secret=None,
                                         client_assertion="header.payload.signature",
                                         client_assertion_type=JWT_BEARER)
            self.assertEqual(reply.status, 400, reply.body)
            self.assertEqual(reply.json()["error_codes"], [50013])
            self.assertEqual(self.e.control("GET", "assertions")[-1], "header.payload.signature")
        finally:
            self.e.control("POST", "credentials", {"certificates": []})
        reply = self.e.token_request("t2", client_id="c2", client_secret=None,
                                     client_assertion="header.payload.signature",
                                     client_assertion_type=JWT_BEARER)
        self.assertEqual(reply.status, 200, reply.body)


# ----------------------------------------------------------------------------------------------

# --- client assertions: certificates and federated credentials ------------------------------

FEDERATED_ISSUER = "https://oidc.rollcall-test.example/cluster-1"
FEDERATED_SUBJECT = "system:serviceaccount:rollcall:rollcall-sync"
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
_KEYS: dict[str, str] = {}


def assertion_keys() -> dict[str, str]:
    """RSA keys and self-signed certificates made once with the openssl CLI: `app` (registered
    on the app), `other` (not registered), `issuer` (the federated issuer's signing key)."""
    if not _KEYS:
        directory = os.path.join(TLS_DIR, "assertion-keys")
        os.makedirs(directory, exist_ok=True)
        for name in ("app", "other", "issuer"):
            key, cert = os.path.join(directory, f"{name}.key"), os.path.join(directory, f"{name}.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                            f"/CN=rollcall-test-{name}", "-days", "2", "-keyout", key, "-out",
                            cert], check=True, capture_output=True)
            _KEYS[f"{name}.key"], _KEYS[f"{name}.pem"] = key, cert
        pub = os.path.join(directory, "issuer.pub.pem")
        subprocess.run(["openssl", "pkey", "-in", _KEYS["issuer.key"], "-pubout", "-out", pub],
                       check=True, capture_output=True)
        _KEYS["issuer.pub"] = pub
    return _KEYS


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def thumbprints(cert_path: str) -> tuple[str, str]:
    """(x5t, x5t#S256): base64url SHA-1 and SHA-256 of the certificate's DER."""
    der = subprocess.run(["openssl", "x509", "-in", cert_path, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return b64url(hashlib.sha1(der).digest()), b64url(hashlib.sha256(der).digest())


def sign_jwt(header: dict, claims: dict, key_path: str) -> str:
    """A compact JWS signed with `openssl dgst` (PS256: PSS, salt 32; else PKCS#1 v1.5)."""
    signing_input = (b64url(json.dumps(header).encode()) + "."
                     + b64url(json.dumps(claims).encode()))
    args = ["openssl", "dgst", "-sha256", "-sign", key_path]
    if header.get("alg") == "PS256":
        args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]
    signature = subprocess.run(args, input=signing_input.encode(), check=True,
                               capture_output=True).stdout
    return signing_input + "." + b64url(signature)


class ClientAssertionTest(EmulatorTestCase):
    """--client-certificate and --federated-*: assertions are verified (FACTS.md §6)."""

    @classmethod
    def setUpClass(cls) -> None:
        keys = assertion_keys()
        cls.ARGS = ("--client-certificate", keys["app.pem"],
                    "--federated-issuer", FEDERATED_ISSUER,
                    "--federated-subject", FEDERATED_SUBJECT,
                    "--federated-key", keys["issuer.pub"])
        super().setUpClass()

    assertAadError = TokenEndpointTest.assertAadError

    def setUp(self) -> None:
        super().setUp()
        self.keys = assertion_keys()
        self.x5t, self.x5t_s256 = thumbprints(self.keys["app.pem"])
        self.aud = f"{self.e.url}/{TENANT}/oauth2/v2.0/token"

    def claims(self, **changes: Any) -> dict:
        now = int(time.time())
        claims = {"aud": self.aud, "iss": CLIENT_ID, "sub": CLIENT_ID, "jti": str(uuid.uuid4()),
                  "nbf": now, "iat": now, "exp": now + 600}
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def cert_assertion(self, alg: str = "PS256", key: str = "app.key",
                       header: Optional[dict] = None, **changes: Any) -> str:
        if header is None:
            header = ({"alg": "PS256", "typ": "JWT", "x5t#S256": self.x5t_s256} if alg == "PS256"
                      else {"alg": alg, "typ": "JWT", "x5t": self.x5t})
        return sign_jwt(header, self.claims(**changes), self.keys[key])

    def federated_assertion(self, key: str = "issuer.key", **changes: Any) -> str:
        now = int(time.time())
        claims = {"aud": [FEDERATED_AUDIENCE], "iss": FEDERATED_ISSUER, "sub": FEDERATED_SUBJECT,
                  "nbf": now, "iat": now, "exp": now + 3600}
        claims.update(changes)
        return sign_jwt({"alg": "RS256", "kid": "k1"}, claims, self.keys[key])

    def send(self, assertion: str, tenant: str = TENANT) -> Reply:
        return self.e.token_request(tenant, client_secret=None, client_assertion=assertion,
                                    client_assertion_type=JWT_BEARER)

    def assertToken(self, assertion: str) -> None:
        reply = self.send(assertion)
        self.assertEqual(reply.status, 200, reply.body)
        self.assertIn(reply.json()["access_token"], self.e.control("GET", "tokens"))

    def test_good_ps256_and_rs256_assertions(self) -> None:
        good = self.cert_assertion("PS256")
        self.assertToken(good)
        self.assertEqual(self.e.control("GET", "assertions")[-1], good)  # still remembered
        self.assertToken(self.cert_assertion("RS256"))
        # The SDKs' RS256 header also carries kid (hex SHA-1) and may carry x5c.
        self.assertToken(self.cert_assertion(header={
            "alg": "RS256", "typ": "JWT", "x5t": self.x5t, "kid": "AB" * 20}))
        # aud built from either loopback name of this emulator.
        self.assertToken(self.cert_assertion(
            aud=f"https://localhost:{self.e.port}/{TENANT}/oauth2/v2.0/token"))
        # exp and nbf within the 5-minute clock skew.
        now = int(time.time())
        self.assertToken(self.cert_assertion(exp=now - 120, nbf=now - 720))
        self.assertToken(self.cert_assertion(nbf=now + 120))

    def test_bad_signature(self) -> None:
        # The registered certificate's thumbprint, signed with another key.
        for alg in ("PS256", "RS256"):
            with self.subTest(alg=alg):
                self.assertAadError(self.send(self.cert_assertion(alg, key="other.key")), 401,
                                    "invalid_client", 700027)
        # A claim changed after signing; RS256 signature presented as PS256.
        head, payload, sig = self.cert_assertion().split(".")
        forged = b64url(json.dumps(self.claims(sub="intruder")).encode())
        self.assertAadError(self.send(f"{head}.{forged}.{sig}"), 401, "invalid_client", 700027)
        rs = self.cert_assertion("RS256").split(".")
        ps_head = b64url(json.dumps({"alg": "PS256", "typ": "JWT", "x5t": self.x5t}).encode())
        body = self.assertAadError(self.send(f"{ps_head}.{rs[1]}.{rs[2]}"), 401, "invalid_client",
                                   700027)
        self.assertIn("Client assertion failed signature validation.", body["error_description"])

    def test_unknown_thumbprint(self) -> None:
        other_x5t, other_s256 = thumbprints(self.keys["other.pem"])
        for header in ({"alg": "PS256", "typ": "JWT", "x5t#S256": other_s256},
                       {"alg": "RS256", "typ": "JWT", "x5t": other_x5t},
                       {"alg": "PS256", "typ": "JWT", "x5t#S256": self.x5t}):  # SHA-1 as SHA-256
            with self.subTest(header=header):
                body = self.assertAadError(
                    self.send(self.cert_assertion(header=header, key="other.key")), 401,
                    "invalid_client", 700027)
                thumb = base64.urlsafe_b64decode(
                    (header.get("x5t#S256") or header["x5t"]) + "==").hex().upper()
                self.assertIn("Client assertion contains an invalid signature. [Reason - The key "
                              f"was not found., Thumbprint of key used by client: '{thumb}'",
                              body["error_description"])

    def test_expired_and_not_yet_valid(self) -> None:
        now = int(time.time())
        for changes in ({"exp": now - 400, "nbf": now - 1000}, {"nbf": now + 400},
                        {"exp": now + 1200, "nbf": now + 600}):
            with self.subTest(changes=changes):
                body = self.assertAadError(self.send(self.cert_assertion(**changes)), 401,
                                           "invalid_client", 500133)
                self.assertIn("Assertion is not within its valid time range.",
                              body["error_description"])
        body = self.assertAadError(self.send(self.cert_assertion(exp=None)), 401,
                                   "invalid_client", 50013)
        self.assertIn("'exp' claim is missing", body["error_description"])

    def test_wrong_audience(self) -> None:
        for aud in ("https://login.microsoftonline.com/contoso-tenant/oauth2/v2.0/token",
                    f"{self.e.url}/other-tenant/oauth2/v2.0/token",
                    f"{self.e.url}/{TENANT}/v2.0", f"https://127.0.0.1:1/{TENANT}/oauth2/v2.0/token",
                    [self.aud]):
            with self.subTest(aud=aud):
                body = self.assertAadError(self.send(self.cert_assertion(aud=aud)), 401,
                                           "invalid_client", 50013)
                self.assertIn(f"the assertion's audience {json.dumps(aud)} is not this token "
                              f"endpoint; expected '{self.aud}'", body["error_description"])

    def test_wrong_iss_or_sub(self) -> None:
        for changes in ({"iss": "someone-else"}, {"sub": "someone-else"}, {"sub": None}):
            with self.subTest(changes=changes):
                body = self.assertAadError(self.send(self.cert_assertion(**changes)), 401,
                                           "invalid_client", 50013)
                self.assertIn(f"must be the client ID '{CLIENT_ID}'", body["error_description"])

    def test_malformed_and_unsupported_alg(self) -> None:
        bad_json = b64url(b"{not json") + "." + b64url(b"{}") + "." + b64url(b"sig")
        for assertion in ("a.b", "a.b.c.d", "@@.e30.e30", bad_json, "W10.e30.c2ln"):
            with self.subTest(assertion=assertion):
                self.assertAadError(self.send(assertion), 400, "invalid_request", 50013)
        for alg in ("HS256", "none", "ES256"):
            with self.subTest(alg=alg):
                body = self.assertAadError(self.send(self.cert_assertion(header={
                    "alg": alg, "typ": "JWT", "x5t#S256": self.x5t_s256})), 400,
                    "invalid_request", 50013)
                self.assertIn("is not supported; use PS256 or RS256", body["error_description"])

    def test_federated_token(self) -> None:
        good = self.federated_assertion()
        self.assertToken(good)
        self.assertEqual(self.e.control("GET", "assertions")[-1], good)
        self.assertToken(self.federated_assertion(aud=FEDERATED_AUDIENCE))  # aud as a string

    def test_federated_refusals(self) -> None:
        now = int(time.time())
        cases = [
            ({"sub": "system:serviceaccount:rollcall:other"}, 400, "invalid_request", 70021),
            ({"aud": ["api://SomethingElse"]}, 400, "invalid_request", 70021),
            ({"iss": "https://oidc.elsewhere.example/"}, 400, "invalid_request", 700211),
            ({"exp": now - 400, "nbf": now - 4000}, 401, "invalid_client", 500133),
            ({"nbf": now + 600}, 401, "invalid_client", 500133),
        ]
        for changes, status, error, code in cases:
            with self.subTest(changes=changes):
                body = self.assertAadError(self.send(self.federated_assertion(**changes)),
                                           status, error, code)
                if code == 70021:
                    self.assertIn(f"Assertion Issuer: '{FEDERATED_ISSUER}'",
                                  body["error_description"])
        # Signed with another key than the issuer's.
        self.assertAadError(self.send(self.federated_assertion(key="other.key")), 401,
                            "invalid_client", 700027)

    def test_credentials_control_endpoint(self) -> None:
        listed = self.e.control("GET", "credentials")
        self.assertEqual([c["x5t#S256"] for c in listed["certificates"]], [self.x5t_s256])
        self.assertEqual(listed["certificates"][0]["x5t"], self.x5t)
        self.assertEqual(listed["federated"], [{"issuer": FEDERATED_ISSUER,
                                                "subject": FEDERATED_SUBJECT,
                                                "audience": FEDERATED_AUDIENCE}])
        app_pem = Path(self.keys["app.pem"]).read_text()
        other_pem = Path(self.keys["other.pem"]).read_text()
        try:
            # Replace the certificates (the federated credentials stay): app's key is unknown now.
            answer = self.e.control("POST", "credentials", {"certificates": [other_pem]})
            self.assertEqual(answer["certificates"][0]["x5t#S256"],
                             thumbprints(self.keys["other.pem"])[1])
            self.assertEqual(len(answer["federated"]), 1)
            self.assertAadError(self.send(self.cert_assertion()), 401, "invalid_client", 700027)
            self.assertToken(self.cert_assertion(header={
                "alg": "PS256", "typ": "JWT",
                "x5t#S256": thumbprints(self.keys["other.pem"])[1]}, key="other.key"))
            # A federated credential with its own audience, key given as a certificate.
            self.e.control("POST", "credentials", {"federated": [
                {"issuer": FEDERATED_ISSUER, "subject": "s2", "audience": "api://custom",
                 "key": Path(self.keys["issuer.pem"]).read_text()}]})
            self.assertToken(self.federated_assertion(sub="s2", aud="api://custom"))
            self.assertAadError(self.send(self.federated_assertion()), 400, "invalid_request",
                                70021)
            for bad in ({}, {"certificates": "x"}, {"certificates": ["not a pem"]},
                        {"federated": [{"issuer": "i", "subject": "s"}]},
                        {"federated": [{"issuer": "i", "subject": "s", "key": "junk"}]},
                        {"certificates": [], "other": []}):
                with self.subTest(bad=bad):
                    reply = self.e.call("POST", "/_emulator/credentials",
                                        json.dumps(bad).encode(),
                                        {"Content-Type": "application/json"})
                    self.assertEqual(reply.status, 400, reply.body)
                    self.assertIn("error", reply.json())
            self.assertEqual(len(self.e.control("GET", "credentials")["certificates"]), 1)
        finally:
            self.e.control("POST", "credentials", {
                "certificates": [app_pem],
                "federated": [{"issuer": FEDERATED_ISSUER, "subject": FEDERATED_SUBJECT,
                               "key": Path(self.keys["issuer.pub"]).read_text()}]})
        self.assertToken(self.cert_assertion())

    def test_bad_credential_on_the_command_line_exits_2(self) -> None:
        junk = os.path.join(TLS_DIR, "assertion-keys", "junk.pem")
        Path(junk).write_text("not a certificate\n")
        for args in (("--client-certificate", junk),
                     ("--client-certificate", junk + ".missing"),
                     ("--federated-issuer", "i", "--federated-subject", "s")):
            with self.subTest(args=args):
                proc = subprocess.run([sys.executable, str(SCRIPT), "--listen", "127.0.0.1:0",
                                       "--plaintext", *args], capture_output=True, text=True,
                                      timeout=60)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertEqual(proc.stdout, "")
                self.assertIn("bad credential", proc.stderr)


class GraphTest(EmulatorTestCase):

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.token = cls.emulator.token()

    def test_unauthorized_bodies(self) -> None:
        cases = [
            ({}, "Access token is empty."),
            ({"Authorization": "Bearer "}, "Access token is empty."),
            ({"Authorization": "Basic abc"}, "Access token is empty."),
            ({"Authorization": "Bearer not-a-token"}, "Access token validation failure."),
        ]
        for headers, message in cases:
            with self.subTest(headers=headers):
                reply = self.e.get(report_path(), headers=headers)
                error = self.assertGraphError(reply, 401, "InvalidAuthenticationToken")
                self.assertEqual(error["message"], message)
                self.assertIn("Bearer", reply.headers["WWW-Authenticate"])
        counters = self.e.control("GET", "counters")
        self.assertEqual(counters["unauthorized"], len(cases))
        self.assertEqual(counters["report"], len(cases))

    def test_report_with_expand_matches_docs_example_exactly(self) -> None:
        sample = example("get-meetingattendancereport-v1.0-expand-attendancerecords.json")
        for query in ("?$expand=attendanceRecords", "?%24expand=attendanceRecords",
                      "?%24expand=attendancerecords"):
            with self.subTest(query=query):
                reply = self.e.get(report_path() + query, self.token)
                self.assertEqual(reply.status, 200)
                self.assertEqual(reply.json(), sample)
                self.assertEqual(list(reply.json()), list(sample))  # same property order
                self.assertEqual(reply.headers["Content-Type"],
                                 "application/json; odata.metadata=minimal")
                uuid.UUID(reply.headers["request-id"])
                uuid.UUID(reply.headers["client-request-id"])

    def test_report_without_expand_omits_records(self) -> None:
        sample = example("get-meetingattendancereport-v1.0-expand-attendancerecords.json")
        del sample["attendanceRecords"]
        crid = "my-client-request-id"
        reply = self.e.get(report_path(), self.token, headers={"client-request-id": crid})
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json(), sample)
        self.assertNotIn("attendanceRecords", reply.json())
        self.assertEqual(reply.headers["client-request-id"], crid)
        self.assertNotEqual(reply.headers["request-id"], crid)

    def test_list_reports_matches_docs_example(self) -> None:
        sample = example("list-meetingattendancereports-v1.0.json")
        reply = self.e.get(report_path(report=None), self.token)
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json(), sample)

    def test_list_records(self) -> None:
        records = example("list-attendancerecords-v1.0-webinar-session.json")["value"]
        reply = self.e.get(report_path(report=REPORT2, tail="/attendanceRecords"), self.token)
        self.assertEqual(reply.status, 200)
        body = reply.json()
        self.assertEqual(body["value"], records)
        self.assertEqual(body["@odata.context"],
                         f"https://graph.microsoft.com/v1.0/$metadata#users('{USER}')"
                         f"/onlineMeetings('{MEETING}')/attendanceReports('{REPORT2}')"
                         "/attendanceRecords")
        self.assertNotIn("@odata.nextLink", body)

    def test_not_found(self) -> None:
        crid = str(uuid.uuid4())
        for path in (report_path(report="no-such-report"), report_path(meeting="no-such-meeting"),
                     report_path(user="no-such-user"),
                     report_path(report="nope", tail="/attendanceRecords"),
                     report_path(meeting="nope", report=None)):
            with self.subTest(path=path):
                reply = self.e.get(path, self.token, headers={"client-request-id": crid})
                self.assertGraphError(reply, 404, "NotFound", client_request_id=crid)
        self.assertEqual(self.e.control("GET", "counters")["not_found"], 5)

    def test_bad_requests(self) -> None:
        cases = [
            report_path() + "?$expand=attendees",
            report_path() + "?$expand=attendanceRecords&%24expand=attendanceRecords",
            f"/v1.0/me/onlineMeetings/{MEETING}/attendanceReports/{REPORT}",
            f"/v1.0/users/{USER}/calendar",
            report_path(tail="/attendanceRecords?$skiptoken=garbage!"),
            report_path().replace("/users/", "/us%FFers/"),  # not UTF-8
        ]
        for path in cases:
            with self.subTest(path=path):
                self.assertGraphError(self.e.get(path, self.token), 400, "BadRequest")
        self.assertEqual(self.e.control("GET", "counters")["bad_request"], len(cases))

    def test_methods_other_than_get(self) -> None:
        reply = self.e.call("HEAD", report_path(),
                            headers={"Authorization": f"Bearer {self.token}"})
        self.assertEqual(reply.status, 405)
        self.assertEqual(reply.body, b"")
        for method in ("POST", "DELETE", "PATCH", "PURGE"):
            with self.subTest(method=method):
                reply = self.e.call(method, report_path(), b"{}",
                                    {"Authorization": f"Bearer {self.token}"})
                self.assertGraphError(reply, 405, "BadRequest")
        self.assertEqual(self.e.control("GET", "counters")["method_not_allowed"], 5)

    def test_unknown_path(self) -> None:
        self.assertGraphError(self.e.get("/"), 404, "NotFound")
        self.assertEqual(self.e.control("GET", "counters")["other"], 1)

    def test_hostile_ids_round_trip_as_one_segment(self) -> None:
        ids = ["a/b", "../../v1.0/users", "what?$expand=x", "frag#ment", "100%", "%2F%3F",
               "with space", "..", ".", "", "ünï/cødé 会议", "MSo+/==", "a b/c?d#e%f..g", "it's"]
        self.e.add_reports(USER, "placeholder", {})
        for i, meeting in enumerate(ids):
            self.e.add_reports(USER, meeting, {f"r{i}/x": {
                "id": f"r{i}", "totalParticipantCount": i, "attendanceRecords": []}})
        self.e.control("POST", "reset")
        for i, meeting in enumerate(ids):
            with self.subTest(meeting=meeting):
                reply = self.e.get(report_path(meeting=meeting, report=f"r{i}/x"), self.token)
                self.assertEqual(reply.status, 200, reply.body)
                self.assertEqual(reply.json()["totalParticipantCount"], i)
                self.assertIn(f"onlineMeetings('{meeting.replace(chr(39), chr(39) * 2)}')",
                              reply.json()["@odata.context"])
        log = self.e.control("GET", "requests")
        self.assertEqual(len(log), len(ids))
        for i, (entry, meeting) in enumerate(zip(log, ids)):
            self.assertEqual(entry["path_segments"],
                             ["v1.0", "users", USER, "onlineMeetings", meeting, "attendanceReports",
                              f"r{i}/x"])
            self.assertEqual(entry["kind"], "report")
            self.assertEqual(entry["status"], 200)
        # A literal ".." segment, not percent-encoded, arrives as itself too.
        reply = self.e.get(f"/v1.0/users/{USER}/onlineMeetings/../attendanceReports/r7%2Fx",
                           self.token)
        self.assertEqual(reply.status, 200)
        self.assertEqual(self.e.control("GET", "requests")[-1]["path_segments"][4], "..")

    def test_dataset_merge_and_large_report(self) -> None:
        records = [{"emailAddress": f"user{i}@contoso.com", "totalAttendanceInSeconds": i,
                    "role": "Attendee", "identity": {"id": str(i), "displayName": f"U{i}",
                                                     "tenantId": None},
                    "attendanceIntervals": []} for i in range(10_000)]
        self.e.add_reports("big-user", "big-meeting", {"big": {"id": "big",
                                                               "attendanceRecords": records}})
        reply = self.e.get(report_path("big-user", "big-meeting", "big",
                                       "?$expand=attendanceRecords"), self.token)
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json()["attendanceRecords"], records)
        # Merging keeps what was there: the docs report is still served.
        self.assertEqual(self.e.get(report_path(), self.token).status, 200)

    def test_dataset_validation(self) -> None:
        for bad in ([], {"users": []}, {"users": {"u": {"meetings": {}}}},
                    {"users": {"u": {"onlineMeetings": {"m": {"attendanceReports": {"r": 5}}}}}},
                    {"users": {"u": {"onlineMeetings": {"m": {"attendanceReports": {
                        "r": {"attendanceRecords": {}}}}}}}}):
            with self.subTest(bad=bad):
                reply = self.e.call("POST", "/_emulator/dataset", json.dumps(bad).encode())
                self.assertEqual(reply.status, 400)
                self.assertIn("error", reply.json())
        self.assertEqual(self.e.call("POST", "/_emulator/dataset", b"{not json").status, 400)

    def test_counters_and_request_log(self) -> None:
        e = self.e
        e.token()
        e.token_request(client_secret="wrong")
        trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        e.get(report_path() + "?$expand=attendanceRecords", self.token,
              {"client-request-id": "rollcall-1", "traceparent": trace})
        e.get(report_path(report="missing"), self.token)
        e.get(report_path(report=REPORT2, tail="/attendanceRecords"), self.token)
        e.get(report_path(report=None), self.token)
        e.get(report_path())
        e.get("/favicon.ico")
        e.control("GET", "counters")  # control requests are never counted
        self.assertEqual(e.control("GET", "counters"), {
            "total": 8, "token": 2, "token_error": 1, "report": 3, "records": 1,
            "reports_list": 1, "meeting_lookup": 0, "virtual_event": 0, "unauthorized": 1,
            "forbidden": 0, "not_found": 2, "bad_request": 0, "method_not_allowed": 0,
            "fault": 0, "other": 1, "obo": 0, "obo_error": 0, "me": 0})
        log = e.control("GET", "requests")
        self.assertEqual([(x["method"], x["kind"], x["status"]) for x in log], [
            ("POST", "token", 200), ("POST", "token", 401), ("GET", "report", 200),
            ("GET", "report", 404), ("GET", "records", 200), ("GET", "reports_list", 200),
            ("GET", "report", 401), ("GET", "other", 404)])
        self.assertEqual(log[2]["query"], "$expand=attendanceRecords")
        self.assertEqual(log[2]["raw_path"], report_path())
        self.assertEqual(set(log[0]), {"method", "raw_path", "path_segments", "query", "kind",
                                       "status", "fault", "client_request_id", "traceparent"})
        self.assertEqual((log[2]["client_request_id"], log[2]["traceparent"]), ("rollcall-1", trace))
        self.assertEqual((log[3]["client_request_id"], log[3]["traceparent"]), (None, None))
        e.control("POST", "reset")
        self.assertEqual(set(e.control("GET", "counters").values()), {0})
        self.assertEqual(e.control("GET", "requests"), [])

    def test_request_log_keeps_the_last_1000(self) -> None:
        conn = self.e.connection()
        try:
            for i in range(1005):
                conn.request("GET", f"/n{i}")
                conn.getresponse().read()
        finally:
            conn.close()
        log = self.e.control("GET", "requests")
        self.assertEqual(len(log), 1000)
        self.assertEqual(log[0]["raw_path"], "/n5")
        self.assertEqual(self.e.control("GET", "counters")["total"], 1005)

    def test_keep_alive_reuses_the_connection(self) -> None:
        conn = self.e.connection()
        try:
            conn.request("POST", f"/{TENANT}/oauth2/v2.0/token", urllib.parse.urlencode({
                "client_id": CLIENT_ID, "client_secret": SECRET,
                "grant_type": "client_credentials", "scope": GRAPH_SCOPE}),
                {"Content-Type": "application/x-www-form-urlencoded"})
            token = json.loads(conn.getresponse().read())["access_token"]
            sock = conn.sock
            for path in (report_path(), report_path(report="missing"), report_path()):
                conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                response = conn.getresponse()
                response.read()
                self.assertIsNotNone(response.getheader("Content-Length"))
                self.assertIs(conn.sock, sock, "the server closed a keep-alive connection")
        finally:
            conn.close()

    def test_expect_100_continue(self) -> None:
        # curl sends "Expect: 100-continue" with larger POST bodies.
        body = json.dumps({"users": {"u100": {"onlineMeetings": {}}}, "_pad": "x" * 5000}).encode()
        conn = self.e.connection(timeout=5)
        try:
            conn.request("POST", "/_emulator/dataset", body,
                         {"Expect": "100-continue", "Content-Type": "application/json"})
            response = conn.getresponse()
            self.assertEqual(response.status, 200, response.read())
        finally:
            conn.close()

    def test_many_concurrent_connections(self) -> None:
        n = 150
        barrier = threading.Barrier(n)

        def one(_: int) -> int:
            conn = self.e.connection()
            try:
                conn.connect()  # every connection is open before any request is sent
                barrier.wait(timeout=60)
                conn.request("GET", report_path(),
                             headers={"Authorization": f"Bearer {self.token}"})
                response = conn.getresponse()
                response.read()
                return response.status
            finally:
                conn.close()

        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            statuses = list(pool.map(one, range(n)))
        self.assertEqual(statuses, [200] * n)
        self.assertEqual(self.e.control("GET", "counters")["report"], n)

    def test_malformed_requests_do_not_crash(self) -> None:
        for raw in (b"GARBAGE\r\n\r\n", b"GET /x\r\n\r\n",
                    b"GET /x HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
                    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"):
            with self.subTest(raw=raw[:40]):
                sock = socket.create_connection(("127.0.0.1", self.e.port), timeout=10)
                with self.e.context.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
                    tls.sendall(raw)
                    data = b""
                    while chunk := tls.recv(65536):
                        data += chunk
                self.assertRegex(data, rb"^HTTP/1\.[01] 4\d\d ")
                self.assertIn(b'"error"', data)
        # A client that is not speaking TLS at all gets no HTTP answer, and nothing breaks.
        with socket.create_connection(("127.0.0.1", self.e.port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    received += chunk
            self.assertFalse(received.startswith(b"HTTP/"), received)
        counters = self.e.control("GET", "counters")
        self.assertEqual((counters["total"], counters["bad_request"]), (4, 4))
        self.assertEqual(self.e.get(report_path(), self.token).status, 200)


# ----------------------------------------------------------------------------------------------

class PagingTest(EmulatorTestCase):
    ARGS = ("--records-page-size", "2")

    def test_expand_pages_and_next_links_walk_all_records(self) -> None:
        token = self.e.token()
        records = [{"emailAddress": f"p{i}@contoso.com", "totalAttendanceInSeconds": i}
                   for i in range(5)]
        meeting = "paged/meeting ?#%"
        self.e.add_reports(USER, meeting, {"rep": {"id": "rep", "attendanceRecords": records}})
        body = self.e.get(report_path(meeting=meeting, report="rep",
                                      tail="?$expand=attendanceRecords"), token).json()
        self.assertEqual(body["attendanceRecords"], records[:2])
        link = body["attendanceRecords@odata.nextLink"]
        self.assertTrue(link.startswith(self.e.url + "/v1.0/users/"), link)
        self.assertIn("/attendanceRecords?$skiptoken=", link)
        collected = list(body["attendanceRecords"])
        pages = 0
        while link:
            pages += 1
            self.assertTrue(link.startswith(self.e.url))
            page = self.e.get(link[len(self.e.url):], token).json()
            collected += page["value"]
            link = page.get("@odata.nextLink")
        self.assertEqual(pages, 2)
        self.assertEqual(collected, records)
        for entry in self.e.control("GET", "requests")[-2:]:
            self.assertEqual(entry["kind"], "records")
            self.assertEqual(entry["path_segments"][4], meeting)

    def test_records_list_pages_from_the_start(self) -> None:
        token = self.e.token()
        body = self.e.get(report_path(report=REPORT2, tail="/attendanceRecords"), token).json()
        self.assertEqual(len(body["value"]), 2)
        self.assertNotIn("@odata.nextLink", body)  # exactly one full page
        body = self.e.get(report_path(tail="?$expand=attendanceRecords"), token).json()
        self.assertNotIn("attendanceRecords@odata.nextLink", body)


class LatencyTest(EmulatorTestCase):
    ARGS = ("--latency-ms", "600")

    def test_latency_applies_to_graph_only(self) -> None:
        started = time.monotonic()
        token = self.e.token()
        self.assertLess(time.monotonic() - started, 0.6)
        started = time.monotonic()
        self.assertEqual(self.e.get(report_path(), token).status, 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.6)


# ----------------------------------------------------------------------------------------------

class FaultTest(EmulatorTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.token = self.e.token()
        self.e.control("POST", "reset")

    def faults(self, *specs: dict) -> list:
        return self.e.control("POST", "faults", list(specs))["faults"]

    def test_429_with_retry_after_then_success(self) -> None:
        sample = example("graph-error-429-throttling.json")
        self.faults({"kind": "report", "count": 1, "status": 429, "retry_after": "2.128"})
        reply = self.e.get(report_path(), self.token)
        self.assertEqual(reply.status, 429)
        self.assertEqual(reply.headers["Retry-After"], "2.128")
        body = reply.json()
        self.assertEqual(set(body["error"]), set(sample["error"]))
        self.assertEqual(set(body["error"]["innerError"]), set(sample["error"]["innerError"]))
        self.assertEqual(body["error"]["code"], "TooManyRequests")
        self.assertEqual(body["error"]["message"], sample["error"]["message"])
        self.assertEqual(body["error"]["innerError"]["request-id"], reply.headers["request-id"])
        self.assertNotEqual(body["error"]["innerError"]["request-id"],
                            sample["error"]["innerError"]["request-id"])
        self.assertEqual(self.e.get(report_path(), self.token).status, 200)
        counters = self.e.control("GET", "counters")
        self.assertEqual((counters["report"], counters["fault"]), (2, 1))
        self.assertEqual([x["fault"] for x in self.e.control("GET", "requests")], ["status", None])

    def test_faults_apply_in_registration_order(self) -> None:
        self.faults({"kind": "report", "status": 503, "retry_after": "1"},
                    {"kind": "any", "status": 504, "count": 2},
                    {"kind": "report", "status": 429})
        statuses = [self.e.get(report_path(), self.token).status for _ in range(5)]
        self.assertEqual(statuses, [503, 504, 504, 429, 200])
        self.assertEqual(self.e.control("GET", "faults"), [])

    def test_503_and_504_bodies(self) -> None:
        self.faults({"status": 503, "retry_after": "7"}, {"status": 504})
        reply = self.e.get(report_path(), self.token)
        self.assertEqual(reply.headers["Retry-After"], "7")
        self.assertGraphError(reply, 503, "serviceNotAvailable")
        self.assertGraphError(self.e.get(report_path(), self.token), 504, "generalException")

    def test_401_refuses_every_token_in_graphs_words(self) -> None:
        # What "Graph refuses every token" looks like: fresh tokens are refused too, the token
        # endpoint is untouched, and the body and challenge are Graph's own for a 401.
        self.faults({"kind": "graph", "status": 401, "seconds": 60})
        for token in (self.token, self.e.token(), self.e.token()):
            reply = self.e.get(report_path(), token)
            error = self.assertGraphError(reply, 401, "InvalidAuthenticationToken")
            self.assertEqual(error["message"],
                             "Access token validation failure. Invalid audience.")
            self.assertIn("Bearer", reply.headers["WWW-Authenticate"])
            self.assertNotIn(token, reply.body.decode())
        self.assertEqual(self.e.get(report_path(tail="/attendanceRecords"), self.token).status,
                         401)
        counters = self.e.control("GET", "counters")
        self.assertEqual((counters["token"], counters["token_error"]), (2, 0))
        self.assertEqual((counters["report"], counters["records"], counters["fault"]), (3, 1, 4))
        self.assertEqual(counters["unauthorized"], 0)  # injected, not the emulator's own check
        self.assertEqual(self.e.control("DELETE", "faults"), {"cleared": 1})
        self.assertEqual(self.e.get(report_path(), self.token).status, 200)

    def test_path_and_kind_filters(self) -> None:
        self.faults({"path_contains": "no-such-thing", "status": 500},
                    {"kind": "records", "status": 500})
        self.assertEqual(self.e.get(report_path(), self.token).status, 200)
        self.assertEqual(self.e.token_request().status, 200)
        self.assertEqual(len(self.e.control("GET", "faults")), 2)
        self.faults({"path_contains": f"attendanceReports/{REPORT}", "status": 502})
        self.assertEqual(self.e.get(report_path(report=REPORT2), self.token).status, 200)
        self.assertEqual(self.e.get(report_path(), self.token).status, 502)

    def test_token_fault_has_identity_platform_body(self) -> None:
        self.faults({"kind": "token", "status": 429, "retry_after": "3"})
        self.assertEqual(self.e.get(report_path(), self.token).status, 200)
        reply = self.e.token_request()
        self.assertEqual(reply.status, 429)
        self.assertEqual(reply.headers["Retry-After"], "3")
        self.assertEqual(reply.json()["error"], "temporarily_unavailable")
        self.assertEqual(self.e.token_request().status, 200)
        counters = self.e.control("GET", "counters")
        self.assertEqual((counters["token"], counters["token_error"]), (2, 1))

    def test_time_bounded_fault_and_delete(self) -> None:
        self.faults({"seconds": 60, "status": 500, "body": '{"custom":true}'})
        for _ in range(3):
            reply = self.e.get(report_path(), self.token)
            self.assertEqual((reply.status, reply.json()), (500, {"custom": True}))
        self.assertEqual(self.e.control("DELETE", "faults"), {"cleared": 1})
        self.assertEqual(self.e.get(report_path(), self.token).status, 200)

    def test_wait_for_active_faults_blocks_until_a_request_takes_the_fault(self) -> None:
        self.faults({"kind": "report", "status": 503})
        result = {}
        waiter = threading.Thread(target=lambda: result.update(
            self.e.control("POST", "faults/wait", {"active": 0, "timeout_ms": 30000})))
        waiter.start()
        self.assertEqual(self.e.get(report_path(), self.token).status, 503)
        waiter.join()
        self.assertEqual(result, {"reached": True, "active": 0})
        # A count never reached answers at its timeout; 0 ms answers at once.
        self.assertEqual(self.e.control("POST", "faults/wait", {"active": 3, "timeout_ms": 0}),
                         {"reached": False, "active": 0})
        # A time-bounded fault leaves when its time is up, which wakes the waiter.
        self.faults({"seconds": 0.2, "status": 500})
        self.assertEqual(self.e.control("POST", "faults/wait", {"active": 0, "timeout_ms": 30000}),
                         {"reached": True, "active": 0})
        for spec in ({}, {"active": "1"}, {"active": 0, "timeout_ms": -1}):
            with self.subTest(spec=spec):
                reply = self.e.call("POST", "/_emulator/faults/wait", json.dumps(spec).encode())
                self.assertEqual(reply.status, 400, reply.body)

    def test_invalid_fault_specs(self) -> None:
        for spec in ({"action": "explode"}, {"kind": "nope"}, {"count": 0}, {"status": 42},
                     {"count": 1, "seconds": 1}, {"colour": "red"}, "nope"):
            with self.subTest(spec=spec):
                reply = self.e.call("POST", "/_emulator/faults", json.dumps(spec).encode())
                self.assertEqual(reply.status, 400, reply.body)
        self.assertEqual(self.e.control("GET", "faults"), [])

    def test_delay(self) -> None:
        self.faults({"action": "delay", "delay_ms": 300})
        started = time.monotonic()
        reply = self.e.get(report_path(), self.token)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json()["id"], REPORT)

    def test_reset(self) -> None:
        self.faults({"action": "reset", "count": 2})
        # Python's ssl module reports a TCP RST under TLS as an unexpected EOF; PlaintextFaultTest
        # checks the RST itself. Here: no byte of a response arrives.
        sock = socket.create_connection(("127.0.0.1", self.e.port), timeout=10)
        with self.e.context.wrap_socket(sock, server_hostname="127.0.0.1",
                                        suppress_ragged_eofs=False) as tls:
            tls.sendall(f"GET {report_path()} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            with self.assertRaises((ConnectionResetError, ssl.SSLEOFError)):
                tls.recv(65536)
        if shutil.which("curl"):  # libcurl, the service's client, sees a reset
            result = subprocess.run(["curl", "-sS", "--cacert", self.e.ca,
                                     self.e.url + report_path()],
                                    capture_output=True, text=True, timeout=30)
            self.assertEqual(result.returncode, 56, result.stderr)
            self.assertIn("reset by peer", result.stderr)
        else:
            self.e.get("/consume-the-second-fault")
        self.assertEqual(self.e.get(report_path(), self.token).status, 200)
        log = self.e.control("GET", "requests")
        self.assertEqual([(x["fault"], x["status"]) for x in log],
                         [("reset", None), ("reset", None), (None, 200)])

    def test_truncate(self) -> None:
        self.faults({"action": "truncate"})
        conn = self.e.connection()
        try:
            conn.request("GET", report_path() + "?$expand=attendanceRecords",
                         headers={"Authorization": f"Bearer {self.token}"})
            response = conn.getresponse()
            self.assertEqual(response.status, 200)
            promised = int(response.getheader("Content-Length"))
            with self.assertRaises(http.client.IncompleteRead) as caught:
                response.read()
            self.assertEqual(len(caught.exception.partial), promised // 2)
        finally:
            conn.close()

    def test_oversize(self) -> None:
        for chunked in (False, True):
            with self.subTest(chunked=chunked):
                self.faults({"action": "oversize", "size_bytes": 3_000_000, "chunked": chunked})
                conn = self.e.connection()
                try:
                    conn.request("GET", report_path(),
                                 headers={"Authorization": f"Bearer {self.token}"})
                    response = conn.getresponse()
                    self.assertEqual(response.status, 200)
                    if chunked:
                        self.assertEqual(response.getheader("Transfer-Encoding"), "chunked")
                    else:
                        self.assertEqual(response.getheader("Content-Length"), "3000000")
                    body = response.read()
                    self.assertEqual(len(body), 3_000_000)
                    self.assertEqual(json.loads(body)["value"], [])
                finally:
                    conn.close()
        # The default size is 100 MiB; a client that stops reading early just closes.
        self.faults({"action": "oversize"})
        conn = self.e.connection()
        try:
            conn.request("GET", report_path(), headers={"Authorization": f"Bearer {self.token}"})
            response = conn.getresponse()
            self.assertEqual(response.getheader("Content-Length"), str(100 * 1024 * 1024))
            self.assertEqual(response.read(100), b'{"padding":"' + b"a" * 88)
        finally:
            conn.close()
        self.assertEqual(self.e.get(report_path(), self.token).status, 200)

    def test_html(self) -> None:
        self.faults({"action": "html"})
        reply = self.e.get(report_path(), self.token)
        self.assertEqual(reply.status, 200)
        self.assertTrue(reply.headers["Content-Type"].startswith("text/html"))
        self.assertIn(b"<html>", reply.body)


class PlaintextFaultTest(EmulatorTestCase):
    PLAINTEXT = True

    def test_reset_is_a_tcp_rst(self) -> None:
        self.e.control("POST", "faults", {"action": "reset", "kind": "any"})
        with socket.create_connection(("127.0.0.1", self.e.port), timeout=10) as sock:
            sock.sendall(b"GET /v1.0/users/u/onlineMeetings/m/attendanceReports/r HTTP/1.1\r\n"
                         b"Host: x\r\n\r\n")
            with self.assertRaises(ConnectionResetError):
                sock.recv(65536)  # an orderly close would return b"" instead

    def test_token_and_report_over_http(self) -> None:
        reply = self.e.get(report_path(tail="?$expand=attendanceRecords"), self.e.token())
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json()["attendanceRecords"][0]["emailAddress"],
                         "frederick.cormier@contoso.com")


# ----------------------------------------------------------------------------------------------
# API versions, virtual event sessions, the JoinWebUrl lookup, permissions, the list cap and
# generated reports.

class ApiVersionTest(EmulatorTestCase):

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.token = cls.emulator.token()

    def test_beta_serves_every_path_under_its_own_context(self) -> None:
        # The beta list sample is the v1.0 one with /beta/ in its context.
        self.assertEqual(self.e.get(report_path(report=None).replace("/v1.0/", "/beta/"),
                                    self.token).json(),
                         example("list-meetingattendancereports-beta.json"))
        for path in (report_path(tail="?$expand=attendanceRecords"),
                     report_path(report=REPORT2, tail="/attendanceRecords"),
                     session_path(), session_path(report=None),
                     session_path(tail="/attendanceRecords"),
                     lookup_path(USER, JOIN_URL)):
            with self.subTest(path=path):
                v1 = self.e.get(path, self.token).json()
                beta = self.e.get(path.replace("/v1.0/", "/beta/", 1), self.token).json()
                self.assertTrue(v1["@odata.context"].startswith(
                    "https://graph.microsoft.com/v1.0/$metadata#"), v1["@odata.context"])
                self.assertEqual(beta["@odata.context"],
                                 v1["@odata.context"].replace("/v1.0/", "/beta/"))
                del v1["@odata.context"], beta["@odata.context"]
                self.assertEqual(v1, beta)
        log = self.e.control("GET", "requests")
        self.assertEqual([x["path_segments"][0] for x in log][-2:], ["v1.0", "beta"])

    def test_engagements_are_beta_only_and_unknown_properties_survive(self) -> None:
        stored = json.loads((HERE / "dataset.json").read_text(encoding="utf-8"))
        records = stored["virtualEvents"]["townhalls"][TOWNHALL]["sessions"][
            TOWNHALL_SESSION]["attendanceReports"][TOWNHALL_REPORT]["attendanceRecords"]
        self.assertTrue(any(r.get("engagements") for r in records))
        for tail in ("/attendanceRecords", "?$expand=attendanceRecords"):
            with self.subTest(tail=tail):
                key = "value" if tail == "/attendanceRecords" else "attendanceRecords"
                path = session_path("townhalls", TOWNHALL, TOWNHALL_SESSION, TOWNHALL_REPORT, tail)
                beta = self.e.get(path.replace("/v1.0/", "/beta/"), self.token).json()[key]
                self.assertEqual(beta, records)
                v1 = self.e.get(path, self.token).json()[key]
                self.assertEqual(v1, [{k: v for k, v in r.items() if k != "engagements"}
                                      for r in records])
                self.assertEqual(v1[2]["futureProperty"], {"a": 1})
                self.assertIsNone(v1[2]["attendanceIntervals"][0]["leaveDateTime"])
        # registrantId, beta-listed but in the v1.0 docs sample, is served on v1.0 as stored.
        v1 = self.e.get(session_path(tail="/attendanceRecords"), self.token).json()["value"]
        self.assertEqual(v1, example("list-attendancerecords-v1.0-webinar-session.json")["value"])
        self.assertIn("registrantId", v1[0])


class VirtualEventTest(EmulatorTestCase):

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.token = cls.emulator.token()

    def test_webinar_report_matches_docs_example_exactly(self) -> None:
        sample = example("get-meetingattendancereport-v1.0-webinar-session.json")
        reply = self.e.get(session_path(), self.token)
        self.assertEqual(reply.status, 200, reply.body)
        self.assertEqual(reply.json(), sample)
        self.assertEqual(list(reply.json()), list(sample))

    def test_webinar_records_list_and_expand(self) -> None:
        records = example("list-attendancerecords-v1.0-webinar-session.json")["value"]
        body = self.e.get(session_path(tail="/attendanceRecords"), self.token).json()
        self.assertEqual(body, {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#solutions/virtualEvents"
                              f"/webinars('{WEBINAR}')/sessions('{WEBINAR_SESSION}')"
                              f"/attendanceReports('{WEBINAR_REPORT}')/attendanceRecords",
            "value": records})
        body = self.e.get(session_path(tail="?$expand=attendanceRecords"), self.token).json()
        self.assertEqual(body["attendanceRecords"], records)
        self.assertEqual(list(body)[-1], "attendanceRecords")

    def test_list_reports_of_a_session(self) -> None:
        body = self.e.get(session_path(report=None), self.token).json()
        sample = example("get-meetingattendancereport-v1.0-webinar-session.json")
        self.assertEqual(body["@odata.context"],
                         "https://graph.microsoft.com/v1.0/$metadata#solutions/virtualEvents"
                         f"/webinars('{WEBINAR}')/sessions('{WEBINAR_SESSION}')/attendanceReports")
        del sample["@odata.context"]
        self.assertEqual(body["value"], [{**sample, "attendanceRecords": []}])
        body = self.e.get(session_path("townhalls", TOWNHALL, TOWNHALL_SESSION, None),
                          self.token).json()
        self.assertEqual([r["id"] for r in body["value"]], [TOWNHALL_REPORT])
        self.assertEqual(body["value"][0]["externalEventInformation"],
                         [{"applicationId": "d6b7e7c5-8f2a-4c3e-9b1d-2a4f6e8c0b13",
                           "externalEventId": "fabrikam-townhall-2024-q1"}])
        self.assertEqual(body["value"][0]["attendanceRecords"], [])

    def test_town_hall_report(self) -> None:
        body = self.e.get(session_path("townhalls", TOWNHALL, TOWNHALL_SESSION, TOWNHALL_REPORT,
                                       version="beta"), self.token).json()
        self.assertEqual(body["@odata.context"],
                         "https://graph.microsoft.com/beta/$metadata#solutions/virtualEvents"
                         f"/townhalls('{TOWNHALL}')/sessions('{TOWNHALL_SESSION}')"
                         f"/attendanceReports('{TOWNHALL_REPORT}')")
        self.assertEqual(body["totalParticipantCount"], 3)
        self.assertNotIn("attendanceRecords", body)

    def test_not_found_names_what_is_missing(self) -> None:
        cases = [
            (session_path(event="nope"), "The specified webinar was not found."),
            (session_path("townhalls", event="nope"), "The specified town hall was not found."),
            (session_path(session="nope", report=None), "The specified session was not found."),
            (session_path(report="nope", tail="/attendanceRecords"),
             "The specified attendance report was not found."),
            # A webinar's IDs are not a town hall's.
            (session_path("townhalls"), "The specified town hall was not found."),
        ]
        for path, message in cases:
            with self.subTest(path=path):
                error = self.assertGraphError(self.e.get(path, self.token), 404, "NotFound")
                self.assertEqual(error["message"], message)
        counters = self.e.control("GET", "counters")
        self.assertEqual((counters["not_found"], counters["virtual_event"]), (5, 5))

    def test_other_virtual_event_paths_are_bad_requests(self) -> None:
        for path, segment in (
                ("/v1.0/solutions/virtualEvents/events/e/sessions/s/attendanceReports", "events"),
                ("/v1.0/solutions/virtualEvents/webinars/e/sessions/s", "s"),
                ("/v1.0/solutions/virtualEvents/webinars/e/registrations/s/attendanceReports",
                 "registrations"),
                (session_path(tail="/attendanceRecords/x"), "x"),
                ("/v1.0/solutions/bookingBusinesses", "bookingBusinesses")):
            with self.subTest(path=path):
                error = self.assertGraphError(self.e.get(path, self.token), 400, "BadRequest")
                self.assertEqual(error["message"],
                                 f"Resource not found for the segment '{segment}'.")
        # Literal segments match in any case, as the other Graph paths do.
        self.assertEqual(self.e.get(session_path().replace("virtualEvents", "VIRTUALEVENTS")
                                    .replace("webinars", "Webinars"), self.token).status, 200)

    def test_counters_and_log(self) -> None:
        self.e.get(session_path(report=None), self.token)
        self.e.get(session_path(), self.token)
        self.e.get(session_path(tail="/attendanceRecords"), self.token)
        self.e.get(session_path("townhalls", TOWNHALL, TOWNHALL_SESSION, None), self.token)
        self.e.get(report_path(report=None), self.token)
        counters = self.e.control("GET", "counters")
        self.assertEqual({k: counters[k] for k in ("reports_list", "report", "records",
                                                    "virtual_event", "total")},
                         {"reports_list": 3, "report": 1, "records": 1, "virtual_event": 4,
                          "total": 5})
        log = self.e.control("GET", "requests")
        self.assertEqual([x["kind"] for x in log],
                         ["reports_list", "report", "records", "reports_list", "reports_list"])
        self.assertEqual(log[1]["path_segments"],
                         ["v1.0", "solutions", "virtualEvents", "webinars", WEBINAR, "sessions",
                          WEBINAR_SESSION, "attendanceReports", WEBINAR_REPORT])

    def test_hostile_ids_round_trip_as_one_segment(self) -> None:
        ids = ["a/b", "../../v1.0/users", "what?$expand=x", "frag#ment", "100%", "%2F%3F",
               "with space", "..", ".", "", "ünï/cødé 会议", "MSo+/==", "it's", "e@t"]
        for source in ("webinars", "townhalls"):
            for i, value in enumerate(ids):
                # The hostile value as event, session and report ID at once.
                self.e.add_session_reports(source, value, value, {value: {
                    "totalParticipantCount": i, "attendanceRecords": [{"emailAddress": value}]}})
        self.e.control("POST", "reset")
        quoted = {v: v.replace("'", "''") for v in ids}
        for source in ("webinars", "townhalls"):
            for i, value in enumerate(ids):
                with self.subTest(source=source, id=value):
                    body = self.e.get(session_path(source, value, value, value,
                                                   "?$expand=attendanceRecords"),
                                      self.token).json()
                    self.assertEqual((body["id"], body["totalParticipantCount"]), (value, i))
                    self.assertEqual(body["attendanceRecords"], [{"emailAddress": value}])
                    self.assertEqual(body["@odata.context"],
                                     "https://graph.microsoft.com/v1.0/$metadata#solutions/"
                                     f"virtualEvents/{source}('{quoted[value]}')/sessions("
                                     f"'{quoted[value]}')/attendanceReports('{quoted[value]}')")
                    body = self.e.get(session_path(source, value, value, None), self.token).json()
                    self.assertEqual([r["id"] for r in body["value"]], [value])
        log = self.e.control("GET", "requests")
        self.assertEqual(len(log), 4 * len(ids))
        for entry in log[::2]:
            segments = entry["path_segments"]
            self.assertEqual(len(segments), 9)
            self.assertEqual(segments[4], segments[6])
            self.assertEqual(segments[6], segments[8])


class MeetingLookupTest(EmulatorTestCase):

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.token = cls.emulator.token()

    def test_docs_join_link_resolves_lists_and_gets(self) -> None:
        sample = example("get-onlinemeeting-by-joinweburl-msteams-docs.json")
        join_url = sample["value"][0]["joinWebUrl"]
        # %3a in the join URL goes out as %253a: encoded once more inside the quotes (§3).
        path = lookup_path(USER2, join_url)
        self.assertIn("%253ameeting_", path)
        reply = self.e.get(path, self.token)
        self.assertEqual(reply.status, 200, reply.body)
        self.assertEqual(reply.json(), sample)
        self.assertEqual(reply.headers["Content-Type"], "application/json; odata.metadata=minimal")
        meeting_id = reply.json()["value"][0]["id"]
        self.assertEqual(meeting_id, MEETING2)
        reports = self.e.get(report_path(USER2, meeting_id, None), self.token).json()["value"]
        self.assertEqual([r["id"] for r in reports], [REPORT3])
        body = self.e.get(report_path(USER2, meeting_id, reports[0]["id"],
                                      "?$expand=attendanceRecords"), self.token).json()
        self.assertEqual(len(body["attendanceRecords"]), body["totalParticipantCount"])
        self.assertEqual(body["attendanceRecords"][0]["identity"]["id"], USER2)
        log = self.e.control("GET", "requests")
        self.assertEqual([x["kind"] for x in log], ["meeting_lookup", "reports_list", "report"])
        self.assertEqual(log[0]["path_segments"], ["v1.0", "users", USER2, "onlineMeetings"])
        self.assertTrue(log[0]["query"].startswith("$filter=JoinWebUrl%20eq%20%27https%3A%2F%2F"))

    def test_the_demo_meetings_join_link(self) -> None:
        body = self.e.get(lookup_path(USER, JOIN_URL), self.token).json()
        self.assertEqual(body["@odata.context"],
                         f"https://graph.microsoft.com/v1.0/$metadata#users('{USER}')"
                         "/onlineMeetings")
        meeting = body["value"][0]
        self.assertEqual(meeting["id"], MEETING)
        self.assertEqual(meeting["joinWebUrl"], JOIN_URL)
        self.assertEqual(meeting["participants"]["organizer"]["identity"]["user"]["id"], USER)
        self.assertEqual(meeting["chatInfo"]["threadId"],
                         "19:meeting_ZGMxNzY3NGMtODFkOS00YWRiLWJmYjItOGY2YTQ0MmU0NjIz@thread.v2")
        self.assertEqual(list(meeting)[0], "id")

    def test_encodings_and_property_name_case(self) -> None:
        sample = example("get-onlinemeeting-by-joinweburl-msteams-docs.json")
        join_url = sample["value"][0]["joinWebUrl"]
        for prop, safe in (("JoinWebUrl", ""), ("JoinWebUrl", "'"), ("joinWebUrl", "'"),
                           ("JOINWEBURL", ""), ("joinweburl", "'")):
            with self.subTest(prop=prop, safe=safe):
                path = lookup_path(USER2, join_url, prop=prop, safe=safe)
                self.assertEqual(self.e.get(path, self.token).json(), sample)
        # Spaces may be "+" in a query (form encoding), and whitespace around the clause is fine.
        path = (f"/v1.0/users/{USER2}/onlineMeetings?%24filter=+JoinWebUrl+eq+%27"
                + urllib.parse.quote(join_url, safe="") + "%27+")
        self.assertEqual(self.e.get(path, self.token).json(), sample)
        # Not encoded inside the quotes: %3a arrives as ":", which is another URL: no meeting.
        path = f"/v1.0/users/{USER2}/onlineMeetings?$filter=JoinWebUrl%20eq%20'{join_url}'"
        body = self.e.get(path, self.token).json()
        self.assertEqual(body["value"], [])

    def test_join_url_with_quote_ampersand_hash_plus(self) -> None:
        hostile = ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_X%40thread.v2/0?"
                   "context=%7b%22Tid%22%3a%22t%22%7d&a=b+c#frag'it''s ünï %2B")
        self.e.control("POST", "dataset", {"users": {"hostile-user": {"onlineMeetings": {
            "m-hostile": {"onlineMeeting": {"joinWebUrl": hostile, "subject": "it's"}},
            "m-other": {"onlineMeeting": {"joinWebUrl": hostile + "x"}}}}}})
        body = self.e.get(lookup_path("hostile-user", hostile), self.token).json()
        self.assertEqual(body["value"], [{"id": "m-hostile", "joinWebUrl": hostile,
                                          "subject": "it's"}])
        # '+' left raw is a space once decoded, so the URL differs: no meeting.
        body = self.e.get(lookup_path("hostile-user", hostile, safe="+"), self.token).json()
        self.assertEqual(body["value"], [])
        # '&' or '#' left raw cut the filter: its literal never closes.
        for raw in ("&", "#"):
            with self.subTest(raw=raw):
                error = self.assertGraphError(
                    self.e.get(lookup_path("hostile-user", hostile, safe=raw), self.token),
                    400, "BadRequest")
                self.assertTrue(error["message"].startswith("Invalid filter clause"),
                                error["message"])
        # A quote that is not doubled ends the literal early.
        path = (f"/v1.0/users/hostile-user/onlineMeetings?$filter="
                + urllib.parse.quote(f"JoinWebUrl eq '{hostile}'", safe=""))
        error = self.assertGraphError(self.e.get(path, self.token), 400, "BadRequest")
        self.assertIn("unexpected text after the string literal", error["message"])

    def test_no_match_is_an_empty_collection(self) -> None:
        for user, url in ((USER, JOIN_URL + "x"), (USER2, JOIN_URL), (USER, ""),
                          (USER, JOIN_URL.upper())):
            with self.subTest(user=user, url=url):
                reply = self.e.get(lookup_path(user, url), self.token)
                self.assertEqual(reply.status, 200)
                self.assertEqual(reply.json(), {
                    "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{user}')"
                                      "/onlineMeetings",
                    "value": []})

    def test_join_meeting_id_filter(self) -> None:
        path = (f"/v1.0/users/{USER}/onlineMeetings?$filter="
                + urllib.parse.quote("joinMeetingIdSettings/joinMeetingId eq '3141592653'"))
        self.assertEqual([m["id"] for m in self.e.get(path, self.token).json()["value"]],
                         [MEETING])

    def test_bad_filters(self) -> None:
        base = f"/v1.0/users/{USER}/onlineMeetings"
        cases = [
            (base, "fake_graph lists a user's onlineMeetings only with $filter"),
            (base + "?$top=1", "fake_graph lists a user's onlineMeetings only with $filter"),
            (base + "?$filter=" + urllib.parse.quote("subject eq 'x'"),
             "Invalid filter clause: fake_graph filters onlineMeetings only on JoinWebUrl"),
            (base + "?$filter=" + urllib.parse.quote("JoinWebUrl eq x"),
             "Invalid filter clause: expected"),
            (base + "?$filter=" + urllib.parse.quote("JoinWebUrl EQ 'x'"),
             "Invalid filter clause: expected"),
            (base + "?$filter=" + urllib.parse.quote("JoinWebUrl eq 'x' and subject eq 'y'"),
             "Invalid filter clause: unexpected text"),
            (base + "?$filter=" + urllib.parse.quote("JoinWebUrl eq 'x"),
             "Invalid filter clause: the string literal has no closing quote"),
            (base + "?$filter=" + urllib.parse.quote("startswith(JoinWebUrl,'x')"),
             "Invalid filter clause: expected"),
            (base + "?$filter=a&%24filter=b", "Query option '%24filter' was specified more"),
        ]
        for path, message in cases:
            with self.subTest(path=path):
                error = self.assertGraphError(self.e.get(path, self.token), 400, "BadRequest")
                self.assertIn(message.replace("%24", "$"), error["message"])
        counters = self.e.control("GET", "counters")
        self.assertEqual((counters["meeting_lookup"], counters["bad_request"]),
                         (len(cases), len(cases)))

    def test_unknown_user_me_and_methods(self) -> None:
        error = self.assertGraphError(self.e.get(lookup_path("nobody", JOIN_URL), self.token),
                                      404, "NotFound")
        self.assertEqual(error["message"], "The specified user was not found.")
        error = self.assertGraphError(
            self.e.get(lookup_path("x", JOIN_URL).replace("/users/x/", "/me/"), self.token),
            400, "BadRequest")
        self.assertIn("/me request", error["message"])
        reply = self.e.call("POST", f"/v1.0/users/{USER}/onlineMeetings", b"{}",
                            {"Authorization": f"Bearer {self.token}"})
        self.assertGraphError(reply, 405, "BadRequest")
        self.assertGraphError(self.e.get(lookup_path(USER, JOIN_URL)), 401,
                              "InvalidAuthenticationToken")
        self.assertEqual(self.e.control("GET", "counters")["meeting_lookup"], 4)

    def test_hostile_user_ids(self) -> None:
        ids = ["a/b", "..", ".", "", "it's", "what?$filter=x", "frag#ment", "ünï 会议", "%2F"]
        for i, user in enumerate(ids):
            self.e.control("POST", "dataset", {"users": {user: {"onlineMeetings": {
                f"m{i}": {"onlineMeeting": {"joinWebUrl": f"https://join/{i}"}}}}}})
        for i, user in enumerate(ids):
            with self.subTest(user=user):
                body = self.e.get(lookup_path(user, f"https://join/{i}"), self.token).json()
                self.assertEqual(body["value"],
                                 [{"id": f"m{i}", "joinWebUrl": f"https://join/{i}"}])
                self.assertEqual(body["@odata.context"],
                                 "https://graph.microsoft.com/v1.0/$metadata#users("
                                 f"'{user.replace(chr(39), chr(39) * 2)}')/onlineMeetings")
        self.assertEqual([x["path_segments"][2] for x in self.e.control("GET", "requests")], ids)

    def test_dataset_validation_of_online_meetings(self) -> None:
        for bad in ({"onlineMeeting": []}, {"onlineMeeting": {"id": "other"}},
                    {"onlineMeeting": {"joinWebUrl": 5}}, {"meeting": {}}):
            with self.subTest(bad=bad):
                reply = self.e.call("POST", "/_emulator/dataset", json.dumps(
                    {"users": {"u": {"onlineMeetings": {"m": bad}}}}).encode())
                self.assertEqual(reply.status, 400, reply.body)
        # A meeting's onlineMeeting may be replaced.
        self.e.control("POST", "dataset", {"users": {"u9": {"onlineMeetings": {
            "m": {"onlineMeeting": {"joinWebUrl": "https://one"}}}}}})
        self.e.control("POST", "dataset", {"users": {"u9": {"onlineMeetings": {
            "m": {"onlineMeeting": {"joinWebUrl": "https://two"}}}}}})
        self.assertEqual(self.e.get(lookup_path("u9", "https://one"), self.token).json()["value"],
                         [])
        self.assertEqual(len(self.e.get(lookup_path("u9", "https://two"),
                                        self.token).json()["value"]), 1)


class PermissionTest(EmulatorTestCase):
    ARGS = ("--app-permissions", ARTIFACT)

    def setUp(self) -> None:
        super().setUp()
        self.e.control("POST", "permissions", {"app_permissions": [ARTIFACT],
                                               "issued_tokens": True})

    def assertForbidden(self, reply: Reply) -> None:
        error = self.assertGraphError(reply, 403, "Forbidden")
        self.assertEqual(error["message"], FORBIDDEN_MESSAGE)

    def test_lookup_needs_online_meetings_read_all(self) -> None:
        token = self.e.token()
        self.assertEqual(self.e.control("GET", "permissions"), {"app_permissions": [ARTIFACT]})
        self.assertForbidden(self.e.get(lookup_path(USER, JOIN_URL), token))
        self.assertForbidden(self.e.get(lookup_path("nobody", JOIN_URL), token))  # before 404
        self.assertEqual(self.e.get(report_path(), token).status, 200)
        self.assertEqual(self.e.get(session_path(), token).status, 200)
        counters = self.e.control("GET", "counters")
        self.assertEqual((counters["forbidden"], counters["meeting_lookup"]), (2, 2))
        self.assertEqual([x["status"] for x in self.e.control("GET", "requests")][-4:],
                         [403, 403, 200, 200])

    def test_tokens_keep_the_permissions_they_were_issued_with(self) -> None:
        old = self.e.token()
        answer = self.e.control("POST", "permissions", {"app_permissions": [MEETINGS_READ]})
        self.assertEqual(answer, {"app_permissions": [MEETINGS_READ], "issued_tokens": False})
        new = self.e.token()
        self.assertForbidden(self.e.get(lookup_path(USER, JOIN_URL), old))
        self.assertEqual(self.e.get(report_path(), old).status, 200)
        self.assertEqual(self.e.get(lookup_path(USER, JOIN_URL), new).status, 200)
        # Without the artifact permission every attendance path is 403, before any lookup.
        for path in (report_path(), report_path(report=None),
                     report_path(tail="/attendanceRecords"),
                     report_path(user="nobody"), session_path(), session_path(report=None),
                     session_path("townhalls", TOWNHALL, TOWNHALL_SESSION, TOWNHALL_REPORT,
                                  "/attendanceRecords", "beta")):
            with self.subTest(path=path):
                self.assertForbidden(self.e.get(path, new))
        # 401 still comes first.
        self.assertGraphError(self.e.get(report_path()), 401, "InvalidAuthenticationToken")
        # issued_tokens: the change applies to the tokens already issued too.
        self.e.control("POST", "permissions", {"app_permissions": [], "issued_tokens": True})
        self.assertForbidden(self.e.get(lookup_path(USER, JOIN_URL), new))
        self.assertForbidden(self.e.get(report_path(), old))

    def test_read_write_also_grants_the_lookup(self) -> None:
        self.e.control("POST", "permissions",
                       {"app_permissions": ["OnlineMeetings.ReadWrite.All", ARTIFACT]})
        token = self.e.token()
        self.assertEqual(self.e.get(lookup_path(USER, JOIN_URL), token).status, 200)
        self.assertEqual(self.e.get(report_path(), token).status, 200)

    def test_invalid_permission_requests(self) -> None:
        for spec in ({"app_permissions": ["OnlineMeetings.Read"]}, {"app_permissions": "x"},
                     {}, {"app_permissions": [], "issued_tokens": "yes"},
                     {"app_permissions": [], "extra": 1}, []):
            with self.subTest(spec=spec):
                reply = self.e.call("POST", "/_emulator/permissions", json.dumps(spec).encode())
                self.assertEqual(reply.status, 400, reply.body)
        self.assertEqual(self.e.call("DELETE", "/_emulator/permissions").status, 405)
        self.assertEqual(self.e.control("GET", "permissions"), {"app_permissions": [ARTIFACT]})

    def test_command_line(self) -> None:
        result = subprocess.run([sys.executable, str(SCRIPT), "--listen", "127.0.0.1:0",
                                 "--plaintext", "--app-permissions", "Calendars.Read"],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual((result.returncode, result.stdout), (2, ""))
        self.assertIn("unknown permission 'Calendars.Read'", result.stderr)
        for value, expected in (("", []), (f" {MEETINGS_READ} , {ARTIFACT},", [ARTIFACT,
                                                                               MEETINGS_READ])):
            with self.subTest(value=value):
                e = Emulator("--app-permissions", value, plaintext=True)
                try:
                    self.assertEqual(e.control("GET", "permissions"),
                                     {"app_permissions": expected})
                    status = e.get(report_path(), e.token()).status
                    self.assertEqual(status, 200 if expected else 403)
                finally:
                    self.assertEqual(e.stop(), 0)
        e = Emulator(plaintext=True)  # the default grants both
        try:
            token = e.token()
            self.assertEqual(e.get(lookup_path(USER, JOIN_URL), token).status, 200)
            self.assertEqual(e.get(report_path(), token).status, 200)
        finally:
            self.assertEqual(e.stop(), 0)


class ReportsListTest(EmulatorTestCase):

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.token = cls.emulator.token()

    def test_at_most_50_newest_first_and_no_paging(self) -> None:
        reports = {f"r{i:02d}": {"totalParticipantCount": i} for i in range(60)}
        self.e.add_reports(USER, "many", reports)
        body = self.e.get(report_path(meeting="many", report=None), self.token).json()
        self.assertEqual([r["id"] for r in body["value"]], [f"r{i:02d}" for i in range(50)])
        self.assertEqual(set(body), {"@odata.context", "value"})
        # Reports beyond the cap still exist.
        self.assertEqual(self.e.get(report_path(meeting="many", report="r59"),
                                    self.token).status, 200)
        # A merge's new reports are the newest: they go first; a replaced one keeps its place.
        self.e.add_reports(USER, "many", {"new1": {}, "new2": {}, "r05": {"replaced": True}})
        value = self.e.get(report_path(meeting="many", report=None), self.token).json()["value"]
        self.assertEqual([r["id"] for r in value][:8],
                         ["new1", "new2", "r00", "r01", "r02", "r03", "r04", "r05"])
        self.assertEqual(value[7], {"id": "r05", "replaced": True, "attendanceRecords": []})
        self.assertEqual(len(value), 50)
        # The same cap for a session.
        self.e.add_session_reports("townhalls", "th", "s", reports)
        value = self.e.get(session_path("townhalls", "th", "s", None), self.token).json()["value"]
        self.assertEqual(len(value), 50)

    def test_cap_is_configurable(self) -> None:
        reports = {f"r{i:02d}": {} for i in range(60)}
        for cap, expected in (("10", 10), ("0", 60)):
            with self.subTest(cap=cap):
                e = Emulator("--max-reports-listed", cap, plaintext=True)
                try:
                    e.add_reports("u", "m", reports)
                    value = e.get(report_path("u", "m", None), e.token()).json()["value"]
                    self.assertEqual([r["id"] for r in value], list(reports)[:expected])
                finally:
                    self.assertEqual(e.stop(), 0)

    def test_concurrent_identical_lists_count_exactly(self) -> None:
        n = 100
        barrier = threading.Barrier(n)

        def one(_: int) -> int:
            conn = self.e.connection()
            try:
                conn.connect()
                barrier.wait(timeout=60)
                conn.request("GET", report_path(report=None),
                             headers={"Authorization": f"Bearer {self.token}"})
                response = conn.getresponse()
                response.read()
                return response.status
            finally:
                conn.close()

        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            self.assertEqual(list(pool.map(one, range(n))), [200] * n)
        counters = self.e.control("GET", "counters")
        self.assertEqual((counters["reports_list"], counters["total"], counters["report"]),
                         (n, n, 0))
        self.assertEqual(len(self.e.control("GET", "requests")), n)


class GeneratedReportTest(EmulatorTestCase):
    ARGS = ("--records-page-size", "100")

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.token = cls.emulator.token()

    def check_records(self, records: list, count: int, prefix: str = "record-") -> None:
        width = max(5, len(str(count - 1)))
        self.assertEqual([r["id"] for r in records],
                         [f"{prefix}{i:0{width}d}" for i in range(count)])
        self.assertEqual(len({r["emailAddress"] for r in records}), count)
        self.assertEqual(len({r["identity"]["displayName"] for r in records}), count)
        self.assertEqual(len({r["identity"]["id"] for r in records}), count)
        for r in records:
            self.assertIn(len(r["attendanceIntervals"]), (1, 2))
            self.assertEqual(r["totalAttendanceInSeconds"],
                             sum(x["durationInSeconds"] for x in r["attendanceIntervals"]))
        self.assertEqual(records[0]["role"], "Organizer")
        self.assertEqual({r["role"] for r in records[1:]}, {"Attendee", "Presenter"})

    def test_25000_records_page_in_250_pages(self) -> None:
        answer = self.e.control("POST", "reports", {"user": USER, "meeting": "big meeting/1",
                                                    "report": "big", "records": 25_000})
        path = "/users/16664f75-11dc-4870-bec6-38c1aaa81431/onlineMeetings/big%20meeting%2F1" \
               "/attendanceReports/big"
        self.assertEqual(answer, {"report": "big", "records": 25_000, "path": path})
        self.e.control("POST", "reset")
        conn = self.e.connection()
        try:
            started = time.monotonic()
            expanded, pages = self.e.walk(conn, "/v1.0" + path + "?$expand=attendanceRecords",
                                          self.token, "attendanceRecords")
            expand_seconds = time.monotonic() - started
            self.assertEqual(pages, 250)
            self.check_records(expanded, 25_000)
            started = time.monotonic()
            listed, pages = self.e.walk(conn, "/v1.0" + path + "/attendanceRecords", self.token,
                                        "value")
            list_seconds = time.monotonic() - started
            self.assertEqual(pages, 250)
            self.assertEqual(listed, expanded)
        finally:
            conn.close()
        self.assertLess(expand_seconds, 5, "a 250-page walk should take well under a second")
        self.assertLess(list_seconds, 5)
        counters = self.e.control("GET", "counters")
        self.assertEqual((counters["report"], counters["records"]), (1, 249 + 250))
        # The report itself: defaults from the control endpoint.
        body = self.e.get("/v1.0" + path, self.token).json()
        self.assertEqual(body["totalParticipantCount"], 25_000)
        self.assertEqual((body["meetingStartDateTime"], body["meetingEndDateTime"]),
                         ("2024-01-15T09:00:00Z", "2024-01-15T11:00:00Z"))
        for r in expanded:
            for x in r["attendanceIntervals"]:
                self.assertTrue("2024-01-15T09:00:00" <= x["joinDateTime"] < x["leaveDateTime"]
                                < "2024-01-15T11:00:00", x)
                self.assertRegex(x["joinDateTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
        # Records are generated per page, so memory stays small (the emulator's resident size).
        rss = self.rss_kib()
        if rss is not None:
            self.assertLess(rss, 100 * 1024, f"emulator RSS {rss} KiB")

    def rss_kib(self) -> Optional[int]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.e.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def test_generated_records_are_deterministic(self) -> None:
        self.e.control("POST", "reports", {"user": "u", "meeting": "m", "report": "r1",
                                           "records": 250})
        self.e.control("POST", "reports", {"user": "u", "meeting": "m", "report": "r2",
                                           "records": 250})
        first = self.e.get(report_path("u", "m", "r1", "/attendanceRecords"), self.token).body
        again = self.e.get(report_path("u", "m", "r1", "/attendanceRecords"), self.token).body
        other = self.e.get(report_path("u", "m", "r2", "/attendanceRecords"), self.token).body
        self.assertEqual(first, again)
        self.assertEqual(json.loads(first)["value"], json.loads(other)["value"])
        # Newest first: r2 was added last.
        value = self.e.get(report_path("u", "m", None), self.token).json()["value"]
        self.assertEqual([r["id"] for r in value], ["r2", "r1"])

    def test_dataset_generate_syntax(self) -> None:
        self.e.add_reports("u", "gen", {
            "g": {"totalParticipantCount": 7, "attendanceRecords": {"_generate": {
                "count": 7, "id_prefix": "att/", "start": "2030-02-03T04:05:06Z"}}},
            "empty": {"attendanceRecords": {"_generate": {"count": 0}}}})
        body = self.e.get(report_path("u", "gen", "g", "?$expand=attendanceRecords"),
                          self.token).json()
        self.assertEqual(set(body), {"@odata.context", "id", "totalParticipantCount",
                                     "attendanceRecords"})
        self.check_records(body["attendanceRecords"], 7, "att/")
        self.assertTrue(body["attendanceRecords"][0]["attendanceIntervals"][0]["joinDateTime"]
                        .startswith("2030-02-03T04:05:06."))
        body = self.e.get(report_path("u", "gen", "empty", "?$expand=attendanceRecords"),
                          self.token).json()
        self.assertEqual(body["attendanceRecords"], [])
        self.assertNotIn("attendanceRecords@odata.nextLink", body)
        # A huge generated report costs nothing until a page of it is served.
        self.e.add_reports("u", "gen", {"huge": {"attendanceRecords": {"_generate": {
            "count": 10_000_000}}}})
        body = self.e.get(report_path("u", "gen", "huge", "?$expand=attendanceRecords"),
                          self.token).json()
        self.assertEqual(body["attendanceRecords"][99]["id"], "record-0000099")
        link = body["attendanceRecords@odata.nextLink"]
        page = self.e.get(link[len(self.e.url):], self.token).json()
        self.assertEqual(page["value"][0]["id"], "record-0000100")

    def test_virtual_event_generated_report_pages_on_beta(self) -> None:
        answer = self.e.control("POST", "reports", {
            "townhall": "th/1", "session": "s 1", "report": "r'1", "records": 250,
            "properties": {"externalEventInformation": []}, "id_prefix": "p-"})
        self.assertEqual(answer["path"], "/solutions/virtualEvents/townhalls/th%2F1/sessions/"
                                         "s%201/attendanceReports/r%271")
        conn = self.e.connection()
        try:
            records, pages = self.e.walk(conn, "/beta" + answer["path"] +
                                         "?$expand=attendanceRecords", self.token,
                                         "attendanceRecords")
        finally:
            conn.close()
        self.assertEqual(pages, 3)
        self.check_records(records, 250, "p-")
        log = self.e.control("GET", "requests")
        self.assertEqual([x["path_segments"][:7] for x in log[-2:]],
                         [["beta", "solutions", "virtualEvents", "townhalls", "th/1", "sessions",
                           "s 1"]] * 2)
        body = self.e.get("/v1.0" + answer["path"], self.token).json()
        self.assertEqual(body["externalEventInformation"], [])
        self.assertEqual(self.e.control("POST", "reports", {
            "webinar": "w", "session": "s", "report": "r", "records": 1})["path"],
            "/solutions/virtualEvents/webinars/w/sessions/s/attendanceReports/r")

    def test_invalid_generate_specs(self) -> None:
        for spec in ({"user": "u", "meeting": "m", "report": "r"},
                     {"user": "u", "meeting": "m", "report": "r", "records": -1},
                     {"user": "u", "meeting": "m", "report": "r", "records": "5"},
                     {"user": "u", "meeting": "m", "report": "r", "records": True},
                     {"user": "u", "meeting": "m", "report": "r", "records": 10_000_001},
                     {"user": "u", "webinar": "w", "session": "s", "report": "r", "records": 1},
                     {"webinar": "w", "meeting": "m", "report": "r", "records": 1},
                     {"user": "u", "session": "s", "report": "r", "records": 1},
                     {"user": "u", "meeting": "m", "records": 1},
                     {"user": "u", "meeting": 5, "report": "r", "records": 1},
                     {"user": "u", "meeting": "m", "report": "r", "records": 1, "colour": 1},
                     {"user": "u", "meeting": "m", "report": "r", "records": 1,
                      "start": "yesterday"},
                     {"user": "u", "meeting": "m", "report": "r", "records": 1,
                      "properties": {"attendanceRecords": []}},
                     [], None):
            with self.subTest(spec=spec):
                reply = self.e.call("POST", "/_emulator/reports", json.dumps(spec).encode())
                self.assertEqual(reply.status, 400, reply.body)
                self.assertIn("error", reply.json())
        for generate in ({"count": 1, "seed": 2}, {}, {"count": 1.5}, [],
                         {"count": 1, "id_prefix": 3}):
            with self.subTest(generate=generate):
                reply = self.e.call("POST", "/_emulator/dataset", json.dumps(
                    {"users": {"u": {"onlineMeetings": {"m": {"attendanceReports": {"r": {
                        "attendanceRecords": {"_generate": generate}}}}}}}}).encode())
                self.assertEqual(reply.status, 400, reply.body)
        self.assertEqual(self.e.call("GET", "/_emulator/reports").status, 405)


class NewPathFaultTest(EmulatorTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.token = self.e.token()
        self.e.control("POST", "reset")

    def faults(self, *specs: dict) -> list:
        return self.e.control("POST", "faults", list(specs))["faults"]

    def test_kinds_apply_to_the_new_paths(self) -> None:
        self.faults({"kind": "meeting_lookup", "status": 429, "retry_after": "1"},
                    {"kind": "reports_list", "status": 503},
                    {"kind": "records", "status": 504})
        self.assertEqual(self.e.get(report_path(), self.token).status, 200)
        self.assertEqual(self.e.get(session_path(), self.token).status, 200)
        reply = self.e.get(lookup_path(USER, JOIN_URL), self.token)
        self.assertEqual((reply.status, reply.headers["Retry-After"]), (429, "1"))
        self.assertEqual(reply.json()["error"]["code"], "TooManyRequests")
        self.assertEqual(self.e.get(session_path(report=None), self.token).status, 503)
        self.assertEqual(self.e.get(session_path(tail="/attendanceRecords"), self.token).status,
                         504)
        self.assertEqual(self.e.get(lookup_path(USER, JOIN_URL), self.token).status, 200)
        counters = self.e.control("GET", "counters")
        self.assertEqual((counters["fault"], counters["meeting_lookup"]), (3, 2))

    def test_graph_kind_and_path_filters(self) -> None:
        self.faults({"kind": "graph", "path_contains": "/solutions/virtualEvents/townhalls/",
                     "seconds": 60, "status": 500},
                    {"kind": "graph", "path_contains": "/beta/users/", "status": 502})
        self.assertEqual(self.e.get(session_path(), self.token).status, 200)
        th = session_path("townhalls", TOWNHALL, TOWNHALL_SESSION, TOWNHALL_REPORT)
        self.assertEqual(self.e.get(th, self.token).status, 500)
        self.assertEqual(self.e.get(th.replace("/v1.0/", "/beta/"), self.token).status, 500)
        self.assertEqual(self.e.get(lookup_path(USER, JOIN_URL, "beta"), self.token).status, 502)
        self.assertEqual(self.e.get(lookup_path(USER, JOIN_URL, "beta"), self.token).status, 200)

    def test_faults_come_before_the_permission_check(self) -> None:
        self.e.control("POST", "permissions", {"app_permissions": [ARTIFACT]})
        try:
            token = self.e.token()
            self.faults({"kind": "meeting_lookup", "action": "truncate"})
            conn = self.e.connection()
            try:
                conn.request("GET", lookup_path(USER, JOIN_URL),
                             headers={"Authorization": f"Bearer {token}"})
                response = conn.getresponse()
                self.assertEqual(response.status, 403)
                with self.assertRaises(http.client.IncompleteRead):
                    response.read()
            finally:
                conn.close()
        finally:
            self.e.control("POST", "permissions", {"app_permissions": [ARTIFACT, MEETINGS_READ]})


class DelegatedTest(EmulatorTestCase):
    """User tokens, the on-behalf-of grant and /me (tests/fake_graph/README.md, "Delegated")."""
    OTHER = "7f0a1c2e-0000-4000-8000-000000000002"

    def setUp(self) -> None:
        super().setUp()
        self.e.control("POST", "consent", {"granted": True})

    def user_token(self, user: str = USER, **spec: Any) -> str:
        return self.e.control("POST", "user-tokens", {"user": user, **spec})["access_token"]

    def obo(self, assertion: str, scope: str = "https://graph.microsoft.com/"
            "OnlineMeetingArtifact.Read.All", **form: Optional[str]) -> Reply:
        return self.e.token_request(grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
                                    assertion=assertion, requested_token_use="on_behalf_of",
                                    scope=scope, **form)

    def me_path(self) -> str:
        return (f"/v1.0/me/onlineMeetings/{MEETING}/attendanceReports/{REPORT}"
                "?$expand=attendanceRecords")

    def test_user_token_is_a_jwt_with_the_claims(self) -> None:
        token = self.user_token()
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        self.assertEqual(claims["oid"], USER)
        self.assertEqual(claims["aud"], f"api://{CLIENT_ID}")
        self.assertEqual(claims["tid"], TENANT)
        self.assertGreater(claims["exp"], time.time())
        self.assertIn(token, self.e.control("GET", "user-tokens"))

    def test_obo_then_me_reads_the_organizers_report(self) -> None:
        reply = self.obo(self.user_token())
        self.assertEqual(reply.status, 200, reply.body)
        graph_token = reply.json()["access_token"]
        payload = graph_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        self.assertEqual(claims["oid"], USER)
        me = self.e.get(self.me_path(), graph_token)
        self.assertEqual(me.status, 200, me.body)
        self.assertEqual(me.json()["id"], REPORT)
        counters = self.e.control("GET", "counters")
        self.assertEqual(counters["obo"], 1)
        self.assertEqual(counters["me"], 1)
        # The delegated token reads nobody else's meetings by their ID.
        other = self.e.get(f"/v1.0/users/{self.OTHER}/onlineMeetings/{MEETING}"
                           f"/attendanceReports/{REPORT}", graph_token)
        self.assertGraphError(other, 403, "Forbidden")

    def test_another_user_gets_not_found(self) -> None:
        graph_token = self.obo(self.user_token(self.OTHER)).json()["access_token"]
        error = self.assertGraphError(self.e.get(self.me_path(), graph_token), 404, "NotFound")
        self.assertIn("online meeting", error["message"])

    def test_app_token_on_me_is_refused(self) -> None:
        self.assertGraphError(self.e.get(self.me_path(), self.e.token()), 400, "BadRequest")

    def test_obo_errors(self) -> None:
        def aadsts(reply: Reply) -> tuple:
            body = reply.json()
            return reply.status, body["error"], body["error_codes"][0]

        self.assertEqual(aadsts(self.obo(self.user_token(audience="api://someone-else"))),
                         (400, "invalid_grant", 50013))
        self.assertEqual(aadsts(self.obo("not.a.token")), (400, "invalid_grant", 50013))
        self.assertEqual(aadsts(self.obo(self.user_token(expires_in=-10))),
                         (400, "invalid_grant", 500133))
        self.assertEqual(aadsts(self.obo(self.user_token(), client_secret="wrong")),
                         (401, "invalid_client", 7000215))
        self.assertEqual(aadsts(self.obo(self.user_token(), scope="https://example.com/x")),
                         (400, "invalid_scope", 70011))
        self.e.control("POST", "consent", {"granted": False, "users": [USER]})
        self.assertEqual(aadsts(self.obo(self.user_token())), (400, "invalid_grant", 65001))
        self.assertEqual(self.obo(self.user_token(self.OTHER)).status, 200)
        self.e.control("POST", "consent", {"granted": True, "users": [USER]})
        self.assertEqual(self.obo(self.user_token()).status, 200)
        self.assertEqual(self.e.control("GET", "counters")["obo_error"], 5)


if __name__ == "__main__":
    unittest.main()
