"""Renders the application icon resources/icons/isoscope.svg to PNGs at the sizes desktops ask for.

Run: python resources/make_icons.py   (writes resources/icons/isoscope-<size>.png; needs PySide6, no display)
"""

from __future__ import annotations

import os
from pathlib import Path

from isoscope.resources import ICON_SIZES, icon_png, icon_svg


def render(svg: Path, size: int, out: Path) -> None:
    """Draw ``svg`` into a transparent ``size`` x ``size`` PNG."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"make_icons: {svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"make_icons: cannot write {out}")


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 (fonts and image plugins need it)
    for size in ICON_SIZES:
        render(icon_svg(), size, icon_png(size))
        print(icon_png(size))


if __name__ == "__main__":
    main()
