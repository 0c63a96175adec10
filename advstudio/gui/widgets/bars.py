"""A bar chart of ten class probabilities (one or two series side by side), shared by the panels. The series are
coloured by role (clean blue, adversarial orange, from the palette), and with two series their key sits in the
title row above the bars, never on them."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGraphicsItem

from advstudio.gui.theme import style_plot, text_colour
from advstudio.gui.widgets.palette import colours

CLASSES = np.arange(10)
ROLES = ("clean", "adversarial")


class ProbabilityBars(pg.PlotWidget):
    """Probabilities 0–1 for classes 0–9; `series` are (name, role) pairs drawn side by side, role "clean" or
    "adversarial"."""

    def __init__(self, series: list[tuple[str, str]], parent=None, tick_pt: int = 11) -> None:
        super().__init__(parent)
        if any(role not in ROLES for _, role in series):
            raise ValueError(f"a series' role is one of {ROLES}")
        self.setMouseEnabled(False, False)
        self.setMenuEnabled(False)
        self.hideButtons()
        item = self.getPlotItem()
        item.setYRange(0, 1.06, padding=0)
        item.setXRange(-0.6, 9.6, padding=0)
        font = QFont()
        font.setPointSize(tick_pt)
        for name in ("left", "bottom"):
            item.getAxis(name).setTickFont(font)
            # static axes: repaint them from a pixmap cache instead of replaying them with every bar update
            item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        item.getAxis("bottom").setTicks([[(i, str(i)) for i in range(10)]])
        item.getAxis("left").setTicks([[(v, f"{int(v * 100)}%") for v in (0, 0.25, 0.5, 0.75, 1.0)]])
        item.showGrid(y=True, alpha=0.25)
        self.names = [n for n, _ in series]
        self.roles = [r for _, r in series]
        self.tick_pt = tick_pt
        width = 0.8 / len(series)
        self.items: list[pg.BarGraphItem] = []
        for k in range(len(series)):
            x = CLASSES + (k - (len(series) - 1) / 2) * width
            bars = pg.BarGraphItem(x=x, height=np.zeros(10), width=width * 0.95, brush=self.colours[k], pen=None)
            item.addItem(bars)
            self.items.append(bars)
        self.heights = [np.zeros(10, dtype=np.float32) for _ in series]
        self.highlights: list[int | None] = [None for _ in series]
        self._restyle()

    @property
    def colours(self) -> list[str]:
        """Each series' colour in the current theme."""
        c = colours(self)
        return [c.clean if role == "clean" else c.adversarial for role in self.roles]

    def brushes(self, k: int) -> list[str]:
        """The ten bars' colours of series k: the predicted class, when highlighted, in the stronger shade."""
        out = [self.colours[k]] * 10
        h = self.highlights[k]
        if h is not None:
            c = colours(self)
            out[h] = c.clean_strong if self.roles[k] == "clean" else c.adversarial
        return out

    def set_probs(self, k: int, probs: np.ndarray | None, highlight: int | None = None) -> None:
        probs = np.zeros(10, dtype=np.float32) if probs is None else np.asarray(probs, dtype=np.float32)
        self.heights[k] = probs.copy()
        self.highlights[k] = highlight
        self.items[k].setOpts(height=probs, brushes=self.brushes(k))

    def key_html(self) -> str:
        """The key in the title row: a coloured square and the name of each series (text in the theme's colour)."""
        fg = text_colour(self)
        return " &nbsp;&nbsp; ".join(f'<span style="color:{c}">■</span> <span style="color:{fg}">'
                                     f"{html.escape(n)}</span>" for n, c in zip(self.names, self.colours))

    def _restyle(self) -> None:
        style_plot(self)
        if len(self.names) > 1:
            self.getPlotItem().setTitle(self.key_html(), size=f"{self.tick_pt}pt")
        for k, bars in enumerate(self.items):
            bars.setOpts(brushes=self.brushes(k))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "heights"):
            self._restyle()
        super().changeEvent(event)
