"""``isoscope-bench``: per-phase speed of a preset on this machine, and the gain over a seed-style job.

Phases: distance queries (signed, and unsigned as the pool of importance sampling needs), the whole
sampling as the job runs it, training steps (samples/s and the share of the
arithmetic limit, taken as this device's measured large-GEMM FLOP/s), reconstruction (grid evaluation
and marching cubes), and the end-to-end job. The seed-style mode runs the same work the way the seed
trainer did: signed distance on the CPU and queried twice for the drawn points, training data in host
memory with a batch copied to the device each step, no shuffling, eager non-fused Adam, the loss read
back every step, and marching cubes on the CPU. On CUDA every figure is timed with CUDA events.
"""

from __future__ import annotations

import argparse
import copy
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from isoscope.core import config as C
from isoscope.core.job import JobError, Reporter, resolve_device, resolve_precision
from isoscope.core.machine import cpu_bf16_feature, cpu_description
from isoscope.core.mesh.part import PartError, load_part
from isoscope.core.phases import TRAIN_PHASES
from isoscope.core.sdf.distance import MeshSDF
from isoscope.core.sdf.job import SDFJob
from isoscope.core.sdf.network import build_model
from isoscope.core.sdf.packed import PackedMLP
from isoscope.core.sdf.reconstruct import evaluate_grid, extract_surface
from isoscope.core.sdf.reference import keras_reference, plain_step
from isoscope.core.sdf.sampling import draw_training_set, uniform_points
from isoscope.core.sdf.scalers import make_scaler
from isoscope.core.sdf.seed_style import seed_style
from isoscope.core.sdf.step import low_on_cpu, make_adam, set_precision
from isoscope.core.sdf.train import PartsStep
from isoscope.core.timing import PhaseTimer
from isoscope.resources import HERE as RESOURCES

DEFAULT_PART = RESOURCES / "parts" / "bracket.stl"


def machine(dev: torch.device) -> str:
    text = f"{cpu_description()} (bf16 units: {cpu_bf16_feature() or 'none'}), torch {torch.__version__}"
    if dev.type == "cuda":
        text = f"{torch.cuda.get_device_name(dev)} (CUDA {torch.version.cuda}); host {text}"
    return text


def timed(dev: torch.device, fn: Callable[[], Any], repeat: int = 1) -> float:
    """Seconds per call of fn; CUDA events on the GPU, perf_counter on the CPU."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeat):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0 / repeat
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def alternating_rates(
    dev: torch.device, steps: dict[str, Callable[[], None]], batch: int, rounds: int, per_round: int
) -> dict[str, float]:
    """Samples per second of each step: ``rounds`` rounds of ``per_round`` calls, the steps taking turns
    (after two warm-up calls each), so that a machine whose speed drifts (shared cores, clocks) shifts
    them alike; the median round of each."""
    for fn in steps.values():
        timed(dev, fn, repeat=2)
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            rates[name].append(batch / timed(dev, fn, repeat=per_round))
    return {name: statistics.median(r) for name, r in rates.items()}


def gemm_flops(dev: torch.device, precision: str = "fp32") -> float:
    """Measured FLOP/s of a large matrix multiply in the preset's precision (fp32 with TF32 off, TF32,
    or bf16): the arithmetic limit used for shares."""
    n = 4096 if dev.type == "cuda" else 1024
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    set_precision(dev, precision)
    a @ b
    return 2 * n**3 / timed(dev, lambda: a @ b, repeat=10 if dev.type == "cuda" else 3)


def train_step_fn(
    model: PackedMLP, x: torch.Tensor, y: torch.Tensor, cfg: C.RunConfig, dev: torch.device
) -> Callable[[], None]:
    """One training step of the job's network on (x, y) through the job's own step (its loss, learning
    rate, precision, scaler and CUDA graph); batches walk a fixed permutation."""
    set_precision(dev, cfg.train.precision)
    scaler = make_scaler(cfg.train.scaler).fit(y)
    lo, hi = scaler.transform(torch.tensor([-cfg.train.clamp, cfg.train.clamp], device=dev, dtype=torch.float32))
    data = (x[None], scaler.transform(y)[None], lo.reshape(1, 1), hi.reshape(1, 1))
    step = PartsStep(model, make_adam(model.parameters(), cfg.train.learning_rate), data, cfg.train, PhaseTimer(dev))
    b, n = cfg.train.batch_size, x.shape[0]
    perm = torch.randperm(n, device=dev)[None]
    batches = max(n // b, 1)
    k = 0

    def run() -> None:
        nonlocal k
        step(perm[:, (k % batches) * b : (k % batches + 1) * b])
        k += 1

    return run


def bench_phases(
    part_path: Path, cfg: C.RunConfig, dev: torch.device, steps: int, keras_python: str | None = None
) -> dict[str, Any]:
    part = load_part(part_path)
    gen = torch.Generator(device=dev).manual_seed(0)
    sdf = MeshSDF(part.normalised_vertices, part.faces, dev)
    n_pool = max(int(cfg.sampling.num_points / cfg.sampling.pool_ratio), 1)
    pool = uniform_points(n_pool, dev, gen)
    sdf(pool[:1024])
    sdf(pool[:1024], signed=False)
    t_sdf = timed(dev, lambda: sdf(pool))  # the winding number, the Morton sort included
    t_unsorted = timed(dev, lambda: sdf(pool, sort=False))
    t_unsigned = timed(dev, lambda: sdf(pool, signed=False))
    parity = MeshSDF(part.normalised_vertices, part.faces, dev, sign="parity")
    parity(pool[:1024])
    t_parity = timed(dev, lambda: parity(pool))
    verts = torch.as_tensor(part.normalised_vertices, dtype=torch.float32, device=dev)
    faces = torch.as_tensor(part.faces, dtype=torch.int64, device=dev)
    drawn: list[tuple[torch.Tensor, torch.Tensor]] = []
    t_sampling = timed(dev, lambda: drawn.append(draw_training_set(sdf, verts, faces, cfg.sampling, gen, PhaseTimer())))
    out: dict[str, Any] = {
        "faces": int(len(part.faces)),
        "sdf_queries_per_s": n_pool / t_sdf,
        "sdf_unsorted_queries_per_s": n_pool / t_unsorted,
        "sdf_parity_queries_per_s": n_pool / t_parity,  # right only on closed parts (see distance.parity_is_safe)
        "unsigned_queries_per_s": n_pool / t_unsigned,
        "sampling_s": t_sampling,
    }
    plain = build_model(cfg.model)
    model = PackedMLP([plain]).to(dev)  # what the job trains and evaluates
    model.low = low_on_cpu(dev, cfg.train.precision)
    x, y = drawn[0]
    b = cfg.train.batch_size
    step = train_step_fn(model, x, y, cfg, dev)
    for _ in range(5):
        step()
    if dev.type == "cpu":  # beside the same network and step as a plain PyTorch script (and in Keras), same data
        rates = alternating_rates(dev, {"isoscope": step, "plain": plain_step(cfg, x, y)}, b, max(steps // 10, 3), 10)
        t_step = b / rates["isoscope"]
        keras = keras_reference(cfg, x, y, steps, keras_python) or {}
        out.update(plain_samples_per_s=rates["plain"], keras=keras.get("version"), keras_python=keras_python,
                   keras_samples_per_s=keras.get("samples_per_s"))  # fmt: skip
    else:
        t_step = timed(dev, step, repeat=steps)
    flops = 3 * plain.flops_per_sample() * b / t_step
    out.update(train_samples_per_s=b / t_step, train_step_ms=1000 * t_step, train_flops=flops)
    res = cfg.recon.resolution

    def predict(p: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(p)

    t_grid = timed(dev, lambda: evaluate_grid(predict, res, dev, cfg.recon.chunk))
    vol = evaluate_grid(lambda p: p.norm(dim=-1) - 0.5, res, dev, cfg.recon.chunk)
    t_mc = timed(dev, lambda: extract_surface(vol))
    out.update(grid_s=t_grid, marching_cubes_s=t_mc, reconstruction_s=t_grid + t_mc, resolution=res)
    return out


def end_to_end(part_path: Path, cfg: C.RunConfig) -> dict[str, Any]:
    """The real job, in this process, quietly, into a temporary run directory."""
    with tempfile.TemporaryDirectory() as tmp:
        reporter = Reporter(Path(tmp), lambda event: None)
        job = SDFJob(str(part_path), cfg, Path(tmp), reporter)
        t0 = time.perf_counter()
        summary = job.run()
        wall = time.perf_counter() - t0
        reporter.close()
    phases = summary["phases_s"]
    core = sum(phases.get(k, 0.0) for k in ("sample", "cache", *TRAIN_PHASES))
    core += phases.get("reconstruct", 0.0)
    return {"wall_s": wall, "sample_train_reconstruct_s": core, "chamfer_l1": summary.get("chamfer_l1"),
            "phases_s": phases, "points": cfg.sampling.num_points, "epochs": cfg.train.epochs,
            "resolution": cfg.recon.resolution, "train_samples_per_s": summary["train_samples_per_s"]}  # fmt: skip


def _reference_lines(p: dict[str, Any]) -> list[str]:
    """The CPU's reference steps beside the job's: a plain eager fp32 PyTorch step, and Keras if installed."""
    if "plain_samples_per_s" not in p:
        return []
    rate = p["train_samples_per_s"]
    lines = [f"{'  plain eager fp32 PyTorch step':34s} {'':10s} {p['plain_samples_per_s'] / 1e6:11.3f} M samples/s"
             f"  (isoscope {rate / p['plain_samples_per_s']:.2f}x)"]  # fmt: skip
    if p.get("keras_samples_per_s"):
        keras = p["keras_samples_per_s"]
        lines.append(f"{'  Keras step (TensorFlow ' + p['keras'] + ')':34s} {'':10s} {keras / 1e6:11.3f} M samples/s"
                     f"  (isoscope {rate / keras:.2f}x)")  # fmt: skip
    else:
        lines.append(f"  Keras step: skipped (no TensorFlow in {p.get('keras_python') or 'this interpreter'}: "
                     "pip install tensorflow-cpu, or give --keras-python)")  # fmt: skip
    return lines


def report(res: dict[str, Any]) -> str:
    p, e, s = res["phases"], res["end_to_end"], res.get("seed_style")
    lines = [
        f"isoscope-bench  preset {res['preset']}  part {res['part']} ({p['faces']} faces)  device {res['device']}",
        f"machine: {res['machine']}",
        f"arithmetic limit (measured {res['precision']} GEMM): {res['gemm_flops'] / 1e12:.2f} TFLOP/s",
        "",
        f"{'phase':34s} {'time':>10s} {'throughput':>22s} {'of limit':>9s}",
        *(
            f"{name:34s} {res['pool'] / p[key]:9.3f}s {p[key] / 1e6:14.2f} Mq/s"
            for name, key in (
                ("signed distance (pool)", "sdf_queries_per_s"),
                ("  the same, unsorted", "sdf_unsorted_queries_per_s"),
                ("  by ray parity (closed parts)", "sdf_parity_queries_per_s"),
            )
        ),  # fmt: skip
        f"{'unsigned distance (pool)':34s} {res['pool'] / p['unsigned_queries_per_s']:9.3f}s "
        f"{p['unsigned_queries_per_s'] / 1e6:14.2f} Mq/s",
        f"{'sampling (' + res['sampling'] + ')':34s} {p['sampling_s']:9.3f}s",
        f"{'training step (batch ' + str(res['batch']) + ')':34s} {p['train_step_ms']:8.3f}ms "
        f"{p['train_samples_per_s'] / 1e6:11.3f} M samples/s {100 * p['train_flops'] / res['gemm_flops']:8.1f}%",
        *_reference_lines(p),
        f"{'grid evaluation ' + str(p['resolution']) + '^3, every point':34s} {p['grid_s']:9.3f}s",
        f"{'marching cubes ' + str(p['resolution']) + '^3':34s} {p['marching_cubes_s']:9.3f}s",
        "",
    ]
    for run in res["end_to_end_runs"]:
        lines += [
            f"end to end, {run['points']:,} points x {run['epochs']} epochs, {run['resolution']}^3 (load, sample, "
            f"train, reconstruct, metrics): {run['wall_s']:.2f}s, Chamfer-L1 {run['chamfer_l1']:.4g}",
            f"  training {run['train_samples_per_s'] / 1e3:.1f}k samples/s; reconstruction (grid near the surface, "
            f"marching cubes): {run['phases_s'].get('reconstruct', 0):.3f}s",
            "  phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in run["phases_s"].items()),
        ]
    if s:
        ratio = s["sample_train_reconstruct_s"] / max(e["sample_train_reconstruct_s"], 1e-9)
        lines += [
            "",
            "seed-style vs isoscope (sampling + training + reconstruction, same config):",
            f"  seed-style: {s['sample_train_reconstruct_s']:.2f}s (sampling {s['sampling_s']:.2f}s, "
            f"training {s['train_s']:.2f}s, reconstruction {s['reconstruction_s']:.2f}s)",
            f"  isoscope:   {e['sample_train_reconstruct_s']:.2f}s",
            f"  speed-up:   {ratio:.2f}x",
        ]
        res["speedup"] = ratio
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="isoscope-bench", description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="smoke", help=f"one of {', '.join(C.PRESETS)}")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ap.add_argument("--part", default=str(DEFAULT_PART), help="STL part to benchmark on")
    ap.add_argument("--steps", type=int, default=50, help="training steps timed")
    ap.add_argument("--epochs", type=int, default=None, help="epochs of the end-to-end runs (default: the preset's)")
    ap.add_argument("--precision", default=None, choices=("auto", "fp32", "tf32", "bf16"),
                    help="the precision to measure (default: the preset's, auto)")  # fmt: skip
    ap.add_argument("--sizes", default=None, metavar="POINTS:RES[,POINTS:RES...]",
                    help="training points and reconstruction resolution of each end-to-end run (the first also "
                         "sizes the phase figures); default: the preset's")  # fmt: skip
    ap.add_argument(
        "--keras-python",
        default=None,
        metavar="PYTHON",
        help="on a CPU, the interpreter whose TensorFlow runs the Keras reference (default: this one)",
    )
    ap.add_argument("--no-seed-style", action="store_true", help="skip the seed-style comparison")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    try:
        cfg = C.preset(args.preset)
        cfg.device = args.device
        C.validate(cfg)
        if cfg.job != "sdf":
            raise C.ConfigError(f"preset {args.preset} is not an SDF preset")
        dev = resolve_device(args.device)
        sizes = _sizes(args.sizes, cfg)
        if args.epochs is not None:
            if args.epochs < 1:
                raise C.ConfigError("--epochs must be at least 1")
            cfg.train.epochs = args.epochs
        cfg.sampling.num_points, cfg.recon.resolution = sizes[0]
        cfg.train.precision, reason = resolve_precision(args.precision or cfg.train.precision, dev, cfg)
        load_part(args.part)
        if args.keras_python and not shutil.which(args.keras_python):
            raise C.ConfigError(f"--keras-python {args.keras_python}: no such interpreter")
    except (C.ConfigError, JobError, PartError) as exc:
        print(f"isoscope-bench: error: {exc}", file=sys.stderr)
        return 2
    res: dict[str, Any] = {"preset": args.preset, "part": Path(args.part).name, "device": str(dev),
                           "machine": machine(dev), "batch": cfg.train.batch_size, "precision": cfg.train.precision,
                           "precision_reason": reason,
                           "sampling": cfg.sampling.method,
                           "pool": math.ceil(cfg.sampling.num_points / cfg.sampling.pool_ratio)}  # fmt: skip
    res["gemm_flops"] = gemm_flops(dev, cfg.train.precision)
    res["phases"] = bench_phases(Path(args.part), cfg, dev, args.steps, args.keras_python)
    res["end_to_end_runs"] = []
    for points, resolution in sizes:
        cfg.sampling.num_points, cfg.recon.resolution = points, resolution
        res["end_to_end_runs"].append(end_to_end(Path(args.part), copy.deepcopy(cfg)))
    res["end_to_end"] = res["end_to_end_runs"][0]
    cfg.sampling.num_points, cfg.recon.resolution = sizes[0]
    if not args.no_seed_style:
        res["seed_style"] = seed_style(Path(args.part), cfg, dev)
    print(report(res))
    if args.json:
        from isoscope.core.runs.rundir import write_json_atomic

        write_json_atomic(args.json, res)
    return 0


def _sizes(text: str | None, cfg: C.RunConfig) -> list[tuple[int, int]]:
    """``--sizes`` as (points, resolution) pairs; the preset's own when not given."""
    if not text:
        return [(cfg.sampling.num_points, cfg.recon.resolution)]
    try:
        sizes = [tuple(int(v) for v in item.split(":")) for item in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(len(s) != 2 or s[0] < 1 or not 8 <= s[1] <= 2048 for s in sizes):
        raise C.ConfigError(f"--sizes {text!r}: give POINTS:RES pairs separated by commas, e.g. 200000:128,1000000:256")
    return sizes  # type: ignore[return-value]


def entry() -> None:
    from isoscope.core.cli import run_command

    run_command(main)
