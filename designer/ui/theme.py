"""Colours and fonts: a dark and a light theme, picked to follow the system.

Qt tells the colour scheme through ``QStyleHints.colorScheme()``; when it does not know
(``Unknown``), the dark theme is used. The user can pin one in View → Theme.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

# One colour per layer category (palette dots, node stripes). Readable on both themes and
# kept away from the red that marks errors.
CATEGORY_COLORS = {
    "IO": "#3b82f6",
    "Basic": "#f97316",
    "Pooling": "#14b8a6",
    "Activation": "#8b5cf6",
    "Normalization": "#84cc16",
    "Recurrent": "#ec4899",
    "Arithmetic": "#06b6d4",
    "Math": "#a78bfa",
    "Others": "#94a3b8",
    "Preprocess": "#b45309",
    "Loss": "#eab308",
}

# The green of a check that passed (an export that matches, a model compressed); readable on
# both themes.
SUCCESS_COLOR = "#16a34a"

PREFERENCES = ("system", "dark", "light")


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str
    alt_base: str
    text: str
    muted: str
    button: str
    border: str
    highlight: str
    highlight_text: str
    canvas: str
    grid: str
    node: str
    node_border: str
    node_text: str
    node_muted: str
    selected: str
    error: str
    pipe: str
    frozen: str  # the snowflake of a frozen layer

    def color(self, attr: str) -> QColor:
        return QColor(getattr(self, attr))

    def rgb(self, attr: str) -> tuple[int, int, int]:
        c = self.color(attr)
        return c.red(), c.green(), c.blue()


DARK = Theme(
    name="dark", window="#23262b", base="#1b1d21", alt_base="#24272c", text="#e6e8eb",
    muted="#9aa3ad", button="#2d3137", border="#3a3f46", highlight="#3d7bd9",
    highlight_text="#ffffff", canvas="#1e2024", grid="#272a2f", node="#2c3036",
    node_border="#454b54", node_text="#eef0f2", node_muted="#a3acb7", selected="#f5c542",
    error="#ef4444", pipe="#8d96a3", frozen="#7cc7ff",
)

LIGHT = Theme(
    name="light", window="#f3f4f6", base="#ffffff", alt_base="#f6f7f9", text="#1f2328",
    muted="#5b6470", button="#e9ebef", border="#cfd4da", highlight="#2f6fde",
    highlight_text="#ffffff", canvas="#f7f8fa", grid="#e8eaee", node="#ffffff",
    node_border="#b9c0c9", node_text="#1f2328", node_muted="#5b6470", selected="#d89b00",
    error="#dc2626", pipe="#7b8594", frozen="#1d7fc4",
)

_current = DARK
_applied: Theme | None = None  # restyling re-polishes every widget: do it only on a change


def current() -> Theme:
    """The theme in use (the canvas paints with it)."""
    return _current


def system_scheme() -> str:
    """'dark' or 'light' as the system reports it; 'dark' when Qt cannot tell."""
    app = QGuiApplication.instance()
    if app is not None:
        scheme = app.styleHints().colorScheme()
        if scheme == Qt.ColorScheme.Light:
            return "light"
    return "dark"


def resolve(preference: str) -> Theme:
    name = system_scheme() if preference not in ("dark", "light") else preference
    return LIGHT if name == "light" else DARK


def apply(app: QApplication, theme: Theme) -> None:
    """Style the whole application: Fusion, the theme's palette, a little spacing."""
    global _current, _applied
    _current = theme
    if _applied is theme:
        return
    _applied = theme
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.alt_base,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.PlaceholderText: theme.muted,
        QPalette.ColorRole.Button: theme.button,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.ToolTipBase: theme.base,
        QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.Highlight: theme.highlight,
        QPalette.ColorRole.HighlightedText: theme.highlight_text,
        QPalette.ColorRole.Link: theme.highlight,
        QPalette.ColorRole.Mid: theme.border,
        QPalette.ColorRole.Midlight: theme.button,
        QPalette.ColorRole.Dark: theme.border,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    disabled = QColor(theme.muted)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    app.setPalette(pal)
    app.setStyleSheet(f"""
        QDockWidget::title {{ padding: 6px 8px; background: {theme.window};
                              font-weight: 600; }}
        QToolBar {{ spacing: 4px; padding: 3px; border: none;
                    border-bottom: 1px solid {theme.border}; }}
        QToolTip {{ color: {theme.text}; background: {theme.base};
                    border: 1px solid {theme.border}; padding: 4px; }}
        QLineEdit[invalid="true"] {{ border: 1px solid {theme.error}; border-radius: 2px; }}
        QLabel[role="hint"] {{ color: {theme.error}; }}
        QLabel[role="muted"] {{ color: {theme.muted}; }}
        QLabel[role="heading"] {{ font-size: 13pt; font-weight: 600; }}
        QStatusBar QLabel {{ padding: 0 6px; }}
    """)
