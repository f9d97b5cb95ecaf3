"""Where the window's worker processes come from.

On Linux a fork server that has imported torch and the engine once (in its own process: the window never
imports them) forks each worker, so a worker starts in a fraction of a second instead of importing torch
again; the server is started, and its imports made, in the background as soon as the window opens.
Elsewhere, or when the server cannot start, each worker is a freshly spawned interpreter.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading
from typing import Any

PRELOAD = ["isoscope.core.sdf.job", "isoscope.core.splat.job", "isoscope.core.worker"]


def worker_context() -> Any:
    """The multiprocessing context workers start from (see the module docstring)."""
    if not sys.platform.startswith("linux"):
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    if not _WARMING:  # the server imports the engine while the person chooses a part, not on Start
        _WARMING.append(threading.Thread(target=_first_worker, args=(ctx,), name="isoscope-warm-up", daemon=True))
        _WARMING[0].start()
    return ctx


_WARMING: list[threading.Thread] = []


def _first_worker(ctx: Any) -> None:
    """Start the fork server and wait until it has imported the engine (a first, empty worker)."""
    try:
        proc = ctx.Process(target=int, daemon=True)
        proc.start()
        proc.join()
    except (OSError, EOFError, ValueError):  # no fork server here: workers are spawned (see JobClient._spawn)
        pass
