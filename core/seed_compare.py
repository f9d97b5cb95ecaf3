"""The window's "Compare with seed-style": isoscope-bench's seed-style mode beside isoscope's job, for one run's
config, in a worker process (the seed trainer's lesson of seeds 000 and 002: data kept on the device versus
read and copied per batch).

:func:`budget_config` cuts a config to a small budget (by default; the window says so); :func:`compare_process`
is the worker's target: it runs ``isoscope.core.bench.end_to_end`` and ``isoscope.core.sdf.seed_style`` on the
part with that config, in a temporary folder (nothing is written into the run), and ends with a Finished
event whose summary holds both breakdowns (see :func:`breakdown`). Torch is imported only in the worker.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from isoscope.core import events as ev
from isoscope.core.config import RunConfig, from_dict, to_dict
from isoscope.core.phases import TRAIN_PHASES

SMALL_POINTS, SMALL_EPOCHS, SMALL_RESOLUTION = 20_000, 2, 64
ROWS = ("sampling", "training", "reconstruction")


def budget_config(cfg: RunConfig, small: bool = True) -> tuple[RunConfig, str]:
    """``cfg`` cut to the small budget (or left whole) and a line that says what it is."""
    if not small:
        return cfg, (f"the run's own budget: {cfg.sampling.num_points:,} points, {cfg.train.epochs} epochs, "
                     f"marching cubes at {cfg.recon.resolution}^3")  # fmt: skip
    out = from_dict(to_dict(cfg))
    out.sampling.num_points = min(cfg.sampling.num_points, SMALL_POINTS)
    out.train.epochs = min(cfg.train.epochs, SMALL_EPOCHS)
    out.recon.resolution = min(cfg.recon.resolution, SMALL_RESOLUTION)
    return out, (f"a small budget: {out.sampling.num_points:,} points (the run: {cfg.sampling.num_points:,}), "
                 f"{out.train.epochs} epochs (the run: {cfg.train.epochs}), marching cubes at "
                 f"{out.recon.resolution}^3; both sides the same")  # fmt: skip


def breakdown(iso_phases: dict[str, float], seed: dict[str, float]) -> dict[str, dict[str, float]]:
    """Seconds per row of :data:`ROWS` (and their total) for isoscope's job and for the seed-style one."""
    iso = {"sampling": iso_phases.get("sample", 0.0) + iso_phases.get("cache", 0.0),
           "training": sum(iso_phases.get(k, 0.0) for k in TRAIN_PHASES),
           "reconstruction": iso_phases.get("reconstruct", 0.0)}  # fmt: skip
    old = {"sampling": seed["sampling_s"], "training": seed["train_s"], "reconstruction": seed["reconstruction_s"]}
    for d in (iso, old):
        d["total"] = sum(d[k] for k in ROWS)
    return {"isoscope": iso, "seed_style": old}


def compare_process(part: str, cfg_dict: dict, note: str, cmd_q: Any, evt_q: Any) -> None:
    """The worker's target (see the module docstring); exit status 0, or 1 with a Failed event."""
    sys.exit(compare_main(part, cfg_dict, note, evt_q))


def compare_main(part: str, cfg_dict: dict, note: str, evt_q: Any) -> int:
    from isoscope.core.failure import failure_event

    try:
        from isoscope.core.bench import end_to_end
        from isoscope.core.job import resolve_device
        from isoscope.core.sdf.seed_style import seed_style

        cfg = from_dict(cfg_dict)
        dev = resolve_device(cfg.device)
        evt_q.put(ev.Log("info", f"seed-style comparison on {dev}: isoscope's job first, with {note}"))
        t0 = time.perf_counter()
        iso = end_to_end(Path(part), cfg)
        evt_q.put(ev.Log("info", f"isoscope's job took {time.perf_counter() - t0:.1f} s; now the seed-style one"))
        seed = seed_style(Path(part), cfg, dev)
    except BaseException as exc:  # noqa: BLE001 - every failure is a Failed event
        evt_q.put(failure_event(exc))
        return 1
    rows = breakdown(iso["phases_s"], seed)
    speedup = rows["seed_style"]["total"] / max(rows["isoscope"]["total"], 1e-9)
    summary = {"device": str(dev), "budget": note, "rows": rows, "speedup": speedup,
               "isoscope_phases_s": iso["phases_s"], "isoscope_wall_s": iso["wall_s"]}  # fmt: skip
    evt_q.put(ev.Finished("done", summary))
    return 0
