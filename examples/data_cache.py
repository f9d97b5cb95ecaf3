"""Seed 000's lesson, reproduced with the Python API: an epoch spent mostly in "data" while every batch
is read from disk and prepared per sample, until the data set is cached on the device once.

    python examples/data_cache.py            # reads each shape's samples from its file, per batch
    python examples/data_cache.py --cache    # reads them once, keeps them on the device

Open the run in the window (``isoscope RUN_DIR``) or read the printed EPOCH N TIMING BREAKDOWN tables:
without ``--cache`` most of the epoch is ``data``; with it, the share moves to ``forward``/``backward``.
Runs on the CPU in well under a minute.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import isoscope


class ShapeSamples(Dataset):
    """One item per shape: its samples are read from their own .npz and subsampled (an "SDF loading" step)."""

    def __init__(self, folder: Path, points: int) -> None:
        self.files, self.points = sorted(folder.glob("*.npz")), points

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        with np.load(self.files[i]) as f:
            xyz, sdf = f["xyz"], f["sdf"]
        pick = np.random.default_rng(i).choice(len(xyz), self.points, replace=False)
        return i, torch.from_numpy(xyz[pick]), torch.from_numpy(sdf[pick])


def write_shapes(folder: Path, shapes: int, samples: int) -> None:
    """Random spheres' signed distances, one compressed file per shape."""
    gen = np.random.default_rng(0)
    for i in range(shapes):
        xyz = gen.uniform(-1, 1, (samples, 3)).astype(np.float32)
        centre, radius = gen.uniform(-0.3, 0.3, 3), gen.uniform(0.3, 0.7)
        sdf = (np.linalg.norm(xyz - centre, axis=1) - radius).astype(np.float32)
        np.savez_compressed(folder / f"shape_{i:03d}.npz", xyz=xyz, sdf=sdf)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", action="store_true", help="read the data set once and keep it on the device")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--shapes", type=int, default=48)
    ap.add_argument("--outputDir", default=None, help="runs root (default: isoscope's)")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3 + 16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    model, codes = model.to(device), nn.Embedding(args.shapes, 16).to(device)
    with tempfile.TemporaryDirectory() as tmp:
        write_shapes(Path(tmp), args.shapes, 100_000)  # the data set on disk, before the run starts
        train(args, ShapeSamples(Path(tmp), 2048), model, codes, device)


def train(args: argparse.Namespace, data: ShapeSamples, model: nn.Module, codes: nn.Embedding,
          device: torch.device) -> None:  # fmt: skip
    opt = torch.optim.Adam([*model.parameters(), *codes.parameters()], lr=1e-3)
    name = "data-cached" if args.cache else "data-per-batch"
    with isoscope.init(name=name, config=vars(args), root=args.outputDir) as run:
        loader = DataLoader(data, batch_size=8, shuffle=True)
        if args.cache:
            with run.phase("cache"):
                items = [data[i] for i in range(len(data))]
                xyz, sdf = (torch.stack([item[k] for item in items]).to(device) for k in (1, 2))
        step = 0
        for _ in range(args.epochs):
            batches = iter(torch.randperm(args.shapes).split(8)) if args.cache else iter(loader)
            while True:
                with run.phase("data"):
                    batch = next(batches, None)
                    if batch is None:
                        break
                    if args.cache:
                        shape = batch.to(device)
                        x, y = xyz[shape], sdf[shape]
                    else:
                        shape, x, y = (t.to(device) for t in batch)
                with run.phase("forward"):
                    code = codes(shape)[:, None].expand(-1, x.shape[1], -1)
                    loss = (model(torch.cat([x, code], -1)).squeeze(-1) - y).abs().mean()
                with run.phase("backward"):
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                with run.phase("optimizer"):
                    opt.step()
                step += 1
                run.log(step, loss=loss)
            run.epoch()
    print(f"run written to {run.path}")


if __name__ == "__main__":
    main()
