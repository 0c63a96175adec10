"""The "Adversarial patch" half of the Patch & universal tab (settings, Train / Load / Save, the drawing with the
patch as a square to drag, the patched drawing's probabilities and verdict, the test-set success rate, success
against patch size), and the pieces the universal half shares. Widgets only (no torch, no jobs)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, QSignalBlocker, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from advstudio.core.classes import DIGITS
from advstudio.core.model_meta import name_of
from advstudio.gui.features.universal.messages import (
    SWEEP_SIDES,
    PatchData,
    PatchRateResult,
    PatchSweepResult,
    ViewResult,
    centre,
)
from advstudio.gui.theme import style_plot, text_colour
from advstudio.gui.widgets.attack_form import ClassSpinBox
from advstudio.gui.widgets.bars import ProbabilityBars
from advstudio.gui.widgets.help import explain, form_row
from advstudio.gui.widgets.layout import (
    BesideOrBelow,
    DataMessage,
    RunControls,
    fixed_plot,
    scroll_area,
    side_by_side,
    spin_box,
)
from advstudio.gui.widgets.palette import colours
from advstudio.gui.widgets.plain import breakable
from advstudio.gui.widgets.plot_key import KeyEntry, PlotKey, PlotPlaceholder, key_above

MARK = "#ffd54f"  # the patch's outline: yellow reads on the black background and on white ink
WARN = "#b26a00"  # the "made for another model" note and file problems
IMAGE_MIN = 190  # px: the drawing with its patch, at least this wide and tall
COLUMNS_BESIDE = 470  # px of view width from which the bars and the plot sit beside the drawing (else below)
CONTROLS_WIDTH = 250
DRAW_FIRST = "Draw a digit in the Input panel: the patch is tried on your drawing."
NO_PATCH = "Train a patch (or load one), then drag it onto your drawing."
EMPTY_SWEEP = "“Success against size” trains one patch per size and plots how often each one wins on test digits."


def model_note(made_for: str, current: str | None) -> str:
    """"" while the patch (or v) belongs to the current model (current None); else a sentence saying it was made
    for another one and still applies (the transfer question)."""
    if current is None:
        return ""
    who = f"“{made_for}”" if made_for else "a model the file does not name"
    return (f"Made for {who}, not for the model now in use (“{current}”). It still applies: watch whether it "
            "still fools this one (does the attack transfer?).")


def percent(p: float) -> str:
    return f"{p * 100:.0f} %"


def patch_verdict(r: ViewResult, target: int, names=None) -> str:
    """"Your 3 now reads as 8 (87 %)." and the other cases, in plain words (`names`: the model's classes)."""
    c, n = r.clean_label, r.label
    conf = percent(float(r.probs[n]))
    cn, nn, tn = (name_of(k, names) for k in (c, n, target))
    if c == target:
        return f"Your drawing already reads as {tn}: draw another digit to see the patch at work."
    if n == target:
        return f"Your {cn} now reads as {nn} ({conf})."
    if n == c:
        return f"Your {cn} still reads as {cn} ({conf}). Drag the patch onto the strokes of the digit."
    return f"Your {cn} now reads as {nn} ({conf}), although the patch aims at {tn}."


def message_label() -> QLabel:
    """A wrapped line for a file problem or a note, in the warning colour (plain text: it quotes file names)."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setStyleSheet(f"QLabel {{ color: {WARN}; }}")
    label.hide()
    return label


def show_message(label: QLabel, text: str | None) -> None:
    label.setText(breakable(text or ""))
    label.setVisible(bool(text))


def file_buttons(what: str) -> tuple[QHBoxLayout, QPushButton, QPushButton]:
    load, save = QPushButton("Load…"), QPushButton("Save…")
    explain(load, f"Open a {what} saved earlier (a .safetensors file written by this app).")
    explain(save, f"Save this {what} as a .safetensors file, to use again or share.")
    row = QHBoxLayout()
    row.addWidget(load)
    row.addWidget(save)
    return row, load, save


def wrapped(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def verdict_label() -> QLabel:
    """The plain verdict under the drawing, a little larger and bold (plain text)."""
    label = wrapped()
    label.setTextFormat(Qt.TextFormat.PlainText)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 1.15)
    font.setBold(True)
    label.setFont(font)
    return label


def column(*items, end_stretch: bool = False, by_stretch: bool = False) -> QWidget:
    """Widgets one above the other; an item (widget, stretch) stretches, a bare widget keeps its height;
    `end_stretch`: room left over goes below the last one; `by_stretch`: the stretching ones share the height by
    their stretch alone (their size hints ignored, their minimums kept)."""
    box = QWidget()
    v = QVBoxLayout(box)
    v.setContentsMargins(0, 0, 0, 0)
    for item in items:
        widget, stretch = item if isinstance(item, tuple) else (item, 0)
        if by_stretch and stretch:
            policy = widget.sizePolicy()
            policy.setVerticalPolicy(QSizePolicy.Policy.Ignored)
            widget.setSizePolicy(policy)
        v.addWidget(widget, stretch)
    if end_stretch:
        v.addStretch(1)
    return box


class ImagesView(pg.GraphicsLayoutWidget):
    """Square images side by side, never taller than they need at their width (height_for_width): the words
    under them sit right below the pictures, not under an empty band."""

    def __init__(self, height_for_width) -> None:
        super().__init__()
        self.height_for_width = height_for_width

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event is None or not hasattr(self, "height_for_width"):  # pyqtgraph's own call, while it is built
            return super().resizeEvent(event)
        want = max(self.minimumHeight(), int(self.height_for_width(event.size().width())))
        if self.maximumHeight() != want:
            self.setMaximumHeight(want)
        super().resizeEvent(event)


class SweepPlot(QWidget):
    """A small plot of rates (%) against a setting: one line per series, its key above, a sentence until a run."""

    def __init__(self, bottom: str, left: str, empty: str, names: tuple[str, ...]) -> None:
        super().__init__()
        self.plot = fixed_plot(bottom, left, 120)
        self.setMinimumHeight(150)
        self.plot.setYRange(0, 100, padding=0.03)
        self.plot.getAxis("left").setTicks([[(v, f"{v}") for v in range(0, 101, 25)], []])
        self.key = PlotKey()
        self.area = PlotPlaceholder(key_above(self.key, self.plot), empty)
        self.names = names
        self.lines = [self.plot.plot([], []) for _ in names]
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.area)
        self.data: tuple = ()
        self._restyle()

    def set_data(self, x, ys: tuple) -> None:
        self.data = (tuple(x), tuple(tuple(y) for y in ys))
        for line, y in zip(self.lines, ys):
            line.setData(np.asarray(x, float), np.asarray(y, float) * 100)
        self.plot.getAxis("bottom").setTicks([[(float(v), f"{v:g}") for v in x], []])
        self.area.set_empty(False)
        self._restyle()

    def _restyle(self) -> None:
        style_plot(self.plot)
        fam = colours(self).adversarial_family
        for k, line in enumerate(self.lines):
            c = fam[k % len(fam)]
            line.setPen(pg.mkPen(c, width=2, style=Qt.PenStyle.SolidLine if k == 0 else Qt.PenStyle.DashLine))
            line.setSymbol("o" if k == 0 else "s")
            line.setSymbolBrush(c)
            line.setSymbolPen(None)
        self.key.set_entries([KeyEntry(fam[k % len(fam)], n, "line" if k == 0 else "dash")
                              for k, n in enumerate(self.names)])

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return False  # the placeholder's wrapped sentence must not set the plot's height

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "lines"):
            self._restyle()
        super().changeEvent(event)


class PatchHalf(QWidget):
    """Emits what the student asks for; the controller answers with set_patch, show_view, show_rate, show_sweep."""

    trainRequested = Signal()
    cancelRequested = Signal()
    loadRequested = Signal()
    saveRequested = Signal()
    rateRequested = Signal()
    sweepRequested = Signal()
    chooseFolderRequested = Signal()
    patchMoved = Signal(int, int)  # the patch's top-left (row, column), whole pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patch_half")
        self.patch: PatchData | None = None
        self.names: tuple[str, ...] = DIGITS  # the current model's classes (the target, the bars, the words)
        self.shown: ViewResult | None = None  # the answer the bars and the verdict show
        self.position: tuple[int, int] = centre(10)
        self._build_controls()
        self._build_views()
        side_by_side(self, self.controls, scroll_area(self.views, 200), (CONTROLS_WIDTH, 700))  # never taller than the tab
        self.set_running(False)
        self.set_patch(None)

    # ------------------------------------------------------------------ building
    def _build_controls(self) -> None:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(6, 6, 6, 6)
        group = QGroupBox("Make a patch")
        form = QFormLayout(group)
        self.target = ClassSpinBox(8)
        self.target_label = form_row(form, "Turn digits into:", self.target, "The class the patch should make the network read, "
                 "whatever digit it is stuck on.", "The target class of the patch's cross-entropy.")
        self.side = spin_box(4, 20, 10, 1)
        self.side.setSuffix(" px")
        form_row(form, "Patch size:", self.side, "The side of the square patch in pixels (a 28×28 digit has 784 "
                 "pixels; a 10 px patch covers 100 of them).", "side × side pixels replaced by the patch")
        self.steps = spin_box(10, 5000, 500, 50)
        form_row(form, "Training steps:", self.steps, "How many times the patch is improved; more steps, a "
                 "stronger patch, a longer wait.", "Adam steps, learning rate 0.1, 64 images a step")
        self.images = spin_box(100, 60000, 10000, 1000)
        form_row(form, "Training images:", self.images, "How many MNIST training digits the patch learns on "
                 "(the first N).", "Each step pastes it at random places on 64 of them")
        self.runner = RunControls("Train patch", default=True)
        self.run_button, self.cancel_button = self.runner.run, self.runner.cancel
        self.progress, self.eta = self.runner.progress, self.runner.eta
        explain(self.run_button, "Train a patch with these settings (it runs in the background; Cancel stops it).")
        self.runner.add_to_form(form)
        row, self.load_button, self.save_button = file_buttons("patch")
        form.addRow(row)
        self.file_message = message_label()
        form.addRow(self.file_message)
        v.addWidget(group)
        test = QGroupBox("Test it")
        tf = QFormLayout(test)
        self.test_images = spin_box(100, 10000, 1000, 100)
        form_row(tf, "Test images:", self.test_images, "How many MNIST test digits (never seen in training) to "
                 "measure on, the first N.")
        self.rate_button = QPushButton("Success rate on the test set")
        explain(self.rate_button, "How often the patch turns test digits into its class, stuck at random places "
                "and at the place you dragged it to.", "Digits already of the target class are left out.")
        self.sweep_button = QPushButton("Success against size")
        explain(self.sweep_button, "Train a patch of each size " + ", ".join(map(str, SWEEP_SIDES)) + " px "
                "(same class and steps) and plot how often each wins on the test digits.")
        tf.addRow(self.rate_button)
        tf.addRow(self.sweep_button)
        v.addWidget(test)
        self.data_message = DataMessage()
        v.addWidget(self.data_message)
        v.addStretch(1)
        self.controls = scroll_area(box, CONTROLS_WIDTH - 20)
        self.run_button.clicked.connect(self.trainRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.load_button.clicked.connect(self.loadRequested)
        self.save_button.clicked.connect(self.saveRequested)
        self.rate_button.clicked.connect(self.rateRequested)
        self.sweep_button.clicked.connect(self.sweepRequested)
        self.data_message.choose_folder.clicked.connect(self.chooseFolderRequested)

    def _build_views(self) -> None:
        self.views = QWidget()
        v = QVBoxLayout(self.views)
        v.setContentsMargins(4, 4, 4, 4)
        self.glw = ImagesView(lambda width: width + 34)  # one square image under its title
        self.glw.setMinimumSize(IMAGE_MIN, IMAGE_MIN)
        self.glw.setToolTip("Your drawing with the patch on it: drag the yellow square to move the patch.")
        self.title = self.glw.addLabel("Your drawing with the patch", row=0, col=0, size="10pt")
        self.box = self.glw.addViewBox(row=1, col=0, lockAspect=True, invertY=True, enableMouse=False)
        self.box.setMenuEnabled(False)
        self.drawing_item = pg.ImageItem(np.zeros((28, 28), np.float32), autoLevels=False, levels=(0.0, 1.0))
        self.box.addItem(self.drawing_item)
        self.box.setRange(xRange=(0, 28), yRange=(0, 28), padding=0.01)
        self.roi = pg.ROI((9, 9), (10, 10), movable=True, rotatable=False, resizable=False, removable=False,
                          translateSnap=True, snapSize=1.0, maxBounds=QRectF(0, 0, 28, 28),
                          pen=pg.mkPen(MARK, width=2), hoverPen=pg.mkPen(MARK, width=3))
        self.roi.setCursor(Qt.CursorShape.SizeAllCursor)
        # the patch's pixels under the square (not its child: an ImageItem takes the drags meant for the square)
        self.patch_item = pg.ImageItem(np.zeros((10, 10), np.float32), autoLevels=False, levels=(0.0, 1.0))
        self.patch_item.setZValue(5)
        self.box.addItem(self.patch_item)
        self.box.addItem(self.roi)
        self.roi.sigRegionChanged.connect(self._on_roi_moved)
        self.bars = ProbabilityBars([("your drawing", "clean"), ("with the patch", "adversarial")], tick_pt=9)
        self.bars.setMinimumSize(200, 130)
        self.bars.setToolTip("Blue: what the network reads in your drawing. Orange: with the patch on it.")
        self.verdict = verdict_label()
        self.info = wrapped()
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        self.model_message = message_label()
        self.rate_text = wrapped()
        self.sweep = SweepPlot("patch side (pixels)", "success %", EMPTY_SWEEP, ("at a random place", "at the centre"))
        self.sweep_caption = wrapped()
        left = column((self.glw, 10), self.verdict, self.info, self.model_message, self.rate_text, end_stretch=True)
        right = column((self.bars, 1), QLabel("<b>Success rate against patch size</b>"), (self.sweep, 1),
                       self.sweep_caption, by_stretch=True)
        self.top = BesideOrBelow(left, right, COLUMNS_BESIDE)
        v.addWidget(self.top)
        self._restyle()

    # ------------------------------------------------------------------ state
    def set_classes(self, names) -> None:
        """The current model's classes: the target ranges over them, the bars and the words name them."""
        self.names = tuple(str(n) for n in names) or DIGITS
        self.bars.set_classes(self.names)
        if self.target.set_classes(self.names):  # other classes: the words follow (the drawing's answer comes again)
            self.target_label.setText("Turn digits into:" if self.names == DIGITS else "Turn images into:")
            if self.patch is not None:
                self.set_patch(self.patch, keep_place=True)

    def settings(self) -> dict:
        return {"target": int(self.target.value()), "side": int(self.side.value()), "steps": int(self.steps.value()),
                "images": int(self.images.value()), "n": int(self.test_images.value())}

    def set_running(self, running: bool) -> None:
        self.running = running
        self.runner.set_running(running, (self.target, self.side, self.steps, self.images, self.test_images,
                                          self.load_button, self.rate_button, self.sweep_button))
        for b in (self.save_button, self.rate_button):
            b.setEnabled(not running and self.patch is not None)

    def set_patch(self, patch: PatchData | None, keep_place: bool = False) -> None:
        """Show this patch on the drawing, at the centre (or where it was when `keep_place` and it fits)."""
        self.patch = patch
        self.roi.setVisible(patch is not None)
        self.patch_item.setVisible(patch is not None)
        self.set_running(self.running)  # Save and Measure need a patch
        self.rate_text.setText("")
        if patch is None:
            self.info.setText(NO_PATCH)
            return
        side = patch.side
        self.patch_item.setImage(np.ascontiguousarray(patch.patch, dtype=np.float32), autoLevels=False,
                                 levels=(0.0, 1.0))
        row, col = self.position if keep_place and max(self.position) + side <= 28 else centre(side)
        with QSignalBlocker(self.roi):
            self.roi.setSize((side, side), update=False, finish=False)
            self.roi.setPos((col, row), update=True, finish=False)
        self.position = (row, col)
        self.patch_item.setPos(col, row)
        made = f", {patch.steps} steps on {patch.images:,} training images" if patch.images else f", {patch.steps} steps"
        self.info.setText(f"Patch: {side}×{side} px toward {name_of(patch.target, self.names)}{made}; it won on "
                          f"{percent(patch.success_rate)} of its training digits at random places.")

    def move_patch(self, row: int, col: int) -> None:
        """Put the patch's top-left corner at (row, col), as a drag would (the view's own signal follows)."""
        self.roi.setPos((col, row), update=True, finish=True)

    @Slot(object)
    def _on_roi_moved(self, _roi=None) -> None:
        if self.patch is None:
            return
        pos, side = self.roi.pos(), self.patch.side
        row, col = (int(min(max(round(p), 0), 28 - side)) for p in (pos.y(), pos.x()))
        self.patch_item.setPos(col, row)
        if (row, col) != self.position:
            self.position = (row, col)
            self.patchMoved.emit(row, col)

    def show_drawing(self, image: np.ndarray | None) -> None:
        img = np.zeros((28, 28), np.float32) if image is None else np.ascontiguousarray(image, np.float32).reshape(28, 28)
        self.drawing_item.setImage(img, autoLevels=False, levels=(0.0, 1.0))
        if image is None or not np.any(img > 0):
            self.bars.set_probs(0, None)
            self.bars.set_probs(1, None)
            self.verdict.setText(DRAW_FIRST)
        elif self.patch is None:
            self.bars.set_probs(1, None)
            self.verdict.setText(NO_PATCH)

    def show_view(self, r: ViewResult) -> None:
        """The probabilities of the drawing and of the patched drawing (only the drawing's without a patch)."""
        self.shown = r
        self.bars.set_probs(0, r.clean_probs, highlight=r.clean_label)
        if self.patch is None:
            self.bars.set_probs(1, None)
            self.verdict.setText(NO_PATCH)
            return
        self.bars.set_probs(1, r.probs, highlight=r.label)
        self.verdict.setText(patch_verdict(r, self.patch.target, self.names))

    def show_model_note(self, text: str) -> None:
        show_message(self.model_message, text)

    def show_file_message(self, text: str | None) -> None:
        show_message(self.file_message, text)

    def show_rate(self, r: PatchRateResult) -> None:
        target = name_of(r.target, self.names)
        self.rate_text.setText(
            f"On {r.n:,} test digits that are not {target}: the {r.side}×{r.side} px patch turns "
            f"{percent(r.anywhere)} of them into {target} at random places, and {percent(r.here)} where it is "
            f"now (row {r.position[0]}, column {r.position[1]}).")

    def show_sweep(self, r: PatchSweepResult) -> None:
        self.sweep.set_data(r.sides, (r.anywhere, r.centre))
        self.sweep_caption.setText(
            f"Each point: a patch toward {name_of(r.target, self.names)}, {r.steps} Adam steps (lr 0.1) on {r.images:,} training images, "
            f"measured on {r.n:,} test digits of other classes; {r.seconds:.0f} s.")

    def show_progress(self, p) -> None:
        self.runner.show_progress(p, p.unit)
        if p.rate is not None:
            self.eta.setText(f"{self.eta.text()} · winning on {percent(p.rate)} of training digits")

    def show_data_error(self, message: str | None) -> None:
        self.data_message.show_message(message)

    def _restyle(self) -> None:
        self.glw.setBackground(self.palette().color(self.palette().ColorRole.Window))
        self.title.setText(self.title.text, color=text_colour(self))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "title"):
            self._restyle()
        super().changeEvent(event)
