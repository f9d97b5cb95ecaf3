"""The splat job: fit 3D Gaussians to a part from cached multi-view renders, evaluate the SAME Gaussians
from eight cameras, and contrast with view-specific fits.

Setup renders the ground truth once per camera set (training poses spread over the sphere, and the
evaluation ring 45 degrees apart) and initialises Gaussians on the surface. Each step renders a few
random cached poses in one batched call and optimises ``(1 - w) L1 + w (1 - SSIM)`` plus an optional
silhouette term; every ``densify_every`` steps Gaussians are cloned, split and pruned. Every few
seconds the eight evaluation views are rendered, written as PNGs and announced, so a window can follow.
At the end, protocol (a), multi-view consistency, is the main result; protocol (b) fits one set of
Gaussians per evaluation view on that view alone and reports its per-view figures, and how the set
trained on view 0 looks from all eight views.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from isoscope.core import events as ev
from isoscope.core.job import JobBase
from isoscope.core.splat.cameras import CameraSet, eval_cameras, train_cameras
from isoscope.core.splat.gaussians import PARAMS, Gaussians, densify_and_prune, init_from_mesh
from isoscope.core.splat.groundtruth import GroundTruth, Views
from isoscope.core.splat.outputs import contact_sheet, means_of, view_figures, write_gaussians, write_views
from isoscope.core.splat.render import composite, project, render
from isoscope.core.splat.ssim import ssim
from isoscope.core.timing import top_level

BACKGROUND = 0.0
#: Learning rate of each parameter relative to splat.learning_rate.
LR_SCALE = {"means": 0.1, "log_scales": 1.0, "quats": 0.2, "opacity_logits": 10.0, "colour_logits": 2.0}
LIVE_EVERY_S = 2.0
LIVE_SHARE = 0.15  # live evaluation takes at most about this share of the training time
CPU_THREADS = 1
MAX_GROWTH = 2.0  # densification stops at this multiple of the initial count


class Fit:
    """One optimisation: Gaussians, their Adam, the gradient statistics densification reads."""

    def __init__(self, g: Gaussians, lr: float, device: torch.device) -> None:
        self.lr, self.device = lr, device
        self.reset(g)

    def reset(self, g: Gaussians) -> None:
        self.g = g.requires_grad_()
        groups = [{"params": [getattr(g, k)], "lr": self.lr * LR_SCALE[k], "name": k} for k in PARAMS]
        self.opt = torch.optim.Adam(groups, eps=1e-15)
        self.grad_norm = torch.zeros(len(g), device=self.device)
        self.seen = torch.zeros(len(g), device=self.device)


class SplatJob(JobBase):
    """Fits Gaussians to one part; see the module docstring."""

    job = "splat"

    # ----------------------------------------------------------------- setup
    def setup(self) -> None:
        c, dev = self.cfg.splat, self.device
        if dev.type == "cpu" and CPU_THREADS:
            torch.set_num_threads(CPU_THREADS)  # the per-pair tensors are small: threads only spin
        torch.manual_seed(self.cfg.train.seed)
        self.gen = torch.Generator().manual_seed(self.cfg.train.seed)
        with self.timer.phase("groundtruth"):
            self.verts = torch.as_tensor(self.part.normalised_vertices, dtype=torch.float32, device=dev)
            self.faces = torch.as_tensor(self.part.faces, dtype=torch.int64, device=dev)
            self.gt = GroundTruth(self.verts, self.faces, BACKGROUND)
            self.train_cams = train_cameras(c.train_poses, c.image_size, dev, self.cfg.train.seed)
            self.eval_cams = eval_cameras(c.views, c.image_size, dev)
            self.train_gt = self.gt.views(self.train_cams)
            self.eval_gt = self.gt.views(self.eval_cams)
        with self.timer.phase("init"):
            self.fit = Fit(init_from_mesh(self.verts, self.faces, c.num_gaussians), c.learning_rate, dev)
        with self.timer.phase("write"):
            self.renders_dir = self.run_dir / "renders"
            self.gt_paths = write_views(self.renders_dir, "gt", self.eval_gt.image)
        self.views_per_step = min(c.views_per_step, len(self.train_cams))
        self.total_steps = c.steps
        self.total_epochs = max(1, math.ceil(c.steps * self.views_per_step / len(self.train_cams)))
        self.log(f"{self.part.name}: {len(self.part.faces)} faces, {c.num_gaussians} Gaussians, "
                 f"{len(self.train_cams)} training poses and {len(self.eval_cams)} evaluation views at "
                 f"{c.image_size}x{c.image_size}, {self.views_per_step} pose(s) per step")  # fmt: skip

    # ----------------------------------------------------------------- training
    def loss(self, out: Any, target: Views) -> torch.Tensor:
        c = self.cfg.splat
        pred = out.image.permute(0, 3, 1, 2)
        true = target.image.permute(0, 3, 1, 2)
        loss = (1.0 - c.ssim_weight) * (pred - true).abs().mean() + c.ssim_weight * (1.0 - ssim(pred, true).mean())
        if c.silhouette_weight > 0:
            loss = loss + c.silhouette_weight * (out.alpha - target.silhouette.to(out.alpha.dtype)).abs().mean()
        return loss

    def train_iteration(self, fit: Fit, cams: CameraSet, gt: Views, index: torch.Tensor,
                        owner: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        t = self.timer
        with t.phase("batch"):
            cam = cams.subset(index)
            target = gt.select(index.to(self.device))
        with t.phase("project"):
            proj = project(fit.g, cam, None if owner is None else owner)
        with t.phase("composite"):
            out = composite(proj, BACKGROUND)
            loss = self.loss(out, target)
        with t.phase("backward"):
            fit.opt.zero_grad(set_to_none=True)
            loss.backward()
        with t.phase("optimizer"):
            grad = fit.g.means.grad
            if grad is not None:
                norm = grad.norm(dim=-1)
                fit.grad_norm += norm
                fit.seen += (norm > 0).to(fit.seen.dtype)
            fit.opt.step()
        return loss.detach()

    def train(self) -> None:
        c = self.cfg.splat
        n_poses = len(self.train_cams)
        running = torch.zeros((), device=self.device)
        count, last_live, live_cost, refreshed = 0, time.perf_counter(), 0.0, False
        epoch_mark = (self.timer.snapshot(), time.perf_counter())
        log_every = max(1, self.cfg.train.log_every)
        self.training = True
        for _ in range(c.steps):
            if self.handle_commands():
                break
            index = torch.randperm(n_poses, generator=self.gen)[: self.views_per_step]
            with self.profile_step():
                running += self.train_iteration(self.fit, self.train_cams, self.train_gt, index)
            count += 1
            self.step += 1
            self.samples += self.views_per_step
            if c.densify_every > 0 and self.step % c.densify_every == 0 and self.step <= 0.8 * c.steps:
                self.densify()
            if count >= log_every or self.step == c.steps:
                self.last_train_loss = float(running) / count  # the one read-back per log_every steps
                running.zero_()
                count = 0
                self.report_training()
            epoch = self.samples // n_poses
            if epoch > self.epoch or self.step == c.steps:
                self.epoch = max(epoch, self.epoch)
                epoch_mark = self.close_epoch(*epoch_mark)
            due = time.perf_counter() - last_live >= max(LIVE_EVERY_S, live_cost / LIVE_SHARE)
            if self.step < c.steps and (due or (not refreshed and self.step == c.steps // 2)):
                t0 = time.perf_counter()  # a live refresh when due, and at least one by half-way
                self.publish(final=False)
                last_live = time.perf_counter()
                live_cost, refreshed = last_live - t0, True
        self.training = False

    def densify(self) -> None:
        with self.timer.phase("densify"):
            f = self.fit
            cap = int(MAX_GROWTH * self.cfg.splat.num_gaussians)
            g, stats = densify_and_prune(f.g, f.grad_norm, f.seen, cap, generator=None)
            f.reset(g)
        self.log(f"step {self.step}: densify: {stats['cloned']} cloned, {stats['split']} split, "
                 f"{stats['pruned']} pruned -> {stats['count']} Gaussians")  # fmt: skip

    def report_training(self) -> None:
        """Every loss reading is recorded (metrics.jsonl holds them all); progress at most metrics_hz."""
        values = {"train_loss": self.last_train_loss, "num_gaussians": float(len(self.fit.g))}
        self.emit(ev.Metrics(self.step, self.epoch, values))
        if self.reporter.due("metrics") or self.step == self.cfg.splat.steps:
            self.emit_progress(self.epoch, "train")
        if self.reporter.due("timings"):
            seconds, wall = self.timer.interval()
            self.emit(ev.PhaseTimes("live", self.epoch, top_level(seconds), wall))

    def emit_progress(self, epoch: int, stage: str) -> None:
        """Progress in steps; throughput in rendered training views per second."""
        elapsed = self.active_seconds()
        rate = self.step / elapsed
        left = (self.total_steps - self.step) / rate if rate > 0 else float("nan")
        self.emit(ev.Progress(self.step, self.total_steps, epoch, self.total_epochs, self.samples / elapsed, left,
                              stage))  # fmt: skip

    def close_epoch(self, start: dict[str, float], wall0: float) -> tuple[dict[str, float], float]:
        now, t = self.timer.snapshot(), time.perf_counter()
        seconds = {k: v - start.get(k, 0.0) for k, v in now.items()}
        self.emit(ev.PhaseTimes("epoch", self.epoch, top_level(seconds), t - wall0))
        self.epoch_tables.append({"epoch": self.epoch, "seconds": seconds, "wall_s": t - wall0})
        return now, t

    # ----------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, g: Gaussians, cams: CameraSet, gt: Views, owner: torch.Tensor | None = None):  # noqa: ANN201
        with self.timer.phase("evaluate"):
            out = render(g, cams, BACKGROUND, owner)
            return out, view_figures(out.image, out.alpha, gt.image, gt.silhouette)

    def view_rows(self, figures: list[dict[str, float]]) -> list[dict[str, float]]:
        cams = self.eval_cams
        return [{"view": i, "azimuth_deg": float(cams.azimuth_deg[i]), "elevation_deg": float(cams.elevation_deg[i]),
                 **f} for i, f in enumerate(figures)]  # fmt: skip

    def publish(self, final: bool) -> dict[str, Any]:
        """Render the eight views of the current Gaussians; write PNGs, gaussians.npz; announce both."""
        out, figures = self.evaluate(self.fit.g, self.eval_cams, self.eval_gt)
        rows = self.view_rows(figures)
        means = means_of(figures)
        with self.timer.phase("write"):
            fit_paths = write_views(self.renders_dir, "fit", out.image)
            sheet = contact_sheet(self.renders_dir / "contact_sheet.png", [self.eval_gt.image, out.image])
            npz = write_gaussians(self.run_dir / "gaussians.npz", self.fit.g.to_numpy(), self.part, self.eval_cams)
        info = {"step": self.step, "final": final, "views": rows, "fit_images": fit_paths,
                "gt_images": self.gt_paths, "image_size": self.cfg.splat.image_size, **means}  # fmt: skip
        self.emit(ev.Artifact("renders", sheet, info))
        self.emit(ev.Artifact("gaussians", npz, {"step": self.step, "count": len(self.fit.g), "final": final}))
        self.emit(ev.Metrics(self.step, self.epoch, {f"eval_{k}": v for k, v in means.items()}))
        return {"views": rows, **means, "fit_images": fit_paths, "gt_images": self.gt_paths,
                "contact_sheet": sheet, "gaussians": npz}  # fmt: skip

    def single_view_fits(self) -> dict[str, Any]:
        """Protocol (b): one Gaussian set per evaluation view, trained on that view only (one batched fit)."""
        c, V = self.cfg.splat, len(self.eval_cams)
        steps = c.single_view_steps or max(1, c.steps // 5)
        with self.timer.phase("init"):
            torch.manual_seed(self.cfg.train.seed + 1)
            base = init_from_mesh(self.verts, self.faces, c.num_gaussians)
            owner = torch.arange(V, device=self.device).repeat_interleave(len(base))
            fit = Fit(Gaussians.cat([base] * V), c.learning_rate, self.device)
        every = torch.arange(V)
        self.log(f"contrast: {V} single-view fits, {steps} steps each")
        for i in range(steps):
            if self.handle_commands():
                return {"status": "stopped", "steps": i}
            self.train_iteration(fit, self.eval_cams, self.eval_gt, every, owner)
        out, figures = self.evaluate(fit.g, self.eval_cams, self.eval_gt, owner)
        first = fit.g.select(owner == 0)
        cross_out, cross = self.evaluate(first, self.eval_cams, self.eval_gt)
        with self.timer.phase("write"):
            paths = write_views(self.renders_dir, "single", out.image)
            cross_paths = write_views(self.renders_dir, "single0", cross_out.image)
            contact_sheet(self.renders_dir / "single_view_sheet.png", [self.eval_gt.image, out.image, cross_out.image])
        return {
            "steps": steps,
            "per_view": {"views": self.view_rows(figures), **means_of(figures), "images": paths},
            "trained_on_view0": {"views": self.view_rows(cross), **means_of(cross), "images": cross_paths},
        }

    # ----------------------------------------------------------------- job
    def on_request(self, cmd: Any) -> None:
        if isinstance(cmd, ev.ReconstructNow) and hasattr(self, "fit"):
            self.publish(final=False)
        else:
            self.log(f"{type(cmd).__name__}: not available for a Gaussian splat run", "warning")

    def run_body(self) -> dict[str, Any]:
        threads = torch.get_num_threads()
        try:
            return self._run_body()
        finally:
            torch.set_num_threads(threads)  # a later job in the same process gets its threads back

    def _run_body(self) -> dict[str, Any]:
        self.setup()
        self._t_train = self.clock()  # throughput and ETA count training, not the ground truth
        self.train()
        train_s = sum(self.timer.snapshot().get(k, 0.0) for k in ("batch", "project", "composite", "backward",
                                                                  "optimizer"))  # fmt: skip
        final = self.publish(final=True)  # the single-view contrast fits below are not the run's training
        single = {} if self.stopping else self.single_view_fits()
        sv = single.get("per_view", {})
        mv = {k: final[k] for k in ("mean_ssim", "mean_coverage", "mean_iou", "mean_psnr", "mean_l1")}
        self.log("multi-view (same Gaussians, 8 cameras): " + _fmt(mv))
        if sv:
            self.log("single-view fits, each on its own view: " + _fmt(sv))
            self.log("single-view fit of view 0 seen from all views: " + _fmt(single["trained_on_view0"]))
        return {
            "num_gaussians": len(self.fit.g),
            "image_size": self.cfg.splat.image_size,
            "multiview": final,
            **mv,
            "single_view": single,
            "metrics": {k[5:]: v for k, v in mv.items()},
            "train_loss": getattr(self, "last_train_loss", None),
            "train_samples_per_s": self.samples / max(train_s, 1e-9),
            "train_samples_unit": "rendered training views",
            "ground_truth_renders": {
                "camera_sets": self.gt.rendered_sets,
                "views": len(self.train_cams) + len(self.eval_cams),
            },  # fmt: skip
        }


def _fmt(d: dict[str, Any]) -> str:
    return (f"SSIM {d['mean_ssim']:.3f}, coverage {d['mean_coverage']:.3f}, IoU {d['mean_iou']:.3f}, "
            f"PSNR {d['mean_psnr']:.1f} dB")  # fmt: skip
