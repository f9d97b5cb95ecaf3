"""isoscope-bench runs on a machine without a GPU and prints the per-phase table and the seed-style ratio."""

from __future__ import annotations

import json

from isoscope.core.bench import main


def test_bench_tiny_on_cpu(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--preset", "tiny", "--device", "cpu", "--steps", "5", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "machine:" in text and "signed distance (pool)" in text and "M samples/s" in text
    assert "seed-style vs isoscope" in text and "speed-up:" in text
    figures = json.loads(out.read_text())
    assert figures["phases"]["sdf_queries_per_s"] > 0 and figures["phases"]["train_samples_per_s"] > 0
    assert figures["seed_style"]["sample_train_reconstruct_s"] > 0 and figures["speedup"] > 0


def test_bench_bad_input(capsys):
    assert main(["--preset", "nope", "--device", "cpu"]) == 2
    assert main(["--preset", "tiny", "--device", "cpu", "--part", "/nonexistent.stl"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset" in err and "no such file" in err
