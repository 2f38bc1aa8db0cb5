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


# ----------------------------------------------------------------------------------------------

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
        e.get(report_path() + "?$expand=attendanceRecords", self.token)
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
            "fault": 0, "other": 1})
        log = e.control("GET", "requests")
        self.assertEqual([(x["method"], x["kind"], x["status"]) for x in log], [
            ("POST", "token", 200), ("POST", "token", 401), ("GET", "report", 200),
            ("GET", "report", 404), ("GET", "records", 200), ("GET", "reports_list", 200),
            ("GET", "report", 401), ("GET", "other", 404)])
        self.assertEqual(log[2]["query"], "$expand=attendanceRecords")
        self.assertEqual(log[2]["raw_path"], report_path())
        self.assertEqual(set(log[0]), {"method", "raw_path", "path_segments", "query", "kind",
                                       "status", "fault"})
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


if __name__ == "__main__":
    unittest.main()
