"""The session report's figures: the attack's three images as PNG, accuracy-against-ε curves (inline SVG or a
PIL-drawn PNG for Qt's PDF writer, with their table) and the per-layer activation-shift bars."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from advstudio.core.describe import attack_title
from advstudio.core.render import diverging_rgb, enlarge, png_bytes, to_gray_u8
from advstudio.core.report.markup import ImageSink, esc, img_tag, num, pct
from advstudio.core.report.style import COLOURS

PIXEL_SCALE = 6  # 28×28 → 168×168, nearest neighbour: crisp in every viewer, tiny as PNG
PERTURBATION_GAIN = 10.0  # δ × 10, as the window shows it (±0.1 saturates)


def image_pngs(attack: dict) -> tuple[bytes, bytes, bytes]:
    """Clean, perturbation × 10 (blue–white–red) and adversarial images as PNG, each pixel 6×6."""
    clean = enlarge(to_gray_u8(np.asarray(attack["clean"], dtype=np.float32).reshape(28, 28)), PIXEL_SCALE)
    delta = np.asarray(attack["perturbation"], dtype=np.float32).reshape(28, 28)
    pert = enlarge(diverging_rgb(delta * PERTURBATION_GAIN, limit=1.0), PIXEL_SCALE)
    adv = enlarge(to_gray_u8(np.asarray(attack["adversarial"], dtype=np.float32).reshape(28, 28)), PIXEL_SCALE)
    return png_bytes(clean, optimize=True), png_bytes(pert, optimize=True), png_bytes(adv, optimize=True)


def curve_points(c: dict) -> tuple[list[float], list[float]] | None:
    eps = [num(e) for e in (c.get("eps") or [])]
    acc = [num(a) for a in (c.get("accuracy") or [])]
    pts = [(e, a) for e, a in zip(eps, acc) if e is not None and a is not None]
    if not pts:
        return None
    return [p[0] for p in pts], [p[1] for p in pts]


def ticks(values: Sequence[float], hi: float) -> list[float]:
    uniq = sorted(set(round(v, 6) for v in values))
    if 2 <= len(uniq) <= 8:
        return uniq
    step = hi / 5 if hi > 0 else 1.0
    return [round(step * k, 6) for k in range(6)]


class Plot:
    """Accuracy (0–100 %) against ε in a fixed frame; shared by the SVG and the PNG drawing."""

    W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 340, 62, 26, 14, 50

    def __init__(self, curves: list[tuple[list[float], list[float]]]) -> None:
        self.hi = max(max(e) for e, _ in curves) or 1.0
        self.ticks = ticks([x for e, _ in curves for x in e], self.hi)
        self.hi = max(self.hi, max(self.ticks))

    def x(self, e: float) -> float:
        return self.LEFT + (self.W - self.LEFT - self.RIGHT) * (e / self.hi)

    def y(self, a: float) -> float:
        return self.TOP + (self.H - self.TOP - self.BOTTOM) * (1.0 - min(max(a, 0.0), 1.0))


def curves_svg(curves: list[dict], x_label: str) -> str:
    """Inline SVG of accuracy against ε; every polyline carries its points as data attributes."""
    data = [(curve_points(c), c) for c in curves]
    data = [(d, c) for d, c in data if d is not None]
    if not data:
        return "<p>(no points to draw)</p>"
    p = Plot([d for d, _ in data])
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{p.W}" height="{p.H}" viewBox="0 0 {p.W} {p.H}" '
           f'font-family="DejaVu Sans, Arial, sans-serif" font-size="12" role="img">',
           f'<rect x="0" y="0" width="{p.W}" height="{p.H}" fill="white"/>']
    for k in range(5):
        a = k / 4
        y = p.y(a)
        out.append(f'<line x1="{p.LEFT}" y1="{y:.1f}" x2="{p.W - p.RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{p.LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{a * 100:.0f}%</text>')
    for t in p.ticks:
        x = p.x(t)
        out.append(f'<line x1="{x:.1f}" y1="{p.TOP}" x2="{x:.1f}" y2="{p.H - p.BOTTOM}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{p.H - p.BOTTOM + 16}" text-anchor="middle">{t:g}</text>')
    out.append(f'<rect x="{p.LEFT}" y="{p.TOP}" width="{p.W - p.LEFT - p.RIGHT}" '
               f'height="{p.H - p.TOP - p.BOTTOM}" fill="none" stroke="#444"/>')
    out.append(f'<text x="{(p.LEFT + p.W - p.RIGHT) / 2:.1f}" y="{p.H - 10}" text-anchor="middle">{esc(x_label)}</text>')
    out.append(f'<text x="14" y="{(p.TOP + p.H - p.BOTTOM) / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(p.TOP + p.H - p.BOTTOM) / 2:.1f})">accuracy</text>')
    for i, ((eps, acc), c) in enumerate(data):
        colour = COLOURS[i % len(COLOURS)]
        pts = " ".join(f"{p.x(e):.1f},{p.y(a):.1f}" for e, a in zip(eps, acc))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}" '
                   f'data-eps="{esc(",".join(f"{e:g}" for e in eps))}" '
                   f'data-accuracy="{esc(",".join(f"{a:.4f}" for a in acc))}"><title>{esc(c.get("label", ""))}</title>'
                   f'</polyline>')
        for e, a in zip(eps, acc):
            out.append(f'<circle cx="{p.x(e):.1f}" cy="{p.y(a):.1f}" r="3" fill="{colour}"/>')
    out.append("</svg>")
    return "".join(out)


def report_font(size: int):
    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "Arial.ttf", "arial.ttf", "Helvetica.ttc", "LiberationSans-Regular.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def curves_png(curves: list[dict], x_label: str, scale: int = 2) -> bytes | None:
    """The same figure as curves_svg, drawn with PIL (for viewers without SVG, such as Qt's PDF writer)."""
    from PIL import Image, ImageDraw

    data = [d for d in (curve_points(c) for c in curves) if d is not None]
    if not data:
        return None
    p = Plot(data)
    s = scale
    img = Image.new("RGB", (p.W * s, p.H * s), "white")
    d = ImageDraw.Draw(img)
    font = report_font(12 * s)
    for k in range(5):
        a = k / 4
        y = p.y(a) * s
        d.line([(p.LEFT * s, y), ((p.W - p.RIGHT) * s, y)], fill="#dddddd", width=1)
        d.text(((p.LEFT - 6) * s, y), f"{a * 100:.0f}%", fill="#222222", font=font, anchor="rm")
    for t in p.ticks:
        x = p.x(t) * s
        d.line([(x, p.TOP * s), (x, (p.H - p.BOTTOM) * s)], fill="#eeeeee", width=1)
        d.text((x, (p.H - p.BOTTOM + 6) * s), f"{t:g}", fill="#222222", font=font, anchor="mt")
    d.rectangle([p.LEFT * s, p.TOP * s, (p.W - p.RIGHT) * s, (p.H - p.BOTTOM) * s], outline="#444444", width=s)
    d.text(((p.LEFT + p.W - p.RIGHT) / 2 * s, (p.H - 6) * s), x_label, fill="#222222", font=font, anchor="md")
    label = Image.new("RGB", (90 * s, 16 * s), "white")
    ImageDraw.Draw(label).text((45 * s, 8 * s), "accuracy", fill="#222222", font=font, anchor="mm")
    label = label.rotate(90, expand=True)
    img.paste(label, (4 * s, int((p.TOP + (p.H - p.TOP - p.BOTTOM) / 2) * s - label.height / 2)))
    for i, (eps, acc) in enumerate(data):
        colour = COLOURS[i % len(COLOURS)]
        pts = [(p.x(e) * s, p.y(a) * s) for e, a in zip(eps, acc)]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2 * s, joint="curve")
        for x, y in pts:
            d.ellipse([x - 3 * s, y - 3 * s, x + 3 * s, y + 3 * s], fill=colour)
    return png_bytes(np.asarray(img), optimize=True)


def curve_table(curves: list[dict]) -> str:
    eps = sorted({e for c in curves for e in (curve_points(c) or ([], []))[0]})
    head = "".join(f'<th class="num">{e:g}</th>' for e in eps)
    rows = []
    for i, c in enumerate(curves):
        pts = curve_points(c)
        if pts is None:
            continue
        lookup = dict(zip(*pts))
        cells = "".join(f'<td class="num">{pct(lookup.get(e))}</td>' for e in eps)
        sw = f'<span class="swatch" style="color:{COLOURS[i % len(COLOURS)]}">■</span> '
        rows.append(f"<tr><td>{sw}{esc(c.get('label') or attack_title(str(c.get('attack', ''))))}</td>{cells}</tr>")
    return f'<table><tr><th>accuracy at ε =</th>{head}</tr>{"".join(rows)}</table>'


def curve_figure(curves: list[dict], title: str, settings: list[str], x_label: str, raster: bool,
                 sink: ImageSink) -> str:
    if raster:
        png = curves_png(curves, x_label)
        figure = img_tag(sink, png, title, 560, 298) if png else "<p>(no points to draw)</p>"
    else:
        figure = curves_svg(curves, x_label)
    lines = "".join(f"<li>{esc(s)}</li>" for s in settings)
    return (f'<div class="figure"><h3>{esc(title)}</h3>{figure}{curve_table(curves)}'
            f'<div class="settings"><b>Settings behind this figure</b><ul>{lines}</ul></div></div>')


def shift_bars_svg(layers: list[dict]) -> str:
    rows = [(str(layer.get("name", "?")), num(layer.get("relative_shift"))) for layer in layers]
    top = max([v for _, v in rows if v is not None] + [0.5])
    w, bar_h, left = 420, 20, 70
    h = len(rows) * (bar_h + 6) + 6
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
           f'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">']
    for i, (name, v) in enumerate(rows):
        y = 6 + i * (bar_h + 6)
        length = 0 if v is None else (w - left - 60) * v / top
        out.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{esc(name)}</text>'
                   f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="#ff7f0e" '
                   f'data-shift="{"nan" if v is None else f"{v:.4f}"}"/>'
                   f'<text x="{left + length + 4:.1f}" y="{y + 14}">{pct(v)}</text>')
    out.append("</svg>")
    return "".join(out)


def shift_bars_png(layers: list[dict], scale: int = 2) -> bytes:
    from PIL import Image, ImageDraw

    rows = [(str(layer.get("name", "?")), num(layer.get("relative_shift"))) for layer in layers]
    top = max([v for _, v in rows if v is not None] + [0.5])
    w, bar_h, left, s = 420, 20, 70, scale
    h = len(rows) * (bar_h + 6) + 6
    img = Image.new("RGB", (w * s, h * s), "white")
    d = ImageDraw.Draw(img)
    font = report_font(12 * s)
    for i, (name, v) in enumerate(rows):
        y = 6 + i * (bar_h + 6)
        length = 0 if v is None else (w - left - 60) * v / top
        d.text(((left - 6) * s, (y + bar_h / 2) * s), name, fill="#222222", font=font, anchor="rm")
        if length > 0:
            d.rectangle([left * s, y * s, (left + length) * s, (y + bar_h) * s], fill="#ff7f0e")
        d.text(((left + length + 4) * s, (y + bar_h / 2) * s), pct(v), fill="#222222", font=font, anchor="lm")
    return png_bytes(np.asarray(img), optimize=True)
