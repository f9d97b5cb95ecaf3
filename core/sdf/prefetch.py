"""A folder run's next group, prepared in another process while this one trains.

Reading a part, its health check, its BVH and the draw of its training and validation sets
(:meth:`isoscope.core.sdf.job.SDFJob.prepare`) do not depend on the training before them, so while
group k trains, a spawned helper process prepares group k+1 and hands back numpy arrays
(:class:`Prepared`); the training loop keeps this process's interpreter to itself. Each part draws with
its own generator seeded from ``train.seed``, and the generator's state after the draw comes back with
the points, so a part prepared ahead trains on the very points it would have drawn here.

The first group is prepared here, while the helper starts and prepares the second. A part the helper
could not prepare (an unreadable file, say) comes back as None and is prepared here, where it fails as
it always has, with its summary. The helper ignores Ctrl-C; the driver stops it when the run ends or is
stopped (:meth:`GroupPrefetch.close`). ``--train.overlap true`` turns it on.

On a CPU the cores are split while the helper works: the training loop runs on its share of the threads
(:func:`training_threads`), the helper on the rest, so neither preempts the other's threads in the middle
of a parallel multiply; reconstruction and metrics run on every thread, as without a helper (their
multiplies then round as they do without one). 48 robosuite parts with the dataset-smoke preset on 2
cores: 120 s against 142 s in turn (1.18x), every part's network and Chamfer-L1 identical to the bit.
(Sharing the cores instead, the helper at a lower priority, was no faster; at the same priority, 1.16
times slower.)
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NICE = 10  # the helper's lower priority
JOIN_S = 5.0  # how long a helper that was asked to leave may take before it is terminated


@dataclass
class Prepared:
    """A part's data for training, before it is on the device (see the module docstring).

    ``health``: :meth:`SDFJob.read_health`'s answer; ``points`` (N, 3), ``dist`` (N,) and ``val`` (kind:
    (points, distances)) as tensors, or numpy arrays when they crossed processes; ``gen_state``: the job's
    generator after the draw; ``mesh_sdf``: the BVH (None when it crossed processes: built again);
    ``announced``: the health was already written and logged; ``part`` and ``seconds`` (phase totals):
    set when prepared in the helper.
    """

    health: dict[str, Any]
    points: Any
    dist: Any
    val: dict[str, tuple[Any, Any]]
    gen_state: Any
    mesh_sdf: Any = None
    announced: bool = False
    part: Any = None
    seconds: dict[str, float] = field(default_factory=dict)

    def to_host(self) -> Prepared:
        """The same data as numpy arrays, without the BVH: what can cross to another process."""
        host = lambda t: t.detach().cpu().numpy()  # noqa: E731
        return Prepared(self.health, host(self.points), host(self.dist),
                        {k: (host(x), host(y)) for k, (x, y) in self.val.items()}, host(self.gen_state),
                        None, self.announced, self.part, dict(self.seconds))  # fmt: skip


def prepare_part(part_path: str, cfg_dict: dict[str, Any]) -> Prepared | None:
    """Read and prepare one part as its job would (nothing emitted or written); None when that fails."""
    from isoscope.core.config import from_dict
    from isoscope.core.job import Reporter
    from isoscope.core.mesh.part import load_part
    from isoscope.core.sdf.job import SDFJob

    nowhere = Path(tempfile.gettempdir())  # a run directory the job never writes (the reporter records nothing)
    try:
        job = SDFJob(part_path, from_dict(cfg_dict), nowhere, Reporter(nowhere, lambda event: None, record=False))
        with job.timer.phase("load"):
            job.part = load_part(part_path)
        data = job.prepare(live=False)
    except Exception:  # noqa: BLE001 - prepared again in the run, where the failure is reported
        return None
    data.part, data.seconds = job.part, job.timer.snapshot()
    return data.to_host()


def _serve(conn: Any, threads: int) -> None:
    """The helper: prepare each group asked for and send it back, until asked to leave (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; it then stops this
    import torch

    torch.set_num_threads(threads)
    try:
        os.nice(NICE)  # the training loop comes first: the helper takes what it leaves
    except OSError:
        pass
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        parts, cfg_dict = request
        conn.send([prepare_part(p, cfg_dict) for p in parts])


#: On a CPU, while the helper prepares the next group: the training loop's threads (the rest are the helper's).
_TRAINING_THREADS: int | None = None


def _set_training_threads(threads: int | None) -> None:
    global _TRAINING_THREADS  # noqa: PLW0603 - one folder run per process
    _TRAINING_THREADS = threads


@contextmanager
def training_threads() -> Iterator[None]:
    """Around a group's training loop: on a CPU with a helper at work, the loop runs on its share of the
    threads, so the helper's work does not preempt the loop's threads mid-multiply (where the others
    then wait). Reconstruction and metrics run on all of them, as without a helper."""
    if _TRAINING_THREADS is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(_TRAINING_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _ctrl_c_ignored() -> Iterator[None]:
    """SIGINT ignored for the moment (in the main thread; elsewhere Python cannot change it)."""
    try:
        before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: the helper sets it itself (see _serve)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


class GroupPrefetch:
    """Iterate a folder run's groups with each one's parts prepared ahead (see the module docstring).

    ``for group, prepared in ahead:`` gives each group with a list of :class:`Prepared` (None for a part
    to prepare in the run), or None for the whole group (the first one, or without overlap). Use it as a
    context manager, so the helper leaves however the loop ends.
    """

    def __init__(self, groups: Sequence[Sequence[Path]], cfg: Any, overlap: bool | None = None) -> None:
        from isoscope.core.config import to_dict

        self.groups = [list(g) for g in groups]
        wanted = cfg.train.overlap if overlap is None else overlap
        self.enabled = bool(wanted) and cfg.job == "sdf" and not cfg.resumed_from and len(self.groups) > 1
        self._cfg_dict = to_dict(cfg)
        self._proc: Any = None
        self._conn: Any = None
        self._pending: list[Path] | None = None
        self.prepared_parts = 0  # parts that came back prepared (for the log and the tests)
        self._split: int | None = None

    def __enter__(self) -> GroupPrefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[list[Path], list[Prepared | None] | None]]:
        for k, group in enumerate(self.groups):
            prepared = self._take(group) if k > 0 else None
            if k + 1 < len(self.groups):
                self._submit(self.groups[k + 1])
            yield group, prepared

    def _start(self) -> None:
        import torch

        from isoscope.core.job import resolve_device

        ctx = mp.get_context("spawn")  # CUDA needs spawn; the helper imports the engine itself
        self._conn, child = ctx.Pipe()
        threads = max(1, torch.get_num_threads() // 2)
        if resolve_device(self._cfg_dict["device"]).type == "cpu" and torch.get_num_threads() > 1:
            self._split = torch.get_num_threads() - threads  # see training_threads
        self._proc = ctx.Process(target=_serve, args=(child, threads), name="isoscope-prefetch", daemon=True)
        with _ctrl_c_ignored():  # inherited: the helper ignores Ctrl-C from its first instruction on
            self._proc.start()
        child.close()

    def _submit(self, group: list[Path]) -> None:
        if not self.enabled:
            return
        try:
            if self._proc is None:
                self._start()
            self._conn.send(([str(p) for p in group], self._cfg_dict))
            self._pending = group
            _set_training_threads(self._split)
        except (OSError, ValueError, EOFError):  # the helper is gone: the rest is prepared in the run
            self.enabled = False

    def _take(self, group: list[Path]) -> list[Prepared | None] | None:
        if self._pending is None or self._pending != group:
            return None
        self._pending = None
        _set_training_threads(None)
        try:
            out: list[Prepared | None] = self._conn.recv()
        except (OSError, EOFError):  # the helper died: this group and the rest are prepared in the run
            self.enabled = False
            return None
        self.prepared_parts += sum(p is not None for p in out)
        return out

    def close(self) -> None:
        """Ask the helper to leave (terminated at once when it is still preparing a group), then join it."""
        proc, conn, busy = self._proc, self._conn, self._pending is not None
        self._proc = self._conn = self._pending = None
        _set_training_threads(None)
        if proc is None:
            return
        try:
            if not busy:
                conn.send(None)
                proc.join(JOIN_S)
        except (OSError, ValueError):
            pass
        if proc.is_alive():
            proc.terminate()
            proc.join(JOIN_S)
        if proc.is_alive():
            proc.kill()
            proc.join()
        conn.close()
