"""The Python API for any training script: ``run = isoscope.init(...)`` writes a run directory the window
follows live (``isoscope RUN_DIR``), GPU-correct.

    run = isoscope.init(name="autodecoder", config={"lr": 1e-3})
    with run:                                   # or run.finish(); an exception marks the run failed
        for epoch in range(epochs):
            for batch in loader:
                with run.phase("data"): ...
                with run.phase("step"):
                    with run.phase("forward"): ...   # nested: "step.forward"
                run.log(step, loss=loss)        # a tensor is read back later, never waited for
            run.epoch()                         # closes the epoch, prints its timing breakdown

Phases are timed with CUDA events once the script uses CUDA (resolved at reporting points, without
waiting for the GPU; at an epoch's end they are waited for once), with ``perf_counter`` otherwise. Time no
phase covers is ``other``, so the phases add up to the wall time. A reporting point is the first
``run.log`` after ``report_every_s`` seconds: it writes the values logged since, the live phase share,
the throughput in steps per second, the process's resources, and looks for a Profile request from the
window (``requests/profile.json``), which wraps the next N steps (``run.log`` calls) in torch.profiler.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from isoscope.core import events as ev
from isoscope.core.failure import described
from isoscope.core.profiling import profiler_quiet, write_profile
from isoscope.core.readback import Readback, write_image, write_ply, write_points
from isoscope.core.resources import ResourceSampler
from isoscope.core.runs.rundir import (
    CONFIG,
    SUMMARY,
    TIMINGS,
    RunWriter,
    default_root,
    new_run_dir,
    read_json,
    safe_name,
    write_json_atomic,
)
from isoscope.core.timing import PhaseTimer, Span, ordered, phase_table, top_level, with_other

JOB = "script"  # config.json's "job" for a run a script wrote
REPORT_S = 0.5
PROFILE_REQUEST = Path("requests") / "profile.json"
_OPEN: list[Run] = []  # runs not finished, for the exception hook and exit


def init(name: str | None = None, config: Any = None, root: str | os.PathLike | None = None,
         report_every_s: float = REPORT_S, print_tables: bool = True, device: str = "auto") -> Run:  # fmt: skip
    """Create a run directory under ``root`` (default: isoscope's runs folder, or $ISOSCOPE_RUNS) and return
    the :class:`Run` that writes it. ``config``: a dict or dataclass, kept in config.json. ``device``: "auto"
    times with CUDA events once the script has used CUDA, "cpu" or "cuda" choose."""
    return Run(name or Path(sys.argv[0]).stem or "script", config, root, report_every_s, print_tables, device)


class Run:
    """One run of a script; see the module docstring."""

    def __init__(self, name: str, config: Any, root: str | os.PathLike | None, report_every_s: float,
                 print_tables: bool, device: str) -> None:  # fmt: skip
        self.name, self.report_every_s, self.print_tables, self._device = name, report_every_s, print_tables, device
        self.path = new_run_dir(root if root is not None else default_root(), name, JOB)
        self.config_doc = {"job": JOB, "name": name, "config": plain(config), "created": time.time(),
                           "script": sys.argv[0], "argv": sys.argv[1:]}  # fmt: skip
        write_json_atomic(self.path / CONFIG, self.config_doc)
        self.writer = RunWriter(self.path)
        self.sampler = ResourceSampler()
        self.values = Readback()
        self.timer: PhaseTimer | None = None
        self.step = self.epochs = self.logged = 0
        self.status: str | None = None  # set when the run has ended
        self.summary: dict[str, Any] = {}
        self.epoch_tables: list[dict[str, Any]] = []
        self.last: dict[str, float | None] = {}
        self._stack: list[str] = []
        self._t0 = self._report_t = time.perf_counter()
        self._epoch_mark: tuple[dict[str, float], float] = ({}, self._t0)
        self._rate_mark = (0, self._t0)
        self._profile_left = 0
        self._profiler: Any = None
        _OPEN.append(self)

    # ------------------------------------------------------------------ timing
    def started(self) -> PhaseTimer:
        """The run's timer, made (and Started written) on first use: by then the script has chosen its device.
        Timing from outside (:mod:`isoscope.core.watch`) opens top-level spans on it."""
        if self.timer is not None:
            if self.status is not None:
                raise RuntimeError(
                    f"run {self.name} has already ended ({self.status}); start another with isoscope.init"
                )
            return self.timer
        device = self._device
        if device == "auto":
            device = cuda_in_use() or "cpu"
        elif device == "cuda":
            import torch

            device = f"cuda:{torch.cuda.current_device()}"
        self.timer = PhaseTimer(device)
        self._announce(device)
        return self.timer

    def _turn_to_cuda(self, timer: PhaseTimer) -> None:
        """``device="auto"``: a script that starts using CUDA after its first phase is timed with CUDA
        events from this reporting point on."""
        device = cuda_in_use()
        if device is not None:
            timer.cuda = True
            self.writer.log(f"the script uses {device}: its phases are timed with CUDA events from here on")
            self._announce(device)

    def _announce(self, device: str) -> None:
        """The device the run is timed on: in a Started record (the window's status bar) and for resources."""
        label = device
        if device.startswith("cuda"):
            import torch

            from isoscope.core.job import device_label

            label = device_label(torch.device(device))
        self.sampler.use_device(device)
        self._record(ev.Started(str(self.path), self.name, label, JOB, self.config_doc))

    def phase(self, name: str) -> Phase:
        """``with run.phase(name):`` times the block as phase ``name``; inside another phase, ``outer.name``."""
        timer = self.started()
        return Phase(self._stack, timer.phase(f"{self._stack[-1]}.{name}" if self._stack else name))

    def note(self, text: str) -> None:
        """A line for the run's log."""
        self.writer.log(text)

    def epoch(self) -> dict[str, float]:
        """Close an epoch: its phase times (and ``other``) are recorded and, by default, printed as the
        "EPOCH N TIMING BREAKDOWN" table. Returns the epoch's seconds per phase."""
        timer = self.started()
        self._report(block=True)
        now = timer.snapshot()
        t = time.perf_counter()
        mark, t_mark = self._epoch_mark
        seconds = ordered({k: v - mark.get(k, 0.0) for k, v in now.items() if v - mark.get(k, 0.0) > 0})
        wall = t - t_mark
        self._epoch_mark = (now, t)
        self.epochs += 1
        shares = with_other(seconds, wall)
        self._record(ev.PhaseTimes("epoch", self.epochs, shares, wall))
        entry = {"epoch": self.epochs, "seconds": {**seconds, "other": shares["other"]}, "wall_s": wall}
        self.epoch_tables.append(entry)
        table = phase_table(self.epochs, seconds, wall)
        self.writer.log(table)
        if self.print_tables:
            print(table, flush=True)
        return seconds

    # ------------------------------------------------------------------ values
    def log(self, step: int, loss: Any = None, val_loss: Any = None, **scalars: Any) -> None:
        """Record values at ``step`` (floats or tensors; a tensor is read back at a later reporting point).
        ``loss`` is drawn as the training loss, ``val_loss`` as the validation loss. Each call is a step
        boundary (for Profile)."""
        self.started()
        values = {k: v for k, v in (("train_loss", loss), ("val_loss", val_loss)) if v is not None}
        values.update(scalars)
        if values:
            self.values.add(int(step), self.epochs + 1, values)  # a bad value raises here, before counting
        self._profile_boundary()
        self.step = int(step)
        self.logged += 1
        if time.perf_counter() - self._report_t >= self.report_every_s:
            self._report(block=False)

    def _report(self, block: bool) -> None:
        """A reporting point: values, live phase share, throughput, resources, a Profile request."""
        timer = self.started()
        if self._device == "auto" and not timer.cuda:
            self._turn_to_cuda(timer)
        self._report_t = t = time.perf_counter()
        self.values.send()
        for step, epoch, values in self.values.ready(block):
            self.last.update(values)
            self.writer.metrics(step, epoch, values)  # flushed with the PhaseTimes record below
        seconds, wall = timer.interval(block=block)
        self._record(ev.PhaseTimes("live", self.epochs + 1, with_other(seconds, wall), wall))
        done, t_mark = self._rate_mark
        if self.logged > done and t > t_mark:
            rate = (self.logged - done) / (t - t_mark)
            self._record(ev.Progress(self.step, 0, self.epochs + 1, 0, rate, float("nan"), "train"))
            self._rate_mark = (self.logged, t)
        sample = self.sampler.sample()
        if sample is not None:
            self._record(sample)
        self._take_profile_request()

    # ------------------------------------------------------------------ artifacts
    def mesh(self, name: str, vertices: Any, faces: Any) -> Path:
        """A triangle mesh (arrays or tensors), written atomically and shown in the window's viewport."""
        return self._artifact("mesh", "meshes", name, ".ply", write_ply, vertices, faces)

    def points(self, name: str, xyz: Any, values: Any) -> Path:
        """Points coloured by a value each (signed distance, error), shown in the viewport."""
        return self._artifact("points", "points", name, ".npz", write_points, xyz, values)

    def image(self, name: str, array: Any) -> Path:
        """An image (HxW, HxWx3/4 or CxHxW; floats in 0-1 or bytes), shown in the window's Images tab."""
        return self._artifact("image", "images", name, ".png", write_image, array)

    def _artifact(self, kind: str, folder: str, name: str, suffix: str, write: Any, *data: Any) -> Path:
        self.started()
        path = self.path / folder / f"{safe_name(name, 80) or 'artifact'}{suffix}"
        write(path, *data)
        self._record(ev.Artifact(kind, str(path), {"name": path.stem, "step": self.step}))
        return path

    # ------------------------------------------------------------------ profile
    def _take_profile_request(self) -> None:
        request = self.path / PROFILE_REQUEST
        if self._profile_left or not request.exists():
            return
        try:
            steps = int(read_json(request).get("steps", 20))
        except (OSError, ValueError, AttributeError, TypeError):
            steps = 20
        request.unlink(missing_ok=True)
        self._profile_left = max(1, steps) + 1  # the boundary that starts it counts too
        self.writer.log(f"profiling the next {steps} steps")

    def _profile_boundary(self) -> None:
        if not self._profile_left:
            return
        self._profile_left -= 1
        if self._profiler is None:
            import torch

            acts = [torch.profiler.ProfilerActivity.CPU]
            if self.timer is not None and self.timer.cuda:
                acts.append(torch.profiler.ProfilerActivity.CUDA)
            self._profiler = torch.profiler.profile(activities=acts, record_shapes=True)
            with profiler_quiet(self.writer.log):
                self._profiler.__enter__()
            self.started().profiling = True
        elif self._profile_left == 0:
            self._stop_profile()

    def _stop_profile(self) -> None:
        prof, self._profiler, self._profile_left = self._profiler, None, 0
        timer = self.started()
        timer.profiling = False
        with profiler_quiet(self.writer.log):
            prof.__exit__(None, None, None)
            info = write_profile(prof, self.path / "profile", timer.cuda)
        self._record(ev.Artifact("profile", info.pop("path"), info))

    # ------------------------------------------------------------------ the end
    def finish(self, status: str = "done", error: BaseException | None = None) -> dict[str, Any]:
        """Write the last values, timings.json and summary.json (atomically) and end the run: "done",
        "stopped" or "failed" (``error``: its exception). Later calls return the same summary."""
        if self.status is not None:
            return self.summary
        timer = self.started()
        try:
            if self._profiler is not None:
                self._stop_profile()
            self._report(block=True)
            seconds = timer.snapshot()
        except Exception as exc:  # noqa: BLE001 - a failed device (a sticky CUDA error): end with what was measured
            self.writer.log(f"the last values and timings could not be read: {type(exc).__name__}: {exc}")
            timer._pending.clear()
            seconds = ordered(dict(timer.totals))
        wall = time.perf_counter() - self._t0
        self.status = status
        self.summary = {"status": status, "name": self.name, "job": JOB, "part": "", "steps": self.step,
                        "logged_steps": self.logged, "epochs": self.epochs, "wall_s": wall,
                        "phases_s": with_other(seconds, wall), "last": self.last}  # fmt: skip
        failed = described(error) if error is not None else None
        if failed is not None:
            self.summary.update(error=failed.message, traceback=failed.traceback)
        write_json_atomic(self.path / TIMINGS, {"epochs": self.epoch_tables, "total_s": seconds, "wall_s": wall})
        write_json_atomic(self.path / SUMMARY, self.summary)
        self._record(ev.PhaseTimes("total", self.epochs, with_other(top_level(seconds), wall), wall))
        self._record(failed if failed is not None else ev.Finished(status, self.summary))
        self.writer.log(f"run {status} after {self.step} steps, {self.epochs} epochs, {wall:.1f} s")
        self.writer.close()
        if self in _OPEN:
            _OPEN.remove(self)
        return self.summary

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None:
            self.finish()
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("stopped")
        else:
            self.finish("failed", exc)
        return False  # the exception goes on

    def _record(self, event: Any) -> None:
        self.writer.record(event)


class Phase:
    """A phase of a run being timed: its full name is on the run's stack meanwhile (for nesting)."""

    __slots__ = ("stack", "span")

    def __init__(self, stack: list[str], span: Span) -> None:
        self.stack, self.span = stack, span

    def __enter__(self) -> None:
        self.stack.append(self.span.name)
        self.span.__enter__()

    def __exit__(self, *exc: object) -> bool:
        self.span.__exit__()
        self.stack.pop()
        return False


def cuda_in_use() -> str | None:
    """The current CUDA device ("cuda:N") once the script has used CUDA, else None (never imports torch)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        return f"cuda:{torch.cuda.current_device()}"
    return None


def plain(config: Any) -> Any:
    """A config (dict, dataclass, argparse Namespace, None) as JSON data; what JSON cannot hold as text."""
    if config is None:
        return {}
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    elif hasattr(config, "__dict__") and not isinstance(config, dict):
        config = vars(config)
    return json.loads(json.dumps(config, default=str))  # NaN stays a float: the writer stores it as null


def _excepthook(kind: type, exc: BaseException, tb: Any) -> None:
    """An uncaught exception ends every open run as failed (Ctrl-C: stopped), then Python reports it."""
    for run in list(_OPEN):
        run.finish("stopped") if isinstance(exc, KeyboardInterrupt) else run.finish("failed", exc)
    _previous_hook(kind, exc, tb)


def _at_exit() -> None:
    for run in list(_OPEN):
        run.finish("done")


_previous_hook = sys.excepthook
sys.excepthook = _excepthook
atexit.register(_at_exit)
