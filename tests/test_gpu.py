"""CUDA paths: the captured training step, warp's signed distance, marching cubes and metrics on the GPU.

Skipped on machines without CUDA (CI); run on the GPU machine with ``pytest tests/test_gpu.py``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from isoscope.core import config as C
from isoscope.core.job import Reporter
from isoscope.core.mesh.part import load_part
from isoscope.core.sdf.distance import MeshSDF
from isoscope.core.sdf.group import run_group
from isoscope.core.sdf.job import SDFJob
from isoscope.core.sdf.network import SDFNet
from isoscope.core.sdf.step import GraphStep, make_adam

from support import PARTS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
CUDA = torch.device("cuda")


def _train(model: SDFNet, graph: bool, X: torch.Tensor, Y: torch.Tensor, b: int, perms: list[torch.Tensor]):
    opt = make_adam(model.parameters(), 1e-3)
    running = torch.zeros((), device=CUDA)

    def loss_of(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss = (model(X[idx]) - Y[idx]).abs().mean()
        return loss, loss

    step = GraphStep(opt, loss_of, running, (b,)) if graph else None
    for perm in perms:
        for i in range(0, X.shape[0], b):
            idx = perm[i : i + b]
            if step is not None:
                step(idx)
                continue
            loss, _ = loss_of(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.detach()
    torch.cuda.synchronize()
    return running.item()


def test_graph_step_trains_as_eager_steps():
    torch.manual_seed(1)
    X = torch.rand(5000, 3, device=CUDA) * 2 - 1
    Y = X.norm(dim=1) - 0.5
    perms = [torch.randperm(5000, device=CUDA) for _ in range(3)]  # 9 full batches and one of 392 an epoch
    eager = SDFNet([64, 64, 64]).to(CUDA)
    graphed, start = copy.deepcopy(eager), copy.deepcopy(eager)
    loss_e = _train(eager, False, X, Y, 512, perms)
    loss_g = _train(graphed, True, X, Y, 512, perms)
    assert loss_g == pytest.approx(loss_e, rel=1e-4)
    for a, b in zip(eager.parameters(), graphed.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(start.net[0].weight, graphed.net[0].weight)  # it trained


def _job(part: str, tmp: Path, name: str, **train: object) -> SDFJob:
    cfg = C.preset("smoke")
    cfg.device = "cuda"
    cfg.train.epochs = 4
    for key, value in train.items():
        setattr(cfg.train, key, value)
    run = tmp / name
    return SDFJob(str(PARTS / part), cfg, run, Reporter(run, lambda event: None))


def test_job_with_graph_matches_eager_job(tmp_path):
    graphed = _job("torus.stl", tmp_path, "graph").run()
    eager = _job("torus.stl", tmp_path, "eager", cuda_graph=False).run()
    assert graphed["status"] == eager["status"] == "done"
    assert "step" in graphed["phases_s"] and "forward" not in graphed["phases_s"]
    assert "forward" in eager["phases_s"]
    assert graphed["train_loss"] == pytest.approx(eager["train_loss"], rel=1e-3)
    assert graphed["chamfer_l1"] == pytest.approx(eager["chamfer_l1"], rel=0.05)


def test_graph_reads_resampled_points(tmp_path):
    out = _job("sphere.stl", tmp_path, "resample").run()
    fresh = _job("sphere.stl", tmp_path, "resample2")
    fresh.cfg.sampling.resample_every_epoch = True
    again = fresh.run()
    assert again["status"] == "done" and again["validation"]["val_iou"] > 0.8
    assert again["train_loss"] != out["train_loss"]


def test_packed_graph_with_side_stream_trains_as_one_stream_eager():
    """The packed network's weight gradients on a second stream, captured in the graph, train exactly as
    one stream, op by op."""
    from isoscope.core.sdf.packed import PackedMLP

    torch.manual_seed(2)
    X = torch.rand(5000, 3, device=CUDA) * 2 - 1
    Y = X.norm(dim=1) - 0.5
    perms = [torch.randperm(5000, device=CUDA) for _ in range(3)]
    eager = PackedMLP([SDFNet([333, 442, 351, 53])]).to(CUDA)
    graphed = copy.deepcopy(eager)
    eager.overlap, graphed.overlap = False, True
    loss_e = _train(eager, False, X, Y, 512, perms)
    loss_g = _train(graphed, True, X, Y, 512, perms)
    assert graphed._side is not None and eager._side is None
    assert loss_g == pytest.approx(loss_e, rel=1e-4)
    for a, b in zip(eager.parameters(), graphed.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_group_on_gpu_equals_alone(tmp_path):
    """On the GPU a batched multiply rounds differently from a plain one and training amplifies it, so a
    group's fits are compared with the parts alone over three seeds each: the group's mean Chamfer must
    sit within the seeds' own spread of the mean alone. The graph itself changes nothing."""
    parts = ["box.stl", "torus.stl", "sphere.stl"]
    full = {"epochs": 16}
    seeds = (0, 1, 2)
    alone = [[_job(p, tmp_path, f"alone-{s}-{p}", seed=s, **full).run() for s in seeds] for p in parts]
    groups = [run_group([_job(p, tmp_path, f"group-{s}-{p}", seed=s, **full) for p in parts]) for s in seeds]
    eager = run_group([_job(p, tmp_path, f"eager-{p}", cuda_graph=False, **full) for p in parts])
    for k, p in enumerate(parts):
        a = [r["chamfer_l1"] for r in alone[k]]
        g = [groups[s][k]["chamfer_l1"] for s in range(len(seeds))]
        print(p, "alone", [f"{v:.5f}" for v in a], "group", [f"{v:.5f}" for v in g])
        assert all(r["status"] == "done" for r in (*alone[k], *(grp[k] for grp in groups), eager[k]))
        assert groups[0][k]["train_loss"] == pytest.approx(eager[k]["train_loss"], rel=2e-3)
        mean_a, mean_g = sum(a) / len(a), sum(g) / len(g)
        assert abs(mean_g - mean_a) <= 1.5 * (max(a) - min(a)) + 0.1 * mean_a


def test_packed_network_on_gpu_equals_the_network():
    from isoscope.core.sdf.packed import PackedMLP
    from isoscope.core.sdf.step import set_precision

    torch.manual_seed(0)
    net = SDFNet([333, 442, 351, 340, 304, 139, 76, 53, 39, 36]).to(CUDA)
    x = torch.rand(3000, 3, device=CUDA) * 2 - 1
    for precision, tol in (("fp32", 1e-5), ("tf32", 2e-2)):
        set_precision(CUDA, precision)
        packed = PackedMLP([copy.deepcopy(net)]).to(CUDA)
        ref = net(x)
        out = packed(x)
        torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
        ref.abs().mean().backward()
        out.abs().mean().backward()
        first = packed.weights[0].grad
        torch.testing.assert_close(first[:333, :3], net.net[0].weight.grad, rtol=tol, atol=tol)
        torch.testing.assert_close(first[:333, -1], net.net[0].bias.grad, rtol=tol, atol=tol)
        assert not first[333:].any() and not first[:, 3:-1].any()
        net.zero_grad()
    set_precision(CUDA, "fp32")


def test_signed_distance_on_gpu_equals_cpu():
    part = load_part(PARTS / "torus.stl")
    pts = torch.rand(100_000, 3) * 2 - 1
    cpu = MeshSDF(part.normalised_vertices, part.faces, "cpu")(pts)
    gpu = MeshSDF(part.normalised_vertices, part.faces, CUDA)(pts.to(CUDA))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-5)


def test_reconstruction_and_metrics_on_gpu_equal_cpu():
    from isoscope.core.sdf.metrics import surface_metrics
    from isoscope.core.sdf.reconstruct import evaluate_grid, evaluate_grid_near_surface, extract_surface

    def sphere(p: torch.Tensor) -> torch.Tensor:
        return p.norm(dim=-1) - 0.5

    out = {}
    for dev in ("cpu", "cuda"):
        vol = evaluate_grid(sphere, 64, torch.device(dev), 65_536)
        verts, faces = extract_surface(vol)
        out[dev] = (len(faces), surface_metrics(verts, faces, verts, faces, 20_000))
    assert out["cuda"][0] == out["cpu"][0]
    full = evaluate_grid(sphere, 128, CUDA, 65_536)
    near = evaluate_grid_near_surface(sphere, 128, CUDA, 65_536)
    assert torch.equal(near.sign(), full.sign())
    assert out["cuda"][1]["chamfer_l1"] == pytest.approx(out["cpu"][1]["chamfer_l1"], rel=0.1)


def test_api_phase_around_a_gpu_kernel_reads_its_gpu_time(tmp_path):
    """A phase around a kernel that keeps the GPU busy for about 50 ms reads about 50 ms, though the host
    returns from the launch at once; and logging CUDA tensors never waits for the GPU per step."""
    import isoscope
    from isoscope.core import events as ev
    from isoscope.core.runs.follow import read_run

    torch.cuda.init()
    torch.cuda._sleep(1000)  # warm up
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    torch.cuda._sleep(10_000_000)
    end.record()
    end.synchronize()
    cycles = int(10_000_000 * 50.0 / start.elapsed_time(end))  # about 50 ms on this GPU
    run = isoscope.init(name="gpu", root=tmp_path, report_every_s=0, print_tables=False)
    waits = {"n": 0}
    real_sync = torch.cuda.Event.synchronize

    def counted(self):
        waits["n"] += 1
        return real_sync(self)

    with run:
        torch.cuda.Event.synchronize = counted
        try:
            for step in range(3):
                with run.phase("kernel"):
                    torch.cuda._sleep(cycles)
                run.log(step, loss=torch.ones((), device=CUDA) * step)
            assert waits["n"] == 0  # three reporting points, no wait
            seconds = run.epoch()
        finally:
            torch.cuda.Event.synchronize = real_sync
    assert seconds["kernel"] == pytest.approx(0.150, rel=0.2)
    metrics = [e for e in read_run(run.path).events if isinstance(e, ev.Metrics)]
    assert [m.values["train_loss"] for m in metrics] == [0.0, 1.0, 2.0]
