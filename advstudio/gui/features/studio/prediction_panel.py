"""The model's reading of the current input: a large predicted class (its name, for a model with named classes),
its confidence and a bar for every class."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from advstudio.core.model_meta import name_of
from advstudio.core.types import Prediction
from advstudio.gui.widgets.bars import ProbabilityBars


class PredictionPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prediction_panel")
        self.prediction: Prediction | None = None
        self.names: tuple[str, ...] | None = None
        self.digit = QLabel("–")
        font = QFont()
        font.setPointSize(44)
        font.setBold(True)
        self.digit.setFont(font)
        self._big_pt = 44
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

    def set_classes(self, names) -> None:
        """The model's class names: the big label, the caption and the bars use them."""
        self.names = tuple(names)
        self.bars.set_classes(self.names)
        self.set_data(self.prediction if self.prediction is not None and len(self.prediction.probs) == len(self.names)
                      else None)

    def set_data(self, prediction: Prediction | None) -> None:
        self.prediction = prediction
        if prediction is None:
            self.digit.setText("–")
            self.caption.setText("Draw a digit to see what the network reads.")
            self.bars.set_probs(0, None)
            return
        label, conf = name_of(prediction.label, self.names), prediction.confidence
        pt = 44 if len(label) <= 2 else 24 if len(label) <= 6 else 16  # a long name ("Ankle boot") stays in the dock
        if pt != self._big_pt:
            self._big_pt = pt
            font = self.digit.font()
            font.setPointSize(pt)
            self.digit.setFont(font)
        self.digit.setText(label)
        self.caption.setText(f"The network reads <b>{html.escape(label)}</b><br>{conf * 100:.1f}% confident")
        self.bars.set_probs(0, prediction.probs, highlight=prediction.label)
