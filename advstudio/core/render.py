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


# A sequential map for magnitudes (attributions, loss): black, purple, orange, pale yellow (inferno's anchors).
_HEAT = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32)
# One colour per class: the decision maps and the projection colour class k with CLASS_COLOURS[k % 20]. The first
# ten are matplotlib's tab10 (a ten-class model's colours), the next ten tab20's light partners of the same hues,
# so a model of up to 20 classes gets one colour each; beyond 20 the colours repeat (colours_repeat says when, and
# the views say so beside their key).
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf",
                 "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
                 "#dbdb8d", "#9edae5")


def heat_rgb(values: np.ndarray, limit: float | None = None, low: float = 0.0) -> np.ndarray:
    """Map values in [low, limit] (limit None: their maximum) to RGB uint8 on the sequential map, dark = low."""
    v = np.asarray(values, dtype=np.float32)
    top = float(v.max()) if limit is None and v.size else float(limit or 1.0)
    t = np.clip((v - low) / max(top - low, 1e-12), 0.0, 1.0) * (len(_HEAT) - 1)
    i = np.minimum(t.astype(np.int64), len(_HEAT) - 2)
    f = (t - i)[..., None]
    return (_HEAT[i] * (1 - f) + _HEAT[i + 1] * f + 0.5).astype(np.uint8)


def class_colour(k: int) -> str:
    """Class k's colour as "#rrggbb" (CLASS_COLOURS, repeating after 20 classes)."""
    return CLASS_COLOURS[int(k) % len(CLASS_COLOURS)]


def colours_repeat(num_classes: int) -> bool:
    """Whether a model of this many classes has classes that share a colour (more than CLASS_COLOURS holds)."""
    return int(num_classes) > len(CLASS_COLOURS)


def class_colour_rgb(k: int) -> tuple[int, int, int]:
    c = class_colour(k)
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


def class_rgb(classes: np.ndarray, shade: np.ndarray | None = None) -> np.ndarray:
    """An (H, W) class map as RGB uint8, class k in class_colour(k); `shade` in [0, 1] (the confidence) darkens
    uncertain places towards grey, so the borders show."""
    table = np.array([class_colour_rgb(k) for k in range(len(CLASS_COLOURS))], dtype=np.float32)
    rgb = table[np.asarray(classes, dtype=np.int64) % len(CLASS_COLOURS)]
    if shade is not None:
        s = np.clip(np.asarray(shade, dtype=np.float32), 0.0, 1.0)[..., None]
        rgb = rgb * (0.45 + 0.55 * s) + 128.0 * (0.55 - 0.55 * s)
    return (np.clip(rgb, 0, 255) + 0.5).astype(np.uint8)


def attribution_rgb(image: np.ndarray, attribution: np.ndarray, signed: bool, limit: float | None = None) -> np.ndarray:
    """An attribution map over its 28×28 image, RGB uint8: the image in dim grey underneath, the map's magnitude
    on top (sequential for magnitudes; red for positive and blue for negative when signed), its own strength as
    opacity so the digit shows through where the map is weak."""
    a = np.asarray(attribution, dtype=np.float32)
    top = float(limit) if limit else float(np.abs(a).max()) if a.size else 1.0
    top = max(top, 1e-12)
    grey = np.clip(np.asarray(image, dtype=np.float32), 0, 1)[..., None] * 80.0
    alpha = np.clip(np.abs(a) / top, 0.0, 1.0)[..., None]
    if signed:
        colour = np.where(a[..., None] >= 0, _POS * 0.6 + 255 * 0.4 * np.array([1, 0.3, 0.3]),
                          _NEG * 0.6 + 255 * 0.4 * np.array([0.3, 0.6, 1]))
        colour = colour.astype(np.float32)
    else:
        colour = heat_rgb(np.abs(a), top).astype(np.float32)
    alpha = np.sqrt(alpha)  # weak attributions still visible, strong ones opaque
    return (np.clip(grey * (1 - alpha) + colour * alpha, 0, 255) + 0.5).astype(np.uint8)
