"""The flat Adam used by the captured training step follows torch's Adam (checked here on the CPU)."""

from __future__ import annotations

import copy

import torch

from isoscope.core.sdf.network import SDFNet
from isoscope.core.sdf.step import EagerStep, FlatAdam

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
