#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time, for ctest:
#
#   run_fuzzer.sh FUZZER WORK_DIR SEED_COMMAND... -- LIBFUZZER_FLAGS...
#
# Makes a fresh seed corpus in WORK_DIR/seeds with SEED_COMMAND (which gets that folder as its
# last argument), then fuzzes with WORK_DIR/corpus as the working
# corpus (kept between runs, so a developer's runs build on each other) and the seeds read-only.
# ROLLCALL_FUZZ_SECONDS overrides -max_total_time. Exits non-zero on any finding (crash, broken
# invariant, leak, timeout, out-of-memory); the input is saved as WORK_DIR/crash-* (or leak-*,
# timeout-*, oom-*) and the command to replay it is printed.
set -euo pipefail

fuzzer="$1"; work="$2"; shift 2
seed_command=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do seed_command+=("$1"); shift; done
[ $# -gt 0 ] && shift  # the "--"
flags=("$@")
if [ -n "${ROLLCALL_FUZZ_SECONDS:-}" ]; then
  flags+=("-max_total_time=$ROLLCALL_FUZZ_SECONDS")
fi

rm -rf "$work/seeds" "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*
mkdir -p "$work/seeds" "$work/corpus"
"${seed_command[@]}" "$work/seeds"

status=0
"$fuzzer" -artifact_prefix="$work/" -print_final_stats=1 "${flags[@]}" \
  "$work/corpus" "$work/seeds" || status=$?
if [ "$status" -ne 0 ]; then
  for artifact in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [ -e "$artifact" ] || continue
    echo "FINDING: $artifact (replay: $fuzzer $artifact)" >&2
  done
  echo "$(basename "$fuzzer") failed with exit status $status" >&2
fi
exit "$status"
