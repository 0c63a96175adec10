"""The input: the drawing canvas with its tools, and the 28×28 image the model actually sees."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QToolButton, QVBoxLayout, QWidget

from advstudio.core.render import to_gray_u8
from advstudio.core.types import Prediction
from advstudio.gui.widgets.canvas import DrawingCanvas
from advstudio.gui.widgets.images import qimage_from_array

PREVIEW_SCALE = 4


class ModelInputPreview(QLabel):
    """The exact 28×28 input, magnified with hard pixel edges."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        side = 28 * PREVIEW_SCALE + 2
        self.setFixedSize(side, side)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("QLabel { background: black; border: 1px solid gray; }")
        self.setToolTip("What the network sees: your drawing cropped, scaled into 20×20 and centred in 28×28 "
                        "by its centre of mass, like MNIST")
        self.image = np.zeros((28, 28), dtype=np.float32)

    def set_image(self, image: np.ndarray | None) -> None:
        self.image = np.zeros((28, 28), np.float32) if image is None else np.asarray(image, np.float32).copy()
        qimg = qimage_from_array(to_gray_u8(self.image))
        self.setPixmap(QPixmap.fromImage(qimg).scaled(28 * PREVIEW_SCALE, 28 * PREVIEW_SCALE))


class InputPanel(QWidget):
    openImageRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("input_panel")
        self.canvas = DrawingCanvas()
        self.canvas.setMinimumSize(240, 240)
        self.brush = QSlider(Qt.Orientation.Horizontal)
        self.brush.setRange(6, 48)
        self.brush.setValue(int(self.canvas.brush_width))
        self.brush.setToolTip("Brush width ([ and ] change it)")
        self.brush.setMinimumWidth(40)  # a slider, not a stub, in the narrow column beside the lesson
        self.brush.valueChanged.connect(self._on_brush)
        self.eraser = QToolButton(text="Eraser", checkable=True)
        self.eraser.setToolTip("Erase instead of drawing (E). Right-drag also erases.")
        self.eraser.toggled.connect(self._on_eraser)
        self.undo = QToolButton(text="Undo")
        self.undo.setToolTip("Undo the last stroke (Ctrl+Z)")
        self.redo = QToolButton(text="Redo")
        self.redo.setToolTip("Redo (Ctrl+Shift+Z)")
        self.clear = QToolButton(text="Clear")
        self.clear.setToolTip("Clear the canvas (Delete); undo brings it back")
        self.undo.clicked.connect(self.canvas.undo)
        self.redo.clicked.connect(self.canvas.redo)
        self.clear.clicked.connect(self.canvas.clear)
        self.open_button = QPushButton("Open image…")
        self.open_button.setToolTip("Use a PNG, JPEG or BMP of a digit (Ctrl+O); you can also drop one on the window")
        self.open_button.clicked.connect(self.openImageRequested)
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Brush"))
        tools.addWidget(self.brush, 1)
        for button in (self.eraser, self.undo, self.redo, self.clear):
            tools.addWidget(button)
        self.preview = ModelInputPreview()
        hint = QLabel("<b>The model sees</b> this 28×28 image: your drawing cropped, scaled and centred "
                      "the way MNIST digits are.")
        hint.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(hint)
        side.addStretch(1)
        side.addWidget(self.open_button)
        seen = QHBoxLayout()
        seen.addWidget(self.preview)
        seen.addLayout(side, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(tools)
        layout.addLayout(seen)
        self.canvas.inkChanged.connect(self.refresh_buttons)
        self.refresh_buttons()

    def set_brush_width(self, width: int) -> None:
        self.brush.setValue(int(width))

    def set_data(self, prediction: Prediction | None) -> None:
        self.preview.set_image(None if prediction is None else prediction.image)

    def _on_brush(self, value: int) -> None:
        self.canvas.brush_width = float(value)

    def _on_eraser(self, on: bool) -> None:
        self.canvas.eraser = on

    def refresh_buttons(self) -> None:
        self.undo.setEnabled(self.canvas.can_undo())
        self.redo.setEnabled(self.canvas.can_redo())
