"""A real two-node Ray cluster on the loopback address for the tests, and its clean end.

Both nodes run on this machine, each with one CPU, in a temporary folder of their own. Stopping kills
only the processes of this cluster (those naming its folder, and their children), never another
cluster on the same machine as ``ray stop`` would.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

RAY = Path(sys.executable).with_name("ray")
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """``start()`` a head and a second node; ``address`` is HOST:PORT; ``stop()`` ends both."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="iso-ray-", dir="/tmp"))  # short: Ray's socket paths
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"

    def start(self) -> LocalCluster:
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", f"--temp-dir={self.folder}"]
        for args in (["--head", f"--port={self.port}", "--include-dashboard=false"], [f"--address={self.address}"]):
            done = subprocess.run([str(RAY), "start", *args, *common], env=ENV, capture_output=True, text=True,
                                  timeout=120)  # fmt: skip
            if done.returncode != 0:
                self.stop()
                raise RuntimeError(f"ray start failed: {done.stderr[-2000:]}")
        return self

    def processes(self) -> list[psutil.Process]:
        mine = []
        for proc in psutil.process_iter(["cmdline"]):
            if proc.pid != os.getpid() and any(str(self.folder) in arg for arg in proc.info["cmdline"] or []):
                mine.append(proc)
                mine += proc.children(recursive=True)
        return list({p.pid: p for p in mine}.values())

    def stop(self) -> None:
        procs = self.processes()
        for p in procs:
            try:
                p.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=3)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)
