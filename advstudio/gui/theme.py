"""Light and dark palettes (Fusion), and plot colours that follow the widget palette."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

THEMES = ("system", "light", "dark")
# the data's colours (clean, adversarial, neutral) are in gui/widgets/palette.py; these are the verdict banners'
FLIP_COLOUR = "#c62828"
HOLD_COLOUR = "#2e7d32"


def _dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor(45, 47, 51), QColor(30, 31, 34), QColor(230, 230, 230)
    for role, colour in (
        (QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, window),
        (QPalette.ColorRole.ToolTipBase, QColor(60, 62, 66)), (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.Text, text), (QPalette.ColorRole.Button, window),
        (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.BrightText, QColor(255, 90, 90)),
        (QPalette.ColorRole.Highlight, QColor(58, 120, 194)), (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
        (QPalette.ColorRole.Link, QColor(110, 170, 240)), (QPalette.ColorRole.Mid, QColor(90, 92, 96)),
        (QPalette.ColorRole.PlaceholderText, QColor(150, 150, 150)),
    ):
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    return p


def system_prefers_dark(app: QApplication) -> bool:
    return app.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication, theme: str = "system") -> str:
    """Use Fusion with a light or dark palette; "system" follows the desktop's colour scheme. Returns the
    theme actually applied ("light" or "dark")."""
    app.setStyle("Fusion")
    dark = theme == "dark" or (theme == "system" and system_prefers_dark(app))
    app.setPalette(_dark_palette() if dark else app.style().standardPalette())
    return "dark" if dark else "light"


def style_plot(widget: pg.PlotWidget | pg.GraphicsLayoutWidget, source: QWidget | None = None) -> None:
    """Give a pyqtgraph widget the palette's background and text colours (call again on palette changes)."""
    pal = (source or widget).palette()
    widget.setBackground(pal.color(QPalette.ColorRole.Base))
    fg = pal.color(QPalette.ColorRole.Text)
    items = [widget.getPlotItem()] if isinstance(widget, pg.PlotWidget) else [
        i for i in widget.ci.items if isinstance(i, pg.PlotItem)
    ]
    for item in items:
        if item is None:
            continue
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(fg))
            axis.setTextPen(pg.mkPen(fg))
        if item.titleLabel is not None:
            item.titleLabel.setAttr("color", fg.name())
            item.titleLabel.setText(item.titleLabel.text)


def text_colour(widget: QWidget) -> str:
    return widget.palette().color(QPalette.ColorRole.Text).name()
