"""Writing a torch.profiler capture (the key_averages table, a Chrome trace and the top operators), and
keeping the profiler's own chatter (kineto's native lines, Python warnings) off the terminal."""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def profiler_quiet(log: Callable[[str], None]) -> Iterator[None]:
    """Send what the profiler prints meanwhile (native lines on stderr, Python warnings) to ``log``, the
    run's log, instead of the terminal (on a CPU it reports that it found no GPU, for one)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines = tmp.read().decode(errors="replace").splitlines()
    for line in [*lines, *(str(w.message) for w in caught)]:
        if line.strip():
            log(f"profiler: {line.strip()}")


def write_profile(prof: Any, folder: Path, cuda: bool, top: int = 15) -> dict[str, Any]:
    """Write key_averages.txt and trace.json into ``folder``; return the top operators as rows."""
    folder.mkdir(parents=True, exist_ok=True)
    sort_by = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    averages = prof.key_averages()
    (folder / "key_averages.txt").write_text(averages.table(sort_by=sort_by, row_limit=40))
    trace = folder / "trace.json"
    prof.export_chrome_trace(str(trace))
    rows = []
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    for item in sorted(averages, key=lambda a: getattr(a, key, 0.0), reverse=True)[:top]:
        rows.append(
            {
                "name": item.key,
                "calls": int(item.count),
                "self_ms": float(getattr(item, key, 0.0)) / 1000.0,
                "total_cpu_ms": float(item.cpu_time_total) / 1000.0,
            }
        )
    return {"path": str(folder / "key_averages.txt"), "trace": str(trace), "top": rows, "sort": sort_by}
