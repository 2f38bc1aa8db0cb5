#!/usr/bin/env bash
# `buf breaking`: the contract (proto/, the module of buf.yaml) against proto/ as it was at the
# commit that proto/BREAKING_BASELINE names. The baseline is read with git archive, so this works
# in any clone or worktree that has that commit (a normal clone of main has it); when the commit
# cannot be read (no git checkout, a shallow clone, a baseline not on this clone's history) it
# fails and says why: it never passes without having compared.
#
#   tests/proto/buf_breaking.sh BUF
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BUF" >&2; exit 2; }
buf=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
fail() { echo "proto_buf_breaking: $*" >&2; exit 1; }

baseline=$(grep -v '^[[:space:]]*\(#\|$\)' proto/BREAKING_BASELINE | tail -n 1 | tr -d '[:space:]')
[[ $baseline =~ ^[0-9a-f]{40}$ ]] ||
  fail "proto/BREAKING_BASELINE must end with a full commit id (40 hex digits), not '$baseline'"
git rev-parse --git-dir >/dev/null 2>&1 ||
  fail "$root is not a git checkout: the baseline commit $baseline cannot be read, nothing was compared"
if ! git cat-file -e "$baseline^{commit}" 2>/dev/null; then
  hint="fetch it (git fetch origin main), or clone without --depth"
  [ "$(git rev-parse --is-shallow-repository)" = true ] &&
    hint="this is a shallow clone: git fetch --unshallow"
  fail "the baseline commit $baseline (proto/BREAKING_BASELINE) is not in this clone; $hint." \
    "Nothing was compared."
fi

against=$(mktemp -d)
trap 'rm -rf "$against"' EXIT
git archive "$baseline" proto | tar -x -C "$against"
[ -d "$against/proto" ] || fail "the baseline commit $baseline has no proto/"
# The baseline's own buf.yaml (if any) is not used: --against-config states the module.
# Baselines before proto/ held only the contract also had copies of google/rpc/*.proto there
# (now third_party/googleapis/): never part of the contract, so excluded. Imports (the
# well-known types) are not the contract either.
echo "proto_buf_breaking: proto/ against $baseline"
"$buf" breaking --exclude-imports --against "$against/proto" \
  --against-config '{"version":"v2","modules":[{"path":".","excludes":["google/rpc"]}]}'
echo "proto_buf_breaking: no breaking change"
