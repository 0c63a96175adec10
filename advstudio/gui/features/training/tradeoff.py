"""The Training tab's "Clean vs robust" view: each adversarially trained run of this session as a point (clean test
accuracy, robust accuracy from its last epoch's PGD check), with the published AutoAttack figures of the methods
it offers marked for comparison (MNIST, L∞ ε = 0.3; Croce & Hein 2020). Larger TRADES β moves a run up and to the
left: more robust, fewer clean digits read right."""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from advstudio.gui.theme import style_plot
from advstudio.gui.widgets.layout import fixed_plot
from advstudio.gui.widgets.palette import colours, family_colour


@dataclass(frozen=True)
class Point:
    label: str
    clean: float  # %
    robust: float  # %


# AutoAttack "standard" at ε = 0.3 on MNIST, from the AutoAttack paper's table (Croce & Hein 2020)
PUBLISHED = (Point("Madry et al. (PGD)", 98.53, 88.50), Point("TRADES (β = 6)", 99.48, 92.81),
             Point("fast FGSM (Wong et al.)", 98.50, 82.93))
CAPTION = ("Grey diamonds: published AutoAttack figures at ε = 0.3 (Croce & Hein 2020), the strongest attack. "
           "Coloured dots: your runs, with the PGD check of their last epoch, a weaker attack, so they sit a few "
           "points higher than AutoAttack would put them; evaluate a saved model with AutoAttack in the Robustness "
           "lab for the figure to compare. A larger TRADES β trades clean accuracy for robustness.")


def run_point(metadata: dict, history) -> Point | None:
    """A finished adversarial run as a point, or None (standard training, or no PGD check)."""
    recipe = metadata.get("recipe") or {}
    last = history[-1] if history else {}
    method = recipe.get("adversarial")
    if not method or not isinstance(last, dict) or last.get("robust_accuracy") is None \
            or last.get("test_accuracy") is None:
        return None
    name = {"fgsm_rs": "FGSM-RS", "pgd": f"PGD-{recipe.get('adv_steps')}", "trades": "TRADES"}.get(method, method)
    if method == "trades":
        name += f" β = {recipe.get('trades_beta'):g}"
    eps = recipe.get("adv_eps")
    steps = recipe.get("robust_eval_steps", 20)
    label = f"{name}, ε = {eps:g} (PGD-{steps} check)" if eps is not None else name
    return Point(label, float(last["test_accuracy"]) * 100, float(last["robust_accuracy"]) * 100)


class TradeoffPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[Point] = []
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        self.plot = fixed_plot("clean test accuracy %", "robust accuracy % (ε = 0.3)", 200)
        self.plot.setXRange(95, 100, padding=0.02)
        self.plot.setYRange(0, 100, padding=0.02)
        self.published = pg.ScatterPlotItem(symbol="d", size=12)
        self.mine = pg.ScatterPlotItem(symbol="o", size=10)
        self.plot.addItem(self.published)
        self.plot.addItem(self.mine)
        self.texts: list[pg.TextItem] = []
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.plot, 1)
        v.addWidget(self.caption)
        self._redraw()

    def add_run(self, metadata: dict, history) -> Point | None:
        point = run_point(metadata, history)
        if point is not None:
            self.runs.append(point)
            self._redraw()
        return point

    def _redraw(self) -> None:
        palette = colours(self)
        style_plot(self.plot, self)
        for t in self.texts:
            self.plot.removeItem(t)
        self.texts = []
        grey = palette.neutral
        self.published.setData([p.clean for p in PUBLISHED], [p.robust for p in PUBLISHED],
                               brush=pg.mkBrush(grey), pen=pg.mkPen(grey))
        brushes = [pg.mkBrush(family_colour(palette.adversarial_family, k)) for k in range(len(self.runs))]
        self.mine.setData([p.clean for p in self.runs], [p.robust for p in self.runs], brush=brushes)
        lowest = min([p.clean for p in PUBLISHED + tuple(self.runs)])
        left = min(95.0, lowest - 0.5)
        self.plot.setXRange(left, 100, padding=0.02)
        middle = (left + 100) / 2  # labels of points right of it go to their left, so none runs off the plot
        for k, p in enumerate(PUBLISHED + tuple(self.runs)):
            colour = grey if k < len(PUBLISHED) else family_colour(palette.adversarial_family, k - len(PUBLISHED))
            t = pg.TextItem(f" {p.label} ", anchor=(1.0, 0.5) if p.clean > middle else (0.0, 0.5), color=colour)
            t.setPos(p.clean, p.robust)
            self.plot.addItem(t)
            self.texts.append(t)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "mine"):
            self._redraw()
        super().changeEvent(event)


def views_tabs(curves: QWidget, tradeoff: TradeoffPlot) -> QTabWidget:
    """The live curves and the clean-vs-robust view as two tabs."""
    tabs = QTabWidget()
    tabs.setObjectName("training_views")
    tabs.addTab(curves, "Live curves")
    tabs.addTab(tradeoff, "Clean vs robust")
    return tabs
