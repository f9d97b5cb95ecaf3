"""Several parts fitted in one process by batching their networks: one batched matmul per layer.

Each part keeps its own SDFJob (run directory, sampling, scaler, initial weights, permutations,
validation, checkpoint, mesh and summary); only the training steps run together, in the one training
loop (:func:`isoscope.core.sdf.train.train_parts`). A small MLP that leaves a GPU idle then fills it.
The parts are read and health-checked side by side on the CPU first, unless a folder run prepared them
ahead, in another process, while the group before trained (:mod:`isoscope.core.sdf.prefetch`).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from isoscope.core.sdf.job import SDFJob
from isoscope.core.sdf.prefetch import Prepared, training_threads
from isoscope.core.sdf.train import train_parts


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


def run_group(jobs: list[SDFJob], prepared: list[Prepared | None] | None = None) -> list[dict[str, Any]]:
    """begin + setup each job, train them together, then conclude and finish each; returns summaries.

    ``prepared``: parts prepared ahead in another process (:mod:`isoscope.core.sdf.prefetch`; None for a
    part to prepare here). The others are read and checked side by side on the CPU first. A part that fails
    to load or set up is reported as failed (its summary says why) and the rest go on.
    """
    from isoscope.core.failure import job_failed

    ahead = list(prepared) if prepared is not None else [None] * len(jobs)
    results: dict[int, dict[str, Any]] = {}
    ready: list[tuple[int, SDFJob]] = []
    here = [k for k, data in enumerate(ahead) if data is None]
    loading: dict[int, Future[float]] = {}
    if here:
        with ThreadPoolExecutor(max(1, min(len(here), os.cpu_count() or 1))) as pool:
            loading = {k: pool.submit(_prefetch, jobs[k]) for k in here}
    for k, job in enumerate(jobs):
        try:
            data = ahead[k]
            if data is None:
                job.timer.totals["load"] += loading[k].result()
            else:
                job.part = data.part
            job.begin()
            job.setup() if data is None else job.setup(data)
            ready.append((k, job))
        except Exception as exc:  # noqa: BLE001 - one part never stops the group
            results[k] = job_failed(exc, job.run_dir, job.part_path, job.emit)
    if ready:
        with training_threads():
            train_parts([job for _, job in ready])  # raises only when the group as a whole fails
    for k, job in ready:
        try:
            results[k] = job.finish(job.conclude())
        except Exception as exc:  # noqa: BLE001 - one part's reconstruction never stops the others
            results[k] = job_failed(exc, job.run_dir, job.part_path, job.emit)
    return [results[k] for k in range(len(jobs))]
