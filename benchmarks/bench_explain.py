"""The explanation methods against captum 0.9 on one input, same model, same process and thread count (a script,
not a timed test): saliency, Grad-CAM (relu2), Integrated Gradients (50 steps) and SmoothGrad (25 samples, σ 0.15).

    .venv/bin/python benchmarks/bench_explain.py [--threads 1] [--repeats 50] [--robust]
    ADVSTUDIO_MNIST_DIR=../shared/mnist .venv/bin/python benchmarks/bench_explain.py   # the first MNIST test digit

The input is the first MNIST test digit when --data or $ADVSTUDIO_MNIST_DIR names a folder, else a synthetic
stroke-drawn 7. Every row prints the median milliseconds per call over --repeats timed calls (after a warm-up,
ours and captum alternating), the ratio captum / ours (above 1: ours is faster) and the issue's target for ours:
saliency and Grad-CAM < 16 ms, IG (50 steps) < 500 ms. captum's IG runs riemann_trapezoid with n_steps = 51, the
same 51 path points as ours (its weights differ by a factor 51/50; see core.explain.attribution)."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

Row = tuple[str, Callable[[], object], Callable[[], object] | None, float | None]


def synthetic_seven():
    """A 28×28 stroke-drawn 7 in [0, 1] (no MNIST bytes), as a 1×1×28×28 tensor."""
    import numpy as np
    import torch

    yy, xx = np.mgrid[0:28, 0:28].astype(np.float64)
    img = np.zeros((28, 28))
    for (y0, x0), (y1, x1) in (((6, 8), (6, 20)), ((6, 20), (23, 11))):
        d = np.array([y1 - y0, x1 - x0], dtype=np.float64)
        s = np.clip(((yy - y0) * d[0] + (xx - x0) * d[1]) / float(d @ d), 0, 1)
        dist = np.hypot(yy - (y0 + s * d[0]), xx - (x0 + s * d[1]))
        np.maximum(img, np.clip(1.5 - dist / 1.3, 0, 1), out=img)
    return torch.tensor(img[None, None], dtype=torch.float32)


def time_rows(rows: list[Row], repeats: int, warmup: int) -> None:
    print(f"  {'method':<34}{'ours ms':>10}{'captum ms':>11}{'captum/ours':>13}{'target':>11}  ok")
    for name, ours, peer, target in rows:
        for _ in range(warmup):
            ours()
            if peer is not None:
                peer()
        t_ours, t_peer = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            ours()
            t_ours.append(time.perf_counter() - t0)
            if peer is not None:
                t0 = time.perf_counter()
                peer()
                t_peer.append(time.perf_counter() - t0)
        ms = statistics.median(t_ours) * 1e3
        peer_ms = statistics.median(t_peer) * 1e3 if t_peer else None
        ratio = f"{peer_ms / ms:>12.2f}×" if peer_ms is not None else f"{'—':>13}"
        peer_text = f"{peer_ms:>11.2f}" if peer_ms is not None else f"{'—':>11}"
        target_text = f"< {target:g} ms" if target is not None else "—"
        ok = "" if target is None else ("yes" if ms < target else "NO")
        print(f"  {name:<34}{ms:>10.2f}{peer_text}{ratio}{target_text:>11}  {ok}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR; without either, a synthetic 7)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=50, help="timed calls per side (default 50); the median is shown")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--robust", action="store_true", help="the bundled robust model instead of the standard one")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import torch
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Saliency

    from advstudio.core.data import load_split
    from advstudio.core.explain.attribution import gradcam, integrated_gradients, saliency, smoothgrad
    from advstudio.core.resources import bundled_model_path, robust_model_path
    from advstudio.core.storage import load_model

    torch.set_num_threads(args.threads)
    model, _ = load_model(robust_model_path() if args.robust else bundled_model_path())
    model.eval()
    folder = args.data or os.environ.get("ADVSTUDIO_MNIST_DIR")
    if folder:
        x = load_split(folder, "test").images[:1]
        source = "the first MNIST test digit"
    else:
        x = synthetic_seven()
        source = "a synthetic 7"
    with torch.no_grad():
        target = model(x).argmax(1)
    x_grad = x.clone().requires_grad_(True)  # captum warns on every call otherwise
    print(f"{'robust' if args.robust else 'standard'} bundled model, {source} (class {int(target)}), "
          f"{args.threads} thread(s), torch {torch.__version__}, median of {args.repeats} after {args.warmup} warm-up")

    def captum_gradcam():
        cam = LayerGradCam(model, model.relu2).attribute(x_grad, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(cam, (28, 28), interpolate_mode="bilinear")

    rows: list[Row] = [
        ("saliency", lambda: saliency(model, x),
         lambda: Saliency(model).attribute(x_grad, target=target, abs=True), 16.0),
        ("Grad-CAM (relu2)", lambda: gradcam(model, x), captum_gradcam, 16.0),
        ("Integrated Gradients (50 steps)", lambda: integrated_gradients(model, x, steps=50),
         lambda: IntegratedGradients(model).attribute(x, baselines=0, target=target, n_steps=51,
                                                      method="riemann_trapezoid"), 500.0),
        ("SmoothGrad (25 samples)", lambda: smoothgrad(model, x, samples=25, sigma=0.15),
         lambda: NoiseTunnel(Saliency(model)).attribute(x_grad, nt_type="smoothgrad", nt_samples=25, stdevs=0.15,
                                                        target=target, abs=True), None),
    ]
    time_rows(rows, args.repeats, args.warmup)
    pictures(model, x, folder, max(3, args.repeats // 10))
    return 0


def pictures(model, x, folder: str | None, repeats: int) -> None:
    """The pictures computed on demand (no peer has them): the 41×41 loss landscape (target < 500 ms), the 81×81
    decision plane, and the projection of the 10,000 test digits, once and then from the tab's cache."""
    import torch

    from advstudio.core.attacks.registry import make_attack
    from advstudio.core.explain.boundary import decision_plane
    from advstudio.core.explain.landscape import loss_landscape

    with torch.no_grad():
        y = model(x).argmax(1)
    adv = make_attack("pgd", eps=0.3, steps=40, step_size=0.3 * 2.5 / 40, random_start=False).run(model, x, y).x_adv
    rows: list[Row] = [
        ("landscape 41×41 (ε = 0.3)", lambda: loss_landscape(model, x, None, 0.3, grid=41), None, 500.0),
        ("decision plane 81×81", lambda: decision_plane(model, x, adv, grid=81), None, None),
    ]
    time_rows(rows, repeats, 1)
    if not folder:
        print("  (no MNIST folder: the projection of the test set is not timed)")
        return
    from advstudio.core.data import load_split
    from advstudio.core.explain.projection import project_dataset

    test = load_split(folder, "test")
    start = time.perf_counter()
    project_dataset(model, test.images, test.labels)
    print(f"  projection of {len(test):,} test digits (PCA of the last hidden layer): {time.perf_counter() - start:.2f} s "
          "once per model; the tab keeps it (ProjectionResult.cached) and later requests only project the drawing's "
          "path", flush=True)


if __name__ == "__main__":
    sys.exit(main())
