"""Several parts fitted in one process by batching their networks: one batched matmul per layer.

Each part keeps its own SDFJob (run directory, sampling, scaler, initial weights, permutations,
validation, checkpoint, mesh and summary); only the training steps run together. The summed loss gives
each part's parameters exactly the gradient of its own loss, and Adam works element by element, so
every part trains as it would alone (up to floating-point rounding). A small MLP that leaves a GPU
idle then fills it. In a group, the training phases in each part's timings are the group's divided
evenly among its parts.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from isoscope.core import events as ev
from isoscope.core.sdf.job import SDFJob
from isoscope.core.sdf.packed import PackedMLP
from isoscope.core.sdf.step import captured_step, make_adam
from isoscope.core.timing import PhaseTimer, epoch_breakdown, top_level


def _losses(kind: str, pred: torch.Tensor, target: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Per-part mean loss (P,), the same definitions as SDFJob.loss_fn."""
    if kind == "l2":
        return ((pred - target) ** 2).mean(1)
    if kind == "clamped":
        return (torch.minimum(torch.maximum(pred, lo), hi) - torch.minimum(torch.maximum(target, lo), hi)).abs().mean(1)
    return (pred - target).abs().mean(1)


def train_together(jobs: list[SDFJob]) -> None:  # noqa: C901 - one engine replaces this loop
    """Train the networks of set-up jobs (same device, point count and training settings) together."""
    cfg, dev = jobs[0].cfg, jobs[0].device
    n, b, P = jobs[0].X.shape[0], cfg.train.batch_size, len(jobs)
    if any(j.X.shape[0] != n for j in jobs):
        raise ValueError("parts trained together need the same number of training points")
    timer = PhaseTimer(dev)
    with timer.phase("cache"):
        X = torch.stack([j.X for j in jobs])
        Y = torch.stack([j.Y for j in jobs])
        lo = torch.stack([j.clamp_range[0] for j in jobs])[:, None]
        hi = torch.stack([j.clamp_range[1] for j in jobs])[:, None]
        net = PackedMLP([j.model for j in jobs], batched=True).to(dev)
        opt = make_adam(net.parameters(), cfg.train.learning_rate)
    steps_per_epoch = math.ceil(n / b)
    running = torch.zeros(P, device=dev)
    count = 0

    def gather(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.gather(X, 1, idx[..., None].expand(-1, -1, 3)), torch.gather(Y, 1, idx)

    def batch_losses(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        with jobs[0].autocast():
            return _losses(cfg.train.loss, net(xb).float(), yb, lo, hi)

    def loss_of(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        per_part = batch_losses(*gather(idx))
        return per_part.sum(), per_part

    def eager_step(i: int) -> None:  # the CPU path, with its phases timed apart
        with timer.phase("batch"):
            xb, yb = gather(perms[:, i * b : (i + 1) * b])
        with timer.phase("forward"):
            per_part = batch_losses(xb, yb)
        with timer.phase("backward"):
            opt.zero_grad(set_to_none=True)
            per_part.sum().backward()
        with timer.phase("optimizer"):
            opt.step()
        running.add_(per_part.detach())

    graph = captured_step(opt, loss_of, running, (P, b), cfg.train.cuda_graph, n, timer)
    for j in jobs:
        j.total_steps = steps_per_epoch * cfg.train.epochs
        j._t_train = time.perf_counter()
    for epoch in range(1, cfg.train.epochs + 1):
        wall0, mark = time.perf_counter(), timer.snapshot()
        if cfg.sampling.resample_every_epoch and epoch > 1:
            for j in jobs:
                j.resample()
            with timer.phase("cache"):  # in place: a captured training step reads these buffers
                X.copy_(torch.stack([j.X for j in jobs]))
                Y.copy_(torch.stack([j.Y for j in jobs]))
        with timer.phase("batch"):
            perms = torch.stack([torch.randperm(n, device=dev, generator=j.gen) for j in jobs])
        for i in range(steps_per_epoch):
            if graph is not None:
                with timer.phase("step"):
                    graph(perms[:, i * b : (i + 1) * b])
            else:
                eager_step(i)
            count += 1
            for j in jobs:
                j.step += 1
                j.samples += min(b, n - i * b)
            if count >= cfg.train.log_every or i == steps_per_epoch - 1:
                losses = (running / count).tolist()  # the one read-back per log_every steps
                running.zero_()
                count = 0
                for j, loss in zip(jobs, losses, strict=True):
                    j.report_training(epoch, loss, force=i == steps_per_epoch - 1)
        for p, j in enumerate(jobs):
            j.net.load_part(net, p)
            j.epoch = epoch
            j.validate(epoch)
        seconds = {k: (v - mark.get(k, 0.0)) / P for k, v in timer.snapshot().items()}
        wall = time.perf_counter() - wall0
        for j in jobs:
            j.emit(ev.PhaseTimes("epoch", epoch, top_level(seconds), wall))
            j.epoch_tables.append({"epoch": epoch, "seconds": seconds, "wall_s": wall, "group_parts": P})
            j.log(epoch_breakdown(epoch, top_level(seconds), wall) + f"\n(phases: the share of a group of {P} parts)")
    totals = timer.snapshot()
    for j in jobs:
        for key, value in totals.items():
            j.timer.totals[key] += value / P


def _prefetch(job: SDFJob) -> float:
    """Read a part and its health report (numpy work that releases the GIL: parts load side by side);
    returns the seconds taken. Errors are left for begin() and setup(), which meet and report them."""
    from isoscope.core.mesh.health import report
    from isoscope.core.mesh.part import load_part

    t0 = time.perf_counter()
    try:
        job.part = load_part(job.part_path)
        job.prefetched_health = report(job.part, job.cfg.recon.resolution)
    except Exception:  # noqa: BLE001, S110 - reported in order by begin() and setup()
        pass
    return time.perf_counter() - t0


def run_group(jobs: list[SDFJob]) -> list[dict[str, Any]]:
    """begin + setup each job, train them together, then conclude and finish each; returns summaries.

    The parts are read and checked side by side on the CPU first. A part that fails to load or set up is
    reported as failed (its summary says why) and the rest go on.
    """
    from isoscope.core.failure import failure_event, write_failed_summary

    results: dict[int, dict[str, Any]] = {}
    ready: list[tuple[int, SDFJob]] = []
    with ThreadPoolExecutor(max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        loading = [pool.submit(_prefetch, job) for job in jobs]
    for k, job in enumerate(jobs):
        try:
            seconds = loading[k].result()
            job.timer.totals["load"] += seconds
            job.begin()
            job.setup()
            ready.append((k, job))
        except Exception as exc:  # noqa: BLE001 - one part never stops the group
            failed = failure_event(exc)
            write_failed_summary(job.run_dir, job.part_path, failed)
            job.emit(failed)
            results[k] = {"status": "failed", "part": job.part_path, "error": failed.message}
    if ready:
        train_together([job for _, job in ready])
    for k, job in ready:
        results[k] = job.finish(job.conclude())
    return [results[k] for k in range(len(jobs))]
