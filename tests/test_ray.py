"""Folder runs on a real two-node Ray cluster on the loopback address: the same per-part results as a local
run, groups on both nodes, a killed worker's group retried, --skip-done, and a clear refusal of an address
where no cluster answers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ray_support import ENV, LocalCluster, free_port

from support import PARTS

TRAIN = str(Path(sys.executable).with_name("isoscope-train"))
TINY = ["--preset", "tiny", "--device", "cpu", "--train.batch_parts", "2", "--quiet"]


def parts(folder: Path, names: tuple[str, ...] = ("box", "bracket", "sphere", "torus")) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(PARTS / f"{name}.stl", folder / f"{name}.stl")
    return folder


def rows(root: Path) -> dict[str, dict]:
    return {r["part"]: r for r in json.loads((root / "batch_summary.json").read_text())["parts"]}


def train(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([TRAIN, *args], env=ENV, capture_output=True, text=True, timeout=timeout)


def test_an_address_where_no_cluster_answers_is_refused_at_once(tmp_path: Path, capsys) -> None:
    from isoscope.core.cli import train_main

    folder = parts(tmp_path / "parts", ("box",))
    out = tmp_path / "out"
    done = train(str(folder), *TINY, "--outputDir", str(out), "--ray", f"127.0.0.1:{free_port()}", timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("isoscope-train: error: cannot reach a Ray cluster at 127.0.0.1:")
    assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()  # nothing written
    for args, says in (([str(folder), "--ray", "no-port-here"], "give the head node's address as HOST:PORT"),
                       ([str(folder), "--ray", "auto", "--ray-retries", "-1"], "--ray-retries must be 0 or more"),
                       ([str(folder), "--ray", "auto", "--ray-cpus", "0"], "--ray-cpus more than 0"),
                       ([str(folder), "--ray-gpus", "1"], "go with --ray ADDRESS"),
                       ([str(folder / "box.stl"), "--ray", "auto"], "--ray is for a folder of parts"),
                       ([str(folder), "--skip-done"], "--skip-done: point --outputDir at an earlier folder run")):
        assert train_main([*args, *TINY, "--outputDir", str(out)]) == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1, err


def test_a_folder_on_two_nodes_gives_the_local_run_s_results(ray_cluster: LocalCluster, tmp_path: Path) -> None:
    from isoscope.core.cli import train_main
    from isoscope.core.sdf.fit import load_fit

    folder = parts(tmp_path / "parts")
    assert train_main([str(folder), *TINY, "--outputDir", str(tmp_path / "local")]) == 0
    done = train(str(folder), *TINY, "--outputDir", str(tmp_path / "ray"), "--ray", ray_cluster.address)
    assert done.returncode == 0, done.stderr
    local, remote = rows(tmp_path / "local"), rows(tmp_path / "ray")
    assert sorted(remote) == sorted(local) == ["box.stl", "bracket.stl", "sphere.stl", "torus.stl"]
    assert all(r["status"] == "done" for r in remote.values())
    assert len({r["node_id"] for r in remote.values()}) == 2  # the two groups ran on both nodes
    for name, row in remote.items():
        assert row["chamfer_l1"] == pytest.approx(local[name]["chamfer_l1"], rel=1e-4)
    # Each run directory came home whole, and names the part and itself as they are here.
    for name, row in remote.items():
        run_dir = Path(row["run_dir"])
        assert run_dir == tmp_path / "ray" / Path(name).stem
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["part"] == str(folder / name) and summary["node_id"] == row["node_id"]
        assert json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])["run_dir"] == str(run_dir)
        assert load_fit(run_dir).part == str(folder / name)
        assert (run_dir / "mesh.ply").is_file()
    assert "running on node" in done.stderr


def test_a_group_whose_worker_is_killed_is_retried(ray_cluster: LocalCluster, tmp_path: Path) -> None:
    folder = parts(tmp_path / "parts", ("box", "sphere"))
    hold = tmp_path / "hold"  # the first attempt waits after its first progress: killed mid-group on any machine
    hold.touch()
    cmd = [TRAIN, str(folder), *TINY, "--outputDir", str(tmp_path / "out"), "--ray", ray_cluster.address]
    env = {**ENV, "ISOSCOPE_TEST_HOLD": str(hold)}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    release = threading.Timer(300, lambda: hold.unlink(missing_ok=True))  # never a hung test, whatever happens
    release.start()
    pids, killed, lines = [], None, []
    try:
        for line in proc.stderr:
            lines.append(line)
            if "running on node" in line:
                pids.append(int(line.rsplit("pid ", 1)[1].split(")")[0].split(",")[0]))
            elif ": step " in line and killed is None:  # the group's first progress
                killed = pids[-1]
                os.kill(killed, signal.SIGKILL)
    finally:
        release.cancel()
        release.join()
    assert proc.wait(timeout=600) == 0, "".join(lines)
    text = "".join(lines)
    assert killed is not None and "died (WorkerCrashedError); retrying (1/1)" in text
    assert len(pids) == 2 and pids[1] != killed  # the group ran again, in another worker
    table = rows(tmp_path / "out")
    assert sorted(table) == ["box.stl", "sphere.stl"] and all(r["status"] == "done" for r in table.values())
    assert all((Path(r["run_dir"]) / "summary.json").is_file() for r in table.values())


def test_skip_done_fits_only_the_parts_without_a_finished_run(ray_cluster: LocalCluster, tmp_path: Path) -> None:
    from isoscope.core.cli import train_main

    folder = parts(tmp_path / "parts", ("box", "sphere"))
    (folder / "cracked.stl").write_bytes(b"not an STL at all")
    out = tmp_path / "out"
    assert train_main([str(folder), *TINY, "--outputDir", str(out)]) != 0
    first = rows(out)
    assert first["cracked.stl"]["status"] == "failed" and first["box.stl"]["status"] == "done"
    kept = {n: (Path(first[n]["run_dir"]) / "summary.json").read_bytes() for n in ("box.stl", "sphere.stl")}
    shutil.copy(PARTS / "torus.stl", folder / "cracked.stl")  # mended

    done = train(str(folder), *TINY, "--outputDir", str(out), "--skip-done", "--ray", ray_cluster.address)
    assert done.returncode == 0, done.stderr
    assert "2 part(s) already done; fitting 1" in done.stderr
    second = rows(out)
    assert sorted(second) == ["box.stl", "cracked.stl", "sphere.stl"]
    assert all(r["status"] == "done" for r in second.values())
    assert second["cracked.stl"]["node_id"] and not second["box.stl"]["node_id"]
    for name, before in kept.items():  # the finished runs were left as they were
        assert (Path(second[name]["run_dir"]) / "summary.json").read_bytes() == before
