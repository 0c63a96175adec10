"""The model's reading of the current input: a large predicted class, its confidence and all ten bars."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from advstudio.core.types import Prediction
from advstudio.gui.widgets.bars import ProbabilityBars


class PredictionPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prediction_panel")
        self.prediction: Prediction | None = None
        self.digit = QLabel("–")
        font = QFont()
        font.setPointSize(44)
        font.setBold(True)
        self.digit.setFont(font)
        self.digit.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.digit.setMinimumWidth(70)
        self.digit.setToolTip("The class the model predicts for the current input")
        self.caption = QLabel("Draw a digit to see what the network reads.")
        self.caption.setWordWrap(True)
        cap_font = QFont()
        cap_font.setPointSize(13)
        self.caption.setFont(cap_font)
        head = QHBoxLayout()
        head.addWidget(self.digit)
        head.addWidget(self.caption, 1)
        self.bars = ProbabilityBars([("clean", "clean")], tick_pt=12)
        self.bars.setMinimumHeight(120)  # with the drawing above it, within a 720-pixel screen
        self.bars.setToolTip("Probability the model gives each class (softmax of its outputs). Blue: the clean "
                                 "input, as everywhere; the predicted class in darker blue.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(head)
        layout.addWidget(self.bars, 1)

    def set_data(self, prediction: Prediction | None) -> None:
        self.prediction = prediction
        if prediction is None:
            self.digit.setText("–")
            self.caption.setText("Draw a digit to see what the network reads.")
            self.bars.set_probs(0, None)
            return
        label, conf = prediction.label, prediction.confidence
        self.digit.setText(str(label))
        self.caption.setText(f"The network reads <b>{label}</b><br>{conf * 100:.1f}% confident")
        self.bars.set_probs(0, prediction.probs, highlight=label)
