"""PNG-ready pictures (uint8 RGB numpy arrays) of the explain results: attribution pairs, the loss landscape, the
decision plane and the penultimate-layer projection. Pure numpy on render.py's colour maps, so the command line
and the session report draw the same pictures the window shows, without Qt."""

from __future__ import annotations

import numpy as np

from advstudio.core.render import (
    CLASS_COLOURS,
    attribution_rgb,
    class_colour_rgb,
    class_rgb,
    enlarge,
    heat_rgb,
)

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GAP = (128, 128, 128)  # the neutral grey between two panels
CLEAN_BLUE = (0x00, 0x72, 0xB2)  # the clean point (Okabe–Ito blue)
ADV_ORANGE = (0xD5, 0x5E, 0x00)  # the adversarial point (Okabe–Ito vermillion)
MARGIN = 0.04  # the projection's margin around the data, as a share of its extent


def _side_by_side(left: np.ndarray, right: np.ndarray, gap: int) -> np.ndarray:
    """Two RGB panels of one height next to each other with a `gap`-pixel grey strip between."""
    strip = np.empty((left.shape[0], gap, 3), dtype=np.uint8)
    strip[...] = GAP
    return np.concatenate([left, strip, right], axis=1)


def _limit(values: np.ndarray) -> float:
    """The 99th percentile of |values| (robust to a few hot pixels), else their maximum, else 1."""
    mag = np.abs(np.asarray(values, dtype=np.float64))
    if not mag.size:
        return 1.0
    top = float(np.percentile(mag, 99))
    return top if top > 0 else float(mag.max()) or 1.0


def attribution_figure(clean: np.ndarray, adversarial: np.ndarray, maps: np.ndarray, signed: bool,
                       scale: int = 8) -> np.ndarray:
    """The clean map over the clean image and the adversarial map over the adversarial image, side by side, each
    on its own scale (99th percentile of |map|), enlarged `scale`× with a scale-pixel gap: (H·s, (2W+1)·s, 3)."""
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3 or maps.shape[0] != 2:
        raise ValueError(f"maps must be (2, H, W): the clean and the adversarial map, got {maps.shape}")
    panels = [enlarge(attribution_rgb(np.asarray(img, dtype=np.float32).reshape(m.shape), m, signed, _limit(m)),
                      scale) for img, m in zip((clean, adversarial), maps)]
    return _side_by_side(panels[0], panels[1], scale)


def _square(canvas: np.ndarray, row: int, col: int, half: int, colour: tuple[int, int, int]) -> None:
    """A (2·half + 1)-pixel square centred on (row, col), cut at the canvas edges."""
    h, w = canvas.shape[:2]
    canvas[max(row - half, 0) : min(row + half + 1, h), max(col - half, 0) : min(col + half + 1, w)] = colour


def _line(canvas: np.ndarray, r0: int, c0: int, r1: int, c1: int, colour: tuple[int, int, int]) -> None:
    """A one-pixel line from (r0, c0) to (r1, c1), both ends included (DDA raster), cut at the canvas edges."""
    n = max(abs(r1 - r0), abs(c1 - c0)) + 1
    rows = np.rint(np.linspace(r0, r1, n)).astype(np.int64)
    cols = np.rint(np.linspace(c0, c1, n)).astype(np.int64)
    h, w = canvas.shape[:2]
    keep = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    canvas[rows[keep], cols[keep]] = colour


def _nearest(values: np.ndarray, x: float) -> int:
    return int(np.abs(np.asarray(values, dtype=np.float64) - float(x)).argmin())


def _pixel_coords(values: np.ndarray, scale: int) -> np.ndarray:
    """The coordinate at the centre of each of the len(values)·scale output pixels of an evenly spaced axis."""
    values = np.asarray(values, dtype=np.float64)
    step = float(values[1] - values[0]) if len(values) > 1 else 1.0
    return values[0] + step * ((np.arange(len(values) * scale) + 0.5) / scale - 0.5)


def landscape_figure(a: np.ndarray, b: np.ndarray, loss: np.ndarray, pred: np.ndarray, eps: float,
                     scale: int = 6) -> np.ndarray:
    """The loss (heat map, its own min..max) and the class map side by side, b upwards and a rightwards, the ε-ball
    diamond |a| + |b| = ε in white (pixels within half a pixel's step of it) and the centre marked by a white
    cross: (G·s, (2G+1)·s, 3)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    loss = np.asarray(loss, dtype=np.float32)
    if loss.shape != (len(b), len(a)) or np.shape(pred) != loss.shape:
        raise ValueError(f"loss and pred must be (len(b), len(a)) = {(len(b), len(a))}, got {loss.shape} and "
                         f"{np.shape(pred)}")
    finite = loss[np.isfinite(loss)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    heat = np.where(np.isfinite(loss), loss, high)
    panels = [enlarge(heat_rgb(heat, high if high > low else low + 1.0, low)[::-1], scale),
              enlarge(class_rgb(pred)[::-1], scale)]
    pa, pb = _pixel_coords(a, scale), _pixel_coords(b, scale)[::-1]  # output row 0 is the largest b
    step = abs(float(a[1] - a[0])) if len(a) > 1 else 1.0
    tolerance = 0.5 * step / scale  # half a grid step at scale 1: a one-pixel outline at any scale
    diamond = np.abs(np.abs(pa)[None, :] + np.abs(pb)[:, None] - float(eps)) <= tolerance
    centre_r = (len(b) - 1 - _nearest(b, 0.0)) * scale + scale // 2
    centre_c = _nearest(a, 0.0) * scale + scale // 2
    arm = max(2, scale)
    for panel in panels:
        panel[diamond] = WHITE
        _line(panel, centre_r, centre_c - arm, centre_r, centre_c + arm, WHITE)
        _line(panel, centre_r - arm, centre_c, centre_r + arm, centre_c, WHITE)
    return _side_by_side(panels[0], panels[1], scale)


def boundary_figure(u: np.ndarray, v: np.ndarray, pred: np.ndarray, confidence: np.ndarray, points: dict,
                    path: np.ndarray | None, scale: int = 4) -> np.ndarray:
    """The class map (shaded by confidence, v upwards) enlarged `scale`×, the attack's path as a white line through
    the nearest grid points, the clean point a blue and the adversarial one an orange square: (G·s, G·s, 3)."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    if np.shape(pred) != (len(v), len(u)) or np.shape(confidence) != np.shape(pred):
        raise ValueError(f"pred and confidence must be (len(v), len(u)) = {(len(v), len(u))}, got {np.shape(pred)} "
                         f"and {np.shape(confidence)}")
    canvas = enlarge(class_rgb(pred, confidence)[::-1], scale).copy()
    rows = len(v)

    def pixel(pu: float, pv: float) -> tuple[int, int]:
        """The output pixel at the centre of the grid cell nearest (pu, pv)."""
        return (rows - 1 - _nearest(v, pv)) * scale + scale // 2, _nearest(u, pu) * scale + scale // 2

    if path is not None and len(path):
        cells = [pixel(float(pu), float(pv)) for pu, pv in np.asarray(path, dtype=np.float64)]
        for (r0, c0), (r1, c1) in zip(cells[:-1], cells[1:]):
            _line(canvas, r0, c0, r1, c1, WHITE)
        canvas[cells[0]] = WHITE
    half = max(1, scale // 2 + 1)
    for name, colour in (("clean", CLEAN_BLUE), ("adversarial", ADV_ORANGE)):
        if name in points:
            _square(canvas, *pixel(*points[name]), half, colour)
    return canvas


def projection_figure(coords: np.ndarray, labels: np.ndarray, path: np.ndarray | None, size: int = 480) -> np.ndarray:
    """A white size×size scatter of the projected dataset (2×2 dots in the colour of each true class, the second
    axis upwards), the path in black from a blue 3×3 start to an orange end (each ringed in black); each axis
    spans the data and the path with a 4 % margin."""
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if labels.shape[0] != coords.shape[0]:
        raise ValueError(f"{coords.shape[0]} points but {labels.shape[0]} labels")
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    track = np.zeros((0, 2)) if path is None else np.asarray(path, dtype=np.float64).reshape(-1, 2)
    every = np.concatenate([coords, track])
    every = every[np.isfinite(every).all(1)]
    canvas = np.full((size, size, 3), 255, dtype=np.uint8)
    if not every.size:
        return canvas
    lo, hi = every.min(0), every.max(0)
    extent = np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - MARGIN * extent, hi + MARGIN * extent
    inner = size - 2  # a 2-pixel dot at the last pixel still fits

    def pixels(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = (xy - lo) / (hi - lo)
        cols = np.rint(t[:, 0] * inner).astype(np.int64)
        rows = np.rint((1.0 - t[:, 1]) * inner).astype(np.int64)
        return np.clip(rows, 0, inner), np.clip(cols, 0, inner)

    ok = np.isfinite(coords).all(1)
    rows, cols = pixels(coords[ok])
    table = np.array([class_colour_rgb(k) for k in range(len(CLASS_COLOURS))], dtype=np.uint8)
    colours = table[labels[ok] % len(CLASS_COLOURS)]
    for dr in (0, 1):
        for dc in (0, 1):
            canvas[rows + dr, cols + dc] = colours
    track = track[np.isfinite(track).all(1)]
    if len(track):
        rows, cols = pixels(track)
        for k in range(len(track) - 1):
            _line(canvas, int(rows[k]), int(cols[k]), int(rows[k + 1]), int(cols[k + 1]), BLACK)
        for k, colour in ((0, CLEAN_BLUE), (-1, ADV_ORANGE)):  # 3×3 squares in a black ring, so they stand out
            _square(canvas, int(rows[k]), int(cols[k]), 2, BLACK)
            _square(canvas, int(rows[k]), int(cols[k]), 1, colour)
    return canvas
