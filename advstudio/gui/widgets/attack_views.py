"""Clean, perturbation (diverging colours, zero neutral, with a colour bar) and adversarial, side by side; and the
one rule every δ colour bar follows: it runs from −s to +s pixel units, s = the attack's ε for an L∞ attack, the
largest |δ| rounded up for the others (C&W, DeepFool), with −s, 0 and +s always written beside it."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QVBoxLayout, QWidget

from advstudio.core.render import diverging_lut, diverging_rgb
from advstudio.core.types import AttackResult
from advstudio.gui.theme import text_colour

MIN_IMAGE = 140  # px: each 28×28 image at least this wide and tall on screen
BAR_MARGIN = 9  # px above and below the colour bar: room for the half of its end labels beyond the bar
DELTA_UNITS = "pixel units"
COLORBAR_ROOM = 100  # px: the colour bar, its labels and "pixel units" beside the three images
TRIPTYCH_MIN_WIDTH = 3 * MIN_IMAGE + COLORBAR_ROOM
TRIPTYCH_MIN_HEIGHT = MIN_IMAGE + 56  # the titles' row and the layout's margins above and below the images


def blank_image() -> np.ndarray:
    return np.zeros((28, 28), dtype=np.float32)


def nice_ceil(x: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k at or above x (x > 0): a scale's round top."""
    k = 10.0 ** math.floor(math.log10(x))
    return next(round(m * k, 12) for m in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0) if m * k >= x * (1 - 1e-9))


def delta_scale(eps: float | None, delta: np.ndarray) -> float:
    """s of the colour bar's −s…+s: the attack's ε for an L∞ attack (pass eps=None for L2 attacks such as C&W
    and DeepFool, which have no ε), else the largest |δ| of `delta` rounded up (nice_ceil)."""
    if eps is not None and eps > 0:
        return float(eps)
    peak = float(np.abs(delta).max()) if delta.size else 0.0
    return nice_ceil(peak) if peak > 0 else 0.1


def scale_text(s: float) -> str:
    return f"{s:.3g}"


def set_delta_scale(colorbar: pg.ColorBarItem, s: float) -> None:
    """Label the colour bar −s, 0, +s in pixel units, and widen its axis so every label fits."""
    axis = colorbar.getAxis("right")
    labels = [f"−{scale_text(s)}", "0", f"+{scale_text(s)}"]
    axis.setTicks([[(-1.0, labels[0]), (0.0, labels[1]), (1.0, labels[2])], []])
    axis.setStyle(hideOverlappingLabels=False, autoExpandTextSpace=True)
    axis.setLabel(DELTA_UNITS)
    font = axis.style.get("tickFont") or QFont()
    text = max(QFontMetrics(font).horizontalAdvance(t) for t in labels)
    label = axis.label.boundingRect().height()  # the rotated "pixel units": its height is its width here
    width = int(text + axis.style["tickTextOffset"][0] + max(axis.style["tickLength"], 0) + 4 + label + 2)
    if axis.fixedWidth is None or abs(axis.fixedWidth - width) > 2:  # a relayout only when it must grow or shrink
        axis.setWidth(width)
    colorbar.delta_scale = s
    colorbar.delta_labels = labels


class ColumnTitle(pg.LabelItem):
    """A column's title that does not widen its column: a long title ("Adversarial = clean + δ") would take room
    from the other images; it overhangs its column's gaps instead, still centred, and goes on two lines where it
    would print over its neighbour's title (a narrow view, a large font)."""

    def __init__(self, text: str, **args) -> None:
        self.row: list[ColumnTitle] = [self]  # the titles of one row, left to right (set by build_triptych)
        self.gap = 6.0  # the room between two columns
        self.wrapped = False
        self.line_width = self.two_line_width = 0.0
        self._pending = False
        super().__init__(text, **args)

    def setText(self, text: str, **args) -> None:  # noqa: N802 - pyqtgraph's name
        if " " in text:
            super().setText(two_lines(text), **args)
            self.two_line_width = self.itemRect().width()
        super().setText(text, **args)
        self.line_width = self.itemRect().width()
        if " " not in text:
            self.two_line_width = self.line_width
        if self.wrapped:
            super().setText(two_lines(text))
        self.text = text  # callers (a theme change) set the one-line title again

    def setGeometry(self, rect) -> None:  # noqa: N802 - Qt's name
        super().setGeometry(rect)
        if not self._pending:
            self._pending = True
            QTimer.singleShot(0, self, self._fit_row)  # not while the layout places items

    def _fit_row(self) -> None:
        self._pending = False
        wrap = titles_to_wrap(self.row)
        for title, want in zip(self.row, wrap):
            if title.wrapped != want:
                title.wrapped = want
                title.setText(title.text)

    def updateMin(self) -> None:  # noqa: N802 - pyqtgraph's name
        super().updateMin()
        self.setMinimumWidth(0)
        height = self._sizeHint[Qt.SizeHint.MinimumSize][1]
        self._sizeHint[Qt.SizeHint.MinimumSize] = (0, height)
        self._sizeHint[Qt.SizeHint.PreferredSize] = (0, height)
        self.updateGeometry()


def titles_to_wrap(row: list[ColumnTitle]) -> list[bool]:
    """Which centred titles of a row go on two lines so that no two neighbours overlap: where a pair would,
    the longer one wraps."""
    widths = [t.line_width for t in row]
    wrap = [False] * len(row)
    for i in range(len(row) - 1):
        a, b = row[i], row[i + 1]
        room = (a.geometry().width() + b.geometry().width()) / 2 + a.gap  # centre to centre
        if (widths[i] + widths[i + 1]) / 2 > room:
            j = i if widths[i] >= widths[i + 1] else i + 1
            wrap[j], widths[j] = True, row[j].two_line_width
    return wrap


def two_lines(title: str) -> str:
    """The title broken at the space nearest its middle (after an "=" where it has one), as rich text."""
    if " = " in title:
        head, tail = title.split(" = ", 1)
        return f"{head} =<br>{tail}"
    spaces = [i for i, c in enumerate(title) if c == " "]
    cut = min(spaces, key=lambda i: abs(i - len(title) / 2))
    return f"{title[:cut]}<br>{title[cut + 1:]}"


def build_triptych(glw: pg.GraphicsLayoutWidget, panels: tuple[tuple[str, str], ...], title_size: str,
                   colorbar_width: int, column_width: int, signed: str = "perturbation"):
    """Three 28×28 images side by side under their titles, the signed one coloured (red brightens, blue
    darkens), and a colour bar for it in the fourth column (titled δ, labelled by set_delta_scale). Returns
    (images, titles, colorbar) keyed as `panels`; titles["delta"] is the colour bar's title."""
    images: dict[str, pg.ImageItem] = {}
    titles: dict[str, pg.LabelItem] = {}
    for col, (key, title) in enumerate(panels):
        titles[key] = ColumnTitle(title, size=title_size)
        titles[key].gap = glw.ci.layout.horizontalSpacing()
        glw.addItem(titles[key], row=0, col=col)
        vb = glw.addViewBox(row=1, col=col, lockAspect=True, invertY=True, enableMouse=False)
        vb.setMenuEnabled(False)
        item = pg.ImageItem(diverging_rgb(blank_image()) if key == signed else blank_image(), autoLevels=False)
        if key != signed:
            item.setLevels((0.0, 1.0))
        vb.addItem(item)
        vb.setRange(xRange=(0, 28), yRange=(0, 28), padding=0.01)
        images[key] = item
        glw.ci.layout.setColumnStretchFactor(col, 1)  # equal room whatever the titles' widths
        glw.ci.layout.setColumnPreferredWidth(col, column_width)
    # δ is coloured per pixel (diverging_rgb) rather than through an image LUT, which costs pyqtgraph ~8 ms a frame
    colorbar = pg.ColorBarItem(values=(-1.0, 1.0), colorMap=pg.ColorMap(np.linspace(0, 1, 256), diverging_lut(256)),
                               interactive=False, width=colorbar_width, colorMapMenu=False)
    glw.addItem(colorbar, row=1, col=3)
    colorbar.layout.setContentsMargins(0, BAR_MARGIN, 0, BAR_MARGIN)
    row = [titles[key] for key, _ in panels]
    for title in row:
        title.row = row
    titles["delta"] = glw.addLabel("δ", row=0, col=3, size=title_size)
    # the widget asks for room for MIN_IMAGE px images; where a squeezed window cannot give it, the images shrink
    # (no minimum inside the graphics layout, which would push the colour bar's labels out of view instead)
    glw.setMinimumSize(TRIPTYCH_MIN_WIDTH, TRIPTYCH_MIN_HEIGHT)
    set_delta_scale(colorbar, 1.0)
    return images, titles, colorbar


def restyle_triptych(widget: QWidget, glw: pg.GraphicsLayoutWidget, titles: dict, colorbar: pg.ColorBarItem) -> None:
    """Background, titles and colour-bar axis in the widget's palette (light or dark theme)."""
    glw.setBackground(widget.palette().color(widget.palette().ColorRole.Window))
    colour = text_colour(widget)
    for label in titles.values():
        label.setText(label.text, color=colour)
    axis = colorbar.getAxis("right")
    axis.setPen(pg.mkPen(colour))
    axis.setTextPen(pg.mkPen(colour))
    axis.setLabel(DELTA_UNITS, color=colour)


class AttackViews(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setToolTip("Left: the input. Middle: what the attack adds (red brightens a pixel, blue darkens "
                            "it, white leaves it; full colour = ±ε, the colour bar). Right: the sum the model is "
                            "fooled by.")
        self.images, self.titles, self.colorbar = build_triptych(
            self.glw, (("clean", "Clean input"), ("perturbation", "Perturbation δ"),
                       ("adversarial", "Adversarial = clean + δ")), "10pt", 14, 150)
        self.delta_scale = 1.0
        self.data: dict[str, np.ndarray] = {"clean": blank_image(), "perturbation": blank_image(), "adversarial": blank_image()}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.glw)
        self._restyle()

    def set_data(self, result: AttackResult | None) -> None:
        if result is None:
            self.data = {k: blank_image() for k in self.data}
        else:
            s = delta_scale(result.eps, result.perturbation)  # the Attack tab's FGSM is an L∞ attack
            if s != self.delta_scale:
                self.delta_scale = s
                set_delta_scale(self.colorbar, s)
            self.data = {
                "clean": np.ascontiguousarray(result.clean, dtype=np.float32),
                "perturbation": np.ascontiguousarray(np.clip(result.perturbation / s, -1, 1), dtype=np.float32),
                "adversarial": np.ascontiguousarray(result.adversarial, dtype=np.float32),
            }
        self.images["clean"].setImage(self.data["clean"], autoLevels=False, levels=(0.0, 1.0))
        self.images["adversarial"].setImage(self.data["adversarial"], autoLevels=False, levels=(0.0, 1.0))
        rgb = diverging_rgb(self.data["perturbation"], limit=1.0)
        self.images["perturbation"].setImage(rgb, autoLevels=False, levels=None)

    def _restyle(self) -> None:
        restyle_triptych(self, self.glw, self.titles, self.colorbar)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "data"):
            self._restyle()
        super().changeEvent(event)

