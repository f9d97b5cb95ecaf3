"""``isoscope``: open the training monitor window, optionally run one job scripted and take a screenshot.

    isoscope [PART] [--preset NAME] [--device cpu|cuda:N] [--outputDir DIR]
             [--start] [--screenshot OUT.png] [--exit-when-done] [CONFIG FLAGS]

The config flags are isoscope-train's (``--epochs 60``, ``--batchSize 1024``, ...): they edit the
chosen preset's values in the Setup panel, as if typed there.

With ``--exit-when-done`` the window closes when the run has ended (after the screenshot, which is taken
once the reconstructed mesh is shown); the exit status is 0 for a finished run, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core import __version__
from core import config as C
from core.cli import add_config_arguments, config_overrides

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
    # The window never talks to CUDA; pyqtgraph would otherwise load cuda-python (about a second).
    sys.modules.setdefault("cuda.bindings", None)  # type: ignore[arg-type]
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.first_run import app_icon, attach_first_run
    from app.main_window import MainWindow
    from app.settings import APPLICATION, ORGANISATION

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    apply_dark_palette(app)
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("isoscope")  # matches packaging/isoscope.desktop.in (Wayland app id)
    window = MainWindow(runs_root=args.output_dir)
    if not args.part:
        attach_first_run(window)
    if args.preset:
        window.setup.apply_preset(args.preset)
    try:
        window.setup.editor.apply_overrides(config_overrides(args))
    except C.ConfigError as exc:
        print(f"isoscope: error: {exc}", file=sys.stderr)
        return 2
    if args.device and not window.setup.set_device(args.device):
        window.show_message("error", f"device {args.device!r} is not available here; choose one in the Device list")
        if args.exit_when_done:
            print(f"isoscope: error: device {args.device!r} is not available", file=sys.stderr)
            return 2
    window.show()
    result = {"code": 0}
    if args.exit_when_done:

        def on_error(kind: type, exc: BaseException, tb: object) -> None:
            import traceback

            traceback.print_exception(kind, exc, tb)  # type: ignore[arg-type]
            print("isoscope: error: internal error in the window (details above)", file=sys.stderr)
            result["code"] = 1
            app.exit(1)

        sys.excepthook = on_error

    def finish(state: str) -> None:
        summary_ok = state == "Finished"
        overhead = window.pacer.overhead
        if overhead:
            print(f"window CPU while training on the CPU: {100 * overhead['cpu_share']:.1f}% of one core "
                  f"({overhead['frames']:.0f} frames in {overhead['seconds']:.1f} s)", flush=True)  # fmt: skip
        if args.screenshot:
            try:
                save_screenshot(window, args.screenshot)
                print(f"screenshot: {args.screenshot}")
            except OSError as exc:
                print(f"isoscope: error: {exc}", file=sys.stderr)
                result["code"] = 1
        if not summary_ok:
            print(f"isoscope: error: the run ended as {state}: {window.banner.text()}", file=sys.stderr)
            result["code"] = 1
        if args.exit_when_done:
            window.close()
            app.quit()

    window.job_done.connect(lambda state: QTimer.singleShot(800, lambda: finish(state)))

    def kick_off() -> None:
        print(f"window shown in {time.perf_counter() - T0:.2f} s", flush=True)
        if args.part and not _open(window, args.part):
            if args.exit_when_done:
                print(f"isoscope: error: {window.banner.text()}", file=sys.stderr)
                result["code"] = 2
                window.close()
                app.quit()
            return
        if args.start and not window.start():
            if args.exit_when_done:
                print(f"isoscope: error: {window.banner.text()}", file=sys.stderr)
                result["code"] = 2
                window.close()
                app.quit()

    QTimer.singleShot(0, kick_off)
    app.exec()
    return result["code"]


def _open(window: object, path: str) -> bool:
    p = Path(path)
    if p.is_dir() and (p / "config.json").exists():
        return window.open_run(p)  # type: ignore[attr-defined]
    if p.is_dir():
        return window.setup.set_folder(p)  # type: ignore[attr-defined]
    return window.setup.set_part(p)  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
