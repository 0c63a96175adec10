"""The Defenses tab's controller: runs a defense against the plain and the adaptive attacker on the worker
("defense" jobs), and makes a defended model the studio's current model ("use_defense": the reply is a
ModelInfo handed to ctx.set_model, like a loaded file, but never remembered as one)."""

from __future__ import annotations

import html
import threading

from PySide6.QtCore import Signal, Slot

from advstudio.gui.context import AppContext
from advstudio.gui.features.defenses.jobs import register_defense
from advstudio.gui.features.defenses.messages import (
    DEFENSE_KIND,
    USE_KIND,
    DefenseCancelled,
    DefenseProgress,
    DefenseRequest,
    DefenseResult,
    UseDefenseRequest,
)
from advstudio.gui.features.defenses.view import DefenseLabPanel
from advstudio.gui.job_client import JobClient
from advstudio.gui.model_dialog import ask_add_model, ask_model_path
from advstudio.gui.models import ModelInfo
from advstudio.gui.worker import Failure


class DefenseStudio(JobClient):
    defenseProgress = Signal(object)  # DefenseProgress
    defenseFinished = Signal(object)  # DefenseResult or DefenseCancelled
    defenseFailed = Signal(str)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx, (DEFENSE_KIND, USE_KIND))
        register_defense(ctx.worker)
        self.panel = DefenseLabPanel()
        ctx.add_tab("defenses", "Defenses", self.panel)
        self._request: DefenseRequest | None = None
        self.base_info: ModelInfo | None = None  # the studio's undefended model
        self.defended_info: ModelInfo | None = None  # set while a defended model is the current one
        self.panel.runRequested.connect(self.run_from_panel)
        self.panel.cancelRequested.connect(self.cancel)
        self.panel.useRequested.connect(self.use_as_current)
        self.panel.restoreRequested.connect(self.restore_undefended)
        self.panel.browseRequested.connect(self._browse)
        self.panel.addModelRequested.connect(self._add_model)
        self.panel.defense_combo.currentIndexChanged.connect(self.refresh_models)
        ctx.tabChanged.connect(self.refresh_models)
        ctx.models.modelsChanged.connect(self.refresh_models)
        ctx.modelReady.connect(self._on_model)
        self.refresh_models()
        self._update_use_status()

    # ------------------------------------------------------------------ models
    @Slot()
    def refresh_models(self, *_args) -> None:
        """Ensemble members come from the app-wide registry (ctx.models)."""
        self.panel.set_models(self.ctx.models.entries())

    @Slot()
    def _add_model(self) -> None:
        ask_add_model(self.ctx)  # modelsChanged → refresh_models

    @Slot()
    def _browse(self) -> None:
        path = ask_model_path(self.ctx, "Choose a distilled model")
        if path:
            self.panel.distilled_path.setText(path)

    def _base_name(self) -> str:
        return self.base_info.name if self.base_info is not None else "current model"

    @Slot(object)
    def _on_model(self, info: ModelInfo) -> None:
        if info.defended:
            self.defended_info = info  # (the lab skips defended models: they are not files it can load)
        else:
            self.base_info, self.defended_info = info, None
        self.refresh_models()
        self._update_use_status()

    def _update_use_status(self) -> None:
        p = self.panel
        if self.defended_info is not None:
            gradient = self.defended_info.meta.get("attacker_gradient", "")
            p.use_status.setText(f"The studio now attacks <b>{html.escape(self.defended_info.name)}</b> (defended) "
                                 f"with the adaptive gradient: {html.escape(str(gradient))}.")
        else:
            p.use_status.setText(f"The studio uses the undefended model ({html.escape(self._base_name())}).")
        p.restore_button.setEnabled(self.defended_info is not None and self.base_info is not None)

    # ------------------------------------------------------------------ use as current model
    @Slot()
    def use_as_current(self) -> int | None:
        """Make the chosen defense the worker's current model; the reply, a ModelInfo, becomes the studio's
        current model (ctx.set_model)."""
        if self.ctx.model_info is None:
            self.ctx.report_error("No model yet", "Wait for the model to load first.")
            return None
        try:
            spec = self.panel.spec()
        except ValueError as exc:
            self.ctx.report_error("Check the defense", str(exc))
            return None
        base_path = self.base_info.path if self.base_info is not None else None
        base = self.base_info or self.ctx.model_info
        self.panel.use_status.setText(f"Building {spec.short()}…")
        return self.submit(USE_KIND, UseDefenseRequest(spec, self._base_name(), base_path, tuple(base.classes)))

    @Slot()
    def restore_undefended(self) -> None:
        """Load the undefended model file again (the same as File ▸ Open model on it)."""
        if self.base_info is not None:
            self.ctx.request_model(self.base_info.path)

    # ------------------------------------------------------------------ evaluation
    @Slot()
    def run_from_panel(self) -> int | None:
        p = self.panel
        try:
            eps = p.eps()
            spec = p.spec()
        except ValueError as exc:
            self.ctx.report_error("Check the defense settings", str(exc))
            return None
        return self.run(spec, p.attack(), int(p.steps.value()), eps, int(p.samples.value()),
                        float(p.budget.value()))

    def run(self, spec, attack: str, steps: int, eps: list[float], n: int, budget: float = 1.0) -> int | None:
        """Start an evaluation; returns its generation, or None when it could not start."""
        if self.panel.running:
            return None
        problem = self.ctx.data_problem(("test",))
        if problem is not None:
            self.panel.show_data_error(problem)
            self.ctx.report_error("Cannot read MNIST", problem)
            self.defenseFailed.emit(problem)
            return None
        self.panel.show_data_error(None)
        req = DefenseRequest(spec, attack, int(steps), tuple(float(e) for e in eps), int(n),
                             self.ctx.data_folder(), self._base_name(), threading.Event(), budget=float(budget))
        self._request = req
        self.panel.set_running(True)
        gen = self.submit(DEFENSE_KIND, req)
        self.ctx.show_tab("defenses")
        return gen

    @Slot()
    def cancel(self) -> None:
        if self._request is not None:
            self._request.cancel.set()
            self.panel.eta.setText("Cancelling…")

    @Slot(str, float)
    def evaluate_distilled(self, path: str, temperature: float) -> None:
        """Select the distillation defense with this student file and T (0: "from the file"); nothing runs
        until the user presses Run (the training feature's evaluateDistilled, wired by the window)."""
        self.panel.set_defense("distillation")
        self.panel.distilled_path.setText(path)
        self.panel.temperature.setValue(float(temperature))

    def _finish(self, value: DefenseResult | DefenseCancelled) -> None:
        self._request = None
        self.panel.set_running(False)
        if isinstance(value, DefenseResult):
            self.panel.set_data(value)
            self.panel.runner.finished(value.seconds)
        else:
            self.panel.eta.setText(f"Cancelled after {value.done}/{value.total} image-attacks; the plot is "
                                   "unchanged.")
        self.defenseFinished.emit(value)

    # ------------------------------------------------------------------ worker traffic
    def on_reply(self, kind: str, value) -> None:
        if kind == USE_KIND:
            self.ctx.set_model(value)  # → modelReady: the studio, the status bar and _on_model here
        else:
            self._finish(value)

    def on_progress(self, kind: str, value: DefenseProgress) -> None:
        self.panel.set_progress(value)
        self.defenseProgress.emit(value)

    def on_failure(self, failure: Failure) -> None:
        if failure.kind == USE_KIND:
            self.ctx.report_error("Something went wrong", failure.message)
            self._update_use_status()  # the current model stayed
            return
        self._request = None
        self.panel.set_running(False)
        self.panel.eta.setText("")
        if failure.error == "dataset":
            self.panel.show_data_error(failure.message)
        self.ctx.report_error("The defense run failed", failure.message)
        self.defenseFailed.emit(failure.message)
