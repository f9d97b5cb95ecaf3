"""An SDF auto-decoder (DeepSDF-style: one latent code per part, one shared MLP) over isoscope's sample
parts, written with the Python API: the window follows it live (``isoscope RUN_DIR``), with the mesh of one
part reconstructed at the end of every epoch.

    python examples/autodecoder.py [--epochs 10] [--points 16000] [--outputDir DIR]

Runs on the CPU in well under a minute (a GPU is used when there is one).
"""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch
from torch import nn

import isoscope
from isoscope.core.mesh.part import load_part
from isoscope.core.sdf.distance import MeshSDF
from isoscope.core.sdf.reconstruct import evaluate_grid, extract_surface

CLAMP = 0.1  # DeepSDF's clamped L1


def sdf_samples(path: Path, n: int, gen: np.random.Generator) -> torch.Tensor:
    """(n, 4) points and signed distances of one part, in its unit cube: half near the surface, half anywhere."""
    part = load_part(path)
    verts, faces = part.normalised_vertices, part.faces
    tri = verts[faces[gen.integers(0, len(faces), n // 2)]]
    w = gen.dirichlet(np.ones(3), n // 2)[:, :, None]
    near = (tri * w).sum(1) + gen.normal(0.0, 0.03, (n // 2, 3))
    pts = torch.from_numpy(np.concatenate([near, gen.uniform(-1, 1, (n - n // 2, 3))]).astype(np.float32))
    return torch.cat([pts, MeshSDF(verts, faces)(pts, report=False)[:, None]], 1)


class Decoder(nn.Module):
    """f(latent code, xyz) -> signed distance."""

    def __init__(self, parts: int, latent: int = 32, width: int = 128) -> None:
        super().__init__()
        self.codes = nn.Embedding(parts, latent)
        nn.init.normal_(self.codes.weight, 0.0, 0.01)
        self.mlp = nn.Sequential(nn.Linear(latent + 3, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1), nn.Tanh())  # fmt: skip

    def forward(self, part: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([self.codes(part), xyz], 1)).squeeze(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--points", type=int, default=16_000, help="samples per part")
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--res", type=int, default=40, help="marching-cubes grid of the mesh logged each epoch")
    ap.add_argument("--outputDir", default=None, help="runs root (default: isoscope's)")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    parts = sorted(Path(str(files("isoscope.resources") / "parts")).glob("*.stl"))
    model = Decoder(len(parts)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with isoscope.init(name="autodecoder", config=vars(args), root=args.outputDir) as run:
        with run.phase("load"):
            gen = np.random.default_rng(0)
            data = [sdf_samples(p, args.points, gen) for p in parts]
            ids = torch.cat([torch.full((len(d),), i) for i, d in enumerate(data)]).to(device)
            data = torch.cat(data).to(device)
        step = 0
        first = torch.zeros(1, dtype=torch.long, device=device)  # the part whose mesh is logged
        for _ in range(args.epochs):
            order = torch.randperm(len(data), device=device)
            for s in range(0, len(order), args.batch):
                with run.phase("data"):
                    idx = order[s : s + args.batch]
                    part, xyz, sdf = ids[idx], data[idx, :3], data[idx, 3]
                with run.phase("step"):
                    with run.phase("forward"):
                        pred = model(part, xyz)
                        loss = (pred.clamp(-CLAMP, CLAMP) - sdf.clamp(-CLAMP, CLAMP)).abs().mean()
                        loss = loss + 1e-4 * model.codes(part).pow(2).sum(1).mean()
                    with run.phase("backward"):
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                    with run.phase("optimizer"):
                        opt.step()
                step += 1
                run.log(step, loss=loss)
            with run.phase("reconstruct"), torch.no_grad():
                volume = evaluate_grid(lambda p: model(first.expand(len(p)), p), args.res, device, 1 << 16)
                surface = extract_surface(volume)
            if surface is not None:
                run.mesh(parts[0].stem, surface[0].cpu().numpy(), surface[1].cpu().numpy())
            run.epoch()
    print(f"run written to {run.path}")


if __name__ == "__main__":
    main()
