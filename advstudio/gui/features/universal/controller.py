"""The "Patch & universal" tab's controller: trains, measures, loads and saves an adversarial patch and a universal
perturbation on the worker (jobs.py), and keeps the last of each, so the student's drawing is shown with them
whenever it changes: the patch pasted where the student dragged it, v added when ticked, each classified on the
worker (newest request wins). A model change marks them "made for another model" (they still apply: transfer).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import QFileDialog

from advstudio.gui.context import AppContext
from advstudio.gui.features.universal.jobs import register_universal
from advstudio.gui.features.universal.messages import (
    KINDS,
    PATCH_FILE,
    PATCH_VIEW,
    PATCH_WORK,
    SWEEP_EPS,
    SWEEP_SIDES,
    UNIVERSAL_FILE,
    UNIVERSAL_VIEW,
    UNIVERSAL_WORK,
    FileRequest,
    FileResult,
    PatchData,
    PatchRateRequest,
    PatchRateResult,
    PatchSweepRequest,
    PatchSweepResult,
    PatchTrainRequest,
    UniversalData,
    UniversalRequest,
    UniversalSweepRequest,
    UniversalSweepResult,
    ViewRequest,
    ViewResult,
    WorkCancelled,
    WorkProgress,
    add_universal,
    has_ink,
    paste,
)
from advstudio.gui.features.universal.patch_view import model_note
from advstudio.gui.features.universal.view import PatchUniversalPanel
from advstudio.gui.job_client import JobClient
from advstudio.gui.models import ModelInfo
from advstudio.gui.worker import Failure

FILTER = "Adversarial Studio files (*.safetensors);;All files (*)"
CANCELLED = {"train": "Training cancelled after {done} of {total} steps; the previous patch is kept.",
             "rate": "Measuring cancelled.",
             "sweep": "Cancelled after {done} of {total}; nothing was plotted.",
             "compute": "Cancelled after {done} of {total} passes; the previous perturbation is kept."}
VIEW_MS = 15  # the drag's newest position is sent at most this often (≤ 60 Hz)


class PatchUniversal(JobClient):
    patchShown = Signal(object)  # PatchData now on the drawing
    universalShown = Signal(object)  # UniversalData now shown
    workFinished = Signal(str, object)  # kind, the job's result (or WorkCancelled)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx, KINDS)
        register_universal(ctx.worker)
        self.panel = PatchUniversalPanel()
        ctx.add_tab("universal", "Patch && universal", self.panel)  # "&&": a lone & is a shortcut mark
        self.patch: PatchData | None = None
        self.universal: UniversalData | None = None
        self.made_for: dict[str, tuple[str, str | None]] = {}  # kind → (model name, path) it was made for
        self.drawing: np.ndarray | None = None
        self.sent: dict[str, ViewRequest] = {}  # the newest image sent to be classified, per view kind
        self._requests: dict[str, object] = {}  # the long job on its way, per work kind
        self._file_busy: set[str] = set()
        self._work_for: dict[str, tuple[str, str | None]] = {}  # the model each long job on its way works on
        self._timers = {PATCH_VIEW: self._timer(self._send_patch_view),
                        UNIVERSAL_VIEW: self._timer(self._send_universal_view)}
        p, u = self.panel.patch, self.panel.universal
        p.trainRequested.connect(self.train_patch)
        p.cancelRequested.connect(self.cancel_patch)
        p.rateRequested.connect(self.measure_patch)
        p.sweepRequested.connect(self.sweep_patch)
        p.loadRequested.connect(self.ask_load_patch)
        p.saveRequested.connect(self.ask_save_patch)
        p.patchMoved.connect(self._on_patch_moved)
        u.computeRequested.connect(self.compute_universal)
        u.cancelRequested.connect(self.cancel_universal)
        u.sweepRequested.connect(self.sweep_universal)
        u.loadRequested.connect(self.ask_load_universal)
        u.saveRequested.connect(self.ask_save_universal)
        u.addToggled.connect(self._on_add_toggled)
        for half in (p, u):
            half.chooseFolderRequested.connect(self._choose_folder)
        ctx.inputChanged.connect(self._on_input)
        ctx.modelReady.connect(self._on_model)
        self._on_input(ctx.current_input)
        if ctx.model_info is not None:
            self.panel.set_classes(ctx.model_info.classes)

    # ------------------------------------------------------------------ shared checks
    def data_problem(self) -> str | None:
        return self.ctx.data_problem(("train", "test"), unset_note=", and these attacks learn from its digits",
                                     missing_note="; the patch and v are made on training digits and tested on "
                                                  "test digits")

    def _can_start(self, half) -> bool:
        """False (with the reason in the half, where the student looks) when no model or no MNIST is there."""
        if self.ctx.model_info is None:
            half.eta.setText("Wait for the model to load, then try again.")
            return False
        problem = self.data_problem()
        self.panel.show_data_error(problem)
        if problem is not None:
            half.eta.setText("Cannot start: the MNIST dataset was not found (see below).")
            self.ctx.report_error("Cannot read MNIST", problem)
            return False
        return True

    def _timer(self, slot) -> QTimer:
        t = QTimer(self)
        t.setSingleShot(True)
        t.setInterval(VIEW_MS)
        t.timeout.connect(slot)
        return t

    def _start(self, kind: str, half, req) -> int:
        self._requests[kind] = req
        self._work_for[kind] = self._model_key()
        half.set_running(True)
        half.show_file_message(None)
        return self.submit(kind, req)

    def _model_key(self) -> tuple[str, str | None]:
        info = self.ctx.model_info
        return (info.name, info.path) if info is not None else ("", None)

    def _other_model(self, kind: str) -> str | None:
        """The current model's name when the patch (kind PATCH_WORK) or v was made for another one, else None."""
        info, made = self.ctx.model_info, self.made_for.get(kind)
        if info is None or made is None:
            return None
        name, path = made
        same = (path == info.path and name == info.name) if path is not None else name == info.name
        return None if same else info.name

    # ------------------------------------------------------------------ the patch
    @Slot()
    def train_patch(self) -> int | None:
        half = self.panel.patch
        if half.running or not self._can_start(half):
            return None
        s = half.settings()
        req = PatchTrainRequest(self.ctx.data_folder(), s["target"], s["side"], s["steps"], s["images"],
                                threading.Event(), model=self.ctx.model_info.name)
        return self._start(PATCH_WORK, half, req)

    @Slot()
    def measure_patch(self) -> int | None:
        half = self.panel.patch
        if self.patch is None:
            half.eta.setText("Train or load a patch first.")
            return None
        if half.running or not self._can_start(half):
            return None
        req = PatchRateRequest(self.ctx.data_folder(), self.patch, tuple(half.position), half.settings()["n"],
                               threading.Event())
        return self._start(PATCH_WORK, half, req)

    @Slot()
    def sweep_patch(self, sides: tuple[int, ...] = SWEEP_SIDES) -> int | None:
        half = self.panel.patch
        if half.running or not self._can_start(half):
            return None
        s = half.settings()
        req = PatchSweepRequest(self.ctx.data_folder(), s["target"], tuple(sides), s["steps"], s["images"], s["n"],
                                threading.Event())
        return self._start(PATCH_WORK, half, req)

    @Slot()
    def cancel_patch(self) -> None:
        self._cancel(PATCH_WORK, self.panel.patch)

    def _cancel(self, kind: str, half) -> None:
        req = self._requests.get(kind)
        if req is not None:
            req.cancel.set()
            half.eta.setText("Cancelling…")

    def set_patch(self, patch: PatchData, made_for: tuple[str, str | None], keep_place: bool = False) -> None:
        self.patch = patch
        self.made_for[PATCH_WORK] = made_for
        self.panel.patch.set_patch(patch, keep_place)
        self._show_model_notes()
        self._schedule(PATCH_VIEW)
        self.patchShown.emit(patch)

    @Slot(int, int)
    def _on_patch_moved(self, _row: int, _col: int) -> None:
        self._schedule(PATCH_VIEW)

    def patched_image(self) -> np.ndarray | None:
        """The drawing with the patch pasted where it is now (numpy, on this thread), or None."""
        if self.patch is None or not has_ink(self.drawing):
            return None
        row, col = self.panel.patch.position
        return paste(self.drawing, self.patch.patch, row, col)

    @Slot()
    def _send_patch_view(self) -> None:
        if not has_ink(self.drawing):
            return
        image = self.patched_image()
        position = tuple(self.panel.patch.position) if image is not None else None
        self._send(PATCH_VIEW, ViewRequest(self.drawing.copy() if image is None else image, self.drawing.copy(),
                                           position))

    # ------------------------------------------------------------------ the universal perturbation
    @Slot()
    def compute_universal(self) -> int | None:
        half = self.panel.universal
        if half.running or not self._can_start(half):
            return None
        s = half.settings()
        req = UniversalRequest(self.ctx.data_folder(), s["eps"], s["method"], s["images"], s["passes"], s["n"],
                               threading.Event(), model=self.ctx.model_info.name)
        return self._start(UNIVERSAL_WORK, half, req)

    @Slot()
    def sweep_universal(self, eps: tuple[float, ...] = SWEEP_EPS) -> int | None:
        half = self.panel.universal
        if half.running or not self._can_start(half):
            return None
        s = half.settings()
        req = UniversalSweepRequest(self.ctx.data_folder(), tuple(eps), s["method"], s["images"], s["passes"],
                                    s["n"], threading.Event())
        return self._start(UNIVERSAL_WORK, half, req)

    @Slot()
    def cancel_universal(self) -> None:
        self._cancel(UNIVERSAL_WORK, self.panel.universal)

    def set_universal(self, data: UniversalData, made_for: tuple[str, str | None]) -> None:
        self.universal = data
        self.made_for[UNIVERSAL_WORK] = made_for
        self.panel.universal.set_data(data)
        self._show_model_notes()
        self._show_universal_drawing()
        self.universalShown.emit(data)

    @Slot(bool)
    def _on_add_toggled(self, _on: bool) -> None:
        self._show_universal_drawing()

    def universal_image(self) -> np.ndarray | None:
        """drawing + v when "Add it to my drawing" is ticked (and both are there), else None."""
        if self.universal is None or not has_ink(self.drawing) or not self.panel.universal.add_box.isChecked():
            return None
        return add_universal(self.drawing, self.universal.v)

    def _show_universal_drawing(self) -> None:
        self.panel.universal.show_drawing(self.drawing, self.universal_image())
        self._schedule(UNIVERSAL_VIEW)

    @Slot()
    def _send_universal_view(self) -> None:
        if not has_ink(self.drawing):
            return
        image = self.universal_image()
        self._send(UNIVERSAL_VIEW, ViewRequest(self.drawing.copy() if image is None else image, self.drawing.copy()))

    # ------------------------------------------------------------------ the drawing and the model
    def _schedule(self, kind: str) -> None:
        if not self._timers[kind].isActive():
            self._timers[kind].start()

    def _send(self, kind: str, req: ViewRequest) -> None:
        if self.ctx.model_info is None:
            return  # the model's arrival (modelReady) sends it again
        self.sent[kind] = req
        self.submit(kind, req, keep_stale=True)  # answers during a drag are shown as they come, in order

    @Slot(object)
    def _on_input(self, cur: object) -> None:
        self.drawing = np.asarray(cur, np.float32).reshape(28, 28).copy() if isinstance(cur, np.ndarray) else None
        self.panel.patch.show_drawing(self.drawing)
        self._schedule(PATCH_VIEW)
        self._show_universal_drawing()

    @Slot(object)
    def _on_model(self, info: ModelInfo) -> None:
        self.panel.set_classes(info.classes)  # the target, the bars and the words follow its classes
        self._show_model_notes()
        self._schedule(PATCH_VIEW)
        self._schedule(UNIVERSAL_VIEW)

    def _show_model_notes(self) -> None:
        for kind, half, data in ((PATCH_WORK, self.panel.patch, self.patch),
                                 (UNIVERSAL_WORK, self.panel.universal, self.universal)):
            other = self._other_model(kind) if data is not None else None
            half.show_model_note(model_note(data.model if data is not None else "", other))

    # ------------------------------------------------------------------ files
    @Slot()
    def ask_load_patch(self) -> None:
        self._ask(PATCH_FILE, "Load an adversarial patch", None)

    @Slot()
    def ask_save_patch(self) -> None:
        if self.patch is not None:
            self._ask(PATCH_FILE, "Save the patch", f"patch-to-{self.patch.target}-{self.patch.side}px.safetensors")

    @Slot()
    def ask_load_universal(self) -> None:
        self._ask(UNIVERSAL_FILE, "Load a universal perturbation", None)

    @Slot()
    def ask_save_universal(self) -> None:
        if self.universal is not None:
            self._ask(UNIVERSAL_FILE, "Save the universal perturbation", f"universal-eps{self.universal.eps:g}.safetensors")

    def _ask(self, kind: str, title: str, save_as: str | None) -> None:
        """A file dialog (open, or save under a suggested name), starting in the last folder used."""
        if save_as is None:
            path, _ = QFileDialog.getOpenFileName(self.ctx.parent_widget, title, self.ctx.last_dir(), FILTER)
        else:
            start = str(Path(self.ctx.last_dir()) / save_as)
            path, _ = QFileDialog.getSaveFileName(self.ctx.parent_widget, title, start, FILTER)
        if not path:
            return
        self.ctx.remember_dir(path)
        (self.load if save_as is None else self.save)(kind, path)

    def load(self, kind: str, path: str | Path) -> int | None:
        """Read a patch (kind PATCH_FILE) or a perturbation (UNIVERSAL_FILE) on the worker; a file that is not
        one leaves the one on screen and says why in its half."""
        return self._file(kind, FileRequest("load", str(path)))

    def save(self, kind: str, path: str | Path) -> int | None:
        data = self.patch if kind == PATCH_FILE else self.universal
        if data is None:
            self._half(kind).show_file_message("Nothing to save yet: make or load one first.")
            return None
        return self._file(kind, FileRequest("save", str(path), data))

    def _half(self, kind: str):
        return self.panel.patch if kind in (PATCH_WORK, PATCH_VIEW, PATCH_FILE) else self.panel.universal

    def _file(self, kind: str, req: FileRequest) -> int | None:
        if kind in self._file_busy:
            return None  # one file at a time: a second would take the first's place in the worker's mailbox
        half = self._half(kind)
        half.show_file_message(None)
        self._file_busy.add(kind)
        half.load_button.setEnabled(False)
        half.save_button.setEnabled(False)
        return self.submit(kind, req)

    def _file_done(self, kind: str) -> None:
        self._file_busy.discard(kind)
        half = self._half(kind)
        half.set_running(half.running)  # Load and Save back as the running state has them

    def _file_result(self, kind: str, r: FileResult) -> None:
        self._file_done(kind)
        half = self._half(kind)
        name = Path(r.path).name
        if r.action == "save":
            half.eta.setText(f"Saved as {name}.")
            self.ctx.status(f"Saved {r.path}", 6000)
            return
        if kind == PATCH_FILE:
            self.set_patch(r.data, (r.data.model, None))
        else:
            self.set_universal(r.data, (r.data.model, None))
        half.eta.setText(f"Loaded {name}.")

    # ------------------------------------------------------------------ worker traffic
    def on_reply(self, kind: str, value) -> None:
        if kind in (PATCH_FILE, UNIVERSAL_FILE):
            self._file_result(kind, value)
        elif kind in (PATCH_VIEW, UNIVERSAL_VIEW):
            self._view_result(kind, value)
        else:
            self._work_done(kind, value)

    def _view_result(self, kind: str, r: ViewResult) -> None:
        """The drawing's answer, unless the drawing has changed since (its own answer is on the way). During a
        drag the patch's answers for the positions passed are shown as they come; v's only for what is on screen."""
        if self.drawing is None or not np.array_equal(r.clean, self.drawing):
            return
        if kind == PATCH_VIEW:
            self.panel.patch.show_view(r)
            return
        with_v = self.universal_image()
        if np.array_equal(r.image, with_v if with_v is not None else self.drawing):
            self.panel.universal.show_view(r, with_v is not None)

    def _work_done(self, kind: str, value) -> None:
        half = self._half(kind)
        self._requests.pop(kind, None)
        half.set_running(False)
        if isinstance(value, WorkCancelled):
            half.progress.setValue(0)
            half.eta.setText(CANCELLED[value.what].format(done=value.done, total=value.total))
        elif isinstance(value, PatchData):
            half.runner.finished(value.seconds)
            self.set_patch(value, self._work_for.get(kind, ("", None)))
        elif isinstance(value, PatchRateResult):
            half.runner.finished(0.0)
            half.eta.setText("Measured on the test set.")
            half.show_rate(value)
        elif isinstance(value, (PatchSweepResult, UniversalSweepResult)):
            half.runner.finished(value.seconds)
            half.show_sweep(value)
        elif isinstance(value, UniversalData):
            half.runner.finished(value.seconds)
            self.set_universal(value, self._work_for.get(kind, ("", None)))
        self.workFinished.emit(kind, value)

    def on_progress(self, kind: str, value) -> None:
        if isinstance(value, WorkProgress) and kind in (PATCH_WORK, UNIVERSAL_WORK):
            self._half(kind).show_progress(value)

    def on_failure(self, failure: Failure) -> None:
        kind = failure.kind
        half = self._half(kind)
        first = failure.message.splitlines()[0] if failure.message else "unknown error"
        if kind in (PATCH_FILE, UNIVERSAL_FILE):
            self._file_done(kind)
            half.show_file_message(failure.message)  # the previous patch or v stays
            self.ctx.status(f"Could not use the file: {first}", 8000)
        elif kind in (PATCH_VIEW, UNIVERSAL_VIEW):
            half.verdict.setText(f"Could not classify the drawing: {first}")
        else:
            self._requests.pop(kind, None)
            half.set_running(False)
            half.progress.setValue(0)
            if failure.error == "dataset":
                half.eta.setText("Cannot read MNIST (see below).")
                half.show_data_error(failure.message)
                self.ctx.report_error("Cannot read MNIST", failure.message)
            else:
                half.eta.setText(f"It failed: {first}")
                self.ctx.report_error("The patch or perturbation failed", failure.message)
            self.workFinished.emit(kind, failure)
