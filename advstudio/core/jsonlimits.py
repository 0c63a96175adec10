"""JSON from files a user hands in, parsed only once it is known to be small and shallow: Python's parser
recurses once per nesting level, so a file of 100,000 '[' would end in a RecursionError, not a message."""

from __future__ import annotations

import json
import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonShapeError(ValueError):
    """Text that is not JSON, or nested deeper than allowed; the message says which and where."""


def nesting_depth(text: str) -> int:
    """The deepest nesting of [ and { in JSON text (brackets inside strings do not count), without parsing it."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        if m.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(0, depth - 1)
    return deepest


def loads_limited(text: str, max_depth: int) -> object:
    """json.loads, after checking the nesting depth; JsonShapeError names the problem (line and column for
    broken JSON). NaN and Infinity are refused: no file of ours holds them."""
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JsonShapeError(f"nested {depth} levels deep (at most {max_depth} are allowed)")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise JsonShapeError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:  # the depth check should have caught it; never let it escape
        raise JsonShapeError("nested too deeply") from None


def _refuse_constant(name: str) -> float:
    raise JsonShapeError(f"holds {name}, which is not a number JSON allows")
