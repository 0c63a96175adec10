"""Plain words first, the maths on demand: a parameter's one-line explanation as its tooltip and What's This, a
collapsed "Advanced" group for the settings a first-time student can leave alone, and the one-sentence "what am I
looking at" line at the top of each tab."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFormLayout, QFrame, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

INTRO_SCALE = 0.92  # the intro line is a little smaller than the text it introduces


def explain(widget: QWidget, plain: str, maths: str = "") -> QWidget:
    """Give `widget` its one-line plain explanation as tooltip and What's This; `maths` (the formula, the paper)
    is added to both on a line of its own, for those who ask. Returns the widget."""
    tip = plain if not maths else f"{plain}\n{maths}"
    widget.setToolTip(tip)
    more = f"<p>{html.escape(maths, quote=False)}</p>" if maths else ""
    widget.setWhatsThis(f"<p>{html.escape(plain, quote=False)}</p>{more}")
    return widget


def form_row(form: QFormLayout, text: str, field: QWidget, plain: str, maths: str = "") -> QLabel:
    """Add a form row whose label and field both carry the plain explanation (tooltip and What's This)."""
    label = QLabel(text)
    form.addRow(label, field)
    explain(label, plain, maths)
    explain(field, plain, maths)
    return label


def intro_label(key: str, text: str) -> QLabel:
    """The one sentence at the top of tab `key` saying what the student is looking at (objectName intro_<key>)."""
    label = QLabel(text)
    label.setObjectName(f"intro_{key}")
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)  # wraps; never widens or pads the tab
    font = label.font()
    font.setBold(False)
    font.setPointSizeF(font.pointSizeF() * INTRO_SCALE)
    label.setFont(font)
    label.setContentsMargins(6, 3, 6, 3)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


class AdvancedGroup(QWidget):
    """A small "Advanced" toggle and the frame it shows or hides. Collapsed by default; the widgets inside keep
    their values (and keep working) while hidden, so a collapsed group changes nothing but what is on screen."""

    toggled = Signal(bool)

    def __init__(self, title: str = "Advanced", parent: QWidget | None = None, name: str = "") -> None:
        super().__init__(parent)
        if name:
            self.setObjectName(name)
        self.title = title
        self.button = QToolButton()
        self.button.setObjectName("advanced_toggle")
        self.button.setCheckable(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setAutoRaise(True)
        explain(self.button, "Show the settings you can usually leave at their defaults (the precise knobs of the "
                             "method).")
        self.body = QFrame()
        self.body.setObjectName("advanced_body")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body)
        self.button.toggled.connect(self._on_toggled)
        self._on_toggled(False)

    def form(self) -> QFormLayout:
        """Label–field rows in the frame, flush with the rows above the toggle."""
        rows = QFormLayout(self.body)
        rows.setContentsMargins(0, 0, 0, 0)
        return rows

    def is_expanded(self) -> bool:
        return self.button.isChecked()

    def set_expanded(self, on: bool) -> None:
        self.button.setChecked(bool(on))

    @Slot(bool)
    def _on_toggled(self, on: bool) -> None:
        self.button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.button.setText(self.title)
        self.body.setVisible(on)
        self.toggled.emit(on)
