"""Phase timer: phases add up, intervals are deltas, the epoch table has the seed's shape."""

from __future__ import annotations

import time

from isoscope.core.timing import PhaseTimer, epoch_breakdown, top_level


def test_phases_add_up_to_wall_time():
    t = PhaseTimer("cpu")
    with t.phase("sample"):
        with t.phase("sample.sdf"):
            time.sleep(0.02)
    with t.phase("forward"):
        time.sleep(0.03)
    snap = t.snapshot()
    assert 0.015 < snap["sample.sdf"] <= snap["sample"]
    assert sum(top_level(snap).values()) <= t.wall() + 1e-3
    assert sum(top_level(snap).values()) > 0.9 * t.wall()
    first, wall = t.interval()
    with t.phase("forward"):
        time.sleep(0.01)
    second, _ = t.interval()
    assert set(second) == {"forward"} and 0.005 < second["forward"] < first["forward"]


def test_epoch_breakdown_format():
    text = epoch_breakdown(1, {"forward": 1.0, "backward": 2.0, "optimizer": 0.5, "batch": 0.5, "validation": 1.0}, 5.0)
    lines = text.splitlines()
    assert lines[0] == "=== EPOCH 1 TIMING BREAKDOWN ==="
    assert "Total epoch time: 5.00s" in lines
    assert "Training time: 4.00s (80.0%)" in lines and "Validation time: 1.00s (20.0%)" in lines
    assert "  Forward pass: 1.00s (25.0%)" in lines and "  Backward pass: 2.00s (50.0%)" in lines
