"""The isoscope window (PySide6, pyqtgraph, pyvistaqt). Never imports torch."""
