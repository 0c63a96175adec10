"""One reader for lists of ε (or radii) typed by a user: the CLI's flags and the window's fields differ only in
their rules (separators, bounds, sorting, wording), which are parameters here. No torch, no Qt."""

from __future__ import annotations

FIELD_EMPTY = "Enter at least one ε, e.g. 0, 0.1, 0.2, 0.3"
FIELD_UNREADABLE = "Could not read the ε list {text!r}: use numbers separated by commas"


def parse_numbers(
    text: str,
    *,
    lower: float = 0.0,
    upper: float = 1.0,
    separators: str = ",",
    sort_unique: bool = False,
    empty: str = "give at least one ε",
    unreadable: str = "not a comma-separated list of numbers: {text!r}",
    out_of_range: str = "ε {value} is outside [{lower:g}, {upper:g}]",
) -> list[float]:
    """"0,0.1,0.3" -> [0.0, 0.1, 0.3]: numbers split at any of `separators` (blank parts skipped), each in
    [lower, upper] (NaN never is), in the order given or, with `sort_unique`, sorted without repeats.

    Raises ValueError with `empty` (nothing given), `unreadable` (a part is not a number; `{text}` is the
    input) or `out_of_range` (`{value}` is the first value outside the bounds, `{lower}`, `{upper}` the bounds).
    """
    parts = [p for p in _split(text, separators) if p.strip() != ""]
    if not parts:
        raise ValueError(empty)
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(unreadable.format(text=text)) from None
    for v in values:
        if not lower <= v <= upper:
            raise ValueError(out_of_range.format(value=v, lower=lower, upper=upper))
    return sorted(set(values)) if sort_unique else values


def _split(text: str, separators: str) -> list[str]:
    first = separators[0]
    for sep in separators[1:]:
        text = text.replace(sep, first)
    return text.split(first)


def parse_eps_field(text: str, *, upper: float = 1.0,
                    out_of_range: str = "ε is in pixel units: every value must lie in [0, 1]") -> list[float]:
    """What the window's ε fields accept: numbers separated by commas, spaces or semicolons, each in [0, upper];
    sorted, without repeats."""
    return parse_numbers(text, upper=upper, separators=", ;", sort_unique=True, empty=FIELD_EMPTY,
                         unreadable=FIELD_UNREADABLE, out_of_range=out_of_range)

