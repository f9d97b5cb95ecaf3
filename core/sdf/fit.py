"""A finished SDF fit loaded back from its run directory (``isoscope.load_fit``): signed distances at any
points, and meshes, in the part's original units.

The network was trained on the part normalised into the cube [-1, 1]^3 (the part's farthest vertex at
radius 0.9). Points outside that cube are extrapolation: the network never saw a target there, so its
values are not distances to trust; ``sdf`` warns (:class:`ExtrapolationWarning`) when asked for them.
Checkpoints are read with ``torch.load(weights_only=True)``: a model.pt someone sent runs no code.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from isoscope.core.sdf.network import SDFNet
from isoscope.core.sdf.reconstruct import evaluate_grid_near_surface, extract_surface
from isoscope.core.sdf.scalers import scaler_from_state
from isoscope.core.sdf.step import autocast

CHECKPOINT = "model.pt"
_KEYS = ("model", "widths", "scaler", "transform")


class FitError(ValueError):
    """A run directory that holds no usable SDF fit, or a bad argument; the message says which."""


class ExtrapolationWarning(UserWarning):
    """Points outside the cube the network was trained on."""


def _missing_model(run_dir: Path) -> str:
    """Why a run directory has no model.pt, in a sentence."""
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return f"{run_dir} is not an isoscope run directory (no config.json, no {CHECKPOINT})"
    if config.get("job") == "splat":
        return f"{run_dir} is a 3D Gaussian run: it has no SDF network to load (see its gaussians.npz)"
    try:
        status = json.loads((run_dir / "summary.json").read_text()).get("status")
    except (OSError, ValueError):
        status = None
    if status == "failed":
        return f"{run_dir}: the run failed before it saved a network (no {CHECKPOINT})"
    return f"{run_dir} has no {CHECKPOINT}: the run ended (or is still running) before saving its network"


def _device(name: str) -> torch.device:
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise FitError(f"device {name!r} is not a device name (cpu, cuda, cuda:N)") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FitError(f"device {name!r} was asked for, but this machine has no usable CUDA GPU; use device='cpu'")
    return dev


def load_fit(run_dir: str | Path, device: str = "cpu") -> Fit:
    """Load the SDF fit of a run directory (its model.pt) onto ``device`` ("cpu", "cuda", "cuda:N")."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FitError(f"{run_dir}: no such run directory")
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise FitError(_missing_model(run_dir))
    dev = _device(device)
    try:
        state = torch.load(path, map_location=dev, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable or foreign file
        raise FitError(f"{path} cannot be read as an isoscope checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or any(k not in state for k in _KEYS):
        raise FitError(f"{path} is not an isoscope SDF checkpoint (it lacks {', '.join(_KEYS)})")
    net = SDFNet(list(state["widths"]), state.get("init", "he_uniform"))
    net.load_state_dict(state["model"])
    return Fit(net.to(dev).eval(), state, run_dir, dev)


class Fit:
    """A trained SDF network with its scaler and the part's normalisation; see the module docstring."""

    def __init__(self, net: SDFNet, state: dict[str, Any], run_dir: Path, device: torch.device) -> None:
        self.net, self.state, self.run_dir, self.device = net, state, run_dir, device
        self.scaler = scaler_from_state(state["scaler"]).to(device)
        self.center = np.asarray(state["transform"]["center"], dtype=np.float64)
        self.scale = float(state["transform"]["scale"])
        self.part = str(state.get("part", ""))
        self.precision = (state.get("config") or {}).get("train", {}).get("precision", "fp32")

    def __repr__(self) -> str:
        return f"Fit({str(self.run_dir)!r}, part={self.part!r}, widths={self.net.widths}, device={str(self.device)!r})"

    @torch.no_grad()
    def _predict(self, x: torch.Tensor) -> torch.Tensor:
        """Signed distance in normalised units at normalised points (N, 3) on the fit's device."""
        with autocast(self.device, self.precision):
            return self.scaler.inverse(self.net(x).float())

    def sdf(self, points: Any, chunk: int = 1 << 18) -> Any:
        """Signed distances (N,) at points (N, 3) in the part's original units, negative inside: numpy in,
        numpy out; a tensor in, a tensor out (on the tensor's device). Warns for points outside the
        trained cube (extrapolation)."""
        is_tensor = isinstance(points, torch.Tensor)
        p = points.detach().to("cpu", torch.float64).numpy() if is_tensor else np.asarray(points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3:
            raise FitError(f"points must be an (N, 3) array of x, y, z; got shape {tuple(p.shape)}")
        bad = ~np.isfinite(p).all(axis=1)
        if bad.any():
            raise FitError(f"points hold NaN or infinite coordinates (rows {np.flatnonzero(bad)[:5].tolist()}...)")
        x = (p - self.center) * self.scale
        outside = int((np.abs(x) > 1.0).any(axis=1).sum())
        if outside:
            warnings.warn(f"{outside} of {len(p)} points lie outside the cube the network was trained on "
                          "(the part's box, padded): their values are extrapolation", ExtrapolationWarning,
                          stacklevel=2)  # fmt: skip
        xt = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        out = torch.cat([self._predict(xt[i : i + chunk]) for i in range(0, len(xt), chunk)]) if len(xt) else xt[:, 0]
        values = out.double() / self.scale
        if is_tensor:
            return values.to(points.device, points.dtype if points.is_floating_point() else torch.float64)
        return values.cpu().numpy()

    def mesh(self, resolution: int = 256) -> Any:
        """The fit's zero level set by marching cubes at ``resolution``^3, as a trimesh.Trimesh in the part's
        original units (an empty mesh when the network has no zero crossing in the cube)."""
        import trimesh

        if not isinstance(resolution, int) or not 8 <= resolution <= 2048:
            raise FitError(f"resolution must be an integer from 8 to 2048, got {resolution!r}")
        vol = evaluate_grid_near_surface(self._predict, resolution, self.device, chunk=1 << 18)
        surface = extract_surface(vol)
        if surface is None:
            return trimesh.Trimesh()
        verts, faces = (t.cpu().numpy() for t in surface)
        return trimesh.Trimesh(verts.astype(np.float64) / self.scale + self.center, faces, process=False)
