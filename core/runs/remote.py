"""What a Ray task of a folder run does on its node: fit one group of parts, relay its live events to the
driver through a :class:`Board` actor, and send each part's run directory back as an archive.

Without a shared file system the parts arrive as bytes and are fitted in a temporary folder, removed
afterwards; with one (``--ray-shared-root``) they are read and written in place. The driver
(:mod:`isoscope.core.runs.cluster`) unpacks the archives and rebases the paths recorded inside them.
Ray workers import this module by name, so every node needs the same isoscope installed. Torch and Ray
load only inside the task.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from isoscope.core import events as ev
from isoscope.core.runs.rundir import METRICS, SUMMARY, atomic_path, write_json_atomic

RELAY_S = 0.5  # live events travel to the driver in batches at most this old
#: Tests set this to a file's path: while it exists, a group's first attempt waits after its first progress
#: (so a test can kill its worker mid-group whatever the machine's speed).
HOLD = "ISOSCOPE_TEST_HOLD"
RELAYED = (ev.Started, ev.Progress, ev.Metrics, ev.PhaseTimes, ev.Resources, ev.Log)


class Board:
    """The Ray actor between the tasks and the driver: tasks post, the driver takes what has arrived.

    Items are ``(key, kind, payload)``: kind "hello" with the node's facts (node ID, host, pid, GPU), or
    "events" with a batch of the group's first part's live events. A key is (group, attempt).
    """

    def __init__(self) -> None:
        self.items: list[tuple[Any, str, Any]] = []

    def post(self, key: Any, kind: str, payload: Any) -> None:
        self.items.append((key, kind, payload))

    def take(self) -> list[tuple[Any, str, Any]]:
        out, self.items = self.items, []
        return out


def node_facts() -> dict[str, Any]:
    """Where this task runs: Ray node ID, host name, process ID, and the GPU Ray gave it (or "")."""
    import ray
    import torch

    gpu = ""
    if torch.cuda.is_available() and ray.get_gpu_ids():
        gpu = f"{torch.cuda.get_device_name(0)} (GPU {ray.get_gpu_ids()[0]})"
    return {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
            "pid": os.getpid(), "gpu": gpu}  # fmt: skip


def pack(run_dir: Path) -> bytes:
    """A run directory as a gzip'd tar archive (its files at the archive's top)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        tar.add(run_dir, arcname=".")
    return buf.getvalue()


def unpack(archive: bytes, dest: Path) -> None:
    """Extract an archive made by :func:`pack` into ``dest`` (nothing outside it, no links)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if (m.isfile() or m.isdir()) and ".." not in Path(m.name).parts]
        tar.extractall(dest, members=members)  # noqa: S202 - names checked above


def swap(text: str, moves: dict[str, str]) -> str:
    """``text`` (JSON) with each old path of ``moves`` replaced by its new one, in their JSON-escaped form."""
    for old, new in moves.items():
        text = text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
    return text


def rebase(run_dir: Path, moves: dict[str, str]) -> None:
    """Rewrite the paths a run recorded (config, summary, timings, metrics.jsonl) after it has moved."""
    for path in sorted(run_dir.glob("*.json")) + [run_dir / METRICS]:
        if not path.is_file():
            continue
        original = path.read_text()
        text = swap(original, moves)
        if text != original:
            with atomic_path(path) as tmp:
                tmp.write_text(text)


def fit_group(task: dict[str, Any], board: Any) -> list[dict[str, Any]]:
    """The Ray task: fit ``task``'s parts as one group; returns per part its summary, the run directory and
    part path it had here, and (without a shared file system) its run directory as an archive.

    ``task``: key (group, attempt), names (paths relative to the folder), parts (paths on the driver),
    blobs (the parts' bytes, or None to read ``parts`` in place), run_dirs (in place only), cfg (a config
    dict), threads (torch threads, as a local run of this group would use), hold (see ``HOLD``).
    """
    import ray
    import torch

    from isoscope.core.config import from_dict
    from isoscope.core.job import Reporter, fit_parts
    from isoscope.core.worker import BatchingSink

    torch.set_num_threads(int(task["threads"]))
    key, facts = task["key"], node_facts()
    board.post.remote(key, "hello", facts)
    tmp = Path(tempfile.mkdtemp(prefix="isoscope-ray-"))
    try:
        parts, run_dirs = _place(task, tmp)
        post = lambda item: board.post.remote(key, "events", item if isinstance(item, list) else [item])  # noqa: E731
        sink = BatchingSink(post, RELAY_S)
        trained: list[bool] = []

        def relay(event: Any) -> None:
            if isinstance(event, RELAYED):
                sink(event)
            if isinstance(event, ev.Progress) and event.stage == "train":
                trained.append(True)

        def commands() -> list[Any]:
            sink.poll()
            if trained and task["hold"]:
                sink.flush()
                while Path(task["hold"]).exists():
                    time.sleep(0.05)
            return []

        quiet = lambda event: None  # noqa: E731
        reporters = [Reporter(d, relay if i == 0 else quiet, commands) for i, d in enumerate(run_dirs)]
        warn = lambda text: reporters[0].log(text, "warning")  # noqa: E731
        try:
            summaries = fit_parts([str(p) for p in parts], from_dict(task["cfg"]), run_dirs, reporters, warn)[0]
        finally:
            sink.flush()
            ray.get(board.post.remote(key, "flushed", None))  # every event is with the driver before the result
            for r in reporters:
                r.close()
        where = {k: facts[k] for k in ("node_id", "host", "gpu")}
        out = []
        for part, run_dir, summary in zip(parts, run_dirs, summaries, strict=True):
            summary.update(where)
            if (run_dir / SUMMARY).is_file():
                write_json_atomic(run_dir / SUMMARY, summary)
            archive = None
            if task["blobs"] is not None:
                _name_part(run_dir, task["parts"][len(out)])
                archive = pack(run_dir)
            out.append({"summary": summary, "run_dir": str(run_dir), "part": str(part), "archive": archive})
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _name_part(run_dir: Path, part: str) -> None:
    """The checkpoint names the part by its path on the driver, not by the temporary copy fitted here."""
    import torch

    path = run_dir / "model.pt"
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        state["part"] = part
        with atomic_path(path) as tmp:
            torch.save(state, tmp)


def _place(task: dict[str, Any], tmp: Path) -> tuple[list[Path], list[Path]]:
    """The parts to read and the run directories to write: in ``tmp`` from the bytes sent, else in place."""
    if task["blobs"] is None:
        return [Path(p) for p in task["parts"]], [Path(d) for d in task["run_dirs"]]
    parts, run_dirs = [], []
    for name, blob in zip(task["names"], task["blobs"], strict=True):
        part = tmp / "parts" / name
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(blob)
        run_dir = tmp / "runs" / Path(name).with_suffix("")
        run_dir.mkdir(parents=True)
        parts.append(part)
        run_dirs.append(run_dir)
    return parts, run_dirs
