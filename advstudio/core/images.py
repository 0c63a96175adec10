"""A user's digit the MNIST way: ink from the canvas or an image file → crop to the ink, scale into 20×20 keeping
the aspect ratio, paste into 28×28 with the centre of mass at the centre, white on black, values in [0, 1].
numpy and Pillow only (the canvas calls preprocess_ink on the GUI thread; the window decodes image files on
its worker)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from advstudio.core.errors import InputImageError
from advstudio.core.files import NotARegularFile, check_regular_file

INK_THRESHOLD = 0.05
MAX_IMAGE_BYTES = 100 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40-megapixel photo; Pillow's own limit is 89 million (and it only warns there)
MAX_ASPECT = 50  # width:height (or height:width) beyond which no digit fits
WORK_SIDE = 1024  # an image is decoded or reduced to at most this many pixels a side before its ink is found


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
    """Read an image file (PNG, JPEG, BMP, …) and preprocess it into a 28×28 digit. The size is checked from the
    file's header before any pixel is decoded (a small file can claim billions of pixels); a large image is
    decoded reduced (JPEG) or reduced right after decoding, so the ink map never exceeds WORK_SIDE²."""
    p = Path(path)
    try:
        check_regular_file(p, MAX_IMAGE_BYTES)
    except NotARegularFile as exc:
        raise InputImageError(f"{p}: no such file" if not p.exists() and not p.is_symlink() else str(exc)) from None
    try:
        ink = _decode_ink(p)
    except InputImageError as exc:
        raise InputImageError(f"{p}: {exc}") from None
    except MemoryError:
        raise InputImageError(f"{p}: not enough memory to decode this image") from None
    except Exception as exc:  # noqa: BLE001 - a hostile file can make Pillow's decoders raise many kinds
        raise InputImageError(f"{p}: not a readable image ({_short(exc)})") from None
    try:
        return preprocess_ink(ink)
    except InputImageError as exc:
        raise InputImageError(f"{p}: {exc}") from exc


def _decode_ink(p: Path) -> np.ndarray:
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(p)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            claimed = re.search(r"\((\d+) pixels\)", str(exc))
            many = f"{int(claimed[1]) / 1e6:,.0f} megapixels" if claimed else "more pixels than Pillow allows"
            raise InputImageError(f"the image is too large (its header claims {many}; at most "
                                  f"{MAX_PIXELS / 1e6:.0f} are read)") from None
    with im:
        check_image_size(im.width, im.height)
        if im.format == "JPEG":
            im.draft("L", (WORK_SIDE, WORK_SIDE))  # decode at 1/2, 1/4 or 1/8 scale: the size we need
        im.load()
        return image_to_ink(_reduced(_plain_mode(im)))


def check_image_size(width: int, height: int) -> None:
    """Refuse, from the header's numbers alone, an image too large to decode or too thin to hold a digit."""
    if width * height > MAX_PIXELS:
        raise InputImageError(f"the image is too large ({width:,}×{height:,} pixels, {width * height / 1e6:,.0f} "
                              f"megapixels; at most {MAX_PIXELS / 1e6:.0f} are read)")
    if width < 1 or height < 1 or max(width, height) > MAX_ASPECT * min(width, height):
        raise InputImageError(f"the image is {width:,}×{height:,} pixels: too narrow or too flat to hold a digit "
                              f"(at most {MAX_ASPECT}:1)")


def _plain_mode(im):
    """L, or LA/RGBA when the image has transparency (its alpha may be the ink): modes Image.reduce handles."""
    if im.mode in ("L", "LA", "RGBA"):
        return im
    if im.mode in ("PA",) or (im.mode == "P" and "transparency" in im.info):
        return im.convert("RGBA")
    return im.convert("L")


def _reduced(im):
    factor = -(-max(im.size) // WORK_SIDE)
    return im.reduce(factor) if factor > 1 else im


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"
