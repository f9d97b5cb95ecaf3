"""Reference training steps that ``isoscope-bench`` sets the job's step beside on a CPU.

plain: the same network as a plain PyTorch script would build it (``nn.Linear`` and ReLU, fp32, eager,
``torch.optim.Adam``, the L1 loss), which the bench times in rounds alternating with the job's step.
keras: the same network, initialisation, optimiser and loss in Keras (TensorFlow, the seed trainer's
framework), run by one ``model.fit`` as the seed trainer runs it, in a process of its own (as the seed
trainer has it: no torch beside it), the median of several epochs; only where TensorFlow is installed
(benchmark-only, never a dependency).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from isoscope.core import config as C
from isoscope.core.config import hidden_widths
from isoscope.core.sdf.network import SDFNet

KERAS_SCRIPT = Path(__file__).with_name("keras_reference.py")


def plain_step(cfg: C.RunConfig, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    """One step of a plain eager fp32 PyTorch script training the job's network on the CPU, per call."""
    torch.manual_seed(0)
    net = SDFNet(hidden_widths(cfg.model), cfg.model.init).net
    opt = torch.optim.Adam(net.parameters(), lr=cfg.train.learning_rate)
    b = cfg.train.batch_size
    x, y = x.detach().cpu().float(), y.detach().cpu().float()[:, None]
    batches = max(len(x) // b, 1)
    k = 0

    def step() -> None:
        nonlocal k
        xb, yb = x[(k % batches) * b : (k % batches + 1) * b], y[(k % batches) * b : (k % batches + 1) * b]
        loss = (net(xb) - yb).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        k += 1

    return step


def keras_reference(
    cfg: C.RunConfig, x: torch.Tensor, y: torch.Tensor, steps: int, python: str | None = None, epochs: int = 5
) -> dict | None:
    """The same network and step in Keras, in ``python`` (this interpreter by default): {"version",
    "samples_per_s"} (``model.fit`` of ``steps`` batches an epoch, after a warm-up epoch that traces the
    graph; the median of ``epochs``), or None where TensorFlow cannot be imported there."""
    b = cfg.train.batch_size
    n = b * steps  # every epoch ``steps`` whole batches: fewer points are repeated, so model.fit's fixed cost
    # per epoch weighs as it does on a real training set
    spec = {
        "widths": hidden_widths(cfg.model), "init": cfg.model.init, "lr": cfg.train.learning_rate, "batch": b,
        "epochs": epochs,
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="isoscope-keras-") as tmp:
        data = Path(tmp) / "data.npz"
        host = lambda t: np.resize(t.detach().cpu().numpy().astype(np.float32), (n, *t.shape[1:]))  # noqa: E731
        np.savez(data, x=host(x), y=host(y))
        # The script's text runs from the temporary folder: its own folder holds modules (inspect.py) that
        # would shadow the standard library's.
        cmd = [python or sys.executable, "-c", KERAS_SCRIPT.read_text(), str(data), json.dumps(spec)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tmp)
        except OSError:  # not an interpreter
            return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])
