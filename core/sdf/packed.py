"""An SDFNet's function in GPU-friendly storage: aligned widths, the bias as a weight column, a hand-written backward.

The DAM widths (333, 442, 351, ...) are odd, so every matrix multiply of the seed network misses the
tensor cores' alignment, and each layer's bias gradient is a reduction kernel of its own. ``PackedMLP``
holds the same network differently:

* every layer input is stored ``round_up(width + 1, align)`` columns wide: the network's units, then
  inert zero units, then a constant 1;
* the bias is the weight column that meets the constant 1, so one multiply gives a layer's output with
  its bias, and one multiply gives the weight and bias gradients together;
* for a group of parts on CUDA, the backward pass computes each layer's weight gradients on a second
  stream, beside the input gradients that the layer below waits for;
* in training the activations live in persistent buffers (one set per batch size) whose constant column
  is written once, so no step spends a kernel on it. A forward pass with gradients must therefore be
  followed by its backward before the next forward pass of the same batch size, as in a training step;
* in bf16 on the CPU (``low``), the fp32 weights are copied once per step into bf16 working matrices
  with one more row, which carries the constant 1 through the layer (ReLU(1) = 1): every multiply writes
  an aligned, contiguous output, and AMX/AVX-512 bf16 units do the arithmetic (fp32 accumulation). The
  first layer and the narrow layers near the output stay fp32 (``LOW_MIN_WIDTH``). The weights, their
  gradients and Adam stay fp32.

The inert units have zero weights in and out and a zero bias: ReLU(0) = 0 and ReLU'(0) = 0, so their
gradients are exactly zero and Adam leaves them at zero. ``PackedMLP(net)`` therefore computes
``net``'s function, and trains as ``net`` trains (to rounding): a test checks both against autograd.
``copy_to`` writes the weights back into the SDFNet, which is what is saved. Several networks of the
same widths can be held as one (``batched``): the parts of a folder run trained together.
"""

from __future__ import annotations

import torch
from torch import nn

from isoscope.core.sdf.network import SDFNet
from isoscope.core.sdf.step import grad_slot

#: In the bf16 path, only layers at least this wide both ways multiply in bf16. The first layer (which reads
#: the coordinates: bf16 would round a point by up to 1/256 of its coordinate) and the narrow layers near the
#: output (3% of the DAM network's multiply-adds) stay in the weights' dtype, so the prediction is not
#: rounded to bf16's 8 bits on its way out.
LOW_MIN_WIDTH = 128


def _round_up(n: int, align: int) -> int:
    return -(-n // align) * align


class PackedMLP(nn.Module):
    """The function of one SDFNet, x (N, 3) -> (N,); or, with ``batched``, of several SDFNets of the same
    widths trained together, x (P, N, 3) -> (P, N): one batched multiply per layer across the parts."""

    def __init__(self, nets: list[SDFNet], batched: bool = False, align: int = 16) -> None:
        super().__init__()
        if not batched and len(nets) != 1:
            raise ValueError("an unbatched PackedMLP holds one network")
        self.batched = batched
        self.widths = list(nets[0].widths)
        self.cols = [_round_up(d + 1, align) for d in [3, *self.widths]]  # stored input width of each layer
        self.weights = nn.ParameterList()
        for k, layer in enumerate(zip(*(_linears(n) for n in nets), strict=True)):
            rows = self.cols[k + 1] - 1 if k + 1 < len(self.cols) else 1
            w = layer[0].weight.new_zeros(len(nets), rows, self.cols[k])
            for p, lin in enumerate(layer):
                w[p, : lin.out_features, : lin.in_features] = lin.weight.detach()
                w[p, : lin.out_features, -1] = lin.bias.detach()
            self.weights.append(nn.Parameter(w if batched else w[0].clone()))
        self._by_batch: dict[tuple, list[torch.Tensor]] = {}
        # On CUDA, weight gradients on a side stream (see side_stream). On an H100 this made a group of 8
        # parts x 2048 points 6% faster a step, one part at batch 1024 2% faster, and one part at batch 2048
        # 9% slower, so it is on for groups only.
        self.overlap = batched
        self._side: torch.cuda.Stream | None = None
        #: bf16 arithmetic for training and evaluation on the CPU (see the module doc); off: fp32.
        self.low = False
        self._work: dict[torch.dtype, list[torch.Tensor]] = {}

    def layer_weights(self) -> list[torch.Tensor]:
        """The packed weights, first layer first (read from the ParameterList's own dict: iterating the list
        takes 65 us, a dozen steps' worth of small operations)."""
        return [*self.weights._parameters.values()]

    def working_weights(self, dtype: torch.dtype) -> list[torch.Tensor]:
        """Working matrices in ``dtype`` (the first layer's in the weights' own: it reads the coordinates),
        refreshed from the weights: layer k's rows, then (but for the last layer) a row that maps the
        constant input column to the constant output column."""
        ws = self.layer_weights()
        work = self._work.get(dtype)
        if work is None or work[0].device != ws[0].device:
            work = []
            for k, w in enumerate(ws):
                extra = 0 if k == len(ws) - 1 else 1
                kind = dtype if k and min(w.shape[-2:]) >= LOW_MIN_WIDTH else w.dtype  # see LOW_MIN_WIDTH
                m = w.new_zeros(*w.shape[:-2], w.shape[-2] + extra, w.shape[-1], dtype=kind)
                if extra:
                    m[..., -1, -1] = 1
                work.append(m)
            self._work[dtype] = work
        with torch.no_grad():
            for w, m in zip(ws, work, strict=True):
                m[..., : w.shape[-2], :].copy_(w)
        return work

    def side_stream(self, device: torch.device) -> torch.cuda.Stream | None:
        """The stream that computes weight gradients on CUDA, beside the input gradients that the next
        layer down waits for: half of the backward multiplies leave the critical path (None on the CPU)."""
        if device.type != "cuda" or not self.overlap:
            return None
        if self._side is None or self._side.device != device:
            self._side = torch.cuda.Stream(device=device)
        return self._side

    @torch.no_grad()
    def copy_to(self, nets: list[SDFNet]) -> None:
        """Write the weights and biases back into ``nets`` (the networks this was built from)."""
        for k, layer in enumerate(zip(*(_linears(n) for n in nets), strict=True)):
            w = self.weights[k] if self.batched else self.weights[k][None]
            for p, lin in enumerate(layer):
                lin.weight.copy_(w[p, : lin.out_features, : lin.in_features])
                lin.bias.copy_(w[p, : lin.out_features, -1])

    def activations(self, lead: tuple[int, ...], like: torch.Tensor) -> list[torch.Tensor]:
        """Persistent (*lead, cols) input buffers of every layer, zero but for the constant last column."""
        key = (lead, like.device, like.dtype)
        bufs = self._by_batch.get(key)
        if bufs is None:
            if len(self._by_batch) >= 4:  # batch sizes come and go (validation, reconstruction chunks)
                self._by_batch.clear()
            bufs = [like.new_zeros(*lead, c) for c in self.cols]
            for b in bufs:
                b[..., -1] = 1
            self._by_batch[key] = bufs
        return bufs

    @torch.no_grad()
    def load_part(self, group: PackedMLP, p: int) -> None:
        """Take part ``p``'s weights from a batched PackedMLP of the same widths."""
        for w, g in zip(self.weights, group.weights, strict=True):
            w.copy_(g[p])

    @torch.no_grad()
    def evaluate_low(self, x: torch.Tensor) -> torch.Tensor:
        """The function in bf16 arithmetic (fp32 out), without gradients: a fast first look (reconstruction's
        coarse pass). Evaluation through ``forward`` stays fp32 whatever ``low`` says."""
        return _work_forward(x, self.working_weights(torch.bfloat16), self.cols[0])[-1].float().squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ws = self.layer_weights()
        if self.low and torch.is_grad_enabled() and not x.requires_grad:
            return _PackedLowFn.apply(x, self, *ws).squeeze(-1)
        if torch.is_grad_enabled() and not (x.requires_grad or torch.is_autocast_enabled(x.device.type)):
            return _PackedFn.apply(x, self, *ws).squeeze(-1)
        if not (torch.is_grad_enabled() or torch.is_autocast_enabled(x.device.type)):
            # Evaluation in the weights' dtype: working matrices with the constant row (aligned outputs,
            # no padding copies; each layer's input freed as the next is made).
            work = self.working_weights(ws[0].dtype)
            return _work_forward(x, work, self.cols[0])[-1].squeeze(-1)
        # bf16 autocast (whose casts do not write into given buffers) and gradients with respect to the
        # points (which the hand-written backward does not give): plain operations on the same weights.
        h = torch.nn.functional.pad(x, (0, self.cols[0] - x.shape[-1] - 1))
        for w in ws[:-1]:
            h = torch.nn.functional.pad(h, (0, 1), value=1.0)
            h = torch.relu(h @ w.mT)
        return (torch.nn.functional.pad(h, (0, 1), value=1.0) @ ws[-1].mT).squeeze(-1)


def _linears(net: SDFNet) -> list[nn.Linear]:
    return [m for m in net.net if isinstance(m, nn.Linear)]


def _forward(x: torch.Tensor, ws: list[torch.Tensor], bufs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Fill the buffers layer by layer; return them and the output (..., N, 1)."""
    bufs[0][..., : x.shape[-1]].copy_(x)
    for k, w in enumerate(ws[:-1]):
        h = bufs[k + 1][..., :-1]
        torch.matmul(bufs[k], w.mT, out=h)
        h.relu_()
    return [*bufs, bufs[-1] @ ws[-1].mT]


class _PackedFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, mlp: PackedMLP, *ws: torch.Tensor) -> torch.Tensor:
        outs = _forward(x, list(ws), mlp.activations(x.shape[:-1], ws[0]))
        ctx.save_for_backward(*outs[:-1], *ws)
        ctx.depth = len(ws)
        ctx.side = mlp.side_stream(x.device)
        ctx.params = ws
        return outs[-1]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        saved = ctx.saved_tensors
        hs, ws = saved[: ctx.depth], saved[ctx.depth :]
        grads: list[torch.Tensor | None] = [None] * ctx.depth
        g = grad.contiguous()
        main, side = torch.cuda.current_stream() if ctx.side else None, ctx.side
        for k in range(ctx.depth - 1, -1, -1):
            if side is None:  # weights and, in the last column, the bias
                slot = grad_slot(ctx.params[k])
                grads[k] = g.mT @ hs[k] if slot is None else torch.matmul(g.mT, hs[k], out=slot)
            else:  # off the critical path: on the side stream, beside the next layer's input gradient
                side.wait_stream(main)
                with torch.cuda.stream(side):
                    grads[k] = g.mT @ hs[k]
                g.record_stream(side)  # g's memory is not reused while the side stream still reads it
                grads[k].record_stream(main)
            if k:
                # The gradient at layer k's input, through the ReLU; computed for the whole aligned row
                # (the constant column's share is dropped by the view) so the next multiplies stay aligned.
                g = torch.ops.aten.threshold_backward(g @ ws[k], hs[k], 0.0)[..., :-1]
        if side is not None:
            main.wait_stream(side)
        return (None, None, *grads)


def _work_forward(x: torch.Tensor, ws: list[torch.Tensor], width: int, keep: bool = False) -> list[torch.Tensor]:
    """The output (..., N, 1) in the dtype of the working matrices ``ws`` (:meth:`PackedMLP.working_weights`),
    after every layer's input (the constant column last) when ``keep``, for a backward pass."""
    h = x.new_zeros(*x.shape[:-1], width, dtype=ws[0].dtype)
    h[..., : x.shape[-1]] = x
    h[..., -1] = 1
    hs = [h]
    for k, w in enumerate(ws[:-1]):
        h = _as(_linear_relu(h, w), ws[k + 1].dtype)
        hs = [*hs, h] if keep else [h]
    return [*hs, h @ ws[-1].mT]


def _as(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t`` in ``dtype``; itself when it is already (``Tensor.to`` takes 9 us to find that out)."""
    return t if t.dtype == dtype else t.to(dtype)


def _mm_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b.mT; for a 2-D ``b`` as a linear, which oneDNN runs faster on the CPU (20% for the weight
    gradients' transposed layout)."""
    return torch.nn.functional.linear(a, b) if b.dim() == 2 else a @ b.mT


def _linear_relu(h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """ReLU(h @ w.mT): for one bf16 matrix, oneDNN's multiply with the ReLU applied as it writes (15% less
    than the two passes); else a linear (oneDNN reads ``w`` untransposed) or a batched multiply."""
    if w.dim() == 2 and w.dtype == torch.bfloat16 and _FUSED_RELU:
        return torch.ops.mkldnn._linear_pointwise(h, w, None, "relu", [], "")
    return torch.relu_(_mm_t(h, w))


_FUSED_RELU = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


class _PackedLowFn(torch.autograd.Function):
    """The training pass in bf16 (see the module doc); gradients come back fp32 for fp32 weights."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mlp: PackedMLP, *ws: torch.Tensor) -> torch.Tensor:
        low = mlp.working_weights(torch.bfloat16)
        outs = _work_forward(x, low, mlp.cols[0], keep=True)
        ctx.save_for_backward(*outs[:-1], *low)
        ctx.rows = [w.shape[-2] for w in ws]
        ctx.params = ws
        return outs[-1].float()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        saved = ctx.saved_tensors
        depth = len(ctx.rows)
        hs, ws = saved[:depth], saved[depth:]
        grads: list[torch.Tensor | None] = [None] * depth
        g = grad
        for k in range(depth - 1, -1, -1):
            g = _as(g, hs[k].dtype)  # layer k's input, and its working matrix, are in one dtype
            grad = _mm_t(g.mT, hs[k].mT)[..., : ctx.rows[k], :]  # the constant row carries no weight
            slot = grad_slot(ctx.params[k])
            grads[k] = grad.float() if slot is None else slot.copy_(grad)
            if k:
                g = torch.ops.aten.threshold_backward(g @ ws[k], hs[k], 0.0)
        return (None, None, *grads)
