"""A whole training step (batch gather, forward, backward, fused Adam) replayed as one CUDA graph.

At batch 1024 a small MLP's step is a few dozen short kernels, so on a GPU the launches, not the
arithmetic, set the pace. ``GraphStep`` captures the step once and replays it: one launch per step, no
host synchronisation. The caller copies each step's batch indices into a fixed buffer; the loss is
added to a device-side running sum inside the graph. Batches of another size (the last, partial
batch of an epoch) run the same step eagerly on the same parameters and optimiser state.

Capture follows PyTorch's whole-network recipe: a few warm-up steps on a side stream (so that cuBLAS
workspaces and the optimiser state exist before capture), then the parameters, gradients and Adam
moments are put back exactly as they were, so the graph run trains the same model as the eager one.
The optimiser is :class:`FlatAdam`, whose state lives in three flat buffers.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch

from isoscope.core.timing import PhaseTimer

#: loss_of(indices) -> (the scalar to differentiate, the value(s) to add to the running loss)
LossOf = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def graph_supported(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.is_available()


def captured_step(
    opt: FlatAdam,
    loss_of: LossOf,
    running: torch.Tensor,
    shape: tuple[int, ...],
    enabled: bool,
    points: int,
    timer: PhaseTimer,
) -> GraphStep | None:
    """The training step captured now (timed as "init") when graphs are ``enabled``, the device is CUDA and
    the ``points`` fill at least one batch (the last entry of ``shape``); else None: train eagerly."""
    if not (enabled and graph_supported(running.device) and points >= shape[-1]):
        return None
    step = GraphStep(opt, loss_of, running, shape)
    with timer.phase("init"):
        step.capture()
    return step


def set_precision(device: torch.device, precision: str) -> None:
    """TF32 matrix units for float32 matmuls under "tf32" and "bf16" (autocast covers the rest)."""
    if device.type == "cuda":
        on = precision in ("tf32", "bf16")
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on


#: On the CPU, every this many steps (2.6 ms each), Adam's moments below the smallest normal float are set to
#: zero. The first moment of a unit whose gradient has gone to zero decays by beta1 a step into the denormal
#: range and stays there (0.9 x the smallest denormal rounds back to it), where the CPU computes 20x slower:
#: after 1,000 steps of the DAM network a quarter of its moments were denormal and the fused step took 8.5 ms
#: instead of 3. Such values move no weight (lr x 1e-38 / eps), and a GPU computes them at full speed.
FLUSH_EVERY = 32


class FlatAdam:
    """Adam (torch's defaults and update rule) over all parameters packed into one flat buffer.

    Used for every SDF fit, so a captured step trains exactly as an eager one (see make_adam).

    The parameters become views of the buffer, so each step is a concatenation of the gradients (none when
    the backward wrote them into the gradient buffer: :func:`grad_slot`) and a dozen elementwise kernels
    over the whole buffer, each spread over the entire GPU. (On the CPU, torch's
    fused Adam kernel does the same rule in one pass: 10.8 ms -> 0.6 ms a step for the DAM network.) torch's
    fused Adam on a GPU hands a small network's 600k values to a dozen thread blocks (86 us of a 470 us step at batch
    1024 on an H100); with this one the whole step took 435 us. The step count and bias corrections live on
    the device, so the step can be captured in a CUDA graph.
    """

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = [p for p in params]
        dev = self.params[0].device
        self.flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.grad = torch.zeros_like(self.flat)  # where a backward may write the gradients (see grad_slot)
        self.offsets: list[int] = []
        offset = 0
        for p in self.params:
            p.data = self.flat[offset : offset + p.numel()].view_as(p)
            p.flat_grad = (self.grad, offset)
            self.offsets.append(offset)
            offset += p.numel()
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        moments = {"exp_avg": torch.zeros_like(self.flat), "exp_avg_sq": torch.zeros_like(self.flat)}
        self.state = {"flat": {**moments, "step": torch.zeros((), device=dev)}}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def _grads_in_buffer(self) -> bool:
        """Whether every gradient is its own slice of the gradient buffer (written there by the backward)."""
        base, size = self.grad.data_ptr(), self.grad.element_size()
        return all(p.grad.data_ptr() == base + o * size for p, o in zip(self.params, self.offsets, strict=True))

    @torch.no_grad()
    def step(self) -> None:
        st = self.state["flat"]
        grad = self.grad if self._grads_in_buffer() else torch.cat([p.grad.reshape(-1) for p in self.params])
        st["step"] += 1
        if self.flat.device.type == "cpu":  # the same rule in one pass over the buffers (a dozen on a GPU)
            torch._fused_adam_(
                [self.flat], [grad], [st["exp_avg"]], [st["exp_avg_sq"]], [], [st["step"]], lr=self.lr,
                beta1=self.beta1, beta2=self.beta2, weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False,
            )  # fmt: skip
            if int(st["step"]) % FLUSH_EVERY == 0:
                for moment in (st["exp_avg"], st["exp_avg_sq"]):
                    moment.masked_fill_(moment.abs() < torch.finfo(moment.dtype).tiny, 0.0)
            return
        st["exp_avg"].lerp_(grad, 1 - self.beta1)
        st["exp_avg_sq"].mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        bias1 = 1 - self.beta1 ** st["step"]
        bias2_sqrt = (1 - self.beta2 ** st["step"]).sqrt()
        denom = (st["exp_avg_sq"].sqrt() / bias2_sqrt).add_(self.eps)
        self.flat.sub_(st["exp_avg"] / denom * (self.lr / bias1))


def grad_slot(p: torch.Tensor) -> torch.Tensor | None:
    """Where a backward may write ``p``'s gradient: a new view of its :class:`FlatAdam`'s gradient buffer, so
    the optimiser reads the buffer instead of concatenating the gradients (0.8 ms of a 12 ms CPU step). None
    when ``p`` has no such optimiser or already holds a gradient (which autograd would add the slot to)."""
    slot = getattr(p, "flat_grad", None)
    if slot is None or p.grad is not None:
        return None
    buf, offset = slot
    return buf[offset : offset + p.numel()].view_as(p)  # a new view: autograd adopts it as p.grad


def adam_state(opt: FlatAdam, part: int | None = None) -> dict:
    """Adam's moments and step count for one network, per packed weight (on the CPU, for model.pt):
    part ``part`` of a batched PackedMLP's optimiser, or an unbatched one's (None)."""
    out: dict = {"exp_avg": [], "exp_avg_sq": [], "step": int(opt.state["flat"]["step"])}
    offset = 0
    for p in opt.params:
        for key in ("exp_avg", "exp_avg_sq"):
            moment = opt.state["flat"][key][offset : offset + p.numel()].view_as(p)
            out[key].append((moment if part is None else moment[part]).detach().cpu().clone())
        offset += p.numel()
    return out


def load_adam_state(opt: FlatAdam, state: dict) -> None:
    """Put :func:`adam_state`'s moments into an unbatched optimiser of the same network layout."""
    flat, offset = opt.state["flat"], 0
    for p, a, b in zip(opt.params, state["exp_avg"], state["exp_avg_sq"], strict=True):
        if tuple(a.shape) != tuple(p.shape):
            raise ValueError(f"optimiser state of shape {tuple(a.shape)} for a weight of shape {tuple(p.shape)}")
        flat["exp_avg"][offset : offset + p.numel()].copy_(a.reshape(-1))
        flat["exp_avg_sq"][offset : offset + p.numel()].copy_(b.reshape(-1))
        offset += p.numel()
    flat["step"].fill_(float(state["step"]))


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """bf16 autocast on CUDA under "bf16" (training and inference alike); a no-op for fp32 and tf32, and on the
    CPU, where bf16 training runs in the packed network's own bf16 path (``PackedMLP.low``)."""
    enabled = precision == "bf16" and device.type == "cuda"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled, cache_enabled=False)


def low_on_cpu(device: torch.device, precision: str) -> bool:
    """Whether a packed network trains in its bf16 CPU path (``PackedMLP.low``)."""
    return precision == "bf16" and device.type == "cpu"


def optimise(
    opt: FlatAdam, loss: torch.Tensor, timer: PhaseTimer | None = None, set_to_none: bool | None = True
) -> None:
    """Backward and Adam for one batch's loss: the one place an SDF network's optimiser steps, eager or
    inside a captured graph. With a ``timer``, backward and optimizer are timed apart. ``set_to_none``:
    how gradients are zeroed first (None: not at all, as inside a graph, whose backward writes them)."""
    with timer.phase("backward") if timer else nullcontext():
        if set_to_none is not None:
            opt.zero_grad(set_to_none=set_to_none)
        loss.backward()
    with timer.phase("optimizer") if timer else nullcontext():
        opt.step()


def make_adam(params, lr: float) -> FlatAdam:
    """The optimiser of every SDF fit, graph or eager, CPU or CUDA: one update rule everywhere, so a
    captured step trains exactly as an eager one."""
    return FlatAdam(params, lr)


class EagerStep:
    """The same step run op by op: the partial batches of the graph path."""

    def __init__(self, opt: FlatAdam, loss_of: LossOf, running: torch.Tensor) -> None:
        self.opt, self.loss_of, self.running = opt, loss_of, running

    def __call__(self, idx: torch.Tensor) -> None:
        loss, value = self.loss_of(idx)
        optimise(self.opt, loss, set_to_none=False)  # in place: under a graph they are the graph's own buffers
        self.running += value.detach()


class GraphStep:
    """The step for index batches of one shape, captured as a CUDA graph on first use."""

    def __init__(self, opt: FlatAdam, loss_of: LossOf, running: torch.Tensor, shape: tuple[int, ...]) -> None:
        self.opt, self.loss_of, self.running = opt, loss_of, running
        self.idx = torch.zeros(shape, dtype=torch.long, device=running.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager = EagerStep(opt, loss_of, running)

    def __call__(self, idx: torch.Tensor) -> None:
        if tuple(idx.shape) != tuple(self.idx.shape):
            self.eager(idx)
            return
        if self.graph is None:
            self.capture()
        self.idx.copy_(idx, non_blocking=True)
        self.graph.replay()

    def _body(self) -> None:
        loss, value = self.loss_of(self.idx)
        optimise(self.opt, loss, set_to_none=None)
        self.running += value.detach()

    def _buffers(self) -> list[torch.Tensor]:
        """Everything a step changes: the flat parameters (the weights are views of it) and Adam's state."""
        return [self.opt.flat, *self.opt.state["flat"].values()]

    def capture(self, warmup: int = 3) -> None:
        saved = [t.clone() for t in (*self._buffers(), self.running)]
        side = torch.cuda.Stream(device=self.running.device)
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):
                self.opt.zero_grad(set_to_none=True)
                self._body()
        torch.cuda.current_stream().wait_stream(side)
        with torch.no_grad():
            for t, before in zip((*self._buffers(), self.running), saved, strict=True):
                t.copy_(before)
        self.opt.zero_grad(set_to_none=True)  # backward inside the graph allocates its gradient buffers
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self._body()
        self.graph = graph
