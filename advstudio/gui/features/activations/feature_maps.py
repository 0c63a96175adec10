"""Every convolution layer's feature maps for the current input, tiled into one image per layer, shown for the
clean input, the adversarial input, or their difference (adversarial − clean, in a diverging map). Only the
layers whose activations are maps (channels × height × width) show; a model without any (an MLP) says so."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Signal
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QRadioButton, QVBoxLayout, QWidget

from advstudio.core.render import diverging_rgb
from advstudio.core.types import ActivationComparison
from advstudio.gui.theme import text_colour

CLEAN, ADVERSARIAL, DIFFERENCE = "clean", "adversarial", "difference"
MODES = ((CLEAN, "Clean"), (ADVERSARIAL, "Adversarial"), (DIFFERENCE, "Difference"))
GAP = 1
GAP_RGB = np.array([128, 128, 128], dtype=np.uint8)
DIFF_SCALE = 0.5  # the difference map saturates at half the layer's largest clean activation
NO_MAPS = ("This model has no convolution layers, so it has no feature maps to show: the Histograms tab has its "
           "layers.")


def grid_columns(channels: int) -> int:
    """Columns of a layer's tiling: 8 for up to 32 maps, else 16 (64 maps → 16 × 4, about as wide as 8 × 4)."""
    return 8 if channels <= 32 else 16


def tile(maps: np.ndarray, cols: int, gap: int = GAP) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) maps as one (rows·(H+gap)−gap, cols·(W+gap)−gap) float32 image, row by row, and a boolean mask
    of the gap pixels between tiles."""
    c, h, w = maps.shape
    rows = -(-c // cols)
    out = np.zeros((rows * (h + gap) - gap, cols * (w + gap) - gap), dtype=np.float32)
    gaps = np.ones(out.shape, dtype=bool)
    for k in range(c):
        r, q = divmod(k, cols)
        y, x = r * (h + gap), q * (w + gap)
        out[y:y + h, x:x + w] = maps[k]
        gaps[y:y + h, x:x + w] = False
    return out, gaps


def render(tiled: np.ndarray, gaps: np.ndarray, mode: str, scale: float) -> np.ndarray:
    """RGB uint8 (C-contiguous, so ImageItem needs no LUT): grey levels 0…scale for activations, the diverging
    map ±DIFF_SCALE·scale for a difference; tile gaps in mid grey."""
    if mode == DIFFERENCE:
        rgb = diverging_rgb(tiled, limit=max(scale * DIFF_SCALE, 1e-6))
    else:
        grey = (np.clip(tiled / max(scale, 1e-6), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[gaps] = GAP_RGB
    return np.ascontiguousarray(rgb)


class FeatureMapView(QWidget):
    """The maps of every layer with a (C, H, W) activation; `displayed` holds the arrays now on screen."""

    modeChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = CLEAN
        self.comparison: ActivationComparison | None = None
        self.displayed: dict[str, np.ndarray] = {}  # layer → (C, H, W) array of the current mode
        self.buttons: dict[str, QRadioButton] = {}
        group = QButtonGroup(self)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for key, title in MODES:
            button = QRadioButton(title)
            button.setChecked(key == self.mode)
            button.toggled.connect(self._on_toggled)
            group.addButton(button)
            row.addWidget(button)
            self.buttons[key] = button
        row.addStretch(1)
        self.buttons[DIFFERENCE].setToolTip("Adversarial minus clean, unit by unit. Red: the unit fires more on the adversarial input; blue: less; white: "
                                            "unchanged. Saturates at half the layer's largest clean activation.")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setToolTip("Each small square is one channel's map over the image; bright = strongly active, "
                            "black = silent (zero after the ReLU).")
        self.glw.setMinimumHeight(200)
        self.glw.setBackground(self.palette().color(self.palette().ColorRole.Window))
        self.images: dict[str, pg.ImageItem] = {}
        self.titles: dict[str, pg.LabelItem] = {}
        self.boxes: dict[str, pg.ViewBox] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.glw, 1)
        layout.addWidget(self.note)
        self._set_note()

    def set_mode(self, mode: str) -> None:
        self.buttons[mode].setChecked(True)

    def _on_toggled(self, checked: bool) -> None:
        if not checked:
            return
        mode = next(k for k, b in self.buttons.items() if b.isChecked())
        if mode != self.mode:
            self.mode = mode
            self._set_note()
            self.redraw()
            self.modeChanged.emit(mode)

    def _set_note(self) -> None:
        if self.comparison is not None and not self._layer_names():
            self.note.setText(NO_MAPS)
        elif self.mode == DIFFERENCE:
            self.note.setText("Red: fires more under attack · blue: fires less · white: unchanged")
        elif self.mode == ADVERSARIAL:
            self.note.setText("The adversarial input's maps, on the same grey scale as the clean ones")
        else:
            self.note.setText("What each channel detects in your digit: bright = strongly active, black = silent")

    def set_data(self, comparison: ActivationComparison | None) -> None:
        self.comparison = comparison
        self._set_note()
        self.redraw()

    def _layer_names(self) -> list[str]:
        c = self.comparison
        if c is None:
            return []
        return [k for k, v in c.clean.feature_maps.items() if v.ndim == 3 and k in c.adversarial.feature_maps]

    def _ensure_items(self, names: list[str]) -> None:
        if list(self.images) == names:
            return
        self.glw.clear()
        self.images.clear()
        self.titles.clear()
        self.boxes.clear()
        colour = text_colour(self)
        for row, name in enumerate(names):
            shape = self.comparison.clean.feature_maps[name].shape
            label = self.glw.addLabel(f"{name}: {shape[0]} maps of {shape[1]}×{shape[2]}", row=2 * row, col=0,
                                      size="9pt", color=colour)
            vb = self.glw.addViewBox(row=2 * row + 1, col=0, lockAspect=True, invertY=True, enableMouse=False)
            vb.setMenuEnabled(False)
            item = pg.ImageItem(autoLevels=False)
            vb.addItem(item)
            self.images[name], self.titles[name], self.boxes[name] = item, label, vb

    def redraw(self) -> None:
        c = self.comparison
        self.displayed = {}
        if c is None:  # the items stay for the next input (rebuilding view boxes on every clear costs and churns)
            for item in self.images.values():
                item.clear()
            return
        names = self._layer_names()
        self._ensure_items(names)
        for name in names:
            clean = c.clean.feature_maps[name]
            if self.mode == CLEAN:
                maps = clean
            elif self.mode == ADVERSARIAL:
                maps = c.adversarial.feature_maps[name]
            else:
                maps = c.feature_map_difference(name)
            self.displayed[name] = maps
            scale = float(clean.max()) if clean.size else 1.0
            tiled, gaps = tile(maps, grid_columns(maps.shape[0]))
            item = self.images[name]
            first = item.image is None or item.image.shape[:2] != tiled.shape
            item.setImage(render(tiled, gaps, self.mode, scale), autoLevels=False, levels=None)
            if first:
                self.boxes[name].setRange(xRange=(0, tiled.shape[1]), yRange=(0, tiled.shape[0]), padding=0.01)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "titles"):
            self.glw.setBackground(self.palette().color(self.palette().ColorRole.Window))
            colour = text_colour(self)
            for label in self.titles.values():
                label.setText(label.text, color=colour)
        super().changeEvent(event)
