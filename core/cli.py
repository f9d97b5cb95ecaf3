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


class UsageError(Exception):
    """Bad input on the command line; exit status 2."""


def build_parser(prog: str = "isoscope-train") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Fit a neural SDF (or 3D Gaussians) to an STL part, or to every STL in a folder.",
        epilog="Config flags default to the chosen preset's values (shown: the 'default' preset).",
    )
    p.add_argument("path", help="an STL file, or a folder of STL files (fitted one after another)")
    p.add_argument("--preset", default=None, help=f"start from a preset: {', '.join(C.PRESETS)}")
    p.add_argument("--outputDir", "--output-dir", dest="output_dir", default=None,
                   help="where runs are written (default: the user's data directory)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch tables")
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


def find_parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".stl")


def choose_run_dir(output: Path | None, part: Path, job: str) -> Path:
    """--outputDir itself when it is new or empty; else a fresh subfolder, so nothing is overwritten."""
    from isoscope.core.runs.rundir import default_root, new_run_dir

    if output is not None and (not output.exists() or (output.is_dir() and not any(output.iterdir()))):
        output.mkdir(parents=True, exist_ok=True)
        return output
    if output is not None and not output.is_dir():
        raise UsageError(f"--outputDir {output}: exists and is not a folder")
    return new_run_dir(output if output is not None else default_root(), str(part), job)


def run_one(part: Path, cfg: C.RunConfig, run_dir: Path, quiet: bool, loaded: Any = None) -> dict[str, Any]:
    """Run one job in this process with the terminal as its sink; return its summary."""
    from isoscope.core.console import TerminalSink
    from isoscope.core.failure import job_failed
    from isoscope.core.job import Reporter, make_job

    sink = TerminalSink(quiet=quiet)
    reporter = Reporter(run_dir, sink)
    try:
        job = make_job(str(part), cfg, run_dir, reporter)
        job.part = loaded
        return job.run()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - reported as a failed part
        return job_failed(exc, run_dir, str(part), reporter.emit)
    finally:
        sink.close()
        reporter.close()


def train_main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
        path = Path(args.path)
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        output = Path(args.output_dir) if args.output_dir else None
        from isoscope.core.job import JobError, resolve_device

        try:
            resolve_device(cfg.device)
        except JobError as exc:
            raise UsageError(str(exc)) from None
        if path.is_dir():
            return run_folder(path, cfg, output, args.quiet)
        from isoscope.core.mesh.part import load_part

        part = load_part(path)
        run_dir = choose_run_dir(output, path, cfg.job)
    except (UsageError, C.ConfigError, PartError) as exc:
        return _fail(parser.prog, str(exc))
    summary = run_one(path, cfg, run_dir, args.quiet, part)
    if summary.get("status") == "failed":
        print(f"{parser.prog}: error: {summary['error']}", file=sys.stderr)
        return exit_status([summary])
    print(f"run directory: {run_dir}")
    if summary.get("status") == "no_surface":
        print(f"{parser.prog}: warning: {summary.get('advice', 'no surface')}", file=sys.stderr)
    return 0


def run_folder(folder: Path, cfg: C.RunConfig, output: Path | None, quiet: bool) -> int:
    from isoscope.core.runs.table import BatchTable

    parts = find_parts(folder)
    if not parts:
        raise UsageError(f"{folder}: the folder holds no .stl files")
    root = output if output is not None else Path(choose_run_dir(None, folder, "batch"))
    table = BatchTable(root)
    group = cfg.train.batch_parts if cfg.job == "sdf" else 1
    for start in range(0, len(parts), group):
        chunk = parts[start : start + group]
        names = ", ".join(p.name for p in chunk)
        print(f"[{start + 1}-{start + len(chunk)}/{len(parts)}] {names}", file=sys.stderr)
        run_dirs = [choose_run_dir(root / part.stem, part, cfg.job) for part in chunk]
        if len(chunk) == 1:
            summaries = [run_one(chunk[0], cfg, run_dirs[0], quiet)]
        else:
            summaries = run_together(chunk, cfg, run_dirs)
        for part, run_dir, summary in zip(chunk, run_dirs, summaries, strict=True):
            table.add(part, run_dir, summary)
    print(table.text())
    print(f"batch summary: {table.csv_path} and {table.json_path}")
    return 0 if table.all_ok() else 1


def run_together(parts: list[Path], cfg: C.RunConfig, run_dirs: list[Path]) -> list[dict[str, Any]]:
    """Fit several parts in one batched network (isoscope.core.sdf.group); a failing group falls back to one by one."""
    from isoscope.core.job import Reporter
    from isoscope.core.sdf.group import run_group
    from isoscope.core.sdf.job import SDFJob

    reporters = [Reporter(d, lambda event: None) for d in run_dirs]
    try:
        return run_group([SDFJob(str(p), cfg, d, r) for p, d, r in zip(parts, run_dirs, reporters, strict=True)])
    except Exception as exc:  # noqa: BLE001 - e.g. out of memory for the whole group
        print(f"batched group failed ({type(exc).__name__}: {exc}); fitting its parts one by one", file=sys.stderr)
        return [run_one(p, cfg, d, True) for p, d in zip(parts, run_dirs, strict=True)]
    finally:
        for r in reporters:
            r.close()


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
