"""How often the Activations dock redraws while ε is dragged, in the real studio window, offscreen.

A 3 is drawn, then the ε slider's handle is dragged back and forth with real mouse events (press, moves at
`--rate` events a second, release) for `--seconds`. It counts, per second of dragging:

  dock redraws      new clean-vs-adversarial data drawn into the histograms, table and feature maps
  dock paints       paint events of the histogram view (what reaches the screen)
  attack updates    analyses shown on the attack panel, with the dock shown, then with the dock hidden

and prints them next to a peer measured in the same run: the torch work of one slider step (analyze + the
activation comparison) called directly, without Qt or the worker thread, which bounds the rate from above.
Target: at least 30 dock redraws a second.

    QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_activations_dock.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "gui"))

import numpy as np  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each drag")
    ap.add_argument("--rate", type=float, default=120.0, help="mouse move events per second while dragging")
    args = ap.parse_args()

    from advstudio.gui.qtapp import make_app

    app = make_app()
    from PySide6.QtCore import QEvent, QObject, QPointF, QSettings
    from PySide6.QtWidgets import QStyle, QStyleOptionSlider
    from qt_helpers import send_mouse

    from advstudio.gui.demo import digit_strokes
    from advstudio.gui.window import MainWindow

    tmp = tempfile.TemporaryDirectory()
    window = MainWindow(settings=QSettings(f"{tmp.name}/bench.ini", QSettings.Format.IniFormat),
                        report_error=lambda t, m: print("error:", t, m, file=sys.stderr))
    window.resize(1280, 800)
    window.show()
    panel = window.activations.panel
    analyses: list[float] = []
    window.ctx.analysisShown.connect(lambda _a: analyses.append(time.perf_counter()))

    class PaintCounter(QObject):
        paints = 0

        def eventFilter(self, obj, event):  # noqa: N802 - Qt override
            if event.type() == QEvent.Type.Paint:
                self.paints += 1
            return False

    counter = PaintCounter()
    panel.histograms.viewport().installEventFilter(counter)

    def pump(seconds: float = 0.0, until=None, timeout: float = 30.0) -> None:
        end = time.perf_counter() + (seconds if until is None else timeout)
        while time.perf_counter() < end:
            app.processEvents()
            if until is not None and until():
                return
            time.sleep(0.0005)
        if until is not None:
            raise TimeoutError("the window did not answer in time")

    pump(until=lambda: window.ctx.model_info is not None)
    for stroke in digit_strokes(3):
        window.studio.canvas.add_stroke(stroke)
    pump(until=lambda: window.activations.data is not None)
    pump(0.3)

    slider = window.studio.attack_panel.controls.slider

    def handle_centre() -> QPointF:
        opt = QStyleOptionSlider()
        slider.initStyleOption(opt)
        rect = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderHandle, slider)
        return QPointF(rect.center())

    def drag(seconds: float) -> dict[str, float]:
        """Drag the handle back and forth across the slider's middle for `seconds`; rates per second."""
        slider.setValue(50)
        pump(0.2)
        start_pos = handle_centre()
        span = slider.width() * 0.6
        redraws0, paints0, values = panel.redraws, counter.paints, set()
        analyses.clear()
        send_mouse(slider, QEvent.Type.MouseButtonPress, start_pos)
        t0 = time.perf_counter()
        step, k = 1.0 / args.rate, 0
        while (now := time.perf_counter()) - t0 < seconds:
            if now - t0 >= k * step:
                phase = (k * step / 2.0) % 2.0  # one sweep across and back every 4 s
                frac = phase if phase <= 1.0 else 2.0 - phase
                send_mouse(slider, QEvent.Type.MouseMove, QPointF(start_pos.x() + frac * span, start_pos.y()))
                values.add(slider.value())
                k += 1
            app.processEvents()
            time.sleep(0.0002)
        elapsed = time.perf_counter() - t0
        send_mouse(slider, QEvent.Type.MouseButtonRelease, QPointF(slider.mapFromGlobal(slider.cursor().pos())))
        return {"redraws": (panel.redraws - redraws0) / elapsed, "paints": (counter.paints - paints0) / elapsed,
                "analyses": len(analyses) / elapsed, "moves": k / elapsed, "values": len(values)}

    drag(1.0)  # warm-up
    shown = drag(args.seconds)
    window.docks["activations"].hide()
    pump(0.2)
    hidden = drag(args.seconds)
    window.docks["activations"].show()
    image = window.ctx.current_input.copy()
    window.close()

    # peer: one slider step's torch work called directly (new ε on a cached direction: attack + activations)
    import torch

    from advstudio.core.activations import ActivationMonitor
    from advstudio.core.attacks.fgsm import apply_perturbation, fgsm_direction
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model

    model, _ = load_model(bundled_model_path())
    x = torch.from_numpy(image).view(1, 1, 28, 28)
    with torch.no_grad():
        y = model(x).argmax(1)
    d, _ = fgsm_direction(model, x, y)
    ranges = None
    times = []
    for i in range(300):
        t0 = time.perf_counter()
        x_adv, _ = apply_perturbation(x, d, 0.001 * (50 + i % 300))
        with torch.inference_mode():
            torch.softmax(model(x_adv), 1)
        with ActivationMonitor(model, ranges=ranges, feature_maps=True) as mon:
            mon.compare(x, x_adv)
            c = mon.comparison()
        ranges = c.clean.ranges
        times.append(time.perf_counter() - t0)
    peer_rate = 1.0 / float(np.median(times[20:]))

    print(f"Activations dock while ε is dragged · {os.cpu_count()} CPUs · torch threads {torch.get_num_threads()} · "
          f"Qt platform {os.environ.get('QT_QPA_PLATFORM')} · {args.seconds:.0f} s drags at "
          f"{shown['moves']:.0f} mouse moves/s ({shown['values']} distinct ε values)")
    print(f"dock redraws           {shown['redraws']:6.1f} /s   (target ≥ 30; timer cap 60)   "
          f"peer: direct torch work of one ε step {peer_rate:6.1f} /s → ×{shown['redraws'] / peer_rate:.2f}")
    print(f"dock paints            {shown['paints']:6.1f} /s")
    print(f"attack panel updates   {shown['analyses']:6.1f} /s with the dock shown, "
          f"{hidden['analyses']:6.1f} /s hidden → ×{shown['analyses'] / max(hidden['analyses'], 1e-9):.2f}")
    print(f"dock redraws, hidden   {hidden['redraws']:6.1f} /s   (no activation jobs while hidden)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
