"""What ``isoscope-run`` costs a training script: the same steps with and without its timing, interleaved.

The script's shape: a DataLoader over tensors, an MLP, Adam (widths chosen so that one step takes about
1 ms and about 10 ms on this machine). Blocks of steps alternate between plain and timed the way
``isoscope-run`` times an unchanged script (:class:`isoscope.core.watch.Watch`: every batch, top-level
module call, backward and optimizer step timed, each step logged with its loss), in one process, so
that the slow drift of a shared machine falls on both; the medians of the blocks give the overhead as a
share of the script's own throughput. Steps are measured in the process's CPU time, which the time a
shared virtual machine loses to its neighbours does not inflate (torch runs on one thread, so that no
thread's spin-waiting is counted). A first row with almost no work per step (width 1, batch 4) gives
the cost itself in µs per step, which a shared machine's noise hides in the others.

    python benchmarks/run_overhead.py [--blocks 40] [--block-steps 100]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, TensorDataset

from isoscope import __version__
from isoscope.core.api import init
from isoscope.core.machine import cpu_description
from isoscope.core.watch import Watch


class Script:
    """The training script's loop, resumable: ``steps(n)`` runs the next n steps."""

    def __init__(self, width: int, batch: int = 256) -> None:
        torch.manual_seed(0)
        x = torch.randn(batch * 64, 64)
        self.loader = DataLoader(TensorDataset(x, x[:, :1]), batch_size=batch, shuffle=True)
        self.model = torch.nn.Sequential(torch.nn.Linear(64, width), torch.nn.ReLU(), torch.nn.Linear(width, width),
                                         torch.nn.ReLU(), torch.nn.Linear(width, 1))  # fmt: skip
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.batches: Iterator = iter(())

    def steps(self, n: int) -> float:
        """Seconds of this process's CPU time per step over the next ``n`` steps (CPU time, not wall time:
        a shared virtual machine's stolen time would swamp the difference)."""
        t0 = time.process_time()
        for _ in range(n):
            batch = next(self.batches, None)
            if batch is None:
                self.batches = iter(self.loader)
                batch = next(self.batches)
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.model(x), y)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        return (time.process_time() - t0) / n


def step_width(target_s: float) -> int:
    """The width whose step takes about ``target_s`` here."""
    for width in (16, 32, 64, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048):
        script = Script(width)
        script.steps(5)
        if min(script.steps(10) for _ in range(3)) >= target_s:
            return width
    return 2048


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=40, help="blocks of each kind, alternating")
    ap.add_argument("--block-steps", type=int, default=100, help="steps per block (a tenth of it at ~10 ms)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {cpu_description()}, {platform.system()}; python {platform.python_version()}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), isoscope {__version__}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        sizes = ((0.0, 1, 4, args.block_steps), (1e-3, None, 256, args.block_steps),
                 (10e-3, None, 256, max(args.block_steps // 10, 5)))  # fmt: skip
        for target, width, batch, n in sizes:
            script = Script(width or step_width(target), batch)
            run = init(name="overhead", root=tmp, print_tables=False)
            watch = Watch(run)
            plain: list[float] = []
            timed: list[float] = []
            script.steps(n)
            for _ in range(args.blocks):
                plain.append(script.steps(n))
                with watch:
                    timed.append(script.steps(n))
            watch.finish("done", None)
            p, t = statistics.median(plain), statistics.median(timed)
            size = f"~{target * 1e3:.0f} ms step" if target else "no work"
            print(f"{size}: {p * 1e3:.3f} ms plain, {t * 1e3:.3f} ms timed (medians of "
                  f"{args.blocks} blocks of {n} steps): {1e6 * (t - p):+.0f} µs per step, throughput "
                  f"{100 * (p / t - 1):+.2f}%; {watch.step} steps logged")  # fmt: skip


if __name__ == "__main__":
    main()
