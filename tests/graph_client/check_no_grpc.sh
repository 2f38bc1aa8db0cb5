#!/usr/bin/env bash
# graph_client/ (and common/, under it) never touch gRPC: no file includes a gRPC header or a
# generated service stub, and a program linked against rollcall_graph_client alone needs no
# gRPC library. Fails, naming the culprit, otherwise.
#
#   check_no_grpc.sh SOURCE_ROOT PROBE_BINARY
set -u
root=$1 probe=$2
status=0

includes=$(grep -rnE '^\s*#\s*include\s*[<"](grpc/|grpcpp/|grpc\+\+/|[^">]*\.grpc\.pb\.h)' \
  "$root/graph_client" "$root/common" 2>/dev/null)
if [ -n "$includes" ]; then
  echo "a gRPC header is included under graph_client/ or common/:"
  echo "$includes"
  status=1
fi

if ! needed=$(readelf -d "$probe" | awk '/NEEDED/ {print $NF}'); then
  echo "cannot read the dynamic section of $probe"
  exit 1
fi
grpc_libs=$(echo "$needed" | grep -E '^\[?lib(grpc|gpr|upb|address_sorting)' || true)
if [ -n "$grpc_libs" ]; then
  echo "rollcall_graph_client links gRPC libraries:"
  echo "$grpc_libs"
  status=1
fi
[ "$status" = 0 ] && echo "graph_client/ and common/: no gRPC header, no gRPC library ($(echo "$needed" | wc -l) libraries needed)"
exit "$status"
