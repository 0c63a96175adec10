"""A model the lesson switches to for one step (the defend step's robust model) is borrowed, not chosen: the
studio would remember it as the model to start with next time, so the loan keeps the student's own model
remembered while the borrowed one is current, and loads the student's model again when the step ends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from advstudio.gui.models import ModelInfo
from advstudio.gui.stored import read_path

if TYPE_CHECKING:
    from advstudio.gui.context import AppContext

LAST_MODEL_KEY = "model/last"  # the studio's setting: the model file the app starts with ("" = the bundled one)


@dataclass
class BorrowedModel:
    """The student's model, to load again when the step ends, and what the settings remembered as their model."""

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


def bundled_path() -> Path:
    from advstudio.core.resources import bundled_model_path

    return bundled_model_path()


class ModelLoan(QObject):
    """At most one borrowed model at a time; the lesson calls borrow() before it loads one, model_ready() for
    every model made current, and give_back() when the step that borrowed it ends."""

    def __init__(self, ctx: "AppContext") -> None:
        super().__init__(ctx)
        self.ctx = ctx
        self.borrowed: BorrowedModel | None = None

    def borrow(self, step_id: str, lesson_model: str | Path) -> None:
        """The lesson is about to load `lesson_model` for step `step_id`: note whose model it replaces."""
        info, settings = self.ctx.model_info, self.ctx.settings
        if self.borrowed is not None or (info is not None and same_file(info.path, lesson_model)):
            return
        remembered = read_path(settings, LAST_MODEL_KEY)
        start_model = remembered if remembered and Path(remembered).is_file() else str(bundled_path())
        # no model yet (it is loading at start) or a defended wrapper: the file the app starts with is theirs
        student = info.path if info is not None and not info.defended else start_model
        name = info.name if info is not None else (
            "the bundled model" if same_file(student, bundled_path()) else Path(student).stem)
        self.borrowed = BorrowedModel(step_id, student, name, remembered, str(lesson_model))

    def is_current(self, step_id: str | None = None) -> bool:
        """Whether the borrowed model is the current one (and was borrowed for `step_id`, if given)."""
        b, info = self.borrowed, self.ctx.model_info
        return (b is not None and b.arrived and info is not None and not info.defended
                and same_file(info.path, b.lesson_model) and step_id in (None, b.step_id))

    def model_ready(self, info: ModelInfo) -> bool:
        """A model was made current (the studio's modelReady slot, which remembers it, has run). True when it is
        the borrowed one: the student's model is then remembered again."""
        b = self.borrowed
        if b is None:
            return False
        if not same_file(info.path, b.lesson_model) or info.defended:
            if b.arrived:
                self.borrowed = None  # the student's model is back, or they chose another: that one stands
            elif not info.defended:  # a load under way before the switch (the model at start) is theirs
                b.path, b.name = info.path, info.name
            return False
        b.arrived = True
        self.ctx.settings.setValue(LAST_MODEL_KEY, b.remembered)
        return True

    def give_back(self) -> None:
        """The step that borrowed a model ended: load the student's model again (once the borrowed one is in)."""
        b = self.borrowed
        if b is None or not b.arrived:
            return  # not loaded yet: the lesson gives it back when it arrives
        if not self.is_current():
            self.borrowed = None  # the student has moved on to a model of their own: that one stands
            return
        self.ctx.status(f"The lesson gives you back your model: {b.name}", 6000)
        self.ctx.request_model(b.path)

    def note(self, step_id: str) -> str:
        """What the lesson says while the model borrowed for `step_id` is current."""
        if not self.is_current(step_id):
            return ""
        return (f"The lesson switched to the robust model for this step; your model ({self.borrowed.name}) comes "
                "back when you leave this step or close the lesson.")
