"""The "Certify & detect" tab's controller: randomized smoothing on the current input and over the test set, and
the activation-statistics detector against FGSM, PGD and the detector-aware PGD ("certify_input",
"certify_curve" and "detect" jobs, on the studio's current model)."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import Signal, Slot

from advstudio.gui.context import AppContext
from advstudio.gui.features.certify.jobs import register_certify
from advstudio.gui.features.certify.messages import (
    CERTIFY_CURVE_KIND,
    CERTIFY_INPUT_KIND,
    DETECT_KIND,
    CertifyCancelled,
    CertifyCurveRequest,
    CertifyInputRequest,
    DetectRequest,
)
from advstudio.gui.features.certify.view import CertifyPanel
from advstudio.gui.job_client import JobClient
from advstudio.gui.worker import Failure

EMPTY_CANVAS = "Draw a digit first: the canvas is empty."
DRAW_PROMPT = "Draw a digit, then Certify this input."
READY_PROMPT = "A digit is on the canvas: Certify this input."
NEW_INPUT = "New input: Certify this input again."


class CertifyStudio(JobClient):
    inputCertified = Signal(object)  # CertifyInputResult
    curveFinished = Signal(object)  # CertifyCurveResult or CertifyCancelled
    detectFinished = Signal(object)  # DetectResult or CertifyCancelled
    failedMessage = Signal(str)
    progressShown = Signal(str, object)  # kind, CertifyProgress

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx, (CERTIFY_INPUT_KIND, CERTIFY_CURVE_KIND, DETECT_KIND))
        register_certify(ctx.worker)
        self.panel = CertifyPanel()
        ctx.add_tab("certify", "Certify && detect", self.panel)
        self._curve_request: CertifyCurveRequest | None = None
        self._detect_request: DetectRequest | None = None
        self._certifying: np.ndarray | None = None  # the image of the certification on its way
        self._certify_classes: tuple[str, ...] | None = None  # the classes of the model it is made with
        self._certified_before = False  # a certificate was shown for an earlier input
        self.panel.certifyRequested.connect(self.certify_input)
        self.panel.curveRequested.connect(self.run_curve)
        self.panel.curveCancelRequested.connect(self.cancel_curve)
        self.panel.detectRequested.connect(self.run_detect)
        self.panel.detectCancelRequested.connect(self.cancel_detect)
        self.panel.chooseFolderRequested.connect(self._choose_folder)
        ctx.inputChanged.connect(self._on_input_changed)

    def _model_name(self) -> str:
        info = self.ctx.model_info
        return info.name if info is not None else "the current model"

    def _ready(self) -> bool:
        if self.ctx.model_info is None:
            self.ctx.report_error("No model yet", "Wait for the model to load, then try again.")
            return False
        return True

    # ------------------------------------------------------------------ the input's certificate
    @Slot()
    def certify_input(self) -> int | None:
        image = self.ctx.current_input
        if image is None or not np.any(image > 0):
            self.panel.show_input_message(EMPTY_CANVAS)
            return None
        if not self._ready():
            return None
        self.panel.set_input_shape(image.shape)
        req = CertifyInputRequest(np.ascontiguousarray(image, dtype=np.float32).copy(), self.panel.smoothing())
        gen = self.submit(CERTIFY_INPUT_KIND, req)
        self._certifying = req.image
        self._certify_classes = tuple(self.ctx.model_info.classes)
        self.panel.show_input_message(f"Certifying with {req.settings.describe()}…")
        return gen

    @Slot(object)
    def _on_input_changed(self, cur: object) -> None:
        """The input line follows the canvas: a prompt to draw while it is empty, to certify once a digit is
        there; a certificate (or one on its way) for another image is dropped."""
        c = self.panel.certificate
        for shown in (None if c is None else c.image, self._certifying):
            if shown is not None and cur is not None and np.array_equal(cur, shown):
                return
        if c is not None or self._certifying is not None:
            self.forget(CERTIFY_INPUT_KIND)
            self._certifying = None
        if cur is None or not np.any(np.asarray(cur) > 0):
            self.panel.show_input_message(DRAW_PROMPT)
        else:
            self.panel.show_input_message(NEW_INPUT if self._certified_before else READY_PROMPT)

    # ------------------------------------------------------------------ data
    def data_problem(self) -> str | None:
        """A readable reason there is no MNIST folder to read, or None (the worker reports unreadable files)."""
        return self.ctx.data_problem(())

    def _data_dir(self) -> str | None:
        problem = self.data_problem()
        if problem is not None:
            self._data_error(problem)
            return None
        self.panel.show_data_error(None)
        return self.ctx.data_folder()

    def _data_error(self, message: str) -> None:
        self.panel.show_data_error(message)
        self.ctx.report_error("Cannot read MNIST", message)
        self.failedMessage.emit(message)

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
        return self.submit(CERTIFY_CURVE_KIND, req)

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
        return self.submit(DETECT_KIND, req)

    @Slot()
    def cancel_detect(self) -> None:
        if self._detect_request is not None:
            self._detect_request.cancel.set()
            self.panel.detect_runner.eta.setText("Cancelling…")

    # ------------------------------------------------------------------ worker traffic
    def on_reply(self, kind: str, value) -> None:
        if kind == CERTIFY_INPUT_KIND:
            self._certifying = None
            self._certified_before = True
            self.panel.set_certificate(value, self._certify_classes)
            self.inputCertified.emit(value)
        elif kind == CERTIFY_CURVE_KIND:
            self._curve_request = None
            self.panel.set_curve_running(False)
            if isinstance(value, CertifyCancelled):
                self.panel.curve_runner.eta.setText(
                    f"Cancelled after {value.done}/{value.total} images; no curve was added.")
            else:
                self.panel.add_curve(value)
            self.curveFinished.emit(value)
        elif kind == DETECT_KIND:
            self._detect_request = None
            self.panel.set_detect_running(False)
            if isinstance(value, CertifyCancelled):
                self.panel.detect_runner.eta.setText(
                    f"Cancelled after {value.done}/{value.total} image-attacks; the ROCs shown are unchanged.")
            else:
                self.panel.set_detection(value)
            self.detectFinished.emit(value)

    def on_progress(self, kind: str, value) -> None:
        if kind == CERTIFY_CURVE_KIND:
            self.panel.set_curve_progress(value)
        elif kind == DETECT_KIND:
            self.panel.set_detect_progress(value)
        self.progressShown.emit(kind, value)

    def on_failure(self, failure: Failure) -> None:
        first = failure.message.splitlines()[0]
        if failure.kind == CERTIFY_INPUT_KIND:
            self._certifying = None
            self.panel.show_input_message("Certification failed: " + first)
            self.ctx.report_error("Certification failed", failure.message)
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
        if failure.error == "dataset":
            self._data_error(failure.message)
        else:
            title = "Certification failed" if failure.kind == CERTIFY_CURVE_KIND else "Detection failed"
            self.ctx.report_error(title, failure.message)
            self.failedMessage.emit(failure.message)
