"""The Training tab's controller: builds a TrainRequest from the panel, runs it as the worker's "train" job (its
own network of the chosen architecture; drawing stays live between batches), shows progress, adds the saved model to the app's model
registry and offers it as the studio's current model; a distilled student goes to the Defenses tab through the
evaluateDistilled signal (wired by the window)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QFileDialog

from advstudio.gui.features.training.jobs import TRAIN_KIND, register_training
from advstudio.gui.features.training.messages import (
    DISTILLATION,
    NO_CHECKPOINT_NOTE,
    TrainCancelled,
    TrainProblem,
    TrainProgress,
    TrainRequest,
    TrainResult,
    checkpoint_path,
    default_output,
    read_checkpoint_info,
)
from advstudio.gui.features.training.view import TrainingPanel
from advstudio.gui.job_client import JobClient
from advstudio.gui.worker import Failure

if TYPE_CHECKING:
    from advstudio.gui.context import AppContext


class TrainingStudio(JobClient):
    trainingProgress = Signal(object)  # TrainProgress
    trainingFinished = Signal(object)  # TrainResult, TrainCancelled or TrainProblem
    trainingFailed = Signal(str)
    evaluateDistilled = Signal(str, float)  # a distilled student's file, and T (0: from the file's metadata)

    def __init__(self, ctx: "AppContext") -> None:
        super().__init__(ctx, (TRAIN_KIND,))
        self.panel = TrainingPanel()
        ctx.add_tab("training", "Training", self.panel)
        if not ctx.worker.has_kind(TRAIN_KIND):
            register_training(ctx.worker)
        self._request: TrainRequest | None = None
        self.result: TrainResult | None = None
        self._output_edited = False
        self.panel.output.setText(str(default_output(None)))
        self.panel.output.textEdited.connect(self._on_output_typed)
        self.panel.outputEdited.connect(self._on_output_changed)
        self.panel.startRequested.connect(self.start)
        self.panel.cancelRequested.connect(self.cancel)
        self.panel.useModelRequested.connect(self.use_as_current)
        self.panel.evaluateDefenseRequested.connect(self.evaluate_in_defenses)
        self.panel.browseRequested.connect(self._browse)
        self.panel.chooseFolderRequested.connect(self._choose_folder)
        self.refresh_checkpoint()

    @property
    def running(self) -> bool:
        return self._request is not None

    # ------------------------------------------------------------------ output file and checkpoint
    @Slot(str)
    def _on_output_typed(self, _text: str) -> None:
        self._output_edited = True

    @Slot()
    def _on_output_changed(self) -> None:
        if not self._output_edited:  # follow the method until the user picks a file
            self.panel.output.setText(str(default_output(self.panel.method_key(), self.panel.architecture())))
        self.refresh_checkpoint()

    def set_output(self, path: str | Path) -> None:
        self._output_edited = True
        self.panel.output.setText(str(path))
        self.refresh_checkpoint()

    def checkpoint(self) -> Path | None:
        out = self.panel.output_path()
        return checkpoint_path(out) if out else None

    def refresh_checkpoint(self) -> None:
        """Say where the checkpoint goes and what it holds; Resume is offered only when there is one."""
        ckpt = self.checkpoint()
        if ckpt is None:
            self.panel.set_checkpoint_text("Choose an output file.")
            self.panel.resume.setChecked(False)
            self.panel.resume.setEnabled(False)
            return
        if self.panel.method_key() == DISTILLATION:
            self.panel.set_checkpoint_text(NO_CHECKPOINT_NOTE)
            self.panel.set_resume_available(False, NO_CHECKPOINT_NOTE)
            return
        self.panel.set_resume_available(True)
        try:
            info = read_checkpoint_info(ckpt)
        except ValueError as exc:
            info, text = None, f"Checkpoint {ckpt.name}: {exc}; starting afresh overwrites it."
        else:
            if info is None:
                text = f"Checkpoint after every epoch: {ckpt.name} (none yet)."
            else:
                total = info.get("config", {}).get("epochs", "?")
                text = f"Checkpoint {ckpt.name}: epoch {info['epoch']} of {total} finished."
        self.panel.set_checkpoint_text(text, str(ckpt))
        self.panel.resume.setEnabled(info is not None and not self.running)
        if info is None:
            self.panel.resume.setChecked(False)

    @Slot()
    def _browse(self) -> None:
        from advstudio.gui.dialogs import MODEL_FILTER

        start = self.panel.output_path() or str(default_output(self.panel.method_key(), self.panel.architecture()))
        path, _ = QFileDialog.getSaveFileName(self.ctx.parent_widget, "Save the trained model as", start, MODEL_FILTER)
        if path:
            if Path(path).suffix != ".safetensors":
                path = str(Path(path).with_suffix(".safetensors"))
            self.set_output(path)

    # ------------------------------------------------------------------ dataset
    def data_problem(self) -> str | None:
        """A readable reason MNIST (train and test) cannot be read, or None when the folder looks usable."""
        return self.ctx.data_problem(("train", "test"), unset_note=", and training needs it",
                             missing_note="; training needs both splits")

    # ------------------------------------------------------------------ running
    @Slot()
    def start(self) -> int | None:
        """Start training with the panel's settings; returns the job's generation, or None (with a message)."""
        if self.running or self.worker is None:
            return None
        try:
            config = self.panel.config()
        except ValueError as exc:
            self.panel.show_problem(f"Check the settings: {exc}")
            return None
        out = self.panel.output_path()
        if not out:
            self.panel.show_problem("Choose an output file first.")
            return None
        if Path(out).suffix != ".safetensors":
            out = str(Path(out).with_suffix(".safetensors"))
            self.panel.output.setText(out)
        problem = self.data_problem()
        if problem is not None:
            self.panel.show_data_error(problem)
            self.panel.show_problem("Cannot train: the MNIST dataset was not found (see below).")
            self.trainingFailed.emit(problem)
            return None
        self.panel.show_data_error(None)
        temperature = self.panel.temperature_value()
        resume = self.panel.resume.isChecked() and self.panel.resume.isEnabled() and temperature is None
        req = TrainRequest(config, self.ctx.data_folder(), out, str(checkpoint_path(out)),
                           resume, temperature, architecture=self.panel.architecture())
        self._request = req
        self.result = None
        self.panel.begin(config, temperature)
        self.panel.set_running(True)
        self.panel.status.setText("Training runs in the background: drawing and attacking stay live.")
        return self.submit(TRAIN_KIND, req)

    @Slot()
    def cancel(self) -> None:
        if self._request is not None:
            self._request.cancel.set()
            self.panel.eta.setText("Cancelling after this batch…")

    @Slot()
    def use_as_current(self) -> None:
        if self.result is not None:
            self.ctx.request_model(self.result.path)

    @Slot()
    def evaluate_in_defenses(self) -> None:
        """Hand the distilled student to the Defenses tab: its distillation defense with this file, T from the
        file's metadata (nothing runs until the user presses Run there)."""
        if self.result is None or self.result.temperature is None:
            return
        self.evaluateDistilled.emit(self.result.path, 0.0)  # T 0: "from the file"
        self.ctx.show_tab("defenses")

    def _finish(self, value) -> None:
        self._request = None
        if isinstance(value, TrainResult):
            self.result = value
            self.panel.show_result(value)
            self.ctx.models.add_file(value.path)  # the labs, the comparison and the defenses offer it
            self.ctx.status(f"Trained model saved: {value.path}", 8000)
        elif isinstance(value, TrainCancelled):
            self.panel.show_cancelled(value)
        elif isinstance(value, TrainProblem):
            self.panel.show_problem(value.message)
            if value.data:
                self.panel.show_data_error(value.message)
        if isinstance(value, (TrainResult, TrainCancelled)):
            self.panel.resume.setChecked(False)  # done: the next Start is a fresh run unless ticked again
        self.refresh_checkpoint()
        self.trainingFinished.emit(value)

    # ------------------------------------------------------------------ worker traffic
    def on_reply(self, kind: str, value) -> None:
        self._finish(value)

    def on_progress(self, kind: str, value: TrainProgress) -> None:
        self.panel.set_progress(value)
        if value.progress is not None and value.progress.batch == value.progress.batches:
            self.refresh_checkpoint()
        self.trainingProgress.emit(value)

    def on_failure(self, failure: Failure) -> None:
        self._request = None
        self.panel.show_problem("Training failed: " + failure.message)
        self.refresh_checkpoint()
        self.ctx.report_error("Training failed", failure.message)
        self.trainingFailed.emit(failure.message)
