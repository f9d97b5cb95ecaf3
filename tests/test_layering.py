"""One import name (isoscope); core/ stays free of the GUI layer; the modules the window uses stay free of torch."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUI = ("PySide6", "pyqtgraph", "pyvista", "pyvistaqt", "isoscope.app", "shiboken6", "vtk")
HEAVY = ("torch", "warp", "pytorch3d", "ray")  # ray: only a folder run on a cluster imports it
# Torch-free by folder (mesh/, runs/) and these modules beside them: what the window process may import.
TORCH_FREE_FOLDERS = ("mesh", "runs")
TORCH_FREE = ("config", "events", "phases", "failure", "machine", "console", "worker", "cli", "export", "seed_compare")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("isoscope", *parts)).removesuffix(".__init__")


def import_in_fresh_python(modules: list[str], forbidden: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in {forbidden!r} if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT.parent, capture_output=True, text=True)


def test_the_checkouts_folders_are_not_top_level_names():
    for name in ("core", "app", "resources"):
        assert importlib.util.find_spec(name) is None, f"{name!r} imports as a top-level module in the tests"
    import isoscope.core

    assert Path(isoscope.core.__file__).parent == ROOT / "core"


def test_core_sources_never_import_the_gui():
    pattern = re.compile(r"^\s*(?:import|from)\s+(" + "|".join(map(re.escape, GUI)) + r")\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "core").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_importing_all_of_core_loads_no_gui_module():
    proc = import_in_fresh_python(sorted(module_name(p) for p in (ROOT / "core").rglob("*.py")), GUI)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_torch_free_modules_and_the_package_do_not_import_torch():
    core = ROOT / "core"
    modules = [module_name(p) for folder in TORCH_FREE_FOLDERS for p in (core / folder).glob("*.py")]
    modules += [f"isoscope.core.{m}" for m in TORCH_FREE] + ["isoscope", "isoscope.resources"]
    proc = import_in_fresh_python(modules, HEAVY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
