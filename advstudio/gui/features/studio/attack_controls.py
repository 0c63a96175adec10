"""Attack settings: FGSM untargeted or targeted, the ε slider with numeric entry and its unit readout."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from advstudio.core.classes import DIGITS
from advstudio.core.describe import EPS_UNITS, eps_text
from advstudio.core.model_meta import class_item
from advstudio.gui.messages import EPS_MAX, SLIDER_STEPS, TARGETED, UNTARGETED, AttackSettings
from advstudio.gui.widgets.help import explain
from advstudio.gui.widgets.layout import refill_combo


class AttackControls(QWidget):
    settingsChanged = Signal(object)  # AttackSettings
    flipRequested = Signal()
    saveRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.method = QComboBox()
        self.method.addItem("FGSM, untargeted (any wrong class)", UNTARGETED)
        self.method.addItem("FGSM, targeted toward a class", TARGETED)
        explain(self.method, "Untargeted: push the image away from the digit the model reads. Targeted: push it "
                             "toward the digit you choose.",
                "FGSM (fast gradient sign method): one step of size ε along the sign of the loss gradient.")
        self.target = QComboBox()
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)  # "25: Class Z" whole
        self.target_label = QLabel("target digit:")
        self.classes: tuple[str, ...] = ()
        self.set_classes(DIGITS)
        self.target.setCurrentIndex(8)
        self.target.setEnabled(False)
        explain(self.target, "The class a targeted attack tries to make the model read.")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setPageStep(10)
        explain(self.slider, "Strength (ε): how far each pixel may move, from 0 to 0.5 in pixel units; drag it and "
                             "watch the prediction.", "L∞ budget: every pixel changes by at most ±ε.")
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, EPS_MAX)
        self.spin.setDecimals(3)
        self.spin.setSingleStep(0.005)
        explain(self.spin, "Type the strength ε exactly, in pixel units from 0 to 0.5.")
        self.readout = QLabel()
        explain(self.readout, EPS_UNITS)
        self.flip_button = QPushButton("Find smallest ε that flips it")
        explain(self.flip_button, "Search for the smallest ε (to 0.001) that changes the prediction, and move the "
                                  "slider there (Ctrl+F).")
        self.save_button = QPushButton("Save result…")
        explain(self.save_button, "Save the changed image, the change itself and a side-by-side figure as PNG "
                                  "files (Ctrl+S).")
        self.readout.setWordWrap(True)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addWidget(QLabel("Attack:"), 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.method, 1)
        row.addWidget(self.target_label)
        row.addWidget(self.target)
        grid.addLayout(row, 0, 1, 1, 2)
        grid.addWidget(QLabel("Strength (ε):"), 1, 0)
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

    def set_classes(self, names) -> None:
        """The target menu lists the model's classes; the target is kept when it is still one of them."""
        names = tuple(str(n) for n in names)
        if names == self.classes:
            return
        self.classes = names
        keep = self.target.currentIndex() if self.target.count() else None
        refill_combo(self.target, [(class_item(i, names), i) for i in range(len(names))], keep, default=8)
        self.target_label.setText("target digit:" if names == DIGITS else "target class:")

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
