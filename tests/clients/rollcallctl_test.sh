#!/usr/bin/env bash
# rollcallctl against a live emulator and server (run under scripts/with_server, which sets
# ROLLCALL_TARGET and ROLLCALL_GRAPH_URL): each verb's table, --json that parses to the docs'
# report, and the exit code and message of each kind of error. $1: the rollcallctl binary.
set -euo pipefail
ctl="$1"
user=16664f75-11dc-4870-bec6-38c1aaa81431
meeting=MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ
report=c9b6db1c-d5eb-427d-a5c0-20088d9b22d7
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# expect_exit CODE CMD...: runs CMD, which must exit CODE; its stdout in $out, stderr in $err.
expect_exit() {
  local want="$1"; shift
  local got=0
  out="$("$@" 2>/tmp/rollcallctl-test.$$)" || got=$?
  err="$(cat /tmp/rollcallctl-test.$$)"; rm -f /tmp/rollcallctl-test.$$
  [ "$got" = "$want" ] || fail "exit $got, not $want: $*
stdout: $out
stderr: $err"
}
contains() { case "$1" in *"$2"*) ;; *) fail "no \"$2\" in:
$1" ;; esac; }

# get: the table, in the time zone asked for (the docs' meeting began 2021-10-05 04:38:23 UTC).
expect_exit 0 "$ctl" get --target "$ROLLCALL_TARGET" --user "$user" --meeting "$meeting" \
  --report "$report" --tz Asia/Tokyo
contains "$out" "Report        $report"
contains "$out" "Meeting       2021-10-05 13:38:23 JST to 2021-10-05 13:43:49 JST"
contains "$out" "ATTENDEE"
contains "$out" "Frederick Cormier"
contains "$out" "Presenter"
contains "$out" "19m 12s"
# $ROLLCALL_TARGET stands in for --target; TZ sets the default zone.
expect_exit 0 env TZ=UTC "$ctl" get --user "$user" --meeting "$meeting" --report "$report"
contains "$out" "2021-10-05 04:38:23 UTC"
contains "$out" "served from Rollcall's cache"

# --json: the reply as proto3 JSON, the same report.
expect_exit 0 "$ctl" get --user "$user" --meeting "$meeting" --report "$report" --json
python3 - "$out" <<'PY' || fail "--json: $out"
import json, sys
reply = json.loads(sys.argv[1])
report = reply["report"]
assert report["id"] == "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7", report["id"]
record = report["attendanceRecords"][0]
assert record["emailAddress"] == "frederick.cormier@contoso.com", record
assert record["totalAttendanceInSeconds"] == 1152, record
assert len(record["attendanceIntervals"]) == 3, record
PY

# list, records (page by page), resolve.
expect_exit 0 "$ctl" list --user "$user" --meeting "$meeting"
contains "$out" "REPORT"
contains "$out" "$report"
expect_exit 0 "$ctl" records --user "$user" --meeting "$meeting" --report "$report" --page-size 1
contains "$out" "Frederick Cormier"
expect_exit 0 "$ctl" records --user "$user" --meeting "$meeting" --report "$report" --json
python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["totalRecords"]==len(r["attendanceRecords"])>=1, r' "$out" ||
  fail "records --json: $out"

# Errors: the code's exit status, the reason, and --json's error object.
expect_exit 3 "$ctl" get --user "$user" --meeting "$meeting" --report no-such-report
contains "$err" "rollcallctl: NOT_FOUND:"
contains "$err" "reason: REPORT_NOT_FOUND (rollcall.v1)"
expect_exit 3 "$ctl" get --user "$user" --meeting "$meeting" --report no-such-report --json
python3 -c '
import json, sys
e = json.loads(sys.argv[1])["error"]
assert e["code"] == "NOT_FOUND", e
assert e["details"][0]["reason"] == "REPORT_NOT_FOUND", e' "$out" || fail "error --json: $out"
expect_exit 4 "$ctl" get --user "$user" --meeting "$(printf 'a\tb')" --report "$report"
contains "$err" "reason: INVALID_ID (rollcall.v1)"
contains "$err" "field meeting_id"
expect_exit 2 "$ctl" get --user "$user" --meeting "$meeting"
contains "$err" "get needs --report"
expect_exit 2 "$ctl" fetch --user "$user"
contains "$err" "unknown verb"
expect_exit 2 "$ctl" get --user "$user" --meeting "$meeting" --report "$report" --tz Mars/Olympus
contains "$err" "unknown time zone"
# Nothing listening: try later.
expect_exit 7 "$ctl" get --target 127.0.0.1:1 --user "$user" --meeting "$meeting" \
  --report "$report" --deadline 2s
contains "$err" "rollcallctl: UNAVAILABLE:"

[ "$failures" = 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "rollcallctl: every verb and error case passed"
