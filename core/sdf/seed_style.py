"""The seed trainer's way of fitting, kept as a reference to measure against (``isoscope-bench``), not used
to fit anything: signed distance on the CPU and queried twice for the drawn points, training data in host
memory with a batch copied to the device each step, no shuffling, torch's non-fused Adam, the loss read
back every step, the grid evaluated in full and marching cubes on the CPU. Its training loop is its own
on purpose; every fit isoscope makes trains through :mod:`isoscope.core.sdf.train`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from isoscope.core import config as C
from isoscope.core.mesh.part import load_part
from isoscope.core.sdf.distance import MeshSDF
from isoscope.core.sdf.network import build_model
from isoscope.core.sdf.reconstruct import evaluate_grid, extract_surface


def seed_style(part_path: Path, cfg: C.RunConfig, dev: torch.device) -> dict[str, Any]:
    """Sampling, training and reconstruction the way the seed trainer did them (see module doc)."""
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    part = load_part(part_path)
    t0 = time.perf_counter()
    cpu_sdf = MeshSDF(part.normalised_vertices, part.faces, "cpu")
    rng = np.random.default_rng(0)
    n = cfg.sampling.num_points
    pool = rng.uniform(-1, 1, (int(n / cfg.sampling.pool_ratio), 3)).astype(np.float32)
    dist = cpu_sdf(torch.from_numpy(pool)).numpy()
    w = np.exp(-cfg.sampling.importance_weight * np.abs(dist))
    idx = rng.choice(len(pool), size=n, replace=True, p=w / w.sum())
    x = pool[idx]
    y = cpu_sdf(torch.from_numpy(x)).numpy()  # the seed queried the drawn points again
    t_sample = time.perf_counter() - t0
    torch.manual_seed(0)
    model = build_model(cfg.model).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.learning_rate, foreach=False)
    b = cfg.train.batch_size
    t1 = time.perf_counter()
    for _ in range(cfg.train.epochs):
        for i in range(0, n, b):  # no shuffling
            xb = torch.from_numpy(x[i : i + b]).to(dev)
            yb = torch.from_numpy(y[i : i + b]).to(dev)
            loss = torch.mean(torch.abs(model(xb) - yb))
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()  # read back every step
    sync()
    t_train = time.perf_counter() - t1
    t2 = time.perf_counter()
    with torch.no_grad():
        vol = evaluate_grid(lambda p: model(p), cfg.recon.resolution, dev, cfg.recon.chunk).cpu()
    extract_surface(vol)
    t_recon = time.perf_counter() - t2
    return {"sampling_s": t_sample, "train_s": t_train, "reconstruction_s": t_recon,
            "sample_train_reconstruct_s": t_sample + t_train + t_recon}  # fmt: skip
