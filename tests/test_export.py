"""isoscope-export: every series of a finished run in long form, checked against metrics.jsonl record by record."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from isoscope.core.export import COLUMNS, main


def _cell(text: str) -> float | None:
    return float(text) if text != "" else None


def test_export_matches_the_records(finished_run, tmp_path, capsys):
    out_csv, out_json = tmp_path / "m.csv", tmp_path / "m.json"
    assert main([str(finished_run), "--csv", str(out_csv), "--json", str(out_json)]) == 0
    with open(out_csv, newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = list(reader)
    records = [json.loads(line) for line in (finished_run / "metrics.jsonl").read_text().splitlines()]
    kinds = {r["event"] for r in records}
    assert {"Metrics", "PhaseTimes", "Progress", "Resources", "Finished"} <= kinds
    it = iter(rows)
    live_t = 0.0
    for rec in records:  # each record's values, in the record's order, then the next record's
        kind = rec["event"]
        if kind == "Metrics":
            expected = [(k, rec["step"], rec["epoch"], None, v) for k, v in rec["values"].items() if v is not None]
        elif kind == "PhaseTimes":
            scope = rec["scope"]
            t = None
            if scope == "live":
                live_t += rec["wall_s"]
                t = live_t
            pairs = [*rec["seconds"].items(), ("wall", rec["wall_s"])]
            expected = [(f"phase_{scope}/{k}", None, rec["epoch"], t, v) for k, v in pairs]
        elif kind == "Progress":
            expected = [("throughput/per_s", rec["step"], rec["epoch"], None, rec["samples_per_s"]),
                        ("eta_s", rec["step"], rec["epoch"], None, rec["eta_s"])]  # fmt: skip
        elif kind == "Resources":
            expected = [(f"resources/{k}", None, None, rec["time_s"], v) for k, v in rec["values"].items()]
        elif kind == "Finished":
            s = rec["summary"]
            expected = [
                (f"summary/{k}", s["steps"], s["epochs"], None, v)
                for k, v in s.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("steps", "epochs")
            ]
        else:
            expected = []
        for series, step, epoch, t, value in expected:
            row = next(it)
            assert row["series"] == series
            assert _cell(row["step"]) == step and _cell(row["epoch"]) == epoch
            assert _cell(row["time"]) == pytest.approx(t) if t is not None else row["time"] == ""
            assert float(row["value"]) == value  # repr round-trips every float exactly
    assert next(it, None) is None  # nothing more than the records hold
    series = {r["series"] for r in rows}
    assert {"train_loss", "val_loss", "phase_epoch/forward", "phase_total/wall", "resources/cpu_percent",
            "summary/train_samples_per_s", "summary/chamfer_l1"} <= series  # fmt: skip
    doc = json.loads(out_json.read_text())
    assert doc["columns"] == list(COLUMNS) and len(doc["rows"]) == len(rows)
    assert doc["rows"][0]["series"] == rows[0]["series"]
    assert f"{len(rows)} rows" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["missing", "not_a_run"])
def test_export_refuses_what_is_not_a_run(case, tmp_path):
    folder = tmp_path / "nothing" if case == "missing" else tmp_path
    out = tmp_path / "out.csv"
    done = subprocess.run([sys.executable, "-m", "isoscope.core.export", str(folder), "--csv", str(out)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("isoscope-export: error: ") and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr and not out.exists()
