#!/usr/bin/env bash
# Generates the Go code of the contract, clients/go/rollcallv1 (package rollcallv1), from
# proto/rollcall/v1/attendance.proto with Debian's protoc and the pinned protoc-gen-go and
# protoc-gen-go-grpc below (installed with `go install` into $ROLLCALL_CLIENT_WORK/bin, default
# build/clients/go/bin). The generated code is committed; test.sh regenerates it into a temporary
# folder and fails when the committed copy differs.
#
#   clients/go/generate.sh [OUT_DIR]    OUT_DIR: the module root to write into (default clients/go)
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12      # google.golang.org/protobuf, the same as go.mod's
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2   # google.golang.org/grpc/cmd/protoc-gen-go-grpc
MODULE=rollcall.dev/clients/go
GO_PACKAGE="$MODULE/rollcallv1;rollcallv1"

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$(mkdir -p "${1:-$here}" && cd "${1:-$here}" && pwd)"
work="${ROLLCALL_CLIENT_WORK:-$root/build/clients/go}"
bin="$work/bin"
mkdir -p "$bin"

command -v protoc >/dev/null || { echo "no protoc: apt-get install protobuf-compiler" >&2; exit 2; }

# go install only when the pinned version is not there yet (a second or so when it is cached).
install_plugin() {
  local name=$1 package=$2 version=$3
  if [ "$("$bin/$name" --version 2>/dev/null | awk '{print $2}')" != "v${version#v}" ]; then
    GOBIN="$bin" GOFLAGS=-mod=mod go install "$package@$version"
  fi
}
install_plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
install_plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc \
  "$PROTOC_GEN_GO_GRPC_VERSION"

# The generated code embeds the file's descriptor, option go_package included. The proto's
# option is to become this module's package; until it does, a copy of the proto with that option
# set is compiled, so that the committed code is the same before and after that change (then this
# rewrite changes nothing). --go_opt=M... says the same to the plugins.
protos="$(mktemp -d)"
trap 'rm -rf "$protos"' EXIT
mkdir -p "$protos/rollcall/v1"
sed -E "s#^option go_package = \".*\";\$#option go_package = \"$GO_PACKAGE\";#" \
  "$root/proto/rollcall/v1/attendance.proto" >"$protos/rollcall/v1/attendance.proto"
grep -qF "option go_package = \"$GO_PACKAGE\";" "$protos/rollcall/v1/attendance.proto" ||
  { echo "proto/rollcall/v1/attendance.proto: no option go_package line to set" >&2; exit 1; }

mapping="Mrollcall/v1/attendance.proto=$GO_PACKAGE"
PATH="$bin:$PATH" protoc -I "$protos" \
  --go_out="$out" --go_opt="module=$MODULE" --go_opt="$mapping" \
  --go-grpc_out="$out" --go-grpc_opt="module=$MODULE" --go-grpc_opt="$mapping" \
  rollcall/v1/attendance.proto
