"""An SDFNet's function in GPU-friendly storage: aligned widths, the bias as a weight column, a hand-written backward.

The DAM widths (333, 442, 351, ...) are odd, so every matrix multiply of the seed network misses the
tensor cores' alignment, and each layer's bias gradient is a reduction kernel of its own. ``PackedMLP``
holds the same network differently:

* every layer input is stored ``round_up(width + 1, align)`` columns wide: the network's units, then
  inert zero units, then a constant 1;
* the bias is the weight column that meets the constant 1, so one multiply gives a layer's output with
  its bias, and one multiply gives the weight and bias gradients together;
* the activations live in persistent buffers (one set per batch size) whose constant column is written
  once, so no step spends a kernel on it.

The inert units have zero weights in and out and a zero bias: ReLU(0) = 0 and ReLU'(0) = 0, so their
gradients are exactly zero and Adam leaves them at zero. ``PackedMLP(net)`` therefore computes
``net``'s function, and trains as ``net`` trains (to rounding): a test checks both against autograd.
``copy_to`` writes the weights back into the SDFNet, which is what is saved.
"""

from __future__ import annotations

import torch
from torch import nn

from core.model import SDFNet


def _round_up(n: int, align: int) -> int:
    return -(-n // align) * align


class PackedMLP(nn.Module):
    """x (N, 3) -> (N,), the function of the SDFNet it was built from."""

    def __init__(self, net: SDFNet, align: int = 8) -> None:
        super().__init__()
        linears = [m for m in net.net if isinstance(m, nn.Linear)]
        self.widths = list(net.widths)
        self.dims = [3, *self.widths]  # logical input width of each layer
        self.cols = [_round_up(d + 1, align) for d in self.dims]  # stored input width (constant 1 last)
        self.weights = nn.ParameterList()
        for k, lin in enumerate(linears):
            rows = self.cols[k + 1] - 1 if k + 1 < len(linears) else 1
            w = torch.zeros(rows, self.cols[k], dtype=lin.weight.dtype, device=lin.weight.device)
            w[: lin.out_features, : lin.in_features] = lin.weight.detach()
            w[: lin.out_features, -1] = lin.bias.detach()
            self.weights.append(nn.Parameter(w))
        self._buffers_by_batch: dict[tuple[int, torch.device], list[torch.Tensor]] = {}

    @torch.no_grad()
    def copy_to(self, net: SDFNet) -> None:
        """Write the weights and biases back into ``net`` (the network this was built from)."""
        linears = [m for m in net.net if isinstance(m, nn.Linear)]
        for w, lin in zip(self.weights, linears, strict=True):
            lin.weight.copy_(w[: lin.out_features, : lin.in_features])
            lin.bias.copy_(w[: lin.out_features, -1])

    def activations(self, n: int, like: torch.Tensor) -> list[torch.Tensor]:
        """Persistent (n, cols) input buffers of every layer, zero but for the constant last column."""
        key = (n, like.device)
        bufs = self._buffers_by_batch.get(key)
        if bufs is None or bufs[0].dtype != like.dtype:
            if len(self._buffers_by_batch) >= 4:  # batch sizes come and go (validation, reconstruction chunks)
                self._buffers_by_batch.clear()
            bufs = [torch.zeros(n, c, dtype=like.dtype, device=like.device) for c in self.cols]
            for b in bufs:
                b[:, -1] = 1
            self._buffers_by_batch[key] = bufs
        return bufs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ws = list(self.weights)
        if not torch.is_grad_enabled():
            return _forward(x, ws, self.activations(x.shape[0], ws[0]))[-1].squeeze(-1)
        return _PackedFn.apply(x, self, *ws).squeeze(-1)


def _forward(x: torch.Tensor, ws: list[torch.Tensor], bufs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Fill the buffers layer by layer; return them and the output (N, 1)."""
    bufs[0][:, : x.shape[1]].copy_(x)
    for k, w in enumerate(ws[:-1]):
        h = bufs[k + 1][:, :-1]
        torch.mm(bufs[k], w.t(), out=h)
        h.relu_()
    return [*bufs, bufs[-1] @ ws[-1].t()]


class _PackedFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, mlp: PackedMLP, *ws: torch.Tensor) -> torch.Tensor:
        outs = _forward(x, list(ws), mlp.activations(x.shape[0], ws[0]))
        ctx.save_for_backward(*outs[:-1], *ws)
        ctx.depth = len(ws)
        return outs[-1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        saved = ctx.saved_tensors
        hs, ws = saved[: ctx.depth], saved[ctx.depth :]
        grads: list[torch.Tensor | None] = [None] * ctx.depth
        g = grad.contiguous()
        for k in range(ctx.depth - 1, -1, -1):
            grads[k] = g.t() @ hs[k]  # weights and, in the last column, the bias
            if k:
                # The gradient at layer k's input, through the ReLU; computed for the whole aligned row
                # (the constant column's share is dropped by the view) so the next multiplies stay aligned.
                g = torch.ops.aten.threshold_backward(g @ ws[k], hs[k], 0.0)[:, :-1]
        return (None, None, *grads)
