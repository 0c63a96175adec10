"""The guided lesson: a dock walking through the experiment beside the live controls. Steps come from a lesson
file (core/lesson.py); actions drive the studio through the context or ask the lab for a curve; checks
(checks.py) watch signals; blocked steps offer a way out (way_outs.py); the place is kept (progress.py); a model
switched to for a step is borrowed (loan.py). No torch."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence

from advstudio.core.errors import LessonError
from advstudio.core.lesson import Lesson, LessonStep, fill, load_lesson, model_facts
from advstudio.gui.features.lesson.actions import perform
from advstudio.gui.features.lesson.checks import StepChecks, hint
from advstudio.gui.features.lesson.loan import ModelLoan
from advstudio.gui.features.lesson.progress import load_progress, store_progress
from advstudio.gui.features.lesson.view import LessonPanel
from advstudio.gui.features.lesson.way_outs import NO_ROBUST_MODEL, action_note, data_problem, find_way_out
from advstudio.gui.messages import Analysis
from advstudio.gui.models import BUNDLED_KEY, ModelInfo
from advstudio.gui.stored import read_path

if TYPE_CHECKING:
    from advstudio.gui.context import AppContext

KEY, DONE_COLOUR = "lesson", "#2e7d32"
SWEEP_MS = 1000  # one ε value a second: long enough to look, and for each analysis to arrive
LAB_EPS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


class LessonDock(QObject):
    """Runs a lesson in its own dock; emits stepShown(index), checkPassed(step id) and labRunRequested(model
    entry, attack, ε list, samples) for the lab to run a curve with its panel showing them."""

    stepShown = Signal(int)
    checkPassed = Signal(str)
    lessonLoaded = Signal(object)  # Lesson
    labRunRequested = Signal(object, str, object, int)  # ModelEntry, attack name, [ε], samples
    featureActionRequested = Signal(str, object)  # an action another feature performs (show_landscape), its arg

    def __init__(self, ctx: "AppContext") -> None:
        super().__init__(ctx)
        self.ctx = ctx
        self.panel = LessonPanel()
        # in front of the Prediction dock: a column of its own would make the window wider than 1280 px, and
        # under the right-hand docks it would not fit 800 px (presentation mode moves it to the right)
        tab_with = "prediction" if ctx.dock_visible("prediction") is not None else None
        self.dock = ctx.add_dock(KEY, "Lesson", self.panel, Qt.DockWidgetArea.LeftDockWidgetArea, tab_with)
        self.dock.setToolTip("A guided lesson through the experiment (View ▸ Lesson, Ctrl+L)")
        self.dock.hide()
        self.lesson: Lesson | None = None
        self.index = 0
        self.done: set[str] = set()  # ids of the steps whose check has fired
        self.facts: dict[str, str] = {}
        self._robust_wanted = False  # open_robust_model ran: show the comparison when it is loaded
        self._sweep: list[float] = []
        self._sweep_timer = QTimer(self)
        self._sweep_timer.setInterval(SWEEP_MS)
        self._sweep_timer.timeout.connect(self._sweep_step)
        self.checks = StepChecks(ctx)  # what the studio and the features the window wires in have shown
        self._problem = ""  # why the lesson on screen is not the one asked for
        self._offers: tuple[tuple[str, Callable[[], object]], ...] = ()  # the way-out buttons on screen
        self.loan = ModelLoan(ctx)  # a model the lesson switched to for a step
        self.toggle_action = self.dock.toggleViewAction()
        self.toggle_action.setText("&Lesson")
        self.toggle_action.setShortcut(QKeySequence("Ctrl+L"))
        self.toggle_action.setStatusTip("Show or hide the guided lesson")
        window = ctx.parent_widget
        self.start_action = QAction("Start the &lesson over", window)
        self.start_action.setStatusTip("Open the guided lesson at step 1, every step marked not done (Ctrl+L "
                                       "reopens it where you left it)")
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
        p.start_over.clicked.connect(self.restart)
        p.wayOutClicked.connect(self.take_way_out)
        p.fontChanged.connect(self._show_step)
        ctx.analysisShown.connect(self._on_analysis)
        ctx.flipFound.connect(self._on_flip)
        ctx.inputChanged.connect(self._on_flip)  # a new input: the flip step's hint returns
        ctx.modelReady.connect(self._on_model)
        ctx.tabChanged.connect(self._on_event)
        self.dock.visibilityChanged.connect(self._on_event)
        self.dock.visibilityChanged.connect(self._on_dock_visibility)
        ctx.dataDirChanged.connect(self._on_event)
        where = read_path(ctx.settings, "lesson/file") or None
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
            self.ctx.report_error("Cannot use this lesson file", str(exc))
            return False
        self.ctx.settings.setValue("lesson/file", "" if where is None else str(where))
        self._problem = ""
        self.set_lesson(lesson)
        return True

    def set_lesson(self, lesson: Lesson) -> None:
        """Show `lesson` where this student left it (its saved step and done marks; step 1 if none)."""
        self.lesson = lesson
        progress = load_progress(self.ctx.settings, lesson)
        self.done = set(progress.done)
        self.index = progress.index
        self.dock.setWindowTitle(f"Lesson: {lesson.title}")
        self._show_step()
        self.lessonLoaded.emit(lesson)

    def save_progress(self) -> None:
        """Keep the step on screen and the done marks for the next start (progress.py)."""
        if self.lesson is not None:
            store_progress(self.ctx.settings, self.lesson, self.index, self.done)

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
        """Start over: step 1, every step marked not done."""
        self.done = set()
        self.start(0)

    def go(self, index: int) -> None:
        if self.lesson is None:
            return
        self.index = min(max(int(index), 0), len(self.lesson.steps) - 1)
        self._sweep_timer.stop()
        self.ctx.unfocus_docks()  # presentation mode: a panel the previous step brought up makes room again
        self.save_progress()
        if self.borrowed is not None and self.step.id != self.borrowed.step_id:
            self.loan.give_back()
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
        note = "\n".join(t for t in (self._problem, action_note(self.ctx, step), self.loan.note(step.id)) if t)
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
        way = None if step.id in self.done else find_way_out(self.ctx, step, self, self.checks.lab_failure,
                                                             self.checks.seen)
        self._offers = way.offers if way is not None else ()
        self.panel.set_way_outs([label for label, _ in self._offers])
        if step.id in self.done:
            self.panel.check.setText(f'<span style="color:{DONE_COLOUR}"><b>✓ done</b></span>')
        elif way is not None:
            self.panel.check.setText(f"<b>{html.escape(way.reason)}</b>")
        else:
            self.panel.check.setText(f"waiting: {html.escape(self.hint(step))}")
        self._show_dots()

    # ------------------------------------------------------------------ ways out (way_outs.py says which)
    @Slot(int)
    def take_way_out(self, index: int) -> None:
        """One of the way-out buttons was pressed."""
        if 0 <= index < len(self._offers):
            self._offers[index][1]()
            self._show_check()  # at once: a way out that was answered does not stay on screen
            self._on_event()

    @property
    def borrowed(self):
        """The model borrowed for a step (loan.py), or None."""
        return self.loan.borrowed

    def draw_demo(self) -> None:
        self.do("draw_demo_digit")

    def feature_action(self, name: str, arg: object = None) -> None:
        self.checks.seen.setdefault("feature_action", []).append((name, arg))
        self.featureActionRequested.emit(name, arg)
        self._show_check()

    def draw_demo_and_flip(self) -> None:
        self.do("draw_demo_digit")
        self.ctx.request_flip()

    def ask_data_dir(self) -> None:
        """Let the student choose the MNIST folder; once it is usable, run the step's action."""
        self.ctx.ask_data_dir()
        if data_problem(self.ctx) is None:
            self.perform_action()

    def ask_model(self) -> None:
        from advstudio.gui.model_dialog import ask_model_path

        path = ask_model_path(self.ctx, "Open a robust model")
        if path:
            self.ctx.request_model(path)

    hint = staticmethod(hint)  # the "waiting: …" text (checks.py)

    # ------------------------------------------------------------------ actions
    @Slot()
    def perform_action(self) -> bool:
        step = self.step
        if step is None or step.action is None:
            return False
        return self.do(step.action.name, step.action.arg)

    def do(self, name: str, arg: object = None) -> bool:
        """Perform a named action (the lesson file's "do"); False when it could not be done here."""
        return perform(self, name, arg)

    def start_sweep(self, values: list[float]) -> None:
        """Step the ε slider through `values`, one every SWEEP_MS."""
        self._sweep = list(values)
        self._sweep_step()
        self._sweep_timer.start()

    @Slot()
    def _sweep_step(self) -> None:
        if not self._sweep:
            self._sweep_timer.stop()
            return
        self.ctx.request_eps(self._sweep.pop(0))

    def open_robust_model(self) -> bool:
        """Load the bundled robust model for this step, with a digit on the canvas and ε at the step's minimum, so
        the comparison is on screen at once; the student's model comes back when the step ends."""
        from advstudio.core.resources import robust_model_path

        ctx, step = self.ctx, self.step
        path = robust_model_path()
        if not path.is_file():
            ctx.report_error("No robust model here", f"{path.name}: {NO_ROBUST_MODEL}")
            return False
        if ctx.current_input is None:
            self.do("draw_demo_digit")
        min_eps = float(step.check.params.get("min_eps", 0.1)) if step is not None else 0.1
        if ctx.attack_settings is not None and ctx.attack_settings.eps < min_eps - 1e-9:
            ctx.request_eps(min_eps)
        if step is not None:
            self.loan.borrow(step.id, path)
        self._robust_wanted = True
        ctx.request_model(path)
        return True

    @Slot(bool)
    def _on_dock_visibility(self, _visible: bool) -> None:  # presentation mode re-adds the dock: judge once settled
        QTimer.singleShot(0, lambda: self.dock.isHidden() and self.loan.give_back())

    def run_lab(self, n: int) -> bool:
        """FGSM curve of the model now loaded on n test images, its ε list filled into the lab's form (nothing
        when the MNIST folder is missing: the step's way out says so; the lab ignores it while a run is going)."""
        ctx = self.ctx
        problem = data_problem(self.ctx)
        if problem is not None:
            ctx.status(f"The curve needs MNIST: {problem}", 8000)
            self._show_check()
            return False
        entry = ctx.models.get(BUNDLED_KEY) or ctx.models.entries()[0]
        if ctx.model_info is not None and not ctx.model_info.bundled:
            entry = ctx.models.add_file(ctx.model_info.path)
        ctx.show_tab("robustness")
        self.labRunRequested.emit(entry, "fgsm", list(LAB_EPS), int(n))
        return True

    @Slot()
    def evaluate(self) -> bool:
        """Check the current step; latch, save and announce it the first time it passes (and refresh the check
        line and its ways out either way)."""
        step = self.step
        if step is None:
            return False
        newly = step.id not in self.done and self.checks.passed(step)
        if newly:
            self.done.add(step.id)
            self.save_progress()
        self._show_check()
        if newly:
            self.checkPassed.emit(step.id)
        return step.id in self.done

    def _on_event(self, *_args) -> None:  # GUI-thread signals only (tabs, docks, the studio's own signals)
        QTimer.singleShot(0, self.evaluate)  # after every other receiver has updated the window

    # ------------------------------------------------------------------ what the window wires in
    @Slot(str, bool)
    def dock_visibility_changed(self, key: str, visible: bool) -> None:
        """The dock added under `key` came on screen or left it."""
        self.checks.docks_on_screen[key] = bool(visible)
        self._on_event()

    @Slot(object)
    def lab_finished(self, result: object) -> None:  # a LabResult's curves count; a cancelled run has none
        self.checks.lab_curves.extend(getattr(result, "curves", ()))
        self.checks.lab_failure = None
        self._on_event()

    @Slot(str)
    def lab_failed(self, message: str) -> None:  # the curve step says why (unreadable MNIST files), what to try
        self.checks.lab_failure = message
        self._show_check()

    @Slot(object)
    def set_activations_data(self, data: object) -> None:
        """What the Activations dock shows now (None: nothing)."""
        self.checks.activations_data = data
        self._on_event()

    @Slot(bool)
    def set_activations_on_screen(self, on: bool) -> None:
        self.checks.activations_on_screen = bool(on)
        self._on_event()

    @Slot(str, object)
    def feature_shown(self, kind: str, value: object) -> None:
        """Another feature showed a result a check may ask for (kind "landscape": a LandscapeResult)."""
        self.checks.seen.setdefault(kind, []).append(value)
        self._on_event()

    @Slot(object)
    def input_attack_shown(self, result: object) -> None:
        """Another attack on the studio's input ended (Any attack): a success flips it for the flip step."""
        if getattr(result, "success", False):
            self.checks.flipped_elsewhere = np.array(result.clean, copy=True)
            self._on_event()

    # ------------------------------------------------------------------ the studio's signals
    def _on_flip(self, *_args) -> None:
        self._show_check()
        self._on_event()

    @Slot(object)
    def _on_analysis(self, analysis: Analysis) -> None:
        self.checks.see_analysis(analysis, self.step)
        self._on_event()

    @Slot(object)
    def _on_model(self, info: ModelInfo) -> None:
        # the studio's modelReady slot has remembered this model as the one to start with; a borrowed one is not
        if self.loan.model_ready(info) and (self.step is None or self.step.id != self.borrowed.step_id
                                            or self.dock.isHidden()):
            QTimer.singleShot(0, self.loan.give_back)  # the step ended while the model was loading
        self.facts = model_facts(info.meta, info.name)
        self.checks.robust_seen = False
        self._show_step()
        if self._robust_wanted:
            self._robust_wanted = False
            if not self.ctx.show_tab("compare"):
                self.ctx.show_tab("attack")
        self._on_event()

