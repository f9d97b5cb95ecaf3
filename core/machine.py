"""The machine a figure was measured on, in words (torch-free, for benchmarks and the window alike)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_description() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one) and its core count."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"
