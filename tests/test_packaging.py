"""Release artifacts and the desktop install: the wheel and sdist carry the resources, and
packaging/install.sh installs isoscope into a private environment under a (temporary) home, with a
launcher, a valid menu entry and icons, while packaging/uninstall.sh removes all of it again.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import isoscope
from isoscope import resources

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and wheel that `python -m build` makes from this checkout."""
    if importlib.util.find_spec("build") is None:
        pytest.skip("the 'build' package is not installed (pip install -e '.[test]')")
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    v = isoscope.__version__
    wheel, sdist = out / f"isoscope-{v}-py3-none-any.whl", out / f"isoscope-{v}.tar.gz"
    assert wheel.exists() and sdist.exists(), sorted(p.name for p in out.iterdir())
    return {"wheel": wheel, "sdist": sdist}


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_resources_are_found_and_icons_have_their_sizes() -> None:
    parts = resources.sample_parts()
    assert [p.stem for p in parts[:4]] == ["sphere", "torus", "box", "bracket"]
    assert all(p.is_file() and p.suffix == ".stl" for p in parts)
    assert all(resources.sample_note(p) for p in parts[:4])
    assert resources.icon_svg().read_text().lstrip().startswith("<?xml")
    for size in resources.ICON_SIZES:
        assert png_size(resources.icon_png(size)) == (size, size)


def test_wheel_and_sdist_carry_the_resources(dist: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(dist["wheel"]).namelist())
    dist_info = f"isoscope-{isoscope.__version__}.dist-info"
    assert {n.split("/")[0] for n in names} == {"isoscope", dist_info}  # one import name
    for part in (ROOT / "resources" / "parts").glob("*.stl"):
        assert f"isoscope/resources/parts/{part.name}" in names
    for icon in resources.icon_files():
        assert f"isoscope/resources/icons/{icon.name}" in names
    for folder in ("core", "app"):  # every module, subsystem folders included
        for source in (ROOT / folder).rglob("*.py"):
            assert f"isoscope/{source.relative_to(ROOT)}" in names
    assert "isoscope/__init__.py" in names
    scripts = zipfile.ZipFile(dist["wheel"]).read(f"{dist_info}/entry_points.txt").decode()
    for line in ("isoscope = isoscope.app.main:main", "isoscope-train = isoscope.core.cli:train_entry"):
        assert line in scripts
    top = f"isoscope-{isoscope.__version__}/"
    snames = {n.removeprefix(top) for n in tarfile.open(dist["sdist"]).getnames()}
    expected = {"pyproject.toml", "CHANGELOG.md", "resources/parts/sphere.stl", "resources/icons/isoscope.svg"}
    expected |= {"packaging/install.sh", "packaging/uninstall.sh", "packaging/isoscope.desktop.in"}
    assert expected <= snames, expected - snames


def fake_home_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose home and XDG folders all lie in tmp_path/home."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_") and k != "ISOSCOPE_RUNS"}
    # The data folder is moved on purpose: the install must follow XDG_DATA_HOME; the bin folder is the default.
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "xdg-data"), XDG_CONFIG_HOME=str(home / "xdg-config"))
    # Tools on the PATH keep their own state outside the fake home (pip's cache, rustup proxies).
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), RUSTUP_HOME=str(tmp_path / "rustup"))
    env["PIP_NO_INPUT"] = "1"
    return env, home


def run(cmd: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    # Run outside the checkout, so `python -c` cannot import core/ from the current folder.
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=env["HOME"] + "/..")


def files_under(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


@pytest.mark.slow  # a private environment installed and removed (19 s)
def test_desktop_install_and_uninstall(tmp_path: Path, dist: dict[str, Path]) -> None:
    env, home = fake_home_env(tmp_path)
    install = ["bash", str(PACKAGING / "install.sh"), "--wheel", str(dist["wheel"]), "--reuse-env", sys.executable]
    for attempt in ("first install", "reinstall over it"):
        proc = run(install, env)
        assert proc.returncode == 0, f"{attempt}: {proc.stdout}\n{proc.stderr}"
    data, bin_dir = home / "xdg-data", home / ".local" / "bin"
    appdir, venv = data / "isoscope", data / "isoscope" / "venv"

    # The private environment runs isoscope from the wheel, not from this checkout.
    code = "import isoscope, isoscope.app; from isoscope import resources"
    code += "; print(isoscope.__file__, isoscope.app.__file__)"
    code += "; print(resources.sample_parts()[0])"
    where = run([str(venv / "bin" / "python"), "-c", code], env).stdout.split()
    assert len(where) == 3 and all(Path(p).is_relative_to(venv) for p in where), where
    sample = where[2]
    for name in ("core", "app", "resources"):  # nothing installs under the checkout's folder names
        proc = run([str(venv / "bin" / "python"), "-c", f"import {name}"], env)
        assert proc.returncode == 1 and f"No module named '{name}'" in proc.stderr, proc.stderr

    # Launcher and command links.
    launcher = bin_dir / "isoscope"
    assert os.access(launcher, os.X_OK) and str(venv) in launcher.read_text()
    for tool in ("isoscope-train", "isoscope-inspect", "isoscope-bench"):
        assert (bin_dir / tool).is_symlink() and (bin_dir / tool).resolve() == (venv / "bin" / tool).resolve()
    version = run([str(bin_dir / "isoscope-train"), "--version"], env)
    assert version.stdout.strip() == f"isoscope-train {isoscope.__version__}", version.stderr

    # Icons at every size, identical to the packaged ones.
    for size in resources.ICON_SIZES:
        icon = data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "isoscope.png"
        assert icon.read_bytes() == resources.icon_png(size).read_bytes()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "isoscope.svg").exists()

    # The menu entry: runs the launcher, opens STL files, has the run actions.
    entry = data / "applications" / "isoscope.desktop"
    text = entry.read_text()
    assert f'Exec="{launcher}" %f' in text and f"TryExec={launcher}" in text
    assert "Icon=isoscope\n" in text and "MimeType=model/stl;application/sla;" in text
    assert "Actions=open-last-run;open-runs-folder;" in text and '" --open-last-run' in text
    validator = shutil.which("desktop-file-validate")
    if validator:
        check = run([validator, str(entry)], env)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout + check.stderr

    cache = data / "applications" / "mimeinfo.cache"
    if shutil.which("update-desktop-database"):  # STL files now open with isoscope
        assert "model/stl=isoscope.desktop;" in cache.read_text()

    manifest = (appdir / "install-manifest.txt").read_text()
    for path in (launcher, entry, venv, appdir / "uninstall.sh"):
        assert f"\t{path}\n" in manifest

    # A run without --outputDir goes to the user's data folder, where the runs-folder action looks.
    train = run([str(bin_dir / "isoscope-train"), sample, "--preset", "tiny", "--device", "cpu", "--quiet"], env)
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]
    runs = list((appdir / "runs").glob("*/summary.json"))
    assert len(runs) == 1, files_under(appdir / "runs")
    if shutil.which("xdg-open", path=env["PATH"]) is None:
        opened = run([str(launcher), "--open-runs-folder"], env)
        assert opened.stdout.strip() == f"runs folder: {appdir / 'runs'}", opened.stderr

    # Uninstall (from the copy the install left): everything goes but the runs, which --purge removes.
    proc = run(["bash", str(appdir / "uninstall.sh")], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    left = files_under(home)
    kept = ("xdg-data", "xdg-data/isoscope", "xdg-data/isoscope/.folders-made-by-install")
    assert all(p in kept or p.startswith("xdg-data/isoscope/runs") for p in left), left
    assert runs[0].exists()
    proc = run(["bash", str(PACKAGING / "uninstall.sh"), "--purge"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert files_under(home) == []
    if not validator:
        pytest.skip("desktop-file-validate is not installed (Debian: desktop-file-utils); the rest passed")


def test_install_leaves_a_foreign_command_alone(tmp_path: Path) -> None:
    env, home = fake_home_env(tmp_path)
    foreign = home / ".local" / "bin" / "isoscope"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("#!/bin/sh\necho someone else's isoscope\n")
    proc = run(["bash", str(PACKAGING / "install.sh"), "--reuse-env", sys.executable], env)
    assert proc.returncode == 2 and "was not written by this installer" in proc.stderr, proc.stderr
    assert foreign.read_text().startswith("#!/bin/sh\necho someone")
    assert files_under(home) == [".local", ".local/bin", ".local/bin/isoscope"]


def test_install_rejects_bad_input(tmp_path: Path) -> None:
    env, home = fake_home_env(tmp_path)
    for args, message in (
        (["--wheel", str(tmp_path / "missing.whl")], "no such wheel"),
        (["--python", "no-such-python3"], "no Python interpreter"),
        (["--bogus"], "unknown option --bogus"),
    ):
        proc = run(["bash", str(PACKAGING / "install.sh"), *args], env)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    proc = run(["bash", str(PACKAGING / "uninstall.sh")], env)
    assert proc.returncode == 0 and "not installed here" in proc.stdout
    assert files_under(home) == []
