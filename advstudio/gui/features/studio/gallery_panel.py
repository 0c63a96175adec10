"""The dataset's test images to pick from (MNIST's digits, or any IDX dataset's classes by name), filtered by class
and by whether the model gets them right."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QListView, QPushButton, QVBoxLayout, QWidget

from advstudio.core.classes import DIGITS
from advstudio.core.model_meta import class_item, name_of
from advstudio.gui.messages import GalleryData
from advstudio.gui.widgets.images import qimage_from_array
from advstudio.gui.widgets.layout import refill_combo

THUMB = 56
ALL, RIGHT, WRONG = "all", "right", "wrong"


def _filter_text(d: int, names) -> str:
    item = class_item(d, names)
    return f"class {d}" if item == str(d) else item


class DigitListModel(QAbstractListModel):
    def __init__(self) -> None:
        super().__init__()
        self.data_: GalleryData | None = None
        self.rows = np.zeros(0, dtype=np.int64)
        self._pixmaps: dict[int, QPixmap] = {}
        self.predicted_names: tuple[str, ...] = DIGITS  # the model's class names (its predictions index them)

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
        shown, read = name_of(label, self.data_.classes), name_of(pred, self.predicted_names)
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{shown} ✓" if label == pred else f"{shown} ✗ {read}"
        if role == Qt.ItemDataRole.DecorationRole:
            if i not in self._pixmaps:
                img = qimage_from_array(self.data_.images[i])
                self._pixmaps[i] = QPixmap.fromImage(img).scaled(THUMB, THUMB)
            return self._pixmaps[i]
        if role == Qt.ItemDataRole.ToolTipRole:
            verdict = "reads it correctly" if label == pred else f"reads it as {read}"
            return f"Test image #{i}: labelled {shown}; the model {verdict}. Click to use it."
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
        self.classes: tuple[str, ...] = ()
        self._set_classes(DIGITS)
        self.klass.setToolTip("Show only images with this label")
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
        if data is not None:
            self._set_classes(data.classes)
        self._apply_filter()

    def _set_classes(self, names) -> None:
        """The class filter lists the dataset's classes (the chosen one is kept while it is still there)."""
        names = tuple(names)
        if names == self.classes:
            return
        self.classes = names
        items = [(_filter_text(d, names), d) for d in range(len(names))]
        refill_combo(self.klass, [("all classes", -1), *items], self.klass.currentData())

    def set_model_classes(self, names) -> None:
        """The current model's class names, which its predictions index."""
        self.model.predicted_names = tuple(names)

    def class_name(self, label: int) -> str:
        """A dataset label as the gallery shows it."""
        return name_of(label, self.classes)

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
        what = "MNIST test digits" if d.classes == DIGITS else f"test images of {len(d.classes)} classes"
        text = (f"{len(d.labels)} {what} from {d.source}; the model gets {wrong} wrong. "
                f"Showing {rows.size}. Click one to use it as the input.")
        if len(self.model.predicted_names) != len(d.classes):
            text += (f" This model has {len(self.model.predicted_names)} classes and the dataset "
                     f"{len(d.classes)}: open a model trained on this dataset to compare its readings.")
        self.status.setText(text)

    def pick(self, test_index: int) -> None:
        d = self.data
        if d is None:
            return
        image = d.images[test_index].astype(np.float32) / 255.0
        self.digitPicked.emit(image, int(d.labels[test_index]), int(test_index))

    def _on_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.pick(int(self.model.rows[index.row()]))
