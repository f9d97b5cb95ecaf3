"""The flat Adam used by the captured training step follows torch's Adam (checked here on the CPU)."""

from __future__ import annotations

import copy

import pytest
import torch

from isoscope.core.sdf.network import SDFNet
from isoscope.core.sdf.packed import PackedMLP
from isoscope.core.sdf.step import EagerStep, FlatAdam, optimise

from support import lockstep


def test_flat_adam_follows_torch_adam():
    torch.manual_seed(0)
    x = torch.rand(512, 3) * 2 - 1
    y = x.norm(dim=1) - 0.5
    ref = SDFNet([32, 16])
    flat = copy.deepcopy(ref)
    opts = [torch.optim.Adam(ref.parameters(), lr=2e-3), FlatAdam(flat.parameters(), lr=2e-3)]
    lockstep((ref, flat), opts, x, y, steps=30, stride=16, size=64)
    for a, b in zip(ref.parameters(), flat.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert flat.net[0].weight.data_ptr() == opts[1].flat.data_ptr()  # the parameters live in the buffer


def test_eager_step_accumulates_the_running_loss():
    torch.manual_seed(0)
    net = SDFNet([8])
    opt = FlatAdam(net.parameters(), lr=1e-3)
    x = torch.rand(64, 3)
    running = torch.zeros(())
    losses = []

    def loss_of(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss = net(x[idx]).abs().mean()
        losses.append(float(loss.detach()))
        return loss, loss

    step = EagerStep(opt, loss_of, running)
    before = net.net[0].weight.detach().clone()
    for _ in range(3):
        step(torch.arange(32))
    assert abs(float(running) - sum(losses)) < 1e-5
    assert not torch.equal(before, net.net[0].weight)


@pytest.mark.parametrize("low", [False, True])
def test_packed_backward_writes_the_optimiser_buffer_and_zeroing_in_place_trains_the_same(low):
    """The packed backward writes its gradients into FlatAdam's buffer (no concatenation); zeroing them in
    place instead of to None (as the eager part of a graph step does) neither adds them twice nor differs."""
    torch.manual_seed(0)
    x = torch.rand(1024, 3) * 2 - 1
    y = x.norm(dim=1) - 0.5
    nets = [PackedMLP([SDFNet([160, 160, 16])]) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    opts = [FlatAdam(n.parameters(), lr=2e-3) for n in nets]
    for n in nets:
        n.low = low
    for step in range(6):
        idx = torch.arange(step * 128, step * 128 + 256) % len(x)
        for n, opt, to_none in zip(nets, opts, (True, False), strict=True):
            loss = (n(x[idx]) - y[idx]).abs().mean()
            optimise(opt, loss, set_to_none=to_none)
            assert opt._grads_in_buffer()  # set to None: the backward wrote there; in place: they were there
    for a, b in zip(*(n.weights for n in nets), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert opts[0].grad.abs().sum() > 0


def test_adam_moments_of_a_silent_unit_leave_the_denormal_range():
    """A unit whose gradient stops: its first moment decays into denormals (20x slower arithmetic on a CPU)
    and would stay there; FlatAdam sets such moments to zero, and the weights move as torch's Adam moves them."""
    from isoscope.core.sdf.step import FLUSH_EVERY

    w = torch.nn.Parameter(torch.ones(64))
    ref = torch.nn.Parameter(torch.ones(64))
    opts = [FlatAdam([w], lr=1e-3), torch.optim.Adam([ref], lr=1e-3)]
    tiny = torch.finfo(torch.float32).tiny
    for step in range(1, 40 * FLUSH_EVERY + 1):
        for p, opt in zip((w, ref), opts, strict=True):
            p.grad = torch.full_like(p, 1e-3 if step <= 5 else 0.0)
            opt.step()
    m = opts[0].state["flat"]["exp_avg"]
    ref_m = opts[1].state[ref]["exp_avg"]
    assert ((ref_m != 0) & (ref_m.abs() < tiny)).all()  # torch's moment is stuck among the denormals
    assert not ((m != 0) & (m.abs() < tiny)).any()
    torch.testing.assert_close(w.detach(), ref.detach(), rtol=1e-6, atol=0)
