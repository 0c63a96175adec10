"""File ▸ Export report…'s first step: who the report is for (the student's name, optional and remembered) and
what it will hold, before the file dialog asks where to write it."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

NAME_TIP = "Printed at the top of the report. Leave it empty for “(no name)”; it is remembered for next time."


def contents_text(session: dict) -> str:
    """One sentence naming what the report will hold, in the order it shows them."""
    n = len(session.get("attacks") or [])
    parts = [f"{n} kept attack{'s' if n != 1 else ''}"]
    parts.append("the side-by-side result" if session.get("compare") else "no side-by-side result yet")
    lesson = session.get("lesson") or {}
    if lesson.get("steps"):
        parts.append(f"lesson progress ({len(lesson.get('done') or [])} of {len(lesson['steps'])} steps)")
    labs = len(session.get("labs") or [])
    if labs:
        parts.append(f"{labs} robustness curve run{'s' if labs != 1 else ''}")
    return ("The report starts with what you found: " + ", ".join(parts)
            + ". How each was made follows in an appendix.")


class ReportDialog(QDialog):
    def __init__(self, name: str, session: dict, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export the session report")
        self.setMinimumWidth(440)  # the sentence below in three lines, not six
        self.name_edit = QLineEdit(name)
        self.name_edit.setPlaceholderText("(no name)")
        self.name_edit.setMaxLength(80)
        self.name_edit.setToolTip(NAME_TIP)
        self.name_edit.setWhatsThis(NAME_TIP)
        self.contents = QLabel(contents_text(session))
        self.contents.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Student name:", self.name_edit)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Save).setText("Choose where to save…")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.contents)
        layout.addWidget(buttons)
        self.name_edit.setFocus()

    def name(self) -> str:
        return self.name_edit.text().strip()
