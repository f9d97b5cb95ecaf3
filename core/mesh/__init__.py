"""Parts as meshes: reading and writing STL/PLY, normalisation, and the mesh health report (torch-free)."""
