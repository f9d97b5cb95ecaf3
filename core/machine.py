"""The machine: what a figure was measured on, in words, and whether a window can open on it (torch-free)."""

from __future__ import annotations

import os
import platform
import sys
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


def cpu_bf16_feature() -> str | None:
    """The CPU feature that makes bf16 arithmetic fast here (amx_bf16, else avx512_bf16), or None (also where
    /proc/cpuinfo cannot say: other systems take the fp32 path)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return next((f for f in ("amx_bf16", "avx512_bf16") if f in flags), None)


def display_problem() -> str | None:
    """Why no window can open here (no X11 or Wayland display on Linux), or None."""
    if sys.platform.startswith(("win", "darwin")):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith(("xcb", "wayland")):
        return None  # offscreen, vnc, eglfs, ...: Qt draws without a display server
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no display: the window needs a graphical session (DISPLAY or WAYLAND_DISPLAY is not set); "
            "run it under a virtual display (xvfb-run -a isoscope ...) or use the headless commands "
            "(isoscope-train, isoscope-inspect)")  # fmt: skip
