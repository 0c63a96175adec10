"""The first page of the session report, in the student's words: who and when, then "What I found": the attacks
they kept (images and one plain line each), the last side-by-side comparison (which model held, at which ε) and
how far the guided lesson got. The recipes behind them are the appendix (core/report/sections.py)."""

from __future__ import annotations

import datetime as _dt

import numpy as np

from advstudio.core.render import enlarge, png_bytes, to_gray_u8
from advstudio.core.report.explain import explain_found
from advstudio.core.report.figures import image_pngs
from advstudio.core.report.markup import ImageSink, esc, img_tag, num
from advstudio.core.report.names import class_name, quoted

NO_NAME = "(no name)"
TITLE = "Adversarial Studio: session report"
IMAGE_PX = 168  # each 28 × 28 image at 6 × 6 px a pixel
SMALL_PX = 112  # the side-by-side images, three or more in a row


def _sentence(text: str) -> str:
    """The text with a capital first letter (the rest as it is: model names keep their case)."""
    return text[:1].upper() + text[1:]


def plain_date(iso: object) -> str:
    """"12 March 2026, 14:05" (local time) from the log's ISO time; the text itself when it is not one."""
    try:
        when = _dt.datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso or "–")
    if when.tzinfo is not None:
        when = when.astimezone()
    return f"{when.day} {when:%B %Y, %H:%M}"


def eps_words(eps: object) -> str:
    """"ε = 0.12 (pixel units)": the budget as the slider shows it, with its units."""
    e = num(eps)
    return "no ε budget" if e is None else f"ε = {e:.3g} (pixel units)"


def labels(entry: dict) -> tuple[int, int]:
    return int(np.argmax(entry["clean_probs"])), int(np.argmax(entry["adv_probs"]))


def attack_name(a: dict) -> str:
    """The attack in plain words ("FGSM", "targeted FGSM", or the Any attack tab's title)."""
    if a.get("attack_title"):
        return str(a["attack_title"])
    return "targeted FGSM" if a.get("method") == "fgsm-targeted" else "FGSM"


def _target(a: dict) -> int | None:
    """The class a targeted attack aimed at (an untargeted FGSM entry may still carry the form's target)."""
    t = a.get("target")
    aimed = a.get("method") == "fgsm-targeted" or bool(a.get("attack_title"))
    return int(t) if aimed and t is not None else None


def attack_line(a: dict, name_model: bool = False) -> str:
    """One plain line: "a 7 read as 3 at ε = 0.12 (pixel units)" (or "still read as 7 …: not fooled");
    `name_model` adds on which model."""
    c, v = labels(a)
    e = num(a.get("eps"))
    name = attack_name(a)
    how = (f"at {eps_words(e)}" if e is not None else f"by {name}") + (
        f" with {name}" if e is not None and name != "FGSM" else "")
    if name_model:
        how += f" on “{a.get('model', '?')}”"
    cn, vn = quoted(a, c), quoted(a, v)
    if c == v:
        return f"a {cn} still read as {cn} {how}: not fooled"
    target = _target(a)
    aim = "" if target is None else (f", aimed at {quoted(a, target)}" if target == v
                                     else f" (aimed at {quoted(a, target)}, missed)")
    return f"a {cn} read as {vn} {how}{aim}"


def attack_heading(a: dict, number: int) -> str:
    c, v = labels(a)
    e = num(a.get("eps"))
    budget = f"ε = {e:.3f}" if e is not None else attack_name(a)
    return f"Attack {number}: {class_name(a, c)} → {class_name(a, v)}, {budget}"


def header(session: dict) -> str:
    """Title, the student's name (escaped; "(no name)" when empty) and the date."""
    name = str(session.get("student") or "").strip() or NO_NAME
    return (f"<h1>{esc(session.get('title') or TITLE)}</h1>"
            f'<table class="who"><tr><th>Student</th><td>{esc(name)}</td></tr>'
            f"<tr><th>Date</th><td>{esc(plain_date(session.get('created', '–')))}</td></tr></table>")


def attack_card(a: dict, number: int, sink: ImageSink, name_model: bool = False) -> str:
    """One kept attack: its three images and its plain line (`name_model`: say on which model, when the session
    attacked more than one)."""
    c, v = labels(a)
    clean_probs, adv_probs = np.asarray(a["clean_probs"]), np.asarray(a["adv_probs"])
    titles = (f"clean: {class_name(a, c)} ({clean_probs[c] * 100:.1f}%)", "the change δ × 10",
              f"attacked: {class_name(a, v)} ({adv_probs[v] * 100:.1f}%)")
    cells = "".join(f"<td>{esc(t)}<br>{img_tag(sink, png, t, IMAGE_PX, IMAGE_PX)}</td>"
                    for png, t in zip(image_pngs(a), titles))
    klass = "flipped" if c != v else "held"
    return (f'<div class="figure" id="attack-{esc(a.get("id", number))}"><h4>{esc(attack_heading(a, number))}</h4>'
            f'<table class="images"><tr>{cells}</tr></table>'
            f'<p class="finding"><span class="{klass}">{esc(_sentence(attack_line(a, name_model)))}.</span> '
            f'<span class="meta">How it was made: <a href="#settings-{number}">appendix, attack {number}</a>.'
            "</span></p></div>")


def attacks_found(session: dict, sink: ImageSink) -> str:
    attacks = session.get("attacks") or []
    if not attacks:
        return ("<h3>Attacks I kept</h3><p>No attack was kept (File ▸ Add this attack to the report, Ctrl+K, "
                "keeps the one on screen; a flip search keeps its result).</p>")
    several = len({a.get("model") for a in attacks}) > 1
    return "<h3>Attacks I kept</h3>" + "".join(attack_card(a, k, sink, several) for k, a in enumerate(attacks, 1))


def _who(side: dict) -> str:
    role, name = side.get("role"), str(side.get("model") or "a model")
    return f"the {role} model “{name}”" if role else f"“{name}”"


def side_line(side: dict) -> str:
    """"the robust model “…” held: still 7 (97%)" or "… was fooled: the 7 read as 3 (88%)"."""
    if side.get("message") or side.get("clean_label") is None:
        return f"{_who(side)}: no result ({side.get('message') or 'no model'})"
    c, v = int(side["clean_label"]), int(side["adv_label"])
    conf = num(side.get("adv_conf"))
    sure = f" ({conf * 100:.0f}%)" if conf is not None else ""
    if c == v:
        return f"{_who(side)} held: still {quoted(side, c)}{sure}"
    return f"{_who(side)} was fooled: the {quoted(side, c)} read as {quoted(side, v)}{sure}"


def compare_verdict(comp: dict) -> str:
    """Which model held at which ε, in one sentence."""
    sides = [s for s in comp.get("sides") or [] if not s.get("message") and s.get("clean_label") is not None]
    at = eps_words(comp.get("eps"))
    held = [s for s in sides if int(s["clean_label"]) == int(s["adv_label"])]
    fooled = [s for s in sides if s not in held]
    if not sides:
        return f"Neither side had a model to attack at {at}."
    if not fooled:
        return f"{'Both models' if len(held) > 1 else _sentence(_who(held[0]))} held at {at}."
    if not held:
        who = "Both models were" if len(fooled) > 1 else f"{_sentence(_who(fooled[0]))} was"
        return f"{who} fooled at {at}."
    return (f"{_sentence(' and '.join(_who(s) for s in held))} held at {at}; "
            f"{' and '.join(_who(s) for s in fooled)} was fooled.")


def compare_found(session: dict, sink: ImageSink) -> str:
    comp = session.get("compare")
    if not isinstance(comp, dict):
        return ("<h3>Side by side</h3><p>The Side by side tab was not used (it attacks the drawing on two models "
                "at once, the standard and the robust one).</p>")
    kind = "targeted FGSM" if comp.get("method") == "fgsm-targeted" else "FGSM"
    cells = []  # (caption's two lines, image)
    if comp.get("image") is not None:
        cells.append(("the drawing", "", np.asarray(comp["image"], dtype=np.float32)))
    for side in comp.get("sides") or []:
        if side.get("adversarial") is not None:
            who = f"{side['role']} model" if side.get("role") else str(side.get("model"))
            cells.append((who, f"reads {class_name(side, side.get('adv_label'))}",
                          np.asarray(side["adversarial"], dtype=np.float32)))
    row = "".join(f"<td>{esc(top)}<br>{esc(under)}<br>"
                  f"{img_tag(sink, image_png(img), f'{top} {under}'.strip(), SMALL_PX, SMALL_PX)}</td>"
                  for top, under, img in cells)
    lines = "".join(f"<li>{esc(side_line(s))}</li>" for s in comp.get("sides") or [])
    return (f'<h3>Side by side</h3><div class="figure"><p class="finding"><b>{esc(compare_verdict(comp))}</b></p>'
            + (f'<table class="images"><tr>{row}</tr></table>' if row else "")
            + f"<p>The same drawing and the same {esc(kind)} attack at {esc(eps_words(comp.get('eps')))} on two "
            f"models:</p><ul>{lines}</ul></div>")


def image_png(image: np.ndarray) -> bytes:
    """A grey 28 × 28 image at 4 × 4 px a pixel."""
    return png_bytes(enlarge(to_gray_u8(image.reshape(28, 28)), 4), optimize=True)


def lesson_found(session: dict) -> str:
    lesson = session.get("lesson")
    steps = (lesson or {}).get("steps") or []
    if not isinstance(lesson, dict) or not steps:
        return "<h3>Lesson</h3><p>No guided lesson was loaded.</p>"
    done = set(lesson.get("done") or [])
    finished = [(k, s) for k, s in enumerate(steps, 1) if s.get("id") in done]
    head = f"Lesson: {len(finished)} of {len(steps)} steps done"
    title = f" <span class='meta'>({esc(lesson.get('title'))})</span>" if lesson.get("title") else ""
    if not finished:
        return f"<h3>Lesson</h3><p>{esc(head)}{title}: the guided lesson (View ▸ Lesson, Ctrl+L) was not followed.</p>"
    items = "".join(f"<li>✓ step {k}: {esc(s.get('title', s.get('id')))}</li>" for k, s in finished)
    return f"<h3>Lesson</h3><p><b>{esc(head)}</b>{title}</p><ul>{items}</ul>"


def findings_section(session: dict, sink: ImageSink) -> str:
    """"What I found": kept attacks, the side-by-side result and the lesson's progress, before any recipe."""
    return ("<h2>What I found</h2>" + attacks_found(session, sink) + compare_found(session, sink)
            + explain_found(session, sink) + lesson_found(session))
