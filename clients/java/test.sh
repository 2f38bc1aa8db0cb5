#!/usr/bin/env bash
# Builds the Java client (classes generated from proto/rollcall/v1 by protoc and
# protoc-gen-grpc-java, both fetched by Maven) and runs its tests against a live Rollcall.
# Run under scripts/with_server, which sets ROLLCALL_TARGET, ROLLCALL_GRAPH_URL and
# ROLLCALL_GRAPH_CA:
#
#   ROLLCALL_BUILD=build scripts/with_server clients/java/test.sh
#
# Needs JDK 17+ and Maven 3.8+. Maven's local repository is $ROLLCALL_CLIENT_WORK/m2 when ctest
# sets ROLLCALL_CLIENT_WORK (the build folder), else Maven's own default (~/.m2), or
# ROLLCALL_MAVEN_REPO when set. The first run downloads the plugins and dependencies; later runs
# need no network.
set -euo pipefail
cd "$(dirname "$0")"

command -v mvn >/dev/null || { echo "clients/java: mvn not found (install Maven 3.8+ and JDK 17+)" >&2; exit 1; }
if [ -z "${ROLLCALL_TARGET:-}" ]; then
  echo "clients/java: ROLLCALL_TARGET is not set: run under scripts/with_server" >&2
  exit 2
fi
repo="${ROLLCALL_MAVEN_REPO:-${ROLLCALL_CLIENT_WORK:+$ROLLCALL_CLIENT_WORK/m2}}"
args=(-q -B -Dstyle.color=never)
[ -n "$repo" ] && args+=("-Dmaven.repo.local=$repo")
rm -rf target/surefire-reports
# Maven 3.8's -q still writes ANSI resets to stdout: drop them, so the summary has its own line.
set +e
mvn "${args[@]}" test "$@" 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g'
status=${PIPESTATUS[0]}
set -e

# One closing line from surefire's reports (mvn -q prints none when every test passes).
python3 - <<'PY' || true
import glob, xml.etree.ElementTree as ET
counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for report in glob.glob("target/surefire-reports/TEST-*.xml"):
    suite = ET.parse(report).getroot()
    for key in counts:
        counts[key] += int(suite.get(key, 0))
failed = counts["failures"] + counts["errors"]
passed = counts["tests"] - failed - counts["skipped"]
print(f"java: {passed} passed, {failed} failed, {counts['skipped']} skipped")
PY
exit "$status"
