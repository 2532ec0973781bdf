"""The desktop app: main window, canvas, palette, properties and panels (Qt only).

Everything here is a view or an editor of the project document in ``designer.core``.
"""
import os

# NodeGraphQt reaches Qt through Qt.py; name the binding so it never guesses.
os.environ.setdefault("QT_PREFERRED_BINDING", "PySide6")
