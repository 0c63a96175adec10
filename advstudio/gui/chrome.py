"""The bar across the top of the window: the workspace switcher (one tab per activity, across the whole width
so none hides behind scroll arrows) and the message strip beside it, where the window's messages appear where
the user is looking (the status bar keeps them too)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QTabBar, QToolBar, QToolButton, QWidget

from advstudio.gui.widgets.plain import plain_tip

WARNING_WORDS = ("cannot", "could not", "failed", "error", "no mnist", "not ")


class MessageStrip(QWidget):
    """One message at a time, up to two lines, with a close button; it goes after its time (0: when closed)."""

    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageStrip")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 4, 2)
        self.text = QLabel("")
        self.text.setObjectName("messageText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.text.setAlignment(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss this message")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.clear)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.close_button)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.clear)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.clear()

    def show_message(self, message: str, timeout_ms: int = 8000) -> None:
        first = message.strip()
        if not first:
            self.clear()
            return
        self.text.setText(first)
        self.text.setToolTip(plain_tip(first))
        warn = any(w in first.lower() for w in WARNING_WORDS)
        self.setProperty("warning", warn)
        self.setStyleSheet("#messageStrip { border-radius: 4px; background: %s; }"
                           % ("rgba(214, 39, 40, 40)" if warn else "rgba(31, 119, 180, 36)"))
        self.text.show()
        self.close_button.show()
        if timeout_ms > 0:
            self.timer.start(timeout_ms)
        else:
            self.timer.stop()

    @Slot()
    def clear(self) -> None:
        self.timer.stop()
        self.text.setText("")
        self.text.setToolTip("")
        self.setStyleSheet("")
        self.close_button.hide()
        self.closed.emit()

    def message(self) -> str:
        return self.text.text()


class WorkspaceBar(QToolBar):
    """The switcher (a QTabBar mirroring the window's tabs) and the message strip, in a fixed toolbar."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Workspaces", parent)
        self.setObjectName("workspaceBar")
        self.setMovable(False)
        self.setFloatable(False)
        self.toggleViewAction().setVisible(False)  # not something to switch off by accident
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.PreventContextMenu)
        self.switcher = QTabBar()
        self.switcher.setObjectName("workspaceSwitcher")
        self.switcher.setDocumentMode(True)
        self.switcher.setExpanding(False)
        self.switcher.setUsesScrollButtons(False)
        self.switcher.setDrawBase(False)
        self.switcher.setElideMode(Qt.TextElideMode.ElideNone)
        self.strip = MessageStrip()
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.switcher, 0, Qt.AlignmentFlag.AlignBottom)
        row.addSpacing(8)
        row.addWidget(self.strip, 1)
        self.addWidget(holder)
        self.fit_strip()

    def fit_strip(self) -> None:
        """Two lines of message text, so that a long message does not make the bar (and the window) taller."""
        lines = self.strip.text.fontMetrics().lineSpacing() * 2 + 8
        self.strip.setFixedHeight(max(lines, self.switcher.sizeHint().height()))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # presentation mode's larger font
            QTimer.singleShot(0, self.fit_strip)
