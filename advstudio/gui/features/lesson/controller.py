"""The guided lesson: a dock that walks through the experiment step by step beside the live controls.

The steps come from a lesson file (core/lesson.py reads and validates it). Each step's action drives the real
window (draw, move ε, run a curve, load a model); its check watches the window's signals and notices when the
student has done it. Nothing here calls torch: actions go through the window's and the lab's own requests."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QTextBrowser,
                               QVBoxLayout, QWidget)

from advstudio.core.lesson import Lesson, LessonError, LessonStep, fill, load_lesson, model_facts

from advstudio.gui.messages import Analysis
from advstudio.gui.models import ModelInfo
from advstudio.gui.worker import Reply

if TYPE_CHECKING:
    from advstudio.gui.window import MainWindow

KEY = "lesson"
SWEEP_MS = 1000  # one ε value a second: long enough to look, and for each analysis to arrive
LAB_EPS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
DONE_COLOUR = "#2e7d32"

DEFAULT_HINTS = {
    "visited": "", "dock_shown": "open the {dock} panel", "tab_shown": "open the {tab} tab",
    "input_drawn": "draw a digit", "eps_at_least": "drag ε to {value:g} or more",
    "prediction_flipped": "make the prediction flip", "eps_range_seen": "show the digit at ε = {min:g} and {max:g}",
    "lab_curve_done": "run a robustness curve", "activations_shown": "open the Activations panel",
    "robust_model_compared": "load a robust model and attack your digit",
}


class LessonPanel(QWidget):
    """Title, "Step k of n" with dots and a bar, the body, the action button, the check line, Back / Next."""

    fontChanged = Signal()  # presentation mode changed the application font: render the body again

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lesson_panel")
        self.step_label = QLabel()
        self.dots = QLabel()
        self.dots.setToolTip("Steps: ● done, ◉ this one, ○ not done yet")
        small = self.dots.font()
        small.setPointSizeF(small.pointSizeF() * 0.8)
        self.dots.setFont(small)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(8)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.body = QTextBrowser()
        self.body.setOpenExternalLinks(False)
        self.body.setFrameShape(QTextBrowser.Shape.NoFrame)
        self.body.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("QLabel { font-style: italic; }")
        self.note.hide()
        self.action_button = QPushButton()
        self.action_button.setToolTip("Let the app do this step's action (you can also do it yourself)")
        self.check = QLabel()
        self.check.setWordWrap(True)
        self.back = QPushButton("◀ Back")
        self.next = QPushButton("Next ▶")
        self.back.setToolTip("The previous step (Alt+Left)")
        self.next.setToolTip("The next step (Alt+Right); you may go on before this step's check is done")
        head = QHBoxLayout()
        head.addWidget(self.step_label)
        head.addStretch(1)
        head.addWidget(self.dots)
        nav = QHBoxLayout()
        nav.addWidget(self.back)
        nav.addStretch(1)
        nav.addWidget(self.next)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(head)
        layout.addWidget(self.bar)
        layout.addWidget(self.title)
        layout.addWidget(self.body, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.action_button)
        layout.addWidget(self.check)
        layout.addLayout(nav)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self.fontChanged.emit()

    def set_markdown(self, text: str) -> None:
        """Show Markdown; formulas in code blocks get the body's size (Qt's fixed-pitch font is smaller)."""
        self.body.setMarkdown(text)
        doc = self.body.document()
        size = self.body.font().pointSizeF()
        if size <= 0:
            return
        grow = QTextCharFormat()
        grow.setFontPointSize(size)
        block = doc.begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                frag = it.fragment()
                fmt = frag.charFormat()
                families = fmt.fontFamilies() or []
                if frag.isValid() and (fmt.fontFixedPitch() or any("mono" in f.lower() for f in families)):
                    cur = QTextCursor(doc)
                    cur.setPosition(frag.position())
                    cur.setPosition(frag.position() + frag.length(), QTextCursor.MoveMode.KeepAnchor)
                    cur.mergeCharFormat(grow)
                it += 1
            block = block.next()


class LessonDock(QObject):
    """Runs a lesson in its own dock; emits stepShown(index) and checkPassed(step id)."""

    stepShown = Signal(int)
    checkPassed = Signal(str)
    lessonLoaded = Signal(object)  # Lesson

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self.panel = LessonPanel()
        # in front of the Prediction dock: a column of its own would make the window wider than 1280 px, and
        # under the right-hand docks it would not fit 800 px (presentation mode moves it to the right)
        tab_with = "prediction" if "prediction" in window.docks else None
        self.dock = window.add_dock(KEY, "Lesson", self.panel, Qt.DockWidgetArea.LeftDockWidgetArea, tab_with)
        self.dock.setToolTip("A guided lesson through the experiment (View ▸ Lesson, Ctrl+L)")
        self.dock.hide()
        self.lesson: Lesson | None = None
        self.index = 0
        self.done: set[str] = set()  # ids of the steps whose check has fired
        self.facts: dict[str, str] = {}
        self._range: tuple[np.ndarray | None, set[float]] = (None, set())  # ε values seen on one input
        self._robust_seen = False  # an analysis at ≥ min_eps answered by a non-bundled model
        self._robust_wanted = False  # open_robust_model ran: show the comparison when it is loaded
        self._sweep: list[float] = []
        self._sweep_timer = QTimer(self)
        self._sweep_timer.setInterval(SWEEP_MS)
        self._sweep_timer.timeout.connect(self._sweep_step)
        self._worker_connected = False
        self._docks_connected: set[str] = set()
        self._problem = ""  # why the lesson on screen is not the one asked for
        self.toggle_action = self.dock.toggleViewAction()
        self.toggle_action.setText("&Lesson")
        self.toggle_action.setShortcut(QKeySequence("Ctrl+L"))
        self.toggle_action.setStatusTip("Show or hide the guided lesson")
        self.start_action = QAction("Start the &lesson", window)
        self.start_action.setStatusTip("Open the guided lesson at its first step")
        self.start_action.triggered.connect(self.restart)
        self.back_action = QAction("Lesson: back", window, shortcut=QKeySequence("Alt+Left"))
        self.next_action = QAction("Lesson: next", window, shortcut=QKeySequence("Alt+Right"))
        self.back_action.triggered.connect(self.back)
        self.next_action.triggered.connect(self.next)
        for act in (self.toggle_action, self.back_action, self.next_action):
            window.addAction(act)  # shortcuts keep working while the menu bar is hidden (presentation mode)
        p = self.panel
        p.back.clicked.connect(self.back)
        p.next.clicked.connect(self.next)
        p.action_button.clicked.connect(self.perform_action)
        p.fontChanged.connect(self._show_step)
        window.analysisShown.connect(self._on_analysis)
        window.flipFound.connect(self._on_event)
        window.modelReady.connect(self._on_model)
        window.tabs.currentChanged.connect(self._on_event)
        window.lab.labFinished.connect(self._on_event)
        self.dock.visibilityChanged.connect(self._on_event)
        where = window.settings.value("lesson/file", "", str) or None
        try:
            self.set_lesson(load_lesson(where))
        except LessonError as exc:
            self._show_problem(str(exc))
            if where is not None:  # a teacher's file went missing or broke: fall back to the bundled lesson
                self._problem = f"Using the bundled lesson: {exc}"
                try:
                    self.set_lesson(load_lesson(None))
                except LessonError as exc2:
                    self._show_problem(str(exc2))

    # ------------------------------------------------------------------ loading
    def load(self, where: str | Path | None) -> bool:
        """Use another lesson file (or a bundled language); a bad file is reported and the current one stays."""
        try:
            lesson = load_lesson(where)
        except LessonError as exc:
            self.window._error("Cannot use this lesson file", str(exc))
            return False
        self.window.settings.setValue("lesson/file", "" if where is None else str(where))
        self._problem = ""
        self.set_lesson(lesson)
        return True

    def set_lesson(self, lesson: Lesson) -> None:
        self.lesson = lesson
        self.done = set()
        self.index = 0
        self.dock.setWindowTitle(f"Lesson: {lesson.title}")
        self._show_step()
        self.lessonLoaded.emit(lesson)

    def _show_problem(self, message: str) -> None:
        self.panel.title.setText("No lesson")
        self.panel.body.setPlainText(message)
        for w in (self.panel.action_button, self.panel.back, self.panel.next):
            w.setEnabled(False)

    # ------------------------------------------------------------------ navigation
    @property
    def step(self) -> LessonStep | None:
        return self.lesson.steps[self.index] if self.lesson else None

    def start(self, index: int = 0) -> None:
        """Show the dock at step `index` (0-based)."""
        self.dock.show()
        self.dock.raise_()
        self.go(index)

    @Slot()
    def restart(self) -> None:
        self.start(0)

    def go(self, index: int) -> None:
        if self.lesson is None:
            return
        self.index = min(max(int(index), 0), len(self.lesson.steps) - 1)
        self._sweep_timer.stop()
        if getattr(self.window, "presentation", None) is not None:
            self.window.presentation.unfocus()  # a panel the previous step brought up makes room again
        self._show_step()
        self.stepShown.emit(self.index)
        self.evaluate()

    @Slot()
    def next(self) -> None:
        self.go(self.index + 1)

    @Slot()
    def back(self) -> None:
        self.go(self.index - 1)

    def _show_step(self) -> None:
        lesson, step, p = self.lesson, self.step, self.panel
        if lesson is None or step is None:
            return
        n = len(lesson.steps)
        p.step_label.setText(f"Step {self.index + 1} of {n}")
        p.bar.setRange(0, n)
        p.bar.setValue(self.index + 1)
        p.title.setText(step.title)
        p.set_markdown(fill(step.body, self.facts or model_facts({}, "the current model")))
        p.action_button.setVisible(step.action is not None)
        p.action_button.setEnabled(step.action is not None)
        if step.action is not None:
            p.action_button.setText(step.action.label)
        note = "\n".join(t for t in (self._problem, self._action_note(step)) if t)
        p.note.setText(note)
        p.note.setVisible(bool(note))
        p.back.setEnabled(self.index > 0)
        p.next.setEnabled(self.index < n - 1)
        self._show_check()

    def _show_dots(self) -> None:
        if self.lesson is None:
            return
        dots = []
        for i, s in enumerate(self.lesson.steps):
            mark = "◉" if i == self.index else ("●" if s.id in self.done else "○")
            colour = DONE_COLOUR if s.id in self.done else ""
            dots.append(f'<span style="color:{colour}">{mark}</span>' if colour else mark)
        self.panel.dots.setText("".join(dots))

    def _show_check(self) -> None:
        step = self.step
        if step is None:
            return
        if step.id in self.done:
            self.panel.check.setText(f'<span style="color:{DONE_COLOUR}"><b>✓ done</b></span>')
        else:
            self.panel.check.setText(f"waiting: {html.escape(self.hint(step))}")
        self._show_dots()

    @staticmethod
    def hint(step: LessonStep) -> str:
        if step.check.hint:
            return step.check.hint
        return DEFAULT_HINTS.get(step.check.kind, "").format(**step.check.params) or "read on"

    def _action_note(self, step: LessonStep) -> str:
        """Say so when this version of the app cannot do the step's action."""
        action = step.action
        if action is None:
            return ""
        if action.name == "open_robust_model":
            from advstudio.core.storage import robust_model_path

            if not robust_model_path().is_file():
                return ("The robust model is not bundled with this installation. Train one "
                        "(advstudio train --adversarial …) and open it with File ▸ Open model…; "
                        "any model other than the bundled one counts for this step.")
        if action.name == "compare" and "compare" not in self.window.tab_widgets:
            return "This version has no Side by side tab; the Attack tab shows the current model on your digit."
        if action.name == "show_tab" and action.arg not in self.window.tab_widgets:
            return f"This version has no {action.arg!r} tab."
        return ""

    # ------------------------------------------------------------------ actions
    @Slot()
    def perform_action(self) -> bool:
        step = self.step
        if step is None or step.action is None:
            return False
        return self.do(step.action.name, step.action.arg)

    def do(self, name: str, arg: object = None) -> bool:
        """Perform a named action (the lesson file's "do"); False when it could not be done here."""
        w = self.window
        if name == "show_tab":
            ok = w.show_tab(str(arg))
            if not ok:
                w.statusBar().showMessage(f"There is no {arg!r} tab in this version.", 6000)
            return ok
        if name == "show_dock":
            dock = w.docks.get(str(arg))
            if dock is None:
                w.statusBar().showMessage(f"There is no {arg!r} panel in this version.", 6000)
                return False
            presentation = getattr(w, "presentation", None)
            if presentation is not None:
                presentation.focus_dock(str(arg))  # in presentation mode it makes room for the panel
            else:
                dock.show()
                dock.raise_()
            return True
        if name == "set_eps":
            w.show_tab("attack")
            w.attack_panel.controls.set_eps(float(arg))  # type: ignore[arg-type]
            return True
        if name == "eps_sweep":
            if w.current_input is None:
                self.do("draw_demo_digit")
            w.show_tab("attack")
            self._sweep = [float(e) for e in arg]  # type: ignore[union-attr]
            self._sweep_step()
            self._sweep_timer.start()
            return True
        if name == "draw_demo_digit":
            from advstudio.gui.demo import digit_strokes

            w.show_tab("attack")
            w.canvas.clear()
            for stroke in digit_strokes(int(arg) if arg is not None else 3):
                w.canvas.add_stroke(stroke)
            return True
        if name == "find_flip":
            if w.current_input is None:
                self.do("draw_demo_digit")
            w.show_tab("attack")
            w.find_flip()
            return True
        if name == "run_lab":
            return self._run_lab(int(arg) if arg is not None else 500)  # type: ignore[call-overload]
        if name == "open_robust_model":
            from advstudio.core.storage import robust_model_path

            path = robust_model_path()
            if not path.is_file():
                w._error("No robust model here",
                         f"{path.name} is not in this installation. Open a model you trained with adversarial "
                         "training (File ▸ Open model…); any model but the bundled one counts for this step.")
                return False
            self._robust_wanted = True
            w.open_model(path)
            return True
        if name == "compare":
            if w.show_tab("compare"):
                return True
            w.show_tab("attack")
            w.statusBar().showMessage("No Side by side tab in this version: the Attack tab shows the current "
                                      "model on your digit.", 8000)
            return False
        w._error("Unknown lesson action", f"This version cannot do {name!r}.")
        return False

    @Slot()
    def _sweep_step(self) -> None:
        if not self._sweep:
            self._sweep_timer.stop()
            return
        self.window.attack_panel.controls.set_eps(self._sweep.pop(0))

    def _run_lab(self, n: int) -> bool:
        """FGSM curve of the model now loaded on n test images (the lab reports a missing MNIST folder itself)."""
        from advstudio.gui.features.lab.messages import LabSpec

        w, lab = self.window, self.window.lab
        if lab.panel.running:
            w.show_tab("robustness")
            return False
        models = w.ctx.models
        entry = models.get("bundled") or models.entries()[0]
        if w.model_info is not None and not w.model_info.bundled:
            entry = models.add_file(w.model_info.path)
        lab.panel.samples.setValue(int(n))
        lab.panel.form.set_attack("fgsm")
        w.show_tab("robustness")
        return lab.run_lab([LabSpec(entry, "fgsm", {})], list(LAB_EPS), int(n)) is not None

    # ------------------------------------------------------------------ checks
    def passed(self, step: LessonStep) -> bool:
        """Whether the window now shows what `step` asks for."""
        w, kind, prm = self.window, step.check.kind, step.check.params
        a: Analysis | None = w.analysis
        if kind == "visited":
            return True
        if kind == "dock_shown":
            dock = w.docks.get(prm["dock"])
            self._watch_dock(prm["dock"])
            return dock is not None and dock.isVisible() and not dock.visibleRegion().isEmpty()
        if kind == "tab_shown":
            widget = w.tab_widgets.get(prm["tab"])
            return widget is not None and w.tabs.currentWidget() is widget
        if kind == "input_drawn":
            return w.current_input is not None and a is not None
        if kind == "eps_at_least":
            return a is not None and w.current_input is not None and a.attack.eps >= prm["value"] - 1e-9
        if kind == "prediction_flipped":
            return (a is not None and w.current_input is not None and a.attack.flipped) or bool(
                w.flip is not None and w.flip.found)
        if kind == "eps_range_seen":
            image, seen = self._range
            return (image is not None and w.current_input is not None and np.array_equal(image, w.current_input)
                    and bool(seen) and min(seen) <= prm["min"] + 1e-9 and max(seen) >= prm["max"] - 1e-9)
        if kind == "lab_curve_done":
            curves = [c for c in w.lab.panel.curves if prm.get("attack") in (None, c.attack)]
            return len(curves) >= int(prm.get("curves", 1))
        if kind == "activations_shown":
            act = w.activations
            self._watch_dock("activations")
            return act.wanted() and act.data is not None and w.current_input is not None
        if kind == "robust_model_compared":
            return (w.model_info is not None and not w.model_info.bundled
                    and (self._robust_seen or w.tabs.currentWidget() is w.tab_widgets.get("compare")))
        return False

    @Slot()
    def evaluate(self) -> bool:
        """Check the current step; latch and announce it the first time it passes."""
        step = self.step
        if step is None:
            return False
        if step.id not in self.done and self.passed(step):
            self.done.add(step.id)
            self._show_check()
            self.checkPassed.emit(step.id)
        return step.id in self.done

    def _watch_dock(self, key: str) -> None:
        dock = self.window.docks.get(key)
        if dock is not None and key not in self._docks_connected:
            dock.visibilityChanged.connect(self._on_event)
            self._docks_connected.add(key)

    def _on_event(self, *_args) -> None:  # GUI-thread signals only (tabs, docks, the window's own signals)
        QTimer.singleShot(0, self.evaluate)  # after every other receiver has updated the window

    @Slot(object)
    def _on_analysis(self, analysis: Analysis) -> None:
        image, seen = self._range
        clean = analysis.prediction.image
        if image is None or not np.array_equal(image, clean):
            self._range = (np.array(clean, copy=True), set())
        self._range[1].add(round(float(analysis.attack.eps), 6))
        info = self.window.model_info
        step = self.step
        min_eps = step.check.params.get("min_eps", 0.1) if step and step.check.kind == "robust_model_compared" else 0.1
        if info is not None and not info.bundled and analysis.attack.eps >= min_eps - 1e-9:
            self._robust_seen = True
        self._on_event()

    @Slot(object)
    def _on_model(self, info: ModelInfo) -> None:
        self.facts = model_facts(info.meta, info.name)
        self._robust_seen = False
        if not self._worker_connected:
            self.window.worker.replied.connect(self._on_reply)  # the worker exists once a model has loaded
            self._worker_connected = True
        self._show_step()
        if self._robust_wanted:
            self._robust_wanted = False
            if not self.window.show_tab("compare"):
                self.window.show_tab("attack")
        self._on_event()

    @Slot(object)
    def _on_reply(self, reply: Reply) -> None:
        if reply.kind == "activations":
            self._on_event()
