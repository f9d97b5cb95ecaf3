"""Which devices a job can run on, found without importing torch, and a rough memory check.

GPUs come from nvidia-ml-py when it is importable, else from ``nvidia-smi``; otherwise only the CPU.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from isoscope.core.config import RunConfig


@dataclass
class Device:
    """One entry of the device picker."""

    name: str  # value for RunConfig.device: "cuda:N" or "cpu"
    label: str
    memory_bytes: int = 0


def detect_devices() -> list[Device]:
    """Each CUDA device, then the CPU."""
    gpus = _nvml_devices()
    if gpus is None:
        gpus = _smi_devices()
    return [*gpus, Device("cpu", "CPU")]


def _nvml_devices() -> list[Device] | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            name = name.decode() if isinstance(name, bytes) else str(name)
            mem = int(pynvml.nvmlDeviceGetMemoryInfo(h).total)
            out.append(Device(f"cuda:{i}", f"cuda:{i} {name} ({mem / 2**30:.0f} GiB)", mem))
        return out
    except Exception:  # noqa: BLE001 - no driver: fall back
        return None


def _smi_devices() -> list[Device]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        text = subprocess.run(
            [exe, "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    out = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[0].isdigit():
            mem = int(float(parts[2]) * 2**20) if parts[2].replace(".", "").isdigit() else 0
            out.append(Device(f"cuda:{parts[0]}", f"cuda:{parts[0]} {parts[1]} ({mem / 2**30:.0f} GiB)", mem))
    return out


def estimate_bytes(cfg: RunConfig) -> int:
    """A rough lower bound of the device memory a job needs (training points, pool, network, grid)."""
    s = cfg.sampling
    pool = int(s.num_points / s.pool_ratio) if s.method == "importance" else s.num_points
    points = (s.num_points + pool) * 4 * 4  # xyz + sdf, float32
    widths = [cfg.model.width] * cfg.model.num_layers
    acts = cfg.train.batch_size * sum(widths) * 4 * 3
    grid = cfg.recon.chunk * max(widths or [1]) * 4 * 2 + cfg.recon.resolution**3 * 4
    return points + acts + grid


def memory_problem(cfg: RunConfig, device: Device | None) -> str:
    """A message when the job clearly does not fit the device's memory, else ''."""
    if device is None or not device.memory_bytes:
        return ""
    need = estimate_bytes(cfg)
    if need > 0.9 * device.memory_bytes:
        have = device.memory_bytes / 2**30
        return (f"preset {cfg.preset!r} needs about {need / 2**30:.1f} GiB but {device.name} has {have:.1f} GiB: "
                "choose a smaller preset, fewer points or a smaller batch")  # fmt: skip
    return ""
