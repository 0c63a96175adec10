"""The attack lab ("Any attack" tab: one input, any attack, its trajectory and norms) and the robustness lab tab
(curves over the test set), with their traffic to the worker.

It submits its own kinds ("input_attack", "lab") and listens to the worker's signals itself, keeping its own
generation numbers, so the window's routing stays untouched. The model registry is a plain list the window
(or a future training panel) adds to with add_model()."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QFileDialog

from advstudio.gui.features.lab.jobs import INPUT_KIND, LAB_KIND, register_lab
from advstudio.gui.features.lab.messages import InputAttackRequest, InputAttackResult, LabCancelled, LabProgress, LabRequest, LabResult, LabSpec
from advstudio.gui.models import ModelEntry
from advstudio.gui.job_client import JobClient
from advstudio.gui.worker import Failure
from advstudio.gui.models import ModelInfo
from advstudio.gui.features.any_attack.view import AttackLabPanel
from advstudio.gui.features.lab.view import RobustnessLabPanel

if TYPE_CHECKING:
    from advstudio.gui.window import MainWindow
    from advstudio.gui.worker import Worker

BUNDLED_KEY = "bundled"
FILTERS = {"csv": "CSV (*.csv)", "json": "JSON (*.json)", "png": "PNG image (*.png)"}


class StudioLab(JobClient):
    inputAttackShown = Signal(object)  # InputAttackResult
    labProgress = Signal(object)  # LabProgress
    labFinished = Signal(object)  # LabResult or LabCancelled
    labFailed = Signal(str)

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window.ctx, (INPUT_KIND, LAB_KIND))
        self.window = window
        from advstudio.core.storage import bundled_model_path, robust_model_path

        self.attack_panel = AttackLabPanel()
        self.panel = RobustnessLabPanel()
        window.add_tab("attack_lab", "Any attack", self.attack_panel)
        window.add_tab("robustness", "Robustness lab", self.panel)
        self.models: list[ModelEntry] = [ModelEntry(BUNDLED_KEY, "bundled model", str(bundled_model_path()))]
        robust = robust_model_path()
        if robust.is_file():
            self.models.append(ModelEntry(str(robust.resolve()), "bundled robust model (PGD-trained)", str(robust)))
        self._checked: set[str] = {BUNDLED_KEY}
        self.panel.set_models(self.models, self._checked)
        self._lab_request: LabRequest | None = None
        self._input_image: np.ndarray | None = None  # the input the norms table belongs to
        self.attack_panel.runRequested.connect(self.run_input_attack)
        self.panel.runRequested.connect(self.run_lab_from_panel)
        self.panel.cancelRequested.connect(self.cancel_lab)
        self.panel.addModelRequested.connect(self.ask_add_model)
        self.panel.exportRequested.connect(self.ask_export)
        self.panel.chooseFolderRequested.connect(self._choose_folder)
        self.panel.fullWidthToggled.connect(self.set_full_width)
        window.sidePanelsHidden.connect(self._on_side_panels_hidden)
        window.canvas.inkChanged.connect(self._on_input_changed)
        window.modelReady.connect(self._on_model)

    def attach(self, worker: "Worker") -> None:
        """Register the lab's job kinds and listen to the worker (called once the window made it)."""
        register_lab(worker)

    # ------------------------------------------------------------------ model registry
    def add_model(self, entry: ModelEntry, checked: bool = True) -> None:
        """Offer a model to the lab (a file, or one trained in this session: see lab_jobs.add_session_model)."""
        self.models = [m for m in self.models if m.key != entry.key] + [entry]
        if checked:
            self._checked.add(entry.key)
        self._checked &= {m.key for m in self.models}
        self._sync_checked()
        self.panel.set_models(self.models, self._checked)

    def add_model_file(self, path: str | Path, checked: bool = True) -> ModelEntry:
        path = Path(path)
        key = str(path.resolve())
        entry = ModelEntry(key, path.stem, str(path))
        self.add_model(entry, checked)
        return entry

    def _sync_checked(self) -> None:
        if self.panel.model_list.count():
            self._checked = set(self.panel.checked_models())

    def ask_add_model(self) -> None:
        from advstudio.gui.dialogs import MODEL_FILTER

        path, _ = QFileDialog.getOpenFileName(self.window, "Add a model to the lab", self.window._last_dir(),
                                              MODEL_FILTER)
        if path:
            self.window._remember_dir(path)
            self.add_model_file(path)

    @Slot(object)
    def _on_model(self, info: ModelInfo) -> None:
        if info.bundled or info.meta.get("defense"):  # a defended wrapper is not a file the lab can load
            return
        key = str(Path(info.path).resolve())
        if all(m.key != key for m in self.models):
            self.add_model(ModelEntry(key, info.name, info.path), checked=False)

    # ------------------------------------------------------------------ one input, any attack
    @Slot()
    def run_input_attack(self) -> int | None:
        w = self.window
        if w.current_input is None:
            w._error("Nothing to attack", "Draw a digit or pick one from the gallery first.")
            return None
        if w.model_info is None or self.worker is None:
            w._error("No model yet", "Wait for the model to load, then run the attack.")
            return None
        form = self.attack_panel.form
        req = InputAttackRequest(w.current_input.copy(), form.attack(), form.settings(), form.target_class())
        gen = self.submit(INPUT_KIND, req)
        self.attack_panel.set_busy(True, "Running…")
        return gen

    @Slot()
    def _on_input_changed(self) -> None:
        cur = self.window.current_input
        if self._input_image is not None and (cur is None or not np.array_equal(cur, self._input_image)):
            self._input_image = None
            self.attack_panel.clear_norms()
            self.attack_panel.set_data(None)
            self.attack_panel.status.setText("New input: choose an attack and Run attack.")

    def _show_input_result(self, result: InputAttackResult) -> None:
        if self._input_image is None or not np.array_equal(self._input_image, result.clean):
            self.attack_panel.clear_norms()
        self._input_image = result.clean.copy()
        self.attack_panel.set_busy(False)
        self.attack_panel.set_data(result)
        self.inputAttackShown.emit(result)

    # ------------------------------------------------------------------ robustness lab
    def data_problem(self) -> str | None:
        """A readable reason the MNIST test set cannot be read, or None when the folder looks usable."""
        return self.ctx.data_problem(("test",))

    @Slot()
    def run_lab_from_panel(self) -> int | None:
        try:
            eps = self.panel.eps()
        except ValueError as exc:
            self.window._error("Check the ε list", str(exc))
            return None
        self._sync_checked()
        chosen = [m for m in self.models if m.key in self._checked]
        if not chosen:
            self.window._error("No model chosen", "Tick at least one model in the list.")
            return None
        form = self.panel.form
        specs = [LabSpec(m, form.attack(), form.settings()) for m in chosen]
        return self.run_lab(specs, eps, int(self.panel.samples.value()), form.target_class())

    def run_lab(self, specs: list[LabSpec], eps: list[float], n: int, target: int | None = None) -> int | None:
        """Start a run (one curve per spec); returns its generation, or None when it could not start."""
        if self.panel.running or self.worker is None:
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
        self.window.tabs.setCurrentWidget(self.panel)
        return gen

    @Slot(object, str, object, int)
    def run_curve(self, entry: ModelEntry, attack: str, eps: list, n: int) -> None:
        """One curve of `attack` (default settings) on `entry`, the panel showing that attack and sample count
        (the lesson's "run a curve", wired by the window); nothing while a run is going."""
        if self.panel.running:
            return
        self.panel.samples.setValue(int(n))
        self.panel.form.set_attack(attack)
        self.run_lab([LabSpec(entry, attack, {})], list(eps), int(n))

    @Slot()
    def cancel_lab(self) -> None:
        if self._lab_request is not None:
            self._lab_request.cancel.set()
            self.panel.eta.setText("Cancelling…")

    def _data_error(self, message: str) -> None:
        self.panel.show_data_error(message)
        self.window._error("Cannot read MNIST", message)
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

    @Slot(bool)
    def set_full_width(self, on: bool) -> None:
        """Give the lab the whole window: the window's View ▸ Hide side panels, which the button mirrors."""
        self.window.hide_side_panels(on)

    @Slot(bool)
    def _on_side_panels_hidden(self, on: bool) -> None:
        button = self.panel.full_width
        if button.isChecked() != on:
            button.setChecked(on)  # its toggled signal asks the window again: a no-op, the state already matches

    # ------------------------------------------------------------------ exports
    def ask_export(self, kind: str) -> None:
        if not self.panel.curves:
            self.window._error("Nothing to export", "Run the lab first: there are no curves yet.")
            return
        path, _ = QFileDialog.getSaveFileName(self.window, f"Export {kind.upper()}",
                                              str(Path(self.window._last_dir()) / f"robustness.{kind}"), FILTERS[kind])
        if path:
            self.window._remember_dir(path)
            self.export(kind, path)

    def export(self, kind: str, path: str | Path) -> Path | None:
        from advstudio.gui.features.lab.export import write_export

        try:
            out = write_export(kind, path, list(self.panel.curves), self.panel.plot)
        except OSError as exc:
            self.window._error("Could not export", f"{path}: {exc.strerror or exc}")
            return None
        self.window.statusBar().showMessage(f"Wrote {out}", 6000)
        return out

    # ------------------------------------------------------------------ worker traffic
    def on_reply(self, kind: str, value) -> None:
        if kind == INPUT_KIND:
            self._show_input_result(value)
        elif kind == LAB_KIND:
            self._finish_lab(value)

    def on_progress(self, kind: str, value: LabProgress) -> None:
        if kind == LAB_KIND:
            self.panel.set_progress(value)
            self.labProgress.emit(value)

    def on_failure(self, failure: Failure) -> None:
        if failure.kind == INPUT_KIND:
            self.attack_panel.set_busy(False, "The attack failed: " + failure.message.splitlines()[0])
            self.window._error("The attack failed", failure.message)
        elif failure.kind == LAB_KIND:
            self._lab_request = None
            self.panel.set_running(False)
            self.panel.eta.setText("")
            if "MNIST" in failure.message:
                self._data_error(failure.message)
            else:
                self.window._error("The robustness lab failed", failure.message)
                self.labFailed.emit(failure.message)
