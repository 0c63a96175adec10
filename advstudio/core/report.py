"""The session report: one self-contained HTML page (inline CSS, images as data: URIs, curves as inline SVG; no
script, no network) built from plain Python and numpy data. No Qt here: the GUI's session log collects the data
and may hand the same page, with raster curves, to Qt for a PDF.

`session` is a dict (every key optional):
    created, app_version, device, title: str
    models:   [{"name", "path", "bundled", "meta": the model file's JSON metadata}]
    attacks:  [{"id", "clean", "perturbation", "adversarial": (28, 28) arrays, "clean_probs", "adv_probs": (10,),
                "eps", "method" ("fgsm" | "fgsm-targeted"), "target", "model", "source", "recorded",
                "flip": None | {"eps", "below", "step", "evaluations"}}]
    labs:     [{"seconds", "recorded", "target", "curves": [{"model", "attack", "label", "settings", "params", "n",
                "clean_accuracy", "eps", "accuracy"}]}]
    activations: [{"attack_id", "eps", "method", "target", "clean_label", "adv_label", "model", "samples",
                   "layers": [{"name", "shape", "clean_mean", "adv_mean", "clean_active", "adv_active",
                               "mean_abs_change", "clean_mean_abs", "relative_shift", "flip_fraction",
                               "on_to_off", "off_to_on"}]}]
"""

from __future__ import annotations

import base64
import io
import json
import math
from html import escape
from typing import Callable, Sequence

import numpy as np

from advstudio.core.describe import DEFENSE_NOTE, attack_title
from advstudio.core.render import diverging_rgb, to_gray_u8

ImageSink = Callable[[bytes, str], str]  # (png bytes, alt text) -> the <img> src to use
PIXEL_SCALE = 6  # 28×28 → 168×168, nearest neighbour: crisp in every viewer, tiny as PNG
PERTURBATION_GAIN = 10.0  # δ × 10, as the window shows it (±0.1 saturates)
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
CSS = """
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 18pt auto;
       max-width: 720pt; font-size: 10.5pt; }
p, li { line-height: 1.4; }
h1 { font-size: 18pt; margin-bottom: 3pt; }
h2 { font-size: 14pt; border-bottom: 2px solid #444; padding-bottom: 2pt; margin-top: 24pt; }
h2.section { page-break-before: always; }
h3 { font-size: 11.5pt; margin: 14pt 0 5pt 0; }
table { border-collapse: collapse; margin: 5pt 0; }
td, th { border: 1px solid #bbb; padding: 2pt 5pt; text-align: left; vertical-align: top; font-size: 9.5pt; }
th { background: #eee; }
td.num, th.num { text-align: right; }
table.images td { border: none; text-align: center; padding: 3pt 8pt; }
table.images img { border: 1px solid #999; }
.settings { background: #f4f4f4; border-left: 4px solid #888; padding: 4pt 7pt; font-size: 9pt; color: #333; }
.meta { color: #555; font-size: 9.5pt; }
.flipped { color: #b2182b; font-weight: bold; }
.held { color: #1a7a2e; font-weight: bold; }
.figure { page-break-inside: avoid; margin-bottom: 14pt; }
code { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 9pt; }
.swatch { font-size: 12pt; }
@media print {
  .settings { background: none; }
  body { margin: 0; max-width: none; }
  .figure, table.images, svg, img { page-break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""
# Qt's rich text (the PDF path) paints a block's background across page breaks: no shaded boxes there
QT_CSS = ".settings { background-color: #ffffff; }\n"


# ---------------------------------------------------------------------------------------------- small helpers
def _e(value: object) -> str:
    """Any text from a user or a model file, escaped for HTML."""
    return escape(str(value), quote=True)


def _num(value: object) -> float | None:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _pct(value: object, digits: int = 1) -> str:
    v = _num(value)
    return "–" if v is None else f"{v * 100:.{digits}f}%"


def _short(value: object, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def png_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 (H, W) or (H, W, 3) array as PNG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def data_uri(png: bytes, _alt: str = "") -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _enlarge(array: np.ndarray, k: int = PIXEL_SCALE) -> np.ndarray:
    return np.repeat(np.repeat(array, k, axis=0), k, axis=1)


def image_pngs(attack: dict) -> tuple[bytes, bytes, bytes]:
    """Clean, perturbation × 10 (blue–white–red) and adversarial images as PNG, each pixel 6×6."""
    clean = _enlarge(to_gray_u8(np.asarray(attack["clean"], dtype=np.float32).reshape(28, 28)))
    delta = np.asarray(attack["perturbation"], dtype=np.float32).reshape(28, 28)
    pert = _enlarge(diverging_rgb(delta * PERTURBATION_GAIN, limit=1.0))
    adv = _enlarge(to_gray_u8(np.asarray(attack["adversarial"], dtype=np.float32).reshape(28, 28)))
    return png_bytes(clean), png_bytes(pert), png_bytes(adv)


def _img(sink: ImageSink, png: bytes, alt: str, width: int, height: int, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (f'<img{klass} src="{_e(sink(png, alt))}" alt="{_e(alt)}" width="{width}" height="{height}">')


# ---------------------------------------------------------------------------------------------- curves
def _clean_curve(c: dict) -> tuple[list[float], list[float]] | None:
    eps = [_num(e) for e in (c.get("eps") or [])]
    acc = [_num(a) for a in (c.get("accuracy") or [])]
    pts = [(e, a) for e, a in zip(eps, acc) if e is not None and a is not None]
    if not pts:
        return None
    return [p[0] for p in pts], [p[1] for p in pts]


def _ticks(values: Sequence[float], hi: float) -> list[float]:
    uniq = sorted(set(round(v, 6) for v in values))
    if 2 <= len(uniq) <= 8:
        return uniq
    step = hi / 5 if hi > 0 else 1.0
    return [round(step * k, 6) for k in range(6)]


class _Plot:
    """Accuracy (0–100 %) against ε in a fixed frame; shared by the SVG and the PNG drawing."""

    W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 340, 62, 26, 14, 50

    def __init__(self, curves: list[tuple[list[float], list[float]]]) -> None:
        self.hi = max(max(e) for e, _ in curves) or 1.0
        self.ticks = _ticks([x for e, _ in curves for x in e], self.hi)
        self.hi = max(self.hi, max(self.ticks))

    def x(self, e: float) -> float:
        return self.LEFT + (self.W - self.LEFT - self.RIGHT) * (e / self.hi)

    def y(self, a: float) -> float:
        return self.TOP + (self.H - self.TOP - self.BOTTOM) * (1.0 - min(max(a, 0.0), 1.0))


def curves_svg(curves: list[dict], x_label: str) -> str:
    """Inline SVG of accuracy against ε; every polyline carries its points as data attributes."""
    data = [(_clean_curve(c), c) for c in curves]
    data = [(d, c) for d, c in data if d is not None]
    if not data:
        return "<p>(no points to draw)</p>"
    p = _Plot([d for d, _ in data])
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
    out.append(f'<text x="{(p.LEFT + p.W - p.RIGHT) / 2:.1f}" y="{p.H - 10}" text-anchor="middle">{_e(x_label)}</text>')
    out.append(f'<text x="14" y="{(p.TOP + p.H - p.BOTTOM) / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(p.TOP + p.H - p.BOTTOM) / 2:.1f})">accuracy</text>')
    for i, ((eps, acc), c) in enumerate(data):
        colour = COLOURS[i % len(COLOURS)]
        pts = " ".join(f"{p.x(e):.1f},{p.y(a):.1f}" for e, a in zip(eps, acc))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}" '
                   f'data-eps="{_e(",".join(f"{e:g}" for e in eps))}" '
                   f'data-accuracy="{_e(",".join(f"{a:.4f}" for a in acc))}"><title>{_e(c.get("label", ""))}</title>'
                   f'</polyline>')
        for e, a in zip(eps, acc):
            out.append(f'<circle cx="{p.x(e):.1f}" cy="{p.y(a):.1f}" r="3" fill="{colour}"/>')
    out.append("</svg>")
    return "".join(out)


def _font(size: int):
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

    data = [d for d in (_clean_curve(c) for c in curves) if d is not None]
    if not data:
        return None
    p = _Plot(data)
    s = scale
    img = Image.new("RGB", (p.W * s, p.H * s), "white")
    d = ImageDraw.Draw(img)
    font = _font(12 * s)
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
    return png_bytes(np.asarray(img))


def _curve_table(curves: list[dict]) -> str:
    eps = sorted({e for c in curves for e in (_clean_curve(c) or ([], []))[0]})
    head = "".join(f'<th class="num">{e:g}</th>' for e in eps)
    rows = []
    for i, c in enumerate(curves):
        pts = _clean_curve(c)
        if pts is None:
            continue
        lookup = dict(zip(*pts))
        cells = "".join(f'<td class="num">{_pct(lookup.get(e))}</td>' for e in eps)
        sw = f'<span class="swatch" style="color:{COLOURS[i % len(COLOURS)]}">■</span> '
        rows.append(f"<tr><td>{sw}{_e(c.get('label') or attack_title(str(c.get('attack', ''))))}</td>{cells}</tr>")
    return f'<table><tr><th>accuracy at ε =</th>{head}</tr>{"".join(rows)}</table>'


def _curve_figure(curves: list[dict], title: str, settings: list[str], x_label: str, raster: bool,
                  sink: ImageSink) -> str:
    if raster:
        png = curves_png(curves, x_label)
        figure = _img(sink, png, title, 560, 298) if png else "<p>(no points to draw)</p>"
    else:
        figure = curves_svg(curves, x_label)
    lines = "".join(f"<li>{_e(s)}</li>" for s in settings)
    return (f'<div class="figure"><h3>{_e(title)}</h3>{figure}{_curve_table(curves)}'
            f'<div class="settings"><b>Settings behind this figure</b><ul>{lines}</ul></div></div>')


# ---------------------------------------------------------------------------------------------- sections
def _header(session: dict) -> str:
    title = session.get("title") or "Adversarial Studio: session report"
    n_att, n_lab = len(session.get("attacks") or []), len(session.get("labs") or [])
    n_act = len(session.get("activations") or [])
    return (f"<h1>{_e(title)}</h1>"
            f'<p class="meta">Created {_e(session.get("created", "–"))} · Adversarial Studio '
            f'{_e(session.get("app_version", "?"))} · device: {_e(session.get("device", "–"))}</p>'
            f"<p>This session holds {n_att} attacked drawing{'s' if n_att != 1 else ''}, {n_lab} robustness-lab "
            f"run{'s' if n_lab != 1 else ''} and {n_act} activation measurement{'s' if n_act != 1 else ''}. "
            "ε is an L∞ budget in [0, 1] pixel space (ε × 255 grey levels), unless a figure says it is an L2 "
            "radius. Every figure lists the settings that produced it.</p>")


def _model_section(session: dict, raster: bool, sink: ImageSink) -> str:
    models = session.get("models") or []
    parts = ['<h2>1. The model and its recipe</h2>']
    if not models:
        parts.append("<p>No model was loaded in this session.</p>")
    for m in models:
        meta = m.get("meta") if isinstance(m.get("meta"), dict) else {}
        rows = [("name", m.get("name", "–")),
                ("file", "bundled with the app" if m.get("bundled") else m.get("path", "–")),
                ("architecture", meta.get("architecture", "–")),
                ("test accuracy", f"{_pct(meta.get('test_accuracy'), 2)} on {meta.get('test_samples', '?')} MNIST "
                                  "test images" if _num(meta.get("test_accuracy")) is not None else "unknown"),
                ("trained on", f"{meta.get('train_samples', '?')} images, {meta.get('epochs', '?')} epochs, seed "
                               f"{meta.get('seed', '?')}, {meta.get('training_seconds', '?')} s on "
                               f"{meta.get('device', '?')}"),
                ("date", meta.get("date", "–"))]
        table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
        recipe = meta.get("recipe") if isinstance(meta.get("recipe"), dict) else {}
        recipe_rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(_short(v))}</td></tr>" for k, v in sorted(recipe.items()))
        parts.append(f"<h3>{_e(m.get('name', 'model'))}</h3><table>{table}</table>")
        if recipe_rows:
            parts.append(f"<p><b>Recipe</b></p><table><tr><th>setting</th><th>value</th></tr>{recipe_rows}</table>")
        if meta.get("command"):
            parts.append(f"<p><b>Training command</b><br><code>{_e(_short(meta['command'], 1000))}</code></p>")
        history = meta.get("history") if isinstance(meta.get("history"), list) else []
        hist_rows = "".join(
            f"<tr><td class='num'>{_e(h.get('epoch', '?'))}</td><td class='num'>{_pct(h.get('train_accuracy'), 2)}"
            f"</td><td class='num'>{_pct(h.get('test_accuracy'), 2)}</td></tr>"
            for h in history[:100] if isinstance(h, dict))
        if hist_rows:
            parts.append("<p><b>Training history</b></p><table><tr><th>epoch</th><th>train accuracy</th>"
                         f"<th>test accuracy</th></tr>{hist_rows}</table>")
        fc = meta.get("fgsm_curve")
        if isinstance(fc, dict) and _clean_curve(fc) is not None:
            curve = {"label": "FGSM, stored in the model file", "eps": fc.get("eps"), "accuracy": fc.get("accuracy")}
            settings = [f"FGSM untargeted, 1 step, L∞ ε ∈ {{{', '.join(f'{e:g}' for e in _clean_curve(fc)[0])}}}, "
                        f"n = {fc.get('n', '?')} MNIST test images, measured when the model was trained "
                        f"(from its metadata, not in this session); model: {m.get('name', '?')}"]
            parts.append(_curve_figure([curve], f"FGSM accuracy of {m.get('name', 'the model')} (model file)",
                                       settings, "L∞ ε (pixel space)", raster, sink))
    return "".join(parts)


def describe_attack(a: dict) -> str:
    eps = _num(a.get("eps")) or 0.0
    kind = (f"FGSM targeted toward {a.get('target')}" if a.get("method") == "fgsm-targeted"
            else "FGSM untargeted")
    return (f"{kind}, L∞ ε = {eps:.3f} ({eps * 255:.1f}/255 grey levels), 1 step, n = 1 input, seed: none "
            f"(FGSM is deterministic), model: {a.get('model', '?')}")


def _probs_table(a: dict) -> str:
    clean = np.asarray(a.get("clean_probs"), dtype=np.float64).reshape(-1)
    adv = np.asarray(a.get("adv_probs"), dtype=np.float64).reshape(-1)
    head = "".join(f'<th class="num">{k}</th>' for k in range(len(clean)))

    def row(name: str, p: np.ndarray) -> str:
        top = int(np.argmax(p))
        cells = "".join(f'<td class="num">{"<b>" if k == top else ""}{v * 100:.1f}{"</b>" if k == top else ""}</td>'
                        for k, v in enumerate(p))
        return f"<tr><td>{name}</td>{cells}</tr>"

    return (f'<table class="wide" width="100%"><tr><th>probability %</th>{head}</tr>{row("clean", clean)}'
            f'{row("adversarial", adv)}</table>')


def _attack_figure(a: dict, number: int, sink: ImageSink) -> str:
    clean_probs, adv_probs = np.asarray(a["clean_probs"]), np.asarray(a["adv_probs"])
    c, v = int(np.argmax(clean_probs)), int(np.argmax(adv_probs))
    eps = _num(a.get("eps")) or 0.0
    pngs = image_pngs(a)
    titles = (f"clean: {c} ({clean_probs[c] * 100:.1f}%)", "perturbation δ × 10",
              f"adversarial: {v} ({adv_probs[v] * 100:.1f}%)")
    cells = "".join(f"<td>{_e(t)}<br>{_img(sink, png, t, 168, 168)}</td>" for png, t in zip(pngs, titles))
    if c != v:
        verdict = f'<span class="flipped">Prediction flipped: {c} → {v}</span> at ε = {eps:.3f}'
    else:
        verdict = f'<span class="held">Not fooled: still {c}</span> at ε = {eps:.3f}'
    flip = a.get("flip") or None
    extra = []
    if isinstance(flip, dict) and _num(flip.get("eps")) is not None:
        extra.append(f"smallest flipping ε found by the search: {_num(flip['eps']):.3f} (ε = "
                     f"{_num(flip.get('below')) or 0:.3f} does not flip; grid step {_num(flip.get('step')) or 0:g}, "
                     f"{flip.get('evaluations', '?')} forward passes)")
    linf = float(np.abs(np.asarray(a["perturbation"], dtype=np.float32)).max())
    extra.append(f"measured ‖δ‖∞ = {linf:.3f}; δ × 10 in blue (darker) to red (brighter), ±0.1 saturates")
    extra.append(f"recorded {a.get('recorded', '?')} ({a.get('source', 'kept')})")
    lines = "".join(f"<li>{_e(s)}</li>" for s in [describe_attack(a), *extra])
    return (f'<div class="figure" id="attack-{_e(a.get("id", number))}"><h3>Attack {number}: {c} → {v}, '
            f'ε = {eps:.3f}</h3><table class="images"><tr>{cells}</tr></table><p>{verdict}</p>{_probs_table(a)}'
            f'<div class="settings"><b>Settings behind this figure</b><ul>{lines}</ul></div></div>')


def _attacks_section(session: dict, sink: ImageSink) -> str:
    attacks = session.get("attacks") or []
    parts = ['<h2 class="section">2. The drawings attacked</h2>']
    if not attacks:
        parts.append("<p>No attack was kept in this session (a flip search or File ▸ Add this attack to the "
                     "report keeps one).</p>")
    for k, a in enumerate(attacks, 1):
        parts.append(_attack_figure(a, k, sink))
    return "".join(parts)


def _labs_section(session: dict, raster: bool, sink: ImageSink) -> str:
    labs = session.get("labs") or []
    parts = ['<h2 class="section">3. Robustness curves</h2>']
    if not labs:
        parts.append("<p>The robustness lab was not run in this session.</p>")
    for k, run in enumerate(labs, 1):
        curves = [c for c in run.get("curves") or [] if _clean_curve(c) is not None]
        if not curves:
            continue
        l2 = any((c.get("params") or {}).get("eps_norm") == "l2" for c in curves)
        x_label = "L2 radius" if l2 else "L∞ ε (pixel space)"
        settings = []
        for c in curves:
            p = c.get("params") or {}
            seed = (f"seed {p.get('seed') if p.get('seed') is not None else 0} (random start)"
                    if p.get("random_start") else "seed: none (no random start)")
            settings.append(f"{c.get('settings') or c.get('label', '')}; clean accuracy "
                            f"{_pct(c.get('clean_accuracy'), 1)}; {seed}")
        settings.append(f"run {k}: {_num(run.get('seconds')) or 0:.1f} s, recorded {run.get('recorded', '?')}; "
                        + DEFENSE_NOTE)
        title = " and ".join(sorted({attack_title(str(c.get("attack", ""))) for c in curves}))
        n = sorted({str(c.get("n", "?")) for c in curves})
        parts.append(_curve_figure(curves, f"Run {k}: {title}, accuracy against ε (n = {', '.join(n)})",
                                   settings, x_label, raster, sink))
    return "".join(parts)


def shift_bars_svg(layers: list[dict]) -> str:
    rows = [(str(l.get("name", "?")), _num(l.get("relative_shift"))) for l in layers]
    top = max([v for _, v in rows if v is not None] + [0.5])
    w, bar_h, left = 420, 20, 70
    h = len(rows) * (bar_h + 6) + 6
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
           f'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">']
    for i, (name, v) in enumerate(rows):
        y = 6 + i * (bar_h + 6)
        length = 0 if v is None else (w - left - 60) * v / top
        out.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{_e(name)}</text>'
                   f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="#ff7f0e" '
                   f'data-shift="{"nan" if v is None else f"{v:.4f}"}"/>'
                   f'<text x="{left + length + 4:.1f}" y="{y + 14}">{_pct(v)}</text>')
    out.append("</svg>")
    return "".join(out)


def shift_bars_png(layers: list[dict], scale: int = 2) -> bytes:
    from PIL import Image, ImageDraw

    rows = [(str(l.get("name", "?")), _num(l.get("relative_shift"))) for l in layers]
    top = max([v for _, v in rows if v is not None] + [0.5])
    w, bar_h, left, s = 420, 20, 70, scale
    h = len(rows) * (bar_h + 6) + 6
    img = Image.new("RGB", (w * s, h * s), "white")
    d = ImageDraw.Draw(img)
    font = _font(12 * s)
    for i, (name, v) in enumerate(rows):
        y = 6 + i * (bar_h + 6)
        length = 0 if v is None else (w - left - 60) * v / top
        d.text(((left - 6) * s, (y + bar_h / 2) * s), name, fill="#222222", font=font, anchor="rm")
        if length > 0:
            d.rectangle([left * s, y * s, (left + length) * s, (y + bar_h) * s], fill="#ff7f0e")
        d.text(((left + length + 4) * s, (y + bar_h / 2) * s), _pct(v), fill="#222222", font=font, anchor="lm")
    return png_bytes(np.asarray(img))


def _activation_figure(act: dict, number: int, attack_numbers: dict, raster: bool, sink: ImageSink) -> str:
    layers = [l for l in act.get("layers") or [] if isinstance(l, dict)]
    eps = _num(act.get("eps")) or 0.0
    ref = attack_numbers.get(act.get("attack_id"))
    what = f"attack {ref}" if ref else "the input on screen"
    head = ("<tr><th>layer</th><th>shape</th><th class='num'>clean<br>mean</th><th class='num'>adv.<br>mean</th>"
            "<th class='num'>mean<br>|Δa|</th><th class='num'>rel.<br>shift</th><th class='num'>units<br>switched</th>"
            "<th class='num'>on→<br>off</th><th class='num'>off→<br>on</th></tr>")
    rows = "".join(
        f"<tr><td>{_e(l.get('name', '?'))}</td><td>{_e('×'.join(str(s) for s in (l.get('shape') or [])))}</td>"
        f"<td class='num'>{_fmt(l.get('clean_mean'))}</td><td class='num'>{_fmt(l.get('adv_mean'))}</td>"
        f"<td class='num'>{_fmt(l.get('mean_abs_change'))}</td><td class='num'>{_pct(l.get('relative_shift'))}</td>"
        f"<td class='num'>{_pct(l.get('flip_fraction'), 2)}</td><td class='num'>{_pct(l.get('on_to_off'), 2)}</td>"
        f"<td class='num'>{_pct(l.get('off_to_on'), 2)}</td></tr>" for l in layers)
    bars = _img(sink, shift_bars_png(layers), "relative shift per layer", 420,
                len(layers) * 26 + 6) if raster else shift_bars_svg(layers)
    c, v = act.get("clean_label", "?"), act.get("adv_label", "?")
    settings = [describe_attack(act).replace("n = 1 input", f"n = {act.get('samples', 1)} input"),
                f"input: {what}; prediction clean {c}, adversarial {v}",
                "relative shift = mean |a_adv − a_clean| / mean |a_clean| over all units; switched = units "
                "active (> 0) in exactly one of the two passes; means are of the ReLU outputs"]
    lines = "".join(f"<li>{_e(s)}</li>" for s in settings)
    return (f'<div class="figure"><h3>Activations {number}: {_e(what)}, {_e(c)} → {_e(v)} at ε = {eps:.3f}</h3>'
            f'{bars}<table class="wide" width="100%">{head}{rows}</table>'
            f'<div class="settings"><b>Settings behind this figure</b><ul>{lines}</ul></div></div>')


def _fmt(value: object) -> str:
    v = _num(value)
    return "–" if v is None else f"{v:.4f}"


def _activations_section(session: dict, raster: bool, sink: ImageSink) -> str:
    acts = session.get("activations") or []
    numbers = {a.get("id"): k for k, a in enumerate(session.get("attacks") or [], 1)}
    parts = ['<h2 class="section">4. Activation shifts</h2>']
    if not acts:
        parts.append("<p>The Activations dock was not shown during this session's attacks, so no activations "
                     "were measured.</p>")
    for k, act in enumerate(acts, 1):
        parts.append(_activation_figure(act, k, numbers, raster, sink))
    return "".join(parts)


def build_report_html(session: dict, raster: bool = False, image_sink: ImageSink | None = None) -> str:
    """The whole report as one HTML string. `raster` draws curves and bars as PNG instead of SVG (for Qt's rich
    text, which has no SVG); `image_sink` turns each PNG into an <img> src (default: a data: URI)."""
    sink = image_sink or data_uri
    css = CSS + (QT_CSS if raster else "")
    title = session.get("title") or "Adversarial Studio: session report"
    body = "".join([_header(session), _model_section(session, raster, sink), _attacks_section(session, sink),
                    _labs_section(session, raster, sink), _activations_section(session, raster, sink),
                    '<p class="meta">Made offline by Adversarial Studio. MNIST: Y. LeCun, C. Cortes and '
                    "C. J. C. Burges.</p>"])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{css}</style></head>'
            f"<body>{body}</body></html>\n")
