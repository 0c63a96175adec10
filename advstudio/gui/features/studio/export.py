"""Saving an attack: adversarial image and perturbation as PNG (28×28 and ×10), and a side-by-side figure.

Every file is encoded in memory and written atomically (temporary file, fsync, rename)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter

from advstudio.core.files import atomic_write_bytes
from advstudio.core.model_meta import name_of
from advstudio.core.render import diverging_rgb, enlarge, png_bytes, to_gray_u8
from advstudio.core.types import AttackResult
from advstudio.gui.features.studio.attack_results import verdict_text
from advstudio.gui.messages import TARGETED
from advstudio.gui.widgets.images import qimage_from_array, qimage_png

SCALE = 10
MAGNIFY = 10.0  # the files keep the CLI's δ × 10 (±0.1 saturates), as their names say


def _big(array: np.ndarray) -> np.ndarray:
    return enlarge(array, SCALE)


def perturbation_rgb(result: AttackResult) -> np.ndarray:
    """δ × 10 in the diverging map the window uses (±0.1 saturates, zero is white)."""
    return diverging_rgb(result.perturbation * MAGNIFY, limit=1.0)


def describe_attack(result: AttackResult, names=None) -> str:
    kind = f"FGSM targeted toward {name_of(result.target, names)}" if result.method == TARGETED else "FGSM untargeted"
    return f"{kind}, L∞ ε = {result.eps:.3f} ({result.eps * 255:.1f}/255 grey levels), 1 step, no restarts, n = 1 input"


def figure_png(result: AttackResult, model_name: str = "", names=None) -> bytes:
    """Clean, perturbation ×10 and adversarial side by side, each captioned with its prediction."""
    side, gap, top, bottom = 280, 24, 56, 100
    width, height = 3 * side + 4 * gap, top + side + bottom
    img = QImage(width, height, QImage.Format.Format_RGB888)
    img.fill(QColor("white"))
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    font = QFont()
    font.setPixelSize(18)
    p.setFont(font)
    p.setPen(QColor("black"))
    c, a = result.clean_label, result.adv_label
    panels = (
        (_big(to_gray_u8(result.clean)), f"Clean: {name_of(c, names)} ({result.clean_probs[c] * 100:.0f}%)"),
        (_big(perturbation_rgb(result)), "Perturbation δ × 10"),
        (_big(to_gray_u8(result.adversarial)), f"Adversarial: {name_of(a, names)} ({result.adv_probs[a] * 100:.0f}%)"),
    )
    for k, (array, title) in enumerate(panels):
        x = gap + k * (side + gap)
        p.drawText(QRectF(x, 8, side, top - 12), Qt.AlignmentFlag.AlignCenter, title)
        p.drawImage(QRectF(x, top, side, side), qimage_from_array(array))
    p.drawText(QRectF(gap, top + side + 8, width - 2 * gap, 30), Qt.AlignmentFlag.AlignCenter,
               verdict_text(result, names=names))
    font.setPixelSize(14)
    p.setFont(font)
    p.setPen(QColor(90, 90, 90))
    footer = describe_attack(result, names) + (f" · model: {model_name}" if model_name else "") + " · Adversarial Studio"
    p.drawText(QRectF(gap, top + side + 42, width - 2 * gap, 50),
               Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, footer)
    p.end()
    return qimage_png(img)


def save_attack(result: AttackResult, folder: str | Path, stem: str = "attack", model_name: str = "",
                names=None) -> list[Path]:
    """Write the five PNGs into `folder`; returns their paths."""
    folder = Path(folder)
    adv, pert = to_gray_u8(result.adversarial), perturbation_rgb(result)
    files = {
        f"{stem}_adversarial_28x28.png": png_bytes(adv),
        f"{stem}_adversarial_280x280.png": png_bytes(_big(adv)),
        f"{stem}_perturbation_x10_28x28.png": png_bytes(pert),
        f"{stem}_perturbation_x10_280x280.png": png_bytes(_big(pert)),
        f"{stem}_figure.png": figure_png(result, model_name, names),
    }
    paths = []
    for name, data in files.items():
        atomic_write_bytes(folder / name, data)
        paths.append(folder / name)
    return paths

