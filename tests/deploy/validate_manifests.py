"""Validates rendered Kubernetes manifests strictly against the API's schemas, offline.

  validate_manifests.py --kubernetes-version 1.30 ... [--rules] FILE... [--no-rules FILE...]

Each object is checked with kubernetes-validate's strict schemas (a field the API does not
know is an error, as `kubectl apply --validate=strict` would make it) for every version given.
A kind with no schema is an error, except the custom resources listed in CUSTOM_RESOURCES,
which are skipped by name and said so. Files after --rules are also held to the project's own
rules (rule_errors below); files after --no-rules (examples) to the schemas only.
"""

import argparse
import re
import sys

import kubernetes_validate.utils as kv
import yaml

# Custom resources: their schemas come with their operators' CRDs, which kubernetes-validate
# does not ship, and this suite cannot fetch. Skipped explicitly; any other kind without a
# schema fails.
CUSTOM_RESOURCES = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),  # Prometheus Operator
    ("cert-manager.io/v1", "Certificate"),           # cert-manager
}

DIGEST = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")


def seconds(duration):
    m = DURATION.match(duration)
    if not m:
        raise ValueError(f"not a duration: {duration}")
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def rule_errors(objects):
    """The project's rules for a rendered overlay, beyond what the schemas say."""
    errors = []
    # One namespace for the lot: an object an overlay forgot to place would land in the
    # `default` namespace, away from the pods it is for.
    namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
    if len(namespaces) != 1 or None in namespaces:
        errors.append("objects are not all in one namespace: "
                      f"{sorted(str(n) for n in namespaces)}")
    configmaps = {o["metadata"]["name"]: o.get("data", {}) for o in objects
                  if o["kind"] == "ConfigMap"}
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    if not deployments:
        errors.append("no Deployment")
    for d in deployments:
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or not psc.get("runAsUser"):
            errors.append(f"{name}: the pod must set runAsNonRoot and a runAsUser")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            errors.append(f"{name}: the pod's seccompProfile must be RuntimeDefault")
        if pod.get("automountServiceAccountToken") is not False:
            errors.append(f"{name}: automountServiceAccountToken must be false")
        for c in pod["containers"]:
            where = f"{name}/{c['name']}"
            if not DIGEST.match(c["image"]):
                errors.append(f"{where}: image {c['image']} is not pinned by digest "
                              "(NAME@sha256:<64 hex digits>)")
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{where}: allowPrivilegeEscalation must be false")
            if sc.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{where}: readOnlyRootFilesystem must be true")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                errors.append(f"{where}: capabilities must drop ALL")
            for kind in ("requests", "limits"):
                missing = {"cpu", "memory", "ephemeral-storage"} - set(
                    c.get("resources", {}).get(kind, {}))
                if missing:
                    errors.append(f"{where}: no {kind} for {', '.join(sorted(missing))}")
            # The drain must fit in the grace period: preStop pause, then the server's
            # shutdown_grace, before the kubelet's SIGKILL.
            env = {}
            for ref in c.get("envFrom", []):
                env.update(configmaps.get(ref.get("configMapRef", {}).get("name"), {}))
            pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            grace = seconds(env.get("ROLLCALL_SHUTDOWN_GRACE", "20s"))
            period = pod.get("terminationGracePeriodSeconds", 30)
            if period <= pre_stop + grace:
                errors.append(f"{where}: terminationGracePeriodSeconds {period} leaves no margin "
                              f"after the preStop pause ({pre_stop}s) and shutdown_grace "
                              f"({grace:g}s)")
            if not pre_stop:
                errors.append(f"{where}: no preStop pause before SIGTERM")
    return errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", action="append", required=True)
    parser.add_argument("files", nargs="*")
    # --rules and --no-rules switch the mode of the files after them.
    argv, rules, files = sys.argv[1:], True, []
    rest = []
    for arg in argv:
        if arg == "--rules":
            rules = True
        elif arg == "--no-rules":
            rules = False
        elif arg.startswith("-") or (rest and rest[-1] == "--kubernetes-version"):
            rest.append(arg)
        else:
            files.append((arg, rules))
    args = parser.parse_args(rest)

    failures = 0
    for filename, with_rules in files:
        objects = kv.resources_from_file(filename)
        for obj in objects:
            key = (obj.get("apiVersion"), obj.get("kind"))
            what = f"{filename}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            if key in CUSTOM_RESOURCES:
                print(f"SKIP {what}: custom resource {key[0]}, no schema offline")
                continue
            for version in args.kubernetes_version:
                try:
                    kv.validate(obj, version, strict=True)
                    print(f"ok   {what} (Kubernetes {version}, strict)")
                except kv.ValidationError as e:
                    path = ".".join(str(p) for p in e.path)
                    print(f"FAIL {what} (Kubernetes {version}): {path}: {e.message}")
                    failures += 1
                except kv.SchemaNotFoundError:
                    print(f"FAIL {what}: no schema for {key[0]} {key[1]} in Kubernetes "
                          f"{version} (a custom resource? list it in CUSTOM_RESOURCES)")
                    failures += 1
        if with_rules:
            for error in rule_errors(objects):
                print(f"FAIL {filename}: {error}")
                failures += 1
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
