"""The Activations dock and its traffic: an "activations" request for the current input and ε whenever the
window analyses one, only while the dock is on screen, so the attack panel never waits for it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, Slot

from .messages import ActivationsData, ActivationsRequest, ModelInfo
from .panels.activations import ActivationsPanel

if TYPE_CHECKING:
    from .main_window import MainWindow

KIND = "activations"


class ActivationsDock(QObject):
    """Adds the dock (tabbed with the Model dock, in front) and keeps it fed; `set_result` is the reply route."""

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
        self.dock.visibilityChanged.connect(self._on_visibility)
        window.modelReady.connect(self._on_model)

    def wanted(self) -> bool:
        """On screen: shown, and the front tab of its dock group."""
        return self.on_screen and self.dock.isVisible()

    def request(self) -> None:
        """Ask for the current input and attack settings (called with every analysis); nothing while hidden."""
        w = self.window
        if w.current_input is None:
            w._latest[KIND] = -1  # drop answers still on the way
            self.data = None
            self.panel.set_data(None)
            return
        if w.model_info is None or not self.wanted():
            return
        same = (self.data is not None and self._data_model is w.model_info
                and np.array_equal(self.data.image, w.current_input))
        ranges = self.data.comparison.clean.ranges if same else None  # fixed bins while ε moves
        w._submit(KIND, ActivationsRequest(w.current_input, w.attack_panel.controls.settings(), ranges))

    def set_result(self, data: ActivationsData) -> None:
        self.data, self._data_model = data, self.window.model_info
        self.panel.set_data(data)

    @Slot(bool)
    def _on_visibility(self, visible: bool) -> None:
        self.on_screen = bool(visible)
        if visible:
            self.request()  # catch up with what changed while hidden
        else:
            self.window._latest[KIND] = -1

    @Slot(object)
    def _on_model(self, info: ModelInfo) -> None:
        self.panel.set_model(info.bundled)
