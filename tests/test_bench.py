"""isoscope-bench runs on a machine without a GPU and prints the per-phase table and the seed-style ratio."""

from __future__ import annotations

import json

from isoscope.core.bench import main


def test_bench_tiny_on_cpu(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["--preset", "tiny", "--device", "cpu", "--steps", "5", "--epochs", "1", "--sizes", "20000:32,30000:40"]
    assert main([*argv, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "machine:" in text and "signed distance (pool)" in text and "M samples/s" in text
    assert "seed-style vs isoscope" in text and "speed-up:" in text
    assert "plain eager fp32 PyTorch step" in text and "Keras step" in text
    assert "20,000 points x 1 epochs, 32^3" in text and "30,000 points x 1 epochs, 40^3" in text
    figures = json.loads(out.read_text())
    assert [(r["points"], r["resolution"]) for r in figures["end_to_end_runs"]] == [(20000, 32), (30000, 40)]
    assert figures["phases"]["plain_samples_per_s"] > 0 and figures["precision"] in ("bf16", "fp32")
    assert figures["phases"]["sdf_queries_per_s"] > 0 and figures["phases"]["train_samples_per_s"] > 0
    assert figures["seed_style"]["sample_train_reconstruct_s"] > 0 and figures["speedup"] > 0


def test_bench_bad_input(capsys):
    assert main(["--preset", "nope", "--device", "cpu"]) == 2
    assert main(["--preset", "tiny", "--device", "cpu", "--part", "/nonexistent.stl"]) == 2
    assert main(["--preset", "tiny", "--device", "cpu", "--sizes", "20000"]) == 2
    assert main(["--preset", "tiny", "--device", "cpu", "--keras-python", "/nonexistent/python3"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset" in err and "no such file" in err and "POINTS:RES pairs" in err
    assert "--keras-python /nonexistent/python3: no such interpreter" in err
