#!/usr/bin/env bash
# Every command of README.md's `sh` blocks, run as written against a live server (under
# scripts/with_server, which sets ROLLCALL_TARGET), with PATH as the demo prints it: each must
# exit 0. The blocks hold the commands a reader copies; other blocks (text, json) are
# references with placeholders and are not run. A README without such commands fails too.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/scripts/lib.sh"
rollcall_install_go_tools
export PATH="$ROLLCALL_BUILD/clients/cpp:$ROLLCALL_BUILD/tools/bin:$PATH"

mapfile -t commands < <(python3 - "$root/README.md" <<'PY'
import sys
lines, block, pending = [], None, ""
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.rstrip("\n")
    if line.startswith("```"):
        block = None if block is not None else line[3:].strip()
        continue
    if block != "sh" or not line.strip() or line.lstrip().startswith("#"):
        continue
    if line.endswith("\\"):
        pending += line[:-1] + " "
        continue
    lines.append(pending + line)
    pending = ""
print("\n".join(lines))
PY
)
[ "${#commands[@]}" -ge 5 ] || { echo "FAIL: only ${#commands[@]} commands in README.md's sh blocks" >&2; exit 1; }

failures=0
for command in "${commands[@]}"; do
  if ! out="$(cd "$root" && bash -euo pipefail -c "$command" 2>&1)"; then
    echo "FAIL: $command" >&2
    echo "$out" | head -20 >&2
    failures=$((failures + 1))
  fi
done
[ "$failures" = 0 ] || { echo "$failures of ${#commands[@]} README commands failed" >&2; exit 1; }
echo "all ${#commands[@]} README commands succeeded"
