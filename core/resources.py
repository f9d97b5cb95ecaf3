"""Resources of a training process, sampled by the process itself and recorded in its run: CPU and RSS
(psutil), GPU utilisation and memory (nvidia-ml-py, where there is a GPU). Torch-free; the window draws
them from the run, live or reopened, so a run from any producer shows them."""

from __future__ import annotations

import os
import time
from typing import Any

from isoscope.core import events as ev

PERIOD_S = 1.0  # one sample a second at most


def nvml() -> Any:
    """The initialised pynvml module, or None (not installed, no driver)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # noqa: BLE001 - no NVML: CPU figures only
        return None


def nvml_index(device: str) -> int:
    """NVML's index of a CUDA device name ("cuda:1"), through CUDA_VISIBLE_DEVICES when it renumbers them."""
    index = int(device.split(":")[1].split()[0]) if ":" in device else 0
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if index < len(visible) and visible[index].isdigit():
        return int(visible[index])
    return index


class ResourceSampler:
    """Samples this process (CPU %, RSS) and, for a CUDA device, the GPU it uses."""

    def __init__(self, pid: int | None = None) -> None:
        import psutil

        self._psutil = psutil
        self._proc = psutil.Process(pid)
        self._proc.cpu_percent(None)  # the first reading starts the interval
        self._cpus = psutil.cpu_count() or 1
        self._total = psutil.virtual_memory().total
        self._nvml: Any = None
        self._handle: Any = None
        self._t0 = time.monotonic()
        self._last = -1e9
        self.device = "cpu"

    def use_device(self, device: str) -> None:
        """The device the process trains on ("cpu", "cuda:0", "cuda:0 (NVIDIA H200)")."""
        self.device = device
        if device.startswith("cuda") and self._nvml is None:
            self._nvml = nvml()
        if self._nvml is not None and device.startswith("cuda"):
            try:
                self._handle = self._nvml.nvmlDeviceGetHandleByIndex(nvml_index(device))
            except Exception:  # noqa: BLE001 - no such device for NVML
                self._handle = None

    def sample(self) -> ev.Resources | None:
        """A reading when a period has passed since the last, else None (also when the process cannot be
        read)."""
        now = time.monotonic()
        if now - self._last < PERIOD_S:
            return None
        self._last = now
        try:
            values: dict[str, float] = {
                "cpu_percent": self._proc.cpu_percent(None), "cpus": float(self._cpus),
                "rss_bytes": float(self._proc.memory_info().rss),
            }  # fmt: skip
        except self._psutil.Error:
            return None
        values["memory_percent"] = 100.0 * values["rss_bytes"] / self._total
        if self._handle is not None:
            try:
                mem = self._nvml.nvmlDeviceGetMemoryInfo(self._handle)
                values["gpu_util"] = float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
                values["gpu_memory_bytes"] = float(mem.used)
                values["gpu_memory_percent"] = 100.0 * mem.used / mem.total
            except Exception:  # noqa: BLE001 - the CPU figures still hold
                pass
        return ev.Resources(now - self._t0, values)


def describe(r: ev.Resources) -> tuple[float, float, str]:
    """(utilisation %, memory %, title) as the Resources plot draws them: the GPU's when there is one."""
    v = r.values
    if "gpu_util" in v:
        used = v.get("gpu_memory_bytes", 0.0) / 2**30
        return v["gpu_util"], v.get("gpu_memory_percent", 0.0), f"GPU {v['gpu_util']:.0f}%, {used:.1f} GiB"
    cpu = v.get("cpu_percent", 0.0) / max(v.get("cpus", 1.0), 1.0)
    return cpu, v.get("memory_percent", 0.0), f"CPU {cpu:.0f}%, RSS {v.get('rss_bytes', 0.0) / 2**30:.2f} GiB"
