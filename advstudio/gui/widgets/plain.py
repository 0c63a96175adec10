"""The user's own text (model and file names, paths, metadata) shown as written. Qt renders any label or
tooltip that looks like HTML as HTML, so a model named `<img src=x onerror=…>` would become an image; labels
that show such text are PlainText, and tooltips (which cannot be) go through plain_tip."""

from __future__ import annotations

import re

from PySide6.QtGui import Qt


def plain_tip(text: str) -> str:
    """`text` as a tooltip that shows it literally: escaped into a paragraph when Qt would take it for HTML."""
    return Qt.convertFromPlainText(text) if Qt.mightBeRichText(text) else text


def breakable(text: str, every: int = 30) -> str:
    """`text` with a zero-width space after every `every` characters of an unbroken run (a long name, a path),
    so a wrapping label can break it instead of widening the window past a 1280-px screen."""
    return re.sub(rf"(\S{{{every}}})(?=\S)", "\\1\u200b", text)
