"""The session report's "Why it breaks" finding: the last picture of each kind the student looked at in that tab
(attribution maps, the loss around the drawing, the border it crossed, its place among all digits), each with the
sentence the window showed and the settings that made it."""

from __future__ import annotations

import numpy as np

from advstudio.core.explain.figures import attribution_figure, boundary_figure, landscape_figure, projection_figure
from advstudio.core.render import png_bytes
from advstudio.core.report.markup import ImageSink, esc, img_tag, num
from advstudio.core.report.names import class_name, digits, names_of

KINDS = ("attribution", "landscape", "boundary", "projection")
TITLES = {"attribution": "What the network looks at", "landscape": "The loss around the drawing",
          "boundary": "The border it crosses", "projection": "Among all digits"}
METHOD_WORDS = {"saliency": "gradient saliency", "smoothgrad": "SmoothGrad", "ig": "Integrated Gradients",
                "gradcam": "Grad-CAM"}
MAX_PX = 560  # the widest a figure is drawn in the report


def _eps(value: object) -> str:
    v = num(value)
    return "ε = ?" if v is None else f"ε = {v:.3f} pixel units"


def _figure(kind: str, e: dict) -> list[tuple[np.ndarray, str]]:
    """(RGB image, caption) pairs of one entry."""
    if kind == "attribution":
        words = METHOD_WORDS.get(str(e.get("method")), str(e.get("method")))
        return [(attribution_figure(r["clean"], r["adversarial"], r["maps"], bool(e.get("signed")), 6),
                 f"{r.get('model')}: {words} of the drawing (left, reads {class_name(r, r['classes'][0])}) and of "
                 f"its FGSM version at {_eps(e.get('eps'))} (right, reads {class_name(r, r['classes'][1])})")
                for r in e.get("rows") or []]
    if kind == "landscape":
        words = "BPDA (the gradient without the defense)" if e.get("direction") == "bpda" else "its own gradient"
        return [(landscape_figure(e["a"], e["b"], e["loss"], e["pred"], float(e["eps"]), 5),
                 f"{e.get('model')}: loss (left, bright = wrong) and the class read (right) on the plane "
                 f"x + a·sign(gradient) + b·r, a along {words}; the white diamond is the ε-ball ({_eps(e.get('eps'))})")]
    if kind == "boundary":
        return [(boundary_figure(e["u"], e["v"], e["pred"], e["confidence"], e["points"], e.get("path"), 4),
                 f"{e.get('model')}: the class read on the plane through the drawing (blue), its {e.get('attack')} "
                 f"version at {_eps(e.get('eps'))} (orange) and {e.get('third')}, with the attack's path in white")]
    if kind == "projection":
        what, by = ("digits", "digit") if digits(names_of(e)) else ("images", "class")
        return [(projection_figure(e["coords"], e["labels"], e.get("path"), 420),
                 f"{e.get('model')}: {len(e['labels']):,} test {what} by their last hidden layer (first two principal "
                 f"axes), coloured by {by}; the drawing's PGD path at {_eps(e.get('eps'))} from blue to orange")]
    return []


def explain_found(session: dict, sink: ImageSink) -> str:
    found = session.get("explain") if isinstance(session.get("explain"), dict) else {}
    if not found:
        return ("<h3>Why it breaks</h3><p>The Why it breaks tab was not used (it shows what the network looks at, "
                "the loss around the drawing and the border it crosses).</p>")
    parts = ["<h3>Why it breaks</h3>"]
    for kind in KINDS:
        e = found.get(kind)
        if not isinstance(e, dict):
            continue
        try:
            figures = _figure(kind, e)
        except (KeyError, TypeError, ValueError, IndexError):  # a malformed entry is left out, not a broken report
            continue
        parts.append(f'<div class="figure"><h4>{esc(TITLES[kind])}</h4>')
        if e.get("verdict"):
            parts.append(f'<p class="finding"><b>{esc(e["verdict"])}</b></p>')
        for image, caption in figures:
            h, w = image.shape[:2]
            k = min(1.0, MAX_PX / max(w, 1))
            parts.append(f"<p>{img_tag(sink, png_bytes(image, optimize=True), caption, int(w * k), int(h * k))}"
                         f"<br><span class='meta'>{esc(caption)}</span></p>")
        parts.append("</div>")
    return "".join(parts)
