#!/usr/bin/env bash
# clients/python's test (ctest: client_python), run under scripts/with_server:
#   ROLLCALL_BUILD=build scripts/with_server clients/python/test.sh
# Makes a venv in $ROLLCALL_CLIENT_WORK (reused while requirements.txt and the Python are the
# same), installs requirements.txt, generates the code of proto/rollcall/v1/attendance.proto there
# with grpcio-tools (never committed), and runs test_rollcall_client.py against $ROLLCALL_TARGET.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/scripts/lib.sh"
: "${ROLLCALL_TARGET:?run this under scripts/with_server, which sets ROLLCALL_TARGET}"
work="${ROLLCALL_CLIENT_WORK:-${ROLLCALL_BUILD:-$root/build}/clients/python}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

venv="$work/venv"
rollcall_python_venv "$venv" "$here/requirements.txt"

gen="$work/gen"
rm -rf "$gen"
mkdir -p "$gen"
"$venv/bin/python" -m grpc_tools.protoc -I "$root/proto" \
  --python_out="$gen" --pyi_out="$gen" --grpc_python_out="$gen" \
  "$root/proto/rollcall/v1/attendance.proto"

cd "$work"
PYTHONPATH="$gen:$here" PYTHONDONTWRITEBYTECODE=1 \
  "$venv/bin/python" -m pytest -p no:cacheprovider -q -rs "$here/test_rollcall_client.py"
