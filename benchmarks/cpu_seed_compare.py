"""Accuracy and wall time of the seed trainer's command line, shrunk, over seeds: isoscope's side of the table
that compares it with the seed's own Keras trainer on a CPU.

    python benchmarks/cpu_seed_compare.py --parts bracket torus --points 200000 --res 128 --seeds 0 1 2
    python benchmarks/cpu_seed_compare.py --parts bracket --points 1000000 --res 256 --precision fp32 bf16

Each run is ``isoscope-train PART --numLayers=10 --epochs 2 --batchSize 1024 --learningRate 0.001
--num_points N --init he_uniform --damArch 1 --scaler StandardScaler --reconstructionRes R --device cpu``
(the seed's High flags with the sizes shrunk), in this process, one after another. It prints each run's
Chamfer-L1 (original units), wall time, training samples/s and reconstruction time, then the mean per
part and precision, with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from isoscope.core.cli import train_main
from isoscope.core.machine import cpu_bf16_feature, cpu_description
from isoscope.resources import HERE as RESOURCES


def run(part: str, points: int, res: int, seed: int, precision: str, epochs: int, out: Path) -> dict:
    argv = [str(RESOURCES / "parts" / f"{part}.stl"), "--numLayers=10", "--epochs", str(epochs), "--batchSize",
            "1024", "--learningRate", "0.001", "--num_points", str(points), "--init", "he_uniform", "--damArch",
            "1", "--scaler", "StandardScaler", "--reconstructionRes", str(res), "--device", "cpu", "--seed",
            str(seed), "--precision", precision, "--outputDir", str(out), "--quiet"]  # fmt: skip
    if train_main(argv) != 0:
        raise SystemExit(f"run failed: {' '.join(argv)}")
    s = json.loads((out / "summary.json").read_text())
    return {"chamfer_l1": s["chamfer_l1"], "wall_s": s["wall_s"], "train_samples_per_s": s["train_samples_per_s"],
            "reconstruct_s": s["phases_s"].get("reconstruct", 0.0)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["bracket", "torus"], help="sample parts (resources/parts)")
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--res", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--precision", nargs="+", default=["auto"], help="auto, fp32, tf32 or bf16 (several: each)")
    args = ap.parse_args()
    print(f"machine: {cpu_description()}; bf16 units: {cpu_bf16_feature() or 'none'}")
    rows: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for part in args.parts:
            for precision in args.precision:
                for seed in args.seeds:
                    r = run(part, args.points, args.res, seed, precision, args.epochs,
                            Path(tmp) / f"{part}-{precision}-{seed}")  # fmt: skip
                    rows.setdefault((part, precision), []).append(r)
                    print(f"{part:8s} {precision:5s} seed {seed}: Chamfer-L1 {r['chamfer_l1']:.4f}, wall "
                          f"{r['wall_s']:.1f}s, training {r['train_samples_per_s'] / 1e3:.1f}k samples/s, "
                          f"reconstruction {r['reconstruct_s']:.2f}s", flush=True)  # fmt: skip
    print(f"\n{args.points:,} points x {args.epochs} epochs, {args.res}^3, seeds {args.seeds}:")
    for (part, precision), rs in rows.items():
        print(f"  {part:8s} {precision:5s} mean Chamfer-L1 {statistics.mean(r['chamfer_l1'] for r in rs):.4f}, "
              f"mean wall {statistics.mean(r['wall_s'] for r in rs):.1f}s")  # fmt: skip


if __name__ == "__main__":
    main()
