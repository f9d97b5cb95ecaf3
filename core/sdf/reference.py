"""Reference training steps that ``isoscope-bench`` sets the job's step beside on a CPU.

plain: the same network as a plain PyTorch script would build it (``nn.Linear`` and ReLU, fp32, eager,
``torch.optim.Adam``, the L1 loss). keras: the same network, initialisation, optimiser and loss in Keras
(TensorFlow, the seed trainer's framework), run by ``model.fit`` as the seed trainer runs it; only where
TensorFlow is installed (benchmark-only, never a dependency).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from isoscope.core import config as C
from isoscope.core.config import hidden_widths
from isoscope.core.sdf.network import SDFNet


def plain_step_rate(cfg: C.RunConfig, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Samples per second of a plain eager fp32 PyTorch step of the job's network on the CPU."""
    torch.manual_seed(0)
    net = SDFNet(hidden_widths(cfg.model), cfg.model.init).net
    opt = torch.optim.Adam(net.parameters(), lr=cfg.train.learning_rate)
    b = cfg.train.batch_size
    x, y = x.detach().cpu().float(), y.detach().cpu().float()[:, None]
    batches = max(len(x) // b, 1)

    def step(k: int) -> None:
        xb, yb = x[(k % batches) * b : (k % batches + 1) * b], y[(k % batches) * b : (k % batches + 1) * b]
        loss = (net(xb) - yb).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for k in range(5):
        step(k)
    t0 = time.perf_counter()
    for k in range(steps):
        step(k)
    return b * steps / (time.perf_counter() - t0)


def keras_version() -> str | None:
    """TensorFlow's version, or None where it is not installed."""
    try:
        import tensorflow as tf  # noqa: PLC0415 - optional, benchmark-only
    except ImportError:
        return None
    return str(tf.__version__)


def keras_step_rate(cfg: C.RunConfig, x: torch.Tensor, y: torch.Tensor, steps: int) -> float | None:
    """Samples per second of the same network and step in Keras (``model.fit``, one epoch of ``steps``
    batches after a warm-up epoch that traces the graph), or None without TensorFlow."""
    if keras_version() is None:
        return None
    import tensorflow as tf  # noqa: PLC0415

    tf.keras.utils.set_random_seed(0)
    init = "he_uniform" if cfg.model.init == "he_uniform" else "glorot_uniform"
    layers = [tf.keras.Input(shape=(3,))]
    layers += [tf.keras.layers.Dense(w, activation="relu", kernel_initializer=init) for w in hidden_widths(cfg.model)]
    model = tf.keras.Sequential([*layers, tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=cfg.train.learning_rate), loss="mae")
    b = cfg.train.batch_size
    n = min(len(x), b * steps)
    xs = x[:n].detach().cpu().numpy().astype(np.float32)
    ys = y[:n].detach().cpu().numpy().astype(np.float32)
    model.fit(xs[: b * 5], ys[: b * 5], batch_size=b, epochs=1, verbose=0, shuffle=False)
    t0 = time.perf_counter()
    model.fit(xs, ys, batch_size=b, epochs=1, verbose=0, shuffle=False)
    return n / (time.perf_counter() - t0)
