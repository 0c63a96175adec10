"""The guided lesson: a dock that walks through the experiment step by step beside the live controls.

The steps come from a lesson file (core/lesson.py reads and validates it). Each step's action drives the real
studio through the context (draw, move ε, find the flip, load a model, show a tab or a panel) or asks the lab for
a curve (labRunRequested); its check watches the context's signals, and what the window wires in from other
features (lab_finished, the Activations dock's state, docks' visibility), and notices when the student has done
it. A step whose action cannot succeed as things stand (no digit, no MNIST folder, nothing flips) says why and
offers the next thing to try (way-out buttons). Where the student is, and which steps are done, is kept in the
settings per lesson file, so the lesson resumes there after a restart. A model the lesson switches to for a step is
borrowed: it is not remembered as the student's model, and theirs comes back when the step ends. Nothing here calls
torch."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence

from advstudio.core.errors import LessonError
from advstudio.core.lesson import (
    PROGRESS_GROUP,
    Lesson,
    LessonProgress,
    LessonStep,
    fill,
    load_lesson,
    model_facts,
    progress_key,
    progress_values,
    read_progress,
)
from advstudio.gui.features.lesson.view import LessonPanel
from advstudio.gui.messages import Analysis
from advstudio.gui.models import BUNDLED_KEY, ModelInfo

if TYPE_CHECKING:
    from advstudio.gui.context import AppContext

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
# checks that look at the digit on the canvas, and the actions that draw one themselves when there is none
INPUT_CHECKS = {"input_drawn", "eps_at_least", "prediction_flipped", "eps_range_seen", "activations_shown",
                "robust_model_compared"}
DRAWING_ACTIONS = {"draw_demo_digit", "find_flip", "eps_sweep", "open_robust_model"}


@dataclass(frozen=True)
class WayOut:
    """Why a step cannot be done as things stand, and the buttons (label, what it does) offering what to try."""

    reason: str
    offers: tuple[tuple[str, Callable[[], object]], ...] = ()


@dataclass
class BorrowedModel:
    """The lesson switched models for a step: the student's model, to load again when the step ends, and what
    the settings remembered as their model, kept there while the lesson's model is current."""

    step_id: str
    path: str
    name: str
    remembered: str  # the settings' model/last before the switch
    lesson_model: str  # the file the lesson switched to
    arrived: bool = False  # the lesson's model has been loaded (a load already under way is not the student's)


def same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return str(a) == str(b)


class LessonDock(QObject):
    """Runs a lesson in its own dock; emits stepShown(index) and checkPassed(step id), and
    labRunRequested(model entry, attack, ε list, samples) for the lab to run a curve with its panel showing
    that attack and sample count."""

    stepShown = Signal(int)
    checkPassed = Signal(str)
    lessonLoaded = Signal(object)  # Lesson
    labRunRequested = Signal(object, str, object, int)  # ModelEntry, attack name, [ε], samples

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
        self._range: tuple[np.ndarray | None, set[float]] = (None, set())  # ε values seen on one input
        self._robust_seen = False  # an analysis at ≥ min_eps answered by a non-bundled model
        self._robust_wanted = False  # open_robust_model ran: show the comparison when it is loaded
        self._sweep: list[float] = []
        self._sweep_timer = QTimer(self)
        self._sweep_timer.setInterval(SWEEP_MS)
        self._sweep_timer.timeout.connect(self._sweep_step)
        # what the window wires in from other features: docks on screen (Qt keeps a dock tabbed behind another
        # "visible"; its visibilityChanged tells the truth), the lab's curves, the Activations dock's state
        self._docks_on_screen: dict[str, bool] = {}
        self.lab_curves: list = []  # the curves of every finished lab run (LabCurve)
        self._activations_data = None  # what the Activations dock shows (ActivationsData or None)
        self._activations_on_screen = False
        self._flipped_elsewhere: np.ndarray | None = None  # an input another attack (Any attack's PGD) flipped
        self._problem = ""  # why the lesson on screen is not the one asked for
        self._offers: tuple[tuple[str, Callable[[], object]], ...] = ()  # the way-out buttons on screen
        self.borrowed: BorrowedModel | None = None  # a model the lesson switched to for a step
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
        where = ctx.settings.value("lesson/file", "", str) or None
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
        progress = self._saved_progress(lesson)
        self.done = set(progress.done)
        self.index = progress.index
        self.dock.setWindowTitle(f"Lesson: {lesson.title}")
        self._show_step()
        self.lessonLoaded.emit(lesson)

    # ------------------------------------------------------------------ progress across restarts
    def _progress_group(self, lesson: Lesson) -> str:
        return f"{PROGRESS_GROUP}/{progress_key(lesson)}"

    def _saved_progress(self, lesson: Lesson) -> LessonProgress:
        group = self._progress_group(lesson)
        s = self.ctx.settings
        return read_progress(lesson, s.value(f"{group}/step", 1), s.value(f"{group}/done", ""))

    def save_progress(self) -> None:
        if self.lesson is None:
            return
        step, done = progress_values(self.lesson, LessonProgress(self.index, frozenset(self.done)))
        group = self._progress_group(self.lesson)
        self.ctx.settings.setValue(f"{group}/step", step)
        self.ctx.settings.setValue(f"{group}/done", done)

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
            self.give_back_model()
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
        note = "\n".join(t for t in (self._problem, self._action_note(step), self._borrow_note(step)) if t)
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
        way = None if step.id in self.done else self.way_out(step)
        self._offers = way.offers if way is not None else ()
        self.panel.set_way_outs([label for label, _ in self._offers])
        if step.id in self.done:
            self.panel.check.setText(f'<span style="color:{DONE_COLOUR}"><b>✓ done</b></span>')
        elif way is not None:
            self.panel.check.setText(f"<b>{html.escape(way.reason)}</b>")
        else:
            self.panel.check.setText(f"waiting: {html.escape(self.hint(step))}")
        self._show_dots()

    # ------------------------------------------------------------------ ways out of a step that cannot be done
    def way_out(self, step: LessonStep) -> WayOut | None:
        """Why `step` cannot be done as things stand, with what to try instead; None when nothing is in the way."""
        ctx, kind = self.ctx, step.check.kind
        action = step.action.name if step.action is not None else None
        if kind in INPUT_CHECKS and ctx.current_input is None and action not in DRAWING_ACTIONS:
            return WayOut("Draw a digit first: this step works on the digit on the canvas. Draw one in the Input "
                          "panel, or let the app draw one.", (("Draw a 3 for me", self._draw_demo),))
        if kind == "prediction_flipped" and ctx.flip is not None and not ctx.flip.found:
            return WayOut("Nothing up to ε = 0.5 flips this drawing (a thick digit can be that sturdy). Press “Draw "
                          "a 3 for me” to attack one that flips, or under the Attack tab's banner try a thinner "
                          "brush or PGD.", (("Draw a 3 for me", self._draw_demo_and_flip),))
        if (kind == "lab_curve_done" or action == "run_lab") and (problem := self._data_problem()):
            return WayOut(f"{problem} This step runs the attack on the MNIST test images: choose the folder that "
                          "holds the MNIST files (File ▸ Set MNIST folder…).",
                          (("Set MNIST folder…", self._ask_data_dir),))
        if kind == "robust_model_compared":
            return self._robust_way_out(step)
        return None

    def _robust_way_out(self, step: LessonStep) -> WayOut | None:
        from advstudio.core.resources import robust_model_path

        info = self.ctx.model_info
        if (step.action is not None and step.action.name == "open_robust_model" and not robust_model_path().is_file()
                and (info is None or info.bundled)):
            return WayOut("The robust model is not in this installation: open a model trained with adversarial "
                          "training (any model but the bundled one counts).", (("Open a model…", self._ask_model),))
        min_eps = float(step.check.params.get("min_eps", 0.1))
        settings = self.ctx.attack_settings
        if info is not None and not info.bundled and settings is not None and settings.eps < min_eps - 1e-9:
            return WayOut(f"Attack your digit at ε ≥ {min_eps:g}: the slider is at {settings.eps:g}.",
                          ((f"Set ε to {min_eps:g}", lambda: self.ctx.request_eps(min_eps)),))
        return None

    def _data_problem(self) -> str | None:
        """The MNIST test set's problem in plain words (without the command-line ways of setting the folder)."""
        from advstudio.core.data import HOW_TO_GET

        problem = self.ctx.data_problem(("test",))
        return None if problem is None else problem.replace(HOW_TO_GET, "").strip()

    @Slot(int)
    def take_way_out(self, index: int) -> None:
        """One of the way-out buttons was pressed."""
        if 0 <= index < len(self._offers):
            self._offers[index][1]()
            self._show_check()  # at once: a way out that was answered does not stay on screen
            self._on_event()

    def _draw_demo(self) -> None:
        self.do("draw_demo_digit")

    def _draw_demo_and_flip(self) -> None:
        self.do("draw_demo_digit")
        self.ctx.request_flip()

    def _ask_data_dir(self) -> None:
        """Let the student choose the MNIST folder; once it is usable, run the step's action."""
        self.ctx.ask_data_dir()
        if self._data_problem() is None:
            self.perform_action()

    def _ask_model(self) -> None:
        from advstudio.gui.model_dialog import ask_model_path

        path = ask_model_path(self.ctx, "Open a robust model")
        if path:
            self.ctx.request_model(path)

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
            from advstudio.core.resources import robust_model_path

            if not robust_model_path().is_file():
                return ("The robust model is not bundled with this installation. Train one "
                        "(advstudio train --adversarial …) and open it with File ▸ Open model…; "
                        "any model other than the bundled one counts for this step.")
        if action.name == "compare" and not self.ctx.has_tab("compare"):
            return "This version has no Side by side tab; the Attack tab shows the current model on your digit."
        if action.name == "show_tab" and not self.ctx.has_tab(str(action.arg)):
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
        ctx = self.ctx
        if name == "show_tab":
            ok = ctx.show_tab(str(arg))
            if not ok:
                ctx.status(f"There is no {arg!r} tab in this version.", 6000)
            return ok
        if name == "show_dock":
            if not ctx.show_dock(str(arg)):  # in presentation mode it makes room for the panel
                ctx.status(f"There is no {arg!r} panel in this version.", 6000)
                return False
            return True
        if name == "set_eps":
            ctx.show_tab("attack")
            ctx.request_eps(float(arg))  # type: ignore[arg-type]
            return True
        if name == "eps_sweep":
            if ctx.current_input is None:
                self.do("draw_demo_digit")
            ctx.show_tab("attack")
            self._sweep = [float(e) for e in arg]  # type: ignore[union-attr]
            self._sweep_step()
            self._sweep_timer.start()
            return True
        if name == "draw_demo_digit":
            from advstudio.gui.demo import digit_strokes

            ctx.show_tab("attack")
            ctx.request_strokes(digit_strokes(int(arg) if arg is not None else 3))
            return True
        if name == "find_flip":
            if ctx.current_input is None:
                self.do("draw_demo_digit")
            ctx.show_tab("attack")
            ctx.request_flip()
            return True
        if name == "run_lab":
            return self._run_lab(int(arg) if arg is not None else 500)  # type: ignore[call-overload]
        if name == "open_robust_model":
            return self._open_robust_model()
        if name == "compare":
            if ctx.show_tab("compare"):
                return True
            ctx.show_tab("attack")
            ctx.status("No Side by side tab in this version: the Attack tab shows the current model on your "
                       "digit.", 8000)
            return False
        ctx.report_error("Unknown lesson action", f"This version cannot do {name!r}.")
        return False

    @Slot()
    def _sweep_step(self) -> None:
        if not self._sweep:
            self._sweep_timer.stop()
            return
        self.ctx.request_eps(self._sweep.pop(0))

    def _open_robust_model(self) -> bool:
        """Load the bundled robust model for this step, with a digit on the canvas and ε at the step's minimum, so
        the comparison is on screen at once; the student's model is borrowed back when the step ends."""
        from advstudio.core.resources import robust_model_path

        ctx, step = self.ctx, self.step
        path = robust_model_path()
        if not path.is_file():
            ctx.report_error("No robust model here",
                             f"{path.name} is not in this installation. Open a model you trained with "
                             "adversarial training (File ▸ Open model…); any model but the bundled one counts "
                             "for this step.")
            return False
        if ctx.current_input is None:
            self.do("draw_demo_digit")
        min_eps = float(step.check.params.get("min_eps", 0.1)) if step is not None else 0.1
        if ctx.attack_settings is not None and ctx.attack_settings.eps < min_eps - 1e-9:
            ctx.request_eps(min_eps)
        info = ctx.model_info
        if self.borrowed is None and step is not None and (info is None or not same_file(info.path, path)):
            remembered = ctx.settings.value("model/last", "", str)
            start_model = remembered if remembered and Path(remembered).is_file() else str(_bundled_path())
            student = info.path if info is not None and not info.defended else start_model  # None: still loading
            name = info.name if info is not None else (
                "the bundled model" if same_file(student, _bundled_path()) else Path(student).stem)
            self.borrowed = BorrowedModel(step.id, student, name, remembered, str(path))
        self._robust_wanted = True
        ctx.request_model(path)
        return True

    def give_back_model(self) -> None:
        """The step that borrowed a model ended: load the student's model again."""
        b, info = self.borrowed, self.ctx.model_info
        if b is None or not b.arrived:
            return  # not loaded yet: it is given back when it arrives (the step has ended by then)
        if info is None or not same_file(info.path, b.lesson_model) or info.defended:
            self.borrowed = None  # the student has moved on to a model of their own: that one stands
            return
        self.ctx.status(f"The lesson gives you back your model: {b.name}", 6000)
        self.ctx.request_model(b.path)

    def _borrow_note(self, step: LessonStep) -> str:
        b, info = self.borrowed, self.ctx.model_info
        if b is None or b.step_id != step.id or info is None or not same_file(info.path, b.lesson_model):
            return ""
        return (f"The lesson switched to the robust model for this step; your model ({b.name}) comes back when "
                "you leave this step or close the lesson.")

    @Slot(bool)
    def _on_dock_visibility(self, _visible: bool) -> None:
        QTimer.singleShot(0, self._after_dock_visibility)  # presentation mode re-adds the dock: judge once settled

    def _after_dock_visibility(self) -> None:
        if self.dock.isHidden() and self.borrowed is not None:
            self.give_back_model()

    def _run_lab(self, n: int) -> bool:
        """FGSM curve of the model now loaded on n test images, its ε list filled into the lab's form (nothing
        when the MNIST folder is missing: the step's way out says so; the lab ignores it while a run is going)."""
        ctx = self.ctx
        problem = self._data_problem()
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

    # ------------------------------------------------------------------ checks
    def passed(self, step: LessonStep) -> bool:
        """Whether the studio now shows what `step` asks for."""
        ctx, kind, prm = self.ctx, step.check.kind, step.check.params
        a: Analysis | None = ctx.analysis
        image = ctx.current_input
        if kind == "visited":
            return True
        if kind == "dock_shown":
            return bool(ctx.dock_visible(prm["dock"])) and self._docks_on_screen.get(prm["dock"], False)
        if kind == "tab_shown":
            return ctx.has_tab(prm["tab"]) and ctx.current_tab() == prm["tab"]
        if kind == "input_drawn":
            return image is not None and a is not None
        if kind == "eps_at_least":
            return a is not None and image is not None and a.attack.eps >= prm["value"] - 1e-9
        if kind == "prediction_flipped":
            elsewhere = self._flipped_elsewhere
            return (a is not None and image is not None and a.attack.flipped) or bool(
                ctx.flip is not None and ctx.flip.found) or (
                elsewhere is not None and image is not None and np.array_equal(elsewhere, image))
        if kind == "eps_range_seen":
            seen_image, seen = self._range
            return (seen_image is not None and image is not None and np.array_equal(seen_image, image)
                    and bool(seen) and min(seen) <= prm["min"] + 1e-9 and max(seen) >= prm["max"] - 1e-9)
        if kind == "lab_curve_done":
            curves = [c for c in self.lab_curves if prm.get("attack") in (None, c.attack)]
            return len(curves) >= int(prm.get("curves", 1))
        if kind == "activations_shown":
            return self._activations_on_screen and self._activations_data is not None and image is not None
        if kind == "robust_model_compared":
            info = ctx.model_info
            return (info is not None and not info.bundled
                    and (self._robust_seen or ctx.current_tab() == "compare"))
        return False

    @Slot()
    def evaluate(self) -> bool:
        """Check the current step; latch, save and announce it the first time it passes (and refresh the check
        line and its ways out either way)."""
        step = self.step
        if step is None:
            return False
        newly = step.id not in self.done and self.passed(step)
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
        self._docks_on_screen[key] = bool(visible)
        self._on_event()

    @Slot(object)
    def lab_finished(self, result: object) -> None:
        """A lab run ended (a LabResult's curves count; a cancelled run has none)."""
        self.lab_curves.extend(getattr(result, "curves", ()))
        self._on_event()

    @Slot(object)
    def set_activations_data(self, data: object) -> None:
        """What the Activations dock shows now (None: nothing)."""
        self._activations_data = data
        self._on_event()

    @Slot(bool)
    def set_activations_on_screen(self, on: bool) -> None:
        self._activations_on_screen = bool(on)
        self._on_event()

    @Slot(object)
    def input_attack_shown(self, result: object) -> None:
        """Another attack on the studio's input ended (Any attack): a success flips it for the flip step."""
        if getattr(result, "success", False):
            self._flipped_elsewhere = np.array(result.clean, copy=True)
            self._on_event()

    # ------------------------------------------------------------------ the studio's signals
    def _on_flip(self, *_args) -> None:
        self._show_check()
        self._on_event()

    def _keep_borrowed_model_unremembered(self, info: ModelInfo) -> None:
        """The studio remembers every model it loads as the one to start with (its modelReady slot runs before
        this one); the lesson's borrowed model is not the student's choice, so theirs is remembered instead."""
        b = self.borrowed
        if b is None:
            return
        if not same_file(info.path, b.lesson_model) or info.defended:
            if b.arrived:
                self.borrowed = None  # the student's model is back, or they chose another: that one stands
            elif not info.defended:  # a load under way before the switch (the model at start) is theirs
                b.path, b.name = info.path, info.name
            return
        b.arrived = True
        self.ctx.settings.setValue("model/last", b.remembered)
        if self.step is None or self.step.id != b.step_id or self.dock.isHidden():
            QTimer.singleShot(0, self.give_back_model)  # the step ended while the model was loading

    @Slot(object)
    def _on_analysis(self, analysis: Analysis) -> None:
        image, seen = self._range
        clean = analysis.prediction.image
        if image is None or not np.array_equal(image, clean):
            self._range = (np.array(clean, copy=True), set())
        self._range[1].add(round(float(analysis.attack.eps), 6))
        info = self.ctx.model_info
        step = self.step
        min_eps = step.check.params.get("min_eps", 0.1) if step and step.check.kind == "robust_model_compared" else 0.1
        if info is not None and not info.bundled and analysis.attack.eps >= min_eps - 1e-9:
            self._robust_seen = True
        self._on_event()

    @Slot(object)
    def _on_model(self, info: ModelInfo) -> None:
        self._keep_borrowed_model_unremembered(info)
        self.facts = model_facts(info.meta, info.name)
        self._robust_seen = False
        self._show_step()
        if self._robust_wanted:
            self._robust_wanted = False
            if not self.ctx.show_tab("compare"):
                self.ctx.show_tab("attack")
        self._on_event()


def _bundled_path() -> Path:
    from advstudio.core.resources import bundled_model_path

    return bundled_model_path()
