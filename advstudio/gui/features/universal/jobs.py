"""Worker handlers of the "Patch & universal" tab: train an adversarial patch (core.patch) and measure it, one
patch per size, a universal perturbation (core.universal) and one per ε, the drawing with either one classified,
and their files.

Runs on the worker thread only (torch imported inside); everything handed back is a numpy copy in a frozen
dataclass. The long jobs answer interactive requests (the drawing's prediction, this tab's own views) between
their steps, and stop at their request's Cancel."""

from __future__ import annotations

import threading
import time

import numpy as np

from advstudio.gui.features.universal.messages import (
    PATCH_FILE,
    PATCH_LR,
    PATCH_VIEW,
    PATCH_WORK,
    UNIVERSAL_FILE,
    UNIVERSAL_VIEW,
    UNIVERSAL_WORK,
    FileRequest,
    FileResult,
    PatchData,
    PatchRateRequest,
    PatchRateResult,
    PatchSweepRequest,
    PatchSweepResult,
    PatchTrainRequest,
    UniversalData,
    UniversalRequest,
    UniversalSweepRequest,
    UniversalSweepResult,
    ViewRequest,
    ViewResult,
    WorkCancelled,
    WorkProgress,
    centre,
)
from advstudio.gui.worker import JobContext, Worker

SERVE_EVERY = 0.05  # s between two visits to the interactive requests during a long job
BATCH = 64  # images per patch training step


def register_universal(worker: Worker) -> None:
    if worker.has_kind(PATCH_WORK):
        return
    worker.register(PATCH_WORK, patch_work_job, priority=1)
    worker.register(UNIVERSAL_WORK, universal_work_job, priority=1)
    worker.register(PATCH_VIEW, view_job, priority=20, interactive=True)
    worker.register(UNIVERSAL_VIEW, view_job, priority=20, interactive=True)
    worker.register(PATCH_FILE, file_job, priority=25, interactive=True)
    worker.register(UNIVERSAL_FILE, file_job, priority=25, interactive=True)


class _StopWhen:
    """The cancel flag core checks (it only calls is_set, between steps or batches): the request's Cancel, the
    worker closing or a newer request of the kind. Each check also answers waiting interactive requests (at
    most every SERVE_EVERY s), so the drawing stays live while a patch trains."""

    def __init__(self, ctx: JobContext, event: threading.Event) -> None:
        self.ctx, self.event = ctx, event
        self._last = time.perf_counter()

    def is_set(self) -> bool:
        now = time.perf_counter()
        if now - self._last >= SERVE_EVERY:
            self._last = now
            self.ctx.serve_interactive()
        return self.event.is_set() or self.ctx.should_stop()


def _splits(ctx: JobContext, data_dir: str, train: int | None, test: int | None):
    tr = ctx.state.split(data_dir, "train").head(train) if train else None
    te = ctx.state.split(data_dir, "test").head(test) if test else None
    return tr, te


def _model(ctx: JobContext):
    model = ctx.state.require_model()
    ctx.state.ensure_device()
    return model


# ------------------------------------------------------------------ the patch
def patch_work_job(ctx: JobContext, req):
    if isinstance(req, PatchTrainRequest):
        return _train(ctx, req)
    if isinstance(req, PatchRateRequest):
        return _rate(ctx, req)
    if isinstance(req, PatchSweepRequest):
        return _patch_sweep(ctx, req)
    raise TypeError(f"not a patch request: {type(req).__name__}")


def _train_one(ctx: JobContext, model, images, target: int, side: int, steps: int, seed: int, stop: _StopWhen,
               report) -> object:
    from advstudio.core.patch import train_patch

    every = max(1, steps // 50)
    return train_patch(model, images, target, side=side, steps=steps, batch_size=BATCH, lr=PATCH_LR, seed=seed,
                       report_every=every, progress=report, cancel=stop)


def _train(ctx: JobContext, req: PatchTrainRequest) -> PatchData | WorkCancelled:
    from advstudio.core.errors import AttackCancelled

    model = _model(ctx)
    train, _ = _splits(ctx, req.data_dir, req.images, None)
    stop = _StopWhen(ctx, req.cancel)
    start = time.perf_counter()
    done = [0]
    label = f"Training a {req.side}×{req.side} patch toward {req.target}"

    def report(step: int, steps: int, rate: float) -> None:
        done[0] = step
        ctx.progress(WorkProgress(step, steps, label, time.perf_counter() - start, rate))

    try:
        a = _train_one(ctx, model, train.images, req.target, req.side, req.steps, req.seed, stop, report)
    except AttackCancelled:
        return WorkCancelled("train", done[0], req.steps)
    return PatchData(patch=a.patch.astype(np.float32).copy(), target=a.target, steps=a.steps,
                     success_rate=float(a.success_rate), images=len(train), seconds=float(a.seconds), model=req.model,
                     settings={**a.settings, "model": req.model})


def _success(model, test, patch: np.ndarray, target: int, position=None, seed: int = 0) -> tuple[float, int]:
    """(success rate, test images of other classes) at random places (position None) or at one (row, col)."""
    import torch

    from advstudio.core.patch import patch_success_rate

    pos = None if position is None else torch.tensor([int(position[0]), int(position[1])])
    rate = patch_success_rate(model, test.images, test.labels, patch, target, positions=pos, seed=seed)
    return float(rate), int((test.labels != int(target)).sum())


def _rate(ctx: JobContext, req: PatchRateRequest) -> PatchRateResult | WorkCancelled:
    model = _model(ctx)
    _, test = _splits(ctx, req.data_dir, None, req.n)
    p = req.patch
    ctx.progress(WorkProgress(0, 2, f"Measuring on {len(test):,} test images", 0.0, unit="measurements"))
    anywhere, n = _success(model, test, p.patch, p.target)
    if req.cancel.is_set() or ctx.should_stop():
        return WorkCancelled("rate", 1, 2)
    ctx.progress(WorkProgress(1, 2, f"Measuring on {len(test):,} test images", 0.0, unit="measurements"))
    here, _ = _success(model, test, p.patch, p.target, req.position)
    return PatchRateResult(anywhere, here, tuple(req.position), n, p.target, p.side)


def _patch_sweep(ctx: JobContext, req: PatchSweepRequest) -> PatchSweepResult | WorkCancelled:
    from advstudio.core.errors import AttackCancelled

    model = _model(ctx)
    train, test = _splits(ctx, req.data_dir, req.images, req.n)
    stop = _StopWhen(ctx, req.cancel)
    start = time.perf_counter()
    total = len(req.sides) * req.steps
    anywhere, middle, trained = [], [], []
    done = [0]
    n = 0
    try:
        for k, side in enumerate(req.sides):
            label = f"Patch {k + 1} of {len(req.sides)} ({side}×{side} px)"

            def report(step: int, _steps: int, rate: float, base: int = k * req.steps, lab: str = label) -> None:
                done[0] = base + step
                ctx.progress(WorkProgress(base + step, total, lab, time.perf_counter() - start, rate))

            a = _train_one(ctx, model, train.images, req.target, side, req.steps, req.seed, stop, report)
            rate, n = _success(model, test, a.patch, req.target)
            here, _ = _success(model, test, a.patch, req.target, centre(side))
            anywhere.append(rate)
            middle.append(here)
            trained.append(float(a.success_rate))
    except AttackCancelled:
        return WorkCancelled("sweep", done[0], total)
    return PatchSweepResult(tuple(req.sides), tuple(anywhere), tuple(middle), tuple(trained), req.target, req.steps,
                            len(train), n, round(time.perf_counter() - start, 3))


# ------------------------------------------------------------------ the universal perturbation
def universal_work_job(ctx: JobContext, req):
    if isinstance(req, UniversalRequest):
        return _universal(ctx, req)
    if isinstance(req, UniversalSweepRequest):
        return _universal_sweep(ctx, req)
    raise TypeError(f"not a universal-perturbation request: {type(req).__name__}")


def _compute(ctx: JobContext, model, images, eps: float, method: str, passes: int, seed: int, stop, report):
    from advstudio.core.universal import universal_perturbation

    return universal_perturbation(model, images, float(eps), max_passes=passes, method=method, seed=seed,
                                  progress=report, cancel=stop)


def _universal(ctx: JobContext, req: UniversalRequest) -> UniversalData | WorkCancelled:
    from advstudio.core.errors import AttackCancelled
    from advstudio.core.universal import fooling_rate

    model = _model(ctx)
    train, test = _splits(ctx, req.data_dir, req.images, req.n)
    stop = _StopWhen(ctx, req.cancel)
    start = time.perf_counter()
    done = [0]
    label = f"Computing v at ε = {req.eps:g} on {len(train):,} training images"

    def report(p: int, passes: int, rate: float) -> None:
        done[0] = p
        ctx.progress(WorkProgress(p, passes, label, time.perf_counter() - start, rate, "passes"))

    try:
        u = _compute(ctx, model, train.images, req.eps, req.method, req.passes, req.seed, stop, report)
    except AttackCancelled:
        return WorkCancelled("compute", done[0], req.passes)
    test_rate = float(fooling_rate(model, test.images, u.v))
    return UniversalData(v=u.v.astype(np.float32).copy(), eps=float(u.eps), method=req.method, images=int(u.images),
                         passes=int(u.passes), fooling_rate=float(u.fooling_rate), test_rate=test_rate,
                         test_images=len(test), seconds=round(time.perf_counter() - start, 3), model=req.model,
                         settings={**u.settings, "model": req.model})


def _universal_sweep(ctx: JobContext, req: UniversalSweepRequest) -> UniversalSweepResult | WorkCancelled:
    from advstudio.core.errors import AttackCancelled
    from advstudio.core.universal import fooling_rate

    model = _model(ctx)
    train, test = _splits(ctx, req.data_dir, req.images, req.n)
    stop = _StopWhen(ctx, req.cancel)
    start = time.perf_counter()
    total = len(req.eps) * req.passes
    done = [0]
    rates, tests = [], []
    try:
        for k, eps in enumerate(req.eps):
            label = f"ε = {eps:g} ({k + 1} of {len(req.eps)})"

            def report(p: int, _passes: int, rate: float, base: int = k * req.passes, lab: str = label) -> None:
                done[0] = base + p
                ctx.progress(WorkProgress(base + p, total, lab, time.perf_counter() - start, rate, "passes"))

            u = _compute(ctx, model, train.images, eps, req.method, req.passes, req.seed, stop, report)
            done[0] = (k + 1) * req.passes  # it may stop early, at its target fooling rate
            rates.append(float(u.fooling_rate))
            tests.append(float(fooling_rate(model, test.images, u.v)))
    except AttackCancelled:
        return WorkCancelled("sweep", done[0], total)
    return UniversalSweepResult(tuple(float(e) for e in req.eps), tuple(rates), tuple(tests), req.method, len(train),
                                req.passes, len(test), round(time.perf_counter() - start, 3))


# ------------------------------------------------------------------ the drawing, classified
def view_job(ctx: JobContext, req: ViewRequest) -> ViewResult:
    import torch

    from advstudio.core.attacks.common import eval_mode

    model = _model(ctx)
    device = ctx.state.ensure_device()
    x = np.stack([np.asarray(req.clean, np.float32).reshape(28, 28), np.asarray(req.image, np.float32).reshape(28, 28)])
    with eval_mode(model), torch.inference_mode():
        probs = torch.softmax(model(torch.from_numpy(x[:, None].copy()).to(device)), 1).cpu().numpy()
    return ViewResult(image=x[1].copy(), clean=x[0].copy(), probs=probs[1].astype(np.float32).copy(),
                      clean_probs=probs[0].astype(np.float32).copy(), position=req.position)


# ------------------------------------------------------------------ files
def file_job(ctx: JobContext, req: FileRequest) -> FileResult:
    """Load or save a patch (PATCH_FILE) or a perturbation (UNIVERSAL_FILE); a file that is not one raises
    ModelFileError with a sentence the tab shows."""
    if ctx.request.kind == PATCH_FILE:
        return _patch_file(req)
    return _universal_file(req)


def _model_name(settings: dict) -> str:
    name = settings.get("model") if isinstance(settings, dict) else None
    return name[:200] if isinstance(name, str) else ""


def _patch_file(req: FileRequest) -> FileResult:
    from advstudio.core.patch import AdversarialPatch, load_patch, save_patch

    if req.action == "save":
        p = req.data
        a = AdversarialPatch(patch=p.patch, target=p.target, side=p.side, steps=p.steps, success_rate=p.success_rate,
                             seconds=p.seconds, settings={**p.settings, "model": p.model, "images": p.images})
        return FileResult("save", str(save_patch(a, req.path)), p)
    a = load_patch(req.path)
    images = a.settings.get("images")
    images = images if isinstance(images, int) and not isinstance(images, bool) and images >= 0 else 0
    return FileResult("load", req.path, PatchData(
        patch=a.patch.astype(np.float32).copy(), target=a.target, steps=a.steps, success_rate=a.success_rate,
        images=int(images), seconds=a.seconds, model=_model_name(a.settings), settings=dict(a.settings)))


def _universal_file(req: FileRequest) -> FileResult:
    from advstudio.core.universal import UniversalPerturbation, load_universal, save_universal

    if req.action == "save":
        d = req.data
        extra = {"model": d.model, "method": d.method}
        if d.test_rate is not None:
            extra.update(test_fooling_rate=d.test_rate, test_images=d.test_images)
        u = UniversalPerturbation(v=d.v, eps=d.eps, images=d.images, passes=d.passes, fooling_rate=d.fooling_rate,
                                  seconds=d.seconds, settings={**d.settings, **extra})
        return FileResult("save", str(save_universal(u, req.path)), d)
    u = load_universal(req.path)
    s = u.settings
    method = s.get("method") if s.get("method") in ("sgd", "deepfool") else "sgd"
    test_rate = s.get("test_fooling_rate")
    test_n = s.get("test_images")
    ok = isinstance(test_rate, (int, float)) and not isinstance(test_rate, bool) and 0.0 <= test_rate <= 1.0 \
        and isinstance(test_n, int) and not isinstance(test_n, bool) and test_n > 0
    return FileResult("load", req.path, UniversalData(
        v=u.v.astype(np.float32).copy(), eps=float(u.eps), method=method, images=int(u.images), passes=int(u.passes),
        fooling_rate=float(u.fooling_rate), test_rate=float(test_rate) if ok else None,
        test_images=int(test_n) if ok else 0, seconds=float(u.seconds), model=_model_name(s), settings=dict(s)))
