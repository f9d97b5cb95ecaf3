"""The names of the timed phases, in report order: shared by the engine's timer, the folder-run table and
the window's plots (torch-free, so the window can import it)."""

from __future__ import annotations

#: Report order of the phases (others follow alphabetically).
PHASE_ORDER = (
    "load", "data", "sample", "cache", "init", "batch", "step", "forward", "backward", "optimizer", "validation",
    "reconstruct", "metrics", "render", "write",
    "groundtruth", "project", "composite", "densify", "evaluate",  # the splat job's phases
    "other",  # a script's time outside every phase (the Python API)
)  # fmt: skip

#: The phases of an optimiser step; their sum is the training time ("step": one CUDA graph replay).
TRAIN_PHASES = ("batch", "step", "forward", "backward", "optimizer")
