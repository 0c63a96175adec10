"""Exporting the robustness lab's curves: CSV (one row per model, attack and ε, every setting), JSON (a list of
documents in the `advstudio evaluate --json` format) and the plot as PNG with every setting written under it.
Every file is written atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import QWidget

from advstudio.core.describe import DEFENSE_NOTE
from advstudio.core.files import atomic_write_bytes, atomic_write_text
from advstudio.core.model_meta import name_of
from advstudio.gui.features.lab.messages import LabCurve
from advstudio.gui.widgets.images import qimage_png

CSV_COLUMNS = ("model", "model_path", "attack", "eps_norm", "eps", "accuracy", "success_rate", "clean_accuracy",
               "n", "steps", "restarts", "step_size", "random_start", "early_stop", "targeted", "target", "params",
               "target_class")


def curve_document(c: LabCurve) -> dict:
    """The same document `advstudio evaluate --json` writes for one curve (with the names of its classes)."""
    doc = c.curve.to_json(c.model_name)
    doc["model_path"] = c.model_path
    doc["classes"] = list(c.classes)
    return doc


def curves_json(curves: list[LabCurve]) -> str:
    return json.dumps([curve_document(c) for c in curves], indent=2) + "\n"


def curves_csv(curves: list[LabCurve]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for c in curves:
        p = c.curve.params
        success = c.curve.extra.get("success_rate", [None] * len(c.curve.eps))
        for e, acc, sr in zip(c.curve.eps, c.curve.accuracy, success):
            w.writerow([c.model_name, c.model_path, c.attack, p.get("eps_norm", "linf"), e, acc,
                        "" if sr is None else sr, c.curve.clean_accuracy, c.curve.n, p.get("steps", 1),
                        p.get("restarts", 1), p.get("step_size_rule") or p.get("step_size") or "",
                        p.get("random_start", False), p.get("early_stop", False), p.get("targeted", False),
                        "" if p.get("target") is None else p.get("target"), json.dumps(p, sort_keys=True),
                        "" if p.get("target") is None else name_of(p.get("target"), c.classes)])
    return buf.getvalue()


def plot_png(plot: QWidget, curves: list[LabCurve]) -> bytes:
    """The plot as drawn, and under it one line per curve naming model, attack, ε, steps, restarts and n, and
    the note on defenses."""
    shot = plot.grab().toImage()
    width = max(shot.width(), 900)
    lines = [c.describe() for c in curves] + [DEFENSE_NOTE, "Adversarial Studio · robustness lab"]
    line_h = 20
    img = QImage(width, shot.height() + 16 + line_h * len(lines), QImage.Format.Format_RGB888)
    img.fill(QColor("white"))
    p = QPainter(img)
    p.drawImage(0, 0, shot)
    p.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    font = QFont()
    font.setPixelSize(13)
    p.setFont(font)
    p.setPen(QColor(40, 40, 40))
    y = shot.height() + 8
    for text in lines:
        p.drawText(QRectF(10, y, width - 20, line_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   text)
        y += line_h
    p.end()
    return qimage_png(img)


def write_export(kind: str, path: str | Path, curves: list[LabCurve], plot: QWidget | None = None) -> Path:
    path = Path(path)
    if kind == "csv":
        atomic_write_text(path, curves_csv(curves))
    elif kind == "json":
        atomic_write_text(path, curves_json(curves))
    elif kind == "png":
        assert plot is not None
        atomic_write_bytes(path, plot_png(plot, curves))
    else:
        raise ValueError(f"unknown export kind {kind!r}")
    return path
