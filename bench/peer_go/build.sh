#!/usr/bin/env bash
# Builds the Go peer into OUT_DIR/peer_go:
#   1. installs the pinned protoc plugins (protoc-gen-go, protoc-gen-go-grpc) into OUT_DIR/tools;
#   2. stages this module (go.mod, go.sum, *.go) in OUT_DIR/src and generates the Go code of
#      proto/rollcall/v1/attendance.proto into OUT_DIR/src/gen/rollcallv1 with Debian's protoc;
#   3. go build -o OUT_DIR/peer_go.
# Modules come from the Go module cache as usual. Idempotent; a second run takes about a second.
#
#   bench/peer_go/build.sh OUT_DIR
set -euo pipefail

# protoc-gen-go's version is the google.golang.org/protobuf version of go.mod.
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
tools="$out/tools"
stage="$out/src"

log() { echo "peer_go build: $*" >&2; }

command -v go >/dev/null || { log "needs Go"; exit 1; }
if ! command -v protoc >/dev/null || [ ! -f /usr/include/google/protobuf/struct.proto ]; then
  log "installing protoc (Debian's protobuf-compiler, libprotobuf-dev for the well-known types)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    protobuf-compiler libprotobuf-dev >/dev/null
fi

stamp="$tools/versions"
want="protoc-gen-go $PROTOC_GEN_GO_VERSION protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC_VERSION"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$tools/protoc-gen-go" ] ||
   [ ! -x "$tools/protoc-gen-go-grpc" ]; then
  log "installing $want"
  mkdir -p "$tools"
  GOBIN="$tools" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
  GOBIN="$tools" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
  echo "$want" > "$stamp"
fi

# Stage: the module's own files (copied only when changed, so go build's cache stays warm), and
# the generated code, written afresh each time (protoc takes milliseconds; go build hashes
# contents, not times).
mkdir -p "$stage"
for f in go.mod go.sum "$here"/*.go; do
  f=$(basename "$f")
  cmp -s "$here/$f" "$stage/$f" || cp "$here/$f" "$stage/$f"
done
for f in "$stage"/*.go; do  # a source file removed here goes from the stage too
  [ -e "$here/$(basename "$f")" ] || rm -f "$f"
done
rm -rf "$stage/gen.new"
mkdir -p "$stage/gen.new"
# The proto's go_package is the Go client's (rollcall.dev/clients/go/...); M= maps it into this
# module instead.
map="Mrollcall/v1/attendance.proto=rollcall.dev/peer_go/gen/rollcallv1"
PATH="$tools:$PATH" protoc -I"$root/proto" -I/usr/include \
  --go_out="$stage/gen.new" --go_opt=module=rollcall.dev/peer_go --go_opt="$map" \
  --go-grpc_out="$stage/gen.new" --go-grpc_opt=module=rollcall.dev/peer_go --go-grpc_opt="$map" \
  rollcall/v1/attendance.proto
mkdir -p "$stage/gen/rollcallv1"
for f in "$stage"/gen.new/gen/rollcallv1/*.go; do
  cmp -s "$f" "$stage/gen/rollcallv1/$(basename "$f")" || cp "$f" "$stage/gen/rollcallv1/"
done
rm -rf "$stage/gen.new"

cd "$stage"
go build -trimpath -o "$out/peer_go" .
log "built $out/peer_go"
