"""The Training tab's live curves: training loss, running training accuracy, per-epoch clean test accuracy and
PGD robust accuracy, with a legend and a caption naming the run; defensive distillation's two stages continue
across a "student starts" line."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from advstudio.gui.features.training.messages import TrainProgress, method_summary, robust_label
from advstudio.gui.theme import style_plot, text_colour
from advstudio.gui.widgets.layout import fixed_plot
from advstudio.gui.widgets.palette import Colours, colours
from advstudio.gui.widgets.plot_key import PlotPlaceholder

if TYPE_CHECKING:
    from advstudio.core.training_config import TrainConfig

EMPTY = "Train a model to see its loss and accuracy here, epoch by epoch, while it learns."


def line_colours(palette: Colours) -> dict[str, str]:
    """Clean test accuracy blue, PGD robust accuracy orange (as everywhere); the loss and the running training
    accuracy neutral."""
    return {"loss": palette.neutral, "train": palette.neutral, "test": palette.clean, "robust": palette.adversarial}


class TrainingCurves(QWidget):
    """The plots of one run: begin() clears them for a run, add_progress() extends them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config_shown: TrainConfig | None = None
        self.temperature_shown: float | None = None  # the run on the plots is defensive distillation at T
        self.loss_x: list[float] = []
        self.loss_y: list[float] = []
        self.acc_x: list[float] = []
        self.acc_y: list[float] = []
        self.history: tuple = ()
        self._previous: tuple = ([], [], [], [], ())  # the curves begin() cleared, for a resume of that run
        self.test_samples: int | None = None  # images of the per-epoch clean test accuracy
        self.robust_samples: int | None = None  # held-out test images of the per-epoch PGD check
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = fixed_plot("epoch", "training loss", 160)
        for axis in ("left", "bottom"):  # a loss of 0.004 reads as 0.004, not "4 (×0.001)"
            self.loss_plot.getAxis(axis).enableAutoSIPrefix(False)
        self.loss_line = self.loss_plot.plot([], [], name="training loss")
        self.acc_plot = fixed_plot("epoch", "accuracy %", 160)
        self.acc_plot.setYRange(0, 100, padding=0.02)
        self.train_acc_line = self.acc_plot.plot([], [], name="training accuracy (running, this epoch)")
        self.test_line = self.acc_plot.plot([], [], symbol="o", symbolSize=7, name="clean test accuracy")
        self.robust_line = self.acc_plot.plot([], [], symbol="s", symbolSize=7, name="PGD robust accuracy")
        self.stage_lines = [pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888888", width=1,
                                                                                   style=Qt.PenStyle.DashLine),
                                            label="student starts", labelOpts={"position": 0.9})
                            for _ in range(2)]
        for plot, line in zip((self.loss_plot, self.acc_plot), self.stage_lines):
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)
        self.acc_legend = QLabel()
        self.acc_legend.setWordWrap(True)
        self.caption = QLabel("Live curves appear here while a model trains.")
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        plots = QWidget()
        pl = QVBoxLayout(plots)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(self.loss_plot, 2)
        pl.addWidget(self.acc_plot, 3)
        pl.addWidget(self.acc_legend)
        self.plot_area = PlotPlaceholder(plots, EMPTY)  # until the first run begins
        v.addWidget(self.plot_area, 1)
        v.addWidget(self.caption)
        self._restyle()

    def _restyle(self) -> None:
        for p in (self.loss_plot, self.acc_plot):
            style_plot(p, self)
        c = line_colours(colours(self))
        for key, line, width in (("loss", self.loss_line, 2), ("train", self.train_acc_line, 1.5),
                                 ("test", self.test_line, 2), ("robust", self.robust_line, 2)):
            line.setPen(pg.mkPen(c[key], width=width))
            if line.opts.get("symbol") is not None:
                line.setSymbolBrush(c[key])
                line.setSymbolPen(c[key])
        self._legend_text()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "acc_legend"):
            self._restyle()
        super().changeEvent(event)

    def begin(self, config: TrainConfig, temperature: float | None = None) -> None:
        """Clear the plots for a new run of `config` (defensive distillation at `temperature` when given: two
        stages of config.epochs each, shown one after the other)."""
        self.config_shown = config
        self.temperature_shown = temperature
        self.plot_area.set_empty(False)
        span = config.epochs * (2 if temperature is not None else 1)
        for line in self.stage_lines:
            line.setPos(config.epochs)
            line.setVisible(temperature is not None)
        self._previous = (self.loss_x, self.loss_y, self.acc_x, self.acc_y, self.history)  # a resume keeps them
        self.loss_x, self.loss_y, self.acc_x, self.acc_y = [], [], [], []
        self.history = ()
        self.test_samples = self.robust_samples = None
        self.robust_line.setVisible(config.adversarial is not None)
        self._legend_text()
        self.acc_plot.setXRange(0, span, padding=0.02)
        self.loss_plot.setXRange(0, span, padding=0.02)
        self._redraw()
        self.caption.setText(f"Training: {method_summary(config, temperature)}.")

    def add_progress(self, p: TrainProgress) -> None:
        """Extend the curves, the legend and the caption with a progress report."""
        cfg = self.config_shown
        if p.train_samples and (self.test_samples, self.robust_samples) != (p.test_samples, p.robust_samples):
            self.test_samples, self.robust_samples = p.test_samples, p.robust_samples or None
            self._legend_text()
        if p.history and len(p.history) != len(self.history):
            self.history = tuple(p.history)
            if not self.loss_x and p.first_epoch > 1:  # resumed: the epochs the checkpoint holds come first
                self._resume_curves(p.first_epoch - 1)
        prog = p.progress
        if prog is not None and (not self.loss_x or prog.epoch - 1 + prog.batch / prog.batches > self.loss_x[-1]):
            x = prog.epoch - 1 + prog.batch / prog.batches
            self.loss_x.append(x)
            self.loss_y.append(prog.loss)
            self.acc_x.append(x)
            self.acc_y.append(prog.accuracy * 100)
        self._redraw()
        if cfg is not None and p.train_samples:
            resumed = f", resumed after epoch {p.first_epoch - 1}" if p.first_epoch > 1 else ""
            test = f"clean test accuracy on {p.test_samples} test images"
            robust = f"; PGD robust accuracy: {robust_label(cfg, p.robust_samples or None)} held-out test images" \
                if cfg.adversarial else ""
            stages = (f" Epochs 1–{cfg.epochs}: the teacher; {cfg.epochs + 1}–{2 * cfg.epochs}: the student (its loss is the cross-entropy against the "
                      "teacher's soft labels, so it does not fall as low)."
                      if self.temperature_shown is not None else "")
            self.caption.setText(f"{method_summary(cfg, self.temperature_shown)}; {p.train_samples} training "
                                 f"images, batch "
                                 f"{cfg.batch_size}, Adam lr {cfg.lr:g} ({cfg.lr_schedule}), seed {cfg.seed}"
                                 f"{resumed}. Per epoch: {test}{robust}.{stages}")

    def _resume_curves(self, done: int) -> None:
        """The curves of the `done` epochs a resumed run starts after: the previous run's own batch-by-batch
        points when it is the run on the plot (the same history), else the checkpoint's per-epoch means (the
        running means the batch points end each epoch on)."""
        loss_x, loss_y, acc_x, acc_y, history = self._previous
        if loss_x and tuple(history[:done]) == self.history[:done] and loss_x[-1] >= done - 1e-9:
            keep = [i for i, x in enumerate(loss_x) if x <= done + 1e-9]
            self.loss_x, self.loss_y = [loss_x[i] for i in keep], [loss_y[i] for i in keep]
            keep = [i for i, x in enumerate(acc_x) if x <= done + 1e-9]
            self.acc_x, self.acc_y = [acc_x[i] for i in keep], [acc_y[i] for i in keep]
            return
        for h in self.history[:done]:
            self.loss_x.append(float(h["epoch"]))
            self.loss_y.append(float(h["train_loss"]))
            self.acc_x.append(float(h["epoch"]))
            self.acc_y.append(float(h["train_accuracy"]) * 100)

    def robust_legend(self) -> str:
        cfg = self.config_shown
        if cfg is None or cfg.adversarial is None:
            return "PGD robust accuracy (adversarial methods only)"
        return f"PGD robust accuracy ({robust_label(cfg, self.robust_samples)}, held-out test images)"

    def _legend_text(self) -> None:
        cfg = self.config_shown
        n = self.test_samples or (cfg.eval_limit if cfg is not None else None)
        test_n = f" (n={n})" if n else ""
        c = line_colours(colours(self))
        entries = [(c["train"], "━", "training accuracy (running mean over the epoch so far)"),
                   (c["test"], "●", f"clean test accuracy{test_n}"),
                   (c["robust"], "■", self.robust_legend())]
        fg = text_colour(self)
        self.acc_legend.setText("&nbsp;&nbsp; ".join(
            f'<span style="color:{c}">{sym}</span> <span style="color:{fg}">{html.escape(t)}</span>'
            for c, sym, t in entries))

    def _redraw(self) -> None:
        self.loss_line.setData(np.asarray(self.loss_x, float), np.asarray(self.loss_y, float))
        self.train_acc_line.setData(np.asarray(self.acc_x, float), np.asarray(self.acc_y, float))
        tx, ty, rx, ry = [], [], [], []
        for h in self.history:
            if h.get("test_accuracy") is not None:
                tx.append(float(h["epoch"]))
                ty.append(float(h["test_accuracy"]) * 100)
            if h.get("robust_accuracy") is not None:
                rx.append(float(h["epoch"]))
                ry.append(float(h["robust_accuracy"]) * 100)
        self.test_line.setData(np.asarray(tx, float), np.asarray(ty, float))
        self.robust_line.setData(np.asarray(rx, float), np.asarray(ry, float))

