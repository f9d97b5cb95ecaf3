"""The worker process: runs one job from the window, streams events back, then serves inspection requests.

``worker_main`` is the target of a worker process (forked from a fork server, or spawned; see
:mod:`isoscope.app.workers`). This module imports
nothing heavy at import time, so the window can name it without importing torch.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import time
from pathlib import Path
from typing import Any

from isoscope.core import events as ev

CPU_BATCH_S = 0.25  # on the CPU, frequent events travel in batches at most this old (see BatchingSink)


def as_started_here(where: tuple[dict[str, str], str], target: Any, *args: Any) -> None:
    """Run ``target(*args)`` with the window's environment and working folder at the worker's start
    (``where``): a worker forked from a long-lived fork server would otherwise have the server's."""
    env, cwd = where
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    target(*args)


def window_alive() -> bool:
    """False once the process that started this worker (the window) has gone. Its pipe tells, whether the
    worker was spawned or forked from the fork server (whose pid ``os.getppid()`` would give)."""
    parent = multiprocessing.parent_process()
    return parent is None or parent.is_alive()


def waiting_commands(cmd_q: Any) -> list[Any]:
    """The commands the window has sent, or Stop once the window has gone."""
    return drain(cmd_q) if window_alive() else [ev.Stop()]


def drain(q: Any) -> list[Any]:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out
        except (EOFError, OSError):
            return out


class BatchingSink:
    """Puts the job's events on the window's queue, the frequent training ones in batches (lists).

    Every ``put`` wakes the queue's feeder thread, which takes a core from torch's threads for a moment;
    on the CPU that is a measurable share of training when it happens fifty times a second. Metrics,
    live timings and training progress wait up to ``max_delay_s`` and go in one list; any other event
    sends what is waiting, then itself, so order is kept and nothing important is late. ``poll()``
    sends a batch that has waited long enough (the job polls commands often).
    """

    def __init__(self, put: Any, max_delay_s: float = 0.0) -> None:
        self.put = put
        self.max_delay_s = max_delay_s
        self._waiting: list[Any] = []
        self._since = 0.0

    @staticmethod
    def frequent(event: Any) -> bool:
        return (
            isinstance(event, ev.Metrics)
            or (isinstance(event, ev.PhaseTimes) and event.scope == "live")
            or (isinstance(event, ev.Progress) and event.stage == "train")
        )

    def __call__(self, event: Any) -> None:
        if self.max_delay_s <= 0 or not self.frequent(event):
            self.flush()
            self.put(event)
            return
        if not self._waiting:
            self._since = time.perf_counter()
        self._waiting.append(event)
        self.poll()

    def poll(self) -> None:
        if self._waiting and time.perf_counter() - self._since >= self.max_delay_s:
            self.flush()

    def flush(self) -> None:
        if self._waiting:
            batch, self._waiting = self._waiting, []
            self.put(batch)


def worker_process(parts: list[str], cfg_dict: dict, run_dirs: list[str], cmd_q: Any, evt_q: Any) -> None:
    """The target of the window's worker process: its exit status is the job's (0, 1 failed, 2 bad input)."""
    sys.exit(worker_main(parts, cfg_dict, run_dirs, cmd_q, evt_q))


def worker_main(parts: list[str], cfg_dict: dict, run_dirs: list[str], cmd_q: Any, evt_q: Any, serve: bool = True
                ) -> int:  # fmt: skip
    """Fit the parts (one, or a group of a folder run) into their run directories, then answer slice, probe
    and reconstruct requests for the first part until Stop or the parent leaves.

    The window follows the first part live; every part's end is a PartResult; the first part's Finished
    or Failed comes last, after all of them. Returns the exit status (see :func:`isoscope.core.failure.exit_status`).
    """
    from isoscope.core.config import from_dict
    from isoscope.core.failure import exit_status, job_failed
    from isoscope.core.job import Reporter, fit_parts, resolve_device

    paths = [Path(d) for d in run_dirs]
    sink = BatchingSink(evt_q.put)
    ended: list[Any] = []  # the first part's Finished or Failed, held until every part has ended

    def commands() -> list[Any]:
        sink.poll()
        return waiting_commands(cmd_q)

    def first(event: Any) -> None:
        (ended.append if isinstance(event, (ev.Finished, ev.Failed)) else sink)(event)

    reporters = [Reporter(paths[0], first, commands)] + [Reporter(p, lambda event: None, commands) for p in paths[1:]]
    job = None
    try:
        cfg = from_dict(cfg_dict)
        sink.max_delay_s = CPU_BATCH_S if resolve_device(cfg.device).type == "cpu" else 0.0
        summaries, jobs = fit_parts(parts, cfg, paths, reporters, lambda text: reporters[0].log(text, "warning"))
        job = jobs[0] if summaries[0].get("status") != "failed" else None
    except BaseException as exc:  # noqa: BLE001 - everything becomes a Failed event
        summaries = [job_failed(exc, p, part, r.emit) for part, p, r in zip(parts, paths, reporters, strict=True)]
    for part, path, summary in zip(parts, paths, summaries, strict=True):
        sink(ev.PartResult(part, str(path), summary))
    for event in ended[-1:]:  # the first part's last end (a group fitted again part by part ends it twice)
        sink(event)
    try:
        if serve and job is not None:
            answer_requests(job, cmd_q)
    finally:
        sink.flush()
        for r in reporters:
            r.close()
    return exit_status(summaries)


def cluster_process(folder: str, root: str, cfg_dict: dict, address: str, cmd_q: Any, evt_q: Any) -> None:
    """The target of the window's worker for a folder run on a Ray cluster (it drives the tasks)."""
    sys.exit(cluster_main(folder, root, cfg_dict, address, cmd_q, evt_q))


def cluster_main(folder: str, root: str, cfg_dict: dict, address: str, cmd_q: Any, evt_q: Any) -> int:
    """Run the folder's groups on the cluster at ``address``: the followed group's live events, a PartResult
    per part (the window records the batch summary), then Finished; Stop cancels what is left."""
    from isoscope.core.config import from_dict
    from isoscope.core.failure import exit_status
    from isoscope.core.runs.cluster import ClusterError, RayFolderRun, RayOptions, connect
    from isoscope.core.runs.folder import FolderRun

    t0 = time.perf_counter()
    sink = BatchingSink(evt_q.put, CPU_BATCH_S)
    summaries: list[dict[str, Any]] = []

    def give_up(message: str) -> None:
        sink(ev.Failed(message))
        sink.flush()
        evt_q.close()
        evt_q.join_thread()  # the message reaches the window before the exit
        os._exit(2)

    def stopped() -> bool:
        sink.poll()
        commands = waiting_commands(cmd_q)
        for cmd in commands:
            if not isinstance(cmd, ev.Stop):
                sink(ev.Log("warning", f"{type(cmd).__name__}: a folder run on a cluster can only be stopped"))
        return any(isinstance(cmd, ev.Stop) for cmd in commands)

    def on_part(part: Path, run_dir: Path, summary: dict[str, Any]) -> None:
        summaries.append(summary)
        sink(ev.PartResult(str(part), str(run_dir), summary))

    say = lambda text: sink(ev.Log("info", text))  # noqa: E731
    try:
        import ray  # noqa: F401 - installed? (Ray is an optional extra)
    except ImportError:
        sink(ev.Failed("a folder run on a cluster needs Ray on this machine: pip install 'isoscope[ray]'"))
        sink.flush()
        return 2
    try:
        cfg = from_dict(cfg_dict)
        nodes = connect(address, give_up)
        run = FolderRun(folder, root, cfg.job, cfg.train.batch_parts)
        driver = RayFolderRun(run, cfg_dict, RayOptions(address), say, sink)
    except (ClusterError, ValueError) as exc:
        ray.shutdown()
        sink(ev.Failed(str(exc)))
        sink.flush()
        return 2
    try:
        say(driver.opening(nodes))
        finished = driver.fit(run.groups(), on_part, stopped)
        status = "done" if finished else "stopped"
        sink(ev.Finished(status, {"status": status, "parts": len(summaries), "wall_s": time.perf_counter() - t0}))
    finally:
        ray.shutdown()
        sink.flush()
    return exit_status(summaries)


def answer_requests(job: Any, cmd_q: Any) -> None:
    """Serve slice, probe and reconstruct requests on ``job`` until Stop or the parent process leaves."""
    while True:
        try:
            cmd = cmd_q.get(timeout=1.0)
        except queue.Empty:
            if not window_alive():
                return
            continue
        if isinstance(cmd, ev.Stop):
            return
        try:
            job.on_command(cmd)
        except Exception as exc:  # noqa: BLE001 - a bad request must not end the session
            job.emit(ev.Log("error", f"{type(cmd).__name__} failed: {exc}"))


def serve_process(part: str, cfg_dict: dict, run_dir: str, cmd_q: Any, evt_q: Any) -> None:
    """The target of a worker that answers for a finished run from its own model.pt (the window starts one
    when it opens a past run); exit status 1 when the run cannot be loaded (it says why in a Log)."""
    sys.exit(serve_main(part, cfg_dict, run_dir, cmd_q, evt_q))


def serve_main(part: str, cfg_dict: dict, run_dir: str, cmd_q: Any, evt_q: Any) -> int:
    from isoscope.core.config import from_dict
    from isoscope.core.job import Reporter, make_job

    sink = BatchingSink(evt_q.put)
    reporter = Reporter(Path(run_dir), sink, record=False)  # answers only: the finished run is not written
    try:
        job = make_job(part, from_dict(cfg_dict), Path(run_dir), reporter)
        job.restore()
    except Exception as exc:  # noqa: BLE001 - said in the window; nothing answers for this run
        sink(ev.Log("error", f"cannot answer for {run_dir}: {type(exc).__name__}: {exc}"))
        sink.flush()
        return 1
    try:
        answer_requests(job, cmd_q)
    finally:
        sink.flush()
        reporter.close()
    return 0
