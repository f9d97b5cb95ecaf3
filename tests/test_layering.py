"""core/ stays free of the GUI layer; the modules the window uses stay free of torch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUI = ("PySide6", "pyqtgraph", "pyvista", "pyvistaqt", "app", "shiboken6", "vtk")
TORCH_FREE = ("core.config", "core.events", "core.runs", "core.meshio", "core.health", "core.batch", "core.worker")


def test_core_sources_never_import_the_gui():
    pattern = re.compile(r"^\s*(?:import|from)\s+(" + "|".join(GUI) + r")\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "core").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_importing_all_of_core_loads_no_gui_module():
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "core").rglob("*.py")]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in {GUI!r} if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gui_side_core_modules_do_not_import_torch():
    code = (
        "import importlib, sys\n"
        f"for m in {TORCH_FREE!r}: importlib.import_module(m)\n"
        "heavy = [m for m in ('torch', 'warp', 'pytorch3d') if m in sys.modules]\n"
        "print(heavy); sys.exit(1 if heavy else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
