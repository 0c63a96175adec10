"""A bar chart of class probabilities (one or two series side by side), shared by the panels: ten digits by
default, any K classes once set_classes names them (or set_probs is handed K probabilities). The series are
coloured by role (clean blue, adversarial orange, from the palette), and with two series their key sits in the
title row above the bars, never on them. Class names that do not fit under their bar are shortened (the
tooltip lists them whole)."""

from __future__ import annotations

import html
import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QGraphicsItem

from advstudio.gui.theme import style_plot, text_colour
from advstudio.gui.widgets.palette import colours

DIGITS = tuple(str(i) for i in range(10))
ROLES = ("clean", "adversarial")
AXIS_SPARE_PX = 60  # the left axis and the margins: what of the widget's width the bars do not get


def fit_labels(names, px_per_class: float, metrics: QFontMetrics) -> list[str]:
    """The tick labels under `px_per_class` pixels a class: the names when each fits, else each cut to its first
    characters that fit (at least one: "Tro" for "Trouser"); numbered classes that do not fit are labelled every
    k-th."""
    names = [str(n) for n in names]
    room = max(1.0, px_per_class - 4)
    if all(metrics.horizontalAdvance(n) <= room for n in names):
        return names
    names = _without_shared_words(names)
    if all(n == str(i) for i, n in enumerate(names)):
        widest = max(metrics.horizontalAdvance(n) for n in names) + 4
        every = max(1, int(np.ceil(widest / max(px_per_class, 1.0))))
        return [n if i % every == 0 else "" for i, n in enumerate(names)]
    out = []
    for n in names:
        cut = n
        while len(cut) > 1 and metrics.horizontalAdvance(cut) > room:
            cut = cut[:-1]
        out.append(cut)
    return out


def _without_shared_words(names: list[str]) -> list[str]:
    """Names without the words they all start with ("Class A", "Class B" → "A", "B"), when what is left still
    tells them apart."""
    prefix = os.path.commonprefix(names)
    cut = prefix.rfind(" ") + 1
    rest = [n[cut:] for n in names]
    return rest if cut and all(rest) and len(set(rest)) == len(rest) else names


class ProbabilityBars(pg.PlotWidget):
    """Probabilities 0–1 for each class (the digits 0–9 until set_classes says otherwise); `series` are (name,
    role) pairs drawn side by side, role "clean" or "adversarial"."""

    def __init__(self, series: list[tuple[str, str]], parent=None, tick_pt: int = 11) -> None:
        super().__init__(parent)
        if any(role not in ROLES for _, role in series):
            raise ValueError(f"a series' role is one of {ROLES}")
        self.setMouseEnabled(False, False)
        self.setMenuEnabled(False)
        self.hideButtons()
        item = self.getPlotItem()
        item.setYRange(0, 1.06, padding=0)
        font = QFont()
        font.setPointSize(tick_pt)
        self._font = font
        for name in ("left", "bottom"):
            item.getAxis(name).setTickFont(font)
            # static axes: repaint them from a pixmap cache instead of replaying them with every bar update
            item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        item.getAxis("left").setTicks([[(v, f"{int(v * 100)}%") for v in (0, 0.25, 0.5, 0.75, 1.0)]])
        item.showGrid(y=True, alpha=0.25)
        self.names = [n for n, _ in series]
        self.roles = [r for _, r in series]
        self.tick_pt = tick_pt
        self.items: list[pg.BarGraphItem] = []
        for k in range(len(series)):
            bars = pg.BarGraphItem(x=np.zeros(1), height=np.zeros(1), width=0.5, brush=self.colours[k], pen=None)
            item.addItem(bars)
            self.items.append(bars)
        self.classes: tuple[str, ...] = ()
        self._base_tip = ""
        self._labels: list[str] = []
        self.set_classes(DIGITS)
        self._restyle()

    def set_classes(self, names) -> None:
        """The classes the bars stand for, by name, in output order; the bars are emptied when their number
        changes."""
        names = tuple(str(n) for n in names) or DIGITS
        if names == self.classes:
            return
        resized = len(names) != len(self.classes)
        self.classes = names
        n = len(names)
        item = self.getPlotItem()
        item.setXRange(-0.6, n - 0.4, padding=0)
        if resized or not hasattr(self, "heights"):
            self.heights = [np.zeros(n, dtype=np.float32) for _ in self.items]
            self.highlights = [None for _ in self.items]
        width = 0.8 / len(self.items)
        x = np.arange(n, dtype=np.float64)
        for k, bars in enumerate(self.items):
            bars.setOpts(x=x + (k - (len(self.items) - 1) / 2) * width, width=width * 0.95,
                         height=self.heights[k], brushes=self.brushes(k))
        self._labels = []
        self._relabel()
        shown = ", ".join(f"{i} = {c}" for i, c in enumerate(names) if c != str(i))
        self.classes_tip = f"Classes: {shown}" if shown else ""
        self.setToolTip(self._base_tip)

    def setToolTip(self, text: str) -> None:  # noqa: N802 - Qt override: the class names follow the panel's words
        self._base_tip = text
        tip = getattr(self, "classes_tip", "")
        super().setToolTip(f"{text}\n{tip}" if text and tip else text or tip)

    def _relabel(self) -> None:
        n = len(self.classes)
        px = max(self.width() - AXIS_SPARE_PX, 50) / n
        labels = fit_labels(self.classes, px, QFontMetrics(self._font))
        if labels != self._labels:
            self._labels = labels
            self.getPlotItem().getAxis("bottom").setTicks([[(i, t) for i, t in enumerate(labels)]])

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if getattr(self, "classes", None):
            self._relabel()

    @property
    def colours(self) -> list[str]:
        """Each series' colour in the current theme."""
        c = colours(self)
        return [c.clean if role == "clean" else c.adversarial for role in self.roles]

    def brushes(self, k: int) -> list[str]:
        """The bars' colours of series k: the predicted class, when highlighted, in the stronger shade."""
        out = [self.colours[k]] * len(self.classes)
        h = self.highlights[k]
        if h is not None and 0 <= h < len(out):
            c = colours(self)
            out[h] = c.clean_strong if self.roles[k] == "clean" else c.adversarial
        return out

    def set_probs(self, k: int, probs: np.ndarray | None, highlight: int | None = None) -> None:
        if probs is not None and len(probs) != len(self.classes):  # a K-class model the caller did not name
            self.set_classes(str(i) for i in range(len(probs)))
        n = len(self.classes)
        probs = np.zeros(n, dtype=np.float32) if probs is None else np.asarray(probs, dtype=np.float32).reshape(n)
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
