"""What the Python API costs per training step: the same steps bare and instrumented.

Each step is a small MLP's forward, backward and Adam step on a fixed batch, sized to take about 1 ms and
about 10 ms here. The instrumented loop wraps it as a script would: ``run.phase`` for data, step and,
nested in step, forward, backward and optimizer, ``run.log(step, loss=loss)`` with the loss tensor, and
``run.epoch()`` every 200 steps (``print_tables=False``, runs in a temporary folder). Bare and
instrumented repeats alternate (ABBA order, so a slow drift of a shared machine falls on both); the
medians give the overhead in µs per step and as a share of the bare step. A row without any work (the
API calls alone) measures the per-step cost directly. Only the step loops are timed, not ``init`` or
``finish``. On a shared machine whose speed drifts by more than the overhead, the end-to-end rows are
noise and the API-alone row is the figure to read. Where CUDA is available the workloads run there too
(one synchronisation at each loop's end).

    python benchmarks/api_overhead.py [--steps N] [--repeats R] [--threads T]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import isoscope
from isoscope.core.machine import cpu_description

EPOCH_STEPS = 200
WIDTHS = (16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)


class Workload:
    """An MLP (in -> width -> width -> 1) trained with Adam on a few fixed batches."""

    def __init__(self, width: int, device: str, batch: int = 256, d_in: int = 64) -> None:
        g = torch.Generator().manual_seed(0)
        self.device = device
        self.width = width
        self.model = torch.nn.Sequential(
            torch.nn.Linear(d_in, width), torch.nn.ReLU(), torch.nn.Linear(width, width), torch.nn.ReLU(),
            torch.nn.Linear(width, 1),
        ).to(device)  # fmt: skip
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.x = torch.randn(8, batch, d_in, generator=g).to(device)
        self.y = torch.randn(8, batch, 1, generator=g).to(device)

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def bare(self, steps: int) -> float:
        """Seconds for ``steps`` plain steps."""
        self.sync()
        t0 = time.perf_counter()
        for step in range(steps):
            xb, yb = self.x[step % 8], self.y[step % 8]
            loss = torch.nn.functional.mse_loss(self.model(xb), yb)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        self.sync()
        return time.perf_counter() - t0

    def instrumented(self, steps: int, root: Path) -> float:
        """Seconds for ``steps`` steps written as a run."""
        run = isoscope.init(name="overhead", root=root, print_tables=False, device=self.device)
        self.sync()
        t0 = time.perf_counter()
        for step in range(steps):
            with run.phase("data"):
                xb, yb = self.x[step % 8], self.y[step % 8]
            with run.phase("step"):
                with run.phase("forward"):
                    loss = torch.nn.functional.mse_loss(self.model(xb), yb)
                with run.phase("backward"):
                    self.opt.zero_grad(set_to_none=True)
                    loss.backward()
                with run.phase("optimizer"):
                    self.opt.step()
            run.log(step, loss=loss)
            if (step + 1) % EPOCH_STEPS == 0:
                run.epoch()
        self.sync()
        seconds = time.perf_counter() - t0
        run.finish()
        return seconds


def api_only(steps: int, root: Path, device: str) -> float:
    """Seconds for ``steps`` steps of API calls around no work (a constant loss tensor)."""
    loss = torch.tensor(1.0, device=device)
    run = isoscope.init(name="api-only", root=root, print_tables=False, device=device)
    t0 = time.perf_counter()
    for step in range(steps):
        with run.phase("data"):
            pass
        with run.phase("step"):
            with run.phase("forward"):
                pass
            with run.phase("backward"):
                pass
            with run.phase("optimizer"):
                pass
        run.log(step, loss=loss)
        if (step + 1) % EPOCH_STEPS == 0:
            run.epoch()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    run.finish()
    return seconds


def calibrate(target_s: float, device: str) -> Workload:
    """The workload whose step time is nearest ``target_s`` (on a log scale)."""
    best: tuple[float, Workload] | None = None
    for width in WIDTHS:
        w = Workload(width, device)
        w.bare(5)
        per_step = min(w.bare(10) / 10 for _ in range(3))  # the least disturbed of three
        miss = abs(math.log(per_step / target_s))
        if best is None or miss < best[0]:
            best = (miss, w)
        if per_step > target_s:
            break
    assert best is not None
    return best[1]


def compare(bare: Callable[[], float], inst: Callable[[], float], steps: int, repeats: int) -> dict[str, Any]:
    """Seconds per step, bare and instrumented, over alternating repeats (after one warm-up of each)."""
    bare()
    inst()
    b: list[float] = []
    i: list[float] = []
    for r in range(repeats):
        order = [(bare, b), (inst, i)] if r % 2 == 0 else [(inst, i), (bare, b)]
        for fn, out in order:
            out.append(fn() / steps)
    return {"bare": b, "inst": i}


def report(label: str, steps: int, res: dict[str, Any], api: float) -> None:
    b, i = res["bare"], res["inst"]
    mb, mi = statistics.median(b), statistics.median(i)
    paired = statistics.median(x - y for x, y in zip(i, b, strict=True))
    print(f"{label} ({steps} steps/repeat, {len(b)} repeats each)")
    print(f"  bare         median {mb * 1e6:9.1f} µs/step, best {min(b) * 1e6:9.1f}, worst {max(b) * 1e6:9.1f}")
    print(f"  instrumented median {mi * 1e6:9.1f} µs/step, best {min(i) * 1e6:9.1f}, worst {max(i) * 1e6:9.1f}")
    for name, over in (("medians", mi - mb), ("paired repeats", paired), ("best of each", min(i) - min(b))):
        print(f"  overhead, {name:<15} {over * 1e6:8.1f} µs/step = {100 * over / mb:6.2f} % of the bare step")
    print(f"  API calls alone          {api * 1e6:8.1f} µs/step = {100 * api / mb:6.2f} % of the bare step")


def bench_device(device: str, steps: int, repeats: int, root: Path) -> None:
    api_steps = max(steps * 10, 2000)
    per_call = statistics.median(api_only(api_steps, root, device) / api_steps for _ in range(repeats))
    print(f"[{device}] API calls alone (5 phases + log, epoch every {EPOCH_STEPS}): {per_call * 1e6:.1f} µs/step "
          f"(median of {repeats} x {api_steps} steps)")  # fmt: skip
    for target, n in ((1e-3, steps), (1e-2, max(EPOCH_STEPS, steps // 5))):
        w = calibrate(target, device)
        res = compare(lambda w=w, n=n: w.bare(n), lambda w=w, n=n: w.instrumented(n, root), n, repeats)
        report(f"[{device}] ~{target * 1e3:.0f} ms step: MLP width {w.width}, batch 256, Adam", n, res, per_call)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="steps per repeat (the ~10 ms step runs 1/5)")
    parser.add_argument("--repeats", type=int, default=5, help="bare and instrumented repeats each")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {cpu_description()} ({platform.processor() or platform.machine()}), {platform.system()}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, torch threads "
          f"{torch.get_num_threads()}, os.cpu_count {os.cpu_count()}, isoscope {isoscope.__version__}")  # fmt: skip
    cuda = torch.cuda.is_available()
    if cuda:
        print(f"cuda: {torch.cuda.get_device_name(0)}")
    print()
    with tempfile.TemporaryDirectory(prefix="isoscope-api-overhead-") as tmp:
        bench_device("cpu", args.steps, args.repeats, Path(tmp))
        if cuda:
            print()
            bench_device("cuda", args.steps, args.repeats, Path(tmp))


if __name__ == "__main__":
    main()
