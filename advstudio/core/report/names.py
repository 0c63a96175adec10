"""Class names in the session report: every entry that shows a class (a kept attack, an activation measurement, a
side of the comparison, a Why it breaks picture, a lab curve) may carry "class_names", its model's names; where it
does not, they come from the metadata of the model of that name (core.model_meta.model_classes). Classes are shown
by name ("Trouser"), and by number when the names are the numbers (the ten digits look as they always did)."""

from __future__ import annotations

from advstudio.core.classes import DIGITS
from advstudio.core.model_meta import model_classes, name_of

KEY = "class_names"
ENTRY_LISTS = ("attacks", "activations")


def valid(names: object) -> tuple[str, ...] | None:
    if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
        return tuple(names)
    return None


def model_names(session: dict, model: object) -> tuple[str, ...] | None:
    """The classes of the session's model called `model` (its metadata's names, else numbered), or None."""
    for m in session.get("models") or []:
        if isinstance(m, dict) and m.get("name") == model and isinstance(m.get("meta"), dict):
            return model_classes(m["meta"])
    return None


def _named(entry: object, session: dict) -> object:
    """`entry` (a copy) with its class names, when it has none and its model is known."""
    if not isinstance(entry, dict) or valid(entry.get(KEY)) is not None:
        return entry
    names = model_names(session, entry.get("model"))
    return entry if names is None else {**entry, KEY: list(names)}


def with_class_names(session: dict) -> dict:
    """A copy of the session whose entries carry their models' class names (the session itself is not changed)."""
    out = dict(session)
    for key in ENTRY_LISTS:
        if isinstance(session.get(key), list):
            out[key] = [_named(e, session) for e in session[key]]
    comp = session.get("compare")
    if isinstance(comp, dict) and isinstance(comp.get("sides"), list):
        out["compare"] = {**comp, "sides": [_named(s, session) for s in comp["sides"]]}
    found = session.get("explain")
    if isinstance(found, dict):
        named = {}
        for kind, e in found.items():
            e = _named(e, session)
            if isinstance(e, dict) and isinstance(e.get("rows"), list):
                e = {**e, "rows": [_named(r, session) for r in e["rows"]]}
            named[kind] = e
        out["explain"] = named
    return out


def names_of(entry: object) -> tuple[str, ...] | None:
    return valid(entry.get(KEY)) if isinstance(entry, dict) else None


def numbered(names) -> bool:
    """Whether the classes are just their numbers (the digits): no name to show."""
    return names is None or all(n == str(i) for i, n in enumerate(names))


def digits(names) -> bool:
    """Whether the classes are the ten digits (or unknown: the report then says digits, as it always did)."""
    return names is None or tuple(names) == DIGITS


def class_name(entry: object, index: object) -> str:
    """Class `index` of the entry's model: its name, or its number."""
    return name_of(index, names_of(entry))


def quoted(entry: object, index: object) -> str:
    """The class for a sentence: "7" for a digit, “Trouser” for a name."""
    text = class_name(entry, index)
    return text if numbered(names_of(entry)) else f"“{text}”"


def classes_line(names) -> str | None:
    """"26 classes: Class A, Class B, …, Class Z" for named classes (None for the digits)."""
    if digits(names):
        return None
    names = [str(n) for n in names]
    shown = names if len(names) <= 12 else names[:10] + ["…", names[-1]]
    return f"{len(names)} classes: {', '.join(shown)}"
