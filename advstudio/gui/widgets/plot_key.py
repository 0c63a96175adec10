"""What sits around a plot rather than on it: the key (legend) as a row of coloured marks and names above the
plot, so it never hides a curve or a bar and is never clipped by the plot's edge, and a plain sentence shown in
place of the empty plot until there is something to draw."""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

MARKS = {"line": "━━", "dash": "┅┅", "square": "■", "dot": "●"}


@dataclass(frozen=True)
class KeyEntry:
    colour: str
    text: str
    mark: str = "line"  # a key of MARKS


class PlotKey(QLabel):
    """The legend of one plot, outside its data: "━━ clean   ━━ adversarial", wrapping onto more rows when
    narrow. The names take the palette's text colour (so they follow the theme); only the marks are coloured."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("plot_key")
        self.entries: list[KeyEntry] = []
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.hide()

    def set_entries(self, entries: list[KeyEntry] | list[tuple]) -> None:
        self.entries = [e if isinstance(e, KeyEntry) else KeyEntry(*e) for e in entries]
        self.setText(" &nbsp;&nbsp; ".join(
            f'<span style="white-space: nowrap"><span style="color:{e.colour}">{MARKS.get(e.mark, "━━")}</span>'
            f"&nbsp;{html.escape(e.text)}</span>" for e in self.entries))
        self.setVisible(bool(self.entries))

    def labels(self) -> list[str]:
        return [e.text for e in self.entries]


class PlotPlaceholder(QStackedWidget):
    """`plot`, or while it has nothing to show, one plain sentence in its place (no empty axes or boxes)."""

    def __init__(self, plot: QWidget, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = QLabel(text)
        self.message.setObjectName("plot_placeholder")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setFrameShape(QLabel.Shape.StyledPanel)
        self.message.setStyleSheet("QLabel { font-style: italic; padding: 12px; }")
        policy = self.message.sizePolicy()  # its wrapped height must not set the plot area's: the plot's does
        policy.setVerticalPolicy(QSizePolicy.Policy.Ignored)
        policy.setHeightForWidth(False)
        self.message.setSizePolicy(policy)
        self.message.setMinimumWidth(1)
        self.plot = plot
        self.addWidget(self.message)
        self.addWidget(plot)
        self.set_empty(True)

    def set_empty(self, empty: bool) -> None:
        if self.currentWidget() is not (self.message if empty else self.plot):
            self.setCurrentWidget(self.message if empty else self.plot)
            self.updateGeometry()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """The page on screen's: the hidden plot need not fit until it is shown."""
        page = self.currentWidget()
        return page.minimumSizeHint().expandedTo(page.minimumSize())

    @property
    def empty(self) -> bool:
        return self.currentWidget() is self.message


def key_above(key: PlotKey, plot: QWidget, spacing: int = 2) -> QWidget:
    """The key above its plot, in one widget (never on the data; what a figure export saves)."""
    box = QWidget()
    v = QVBoxLayout(box)
    v.setContentsMargins(0, 0, 0, 0)
    v.setSpacing(spacing)
    v.addWidget(key)
    v.addWidget(plot, 1)
    return box
