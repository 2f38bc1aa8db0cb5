#!/usr/bin/env python3
"""Writes the seed corpus of one fuzz target into a folder, at test time.

  make_corpus.py json EXAMPLES_DIR OUT_DIR   the shared Graph/identity examples (JSON bodies)
                                             plus a few bodies they do not cover
  make_corpus.py request OUT_DIR             hand-written GetAttendanceReportRequests, in wire
                                             bytes

Seeds are made from sources rather than kept as binary files, so they stay readable here and
follow the shared examples as those change.
"""

import pathlib
import shutil
import sys

# ---------------------------------------------------------------------------------------------
# JSON bodies beyond the shared examples: paging, nulls, open-typed identities, nesting near the
# parser's limit, both forms of expires_in, and Graph's error casing variants.
EXTRA_JSON = {
    "records-page-with-next-link.json":
        '{"@odata.context":"x","value":[{"id":"a","emailAddress":null,"totalAttendanceInSeconds":'
        '12,"role":"Attendee","identity":{"@odata.type":"#microsoft.graph.communicationsUserIdentity",'
        '"id":"8:acs:1","displayName":"A","tenantId":null,"extra":[1,2.5,"s",true,null,{"k":{}}]},'
        '"attendanceIntervals":[{"joinDateTime":"2021-10-05T04:38:27.6027225Z","leaveDateTime":'
        '"2021-10-05T04:43:49.77Z","durationInSeconds":322}]}],"@odata.nextLink":'
        '"https://graph.microsoft.com/v1.0/users/u/onlineMeetings/m/attendanceReports/r/'
        'attendanceRecords?$skiptoken=abc"}',
    "report-with-next-link-and-offsets.json":
        '{"id":"r","totalParticipantCount":2147483647,"meetingStartDateTime":'
        '"0001-01-01T00:00:00+00:00","meetingEndDateTime":"9999-12-31T23:59:59.999999999-00:00",'
        '"externalEventInformation":[{"applicationId":"app","externalEventId":null}],'
        '"attendanceRecords":[{"registrantId":"x","engagements":[{"dateTime":'
        '"2024-02-29T12:00:00.1+05:30","engagementType":"reaction","engagementSubType":"like"}],'
        '"externalRegistrationInformation":{"referrer":"r","registrationId":"g"}}],'
        '"attendanceRecords@odata.nextLink":"https://graph.microsoft.com/v1.0/next"}',
    "report-deep-identity.json":
        '{"id":"deep","attendanceRecords":[{"identity":{"nested":'
        + '{"a":' * 30 + '1' + '}' * 30 + '}}]}',
    "report-wrong-types.json":
        '{"id":7,"totalParticipantCount":"3","attendanceRecords":{"0":{}}}',
    "token-string-expiry.json":
        '{"token_type":"bearer","expires_in":"3599","ext_expires_in":"3599","refresh_in":1799,'
        '"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2ln"}',
    "graph-error-lower-case.json":
        '{"error":{"code":"serviceNotAvailable","message":"m","innererror":{"Date":"d",'
        '"Request-Id":"i","client-request-id":"c"}}}',
    "token-error-description-only.json":
        '{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret '
        'provided.\\r\\nTrace ID: t\\r\\nCorrelation ID: c\\r\\nTimestamp: 2016-01-09 02:02:12Z",'
        '"error_codes":[]}',
    "date-time.txt": "2021-03-16T18:59:52.2782182Z",
    # Regressions: inputs that once broke an invariant, kept so that they are checked every run.
    # RapidJSON 1.1.0's full-precision number parsing turned 0e104 into 3.2e178 (and hit
    # __builtin_clzll(0)).
    "regression-zero-with-large-exponent.json":
        '{"id":"r","attendanceRecords":[{"identity":{"id":"i","score":0e104,"z":0.000e50}}]}',
    # An identity member nested 40 levels: within the JSON depth limit, but deeper than a
    # protobuf client parses the response (100 levels of messages).
    "regression-identity-nested-40.json":
        '{"id":"deep","attendanceRecords":[{"identity":{"nested":'
        + '{"a":' * 40 + '1' + '}' * 40 + '}}]}',
}


def write_json_seeds(out: pathlib.Path, examples: pathlib.Path) -> int:
    count = 0
    for example in sorted(examples.glob("*.json")):
        shutil.copyfile(example, out / example.name)
        count += 1
    for name, body in EXTRA_JSON.items():
        (out / name).write_text(body, encoding="utf-8")
        count += 1
    return count


# ---------------------------------------------------------------------------------------------
# GetAttendanceReportRequest in wire bytes: user_id = 1, meeting_id = 2, report_id = 3 (strings),
# view = 4 (enum).

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_bytes(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def request(user, meeting, report, view=None) -> bytes:
    def as_bytes(v):
        return v if isinstance(v, bytes) else v.encode("utf-8")
    out = field_bytes(1, as_bytes(user)) + field_bytes(2, as_bytes(meeting)) + field_bytes(
        3, as_bytes(report))
    if view is not None:
        out += field_varint(4, view)
    return out


DOCS = ("16664f75-11dc-4870-bec6-38c1aaa81431", "MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ",
        "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7")

REQUEST_SEEDS = {
    "docs": request(*DOCS),
    "docs-basic": request(*DOCS, view=1),
    "docs-full": request(*DOCS, view=2),
    "unknown-view": request(*DOCS, view=7),
    "negative-view": request(*DOCS, view=-1),
    "slash": request(DOCS[0], "a/b", DOCS[2]),
    "dot": request(DOCS[0], ".", "."),
    "dot-dot": request("..", "..", "../../v1.0/users"),
    "query-and-fragment": request(DOCS[0], "what?$expand=x", "frag#ment"),
    "percent": request("100%", "%2F%3F", "%"),
    "space-and-unicode": request("with space", "ünï/cødé", "MSo+/=="),
    "control-character": request(DOCS[0], "line\nbreak", DOCS[2]),
    "nul": request(DOCS[0], DOCS[1], b"nul\x00byte"),
    "bad-utf8": request(DOCS[0], b"\xc3\x28", DOCS[2]),
    "surrogate": request(DOCS[0], b"\xed\xa0\x80", DOCS[2]),
    "overlong": request(DOCS[0], b"\xc0\xaf", DOCS[2]),
    "empty": b"",
    "empty-ids": request("", "", ""),
    "oversized": request(DOCS[0], "m" * 1025, DOCS[2]),
    "max-size": request(DOCS[0], "m" * 1024, DOCS[2]),
    "repeated-field": request(*DOCS) + field_bytes(2, b"second-wins"),
    "unknown-fields": request(*DOCS) + field_varint(9, 1) + field_bytes(15, b"x")
    + varint(16 << 3 | 5) + b"\x01\x02\x03\x04" + varint(17 << 3 | 1) + b"\x00" * 8
    + varint(18 << 3 | 3) + field_varint(1, 2) + varint(18 << 3 | 4),
    "wrong-wire-type": varint(1 << 3 | 0) + varint(5) + field_bytes(4, b"\x01"),
    "truncated": request(*DOCS)[:-3],
    "huge-length": varint(1 << 3 | 2) + varint(0xFFFFFFFF) + b"abc",
    "zero-tag": b"\x00",
    "end-group": varint(3 << 3 | 4),
}


def write_request_seeds(out: pathlib.Path) -> int:
    for name, data in REQUEST_SEEDS.items():
        (out / f"{name}.bin").write_bytes(data)
    return len(REQUEST_SEEDS)


def main(argv) -> int:
    if len(argv) < 3 or argv[1] not in ("json", "request") or (argv[1] == "json") != (len(argv) == 4):
        print(__doc__, file=sys.stderr)
        return 2
    out = pathlib.Path(argv[-1])
    out.mkdir(parents=True, exist_ok=True)
    if argv[1] == "json":
        examples = pathlib.Path(argv[2])
        if not examples.is_dir():
            print(f"make_corpus.py: no examples folder {examples}", file=sys.stderr)
            return 2
        count = write_json_seeds(out, examples)
    else:
        count = write_request_seeds(out)
    print(f"make_corpus.py: {count} {argv[1]} seeds in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
