"""Worker side of the "Certify & detect" tab: randomized smoothing (Cohen et al.) on the current input and over
the test set, and the activation-statistics detector with its ROCs against FGSM, PGD and the detector-aware PGD.

Handlers run on the worker thread only (torch imported inside them); everything handed back is a numpy copy or
plain Python values in the frozen messages of messages.py."""

from __future__ import annotations

import threading
import time

import numpy as np

from advstudio.core.certification import max_certifiable_radius
from advstudio.gui.features.certify.messages import (
    CERTIFY_CURVE_KIND,
    CERTIFY_INPUT_KIND,
    DETECT_KIND,
    CertifyCancelled,
    CertifyCurveRequest,
    CertifyCurveResult,
    CertifyInputRequest,
    CertifyInputResult,
    CertifyProgress,
    DetectRequest,
    DetectResult,
    SmoothingSettings,
)
from advstudio.gui.worker import JobContext, Worker

CURVE_POINTS = 161  # radii on the curve's grid (the certified radii themselves are added to it)


def register_certify(worker: Worker) -> None:
    """Add the tab's kinds: the input certificate before long jobs; curve and detection yield to drawing."""
    if not worker.has_kind(CERTIFY_INPUT_KIND):
        worker.register(CERTIFY_INPUT_KIND, certify_input_job, priority=11)
        worker.register(CERTIFY_CURVE_KIND, certify_curve_job, priority=1)
        worker.register(DETECT_KIND, detect_job, priority=1)


class _Stop:
    """Stop when the worker closes, a newer request of this kind waits, or the request's own Event is set."""

    def __init__(self, ctx: JobContext, event: threading.Event) -> None:
        self.ctx, self.event = ctx, event

    def is_set(self) -> bool:
        return self.ctx.should_stop() or self.event.is_set()


def _certify_one(model, x, s: SmoothingSettings, seed: int):
    import torch

    from advstudio.core.defenses import certify

    torch.manual_seed(seed)
    return certify(model, x, s.sigma, s.n0, s.n, s.alpha, s.batch)


def certify_input_job(ctx: JobContext, req: CertifyInputRequest) -> CertifyInputResult:
    """core.defenses.certify on the current input, with torch seeded by settings.seed first."""
    import torch

    model = ctx.state.require_model()
    start = time.perf_counter()
    image = np.ascontiguousarray(req.image, dtype=np.float32).reshape(28, 28)
    x = torch.from_numpy(image.copy()).reshape(1, 1, 28, 28).to(ctx.state.ensure_device())
    with torch.inference_mode():
        was = model.training
        model.eval()
        base = int(model(x).argmax(1).item())
        model.train(was)
    s = req.settings
    c = _certify_one(model, x, s, s.seed)
    return CertifyInputResult(image.copy(), c.label, float(c.radius), float(c.p_lower), tuple(c.counts), base, s,
                              max_certifiable_radius(s.sigma, s.n, s.alpha), round(time.perf_counter() - start, 3))


def curve_radii(max_radius: float, cert_radii: np.ndarray) -> np.ndarray:
    """A grid from 0 to a little past the largest certifiable radius, plus every certified radius (where the
    step function drops)."""
    top = max(max_radius, float(cert_radii.max()) if len(cert_radii) else 0.0, 1e-3) * 1.05
    return np.unique(np.concatenate([np.linspace(0.0, top, CURVE_POINTS), cert_radii])).astype(np.float64)


def certify_curve_job(ctx: JobContext, req: CertifyCurveRequest) -> CertifyCurveResult | CertifyCancelled | None:
    """CERTIFY on each of the first N test images (torch seeded with seed + i before image i, so each
    certificate is reproducible whatever else the worker serves between images), then the curve."""
    from advstudio.core.defenses import certified_accuracy

    model = ctx.state.require_model()
    test = ctx.state.split(req.data_dir, "test").head(req.samples)
    n = len(test)
    s = req.settings
    stop = _Stop(ctx, req.cancel)
    start = time.perf_counter()
    certs = []
    last = 0.0
    label = f"certifying ({s.describe()})"
    ctx.progress(CertifyProgress(0, n, label, 0.0))
    for i in range(n):
        if stop.is_set():
            return CertifyCancelled(CERTIFY_CURVE_KIND, i, n) if not ctx.should_stop() else None
        x = test.images[i : i + 1].to(ctx.state.ensure_device())
        certs.append(_certify_one(model, x, s, s.seed + i))
        now = time.perf_counter()
        if now - last >= 0.1 or i + 1 == n:
            last = now
            ctx.progress(CertifyProgress(i + 1, n, label, now - start))
        ctx.serve_interactive()
    labels = test.labels.numpy().astype(np.int64).copy()
    certified = np.array([-1 if c.label is None else int(c.label) for c in certs], dtype=np.int64)
    cert_radii = np.array([c.radius for c in certs], dtype=np.float64)
    cap = max_certifiable_radius(s.sigma, s.n, s.alpha)
    radii = curve_radii(cap, cert_radii[certified == labels])
    acc = np.asarray(certified_accuracy(certs, labels.tolist(), radii.tolist()), dtype=np.float64)
    return CertifyCurveResult(radii, acc, labels, certified, cert_radii, s, cap, req.model_name,
                              round(time.perf_counter() - start, 3))


def detect_job(ctx: JobContext, req: DetectRequest) -> DetectResult | CertifyCancelled | None:
    """Fit the detector on clean vs FGSM-ε training images, set its threshold at the target false-positive rate
    on them, then detection_rocs on the first n test images for FGSM, PGD and the detector-aware PGD."""
    from advstudio.core.data import DatasetError
    from advstudio.core.defenses.detection import detection_rocs, fit_detector, threshold_at_fpr
    from advstudio.core.errors import DetectionCancelled

    model = ctx.state.require_model()
    stop = _Stop(ctx, req.cancel)
    start = time.perf_counter()
    test = ctx.state.split(req.data_dir, "test")
    if req.samples > len(test):
        raise ValueError(f"The test set has only {len(test)} images; ask for at most that many.")
    try:
        fit = ctx.state.split(req.data_dir, "train").head(req.fit_samples)
        source = f"the first {len(fit)} training images"
    except DatasetError:  # only the test split is there: fit on test images the ROCs never see
        first = req.samples
        stop_at = min(len(test), first + req.fit_samples)
        if stop_at - first < 10:
            raise
        fit = _slice(test, first, stop_at)
        source = f"test images {first}–{stop_at - 1} (no training split found; kept apart from the ROC images)"
    evaluation = test.head(req.samples)
    total = len(evaluation) * 3
    label = "fitting the detector (clean vs FGSM)"
    ctx.progress(CertifyProgress(0, total, label, 0.0))
    detector = fit_detector(model, fit.images, fit.labels, eps=req.fit_eps)
    threshold = threshold_at_fpr(detector.score(fit.images), req.target_fpr)
    if stop.is_set():
        return CertifyCancelled(DETECT_KIND, 0, total) if not ctx.should_stop() else None
    last = [0.0]
    done = [0]

    def report(d: int, t: int) -> None:
        done[0] = d
        now = time.perf_counter()
        if now - last[0] >= 0.1 or d >= t:
            last[0] = now
            attack = ("FGSM", "PGD", "adaptive PGD")[min(2, d * 3 // max(1, t))] if d < t else "done"
            ctx.progress(CertifyProgress(d, t, f"ROC images · {attack}", now - start))
        ctx.serve_interactive()

    try:
        rocs = detection_rocs(detector, evaluation.images, evaluation.labels, eps=req.eps, steps=req.steps,
                              lam=req.lam, threshold=threshold, target_fpr=req.target_fpr,
                              batch_size=req.batch_size, progress=report, cancel=stop)
    except DetectionCancelled:
        return CertifyCancelled(DETECT_KIND, done[0], total) if not ctx.should_stop() else None
    rocs = {k: _copy_roc(v) for k, v in rocs.items()}
    return DetectResult(rocs, dict(detector.info), source, req, req.model_name, round(time.perf_counter() - start, 3))


def _slice(split, a: int, b: int):
    from dataclasses import replace

    return replace(split, images=split.images[a:b], labels=split.labels[a:b])


def _copy_roc(roc):
    from dataclasses import replace

    return replace(roc, fpr=np.array(roc.fpr, dtype=np.float64), tpr=np.array(roc.tpr, dtype=np.float64),
                   params=dict(roc.params), extra=dict(roc.extra))
