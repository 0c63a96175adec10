"""Pieces the long-work tabs (Robustness lab, Defenses, Training, Certify & detect) share: the form in a scroll
area beside the views in a splitter, the Run / Cancel / progress / ETA controls, the "no MNIST folder" box and
a plain pyqtgraph plot with fixed axes."""

from __future__ import annotations

from typing import Protocol

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QSize, Qt, QTimer
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)


class ProgressLike(Protocol):
    done: int
    total: int
    label: str
    elapsed: float


def side_by_side(owner: QWidget, controls: QWidget, views: QWidget, sizes: tuple[int, int]) -> QSplitter:
    """Fill `owner` with a horizontal splitter: `controls` (fixed) on the left, `views` (stretching) right."""
    split = QSplitter(Qt.Orientation.Horizontal)
    split.addWidget(controls)
    split.addWidget(views)
    split.setStretchFactor(0, 0)
    split.setStretchFactor(1, 1)
    split.setSizes(list(sizes))
    layout = QVBoxLayout(owner)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(split)
    return split


def scroll_area(box: QWidget, min_width: int, horizontal: bool = True) -> QScrollArea:
    """`box` in a frameless, vertically scrolling area (horizontal=False: never a horizontal scroll bar)."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(box)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    if not horizontal:
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setMinimumWidth(min_width)
    return scroll


class FitScroll(QScrollArea):
    """A dock's panel or a tab's page in a frameless area that scrolls vertically when it is shorter than the
    panel, so no panel or page sets the window's minimum height: the panel keeps its minimum width (never a
    horizontal scroll bar) and asks for at most `min_height` pixels of height.

    The panel fills the area whenever its least height at the area's width fits, and scrolls at its preferred
    height otherwise (it is sized here, not by QScrollArea's widgetResizable, which sizes a panel holding wrapped text by
    its preferred height and so makes it scroll on a screen where it would fit; and Qt's minimum size hint leaves
    out the height of text that wraps at the width a panel actually gets)."""

    def __init__(self, panel: QWidget, min_height: int = 160, wrapped_text: bool = False) -> None:
        super().__init__()
        self.wrapped_text = wrapped_text
        self.setWidgetResizable(False)
        self.setWidget(panel)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.min_height = min_height
        self._refit = QTimer(self)
        self._refit.setSingleShot(True)
        self._refit.setInterval(0)
        self._refit.timeout.connect(self.fit)

    def _least(self) -> QSize:
        panel = self.widget()
        return panel.minimumSizeHint().expandedTo(panel.minimumSize())

    def _least_height(self, width: int) -> int:
        """The least height the panel needs at this width: its minimum, or, for a panel made with wrapped_text,
        more where text wraps (a wrapped label, a form that wraps its rows), which Qt's minimum size hint does not
        count. (Only where asked: most panels lay their wrapped lines out fine a little below that height, and
        scrolling them would cost the scroll bar's width.)"""
        panel, least = self.widget(), self._least().height()
        layout = panel.layout()
        if self.wrapped_text and layout is not None and layout.hasHeightForWidth():
            least = max(least, layout.totalMinimumHeightForWidth(width))
        return least

    def fit(self) -> None:
        """Size the panel to the area: its full height when its least height fits, else the height it would
        like (it scrolls)."""
        panel = self.widget()
        if panel is None:
            return
        room, least = self.maximumViewportSize(), self._least()
        if self._least_height(max(room.width(), least.width())) > room.height():  # it scrolls
            width = max(room.width() - self.verticalScrollBar().sizeHint().width(), least.width())
            # a panel sized by its wrapped text scrolls just that far; the others at the height they would like
            like = 0 if self.wrapped_text else panel.sizeHint().height()
            size = QSize(width, max(self._least_height(width), like))
        else:
            size = room
        size = size.expandedTo(QSize(least.width(), 0)).boundedTo(panel.maximumSize())
        if QWidget.size(panel) != size:  # (a panel may have a field called size)
            panel.resize(size)

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind == QEvent.Type.LayoutRequest:  # the panel's hints changed (a font, a row shown)
            self.updateGeometry()
        if kind in (QEvent.Type.LayoutRequest, QEvent.Type.Resize, QEvent.Type.Show):
            self._refit.start()  # once this event is done with (resizing inside it is not safe)
        return super().viewportEvent(event)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        inner = self._least()
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(inner.width() + bar, min(inner.height(), self.min_height))

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        inner = self.widget().sizeHint()
        return QSize(inner.width() + self.verticalScrollBar().sizeHint().width(), inner.height())


class CurrentPageTabs(QTabWidget):
    """Tabs whose minimum size is the page on screen's (and the tab bar's), not the largest page's: a hidden
    page's hints can be stale (pyqtgraph sizes its axes when it paints them, so after a font change a page that
    was not repainted still asks for the larger font's room) and it need not fit until it is shown."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.currentChanged.connect(self.updateGeometry)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        page = self.currentWidget()
        bar = self.tabBar().minimumSizeHint()
        if page is None:
            return bar
        inner = page.minimumSizeHint().expandedTo(page.minimumSize())
        return QSize(max(inner.width(), bar.width()), inner.height() + bar.height())


def fixed_plot(bottom: str, left: str, min_height: int) -> pg.PlotWidget:
    """A plot the user cannot pan, zoom or open a menu on, with labelled axes and a light grid."""
    p = pg.PlotWidget()
    p.setMenuEnabled(False)
    p.setMouseEnabled(False, False)
    p.hideButtons()
    p.setLabel("bottom", bottom)
    p.setLabel("left", left)
    p.getAxis("bottom").enableAutoSIPrefix(False)
    p.showGrid(x=True, y=True, alpha=0.2)
    p.setMinimumHeight(min_height)
    return p


def eta_text(p: ProgressLike, unit: str) -> str:
    """"PGD · 120/500 image-attacks · about 14 s left" from a progress message (done, total, label, elapsed)."""
    if p.done > 0 and p.elapsed > 0.5:
        left = p.elapsed / p.done * (p.total - p.done)
        eta = f"about {left:.0f} s left" if left < 120 else f"about {left / 60:.1f} min left"
    else:
        eta = "estimating time left…"
    return f"{p.label} · {p.done}/{p.total} {unit} · {eta}"


class RunControls:
    """Run / Cancel buttons, a progress bar (0–1000) and its ETA line, and the running state they show."""

    def __init__(self, run_text: str = "Run", default: bool = False, starting: str = "Starting…") -> None:
        self.run = QPushButton(run_text)
        if default:
            self.run.setDefault(True)
        self.cancel = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.eta = QLabel("")
        self.eta.setWordWrap(True)
        self.starting = starting
        self.running = False

    def buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(self.run)
        row.addWidget(self.cancel)
        return row

    def add_to_grid(self, grid: QGridLayout, row: int, columns: int) -> None:
        """The buttons, the bar and the ETA on three rows of `grid`, each `columns` wide."""
        grid.addLayout(self.buttons(), row, 0, 1, columns)
        grid.addWidget(self.progress, row + 1, 0, 1, columns)
        grid.addWidget(self.eta, row + 2, 0, 1, columns)

    def add_to_form(self, form: QFormLayout) -> None:
        form.addRow(self.buttons())
        form.addRow(self.progress)
        form.addRow(self.eta)

    def set_running(self, running: bool, inputs: tuple[QWidget, ...] | list[QWidget] = ()) -> None:
        """Run or Cancel enabled, `inputs` disabled while running; a start resets the bar."""
        self.running = running
        self.run.setEnabled(not running)
        self.cancel.setEnabled(running)
        for w in inputs:
            w.setEnabled(not running)
        if running:
            self.progress.setValue(0)
            self.eta.setText(self.starting)

    def set_fraction(self, done: int, total: int) -> None:
        self.progress.setValue(int(round(1000 * done / total)) if total else 0)

    def show_progress(self, p: ProgressLike, unit: str) -> None:
        self.set_fraction(p.done, p.total)
        self.eta.setText(eta_text(p, unit))

    def finished(self, seconds: float) -> None:
        self.progress.setValue(1000)
        self.eta.setText(f"Done in {seconds:.1f} s.")


class DataMessage(QFrame):
    """Why MNIST cannot be read, with a "Choose MNIST folder…" button; hidden while there is nothing to say."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.choose_folder = QPushButton("Choose MNIST folder…")
        layout.addWidget(self.text)
        layout.addWidget(self.choose_folder)
        self.hide()

    def show_message(self, message: str | None) -> None:
        if message is None:
            self.hide()
            return
        self.text.setText(message)
        self.show()


def spin_box(lo: int, hi: int, value: int, step: int) -> QSpinBox:
    """An integer field from `lo` to `hi` showing `value`, its arrows moving by `step`."""
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    return box


def refill_combo(combo: QComboBox, items, keep=None, default: int = 0) -> None:
    """Replace a menu's (text, data) items without telling its listeners; the item whose data is `keep` stays
    chosen when it is still there, else item `default`."""
    combo.blockSignals(True)
    combo.clear()
    for text, data in items:
        combo.addItem(text, data)
    found = combo.findData(keep) if keep is not None else -1
    combo.setCurrentIndex(found if found >= 0 else max(0, min(default, combo.count() - 1)))
    combo.blockSignals(False)


class BesideOrBelow(QWidget):
    """Two widgets side by side when this is at least `width` px wide, else the second below the first."""

    def __init__(self, first: QWidget, second: QWidget, width: int, stretch: tuple[int, int] = (1, 1)) -> None:
        super().__init__()
        self.width_beside, self.parts = width, (first, second)  # width: at least the two minimums side by side
        self.box = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self.box.setContentsMargins(0, 0, 0, 0)
        self.box.addWidget(first, stretch[0])
        self.box.addWidget(second, stretch[1])

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - as narrow as stacked: a narrow window never grows for it
        widest = max(w.minimumSizeHint().expandedTo(w.minimumSize()).width() for w in self.parts)
        return QSize(widest, super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        want = (QBoxLayout.Direction.LeftToRight if event.size().width() >= self.width_beside
                else QBoxLayout.Direction.TopToBottom)
        if self.box.direction() != want:
            self.box.setDirection(want)
        super().resizeEvent(event)
