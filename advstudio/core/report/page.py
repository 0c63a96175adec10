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

from advstudio.core.report.markup import ImageSink, data_uri, esc
from advstudio.core.report.sections import activations_section, attacks_section, header, labs_section, model_section
from advstudio.core.report.style import CSS, QT_CSS


def build_report_html(session: dict, raster: bool = False, image_sink: ImageSink | None = None) -> str:
    """The whole report as one HTML string. `raster` draws curves and bars as PNG instead of SVG (for Qt's rich
    text, which has no SVG); `image_sink` turns each PNG into an <img> src (default: a data: URI)."""
    sink = image_sink or data_uri
    css = CSS + (QT_CSS if raster else "")
    title = session.get("title") or "Adversarial Studio: session report"
    body = "".join([header(session), model_section(session, raster, sink), attacks_section(session, sink),
                    labs_section(session, raster, sink), activations_section(session, raster, sink),
                    '<p class="meta">Made offline by Adversarial Studio. MNIST: Y. LeCun, C. Cortes and '
                    "C. J. C. Burges.</p>"])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{css}</style></head>'
            f"<body>{body}</body></html>\n")
