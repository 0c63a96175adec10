"""Attack settings: FGSM untargeted or targeted, the ε slider with numeric entry and its unit readout."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from advstudio.core.describe import eps_text
from advstudio.gui.messages import EPS_MAX, SLIDER_STEPS, TARGETED, UNTARGETED, AttackSettings


class AttackControls(QWidget):
    settingsChanged = Signal(object)  # AttackSettings
    flipRequested = Signal()
    saveRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.method = QComboBox()
        self.method.addItem("FGSM, untargeted (any wrong class)", UNTARGETED)
        self.method.addItem("FGSM, targeted toward a class", TARGETED)
        self.method.setToolTip("Untargeted: push the image away from the class the model reads.\n"
                               "Targeted: push it toward the class you choose.")
        self.target = QComboBox()
        self.target.addItems([str(i) for i in range(10)])
        self.target.setCurrentIndex(8)
        self.target.setEnabled(False)
        self.target.setToolTip("The class a targeted attack tries to make the model read")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setPageStep(10)
        self.slider.setToolTip("ε: how far each pixel may move (L∞ budget). Drag it and watch the prediction.")
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, EPS_MAX)
        self.spin.setDecimals(3)
        self.spin.setSingleStep(0.005)
        self.spin.setToolTip("Type ε exactly (pixel units, 0–0.5)")
        self.readout = QLabel()
        self.readout.setToolTip("The same ε three ways: pixel values in [0, 1], 8-bit grey levels, and the units "
                                "of the normalized input the network computes with")
        self.flip_button = QPushButton("Find smallest ε that flips it")
        self.flip_button.setToolTip("Search for the smallest ε (to 0.001) that changes the prediction, and move "
                                    "the slider there (Ctrl+F)")
        self.save_button = QPushButton("Save result…")
        self.save_button.setToolTip("Save the adversarial image, the perturbation and a side-by-side figure as PNG "
                                    "(Ctrl+S)")
        self.readout.setWordWrap(True)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addWidget(QLabel("Attack:"), 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.method, 1)
        row.addWidget(QLabel("target class:"))
        row.addWidget(self.target)
        grid.addLayout(row, 0, 1, 1, 2)
        grid.addWidget(QLabel("Strength ε:"), 1, 0)
        grid.addWidget(self.slider, 1, 1)
        grid.addWidget(self.spin, 1, 2)
        grid.addWidget(self.readout, 2, 1, 1, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.flip_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        grid.addLayout(buttons, 3, 1, 1, 2)
        grid.setColumnStretch(1, 1)
        self.method.currentIndexChanged.connect(self._on_method)
        self.target.currentIndexChanged.connect(self._emit)
        self.slider.valueChanged.connect(self._on_slider)
        self.spin.valueChanged.connect(self._on_spin)
        self.flip_button.clicked.connect(self.flipRequested)
        self.save_button.clicked.connect(self.saveRequested)
        self.set_eps(0.1, emit=False)

    def settings(self) -> AttackSettings:
        method = self.method.currentData()
        target = self.target.currentIndex() if method == TARGETED else None
        return AttackSettings(method, target, self.eps())

    def eps(self) -> float:
        return round(self.slider.value() * EPS_MAX / SLIDER_STEPS, 6)

    def set_eps(self, eps: float, emit: bool = True) -> None:
        steps = int(round(min(max(eps, 0.0), EPS_MAX) / EPS_MAX * SLIDER_STEPS))
        self.slider.blockSignals(True)
        self.slider.setValue(steps)
        self.slider.blockSignals(False)
        self._sync_spin()
        if emit:
            self._emit()

    def set_method(self, method: str, target: int | None = None) -> None:
        if target is not None:
            self.target.blockSignals(True)
            self.target.setCurrentIndex(int(target))
            self.target.blockSignals(False)
        self.method.setCurrentIndex(self.method.findData(method))

    def _sync_spin(self) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(self.eps())
        self.spin.blockSignals(False)
        self.readout.setText(eps_text(self.eps()))

    def _on_method(self) -> None:
        self.target.setEnabled(self.method.currentData() == TARGETED)
        self._emit()

    def _on_slider(self) -> None:
        self._sync_spin()
        self._emit()

    def _on_spin(self, value: float) -> None:
        self.set_eps(value)

    def _emit(self) -> None:
        self.settingsChanged.emit(self.settings())
