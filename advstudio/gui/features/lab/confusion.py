"""The robustness lab's confusion matrix under attack, for a model of any K classes: K×K cells coloured by the share
of each true class, the counts written in while the cells are large enough, and both axes labelled with the class
names (cut, or every k-th, so that they stay readable at 1280×720 for 26 classes; hovering a cell names it in
full). Ten digits look as they always did. Widgets only: no torch, no jobs."""

from __future__ import annotations

import math
import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont, QFontMetrics

from advstudio.core.classes import DIGITS
from advstudio.core.model_meta import name_of
from advstudio.gui.widgets.bars import fit_labels

SHORT = 3  # characters of a class name in a gallery caption
COUNTS_UP_TO = 12  # classes whose cells still have room for their counts
LEFT_PX = 84  # the widest a name on the left axis may be
SMALL_TICKS_FROM = 11  # from this many classes on, the axes' labels use the small font


def numbered(k: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(k))


def distinct_parts(names) -> list[str]:
    """The names without the words they all start with ("Class A", "Class B" → "A", "B"), when that leaves each
    one something; else the names as they are (a shared first letter is kept: "T-shirt", "Trouser")."""
    names = [str(n) for n in names]
    shared = os.path.commonprefix(names) if len(names) > 1 else ""
    cut = max(shared.rfind(" "), shared.rfind("_")) + 1
    rest = [n[cut:].strip() for n in names]
    return rest if cut and all(rest) else names


def short_names(names) -> list[str]:
    """Every class in a few characters for a gallery caption: the numbers for numbered classes (the digits), else
    the distinct part of each name cut to SHORT characters ("Tro" for "Trouser", as the bars cut them); the
    numbers again when the cut names no longer tell the classes apart."""
    names = [str(n) for n in names]
    if all(n == str(k) for k, n in enumerate(names)):
        return names
    cut = [n[:SHORT] for n in distinct_parts(names)]
    return cut if len(set(cut)) == len(cut) else [str(k) for k in range(len(names))]


def short_name(index, names) -> str:
    """Class `index` as a gallery caption shows it (short_names; its number when it lies outside the names)."""
    i = int(index)
    if names is None or not 0 <= i < len(names):
        return name_of(i, names)
    return short_names(names)[i]


def thin(labels: list[str], px_per_class: float, needed_px: float) -> list[str]:
    """Every k-th label, so that each one shown has `needed_px` of room (all of them when they fit)."""
    every = max(1, math.ceil(needed_px / max(px_per_class, 1.0)))
    return [t if i % every == 0 else "" for i, t in enumerate(labels)]


def axis_labels(names, px_x: float, px_y: float, metrics: QFontMetrics) -> tuple[list[str], list[str]]:
    """(bottom, left) tick labels for K classes with `px_x` × `px_y` pixels a cell. The bottom axis gets the names,
    without the start they share, cut to fit (ProbabilityBars' fit_labels); when the cut names no longer tell the classes apart
    ("Class A", "Class B" → "C", "C") it gets the class numbers instead and the left axis says which number is
    which ("0: Class A"). The left axis has room for longer names but only one line a class: every k-th."""
    names = [str(n) for n in names]
    k = len(names)
    plain = all(n == str(i) for i, n in enumerate(names))
    bottom = fit_labels(distinct_parts(names), px_x, metrics)
    shown = [b for b in bottom if b]
    by_number = not plain and len(set(shown)) < len(shown)
    if by_number:
        bottom = fit_labels(numbered(k), px_x, metrics)
    widest = max((metrics.horizontalAdvance(b) for b in bottom if b), default=0) + 2
    bottom = thin(bottom, px_x, widest)  # even one letter a class can be too wide
    left = [f"{i}: {n}" if by_number else n for i, n in enumerate(names)]
    left = left if plain else fit_labels(left, LEFT_PX, metrics)
    return bottom, thin(left, px_y, metrics.height())


class ConfusionPlot:
    """Draws one confusion matrix (rows true class, columns the class under attack) into `plot`, a pyqtgraph
    PlotItem set up with an inverted y axis; `font` is the counts' font."""

    def __init__(self, plot: pg.PlotItem, font: QFont) -> None:
        self.plot, self.font = plot, font
        self.names: tuple[str, ...] = DIGITS
        self.counts: np.ndarray = np.zeros((10, 10), dtype=np.int64)
        self.tick_font = QFont()
        self.tick_font.setPointSize(7)
        self.image = pg.ImageItem(np.zeros((10, 10), dtype=np.float32), autoLevels=False, levels=(0.0, 1.0))
        self.image.setLookupTable(pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256))
        plot.addItem(self.image)
        self.texts: list[pg.TextItem] = []
        self.ticks: tuple[list[str], list[str]] = ([], [])
        self._layout(DIGITS)
        plot.vb.sigResized.connect(self.relabel)
        if plot.scene() is not None:
            plot.scene().sigMouseMoved.connect(self._hover)

    @property
    def k(self) -> int:
        return len(self.names)

    def _layout(self, names) -> None:
        """Cells, count labels and axes for these classes (rebuilt only when the classes change)."""
        self.names = tuple(str(n) for n in names)
        k = self.k
        for t in self.texts:
            self.plot.removeItem(t)
        self.texts = []
        if k <= COUNTS_UP_TO:
            for i in range(k):
                for j in range(k):
                    t = pg.TextItem("", anchor=(0.5, 0.5), color="w")
                    t.setFont(self.font)
                    t.setPos(j + 0.5, i + 0.5)
                    self.plot.addItem(t)
                    self.texts.append(t)
        small = k >= SMALL_TICKS_FROM
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setStyle(tickFont=self.tick_font if small else None)
        self.plot.setRange(xRange=(0, k), yRange=(0, k), padding=0)
        self.relabel()

    def relabel(self, *_args) -> None:
        """The axes' class labels for the plot's present size."""
        k = self.k
        if self.names == DIGITS:  # ten digits: every label, as always
            bottom = left = list(DIGITS)
        else:
            rect = self.plot.vb.boundingRect()
            side = max(1.0, min(rect.width(), rect.height()))  # the aspect is locked: square cells
            metrics = QFontMetrics(self.tick_font if k >= SMALL_TICKS_FROM else self.plot.getAxis("left").font())
            bottom, left = axis_labels(self.names, side / k, side / k, metrics)
        self.ticks = (bottom, left)
        self.plot.getAxis("bottom").setTicks([[(i + 0.5, t) for i, t in enumerate(bottom)]])
        self.plot.getAxis("left").setTicks([[(i + 0.5, t) for i, t in enumerate(left)]])

    def clear(self) -> None:
        self.show(np.zeros((self.k, self.k), dtype=np.int64), self.names)

    def show(self, confusion: np.ndarray, names=None) -> None:
        """Counts `confusion` (K×K) of the classes `names` (numbered when None or not K of them)."""
        counts = np.asarray(confusion)
        k = counts.shape[0]
        names = tuple(str(n) for n in names) if names is not None and len(names) == k else numbered(k)
        if names == numbered(10):
            names = DIGITS
        if names != self.names:
            self._layout(names)
        self.counts = counts
        cm = counts.astype(np.float32)
        rows = cm.sum(1, keepdims=True)
        frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
        self.frac = frac
        self.image.setImage(frac, autoLevels=False, levels=(0.0, 1.0))
        self.image.setRect(0, 0, k, k)
        for n, t in enumerate(self.texts):
            i, j = divmod(n, k)
            count = int(counts[i, j])
            t.setText(str(count) if count else "")
            t.setColor("k" if frac[i, j] > 0.6 else "w")

    def cell_text(self, i: int, j: int) -> str:
        """The words for cell (true class i, class under attack j)."""
        count, total = int(self.counts[i, j]), int(self.counts[i].sum())
        share = f" ({count / total * 100:.0f}%)" if total else ""
        return (f"true {i}: {name_of(i, self.names)}, read under attack as {j}: {name_of(j, self.names)}: "
                f"{count} of {total}{share}") if self.names != DIGITS else (
            f"true {i}, read under attack as {j}: {count} of {total}{share}")

    def _hover(self, pos) -> None:
        if not self.plot.vb.sceneBoundingRect().contains(pos):
            return
        p = self.plot.vb.mapSceneToView(pos)
        j, i = int(math.floor(p.x())), int(math.floor(p.y()))
        k = self.k
        self.image.setToolTip(self.cell_text(i, j) if 0 <= i < k and 0 <= j < k else "")
