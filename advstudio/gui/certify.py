"""The "Certify & detect" tab's controller: randomized smoothing on the current input and over the test set, and
the activation-statistics detector against FGSM, PGD and the detector-aware PGD.

Like gui/lab.py it submits its own kinds ("certify_input", "certify_curve", "detect"), keeps its own generation
numbers and listens to the worker's signals itself; the jobs use the worker's current model."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from .certify_jobs import (CERTIFY_CURVE_KIND, CERTIFY_INPUT_KIND, DETECT_KIND, CertifyCancelled, CertifyCurveRequest,
                           CertifyInputRequest, DetectRequest, register_certify)
from .messages import Failure, Reply
from .panels.certify_panel import CertifyPanel

if TYPE_CHECKING:
    from .main_window import MainWindow
    from .worker import Worker

EMPTY_CANVAS = "Draw a digit first: the canvas is empty."


class CertifyStudio(QObject):
    inputCertified = Signal(object)  # CertifyInputResult
    curveFinished = Signal(object)  # CertifyCurveResult or CertifyCancelled
    detectFinished = Signal(object)  # DetectResult or CertifyCancelled
    failedMessage = Signal(str)
    progressShown = Signal(str, object)  # kind, CertifyProgress

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self.panel = CertifyPanel()
        window.add_tab("certify", "Certify && detect", self.panel)
        self.worker: "Worker | None" = None
        self._gen = {CERTIFY_INPUT_KIND: -1, CERTIFY_CURVE_KIND: -1, DETECT_KIND: -1}
        self._curve_request: CertifyCurveRequest | None = None
        self._detect_request: DetectRequest | None = None
        self.panel.certifyRequested.connect(self.certify_input)
        self.panel.curveRequested.connect(self.run_curve)
        self.panel.curveCancelRequested.connect(self.cancel_curve)
        self.panel.detectRequested.connect(self.run_detect)
        self.panel.detectCancelRequested.connect(self.cancel_detect)
        self.panel.chooseFolderRequested.connect(self._choose_folder)
        window.canvas.inkChanged.connect(self._on_input_changed)

    def attach(self, worker: "Worker") -> None:
        self.worker = worker
        register_certify(worker)
        worker.replied.connect(self._on_reply)
        worker.failed.connect(self._on_failure)
        worker.progress.connect(self._on_progress)

    def _model_name(self) -> str:
        info = self.window.model_info
        return info.name if info is not None else "the current model"

    def _ready(self) -> bool:
        if self.window.model_info is None or self.worker is None:
            self.window._error("No model yet", "Wait for the model to load, then try again.")
            return False
        return True

    # ------------------------------------------------------------------ the input's certificate
    @Slot()
    def certify_input(self) -> int | None:
        image = self.window.current_input
        if image is None or not np.any(image > 0):
            self.panel.show_input_message(EMPTY_CANVAS)
            return None
        if not self._ready():
            return None
        self.panel.set_input_shape(image.shape)
        req = CertifyInputRequest(np.ascontiguousarray(image, dtype=np.float32).copy(), self.panel.smoothing())
        gen = self.worker.submit(CERTIFY_INPUT_KIND, req)
        self._gen[CERTIFY_INPUT_KIND] = gen
        self.panel.show_input_message(f"Certifying with {req.settings.describe()}…")
        return gen

    @Slot()
    def _on_input_changed(self) -> None:
        c = self.panel.certificate
        cur = self.window.current_input
        if c is not None and (cur is None or not np.array_equal(cur, c.image)):
            self._gen[CERTIFY_INPUT_KIND] = -1
            self.panel.show_input_message("New input: Certify this input again.")

    # ------------------------------------------------------------------ data
    def data_problem(self) -> str | None:
        """A readable reason there is no MNIST folder to read, or None (the worker reports unreadable files)."""
        from advstudio.core.data import HOW_TO_GET, resolve_data_dir

        folder = resolve_data_dir(self.window.data_dir)
        if folder is None:
            return f"No MNIST folder is set. {HOW_TO_GET}"
        if not folder.is_dir():
            return f"The MNIST folder {folder} does not exist. {HOW_TO_GET}"
        return None

    def _data_dir(self) -> str | None:
        problem = self.data_problem()
        if problem is not None:
            self._data_error(problem)
            return None
        self.panel.data_message.hide()
        from advstudio.core.data import resolve_data_dir

        return str(resolve_data_dir(self.window.data_dir))

    def _data_error(self, message: str) -> None:
        self.panel.data_text.setText(message)
        self.panel.data_message.show()
        self.window._error("Cannot read MNIST", message)
        self.failedMessage.emit(message)

    @Slot()
    def _choose_folder(self) -> None:
        self.window.ask_data_dir()
        if self.data_problem() is None:
            self.panel.data_message.hide()

    # ------------------------------------------------------------------ the curve
    @Slot()
    def run_curve(self, samples: int | None = None) -> int | None:
        if self.panel.curve_runner.running or not self._ready():
            return None
        folder = self._data_dir()
        if folder is None:
            return None
        n = int(samples if samples is not None else self.panel.curve_samples.value())
        req = CertifyCurveRequest(self.panel.smoothing(), n, folder, threading.Event(), self._model_name())
        self._curve_request = req
        self.panel.set_curve_running(True)
        self._gen[CERTIFY_CURVE_KIND] = self.worker.submit(CERTIFY_CURVE_KIND, req)
        return self._gen[CERTIFY_CURVE_KIND]

    @Slot()
    def cancel_curve(self) -> None:
        if self._curve_request is not None:
            self._curve_request.cancel.set()
            self.panel.curve_runner.eta.setText("Cancelling…")

    # ------------------------------------------------------------------ detection
    @Slot()
    def run_detect(self, **overrides) -> int | None:
        if self.panel.detect_runner.running or not self._ready():
            return None
        folder = self._data_dir()
        if folder is None:
            return None
        values = {**self.panel.detect_values(), **overrides}
        req = DetectRequest(data_dir=folder, cancel=threading.Event(), model_name=self._model_name(), **values)
        self._detect_request = req
        self.panel.set_detect_running(True)
        self._gen[DETECT_KIND] = self.worker.submit(DETECT_KIND, req)
        return self._gen[DETECT_KIND]

    @Slot()
    def cancel_detect(self) -> None:
        if self._detect_request is not None:
            self._detect_request.cancel.set()
            self.panel.detect_runner.eta.setText("Cancelling…")

    # ------------------------------------------------------------------ worker traffic
    def _current(self, kind: str, generation: int) -> bool:
        return not self.window._closed and kind in self._gen and self._gen[kind] == generation

    @Slot(object)
    def _on_reply(self, reply: Reply) -> None:
        if not self._current(reply.kind, reply.generation):
            return
        value = reply.value
        if reply.kind == CERTIFY_INPUT_KIND:
            self.panel.set_certificate(value)
            self.inputCertified.emit(value)
        elif reply.kind == CERTIFY_CURVE_KIND:
            self._curve_request = None
            self.panel.set_curve_running(False)
            if isinstance(value, CertifyCancelled):
                self.panel.curve_runner.eta.setText(
                    f"Cancelled after {value.done}/{value.total} images; no curve was added.")
            else:
                self.panel.add_curve(value)
            self.curveFinished.emit(value)
        elif reply.kind == DETECT_KIND:
            self._detect_request = None
            self.panel.set_detect_running(False)
            if isinstance(value, CertifyCancelled):
                self.panel.detect_runner.eta.setText(
                    f"Cancelled after {value.done}/{value.total} image-attacks; the ROCs shown are unchanged.")
            else:
                self.panel.set_detection(value)
            self.detectFinished.emit(value)

    @Slot(object)
    def _on_progress(self, reply: Reply) -> None:
        if not self._current(reply.kind, reply.generation):
            return
        if reply.kind == CERTIFY_CURVE_KIND:
            self.panel.set_curve_progress(reply.value)
        elif reply.kind == DETECT_KIND:
            self.panel.set_detect_progress(reply.value)
        self.progressShown.emit(reply.kind, reply.value)

    @Slot(object)
    def _on_failure(self, failure: Failure) -> None:
        if not self._current(failure.kind, failure.generation):
            return
        first = failure.message.splitlines()[0]
        if failure.kind == CERTIFY_INPUT_KIND:
            self.panel.show_input_message("Certification failed: " + first)
            self.window._error("Certification failed", failure.message)
            self.failedMessage.emit(failure.message)
            return
        if failure.kind == CERTIFY_CURVE_KIND:
            self._curve_request = None
            self.panel.set_curve_running(False)
            self.panel.curve_runner.eta.setText("")
        else:
            self._detect_request = None
            self.panel.set_detect_running(False)
            self.panel.detect_runner.eta.setText("")
        if "MNIST" in failure.message:
            self._data_error(failure.message)
        else:
            title = "Certification failed" if failure.kind == CERTIFY_CURVE_KIND else "Detection failed"
            self.window._error(title, failure.message)
            self.failedMessage.emit(failure.message)
