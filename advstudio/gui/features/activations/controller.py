"""The Activations dock and its traffic: an "activations" request for the studio's current input and attack
settings whenever either changes (or the model does), only while the dock is on screen, so the attack panel
never waits for it.

It submits with keep_stale: while ε is dragged the newest request is nearly always still on its way, and the
dock would hardly ever redraw. It shows every answer that arrives (they arrive in order, each newer than the
one on screen), as long as it answers the input now on screen: requests made for an earlier input, or before
the dock was hidden, are forgotten."""

from __future__ import annotations

import math
import time
from collections import deque
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal, Slot

from advstudio.gui.features.activations.jobs import KIND, register_activations
from advstudio.gui.features.activations.messages import ActivationsData, ActivationsRequest
from advstudio.gui.features.activations.view import ActivationsPanel
from advstudio.gui.job_client import JobClient
from advstudio.gui.messages import AttackSettings
from advstudio.gui.models import ModelInfo
from advstudio.gui.stored import read_bool, read_int, read_text
from advstudio.gui.worker import Failure, JobHandle

if TYPE_CHECKING:
    from advstudio.gui.context import AppContext

MIN_INTERVAL_MS = 16  # ε moves faster than the dock redraws (≤ 60 Hz) are folded into the next request


class ActivationsDock(JobClient):
    """Adds the dock (tabbed with the Model dock, in front), submits its requests and takes their replies.

    Emits dataChanged(ActivationsData or None) when the dock shows another answer (or is cleared), and
    onScreenChanged(bool) when it comes on screen or leaves it."""

    dataChanged = Signal(object)
    onScreenChanged = Signal(bool)

    def __init__(self, ctx: "AppContext") -> None:
        super().__init__(ctx, (KIND,))
        register_activations(ctx.worker)
        self.panel = ActivationsPanel()
        self.dock = ctx.add_dock(KIND, "Activations", self.panel, Qt.DockWidgetArea.RightDockWidgetArea,
                                 tabify_with="model")
        self.dock.setToolTip("Inside the network: the ReLU layers' activations, clean against adversarial")
        self.dock.raise_()
        # Qt keeps a dock tabbed behind another "visible" (moved off screen); visibilityChanged tells the truth
        self.on_screen = False
        self.data: ActivationsData | None = None
        self._data_model: ModelInfo | None = None  # the model that answered `data`
        self._floor_image: np.ndarray | None = None  # the input the answers on their way belong to
        self._in_flight: deque[JobHandle] = deque(maxlen=8)  # a newest-wins mailbox keeps at most two running
        self._restore_view()
        self.dock.visibilityChanged.connect(self._on_visibility)
        ctx.modelReady.connect(self._on_model)
        ctx.inputChanged.connect(self._on_input)
        ctx.attackSettingsChanged.connect(self._on_settings)
        self._last_submit = -math.inf
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.timeout.connect(self._submit)
        self._soon = QTimer(self)  # after the studio's own "analyze" request, which the attack panel waits for
        self._soon.setSingleShot(True)
        self._soon.setInterval(0)
        self._soon.timeout.connect(self.request)

    def _restore_view(self) -> None:
        """The dock's view preferences (QSettings "activations/…"): front tab, feature-map mode, log scale."""
        s, p = self.ctx.settings, self.panel
        p.tabs.setCurrentIndex(read_int(s, "activations/tab", 0, 0, p.tabs.count() - 1))
        mode = read_text(s, "activations/maps", "clean", choices=tuple(p.feature_maps.buttons))
        if mode in p.feature_maps.buttons:
            p.feature_maps.set_mode(mode)
        p.log_check.setChecked(read_bool(s, "activations/log", False))
        p.tabs.currentChanged.connect(self._remember_tab)
        p.feature_maps.modeChanged.connect(self._remember_mode)
        p.log_check.toggled.connect(self._remember_log)

    @Slot(int)
    def _remember_tab(self, index: int) -> None:
        self.ctx.settings.setValue("activations/tab", int(index))

    @Slot(str)
    def _remember_mode(self, mode: str) -> None:
        self.ctx.settings.setValue("activations/maps", mode)

    @Slot(bool)
    def _remember_log(self, on: bool) -> None:
        self.ctx.settings.setValue("activations/log", bool(on))

    def wanted(self) -> bool:
        """On screen: shown, and the front tab of its dock group."""
        return self.on_screen and self.dock.isVisible()

    def _settings(self) -> AttackSettings:
        return self.ctx.attack_settings if self.ctx.attack_settings is not None else AttackSettings()

    @Slot()
    def request(self) -> None:
        """Ask for the current input and attack settings; nothing while hidden (an empty input clears the dock)."""
        image = self.ctx.current_input
        if image is None:
            self._forget()
            self.data = None
            self.panel.set_data(None)
            self.dataChanged.emit(None)
            return
        if self.ctx.model_info is None or not self.wanted():
            return
        new_input = self._floor_image is None or not np.array_equal(self._floor_image, image)
        wait = MIN_INTERVAL_MS - (time.perf_counter() - self._last_submit) * 1000.0
        if new_input or wait <= 0:
            self._submit()
        elif not self._throttle.isActive():
            self._throttle.start(int(math.ceil(wait)))

    @Slot()
    def _submit(self) -> None:
        """Submit the input and settings on screen now (the throttle's timer lands here too)."""
        self._throttle.stop()
        image = self.ctx.current_input
        if image is None or self.ctx.model_info is None or not self.wanted():
            return
        self._last_submit = time.perf_counter()
        same = (self.data is not None and self._data_model is self.ctx.model_info
                and np.array_equal(self.data.image, image))
        ranges = self.data.comparison.clean.ranges if same else None  # fixed bins while ε moves
        if self._floor_image is None or not np.array_equal(self._floor_image, image):
            self._forget_in_flight()  # their answers are about another input
            self._floor_image = image
        classes = tuple(self.ctx.model_info.classes)
        self.submit(KIND, ActivationsRequest(image, self._settings(), ranges, classes), keep_stale=True)
        self._in_flight.append(self.handles[KIND])

    def _forget_in_flight(self) -> None:
        while self._in_flight:
            self._in_flight.popleft().forget()

    def _forget(self) -> None:
        """Drop every answer still on its way."""
        self._throttle.stop()
        self._forget_in_flight()
        self._floor_image = None

    def set_result(self, data: ActivationsData) -> None:
        self.data, self._data_model = data, self.ctx.model_info
        self.panel.set_data(data)
        self.dataChanged.emit(data)

    # ------------------------------------------------------------------ worker traffic
    def on_reply(self, kind: str, value: ActivationsData) -> None:
        self.set_result(value)

    def on_failure(self, failure: Failure) -> None:
        self.panel.show_error(failure.message)

    # ------------------------------------------------------------------ the studio's state
    @Slot(object)
    def _on_input(self, image: object) -> None:
        if image is None:
            self._soon.stop()
            self.request()  # clears the dock
        else:
            self._soon.start()

    @Slot(object)
    def _on_settings(self, _settings: object) -> None:
        self.request()

    @Slot(bool)
    def _on_visibility(self, visible: bool) -> None:
        self.on_screen = bool(visible)
        if visible:
            self.request()  # catch up with what changed while hidden
        else:
            self._forget()
        self.onScreenChanged.emit(self.wanted())

    @Slot(object)
    def _on_model(self, info: ModelInfo) -> None:
        self.panel.set_model(info.bundled)
        self._soon.start()
