"""isoscope: a training monitor for neural 3D shape fitting (neural SDFs and 3D Gaussians on CAD parts).

``import isoscope`` is the public Python API and stays light: it imports neither torch nor Qt until a
function that needs torch is called. ``isoscope.init(name=..., config=...)`` makes any training script
write a run the window follows live (phases, losses, meshes; see ``isoscope.core.api``);
``isoscope.load_fit(run_dir)`` loads a finished SDF fit. The
engine is ``isoscope.core`` (from the repository's core/ folder), the window ``isoscope.app`` (app/)
and the packaged files ``isoscope.resources`` (resources/).
"""

from typing import Any

__version__ = "0.1.0"

#: Loaded on first use (they import torch): name -> module.
_LAZY = {"init": "isoscope.core.api", "Run": "isoscope.core.api",
         "load_fit": "isoscope.core.sdf.fit", "Fit": "isoscope.core.sdf.fit", "FitError": "isoscope.core.sdf.fit",
         "ExtrapolationWarning": "isoscope.core.sdf.fit"}  # fmt: skip
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'isoscope' has no attribute {name!r}")
