"""A user's digit the MNIST way: ink from the canvas or an image file → crop to the ink, scale into 20×20 keeping
the aspect ratio, paste into 28×28 with the centre of mass at the centre, white on black, values in [0, 1].
numpy and Pillow only (the canvas calls it on the GUI thread)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from advstudio.core.errors import InputImageError

INK_THRESHOLD = 0.05


def preprocess_ink(ink: np.ndarray) -> np.ndarray:
    """Turn an ink map (H×W, float in [0, 1], 1 = ink) into a 28×28 MNIST-style digit.

    Crop to the ink's bounding box, scale it into 20×20 keeping its aspect, and paste it into 28×28 so that
    its centre of mass sits at the centre. White ink on black, float32 in [0, 1].
    Raises InputImageError when there is no ink.
    """
    from PIL import Image

    ink = np.asarray(ink, dtype=np.float32)
    if ink.ndim != 2 or ink.size == 0:
        raise InputImageError("expected a 2-D ink map")
    ink = np.clip(np.nan_to_num(ink), 0.0, 1.0)
    mask = ink > INK_THRESHOLD
    if not mask.any():
        raise InputImageError("the image is empty: there is no ink to classify")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = np.asarray(
        Image.fromarray(crop, mode="F").resize((nw, nh), Image.Resampling.LANCZOS if max(h, w) > 20 else Image.Resampling.BILINEAR),
        dtype=np.float32,
    )
    resized = np.clip(resized, 0.0, 1.0)
    out = np.zeros((28, 28), dtype=np.float32)
    top, left = (28 - nh) // 2, (28 - nw) // 2
    out[top : top + nh, left : left + nw] = resized
    total = out.sum()
    if total > 0:
        yy, xx = np.mgrid[0:28, 0:28]
        cy, cx = (out * yy).sum() / total, (out * xx).sum() / total
        dy, dx = int(round(13.5 - cy)), int(round(13.5 - cx))
        # keep the whole digit inside the frame
        dy = int(np.clip(dy, -top, 28 - (top + nh)))
        dx = int(np.clip(dx, -left, 28 - (left + nw)))
        out = np.roll(out, (dy, dx), axis=(0, 1))
    return np.ascontiguousarray(out, dtype=np.float32)


def image_to_ink(image) -> np.ndarray:
    """An ink map from a PIL image of any mode: dark on light, light on dark, or ink on a transparent
    background. Polarity is read from the border (the paper), not assumed."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        if alpha.min() < 0.5 <= alpha.max():
            # ink drawn on a transparent sheet: the alpha channel is the ink
            return alpha
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = float(np.median(border))
    ink = (paper - gray) if paper >= 0.5 else (gray - paper)
    span = float(ink.max())
    if span <= 0.0:
        raise InputImageError("the image is blank: no ink stands out from the background")
    return np.clip(ink / span, 0.0, 1.0)


def load_image_file(path: str | os.PathLike) -> np.ndarray:
    """Read an image file (PNG, JPEG, BMP, … any size) and preprocess it into a 28×28 digit."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    try:
        with Image.open(p) as im:
            im.load()
            if im.width * im.height > 40_000_000:
                raise InputImageError(f"{p}: the image is too large ({im.width}×{im.height})")
            ink = image_to_ink(im)
    except FileNotFoundError as exc:
        raise InputImageError(f"{p}: no such file") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InputImageError):
            raise InputImageError(f"{p}: {exc}") from exc
        raise InputImageError(f"{p}: not a readable image ({exc})") from exc
    try:
        return preprocess_ink(ink)
    except InputImageError as exc:
        raise InputImageError(f"{p}: {exc}") from exc
