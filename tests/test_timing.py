"""Phase timer: phases add up, intervals are deltas, the epoch table has the seed's shape."""

from __future__ import annotations

import time

import pytest

from isoscope.core.timing import PhaseTimer, epoch_breakdown, top_level


def test_phases_add_up_to_wall_time():
    """Nested phases count in their parent; top-level phases never add up to more than the wall time;
    an interval holds only what ran since the last one. (Sleeps bound the times from below only.)"""
    t = PhaseTimer("cpu")
    with t.phase("sample"):
        with t.phase("sample.sdf"):
            time.sleep(0.02)
    with t.phase("forward"):
        time.sleep(0.03)
    snap = t.snapshot()
    assert 0.0195 <= snap["sample.sdf"] <= snap["sample"] and snap["forward"] >= 0.0295
    assert sum(top_level(snap).values()) <= t.wall() + 1e-3
    first, wall = t.interval()
    assert set(first) == {"sample", "sample.sdf", "forward"} and first["forward"] == snap["forward"]
    with t.phase("forward"):
        time.sleep(0.01)
    second, _ = t.interval()
    assert set(second) == {"forward"} and second["forward"] >= 0.0095
    assert t.snapshot()["forward"] == pytest.approx(snap["forward"] + second["forward"])


def test_epoch_breakdown_format():
    text = epoch_breakdown(1, {"forward": 1.0, "backward": 2.0, "optimizer": 0.5, "batch": 0.5, "validation": 1.0}, 5.0)
    lines = text.splitlines()
    assert lines[0] == "=== EPOCH 1 TIMING BREAKDOWN ==="
    assert "Total epoch time: 5.00s" in lines
    assert "Training time: 4.00s (80.0%)" in lines and "Validation time: 1.00s (20.0%)" in lines
    assert "  Forward pass: 1.00s (25.0%)" in lines and "  Backward pass: 2.00s (50.0%)" in lines
