"""The "Any attack" tab's controller: any registered attack on the studio's current input, its trajectory and a
table of the norms each run found on this input ("input_attack" jobs)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal, Slot

from advstudio.gui.context import AppContext
from advstudio.gui.features.any_attack.jobs import register_any_attack
from advstudio.gui.features.any_attack.messages import (
    INPUT_KIND,
    InputAttackRequest,
    InputAttackResult,
    QueryProgress,
)
from advstudio.gui.features.any_attack.view import AttackLabPanel
from advstudio.gui.job_client import JobClient
from advstudio.gui.worker import Failure


class AnyAttack(JobClient):
    inputAttackShown = Signal(object)  # InputAttackResult

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx, (INPUT_KIND,))
        register_any_attack(ctx.worker)
        self.panel = AttackLabPanel()
        ctx.add_tab("attack_lab", "Any attack", self.panel)
        self._input_image: np.ndarray | None = None  # the input the norms table belongs to
        self._followed_eps: float | None = None  # the Attack tab's ε last copied into the form
        self.panel.runRequested.connect(self.run_input_attack)
        ctx.inputChanged.connect(self._on_input_changed)
        ctx.attackSettingsChanged.connect(self._follow_attack_eps)
        ctx.modelReady.connect(self._on_model)
        if ctx.attack_settings is not None:
            self._follow_attack_eps(ctx.attack_settings)
        if ctx.model_info is not None:
            self._on_model(ctx.model_info)

    @Slot(object)
    def _on_model(self, info: object) -> None:
        """A new model: the target and the bars range over its classes (the result on screen keeps its own)."""
        classes = getattr(info, "classes", None)
        if classes:
            self.panel.set_classes(classes)

    @Slot()
    def run_input_attack(self) -> int | None:
        ctx = self.ctx
        if ctx.current_input is None:
            ctx.report_error("Nothing to attack", "Draw a digit or pick one from the gallery first.")
            return None
        if ctx.model_info is None:
            ctx.report_error("No model yet", "Wait for the model to load, then run the attack.")
            return None
        form = self.panel.form
        req = InputAttackRequest(ctx.current_input.copy(), form.attack(), form.settings(), form.target_class())
        gen = self.submit(INPUT_KIND, req)
        self.panel.set_busy(True, "Running…")
        return gen

    @Slot(str, float)
    def try_attack(self, name: str, eps: float) -> int | None:
        """Show this tab with `name` chosen at ε and run it on the current input (the Attack tab's way out when
        FGSM cannot flip the digit)."""
        self.ctx.show_tab("attack_lab")
        self.panel.form.set_attack(name, eps=float(eps))
        return self.run_input_attack()

    @Slot(object)
    def _follow_attack_eps(self, settings: object) -> None:
        """The form's ε takes the Attack tab's whenever that slider moves (the student's own edits here stay
        until it moves again); other changes there (method, target) leave it alone."""
        eps = getattr(settings, "eps", None)
        if eps is None or eps == self._followed_eps:
            return
        self._followed_eps = float(eps)
        self.panel.form.set_eps(float(eps))

    @Slot(object)
    def _on_input_changed(self, cur: object) -> None:
        """A new input clears the result and the norms table; the prompt says whether a digit is there."""
        if self._input_image is not None and cur is not None and np.array_equal(cur, self._input_image):
            return
        had_result = self._input_image is not None
        if had_result:
            self._input_image = None
            self.panel.clear_norms()
            self.panel.set_data(None)
        if self.panel.run_button.isEnabled():  # a run on its way keeps its "Running…"
            self.panel.show_input_state(cur is not None and bool(np.any(np.asarray(cur) > 0)), new=had_result)
        self.panel.show_input(cur if isinstance(cur, np.ndarray) else None)

    def _show_result(self, result: InputAttackResult) -> None:
        if self._input_image is None or not np.array_equal(self._input_image, result.clean):
            self.panel.clear_norms()
        self._input_image = result.clean.copy()
        self.panel.set_busy(False)
        self.panel.set_data(result)
        self.inputAttackShown.emit(result)

    # ------------------------------------------------------------------ worker traffic
    def on_reply(self, kind: str, value: InputAttackResult) -> None:
        self._show_result(value)

    def on_progress(self, kind: str, value) -> None:
        """The live query counter of the run on its way."""
        if isinstance(value, QueryProgress):
            self.panel.status.setText(value.text())

    def on_failure(self, failure: Failure) -> None:
        self.panel.set_busy(False, "The attack failed: " + failure.message.splitlines()[0])
        self.ctx.report_error("The attack failed", failure.message)
