"""The robustness lab tab: models, an attack, a list of ε and a sample count on the left; accuracy against ε
for every run overlaid, the confusion matrix under attack and the most confident mistakes on the right."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from advstudio.core.attacks import ATTACKS
from advstudio.core.attacks.registry import AXIS_WORDS
from advstudio.core.classes import DIGITS
from advstudio.core.describe import ATTACKER_TERMS, DEFENSE_NOTE, DEFENSE_NOTE_PLAIN, attack_title, steps_text
from advstudio.core.eps import parse_eps_field
from advstudio.gui.features.lab.confusion import ConfusionPlot, short_name
from advstudio.gui.features.lab.messages import LabCurve, LabProgress
from advstudio.gui.features.lab.transfer_view import TransferButton, TransferMatrixView, detail_tabs
from advstudio.gui.models import ModelEntry
from advstudio.gui.theme import style_plot, text_colour
from advstudio.gui.widgets.help import explain, intro_label
from advstudio.gui.widgets.layout import DataMessage, RunControls, fixed_plot, scroll_area, side_by_side
from advstudio.gui.widgets.masking import MaskingChecksLabel
from advstudio.gui.widgets.palette import colours, family_colour
from advstudio.gui.widgets.plain import plain_tip
from advstudio.gui.widgets.plot_key import KeyEntry, PlotKey, PlotPlaceholder, key_above

LINF_EPS = "0, 0.05, 0.1, 0.15, 0.2, 0.3"
L2_EPS = "0, 0.5, 1, 1.5, 2, 2.5, 3"
L0_EPS = "0, 1, 2, 3, 5, 10, 20, 40, 78"
DEFAULT_FIELD = {"linf": LINF_EPS, "l2": L2_EPS, "l0": L0_EPS}
EMPTY_PLOT = "Run the lab to see how accuracy falls as ε grows."
EMPTY_DETAILS = "After a run: where the attacked digits go (the confusion matrix) and the most confident mistakes."
SAMPLES_TIP = ("How many digits from the MNIST test set to attack (the first N); more give a steadier curve but take "
               "longer.")
SYMBOLS = {"fgsm": "o", "bim": "t", "pgd": "s", "mifgsm": "d", "cw": "x", "deepfool": "+"}
GALLERY_COLUMNS = 8
TILE = 28
GAP = 3  # between tiles, in image pixels
CAPTION = 9  # room above each tile for its caption
INTRO = ("How often each model still reads test digits correctly as the attack gets stronger: each curve is one model "
         "under one attack.")
EPS_WORDS = {  # the ε field's label and explanation, for L∞ attacks, minimal-L2 ones and few-pixel (L0) ones
    "linf": ("Strengths (ε):", "The strengths to try, in pixel units from 0 to 1, separated by commas; each one is "
             "a point on the curve.", "L∞ ε: every pixel moves by at most ±ε."),
    "l2": ("Sizes (L2 radii):", "The overall change sizes to try, separated by commas; each one is a point on the "
           "curve.", "L2 radius r: an image counts as fooled if the attack found a change with ‖δ‖₂ ≤ r."),
    "l0": ("Pixels changed:", "How many pixels the attacker may change, separated by commas; each one is a point "
           "on the curve.", "L0 budget k: an image counts as fooled if the attack changed at most k pixels."),
}
RADIUS_SHORT = {"linf": "ε", "l2": "L2 radius", "l0": "pixels"}
MIXED_AXIS = "ε  (L∞, pixel units 0–1; L2 radius for the minimal-L2 attacks; pixels changed for the L0 ones)"


def parse_eps(text: str) -> list[float]:
    """"0, 0.05 0.1" -> [0.0, 0.05, 0.1] (sorted, unique); ValueError with a readable message otherwise."""
    return parse_eps_field(text, upper=float("inf"), out_of_range="ε cannot be negative")


def mosaic(images: np.ndarray, columns: int = GALLERY_COLUMNS) -> np.ndarray:
    """k 28×28 images in a grid, each with room above it for a caption (dark grey around the tiles)."""
    k = len(images)
    rows = max(1, -(-k // columns))
    out = np.full((rows * (TILE + CAPTION), columns * (TILE + GAP)), 0.2, dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        y, x = r * (TILE + CAPTION) + CAPTION, c * (TILE + GAP)
        out[y: y + TILE, x: x + TILE] = img
    return out


def tile_origin(i: int, columns: int = GALLERY_COLUMNS) -> tuple[int, int]:
    """(x, y) of tile i's caption in mosaic coordinates."""
    r, c = divmod(i, columns)
    return c * (TILE + GAP), r * (TILE + CAPTION)


class RobustnessLabPanel(QWidget):
    runRequested = Signal()
    cancelRequested = Signal()
    addModelRequested = Signal()
    exportRequested = Signal(str)  # "csv", "json" or "png"
    transferRequested = Signal()
    chooseFolderRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("robustness_lab_panel")
        self.curves: list[LabCurve] = []
        self.lines: list[pg.PlotDataItem] = []
        self._eps_edited = False
        self._build_controls()
        self._build_views()
        side_by_side(self, self.controls_scroll, self.views, (390, 890))
        self.intro = intro_label("robustness", INTRO)
        self.layout().insertWidget(0, self.intro)
        self.classes: tuple[str, ...] = DIGITS
        self.form.target.valueChanged.connect(self._name_target)
        self.set_running(False)

    # ------------------------------------------------------------------ building
    def _build_controls(self) -> None:
        from advstudio.gui.widgets.attack_form import AttackForm

        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(6, 6, 6, 6)
        models = QGroupBox("Models")
        ml = QVBoxLayout(models)
        self.model_list = QListWidget()
        self.model_list.setMaximumHeight(72)
        explain(self.model_list, "Tick the models to test: the bundled one, files you add, and models trained in this "
                                 "session.")
        self.add_model = QPushButton("Add model file…")
        ml.addWidget(self.model_list)
        ml.addWidget(self.add_model)
        v.addWidget(models)
        attack = QGroupBox("Attack")
        al = QVBoxLayout(attack)
        self.form = AttackForm(include_eps=False, columns=2, compact=True, advanced_columns=1)
        al.addWidget(self.form)
        v.addWidget(attack)
        run = QGroupBox("Run")
        g = QGridLayout(run)
        self.eps_label = QLabel(EPS_WORDS["linf"][0])
        self.eps_edit = QLineEdit(LINF_EPS)
        self._explain_eps("linf")
        self.samples = QSpinBox()
        self.samples.setRange(10, 10000)
        self.samples.setSingleStep(100)
        self.samples.setValue(500)
        self.samples_label = QLabel("Test images:")
        for w in (self.samples_label, self.samples):
            explain(w, SAMPLES_TIP)
        self.runner = RunControls("Run", default=True)
        self.run_button, self.cancel_button = self.runner.run, self.runner.cancel
        self.progress, self.eta = self.runner.progress, self.runner.eta
        g.addWidget(self.eps_label, 0, 0)
        g.addWidget(self.eps_edit, 0, 1, 1, 2)
        g.addWidget(self.samples_label, 1, 0)
        g.addWidget(self.samples, 1, 1)
        self.runner.add_to_grid(g, 2, 3)
        self.transfer_button = TransferButton(self.model_list)  # beside Run and Cancel
        g.itemAtPosition(2, 0).layout().addWidget(self.transfer_button)
        v.addWidget(run)
        self.data_message = DataMessage()
        self.data_text, self.choose_folder = self.data_message.text, self.data_message.choose_folder
        v.addWidget(self.data_message)
        export = QGroupBox("Export")
        el = QGridLayout(export)
        self.export_buttons = {}
        for i, (kind, text, tip) in enumerate((
                ("csv", "Curves CSV…", "One row per model, attack and ε, with every setting"),
                ("json", "Curves JSON…", "The `advstudio evaluate --json` format, one document per curve"),
                ("png", "Plot PNG…", "The plot with its legend and every setting written under it"))):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda _=False, k=kind: self.exportRequested.emit(k))
            el.addWidget(b, i // 2, i % 2)
            self.export_buttons[kind] = b
        self.clear_button = QPushButton("Clear plot")
        el.addWidget(self.clear_button, 1, 1)
        v.addWidget(export)
        v.addStretch(1)
        self.controls_scroll = scroll_area(box, 260)  # narrower than the forms: it scrolls beside the side docks
        self.add_model.clicked.connect(self.addModelRequested)
        self.run_button.clicked.connect(self.runRequested)
        self.transfer_button.clicked.connect(self.transferRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.choose_folder.clicked.connect(self.chooseFolderRequested)
        self.clear_button.clicked.connect(self.clear)
        self.form.combo.currentIndexChanged.connect(self._on_attack)
        self.eps_edit.textEdited.connect(self._on_eps_edited)

    def _build_views(self) -> None:
        self.views = QWidget()
        v = QVBoxLayout(self.views)
        v.setContentsMargins(4, 4, 4, 4)
        self.plot = fixed_plot(MIXED_AXIS, "accuracy %", 220)
        self.plot.setYRange(0, 100, padding=0.02)
        self.plot.getAxis("left").setTicks([[(v, f"{v}") for v in range(0, 101, 20)], []])  # 100 % labelled too
        self.key = PlotKey()  # the legend, above the plot: it never covers a curve or the caption
        self.figure = key_above(self.key, self.plot)  # what "Plot PNG…" saves
        self.plot_area = PlotPlaceholder(self.figure, EMPTY_PLOT)
        self.caption = QLabel("Run an attack to draw its curve. Runs add curves; Clear plot removes them.")
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note = QLabel(DEFENSE_NOTE_PLAIN)
        explain(self.note, DEFENSE_NOTE, ATTACKER_TERMS)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("QLabel { font-style: italic; }")
        details = QHBoxLayout()
        details.addWidget(QLabel("Details for:"))
        self.detail_combo = QComboBox()
        explain(self.detail_combo, "Which curve the table of mix-ups and the gallery of mistakes show (at its largest "
                                   "strength).")
        details.addWidget(self.detail_combo, 1)
        self.details_glw = pg.GraphicsLayoutWidget()
        self.details_glw.setMinimumHeight(230)
        self.cm_title = self.details_glw.addLabel("Confusion under attack", row=0, col=0, size="9pt")
        self.gallery_title = self.details_glw.addLabel("Most confident mistakes", row=0, col=1, size="9pt")
        self.cm_plot = self.details_glw.addPlot(row=1, col=0)
        self.cm_plot.setMenuEnabled(False)
        self.cm_plot.setMouseEnabled(False, False)
        self.cm_plot.hideButtons()
        self.cm_plot.invertY(True)
        self.cm_plot.setAspectLocked(True)
        self.cm_plot.setLabel("left", "true class")
        self.cm_plot.setLabel("bottom", "class under attack")
        self._small_font = QFont()
        self._small_font.setPointSize(7)
        self._name_font = QFont()  # gallery captions of named classes ("Sne→Coa 20%"): a tile's width holds them
        self._name_font.setPointSize(6)
        self.confusion = ConfusionPlot(self.cm_plot, self._small_font)
        self.cm_image = self.confusion.image
        self.gallery_box = self.details_glw.addViewBox(row=1, col=1, lockAspect=True, invertY=True, enableMouse=False)
        self.gallery_box.setMenuEnabled(False)
        self.gallery_image = pg.ImageItem(mosaic(np.zeros((0, 28, 28))), autoLevels=False, levels=(0.0, 1.0))
        self.gallery_box.addItem(self.gallery_image)
        self.gallery_texts: list[pg.TextItem] = []
        self.details_glw.ci.layout.setColumnStretchFactor(0, 2)
        self.details_glw.ci.layout.setColumnStretchFactor(1, 3)
        split = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("<b>Accuracy against ε</b>"))
        head.addStretch(1)
        tl.addLayout(head)
        tl.addWidget(self.plot_area, 1)
        tl.addWidget(self.caption)
        tl.addWidget(self.note)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addLayout(details)
        self.masking = MaskingChecksLabel()  # the gradient-masking checks of the curve the details show
        bl.addWidget(self.masking)
        self.details_area = PlotPlaceholder(self.details_glw, EMPTY_DETAILS)
        bl.addWidget(self.details_area, 1)
        split.addWidget(top)
        self.transfer_view = TransferMatrixView()
        self.detail_tabs = detail_tabs(bottom, self.transfer_view)
        split.addWidget(self.detail_tabs)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 4)
        v.addWidget(split)
        self.detail_combo.currentIndexChanged.connect(self.show_details)
        self._restyle()

    # ------------------------------------------------------------------ models
    def set_models(self, entries: list[ModelEntry], checked: set[str]) -> None:
        self.model_list.clear()
        for e in entries:
            item = QListWidgetItem(e.name)
            item.setData(Qt.ItemDataRole.UserRole, e.key)
            item.setToolTip(plain_tip(e.path or "trained in this session"))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if e.key in checked else Qt.CheckState.Unchecked)
            self.model_list.addItem(item)

    def checked_models(self) -> list[str]:
        return [self.model_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.model_list.count())
                if self.model_list.item(i).checkState() == Qt.CheckState.Checked]

    # ------------------------------------------------------------------ running
    def eps(self) -> list[float]:
        return parse_eps(self.eps_edit.text())

    def show_run(self, attack: str, eps, n: int) -> None:
        """Fill the form with a run another feature starts (the lesson's curve): untargeted `attack`, the ε list,
        n test images (within the spin box's range)."""
        self.form.set_attack(attack)
        self.form.targeted.setChecked(False)
        self.eps_edit.setText(", ".join(f"{float(e):g}" for e in eps))
        self.samples.setValue(int(n))

    def set_running(self, running: bool) -> None:
        self.running = running
        self.runner.set_running(running, (self.form, self.eps_edit, self.samples, self.model_list, self.add_model,
                                          self.clear_button))
        self.transfer_button.set_running(running)

    def set_progress(self, p: LabProgress) -> None:
        self.runner.show_progress(p, "image-attacks")

    def show_data_error(self, message: str | None) -> None:
        self.data_message.show_message(message)

    # ------------------------------------------------------------------ curves
    def add_curves(self, curves: tuple[LabCurve, ...]) -> None:
        for c in curves:
            x = np.asarray(c.curve.eps, dtype=float)
            y = np.asarray(c.curve.accuracy, dtype=float) * 100
            line = self.plot.plot(x, y, symbol=SYMBOLS.get(c.attack, "o"), symbolSize=7)
            self.curves.append(c)
            self.lines.append(line)
            self.detail_combo.addItem(c.label())
        self._recolour()
        self._caption()
        if curves:
            self.detail_combo.setCurrentIndex(len(self.curves) - 1)

    @Slot()
    def clear(self) -> None:
        for line in self.lines:
            self.plot.removeItem(line)
        self.curves, self.lines = [], []
        self._recolour()
        self.detail_combo.clear()
        self._caption()
        self.show_details(-1)

    def curve_colour(self, k: int) -> str:
        """Curve k's colour: every curve is accuracy under attack, so all come from the adversarial (warm) family."""
        return family_colour(colours(self).adversarial_family, k)

    def _recolour(self) -> None:
        """Pens, the key and the placeholders for the curves on the plot, in the current theme's colours."""
        for k, line in enumerate(self.lines):
            colour = self.curve_colour(k)
            line.setPen(pg.mkPen(colour, width=2))
            line.setSymbolBrush(colour)
            line.setSymbolPen(colour)
        self.key.set_entries([KeyEntry(self.curve_colour(k), c.label()) for k, c in enumerate(self.curves)])
        norms = {c.curve.params.get("eps_norm", "linf") for c in self.curves}  # one kind: say exactly which
        self.plot.setLabel("bottom", AXIS_WORDS.get(next(iter(norms)), MIXED_AXIS) if len(norms) == 1 else MIXED_AXIS)
        self.plot_area.set_empty(not self.curves)
        self.details_area.set_empty(not self.curves)

    def _caption(self) -> None:
        if not self.curves:
            self.caption.setText("Run an attack to draw its curve. Runs add curves; Clear plot removes them.")
            return
        lines = [f"<span style='color:{self.curve_colour(i)}'>■</span> {html.escape(c.describe())}"
                 for i, c in enumerate(self.curves)]
        self.caption.setText("<br>".join(lines))

    @Slot(int)
    def show_details(self, index: int) -> None:
        for t in self.gallery_texts:
            self.gallery_box.removeItem(t)
        self.gallery_texts = []
        if index < 0 or index >= len(self.curves):
            self.confusion.clear()
            self.gallery_image.setImage(mosaic(np.zeros((0, 28, 28))), autoLevels=False, levels=(0.0, 1.0))
            self.cm_title.setText("Confusion under attack", color=text_colour(self))
            self.gallery_title.setText("Most confident mistakes", color=text_colour(self))
            self.masking.set_notes(())
            return
        c = self.curves[index]
        self.masking.set_notes(c.masking, c.model_name)
        p = c.curve.params
        norm = RADIUS_SHORT.get(p.get("eps_norm"), "ε")
        what = (f"{attack_title(c.attack)}, {norm} = {c.detail_eps:g}, {steps_text(c.attack, p)}, "
                f"n = {c.curve.n}")
        self.confusion.show(c.confusion, c.classes)
        self.cm_title.setText(f"Confusion: {what}", color=text_colour(self))
        m = c.mistakes
        imgs = m.adversarial if m.adversarial is not None else np.zeros((0, 28, 28))
        self.gallery_image.setImage(mosaic(imgs), autoLevels=False, levels=(0.0, 1.0))
        gap = "  " if c.classes == DIGITS else " "  # names take more room than digits
        for i in range(len(m.indices)):
            t = pg.TextItem(f"{short_name(m.labels[i], c.classes)}→{short_name(m.predicted[i], c.classes)}{gap}"
                            f"{m.confidence[i] * 100:.0f}%",
                            anchor=(0, 0), color="#ffd54f")
            t.setFont(self._small_font if c.classes == DIGITS else self._name_font)
            t.setPos(*tile_origin(i))
            self.gallery_box.addItem(t)
            self.gallery_texts.append(t)
        shown = len(m.indices)
        self.gallery_title.setText(f"{shown} most confident mistakes: {what}" if shown else
                                   f"No adversarial mistakes: {what}", color=text_colour(self))
        self.gallery_box.setRange(xRange=(0, GALLERY_COLUMNS * (TILE + GAP)),
                                  yRange=(0, max(1, -(-shown // GALLERY_COLUMNS)) * (TILE + CAPTION)), padding=0.02)

    # ------------------------------------------------------------------ the model's classes
    def set_classes(self, names) -> None:
        """The current model's classes: the target spins over them (showing "i: name" unless they are the ten
        digits) and the words say digits only for digits."""
        names = tuple(str(n) for n in names) or DIGITS
        self.classes = names
        digits = names == DIGITS
        self.form.target.setRange(0, len(names) - 1)
        self._name_target(self.form.target.value())
        self.intro.setText(INTRO if digits else INTRO.replace("test digits", "test images"))
        self.details_area.message.setText(EMPTY_DETAILS if digits else EMPTY_DETAILS.replace("digits", "images"))
        tip = SAMPLES_TIP if digits else SAMPLES_TIP.replace("digits from the MNIST test set", "test images")
        for w in (self.samples_label, self.samples):
            explain(w, tip)

    def _name_target(self, value: int) -> None:
        name = self.classes[value] if 0 <= value < len(self.classes) else str(value)
        self.form.target.setSuffix("" if name == str(value) else f": {name if len(name) <= 14 else name[:13] + '…'}")

    # ------------------------------------------------------------------ misc
    def _on_attack(self) -> None:
        norm = ATTACKS[self.form.attack()].norm
        self.eps_label.setText(EPS_WORDS[norm][0])
        self._explain_eps(norm)
        if not self._eps_edited:
            self.eps_edit.setText(DEFAULT_FIELD[norm])

    def _explain_eps(self, norm: str) -> None:
        _label, plain, maths = EPS_WORDS[norm]
        for w in (self.eps_label, self.eps_edit):
            explain(w, plain, maths)

    def _on_eps_edited(self, _text: str) -> None:
        self._eps_edited = True

    def _restyle(self) -> None:
        style_plot(self.plot)
        style_plot(self.details_glw)
        self._recolour()
        self._caption()
        self.details_glw.setBackground(self.palette().color(self.palette().ColorRole.Window))
        colour = text_colour(self)
        for label in (self.cm_title, self.gallery_title):
            label.setText(label.text, color=colour)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "details_glw"):
            self._restyle()
        super().changeEvent(event)
