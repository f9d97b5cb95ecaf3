"""Command lines: ``isoscope-train`` (one part or a folder) and ``isoscope-inspect`` (mesh health).

The seed's command lines run unchanged: its flags (--numLayers, --batchSize, --learningRate,
--num_points, --init, --damArch, --scaler, --validationRes, --showVis, --reconstructionRes,
--outputDir, --epochs) are aliases of config fields; every field is also ``--section.name``. Bad input
prints one line, ``isoscope-train: error: ...``, and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from isoscope import __version__
from isoscope.core import config as C
from isoscope.core.failure import EXIT_BAD_INPUT, exit_status
from isoscope.core.mesh.part import PartError
from isoscope.core.runs.rundir import new_run_dir


class UsageError(Exception):
    """Bad input on the command line; exit status 2."""


def build_parser(prog: str = "isoscope-train") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Fit a neural SDF (or 3D Gaussians) to an STL part, or to every STL in a folder.",
        epilog="Config flags default to the chosen preset's values (shown: the 'default' preset).",
    )
    p.add_argument("path", nargs="?", help="an STL file, or a folder of STL files (fitted one after another)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a finished SDF run into a new run directory: "
                   "--epochs N trains N MORE epochs (default: as many more as it had), from its weights and "
                   "optimiser state, on a freshly drawn training set")  # fmt: skip
    p.add_argument("--part", metavar="PATH", help="with --resume: the run's part, when it has moved")
    p.add_argument("--preset", default=None, help=f"start from a preset: {', '.join(C.PRESETS)}")
    p.add_argument("--outputDir", "--output-dir", dest="output_dir", default=None,
                   help="where runs are written (default: the user's data directory)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch tables")
    p.add_argument("--skip-done", action="store_true", help="a folder run into an earlier folder run's "
                   "--outputDir: fit only the parts without a finished run there")  # fmt: skip
    ray = p.add_argument_group("Ray cluster (folder runs; pip install isoscope[ray])")
    ray.add_argument("--ray", metavar="ADDRESS", help="fit the folder's groups as tasks on the Ray cluster at "
                     "HOST:PORT (auto: the one started on this machine)")  # fmt: skip
    ray.add_argument("--ray-gpus", type=float, default=None, metavar="N",
                     help="GPUs per group (0.5: two groups share a GPU) [1 on a cluster with GPUs]")  # fmt: skip
    ray.add_argument("--ray-cpus", type=float, default=None, metavar="N",
                     help="CPUs per group on a CPU-only cluster [a local run's threads, at most a node's]")
    ray.add_argument("--ray-retries", type=int, default=1, metavar="N",
                     help="times a group whose worker died is submitted again [1]")  # fmt: skip
    ray.add_argument("--ray-shared-root", action="store_true", help="the output folder is on a file system "
                     "every node shares: workers read the parts and write their runs in place")  # fmt: skip
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_config_arguments(p)
    return p


def add_config_arguments(p: argparse.ArgumentParser, skip: tuple[str, ...] = ("preset",)) -> None:
    """One flag per config field (the seed's names first), grouped by section; values stay strings."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for path, f, value in C.iter_fields(C.RunConfig()):
        if path in skip:
            continue
        section = path.split(".")[0] if "." in path else "run"
        group = groups.setdefault(section, p.add_argument_group(f"{section} options"))
        flags = [*f.metadata.get("flags", ()), f"--{path}"]
        flags = list(dict.fromkeys(flags))
        helptext = f.metadata.get("doc", "")
        if f.metadata.get("choices"):
            helptext += f" ({'|'.join(f.metadata['choices'])})"
        helptext += f" [{value}]"
        group.add_argument(*flags, dest=f"cfg:{path}", default=None, metavar=type(value).__name__.upper(),
                           help=helptext)  # fmt: skip


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields given on the command line, by dotted path."""
    return {key[4:]: value for key, value in vars(args).items() if key.startswith("cfg:") and value is not None}


def config_from_args(args: argparse.Namespace) -> C.RunConfig:
    cfg = C.preset(args.preset or "default")
    for path, value in config_overrides(args).items():
        C.set_path(cfg, path, value)
    C.validate(cfg)
    return cfg


def choose_run_dir(output: Path | None, part: Path, job: str) -> Path:
    """--outputDir itself when it is new or empty; else a fresh subfolder, so nothing is overwritten."""
    from isoscope.core.runs.folder import fresh_dir
    from isoscope.core.runs.rundir import default_root

    if output is not None and output.exists() and not output.is_dir():
        raise UsageError(f"--outputDir {output}: exists and is not a folder")
    return fresh_dir(output, part, job) if output is not None else new_run_dir(default_root(), str(part), job)


def run_parts(parts: list[Path], cfg: C.RunConfig, run_dirs: list[Path], quiet: bool, loaded: Any = None,
              prepared: list[Any] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Fit parts in this process (alone: with the terminal as the sink; a group: quietly); ``prepared``: a
    group's parts prepared ahead (:mod:`isoscope.core.sdf.prefetch`)."""
    from isoscope.core.console import TerminalSink
    from isoscope.core.job import Reporter, fit_parts

    sinks = [TerminalSink(quiet=quiet)] if len(parts) == 1 else [lambda event: None] * len(parts)
    reporters = [Reporter(d, sink) for d, sink in zip(run_dirs, sinks, strict=True)]
    try:
        warn = lambda text: print(text, file=sys.stderr)  # noqa: E731
        return fit_parts([str(p) for p in parts], cfg, run_dirs, reporters, warn, loaded, prepared)[0]
    finally:
        for sink in sinks:
            getattr(sink, "close", lambda: None)()
        for r in reporters:
            r.close()


def resume_from_args(args: argparse.Namespace) -> tuple[C.RunConfig, Path, Path]:
    """--resume RUN_DIR: the run's config with the command line's changes (``--epochs``: how many more),
    a fresh sampling seed and ``resumed_from``; its part (or --part); where the new run goes."""
    from isoscope.core.runs.rundir import CONFIG, read_json

    run = Path(args.resume).resolve()
    if not (run / "model.pt").is_file() or not (run / CONFIG).is_file():
        raise UsageError(f"--resume {args.resume}: not a finished SDF run (no model.pt and config.json there)")
    saved = read_json(run / CONFIG)
    cfg = C.from_dict(saved)
    if cfg.job != "sdf":
        raise UsageError(f"--resume {args.resume}: only SDF fits can be continued")
    part = Path(args.part) if args.part else Path(str(saved.get("part", "")))
    if not part.is_file():
        where = f"--part {part}: no such file" if args.part else f"the part of {run} is not at {part} any more"
        raise UsageError(f"{where}: point at it with --part PATH")
    C.continuing(cfg, run)  # then the command line's changes (--seed included)
    for path, value in config_overrides(args).items():
        C.set_path(cfg, path, value)
    C.validate(cfg)
    output = Path(args.output_dir) if args.output_dir else run.parent
    return cfg, part, output


def train_main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.resume:
            cfg, path, output_root = resume_from_args(args)
        elif args.path is None:
            raise UsageError("give an STL file or folder to fit (or --resume RUN_DIR)")
        else:
            cfg, path, output_root = config_from_args(args), Path(args.path), None
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        output = Path(args.output_dir) if args.output_dir else None
        if output_root is not None and output is None:  # a continued run goes beside the one it continues
            output = new_run_dir(output_root, str(path), "sdf")
        from isoscope.core.job import JobError, resolve_device

        try:
            if not args.ray:  # on a cluster each task's device is the one Ray gives it
                resolve_device(cfg.device)
        except JobError as exc:
            raise UsageError(str(exc)) from None
        if path.is_dir():
            return run_folder(path, cfg, output, args.quiet, ray_options(args), args.skip_done)
        if args.ray or args.skip_done:
            raise UsageError(f"--{'ray' if args.ray else 'skip-done'} is for a folder of parts; {path} is a file")
        from isoscope.core.mesh.part import load_part

        part = load_part(path)
        run_dir = choose_run_dir(output, path, cfg.job)
    except (UsageError, C.ConfigError, PartError) as exc:
        return _fail(parser.prog, str(exc))
    summary = run_parts([path], cfg, [run_dir], args.quiet, part)[0]
    if summary.get("status") == "failed":
        print(f"{parser.prog}: error: {summary['error']}", file=sys.stderr)
        return exit_status([summary])
    print(f"run directory: {run_dir}")
    if summary.get("status") == "no_surface":
        print(f"{parser.prog}: warning: {summary.get('advice', 'no surface')}", file=sys.stderr)
    return 0


def ray_options(args: argparse.Namespace) -> Any:
    """The --ray flags as :class:`isoscope.core.runs.cluster.RayOptions`, or None for a local run."""
    given = args.ray_gpus is not None or args.ray_cpus is not None or args.ray_shared_root or args.ray_retries != 1
    if not args.ray:
        if given:
            raise UsageError("--ray-gpus, --ray-cpus, --ray-retries and --ray-shared-root go with --ray ADDRESS")
        return None
    import importlib.util

    from isoscope.core.runs.cluster import RayOptions

    if importlib.util.find_spec("ray") is None:
        raise UsageError("--ray needs Ray on this machine: pip install 'isoscope[ray]'")
    if args.ray_retries < 0 or (args.ray_cpus is not None and args.ray_cpus <= 0) or (args.ray_gpus or 0) < 0:
        raise UsageError("--ray-retries must be 0 or more, --ray-cpus more than 0, --ray-gpus 0 or more")
    return RayOptions(args.ray, args.ray_gpus, args.ray_cpus, args.ray_retries, args.ray_shared_root)


def folder_root(output: Path | None, folder: Path, skip_done: bool) -> Path:
    """Where a folder run goes: with --skip-done the earlier folder run at --outputDir, else a fresh folder."""
    from isoscope.core.runs.folder import is_folder_run

    if skip_done and (output is None or not is_folder_run(output)):
        raise UsageError("--skip-done: point --outputDir at an earlier folder run (it holds batch_summary.json)")
    return output if skip_done and output is not None else choose_run_dir(output, folder, "batch")


def run_folder(folder: Path, cfg: C.RunConfig, output: Path | None, quiet: bool, ray: Any = None,
               skip_done: bool = False) -> int:  # fmt: skip
    """The folder run (:class:`isoscope.core.runs.folder.FolderRun`) with its groups fitted in this process, or
    on a Ray cluster (``ray``: RayOptions). Ctrl-C ends it with the summary of the parts that finished."""
    from isoscope.core.runs.folder import FolderRun, find_parts

    if not find_parts(folder):
        raise UsageError(f"{folder}: the folder holds no .stl files")
    nodes = _connect(ray) if ray is not None else []  # before anything is written
    run = FolderRun(folder, folder_root(output, folder, skip_done), cfg.job, cfg.train.batch_parts, skip_done)
    if skip_done:
        print(f"{len(run.parts) - len(run.todo)} part(s) already done; fitting {len(run.todo)}", file=sys.stderr)

    def on_part(part: Path, run_dir: Path, summary: dict[str, Any]) -> None:
        row = run.record(part, run_dir, summary)
        where = f" on node {row['node_id'][:8]}" if row["node_id"] else ""
        print(f"[{len(run.table.rows)}/{len(run.parts)}] {row['part']}: {row['status']}{where}", file=sys.stderr)

    try:
        if ray is not None:
            _fit_on_ray(run, cfg, ray, on_part, nodes)
        else:
            _fit_here(run, cfg, on_part)
    except KeyboardInterrupt:
        print(f"stopped: {len(run.table.rows)} of {len(run.parts)} parts finished; batch summary: "
              f"{run.table.csv_path}", file=sys.stderr)  # fmt: skip
        return 130
    print(run.table.text())
    print(f"batch summary: {run.table.csv_path} and {run.table.json_path}")
    return 0 if run.table.all_ok() else 1


def _fit_here(run: Any, cfg: C.RunConfig, on_part: Callable[..., None]) -> None:
    """The folder run's groups in this process, the next group's parts prepared while one trains
    (``train.overlap``; :class:`isoscope.core.sdf.prefetch.GroupPrefetch`)."""
    from contextlib import nullcontext

    groups = run.groups()
    if cfg.job != "sdf":
        ahead: Any = nullcontext([(group, None) for group in groups])
    else:
        from isoscope.core.sdf.prefetch import GroupPrefetch

        ahead = GroupPrefetch(groups, cfg)
    with ahead as ordered:
        for group, prepared in ordered:
            run_dirs = [run.run_dir(p) for p in group]
            summaries = run_parts(group, cfg, run_dirs, True, prepared=prepared)
            for part, run_dir, summary in zip(group, run_dirs, summaries, strict=True):
                on_part(part, run_dir, summary)


def _connect(opts: Any) -> list[dict[str, Any]]:
    from isoscope.core.runs.cluster import ClusterError, connect

    try:
        return connect(opts.address)
    except ClusterError as exc:
        raise UsageError(str(exc)) from None


def _fit_on_ray(run: Any, cfg: C.RunConfig, opts: Any, on_part: Callable[..., None], nodes: list[Any]) -> None:
    import ray

    from isoscope.core.runs.cluster import ClusterError, RayFolderRun

    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    try:
        driver = RayFolderRun(run, C.to_dict(cfg), opts, say)
    except ClusterError as exc:
        ray.shutdown()
        raise UsageError(str(exc)) from None
    say(driver.opening(nodes))
    try:
        driver.fit(run.groups(), on_part)
    finally:
        ray.shutdown()


def _fail(prog: str, message: str) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def inspect_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="isoscope-inspect", description="Report the mesh health of an STL part.")
    p.add_argument("path", help="an STL file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--resolution", type=int, default=256, help="reconstruction grid for the thin-feature check")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = p.parse_args(argv)
    from isoscope.core.mesh.health import report
    from isoscope.core.mesh.part import load_part

    try:
        part = load_part(args.path)
    except PartError as exc:
        return _fail(p.prog, str(exc))
    rep = report(part, resolution=args.resolution)
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        from isoscope.core.mesh.health import report_text

        print(report_text(rep))
    return 0


def run_command(main: Callable[[], int]) -> None:
    """Exit with ``main()``'s status; output piped into a reader that has gone (``| head``) ends quietly."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout once more at exit: point it at /dev/null so that flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code)


def train_entry() -> None:
    run_command(train_main)


def inspect_entry() -> None:
    run_command(inspect_main)
