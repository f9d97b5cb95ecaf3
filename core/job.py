"""What every training job shares: device choice, the reporter (run directory + live sink + commands).

A job emits events through :class:`Reporter`, which appends the durable ones to metrics.jsonl (training
progress about twice a second), passes every event to a sink (the worker's queue, or the terminal),
throttles live metrics (about 20 per second) and live timings (about 2 per second), records the
process's resources (once a second), and hands the job the commands waiting for it.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from isoscope.core import events as ev
from isoscope.core.config import RunConfig, forward_macs, hidden_widths, to_dict
from isoscope.core.machine import cpu_bf16_feature
from isoscope.core.phases import TRAIN_PHASES
from isoscope.core.profiling import profiler_quiet, write_profile
from isoscope.core.resources import ResourceSampler
from isoscope.core.runs.rundir import CONFIG, SUMMARY, TIMINGS, RunWriter, write_json_atomic
from isoscope.core.timing import PhaseTimer, top_level

COMMAND_POLL_S = 0.02  # commands are looked at most 50 times a second (each look is a few syscalls)
DURABLE = (ev.Started, ev.Metrics, ev.PhaseTimes, ev.Resources, ev.Artifact, ev.Finished, ev.Failed)


class JobError(RuntimeError):
    """A job cannot run as configured; the message is one line for the user."""


def resolve_device(name: str) -> torch.device:
    """auto -> the first GPU when there is one, else the CPU; checks that a named GPU exists."""
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise JobError(f"device {name}: CUDA is not available on this machine; use --device cpu")
        index = dev.index or 0
        if index >= torch.cuda.device_count():
            raise JobError(f"device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", index)
    return dev


#: Multiply-adds per training step from which bf16 trains faster than fp32 on a CPU with bf16 units. Measured
#: on a 2-core Xeon with AMX: the DAM network at batch 1024 (600M) 2.6x faster, 4 x 128 at 1024 (51M) 1.5x
#: faster, the smoke preset's 4 x 64 at 256 (3.2M) 2x slower (its multiplies too small to pay for the casts).
BF16_MIN_STEP_MACS = 1 << 24


def resolve_precision(requested: str, device: torch.device, cfg: RunConfig | None = None) -> tuple[str, str]:
    """The precision a run of ``cfg`` uses on ``device`` and why: "auto" picks TF32 on CUDA, bf16 on a CPU
    with bf16 units where the network's multiplies are large enough to gain, else fp32; any other value
    is honoured."""
    if requested != "auto":
        return requested, f"precision {requested}, as asked"
    if device.type == "cuda":
        return "tf32", "precision auto: TF32 matmuls on CUDA"
    feature = cpu_bf16_feature()
    if not feature:
        return "fp32", "precision auto: fp32 (this CPU has neither avx512_bf16 nor amx_bf16)"
    if cfg is not None:
        macs = cfg.train.batch_size * forward_macs(hidden_widths(cfg.model))
        if macs < BF16_MIN_STEP_MACS:
            return "fp32", (f"precision auto: fp32 on this CPU ({feature}): a step's {macs / 1e6:.1f}M multiply-adds "
                            "are too few for bf16 to gain")  # fmt: skip
    return "bf16", f"precision auto: bf16 multiplies on this CPU ({feature}), fp32 weights and Adam"


def device_label(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"{dev} ({torch.cuda.get_device_name(dev)})"
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


class Reporter:
    """Routes a job's events; see the module docstring."""

    def __init__(
        self,
        run_dir: Path,
        sink: Callable[[Any], None],
        commands: Callable[[], list[Any]] | None = None,
        metrics_hz: float = 20.0,
        timings_hz: float = 2.0,
        command_poll_s: float = COMMAND_POLL_S,
        record: bool = True,
    ) -> None:
        self.run_dir = run_dir
        self.writer = RunWriter(run_dir) if record else None  # None: the run directory is only read
        self.sampler = ResourceSampler() if record else None
        self.sink = sink
        self._commands = commands or (lambda: [])
        self._min_metrics = 1.0 / metrics_hz
        self._min_timings = 1.0 / timings_hz
        self._last: dict[str, float] = {}
        self._last_commands = -1e9
        self.command_poll_s = command_poll_s

    def emit(self, event: Any) -> None:
        if self.writer is not None and (isinstance(event, DURABLE) or self._records_progress(event)):
            self.writer.record(event)
        if self.writer is not None and isinstance(event, ev.Log):
            self.writer.log(event.text)
        self.sink(event)
        if self.sampler is None:
            return
        if isinstance(event, ev.Started):
            self.sampler.use_device(event.device)
        elif isinstance(event, ev.Progress):
            sample = self.sampler.sample()
            if sample is not None:
                self.emit(sample)

    def _records_progress(self, event: Any) -> bool:
        """Training progress goes into metrics.jsonl too, at most timings_hz and at the last step, so a run
        reopened (or followed) draws its throughput curve as it was drawn live."""
        if not (isinstance(event, ev.Progress) and event.stage == "train"):
            return False
        return event.step >= event.total_steps or self.due("progress")

    def due(self, what: str) -> bool:
        """True at most every 1/metrics_hz ("metrics") or 1/timings_hz (any other: "timings", "progress")
        seconds."""
        now = time.perf_counter()
        gap = self._min_metrics if what == "metrics" else self._min_timings
        if now - self._last.get(what, -1e9) >= gap:
            self._last[what] = now
            return True
        return False

    def log(self, text: str, level: str = "info") -> None:
        self.emit(ev.Log(level, text))

    def commands(self) -> list[Any]:
        """Waiting commands, looked at most every ``command_poll_s`` (jobs ask at every step)."""
        now = time.perf_counter()
        if now - self._last_commands < self.command_poll_s:
            return []
        self._last_commands = now
        return self._commands()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


EMPTY_ADVICE_KEY = "advice"


class JobBase:
    """Run-directory life cycle of a job: config.json, load, commands, summary.json, Finished."""

    job = "base"

    def __init__(self, part_path: str, cfg: RunConfig, run_dir: Path, reporter: Reporter) -> None:
        self.part_path, self.cfg, self.run_dir, self.reporter = part_path, cfg, Path(run_dir), reporter
        self.device = resolve_device(cfg.device)
        precision, self.precision_reason = resolve_precision(cfg.train.precision, self.device, cfg)
        self.cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, precision=precision))
        self.timer = PhaseTimer(self.device)
        self.step = self.epoch = self.samples = 0
        self.total_steps = 1
        self.stopping = self.paused = False
        self.finished = False  # summary.json written: what it describes must not change any more
        self.training = False  # in the training loop (what Profile can measure)
        self.clock = time.perf_counter  # throughput's clock (a test may drive it)
        self.paused_s = 0.0  # seconds spent paused, left out of throughput and ETA
        self.epoch_tables: list[dict[str, Any]] = []
        self._profile_left = 0
        self._profiler: Any = None
        self._t0 = time.perf_counter()

    # -- events
    def emit(self, event: Any) -> None:
        self.reporter.emit(event)

    def log(self, text: str, level: str = "info") -> None:
        self.reporter.log(text, level)

    def active_seconds(self) -> float:
        """Seconds since training started, the paused spans left out: what throughput and ETA divide by."""
        return max(self.clock() - self._t_train - self.paused_s, 1e-9)

    def emit_progress(self, epoch: int, stage: str) -> None:
        elapsed = self.active_seconds()
        rate = self.step / elapsed
        left = (self.total_steps - self.step) / rate if rate > 0 else float("nan")
        sps = self.samples / elapsed
        self.emit(ev.Progress(self.step, self.total_steps, epoch, self.cfg.train.epochs, sps, left, stage))

    # -- commands
    def handle_commands(self) -> bool:
        """Serve waiting commands; block while paused. True when the job should stop."""
        while True:
            for cmd in self.reporter.commands():
                self.on_command(cmd)
            if not self.paused or self.stopping:
                return self.stopping
            t0 = self.clock()
            time.sleep(0.05)
            self.paused_s += self.clock() - t0

    def on_command(self, cmd: Any) -> None:
        if isinstance(cmd, ev.Stop):
            self.stopping = True
            self.log("stop requested: finishing with the model so far")
        elif isinstance(cmd, ev.Pause):
            self.paused = True
            self.log("paused")
        elif isinstance(cmd, ev.Resume):
            self.paused = False
            self.log("resumed")
        elif isinstance(cmd, ev.ProfileSteps) and not self.training:
            self.log("Profile: the training has ended, so there are no steps left to profile", "warning")
        elif isinstance(cmd, ev.ProfileSteps):
            self._profile_left = max(1, int(cmd.steps))
            self.log(f"profiling the next {self._profile_left} steps")
        else:
            self.on_request(cmd)

    def on_request(self, cmd: Any) -> None:
        """Job-specific commands (reconstruct now, slices, probes)."""
        from isoscope.core.sdf.inspect import serve_request

        serve_request(self, cmd)

    @contextmanager
    def profile_step(self) -> Iterator[None]:
        if self._profile_left <= 0:
            yield
            return
        if self._profiler is None:
            acts = [torch.profiler.ProfilerActivity.CPU]
            if self.device.type == "cuda":
                acts.append(torch.profiler.ProfilerActivity.CUDA)
            self._profiler = torch.profiler.profile(activities=acts, record_shapes=True)
            with profiler_quiet(self.log):
                self._profiler.__enter__()
            self.timer.profiling = True
        with torch.profiler.record_function("step"):
            yield
        self._profile_left -= 1
        if self._profile_left == 0:
            self._finish_profile()

    def _finish_profile(self) -> None:

        prof, self._profiler = self._profiler, None
        self.timer.profiling = False
        with profiler_quiet(self.log):
            prof.__exit__(None, None, None)
            info = write_profile(prof, self.run_dir / "profile", self.device.type == "cuda")
        self.emit(ev.Artifact("profile", info.pop("path"), info))

    # -- life cycle
    def run(self) -> dict[str, Any]:
        """Load, run the job's body, write summary.json and timings.json; return the summary."""
        self.begin()
        body = self.run_body()
        return self.finish(body)

    def begin(self) -> None:
        """Write config.json, announce Started, load the part (unless given)."""
        from isoscope.core.mesh.part import load_part

        cfg_doc = {**to_dict(self.cfg), "part": self.part_path, "created": time.time(),
                   "precision_reason": self.precision_reason}  # fmt: skip
        write_json_atomic(self.run_dir / CONFIG, cfg_doc)
        self.emit(ev.Started(str(self.run_dir), self.part_path, device_label(self.device), self.job, cfg_doc))
        with self.timer.phase("load"):
            if getattr(self, "part", None) is None:
                self.part = load_part(self.part_path)
        self._t_train = self.clock()

    def run_body(self) -> dict[str, Any]:
        raise NotImplementedError

    def finish(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._profiler is not None:
            self._finish_profile()
        seconds = self.timer.snapshot()
        wall = time.perf_counter() - self._t0
        status = body.pop("status", "done")
        if self.stopping and status == "done":
            status = "stopped"
        summary: dict[str, Any] = {
            "status": status,
            "part": self.part_path,
            "preset": self.cfg.preset,
            "job": self.job,
            "device": device_label(self.device),
            "host": socket.gethostname(),
            "bbox_diagonal": self.part.bbox_diagonal,
            "bbox": self.part.bbox,
            "units": "original part units (metrics_normalised: the unit cube of radius 0.9)",
            "steps": self.step,
            "epochs": self.epoch,
            "wall_s": wall,
            "train_samples_per_s": self.samples / max(sum(seconds.get(k, 0.0) for k in TRAIN_PHASES), 1e-9),
            "phases_s": top_level(seconds),
            **body,
        }
        for key in ("chamfer_l1", "chamfer_l2", "normal_consistency", "hausdorff95"):
            if key in summary.get("metrics", {}):
                summary[key] = summary["metrics"][key]
        if "chamfer_l1" in summary:
            summary["chamfer_l1_over_diagonal"] = summary["chamfer_l1"] / summary["bbox_diagonal"]
        timings = {"epochs": self.epoch_tables, "total_s": seconds, "wall_s": wall}
        write_json_atomic(self.run_dir / TIMINGS, timings)
        write_json_atomic(self.run_dir / SUMMARY, summary)
        self.finished = True
        self.emit(ev.PhaseTimes("total", self.epoch, top_level(seconds), wall))
        self.emit(ev.Finished(status, summary))
        return summary


def make_job(part: str, cfg: RunConfig, run_dir: Path, reporter: Reporter) -> JobBase:
    """The job object for cfg.job ("sdf" or "splat")."""
    if cfg.job == "splat":
        from isoscope.core.splat.job import SplatJob

        return SplatJob(part, cfg, run_dir, reporter)
    from isoscope.core.sdf.job import SDFJob

    return SDFJob(part, cfg, run_dir, reporter)


def fit_parts(parts: list[str], cfg: RunConfig, run_dirs: list[Path], reporters: list[Reporter],
              warn: Callable[[str], None], loaded: Any = None, prepared: list[Any] | None = None
              ) -> tuple[list[dict[str, Any]], list[Any]]:  # fmt: skip
    """Fit parts in this process; each one's summary, and its job (None where none could be made). One
    part fits alone (``loaded``: the part already read), several SDF parts as one batched group
    (``prepared``: each part's data prepared ahead, see :mod:`isoscope.core.sdf.prefetch`). A group
    that fails as a whole (out of memory, say) is fitted again one part at a time. Every failure goes
    through the one failure path."""
    if len(parts) == 1 and prepared is None:
        summary, job = _fit_one(parts[0], cfg, run_dirs[0], reporters[0], loaded)
        return [summary], [job]
    from isoscope.core.sdf.group import run_group
    from isoscope.core.sdf.job import SDFJob

    each = list(zip(parts, [cfg] * len(parts), run_dirs, reporters, strict=True))
    try:
        jobs = [SDFJob(*args) for args in each]
        return run_group(jobs, prepared), list(jobs)
    except Exception as exc:  # noqa: BLE001 - e.g. out of memory for the whole group
        warn(f"batched group failed ({type(exc).__name__}: {exc}); fitting its parts one by one")
        alone = [_fit_one(*args) for args in each]
        return [s for s, _ in alone], [j for _, j in alone]


def _fit_one(part: str, cfg: RunConfig, run_dir: Path, reporter: Reporter, loaded: Any = None
             ) -> tuple[dict[str, Any], JobBase | None]:  # fmt: skip
    from isoscope.core.failure import job_failed

    job = None
    try:
        job = make_job(part, cfg, run_dir, reporter)
        job.part = loaded
        return job.run(), job
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - reported as a failed part
        return job_failed(exc, run_dir, part, reporter.emit), None
