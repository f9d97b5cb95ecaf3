"""The SDF fitting job: setup, train, validate, save, reconstruct, measure, summarise.

Shape follows a plain trainer: ``setup`` loads and samples (all training data resident on the device,
the "pre-encoded" cache of seed 000), ``train`` runs the one training loop (:mod:`isoscope.core.sdf.train`)
as a group of one, ``validate`` measures held-out points, ``save_checkpoint`` writes model.pt (weights,
scaler, normalisation, config) before ``reconstruct`` runs marching cubes. No host synchronisation
happens inside the step loop except every ``log_every`` steps to read the loss back.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from isoscope.core import events as ev
from isoscope.core.config import to_dict
from isoscope.core.job import EMPTY_ADVICE_KEY, JobBase, JobError
from isoscope.core.mesh.part import write_mesh
from isoscope.core.runs.rundir import atomic_path, write_json_atomic
from isoscope.core.sdf.distance import MeshSDF, parity_is_safe
from isoscope.core.sdf.fit import FitError, load_fit
from isoscope.core.sdf.metrics import surface_metrics, to_original_units
from isoscope.core.sdf.network import build_model
from isoscope.core.sdf.packed import PackedMLP
from isoscope.core.sdf.prefetch import Prepared
from isoscope.core.sdf.reconstruct import (
    EMPTY_SURFACE_ADVICE,
    evaluate_grid,
    evaluate_grid_near_surface,
    extract_surface,
)
from isoscope.core.sdf.sampling import draw_training_set, validation_sets
from isoscope.core.sdf.scalers import make_scaler, scaler_from_state
from isoscope.core.sdf.step import adam_state, autocast, load_adam_state, low_on_cpu, make_adam, set_precision
from isoscope.core.sdf.train import part_losses, train_parts
from isoscope.core.timing import top_level


class SDFJob(JobBase):
    """Fits an SDF network to one part; see the module docstring."""

    job = "sdf"
    #: The health report when a group read it ahead (isoscope.core.sdf.group); else computed in setup.
    prefetched_health: dict[str, Any] | None = None
    #: Adam's state at the end of training (set by the training loop; a group's share for its part).
    optimizer_state: dict[str, Any] | None = None

    # ----------------------------------------------------------------- setup
    def setup(self, prepared: Prepared | None = None) -> None:
        """Prepare the part's data (or take ``prepared``: made ahead, in another process, by
        :mod:`isoscope.core.sdf.prefetch`), then put it on the device with the scaler and the network."""
        cfg, dev = self.cfg, self.device
        torch.manual_seed(cfg.train.seed)  # the network's initial weights
        set_precision(dev, cfg.train.precision)
        resume = self.resume_state()  # checked first: a checkpoint that cannot continue fails before sampling
        self.place(prepared or self.prepare(live=True), resume)

    def prepare(self, live: bool = True) -> Prepared:
        """The part's health, the faces to fit, its BVH and its training and validation sets, drawn with the
        job's own generator (seeded from ``train.seed``: the same points in any process). ``live``: announce
        the health and report the sampling's progress as they come; else nothing is emitted or written."""
        cfg, dev, timer = self.cfg, self.device, self.timer
        gen = torch.Generator(device=dev).manual_seed(cfg.train.seed)
        health = self.read_health()
        if live:
            self.announce_health(health)
        with timer.phase("sample"):
            with timer.phase("sample.bvh"):
                verts = torch.as_tensor(self.part.normalised_vertices, dtype=torch.float32, device=dev)
                faces = torch.as_tensor(health["faces"], dtype=torch.int64, device=dev)
                mesh_sdf = MeshSDF(self.part.normalised_vertices, health["faces"], dev, health["sign"])
            mesh_sdf.progress = self.report_sampling if live else None
            self._t_sample = time.perf_counter()
            points, dist = draw_training_set(mesh_sdf, verts, faces, cfg.sampling, gen, timer)
            mesh_sdf.progress = None
            with timer.phase("sample.validation"):
                val = validation_sets(mesh_sdf, verts, faces, cfg.sampling.validation_points, gen)
        return Prepared(health, points, dist, val, gen.get_state(), mesh_sdf, announced=live)

    def place(self, data: Prepared, resume: dict[str, Any] | None = None) -> None:
        """Put prepared data on the device (the BVH built again when it came from another process), fit the
        scaler, build the network and optimiser, write points.npz."""
        cfg, dev, timer = self.cfg, self.device, self.timer
        if data.part is not None:
            self.part = data.part
        if data.seconds:  # prepared in the helper: its phases ran while the group before trained
            self.log("read, checked and sampled ahead in a helper process, while the group before trained")
        for key, seconds in data.seconds.items():
            timer.totals[key] += seconds
        if not data.announced:
            self.announce_health(data.health)
        self.gen = torch.Generator(device=dev)
        self.gen.set_state(torch.as_tensor(data.gen_state).cpu())
        with timer.phase("sample"), timer.phase("sample.bvh"):
            self.verts = torch.as_tensor(self.part.normalised_vertices, dtype=torch.float32, device=dev)
            self.faces = torch.as_tensor(data.health["faces"], dtype=torch.int64, device=dev)
            self.mesh_sdf = data.mesh_sdf or MeshSDF(
                self.part.normalised_vertices, data.health["faces"], dev, data.health["sign"]
            )
        with timer.phase("cache"):
            points, dist = torch.as_tensor(data.points, device=dev), torch.as_tensor(data.dist, device=dev)
            self.val = {k: (torch.as_tensor(x, device=dev), torch.as_tensor(y, device=dev))
                        for k, (x, y) in data.val.items()}  # fmt: skip
            if resume:
                self.scaler = scaler_from_state(resume["scaler"]).to(dev)
            else:
                self.scaler = make_scaler(cfg.train.scaler).fit(dist)
            self.X, self.Y = points.contiguous(), self.scaler.transform(dist).contiguous()
        with timer.phase("init"):  # network and optimiser (on CUDA, the step's graph is captured in train)
            self.model = build_model(cfg.model).to(dev)  # what model.pt holds
            if resume:
                self.model.load_state_dict(resume["model"])
            self.net = PackedMLP([self.model]).to(dev)  # the same function, in the storage that trains fast
            self.net.low = low_on_cpu(dev, cfg.train.precision)
            self.opt = make_adam(self.net.parameters(), cfg.train.learning_rate)
            if resume:
                load_adam_state(self.opt, resume["optimizer"])
            c = cfg.train.clamp
            self.clamp_range = self.scaler.transform(torch.tensor([-c, c], device=dev, dtype=torch.float32))
            self._grid_truth: torch.Tensor | None = None
        self.write_points(points, dist)
        self.log(self.precision_reason)
        self.log(f"{self.part.name}: {len(self.part.faces)} faces, {cfg.sampling.num_points} training points "
                 f"({cfg.sampling.method}), network {self.model.widths}, scaler {cfg.train.scaler}")  # fmt: skip

    def resume_state(self) -> dict[str, Any] | None:
        """The checkpoint of the run this fit continues (``resumed_from``), checked against the config."""
        if not self.cfg.resumed_from:
            return None
        try:
            state = load_fit(self.cfg.resumed_from, str(self.device)).state
        except FitError as exc:
            raise JobError(f"cannot continue: {exc}") from exc
        if "optimizer" not in state:
            raise JobError(f"cannot continue {self.cfg.resumed_from}: its model.pt holds no optimiser state")
        if list(state["widths"]) != build_model(self.cfg.model).widths:
            raise JobError(f"cannot continue {self.cfg.resumed_from}: its network has other layer widths")
        self.log(f"continuing {self.cfg.resumed_from} (trained {state['epoch']} epochs, {state['step']} steps)")
        return state

    def read_health(self) -> dict[str, Any]:
        """The mesh health at the reconstruction grid (``report``; None with ``error`` when the check failed),
        the faces to fit (inside-out bodies turned the right way, else as read) and the sign method: ray
        parity where the report says it is exact (cheaper), else the winding number. Emits nothing."""
        from isoscope.core.mesh.checks import turn_bodies
        from isoscope.core.mesh.health import report

        try:
            with self.timer.phase("load"):
                rep = self.prefetched_health or report(self.part, self.cfg.recon.resolution)
        except Exception as exc:  # noqa: BLE001 - the health check must never stop a fit
            return {"report": None, "error": f"{type(exc).__name__}: {exc}", "faces": self.part.faces,
                    "sign": "winding"}  # fmt: skip
        inverted = [i for f in rep["findings"] if f["kind"] == "inverted_bodies" for i in f["bodies"]]
        faces = turn_bodies(self.part.vertices, self.part.faces, inverted)
        return {"report": rep, "error": None, "faces": faces, "inverted": len(inverted),
                "sign": "parity" if parity_is_safe(rep) else "winding"}  # fmt: skip

    def announce_health(self, health: dict[str, Any]) -> None:
        """Write health.json, log what matters for the fit and how distances are signed."""
        self.health_checks: dict[str, int] = {}
        self.health_report: dict[str, Any] | None = None
        rep, error = health["report"], health["error"]
        try:
            if rep is not None:
                write_json_atomic(self.run_dir / "health.json", rep)
        except Exception as exc:  # noqa: BLE001 - the health check must never stop a fit
            rep, error = None, f"{type(exc).__name__}: {exc}"
        if rep is None:
            self.log(f"mesh health check failed ({error}); fitting the part as read", "warning")
            return
        self.health_checks, self.health_report = rep["checks"], rep
        self.emit(ev.Artifact("health", str(self.run_dir / "health.json"), {"checks": rep["checks"]}))
        for f in rep["findings"]:
            if f["severity"] != "info":
                self.log(f"mesh health: {f['title']}: {f['message']}", "warning")
        if health["inverted"]:
            self.log(f"fitting with {health['inverted']} inside-out body(ies) turned the right way", "warning")
        if health["sign"] == "parity":
            self.log("signed distances by ray parity (the part is closed and consistently wound)")

    def report_sampling(self, done: int, total: int) -> None:
        """Progress of the signed-distance queries of the training set (minutes on a CPU for big presets)."""
        if done < total and not self.reporter.due("metrics"):
            return
        elapsed = max(time.perf_counter() - self._t_sample, 1e-9)
        eta = (total - done) * elapsed / max(done, 1)
        self.emit(ev.Progress(done, total, 0, self.cfg.train.epochs, done / elapsed, eta, "sample"))

    def write_points(self, points: torch.Tensor, dist: torch.Tensor, n: int = 20_000) -> None:
        """A subsample of the training points (original units) for the viewport."""
        idx = torch.randperm(points.shape[0], device=points.device, generator=self.gen)[:n]
        pts = self.part.to_original(points[idx].cpu().numpy()).astype(np.float32)
        sdf = (dist[idx].cpu().numpy() / self.part.scale).astype(np.float32)
        path = self.run_dir / "points.npz"
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, points=pts, sdf=sdf)
        self.emit(ev.Artifact("points", str(path), {"count": int(len(pts))}))

    # ----------------------------------------------------------------- training
    def val_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss of scaled predictions and targets (N,)."""
        lo, hi = self.clamp_range[:1, None], self.clamp_range[1:, None]
        return part_losses(self.cfg.train.loss, pred[None], target[None], lo, hi)[0]

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Unscaled signed distance (normalised units) of points x, no grad."""
        with torch.no_grad(), autocast(self.device, self.cfg.train.precision):
            return self.scaler.inverse(self.net(x).float())

    def predict_low(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`predict` in bf16 arithmetic: reconstruction's coarse pass when the network trains in bf16."""
        return self.scaler.inverse(self.net.evaluate_low(x))

    def train(self) -> None:
        train_parts([self])

    def resample(self) -> None:
        with self.timer.phase("sample"):
            points, dist = draw_training_set(
                self.mesh_sdf, self.verts, self.faces, self.cfg.sampling, self.gen, self.timer
            )
        with self.timer.phase("cache"):  # in place: a captured training step reads these buffers
            self.X.copy_(points)
            self.Y.copy_(self.scaler.transform(dist))

    def report_training(self, epoch: int, loss: float, force: bool) -> None:
        """Every loss reading is recorded (metrics.jsonl holds them all); progress at most metrics_hz."""
        self.last_train_loss = loss
        self.emit(ev.Metrics(self.step, epoch, {"train_loss": loss}))
        if force or self.reporter.due("metrics"):
            self.emit_progress(epoch, "train")
        if self.reporter.due("timings"):
            seconds, wall = self.timer.interval()
            self.emit(ev.PhaseTimes("live", epoch, top_level(seconds), wall))

    @torch.no_grad()
    def validate(self, epoch: int) -> dict[str, float]:
        with self.timer.phase("validation"):
            values: dict[str, float] = {}
            losses = []
            for kind, (x, y) in self.val.items():
                pred = self.predict(x)
                err = (pred - y).abs()
                values[f"val_{kind}_sdf_mae"] = float(err.mean())
                losses.append(self.val_loss(self.scaler.transform(pred), self.scaler.transform(y)))
                if kind != "surface":
                    values[f"val_{kind}_sign_acc"] = float(((pred < 0) == (y < 0)).float().mean())
            x, y = self.val["uniform"]
            pred = self.predict(x)
            values["val_iou"] = _iou(pred < 0, y < 0)
            values["val_loss"] = float(torch.stack(losses).mean())
            if self.cfg.train.validation_res > 0:
                values["val_grid_iou"] = self.grid_iou(self.cfg.train.validation_res)
        self.last_validation = values
        self.emit(ev.Metrics(self.step, epoch, values))
        return values

    def grid_iou(self, res: int) -> float:
        chunk = self.cfg.recon.chunk
        if self._grid_truth is None or self._grid_truth.shape[0] != res:
            self._grid_truth = evaluate_grid(self.mesh_sdf, res, self.device, chunk)
        pred = evaluate_grid(self.predict, res, self.device, chunk)
        return _iou(pred < 0, self._grid_truth < 0)

    # ----------------------------------------------------------------- outputs
    def save_checkpoint(self) -> Path:
        with self.timer.phase("write"):
            path = self.run_dir / "model.pt"
            self.net.copy_to([self.model])
            state = {
                "model": self.model.state_dict(),
                "widths": self.model.widths,
                "init": self.cfg.model.init,
                "scaler": self.scaler.state_dict(),
                "transform": {"center": self.part.center.tolist(), "scale": self.part.scale},
                "config": to_dict(self.cfg),
                "part": self.part.path,
                "step": self.step,
                "epoch": self.epoch,
                "seed": self.cfg.train.seed,
                "optimizer": getattr(self, "optimizer_state", None) or adam_state(self.opt),
            }
            with atomic_path(path) as tmp:
                torch.save(state, tmp)
        self.emit(ev.Artifact("checkpoint", str(path), {"step": self.step}))
        return path

    def reconstruct(self, res: int, final: bool = True, name: str = "mesh.ply") -> dict[str, Any]:
        """Marching cubes at ``res``; writes ``name`` (and mesh.stl when final) in original units."""
        with self.timer.phase("reconstruct"):
            with self.timer.phase("reconstruct.grid"):
                rc = self.cfg.recon
                coarse = self.predict_low if self.net.low else None
                vol = evaluate_grid_near_surface(self.predict, res, self.device, rc.chunk, rc.block, coarse_fn=coarse)
            with self.timer.phase("reconstruct.marching_cubes"):
                surface = extract_surface(vol)
        if surface is None:
            self.log("reconstruction: " + EMPTY_SURFACE_ADVICE, "warning")
            return {"status": "no_surface", EMPTY_ADVICE_KEY: EMPTY_SURFACE_ADVICE}
        verts, faces = surface
        with self.timer.phase("write"):
            original = self.part.to_original(verts.cpu().numpy())
            write_mesh(self.run_dir / name, original, faces.cpu().numpy())
            if final:
                write_mesh(self.run_dir / "mesh.stl", original, faces.cpu().numpy())
        info = {"resolution": res, "step": self.step, "vertices": int(len(verts)), "faces": int(len(faces))}
        self.emit(ev.Artifact("mesh", str(self.run_dir / name), info))
        self.fit_mesh = (verts, faces)
        return {"status": "done"}

    def measure(self) -> dict[str, Any]:
        with self.timer.phase("metrics"):
            verts, faces = self.fit_mesh
            norm = surface_metrics(verts, faces, self.verts, self.faces, self.cfg.recon.metric_samples)
        orig = to_original_units(norm, self.part.scale)
        return {"metrics": orig, "metrics_normalised": norm}

    def restore(self) -> None:
        """Load a finished run's part and network (its model.pt) to answer requests: probes, slices and
        "Reconstruct now", which then writes mesh_<res>.ply beside the run's own mesh."""
        from isoscope.core.mesh.part import load_part

        self.part = load_part(self.part_path)
        self.mesh_sdf = MeshSDF(self.part.normalised_vertices, self.part.faces, self.device)
        fit = load_fit(self.run_dir, str(self.device))
        self.model, self.scaler = fit.net, fit.scaler
        self.net = PackedMLP([self.model]).to(self.device)
        self.net.low = low_on_cpu(self.device, self.cfg.train.precision)  # the coarse pass of "Reconstruct now"
        self.step, self.epoch, self.finished = int(fit.state.get("step", 0)), int(fit.state.get("epoch", 0)), True

    def run_body(self) -> dict[str, Any]:
        self.setup()
        self.train()
        return self.conclude()

    def conclude(self) -> dict[str, Any]:
        """After training: save the model, reconstruct, measure; the body of summary.json."""
        self.emit_progress(self.epoch, "reconstruct")  # training is over (the window's status bar says so)
        self.save_checkpoint()
        out = self.reconstruct(self.cfg.recon.resolution)
        if out["status"] == "done":
            out.update(self.measure())
        val = getattr(self, "last_validation", {})
        out["validation"] = val
        out["val_sdf_mae_original"] = {k: v / self.part.scale for k, v in val.items() if k.endswith("_sdf_mae")}
        out["train_loss"] = getattr(self, "last_train_loss", None)
        out["health"] = self.health_checks
        return out


def _iou(a: torch.Tensor, b: torch.Tensor) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if int(union) > 0 else 1.0
