# Shared by the scripts in scripts/: install what Rollcall needs, and build it once.
# Sourced, not run.

ROLLCALL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROLLCALL_BUILD="${ROLLCALL_BUILD:-$ROLLCALL_ROOT/build}"
# scripts/test's second stage: clang with AddressSanitizer + UndefinedBehaviorSanitizer, fuzzers on.
ROLLCALL_SANITIZE_BUILD="${ROLLCALL_SANITIZE_BUILD:-$ROLLCALL_ROOT/build-sanitize}"
# scripts/test's third stage: clang with ThreadSanitizer, the unit tests of the project's own
# concurrency only.
ROLLCALL_TSAN_BUILD="${ROLLCALL_TSAN_BUILD:-$ROLLCALL_ROOT/build-tsan}"
# The test executables the ThreadSanitizer stage builds and runs: in-process tests of the
# clock and mutex, the Graph client (token single-flight, retries, transport pool) and the
# service (cache, executor, server, metrics observers).
ROLLCALL_TSAN_TARGETS=(common_tests service_tests graph_client_tests)

# Debian packages the build, the tests and the demo use. Installed only when one is missing.
ROLLCALL_DEBS=(
  cmake ninja-build g++ pkg-config python3 python3-venv openssl ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libcurl4-openssl-dev rapidjson-dev libabsl-dev libgtest-dev libgmock-dev libssl-dev
  prometheus-cpp-dev python3-prometheus-client
  libhiredis-dev redis-server
  clang libclang-rt-14-dev
)

rollcall_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

rollcall_install_deps() {
  local missing=() pkg
  for pkg in "${ROLLCALL_DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    rollcall_log "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Tools from other registries, pinned, installed into the build folder: buf (the contract's
# lint, format and breaking-change checks: ctest's proto_buf_* entries, buf.yaml).
ROLLCALL_BUF_VERSION=1.75.0
rollcall_install_tools() {
  local tools="$ROLLCALL_BUILD/tools"
  if [ ! -x "$tools/node_modules/.bin/buf" ]; then
    if ! command -v npm >/dev/null; then
      rollcall_log "npm not found: buf not installed; the proto_buf_* tests are skipped"
      return 0
    fi
    rollcall_log "installing buf $ROLLCALL_BUF_VERSION (npm)"
    mkdir -p "$tools"
    npm install --silent --no-save --no-audit --no-fund --prefix "$tools" \
      "@bufbuild/buf@$ROLLCALL_BUF_VERSION" >/dev/null ||
      rollcall_log "buf not installed; the proto_buf_* tests are skipped"
  fi
}

# grpcurl and grpc-health-probe, pinned, built with `go install` into $ROLLCALL_BUILD/tools/bin
# when missing (a minute or two the first time): the tools the README's commands use, and the
# standard-tools test. Skipped, saying so, without Go.
ROLLCALL_GRPCURL_MODULE=github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4
ROLLCALL_HEALTH_PROBE_MODULE=github.com/grpc-ecosystem/grpc-health-probe@v0.4.62
rollcall_install_go_tools() {
  rollcall_go_install grpcurl "$ROLLCALL_GRPCURL_MODULE" &&
    rollcall_go_install grpc-health-probe "$ROLLCALL_HEALTH_PROBE_MODULE"
}

# Installs the Go program `module` (path@version) as $ROLLCALL_BUILD/tools/bin/NAME with
# `go install` unless it is there, under a lock (ctest runs the tests that need it in parallel).
# Returns 1, saying so, without a Go toolchain.
rollcall_go_install() {
  local name=$1 module=$2 bin="$ROLLCALL_BUILD/tools/bin"
  mkdir -p "$bin"
  (
    flock 9
    [ -x "$bin/$name" ] && exit 0
    if ! command -v go >/dev/null; then
      rollcall_log "no Go toolchain: $name not installed"
      exit 1
    fi
    rollcall_log "installing $name (go install $module)"
    GOBIN="$bin" GOFLAGS=-mod=mod go install "$module" >&2
  ) 9>"$bin/.install-$name.lock"
}

# A venv at $1 holding the pip requirements file $2, made again when the file or the Python
# (${PYTHON:-python3}) changes.
rollcall_python_venv() {
  local venv=$1 req=$2 python="${PYTHON:-python3}" want
  want="$(cat "$req" <("$python" -c 'import sys; print(sys.version)') | sha256sum)"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/requirements.sha256" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  rollcall_log "installing $req into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv" || {
    rollcall_log "'$python -m venv' failed (on Debian: apt-get install python3-venv)"
    return 1
  }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" >&2 &&
    echo "$want" >"$venv/requirements.sha256"
}

# The deployment checks' tools (tests/deploy/, ctest label deploy), pinned, into
# $ROLLCALL_BUILD/tools: kustomize and kube-score built with `go install` (the newest kustomize
# that builds with Go 1.26: v5.8.3 asks for Go 1.27), kubernetes-validate (the Kubernetes API's
# JSON schemas, offline) in a venv from tests/deploy/requirements.txt. Each is installed once,
# under a lock (ctest runs the deploy tests in parallel); a failed install returns 1 and the
# test that needed the tool reports itself skipped.
ROLLCALL_KUSTOMIZE_MODULE=sigs.k8s.io/kustomize/kustomize/v5@v5.8.2
ROLLCALL_KUBE_SCORE_MODULE=github.com/zegl/kube-score/cmd/kube-score@v1.20.0
rollcall_install_deploy_tool() {
  local tools="$ROLLCALL_BUILD/tools"
  case "$1" in
    kustomize) rollcall_go_install kustomize "$ROLLCALL_KUSTOMIZE_MODULE" ;;
    kube-score) rollcall_go_install kube-score "$ROLLCALL_KUBE_SCORE_MODULE" ;;
    kubernetes-validate)
      mkdir -p "$tools"
      (
        flock 9
        rollcall_python_venv "$tools/deploy-venv" "$ROLLCALL_ROOT/tests/deploy/requirements.txt"
      ) 9>"$tools/.install-deploy-venv.lock"
      ;;
    *) rollcall_log "unknown deploy tool $1"; return 1 ;;
  esac
}
rollcall_install_deploy_tools() {
  local name ok=0
  for name in kustomize kube-score kubernetes-validate; do
    rollcall_install_deploy_tool "$name" || { ok=1; rollcall_log "$name not installed; the deploy tests that need it are skipped"; }
  done
  return $ok
}

# The sanitizer stage's compiler flags. Every UndefinedBehaviorSanitizer finding is fatal
# (-fno-sanitize-recover); pointer-overflow is left recoverable only so that
# tests/sanitizer/ubsan.supp can silence one known RapidJSON 1.1.0 header bug, and
# halt_on_error=1 (rollcall_sanitizer_env) still stops on any other report of it.
ROLLCALL_SANITIZE_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined \
-fsanitize-recover=pointer-overflow -fno-omit-frame-pointer"

# Configures the build folder $1 with clang, the compiler flags $2 (the sanitizers) and clang's
# thread-safety analysis as errors; any further arguments are more CMake definitions. -O1 with
# line tables: fast enough to build and run, symbolized stacks in reports.
rollcall_configure_clang() {
  local dir=$1 flags=$2
  shift 2
  cmake -S "$ROLLCALL_ROOT" -B "$dir" -G Ninja \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DROLLCALL_THREAD_SAFETY_ANALYSIS=ON "$@" >/dev/null
}

# Builds the given targets (all when none) in the build folder $1.
rollcall_build_targets() {
  local dir=$1 targets=() t
  shift
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
}

# Configures and builds everything into $ROLLCALL_SANITIZE_BUILD with clang, the sanitizers and
# the libFuzzer targets (ROLLCALL_FUZZ=ON).
rollcall_build_sanitize() {
  rollcall_log "configuring $ROLLCALL_SANITIZE_BUILD (clang, ASan + UBSan, fuzzers)"
  rollcall_configure_clang "$ROLLCALL_SANITIZE_BUILD" "$ROLLCALL_SANITIZE_FLAGS" -DROLLCALL_FUZZ=ON
  rollcall_log "building the sanitizer configuration"
  rollcall_build_targets "$ROLLCALL_SANITIZE_BUILD"
}

# Runtime options of the sanitizers, for every process the suite starts (children inherit them):
# stop at the first report, with a stack; leaks checked at exit (LeakSanitizer: Debian's gRPC,
# protobuf and Abseil hold nothing it reports, so it runs without suppressions).
rollcall_sanitizer_env() {
  export ASAN_OPTIONS="detect_leaks=1:print_summary=1"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$ROLLCALL_ROOT/tests/sanitizer/ubsan.supp"
}

# Configures $ROLLCALL_TSAN_BUILD (clang, ThreadSanitizer, thread-safety analysis as errors) and
# builds only ROLLCALL_TSAN_TARGETS: the rest (integration tests, fuzzers, the server) is not
# run under TSan, so it is not built either.
rollcall_build_tsan() {
  rollcall_log "configuring $ROLLCALL_TSAN_BUILD (clang, ThreadSanitizer)"
  rollcall_configure_clang "$ROLLCALL_TSAN_BUILD" "-fsanitize=thread -fno-omit-frame-pointer" \
    -DROLLCALL_TSAN=ON
  rollcall_log "building ${ROLLCALL_TSAN_TARGETS[*]} under ThreadSanitizer"
  rollcall_build_targets "$ROLLCALL_TSAN_BUILD" "${ROLLCALL_TSAN_TARGETS[@]}" rollcall_tsan_absl_sync
}

# A ctest -R regex matching exactly the tests whose command runs one of the given executables
# (run in a build folder; gtest-discovered tests included, by their own names).
rollcall_tests_of() {
  ctest --show-only=json-v1 | python3 -c '
import json, os, re, sys
wanted = set(sys.argv[1:])
names = [t["name"] for t in json.load(sys.stdin)["tests"]
         if t.get("command") and os.path.basename(t["command"][0]) in wanted]
if not names:
    sys.exit("no tests found for " + " ".join(sorted(wanted)))
print("^(" + "|".join(re.escape(n) for n in names) + ")$")
' "$@"
}

# ThreadSanitizer's runtime: stop at the first report, both stacks of a lock-order inversion,
# the suppressions for races inside the uninstrumented Debian libraries (tests/sanitizer/
# tsan.supp says why each entry is there), and Abseil's synchronization made visible
# (tests/sanitizer/tsan_absl_sync.cc, preloaded).
rollcall_tsan_env() {
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$ROLLCALL_ROOT/tests/sanitizer/tsan.supp"
  export LD_PRELOAD="$ROLLCALL_TSAN_BUILD/librollcall_tsan_absl_sync.so"
}

# Configures and builds the given targets (all when none) into $ROLLCALL_BUILD.
rollcall_build() {
  # Configure every time (a few seconds): it also picks up tools installed since the last run.
  rollcall_log "configuring $ROLLCALL_BUILD"
  cmake -S "$ROLLCALL_ROOT" -B "$ROLLCALL_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  rollcall_log "building ${*:-everything} (this takes a few minutes on 2 cores the first time)"
  rollcall_build_targets "$ROLLCALL_BUILD" "$@"
}
