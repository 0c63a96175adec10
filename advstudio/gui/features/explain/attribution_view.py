"""The "What it looks at" page of the Why it breaks tab: an attribution method, and its maps for the drawing and its
pushed version (columns) on the model in use and the other bundled model (rows), each over its image, with the
share of the map on the drawing's strokes and one sentence saying what the difference means. Widgets only."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from advstudio.core.explain.words import attribution_verdict, ink_percent
from advstudio.core.model_meta import name_of
from advstudio.core.render import attribution_rgb
from advstudio.gui.features.explain.messages import AttributeResult
from advstudio.gui.widgets.help import AdvancedGroup, explain, form_row
from advstudio.gui.widgets.layout import scroll_area, side_by_side, spin_box

CONTROLS_WIDTH = 250
CELL_MIN = 120  # px: each map at least this wide and tall
METHOD_CHOICES = (  # key, what the menu says, the one-line explanation, the maths on demand
    ("saliency", "Gradient (saliency)",
     "How much each pixel would change the score of the class it reads, if nudged.",
     "|∂ logit_c / ∂x| per pixel (Simonyan et al. 2014)."),
    ("smoothgrad", "SmoothGrad (averaged gradient)",
     "The gradient averaged over many slightly noisy copies of the image: less speckle.",
     "mean over n draws of |∂ logit_c / ∂(x + N(0, σ²))| (Smilkov et al. 2017)."),
    ("ig", "Integrated Gradients",
     "How much each pixel adds to the score on the way from a black image to yours (red adds, blue takes away).",
     "(x − x₀) ⊙ ∫₀¹ ∂ logit_c(x₀ + t(x − x₀))/∂x dt, x₀ black; the map sums to logit(x) − logit(x₀) "
     "(Sundararajan et al. 2017)."),
    ("gradcam", "Grad-CAM (last convolution)",
     "Which places the last convolution layer's feature maps point at for the class read (coarse: 14×14).",
     "ReLU(Σ_k α_k A_k), α_k the spatial mean of ∂ logit_c/∂A_k (Selvaraju et al. 2017)."),
)
EMPTY = "Draw a digit in the Input panel: its maps appear here."
CLAIM = ("A robust model's gradient tends to look like the digit itself; a standard model's looks like noise "
         "scattered around it. That noise is what FGSM follows.")


def narrow_combo() -> QComboBox:
    """A drop-down as narrow as the controls column: long choices are elided in the box, whole in the list."""
    box = QComboBox()
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(12)
    return box


def map_limit(values: np.ndarray) -> float:
    """Full colour at the map's 99th percentile of |value|: a few extreme pixels do not darken the rest."""
    a = np.abs(np.asarray(values, dtype=np.float32))
    top = float(np.percentile(a, 99)) if a.size else 0.0
    return top if top > 0 else float(a.max()) or 1.0


def cell_title(cls: int, conf: float, eps: float | None = None, names=None) -> str:
    """A map's title (plain text): which image, and the class the model reads it as, by name when `names` has it."""
    what = "Your drawing" if eps is None else f"Pushed (ε = {eps:.3f})"
    return f"{what}: reads {name_of(cls, names or None)} ({conf * 100:.0f} %)"


class AttributionPage(QWidget):
    settingsChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("explain_attribution")
        self.result: AttributeResult | None = None
        self._build_controls()
        self._build_views()
        side_by_side(self, self.controls, self.views, (CONTROLS_WIDTH, 700))

    def _build_controls(self) -> None:
        box = QWidget()
        v = QVBoxLayout(box)
        form = QFormLayout()
        self.method = narrow_combo()
        for key, text, *_ in METHOD_CHOICES:
            self.method.addItem(text, key)
        form_row(form, "Method", self.method, "How to ask the network which pixels its answer rests on.")
        v.addLayout(form)
        self.method_text = QLabel("")
        self.method_text.setWordWrap(True)
        v.addWidget(self.method_text)
        self.advanced = AdvancedGroup(name="explain_advanced")
        adv = self.advanced.form()
        self.ig_steps = spin_box(4, 512, 50, 10)
        form_row(adv, "IG steps", self.ig_steps, "Points on the way from the black image: more is more exact.",
                 "The trapezoid rule over this many intervals; the gap to logit(x) − logit(black) is shown.")
        self.samples = spin_box(2, 200, 25, 5)
        form_row(adv, "SmoothGrad copies", self.samples, "How many noisy copies SmoothGrad averages.")
        self.sigma = QDoubleSpinBox()
        self.sigma.setRange(0.01, 0.5)
        self.sigma.setSingleStep(0.05)
        self.sigma.setDecimals(2)
        self.sigma.setValue(0.15)
        form_row(adv, "SmoothGrad noise σ", self.sigma, "How strong the noise of each copy is, in pixel units (0–1).")
        v.addWidget(self.advanced)
        v.addStretch(1)
        self.controls = scroll_area(box, CONTROLS_WIDTH - 20, horizontal=False)
        self.method.currentIndexChanged.connect(self._on_method)
        for w in (self.ig_steps, self.samples):
            w.valueChanged.connect(self.settingsChanged)
        self.sigma.valueChanged.connect(self.settingsChanged)
        self._on_method()

    def _build_views(self) -> None:
        self.views = QWidget()
        v = QVBoxLayout(self.views)
        v.setContentsMargins(4, 4, 4, 4)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground(self.palette().color(self.palette().ColorRole.Window))
        self.glw.setMinimumSize(2 * CELL_MIN + 40, 2 * (CELL_MIN + 44))
        self.row_titles, self.titles, self.items, self.boxes = [], {}, {}, {}
        for r in range(2):
            self.row_titles.append(self.glw.addLabel("", row=3 * r, col=0, colspan=2, size="10pt", bold=True))
            for c in range(2):
                self.titles[r, c] = self.glw.addLabel("", row=3 * r + 1, col=c, size="9pt")
                box = self.glw.addViewBox(row=3 * r + 2, col=c, lockAspect=True, invertY=True, enableMouse=False)
                box.setMenuEnabled(False)
                item = pg.ImageItem(np.zeros((28, 28, 3), np.uint8))
                box.addItem(item)
                box.setRange(xRange=(0, 28), yRange=(0, 28), padding=0.01)
                self.items[r, c], self.boxes[r, c] = item, box
        self.glw.setToolTip("Each map over its image: bright where the pixel matters most to the class read. "
                            "Left: your drawing; right: the pushed one, which each model reads after its own push.")
        self.empty = QLabel(EMPTY)
        self.empty.setWordWrap(True)
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        self.verdict.setObjectName("explain_verdict")
        font = self.verdict.font()
        font.setBold(True)
        self.verdict.setFont(font)
        self.claim = QLabel(CLAIM)
        self.claim.setWordWrap(True)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        for w in (self.empty, self.verdict, self.claim, self.note):
            w.setTextFormat(Qt.TextFormat.PlainText)
        v.addWidget(self.empty)
        v.addWidget(self.glw, 1)
        v.addWidget(self.verdict)
        v.addWidget(self.claim)
        v.addWidget(self.note)
        self.set_result(None)

    # ------------------------------------------------------------------ state
    def method_key(self) -> str:
        return str(self.method.currentData())

    def settings(self) -> tuple:
        """The chosen method's own settings, as (name, value) pairs for the request."""
        m = self.method_key()
        if m == "ig":
            return (("steps", int(self.ig_steps.value())),)
        if m == "smoothgrad":
            return (("samples", int(self.samples.value())), ("sigma", float(self.sigma.value())))
        return ()

    def _on_method(self) -> None:
        key = self.method_key()
        for k, _, plain, maths in METHOD_CHOICES:
            if k == key:
                self.method_text.setText(plain)
                explain(self.method, plain, maths)
        self.settingsChanged.emit()

    def set_result(self, result: AttributeResult | None) -> None:
        self.result = result
        has = result is not None and bool(result.rows)
        self.empty.setVisible(not has)
        self.glw.setVisible(has)
        self.verdict.setVisible(has)
        if not has:
            self.note.setText("")
            return
        eps = result.attack.eps
        for r in range(2):
            row = result.rows[r] if r < len(result.rows) else None
            self.row_titles[r].setText("" if row is None else row.model_name, color=self._text())
            for c in range(2):
                box = self.boxes[r, c]
                box.setVisible(row is not None)
                if row is None:
                    self.titles[r, c].setText("")
                    continue
                image = row.clean if c == 0 else row.adversarial
                self.items[r, c].setImage(attribution_rgb(image, row.maps[c], result.signed, map_limit(row.maps[c])))
                title = cell_title(row.classes[c], row.confidence[c], None if c == 0 else eps, row.names)
                self.titles[r, c].setText(f"{html.escape(title)}<br>on the strokes: {ink_percent(row.ink_share[c])}",
                                          color=self._text())
        self.verdict.setText(attribution_verdict(result))
        self.note.setText(self._note(result))

    @staticmethod
    def _note(result: AttributeResult) -> str:
        parts = []
        if result.signed:
            parts.append("Red: the pixel adds to the class read; blue: it takes away.")
        for row in result.rows:
            if row.relative_delta is not None:
                gap = max(row.relative_delta) * 100
                parts.append(f"{row.model_name}: the map sums to the score's rise from black within {gap:.2f} %.")
        return " ".join(parts)

    def _text(self) -> str:
        from advstudio.gui.theme import text_colour

        return text_colour(self)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange) and hasattr(self, "glw"):
            self.glw.setBackground(self.palette().color(self.palette().ColorRole.Window))
            if self.result is not None:
                self.set_result(self.result)
        super().changeEvent(event)
