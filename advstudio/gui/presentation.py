"""Presentation mode (F11): full screen without menu bar, status bar or toolbars, a larger application font and
thicker plot lines, for a projector. F11 or Esc leaves it and restores everything as it was.

The workspace bar stays (the tabs and the messages); of the side panels only the drawing, its prediction and the
lesson stay (gui/workspaces.py; a lesson step brings up the panel it needs), so the larger text still fits a
1280×720 projector. Panels need not know about it: every pyqtgraph view in the window is
re-styled (curve pens, symbol sizes, axis and label fonts), and a slow timer re-styles curves that panels add
while it is on. A panel that draws something of its own can consult presentation_scale()."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QByteArray, QEvent, QObject, QRect, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QGraphicsTextItem, QLayout, QMainWindow, QToolBar, QWidget

from advstudio.gui.widgets.layout import FitScroll

FONT_SCALE = 1.4  # 1.6 reads better from the back row, but then the Attack tab no longer fits 1280 px
LABEL_SCALE = 1.2  # plot titles: already large, and wider ones squeeze the plots beside them
PEN_SCALE = 2.0
MIN_PEN_WIDTH = 3.0
RESTYLE_MS = 1000
_SIZE_RESOLVED = 0x2  # QFont::SizeResolved: the widget's font sets its own size

_scale = 1.0


def presentation_scale() -> float:
    """1.0 normally; FONT_SCALE while presentation mode is on (for panels that size things themselves)."""
    return _scale


def _scaled_font(font: QFont, factor: float) -> QFont:
    out = QFont(font)
    if font.pointSizeF() > 0:
        out.setPointSizeF(font.pointSizeF() * factor)
    elif font.pixelSize() > 0:
        out.setPixelSize(max(1, round(font.pixelSize() * factor)))
    return out


def _scaled_css_size(size: str, factor: float) -> str:
    for unit in ("pt", "px"):
        if size.endswith(unit):
            try:
                return f"{float(size[:-len(unit)]) * factor:g}{unit}"
            except ValueError:
                return size
    return size


class PresentationMode(QObject):
    toggled = Signal(bool)

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.active = False
        self.action = QAction("&Presentation mode", window, checkable=True, shortcut=QKeySequence("F11"))
        self.action.setStatusTip("Full screen, large fonts and thick lines for a projector (F11 or Esc leaves)")
        self.action.toggled.connect(self.set_active)
        window.addAction(self.action)  # F11 must work while the menu bar is hidden
        self.escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), window)
        self.escape.setEnabled(False)
        self.escape.activated.connect(self.leave)
        self._timer = QTimer(self)
        self._timer.setInterval(RESTYLE_MS)
        self._timer.timeout.connect(self.restyle)
        self._saved: dict = {}
        self._touched: list[tuple[object, str, object]] = []  # (item, what, original) to undo on leaving

    @Slot()
    def leave(self) -> None:
        self.set_active(False)

    @Slot(bool)
    def set_active(self, on: bool) -> None:
        on = bool(on)
        if on == self.active:
            self.action.setChecked(on)
            return
        if on:
            self._enter()
        else:
            self._leave()
        self.action.blockSignals(True)
        self.action.setChecked(on)
        self.action.blockSignals(False)
        self.toggled.emit(on)

    def toggle(self) -> None:
        self.set_active(not self.active)

    # ------------------------------------------------------------------ entering and leaving
    def _enter(self) -> None:
        global _scale
        w = self.window
        app = QApplication.instance()
        toolbars = [t for t in w.findChildren(QToolBar) if t.isVisible() and t is not w.workspace_bar]
        self._saved = {"rect": QRect(w.geometry()), "maximized": w.isMaximized(),
                       "menubar": w.menuBar().isVisible(), "statusbar": w.statusBar().isVisible(),
                       "toolbars": toolbars, "font": QFont(app.font()), "state": QByteArray(w.saveState())}
        self.active = True
        _scale = FONT_SCALE
        w.menuBar().hide()
        w.statusBar().hide()
        for t in toolbars:
            t.hide()
        w.workspaces.set_presenting(True)
        self._touched = []
        self._scale_widget_fonts()
        app.setFont(_scaled_font(self._saved["font"], FONT_SCALE))
        self._saved["tabs_min"] = w.tabs.minimumSize()
        w.tabs.currentChanged.connect(self._fit_tab)
        self._fit_tab()
        self.restyle()
        w.showFullScreen()
        w.installEventFilter(self)  # arrange again whenever the window's size settles (X11 applies it later)
        self._arrange_soon()
        self.escape.setEnabled(True)
        self._timer.start()

    def _leave(self) -> None:
        global _scale
        w = self.window
        self._timer.stop()
        w.removeEventFilter(self)
        self.escape.setEnabled(False)
        self.active = False
        _scale = 1.0
        QApplication.instance().setFont(self._saved["font"])
        w.tabs.currentChanged.disconnect(self._fit_tab)
        w.tabs.setMinimumSize(self._saved["tabs_min"])
        for item, what, original in self._touched:  # in order: the latest original of an item wins
            try:
                self._undo(item, what, original)
            except RuntimeError:  # the item was deleted meanwhile
                pass
        self._touched = []
        w.menuBar().setVisible(self._saved["menubar"])
        w.statusBar().setVisible(self._saved["statusbar"])
        for t in self._saved["toolbars"]:
            t.show()
        with w.workspaces.quiet():
            w.restoreState(self._saved["state"])  # the panels' sizes from before
        w.workspaces.set_presenting(False)  # and the tab's panels (the lesson, if it was opened meanwhile)
        if self._saved["maximized"]:
            w.showMaximized()
        else:
            w.showNormal()
            # the window's own rectangle (restoreGeometry would fit a frame into the screen and lose some pixels);
            # the normal font reaches the layouts a few event-loop turns later: until then the larger minimum
            # sizes can push the window past its old size, so put it back once they have settled
            rect = QRect(self._saved["rect"])
            w.setGeometry(rect)
            QTimer.singleShot(0, lambda: None if self.active else w.setGeometry(rect))

    def _arrange_soon(self) -> None:
        """The larger font reaches the layouts over a few event-loop turns: arrange now and twice more."""
        for ms in (0, 300, 1000):
            QTimer.singleShot(ms, self._arrange)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if obj is self.window and event.type() == QEvent.Type.Resize and self.active:
            QTimer.singleShot(0, self._arrange)
        return False

    @Slot()
    def _arrange(self) -> None:
        """Fill the screen: the input dock gets what it needs, the tab on screen the width it would like, the
        lesson what is left (up to 30%). A panel a lesson step brought up gets 30% instead of the input."""
        w = self.window
        if not self.active:
            return
        self._fit_tab()  # again: the larger font has reached the page's layout by now
        for area in w.findChildren(FitScroll):  # and the panels' heights, for the same reason
            area.fit()
        screen = w.screen()
        if screen is not None and w.geometry() != screen.geometry():
            w.setGeometry(screen.geometry())  # a bare X server (no window manager) ignores the full-screen hint
        docks = [w.docks[k] for k in ("input", "lesson") if k in w.docks and w.docks[k].isVisible()]
        focused = w.docks.get(w.workspaces.focused or "")
        if focused is not None and focused.isVisible():  # a step's panel: 30% of the width
            lesson = [d for d in docks if d is w.docks.get("lesson")]
            widths = [max(focused.minimumSizeHint().width(), int(w.width() * 0.3))]
            w.resizeDocks([focused, *lesson], widths + [max(d.minimumSizeHint().width(), int(w.width() * 0.22))
                                                        for d in lesson],
                          Qt.Orientation.Horizontal)
            return
        if not docks:
            return
        widths = [d.minimumSizeHint().width() for d in docks]
        # the tab's size hints undercount its pictures and captions (the δ colour bar vanishes first): give it
        # what it would like and then some
        page = w.tabs.currentWidget()
        central = max(w.tabs.minimumWidth(), page.sizeHint().width() if page is not None else 0) + 80
        spare = w.width() - central - sum(widths) - 8 * (len(docks) + 1)  # separators
        if docks[-1] is w.docks.get("lesson"):  # readable lines: at least 22% of the width, up to 30% if spare
            widths[-1] = max(widths[-1], int(w.width() * 0.22))
            if spare > 0:
                widths[-1] += min(spare, max(0, int(w.width() * 0.3) - widths[-1]))
        w.resizeDocks(docks, widths, Qt.Orientation.Horizontal)

    @Slot()
    def _fit_tab(self) -> None:
        """The tab on screen sets the centre's minimum size, not the widest page of all (the screen is small)."""
        tabs = self.window.tabs
        page = tabs.currentWidget()
        if page is not None:
            for layout in page.findChildren(QLayout):  # hidden while the font grew: their cached hints are stale
                layout.invalidate()
            hint = page.minimumSizeHint()
            bar = tabs.tabBar().sizeHint().height() if tabs.tabBar().isVisibleTo(tabs) else 0
            tabs.setMinimumSize(hint.width(), hint.height() + bar)

    # ------------------------------------------------------------------ re-styling
    def _scale_widget_fonts(self) -> None:
        """Widgets that set their own font size (big prediction digit, banners) grow with the rest."""
        for widget in self.window.findChildren(QWidget):
            if widget.testAttribute(Qt.WidgetAttribute.WA_SetFont) and widget.font().resolveMask() & _SIZE_RESOLVED:
                original = QFont(widget.font())
                widget.setFont(_scaled_font(original, FONT_SCALE))
                self._touched.append((widget, "widget_font", original))

    @Slot()
    def restyle(self) -> None:
        """Thicken curves and enlarge plot text in every pyqtgraph view (items already done are skipped)."""
        if not self.active:
            return
        base = self._saved["font"]
        for view in self.window.findChildren(pg.GraphicsView):
            scene = view.scene()
            if scene is None:
                continue
            for item in scene.items():
                try:
                    self._restyle_item(item, base)
                except RuntimeError:
                    continue

    def _restyle_item(self, item, base: QFont) -> None:
        if isinstance(item, pg.PlotDataItem):
            pen = item.opts.get("pen")
            if pen is not None and getattr(item, "_present_pen", None) is not pen:
                qpen = pg.mkPen(pen)
                width = max(qpen.widthF() * PEN_SCALE, MIN_PEN_WIDTH)
                original = pen
                thick = pg.mkPen(qpen)
                thick.setWidthF(width)
                thick.setCosmetic(True)
                item.setPen(thick)
                item._present_pen = item.opts.get("pen")
                self._touched.append((item, "pen", original))
            size = item.opts.get("symbolSize")
            if item.opts.get("symbol") is not None and getattr(item, "_present_symbol", None) != size:
                item.setSymbolSize(size * FONT_SCALE)
                item._present_symbol = item.opts.get("symbolSize")
                self._touched.append((item, "symbol", size))
        elif isinstance(item, pg.AxisItem):
            if getattr(item, "_present_tick", False):
                return
            original = item.style.get("tickFont")
            # a colour bar is short: larger labels would crowd each other out, so it keeps the usual size
            factor = 1.0 if isinstance(item.parentItem(), pg.ColorBarItem) else FONT_SCALE
            item.setTickFont(_scaled_font(original if original is not None else base, factor))
            item._present_tick = True
            self._touched.append((item, "tick", original))
            if item.label is not None:
                self._scale_text(item.label)
                item.resizeEvent()
        elif isinstance(item, pg.LabelItem):
            if getattr(item, "_present_label", False):
                return
            original = item.opts.get("size")
            item.opts["size"] = (_scaled_css_size(original, LABEL_SCALE) if original
                                 else f"{base.pointSizeF() * LABEL_SCALE:g}pt")
            item.setText(item.text)
            item._present_label = True
            self._touched.append((item, "label", original))
        elif isinstance(item, QGraphicsTextItem) and not isinstance(item.parentItem(), (pg.LabelItem, pg.AxisItem)):
            self._scale_text(item)

    def _scale_text(self, item: QGraphicsTextItem) -> None:
        if getattr(item, "_present_font", None) is not None and item.font() == item._present_font:
            return
        original = QFont(item.font())
        item.setFont(_scaled_font(original, FONT_SCALE))
        item._present_font = item.font()
        self._touched.append((item, "text", original))

    @staticmethod
    def _undo(item, what: str, original) -> None:
        if what == "widget_font":
            item.setFont(original)
        elif what == "pen":
            item.setPen(original)
            item._present_pen = None
        elif what == "symbol":
            item.setSymbolSize(original)
            item._present_symbol = None
        elif what == "tick":
            item.setTickFont(original)
            item._present_tick = False
            item.resizeEvent()
        elif what == "label":
            if original is None:
                item.opts.pop("size", None)
            else:
                item.opts["size"] = original
            item.setText(item.text)
            item._present_label = False
        elif what == "text":
            item.setFont(original)
            item._present_font = None
