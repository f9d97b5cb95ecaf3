"""The one SDF training loop: a single part trains as a group of one.

``PartsStep`` is one training step of P parts' networks held as one PackedMLP (unbatched when P = 1):
the gather of a batch, the forward pass and the loss (``part_losses``), backward and Adam, either eager
with its phases timed apart (the CPU) or replayed as a captured CUDA graph. The job, the folder run's
groups and ``isoscope-bench`` all train through it, with the job's loss, learning rate and precision.

``train_parts`` runs the epochs of set-up SDFJobs: a fresh permutation per part and epoch, the loss read
back every ``log_every`` steps, validation and the per-epoch timing table after each epoch. The summed
loss gives each part's parameters exactly the gradient of its own loss, and Adam works element by
element, so every part of a group trains as it would alone (to floating-point rounding). Commands
(stop, pause, profile) come through the first job. In a group, the training phases in each part's
timings are the group's divided evenly among its parts.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import torch

from isoscope.core import events as ev
from isoscope.core.config import TrainConfig
from isoscope.core.sdf.packed import PackedMLP
from isoscope.core.sdf.step import FlatAdam, adam_state, autocast, captured_step, make_adam, optimise
from isoscope.core.timing import PhaseTimer, epoch_breakdown, top_level

if TYPE_CHECKING:
    from isoscope.core.sdf.job import SDFJob


def part_losses(
    kind: str, pred: torch.Tensor, target: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor
) -> torch.Tensor:
    """Mean loss per part (P,) of predictions and targets (P, N) in scaled units; ``lo``/``hi`` (P, 1) bound
    the "clamped" loss."""
    if kind == "l2":
        return ((pred - target) ** 2).mean(1)
    if kind == "clamped":
        return (torch.minimum(torch.maximum(pred, lo), hi) - torch.minimum(torch.maximum(target, lo), hi)).abs().mean(1)
    return (pred - target).abs().mean(1)


class PartsStep:
    """One training step on index batches (P, B) of the training points X (P, N, 3) and targets Y (P, N).

    ``running`` (P,) accumulates each part's loss on the device; the caller reads it back when it
    reports. On CUDA (unless ``train.cuda_graph`` is off) the step is captured once, timed as "init".
    """

    def __init__(self, net: PackedMLP, opt: FlatAdam, data: tuple[torch.Tensor, ...], train: TrainConfig,
                 timer: PhaseTimer) -> None:  # fmt: skip
        self.net, self.opt, self.train, self.timer = net, opt, train, timer
        self.X, self.Y, self.lo, self.hi = data
        parts, n = self.Y.shape
        self.running = torch.zeros(parts, device=self.Y.device)
        shape = (parts, train.batch_size)
        self.graph = captured_step(opt, self.loss_of, self.running, shape, train.cuda_graph, n, timer)

    def gather(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.gather(self.X, 1, idx[..., None].expand(-1, -1, 3)), torch.gather(self.Y, 1, idx)

    def losses(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """The forward pass and each part's loss: the one definition every SDF fit trains with."""
        with autocast(xb.device, self.train.precision):
            pred = self.net(xb) if self.net.batched else self.net(xb[0])[None]
            return part_losses(self.train.loss, pred.float(), yb, self.lo, self.hi)

    def loss_of(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        per_part = self.losses(*self.gather(idx))
        return per_part.sum(), per_part

    def __call__(self, idx: torch.Tensor) -> None:
        t = self.timer
        if self.graph is not None:
            with t.phase("step"):
                self.graph(idx)
            return
        with t.phase("batch"):
            xb, yb = self.gather(idx)
        with t.phase("forward"):
            per_part = self.losses(xb, yb)
        optimise(self.opt, per_part.sum(), t)
        self.running.add_(per_part.detach())

    def read_losses(self, count: int) -> list[float]:
        """Each part's mean loss over the last ``count`` steps (the one read-back), and a fresh sum."""
        losses = (self.running / count).tolist()
        self.running.zero_()
        return losses


def _group_step(jobs: list[SDFJob], timer: PhaseTimer) -> PartsStep:
    """The step over the jobs' training sets: a single job trains its own network and buffers in place."""
    lead = jobs[0]
    with timer.phase("cache"):
        lo = torch.stack([j.clamp_range[0] for j in jobs])[:, None]
        hi = torch.stack([j.clamp_range[1] for j in jobs])[:, None]
        if len(jobs) == 1:  # views: resampling writes the job's buffers, which a captured step reads
            net, opt, X, Y = lead.net, lead.opt, lead.X[None], lead.Y[None]
        else:
            net = PackedMLP([j.model for j in jobs], batched=True).to(lead.device)
            net.low = lead.net.low
            opt = make_adam(net.parameters(), lead.cfg.train.learning_rate)
            X, Y = torch.stack([j.X for j in jobs]), torch.stack([j.Y for j in jobs])
    return PartsStep(net, opt, (X, Y, lo, hi), lead.cfg.train, timer)


def train_parts(jobs: list[SDFJob]) -> None:
    """Train set-up jobs (same device, point count and training settings) together; see the module doc."""
    lead, parts = jobs[0], len(jobs)
    cfg, n, b = lead.cfg, lead.X.shape[0], lead.cfg.train.batch_size
    if any(j.X.shape[0] != n for j in jobs):
        raise ValueError("parts trained together need the same number of training points")
    timer = lead.timer if parts == 1 else PhaseTimer(lead.device)
    step = _group_step(jobs, timer)
    steps_per_epoch, count = math.ceil(n / b), 0
    for j in jobs:
        j.total_steps = steps_per_epoch * cfg.train.epochs
        j._t_train = j.clock()
        j.training = True
    for epoch in range(1, cfg.train.epochs + 1):
        wall0, mark = time.perf_counter(), timer.snapshot()
        if cfg.sampling.resample_every_epoch and epoch > 1:
            _resample(jobs, step, timer)
        with timer.phase("batch"):
            perms = torch.stack([torch.randperm(n, device=lead.device, generator=j.gen) for j in jobs])
        for i in range(steps_per_epoch):
            if lead.handle_commands() or any(j.stopping for j in jobs):
                _stop(jobs, step)
                return
            with lead.profile_step():
                step(perms[:, i * b : (i + 1) * b])
            count += 1
            for j in jobs:
                j.step += 1
                j.samples += min(b, n - i * b)
            if count >= cfg.train.log_every or i == steps_per_epoch - 1:
                for j, loss in zip(jobs, step.read_losses(count), strict=True):
                    j.report_training(epoch, loss, force=i == steps_per_epoch - 1)
                count = 0
        _end_epoch(jobs, step, epoch, mark, wall0)
    _finish(jobs, step)


def _resample(jobs: list[SDFJob], step: PartsStep, timer: PhaseTimer) -> None:
    for j in jobs:
        j.resample()
    if len(jobs) > 1:
        with timer.phase("cache"):  # in place: a captured training step reads these buffers
            step.X.copy_(torch.stack([j.X for j in jobs]))
            step.Y.copy_(torch.stack([j.Y for j in jobs]))


def _take_weights(jobs: list[SDFJob], step: PartsStep) -> None:
    if len(jobs) > 1:
        for p, j in enumerate(jobs):
            j.net.load_part(step.net, p)


def _end_epoch(jobs: list[SDFJob], step: PartsStep, epoch: int, mark: dict[str, float], wall0: float) -> None:
    """Validate each part and report the epoch's timing table since ``mark`` (validation included; a group's
    phases shared among its parts)."""
    parts = len(jobs)
    _take_weights(jobs, step)
    for j in jobs:
        j.epoch = epoch
        j.validate(epoch)  # timed by each part's own timer (a part alone: the loop's)
    seconds = {k: (v - mark.get(k, 0.0)) / parts for k, v in step.timer.snapshot().items()}
    wall = time.perf_counter() - wall0
    note = f"\n(phases: the share of a group of {parts} parts)" if parts > 1 else ""
    for j in jobs:
        j.emit(ev.PhaseTimes("epoch", epoch, top_level(seconds), wall))
        j.epoch_tables.append({"epoch": epoch, "seconds": seconds, "wall_s": wall, "group_parts": parts})
        j.log(epoch_breakdown(epoch, top_level(seconds), wall) + note)


def _stop(jobs: list[SDFJob], step: PartsStep) -> None:
    """A stop from the first job stops the group, each part keeping the model so far."""
    for j in jobs:
        j.stopping = True
    _take_weights(jobs, step)
    _finish(jobs, step)


def _finish(jobs: list[SDFJob], step: PartsStep) -> None:
    """The end of training: each part keeps its optimiser state (for model.pt) and its share of a group's time."""
    parts = len(jobs)
    for p, j in enumerate(jobs):
        j.optimizer_state = adam_state(step.opt, p if parts > 1 else None)
        j.training = False
    if parts > 1:
        for key, value in step.timer.snapshot().items():
            for j in jobs:
                j.timer.totals[key] += value / parts
