"""The window's actions, toolbar and menus: File, Run, View, Help, one QAction each, shared by toolbar and menus.

:func:`build_toolbar` makes the run actions (``window.act_start`` ...) and the toolbar early, since the
window's state code uses them; :func:`build_menus` adds the file actions and every menu once the docks, the
Inspector and the frame pacer exist. Every action with a shortcut shows it in its menu (Qt lists it).
Pause/Resume takes Space only while the plots have the focus (elsewhere Space belongs to buttons and text).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMenu, QSpinBox, QStyle, QToolBar

from isoscope.core.export import ExportError, export_run
from isoscope.core.runs.rundir import atomic_path

SHORTCUTS = {
    "act_open": "Ctrl+O", "act_open_folder": "Ctrl+Shift+O", "act_open_run": "Ctrl+R", "act_export": "Ctrl+E",
    "act_export_mesh": "Ctrl+Shift+E", "act_quit": "Ctrl+Q", "act_start": "F5", "act_pause": "Space",
    "act_stop": "Shift+F5", "act_recon": "Ctrl+M", "act_profile": "Ctrl+P", "act_continue": "Ctrl+F5",
    "act_compare": "Ctrl+Shift+C", "act_shortcuts": "Ctrl+/", "act_readme": "F1",
}  # fmt: skip
_SP = QStyle.StandardPixmap
MEDIA = (_SP.SP_MediaPlay, _SP.SP_MediaPause, _SP.SP_MediaStop)  # black glyphs in the Fusion style


def light_icon(icon: QIcon) -> QIcon:
    """A standard icon redrawn light (and dim when disabled): the Fusion style's media glyphs are black,
    which the dark toolbar and menus hide."""
    out = QIcon()
    for size in (16, 24, 32):
        for mode, colour in ((QIcon.Mode.Normal, "#d7dae0"), (QIcon.Mode.Disabled, "#5c6370")):
            pixmap = icon.pixmap(size, size)
            painter = QPainter(pixmap)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
            painter.fillRect(pixmap.rect(), QColor(colour))
            painter.end()
            out.addPixmap(pixmap, mode)
    return out


def _action(window: Any, name: str, text: str, slot: Any, tip: str = "", icon: Any = None) -> QAction:
    action = QAction(text, window)
    if icon is not None:
        standard = window.style().standardIcon(icon)
        action.setIcon(light_icon(standard) if icon in MEDIA else standard)
    if name in SHORTCUTS:
        action.setShortcut(QKeySequence(SHORTCUTS[name]))
    if tip:
        action.setToolTip(tip)
    action.triggered.connect(lambda _=False: slot())
    window.addAction(action)  # its shortcut works wherever the focus is in the window (Space: see below)
    setattr(window, name, action)
    return action


def build_toolbar(window: Any) -> QToolBar:
    """The run actions and the toolbar that shows them with the resolution and step-count boxes."""
    sp = QStyle.StandardPixmap
    _action(window, "act_open", "Open part…", lambda: window.setup._browse(), "Open an STL part",
            sp.SP_DialogOpenButton)  # fmt: skip
    _action(window, "act_start", "Start", window.start, "Start a fresh worker for the chosen part, preset and device",
            sp.SP_MediaPlay)  # fmt: skip
    _action(window, "act_pause", "Pause", window.toggle_pause, "Pause or resume the job (Space in the plots)",
            sp.SP_MediaPause)  # fmt: skip
    _action(window, "act_stop", "Stop", window.stop_job, "Stop cooperatively (save, reconstruct); force after a "
            "grace period", sp.SP_MediaStop)  # fmt: skip
    _action(window, "act_recon", "Reconstruct now", window.reconstruct_now, "Mesh the current network now")
    _action(window, "act_continue", "Continue training", window.continue_training, "Train the finished run shown "
            "further into a new run: its settings, network and optimiser, a fresh draw of points")  # fmt: skip
    _action(window, "act_profile", "Profile next steps", window.profile_steps, "Capture the next N steps (the box "
            "beside) with torch.profiler: of the running job, or of a run being written that you opened")  # fmt: skip
    window.removeAction(window.act_pause)  # Space only while the plots have the focus
    window.act_pause.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    window.plots.addAction(window.act_pause)
    tb = window.addToolBar("Run")
    tb.setObjectName("run_toolbar")
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for a in (window.act_open, window.act_start, window.act_pause, window.act_stop):
        tb.addAction(a)
    tb.addSeparator()
    tb.addAction(window.act_recon)
    window.recon_res = _spin(16, 1024, 128, "Marching-cubes resolution for Reconstruct now", step=16)
    tb.addWidget(window.recon_res)
    tb.addAction(window.act_continue)
    tb.addSeparator()
    tb.addAction(window.act_profile)
    window.profile_n = _spin(1, 10_000, 20, "Steps to capture with torch.profiler")
    tb.addWidget(window.profile_n)
    return tb


def _spin(lo: int, hi: int, value: int, tip: str, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def build_menus(window: Any) -> None:
    """File, Run, View and Help (see the module docstring)."""
    from isoscope.app.help_dialogs import show_about, show_readme, show_shortcuts

    _action(window, "act_open_folder", "Open folder…", lambda: window.setup._browse_folder(),
            "Fit every STL part in a folder")  # fmt: skip
    _action(window, "act_open_run", "Open run…", lambda: open_run_dialog(window), "Open a past or running run")
    _action(window, "act_export", "Export metrics…", lambda: export_metrics_dialog(window),
            "Every series of the run shown, in long form (CSV or JSON)")  # fmt: skip
    _action(window, "act_export_mesh", "Export mesh…", lambda: export_mesh_dialog(window),
            "The fitted mesh of the run shown, in the part's units (STL or PLY)")  # fmt: skip
    _action(window, "act_quit", "Quit", window.close)
    _action(window, "act_compare", "Compare with seed-style", lambda: window.seed_compare.start(),
            "Train the finished run's config the seed trainer's way and isoscope's, side by side (a small budget "
            "by default)")  # fmt: skip
    _action(window, "act_shortcuts", "Keyboard shortcuts", lambda: show_shortcuts(window))
    _action(window, "act_readme", "README", lambda: show_readme(window))
    _action(window, "act_about", "About isoscope", lambda: show_about(window))
    window.act_quit.setMenuRole(QAction.MenuRole.QuitRole)
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    for a in (window.act_open, window.act_open_folder, window.act_open_run):
        file_menu.addAction(a)
    window.recent_menu = file_menu.addMenu("Recent")
    window.recent_menu.aboutToShow.connect(lambda: fill_recent(window))
    fill_recent(window)
    file_menu.addSeparator()
    file_menu.addAction(window.act_export)
    file_menu.addAction(window.act_export_mesh)
    file_menu.addSeparator()
    file_menu.addAction(window.act_quit)
    run_menu = bar.addMenu("&Run")
    for a in (window.act_start, window.act_pause, window.act_stop, None, window.act_recon, window.act_profile,
              window.act_continue, None, window.act_compare):  # fmt: skip
        run_menu.addSeparator() if a is None else run_menu.addAction(a)
    view = bar.addMenu("&View")
    for i, dock in enumerate(window.findChildren(QDockWidget)):
        toggle = dock.toggleViewAction()
        toggle.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
        view.addAction(toggle)
    view.addSeparator()
    window.pacer.add_menu(view)
    help_menu = bar.addMenu("&Help")
    for a in (window.act_shortcuts, window.act_readme, None, window.act_about):
        help_menu.addSeparator() if a is None else help_menu.addAction(a)
    for menu in (file_menu, run_menu, view, help_menu):
        menu.setToolTipsVisible(True)
    window.menus = {"File": file_menu, "Run": run_menu, "View": view, "Help": help_menu}


def fill_recent(window: Any) -> None:
    """File ▸ Recent: the parts and folders chosen last (the same list as the Setup panel's Recent)."""
    menu: QMenu = window.recent_menu
    menu.clear()
    for f in window.settings.recent_files():
        menu.addAction(f, lambda f=f: window.open_path(f))
    menu.setEnabled(bool(window.settings.recent_files()))


def open_run_dialog(window: Any) -> None:
    folder = QFileDialog.getExistingDirectory(window, "Open run", str(window.runs_root))
    if folder:
        window.open_path(folder)


def _save_path(window: Any, title: str, name: str, filters: str) -> str:
    """A file to save to, asked in the user's home folder; a name typed without a suffix gets the chosen
    type's ("fit" with "PLY (*.ply)" is fit.ply), so the file opens elsewhere. "": nothing chosen."""
    path, chosen = QFileDialog.getSaveFileName(window, title, str(Path.home() / name), filters)
    if not path or Path(path).suffix:
        return path
    patterns = chosen or filters.split(";;")[0]
    return path + patterns[patterns.rfind("*") + 1 :].rstrip(")")


def export_metrics_dialog(window: Any) -> bool:
    """File ▸ Export metrics: every series of the run shown (isoscope-export's rows), to CSV or JSON."""
    run = window.shown_run
    if run is None:
        window.show_message("warning", "open or run something first: there is no run to export")
        return False
    path = _save_path(window, "Export metrics", f"{run.name}-metrics.csv", "CSV (*.csv);;JSON (*.json)")
    if not path:
        return False
    as_json = path.lower().endswith(".json")
    try:
        n = export_run(run, None if as_json else path, path if as_json else None)
    except (ExportError, OSError) as exc:
        window.show_message("error", f"cannot export the metrics: {exc}")
        return False
    window.show_message("info", f"exported {n} rows of {run.name} to {path}")
    return True


def export_mesh_dialog(window: Any) -> bool:
    """File ▸ Export mesh: the run's fitted mesh (mesh.stl or mesh.ply, converted as the name asks)."""
    run = window.shown_run
    sources = [run / n for n in ("mesh.stl", "mesh.ply")] if run is not None else []
    sources = [p for p in sources if p.is_file()]
    if not sources:
        window.show_message("warning", "the run shown has no fitted mesh yet")
        return False
    path = _save_path(window, "Export mesh", f"{run.name}.stl", "STL (*.stl);;PLY (*.ply)")
    if not path:
        return False
    suffix = Path(path).suffix.lower()
    same = [p for p in sources if p.suffix == suffix]
    try:
        with atomic_path(path) as tmp:
            if same:
                shutil.copyfile(same[0], tmp)
            else:
                import trimesh

                trimesh.load(sources[0], force="mesh").export(tmp, file_type=suffix[1:])
    except (OSError, ValueError) as exc:
        window.show_message("error", f"cannot export the mesh: {exc}")
        return False
    window.show_message("info", f"exported the mesh of {run.name} to {path}")
    return True
