"""Logged values read back without stalling the GPU, and a script's artifacts written atomically.

:class:`Readback` keeps what ``run.log`` was given until a reporting point. A tensor on the CPU is read
at once (there is nothing to wait for, and a later in-place change cannot alter what was logged); one on a
GPU is copied on the GPU as it is then (a kernel launch, no wait). At a reporting point the GPU values of
the steps logged since the last one are stacked and copied into pinned host memory asynchronously, with
an event recorded after the copy. A batch is written (as Metrics records, in step order) once its event
has passed, at this reporting point or a later one, so the training loop never waits for the GPU.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from isoscope.core.runs.rundir import atomic_path


@dataclass
class Batch:
    """The entries (step, epoch, values) of one reporting interval, and the copy of their GPU values."""

    entries: list[tuple[int, int, dict[str, Any]]]
    slots: list[tuple[int, str]] = field(default_factory=list)  # (entry, key) of each GPU value, in copy order
    host: Any = None  # the pinned copy of the GPU values
    event: Any = None  # recorded after the copy

    def ready(self, block: bool) -> bool:
        if self.event is None:
            return True
        if block:
            self.event.synchronize()
            return True
        return bool(self.event.query())

    def values(self) -> list[tuple[int, int, dict[str, float]]]:
        if self.host is not None:
            for (i, key), value in zip(self.slots, self.host.tolist(), strict=True):
                self.entries[i][2][key] = value
        return [(step, epoch, {k: clean(v) for k, v in vals.items()}) for step, epoch, vals in self.entries]


def clean(value: Any) -> float | None:
    """A logged value as a float (None for NaN or infinity, which JSON cannot hold)."""
    value = float(value)
    return value if math.isfinite(value) else None


class Readback:
    """See the module docstring."""

    def __init__(self) -> None:
        self.entries: list[tuple[int, int, dict[str, Any]]] = []
        self.flight: collections.deque[Batch] = collections.deque()
        self.copies = 0  # asynchronous copies of GPU values to the host (one per reporting point that has any)

    def add(self, step: int, epoch: int, values: dict[str, Any]) -> None:
        """Keep ``values`` (numbers or one-element tensors) until the next reporting point; see the module
        docstring."""
        kept = {}
        for key, v in values.items():
            name = "loss" if key == "train_loss" else key  # as the script called it
            wrong = f"log: {name} must be a number or a one-element tensor, not"
            if hasattr(v, "detach"):
                if v.numel() != 1:
                    raise ValueError(f"{wrong} shape {tuple(v.shape)}")
                if not v.is_cuda:
                    v = v.detach().item()
                else:
                    import torch

                    v = v.detach().reshape(()).to(torch.float32, copy=True)
            else:
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    raise ValueError(f"{wrong} {v!r:.60}") from None
            kept[key] = v
        self.entries.append((step, epoch, kept))

    def send(self) -> None:
        """Start reading the values logged since the last call."""
        if not self.entries:
            return
        batch, self.entries = Batch(self.entries), []
        gpu: list[Any] = []
        for i, (_, _, vals) in enumerate(batch.entries):
            for key, v in vals.items():
                if hasattr(v, "detach"):
                    batch.slots.append((i, key))
                    gpu.append(v)
        if gpu:
            import torch

            self.copies += 1
            device = gpu[0].device
            with torch.cuda.device(device):  # the copy and its event on the stream of the values' GPU
                batch.host = torch.empty(len(gpu), dtype=torch.float32, pin_memory=True)
                batch.host.copy_(torch.stack([t.to(device) for t in gpu]), non_blocking=True)
                batch.event = torch.cuda.Event()
                batch.event.record()
        self.flight.append(batch)

    def ready(self, block: bool = False) -> list[tuple[int, int, dict[str, float]]]:
        """The entries whose values have arrived, oldest first (``block``: wait for all of them)."""
        out = []
        while self.flight and self.flight[0].ready(block):
            out += self.flight.popleft().values()
        return out


def write_ply(path: Path, vertices: Any, faces: Any) -> None:
    """A binary PLY of a triangle mesh, written atomically."""
    v = np.ascontiguousarray(as_numpy(vertices), dtype="<f4").reshape(-1, 3)
    f = np.ascontiguousarray(as_numpy(faces), dtype="<i4").reshape(-1, 3)
    header = (f"ply\nformat binary_little_endian 1.0\nelement vertex {len(v)}\nproperty float x\n"
              f"property float y\nproperty float z\nelement face {len(f)}\nproperty list uchar int vertex_indices\n"
              "end_header\n")  # fmt: skip
    rows = np.empty(len(f), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    rows["n"], rows["idx"] = 3, f
    with atomic_path(path) as tmp:
        tmp.write_bytes(header.encode() + v.tobytes() + rows.tobytes())


def write_points(path: Path, xyz: Any, values: Any) -> None:
    """Points and one value per point (shown coloured by the value), written atomically as npz."""
    pts = as_numpy(xyz).astype(np.float32).reshape(-1, 3)
    vals = as_numpy(values).astype(np.float32).reshape(-1)
    if len(vals) != len(pts):
        raise ValueError(f"points: {len(pts)} points but {len(vals)} values")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, points=pts, sdf=vals)


def write_image(path: Path, array: Any) -> None:
    """An HxW (grey), HxWx3 or HxWx4 image (floats in 0-1 or bytes) as a PNG, written atomically."""
    from PIL import Image

    a = as_numpy(array)
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)  # CHW, as torch keeps images
    a = a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a
    if a.ndim not in (2, 3):
        raise ValueError(f"image: expected HxW, HxWx3 or HxWx4, got shape {a.shape}")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        Image.fromarray(a).save(fh, format="PNG")


def as_numpy(x: Any) -> np.ndarray:
    """A tensor (any device) or array-like as a numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)
