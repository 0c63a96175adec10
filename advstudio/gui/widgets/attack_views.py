"""Clean, perturbation ×10 (diverging colours, zero neutral, with a colour bar) and adversarial, side by side."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from advstudio.core.render import diverging_lut, diverging_rgb
from advstudio.core.types import AttackResult

from advstudio.gui.theme import text_colour

MAGNIFY = 10.0


def _blank() -> np.ndarray:
    return np.zeros((28, 28), dtype=np.float32)


class AttackViews(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setToolTip("Left: the input. Middle: what the attack adds, ×10 so you can see it (red brightens a "
                            "pixel, blue darkens it, white leaves it). Right: the sum the model is fooled by.")
        self.glw.setMinimumHeight(190)
        self.images: dict[str, pg.ImageItem] = {}
        self.titles: dict[str, pg.LabelItem] = {}
        for col, (key, title) in enumerate((("clean", "Clean input"), ("perturbation", "Perturbation δ × 10"),
                                            ("adversarial", "Adversarial = clean + δ"))):
            label = self.glw.addLabel(title, row=0, col=col, size="11pt")
            vb = self.glw.addViewBox(row=1, col=col, lockAspect=True, invertY=True, enableMouse=False)
            vb.setMenuEnabled(False)
            item = pg.ImageItem(diverging_rgb(_blank()) if key == "perturbation" else _blank(), autoLevels=False)
            vb.addItem(item)
            vb.setRange(xRange=(0, 28), yRange=(0, 28), padding=0.01)
            self.images[key], self.titles[key] = item, label
        self.images["clean"].setLevels((0.0, 1.0))
        self.images["adversarial"].setLevels((0.0, 1.0))
        self.colorbar = pg.ColorBarItem(values=(-1.0, 1.0), colorMap=pg.ColorMap(
            np.linspace(0, 1, 256), diverging_lut(256)), interactive=False, width=14, colorMapMenu=False)
        # δ is coloured here (diverging_rgb) rather than through an image LUT, which costs pyqtgraph ~8 ms a frame
        self.glw.addItem(self.colorbar, row=1, col=3)
        self.glw.addLabel("δ", row=0, col=3, size="11pt")
        self.colorbar.getAxis("right").setTicks([[(-1, "−0.1"), (-0.5, "−0.05"), (0, "0"), (0.5, "+0.05"),
                                                   (1, "+0.1")]])
        for col in range(3):  # the three images get equal room whatever their titles' widths
            self.glw.ci.layout.setColumnStretchFactor(col, 1)
            self.glw.ci.layout.setColumnPreferredWidth(col, 150)
        self.data: dict[str, np.ndarray] = {"clean": _blank(), "perturbation": _blank(), "adversarial": _blank()}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.glw)
        self._restyle()

    def set_data(self, result: AttackResult | None) -> None:
        if result is None:
            self.data = {k: _blank() for k in self.data}
        else:
            self.data = {
                "clean": np.ascontiguousarray(result.clean, dtype=np.float32),
                "perturbation": np.ascontiguousarray(np.clip(result.perturbation * MAGNIFY, -1, 1), dtype=np.float32),
                "adversarial": np.ascontiguousarray(result.adversarial, dtype=np.float32),
            }
        self.images["clean"].setImage(self.data["clean"], autoLevels=False, levels=(0.0, 1.0))
        self.images["adversarial"].setImage(self.data["adversarial"], autoLevels=False, levels=(0.0, 1.0))
        rgb = diverging_rgb(self.data["perturbation"], limit=1.0)
        self.images["perturbation"].setImage(rgb, autoLevels=False, levels=None)

    def _restyle(self) -> None:
        self.glw.setBackground(self.palette().color(self.palette().ColorRole.Window))
        colour = text_colour(self)
        for label in self.titles.values():
            label.setText(label.text, color=colour)
        axis = self.colorbar.getAxis("right")
        axis.setPen(pg.mkPen(colour))
        axis.setTextPen(pg.mkPen(colour))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "data"):
            self._restyle()
        super().changeEvent(event)

