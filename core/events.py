"""Messages between the window and a worker: events (worker -> GUI) and commands (GUI -> worker).

Every message is a frozen dataclass whose payload is made of primitives and small numpy arrays, never
tensors. Events also round-trip through plain dicts so that ``metrics.jsonl`` in a run directory holds
the same records the live window receives. Torch-free.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Started:
    """The job has loaded its config and is about to begin."""

    run_dir: str
    part: str
    device: str
    job: str
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """Where the job stands: steps, epochs, throughput and the estimated time left."""

    step: int
    total_steps: int
    epoch: int
    total_epochs: int
    samples_per_s: float
    eta_s: float
    stage: str = "train"


@dataclass(frozen=True)
class Metrics:
    """Scalar metrics at a step (train loss, validation loss and errors, final metrics)."""

    step: int
    epoch: int
    values: dict[str, float]


@dataclass(frozen=True)
class PhaseTimes:
    """Seconds spent per phase. scope "epoch": one finished epoch; "live": the last interval."""

    scope: str
    epoch: int
    seconds: dict[str, float]
    wall_s: float


@dataclass(frozen=True)
class Resources:
    """The training process's CPU, memory and GPU figures (see :mod:`isoscope.core.resources`) at ``time_s``
    seconds after its writer started."""

    time_s: float
    values: dict[str, float]


@dataclass(frozen=True)
class Artifact:
    """A file written into the run directory (mesh, points, renders, checkpoint, profile, slice)."""

    kind: str
    path: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Log:
    """A line for the log pane."""

    level: str
    text: str


@dataclass(frozen=True)
class SliceResult:
    """Predicted and true SDF on a plane, in the part's original units, for the inspector."""

    axis: int
    offset: float
    extent: tuple[float, float, float, float]
    predicted: np.ndarray
    truth: np.ndarray


@dataclass(frozen=True)
class PointProbe:
    """True and predicted signed distance at one point (original units)."""

    point: tuple[float, float, float]
    truth: float
    predicted: float


@dataclass(frozen=True)
class Finished:
    """The job ended normally (status "done", "stopped" or "no_surface"); summary as in summary.json."""

    status: str
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    """The job raised; ``message`` is one line for the user, ``traceback`` the details."""

    message: str
    traceback: str = ""


@dataclass(frozen=True)
class PartResult:
    """One part of a worker's job has ended (each part of a group, the one part otherwise): its run
    directory and summary, a row of the window's Dataset tab and of a folder run's batch summary. A
    worker sends these before its Finished or Failed."""

    part: str
    run_dir: str
    summary: dict[str, Any] = field(default_factory=dict)


# Commands (GUI -> worker).
@dataclass(frozen=True)
class Pause:
    """Hold between steps until Resume or Stop."""


@dataclass(frozen=True)
class Resume:
    """Continue after Pause."""


@dataclass(frozen=True)
class Stop:
    """Finish cooperatively: save the model, reconstruct, write the summary."""


@dataclass(frozen=True)
class ReconstructNow:
    """Run marching cubes on the current network at this resolution and announce the mesh."""

    resolution: int = 128


@dataclass(frozen=True)
class ProfileSteps:
    """Wrap the next ``steps`` steps in torch.profiler and write its table and trace."""

    steps: int = 20


@dataclass(frozen=True)
class SliceRequest:
    """Evaluate the network and the true SDF on an axis-aligned plane (offset in original units)."""

    axis: int = 2
    offset: float = 0.0
    resolution: int = 128


@dataclass(frozen=True)
class ProbeRequest:
    """Evaluate true and predicted SDF at one point given in original units."""

    point: tuple[float, float, float] = (0.0, 0.0, 0.0)


EVENT_TYPES = (
    Started,
    Progress,
    Metrics,
    PhaseTimes,
    Resources,
    Artifact,
    Log,
    SliceResult,
    PointProbe,
    PartResult,
    Finished,
    Failed,
)
COMMAND_TYPES = (Pause, Resume, Stop, ReconstructNow, ProfileSteps, SliceRequest, ProbeRequest)
_BY_NAME = {cls.__name__: cls for cls in EVENT_TYPES + COMMAND_TYPES}


def to_record(message: Any) -> dict[str, Any]:
    """A JSON-ready dict with the message's type under "event"."""
    d: dict[str, Any] = {"event": type(message).__name__}
    for f in dataclasses.fields(message):
        value = getattr(message, f.name)
        d[f.name] = value.tolist() if isinstance(value, np.ndarray) else value
    return d


def from_record(record: dict[str, Any]) -> Any:
    """Rebuild a message from :func:`to_record` output."""
    record = dict(record)
    cls = _BY_NAME[record.pop("event")]
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in record:
            value = record[f.name]
            if f.type in ("np.ndarray",):
                value = np.asarray(value, dtype=np.float32)
            elif f.name == "extent" or f.name == "point":
                value = tuple(value)
            kwargs[f.name] = value
    return cls(**kwargs)
