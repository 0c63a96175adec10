"""The drawing surface: strokes with a round brush, an eraser, undo/redo, and throttled change signals.

Ink is kept in a 280×280 grey image (white ink on black, like MNIST) whatever the widget's size. Pen and
touch input arrive as the mouse events Qt synthesizes for them. Undo keeps the last `undo_depth` strokes (a
setting): an older stroke is painted into the base image and forgotten, so a long class session never grows
the history (or the time a redraw takes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

INK_SIZE = 280
THROTTLE_MS = 30
UNDO_DEPTH = 50  # strokes that Undo can take back, unless the settings say otherwise
UNDO_DEPTH_RANGE = (1, 500)
UNDO_DEPTH_CHOICES = (10, 25, 50, 100, 200)  # offered in Edit ▸ Undo depth


def undo_depth_from(value: object) -> tuple[int, str | None]:
    """(undo depth, problem) from a stored setting: a number outside UNDO_DEPTH_RANGE is clamped, anything else
    (text, NaN, a list) gives the default; `problem` says what was wrong (None when the value was fine)."""
    if value is None or value == "":
        return UNDO_DEPTH, None
    try:
        depth = int(float(value)) if isinstance(value, (str, float)) else int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return UNDO_DEPTH, f"undo depth {str(value)[:40]!r} is not a number; using {UNDO_DEPTH}"
    lo, hi = UNDO_DEPTH_RANGE
    if not lo <= depth <= hi:
        clamped = min(max(depth, lo), hi)
        return clamped, f"undo depth {str(value)[:40]} is outside {lo}–{hi}; using {clamped}"
    return depth, None


DIGITS_HINT = "Draw a digit here\n(0–9)"


@dataclass(frozen=True)
class Stroke:
    points: tuple[tuple[float, float], ...]
    width: float
    erase: bool = False
    clear: bool = False


class DrawingCanvas(QWidget):
    """Emits `inkChanged` at most every THROTTLE_MS while drawing and `strokeFinished` when a stroke ends."""

    inkChanged = Signal()
    strokeFinished = Signal()

    def set_classes(self, names) -> None:
        """The empty canvas's hint names what to draw: digits, or the model's first and last class."""
        names = [str(n) for n in names]
        digits = names == [str(i) for i in range(10)]
        self.hint = DIGITS_HINT if digits else f"Draw one of its {len(names)} classes\n({names[0]} … {names[-1]})"
        self.update()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas")
        self.hint = DIGITS_HINT  # what the empty canvas asks for (set_classes: the model's classes)
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw a digit with the mouse, a pen or a finger. Right-drag erases.\n"
                        "Ctrl+Z undo · Ctrl+Shift+Z redo · Delete clears")
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.brush_width = 22.0
        self.eraser = False
        self._base: QImage | None = None
        self._base_digit: np.ndarray | None = None
        self._strokes: list[Stroke] = []  # what Undo can take back: the last undo_depth strokes at most
        self._redo: list[Stroke] = []
        self.undo_depth = UNDO_DEPTH
        self._current: list[tuple[float, float]] | None = None
        self._current_erase = False
        self._image = QImage(INK_SIZE, INK_SIZE, QImage.Format.Format_Grayscale8)
        self._image.fill(0)
        self._throttle = QTimer(self, singleShot=True, interval=THROTTLE_MS)
        self._throttle.timeout.connect(self.inkChanged)

    # ---------------------------------------------------------------- state
    @property
    def strokes(self) -> tuple[Stroke, ...]:
        return tuple(self._strokes)

    def is_drawing(self) -> bool:
        return self._current is not None

    def can_undo(self) -> bool:
        return bool(self._strokes)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def is_empty(self) -> bool:
        """No ink shows: nothing drawn yet, cleared (Delete), or every stroke erased."""
        img = self._image
        buf = np.frombuffer(img.constBits(), dtype=np.uint8).reshape(img.height(), img.bytesPerLine())
        return not buf[:, : img.width()].any()

    def shows_hint(self) -> bool:
        """The "Draw a digit here" hint is up whenever the canvas is empty and no stroke is under way."""
        return self._current is None and self.is_empty()

    def ink(self) -> np.ndarray:
        """The ink map (280×280 float32, 1 = ink)."""
        img = self._image
        buf = np.frombuffer(img.constBits(), dtype=np.uint8).reshape(img.height(), img.bytesPerLine())
        return buf[:, : img.width()].astype(np.float32) / 255.0

    def current_input(self) -> np.ndarray | None:
        """The 28×28 digit the model should see, or None when the canvas is empty."""
        if self._base_digit is not None and not self._strokes:
            return self._base_digit.copy()
        from advstudio.core.errors import InputImageError
        from advstudio.core.images import preprocess_ink

        try:
            return preprocess_ink(self.ink())
        except InputImageError:
            return None

    # ---------------------------------------------------------------- editing
    def set_base(self, digit: np.ndarray) -> None:
        """Show a 28×28 digit (from a file or the gallery) as the input; drawing on it edits it."""
        digit = np.clip(np.asarray(digit, dtype=np.float32).reshape(28, 28), 0.0, 1.0)
        u8 = np.ascontiguousarray((digit * 255.0 + 0.5).astype(np.uint8))
        small = QImage(u8.data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()
        self._base = small.scaled(INK_SIZE, INK_SIZE, Qt.AspectRatioMode.IgnoreAspectRatio,
                                  Qt.TransformationMode.SmoothTransformation)
        self._base_digit = digit.copy()
        self._strokes.clear()
        self._redo.clear()
        self._rerender()
        self.inkChanged.emit()

    def add_stroke(self, points, width: float | None = None, erase: bool = False) -> None:
        """Add a finished stroke programmatically (in 280×280 ink coordinates), as if drawn."""
        stroke = Stroke(tuple((float(x), float(y)) for x, y in points), float(width or self.brush_width), erase)
        self._push(stroke)
        self._paint_stroke(stroke)
        self.update()
        self.strokeFinished.emit()
        self.inkChanged.emit()

    def clear(self) -> None:
        if not self._strokes and self._base is None:
            return
        if self._strokes and self._strokes[-1].clear:
            return
        self._push(Stroke((), 0.0, clear=True))
        self._rerender()
        self.inkChanged.emit()

    def undo(self) -> None:
        if self._strokes:
            self._redo.append(self._strokes.pop())
            self._rerender()
            self.inkChanged.emit()

    def redo(self) -> None:
        if self._redo:
            self._strokes.append(self._redo.pop())
            self._rerender()
            self.inkChanged.emit()

    def set_undo_depth(self, depth: int) -> None:
        """Keep at most `depth` strokes to undo (clamped to UNDO_DEPTH_RANGE); older ones are painted in."""
        lo, hi = UNDO_DEPTH_RANGE
        self.undo_depth = min(max(int(depth), lo), hi)
        self._trim()
        room = max(self.undo_depth - len(self._strokes), 0)
        del self._redo[: max(len(self._redo) - room, 0)]  # the furthest redos go first

    def _push(self, stroke: Stroke) -> None:
        self._strokes.append(stroke)
        self._redo.clear()
        self._trim()

    def _trim(self) -> None:
        """Paint the strokes beyond the undo depth into the base image and forget them (the ink is unchanged)."""
        while len(self._strokes) > self.undo_depth:
            oldest = self._strokes.pop(0)
            self._base_digit = None  # the base is no longer the digit that was opened
            if oldest.clear:
                self._base = None
            elif oldest.points:
                if self._base is None:
                    self._base = QImage(INK_SIZE, INK_SIZE, QImage.Format.Format_Grayscale8)
                    self._base.fill(0)
                self._paint_points(oldest.points, oldest.width, oldest.erase, self._base)

    # ---------------------------------------------------------------- painting into the ink image
    def _rerender(self) -> None:
        start = 0
        for i, s in enumerate(self._strokes):
            if s.clear:
                start = i + 1
        if start == 0 and self._base is not None:
            self._image = self._base.copy()
        else:
            self._image.fill(0)
        for s in self._strokes[start:]:
            self._paint_stroke(s)
        self.update()

    def _pen(self, width: float, erase: bool) -> QPen:
        colour = QColor(0, 0, 0) if erase else QColor(255, 255, 255)
        return QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)

    def _paint_points(self, points, width: float, erase: bool, target: QImage | None = None) -> None:
        p = QPainter(self._image if target is None else target)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(self._pen(width, erase))
        if len(points) == 1:
            p.drawPoint(QPointF(*points[0]))
        else:
            p.drawPolyline(QPolygonF([QPointF(x, y) for x, y in points]))
        p.end()

    def _paint_stroke(self, s: Stroke) -> None:
        if s.points:
            self._paint_points(s.points, s.width, s.erase)

    # ---------------------------------------------------------------- widget
    def _target_rect(self) -> QRectF:
        side = min(self.width(), self.height()) - 2
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def _to_ink(self, pos: QPointF) -> tuple[float, float]:
        r = self._target_rect()
        scale = INK_SIZE / max(r.width(), 1.0)
        return ((pos.x() - r.x()) * scale, (pos.y() - r.y()) * scale)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().window())
        r = self._target_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(r, self._image)
        p.setPen(QPen(self.palette().mid().color(), 1))
        p.drawRect(r)
        if self.shows_hint():
            p.setPen(QColor(150, 150, 150))
            font = p.font()
            font.setPointSizeF(font.pointSizeF() * 1.4)
            p.setFont(font)
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, self.hint)
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return super().mousePressEvent(event)
        self._current_erase = self.eraser or event.button() == Qt.MouseButton.RightButton
        self._current = [self._to_ink(event.position())]
        self._paint_points(self._current, self.brush_width, self._current_erase)
        self.update()
        self._throttle.start()
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._current is None or not (event.buttons() & (Qt.MouseButton.LeftButton | Qt.MouseButton.RightButton)):
            return super().mouseMoveEvent(event)
        pt = self._to_ink(event.position())
        self._paint_points([self._current[-1], pt], self.brush_width, self._current_erase)
        self._current.append(pt)
        self.update()
        if not self._throttle.isActive():
            self._throttle.start()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._current is None:
            return super().mouseReleaseEvent(event)
        self._push(Stroke(tuple(self._current), self.brush_width, self._current_erase))
        self._current = None
        self._throttle.stop()
        self.update()
        self.strokeFinished.emit()
        self.inkChanged.emit()
        event.accept()
