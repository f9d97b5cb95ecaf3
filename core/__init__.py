"""isoscope: a training monitor for neural 3D shape fitting (SDF networks and 3D Gaussians)."""

__version__ = "0.1.0"
