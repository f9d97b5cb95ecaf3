"""``isoscope``: open the training monitor window, optionally run one job scripted and take a screenshot.

    isoscope [PART] [--preset NAME] [--device cpu|cuda:N] [--outputDir DIR]
             [--start] [--screenshot OUT.png] [--exit-when-done] [CONFIG FLAGS]

The config flags are isoscope-train's (``--epochs 60``, ``--batchSize 1024``, ...): they edit the
chosen preset's values in the Setup panel, as if typed there.

With ``--exit-when-done`` the window closes when the run has ended (after the screenshot, which is taken
once the reconstructed mesh is shown); the exit status is 0 for a finished run, 1 otherwise. A run
directory given opens as a past run; one still being written is followed to its end (or until its writer
is found gone).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from isoscope import __version__
from isoscope.core import config as C
from isoscope.core.cli import add_config_arguments, config_overrides
from isoscope.core.machine import display_problem

T0 = time.perf_counter()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="isoscope", description="The isoscope training monitor window.")
    p.add_argument("part", nargs="?", help="an STL part, a folder of parts, or a run directory to open")
    p.add_argument("--preset", choices=list(C.PRESETS), help="preset to start from")
    p.add_argument("--device", help="cpu or cuda:N (default: the last one used)")
    p.add_argument("--outputDir", "--output-dir", dest="output_dir", help="where runs are written and listed")
    p.add_argument("--start", action="store_true", help="start the job at once")
    p.add_argument("--screenshot", metavar="PNG", help="save a screenshot of the window when the run has ended")
    p.add_argument("--exit-when-done", action="store_true", help="quit when the run has ended")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_config_arguments(p, skip=("preset", "device"))
    return p


def apply_dark_palette(app: object) -> None:
    from PySide6.QtGui import QColor, QPalette

    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#23272e", QPalette.ColorRole.WindowText: "#d7dae0",
        QPalette.ColorRole.Base: "#1b1e24", QPalette.ColorRole.AlternateBase: "#262a31",
        QPalette.ColorRole.Text: "#d7dae0", QPalette.ColorRole.Button: "#2c313a",
        QPalette.ColorRole.ButtonText: "#d7dae0", QPalette.ColorRole.Highlight: "#3d6fb4",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#2c313a",
        QPalette.ColorRole.ToolTipText: "#d7dae0", QPalette.ColorRole.PlaceholderText: "#7f848e",
    }  # fmt: skip
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6b717d"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#6b717d"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6b717d"))  # read-only fields
    app.setStyle("Fusion")  # type: ignore[attr-defined]
    app.setPalette(pal)  # type: ignore[attr-defined]


def save_screenshot(window: object, path: str) -> None:
    """Grab the whole window (the VTK viewport included) into a PNG."""
    window.viewport.render() if window.viewport is not None else None  # type: ignore[attr-defined]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(path):  # type: ignore[attr-defined]
        raise OSError(f"cannot write {path}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problem = display_problem()
    if problem:
        print(f"isoscope: {problem}", file=sys.stderr)
        return 2
    # The window never talks to CUDA; pyqtgraph would otherwise load cuda-python (about a second).
    sys.modules.setdefault("cuda.bindings", None)  # type: ignore[arg-type]
    from PySide6.QtCore import QTimer

    app = make_application()
    window, code = make_window(args)
    if code is not None:
        return code
    window.show()
    result = {"code": 0}

    def end(code: int, message: str | None = None) -> None:
        """Record the exit status (and say why); with --exit-when-done, close the window."""
        if message:
            print(f"isoscope: error: {message}", file=sys.stderr)
        result["code"] = code
        if args.exit_when_done:
            window.close()
            app.quit()

    if args.exit_when_done:
        sys.excepthook = lambda kind, exc, tb: internal_error(app, end, kind, exc, tb)
    window.job_done.connect(lambda state: QTimer.singleShot(800, lambda: finish(window, args, state, end)))
    QTimer.singleShot(0, lambda: kick_off(window, args, end))
    app.exec()
    return result["code"]


def make_application() -> object:
    """The QApplication with isoscope's name, palette and icon."""
    from PySide6.QtWidgets import QApplication

    from isoscope.app.first_run import app_icon
    from isoscope.app.settings import APPLICATION, ORGANISATION

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    apply_dark_palette(app)
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("isoscope")  # matches packaging/isoscope.desktop.in (Wayland app id)
    return app


def make_window(args: argparse.Namespace) -> tuple[object, int | None]:
    """The main window set up from the command line; an exit status instead when the flags are bad."""
    from isoscope.app.first_run import attach_first_run
    from isoscope.app.main_window import MainWindow

    window = MainWindow(runs_root=args.output_dir)
    if not args.part:
        attach_first_run(window)
    overrides = config_overrides(args)
    if args.preset or args.part or overrides:  # as isoscope-train: the preset given, else "default"
        window.setup.apply_preset(args.preset or "default")  # (the remembered one only for a bare window)
    try:
        window.setup.editor.apply_overrides(overrides)
    except C.ConfigError as exc:
        print(f"isoscope: error: {exc}", file=sys.stderr)
        return window, 2
    if args.device and not window.setup.set_device(args.device):
        window.show_message("error", f"device {args.device!r} is not available here; choose one in the Device list")
        if args.exit_when_done:
            print(f"isoscope: error: device {args.device!r} is not available", file=sys.stderr)
            return window, 2
    return window, None


def internal_error(app: object, end: Callable[[int, str | None], None], kind: type, exc: BaseException,
                   tb: object) -> None:  # fmt: skip
    """An exception in a Qt slot under --exit-when-done: print it and end with status 1."""
    import traceback

    traceback.print_exception(kind, exc, tb)  # type: ignore[arg-type]
    end(1, "internal error in the window (details above)")
    app.exit(1)  # type: ignore[attr-defined]


def finish(window: object, args: argparse.Namespace, state: str, end: Callable[[int, str | None], None]) -> None:
    """The run has ended: report the window's overhead, take the screenshot, set the exit status."""
    code = 0
    overhead = window.pacer.overhead  # type: ignore[attr-defined]
    if overhead:
        print(f"window CPU while training on the CPU: {100 * overhead['cpu_share']:.1f}% of one core "
              f"({overhead['frames']:.0f} frames in {overhead['seconds']:.1f} s)", flush=True)  # fmt: skip
    if args.screenshot:
        try:
            save_screenshot(window, args.screenshot)
            print(f"screenshot: {args.screenshot}")
        except OSError as exc:
            print(f"isoscope: error: {exc}", file=sys.stderr)
            code = 1
    message = None
    if state != "Finished":
        message = f"the run ended as {state}: {window.banner.text()}"  # type: ignore[attr-defined]
        code = 1
    end(code, message)


def kick_off(window: object, args: argparse.Namespace, end: Callable[[int, str | None], None]) -> None:
    """Open what the command line names and start it if asked; a failure there ends with status 2."""
    from PySide6.QtCore import QTimer

    print(f"window shown in {time.perf_counter() - T0:.2f} s", flush=True)
    opened = not args.part or window.open_path(args.part)  # type: ignore[attr-defined]
    ended = window.opened_state  # type: ignore[attr-defined]
    if opened and args.part and not args.start and ended is not None and not window.following:  # type: ignore[attr-defined]
        QTimer.singleShot(800, lambda: finish(window, args, ended, end))  # a past run: nothing more comes
        return
    if opened and (not args.start or window.start()):  # type: ignore[attr-defined]
        return
    if args.exit_when_done:
        end(2, window.banner.text())  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
