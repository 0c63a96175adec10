"""What the loaded model is: name, file, device, training recipe, accuracy and its FGSM robustness curve."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from advstudio.core.classes import DIGITS
from advstudio.core.model_meta import curve_points, robust_headline
from advstudio.gui.models import ModelInfo
from advstudio.gui.theme import style_plot
from advstudio.gui.widgets.palette import ADVERSARIAL
from advstudio.gui.widgets.plain import breakable


def describe(info: ModelInfo) -> str:
    meta = info.meta
    acc = info.accuracy
    rows = [("Model", info.name + (" (bundled)" if info.bundled else "")), ("File", info.path),
            ("Device", info.device),
            ("Test accuracy", f"{acc * 100:.2f}% on {meta.get('test_samples', '?')} {_test_images(info)}"
             if acc is not None else "not recorded")]
    if info.classes != DIGITS:
        shown = ", ".join(info.classes[:12]) + (", …" if len(info.classes) > 12 else "")
        rows.append(("Classes", f"{len(info.classes)}: {shown}"))
    recipe = meta.get("recipe")
    if isinstance(recipe, dict):
        keys = ("optimizer", "lr", "epochs", "batch_size", "loss", "seed")
        rows.append(("Recipe", ", ".join(f"{k} {recipe[k]}" for k in keys if k in recipe)))
    head = robust_headline(meta)
    if head is not None:
        rows.append(("Robust accuracy", robust_text(head)))
    for key, label in (("train_samples", "Trained on"), ("training_seconds", "Training time"), ("date", "Date")):
        if key in meta:
            suffix = {"train_samples": " images", "training_seconds": " s"}.get(key, "")
            rows.append((label, f"{meta[key]}{suffix}"))
    body = "".join(f"<tr><td><b>{html.escape(k)}</b>&nbsp;</td><td>{html.escape(breakable(str(v)))}</td></tr>"
                   for k, v in rows)
    return f"<table>{body}</table>"


def _test_images(info: ModelInfo) -> str:
    return "MNIST test images" if info.classes == DIGITS else "test images"


def robust_text(head: dict) -> str:
    """"89.00% at ε = 0.3 under AutoAttack standard (10,000 images); weaker attacks: PGD-40: 93.82%"."""
    def n_of(n) -> str:
        return f"{n:,} images" if n else "n not recorded"

    text = f"{head['accuracy'] * 100:.2f}% at ε = {head['eps']:g} under {head['label']} ({n_of(head['n'])})"
    if not head["strongest"]:
        text += ", not yet measured with AutoAttack, the strongest attack"
    weaker = "; ".join(f"{label}: {acc * 100:.2f}%" for label, acc, _n in head["weaker"][:3])
    return text + (f"; weaker attacks: {weaker}" if weaker else "")


class ModelInfoPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("model_info_panel")
        self.info: ModelInfo | None = None
        self.text = QLabel("No model loaded.")
        self.text.setWordWrap(True)
        self.curve = pg.PlotWidget()
        self.curve.setMouseEnabled(False, False)
        self.curve.setMenuEnabled(False)
        self.curve.hideButtons()
        self.curve.setMinimumHeight(150)
        self.curve.setLabel("bottom", "ε (pixel units)")
        self.curve.setLabel("left", "accuracy %")
        self.curve.setYRange(0, 100, padding=0.02)
        self.curve.getAxis("bottom").enableAutoSIPrefix(False)
        self.line = self.curve.plot([], [], pen=pg.mkPen(ADVERSARIAL, width=2), symbol="o", symbolSize=6,
                                    symbolBrush=ADVERSARIAL)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.curve.setToolTip("Accuracy of this model on MNIST test images attacked with untargeted FGSM, "
                              "from the model file's metadata")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.text)
        layout.addWidget(self.caption)
        layout.addWidget(self.curve, 1)
        style_plot(self.curve)

    def set_data(self, info: ModelInfo | None) -> None:
        self.info = info
        if info is None:
            self.text.setText("No model loaded.")
            self.line.setData([], [])
            return
        self.text.setText(describe(info))
        points = curve_points(info.meta)  # None for a curve that is not two lists of numbers of one length
        if points is not None:
            self.line.setData(np.asarray(points[0], dtype=float), np.asarray(points[1], dtype=float) * 100)
            n = info.meta["fgsm_curve"].get("n", "?")
            self.caption.setText(f"Robustness: untargeted FGSM (L∞, 1 step, no restarts), ε as shown, "
                                 f"n = {n} test images. No defense; a defense is only credited "
                                 "with what it holds against an attacker who knows it.")
        else:
            self.line.setData([], [])
            self.caption.setText("This model file records no robustness curve.")

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "curve"):
            style_plot(self.curve)
        super().changeEvent(event)
