"""The lesson dock's widgets: title, "Step k of n" with dots and a bar, the body, the action button, the check
line with the ways out of a step that cannot be done as it stands, Back / Start over / Next."""

from __future__ import annotations

from collections.abc import Sequence

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
    """Title, "Step k of n" with dots and a bar, the body, the action button, the check line with up to
    WAY_OUTS buttons offering the next thing to try, Back / Start over / Next."""

    fontChanged = Signal()  # presentation mode changed the application font: render the body again
    wayOutClicked = Signal(int)  # the index of the way-out button pressed
    WAY_OUTS = 2

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
        self.way_out_buttons: list[QPushButton] = []
        ways = QHBoxLayout()
        for i in range(self.WAY_OUTS):
            b = QPushButton()
            b.setObjectName(f"lesson_way_out_{i}")
            b.setToolTip("The next thing to try when this step cannot be done as it stands")
            b.clicked.connect(lambda _=False, k=i: self.wayOutClicked.emit(k))
            b.hide()
            ways.addWidget(b)
            self.way_out_buttons.append(b)
        ways.addStretch(1)
        self.back = QPushButton("◀ Back")
        self.next = QPushButton("Next ▶")
        self.back.setToolTip("The previous step (Alt+Left)")
        self.next.setToolTip("The next step (Alt+Right); you may go on before this step's check is done")
        self.start_over = QPushButton("Start over")
        self.start_over.setToolTip("Back to step 1, with every step marked not done (the lesson remembers where "
                                   "you are between sessions)")
        head = QHBoxLayout()
        head.addWidget(self.step_label)
        head.addStretch(1)
        head.addWidget(self.dots)
        nav = QHBoxLayout()
        nav.addWidget(self.back)
        nav.addStretch(1)
        nav.addWidget(self.start_over)
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
        layout.addLayout(ways)
        layout.addLayout(nav)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self.fontChanged.emit()

    def set_way_outs(self, labels: Sequence[str]) -> None:
        """Show one button per label (at most WAY_OUTS), hide the rest."""
        for i, b in enumerate(self.way_out_buttons):
            if i < len(labels):
                b.setText(labels[i])
            b.setVisible(i < len(labels))

    def set_markdown(self, text: str) -> None:
        """Show Markdown; formulas in code blocks get the body's size (Qt's fixed-pitch font is smaller)."""
        self.body.setMarkdown(text)
        doc = self.body.document()
        size = self.body.font().pointSizeF()
        if size <= 0:
            return
        grow = QTextCharFormat()
        grow.setFontPointSize(size)
        cur = QTextCursor(doc)
        cur.beginEditBlock()  # one re-layout at the end, not one per code fragment
        for start, length in _fixed_pitch_ranges(doc):
            cur.setPosition(start)
            cur.setPosition(start + length, QTextCursor.MoveMode.KeepAnchor)
            cur.mergeCharFormat(grow)
        cur.endEditBlock()


def _fixed_pitch_ranges(doc) -> list[tuple[int, int]]:
    """(position, length) of every fixed-pitch fragment (inline code, code blocks), collected before any change."""
    ranges = []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            fmt = frag.charFormat()
            if frag.isValid() and (fmt.fontFixedPitch() or any("mono" in f.lower() for f in fmt.fontFamilies() or [])):
                ranges.append((frag.position(), frag.length()))
            it += 1
        block = block.next()
    return ranges
