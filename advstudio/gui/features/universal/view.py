"""The "Patch & universal" tab: one intro line and two pages, the adversarial patch (patch_view.py) and the
universal perturbation (here): its settings, Compute / Load / Save, v in diverging colours with its ±ε colour
bar, its fooling rates, "Add it to my drawing" with the prediction of drawing + v, and the plot of fooling rate
against ε. Widgets only (no torch, no jobs)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from advstudio.core.describe import EPS_UNITS, eps_text
from advstudio.core.model_meta import name_of
from advstudio.core.render import diverging_lut, diverging_rgb
from advstudio.gui.features.universal.messages import (
    METHODS,
    SWEEP_EPS,
    UniversalData,
    UniversalSweepResult,
    ViewResult,
)
from advstudio.gui.features.universal.patch_view import (
    CONTROLS_WIDTH,
    IMAGE_MIN,
    ImagesView,
    PatchHalf,
    SweepPlot,
    column,
    file_buttons,
    message_label,
    percent,
    show_message,
    verdict_label,
    wrapped,
)
from advstudio.gui.theme import text_colour
from advstudio.gui.widgets.attack_views import BAR_MARGIN, restyle_triptych, set_delta_scale
from advstudio.gui.widgets.bars import ProbabilityBars
from advstudio.gui.widgets.help import explain, form_row, intro_label
from advstudio.gui.widgets.layout import (
    BesideOrBelow,
    CurrentPageTabs,
    DataMessage,
    RunControls,
    scroll_area,
    side_by_side,
    spin_box,
)

INTRO = ("Two attacks made once and used on any digit: a small patch stuck on the image, and one faint pattern "
         "added to every image.")
NO_V = "Compute a universal perturbation (or load one) to see it here."
TICK_IT = "Tick “Add it to my drawing” to see what v does to your digit."
EMPTY_SWEEP = "“Fooling rate against ε” computes one perturbation per strength and plots how often each fools."
COLUMNS_BESIDE = 600


def universal_verdict(r: ViewResult, names=None) -> str:
    """"With v added, your 3 now reads as 5 (64 %)." (`names`: the model's classes)."""
    conf = percent(float(r.probs[r.label]))
    c, n = name_of(r.clean_label, names), name_of(r.label, names)
    if r.label == r.clean_label:
        return f"With v added, your {c} still reads as {c} ({conf})."
    return f"With v added, your {c} now reads as {n} ({conf})."


class UniversalHalf(QWidget):
    computeRequested = Signal()
    cancelRequested = Signal()
    loadRequested = Signal()
    saveRequested = Signal()
    sweepRequested = Signal()
    chooseFolderRequested = Signal()
    addToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("universal_half")
        self.data: UniversalData | None = None
        self.names: tuple[str, ...] | None = None  # the current model's classes (the bars, the verdict)
        self.shown: ViewResult | None = None  # the answer the bars and the verdict show
        self.shown_v = np.zeros((28, 28), np.float32)
        self._build_controls()
        self._build_views()
        side_by_side(self, self.controls, scroll_area(self.views, 200), (CONTROLS_WIDTH, 700))  # never taller than the tab
        self.set_running(False)
        self.set_data(None)

    # ------------------------------------------------------------------ building
    def _build_controls(self) -> None:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(6, 6, 6, 6)
        group = QGroupBox("Make a perturbation")
        form = QFormLayout(group)
        self.eps = QDoubleSpinBox()
        self.eps.setRange(0.01, 1.0)
        self.eps.setDecimals(2)
        self.eps.setSingleStep(0.01)
        self.eps.setValue(0.3)
        form_row(form, "Strength ε:", self.eps, "How far v may move each pixel, up or down, in pixel units from 0 "
                 "(black) to 1 (white).", "L∞ budget: |v| ≤ ε at every pixel. " + EPS_UNITS)
        self.eps_readout = wrapped()
        explain(self.eps_readout, EPS_UNITS)
        form.addRow(self.eps_readout)
        self.method = QComboBox()
        self.method.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.method.setMinimumContentsLength(6)  # a long method name is elided, never widens the form
        for key, (plain, _maths) in METHODS.items():
            self.method.addItem(plain, key)
        form_row(form, "Method:", self.method, "How v is found: following the gradient is fast and fools more "
                 "digits here; stepping to the nearest boundary is the original, slower method.",
                 " ".join(maths for _plain, maths in METHODS.values()))
        self.images = spin_box(100, 60000, 1000, 100)
        form_row(form, "Training images:", self.images, "How many MNIST training digits v is computed on (the "
                 "first N).")
        self.passes = spin_box(1, 100, 10, 1)
        form_row(form, "Passes:", self.passes, "How many times it goes over those digits at most (it stops early "
                 "once 80 % of them are fooled).", "max_passes; target fooling rate 0.8")
        self.runner = RunControls("Compute", default=True)
        self.run_button, self.cancel_button = self.runner.run, self.runner.cancel
        self.progress, self.eta = self.runner.progress, self.runner.eta
        explain(self.run_button, "Compute one perturbation with these settings (in the background; Cancel stops it).")
        self.runner.add_to_form(form)
        row, self.load_button, self.save_button = file_buttons("universal perturbation")
        form.addRow(row)
        self.file_message = message_label()
        form.addRow(self.file_message)
        v.addWidget(group)
        test = QGroupBox("Test it")
        tf = QFormLayout(test)
        self.test_images = spin_box(100, 10000, 1000, 100)
        form_row(tf, "Test images:", self.test_images, "How many MNIST test digits (never seen while computing v) "
                 "its fooling rate is measured on, the first N.")
        self.sweep_button = QPushButton("Fooling rate against ε")
        explain(self.sweep_button, "Compute one perturbation per strength ε = " + ", ".join(f"{e:g}" for e in SWEEP_EPS)
                + " (same method, images and passes) and plot how often each one fools.")
        tf.addRow(self.sweep_button)
        v.addWidget(test)
        self.data_message = DataMessage()
        v.addWidget(self.data_message)
        v.addStretch(1)
        self.controls = scroll_area(box, CONTROLS_WIDTH - 20)
        self.eps.valueChanged.connect(self._on_eps)
        self._on_eps(self.eps.value())
        self.run_button.clicked.connect(self.computeRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.load_button.clicked.connect(self.loadRequested)
        self.save_button.clicked.connect(self.saveRequested)
        self.sweep_button.clicked.connect(self.sweepRequested)
        self.data_message.choose_folder.clicked.connect(self.chooseFolderRequested)

    def _build_views(self) -> None:
        self.views = QWidget()
        v = QVBoxLayout(self.views)
        v.setContentsMargins(4, 4, 4, 4)
        self.glw = ImagesView(lambda width: (width - 100) / 2 + 34)  # two square images and the colour bar
        self.glw.setMinimumSize(2 * 105 + 100, IMAGE_MIN)
        self.glw.setToolTip("Left: v, the one perturbation for every digit (red brightens a pixel, blue darkens it; "
                            "full colour = ±ε, the colour bar). Right: your drawing, with v added when ticked.")
        self.titles = {"v": self.glw.addLabel("v, the same for every digit", row=0, col=0, size="10pt"),
                       "delta": self.glw.addLabel("", row=0, col=1, size="10pt"),
                       "drawing": self.glw.addLabel("Your drawing", row=0, col=2, size="10pt")}
        self.v_item, self.drawing_item = pg.ImageItem(), pg.ImageItem()
        for col, item in ((0, self.v_item), (2, self.drawing_item)):
            vb = self.glw.addViewBox(row=1, col=col, lockAspect=True, invertY=True, enableMouse=False)
            vb.setMenuEnabled(False)
            vb.addItem(item)
            vb.setRange(xRange=(0, 28), yRange=(0, 28), padding=0.01)
            self.glw.ci.layout.setColumnStretchFactor(col, 1)
        self.colorbar = pg.ColorBarItem(values=(-1.0, 1.0), colorMap=pg.ColorMap(np.linspace(0, 1, 256),
                                        diverging_lut(256)), interactive=False, width=12, colorMapMenu=False)
        self.glw.addItem(self.colorbar, row=1, col=1)
        self.colorbar.layout.setContentsMargins(0, BAR_MARGIN, 0, BAR_MARGIN)
        set_delta_scale(self.colorbar, 0.3)
        self.add_box = QCheckBox("Add it to my drawing")
        explain(self.add_box, "Show your drawing with v added, and what the network reads in it.",
                "drawing + v, clamped to [0, 1]")
        self.bars = ProbabilityBars([("your drawing", "clean"), ("with v added", "adversarial")], tick_pt=9)
        self.bars.setMinimumSize(200, 130)
        self.bars.setToolTip("Blue: what the network reads in your drawing. Orange: with v added.")
        self.verdict = verdict_label()
        self.info = wrapped()
        self.model_message = message_label()
        self.sweep = SweepPlot("ε (pixel units 0–1)", "fooled %", EMPTY_SWEEP,
                               ("training digits", "test digits (never seen)"))
        self.sweep_caption = wrapped()
        left = column((self.glw, 10), self.add_box, self.verdict, self.info, self.model_message, end_stretch=True)
        right = column((self.bars, 1), QLabel("<b>Fooling rate against ε</b>"), (self.sweep, 1), self.sweep_caption,
                       by_stretch=True)
        self.top = BesideOrBelow(left, right, COLUMNS_BESIDE, (3, 2))  # the images get the larger share
        v.addWidget(self.top)
        self.add_box.toggled.connect(self.addToggled)
        self._restyle()

    # ------------------------------------------------------------------ state
    def set_classes(self, names) -> None:
        """The current model's classes: the bars and the verdict name them."""
        self.names = tuple(str(n) for n in names)
        self.bars.set_classes(self.names)

    def settings(self) -> dict:
        return {"eps": round(float(self.eps.value()), 4), "method": str(self.method.currentData()),
                "images": int(self.images.value()), "passes": int(self.passes.value()),
                "n": int(self.test_images.value())}

    def _on_eps(self, eps: float) -> None:
        self.eps_readout.setText(eps_text(float(eps)).replace("  ·  ", " · "))

    def set_running(self, running: bool) -> None:
        self.running = running
        self.runner.set_running(running, (self.eps, self.method, self.images, self.passes, self.test_images,
                                          self.load_button, self.sweep_button))
        self.save_button.setEnabled(not running and self.data is not None)

    def set_data(self, data: UniversalData | None) -> None:
        self.data = data
        self.save_button.setEnabled(data is not None and not self.running)
        self.add_box.setEnabled(data is not None)
        if data is None:
            self.shown_v = np.zeros((28, 28), np.float32)
            self.v_item.setImage(diverging_rgb(self.shown_v), autoLevels=False, levels=None)
            self.info.setText(NO_V)
            return
        self.shown_v = np.ascontiguousarray(data.v, np.float32)
        self.v_item.setImage(diverging_rgb(self.shown_v, limit=data.eps), autoLevels=False, levels=None)
        set_delta_scale(self.colorbar, data.eps)
        peak = float(np.abs(data.v).max())
        how = METHODS.get(data.method, (data.method, ""))[0].split(" (")[0].lower()
        test = (f" and {percent(data.test_rate)} of {data.test_images:,} test digits it has never seen"
                if data.test_rate is not None else "")
        self.info.setText(
            f"v changes the network's answer on {percent(data.fooling_rate)} of the {data.images:,} training "
            f"digits it was made from{test}. Largest change |v| = {peak:.3f} ≤ ε = {data.eps:g} pixel units "
            f"({data.eps * 255:.0f} of 255 grey levels); {how}, {data.passes} passes.")

    def show_drawing(self, image: np.ndarray | None, with_v: np.ndarray | None) -> None:
        """The drawing (or drawing + v) on the right; the verdict says what to do when there is nothing to show."""
        shown = with_v if with_v is not None else image
        img = np.zeros((28, 28), np.float32) if shown is None else np.ascontiguousarray(shown, np.float32)
        self.drawing_item.setImage(img.reshape(28, 28), autoLevels=False, levels=(0.0, 1.0))
        self.titles["drawing"].setText("Your drawing + v" if with_v is not None else "Your drawing",
                                       color=text_colour(self))
        empty = image is None or not np.any(np.asarray(image) > 0)
        if empty or with_v is None:
            self.bars.set_probs(1, None)
        if empty:
            self.bars.set_probs(0, None)
            self.verdict.setText("Draw a digit in the Input panel to try v on it.")
        elif self.data is None:
            self.verdict.setText(NO_V)
        elif with_v is None:
            self.verdict.setText(TICK_IT)

    def show_view(self, r: ViewResult, with_v: bool) -> None:
        """The probabilities of the drawing, and of drawing + v when it was added."""
        self.shown = r
        self.bars.set_probs(0, r.clean_probs, highlight=r.clean_label)
        if not with_v:
            self.bars.set_probs(1, None)
            self.verdict.setText(TICK_IT if self.data is not None else NO_V)
            return
        self.bars.set_probs(1, r.probs, highlight=r.label)
        self.verdict.setText(universal_verdict(r, self.names))

    def show_model_note(self, text: str) -> None:
        show_message(self.model_message, text)

    def show_file_message(self, text: str | None) -> None:
        show_message(self.file_message, text)

    def show_sweep(self, r: UniversalSweepResult) -> None:
        self.sweep.set_data(r.eps, (r.train, r.test))
        how = METHODS.get(r.method, (r.method, ""))[0].split(" (")[0].lower()
        self.sweep_caption.setText(
            f"Each point: one v ({how}, at most {r.passes} passes) computed on {r.images:,} training digits; its "
            f"fooling rate on them and on {r.n:,} test digits; {r.seconds:.0f} s.")

    def show_progress(self, p) -> None:
        self.runner.show_progress(p, p.unit)
        if p.rate is not None:
            self.eta.setText(f"{self.eta.text()} · fooling {percent(p.rate)} of training digits")

    def show_data_error(self, message: str | None) -> None:
        self.data_message.show_message(message)

    def _restyle(self) -> None:
        restyle_triptych(self, self.glw, self.titles, self.colorbar)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "titles"):
            self._restyle()
        super().changeEvent(event)


class PatchUniversalPanel(QWidget):
    """The tab: the intro line over two pages, "Adversarial patch" and "Universal perturbation"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patch_universal_panel")
        self.patch = PatchHalf()
        self.universal = UniversalHalf()
        self.pages = CurrentPageTabs()
        self.pages.setDocumentMode(True)
        self.pages.addTab(self.patch, "Adversarial patch")
        self.pages.addTab(self.universal, "Universal perturbation")
        self.pages.setTabToolTip(0, "A small square, trained once, that turns any digit it is stuck on into one class")
        self.pages.setTabToolTip(1, "One faint pattern, computed once, that changes the answer on most digits")
        self.intro = intro_label("universal", INTRO)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.intro)
        layout.addWidget(self.pages)

    def set_classes(self, names) -> None:
        """The current model's classes, for both halves."""
        self.patch.set_classes(names)
        self.universal.set_classes(names)

    def show_page(self, which: str) -> None:
        self.pages.setCurrentWidget(self.patch if which == "patch" else self.universal)

    def show_data_error(self, message: str | None) -> None:
        self.patch.show_data_error(message)
        self.universal.show_data_error(message)
