"""A folder run on a Ray cluster: connecting (with clear messages), one Ray task per group, live events,
retries, cancellation, and the parts' run directories brought home.

The plan is the local one (:class:`isoscope.core.runs.folder.FolderRun`: the same groups, run
directories and batch summary); only who fits a group differs. Each group is a task
(:func:`isoscope.core.runs.remote.fit_group`) asking for ``num_gpus`` (GPU clusters) or ``num_cpus``
(CPU-only ones) and running with the torch thread count of a local run (fewer where a group holds fewer
CPUs), so results match. A group whose
worker dies is submitted again, at most ``retries`` times; a part that fails is recorded as failed.
The driver follows one group live at a time (the earliest running one) and passes its events on; every
part's end is ``on_part``. Ray is imported only here, only when asked for.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isoscope.core import events as ev
from isoscope.core.runs.folder import FolderRun
from isoscope.core.runs.remote import HOLD, Board, fit_group, rebase, swap, unpack
from isoscope.core.runs.rundir import SUMMARY, read_json, write_json_atomic

CONNECT_S = 20.0  # connecting and asking every node its versions, at most (bad input says so within 30 s)
PROGRESS_EVERY_S = 10.0  # a group's progress line in the terminal, at most this often
REPLAY_MAX = 50_000  # live events kept per running group, to show a group from its start when it is followed


class ClusterError(Exception):
    """The cluster cannot be used as asked; the message is one line for the user (exit status 2)."""


@dataclass
class RayOptions:
    """How a folder run uses a cluster. ``gpus``: per group (None: 1 where the cluster has GPUs, else 0);
    ``cpus``: per group on CPU-only clusters (None: as many as a local run's torch threads, at most a node's
    CPUs); ``threads``: torch threads per group (0: a local run's count, or the CPUs a group holds when
    that is fewer: more threads than CPUs would only make them wait for each other)."""

    address: str = "auto"
    gpus: float | None = None
    cpus: float | None = None
    retries: int = 1
    shared_root: bool = False
    threads: int = 0


def resolve_address(address: str) -> str:
    """``host:port`` of the cluster; "auto" reads RAY_ADDRESS, then the cluster started on this machine."""
    if address != "auto":
        return address
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    current = Path(os.environ.get("TMPDIR", "/tmp")) / "ray" / "ray_current_cluster"  # written by `ray start`
    if not current.is_file():
        raise ClusterError("--ray auto: no Ray cluster was started on this machine (ray start --head); "
                           "give its address as --ray HOST:PORT")  # fmt: skip
    return current.read_text().strip()


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A quick TCP connection to the cluster's head, so a wrong address fails in seconds, not minutes."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"--ray {address}: give the head node's address as HOST:PORT (or auto)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc}") from None


def connect(address: str, give_up: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Connect this process to the cluster and check that every node runs this Ray and this isoscope;
    returns the live nodes (Ray's records). Raises :class:`ClusterError` within about ``CONNECT_S``; a head
    that takes the connection but never answers calls ``give_up(message)`` (default: print it, exit 2)."""
    resolved = resolve_address(address)
    check_reachable(resolved)
    import ray

    if ray.is_initialized():
        ray.shutdown()
    done = threading.Event()
    message = f"the Ray cluster at {resolved} did not answer within {CONNECT_S:.0f} s"
    watchdog = threading.Timer(CONNECT_S, lambda: done.is_set() or (give_up or _give_up)(message))
    watchdog.daemon = True
    watchdog.start()
    try:
        ray.init(address=resolved, logging_level=logging.ERROR, log_to_driver=False, include_dashboard=False)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        _check_versions(nodes)
    except ClusterError:
        ray.shutdown()
        raise
    except Exception as exc:  # noqa: BLE001 - Ray's own refusal (a version mismatch, say), in one line
        ray.shutdown()
        raise ClusterError(f"cannot use the Ray cluster at {resolved}: {_first_line(exc)}") from None
    finally:
        done.set()
        watchdog.cancel()
    return nodes


def _give_up(message: str) -> None:
    """The watchdog's end: Ray keeps retrying a head that does not answer; the command line must not."""
    print(f"isoscope-train: error: {message}", flush=True, file=sys.stderr)
    os._exit(2)


def versions() -> dict[str, str]:
    """The versions a node must share with the driver (run on each node as a task)."""
    import platform

    import ray

    from isoscope import __version__

    return {"isoscope": __version__, "ray": ray.__version__, "python": ".".join(platform.python_version_tuple()[:2])}


def _check_versions(nodes: list[dict[str, Any]]) -> None:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(versions)
    mine = versions()
    refs = {n["NodeID"]: probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
        n["NodeID"], soft=False)).remote() for n in nodes}  # fmt: skip
    for node, ref in refs.items():
        try:
            theirs = ray.get(ref, timeout=CONNECT_S / 2)
        except Exception as exc:  # noqa: BLE001 - e.g. isoscope not installed there
            raise ClusterError(f"node {node[:8]} cannot run isoscope: {_first_line(exc)}") from None
        for name, version in mine.items():
            if theirs.get(name) != version:
                raise ClusterError(f"node {node[:8]} has {name} {theirs.get(name)}, this machine {version}: "
                                   f"install the same {name} on every node")  # fmt: skip


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:300]


def _most(kind: str) -> float:
    """The most of a resource ("CPU", "GPU") one live node has."""
    import ray

    return max((n["Resources"].get(kind, 0.0) for n in ray.nodes() if n.get("Alive")), default=0.0)


def _check_fits(resources: dict[str, float]) -> None:
    """A group that no node can hold would wait for ever: say so instead."""
    kind, need = ("GPU", resources["num_gpus"]) if "num_gpus" in resources else ("CPU", resources["num_cpus"])
    most = _most(kind)
    if most < need:
        flag = "--ray-gpus" if kind == "GPU" else "--ray-cpus"
        raise ClusterError(f"each group asks for {need:g} {kind}(s) and no node of the cluster has that many "
                           f"(at most {most:g}): lower {flag}")  # fmt: skip


def local_threads() -> int:
    """The torch thread count a local run on this machine uses."""
    import torch

    return torch.get_num_threads()


class RayFolderRun:
    """Runs a folder run's groups as Ray tasks; see the module docstring.

    ``say(text)``: a line for the person (terminal or log pane); ``on_event(event)``: the followed
    group's live events; ``stopped()``: True when the person asked to stop (the driver then cancels).
    """

    def __init__(self, run: FolderRun, cfg_dict: dict[str, Any], opts: RayOptions, say: Callable[[str], None],
                 on_event: Callable[[Any], None] | None = None) -> None:  # fmt: skip
        import ray

        self.ray, self.run, self.opts, self.say = ray, run, opts, say
        self.on_event = on_event or (lambda event: None)
        local = local_threads()
        gpus = opts.gpus if opts.gpus is not None else (1.0 if ray.cluster_resources().get("GPU", 0) else 0.0)
        self.resources = {"num_gpus": gpus} if gpus else {"num_cpus": opts.cpus or min(local, _most("CPU"))}
        _check_fits(self.resources)
        held = math.ceil(self.resources.get("num_cpus", local))
        self.threads = opts.threads or max(1, min(local, held))
        self.cfg = {**cfg_dict, "device": "cuda" if gpus else "cpu"}  # the device Ray gives each task
        self.board = ray.remote(num_cpus=0)(Board).remote()
        self.task = ray.remote(fit_group).options(max_retries=0, **self.resources)
        self.groups: list[list[Path]] = []
        self.run_dirs: dict[Path, Path] = {}
        self.pending: dict[Any, tuple[int, int]] = {}  # object ref -> (group, attempt)
        self.live: dict[tuple[int, int], dict[str, Any]] = {}  # the running attempts: facts, last Started
        self.followed: tuple[int, int] | None = None

    def opening(self, nodes: list[dict[str, Any]]) -> str:
        """The run's first line: the cluster, its nodes, the parts and groups to fit."""
        todo = self.run.groups()
        return (f"Ray cluster at {self.opts.address}: {len(nodes)} node(s); {sum(map(len, todo))} part(s) in "
                f"{len(todo)} group(s)")  # fmt: skip

    def fit(self, groups: list[list[Path]], on_part: Callable[[Path, Path, dict[str, Any]], None],
            stopped: Callable[[], bool] = lambda: False) -> bool:  # fmt: skip
        """Fit every group; ``on_part(part, run_dir, summary)`` at each part's end. False when stopped
        (outstanding tasks cancelled; what finished is recorded). Ctrl-C cancels too, then propagates."""
        self.groups = groups
        for g in range(len(groups)):
            self._submit(g, 0)
        try:
            while self.pending:
                if stopped():
                    ready, _ = self.ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0)
                    for ref in ready:  # what has finished is kept
                        self._finish(ref, on_part)
                    self.cancel()
                    return False
                ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=0.25)
                self._relay()
                for ref in ready:
                    self._finish(ref, on_part)
            self._relay()
            return True
        except BaseException:
            self.cancel()
            raise

    def cancel(self) -> None:
        for ref in list(self.pending):
            self.ray.cancel(ref, force=True)
        self.pending.clear()

    def _submit(self, g: int, attempt: int) -> None:
        run, group = self.run, self.groups[g]
        shared = self.opts.shared_root
        for part in group:
            if part not in self.run_dirs or attempt > 0:  # a retry writes afresh beside what the last attempt left
                self.run_dirs[part] = run.run_dir(part)
        task = {
            "key": (g, attempt),
            "names": [run.name(p) for p in group],
            "parts": [str(p.resolve()) for p in group],
            "blobs": None if shared else [p.read_bytes() for p in group],
            "run_dirs": [str(self.run_dirs[p].resolve()) for p in group] if shared else None,
            "cfg": self.cfg,
            "threads": self.threads,
            "hold": os.environ.get(HOLD, "") if attempt == 0 else "",
        }
        self.pending[self.task.remote(task, self.board)] = (g, attempt)

    def _finish(self, ref: Any, on_part: Callable[[Path, Path, dict[str, Any]], None]) -> None:
        g, attempt = self.pending.pop(ref)
        facts = self.live.pop((g, attempt), {}).get("facts", {})
        if self.followed == (g, attempt):
            self.followed = None
        try:
            results = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:  # the task itself raised: its parts failed
            results = [{"summary": {"status": "failed", "error": _first_line(exc)}} for _ in self.groups[g]]
        except self.ray.exceptions.RayError as exc:  # its worker or node died
            where = f" on node {facts['node_id'][:8]}" if facts else ""
            if attempt < self.opts.retries:
                self.say(f"{self._label(g)}: its worker{where} died ({type(exc).__name__}); "
                         f"retrying ({attempt + 1}/{self.opts.retries})")  # fmt: skip
                self._submit(g, attempt + 1)
                return
            error = f"the Ray worker{where} died {attempt + 1} time(s): {_first_line(exc)}"
            results = [{"summary": {"status": "failed", "error": error}} for _ in self.groups[g]]
        for part, result in zip(self.groups[g], results, strict=True):
            on_part(part, self.run_dirs[part], self._bring_home(part, result))

    def _bring_home(self, part: Path, result: dict[str, Any]) -> dict[str, Any]:
        """The part's run directory in place under the root (unpacked and rebased); its summary."""
        run_dir = self.run_dirs[part]
        moves = {result["run_dir"]: str(run_dir), result["part"]: str(part)} if "run_dir" in result else {}
        if result.get("archive") is not None:
            unpack(result["archive"], run_dir)
            rebase(run_dir, moves)
        if (run_dir / SUMMARY).is_file():
            return read_json(run_dir / SUMMARY)
        summary = json.loads(swap(json.dumps({"part": str(part), **result["summary"]}), moves))
        write_json_atomic(run_dir / SUMMARY, summary)  # a failed part's run says why, as locally
        return summary

    def _label(self, g: int) -> str:
        names = ", ".join(self.run.name(p) for p in self.groups[g])
        return f"group {g + 1}/{len(self.groups)} ({names})"

    def _relay(self) -> None:
        """Take what the tasks posted: say where each group runs, pass the followed group's events on."""
        for key, kind, payload in self.ray.get(self.board.take.remote()):
            if key not in self.pending.values():
                continue  # an attempt that has ended (its worker died)
            live = self.live.setdefault(key, {"said": -1e9})
            if kind == "hello":
                live["facts"] = payload
                gpu = f", {payload['gpu']}" if payload["gpu"] else ""
                self.say(f"{self._label(key[0])}: running on node {payload['node_id'][:8]} "
                         f"(host {payload['host']}, pid {payload['pid']}{gpu})")  # fmt: skip
                continue
            for event in payload or ():  # "events" (a batch), or "flushed" (none: the task is ending)
                self._pass_on(key, live, event)

    def _pass_on(self, key: tuple[int, int], live: dict[str, Any], event: Any) -> None:
        """Say a group's progress now and then; pass the followed group's events on. Each running group's
        events are kept (up to ``REPLAY_MAX``), so a newly followed group is shown from its start."""
        if isinstance(event, ev.Started):
            part = self.groups[key[0]][0]
            event = dataclasses.replace(event, run_dir=str(self.run_dirs[part]), part=str(part))
            live["started"] = True
        due = time.monotonic() - live["said"] >= PROGRESS_EVERY_S
        if isinstance(event, ev.Progress) and event.stage == "train" and due:
            live["said"] = time.monotonic()
            self.say(f"{self._label(key[0])}: step {event.step:,}/{event.total_steps:,}, epoch {event.epoch}/"
                     f"{event.total_epochs}, {event.samples_per_s:,.0f} samples/s")  # fmt: skip
        kept = live.setdefault("events", [])
        if len(kept) < REPLAY_MAX:
            kept.append(event)
        if key == self.followed:
            self.on_event(event)
        elif self.followed is None and live.get("started"):
            self.followed = key
            for past in kept:
                self.on_event(past)
