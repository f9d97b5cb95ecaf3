"""``isoscope-run``: an unchanged PyTorch training script, run in this process as ``__main__``, written as a
run the window follows (``isoscope RUN_DIR``, or ``--window``), like ``python -m cProfile`` for phases.

    isoscope-run [--name N] [--outputDir D] [--window] SCRIPT [ARGS...]
    isoscope-run [--name N] [--outputDir D] [--window] -m MODULE [ARGS...]

Timed without any change to the script (see :class:`Watch`), each phase exclusive of those inside it:
``data`` (iterating any DataLoader), ``forward`` (a call of a module from outside any module),
``backward`` (``Tensor.backward``, ``torch.autograd.backward``), ``optimizer`` (optimizer steps, from
torch's global step hooks; inside ``step(closure)``, the closure's forward and backward count as forward
and backward), everything else ``other``. A step is one optimizer step (with several optimizers, one step
of the first that steps; without any, one backward call); the loss is the tensor the step's first
backward was called on. The end of the first DataLoader's iteration closes an epoch. The script's exit
status is isoscope-run's; a script that raises is recorded as failed (and its traceback printed as Python
would); Ctrl-C records it as stopped. Under torchrun each rank writes its own run.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isoscope.core.failure import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from isoscope.core.machine import display_problem

USAGE = "usage: isoscope-run [--name N] [--outputDir D] [--window] (SCRIPT | -m MODULE) [ARGS...]"
EXIT_INTERRUPTED = 130  # as a shell reports a process ended by Ctrl-C


class UsageError(ValueError):
    """A bad command line or a script that is not there: one line, exit status 2."""


@dataclass
class Options:
    """What the command line asks for."""

    target: str = ""  # the script's path or the module's name
    module: bool = False
    args: list[str] = field(default_factory=list)
    name: str | None = None
    root: str | None = None
    window: bool = False


def parse(argv: list[str]) -> Options:
    """isoscope-run's own options come before the script; everything after it is the script's."""
    opts, i = Options(), 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            print(__doc__)
            raise SystemExit(EXIT_OK)
        if arg == "--window":
            opts.window, i = True, i + 1
        elif arg in ("--name", "--outputDir", "--output-dir", "-m"):
            if i + 1 >= len(argv):
                raise UsageError(f"{arg} needs a value\n{USAGE}")
            value = argv[i + 1]
            if arg == "-m":
                opts.target, opts.module, opts.args = value, True, argv[i + 2 :]
                return opts
            setattr(opts, "name" if arg == "--name" else "root", value)
            i += 2
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg}\n{USAGE}")
        else:
            opts.target, opts.args = arg, argv[i + 1 :]
            return opts
    raise UsageError(f"no script given\n{USAGE}")


def check_target(opts: Options) -> str:
    """The run's default name; a UsageError when the script or module is not there."""
    if opts.module:
        try:
            spec = importlib.util.find_spec(opts.target)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            raise UsageError(f"no module named {opts.target}")
        return opts.target.rsplit(".", 1)[-1]
    path = Path(opts.target)
    if not path.is_file():
        raise UsageError(f"no such script: {opts.target}")
    return path.stem


def run_name(base: str) -> str:
    """The run's name; under torchrun (WORLD_SIZE > 1) with the rank in it."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        return f"{base}-rank{os.environ.get('RANK', '0')}"
    return base


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts = parse(argv)
        default = check_target(opts)  # a missing script or module is status 2, whatever the name
        name = run_name(opts.name or default)
        if opts.window and display_problem():
            raise UsageError(f"--window: {display_problem()}")
    except UsageError as exc:
        print(f"isoscope-run: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from isoscope.core.api import init
    from isoscope.core.watch import Watch

    sys.argv = [opts.target, *opts.args]
    run = init(name=name, config={"script": opts.target, "module": opts.module, "argv": opts.args},
               root=opts.root, print_tables=False)  # fmt: skip
    if opts.window:
        open_window(run.path, opts.root)
    watch = Watch(run)
    code, status, error = EXIT_OK, "done", None
    try:
        with watch:
            execute(opts)
    except SystemExit as exc:
        code = exit_code(exc)
        if code != EXIT_OK:
            status, error = "failed", exc
    except KeyboardInterrupt:
        code, status = EXIT_INTERRUPTED, "stopped"
    except BaseException as exc:  # noqa: BLE001 - the script's own failure, reported as Python would
        code, status, error = EXIT_FAILED, "failed", exc
        print_script_traceback(exc)
    watch.finish(status, error)
    print(f"isoscope-run: {status}: run written to {run.path} ({watch.step} steps)", file=sys.stderr)
    return code


def execute(opts: Options) -> None:
    """Run the script or module as ``__main__``, as ``python SCRIPT`` / ``python -m MODULE`` would."""
    if opts.module:
        sys.path.insert(0, os.getcwd())
        runpy.run_module(opts.target, run_name="__main__", alter_sys=True)
    else:
        sys.path.insert(0, str(Path(opts.target).resolve().parent))
        runpy.run_path(opts.target, run_name="__main__")


def exit_code(exc: SystemExit) -> int:
    """The status a ``sys.exit(code)`` gives, as Python's own (a message is printed and gives 1)."""
    if exc.code is None:
        return EXIT_OK
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return EXIT_FAILED


def print_script_traceback(exc: BaseException) -> None:
    """The traceback as Python prints it for the script: isoscope-run's and runpy's frames left out."""
    tb = exc.__traceback__
    ours = {os.path.abspath(__file__), os.path.abspath(runpy.__file__)}
    while tb is not None and (os.path.abspath(tb.tb_frame.f_code.co_filename) in ours
                              or tb.tb_frame.f_code.co_filename.startswith("<frozen")):  # fmt: skip
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def open_window(run_dir: Path, root: str | None) -> Any:
    """The window, in a process of its own, following the run (it stays open after the script ends)."""
    args = [sys.executable, "-m", "isoscope.app.main", str(run_dir)]
    if root:
        args += ["--outputDir", root]
    return subprocess.Popen(args, start_new_session=True)


def entry() -> None:
    from isoscope.core.cli import run_command

    run_command(main)


if __name__ == "__main__":
    entry()
