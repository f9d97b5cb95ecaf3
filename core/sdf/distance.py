"""Signed distance to a triangle mesh: warp's BVH for the closest point, winding numbers for the sign.

The winding-number sign stays right on open and multi-body parts, where ray parity or normals fail.
Queries run on the device of the input tensor (CUDA or CPU) with no round trip through the host.
Negative inside, positive outside.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

_wp = None
_kernel = None


def _warp():
    """Import and initialise warp once (quietly), building the query kernel (signed or unsigned)."""
    global _wp, _kernel
    if _wp is None:
        import warp as wp

        wp.config.log_level = wp.LOG_WARNING
        if torch.cuda.is_available():
            wp.init()
        else:
            _init_silently(wp)

        @wp.kernel
        def distance(
            mesh: wp.uint64,
            points: wp.array(dtype=wp.vec3),
            max_dist: float,
            with_sign: int,
            out: wp.array(dtype=float),
        ):
            tid = wp.tid()
            p = points[tid]
            if with_sign:
                q = wp.mesh_query_point_sign_winding_number(mesh, p, max_dist, 2.0, 0.5)
            else:
                q = wp.mesh_query_point_no_sign(mesh, p, max_dist)
            if q.result:
                d = wp.length(p - wp.mesh_eval_position(mesh, q.face, q.u, q.v))
                if with_sign:
                    d = q.sign * d  # the unsigned query leaves q.sign at 0
                out[tid] = d
            else:
                out[tid] = max_dist

        _kernel = distance
        _wp = wp
    return _wp


def _init_silently(wp) -> None:
    """Initialise warp with its C-level 'no CUDA driver' notice kept off a CPU-only terminal."""
    import os
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            wp.init()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _warp_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return "cpu"


class MeshSDF:
    """A BVH over one mesh on one device; call it with (N, 3) points to get (N,) signed distances."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, device: torch.device | str = "cpu") -> None:
        wp = _warp()
        self.device = torch.device(device)
        self._wdev = _warp_device(self.device)
        self._points = wp.array(np.ascontiguousarray(vertices, dtype=np.float32), dtype=wp.vec3, device=self._wdev)
        self._indices = wp.array(
            np.ascontiguousarray(faces, dtype=np.int32).reshape(-1), dtype=wp.int32, device=self._wdev
        )
        self.mesh = wp.Mesh(points=self._points, indices=self._indices, support_winding_number=True)

    #: Called with (points done, points in all) after each chunk, from the calling thread.
    progress: Callable[[int, int], None] | None = None

    def __call__(
        self, points: torch.Tensor, chunk: int | None = None, signed: bool = True, report: bool = True
    ) -> torch.Tensor:
        """Signed distances of (N, 3) points; calls ``self.progress(done, total)`` after each chunk unless
        ``report`` is False (a follow-up query whose progress the caller does not show).

        ``signed=False`` gives the distances without their sign (the same values, |d|), skipping the
        winding number: 2.6 times the throughput on a 116k-face part (CPU).

        On CUDA, chunks of 4M points run one after another on the current stream. On the CPU, warp runs
        a launch on one core, so chunks (small enough that progress comes every second or two) run on a
        pool of threads, one per core: warp's launch releases the GIL.
        """
        _warp()
        pts = points.to(self.device, torch.float32).contiguous()
        total = pts.shape[0]
        out = torch.empty(total, device=self.device, dtype=torch.float32)
        cuda = self.device.type == "cuda"
        workers = 1 if cuda else max(1, min(os.cpu_count() or 1, 32))
        chunk = chunk or (4_000_000 if cuda else max(16_384, min(200_000, math.ceil(total / workers))))
        starts = range(0, total, chunk)
        if workers == 1 or len(starts) <= 1:
            for s in starts:
                self._launch(pts[s : s + chunk], out[s : s + chunk], signed)
                self._progress(min(s + chunk, total), total, report)
            return out
        with ThreadPoolExecutor(min(workers, len(starts))) as pool:
            jobs = [pool.submit(self._launch, pts[s : s + chunk], out[s : s + chunk], signed) for s in starts]
            for s, job in zip(starts, jobs, strict=True):
                job.result()
                self._progress(min(s + chunk, total), total, report)
        return out

    def _launch(self, p: torch.Tensor, o: torch.Tensor, signed: bool) -> None:
        wp = _warp()
        wp.launch(
            _kernel,
            dim=p.shape[0],
            inputs=[self.mesh.id, wp.from_torch(p, dtype=wp.vec3), 1.0e6, int(signed)],
            outputs=[wp.from_torch(o)],
            device=self._wdev,
        )

    def _progress(self, done: int, total: int, report: bool) -> None:
        if report and self.progress is not None:
            self.progress(done, total)
