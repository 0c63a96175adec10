"""Turning arrays into displayable images: grey levels, a diverging colour map for perturbations, nearest-neighbour
enlargement, and PNG encoding in memory."""

from __future__ import annotations

import io

import numpy as np

# A blue–white–red diverging map (zero is white): negative values blue, positive red.
_NEG = np.array([33, 102, 172], dtype=np.float32)
_MID = np.array([247, 247, 247], dtype=np.float32)
_POS = np.array([178, 24, 43], dtype=np.float32)


def to_gray_u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def diverging_rgb(values: np.ndarray, limit: float = 1.0) -> np.ndarray:
    """Map values in [-limit, limit] to RGB uint8: blue for negative, white for zero, red for positive."""
    v = np.clip(np.asarray(values, dtype=np.float32) / max(limit, 1e-12), -1.0, 1.0)[..., None]
    pos = _MID + (_POS - _MID) * np.clip(v, 0, 1)
    neg = _MID + (_NEG - _MID) * np.clip(-v, 0, 1)
    rgb = np.where(v >= 0, pos, neg)
    return (rgb + 0.5).astype(np.uint8)


def diverging_lut(n: int = 256) -> np.ndarray:
    """The same map as a lookup table (n×3 uint8) for image widgets."""
    return diverging_rgb(np.linspace(-1.0, 1.0, n))


def enlarge(array: np.ndarray, k: int) -> np.ndarray:
    """Nearest-neighbour enlargement: every pixel becomes a k×k block (crisp in every viewer)."""
    return np.repeat(np.repeat(array, k, axis=0), k, axis=1)


def png_bytes(array: np.ndarray, *, optimize: bool = False) -> bytes:
    """Encode a uint8 (H, W) grey or (H, W, 3) RGB array as PNG in memory: the one PNG encoder of the app (the
    report, the CLI and the window's exports all use it). `optimize` trades time for a smaller file."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", optimize=optimize)
    return buf.getvalue()
