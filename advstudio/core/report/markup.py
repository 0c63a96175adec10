"""Small HTML helpers of the session report: escaping, number formats, <img> tags and data: URIs."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from html import escape

ImageSink = Callable[[bytes, str], str]  # (png bytes, alt text) -> the <img> src to use


def esc(value: object) -> str:
    """Any text from a user or a model file, escaped for HTML."""
    return escape(str(value), quote=True)


def num(value: object) -> float | None:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def pct(value: object, digits: int = 1) -> str:
    v = num(value)
    return "–" if v is None else f"{v * 100:.{digits}f}%"


def short(value: object, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt(value: object) -> str:
    v = num(value)
    return "–" if v is None else f"{v:.4f}"


def data_uri(png: bytes, _alt: str = "") -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img_tag(sink: ImageSink, png: bytes, alt: str, width: int, height: int, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (f'<img{klass} src="{esc(sink(png, alt))}" alt="{esc(alt)}" width="{width}" height="{height}">')
