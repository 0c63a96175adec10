"""Any attack on the current input: the attack's form and "Run attack", a scrubber (and animation) through its
iterations showing the iterate, the perturbation and the probabilities at each step, and a table of the
perturbation norms found by each attack run on this input, side by side."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from advstudio.core.attacks import ATTACKS
from advstudio.core.classes import DIGITS
from advstudio.core.describe import attack_title, steps_text
from advstudio.core.model_meta import name_of
from advstudio.core.render import diverging_rgb
from advstudio.gui.features.any_attack.messages import InputAttackResult
from advstudio.gui.theme import style_plot
from advstudio.gui.widgets.attack_form import AttackForm
from advstudio.gui.widgets.attack_views import (
    TRIPTYCH_MIN_WIDTH,
    blank_image,
    build_triptych,
    delta_scale,
    restyle_triptych,
    set_delta_scale,
)
from advstudio.gui.widgets.bars import ProbabilityBars
from advstudio.gui.widgets.help import explain, intro_label
from advstudio.gui.widgets.layout import fixed_plot
from advstudio.gui.widgets.palette import ADVERSARIAL

NORM_COLUMNS = ("Attack", "ε", "Steps, restarts", "Result", "‖δ‖∞", "‖δ‖₂", "‖δ‖₀ (pixels)", "Time")
FRAME_MS = 80
DRAW_PROMPT = "Draw a digit or pick one from the gallery, choose an attack, then Run attack."
READY_PROMPT = "A digit is on the canvas: choose an attack, then Run attack on this input."
NEW_INPUT = "New input: choose an attack and Run attack."
INTRO = ("Run any attack on your digit and replay it step by step, to see how the image changes and when the "
         "model's answer flips.")
BARS_BESIDE = 260  # px the bars need beside the images; narrower, they go below them
CHANGED = 0.5 / 255  # a pixel moved by at least half a grey level counts as changed (core's L0 tolerance)
MARK = "#ffd54f"  # the outline of a changed pixel, for the few-pixel attacks


class TrajectoryView(QWidget):
    """Start, perturbation and iterate at one step, with the probabilities there."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setToolTip("Left: the input. Middle: the perturbation at this step (red brightens a pixel, blue "
                            "darkens it; full colour = ±ε for an L∞ attack, else the largest change, rounded up: "
                            "the colour bar). Right: the image the model sees at this step.")
        self.images, self.titles, self.colorbar = build_triptych(
            self.glw, (("clean", "Input"), ("perturbation", "δ at this step"), ("iterate", "At this step")),
            "10pt", 12, 150)
        self.delta_scale = 1.0
        self.mark_changed = False  # few-pixel (L0) attacks: outline each changed pixel on the image
        self.marks = {key: pg.ScatterPlotItem(pxMode=False, symbol="s", size=1.0, brush=None,
                                              pen=pg.mkPen(MARK, width=2)) for key in ("perturbation", "iterate")}
        for key, marks in self.marks.items():
            self.images[key].getViewBox().addItem(marks)
        self.bars = ProbabilityBars([("input", "clean"), ("at this step", "adversarial")], tick_pt=9)
        self.bars.setMinimumHeight(110)
        self.bars.setToolTip("Blue: probabilities for the input. Orange: for the image at this step.")
        self.box = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self.box.setContentsMargins(0, 0, 0, 0)
        self.box.addWidget(self.glw, 3)
        self.box.addWidget(self.bars, 1)
        self.shown: dict[str, np.ndarray] = {"clean": blank_image(), "perturbation": blank_image(), "iterate": blank_image()}
        self._restyle()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """The bars beside the images when there is room for both, else below: the images keep MIN_IMAGE px."""
        wide = event.size().width() >= TRIPTYCH_MIN_WIDTH + BARS_BESIDE
        wanted = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
        if self.box.direction() != wanted:
            self.box.setDirection(wanted)
        super().resizeEvent(event)

    def display(self, clean: np.ndarray, iterate: np.ndarray, clean_probs, probs, limit: float) -> None:
        delta = (iterate - clean).astype(np.float32)
        self.shown = {"clean": clean, "perturbation": delta, "iterate": iterate}
        self.images["clean"].setImage(np.ascontiguousarray(clean), autoLevels=False, levels=(0.0, 1.0))
        self.images["iterate"].setImage(np.ascontiguousarray(iterate), autoLevels=False, levels=(0.0, 1.0))
        self.images["perturbation"].setImage(diverging_rgb(delta / max(limit, 1e-6), limit=1.0), autoLevels=False,
                                             levels=None)
        rows, cols = np.nonzero(np.abs(delta) >= CHANGED) if self.mark_changed else ((), ())
        for marks in self.marks.values():
            marks.setData(np.asarray(cols, dtype=float) + 0.5, np.asarray(rows, dtype=float) + 0.5)
        if limit != self.delta_scale:
            self.delta_scale = limit
            set_delta_scale(self.colorbar, limit)
        self.bars.set_probs(0, clean_probs)
        self.bars.set_probs(1, probs)

    def clear(self) -> None:
        self.display(blank_image(), blank_image(), None, None, self.delta_scale)

    def _restyle(self) -> None:
        restyle_triptych(self, self.glw, self.titles, self.colorbar)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "shown"):
            self._restyle()
        super().changeEvent(event)


class AttackLabPanel(QWidget):
    """The "Any attack" tab. Emits runRequested(); the window answers with set_data(InputAttackResult)."""

    runRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attack_lab_panel")
        self.form = AttackForm(include_eps=True, defaults={"early_stop": False})
        self._canvas: np.ndarray | None = None  # the digit on the canvas, shown until a run answers
        self._eps_field = None
        self.form.changed.connect(self._form_changed)
        self.run_button = QPushButton("Run attack on this input")
        self.run_button.setToolTip("Run the chosen attack on the current input (iterative attacks run here, not on "
                                   "the live ε slider)")
        self.status = QLabel(DRAW_PROMPT)
        self.status.setWordWrap(True)
        self.view = TrajectoryView()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        explain(self.slider, "Drag to replay the attack one step at a time (the last frame is the result).")
        self.play = QPushButton("▶ Play")
        self.play.setCheckable(True)
        explain(self.play, "Play the attack's steps as an animation.")
        self.step_label = QLabel("step –")
        self.step_label.setMinimumWidth(230)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.table = QTableWidget(0, len(NORM_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(NORM_COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("The perturbation each attack found on this input, side by side (cleared when the "
                              "input changes). L0 counts pixels moved by at least half a grey level.")
        self.table.setMinimumHeight(96)
        self.history = fixed_plot("step", "your digit %", 90)  # the true class's probability, frame by frame
        self.history.setYRange(0, 100, padding=0.02)
        self.history.setToolTip("How sure the model is of your digit's class at each frame of the attack (against "
                                "the model queries made so far, for the attacks that only ask for answers or "
                                "scores); the dashed line is the frame shown.")
        self.history_line = self.history.plot([], [], pen=pg.mkPen(ADVERSARIAL, width=2))
        self.history_mark = pg.InfiniteLine(angle=90, pen=pg.mkPen(ADVERSARIAL, style=Qt.PenStyle.DashLine))
        self.history.addItem(self.history_mark)
        style_plot(self.history)
        self.clear_table = QPushButton("Clear table")
        self.norm_rows: list[tuple] = []
        self.result: InputAttackResult | None = None
        self.names: tuple[str, ...] = DIGITS  # the current model's classes (the form's target, the bars)
        self.result_names: tuple[str, ...] = DIGITS  # the classes of the model the shown result ran on
        self.frame = 0
        self._limit = 1.0
        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(6, 6, 6, 0)
        tl.addWidget(self.form)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.status, 1)
        tl.addLayout(run_row)
        tl.addWidget(self.view, 1)
        scrub = QHBoxLayout()
        scrub.addWidget(self.play)
        scrub.addWidget(self.slider, 1)
        scrub.addWidget(self.step_label)
        tl.addLayout(scrub)
        tl.addWidget(self.caption)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(6, 0, 6, 6)
        head = QHBoxLayout()
        head.addWidget(QLabel("<b>Perturbations found on this input</b>"))
        head.addStretch(1)
        head.addWidget(self.clear_table)
        bl.addLayout(head)
        row = QHBoxLayout()
        row.addWidget(self.table, 3)
        row.addWidget(self.history, 2)
        bl.addLayout(row, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        self.intro = intro_label("attack_lab", INTRO)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.intro)
        layout.addWidget(split)
        self.run_button.clicked.connect(self.runRequested)
        self.slider.valueChanged.connect(self.show_frame)
        self.play.toggled.connect(self._on_play)
        self.timer.timeout.connect(self._tick)
        self.clear_table.clicked.connect(self.clear_norms)
        self.view.clear()

    # ------------------------------------------------------------------ data
    def set_classes(self, names) -> None:
        """The current model's classes: the target ranges over them, the bars and the next results name them."""
        self.names = tuple(str(n) for n in names) or DIGITS
        self.form.set_classes(self.names)
        self.view.bars.set_classes(self.names)
        self.history.setLabel("left", "your digit %" if self.names == DIGITS else "your class %")

    def set_busy(self, busy: bool, text: str = "") -> None:
        self.run_button.setEnabled(not busy)
        if text:
            self.status.setText(text)

    def show_input_state(self, has_digit: bool, new: bool = False) -> None:
        """The prompt under Run follows the canvas: draw while it is empty, run once a digit is there."""
        self.status.setText(DRAW_PROMPT if not has_digit else NEW_INPUT if new else READY_PROMPT)

    def _form_changed(self) -> None:
        """Another attack (the form rebuilt its fields): before a run the colour bar follows its ε field."""
        field = self.form.fields.get("eps")
        if field is not None and field is not self._eps_field:
            self._eps_field = field
            field.valueChanged.connect(lambda _value: self.show_input(self._canvas))
        self.show_input(self._canvas)

    def show_input(self, image: np.ndarray | None) -> None:
        """Before a run: the digit on the canvas as the input (and as "at this step", δ = 0), the colour bar at
        the form's ±ε for an L∞ attack; an empty canvas shows blank images."""
        self._canvas = image
        if self.result is not None:
            return
        clean = blank_image() if image is None else np.asarray(image, dtype=np.float32).reshape(28, 28)
        eps = self.form.settings().get("eps")
        limit = delta_scale(float(eps) if isinstance(eps, float) else None, np.zeros(1, np.float32))
        self.view.display(clean, clean, None, None, limit if isinstance(eps, float) else self.view.delta_scale)

    def set_data(self, result: InputAttackResult | None) -> None:
        self.play.setChecked(False)
        self.result = result
        if result is None:
            self.slider.setRange(0, 0)
            self.view.clear()
            self.step_label.setText("step –")
            self.caption.setText("")
            self.history_line.setData([], [])
            return
        eps = result.eps
        self.result_names = self.names
        self._limit = delta_scale(eps, result.perturbation)  # the result's δ sets one scale for every frame
        few = ATTACKS[result.attack].norm == "l0" if result.attack in ATTACKS else False
        self.view.mark_changed = few
        last = len(result.frames) - 1
        self.slider.blockSignals(True)
        self.slider.setRange(0, last)
        self.slider.setValue(last)
        self.slider.blockSignals(False)
        self._show_history(result)
        self.show_frame(last)
        c, a = (name_of(k, self.names) for k in (result.clean_label, result.adv_label))
        verdict = f"{c} → {a}" if result.success else f"not fooled: still {c}"
        ensemble = ""
        if result.breakdown is not None:
            who = result.broken_by()
            ensemble = f" Broken by {who}." if who else " Every one of its attacks failed at this ε."
        sizes = f"‖δ‖∞ = {result.linf:.3f}, ‖δ‖₂ = {result.l2:.3f}, ‖δ‖₀ = {result.l0} pixels"
        if few:  # the headline number of a few-pixel attack is how many pixels it changed (outlined in yellow)
            sizes = f"{result.l0} pixel{'s' if result.l0 != 1 else ''} changed (outlined); ‖δ‖₂ = {result.l2:.3f}"
        self.caption.setText(f"{result.describe(self.names)}.  Result: {verdict}; {sizes}.{ensemble}")
        self.status.setText(f"Done in {result.seconds:.2f} s, {result.queries:,} model queries. Drag the scrubber or "
                            "press Play to watch every step.")
        self._add_row(result)

    def _history_x(self, r: InputAttackResult) -> np.ndarray:
        return (r.frame_queries.astype(float) if r.frame_queries is not None and len(r.frame_queries) == len(r.frames)
                else np.arange(len(r.frames), dtype=float))

    def _show_history(self, r: InputAttackResult) -> None:
        """The probability of the class the model read on the clean input, at every frame."""
        x = self._history_x(r)
        label = int(np.argmax(r.clean_probs))
        self.history_line.setData(x, r.frame_probs[:, label].astype(float) * 100)
        self.history.setLabel("bottom", "model queries" if r.frame_queries is not None else "frame")
        self.history.setXRange(0, max(1.0, float(x.max()) if len(x) else 1.0), padding=0.02)

    @Slot(int)
    def show_frame(self, k: int) -> None:
        r = self.result
        if r is None:
            return
        k = int(min(max(k, 0), len(r.frames) - 1))
        self.frame = k
        self.view.display(r.clean, r.frames[k], r.clean_probs, r.frame_probs[k], self._limit)
        self.history_mark.setValue(float(self._history_x(r)[k]))
        probs = r.frame_probs[k]
        label = int(np.argmax(probs))
        rounds = int(r.frame_restart.max()) + 1
        where = f" of restart {int(r.frame_restart[k]) + 1}/{rounds}" if rounds > 1 else ""
        if r.attack == "cw" and rounds > 1:
            where = f" of search round {int(r.frame_restart[k]) + 1}/{rounds}"
        what = f"step {int(r.frame_step[k])}{where}"
        if r.frame_step[k] < 0:  # the returned adversarial, appended after the last iterate
            what = f"the result (best of {rounds} search rounds)" if r.attack == "cw" and rounds > 1 else "the result"
        elif k == len(r.frames) - 1:
            what += ", the result"
        if r.frame_queries is not None:
            what += f" · {int(r.frame_queries[k]):,} queries"
        self.step_label.setText(f"frame {k}/{len(r.frames) - 1}: {what} · reads {name_of(label, self.result_names)} ({probs[label] * 100:.0f}%)")

    # ------------------------------------------------------------------ norms table
    def _add_row(self, r: InputAttackResult) -> None:
        eps = "—" if r.eps is None else f"{r.eps:.3f}"
        c, a = (name_of(k, self.names) for k in (r.clean_label, r.adv_label))
        verdict = f"{c} → {a}" if r.success else f"held ({c})"
        title = attack_title(r.attack) + (f" → {name_of(r.target, self.names)}" if r.target is not None else "")
        row = (title, eps, steps_text(r.attack, r.params), verdict, f"{r.linf:.4f}", f"{r.l2:.4f}", str(r.l0),
               f"{r.seconds:.2f} s")
        self.norm_rows.append((r.attack, r.eps, r.linf, r.l2, r.l0, r.success))
        n = self.table.rowCount()
        self.table.insertRow(n)
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            if c >= 4:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(n, c, item)
        self.table.scrollToBottom()

    @Slot()
    def clear_norms(self) -> None:
        self.norm_rows = []
        self.table.setRowCount(0)

    # ------------------------------------------------------------------ animation
    @Slot(bool)
    def _on_play(self, on: bool) -> None:
        self.play.setText("❚❚ Pause" if on else "▶ Play")
        if on and self.result is not None:
            if self.slider.value() >= self.slider.maximum():
                self.slider.setValue(0)
            self.timer.start()
        else:
            self.timer.stop()

    @Slot()
    def _tick(self) -> None:
        if self.slider.value() >= self.slider.maximum():
            self.play.setChecked(False)
            return
        self.slider.setValue(self.slider.value() + 1)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "history"):
            style_plot(self.history)
        super().changeEvent(event)
