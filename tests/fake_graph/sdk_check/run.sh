#!/usr/bin/env bash
# The emulator read by Microsoft's own Python SDKs (ctest: fake_graph_msgraph_sdk):
#   tests/fake_graph/sdk_check/run.sh
# Makes a venv in $ROLLCALL_SDK_CHECK_WORK (default build/tests/fake_graph/sdk_check; reused
# while requirements.txt and the Python are the same), installs requirements.txt (msgraph-sdk,
# azure-identity, pinned) and runs test_msgraph_sdk.py, which starts its own emulator on port 0.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
work="${ROLLCALL_SDK_CHECK_WORK:-${ROLLCALL_BUILD:-$root/build}/tests/fake_graph/sdk_check}"
python="${PYTHON:-python3}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

venv="$work/venv"
want="$(cat "$here/requirements.txt" <("$python" -c 'import sys; print(sys.version)') | sha256sum)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/requirements.sha256" 2>/dev/null)" != "$want" ]; then
  echo "sdk_check: installing requirements.txt into $venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv" || {
    echo "sdk_check: '$python -m venv' failed (on Debian: apt-get install python3-venv)" >&2
    exit 1
  }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$here/requirements.txt"
  echo "$want" >"$venv/requirements.sha256"
fi

cd "$here"
# msgraph-sdk's generated request builders warn at import that their per-request configuration
# classes are deprecated (hundreds of lines); the test uses the generic RequestConfiguration.
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -W "ignore:This class is deprecated:DeprecationWarning" \
  -m unittest -v test_msgraph_sdk
