"""The robustness lab tab's controller: curves over the test set for the models ticked in the app-wide registry
(ctx.models), one attack and a list of ε ("lab" jobs), the transfer matrix between the ticked models
("lab_transfer" jobs), with CSV/JSON/PNG exports."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QFileDialog

from advstudio.core.classes import DIGITS
from advstudio.gui.context import AppContext
from advstudio.gui.features.lab.jobs import register_lab
from advstudio.gui.features.lab.messages import (
    LAB_KIND,
    TRANSFER_KIND,
    LabCancelled,
    LabProgress,
    LabRequest,
    LabResult,
    LabSpec,
    TransferRequest,
    TransferResult,
)
from advstudio.gui.features.lab.transfer_jobs import register_transfer
from advstudio.gui.features.lab.view import RobustnessLabPanel
from advstudio.gui.job_client import JobClient
from advstudio.gui.model_dialog import ask_add_model
from advstudio.gui.models import BUNDLED_KEY, ModelEntry, ModelInfo
from advstudio.gui.worker import Failure

FILTERS = {"csv": "CSV (*.csv)", "json": "JSON (*.json)", "png": "PNG image (*.png)"}


class StudioLab(JobClient):
    labProgress = Signal(object)  # LabProgress
    labFinished = Signal(object)  # LabResult or LabCancelled
    labFailed = Signal(str)
    transferFinished = Signal(object)  # TransferResult or LabCancelled

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx, (LAB_KIND, TRANSFER_KIND))
        register_lab(ctx.worker)
        register_transfer(ctx.worker)
        self.panel = RobustnessLabPanel()
        ctx.add_tab("robustness", "Robustness lab", self.panel)
        self._known: set[str] = {m.key for m in ctx.models}  # the registry's keys the list has seen
        self._quiet: set[str] = set()  # keys to list unticked when they arrive (the studio's model)
        self._checked: set[str] = {BUNDLED_KEY}
        self.panel.set_models(ctx.models.entries(), self._checked)
        self._lab_request: LabRequest | TransferRequest | None = None
        self.panel.runRequested.connect(self.run_lab_from_panel)
        self.panel.transferRequested.connect(self.run_transfer_from_panel)
        self.panel.cancelRequested.connect(self.cancel_lab)
        self.panel.addModelRequested.connect(self.ask_add_model)
        self.panel.exportRequested.connect(self.ask_export)
        self.panel.chooseFolderRequested.connect(self._choose_folder)
        if ctx.model_info is not None:
            self.panel.set_classes(ctx.model_info.classes)
        ctx.modelReady.connect(self._on_model)
        ctx.models.modelsChanged.connect(self._on_models_changed)

    # ------------------------------------------------------------------ the models on offer
    @Slot()
    def _on_models_changed(self) -> None:
        """A model joined the registry: listed ticked (the studio's own model unticked), keeping other ticks."""
        self._sync_checked()
        keys = {m.key for m in self.ctx.models}
        self._checked |= (keys - self._known) - self._quiet
        self._checked &= keys
        self._known, self._quiet = keys, self._quiet - keys
        self.panel.set_models(self.ctx.models.entries(), self._checked)

    def _sync_checked(self) -> None:
        if self.panel.model_list.count():
            self._checked = set(self.panel.checked_models())

    @Slot()
    def ask_add_model(self) -> None:
        ask_add_model(self.ctx)

    @Slot(object)
    def _on_model(self, info: ModelInfo) -> None:
        self.panel.set_classes(info.classes)  # the target and the words follow the current model's classes
        if info.bundled or info.defended:  # a defended wrapper is not a file the lab can load
            return
        key = str(Path(info.path).resolve())
        if self.ctx.models.get(key) is None:
            self._quiet.add(key)
            self.ctx.models.add(ModelEntry(key, info.name, info.path))

    # ------------------------------------------------------------------ running
    def data_problem(self) -> str | None:
        """A readable reason the MNIST test set cannot be read, or None when the folder looks usable."""
        return self.ctx.data_problem(("test",))

    @Slot()
    def run_lab_from_panel(self) -> int | None:
        try:
            eps = self.panel.eps()
        except ValueError as exc:
            self.ctx.report_error("Check the ε list", str(exc))
            return None
        self._sync_checked()
        chosen = [m for m in self.ctx.models if m.key in self._checked]
        if not chosen:
            self.ctx.report_error("No model chosen", "Tick at least one model in the list.")
            return None
        form = self.panel.form
        specs = [LabSpec(m, form.attack(), form.settings()) for m in chosen]
        return self.run_lab(specs, eps, int(self.panel.samples.value()), form.target_class())

    def run_lab(self, specs: list[LabSpec], eps: list[float], n: int, target: int | None = None) -> int | None:
        """Start a run (one curve per spec); returns its generation, or None when it could not start."""
        if self.panel.running:
            return None
        problem = self.data_problem()
        if problem is not None:
            self._data_error(problem)
            return None
        self.panel.show_data_error(None)
        req = LabRequest(tuple(specs), tuple(float(e) for e in eps), int(n), self.ctx.data_folder(),
                         threading.Event(), target)
        self._lab_request = req
        self.panel.set_running(True)
        gen = self.submit(LAB_KIND, req)
        self.ctx.show_tab("robustness")
        return gen

    @Slot()
    def run_transfer_from_panel(self) -> int | None:
        """The transfer matrix between the ticked models: the form's attack (untargeted) at the largest ε of the
        list, or with its own settings for a minimal-size attack, on the lab's number of test images."""
        from advstudio.core.attacks import ATTACKS

        self._sync_checked()
        chosen = [m for m in self.ctx.models if m.key in self._checked]
        if len(chosen) < 2:
            self.ctx.report_error("Tick two or more models", "The transfer matrix makes the attack on each ticked "
                                  "model and tests every ticked model on it: tick at least two.")
            return None
        form = self.panel.form
        if form.target_class() is not None:
            wrong = "digit" if self.panel.classes == DIGITS else "class"
            self.ctx.report_error("Untick “Targeted”", f"The transfer matrix counts any wrong {wrong} (an untargeted "
                                  "attack): untick Targeted to run it.")
            return None
        eps = None
        if ATTACKS[form.attack()].uses_eps:
            try:
                eps = max(self.panel.eps(), default=0.0)
            except ValueError as exc:
                self.ctx.report_error("Check the ε list", str(exc))
                return None
            if not 0.0 < eps <= 1.0:
                self.ctx.report_error("Check the ε list", "The transfer matrix uses the largest ε of the list: it "
                                      f"must lie in (0, 1] pixel units, not {eps:g}.")
                return None
        return self.run_transfer(chosen, form.attack(), eps, form.settings(), int(self.panel.samples.value()))

    def run_transfer(self, models: list[ModelEntry], attack: str, eps: float | None, settings: dict,
                     n: int) -> int | None:
        """Start a transfer matrix; returns its generation, or None when it could not start."""
        if self.panel.running:
            return None
        problem = self.data_problem()
        if problem is not None:
            self._data_error(problem)
            return None
        self.panel.show_data_error(None)
        req = TransferRequest(tuple(models), attack, eps, dict(settings), int(n), self.ctx.data_folder(),
                              threading.Event())
        self._lab_request = req
        self.panel.set_running(True)
        self.panel.detail_tabs.setCurrentWidget(self.panel.transfer_view)
        gen = self.submit(TRANSFER_KIND, req)
        self.ctx.show_tab("robustness")
        return gen

    def _finish_transfer(self, value: TransferResult | LabCancelled) -> None:
        self._lab_request = None
        self.panel.set_running(False)
        if isinstance(value, TransferResult):
            self.panel.transfer_view.show_result(value)
            self.panel.detail_tabs.setCurrentWidget(self.panel.transfer_view)
            self.panel.runner.finished(value.seconds)
        else:
            self.panel.eta.setText(f"Cancelled after {value.done}/{value.total} image-attacks; the transfer matrix "
                                   "was not changed.")
        self.transferFinished.emit(value)

    @Slot(object, str, object, int)
    def run_curve(self, entry: ModelEntry, attack: str, eps: list, n: int) -> None:
        """One untargeted curve of `attack` on `entry` (the lesson's "run a curve", wired by the window): the form
        is filled with it first (attack, ε list, sample count, only that model ticked) and the run takes what the
        form then shows, so what the student reads in the form is what ran; nothing while a run is going."""
        if self.panel.running:
            return
        self.panel.show_run(attack, eps, n)
        self._checked = {entry.key}
        self.panel.set_models(self.ctx.models.entries(), self._checked)
        form = self.panel.form
        self.run_lab([LabSpec(entry, form.attack(), form.settings())], self.panel.eps(),
                     int(self.panel.samples.value()), form.target_class())

    @Slot()
    def cancel_lab(self) -> None:
        if self._lab_request is not None:
            self._lab_request.cancel.set()
            self.panel.eta.setText("Cancelling…")

    def _data_error(self, message: str) -> None:
        self.panel.show_data_error(message)
        self.ctx.report_error("Cannot read MNIST", message)
        self.labFailed.emit(message)

    def _finish_lab(self, value: LabResult | LabCancelled) -> None:
        self._lab_request = None
        self.panel.set_running(False)
        if isinstance(value, LabResult):
            self.panel.add_curves(value.curves)
            self.panel.runner.finished(value.seconds)
        else:
            self.panel.eta.setText(f"Cancelled after {value.done}/{value.total} image-attacks; nothing was added.")
        self.labFinished.emit(value)


    # ------------------------------------------------------------------ exports
    @Slot(str)
    def ask_export(self, kind: str) -> None:
        if not self.panel.curves and (self.panel.transfer_view.result is None or kind == "png"):
            self.ctx.report_error("Nothing to export", "Run the lab first: there are no curves yet.")
            return
        path, _ = QFileDialog.getSaveFileName(self.ctx.parent_widget, f"Export {kind.upper()}",
                                              str(Path(self.ctx.last_dir()) / f"robustness.{kind}"), FILTERS[kind])
        if path:
            self.ctx.remember_dir(path)
            self.export(kind, path)

    def export(self, kind: str, path: str | Path) -> Path | None:
        """The curves to `path` and, for CSV and JSON, the transfer matrix beside it (`<name>-transfer.csv`), or
        to `path` itself when there are no curves."""
        from advstudio.gui.features.lab.export import write_export
        from advstudio.gui.features.lab.transfer_export import beside, write_transfer_export

        matrix = self.panel.transfer_view.result if kind in ("csv", "json") else None
        written = []
        try:
            if self.panel.curves or matrix is None:
                written.append(write_export(kind, path, list(self.panel.curves), self.panel.figure))
            if matrix is not None:
                written.append(write_transfer_export(kind, beside(path) if written else path, matrix))
        except OSError as exc:
            self.ctx.report_error("Could not export", f"{path}: {exc.strerror or exc}")
            return None
        self.ctx.status("Wrote " + " and ".join(str(p) for p in written), 6000)
        return written[0]

    # ------------------------------------------------------------------ worker traffic
    def on_reply(self, kind: str, value: LabResult | TransferResult | LabCancelled) -> None:
        if kind == TRANSFER_KIND:
            self._finish_transfer(value)
        else:
            self._finish_lab(value)

    def on_progress(self, kind: str, value: LabProgress) -> None:
        self.panel.set_progress(value)
        self.labProgress.emit(value)

    def on_failure(self, failure: Failure) -> None:
        self._lab_request = None
        self.panel.set_running(False)
        self.panel.eta.setText("")
        if failure.error == "dataset":
            self._data_error(failure.message)
        else:
            self.ctx.report_error("The robustness lab failed", failure.message)
            self.labFailed.emit(failure.message)
