"""Signed distance to a triangle mesh: warp's BVH for the closest point, winding numbers or ray parity
for the sign.

The winding-number sign stays right on open, overlapping and badly wound parts, where ray parity fails;
parity (rays crossing the surface) is cheaper and exact on a closed, consistently wound part without
overlapping bodies, which the mesh health report recognises (:func:`parity_is_safe`). Points are queried
in Morton order (neighbours in space together, so the BVH's nodes stay in cache), and a query may be
bounded by a distance already known (the importance sampler's unsigned one). Queries run on the device
of the input tensor (CUDA or CPU) with no round trip through the host. Negative inside, positive outside.
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
SIGNS = {"unsigned": 0, "winding": 1, "parity": 2}
SORT_FROM = 4096  # fewer points gain nothing from a sort
SORT_FACES = 4096  # nor does a small mesh, whose BVH stays in cache anyway (measured: a 20-face part 1.4x slower)
#: Health findings under which ray parity can give a wrong sign (it counts crossings of the surface).
PARITY_UNSAFE = ("open_edges", "non_manifold_edges", "duplicate_faces", "overlapping_bodies", "inconsistent_winding")


def parity_is_safe(health: dict | None) -> bool:
    """True when a part's health report says ray parity signs it right: one body, watertight, consistently
    wound, no duplicate faces. Of several bodies, shells that nest or nearly touch (which the overlap check
    does not always see) make a ray cross twice where the winding number counts the point inside: on g1's
    elbow roll links (3 bodies each) the two disagreed at 4 points."""
    if not health or not health.get("watertight") or health.get("bodies", 1) != 1:
        return False
    checks = health.get("checks") or {}
    return not any(checks.get(kind) for kind in PARITY_UNSAFE)


def morton_order(points: torch.Tensor) -> torch.Tensor:
    """The permutation that sorts (N, 3) points along a Morton (Z-order) curve of 2^10 cells per axis."""
    lo = points.min(0).values
    span = (points.max(0).values - lo).clamp_min(1e-12)
    cells = ((points - lo) / span * 1023).to(torch.int64).clamp_(0, 1023)
    code = torch.zeros(points.shape[0], dtype=torch.int64, device=points.device)
    for bit in range(10):
        for axis in range(3):
            code |= ((cells[:, axis] >> bit) & 1) << (3 * bit + axis)
    return torch.argsort(code)


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
            bounds: wp.array(dtype=float),
            bounded: int,
            sign: int,
            out: wp.array(dtype=float),
        ):
            tid = wp.tid()
            p = points[tid]
            max_dist = 1.0e6  # no bound: every face is a candidate
            if bounded:
                max_dist = bounds[tid]
            if sign == 1:
                q = wp.mesh_query_point_sign_winding_number(mesh, p, max_dist, 2.0, 0.5)
            elif sign == 2:
                q = wp.mesh_query_point_sign_parity(mesh, p, max_dist, 3, 0.1)  # three rays, the majority
            else:
                q = wp.mesh_query_point_no_sign(mesh, p, max_dist)
            if q.result:
                d = wp.length(p - wp.mesh_eval_position(mesh, q.face, q.u, q.v))
                if sign > 0:
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

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, device: torch.device | str = "cpu",
                 sign: str = "winding") -> None:  # fmt: skip
        wp = _warp()
        if sign not in ("winding", "parity"):
            raise ValueError(f"sign must be winding or parity, not {sign!r}")
        self.sign, self.faces = sign, len(faces)
        self.device = torch.device(device)
        self._wdev = _warp_device(self.device)
        self._points = wp.array(np.ascontiguousarray(vertices, dtype=np.float32), dtype=wp.vec3, device=self._wdev)
        self._indices = wp.array(
            np.ascontiguousarray(faces, dtype=np.int32).reshape(-1), dtype=wp.int32, device=self._wdev
        )
        self.mesh = wp.Mesh(points=self._points, indices=self._indices, support_winding_number=sign == "winding")

    #: Called with (points done, points in all) after each chunk, from the calling thread.
    progress: Callable[[int, int], None] | None = None

    def __call__(self, points: torch.Tensor, chunk: int | None = None, signed: bool = True, report: bool = True,
                 bound: torch.Tensor | None = None, sort: bool = True) -> torch.Tensor:  # fmt: skip
        """Signed distances of (N, 3) points; calls ``self.progress(done, total)`` after each chunk unless
        ``report`` is False (a follow-up query whose progress the caller does not show).

        ``signed=False`` gives the distances without their sign (the same values, |d|), skipping the
        sign: 2.6 times the winding number's throughput on a 116k-face part (CPU). ``bound``: each point's
        distance when it is already known (unsigned), which prunes the search to the faces that close.
        ``sort``: query in Morton order (the answers come back in the caller's order).

        On CUDA, chunks of 4M points run one after another on the current stream. On the CPU, warp runs
        a launch on one core, so chunks (small enough that progress comes every second or two) run on a
        pool of threads, one per core: warp's launch releases the GIL.
        """
        _warp()
        pts = points.to(self.device, torch.float32)
        total = pts.shape[0]
        order = morton_order(pts) if sort and total >= SORT_FROM and self.faces >= SORT_FACES else None
        bounds = None
        if bound is not None:  # a little beyond the known distance: its face must be strictly closer
            bounds = bound.to(self.device, torch.float32).abs() * (1 + 1e-4) + 1e-6
        if order is not None:
            pts = pts[order]
            bounds = None if bounds is None else bounds[order]
        pts = pts.contiguous()
        bounds = None if bounds is None else bounds.contiguous()
        out = torch.empty(total, device=self.device, dtype=torch.float32)
        code = SIGNS[self.sign] if signed else SIGNS["unsigned"]
        cuda = self.device.type == "cuda"
        workers = 1 if cuda else max(1, min(os.cpu_count() or 1, 32))
        chunk = chunk or (4_000_000 if cuda else max(16_384, min(200_000, math.ceil(total / workers))))
        starts = range(0, total, chunk)

        def launch(s: int) -> None:
            b = None if bounds is None else bounds[s : s + chunk]
            self._launch(pts[s : s + chunk], out[s : s + chunk], b, code)

        if workers == 1 or len(starts) <= 1:
            for s in starts:
                launch(s)
                self._progress(min(s + chunk, total), total, report)
        else:
            with ThreadPoolExecutor(min(workers, len(starts))) as pool:
                for s, job in zip(starts, [pool.submit(launch, s) for s in starts], strict=True):
                    job.result()
                    self._progress(min(s + chunk, total), total, report)
        if order is None:
            return out
        result = torch.empty_like(out)
        result[order] = out
        return result

    def _launch(self, p: torch.Tensor, o: torch.Tensor, bounds: torch.Tensor | None, sign: int) -> None:
        wp = _warp()
        bounded = bounds is not None
        bounds = bounds if bounded else o[:1]  # not read when unbounded
        wp.launch(
            _kernel,
            dim=p.shape[0],
            inputs=[self.mesh.id, wp.from_torch(p, dtype=wp.vec3), wp.from_torch(bounds), int(bounded), sign],
            outputs=[wp.from_torch(o)],
            device=self._wdev,
        )

    def _progress(self, done: int, total: int, report: bool) -> None:
        if report and self.progress is not None:
            self.progress(done, total)
