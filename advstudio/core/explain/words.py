"""The plain sentences that say what each explanation shows, from its measured numbers: the one place the window,
the session report and the command line take them from. Numpy only (no torch): the views import it. Each takes
the result objects of the Why it breaks tab's jobs (or anything with the same attributes).

A result names its classes in `class_names` (the model's, one per output; an attribution row's in `names`, a
projection's true labels in `label_names`); without them, or with the ten digits, the sentences say the class
numbers and speak of digits as they always did; with other names they say the names and speak of classes."""

from __future__ import annotations

import numpy as np

from advstudio.core.classes import DIGITS
from advstudio.core.model_meta import name_of


def class_names(r, attribute: str = "class_names") -> tuple[str, ...] | None:
    """The class names a result carries (None when it carries none)."""
    names = getattr(r, attribute, None)
    return tuple(str(n) for n in names) if names else None


def are_digits(names) -> bool:
    """Whether classes named so are the ten digits (no names: the ten digits, as every model used to have)."""
    return names is None or tuple(names) == DIGITS


def kind_word(names) -> str:
    """What one class is called in a sentence: "digit" for the ten digits, else "class"."""
    return "digit" if are_digits(names) else "class"


def among(index, names) -> str:
    """The images of one class as the projection's sentence names them: "3s" for a digit, "“Dress” images"."""
    return f"{name_of(index, names)}s" if are_digits(names) else f"“{name_of(index, names)}” images"


def ink_percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def attribution_verdict(result) -> str:
    """One sentence from the measured shares: which model's map lies on the strokes of the drawing."""
    rows = result.rows
    if not rows:
        return ""
    if len(rows) == 1:
        r = rows[0]
        return (f"{ink_percent(r.ink_share[0])} of the map lies on your strokes ({r.model_name}); after the push, "
                f"{ink_percent(r.ink_share[1])}.")
    a, b = rows[0], rows[1]
    hi, lo = (a, b) if a.ink_share[0] >= b.ink_share[0] else (b, a)
    gap = hi.ink_share[0] - lo.ink_share[0]
    if gap < 0.05:
        return (f"Both models put about {ink_percent((a.ink_share[0] + b.ink_share[0]) / 2)} of the map on your "
                "strokes: on this drawing their maps look alike.")
    shape = "the digit" if are_digits(class_names(hi, "names")) else "your drawing"
    return (f"{hi.model_name}: {ink_percent(hi.ink_share[0])} of the map lies on your strokes, so it looks like "
            f"{shape}; {lo.model_name}: {ink_percent(lo.ink_share[0])}, the rest scattered like noise.")


def percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def landscape_verdict(r) -> str:
    """What the landscape says, from its measured rises and the share of the ε-ball that reads another class."""
    flipped = percent(r.flipped_share)
    thing = kind_word(class_names(r))
    if r.gradient_zero:
        rest = (f"Yet {flipped} of the ε-ball in this plane reads another {thing}: one step along the random "
                "direction breaks it. The defense hides the way, it does not remove it."
                if r.flipped_share > 0 else f"Within ε no point of this plane reads another {thing}.")
        return f"The gradient this defense shows is zero: along it the loss is flat, so a plain attacker is stuck. {rest}"
    how = ("steep along the gradient: the attack's way out" if r.rise_a > max(1.0, 3 * r.rise_b) else
           "flat along the gradient too: little for an attacker to climb" if r.rise_a < 0.5 else
           "rising along the gradient")
    return (f"Within ε the loss rises by {r.rise_a:.2f} along the gradient and by {r.rise_b:.2f} along a random "
            f"direction ({how}); {flipped} of the ε-ball in this plane reads another {thing}.")


def boundary_verdict(r) -> str:
    names = class_names(r)
    clean, adv = name_of(r.clean_pred, names), name_of(r.adv_pred, names)
    where = (f"crosses the border into {adv} at step {r.crossing} of {len(r.path) - 1}"
             if r.crossing is not None and r.path is not None else f"ends as {adv}")
    if are_digits(names):
        text = f"Your {clean} {where}." if r.adv_pred != r.clean_pred else (
            f"Your {clean} stays a {clean}: at this ε the attack does not reach a border.")
    else:
        text = f"Your drawing (read as {clean}) {where}." if r.adv_pred != r.clean_pred else (
            f"Your drawing stays {clean}: at this ε the attack does not reach a border.")
    if r.path_off_plane is not None and len(r.path_off_plane) and float(np.max(r.path_off_plane)) > 1e-3:
        text += (f" The path leaves this plane by up to {float(np.max(r.path_off_plane)):.2f} (L2, pixel units): "
                 "the dots are its shadow on it.")
    return text


def nearest_class(coords: np.ndarray, labels: np.ndarray, point: np.ndarray) -> int:
    """The class whose centroid in the projection lies nearest to `point`."""
    classes = np.unique(labels)
    centroids = np.stack([coords[labels == k].mean(0) for k in classes])
    return int(classes[np.argmin(((centroids - point) ** 2).sum(1))])


def projection_verdict(r) -> str:
    start = nearest_class(r.coords, r.labels, r.path[0])
    end = nearest_class(r.coords, r.labels, r.path[-1])
    names, labels = class_names(r), class_names(r, "label_names")
    reads = (name_of(r.path_classes[0], names), name_of(r.path_classes[-1], names))
    moved = f"ends among the {among(end, labels)}" if end != start else f"stays among the {among(start, labels)}"
    return (f"Your drawing (read as {reads[0]}) starts among the {among(start, labels)} and {moved}, read as "
            f"{reads[1]} after "
            f"{len(r.path) - 1} PGD steps. The axes hold {percent(r.explained[0])} and {percent(r.explained[1])} of "
            f"the spread of the last hidden layer (what {r.layer} reads).")


