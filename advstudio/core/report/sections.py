"""The session report's sections after the student's findings (core/report/findings.py): the robustness-lab
runs, the activation shifts, and the appendix (the session, the models and their recipes, each kept attack's
numbers and settings); each a function of the session dict (see core/report/page.py)."""

from __future__ import annotations

import numpy as np

from advstudio.core.describe import DEFENSE_NOTE, attack_title
from advstudio.core.model_meta import model_classes
from advstudio.core.report.figures import curve_figure, curve_points, shift_bars_png, shift_bars_svg
from advstudio.core.report.markup import ImageSink, esc, fmt, img_tag, num, pct, short
from advstudio.core.report.names import class_name, classes_line, digits, valid
from advstudio.core.report.paths import file_name, scrub_paths, scrub_value


def session_note(session: dict) -> str:
    """What the session holds and where it ran: the appendix's first lines."""
    n_att, n_lab = len(session.get("attacks") or []), len(session.get("labs") or [])
    n_act = len(session.get("activations") or [])
    missing = [what for what, n in (("the robustness lab was not run in this session", n_lab),
                                    ("no activations were measured", n_act)) if not n]
    return (f'<p class="meta">Created {esc(session.get("created", "–"))} · Adversarial Studio '
            f'{esc(session.get("app_version", "?"))} · device: {esc(session.get("device", "–"))}</p>'
            f"<p>This session holds {n_att} attacked drawing{'s' if n_att != 1 else ''}, {n_lab} robustness-lab "
            f"run{'s' if n_lab != 1 else ''} and {n_act} activation measurement{'s' if n_act != 1 else ''}"
            f"{' (' + '; '.join(missing) + ')' if missing else ''}. "
            "ε is an L∞ budget in [0, 1] pixel space (ε × 255 grey levels), unless a figure says it is an L2 "
            "radius. Every figure lists the settings that produced it.</p>")


def model_section(session: dict, raster: bool, sink: ImageSink) -> str:
    models = session.get("models") or []
    parts = ["<h3>The models and their recipes</h3>"]
    if not models:
        parts.append("<p>No model was loaded in this session.</p>")
    for m in models:
        meta = m.get("meta") if isinstance(m.get("meta"), dict) else {}
        names = model_classes(meta)
        test_set = "MNIST test images" if digits(names) else "test images"
        rows = [("name", m.get("name", "–")),
                ("file", "bundled with the app" if m.get("bundled") else file_name(str(m.get("path") or "–"))),
                ("architecture", meta.get("architecture", "–")),
                ("test accuracy", f"{pct(meta.get('test_accuracy'), 2)} on {meta.get('test_samples', '?')} "
                                  f"{test_set}" if num(meta.get("test_accuracy")) is not None else "unknown"),
                ("trained on", f"{meta.get('train_samples', '?')} images, {meta.get('epochs', '?')} epochs, seed "
                               f"{meta.get('seed', '?')}, {meta.get('training_seconds', '?')} s on "
                               f"{meta.get('device', '?')}"),
                ("date", meta.get("date", "–"))]
        if classes_line(names):
            rows.insert(3, ("classes", classes_line(names)))
        table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
        recipe = scrub_value(meta.get("recipe")) if isinstance(meta.get("recipe"), dict) else {}
        recipe_rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(short(v))}</td></tr>" for k, v in sorted(recipe.items()))
        parts.append(f"<h4>{esc(m.get('name', 'model'))}</h4><table>{table}</table>")
        if recipe_rows:
            parts.append(f"<p><b>Recipe</b></p><table><tr><th>setting</th><th>value</th></tr>{recipe_rows}</table>")
        parts.append(commands(meta))
        history = meta.get("history") if isinstance(meta.get("history"), list) else []
        hist_rows = "".join(
            f"<tr><td class='num'>{esc(h.get('epoch', '?'))}</td><td class='num'>{pct(h.get('train_accuracy'), 2)}"
            f"</td><td class='num'>{pct(h.get('test_accuracy'), 2)}</td></tr>"
            for h in history[:100] if isinstance(h, dict))
        if hist_rows:
            parts.append("<p><b>Training history</b></p><table><tr><th>epoch</th><th>train accuracy</th>"
                         f"<th>test accuracy</th></tr>{hist_rows}</table>")
        fc = meta.get("fgsm_curve")
        if isinstance(fc, dict) and curve_points(fc) is not None:
            curve = {"label": "FGSM, stored in the model file", "eps": fc.get("eps"), "accuracy": fc.get("accuracy")}
            settings = [f"FGSM untargeted, 1 step, L∞ ε ∈ {{{', '.join(f'{e:g}' for e in curve_points(fc)[0])}}}, "
                        f"n = {fc.get('n', '?')} {test_set}, measured when the model was trained "
                        f"(from its metadata, not in this session); model: {m.get('name', '?')}"]
            parts.append(curve_figure([curve], f"FGSM accuracy of {m.get('name', 'the model')} (model file)",
                                      settings, "L∞ ε (pixel space)", raster, sink))
    return "".join(parts)


def commands(meta: dict) -> str:
    """The model's training command and, where the file lists them, the commands that make it again; machine
    folders replaced (core/report/paths.py)."""
    parts = []
    if meta.get("command"):
        parts.append(f"<p><b>Training command</b><br><code>{esc(short(scrub_paths(meta['command']), 1000))}</code></p>")
    steps = meta.get("reproduce") if isinstance(meta.get("reproduce"), list) else []
    items = "".join(f"<li><code>{esc(short(scrub_paths(c), 1000))}</code></li>" for c in steps[:10])
    if items:
        parts.append(f"<p><b>To make it again</b> (in this order)</p><ol>{items}</ol>")
    return "".join(parts)


def describe_attack(a: dict) -> str:
    """The attack's full settings in one line (Any attack's entries carry their own)."""
    if a.get("settings"):
        return f"{a['settings']}, model: {a.get('model', '?')}"
    eps = num(a.get("eps")) or 0.0
    kind = (f"FGSM targeted toward {class_name(a, a.get('target'))}" if a.get("method") == "fgsm-targeted"
            else "FGSM untargeted")
    return (f"{kind}, L∞ ε = {eps:.3f} ({eps * 255:.1f}/255 grey levels), 1 step, n = 1 input, seed: none "
            f"(FGSM is deterministic), model: {a.get('model', '?')}")


def probs_table(a: dict) -> str:
    clean = np.asarray(a.get("clean_probs"), dtype=np.float64).reshape(-1)
    adv = np.asarray(a.get("adv_probs"), dtype=np.float64).reshape(-1)
    head = "".join(f'<th class="num">{esc(class_name(a, k))}</th>' for k in range(len(clean)))

    def row(name: str, p: np.ndarray) -> str:
        top = int(np.argmax(p))
        cells = "".join(f'<td class="num">{"<b>" if k == top else ""}{v * 100:.1f}{"</b>" if k == top else ""}</td>'
                        for k, v in enumerate(p))
        return f"<tr><td>{name}</td>{cells}</tr>"

    return (f'<table class="wide" width="100%"><tr><th>probability %</th>{head}</tr>{row("clean", clean)}'
            f'{row("adversarial", adv)}</table>')


def attack_settings(a: dict, number: int) -> str:
    """Attack `number`'s probabilities and settings (its images and result are on the first page)."""
    e = num(a.get("eps"))
    flip = a.get("flip") or None
    extra = []
    if isinstance(flip, dict) and num(flip.get("eps")) is not None:
        extra.append(f"smallest flipping ε found by the search: {num(flip['eps']):.3f} (ε = "
                     f"{num(flip.get('below')) or 0:.3f} does not flip; grid step {num(flip.get('step')) or 0:g}, "
                     f"{flip.get('evaluations', '?')} forward passes)")
    delta = np.asarray(a["perturbation"], dtype=np.float32)
    extra.append(f"measured ‖δ‖∞ = {float(np.abs(delta).max()):.3f}, ‖δ‖₂ = {float(np.linalg.norm(delta)):.3f}; "
                 "δ × 10 in blue (darker) to red (brighter), ±0.1 saturates")
    extra.append(f"recorded {a.get('recorded', '?')} ({a.get('source', 'kept')})")
    lines = "".join(f"<li>{esc(s)}</li>" for s in [describe_attack(a), *extra])
    budget = f"ε = {e:.3f}" if e is not None else "no ε"
    return (f'<div class="figure" id="settings-{number}"><h4>Attack {number} ({esc(budget)}): the numbers behind it</h4>'
            f"{probs_table(a)}"
            f'<div class="settings"><b>Settings behind this figure</b><ul>{lines}</ul></div></div>')


def attack_settings_section(session: dict) -> str:
    attacks = session.get("attacks") or []
    if not attacks:
        return ""
    return "<h3>The attacks' settings</h3>" + "".join(attack_settings(a, k) for k, a in enumerate(attacks, 1))


def labs_section(session: dict, raster: bool, sink: ImageSink) -> str:
    labs = session.get("labs") or []
    if not labs:
        return ""  # the appendix's session note says so
    parts = ['<h2 class="section">Robustness curves</h2>']
    for k, run in enumerate(labs, 1):
        curves = [c for c in run.get("curves") or [] if curve_points(c) is not None]
        if not curves:
            continue
        norms = {(c.get("params") or {}).get("eps_norm") or "linf" for c in curves}
        x_label = ({"l2": "L2 radius", "l0": "pixels changed (L0)"}.get(norms.pop(), "L∞ ε (pixel space)")
                   if len(norms) == 1 else "L∞ ε (pixel space); L2 radius or pixels changed for minimal attacks")
        settings = []
        for c in curves:
            p = c.get("params") or {}
            seed = (f"seed {p.get('seed') if p.get('seed') is not None else 0} (random start)"
                    if p.get("random_start") else "seed: none (no random start)")
            named = classes_line(valid(c.get("class_names")))
            settings.append(f"{c.get('settings') or c.get('label', '')}; clean accuracy "
                            f"{pct(c.get('clean_accuracy'), 1)}; {seed}" + (f"; {named}" if named else ""))
        settings.append(f"run {k}: {num(run.get('seconds')) or 0:.1f} s, recorded {run.get('recorded', '?')}; "
                        + DEFENSE_NOTE)
        title = " and ".join(sorted({attack_title(str(c.get("attack", ""))) for c in curves}))
        n = sorted({str(c.get("n", "?")) for c in curves})
        parts.append(curve_figure(curves, f"Run {k}: {title}, accuracy against ε (n = {', '.join(n)})",
                                  settings, x_label, raster, sink))
    return "".join(parts)


def activation_figure(act: dict, number: int, attack_numbers: dict, raster: bool, sink: ImageSink) -> str:
    layers = [layer for layer in act.get("layers") or [] if isinstance(layer, dict)]
    eps = num(act.get("eps")) or 0.0
    ref = attack_numbers.get(act.get("attack_id"))
    what = f"attack {ref}" if ref else "the input on screen"
    head = ("<tr><th>layer</th><th>shape</th><th class='num'>clean<br>mean</th><th class='num'>adv.<br>mean</th>"
            "<th class='num'>mean<br>|Δa|</th><th class='num'>rel.<br>shift</th><th class='num'>units<br>switched</th>"
            "<th class='num'>on→<br>off</th><th class='num'>off→<br>on</th></tr>")
    rows = "".join(
        f"<tr><td>{esc(layer.get('name', '?'))}</td><td>{esc('×'.join(str(s) for s in (layer.get('shape') or [])))}</td>"
        f"<td class='num'>{fmt(layer.get('clean_mean'))}</td><td class='num'>{fmt(layer.get('adv_mean'))}</td>"
        f"<td class='num'>{fmt(layer.get('mean_abs_change'))}</td><td class='num'>{pct(layer.get('relative_shift'))}</td>"
        f"<td class='num'>{pct(layer.get('flip_fraction'), 2)}</td><td class='num'>{pct(layer.get('on_to_off'), 2)}</td>"
        f"<td class='num'>{pct(layer.get('off_to_on'), 2)}</td></tr>" for layer in layers)
    bars = img_tag(sink, shift_bars_png(layers), "relative shift per layer", 420,
                   len(layers) * 26 + 6) if raster else shift_bars_svg(layers)
    c, v = class_name(act, act.get("clean_label", "?")), class_name(act, act.get("adv_label", "?"))
    settings = [describe_attack(act).replace("n = 1 input", f"n = {act.get('samples', 1)} input"),
                f"input: {what}; prediction clean {c}, adversarial {v}",
                "relative shift = mean |a_adv − a_clean| / mean |a_clean| over all units; switched = units "
                "active (> 0) in exactly one of the two passes; means are of the ReLU outputs"]
    lines = "".join(f"<li>{esc(s)}</li>" for s in settings)
    return (f'<div class="figure"><h3>Activations {number}: {esc(what)}, {esc(c)} → {esc(v)} at ε = {eps:.3f}</h3>'
            f'{bars}<table class="wide" width="100%">{head}{rows}</table>'
            f'<div class="settings"><b>Settings behind this figure</b><ul>{lines}</ul></div></div>')


def activations_section(session: dict, raster: bool, sink: ImageSink) -> str:
    acts = session.get("activations") or []
    numbers = {a.get("id"): k for k, a in enumerate(session.get("attacks") or [], 1)}
    if not acts:
        return ""  # the appendix's session note says so
    parts = ['<h2 class="section">Activation shifts</h2>']
    for k, act in enumerate(acts, 1):
        parts.append(activation_figure(act, k, numbers, raster, sink))
    return "".join(parts)
