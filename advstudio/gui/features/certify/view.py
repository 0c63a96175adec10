"""The "Certify & detect" tab: randomized smoothing (a certificate for the current input, certified accuracy
against L2 radius over the test set) and the activation-statistics detector's ROCs against FGSM, PGD and the
attack that also pushes the detector's score down. Views only: the controller (gui/certify.py) runs the jobs."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from advstudio.core.certification import linf_as_l2
from advstudio.core.classes import DIGITS
from advstudio.core.describe import ATTACKER_TERMS, DEFENSE_NOTE, DEFENSE_NOTE_PLAIN
from advstudio.core.model_meta import name_of
from advstudio.gui.features.certify.messages import (
    CertifyCurveResult,
    CertifyInputResult,
    CertifyProgress,
    DetectResult,
    SmoothingSettings,
)
from advstudio.gui.theme import style_plot
from advstudio.gui.widgets.help import AdvancedGroup, explain, form_row, intro_label
from advstudio.gui.widgets.layout import DataMessage, RunControls, fixed_plot, scroll_area, side_by_side, spin_box
from advstudio.gui.widgets.palette import colours, family_colour
from advstudio.gui.widgets.plot_key import KeyEntry, PlotKey, PlotPlaceholder, key_above

# the detector's ROCs are all attacks: adversarial (warm) colours, k-th of the palette's adversarial family
ROC_STYLE = {"fgsm": ("FGSM", 1), "pgd": ("PGD", 0), "adaptive_pgd": ("adaptive PGD", 2)}
EMPTY_CURVE = "Run curve to see how many test digits stay certified as the L2 radius grows."
EMPTY_ROC = "Fit and measure to see how well the detector tells attacked digits from clean ones (its ROC curves)."
ROC_DASHED = {"pgd"}  # FGSM and PGD often both hug the top-left corner: a dashed PGD keeps both visible
EXAMPLE_LINF_EPS = 0.1
WAITING = "Waiting for the worker…"
INTRO = ("Prove that no small change can flip a digit, by letting many noisy copies vote, and test whether a detector "
         "can spot attacked images.")
AUC_WORDS = ("AUC is the chance that the detector scores an attacked image above a clean one: 1 = always caught, "
             "0.5 = a coin flip, below 0.5 = attacked images look cleaner to it than clean ones.")
MAX_RADIUS_WORDS = ("The largest radius any run can certify is σ·Φ⁻¹(α^(1/n)): even when every noisy vote agrees, n "
                    "samples prove p_A ≥ α^(1/n) at most.")


def _dspin(lo: float, hi: float, value: float, step: float, decimals: int) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    return s


def _form(box: QVBoxLayout) -> QFormLayout:
    """A form of label–field rows, added to a box's layout."""
    form = QFormLayout()
    box.addLayout(form)
    form.setContentsMargins(0, 0, 0, 0)
    return form


class CertifyPanel(QWidget):
    certifyRequested = Signal()
    curveRequested = Signal()
    curveCancelRequested = Signal()
    detectRequested = Signal()
    detectCancelRequested = Signal()
    chooseFolderRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("certify_panel")
        self.certificate: CertifyInputResult | None = None
        self.curves: list[CertifyCurveResult] = []
        self.curve_items: list[pg.PlotDataItem] = []
        self.detection: DetectResult | None = None
        self.roc_items: dict[str, pg.PlotDataItem] = {}
        self._build_controls()
        self._build_views()
        side_by_side(self, self.controls_scroll, self.views, (380, 900))
        self.intro = intro_label("certify", INTRO)
        self.layout().insertWidget(0, self.intro)
        self.set_input_shape((28, 28))
        self.set_curve_running(False)
        self.set_detect_running(False)

    # ------------------------------------------------------------------ building
    def _build_controls(self) -> None:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(6, 6, 6, 6)

        smooth = QGroupBox("Randomized smoothing (Cohen et al. 2019)")
        sv = QVBoxLayout(smooth)
        self.sigma = _dspin(0.01, 2.0, 0.25, 0.05, 3)
        self.n = spin_box(10, 200_000, 1000, 500)
        self.n0 = spin_box(1, 100_000, 100, 50)
        self.alpha = _dspin(0.00001, 0.5, 0.001, 0.001, 5)
        self.seed = spin_box(0, 1_000_000, 0, 1)
        form = _form(sv)
        form_row(form, "Noise level (σ):", self.sigma, "How much random noise is added to each copy of the image, in "
             "pixel units (0–1); more noise can prove larger radii but blurs the digit.",
             "The smoothed classifier votes over x + N(0, σ²).")
        form_row(form, "Noise samples (n):", self.n, "How many noisy copies vote on the answer; more copies allow a "
             "larger proven radius but take longer.", "They bound p_A, the top class's probability under noise.")
        self.smoothing_advanced = AdvancedGroup(name="certify_advanced_smoothing")
        more = self.smoothing_advanced.form()
        form_row(more, "First look (n0):", self.n0, "How many noisy copies pick the leading digit before the n copies "
             "check it.", "n0 samples select the class; n fresh samples estimate p_A.")
        form_row(more, "Allowed error (α):", self.alpha, "How often you accept that the proof could be wrong: 0.001 is "
             "at most once in a thousand.", "The certificate holds with probability at least 1 − α.")
        form_row(more, "Seed:", self.seed, "A number that fixes the random noise, so the same settings give the same "
             "certificate.", "torch is seeded with this before each certification.")
        sv.addWidget(self.smoothing_advanced)
        g = QGridLayout()
        g.setContentsMargins(0, 0, 0, 0)
        sv.addLayout(g)
        self.l2_note = QLabel("")
        self.l2_note.setWordWrap(True)
        self.l2_note.setStyleSheet("QLabel { font-weight: bold; }")
        g.addWidget(self.l2_note, 0, 0, 1, 4)
        self.certify_button = QPushButton("Certify this input")
        explain(self.certify_button, "Prove how far the digit on the canvas can be changed (in L2) without the "
                                     "noisy vote changing its answer.")
        g.addWidget(self.certify_button, 1, 0, 1, 4)
        self.input_result = QLabel("Draw a digit, then Certify this input.")
        self.input_result.setWordWrap(True)
        self.input_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        g.addWidget(self.input_result, 2, 0, 1, 4)
        g.addWidget(QLabel("<b>Certified accuracy vs radius</b>"), 3, 0, 1, 4)
        self.curve_samples = spin_box(5, 10_000, 100, 50)
        samples_label = QLabel("Test images (N):")
        g.addWidget(samples_label, 4, 0, 1, 2)
        g.addWidget(self.curve_samples, 4, 2, 1, 2)
        for w in (samples_label, self.curve_samples):
            explain(w, "How many digits from the MNIST test set the curve certifies (the first N).")
        self.curve_runner = RunControls("Run curve", starting=WAITING)
        self.curve_runner.add_to_grid(g, 5, 4)
        self.clear_curves = QPushButton("Clear curves")
        g.addWidget(self.clear_curves, 8, 0, 1, 4)
        v.addWidget(smooth)

        detect = QGroupBox("Detection from activation statistics")
        dv = QVBoxLayout(detect)
        intro = QLabel("A small classifier learns to tell attacked images from clean ones by how strongly each layer "
                       "of the network fires (the article's idea).")
        intro.setWordWrap(True)
        explain(intro, "How the detector works.", "A logistic regression on each ReLU layer's mean, std, active "
                "fraction and max, fitted on clean training images against their FGSM versions.")
        dv.addWidget(intro)
        self.fit_samples = spin_box(20, 60_000, 500, 100)
        self.fit_eps = _dspin(0.01, 1.0, 0.1, 0.05, 3)
        self.detect_samples = spin_box(10, 10_000, 200, 50)
        self.detect_eps = _dspin(0.01, 1.0, 0.2, 0.05, 3)
        self.steps = spin_box(1, 1000, 20, 10)
        self.lam = _dspin(0.0, 100.0, 1.0, 0.5, 2)
        form = _form(dv)
        form_row(form, "Attack strength (ε):", self.detect_eps, "How strong the three attacks the detector must catch "
             "are, in pixel units (0–1).", "L∞ ε of FGSM, PGD and the adaptive PGD.")
        form_row(form, "Test images:", self.detect_samples, "How many test digits, clean and attacked, the detector is "
             "measured on (the first n).")
        self.detect_advanced = AdvancedGroup(name="certify_advanced_detection")
        more = self.detect_advanced.form()
        form_row(more, "Training images:", self.fit_samples, "How many training digits (each clean and attacked with "
             "FGSM) the detector learns from.")
        form_row(more, "Training strength (ε):", self.fit_eps, "How strong the FGSM attack on the detector's training "
             "images is, in pixel units (0–1).")
        form_row(more, "PGD steps:", self.steps, "How many small pushes the plain and the adaptive PGD make.",
             "Step size 2.5·ε/steps, from a random start.")
        form_row(more, "Detector weight (λ):", self.lam, "How hard the adaptive attacker also tries to look clean to the "
             "detector; 0 = it ignores the detector.", "Its loss: min(margin, 2) − λ·detector logit.")
        dv.addWidget(self.detect_advanced)
        d = QGridLayout()
        d.setContentsMargins(0, 0, 0, 0)
        dv.addLayout(d)
        self.detect_runner = RunControls("Fit and measure", starting=WAITING)
        self.detect_runner.add_to_grid(d, 0, 4)
        v.addWidget(detect)

        self.data_message = DataMessage()
        self.data_text, self.choose_folder = self.data_message.text, self.data_message.choose_folder
        v.addWidget(self.data_message)
        v.addStretch(1)

        self.controls_scroll = scroll_area(box, 280)
        self.certify_button.clicked.connect(self.certifyRequested)
        self.curve_runner.run.clicked.connect(self.curveRequested)
        self.curve_runner.cancel.clicked.connect(self.curveCancelRequested)
        self.detect_runner.run.clicked.connect(self.detectRequested)
        self.detect_runner.cancel.clicked.connect(self.detectCancelRequested)
        self.choose_folder.clicked.connect(self.chooseFolderRequested)
        self.clear_curves.clicked.connect(self.clear_curve_plot)

    def _build_views(self) -> None:
        self.views = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(4, 4, 4, 4)
        self.curve_plot = fixed_plot("L2 radius r  (pixel units 0–1; ‖δ‖₂ ≤ r)", "certified accuracy %", 180)
        self.curve_plot.setYRange(0, 100, padding=0.02)
        self.curve_legend = PlotKey()  # above the plot: never on a curve, never clipped
        self.curve_area = PlotPlaceholder(key_above(self.curve_legend, self.curve_plot), EMPTY_CURVE)
        self.curve_caption = QLabel("Run curve: certified accuracy of the smoothed classifier against L2 radius "
                                    "on the first N test images. Runs add curves (compare σ).")
        self.curve_caption.setWordWrap(True)
        self.curve_caption.setTextFormat(Qt.TextFormat.PlainText)  # it names the model: the user's text
        self.curve_caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        tl.addWidget(self.curve_area, 1)
        tl.addWidget(self.curve_caption)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(4, 4, 4, 4)
        self.roc_plot = fixed_plot("false-positive rate (clean test images flagged)",
                                   "true-positive rate (attacked flagged)", 180)
        self.roc_plot.setXRange(0, 1, padding=0.02)
        self.roc_plot.setYRange(0, 1, padding=0.02)
        self.roc_legend = PlotKey()
        self.roc_area = PlotPlaceholder(key_above(self.roc_legend, self.roc_plot), EMPTY_ROC)
        self.chance = self.roc_plot.plot([0, 1], [0, 1])
        self.roc_labels: dict[str, str] = {}
        self.detect_summary = QLabel("Fit and measure: the detector's ROC against FGSM, PGD, and a PGD that also "
                                     "pushes the detector's score down.")
        self.detect_summary.setWordWrap(True)
        self.detect_summary.setTextFormat(Qt.TextFormat.PlainText)
        explain(self.detect_summary, AUC_WORDS)
        self.detect_summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note = QLabel(DEFENSE_NOTE_PLAIN)
        explain(self.note, DEFENSE_NOTE, ATTACKER_TERMS)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("QLabel { font-style: italic; }")
        bl.addWidget(self.roc_area, 1)
        bl.addWidget(self.detect_summary)
        bl.addWidget(self.note)
        self.views.addWidget(top)
        self.views.addWidget(bottom)
        self._restyle()

    def _restyle(self) -> None:
        for p in (self.curve_plot, self.roc_plot):
            style_plot(p, self)
        self._recolour()

    def curve_colour(self, k: int) -> str:
        """Certified accuracy is neither a clean nor an attacked accuracy: the palette's other family."""
        return family_colour(colours(self).other_family, k)

    def roc_colour(self, name: str) -> str:
        return family_colour(colours(self).adversarial_family, ROC_STYLE.get(name, (name, 3))[1])

    def _recolour(self) -> None:
        """Pens and keys in the current theme's colours; the placeholders while a plot is empty."""
        for k, item in enumerate(self.curve_items):
            item.setPen(pg.mkPen(self.curve_colour(k), width=2))
        self.curve_legend.set_entries([KeyEntry(self.curve_colour(k), r.label()) for k, r in enumerate(self.curves)])
        self.chance.setPen(pg.mkPen(colours(self).neutral, width=1, style=Qt.PenStyle.DashLine))
        for name, item in self.roc_items.items():
            style = Qt.PenStyle.DashLine if name in ROC_DASHED else Qt.PenStyle.SolidLine
            item.setPen(pg.mkPen(self.roc_colour(name), width=2, style=style))
        entries = [KeyEntry(self.roc_colour(n), self.roc_labels[n], "dash" if n in ROC_DASHED else "line")
                   for n in self.roc_items]
        if entries:
            entries.append(KeyEntry(colours(self).neutral, "chance", "dash"))
        self.roc_legend.set_entries(entries)
        self.curve_area.set_empty(not self.curves)
        self.roc_area.set_empty(not self.roc_items)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "roc_plot"):
            self._restyle()
        super().changeEvent(event)

    # ------------------------------------------------------------------ settings
    def smoothing(self) -> SmoothingSettings:
        return SmoothingSettings(float(self.sigma.value()), int(self.n0.value()), int(self.n.value()),
                                 float(self.alpha.value()), int(self.seed.value()))

    def set_input_shape(self, shape: tuple[int, ...]) -> None:
        """The always-visible L2-vs-L∞ statement, computed for this input shape."""
        pixels = int(np.prod(shape))
        l2 = linf_as_l2(EXAMPLE_LINF_EPS, tuple(shape))
        self.l2_note.setText(f"This certifies an L2 radius, not the L∞ ball the other attacks use. An L∞ ε of "
                             f"{EXAMPLE_LINF_EPS:g} over {pixels} pixels is an L2 distance of up to {l2:.1f}.")

    # ------------------------------------------------------------------ the input's certificate
    def show_data_error(self, message: str | None) -> None:
        self.data_message.show_message(message)

    def show_input_message(self, text: str) -> None:
        self.certificate = None
        self.input_result.setText(text)

    def set_certificate(self, r: CertifyInputResult, names=None) -> None:
        """The certificate in words; `names`: the classes of the model it was made with (numbers when None)."""
        self.certificate = r
        s = r.settings
        pixels = int(r.image.size)
        how = f"n = {s.n}, α = {s.alpha:g} (σ = {s.sigma:g}, n0 = {s.n0}, seed {s.seed}); {r.seconds:.1f} s"
        votes = ", ".join(f"{name_of(k, names)}: {c}" for k, c in sorted(enumerate(r.counts), key=lambda kc: -kc[1])
                          if c)[:80]
        votes, read = html.escape(votes), html.escape(name_of(r.base_label, names))  # names are the file's text
        top = "digit" if names is None or tuple(names) == DIGITS else "class"
        if r.label is None:
            text = (f"<b>Abstain</b>: the top class's probability under noise is not provably above ½ "
                    f"(lower bound {r.p_lower:.4f}). {how}.<br>Noisy votes: {votes}. The model itself reads "
                    f"{read}.")
        else:
            eq = r.radius / np.sqrt(pixels)
            text = (f"Certified class <b>{html.escape(name_of(r.label, names))}</b>, L2 radius <b>{r.radius:.3f}</b>, "
                    f"with {how}.<br>Under noise the top {top} wins with probability at least {r.p_lower:.4f} (p_A); "
                    f"noisy votes: {votes}. The model itself reads {read}.<br>"
                    f"An L2 ball of radius {r.radius:.3f} holds the L∞ ball of ε = {eq:.4f} only "
                    f"(r/√{pixels}). Largest radius certifiable with this n and α: {r.max_radius:.3f}.")
        self.input_result.setText(text)

    # ------------------------------------------------------------------ the curve
    def set_curve_running(self, running: bool) -> None:
        self.curve_runner.set_running(running, [self.curve_samples, self.clear_curves])

    def set_curve_progress(self, p: CertifyProgress) -> None:
        self.curve_runner.show_progress(p, "images")

    def add_curve(self, r: CertifyCurveResult) -> None:
        item = self.curve_plot.plot(r.radii, r.accuracy * 100.0)
        self.curves.append(r)
        self.curve_items.append(item)
        self._recolour()
        self.curve_runner.finished(r.seconds)
        self.curve_caption.setText(
            f"{r.model_name}: randomized smoothing, {r.label()} test images. Certified correct {r.correct}, "
            f"abstained {r.abstained}, certified a wrong class {r.wrong}. Certified accuracy at r = 0 is "
            f"{r.accuracy[0] * 100:.1f} %. With this n and α no radius above {r.max_radius:.3f} can be certified. "
            f"These are L2 radii: an L∞ ε of {EXAMPLE_LINF_EPS:g} reaches ‖δ‖₂ = {linf_as_l2(EXAMPLE_LINF_EPS):.1f}.")
        explain(self.curve_caption, "What the curve shows, in numbers.", MAX_RADIUS_WORDS)

    def clear_curve_plot(self) -> None:
        for item in self.curve_items:
            self.curve_plot.removeItem(item)
        self.curves, self.curve_items = [], []
        self._recolour()

    # ------------------------------------------------------------------ detection
    def detect_values(self) -> dict:
        return {"fit_samples": int(self.fit_samples.value()), "fit_eps": float(self.fit_eps.value()),
                "samples": int(self.detect_samples.value()), "eps": float(self.detect_eps.value()),
                "steps": int(self.steps.value()), "lam": float(self.lam.value())}

    def set_detect_running(self, running: bool) -> None:
        self.detect_runner.set_running(running, [self.fit_samples, self.fit_eps, self.detect_samples,
                                                 self.detect_eps, self.steps, self.lam])

    def set_detect_progress(self, p: CertifyProgress) -> None:
        self.detect_runner.show_progress(p, "image-attacks")

    def set_detection(self, r: DetectResult) -> None:
        self.detection = r
        for item in self.roc_items.values():
            self.roc_plot.removeItem(item)
        self.roc_items, self.roc_labels = {}, {}
        for name, roc in r.rocs.items():
            title = ROC_STYLE.get(name, (name, 3))[0]
            steps = int(roc.params.get("steps", 1))
            lam = f", λ = {roc.params['lam']:g}" if name == "adaptive_pgd" else ""
            label = (f"{title}: AUC {roc.auc:.3f} (ε = {roc.params['eps']:g}, {steps} step"
                     f"{'s' if steps != 1 else ''}{lam}, n = {roc.n})")
            self.roc_items[name] = self.roc_plot.plot(roc.fpr, roc.tpr)
            self.roc_labels[name] = label
        self._recolour()
        self.detect_runner.finished(r.seconds)
        self.detect_summary.setText(detection_summary(r))


def adaptive_verdict(ref: float, auc: float) -> str:
    """What the adaptive attack did to the detector's AUC (`ref`: the best plain attack's), in plain words. An AUC
    far below 0.5 is not "toward chance": the detector then ranks the attacked images as cleaner than clean ones."""
    if not auc < ref - 0.05:
        return (f"stays at {auc:.3f} (plain attacks: {ref:.3f}): the detector still catches it; try more steps or a "
                "larger λ")
    fall = f"falls from {ref:.3f} to {auc:.3f}"
    if auc < 0.4:
        return (f"{fall}, far below 0.5 (a coin flip): the detector is fooled into rating these attacked images as "
                "cleaner than clean ones")
    if auc <= 0.6:
        return f"{fall}, about 0.5: the detector does no better than a coin flip"
    return f"{fall}: the detector misses more of them (0.5 would be a coin flip)"


def detection_summary(r: DetectResult) -> str:
    """One paragraph of what happened, from the measured numbers."""
    req, info = r.request, r.fit_info
    rocs = r.rocs
    head = (f"{r.model_name}: detector fitted on {r.fit_source} against FGSM ε = {req.fit_eps:g} "
            f"(fit accuracy {info.get('fit_accuracy', float('nan')) * 100:.1f} %); threshold at "
            f"{req.target_fpr * 100:.0f} % false positives on them. ROCs on the first {req.samples} test images, "
            f"L∞ ε = {req.eps:g}. {AUC_WORDS}")
    parts = [head]
    plain = [rocs[k] for k in ("fgsm", "pgd") if k in rocs]
    if plain:
        verb = "It catches" if min(k.auc for k in plain) >= 0.9 else "Against the attacks that ignore it:"
        parts.append(f"{verb} " + " and ".join(
            f"{ROC_STYLE[k.attack][0]} (AUC {k.auc:.3f}, {k.detected * 100:.0f} % flagged)" for k in plain) + ".")
    ad = rocs.get("adaptive_pgd")
    if ad is not None:
        ref = max((k.auc for k in plain), default=float("nan"))
        parts.append(f"Against the attacker who also pushes the detector's score down (λ = {req.lam:g}, "
                     f"{req.steps} steps) the AUC {adaptive_verdict(ref, ad.auc)}. {ad.evaded * 100:.0f} % of its "
                     f"examples fool the model and pass the detector (plain PGD: "
                     f"{rocs['pgd'].evaded * 100 if 'pgd' in rocs else float('nan'):.0f} %).")
    return " ".join(parts)
