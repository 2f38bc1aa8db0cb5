#!/usr/bin/env bash
# The Go client's test, run by ctest (client_go) under scripts/with_server:
#   ROLLCALL_BUILD=build scripts/with_server clients/go/test.sh
# Checks that the committed generated code is what generate.sh makes from the proto, that the
# module is tidy and vetted, runs the Go tests against the live server (ROLLCALL_TARGET) and its
# emulator, and runs the example command once for a report and once for an error.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export ROLLCALL_CLIENT_WORK="${ROLLCALL_CLIENT_WORK:-$root/build/clients/go}"
work="$ROLLCALL_CLIENT_WORK"
: "${ROLLCALL_TARGET:?not set: run this under scripts/with_server}" "${ROLLCALL_GRAPH_URL:?}" "${ROLLCALL_GRAPH_CA:?}"
command -v go >/dev/null || { echo "no go on PATH" >&2; exit 2; }
mkdir -p "$work"
cd "$here"
step() { printf '==> %s\n' "$*"; }

step "generated code is up to date (generate.sh into a temporary folder)"
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
./generate.sh "$fresh"
# The header's lines naming protoc's version are left out: another protoc makes the same code.
if ! diff -r -u -I '^//[[:space:]]*protoc[[:space:]]' -I '^//[[:space:]]*-[[:space:]]*protoc[[:space:]]' \
  rollcallv1 "$fresh/rollcallv1"; then
  echo "clients/go/rollcallv1 is stale: run clients/go/generate.sh and commit the result" >&2
  exit 1
fi

step "go mod verify, gofmt, go vet"
go mod verify >/dev/null
unformatted="$(gofmt -l .)"
[ -z "$unformatted" ] || { echo "not gofmt'ed: $unformatted" >&2; exit 1; }
go vet ./...

step "go test against $ROLLCALL_TARGET"
go test -count=1 -v ./...

step "cmd/rollcall-get"
go build -o "$work/bin/rollcall-get" ./cmd/rollcall-get
docs=(--user 16664f75-11dc-4870-bec6-38c1aaa81431 --meeting MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ)
"$work/bin/rollcall-get" --target "$ROLLCALL_TARGET" "${docs[@]}" \
  --report c9b6db1c-d5eb-427d-a5c0-20088d9b22d7 >"$work/get.out"
grep -q 'Frederick Cormier' "$work/get.out" && grep -Eq '"totalAttendanceInSeconds": *1152' "$work/get.out" ||
  { cat "$work/get.out"; echo "rollcall-get did not print the docs report" >&2; exit 1; }
status=0
"$work/bin/rollcall-get" --target "$ROLLCALL_TARGET" "${docs[@]}" --report no-such-report \
  >/dev/null 2>"$work/get.err" || status=$?
cat "$work/get.err"
[ "$status" -eq 1 ] && grep -q '^  reason: REPORT_NOT_FOUND (rollcall.v1)$' "$work/get.err" ||
  { echo "rollcall-get did not print the ErrorInfo (exit $status)" >&2; exit 1; }
echo "rollcall-get: report and error printed as expected"
