#!/usr/bin/env bash
# The Kubernetes manifests (deploy/kubernetes/) under ctest, label deploy; one check a call:
#
#   check_manifests.sh render     every overlay (deploy/kubernetes/overlays/*) renders with
#                                 kustomize; the output goes to $ROLLCALL_BUILD/tests/deploy/CHECK/
#   check_manifests.sh validate   each rendered overlay, and examples/secrets.yaml, validates
#                                 strictly (unknown fields are errors) against the Kubernetes
#                                 API's schemas of the oldest and newest versions supported,
#                                 offline (kubernetes-validate); plus the project's own rules
#                                 (validate_manifests.py: image by digest, drain timing, ...)
#   check_manifests.sh score      kube-score finds nothing in each rendered overlay (warnings
#                                 fail too); findings left on purpose are ignored in the
#                                 manifest itself (kube-score/ignore), each with its reason
#
# The tools are installed, pinned, into $ROLLCALL_BUILD/tools when missing (scripts/lib.sh,
# rollcall_install_deploy_tool). Only when a tool cannot be installed does a check exit 77,
# which ctest reports as skipped, saying why.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"

check=${1:?usage: check_manifests.sh render|validate|score}
kustomize_dir="$ROLLCALL_ROOT/deploy/kubernetes"
out="$ROLLCALL_BUILD/tests/deploy/$check"   # one folder a check: ctest runs them in parallel
bin="$ROLLCALL_BUILD/tools/bin"
# Oldest Kubernetes the manifests are for (the preStop sleep action is on by default from
# 1.30) and the newest kubernetes-validate knows.
k8s_versions=(1.30 1.37)

skip() { echo "$check: SKIPPED: $*"; exit 77; }
need() {
  rollcall_install_deploy_tool "$1" || skip "$1 could not be installed into $ROLLCALL_BUILD/tools ($2)"
}

# Renders every overlay into $out/<overlay>.yaml (each test renders for itself: kustomize
# takes well under a second, and the tests stay independent).
render() {
  need kustomize "go install ${ROLLCALL_KUSTOMIZE_MODULE} needs Go and the Go module proxy"
  mkdir -p "$out"
  local overlay name failed=0
  overlays=()
  for overlay in "$kustomize_dir"/overlays/*/; do
    name=$(basename "$overlay")
    if "$bin/kustomize" build "$overlay" >"$out/$name.yaml.tmp"; then
      mv "$out/$name.yaml.tmp" "$out/$name.yaml"
      overlays+=("$out/$name.yaml")
      echo "rendered overlays/$name: $(grep -c '^kind:' "$out/$name.yaml") objects"
    else
      echo "FAIL: kustomize build deploy/kubernetes/overlays/$name" >&2
      failed=1
    fi
  done
  [ ${#overlays[@]} -gt 0 ] || { echo "FAIL: no overlay in $kustomize_dir/overlays" >&2; exit 1; }
  [ "$failed" = 0 ] || exit 1
}

case "$check" in
  render)
    render
    ;;
  validate)
    render
    need kubernetes-validate "pip install -r tests/deploy/requirements.txt needs python3-venv and PyPI"
    args=()
    for v in "${k8s_versions[@]}"; do args+=(--kubernetes-version "$v"); done
    "$ROLLCALL_BUILD/tools/deploy-venv/bin/python" "$(dirname "$0")/validate_manifests.py" \
      "${args[@]}" --rules "${overlays[@]}" \
      --no-rules "$kustomize_dir/examples/secrets.yaml"
    ;;
  score)
    render
    need kube-score "go install ${ROLLCALL_KUBE_SCORE_MODULE} needs Go and the Go module proxy"
    # The default checks, plus the optional ones these manifests meet; left off on purpose:
    # container-resource-requests-equal-limits and container-cpu-requests-equal-limits (a CPU
    # limit above the request lets a pod burst through a cold cache).
    failed=0
    for f in "${overlays[@]}"; do
      echo "kube-score: overlays/$(basename "$f" .yaml)"
      "$bin/kube-score" score --output-format ci --exit-one-on-warning \
        --kubernetes-version "v${k8s_versions[0]}" \
        --enable-optional-test container-seccomp-profile \
        --enable-optional-test container-ports-check \
        --enable-optional-test container-memory-requests-equal-limits \
        --enable-optional-test container-ephemeral-storage-request-equals-limit \
        "$f" || failed=1
    done
    [ "$failed" = 0 ] || { echo "FAIL: kube-score has findings (above)" >&2; exit 1; }
    ;;
  *)
    echo "unknown check $check (render, validate or score)" >&2
    exit 2
    ;;
esac
