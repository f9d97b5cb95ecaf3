"""Shared fixtures: sample parts and a tetrahedron (the helpers behind them are in support.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from support import PARTS, tetrahedron

# One test process holds both the GUI (VTK rendering through Mesa's llvmpipe, which loads LLVM) and the
# engine. torch imports triton (its own LLVM) on the first optimizer, and the two LLVMs crash the process.
# The product never mixes them (the window has no torch, the worker no VTK) and nothing here needs
# triton, so the test session does without it.
sys.modules.setdefault("triton", None)  # type: ignore[arg-type]


@pytest.fixture
def sphere_stl() -> Path:
    return PARTS / "sphere.stl"


@pytest.fixture
def tet_triangles() -> np.ndarray:
    return tetrahedron()
