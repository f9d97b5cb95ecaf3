"""isoscope: a training monitor for neural 3D shape fitting (neural SDFs and 3D Gaussians on CAD parts).

``import isoscope`` is the public Python API and stays light: it imports neither torch nor Qt. The
engine is ``isoscope.core`` (from the repository's core/ folder), the window ``isoscope.app`` (app/)
and the packaged files ``isoscope.resources`` (resources/).
"""

__version__ = "0.1.0"
