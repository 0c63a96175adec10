"""PySide6 6.12.0 drops a reference to True on every Python-side Signal.emit() and to None on every call of a
Python override of a C++ virtual; a long session then aborts with "bool_dealloc"/"none_dealloc". The pinned
PySide6 (constraints.txt) must not: these tests fail if a bump brings the bug back.

On Python ≥ 3.12 True and None are immortal (their reference count never moves), so the probes are objects of
our own, which are not: one passed through a signal, one returned by a slot, one returned by a virtual override
that C++ calls. Each must end with exactly the references it started with."""

from __future__ import annotations

import gc
import sys

import pytest
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

CALLS = 300


class _Probe:
    """A plain, mortal object whose reference count shows any reference PySide takes or drops."""


class _Emitter(QObject):
    ping = Signal()
    value = Signal(object)


class _Receiver(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.received = 0
        self.answer = _Probe()

    @Slot(object)
    def take(self, value: object) -> object:
        self.received += 1
        return self.answer  # a slot's result goes back through PySide, as a virtual's does


class _Painted(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.painted = 0
        self.answer = _Probe()

    def paintEvent(self, event) -> object:  # noqa: N802 - a Qt override is what leaked
        self.painted += 1
        return self.answer  # what C++ gets back from the override (None in real code)


def _refs(obj: object) -> int:
    gc.collect()
    return sys.getrefcount(obj)


def test_signal_emit_keeps_its_argument_and_the_slots_result_alive(qtbot):
    emitter, receiver = _Emitter(), _Receiver()
    emitter.value.connect(receiver.take)
    payload = _Probe()
    before_payload, before_answer = _refs(payload), _refs(receiver.answer)
    for _ in range(CALLS):
        emitter.value.emit(payload)
        emitter.ping.emit()
    after_payload, after_answer = _refs(payload), _refs(receiver.answer)  # not inside assert: pytest keeps refs
    assert receiver.received == CALLS  # the slot really ran, CALLS times
    assert (after_payload, after_answer) == (before_payload, before_answer)


def test_virtual_override_keeps_its_result_alive(qtbot):
    w = _Painted()
    qtbot.addWidget(w)
    w.resize(60, 60)
    w.show()
    qtbot.waitUntil(lambda: w.painted > 0)  # until exposed, repaint() paints nothing and the override never runs
    start = w.painted
    before = _refs(w.answer)
    for _ in range(CALLS):
        w.repaint()
    after = _refs(w.answer)
    assert w.painted - start == CALLS  # C++ called the Python override CALLS times
    assert after == before


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="True and None are immortal from Python 3.12")
def test_true_and_none_themselves_keep_their_references(qtbot):
    """Where True and None still count references, the very objects the 6.12.0 bug dropped."""
    emitter, w = _Emitter(), _Painted()
    w.answer = None  # the override returns None, as every real paintEvent does
    qtbot.addWidget(w)
    w.resize(60, 60)
    w.show()
    qtbot.waitUntil(lambda: w.painted > 0)
    start = w.painted
    before_true, before_none = _refs(True), _refs(None)
    for _ in range(CALLS):
        emitter.ping.emit()
        emitter.value.emit(None)
        w.repaint()
    after_true, after_none = _refs(True), _refs(None)
    assert w.painted - start == CALLS
    assert after_true >= before_true - 10  # other code may move them a little; the bug moves them by CALLS
    assert after_none >= before_none - 10
