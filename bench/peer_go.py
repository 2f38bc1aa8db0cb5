#!/usr/bin/env python3
"""Starts the Go peer (bench/peer_go: the service a Go team would write instead of Rollcall).

    import peer_go
    peer = peer_go.start_peer(build_dir, tools_dir, graph_url, ca_file, tenant, client_id, secret,
                              cpu=0)
    ... gRPC to peer.address ("127.0.0.1:PORT") ...
    peer.stop()

start_peer builds the peer with bench/peer_go/build.sh into {tools_dir}/peer_go when the binary is
missing or older than its sources (Go files, go.mod/go.sum, build.sh, the proto), then starts it
pinned to `cpu` with taskset, reading the address from its first stdout line. The token endpoint
is the emulator's own (authority = graph_url), as for Rollcall. Self-contained: no import of
bench.py.
"""
import glob
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SOURCE = os.path.join(HERE, "peer_go")
PREFIX = "peer_go listening on "


def _sources():
    return (glob.glob(os.path.join(SOURCE, "*.go"))
            + [os.path.join(SOURCE, f) for f in ("go.mod", "go.sum", "build.sh")]
            + [os.path.join(ROOT, "proto", "rollcall", "v1", "attendance.proto")])


def build_peer(tools_dir):
    """Builds the peer if needed; returns the binary's path."""
    out = os.path.join(tools_dir, "peer_go")
    binary = os.path.join(out, "peer_go")
    if (not os.path.exists(binary)
            or os.path.getmtime(binary) < max(os.path.getmtime(f) for f in _sources())):
        subprocess.run(["bash", os.path.join(SOURCE, "build.sh"), out], check=True,
                       stdout=sys.stderr)
        os.utime(binary)  # go build leaves an unchanged binary's time alone
    return binary


class PeerProcess:
    """The running peer: .address ("HOST:PORT"), .proc (the Popen), .log (its stderr file),
    .rss_bytes(), .stop() (SIGTERM, then SIGKILL after 30 s; safe to call twice)."""

    def __init__(self, argv, env, log_path):
        self.log = log_path
        with open(log_path, "wb") as stderr:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, env=env,
                                         text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith(PREFIX):
            self.stop()
            with open(log_path, errors="replace") as f:
                raise RuntimeError(f"peer_go did not start: {line!r}\n{f.read()}")
        self.address = line[len(PREFIX):]

    def rss_bytes(self):
        # With taskset in front, the peer is taskset's exec'd image: same pid.
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def start_peer(build_dir, tools_dir, graph_url, ca_file, tenant, client_id, secret, cpu,
               count_file=None):
    """Builds (if needed) and starts the Go peer against the Graph emulator at graph_url
    ("https://127.0.0.1:PORT", also the token authority), trusting ca_file. Pinned to CPU `cpu`
    with taskset (None: not pinned). Its stderr goes to {build_dir}/peer_go.log. With
    `count_file`, the peer writes its count of OK replies there on SIGUSR1. Returns a
    PeerProcess."""
    binary = build_peer(tools_dir)
    argv = [binary, "--listen", "127.0.0.1:0", "--graph", graph_url, "--authority", graph_url,
            "--tenant", tenant, "--client-id", client_id, "--ca", ca_file]
    if count_file:
        argv += ["--count_file", count_file]
    if cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", str(cpu)] + argv
    os.makedirs(build_dir, exist_ok=True)
    env = {**os.environ, "AZURE_CLIENT_SECRET": secret}
    return PeerProcess(argv, env, os.path.join(build_dir, "peer_go.log"))
