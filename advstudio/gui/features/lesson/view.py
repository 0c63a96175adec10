"""The lesson dock's widgets: title, "Step k of n" with dots and a bar, the body, the action button, the check
line, Back / Next."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)


class LessonPanel(QWidget):
    """Title, "Step k of n" with dots and a bar, the body, the action button, the check line, Back / Next."""

    fontChanged = Signal()  # presentation mode changed the application font: render the body again

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lesson_panel")
        self.step_label = QLabel()
        self.dots = QLabel()
        self.dots.setToolTip("Steps: ● done, ◉ this one, ○ not done yet")
        small = self.dots.font()
        small.setPointSizeF(small.pointSizeF() * 0.8)
        self.dots.setFont(small)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(8)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.body = QTextBrowser()
        self.body.setOpenExternalLinks(False)
        self.body.setFrameShape(QTextBrowser.Shape.NoFrame)
        self.body.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("QLabel { font-style: italic; }")
        self.note.hide()
        self.action_button = QPushButton()
        self.action_button.setToolTip("Let the app do this step's action (you can also do it yourself)")
        self.check = QLabel()
        self.check.setWordWrap(True)
        self.back = QPushButton("◀ Back")
        self.next = QPushButton("Next ▶")
        self.back.setToolTip("The previous step (Alt+Left)")
        self.next.setToolTip("The next step (Alt+Right); you may go on before this step's check is done")
        head = QHBoxLayout()
        head.addWidget(self.step_label)
        head.addStretch(1)
        head.addWidget(self.dots)
        nav = QHBoxLayout()
        nav.addWidget(self.back)
        nav.addStretch(1)
        nav.addWidget(self.next)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(head)
        layout.addWidget(self.bar)
        layout.addWidget(self.title)
        layout.addWidget(self.body, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.action_button)
        layout.addWidget(self.check)
        layout.addLayout(nav)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self.fontChanged.emit()

    def set_markdown(self, text: str) -> None:
        """Show Markdown; formulas in code blocks get the body's size (Qt's fixed-pitch font is smaller)."""
        self.body.setMarkdown(text)
        doc = self.body.document()
        size = self.body.font().pointSizeF()
        if size <= 0:
            return
        grow = QTextCharFormat()
        grow.setFontPointSize(size)
        block = doc.begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                frag = it.fragment()
                fmt = frag.charFormat()
                families = fmt.fontFamilies() or []
                if frag.isValid() and (fmt.fontFixedPitch() or any("mono" in f.lower() for f in families)):
                    cur = QTextCursor(doc)
                    cur.setPosition(frag.position())
                    cur.setPosition(frag.position() + frag.length(), QTextCursor.MoveMode.KeepAnchor)
                    cur.mergeCharFormat(grow)
                it += 1
            block = block.next()
