"""The user's own text (model and file names, paths, metadata) shown as written. Qt renders any label or
tooltip that looks like HTML as HTML, so a model named `<img src=x onerror=…>` would become an image; labels
that show such text are PlainText, and tooltips (which cannot be) go through plain_tip."""

from __future__ import annotations

from PySide6.QtGui import Qt


def plain_tip(text: str) -> str:
    """`text` as a tooltip that shows it literally: escaped into a paragraph when Qt would take it for HTML."""
    return Qt.convertFromPlainText(text) if Qt.mightBeRichText(text) else text
