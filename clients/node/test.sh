#!/usr/bin/env bash
# The Node client's test, run by ctest (client_node) under scripts/with_server:
#   ROLLCALL_BUILD=build scripts/with_server clients/node/test.sh
# Installs the pinned packages of package-lock.json (npm ci, into clients/node/node_modules),
# runs node's test runner against the live server (ROLLCALL_TARGET) and its emulator, and runs
# the example command once for a report and once for an error.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="${ROLLCALL_CLIENT_WORK:-$root/build/clients/node}"
: "${ROLLCALL_TARGET:?not set: run this under scripts/with_server}" "${ROLLCALL_GRAPH_URL:?}" "${ROLLCALL_GRAPH_CA:?}"
command -v node >/dev/null && command -v npm >/dev/null || { echo "no node and npm on PATH" >&2; exit 2; }
mkdir -p "$work"
cd "$here"
step() { printf '==> %s\n' "$*"; }

# npm ci, unless node_modules was installed from this very package-lock.json (npm ci deletes and
# rewrites node_modules, some 9,000 files, mostly google-proto-files' protos: seconds to tens of
# seconds on a slow disk). No install scripts: none of these packages needs one (protobufjs's
# only checks versions).
stamp=node_modules/.rollcall-installed-from
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1) node $(node --version)"
if [ "$(cat "$stamp" 2>/dev/null)" = "$lock_sum" ]; then
  step "node_modules is installed from package-lock.json"
else
  step "npm ci"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$lock_sum" >"$stamp"
fi

step "node --test against $ROLLCALL_TARGET"
node --test test/

step "rollcall-get.js"
docs=(--user 16664f75-11dc-4870-bec6-38c1aaa81431 --meeting MSpkYzE3Njc0Yy04MWQ5LTRhZGItYmZ)
node rollcall-get.js --target "$ROLLCALL_TARGET" "${docs[@]}" \
  --report c9b6db1c-d5eb-427d-a5c0-20088d9b22d7 >"$work/get.out"
grep -q 'Frederick Cormier' "$work/get.out" &&
  grep -q '"joinDateTime": "2021-03-16T18:59:52.2782182Z"' "$work/get.out" ||
  { cat "$work/get.out"; echo "rollcall-get.js did not print the docs report" >&2; exit 1; }
status=0
node rollcall-get.js --target "$ROLLCALL_TARGET" "${docs[@]}" --report no-such-report \
  >/dev/null 2>"$work/get.err" || status=$?
cat "$work/get.err"
[ "$status" -eq 1 ] && grep -q '^  reason: REPORT_NOT_FOUND (rollcall.v1)$' "$work/get.err" ||
  { echo "rollcall-get.js did not print the ErrorInfo (exit $status)" >&2; exit 1; }
echo "rollcall-get.js: report and error printed as expected"
