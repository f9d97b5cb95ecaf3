"""Where a training step's GPU time goes: replay times of the captured step in each precision and batch,
and the kernels of one eager step (torch.profiler), for the DAM network of the seed presets. Also the
captured step of groups of parts trained together (isoscope.core.sdf.group).

    python benchmarks/step_profile.py            # on a CUDA machine; prints tables
"""

from __future__ import annotations

import statistics
import sys

import torch

from isoscope.core import config as C
from isoscope.core.config import DAM_WIDTHS
from isoscope.core.sdf.network import SDFNet, build_model
from isoscope.core.sdf.packed import PackedMLP
from isoscope.core.sdf.step import GraphStep, make_adam, set_precision


def _seed_net() -> torch.nn.Module:
    return build_model(C.preset("high").model)


def _side_stream(net: PackedMLP) -> PackedMLP:
    net.overlap = True
    return net


JOB = "packed, align 16"  # what the jobs train
VARIANTS = {  # storage of the same DAM function (the padded one is a timing proxy only)
    "dam": _seed_net,
    "dam widths padded to 8": lambda: SDFNet([-(-w // 8) * 8 for w in DAM_WIDTHS[:10]]),
    "packed, align 8": lambda: PackedMLP([_seed_net()], align=8),
    "packed, align 16": lambda: PackedMLP([_seed_net()], align=16),
    "packed, align 32": lambda: PackedMLP([_seed_net()], align=32),
    "packed, align 16, side stream": lambda: _side_stream(PackedMLP([_seed_net()], align=16)),
}


def replay_ms(precision: str, batch: int, n: int = 1_000_000, reps: int = 400, variant: str = JOB) -> float:
    dev = torch.device("cuda")
    set_precision(dev, precision)
    model = VARIANTS[variant]().to(dev)
    opt = make_adam(model.parameters(), 1e-3)
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
    print(f"{variant:24s} {precision:5s} batch {batch:5d}: step {statistics.median(times):.3f} ms "
          f"({batch / statistics.median(times) / 1e3:.2f} M samples/s), "
          f"graph alone {s.elapsed_time(e) / reps:.3f} ms")  # fmt: skip
    return statistics.median(times)


def batched_ms(
    parts: int, batch: int, precision: str = "tf32", n: int = 200_000, reps: int = 200, overlap: bool = True
) -> float:
    """The captured step of ``parts`` networks trained together (isoscope.core.sdf.group), batch points each."""
    dev = torch.device("cuda")
    set_precision(dev, precision)
    net = PackedMLP([_seed_net() for _ in range(parts)], batched=True).to(dev)
    net.overlap = overlap
    opt = make_adam(net.parameters(), 1e-3)
    x = torch.rand(parts, n, 3, device=dev) * 2 - 1
    y = x.norm(dim=-1) - 0.5
    running = torch.zeros(parts, device=dev)
    bf16 = precision == "bf16"

    def loss_of(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xb = torch.gather(x, 1, idx[..., None].expand(-1, -1, 3))
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):
            per_part = (net(xb).float() - torch.gather(y, 1, idx)).abs().mean(1)
        return per_part.sum(), per_part

    step = GraphStep(opt, loss_of, running, (parts, batch))
    step.capture()
    idx = torch.stack([torch.randperm(n, device=dev)[:batch] for _ in range(parts)])
    for _ in range(10):
        step(idx)
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(reps):
        step(idx)
    e.record()
    e.synchronize()
    ms = s.elapsed_time(e) / reps
    print(f"{precision:5s} {parts:2d} parts x batch {batch:5d}{'' if overlap else ', one stream'}: step {ms:.3f} ms "
          f"({parts * batch / ms / 1e3:.2f} M samples/s)")  # fmt: skip
    return ms


def kernels(precision: str, batch: int = 1024, variant: str = JOB) -> None:
    dev = torch.device("cuda")
    set_precision(dev, precision)
    model = VARIANTS[variant]().to(dev)
    opt = make_adam(model.parameters(), 1e-3)
    x = torch.rand(batch, 3, device=dev)
    y = x.norm(dim=1)

    def steps(count: int) -> None:
        for _ in range(count):
            loss = (model(x) - y).abs().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        torch.cuda.synchronize()

    steps(3)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        steps(10)
    evs = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    total = sum(e.device_time for e in evs) / 10
    print(f"\n{variant}, {precision}, batch {batch}: {len(evs) / 10:.0f} kernels a step, "
          f"{total:.1f} us of kernel time a step")  # fmt: skip
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=14, max_name_column_width=70))


if __name__ == "__main__":
    print(torch.cuda.get_device_name(), torch.__version__)
    if sys.argv[1:] == ["overlap"]:  # weight gradients on a side stream, or not
        for v in (JOB, "packed, align 16, side stream"):
            for b in (1024, 2048):
                replay_ms("tf32", b, variant=v)
        for overlap in (True, False):
            batched_ms(8, 2048, overlap=overlap)
        sys.exit(0)
    if sys.argv[1:] == ["variants"]:
        for v in VARIANTS:
            for prec in ("tf32", "fp32"):
                replay_ms(prec, 1024, variant=v)
            replay_ms("tf32", 2048, variant=v)
        kernels("tf32", variant="dam")
        sys.exit(0)
    for prec in ("tf32", "fp32", "bf16"):
        replay_ms(prec, 1024)
    for b in (2048, 4096, 16384):
        replay_ms("tf32", b)
    for parts in (8, 16, 32):
        batched_ms(parts, 2048)
    batched_ms(8, 2048, "bf16")
    kernels("tf32")
