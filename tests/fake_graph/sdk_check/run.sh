#!/usr/bin/env bash
# The emulator read by Microsoft's own Python SDKs (ctest: fake_graph_msgraph_sdk):
#   tests/fake_graph/sdk_check/run.sh
# Makes a venv in $ROLLCALL_SDK_CHECK_WORK (default build/tests/fake_graph/sdk_check; reused
# while requirements.txt and the Python are the same), installs requirements.txt (msgraph-sdk,
# azure-identity, pinned) and runs test_msgraph_sdk.py, which starts its own emulator on port 0.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
source "$root/scripts/lib.sh"
work="${ROLLCALL_SDK_CHECK_WORK:-${ROLLCALL_BUILD:-$root/build}/tests/fake_graph/sdk_check}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

venv="$work/venv"
rollcall_python_venv "$venv" "$here/requirements.txt"

cd "$here"
# msgraph-sdk's generated request builders warn at import that their per-request configuration
# classes are deprecated (hundreds of lines); the test uses the generic RequestConfiguration.
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -W "ignore:This class is deprecated:DeprecationWarning" \
  -m unittest -v test_msgraph_sdk
