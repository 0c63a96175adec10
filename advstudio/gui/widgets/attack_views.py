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


def blank_image() -> np.ndarray:
    return np.zeros((28, 28), dtype=np.float32)


def build_triptych(glw: pg.GraphicsLayoutWidget, panels: tuple[tuple[str, str], ...], title_size: str,
                   colorbar_width: int, column_width: int, signed: str = "perturbation"):
    """Three 28×28 images side by side under their titles, the signed one coloured (red brightens, blue
    darkens), and a colour bar for it in the fourth column. Returns (images, titles, colorbar) keyed as `panels`."""
    images: dict[str, pg.ImageItem] = {}
    titles: dict[str, pg.LabelItem] = {}
    for col, (key, title) in enumerate(panels):
        titles[key] = glw.addLabel(title, row=0, col=col, size=title_size)
        vb = glw.addViewBox(row=1, col=col, lockAspect=True, invertY=True, enableMouse=False)
        vb.setMenuEnabled(False)
        item = pg.ImageItem(diverging_rgb(blank_image()) if key == signed else blank_image(), autoLevels=False)
        if key != signed:
            item.setLevels((0.0, 1.0))
        vb.addItem(item)
        vb.setRange(xRange=(0, 28), yRange=(0, 28), padding=0.01)
        images[key] = item
        glw.ci.layout.setColumnStretchFactor(col, 1)  # equal room whatever the titles' widths
        glw.ci.layout.setColumnPreferredWidth(col, column_width)
    # δ is coloured per pixel (diverging_rgb) rather than through an image LUT, which costs pyqtgraph ~8 ms a frame
    colorbar = pg.ColorBarItem(values=(-1.0, 1.0), colorMap=pg.ColorMap(np.linspace(0, 1, 256), diverging_lut(256)),
                               interactive=False, width=colorbar_width, colorMapMenu=False)
    glw.addItem(colorbar, row=1, col=3)
    return images, titles, colorbar


def restyle_triptych(widget: QWidget, glw: pg.GraphicsLayoutWidget, titles: dict, colorbar: pg.ColorBarItem) -> None:
    """Background, titles and colour-bar axis in the widget's palette (light or dark theme)."""
    glw.setBackground(widget.palette().color(widget.palette().ColorRole.Window))
    colour = text_colour(widget)
    for label in titles.values():
        label.setText(label.text, color=colour)
    axis = colorbar.getAxis("right")
    axis.setPen(pg.mkPen(colour))
    axis.setTextPen(pg.mkPen(colour))


class AttackViews(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setToolTip("Left: the input. Middle: what the attack adds, ×10 so you can see it (red brightens a "
                            "pixel, blue darkens it, white leaves it). Right: the sum the model is fooled by.")
        self.glw.setMinimumHeight(190)
        self.images, self.titles, self.colorbar = build_triptych(
            self.glw, (("clean", "Clean input"), ("perturbation", "Perturbation δ × 10"),
                       ("adversarial", "Adversarial = clean + δ")), "11pt", 14, 150)
        self.glw.addLabel("δ", row=0, col=3, size="11pt")
        self.colorbar.getAxis("right").setTicks([[(-1, "−0.1"), (-0.5, "−0.05"), (0, "0"), (0.5, "+0.05"),
                                                   (1, "+0.1")]])
        self.data: dict[str, np.ndarray] = {"clean": blank_image(), "perturbation": blank_image(), "adversarial": blank_image()}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.glw)
        self._restyle()

    def set_data(self, result: AttackResult | None) -> None:
        if result is None:
            self.data = {k: blank_image() for k in self.data}
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
        restyle_triptych(self, self.glw, self.titles, self.colorbar)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "data"):
            self._restyle()
        super().changeEvent(event)

