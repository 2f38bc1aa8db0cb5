#!/usr/bin/env bash
# The tools people reach for first, against a live server (run under scripts/with_server):
# grpcurl lists the services, gets the docs' report and calls Health through reflection (v1,
# which grpcurl asks first, and v1alpha, called directly), and grpc-health-probe reports
# SERVING for the server and for the service. Both are installed (pinned) into
# $ROLLCALL_BUILD/tools/bin when missing (scripts/lib.sh, rollcall_install_go_tools).
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
rollcall_install_go_tools
bin="$ROLLCALL_BUILD/tools/bin"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
contains() { case "$1" in *"$2"*) ;; *) fail "no \"$2\" in:
$1" ;; esac; }
t="$ROLLCALL_TARGET"

out="$("$bin/grpcurl" -plaintext "$t" list 2>&1)" || fail "grpcurl list: $out"
for service in rollcall.v1.AttendanceReportService grpc.health.v1.Health \
               grpc.reflection.v1.ServerReflection grpc.reflection.v1alpha.ServerReflection; do
  contains "$out" "$service"
done

out="$("$bin/grpcurl" -plaintext -d '{"userId":"16664f75-11dc-4870-bec6-38c1aaa81431","meetingId":"MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ","reportId":"c9b6db1c-d5eb-427d-a5c0-20088d9b22d7"}' \
  "$t" rollcall.v1.AttendanceReportService/GetAttendanceReport 2>&1)" || fail "grpcurl get: $out"
contains "$out" '"id": "c9b6db1c-d5eb-427d-a5c0-20088d9b22d7"'
# grpcurl prints the proto's field names.
contains "$out" '"email_address": "frederick.cormier@contoso.com"'

out="$("$bin/grpcurl" -plaintext "$t" describe grpc.health.v1.Health 2>&1)" || fail "describe Health: $out"
contains "$out" "rpc Check"
out="$("$bin/grpcurl" -plaintext "$t" grpc.health.v1.Health/Check 2>&1)" || fail "Health/Check: $out"
contains "$out" '"status": "SERVING"'
out="$("$bin/grpcurl" -plaintext -d '{"service":"rollcall.v1.AttendanceReportService"}' "$t" \
  grpc.health.v1.Health/Check 2>&1)" || fail "Health/Check service: $out"
contains "$out" '"status": "SERVING"'

# Each reflection version answers on its own.
for version in v1 v1alpha; do
  out="$("$bin/grpcurl" -plaintext -d '{"listServices":""}' "$t" \
    "grpc.reflection.$version.ServerReflection/ServerReflectionInfo" 2>&1)" ||
    fail "reflection $version: $out"
  contains "$out" '"name": "grpc.health.v1.Health"'
done

out="$("$bin/grpc-health-probe" -addr="$t" 2>&1)" || fail "grpc-health-probe: $out"
contains "$out" "status: SERVING"
out="$("$bin/grpc-health-probe" -addr="$t" -service=rollcall.v1.AttendanceReportService 2>&1)" ||
  fail "grpc-health-probe -service: $out"
contains "$out" "status: SERVING"

[ "$failures" = 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "grpcurl and grpc-health-probe: every check passed"
