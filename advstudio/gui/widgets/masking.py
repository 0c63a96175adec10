"""The gradient-masking checks beside a robustness figure (core.evaluation.masking computes them on the worker):
one compact line, ✓ or ⚠ and each check's short name, with the full sentences in its tooltip and on a click."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

PREFIX = "Masking checks"


@dataclass(frozen=True)
class MaskingNote:
    """One check as plain strings (what crosses threads): its name, whether it raised a flag, what it saw and
    what that means."""

    name: str
    flagged: bool
    saw: str
    means: str

    def mark(self) -> str:
        return "⚠" if self.flagged else "✓"

    def sentence(self) -> str:
        return f"{self.mark()} {self.name}: {self.saw} {self.means}"


def notes_from_checks(checks) -> tuple[MaskingNote, ...]:
    """core MaskingCheck objects → MaskingNotes (called on the worker)."""
    return tuple(MaskingNote(str(c.name), bool(c.flagged), str(c.saw), str(c.means)) for c in checks)


class MaskingChecksLabel(QLabel):
    """"Masking checks: ✓ outputs · ⚠ randomness · …"; hover for the sentences, click to show them inline."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.notes: tuple[MaskingNote, ...] = ()
        self.expanded = False
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.hide()

    def set_notes(self, notes, subject: str = "") -> None:
        """Show `notes` (empty: hide); `subject` names the model they were run on."""
        self.notes, self.expanded = tuple(notes), False
        self.subject = subject
        self._render()

    def summary(self) -> str:
        marks = " · ".join(f"{n.mark()} {n.name}" for n in self.notes)
        flagged = sum(n.flagged for n in self.notes)
        verdict = f"{flagged} warning{'s' if flagged != 1 else ''}" if flagged else "no sign of masked gradients"
        on = f" on {self.subject}" if self.subject else ""
        return f"{PREFIX}{on}: {marks} — {verdict}"

    def _render(self) -> None:
        if not self.notes:
            self.setText("")
            self.hide()
            return
        details = "\n".join(n.sentence() for n in self.notes)
        self.setToolTip("Signs that a figure measures a model hiding its gradient rather than resisting the "
                        "attack (AutoAttack's own flags); click to show them here:\n" + details)
        self.setText(self.summary() + ("\n" + details if self.expanded else ""))
        self.show()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self.expanded = not self.expanded
        self._render()
        super().mousePressEvent(event)
