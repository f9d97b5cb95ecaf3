"""Every kind of bad input gets one clear line and exit status 2 from both commands, and writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from isoscope.core.cli import inspect_main, train_main
from isoscope.core.mesh.part import PartError, load_part

from support import tetrahedron, write_ascii_stl, write_binary_stl


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    tet = tetrahedron()
    (tmp / "empty.stl").write_bytes(b"")
    (tmp / "notes.stl").write_text("these are my notes, not a mesh\n" * 10)
    (tmp / "image.stl").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2)
    write_binary_stl(tmp / "truncated.stl", tet, count=4)
    (tmp / "truncated.stl").write_bytes((tmp / "truncated.stl").read_bytes()[:-70])
    write_binary_stl(tmp / "count.stl", tet, count=3)
    nan = tet.copy()
    nan[1, 2, 0] = np.nan
    write_binary_stl(tmp / "nan.stl", nan)
    inf = tet.copy()
    inf[0, 0, 2] = np.inf
    write_ascii_stl(tmp / "inf_ascii.stl", inf)
    write_binary_stl(tmp / "zero.stl", np.zeros((0, 3, 3)))
    write_ascii_stl(tmp / "zero_ascii.stl", np.zeros((0, 3, 3)))
    degenerate = np.array([[[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[0, 0, 0], [0, 1, 0], [0, 1, 0]]], dtype=float)
    write_binary_stl(tmp / "degenerate.stl", degenerate)
    write_binary_stl(tmp / "point.stl", np.ones((3, 3, 3)))
    write_ascii_stl(tmp / "cut_ascii.stl", tet, close=False)
    (tmp / "cut_ascii.stl").write_text((tmp / "cut_ascii.stl").read_text()[:-60])
    cases = {
        "missing": (tmp / "nope.stl", "no such file"),
        "empty": (tmp / "empty.stl", "the file is empty"),
        "not_stl_text": (tmp / "notes.stl", "not an STL file"),
        "not_stl_binary": (tmp / "image.stl", "not an STL file (binary data"),
        "truncated": (
            tmp / "truncated.stl",
            "truncated binary STL: the header announces 4 triangles, the file holds 2",
        ),
        "count_mismatch": (tmp / "count.stl", "triangle count (3) does not match the file size"),
        "nan": (tmp / "nan.stl", "NaN or infinite vertex coordinates"),
        "inf_ascii": (tmp / "inf_ascii.stl", "NaN or infinite vertex coordinates"),
        "zero_faces": (tmp / "zero.stl", "zero triangles"),
        "zero_faces_ascii": (tmp / "zero_ascii.stl", "zero triangles"),
        "only_degenerate": (tmp / "degenerate.stl", "every triangle is degenerate"),
        "no_extent": (tmp / "point.stl", "no extent"),
        "truncated_ascii": (tmp / "cut_ascii.stl", "truncated or malformed ASCII STL"),
    }
    assert list(cases) == CASES
    return cases


CASES = ["missing", "empty", "not_stl_text", "not_stl_binary", "truncated", "count_mismatch", "nan", "inf_ascii",
         "zero_faces", "zero_faces_ascii", "only_degenerate", "no_extent", "truncated_ascii"]  # fmt: skip


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return _bad_files(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("case", CASES)
def test_train_bad_input(case, bad_files, tmp_path, capsys):
    path, message = bad_files[case]
    out = tmp_path / "out"
    code = train_main([str(path), "--preset", "tiny", "--device", "cpu", "--outputDir", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("isoscope-train: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()  # nothing written for a part that cannot be used


@pytest.mark.parametrize("case", CASES)
def test_inspect_bad_input(case, bad_files, capsys):
    path, message = bad_files[case]
    code = inspect_main([str(path), "--json"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("isoscope-inspect: error: ") and message in err


def test_load_part_raises_part_error(bad_files):
    with pytest.raises(PartError, match="zero triangles"):
        load_part(bad_files["zero_faces"][0])


def test_bad_input_exit_status_in_a_real_process(bad_files, tmp_path):
    for exe in ("isoscope-train", "isoscope-inspect"):
        script = Path(sys.executable).parent / exe
        proc = subprocess.run([str(script), str(bad_files["truncated"][0])], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().startswith(f"{exe}: error: ") and "Traceback" not in proc.stderr


def test_bad_flags_and_paths(tmp_path, capsys, sphere_stl):
    assert train_main([str(tmp_path), "--preset", "tiny", "--device", "cpu"]) == 2
    assert "holds no .stl files" in capsys.readouterr().err
    assert train_main([str(sphere_stl), "--epochs", "-1", "--device", "cpu"]) == 2
    assert "train.epochs must be positive" in capsys.readouterr().err
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert train_main([str(sphere_stl), "--preset", "tiny", "--device", "cpu", "--outputDir", str(blocker)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert blocker.read_text() == "x"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_requested_without_gpu(sphere_stl, capsys, tmp_path):
    assert train_main([str(sphere_stl), "--device", "cuda", "--outputDir", str(tmp_path / "o")]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_ascii_and_binary_read_the_same(tmp_path):
    tet = tetrahedron()
    a = load_part(write_ascii_stl(tmp_path / "a.stl", tet))
    b = load_part(write_binary_stl(tmp_path / "b.stl", tet))
    assert np.allclose(a.vertices, b.vertices) and (a.faces == b.faces).all() and len(a.faces) == 4


def test_the_window_without_a_display_says_so_and_exits_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([str(Path(sys.executable).parent / "isoscope")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("isoscope: no display: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "xvfb-run" in proc.stderr and "isoscope-train" in proc.stderr


def test_output_into_a_closed_pipe_ends_quietly(sphere_stl):
    """The reader has gone before the report is printed (as `| head -0` would): no traceback."""
    cmd = [str(Path(sys.executable).parent / "isoscope-inspect"), str(sphere_stl), "--json", "--resolution", "32"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # nobody reads: the first write of the report fails with EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert err == "", err
