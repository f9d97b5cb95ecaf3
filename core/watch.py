"""Timing a PyTorch script from outside: ``with Watch(run):`` patches torch so that the script's DataLoader
iteration, top-level module calls, backward calls and optimizer steps are timed as the run's ``data``,
``forward``, ``backward`` and ``optimizer`` phases, and its optimizer steps become the run's steps, with
the loss each step's first backward was called on. Leaving the block takes every patch back.

Phases are exclusive: a phase that starts inside another pauses it (a closure's forward and backward
inside ``optimizer.step(closure)`` are forward and backward; the rest of the step is optimizer). Module
calls inside a module's forward, a backward (recomputation), a batch being loaded (transforms) or a
compiled region are not phases of their own. Only the thread that entered the watch is timed; forked
DataLoader workers and CUDA graph capture are left alone. A backward is a step only in a script that
builds no optimizer; with a GradScaler, the loss is the unscaled one.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
from torch.utils.data import dataloader

from isoscope.core.api import Run
from isoscope.core.timing import Span


class Watch:
    """See the module docstring; ``step`` counts the steps so far."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.stack: list[Span] = []  # the phases open, innermost last
        self.spans: dict[str, Span] = {}
        self.timer: Any = None
        self.in_module = self.in_backward = False
        self.thread = threading.get_ident()
        self.forked = False  # set in a forked child (a DataLoader worker): nothing is timed there
        self.optimizers = 0  # optimizers the script has built
        self.unscaled: tuple[Any, Any] | None = None  # (scaled, loss) from the last GradScaler.scale
        self.lead: Any = None  # the optimizer whose steps are the run's steps
        self.others: set[int] = set()
        self.step = 0
        self.loss: Any = None  # the first backward's tensor since the last step
        self.backward_step = False  # a backward not followed by an optimizer step (yet)
        self.epoch_data: Any = None  # the dataset of the first DataLoader iterated: its end closes an epoch
        self.steps_at_epoch = 0
        self._undo: list[Any] = []

    # ------------------------------------------------------------------ exclusive phases
    def enter(self, name: str) -> None:
        if self.stack:
            self.stack[-1].__exit__()  # paused while the inner phase runs
        span = self.spans.get(name)
        if span is None or span in self.stack:  # one Span per phase, reused (a phase inside itself: a new one)
            span = self.spans[name] = Span(self.timer, name)
        span.__enter__()
        self.stack.append(span)

    def leave(self) -> None:
        self.stack.pop().__exit__()
        if self.stack:
            self.stack[-1].__enter__()  # the outer phase goes on

    def passive(self) -> bool:
        """True where nothing is timed: another thread, a forked worker, a CUDA graph being captured."""
        if self.forked or threading.get_ident() != self.thread:
            return True
        return bool(self.timer.cuda and torch.cuda.is_current_stream_capturing())

    # ------------------------------------------------------------------ steps
    def step_done(self) -> None:
        self.step += 1
        self.backward_step = False
        loss, self.loss = self.loss, None
        if loss is not None:
            self.run.log(self.step, loss=loss)
        else:
            self.run.log(self.step)

    def backward_begins(self, tensor: Any) -> None:
        if self.optimizers == 0 and self.backward_step and not self.stack:
            self.step_done()  # no optimizer: the previous backward was a step
        if self.unscaled is not None:
            if tensor is self.unscaled[0]:
                tensor = self.unscaled[1]  # scaler.scale(loss).backward(): the loss itself
            self.unscaled = None
        if self.loss is None and isinstance(tensor, torch.Tensor) and tensor.numel() == 1:
            self.loss = tensor.detach()
        self.in_backward = True
        self.enter("backward")

    def backward_ends(self) -> None:
        self.in_backward = False
        self.leave()
        if self.optimizers == 0 and not self.stack:
            self.backward_step = True

    def optimizer_ends(self, opt: Any) -> None:
        self.leave()
        if self.lead is None:
            self.lead = opt
            self.backward_step = False
        elif opt is not self.lead and id(opt) not in self.others:
            self.others.add(id(opt))
            lead, other = type(self.lead).__name__, type(opt).__name__
            self.run.note(f"several optimizers: a step is one step of the first that stepped (a {lead}), its loss "
                          f"the first backward after any other optimizer's step; another {other}'s steps are "
                          "timed as optimizer too")  # fmt: skip
        if opt is self.lead:
            self.step_done()
        else:
            self.loss = None  # the lead's loss is the backward that follows

    def data_ended(self, iterator: Any) -> None:
        """A DataLoader's iteration ended: the first DataLoader's closes an epoch (if steps were taken)."""
        if iterator._dataset is self.epoch_data and self.step > self.steps_at_epoch:
            self.steps_at_epoch = self.step
            self.run.epoch()

    # ------------------------------------------------------------------ patches
    def __enter__(self) -> Watch:
        self.timer = self.run.started()
        self.thread = threading.get_ident()
        os.register_at_fork(after_in_child=self._forked)
        self._patch_modules()
        self._patch_backward()
        self._patch_data()
        self._patch_optimizers()
        return self

    def _forked(self) -> None:
        self.forked = True

    def __exit__(self, *exc: object) -> bool:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        try:
            while self.stack:  # phases the script left by raising
                self.leave()
        except Exception as exc:  # noqa: BLE001 - a failed device (a sticky CUDA error): the run still ends
            self.stack.clear()
            self.run.note(f"the phases open at the end could not be closed: {exc}")
        return False

    def _patch(self, owner: Any, name: str, new: Any) -> Any:
        old = getattr(owner, name)
        setattr(owner, name, new)
        self._undo.append(lambda: setattr(owner, name, old))
        return old

    def _patch_modules(self) -> None:
        call = torch.nn.Module.__call__
        compiling = torch.compiler.is_compiling

        def module_call(module: Any, *args: Any, **kwargs: Any) -> Any:
            if self.in_module or self.in_backward or compiling() or self.passive():  # cheap checks first
                return call(module, *args, **kwargs)
            self.in_module = True
            self.enter("forward")
            try:
                return call(module, *args, **kwargs)
            finally:
                self.in_module = False
                self.leave()

        self._patch(torch.nn.Module, "__call__", module_call)

    def _patch_backward(self) -> None:
        def timed(original: Any) -> Any:
            def backward(tensors: Any, *args: Any, **kwargs: Any) -> Any:
                if self.in_backward or self.passive():
                    return original(tensors, *args, **kwargs)
                first = tensors if isinstance(tensors, torch.Tensor) else next(iter(tensors), None)
                self.backward_begins(first)
                try:
                    return original(tensors, *args, **kwargs)
                finally:
                    self.backward_ends()

            return backward

        self._patch(torch.Tensor, "backward", timed(torch.Tensor.backward))
        self._patch(torch.autograd, "backward", timed(torch.autograd.backward))

    def _patch_data(self) -> None:
        base = dataloader._BaseDataLoaderIter
        original = base.__next__

        def next_batch(iterator: Any) -> Any:
            if self.in_module or self.passive():
                return original(iterator)
            if self.epoch_data is None:
                self.epoch_data = iterator._dataset
            self.enter("data")
            self.in_module = True  # modules called while loading (transforms) are data
            ended = False
            try:
                return original(iterator)
            except StopIteration:
                ended = True
                raise
            finally:
                self.in_module = False
                self.leave()
                if ended:
                    self.data_ended(iterator)

        self._patch(base, "__next__", next_batch)

    def _patch_optimizers(self) -> None:
        init = torch.optim.Optimizer.__init__
        scale = torch.amp.GradScaler.scale

        def optimizer_init(opt: Any, *args: Any, **kwargs: Any) -> None:
            self.optimizers += 1
            init(opt, *args, **kwargs)

        def scaled(scaler: Any, outputs: Any) -> Any:
            out = scale(scaler, outputs)
            if isinstance(outputs, torch.Tensor) and out is not outputs:
                self.unscaled = (out, outputs)
            return out

        self._patch(torch.optim.Optimizer, "__init__", optimizer_init)
        self._patch(torch.amp.GradScaler, "scale", scaled)

        def pre(opt: Any, args: Any, kwargs: Any) -> None:  # returns None: the step's arguments stay
            if not self.passive():
                self.enter("optimizer")

        def post(opt: Any, args: Any, kwargs: Any) -> None:
            if not self.passive():
                self.optimizer_ends(opt)

        hooks = [register_optimizer_step_pre_hook(pre), register_optimizer_step_post_hook(post)]
        self._undo += [hook.remove for hook in hooks]

    # ------------------------------------------------------------------ the end
    def finish(self, status: str, error: BaseException | None) -> None:
        """End the run: the last step of a script without an optimizer counted, one epoch at least."""
        if self.optimizers == 0 and self.backward_step:
            self.step_done()
        if self.run.epochs == 0 and self.step:
            self.run.epoch()
        self.run.finish(status, error)
