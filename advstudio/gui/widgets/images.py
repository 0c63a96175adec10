"""numpy arrays to and from QImage, and a QImage as PNG bytes through core's one encoder (core.render.png_bytes)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from advstudio.core.render import png_bytes


def qimage_from_array(array: np.ndarray) -> QImage:
    """A uint8 (H, W) grey or (H, W, 3) RGB array as a QImage that owns its pixels (a copy)."""
    a = np.ascontiguousarray(array)
    if a.ndim == 2:
        return QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_Grayscale8).copy()
    return QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_RGB888).copy()


def qimage_to_rgb(img: QImage) -> np.ndarray:
    """A QImage's pixels as an (H, W, 3) uint8 RGB array (a copy; rows unpadded)."""
    rgb = img.convertToFormat(QImage.Format.Format_RGB888)
    h, w, line = rgb.height(), rgb.width(), rgb.bytesPerLine()
    rows = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=line * h).reshape(h, line)
    return rows[:, : w * 3].reshape(h, w, 3).copy()


def qimage_png(img: QImage) -> bytes:
    """A QImage encoded as PNG in memory (the callers write files atomically)."""
    return png_bytes(qimage_to_rgb(img))
