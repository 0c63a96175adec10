"""A model file's metadata is display-only data written by whoever made the file, so it is made plain, bounded
JSON before anything shows it: values no view can show (NaN, ∞, an accuracy that is text, a curve that is not
lists of numbers) are dropped, and every view shows a dropped field as unknown instead of raising; text is
capped (a 1 MB name would stall the window) and nesting is bounded. No torch, no Qt."""

from __future__ import annotations

import logging
import math
from itertools import islice

log = logging.getLogger(__name__)

MAX_NAME = 200  # characters of a model's name that are shown
MAX_TEXT = 2000  # characters of any other text field
MAX_KEY = 100
MAX_DEPTH = 8
MAX_ITEMS = 1000  # items of a list, keys of a table, kept at each level
MAX_INT = 2**53  # larger integers are not counts anyone recorded (and overflow float formatting)
MAX_CLASS_NAME = 60  # characters of one class name (core.classes reads the same limit from classes.txt)
DEFAULT_NUM_CLASSES = 10

_DROP = object()


def cap_text(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cut to `limit` characters (an ellipsis says it was cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_metadata(raw: object) -> dict:
    """The metadata as plain JSON a view can show; anything that cannot be shown is dropped (and logged)."""
    if not isinstance(raw, dict):
        return {}
    meta = _plain(raw, 0)
    dropped = sorted(str(k) for k in raw if str(k) not in meta)
    for key, ok in FIELDS.items():
        if key in meta and not ok(meta[key]):
            del meta[key]
            dropped.append(key)
    if "classes" in meta and len(meta["classes"]) != _num_classes(meta):
        del meta["classes"]  # names that do not match the model's outputs would mislabel them
        dropped.append("classes")
    if "name" in meta:
        meta["name"] = cap_text(meta["name"], MAX_NAME)
    if dropped:
        log.info("model metadata: ignored %s (not showable)", ", ".join(cap_text(k, 40) for k in dropped[:10]))
    return meta


def _plain(value, depth: int, key: str = ""):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_INT else _DROP
    if isinstance(value, float):
        return value if math.isfinite(value) else _DROP
    if isinstance(value, str):
        return cap_text(value)
    if depth >= MAX_DEPTH:
        return _DROP
    if isinstance(value, dict):
        out = {}
        for k, v in islice(value.items(), MAX_ITEMS):
            k = cap_text(str(k), MAX_KEY)
            v = _plain(v, depth + 1, k)
            if v is not _DROP and ("accuracy" not in k or _accuracy_value(v)):
                out[k] = v
        return out
    if isinstance(value, list):
        items = (_plain(v, depth + 1) for v in islice(value, MAX_ITEMS))
        return [None if v is _DROP else v for v in items]
    return _DROP


# ---------------------------------------------------------------------------------------------- field checks
def number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fraction(v) -> bool:
    """An accuracy: a number in [0, 1]."""
    return number(v) and 0.0 <= v <= 1.0


def count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _accuracy_value(v) -> bool:
    """What a field named "…accuracy…" may hold: unknown, a fraction, or a list of fractions."""
    return v is None or fraction(v) or (isinstance(v, list) and all(fraction(a) for a in v))


def _curve(v) -> bool:
    """An FGSM curve: {"eps": [ε ≥ 0, …], "accuracy": [fraction, …], "n": count}, each part optional."""
    if not isinstance(v, dict):
        return False
    eps, acc = v.get("eps", []), v.get("accuracy", [])
    return (isinstance(eps, list) and all(number(e) and e >= 0 for e in eps)
            and isinstance(acc, list) and all(fraction(a) for a in acc)
            and (len(eps) == len(acc) or "eps" not in v or "accuracy" not in v)
            and ("n" not in v or count(v["n"])))


def curve_points(meta: dict) -> tuple[list, list] | None:
    """(ε values, accuracies) of the metadata's FGSM curve when it has both, of one length; else None."""
    curve = meta.get("fgsm_curve")
    if not _curve(curve) or not curve.get("eps") or len(curve.get("eps", [])) != len(curve.get("accuracy", [])):
        return None
    return list(curve["eps"]), list(curve["accuracy"])


def _text(v) -> bool:
    return isinstance(v, str)


def _table(v) -> bool:
    return isinstance(v, dict)


def _rows(v) -> bool:
    return isinstance(v, list) and all(isinstance(row, dict) for row in v)


def _class_names(v) -> bool:
    """The model's class names: 2–1000 distinct texts of at most 60 characters, without control characters."""
    return (isinstance(v, list) and 2 <= len(v) <= MAX_ITEMS and len(set(map(str, v))) == len(v)
            and all(isinstance(n, str) and 0 < len(n) <= MAX_CLASS_NAME and n.isprintable() for n in v))


def _num_classes(meta: dict) -> int | None:
    n = meta.get("num_classes", DEFAULT_NUM_CLASSES)
    if n is None:
        return DEFAULT_NUM_CLASSES
    return n if count(n) else None


def class_names(meta: dict) -> list[str] | None:
    """The class names a model's (cleaned) metadata records, one per output; None when it records none."""
    names = meta.get("classes") if isinstance(meta, dict) else None
    if not _class_names(names) or len(names) != _num_classes(meta):
        return None
    return list(names)


def model_classes(meta: dict) -> tuple[str, ...]:
    """The names of a model's outputs, one per class, for every view: the recorded names, else numbered
    "0".."K-1" for the K classes the metadata gives (ten digits when it gives none)."""
    names = class_names(meta)
    if names is not None:
        return tuple(names)
    n = _num_classes(meta) if isinstance(meta, dict) else DEFAULT_NUM_CLASSES
    return tuple(str(i) for i in range(n if n is not None and 2 <= n <= MAX_ITEMS else DEFAULT_NUM_CLASSES))


def name_of(index, names) -> str:
    """Class `index` as a view shows it: its name, or its number when there are no names or it lies outside them."""
    try:
        i = int(index)
    except (TypeError, ValueError):
        return str(index)
    return str(names[i]) if names is not None and 0 <= i < len(names) else str(i)


def class_item(index: int, names) -> str:
    """A class as a menu shows it: its number for a digit (or a numbered class), "i: name" otherwise."""
    name = name_of(index, names)
    return name if name == str(index) else f"{index}: {name}"


def _or_null(check):
    """`check`, or null (a field the writer left unknown, e.g. the window's training records no command)."""
    return lambda v: v is None or check(v)


FIELDS = {
    "name": _text, "architecture": _text,
    **{key: _or_null(_text) for key in ("date", "device", "command")},
    **{key: _or_null(count) for key in ("test_samples", "train_samples", "epochs")},
    "test_accuracy": _or_null(fraction),
    "seed": _or_null(lambda v: number(v) and float(v).is_integer()),
    "training_seconds": _or_null(lambda v: number(v) and v >= 0),
    "recipe": _table, "versions": _table, "initialized_from": _table,
    "history": _rows, "robust_evaluation": _rows, "fgsm_curve": _curve, "classes": _class_names,
}


def _strength(row: dict) -> int:
    """How strong the attack behind a robust_evaluation row is: AutoAttack above everything else."""
    return 1 if str(row.get("attack", "")).lower().startswith("autoattack") else 0


def _row_label(row: dict) -> str:
    attack = str(row.get("attack", "?"))
    if _strength(row):
        return cap_text(str(row.get("label") or attack), 60)
    steps, step = row.get("steps"), row.get("step_size")
    label = f"{attack}-{steps}" if count(steps) and steps > 1 else attack
    return label + (f" (step {float(step):g})" if number(step) else "")


def robust_headline(meta: dict, eps: float = 0.3) -> dict | None:
    """The robust accuracy at `eps` to headline from the metadata's robust_evaluation rows: the strongest attack's
    (AutoAttack before PGD; then the larger n; then the lower figure), and beside it the weaker attacks' figures at that ε.
    {"label", "accuracy", "n", "eps", "weaker": [(label, accuracy, n), …]}, or None when no row records `eps`.
    Display-only: a malformed row is skipped, nothing raises."""
    rows = meta.get("robust_evaluation") if isinstance(meta, dict) else None
    found = []
    for row in rows if isinstance(rows, list) else ():
        results = row.get("results") if isinstance(row, dict) else None
        for r in results if isinstance(results, list) else ():
            if isinstance(r, dict) and number(r.get("eps")) and abs(float(r["eps"]) - eps) < 1e-9 \
                    and fraction(r.get("accuracy")):
                n = row.get("n") if count(row.get("n")) else None
                found.append((_strength(row), n or 0, _row_label(row), float(r["accuracy"]), n))
                break
    if not found:
        return None
    found.sort(key=lambda f: (-f[0], -f[1], f[3]))
    best = found[0]
    return {"label": best[2], "accuracy": best[3], "n": best[4], "eps": eps, "strongest": bool(best[0]),
            "weaker": [(f[2], f[3], f[4]) for f in found[1:]]}
