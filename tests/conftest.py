"""Shared fixtures: sample parts and a tetrahedron (the helpers behind them are in support.py)."""

from __future__ import annotations

import gc
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from support import PARTS, tetrahedron

# One test process holds both the GUI (VTK rendering through Mesa's llvmpipe, which loads LLVM) and the
# engine. torch imports triton (its own LLVM) on the first optimizer, and the two LLVMs crash the process.
# The product never mixes them (the window has no torch, the worker no VTK) and nothing here needs
# triton, so the test session does without it.
sys.modules.setdefault("triton", None)  # type: ignore[arg-type]


_CLUSTER: dict[str, Any] = {}


@pytest.fixture
def ray_cluster() -> Any:
    """A two-node Ray cluster on the loopback address, shared by consecutive tests that ask for it and
    stopped after the last of them (see pytest_runtest_teardown), so it never idles beside other tests."""
    from ray_support import LocalCluster

    os.environ["RAY_AUTH_MODE"] = "disabled"  # for every driver the tests start (the window's worker too)
    if "up" not in _CLUSTER:
        _CLUSTER["up"] = LocalCluster().start()
    return _CLUSTER["up"]


@pytest.fixture
def sphere_stl() -> Path:
    return PARTS / "sphere.stl"


@pytest.fixture
def tet_triangles() -> np.ndarray:
    return tetrahedron()


def _top_level_widgets() -> set[str]:
    """The application's top-level widgets (none before any test has made a QApplication)."""
    widgets = sys.modules.get("PySide6.QtWidgets")
    app = widgets.QApplication.instance() if widgets else None
    if app is None:
        return set()
    from PySide6.QtCore import QEvent

    app.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)  # what deleteLater() asked for
    app.processEvents()
    gc.collect()  # a closed window's parentless popups (pyqtgraph's menus) go with its Python objects
    return {f"{type(w).__name__} {w.objectName()!r} at {id(w):#x}" for w in app.topLevelWidgets()}


BEFORE = pytest.StashKey[tuple[set[threading.Thread], set[str]]]()
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item):  # type: ignore[no-untyped-def]
    item.stash[BEFORE] = (set(threading.enumerate()), _top_level_widgets())
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    report = yield
    if report.failed:
        item.stash[FAILED] = True  # its traceback keeps the test's objects alive: no leak check then
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    """Fail a test that leaves a top-level widget or a Python thread behind (a window's close stops all).

    Runs after every fixture's teardown and pytest-qt's closing of the test's widgets. Threads get a
    bounded join first: a thread that is ending (a reaped worker's queue feeder) may finish.
    """
    result = yield
    if "up" in _CLUSTER and "ray_cluster" not in getattr(nextitem, "fixturenames", ()):
        _CLUSTER.pop("up").stop()
    if BEFORE not in item.stash or item.stash.get(FAILED, False):
        return result
    threads, widgets = item.stash[BEFORE]
    item.funcargs.clear()  # the fixtures' values: the last references to the test's widgets
    left = [t for t in threading.enumerate() if t not in threads and t.name != "isoscope-warm-up"]  # one a process
    for t in left:
        t.join(timeout=10)
    leaked_threads = [t.name for t in left if t.is_alive()]
    leaked_widgets = sorted(_top_level_widgets() - widgets)
    assert not leaked_widgets, f"top-level widgets outlived the test: {leaked_widgets[:10]} ({len(leaked_widgets)})"
    assert not leaked_threads, f"threads outlived the test: {leaked_threads}"
    return result


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """One finished run of the sphere with the tiny preset on the CPU (network, mesh, metrics), made once for
    the tests that only read it (export, the window's menus, slice readout, seed-style comparison)."""
    from isoscope.core.cli import train_main

    out = tmp_path_factory.mktemp("finished") / "run"
    assert train_main([str(PARTS / "sphere.stl"), "--preset", "tiny", "--device", "cpu", "--outputDir", str(out),
                       "--quiet"]) == 0  # fmt: skip
    return out


@pytest.fixture(scope="session")
def smoke_sphere_run(tmp_path_factory) -> Path:
    """One fit of the sphere (radius 1, centred at the origin) with the smoke preset on the CPU, good enough to
    measure, made once for the tests that only read it (the run directory, load_fit, resume)."""
    from isoscope.core.cli import train_main

    out = tmp_path_factory.mktemp("smoke") / "sphere"
    assert train_main([str(PARTS / "sphere.stl"), "--preset", "smoke", "--device", "cpu", "--outputDir", str(out),
                       "--quiet"]) == 0  # fmt: skip
    return out
