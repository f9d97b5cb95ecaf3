"""The isoscope window (PySide6, pyqtgraph, pyvistaqt). Never imports torch."""

from isoscope.app.qt_compat import keep_none_alive

keep_none_alive()
