"""MNIST test digits to pick from, filtered by class and by whether the model gets them right."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QListView, QPushButton, QVBoxLayout, QWidget

from advstudio.gui.messages import GalleryData
from advstudio.gui.widgets.images import qimage_from_array

THUMB = 56
ALL, RIGHT, WRONG = "all", "right", "wrong"


class DigitListModel(QAbstractListModel):
    def __init__(self) -> None:
        super().__init__()
        self.data_: GalleryData | None = None
        self.rows = np.zeros(0, dtype=np.int64)
        self._pixmaps: dict[int, QPixmap] = {}

    def set_gallery(self, data: GalleryData | None, rows: np.ndarray) -> None:
        self.beginResetModel()
        if data is not self.data_:
            self._pixmaps.clear()
        self.data_, self.rows = data, rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else int(self.rows.size)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if self.data_ is None or not index.isValid():
            return None
        i = int(self.rows[index.row()])
        label, pred = int(self.data_.labels[i]), int(self.data_.predictions[i])
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{label} ✓" if label == pred else f"{label} ✗ {pred}"
        if role == Qt.ItemDataRole.DecorationRole:
            if i not in self._pixmaps:
                img = qimage_from_array(self.data_.images[i])
                self._pixmaps[i] = QPixmap.fromImage(img).scaled(THUMB, THUMB)
            return self._pixmaps[i]
        if role == Qt.ItemDataRole.ToolTipRole:
            verdict = "reads it correctly" if label == pred else f"reads it as {pred}"
            return f"Test image #{i}: labelled {label}; the model {verdict}. Click to use it."
        if role == Qt.ItemDataRole.ForegroundRole and label != pred:
            return QColor("#d0402b")
        return None


class GalleryPanel(QWidget):
    digitPicked = Signal(object, int, int)  # image (28×28 float32), label, test index
    chooseFolderRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("gallery_panel")
        self.data: GalleryData | None = None
        self.klass = QComboBox()
        self.klass.addItem("all classes", -1)
        for d in range(10):
            self.klass.addItem(f"class {d}", d)
        self.klass.setToolTip("Show only digits with this label")
        self.verdict = QComboBox()
        self.verdict.addItem("right and wrong", ALL)
        self.verdict.addItem("model right", RIGHT)
        self.verdict.addItem("model wrong", WRONG)
        self.verdict.setToolTip("Show digits the model classifies correctly, wrongly, or both")
        self.status = QLabel("No MNIST folder configured: the gallery needs one (drawing and attacking do not).")
        self.status.setWordWrap(True)
        self.folder_button = QPushButton("Set MNIST folder…")
        self.folder_button.clicked.connect(self.chooseFolderRequested)
        self.model = DigitListModel()
        self.view = QListView()
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setUniformItemSizes(True)
        self.view.setIconSize(QSize(THUMB, THUMB))
        self.view.setGridSize(QSize(THUMB + 14, THUMB + 24))
        self.view.setMovement(QListView.Movement.Static)
        self.view.setModel(self.model)
        self.view.clicked.connect(self._on_clicked)
        self.view.activated.connect(self._on_clicked)
        for combo in (self.klass, self.verdict):  # they may shorten their text: the column stays narrow
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(6)
        filters = QHBoxLayout()
        filters.addWidget(self.klass)
        filters.addWidget(self.verdict)
        filters.addWidget(self.folder_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(filters)
        layout.addWidget(self.status)
        layout.addWidget(self.view, 1)
        self.klass.currentIndexChanged.connect(self._apply_filter)
        self.verdict.currentIndexChanged.connect(self._apply_filter)

    def set_data(self, data: GalleryData | None) -> None:
        self.data = data
        self._apply_filter()

    def set_message(self, text: str) -> None:
        self.status.setText(text)

    def set_filter(self, klass: int = -1, verdict: str = ALL) -> None:
        self.klass.setCurrentIndex(self.klass.findData(klass))
        self.verdict.setCurrentIndex(self.verdict.findData(verdict))

    def visible_indices(self) -> np.ndarray:
        return self.model.rows.copy()

    def _apply_filter(self) -> None:
        d = self.data
        if d is None:
            self.model.set_gallery(None, np.zeros(0, dtype=np.int64))
            return
        keep = np.ones(len(d.labels), dtype=bool)
        klass, verdict = self.klass.currentData(), self.verdict.currentData()
        if klass >= 0:
            keep &= d.labels == klass
        right = d.labels == d.predictions
        if verdict == RIGHT:
            keep &= right
        elif verdict == WRONG:
            keep &= ~right
        rows = np.flatnonzero(keep)
        self.model.set_gallery(d, rows)
        wrong = int((~right).sum())
        self.status.setText(f"{len(d.labels)} MNIST test digits from {d.source}; the model gets {wrong} wrong. "
                            f"Showing {rows.size}. Click one to use it as the input.")

    def pick(self, test_index: int) -> None:
        d = self.data
        if d is None:
            return
        image = d.images[test_index].astype(np.float32) / 255.0
        self.digitPicked.emit(image, int(d.labels[test_index]), int(test_index))

    def _on_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.pick(int(self.model.rows[index.row()]))
