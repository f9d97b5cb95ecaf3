"""Mesh health: exact finding counts on every gallery part, the JSON of isoscope-inspect, the fit's repair."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from isoscope.core.mesh.checks import faces_for_fit, signed_volume
from isoscope.core.mesh.health import basic_health, report, report_text
from isoscope.core.mesh.part import load_part

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "resources" / "gallery"

EXPECTED = {
    "open_box": {"open_edges": 4},
    "flipped_faces": {"inconsistent_winding": 2},
    "two_overlapping_bodies": {"bodies": 2, "overlapping_bodies": 1},
    "thin_fin": {"thin_features": 1},
    "degenerate_triangles": {"degenerate_faces": 3},
    "non_manifold_edge": {"non_manifold_edges": 1, "non_manifold_vertices": 2},
    "inside_out": {"inverted_bodies": 1},
    "tiny_far_detail": {"bodies": 2, "small_bodies": 1},
    "duplicate_faces": {"duplicate_faces": 1, "non_manifold_edges": 3, "non_manifold_vertices": 3},
}


@pytest.fixture(scope="module")
def reports() -> dict[str, dict]:
    return {name: report(load_part(GALLERY / f"{name}.stl"), resolution=256) for name in EXPECTED}


def test_gallery_is_complete() -> None:
    assert sorted(p.stem for p in GALLERY.glob("*.stl")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exact_counts(reports: dict[str, dict], name: str) -> None:
    rep = reports[name]
    assert rep["checks"] == EXPECTED[name]
    json.dumps(rep)  # JSON-serialisable as it is
    for f in rep["findings"]:
        assert f["severity"] in ("error", "warning", "info")
        assert len(f["message"]) > 60 and f["title"]
    assert rep["findings"][-1]["kind"] == "scale"


def test_geometry_for_highlighting(reports: dict[str, dict]) -> None:
    found = {f["kind"]: f for f in reports["open_box"]["findings"]}["open_edges"]
    assert found["loops"] == 1 and found["loop_sizes"] == [4]
    segs = np.asarray(found["segments"])
    assert segs.shape == (4, 2, 3)
    assert np.allclose(segs[:, :, 2], 1.0)  # the missing lid's rim is at z = 1
    assert "1 hole" in found["message"] and "winding numbers" in found["message"]
    nm = {f["kind"]: f for f in reports["non_manifold_edge"]["findings"]}["non_manifold_edges"]
    assert np.allclose(np.asarray(nm["segments"])[0][:, :2], 1.0)  # the shared edge x = y = 1
    thin = {f["kind"]: f for f in reports["thin_fin"]["findings"]}["thin_features"]
    pts = np.asarray(thin["points"])
    assert len(pts) > 100 and np.all(np.abs(pts[:, 0] - 0.5) < 0.01) and np.all(pts[:, 2] >= 0.4 - 1e-9)
    assert thin["min_thickness"] == pytest.approx(0.004, rel=0.05)
    small = {f["kind"]: f for f in reports["tiny_far_detail"]["findings"]}["small_bodies"]
    assert len(small["faces"]) == 12 and np.all(np.asarray(small["points"])[:, 0] > 3.4)
    flipped = {f["kind"]: f for f in reports["flipped_faces"]["findings"]}["inconsistent_winding"]
    assert flipped["edges_count"] == 4 and np.allclose(np.asarray(flipped["points"])[:, 0], 1.0)


def test_basic_keys_kept(reports: dict[str, dict]) -> None:
    rep = reports["open_box"]
    for key in ("faces", "vertices", "bodies", "open_edges", "non_manifold_edges", "degenerate_faces",
                "inconsistent_winding_edges", "watertight", "bbox_min", "bbox_max", "bbox_diagonal"):  # fmt: skip
        assert key in rep
    assert rep["open_edges"] == 4 and not rep["watertight"]


def test_thin_depends_on_resolution() -> None:
    part = load_part(GALLERY / "thin_fin.stl")
    assert report(part, resolution=1024)["checks"] == {}
    assert "thin_features" in report(part, resolution=64)["checks"]


def test_clean_samples_have_no_findings() -> None:
    for name in ("sphere", "box", "torus", "bracket"):
        rep = report(load_part(ROOT / "resources" / "parts" / f"{name}.stl"))
        assert rep["checks"] == {}, name
        assert "no findings" not in report_text(rep)


def _write(tmp_path: Path, name: str, verts: np.ndarray, faces: np.ndarray) -> Path:
    path = tmp_path / f"{name}.stl"
    trimesh.Trimesh(vertices=verts, faces=faces, process=False).export(path)
    return path


def test_cavity_is_not_inside_out(tmp_path: Path) -> None:
    outer = trimesh.creation.box(extents=(2, 2, 2))
    inner = trimesh.creation.box(extents=(1, 1, 1))
    verts = np.concatenate([outer.vertices, inner.vertices])
    faces = np.concatenate([outer.faces, inner.faces[:, ::-1] + len(outer.vertices)])
    part = load_part(_write(tmp_path, "hollow", verts, faces))
    assert report(part)["checks"] == {"bodies": 2, "cavities": 1}
    fixed, turned = faces_for_fit(part.vertices, part.faces)
    assert turned == 0 and np.array_equal(fixed, part.faces)


def test_fit_turns_inside_out_bodies() -> None:
    part = load_part(GALLERY / "inside_out.stl")
    assert signed_volume(part.vertices, part.faces) < 0
    fixed, turned = faces_for_fit(part.vertices, part.faces)
    assert turned == 1 and signed_volume(part.vertices, fixed) == pytest.approx(1.0)
    assert basic_health(part)["faces"] == len(fixed)


def test_inspect_cli_json() -> None:
    exe = Path(sys.executable).with_name("isoscope-inspect")
    out = subprocess.run([str(exe), str(GALLERY / "open_box.stl"), "--json"], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["checks"] == EXPECTED["open_box"]
    text = subprocess.run([str(exe), str(GALLERY / "inside_out.stl")], capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and "[error] Inside-out: 1 body" in text.stdout
    bad = subprocess.run([str(exe), str(ROOT / "nope.stl")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
