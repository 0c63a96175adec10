"""Latency of the studio window, driven offscreen with real events (p50 and p95 over N events):

  (a) a stroke's end (mouse release) → its prediction shown (new input: gradient sign + two forward passes)
  (b) an ε slider move → adversarial view and both probability charts updated (one forward pass)
  (c) cold start: the command → a usable window (shown, bundled model loaded)

Each is printed next to a peer measured in the same run: the same torch work called directly, without Qt or
the worker thread, so the ratio is the cost of the GUI plumbing.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui.py [--events 200] [--starts 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
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


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, q))


def row(name: str, xs: list[float], peer: list[float] | None = None) -> str:
    text = f"{name:<44s} p50 {pct(xs, 50):7.2f} ms   p95 {pct(xs, 95):7.2f} ms   (n={len(xs)})"
    if peer:
        text += f"   peer p50 {pct(peer, 50):6.2f} ms → ×{pct(xs, 50) / max(pct(peer, 50), 1e-9):.1f}"
    return text


def cold_start(starts: int) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(starts):
            cmd = [sys.executable, "-m", "advstudio", "--quit-after", "0", "--settings", f"{tmp}/s{i}.ini"]
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for line in proc.stdout:
                if "window ready" in line:
                    times.append(time.perf_counter() - t0)
                    break
            proc.wait(timeout=60)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--starts", type=int, default=3, help="cold starts to time")
    args = ap.parse_args()

    from advstudio.gui.qtapp import make_app

    app = make_app()
    from PySide6.QtCore import QEvent, QSettings
    from qt_helpers import ink_to_widget, send_mouse

    from advstudio.gui.window import MainWindow

    tmp = tempfile.TemporaryDirectory()
    window = MainWindow(settings=QSettings(f"{tmp.name}/bench.ini", QSettings.Format.IniFormat),
                        report_error=lambda t, m: print("error:", t, m, file=sys.stderr))
    window.show()
    shown: list[float] = []
    window.ctx.analysisShown.connect(lambda _a: shown.append(time.perf_counter()))

    def wait_for(pred, timeout=30.0) -> None:
        end = time.perf_counter() + timeout
        while not pred():
            app.processEvents()
            if time.perf_counter() > end:
                raise TimeoutError
            time.sleep(0.0002)

    wait_for(lambda: window.ctx.model_info is not None)
    rng = np.random.default_rng(0)
    canvas = window.studio.canvas

    # (a) stroke end → prediction shown
    stroke_lat, stroke_paint = [], []
    for i in range(args.events + 5):
        canvas.clear()
        app.processEvents()
        x0, tilt = 100 + rng.uniform(0, 80), rng.uniform(-30, 30)
        pts = [ink_to_widget(canvas, x0 + tilt * k / 20, 50 + 9 * k) for k in range(21)]
        send_mouse(canvas, QEvent.Type.MouseButtonPress, pts[0])
        for p in pts[1:]:
            send_mouse(canvas, QEvent.Type.MouseMove, p)
        shown.clear()
        t0 = time.perf_counter()
        send_mouse(canvas, QEvent.Type.MouseButtonRelease, pts[-1])
        wait_for(lambda: shown and window.ctx.analysis is not None
                 and np.array_equal(window.ctx.analysis.prediction.image, window.ctx.current_input))
        t1 = shown[-1]
        app.processEvents()  # the paint events that the new data scheduled
        t2 = time.perf_counter()
        if i >= 5:  # warm-up
            stroke_lat.append(t1 - t0)
            stroke_paint.append(t2 - t0)

    # (b) slider move → adversarial view + probabilities updated
    slider = window.studio.attack_panel.controls.slider
    slider_lat, slider_paint = [], []
    values = rng.permutation(np.arange(1, 501))
    for i in range(args.events + 5):
        v = int(values[i % len(values)])
        if v == slider.value():
            v = (v % 500) + 1
        shown.clear()
        t0 = time.perf_counter()
        slider.setValue(v)
        wait_for(lambda: shown and window.ctx.analysis.attack.eps == window.studio.attack_panel.controls.eps())
        t1 = shown[-1]
        app.processEvents()
        t2 = time.perf_counter()
        if i >= 5:
            slider_lat.append(t1 - t0)
            slider_paint.append(t2 - t0)
    image = window.ctx.current_input.copy()
    window.close()

    # peers: the same torch work, called directly on this thread
    import torch

    from advstudio.core.attacks.fgsm import apply_perturbation, fgsm_direction
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model

    model, _ = load_model(bundled_model_path())
    x = torch.from_numpy(image).view(1, 1, 28, 28)
    peer_stroke, peer_slider = [], []
    for i in range(args.events):
        t0 = time.perf_counter()
        with torch.inference_mode():
            label = int(model(x).argmax(1))
        y = torch.tensor([label])
        d, _ = fgsm_direction(model, x, y)
        with torch.inference_mode():
            model(apply_perturbation(x, d, 0.1)[0])
        peer_stroke.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with torch.inference_mode():
            torch.softmax(model(apply_perturbation(x, d, 0.001 * (i % 500))[0]), 1)
        peer_slider.append(time.perf_counter() - t0)

    starts = cold_start(args.starts)
    print(f"Adversarial Studio GUI benchmark · {os.cpu_count()} CPUs · torch threads {torch.get_num_threads()} · "
          f"Qt platform {os.environ.get('QT_QPA_PLATFORM')}")
    print(row("(a) stroke end → prediction on the panels", stroke_lat, peer_stroke))
    print(row("    … and painted", stroke_paint))
    print(row("(b) slider move → adversarial view + bars", slider_lat, peer_slider))
    print(row("    … and painted", slider_paint))
    print(f"{'(c) cold start: command → usable window':<44s} median {statistics.median(starts):.2f} s   "
          f"max {max(starts):.2f} s   (n={len(starts)})")
    print("targets: p95 < 30 ms for (a) and (b); cold start < 4 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
