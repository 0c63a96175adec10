"""A bar chart of ten class probabilities (one or two series side by side), shared by the panels."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGraphicsItem

from advstudio.gui.theme import style_plot

CLASSES = np.arange(10)


class ProbabilityBars(pg.PlotWidget):
    """Probabilities 0–1 for classes 0–9; `series` are (name, colour) pairs drawn side by side."""

    def __init__(self, series: list[tuple[str, str]], parent=None, tick_pt: int = 11) -> None:
        super().__init__(parent)
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
        self.colours = [c for _, c in series]
        width = 0.8 / len(series)
        self.items: list[pg.BarGraphItem] = []
        self.legend = item.addLegend(offset=(-4, 4), labelTextSize=f"{tick_pt}pt") if len(series) > 1 else None
        for k, (name, colour) in enumerate(series):
            x = CLASSES + (k - (len(series) - 1) / 2) * width
            bars = pg.BarGraphItem(x=x, height=np.zeros(10), width=width * 0.95, brush=colour, pen=None, name=name)
            item.addItem(bars)  # named items join the legend by themselves
            self.items.append(bars)
        self.heights = [np.zeros(10, dtype=np.float32) for _ in series]
        style_plot(self)

    def set_probs(self, k: int, probs: np.ndarray | None, highlight: int | None = None,
                  highlight_colour: str | None = None) -> None:
        probs = np.zeros(10, dtype=np.float32) if probs is None else np.asarray(probs, dtype=np.float32)
        self.heights[k] = probs.copy()
        brushes = [self.colours[k]] * 10
        if highlight is not None and highlight_colour:
            brushes[highlight] = highlight_colour
        self.items[k].setOpts(height=probs, brushes=brushes)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "heights"):
            style_plot(self)
        super().changeEvent(event)
