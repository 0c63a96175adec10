"""The Activations dock and its traffic: an "activations" request for the current input and ε whenever the
window analyses one, only while the dock is on screen, so the attack panel never waits for it.

Replies come straight from the worker, not through the window's "newest generation only" filter: while ε is
dragged the newest request is nearly always still on its way, and the dock would hardly ever redraw. It shows
any answer newer than the one on screen, as long as it answers the input now on screen."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Slot

from advstudio.gui.messages import ActivationsData, ActivationsRequest
from advstudio.gui.worker import Failure, Reply
from advstudio.gui.models import ModelInfo
from advstudio.gui.features.activations.view import ActivationsPanel

if TYPE_CHECKING:
    from advstudio.gui.window import MainWindow

KIND = "activations"
MIN_INTERVAL_MS = 16  # ε moves faster than the dock redraws (≤ 60 Hz) are folded into the next request


class ActivationsDock(QObject):
    """Adds the dock (tabbed with the Model dock, in front), submits its requests and takes their replies."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self.panel = ActivationsPanel()
        self.dock = window.add_dock(KIND, "Activations", self.panel, Qt.DockWidgetArea.RightDockWidgetArea,
                                    tabify_with="model")
        self.dock.setToolTip("Inside the network: the ReLU layers' activations, clean against adversarial")
        self.dock.raise_()
        # Qt keeps a dock tabbed behind another "visible" (moved off screen); visibilityChanged tells the truth
        self.on_screen = False
        self.data: ActivationsData | None = None
        self._data_model: ModelInfo | None = None  # the model that answered `data`
        self._floor: float = math.inf  # replies older than this generation answer an input no longer shown
        self._floor_image: np.ndarray | None = None  # the input the floor belongs to
        self._shown_generation = 0
        self._restore_view()
        self.dock.visibilityChanged.connect(self._on_visibility)
        window.modelReady.connect(self._on_model)
        self._connected = False
        self._last_submit = -math.inf
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.timeout.connect(self._submit)

    def _restore_view(self) -> None:
        """The dock's view preferences (QSettings "activations/…"): front tab, feature-map mode, log scale."""
        s, p = self.window.settings, self.panel
        p.tabs.setCurrentIndex(min(max(s.value("activations/tab", 0, int), 0), p.tabs.count() - 1))
        mode = s.value("activations/maps", "clean", str)
        if mode in p.feature_maps.buttons:
            p.feature_maps.set_mode(mode)
        p.log_check.setChecked(s.value("activations/log", False, bool))
        p.tabs.currentChanged.connect(lambda i: s.setValue("activations/tab", int(i)))
        p.feature_maps.modeChanged.connect(lambda m: s.setValue("activations/maps", m))
        p.log_check.toggled.connect(lambda on: s.setValue("activations/log", bool(on)))

    def _connect(self) -> None:
        """The worker exists once the panels are built; connect to it on first use."""
        if not self._connected:
            self.window.worker.replied.connect(self._on_reply)
            self.window.worker.failed.connect(self._on_failure)
            self._connected = True

    def wanted(self) -> bool:
        """On screen: shown, and the front tab of its dock group."""
        return self.on_screen and self.dock.isVisible()

    def request(self) -> None:
        """Ask for the current input and attack settings (called with every analysis); nothing while hidden."""
        w = self.window
        if w.current_input is None:
            self._forget()
            self.data = None
            self.panel.set_data(None)
            return
        if w.model_info is None or not self.wanted():
            return
        new_input = self._floor_image is None or not np.array_equal(self._floor_image, w.current_input)
        wait = MIN_INTERVAL_MS - (time.perf_counter() - self._last_submit) * 1000.0
        if new_input or wait <= 0:
            self._submit()
        elif not self._throttle.isActive():
            self._throttle.start(int(math.ceil(wait)))

    @Slot()
    def _submit(self) -> None:
        """Submit the input and settings on screen now (the throttle's timer lands here too)."""
        self._throttle.stop()
        w = self.window
        if w.current_input is None or w.model_info is None or not self.wanted():
            return
        self._connect()
        self._last_submit = time.perf_counter()
        same = (self.data is not None and self._data_model is w.model_info
                and np.array_equal(self.data.image, w.current_input))
        ranges = self.data.comparison.clean.ranges if same else None  # fixed bins while ε moves
        gen = w.worker.submit(KIND, ActivationsRequest(w.current_input, w.attack_panel.controls.settings(), ranges)).generation
        if self._floor_image is None or not np.array_equal(self._floor_image, w.current_input):
            self._floor, self._floor_image = gen, w.current_input  # older answers are about another input

    def _forget(self) -> None:
        """Drop every answer still on its way."""
        self._throttle.stop()
        self._floor, self._floor_image = math.inf, None

    def set_result(self, data: ActivationsData) -> None:
        self.data, self._data_model = data, self.window.model_info
        self.panel.set_data(data)

    @Slot(object)
    def _on_reply(self, reply: Reply) -> None:
        if reply.kind != KIND or self.window._closed:
            return
        if reply.generation < self._floor or reply.generation <= self._shown_generation:
            return
        self._shown_generation = reply.generation
        self.set_result(reply.value)

    @Slot(object)
    def _on_failure(self, failure: Failure) -> None:
        if failure.kind == KIND and not self.window._closed and failure.generation >= self._floor:
            self.panel.show_error(failure.message)

    @Slot(bool)
    def _on_visibility(self, visible: bool) -> None:
        self.on_screen = bool(visible)
        if visible:
            self.request()  # catch up with what changed while hidden
        else:
            self._forget()

    @Slot(object)
    def _on_model(self, info: ModelInfo) -> None:
        self.panel.set_model(info.bundled)
