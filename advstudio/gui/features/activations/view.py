"""The Activations dock's panel: per ReLU layer a histogram of the clean and the adversarial activations
overlaid, a statistics table beside them, and the convolution layers' feature maps; a caption says in plain
words what is on screen. Data arrives as often as the worker answers; the widgets redraw from a timer, at most
60 times a second, with the latest data."""

from __future__ import annotations

import html
import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QCheckBox,
    QGraphicsItem,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from advstudio.core.model_meta import name_of
from advstudio.core.types import ActivationComparison
from advstudio.gui.features.activations.feature_maps import FeatureMapView
from advstudio.gui.features.activations.messages import ActivationsData
from advstudio.gui.theme import style_plot
from advstudio.gui.widgets.palette import colours
from advstudio.gui.widgets.plot_key import KeyEntry, PlotKey, key_above

SERIES = (("clean", "clean input", 100, 1.2), ("adversarial", "adversarial input", 45, 2.4))  # alpha, pen width
FRAME_MS = 16  # at most ~60 redraws a second
LOG_FLOOR = -0.3  # in log mode the fill reaches down to 10**-0.3 ≈ 0.5 units, below a bin holding one unit
WIDE = 640  # the table goes beside the histograms from this width on, below them under it

CAPTION = ("<b>Inside the network:</b> each chart counts a ReLU layer's units by how strongly they fire, for your "
           "digit (<span style='color:{clean}'><b>blue</b></span>) and the adversarial one "
           "(<span style='color:{adv}'><b>orange</b></span>). Silent units (zero) are left out.")
MEASURED = ("Measured (bundled model, FGSM ε = 0.1, 1,000 test images): every layer shifts by about the same share, "
            "37 %, 37 %, 40 %; the change does not snowball layer by layer. Digits that flip shift ~25 % more at "
            "relu3.")
EMPTY = "Draw a digit (or pick one from the MNIST gallery) to look inside the network."

# table rows: key, label, tooltip
ROWS = (
    ("mean", "mean", "Average activation over all units of the layer: clean → adversarial"),
    ("std", "std", "Standard deviation over all units: clean → adversarial"),
    ("max", "max", "Largest activation: clean → adversarial"),
    ("active", "active %", "Share of units that fire (value above zero): clean → adversarial"),
    ("shift", "shift", "Relative shift: mean |adversarial − clean| ÷ mean clean activation, unit by unit"),
    ("flipped", "units flipped", "Share of units that are on for one input and off for the other"),
)


def nice_count(x: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 4, 5, 6, 8 × 10^k at or above x (x ≥ 1): a count axis's top."""
    k = 10.0 ** math.floor(math.log10(max(x, 1.0)))
    return next(m * k for m in (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0) if m * k >= x)


def fmt(value: float) -> str:
    """A statistic in three or four significant figures."""
    if not math.isfinite(value):
        return "–"
    a = abs(value)
    return f"{value:.1f}" if a >= 10 else f"{value:.2f}" if a >= 1 else f"{value:.3f}"


def pct(fraction: float) -> str:
    return "–" if not math.isfinite(fraction) else f"{fraction * 100:.1f} %"


def table_cells(c: ActivationComparison) -> dict[tuple[str, str], tuple[str, str]]:
    """{(row key, layer): (text, tooltip)} for the statistics table."""
    cells: dict[tuple[str, str], tuple[str, str]] = {}
    for clean in c.clean.layers:
        name = clean.name
        adv = c.adversarial.layer(name)
        cells[("mean", name)] = (f"{fmt(clean.mean)} → {fmt(adv.mean)}", "")
        cells[("std", name)] = (f"{fmt(clean.std)} → {fmt(adv.std)}", "")
        cells[("max", name)] = (f"{fmt(clean.max)} → {fmt(adv.max)}", "")
        cells[("active", name)] = (f"{clean.active_fraction * 100:.1f} → {adv.active_fraction * 100:.1f}", "")
        try:
            s = c.shift(name)
        except KeyError:
            continue
        cells[("shift", name)] = (pct(s.relative_shift), f"mean |Δa| = {s.mean_abs_change:.4g}, mean clean "
                                  f"activation = {s.clean_mean_abs:.4g}")
        cells[("flipped", name)] = (pct(s.flip_fraction), f"{pct(s.on_to_off_fraction)} switched off, "
                                    f"{pct(s.off_to_on_fraction)} switched on")
    return cells


def summary_text(data: ActivationsData) -> str:
    """One plain sentence about the input on screen: the verdict and how far each layer moved."""
    c = data.comparison
    eps = data.settings.eps
    names = tuple(getattr(data, "classes", ()) or ()) or None
    clean, adv = (html.escape(name_of(label, names)) for label in (data.clean_label, data.adv_label))
    if data.flipped:
        verdict = f"At ε = {eps:.3f} the prediction <b>flips {clean} → {adv}</b>."
    else:
        verdict = f"At ε = {eps:.3f} the prediction <b>holds at {clean}</b>."
    shifts = [s for s in c.shifts if math.isfinite(s.relative_shift)]
    if not shifts:
        return verdict
    moved = ", ".join(f"{s.relative_shift * 100:.0f} %" for s in shifts)
    return f"{verdict} The layers' activations moved by {moved} of their clean size."


class LayerHistograms(pg.GraphicsLayoutWidget):
    """One plot per layer, stacked: step histograms of the clean and adversarial activations on the layer's
    fixed bins. `curves[layer]["clean" | "adversarial"]` hold exactly the comparison's counts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, dict[str, pg.PlotDataItem]] = {}
        self._titles: dict[str, str] = {}
        self._xmax: dict[str, float] = {}
        self._ymax: dict[str, float] = {}
        self.log = False
        self.setMinimumHeight(200)
        self.setToolTip("Horizontal: activation value (fixed bins per layer, kept while ε moves). Vertical: how "
                        "many units of the layer have that value. Zeros are left out.")

    def _ensure_plots(self, c: ActivationComparison) -> None:
        names = [layer.name for layer in c.clean.layers]
        if list(self.plots) == names:
            return
        self.clear()
        self.plots.clear()
        self.curves.clear()
        self._titles.clear()
        self._xmax.clear()
        self._ymax.clear()
        for row, name in enumerate(names, start=1):
            plot = self.addPlot(row=row, col=0)
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(False, False)
            plot.hideButtons()
            plot.getAxis("left").setWidth(44)
            plot.disableAutoRange()
            for axis in ("left", "bottom"):  # repainted from a pixmap unless their range changes
                plot.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            if row == len(names):
                plot.setLabel("bottom", "activation value")
            plot.showGrid(y=True, alpha=0.2)
            plot.layout.setRowFixedHeight(0, 16)  # the title row: room for the charts
            curves = {key: plot.plot(np.zeros(2), np.zeros(1), stepMode="center", fillLevel=0)
                      for key, _label, _alpha, _width in SERIES}
            plot.setLogMode(False, self.log)
            self.plots[name], self.curves[name] = plot, curves
        self.restyle()

    def restyle(self) -> None:
        """Background and axes in the theme's colours; clean blue and adversarial orange in its variants."""
        style_plot(self)
        palette = colours(self)
        for curves in self.curves.values():
            for key, _label, alpha, width in SERIES:
                colour = getattr(palette, key)
                fill = QColor(colour)
                fill.setAlpha(alpha)
                curves[key].setBrush(fill)
                curves[key].setPen(pg.mkPen(colour, width=width))

    def set_log(self, on: bool) -> None:
        self.log = bool(on)
        for name, plot in self.plots.items():
            plot.setLogMode(False, self.log)
            for curve in self.curves[name].values():
                curve.setFillLevel(LOG_FLOOR if self.log else 0.0)
            self._set_y_range(name, self._ymax.get(name, 1.0))

    def reset_ranges(self) -> None:
        """Forget the y ranges (a new input): they only grow while ε moves, so the axes stay put."""
        self._ymax.clear()

    def _set_y_range(self, name: str, top: float) -> None:
        self._ymax[name] = top
        if self.log:
            self.plots[name].setYRange(LOG_FLOOR, math.log10(max(top, 1.0)) + 0.1, padding=0)
        else:
            self.plots[name].setYRange(0.0, top, padding=0)

    def set_data(self, c: ActivationComparison | None) -> None:
        if c is None:
            for curves in self.curves.values():
                for curve in curves.values():
                    curve.setData(np.zeros(2), np.zeros(1), stepMode="center")
            return
        self._ensure_plots(c)
        for name, plot in self.plots.items():
            clean, adv = c.clean.layer(name), c.adversarial.layer(name)
            edges = clean.hist_edges
            self.curves[name]["clean"].setData(edges, clean.hist_counts, stepMode="center")
            self.curves[name]["adversarial"].setData(edges, adv.hist_counts, stepMode="center")
            # fixed ranges: the bins are fixed per input, and the count axis only grows (cached axes stay valid)
            if self._xmax.get(name) != edges[-1]:
                self._xmax[name] = float(edges[-1])
                plot.setXRange(0.0, float(edges[-1]), padding=0.02)
            peak = float(max(clean.hist_counts.max(initial=0), adv.hist_counts.max(initial=0), 1))
            if peak > self._ymax.get(name, 0.0):
                self._set_y_range(name, nice_count(peak * 1.05))
            shape = "×".join(str(s) for s in clean.shape)
            title = f"{name} · {shape} = {clean.units:,} units"
            if adv.overflow or clean.overflow:
                title += " · some values beyond the chart"
            if self._titles.get(name) != title:
                self._titles[name] = title
                plot.setTitle(title, size="8pt")
                style_plot(self)


class _Responsive(QWidget):
    """Lays its two children side by side when wide, one above the other when narrow."""

    def __init__(self, first: QWidget, second: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.box = QBoxLayout(QBoxLayout.Direction.TopToBottom, self)
        self.box.setContentsMargins(0, 0, 0, 0)
        self.box.addWidget(first, 1)
        self.box.addWidget(second, 0)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        wanted = QBoxLayout.Direction.LeftToRight if event.size().width() >= WIDE else QBoxLayout.Direction.TopToBottom
        if self.box.direction() != wanted:
            self.box.setDirection(wanted)
            wide = wanted == QBoxLayout.Direction.LeftToRight
            self.box.setStretch(0, 3 if wide else 1)
            self.box.setStretch(1, 2 if wide else 0)
        super().resizeEvent(event)


class ActivationsPanel(QWidget):
    """set_data(ActivationsData | None) stores the latest answer; a timer draws it (≤ 60 Hz)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("activations_panel")
        self.data: ActivationsData | None = None  # the latest data handed in
        self.shown: ActivationsData | None = None  # the data on screen
        self.shown_image: np.ndarray | None = None
        self.redraws = 0
        self._last_redraw = 0.0
        self._dirty = False
        self.caption = QLabel()
        self.summary = QLabel(EMPTY)
        self.measured = QLabel(MEASURED)
        for label in (self.caption, self.summary, self.measured):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.measured.setToolTip("advstudio activations --eps 0.1 --limit 1000 reproduces these figures; relative "
                                 "shift = mean |a_adv − a_clean| ÷ mean |a_clean|")
        small = self.measured.font()
        small.setPointSizeF(small.pointSizeF() * 0.9)
        self.measured.setFont(small)
        self.log_check = QCheckBox("Log scale")
        self.log_check.setToolTip("Count axis on a log scale: shows the sparse tail of strong activations")
        self.histograms = LayerHistograms()
        style_plot(self.histograms, self)  # the theme's background before the first digit, not pyqtgraph's black
        self.table = QTableWidget(len(ROWS), 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setVerticalHeaderLabels([label for _, label, _ in ROWS])
        for r, (_, _, tip) in enumerate(ROWS):
            self.table.verticalHeaderItem(r).setToolTip(tip)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 4)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setToolTip("Each cell: clean → adversarial, over all units of the layer for this one digit")
        self._set_columns(["relu1", "relu2", "relu3"])  # until the model's layers are known
        tf = self.table.font()
        tf.setPointSizeF(tf.pointSizeF() * 0.9)
        self.table.setFont(tf)
        self.cells: dict[tuple[str, str], str] = {}  # (row key, layer) → the text on screen
        table_box = QWidget()
        tl = QVBoxLayout(table_box)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(QLabel("Statistics (clean → adversarial)"))
        tl.addWidget(self.table)
        tl.addStretch(1)
        self.key = PlotKey()  # the histograms' legend, above them: never on the data, in the theme's text colour
        charts = key_above(self.key, self.histograms, spacing=0)
        self.layers_page = _Responsive(charts, table_box)
        self._recolour()
        self.feature_maps = FeatureMapView()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.layers_page, "Histograms")
        self.tabs.addTab(self.feature_maps, "Feature maps")
        self.tabs.setCornerWidget(self.log_check, Qt.Corner.TopRightCorner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.caption)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.measured)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._redraw)
        self.log_check.toggled.connect(self.histograms.set_log)
        self.tabs.currentChanged.connect(lambda i: self.log_check.setEnabled(i == 0))  # histograms only

    def _fit_table(self) -> None:
        """Exactly the rows' height: no scroll bar, no empty band below."""
        rows = self.table.verticalHeader().defaultSectionSize() * len(ROWS)
        header = max(self.table.horizontalHeader().sizeHint().height(), self.fontMetrics().height() + 8)
        self.table.setFixedHeight(rows + header + 2 * self.table.frameWidth())

    def set_model(self, bundled: bool) -> None:
        """The measured sentence describes the bundled model only."""
        self.measured.setVisible(bool(bundled))

    def set_data(self, data: ActivationsData | None) -> None:
        self.data = data
        self._dirty = True
        if not self.timer.isActive():
            wait = FRAME_MS - (time.perf_counter() - self._last_redraw) * 1000.0
            self.timer.start(max(0, int(math.ceil(wait))))

    def show_error(self, message: str) -> None:
        self.summary.setText(f"Could not look inside the network: {message}")

    def flush(self) -> None:
        """Draw the latest data now (tests, screenshots)."""
        self.timer.stop()
        self._redraw(force=True)

    @Slot()
    def _redraw(self, force: bool = False) -> None:
        if not self._dirty or (not force and not self.isVisible()):
            return  # hidden: showEvent draws the latest data
        self._dirty = False
        self._last_redraw = time.perf_counter()
        data = self.data
        self.shown = data
        self.redraws += 1
        c = data.comparison if data is not None else None
        self.summary.setText(summary_text(data) if data is not None else EMPTY)
        if data is None or self.shown_image is None or not np.array_equal(data.image, self.shown_image):
            self.histograms.reset_ranges()
        self.shown_image = None if data is None else data.image
        self.histograms.set_data(c)
        self._set_table(c)
        self.feature_maps.set_data(c)

    def _set_columns(self, names: list[str]) -> None:
        self.columns = list(names)
        self.table.setColumnCount(len(names))
        self.table.setHorizontalHeaderLabels(names)
        for r in range(len(ROWS)):
            for col in range(len(names)):
                item = QTableWidgetItem("–")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(r, col, item)
        self._fit_table()

    def _set_table(self, c: ActivationComparison | None) -> None:
        if c is None:
            self.cells = {}
            for r in range(self.table.rowCount()):
                for col in range(self.table.columnCount()):
                    self.table.item(r, col).setText("–")
            return
        names = [layer.name for layer in c.clean.layers]
        if names != self.columns:
            self._set_columns(names)
        cells = table_cells(c)
        self.cells = {}
        for r, (key, _, _) in enumerate(ROWS):
            for col, name in enumerate(names):
                text, tip = cells.get((key, name), ("–", ""))
                item = self.table.item(r, col)
                if item.text() != text:
                    item.setText(text)
                if tip and item.toolTip() != tip:
                    item.setToolTip(tip)
                self.cells[(key, name)] = text

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._dirty:
            self.timer.start(0)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "key"):
            self._recolour()
        super().changeEvent(event)

    def _recolour(self) -> None:
        palette = colours(self)
        self.caption.setText(CAPTION.format(clean=palette.clean, adv=palette.adversarial))
        self.key.set_entries([KeyEntry(getattr(palette, key), label, "square") for key, label, _a, _w in SERIES])
        self.histograms.restyle()
