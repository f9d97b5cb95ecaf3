"""Requests a worker serves from a trained network: reconstruct now, SDF on a plane, SDF at a point.

Coordinates in requests and answers are in the part's original units; the network and the BVH work
in the normalised cube, so values are converted both ways here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from isoscope.core import events as ev


def serve_request(job: Any, cmd: Any) -> None:
    """Answer one request on ``job`` (an SDFJob after setup); unknown requests are logged."""
    if not hasattr(job, "model"):
        job.log(f"{type(cmd).__name__}: the network is not ready yet", "warning")
        return
    if isinstance(cmd, ev.ReconstructNow):
        res = max(8, int(cmd.resolution))  # a finished run's mesh.ply stays the one its summary describes
        job.reconstruct(res, final=False, name=f"mesh_{res}.ply" if job.finished else "mesh.ply")
    elif isinstance(cmd, ev.SliceRequest):
        job.emit(slice_plane(job, int(cmd.axis), float(cmd.offset), int(cmd.resolution)))
    elif isinstance(cmd, ev.ProbeRequest):
        job.emit(probe_point(job, cmd.point))
    else:
        job.log(f"ignored command {type(cmd).__name__}", "warning")


def plane_points(part: Any, axis: int, offset: float, res: int) -> tuple[np.ndarray, tuple]:
    """A res x res grid of original-unit points on the plane axis = offset over the part's box (+5%)."""
    lo, hi = (np.asarray(b, dtype=np.float64) for b in part.bbox)
    pad = 0.05 * (hi - lo).max()
    lo, hi = lo - pad, hi + pad
    u_ax, v_ax = [a for a in range(3) if a != axis]
    u = np.linspace(lo[u_ax], hi[u_ax], res)
    v = np.linspace(lo[v_ax], hi[v_ax], res)
    vv, uu = np.meshgrid(v, u, indexing="ij")
    pts = np.zeros((res * res, 3))
    pts[:, u_ax], pts[:, v_ax], pts[:, axis] = uu.ravel(), vv.ravel(), offset
    return pts, (float(lo[u_ax]), float(hi[u_ax]), float(lo[v_ax]), float(hi[v_ax]))


@torch.no_grad()
def _both(job: Any, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = torch.as_tensor(job.part.to_normalised(pts), dtype=torch.float32, device=job.device)
    pred = job.predict(x).float().cpu().numpy() / job.part.scale
    truth = job.mesh_sdf(x).cpu().numpy() / job.part.scale
    return pred, truth


def slice_plane(job: Any, axis: int, offset: float, res: int) -> ev.SliceResult:
    res = int(np.clip(res, 8, 512))
    pts, extent = plane_points(job.part, axis, offset, res)
    pred, truth = _both(job, pts)
    return ev.SliceResult(axis, offset, extent, pred.reshape(res, res).astype(np.float32),
                          truth.reshape(res, res).astype(np.float32))  # fmt: skip


def probe_point(job: Any, point: tuple[float, float, float]) -> ev.PointProbe:
    pred, truth = _both(job, np.asarray([point], dtype=np.float64))
    return ev.PointProbe(tuple(float(c) for c in point), float(truth[0]), float(pred[0]))
