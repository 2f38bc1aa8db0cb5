"""Holds deploy/Dockerfile (and the root .dockerignore) to the project's rules, statically:
no Docker daemon is needed.

  check_dockerfile.py REPO_ROOT [BINARY...]

Rules:
- every FROM names a base by digest (NAME@sha256:<64 hex>), an earlier stage, or carries a
  documented exception: a comment line `base-image-exception: <reason>` right above it (an
  ARG's default counts as the FROM's image);
- no `latest` tag, no ADD from a URL or a git repository, no `curl ... | sh`;
- apt-get install with --no-install-recommends, and the package lists removed in the same RUN;
- the final stage runs as a numeric non-root USER (Kubernetes' runAsNonRoot can verify only a
  number), with ENTRYPOINT or CMD in exec (JSON) form;
- a HEALTHCHECK instruction: a CMD, or NONE with the reason in a comment right above it;
- no ARG or ENV whose name says it holds a secret (build arguments and ENV stay in the image);
- .dockerignore excludes the build folders, .git and node_modules;
- with BINARY arguments (the built programs): each shared library they load directly comes
  from a Debian package the final stage installs, or one of its dependencies, or the base's
  essentials (checked with dpkg on this machine, which runs the same Debian release).
"""

import fnmatch
import json
import os
import re
import subprocess
import sys

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY)", re.I)
# In debian:bookworm-slim before any apt-get (Essential and required packages).
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def instructions(text):
    """(line number, instruction, arguments, comment lines right above) for each instruction."""
    out, comments, buf, start = [], [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not buf:
            if not stripped:
                comments = []
                continue
            if stripped.startswith("#"):
                comments.append(stripped[1:].strip())
                continue
            start = number
        if stripped.startswith("#") and buf:
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        word, _, args = buf.partition(" ")
        out.append((start, word.upper(), args.strip(), comments))
        buf, comments = "", []
    return out


def exception_reason(comments):
    for c in comments:
        m = re.match(r"base-image-exception:\s*(.*)", c)
        if m and len(m.group(1)) >= 10:
            return m.group(1)
    return None


def check(root, binaries):
    errors = []
    text = open(os.path.join(root, "deploy/Dockerfile")).read()
    ins = instructions(text)
    arg_defaults, stages, final = {}, set(), None
    for i, (line, word, args, comments) in enumerate(ins):
        where = f"deploy/Dockerfile:{line}"
        if word == "ARG":
            name, _, default = args.partition("=")
            arg_defaults[name] = default
            if SECRET_NAME.search(name):
                errors.append(f"{where}: ARG {name} looks like a secret (build args stay in the image)")
        elif word == "ENV":
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]:
                if SECRET_NAME.search(name):
                    errors.append(f"{where}: ENV {name} looks like a secret")
        elif word == "FROM":
            parts = args.split()
            image = parts[0]
            resolved = re.sub(r"\$\{?(\w+)\}?", lambda m: arg_defaults.get(m.group(1), ""), image)
            if len(parts) >= 3 and parts[1].upper() == "AS":
                stages.add(parts[2])
            final = i
            if resolved in stages or image in stages:
                pass
            elif DIGEST.search(resolved):
                pass
            elif exception_reason(comments):
                print(f"note: {where}: base {resolved} not pinned by digest, documented: "
                      f"{exception_reason(comments)[:100]}")
            else:
                errors.append(f"{where}: base image {resolved} is not pinned by digest "
                              "(NAME@sha256:...) and has no `base-image-exception:` comment")
            if re.search(r":latest(@|$)", resolved) or (":" not in resolved.split("/")[-1]
                                                       and "@" not in resolved
                                                       and resolved not in stages):
                errors.append(f"{where}: base image {resolved} has no tag or the tag latest")
        elif word == "ADD":
            if re.search(r"(https?|git)://|git@|\.git\b", args):
                errors.append(f"{where}: ADD from a URL or git (use COPY, and a checked download in RUN)")
        elif word == "RUN":
            if re.search(r"\b(curl|wget)\b[^|;&]*\|\s*(ba|da|z)?sh\b", args):
                errors.append(f"{where}: a download piped into a shell")
            if re.search(r"apt-get\s+(-\S+\s+)*install", args):
                if "--no-install-recommends" not in args:
                    errors.append(f"{where}: apt-get install without --no-install-recommends")
                if "rm -rf /var/lib/apt/lists" not in args:
                    errors.append(f"{where}: apt lists not removed in the same RUN")
    if final is None:
        return ["deploy/Dockerfile: no FROM"], set()
    last = ins[final:]
    users = [(line, args) for line, word, args, _ in last if word == "USER"]
    if not users:
        errors.append("deploy/Dockerfile: the final stage sets no USER (it would run as root)")
    else:
        line, user = users[-1]
        uid = user.split(":")[0]
        if not uid.isdigit() or int(uid) == 0:
            errors.append(f"deploy/Dockerfile:{line}: USER {user}: must be a numeric non-root UID")
        group = user.partition(":")[2]
        if group and (not group.isdigit() or int(group) == 0):
            errors.append(f"deploy/Dockerfile:{line}: USER {user}: the group must be numeric, not 0")
    for line, word, args, _ in last:
        if word in ("ENTRYPOINT", "CMD"):
            try:
                json.loads(args)
            except ValueError:
                errors.append(f"deploy/Dockerfile:{line}: {word} not in exec (JSON) form")
    health = [(line, args, comments) for line, word, args, comments in ins if word == "HEALTHCHECK"]
    if not health:
        errors.append("deploy/Dockerfile: no HEALTHCHECK (a CMD, or NONE with the reason above it)")
    for line, args, comments in health:
        if args.upper() == "NONE" and not any(len(c) > 20 for c in comments):
            errors.append(f"deploy/Dockerfile:{line}: HEALTHCHECK NONE without a comment saying why")

    ignore_path = os.path.join(root, ".dockerignore")
    if not os.path.exists(ignore_path):
        errors.append(".dockerignore: missing at the repository root")
    else:
        patterns = [l.strip() for l in open(ignore_path)
                    if l.strip() and not l.startswith("#")]
        for probe in ("build", "build-sanitize", ".git", "node_modules", "clients/node/node_modules"):
            if not any(fnmatch.fnmatch(probe, p.rstrip("/").lstrip("*/").lstrip("/"))
                       or fnmatch.fnmatch(probe, p.rstrip("/")) for p in patterns):
                errors.append(f".dockerignore: does not exclude {probe}")

    installed = set()
    for line, word, args, _ in last:
        if word == "RUN":
            m = re.search(r"apt-get\s+(?:-\S+\s+)*install\s+(.*?)(?:&&|;|$)", args)
            if m:
                installed |= {w for w in m.group(1).split() if not w.startswith("-")}
    return errors, installed


def package_closure(packages):
    """The packages and everything they depend on, as dpkg knows them here."""
    seen, todo = set(), list(packages)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        r = subprocess.run(["dpkg-query", "-W", "-f=${Depends},${Pre-Depends}", p],
                           capture_output=True, text=True)
        for alt in re.split(r",", r.stdout):
            name = alt.split("|")[0].strip().split(" ")[0].split(":")[0]
            if name:
                todo.append(name)
    return seen


def library_errors(binaries, installed):
    errors = []
    closure = package_closure(installed | BASE_PACKAGES)
    for binary in binaries:
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]",
                            subprocess.run(["readelf", "-d", binary], capture_output=True,
                                           text=True, check=True).stdout)
        ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
        for lib in needed:
            path = paths.get(lib)
            if not path:
                errors.append(f"{binary}: {lib} not found by ldd here")
                continue
            owner = None
            for candidate in (path, os.path.realpath(path)):
                r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
                if r.returncode == 0:
                    owner = r.stdout.split(":")[0]
                    break
            if owner is None:
                errors.append(f"{binary}: {lib} ({path}) belongs to no Debian package")
            elif owner not in closure:
                errors.append(f"{os.path.basename(binary)} loads {lib} from {owner}, which the "
                              "final stage does not install")
            else:
                print(f"ok   {os.path.basename(binary)}: {lib} ({owner})")
    return errors


def main():
    root, binaries = sys.argv[1], sys.argv[2:]
    errors, installed = check(root, binaries)
    present = [b for b in binaries if os.path.exists(b)]
    if present:
        errors += library_errors(present, installed)
    for b in sorted(set(binaries) - set(present)):
        print(f"note: {b} not built: its shared libraries not checked")
    for e in errors:
        print(f"FAIL {e}")
    print(f"{len(errors)} failure(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
