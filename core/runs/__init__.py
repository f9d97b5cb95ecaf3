"""Run directories on disk: writing them, the folder-run table, reading and following them (torch-free)."""
