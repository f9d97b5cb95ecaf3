"""Where a training step's GPU time goes: replay times of the captured step in each precision and batch,
and the kernels of one eager step (torch.profiler), for the DAM network of the seed presets.

    python benchmarks/step_profile.py            # on a CUDA machine; prints tables
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import config as C  # noqa: E402
from core.model import build_model  # noqa: E402
from core.train_step import GraphStep, make_adam, set_precision  # noqa: E402


def replay_ms(precision: str, batch: int, n: int = 1_000_000, reps: int = 400) -> float:
    dev = torch.device("cuda")
    set_precision(dev, precision)
    model = build_model(C.preset("high").model).to(dev)
    opt = make_adam(model.parameters(), 1e-3, dev, True)
    x = torch.rand(n, 3, device=dev) * 2 - 1
    y = x.norm(dim=1) - 0.5
    running = torch.zeros((), device=dev)
    bf16 = precision == "bf16"

    def loss_of(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):
            loss = (model(x[idx]).float() - y[idx]).abs().mean()
        return loss, loss

    step = GraphStep(opt, loss_of, running, (batch,))
    perm = torch.randperm(n, device=dev)
    step.capture()
    times = []
    for r in range(5):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for k in range(reps):
            j = (k * batch) % (n - batch)
            step(perm[j : j + batch])
        e.record()
        e.synchronize()
        if r:
            times.append(s.elapsed_time(e) / reps)
    # the graph alone, replayed back to back (no index copy, no Python between replays)
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(reps):
        step.graph.replay()
    e.record()
    e.synchronize()
    print(f"{precision:5s} batch {batch:5d}: step {statistics.median(times):.3f} ms "
          f"({batch / statistics.median(times) / 1e3:.2f} M samples/s), "
          f"graph alone {s.elapsed_time(e) / reps:.3f} ms")  # fmt: skip
    return statistics.median(times)


def kernels(precision: str, batch: int = 1024) -> None:
    dev = torch.device("cuda")
    set_precision(dev, precision)
    model = build_model(C.preset("high").model).to(dev)
    opt = make_adam(model.parameters(), 1e-3, dev, False)
    x = torch.rand(batch, 3, device=dev)
    y = x.norm(dim=1)
    for _ in range(3):
        loss = (model(x) - y).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(10):
            loss = (model(x) - y).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
    evs = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    total = sum(e.device_time for e in evs) / 10
    print(f"\n{precision}, batch {batch}: {len(evs) / 10:.0f} kernels a step, {total:.1f} us of kernel time a step")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=14, max_name_column_width=70))


if __name__ == "__main__":
    print(torch.cuda.get_device_name(), torch.__version__)
    for prec in ("tf32", "fp32", "bf16"):
        replay_ms(prec, 1024)
    for b in (2048, 4096, 16384):
        replay_ms("tf32", b)
    kernels("tf32")
