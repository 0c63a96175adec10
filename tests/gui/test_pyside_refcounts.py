"""PySide6 6.12.0 drops a reference to True on every Python-side Signal.emit() and to None on every call of a
Python override of a C++ virtual; a long session then aborts with "bool_dealloc"/"none_dealloc". The pinned
PySide6 (constraints.txt) must not: this test fails if a bump brings the bug back."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget


class _Emitter(QObject):
    ping = Signal()
    value = Signal(object)


class _Painted(QWidget):
    def paintEvent(self, event) -> None:  # noqa: N802 - a Qt override is what leaked
        pass


def test_signal_emit_keeps_true_and_none_alive(qtbot):
    emitter = _Emitter()
    before_true, before_none = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(500):
        emitter.ping.emit()
        emitter.value.emit(None)
    assert sys.getrefcount(True) >= before_true - 10
    assert sys.getrefcount(None) >= before_none - 10


def test_virtual_override_keeps_none_alive(qtbot):
    w = _Painted()
    qtbot.addWidget(w)
    w.show()
    before = sys.getrefcount(None)
    for _ in range(300):
        w.repaint()
    assert sys.getrefcount(None) >= before - 10
