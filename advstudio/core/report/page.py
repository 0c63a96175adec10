"""The session report: one self-contained HTML page (inline CSS, images as data: URIs, curves as inline SVG; no
script, no network) built from plain Python and numpy data. No Qt here: the GUI's session log collects the data
and may hand the same page, with raster curves, to Qt for a PDF.

The first page is the student's: their name, the date, then "What I found" (the kept attacks, the last
side-by-side comparison, the lesson's progress); the recipes come last, under "Appendix: how these were made".
No machine folder appears: commands and model locations go through core/report/paths.py.

`session` is a dict (every key optional):
    created, app_version, device, title, student: str
    compare:  None | {"eps", "method", "target", "recorded", "image": (28, 28) | None,
                      "sides": [{"model", "role", "clean_label", "adv_label", "clean_conf", "adv_conf",
                                 "adversarial": (28, 28) | None, "message"}]}
    lesson:   None | {"title", "steps": [{"id", "title"}], "done": [step ids]}
    models:   [{"name", "path", "bundled", "meta": the model file's JSON metadata (its "classes" name the classes)}]
    attacks:  [{"id", "clean", "perturbation", "adversarial": (28, 28) arrays, "clean_probs", "adv_probs": (10,),
                "eps" (None: an attack without a budget), "method" ("fgsm" | "fgsm-targeted" | an Any attack
                name), "target", "model", "source", "recorded", "flip": None | {"eps", "below", "step",
                "evaluations"}, "class_names" (its model's classes; else from the model of that name), and from Any attack "attack_title", "settings" (its one-line description)}]
    labs:     [{"seconds", "recorded", "target", "curves": [{"model", "attack", "label", "settings", "params", "n",
                "clean_accuracy", "eps", "accuracy"}]}]
    activations: [{"attack_id", "eps", "method", "target", "clean_label", "adv_label", "model", "samples",
                   "layers": [{"name", "shape", "clean_mean", "adv_mean", "clean_active", "adv_active",
                               "mean_abs_change", "clean_mean_abs", "relative_shift", "flip_fraction",
                               "on_to_off", "off_to_on"}]}]
"""

from __future__ import annotations

from advstudio.core.report.findings import TITLE, findings_section, header
from advstudio.core.report.markup import ImageSink, data_uri, esc
from advstudio.core.report.names import with_class_names
from advstudio.core.report.sections import (
    activations_section,
    attack_settings_section,
    labs_section,
    model_section,
    session_note,
)
from advstudio.core.report.style import CSS, QT_CSS

APPENDIX = "Appendix: how these were made"


def build_report_html(session: dict, raster: bool = False, image_sink: ImageSink | None = None) -> str:
    """The whole report as one HTML string. `raster` draws curves and bars as PNG instead of SVG (for Qt's rich
    text, which has no SVG); `image_sink` turns each PNG into an <img> src (default: a data: URI)."""
    sink = image_sink or data_uri
    session = with_class_names(session)  # every class shown by its model's name
    css = CSS + (QT_CSS if raster else "")
    title = session.get("title") or TITLE
    # the student's findings first; the curves and shifts they measured; then the recipes, for whoever asks
    body = "".join([header(session), findings_section(session, sink), labs_section(session, raster, sink),
                    activations_section(session, raster, sink), f'<h2 class="section">{APPENDIX}</h2>',
                    session_note(session), model_section(session, raster, sink), attack_settings_section(session),
                    '<p class="meta">Made offline by Adversarial Studio. MNIST: Y. LeCun, C. Cortes and '
                    "C. J. C. Burges.</p>"])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{css}</style></head>'
            f"<body>{body}</body></html>\n")
