#!/usr/bin/env bash
# The Quick start's first command, as a new user runs it: scripts/demo prints the docs' report
# fetched from Graph, then served from the cache. Then `scripts/demo --keep-running`: the lines it
# prints for the address it chose (the exports and the README's commands) run as printed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

out="$(scripts/demo 2>&1)" || { echo "FAIL: scripts/demo exited non-zero:" >&2; echo "$out" >&2; exit 1; }
for expected in "Frederick Cormier" "Presenter" "19m 12s" '"fromCache": true'; do
  case "$out" in *"$expected"*) ;; *) echo "FAIL: no \"$expected\" in scripts/demo's output:" >&2; echo "$out" >&2; exit 1 ;; esac
done

printed="$(mktemp)"
scripts/demo --keep-running >"$printed" 2>/dev/null &
demo=$!
# A background job of a script ignores SIGINT: TERM, which the demo's cleanup handles.
trap 'kill -TERM $demo 2>/dev/null || true; wait $demo 2>/dev/null || true; rm -f "$printed"' EXIT
for _ in $(seq 1 600); do
  grep -q '^grpc-health-probe ' "$printed" && break
  kill -0 $demo 2>/dev/null || { echo "FAIL: scripts/demo --keep-running stopped" >&2; exit 1; }
  sleep 0.5
done
grep -q '^grpc-health-probe ' "$printed" || { echo "FAIL: no commands printed" >&2; cat "$printed" >&2; exit 1; }
block="$(sed -n '/^export ROLLCALL_TARGET=/,/^grpc-health-probe /p' "$printed")"
[ "$(echo "$block" | wc -l)" -ge 5 ] || { echo "FAIL: printed block: $block" >&2; exit 1; }
out="$(bash -euo pipefail -c "$block" 2>&1)" || { echo "FAIL: the printed commands failed:" >&2; echo "$block" >&2; echo "$out" >&2; exit 1; }
case "$out" in *"Frederick Cormier"*) ;; *) echo "FAIL: $out" >&2; exit 1 ;; esac
case "$out" in *"status: SERVING"*) ;; *) echo "FAIL: $out" >&2; exit 1 ;; esac
echo "scripts/demo and the commands it prints work as printed"
