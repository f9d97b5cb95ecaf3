"""PackedMLP computes and trains as the SDFNet it was built from, and its inert units stay exactly zero."""

from __future__ import annotations

import copy

import pytest
import torch

from isoscope.core.sdf.network import SDFNet
from isoscope.core.sdf.packed import PackedMLP
from isoscope.core.sdf.step import make_adam

from support import lockstep

WIDTHS = [33, 44, 35, 7]  # odd, like the DAM widths


def _linears(net: SDFNet) -> list[torch.nn.Linear]:
    return [m for m in net.net if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize("batched", [False, True])
def test_forward_and_gradients_equal_autograd(batched):
    torch.manual_seed(0)
    nets = [SDFNet(WIDTHS).double() for _ in range(3 if batched else 1)]
    packed = PackedMLP(nets, batched=batched).double()
    x = torch.randn(len(nets), 257, 3, dtype=torch.double)
    y = x.norm(dim=-1) - 0.5
    ref = torch.stack([net(x[p]) for p, net in enumerate(nets)])
    out = packed(x) if batched else packed(x[0])[None]
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    (ref - y).abs().mean(-1).sum().backward()
    (out - y).abs().mean(-1).sum().backward()
    for k, w in enumerate(packed.weights):
        grad = w.grad if batched else w.grad[None]
        for p, net in enumerate(nets):
            lin = _linears(net)[k]
            o, i = lin.out_features, lin.in_features
            torch.testing.assert_close(grad[p, :o, :i], lin.weight.grad, rtol=0, atol=1e-12)
            torch.testing.assert_close(grad[p, :o, -1], lin.bias.grad, rtol=0, atol=1e-12)
            assert not grad[p, o:].any() and not grad[p, :, i:-1].any()  # the inert units get nothing
    with torch.no_grad():  # the evaluation path (no persistent buffers) gives the same values
        again = packed(x) if batched else packed(x[0])[None]
    torch.testing.assert_close(again, ref.detach(), rtol=0, atol=1e-12)


def test_trains_as_the_network_and_writes_back():
    torch.manual_seed(0)
    net = SDFNet(WIDTHS)
    ref = copy.deepcopy(net)
    packed = PackedMLP([net])
    opts = [make_adam(ref.parameters(), 2e-3), make_adam(packed.parameters(), 2e-3)]
    x = torch.rand(2048, 3) * 2 - 1
    y = x.norm(dim=1) - 0.5
    lockstep((ref, packed), opts, x, y, steps=40, stride=64, size=256)
    for w, lin in zip(packed.weights, _linears(net), strict=True):
        assert not w[lin.out_features :].any() and not w[:, lin.in_features : -1].any()
    packed.copy_to([net])
    for a, b in zip(ref.parameters(), net.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(packed(x).detach(), ref(x).detach(), rtol=1e-4, atol=1e-4)


def test_group_weights_load_into_a_part():
    torch.manual_seed(0)
    nets = [SDFNet(WIDTHS) for _ in range(3)]
    group = PackedMLP(nets, batched=True)
    one = PackedMLP([SDFNet(WIDTHS)])
    one.load_part(group, 2)
    x = torch.randn(100, 3)
    with torch.no_grad():
        torch.testing.assert_close(one(x), nets[2](x))


def test_bf16_autocast_runs_the_plain_path():
    torch.manual_seed(0)
    net = SDFNet(WIDTHS)
    packed = PackedMLP([net])
    x = torch.randn(64, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = packed(x)
        out.float().abs().mean().backward()
    torch.testing.assert_close(out.float(), net(x).detach(), rtol=0.05, atol=0.05)
    assert all(w.grad is not None for w in packed.weights)


def test_gradient_with_respect_to_the_points():
    torch.manual_seed(0)
    net = SDFNet(WIDTHS).double()
    packed = PackedMLP([net]).double()
    x = torch.randn(50, 3, dtype=torch.double, requires_grad=True)
    (g_packed,) = torch.autograd.grad(packed(x).sum(), x)
    (g_net,) = torch.autograd.grad(net(x).sum(), x)
    torch.testing.assert_close(g_packed, g_net, rtol=0, atol=1e-12)
