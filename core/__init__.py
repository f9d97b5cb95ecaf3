"""The engine, grouped by subsystem. Never imports the GUI layer.

- ``sdf``: the neural SDF fit (signed distance, sampling, network, training step, job, reconstruction).
- ``splat``: the 3D Gaussian fit (cameras, ground truth, renderer, job).
- ``mesh``: reading parts and their health report (torch-free).
- ``runs``: run directories, the folder-run table, reading back and following runs (torch-free).

Beside them: config and presets, events and phases (torch-free, shared with the window), timing, the
job base, the worker process, the command lines and the benchmark.
"""
