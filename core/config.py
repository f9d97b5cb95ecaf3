"""Run configuration: nested dataclasses with a doc per field, the named presets, and JSON round trips.

The command line, the window's parameter editor and ``config.json`` are all generated from these
dataclasses. This module is torch-free so the GUI process can import it.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

#: The 10-layer architecture selected by Discriminative Masking (seed 003).
DAM_WIDTHS: tuple[int, ...] = (333, 442, 351, 340, 304, 139, 76, 53, 39, 36, 35)


def _f(default: Any, doc: str, *flags: str, choices: tuple[str, ...] | None = None) -> Any:
    """A dataclass field carrying its documentation, extra command-line flags and allowed values."""
    meta = {"doc": doc, "flags": flags, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class SamplingConfig:
    """How training points and their signed distances are drawn."""

    num_points: int = _f(2_000_000, "Training points drawn per part.", "--num_points", "--numPoints")
    method: str = _f(
        "importance",
        "importance: weighted draw from a uniform pool; surface: jittered surface points; "
        "uniform: plain uniform points in the cube.",
        "--sampleMethod",
        choices=("importance", "surface", "uniform"),
    )
    pool_ratio: float = _f(0.1, "num_points / pool size for importance sampling (pool = num_points / ratio).")
    importance_weight: float = _f(60.0, "W in the importance weight exp(-W*|sdf|).")
    surface_noise: float = _f(0.01, "Std-dev of the normal jitter of surface-mode points (unit cube).")
    resample_every_epoch: bool = _f(False, "Draw a fresh training set at the start of every epoch.")
    validation_points: int = _f(4096, "Held-out points of each kind (surface, near-surface, uniform).")


@dataclass
class ModelConfig:
    """The ReLU MLP that maps a point to its (scaled) signed distance."""

    num_layers: int = _f(8, "Hidden layers of the MLP.", "--numLayers")
    width: int = _f(128, "Width of every hidden layer when the DAM architecture is off.", "--width")
    dam_arch: bool = _f(False, "Use the DAM widths (first num_layers of 333, 442, 351, ...).", "--damArch")
    init: str = _f(
        "he_uniform",
        "Weight initialisation: Kaiming uniform (ReLU) or Xavier uniform.",
        "--init",
        choices=("he_uniform", "glorot_uniform"),
    )


@dataclass
class TrainConfig:
    """Optimisation: epochs, batches, loss, target scaler, precision."""

    epochs: int = _f(4, "Passes over the training points.", "--epochs")
    batch_size: int = _f(1024, "Points per optimiser step.", "--batchSize")
    learning_rate: float = _f(1e-3, "Adam learning rate.", "--learningRate")
    loss: str = _f("l1", "Loss on scaled targets.", "--loss", choices=("l1", "l2", "clamped"))
    clamp: float = _f(0.1, "Clamp distance (unit cube) of the clamped L1 loss.")
    scaler: str = _f(
        "none",
        "Scaler fitted once to the SDF targets and saved with the model.",
        "--scaler",
        choices=("none", "StandardScaler", "PowerTransformer", "QuantileTransformer"),
    )
    precision: str = _f(
        "auto",
        "Arithmetic of training and evaluation. auto: TF32 matmuls on CUDA, bf16 on a CPU with bf16 units "
        "(avx512_bf16 or AMX), fp32 elsewhere. bf16 on a CPU: bf16 multiplies with fp32 weights and Adam, "
        "and reconstruction judges blocks in bf16 but evaluates the surface's blocks in fp32.",
        "--precision",
        choices=("auto", "fp32", "tf32", "bf16"),
    )
    cuda_graph: bool = _f(
        True,
        "On CUDA, replay each training step (gather, forward, backward, Adam) as one captured CUDA graph; "
        "off: eager steps, with forward, backward and optimizer timed apart.",
        "--cudaGraph",
    )
    seed: int = _f(0, "Random seed for repeatable runs.", "--seed")
    log_every: int = _f(50, "Read the loss back from the device every this many steps.", "--logEvery")
    validation_res: int = _f(
        0, "If > 0, also measure sign accuracy on a res^3 grid after each epoch.", "--validationRes"
    )
    batch_parts: int = _f(
        1,
        "Folder runs: parts whose networks train together in one batched network (same result as alone).",
        "--batchParts",
    )
    overlap: bool = _f(
        False,
        "Folder runs: prepare the next group's parts (read, health check, sampling) in a helper process "
        "while this group trains (the same results; on a CPU the cores are split between the two: 48 parts "
        "of dataset-smoke 1.18x faster on 2 cores); off: each group is prepared in turn.",
    )


@dataclass
class ReconConfig:
    """Marching cubes of the trained network and the final metrics."""

    resolution: int = _f(256, "Grid resolution per axis for marching cubes.", "--reconstructionRes")
    chunk: int = _f(262_144, "Grid points evaluated per network call.")
    block: int = _f(
        8,
        "Evaluate blocks of block^3 grid points in full only where the surface can be (the network's value at "
        "the block centre within 3 half-diagonals of zero); elsewhere the centre value fills the block. "
        "0: every grid point.",
    )
    metric_samples: int = _f(100_000, "Surface samples per mesh for Chamfer, normals and Hausdorff.")


@dataclass
class SplatConfig:
    """3D Gaussian fitting from multi-view renders."""

    image_size: int = _f(256, "Render size in pixels (square).")
    num_gaussians: int = _f(20_000, "Initial Gaussians sampled on the surface.")
    steps: int = _f(3000, "Optimiser steps.")
    learning_rate: float = _f(5e-3, "Base Adam learning rate.")
    ssim_weight: float = _f(0.2, "Weight of (1 - SSIM) in the loss; L1 gets 1 - this.")
    silhouette_weight: float = _f(0.1, "Weight of the silhouette loss (0 disables).")
    views: int = _f(8, "Evaluation views, evenly spaced in azimuth.")
    train_poses: int = _f(64, "Random training poses around the part, rendered once and cached.")
    views_per_step: int = _f(2, "Cached poses drawn at random and rendered together in each step.")
    densify_every: int = _f(500, "Densify and prune every this many steps (0 disables).")
    single_view_steps: int = _f(0, "Steps of the single-view contrast fit (0: a fifth of steps).")


@dataclass
class RunConfig:
    """One job: which engine, on which device, with which settings."""

    preset: str = _f("default", "Preset this configuration started from.")
    job: str = _f("sdf", "Which fit to run.", choices=("sdf", "splat"))
    device: str = _f("auto", "auto (the GPU when there is one), cpu, cuda or cuda:N.", "--device")
    show_vis: int = _f(0, "Seed compatibility; the headless trainer ignores it (use the window).", "--showVis")
    resumed_from: str = _f("", "Run directory whose network and optimiser this fit continues (empty: a fresh fit).")
    sampling: SamplingConfig = field(default_factory=SamplingConfig, metadata={"doc": "Sampling."})
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"doc": "Network."})
    train: TrainConfig = field(default_factory=TrainConfig, metadata={"doc": "Optimisation."})
    recon: ReconConfig = field(default_factory=ReconConfig, metadata={"doc": "Reconstruction."})
    splat: SplatConfig = field(default_factory=SplatConfig, metadata={"doc": "Gaussians."})


def _seed_preset(name: str, *, epochs: int, batch: int, points: int, scaler: str) -> RunConfig:
    """A preset from seed 003: 10 DAM layers, he_uniform, lr 1e-3, marching cubes at 256; precision auto (TF32
    matmuls on CUDA, whose fitted surface's Chamfer distance stays within a few percent of fp32's)."""
    return RunConfig(
        preset=name,
        show_vis=1,
        sampling=SamplingConfig(num_points=points),
        model=ModelConfig(num_layers=10, dam_arch=True, init="he_uniform"),
        train=TrainConfig(
            epochs=epochs, batch_size=batch, learning_rate=1e-3, scaler=scaler, validation_res=0
        ),
        recon=ReconConfig(resolution=256),
    )


def _build_presets() -> dict[str, RunConfig]:
    p = {
        "high": _seed_preset("high", epochs=6, batch=1024, points=5_000_000, scaler="StandardScaler"),
        "medium": _seed_preset("medium", epochs=3, batch=2048, points=5_000_000, scaler="QuantileTransformer"),
        "low": _seed_preset("low", epochs=4, batch=1024, points=2_000_000, scaler="PowerTransformer"),
        "ultra": _seed_preset("ultra", epochs=6, batch=512, points=5_000_000, scaler="none"),
        "geometry200-medium": _seed_preset(
            "geometry200-medium", epochs=3, batch=2048, points=5_000_000, scaler="QuantileTransformer"
        ),
        "geometry200-high": _seed_preset("geometry200-high", epochs=6, batch=1024, points=5_000_000, scaler="none"),
        "problematic": _seed_preset("problematic", epochs=6, batch=1024, points=5_000_000, scaler="StandardScaler"),
    }
    p["smoke"] = RunConfig(
        preset="smoke",
        sampling=SamplingConfig(num_points=40_000, validation_points=2048),
        model=ModelConfig(num_layers=4, width=64),
        train=TrainConfig(epochs=16, batch_size=256, learning_rate=2e-3, log_every=20),
        recon=ReconConfig(resolution=64, chunk=65_536),
    )
    p["tiny"] = RunConfig(
        preset="tiny",
        sampling=SamplingConfig(num_points=8_000, validation_points=512),
        model=ModelConfig(num_layers=3, width=32),
        train=TrainConfig(epochs=2, batch_size=256, learning_rate=2e-3, log_every=10),
        recon=ReconConfig(resolution=32, chunk=32_768, metric_samples=20_000),
    )
    p["dataset-smoke"] = replace_preset(p["smoke"], "dataset-smoke", train={"epochs": 6, "batch_parts": 4})
    for name in ("geometry200-medium", "geometry200-high"):
        p[name].train.batch_parts = 8
    p["splat-smoke"] = RunConfig(
        preset="splat-smoke",
        job="splat",
        splat=SplatConfig(
            image_size=64,
            num_gaussians=2000,
            steps=300,
            train_poses=24,
            densify_every=100,
            views_per_step=1,
            single_view_steps=40,
        ),
        train=TrainConfig(log_every=10),
        recon=ReconConfig(resolution=64, chunk=65_536),
    )
    p["splat"] = RunConfig(preset="splat", job="splat", splat=SplatConfig())
    p["default"] = RunConfig()
    return p


def replace_preset(base: RunConfig, name: str, **sections: dict[str, Any]) -> RunConfig:
    """A copy of ``base`` renamed to ``name`` with some fields of some sections changed."""
    cfg = copy.deepcopy(base)
    cfg.preset = name
    for section, values in sections.items():
        for key, value in values.items():
            setattr(getattr(cfg, section), key, value)
    return cfg


PRESETS: dict[str, RunConfig] = _build_presets()
#: The seed's seven presets, in the seed's order.
SEED_PRESETS = ("high", "medium", "low", "ultra", "geometry200-medium", "geometry200-high", "problematic")


#: Keys config.json holds beside the config itself.
RUN_KEYS = ("part", "created", "isoscope_version", "precision_reason")


class ConfigError(ValueError):
    """A configuration value or document that cannot be used; the message is for the user."""


def preset(name: str) -> RunConfig:
    """A fresh copy of the named preset."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """The config as JSON-ready nested dicts, with the schema version."""
    d = dataclasses.asdict(cfg)
    d["schema_version"] = SCHEMA_VERSION
    return d


def from_dict(d: dict[str, Any]) -> RunConfig:
    """Rebuild a config from :func:`to_dict` output; unknown keys are an error, missing keys take defaults."""
    d = dict(d)
    version = d.pop("schema_version", SCHEMA_VERSION)
    for key in RUN_KEYS:
        d.pop(key, None)
    if version > SCHEMA_VERSION:
        raise ConfigError(f"config schema {version} is newer than this isoscope understands ({SCHEMA_VERSION})")
    return _build(RunConfig, d, "")


def _build(cls: type, d: dict[str, Any], where: str) -> Any:
    kwargs: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in d.items():
        if key not in fields:
            raise ConfigError(f"unknown config field {where}{key}")
        sub = _section_type(fields[key])
        kwargs[key] = _build(sub, value, f"{where}{key}.") if sub else value
    obj = cls(**kwargs)
    if cls is RunConfig:
        validate(obj)
    return obj


def _section_type(f: dataclasses.Field) -> type | None:
    if f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(f.default_factory):
        return f.default_factory  # type: ignore[return-value]
    return None


def iter_fields(cfg: RunConfig) -> list[tuple[str, dataclasses.Field, Any]]:
    """Every leaf field as (dotted path, field, current value), sections in order."""
    out: list[tuple[str, dataclasses.Field, Any]] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.extend((f"{f.name}.{g.name}", g, getattr(value, g.name)) for g in dataclasses.fields(value))
        else:
            out.append((f.name, f, value))
    return out


def get_path(cfg: RunConfig, path: str) -> Any:
    """The value at a dotted path such as ``train.epochs``."""
    obj: Any = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def set_path(cfg: RunConfig, path: str, value: Any) -> None:
    """Set the value at a dotted path, converting it to the field's type."""
    *head, last = path.split(".")
    obj: Any = cfg
    for part in head:
        obj = getattr(obj, part)
    current = getattr(obj, last)
    setattr(obj, last, coerce(value, type(current), path))


def coerce(value: Any, kind: type, path: str = "value") -> Any:
    """Convert a string or number to ``kind`` (bool accepts 0/1/true/false)."""
    try:
        if kind is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind is int and isinstance(value, str):
            return int(float(value)) if "e" in value.lower() else int(value)
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: cannot read {value!r} as {kind.__name__}") from None


def validate(cfg: RunConfig) -> None:
    """Raise :class:`ConfigError` for values that cannot work."""
    for path, f, value in iter_fields(cfg):
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{path} must be one of {', '.join(choices)}, not {value!r}")
    positive = (
        "sampling.num_points", "sampling.validation_points", "model.num_layers", "model.width",
        "train.epochs", "train.batch_size", "train.log_every", "train.batch_parts", "recon.chunk",
        "recon.metric_samples",
        "splat.image_size", "splat.num_gaussians", "splat.steps", "splat.views", "splat.train_poses",
        "splat.views_per_step",
    )  # fmt: skip
    for path in positive:
        if get_path(cfg, path) <= 0:
            raise ConfigError(f"{path} must be positive, not {get_path(cfg, path)}")
    if not 0.0 < cfg.sampling.pool_ratio <= 1.0:
        raise ConfigError("sampling.pool_ratio must be in (0, 1]")
    if cfg.train.learning_rate <= 0:
        raise ConfigError("train.learning_rate must be positive")
    if cfg.recon.resolution < 8:
        raise ConfigError("recon.resolution must be at least 8")
    if cfg.recon.block < 0:
        raise ConfigError(f"recon.block must be 0 (every grid point) or more, not {cfg.recon.block}")
    if cfg.model.dam_arch and cfg.model.num_layers > len(DAM_WIDTHS):
        raise ConfigError(f"--damArch 1 allows at most {len(DAM_WIDTHS)} layers")
    dev = cfg.device
    if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, not {dev!r}")


def continuing(cfg: RunConfig, run_dir: str | Path) -> RunConfig:
    """``cfg`` made to continue the fit in ``run_dir``: ``resumed_from`` set and the next sampling seed (a
    freshly drawn training set). The command line's --resume and the window's Continue training use it."""
    cfg.resumed_from = str(run_dir)
    cfg.train.seed += 1
    return cfg


#: The settings a Gaussian (splat) run uses besides its own section; every other section is the SDF fit's.
SPLAT_ALSO_USES = ("train.seed", "train.log_every")


def used_by(path: str, job: str) -> bool:
    """Whether the field at dotted ``path`` is a setting of a ``job`` ("sdf" or "splat") run."""
    section = path.split(".")[0] if "." in path else ""
    if job == "splat":
        return section in ("", "splat") and path != "resumed_from" or path in SPLAT_ALSO_USES
    return section != "splat"


def forward_macs(widths: list[int]) -> int:
    """Multiply-adds of one forward pass of one point through an SDF network of these hidden widths."""
    dims = [3, *widths, 1]
    return sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=False))


def hidden_widths(model: ModelConfig) -> list[int]:
    """Widths of the hidden layers: the first num_layers DAM widths, or num_layers x width."""
    if model.dam_arch:
        return list(DAM_WIDTHS[: model.num_layers])
    return [model.width] * model.num_layers
