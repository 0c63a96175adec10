"""The three on-demand pages of the Why it breaks tab: the loss around the drawing (with the ε-ball), the decision
plane it walks across (with the attack's path) and the test set's last hidden layer in 2-D (with the drawing's
path through it). Widgets and the plain sentences they show; no torch, no jobs."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from advstudio.core.classes import DIGITS
from advstudio.core.explain.words import (
    are_digits,
    boundary_verdict,
    kind_word,
    landscape_verdict,
    percent,
    projection_verdict,
)
from advstudio.core.model_meta import name_of
from advstudio.core.render import CLASS_COLOURS, class_colour, class_rgb, colours_repeat, heat_rgb
from advstudio.gui.features.explain.attribution_view import narrow_combo
from advstudio.gui.features.explain.messages import (
    BOUNDARY_ATTACKS,
    DIRECTIONS,
    LANDSCAPE_MODELS,
    THIRD_POINTS,
    BoundaryResult,
    LandscapeResult,
    ProjectionResult,
)
from advstudio.gui.theme import style_plot
from advstudio.gui.widgets.help import form_row
from advstudio.gui.widgets.layout import (
    DataMessage,
    RunControls,
    fixed_plot,
    scroll_area,
    side_by_side,
    spin_box,
)
from advstudio.gui.widgets.palette import colours
from advstudio.gui.widgets.plot_key import KeyEntry, PlotKey, PlotPlaceholder, key_above

CONTROLS_WIDTH = 250
PLOT_MIN = 200
STALE = "The drawing or ε changed since: press the button again to redraw it for the new one."


def class_key(names=DIGITS, present=None) -> list[KeyEntry]:
    """The key of a class map, each class's name in its colour: every class of a model of ten or fewer (the
    digits 0–9 as always); of a larger one only the classes `present` on the picture, so the key stays short."""
    names = tuple(names) or DIGITS
    if len(names) <= 10 or present is None:
        shown = range(len(names))
    else:
        shown = sorted({int(k) for k in np.unique(np.asarray(present))})
    return [KeyEntry(class_colour(k), name_of(k, names), "square") for k in shown]


def key_note(names, present, where: str) -> str:
    """A sentence for the caption when the key does not list every class (more than ten) or colours repeat
    (more than CLASS_COLOURS holds); "" otherwise."""
    names = tuple(names) or DIGITS
    if len(names) <= 10:
        return ""
    seen = len(np.unique(np.asarray(present)))
    note = f" The key lists the {seen} of the model's {len(names)} classes {where}"
    if colours_repeat(len(names)):
        note += (f"; there are {len(CLASS_COLOURS)} colours, so classes {len(CLASS_COLOURS)} apart share one "
                 "(the names tell them apart)")
    return note + "."


def wrapped(text: str = "", bold: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    if bold:
        font = label.font()
        font.setBold(True)
        label.setFont(font)
    return label


class MapPlot(QWidget):
    """An RGB map over a plane's coordinates, with its key above and a sentence in its place until computed."""

    def __init__(self, bottom: str, left: str, empty: str, key: list[KeyEntry] | None = None) -> None:
        super().__init__()
        self.plot = fixed_plot(bottom, left, PLOT_MIN)
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # pixel units as they are, never "×0.001"
        self.image = pg.ImageItem(np.zeros((2, 2, 3), np.uint8))
        self.plot.addItem(self.image)
        self.key = PlotKey()
        if key:
            self.key.set_entries(key)
        self.area = PlotPlaceholder(key_above(self.key, self.plot), empty)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.area)
        self.overlays: list = []
        style_plot(self.plot, self)

    def show_map(self, rgb: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> None:
        """rgb (len(ys), len(xs), 3): row i at ys[i], column j at xs[j]; each pixel centred on its grid point."""
        dx = (xs[-1] - xs[0]) / max(len(xs) - 1, 1)
        dy = (ys[-1] - ys[0]) / max(len(ys) - 1, 1)
        self.image.setImage(np.ascontiguousarray(rgb))
        self.image.setRect(QRectF(xs[0] - dx / 2, ys[0] - dy / 2, dx * len(xs), dy * len(ys)))
        self.plot.setRange(xRange=(xs[0], xs[-1]), yRange=(ys[0], ys[-1]), padding=0.02)
        for item in self.overlays:
            self.plot.removeItem(item)
        self.overlays = []
        self.area.set_empty(False)

    def overlay(self, item) -> None:
        self.plot.addItem(item)
        self.overlays.append(item)

    def clear(self) -> None:
        self.area.set_empty(True)


def diamond(eps: float) -> tuple[list[float], list[float]]:
    return [eps, 0.0, -eps, 0.0, eps], [0.0, eps, 0.0, -eps, 0.0]


class _Page(QWidget):
    """Controls at the left (a form, a button, a status line), views at the right."""

    def __init__(self, name: str, button: str, views: QWidget) -> None:
        super().__init__()
        self.setObjectName(name)
        box = QWidget()
        self.box_layout = QVBoxLayout(box)
        self.form = QFormLayout()
        self.box_layout.addLayout(self.form)
        self.run = RunControls(button)
        self.box_layout.addLayout(self.run.buttons())
        self.box_layout.addWidget(self.run.progress)
        self.box_layout.addWidget(self.run.eta)
        self.run.set_running(False)
        self.run.progress.hide()
        self.stale = wrapped(STALE)
        self.stale.hide()
        self.box_layout.addWidget(self.stale)
        self.controls = scroll_area(box, CONTROLS_WIDTH - 20, horizontal=False)
        self.views = views
        side_by_side(self, self.controls, views, (CONTROLS_WIDTH, 700))

    def finish_controls(self) -> None:
        self.box_layout.addStretch(1)

    def set_running(self, running: bool, inputs=()) -> None:
        """Run or Cancel enabled; `inputs` (remembered for the end of the run) disabled while it runs."""
        self._inputs = tuple(inputs) or getattr(self, "_inputs", ())
        self.run.set_running(running, self._inputs)
        self.run.progress.setVisible(running)
        if running:
            self.stale.hide()


class LandscapePage(_Page):
    computeRequested = Signal()

    def __init__(self) -> None:
        views = QWidget()
        v = QVBoxLayout(views)
        v.setContentsMargins(4, 4, 4, 4)
        self.loss_map = MapPlot("a (gradient sign)", "b (random direction)",
                                "Press “Show the loss around it” to draw how wrong the network would be at every "
                                "point of a plane around your drawing.")
        self.class_map = MapPlot("a (gradient sign)", "b (random direction)",
                                 "The same plane, coloured by the digit the network reads there.", class_key())
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.loss_map, 1)
        h.addWidget(self.class_map, 1)
        self.verdict = wrapped("", bold=True)
        self.caption = wrapped("")
        v.addWidget(row, 1)
        v.addWidget(self.verdict)
        v.addWidget(self.caption)
        super().__init__("explain_landscape", "Show the loss around it", views)
        self.model = narrow_combo()
        for key, text in LANDSCAPE_MODELS.items():
            self.model.addItem(text, key)
        form_row(self.form, "Model", self.model, "Which network to look at; the last two put a defense in front of "
                 "the one in use, to show what a defense that only hides the gradient looks like.")
        self.direction = narrow_combo()
        for key, text in DIRECTIONS.items():
            self.direction.addItem(text, key)
        form_row(self.form, "Direction a", self.direction, "Which gradient gives the direction a: the one the "
                 "defense shows (a plain attacker's), or the one of the model behind it (an attacker who knows it).")
        self.finish_controls()
        self.result: LandscapeResult | None = None
        self.model.currentIndexChanged.connect(self._on_model)
        self.run.run.clicked.connect(self.computeRequested)
        self.run.cancel.hide()
        self._on_model()

    def _on_model(self) -> None:
        self.direction.setEnabled(self.model.currentData() in ("jpeg", "bit_depth"))

    def choice(self) -> tuple[str, str]:
        model = str(self.model.currentData())
        return model, str(self.direction.currentData()) if model in ("jpeg", "bit_depth") else "own"

    def set_result(self, r: LandscapeResult) -> None:
        self.result = r
        lo, hi = float(r.loss.min()), float(r.loss.max())
        self.loss_map.show_map(heat_rgb(r.loss, hi, lo), r.a, r.b)
        self.class_map.show_map(class_rgb(r.pred), r.a, r.b)
        self.class_map.key.set_entries(class_key(r.class_names, r.pred))
        for m in (self.loss_map, self.class_map):
            xs, ys = diamond(r.eps)
            m.overlay(pg.PlotDataItem(xs, ys, pen=pg.mkPen("w", width=2, style=Qt.PenStyle.DashLine)))
            m.overlay(pg.ScatterPlotItem([0.0], [0.0], symbol="+", size=14, pen=pg.mkPen("w", width=2)))
        self.loss_map.key.set_entries([KeyEntry("#000004", f"loss {max(lo, 0.0) + 0.0:.2g} (right)", "square"),
                                       KeyEntry("#fcffa4", f"{hi:.3g} (wrong)", "square"),
                                       KeyEntry(colours(self).neutral, "ε‑ball", "dash")])
        self.verdict.setText(landscape_verdict(r))
        self.caption.setText(f"{r.model_name}; a moves along {self._direction_words(r)}, b along a random ±1 "
                             f"direction orthogonal to it, both in pixel units; the dashed diamond is the ε-ball (ε = {r.eps:.3f} pixel "
                             f"units: |a| + |b| ≤ ε). {len(r.a)}×{len(r.b)} points in {r.seconds:.2f} s."
                             + key_note(r.class_names, r.pred, "read on this plane"))
        self.set_running(False)
        self.run.eta.setText("")

    @staticmethod
    def _direction_words(r: LandscapeResult) -> str:
        if r.request.direction == "bpda" and r.request.model in ("jpeg", "bit_depth"):
            return "the sign of the gradient of the model behind the defense (BPDA)"
        return "the sign of the gradient the model shows"


class BoundaryPage(_Page):
    computeRequested = Signal()

    def __init__(self) -> None:
        views = QWidget()
        v = QVBoxLayout(views)
        v.setContentsMargins(4, 4, 4, 4)
        self.map = MapPlot("towards the attack's result (L2, pixel units)", "towards the third point (L2)",
                           "Press “Show the border” to colour a plane through your drawing, its attacked version "
                           "and a third point by the digit the network reads, with the attack's path on it.",
                           class_key())
        self.verdict = wrapped("", bold=True)
        self.caption = wrapped("")
        v.addWidget(self.map, 1)
        v.addWidget(self.verdict)
        v.addWidget(self.caption)
        super().__init__("explain_boundary", "Show the border", views)
        self.attack = narrow_combo()
        for key, text in BOUNDARY_ATTACKS.items():
            self.attack.addItem(text, key)
        form_row(self.form, "Attack", self.attack, "The attack whose path is drawn (at the studio's ε).")
        self.third = narrow_combo()
        for key, text in THIRD_POINTS.items():
            self.third.addItem(text, key)
        form_row(self.form, "Third point", self.third, "What spans the plane's second direction besides the attack.")
        self.finish_controls()
        self.result: BoundaryResult | None = None
        self.run.run.clicked.connect(self.computeRequested)
        self.run.cancel.hide()

    def choice(self) -> tuple[str, str]:
        return str(self.attack.currentData()), str(self.third.currentData())

    def set_result(self, r: BoundaryResult) -> None:
        self.result = r
        self.map.show_map(class_rgb(r.pred, r.confidence), r.u, r.v)
        c = colours(self)
        if r.path is not None and len(r.path):
            self.map.overlay(pg.PlotDataItem(r.path[:, 0], r.path[:, 1], pen=pg.mkPen("w", width=2), symbol="o",
                                             symbolSize=5, symbolBrush="w", symbolPen=None))
        for name, colour, symbol in (("clean", c.clean, "o"), ("adversarial", c.adversarial, "o"),
                                     ("third", c.neutral, "s")):
            if name in r.points:
                u, w = r.points[name]
                self.map.overlay(pg.ScatterPlotItem([u], [w], symbol=symbol, size=14, brush=colour,
                                                    pen=pg.mkPen("w", width=2)))
        self.map.key.set_entries(class_key(r.class_names, r.pred) + [KeyEntry(c.clean, "your drawing", "dot"),
                                                KeyEntry(c.adversarial, "attacked", "dot"),
                                                KeyEntry(c.neutral, r.third_name, "square")])
        self.verdict.setText(boundary_verdict(r))
        extra = (f" {percent(r.clamped_share)} of the plane lies outside the valid pixel range and was clipped to it."
                 if r.clamped_share > 0.01 else "")
        self.caption.setText(f"{r.model_name}; the plane through your drawing, {BOUNDARY_ATTACKS[r.request.attack]} "
                             f"at ε = {r.request.eps:.3f} pixel units and {r.third_name}; shade: how sure the "
                             f"network is (grey = unsure, near a border).{extra}"
                             + key_note(r.class_names, r.pred, "read on this plane"))
        self.set_running(False)
        self.run.eta.setText("")


class ProjectionPage(_Page):
    computeRequested = Signal()
    cancelRequested = Signal()
    chooseFolderRequested = Signal()

    def __init__(self) -> None:
        views = QWidget()
        v = QVBoxLayout(views)
        v.setContentsMargins(4, 4, 4, 4)
        self.plot = fixed_plot("first principal axis", "second principal axis", PLOT_MIN)
        self.key = PlotKey()
        self.area = PlotPlaceholder(key_above(self.key, self.plot),
                                    "Press “Place my drawing” to lay out every test digit by what the network's last "
                                    "hidden layer makes of it, and follow your drawing through the attack.")
        style_plot(self.plot, views)
        self.scatter = pg.ScatterPlotItem(size=3, pen=None, pxMode=True)
        self.path = pg.PlotDataItem([], [], pen=pg.mkPen("k", width=2.5), symbol="o", symbolSize=6)
        self.ends = pg.ScatterPlotItem(size=16, pen=pg.mkPen("k", width=2))
        for item in (self.scatter, self.path, self.ends):
            self.plot.addItem(item)
        self.verdict = wrapped("", bold=True)
        self.caption = wrapped("")
        v.addWidget(self.area, 1)
        v.addWidget(self.verdict)
        v.addWidget(self.caption)
        super().__init__("explain_projection", "Place my drawing", views)
        self.samples = spin_box(500, 10000, 10000, 500)
        form_row(self.form, "Test digits", self.samples, "How many MNIST test digits to lay out (the layout is kept "
                 "for this model until it changes).")
        self.data_message = DataMessage()
        self.box_layout.insertWidget(self.box_layout.count(), self.data_message)
        self.finish_controls()
        self.result: ProjectionResult | None = None
        self.run.run.clicked.connect(self.computeRequested)
        self.run.cancel.clicked.connect(self.cancelRequested)
        self.data_message.choose_folder.clicked.connect(self.chooseFolderRequested)

    def set_result(self, r: ProjectionResult) -> None:
        self.result = r
        brushes = [pg.mkBrush(c) for c in CLASS_COLOURS]
        self.scatter.setData(r.coords[:, 0], r.coords[:, 1],
                             brush=[brushes[int(k) % len(brushes)] for k in r.labels])
        c = colours(self)
        self.path.setData(r.path[:, 0], r.path[:, 1])
        self.ends.setData([r.path[0, 0], r.path[-1, 0]], [r.path[0, 1], r.path[-1, 1]],
                          brush=[c.clean, c.adversarial])
        self.key.set_entries(class_key(r.label_names, r.labels) + [KeyEntry(c.clean, "your drawing", "dot"),
                                            KeyEntry(c.adversarial, "after the attack", "dot")])
        self.area.set_empty(False)
        self.verdict.setText(projection_verdict(r))
        how = "kept from before" if r.cached else f"computed in {r.seconds:.1f} s"
        labels = tuple(r.label_names) or None
        what, thing = ("digits", "digit") if are_digits(labels) else ("images", kind_word(labels))
        self.caption.setText(f"{r.model_name}; {len(r.labels):,} test {what} (the layout {how}); each dot is one, "
                             f"coloured by its true {thing}; the black line is your drawing through PGD at "
                             f"ε = {r.request.eps:.3f} pixel units."
                             + key_note(r.label_names, r.labels, "among these images"))
        self.set_running(False)
        self.run.finished(r.seconds)
