"""A long interactive session driven through the real window, for memory checks (tests/gui/test_memory.py and
benchmarks/bench_memory.py): strokes drawn with real mouse events, ε slider moves and Activations dock requests,
each waited for until its answer is on screen, with RSS, live Python objects and forward hooks measured.

Every ACTIVATIONS_EVERY-th request brings the Activations dock to the front and waits for its answer; otherwise
the Model dock is in front (the dock then asks nothing), so strokes and ε moves cost one analysis each."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication
from qt_helpers import ink_to_widget, send_mouse

ACTIVATIONS_EVERY = 20  # 500 activation requests in 10,000, as in the session
CLEAR_EVERY = 6  # strokes before the canvas is cleared (Delete), so the digit never fills up
STROKE_POINTS = 12  # mouse positions per stroke (a quick drag)


@dataclass
class Footprint:
    rss_kb: int
    objects: int
    hooks: int


def rss_kb() -> int:
    """This process's resident set size in kB (Linux /proc; 0 where there is none)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def hook_count(model) -> int:
    """Forward, pre-forward and backward hooks left on any module of `model`."""
    if model is None:
        return 0
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(m._backward_pre_hooks) for m in model.modules())


def _trim_heap() -> None:
    """Give freed heap pages back to the system (glibc's malloc_trim), so the RSS counts live memory rather than
    the allocator's free lists, which a suite's earlier tests leave fragmented; a leak stays allocated and shows."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def footprint(window) -> Footprint:
    QApplication.processEvents()
    gc.collect()
    _trim_heap()
    return Footprint(rss_kb(), len(gc.get_objects()), hook_count(window.worker.state.model))


class Driver:
    """Sends requests to `window` one at a time and waits for each answer (a TimeoutError after `timeout` s)."""

    def __init__(self, window, seed: int = 0, timeout: float = 30.0) -> None:
        self.window, self.timeout = window, timeout
        self.rng = np.random.default_rng(seed)
        self.canvas = window.studio.canvas
        self.controls = window.studio.attack_panel.controls
        self.done = {"stroke": 0, "eps": 0, "activations": 0}
        self._strokes_since_clear = 0

    def wait_for(self, pred) -> None:
        end = time.perf_counter() + self.timeout
        while not pred():
            QApplication.processEvents()
            if time.perf_counter() > end:
                raise TimeoutError("the window did not answer in time")
            time.sleep(0.0002)

    def settled(self) -> bool:
        ctx = self.window.ctx
        a, image = ctx.analysis, ctx.current_input
        if image is None:
            return a is None
        return (a is not None and np.array_equal(a.prediction.image, image)
                and a.attack.eps == self.controls.eps())

    def stroke(self) -> None:
        if self._strokes_since_clear >= CLEAR_EVERY:
            self.canvas.clear()
            self._strokes_since_clear = 0
        x0, y0 = self.rng.uniform(60, 220, size=2)
        dx, dy = self.rng.uniform(-90, 90, size=2)
        k = STROKE_POINTS - 1
        pts = [ink_to_widget(self.canvas, x0 + dx * i / k, y0 + dy * i / k) for i in range(STROKE_POINTS)]
        send_mouse(self.canvas, QEvent.Type.MouseButtonPress, pts[0])
        for p in pts[1:]:
            send_mouse(self.canvas, QEvent.Type.MouseMove, p)
        send_mouse(self.canvas, QEvent.Type.MouseButtonRelease, pts[-1])
        self._strokes_since_clear += 1
        self.wait_for(self.settled)
        self.done["stroke"] += 1

    def eps(self) -> None:
        slider = self.controls.slider
        v = int(self.rng.integers(slider.minimum(), slider.maximum() + 1))
        slider.setValue(v if v != slider.value() else (v + 1) % (slider.maximum() + 1))
        self.wait_for(self.settled)
        self.done["eps"] += 1

    def activations(self) -> None:
        """Bring the Activations dock to the front, wait for its answer to the input on screen, then put the
        Model dock back in front."""
        dock, window = self.window.activations, self.window
        dock.dock.raise_()
        if self.window.ctx.current_input is not None:
            self.wait_for(lambda: dock.data is not None
                          and np.array_equal(dock.data.image, window.ctx.current_input)
                          and dock.data.settings.eps == self.controls.eps())
        window.docks["model"].raise_()
        self.wait_for(lambda: not dock.wanted())
        self.done["activations"] += 1

    def request(self, i: int) -> None:
        """The i-th request of the session: an activations request every ACTIVATIONS_EVERY, else a stroke or an
        ε move (alternating)."""
        if i % ACTIVATIONS_EVERY == ACTIVATIONS_EVERY - 1:
            self.activations()
        elif i % 2 == 0:
            self.stroke()
        else:
            self.eps()

    def run(self, n: int, start: int = 0) -> None:
        for i in range(start, start + n):
            self.request(i)


def prepare(window) -> Driver:
    """A driver for a shown window whose model has loaded, with the Model dock in front of the Activations dock."""
    d = Driver(window)
    d.wait_for(lambda: window.ctx.model_info is not None)
    window.docks["model"].raise_()
    d.wait_for(lambda: not window.activations.wanted())
    return d
